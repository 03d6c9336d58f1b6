"""The ``pyquic`` command: argument parsing and dispatch.

One entry point with sub-commands, in the manner of MsQuic's tools: ``server`` serves files over
HTTP/3 (ALPN ``h3``) and HTTP/0.9 (ALPN ``hq-interop``), ``client`` downloads them, and
``demo`` runs the two in separate processes on loopback, and ``perf server``/``perf client``
are secnetperf's performance tool.
``interop`` is the QUIC interop runner's endpoint (ROLE, TESTCASE, REQUESTS from the
environment; exit status 127 for an unsupported test case).

Exit status: 0 on success, 1 when the work fails (a download, a bind, the demo), 2 for bad usage
(an option that does not parse, a file that is missing), 130 when interrupted.  User input is
checked here, before any networking, so a mistake is reported as one line naming it.  The
modules of the sub-commands are imported only when one runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pyquic

# Sub-commands whose layers are not built yet.
_PENDING: dict[str, str] = {}
DEFAULT_LISTEN = "[::]:4433"
# http09.ALPN and pyquic.h3.ALPN, spelled out: the sub-commands' modules (and the engine) are
# imported only when one runs, so that --help and --version stay instant
ALPN = "hq-interop"
H3_ALPN = "h3"
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class NotAvailableError(RuntimeError):
    """A sub-command whose layer is not built yet."""


# --- argument types --------------------------------------------------------------------------


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[IPv6]:PORT`` as (host, port); raises ArgumentTypeError."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT or [IPv6]:PORT, got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if not host or ":" not in host:
            raise argparse.ArgumentTypeError(f"not an IPv6 address in brackets: {text!r}")
    elif ":" in host or "[" in host or "]" in host:
        raise argparse.ArgumentTypeError(
            f"put an IPv6 address in brackets, as [::1]:4433: {text!r}"
        )
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise argparse.ArgumentTypeError(f"the port must be 0 to 65535, got {port_text!r}")
    return host, int(port_text)


def existing_file(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {text}")
    return path


def existing_directory(text: str) -> Path:
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"no such directory: {text}")
    return path


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--alpn",
        default=None,
        choices=[H3_ALPN, ALPN],
        help=f"the application protocol (default: the server offers {H3_ALPN} and {ALPN}, "
        f"the client uses {H3_ALPN})",
    )
    parser.add_argument(
        "--keylog", metavar="FILE", help="append TLS secrets in NSS key log format (Wireshark)"
    )
    parser.add_argument(
        "--qlog-dir", metavar="DIR", help="write a qlog trace (.sqlog) per connection here"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyquic",
        description="pyquic: the IETF QUIC protocol in Python, built the way MsQuic is built.",
    )
    parser.add_argument("--version", action="version", version=f"pyquic {pyquic.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_demo(commands)
    _add_server(commands)
    _add_client(commands)
    _add_perf(commands)
    _add_interop(commands)
    for name, summary in _PENDING.items():
        pending = commands.add_parser(
            name, help=f"{summary} (not available yet)", description=summary
        )
        pending.set_defaults(handler=_not_available, parser=pending)
    return parser


_Commands = argparse._SubParsersAction  # the type add_subparsers() returns


def _add_demo(commands: _Commands[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser(
        "demo",
        help="run a QUIC server and client talking on loopback",
        description="Transfer a random file between a server and a client process on loopback.",
    )
    demo.add_argument(
        "--size", type=int, default=20, metavar="MIB", help="the file's size in MiB (default: 20)"
    )
    demo.set_defaults(handler=_run_demo, parser=demo)


def _add_server(commands: _Commands[argparse.ArgumentParser]) -> None:
    server = commands.add_parser(
        "server",
        help="serve files over QUIC (HTTP/3 on h3, HTTP/0.9 on hq-interop)",
        description="Serve the files under --www over HTTP/3 (ALPN h3) and HTTP/0.9 "
        "(ALPN hq-interop): the client's ALPN picks.",
    )
    server.add_argument(
        "--listen",
        type=parse_listen,
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
        help=f"the address to listen on; port 0 picks one (default: {DEFAULT_LISTEN})",
    )
    server.add_argument("--cert", type=existing_file, required=True, help="PEM certificate chain")
    server.add_argument("--key", type=existing_file, required=True, help="PEM private key")
    server.add_argument(
        "--www", type=existing_directory, required=True, metavar="DIR", help="the document root"
    )
    _add_common(server)
    server.set_defaults(handler=_run_server, parser=server)


def _add_client(commands: _Commands[argparse.ArgumentParser]) -> None:
    client = commands.add_parser(
        "client",
        help="download files over QUIC",
        description="Download https://HOST:PORT/PATH URLs over one connection, concurrently.",
    )
    client.add_argument("urls", nargs="+", metavar="URL", help="https://HOST:PORT/PATH")
    client.add_argument(
        "--output", required=True, metavar="DIR", help="where to save the files (created)"
    )
    trust = client.add_mutually_exclusive_group()
    trust.add_argument(
        "--ca-file",
        type=existing_file,
        metavar="FILE",
        help="trust this CA (PEM) instead of the system's",
    )
    trust.add_argument(
        "--insecure", action="store_true", help="do not verify the server's certificate"
    )
    _add_common(client)
    client.set_defaults(handler=_run_client, parser=client)


def _add_perf(commands: _Commands[argparse.ArgumentParser]) -> None:
    from pyquic.tools import perf_protocol  # the standard library only: --help stays instant

    perf = commands.add_parser(
        "perf",
        help="secnetperf-style performance server and client (ALPN perf)",
        description="Measure QUIC performance as MsQuic's secnetperf does "
        "(draft-banks-quic-performance).",
    )
    roles = perf.add_subparsers(dest="role", metavar="ROLE", required=True)
    server = roles.add_parser("server", help="answer perf requests", description="Serve perf.")
    server.add_argument(
        "--listen",
        type=parse_listen,
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
        help=f"the address to listen on; port 0 picks one (default: {DEFAULT_LISTEN})",
    )
    server.add_argument(
        "--cert",
        type=existing_file,
        help="PEM certificate chain (default: a throw-away self-signed one)",
    )
    server.add_argument("--key", type=existing_file, help="PEM private key")
    perf_protocol.add_common_arguments(server)
    server.set_defaults(handler=_run_perf_server, parser=server)
    client = roles.add_parser(
        "client", help="run a scenario", description="Run a scenario against a perf server."
    )
    perf_protocol.add_client_arguments(client)
    client.set_defaults(handler=_run_perf_client, parser=client)


def _add_interop(commands: _Commands[argparse.ArgumentParser]) -> None:
    interop = commands.add_parser(
        "interop",
        help="the QUIC interop runner's endpoint (ROLE, TESTCASE, REQUESTS from the environment)",
        description="Act as the interop runner's client or server for one test case; "
        "exit status 127 when the test case is not supported.",
    )
    interop.add_argument("--role", default=None, help="client or server (env ROLE)")
    interop.add_argument("--testcase", default=None, help="the test case (env TESTCASE)")
    interop.add_argument("--requests", default=None, help="space-separated URLs (env REQUESTS)")
    interop.add_argument("--www", default=None, help="document root (env WWW; /www)")
    interop.add_argument("--downloads", default=None, help="(env DOWNLOADS; /downloads)")
    interop.add_argument("--certs", default=None, help="cert.pem, priv.key (env CERTS; /certs)")
    interop.add_argument("--port", type=int, default=None, help="server port (env PORT; 443)")
    interop.add_argument("--host", default=None, help="server listen address (env HOST; ::)")
    interop.add_argument("--keylog", default=None, help="key log (env SSLKEYLOGFILE)")
    interop.add_argument("--qlog-dir", default=None, help="qlog directory (env QLOGDIR)")
    interop.set_defaults(handler=_run_interop, parser=interop)


# --- dispatch --------------------------------------------------------------------------------


def _run_server(args: argparse.Namespace) -> int:
    from pyquic.tools import server

    host, port = args.listen
    options = server.ServerOptions(
        host=host,
        port=port,
        certificate=args.cert,
        private_key=args.key,
        root=args.www,
        alpns=(args.alpn,) if args.alpn else (H3_ALPN, ALPN),
        keylog=args.keylog,
        qlog_dir=args.qlog_dir,
    )
    return server.run(options)


def _run_client(args: argparse.Namespace) -> int:
    from pyquic.tools import client

    try:
        target = client.parse_urls(args.urls)
    except ValueError as exc:
        args.parser.error(str(exc))
    options = client.ClientOptions(
        target=target,
        output=Path(args.output),
        ca_file=args.ca_file,
        insecure=args.insecure,
        alpn=args.alpn or H3_ALPN,
        keylog=args.keylog,
        qlog_dir=args.qlog_dir,
    )
    return client.run(options)


def _run_demo(args: argparse.Namespace) -> int:
    from pyquic.tools import demo

    if not 0 < args.size <= 4096:
        args.parser.error(f"--size is 1 to 4096 MiB, got {args.size}")
    return demo.run(size=args.size << 20)


def _run_perf_server(args: argparse.Namespace) -> int:
    from pyquic.tools import perf

    if (args.cert is None) != (args.key is None):
        args.parser.error("--cert and --key go together")
    return perf.run_server(args)


def _run_perf_client(args: argparse.Namespace) -> int:
    from pyquic.tools import perf

    return perf.run_client(args)


def _run_interop(args: argparse.Namespace) -> int:
    from pyquic.tools import interop

    return interop.run(interop.with_environment(args))


def _not_available(args: argparse.Namespace) -> int:
    raise NotAvailableError(
        f"'pyquic {args.command}' is not available yet: it needs layers this version of pyquic "
        "does not have (see README.md, 'Status')."
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        status: int = args.handler(args)
        return status
    except NotAvailableError as exc:
        print(f"pyquic: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"pyquic {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
