"""TimerWheel: ordering, updates, cancel, far-future deadlines, and a model-based property test."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyquic.platform.timer_wheel import TimerWheel


def test_empty_wheel() -> None:
    wheel: TimerWheel[str] = TimerWheel()
    assert len(wheel) == 0
    assert wheel.next_deadline_us() is None
    assert wheel.pop_expired(10**9) == []


def test_expired_keys_come_out_in_deadline_order() -> None:
    wheel: TimerWheel[str] = TimerWheel(slot_granularity_us=1_000, slot_count=8)
    wheel.update("c", 5_300)
    wheel.update("a", 1_200)
    wheel.update("b", 1_700)  # same slot as "a", later deadline
    wheel.update("d", 9_000)
    assert wheel.next_deadline_us() == 1_200
    assert wheel.pop_expired(1_199) == []
    assert wheel.pop_expired(6_000) == ["a", "b", "c"]
    assert wheel.next_deadline_us() == 9_000
    assert wheel.pop_expired(9_000) == ["d"]  # a deadline equal to now has expired
    assert len(wheel) == 0


def test_equal_deadlines_keep_insertion_order() -> None:
    wheel: TimerWheel[int] = TimerWheel()
    for key in (3, 1, 2):
        wheel.update(key, 500)
    assert wheel.pop_expired(500) == [3, 1, 2]


def test_update_moves_an_entry_and_keeps_one_per_key() -> None:
    wheel: TimerWheel[str] = TimerWheel(slot_granularity_us=100, slot_count=4)
    wheel.update("x", 1_000)
    wheel.update("y", 2_000)
    wheel.update("x", 3_000)  # later: "y" becomes the earliest
    assert len(wheel) == 2
    assert wheel.deadline_of("x") == 3_000
    assert wheel.next_deadline_us() == 2_000
    wheel.update("x", 50)  # earlier than anything, and before the cursor
    assert wheel.next_deadline_us() == 50
    assert wheel.pop_expired(2_500) == ["x", "y"]
    assert "x" not in wheel


def test_cancel_and_update_to_none() -> None:
    wheel: TimerWheel[str] = TimerWheel()
    wheel.update("a", 10)
    wheel.update("b", 20)
    wheel.cancel("a")
    wheel.cancel("missing")  # harmless
    assert wheel.next_deadline_us() == 20
    wheel.update("b", None)
    assert wheel.next_deadline_us() is None
    assert wheel.pop_expired(100) == []


def test_far_future_deadlines_beyond_one_revolution() -> None:
    # 8 slots of 1 ms: one revolution is 8 ms; these deadlines wrap the wheel several times
    wheel: TimerWheel[str] = TimerWheel(slot_granularity_us=1_000, slot_count=8)
    wheel.update("near", 2_500)
    wheel.update("same-slot-next-lap", 2_500 + 8_000)
    wheel.update("far", 30_000_000)
    wheel.update("three-laps", 2_600 + 3 * 8_000)
    assert wheel.next_deadline_us() == 2_500
    assert wheel.pop_expired(3_000) == ["near"]  # the slot's next-lap entry stays
    assert wheel.next_deadline_us() == 10_500
    assert wheel.pop_expired(20_000) == ["same-slot-next-lap"]
    assert wheel.next_deadline_us() == 26_600
    assert wheel.pop_expired(29_999_999) == ["three-laps"]
    assert wheel.next_deadline_us() == 30_000_000
    assert wheel.pop_expired(30_000_000) == ["far"]


def test_only_far_entries_fall_back_to_the_minimum() -> None:
    wheel: TimerWheel[int] = TimerWheel(slot_granularity_us=10, slot_count=4)
    for key, deadline in enumerate((90_000, 70_000, 80_000)):
        wheel.update(key, deadline)
    wheel.pop_expired(0)
    assert wheel.next_deadline_us() == 70_000
    wheel.cancel(1)
    assert wheel.next_deadline_us() == 80_000


def test_invalid_geometry_is_rejected() -> None:
    with pytest.raises(ValueError):
        TimerWheel(slot_granularity_us=0)
    with pytest.raises(ValueError):
        TimerWheel(slot_count=0)


def test_clear() -> None:
    wheel: TimerWheel[str] = TimerWheel()
    wheel.update("a", 5)
    wheel.clear()
    assert len(wheel) == 0 and wheel.next_deadline_us() is None
    wheel.update("b", 7)
    assert wheel.pop_expired(7) == ["b"]


_KEYS = st.integers(min_value=0, max_value=15)
_OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("update"), _KEYS, st.integers(min_value=0, max_value=200_000)),
        st.tuples(st.just("cancel"), _KEYS, st.just(0)),
        st.tuples(st.just("advance"), st.just(0), st.integers(min_value=0, max_value=40_000)),
        st.tuples(st.just("peek"), st.just(0), st.just(0)),
    ),
    max_size=120,
)


@settings(max_examples=300, deadline=None)
@given(
    operations=_OPERATIONS,
    granularity_us=st.sampled_from([1, 7, 1_000]),
    slot_count=st.sampled_from([1, 3, 16]),
)
def test_wheel_matches_a_dictionary_model(
    operations: list[tuple[str, int, int]], granularity_us: int, slot_count: int
) -> None:
    wheel: TimerWheel[int] = TimerWheel(slot_granularity_us=granularity_us, slot_count=slot_count)
    model: dict[int, int] = {}
    now_us = 0
    for op, key, value in operations:
        if op == "update":
            wheel.update(key, now_us + value - 50_000)  # deadlines in the past too
            model[key] = now_us + value - 50_000
        elif op == "cancel":
            wheel.cancel(key)
            model.pop(key, None)
        elif op == "advance":
            now_us += value
            expected = sorted((d, k) for k, d in model.items() if d <= now_us)
            popped = wheel.pop_expired(now_us)
            assert [model[k] for k in popped] == [d for d, _ in expected]
            assert sorted(popped) == sorted(k for _, k in expected)
            for k in popped:
                del model[k]
        else:  # peek: the cached earliest must have followed every update since the last one
            assert wheel.next_deadline_us() == (min(model.values()) if model else None)
        assert len(wheel) == len(model)
    assert wheel.next_deadline_us() == (min(model.values()) if model else None)
