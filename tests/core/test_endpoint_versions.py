"""Version preference through the Endpoint: compatible negotiation v1 -> v2 (RFC 9368 §4)."""

from __future__ import annotations

import dataclasses

import pytest
from endpoint_world import EchoServer, make_world, run_echo, start_clients

from pyquic.core.version import QUIC_V1, QUIC_V2
from pyquic.testing.certificates import TestPki, make_test_credentials
from pyquic.testing.pair import DEFAULT_EPOCH, pair_settings


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return make_test_credentials(now=DEFAULT_EPOCH)


@pytest.mark.parametrize(
    ("server_versions", "expected"), [((QUIC_V2, QUIC_V1), QUIC_V2), ((QUIC_V1, QUIC_V2), QUIC_V1)]
)
def test_server_preference_through_the_endpoint(
    pki: TestPki, server_versions: tuple[int, ...], expected: int
) -> None:
    settings = dataclasses.replace(pair_settings(), version_negotiation_ext_enabled=True)
    world = make_world(
        pki, clients=["client-1"], endpoint_settings=settings, versions=server_versions
    )
    echo = EchoServer(world)
    (client,) = start_clients(world, version=QUIC_V1)
    run_echo(world, [client], echo)
    client.assert_intact()
    (server_conn,) = echo.conns
    assert server_conn.versions == server_versions
    assert client.conn.version.number == expected
    assert server_conn.version.number == expected
