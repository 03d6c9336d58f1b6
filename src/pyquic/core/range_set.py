"""A set of non-negative integers stored as disjoint, sorted, half-open ranges.

Used wherever QUIC tracks what arrived, was acknowledged or is missing: received packet numbers
(RFC 9000 §13.2), stream and CRYPTO offsets received or acknowledged (RFC 9000 §2.2, §19.6).
Design: a sorted list of ``[start, end)`` pairs kept merged, with bisection for lookups; the
number of ranges is what a caller bounds, since a peer controls how fragmented the set becomes.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator


class RangeSet:
    """Disjoint half-open ranges, merged and sorted ascending."""

    __slots__ = ("_ends", "_starts")

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ends: list[int] = []

    def __len__(self) -> int:
        """The number of disjoint ranges (not of integers)."""
        return len(self._starts)

    def __bool__(self) -> bool:
        return bool(self._starts)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return zip(self._starts, self._ends, strict=True)

    def __repr__(self) -> str:
        return f"RangeSet({list(self)})"

    def __contains__(self, value: int) -> bool:
        i = bisect_right(self._starts, value) - 1
        return i >= 0 and value < self._ends[i]

    def add(self, start: int, end: int) -> None:
        """Add ``[start, end)``, merging with touching or overlapping ranges."""
        if start >= end:
            return
        starts, ends = self._starts, self._ends
        if ends and ends[-1] <= start:  # the usual case: in order, at or past the last range
            if ends[-1] == start:
                ends[-1] = end  # extends it
            else:
                starts.append(start)
                ends.append(end)
            return
        # the first range that could touch: its end >= start
        lo = bisect_left(ends, start)
        # one past the last range that could touch: its start <= end
        hi = bisect_right(starts, end)
        if lo < hi:
            start = min(start, starts[lo])
            end = max(end, ends[hi - 1])
        starts[lo:hi] = [start]
        ends[lo:hi] = [end]

    def extend_last(self, start: int, end: int) -> bool:
        """Extend the last range to ``end`` when it ends exactly at ``start`` (in-order arrival,
        O(1)); False, changing nothing, otherwise."""
        ends = self._ends
        if ends and ends[-1] == start and end > start:
            ends[-1] = end
            return True
        return False

    def truncate_last(self, end: int) -> None:
        """Undo :meth:`extend_last`: the last range ends at ``end`` again (it must stay
        non-empty)."""
        ends = self._ends
        if not ends or end <= self._starts[-1]:
            raise ValueError(f"cannot truncate the last range to {end}")
        ends[-1] = end

    def subtract(self, start: int, end: int) -> None:
        """Remove ``[start, end)``."""
        if start >= end:
            return
        starts, ends = self._starts, self._ends
        lo = bisect_right(ends, start)
        hi = bisect_left(starts, end)
        if lo >= hi:
            return
        new_starts: list[int] = []
        new_ends: list[int] = []
        if starts[lo] < start:
            new_starts.append(starts[lo])
            new_ends.append(start)
        if ends[hi - 1] > end:
            new_starts.append(end)
            new_ends.append(ends[hi - 1])
        starts[lo:hi] = new_starts
        ends[lo:hi] = new_ends

    def covers(self, start: int, end: int) -> bool:
        """Whether every integer of ``[start, end)`` is in the set."""
        if start >= end:
            return True
        i = bisect_right(self._starts, start) - 1
        return i >= 0 and self._ends[i] >= end

    def first(self) -> tuple[int, int] | None:
        return (self._starts[0], self._ends[0]) if self._starts else None

    def last(self) -> tuple[int, int] | None:
        return (self._starts[-1], self._ends[-1]) if self._starts else None

    def pop_first(self) -> tuple[int, int]:
        """Remove and return the lowest range; IndexError when empty."""
        return self._starts.pop(0), self._ends.pop(0)

    def shift(self) -> None:
        """Drop the lowest range (used to bound the number of ranges kept)."""
        del self._starts[0]
        del self._ends[0]

    def descending(self) -> Iterator[tuple[int, int]]:
        return zip(reversed(self._starts), reversed(self._ends), strict=True)

    def clear(self) -> None:
        self._starts.clear()
        self._ends.clear()
