"""A local QUIC interop runner: endpoints against each other on loopback, no containers.

``make interop`` (or ``python -m pyquic.tools.interop_runner``) runs, for every test case of the
public runner (``/work/shared/design/interop-runner.md`` §1) and every server × client pair of
:class:`Peer` endpoints, the server and the client as separate processes on loopback, each with
the runner's environment (ROLE, TESTCASE, REQUESTS, SSLKEYLOGFILE, QLOGDIR, plus
WWW/DOWNLOADS/CERTS/PORT/HOST instead of the container mounts, §3).  A case is green when the
client exits 0 and ``downloads`` holds exactly the requested files, byte-identical; unsupported
when either endpoint exits 127 or the pair cannot speak the case's protocol; red otherwise, with
the reason.  The matrix is printed and written to ``interop-results/`` as ``matrix.md`` and
``results.json`` (logs per run under ``interop-results/<server>_<client>/<case>/``).

Peers: ``pyquic interop`` is built in; ``--peers FILE`` adds the endpoints a JSON registry
describes (the runner imports nothing of theirs: each is a command that keeps the contract), as
``{"peers": {"name": {"command": [...], "roles": ["server", "client"], "alpns": [...]}}}`` where
``{python}`` in a command is this interpreter and ``{here}`` the registry's directory.  Without
options only pyquic against pyquic runs; with peers, every pair with pyquic on one side
(``--all-pairs``: every pair).  A peer whose ``alpns`` lack ``hq-interop`` speaks HTTP/3 only:
the cases that are file transfers (:data:`TRANSFER_CASES`) run over h3 with it (both endpoints
get ``TESTCASE=http3``, the network stays the case's; the cell says ``h3``); its client runs the
other cases over h3 against servers, which offer h3 in every case; a client that speaks h3 only
in ``http3`` cannot run the other cases against its server: unsupported.

Certificates are made per run as the public runner makes them (§4): ECDSA P-256, a root in
``ca.pem``, and for amplificationlimit a chain of 9 with a leaf made bigger by extra names, so
that the server's first flight exceeds three times the client's first Initial.

Every case runs through :mod:`pyquic.tools.interop_relay` (a UDP relay process between client and
server) with the runner's default link, 10 Mbit/s, a 25-packet drop-tail queue and 15 ms each
way, plus the case's impairments (:data:`NETWORK`): loss, corruption, the blackhole window, the
long RTT, the amplificationlimit drop list and the rebinding NAT.  ``--no-relay`` runs over the
clean loopback.  The ``goodput`` measurement (one 10 MiB ``transfer``) is reported in kbps, from
the relay's delivery times of the first and last server 1-RTT packet (the public runner reads
its client-side pcap).

Limits: none of the runner's pcap checks yet (handshake counts, versions on the wire, key
phases): only the files are checked, in :func:`_verdict`, where the wire checks go; goodput is
one run, not the mean of 5.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import ipaddress
import json
import os
import secrets
import selectors
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pyquic.tools import interop_checks
from pyquic.tools.interop import EXIT_UNSUPPORTED

__all__ = [
    "FILES",
    "PYQUIC",
    "Peer",
    "Plan",
    "Result",
    "load_peers",
    "main",
    "pairs",
    "plan",
    "run_case",
    "write_matrix",
]

KIB = 1 << 10
MIB = 1 << 20
# The files each case requests (sizes of the public runner; multiconnect cases scaled down).
FILES: dict[str, list[int]] = {
    "handshake": [1 * KIB],
    "transfer": [2 * MIB, 3 * MIB, 5 * MIB],
    "longrtt": [1 * KIB],
    "chacha20": [3 * MIB],
    "multiplexing": [32] * 1999,
    "retry": [10 * KIB],
    "resumption": [5 * KIB, 10 * KIB],
    "zerortt": [32] * 40,
    "http3": [5 * KIB, 10 * KIB, 500 * KIB],
    "blackhole": [10 * MIB],
    "keyupdate": [3 * MIB],
    "ecn": [100 * KIB],
    "amplificationlimit": [5 * KIB],
    "handshakeloss": [1 * KIB] * 50,
    "transferloss": [2 * MIB],
    "handshakecorruption": [1 * KIB] * 50,
    "transfercorruption": [2 * MIB],
    "ipv6": [5 * KIB, 10 * KIB],
    "v2": [1 * KIB],
    "rebind-port": [10 * MIB],
    "rebind-addr": [10 * MIB],
    "connectionmigration": [2 * MIB],
}
FILES["goodput"] = [10 * MIB]
# The public runner's abbreviations (design doc §1, §2), for the server × client table.
ABBREVIATIONS = {
    "handshake": "H",
    "transfer": "DC",
    "longrtt": "LR",
    "chacha20": "C20",
    "multiplexing": "M",
    "retry": "S",
    "resumption": "R",
    "zerortt": "Z",
    "http3": "3",
    "blackhole": "B",
    "keyupdate": "U",
    "ecn": "E",
    "amplificationlimit": "A",
    "handshakeloss": "L1",
    "transferloss": "L2",
    "handshakecorruption": "C1",
    "transfercorruption": "C2",
    "ipv6": "6",
    "v2": "V2",
    "rebind-port": "BP",
    "rebind-addr": "BA",
    "connectionmigration": "CM",
    "goodput": "G",
}
# The endpoints' TESTCASE when it differs from the case name (the measurements; the rebinding
# cases, which are transfers to the endpoints: the relay rebinds).
ENDPOINT_TESTCASE = {"goodput": "transfer", "rebind-port": "transfer", "rebind-addr": "transfer"}
# The cases that are file transfers to both endpoints (their TESTCASE is handshake or transfer in
# the public runner): with an h3-only peer they run over h3, as ``http3``, on the case's network.
TRANSFER_CASES = frozenset(
    {
        "handshake",
        "transfer",
        "longrtt",
        "multiplexing",
        "blackhole",
        "amplificationlimit",
        "transferloss",
        "transfercorruption",
        "ipv6",
        "rebind-port",
        "rebind-addr",
        "goodput",
    }
)
HQ_ALPN, H3_CASE = "hq-interop", "http3"
# Each case's impairments: interop_relay options on top of the default link (design doc §1).
NETWORK: dict[str, list[str]] = {
    "longrtt": ["--delay", "750"],
    "blackhole": ["--blackhole-on", "5", "--blackhole-off", "2"],
    "amplificationlimit": ["--drops-to-server", "2,3,4,5,6,7"],
    "handshakeloss": ["--drop-rate", "30"],
    "transferloss": ["--drop-rate", "2"],
    "handshakecorruption": ["--corrupt-rate", "30"],
    "transfercorruption": ["--corrupt-rate", "2"],
    "rebind-port": ["--rebind", "--first-rebind", "1", "--rebind-freq", "5"],
    "rebind-addr": ["--rebind-addr", "--first-rebind", "1", "--rebind-freq", "5"],
}
# The certificate chain's length per case (design doc §4: 9 for amplificationlimit, else 1).
CHAIN_LENGTHS = {"amplificationlimit": 9}
LEAF_NAMES = ("localhost", "server", "server4", "server6", "server46")
EXTRA_SANS = 20
SERVER_START_TIMEOUT_S = 10.0
CASE_TIMEOUT_S = 60.0
# The public runner's longer timeouts (multiconnect under 30 % impairment).
CASE_TIMEOUTS = {"handshakeloss": 300.0, "handshakecorruption": 300.0}
ROLES = ("server", "client")


# --- peers -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Peer:
    """An endpoint that keeps the runner's contract: a command, its roles, its ALPNs."""

    name: str
    command: tuple[str, ...]
    roles: frozenset[str] = frozenset(ROLES)
    alpns: tuple[str, ...] = (HQ_ALPN, "h3")

    @property
    def speaks_hq(self) -> bool:
        """Whether it speaks hq-interop (HTTP/0.9), the ALPN of every case but http3."""
        return HQ_ALPN in self.alpns


PYQUIC = Peer("pyquic", (sys.executable, "-m", "pyquic.tools.cli", "interop"))


def load_peers(path: Path) -> dict[str, Peer]:
    """The peers the JSON registry at ``path`` describes; ValueError names what is wrong."""
    try:
        registry = json.loads(path.read_text())
        entries = registry["peers"]
        if not isinstance(entries, dict):
            raise TypeError("peers is not an object")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a peer registry: {exc}") from exc
    here = str(path.resolve().parent)
    peers = {}
    for name, entry in entries.items():
        try:
            command = tuple(
                str(word).replace("{python}", sys.executable).replace("{here}", here)
                for word in entry["command"]
            )
            roles = frozenset(entry.get("roles", ROLES))
            alpns = tuple(entry.get("alpns", PYQUIC.alpns))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path}: peer {name!r}: {exc!r}") from exc
        if not command or not roles or not roles <= set(ROLES) or not alpns:
            raise ValueError(f"{path}: peer {name!r} needs a command, roles and alpns")
        peers[name] = Peer(name, command, roles, alpns)
    return peers


def pairs(peers: Sequence[Peer], all_pairs: bool = False) -> list[tuple[Peer, Peer]]:
    """The (server, client) pairs to run: with pyquic on one side unless ``all_pairs``."""
    chosen = [
        (server, client)
        for server in peers
        if "server" in server.roles
        for client in peers
        if "client" in client.roles
    ]
    if not all_pairs:
        chosen = [(s, c) for s, c in chosen if PYQUIC.name in (s.name, c.name)]
    return sorted(chosen, key=lambda pair: (pair[0].name != PYQUIC.name, pair[0].name))


@dataclass(frozen=True)
class Plan:
    """The TESTCASE each endpoint of a pair gets for a case, and what the cell should say."""

    server_testcase: str
    client_testcase: str
    note: str = ""
    client_alpn: str = ""  # the ALPN the client is told to use (pyquic's ALPN variable)


def plan(case: str, server: Peer, client: Peer) -> Plan | str:
    """What each endpoint runs for ``case``; a string says why the pair cannot run it."""
    testcase = ENDPOINT_TESTCASE.get(case, case)
    if (server.speaks_hq and client.speaks_hq) or case == H3_CASE:
        return Plan(testcase, testcase)
    if case in TRANSFER_CASES:
        return Plan(H3_CASE, H3_CASE, "h3")
    if not client.speaks_hq:
        return Plan(testcase, testcase, "h3")  # the server offers h3 in every case
    if client.name == PYQUIC.name:
        return Plan(testcase, testcase, "h3", client_alpn="h3")  # pyquic's client: any case
    return f"{server.name} serves h3 only; {client.name}'s client speaks h3 only in http3"


# --- one run -----------------------------------------------------------------------------------


@dataclass
class Result:
    """One run's outcome: ``green``, ``red`` (with the reason) or ``unsupported``."""

    case: str
    status: str
    reason: str = ""
    seconds: float = 0.0
    goodput_kbps: float | None = None
    server: str = PYQUIC.name
    client: str = PYQUIC.name
    note: str = ""


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[str, ec.EllipticCurvePrivateKey] | None,
    sans: Sequence[x509.GeneralName] = (),
) -> x509.Certificate:
    """A certificate for ``subject`` signed by ``issuer`` (None: self-signed, a CA); CAs have
    no SANs, the leaf has ``sans``."""
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, issuer_key = issuer or (subject, key)
    is_ca = not sans
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=10))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _make_certs(directory: Path, length: int = 1) -> None:
    """The public runner's certificates (design doc §4): ``ca.pem`` (the root), ``cert.pem``
    (the leaf, then ``length - 1`` intermediates towards the root) and ``priv.key``; every key
    ECDSA P-256, SHA-256 signatures, valid 10 days.  A chain longer than 1 also gets
    :data:`EXTRA_SANS` random 250-character names on the leaf, to make it bigger."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = "interop runner Root Certificate Authority"
    root = _certificate(root_name, root_key, None)
    issuer = (root_name, root_key)
    intermediates: list[x509.Certificate] = []
    for index in range(length - 1):
        key = ec.generate_private_key(ec.SECP256R1())
        name = f"interop runner intermediate {index + 1}"
        intermediates.insert(0, _certificate(name, key, issuer))
        issuer = (name, key)
    sans: list[x509.GeneralName] = [x509.DNSName(name) for name in LEAF_NAMES]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in ("127.0.0.1", "::1")]
    if length > 1:
        letters = "abcdefghijklmnopqrstuvwxyz"
        for _ in range(EXTRA_SANS):
            labels = ["".join(secrets.choice(letters) for _ in range(n)) for n in (62, 62, 62, 61)]
            sans.append(x509.DNSName(".".join(labels)))
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _certificate("interop runner leaf", leaf_key, issuer, sans)
    pem = serialization.Encoding.PEM
    (directory / "ca.pem").write_bytes(root.public_bytes(pem))
    chain = [leaf, *intermediates]
    (directory / "cert.pem").write_bytes(b"".join(c.public_bytes(pem) for c in chain))
    key_format = serialization.PrivateFormat.PKCS8
    no_encryption = serialization.NoEncryption()
    (directory / "priv.key").write_bytes(leaf_key.private_bytes(pem, key_format, no_encryption))


def _make_files(www: Path, sizes: Sequence[int], long_names: bool) -> list[str]:
    www.mkdir(parents=True, exist_ok=True)
    names = []
    for size in sizes:
        length = 250 if long_names else 10
        name = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(length))
        (www / name).write_bytes(os.urandom(size))
        names.append(name)
    return names


def _wait_listening(process: subprocess.Popen[str], timeout: float) -> int | None:
    """The port the server prints when ready, or None (exited or timed out)."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(max(0.0, deadline - time.monotonic())):
                break
            line = process.stdout.readline()
            if not line:
                return None
            if "listening on" in line:
                return int(line.strip().rpartition(":")[2])
    return None


def _stop(process: subprocess.Popen[str]) -> int:
    """Terminate (then kill) ``process``; its exit status."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    return process.returncode


def _check_downloads(www: Path, downloads: Path, names: Sequence[str]) -> str:
    """Empty when ``downloads`` holds exactly ``names``, byte-identical; else why not."""
    got = {path.name for path in downloads.iterdir()} if downloads.is_dir() else set()
    missing, extra = set(names) - got, got - set(names)
    if missing or extra:
        return f"{len(missing)} files missing, {len(extra)} unexpected"
    for name in names:
        if (www / name).read_bytes() != (downloads / name).read_bytes():
            return f"{name[:20]} differs"
    return ""


@dataclass
class _Run:
    """One run's fixed parameters while it runs."""

    case: str
    workdir: Path
    names: Sequence[str]
    host: str
    started: float
    timeout: float
    server: Peer = PYQUIC
    client: Peer = PYQUIC
    plan: Plan = field(default_factory=lambda: Plan("", ""))
    wire_checks: bool = False  # apply interop_checks to the relay's captures
    preferred_port: int | None = None  # connectionmigration: the server's second port
    relay_second_port: int | None = None  # ... and the relay's port leading to it

    def result(self, status: str, reason: str = "", goodput: float | None = None) -> Result:
        """The run's :class:`Result`, timed from its start."""
        seconds = round(time.monotonic() - self.started, 2)
        names = {"server": self.server.name, "client": self.client.name}
        return Result(self.case, status, reason, seconds, goodput, note=self.plan.note, **names)


def run_case(
    case: str,
    workdir: Path,
    timeout: float | None = None,
    relay: bool = True,
    *,
    server: Peer = PYQUIC,
    client: Peer = PYQUIC,
    file_scale: float = 1.0,
    wire_checks: bool = True,
) -> Result:
    """Run ``case`` with ``server`` and ``client`` under ``workdir``; never raises for a failure.

    ``timeout`` bounds the client (default: the case's, :data:`CASE_TIMEOUTS`); with ``relay``
    the datagrams go through :mod:`pyquic.tools.interop_relay` and the case's network, and the
    relay's captures of both legs must pass the runner's wire checks
    (:func:`pyquic.tools.interop_checks.check_case`, unless ``wire_checks`` is False);
    ``file_scale`` shrinks (or grows) the case's files, for quick runs.
    """
    started = time.monotonic()
    chosen = plan(case, server, client)
    if isinstance(chosen, str):
        return Result(case, "unsupported", chosen, 0.0, server=server.name, client=client.name)
    certs, www, downloads, logs = (workdir / d for d in ("certs", "www", "downloads", "logs"))
    for directory in (certs, downloads, logs):
        directory.mkdir(parents=True, exist_ok=True)
    _make_certs(certs, CHAIN_LENGTHS.get(case, 1))
    sizes = [max(1, round(size * file_scale)) for size in FILES.get(case, [1 * KIB])]
    names = _make_files(www, sizes, long_names=case == "zerortt")
    host = "::1" if case == "ipv6" else "127.0.0.1"
    timeout = timeout or CASE_TIMEOUTS.get(case, CASE_TIMEOUT_S)
    run = _Run(case, workdir, names, host, started, timeout, server, client, chosen)
    run.wire_checks = wire_checks and relay
    env = dict(os.environ, CERTS=str(certs), QLOGDIR=str(logs / "qlog"))
    server_env = dict(env, ROLE="server", TESTCASE=chosen.server_testcase, WWW=str(www))
    server_env.update(PORT="0", HOST=host, SSLKEYLOGFILE=str(logs / "server-keys.log"))
    if case == "connectionmigration":
        # the server's preferred address (RFC 9000 §9.6) is a second port of its host; through
        # the relay it is reached at a second relay port, which the server advertises
        run.preferred_port, run.relay_second_port = _free_port(host), _free_port(host)
        server_env["PREFERRED_PORT"] = str(run.preferred_port)
        if relay:
            server_env["PREFERRED_ADDRESS"] = _authority(host, run.relay_second_port)
    server_env["QLOGDIR"] = str(logs / "qlog-server")
    with (logs / "server.log").open("w") as server_log:
        process = subprocess.Popen(
            server.command,
            env=server_env,
            stdout=subprocess.PIPE,
            stderr=server_log,
            text=True,
        )
        try:
            return _run_client(run, process, env, relay)
        finally:
            _stop(process)


def _start_relay(run: _Run, server_port: int) -> tuple[subprocess.Popen[str], int | None]:
    """The relay process for ``run``'s case towards the server, and its port (None: failed)."""
    authority = _authority(run.host, server_port)
    command = [sys.executable, "-m", "pyquic.tools.interop_relay", "--server", authority]
    command += ["--host", run.host, *NETWORK.get(run.case, [])]
    if run.wire_checks:
        command += ["--pcap-dir", str(run.workdir / "pcap")]
    if run.preferred_port is not None and run.relay_second_port is not None:
        command += ["--second-port", str(run.relay_second_port)]
        command += ["--second-server", _authority(run.host, run.preferred_port)]
    with (run.workdir / "logs" / "relay.log").open("w") as relay_log:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=relay_log, text=True)
    return process, _wait_listening(process, SERVER_START_TIMEOUT_S)


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _free_port(host: str) -> int:
    """A UDP port free on ``host`` now (bound and released: the process that takes it next is
    the one told to, on a loopback nobody else races for)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _stop_relay(process: subprocess.Popen[str], workdir: Path) -> dict[str, Any]:
    """Stop the relay (SIGTERM, then kill); its statistics (empty when it printed none)."""
    process.terminate()
    try:
        output, _ = process.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate(timeout=5)
    (workdir / "logs" / "relay-stats.json").write_text(output or "")
    for line in reversed((output or "").splitlines()):
        with contextlib.suppress(ValueError):
            statistics = json.loads(line)
            if isinstance(statistics, dict):
                return statistics
    return {}


def _goodput_kbps(statistics: dict[str, Any], size: int) -> float | None:
    """8 × ``size`` bits over the first-to-last server 1-RTT delivery interval, in kbps."""
    to_client = statistics.get("to_client", {})
    first, last = to_client.get("first_short_s"), to_client.get("last_short_s")
    if first is None or last is None or last <= first:
        return None
    return round(8 * size / ((float(last) - float(first)) * 1000), 1)


def _run_client(
    run: _Run, server: subprocess.Popen[str], env: dict[str, str], relay: bool
) -> Result:
    port = _wait_listening(server, SERVER_START_TIMEOUT_S)
    if port is None:
        try:
            status: int | None = server.wait(timeout=2)  # it closed its output: exiting
        except subprocess.TimeoutExpired:
            status = None
        if status == EXIT_UNSUPPORTED:
            return run.result("unsupported", f"{run.server.name} server exited 127")
        return run.result("red", f"the server did not start (status {status})")
    relay_process = None
    if relay:
        relay_process, port = _start_relay(run, port)
        if port is None:
            _stop_relay(relay_process, run.workdir)
            return run.result("red", "the relay did not start")
    try:
        result = _download(run, env, port)
    finally:
        statistics = _stop_relay(relay_process, run.workdir) if relay_process else {}
    if result.status == "green" and run.case == "goodput":
        result.goodput_kbps = _goodput_kbps(statistics, sum(FILES["goodput"]))
    return _wire_verdict(run, result)  # the captures are complete once the relay stopped


def _download(run: _Run, env: dict[str, str], port: int) -> Result:
    """Run the client against ``port``; the verdict on what it did."""
    authority = f"[{run.host}]:{port}" if ":" in run.host else f"{run.host}:{port}"
    requests = " ".join(f"https://{authority}/{name}" for name in run.names)
    logs = run.workdir / "logs"
    downloads = str(run.workdir / "downloads")
    client_env = dict(env, ROLE="client", TESTCASE=run.plan.client_testcase, REQUESTS=requests)
    if run.plan.client_alpn:
        client_env["ALPN"] = run.plan.client_alpn
    client_env.update(DOWNLOADS=downloads, SSLKEYLOGFILE=str(logs / "client-keys.log"))
    client_env["QLOGDIR"] = str(logs / "qlog-client")
    with (logs / "client.log").open("w") as client_log:
        try:
            client_status = subprocess.run(
                run.client.command,
                env=client_env,
                stdout=client_log,
                stderr=client_log,
                timeout=run.timeout,
            ).returncode  # subprocess.run kills the client on timeout
        except subprocess.TimeoutExpired:
            return run.result("red", f"timeout after {run.timeout:.0f} s")
    if client_status == EXIT_UNSUPPORTED:
        return run.result("unsupported", f"{run.client.name} client exited 127")
    if client_status != 0:
        tail = (logs / "client.log").read_text(errors="replace").strip().splitlines()[-1:]
        return run.result("red", f"client exited {client_status}: {' '.join(tail)[:200]}")
    return _verdict(run)


def _verdict(run: _Run) -> Result:
    """Green when the downloads are exactly the files served and, through the relay, the
    captures pass the runner's wire checks for the case."""
    problem = _check_downloads(run.workdir / "www", run.workdir / "downloads", run.names)
    if problem:
        return run.result("red", problem)
    return run.result("green")


def _wire_verdict(run: _Run, result: Result) -> Result:
    """``result`` turned red when the relay's captures fail the case's wire checks."""
    if result.status != "green" or not run.wire_checks:
        return result
    logs = run.workdir / "logs"
    keylogs = [logs / "client-keys.log", logs / "server-keys.log"]
    multiconnect = run.case in ("handshakeloss", "handshakecorruption")
    failures = interop_checks.check_case(
        run.case,
        run.workdir / "pcap",
        [path for path in keylogs if path.exists()] or keylogs,
        handshakes=len(run.names) if multiconnect else None,
        relay_ports=[run.relay_second_port] if run.relay_second_port else [],
        server_ports=[run.preferred_port] if run.preferred_port else [],
    )
    if failures:
        result.status = "red"
        result.reason = "wire check: " + "; ".join(failures)[:400]
    return result


# --- the matrix --------------------------------------------------------------------------------

MARKS = {"green": "✅", "red": "❌", "unsupported": "➖"}


def _cell(result: Result) -> str:
    text = MARKS[result.status]
    if result.goodput_kbps is not None:
        text += f" {result.goodput_kbps:.0f} kbps"
    return f"{text} ({result.note})" if result.note and result.status != "unsupported" else text


def _by_case_table(results: Sequence[Result]) -> list[str]:
    """Rows: cases; columns: server / client pairs."""
    columns = list(dict.fromkeys((r.server, r.client) for r in results))
    cases = list(dict.fromkeys(r.case for r in results))
    cells = {(r.case, r.server, r.client): _cell(r) for r in results}
    header = " | ".join(f"{server} / {client}" for server, client in columns)
    lines = [f"| case | {header} |", "|---|" + "---|" * len(columns)]
    for case in cases:
        row = " | ".join(cells.get((case, s, c), "") for s, c in columns)
        lines.append(f"| {case} | {row} |")
    return lines


def _by_pair_table(results: Sequence[Result]) -> list[str]:
    """The public runner's layout: rows servers, columns clients, abbreviations per status."""
    servers = list(dict.fromkeys(r.server for r in results))
    clients = list(dict.fromkeys(r.client for r in results))
    lines = ["| server \\ client | " + " | ".join(clients) + " |", "|---|" + "---|" * len(clients)]
    for server in servers:
        cells = []
        for client in clients:
            mine = [r for r in results if (r.server, r.client) == (server, client)]
            parts = []
            for status in ("green", "red", "unsupported"):
                names = [ABBREVIATIONS.get(r.case, r.case) for r in mine if r.status == status]
                if names:
                    parts.append(f"{MARKS[status]} {' '.join(names)}")
            cells.append("<br>".join(parts))
        lines.append(f"| {server} | " + " | ".join(cells) + " |")
    return lines


def write_matrix(results: Sequence[Result], directory: Path) -> str:
    """Write ``matrix.md`` and ``results.json`` into ``directory``; the markdown."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["# Interop matrix (server / client)", "", *_by_case_table(results), ""]
    lines += ["## Servers × clients", "", *_by_pair_table(results), ""]
    lines += ["(h3): run over HTTP/3 because one peer speaks h3 only.", ""]
    lines += ["## Reasons", ""]
    for r in results:
        if r.status != "green":
            lines.append(f"- {r.server} / {r.client}, {r.case}: {r.status}: {r.reason}")
    lines += ["", "## Seconds", "", "| server / client | case | seconds |", "|---|---|---|"]
    lines += [f"| {r.server} / {r.client} | {r.case} | {r.seconds} |" for r in results]
    markdown = "\n".join(lines) + "\n"
    (directory / "matrix.md").write_text(markdown)
    payload = {
        "pairs": [list(pair) for pair in dict.fromkeys((r.server, r.client) for r in results)],
        "results": [asdict(r) for r in results],
    }
    (directory / "results.json").write_text(json.dumps(payload, indent=2) + "\n")
    return markdown


# --- command line ------------------------------------------------------------------------------


def _peers(args: argparse.Namespace) -> list[Peer]:
    """pyquic, the registry's peers, narrowed to ``--peer`` names when given."""
    known: dict[str, Peer] = {PYQUIC.name: PYQUIC}
    if args.peers:
        known.update(load_peers(Path(args.peers)))
    names = args.peer or list(known)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown peers {unknown}; known: {sorted(known)}")
    return [known[name] for name in names]


def _run_all(
    args: argparse.Namespace, chosen: Sequence[tuple[Peer, Peer]], output: Path
) -> list[Result]:
    results = []
    for server, client in chosen:
        for case in args.cases:
            workdir = output / f"{server.name}_{client.name}" / case
            shutil.rmtree(workdir, ignore_errors=True)
            result = run_case(
                case, workdir, args.timeout, relay=not args.no_relay, server=server, client=client
            )
            shutil.rmtree(workdir / "www", ignore_errors=True)  # large random files: not kept
            shutil.rmtree(workdir / "downloads", ignore_errors=True)
            goodput = "" if result.goodput_kbps is None else f"{result.goodput_kbps:.0f} kbps "
            print(
                f"{server.name:8} {client.name:8} {case:20} {result.status:12} "
                f"{result.seconds:6.2f} s  {goodput}{result.reason}",
                flush=True,
            )
            results.append(result)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Run the cases (all by default) for every chosen pair; 0 when none is red."""
    parser = argparse.ArgumentParser(prog="interop_runner", description=__doc__.split("\n")[0])
    parser.add_argument("cases", nargs="*", default=list(FILES), help="test cases (default all)")
    parser.add_argument("--output", default="interop-results", help="results directory")
    parser.add_argument("--timeout", type=float, default=None, help="per case (s)")
    parser.add_argument("--no-relay", action="store_true", help="clean loopback, no impairment")
    parser.add_argument("--peers", help="JSON registry of more peers (besides pyquic)")
    parser.add_argument("--peer", action="append", help="run only these peers (repeatable)")
    parser.add_argument("--all-pairs", action="store_true", help="also pairs without pyquic")
    args = parser.parse_args(argv)
    try:
        chosen = pairs(_peers(args), args.all_pairs)
    except ValueError as exc:
        parser.error(str(exc))
    output = Path(args.output)
    results = _run_all(args, chosen, output)
    print(write_matrix(results, output))
    return 1 if any(r.status == "red" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
