"""A connection keeps only the stream objects that are still in use.

A long-lived connection serving many requests must not hold every reader and writer it ever
made: finished streams' objects are released once the application drops them, on both ends,
and a writer waiting in ``drain()`` still wakes when its data is acknowledged.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from pathlib import Path

import pyquic.aio as aio
from pyquic.testing.certificates import make_test_credentials

REQUESTS = 200


async def _run(directory: Path) -> tuple[int, int, bytes]:
    pki = make_test_credentials(("localhost",))
    ca_file = str(pki.write_pem(directory).ca_certificate)
    server_objects: list[weakref.ref[object]] = []

    async def echo(reader: aio.QuicStreamReader, writer: aio.QuicStreamWriter) -> None:
        server_objects.extend((weakref.ref(reader), weakref.ref(writer)))
        writer.write(await reader.read())
        writer.write_eof()

    server = await aio.serve(
        "127.0.0.1",
        0,
        configuration=aio.QuicConfiguration(
            alpn_protocols=["echo"], credential=pki.server_credential
        ),
        stream_handler=echo,
    )
    port = int(server.local_address[1])  # type: ignore[call-overload]
    client_config = aio.QuicConfiguration(
        alpn_protocols=["echo"], server_name="localhost", ca_file=ca_file
    )
    connection = await aio.connect("127.0.0.1", port, configuration=client_config)
    client_objects: list[weakref.ref[object]] = []
    try:
        for index in range(REQUESTS):
            reader, writer = await connection.open_stream()
            client_objects.extend((weakref.ref(reader), weakref.ref(writer)))
            writer.write(b"request %d" % index)
            writer.write_eof()
            assert await asyncio.wait_for(reader.read(), 10) == b"request %d" % index
            del reader, writer
        # a large write on a stream that stays referenced: drain() must still be woken
        reader, writer = await connection.open_stream()
        writer.write(bytes(4 << 20))  # beyond the 1 MiB high-water mark: drain() waits
        await asyncio.wait_for(writer.drain(), 10)
        writer.write_eof()
        echoed = await asyncio.wait_for(reader.read(), 10)
        await asyncio.sleep(0.05)  # the server's handlers return
        gc.collect()
        alive_client = sum(1 for ref in client_objects if ref() is not None)
        alive_server = sum(1 for ref in server_objects[: 2 * REQUESTS] if ref() is not None)
        return alive_client, alive_server, echoed
    finally:
        connection.close()
        server.close()


def test_finished_streams_release_their_objects(tmp_path: Path) -> None:
    alive_client, alive_server, echoed = asyncio.run(_run(tmp_path))
    assert alive_client == 0
    assert alive_server == 0
    assert echoed == bytes(4 << 20)
