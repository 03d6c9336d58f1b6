"""A local QUIC interop runner: ``pyquic interop`` against itself on loopback, no containers.

``make interop`` (or ``python -m pyquic.tools.interop_runner``) runs, for every test case of the
public runner (``/work/shared/design/interop-runner.md`` §1), a ``pyquic interop`` server and a
``pyquic interop`` client as separate processes on loopback, each with the runner's environment
(ROLE, TESTCASE, REQUESTS, SSLKEYLOGFILE, QLOGDIR, plus WWW/DOWNLOADS/CERTS/PORT/HOST instead of
the container mounts).  A case is green when the client exits 0 and ``downloads`` holds exactly
the requested files, byte-identical; unsupported when either endpoint exits 127; red otherwise,
with the reason.  The matrix is printed and written to ``interop-results/`` as ``matrix.md`` and
``results.json`` (logs per case under ``interop-results/<case>/``).

Limits of this first version: no network impairment (the loss, corruption, blackhole and
long-RTT cases run over a clean loopback), and none of the runner's pcap checks (handshake
counts, versions on the wire, key phases): only the files are checked.
"""

from __future__ import annotations

import argparse
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
SERVER_START_TIMEOUT_S = 10.0
CASE_TIMEOUT_S = 60.0


@dataclass
class Result:
    """One case's outcome: ``green``, ``red`` (with the reason) or ``unsupported``."""

    case: str
    status: str
    reason: str = ""
    seconds: float = 0.0


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


def run_case(case: str, workdir: Path, timeout: float = CASE_TIMEOUT_S) -> Result:
    """Run ``case`` pyquic against pyquic under ``workdir``; never raises for a failed case."""
    started = time.monotonic()
    certs, www, downloads, logs = (workdir / d for d in ("certs", "www", "downloads", "logs"))
    for directory in (certs, downloads, logs):
        directory.mkdir(parents=True, exist_ok=True)
    _make_certs(certs)
    names = _make_files(www, FILES.get(case, [1 * KIB]), long_names=case == "zerortt")
    host = "::1" if case == "ipv6" else "127.0.0.1"
    env = dict(os.environ, TESTCASE=case, CERTS=str(certs), QLOGDIR=str(logs / "qlog"))
    server_env = dict(env, ROLE="server", WWW=str(www), PORT="0", HOST=host)
    server_env["SSLKEYLOGFILE"] = str(logs / "server-keys.log")
    with (logs / "server.log").open("w") as server_log:
        server = subprocess.Popen(
            _command(), env=server_env, stdout=subprocess.PIPE, stderr=server_log, text=True
        )
        try:
            return _run_client(case, server, env, host, names, workdir, started, timeout)
        finally:
            _stop(server)


def _run_client(
    case: str,
    server: subprocess.Popen[str],
    env: dict[str, str],
    host: str,
    names: Sequence[str],
    workdir: Path,
    started: float,
    timeout: float,
) -> Result:
    def result(status: str, reason: str = "") -> Result:
        return Result(case, status, reason, round(time.monotonic() - started, 2))

    port = _wait_listening(server, SERVER_START_TIMEOUT_S)
    if port is None:
        try:
            status: int | None = server.wait(timeout=2)  # it closed its output: exiting
        except subprocess.TimeoutExpired:
            status = None
        if status == EXIT_UNSUPPORTED:
            return result("unsupported", "server exited 127")
        return result("red", f"the server did not start (status {status})")
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    requests = " ".join(f"https://{authority}/{name}" for name in names)
    logs = workdir / "logs"
    client_env = dict(env, ROLE="client", REQUESTS=requests, DOWNLOADS=str(workdir / "downloads"))
    client_env["SSLKEYLOGFILE"] = str(logs / "client-keys.log")
    with (logs / "client.log").open("w") as client_log:
        try:
            client_status = subprocess.run(
                _command(), env=client_env, stdout=client_log, stderr=client_log, timeout=timeout
            ).returncode  # subprocess.run kills the client on timeout
        except subprocess.TimeoutExpired:
            return result("red", f"timeout after {timeout:.0f} s")
    if client_status == EXIT_UNSUPPORTED:
        return result("unsupported", "client exited 127")
    if client_status != 0:
        tail = (logs / "client.log").read_text(errors="replace").strip().splitlines()[-1:]
        return result("red", f"client exited {client_status}: {' '.join(tail)[:200]}")
    problem = _check_downloads(workdir / "www", workdir / "downloads", names)
    return result("red", problem) if problem else result("green")


def write_matrix(results: Sequence[Result], directory: Path) -> str:
    """Write ``matrix.md`` and ``results.json`` into ``directory``; the markdown."""
    directory.mkdir(parents=True, exist_ok=True)
    marks = {"green": "✅ green", "red": "❌ red", "unsupported": "➖ unsupported"}
    lines = ["| test case | pyquic → pyquic | seconds | reason |", "|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.case} | {marks[r.status]} | {r.seconds} | {r.reason} |")
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
    parser.add_argument("--timeout", type=float, default=CASE_TIMEOUT_S, help="per case (s)")
    args = parser.parse_args(argv)
    output = Path(args.output)
    results = []
    for case in args.cases:
        workdir = output / case
        shutil.rmtree(workdir, ignore_errors=True)
        result = run_case(case, workdir, args.timeout)
        shutil.rmtree(workdir / "www", ignore_errors=True)  # large random files: not kept
        shutil.rmtree(workdir / "downloads", ignore_errors=True)
        print(f"{case:22} {result.status:12} {result.seconds:6.2f} s  {result.reason}", flush=True)
        results.append(result)
    print(write_matrix(results, output))
    return 1 if any(r.status == "red" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
