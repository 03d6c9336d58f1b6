"""``pyquic demo``: a QUIC server and client, each in its own process, on loopback.

The demo makes a throw-away CA and server certificate for 127.0.0.1 and a random file in a
temporary directory, starts ``python -m pyquic server --listen 127.0.0.1:0`` (reading the port
from its readiness line), downloads the file with ``python -m pyquic client``, checks the copy's
SHA-256 against the original, and prints the size, the time and the rate the client measured.
Every step has a timeout; the server is always stopped (SIGTERM, then SIGKILL) and the temporary
directory removed.  Exit status 0 on success, 1 with a message otherwise.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

from pyquic.platform.event_loop import run as run_event_loop
from pyquic.testing.certificates import make_test_credentials
from pyquic.tools import client, server

__all__ = ["run"]

HOST = "127.0.0.1"
FILE_NAME = "demo.bin"
SERVER_START_TIMEOUT_S = 30.0
SERVER_STOP_TIMEOUT_S = 5.0
CLIENT_TIMEOUT_S = 300.0
_WRITE_CHUNK = 1 << 20


class DemoError(Exception):
    """A step of the demo failed; the message says which and why."""


def _say(message: str) -> None:
    print(f"pyquic demo: {message}", flush=True)


def run(size: int) -> int:
    """Run the demo with a random file of ``size`` bytes; the exit status."""
    try:
        with tempfile.TemporaryDirectory(prefix="pyquic-demo-") as scratch:
            run_event_loop(_demo(Path(scratch), size))
    except DemoError as exc:
        print(f"pyquic demo: FAILED: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


def _write_random_file(path: Path, size: int) -> str:
    """Write ``size`` random bytes to ``path``; their SHA-256 in hex."""
    digest = hashlib.sha256()
    with path.open("wb") as out:
        left = size
        while left:
            chunk = os.urandom(min(left, _WRITE_CHUNK))
            out.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(_WRITE_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


async def _demo(scratch: Path, size: int) -> None:
    pem = make_test_credentials([HOST]).write_pem(scratch / "pki")
    www, downloads = scratch / "www", scratch / "downloads"
    www.mkdir()
    expected = _write_random_file(www / FILE_NAME, size)
    _say(f"made a certificate for {HOST} and a random {size:,}-byte file in {scratch}")
    server_log = scratch / "server.log"
    command = [sys.executable, "-m", "pyquic"]
    with server_log.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *command,
            "server",
            "--listen",
            f"{HOST}:0",
            "--cert",
            str(pem.server_certificate),
            "--key",
            str(pem.server_key),
            "--www",
            str(www),
            stdout=asyncio.subprocess.PIPE,
            stderr=log,
        )
    try:
        port = await _wait_listening(process, server_log)
        _say(f"server process {process.pid} listening on {HOST}:{port}")
        url = f"https://{HOST}:{port}/{FILE_NAME}"
        output = await _run_client(
            [
                *command,
                "client",
                url,
                "--output",
                str(downloads),
                "--ca-file",
                str(pem.ca_certificate),
            ]
        )
    finally:
        await _stop(process)
    copy = downloads / FILE_NAME
    if not copy.is_file() or _sha256(copy) != expected:
        raise DemoError(f"the downloaded file differs from the original (SHA-256 {expected})")
    summary = client.parse_summary(output)
    if summary is None:
        raise DemoError(f"the client printed no summary: {output.strip()!r}")
    _say(
        f"OK: {summary.bytes:,} bytes ({summary.bytes / (1 << 20):.1f} MiB) in "
        f"{summary.seconds:.2f} s, {summary.rate_mb_s:.2f} MB/s; SHA-256 verified "
        f"({expected[:16]}...)"
    )


async def _wait_listening(process: asyncio.subprocess.Process, log: Path) -> int:
    """The port from the server's readiness line."""
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), SERVER_START_TIMEOUT_S)
    except TimeoutError:
        raise DemoError(f"the server did not start within {SERVER_START_TIMEOUT_S:.0f} s") from None
    text = line.decode(errors="replace")
    marker = f"{server.LISTENING} {HOST}:"
    if marker not in text:
        errors = log.read_text(errors="replace").strip()
        raise DemoError(f"the server did not start: {errors or text.strip() or 'no output'}")
    return int(text.split(marker, 1)[1].split()[0])


async def _run_client(command: list[str]) -> str:
    """Run the client to completion; its standard output."""
    _say("client process downloading...")
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), CLIENT_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise DemoError(f"the client did not finish within {CLIENT_TIMEOUT_S:.0f} s") from None
    if process.returncode != 0:
        message = err.decode(errors="replace").strip() or f"exit status {process.returncode}"
        raise DemoError(f"the client failed: {message}")
    _say(f"client process finished in {time.monotonic() - started:.2f} s (startup included)")
    return out.decode(errors="replace")


async def _stop(process: asyncio.subprocess.Process) -> None:
    """SIGTERM, then SIGKILL if the server has not exited within the timeout."""
    if process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), SERVER_STOP_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
