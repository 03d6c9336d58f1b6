"""The asyncio API: QUIC connections and streams that feel like asyncio's.

Client::

    configuration = QuicConfiguration(alpn_protocols=["hq-interop"], ca_file="ca.pem")
    connection = await pyquic.aio.connect("localhost", 4433, configuration=configuration)
    reader, writer = await connection.open_stream()
    writer.write(b"GET /index.html\r\n")
    writer.write_eof()
    body = await reader.read()

Server::

    async def handle(reader, writer):
        request = await reader.read()
        writer.write(b"...")
        writer.write_eof()

    configuration = QuicConfiguration(
        alpn_protocols=["hq-interop"], certificate_file="cert.pem", private_key_file="key.pem"
    )
    server = await pyquic.aio.serve("::", 4433, configuration=configuration, stream_handler=handle)

Both run on the caller's event loop, over the same engine as the MsQuic-style API.  A client
migrates to a new local address with ``await connection.migrate()`` (RFC 9000 §9.2), and follows
a server's preferred address (``serve(..., preferred_address=...)``, RFC 9000 §9.6) by itself.
"""

from pyquic.aio.config import QuicConfiguration
from pyquic.aio.connection import PathInfo, QuicConnection, QuicServer, connect, serve
from pyquic.aio.streams import QuicStreamReader, QuicStreamWriter, StreamClosedError
from pyquic.core.paths import MigrationError

__all__ = [
    "MigrationError",
    "PathInfo",
    "QuicConfiguration",
    "QuicConnection",
    "QuicServer",
    "QuicStreamReader",
    "QuicStreamWriter",
    "StreamClosedError",
    "connect",
    "serve",
]
