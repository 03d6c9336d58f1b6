"""A perf server and client on aioquic, speaking the same protocol as ``pyquic perf``.

The scenarios, measurements and command line are :mod:`pyquic.tools.perf_protocol`'s, so the
two stacks are measured by the same code; only the transport differs.  aioquic keeps its own
defaults: ``--cc`` applies only when given (``new_reno`` is aioquic's ``reno``),
``--max-udp-payload`` only when given (aioquic's ``max_datagram_size``: the largest datagram it
sends; its default is 1200 bytes, it does no path MTU discovery and advertises no
max_udp_payload_size), and ``--no-pacing`` is accepted but has no effect (aioquic always paces).

Run: python bench/peers/aioquic_perf.py server --listen 127.0.0.1:0
     python bench/peers/aioquic_perf.py client --target 127.0.0.1:PORT --scenario download --json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import tempfile
from collections.abc import Callable
from typing import Any

from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.asyncio.server import serve
from aioquic.quic.configuration import QuicConfiguration
from aioquic.tls import CipherSuite

from pyquic.testing.certificates import make_test_credentials
from pyquic.tools import perf_protocol
from pyquic.tools.cli import parse_listen

DEFAULT_PORT = 4433
_TASKS: set[asyncio.Task[Any]] = set()


def _spawn(coroutine: Any) -> None:
    task = asyncio.get_running_loop().create_task(coroutine)
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)


def _configuration(args: argparse.Namespace, *, server: bool) -> QuicConfiguration:
    config = QuicConfiguration(is_client=not server, alpn_protocols=[perf_protocol.ALPN])
    if args.cc is not None:
        config.congestion_control_algorithm = "reno" if args.cc == "new_reno" else "cubic"
    if args.max_udp_payload is not None:
        config.max_datagram_size = args.max_udp_payload
    if args.cipher:
        config.cipher_suites = [CipherSuite(perf_protocol.CIPHERS[args.cipher])]
    if not server:
        config.verify_mode = 0  # ssl.CERT_NONE
    return config


async def _serve(args: argparse.Namespace) -> int:
    config = _configuration(args, server=True)
    with tempfile.TemporaryDirectory(prefix="aioquic-perf-") as scratch:
        pem = make_test_credentials(["localhost", "127.0.0.1"]).write_pem(scratch)
        config.load_cert_chain(str(pem.server_certificate), str(pem.server_key))

    def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _spawn(_handle(reader, writer))

    host, port = args.listen
    server = await serve(host, port, configuration=config, stream_handler=handler)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    assert server._transport is not None
    bound = server._transport.get_extra_info("sockname")
    print(f"aioquic perf: listening on {bound[0]}:{bound[1]}", flush=True)
    await stop.wait()
    server.close()
    return 0


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
        await perf_protocol.serve_stream(reader, writer)


class _Connection:
    def __init__(self, protocol: QuicConnectionProtocol, exit_: Callable[[], Any]) -> None:
        self._protocol = protocol
        self._exit = exit_

    async def open_stream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await self._protocol.create_stream()

    async def close(self) -> None:
        self._protocol.close()
        _spawn(self._exit())  # aioquic waits out the closing period: not on the clock


async def _client(args: argparse.Namespace) -> dict[str, object]:
    host, port = perf_protocol.parse_target(args.target, DEFAULT_PORT)
    config = _configuration(args, server=False)

    async def dial() -> perf_protocol.Connection:
        manager: contextlib.AbstractAsyncContextManager[QuicConnectionProtocol] = connect(
            host, port, configuration=config
        )
        protocol = await manager.__aenter__()
        return _Connection(protocol, lambda: manager.__aexit__(None, None, None))

    result = await perf_protocol.run_scenario(dial, perf_protocol.client_options(args))
    if _TASKS:
        await asyncio.wait(list(_TASKS), timeout=5)
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aioquic_perf", description=__doc__)
    roles = parser.add_subparsers(dest="role", required=True)
    server = roles.add_parser("server")
    server.add_argument("--listen", type=parse_listen, default="127.0.0.1:4433")
    perf_protocol.add_common_arguments(server)
    client = roles.add_parser("client")
    perf_protocol.add_client_arguments(client)
    return parser


def main() -> int:
    args = _parser().parse_args()
    if args.role == "server":
        return asyncio.run(_serve(args))
    try:
        result = asyncio.run(_client(args))
    except (ConnectionError, OSError, asyncio.IncompleteReadError) as exc:
        print(f"aioquic perf: error: {exc}", file=sys.stderr)
        return 1
    result = {"stack": "aioquic", **result}
    print(json.dumps(result) if args.json else perf_protocol.format_table(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
