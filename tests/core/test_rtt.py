"""RttEstimator against RFC 9002 §5 and the PTO period of §6.2.1, with exact integers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyquic.core.rtt import K_GRANULARITY_US, K_INITIAL_RTT_US, RttEstimator


def update(rtt: RttEstimator, sample: int, ack_delay: int = 0, *, confirmed: bool = True) -> None:
    rtt.update(sample, ack_delay, handshake_confirmed=confirmed, max_ack_delay_us=25_000)


def test_initial_values_rfc9002_5_3() -> None:
    rtt = RttEstimator()
    assert rtt.smoothed_rtt_us == K_INITIAL_RTT_US == 333_000
    assert rtt.rttvar_us == 166_500
    assert rtt.min_rtt_us == 0 and rtt.latest_rtt_us == 0 and not rtt.has_sample


def test_initial_pto_is_999ms_and_adds_max_ack_delay_when_asked() -> None:
    rtt = RttEstimator()
    assert rtt.pto_duration_us(include_max_ack_delay=False, max_ack_delay_us=25_000) == 999_000
    assert rtt.pto_duration_us(include_max_ack_delay=True, max_ack_delay_us=25_000) == 1_024_000


def test_first_sample_resets_the_estimator_and_ignores_ack_delay() -> None:
    rtt = RttEstimator()
    update(rtt, 100_000, ack_delay=50_000)
    assert rtt.has_sample
    assert (rtt.latest_rtt_us, rtt.smoothed_rtt_us, rtt.rttvar_us, rtt.min_rtt_us) == (
        100_000,
        100_000,
        50_000,
        100_000,
    )


def test_subsequent_sample_subtracts_ack_delay() -> None:
    rtt = RttEstimator()
    update(rtt, 100_000)
    update(rtt, 150_000, ack_delay=20_000)
    # adjusted = 130000; rttvar = (3*50000 + |100000-130000|)/4; smoothed = (7*100000+130000)/8
    assert rtt.rttvar_us == 45_000
    assert rtt.smoothed_rtt_us == 103_750
    assert rtt.min_rtt_us == 100_000 and rtt.latest_rtt_us == 150_000


def test_ack_delay_capped_by_max_ack_delay_only_after_confirmation() -> None:
    confirmed = RttEstimator()
    update(confirmed, 100_000)
    update(confirmed, 150_000, ack_delay=40_000, confirmed=True)  # capped to 25000 -> 125000
    assert confirmed.smoothed_rtt_us == (7 * 100_000 + 125_000) // 8
    unconfirmed = RttEstimator()
    update(unconfirmed, 100_000)
    update(unconfirmed, 150_000, ack_delay=40_000, confirmed=False)  # 110000
    assert unconfirmed.smoothed_rtt_us == (7 * 100_000 + 110_000) // 8


def test_ack_delay_not_subtracted_below_min_rtt() -> None:
    rtt = RttEstimator()
    update(rtt, 100_000)
    update(rtt, 110_000, ack_delay=20_000)  # 110000 < 100000 + 20000: use 110000
    assert rtt.smoothed_rtt_us == (7 * 100_000 + 110_000) // 8
    assert rtt.rttvar_us == (3 * 50_000 + 10_000) // 4


def test_min_rtt_tracks_the_smallest_sample() -> None:
    rtt = RttEstimator()
    update(rtt, 100_000)
    update(rtt, 80_000, ack_delay=5_000)
    assert rtt.min_rtt_us == 80_000
    # 80000 >= 80000 + 5000 is false: not adjusted
    assert rtt.smoothed_rtt_us == (7 * 100_000 + 80_000) // 8
    update(rtt, 120_000)
    assert rtt.min_rtt_us == 80_000


def test_pto_uses_granularity_when_rttvar_is_tiny() -> None:
    rtt = RttEstimator()
    update(rtt, 400)  # rttvar 200: 4*rttvar = 800 < kGranularity
    assert rtt.pto_duration_us(include_max_ack_delay=False, max_ack_delay_us=0) == 400 + 1_000
    assert rtt.pto_duration_us(include_max_ack_delay=True, max_ack_delay_us=3_000) == 4_400


def test_loss_delay_is_nine_eighths_with_granularity_floor() -> None:
    rtt = RttEstimator()
    assert rtt.loss_delay_us() == 9 * 333_000 // 8 == 374_625
    update(rtt, 800)
    assert rtt.loss_delay_us() == K_GRANULARITY_US
    update(rtt, 200_000)  # latest 200000 > smoothed
    assert rtt.loss_delay_us() == 225_000


def test_reset_and_validation() -> None:
    rtt = RttEstimator(100_000)
    update(rtt, 5_000)
    rtt.reset()
    assert rtt.smoothed_rtt_us == 100_000 and rtt.rttvar_us == 50_000 and not rtt.has_sample
    rtt.reset(50_000)
    assert rtt.smoothed_rtt_us == 50_000 and rtt.initial_rtt_us == 50_000
    with pytest.raises(ValueError):
        RttEstimator(0)
    update(rtt, -5)  # a backwards clock cannot produce a negative sample
    assert rtt.latest_rtt_us == 0


@given(
    st.lists(
        st.tuples(st.integers(1, 2_000_000), st.integers(0, 100_000), st.booleans()),
        min_size=1,
        max_size=40,
    )
)
def test_estimates_stay_within_the_samples(samples: list[tuple[int, int, bool]]) -> None:
    rtt = RttEstimator()
    for sample, delay, confirmed in samples:
        update(rtt, sample, delay, confirmed=confirmed)
    values = [sample for sample, _, _ in samples]
    assert rtt.min_rtt_us == min(values)
    assert min(values) <= rtt.smoothed_rtt_us <= max(values)
    assert 0 <= rtt.rttvar_us <= max(values)
    pto = rtt.pto_duration_us(include_max_ack_delay=False, max_ack_delay_us=0)
    assert pto >= rtt.smoothed_rtt_us + K_GRANULARITY_US
