"""Streams of a connection: IDs and types, limits, MAX_STREAMS, priorities and scheduling.

RFC 9000 §2.1: the low bit of a stream ID is the initiator (0 client, 1 server) and the second bit
the direction (0 bidirectional, 1 unidirectional); stream ``n`` of a type has ID ``4n + type``.

* Opening: :meth:`StreamManager.open_stream` respects the peer's MAX_STREAMS (§4.6) and raises
  :class:`StreamLimitError` (a local condition, not a protocol error) when it is reached, queueing
  STREAMS_BLOCKED once per limit (§19.14).
* Incoming frames: :meth:`StreamManager.stream_for_frame` applies the per-frame stream rules of
  §19.4-§19.13 (STREAM_STATE_ERROR) and the limit we advertised (STREAM_LIMIT_ERROR, §4.6), opens
  every lower-numbered peer stream of the type (§3.2) and reports them through
  :meth:`StreamManager.take_new_streams`.  Frames for streams already closed and forgotten are
  ignored (``None``).
* Concurrency: as the peer's streams finish, MAX_STREAMS raises its limit to keep the number of
  streams it may have open constant (§4.6), once the peer has used half of its remaining credit.
* Scheduling: streams with something to send sit in a FIFO per priority (0..0xFFFF, higher first,
  default 0x7FFF as in MsQuic).  :meth:`StreamManager.next_sendable` serves the highest priority
  with work, round-robin within it: the stream returned goes to the back of its queue.  Streams
  tell the manager through their ``listener`` hook when they may have work, so nothing is polled;
  streams without work leave the queue lazily.
* Lifetime: a stream is removed once both directions are terminal (§3.3; the receive side only
  after the application read everything, or gave up), bounding memory by the stream limits.

How the connection drives it: route each incoming stream frame through ``stream_for_frame`` (then
``take_new_streams`` for StreamOpened events) and feed growth from ``on_stream_frame`` /
``on_reset`` to ``ReceiveWindow.on_received`` and :meth:`StreamManager.take_consumed` to
``ReceiveWindow.on_consumed``.  When building a packet, take ``control_frames()``, then repeatedly
``next_sendable(credit)`` and pull from the stream, in this order: ``send.reset_frame()``,
``recv.stop_sending_frame()``, ``recv.max_stream_data_frame(now_us, rtt)``,
``send.blocked_frame()``, ``send.next_chunk(room, credit)`` (charging ``new_bytes`` to
``SendCredit``), until the packet is full or ``next_sendable`` returns ``None``.  Acknowledged or
lost ``StreamChunk`` records go to ``on_stream_data_acked`` / ``on_stream_data_lost``, other
stream frames to ``on_frame_acked`` / ``on_frame_lost``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from functools import partial
from typing import Protocol

from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.core.frames import (
    MAX_STREAMS_LIMIT,
    FrameType,
    MaxStreamDataFrame,
    MaxStreamsFrame,
    ResetStreamFrame,
    StopSendingFrame,
    StreamDataBlockedFrame,
    StreamsBlockedFrame,
)
from pyquic.core.stream_recv import RecvStream
from pyquic.core.stream_send import SendStream
from pyquic.core.varint import VARINT_MAX

MIN_PRIORITY = 0
MAX_PRIORITY = 0xFFFF
DEFAULT_PRIORITY = 0x7FFF  # MsQuic's default stream priority (msquic-facts §1)

_BIDI, _UNI = 0, 1  # index by stream type: (stream_id >> 1) & 1

_STREAM_FRAME_TYPES = frozenset(range(FrameType.STREAM, FrameType.STREAM_OFF_LEN_FIN + 1))
# Frames a send-only stream (our unidirectional) must not receive (§19.4, §19.8, §19.13).
_RECEIVER_FRAMES = _STREAM_FRAME_TYPES | {FrameType.RESET_STREAM, FrameType.STREAM_DATA_BLOCKED}
# Frames a receive-only stream (the peer's unidirectional) must not receive (§19.5, §19.10).
_SENDER_FRAMES = frozenset({FrameType.MAX_STREAM_DATA, FrameType.STOP_SENDING})
_STREAM_ID_FRAMES = _RECEIVER_FRAMES | _SENDER_FRAMES


class StreamSettings(Protocol):
    """What :meth:`StreamManager.from_settings` reads (``pyquic.core.settings.Settings``)."""

    @property
    def peer_bidi_stream_count(self) -> int: ...
    @property
    def peer_unidi_stream_count(self) -> int: ...
    @property
    def stream_recv_window_max(self) -> int: ...
    def stream_recv_window(self, *, bidirectional: bool, locally_initiated: bool) -> int: ...


class PeerStreamParameters(Protocol):
    """The peer's transport parameters :meth:`StreamManager.apply_transport_parameters` reads."""

    @property
    def initial_max_stream_data_bidi_local(self) -> int: ...
    @property
    def initial_max_stream_data_bidi_remote(self) -> int: ...
    @property
    def initial_max_stream_data_uni(self) -> int: ...
    @property
    def initial_max_streams_bidi(self) -> int: ...
    @property
    def initial_max_streams_uni(self) -> int: ...


def is_client_initiated(stream_id: int) -> bool:
    """RFC 9000 §2.1: the least significant bit is 0 for client-initiated streams."""
    return not stream_id & 0x1


def is_unidirectional(stream_id: int) -> bool:
    """RFC 9000 §2.1: the second least significant bit is 1 for unidirectional streams."""
    return bool(stream_id & 0x2)


class StreamLimitError(Exception):
    """Opening a stream would exceed the peer's limit (§4.6); retry after MAX_STREAMS."""

    def __init__(self, bidirectional: bool, limit: int) -> None:
        kind = "bidirectional" if bidirectional else "unidirectional"
        super().__init__(f"the peer allows {limit} {kind} streams; wait for MAX_STREAMS")
        self.bidirectional = bidirectional
        self.limit = limit


class Stream:
    """One stream: its sending and/or receiving part and its priority."""

    __slots__ = ("_removed", "_scheduled", "priority", "recv", "send", "stream_id")

    def __init__(
        self,
        stream_id: int,
        send: SendStream | None,
        recv: RecvStream | None,
        priority: int = DEFAULT_PRIORITY,
    ) -> None:
        self.stream_id = stream_id
        self.send = send
        self.recv = recv
        self.priority = priority
        self._scheduled = False  # in a scheduling queue
        self._removed = False  # forgotten by the manager

    @property
    def bidirectional(self) -> bool:
        return not self.stream_id & 0x2

    @property
    def client_initiated(self) -> bool:
        return not self.stream_id & 0x1

    @property
    def is_finished(self) -> bool:
        """Both directions terminal (§3.3): the stream can be forgotten."""
        send, recv = self.send, self.recv
        return (send is None or send.is_terminal) and (recv is None or recv.is_terminal)

    def has_pending(self, connection_credit: int) -> bool:
        """Whether any frame for this stream is ready: data, FIN or a control frame."""
        send, recv = self.send, self.recv
        return (send is not None and send.has_pending(connection_credit)) or (
            recv is not None and recv.has_pending()
        )

    def __repr__(self) -> str:
        return f"Stream({self.stream_id}, priority={self.priority:#x})"


class _Limits:
    """Stream counts and limits of one type (bidirectional or unidirectional)."""

    __slots__ = (
        "local_blocked_pending",
        "local_blocked_reported",
        "local_limit",
        "local_opened",
        "peer_closed",
        "peer_limit",
        "peer_opened",
        "peer_pending",
        "peer_window",
    )

    def __init__(self, peer_window: int) -> None:
        self.local_opened = 0  # streams we opened
        self.local_limit = 0  # the peer's MAX_STREAMS for us
        self.local_blocked_pending = False  # STREAMS_BLOCKED queued
        self.local_blocked_reported = -1  # limit STREAMS_BLOCKED was last queued for
        self.peer_opened = 0  # streams the peer opened (highest index + 1)
        self.peer_limit = peer_window  # the MAX_STREAMS we advertised
        self.peer_window = peer_window  # streams the peer may have open at once
        self.peer_closed = 0  # peer streams finished and forgotten
        self.peer_pending = False  # MAX_STREAMS queued


class StreamManager:
    """All streams of a connection (RFC 9000 §2-§4); windows in bytes."""

    __slots__ = (
        "_consumed",
        "_limits",
        "_local_bit",
        "_max_window",
        "_new_streams",
        "_peer_stream_data",
        "_priority_order",
        "_queues",
        "_recv_windows",
        "_streams",
        "is_client",
    )

    def __init__(
        self,
        is_client: bool,
        *,
        max_peer_bidi_streams: int,
        max_peer_uni_streams: int,
        window_bidi_local: int,
        window_bidi_remote: int,
        window_uni: int,
        max_window: int | None = None,
    ) -> None:
        self.is_client = is_client
        self._local_bit = 0 if is_client else 1
        self._limits = (_Limits(max_peer_bidi_streams), _Limits(max_peer_uni_streams))
        # our receive windows: streams we open (bidi), the peer opens (bidi), the peer opens (uni)
        self._recv_windows = (window_bidi_local, window_bidi_remote, window_uni)
        self._max_window = max(max_window or 0, window_bidi_local, window_bidi_remote, window_uni)
        # the peer's initial_max_stream_data_bidi_local, _bidi_remote, _uni (§18.2)
        self._peer_stream_data = (0, 0, 0)
        self._streams: dict[int, Stream] = {}
        self._new_streams: list[Stream] = []
        self._queues: dict[int, deque[Stream]] = {}
        self._priority_order: list[int] = []  # priorities with a queue, highest first
        self._consumed = 0  # bytes read or discarded on all streams, not yet taken

    @classmethod
    def from_settings(cls, is_client: bool, settings: StreamSettings) -> StreamManager:
        """A manager with the stream counts and receive windows of ``settings``."""
        return cls(
            is_client,
            max_peer_bidi_streams=settings.peer_bidi_stream_count,
            max_peer_uni_streams=settings.peer_unidi_stream_count,
            window_bidi_local=settings.stream_recv_window(
                bidirectional=True, locally_initiated=True
            ),
            window_bidi_remote=settings.stream_recv_window(
                bidirectional=True, locally_initiated=False
            ),
            window_uni=settings.stream_recv_window(bidirectional=False, locally_initiated=False),
            max_window=settings.stream_recv_window_max,
        )

    # -- lookup ---------------------------------------------------------------------------------

    def get(self, stream_id: int) -> Stream | None:
        """The open stream with this ID (``None`` if never opened or already forgotten)."""
        return self._streams.get(stream_id)

    def __len__(self) -> int:
        return len(self._streams)

    def __iter__(self) -> Iterator[Stream]:
        return iter(list(self._streams.values()))

    def is_local(self, stream_id: int) -> bool:
        """Whether we initiated (or would initiate) this stream ID (§2.1)."""
        return (stream_id & 0x1) == self._local_bit

    # -- peer parameters and limits -------------------------------------------------------------

    def apply_peer_parameters(
        self,
        *,
        initial_max_stream_data_bidi_local: int,
        initial_max_stream_data_bidi_remote: int,
        initial_max_stream_data_uni: int,
        initial_max_streams_bidi: int,
        initial_max_streams_uni: int,
    ) -> None:
        """The peer's transport parameters (§18.2): send limits for streams and stream counts.

        Existing streams (opened early, e.g. for 0-RTT) get the new limits; decreases are ignored.
        """
        self._peer_stream_data = (
            initial_max_stream_data_bidi_local,
            initial_max_stream_data_bidi_remote,
            initial_max_stream_data_uni,
        )
        self.on_max_streams(True, initial_max_streams_bidi)
        self.on_max_streams(False, initial_max_streams_uni)
        for stream in list(self._streams.values()):
            if stream.send is not None:
                stream.send.update_max_stream_data(self._send_limit_for(stream.stream_id))

    def apply_transport_parameters(self, params: PeerStreamParameters) -> None:
        """:meth:`apply_peer_parameters` from a decoded ``TransportParameters``."""
        self.apply_peer_parameters(
            initial_max_stream_data_bidi_local=params.initial_max_stream_data_bidi_local,
            initial_max_stream_data_bidi_remote=params.initial_max_stream_data_bidi_remote,
            initial_max_stream_data_uni=params.initial_max_stream_data_uni,
            initial_max_streams_bidi=params.initial_max_streams_bidi,
            initial_max_streams_uni=params.initial_max_streams_uni,
        )

    def reset_peer_limits(self) -> None:
        """0-RTT was rejected: forget the remembered limits (RFC 9000 §7.4.1, RFC 9001 §4.6.2)
        until the real ones are applied; streams already opened stay open."""
        self._peer_stream_data = (0, 0, 0)
        for limits in self._limits:
            limits.local_limit = limits.local_opened
        for stream in self._streams.values():
            if stream.send is not None:
                stream.send.forget_peer_limit()

    def _send_limit_for(self, stream_id: int) -> int:
        bidi_local, bidi_remote, uni = self._peer_stream_data
        if is_unidirectional(stream_id):
            return uni
        # the peer's "bidi_local" covers streams the peer opened (§18.2)
        return bidi_remote if self.is_local(stream_id) else bidi_local

    def on_max_streams(self, bidirectional: bool, maximum_streams: int) -> bool:
        """MAX_STREAMS from the peer; decreases are ignored (§19.11).  Returns whether it grew."""
        limits = self._limits[_BIDI if bidirectional else _UNI]
        if maximum_streams <= limits.local_limit:
            return False
        limits.local_limit = maximum_streams
        limits.local_blocked_pending = False
        return True

    def streams_available(self, bidirectional: bool) -> int:
        """How many more streams of the type we may open now."""
        limits = self._limits[_BIDI if bidirectional else _UNI]
        return limits.local_limit - limits.local_opened

    def available_local_streams(self) -> tuple[int, int]:
        """``(bidirectional, unidirectional)`` streams we may still open."""
        return self.streams_available(True), self.streams_available(False)

    # -- opening --------------------------------------------------------------------------------

    def open_stream(self, bidirectional: bool = True) -> Stream:
        """Open our next stream of the type; StreamLimitError at the peer's limit (§4.6)."""
        kind = _BIDI if bidirectional else _UNI
        limits = self._limits[kind]
        if limits.local_opened >= limits.local_limit:
            if limits.local_blocked_reported != limits.local_limit:  # once per limit, §19.14
                limits.local_blocked_pending = True
            raise StreamLimitError(bidirectional, limits.local_limit)
        stream_id = (limits.local_opened << 2) | (kind << 1) | self._local_bit
        limits.local_opened += 1
        send = SendStream(stream_id, self._send_limit_for(stream_id))
        recv = None
        if bidirectional:
            recv = RecvStream(stream_id, self._recv_windows[0], self._max_window)
        return self._add(Stream(stream_id, send, recv))

    def _add(self, stream: Stream) -> Stream:
        self._streams[stream.stream_id] = stream
        listener = partial(self._on_stream_changed, stream)
        if stream.send is not None:
            stream.send.listener = listener
        if stream.recv is not None:
            stream.recv.listener = listener
        return stream

    def _open_peer_streams(self, kind: int, limits: _Limits, up_to_index: int) -> None:
        """Open every peer stream of the type up to ``up_to_index`` (§3.2)."""
        peer_bit = 1 - self._local_bit
        window = self._recv_windows[1 if kind == _BIDI else 2]
        for index in range(limits.peer_opened, up_to_index + 1):
            stream_id = (index << 2) | (kind << 1) | peer_bit
            send = None
            if kind == _BIDI:
                send = SendStream(stream_id, self._send_limit_for(stream_id))
            recv = RecvStream(stream_id, window, self._max_window)
            self._new_streams.append(self._add(Stream(stream_id, send, recv)))
        limits.peer_opened = up_to_index + 1
        self._update_peer_limit(limits)

    def take_new_streams(self) -> list[Stream]:
        """Streams the peer opened since the last call, in ID order."""
        new, self._new_streams = self._new_streams, []
        return new

    def stream_for_frame(self, stream_id: int, frame_type: int) -> Stream | None:
        """The stream an incoming stream frame is for, opening peer streams as needed.

        ``frame_type`` is the wire type (STREAM 0x08-0x0f, RESET_STREAM, STOP_SENDING,
        MAX_STREAM_DATA, STREAM_DATA_BLOCKED).  Raises QuicError STREAM_STATE_ERROR for frames
        the stream's direction or state forbids (§19.4, §19.5, §19.8, §19.10, §19.13) and
        STREAM_LIMIT_ERROR beyond our limit (§4.6).  ``None``: closed and forgotten, ignore it.
        """
        if frame_type not in _STREAM_ID_FRAMES:
            raise ValueError(f"frame type {frame_type:#x} does not address a stream")
        local = self.is_local(stream_id)
        if stream_id & 0x2:
            if local and frame_type in _RECEIVER_FRAMES:
                raise QuicError(
                    TransportErrorCode.STREAM_STATE_ERROR,
                    f"frame for our send-only stream {stream_id}",
                    frame_type=frame_type,
                )
            if not local and frame_type in _SENDER_FRAMES:
                raise QuicError(
                    TransportErrorCode.STREAM_STATE_ERROR,
                    f"frame for receive-only stream {stream_id}",
                    frame_type=frame_type,
                )
        kind = (stream_id >> 1) & 1
        limits = self._limits[kind]
        index = stream_id >> 2
        if local:
            if index >= limits.local_opened:
                raise QuicError(
                    TransportErrorCode.STREAM_STATE_ERROR,
                    f"frame for stream {stream_id} we have not opened",
                    frame_type=frame_type,
                )
            return self._streams.get(stream_id)
        if index >= limits.peer_limit:
            raise QuicError(
                TransportErrorCode.STREAM_LIMIT_ERROR,
                f"stream {stream_id} exceeds the limit of {limits.peer_limit} streams",
                frame_type=frame_type,
            )
        if index >= limits.peer_opened:
            self._open_peer_streams(kind, limits, index)
        return self._streams.get(stream_id)

    # -- the application's operations ----------------------------------------------------------

    def _require(self, stream_id: int) -> Stream:
        stream = self._streams.get(stream_id)
        if stream is None:
            raise ValueError(f"stream {stream_id} is not open")
        return stream

    def send(self, stream_id: int, data: bytes, fin: bool = False) -> None:
        """Write on a stream; ValueError if unknown, receive-only, finished or reset."""
        send = self._require(stream_id).send
        if send is None:
            raise ValueError(f"stream {stream_id} is receive-only")
        send.write(data, fin)

    def read(self, stream_id: int, max_bytes: int = -1) -> tuple[bytes, bool]:
        """``RecvStream.read`` on a stream; ValueError if unknown or send-only.

        Raises ``StreamResetError`` after a peer reset.  Then call :meth:`take_consumed`.
        """
        recv = self._require(stream_id).recv
        if recv is None:
            raise ValueError(f"stream {stream_id} is send-only")
        return recv.read(max_bytes)

    def reset(self, stream_id: int, error_code: int) -> bool:
        """Reset a stream's sending part (RESET_STREAM); False if already terminal or reset."""
        send = self._require(stream_id).send
        if send is None:
            raise ValueError(f"stream {stream_id} is receive-only")
        return send.reset(error_code)

    def stop_sending(self, stream_id: int, error_code: int) -> None:
        """Ask the peer to stop sending on a stream (STOP_SENDING); its data is discarded."""
        recv = self._require(stream_id).recv
        if recv is None:
            raise ValueError(f"stream {stream_id} is send-only")
        recv.stop_sending(error_code)

    def take_consumed(self) -> int:
        """Bytes read or discarded on all streams since the last call (for ``on_consumed``)."""
        consumed, self._consumed = self._consumed, 0
        return consumed

    # -- MAX_STREAMS and STREAMS_BLOCKED ----------------------------------------------------------

    def _update_peer_limit(self, limits: _Limits) -> None:
        """Raise the peer's limit as its streams finish, once half its credit is used (§4.6)."""
        new_limit = min(limits.peer_closed + limits.peer_window, MAX_STREAMS_LIMIT)
        if new_limit <= limits.peer_limit:
            return
        remaining = limits.peer_limit - limits.peer_opened
        if remaining * 2 <= limits.peer_window:
            limits.peer_limit = new_limit
            limits.peer_pending = True

    @property
    def has_control_frames(self) -> bool:
        """Whether ``control_frames`` would return something."""
        return any(lim.peer_pending or lim.local_blocked_pending for lim in self._limits)

    def control_frames(self) -> list[MaxStreamsFrame | StreamsBlockedFrame]:
        """Pending MAX_STREAMS (§19.11) and STREAMS_BLOCKED (§19.14) frames; each once."""
        frames: list[MaxStreamsFrame | StreamsBlockedFrame] = []
        for kind, limits in enumerate(self._limits):
            if limits.peer_pending:
                limits.peer_pending = False
                frames.append(MaxStreamsFrame(kind == _BIDI, limits.peer_limit))
            if limits.local_blocked_pending:
                limits.local_blocked_pending = False
                limits.local_blocked_reported = limits.local_limit
                frames.append(StreamsBlockedFrame(kind == _BIDI, limits.local_limit))
        return frames

    # -- acknowledgement and loss ---------------------------------------------------------------

    def on_stream_data_acked(self, stream_id: int, offset: int, length: int, fin: bool) -> None:
        """A ``StreamChunk`` was acknowledged."""
        stream = self._streams.get(stream_id)
        if stream is not None and stream.send is not None:
            stream.send.on_acked(offset, length, fin)

    def on_stream_data_lost(self, stream_id: int, offset: int, length: int, fin: bool) -> None:
        """A ``StreamChunk`` was lost: its unacknowledged bytes are sent again."""
        stream = self._streams.get(stream_id)
        if stream is not None and stream.send is not None:
            stream.send.on_lost(offset, length, fin)

    def on_frame_acked(self, frame: object) -> bool:
        """A stream control frame was acknowledged; False if the frame type is not ours."""
        if isinstance(frame, ResetStreamFrame):
            stream = self._streams.get(frame.stream_id)
            if stream is not None and stream.send is not None:
                stream.send.on_reset_acked()
            return True
        if isinstance(frame, StopSendingFrame):
            stream = self._streams.get(frame.stream_id)
            if stream is not None and stream.recv is not None:
                stream.recv.on_stop_sending_acked()
            return True
        return isinstance(
            frame,
            MaxStreamDataFrame | StreamDataBlockedFrame | MaxStreamsFrame | StreamsBlockedFrame,
        )

    def on_frame_lost(self, frame: object) -> bool:
        """A stream control frame was lost: queue it again if still current (§13.3).

        Returns False if the frame type is not one of the stream frames.
        """
        if isinstance(frame, MaxStreamsFrame | StreamsBlockedFrame):
            self._on_limit_frame_lost(frame)
            return True
        if not isinstance(
            frame, ResetStreamFrame | StopSendingFrame | MaxStreamDataFrame | StreamDataBlockedFrame
        ):
            return False
        stream = self._streams.get(frame.stream_id)
        if stream is None:
            return True
        send, recv = stream.send, stream.recv
        if isinstance(frame, ResetStreamFrame) and send is not None:
            send.on_reset_lost()
        elif isinstance(frame, StreamDataBlockedFrame) and send is not None:
            send.on_blocked_lost(frame.maximum_stream_data)
        elif isinstance(frame, StopSendingFrame) and recv is not None:
            recv.on_stop_sending_lost()
        elif isinstance(frame, MaxStreamDataFrame) and recv is not None:
            recv.on_max_stream_data_lost(frame.maximum_stream_data)
        return True

    def _on_limit_frame_lost(self, frame: MaxStreamsFrame | StreamsBlockedFrame) -> None:
        limits = self._limits[_BIDI if frame.bidirectional else _UNI]
        if isinstance(frame, MaxStreamsFrame):
            if frame.maximum_streams == limits.peer_limit:
                limits.peer_pending = True
        elif (
            frame.maximum_streams == limits.local_limit
            and limits.local_opened >= limits.local_limit
        ):
            limits.local_blocked_pending = True

    # -- priorities and scheduling --------------------------------------------------------------

    def set_priority(self, stream_id: int, priority: int) -> None:
        """Set a stream's priority (0..0xFFFF, higher first); ValueError if out of range."""
        if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
            raise ValueError(f"priority must be 0..0xFFFF, got {priority}")
        stream = self._require(stream_id)
        if stream.priority == priority:
            return
        if stream._scheduled:
            queue = self._queues[stream.priority]
            queue.remove(stream)
            if not queue:
                self._drop_queue(stream.priority)
            stream._scheduled = False
        stream.priority = priority
        self._schedule(stream)

    def _on_stream_changed(self, stream: Stream) -> None:
        if stream._removed:
            return
        if stream.recv is not None:
            self._consumed += stream.recv.take_consumed()
        if stream.is_finished:
            self._remove(stream)
        else:
            self._schedule(stream)

    def _schedule(self, stream: Stream) -> None:
        if stream._scheduled or not stream.has_pending(VARINT_MAX):
            return
        priority = stream.priority
        queue = self._queues.get(priority)
        if queue is None:
            queue = self._queues[priority] = deque()
            order = self._priority_order
            position = 0
            while position < len(order) and order[position] > priority:
                position += 1
            order.insert(position, priority)
        queue.append(stream)
        stream._scheduled = True

    def _drop_queue(self, priority: int) -> None:
        del self._queues[priority]
        self._priority_order.remove(priority)

    def _remove(self, stream: Stream) -> None:
        stream._removed = True  # left in its queue, dropped lazily by next_sendable
        del self._streams[stream.stream_id]
        if not self.is_local(stream.stream_id):
            limits = self._limits[(stream.stream_id >> 1) & 1]
            limits.peer_closed += 1
            self._update_peer_limit(limits)

    def next_sendable(self, connection_credit: int) -> Stream | None:
        """The next stream to send from: highest priority first, round-robin within a priority.

        The stream returned moves to the back of its queue.  ``connection_credit`` (bytes) decides
        whether new data counts as sendable; retransmissions and control frames always do.
        """
        order = self._priority_order
        level = 0
        while level < len(order):
            priority = order[level]
            queue = self._queues[priority]
            for _ in range(len(queue)):
                stream = queue.popleft()
                if not stream._removed:
                    # pending with the credit implies pending with more: one call in the usual case
                    if stream.has_pending(connection_credit):
                        queue.append(stream)
                        return stream
                    if stream.has_pending(VARINT_MAX):
                        queue.append(stream)
                        continue
                stream._scheduled = False
            if queue:
                level += 1
            else:
                self._drop_queue(priority)
        return None

    @property
    def has_scheduled(self) -> bool:
        """Whether any stream is queued for sending (cheap; it may have nothing left to send)."""
        return bool(self._queues)

    def has_sendable(self, connection_credit: int) -> bool:
        """Whether ``next_sendable`` would return a stream (without rotating)."""
        return any(
            not stream._removed and stream.has_pending(connection_credit)
            for queue in self._queues.values()
            for stream in queue
        )

    def wants_connection_credit(self) -> bool:
        """Whether new data is held back only by connection flow control (DATA_BLOCKED)."""
        return any(
            not stream._removed and stream.send is not None and stream.send.wants_connection_credit
            for queue in self._queues.values()
            for stream in queue
        )
