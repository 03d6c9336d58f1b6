"""``pyquic perf``: secnetperf's perf server and client (draft-banks-quic-performance), on pyquic.

``pyquic perf server`` answers perf requests on ALPN ``perf`` (with a throw-away self-signed
certificate unless ``--cert``/``--key`` are given) and prints ``listening on HOST:PORT`` once
ready; SIGINT or SIGTERM stop it.  ``pyquic perf client --target HOST[:PORT] --scenario S`` runs
one scenario (:mod:`pyquic.tools.perf_protocol`) and prints a table, or JSON with ``--json``.
Congestion control, pacing, the cipher suite and ``--max-udp-payload`` (``Settings``'
``max_udp_payload_size``: the transport parameter that caps the datagrams the peer sends, and so
what its path MTU discovery probes) map onto :class:`~pyquic.core.settings.Settings` and
:class:`~pyquic.aio.QuicConfiguration`.  The client does not verify the server's certificate:
perf measures transports, as secnetperf does.  Its result adds ``transport``: counters of the
last connection it closed (``send_path_mtu``, the datagram size it sent with, 0 while path MTU
discovery never moved it from 1200 bytes; packets and bytes each way), which show what size the
datagrams really had.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys

from pyquic.aio import (
    QuicConfiguration,
    QuicConnection,
    QuicStreamReader,
    QuicStreamWriter,
    connect,
    serve,
)
from pyquic.aio.config import DEFAULT_SETTINGS
from pyquic.platform.event_loop import run as run_event_loop
from pyquic.testing.certificates import make_test_credentials
from pyquic.tools import perf_protocol
from pyquic.tools.perf_protocol import ALPN, CIPHERS

__all__ = ["DEFAULT_PORT", "LISTENING", "run_client", "run_server"]

DEFAULT_PORT = 4433
LISTENING = "listening on"
_PEER_STREAMS = 1_000  # the server lets a client open this many streams at once


def _log(message: str) -> None:
    print(f"pyquic perf: {message}", file=sys.stderr, flush=True)


def configuration(args: argparse.Namespace, *, server: bool) -> QuicConfiguration:
    """The QUIC configuration the common options (--cc, --no-pacing, --cipher,
    --max-udp-payload) ask for."""
    overrides: dict[str, object] = {"pacing_enabled": not args.no_pacing}
    if args.cc is not None:
        overrides["congestion_control_algorithm"] = args.cc
    if args.max_udp_payload is not None:
        overrides["max_udp_payload_size"] = args.max_udp_payload
    if server:
        overrides["peer_bidi_stream_count"] = _PEER_STREAMS
    settings = DEFAULT_SETTINGS.merge(**overrides)
    suites = [CIPHERS[args.cipher]] if args.cipher else None
    if not server:
        return QuicConfiguration(
            alpn_protocols=[ALPN], settings=settings, verify=False, cipher_suites=suites
        )
    if args.cert is not None:
        return QuicConfiguration(
            alpn_protocols=[ALPN],
            settings=settings,
            certificate_file=str(args.cert),
            private_key_file=str(args.key),
            cipher_suites=suites,
        )
    pki = make_test_credentials(["localhost", "127.0.0.1", "::1"])
    return QuicConfiguration(
        alpn_protocols=[ALPN],
        settings=settings,
        credential=pki.server_credential,
        cipher_suites=suites,
    )


# --- server ----------------------------------------------------------------------------------


def run_server(args: argparse.Namespace) -> int:
    """Serve perf requests until SIGINT or SIGTERM; the exit status."""
    try:
        config = configuration(args, server=True)
    except (ValueError, OSError) as exc:
        _log(f"error: {exc}")
        return 2
    return run_event_loop(_serve(args.listen, config))


async def _handle(reader: QuicStreamReader, writer: QuicStreamWriter) -> None:
    # the client went away or sent a short request: nothing to answer
    with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
        await perf_protocol.serve_stream(reader, writer)


async def _serve(listen: tuple[str, int], config: QuicConfiguration) -> int:
    host, port = listen
    try:
        server = await serve(host, port, configuration=config, stream_handler=_handle)
    except OSError as exc:
        _log(f"error: cannot listen on {host}:{port}: {exc}")
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    bound_host, bound_port = server.local_address[0], server.local_address[1]
    shown = f"[{bound_host}]" if ":" in str(bound_host) else str(bound_host)
    print(f"pyquic perf: {LISTENING} {shown}:{bound_port} (ALPN {ALPN})", flush=True)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        server.close()
        await server.wait_closed()
    return 0


# --- client ----------------------------------------------------------------------------------


# the connection statistics the client's result reports (``transport``)
TRANSPORT_COUNTERS = (
    "send_path_mtu",
    "send_total_packets",
    "send_total_bytes",
    "recv_total_packets",
    "recv_total_bytes",
)


class _Connection:
    """A pyquic connection as the perf scenarios see it; on close it becomes ``last[0]``, the
    connection whose counters the result reports (read once, after the run: an hps run closes
    thousands of connections and only the last one's counters are shown)."""

    def __init__(self, connection: QuicConnection, last: list[QuicConnection]) -> None:
        self._connection = connection
        self._last = last

    async def open_stream(self) -> tuple[QuicStreamReader, QuicStreamWriter]:
        return await self._connection.open_stream()

    async def close(self) -> None:
        self._last[:] = [self._connection]
        self._connection.close()
        await asyncio.sleep(0)  # one loop iteration: the service pass sends CONNECTION_CLOSE


def transport_counters(last: list[QuicConnection]) -> dict[str, object]:
    """The ``transport`` counters of the last connection closed (empty when none was)."""
    if not last:
        return {}
    statistics = last[0].statistics
    return {name: statistics[name] for name in TRANSPORT_COUNTERS}


def run_client(args: argparse.Namespace) -> int:
    """Run one scenario; the exit status (1 when the run fails)."""
    try:
        host, port = perf_protocol.parse_target(args.target, DEFAULT_PORT)
    except ValueError as exc:
        args.parser.error(f"--target: {exc}")
    options = perf_protocol.client_options(args)
    config = configuration(args, server=False)
    last: list[QuicConnection] = []

    async def dial() -> perf_protocol.Connection:
        return _Connection(await connect(host, port, configuration=config), last)

    try:
        result = run_event_loop(perf_protocol.run_scenario(dial, options))
    except (ConnectionError, OSError, asyncio.IncompleteReadError) as exc:
        _log(f"error: the {options.scenario} run failed: {exc}")
        return 1
    result = {"stack": "pyquic", **result, "transport": transport_counters(last)}
    print(json.dumps(result) if args.json else perf_protocol.format_table(result), flush=True)
    return 0
