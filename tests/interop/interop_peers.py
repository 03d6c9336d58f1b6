"""Running interop peers as real processes: start, wait for a status line, stop, always kill.

Every process writes stdout and stderr to files in the test's temporary directory (no pipes, so
a chatty peer can never block on a full pipe), runs in its own session (so killing its process
group takes its children too) and is killed at teardown if it is still running.  Waiting is
always bounded; a failed wait raises ``AssertionError`` carrying the tails of every log, so a CI
failure explains itself.

The driver scripts in ``drivers/`` report with lines ``event key=value ...``:
:func:`status_lines` parses them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pyquic.testing.certificates import PemFiles

DRIVERS = Path(__file__).parent / "drivers"
KIB = 1024
MIB = 1024 * KIB
# The files every server serves, by name; "many/fNN" are the 100 small files.
SIZES = {"1KiB": KIB, "5MiB": 5 * MIB, "20MiB": 20 * MIB}
MANY = 100


@dataclass(frozen=True)
class Documents:
    """A directory of random files and their digests."""

    root: Path
    digests: dict[str, str]  # path under root -> SHA-256

    def check(self, path: str, output: Path) -> None:
        """``output/<basename of path>`` is byte for byte the file served as ``path``."""
        received = output / Path(path).name
        assert received.is_file(), f"{path} was not downloaded (no {received})"
        size, expected = (self.root / path).stat().st_size, self.digests[path]
        actual_size = received.stat().st_size
        assert actual_size == size, f"{path}: {actual_size} bytes downloaded, {size} served"
        assert _sha256(received) == expected, f"{path}: the content differs"

    @property
    def many(self) -> list[str]:
        return [f"many/f{index:02d}" for index in range(MANY)]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


LOG_TAIL_BYTES = 4000
STOP_GRACE_S = 5.0


def driver(name: str, *args: object) -> list[str]:
    """The command line running ``drivers/<name>.py`` with this interpreter."""
    return [sys.executable, str(DRIVERS / f"{name}.py"), *(str(arg) for arg in args)]


def status_lines(text: str, event: str) -> list[dict[str, str]]:
    """The ``event key=value ...`` lines of ``text``, as dictionaries."""
    out = []
    for line in text.splitlines():
        words = line.split()
        if words and words[0] == event:
            out.append(dict(word.split("=", 1) for word in words[1:] if "=" in word))
    return out


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that was free a moment ago (for peers that cannot bind port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def udp_port_bound(port: int) -> bool:
    """Whether some socket is bound to UDP ``port`` (IPv4 or IPv6), from /proc/net."""
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            next(lines)  # the column titles
            for line in lines:
                local = line.split()[1]
                if int(local.rsplit(":", 1)[1], 16) == port:
                    return True
    return False


@dataclass
class Process:
    """One running peer and its logs."""

    name: str
    argv: list[str]
    popen: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    @property
    def output(self) -> str:
        """stdout and stderr together (some peers log to one, some to the other)."""
        return self.stdout + self.stderr

    def running(self) -> bool:
        return self.popen.poll() is None

    def describe(self) -> str:
        def tail(path: Path) -> str:
            data = path.read_bytes()
            prefix = b"[...]\n" if len(data) > LOG_TAIL_BYTES else b""
            return (prefix + data[-LOG_TAIL_BYTES:]).decode(errors="replace")

        return (
            f"--- {self.name} (pid {self.popen.pid}, exit {self.popen.poll()}): "
            f"{' '.join(self.argv)}\n"
            f"--- stdout:\n{tail(self.stdout_path)}\n--- stderr:\n{tail(self.stderr_path)}"
        )

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        """The first match of ``pattern`` (multiline) in stdout or stderr, within ``timeout``."""
        regex = re.compile(pattern, re.MULTILINE)
        deadline = time.monotonic() + timeout
        while True:
            exited = not self.running()
            match = regex.search(self.output)  # read after the exit check: nothing is missed
            if match is not None:
                return match
            if exited:
                raise AssertionError(f"{self.name} exited before {pattern!r}\n{self.describe()}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.name}: no {pattern!r} within {timeout} s\n{self.describe()}"
                )
            time.sleep(0.02)

    def wait(self, timeout: float) -> int:
        """The exit status; kills the process and fails if it runs longer than ``timeout``."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"{self.name} still running after {timeout} s\n{self.describe()}"
            ) from None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_GRACE_S) -> int:
        """Ask the process to exit with ``sig``; kill it if it has not after ``timeout``."""
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(sig)
        return self.wait(timeout)

    def kill(self) -> None:
        """SIGKILL the process's group (it leads its own session); reap it."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(STOP_GRACE_S)


class Processes:
    """The processes one test started; :meth:`close` (the fixture's teardown) ends them all."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[Process] = []

    def start(self, name: str, argv: list[str], *, cwd: Path | None = None) -> Process:
        index = len(self.started)
        stdout_path = self.directory / f"{index:02d}-{name}.out"
        stderr_path = self.directory / f"{index:02d}-{name}.err"
        environment = dict(os.environ)
        environment.pop("SSLKEYLOGFILE", None)  # key logs only where a test asks for one
        environment["PYTHONUNBUFFERED"] = "1"
        with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                cwd=cwd,
                env=environment,
                start_new_session=True,
            )
        process = Process(name, argv, popen, stdout_path, stderr_path)
        self.started.append(process)
        return process

    def describe(self) -> str:
        return "\n".join(process.describe() for process in self.started)

    def close(self) -> None:
        for process in self.started:
            if process.running():
                with contextlib.suppress(ProcessLookupError):
                    process.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for process in self.started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(max(0.0, deadline - time.monotonic()))
            process.kill()


# --- the hq-interop drivers ----------------------------------------------------------------------

SERVER_READY_S = 30.0  # interpreter start and imports, on a loaded CI machine
CLIENT_TIMEOUT_S = 90.0  # a client process; the driver gives up by itself after 60 s
PROBLEMS = re.compile(r"Traceback|Task exception was never retrieved|Exception in callback")


def start_hq_server(
    processes: Processes, implementation: str, pem: PemFiles, *args: object
) -> tuple[Process, int]:
    """Start ``drivers/<implementation>_server.py`` on a port of its choosing; (process, port)."""
    server = processes.start(
        f"{implementation}-server",
        driver(
            f"{implementation}_server",
            "--cert",
            pem.server_certificate,
            "--key",
            pem.server_key,
            *args,
        ),
    )
    match = server.wait_for(r"^listening .*port=(\d+)", SERVER_READY_S)
    return server, int(match.group(1))


def run_hq_client(
    processes: Processes,
    implementation: str,
    port: int,
    pem: PemFiles,
    *args: object,
    timeout: float = CLIENT_TIMEOUT_S,
) -> Process:
    """Run ``drivers/<implementation>_client.py`` against 127.0.0.1:port to its end."""
    client = processes.start(
        f"{implementation}-client",
        driver(f"{implementation}_client", "127.0.0.1", port, "--ca", pem.ca_certificate, *args),
    )
    client.wait(timeout)
    return client


def assert_no_problems(process: Process) -> None:
    """No traceback or unhandled asyncio error in the process's output."""
    found = PROBLEMS.search(process.output)
    assert found is None, f"{process.name} reported {found.group(0)!r}\n{process.describe()}"
