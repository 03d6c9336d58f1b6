"""NewReno (RFC 9002 §7, Appendix B) and CUBIC (RFC 9438) with hand-computed windows."""

from __future__ import annotations

import math

import pytest

from pyquic.core.congestion import SSTHRESH_INFINITE, CongestionController, create_controller
from pyquic.core.cubic import ALPHA_CUBIC, Cubic
from pyquic.core.levels import PacketSpace
from pyquic.core.new_reno import NewReno
from pyquic.core.rtt import RttEstimator
from pyquic.core.sent_packet import SentPacket

MSS = 1200


def packet(pn: int, sent_us: int, size: int = MSS, *, in_flight: bool = True) -> SentPacket:
    return SentPacket(pn, PacketSpace.APPLICATION, sent_us, size, in_flight, in_flight)


def rtt_of(sample_us: int) -> RttEstimator:
    rtt = RttEstimator()
    rtt.update(sample_us, 0, handshake_confirmed=True, max_ack_delay_us=0)
    return rtt


def send(cc: CongestionController, *packets: SentPacket) -> None:
    for p in packets:
        cc.on_packet_sent(p)


RTT = rtt_of(100_000)


# -- shared bookkeeping and NewReno ------------------------------------------------------------


@pytest.mark.parametrize("name", ["new_reno", "cubic"])
def test_initial_state(name: str) -> None:
    cc = create_controller(name)
    assert cc.congestion_window == cc.initial_window == 12_000  # 10 * max_datagram_size
    assert cc.minimum_window == 2_400
    assert cc.ssthresh == SSTHRESH_INFINITE and cc.bytes_in_flight == 0
    assert cc.state_name == "slow_start"
    assert (
        create_controller(name, max_datagram_size=1500, initial_window_packets=4).congestion_window
        == 6_000
    )


def test_factory_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="cubic, new_reno"):
        create_controller("bbr")
    assert isinstance(create_controller("new_reno"), NewReno)
    assert isinstance(create_controller("cubic"), Cubic)
    with pytest.raises(ValueError):
        NewReno(max_datagram_size=1000)
    with pytest.raises(ValueError):
        NewReno(initial_window_packets=1)


@pytest.mark.parametrize("cls", [NewReno, Cubic])
def test_slow_start_grows_by_bytes_acked(cls: type[CongestionController]) -> None:
    cc = cls()
    packets = [packet(pn, 0) for pn in range(10)]
    send(cc, *packets)
    assert cc.bytes_in_flight == 12_000 and not cc.can_send(1)
    cc.on_packets_acked(packets[:1], 10, RTT)
    assert cc.congestion_window == 13_200 and cc.bytes_in_flight == 10_800
    assert cc.available_window() == 2_400 and cc.can_send(2_400) and not cc.can_send(2_401)
    cc.on_packets_acked(packets[1:], 20, RTT)
    assert cc.congestion_window == 24_000 and cc.bytes_in_flight == 0


def test_packets_not_in_flight_do_not_count() -> None:
    cc = NewReno()
    ack_only = packet(0, 0, 50, in_flight=False)
    send(cc, ack_only)
    assert cc.bytes_in_flight == 0
    cc.on_packets_acked([ack_only], 1, RTT)
    cc.on_packets_lost([ack_only], 2, persistent_congestion=False)
    assert cc.congestion_window == 12_000 and cc.recovery_start_time_us is None


def test_new_reno_one_reduction_per_recovery_period() -> None:
    cc = NewReno()
    early = [packet(pn, 100 * pn) for pn in range(5)]
    send(cc, *early)
    cc.on_packets_lost(early[:1], 1_000, persistent_congestion=False)
    assert cc.ssthresh == 6_000 and cc.congestion_window == 6_000
    assert cc.recovery_start_time_us == 1_000 and cc.state_name == "recovery"
    assert cc.in_recovery(1_000) and not cc.in_recovery(1_001)
    # another packet sent before recovery started: same loss event, no second reduction
    cc.on_packets_lost(early[1:2], 1_500, persistent_congestion=False)
    assert cc.congestion_window == 6_000
    # ECN-CE for a packet sent before recovery: ignored as well (§7.1)
    cc.on_ecn_ce(400, 1_600)
    assert cc.congestion_window == 6_000
    # acknowledging packets sent before the recovery started: no growth, still in recovery
    cc.on_packets_acked(early[2:], 2_000, RTT)
    assert cc.congestion_window == 6_000 and cc.state_name == "recovery"
    # a packet sent after the recovery start is lost: a new loss event
    late = packet(10, 3_000)
    send(cc, late)
    cc.on_packets_lost([late], 4_000, persistent_congestion=False)
    assert cc.ssthresh == 3_000 and cc.congestion_window == 3_000
    assert cc.recovery_start_time_us == 4_000


def test_new_reno_recovery_ends_when_a_later_packet_is_acked_then_avoidance() -> None:
    cc = NewReno()
    first = packet(0, 0)
    send(cc, first)
    cc.on_packets_lost([first], 1_000, persistent_congestion=False)
    assert cc.congestion_window == 6_000
    after = [packet(pn, 2_000) for pn in range(1, 6)]  # 6000 bytes: one window
    send(cc, *after)
    cc.on_packets_acked(after[:1], 3_000, RTT)
    assert cc.state_name == "congestion_avoidance"
    assert cc.congestion_window == 6_000  # 1200 of 6000 acknowledged so far
    cc.on_packets_acked(after[1:4], 3_000, RTT)
    assert cc.congestion_window == 6_000
    cc.on_packets_acked(after[4:], 3_000, RTT)  # a whole window acknowledged: + one datagram
    assert cc.congestion_window == 7_200


def test_new_reno_congestion_avoidance_one_datagram_per_window() -> None:
    cc = NewReno()
    seed = packet(0, 0)
    send(cc, seed)
    cc.on_packets_lost([seed], 10, persistent_congestion=False)  # cwnd 6000 = ssthresh
    acked = 0
    pn = 1
    while acked < 6_000 + 7_200:  # one window at 6000, then one at 7200
        p = packet(pn, 100)
        send(cc, p)
        cc.on_packets_acked([p], 200, RTT)
        acked += MSS
        pn += 1
    assert cc.congestion_window == 8_400


def test_minimum_window_on_reduction() -> None:
    cc = NewReno(initial_window_packets=2)  # 2400: halves to 1200, floored to 2400
    p = packet(0, 0)
    send(cc, p)
    cc.on_packets_lost([p], 10, persistent_congestion=False)
    assert cc.ssthresh == 1_200 and cc.congestion_window == 2_400


@pytest.mark.parametrize("cls", [NewReno, Cubic])
def test_persistent_congestion_collapses_to_minimum_window(cls: type[CongestionController]) -> None:
    cc = cls()
    packets = [packet(pn, pn) for pn in range(4)]
    send(cc, *packets)
    cc.on_packets_lost(packets, 10_000, persistent_congestion=True)
    assert cc.congestion_window == 2_400 and cc.bytes_in_flight == 0
    assert cc.recovery_start_time_us is None and cc.state_name == "slow_start"
    # back in slow start: the next acknowledged packet grows the window by its size
    p = packet(10, 20_000)
    send(cc, p)
    cc.on_packets_acked([p], 30_000, RTT)
    assert cc.congestion_window == 3_600


@pytest.mark.parametrize("cls", [NewReno, Cubic])
def test_app_limited_does_not_grow(cls: type[CongestionController]) -> None:
    cc = cls()
    cc.set_app_limited(True)
    assert cc.app_limited and cc.state_name == "application_limited"
    p = packet(0, 0)
    send(cc, p)
    cc.on_packets_acked([p], 10, RTT)
    assert cc.congestion_window == 12_000 and cc.bytes_in_flight == 0
    cc.set_app_limited(False)
    q = packet(1, 20)
    send(cc, q)
    cc.on_packets_acked([q], 30, RTT)
    assert cc.congestion_window == 13_200


def test_ecn_ce_is_a_congestion_event() -> None:
    cc = NewReno()
    cc.on_ecn_ce(500, 1_000)
    assert cc.congestion_window == 6_000 and cc.recovery_start_time_us == 1_000


def test_discarded_packets_leave_flight_without_a_signal() -> None:
    cc = NewReno()
    packets = [packet(pn, 0) for pn in range(3)]
    send(cc, *packets)
    cc.on_packets_discarded(packets)
    assert cc.bytes_in_flight == 0 and cc.congestion_window == 12_000
    assert cc.recovery_start_time_us is None


def test_one_packet_may_exceed_the_window_on_entering_recovery_and_probes_are_exempt() -> None:
    cc = NewReno()
    packets = [packet(pn, 0) for pn in range(10)]
    send(cc, *packets)
    cc.on_packets_lost(packets[:1], 100, persistent_congestion=False)  # cwnd 6000 < 10800
    assert cc.exemptions == 1 and cc.can_send(1_200)
    send(cc, packet(10, 200))
    assert not cc.can_send(1_200)
    cc.set_exemptions(2)
    send(cc, packet(11, 300))
    assert cc.can_send(1_200)
    send(cc, packet(12, 300))
    assert not cc.can_send(1_200) and cc.exemptions == 0


def test_max_datagram_size_change() -> None:
    cc = NewReno()
    cc.set_max_datagram_size(1_500)
    assert cc.congestion_window == 15_000 and cc.minimum_window == 3_000
    p = packet(0, 0)
    send(cc, p)
    cc.on_packets_lost([p], 10, persistent_congestion=False)  # cwnd 7500
    cc.set_max_datagram_size(1_200)
    assert cc.congestion_window == 7_500 and cc.minimum_window == 2_400
    with pytest.raises(ValueError):
        cc.set_max_datagram_size(1_000)


# -- CUBIC -------------------------------------------------------------------------------------

K_75 = 4.2171633265087465  # cbrt(100 * (1 - 0.7) / 0.4) = cbrt(75)


def cubic_after_loss_at_100_segments() -> Cubic:
    """cwnd 120000 bytes (100 segments); a loss at t = 1 s."""
    cc = Cubic(initial_window_packets=100)
    lost = packet(0, 0)
    send(cc, lost)
    cc.on_packets_lost([lost], 1_000_000, persistent_congestion=False)
    return cc


def test_cubic_reduction_and_k() -> None:
    cc = cubic_after_loss_at_100_segments()
    assert cc.ssthresh == 84_000 and cc.congestion_window == 84_000  # beta_cubic = 0.7
    assert cc.w_max_segments == 100.0
    assert cc.k_seconds == pytest.approx(K_75, rel=1e-12)
    assert cc.epoch_start_us == 1_000_000


def test_cubic_window_function_values() -> None:
    cc = cubic_after_loss_at_100_segments()
    # W_cubic(t) = 0.4 (t - K)^3 + 100 segments, times 1200 bytes
    assert cc.w_cubic_bytes(0) == pytest.approx(84_000.0)  # = cwnd_epoch
    assert cc.w_cubic_bytes(round(K_75 * 1e6)) == pytest.approx(120_000.0, abs=0.01)  # = W_max
    assert cc.w_cubic_bytes(1_000_000) == pytest.approx(104_016.9166, abs=1e-3)
    assert cc.w_cubic_bytes(2_000_000) == pytest.approx(114_768.4028, abs=1e-3)
    assert cc.w_cubic_bytes(6_000_000) == pytest.approx(122_720.04, abs=0.01)  # convex beyond K
    assert Cubic().w_cubic_bytes(0) is None


def test_cubic_fast_convergence() -> None:
    cc = cubic_after_loss_at_100_segments()
    later = packet(1, 2_000_000)
    send(cc, later)
    cc.on_packets_lost([later], 2_500_000, persistent_congestion=False)
    # cwnd 70 segments < W_max 100: W_max = 70 * (1 + 0.7) / 2 = 59.5
    assert cc.w_max_segments == pytest.approx(59.5)
    assert cc.congestion_window == 58_800  # 84000 * 0.7 = 49 segments
    assert cc.k_seconds == pytest.approx(math.cbrt((59.5 - 49) / 0.4))  # 2.9720
    assert cc.k_seconds == pytest.approx(2.971960976, rel=1e-9)


def test_cubic_concave_growth_toward_w_cubic_t_plus_rtt() -> None:
    cc = cubic_after_loss_at_100_segments()
    p = packet(1, 1_500_000)
    send(cc, p)
    cc.on_packets_acked([p], 3_000_000, RTT)  # t = 2 s, smoothed_rtt = 100 ms
    # W_est = 84000 + alpha * 1200 * 1200 / 84000 = 84009.08 < W_cubic(2 s) = 114768.4
    assert cc.w_est_bytes == pytest.approx(84_000 + ALPHA_CUBIC * 1200 * 1200 / 84_000)
    assert cc.w_est_bytes == pytest.approx(84_009.0756, abs=1e-3)
    # target = W_cubic(2.1 s) = 115444.83; increase = (115444.83 - 84000) * 1200 / 84000 = 449.2
    assert cc.congestion_window == 84_449
    assert cc.state_name == "congestion_avoidance"


def test_cubic_target_clamped_to_one_and_a_half_windows() -> None:
    cc = cubic_after_loss_at_100_segments()
    p = packet(1, 1_500_000)
    send(cc, p)
    # t = 20 s: W_cubic(20.1 s) = (0.4 * 15.88^3 + 100) * 1200 > 1.5 * 84000
    cc.on_packets_acked([p], 21_000_000, RTT)
    assert cc.congestion_window == 84_000 + (126_000 - 84_000) * 1200 // 84_000  # 84600


def test_cubic_reno_friendly_region_after_persistent_congestion() -> None:
    cc = Cubic()
    lost = packet(0, 0)
    send(cc, lost)
    cc.on_packets_lost([lost], 1_000, persistent_congestion=True)
    assert cc.ssthresh == 8_400 and cc.congestion_window == 2_400
    assert cc.w_max_segments is None and cc.epoch_start_us is None
    pn = 1
    while cc.congestion_window < cc.ssthresh:  # slow start: 2400 -> 8400
        p = packet(pn, 2_000)
        send(cc, p)
        cc.on_packets_acked([p], 3_000, RTT)
        pn += 1
    assert cc.congestion_window == 8_400
    p = packet(pn, 4_000)
    send(cc, p)
    cc.on_packets_acked([p], 5_000, RTT)
    # §4.8: the epoch starts now with K = 0 and W_max = 7 segments; alpha = 1 (no prior window).
    assert cc.epoch_start_us == 5_000 and cc.k_seconds == 0.0 and cc.w_max_segments == 7.0
    # W_cubic(0) = 8400 < W_est = 8400 + 1200 * 1200 / 8400 = 8571.43: Reno-friendly, cwnd = W_est
    assert cc.congestion_window == 8_571


def test_cubic_application_limited_time_does_not_count() -> None:
    cc = cubic_after_loss_at_100_segments()
    assert cc.epoch_start_us == 1_000_000
    a, b = packet(1, 1_100_000), packet(2, 1_100_000)
    send(cc, a, b)
    cc.set_app_limited(True)
    cc.on_packets_acked([a], 2_000_000, RTT)  # the pause starts
    assert cc.congestion_window == 84_000
    cc.set_app_limited(False)
    cc.on_packets_acked([b], 4_000_000, RTT)  # growth resumes: 2 s paused
    assert cc.epoch_start_us == 3_000_000
    # t = 1 s: target W_cubic(1.1 s) = (0.4 (1.1 - K)^3 + 100) * 1200
    target = (0.4 * (1.1 - K_75) ** 3 + 100) * 1200
    assert cc.congestion_window == 84_000 + int((target - 84_000) * 1200 / 84_000)


def test_cubic_idle_time_does_not_count() -> None:
    cc = cubic_after_loss_at_100_segments()
    a = packet(1, 1_100_000)
    send(cc, a)
    cc.on_packets_acked([a], 1_200_000, RTT)  # pipe empty at 1.2 s
    grown = cc.congestion_window
    assert cc.bytes_in_flight == 0
    send(cc, packet(2, 5_200_000))  # idle for 4 s
    assert cc.epoch_start_us == 5_000_000
    assert cc.congestion_window == grown


def test_cubic_ecn_ce_reduces_like_loss() -> None:
    cc = Cubic(initial_window_packets=100)
    cc.on_ecn_ce(10, 1_000)
    assert cc.congestion_window == 84_000 and cc.w_max_segments == 100.0


# -- undoing a spurious congestion event (RFC 9438 §4.9) ----------------------------------------


def test_cubic_spurious_congestion_event_restores_the_state_before_it() -> None:
    cc = cubic_after_loss_at_100_segments()  # the first congestion event: W_max = 100 segments
    again = packet(1, 1_500_000)
    send(cc, again)
    later = packet(2, 1_600_000)
    send(cc, later)
    cc.on_packets_acked([again], 1_700_000, RTT)  # sent after recovery started: recovery ends
    state = (cc.congestion_window, cc.ssthresh, cc.w_max_segments, cc.k_seconds)
    assert state[0] > 84_000  # grew in congestion avoidance
    cc.on_packets_lost([later], 1_800_000, persistent_congestion=False)  # a second event...
    assert cc.congestion_window < state[0] and cc.state_name == "recovery"
    assert cc.on_spurious_congestion_event()  # ...that was spurious
    assert (cc.congestion_window, cc.ssthresh, cc.w_max_segments, cc.k_seconds) == state
    assert cc.epoch_start_us == 1_000_000 and cc.state_name != "recovery"
    assert not cc.on_spurious_congestion_event()  # only once


@pytest.mark.parametrize("cls", [NewReno, Cubic])
def test_no_undo_after_ecn_or_persistent_congestion(cls: type[CongestionController]) -> None:
    cc = cls()
    cc.on_ecn_ce(0, 10)
    assert not cc.on_spurious_congestion_event()  # a CE mark is no spurious loss
    cc = cls()
    lost = packet(0, 0)
    send(cc, lost)
    cc.on_packets_lost([lost], 10, persistent_congestion=True)
    assert not cc.on_spurious_congestion_event()
    assert cc.congestion_window == cc.minimum_window


def test_new_reno_spurious_congestion_event_restores_the_window() -> None:
    cc = NewReno()
    lost = packet(0, 0)
    send(cc, lost)
    cc.on_packets_lost([lost], 10, persistent_congestion=False)
    assert cc.congestion_window == 6_000
    assert cc.on_spurious_congestion_event()
    assert cc.congestion_window == 12_000 and cc.ssthresh == SSTHRESH_INFINITE
