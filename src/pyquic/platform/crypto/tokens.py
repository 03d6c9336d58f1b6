"""AES-GCM sealing of address validation tokens (the core's ``TokenSealer``, RFC 9000 §8.1.4).

Design (MsQuic's retry keys): AES-GCM with a random 96-bit nonce prepended to each token.  The
key material is given to the constructor, so several server processes holding the same key
accept each other's tokens; ``previous_keys`` still open tokens sealed before a key rotation
(MsQuic rotates its key every 30 s and accepts the previous one).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["AesGcmTokenSealer"]

_NONCE_LENGTH = 12
_TAG_LENGTH = 16


class AesGcmTokenSealer:
    """Seals and opens tokens with AES-GCM (16, 24 or 32-byte keys)."""

    def __init__(
        self,
        key: bytes,
        *,
        previous_keys: Sequence[bytes] = (),
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        for k in (key, *previous_keys):
            if len(k) not in (16, 24, 32):
                raise ValueError(f"an AES-GCM key has 16, 24 or 32 bytes, not {len(k)}")
        self._aead = AESGCM(key)
        self._openers = [self._aead, *(AESGCM(k) for k in previous_keys)]
        self._random_bytes = random_bytes

    @staticmethod
    def generate_key() -> bytes:
        """A fresh 256-bit key (MsQuic uses AES-256-GCM for retry tokens)."""
        return AESGCM.generate_key(bit_length=256)

    def seal(self, plaintext: bytes, associated_data: bytes) -> bytes:
        nonce = self._random_bytes(_NONCE_LENGTH)
        return nonce + self._aead.encrypt(nonce, plaintext, associated_data)

    def open(self, token: bytes, associated_data: bytes) -> bytes | None:
        if len(token) < _NONCE_LENGTH + _TAG_LENGTH:
            return None
        nonce, sealed = token[:_NONCE_LENGTH], token[_NONCE_LENGTH:]
        for aead in self._openers:
            try:
                return aead.decrypt(nonce, sealed, associated_data)
            except InvalidTag:
                continue
        return None
