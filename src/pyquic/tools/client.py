"""``pyquic client``: download ``https://host:port/path`` URLs over HTTP/3 (``h3``, the default)
or HTTP/0.9 (``--alpn hq-interop``).

All URLs share one connection (so they must name the same host and port) and are fetched
concurrently, one bidirectional stream each; each file is saved in the output directory under
the last component of its path (``index.html`` for a path ending in "/").

On a terminal, one status line is updated in place with the files done, the bytes received and
the rate; it is never written when standard output is not a terminal.  At the end a summary line
gives the files, bytes, seconds and MB/s (10^6 bytes per second), timed from the first request
to the last byte (the handshake excluded).  A failure (no connection, a certificate rejected, a
stream reset by the server, a file that cannot be written) is one line on standard error, the
partial file is removed, and the exit status is 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import posixpath
import re
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TextIO
from urllib.parse import unquote, urlsplit

from pyquic.aio import QuicConfiguration, QuicConnection, connect
from pyquic.platform.event_loop import run as run_event_loop
from pyquic.tools import http09
from pyquic.tools.server import format_address, open_output_files

__all__ = [
    "ClientOptions",
    "Summary",
    "Target",
    "format_summary",
    "parse_summary",
    "parse_urls",
    "run",
]

CLOSE_TIMEOUT_S = 5.0  # how long to wait for the connection's close to complete
PROGRESS_INTERVAL_S = 0.25
_SUMMARY = re.compile(
    r"(?P<files>\d+) files?, (?P<bytes>[\d,]+) bytes in (?P<seconds>[\d.]+) s \([\d.]+ MB/s\)"
)


@dataclass(frozen=True)
class Target:
    """Where the URLs point: one server, and each request path with the name to save it as."""

    host: str
    port: int
    requests: tuple[tuple[str, str], ...]  # (request path, file name)


@dataclass(frozen=True)
class ClientOptions:
    """What ``pyquic client`` was asked to do (already validated by the command line)."""

    target: Target
    output: Path
    ca_file: Path | None = None
    insecure: bool = False
    alpn: str = "h3"
    keylog: str | None = None
    qlog_dir: str | None = None


@dataclass(frozen=True)
class Summary:
    files: int
    bytes: int
    seconds: float

    @property
    def rate_mb_s(self) -> float:
        return self.bytes / self.seconds / 1e6 if self.seconds > 0 else 0.0


def format_summary(summary: Summary) -> str:
    files = f"{summary.files} file" + ("" if summary.files == 1 else "s")
    return (
        f"{files}, {summary.bytes:,} bytes in {summary.seconds:.2f} s "
        f"({summary.rate_mb_s:.2f} MB/s)"
    )


def parse_summary(text: str) -> Summary | None:
    """The summary :func:`format_summary` wrote somewhere in ``text``, if any."""
    match = _SUMMARY.search(text)
    if match is None:
        return None
    return Summary(
        int(match["files"]), int(match["bytes"].replace(",", "")), float(match["seconds"])
    )


# --- URLs ------------------------------------------------------------------------------------


def parse_urls(urls: Sequence[str]) -> Target:
    """Check the URLs (https, one host:port, distinct file names); ValueError explains."""
    origin: tuple[str, int] | None = None
    requests: list[tuple[str, str]] = []
    names: dict[str, str] = {}
    for url in urls:
        host, port, path = _parse_url(url)
        if origin is None:
            origin = (host, port)
        elif origin != (host, port):
            raise ValueError(
                f"all URLs must share one host:port (one connection): {url!r} is not on "
                f"{format_address(*origin)}"
            )
        name = posixpath.basename(unquote(path.partition("?")[0])) or "index.html"
        if name in (".", ".."):
            name = "index.html"
        if name in names:
            raise ValueError(f"{url!r} and {names[name]!r} would both be saved as {name!r}")
        names[name] = url
        requests.append((path, name))
    if origin is None:
        raise ValueError("give at least one URL")
    return Target(origin[0], origin[1], tuple(requests))


def _parse_url(url: str) -> tuple[str, int, str]:
    try:
        parts = urlsplit(url)
        port = parts.port or 443
    except ValueError as exc:
        raise ValueError(f"not a valid URL: {url!r} ({exc})") from None
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"expected https://HOST:PORT/PATH, got {url!r}")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        http09.encode_request(path)
    except ValueError as exc:
        raise ValueError(f"{url!r}: {exc}") from None
    return parts.hostname, port, path


# --- downloading -----------------------------------------------------------------------------


def _error(message: str) -> None:
    print(f"pyquic client: error: {message}", file=sys.stderr, flush=True)


def _configuration(options: ClientOptions) -> QuicConfiguration:
    return QuicConfiguration(
        alpn_protocols=[options.alpn],
        ca_file=str(options.ca_file) if options.ca_file is not None else None,
        verify=not options.insecure,
        keylog_file=options.keylog,
        qlog_dir=options.qlog_dir,
    )


def run(options: ClientOptions) -> int:
    """Download every URL; 0 when all arrived, 1 when any failed, 2 for unusable options."""
    try:
        configuration = _configuration(options)
        configuration.verifier()  # load the CA file now: a bad one is a usage error
        open_output_files(configuration)
        options.output.mkdir(parents=True, exist_ok=True)
    except (ValueError, OSError) as exc:
        _error(str(exc))
        return 2
    return run_event_loop(_download_all(options, configuration))


@dataclass
class _Progress:
    """Bytes and files so far, and the status line drawn on a terminal."""

    total_files: int
    stream: TextIO | None  # None: no status line
    started: float = field(default_factory=time.monotonic)
    received: int = 0
    done: int = 0
    _width: int = 0

    def add(self, n: int) -> None:
        self.received += n

    def draw(self) -> None:
        if self.stream is None:
            return
        elapsed = max(time.monotonic() - self.started, 1e-9)
        line = (
            f"{self.done}/{self.total_files} files, {self.received / 1e6:.1f} MB, "
            f"{self.received / elapsed / 1e6:.2f} MB/s"
        )
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()
        self._width = len(line)

    def clear(self) -> None:
        if self.stream is not None and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()

    async def redraw_forever(self) -> None:
        while True:
            self.draw()
            await asyncio.sleep(PROGRESS_INTERVAL_S)


async def _download_all(options: ClientOptions, configuration: QuicConfiguration) -> int:
    target = options.target
    where = format_address(target.host, target.port)
    try:
        connection = await connect(target.host, target.port, configuration=configuration)
    except (ConnectionError, OSError) as exc:
        _error(f"cannot connect to {where}: {exc}")
        return 1
    progress = _Progress(len(target.requests), sys.stdout if sys.stdout.isatty() else None)
    drawing = asyncio.get_running_loop().create_task(progress.redraw_forever())
    try:
        fetch = await _fetcher(connection, where)
        results = await asyncio.gather(
            *(
                _download(fetch, path, options.output / name, progress)
                for path, name in target.requests
            )
        )
        elapsed = time.monotonic() - progress.started
    finally:
        drawing.cancel()
        progress.clear()
        await _close(connection)
    failures = [message for message in results if message is not None]
    for message in failures:
        _error(message)
    if failures:
        _error(f"{len(failures)} of {len(results)} downloads from {where} failed")
        return 1
    print(format_summary(Summary(len(results), progress.received, elapsed)), flush=True)
    return 0


Fetch = Callable[[str, BinaryIO, Callable[[int], None]], Awaitable[object]]


async def _fetcher(
    connection: QuicConnection, authority: str, expected_alpn: bytes | None = None
) -> Fetch:
    """How to fetch a path on ``connection``: HTTP/3 when ``h3`` was agreed, else HTTP/0.9.

    Before the handshake completes (requests sent as 0-RTT data) nothing is agreed yet:
    ``expected_alpn``, the one ALPN the client offered (that of its session ticket), decides.
    """
    if (connection.alpn or expected_alpn) != b"h3":

        async def fetch09(path: str, sink: BinaryIO, add: Callable[[int], None]) -> object:
            return await http09.fetch(connection, path, sink, add)

        return fetch09
    from pyquic.h3 import H3Client, H3Connection  # needs pylsqpack: only when used

    h3 = H3Connection(connection, is_client=True)
    await h3.start()
    client = H3Client(h3, authority)

    async def fetch3(path: str, sink: BinaryIO, add: Callable[[int], None]) -> object:
        response = await client.request("GET", path)
        if response.status != 200:
            raise ConnectionError(f"HTTP status {response.status}")
        async for chunk in response.iter_body():
            sink.write(chunk)
            add(len(chunk))
        return None

    return fetch3


async def _download(fetch: Fetch, path: str, destination: Path, progress: _Progress) -> str | None:
    """Fetch ``path`` into ``destination``; None on success, else what went wrong."""
    try:
        with destination.open("wb") as sink:
            await fetch(path, sink, progress.add)
    except (ConnectionError, OSError) as exc:
        destination.unlink(missing_ok=True)
        return f"{path}: {exc}"
    except BaseException:  # cancelled (Ctrl-C): leave no partial file either
        destination.unlink(missing_ok=True)
        raise
    progress.done += 1
    return None


async def _close(connection: QuicConnection) -> None:
    connection.close(0, "done")
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(connection.wait_closed(), CLOSE_TIMEOUT_S)
