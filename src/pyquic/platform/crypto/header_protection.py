"""Header protection masks, AES-ECB and ChaCha20 (RFC 9001 §5.4.3, §5.4.4).

Design: both classes satisfy :class:`pyquic.core.crypto_interface.HeaderProtection` and compute only
the 5-byte mask from a 16-byte ciphertext sample; applying it to the header is protocol logic and
lives in :mod:`pyquic.core.packet_protection`.  Each keeps one cipher context for the key's
lifetime, since building a context per packet costs several times the cipher itself.  AES uses an
ECB encryptor (ECB carries no state between 16-byte blocks).  ChaCha20 takes the sample as its
nonce: ``cryptography``'s 16-byte ChaCha20 nonce is the 32-bit little-endian block counter followed
by the 96-bit nonce, exactly the layout of the sample (RFC 9001 §5.4.4), and ``reset_nonce`` loads
it into the existing context.

The header protection key never changes over a connection, not even on a key update (RFC 9001
§5.4, §6.1), so these objects are shared across key generations.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from pyquic.platform.crypto.suites import HP_SAMPLE_LENGTH, CipherSuite

BytesLike = bytes | bytearray | memoryview

_FIVE_ZEROS = bytes(5)


class AesHeaderProtection:
    """mask = AES-ECB(hp_key, sample)[0..4] (RFC 9001 §5.4.3), AES-128 or AES-256 by key size."""

    __slots__ = ("_encryptor",)

    def __init__(self, hp_key: BytesLike) -> None:
        if len(hp_key) not in (16, 32):
            raise ValueError(f"AES header protection key must be 16 or 32 bytes, got {len(hp_key)}")
        self._encryptor = Cipher(algorithms.AES(bytes(hp_key)), modes.ECB()).encryptor()

    def mask(self, sample: BytesLike) -> bytes:
        if len(sample) != HP_SAMPLE_LENGTH:
            raise ValueError(f"header protection sample must be 16 bytes, got {len(sample)}")
        return self._encryptor.update(sample)[:5]


class ChaCha20HeaderProtection:
    """mask = ChaCha20(hp_key, counter=sample[0..3], nonce=sample[4..15], 5 zero bytes).

    RFC 9001 §5.4.4; the counter is read as a little-endian 32-bit integer.
    """

    __slots__ = ("_encryptor",)

    def __init__(self, hp_key: BytesLike) -> None:
        if len(hp_key) != 32:
            raise ValueError(f"ChaCha20 header protection key must be 32 bytes, got {len(hp_key)}")
        cipher = Cipher(algorithms.ChaCha20(bytes(hp_key), bytes(16)), mode=None)
        self._encryptor = cipher.encryptor()

    def mask(self, sample: BytesLike) -> bytes:
        if len(sample) != HP_SAMPLE_LENGTH:
            raise ValueError(f"header protection sample must be 16 bytes, got {len(sample)}")
        # the sample is the whole 16-byte counter || nonce block; resetting it also rewinds the
        # keystream to the start of that block
        self._encryptor.reset_nonce(bytes(sample))
        return self._encryptor.update(_FIVE_ZEROS)


def header_protection_for(
    suite: CipherSuite, hp_key: BytesLike
) -> AesHeaderProtection | ChaCha20HeaderProtection:
    """The header protection scheme of ``suite`` (RFC 9001 §5.4.3, §5.4.4)."""
    if len(hp_key) != suite.hp_key_length:
        raise ValueError(
            f"{suite.name} needs a {suite.hp_key_length}-byte header protection key, "
            f"got {len(hp_key)}"
        )
    if suite.is_chacha20:
        return ChaCha20HeaderProtection(hp_key)
    return AesHeaderProtection(hp_key)
