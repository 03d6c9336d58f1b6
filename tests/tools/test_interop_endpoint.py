"""``pyquic interop`` processes, pyquic against pyquic on loopback, through the local runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyquic.tools import interop_runner

QUICK_CASES = [
    "handshake",
    "transfer",
    "chacha20",
    "retry",
    "resumption",
    "keyupdate",
    "v2",
    "http3",
]


@pytest.mark.parametrize("case", QUICK_CASES)
def test_case_downloads_byte_identical_files(case: str, tmp_path: Path) -> None:
    result = interop_runner.run_case(case, tmp_path, timeout=60)
    assert result.status == "green", result.reason
    for name in (tmp_path / "www").iterdir():
        assert (tmp_path / "downloads" / name.name).read_bytes() == name.read_bytes()


@pytest.mark.parametrize("role", ["client", "server"])
def test_unknown_testcase_exits_127(role: str) -> None:
    env = dict(os.environ, ROLE=role, TESTCASE="no-such-case")
    command = [sys.executable, "-m", "pyquic.tools.cli", "interop"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 127
    assert "not supported" in result.stderr


def test_connectionmigration_is_unsupported_for_now(tmp_path: Path) -> None:
    result = interop_runner.run_case("connectionmigration", tmp_path, timeout=30)
    assert result.status == "unsupported"


def test_matrix_is_written(tmp_path: Path) -> None:
    results = [
        interop_runner.Result("handshake", "green", "", 0.5),
        interop_runner.Result("blackhole", "red", "timeout after 60 s", 60.0),
    ]
    markdown = interop_runner.write_matrix(results, tmp_path)
    assert "timeout after 60 s" in markdown
    assert (tmp_path / "results.json").is_file() and (tmp_path / "matrix.md").is_file()
