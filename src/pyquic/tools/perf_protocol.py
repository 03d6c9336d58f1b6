"""The perf protocol (draft-banks-quic-performance) and its scenarios, independent of any stack.

Design: secnetperf's protocol and measurements, written against duck-typed asyncio-style readers
and writers so that the same scenario code drives pyquic and, in ``bench/peers``, aioquic.  On
each bidirectional stream the client sends the 8-byte big-endian number of bytes it wants back,
then its upload and FIN; the server reads the number, discards the upload until FIN, and answers
with that many bytes and FIN.  A stack supplies a :class:`Dialer` (connect, open streams, close);
:func:`run_scenario` measures one scenario and returns a JSON-ready result.

The command line (:func:`add_arguments`) is here too, so that both stacks' tools take the same
options, and so that ``pyquic --help`` does not import the engine.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import resource
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

ALPN = "perf"
SIZE_BYTES = 8  # the response-size prefix of every request stream
CHUNK = 1 << 16  # bytes per write and per read
SCENARIOS = ("upload", "download", "hps", "rps", "latency")
CONGESTION_CONTROL = ("cubic", "new_reno")
CIPHERS = {
    "aes128gcm": 0x1301,
    "aes256gcm": 0x1302,
    "chacha20": 0x1303,
}
PERCENTILES = (50.0, 90.0, 99.0, 99.9)
DEFAULT_BYTES = 100_000_000
DEFAULT_TIME_S = 5.0
DEFAULT_REQUEST = 512
DEFAULT_RESPONSE = 4000
MIN_UDP_PAYLOAD = 1200  # RFC 9000 §14: every QUIC path carries 1200-byte datagrams
MAX_UDP_PAYLOAD = 65_527  # RFC 9000 §18.2: the largest max_udp_payload_size
_ZEROS = bytes(CHUNK)


class Reader(Protocol):
    async def read(self, n: int = -1) -> bytes: ...

    async def readexactly(self, n: int) -> bytes: ...


class Writer(Protocol):
    def write(self, data: bytes) -> None: ...

    def write_eof(self) -> None: ...

    async def drain(self) -> None: ...


class Connection(Protocol):
    async def open_stream(self) -> tuple[Reader, Writer]: ...

    async def close(self) -> None: ...


Dialer = Callable[[], Awaitable[Connection]]


# --- the protocol ----------------------------------------------------------------------------


async def send_bytes(writer: Writer, count: int) -> None:
    """Write ``count`` zero bytes in chunks, waiting for buffer room between them."""
    view = memoryview(_ZEROS)
    while count > 0:
        n = min(count, CHUNK)
        writer.write(bytes(view[:n]) if n < CHUNK else _ZEROS)
        count -= n
        await writer.drain()


async def receive_all(reader: Reader) -> int:
    """Read until FIN; the number of bytes read."""
    total = 0
    while data := await reader.read(CHUNK):
        total += len(data)
    return total


async def serve_stream(reader: Reader, writer: Writer) -> None:
    """The server's side of one request stream."""
    size = int.from_bytes(await reader.readexactly(SIZE_BYTES), "big")
    await receive_all(reader)
    await send_bytes(writer, size)
    writer.write_eof()


async def request(connection: Connection, upload: int, download: int) -> int:
    """One request: ask for ``download`` bytes, upload ``upload``; the bytes received."""
    reader, writer = await connection.open_stream()
    writer.write(download.to_bytes(SIZE_BYTES, "big"))
    await send_bytes(writer, upload)
    writer.write_eof()
    return await receive_all(reader)


# --- measurements ----------------------------------------------------------------------------


def percentile(ordered: Sequence[float], p: float) -> float:
    """The nearest-rank percentile of an ascending sequence (0 when it is empty)."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(round(p * len(ordered) / 100.0, 9)))  # round: 99.9% of 1000
    return ordered[min(rank, len(ordered)) - 1]


def latency_summary(samples_us: list[float]) -> dict[str, float]:
    ordered = sorted(samples_us)
    summary = {f"p{p:g}": round(percentile(ordered, p), 1) for p in PERCENTILES}
    summary["max"] = round(ordered[-1], 1) if ordered else 0.0
    return summary


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Options:
    """What one client run measures (already validated)."""

    scenario: str
    bytes: int = DEFAULT_BYTES
    time_s: float = DEFAULT_TIME_S
    connections: int = 1
    streams: int = 1
    request_size: int = DEFAULT_REQUEST
    response_size: int = DEFAULT_RESPONSE


@dataclass
class _Tally:
    count: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    latencies_us: list[float] = field(default_factory=list)


async def run_scenario(dialer: Dialer, options: Options) -> dict[str, object]:
    """Run one scenario against a perf server; the result as a JSON-ready dict."""
    cpu_start = cpu_seconds()
    tally = _Tally()
    if options.scenario == "hps":
        started = time.perf_counter()
        await _handshakes(dialer, options, tally)
    else:
        connection = await dialer()
        started = time.perf_counter()
        try:
            if options.scenario in ("upload", "download"):
                await _bulk(connection, options, tally)
            else:
                await _requests(connection, options, tally)
        finally:
            await connection.close()
    elapsed = time.perf_counter() - started
    return _result(options, tally, elapsed, cpu_seconds() - cpu_start)


async def _bulk(connection: Connection, options: Options, tally: _Tally) -> None:
    per_stream = options.bytes // options.streams
    upload = per_stream if options.scenario == "upload" else 0
    download = per_stream if options.scenario == "download" else 0
    received = await asyncio.gather(
        *(request(connection, upload, download) for _ in range(options.streams))
    )
    tally.count = options.streams
    tally.bytes_sent = upload * options.streams
    tally.bytes_received = sum(received)
    if tally.bytes_received != download * options.streams:
        raise ConnectionError(f"received {tally.bytes_received} bytes, expected {download}")


async def _requests(connection: Connection, options: Options, tally: _Tally) -> None:
    deadline = time.perf_counter() + options.time_s

    async def worker() -> None:
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            got = await request(connection, options.request_size, options.response_size)
            if got != options.response_size:
                raise ConnectionError(f"a response of {got} bytes, not {options.response_size}")
            tally.latencies_us.append((time.perf_counter() - began) * 1e6)
            tally.count += 1
            tally.bytes_sent += options.request_size
            tally.bytes_received += got

    await asyncio.gather(*(worker() for _ in range(options.streams)))


async def _handshakes(dialer: Dialer, options: Options, tally: _Tally) -> None:
    deadline = time.perf_counter() + options.time_s

    async def worker() -> None:
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            connection = await dialer()
            tally.latencies_us.append((time.perf_counter() - began) * 1e6)
            tally.count += 1
            await connection.close()

    await asyncio.gather(*(worker() for _ in range(options.connections)))


def _result(options: Options, tally: _Tally, elapsed: float, cpu: float) -> dict[str, object]:
    result: dict[str, object] = {
        "scenario": options.scenario,
        "seconds": round(elapsed, 6),
        "cpu_seconds": round(cpu, 3),
        "connections": options.connections if options.scenario == "hps" else 1,
        "streams": options.streams,
        "bytes_sent": tally.bytes_sent,
        "bytes_received": tally.bytes_received,
    }
    if options.scenario in ("upload", "download"):
        moved = tally.bytes_sent + tally.bytes_received
        result["mb_per_s"] = round(moved / elapsed / 1e6, 3)
        result["mbit_per_s"] = round(moved * 8 / elapsed / 1e6, 3)
    elif options.scenario == "hps":
        result["handshakes"] = tally.count
        result["handshakes_per_s"] = round(tally.count / elapsed, 2)
        result["latency_us"] = latency_summary(tally.latencies_us)
    else:
        result["requests"] = tally.count
        result["requests_per_s"] = round(tally.count / elapsed, 2)
        result["latency_us"] = latency_summary(tally.latencies_us)
    return result


def format_table(result: dict[str, object]) -> str:
    """The result as a two-column human table."""
    rows: list[tuple[str, str]] = []
    for key, value in result.items():
        if isinstance(value, dict):
            rows.extend((f"{key}.{k}", f"{v:,.1f}") for k, v in value.items())
        elif isinstance(value, float):
            rows.append((key, f"{value:,.3f}"))
        elif isinstance(value, int):
            rows.append((key, f"{value:,}"))
        else:
            rows.append((key, str(value)))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value:>16}" for name, value in rows)


# --- the command line ------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _size(text: str) -> int:
    """A byte count, with an optional K, M or G suffix (powers of 1000)."""
    scale = {"K": 1_000, "M": 1_000_000, "G": 1_000_000_000}.get(text[-1:].upper(), 1)
    digits = text[:-1] if scale > 1 else text
    try:
        value = int(digits) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a byte count (e.g. 200M): {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"a byte count cannot be negative: {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= 86_400:
        raise argparse.ArgumentTypeError(f"the run time is 0 to 86400 s, got {text}")
    return value


def _udp_payload(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of bytes: {text!r}") from None
    if not MIN_UDP_PAYLOAD <= value <= MAX_UDP_PAYLOAD:
        raise argparse.ArgumentTypeError(
            f"the UDP payload limit is {MIN_UDP_PAYLOAD} to {MAX_UDP_PAYLOAD} bytes, got {value}"
        )
    return value


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Options both roles take: congestion control, pacing, cipher suite, datagram size cap."""
    parser.add_argument(
        "--cc",
        choices=CONGESTION_CONTROL,
        help="congestion control (default: the stack's own; pyquic's is cubic)",
    )
    parser.add_argument("--no-pacing", action="store_true", help="turn pacing off")
    parser.add_argument(
        "--cipher", choices=sorted(CIPHERS), help="the only TLS cipher suite offered/accepted"
    )
    parser.add_argument(
        "--max-udp-payload",
        type=_udp_payload,
        metavar="BYTES",
        help="cap QUIC datagrams at BYTES of UDP payload; pyquic advertises it as "
        "max_udp_payload_size, which caps what the peer sends, so give it to both ends "
        f"({MIN_UDP_PAYLOAD}-{MAX_UDP_PAYLOAD}; default: the stack's own)",
    )


def add_client_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", required=True, metavar="HOST[:PORT]", help="the server")
    parser.add_argument("--scenario", required=True, choices=SCENARIOS, help="what to measure")
    parser.add_argument(
        "--bytes",
        type=_size,
        default=DEFAULT_BYTES,
        help="upload/download: total bytes (K/M/G suffixes; default 100M)",
    )
    parser.add_argument(
        "--time",
        type=_seconds,
        default=DEFAULT_TIME_S,
        dest="time_s",
        metavar="SECONDS",
        help=f"hps/rps/latency: the run time (default {DEFAULT_TIME_S:g})",
    )
    parser.add_argument(
        "--connections", type=_positive_int, help="hps: parallel connections (default 16)"
    )
    parser.add_argument(
        "--streams", type=_positive_int, help="parallel streams (default: 100 for rps, else 1)"
    )
    parser.add_argument(
        "--request-size",
        type=_size,
        default=DEFAULT_REQUEST,
        help=f"rps/latency: upload bytes per request (default {DEFAULT_REQUEST})",
    )
    parser.add_argument(
        "--response-size",
        type=_size,
        default=DEFAULT_RESPONSE,
        help=f"rps/latency: bytes per response (default {DEFAULT_RESPONSE})",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    add_common_arguments(parser)


def client_options(args: argparse.Namespace) -> Options:
    """The scenario's options, with the per-scenario defaults filled in."""
    streams = args.streams or (100 if args.scenario == "rps" else 1)
    if args.scenario == "latency":
        streams = 1
    return Options(
        scenario=args.scenario,
        bytes=args.bytes,
        time_s=args.time_s,
        connections=args.connections or (16 if args.scenario == "hps" else 1),
        streams=streams,
        request_size=args.request_size,
        response_size=args.response_size,
    )


def parse_target(text: str, default_port: int) -> tuple[str, int]:
    """``HOST``, ``HOST:PORT``, ``[IPv6]`` or ``[IPv6]:PORT``; raises ValueError."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise ValueError(f"expected [IPv6]:PORT, got {text!r}")
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    if not host:
        raise ValueError(f"no host in {text!r}")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) <= 65535:
        raise ValueError(f"the port must be 1 to 65535, got {port_text!r}")
    return host, int(port_text)
