"""A deterministic simulated network with a virtual clock, for testing sans-I/O endpoints.

Endpoints (a ``pyquic.core.connection.Connection``, or anything with the four methods of
:class:`NetworkEndpoint`) are registered under an address of any hashable kind.  The network polls
them for datagrams, carries each datagram over a one-directional link shaped by
:class:`LinkConditions` (latency, bandwidth with a drop-tail queue, loss, duplication, reordering,
corruption, an MTU and blackout windows), delivers it at its virtual arrival time and fires the
endpoints' timers when due.  :meth:`SimulatedNetwork.run` jumps the clock from event to event, so a
simulated minute costs only the events in it, and it raises instead of hanging when a limit of
virtual time or events is passed.

Design choices:

* Time is an ``int`` of microseconds.  The clock starts at 0 and only moves forward.
* One seeded ``random.Random`` makes every random decision, in a fixed order, and only for rates
  above zero: the same seed, endpoints and conditions give the same run, event for event.
* A link's fate for a datagram is decided when it is sent; the event heap holds only deliveries.
  The queue of a bandwidth-limited link is FIFO, so it is tracked as the start times of the
  datagrams still waiting to be serialized; nothing is copied except to corrupt one byte.
* Order at equal times: deliveries (in send order) before timers, timers in registration order.
* A datagram whose destination is not registered is counted as unroutable and dropped.
* ECN (RFC 3168, RFC 9000 §13.4): a datagram carries the IP ECN codepoint its endpoint's
  ``ecn_codepoint`` attribute gave for the batch (0 when it has none); it is passed on as
  ``receive_datagram(..., ecn=...)`` when not zero.  A link may bleach the field (``ecn_bleach``)
  or act as an ECN-capable AQM that marks ECT datagrams CE once ``ecn_ce_threshold`` datagrams
  wait in its queue (RFC 3168 §5), instead of letting the queue grow to the drop-tail limit.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "DEFAULT_MAX_EVENTS",
    "DEFAULT_MAX_TIME_US",
    "LinkConditions",
    "LinkStats",
    "NetworkEndpoint",
    "SimulatedNetwork",
    "SimulationError",
    "SimulationEventLimit",
    "SimulationStalled",
    "SimulationTimeLimit",
]

DEFAULT_MAX_TIME_US = 120_000_000  # two virtual minutes per run() call
DEFAULT_MAX_EVENTS = 1_000_000
_MICROSECONDS_PER_SECOND = 1_000_000


class NetworkEndpoint(Protocol):
    """What the network drives; positional-only so any parameter names fit."""

    def receive_datagram(self, data: bytes, address: Hashable, now_us: int, /) -> object:
        """A datagram arrived from ``address`` (the sender's registered address); any return
        value is ignored."""
        ...

    def datagrams_to_send(self, now_us: int, /) -> Sequence[tuple[bytes, Hashable]]:
        """Datagrams to send now, each with its destination address; empty when none."""
        ...

    def next_timer_us(self) -> int | None:
        """The virtual time at which :meth:`handle_timer` is due, or ``None``."""
        ...

    def handle_timer(self, now_us: int, /) -> None: ...


@dataclass(frozen=True, slots=True)
class LinkConditions:
    """How one direction of a path treats datagrams.  ``LinkConditions()`` is a clean 10 ms link.

    ``bandwidth_bps`` counts datagram (UDP payload) bits only; ``None`` is unlimited, with no
    queue.  ``queue_packets`` datagrams may wait behind the one being serialized; more are dropped
    (drop-tail).  ``mtu_bytes`` is the largest datagram (UDP payload) carried: an IPv4 path MTU of
    1500 is 1472.  A datagram that is on the link at any moment of a blackout window
    ``[start_us, end_us)`` is lost.  A reordered datagram arrives ``reorder_delay_us`` late; a
    corrupted one has one random byte flipped; a duplicated one arrives twice.
    """

    latency_us: int = 10_000
    bandwidth_bps: int | None = None
    queue_packets: int = 100
    loss_rate: float = 0.0
    duplicate_rate: float = 0.0
    reorder_rate: float = 0.0
    reorder_delay_us: int = 10_000
    corrupt_rate: float = 0.0
    mtu_bytes: int | None = None
    blackouts: tuple[tuple[int, int], ...] = ()
    ecn_ce_threshold: int | None = None  # queue length from which ECT datagrams are marked CE
    ecn_bleach: bool = False  # the link clears the ECN field to Not-ECT

    def __post_init__(self) -> None:
        if self.latency_us < 0 or self.reorder_delay_us < 0:
            raise ValueError("latency_us and reorder_delay_us cannot be negative")
        if self.bandwidth_bps is not None and self.bandwidth_bps <= 0:
            raise ValueError("bandwidth_bps must be positive (None for unlimited)")
        if self.queue_packets < 0:
            raise ValueError("queue_packets cannot be negative")
        if self.mtu_bytes is not None and self.mtu_bytes <= 0:
            raise ValueError("mtu_bytes must be positive (None for unlimited)")
        rates = (self.loss_rate, self.duplicate_rate, self.reorder_rate, self.corrupt_rate)
        if not all(0.0 <= rate <= 1.0 for rate in rates):
            raise ValueError("loss, duplicate, reorder and corrupt rates must be in [0, 1]")
        for start_us, end_us in self.blackouts:
            if not 0 <= start_us < end_us:
                raise ValueError(f"a blackout is (start_us, end_us) with start < end: {start_us}")


@dataclass(slots=True)
class LinkStats:
    """Counters of one direction of a path; ``sent_*`` counts every datagram handed to it."""

    sent_datagrams: int = 0
    sent_bytes: int = 0
    delivered_datagrams: int = 0  # duplicates included
    delivered_bytes: int = 0
    dropped_loss: int = 0
    dropped_queue: int = 0
    dropped_mtu: int = 0
    dropped_blackout: int = 0
    dropped_unroutable: int = 0
    duplicated: int = 0
    reordered: int = 0
    corrupted: int = 0
    ce_marked: int = 0  # ECT datagrams marked CE by the queue
    ecn_bleached: int = 0  # ECT or CE datagrams whose ECN field was cleared

    @property
    def dropped(self) -> int:
        """Datagrams dropped for any cause."""
        return (
            self.dropped_loss
            + self.dropped_queue
            + self.dropped_mtu
            + self.dropped_blackout
            + self.dropped_unroutable
        )


class SimulationError(RuntimeError):
    """A simulation run did not reach its goal; the message says why and when."""


class SimulationTimeLimit(SimulationError):
    """The next event lies past the run's virtual time limit."""


class SimulationEventLimit(SimulationError):
    """The run processed its maximum number of events (an endpoint may be spinning)."""


class SimulationStalled(SimulationError):
    """Nothing is in flight and no timer is set, yet the goal is not reached."""


@dataclass(slots=True)
class _Link:
    source: Hashable
    destination: Hashable
    conditions: LinkConditions
    stats: LinkStats = field(default_factory=LinkStats)
    busy_until_us: int = 0  # when the transmitter finishes the datagrams it has accepted
    waiting_starts_us: deque[int] = field(default_factory=deque)  # queued serialization starts


# A heap entry: (arrival_us, sequence, link, datagram, ECN codepoint); the unique sequence
# breaks ties.
_Delivery = tuple[int, int, _Link, bytes, int]


class SimulatedNetwork:
    """Endpoints, one-directional links between them, a virtual clock and an event heap."""

    def __init__(self, seed: int, *, conditions: LinkConditions | None = None) -> None:
        """``conditions`` applies to every link not set with :meth:`set_link`."""
        self._rng = random.Random(seed)
        self._default = conditions if conditions is not None else LinkConditions()
        self._now_us = 0
        self._endpoints: dict[Hashable, NetworkEndpoint] = {}
        self._links: dict[tuple[Hashable, Hashable], _Link] = {}
        self._heap: list[_Delivery] = []
        self._sequence = 0
        self.events_processed = 0  # deliveries and timer firings since creation

    @property
    def now_us(self) -> int:
        """The virtual time, in microseconds since the network was created."""
        return self._now_us

    @property
    def datagrams_in_flight(self) -> int:
        """Deliveries scheduled but not yet made."""
        return len(self._heap)

    # --- topology ---------------------------------------------------------------------------

    def add_endpoint(self, address: Hashable, endpoint: NetworkEndpoint) -> None:
        """Register ``endpoint``: it receives datagrams sent to ``address`` and sends from it."""
        if address in self._endpoints:
            raise ValueError(f"address {address!r} is already registered")
        self._endpoints[address] = endpoint

    def rebind(self, old_address: Hashable, new_address: Hashable) -> None:
        """Move an endpoint to ``new_address`` (a NAT rebinding or a new local address, RFC 9000
        §9): it sends from and receives at the new address; datagrams still in flight to the old
        one are dropped as unroutable.  Links from and to the new address get the old links'
        conditions."""
        if new_address in self._endpoints:
            raise ValueError(f"address {new_address!r} is already registered")
        self._endpoints[new_address] = self._endpoints.pop(old_address)
        for (source, destination), link in list(self._links.items()):
            if source == old_address:
                self._link(new_address, destination).conditions = link.conditions
            elif destination == old_address:
                self._link(source, new_address).conditions = link.conditions

    def set_link(self, source: Hashable, destination: Hashable, conditions: LinkConditions) -> None:
        """Shape the ``source`` -> ``destination`` direction from now on.

        Datagrams already in flight keep their fate; the link's queue and counters are kept.
        """
        self._link(source, destination).conditions = conditions

    def set_path(
        self,
        a: Hashable,
        b: Hashable,
        conditions: LinkConditions,
        reverse: LinkConditions | None = None,
    ) -> None:
        """Shape both directions: ``a`` -> ``b`` with ``conditions``, back with ``reverse``
        (default: the same)."""
        self.set_link(a, b, conditions)
        self.set_link(b, a, conditions if reverse is None else reverse)

    def stats(self, source: Hashable, destination: Hashable) -> LinkStats:
        """The live counters of the ``source`` -> ``destination`` direction."""
        return self._link(source, destination).stats

    def _link(self, source: Hashable, destination: Hashable) -> _Link:
        link = self._links.get((source, destination))
        if link is None:
            link = self._links[source, destination] = _Link(source, destination, self._default)
        return link

    # --- sending ----------------------------------------------------------------------------

    def inject(self, source: Hashable, destination: Hashable, data: bytes, ecn: int = 0) -> None:
        """Send ``data`` now as if ``source`` (registered or not) had sent it; for tests that
        forge or replay datagrams."""
        self._transmit(self._link(source, destination), bytes(data), ecn)

    def _transmit(self, link: _Link, data: bytes, ecn: int = 0) -> None:
        """Decide a datagram's fate on ``link`` and schedule its delivery (or not)."""
        stats, cond, now_us = link.stats, link.conditions, self._now_us
        size = len(data)
        stats.sent_datagrams += 1
        stats.sent_bytes += size
        if link.destination not in self._endpoints:
            stats.dropped_unroutable += 1
            return
        if cond.mtu_bytes is not None and size > cond.mtu_bytes:
            stats.dropped_mtu += 1
            return
        start_us = now_us
        transmit_us = 0
        if cond.bandwidth_bps is not None:
            waiting = link.waiting_starts_us
            while waiting and waiting[0] <= now_us:
                waiting.popleft()
            start_us = max(now_us, link.busy_until_us)
            if start_us > now_us:
                if len(waiting) >= cond.queue_packets:
                    stats.dropped_queue += 1
                    return
                ecn = _mark_ce(link, ecn, len(waiting))
                waiting.append(start_us)
            transmit_us = -(-size * 8 * _MICROSECONDS_PER_SECOND // cond.bandwidth_bps)
            link.busy_until_us = start_us + transmit_us
        arrival_us = start_us + transmit_us + cond.latency_us
        if cond.ecn_bleach and ecn:
            stats.ecn_bleached += 1
            ecn = 0
        self._shape(link, data, now_us, arrival_us, ecn)

    def _shape(self, link: _Link, data: bytes, sent_us: int, arrival_us: int, ecn: int) -> None:
        """Apply the random impairments (in a fixed order) and blackouts, then schedule."""
        stats, cond, rng = link.stats, link.conditions, self._rng
        if cond.loss_rate and rng.random() < cond.loss_rate:
            stats.dropped_loss += 1
            return
        copies = 1
        if cond.duplicate_rate and rng.random() < cond.duplicate_rate:
            stats.duplicated += 1
            copies = 2
        if cond.reorder_rate and rng.random() < cond.reorder_rate:
            stats.reordered += 1
            arrival_us += cond.reorder_delay_us
        if cond.corrupt_rate and data and rng.random() < cond.corrupt_rate:
            stats.corrupted += 1
            corrupted = bytearray(data)
            corrupted[rng.randrange(len(corrupted))] ^= rng.randrange(1, 256)
            data = bytes(corrupted)
        for start_us, end_us in cond.blackouts:
            if sent_us < end_us and arrival_us >= start_us:
                stats.dropped_blackout += 1
                return
        for _ in range(copies):
            self._sequence += 1
            heapq.heappush(self._heap, (arrival_us, self._sequence, link, data, ecn))

    def _collect(self, max_rounds: int) -> None:
        """Send what every endpoint has to send now; poll again those that sent something."""
        pending = list(self._endpoints.items())
        rounds = 0
        while pending:
            rounds += 1
            if rounds > max_rounds:
                names = ", ".join(repr(address) for address, _ in pending)
                raise SimulationEventLimit(
                    f"endpoints {names} still return datagrams after {max_rounds} polls at "
                    f"t={self._now_us} us"
                )
            busy = []
            for address, endpoint in pending:
                batch = endpoint.datagrams_to_send(self._now_us)
                if batch:
                    busy.append((address, endpoint))
                    ecn = getattr(endpoint, "ecn_codepoint", 0)  # one codepoint per batch
                    for data, destination in batch:
                        if type(data) is not bytes:
                            data = bytes(data)
                        self._transmit(self._link(address, destination), data, ecn)
            pending = busy

    # --- the event loop ---------------------------------------------------------------------

    def _next_event(self) -> tuple[int, Hashable | None] | None:
        """(time, timer owner) of the earliest event; the owner is None for a delivery."""
        best: tuple[int, Hashable | None] | None = (self._heap[0][0], None) if self._heap else None
        for address, endpoint in self._endpoints.items():
            timer_us = endpoint.next_timer_us()
            if timer_us is not None and (best is None or timer_us < best[0]):
                best = (timer_us, address)
        if best is not None and best[0] < self._now_us:
            best = (self._now_us, best[1])  # an overdue timer fires now
        return best

    def _process(self, when_us: int, owner: Hashable | None) -> None:
        self._now_us = when_us
        self.events_processed += 1
        if owner is None:
            _, _, link, data, ecn = heapq.heappop(self._heap)
            stats = link.stats
            endpoint = self._endpoints.get(link.destination)
            if endpoint is None:  # the destination was rebound meanwhile
                stats.dropped_unroutable += 1
                return
            stats.delivered_datagrams += 1
            stats.delivered_bytes += len(data)
            if ecn:
                endpoint.receive_datagram(data, link.source, when_us, ecn=ecn)  # type: ignore[call-arg]
            else:
                endpoint.receive_datagram(data, link.source, when_us)
        else:
            self._endpoints[owner].handle_timer(when_us)

    def run(
        self,
        until: Callable[[], bool],
        *,
        max_time_us: int = DEFAULT_MAX_TIME_US,
        max_events: int = DEFAULT_MAX_EVENTS,
    ) -> int:
        """Process events until ``until()`` is true; return the number of events processed.

        ``until`` is checked before the first event and after each one.  Raises
        :class:`SimulationTimeLimit` when the next event lies more than ``max_time_us`` past the
        clock at the call, :class:`SimulationEventLimit` after ``max_events`` events, and
        :class:`SimulationStalled` when nothing is left to happen.
        """
        deadline_us = self._now_us + max_time_us
        first_event = self.events_processed
        self._collect(max_events)
        while not until():
            done = self.events_processed - first_event
            if done >= max_events:
                raise SimulationEventLimit(
                    f"until() still false after {done} events at t={self._now_us} us"
                )
            event = self._next_event()
            if event is None:
                raise SimulationStalled(
                    f"until() still false at t={self._now_us} us, but no datagram is in flight "
                    "and no endpoint has a timer"
                )
            if event[0] > deadline_us:
                raise SimulationTimeLimit(
                    f"until() still false at t={self._now_us} us; the next event (t={event[0]} "
                    f"us) is past the limit of {max_time_us} us from the start of run()"
                )
            self._process(*event)
            self._collect(max_events)
        return self.events_processed - first_event

    def run_for(self, duration_us: int, *, max_events: int = DEFAULT_MAX_EVENTS) -> int:
        """Process every event due within ``duration_us``, then move the clock to its end.

        Returns the number of events processed; raises :class:`SimulationEventLimit` after
        ``max_events``.  Unlike :meth:`run`, an idle network is not an error.
        """
        if duration_us < 0:
            raise ValueError("duration_us cannot be negative")
        end_us = self._now_us + duration_us
        first_event = self.events_processed
        self._collect(max_events)
        while (event := self._next_event()) is not None and event[0] <= end_us:
            if self.events_processed - first_event >= max_events:
                raise SimulationEventLimit(
                    f"{max_events} events processed before t={end_us} us (now t={self._now_us})"
                )
            self._process(*event)
            self._collect(max_events)
        self._now_us = end_us
        return self.events_processed - first_event


_ECT1, _ECT0, _CE = 0b01, 0b10, 0b11  # RFC 3168 §5


def _mark_ce(link: _Link, ecn: int, queued: int) -> int:
    """RFC 3168 §5: an ECN-capable queue marks an ECT datagram CE instead of dropping it."""
    threshold = link.conditions.ecn_ce_threshold
    if threshold is None or ecn not in (_ECT0, _ECT1) or queued < threshold:
        return ecn
    link.stats.ce_marked += 1
    return _CE
