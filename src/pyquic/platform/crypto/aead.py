"""AEAD packet payload protection for one key and IV (RFC 9001 §5.3), with usage counters.

Design: :class:`QuicAead` satisfies :class:`pyquic.core.crypto_interface.PacketAead`.  The
``cryptography`` AEAD object is built once per key; the IV is kept as an integer so the per-packet
nonce is one XOR and one ``to_bytes``.  Sealing encrypts in place through memoryviews over the
caller's buffer (``encrypt_into``), so the payload is never copied.  Opening returns ``None`` on an
authentication failure: such a packet is dropped, not an error (RFC 9001 §5.5).

The object also counts what the AEAD limits of RFC 9001 §6.6 are about: packets sealed under this
key (against the confidentiality limit, which forces a key update) and packets that failed to open
(against the integrity limit, which applies to the sum over all keys of a connection).  The
counters and limits are plain data; acting on them is the connection's job.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from pyquic.platform.crypto.suites import CipherSuite

BytesLike = bytes | bytearray | memoryview

_MAX_PACKET_NUMBER = (1 << 62) - 1  # RFC 9000 §12.3


class QuicAead:
    """AEAD_AES_128_GCM, AEAD_AES_256_GCM or AEAD_CHACHA20_POLY1305 under one key and IV."""

    tag_length = 16  # all three AEADs expand by 16 bytes (RFC 9001 §5.3)

    __slots__ = (
        "_aead",
        "_iv",
        "confidentiality_limit",
        "integrity_limit",
        "open_failures",
        "opened_packets",
        "sealed_packets",
        "suite",
    )

    def __init__(self, suite: CipherSuite, key: BytesLike, iv: BytesLike) -> None:
        if len(key) != suite.key_length:
            raise ValueError(f"{suite.name} needs a {suite.key_length}-byte key, got {len(key)}")
        if len(iv) != suite.iv_length:
            raise ValueError(f"{suite.name} needs a {suite.iv_length}-byte IV, got {len(iv)}")
        self.suite = suite
        self._aead: AESGCM | ChaCha20Poly1305 = (
            ChaCha20Poly1305(bytes(key)) if suite.is_chacha20 else AESGCM(bytes(key))
        )
        self._iv = int.from_bytes(iv, "big")
        #: Packets sealed under this key (RFC 9001 §6.6 confidentiality limit).
        self.sealed_packets = 0
        #: Packets that opened successfully under this key.
        self.opened_packets = 0
        #: Packets that failed authentication under this key (RFC 9001 §6.6 integrity limit,
        #: which the connection applies to the sum over all of its keys).
        self.open_failures = 0
        self.confidentiality_limit = suite.confidentiality_limit
        self.integrity_limit = suite.integrity_limit

    def nonce(self, packet_number: int) -> bytes:
        """The IV XOR the packet number left-padded to the IV length (RFC 9001 §5.3)."""
        return (self._iv ^ packet_number).to_bytes(12, "big")

    def seal_into(
        self, packet_number: int, buf: bytearray, header_length: int, payload_length: int
    ) -> int:
        """Encrypt ``buf[header_length:header_length+payload_length]`` in place, tag after it.

        ``buf[:header_length]`` (the unprotected header, up to and including the packet number)
        is the associated data (RFC 9001 §5.3).  Returns header + ciphertext + tag length.
        """
        if not 0 <= packet_number <= _MAX_PACKET_NUMBER:
            raise ValueError(f"packet number out of range: {packet_number}")
        end = header_length + payload_length
        total = end + 16
        if header_length < 0 or payload_length < 0 or len(buf) < total:
            raise ValueError(f"buffer of {len(buf)} bytes cannot hold a {total}-byte packet")
        view = memoryview(buf)
        self._aead.encrypt_into(
            (self._iv ^ packet_number).to_bytes(12, "big"),
            view[header_length:end],
            view[:header_length],
            view[header_length:total],
        )
        self.sealed_packets += 1
        return total

    def open(self, packet_number: int, header: BytesLike, ciphertext: BytesLike) -> bytes | None:
        """Decrypt and authenticate ``ciphertext`` (payload + tag); ``None`` if it fails."""
        try:
            plaintext = self._aead.decrypt(
                (self._iv ^ packet_number).to_bytes(12, "big"), ciphertext, header
            )
        except InvalidTag:
            self.open_failures += 1
            return None
        self.opened_packets += 1
        return plaintext

    @property
    def confidentiality_limit_reached(self) -> bool:
        """True once this key may seal no more packets: update keys first (RFC 9001 §6.6)."""
        return self.sealed_packets >= self.confidentiality_limit
