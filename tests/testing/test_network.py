"""pyquic.testing.network: the simulated network, driven by tiny fake endpoints (not QUIC)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Hashable, Sequence

import pytest

from pyquic.testing import (
    LinkConditions,
    NetworkEndpoint,
    SimulatedNetwork,
    SimulationEventLimit,
    SimulationStalled,
    SimulationTimeLimit,
)

MS = 1_000


class Scripted:
    """Sends scripted datagrams at given virtual times (via its timer) and records arrivals."""

    def __init__(self, script: Sequence[tuple[int, bytes, Hashable]] = ()) -> None:
        self.script = deque(sorted(script, key=lambda item: item[0]))
        self.received: list[tuple[bytes, Hashable, int]] = []
        self.timer_calls: list[int] = []

    def receive_datagram(self, data: bytes, address: Hashable, now_us: int) -> None:
        self.received.append((data, address, now_us))

    def datagrams_to_send(self, now_us: int) -> list[tuple[bytes, Hashable]]:
        due = []
        while self.script and self.script[0][0] <= now_us:
            _, data, destination = self.script.popleft()
            due.append((data, destination))
        return due

    def next_timer_us(self) -> int | None:
        return self.script[0][0] if self.script else None

    def handle_timer(self, now_us: int) -> None:
        self.timer_calls.append(now_us)

    def arrival_times(self) -> list[int]:
        return [at for _, _, at in self.received]


class Timers:
    """Fires a fixed list of timers (or repeats one forever) and records when."""

    def __init__(self, times_us: Sequence[int], period_us: int | None = None) -> None:
        self.pending = list(times_us)
        self.period_us = period_us
        self.fired: list[int] = []

    def receive_datagram(self, data: bytes, address: Hashable, now_us: int) -> None:
        raise AssertionError("no datagram expected")

    def datagrams_to_send(self, now_us: int) -> list[tuple[bytes, Hashable]]:
        return []

    def next_timer_us(self) -> int | None:
        return self.pending[0] if self.pending else None

    def handle_timer(self, now_us: int) -> None:
        self.fired.append(now_us)
        if self.pending and self.pending[0] <= now_us:
            first = self.pending.pop(0)
            if self.period_us is not None:
                self.pending.append(first + self.period_us)


class Window:
    """A sender keeping ``window`` datagrams in flight, clocked by one-byte acks."""

    def __init__(self, total: int, size: int, window: int) -> None:
        self.remaining, self.size, self.credit = total, size, window
        self.payload = bytes(size)

    def receive_datagram(self, data: bytes, address: Hashable, now_us: int) -> None:
        self.credit += 1

    def datagrams_to_send(self, now_us: int) -> list[tuple[bytes, Hashable]]:
        count = min(self.credit, self.remaining)
        self.credit -= count
        self.remaining -= count
        return [(self.payload, "receiver")] * count

    def next_timer_us(self) -> int | None:
        return None

    def handle_timer(self, now_us: int) -> None:
        raise AssertionError("no timer expected")


class Acker:
    """Acknowledges every datagram with one byte."""

    def __init__(self) -> None:
        self.bytes_received = 0
        self.owed = 0

    def receive_datagram(self, data: bytes, address: Hashable, now_us: int) -> None:
        self.bytes_received += len(data)
        self.owed += 1

    def datagrams_to_send(self, now_us: int) -> list[tuple[bytes, Hashable]]:
        acks: list[tuple[bytes, Hashable]] = [(b"a", "sender")] * self.owed
        self.owed = 0
        return acks

    def next_timer_us(self) -> int | None:
        return None

    def handle_timer(self, now_us: int) -> None:
        raise AssertionError("no timer expected")


def pair(
    conditions: LinkConditions, script: Sequence[tuple[int, bytes, Hashable]], seed: int = 1
) -> tuple[SimulatedNetwork, Scripted, Scripted]:
    network = SimulatedNetwork(seed, conditions=conditions)
    a, b = Scripted(script), Scripted()
    network.add_endpoint("a", a)
    network.add_endpoint("b", b)
    return network, a, b


def drain(network: SimulatedNetwork, *endpoints: Scripted) -> None:
    network.run(
        lambda: network.datagrams_in_flight == 0 and not any(e.script for e in endpoints),
        max_time_us=600_000_000,
    )


def numbered(count: int, every_us: int, size: int = 100) -> list[tuple[int, bytes, Hashable]]:
    return [(i * every_us, i.to_bytes(4, "big") * (size // 4), "b") for i in range(count)]


def test_fakes_satisfy_the_endpoint_protocol() -> None:
    endpoints: list[NetworkEndpoint] = [Scripted(), Timers([]), Window(1, 1, 1), Acker()]
    assert len(endpoints) == 4


def test_latency_is_exact_and_source_is_the_senders_address() -> None:
    network, a, b = pair(LinkConditions(latency_us=7 * MS), [(0, b"x", "b"), (5 * MS, b"y", "b")])
    drain(network, a)
    assert b.received == [(b"x", "a", 7 * MS), (b"y", "a", 12 * MS)]
    assert a.timer_calls == [5 * MS]  # the timer that released "y" fired exactly on time
    stats = network.stats("a", "b")
    assert (stats.sent_datagrams, stats.delivered_datagrams, stats.dropped) == (2, 2, 0)
    assert (stats.sent_bytes, stats.delivered_bytes) == (2, 2)
    assert network.now_us == 12 * MS


def test_links_are_per_direction() -> None:
    network, a, b = pair(LinkConditions(latency_us=1 * MS), [(0, b"x", "b")])
    b.script.append((0, b"y", "a"))
    network.set_path("a", "b", LinkConditions(latency_us=3 * MS), LinkConditions(latency_us=9 * MS))
    drain(network, a, b)
    assert b.arrival_times() == [3 * MS]
    assert a.arrival_times() == [9 * MS]


def test_bandwidth_serializes_datagrams_back_to_back() -> None:
    # 1250 bytes = 10 000 bits = 10 ms at 1 Mbit/s
    conditions = LinkConditions(latency_us=1 * MS, bandwidth_bps=1_000_000)
    network, a, b = pair(conditions, [(0, bytes(1250), "b")] * 4)
    drain(network, a)
    assert b.arrival_times() == [11 * MS, 21 * MS, 31 * MS, 41 * MS]


def test_serialization_delay_rounds_up_to_the_microsecond() -> None:
    conditions = LinkConditions(latency_us=0, bandwidth_bps=3)
    network, a, b = pair(conditions, [(0, b"z", "b")])
    drain(network, a)
    assert b.arrival_times() == [2_666_667]  # 8 bits / 3 bit/s


def test_full_queue_drops_the_tail_and_drains_on_time() -> None:
    conditions = LinkConditions(latency_us=1 * MS, bandwidth_bps=1_000_000, queue_packets=2)
    script = [(0, bytes([i]) * 1250, "b") for i in range(5)] + [(25 * MS, b"\x09" * 1250, "b")]
    network, a, b = pair(conditions, script)
    drain(network, a)
    # one datagram on the wire, two queued, two dropped; at 25 ms both queued ones have started
    assert [data[0] for data, _, _ in b.received] == [0, 1, 2, 9]
    assert b.arrival_times() == [11 * MS, 21 * MS, 31 * MS, 41 * MS]
    assert network.stats("a", "b").dropped_queue == 2


def test_zero_queue_accepts_only_when_idle() -> None:
    conditions = LinkConditions(latency_us=0, bandwidth_bps=8_000_000, queue_packets=0)
    network, a, b = pair(conditions, [(0, bytes(1000), "b")] * 3 + [(1 * MS, bytes(1000), "b")])
    drain(network, a)
    assert b.arrival_times() == [1 * MS, 2 * MS]
    assert network.stats("a", "b").dropped_queue == 2


def run_impaired(conditions: LinkConditions, seed: int, count: int = 10_000) -> Scripted:
    network, a, b = pair(conditions, numbered(count, 1 * MS), seed=seed)
    drain(network, a)
    return b


def test_loss_rate_is_statistically_right_and_deterministic() -> None:
    conditions = LinkConditions(latency_us=5 * MS, loss_rate=0.1)
    network, a, b = pair(conditions, numbered(10_000, 1 * MS), seed=7)
    drain(network, a)
    stats = network.stats("a", "b")
    assert 900 <= stats.dropped_loss <= 1100  # mean 1000, sd 30
    assert stats.delivered_datagrams + stats.dropped_loss == stats.sent_datagrams == 10_000
    assert b.received == run_impaired(conditions, seed=7).received
    assert b.received != run_impaired(conditions, seed=8).received


def test_duplicates_arrive_twice_at_the_same_time() -> None:
    conditions = LinkConditions(latency_us=5 * MS, duplicate_rate=0.2)
    network, a, b = pair(conditions, numbered(5_000, 1 * MS), seed=3)
    drain(network, a)
    stats = network.stats("a", "b")
    assert 900 <= stats.duplicated <= 1100  # mean 1000, sd 28
    assert stats.delivered_datagrams == 5_000 + stats.duplicated
    pairs = sum(1 for x, y in zip(b.received, b.received[1:], strict=False) if x == y)
    assert pairs == stats.duplicated


def test_reordered_datagrams_arrive_late_by_the_reorder_delay() -> None:
    conditions = LinkConditions(latency_us=5 * MS, reorder_rate=0.05, reorder_delay_us=20 * MS)
    network, a, b = pair(conditions, numbered(10_000, 1 * MS), seed=11)
    drain(network, a)
    stats = network.stats("a", "b")
    assert 420 <= stats.reordered <= 580  # mean 500, sd 22
    late = 0
    for data, _, at_us in b.received:
        sent_us = int.from_bytes(data[:4], "big") * MS
        assert at_us - sent_us in (5 * MS, 25 * MS)
        late += at_us - sent_us == 25 * MS
    assert late == stats.reordered
    sequence = [int.from_bytes(data[:4], "big") for data, _, _ in b.received]
    assert sequence != sorted(sequence) and sorted(sequence) == list(range(10_000))


def test_corruption_flips_exactly_one_byte_of_a_copy() -> None:
    conditions = LinkConditions(latency_us=5 * MS, corrupt_rate=0.1)
    script = numbered(5_000, 1 * MS)
    originals = {at_us // MS: data for at_us, data, _ in script}
    network, a, b = pair(conditions, script, seed=5)
    drain(network, a)
    stats = network.stats("a", "b")
    assert 430 <= stats.corrupted <= 570  # mean 500, sd 21
    damaged = 0
    for data, _, at_us in b.received:
        original = originals[at_us // MS - 5]
        differing = sum(1 for x, y in zip(data, original, strict=True) if x != y)
        assert differing in (0, 1)
        damaged += differing
    assert damaged == stats.corrupted
    assert all(data == originals[i] for i, data in enumerate(d for _, d, _ in script))


def test_mtu_drops_larger_datagrams() -> None:
    conditions = LinkConditions(latency_us=1 * MS, mtu_bytes=1200)
    network, a, b = pair(conditions, [(0, bytes(1200), "b"), (0, bytes(1201), "b")])
    drain(network, a)
    assert [len(data) for data, _, _ in b.received] == [1200]
    assert network.stats("a", "b").dropped_mtu == 1


def test_blackout_drops_everything_on_the_link_during_the_window() -> None:
    window = (100 * MS, 200 * MS)
    conditions = LinkConditions(latency_us=10 * MS, blackouts=(window,))
    network, a, b = pair(conditions, numbered(31, 10 * MS))
    drain(network, a)
    sent_ms = [int.from_bytes(data[:4], "big") * 10 for data, _, _ in b.received]
    # sent at 90 ms: arrives at 100 ms, inside; sent at 190 ms: sent inside; 200 ms: after it
    assert sent_ms == [*range(0, 90, 10), *range(200, 310, 10)]
    assert network.stats("a", "b").dropped_blackout == 11


def test_unregistered_destination_is_unroutable() -> None:
    network, a, b = pair(LinkConditions(), [(0, b"x", "nobody")])
    drain(network, a)
    assert network.stats("a", "nobody").dropped_unroutable == 1
    assert b.received == []


def test_inject_goes_through_the_link_from_any_source() -> None:
    network, a, b = pair(LinkConditions(latency_us=2 * MS), [])
    network.set_link("attacker", "b", LinkConditions(latency_us=4 * MS))
    network.inject("attacker", "b", b"forged")
    drain(network, a)
    assert b.received == [(b"forged", "attacker", 4 * MS)]


def test_timers_fire_at_their_virtual_times() -> None:
    network = SimulatedNetwork(0)
    timers = Timers([1_500, 40_000, 40_000, 3_000_000])
    network.add_endpoint("t", timers)
    events = network.run(lambda: not timers.pending)
    assert timers.fired == [1_500, 40_000, 40_000, 3_000_000]
    assert events == 4 and network.now_us == 3_000_000


def test_overdue_timer_fires_now() -> None:
    network = SimulatedNetwork(0)
    network.run_for(10_000)
    timers = Timers([2_000])
    network.add_endpoint("t", timers)
    network.run(lambda: not timers.pending)
    assert timers.fired == [10_000]


def test_deliveries_come_before_timers_at_the_same_time() -> None:
    order: list[str] = []

    class Both(Scripted):
        def receive_datagram(self, data: bytes, address: Hashable, now_us: int) -> None:
            order.append(f"rx@{now_us}")

        def next_timer_us(self) -> int | None:
            return 5 * MS if not order or order[-1] != "timer" else None

        def handle_timer(self, now_us: int) -> None:
            order.append("timer")

    network = SimulatedNetwork(0, conditions=LinkConditions(latency_us=5 * MS))
    network.add_endpoint("a", Scripted([(0, b"x", "b")]))
    network.add_endpoint("b", Both())
    network.run(lambda: "timer" in order)
    assert order == ["rx@5000", "timer"]


def test_until_is_checked_before_the_first_event() -> None:
    network, _, _ = pair(LinkConditions(), [(0, b"x", "b")])
    assert network.run(lambda: True) == 0
    assert network.datagrams_in_flight == 1  # datagrams due now were collected


def test_time_limit_raises_instead_of_hanging() -> None:
    network = SimulatedNetwork(0)
    network.add_endpoint("t", Timers([1_000_000], period_us=1_000_000))
    with pytest.raises(SimulationTimeLimit, match="5000000 us"):
        network.run(lambda: False, max_time_us=5_000_000)
    assert network.now_us == 5_000_000


def test_event_limit_catches_a_timer_that_never_advances() -> None:
    class Stuck(Timers):
        def handle_timer(self, now_us: int) -> None:
            self.fired.append(now_us)

    network = SimulatedNetwork(0)
    network.add_endpoint("t", Stuck([10]))
    with pytest.raises(SimulationEventLimit, match="1000 events"):
        network.run(lambda: False, max_events=1_000)
    assert network.now_us == 10


def test_event_limit_catches_an_endpoint_that_always_sends() -> None:
    class Chatty(Scripted):
        def datagrams_to_send(self, now_us: int) -> list[tuple[bytes, Hashable]]:
            return [(b"!", "b")]

    network = SimulatedNetwork(0)
    network.add_endpoint("a", Chatty())
    network.add_endpoint("b", Scripted())
    with pytest.raises(SimulationEventLimit, match="'a'"):
        network.run(lambda: False, max_events=50)


def test_idle_network_is_reported_as_stalled() -> None:
    network, _, b = pair(LinkConditions(latency_us=1 * MS), [(0, b"x", "b")])
    with pytest.raises(SimulationStalled, match="t=1000 us"):
        network.run(lambda: False)
    assert b.arrival_times() == [1 * MS]


def test_run_for_processes_due_events_and_moves_the_clock() -> None:
    network, _, b = pair(LinkConditions(latency_us=1 * MS), numbered(5, 1 * MS))
    # three deliveries (1, 2, 3 ms); each releases the next datagram, so no timer is left to fire
    assert network.run_for(3_500) == 3
    assert b.arrival_times() == [1 * MS, 2 * MS, 3 * MS]
    assert network.now_us == 3_500
    network.run_for(1_000_000)
    assert len(b.received) == 5 and network.now_us == 1_003_500


def test_conditions_are_validated() -> None:
    with pytest.raises(ValueError, match="rates"):
        LinkConditions(loss_rate=1.5)
    with pytest.raises(ValueError, match="bandwidth"):
        LinkConditions(bandwidth_bps=0)
    with pytest.raises(ValueError, match="blackout"):
        LinkConditions(blackouts=((5, 5),))
    with pytest.raises(ValueError, match="negative"):
        LinkConditions(latency_us=-1)
    network = SimulatedNetwork(0)
    network.add_endpoint("a", Scripted())
    with pytest.raises(ValueError, match="already registered"):
        network.add_endpoint("a", Scripted())


def test_ten_megabytes_cost_little_network_time() -> None:
    total = 10 * 1024 * 1024 // 1200 + 1
    network = SimulatedNetwork(1, conditions=LinkConditions(latency_us=10 * MS))
    network.set_link("sender", "receiver", LinkConditions(latency_us=10 * MS, bandwidth_bps=10**9))
    sender, receiver = Window(total, 1200, 64), Acker()
    network.add_endpoint("sender", sender)
    network.add_endpoint("receiver", receiver)
    started = time.perf_counter()
    network.run(lambda: receiver.bytes_received == total * 1200)
    elapsed = time.perf_counter() - started
    assert network.stats("sender", "receiver").delivered_datagrams == total
    assert elapsed < 3.0, f"{elapsed:.2f} s for 10 MB"
