"""pyquic's HTTP/3 against ngtcp2 0.12's gtlsserver and gtlsclient (h3 only), as processes.

Files of 1 KiB and 5 MiB go both ways byte-identical: pyquic's h3 client downloads from
gtlsserver's ``--htdocs``, and gtlsclient (``--download``) from ``pyquic server``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from pathlib import Path

import pytest
from interop_peers import Processes, free_udp_port, udp_port_bound

from pyquic.aio import QuicConfiguration
from pyquic.h3 import connect
from pyquic.testing.certificates import PemFiles

GTLSSERVER = shutil.which("gtlsserver") or "/usr/sbin/gtlsserver"
GTLSCLIENT = shutil.which("gtlsclient") or "/usr/bin/gtlsclient"
PEER_TIMEOUT_S = 60.0
READY_S = 10.0
SIZES = {"1k.bin": 1024, "5m.bin": 5 << 20}


@pytest.fixture(scope="module", autouse=True)
def ngtcp2_installed() -> None:
    if not (os.access(GTLSSERVER, os.X_OK) and os.access(GTLSCLIENT, os.X_OK)):
        pytest.fail("gtlsserver/gtlsclient missing: run scripts/install-test-peers.sh")


@pytest.fixture
def www(tmp_path: Path) -> Path:
    root = tmp_path / "www"
    root.mkdir()
    for name, size in SIZES.items():
        (root / name).write_bytes(os.urandom(size))
    return root


def _wait_bound(port: int) -> bool:
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        if udp_port_bound(port):
            return True
        time.sleep(0.02)
    return False


def test_pyquic_client_downloads_from_gtlsserver(
    h3_processes: Processes, h3_pem: PemFiles, www: Path
) -> None:
    port = free_udp_port()
    h3_processes.start(
        "gtlsserver",
        [
            "timeout",
            "120",
            GTLSSERVER,
            "--quiet",
            f"--htdocs={www}",
            "--timeout=15s",
            "127.0.0.1",
            str(port),
            str(h3_pem.server_key),
            str(h3_pem.server_certificate),
        ],
    )
    assert _wait_bound(port), h3_processes.describe()
    configuration = QuicConfiguration(
        alpn_protocols=["h3"], ca_file=str(h3_pem.ca_certificate), server_name="localhost"
    )

    async def main() -> None:
        async with connect("127.0.0.1", port, configuration=configuration) as client:
            for name in SIZES:
                response = await client.request("GET", f"/{name}")
                assert response.status == 200
                assert await response.read() == (www / name).read_bytes(), name

    asyncio.run(asyncio.wait_for(main(), PEER_TIMEOUT_S))


@pytest.mark.parametrize("name", list(SIZES))
def test_gtlsclient_downloads_from_pyquic_server(
    h3_processes: Processes, h3_pem: PemFiles, www: Path, tmp_path: Path, name: str
) -> None:
    server = h3_processes.start(
        "pyquic-server",
        [
            sys.executable,
            "-m",
            "pyquic",
            "server",
            "--listen",
            "127.0.0.1:0",
            "--cert",
            str(h3_pem.server_certificate),
            "--key",
            str(h3_pem.server_key),
            "--www",
            str(www),
        ],
    )
    port = int(server.wait_for(r"listening on 127\.0\.0\.1:(\d+)", 30)[1])
    download = tmp_path / "download"
    download.mkdir()
    client = h3_processes.start(
        "gtlsclient",
        [
            GTLSCLIENT,
            "--quiet",
            "--exit-on-all-streams-close",
            "--timeout=15s",
            f"--download={download}",
            "127.0.0.1",
            str(port),
            f"https://localhost:{port}/{name}",
        ],
    )
    client.wait(PEER_TIMEOUT_S)  # gtlsclient exits with 0 whatever happened: check the file
    received = download / name
    assert received.is_file(), h3_processes.describe()
    assert received.read_bytes() == (www / name).read_bytes()
    assert server.stop() == 0, server.describe()
