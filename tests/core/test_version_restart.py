"""Incompatible version negotiation: the client's new attempt after Version Negotiation (RFC 9000
§6.2, RFC 9368 §2.1) and its downgrade protection (RFC 9368 §4), through real endpoints on the
simulated network.  The attacker is an address of the network that injects forged Version
Negotiation packets on a faster link than the server's."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from endpoint_world import EchoClient, EchoServer, World, make_world, run_echo, start_clients

from pyquic.core.errors import TransportErrorCode
from pyquic.core.packet_header import encode_version_negotiation
from pyquic.core.transport_params import VersionInformation
from pyquic.core.version import QUIC_V1, QUIC_V2
from pyquic.core.version_restart import select_version
from pyquic.testing.certificates import TestPki, make_test_credentials
from pyquic.testing.network import LinkConditions
from pyquic.testing.pair import DEFAULT_EPOCH, pair_settings

VNE = TransportErrorCode.VERSION_NEGOTIATION_ERROR
CLIENT = "client-1"
ATTACKER = "attacker"
UNKNOWN_VERSION = 0x1A2A3A4A  # a reserved version nobody implements (RFC 9000 §15)


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return make_test_credentials(now=DEFAULT_EPOCH)


def _world(pki: TestPki, server_versions: tuple[int, ...], *, extension: bool = True) -> World:
    settings = dataclasses.replace(pair_settings(), version_negotiation_ext_enabled=extension)
    world = make_world(
        pki,
        clients=[CLIENT],
        endpoint_settings=settings,
        versions=server_versions,
        conditions=LinkConditions(latency_us=20_000),
    )
    world.network.set_link(ATTACKER, CLIENT, LinkConditions(latency_us=1_000))
    return world


def _forge_vn(world: World, client: EchoClient, versions: tuple[int, ...]) -> None:
    """A Version Negotiation packet with the client's current CIDs echoed (RFC 9000 §17.2.1)."""
    conn = client.conn
    packet = encode_version_negotiation(
        conn.local_cids.initial, conn.original_destination_cid, versions
    )
    world.network.inject(ATTACKER, CLIENT, packet)


def _run(world: World, client: EchoClient, on_step: Callable[[], None] | None = None) -> EchoServer:
    echo = EchoServer(world)
    run_echo(
        world,
        [client],
        echo,
        until=lambda: client.done or client.terminated is not None,
        on_step=on_step,
    )
    return echo


def test_select_version_follows_the_clients_preference() -> None:
    assert select_version((QUIC_V1, QUIC_V2), (QUIC_V2, QUIC_V1)) == QUIC_V1
    assert select_version((QUIC_V2, QUIC_V1), (QUIC_V1, QUIC_V2)) == QUIC_V2
    assert select_version((QUIC_V1, QUIC_V2), (UNKNOWN_VERSION, QUIC_V2)) == QUIC_V2
    assert select_version((QUIC_V1, UNKNOWN_VERSION), (UNKNOWN_VERSION,)) is None


def test_restart_in_the_servers_version(pki: TestPki) -> None:
    """A v2-only server answers the client's v1 Initial with VN; the client starts again in v2."""
    world = _world(pki, (QUIC_V2,))
    (client,) = start_clients(world, version=QUIC_V1)
    assert client.conn.versions == (QUIC_V1, QUIC_V2)  # v1 preferred
    first_dcid = client.conn.original_destination_cid
    echo = _run(world, client)
    client.assert_intact()
    assert world.server.stats.version_negotiation_sent == 1
    conn = client.conn
    assert conn.version.number == QUIC_V2
    assert conn.stats.version_negotiation
    assert conn.original_destination_cid != first_dcid  # a new attempt (RFC 9000 §7.2)
    (server_conn,) = echo.conns
    assert server_conn.version.number == QUIC_V2
    # RFC 9368 §3: the new first flight names its version and offers only it
    assert server_conn.peer_parameters is not None
    assert server_conn.peer_parameters.version_information == VersionInformation(
        QUIC_V2, (QUIC_V2,)
    )


def test_forged_version_negotiation_is_a_downgrade_error(pki: TestPki) -> None:
    """RFC 9368 §4: an attacker's VN lists only v2 although the server supports v1, which the
    client prefers; the server's Available Versions reveal it and the client closes."""
    world = _world(pki, (QUIC_V1, QUIC_V2))
    (client,) = start_clients(world, version=QUIC_V1)
    _forge_vn(world, client, (QUIC_V2,))
    _run(world, client)
    assert client.conn.stats.version_negotiation  # the forged VN was acted on
    assert world.server.stats.version_negotiation_sent == 0
    assert client.terminated is not None
    assert client.terminated.error_code == VNE
    assert not client.terminated.by_peer and not client.terminated.application
    assert not client.established


@pytest.mark.parametrize("extension", [True, False], ids=["extension", "no_extension"])
def test_no_common_version_abandons_the_attempt(pki: TestPki, extension: bool) -> None:
    """RFC 9000 §6.2: nothing to restart with (no common version; or, without version_information,
    no downgrade protection) ends the attempt with VERSION_NEGOTIATION_ERROR."""
    world = _world(pki, (QUIC_V2,) if not extension else (QUIC_V1, QUIC_V2), extension=extension)
    (client,) = start_clients(world, version=QUIC_V1)
    if extension:
        _forge_vn(world, client, (UNKNOWN_VERSION,))
    _run(world, client)
    assert client.terminated is not None
    assert client.terminated.error_code == VNE
    assert not client.conn.stats.version_negotiation


def test_a_second_version_negotiation_is_ignored(pki: TestPki) -> None:
    """RFC 9368 §4: a VN in response to the attempt made after a VN is ignored."""
    world = _world(pki, (QUIC_V2,))
    (client,) = start_clients(world, version=QUIC_V1)
    forged = False

    def after_restart() -> None:
        nonlocal forged
        if not forged and client.conn.stats.version_negotiation:
            forged = True
            _forge_vn(world, client, (QUIC_V1,))

    _run(world, client, after_restart)
    assert forged
    client.assert_intact()
    assert client.conn.version.number == QUIC_V2


def test_version_negotiation_after_the_server_answered_is_ignored(pki: TestPki) -> None:
    """RFC 9000 §6.2: once a packet of the server was processed, VN is discarded; so is a VN
    whose connection IDs do not echo the client's (RFC 8999 §6)."""
    world = _world(pki, (QUIC_V1, QUIC_V2))
    (client,) = start_clients(world, version=QUIC_V1)
    world.network.inject(
        ATTACKER,
        CLIENT,
        encode_version_negotiation(client.conn.local_cids.initial, b"\x01" * 8, (QUIC_V2,)),
    )
    forged = False

    def once_answered() -> None:
        nonlocal forged
        if not forged and client.conn.stats.recv_total_packets > 0:
            forged = True
            _forge_vn(world, client, (QUIC_V2,))

    _run(world, client, once_answered)
    assert forged
    client.assert_intact()
    assert client.conn.version.number == QUIC_V1
    assert not client.conn.stats.version_negotiation
