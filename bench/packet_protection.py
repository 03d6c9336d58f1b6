"""Benchmark: microseconds per 1200-byte packet for QUIC packet protection, per cipher suite.

Rows: ``protect`` and ``unprotect`` (pyquic.core.packet_protection, the full per-packet path: AEAD
plus header protection), and for perspective the raw AEAD seal/open and the header protection mask
alone.  Each figure is the best of several timeit repeats (the least disturbed run), divided by the
loop count.  Prints a table and writes bench/results/packet_protection.json.

Run: .venv/bin/python bench/packet_protection.py [--repeat N] [--number N]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import timeit
from collections.abc import Callable
from pathlib import Path

import cryptography

from pyquic.core.packet_protection import protect_packet, unprotect_packet
from pyquic.core.version import V1
from pyquic.platform.crypto import CipherSuite, QuicPacketKeys

PACKET_SIZE = 1200
DCID = bytes(range(8))
PN_OFFSET = 1 + len(DCID)
PN_LENGTH = 2
RESULTS = Path(__file__).resolve().parent / "results" / "packet_protection.json"


def _short_header(pn: int) -> bytes:
    # 1-RTT header (RFC 9000 §17.3.1): fixed bit, 2-byte packet number
    return bytes((0x40 | (PN_LENGTH - 1),)) + DCID + (pn & 0xFFFF).to_bytes(2, "big")


def _best_us(func: Callable[[], object], repeat: int, number: int) -> float:
    return min(timeit.repeat(func, repeat=repeat, number=number)) / number * 1e6


def bench_suite(suite: CipherSuite, repeat: int, number: int) -> dict[str, float]:
    keys = QuicPacketKeys.from_secret(suite, bytes(range(suite.hash_length)), V1)
    header = _short_header(1000)
    header_length = len(header)
    payload_length = PACKET_SIZE - header_length - 16
    template = header + bytes(payload_length) + bytes(16)
    buf = bytearray(template)

    def protect() -> None:
        buf[:] = template  # a fresh plaintext each time, as a sender would have
        protect_packet(keys, buf, header_length, 1000, PN_LENGTH, payload_length)

    def copy_only() -> None:
        buf[:] = template

    packet = bytearray(template)
    protect_packet(keys, packet, header_length, 1000, PN_LENGTH, payload_length)
    wire = bytes(packet)
    assert unprotect_packet(keys, wire, PN_OFFSET, 999) is not None

    def unprotect() -> None:
        unprotect_packet(keys, wire, PN_OFFSET, 999)

    aead = keys.aead
    ciphertext = wire[header_length:]

    def aead_seal() -> None:
        aead.seal_into(1000, buf, header_length, payload_length)

    def aead_open() -> None:
        aead.open(1000, header, ciphertext)

    hp = keys.header_protection
    sample = wire[PN_OFFSET + 4 : PN_OFFSET + 20]

    def hp_mask() -> None:
        hp.mask(sample)

    copy_us = _best_us(copy_only, repeat, number)
    return {
        # the buffer refill is not part of protection: subtract it
        "protect_us": _best_us(protect, repeat, number) - copy_us,
        "unprotect_us": _best_us(unprotect, repeat, number),
        "aead_seal_us": _best_us(aead_seal, repeat, number),
        "aead_open_us": _best_us(aead_open, repeat, number),
        "hp_mask_us": _best_us(hp_mask, repeat, number),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timeit repeats (best is kept)")
    parser.add_argument("--number", type=int, default=20000, help="calls per repeat")
    args = parser.parse_args(argv)

    results = {suite.name: bench_suite(suite, args.repeat, args.number) for suite in CipherSuite}
    columns = ["protect_us", "unprotect_us", "aead_seal_us", "aead_open_us", "hp_mask_us"]
    print(f"µs per {PACKET_SIZE}-byte packet (best of {args.repeat} x {args.number})")
    print(f"{'suite':<26}" + "".join(f"{c.removesuffix('_us'):>11}" for c in columns))
    for name, row in results.items():
        print(f"{name:<26}" + "".join(f"{row[c]:>11.2f}" for c in columns))

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "packet_protection",
        "unit": "microseconds per packet",
        "packet_size": PACKET_SIZE,
        "repeat": args.repeat,
        "number": args.number,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "cryptography": cryptography.__version__,
        "results": results,
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
