"""An aioquic hq-interop client for interop tests: downloads every ``PATH`` over one connection,
all streams at once, into ``--output``.  Prints ``handshake``, ``done`` and ``closed`` lines; the
exit status is 0 only if every download ended with FIN.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys
import time
from pathlib import Path

from aioquic.asyncio import QuicConnectionProtocol, connect
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ConnectionTerminated, HandshakeCompleted, QuicEvent
from aioquic.quic.logger import QuicFileLogger
from aioquic.tls import CipherSuite
from hq import CIPHERS, SUITE_NAMES, fail, output_name, report, request_line


class Protocol(QuicConnectionProtocol):
    terminated: ConnectionTerminated | None = None

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, HandshakeCompleted):
            schedule = self._quic.tls.key_schedule
            suite = SUITE_NAMES.get(int(schedule.cipher_suite), "?") if schedule else "none"
            report("handshake", alpn=event.alpn_protocol, suite=suite)
        elif isinstance(event, ConnectionTerminated):
            self.terminated = event
            reason = repr(event.reason_phrase).replace(" ", "_")
            report("closed", code=hex(event.error_code), frame=event.frame_type, reason=reason)
        super().quic_event_received(event)


async def download(client: QuicConnectionProtocol, path: str, output: Path) -> int:
    reader, writer = await client.create_stream()
    writer.write(request_line(path))
    writer.write_eof()
    data = await reader.read()
    if not reader.at_eof():
        raise ConnectionError(f"{path}: the stream ended without FIN")
    (output / output_name(path)).write_bytes(data)
    return len(data)


async def run(args: argparse.Namespace) -> int:
    if args.qlog_dir:
        Path(args.qlog_dir).mkdir(parents=True, exist_ok=True)
    configuration = QuicConfiguration(
        alpn_protocols=[args.alpn],
        is_client=True,
        server_name=args.server_name,
        cipher_suites=[CipherSuite(CIPHERS[name]) for name in args.cipher] or None,
        quic_logger=QuicFileLogger(args.qlog_dir) if args.qlog_dir else None,
    )
    if args.insecure:
        configuration.verify_mode = ssl.CERT_NONE
    elif args.ca:
        configuration.load_verify_locations(cafile=args.ca)
    if args.keylog:
        configuration.secrets_log_file = open(args.keylog, "a")  # noqa: SIM115
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    async with connect(
        args.host, args.port, configuration=configuration, create_protocol=Protocol
    ) as client:
        started = time.monotonic()
        results = await asyncio.gather(
            *(download(client, path, output) for path in args.paths), return_exceptions=True
        )
        elapsed = time.monotonic() - started
        errors = [result for result in results if isinstance(result, BaseException)]
        total = sum(result for result in results if isinstance(result, int))
        for error in errors[:5]:
            report("stream-failed", error=repr(str(error)).replace(" ", "_"))
        report("done", files=len(results) - len(errors), bytes=total, seconds=f"{elapsed:.3f}")
        early = isinstance(client, Protocol) and client.terminated is not None
        client.close(error_code=0)
        await client.wait_closed()
    return 1 if errors or early else 0


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
    parser.add_argument("--ca")
    parser.add_argument("--insecure", action="store_true")
    parser.add_argument("--alpn", default="hq-interop")
    parser.add_argument("--cipher", action="append", default=[], choices=sorted(CIPHERS))
    parser.add_argument("--keylog")
    parser.add_argument("--qlog-dir")
    parser.add_argument("--output", default=".")
    parser.add_argument("--timeout", type=float, default=60.0)
    return parser.parse_intermixed_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args(sys.argv[1:]))))
