"""The endpoint on the simulated network: one server endpoint, client endpoints at other addresses.

Covers routing by CID (RFC 9000 §5.2) including CIDs issued with NEW_CONNECTION_ID, server
connection creation and its rules (RFC 9000 §7.2, §14.1), the handshake limit, Version
Negotiation (RFC 9000 §6.1, §17.2.1), Stateless Reset sending, sizing, rate limiting and
detection (RFC 9000 §10.3), removal of closed connections, timer bookkeeping, and robustness:
garbage never raises and never disturbs a running transfer.
"""

from __future__ import annotations

import random

import pytest
from endpoint_world import (
    CLIENTS,
    SERVER,
    SERVER_KEY,
    EchoClient,
    EchoServer,
    Recorder,
    World,
    client_odcid,
    forged_long_header,
    make_world,
    payloads_for,
    real_initial,
    run_echo,
    server_conn_of,
    short_header,
    start_clients,
    unknown_version_initial,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyquic.core.cid_manager import stateless_reset_token
from pyquic.core.connection import ConnectionState
from pyquic.core.endpoint import (
    ConnectionClosed,
    DropReason,
    Endpoint,
    NewConnection,
    ServerConfig,
)
from pyquic.core.errors import TransportErrorCode
from pyquic.core.events import ConnectionTerminated
from pyquic.core.levels import EncryptionLevel
from pyquic.core.packet_header import LongHeader, VersionNegotiationPacket, parse_header
from pyquic.core.settings import Settings
from pyquic.core.tls_interface import TlsSessionLike
from pyquic.core.version import QUIC_V1, QUIC_V2, PacketType, is_reserved_version
from pyquic.platform.crypto import CryptoProvider
from pyquic.testing.certificates import TestPki, make_test_credentials
from pyquic.testing.network import LinkConditions, SimulatedNetwork
from pyquic.testing.pair import DEFAULT_EPOCH, pair_settings, tls_configs, tls_factory


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return make_test_credentials(now=DEFAULT_EPOCH)


# --- routing, concurrent connections ----------------------------------------------------------


def test_three_clients_handshake_and_transfer_concurrently(pki: TestPki) -> None:
    world = make_world(pki)
    echo = EchoServer(world)
    clients = start_clients(world)
    run_echo(world, clients, echo)
    for client in clients:
        client.assert_intact()
    assert len(echo.conns) == 3
    assert world.server.stats.connections_created == 3
    assert world.server.stats.connection_errors == 0
    for client in clients:
        server_conn = server_conn_of(echo, client)
        assert server_conn.peer_address == client.address
        # every CID the server issued routes to its connection, so does the client's ODCID
        for cid in server_conn.local_cids.active_cids():
            assert world.server.route(cid) is server_conn
        assert world.server.route(client_odcid(client)) is server_conn
        for cid in client.conn.local_cids.active_cids():
            assert client.endpoint.route(cid) is client.conn
    assert world.server.route_count == sum(len(c.local_cids.active_cids()) + 1 for c in echo.conns)


@pytest.mark.parametrize("seed", [1, 2])
def test_three_clients_over_a_lossy_duplicating_reordering_network(pki: TestPki, seed: int) -> None:
    conditions = LinkConditions(
        latency_us=15_000, loss_rate=0.05, duplicate_rate=0.05, reorder_rate=0.05
    )
    world = make_world(pki, seed=seed, conditions=conditions)
    echo = EchoServer(world)
    clients = start_clients(world)
    run_echo(world, clients, echo, max_time_us=60_000_000)
    for client in clients:
        client.assert_intact()
    # duplicated first Initials reached their connection by the original DCID's route
    assert world.server.stats.connections_created == 3
    assert world.server.stats.connection_errors == 0


def test_a_cid_issued_with_new_connection_id_reaches_the_same_connection(pki: TestPki) -> None:
    world = make_world(pki, clients=CLIENTS[:1])
    echo = EchoServer(world)
    (client,) = start_clients(world)
    run_echo(world, [client], echo)
    server_conn = echo.conns[0]
    peer_cids = client.conn.peer_cids
    assert peer_cids is not None
    old = peer_cids.current
    new = peer_cids.switch_to_unused()  # RFC 9000 §5.1.1: move to a NEW_CONNECTION_ID CID
    assert new is not None and new != old
    assert world.server.route(new) is server_conn
    more = payloads_for("again", count=1)
    client.send(more)
    run_echo(world, [client], echo)
    client.assert_intact()
    assert server_conn.stats.recv_decryption_failures == 0
    # the client retired the old CID: its route went, a replacement was issued and routed
    world.network.run_for(1_000_000)
    assert world.server.route(old) is None
    active = server_conn.local_cids.active_cids()
    assert old not in active and new in active
    assert all(world.server.route(cid) is server_conn for cid in active)


# --- server connection creation rules ---------------------------------------------------------


def test_initial_rules_for_new_connections(pki: TestPki) -> None:
    world = make_world(pki, clients=CLIENTS[:1])
    server, client_endpoint = world.server, world.clients[CLIENTS[0]]
    cases = [
        (forged_long_header(PacketType.INITIAL, b"1234567", b"s", 1200), "orig"),
        (forged_long_header(PacketType.INITIAL, b"12345678", b"s", 1199), "small"),
        (forged_long_header(PacketType.HANDSHAKE, b"12345678", b"s", 1200), "hs"),
        (forged_long_header(PacketType.INITIAL, b"12345678", b"s", 1200), "garbage"),
        (b"\xc0" + QUIC_V1.to_bytes(4, "big") + bytes([21]) + bytes(21) + b"\x00" * 1200, "cid"),
    ]
    for data, _ in cases:
        assert server.receive_datagram(data, "attacker", 0) is None
    assert server.stats.dropped == {
        DropReason.ORIGINAL_DCID_TOO_SHORT: 1,  # RFC 9000 §7.2
        DropReason.INITIAL_TOO_SMALL: 1,  # RFC 9000 §14.1
        DropReason.UNKNOWN_CONNECTION: 1,
        DropReason.INITIAL_NOT_AUTHENTICATED: 1,  # nothing decrypted: no state kept
        DropReason.CID_TOO_LONG: 1,  # RFC 9000 §17.2
    }
    assert server.connections == () and server.route_count == 0
    assert server.poll_event() is None
    # a client endpoint accepts no connections; a real Initial does open one at the server
    initial = real_initial(world)
    assert client_endpoint.receive_datagram(initial, "attacker", 0) is None
    assert client_endpoint.stats.dropped == {DropReason.NOT_A_SERVER: 1}
    conn = server.receive_datagram(initial, "attacker", 0)
    assert conn is not None and not conn.is_client
    assert server.poll_event() == NewConnection(conn)
    assert server.handshakes_in_progress == 1
    # a duplicate reaches the same connection through the original DCID's route
    assert server.receive_datagram(initial, "attacker", 1_000) is conn
    assert server.stats.connections_created == 1


def test_max_handshakes_bounds_connections_in_handshake(pki: TestPki) -> None:
    world = make_world(pki, max_handshakes=1)
    echo = EchoServer(world)
    clients = start_clients(world)
    peak = 0

    def watch() -> None:
        nonlocal peak
        peak = max(peak, world.server.handshakes_in_progress)

    run_echo(world, clients, echo, on_step=watch, max_time_us=30_000_000)
    for client in clients:
        client.assert_intact()  # the dropped clients got in with their retransmitted Initials
    assert peak == 1
    assert world.server.stats.dropped[DropReason.HANDSHAKE_LIMIT] >= 2
    assert world.server.handshakes_in_progress == 0


# --- version negotiation ----------------------------------------------------------------------


def test_version_negotiation_for_an_unknown_version(pki: TestPki) -> None:
    world = make_world(pki, clients=())
    probe = Recorder()
    world.network.add_endpoint("probe", probe)
    dcid, scid = bytes(range(1, 9)), b"\xaa\xbb\xcc"
    world.network.inject("probe", SERVER, unknown_version_initial(dcid, scid, 1200))
    world.network.run_for(100_000)
    ((datagram, source),) = probe.received
    assert source == SERVER
    assert datagram[0] & 0xC0 == 0xC0  # the long header form, and the multiplexing bit
    packet = parse_header(datagram, short_dcid_length=8)
    assert isinstance(packet, VersionNegotiationPacket)
    # RFC 9000 §6.1, §17.2.1: the client's CIDs come back swapped
    assert packet.destination_cid == scid and packet.source_cid == dcid
    *ours, grease = packet.supported_versions
    assert ours == [QUIC_V1, QUIC_V2]
    assert is_reserved_version(grease)  # RFC 9000 §15
    assert world.server.stats.version_negotiation_sent == 1
    # too small for an Initial: dropped (RFC 9000 §6.1); a VN is never answered
    world.network.inject("probe", SERVER, unknown_version_initial(dcid, scid, 1199))
    world.network.inject("probe", SERVER, datagram)
    world.network.run_for(1_000_000)
    assert len(probe.received) == 1
    assert world.server.stats.dropped == {
        DropReason.UNSUPPORTED_VERSION_SMALL: 1,
        DropReason.VERSION_NEGOTIATION: 1,
    }


def test_a_client_of_an_unaccepted_version_gets_version_negotiation(pki: TestPki) -> None:
    world = make_world(pki, clients=CLIENTS[:1], versions=(QUIC_V1,))
    echo = EchoServer(world)
    (client,) = start_clients(world, version=QUIC_V2)
    endpoint = client.endpoint
    run_echo(world, [client], echo, until=lambda: client.terminated is not None)
    assert client.terminated is not None
    assert client.terminated.error_code == TransportErrorCode.VERSION_NEGOTIATION_ERROR
    assert world.server.stats.version_negotiation_sent == 1
    assert echo.conns == []
    assert endpoint.poll_event() == ConnectionClosed(client.conn)
    assert endpoint.connections == () and endpoint.route_count == 0


# --- stateless reset --------------------------------------------------------------------------


def test_a_restarted_server_resets_the_connection_it_lost(pki: TestPki) -> None:
    world = make_world(pki, clients=CLIENTS[:1])
    echo = EchoServer(world)
    (client,) = start_clients(world)
    run_echo(world, [client], echo)
    client.assert_intact()
    restarted = world.restart_server()  # same static key, no connections
    client.send(payloads_for("after-restart", count=1))
    run_echo(world, [client], echo, until=lambda: client.terminated is not None)
    # RFC 9000 §10.3.1: the token matches, the client drains without sending
    assert client.terminated == ConnectionTerminated(
        0, "stateless reset", None, application=False, by_peer=True, stateless_reset=True
    )
    assert client.conn.state is ConnectionState.DRAINING
    assert restarted.stats.stateless_resets_sent >= 1
    assert client.endpoint.stats.stateless_resets_received == 1
    world.network.run_for(5_000_000)  # the draining period ends: the connection is removed
    assert client.endpoint.poll_event() == ConnectionClosed(client.conn)
    assert client.endpoint.connections == () and client.endpoint.route_count == 0


@pytest.mark.parametrize(
    ("trigger", "low", "high"),
    [(22, 21, 21), (43, 42, 42), (44, 43, 43), (100, 43, 58), (1200, 43, 58)],
)
def test_stateless_reset_size_and_token(pki: TestPki, trigger: int, low: int, high: int) -> None:
    world = make_world(pki, clients=())
    dcid = bytes(range(8))
    world.server.receive_datagram(short_header(dcid, trigger), "peer", 0)
    ((reset, address),) = world.server.datagrams_to_send(0)
    assert address == "peer"
    # RFC 9000 §10.3: shorter than the trigger, at least 21 bytes, short-header form
    assert low <= len(reset) <= high and len(reset) < trigger
    assert reset[0] & 0xC0 == 0x40
    assert reset[-16:] == stateless_reset_token(SERVER_KEY, dcid)


def test_datagrams_that_could_be_resets_get_no_reset(pki: TestPki) -> None:
    world = make_world(pki, clients=())
    for size in (9, 20, 21):  # RFC 9000 §10.3.3: a 21-byte reply would not be smaller
        world.server.receive_datagram(short_header(bytes(8), size), f"peer-{size}", 0)
    world.server.receive_datagram(b"\x40\x01", "peer", 0)  # shorter than a CID: unparsable
    assert world.server.datagrams_to_send(0) == []
    assert world.server.stats.dropped == {
        DropReason.TOO_SMALL_FOR_RESET: 3,
        DropReason.UNPARSABLE: 1,
    }


def test_stateless_answers_are_rate_limited(pki: TestPki) -> None:
    settings = pair_settings().merge(
        max_binding_stateless_operations=5, stateless_operation_expiration_ms=100
    )
    world = make_world(pki, clients=(), endpoint_settings=settings)
    server = world.server
    for i in range(20):  # one address: one answer per expiration period
        server.receive_datagram(short_header(bytes(8), 100, i), "one", 0)
    assert len(server.datagrams_to_send(0)) == 1
    for i in range(20):  # many addresses: the bucket's capacity
        server.receive_datagram(short_header(bytes(8), 100, i), f"many-{i}", 1)
    assert len(server.datagrams_to_send(1)) == 4
    server.receive_datagram(unknown_version_initial(bytes(8), b"", 1200), "vn", 2)
    assert server.datagrams_to_send(2) == []  # Version Negotiation spends the same tokens
    assert server.stats.dropped[DropReason.STATELESS_RATE_LIMITED] == 19 + 16 + 1
    # a period later the bucket is full again and "one" may be answered again
    for i in range(10):
        server.receive_datagram(short_header(bytes(8), 100, i), f"later-{i}", 100_001)
    server.receive_datagram(short_header(bytes(8), 100), "one", 100_001)
    assert len(server.datagrams_to_send(100_001)) == 5
    assert server.stats.stateless_resets_sent == 1 + 4 + 5


# --- closing and timers -----------------------------------------------------------------------


def test_closed_connections_are_removed_with_their_routes(pki: TestPki) -> None:
    world = make_world(pki)
    echo = EchoServer(world)
    clients = start_clients(world)
    run_echo(world, clients, echo)
    cids = {cid for conn in echo.conns for cid in conn.local_cids.active_cids()}
    now = world.network.now_us
    for client in clients:
        client.conn.close(7, "done", now_us=now)
        client.endpoint.touch(client.conn)
    world.network.run_for(10_000_000)
    echo.step()
    assert len(echo.closed) == 3
    assert world.server.connections == () and world.server.route_count == 0
    assert all(world.server.route(cid) is None for cid in cids)
    assert world.server.stats.connections_closed == 3
    for client in clients:
        assert client.endpoint.connections == () and client.endpoint.route_count == 0
        events = []
        while (event := client.endpoint.poll_event()) is not None:
            events.append(event)
        assert events == [ConnectionClosed(client.conn)]
    # a closed connection's packet now finds nobody: a stateless reset answers it
    world.server.receive_datagram(short_header(next(iter(cids)), 60), "late", now)
    assert world.server.stats.stateless_resets_sent == 1


def test_timers_are_reported_for_a_timer_wheel(pki: TestPki) -> None:
    world = make_world(pki, clients=CLIENTS[:1])
    endpoint = world.clients[CLIENTS[0]]
    conn = endpoint.connect(SERVER, world.client_tls, 0)
    assert endpoint.connection_timers() == [(conn, conn.next_timer_us())]
    assert endpoint.take_touched() == []
    datagrams = endpoint.datagrams_to_send(0)
    assert datagrams and all(address == SERVER for _, address in datagrams)
    # sending armed the PTO: the timer changed, so the connection is reported again
    assert endpoint.take_touched() == [conn]
    timer_us = endpoint.next_timer_us(conn)
    assert timer_us is not None and timer_us == endpoint.next_timer_us_all()
    assert timer_us < 10_000_000  # earlier than the handshake idle timeout
    endpoint.datagrams_to_send(0)
    assert endpoint.take_touched() == []  # nothing changed
    # nobody answers: the timer wheel fires the connection until it gives up and is removed
    now = 0
    while endpoint.connections:
        timer_us = endpoint.next_timer_us(conn)
        assert timer_us is not None
        now = max(now, timer_us)
        endpoint.handle_timer(conn, now)
        endpoint.datagrams_to_send(now)
    assert endpoint.connection_timers() == [(conn, None)]
    assert endpoint.poll_event() == ConnectionClosed(conn)
    assert endpoint.next_timer_us_all() is None


def test_sending_is_round_robin_across_connections(pki: TestPki) -> None:
    world = make_world(pki, clients=CLIENTS[:1])
    endpoint = world.clients[CLIENTS[0]]
    first = endpoint.connect(SERVER, world.client_tls, 0)
    second = endpoint.connect(SERVER, world.client_tls, 0)
    sources = set()
    for _ in range(2):  # one datagram per call: each connection gets its turn
        ((datagram, address),) = endpoint.datagrams_to_send(0, max_datagrams=1)
        assert address == SERVER
        header = parse_header(datagram, short_dcid_length=8)
        assert isinstance(header, LongHeader)
        sources.add(header.source_cid)
    assert sources == {first.local_cids.initial, second.local_cids.initial}
    assert endpoint.datagrams_to_send(0) == []


class FaultyTls:
    """A TLS session that raises something unexpected once the peer's data arrives."""

    def __init__(self, inner: TlsSessionLike) -> None:
        self.inner = inner

    @property
    def alpn(self) -> bytes | None:
        return self.inner.alpn

    @property
    def peer_transport_parameters(self) -> bytes | None:
        return self.inner.peer_transport_parameters

    @property
    def handshake_complete(self) -> bool:
        return self.inner.handshake_complete

    def start(self) -> None:
        self.inner.start()

    def receive(self, level: EncryptionLevel, data: bytes) -> None:
        raise RuntimeError("a bug in the TLS stack")

    def data_to_send(self, level: EncryptionLevel) -> bytes:
        return self.inner.data_to_send(level)

    def poll_event(self) -> object | None:
        return self.inner.poll_event()


def test_a_connection_that_raises_is_abandoned_and_the_rest_carry_on(pki: TestPki) -> None:
    world = make_world(pki, clients=CLIENTS[:2])
    echo = EchoServer(world)
    faulty_endpoint = world.clients[CLIENTS[0]]
    faulty = faulty_endpoint.connect(SERVER, lambda p: FaultyTls(world.client_tls(p)), 0)
    healthy_endpoint = world.clients[CLIENTS[1]]
    healthy = EchoClient(
        CLIENTS[1],
        healthy_endpoint,
        healthy_endpoint.connect(SERVER, world.client_tls, 0),
        payloads_for(CLIENTS[1]),
    )
    run_echo(world, [healthy], echo)
    healthy.assert_intact()
    event = faulty_endpoint.poll_event()
    assert isinstance(event, ConnectionClosed) and event.connection is faulty
    assert isinstance(event.error, RuntimeError)
    assert faulty_endpoint.stats.connection_errors == 1
    assert faulty_endpoint.connections == () and faulty_endpoint.route_count == 0


def test_endpoint_configuration_is_checked(pki: TestPki) -> None:
    world = make_world(pki, clients=CLIENTS[:1])
    endpoint = world.clients[CLIENTS[0]]
    with pytest.raises(ValueError, match="local_cid_length"):
        endpoint.connect(SERVER, world.client_tls, 0, settings=Settings(local_cid_length=4))
    with pytest.raises(ValueError, match="stateless_reset_key"):
        Endpoint(
            settings=Settings(),
            crypto=world.crypto,
            rng=random.Random(0),
            stateless_reset_key=b"short",
        )
    with pytest.raises(ValueError, match="versions"):
        ServerConfig(world.client_tls, Settings(), versions=(0x1A2A3A4A,))


# --- garbage ----------------------------------------------------------------------------------

# a recipe: (kind, bytes, number); turned into a datagram with the world's current CIDs
Recipe = tuple[str, bytes, int]
_KINDS = (
    "random",
    "short_known",
    "long_known",
    "initial",
    "replay",
    "big_cid",
    "vn",
    "reset_like",
)
recipes = st.tuples(st.sampled_from(_KINDS), st.binary(max_size=1300), st.integers(0, 2**16))


def materialize(recipe: Recipe, world: World, initial: bytes) -> tuple[str, str, bytes]:
    """(source, destination, datagram) for a recipe."""
    kind, blob, number = recipe
    server_cids = [
        cid for conn in world.server.connections for cid in conn.local_cids.active_cids()
    ]
    client_endpoint = world.clients[CLIENTS[number % len(CLIENTS)]]
    client_cids = [c for conn in client_endpoint.connections for c in conn.local_cids.active_cids()]
    source = CLIENTS[number % 3] if number % 2 else "attacker"  # spoofed or not
    if kind == "random":
        return source, SERVER, blob
    if kind == "short_known" and server_cids:
        return (
            source,
            SERVER,
            bytes([0x40 | number % 64]) + server_cids[number % len(server_cids)] + blob,
        )
    if kind == "long_known" and server_cids:
        dcid = server_cids[number % len(server_cids)]
        return (
            source,
            SERVER,
            bytes([0xC0 | number % 64]) + b"\x00\x00\x00\x01" + bytes([8]) + dcid + b"\x00" + blob,
        )
    if kind == "initial":  # a real Initial, truncated or with one byte changed
        data = bytearray(initial)
        position = number % len(data)
        if blob:
            data[position] ^= blob[0] | 1
            return source, SERVER, bytes(data)
        return source, SERVER, bytes(data[:position])
    if kind == "replay":  # a valid Initial: the attacker gets a connection, nobody else notices
        return "attacker", SERVER, initial
    if kind == "big_cid":
        version = QUIC_V1 if number % 2 else 0x1A2A3A4A
        length = 21 + number % 235
        return source, SERVER, b"\xc0" + version.to_bytes(4, "big") + bytes([length]) + blob
    if kind == "vn" and client_cids:
        dcid = client_cids[number % len(client_cids)]
        return (
            SERVER,
            CLIENTS[number % 3],
            b"\x80\x00\x00\x00\x00" + bytes([8]) + dcid + b"\x00" + blob,
        )
    # a forged reset from the server's address to a client: random token, never matches
    return SERVER, CLIENTS[number % 3], b"\x40" + blob + bytes(21)


def _long_header(first: int, version: int, dcid: bytes, scid: bytes, rest: bytes) -> bytes:
    return (
        bytes([first | 0x80])
        + version.to_bytes(4, "big")
        + bytes([len(dcid)])
        + dcid
        + bytes([len(scid)])
        + scid
        + rest
    )


targets = st.sampled_from(["server", "client"])
long_headers = st.builds(
    _long_header,
    st.integers(0, 255),
    st.sampled_from([0, QUIC_V1, QUIC_V2, 0x1A2A3A4A]),
    st.binary(max_size=24),
    st.binary(max_size=24),
    st.binary(min_size=1100, max_size=1300) | st.binary(max_size=64),
)
datagrams = st.binary(max_size=1400) | long_headers


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(targets, datagrams), max_size=30))
def test_receive_datagram_never_raises(pki: TestPki, datagrams: list[tuple[str, bytes]]) -> None:
    _, server_tls = tls_configs(pki, SimulatedNetwork(0))
    server = Endpoint(
        settings=pair_settings(),
        crypto=CryptoProvider(),
        rng=random.Random(0),
        stateless_reset_key=SERVER_KEY,
        server=ServerConfig(tls_factory(server_tls), pair_settings()),
    )
    client = Endpoint(
        settings=pair_settings(),
        crypto=CryptoProvider(),
        rng=random.Random(1),
        stateless_reset_key=SERVER_KEY,
    )
    for i, (target, data) in enumerate(datagrams):
        endpoint = server if target == "server" else client
        endpoint.receive_datagram(data, f"peer-{i}", i * 1000)
    for endpoint in (server, client):
        endpoint.datagrams_to_send(len(datagrams) * 1000)
        answered = endpoint.stats.stateless_resets_sent + endpoint.stats.version_negotiation_sent
        assert endpoint.stats.datagrams_dropped + answered == endpoint.stats.datagrams_received
        assert endpoint.connections == ()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(recipes, min_size=1, max_size=60), st.integers(1, 20))
def test_garbage_during_transfers_loses_nothing(
    pki: TestPki, garbage: list[Recipe], every: int
) -> None:
    world = make_world(pki)
    initial = real_initial(world)
    echo = EchoServer(world)
    clients = start_clients(world)
    pending = list(garbage)
    steps = 0

    def inject() -> None:
        nonlocal steps
        steps += 1
        if pending and steps % every == 0:
            source, destination, data = materialize(pending.pop(), world, initial)
            world.network.inject(source, destination, data)

    def finished() -> bool:
        return not pending and all(c.done for c in clients)

    run_echo(world, clients, echo, on_step=inject, until=finished)
    for client in clients:
        client.assert_intact()
        assert server_conn_of(echo, client).state is ConnectionState.ESTABLISHED
    for endpoint in (world.server, *world.clients.values()):
        assert endpoint.stats.connection_errors == 0
