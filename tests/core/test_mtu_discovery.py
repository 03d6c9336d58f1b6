"""DPLPMTUD (RFC 9000 §14.3, §14.4): the search on its own, then on the simulated network.

The search probes the largest size first (``maximum_mtu`` less the IP and UDP headers, capped by
the peer's ``max_udp_payload_size``), falls back to 80-byte steps after three lost probes, and
stops at the first size that fails.  On the simulated path the confirmed size must match what
the link carries, the data must arrive intact, and lost probes must not reduce the window.
"""

from __future__ import annotations

from sim_util import assert_intact, make_payloads
from sim_util import run_transfer as drive

from pyquic.core.mtu_discovery import (
    BASE_DATAGRAM_SIZE,
    PROBE_AFTER_BYTES,
    MtuSearch,
    SearchState,
    udp_payload_limit,
)
from pyquic.core.settings import Settings
from pyquic.testing.network import LinkConditions
from pyquic.testing.pair import ConnectionPair, connection_pair, pair_settings

NOW = 1_000_000
LINK = LinkConditions(latency_us=10_000)


def test_the_largest_size_is_tried_first_and_confirmed_at_once() -> None:
    search = MtuSearch()
    search.start("path", 1472, NOW)
    assert search.probe_size(NOW) == 1472
    search.on_probe_sent(1472)
    assert search.probe_size(NOW) is None  # one probe at a time
    assert search.on_probe_acked(1472, NOW)
    assert search.current == 1472 and search.state is SearchState.COMPLETE


def test_three_losses_fall_back_to_eighty_byte_steps_until_one_fails() -> None:
    search = MtuSearch(missing_probe_count=3)
    search.start("path", 1472, NOW)
    for _ in range(3):
        assert search.probe_size(NOW) == 1472
        search.on_probe_sent(1472)
        search.on_probe_lost(1472, NOW)
    assert search.probe_size(NOW) == BASE_DATAGRAM_SIZE + 80
    search.on_probe_sent(1280)
    assert search.on_probe_acked(1280, NOW)
    assert search.probe_size(NOW) == 1360
    for _ in range(3):
        search.on_probe_sent(1360)
        search.on_probe_lost(1360, NOW)
    assert search.state is SearchState.COMPLETE and search.current == 1280
    assert search.probe_size(NOW) is None


def test_a_complete_search_starts_again_after_its_timeout() -> None:
    search = MtuSearch(search_complete_timeout_us=600_000_000)
    search.start("path", 1472, NOW)
    for _ in range(3):
        search.on_probe_sent(1472)
        search.on_probe_lost(1472, NOW)
    for size in range(1280, 1472, 80):  # every step confirmed: 1280, 1360, 1440
        assert search.probe_size(NOW) == size
        search.on_probe_sent(size)
        search.on_probe_acked(size, NOW)
    assert search.state is SearchState.COMPLETE and search.current == 1440
    assert search.probe_size(NOW + 599_999_999) is None
    assert search.probe_size(NOW + 600_000_000) == 1472  # the path may carry more now


def test_a_new_search_forgets_the_old_probes() -> None:
    search = MtuSearch()
    search.start("old path", 1472, NOW)
    epoch = search.epoch
    search.start("new path", 1472, NOW)
    assert search.epoch == epoch + 1 and search.current == BASE_DATAGRAM_SIZE


def test_nothing_to_search_when_the_limit_is_the_base() -> None:
    search = MtuSearch()
    search.start("path", 1200, NOW)
    assert search.state is SearchState.COMPLETE and search.probe_size(NOW) is None


def test_udp_payload_limit_per_address_family() -> None:
    assert udp_payload_limit(1500, ("127.0.0.1", 443)) == 1472
    assert udp_payload_limit(1500, ("::1", 443, 0, 0)) == 1452


def _transfer(
    conditions: LinkConditions, seed: int, settings: Settings | None = None
) -> ConnectionPair:
    pair = connection_pair(
        seed=seed, conditions=conditions, client_settings=settings, server_settings=settings
    )
    result = drive(
        pair,
        client_payloads=make_payloads(seed, count=20),
        server_payloads=make_payloads(seed + 1, count=20),
        max_time_us=20_000_000,
        max_events=100_000,
    )
    assert_intact(result)
    return pair


def test_a_clean_path_reaches_the_largest_size() -> None:
    pair = _transfer(LINK, seed=41)
    for conn in (pair.client, pair.server):
        assert conn.stats.send_path_mtu == 1472  # maximum_mtu 1500 - 28 (IPv4 and UDP)
        assert conn.max_datagram_size == 1472
        assert conn.stats.send_congestion_count == 0
    assert pair.client_to_server.dropped == 0


def test_a_smaller_link_mtu_is_found_without_congestion_events() -> None:
    pair = _transfer(LinkConditions(latency_us=10_000, mtu_bytes=1350), seed=42)
    for conn in (pair.client, pair.server):
        assert conn.stats.send_path_mtu == 1280  # 1472 and 1360 fail, 1280 fits
        assert conn.stats.send_congestion_count == 0  # RFC 9000 §14.4: probe loss is not congestion
    assert pair.client_to_server.dropped_mtu >= 3 + 3


def test_maximum_mtu_caps_the_search() -> None:
    settings = pair_settings().merge(maximum_mtu=1400)
    pair = _transfer(LINK, seed=43, settings=settings)
    for conn in (pair.client, pair.server):
        assert conn.stats.send_path_mtu == 1372


def test_no_probe_until_a_larger_size_would_help() -> None:
    """RFC 8899 §5.2: the search may wait until a larger datagram would help.  A connection that
    only makes small requests (or answers, or acknowledges) pays for no 1,472-byte probe; once it
    has sent PROBE_AFTER_BYTES and still has stream data queued, it probes."""
    pair = connection_pair(seed=44, conditions=LINK)
    pair.run(lambda: pair.client.handshake_confirmed and pair.server.handshake_confirmed)
    for _ in range(3):
        pair.client.send_stream(pair.client.open_stream(), b"GET /small", fin=True)
        pair.run_for(500_000)
    for conn in (pair.client, pair.server):
        assert conn.stats.send_path_mtu == 0  # never probed: still the 1,200-byte base size
        assert conn.max_datagram_size == BASE_DATAGRAM_SIZE
    pair.client.send_stream(pair.client.open_stream(), bytes(2 * PROBE_AFTER_BYTES), fin=True)
    pair.run_for(1_000_000)
    assert pair.client.stats.send_path_mtu == 1472
    assert pair.server.stats.send_path_mtu == 0  # the server still has sent nothing in bulk
