"""``pyquic server``: serve a directory over HTTP/3 (ALPN ``h3``) and HTTP/0.9 (``hq-interop``).

The server offers both ALPNs (or the one ``--alpn`` names) and dispatches each connection on the
protocol its client chose: ``h3`` connections are served by :mod:`pyquic.h3` with its static-file
ASGI application, ``hq-interop`` request streams by :func:`pyquic.tools.http09.serve_request`,
each in its own task, confined to the document root.  On SIGINT/SIGTERM, HTTP/3 connections get
GOAWAY and requests in progress finish (RFC 9114 §5.2) before the server closes.

The server prints one line when it listens (with the real port,
so ``--listen 127.0.0.1:0`` can be used by scripts and tests: ``listening on HOST:PORT``) and one
line per refused request on standard error.  SIGINT and SIGTERM stop it cleanly: connections
are closed with code 0 and the process exits with status 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyquic.aio import QuicConfiguration, QuicConnection, QuicStreamReader, QuicStreamWriter, serve
from pyquic.platform.event_loop import run as run_event_loop
from pyquic.tools import http09

__all__ = ["LISTENING", "ServerOptions", "format_address", "open_output_files", "run"]

LISTENING = "listening on"  # the marker of the readiness line


@dataclass(frozen=True)
class ServerOptions:
    """What ``pyquic server`` was asked to do (already validated by the command line)."""

    host: str
    port: int
    certificate: Path
    private_key: Path
    root: Path
    alpns: tuple[str, ...] = ("h3", http09.ALPN)
    keylog: str | None = None
    qlog_dir: str | None = None


def format_address(host: str, port: int) -> str:
    """``host:port``, with an IPv6 literal in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def open_output_files(configuration: QuicConfiguration) -> None:
    """Create the key log (and its directory) and the qlog directory now, so that a path that
    cannot be written is reported before any networking; raises OSError naming it."""
    if configuration.keylog_file:
        Path(configuration.keylog_file).parent.mkdir(parents=True, exist_ok=True)
    configuration.keylog()
    if configuration.qlog_dir is not None:
        Path(configuration.qlog_dir).mkdir(parents=True, exist_ok=True)


def _log(message: str) -> None:
    print(f"pyquic server: {message}", file=sys.stderr, flush=True)


def run(options: ServerOptions) -> int:
    """Serve until SIGINT or SIGTERM; the exit status (2: bad certificate or key; 1: no bind)."""
    try:
        configuration = QuicConfiguration(
            alpn_protocols=list(options.alpns),
            certificate_file=str(options.certificate),
            private_key_file=str(options.private_key),
            keylog_file=options.keylog,
            qlog_dir=options.qlog_dir,
        )
    except (ValueError, OSError) as exc:
        _log(f"error: cannot load the certificate or key: {exc}")
        return 2
    try:
        open_output_files(configuration)
    except OSError as exc:
        _log(f"error: {exc}")
        return 2
    return run_event_loop(_serve(options, configuration))


async def _serve(options: ServerOptions, configuration: QuicConfiguration) -> int:
    from pyquic.h3 import H3Server, static_files  # needs pylsqpack: only when serving

    root = options.root.resolve()
    h3_server = H3Server(static_files(root))

    async def handle(connection: QuicConnection) -> None:
        if connection.alpn == b"h3":
            await h3_server.handle_connection(connection)
            return
        with contextlib.suppress(ConnectionError):
            while True:
                reader, writer = await connection.accept_stream()
                _spawn(_handle(root, reader, writer))

    try:
        server = await serve(
            options.host, options.port, configuration=configuration, connection_handler=handle
        )
    except OSError as exc:
        _log(f"error: cannot listen on {format_address(options.host, options.port)}: {exc}")
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    host, port = server.local_address[0], server.local_address[1]
    assert isinstance(host, str) and isinstance(port, int)
    print(
        f"pyquic server: {LISTENING} {format_address(host, port)} "
        f"(ALPN {', '.join(options.alpns)}), serving {root}",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await h3_server.shutdown()
        server.close()
        await server.wait_closed()
    _log("stopped")
    return 0


_tasks: set[asyncio.Task[None]] = set()


def _spawn(coroutine: Coroutine[Any, Any, None]) -> None:
    task = asyncio.get_running_loop().create_task(coroutine)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def _handle(root: Path, reader: QuicStreamReader, writer: QuicStreamWriter) -> None:
    """One request stream; expected failures are logged in one line, never raised."""
    try:
        await http09.serve_request(root, reader, writer)
    except http09.RequestError as exc:
        _log(f"refused: {exc} [{http09.Http09Error.describe(exc.code)}]")
    except ConnectionError as exc:
        _log(f"a response was cut short: {exc}")
    except Exception:
        writer.reset(http09.Http09Error.INTERNAL_ERROR)
        raise
