"""A pyquic server for interop tests, on ``pyquic.aio``.

``--mode hq`` serves files from ``--root`` over hq-interop.  ``--mode discard`` (for a peer
speaking a protocol pyquic does not, e.g. HTTP/3) accepts every stream, discards what arrives and
closes the connection with ``--close-code`` ``--close-delay`` seconds after the peer's first
bidirectional stream is finished (or ``--close-after`` seconds after the handshake).  It prints
``listening port=N`` when ready, a ``handshake`` and a ``closed`` line per connection, and runs
until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path

from hq import CHUNK, CIPHERS, report, resolve_request
from pyquic_common import disable_gso, record_sent_datagrams, statistics_of, suite_of

from pyquic.aio import (
    QuicConfiguration,
    QuicConnection,
    QuicServer,
    QuicStreamReader,
    QuicStreamWriter,
    serve,
)


def describe_close(connection: QuicConnection) -> dict[str, object]:
    event = connection.terminated
    if event is None:
        return {"code": "none"}
    return {
        "code": hex(event.error_code),
        "application": event.application,
        "by_peer": event.by_peer,
        "idle": event.idle_timeout,
        "reason": repr(event.reason).replace(" ", "_"),
    }


class Server:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.root = Path(args.root) if args.root else None
        self.connections = 0

    async def on_connection(self, connection: QuicConnection) -> None:
        number = self.connections = self.connections + 1
        try:
            await connection.wait_connected()
        except ConnectionError as exc:
            report("handshake-failed", conn=number, error=repr(str(exc)).replace(" ", "_"))
            return
        alpn = (connection.alpn or b"").decode("ascii", "replace")
        report("handshake", conn=number, alpn=alpn, suite=suite_of(connection))
        handler = self.serve_file if self.args.mode == "hq" else self.discard
        first_bidi = asyncio.get_running_loop().create_future()
        closer = None
        if self.args.mode == "discard":
            closer = asyncio.create_task(self.close_later(connection, first_bidi))
        tasks: set[asyncio.Task[None]] = set()
        try:
            while True:
                reader, writer = await connection.accept_stream()
                task = asyncio.create_task(handler(reader, writer, first_bidi))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        except ConnectionError:
            pass  # the connection ended
        await connection.wait_closed()
        if closer is not None:
            closer.cancel()
        report("closed", conn=number, **describe_close(connection))
        report("conn-stats", conn=number, **statistics_of(connection))

    async def close_later(
        self, connection: QuicConnection, first_bidi: asyncio.Future[None]
    ) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(first_bidi, self.args.close_after)
            await asyncio.sleep(self.args.close_delay)
        report("closing", code=hex(self.args.close_code))
        connection.close(self.args.close_code, "done")

    async def serve_file(
        self, reader: QuicStreamReader, writer: QuicStreamWriter, first: asyncio.Future[None]
    ) -> None:
        assert self.root is not None
        try:
            request = await reader.read()
            target = resolve_request(self.root, request)
            if target is None:
                report("bad-request", stream=reader.stream_id, request=repr(request[:64]))
                writer.reset(0x1)
                return
            data = target.read_bytes()
            for offset in range(0, len(data), CHUNK):
                writer.write(data[offset : offset + CHUNK])
                await writer.drain()
            writer.write_eof()
            await writer.wait_closed()
        except ConnectionError:
            pass  # the connection or stream ended; the client reports the failure

    async def discard(
        self, reader: QuicStreamReader, writer: QuicStreamWriter, first: asyncio.Future[None]
    ) -> None:
        try:
            received = len(await reader.read())
        except ConnectionError:
            return
        report("stream", id=reader.stream_id, bytes=received)
        if not reader.stream_id & 0x2 and not first.done():
            first.set_result(None)


def report_statistics(server: QuicServer) -> None:
    """The endpoint's counters: what arrived, what was dropped and why, what went wrong."""
    stats = server._binding.endpoint.stats
    counts = sorted((reason.value, count) for reason, count in stats.dropped.items())
    drops = ",".join(f"{reason}:{count}" for reason, count in counts)
    report(
        "stats",
        received=stats.datagrams_received,
        dropped=stats.datagrams_dropped,
        created=stats.connections_created,
        connection_errors=stats.connection_errors,
        version_negotiation=stats.version_negotiation_sent,
        resets=stats.stateless_resets_sent,
        drops=drops or "none",
    )


async def main(args: argparse.Namespace) -> int:
    if args.no_gso:
        disable_gso()
    if args.pcap:
        record_sent_datagrams(args.pcap)
    configuration = QuicConfiguration(
        alpn_protocols=[args.alpn],
        certificate_file=args.cert,
        private_key_file=args.key,
        keylog_file=args.keylog,
        qlog_dir=args.qlog_dir,
        cipher_suites=[CIPHERS[name] for name in args.cipher] or None,
    )
    server_state = Server(args)
    server = await serve(
        args.host,
        args.port,
        configuration=configuration,
        connection_handler=server_state.on_connection,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    report("listening", host=args.host, port=server.local_address[1])
    try:
        await asyncio.wait_for(stop.wait(), args.lifetime)
    except TimeoutError:
        report("lifetime-expired")
    report_statistics(server)
    server.close()
    await asyncio.sleep(0.1)  # let the CONNECTION_CLOSEs leave
    report("stopped")
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--root", help="the directory served (hq mode)")
    parser.add_argument("--alpn", default="hq-interop")
    parser.add_argument("--cipher", action="append", default=[], choices=sorted(CIPHERS))
    parser.add_argument("--keylog")
    parser.add_argument("--qlog-dir", help="a qlog trace per connection in this directory")
    parser.add_argument("--no-gso", action="store_true", help="one datagram per send call")
    parser.add_argument("--pcap", help="write the datagrams sent to this pcap file")
    parser.add_argument("--mode", choices=("hq", "discard"), default="hq")
    parser.add_argument("--close-code", type=lambda text: int(text, 0), default=0x100)
    parser.add_argument("--close-after", type=float, default=2.0)
    parser.add_argument("--close-delay", type=float, default=0.0, help="after the first request")
    parser.add_argument("--lifetime", type=float, default=300.0, help="exit after this long")
    args = parser.parse_args(argv)
    if args.mode == "hq" and not args.root:
        parser.error("--mode hq needs --root")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args(sys.argv[1:]))))
