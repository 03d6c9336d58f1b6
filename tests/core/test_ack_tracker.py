"""AckTracker: RFC 9000 §13.2 (when and what to acknowledge), §13.4.1 (ECN counts) and
draft-ietf-quic-ack-frequency §6 (thresholds, reordering, IMMEDIATE_ACK)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyquic.core.ack_tracker import ECN_CE, ECN_ECT0, ECN_ECT1, AckTracker
from pyquic.core.frames import AckFrame, EcnCounts
from pyquic.core.levels import PacketSpace

APP = PacketSpace.APPLICATION


def tracker(space: PacketSpace = APP, **kwargs: int) -> AckTracker:
    return AckTracker(space, max_ack_delay_us=25_000, **kwargs)


def due_now(t: AckTracker, now_us: int) -> bool:
    deadline = t.ack_deadline_us()
    return deadline is not None and deadline <= now_us


def send_ack(t: AckTracker, now_us: int) -> AckFrame:
    frame = t.build_ack(now_us)
    assert frame is not None
    t.on_ack_sent(now_us)
    return frame


def test_first_ack_eliciting_packet_waits_max_ack_delay() -> None:
    t = tracker()
    assert t.ack_deadline_us() is None and t.build_ack(0) is None
    assert t.on_packet_received(0, True, 1_000)
    assert t.ack_deadline_us() == 26_000
    assert t.ack_eliciting_received_since_ack == 1 and t.largest_received == 0


def test_second_ack_eliciting_packet_makes_the_ack_due_rfc9000_13_2_2() -> None:
    t = tracker()
    t.on_packet_received(0, True, 1_000)
    t.on_packet_received(1, True, 3_000)
    assert t.ack_deadline_us() == 3_000


@pytest.mark.parametrize("space", [PacketSpace.INITIAL, PacketSpace.HANDSHAKE])
def test_initial_and_handshake_are_acknowledged_immediately(space: PacketSpace) -> None:
    t = tracker(space)
    t.on_packet_received(0, True, 7_000)
    assert t.ack_deadline_us() == 7_000


def test_non_ack_eliciting_packets_alone_never_make_an_ack_due() -> None:
    t = tracker(PacketSpace.INITIAL)
    t.on_packet_received(0, False, 0)
    t.on_packet_received(5, False, 10, ecn=ECN_CE)  # a gap and CE: still nothing due
    assert t.ack_deadline_us() is None
    assert t.ack_pending
    frame = t.build_ack(100)  # but they are acknowledged when an ACK is sent anyway
    assert frame is not None and frame.ranges == ((5, 5), (0, 0))


def test_gap_above_largest_makes_the_ack_immediate() -> None:
    t = tracker(ack_eliciting_threshold=10)
    t.on_packet_received(0, True, 0)
    t.on_packet_received(2, True, 500)  # 1 is missing
    assert t.ack_deadline_us() == 500


def test_packet_below_largest_makes_the_ack_immediate() -> None:
    t = tracker(ack_eliciting_threshold=10)
    t.on_packet_received(0, True, 0)
    t.on_packet_received(2, True, 500)
    send_ack(t, 500)
    t.on_packet_received(1, True, 900)  # fills the gap: out of order
    assert t.ack_deadline_us() == 900


def test_gap_filled_by_non_ack_eliciting_packet_is_not_out_of_order() -> None:
    t = tracker(ack_eliciting_threshold=10)
    t.on_packet_received(0, True, 0)
    t.on_packet_received(1, False, 10)
    t.on_packet_received(2, True, 20)
    assert t.ack_deadline_us() == 25_000  # first arrival + max_ack_delay


def test_build_ack_ranges_descending_and_ack_delay_encoded() -> None:
    t = tracker(ack_delay_exponent=3)
    for pn in (0, 1, 2, 5, 6, 9):
        t.on_packet_received(pn, True, 1_000 if pn == 9 else 0)
    frame = t.build_ack(9_000)
    assert frame is not None
    assert frame.ranges == ((9, 9), (5, 6), (0, 2))
    assert frame.ack_delay == (9_000 - 1_000) >> 3 == 1_000
    assert frame.ecn is None
    assert t.build_ack(500) == AckFrame(ranges=frame.ranges, ack_delay=0)  # never negative


def test_ack_delay_measured_from_the_largest_not_a_late_smaller_packet() -> None:
    t = tracker(ack_delay_exponent=0)
    t.on_packet_received(5, True, 1_000)
    t.on_packet_received(3, True, 4_000)
    frame = t.build_ack(6_000)
    assert frame is not None and frame.ack_delay == 5_000


def test_ecn_counts_per_codepoint_rfc9000_13_4_1() -> None:
    t = tracker()
    t.on_packet_received(0, True, 0, ecn=ECN_ECT0)
    t.on_packet_received(1, False, 0, ecn=ECN_ECT0)
    t.on_packet_received(2, True, 0, ecn=ECN_ECT1)
    t.on_packet_received(3, True, 0, ecn=ECN_CE)
    t.on_packet_received(4, True, 0)
    assert not t.on_packet_received(0, True, 0, ecn=ECN_ECT0)  # duplicate: not counted
    frame = t.build_ack(0)
    assert frame is not None and frame.ecn == EcnCounts(ect0=2, ect1=1, ce=1)
    assert t.ecn_counts == EcnCounts(2, 1, 1)
    with pytest.raises(ValueError):
        t.on_packet_received(9, True, 0, ecn=4)


def test_ce_marked_ack_eliciting_packet_is_acknowledged_immediately() -> None:
    t = tracker(ack_eliciting_threshold=10)
    t.on_packet_received(0, True, 0, ecn=ECN_CE)
    assert t.ack_deadline_us() == 0
    u = tracker(ack_eliciting_threshold=10)
    u.on_packet_received(0, True, 0)
    u.on_packet_received(1, False, 40, ecn=ECN_CE)  # CE hurries the pending ACK
    assert u.ack_deadline_us() == 40


def test_duplicates() -> None:
    t = tracker()
    assert t.on_packet_received(3, True, 0)
    assert t.is_duplicate(3) and not t.is_duplicate(2)
    assert not t.on_packet_received(3, True, 0)
    assert t.ack_eliciting_received_since_ack == 1
    with pytest.raises(ValueError):
        t.on_packet_received(-1, True, 0)


def test_ranges_bounded_with_a_rising_duplicate_floor() -> None:
    t = tracker(max_ranges=3)
    for pn in (0, 2, 4, 6):
        assert t.on_packet_received(pn, False, 0)
    assert t.received_ranges() == [(2, 2), (4, 4), (6, 6)]
    assert t.duplicate_floor == 1
    assert t.is_duplicate(0)  # the dropped range: a duplicate for ever
    assert not t.on_packet_received(0, True, 0)
    frame = t.build_ack(0)
    assert frame is not None and frame.ranges == ((6, 6), (4, 4), (2, 2))
    assert t.on_packet_received(3, False, 0)  # merges: fewer ranges
    assert t.on_packet_received(1, False, 0)  # above the floor, adjacent to the lowest range
    assert t.received_ranges() == [(1, 4), (6, 6)]


def test_packet_that_would_open_a_new_lowest_range_in_a_full_set_is_refused() -> None:
    t = tracker(max_ranges=3)
    for pn in (10, 12, 14):
        t.on_packet_received(pn, False, 0)
    assert not t.on_packet_received(5, True, 0)
    assert t.ack_eliciting_received_since_ack == 0
    assert t.on_packet_received(9, False, 0)  # adjacent to the lowest range: merges
    assert t.received_ranges() == [(9, 10), (12, 12), (14, 14)]


def test_on_ack_sent_restarts_the_delayed_ack_state() -> None:
    t = tracker()
    t.on_packet_received(0, True, 0)
    t.on_packet_received(1, True, 10)
    send_ack(t, 20)
    assert t.ack_deadline_us() is None and t.ack_eliciting_received_since_ack == 0
    assert not t.ack_pending and t.last_ack_sent_us == 20
    t.on_packet_received(2, True, 30)
    assert t.ack_deadline_us() == 25_030


def test_ack_of_ack_prunes_but_keeps_the_largest_rfc9000_13_2_4() -> None:
    t = tracker()
    for pn in [*range(10), 20]:
        t.on_packet_received(pn, True, 0)
    t.on_ack_acknowledged(9)
    frame = t.build_ack(0)
    assert frame is not None and frame.ranges == ((20, 20),)
    t.on_ack_acknowledged(20)
    frame = t.build_ack(0)
    assert frame is not None and frame.ranges == ((20, 20),)
    t.on_packet_received(15, True, 0)  # a late packet below the pruned point is still reported
    frame = t.build_ack(0)
    assert frame is not None and frame.ranges == ((20, 20), (15, 15))
    assert t.is_duplicate(5)  # pruning reporting does not forget what was received


def test_clear_on_discarded_keys() -> None:
    t = tracker(PacketSpace.HANDSHAKE)
    t.on_packet_received(0, True, 0)
    t.clear()
    assert t.ack_deadline_us() is None and t.build_ack(0) is None
    assert t.is_duplicate(0) and t.largest_received == 0


def test_immediate_ack_frame_request() -> None:
    t = tracker()
    t.request_immediate_ack(0)  # nothing ack-eliciting yet: nothing due
    assert t.ack_deadline_us() is None
    t.on_packet_received(0, True, 100)
    t.request_immediate_ack(100)
    assert t.ack_deadline_us() == 100


def test_ack_frequency_threshold_and_delay() -> None:
    t = tracker()
    t.set_ack_frequency(ack_eliciting_threshold=9, max_ack_delay_us=5_000, reordering_threshold=1)
    assert t.ack_eliciting_threshold == 10  # ACK after more than 9
    for pn in range(9):
        t.on_packet_received(pn, True, 100 + pn)
        assert t.ack_deadline_us() == 5_100
    t.on_packet_received(9, True, 300)
    assert t.ack_deadline_us() == 300


def test_ack_frequency_threshold_zero_acknowledges_every_packet() -> None:
    t = tracker()
    t.set_ack_frequency(0, 25_000, 1)
    t.on_packet_received(0, True, 42)
    assert t.ack_deadline_us() == 42


def test_lowering_the_threshold_makes_a_pending_ack_due() -> None:
    t = tracker(ack_eliciting_threshold=5)
    for pn in range(3):
        t.on_packet_received(pn, True, 10 * pn)
    t.set_ack_frequency(1, 25_000, 1)
    assert t.ack_deadline_us() == 0
    with pytest.raises(ValueError):
        t.set_ack_frequency(-1, 0, 0)


def test_reordering_threshold_zero_ignores_gaps() -> None:
    t = tracker()
    t.set_ack_frequency(100, 25_000, 0)
    t.on_packet_received(0, True, 0)
    t.on_packet_received(5, True, 10)
    t.on_packet_received(2, True, 20)
    assert t.ack_deadline_us() == 25_000


def _replay(threshold: int, sequence: list[int]) -> list[int]:
    """Feed ``sequence``; return the packets after which an immediate ACK was due (and sent)."""
    t = tracker()
    t.set_ack_frequency(100, 1_000_000, threshold)
    acked_after: list[int] = []
    for now, pn in enumerate(sequence):
        t.on_packet_received(pn, True, now)
        if due_now(t, now):
            acked_after.append(pn)
            send_ack(t, now)
    return acked_after


def test_reordering_threshold_3_matches_the_draft_example() -> None:
    # draft-ietf-quic-ack-frequency §6.2.1, table "reordering threshold of 3"
    assert _replay(3, [0, 1, 3, 4, 5, 8, 9, 10]) == [5, 9, 10]


def test_reordering_threshold_5_matches_the_draft_example() -> None:
    # draft-ietf-quic-ack-frequency §6.2.1, table "reordering threshold of 5"
    assert _replay(5, [0, 1, 3, 5, 6, 7, 8, 9]) == [7, 9]


def test_reordering_threshold_late_packet_already_declared_lost() -> None:
    # draft §6.2: received number <= Largest Acked - Reordering Threshold
    assert _replay(3, [0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 2]) == [5, 2]


def test_ack_frequency_ce_only_on_transition() -> None:
    t = tracker()
    t.set_ack_frequency(10, 25_000, 1)
    t.on_packet_received(0, True, 0, ecn=ECN_CE)
    assert t.ack_deadline_us() == 0
    send_ack(t, 0)
    t.on_packet_received(1, True, 5, ecn=ECN_CE)  # still CE: no transition
    assert t.ack_deadline_us() == 25_005


def test_constructor_validation() -> None:
    with pytest.raises(ValueError):
        AckTracker(APP, max_ack_delay_us=-1)
    with pytest.raises(ValueError):
        AckTracker(APP, max_ack_delay_us=0, ack_delay_exponent=21)
    with pytest.raises(ValueError):
        AckTracker(APP, max_ack_delay_us=0, max_ranges=0)
    with pytest.raises(ValueError):
        AckTracker(APP, max_ack_delay_us=0, ack_eliciting_threshold=0)


PACKETS = st.lists(st.tuples(st.integers(0, 120), st.booleans()), max_size=80)


@given(PACKETS)
def test_matches_a_set_model_when_unbounded(packets: list[tuple[int, bool]]) -> None:
    t = tracker(max_ranges=1_000)
    model: set[int] = set()
    for now, (pn, eliciting) in enumerate(packets):
        assert t.is_duplicate(pn) == (pn in model)
        assert t.on_packet_received(pn, eliciting, now) == (pn not in model)
        model.add(pn)
    frame = t.build_ack(len(packets))
    if not model:
        assert frame is None
        return
    assert frame is not None
    reported = {pn for low, high in frame.ranges for pn in range(low, high + 1)}
    assert reported == model
    assert [high for _, high in frame.ranges] == sorted((h for _, h in frame.ranges), reverse=True)
    assert frame.ranges[0][1] == max(model) == t.largest_received
    for (low, _), (_, high) in zip(frame.ranges, frame.ranges[1:], strict=False):
        assert high < low - 1  # disjoint and non-adjacent


@given(PACKETS, st.integers(1, 6))
def test_bounded_tracker_invariants(packets: list[tuple[int, bool]], max_ranges: int) -> None:
    t = tracker(max_ranges=max_ranges)
    accepted: set[int] = set()
    eliciting_since_ack = 0
    for now, (pn, eliciting) in enumerate(packets):
        if t.on_packet_received(pn, eliciting, now):
            assert pn not in accepted  # never processed twice
            accepted.add(pn)
            eliciting_since_ack += eliciting
        assert t.is_duplicate(pn)
        assert len(t.received_ranges()) <= max_ranges
        assert t.ack_eliciting_received_since_ack == eliciting_since_ack
        assert (t.ack_deadline_us() is None) == (eliciting_since_ack == 0)
        if now % 7 == 6:
            frame = send_ack(t, now)
            assert len(frame.ranges) <= max_ranges
            reported = {x for low, high in frame.ranges for x in range(low, high + 1)}
            assert reported <= accepted
            assert frame.ranges[0][1] == t.largest_received
            eliciting_since_ack = 0


def test_duplicate_detection_may_keep_more_ranges_than_an_ack_reports() -> None:
    t = tracker(max_ranges=3, max_received_ranges=5)
    for pn in (0, 2, 4, 6, 8):
        assert t.on_packet_received(pn, False, 0)
    assert t.duplicate_floor == 0 and len(t.received_ranges()) == 5
    frame = t.build_ack(0)
    assert frame is not None and frame.ranges == ((8, 8), (6, 6), (4, 4))
    assert t.on_packet_received(1, False, 0)  # late, yet still accepted
    assert tracker(max_ranges=3, max_received_ranges=1).max_received_ranges == 3


def test_a_late_packet_is_reported_even_when_the_ack_ranges_are_full() -> None:
    t = tracker(max_ranges=3, max_received_ranges=10)
    for pn in (10, 12, 14):
        t.on_packet_received(pn, True, 0)
    send_ack(t, 0)
    assert t.on_packet_received(8, True, 1)  # a fourth range, the lowest: the late packet
    frame = send_ack(t, 1)
    # §13.2.3 drops an old range, never the one of the packet just received
    assert frame.ranges == ((14, 14), (12, 12), (8, 8))
    assert t.on_packet_received(16, True, 2)  # a new highest range: the lowest goes
    assert send_ack(t, 2).ranges == ((16, 16), (14, 14), (12, 12))
