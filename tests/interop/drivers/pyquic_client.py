"""A pyquic client for interop tests, on ``pyquic.aio``.

``--mode hq`` downloads every ``PATH`` over one connection, all streams at once, into
``--output``.  ``--mode handshake`` (for a server speaking a protocol pyquic does not, e.g.
HTTP/3) completes the handshake, waits ``--linger`` seconds accepting and discarding the peer's
streams, then closes with ``--close-code``.  It prints ``handshake``, ``done`` and ``closed``
lines; the exit status is 0 only if everything asked for succeeded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from pathlib import Path

from hq import CIPHERS, fail, output_name, report, request_line
from pyquic_common import disable_gso, record_sent_datagrams, statistics_of, suite_of

from pyquic.aio import QuicConfiguration, QuicConnection, QuicStreamReader, connect


async def download(connection: QuicConnection, path: str, output: Path) -> int:
    reader, writer = await connection.open_stream()
    writer.write(request_line(path))
    writer.write_eof()
    data = await reader.read()
    if not reader.at_eof():
        raise ConnectionError(f"{path}: the stream ended without FIN")
    (output / output_name(path)).write_bytes(data)
    return len(data)


async def discard(reader: QuicStreamReader) -> None:
    with contextlib.suppress(ConnectionError):
        await reader.read()


async def discard_streams(connection: QuicConnection) -> None:
    tasks: set[asyncio.Task[None]] = set()
    with contextlib.suppress(ConnectionError):
        while True:
            reader, _ = await connection.accept_stream()
            task = asyncio.create_task(discard(reader))
            tasks.add(task)
            task.add_done_callback(tasks.discard)


async def run(args: argparse.Namespace) -> int:
    if args.no_gso:
        disable_gso()
    if args.pcap:
        record_sent_datagrams(args.pcap)
    configuration = QuicConfiguration(
        alpn_protocols=[args.alpn],
        ca_file=args.ca,
        verify=not args.insecure,
        server_name=args.server_name,
        keylog_file=args.keylog,
        qlog_dir=args.qlog_dir,
        cipher_suites=[CIPHERS[name] for name in args.cipher] or None,
    )
    started = time.monotonic()
    connection = await connect(args.host, args.port, configuration=configuration)
    handshake_s = time.monotonic() - started
    alpn = (connection.alpn or b"").decode("ascii", "replace")
    report("handshake", alpn=alpn, suite=suite_of(connection), seconds=f"{handshake_s:.3f}")
    status = 0
    if args.mode == "hq":
        output = Path(args.output)
        output.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        results = await asyncio.gather(
            *(download(connection, path, output) for path in args.paths), return_exceptions=True
        )
        elapsed = time.monotonic() - started
        errors = [result for result in results if isinstance(result, BaseException)]
        total = sum(result for result in results if isinstance(result, int))
        for error in errors[:5]:
            report("stream-failed", error=repr(str(error)).replace(" ", "_"))
        report("done", files=len(results) - len(errors), bytes=total, seconds=f"{elapsed:.3f}")
        status = 1 if errors else 0
    else:
        discarding = asyncio.create_task(discard_streams(connection))
        await asyncio.sleep(args.linger)
        discarding.cancel()
    terminated_early = connection.terminated
    connection.close(args.close_code, "bye")
    await asyncio.wait_for(connection.wait_closed(), 10)
    event = connection.terminated
    report("conn-stats", **statistics_of(connection))
    if terminated_early is not None:
        status = 1
    if event is not None:
        report(
            "closed",
            code=hex(event.error_code),
            application=event.application,
            by_peer=event.by_peer,
            early=terminated_early is not None,
            reason=repr(event.reason).replace(" ", "_"),
        )
    return status


async def main(args: argparse.Namespace) -> int:
    try:
        return await asyncio.wait_for(run(args), args.timeout)
    except TimeoutError:
        return fail(f"timed out after {args.timeout} s", 3)
    except (ConnectionError, OSError) as exc:
        return fail(f"{type(exc).__name__}: {exc}", 2)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--server-name", default="localhost")
    parser.add_argument("--ca", help="the CA file trusted (default: the system store)")
    parser.add_argument("--insecure", action="store_true", help="skip certificate verification")
    parser.add_argument("--alpn", default="hq-interop")
    parser.add_argument("--cipher", action="append", default=[], choices=sorted(CIPHERS))
    parser.add_argument("--keylog")
    parser.add_argument("--qlog-dir", help="a qlog trace per connection in this directory")
    parser.add_argument("--no-gso", action="store_true", help="one datagram per send call")
    parser.add_argument("--pcap", help="write the datagrams sent to this pcap file")
    parser.add_argument("--output", default=".")
    parser.add_argument("--mode", choices=("hq", "handshake"), default="hq")
    parser.add_argument("--linger", type=float, default=0.5)
    parser.add_argument("--close-code", type=lambda text: int(text, 0), default=0)
    parser.add_argument("--timeout", type=float, default=60.0)
    return parser.parse_intermixed_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args(sys.argv[1:]))))
