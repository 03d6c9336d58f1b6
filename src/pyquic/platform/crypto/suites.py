"""The TLS 1.3 cipher suites QUIC can use, and every per-suite constant, as data.

Design: one :class:`CipherSuite` enum keyed by the TLS codepoint (RFC 8446 §B.4), with a frozen
parameter record per suite holding the hash, the AEAD key/IV/tag lengths, the header protection key
length and the AEAD usage limits.  Code asks the suite; nothing else branches on a codepoint.

TLS_AES_128_CCM_SHA256 and TLS_AES_128_CCM_8_SHA256 are not offered: CCM_8 has no header
protection scheme (RFC 9001 §5.3) and CCM is rarely deployed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from cryptography.hazmat.primitives import hashes

AEAD_TAG_LENGTH = 16  # every suite here expands its input by 16 bytes (RFC 9001 §5.3)
AEAD_IV_LENGTH = 12  # max(AEAD nonce length, 8) = 12 for all three AEADs (RFC 9001 §5.1)
HP_SAMPLE_LENGTH = 16  # header protection samples 16 bytes of ciphertext (RFC 9001 §5.4.2)


@dataclass(frozen=True, slots=True)
class SuiteParameters:
    """The constants of one cipher suite."""

    name: str
    hash_algorithm: hashes.HashAlgorithm
    key_length: int
    iv_length: int
    hp_key_length: int
    tag_length: int
    # RFC 9001 §6.6: packets that may be encrypted under one key ...
    confidentiality_limit: int
    # ... and packets that may fail authentication over the whole connection.
    integrity_limit: int

    @property
    def hash_length(self) -> int:
        return self.hash_algorithm.digest_size


class CipherSuite(IntEnum):
    """TLS 1.3 cipher suite codepoints usable with QUIC (RFC 8446 §B.4, RFC 9001 §5.3)."""

    AES_128_GCM_SHA256 = 0x1301
    AES_256_GCM_SHA384 = 0x1302
    CHACHA20_POLY1305_SHA256 = 0x1303

    @property
    def parameters(self) -> SuiteParameters:
        return _PARAMETERS[self]

    @property
    def hash_algorithm(self) -> hashes.HashAlgorithm:
        return _PARAMETERS[self].hash_algorithm

    @property
    def hash_length(self) -> int:
        return _PARAMETERS[self].hash_algorithm.digest_size

    @property
    def key_length(self) -> int:
        return _PARAMETERS[self].key_length

    @property
    def iv_length(self) -> int:
        return _PARAMETERS[self].iv_length

    @property
    def hp_key_length(self) -> int:
        return _PARAMETERS[self].hp_key_length

    @property
    def tag_length(self) -> int:
        return _PARAMETERS[self].tag_length

    @property
    def confidentiality_limit(self) -> int:
        return _PARAMETERS[self].confidentiality_limit

    @property
    def integrity_limit(self) -> int:
        return _PARAMETERS[self].integrity_limit

    @property
    def is_chacha20(self) -> bool:
        """ChaCha20 header protection (RFC 9001 §5.4.4) rather than AES (RFC 9001 §5.4.3)."""
        return self is CipherSuite.CHACHA20_POLY1305_SHA256


_PARAMETERS: dict[CipherSuite, SuiteParameters] = {
    CipherSuite.AES_128_GCM_SHA256: SuiteParameters(
        name="TLS_AES_128_GCM_SHA256",
        hash_algorithm=hashes.SHA256(),
        key_length=16,
        iv_length=AEAD_IV_LENGTH,
        hp_key_length=16,  # AES-128-ECB (RFC 9001 §5.4.3)
        tag_length=AEAD_TAG_LENGTH,
        confidentiality_limit=1 << 23,  # RFC 9001 §6.6
        integrity_limit=1 << 52,  # RFC 9001 §6.6
    ),
    CipherSuite.AES_256_GCM_SHA384: SuiteParameters(
        name="TLS_AES_256_GCM_SHA384",
        hash_algorithm=hashes.SHA384(),
        key_length=32,
        iv_length=AEAD_IV_LENGTH,
        hp_key_length=32,  # AES-256-ECB (RFC 9001 §5.4.3)
        tag_length=AEAD_TAG_LENGTH,
        confidentiality_limit=1 << 23,  # RFC 9001 §6.6
        integrity_limit=1 << 52,  # RFC 9001 §6.6
    ),
    CipherSuite.CHACHA20_POLY1305_SHA256: SuiteParameters(
        name="TLS_CHACHA20_POLY1305_SHA256",
        hash_algorithm=hashes.SHA256(),
        key_length=32,
        iv_length=AEAD_IV_LENGTH,
        hp_key_length=32,  # raw ChaCha20 (RFC 9001 §5.4.4)
        tag_length=AEAD_TAG_LENGTH,
        # RFC 9001 §6.6: above the number of possible packets (2^62), so it can be disregarded;
        # 2^62 is recorded so that a counter can never reach it.
        confidentiality_limit=1 << 62,
        integrity_limit=1 << 36,  # RFC 9001 §6.6
    ),
}

# The Initial keys always use AEAD_AES_128_GCM with SHA-256 (RFC 9001 §5.2) and, before TLS picks a
# suite, AES header protection (RFC 9001 §5.4.1).
INITIAL_SUITE = CipherSuite.AES_128_GCM_SHA256
