"""The small interface through which cryptography reaches the core.

The core never imports a crypto back-end. It is handed objects that satisfy these protocols (the
platform layer's :mod:`pyquic.platform.crypto` provides them, on ``cryptography``), which keeps
the core deterministic, testable with fakes, and compilable with mypyc.

Design: one object per key and direction, built once when the secret is known, reused for every
packet. Sealing works in place on a caller-owned buffer (RFC 9001 §5.3); opening returns
``None`` on an authentication failure, because a packet that fails to decrypt is dropped, not an
error (RFC 9001 §5.5, RFC 9000 §12.2).
"""

from __future__ import annotations

from typing import Protocol

BytesLike = bytes | bytearray | memoryview


class PacketAead(Protocol):
    """AEAD packet payload protection for one key (RFC 9001 §5.3)."""

    @property
    def tag_length(self) -> int: ...

    def seal_into(
        self, packet_number: int, buf: bytearray, header_length: int, payload_length: int
    ) -> int:
        """Encrypt ``buf[header_length:header_length+payload_length]`` in place.

        ``buf[:header_length]`` is the associated data; ``buf`` must have room for the tag after the
        payload.  Returns the packet's total length (header + ciphertext + tag).
        """
        ...

    def open(self, packet_number: int, header: BytesLike, ciphertext: BytesLike) -> bytes | None:
        """Decrypt ``ciphertext`` (payload + tag); ``None`` when authentication fails."""
        ...


class HeaderProtection(Protocol):
    """Header protection for one key (RFC 9001 §5.4)."""

    def mask(self, sample: BytesLike) -> bytes:
        """The 5-byte mask for a 16-byte ``sample`` of the ciphertext."""
        ...


class PacketKeys(Protocol):
    """The AEAD and header protection of one direction at one encryption level."""

    @property
    def aead(self) -> PacketAead: ...

    @property
    def header_protection(self) -> HeaderProtection: ...
