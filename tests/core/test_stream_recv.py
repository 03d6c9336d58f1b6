"""RecvStream: RFC 9000 §3.2 states, reassembly, final size (§4.5), flow control and auto-tuning."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.core.frames import MaxStreamDataFrame, StopSendingFrame
from pyquic.core.stream_recv import RECV_TRANSITIONS, RecvState, RecvStream, StreamResetError
from pyquic.core.stream_send import SendChunk, SendStream

FLOW = TransportErrorCode.FLOW_CONTROL_ERROR
FINAL = TransportErrorCode.FINAL_SIZE_ERROR


def error_code(excinfo: pytest.ExceptionInfo[QuicError]) -> int:
    return excinfo.value.error_code


def test_in_order_delivery_and_states() -> None:
    stream = RecvStream(1, max_stream_data=1000)
    assert stream.state is RecvState.RECV
    assert not stream.readable
    assert stream.on_stream_frame(0, b"hello ", False) == 6
    assert stream.readable
    assert stream.read() == (b"hello ", False)
    assert stream.on_stream_frame(6, b"world", True) == 5
    assert stream.state is RecvState.DATA_RECVD
    assert stream.read(3) == (b"wor", False)
    assert stream.read() == (b"ld", True)
    assert stream.state is RecvState.DATA_READ
    assert stream.is_terminal
    assert stream.read() == (b"", True)


def test_transition_table_matches_figure_3() -> None:
    assert RECV_TRANSITIONS[RecvState.RECV] == {RecvState.SIZE_KNOWN, RecvState.RESET_RECVD}
    assert RECV_TRANSITIONS[RecvState.DATA_RECVD] == {RecvState.DATA_READ}
    assert not RECV_TRANSITIONS[RecvState.DATA_READ]
    assert not RECV_TRANSITIONS[RecvState.RESET_READ]


def test_out_of_order_with_fin_first() -> None:
    stream = RecvStream(1, max_stream_data=100)
    assert stream.on_stream_frame(10, b"0123456789", True) == 20
    assert stream.state is RecvState.SIZE_KNOWN
    assert not stream.readable
    assert stream.on_stream_frame(5, b"fghij", False) == 0
    assert stream.on_stream_frame(0, b"abcde", False) == 0
    assert stream.state is RecvState.DATA_RECVD
    assert stream.read() == (b"abcdefghij0123456789", True)


def test_duplicates_and_overlaps_are_tolerated() -> None:
    stream = RecvStream(1, max_stream_data=100)
    stream.on_stream_frame(0, b"abcdef", False)
    assert stream.read(4) == (b"abcd", False)
    assert stream.on_stream_frame(2, b"cdefgh", False) == 2  # overlaps delivered and buffered
    assert stream.on_stream_frame(0, b"abcdefgh", False) == 0
    assert stream.read() == (b"efgh", False)
    assert stream.on_stream_frame(0, b"ab", False) == 0  # entirely old


def test_empty_stream_fin_only() -> None:
    stream = RecvStream(3, max_stream_data=0)
    assert stream.on_stream_frame(0, b"", True) == 0
    assert stream.state is RecvState.DATA_RECVD
    assert stream.readable
    assert stream.read() == (b"", True)
    assert stream.state is RecvState.DATA_READ


# -- flow control (§4.1) and final size (§4.5) --------------------------------------------------


def test_flow_control_error_beyond_max_stream_data() -> None:
    stream = RecvStream(1, max_stream_data=100)
    stream.on_stream_frame(90, b"x" * 10, False)  # exactly up to the limit is fine
    with pytest.raises(QuicError) as excinfo:
        stream.on_stream_frame(95, b"x" * 6, False)
    assert error_code(excinfo) == FLOW
    with pytest.raises(QuicError) as excinfo:
        stream.on_stream_frame(101, b"", True)
    assert error_code(excinfo) == FLOW


def test_fin_changing_the_final_size_is_final_size_error() -> None:
    stream = RecvStream(1, max_stream_data=100)
    stream.on_stream_frame(0, b"abc", True)
    with pytest.raises(QuicError) as excinfo:
        stream.on_stream_frame(0, b"ab", True)
    assert error_code(excinfo) == FINAL
    with pytest.raises(QuicError) as excinfo:
        stream.on_stream_frame(3, b"d", True)
    assert error_code(excinfo) == FINAL
    stream.on_stream_frame(0, b"abc", True)  # the same FIN again is fine


def test_data_beyond_a_known_final_size_is_final_size_error() -> None:
    stream = RecvStream(1, max_stream_data=100)
    stream.on_stream_frame(10, b"", True)
    with pytest.raises(QuicError) as excinfo:
        stream.on_stream_frame(8, b"xyz", False)
    assert error_code(excinfo) == FINAL


def test_data_beyond_final_size_after_the_stream_is_read_is_still_an_error() -> None:
    stream = RecvStream(1, max_stream_data=100)
    stream.on_stream_frame(0, b"ab", True)
    stream.read()
    assert stream.state is RecvState.DATA_READ
    with pytest.raises(QuicError) as excinfo:
        stream.on_stream_frame(2, b"c", False)
    assert error_code(excinfo) == FINAL


def test_fin_below_received_data_is_final_size_error() -> None:
    stream = RecvStream(1, max_stream_data=100)
    stream.on_stream_frame(20, b"late", False)
    with pytest.raises(QuicError) as excinfo:
        stream.on_stream_frame(0, b"abc", True)
    assert error_code(excinfo) == FINAL


def test_reset_final_size_rules() -> None:
    stream = RecvStream(1, max_stream_data=100)
    stream.on_stream_frame(0, b"abcdef", False)
    with pytest.raises(QuicError) as excinfo:
        stream.on_reset(1, 5)  # below received data
    assert error_code(excinfo) == FINAL
    with pytest.raises(QuicError) as excinfo:
        stream.on_reset(1, 101)  # beyond the limit
    assert error_code(excinfo) == FLOW

    known = RecvStream(5, max_stream_data=100)
    known.on_stream_frame(0, b"ab", True)
    with pytest.raises(QuicError) as excinfo:
        known.on_reset(1, 3)  # changes the final size
    assert error_code(excinfo) == FINAL

    reset = RecvStream(9, max_stream_data=100)
    reset.on_reset(1, 10)
    with pytest.raises(QuicError) as excinfo:
        reset.on_reset(1, 11)
    assert error_code(excinfo) == FINAL
    with pytest.raises(QuicError) as excinfo:
        reset.on_stream_frame(5, b"abcdef", False)
    assert error_code(excinfo) == FINAL
    assert reset.on_stream_frame(5, b"abc", False) == 0  # ignored, within the final size


def test_reset_returns_growth_and_read_reports_it() -> None:
    stream = RecvStream(1, max_stream_data=100)
    stream.on_stream_frame(0, b"abc", False)
    assert stream.take_consumed() == 0
    assert stream.on_reset(33, 40) == 37
    assert stream.state is RecvState.RESET_RECVD
    assert stream.readable
    assert stream.take_consumed() == 40  # everything counts as consumed (§4.5)
    assert stream.buffered_bytes == 0
    with pytest.raises(StreamResetError) as excinfo:
        stream.read()
    assert excinfo.value.error_code == 33
    assert stream.state is RecvState.RESET_READ
    assert stream.is_terminal
    assert stream.on_reset(33, 40) == 0  # a duplicate


def test_acknowledge_reset_without_read() -> None:
    stream = RecvStream(1, max_stream_data=100)
    stream.on_reset(2, 0)
    stream.acknowledge_reset()
    assert stream.state is RecvState.RESET_READ


def test_reset_after_all_data_received_keeps_the_data() -> None:
    stream = RecvStream(1, max_stream_data=100)
    stream.on_stream_frame(0, b"done", True)
    assert stream.on_reset(5, 4) == 0
    assert stream.state is RecvState.DATA_RECVD
    assert stream.read() == (b"done", True)


def test_take_consumed_counts_reads_once() -> None:
    stream = RecvStream(1, max_stream_data=100)
    stream.on_stream_frame(0, b"abcdef", False)
    stream.read(2)
    assert stream.take_consumed() == 2
    assert stream.take_consumed() == 0
    stream.read()
    assert stream.take_consumed() == 4


# -- STOP_SENDING ---------------------------------------------------------------------------------


def test_stop_sending_frame_discard_and_hooks() -> None:
    stream = RecvStream(1, max_stream_data=100)
    stream.on_stream_frame(0, b"abc", False)
    stream.stop_sending(9)
    assert stream.has_pending()
    assert stream.take_consumed() == 3  # buffered data is discarded, so consumed
    assert stream.buffered_bytes == 0
    assert not stream.readable
    assert stream.stop_sending_frame() == StopSendingFrame(1, 9)
    assert stream.stop_sending_frame() is None
    stream.on_stop_sending_lost()
    assert stream.stop_sending_frame() == StopSendingFrame(1, 9)
    stream.on_stop_sending_acked()
    stream.on_stop_sending_lost()
    assert stream.stop_sending_frame() is None
    assert stream.on_stream_frame(3, b"defg", False) == 4
    assert stream.take_consumed() == 4
    assert stream.max_stream_data_frame(0, 1000) is None  # no more credit for a stopped stream
    stream.on_reset(9, 7)
    assert stream.state is RecvState.RESET_READ  # nobody is going to read it
    assert stream.is_terminal


def test_stop_sending_then_all_data_arrives() -> None:
    stream = RecvStream(1, max_stream_data=100)
    stream.stop_sending(1)
    stream.on_stream_frame(2, b"cd", True)
    assert stream.state is RecvState.SIZE_KNOWN
    stream.on_stream_frame(0, b"ab", False)
    assert stream.state is RecvState.DATA_READ
    assert stream.take_consumed() == 4
    assert stream.stop_sending_frame() is None  # §19.5: only in Recv or Size Known


def test_stop_sending_when_all_data_already_received() -> None:
    stream = RecvStream(1, max_stream_data=100)
    stream.on_stream_frame(0, b"xyz", True)
    stream.stop_sending(1)
    assert stream.state is RecvState.DATA_READ
    assert stream.stop_sending_frame() is None
    assert stream.take_consumed() == 3


def test_stop_sending_after_reset_is_a_no_op() -> None:
    stream = RecvStream(1, max_stream_data=100)
    stream.on_reset(3, 0)
    stream.stop_sending(4)
    assert stream.stop_sending_frame() is None
    assert stream.state is RecvState.RESET_RECVD


# -- MAX_STREAM_DATA and auto-tuning ---------------------------------------------------------

RTT_US = 10_000


def test_max_stream_data_after_half_the_window_is_read() -> None:
    stream = RecvStream(1, max_stream_data=1000)
    stream.on_stream_frame(0, b"a" * 499, False)
    stream.read()
    assert not stream.has_pending()
    assert stream.max_stream_data_frame(0, RTT_US) is None
    stream.on_stream_frame(499, b"a", False)
    stream.read()
    assert stream.has_pending()
    assert stream.max_stream_data_frame(0, RTT_US) == MaxStreamDataFrame(1, 1500)
    assert stream.max_stream_data == 1500
    assert stream.max_stream_data_frame(1, RTT_US) is None


def test_receiving_without_reading_grants_nothing() -> None:
    stream = RecvStream(1, max_stream_data=1000)
    stream.on_stream_frame(0, b"a" * 1000, False)
    assert stream.max_stream_data_frame(0, RTT_US) is None


def read_window_half(stream: RecvStream, now_us: int) -> MaxStreamDataFrame | None:
    """Deliver and read data up to the current limit, then ask for credit."""
    offset = stream.read_offset
    stream.on_stream_frame(offset, b"d" * (stream.max_stream_data - offset), False)
    stream.read()
    return stream.max_stream_data_frame(now_us, RTT_US)


def test_auto_tuning_doubles_when_consumed_within_two_rtts() -> None:
    stream = RecvStream(1, max_stream_data=1000, max_window=4000)
    assert read_window_half(stream, 0) == MaxStreamDataFrame(1, 2000)
    assert stream.window == 1000  # the first update has nothing to compare with
    assert read_window_half(stream, 2 * RTT_US) == MaxStreamDataFrame(1, 4000)
    assert stream.window == 2000
    assert read_window_half(stream, 3 * RTT_US) == MaxStreamDataFrame(1, 8000)
    assert stream.window == 4000
    assert read_window_half(stream, 4 * RTT_US) == MaxStreamDataFrame(1, 12000)
    assert stream.window == 4000  # capped at max_window


def test_auto_tuning_keeps_the_window_when_consumed_slowly() -> None:
    stream = RecvStream(1, max_stream_data=1000, max_window=4000)
    assert read_window_half(stream, 0) == MaxStreamDataFrame(1, 2000)
    assert read_window_half(stream, 2 * RTT_US + 1) == MaxStreamDataFrame(1, 3000)
    assert read_window_half(stream, 10 * RTT_US) == MaxStreamDataFrame(1, 4000)
    assert stream.window == 1000


def test_max_stream_data_loss_resends_the_current_limit_only() -> None:
    stream = RecvStream(1, max_stream_data=100, max_window=100)
    frame = read_window_half(stream, 0)
    assert frame == MaxStreamDataFrame(1, 200)
    stream.on_max_stream_data_lost(frame.maximum_stream_data)
    assert stream.has_pending()
    assert stream.max_stream_data_frame(5, RTT_US) == frame
    newer = read_window_half(stream, 10 * RTT_US)
    assert newer == MaxStreamDataFrame(1, 300)
    stream.on_max_stream_data_lost(frame.maximum_stream_data)  # superseded
    assert stream.max_stream_data_frame(20 * RTT_US, RTT_US) is None


def test_no_max_stream_data_once_the_final_size_is_known() -> None:
    stream = RecvStream(1, max_stream_data=100)
    stream.on_stream_frame(0, b"a" * 80, True)
    stream.read()
    assert stream.max_stream_data_frame(0, RTT_US) is None  # §3.2: Size Known needs no credit
    stream.on_max_stream_data_lost()
    assert stream.max_stream_data_frame(0, RTT_US) is None


def test_memory_is_bounded_by_the_window() -> None:
    stream = RecvStream(1, max_stream_data=10_000)
    for offset in range(1, 10_000, 7):
        stream.on_stream_frame(offset, b"z", False)
    assert stream.buffered_bytes <= 10_000


def test_fragmentation_beyond_max_ranges_is_refused() -> None:
    stream = RecvStream(1, max_stream_data=10_000, max_ranges=8)
    for index in range(8):
        stream.on_stream_frame(10 + index * 3, b"z", False)
    with pytest.raises(QuicError) as excinfo:
        stream.on_stream_frame(100, b"z", False)
    assert error_code(excinfo) == TransportErrorCode.INTERNAL_ERROR


def test_listener_sees_terminal_and_credit_changes() -> None:
    calls: list[RecvState] = []
    stream = RecvStream(1, max_stream_data=10)
    stream.listener = lambda: calls.append(stream.state)
    stream.on_stream_frame(0, b"a" * 6, False)
    assert calls == []
    stream.read()
    assert calls == [RecvState.RECV]  # bytes consumed, MAX_STREAM_DATA due
    stream.on_stream_frame(6, b"b", True)
    stream.read()
    assert calls[-1] is RecvState.DATA_READ


# -- properties -----------------------------------------------------------------------------------


@st.composite
def fragmented(draw: st.DrawFn) -> tuple[bytes, list[tuple[int, int, bool]]]:
    """Data and frames (start, end, fin) covering it, with overlaps, duplicates, any order."""
    data = draw(st.binary(min_size=0, max_size=300))
    size = len(data)
    cuts = sorted(draw(st.lists(st.integers(0, size), max_size=12)))
    bounds = [0, *cuts, size]
    frames = [(bounds[i], bounds[i + 1], bounds[i + 1] == size) for i in range(len(bounds) - 1)]
    extra = draw(
        st.lists(
            st.tuples(st.integers(0, size), st.integers(0, size)).map(lambda t: tuple(sorted(t))),
            max_size=8,
        )
    )
    frames += [(start, end, end == size and draw(st.booleans())) for start, end in extra]
    frames = draw(st.permutations(frames))
    return data, frames


@given(fragmented(), st.integers(1, 64))
@settings(max_examples=300, deadline=None)
def test_any_order_overlap_duplication_reassembles(
    case: tuple[bytes, list[tuple[int, int, bool]]], read_size: int
) -> None:
    data, frames = case
    stream = RecvStream(1, max_stream_data=len(data))
    received = bytearray()
    highest = 0
    for start, end, fin in frames:
        highest += stream.on_stream_frame(start, data[start:end], fin)
        while stream.readable:
            chunk, _ = stream.read(read_size)
            received += chunk
            if not chunk:
                break
    chunk, fin = stream.read()
    received += chunk
    assert bytes(received) == data
    assert highest == len(data)
    assert fin
    assert stream.state is RecvState.DATA_READ


# -- a long transfer with loss ------------------------------------------------------------------


def test_ten_megabytes_with_loss_and_reordering_is_byte_identical_and_linear() -> None:
    rng = random.Random(1234)
    total = 10 * 1024 * 1024
    payload = rng.randbytes(total)
    window = 256 * 1024
    sender = SendStream(0, max_stream_data=window)
    receiver = RecvStream(0, max_stream_data=window, max_window=4 * window)
    sender.write(payload, fin=True)
    received: list[bytes] = []
    chunks_sent = 0
    now_us = 0
    done = False
    while not done:
        now_us += 1000
        flight: list[SendChunk] = []
        while len(flight) < 64 and (chunk := sender.next_chunk(1200, 1 << 62)) is not None:
            flight.append(chunk)
        chunks_sent += len(flight)
        rng.shuffle(flight)
        for chunk in flight:
            if rng.random() < 0.05:
                sender.on_lost(chunk.offset, len(chunk.data), chunk.fin)
                continue
            receiver.on_stream_frame(chunk.offset, chunk.data, chunk.fin)
            sender.on_acked(chunk.offset, len(chunk.data), chunk.fin)
        data, done = receiver.read()
        received.append(data)
        credit = receiver.max_stream_data_frame(now_us, 20_000)
        if credit is not None:
            sender.update_max_stream_data(credit.maximum_stream_data)
        assert sender.buffered_bytes <= total
        assert receiver.buffered_bytes <= 4 * window
    assert b"".join(received) == payload
    assert sender.is_terminal and receiver.is_terminal
    minimum = total // 1200 + 1
    assert minimum <= chunks_sent <= minimum * 1.2  # each byte sent about once, plus losses
