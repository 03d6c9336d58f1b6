"""The local interop runner with other peers: the registry, the pairs, the per-pair plan of each
case (HTTP/3 with an h3-only peer), the matrix, the peer endpoints' 127 for what they cannot do,
and ngtcp2's gtlsserver and gtlsclient through the runner in both roles.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from pyquic.tools import interop_runner
from pyquic.tools.interop_runner import PYQUIC, Peer, Plan, Result

REGISTRY = Path(__file__).parents[1] / "interop" / "peers.json"
PEERS = interop_runner.load_peers(REGISTRY)
AIOQUIC, NGTCP2 = PEERS["aioquic"], PEERS["ngtcp2"]
HQ_ONLY = Peer("hq-only", ("hq-only",), alpns=("hq-interop",))  # a client that cannot do h3
QUICK_SCALE = 0.1


def test_registry_resolves_commands() -> None:
    assert set(PEERS) == {"aioquic", "ngtcp2"}
    for peer in PEERS.values():
        assert not any("{" in word for word in peer.command), peer.command
        assert Path(peer.command[1]).is_file()
        assert peer.roles == {"client", "server"}
    assert AIOQUIC.speaks_hq and not NGTCP2.speaks_hq


@pytest.mark.parametrize(
    "registry",
    [
        "not json",
        json.dumps({"endpoints": {}}),
        json.dumps({"peers": {"x": {"roles": ["server"]}}}),
        json.dumps({"peers": {"x": {"command": ["x"], "roles": ["router"]}}}),
    ],
)
def test_bad_registry_is_refused(registry: str, tmp_path: Path) -> None:
    path = tmp_path / "peers.json"
    path.write_text(registry)
    with pytest.raises(ValueError, match=r"peers\.json"):
        interop_runner.load_peers(path)


def _names(pairs: list[tuple[Peer, Peer]]) -> list[tuple[str, str]]:
    return [(server.name, client.name) for server, client in pairs]


def test_pairs_have_pyquic_on_one_side_unless_all_are_asked_for() -> None:
    peers = [PYQUIC, AIOQUIC, NGTCP2]
    chosen = _names(interop_runner.pairs(peers))
    assert chosen[0] == ("pyquic", "pyquic")
    assert sorted(chosen) == sorted(
        [
            ("pyquic", "pyquic"),
            ("pyquic", "aioquic"),
            ("pyquic", "ngtcp2"),
            ("aioquic", "pyquic"),
            ("ngtcp2", "pyquic"),
        ]
    )
    assert len(interop_runner.pairs(peers, all_pairs=True)) == 9
    client_only = Peer("c", ("c",), frozenset({"client"}))
    assert ("c", "pyquic") not in _names(interop_runner.pairs([PYQUIC, client_only]))


def test_plan_of_hq_peers_is_the_case() -> None:
    assert interop_runner.plan("retry", AIOQUIC, PYQUIC) == Plan("retry", "retry")
    assert interop_runner.plan("goodput", PYQUIC, AIOQUIC) == Plan("transfer", "transfer")


def test_plan_with_an_h3_only_peer() -> None:
    plan = interop_runner.plan
    # transfers run as http3 on both sides, on the case's network
    assert plan("transferloss", NGTCP2, PYQUIC) == Plan("http3", "http3", "h3")
    assert plan("goodput", PYQUIC, NGTCP2) == Plan("http3", "http3", "h3")
    assert plan("http3", NGTCP2, PYQUIC) == Plan("http3", "http3")
    # an h3-only client does the case over h3 against a server that offers h3 in every case
    assert plan("retry", PYQUIC, NGTCP2) == Plan("retry", "retry", "h3")
    # pyquic's client does any case over h3 when told to (its ALPN variable)
    assert plan("retry", NGTCP2, PYQUIC) == Plan("retry", "retry", "h3", client_alpn="h3")
    # another hq client cannot do retry over h3: no pair
    reason = plan("retry", NGTCP2, HQ_ONLY)
    assert isinstance(reason, str) and "h3 only" in reason


def test_a_pair_without_a_common_protocol_runs_nothing(tmp_path: Path) -> None:
    result = interop_runner.run_case("zerortt", tmp_path, server=NGTCP2, client=HQ_ONLY)
    assert result.status == "unsupported"
    assert (result.server, result.client) == ("ngtcp2", "hq-only")
    assert not any(tmp_path.iterdir())


def test_matrix_of_several_pairs(tmp_path: Path) -> None:
    results = [
        Result("handshake", "green", "", 0.5),
        Result("handshake", "red", "client exited 1: boom", 1.0, server="aioquic"),
        Result("ecn", "unsupported", "aioquic client exited 127", 0.4, client="aioquic"),
        Result("goodput", "green", "", 9.0, 9612.4, client="ngtcp2", note="h3"),
    ]
    markdown = interop_runner.write_matrix(results, tmp_path)
    assert "| case | pyquic / pyquic | aioquic / pyquic | pyquic / aioquic | pyquic / ngtcp2 |" in (
        markdown
    )
    assert "| goodput |  |  |  | ✅ 9612 kbps (h3) |" in markdown
    assert "- aioquic / pyquic, handshake: red: client exited 1: boom" in markdown
    assert "| aioquic | ❌ H |" in markdown  # the server x client table, abbreviated
    payload = json.loads((tmp_path / "results.json").read_text())
    assert ["aioquic", "pyquic"] in payload["pairs"]
    assert payload["results"][3]["goodput_kbps"] == 9612.4
    assert payload["results"][3]["note"] == "h3"


@pytest.mark.parametrize(
    ("peer", "testcase"),
    [("aioquic", "ecn"), ("aioquic", "connectionmigration"), ("ngtcp2", "v2")],
)
@pytest.mark.parametrize("role", ["client", "server"])
def test_peer_answers_127_for_what_it_cannot_do(peer: str, testcase: str, role: str) -> None:
    env = dict(os.environ, ROLE=role, TESTCASE=testcase, PORT="0", HOST="127.0.0.1")
    result = subprocess.run(
        PEERS[peer].command, env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 127, result.stderr
    assert "not supported" in result.stderr


@pytest.mark.parametrize(
    ("case", "server", "client"),
    [
        ("http3", NGTCP2, PYQUIC),
        ("http3", PYQUIC, NGTCP2),
        ("transferloss", NGTCP2, PYQUIC),  # over h3
        ("zerortt", PYQUIC, NGTCP2),  # gtlsclient resumes, with 0-RTT, over h3
        ("keyupdate", PYQUIC, NGTCP2),
    ],
    ids=lambda value: value.name if isinstance(value, Peer) else value,
)
def test_ngtcp2_through_the_runner(case: str, server: Peer, client: Peer, tmp_path: Path) -> None:
    result = interop_runner.run_case(
        case, tmp_path, timeout=60, server=server, client=client, file_scale=QUICK_SCALE
    )
    logs = "".join((tmp_path / "logs" / f"{r}.log").read_text() for r in ("server", "client"))
    assert result.status == "green", f"{result.reason}\n{logs[-3000:]}"
    assert result.note == ("" if case == "http3" else "h3")
    if case == "zerortt":
        assert len(list((tmp_path / "logs" / "qlog-client").iterdir())) == 2  # 2 connections


def test_runner_command_line_with_peers(tmp_path: Path) -> None:
    argv = ["--peers", str(REGISTRY), "--peer", "pyquic", "--peer", "aioquic"]
    status = interop_runner.main([*argv, "--output", str(tmp_path), "handshake"])
    assert status == 0
    payload = json.loads((tmp_path / "results.json").read_text())
    assert [(r["server"], r["client"], r["status"]) for r in payload["results"]] == [
        ("pyquic", "pyquic", "green"),
        ("pyquic", "aioquic", "green"),
        ("aioquic", "pyquic", "green"),
    ]
    with pytest.raises(SystemExit):
        interop_runner.main(["--peers", str(REGISTRY), "--peer", "quiche"])


@pytest.mark.parametrize("client", [AIOQUIC, NGTCP2], ids=lambda peer: peer.name)
def test_amplificationlimit_serves_a_chain_of_nine(client: Peer, tmp_path: Path) -> None:
    # the server's flight is then more than 3 times the client's first Initial (RFC 9000 §8.1)
    # and the relay drops the client's datagrams 2 to 7
    result = interop_runner.run_case("amplificationlimit", tmp_path, timeout=60, client=client)
    assert result.status == "green", result.reason
    chain = x509.load_pem_x509_certificates((tmp_path / "certs" / "cert.pem").read_bytes())
    assert len(chain) == 9
    for certificate, issuer in itertools.pairwise(chain):
        certificate.verify_directly_issued_by(issuer)
    root = x509.load_pem_x509_certificate((tmp_path / "certs" / "ca.pem").read_bytes())
    chain[-1].verify_directly_issued_by(root)
    names = chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert len(names.get_values_for_type(x509.DNSName)) == 5 + 20
