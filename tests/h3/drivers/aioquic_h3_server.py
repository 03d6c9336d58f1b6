"""An aioquic HTTP/3 server (aioquic.h3.connection.H3Connection) for pyquic's h3 tests.

Serves the files under ``--root`` (GET; 404 otherwise) with a ``x-path`` header; prints
``listening port=N`` when ready and runs until SIGTERM or SIGINT (or ``--lifetime`` seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
from pathlib import Path

from aioquic.asyncio import QuicConnectionProtocol, serve
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, H3Event, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ProtocolNegotiated, QuicEvent

CHUNK = 64 * 1024


class Protocol(QuicConnectionProtocol):
    root: Path

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._h3: H3Connection | None = None

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, ProtocolNegotiated):
            self._h3 = H3Connection(self._quic)
        if self._h3 is not None:
            for h3_event in self._h3.handle_event(event):
                self._h3_event(h3_event)

    def _h3_event(self, event: H3Event) -> None:
        assert self._h3 is not None
        if isinstance(event, HeadersReceived):
            fields = dict(event.headers)
            path = fields.get(b":path", b"/").decode()
            target = (self.root / path.lstrip("/")).resolve()
            ok = fields.get(b":method") == b"GET" and target.is_file()
            data = target.read_bytes() if ok else b""
            headers = [
                (b":status", b"200" if ok else b"404"),
                (b"x-path", path.encode()),
                (b"content-length", str(len(data)).encode()),
            ]
            self._h3.send_headers(event.stream_id, headers, end_stream=not data)
            for offset in range(0, len(data), CHUNK):
                end = offset + CHUNK >= len(data)
                self._h3.send_data(event.stream_id, data[offset : offset + CHUNK], end_stream=end)
            self.transmit()
        elif isinstance(event, DataReceived):
            pass


async def main(args: argparse.Namespace) -> None:
    configuration = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN)
    configuration.load_cert_chain(args.cert, args.key)
    Protocol.root = Path(args.root)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = await serve("127.0.0.1", port, configuration=configuration, create_protocol=Protocol)
    print(f"listening port={port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), args.lifetime)
    server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--lifetime", type=float, default=120.0)
    asyncio.run(main(parser.parse_args()))
