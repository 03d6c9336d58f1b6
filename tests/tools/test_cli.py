"""The pyquic command: --version, --help, and a clear refusal for what is not built yet."""

from __future__ import annotations

import subprocess
import sys

import pytest

import pyquic
from pyquic.tools.cli import main


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"pyquic {pyquic.__version__}"


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("demo", "server", "client", "perf", "interop"):
        assert command in out


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert "usage: pyquic" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["demo", "server", "client", "perf", "interop"])
def test_unbuilt_command_fails_clearly(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command]) == 2
    err = capsys.readouterr().err
    assert f"'pyquic {command}' is not available yet" in err


def test_python_dash_m() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pyquic", "--version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"pyquic {pyquic.__version__}"
