"""The aio reader delivers a download without polling the connection for data it does not have.

Data arrives with a StreamReadable event when the stream becomes readable; the reader then takes
all the connection holds (up to its high-water mark) and, while it holds data, is not told again.
So an application read asks the connection for more only when the reader's buffer was full, and
a pull stops when the connection gave less than was asked for: a read of the connection that
returns nothing is a wasted call on every wake-up of a bulk download.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import pyquic.aio as aio
from pyquic.core.connection import Connection
from pyquic.testing.certificates import make_test_credentials

SIZE = 4 << 20  # beyond the reader's 1 MiB high-water mark: the buffer fills up
CHUNK = 1 << 16
PATTERN = bytes(range(251)) * (SIZE // 251 + 1)


async def _download(directory: Path) -> tuple[bytes, int]:
    pki = make_test_credentials(("localhost",))
    ca_file = str(pki.write_pem(directory).ca_certificate)

    async def send(reader: aio.QuicStreamReader, writer: aio.QuicStreamWriter) -> None:
        size = int.from_bytes(await reader.readexactly(8), "big")
        for start in range(0, size, CHUNK):
            writer.write(PATTERN[start : min(start + CHUNK, size)])
            await writer.drain()
        writer.write_eof()

    server = await aio.serve(
        "127.0.0.1",
        0,
        configuration=aio.QuicConfiguration(
            alpn_protocols=["bulk"], credential=pki.server_credential
        ),
        stream_handler=send,
    )
    port = int(server.local_address[1])  # type: ignore[call-overload]
    config = aio.QuicConfiguration(
        alpn_protocols=["bulk"], server_name="localhost", ca_file=ca_file
    )
    connection = await aio.connect("127.0.0.1", port, configuration=config)
    try:
        reader, writer = await connection.open_stream()
        writer.write(SIZE.to_bytes(8, "big"))
        writer.write_eof()
        chunks = [await asyncio.wait_for(reader.readexactly(1000), 10)]
        reads = 1
        while chunk := await asyncio.wait_for(reader.read(CHUNK), 10):
            chunks.append(chunk)
            reads += 1
        return b"".join(chunks), reads
    finally:
        connection.close()
        server.close()


def test_download_reads_the_connection_only_for_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty_reads = 0
    read_stream = Connection.read_stream

    def counting(self: Connection, stream_id: int, max_bytes: int = -1) -> tuple[bytes, bool]:
        nonlocal empty_reads
        data, fin = read_stream(self, stream_id, max_bytes)
        if self.is_client and not data and not fin:
            empty_reads += 1
        return data, fin

    monkeypatch.setattr(Connection, "read_stream", counting)
    received, reads = asyncio.run(_download(tmp_path))
    assert received == PATTERN[:SIZE]  # every byte, in order, through the full buffer
    # only a pull after the buffer was full may find the connection empty
    assert empty_reads <= reads // 10, (empty_reads, reads)
