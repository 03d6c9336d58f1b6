"""``pyquic interop``: the endpoint of the QUIC interop runner (quic-interop/quic-interop-runner).

The runner's contract (see ``/work/shared/design/interop-runner.md`` §3): the environment gives
``ROLE`` (client or server), ``TESTCASE``, ``REQUESTS`` (the client's space-separated URLs),
``SSLKEYLOGFILE`` and ``QLOGDIR``; the server serves ``/www`` on UDP port 443 with ``/certs``
(``cert.pem``, ``priv.key``), the client saves each file in ``/downloads`` under its URL path's
last name.  Exit status: 0 success, 1 failure, :data:`EXIT_UNSUPPORTED` (127) for a test case this
endpoint does not implement.  So that it runs without containers, the fixed paths and the port can
be changed by options (``--www``, ``--downloads``, ``--certs``, ``--port``, ``--host``) or by the
environment (``WWW``, ``DOWNLOADS``, ``CERTS``, ``PORT``); options win.

Design: every test case maps to a :class:`Case` (application protocol, cipher suites, Retry,
resumption, 0-RTT, key update, ECN, QUIC v2, one connection per file) that both roles turn into a
:class:`~pyquic.aio.QuicConfiguration` and the client into a download plan.  The server offers
``hq-interop`` and ``h3`` and serves the document root with :mod:`pyquic.tools.http09` or
:mod:`pyquic.h3`; it answers unknown versions with Version Negotiation (the endpoint always
does), which the runner's readiness probe needs.  It prints ``listening on HOST:PORT`` when
ready and stops on SIGTERM or SIGINT.

rebind-port and rebind-addr are transfers (the network rebinds the client; the server validates
the new path).  connectionmigration: the server also listens on another port of its host and
offers it as its preferred_address (RFC 9000 §9.6); a client moves there by itself once the
handshake is confirmed, from a new local port, with the preferred address's connection ID, and
validates the new path (RFC 9000 §9.6.1).  The public runner gives that name to one side only
(older versions to the server, newer ones to the client), so a client run with it that was not
offered a preferred address migrates actively instead: a new local port and a new connection ID
(RFC 9000 §9.2, §9.5); either way it fails if it never moved.  zerortt resumes with 0-RTT
enabled; whether early data is really sent depends on the core's 0-RTT support.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import ipaddress
import os
import signal
import socket
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pyquic.aio import (
    QuicConfiguration,
    QuicConnection,
    QuicStreamReader,
    QuicStreamWriter,
    connect,
    serve,
)
from pyquic.core.settings import Settings
from pyquic.core.version import QUIC_V1, QUIC_V2
from pyquic.platform.crypto.suites import CipherSuite
from pyquic.platform.event_loop import run as run_event_loop
from pyquic.platform.tls import SessionTicket
from pyquic.tools import http09
from pyquic.tools.server import LISTENING, format_address

__all__ = ["CASES", "EXIT_UNSUPPORTED", "UNSUPPORTED", "Case", "run", "with_environment"]

EXIT_UNSUPPORTED = 127
TICKET_WAIT_S = 2.0  # how long the first resumption connection waits for a session ticket
KEY_UPDATE_RETRY_S = 0.02
CLOSE_TIMEOUT_S = 2.0
H3_ALPN = "h3"
# zerortt: send the second connection's requests before its handshake completes (0-RTT).
EARLY_REQUESTS = True
# Requests in flight at once, to bound the tasks of a case with thousands of files.
MAX_CONCURRENT_REQUESTS = 50


@dataclass(frozen=True)
class Case:
    """How one test case configures the endpoints and the client's downloads."""

    alpn: str = http09.ALPN
    chacha20: bool = False
    retry: bool = False
    resumption: bool = False  # two connections: the second resumes the first's session
    zero_rtt: bool = False
    key_update: bool = False
    ecn: bool = False
    v2: bool = False
    multiconnect: bool = False  # one connection per file
    migration: bool = False  # server: offer a preferred address; client: move to a new path


_TRANSFER = Case()
CASES: Mapping[str, Case] = {
    "handshake": _TRANSFER,
    "transfer": _TRANSFER,
    "longrtt": _TRANSFER,
    "multiplexing": _TRANSFER,
    "blackhole": _TRANSFER,
    "transferloss": _TRANSFER,
    "transfercorruption": _TRANSFER,
    "ipv6": _TRANSFER,
    "amplificationlimit": _TRANSFER,  # the runner's large certificate chain: just serve
    "handshakeloss": Case(multiconnect=True),
    "handshakecorruption": Case(multiconnect=True),
    "multiconnect": Case(multiconnect=True),
    "chacha20": Case(chacha20=True),
    "retry": Case(retry=True),
    "resumption": Case(resumption=True),
    "zerortt": Case(resumption=True, zero_rtt=True),
    "http3": Case(alpn=H3_ALPN),
    "keyupdate": Case(key_update=True),
    "ecn": Case(ecn=True),
    "v2": Case(v2=True),
    # The runner names these ``transfer``; the network rebinds the client (the server validates
    # the new path), so they are transfers here too when an endpoint is run with their name.
    "rebind-port": _TRANSFER,
    "rebind-addr": _TRANSFER,
    "connectionmigration": Case(migration=True),
}
# Known to the runner, not implemented here yet: the endpoint answers 127 (none at present).
UNSUPPORTED: Mapping[str, str] = {}


def _log(role: str, message: str) -> None:
    print(f"pyquic interop {role}: {message}", file=sys.stderr, flush=True)


# --- arguments -------------------------------------------------------------------------------


_ENVIRONMENT: Mapping[str, tuple[str, str | None]] = {  # option: (variable, default)
    "role": ("ROLE", None),
    "testcase": ("TESTCASE", None),
    "requests": ("REQUESTS", ""),
    "www": ("WWW", "/www"),
    "downloads": ("DOWNLOADS", "/downloads"),
    "certs": ("CERTS", "/certs"),
    "port": ("PORT", "443"),
    "host": ("HOST", "::"),
    "keylog": ("SSLKEYLOGFILE", None),
    "qlog_dir": ("QLOGDIR", None),
    # connectionmigration: the preferred address's port, and the address to offer instead when a
    # relay forwards it (``HOST:PORT`` or ``[HOST]:PORT``)
    "preferred_port": ("PREFERRED_PORT", "0"),
    "preferred_address": ("PREFERRED_ADDRESS", None),
    # client: the ALPN to use instead of the case's (h3 towards an h3-only server, any case)
    "alpn": ("ALPN", None),
}


def with_environment(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> argparse.Namespace:
    """``args`` with every option not given taken from the runner's environment (or default)."""
    environ = os.environ if environ is None else environ
    values = dict(vars(args))
    for option, (variable, default) in _ENVIRONMENT.items():
        if values.get(option) is None:
            values[option] = environ.get(variable, default)
    port = values["port"]
    try:
        values["port"] = int(port) if port is not None else 443
    except ValueError:
        values["port"] = -1  # reported by run()
    return argparse.Namespace(**values)


def _configuration(args: argparse.Namespace, case: Case, server: bool) -> QuicConfiguration:
    settings = Settings(
        peer_bidi_stream_count=100,
        peer_unidi_stream_count=100,
        ecn_enabled=case.ecn,
        version_negotiation_ext_enabled=case.v2,
        server_resumption_level="resume_and_zerortt" if case.resumption else "no_resume",
        # the runner's lossy cases (30 % loss each way) can stretch a handshake past MsQuic's
        # 10 s default; peers such as ngtcp2 keep trying for 30 s, and a server that gave up
        # first would take the client's next Initial for a second connection
        handshake_idle_timeout_ms=30_000,
    )
    certs = Path(args.certs)
    return QuicConfiguration(
        alpn_protocols=[http09.ALPN, H3_ALPN] if server else [case.alpn],
        settings=settings,
        certificate_file=str(certs / "cert.pem") if server else None,
        private_key_file=str(certs / "priv.key") if server else None,
        verify=False,  # the runner does not require clients to verify the chain
        keylog_file=args.keylog or None,
        qlog_dir=args.qlog_dir or None,
        cipher_suites=[CipherSuite.CHACHA20_POLY1305_SHA256] if case.chacha20 else None,
    )


def run(args: argparse.Namespace) -> int:
    """Run the role and test case ``args`` name; the runner's exit status."""
    role = args.role or ""
    testcase = args.testcase or ""
    if role not in ("client", "server"):
        _log(role or "?", f"ROLE must be client or server, not {role!r}")
        return 1
    if not 0 <= args.port <= 65535:
        _log(role, "PORT must be 0 to 65535")
        return 1
    case = CASES.get(testcase)
    if case is None:
        reason = UNSUPPORTED.get(testcase, "unknown test case")
        _log(role, f"test case {testcase!r} is not supported: {reason}")
        return EXIT_UNSUPPORTED
    alpn = getattr(args, "alpn", None)
    if alpn:
        if alpn not in (http09.ALPN, H3_ALPN):
            _log(role, f"ALPN must be {http09.ALPN} or {H3_ALPN}, not {alpn!r}")
            return 1
        case = dataclasses.replace(case, alpn=alpn)
    try:
        configuration = _configuration(args, case, role == "server")
        if args.qlog_dir:
            Path(args.qlog_dir).mkdir(parents=True, exist_ok=True)
    except (ValueError, OSError) as exc:
        _log(role, f"error: {exc}")
        return 1
    if role == "server":
        return run_event_loop(_serve(args, case, configuration))
    return run_event_loop(_client(args, case, configuration))


# --- server ----------------------------------------------------------------------------------


async def _serve(args: argparse.Namespace, case: Case, configuration: QuicConfiguration) -> int:
    from pyquic.h3 import H3Server, static_files  # needs pylsqpack: only when serving

    root = Path(args.www).resolve()
    h3_server = H3Server(static_files(root))
    tasks: set[asyncio.Task[None]] = set()

    async def handle(connection: QuicConnection) -> None:
        if connection.alpn == H3_ALPN.encode():
            await h3_server.handle_connection(connection)
            return
        with contextlib.suppress(ConnectionError):
            while True:
                reader, writer = await connection.accept_stream()
                task = asyncio.get_running_loop().create_task(_answer(root, reader, writer))
                tasks.add(task)
                task.add_done_callback(tasks.discard)

    try:
        server = await serve(
            args.host,
            args.port,
            configuration=configuration,
            connection_handler=handle,
            retry="always" if case.retry else "never",
            versions=(QUIC_V2, QUIC_V1) if case.v2 else None,
            preferred_address=_preferred_listen(args, case),
            advertised_preferred_address=_preferred_advertised(args, case),
        )
    except (OSError, ValueError) as exc:
        _log("server", f"error: cannot listen on {format_address(args.host, args.port)}: {exc}")
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    host, port = server.local_address[0], server.local_address[1]
    if server.preferred_address is not None:
        _log("server", f"preferred address {format_address(*server.preferred_address)}")
    print(f"pyquic interop server: {LISTENING} {format_address(str(host), int(str(port)))}")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await h3_server.shutdown()
        server.close()
        await server.wait_closed()
    return 0


def _preferred_listen(args: argparse.Namespace, case: Case) -> tuple[str, int] | None:
    """Where connectionmigration's server also listens, for its preferred address (§9.6)."""
    if not case.migration:
        return None
    return _preferred_host(args.host), int(getattr(args, "preferred_port", None) or 0)


def _preferred_advertised(args: argparse.Namespace, case: Case) -> tuple[str, int] | None:
    """The preferred address to offer instead of the listening one (a relay forwards it)."""
    advertised = getattr(args, "preferred_address", None)
    if not case.migration or not advertised:
        return None
    host, _, port = str(advertised).rpartition(":")
    return host.strip("[]"), int(port)


def _preferred_host(host: str) -> str:
    """The address to offer as preferred (RFC 9000 §9.6): the listening address itself, or for
    a wildcard one of the host's own addresses (IPv4 first), as clients must reach it."""
    try:
        if not ipaddress.ip_address(host or "::").is_unspecified:
            return host
    except ValueError:
        return host  # reported by serve()
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, type=socket.SOCK_DGRAM)
    except OSError:
        infos = []
    found = sorted({str(info[4][0]) for info in infos}, key=lambda a: (":" in a, a))
    return found[0] if found else "127.0.0.1"


async def _answer(root: Path, reader: QuicStreamReader, writer: QuicStreamWriter) -> None:
    try:
        await http09.serve_request(root, reader, writer)
    except http09.RequestError as exc:
        _log("server", f"refused: {exc}")
    except ConnectionError as exc:
        _log("server", f"a response was cut short: {exc}")


# --- client ----------------------------------------------------------------------------------


async def _client(args: argparse.Namespace, case: Case, configuration: QuicConfiguration) -> int:
    from pyquic.tools.client import parse_urls

    try:
        target = parse_urls(args.requests.split())
    except ValueError as exc:
        _log("client", f"error: REQUESTS: {exc}")
        return 1
    output = Path(args.downloads)
    output.mkdir(parents=True, exist_ok=True)
    requests = list(target.requests)
    if case.multiconnect:
        batches = [[request] for request in requests]
    elif case.resumption:
        batches = [requests[:1], requests[1:]] if len(requests) > 1 else [requests, []]
    else:
        batches = [requests]
    ticket: SessionTicket | None = None
    started = time.monotonic()
    for index, batch in enumerate(batches):
        resume = case.resumption and index == 1
        if resume and ticket is None:
            _log("client", "error: no session ticket arrived on the first connection")
            return 1
        config = configuration
        if resume:
            config = _resuming(configuration, ticket, case.zero_rtt)
        try:
            connection = await connect(
                target.host,
                target.port,
                configuration=config,
                wait_connected=not (resume and case.zero_rtt and EARLY_REQUESTS),
                # v2: v1 on the wire first, v2 preferred in version_information (RFC 9368 §3)
                versions=(QUIC_V2, QUIC_V1) if case.v2 else None,
            )
        except (ConnectionError, OSError) as exc:
            _log("client", f"error: cannot connect: {exc}")
            return 1
        migration = _start_migration(connection) if case.migration else None
        failures = await _fetch_batch(connection, case, target.host, target.port, batch, output)
        if migration is not None:
            failures += await _migration_outcome(migration)
        if case.resumption and index == 0:
            ticket = await _wait_ticket(connection)
        if resume:
            _log("client", f"resumed connection; 0-RTT offered: {case.zero_rtt}")
        await _close(connection)
        if failures:
            for message in failures:
                _log("client", f"error: {message}")
            return 1
    _log("client", f"{len(requests)} files in {time.monotonic() - started:.2f} s")
    return 0


def _resuming(
    configuration: QuicConfiguration, ticket: SessionTicket | None, zero_rtt: bool
) -> QuicConfiguration:
    from dataclasses import replace

    return replace(configuration, session_ticket=ticket, enable_early_data=zero_rtt)


async def _wait_ticket(connection: QuicConnection) -> SessionTicket | None:
    deadline = time.monotonic() + TICKET_WAIT_S
    while not connection.session_tickets and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    return connection.session_tickets[-1] if connection.session_tickets else None


async def _fetch_batch(
    connection: QuicConnection,
    case: Case,
    host: str,
    port: int,
    batch: Sequence[tuple[str, str]],
    output: Path,
) -> list[str]:
    """Download ``batch`` concurrently on ``connection``; what went wrong, if anything."""
    from pyquic.tools.client import _fetcher

    updater = None
    if case.key_update:
        updater = asyncio.get_running_loop().create_task(_update_keys(connection))
    try:
        fetch = await _fetcher(connection, format_address(host, port), case.alpn.encode())

        limit = asyncio.Semaphore(MAX_CONCURRENT_REQUESTS)

        async def one(path: str, name: str) -> str | None:
            destination = output / name
            async with limit:
                try:
                    with destination.open("wb") as sink:
                        await fetch(path, sink, lambda n: None)
                except (ConnectionError, OSError) as exc:
                    destination.unlink(missing_ok=True)
                    return f"{path}: {exc}"
            return None

        results = await asyncio.gather(*(one(path, name) for path, name in batch))
    except (ConnectionError, OSError) as exc:
        return [str(exc)]
    finally:
        if updater is not None:
            updater.cancel()
    return [message for message in results if message is not None]


def _start_migration(connection: QuicConnection) -> asyncio.Task[str]:
    """A task that makes sure the connection moves to a new path once the handshake is
    confirmed: to the server's preferred address (the connection does that itself) or, when none
    was offered, to a new local port (RFC 9000 §9.2).  Its result says which."""
    original = connection.get_extra_info("peername")

    async def migrate() -> str:
        await connection.wait_confirmed()
        if connection.get_extra_info("peername") != original:
            return (
                f"moved to the server's preferred address {connection.get_extra_info('peername')}"
            )
        local = await connection.migrate()
        return f"migrated to local address {local}"

    return asyncio.get_running_loop().create_task(migrate())


async def _migration_outcome(task: asyncio.Task[str]) -> list[str]:
    """Log how the connection migrated; the failure when it did not."""
    try:
        _log("client", await asyncio.wait_for(task, CLOSE_TIMEOUT_S))
    except (ConnectionError, OSError, RuntimeError, TimeoutError) as exc:
        return [f"no migration: {exc!r}"]
    return []


async def _update_keys(connection: QuicConnection) -> None:
    """Initiate one key update as soon as the handshake is confirmed."""
    while not connection.initiate_key_update():
        await asyncio.sleep(KEY_UPDATE_RETRY_S)
    _log("client", "key update initiated")


async def _close(connection: QuicConnection) -> None:
    connection.close(0, "done")
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(connection.wait_closed(), CLOSE_TIMEOUT_S)
