"""Many concurrent openers beyond the peer's stream limit all get a stream in the end."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pyquic.aio as aio
from pyquic.core.settings import Settings
from pyquic.testing.certificates import make_test_credentials


async def _run(openers: int, directory: Path) -> list[bytes]:
    pki = make_test_credentials(("localhost",))
    ca_file = str(pki.write_pem(directory).ca_certificate)

    async def echo(reader: aio.QuicStreamReader, writer: aio.QuicStreamWriter) -> None:
        writer.write(await reader.read())
        writer.write_eof()

    server_settings = Settings(peer_bidi_stream_count=3, peer_unidi_stream_count=0)
    server = await aio.serve(
        "127.0.0.1",
        0,
        configuration=aio.QuicConfiguration(
            alpn_protocols=["echo"], credential=pki.server_credential, settings=server_settings
        ),
        stream_handler=echo,
    )
    port = int(server.local_address[1])  # type: ignore[call-overload]
    client_config = aio.QuicConfiguration(
        alpn_protocols=["echo"], server_name="localhost", ca_file=ca_file
    )
    connection = await aio.connect("127.0.0.1", port, configuration=client_config)

    async def one(index: int) -> bytes:
        reader, writer = await connection.open_stream()
        writer.write(b"request %d" % index)
        writer.write_eof()
        return await reader.read()

    try:
        return await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(openers))), 30)
    finally:
        connection.close()
        server.close()


def test_openers_beyond_the_stream_limit_all_proceed(tmp_path: Path) -> None:
    answers = asyncio.run(_run(20, tmp_path))
    assert answers == [b"request %d" % i for i in range(20)]
