"""The ``pyquic`` command.

One entry point with sub-commands, in the manner of MsQuic's tools: ``demo`` (a server and a client
on loopback) and, as the layers beneath them land, ``server``, ``client``, ``perf`` and ``interop``.
A sub-command whose layer is not built yet says so and exits with status 2: it never pretends.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import pyquic

# Sub-commands that need the datapath and API layers, which are not built yet.
_PENDING: dict[str, str] = {
    "demo": "run a QUIC server and client talking on loopback",
    "server": "serve files over QUIC (HTTP/0.9 on hq-interop)",
    "client": "download files over QUIC",
    "perf": "the secnetperf-style performance tool",
    "interop": "the interop-runner endpoint",
}


class NotAvailableError(RuntimeError):
    """A sub-command whose layer is not built yet."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyquic",
        description="pyquic: the IETF QUIC protocol in Python, built the way MsQuic is built.",
    )
    parser.add_argument("--version", action="version", version=f"pyquic {pyquic.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, summary in _PENDING.items():
        commands.add_parser(name, help=f"{summary} (not available yet)", description=summary)
    return parser


def run(command: str) -> int:
    if command in _PENDING:
        raise NotAvailableError(
            f"'pyquic {command}' is not available yet: it needs the datapath and API layers, "
            "which this version of pyquic does not have (see README.md, 'Status')."
        )
    raise NotAvailableError(f"unknown command {command!r}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return run(args.command)
    except NotAvailableError as exc:
        print(f"pyquic: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
