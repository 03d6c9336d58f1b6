"""``pyquic server`` and ``pyquic client`` as real processes over loopback, and ``pyquic demo``.

One server (``python -m pyquic server --listen 127.0.0.1:0``) serves a generated document root
to the client tests; it is always stopped in a finally.  Every subprocess has a timeout.
"""

from __future__ import annotations

import os
import pty
import re
import select
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pyquic.platform.qlog_file import read_qlog_file
from pyquic.testing.certificates import PemFiles, make_test_credentials
from pyquic.tools import client

PYQUIC = [sys.executable, "-m", "pyquic"]
HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0
RUN_TIMEOUT_S = 120.0
SMALL_FILES = 100
# NSS key log: label, client random, secret (hex)
KEYLOG_LINE = re.compile(r"[A-Z_0-9]+ [0-9a-f]{64} [0-9a-f]{64,96}")


@dataclass(frozen=True)
class Server:
    port: int
    www: Path
    pem: PemFiles
    qlog_dir: Path
    process: subprocess.Popen[bytes]

    def url(self, path: str) -> str:
        return f"https://{HOST}:{self.port}{path}"


def _start_server(args: list[str]) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``pyquic server`` with ``args`` on 127.0.0.1:0; the process and its port."""
    process = subprocess.Popen(
        [*PYQUIC, "server", "--listen", f"{HOST}:0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(START_TIMEOUT_S):
            _stop(process)
            pytest.fail("the server printed nothing")
    line = process.stdout.readline().decode()
    match = re.search(rf"listening on {re.escape(HOST)}:(\d+)", line)
    if match is None:
        _stop(process)
        pytest.fail(f"unexpected server output: {line!r}")
    return process, int(match[1])


def _stop(process: subprocess.Popen[bytes], signum: int = signal.SIGTERM) -> int:
    """Stop the server (SIGKILL if it does not exit in time); its exit status."""
    if process.poll() is None:
        process.send_signal(signum)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    return process.returncode


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("served")
    pem = make_test_credentials([HOST]).write_pem(base / "pki")
    www = base / "www"
    (www / "small").mkdir(parents=True)
    (www / "1k.bin").write_bytes(os.urandom(1024))
    (www / "5m.bin").write_bytes(os.urandom(5 << 20))
    for index in range(SMALL_FILES):
        (www / "small" / f"f{index:03}.bin").write_bytes(os.urandom(index * 37 + 1))
    (base / "secret.txt").write_text("outside the root")
    qlog_dir = base / "qlog"
    args = ["--cert", str(pem.server_certificate), "--key", str(pem.server_key)]
    process, port = _start_server([*args, "--www", str(www), "--qlog-dir", str(qlog_dir)])
    try:
        yield Server(port, www, pem, qlog_dir, process)
    finally:
        _stop(process)


def _client(
    server: Server, *args: str, ca_file: Path | None = None
) -> subprocess.CompletedProcess[str]:
    ca = str(ca_file if ca_file is not None else server.pem.ca_certificate)
    return subprocess.run(
        [*PYQUIC, "client", *args, "--ca-file", ca],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


def _assert_clean_failure(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("pyquic client: error:")
    assert "Traceback" not in result.stderr


ALPNS = ["h3", "hq-interop"]  # the server offers both; the client uses h3 unless told


def _alpn_args(alpn: str) -> list[str]:
    return [] if alpn == "h3" else ["--alpn", alpn]


@pytest.mark.parametrize("alpn", ALPNS)
@pytest.mark.parametrize("name", ["1k.bin", "5m.bin"])
def test_download_is_byte_identical(server: Server, tmp_path: Path, name: str, alpn: str) -> None:
    result = _client(
        server, server.url(f"/{name}"), "--output", str(tmp_path / "out"), *_alpn_args(alpn)
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / name).read_bytes() == (server.www / name).read_bytes()
    size = (server.www / name).stat().st_size
    summary = client.parse_summary(result.stdout)
    assert summary is not None and summary.files == 1 and summary.bytes == size
    assert re.fullmatch(r"1 file, [\d,]+ bytes in [\d.]+ s \([\d.]+ MB/s\)\n", result.stdout)
    assert "\r" not in result.stdout  # no progress line when standard output is not a terminal


def test_hundred_small_files_over_one_connection(server: Server, tmp_path: Path) -> None:
    names = sorted(p.name for p in (server.www / "small").iterdir())
    urls = [server.url(f"/small/{name}") for name in names]
    result = _client(server, *urls, "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr
    for name in names:
        assert (tmp_path / name).read_bytes() == (server.www / "small" / name).read_bytes()
    summary = client.parse_summary(result.stdout)
    assert summary is not None and summary.files == SMALL_FILES


@pytest.mark.parametrize(
    ("alpn", "message"),
    [
        ("h3", "/missing.bin: HTTP status 404"),
        ("hq-interop", "/missing.bin: the server reset the stream: not found (0x404)"),
    ],
)
def test_missing_file_fails_clearly(
    server: Server, tmp_path: Path, alpn: str, message: str
) -> None:
    urls = [server.url("/1k.bin"), server.url("/missing.bin")]
    result = _client(server, *urls, "--output", str(tmp_path), *_alpn_args(alpn))
    _assert_clean_failure(result)
    assert message in result.stderr
    assert "1 of 2 downloads" in result.stderr
    assert not (tmp_path / "missing.bin").exists()  # no partial file left behind
    assert (tmp_path / "1k.bin").read_bytes() == (server.www / "1k.bin").read_bytes()


@pytest.mark.parametrize(
    ("alpn", "message"), [("h3", "HTTP status 403"), ("hq-interop", "forbidden (0x403)")]
)
def test_escaping_the_root_is_forbidden(
    server: Server, tmp_path: Path, alpn: str, message: str
) -> None:
    result = _client(
        server, server.url("/../secret.txt"), "--output", str(tmp_path), *_alpn_args(alpn)
    )
    _assert_clean_failure(result)
    assert message in result.stderr


def test_wrong_ca_is_a_certificate_error(server: Server, tmp_path: Path) -> None:
    other = make_test_credentials([HOST]).write_pem(tmp_path / "other")
    result = _client(
        server, server.url("/1k.bin"), "--output", str(tmp_path), ca_file=other.ca_certificate
    )
    _assert_clean_failure(result)
    assert f"cannot connect to {HOST}:{server.port}" in result.stderr
    assert "certificate" in result.stderr
    assert not (tmp_path / "1k.bin").exists()


def test_keylog_writes_nss_lines(server: Server, tmp_path: Path) -> None:
    keylog = tmp_path / "keys" / "sslkeys.log"
    result = _client(
        server, server.url("/1k.bin"), "--output", str(tmp_path), "--keylog", str(keylog)
    )
    assert result.returncode == 0, result.stderr
    lines = keylog.read_text().splitlines()
    labels = {line.split()[0] for line in lines}
    assert all(KEYLOG_LINE.fullmatch(line) for line in lines), lines
    assert {"CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_TRAFFIC_SECRET_0"} <= labels


def test_qlog_dir_gets_a_trace_per_connection(server: Server, tmp_path: Path) -> None:
    qlog = tmp_path / "qlog"
    for _ in range(2):
        result = _client(
            server, server.url("/1k.bin"), "--output", str(tmp_path), "--qlog-dir", str(qlog)
        )
        assert result.returncode == 0, result.stderr
    traces = sorted(qlog.glob("*.sqlog"))
    assert len(traces) == 2
    for trace in traces:
        odcid = re.fullmatch(r"([0-9a-f]+)_client\.sqlog", trace.name)
        assert odcid is not None
        records = read_qlog_file(trace)
        assert records[0]["file_schema"] == "urn:ietf:params:qlog:file:sequential"
        assert any(r.get("name") == "quic:connection_closed" for r in records[1:])
        # the server's trace of the same connection, complete once the server saw the close
        server_trace = server.qlog_dir / f"{odcid[1]}_server.sqlog"
        deadline = time.monotonic() + 10
        while not _has_close(server_trace) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _has_close(server_trace)


def _has_close(path: Path) -> bool:
    try:
        records = read_qlog_file(path)
    except (OSError, ValueError):
        return False
    return any(r.get("name") == "quic:connection_closed" for r in records[1:])


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_server_stops_cleanly_on_signals(tmp_path: Path, signum: int) -> None:
    pem = make_test_credentials([HOST]).write_pem(tmp_path / "pki")
    args = ["--cert", str(pem.server_certificate), "--key", str(pem.server_key)]
    process, _ = _start_server([*args, "--www", str(tmp_path)])
    try:
        assert _stop(process, signum) == 0
        assert process.stderr is not None
        err = process.stderr.read().decode()
        assert "stopped" in err and "Traceback" not in err
    finally:
        _stop(process, signal.SIGKILL)


def test_server_port_in_use_fails_clearly(server: Server, tmp_path: Path) -> None:
    argv = [*PYQUIC, "server", "--listen", f"{HOST}:{server.port}", "--www", str(tmp_path)]
    argv += ["--cert", str(server.pem.server_certificate), "--key", str(server.pem.server_key)]
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
    )
    assert result.returncode == 1
    assert f"cannot listen on {HOST}:{server.port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo() -> None:
    result = subprocess.run(
        [*PYQUIC, "demo"], capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"OK: 20,971,520 bytes .* [\d.]+ MB/s; SHA-256 verified", result.stdout)


def test_progress_line_on_a_terminal(server: Server, tmp_path: Path) -> None:
    """With standard output on a terminal, one line is redrawn in place (carriage returns)."""
    argv = [*PYQUIC, "client", server.url("/5m.bin"), "--output", str(tmp_path)]
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [*argv, "--ca-file", str(server.pem.ca_certificate)],
            stdout=follower,
            stderr=subprocess.PIPE,
        )
        os.close(follower)
        output = _read_all(leader, process)
    finally:
        os.close(leader)
    assert process.returncode == 0, process.stderr.read() if process.stderr else ""
    text = output.decode()
    assert "\r0/1 files, " in text and " MB/s" in text
    assert text.rstrip().splitlines()[-1].endswith("MB/s)")  # the summary, after the status line


def _read_all(fd: int, process: subprocess.Popen[bytes]) -> bytes:
    """Everything written to the pseudo-terminal until the process exits (with a timeout)."""
    chunks = []
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the terminal's other end is closed
                break
            if not chunk:
                break
            chunks.append(chunk)
        elif process.poll() is not None:
            break
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)
    return b"".join(chunks)
