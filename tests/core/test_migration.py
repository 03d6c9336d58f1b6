"""Path validation (RFC 9000 §8.2) and connection migration (RFC 9000 §9) on the simulated network.

The client's address is its network address: :meth:`SimulatedNetwork.rebind` moves it (a NAT
rebinding, or a new local address before :meth:`Connection.migrate`).  Transfers are checked byte
for byte with SHA-256 (:func:`sim_util.assert_intact`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import pytest
from endpoint_world import (
    CLIENTS,
    EchoServer,
    make_world,
    run_echo,
    server_conn_of,
    start_clients,
)
from sim_util import TransferResult, assert_intact, make_payloads, run_transfer

from pyquic.core.paths import AMPLIFICATION_FACTOR, MigrationError, offer_preferred_address
from pyquic.core.settings import Settings
from pyquic.testing.certificates import make_test_credentials
from pyquic.testing.network import LinkConditions
from pyquic.testing.pair import DEFAULT_EPOCH, ConnectionPair, connection_pair

CONDITIONS = LinkConditions(latency_us=10_000, bandwidth_bps=50_000_000)
STREAMS, SIZE = 8, 100_000
THRESHOLD = 200_000  # stream bytes the server received before the path changes


def _transfer(
    pair: ConnectionPair, seed: int, act: Callable[[ConnectionPair], None]
) -> TransferResult:
    """Both ways at once; ``act(pair)`` runs once, when the server has received THRESHOLD
    bytes, and the transfer must still complete intact."""
    done = False

    def observe(p: ConnectionPair) -> None:
        nonlocal done
        if not done and p.server.stats.recv_total_bytes >= THRESHOLD:
            done = True
            act(p)

    result = run_transfer(
        pair,
        client_payloads=make_payloads(seed, STREAMS, SIZE),
        server_payloads=make_payloads(seed + 1, STREAMS, SIZE),
        max_time_us=30_000_000,
        max_events=200_000,
        observe=observe,
    )
    assert done
    assert_intact(result)
    return result


def _check_amplification(p: ConnectionPair) -> None:
    """RFC 9000 §9.3: at most three times the bytes received on an unvalidated path."""
    path = p.server.paths.active
    if not path.validated:
        assert path.bytes_sent <= AMPLIFICATION_FACTOR * path.bytes_received


def test_nat_rebinding_mid_transfer() -> None:
    pair = connection_pair(seed=11, conditions=CONDITIONS)
    old_cid = b""

    def rebind(p: ConnectionPair) -> None:
        nonlocal old_cid
        assert p.server.peer_cids is not None
        old_cid = p.server.peer_cids.current
        p.network.rebind("client", "client-nat")

    _transfer(pair, 11, rebind)
    server = pair.server
    # RFC 9000 §9.3: the server moved to the new address and validated it with PATH_CHALLENGE
    assert server.peer_address == "client-nat"
    assert server.paths.active.validated
    assert server.paths.validations >= 1
    assert server.paths.active.challenges == []
    # RFC 9000 §9.5: the client kept its CID, so the server may keep its own
    assert server.peer_cids is not None and server.peer_cids.current == old_cid
    # RFC 9000 §9.3.3: the old path was challenged again; it is gone, so that fails (§8.2.4)
    assert server.paths.other is not None and server.paths.other.address == "client"
    pair.run_for(3_000_000)
    assert server.paths.other is None


def test_client_migration_switches_connection_ids() -> None:
    pair = connection_pair(seed=12, conditions=CONDITIONS)
    before: dict[str, bytes] = {}

    def migrate(p: ConnectionPair) -> None:
        assert p.client.peer_cids is not None and p.server.peer_cids is not None
        before["client"] = p.client.peer_cids.current
        before["server"] = p.server.peer_cids.current
        p.network.rebind("client", "client-2")
        p.client.migrate(p.network.now_us)
        assert p.client.peer_cids.current != before["client"]  # RFC 9000 §9.5
        assert not p.client.paths.active.validated

    _transfer(pair, 12, migrate)
    client, server = pair.client, pair.server
    assert client.paths.active.validated  # the client's PATH_CHALLENGE was answered
    assert server.peer_address == "client-2"
    assert server.paths.active.validated
    # RFC 9000 §9.5: the server saw a new DCID and moved to a new CID of the client's as well
    assert server.peer_cids is not None and server.peer_cids.current != before["server"]
    assert server.local_cids.is_local(client.peer_cids.current if client.peer_cids else b"")


def test_unvalidated_path_is_limited_to_three_times() -> None:
    pair = connection_pair(seed=13, conditions=CONDITIONS)

    def rebind(p: ConnectionPair) -> None:
        p.network.rebind("client", "client-nat")

    done = False

    def observe(p: ConnectionPair) -> None:
        nonlocal done
        _check_amplification(p)
        if not done and p.server.stats.recv_total_bytes >= 20_000:
            done = True
            rebind(p)

    result = run_transfer(
        pair,
        client_payloads=make_payloads(13, 2, 20_000),  # little from the client: the limit bites
        server_payloads=make_payloads(14, STREAMS, SIZE),
        max_time_us=30_000_000,
        max_events=200_000,
        observe=observe,
    )
    assert done
    assert_intact(result)
    assert pair.server.peer_address == "client-nat"
    assert pair.server.paths.active.validated


def test_forwarded_packets_do_not_hijack_the_connection() -> None:
    """RFC 9000 §9.3.2, §9.3.3: an attacker forwards copies of genuine packets from its address,
    ahead of the genuine ones; the server moves, but the attacker cannot answer the challenge and
    the next genuine packet from the old address moves the connection back."""
    pair = connection_pair(seed=14, conditions=CONDITIONS)
    forwarded = 0
    moved = False

    def forward(p: ConnectionPair) -> None:
        nonlocal forwarded, moved
        moved |= p.server.peer_address == "attacker"
        _check_amplification(p)
        if forwarded >= 2000 or p.server.stats.recv_total_bytes < THRESHOLD:
            return
        # the attacker's copies arrive first: the genuine ones would be duplicates (dropped here)
        for data, _ in p.client.datagrams_to_send(p.network.now_us)[:2]:
            p.network.inject("attacker", "server", data)
            forwarded += len(data)

    result = run_transfer(
        pair,
        client_payloads=make_payloads(14, STREAMS, SIZE),
        server_payloads=make_payloads(15, STREAMS, SIZE),
        max_time_us=30_000_000,
        max_events=200_000,
        observe=forward,
    )
    assert_intact(result)
    server = pair.server
    assert forwarded > 0
    assert moved  # the copies looked like a NAT rebinding (§9.3.3)
    # the next genuine packet from the client's address moves the server back at once, long
    # before the attacker's path could fail validation (the copies may have been the last)
    stream_id = pair.client.open_stream(bidirectional=False)
    pair.client.send_stream(stream_id, b"still here", fin=True)
    pair.run_for(50_000)
    assert server.peer_address == "client"
    assert server.paths.active.validated
    attacker = pair.network.stats("server", "attacker")
    assert attacker.sent_bytes <= AMPLIFICATION_FACTOR * forwarded  # §8.2.1, §9.3
    # RFC 9000 §8.2.4: the attacker never answers, so its path's validation fails
    pair.run_for(4_000_000)
    assert server.paths.other is None
    assert server.peer_address == "client"


def test_migrate_refused_when_the_peer_disabled_it() -> None:
    server_settings = Settings(
        peer_bidi_stream_count=100, peer_unidi_stream_count=100, migration_enabled=False
    )
    pair = connection_pair(seed=15, server_settings=server_settings)
    pair.run(lambda: pair.client.handshake_confirmed and pair.server.handshake_confirmed)
    with pytest.raises(MigrationError, match="disable_active_migration"):
        pair.client.migrate(pair.network.now_us)


def test_migrate_refused_without_an_unused_connection_id() -> None:
    client_settings = Settings(
        peer_bidi_stream_count=100, peer_unidi_stream_count=100, active_connection_id_limit=2
    )
    pair = connection_pair(seed=16, client_settings=client_settings)
    pair.run(
        lambda: (
            pair.client.peer_cids is not None
            and pair.client.handshake_confirmed
            and pair.client.peer_cids.unused_count == 1
        )
    )
    pair.client.migrate(pair.network.now_us)
    with pytest.raises(MigrationError, match="no unused"):
        pair.client.migrate(pair.network.now_us)


def test_migrate_refused_before_the_handshake() -> None:
    pair = connection_pair(seed=17)
    with pytest.raises(MigrationError, match="handshake"):
        pair.client.migrate(0)


def test_endpoint_routes_by_cid_after_the_client_migrates() -> None:
    """RFC 9000 §9, §5.1: the endpoints route by connection ID, so an echo survives the client
    moving to a new address and a new CID mid-transfer."""
    world = make_world(
        make_test_credentials(now=DEFAULT_EPOCH), clients=CLIENTS[:1], conditions=CONDITIONS
    )
    echo = EchoServer(world)
    (client,) = start_clients(world)
    moved = False

    def on_step() -> None:
        nonlocal moved
        if not moved and echo.conns and echo.conns[0].stats.recv_total_bytes > 20_000:
            moved = True
            world.network.rebind(CLIENTS[0], "moved")
            client.conn.migrate(world.network.now_us)
            client.endpoint.touch(client.conn)

    run_echo(world, [client], echo, on_step=on_step)
    assert moved
    client.assert_intact()
    server_conn = server_conn_of(echo, client)
    assert server_conn.peer_address == "moved"
    assert server_conn.paths.active.validated
    assert client.conn.paths.active.validated


class _Forwarder:
    """The server's preferred address on the network: what arrives there reaches the server
    connection (which answers from its one registered address)."""

    def __init__(self, pair: ConnectionPair) -> None:
        self.pair = pair
        self.received = 0

    def receive_datagram(self, data: bytes, address: Hashable, now_us: int, /) -> None:
        self.received += 1
        self.pair.server.receive_datagram(data, address, now_us)

    def datagrams_to_send(self, now_us: int, /) -> list[tuple[bytes, Hashable]]:
        return []

    def next_timer_us(self) -> int | None:
        return None

    def handle_timer(self, now_us: int, /) -> None:
        pass


PREFERRED = ("192.0.2.7", 4433)


@pytest.mark.parametrize("reachable", [True, False], ids=["reachable", "unreachable"])
def test_client_moves_to_the_preferred_address(reachable: bool) -> None:
    """RFC 9000 §9.6: the client validates the server's preferred address after the handshake
    and moves there with the CID of the preferred_address parameter; an unreachable one fails
    validation (§8.2.4) and the client stays on the original address."""
    pair = connection_pair(seed=21, conditions=CONDITIONS)
    offer_preferred_address(pair.server, ipv4=PREFERRED)
    forwarder = _Forwarder(pair)
    if reachable:
        pair.network.add_endpoint(PREFERRED, forwarder)
    result = run_transfer(
        pair,
        client_payloads=make_payloads(21, 4, 50_000),
        server_payloads=make_payloads(22, 4, 50_000),
        max_time_us=30_000_000,
        max_events=200_000,
    )
    assert_intact(result)
    pair.run_for(2_000_000)  # let a failing validation time out
    client = pair.client
    params = client.peer_parameters
    assert params is not None and params.preferred_address is not None
    assert client.peer_cids is not None
    if reachable:
        assert client.peer_address == PREFERRED
        assert client.paths.active.validated
        assert client.peer_cids.current == params.preferred_address.connection_id
        assert forwarder.received > 0
    else:
        assert pair.network.stats("client", PREFERRED).dropped_unroutable > 0  # it was tried
        assert client.peer_address == "server"
        assert client.paths.active.validated
        assert client.paths.other is None


def test_no_preferred_address_move_when_migration_is_disabled() -> None:
    settings = Settings(
        peer_bidi_stream_count=100, peer_unidi_stream_count=100, migration_enabled=False
    )
    pair = connection_pair(seed=23, client_settings=settings)
    offer_preferred_address(pair.server, ipv4=PREFERRED)
    pair.run(lambda: pair.client.handshake_confirmed)
    assert pair.client.peer_address == "server"
    assert not pair.client.paths.rebind_requested


class _ViaPreferred:
    """The server's second socket as the platform's binding models it: what reaches PREFERRED
    arrives at the server connection from ``("via", source)``, another path for it (a path is
    the 4-tuple); registered at ``("via", peer)`` too (``answers``), it sends what the server
    sends there on to ``peer`` from PREFERRED."""

    def __init__(self, pair: ConnectionPair, *, answers: Hashable | None = None) -> None:
        self.pair = pair
        self.answers = answers

    def receive_datagram(self, data: bytes, address: Hashable, now_us: int, /) -> None:
        if self.answers is not None:
            self.pair.network.inject(PREFERRED, self.answers, data)
        else:
            self.pair.server.receive_datagram(data, ("via", address), now_us)

    def datagrams_to_send(self, now_us: int, /) -> list[tuple[bytes, Hashable]]:
        return []

    def next_timer_us(self) -> int | None:
        return None

    def handle_timer(self, now_us: int, /) -> None:
        pass


def test_the_server_validates_the_path_through_its_preferred_address() -> None:
    """RFC 9000 §9.6.1, §9.3: through its preferred address the server sees a new path, moves
    to it and validates it; the client uses the preferred_address's CID there (§9.5) and asks
    its platform for a new local address."""
    pair = connection_pair(seed=24, conditions=CONDITIONS)
    offer_preferred_address(pair.server, ipv4=PREFERRED)
    pair.network.add_endpoint(PREFERRED, _ViaPreferred(pair))
    pair.network.add_endpoint(("via", "client"), _ViaPreferred(pair, answers="client"))
    result = run_transfer(
        pair,
        client_payloads=make_payloads(24, 4, 50_000),
        server_payloads=make_payloads(25, 4, 50_000),
        max_time_us=30_000_000,
        max_events=200_000,
    )
    assert_intact(result)
    client, server = pair.client, pair.server
    params = client.peer_parameters
    assert params is not None and params.preferred_address is not None
    assert client.peer_cids is not None
    assert client.peer_cids.current == params.preferred_address.connection_id
    assert client.peer_address == PREFERRED and client.paths.active.validated
    assert client.paths.rebind_requested  # no platform here takes it
    assert server.peer_address == ("via", "client")
    assert server.paths.active.validated
    assert server.paths.validations >= 1
