"""RangeSet against a plain Python set as the model."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from pyquic.core.range_set import RangeSet

OPS = st.lists(st.tuples(st.booleans(), st.integers(0, 60), st.integers(0, 12)), max_size=40)


@given(OPS)
def test_matches_a_set_model(ops: list[tuple[bool, int, int]]) -> None:
    ranges = RangeSet()
    model: set[int] = set()
    for add, start, length in ops:
        if add:
            ranges.add(start, start + length)
            model |= set(range(start, start + length))
        else:
            ranges.subtract(start, start + length)
            model -= set(range(start, start + length))
        listed = list(ranges)
        # disjoint, sorted, merged (no touching neighbours), non-empty
        for (_, end1), (start2, _) in pairwise(listed):
            assert end1 < start2
        assert all(s < e for s, e in listed)
        assert {v for s, e in listed for v in range(s, e)} == model
    for value in range(0, 80):
        assert (value in ranges) == (value in model)
    for start in range(0, 70, 7):
        for end in range(start, start + 10):
            assert ranges.covers(start, end) == set(range(start, end)).issubset(model)


def test_helpers() -> None:
    ranges = RangeSet()
    assert not ranges and ranges.first() is None and ranges.last() is None
    ranges.add(10, 20)
    ranges.add(0, 5)
    ranges.add(5, 7)  # touches [0, 5): merged
    assert list(ranges) == [(0, 7), (10, 20)]
    assert list(ranges.descending()) == [(10, 20), (0, 7)]
    assert len(ranges) == 2 and ranges.first() == (0, 7) and ranges.last() == (10, 20)
    ranges.shift()
    assert list(ranges) == [(10, 20)]
    assert ranges.pop_first() == (10, 20)
    ranges.add(1, 1)  # empty: ignored
    assert not ranges
