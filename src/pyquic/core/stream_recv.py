"""The receiving part of one stream (RFC 9000 §3.2): reassembly, final size, flow control credit.

STREAM frames are reassembled in a :class:`~pyquic.core.stream_buffer.ReassemblyBuffer`, in any
order and with duplicates or overlaps tolerated (§2.2).  Every frame is checked first against the
limit we advertised (FLOW_CONTROL_ERROR, §4.1, §19.10) and the final size (FINAL_SIZE_ERROR, §4.5),
so the memory held is bounded by the window.  Receive is pull-based: the application ``read``s,
which returns credit; a new MAX_STREAM_DATA is due once half the window was consumed, with the
window auto-tuned like MsQuic (:class:`~pyquic.core.flow_control.AutoTunedWindow`).

Connection-level accounting: ``on_stream_frame`` and ``on_reset`` return how much the highest
received offset grew (feed it to ``ReceiveWindow.on_received``); :meth:`RecvStream.take_consumed`
returns the bytes consumed since its last call (read by the application, or discarded after a
reset or STOP_SENDING; feed them to ``ReceiveWindow.on_consumed``).  Over the stream's life both
sum to its final size (§4.5: the final size accounts for all bytes in connection flow control).
Every change of the consumed count calls ``listener``, so the stream manager collects it for all
streams (``StreamManager.take_consumed``).

STOP_SENDING (our ``stop_sending``) switches the stream to discarding: data is still checked and
counted but no longer stored, and the stream ends on its own (Data Read or Reset Read) since the
application will not read it.  ``listener`` is called when a frame becomes due or the stream
reaches a terminal state.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum

from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.core.flow_control import AutoTunedWindow
from pyquic.core.frames import FrameType, MaxStreamDataFrame, StopSendingFrame
from pyquic.core.stream_buffer import DEFAULT_MAX_RANGES, Buffer, ReassemblyBuffer


class RecvState(Enum):
    """Receiving part states (RFC 9000 §3.2, Figure 3)."""

    # members are singletons compared by identity: hash them by identity too (Enum's default
    # hashes the name in Python code, and these are looked up in sets on every packet)
    __hash__ = object.__hash__

    RECV = "recv"
    SIZE_KNOWN = "size_known"
    DATA_RECVD = "data_recvd"
    DATA_READ = "data_read"
    RESET_RECVD = "reset_recvd"
    RESET_READ = "reset_read"


# Permitted transitions (RFC 9000 §3.2, Figure 3).
RECV_TRANSITIONS: dict[RecvState, frozenset[RecvState]] = {
    RecvState.RECV: frozenset({RecvState.SIZE_KNOWN, RecvState.RESET_RECVD}),
    RecvState.SIZE_KNOWN: frozenset({RecvState.DATA_RECVD, RecvState.RESET_RECVD}),
    RecvState.DATA_RECVD: frozenset({RecvState.DATA_READ}),
    RecvState.RESET_RECVD: frozenset({RecvState.RESET_READ}),
    RecvState.DATA_READ: frozenset(),
    RecvState.RESET_READ: frozenset(),
}

_RESET = frozenset({RecvState.RESET_RECVD, RecvState.RESET_READ})
_ALL_RECEIVED = frozenset({RecvState.DATA_RECVD, RecvState.DATA_READ})
_OPEN = frozenset({RecvState.RECV, RecvState.SIZE_KNOWN})
_TERMINAL = frozenset({RecvState.DATA_READ, RecvState.RESET_READ})

# STOP_SENDING progress.
_STOP_NONE, _STOP_PENDING, _STOP_SENT, _STOP_ACKED = range(4)


class StreamResetError(Exception):
    """``read`` on a stream the peer reset; ``error_code`` is the peer's application error."""

    def __init__(self, stream_id: int, error_code: int) -> None:
        super().__init__(f"stream {stream_id} was reset by the peer with error {error_code}")
        self.stream_id = stream_id
        self.error_code = error_code


def _final_size_error(reason: str, frame_type: int) -> QuicError:
    return QuicError(TransportErrorCode.FINAL_SIZE_ERROR, reason, frame_type=frame_type)


def _flow_control_error(end: int, limit: int) -> QuicError:
    return QuicError(
        TransportErrorCode.FLOW_CONTROL_ERROR,
        f"stream data up to {end} exceeds MAX_STREAM_DATA {limit}",
        frame_type=FrameType.STREAM,
    )


class RecvStream:
    """The receiving part of a stream; offsets, windows and sizes in bytes."""

    __slots__ = (
        "_buffer",
        "_credit",
        "_discarding",
        "_final_size",
        "_highest_offset",
        "_reported_consumed",
        "_reset_error_code",
        "_stop_error_code",
        "_stop_state",
        "listener",
        "state",
        "stream_id",
    )

    def __init__(
        self,
        stream_id: int,
        max_stream_data: int,
        max_window: int | None = None,
        *,
        max_ranges: int = DEFAULT_MAX_RANGES,
    ) -> None:
        self.stream_id = stream_id
        self.state = RecvState.RECV
        self.listener: Callable[[], None] | None = None
        self._buffer = ReassemblyBuffer(max_ranges)
        self._credit = AutoTunedWindow(max_stream_data, max_window)
        self._highest_offset = 0  # largest offset + length received (§4.1)
        self._final_size: int | None = None
        self._reset_error_code: int | None = None
        self._reported_consumed = 0  # bytes already returned by take_consumed
        self._discarding = False  # the application asked to stop (STOP_SENDING)
        self._stop_state = _STOP_NONE
        self._stop_error_code = 0

    # -- introspection ------------------------------------------------------------------------

    @property
    def max_stream_data(self) -> int:
        """The largest limit advertised for this stream."""
        return self._credit.limit

    @property
    def window(self) -> int:
        """The current (auto-tuned) window."""
        return self._credit.window

    @property
    def highest_offset(self) -> int:
        """One past the highest byte received (or the final size after a reset)."""
        return self._highest_offset

    @property
    def final_size(self) -> int | None:
        return self._final_size

    @property
    def read_offset(self) -> int:
        """Bytes the application has read."""
        return self._buffer.read_offset

    @property
    def buffered_bytes(self) -> int:
        return self._buffer.buffered_bytes

    @property
    def reset_error_code(self) -> int | None:
        """The peer's RESET_STREAM error code, once received."""
        return self._reset_error_code

    @property
    def is_terminal(self) -> bool:
        """Data Read or Reset Read (§3.2)."""
        return self.state in _TERMINAL

    @property
    def readable(self) -> bool:
        """Whether ``read`` has something to report: data, the end of the stream, or a reset."""
        state = self.state
        if state is RecvState.RECV:  # the common case, first
            return not self._discarding and self._buffer.readable_bytes > 0
        if state is RecvState.RESET_RECVD:
            return True
        if state in _TERMINAL or self._discarding:
            return False
        return self._buffer.readable_bytes > 0 or state is RecvState.DATA_RECVD

    def _transition(self, new_state: RecvState) -> None:
        if new_state not in RECV_TRANSITIONS[self.state]:
            raise RuntimeError(f"invalid receive transition {self.state.name} -> {new_state.name}")
        self.state = new_state

    def _changed(self) -> None:
        listener = self.listener
        if listener is not None:
            listener()

    # -- peer frames ----------------------------------------------------------------------------

    def on_stream_frame(self, offset: int, data: Buffer, fin: bool) -> int:
        """Process a STREAM frame; returns how much the highest received offset grew (bytes).

        Raises QuicError FINAL_SIZE_ERROR or FLOW_CONTROL_ERROR (§4.1, §4.5).
        """
        end = offset + len(data)
        if (
            offset == self._highest_offset
            and not fin
            and self.state is RecvState.RECV
            and not self._discarding
        ):
            # the next bytes in order, final size unknown: only the limit applies (§4.1, §19.10)
            if end > self._credit.limit:
                raise _flow_control_error(end, self._credit.limit)
            self._highest_offset = end
            self._buffer.insert(offset, data)
            return end - offset
        final_size = self._final_size
        if final_size is not None:
            if end > final_size:  # §4.5: data at or beyond the final size
                raise _final_size_error(
                    f"data up to {end} beyond final size {final_size}", FrameType.STREAM
                )
            if fin and end != final_size:  # §4.5: the final size cannot change
                raise _final_size_error(
                    f"FIN at {end} changes final size {final_size}", FrameType.STREAM
                )
        elif fin and end < self._highest_offset:  # §4.5: below data already received
            raise _final_size_error(
                f"final size {end} below received offset {self._highest_offset}",
                FrameType.STREAM,
            )
        if end > self._credit.limit:  # §4.1, §19.10
            raise _flow_control_error(end, self._credit.limit)
        state = self.state
        if state in _RESET:
            return 0  # §3.2: data after a reset is ignored
        growth = end - self._highest_offset if end > self._highest_offset else 0
        self._highest_offset += growth
        if fin and final_size is None:
            self._final_size = final_size = end
            self._transition(RecvState.SIZE_KNOWN)
            state = RecvState.SIZE_KNOWN
        if state in _ALL_RECEIVED:
            return growth
        buffer = self._buffer
        if data:
            buffer.insert(offset, data)
        if state is RecvState.SIZE_KNOWN and buffer.contiguous_end == final_size:
            self._transition(RecvState.DATA_RECVD)
            if self._discarding:
                self._transition(RecvState.DATA_READ)
                self._changed()
                return growth
        if growth and self._discarding:
            self._changed()  # discarded bytes count as consumed
        return growth

    def on_reset(self, error_code: int, final_size: int) -> int:
        """Process RESET_STREAM; returns how much the highest received offset grew (bytes).

        Raises QuicError FINAL_SIZE_ERROR or FLOW_CONTROL_ERROR (§4.5, §19.4).  After all data
        was received the reset is ignored and the data stays readable (§3.2).
        """
        known = self._final_size
        if known is not None and final_size != known:  # §4.5
            raise _final_size_error(
                f"RESET_STREAM final size {final_size} changes final size {known}",
                FrameType.RESET_STREAM,
            )
        if final_size < self._highest_offset:  # §4.5
            raise _final_size_error(
                f"RESET_STREAM final size {final_size} below received offset "
                f"{self._highest_offset}",
                FrameType.RESET_STREAM,
            )
        if final_size > self._credit.limit:  # §4.1
            raise QuicError(
                TransportErrorCode.FLOW_CONTROL_ERROR,
                f"RESET_STREAM final size {final_size} exceeds MAX_STREAM_DATA "
                f"{self._credit.limit}",
                frame_type=FrameType.RESET_STREAM,
            )
        state = self.state
        if state in _RESET or state in _ALL_RECEIVED:
            return 0
        growth = final_size - self._highest_offset
        self._highest_offset = final_size
        self._final_size = final_size
        self._reset_error_code = error_code
        self._buffer.stop_keeping_data()  # §19.4: received data can be discarded
        self._transition(RecvState.RESET_RECVD)
        if self._discarding:  # the application already gave up on this stream
            self._transition(RecvState.RESET_READ)
        self._changed()
        return growth

    # -- application ----------------------------------------------------------------------------

    def read(self, max_bytes: int = -1) -> tuple[bytes, bool]:
        """Up to ``max_bytes`` in-order bytes (all when negative) and whether the FIN is reached.

        Raises :class:`StreamResetError` after the peer reset the stream (Reset Read, §3.2).
        """
        state = self.state
        if state in _RESET:
            if state is RecvState.RESET_RECVD:
                self._transition(RecvState.RESET_READ)
                self._changed()
            raise StreamResetError(self.stream_id, self._reset_error_code or 0)
        buffer = self._buffer
        data = buffer.read(max_bytes)
        fin = buffer.read_offset == self._final_size
        if fin and state is RecvState.DATA_RECVD:
            self._transition(RecvState.DATA_READ)
            self._changed()
        elif data:
            self._changed()  # consumed bytes; maybe a MAX_STREAM_DATA is due
        return data, fin

    def acknowledge_reset(self) -> None:
        """The application was told of the peer's reset: Reset Read (§3.2), without ``read``."""
        if self.state is RecvState.RESET_RECVD:
            self._transition(RecvState.RESET_READ)
            self._changed()

    def take_consumed(self) -> int:
        """Bytes consumed since the last call: read, or discarded after a reset / STOP_SENDING.

        Give them to the connection's ``ReceiveWindow.on_consumed``.
        """
        if self.state in _RESET or self._discarding:
            consumed = self._highest_offset
        else:
            consumed = self._buffer.read_offset
        count = consumed - self._reported_consumed
        self._reported_consumed = consumed
        return count

    def stop_sending(self, error_code: int) -> None:
        """Ask the peer to stop (§3.5): queue STOP_SENDING and discard data from now on."""
        state = self.state
        if self._discarding or state in _RESET or state is RecvState.DATA_READ:
            return
        self._discarding = True
        self._buffer.stop_keeping_data()
        if state is RecvState.DATA_RECVD:  # everything already arrived: just drop it
            self._transition(RecvState.DATA_READ)
        else:
            self._stop_error_code = error_code
            self._stop_state = _STOP_PENDING
        self._changed()

    # -- frames to send -------------------------------------------------------------------------

    def has_pending(self) -> bool:
        """Whether ``stop_sending_frame`` or ``max_stream_data_frame`` would produce a frame."""
        state = self.state
        if self._stop_state == _STOP_PENDING and state in _OPEN:
            return True
        return (
            state is RecvState.RECV
            and not self._discarding
            and self._credit.update_due(self._buffer.read_offset)
        )

    def stop_sending_frame(self) -> StopSendingFrame | None:
        """The pending STOP_SENDING (§19.5), only while in Recv or Size Known."""
        if self._stop_state != _STOP_PENDING or self.state not in _OPEN:
            return None
        self._stop_state = _STOP_SENT
        return StopSendingFrame(self.stream_id, self._stop_error_code)

    def on_stop_sending_acked(self) -> None:
        if self._stop_state == _STOP_SENT:
            self._stop_state = _STOP_ACKED

    def on_stop_sending_lost(self) -> None:
        """STOP_SENDING was lost: send it again while the peer may still be sending (§13.3)."""
        if self._stop_state == _STOP_SENT and self.state in _OPEN:
            self._stop_state = _STOP_PENDING
            self._changed()

    def max_stream_data_frame(self, now_us: int, smoothed_rtt_us: int) -> MaxStreamDataFrame | None:
        """A new limit once half the window was read (auto-tuned), or the current one after a loss.

        Only in Recv: once the final size is known no more credit is needed (§3.2, §19.10).
        """
        if self.state is not RecvState.RECV or self._discarding:
            return None
        limit = self._credit.next_limit(self._buffer.read_offset, now_us, smoothed_rtt_us)
        return None if limit is None else MaxStreamDataFrame(self.stream_id, limit)

    def on_max_stream_data_lost(self, maximum_stream_data: int | None = None) -> None:
        """MAX_STREAM_DATA was lost: re-send the current limit unless superseded (§13.3)."""
        self._credit.on_lost(maximum_stream_data)
        if self.state is RecvState.RECV and not self._discarding:
            self._changed()
