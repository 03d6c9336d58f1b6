"""The sending part of one stream (RFC 9000 §3.1): buffering, flow control, FIN, reset.

The application's writes are buffered (MsQuic's default send buffering) in a
:class:`~pyquic.core.stream_buffer.SendBuffer`; the connection pulls :class:`SendChunk` values
when it builds packets.  Lost ranges go first and consume no new flow-control credit; new data is
limited by the peer's MAX_STREAM_DATA (§4.1) and the connection credit the caller passes.  The
connection records each chunk (``StreamChunk``) and reports its fate through :meth:`on_acked` /
:meth:`on_lost`; only ranges not yet acknowledged become pending again.

States follow §3.1 (Figure 2).  ``reset`` queues RESET_STREAM with the final size = the highest
offset sent (§4.5, §19.4) and stops all (re)transmission of data; STOP_SENDING from the peer
resets with its error code (§3.5).  The state becomes RESET_SENT when ``reset`` is called (the
frame is then pending), not when the frame leaves, so no more data is handed out.

``listener`` (set by the stream manager) is called whenever the stream may have something new to
send or reached a terminal state, so scheduling needs no polling.  Nothing the peer sends makes
this object grow: it holds what the application wrote and has not had acknowledged.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import NamedTuple

from pyquic.core.frames import ResetStreamFrame, StreamDataBlockedFrame
from pyquic.core.stream_buffer import Buffer, SendBuffer
from pyquic.core.varint import VARINT_MAX


class SendState(Enum):
    """Sending part states (RFC 9000 §3.1, Figure 2)."""

    # members are singletons compared by identity: hash them by identity too (Enum's default
    # hashes the name in Python code, and these are looked up in sets on every packet)
    __hash__ = object.__hash__

    READY = "ready"
    SEND = "send"
    DATA_SENT = "data_sent"
    DATA_RECVD = "data_recvd"
    RESET_SENT = "reset_sent"
    RESET_RECVD = "reset_recvd"


# Permitted transitions (RFC 9000 §3.1, Figure 2).
SEND_TRANSITIONS: dict[SendState, frozenset[SendState]] = {
    SendState.READY: frozenset({SendState.SEND, SendState.RESET_SENT}),
    SendState.SEND: frozenset({SendState.DATA_SENT, SendState.RESET_SENT}),
    SendState.DATA_SENT: frozenset({SendState.DATA_RECVD, SendState.RESET_SENT}),
    SendState.RESET_SENT: frozenset({SendState.RESET_RECVD}),
    SendState.DATA_RECVD: frozenset(),
    SendState.RESET_RECVD: frozenset(),
}

_SENDING = frozenset({SendState.READY, SendState.SEND, SendState.DATA_SENT})
_TERMINAL = frozenset({SendState.DATA_RECVD, SendState.RESET_RECVD})


class SendChunk(NamedTuple):
    """Stream data to put in one STREAM frame.

    ``new_bytes`` is how many of the bytes were never sent before: the connection charges them
    to its connection-level credit (retransmissions are free, §4.1).
    """

    offset: int
    data: bytes
    fin: bool
    new_bytes: int


class SendStream:
    """The sending part of a stream; offsets and limits in bytes."""

    __slots__ = (
        "_blocked_reported",
        "_buffer",
        "_fin_acked",
        "_fin_offset",
        "_fin_pending",
        "_max_stream_data",
        "_reset_error_code",
        "_reset_final_size",
        "_reset_pending",
        "listener",
        "state",
        "stream_id",
    )

    def __init__(self, stream_id: int, max_stream_data: int = 0) -> None:
        self.stream_id = stream_id
        self.state = SendState.READY
        self.listener: Callable[[], None] | None = None
        self._buffer = SendBuffer()
        self._max_stream_data = max_stream_data  # the peer's limit (absolute offset)
        self._fin_offset: int | None = None  # final size once the application wrote the FIN
        self._fin_pending = False  # FIN to send: never sent, or lost and not acknowledged
        self._fin_acked = False
        self._blocked_reported = -1  # limit for which STREAM_DATA_BLOCKED was last produced
        self._reset_error_code: int | None = None
        self._reset_final_size = 0
        self._reset_pending = False

    # -- introspection ------------------------------------------------------------------------

    @property
    def max_stream_data(self) -> int:
        """The peer's current limit for this stream."""
        return self._max_stream_data

    @property
    def written_offset(self) -> int:
        """Bytes the application wrote in total."""
        return self._buffer.end_offset

    @property
    def sent_offset(self) -> int:
        """One past the highest byte sent."""
        return self._buffer.sent_offset

    @property
    def buffered_bytes(self) -> int:
        """Bytes held for (re)transmission: written and not acknowledged as a prefix."""
        return self._buffer.buffered_bytes

    @property
    def final_size(self) -> int | None:
        """The final size once known: the FIN's offset, or the reset's final size (§4.5)."""
        if self._reset_error_code is not None:
            return self._reset_final_size
        return self._fin_offset

    @property
    def reset_error_code(self) -> int | None:
        """The error code of our RESET_STREAM, if the stream was reset."""
        return self._reset_error_code

    @property
    def is_terminal(self) -> bool:
        """Data Recvd or Reset Recvd: nothing more will be sent (§3.1)."""
        return self.state in _TERMINAL

    def _transition(self, new_state: SendState) -> None:
        if new_state not in SEND_TRANSITIONS[self.state]:
            raise RuntimeError(f"invalid send transition {self.state.name} -> {new_state.name}")
        self.state = new_state

    def _changed(self) -> None:
        listener = self.listener
        if listener is not None:
            listener()

    # -- application --------------------------------------------------------------------------

    def write(self, data: Buffer, fin: bool = False) -> None:
        """Buffer ``data`` (and the end of the stream if ``fin``).

        ValueError after the FIN or a reset (a user error, not a protocol one), or past 2^62-1.
        """
        if self._reset_error_code is not None:
            raise ValueError(f"stream {self.stream_id} was reset")
        if self._fin_offset is not None:
            raise ValueError(f"stream {self.stream_id} was already finished (FIN written)")
        buffer = self._buffer
        if len(data):
            if buffer.end_offset + len(data) > VARINT_MAX:  # RFC 9000 §19.8
                raise ValueError("stream offset would exceed 2^62-1")
            buffer.write(data)
        if fin:
            self._fin_offset = buffer.end_offset
            self._fin_pending = True
        if fin or len(data):
            self._changed()

    def reset(self, error_code: int) -> bool:
        """Abort sending: queue RESET_STREAM (§3.1, §19.4); returns False if already terminal/reset.

        The final size is the highest offset sent (§4.5); buffered data is released and nothing is
        (re)transmitted any more.
        """
        if self.state not in _SENDING:
            return False
        self._reset_error_code = error_code
        self._reset_final_size = self._buffer.sent_offset
        self._reset_pending = True
        self._fin_pending = False
        self._buffer.discard()
        self._transition(SendState.RESET_SENT)
        self._changed()
        return True

    # -- packet building ----------------------------------------------------------------------

    def has_pending(self, connection_credit: int) -> bool:
        """Whether ``next_chunk``, ``blocked_frame`` or ``reset_frame`` would produce something."""
        state = self.state
        if state is SendState.RESET_SENT:
            return self._reset_pending
        if state not in _SENDING:
            return False
        buffer = self._buffer
        if buffer.has_lost:
            return True
        sent = buffer.sent_offset
        if buffer.has_unsent:
            if sent < self._max_stream_data:
                return connection_credit > 0
            return self._blocked_reported != self._max_stream_data
        return self._fin_pending and sent == self._fin_offset

    @property
    def wants_connection_credit(self) -> bool:
        """Whether unsent data is allowed by the stream limit (so only connection credit lacks)."""
        buffer = self._buffer
        return (
            self.state in _SENDING
            and buffer.has_unsent
            and buffer.sent_offset < self._max_stream_data
        )

    def next_chunk(self, max_length: int, connection_credit: int) -> SendChunk | None:
        """The next data to send: lost ranges first, then new data within flow control (§4.1).

        ``max_length`` bounds the data bytes; ``connection_credit`` bounds the new bytes.  A
        FIN-only chunk is returned when all data was sent and the FIN is pending.
        """
        if self.state not in _SENDING:
            return None
        buffer = self._buffer
        piece = buffer.next_lost(max_length)
        new_bytes = 0
        if piece is None:
            limit = min(self._max_stream_data, buffer.sent_offset + max(connection_credit, 0))
            piece = buffer.next_new(max_length, limit)
            if piece is not None:
                new_bytes = len(piece[1])
            elif self._fin_pending and buffer.sent_offset == self._fin_offset:
                piece = (buffer.sent_offset, b"")
            else:
                return None
        offset, data = piece
        fin = self._fin_pending and offset + len(data) == self._fin_offset
        if self.state is SendState.READY:
            self._transition(SendState.SEND)
        if fin:
            self._fin_pending = False
            if self.state is SendState.SEND:
                self._transition(SendState.DATA_SENT)
        return SendChunk(offset, data, fin, new_bytes)

    def blocked_frame(self) -> StreamDataBlockedFrame | None:
        """STREAM_DATA_BLOCKED, once per limit, while data waits on the stream limit (§19.13)."""
        if self.state is not SendState.READY and self.state is not SendState.SEND:
            return None
        buffer = self._buffer
        limit = self._max_stream_data
        if buffer.sent_offset < limit or not buffer.has_unsent or self._blocked_reported == limit:
            return None
        self._blocked_reported = limit
        if self.state is SendState.READY:
            self._transition(SendState.SEND)  # §3.1: sending STREAM_DATA_BLOCKED enters Send
        return StreamDataBlockedFrame(self.stream_id, limit)

    def reset_frame(self) -> ResetStreamFrame | None:
        """The pending RESET_STREAM (§19.4), once; again after ``on_reset_lost``."""
        if not self._reset_pending or self._reset_error_code is None:
            return None
        self._reset_pending = False
        return ResetStreamFrame(self.stream_id, self._reset_error_code, self._reset_final_size)

    # -- peer and loss recovery -----------------------------------------------------------------

    def on_acked(self, offset: int, length: int, fin: bool) -> None:
        """A STREAM frame with these bytes (and FIN) was acknowledged; Data Recvd when complete."""
        if self.state is not SendState.SEND and self.state is not SendState.DATA_SENT:
            return
        buffer = self._buffer
        buffer.on_acked(offset, length)
        if fin:
            self._fin_acked = True
            self._fin_pending = False
        if (
            self._fin_acked
            and self.state is SendState.DATA_SENT
            and buffer.acked_offset == self._fin_offset
        ):
            buffer.discard()
            self._transition(SendState.DATA_RECVD)
            self._changed()

    def on_lost(self, offset: int, length: int, fin: bool) -> None:
        """A STREAM frame was lost: its unacknowledged bytes (and FIN) are pending again."""
        if self.state is not SendState.SEND and self.state is not SendState.DATA_SENT:
            return  # reset or done: nothing is retransmitted (§19.4)
        self._buffer.on_lost(offset, length)
        if fin and not self._fin_acked:
            self._fin_pending = True
        self._changed()

    def forget_peer_limit(self) -> None:
        """0-RTT was rejected: the remembered limit no longer holds (RFC 9000 §7.4.1); only
        what was already sent may be (re)sent until the real limit arrives."""
        self._max_stream_data = self._buffer.sent_offset

    def update_max_stream_data(self, limit: int) -> bool:
        """Apply MAX_STREAM_DATA (or the initial limit); decreases are ignored (§4.1, §19.10).

        Returns whether the limit grew.
        """
        if limit <= self._max_stream_data:
            return False
        self._max_stream_data = limit
        if self._buffer.has_unsent:
            self._changed()
        return True

    def on_blocked_lost(self, maximum_stream_data: int) -> None:
        """A STREAM_DATA_BLOCKED frame was lost: send it again if still blocked at that limit."""
        if maximum_stream_data == self._blocked_reported == self._max_stream_data:
            self._blocked_reported = -1
            self._changed()

    def on_stop_sending(self, error_code: int) -> bool:
        """The peer sent STOP_SENDING: reset with its error code (§3.5); False if nothing to do."""
        return self.reset(error_code)

    def on_reset_acked(self) -> None:
        """Our RESET_STREAM was acknowledged: Reset Recvd (§3.1)."""
        if self.state is SendState.RESET_SENT:
            self._reset_pending = False
            self._transition(SendState.RESET_RECVD)
            self._changed()

    def on_reset_lost(self) -> None:
        """Our RESET_STREAM was lost: queue it again (§13.3)."""
        if self.state is SendState.RESET_SENT:
            self._reset_pending = True
            self._changed()
