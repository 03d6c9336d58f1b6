"""QUIC v2 (RFC 9369) end to end, and compatible version negotiation v1 -> v2 (RFC 9368), on the
simulated network."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from sim_util import assert_intact, make_payloads, run_transfer

from pyquic.core.connection import Connection
from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.core.transport_params import TransportParameters, VersionInformation
from pyquic.core.version import QUIC_V1, QUIC_V2, V1, V2
from pyquic.core.version_negotiation import check_peer_version_information
from pyquic.testing.pair import ConnectionPair, connection_pair, pair_settings

VNE = TransportErrorCode.VERSION_NEGOTIATION_ERROR


def tap(conn: Connection) -> list[int]:
    """The version field of every long-header packet that arrives at ``conn`` (first packets)."""
    seen: list[int] = []
    original: Callable[..., None] = conn.receive_datagram

    def receive(data: bytes, address: object, now_us: int, **kwargs: int) -> None:
        if data[0] & 0x80:
            seen.append(int.from_bytes(data[1:5], "big"))
        original(data, address, now_us, **kwargs)

    conn.receive_datagram = receive  # type: ignore[method-assign]
    return seen


def transfer(pair: ConnectionPair) -> None:
    result = run_transfer(
        pair,
        client_payloads=make_payloads(3, 4, 20_000),
        server_payloads=make_payloads(4, 4, 20_000),
        max_time_us=10_000_000,
        max_events=50_000,
    )
    assert_intact(result)


def negotiating_pair(
    *, server_versions: tuple[int, ...], client_extension: bool = True
) -> ConnectionPair:
    """A pair with compatible version negotiation on; the server prefers ``server_versions``."""
    settings = dataclasses.replace(pair_settings(), version_negotiation_ext_enabled=True)
    client = settings if client_extension else pair_settings()
    pair = connection_pair(seed=5, client_settings=client, server_settings=settings)
    pair.server.versions = server_versions
    return pair


def test_v1_is_the_default_without_version_information() -> None:
    pair = connection_pair(seed=5)
    at_server, at_client = tap(pair.server), tap(pair.client)
    transfer(pair)
    assert pair.client.version is V1 and pair.server.version is V1
    assert set(at_server) == set(at_client) == {QUIC_V1}
    assert pair.server.peer_parameters is not None
    assert pair.server.peer_parameters.version_information is None


def test_v2_end_to_end() -> None:
    pair = connection_pair(seed=5, version=QUIC_V2)
    at_server, at_client = tap(pair.server), tap(pair.client)
    transfer(pair)
    assert pair.client.version is V2 and pair.server.version is V2
    assert set(at_server) == set(at_client) == {QUIC_V2}


def test_compatible_negotiation_v1_to_v2() -> None:
    pair = negotiating_pair(server_versions=(QUIC_V2, QUIC_V1))
    at_server, at_client = tap(pair.server), tap(pair.client)
    transfer(pair)
    assert pair.client.version is V2 and pair.server.version is V2
    assert at_server[0] == QUIC_V1  # the client's first Initial (RFC 9368 §2.3)
    assert set(at_client) == {QUIC_V2}  # the server answered in v2 from its first packet
    assert QUIC_V2 in at_server
    client_params, server_params = pair.server.peer_parameters, pair.client.peer_parameters
    assert client_params is not None and server_params is not None
    assert client_params.version_information == VersionInformation(QUIC_V1, (QUIC_V1, QUIC_V2))
    assert server_params.version_information == VersionInformation(QUIC_V2, (QUIC_V2, QUIC_V1))


@pytest.mark.parametrize(
    ("server_versions", "client_extension"),
    [((QUIC_V1, QUIC_V2), True), ((QUIC_V2, QUIC_V1), False)],
    ids=["server_prefers_v1", "client_without_extension"],
)
def test_no_switch_keeps_v1(server_versions: tuple[int, ...], client_extension: bool) -> None:
    pair = negotiating_pair(server_versions=server_versions, client_extension=client_extension)
    at_client = tap(pair.client)
    transfer(pair)
    assert pair.client.version is V1 and pair.server.version is V1
    assert set(at_client) == {QUIC_V1}
    assert pair.client.peer_parameters is not None
    info = pair.client.peer_parameters.version_information
    assert info is not None and info.chosen_version == QUIC_V1  # the server always sends it


# --- version_information validation (RFC 9368 §5) --------------------------------------------


def _params(chosen: int, *available: int) -> TransportParameters:
    return TransportParameters(version_information=VersionInformation(chosen, available))


def test_client_rejects_a_chosen_version_unlike_the_packets() -> None:
    pair = negotiating_pair(server_versions=(QUIC_V2, QUIC_V1))
    with pytest.raises(QuicError) as error:
        check_peer_version_information(pair.client, _params(QUIC_V2, QUIC_V2))
    assert error.value.error_code == VNE


def test_client_rejects_a_switch_without_version_information() -> None:
    pair = negotiating_pair(server_versions=(QUIC_V2, QUIC_V1))
    pair.client.version = V2  # as if it switched
    with pytest.raises(QuicError) as error:
        check_peer_version_information(pair.client, TransportParameters())
    assert error.value.error_code == VNE


def test_server_rejects_a_chosen_version_unlike_the_first_initial() -> None:
    pair = negotiating_pair(server_versions=(QUIC_V2, QUIC_V1))
    with pytest.raises(QuicError) as error:
        check_peer_version_information(pair.server, _params(QUIC_V2, QUIC_V2, QUIC_V1))
    assert error.value.error_code == VNE
    check_peer_version_information(pair.server, _params(QUIC_V1, QUIC_V1, QUIC_V2))
