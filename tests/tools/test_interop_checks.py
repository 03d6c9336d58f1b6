"""The runner's wire checks on real captures: pyquic against pyquic through the relay.

Each case runs once per module (the runner's ``run_case`` with the relay writing ``--pcap-dir``;
keyupdate and rebind-port with smaller files than the runner's, still enough for both key phases
and for a rebinding during the transfer), then :func:`check_case` must pass it, and the checks
of other cases must fail on it for the right reason, so that every check is shown able to fail.
tshark is required, as for tests/interop.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyquic.tools import interop_runner
from pyquic.tools.interop_checks import check_case
from pyquic.tools.interop_relay import CLIENT_SIDE_PCAP, SERVER_SIDE_PCAP

KIB = 1 << 10
MIB = 1 << 20
SMALLER_FILES = {"keyupdate": [256 * KIB], "rebind-port": [3 * MIB]}


class Captured:
    """One case run through the relay: its capture directory and the endpoints' key logs."""

    def __init__(self, workdir: Path) -> None:
        self.pcap_dir = workdir / "pcap"
        self.keylogs = [workdir / "logs" / "client-keys.log", workdir / "logs" / "server-keys.log"]

    def check(self, case: str) -> list[str]:
        return check_case(case, self.pcap_dir, self.keylogs)


@pytest.fixture(scope="module")
def captures(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Captured]]:
    assert shutil.which("tshark"), "tshark is missing: run scripts/install-test-peers.sh"
    cache: dict[str, Captured] = {}
    yield cache


def captured(captures: dict[str, Captured], case: str, tmp: Path) -> Captured:
    """``case`` run (once per module) with the relay capturing both legs."""
    if case not in captures:
        workdir = tmp / case
        with pytest.MonkeyPatch.context() as patch:
            network = [*interop_runner.NETWORK.get(case, []), "--pcap-dir", str(workdir / "pcap")]
            patch.setitem(interop_runner.NETWORK, case, network)
            if case in SMALLER_FILES:
                patch.setitem(interop_runner.FILES, case, SMALLER_FILES[case])
            result = interop_runner.run_case(case, workdir, timeout=30)
        assert result.status == "green", result.reason
        captures[case] = Captured(workdir)
    return captures[case]


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("interop-checks")


@pytest.mark.parametrize("case", ["handshake", "retry", "keyupdate", "v2", "ecn"])
def test_the_case_passes_its_checks(captures: dict[str, Captured], tmp: Path, case: str) -> None:
    run = captured(captures, case, tmp)
    assert (run.pcap_dir / CLIENT_SIDE_PCAP).stat().st_size > 24
    assert (run.pcap_dir / SERVER_SIDE_PCAP).stat().st_size > 24
    assert run.check(case) == []


def test_two_handshakes_fail_the_handshake_check(captures: dict[str, Captured], tmp: Path) -> None:
    problems = captured(captures, "resumption", tmp).check("handshake")
    assert problems == ["2 handshakes on the server's leg, expected 1"]


def test_resumption_passes_and_its_count_can_fail(captures: dict[str, Captured], tmp: Path) -> None:
    run = captured(captures, "resumption", tmp)
    assert run.check("resumption") == []
    assert check_case("resumption", run.pcap_dir, run.keylogs, handshakes=3) == [
        "2 handshakes on the server's leg, expected 3"
    ]
    single = captured(captures, "handshake", tmp).check("resumption")
    assert "1 handshakes on the server's leg, expected 2" in single


def test_a_v1_connection_fails_the_v2_check(captures: dict[str, Captured], tmp: Path) -> None:
    problems = captured(captures, "handshake", tmp).check("v2")
    assert "no server Initial in QUIC v2 (0x6b3343cf)" in problems
    assert any("client Handshake packets not in QUIC v2" in p for p in problems)


def test_a_v2_connection_fails_the_version_1_check(
    captures: dict[str, Captured], tmp: Path
) -> None:
    problems = captured(captures, "v2", tmp).check("handshake")
    assert problems == [
        "the server's Initials carry versions {0x6b3343cf}, expected only 0x00000001"
    ]


def test_no_key_update_fails_the_keyupdate_check(captures: dict[str, Captured], tmp: Path) -> None:
    problems = captured(captures, "handshake", tmp).check("keyupdate")
    assert problems == [
        "no 1-RTT packet with key phase 1 sent by the client (client-side.pcap)",
        "no 1-RTT packet with key phase 1 sent by the server (server-side.pcap)",
    ]


def test_no_ecn_fails_the_ecn_check(captures: dict[str, Captured], tmp: Path) -> None:
    problems = captured(captures, "handshake", tmp).check("ecn")
    assert "no ECT(0)/ECT(1) mark on the client's datagrams (client-side.pcap)" in problems
    assert "no ACK with ECN counts sent by the server (server-side.pcap)" in problems
    assert len(problems) == 4


def test_aes_fails_the_chacha20_check(captures: dict[str, Captured], tmp: Path) -> None:
    assert captured(captures, "handshake", tmp).check("chacha20") == [
        "a ClientHello offers {0x1301, 0x1302, 0x1303}, expected only 0x1303",
        "the ServerHellos select [0x1301], expected 0x1303",
    ]


def test_retry_is_required_by_one_check_and_refused_by_another(
    captures: dict[str, Captured], tmp: Path
) -> None:
    assert captured(captures, "handshake", tmp).check("retry") == [
        "no Retry with a token on the client's leg"
    ]
    assert captured(captures, "retry", tmp).check("handshake") == [
        "1 Retry packets on the client's leg, expected none"
    ]


def test_a_missing_key_log_is_a_failure(captures: dict[str, Captured], tmp: Path) -> None:
    run = captured(captures, "handshake", tmp)
    missing = tmp / "absent-keys.log"
    problems = check_case("keyupdate", run.pcap_dir, missing)
    assert problems == [f"key log {missing} is missing: tshark cannot decrypt the captures"]


def test_a_key_log_that_does_not_decrypt_is_a_failure(
    captures: dict[str, Captured], tmp: Path
) -> None:
    run = captured(captures, "handshake", tmp)
    empty = tmp / "empty-keys.log"
    empty.write_text("")
    problems = check_case("keyupdate", run.pcap_dir, empty)
    undecrypted = [p for p in problems if p.startswith("tshark could not decrypt")]
    assert len(undecrypted) == 2, problems
    assert "client-side.pcap" in undecrypted[0] and "server-side.pcap" in undecrypted[1]
    assert len(problems) == 4  # and no key phase seen on either leg
    assert check_case("handshake", run.pcap_dir, empty) == []  # cleartext headers suffice


def test_missing_tshark_or_capture_is_a_failure(
    captures: dict[str, Captured], tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = captured(captures, "handshake", tmp)
    assert check_case("handshake", tmp / "nowhere", run.keylogs) == [
        f"capture {tmp / 'nowhere' / CLIENT_SIDE_PCAP} is missing"
    ]
    monkeypatch.setenv("PATH", str(tmp / "no-programs-here"))
    problems = check_case("handshake", run.pcap_dir, run.keylogs)
    assert problems == ["tshark is not installed (scripts/install-test-peers.sh installs it)"]


def test_rebinding_passes_the_path_checks_and_is_no_migration(
    captures: dict[str, Captured], tmp: Path
) -> None:
    rebound = captured(captures, "rebind-port", tmp)
    assert rebound.check("rebind-port") == []
    assert rebound.check("connectionmigration") == [
        "1 client path(s) on the client's leg, expected at least 2"
    ]
    assert captured(captures, "handshake", tmp).check("rebind-port") == [
        "1 path(s) on the server's leg, expected at least 2"
    ]


def test_cases_without_wire_checks_pass_without_captures(tmp: Path) -> None:
    assert check_case("no-such-case", tmp / "nowhere", tmp / "no-keys.log") == []
