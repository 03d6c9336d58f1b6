"""An aioquic hq-interop server for interop tests: serves the files under ``--root``.

Prints ``listening port=N`` when ready, a ``handshake`` and a ``closed`` line per connection, and
runs until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path

from aioquic.asyncio import QuicConnectionProtocol, serve
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ConnectionTerminated, HandshakeCompleted, QuicEvent
from aioquic.quic.logger import QuicFileLogger
from aioquic.tls import CipherSuite
from hq import CHUNK, CIPHERS, SUITE_NAMES, report, resolve_request


class Protocol(QuicConnectionProtocol):
    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, HandshakeCompleted):
            schedule = self._quic.tls.key_schedule
            suite = SUITE_NAMES.get(int(schedule.cipher_suite), "?") if schedule else "none"
            report("handshake", alpn=event.alpn_protocol, suite=suite)
        elif isinstance(event, ConnectionTerminated):
            reason = repr(event.reason_phrase).replace(" ", "_")
            report("closed", code=hex(event.error_code), frame=event.frame_type, reason=reason)
        super().quic_event_received(event)


_TASKS: set[asyncio.Task[None]] = set()


def make_handler(root: Path) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], None]:
    """aioquic calls the stream handler without awaiting it: run each request as a task."""

    def start(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.get_running_loop().create_task(handle(reader, writer))
        _TASKS.add(task)
        task.add_done_callback(_TASKS.discard)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.read()
        target = resolve_request(root, request)
        if target is None:
            report("bad-request", request=repr(request[:64]))
            writer.write_eof()
            return
        data = target.read_bytes()
        for offset in range(0, len(data), CHUNK):
            writer.write(data[offset : offset + CHUNK])
        writer.write_eof()

    return start


async def main(args: argparse.Namespace) -> int:
    if args.qlog_dir:
        Path(args.qlog_dir).mkdir(parents=True, exist_ok=True)
    configuration = QuicConfiguration(
        alpn_protocols=[args.alpn],
        is_client=False,
        cipher_suites=[CipherSuite(CIPHERS[name]) for name in args.cipher] or None,
        quic_logger=QuicFileLogger(args.qlog_dir) if args.qlog_dir else None,
    )
    configuration.load_cert_chain(args.cert, args.key)
    if args.keylog:
        configuration.secrets_log_file = open(args.keylog, "a")  # noqa: SIM115
    server = await serve(
        args.host,
        args.port,
        configuration=configuration,
        create_protocol=Protocol,
        stream_handler=make_handler(Path(args.root)),
    )
    sock: socket.socket = server._transport.get_extra_info("socket")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    report("listening", host=args.host, port=sock.getsockname()[1])
    try:
        await asyncio.wait_for(stop.wait(), args.lifetime)
    except TimeoutError:
        report("lifetime-expired")
    server.close()
    report("stopped")
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--alpn", default="hq-interop")
    parser.add_argument("--cipher", action="append", default=[], choices=sorted(CIPHERS))
    parser.add_argument("--keylog")
    parser.add_argument("--qlog-dir")
    parser.add_argument("--lifetime", type=float, default=300.0, help="exit after this long")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args(sys.argv[1:]))))
