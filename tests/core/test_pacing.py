"""The token-bucket pacer of RFC 9002 §7.7: rate = 1.25 * cwnd / smoothed_rtt, 10-packet burst."""

from __future__ import annotations

import pytest

from pyquic.core.new_reno import NewReno
from pyquic.core.pacing import Pacer
from pyquic.core.rtt import RttEstimator

MSS = 1200


def paced(smoothed_rtt_us: int | None = 120_000) -> tuple[Pacer, NewReno, RttEstimator]:
    cc = NewReno()  # cwnd 12000
    rtt = RttEstimator()
    if smoothed_rtt_us is not None:
        rtt.update(smoothed_rtt_us, 0, handshake_confirmed=True, max_ack_delay_us=0)
    return Pacer(cc, rtt), cc, rtt


def test_disabled_without_an_rtt_sample() -> None:
    pacer, _, _ = paced(None)
    assert not pacer.enabled and pacer.rate_bytes_per_us() == 0.0
    for now in range(0, 50):
        assert pacer.time_until_send_us(MSS, now) == 0
        pacer.on_sent(MSS, now)


def test_rate_is_one_and_a_quarter_window_per_rtt() -> None:
    pacer, _, _ = paced()
    assert pacer.rate_bytes_per_us() == 1.25 * 12_000 / 120_000 == 0.125


def test_burst_of_ten_packets_then_one_interval_per_packet() -> None:
    pacer, _, _ = paced()
    assert pacer.capacity_bytes == 12_000
    for _ in range(10):
        assert pacer.time_until_send_us(MSS, 0) == 0
        pacer.on_sent(MSS, 0)
    # interval = smoothed_rtt * size / cwnd / 1.25 = 120000 * 1200 / 12000 / 1.25 = 9600 us
    assert pacer.time_until_send_us(MSS, 0) == 9_600
    assert pacer.time_until_send_us(MSS, 4_800) == 4_800
    assert pacer.time_until_send_us(MSS, 9_600) == 0
    pacer.on_sent(MSS, 9_600)
    assert pacer.time_until_send_us(MSS, 9_600) == 9_600
    assert pacer.time_until_send_us(600, 9_600) == 4_800


def test_bucket_refills_only_up_to_the_burst() -> None:
    pacer, _, _ = paced()
    for _ in range(10):
        pacer.on_sent(MSS, 0)
    for _ in range(10):  # after a long idle period: again ten packets, not more
        assert pacer.time_until_send_us(MSS, 10_000_000) == 0
        pacer.on_sent(MSS, 10_000_000)
    assert pacer.time_until_send_us(MSS, 10_000_000) == 9_600


def test_sending_beyond_the_tokens_leaves_a_debt() -> None:
    pacer, _, _ = paced()
    for _ in range(11):  # e.g. a probe sent regardless of pacing
        pacer.on_sent(MSS, 0)
    assert pacer.time_until_send_us(MSS, 0) == 19_200


def test_rate_follows_the_congestion_window() -> None:
    pacer, cc, _ = paced()
    for _ in range(10):
        pacer.on_sent(MSS, 0)
    cc.congestion_window = 24_000  # doubled: half the interval
    assert pacer.time_until_send_us(MSS, 0) == 4_800


def test_packet_larger_than_the_bucket_waits_for_a_full_bucket() -> None:
    pacer, _, _ = paced()
    pacer.on_sent(12_000, 0)
    assert pacer.time_until_send_us(20_000, 0) == 96_000  # 12000 bytes at 0.125 B/us


def test_validation() -> None:
    with pytest.raises(ValueError):
        Pacer(NewReno(), RttEstimator(), burst_packets=0)


def test_off_below_a_one_millisecond_rtt() -> None:
    # MsQuic's rule: a loopback or LAN path is not paced
    pacer, _, _ = paced(999)
    assert not pacer.enabled
    for _ in range(50):
        assert pacer.time_until_send_us(MSS, 0) == 0
        pacer.on_sent(MSS, 0)
    assert paced(1_000)[0].enabled


def test_the_bucket_holds_one_interval_at_a_high_rate() -> None:
    pacer, cc, _ = paced(10_000)
    cc.congestion_window = 1_200_000  # 150 B/us: 150,000 bytes per 1 ms interval
    assert pacer.capacity_bytes == 150_000
    while pacer.time_until_send_us(MSS, 0) == 0:  # empty the bucket
        pacer.on_sent(MSS, 0)
    sent = 0
    while pacer.time_until_send_us(MSS, 5_000) == 0:  # long after: one interval's worth
        pacer.on_sent(MSS, 5_000)
        sent += MSS
    assert 150_000 <= sent < 150_000 + MSS  # a sender woken once per interval keeps the rate


def test_the_allowance_of_a_burst_matches_packet_by_packet_pacing() -> None:
    """A burst takes packets from one allowance and reports their total once (MsQuic's send
    allowance): the bucket ends where ten separate on_sent calls leave it."""
    by_packet, _, _ = paced()
    by_burst, _, _ = paced()
    assert by_burst.allowance_bytes(0) == 12_000  # the full bucket: ten packets
    for _ in range(10):
        by_packet.on_sent(MSS, 0)
    by_burst.on_sent(10 * MSS, 0)
    for now in (0, 4_800, 9_600, 30_000):
        assert by_burst.allowance_bytes(now) == by_packet.allowance_bytes(now)
        assert by_burst.time_until_send_us(MSS, now) == by_packet.time_until_send_us(MSS, now)
    assert by_burst.allowance_bytes(4_800) == 600  # 4,800 us at 0.125 bytes/us
    off, _, _ = paced(None)
    assert off.allowance_bytes(0) is None  # pacing off: no limit
