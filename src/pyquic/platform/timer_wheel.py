"""A hashed timer wheel holding each connection's earliest timer, as MsQuic's workers do.

A QUIC connection runs up to seven timers (pacing, ACK delay, loss detection, keep-alive, idle,
shutdown, path validation); MsQuic hands only the earliest of them to its worker's timer wheel
(``src/core/timer_wheel.c``, msquic-facts §4 "Timers"), so the wheel holds at most one entry per
connection and the worker sleeps until :meth:`TimerWheel.next_deadline_us`.

Design (Varghese and Lauck, "Hashed and Hierarchical Timing Wheels", SOSP 1987, scheme 6): time
is cut into ticks of ``slot_granularity_us``; an entry whose deadline falls in tick ``t`` lives in
slot ``t mod slot_count``, a dict keyed by the entry's key.  So :meth:`update` and :meth:`cancel`
are O(1): drop the key from its old slot, add it to the new one.  A deadline more than one
revolution ahead shares a slot with nearer ones and is told apart by its tick.

* :meth:`pop_expired` walks the ticks from the cursor (the tick of the previous call, or of the
  first entry put into an empty wheel) up to now, at most one revolution of slots, and returns the
  expired keys ordered by deadline (ties in insertion order).  Invariant: no entry lies in a tick
  before the cursor (an update into the past moves the cursor back), so nothing is missed.
* :meth:`next_deadline_us` is cached; the cache survives updates that do not touch the earliest
  entry.  Recomputing scans slots in tick order from the cursor and stops at the first tick that
  holds an entry; only when nothing lies within one revolution does it fall back to the minimum
  over all entries (O(n), and only while every timer is that far away, such as idle timeouts).
  A wheel of a few entries skips the walk: the minimum over them is cheaper.

Deadlines are integer microseconds on the clock of :func:`pyquic.platform.execution.now_us`; the
wheel never reads a clock itself.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["TimerWheel"]

K = TypeVar("K", bound=Hashable)

DEFAULT_SLOT_GRANULARITY_US = 1_000
DEFAULT_SLOT_COUNT = 512
# up to this many entries, the earliest is found by min() over all of them rather than by
# walking up to a revolution of slots (one connection with only its idle timer left would
# otherwise cost a 512-slot walk each time its earliest timer moves)
_SCAN_MIN_ENTRIES = 64


class TimerWheel(Generic[K]):
    """Hashed timer wheel: one deadline per key, O(1) update and cancel.

    ``slot_granularity_us`` is the width of a tick (expiry is still exact: an entry is returned
    by :meth:`pop_expired` only once ``now_us >= deadline``); ``slot_count`` slots make one
    revolution of ``slot_granularity_us * slot_count`` microseconds.
    """

    __slots__ = (
        "_cursor_tick",
        "_deadlines",
        "_granularity_us",
        "_next_cache",
        "_next_valid",
        "_slot_count",
        "_slots",
    )

    def __init__(
        self,
        *,
        slot_granularity_us: int = DEFAULT_SLOT_GRANULARITY_US,
        slot_count: int = DEFAULT_SLOT_COUNT,
    ) -> None:
        if slot_granularity_us < 1 or slot_count < 1:
            raise ValueError("slot_granularity_us and slot_count must be positive")
        self._granularity_us = slot_granularity_us
        self._slot_count = slot_count
        # a slot's dict is made when an entry first lands there (a wheel per client connection
        # would otherwise start with slot_count empty dicts)
        self._slots: list[dict[K, int] | None] = [None] * slot_count
        self._deadlines: dict[K, int] = {}
        self._cursor_tick = 0  # no entry lies in an earlier tick
        self._next_cache: int | None = None
        self._next_valid = True

    # -- queries --------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._deadlines)

    def __contains__(self, key: object) -> bool:
        return key in self._deadlines

    def deadline_of(self, key: K) -> int | None:
        """The scheduled deadline of ``key`` in microseconds, or None."""
        return self._deadlines.get(key)

    @property
    def slot_granularity_us(self) -> int:
        return self._granularity_us

    @property
    def slot_count(self) -> int:
        return self._slot_count

    # -- updates --------------------------------------------------------------------------------

    def update(self, key: K, deadline_us: int | None) -> None:
        """Schedule ``key`` at ``deadline_us`` (replacing its entry), or remove it if None."""
        old = self._deadlines.pop(key, None)
        if old is not None:
            old_slot = self._slots[(old // self._granularity_us) % self._slot_count]
            assert old_slot is not None
            del old_slot[key]
            if self._next_valid and old == self._next_cache:
                self._next_valid = False
        if deadline_us is None:
            return
        tick = deadline_us // self._granularity_us
        if not self._deadlines or tick < self._cursor_tick:
            self._cursor_tick = tick  # an empty wheel has no invariant to keep: start here
        index = tick % self._slot_count
        slot = self._slots[index]
        if slot is None:
            slot = self._slots[index] = {}
        slot[key] = deadline_us
        self._deadlines[key] = deadline_us
        if self._next_valid and (self._next_cache is None or deadline_us < self._next_cache):
            self._next_cache = deadline_us

    def cancel(self, key: K) -> None:
        """Remove ``key``'s entry if it has one."""
        self.update(key, None)

    def clear(self) -> None:
        self._slots = [None] * self._slot_count
        self._deadlines.clear()
        self._next_cache = None
        self._next_valid = True

    # -- expiry -----------------------------------------------------------------------------------

    def next_deadline_us(self) -> int | None:
        """The earliest deadline in the wheel, or None when it is empty."""
        if not self._next_valid:
            self._next_cache = self._find_earliest()
            self._next_valid = True
        return self._next_cache

    def _find_earliest(self) -> int | None:
        if not self._deadlines:
            return None
        if len(self._deadlines) <= _SCAN_MIN_ENTRIES:
            return min(self._deadlines.values())  # a few entries: cheaper than walking the slots
        cursor = self._cursor_tick
        granularity, slots, count = self._granularity_us, self._slots, self._slot_count
        for tick in range(cursor, cursor + count):
            earliest: int | None = None
            slot = slots[tick % count]
            if slot is None:
                continue
            for deadline in slot.values():
                if deadline // granularity == tick and (earliest is None or deadline < earliest):
                    earliest = deadline
            if earliest is not None:
                return earliest
        return min(self._deadlines.values())  # every entry is beyond one revolution

    def pop_expired(self, now_us: int) -> list[K]:
        """Remove and return the keys whose deadline is at or before ``now_us``, earliest first."""
        now_tick = now_us // self._granularity_us
        cursor = self._cursor_tick
        if now_tick < cursor or not self._deadlines:
            return []  # every entry lies in a tick after now
        span = min(now_tick - cursor + 1, self._slot_count)
        expired: list[tuple[int, K]] = []
        for tick in range(cursor, cursor + span):
            slot = self._slots[tick % self._slot_count]
            if slot is None:
                continue
            due = [(deadline, key) for key, deadline in slot.items() if deadline <= now_us]
            for _, key in due:
                del slot[key]
                del self._deadlines[key]
            expired.extend(due)
        self._cursor_tick = now_tick
        if not expired:
            return []
        self._next_valid = False
        expired.sort(key=lambda item: item[0])  # stable: equal deadlines keep slot order
        return [key for _, key in expired]
