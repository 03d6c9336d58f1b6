"""The pyquic command line: --version, --help, argument checking (exit status 2), and a clear
refusal for the sub-commands that are not built yet."""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
from pathlib import Path

import pytest

import pyquic
import pyquic.h3
from pyquic.tools import cli, client, http09
from pyquic.tools.cli import main, parse_listen


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
    assert "not available yet" not in out


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert "usage: pyquic" in capsys.readouterr().out


def test_interop_unknown_testcase_is_unsupported(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["interop", "--role", "client", "--testcase", "no-such-case"]) == 127
    assert "not supported" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("server", ["--listen", "--cert", "--key", "--www", "--alpn", "--keylog", "--qlog-dir"]),
        ("client", ["--output", "--ca-file", "--insecure", "--alpn", "--keylog", "--qlog-dir"]),
        ("demo", ["--size"]),
    ],
)
def test_built_command_help(
    command: str, options: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "not available" not in out
    for option in options:
        assert option in out


def test_python_dash_m() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pyquic", "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"pyquic {pyquic.__version__}"


def test_alpn_default_matches_the_protocol() -> None:
    assert cli.ALPN == http09.ALPN
    assert cli.H3_ALPN == pyquic.h3.ALPN


# --- --listen ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:4433", ("127.0.0.1", 4433)),
        ("[::]:4433", ("::", 4433)),
        ("[::1]:0", ("::1", 0)),
        ("[fe80::1%eth0]:443", ("fe80::1%eth0", 443)),
        ("localhost:65535", ("localhost", 65535)),
        ("0.0.0.0:1", ("0.0.0.0", 1)),
    ],
)
def test_parse_listen(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("127.0.0.1", "HOST:PORT"),
        (":4433", "HOST:PORT"),
        ("::1:4433", "brackets"),
        ("[]:4433", "brackets"),
        ("[127.0.0.1]:4433", "brackets"),
        ("host:port", "0 to 65535"),
        ("host:65536", "0 to 65535"),
        ("host:-1", "0 to 65535"),
        ("host:", "0 to 65535"),
    ],
)
def test_parse_listen_rejects(text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        parse_listen(text)


def test_default_listen_is_all_addresses_port_4433() -> None:
    args = cli.build_parser().parse_args(
        ["server", "--cert", __file__, "--key", __file__, "--www", str(Path(__file__).parent)]
    )
    assert args.listen == ("::", 4433)


# --- bad input exits with status 2 and one clear line --------------------------------------------


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "cert.pem").write_text("not a certificate")
    (tmp_path / "key.pem").write_text("not a key")
    (tmp_path / "www").mkdir()
    return tmp_path


def _usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    return capsys.readouterr().err


def test_server_bad_listen(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["server", "--listen", "nowhere", "--cert", str(files / "cert.pem")]
    argv += ["--key", str(files / "key.pem"), "--www", str(files / "www")]
    err = _usage_error(argv, capsys)
    assert "argument --listen: expected HOST:PORT" in err


@pytest.mark.parametrize(
    ("option", "message"),
    [("--cert", "no such file"), ("--key", "no such file"), ("--www", "no such directory")],
)
def test_server_missing_files(
    files: Path, option: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    given = {"--cert": "cert.pem", "--key": "key.pem", "--www": "www"}
    given[option] = "missing"
    argv = ["server"] + [part for key, name in given.items() for part in (key, str(files / name))]
    err = _usage_error(argv, capsys)
    assert f"argument {option}: {message}" in err


def test_server_missing_required_option(capsys: pytest.CaptureFixture[str]) -> None:
    err = _usage_error(["server", "--www", "."], capsys)
    assert "required" in err and "--cert" in err


def test_server_unloadable_certificate(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["server", "--cert", str(files / "cert.pem"), "--key", str(files / "key.pem")]
    assert main([*argv, "--www", str(files / "www")]) == 2
    err = capsys.readouterr().err
    assert "cannot load the certificate or key" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("urls", "message"),
    [
        (["https://a:1/x", "https://b:1/y"], "share one host:port"),
        (["https://a:1/x", "https://a:2/y"], "share one host:port"),
        (["http://a:1/x"], "expected https://HOST:PORT/PATH"),
        (["https://a:99999/x"], "not a valid URL"),
        (["https:///x"], "expected https://HOST:PORT/PATH"),
        (["https://a:1/d1/f", "https://a:1/d2/f"], "would both be saved as 'f'"),
    ],
)
def test_client_bad_urls(
    urls: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _usage_error(["client", *urls, "--output", str(tmp_path)], capsys)
    assert message in err


def test_client_missing_ca_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["client", "https://a:1/x", "--output", str(tmp_path), "--ca-file", "missing.pem"]
    assert "argument --ca-file: no such file" in _usage_error(argv, capsys)


def test_client_ca_file_and_insecure_exclude_each_other(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["client", "https://a:1/x", "--output", str(tmp_path), "--insecure"]
    err = _usage_error([*argv, "--ca-file", __file__], capsys)
    assert "not allowed with argument" in err


def test_client_unreadable_ca_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("garbage")
    argv = ["client", "https://a:1/x", "--output", str(tmp_path), "--ca-file", str(bad)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("pyquic client: error:") and "Traceback" not in err


def test_demo_size_checked(capsys: pytest.CaptureFixture[str]) -> None:
    assert "--size is 1 to 4096 MiB" in _usage_error(["demo", "--size", "0"], capsys)


# --- the client's URLs and what it prints ---------------------------------------------------------


def test_parse_urls() -> None:
    target = client.parse_urls(
        [
            "https://example.com:4433/a/b.txt",
            "https://example.com:4433/",
            "https://example.com:4433/q?x=1",
        ]
    )
    assert (target.host, target.port) == ("example.com", 4433)
    assert target.requests == (("/a/b.txt", "b.txt"), ("/", "index.html"), ("/q?x=1", "q"))


def test_parse_urls_defaults_and_ipv6() -> None:
    assert client.parse_urls(["https://example.com"]) == client.Target(
        "example.com", 443, (("/", "index.html"),)
    )
    target = client.parse_urls(["https://[::1]:4433/%20x"])
    assert (target.host, target.port, target.requests) == ("::1", 4433, (("/%20x", " x"),))


def test_summary_round_trips() -> None:
    summary = client.Summary(files=3, bytes=52_428_800, seconds=2.5)
    text = client.format_summary(summary)
    assert text == "3 files, 52,428,800 bytes in 2.50 s (20.97 MB/s)"
    assert client.parse_summary(f"noise\n{text}\n") == summary
    assert (
        client.format_summary(client.Summary(1, 5, 0.0)) == "1 file, 5 bytes in 0.00 s (0.00 MB/s)"
    )
    assert client.parse_summary("nothing here") is None


def test_progress_line() -> None:
    screen = io.StringIO()
    progress = client._Progress(total_files=2, stream=screen)
    progress.add(3_000_000)
    progress.done = 1
    progress.draw()
    progress.clear()
    text = screen.getvalue()
    assert text.startswith("\r1/2 files, 3.0 MB, ") and " MB/s" in text
    assert text.endswith("\r") and "\n" not in text


def test_no_progress_line_without_a_terminal() -> None:
    progress = client._Progress(total_files=1, stream=None)
    progress.add(10)
    progress.draw()
    progress.clear()  # nothing to draw on, nothing raised
    assert progress.received == 10
