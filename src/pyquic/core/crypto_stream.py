"""The CRYPTO data stream of one encryption level (RFC 9000 §19.6, RFC 9001 §4.1.3).

Each encryption level carries its own offset-addressed stream of TLS handshake bytes, without flow
control (§4).  The send side buffers what TLS produces and hands out chunks for CRYPTO frames,
retransmitting lost ranges first; the receive side reassembles out-of-order frames and returns
the newly contiguous bytes for TLS.  Both reuse :mod:`pyquic.core.stream_buffer`.

Memory: the two buffers are made on first use and freed when the level is discarded (RFC 9001
§4.9), so a confirmed, idle connection holds no buffer for Initial or Handshake, nor a receive
buffer at a 1-RTT level TLS never used.

Received data is bounded: buffering more than ``max_buffer`` bytes beyond the delivered offset is
CRYPTO_BUFFER_EXCEEDED (RFC 9000 §7.5, §19.6); §7.5 requires at least 4096 bytes, the default is
64 KiB.
"""

from __future__ import annotations

from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.core.frames import FrameType
from pyquic.core.levels import EncryptionLevel
from pyquic.core.stream_buffer import Buffer, ReassemblyBuffer, SendBuffer
from pyquic.core.varint import VARINT_MAX

DEFAULT_MAX_CRYPTO_BUFFER = 64 * 1024  # bytes beyond the delivered offset
MIN_CRYPTO_BUFFER = 4096  # RFC 9000 §7.5


class CryptoStream:
    """Send and receive CRYPTO data at one encryption level; offsets in bytes."""

    __slots__ = ("_discarded", "_max_buffer", "_recv", "_send", "level")

    def __init__(
        self, level: EncryptionLevel, *, max_buffer: int = DEFAULT_MAX_CRYPTO_BUFFER
    ) -> None:
        if max_buffer < MIN_CRYPTO_BUFFER:
            raise ValueError(f"max_buffer must be at least {MIN_CRYPTO_BUFFER} bytes (§7.5)")
        self.level = level
        self._send: SendBuffer | None = None  # made by the first write
        self._recv: ReassemblyBuffer | None = None  # made by the first CRYPTO frame
        self._max_buffer = max_buffer
        self._discarded = False

    def discard(self) -> None:
        """Keys of the level were discarded (RFC 9001 §4.9): free both buffers, ignore the rest."""
        self._discarded = True
        self._send = None
        self._recv = None

    @property
    def discarded(self) -> bool:
        return self._discarded

    @property
    def holds_buffers(self) -> bool:
        """Whether a send or receive buffer is allocated (none before use, none once discarded)."""
        return self._send is not None or self._recv is not None

    # -- send side ------------------------------------------------------------------------------

    def write(self, data: Buffer) -> None:
        """Queue handshake bytes from TLS (ValueError once discarded)."""
        if self._discarded:
            raise ValueError(f"the {self.level.name} CRYPTO stream was discarded")
        send = self._send
        if send is None:
            send = self._send = SendBuffer()
        if send.end_offset + len(data) > VARINT_MAX:  # §19.6
            raise ValueError("CRYPTO offset would exceed 2^62-1")
        send.write(data)

    @property
    def has_pending(self) -> bool:
        """Whether ``next_chunk`` would return data (lost or never sent)."""
        send = self._send
        return send is not None and (send.has_lost or send.has_unsent)

    @property
    def all_acked(self) -> bool:
        """Whether every byte written was acknowledged."""
        send = self._send
        return send is None or send.acked_offset == send.end_offset

    @property
    def unacked_bytes(self) -> int:
        """Bytes written and not yet acknowledged as a prefix."""
        return self._send.buffered_bytes if self._send is not None else 0

    def next_chunk(self, max_length: int) -> tuple[int, bytes] | None:
        """``(offset, data)`` for a CRYPTO frame: lost ranges first, then new bytes."""
        send = self._send
        if send is None:
            return None
        piece = send.next_lost(max_length)
        if piece is None:
            piece = send.next_new(max_length, VARINT_MAX)
        return piece

    def on_acked(self, offset: int, length: int) -> None:
        if self._send is not None:
            self._send.on_acked(offset, length)

    def on_lost(self, offset: int, length: int) -> None:
        """The unacknowledged part of ``[offset, offset + length)`` is to be sent again."""
        if self._send is not None:
            self._send.on_lost(offset, length)

    # -- receive side ---------------------------------------------------------------------------

    @property
    def received_offset(self) -> int:
        """Bytes delivered to TLS so far."""
        return self._recv.read_offset if self._recv is not None else 0

    def on_crypto_frame(self, offset: int, data: Buffer) -> bytes:
        """Reassemble a CRYPTO frame; returns the bytes that became contiguous (maybe empty).

        Raises QuicError(CRYPTO_BUFFER_EXCEEDED) for data more than ``max_buffer`` bytes beyond
        the delivered offset (§7.5).
        """
        if self._discarded:
            return b""
        recv = self._recv
        if recv is None:
            recv = self._recv = ReassemblyBuffer()
        end = offset + len(data)
        if end - recv.read_offset > self._max_buffer:
            raise QuicError(
                TransportErrorCode.CRYPTO_BUFFER_EXCEEDED,
                f"CRYPTO data up to {end} is more than {self._max_buffer} bytes beyond "
                f"the delivered offset {recv.read_offset}",
                frame_type=FrameType.CRYPTO,
            )
        recv.insert(offset, data)
        return recv.read()
