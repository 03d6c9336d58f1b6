"""The MsQuic-style API: setting LOCAL_ADDRESS on a connected client migrates it to a new socket
(RFC 9000 §9.2), as MsQuic does; over loopback, through the public API only."""

from __future__ import annotations

import pytest
from api_harness import Client, EchoServer, Recorder, client_configuration, server_configuration

from pyquic.api import (
    ConnectionParam,
    QuicStatusError,
    Registration,
    SendFlags,
    Settings,
    StreamEventType,
)
from pyquic.testing.certificates import PemFiles


def _echo(client: Client, recorder: Recorder, data: bytes, count: int) -> None:
    client.received.clear()
    stream = client.open_stream()
    stream.send(data, SendFlags.START | SendFlags.FIN)
    recorder.wait_event("client-stream", StreamEventType.SHUTDOWN_COMPLETE, count)
    assert bytes(client.received) == data


def test_local_address_migrates_a_connected_client(
    registration: Registration, pem: PemFiles
) -> None:
    recorder = Recorder()
    echo = EchoServer(registration, recorder, server_configuration(registration, pem))
    client = Client(registration, recorder).start(
        client_configuration(registration, pem), echo.port
    )
    client.wait_connected()
    _echo(client, recorder, b"before" * 1000, 1)  # HANDSHAKE_DONE has arrived by now
    connection = client.connection
    before = connection.get_param(ConnectionParam.LOCAL_ADDRESS)
    connection.set_param(ConnectionParam.LOCAL_ADDRESS, ("127.0.0.1", 0))
    after = connection.get_param(ConnectionParam.LOCAL_ADDRESS)
    assert isinstance(before, tuple) and isinstance(after, tuple)
    assert after[1] != before[1]
    _echo(client, recorder, b"after" * 50_000, 2)
    (server_side,) = echo.connections
    # RFC 9000 §9.3: the server now sends to the client's new address
    remote = server_side.get_param(ConnectionParam.REMOTE_ADDRESS)
    assert isinstance(remote, tuple) and remote[1] == after[1]


def test_local_address_refused_when_the_server_disables_migration(
    registration: Registration, pem: PemFiles
) -> None:
    recorder = Recorder()
    settings = Settings(peer_bidi_stream_count=16, migration_enabled=False)
    echo = EchoServer(registration, recorder, server_configuration(registration, pem, settings))
    client = Client(registration, recorder).start(
        client_configuration(registration, pem), echo.port
    )
    client.wait_connected()
    _echo(client, recorder, b"ping", 1)
    connection = client.connection
    before = connection.get_param(ConnectionParam.LOCAL_ADDRESS)
    with pytest.raises(QuicStatusError, match="INVALID_STATE"):
        connection.set_param(ConnectionParam.LOCAL_ADDRESS, ("127.0.0.1", 0))
    assert connection.get_param(ConnectionParam.LOCAL_ADDRESS) == before
    _echo(client, recorder, b"still here", 2)
