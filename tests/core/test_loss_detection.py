"""LossDetection against RFC 9002 §6, §7.6 and Appendix A, with exact timer values."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.core.frames import AckFrame, EcnCounts
from pyquic.core.levels import PacketSpace
from pyquic.core.loss_detection import (
    MAX_NON_IN_FLIGHT_RECORDS,
    PACKET_THRESHOLD_OFF,
    LossDetection,
)
from pyquic.core.new_reno import NewReno
from pyquic.core.rtt import RttEstimator
from pyquic.core.sent_packet import SentPacket

INITIAL, HANDSHAKE, APP = PacketSpace.INITIAL, PacketSpace.HANDSHAKE, PacketSpace.APPLICATION
MAX_ACK_DELAY = 25_000

# a server after handshake confirmation / before it
CONFIRMED: dict[str, bool] = {
    "handshake_confirmed": True,
    "peer_address_validated": True,
    "amplification_blocked": False,
    "has_handshake_keys": True,
}
HANDSHAKING = {**CONFIRMED, "handshake_confirmed": False}
CLIENT_HANDSHAKING = {**HANDSHAKING, "peer_address_validated": False}


def make() -> LossDetection:
    return LossDetection(RttEstimator(), NewReno(), max_ack_delay_us=MAX_ACK_DELAY)


def sent(
    ld: LossDetection,
    pn: int,
    time_us: int,
    space: PacketSpace = APP,
    *,
    size: int = 1200,
    eliciting: bool = True,
) -> SentPacket:
    p = SentPacket(pn, space, time_us, size, eliciting, eliciting)
    ld.on_packet_sent(p)
    return p


def ack(*ranges: tuple[int, int], ecn: EcnCounts | None = None) -> AckFrame:
    return AckFrame(ranges=tuple(ranges), ack_delay=0, ecn=ecn)


def on_ack(
    ld: LossDetection,
    space: PacketSpace,
    frame: AckFrame,
    now_us: int,
    delay_us: int = 0,
    flags: dict[str, bool] = CONFIRMED,
) -> Any:
    return ld.on_ack_received(
        space,
        frame,
        delay_us,
        now_us,
        handshake_confirmed=flags["handshake_confirmed"],
        peer_address_validated=flags["peer_address_validated"],
    )


# -- PTO ---------------------------------------------------------------------------------------


def test_initial_pto_fires_at_999ms_and_backs_off() -> None:
    ld = make()
    sent(ld, 0, 0, INITIAL)
    # smoothed_rtt + max(4 * rttvar, 1 ms) = 333000 + 4 * 166500
    assert ld.loss_timer_us(**HANDSHAKING) == 999_000
    nothing = ld.on_loss_timer(998_999, **HANDSHAKING)
    assert nothing.probe_space is None and nothing.probe_count == 0 and ld.pto_count == 0
    fired = ld.on_loss_timer(999_000, **HANDSHAKING)
    assert (fired.probe_space, fired.probe_count, fired.lost) == (INITIAL, 2, [])
    assert ld.pto_count == 1 and ld.cc.exemptions == 2
    assert ld.loss_timer_us(**HANDSHAKING) == 2 * 999_000
    ld.on_loss_timer(1_998_000, **HANDSHAKING)
    assert ld.loss_timer_us(**HANDSHAKING) == 4 * 999_000


def test_application_pto_includes_max_ack_delay_after_confirmation() -> None:
    ld = make()
    sent(ld, 0, 0)
    assert ld.loss_timer_us(**CONFIRMED) == 999_000 + 25_000
    fired = ld.on_loss_timer(1_024_000, **CONFIRMED)
    assert fired.probe_space == APP and fired.probe_count == 2
    assert ld.loss_timer_us(**CONFIRMED) == 2 * (999_000 + 25_000)


def test_application_pto_not_armed_before_confirmation() -> None:
    ld = make()
    sent(ld, 0, 0)
    assert ld.loss_timer_us(**HANDSHAKING) is None
    assert ld.on_loss_timer(10**9, **HANDSHAKING).probe_space is None
    sent(ld, 0, 50_000, HANDSHAKE)
    assert ld.loss_timer_us(**HANDSHAKING) == 50_000 + 999_000


def test_pto_uses_the_earliest_space_and_last_ack_eliciting_send() -> None:
    ld = make()
    sent(ld, 0, 0, INITIAL)
    sent(ld, 1, 30_000, INITIAL)
    sent(ld, 0, 10_000, HANDSHAKE)
    sent(ld, 1, 20_000, HANDSHAKE, eliciting=False)  # not ack-eliciting: does not restart
    assert ld.loss_timer_us(**HANDSHAKING) == 10_000 + 999_000
    fired = ld.on_loss_timer(1_009_000, **HANDSHAKING)
    assert fired.probe_space == HANDSHAKE


def test_pto_after_an_rtt_sample() -> None:
    ld = make()
    sent(ld, 0, 0)
    on_ack(ld, APP, ack((0, 0)), 100_000)  # smoothed 100000, rttvar 50000
    sent(ld, 1, 200_000)
    assert ld.loss_timer_us(**CONFIRMED) == 200_000 + 100_000 + 200_000 + 25_000


def test_anti_deadlock_timer_for_a_client_without_validation() -> None:
    ld = make()
    sent(ld, 0, 0, INITIAL)
    on_ack(ld, INITIAL, ack((0, 0)), 50_000, flags=CLIENT_HANDSHAKING)
    assert ld.ack_eliciting_in_flight == 0 and ld.bytes_in_flight == 0
    # from the ACK: smoothed 50000 + 4 * 25000
    no_keys = {**CLIENT_HANDSHAKING, "has_handshake_keys": False}
    assert ld.loss_timer_us(**no_keys) == 50_000 + 150_000
    fired = ld.on_loss_timer(200_000, **no_keys)
    assert (fired.probe_space, fired.probe_count) == (INITIAL, 1)
    assert ld.loss_timer_us(**no_keys) == 200_000 + 2 * 150_000
    fired = ld.on_loss_timer(500_000, **CLIENT_HANDSHAKING)  # with Handshake keys
    assert (fired.probe_space, fired.probe_count) == (HANDSHAKE, 1)
    assert ld.loss_timer_us(**CONFIRMED) is None  # validated: nothing to wait for


def test_no_timer_for_an_amplification_blocked_server() -> None:
    ld = make()
    sent(ld, 0, 0, INITIAL)
    blocked = {**HANDSHAKING, "amplification_blocked": True}
    assert ld.loss_timer_us(**blocked) is None
    assert ld.on_loss_timer(2_000_000, **blocked).probe_space is None
    assert ld.loss_timer_us(**HANDSHAKING) == 999_000


def test_pto_count_reset_rules() -> None:
    ld = make()
    sent(ld, 0, 0, INITIAL)
    sent(ld, 1, 0, INITIAL)
    ld.on_loss_timer(999_000, **CLIENT_HANDSHAKING)
    assert ld.pto_count == 1
    on_ack(ld, INITIAL, ack((0, 0)), 1_000_000, flags=CLIENT_HANDSHAKING)
    assert ld.pto_count == 1  # a client unsure of address validation keeps the backoff
    sent(ld, 0, 1_000_000, HANDSHAKE)
    on_ack(ld, HANDSHAKE, ack((0, 0)), 1_100_000, flags=CLIENT_HANDSHAKING)
    assert ld.pto_count == 0  # a Handshake ACK proves validation
    ld.on_loss_timer(10**8, **CONFIRMED)
    assert ld.pto_count == 1
    sent(ld, 0, 10**8)
    on_ack(ld, APP, ack((0, 0)), 10**8 + 10)
    assert ld.pto_count == 0


# -- loss --------------------------------------------------------------------------------------


def test_time_threshold_loss_timer_is_exact() -> None:
    ld = make()
    p0 = sent(ld, 0, 0)
    sent(ld, 1, 10_000)
    outcome = on_ack(ld, APP, ack((1, 1)), 100_000)
    assert outcome.rtt_sampled and ld.rtt.latest_rtt_us == 90_000 and outcome.lost == []
    # loss_delay = 9/8 * max(latest 90000, smoothed 90000) = 101250
    assert ld.loss_time_us(APP) == 101_250
    assert ld.loss_timer_us(**CONFIRMED) == 101_250
    assert ld.on_loss_timer(101_249, **CONFIRMED).lost == []
    fired = ld.on_loss_timer(101_250, **CONFIRMED)
    assert fired.lost == [p0] and fired.probe_space is None
    assert ld.loss_time_us(APP) is None and ld.pto_count == 0
    assert ld.cc.congestion_window == 13_200 // 2  # one congestion event
    assert ld.loss_timer_us(**CONFIRMED) is None  # nothing left in flight


def test_time_threshold_uses_granularity_floor() -> None:
    ld = make()
    sent(ld, 0, 0)
    sent(ld, 1, 100)
    on_ack(ld, APP, ack((1, 1)), 500)  # RTT 400: 9/8 * 400 = 450 < 1 ms
    assert ld.loss_time_us(APP) == 0 + 1_000


def test_packet_threshold_loss() -> None:
    ld = make()
    packets = [sent(ld, pn, pn) for pn in range(5)]
    outcome = on_ack(ld, APP, ack((3, 3)), 1_000)
    assert outcome.lost == [packets[0]]  # 3 >= 0 + kPacketThreshold
    assert [p.packet_number for p in outcome.newly_acked] == [3]
    # rtt 997: loss_delay = max(9 * 997 // 8, 1000) = 1121; packet 1 sent at 1
    assert ld.loss_time_us(APP) == 1 + 1_121
    outcome = on_ack(ld, APP, ack((4, 4)), 1_010)
    assert outcome.lost == [packets[1]]
    assert [p.packet_number for p in ld.unacked_packets(APP)] == [2]


def test_unsent_packet_acknowledged_is_a_protocol_violation() -> None:
    ld = make()
    with pytest.raises(QuicError) as empty:
        on_ack(ld, APP, ack((0, 0)), 10)
    assert empty.value.error_code == TransportErrorCode.PROTOCOL_VIOLATION
    sent(ld, 0, 0)
    with pytest.raises(QuicError) as beyond:
        on_ack(ld, APP, ack((1, 1)), 10)
    assert beyond.value.error_code == TransportErrorCode.PROTOCOL_VIOLATION
    assert beyond.value.frame_type == 0x02


def test_duplicate_ack_changes_nothing() -> None:
    ld = make()
    sent(ld, 0, 0)
    first = on_ack(ld, APP, ack((0, 0)), 1_000)
    again = on_ack(ld, APP, ack((0, 0)), 2_000)
    assert first.newly_acked and not again.newly_acked and again.largest_newly_acked is None
    assert ld.rtt.latest_rtt_us == 1_000


def test_rtt_sample_needs_largest_newly_acked_and_an_ack_eliciting_packet() -> None:
    ld = make()
    sent(ld, 0, 0)
    sent(ld, 1, 100, eliciting=False)  # e.g. an ACK-only packet
    sent(ld, 2, 200)
    only_ack_only = on_ack(ld, APP, ack((1, 1)), 1_000)
    assert only_ack_only.newly_acked and not only_ack_only.rtt_sampled
    not_largest = on_ack(ld, APP, ack((2, 2), (0, 1)), 2_000)
    assert not_largest.rtt_sampled and ld.rtt.latest_rtt_us == 1_800
    sent(ld, 3, 3_000)
    sent(ld, 4, 3_100)
    partial = on_ack(ld, APP, ack((4, 4)), 4_000)
    assert partial.rtt_sampled and partial.largest_newly_acked.packet_number == 4
    late_smaller = on_ack(ld, APP, ack((3, 4)), 9_000)
    assert late_smaller.newly_acked and not late_smaller.rtt_sampled  # largest not newly acked


def test_rtt_sample_with_ack_delay_and_initial_space_ignores_it() -> None:
    ld = make()
    sent(ld, 0, 0, INITIAL)
    sent(ld, 0, 0)
    on_ack(ld, INITIAL, ack((0, 0)), 100_000, delay_us=0, flags=HANDSHAKING)
    sent(ld, 1, 100_000, INITIAL)
    on_ack(ld, INITIAL, ack((1, 1)), 250_000, delay_us=40_000, flags=HANDSHAKING)
    assert ld.rtt.smoothed_rtt_us == (7 * 100_000 + 150_000) // 8  # delay ignored in Initial
    sent(ld, 1, 250_000)
    on_ack(ld, APP, ack((0, 1)), 400_000, delay_us=40_000, flags=CONFIRMED)
    # capped to max_ack_delay 25000: 150000 - 25000
    assert ld.rtt.latest_rtt_us == 150_000
    assert ld.rtt.smoothed_rtt_us == (7 * 106_250 + 125_000) // 8


def test_ecn_ce_increase_is_a_congestion_event() -> None:
    ld = make()
    sent(ld, 0, 0)
    sent(ld, 1, 10)
    first = on_ack(ld, APP, ack((0, 0), ecn=EcnCounts(1, 0, 1)), 1_000)
    assert first.ecn_ce_increased and ld.cc.congestion_window == 6_000
    second = on_ack(ld, APP, ack((0, 1), ecn=EcnCounts(2, 0, 1)), 2_000)
    assert not second.ecn_ce_increased


# -- persistent congestion (RFC 9002 §7.6) -----------------------------------------------------


def _persistent_scenario(extra_acked: tuple[tuple[int, int], ...] = ()) -> Any:
    ld = make()
    sent(ld, 0, 0)
    on_ack(ld, APP, ack((0, 0)), 10_000)  # first RTT sample at 10 ms: smoothed 10000, var 5000
    for pn, t in ((1, 20_000), (2, 50_000), (3, 100_000), (4, 150_000), (5, 200_000)):
        sent(ld, pn, t)
    sent(ld, 6, 250_000)
    outcome = on_ack(ld, APP, ack((6, 6), *extra_acked), 260_000)
    # sample 10000 again: smoothed 10000, rttvar 3750;
    # duration = (10000 + max(15000, 1000) + 25000) * 3 = 150000 < 200000 - 20000
    return ld, outcome


def test_persistent_congestion_established() -> None:
    ld, outcome = _persistent_scenario()
    assert [p.packet_number for p in outcome.lost] == [1, 2, 3, 4, 5]
    assert outcome.persistent_congestion
    # collapsed to the minimum window (2400), then packet 6's acknowledgment grows it in slow
    # start (OnPacketsLost runs before OnPacketsAcked, RFC 9002 §A.7)
    assert ld.cc.minimum_window == 2_400 and ld.cc.congestion_window == 2_400 + 1_200
    assert ld.cc.state_name == "slow_start"


def test_acknowledged_packet_between_prevents_persistent_congestion() -> None:
    ld, outcome = _persistent_scenario(extra_acked=((3, 3),))
    assert [p.packet_number for p in outcome.lost] == [1, 2, 4, 5]
    assert not outcome.persistent_congestion
    assert ld.cc.congestion_window == 13_200 // 2  # one ordinary loss event


def test_no_persistent_congestion_without_a_prior_rtt_sample() -> None:
    ld = make()
    for pn, t in ((0, 0), (1, 500_000), (2, 1_000_000), (3, 3_000_000), (4, 3_000_001)):
        sent(ld, pn, t)
    outcome = on_ack(ld, APP, ack((4, 4)), 3_010_000)
    assert [p.packet_number for p in outcome.lost] == [0, 1, 2]
    assert not outcome.persistent_congestion


def test_persistent_congestion_duration_is_exclusive() -> None:
    ld = make()
    sent(ld, 0, 0)
    on_ack(ld, APP, ack((0, 0)), 10_000)
    sent(ld, 1, 20_000)
    sent(ld, 2, 100_000)
    sent(ld, 3, 20_000 + 150_001)
    sent(ld, 4, 249_000)  # within both thresholds: not lost
    sent(ld, 5, 249_000)
    sent(ld, 6, 250_000)
    outcome = on_ack(ld, APP, ack((6, 6)), 260_000)
    assert [p.packet_number for p in outcome.lost] == [1, 2, 3]
    assert outcome.persistent_congestion  # 1 -> 3 spans 150001 > 150000
    ld2 = make()
    sent(ld2, 0, 0)
    on_ack(ld2, APP, ack((0, 0)), 10_000)
    sent(ld2, 1, 20_000)
    sent(ld2, 2, 20_000 + 150_000)  # exactly the duration apart
    sent(ld2, 3, 249_000, eliciting=False)  # lost, but not ack-eliciting: does not count
    sent(ld2, 4, 249_000)
    sent(ld2, 5, 249_000)
    sent(ld2, 6, 250_000)
    outcome2 = on_ack(ld2, APP, ack((6, 6)), 260_000)
    assert [p.packet_number for p in outcome2.lost] == [1, 2, 3]
    assert not outcome2.persistent_congestion  # 1 -> 2 spans exactly 150000


def test_persistent_congestion_on_the_time_threshold_timer() -> None:
    ld = make()
    sent(ld, 0, 0)
    on_ack(ld, APP, ack((0, 0)), 10_000)
    sent(ld, 1, 20_000)
    sent(ld, 2, 249_000)
    sent(ld, 3, 250_000)
    outcome = on_ack(ld, APP, ack((3, 3)), 260_000)  # 1 lost (time), 2 waits for the timer
    assert [p.packet_number for p in outcome.lost] == [1]
    assert ld.loss_timer_us(**CONFIRMED) == 249_000 + 9 * 10_000 // 8
    fired = ld.on_loss_timer(260_250, **CONFIRMED)
    assert [p.packet_number for p in fired.lost] == [2]
    assert not fired.persistent_congestion  # only one lost packet in that batch


# -- discarding and bounded memory -------------------------------------------------------------


def test_discard_space() -> None:
    ld = make()
    sent(ld, 0, 0, INITIAL)
    sent(ld, 1, 0, INITIAL)
    sent(ld, 0, 0, HANDSHAKE)
    ld.on_loss_timer(999_000, **HANDSHAKING)
    assert ld.pto_count == 1 and ld.bytes_in_flight == 3_600
    dropped = ld.discard_space(INITIAL)
    assert [p.packet_number for p in dropped] == [0, 1]
    assert ld.bytes_in_flight == 1_200 and ld.pto_count == 0
    assert ld.unacked_packets(INITIAL) == [] and ld.ack_eliciting_in_flight_in(INITIAL) == 0
    assert ld.cc.congestion_window == 12_000  # no congestion signal
    assert ld.loss_timer_us(**HANDSHAKING) == 999_000  # the Handshake packet's PTO


def test_ack_only_packets_are_capped() -> None:
    ld = make()
    for pn in range(MAX_NON_IN_FLIGHT_RECORDS + 36):
        sent(ld, pn, pn, eliciting=False)
    remaining = ld.unacked_packets(APP)
    assert len(remaining) == MAX_NON_IN_FLIGHT_RECORDS
    assert remaining[0].packet_number == 36


def test_wide_ranges_over_sparse_packets() -> None:
    ld = make()
    sent(ld, 0, 0)
    sent(ld, 10**9, 1)
    sent(ld, 2 * 10**9, 2)
    outcome = on_ack(ld, APP, ack((10**9, 2 * 10**9), (0, 10**9 - 2)), 100)
    assert [p.packet_number for p in outcome.newly_acked] == [0, 10**9, 2 * 10**9]
    assert ld.bytes_in_flight == 0


def test_packet_numbers_must_increase() -> None:
    ld = make()
    sent(ld, 5, 0)
    with pytest.raises(ValueError):
        sent(ld, 5, 1)
    sent(ld, 0, 1, INITIAL)  # spaces are independent


# -- invariants --------------------------------------------------------------------------------

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("send"), st.sampled_from(list(PacketSpace)), st.booleans()),
        st.tuples(st.just("ack"), st.sampled_from(list(PacketSpace)), st.integers(0, 30)),
        st.tuples(st.just("timer"), st.sampled_from(list(PacketSpace)), st.integers(0, 3)),
        st.tuples(st.just("discard"), st.sampled_from([INITIAL, HANDSHAKE]), st.integers(0, 0)),
    ),
    max_size=60,
)


@settings(max_examples=200)
@given(OPS, st.randoms(use_true_random=False))
def test_bytes_in_flight_matches_outstanding_packets(ops: list[Any], rng: Any) -> None:
    ld = make()
    now = 0
    next_pn = {space: 0 for space in PacketSpace}
    seen: set[int] = set()
    kept: list[SentPacket] = []  # keep every packet alive so that ids stay unique
    for op, space, arg in ops:
        now += rng.randint(0, 200_000)
        if op == "send":
            kept.append(
                sent(ld, next_pn[space], now, space, size=rng.randint(30, 1500), eliciting=arg)
            )
            next_pn[space] += 1
        elif op == "ack" and next_pn[space]:
            high = rng.randint(0, next_pn[space] - 1)
            low = max(0, high - arg)
            outcome = on_ack(ld, space, ack((low, high)), now)
            for p in outcome.newly_acked + outcome.lost:
                assert id(p) not in seen
                seen.add(id(p))
            assert all(low <= p.packet_number <= high for p in outcome.newly_acked)
        elif op == "timer":
            flags = {**CONFIRMED, "handshake_confirmed": arg % 2 == 0}
            deadline = ld.loss_timer_us(**flags)
            if deadline is not None:
                fired = ld.on_loss_timer(max(deadline, now), **flags)
                for p in fired.lost:
                    assert id(p) not in seen
                    seen.add(id(p))
        elif op == "discard":
            ld.discard_space(space)
        outstanding = [p for s in PacketSpace for p in ld.unacked_packets(s)]
        assert ld.bytes_in_flight == sum(p.size_bytes for p in outstanding if p.in_flight)
        assert ld.ack_eliciting_in_flight == sum(p.ack_eliciting for p in outstanding)
        assert not any(id(p) in seen for p in outstanding)
        for s in PacketSpace:
            numbers = [p.packet_number for p in ld.unacked_packets(s)]
            assert numbers == sorted(numbers)


# -- spurious losses and reordering (RFC 9002 §6.1, RFC 8985 §6.2, RFC 9438 §4.9) --------------


def test_late_acknowledgment_of_a_lost_packet_is_spurious_and_adapts_the_thresholds() -> None:
    ld = make()
    packets = [sent(ld, pn, pn * 100) for pn in range(6)]
    outcome = on_ack(ld, APP, ack((1, 5)), 20_000)  # RTT 19.5 ms; packet 0 is 5 behind
    assert outcome.lost == [packets[0]] and outcome.spurious == 0
    window = ld.cc.congestion_window  # reduced by the loss
    outcome = on_ack(ld, APP, ack((0, 5)), 30_000)  # packet 0 was only late
    assert outcome.spurious == 1 and ld.spurious_losses == 1
    assert outcome.newly_acked == [] and outcome.lost == []
    assert ld.packet_threshold == PACKET_THRESHOLD_OFF  # as RACK once it saw reordering
    # 30 ms to be acknowledged against a 19.5 ms RTT: 13/8 covers it, plus 1/8 of margin
    assert ld.time_threshold_eighths == 14
    assert ld.loss_delay_us() == 14 * 19_500 // 8
    assert ld.cc.congestion_window > window  # the reduction was undone


def test_packet_threshold_off_leaves_losses_to_the_time_threshold() -> None:
    ld = make()
    ld.packet_threshold = PACKET_THRESHOLD_OFF
    packets = [sent(ld, pn, pn * 100) for pn in range(6)]
    outcome = on_ack(ld, APP, ack((1, 5)), 20_000)
    assert outcome.lost == []  # 5 ahead no longer counts
    assert ld.loss_time_us(APP) == ld.loss_delay_us()  # packet 0 was sent at 0
    timer = ld.on_loss_timer(ld.loss_delay_us(), **CONFIRMED)
    assert timer.lost == [packets[0]]


def test_lost_records_are_forgotten_after_two_ptos() -> None:
    ld = make()
    for pn in range(5):
        sent(ld, pn, pn * 100)
    on_ack(ld, APP, ack((1, 4)), 20_000)  # packet 0 lost
    pto = ld.rtt.pto_duration_us(include_max_ack_delay=True, max_ack_delay_us=MAX_ACK_DELAY)
    outcome = on_ack(ld, APP, ack((0, 4)), 20_000 + 2 * pto + 1)
    assert outcome.spurious == 0 and ld.packet_threshold == 3
