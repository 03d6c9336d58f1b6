"""What a handshake costs the core: work that must be done once, not per pass or per connection.

Two endpoints with real TLS over the simulated network; each test counts one kind of repeated
work while connections handshake and close, through public methods only.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from pyquic.core.endpoint import Endpoint, ServerConfig
from pyquic.core.events import HandshakeCompleted
from pyquic.core.settings import Settings
from pyquic.core.tls_interface import TlsSessionLike
from pyquic.platform.crypto import CryptoProvider
from pyquic.testing import SimulatedNetwork, make_test_credentials
from pyquic.testing.pair import DEFAULT_EPOCH, pair_settings, tls_configs, tls_factory


@dataclass
class _World:
    network: SimulatedNetwork
    server: Endpoint
    client: Endpoint
    client_tls: Callable[[bytes], TlsSessionLike]


@pytest.fixture(scope="module")
def settings() -> Settings:
    return pair_settings()


def _world(settings: Settings) -> _World:
    network = SimulatedNetwork(7)
    client_config, server_config = tls_configs(make_test_credentials(now=DEFAULT_EPOCH), network)
    crypto = CryptoProvider()
    server = Endpoint(
        settings=settings,
        crypto=crypto,
        rng=random.Random("server"),
        stateless_reset_key=bytes(range(32)),
        server=ServerConfig(tls_factory(server_config), settings),
    )
    client = Endpoint(
        settings=settings,
        crypto=crypto,
        rng=random.Random("client"),
        stateless_reset_key=hashlib.sha256(b"client").digest(),
    )
    network.add_endpoint("server", server)
    network.add_endpoint("client", client)
    return _World(network, server, client, tls_factory(client_config))


def _handshake_and_close(world: _World) -> None:
    """One connection: handshake, close, until both endpoints have forgotten it."""
    network = world.network
    conn = world.client.connect("server", world.client_tls, network.now_us)
    completed = []

    def connected() -> bool:
        while (event := conn.poll_event()) is not None:
            completed.append(isinstance(event, HandshakeCompleted))
        while world.server.poll_event() is not None:
            pass
        return any(completed)

    network.run(connected, max_time_us=network.now_us + 5_000_000)
    conn.close(now_us=network.now_us)
    world.client.touch(conn)

    def forgotten() -> bool:
        while world.server.poll_event() is not None or world.client.poll_event() is not None:
            pass
        return not world.server.connections and not world.client.connections

    network.run(forgotten, max_time_us=network.now_us + 5_000_000)


@pytest.fixture
def world(settings: Settings) -> Iterator[_World]:
    world = _world(settings)
    _handshake_and_close(world)  # warm up: module-level caches
    yield world


def test_stateless_reset_tokens_use_one_shot_hmac(
    world: _World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # RFC 9000 §10.3.2: HMAC-SHA256 per issued CID, through the one-shot hmac.digest (OpenSSL)
    # rather than an hmac object per token
    def forbidden(*args: object, **kwargs: object) -> object:
        raise AssertionError("hmac.new on the handshake path")

    monkeypatch.setattr(hmac, "new", forbidden)
    _handshake_and_close(world)
    assert world.server.stats.connections_closed == 2
    assert world.client.stats.connections_closed == 2


def test_settings_parameters_are_derived_once_per_settings(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the transport parameters that depend on the settings alone (RFC 9000 §18.2) are the same
    # for every connection made with one Settings value: derived once, not per connection
    settings.transport_parameters(initial_source_connection_id=b"\x00" * 8, is_server=False)
    calls = 0
    stream_recv_window = Settings.stream_recv_window

    def counting(self: Settings, *, bidirectional: bool, locally_initiated: bool) -> int:
        nonlocal calls
        calls += 1
        return stream_recv_window(
            self, bidirectional=bidirectional, locally_initiated=locally_initiated
        )

    monkeypatch.setattr(Settings, "stream_recv_window", counting)
    for index in range(3):
        cid = bytes([index]) * 8
        client = settings.transport_parameters(initial_source_connection_id=cid, is_server=False)
        server = settings.transport_parameters(
            initial_source_connection_id=cid,
            original_destination_connection_id=b"\xff" * 8,
            stateless_reset_token=bytes(16),
            is_server=True,
        )
        assert client.initial_source_connection_id == server.initial_source_connection_id == cid
        assert server.original_destination_connection_id == b"\xff" * 8
        assert client.original_destination_connection_id is None
    assert calls == 0
    changed = settings.merge(stream_recv_window_bidi_remote=1024)
    params = changed.transport_parameters(initial_source_connection_id=b"\x01" * 8, is_server=False)
    assert params.initial_max_stream_data_bidi_remote == 1024
    assert calls == 3  # a new Settings value: its three stream windows, once
