"""Benchmark: pyquic against aioquic with the perf protocol, side by side in one run.

Each stack runs its own perf server and client (``pyquic perf``; ``bench/peers/aioquic_perf.py``,
which shares the scenario code) in separate processes on loopback, with its own defaults.  Rows:

* bulk download of ``--bulk-bytes`` (200 MB) on one stream: MB/s, and CPU seconds per GB on the
  client (its own rusage) and on the server (``/proc/PID/stat`` before and after);
* handshakes per second, sequential and 16 in parallel;
* requests per second, 512-byte requests and 4000-byte responses on 100 streams of one connection;
* latency percentiles, one request at a time;
* memory per idle connection: a holder process opens up to ``--idle`` (10,000) connections to
  one server (kept alive with PINGs) within ``--idle-budget`` seconds; the server's RSS growth
  divided by the connections held (the holder's own growth reported too).

Prints a table with pyquic / aioquic ratios and writes bench/results/perf_compare.json.

Run: .venv/bin/python bench/perf_compare.py [--bulk-bytes 200M] [--time 5] [--idle 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "perf_compare.json"
HOST = "127.0.0.1"
COMMANDS = {
    "pyquic": [sys.executable, "-m", "pyquic", "perf"],
    "aioquic": [sys.executable, str(HERE / "peers" / "aioquic_perf.py")],
}
TICKS = os.sysconf("SC_CLK_TCK")
KEEP_ALIVE_S = 5.0


def _cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def _rss_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@contextmanager
def _server(stack: str) -> Iterator[tuple[int, int]]:
    """A perf server of ``stack``: (pid, port)."""
    process = subprocess.Popen(
        [*COMMANDS[stack], "server", "--listen", f"{HOST}:0"],
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
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{stack} client {options}: {result.stderr.strip()}")
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def _measure(stack: str, args: argparse.Namespace) -> dict[str, float]:
    out: dict[str, float] = {}
    with _server(stack) as (pid, port):
        cpu = _cpu_of(pid)
        bulk = _client(stack, port, "--scenario", "download", "--bytes", str(args.bulk_bytes))
        server_cpu = _cpu_of(pid) - cpu
        gigabytes = bulk["bytes_received"] / 1e9
        out["bulk download MB/s"] = bulk["mb_per_s"]
        out["bulk client CPU s/GB"] = bulk["cpu_seconds"] / gigabytes
        out["bulk server CPU s/GB"] = server_cpu / gigabytes
        time_s = str(args.time)
        for label, connections in (("sequential", "1"), ("16 parallel", "16")):
            hps = _client(
                stack, port, "--scenario", "hps", "--time", time_s, "--connections", connections
            )
            out[f"handshakes/s {label}"] = hps["handshakes_per_s"]
        rps = _client(stack, port, "--scenario", "rps", "--time", time_s, "--streams", "100")
        out["requests/s (100 streams)"] = rps["requests_per_s"]
        latency = _client(stack, port, "--scenario", "latency", "--time", time_s)
        for key, value in latency["latency_us"].items():
            out[f"latency {key} us"] = value
    with _server(stack) as (pid, port):
        out.update(_idle_memory(stack, pid, port, args))
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
    from aioquic.asyncio import connect
    from aioquic.quic.configuration import QuicConfiguration

    config = QuicConfiguration(is_client=True, alpn_protocols=["perf"], verify_mode=0)

    async def dial() -> Any:
        return await connect(HOST, port, configuration=config).__aenter__()

    held = await _open_many(dial, count, budget_s)

    async def keep_alive() -> None:
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


async def _hold(stack: str, port: int, count: int, budget_s: float) -> None:
    before = _self_rss()
    opener = _hold_pyquic if stack == "pyquic" else _hold_aioquic
    held = await opener(port, count, budget_s)
    print(f"held {len(held)} {_self_rss() - before}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


# --- report ----------------------------------------------------------------------------------


def _table(results: dict[str, dict[str, float]]) -> str:
    rows = [f"{'':34}{'pyquic':>14}{'aioquic':>14}{'pyquic/aioquic':>16}"]
    for name, ours in results["pyquic"].items():
        theirs = results["aioquic"].get(name, 0.0)
        ratio = f"{ours / theirs:.2f}" if theirs else "-"
        rows.append(f"{name:34}{ours:>14,.1f}{theirs:>14,.1f}{ratio:>16}")
    return "\n".join(rows)


def _size(text: str) -> int:
    scale = {"K": 10**3, "M": 10**6, "G": 10**9}.get(text[-1:].upper(), 1)
    return int(text[:-1] if scale > 1 else text) * scale


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--hold":
        stack, port, count, budget = sys.argv[2:6]
        asyncio.run(_hold(stack, int(port), int(count), float(budget)))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bulk-bytes", type=_size, default=200_000_000)
    parser.add_argument("--time", type=float, default=5.0, help="seconds per timed row")
    parser.add_argument("--idle", type=int, default=10_000, help="idle connections to hold")
    parser.add_argument("--idle-budget", type=float, default=120.0, help="seconds to open them")
    args = parser.parse_args()
    results = {stack: _measure(stack, args) for stack in ("pyquic", "aioquic")}
    print(_table(results))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": "perf_compare",
        "machine": {"python": sys.version.split()[0], "platform": platform.platform()},
        "options": {k: v for k, v in vars(args).items()},
        "results": results,
        "ratios": {
            name: (value / results["aioquic"][name] if results["aioquic"].get(name) else None)
            for name, value in results["pyquic"].items()
        },
    }
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
