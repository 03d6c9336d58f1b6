"""Stream: MsQuic's stream object over one core stream, with its send and receive semantics.

MsQuic (``docs/Streams.md``, ``docs/api/Stream*.md``, ``QUIC_STREAM_EVENT.md``; msquic-facts
§1.2-§1.4): ``StreamOpen`` creates a handle, ``StreamStart`` gives it an ID (START_COMPLETE) and
nothing reaches the wire before data is sent; peer streams arrive through PEER_STREAM_STARTED.

Sending.  ``send(buffers, flags, client_context)`` queues a request.  With send buffering (the
default, ``Settings.send_buffering_enabled``) a request is copied into the connection's send
buffer and completed (SEND_COMPLETE) while the stream's unacknowledged bytes stay below the ideal
send buffer size, MsQuic's soft limit; later requests wait until ACKs free room, which is the
backpressure an application sees.  Without buffering a request completes once all of its bytes
are acknowledged.  FIN (a send flag, or ``shutdown(GRACEFUL)``) ends the send direction;
SEND_SHUTDOWN_COMPLETE(graceful) follows once the peer acknowledged everything (RFC 9000 §3.1
Data Recvd), or the reset (Reset Recvd) after an abort.

Receiving.  The core's receive is pull-based; this object reads what the core has and offers it
in one RECEIVE event.  The handler consumes all of it (SUCCESS), part of it (it lowers
``total_buffer_length``; then receive is disabled until ``receive_set_enabled(True)``, as MsQuic
documents for partial consumption), or returns PENDING and calls ``receive_complete(n)`` later.
Nothing more is read from the core while data is unconsumed, so the peer's flow-control credit
(RFC 9000 §4.1) stops growing: a slow application slows the sender.  A failure status from the
RECEIVE handler aborts the receive direction (STOP_SENDING, error 0).

Lifetime.  SHUTDOWN_COMPLETE is indicated once both directions are done (or the connection
closed), then ``close()`` releases the handle; ``close()`` before that aborts the stream.
All methods may be called from any thread (they run on the connection's worker).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyquic.api.events import (
    IdealSendBufferSizeEvent,
    PeerAcceptedEvent,
    PeerReceiveAbortedEvent,
    PeerSendAbortedEvent,
    PeerSendShutdownEvent,
    ReceiveEvent,
    SendCompleteEvent,
    SendShutdownCompleteEvent,
    StartCompleteEvent,
    StreamEvent,
    StreamShutdownCompleteEvent,
)
from pyquic.api.flags import (
    ReceiveFlags,
    SendFlags,
    StreamOpenFlags,
    StreamShutdownFlags,
    StreamStartFlags,
    reject_flags,
)
from pyquic.api.handle import Callback, Handle
from pyquic.api.params import StreamParam, unsupported_param
from pyquic.api.status import QuicStatusError, Status, failed
from pyquic.core.stream_recv import StreamResetError
from pyquic.core.stream_send import SendState
from pyquic.core.streams import DEFAULT_PRIORITY, MAX_PRIORITY
from pyquic.core.streams import Stream as CoreStream
from pyquic.core.varint import VARINT_MAX

if TYPE_CHECKING:
    from pyquic.api.connection import Connection, ShutdownInfo

__all__ = ["Stream", "StreamCallback"]

StreamCallback = Callback[StreamEvent]
BufferLike = bytes | bytearray | memoryview
_UNSUPPORTED_OPEN = StreamOpenFlags.DELAY_ID_FC_UPDATES | StreamOpenFlags.APP_OWNED_BUFFERS
_UNSUPPORTED_SEND = (
    SendFlags.DGRAM_PRIORITY | SendFlags.CANCEL_ON_LOSS | SendFlags.CANCEL_ON_BLOCKED
)
_ABORTS = StreamShutdownFlags.ABORT_SEND | StreamShutdownFlags.ABORT_RECEIVE


@dataclass(slots=True)
class _SendRequest:
    data: bytes
    fin: bool
    context: object
    report: bool = True  # False for the FIN of shutdown(GRACEFUL): no SEND_COMPLETE
    end_offset: int = 0  # stream offset after its data, once written to the core


def _join(buffers: BufferLike | Sequence[BufferLike]) -> bytes:
    if isinstance(buffers, bytes | bytearray | memoryview):
        return bytes(buffers)
    return b"".join(bytes(buffer) for buffer in buffers)


class Stream(Handle[StreamEvent]):
    """``StreamOpen``: a local stream on ``connection`` (peer streams come from the connection)."""

    _kind = "stream"

    def __init__(
        self,
        connection: Connection,
        flags: StreamOpenFlags = StreamOpenFlags.NONE,
        callback: StreamCallback | None = None,
        context: object = None,
    ) -> None:
        connection._check_open()
        flags = StreamOpenFlags(flags)
        reject_flags(flags, _UNSUPPORTED_OPEN, "stream open flags")
        super().__init__(connection.worker, callback, context)
        self.connection = connection
        self.open_flags = StreamOpenFlags(flags)
        self.bidirectional = StreamOpenFlags.UNIDIRECTIONAL not in flags
        self.local = True
        self.id: int | None = None
        self._core: CoreStream | None = None  # set once the core opened the stream
        self._started = False
        self._start_indicated = False  # START_COMPLETE delivered: sends may complete from now
        self._start_flags = StreamStartFlags.NONE
        self._priority = DEFAULT_PRIORITY
        # sending
        self._requests: deque[_SendRequest] = deque()
        self._unacked: deque[_SendRequest] = deque()  # written, completion waits for the ACK
        self._send_closed = False  # FIN queued or send aborted: no more send()
        self._send_abort: int | None = None  # ABORT_SEND code not yet applied to the core
        self._send_done = False  # SEND_SHUTDOWN_COMPLETE indicated (or no send direction)
        self._ideal_indicated = 0
        # receiving
        self._held = b""
        self._held_fin = False
        self._recv_offset = 0
        self._recv_enabled = True
        self._recv_pending: int | None = None  # bytes offered to a PENDING RECEIVE
        self._recv_abort: int | None = None  # ABORT_RECEIVE code not yet applied to the core
        self._recv_done = False  # FIN or reset delivered, or aborted (or no receive direction)
        self._delivering = False
        self._complete = False  # SHUTDOWN_COMPLETE indicated
        self._pump_scheduled = False
        self._flush = False
        self._fix_directions()

    @classmethod
    def _from_peer(cls, connection: Connection, core: CoreStream) -> Stream:
        stream = cls(
            connection,
            StreamOpenFlags.NONE if core.bidirectional else StreamOpenFlags.UNIDIRECTIONAL,
        )
        stream.local = False
        stream.id = core.stream_id
        stream._core = core
        stream._started = stream._start_indicated = True
        stream._fix_directions()
        return stream

    def _fix_directions(self) -> None:
        self._send_done = not self.bidirectional and not self.local
        self._send_closed = self._send_done
        self._recv_done = not self.bidirectional and self.local

    @property
    def has_send(self) -> bool:
        return self.bidirectional or self.local

    @property
    def started(self) -> bool:
        return self._started

    # -- StreamStart ----------------------------------------------------------------------------

    def start(self, flags: StreamStartFlags = StreamStartFlags.NONE) -> None:
        """``StreamStart``: take the next stream ID; START_COMPLETE follows asynchronously.

        At the peer's stream limit (RFC 9000 §4.6) the stream waits for MAX_STREAMS
        (START_COMPLETE reports ``peer_accepted=False``, PEER_ACCEPTED follows with
        INDICATE_PEER_ACCEPT), or fails with STREAM_LIMIT_REACHED under FAIL_BLOCKED.
        IMMEDIATE and PRIORITY_WORK are accepted; the peer learns of a stream with its first
        data, since the core sends no empty STREAM frame.
        """
        self._check_open()
        self._call(lambda: self._start(StreamStartFlags(flags)))

    def _start(self, flags: StreamStartFlags) -> None:
        if self._started:
            raise QuicStatusError(Status.INVALID_STATE, "the stream was already started")
        self._started = True
        self._start_flags = flags
        self.connection._start_stream(self, flags)

    def _on_start_result(self, status: Status, stream_id: int, peer_accepted: bool) -> None:
        """From the connection: deliver START_COMPLETE (after the current work)."""
        self.id = stream_id if not failed(status) else None
        if failed(status):  # nothing more may be sent or received
            self._send_closed = self._send_done = self._recv_done = True

        def indicate() -> None:
            self._start_indicated = True
            self._indicate(StartCompleteEvent(status, stream_id, peer_accepted))
            if failed(status):
                self._cancel_sends()
                if StreamStartFlags.SHUTDOWN_ON_FAIL in self._start_flags:
                    self._finish(StreamShutdownCompleteEvent(connection_shutdown=False))
            else:
                self._schedule_pump()

        self._post(indicate)

    def _on_opened(self, core: CoreStream) -> None:
        """The core opened the stream (at once, or after MAX_STREAMS)."""
        self._core = core
        if self._priority != DEFAULT_PRIORITY:
            self.connection._set_core_priority(core.stream_id, self._priority)
        self._apply_aborts()
        self._schedule_pump()

    def _on_peer_accepted(self) -> None:
        if StreamStartFlags.INDICATE_PEER_ACCEPT in self._start_flags and not self._complete:
            self._indicate(PeerAcceptedEvent())

    # -- StreamSend ------------------------------------------------------------------------------

    def send(
        self,
        buffers: BufferLike | Sequence[BufferLike],
        flags: SendFlags = SendFlags.NONE,
        client_context: object = None,
    ) -> None:
        """``StreamSend``: queue ``buffers``; SEND_COMPLETE(client_context) reports completion.

        FIN ends the send direction, START starts a stream not yet started, DELAY_SEND lets the
        data wait for the next send; ALLOW_0_RTT and PRIORITY_WORK are accepted (there is no
        0-RTT sending in the engine, so the data goes in 1-RTT packets).  INVALID_STATE after
        the send direction ended or the handle was closed.
        """
        self._check_open()
        flags = SendFlags(flags)
        reject_flags(flags, _UNSUPPORTED_SEND, "stream send flags")
        data = _join(buffers)
        self._call(lambda: self._send(data, flags, client_context))

    def _send(self, data: bytes, flags: SendFlags, context: object) -> None:
        if not self.has_send:
            raise QuicStatusError(
                Status.INVALID_STATE, "the peer's unidirectional stream is receive-only"
            )
        if self._send_closed or self.connection._is_shut_down():
            raise QuicStatusError(Status.INVALID_STATE, "the stream's send direction is closed")
        if not self._started:
            if SendFlags.START not in flags:
                raise QuicStatusError(
                    Status.INVALID_STATE, "start() the stream first (or SendFlags.START)"
                )
            self._start(StreamStartFlags.NONE)
        fin = SendFlags.FIN in flags
        self._requests.append(_SendRequest(data, fin, context))
        self._send_closed = fin
        self._schedule_pump(flush=SendFlags.DELAY_SEND not in flags)

    def _schedule_pump(self, *, flush: bool = True) -> None:
        self._flush |= flush
        if not self._pump_scheduled:
            self._pump_scheduled = True
            self._post(self._run_pump)

    def _run_pump(self) -> None:
        flush, self._flush, self._pump_scheduled = self._flush, False, False
        if self._pump() and flush:
            self.connection._touch()  # DELAY_SEND alone leaves the data for the next send

    def _pump(self) -> bool:
        """Write queued requests into the core while room allows; True if anything was written."""
        core = self._core
        if core is None or core.send is None or self._complete or not self._start_indicated:
            return False
        buffering = self.connection._send_buffering
        ideal = self.connection._ideal_send_buffer
        wrote = False
        while self._requests and (not buffering or core.send.buffered_bytes < ideal):
            request = self._requests.popleft()
            if not self.connection._write(core.stream_id, request.data, request.fin):
                self._requests.appendleft(request)
                self._cancel_sends()
                return wrote
            wrote = True
            request.end_offset = core.send.written_offset
            if buffering:
                self._complete_send(request, canceled=False)
            else:
                self._unacked.append(request)
        return wrote

    def _complete_send(self, request: _SendRequest, *, canceled: bool) -> None:
        if request.report:
            self._indicate(SendCompleteEvent(canceled, request.context))

    def _cancel_sends(self) -> None:
        pending = [*self._unacked, *self._requests]
        self._unacked.clear()
        self._requests.clear()
        for request in pending:
            self._complete_send(request, canceled=True)

    def _poll_send(self) -> None:
        core = self._core
        if core is None or core.send is None:
            return
        if self._pump():
            self.connection._touch()
        acked = core.send.written_offset - core.send.buffered_bytes
        if core.send.state is SendState.DATA_RECVD:
            acked = core.send.written_offset
        while self._unacked and self._unacked[0].end_offset <= acked:
            self._complete_send(self._unacked.popleft(), canceled=False)
        ideal = self.connection._ideal_send_buffer
        if ideal != self._ideal_indicated and core.send.written_offset and not self._send_closed:
            self._ideal_indicated = ideal
            self._indicate(IdealSendBufferSizeEvent(ideal))
        if not self._send_done and core.send.state in (SendState.DATA_RECVD, SendState.RESET_RECVD):
            self._send_done = True
            self._cancel_sends()
            self._indicate(SendShutdownCompleteEvent(core.send.state is SendState.DATA_RECVD))

    # -- StreamShutdown --------------------------------------------------------------------------

    def shutdown(self, flags: StreamShutdownFlags, error_code: int = 0) -> None:
        """``StreamShutdown``: GRACEFUL (FIN after queued data), ABORT_SEND (RESET_STREAM),
        ABORT_RECEIVE (STOP_SENDING), ABORT (both); IMMEDIATE (with ABORT) completes the
        stream's shutdown now; INLINE is accepted (calls from a handler already run inline)."""
        self._check_open()
        flags = StreamShutdownFlags(flags)
        graceful = StreamShutdownFlags.GRACEFUL in flags
        if (
            not flags & (StreamShutdownFlags.GRACEFUL | _ABORTS)
            or (graceful and flags & _ABORTS)
            or (StreamShutdownFlags.IMMEDIATE in flags and (flags & _ABORTS) != _ABORTS)
            or not 0 <= error_code <= VARINT_MAX
        ):
            raise QuicStatusError(
                Status.INVALID_PARAMETER, f"shutdown flags {flags!r}, code {error_code}"
            )
        self._call(lambda: self._shutdown(flags, error_code))

    def _shutdown(self, flags: StreamShutdownFlags, error_code: int) -> None:
        if self._complete:
            return
        if not self._started:
            self._send_closed = self._send_done = self._recv_done = True
            self._post(lambda: self._finish(StreamShutdownCompleteEvent(connection_shutdown=False)))
            return
        if StreamShutdownFlags.GRACEFUL in flags:
            if not self._send_closed:
                self._send_closed = True
                self._requests.append(_SendRequest(b"", True, None, report=False))
                self._schedule_pump()
            return
        aborting_send = StreamShutdownFlags.ABORT_SEND in flags and self.has_send
        if aborting_send and self._send_abort is None and not self._send_done:
            self._send_closed = True
            self._send_abort = error_code
            self._cancel_sends()
        if StreamShutdownFlags.ABORT_RECEIVE in flags and not self._recv_done:
            self._recv_done = True
            self._recv_abort = error_code
            self._held, self._held_fin, self._recv_pending = b"", False, None
        self._apply_aborts()
        if StreamShutdownFlags.IMMEDIATE in flags:
            self._complete_now(app_close=False)
        else:
            self._post(self._poll)

    def _apply_aborts(self) -> None:
        if self._core is None:
            return  # applied when the core opens the stream
        if self._send_abort is not None and self._core.send is not None:
            self.connection._reset_core(self._core.stream_id, self._send_abort)
        if self._recv_abort is not None and self._core.recv is not None:
            self.connection._stop_core(self._core.stream_id, self._recv_abort)
        self._send_abort = self._recv_abort = None

    def _complete_now(self, *, app_close: bool) -> None:
        if self._complete:
            return
        self._cancel_sends()
        if not self._send_done:
            self._send_done = True
            self._indicate(SendShutdownCompleteEvent(False))
        self._recv_done = True
        self._finish(
            StreamShutdownCompleteEvent(connection_shutdown=False, app_close_in_progress=app_close)
        )

    # -- receiving -------------------------------------------------------------------------------

    def receive_complete(self, length: int) -> None:
        """``StreamReceiveComplete``: finish a RECEIVE that returned PENDING (``length`` bytes
        consumed; fewer than offered disables receive until ``receive_set_enabled(True)``)."""
        self._check_open()
        if length < 0:
            raise QuicStatusError(Status.INVALID_PARAMETER, "length must not be negative")
        self._call(lambda: self._receive_complete(length))

    def _receive_complete(self, length: int) -> None:
        offered = self._recv_pending
        if offered is None:
            return  # MsQuic ignores a call without a pending RECEIVE
        self._recv_pending = None
        self._consume(min(length, offered), offered)
        self._post(self._deliver)

    def receive_set_enabled(self, enabled: bool) -> None:
        """``StreamReceiveSetEnabled``: pause or resume RECEIVE events."""
        self._check_open()
        self._call(lambda: self._set_receive_enabled(enabled))

    def _set_receive_enabled(self, enabled: bool) -> None:
        self._recv_enabled = enabled
        if enabled:
            self._post(self._deliver)

    def _on_readable(self) -> None:
        self._deliver()

    def _deliver(self) -> None:
        """Offer data to the handler until it pauses or the core has nothing more."""
        if self._delivering:
            return
        self._delivering = True
        try:
            while self._offer_once():
                pass
        finally:
            self._delivering = False

    def _offer_once(self) -> bool:
        if self._recv_done or not self._recv_enabled or self._recv_pending is not None:
            return False
        if not self._held and not self._held_fin and not self._fetch():
            return False
        held = self._held
        event = ReceiveEvent(
            absolute_offset=self._recv_offset,
            total_buffer_length=len(held),
            buffers=(memoryview(held),) if held else (),
            flags=ReceiveFlags.FIN if self._held_fin else ReceiveFlags.NONE,
        )
        status = self._indicate(event)
        if status is Status.PENDING:
            self._recv_pending = len(held)
            return False
        if failed(status):
            self._shutdown(StreamShutdownFlags.ABORT_RECEIVE, 0)
            return False
        return self._consume(max(0, min(event.total_buffer_length, len(held))), len(held))

    def _fetch(self) -> bool:
        """Read what the core holds; False when there is nothing (or the stream went away)."""
        core = self._core
        if core is None or core.recv is None:
            return False
        try:
            data, fin = self.connection._read(core.stream_id)
        except StreamResetError:
            return False  # PEER_SEND_ABORTED comes with the core's StreamReset event
        if not data and not fin:
            return False
        self._held, self._held_fin = data, fin
        return True

    def _consume(self, consumed: int, offered: int) -> bool:
        """Apply a consumption; True to keep offering data."""
        self._recv_offset += consumed
        fin = self._held_fin and consumed == offered
        self._held = self._held[consumed:]
        if consumed < offered:
            self._recv_enabled = False  # partial: paused until receive_set_enabled(True)
            return False
        if fin:
            self._held_fin = False
            self._recv_done = True
            self._indicate(PeerSendShutdownEvent())
            self._poll()
            return False
        return True

    def _on_peer_reset(self, error_code: int) -> None:
        """RESET_STREAM from the peer (RFC 9000 §19.4): unread data is dropped."""
        if self._recv_done:
            return
        self._recv_done = True
        self._held, self._held_fin, self._recv_pending = b"", False, None
        self.connection._acknowledge_reset(self._core)
        self._indicate(PeerSendAbortedEvent(error_code))
        self._poll()

    def _on_peer_stop_sending(self, error_code: int) -> None:
        """STOP_SENDING (RFC 9000 §3.5): the core answered with RESET_STREAM."""
        self._send_closed = True
        self._cancel_sends()
        self._indicate(PeerReceiveAbortedEvent(error_code))
        self._poll()

    # -- completion ------------------------------------------------------------------------------

    def _poll(self) -> None:
        """After each service pass: completions and the end of the stream."""
        if self._complete or not self._started:
            return
        if self._send_abort is None:
            self._poll_send()
        if self._send_done and self._recv_done and self._core is not None:
            self._finish(StreamShutdownCompleteEvent(connection_shutdown=False))

    def _on_connection_shutdown(self, info: ShutdownInfo) -> None:
        if self._complete:
            return
        self._cancel_sends()
        if not self._send_done:
            self._send_done = True
            self._indicate(SendShutdownCompleteEvent(False))
        self._recv_done = True
        self._finish(
            StreamShutdownCompleteEvent(
                connection_shutdown=True,
                app_close_in_progress=self._closed,
                connection_shutdown_by_app=info.by_app,
                connection_closed_remotely=info.remotely,
                connection_error_code=info.error_code,
                connection_close_status=info.status,
            )
        )

    def _finish(self, event: StreamShutdownCompleteEvent) -> None:
        if self._complete:
            return
        self._complete = True
        self._send_closed = True
        self.connection._forget_stream(self)
        self._indicate(event)

    # -- handle ----------------------------------------------------------------------------------

    def close(self) -> None:
        """``StreamClose``: a stream not yet shut down is aborted (error 0) first."""
        if self._closed:
            return
        self._call(self._close)

    def _close(self) -> None:
        if self._started and not self._complete:
            self._shutdown(StreamShutdownFlags.ABORT, 0)
            self._closed = True
            self._complete_now(app_close=True)
        self._closed = True
        self.connection._forget_stream(self)

    def set_priority(self, priority: int) -> None:
        """The stream's send priority, 0 (low) to 0xFFFF (high); 0x7FFF by default."""
        self.set_param(StreamParam.PRIORITY, priority)

    def get_param(self, param: int) -> object:
        """Supported: StreamParam.ID, PRIORITY, IDEAL_SEND_BUFFER_SIZE, ZERO_RTT_LENGTH."""
        if param == StreamParam.ID:
            if self.id is None:
                raise QuicStatusError(Status.INVALID_STATE, "the stream has no ID before start")
            return self.id
        if param == StreamParam.PRIORITY:
            return self._priority
        if param == StreamParam.IDEAL_SEND_BUFFER_SIZE:
            return self.connection._ideal_send_buffer
        if param == StreamParam.ZERO_RTT_LENGTH:
            return 0  # the engine sends no 0-RTT data
        raise unsupported_param(param, "get_param", "stream")

    def set_param(self, param: int, value: Any) -> None:
        """Supported: StreamParam.PRIORITY."""
        self._check_open()
        if param != StreamParam.PRIORITY:
            raise unsupported_param(param, "set_param", "stream")
        if not isinstance(value, int) or not 0 <= value <= MAX_PRIORITY:
            raise QuicStatusError(Status.INVALID_PARAMETER, "PRIORITY is 0..0xFFFF")
        self._call(lambda: self._set_priority(value))

    def _set_priority(self, priority: int) -> None:
        self._priority = priority
        if self._core is not None and not self._complete:
            self.connection._set_core_priority(self._core.stream_id, priority)

    def __repr__(self) -> str:
        return f"<Stream id={self.id} {'bidi' if self.bidirectional else 'uni'}>"
