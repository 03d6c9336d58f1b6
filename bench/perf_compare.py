"""Benchmark: pyquic against aioquic with the perf protocol, side by side in one run; ngtcp2's
example HTTP/3 peers for perspective on bulk transfer.

Each stack runs its own perf server and client (``pyquic perf``; ``bench/peers/aioquic_perf.py``,
which shares the scenario code) in separate processes on loopback.  Rows (``--rows``, a comma
list; all by default):

* ``bulk``: a download of ``--bulk-bytes`` (200 MB) on one stream, each stack with its own
  defaults (pyquic runs path MTU discovery and reaches 1472-byte datagrams on IPv4 loopback;
  aioquic sends 1200-byte ones): MB/s, and CPU seconds per GB on the client (its own rusage) and
  on the server (``/proc/PID/stat`` before and after).  The clock starts once the connection is
  up;
* ``bulk1200``: the same with both ends of both stacks capped at 1200-byte datagrams
  (``--max-udp-payload 1200``);
* ``ngtcp2``: ngtcp2's ``gtlsserver`` serving a file of ``--bulk-bytes`` over HTTP/3 and
  ``gtlsclient`` downloading it, with ngtcp2's defaults and then both capped at 1200 bytes
  (``--max-udp-payload-size=1200 --no-pmtud``); timed by wall clock around the client process,
  so its start, the handshake and the HTTP/3 request are included.  CPU seconds per GB of the
  client (rusage of the child) and the server.  Ratios pyquic/ngtcp2 are printed too; without
  the binaries the row says "not installed";
* ``hps``: handshakes per second, sequential and 16 in parallel;
* ``rps``: requests per second, 512-byte requests and 4000-byte responses on 100 streams of one
  connection;
* ``latency``: latency percentiles, one request at a time;
* ``idle``: memory per idle connection: a holder process opens up to ``--idle`` (10,000)
  connections to one server (kept alive with PINGs) within ``--idle-budget`` seconds; the
  server's RSS growth divided by the connections held (the holder's own growth reported too).

Prints a table with pyquic / aioquic (and pyquic / ngtcp2) ratios, with the datagram sizes the
pyquic client saw in its bulk runs, and writes bench/results/perf_compare.json (``--output``).

Run: .venv/bin/python bench/perf_compare.py [--rows bulk,bulk1200,ngtcp2] [--bulk-bytes 200M]
     [--time 5] [--idle 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "perf_compare.json"
HOST = "127.0.0.1"
STACKS = ("pyquic", "aioquic", "ngtcp2")
COMMANDS = {
    "pyquic": [sys.executable, "-m", "pyquic", "perf"],
    "aioquic": [sys.executable, str(HERE / "peers" / "aioquic_perf.py")],
}
TICKS = os.sysconf("SC_CLK_TCK")
KEEP_ALIVE_S = 5.0
ROWS = ("bulk", "bulk1200", "ngtcp2", "hps", "rps", "latency", "idle")
CAP = 1200  # the capped rows' datagram size: the smallest every QUIC path carries
CAPPED = ("--max-udp-payload", str(CAP))
GTLSSERVER = shutil.which("gtlsserver") or "/usr/sbin/gtlsserver"
GTLSCLIENT = shutil.which("gtlsclient") or "/usr/bin/gtlsclient"
NGTCP2_CAPPED = (f"--max-udp-payload-size={CAP}", "--no-pmtud")
NGTCP2_QUIET = ("--quiet", "--no-quic-dump", "--no-http-dump")
CLIENT_TIMEOUT_S = 900


def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def _rss_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@contextmanager
def _server(stack: str, *options: str) -> Iterator[tuple[int, int]]:
    """A perf server of ``stack``: (pid, port)."""
    process = subprocess.Popen(
        [*COMMANDS[stack], "server", "--listen", f"{HOST}:0", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if f"{HOST}:" not in line:
            raise RuntimeError(f"the {stack} perf server did not start: {line!r}")
        yield process.pid, int(line.split(f"{HOST}:", 1)[1].split()[0])
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[Any]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _client(stack: str, port: int, *options: str) -> dict[str, Any]:
    result = subprocess.run(
        [*COMMANDS[stack], "client", "--target", f"{HOST}:{port}", "--json", *options],
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{stack} client {options}: {result.stderr.strip()}")
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def _measure(stack: str, args: argparse.Namespace) -> tuple[dict[str, float], dict[str, Any]]:
    """The rows of ``args.rows`` for ``stack``; and the transport counters of its bulk runs."""
    out: dict[str, float] = {}
    counters: dict[str, Any] = {}
    for row, label, options in (("bulk", "bulk", ()), ("bulk1200", f"bulk@{CAP}", CAPPED)):
        if row in args.rows:
            measured, counters[label] = _bulk(stack, args, label, options)
            out.update(measured)
    if {"hps", "rps", "latency"} & set(args.rows):
        with _server(stack) as (_, port):
            out.update(_timed(stack, port, args))
    if "idle" in args.rows:
        with _server(stack) as (pid, port):
            out.update(_idle_memory(stack, pid, port, args))
    return out, counters


def _bulk(
    stack: str, args: argparse.Namespace, label: str, options: Sequence[str]
) -> tuple[dict[str, float], Any]:
    with _server(stack, *options) as (pid, port):
        cpu = _cpu_of(pid)
        bulk = _client(
            stack, port, "--scenario", "download", "--bytes", str(args.bulk_bytes), *options
        )
        server_cpu = _cpu_of(pid) - cpu
    gigabytes = bulk["bytes_received"] / 1e9
    measured = {
        f"{label} download MB/s": bulk["mb_per_s"],
        f"{label} client CPU s/GB": bulk["cpu_seconds"] / gigabytes,
        f"{label} server CPU s/GB": server_cpu / gigabytes,
    }
    return measured, bulk.get("transport")


def _timed(stack: str, port: int, args: argparse.Namespace) -> dict[str, float]:
    out: dict[str, float] = {}
    time_s = str(args.time)
    if "hps" in args.rows:
        for label, connections in (("sequential", "1"), ("16 parallel", "16")):
            hps = _client(
                stack, port, "--scenario", "hps", "--time", time_s, "--connections", connections
            )
            out[f"handshakes/s {label}"] = hps["handshakes_per_s"]
    if "rps" in args.rows:
        rps = _client(stack, port, "--scenario", "rps", "--time", time_s, "--streams", "100")
        out["requests/s (100 streams)"] = rps["requests_per_s"]
    if "latency" in args.rows:
        latency = _client(stack, port, "--scenario", "latency", "--time", time_s)
        for key, value in latency["latency_us"].items():
            out[f"latency {key} us"] = value
    return out


def _idle_memory(stack: str, pid: int, port: int, args: argparse.Namespace) -> dict[str, float]:
    before = _rss_of(pid)
    command = [sys.executable, __file__, "--hold", stack, str(port), str(args.idle)]
    holder = subprocess.Popen(
        [*command, str(args.idle_budget)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdin is not None
    line = holder.stdout.readline().split()
    if not line or line[0] != "held":
        holder.kill()
        raise RuntimeError(f"the {stack} holder failed: {holder.communicate()[1][-2000:]}")
    held, holder_growth = int(line[1]), int(line[2])
    time.sleep(1.0)  # let the server settle
    growth = _rss_of(pid) - before
    holder.stdin.close()
    holder.wait(timeout=120)
    return {
        "idle connections held": held,
        "server KB per idle connection": growth / held / 1024,
        "client KB per idle connection": holder_growth / held / 1024,
    }


# --- ngtcp2's HTTP/3 example peers -----------------------------------------------------------


def _ngtcp2(args: argparse.Namespace) -> dict[str, float] | None:
    """ngtcp2's bulk rows, with its defaults and capped (None: the binaries are missing)."""
    if not (Path(GTLSSERVER).is_file() and Path(GTLSCLIENT).is_file()):
        return None
    from pyquic.testing.certificates import make_test_credentials

    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="perf-ngtcp2-") as scratch:
        root = Path(scratch)
        pem = make_test_credentials(["localhost", HOST]).write_pem(root)
        www = root / "www"
        www.mkdir()
        with (www / "bulk").open("wb") as file:
            file.truncate(args.bulk_bytes)  # zeros, as perf sends
        credentials = (str(pem.server_key), str(pem.server_certificate))
        for label, options in (("bulk", ()), (f"bulk@{CAP}", NGTCP2_CAPPED)):
            with _gtlsserver([f"--htdocs={www}", *options], credentials) as (pid, port):
                out.update(_ngtcp2_download(root, label, pid, port, options, args.bulk_bytes))
    return out


@contextmanager
def _gtlsserver(options: list[str], credentials: tuple[str, str]) -> Iterator[tuple[int, int]]:
    """gtlsserver on a free port of HOST: (pid, port).  It cannot bind port 0, so it gets a
    port that was free a moment ago, and another if that one was taken meanwhile."""
    for _ in range(3):
        port = _free_udp_port()
        process = subprocess.Popen(
            [GTLSSERVER, *NGTCP2_QUIET, *options, HOST, str(port), *credentials],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if _wait_bound(process, port):
            break
        _stop(process)
    else:
        raise RuntimeError("gtlsserver never listened")
    try:
        yield process.pid, port
    finally:
        _stop(process)


def _ngtcp2_download(
    root: Path, label: str, pid: int, port: int, options: Sequence[str], size: int
) -> dict[str, float]:
    downloads = root / f"downloads-{port}"
    downloads.mkdir()
    command = [GTLSCLIENT, *NGTCP2_QUIET, "--exit-on-all-streams-close", f"--download={downloads}"]
    command += [*options, HOST, str(port), f"https://{HOST}:{port}/bulk"]
    server_cpu = _cpu_of(pid)
    client_cpu = _children_cpu()
    started = time.perf_counter()
    subprocess.run(command, capture_output=True, timeout=CLIENT_TIMEOUT_S, check=False)
    elapsed = time.perf_counter() - started
    client_cpu = _children_cpu() - client_cpu
    server_cpu = _cpu_of(pid) - server_cpu
    received = (downloads / "bulk").stat().st_size if (downloads / "bulk").exists() else 0
    shutil.rmtree(downloads)
    if received != size:  # gtlsclient exits with status 0 whatever happened
        raise RuntimeError(f"gtlsclient received {received} bytes of {size}")
    gigabytes = size / 1e9
    return {
        f"{label} download MB/s": size / elapsed / 1e6,
        f"{label} client CPU s/GB": client_cpu / gigabytes,
        f"{label} server CPU s/GB": server_cpu / gigabytes,
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _wait_bound(process: subprocess.Popen[bytes], port: int) -> bool:
    """Whether ``process`` bound UDP ``port`` within 10 s (from /proc/net/udp)."""
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline and process.poll() is None:
        lines = Path("/proc/net/udp").read_text().splitlines()[1:]
        if any(int(line.split()[1].rsplit(":", 1)[1], 16) == port for line in lines):
            return True
        time.sleep(0.02)
    return False


# --- the holder process ----------------------------------------------------------------------


def _self_rss() -> int:
    return _rss_of(os.getpid())


async def _hold_pyquic(port: int, count: int, budget_s: float) -> list[Any]:
    from pyquic.aio import QuicConfiguration, connect

    config = QuicConfiguration(alpn_protocols=["perf"], verify=False).with_settings(
        keep_alive_interval_ms=int(KEEP_ALIVE_S * 1000)
    )
    return await _open_many(lambda: connect(HOST, port, configuration=config), count, budget_s)


async def _hold_aioquic(port: int, count: int, budget_s: float) -> list[Any]:
    from aioquic.asyncio.client import connect
    from aioquic.quic.configuration import QuicConfiguration

    config = QuicConfiguration(is_client=True, alpn_protocols=["perf"], verify_mode=0)

    contexts: list[Any] = []  # a dropped context manager closes its connection when collected

    async def dial() -> Any:
        context = connect(HOST, port, configuration=config)
        contexts.append(context)
        return await context.__aenter__()

    held = await _open_many(dial, count, budget_s)

    async def keep_alive() -> None:
        assert len(contexts) >= len(held)  # the contexts live as long as this task
        while True:
            await asyncio.sleep(KEEP_ALIVE_S)
            for protocol in held:
                protocol._quic.send_ping(0)
                protocol.transmit()

    asyncio.get_running_loop().create_task(keep_alive())
    return held


async def _open_many(dial: Any, count: int, budget_s: float) -> list[Any]:
    held: list[Any] = []
    deadline = time.monotonic() + budget_s

    async def worker() -> None:
        while len(held) < count and time.monotonic() < deadline:
            held.append(await dial())

    await asyncio.gather(*(worker() for _ in range(16)))
    return held


def _open(stack: str, connection: Any) -> bool:
    """Whether a held connection is still open (neither side closed it)."""
    if stack == "pyquic":
        return connection.terminated is None
    return not connection._closed.is_set()  # aioquic's QuicConnectionProtocol


async def _hold(stack: str, port: int, count: int, budget_s: float) -> None:
    before = _self_rss()
    opener = _hold_pyquic if stack == "pyquic" else _hold_aioquic
    held = await opener(port, count, budget_s)
    await asyncio.sleep(1.0)  # a connection the server dropped has had time to say so
    alive = sum(1 for connection in held if _open(stack, connection))
    print(f"held {alive} {_self_rss() - before}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    os._exit(0)  # measured: no need to close thousands of connections one by one


# --- report ----------------------------------------------------------------------------------


def _ratio(ours: float | None, theirs: float | None) -> str:
    return f"{ours / theirs:.2f}" if ours is not None and theirs else "-"


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _table(results: dict[str, dict[str, float]], ngtcp2: str | None) -> str:
    """One line per row: pyquic, aioquic, their ratio; ngtcp2 and pyquic/ngtcp2 if measured."""
    heads = ("pyquic", "aioquic", "py/aio", "ngtcp2", "py/ngtcp2")
    rows = [f"{'':30}" + "".join(f"{head:>12}" for head in heads)]
    names = dict.fromkeys([*results["pyquic"], *results["aioquic"], *results["ngtcp2"]])
    for name in names:
        ours, theirs, ngtcp2_value = (results[stack].get(name) for stack in STACKS)
        cells = (_cell(ours), _cell(theirs), _ratio(ours, theirs), _cell(ngtcp2_value))
        line = f"{name:30}" + "".join(f"{cell:>12}" for cell in cells)
        rows.append(line + f"{_ratio(ours, ngtcp2_value):>12}")
    if ngtcp2 is not None:
        rows.append(f"{'ngtcp2 bulk rows':30}{'':34}{ngtcp2:>14}")
    return "\n".join(rows)


def _datagrams(counters: dict[str, Any]) -> str:
    """What the pyquic client saw in its bulk runs: the mean size of the packets it received
    (one per datagram in a download) and the datagram size it sent with."""
    lines = []
    for label, seen in counters.items():
        if seen and seen.get("recv_total_packets"):
            mean = seen["recv_total_bytes"] / seen["recv_total_packets"]
            mtu = seen["send_path_mtu"] or CAP  # 0: never left the 1200-byte base size
            lines.append(
                f"pyquic {label}: client received {seen['recv_total_packets']:,} packets of "
                f"{mean:,.0f} bytes on average, sent datagrams of up to {mtu} bytes"
            )
    return "\n".join(lines)


def _size(text: str) -> int:
    scale = {"K": 10**3, "M": 10**6, "G": 10**9}.get(text[-1:].upper(), 1)
    return int(text[:-1] if scale > 1 else text) * scale


def _rows(text: str) -> tuple[str, ...]:
    rows = tuple(row.strip() for row in text.split(",") if row.strip())
    unknown = [row for row in rows if row not in ROWS]
    if unknown or not rows:
        raise argparse.ArgumentTypeError(f"rows are a comma list of {', '.join(ROWS)}")
    return rows


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=_rows, default=ROWS, help=f"default: {','.join(ROWS)}")
    parser.add_argument("--bulk-bytes", type=_size, default=200_000_000)
    parser.add_argument("--time", type=float, default=5.0, help="seconds per timed row")
    parser.add_argument("--idle", type=int, default=10_000, help="idle connections to hold")
    parser.add_argument("--idle-budget", type=float, default=120.0, help="seconds to open them")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"default: {RESULTS}")
    return parser.parse_args()


def _ratios(results: dict[str, dict[str, float]], other: str) -> dict[str, float | None]:
    return {
        name: (value / results[other][name] if results[other].get(name) else None)
        for name, value in results["pyquic"].items()
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--hold":
        stack, port, count, budget = sys.argv[2:6]
        asyncio.run(_hold(stack, int(port), int(count), float(budget)))
        return
    args = _parse()
    results: dict[str, dict[str, float]] = {}
    counters: dict[str, Any] = {}
    for stack in ("pyquic", "aioquic"):
        results[stack], counters[stack] = _measure(stack, args)
    ngtcp2 = _ngtcp2(args) if "ngtcp2" in args.rows else {}
    results["ngtcp2"] = ngtcp2 or {}
    absent = f"not installed ({GTLSSERVER}, {GTLSCLIENT})" if ngtcp2 is None else None
    print(_table(results, None if absent is None else "not installed"))
    if seen := _datagrams(counters["pyquic"]):
        print(seen)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": "perf_compare",
        "machine": {"python": sys.version.split()[0], "platform": platform.platform()},
        "load_average": os.getloadavg(),
        "options": {k: v for k, v in vars(args).items() if k != "output"},
        "results": results,
        "ratios": _ratios(results, "aioquic"),
        "ratios_pyquic_ngtcp2": _ratios(results, "ngtcp2"),
        "ngtcp2": absent or "HTTP/3, wall clock around gtlsclient (start and handshake included)",
        "bulk_transport_counters": counters,
    }
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
