"""What an idle, confirmed connection keeps: no Initial or Handshake state, and little else.

RFC 9001 §4.9 discards the Initial and Handshake keys once they are no longer needed; the CRYPTO
buffers and recovery state of those levels go with them (RFC 9002 §6.4).  A server holds
thousands of idle connections, so the bytes each one keeps are bounded here as well, measured
with tracemalloc over many connections through the public endpoint API.
"""

from __future__ import annotations

import gc
import tracemalloc

import pytest
from endpoint_world import SERVER, World, make_world

from pyquic.core.connection import Connection
from pyquic.core.crypto_stream import CryptoStream
from pyquic.core.endpoint import Endpoint
from pyquic.core.events import ConnectionTerminated
from pyquic.core.levels import EncryptionLevel, PacketSpace
from pyquic.testing.certificates import TestPki, make_test_credentials
from pyquic.testing.pair import DEFAULT_EPOCH, connection_pair

_HANDSHAKE_LEVELS = (EncryptionLevel.INITIAL, EncryptionLevel.HANDSHAKE)
# Bytes of Python objects one idle client connection and its server connection keep together
# (both sides' core state and TLS sessions): about 39 KB, and 51 KB before the Initial and
# Handshake state was freed and the per-connection containers were made compact.
IDLE_PAIR_BUDGET_BYTES = 45_000
IDLE_CONNECTIONS = 30


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return make_test_credentials(now=DEFAULT_EPOCH)


def _assert_only_1rtt_state(conn: Connection) -> None:
    assert conn.handshake_confirmed
    # RFC 9001 §4.9.1, §4.9.2: the Initial and Handshake keys are gone ...
    assert conn.keys.levels_with_keys == (EncryptionLevel.APPLICATION,)
    for level in _HANDSHAKE_LEVELS:
        assert conn.keys.is_discarded(level)
        # ... and with them the CRYPTO buffers of those levels (nothing is kept allocated)
        stream = conn.crypto_streams[level]
        assert stream.discarded and not stream.holds_buffers
    # RFC 9002 §6.4: no packet of a discarded space is tracked any more
    assert conn.loss.unacked_packets(PacketSpace.INITIAL) == []
    assert conn.loss.unacked_packets(PacketSpace.HANDSHAKE) == []


def test_a_confirmed_connection_keeps_no_initial_or_handshake_state(pki: TestPki) -> None:
    pair = connection_pair(pki=pki)
    pair.run(lambda: pair.client.handshake_confirmed and pair.server.handshake_confirmed)
    pair.run_for(500_000)  # the last ACKs
    _assert_only_1rtt_state(pair.server)
    _assert_only_1rtt_state(pair.client)
    # the 1-RTT CRYPTO stream of the server was never used for receiving: no buffer made for it
    assert pair.server.crypto_streams[EncryptionLevel.APPLICATION].received_offset == 0


def test_crypto_buffers_are_made_on_use_and_freed_on_discard() -> None:
    stream = CryptoStream(EncryptionLevel.HANDSHAKE)
    assert not stream.holds_buffers and not stream.has_pending and stream.all_acked
    assert stream.next_chunk(100) is None
    stream.write(b"hello")
    assert stream.holds_buffers and stream.next_chunk(100) == (0, b"hello")
    assert stream.on_crypto_frame(0, b"abc") == b"abc"
    stream.discard()
    assert not stream.holds_buffers
    assert stream.on_crypto_frame(3, b"def") == b"" and not stream.holds_buffers


def _open_idle(world: World, addresses: list[str]) -> list[Connection]:
    clients = [
        world.clients[address].connect(SERVER, world.client_tls, world.network.now_us)
        for address in addresses
    ]
    world.network.run(lambda: all(conn.handshake_confirmed for conn in clients))
    world.network.run_for(500_000)  # the last ACKs
    for conn in (*clients, *world.server.connections):
        while conn.poll_event() is not None:
            pass
    while world.server.poll_event() is not None:
        pass
    return clients


def test_idle_connections_stay_within_a_memory_budget(pki: TestPki) -> None:
    addresses = [f"idle-{index}" for index in range(IDLE_CONNECTIONS + 2)]
    world = make_world(pki, clients=addresses)
    held = _open_idle(world, addresses[:2])  # warm up: imports, caches, the links' first use
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        held += _open_idle(world, addresses[2:])
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(world.server.connections) == len(held) == IDLE_CONNECTIONS + 2
    for conn in world.server.connections:
        _assert_only_1rtt_state(conn)
    per_pair = grown / IDLE_CONNECTIONS
    assert per_pair < IDLE_PAIR_BUDGET_BYTES, f"{per_pair:.0f} bytes per idle connection pair"


def test_stateless_resets_reach_each_connection_sharing_a_peer_address(pki: TestPki) -> None:
    """The endpoint indexes connections by peer address for reset detection (RFC 9000 §10.3.1)
    compactly, with a set only where several share one: both connections here do."""
    world = make_world(pki, clients=["shared"])
    endpoint: Endpoint = world.clients["shared"]
    conns = [endpoint.connect(SERVER, world.client_tls, 0) for _ in range(2)]
    world.network.run(lambda: all(conn.handshake_confirmed for conn in conns))
    restarted = world.restart_server()  # same static key, no connections: it answers resets
    for conn in conns:
        conn.send_stream(conn.open_stream(), b"after the restart", fin=True)
        endpoint.touch(conn)
    ended: dict[int, ConnectionTerminated] = {}

    def all_ended() -> bool:
        for index, conn in enumerate(conns):
            while (event := conn.poll_event()) is not None:
                if isinstance(event, ConnectionTerminated):
                    ended[index] = event
        return len(ended) == len(conns)

    world.network.run(all_ended)
    assert all(event.stateless_reset for event in ended.values())
    assert restarted.stats.stateless_resets_sent >= 2
    assert endpoint.stats.stateless_resets_received == 2
