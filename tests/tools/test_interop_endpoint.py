"""``pyquic interop`` processes on loopback through the local runner: against itself, and against
aioquic's endpoint (``tests/interop/drivers/aioquic_interop.py``) in both roles.

The aioquic runs are the quick subset of ``make interop``: the cases of the first interop
milestones, with each case's files scaled to a tenth (:data:`QUICK_SCALE`) so that every run
takes a few seconds on the runner's 10 Mbit/s link.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyquic.tools import interop_runner

REGISTRY = Path(__file__).parents[1] / "interop" / "peers.json"
AIOQUIC = interop_runner.load_peers(REGISTRY)["aioquic"]
QUICK_CASES = [
    "handshake",
    "transfer",
    "chacha20",
    "retry",
    "resumption",
    "zerortt",
    "keyupdate",
    "v2",
    "http3",
]
AIOQUIC_CASES = [
    "handshake",
    "transfer",
    "retry",
    "resumption",
    "zerortt",
    "keyupdate",
    "v2",
    "transferloss",
]
QUICK_SCALE = 0.1
PAIRS = {"aioquic-server": (AIOQUIC, interop_runner.PYQUIC)}
PAIRS["aioquic-client"] = (interop_runner.PYQUIC, AIOQUIC)


@pytest.mark.parametrize("case", QUICK_CASES)
def test_case_downloads_byte_identical_files(case: str, tmp_path: Path) -> None:
    result = interop_runner.run_case(case, tmp_path, timeout=60)
    assert result.status == "green", result.reason
    for name in (tmp_path / "www").iterdir():
        assert (tmp_path / "downloads" / name.name).read_bytes() == name.read_bytes()


def _log(tmp_path: Path, role: str) -> str:
    return (tmp_path / "logs" / f"{role}.log").read_text(errors="replace")


@pytest.mark.parametrize("pair", list(PAIRS))
@pytest.mark.parametrize("case", AIOQUIC_CASES)
def test_case_against_aioquic(case: str, pair: str, tmp_path: Path) -> None:
    server, client = PAIRS[pair]
    result = interop_runner.run_case(
        case, tmp_path, timeout=60, server=server, client=client, file_scale=QUICK_SCALE
    )
    assert (result.server, result.client) == (server.name, client.name)
    logs = _log(tmp_path, "server") + _log(tmp_path, "client")
    assert result.status == "green", f"{result.reason}\n{logs[-3000:]}"
    aioquic_log = _log(tmp_path, "server" if pair == "aioquic-server" else "client")
    handshakes = [line for line in aioquic_log.splitlines() if "handshake completed" in line]
    assert len(handshakes) == (2 if case in ("resumption", "zerortt") else 1), aioquic_log
    if case in ("resumption", "zerortt"):
        assert "resumed False" in handshakes[0] and "resumed True" in handshakes[1]
    if case == "zerortt":
        # the second connection's requests went in 0-RTT and the server took them
        assert "early data accepted True" in handshakes[1], aioquic_log


@pytest.mark.parametrize("role", ["client", "server"])
def test_unknown_testcase_exits_127(role: str) -> None:
    env = dict(os.environ, ROLE=role, TESTCASE="no-such-case")
    command = [sys.executable, "-m", "pyquic.tools.cli", "interop"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 127
    assert "not supported" in result.stderr


def test_connectionmigration_against_itself(tmp_path: Path) -> None:
    result = interop_runner.run_case("connectionmigration", tmp_path, timeout=30)
    assert result.status == "green", result.reason


def test_matrix_is_written(tmp_path: Path) -> None:
    results = [
        interop_runner.Result("handshake", "green", "", 0.5),
        interop_runner.Result("blackhole", "red", "timeout after 60 s", 60.0),
    ]
    markdown = interop_runner.write_matrix(results, tmp_path)
    assert "timeout after 60 s" in markdown
    assert (tmp_path / "results.json").is_file() and (tmp_path / "matrix.md").is_file()


def test_an_alpn_other_than_hq_interop_or_h3_is_refused() -> None:
    env = dict(os.environ, ROLE="client", TESTCASE="handshake", ALPN="spdy/3", REQUESTS="")
    command = [sys.executable, "-m", "pyquic.tools.cli", "interop"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "ALPN must be hq-interop or h3" in result.stderr


def test_zerortt_over_h3_sends_http3_requests_as_early_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # before the handshake completes no ALPN is agreed: the client speaks the one it offered
    monkeypatch.setenv("ALPN", "h3")
    result = interop_runner.run_case("zerortt", tmp_path, timeout=60)
    assert result.status == "green", result.reason
