"""SendStream: RFC 9000 §3.1 states, flow control (§4.1), FIN, retransmission, reset (§19.4)."""

from __future__ import annotations

import pytest

from pyquic.core.frames import ResetStreamFrame, StreamDataBlockedFrame
from pyquic.core.stream_send import SEND_TRANSITIONS, SendChunk, SendState, SendStream

BIG = 1 << 40


def drain(stream: SendStream, max_length: int = 1000, credit: int = BIG) -> list[SendChunk]:
    chunks = []
    while (chunk := stream.next_chunk(max_length, credit)) is not None:
        chunks.append(chunk)
    return chunks


def test_states_through_a_complete_transfer() -> None:
    stream = SendStream(0, max_stream_data=BIG)
    assert stream.state is SendState.READY
    stream.write(b"a" * 2500, fin=True)
    assert stream.state is SendState.READY  # nothing sent yet
    chunks = drain(stream)
    assert [(c.offset, len(c.data), c.fin, c.new_bytes) for c in chunks] == [
        (0, 1000, False, 1000),
        (1000, 1000, False, 1000),
        (2000, 500, True, 500),
    ]
    assert stream.state is SendState.DATA_SENT
    for chunk in chunks:
        assert not stream.is_terminal
        stream.on_acked(chunk.offset, len(chunk.data), chunk.fin)
    assert stream.state is SendState.DATA_RECVD
    assert stream.is_terminal
    assert stream.buffered_bytes == 0


def test_transition_table_matches_figure_2() -> None:
    assert SEND_TRANSITIONS[SendState.READY] == {SendState.SEND, SendState.RESET_SENT}
    assert SEND_TRANSITIONS[SendState.DATA_SENT] == {SendState.DATA_RECVD, SendState.RESET_SENT}
    assert not SEND_TRANSITIONS[SendState.DATA_RECVD]
    assert not SEND_TRANSITIONS[SendState.RESET_RECVD]


def test_fin_only_chunk_after_all_data_sent() -> None:
    stream = SendStream(4, max_stream_data=BIG)
    stream.write(b"hello")
    assert drain(stream) == [SendChunk(0, b"hello", False, 5)]
    assert stream.state is SendState.SEND
    stream.write(b"", fin=True)
    assert drain(stream) == [SendChunk(5, b"", True, 0)]
    assert stream.state is SendState.DATA_SENT
    stream.on_acked(0, 5, False)
    assert stream.state is SendState.DATA_SENT  # the FIN is not acknowledged yet
    stream.on_acked(5, 0, True)
    assert stream.state is SendState.DATA_RECVD


def test_empty_stream_with_only_a_fin() -> None:
    stream = SendStream(0, max_stream_data=0)
    stream.write(b"", fin=True)
    assert stream.has_pending(0)
    assert drain(stream, credit=0) == [SendChunk(0, b"", True, 0)]
    stream.on_acked(0, 0, True)
    assert stream.is_terminal


def test_write_after_fin_or_reset_is_a_user_error() -> None:
    stream = SendStream(0, max_stream_data=BIG)
    stream.write(b"x", fin=True)
    with pytest.raises(ValueError, match="FIN"):
        stream.write(b"y")
    other = SendStream(4, max_stream_data=BIG)
    other.reset(7)
    with pytest.raises(ValueError, match="reset"):
        other.write(b"y")


def test_new_data_limited_by_max_stream_data_and_blocked_once_per_limit() -> None:
    stream = SendStream(8, max_stream_data=1500)
    stream.write(b"z" * 4000)
    chunks = drain(stream)
    assert sum(len(c.data) for c in chunks) == 1500
    assert stream.has_pending(BIG)  # a STREAM_DATA_BLOCKED is due
    assert stream.blocked_frame() == StreamDataBlockedFrame(8, 1500)  # §19.13
    assert stream.blocked_frame() is None  # once per limit
    assert not stream.has_pending(BIG)
    assert not stream.update_max_stream_data(1000)  # decreases are ignored (§4.1)
    assert stream.max_stream_data == 1500
    assert stream.update_max_stream_data(3000)
    assert sum(len(c.data) for c in drain(stream)) == 1500
    assert stream.blocked_frame() == StreamDataBlockedFrame(8, 3000)


def test_blocked_frame_loss_allows_one_more_while_still_blocked() -> None:
    stream = SendStream(8, max_stream_data=10)
    stream.write(b"z" * 20)
    drain(stream)
    frame = stream.blocked_frame()
    assert frame is not None
    stream.on_blocked_lost(frame.maximum_stream_data)
    assert stream.blocked_frame() == frame
    stream.update_max_stream_data(30)
    stream.on_blocked_lost(frame.maximum_stream_data)  # stale: the limit moved on
    assert stream.blocked_frame() is None


def test_blocked_frame_moves_ready_to_send() -> None:
    stream = SendStream(0, max_stream_data=0)
    stream.write(b"abc")
    assert stream.next_chunk(100, BIG) is None
    assert stream.blocked_frame() == StreamDataBlockedFrame(0, 0)
    assert stream.state is SendState.SEND  # §3.1


def test_connection_credit_limits_new_bytes_only() -> None:
    stream = SendStream(0, max_stream_data=BIG)
    stream.write(b"q" * 3000)
    first = stream.next_chunk(1000, 600)
    assert first == SendChunk(0, b"q" * 600, False, 600)
    assert stream.next_chunk(1000, 0) is None
    assert not stream.has_pending(0)
    assert stream.has_pending(1)
    assert stream.wants_connection_credit
    stream.on_lost(0, 600, False)
    assert stream.has_pending(0)
    again = stream.next_chunk(1000, 0)  # retransmissions need no credit
    assert again == SendChunk(0, b"q" * 600, False, 0)


def test_only_unacked_parts_of_lost_ranges_are_retransmitted() -> None:
    stream = SendStream(0, max_stream_data=BIG)
    data = bytes(range(256)) * 20  # 5120 bytes
    stream.write(data)
    chunks = drain(stream, 1000)
    assert len(chunks) == 6
    stream.on_acked(1000, 1000, False)
    stream.on_acked(3500, 500, False)
    stream.on_lost(0, 5120, False)  # everything reported lost, two parts already acknowledged
    retransmitted = drain(stream, 1000)
    ranges = [(c.offset, c.offset + len(c.data)) for c in retransmitted]
    assert ranges == [(0, 1000), (2000, 3000), (3000, 3500), (4000, 5000), (5000, 5120)]
    assert all(c.new_bytes == 0 for c in retransmitted)
    for chunk in retransmitted:
        assert chunk.data == data[chunk.offset : chunk.offset + len(chunk.data)]


def test_lost_ranges_go_before_new_data() -> None:
    stream = SendStream(0, max_stream_data=BIG)
    stream.write(b"a" * 100)
    stream.next_chunk(50, BIG)
    stream.on_lost(0, 50, False)
    assert stream.next_chunk(80, BIG) == SendChunk(0, b"a" * 50, False, 0)
    assert stream.next_chunk(80, BIG) == SendChunk(50, b"a" * 50, False, 50)


def test_late_ack_cancels_pending_retransmission() -> None:
    stream = SendStream(0, max_stream_data=BIG)
    stream.write(b"b" * 100)
    stream.next_chunk(100, BIG)
    stream.on_lost(0, 100, False)
    stream.on_acked(0, 60, False)  # a spurious loss: the data arrived after all
    assert stream.next_chunk(100, BIG) == SendChunk(60, b"b" * 40, False, 0)
    assert stream.next_chunk(100, BIG) is None


def test_lost_fin_is_resent_with_the_last_range_or_alone() -> None:
    stream = SendStream(0, max_stream_data=BIG)
    stream.write(b"c" * 10, fin=True)
    chunk = stream.next_chunk(100, BIG)
    assert chunk == SendChunk(0, b"c" * 10, True, 10)
    stream.on_lost(0, 10, True)
    assert stream.next_chunk(100, BIG) == SendChunk(0, b"c" * 10, True, 0)
    stream.on_acked(0, 4, False)
    stream.on_lost(0, 10, True)
    assert stream.next_chunk(100, BIG) == SendChunk(4, b"c" * 6, True, 0)
    stream.on_acked(0, 10, False)  # data acknowledged by another copy, FIN not yet
    stream.on_lost(4, 6, True)
    assert stream.next_chunk(100, BIG) == SendChunk(10, b"", True, 0)
    stream.on_acked(10, 0, True)
    assert stream.state is SendState.DATA_RECVD


def test_acked_fin_is_not_resent() -> None:
    stream = SendStream(0, max_stream_data=BIG)
    stream.write(b"d" * 10, fin=True)
    stream.next_chunk(5, BIG)
    stream.next_chunk(5, BIG)
    stream.on_acked(5, 5, True)
    stream.on_lost(0, 5, False)
    stream.on_lost(5, 5, True)  # stale loss report of the acknowledged FIN
    assert stream.next_chunk(100, BIG) == SendChunk(0, b"d" * 5, False, 0)
    assert stream.next_chunk(100, BIG) is None


def test_buffer_released_as_acked_prefix_grows() -> None:
    stream = SendStream(0, max_stream_data=BIG)
    stream.write(b"e" * 3000)
    chunks = drain(stream)
    assert stream.buffered_bytes == 3000
    stream.on_acked(chunks[1].offset, 1000, False)
    assert stream.buffered_bytes == 3000  # a hole at the front keeps everything
    stream.on_acked(chunks[0].offset, 1000, False)
    assert stream.buffered_bytes == 1000
    stream.on_acked(chunks[2].offset, 1000, False)
    assert stream.buffered_bytes == 0


def test_reset_final_size_is_highest_offset_sent_and_data_stops() -> None:
    stream = SendStream(12, max_stream_data=BIG)
    stream.write(b"f" * 5000)
    stream.next_chunk(1000, BIG)
    stream.next_chunk(1000, BIG)
    stream.on_lost(0, 1000, False)
    assert stream.reset(42)
    assert stream.state is SendState.RESET_SENT
    assert stream.final_size == 2000
    assert stream.buffered_bytes == 0
    assert stream.next_chunk(1000, BIG) is None  # §19.4: no (re)transmission after a reset
    assert stream.reset_frame() == ResetStreamFrame(12, 42, 2000)
    assert stream.reset_frame() is None
    assert not stream.has_pending(BIG)
    stream.on_reset_lost()
    assert stream.has_pending(BIG)
    assert stream.reset_frame() == ResetStreamFrame(12, 42, 2000)
    stream.on_lost(1000, 1000, False)
    assert stream.next_chunk(1000, BIG) is None
    assert not stream.reset(43)  # once
    stream.on_reset_acked()
    assert stream.state is SendState.RESET_RECVD
    assert stream.is_terminal
    stream.on_reset_lost()
    assert stream.reset_frame() is None


def test_reset_before_sending_anything_has_final_size_zero() -> None:
    stream = SendStream(0, max_stream_data=BIG)
    stream.write(b"unsent")
    stream.reset(1)
    assert stream.reset_frame() == ResetStreamFrame(0, 1, 0)


def test_stop_sending_resets_with_its_error_code() -> None:
    stream = SendStream(0, max_stream_data=BIG)
    stream.write(b"g" * 10)
    stream.next_chunk(4, BIG)
    assert stream.on_stop_sending(77)  # §3.5
    assert stream.reset_error_code == 77
    assert stream.reset_frame() == ResetStreamFrame(0, 77, 4)
    assert not stream.on_stop_sending(78)


def test_stop_sending_after_data_recvd_is_ignored() -> None:
    stream = SendStream(0, max_stream_data=BIG)
    stream.write(b"h", fin=True)
    chunk = stream.next_chunk(10, BIG)
    assert chunk is not None
    stream.on_acked(chunk.offset, len(chunk.data), chunk.fin)
    assert not stream.on_stop_sending(5)
    assert stream.state is SendState.DATA_RECVD
    assert stream.reset_frame() is None


def test_reset_in_data_sent_is_allowed() -> None:
    stream = SendStream(0, max_stream_data=BIG)
    stream.write(b"i" * 3, fin=True)
    stream.next_chunk(10, BIG)
    assert stream.state is SendState.DATA_SENT
    assert stream.reset(9)
    assert stream.reset_frame() == ResetStreamFrame(0, 9, 3)


def test_listener_is_told_of_new_work_and_terminal_state() -> None:
    calls: list[str] = []
    stream = SendStream(0, max_stream_data=5)
    stream.listener = lambda: calls.append(stream.state.name)
    stream.write(b"j" * 10)
    assert calls == ["READY"]
    drain(stream)
    stream.update_max_stream_data(10)
    assert len(calls) == 2
    stream.write(b"", fin=True)
    chunk = stream.next_chunk(100, BIG)
    assert chunk is not None and chunk.fin
    stream.on_acked(0, 10, True)
    assert calls[-1] == "DATA_RECVD"


def test_offsets_cannot_exceed_2_62() -> None:
    stream = SendStream(0, max_stream_data=BIG)
    stream.write(b"k")
    with pytest.raises(ValueError, match="2\\^62"):
        stream.write(_Huge())  # type: ignore[arg-type]


class _Huge:
    """A buffer-like object claiming 2^62 bytes (never actually materialised)."""

    def __len__(self) -> int:
        return 1 << 62
