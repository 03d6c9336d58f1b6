"""The O(1) in-order steps under the receive fast path: RangeSet.extend_last, the ACK tracker's
in-order append (RFC 9000 §12.3, §13.2) and the reassembly buffer's in-order append (§2.2)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyquic.core.ack_tracker import AckTracker
from pyquic.core.levels import PacketSpace
from pyquic.core.range_set import RangeSet
from pyquic.core.stream_buffer import ReassemblyBuffer


def test_extend_last_only_extends_a_range_ending_at_start() -> None:
    ranges = RangeSet()
    assert not ranges.extend_last(0, 1)  # nothing to extend
    ranges.add(0, 5)
    assert not ranges.extend_last(6, 7)  # a gap
    assert not ranges.extend_last(4, 9)  # an overlap
    assert not ranges.extend_last(5, 5)  # empty
    assert ranges.extend_last(5, 8)
    assert list(ranges) == [(0, 8)]
    ranges.truncate_last(5)
    assert list(ranges) == [(0, 5)]
    with pytest.raises(ValueError):
        ranges.truncate_last(0)  # would empty the range


def _model_ranges(numbers: set[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for n in sorted(numbers):
        if out and out[-1][1] == n - 1:
            out[-1] = (out[-1][0], n)
        else:
            out.append((n, n))
    return out


@given(st.lists(st.integers(0, 3), min_size=1, max_size=200), st.integers(1, 8))
def test_tracker_in_order_and_reordered_numbers(steps: list[int], max_ranges: int) -> None:
    """Mostly in-order numbers with duplicates, gaps and late arrivals: the tracker keeps exactly
    the numbers received (duplicates refused, RFC 9000 §12.3) and reports only those."""
    tracker = AckTracker(
        PacketSpace.APPLICATION,
        max_ack_delay_us=25_000,
        max_ranges=max_ranges,
        max_received_ranges=1024,
    )
    seen: set[int] = set()
    number = 0
    for now, step in enumerate(steps):
        # 0: the next number; 1: a duplicate of the last; 2: skip one; 3: a late one
        if step == 1 and seen:
            candidate = number - 1
        elif step == 3 and number > 3:
            candidate = number - 3
        else:
            candidate = number + (1 if step == 2 else 0)
            number = candidate + 1
        assert tracker.is_duplicate(candidate) == (candidate in seen)
        assert tracker.on_packet_received(candidate, True, now) == (candidate not in seen)
        seen.add(candidate)
        assert tracker.largest_received == max(seen)
        assert tracker.received_ranges() == _model_ranges(seen)
    frame = tracker.build_ack(len(steps))
    assert frame is not None
    # §13.2.3: at most max_ranges ranges, only numbers received, the largest always included
    assert len(frame.ranges) <= max_ranges
    assert frame.ranges[0][1] == max(seen)
    assert all(n in seen for low, high in frame.ranges for n in range(low, high + 1))


def test_reassembly_in_order_appends_then_a_gap() -> None:
    buffer = ReassemblyBuffer()
    buffer.insert(0, b"abc")
    buffer.insert(3, memoryview(b"def"))
    assert buffer.contiguous_end == 6
    buffer.insert(9, b"jkl")  # a gap: the generic insertion
    assert buffer.contiguous_end == 6
    buffer.insert(6, b"ghi")  # fills it
    assert buffer.contiguous_end == 12
    assert buffer.read() == b"abcdefghijkl"
    buffer.insert(12, b"mn")  # in order again, after a read
    buffer.insert(10, b"klm")  # old and overlapping data is tolerated (RFC 9000 §2.2)
    assert buffer.read() == b"mn"
    assert buffer.read_offset == 14
