"""Connection migration over real loopback sockets (RFC 9000 §9): a client's active migration to a
new local port mid-transfer, and the move to the server's preferred address (RFC 9000 §9.6).
Downloads are checked byte for byte; the server's view of the path comes from the public
:attr:`QuicConnection.path`."""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

import pyquic.aio as aio
from pyquic.core.settings import Settings
from pyquic.testing.certificates import make_test_credentials

PAYLOAD = random.Random(7).randbytes(6 * 1024 * 1024)
MIGRATE_AFTER = 1024 * 1024  # bytes received before the client moves
TIMEOUT_S = 60


@dataclass
class Download:
    data: bytes
    client: aio.QuicConnection
    server_conn: aio.QuicConnection  # the server's side of the connection
    first_local: tuple[object, ...]  # the client's local address before any move
    server: aio.QuicServer


async def _download(
    directory: Path,
    *,
    server_settings: Settings | None = None,
    preferred: bool = False,
    during: Callable[[aio.QuicConnection], Awaitable[None]] | None = None,
) -> Download:
    """The client downloads PAYLOAD; ``during(client)`` runs once MIGRATE_AFTER bytes arrived."""
    pki = make_test_credentials(("localhost",))
    ca_file = str(pki.write_pem(directory).ca_certificate)
    server_side: list[aio.QuicConnection] = []

    async def serve_payload(connection: aio.QuicConnection) -> None:
        server_side.append(connection)
        reader, writer = await connection.accept_stream()
        await reader.read()
        writer.write(PAYLOAD)
        writer.write_eof()
        await writer.drain()

    settings = server_settings or Settings(peer_bidi_stream_count=10, peer_unidi_stream_count=0)
    server = await aio.serve(
        "127.0.0.1",
        0,
        configuration=aio.QuicConfiguration(
            alpn_protocols=["test"], credential=pki.server_credential, settings=settings
        ),
        connection_handler=serve_payload,
        preferred_address=("127.0.0.1", 0) if preferred else None,
    )
    port = int(str(server.local_address[1]))
    config = aio.QuicConfiguration(
        alpn_protocols=["test"], server_name="localhost", ca_file=ca_file
    )
    client = await aio.connect("127.0.0.1", port, configuration=config)
    first_local = client.get_extra_info("sockname")
    assert isinstance(first_local, tuple)
    try:
        reader, writer = await client.open_stream()
        writer.write(b"GET")
        writer.write_eof()
        received = bytearray()
        while len(received) < MIGRATE_AFTER:
            received += await asyncio.wait_for(reader.read(65536), TIMEOUT_S)
        if during is not None:
            await during(client)
        received += await asyncio.wait_for(reader.read(), TIMEOUT_S)
        await asyncio.sleep(0.05)  # the last PATH_RESPONSE reaches the server
        return Download(bytes(received), client, server_side[0], first_local, server)
    finally:
        client.close()
        server.close()


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_client_moves_to_a_new_local_port_mid_transfer(tmp_path: Path) -> None:
    moved_to: list[tuple[object, ...]] = []

    async def migrate(client: aio.QuicConnection) -> None:
        moved_to.append(await client.migrate())

    async def run() -> None:
        got = await _download(tmp_path, during=migrate)
        client, server_conn, first_local = got.client, got.server_conn, got.first_local
        assert _digest(got.data) == _digest(PAYLOAD)
        (new_local,) = moved_to
        assert new_local[1] != first_local[1]  # a new socket, a new port
        assert client.get_extra_info("sockname") == new_local
        assert client.path.validated  # the client's PATH_CHALLENGE was answered (§8.2)
        # RFC 9000 §9.3: the server moved to the client's new address and validated it
        assert server_conn.path.peer_address[1] == new_local[1]  # type: ignore[index]
        assert server_conn.path.validated
        assert server_conn.path.validations >= 1

    asyncio.run(asyncio.wait_for(run(), TIMEOUT_S))


def test_client_follows_the_servers_preferred_address(tmp_path: Path) -> None:
    async def run() -> None:
        got = await _download(tmp_path, preferred=True)
        client, server_conn, first_local = got.client, got.server_conn, got.first_local
        assert _digest(got.data) == _digest(PAYLOAD)
        preferred = got.server.preferred_address
        assert preferred is not None and preferred[1] != got.server.local_address[1]
        assert client.get_extra_info("peername") == preferred  # RFC 9000 §9.6.1
        local = client.get_extra_info("sockname")
        assert isinstance(local, tuple) and local[1] != first_local[1]  # from a new port
        assert client.path.validated and client.path.validations >= 1
        # the server validated the client's new path (RFC 9000 §9.3, §9.6.1)
        assert server_conn.path.peer_address == ("127.0.0.1", local[1])
        assert server_conn.path.validated and server_conn.path.validations >= 1

    asyncio.run(asyncio.wait_for(run(), TIMEOUT_S))


def test_migration_refused_when_the_server_disables_it(tmp_path: Path) -> None:
    errors: list[Exception] = []
    locals_seen: list[object] = []

    async def migrate(client: aio.QuicConnection) -> None:
        locals_seen.append(client.get_extra_info("sockname"))
        with pytest.raises(aio.MigrationError, match="disable_active_migration") as error:
            await client.migrate()
        errors.append(error.value)
        locals_seen.append(client.get_extra_info("sockname"))

    settings = Settings(
        peer_bidi_stream_count=10, peer_unidi_stream_count=0, migration_enabled=False
    )

    async def run() -> None:
        got = await _download(tmp_path, server_settings=settings, during=migrate)
        assert _digest(got.data) == _digest(PAYLOAD)

    asyncio.run(asyncio.wait_for(run(), TIMEOUT_S))
    assert len(errors) == 1
    assert locals_seen[0] == locals_seen[1]  # nothing moved
