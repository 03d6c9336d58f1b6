"""ngtcp2 (Debian's ``gtlsclient`` and ``gtlsserver``, GnuTLS) as an interop runner endpoint.

It keeps the runner's endpoint contract (``/work/shared/design/interop-runner.md`` §3) the way
``pyquic interop`` keeps it: ``ROLE``, ``TESTCASE``, ``REQUESTS``, ``SSLKEYLOGFILE`` (GnuTLS
reads it itself) and ``QLOGDIR`` from the environment, and instead of the container mounts
``WWW``, ``DOWNLOADS``, ``CERTS``, ``HOST`` and ``PORT`` (0: a free port, since gtlsserver cannot
bind port 0).  The server prints ``listening on HOST:PORT`` once gtlsserver's socket is bound and
runs until SIGTERM; exit status 0 when every file was downloaded, 1 on failure, 127 for a test
case it cannot do.

Design: a thin adapter from the contract to command lines.  ngtcp2's example programs speak
HTTP/3 only, so every case runs over h3 (the local runner gives the other endpoint
``TESTCASE=http3`` for the cases that are file transfers; its servers offer h3 in every case).
What maps to what: retry is gtlsserver's ``--validate-addr``; chacha20 restricts GnuTLS's
``--ciphers``; resumption and zerortt run gtlsclient twice with ``--session-file`` and
``--tp-file`` (resumption with ``--disable-early-data``, zerortt sends its requests in 0-RTT,
RFC 9001 §4.6); keyupdate is ``--key-update`` (RFC 9001 §6); the multiconnect cases run one
gtlsclient per file.  gtlsclient exits 0 whatever happened, so the client checks that every file
arrived.  Unsupported (127): v2 (ngtcp2 0.12 knows only the v2 draft, not RFC 9369) and, as a
server, connectionmigration (its preferred address would bypass the runner's relay).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pyquic.tools.interop_runner import TRANSFER_CASES

EXIT_UNSUPPORTED = 127
GTLSSERVER = shutil.which("gtlsserver") or "/usr/sbin/gtlsserver"
GTLSCLIENT = shutil.which("gtlsclient") or "/usr/bin/gtlsclient"
CHACHA20_ONLY = "--ciphers=NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+CHACHA20-POLY1305"
SERVER_LIFETIME_S = 1800  # gtlsserver never exits by itself: bound it if this adapter is killed
CLIENT_LIFETIME_S = 600
READY_S = 10.0
IDLE_TIMEOUT = "--timeout=30s"
HANDSHAKE_TIMEOUT = "--handshake-timeout=30s"  # multiconnect under 30 % loss needs the time

# the runner's cases that are file transfers to both endpoints (goodput is run as transfer)
ENDPOINT_TRANSFER_CASES = TRANSFER_CASES - {"goodput"}


@dataclass(frozen=True)
class Case:
    """What one test case asks of ngtcp2's programs."""

    retry: bool = False
    chacha20: bool = False
    resumption: bool = False
    zero_rtt: bool = False
    key_update: bool = False
    multiconnect: bool = False
    client_only: bool = False


_TRANSFER = Case()
_MULTICONNECT = Case(multiconnect=True)
CASES: Mapping[str, Case] = {
    # the endpoint test cases that are plain file transfers (the runner's own list)
    **dict.fromkeys(sorted(ENDPOINT_TRANSFER_CASES | {"http3", "ecn"}), _TRANSFER),
    **dict.fromkeys(("multiconnect", "handshakeloss", "handshakecorruption"), _MULTICONNECT),
    "retry": Case(retry=True),
    "chacha20": Case(chacha20=True),
    "resumption": Case(resumption=True),
    "zerortt": Case(resumption=True, zero_rtt=True),
    "keyupdate": Case(key_update=True),
    # gtlsclient follows a server's preferred_address unless --no-preferred-addr
    "connectionmigration": Case(client_only=True),
}
UNSUPPORTED = {"v2": "ngtcp2 0.12 implements the QUIC v2 draft, not RFC 9369"}


def log(message: str) -> None:
    role = os.environ.get("ROLE", "?")
    print(f"ngtcp2 interop {role}: {message}", file=sys.stderr, flush=True)


def common_options(case: Case) -> list[str]:
    options = ["--quiet", IDLE_TIMEOUT, HANDSHAKE_TIMEOUT]
    if case.chacha20:
        options.append(CHACHA20_ONLY)
    if os.environ.get("QLOGDIR"):
        Path(os.environ["QLOGDIR"]).mkdir(parents=True, exist_ok=True)
        options.append(f"--qlog-dir={os.environ['QLOGDIR']}")
    return options


# --- server ------------------------------------------------------------------------------------


def udp_port_bound(port: int) -> bool:
    """Whether some socket is bound to UDP ``port`` (IPv4 or IPv6), from /proc/net."""
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            next(lines)
            for line in lines:
                if int(line.split()[1].rsplit(":", 1)[1], 16) == port:
                    return True
    return False


def free_udp_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def start_server(case: Case, host: str, port: int) -> subprocess.Popen[bytes] | None:
    """gtlsserver on ``host``:``port``, once its socket is bound (None: it never was)."""
    certs = Path(os.environ.get("CERTS", "/certs"))
    www = os.environ.get("WWW", "/www")
    command = ["timeout", str(SERVER_LIFETIME_S), GTLSSERVER, *common_options(case)]
    command.append(f"--htdocs={www}")
    if case.retry:
        command.append("--validate-addr")
    command += [host, str(port), str(certs / "priv.key"), str(certs / "cert.pem")]
    log(" ".join(command))
    process = subprocess.Popen(command, stdout=sys.stderr, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline and process.poll() is None:
        if udp_port_bound(port):
            return process
        time.sleep(0.02)
    stop(process)
    return None


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def run_server(case: Case) -> int:
    if case.client_only:
        log("connectionmigration: gtlsserver's preferred address would bypass the relay")
        return EXIT_UNSUPPORTED
    host, wanted = os.environ.get("HOST", "::"), int(os.environ.get("PORT", "443"))
    stopping = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    for _ in range(3):  # a free port may be taken before gtlsserver binds it
        port = wanted or free_udp_port(host)
        process = start_server(case, host, port)
        if process is not None:
            break
    else:
        log("error: gtlsserver never listened")
        return 1
    shown = f"[{host}]" if ":" in host else host
    print(f"ngtcp2 interop server: listening on {shown}:{port}", flush=True)
    while not stopping and process.poll() is None:
        time.sleep(0.05)
    if not stopping:
        log(f"error: gtlsserver exited with {process.returncode}")
        return 1
    stop(process)
    return 0


# --- client ------------------------------------------------------------------------------------


def client_command(case: Case, urls: list[str], downloads: Path, state: Path) -> list[str]:
    first = urlsplit(urls[0])
    host, port = first.hostname or "localhost", first.port or 443
    command = ["timeout", str(CLIENT_LIFETIME_S), GTLSCLIENT, *common_options(case)]
    command += ["--exit-on-all-streams-close", f"--download={downloads}"]
    if case.key_update:
        command.append("--key-update=100ms")
    if case.resumption:
        command += [f"--session-file={state / 'session'}", f"--tp-file={state / 'tp'}"]
        if not case.zero_rtt:
            command.append("--disable-early-data")
        else:
            # the case bounds the client's 1-RTT payload (5,000 bytes, padding included, as the
            # runner counts it); gtlsclient's PMTUD probes are 1,200+ bytes of PING+PADDING
            # each, so one more probe than usual decided the cell, not the 0-RTT requests
            command.append("--no-pmtud")
    return [*command, host, str(port), *urls]


def run_client(case: Case) -> int:
    urls = os.environ.get("REQUESTS", "").split()
    if not urls:
        log("error: REQUESTS is empty")
        return 1
    downloads = Path(os.environ.get("DOWNLOADS", "/downloads"))
    downloads.mkdir(parents=True, exist_ok=True)
    if case.multiconnect:
        batches = [[url] for url in urls]
    elif case.resumption:
        batches = [urls[:1], urls[1:]] if len(urls) > 1 else [urls]
    else:
        batches = [urls]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ngtcp2-") as state:
        for index, batch in enumerate(batches):
            if case.resumption and index == 1 and not (Path(state) / "session").is_file():
                log("error: no session ticket arrived on the first connection")
                return 1
            command = client_command(case, batch, downloads, Path(state))
            status = subprocess.run(command, stdout=sys.stderr, stdin=subprocess.DEVNULL).returncode
            missing = [
                url for url in batch if not (downloads / Path(urlsplit(url).path).name).exists()
            ]
            if status != 0 or missing:
                log(f"error: gtlsclient exited {status}; {len(missing)}/{len(batch)} files missing")
                return 1
    log(f"{len(urls)} files in {time.monotonic() - started:.2f} s")
    return 0


def main() -> int:
    role, testcase = os.environ.get("ROLE", ""), os.environ.get("TESTCASE", "")
    if role not in ("client", "server"):
        log(f"ROLE must be client or server, not {role!r}")
        return 1
    case = CASES.get(testcase)
    if case is None:
        log(f"test case {testcase!r} is not supported: {UNSUPPORTED.get(testcase, 'unknown')}")
        return EXIT_UNSUPPORTED
    return run_server(case) if role == "server" else run_client(case)


if __name__ == "__main__":
    sys.exit(main())
