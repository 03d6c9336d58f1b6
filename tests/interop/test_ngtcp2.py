"""pyquic against ngtcp2's example peers (Debian's ngtcp2-client and ngtcp2-server, GnuTLS).

``gtlsserver`` and ``gtlsclient`` speak HTTP/3 only, which pyquic does not (yet): these tests
complete the QUIC and TLS handshake with ALPN ``h3`` in both directions and close the connection
with H3_NO_ERROR (0x100) in an application CONNECTION_CLOSE, and check that neither side ever
sent a transport CONNECTION_CLOSE.  The evidence is ngtcp2's own log (one line per frame sent and
received) and the pyquic driver's status lines.

Quirks of ngtcp2 0.12's examples: ``gtlsclient`` exits with status 0 whatever happened (even on a
handshake timeout), so its log is what is checked; it does not verify the server's certificate;
``gtlsserver`` cannot bind port 0, so it gets a port that was free a moment ago.

Variants: the defaults; a HelloRetryRequest (the ngtcp2 side allows only groups pyquic sends no
key share for first, so a second ClientHello follows); ChaCha20-Poly1305 as the only suite; and,
towards the pyquic server, a key update by gtlsclient before its request.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest
from interop_peers import (
    Process,
    Processes,
    assert_no_problems,
    driver,
    free_udp_port,
    start_hq_server,
    status_lines,
    udp_port_bound,
)

from pyquic.testing.certificates import PemFiles

GTLSSERVER = shutil.which("gtlsserver") or "/usr/sbin/gtlsserver"
GTLSCLIENT = shutil.which("gtlsclient") or "/usr/bin/gtlsclient"
INSTALL_HINT = "run scripts/install-test-peers.sh (as root) to install ngtcp2-client/-server"
H3_NO_ERROR = "0x100"
PEER_TIMEOUT_S = 30.0
READY_S = 10.0
SERVER_LIFETIME_S = 120.0
CHACHA20_ONLY = "--ciphers=NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+CHACHA20-POLY1305"

# ngtcp2's log lines (ngtcp2_log.c): "frm tx|rx <pkn> <type> <FRAME>(<hex type>) fields..."
HANDSHAKE_COMPLETED = re.compile(r"^QUIC handshake has completed$", re.MULTILINE)
APPLICATION_CLOSE = r"CONNECTION_CLOSE\(0x1d\) error_code=\S*\((0x[0-9a-f]+)\)"
TRANSPORT_CLOSE = re.compile(r"CONNECTION_CLOSE\(0x1c\).*$", re.MULTILINE)
CRYPTO_RESUMED = r"frm {direction} \d+ Initial CRYPTO\(0x06\) offset=[1-9]"

# variant -> (ngtcp2 options, pyquic driver options, suite ngtcp2 reports)
VARIANTS = {
    "default": ((), (), "AES-128-GCM"),
    "hello-retry": (("--groups=-GROUP-ALL:+GROUP-SECP521R1:+GROUP-SECP256R1",), (), "AES-128-GCM"),
    "chacha20": ((CHACHA20_ONLY,), ("--cipher", "chacha20"), "CHACHA20-POLY1305"),
}
# gtlsclient also updates the keys (RFC 9001 §6) before it sends its request, which then arrives
# under the new keys: pyquic must follow, and answer in the new key phase
CLIENT_VARIANTS = VARIANTS | {
    "key-update": (
        ("--key-update=50ms", "--delay-stream=300ms"),
        ("--close-delay", "0.5"),  # an ACK in the new key phase confirms the update first
        "AES-128-GCM",
    ),
}


@pytest.fixture(scope="module", autouse=True)
def ngtcp2_installed() -> None:
    for program in (GTLSSERVER, GTLSCLIENT):
        assert Path(program).is_file(), f"{program} is missing: {INSTALL_HINT}"


def check_ngtcp2_log(peer: Process, *, variant: str) -> None:
    """ngtcp2 completed the handshake with h3, received an H3_NO_ERROR close, and no close with
    another code or a transport close went either way."""
    log = peer.output
    assert HANDSHAKE_COMPLETED.search(log), f"no completed handshake\n{peer.describe()}"
    assert "Negotiated ALPN is h3" in log, peer.describe()
    suite = CLIENT_VARIANTS[variant][2]
    assert f"Negotiated cipher suite is {suite}" in log, peer.describe()
    transport_close = TRANSPORT_CLOSE.search(log)
    assert transport_close is None, f"{transport_close.group(0)}\n{peer.describe()}"
    received = re.findall(rf"frm rx \d+ 1RTT {APPLICATION_CLOSE}", log)
    assert received, f"no application close received\n{peer.describe()}"
    codes = set(re.findall(APPLICATION_CLOSE, log))
    assert codes == {H3_NO_ERROR}, f"application closes: {codes}\n{peer.describe()}"
    # after a HelloRetryRequest both Initial CRYPTO streams go on: the second ClientHello, and
    # the ServerHello after the HelloRetryRequest; without one, each starts and ends at offset 0
    retried = all(re.search(CRYPTO_RESUMED.format(direction=d), log) for d in ("tx", "rx"))
    assert retried == (variant == "hello-retry"), f"HelloRetryRequest: {retried}\n{peer.describe()}"
    if variant == "key-update":
        assert "cry key update confirmed" in log, f"no key update\n{peer.describe()}"
        for direction in ("tx", "rx"):
            assert re.search(rf"pkt {direction} .*type=1RTT k=1$", log, re.MULTILINE), direction


def fields(line: dict[str, str], expected: dict[str, str]) -> dict[str, str | None]:
    return {key: line.get(key) for key in expected}


def start_gtlsserver(
    processes: Processes, pem: PemFiles, root: Path, options: tuple[str, ...]
) -> tuple[Process, int]:
    """gtlsserver on a free port of 127.0.0.1; (process, port).  Retries if the port was taken."""
    for attempt in range(3):
        port = free_udp_port()
        server = processes.start(
            f"gtlsserver-{attempt}",
            [
                "timeout",  # gtlsserver never exits by itself: bound its life if we are killed
                str(int(SERVER_LIFETIME_S)),
                GTLSSERVER,
                "--no-quic-dump",
                "--no-http-dump",
                f"--htdocs={root}",
                "--timeout=15s",
                *options,
                "127.0.0.1",
                str(port),
                str(pem.server_key),
                str(pem.server_certificate),
            ],
        )
        if wait_bound(server, port):
            return server, port
        server.kill()
    raise AssertionError(f"gtlsserver never listened\n{processes.describe()}")


def wait_bound(server: Process, port: int) -> bool:
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline and server.running():
        if udp_port_bound(port):
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_pyquic_client_to_gtlsserver(
    processes: Processes, pem: PemFiles, tmp_path: Path, variant: str
) -> None:
    ngtcp2_options, pyquic_options, _ = VARIANTS[variant]
    server, port = start_gtlsserver(processes, pem, tmp_path, ngtcp2_options)
    client = processes.start(
        "pyquic-client",
        driver(
            "pyquic_client",
            "127.0.0.1",
            port,
            "--ca",
            pem.ca_certificate,
            "--alpn",
            "h3",
            "--mode",
            "handshake",
            "--linger",
            "0.5",
            "--close-code",
            H3_NO_ERROR,
            *pyquic_options,
        ),
    )
    assert client.wait(PEER_TIMEOUT_S) == 0, processes.describe()
    (handshake,) = status_lines(client.stdout, "handshake")
    assert handshake["alpn"] == "h3"
    (closed,) = status_lines(client.stdout, "closed")
    # closed by us, with our application code, and nothing ended the connection before
    expected = {"code": H3_NO_ERROR, "application": "True", "by_peer": "False", "early": "False"}
    assert fields(closed, expected) == expected, processes.describe()
    server.wait_for(rf"frm rx \d+ 1RTT {APPLICATION_CLOSE}", READY_S)
    check_ngtcp2_log(server, variant=variant)
    assert server.running(), server.describe()
    assert_no_problems(client)


@pytest.mark.parametrize("variant", list(CLIENT_VARIANTS))
def test_gtlsclient_to_pyquic_server(processes: Processes, pem: PemFiles, variant: str) -> None:
    ngtcp2_options, pyquic_options, _ = CLIENT_VARIANTS[variant]
    server, port = start_hq_server(
        processes,
        "pyquic",
        pem,
        "--alpn",
        "h3",
        "--mode",
        "discard",
        "--close-code",
        H3_NO_ERROR,
        *pyquic_options,
    )
    client = processes.start(
        "gtlsclient",
        [
            GTLSCLIENT,
            "--no-quic-dump",
            "--no-http-dump",
            "--exit-on-first-stream-close",
            "--handshake-timeout=10s",
            "--timeout=15s",
            *ngtcp2_options,
            "127.0.0.1",
            str(port),
            f"https://localhost:{port}/",
        ],
    )
    client.wait(PEER_TIMEOUT_S)  # its exit status is always 0: the log says what happened
    check_ngtcp2_log(client, variant=variant)
    assert "QUIC handshake has been confirmed" in client.output, client.describe()
    (handshake,) = status_lines(server.stdout, "handshake")
    assert handshake["alpn"] == "h3"
    # the request stream arrived (HEADERS and FIN) before the server closed
    assert any(line["id"] == "0" for line in status_lines(server.stdout, "stream"))
    server.wait_for(r"^closed ", READY_S)
    (closed,) = status_lines(server.stdout, "closed")
    expected = {"code": H3_NO_ERROR, "application": "True", "by_peer": "False"}
    assert fields(closed, expected) == expected, server.describe()
    assert server.stop() == 0, server.describe()
    assert_no_problems(server)
