"""``pyquic perf``: the perf server and client interoperate in every scenario, in real processes
over loopback, with JSON output; ``--max-udp-payload`` caps the datagrams; bad arguments exit
with status 2 and a message."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import pytest

import pyquic.aio
from pyquic.tools import perf_protocol
from pyquic.tools.cli import main
from pyquic.tools.perf import TRANSPORT_COUNTERS

PYQUIC = [sys.executable, "-m", "pyquic"]
TIMEOUT_S = 120


@contextmanager
def _server(*options: str) -> Iterator[int]:
    process = subprocess.Popen(
        [*PYQUIC, "perf", "server", "--listen", "127.0.0.1:0", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "listening on 127.0.0.1:" in line, line + (process.stderr.read() or "")
        yield int(line.split("127.0.0.1:", 1)[1].split()[0])
    finally:
        process.terminate()
        process.communicate(timeout=TIMEOUT_S)
    assert process.returncode == 0


@pytest.fixture(scope="module")
def perf_server() -> Iterator[int]:
    with _server() as port:
        yield port


def _client(port: int, *options: str) -> dict[str, object]:
    result = subprocess.run(
        [*PYQUIC, "perf", "client", "--target", f"127.0.0.1:{port}", "--json", *options],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    parsed: dict[str, object] = json.loads(result.stdout)
    assert parsed["stack"] == "pyquic"
    return parsed


def _ordered_percentiles(result: dict[str, object]) -> None:
    latency = result["latency_us"]
    assert isinstance(latency, dict)
    values = [latency[key] for key in ("p50", "p90", "p99", "p99.9", "max")]
    assert values[0] > 0
    assert values == sorted(values)


def test_download(perf_server: int) -> None:
    result = _client(perf_server, "--scenario", "download", "--bytes", "300K")
    assert result["bytes_received"] == 300_000
    assert result["bytes_sent"] == 0
    assert isinstance(result["mb_per_s"], float) and result["mb_per_s"] > 0


def test_upload_on_several_streams_with_options(perf_server: int) -> None:
    result = _client(
        perf_server,
        *("--scenario", "upload", "--bytes", "200K", "--streams", "4"),
        *("--cc", "new_reno", "--no-pacing", "--cipher", "chacha20"),
    )
    assert result["bytes_sent"] == 200_000
    assert result["bytes_received"] == 0
    assert result["streams"] == 4


def test_max_udp_payload_caps_the_datagrams(perf_server: int) -> None:
    with _server("--max-udp-payload", "1200") as capped_port:
        capped = _client(
            capped_port, "--scenario", "download", "--bytes", "1M", "--max-udp-payload", "1200"
        )
    transport = capped["transport"]
    assert isinstance(transport, dict)
    # the server's cap: the client never left the 1200-byte base size (0: never changed)
    assert transport["send_path_mtu"] in (0, 1200)
    # the client's cap: the server's packets, one per datagram in a download, fit in 1200 bytes
    packets, size = transport["recv_total_packets"], transport["recv_total_bytes"]
    assert packets > 1_000_000 // 1200
    assert size <= 1200 * packets
    # without the cap the client's path MTU discovery towards the server goes beyond 1200 once
    # it sends in bulk (an upload; a downloading client sends too little to probe)
    uncapped = _client(perf_server, "--scenario", "upload", "--bytes", "2M")
    transport = uncapped["transport"]
    assert isinstance(transport, dict)
    assert transport["send_path_mtu"] > 1200


def test_handshakes_per_second(perf_server: int) -> None:
    result = _client(perf_server, "--scenario", "hps", "--time", "0.3", "--connections", "3")
    handshakes = result["handshakes"]
    assert isinstance(handshakes, int) and handshakes >= 3
    assert result["connections"] == 3
    _ordered_percentiles(result)


def test_requests_per_second(perf_server: int) -> None:
    result = _client(perf_server, "--scenario", "rps", "--time", "0.3", "--streams", "10")
    requests = result["requests"]
    assert isinstance(requests, int) and requests >= 10
    assert result["bytes_received"] == requests * 4000
    assert result["bytes_sent"] == requests * 512
    _ordered_percentiles(result)


def test_latency_table_and_json(perf_server: int) -> None:
    result = _client(
        perf_server, "--scenario", "latency", "--time", "0.2", "--response-size", "100"
    )
    requests = result["requests"]
    assert isinstance(requests, int) and requests >= 1
    assert result["bytes_received"] == requests * 100
    assert result["streams"] == 1
    _ordered_percentiles(result)
    command = [*PYQUIC, "perf", "client", "--target", f"127.0.0.1:{perf_server}"]
    table = subprocess.run(
        [*command, "--scenario", "latency", "--time", "0.1"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=True,
    ).stdout
    assert "latency_us.p99.9" in table and "requests_per_s" in table


def test_unreachable_server_fails() -> None:
    with subprocess.Popen(
        [*PYQUIC, "perf", "client", "--target", "127.0.0.1:9", "--scenario", "download"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        _, err = process.communicate(timeout=TIMEOUT_S)
    assert process.returncode == 1
    assert "the download run failed" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["perf"], "ROLE"),
        (["perf", "client", "--scenario", "rps"], "--target"),
        (["perf", "client", "--target", "h", "--scenario", "bulk"], "invalid choice"),
        (["perf", "client", "--target", "h", "--scenario", "hps", "--time", "-1"], "run time"),
        (["perf", "client", "--target", "h", "--scenario", "rps", "--streams", "0"], "at least"),
        (["perf", "client", "--target", "h", "--scenario", "upload", "--bytes", "x"], "byte"),
        (["perf", "client", "--target", "h:99999", "--scenario", "rps"], "port"),
        (["perf", "client", "--target", "h", "--scenario", "rps", "--cc", "bbr"], "--cc"),
        (["perf", "server", "--cipher", "rc4"], "--cipher"),
        (["perf", "server", "--max-udp-payload", "1199"], "1200 to 65527"),
        (["perf", "server", "--max-udp-payload", "x"], "whole number of bytes"),
        (["perf", "server", "--listen", "nowhere"], "HOST:PORT"),
    ],
)
def test_argument_errors_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_cert_without_key_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["perf", "server", "--cert", __file__])
    assert exc.value.code == 2
    assert "--cert and --key go together" in capsys.readouterr().err


def test_targets_and_percentiles() -> None:
    assert perf_protocol.parse_target("example.com", 4433) == ("example.com", 4433)
    assert perf_protocol.parse_target("127.0.0.1:5000", 4433) == ("127.0.0.1", 5000)
    assert perf_protocol.parse_target("[::1]:5000", 4433) == ("::1", 5000)
    assert perf_protocol.parse_target("[::1]", 4433) == ("::1", 4433)
    assert perf_protocol.parse_target("::1", 4433) == ("::1", 4433)
    samples = [float(n) for n in range(1, 1001)]
    summary = perf_protocol.latency_summary(samples)
    assert summary == {"p50": 500.0, "p90": 900.0, "p99": 990.0, "p99.9": 999.0, "max": 1000.0}
    assert perf_protocol.latency_summary([]) == {
        "p50": 0.0,
        "p90": 0.0,
        "p99": 0.0,
        "p99.9": 0.0,
        "max": 0.0,
    }


def test_hps_reads_the_transport_counters_once(
    # an hps run spends its time on handshakes: the counters it reports (those of the last
    # connection closed) are read once, after the run, not at each of thousands of closes
    perf_server: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    reads: list[int] = []
    statistics = pyquic.aio.QuicConnection.statistics

    def counting(connection: pyquic.aio.QuicConnection) -> Mapping[str, object]:
        reads.append(1)
        assert statistics.fget is not None
        result: Mapping[str, object] = statistics.fget(connection)
        return result

    monkeypatch.setattr(pyquic.aio.QuicConnection, "statistics", property(counting))
    target = f"127.0.0.1:{perf_server}"
    options = ["--scenario", "hps", "--time", "1", "--connections", "2", "--json"]
    assert main(["perf", "client", "--target", target, *options]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["handshakes"] > 2
    assert len(reads) == 1
    transport = result["transport"]
    assert set(transport) == set(TRANSPORT_COUNTERS)
    assert transport["send_total_packets"] > 0
