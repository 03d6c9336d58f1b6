"""How often an endpoint answers without state: Version Negotiation, Retry and stateless resets.

Each such answer is a datagram sent for one received, so it is bounded: RFC 9000 §10.3.3 suggests
counting stateless resets and stopping at a limit, with separate limits per remote address so
one peer cannot exhaust the others'.  Design: MsQuic's pair of limits per binding, a token bucket
of answers (MaxBindingStatelessOperations per StatelessOperationExpirationMs) and at most one
answer per peer address in each period; sans-I/O, driven by the caller's ``now_us``.
"""

from __future__ import annotations

from collections.abc import Hashable

__all__ = ["StatelessLimiter"]


class StatelessLimiter:
    """A token bucket for stateless answers, plus one answer per address per period.

    ``capacity`` answers per ``period_us`` in a burst and on average (MsQuic's
    MaxBindingStatelessOperations and StatelessOperationExpirationMs).  Integer arithmetic: the
    bucket holds ``capacity * period_us`` units, refills ``capacity`` units per microsecond and
    an answer costs ``period_us`` units.
    """

    def __init__(self, capacity: int, period_us: int) -> None:
        self._capacity = max(capacity, 1)
        self._period_us = max(period_us, 1)
        self._units = self._capacity * self._period_us
        self._last_us = 0
        self._recent: dict[Hashable, int] = {}  # address -> end of its period (insertion order)

    def allow(self, address: Hashable, now_us: int) -> bool:
        if now_us > self._last_us:
            refill = (now_us - self._last_us) * self._capacity
            self._units = min(self._capacity * self._period_us, self._units + refill)
            self._last_us = now_us
        while self._recent:
            oldest = next(iter(self._recent))
            if self._recent[oldest] > now_us:
                break
            del self._recent[oldest]
        if address in self._recent or self._units < self._period_us:
            return False
        self._units -= self._period_us
        self._recent[address] = now_us + self._period_us
        return True
