"""Address validation on the simulated network: Retry (RFC 9000 §8.1.2, §17.2.5), NEW_TOKEN
(RFC 9000 §8.1.3, §19.7), token sealing and its rules (RFC 9000 §8.1.4)."""

from __future__ import annotations

import dataclasses
import random

import pytest
from endpoint_world import (
    CLIENTS,
    SERVER,
    EchoClient,
    EchoServer,
    World,
    make_world,
    payloads_for,
    run_echo,
    server_conn_of,
    start_clients,
)

from pyquic.core.endpoint import DropReason, Endpoint, ServerConfig
from pyquic.core.packet_header import RetryPacket, parse_header
from pyquic.core.retry import INVALID_TOKEN, TokenKind, check_token, new_token, retry_token
from pyquic.core.version import QUIC_V2
from pyquic.platform.crypto.tokens import AesGcmTokenSealer
from pyquic.testing.certificates import TestPki, make_test_credentials
from pyquic.testing.pair import DEFAULT_EPOCH

KEY = bytes(range(32))


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return make_test_credentials(now=DEFAULT_EPOCH)


def _sealer(key: bytes = KEY) -> AesGcmTokenSealer:
    return AesGcmTokenSealer(key, random_bytes=random.Random(7).randbytes)


def _configure(world: World, **changes: object) -> Endpoint:
    """Replace the server endpoint with one whose ServerConfig has ``changes``."""
    world.server_config = dataclasses.replace(world.server_config, **changes)  # type: ignore[arg-type]
    return world.restart_server()


def _retry_world(
    pki: TestPki, retry: str = "always", clients: tuple[str, ...] = CLIENTS, **changes: object
) -> World:
    world = make_world(pki, clients=clients)
    _configure(world, retry=retry, token_sealer=_sealer(), **changes)
    return world


def test_retry_always_then_handshake_and_transfer(pki: TestPki) -> None:
    world = _retry_world(pki)
    echo = EchoServer(world)
    clients = start_clients(world)
    run_echo(world, clients, echo)
    assert world.server.stats.retries_sent == 3
    for client in clients:
        client.assert_intact()
        assert client.conn.stats.stateless_retry
        server_conn = server_conn_of(echo, client)
        # RFC 9000 §7.3: the ODCID from the token, the Retry's SCID, both authenticated by the
        # client (a mismatch would have been TRANSPORT_PARAMETER_ERROR)
        assert server_conn.original_destination_cid == client.conn.original_destination_cid
        assert server_conn.retry_source_cid == client.conn.retry_source_cid is not None
        assert server_conn.address_validated
    assert world.server.stats.connection_errors == 0


def test_retry_validates_the_address_at_once(pki: TestPki) -> None:
    """RFC 9000 §8.1.2: a valid Retry token lifts the 3x anti-amplification limit."""
    world = _retry_world(pki, clients=("client-1",))
    echo = EchoServer(world)
    clients = start_clients(world)
    run_echo(world, clients, echo, until=lambda: bool(echo.conns))
    assert echo.conns[0].address_validated


def test_retry_on_v2(pki: TestPki) -> None:
    world = _retry_world(pki)
    echo = EchoServer(world)
    clients = start_clients(world, version=QUIC_V2)
    run_echo(world, clients, echo)
    assert world.server.stats.retries_sent == 3
    for client in clients:
        client.assert_intact()


def test_retry_auto_only_under_load(pki: TestPki) -> None:
    """retry="auto": Retry once the handshakes in progress reach the threshold."""
    world = _retry_world(pki, retry="auto", retry_handshake_threshold=1)
    echo = EchoServer(world)
    clients = start_clients(world)
    run_echo(world, clients, echo)
    # the first Initial finds no handshake in progress; the two others arrive during it
    assert world.server.stats.retries_sent == 2
    assert sum(c.conn.stats.stateless_retry for c in clients) == 2
    for client in clients:
        client.assert_intact()


def test_retry_auto_idle_server_sends_none(pki: TestPki) -> None:
    world = _retry_world(pki, retry="auto", retry_handshake_threshold=10)
    echo = EchoServer(world)
    clients = start_clients(world)
    run_echo(world, clients, echo)
    assert world.server.stats.retries_sent == 0


def test_retry_packet_is_well_formed(pki: TestPki) -> None:
    world = _retry_world(pki)
    client = world.clients["client-1"].connect(SERVER, world.client_tls, 0)
    ((initial, _),) = client.datagrams_to_send(0)
    world.server.receive_datagram(initial, "client-1", 0)
    ((retry, address),) = world.server.datagrams_to_send(0)
    assert address == "client-1" and len(retry) < len(initial)  # RFC 9000 §8.1: no amplification
    packet = parse_header(retry, short_dcid_length=8)
    assert isinstance(packet, RetryPacket)
    assert packet.destination_cid == client.local_cids.initial
    assert packet.source_cid != client.original_destination_cid
    # RFC 9001 §5.8: the tag verifies against the client's original DCID
    assert world.crypto.verify_retry_integrity(
        client.version, client.original_destination_cid, retry
    )
    assert not world.server.connections  # stateless
    client.receive_datagram(retry, SERVER, 1)
    assert client.token == packet.token


def test_invalid_retry_token_is_dropped(pki: TestPki) -> None:
    """RFC 9000 §8.1.3: a Retry token from another address is discarded."""
    world = _retry_world(pki)
    client = world.clients["client-1"].connect(SERVER, world.client_tls, 0)
    ((initial, _),) = client.datagrams_to_send(0)
    world.server.receive_datagram(initial, "client-1", 0)
    ((retry, _),) = world.server.datagrams_to_send(0)
    client.receive_datagram(retry, SERVER, 1)
    ((second, _),) = client.datagrams_to_send(1)
    world.server.receive_datagram(second, "client-2", 2)  # another address
    assert world.server.stats.dropped[DropReason.INVALID_TOKEN] == 1
    assert not world.server.connections
    world.server.receive_datagram(second, "client-1", 3)  # the right one
    assert len(world.server.connections) == 1


def test_new_token_skips_retry_on_the_next_connection(pki: TestPki) -> None:
    world = _retry_world(pki, clients=("client-1",))
    echo = EchoServer(world)
    clients = start_clients(world)
    run_echo(world, clients, echo, until=lambda: clients[0].done and bool(clients[0].tokens))
    assert world.server.stats.retries_sent == 1
    assert world.server.stats.new_tokens_issued == 1
    (token,) = clients[0].tokens
    endpoint = world.clients["client-1"]
    conn = endpoint.connect(SERVER, world.client_tls, world.network.now_us, token=token)
    second = EchoClient("client-1", endpoint, conn, payloads_for("client-1"))
    run_echo(world, [second], echo)
    second.assert_intact()
    assert world.server.stats.retries_sent == 1  # no second Retry
    assert not conn.stats.stateless_retry
    assert server_conn_of(echo, second).address_validated


def test_new_token_accepted_by_another_server_process(pki: TestPki) -> None:
    """RFC 9000 §8.1.4: servers sharing the key accept each other's tokens."""
    world = _retry_world(pki, clients=("client-1",))
    echo = EchoServer(world)
    clients = start_clients(world)
    run_echo(world, clients, echo, until=lambda: clients[0].done and bool(clients[0].tokens))
    _configure(world, token_sealer=_sealer())  # a restarted process with the same key
    echo = EchoServer(world)
    endpoint = world.clients["client-1"]
    conn = endpoint.connect(
        SERVER, world.client_tls, world.network.now_us, token=clients[0].tokens[0]
    )
    second = EchoClient("client-1", endpoint, conn, payloads_for("client-1"))
    run_echo(world, [second], echo)
    second.assert_intact()
    assert world.server.stats.retries_sent == 0


def test_foreign_new_token_falls_back_to_retry(pki: TestPki) -> None:
    """RFC 9000 §8.1.3: a NEW_TOKEN token that does not validate is ignored (here: Retry)."""
    world = _retry_world(pki)
    echo = EchoServer(world)
    other = new_token(_sealer(bytes(32)), "client-1", 0)
    endpoint = world.clients["client-1"]
    conn = endpoint.connect(SERVER, world.client_tls, 0, token=other)
    client = EchoClient("client-1", endpoint, conn, payloads_for("client-1"))
    run_echo(world, [client], echo)
    client.assert_intact()
    assert world.server.stats.retries_sent == 1


def test_no_new_token_without_a_sealer(pki: TestPki) -> None:
    world = make_world(pki, clients=("client-1",))
    echo = EchoServer(world)
    clients = start_clients(world)
    run_echo(world, clients, echo)
    assert world.server.stats.new_tokens_issued == 0 and not clients[0].tokens


def test_server_config_rules() -> None:
    config = make_config_stub()
    with pytest.raises(ValueError, match="token_sealer"):
        dataclasses.replace(config, retry="always")
    with pytest.raises(ValueError, match="retry must be"):
        dataclasses.replace(config, retry="sometimes")  # type: ignore[arg-type]


def make_config_stub() -> ServerConfig:
    from pyquic.testing.pair import pair_settings

    return ServerConfig(lambda _tp: None, pair_settings())  # type: ignore[arg-type,return-value]


# --- the tokens themselves -------------------------------------------------------------------


def _check(token: bytes, address: object = "a", now_us: int = 0, dcid: bytes = b"R" * 8) -> object:
    return check_token(
        _sealer(),
        token,
        address,
        now_us,
        destination_cid=dcid,
        retry_lifetime_us=60_000_000,
        new_token_lifetime_us=3_600_000_000,
    )


def test_retry_token_round_trip_and_rules() -> None:
    token = retry_token(_sealer(), "a", 1_000, b"O" * 8, b"R" * 8)
    valid = _check(token, now_us=2_000)
    assert valid is not None and not isinstance(valid, str)
    assert valid.kind is TokenKind.RETRY
    assert valid.original_destination_cid == b"O" * 8 and valid.retry_source_cid == b"R" * 8
    assert _check(token, address="b") == INVALID_TOKEN  # another address (RFC 9000 §8.1.4)
    assert _check(token, now_us=70_000_000) == INVALID_TOKEN  # expired
    assert _check(token, dcid=b"X" * 8) == INVALID_TOKEN  # not the Retry's SCID
    assert _check(token[:-1] + bytes([token[-1] ^ 1])) == INVALID_TOKEN  # tampered


def test_new_token_binds_the_host_not_the_port() -> None:
    token = new_token(_sealer(), ("192.0.2.1", 4433), 0)
    assert _check(token, address=("192.0.2.1", 5555)) is not None  # RFC 9000 §8.1.3
    assert _check(token, address=("192.0.2.2", 4433)) is None  # ignored, not invalid
    assert _check(token, now_us=4_000_000_000) is None  # expired: ignored
    assert _check(b"\x00garbage") is None


def test_sealer_key_rotation_and_sharing() -> None:
    old, new = bytes(32), bytes(range(32))
    token = AesGcmTokenSealer(old).seal(b"x", b"ad")
    assert AesGcmTokenSealer(old).open(token, b"ad") == b"x"  # another process, same key
    assert AesGcmTokenSealer(new).open(token, b"ad") is None
    assert AesGcmTokenSealer(new, previous_keys=[old]).open(token, b"ad") == b"x"
    assert AesGcmTokenSealer(old).open(token, b"other") is None
    assert len(AesGcmTokenSealer.generate_key()) == 32
    with pytest.raises(ValueError):
        AesGcmTokenSealer(b"short")
