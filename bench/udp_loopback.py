"""Benchmark: MB/s of 1200-byte datagrams over loopback, one sendmsg each vs GSO batches, and GRO.

Rows, each the best of several timed runs on one asyncio loop:

* ``send, raw sendto``: a plain ``socket.sendto`` loop, the floor any Python sender starts from.
* ``send, one per sendmsg`` / ``send, GSO``: :meth:`UdpDatapath.send` of ``--burst`` datagrams
  per call without and with UDP_SEGMENT, to a socket nobody reads (the kernel drops what
  overflows it), so the figure is the sender's cost alone.
* ``end-to-end ...``: a sending and a receiving :class:`UdpDatapath` in lockstep (send a burst,
  wait until the receiver's ``on_receive`` has seen it), GSO off/on, GRO off/on: the receive
  path with and without coalescing.  Bursts lost by the kernel are counted and not waited for.

MB/s is 10^6 payload bytes per second.  Prints a table and writes bench/results/udp_loopback.json.

Run: .venv/bin/python bench/udp_loopback.py [--seconds S] [--repeat N] [--burst N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import socket
import sys
import time
from pathlib import Path

from pyquic.platform.datapath import ReceivedDatagram, UdpDatapath, detect_features

DATAGRAM_BYTES = 1200
LOCALHOST = "127.0.0.1"
RESULTS = Path(__file__).resolve().parent / "results" / "udp_loopback.json"
BIG_BUFFER_BYTES = 8 * 1024 * 1024
BURST_TIMEOUT_S = 0.5


def _row(name: str, datagrams: int, elapsed_s: float, **extra: float) -> dict[str, float | str]:
    return {
        "name": name,
        "mb_per_s": datagrams * DATAGRAM_BYTES / elapsed_s / 1e6,
        "datagrams_per_s": datagrams / elapsed_s,
        **extra,
    }


def _sink() -> socket.socket:
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind((LOCALHOST, 0))
    return sink


def bench_raw_sendto(seconds: float, burst: int) -> dict[str, float | str]:
    payload = bytes(DATAGRAM_BYTES)
    with _sink() as sink, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        address = sink.getsockname()
        sent = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            for _ in range(burst):
                sender.sendto(payload, address)
            sent += burst
        elapsed = time.perf_counter() - start
    return _row("send, raw sendto", sent, elapsed, sendmsg_calls=sent)


async def bench_send(seconds: float, burst: int, use_gso: bool) -> dict[str, float | str]:
    loop = asyncio.get_running_loop()
    with _sink() as sink:
        sender = UdpDatapath.bind(
            (LOCALHOST, 0), loop=loop, on_receive=lambda batch: None, use_gso=use_gso
        )
        batch = [(bytes(DATAGRAM_BYTES), sink.getsockname())] * burst
        sent = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            sender.send(batch)
            sent += burst
        elapsed = time.perf_counter() - start
        stats = sender.statistics
        sender.close()
    name = "send, GSO" if use_gso and stats.gso_batches else "send, one per sendmsg"
    return _row(name, stats.datagrams_sent, elapsed, sendmsg_calls=stats.send_calls)


async def bench_end_to_end(
    seconds: float, burst: int, use_gso: bool, use_gro: bool
) -> dict[str, float | str]:
    loop = asyncio.get_running_loop()
    received = [0]
    arrived = asyncio.Event()

    def on_receive(batch: list[ReceivedDatagram]) -> None:
        received[0] += len(batch)
        arrived.set()

    receiver = UdpDatapath.bind(
        (LOCALHOST, 0),
        loop=loop,
        on_receive=on_receive,
        use_gro=use_gro,
        receive_buffer_bytes=BIG_BUFFER_BYTES,
    )
    sender = UdpDatapath.bind((LOCALHOST, 0), loop=loop, on_receive=on_receive, use_gso=use_gso)
    batch = [(bytes(DATAGRAM_BYTES), receiver.local_address)] * burst
    lost_bursts = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        target = received[0] + burst
        sender.send(batch)
        while received[0] < target:
            arrived.clear()
            try:
                await asyncio.wait_for(arrived.wait(), BURST_TIMEOUT_S)
            except TimeoutError:
                lost_bursts += 1
                break
    elapsed = time.perf_counter() - start
    tx, rx = sender.statistics, receiver.statistics
    sender.close()
    receiver.close()
    gso = "GSO" if tx.gso_batches else "no GSO"
    gro = "GRO" if rx.gro_batches else "no GRO"
    return _row(
        f"end-to-end, {gso}, {gro}",
        received[0],
        elapsed,
        sendmsg_calls=tx.send_calls,
        recvmsg_calls=rx.receive_calls,
        lost_bursts=lost_bursts,
    )


def _best(rows: list[dict[str, float | str]]) -> dict[str, float | str]:
    return max(rows, key=lambda row: float(row["mb_per_s"]))


async def run_all(seconds: float, repeat: int, burst: int) -> list[dict[str, float | str]]:
    results = [_best([bench_raw_sendto(seconds, burst) for _ in range(repeat)])]
    for use_gso in (False, True):
        results.append(_best([await bench_send(seconds, burst, use_gso) for _ in range(repeat)]))
    for use_gso, use_gro in ((False, False), (True, False), (True, True)):
        runs = [await bench_end_to_end(seconds, burst, use_gso, use_gro) for _ in range(repeat)]
        results.append(_best(runs))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="duration of each run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per row (best is kept)")
    parser.add_argument("--burst", type=int, default=40, help="datagrams per send call")
    args = parser.parse_args(argv)

    features = detect_features()
    rows = asyncio.run(run_all(args.seconds, args.repeat, args.burst))
    print(f"{DATAGRAM_BYTES}-byte datagrams over loopback, bursts of {args.burst}, {features}")
    print(f"{'row':<34}{'MB/s':>9}{'datagrams/s':>14}{'sendmsg':>10}{'recvmsg':>10}")
    for row in rows:
        recvmsg = f"{row['recvmsg_calls']:>10}" if "recvmsg_calls" in row else f"{'':>10}"
        print(
            f"{row['name']!s:<34}{float(row['mb_per_s']):>9.1f}"
            f"{float(row['datagrams_per_s']):>14,.0f}{row['sendmsg_calls']:>10}{recvmsg}"
        )

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "udp_loopback",
        "unit": "MB/s (10^6 payload bytes per second)",
        "datagram_bytes": DATAGRAM_BYTES,
        "burst": args.burst,
        "seconds": args.seconds,
        "repeat": args.repeat,
        "features": features._asdict(),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "results": rows,
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
