"""Issue 4's acceptance tests: bulk transfers between a real client and server on the simulated
network, under each impairment, verified byte for byte.

Every transfer test runs twice: 10 MB one way (client to server) over 100 concurrent streams of
100 KB, and 10 MB in each direction at once (each side opens 100 streams).  Each stream's data is
checked with SHA-256 at its receiver (:func:`sim_util.assert_intact`), and each test asserts what
recovery must have done under its condition.  Link conditions apply to both directions of the path
unless a test says otherwise; times are virtual (the network's clock), never the wall clock.
Each run has a fixed seed and limits of virtual time and events, so a broken transfer fails
instead of hanging.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sim_util import STREAM_COUNT, STREAM_SIZE, TransferResult, assert_intact, make_payloads
from sim_util import run_transfer as drive

from pyquic.core.connection import Connection, ConnectionState
from pyquic.core.levels import EncryptionLevel
from pyquic.testing.network import LinkConditions
from pyquic.testing.pair import ConnectionPair, connection_pair

PAYLOAD = STREAM_COUNT * STREAM_SIZE  # bytes per sending direction
LATENCY_US = 10_000  # one way: a 20 ms RTT
MAX_EVENTS = 200_000  # the heaviest run needs about 40,000
DIRECTIONS = pytest.mark.parametrize("both_ways", [False, True], ids=["one_way", "both_ways"])


def transfer(
    conditions: LinkConditions,
    both_ways: bool,
    *,
    seed: int,
    max_time_us: int = 20_000_000,
    on_start: Callable[[ConnectionPair], None] | None = None,
) -> tuple[ConnectionPair, TransferResult]:
    """Run the transfer on a new pair whose path has ``conditions`` in both directions."""
    pair = connection_pair(seed=seed, conditions=conditions)
    result = drive(
        pair,
        client_payloads=make_payloads(seed),
        server_payloads=make_payloads(seed + 1) if both_ways else [],
        max_time_us=max_time_us,
        max_events=MAX_EVENTS,
        on_start=on_start,
    )
    assert_intact(result)
    return pair, result


def senders(pair: ConnectionPair, both_ways: bool) -> list[Connection]:
    return [pair.client, pair.server] if both_ways else [pair.client]


def receivers(pair: ConnectionPair, both_ways: bool) -> list[Connection]:
    return [pair.server, pair.client] if both_ways else [pair.server]


def max_pto(result: TransferResult, conn: Connection, pair: ConnectionPair) -> int:
    return (result.client if conn is pair.client else result.server).max_pto_count


# --- the handshake -----------------------------------------------------------------------------


def test_handshake_completes_confirms_and_discards_keys() -> None:
    pair = connection_pair(seed=11, conditions=LinkConditions(latency_us=LATENCY_US))
    client, server = pair.client, pair.server

    def done() -> bool:
        return all(
            conn.handshake_confirmed
            and not conn.keys.can_send(EncryptionLevel.INITIAL)
            and not conn.keys.can_send(EncryptionLevel.HANDSHAKE)
            for conn in (client, server)
        )

    pair.run(done, max_time_us=1_000_000, max_events=1_000)
    for conn in (client, server):
        assert conn.state is ConnectionState.ESTABLISHED
        assert conn.handshake_confirmed  # the client's through HANDSHAKE_DONE (RFC 9001 §4.1.2)
        assert conn.keys.can_send(EncryptionLevel.APPLICATION)
        for level in (EncryptionLevel.INITIAL, EncryptionLevel.HANDSHAKE):
            assert conn.keys.is_discarded(level)  # RFC 9001 §4.9
        assert conn.stats.send_suspected_lost_packets == 0
        assert conn.loss.pto_count == 0
        assert conn.alpn == b"hq-interop"
    # the client is confirmed once HANDSHAKE_DONE arrived: 2 RTT after its first Initial
    assert pair.network.now_us <= 3 * 2 * LATENCY_US


def test_next_timer_is_a_query_without_side_effects() -> None:
    """An endpoint may ask for a connection's timer more than once (to arm a timer wheel after
    its own bookkeeping); a pacing deadline must survive being read."""
    pair = connection_pair(seed=12, conditions=LinkConditions(latency_us=LATENCY_US))
    mismatches: list[tuple[int | None, int | None]] = []

    def observe(pair: ConnectionPair) -> None:
        for conn in (pair.client, pair.server):
            first, second = conn.next_timer_us(), conn.next_timer_us()
            if first != second:
                mismatches.append((first, second))

    result = drive(
        pair,
        client_payloads=make_payloads(12, count=10),
        max_time_us=5_000_000,
        max_events=MAX_EVENTS,
        observe=observe,
    )
    assert_intact(result)
    assert mismatches == []


# --- the transfer matrix -----------------------------------------------------------------------


@DIRECTIONS
def test_clean_link(both_ways: bool) -> None:
    pair, result = transfer(LinkConditions(latency_us=LATENCY_US), both_ways, seed=21)
    for conn in senders(pair, both_ways):
        assert conn.stats.send_suspected_lost_packets == 0
        assert conn.stats.send_retransmitted_bytes == 0
        assert conn.stats.send_congestion_count == 0
        assert max_pto(result, conn, pair) == 0  # no PTO ever fired
    for link in (result.client_to_server, result.server_to_client):
        assert link.dropped == 0
    assert result.duration_us < 1_000_000


@DIRECTIONS
def test_five_percent_loss(both_ways: bool) -> None:
    conditions = LinkConditions(latency_us=LATENCY_US, loss_rate=0.05)
    pair, result = transfer(conditions, both_ways, seed=31, max_time_us=120_000_000)
    for conn in senders(pair, both_ways):
        assert conn.stats.send_suspected_lost_packets > 0
        assert conn.stats.send_retransmitted_bytes > 0
        assert conn.stats.send_congestion_count > 0
        # no reordering on this path: every loss declared was a real one
        assert conn.stats.send_spurious_lost_packets == 0
    assert result.client_to_server.dropped_loss > 0
    # A sane bound: half the rate the Mathis model gives a loss-based sender at p = 5%,
    # 1.22 * MSS / (RTT * sqrt(p)) = 2.6 Mbit/s for 1200-byte packets and a 20 ms RTT.
    assert result.goodput_bps(PAYLOAD) > 1_300_000


@DIRECTIONS
def test_one_percent_corruption(both_ways: bool) -> None:
    conditions = LinkConditions(latency_us=LATENCY_US, corrupt_rate=0.01)
    pair, result = transfer(conditions, both_ways, seed=41, max_time_us=60_000_000)
    corrupted_in = {
        pair.server: result.client_to_server.corrupted,
        pair.client: result.server_to_client.corrupted,
    }
    for conn in receivers(pair, both_ways):
        # corrupted packets fail authentication and are dropped, never fatal (RFC 9001 §5.5)
        assert 0 < conn.stats.recv_decryption_failures <= corrupted_in[conn]
    for conn in senders(pair, both_ways):
        assert conn.stats.send_suspected_lost_packets > 0  # and were sent again
    # the same sane bound as for loss, at p = 1%: 5.9 Mbit/s / 2
    assert result.goodput_bps(PAYLOAD) > 2_900_000


@DIRECTIONS
def test_ten_percent_reordering(both_ways: bool) -> None:
    # each reordered datagram arrives 10 ms (half an RTT) late
    conditions = LinkConditions(latency_us=LATENCY_US, reorder_rate=0.10)
    pair, result = transfer(conditions, both_ways, seed=51)
    assert result.client_to_server.reordered > 500
    for conn in senders(pair, both_ways):
        stats = conn.stats
        # the first spurious losses turn the packet threshold off and raise the time threshold
        # (RFC 9002 §6.1), and their congestion events are undone (RFC 9438 §4.9)
        assert stats.send_spurious_lost_packets <= 10
        assert stats.send_suspected_lost_packets <= 20
        assert stats.send_retransmitted_bytes <= PAYLOAD // 100
        assert conn.loss.packet_threshold > 3
    for conn in receivers(pair, both_ways):
        assert conn.stats.recv_decryption_failures == 0  # late packets still decode (§17.1)
        assert conn.stats.recv_duplicate_packets == 0  # nor are they refused as too old
    assert result.duration_us < 1_000_000


@DIRECTIONS
def test_200ms_rtt(both_ways: bool) -> None:
    pair, result = transfer(LinkConditions(latency_us=100_000), both_ways, seed=61)
    for conn in (pair.client, pair.server):
        assert abs(conn.rtt.smoothed_rtt_us - 200_000) <= 20_000
        assert conn.stats.send_suspected_lost_packets == 0
        assert max_pto(result, conn, pair) == 0
    assert result.duration_us < 10_000_000


@DIRECTIONS
def test_1mbps_bottleneck_with_a_25_packet_queue(both_ways: bool) -> None:
    """Both directions of the path are the bottleneck (for one way, ACKs use little of it)."""
    rate = 1_000_000
    conditions = LinkConditions(latency_us=LATENCY_US, bandwidth_bps=rate, queue_packets=25)
    pair, result = transfer(conditions, both_ways, seed=71, max_time_us=200_000_000)
    # goodput per direction: at least 80% of the link rate
    assert result.goodput_bps(PAYLOAD) >= 0.8 * rate
    assert result.client_to_server.dropped_queue > 0  # the queue overflowed...
    for conn in senders(pair, both_ways):
        assert conn.stats.send_suspected_lost_packets > 0  # ...and loss recovery saw it
        assert conn.stats.send_persistent_congestion_count == 0


@DIRECTIONS
def test_two_second_blackout(both_ways: bool) -> None:
    """Both directions go dark 200 ms into the transfer, for 2 s."""
    blackout: list[int] = []

    def schedule(pair: ConnectionPair) -> None:
        start = pair.network.now_us + 200_000
        blackout[:] = [start, start + 2_000_000]
        conditions = LinkConditions(latency_us=LATENCY_US, blackouts=((start, start + 2_000_000),))
        pair.network.set_path("client", "server", conditions)

    pair, result = transfer(
        LinkConditions(latency_us=LATENCY_US), both_ways, seed=81, on_start=schedule
    )
    start, end = blackout
    total = PAYLOAD * (2 if both_ways else 1)
    assert 0.05 * total < result.received_by(start) < 0.95 * total  # it hit mid-transfer
    assert result.received_between(start, end) == 0  # the transfer stalled...
    assert end < result.end_us <= end + 5_000_000  # ...and completed after the blackout
    for conn in senders(pair, both_ways):
        assert max_pto(result, conn, pair) >= 4  # PTOs fired, backing off (RFC 9002 §6.2.1)
        assert conn.stats.send_persistent_congestion_count >= 1  # RFC 9002 §7.6
        assert conn.stats.send_retransmitted_bytes > 0
    # a 2 s stall is far from the 30 s idle timeout: the driver saw no ConnectionTerminated
    for conn in (pair.client, pair.server):
        assert conn.state is ConnectionState.ESTABLISHED
