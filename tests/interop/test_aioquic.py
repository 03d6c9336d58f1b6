"""pyquic against aioquic, each in its own process over loopback, on hq-interop (HTTP/0.9).

Both directions: the pyquic client (``drivers/pyquic_client.py``, on ``pyquic.aio``) downloading
from the aioquic server, and the aioquic client downloading from the pyquic server.  A download is
``GET /path\\r\\n`` + FIN on a new bidirectional stream, answered by the file and FIN; every file
is compared with what was served, byte for byte.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from interop_peers import (
    SIZES,
    Documents,
    Process,
    Processes,
    assert_no_problems,
    run_hq_client,
    start_hq_server,
    status_lines,
)

from pyquic.testing.certificates import PemFiles

CHACHA20 = "TLS_CHACHA20_POLY1305_SHA256"
CLOSE_SEEN_S = 15.0  # the server reports the close after its draining period

# (client, server) implementations
DIRECTIONS = {
    "pyquic-client-to-aioquic-server": ("pyquic", "aioquic"),
    "aioquic-client-to-pyquic-server": ("aioquic", "pyquic"),
}


@pytest.fixture(params=list(DIRECTIONS))
def direction(request: pytest.FixtureRequest) -> tuple[str, str]:
    return DIRECTIONS[request.param]


def transfer(
    processes: Processes,
    pem: PemFiles,
    documents: Documents,
    output: Path,
    direction: tuple[str, str],
    paths: list[str],
    *options: str,
) -> tuple[Process, Process]:
    """One client connection downloading ``paths``; checks every file; (server, client)."""
    client_name, server_name = direction
    server, port = start_hq_server(processes, server_name, pem, "--root", documents.root, *options)
    client = run_hq_client(processes, client_name, port, pem, "--output", output, *options, *paths)
    assert client.popen.returncode == 0, f"the client failed\n{processes.describe()}"
    (done,) = status_lines(client.stdout, "done")
    assert done["files"] == str(len(paths)), processes.describe()
    for path in paths:
        documents.check(path, output)
    return server, client


def finish(server: Process, client: Process) -> None:
    """The server ends cleanly on SIGTERM and neither side logged an error."""
    assert server.running(), f"the server died\n{server.describe()}"
    assert server.stop() == 0, server.describe()
    assert_no_problems(server)
    assert_no_problems(client)


def handshakes(process: Process) -> list[dict[str, str]]:
    return status_lines(process.stdout, "handshake")


def test_handshake_and_clean_close(
    processes: Processes,
    pem: PemFiles,
    documents: Documents,
    tmp_path: Path,
    direction: tuple[str, str],
) -> None:
    server, client = transfer(processes, pem, documents, tmp_path / "out", direction, [])
    (client_handshake,) = handshakes(client)
    assert client_handshake["alpn"] == "hq-interop"
    (server_handshake,) = handshakes(server)
    assert server_handshake["alpn"] == "hq-interop"
    assert server_handshake["suite"] == client_handshake["suite"]
    # the control for test_chacha20_only: without the restriction, an AES suite is chosen
    assert client_handshake["suite"] in ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384")
    # the client closed with NO_ERROR (application code 0) and the server saw exactly that
    server.wait_for(r"^closed .*code=0x0\b", CLOSE_SEEN_S)
    (closed,) = status_lines(server.stdout, "closed")
    assert closed["code"] == "0x0", server.describe()
    if direction[1] == "pyquic":
        assert closed["by_peer"] == "True" and closed["application"] == "True", server.describe()
    finish(server, client)


@pytest.mark.parametrize("size", list(SIZES))
def test_file_transfer(
    processes: Processes,
    pem: PemFiles,
    documents: Documents,
    tmp_path: Path,
    direction: tuple[str, str],
    size: str,
) -> None:
    server, client = transfer(processes, pem, documents, tmp_path / "out", direction, [size])
    finish(server, client)


def test_hundred_small_files_on_one_connection(
    processes: Processes,
    pem: PemFiles,
    documents: Documents,
    tmp_path: Path,
    direction: tuple[str, str],
) -> None:
    server, client = transfer(
        processes, pem, documents, tmp_path / "out", direction, documents.many
    )
    assert len(handshakes(client)) == 1
    assert len(handshakes(server)) == 1, "the files came over more than one connection"
    finish(server, client)


def test_chacha20_only(
    processes: Processes,
    pem: PemFiles,
    documents: Documents,
    tmp_path: Path,
    direction: tuple[str, str],
) -> None:
    """Both sides offer TLS_CHACHA20_POLY1305_SHA256 alone (ChaCha20 header protection too)."""
    paths = ["1KiB", "5MiB"]
    options = ("--cipher", "chacha20")
    server, client = transfer(
        processes, pem, documents, tmp_path / "out", direction, paths, *options
    )
    assert [h["suite"] for h in handshakes(client)] == [CHACHA20], client.describe()
    assert [h["suite"] for h in handshakes(server)] == [CHACHA20], server.describe()
    finish(server, client)
