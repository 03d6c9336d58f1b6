"""An echo server and client on pyquic's asyncio API (``pyquic.aio``), in one process.

The server echoes every stream; the client opens a stream, writes a message and the end of the
stream, and reads the answer.  Both run on the same event loop, over the same engine as the
MsQuic-style API (``examples/msquic_echo_server.py``).

    python examples/aio_echo.py --message "hello"

A throw-away CA and certificate for ``localhost`` are made for the run.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile

from pyquic.aio import QuicConfiguration, QuicStreamReader, QuicStreamWriter, connect, serve
from pyquic.testing.certificates import make_test_credentials

ALPN = ["echo"]


async def echo(reader: QuicStreamReader, writer: QuicStreamWriter) -> None:
    data = await reader.read()  # until the client's FIN
    writer.write(data)
    writer.write_eof()
    await writer.drain()


async def main(message: bytes) -> None:
    files = make_test_credentials(["localhost"]).write_pem(tempfile.mkdtemp(prefix="pyquic-aio-"))
    server_configuration = QuicConfiguration(
        ALPN,
        certificate_file=str(files.server_certificate),
        private_key_file=str(files.server_key),
    )
    client_configuration = QuicConfiguration(ALPN, ca_file=str(files.ca_certificate))
    async with await serve(
        "127.0.0.1", 0, configuration=server_configuration, stream_handler=echo
    ) as server:
        port = server.local_address[1]
        assert isinstance(port, int)
        connection = await connect("localhost", port, configuration=client_configuration)
        reader, writer = await connection.open_stream()
        writer.write(message)
        writer.write_eof()
        answer = await reader.read()
        print(f"sent {message!r}, got back {answer!r}")
        connection.close()
        await connection.wait_closed()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--message", default="hello over QUIC")
    asyncio.run(main(parser.parse_args().message.encode()))
