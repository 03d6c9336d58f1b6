"""A local QUIC interop runner: ``pyquic interop`` against itself on loopback, no containers.

``make interop`` (or ``python -m pyquic.tools.interop_runner``) runs, for every test case of the
public runner (``/work/shared/design/interop-runner.md`` §1), a ``pyquic interop`` server and a
``pyquic interop`` client as separate processes on loopback, each with the runner's environment
(ROLE, TESTCASE, REQUESTS, SSLKEYLOGFILE, QLOGDIR, plus WWW/DOWNLOADS/CERTS/PORT/HOST instead of
the container mounts).  A case is green when the client exits 0 and ``downloads`` holds exactly
the requested files, byte-identical; unsupported when either endpoint exits 127; red otherwise,
with the reason.  The matrix is printed and written to ``interop-results/`` as ``matrix.md`` and
``results.json`` (logs per case under ``interop-results/<case>/``).

Every case runs through :mod:`pyquic.tools.interop_relay` (a UDP relay process between client and
server) with the runner's default link, 10 Mbit/s, a 25-packet drop-tail queue and 15 ms each
way, plus the case's impairments (:data:`NETWORK`): loss, corruption, the blackhole window, the
long RTT and the amplificationlimit drop list.  ``--no-relay`` runs over the clean loopback.  The
``goodput`` measurement (one 10 MiB ``transfer``) is reported in kbps, from the relay's delivery
times of the first and last server 1-RTT packet (the public runner reads its client-side pcap).

Limits: none of the runner's pcap checks (handshake counts, versions on the wire, key phases):
only the files are checked; goodput is one run, not the mean of 5.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import selectors
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pyquic.tools.interop import EXIT_UNSUPPORTED

__all__ = ["FILES", "Result", "main", "run_case"]

KIB = 1 << 10
MIB = 1 << 20
# The files each case requests (sizes of the public runner; multiconnect cases scaled down).
FILES: dict[str, list[int]] = {
    "handshake": [1 * KIB],
    "transfer": [2 * MIB, 3 * MIB, 5 * MIB],
    "longrtt": [1 * KIB],
    "chacha20": [3 * MIB],
    "multiplexing": [32] * 1999,
    "retry": [10 * KIB],
    "resumption": [5 * KIB, 10 * KIB],
    "zerortt": [32] * 40,
    "http3": [5 * KIB, 10 * KIB, 500 * KIB],
    "blackhole": [10 * MIB],
    "keyupdate": [3 * MIB],
    "ecn": [100 * KIB],
    "amplificationlimit": [5 * KIB],
    "handshakeloss": [1 * KIB] * 50,
    "transferloss": [2 * MIB],
    "handshakecorruption": [1 * KIB] * 50,
    "transfercorruption": [2 * MIB],
    "ipv6": [5 * KIB, 10 * KIB],
    "v2": [1 * KIB],
    "rebind-port": [10 * MIB],
    "rebind-addr": [10 * MIB],
    "connectionmigration": [2 * MIB],
}
FILES["goodput"] = [10 * MIB]
# The endpoints' TESTCASE when it differs from the case name (the measurements; the rebinding
# cases, which are transfers to the endpoints: the relay rebinds).
ENDPOINT_TESTCASE = {"goodput": "transfer", "rebind-port": "transfer", "rebind-addr": "transfer"}
# Each case's impairments: interop_relay options on top of the default link (design doc §1).
NETWORK: dict[str, list[str]] = {
    "longrtt": ["--delay", "750"],
    "blackhole": ["--blackhole-on", "5", "--blackhole-off", "2"],
    "amplificationlimit": ["--drops-to-server", "2,3,4,5,6,7"],
    "handshakeloss": ["--drop-rate", "30"],
    "transferloss": ["--drop-rate", "2"],
    "handshakecorruption": ["--corrupt-rate", "30"],
    "transfercorruption": ["--corrupt-rate", "2"],
    "rebind-port": ["--rebind", "--first-rebind", "1", "--rebind-freq", "5"],
    "rebind-addr": ["--rebind-addr", "--first-rebind", "1", "--rebind-freq", "5"],
}
SERVER_START_TIMEOUT_S = 10.0
CASE_TIMEOUT_S = 60.0
# The public runner's longer timeouts (multiconnect under 30 % impairment).
CASE_TIMEOUTS = {"handshakeloss": 300.0, "handshakecorruption": 300.0}


@dataclass
class Result:
    """One case's outcome: ``green``, ``red`` (with the reason) or ``unsupported``."""

    case: str
    status: str
    reason: str = ""
    seconds: float = 0.0
    goodput_kbps: float | None = None


def _command() -> list[str]:
    return [sys.executable, "-m", "pyquic.tools.cli", "interop"]


def _make_certs(directory: Path) -> None:
    from pyquic.testing.certificates import make_test_credentials

    pem = make_test_credentials(("localhost", "server", "127.0.0.1", "::1")).write_pem(directory)
    shutil.copyfile(pem.server_certificate, directory / "cert.pem")
    shutil.copyfile(pem.server_key, directory / "priv.key")


def _make_files(www: Path, sizes: Sequence[int], long_names: bool) -> list[str]:
    www.mkdir(parents=True, exist_ok=True)
    names = []
    for size in sizes:
        length = 250 if long_names else 10
        name = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(length))
        (www / name).write_bytes(os.urandom(size))
        names.append(name)
    return names


def _wait_listening(process: subprocess.Popen[str], timeout: float) -> int | None:
    """The port the server prints when ready, or None (exited or timed out)."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(max(0.0, deadline - time.monotonic())):
                break
            line = process.stdout.readline()
            if not line:
                return None
            if "listening on" in line:
                return int(line.strip().rpartition(":")[2])
    return None


def _stop(process: subprocess.Popen[str]) -> int:
    """Terminate (then kill) ``process``; its exit status."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    return process.returncode


def _check_downloads(www: Path, downloads: Path, names: Sequence[str]) -> str:
    """Empty when ``downloads`` holds exactly ``names``, byte-identical; else why not."""
    got = {path.name for path in downloads.iterdir()} if downloads.is_dir() else set()
    missing, extra = set(names) - got, got - set(names)
    if missing or extra:
        return f"{len(missing)} files missing, {len(extra)} unexpected"
    for name in names:
        if (www / name).read_bytes() != (downloads / name).read_bytes():
            return f"{name[:20]} differs"
    return ""


def run_case(case: str, workdir: Path, timeout: float | None = None, relay: bool = True) -> Result:
    """Run ``case`` pyquic against pyquic under ``workdir``; never raises for a failed case.

    ``timeout`` bounds the client (default: the case's, :data:`CASE_TIMEOUTS`); with ``relay``
    the datagrams go through :mod:`pyquic.tools.interop_relay` and the case's network.
    """
    started = time.monotonic()
    certs, www, downloads, logs = (workdir / d for d in ("certs", "www", "downloads", "logs"))
    for directory in (certs, downloads, logs):
        directory.mkdir(parents=True, exist_ok=True)
    _make_certs(certs)
    names = _make_files(www, FILES.get(case, [1 * KIB]), long_names=case == "zerortt")
    host = "::1" if case == "ipv6" else "127.0.0.1"
    testcase = ENDPOINT_TESTCASE.get(case, case)
    env = dict(os.environ, TESTCASE=testcase, CERTS=str(certs), QLOGDIR=str(logs / "qlog"))
    server_env = dict(env, ROLE="server", WWW=str(www), PORT="0", HOST=host)
    server_env["SSLKEYLOGFILE"] = str(logs / "server-keys.log")
    run = _Run(
        case, workdir, names, host, started, timeout or CASE_TIMEOUTS.get(case, CASE_TIMEOUT_S)
    )
    with (logs / "server.log").open("w") as server_log:
        server = subprocess.Popen(
            _command(), env=server_env, stdout=subprocess.PIPE, stderr=server_log, text=True
        )
        try:
            return _run_client(run, server, env, relay)
        finally:
            _stop(server)


@dataclass
class _Run:
    """One case's fixed parameters while it runs."""

    case: str
    workdir: Path
    names: Sequence[str]
    host: str
    started: float
    timeout: float

    def result(self, status: str, reason: str = "", goodput: float | None = None) -> Result:
        """The case's :class:`Result`, timed from its start."""
        seconds = round(time.monotonic() - self.started, 2)
        return Result(self.case, status, reason, seconds, goodput)


def _start_relay(run: _Run, server_port: int) -> tuple[subprocess.Popen[str], int | None]:
    """The relay process for ``run``'s case towards the server, and its port (None: failed)."""
    authority = f"[{run.host}]:{server_port}" if ":" in run.host else f"{run.host}:{server_port}"
    command = [sys.executable, "-m", "pyquic.tools.interop_relay", "--server", authority]
    command += ["--host", run.host, *NETWORK.get(run.case, [])]
    with (run.workdir / "logs" / "relay.log").open("w") as relay_log:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=relay_log, text=True)
    return process, _wait_listening(process, SERVER_START_TIMEOUT_S)


def _stop_relay(process: subprocess.Popen[str], workdir: Path) -> dict[str, Any]:
    """Stop the relay (SIGTERM, then kill); its statistics (empty when it printed none)."""
    process.terminate()
    try:
        output, _ = process.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate(timeout=5)
    (workdir / "logs" / "relay-stats.json").write_text(output or "")
    for line in reversed((output or "").splitlines()):
        with contextlib.suppress(ValueError):
            statistics = json.loads(line)
            if isinstance(statistics, dict):
                return statistics
    return {}


def _goodput_kbps(statistics: dict[str, Any], size: int) -> float | None:
    """8 × ``size`` bits over the first-to-last server 1-RTT delivery interval, in kbps."""
    to_client = statistics.get("to_client", {})
    first, last = to_client.get("first_short_s"), to_client.get("last_short_s")
    if first is None or last is None or last <= first:
        return None
    return round(8 * size / ((float(last) - float(first)) * 1000), 1)


def _run_client(
    run: _Run, server: subprocess.Popen[str], env: dict[str, str], relay: bool
) -> Result:
    port = _wait_listening(server, SERVER_START_TIMEOUT_S)
    if port is None:
        try:
            status: int | None = server.wait(timeout=2)  # it closed its output: exiting
        except subprocess.TimeoutExpired:
            status = None
        if status == EXIT_UNSUPPORTED:
            return run.result("unsupported", "server exited 127")
        return run.result("red", f"the server did not start (status {status})")
    relay_process = None
    if relay:
        relay_process, port = _start_relay(run, port)
        if port is None:
            _stop_relay(relay_process, run.workdir)
            return run.result("red", "the relay did not start")
    try:
        result = _download(run, env, port)
    finally:
        statistics = _stop_relay(relay_process, run.workdir) if relay_process else {}
    if result.status == "green" and run.case == "goodput":
        result.goodput_kbps = _goodput_kbps(statistics, sum(FILES["goodput"]))
    return result


def _download(run: _Run, env: dict[str, str], port: int) -> Result:
    """Run the client against ``port`` and check its downloads."""
    authority = f"[{run.host}]:{port}" if ":" in run.host else f"{run.host}:{port}"
    requests = " ".join(f"https://{authority}/{name}" for name in run.names)
    logs = run.workdir / "logs"
    downloads = str(run.workdir / "downloads")
    client_env = dict(env, ROLE="client", REQUESTS=requests, DOWNLOADS=downloads)
    client_env["SSLKEYLOGFILE"] = str(logs / "client-keys.log")
    with (logs / "client.log").open("w") as client_log:
        try:
            client_status = subprocess.run(
                _command(),
                env=client_env,
                stdout=client_log,
                stderr=client_log,
                timeout=run.timeout,
            ).returncode  # subprocess.run kills the client on timeout
        except subprocess.TimeoutExpired:
            return run.result("red", f"timeout after {run.timeout:.0f} s")
    if client_status == EXIT_UNSUPPORTED:
        return run.result("unsupported", "client exited 127")
    if client_status != 0:
        tail = (logs / "client.log").read_text(errors="replace").strip().splitlines()[-1:]
        return run.result("red", f"client exited {client_status}: {' '.join(tail)[:200]}")
    problem = _check_downloads(run.workdir / "www", run.workdir / "downloads", run.names)
    return run.result("red", problem) if problem else run.result("green")


def write_matrix(results: Sequence[Result], directory: Path) -> str:
    """Write ``matrix.md`` and ``results.json`` into ``directory``; the markdown."""
    directory.mkdir(parents=True, exist_ok=True)
    marks = {"green": "✅ green", "red": "❌ red", "unsupported": "➖ unsupported"}
    lines = [
        "| test case | pyquic → pyquic | seconds | goodput | reason |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        goodput = "" if r.goodput_kbps is None else f"{r.goodput_kbps:.0f} kbps"
        lines.append(f"| {r.case} | {marks[r.status]} | {r.seconds} | {goodput} | {r.reason} |")
    markdown = "\n".join(lines) + "\n"
    (directory / "matrix.md").write_text(markdown)
    payload = {"client": "pyquic", "server": "pyquic", "results": [asdict(r) for r in results]}
    (directory / "results.json").write_text(json.dumps(payload, indent=2) + "\n")
    return markdown


def main(argv: Sequence[str] | None = None) -> int:
    """Run the cases (all by default); 0 when none is red."""
    parser = argparse.ArgumentParser(prog="interop_runner", description=__doc__.split("\n")[0])
    parser.add_argument("cases", nargs="*", default=list(FILES), help="test cases (default all)")
    parser.add_argument("--output", default="interop-results", help="results directory")
    parser.add_argument("--timeout", type=float, default=None, help="per case (s)")
    parser.add_argument("--no-relay", action="store_true", help="clean loopback, no impairment")
    args = parser.parse_args(argv)
    output = Path(args.output)
    results = []
    for case in args.cases:
        workdir = output / case
        shutil.rmtree(workdir, ignore_errors=True)
        result = run_case(case, workdir, args.timeout, relay=not args.no_relay)
        shutil.rmtree(workdir / "www", ignore_errors=True)  # large random files: not kept
        shutil.rmtree(workdir / "downloads", ignore_errors=True)
        goodput = "" if result.goodput_kbps is None else f"{result.goodput_kbps:.0f} kbps "
        print(
            f"{case:22} {result.status:12} {result.seconds:6.2f} s  {goodput}{result.reason}",
            flush=True,
        )
        results.append(result)
    print(write_matrix(results, output))
    return 1 if any(r.status == "red" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
