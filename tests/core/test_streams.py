"""StreamManager: IDs (RFC 9000 §2.1), frame rules (§19.4-§19.13), limits (§4.6), scheduling."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.core.frames import (
    FrameType,
    MaxStreamDataFrame,
    MaxStreamsFrame,
    PingFrame,
    ResetStreamFrame,
    StopSendingFrame,
    StreamDataBlockedFrame,
    StreamsBlockedFrame,
)
from pyquic.core.stream_recv import RecvState, StreamResetError
from pyquic.core.stream_send import SendState
from pyquic.core.streams import (
    DEFAULT_PRIORITY,
    Stream,
    StreamLimitError,
    StreamManager,
    is_client_initiated,
    is_unidirectional,
)
from pyquic.core.transport_params import TransportParameters

BIG = 1 << 40
STATE = TransportErrorCode.STREAM_STATE_ERROR
LIMIT = TransportErrorCode.STREAM_LIMIT_ERROR
STREAM_TYPES = list(range(FrameType.STREAM, FrameType.STREAM_OFF_LEN_FIN + 1))


def make(
    is_client: bool = True, *, bidi: int = 10, uni: int = 10, peer_streams: int = 10
) -> StreamManager:
    manager = StreamManager(
        is_client,
        max_peer_bidi_streams=bidi,
        max_peer_uni_streams=uni,
        window_bidi_local=1000,
        window_bidi_remote=2000,
        window_uni=3000,
        max_window=8000,
    )
    manager.apply_peer_parameters(
        initial_max_stream_data_bidi_local=100,
        initial_max_stream_data_bidi_remote=200,
        initial_max_stream_data_uni=300,
        initial_max_streams_bidi=peer_streams,
        initial_max_streams_uni=peer_streams,
    )
    return manager


def state_error(manager: StreamManager, stream_id: int, frame_type: int) -> int:
    with pytest.raises(QuicError) as excinfo:
        manager.stream_for_frame(stream_id, frame_type)
    assert excinfo.value.frame_type == frame_type
    return excinfo.value.error_code


# -- IDs and opening ------------------------------------------------------------------------------


def test_stream_id_bits() -> None:
    assert is_client_initiated(0) and not is_unidirectional(0)
    assert not is_client_initiated(1) and not is_unidirectional(1)
    assert is_client_initiated(2) and is_unidirectional(2)
    assert not is_client_initiated(3) and is_unidirectional(3)


def test_open_stream_ids_and_directions() -> None:
    client = make(True)
    assert [client.open_stream().stream_id for _ in range(3)] == [0, 4, 8]
    assert [client.open_stream(False).stream_id for _ in range(2)] == [2, 6]
    server = make(False)
    assert server.open_stream().stream_id == 1
    assert server.open_stream(False).stream_id == 3
    bidi, uni = client.get(0), client.get(2)
    assert bidi is not None and bidi.send is not None and bidi.recv is not None
    assert uni is not None and uni.send is not None and uni.recv is None
    assert bidi.priority == DEFAULT_PRIORITY == 0x7FFF


def test_send_limits_and_windows_per_stream_type() -> None:
    manager = make(False)
    local_bidi = manager.open_stream()
    local_uni = manager.open_stream(False)
    assert local_bidi.send is not None and local_bidi.recv is not None
    assert local_bidi.send.max_stream_data == 200  # the peer's bidi_remote (§18.2)
    assert local_bidi.recv.max_stream_data == 1000  # our bidi_local
    assert local_uni.send is not None and local_uni.send.max_stream_data == 300
    peer_bidi = manager.stream_for_frame(0, FrameType.STREAM)
    peer_uni = manager.stream_for_frame(2, FrameType.STREAM)
    assert peer_bidi is not None and peer_bidi.send is not None and peer_bidi.recv is not None
    assert peer_bidi.send.max_stream_data == 100  # the peer's bidi_local
    assert peer_bidi.recv.max_stream_data == 2000  # our bidi_remote
    assert peer_uni is not None and peer_uni.send is None and peer_uni.recv is not None
    assert peer_uni.recv.max_stream_data == 3000


def test_stream_limit_error_and_streams_blocked_once_per_limit() -> None:
    manager = make(True, peer_streams=1)
    manager.open_stream()
    with pytest.raises(StreamLimitError) as excinfo:
        manager.open_stream()
    assert excinfo.value.limit == 1 and excinfo.value.bidirectional
    assert not isinstance(excinfo.value, QuicError)
    assert manager.has_control_frames
    assert manager.control_frames() == [StreamsBlockedFrame(True, 1)]  # §19.14
    with pytest.raises(StreamLimitError):
        manager.open_stream()
    assert manager.control_frames() == []  # once per limit
    assert not manager.on_max_streams(True, 1)  # §19.11: not an increase
    assert manager.on_max_streams(True, 2)
    assert manager.available_local_streams() == (1, 1)
    manager.open_stream()
    with pytest.raises(StreamLimitError):
        manager.open_stream()
    assert manager.control_frames() == [StreamsBlockedFrame(True, 2)]


def test_streams_blocked_dropped_when_limit_rises_and_resent_when_lost() -> None:
    manager = make(True, peer_streams=0)
    with pytest.raises(StreamLimitError):
        manager.open_stream(False)
    manager.on_max_streams(False, 1)
    assert manager.control_frames() == []
    manager.open_stream(False)
    with pytest.raises(StreamLimitError):
        manager.open_stream(False)
    [frame] = manager.control_frames()
    assert manager.on_frame_lost(frame)
    assert manager.control_frames() == [frame]
    manager.on_max_streams(False, 5)
    assert manager.on_frame_lost(frame)  # stale: no longer blocked
    assert manager.control_frames() == []


def test_apply_peer_parameters_raises_limits_of_existing_streams() -> None:
    manager = StreamManager(
        True,
        max_peer_bidi_streams=0,
        max_peer_uni_streams=0,
        window_bidi_local=10,
        window_bidi_remote=10,
        window_uni=10,
    )
    with pytest.raises(StreamLimitError):
        manager.open_stream()
    manager.apply_transport_parameters(
        TransportParameters(initial_max_streams_bidi=1, initial_max_stream_data_bidi_remote=50)
    )
    stream = manager.open_stream()
    assert stream.send is not None and stream.send.max_stream_data == 50
    manager.apply_peer_parameters(
        initial_max_stream_data_bidi_local=0,
        initial_max_stream_data_bidi_remote=70,
        initial_max_stream_data_uni=0,
        initial_max_streams_bidi=1,
        initial_max_streams_uni=0,
    )
    assert stream.send.max_stream_data == 70


@dataclass
class FakeSettings:
    peer_bidi_stream_count: int = 3
    peer_unidi_stream_count: int = 2
    stream_recv_window_max: int = 1 << 20

    def stream_recv_window(self, *, bidirectional: bool, locally_initiated: bool) -> int:
        if not bidirectional:
            return 300
        return 100 if locally_initiated else 200


def test_from_settings() -> None:
    manager = StreamManager.from_settings(False, FakeSettings())
    manager.on_max_streams(True, 1)
    stream = manager.open_stream()
    assert stream.recv is not None and stream.recv.max_stream_data == 100
    peer = manager.stream_for_frame(0, FrameType.STREAM)
    assert peer is not None and peer.recv is not None and peer.recv.max_stream_data == 200
    with pytest.raises(QuicError) as excinfo:
        manager.stream_for_frame(3 * 4 + 0, FrameType.STREAM)  # fourth bidi stream, limit 3
    assert excinfo.value.error_code == LIMIT
    with pytest.raises(QuicError):
        manager.stream_for_frame(2 * 4 + 2, FrameType.STREAM)  # third uni stream, limit 2


# -- incoming frames ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame_type", [*STREAM_TYPES, FrameType.RESET_STREAM, FrameType.STREAM_DATA_BLOCKED]
)
def test_receiver_frames_on_our_send_only_stream(frame_type: int) -> None:
    manager = make(True)
    manager.open_stream(False)  # stream 2
    assert state_error(manager, 2, frame_type) == STATE  # §19.4, §19.8, §19.13


@pytest.mark.parametrize("frame_type", [FrameType.MAX_STREAM_DATA, FrameType.STOP_SENDING])
def test_sender_frames_on_peer_receive_only_stream(frame_type: int) -> None:
    manager = make(True)
    assert state_error(manager, 3, frame_type) == STATE  # §19.5, §19.10


@pytest.mark.parametrize(
    "frame_type",
    [
        FrameType.STREAM,
        FrameType.STREAM_OFF_LEN_FIN,
        FrameType.RESET_STREAM,
        FrameType.STOP_SENDING,
        FrameType.MAX_STREAM_DATA,
        FrameType.STREAM_DATA_BLOCKED,
    ],
)
def test_frames_for_local_streams_not_yet_opened(frame_type: int) -> None:
    manager = make(True)
    manager.open_stream()  # stream 0 only
    assert manager.stream_for_frame(0, frame_type) is not None
    assert state_error(manager, 4, frame_type) == STATE


@pytest.mark.parametrize("frame_type", [FrameType.MAX_STREAM_DATA, FrameType.STOP_SENDING])
def test_sender_frames_for_unopened_local_uni_stream(frame_type: int) -> None:
    manager = make(False)
    assert state_error(manager, 3, frame_type) == STATE


def test_peer_stream_beyond_our_limit() -> None:
    manager = make(False, bidi=2, uni=0)
    assert manager.stream_for_frame(4, FrameType.STREAM) is not None
    assert state_error(manager, 8, FrameType.STREAM) == LIMIT  # §4.6
    assert state_error(manager, 2, FrameType.STREAM_OFF) == LIMIT
    assert state_error(manager, 8, FrameType.MAX_STREAM_DATA) == LIMIT


def test_peer_stream_opens_lower_numbered_ones() -> None:
    manager = make(False)
    stream = manager.stream_for_frame(8, FrameType.STREAM)  # client bidi stream index 2
    assert stream is not None and stream.stream_id == 8
    assert [s.stream_id for s in manager.take_new_streams()] == [0, 4, 8]  # §3.2
    assert manager.take_new_streams() == []
    assert manager.stream_for_frame(4, FrameType.STREAM) is manager.get(4)
    assert manager.take_new_streams() == []
    manager.stream_for_frame(6, FrameType.RESET_STREAM)
    assert [s.stream_id for s in manager.take_new_streams()] == [2, 6]


def test_max_stream_data_or_stop_sending_open_a_peer_bidi_stream() -> None:
    manager = make(False)
    stream = manager.stream_for_frame(0, FrameType.MAX_STREAM_DATA)
    assert stream is not None and stream.send is not None
    assert [s.stream_id for s in manager.take_new_streams()] == [0]


def test_non_stream_frame_type_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="does not address a stream"):
        make().stream_for_frame(0, FrameType.MAX_DATA)


def finish_peer_uni(manager: StreamManager, stream_id: int) -> None:
    stream = manager.stream_for_frame(stream_id, FrameType.STREAM_FIN)
    assert stream is not None and stream.recv is not None
    stream.recv.on_stream_frame(0, b"x", True)
    assert manager.read(stream_id) == (b"x", True)


def test_finished_streams_are_forgotten_and_frames_ignored() -> None:
    manager = make(True)
    finish_peer_uni(manager, 3)
    assert manager.get(3) is None
    assert manager.stream_for_frame(3, FrameType.STREAM) is None  # closed: ignore
    assert len(manager) == 0


def test_local_bidi_stream_removed_when_both_sides_are_done() -> None:
    manager = make(True)
    stream = manager.open_stream()
    assert stream.send is not None and stream.recv is not None
    manager.send(0, b"hi", fin=True)
    chunk = stream.send.next_chunk(100, BIG)
    assert chunk is not None
    manager.on_stream_data_acked(0, chunk.offset, len(chunk.data), chunk.fin)
    assert stream.send.state is SendState.DATA_RECVD
    assert manager.get(0) is stream  # the receive side is still open
    stream.recv.on_stream_frame(0, b"yo", True)
    assert manager.get(0) is stream  # not yet read by the application
    assert manager.read(0) == (b"yo", True)
    assert manager.get(0) is None
    assert list(manager) == []
    assert manager.stream_for_frame(0, FrameType.STREAM) is None


# -- MAX_STREAMS ----------------------------------------------------------------------------------


def test_max_streams_raised_as_peer_streams_finish() -> None:
    manager = make(False, uni=4)
    for index in range(4):
        manager.stream_for_frame(4 * index + 2, FrameType.STREAM)
    assert manager.control_frames() == []
    finish_peer_uni(manager, 2)
    assert manager.control_frames() == [MaxStreamsFrame(False, 5)]  # §4.6, §19.11
    assert manager.stream_for_frame(18, FrameType.STREAM) is not None  # the fifth is allowed
    assert state_error(manager, 22, FrameType.STREAM) == LIMIT
    finish_peer_uni(manager, 6)
    finish_peer_uni(manager, 10)
    assert manager.control_frames() == [MaxStreamsFrame(False, 7)]  # coalesced


def test_max_streams_waits_until_half_the_credit_is_used() -> None:
    manager = make(False, bidi=10, uni=10)
    for index in range(3):
        finish_peer_uni(manager, 4 * index + 2)
    assert manager.control_frames() == []  # 7 of 10 still available to the peer
    finish_peer_uni(manager, 4 * 3 + 2)
    assert manager.control_frames() == []  # 6 of 10 available
    # opening the fifth leaves 5 of 10: half used, so the limit catches up with the 4 closed
    finish_peer_uni(manager, 4 * 4 + 2)
    assert manager.control_frames() == [MaxStreamsFrame(False, 14)]


def test_max_streams_loss_resends_the_current_limit() -> None:
    manager = make(False, uni=1)
    finish_peer_uni(manager, 2)
    [frame] = manager.control_frames()
    assert frame == MaxStreamsFrame(False, 2)
    assert manager.on_frame_lost(frame)
    assert manager.control_frames() == [frame]
    finish_peer_uni(manager, 6)
    assert manager.control_frames() == [MaxStreamsFrame(False, 3)]
    manager.on_frame_lost(frame)  # superseded
    assert manager.control_frames() == []
    assert manager.on_frame_acked(frame)


# -- control frames, acknowledgement and loss ---------------------------------------------------


def test_reset_stream_ack_and_loss_dispatch() -> None:
    manager = make(True)
    stream = manager.open_stream(False)
    assert stream.send is not None
    manager.send(2, b"data")
    assert manager.reset(2, 11)
    frame = stream.send.reset_frame()
    assert frame == ResetStreamFrame(2, 11, 0)
    assert manager.on_frame_lost(frame)
    assert stream.send.reset_frame() == frame
    assert manager.on_frame_acked(frame)
    assert stream.send.state is SendState.RESET_RECVD
    assert manager.get(2) is None  # a uni stream is done when its only side is
    assert manager.on_frame_lost(frame)  # forgotten stream: nothing happens


def test_stop_sending_and_max_stream_data_dispatch() -> None:
    manager = make(False)
    stream = manager.stream_for_frame(0, FrameType.STREAM)
    assert stream is not None and stream.recv is not None
    manager.stop_sending(0, 5)
    stop = stream.recv.stop_sending_frame()
    assert stop == StopSendingFrame(0, 5)
    assert manager.on_frame_lost(stop)
    assert stream.recv.stop_sending_frame() == stop
    assert manager.on_frame_acked(stop)
    assert manager.on_frame_lost(stop)
    assert stream.recv.stop_sending_frame() is None

    other = manager.stream_for_frame(4, FrameType.STREAM)
    assert other is not None and other.recv is not None
    other.recv.on_stream_frame(0, b"a" * 1500, False)
    manager.read(4)
    credit = other.recv.max_stream_data_frame(0, 1000)
    assert credit == MaxStreamDataFrame(4, 3500)
    assert manager.on_frame_lost(credit)
    assert other.recv.max_stream_data_frame(1, 1000) == credit
    assert manager.on_frame_acked(credit)


def test_stream_data_blocked_loss_dispatch() -> None:
    manager = make(True)
    stream = manager.open_stream()
    assert stream.send is not None
    manager.send(0, b"z" * 300)
    stream.send.next_chunk(1000, BIG)
    blocked = stream.send.blocked_frame()
    assert blocked == StreamDataBlockedFrame(0, 200)
    assert manager.on_frame_lost(blocked)
    assert stream.send.blocked_frame() == blocked
    assert not manager.on_frame_lost(PingFrame())
    assert not manager.on_frame_acked(PingFrame())


def test_stream_data_loss_dispatch() -> None:
    manager = make(True)
    stream = manager.open_stream()
    assert stream.send is not None
    manager.send(0, b"abc")
    chunk = stream.send.next_chunk(100, BIG)
    assert chunk is not None
    manager.on_stream_data_lost(0, 0, 3, False)
    assert stream.send.next_chunk(100, BIG) == chunk._replace(new_bytes=0)
    manager.on_stream_data_lost(99, 0, 3, False)  # unknown stream: ignored
    manager.on_stream_data_acked(99, 0, 3, False)


# -- connection-level consumption -----------------------------------------------------------------


def test_take_consumed_collects_reads_and_discards() -> None:
    manager = make(False)
    a = manager.stream_for_frame(0, FrameType.STREAM)
    b = manager.stream_for_frame(4, FrameType.STREAM)
    assert a is not None and a.recv is not None and b is not None and b.recv is not None
    a.recv.on_stream_frame(0, b"12345", False)
    b.recv.on_stream_frame(0, b"123", False)
    assert manager.take_consumed() == 0
    manager.read(0, 2)
    assert manager.take_consumed() == 2
    b.recv.on_reset(1, 10)
    assert manager.take_consumed() == 10
    with pytest.raises(StreamResetError):
        manager.read(4)
    manager.stop_sending(0, 3)
    assert manager.take_consumed() == 3
    a.recv.on_stream_frame(5, b"67", False)
    assert manager.take_consumed() == 2
    assert manager.take_consumed() == 0


def test_application_errors() -> None:
    manager = make(True)
    with pytest.raises(ValueError, match="not open"):
        manager.send(0, b"x")
    stream = manager.stream_for_frame(3, FrameType.STREAM)
    assert stream is not None
    with pytest.raises(ValueError, match="receive-only"):
        manager.send(3, b"x")
    with pytest.raises(ValueError, match="receive-only"):
        manager.reset(3, 1)
    manager.open_stream(False)
    with pytest.raises(ValueError, match="send-only"):
        manager.read(2)
    with pytest.raises(ValueError, match="send-only"):
        manager.stop_sending(2, 1)
    with pytest.raises(ValueError, match=r"0\.\.0xFFFF"):
        manager.set_priority(2, 0x10000)
    with pytest.raises(ValueError, match="not open"):
        manager.set_priority(99, 1)


# -- scheduling -----------------------------------------------------------------------------------


def serve(manager: StreamManager, count: int, credit: int = BIG) -> list[int]:
    """Pull ``count`` chunks of 10 bytes the way a packet builder would."""
    order = []
    for _ in range(count):
        stream = manager.next_sendable(credit)
        if stream is None:
            break
        assert stream.send is not None
        chunk = stream.send.next_chunk(10, credit)
        assert chunk is not None
        order.append(stream.stream_id)
    return order


def open_with_data(manager: StreamManager, size: int = 100) -> Stream:
    stream = manager.open_stream(False)
    manager.send(stream.stream_id, b"d" * size)
    return stream


def test_round_robin_among_equal_priorities() -> None:
    manager = make(True)
    ids = [open_with_data(manager).stream_id for _ in range(3)]
    assert serve(manager, 9) == ids * 3


def test_strict_priority_between_levels() -> None:
    manager = make(True)
    low = open_with_data(manager, 20)
    high = open_with_data(manager, 30)
    manager.set_priority(high.stream_id, 0x8000)
    manager.set_priority(low.stream_id, 0x0001)
    assert serve(manager, 10) == [high.stream_id] * 3 + [low.stream_id] * 2
    assert manager.next_sendable(BIG) is None
    assert not manager.has_sendable(BIG)


def test_new_stream_of_equal_priority_gets_its_turn() -> None:
    manager = make(True)
    a = open_with_data(manager)
    b = open_with_data(manager)
    assert serve(manager, 3) == [a.stream_id, b.stream_id, a.stream_id]
    c = open_with_data(manager)  # joins the back of the queue
    assert serve(manager, 4) == [b.stream_id, a.stream_id, c.stream_id, b.stream_id]


def test_stream_rejoins_after_writing_again() -> None:
    manager = make(True)
    a = open_with_data(manager, 10)
    assert serve(manager, 5) == [a.stream_id]
    manager.send(a.stream_id, b"more")
    assert serve(manager, 5) == [a.stream_id]


def test_connection_credit_gates_new_data_but_not_retransmissions() -> None:
    manager = make(True)
    a = open_with_data(manager, 10)
    b = open_with_data(manager, 10)
    assert b.send is not None
    assert manager.next_sendable(0) is None
    assert manager.has_sendable(BIG) and not manager.has_sendable(0)
    assert manager.wants_connection_credit()
    assert serve(manager, 2) == [a.stream_id, b.stream_id]
    assert not manager.wants_connection_credit()
    manager.on_stream_data_lost(b.stream_id, 0, 10, False)
    assert manager.next_sendable(0) is b


def test_control_frames_make_a_stream_sendable() -> None:
    manager = make(False)
    stream = manager.stream_for_frame(0, FrameType.STREAM)
    assert stream is not None and stream.recv is not None
    assert manager.next_sendable(BIG) is None
    stream.recv.on_stream_frame(0, b"r" * 1500, False)
    manager.read(0)
    assert manager.next_sendable(0) is stream  # MAX_STREAM_DATA is due
    assert stream.recv.max_stream_data_frame(0, 1000) is not None
    assert manager.next_sendable(0) is None


def test_set_priority_moves_a_queued_stream() -> None:
    manager = make(True)
    a = open_with_data(manager)
    b = open_with_data(manager)
    manager.set_priority(b.stream_id, 0xFFFF)
    assert serve(manager, 2) == [b.stream_id, b.stream_id]
    manager.set_priority(b.stream_id, 0)
    assert serve(manager, 2) == [a.stream_id, a.stream_id]
    manager.set_priority(a.stream_id, 0)
    assert serve(manager, 4) == [b.stream_id, a.stream_id, b.stream_id, a.stream_id]
    assert b.priority == 0


def test_reset_stream_is_scheduled_for_its_frame() -> None:
    manager = make(True)
    a = open_with_data(manager)
    assert a.send is not None
    serve(manager, 10)
    manager.reset(a.stream_id, 4)
    assert manager.next_sendable(0) is a
    assert a.send.reset_frame() is not None
    assert manager.next_sendable(0) is None


def test_peer_reset_read_then_stream_forgotten() -> None:
    manager = make(False)
    stream = manager.stream_for_frame(2, FrameType.RESET_STREAM)
    assert stream is not None and stream.recv is not None
    stream.recv.on_reset(8, 0)
    assert manager.get(2) is stream
    stream.recv.acknowledge_reset()
    assert stream.recv.state is RecvState.RESET_READ
    assert manager.get(2) is None
