"""Send a stream of garbage datagrams and damaged QUIC Initials to a server.

The Initials are real: each comes from a pyquic client connection (its first flight, a padded
ClientHello under Initial protection) and is then damaged one of several ways: truncated, bytes
flipped in the protected payload or in the header, the Length, CID length or version rewritten,
junk coalesced after it.  A few (``--valid``) are sent intact, so the server opens connections
that never complete.  The rest is random bytes, v1 long headers over random bytes, short headers
for unknown CIDs and empty datagrams.  Prints ``sending`` once the first batch is out and
``sent total=N ...`` (per kind) when it stops: on SIGTERM or SIGINT, or after ``--duration``.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import signal
import socket
import sys
import time
from collections.abc import Callable

from hq import report

from pyquic.core.endpoint import Endpoint
from pyquic.core.packet_header import LongHeader, parse_header
from pyquic.core.settings import Settings
from pyquic.platform.crypto import CryptoProvider
from pyquic.platform.tls import ClientSession, NoVerification, TlsConfig

CID_LENGTH = Settings().local_cid_length


def real_initials(count: int, address: tuple[str, int]) -> list[bytes]:
    """The first datagram of ``count`` fresh pyquic client connections to ``address``."""
    endpoint = Endpoint(
        settings=Settings(),
        crypto=CryptoProvider(),
        rng=random.Random(os.urandom(16)),
        stateless_reset_key=os.urandom(32),
    )
    config = TlsConfig(
        is_client=True,
        alpn_protocols=(b"hq-interop",),
        server_name="localhost",
        verifier=NoVerification(),
    )
    now_us = time.monotonic_ns() // 1000
    for _ in range(count):
        endpoint.connect(address, lambda params: ClientSession(config, params), now_us)
    datagrams = [data for data, _ in endpoint.datagrams_to_send(now_us)]
    for data in datagrams:
        header = parse_header(data, short_dcid_length=CID_LENGTH)
        assert isinstance(header, LongHeader), "a client's first datagram is an Initial"
    return datagrams


class Forge:
    """Damaged Initials and garbage, drawn from a seeded generator."""

    def __init__(self, initials: list[bytes], rng: random.Random) -> None:
        self.initials = initials
        self.rng = rng
        self.kinds: list[tuple[str, Callable[[bytes, LongHeader], bytes]]] = [
            ("truncated", self.truncated),
            ("payload_flipped", self.payload_flipped),
            ("header_flipped", self.header_flipped),
            ("length_rewritten", self.length_rewritten),
            ("cid_too_long", self.cid_too_long),
            ("unknown_version", self.unknown_version),
            ("junk_coalesced", self.junk_coalesced),
            ("random", lambda d, h: self.junk(self.rng.randrange(1, 1500))),
            ("v1_long_junk", self.v1_long_junk),
            ("short_header", self.short_header),
            ("empty", lambda d, h: b""),
        ]

    def junk(self, size: int) -> bytes:
        return self.rng.randbytes(size)

    def flip(self, data: bytes, start: int, end: int, count: int) -> bytes:
        out = bytearray(data)
        for _ in range(count):
            position = self.rng.randrange(start, end)
            out[position] ^= self.rng.randrange(1, 256)
        return bytes(out)

    def truncated(self, data: bytes, header: LongHeader) -> bytes:
        return data[: self.rng.randrange(1, len(data))]

    def payload_flipped(self, data: bytes, header: LongHeader) -> bytes:
        return self.flip(data, header.pn_offset + 4, header.packet_end, self.rng.randrange(1, 9))

    def header_flipped(self, data: bytes, header: LongHeader) -> bytes:
        return self.flip(data, 0, header.pn_offset + 4, 1)

    def length_rewritten(self, data: bytes, header: LongHeader) -> bytes:
        out = bytearray(data)
        length = header.packet_end - header.pn_offset
        value = self.rng.choice((0, 1, 19, length + 1, 0x3FFF, self.rng.randrange(0x4000)))
        if value == length:
            value -= 1  # the true Length would leave the packet intact
        # a 1200-byte Initial's Length is a two-byte varint just before the packet number
        out[header.pn_offset - 2 : header.pn_offset] = (0x4000 | value).to_bytes(2)
        return bytes(out)

    def cid_too_long(self, data: bytes, header: LongHeader) -> bytes:
        out = bytearray(data)
        out[5] = self.rng.randrange(21, 256)  # the DCID length byte (RFC 9000 §17.2)
        return bytes(out)

    def unknown_version(self, data: bytes, header: LongHeader) -> bytes:
        out = bytearray(data)
        out[1:5] = self.rng.choice((0x1A2A3A4A, 0xFF00001D, 0x00000002)).to_bytes(4)
        if self.rng.random() < 0.5:
            out = out[: self.rng.randrange(7, len(out))]  # below 1200 bytes: not answered
        return bytes(out)

    def junk_coalesced(self, data: bytes, header: LongHeader) -> bytes:
        damaged = self.payload_flipped(data, header)
        return damaged + bytes([0xC0 | self.rng.randrange(64)]) + self.junk(100)

    def v1_long_junk(self, data: bytes, header: LongHeader) -> bytes:
        first = bytes([0xC0 | self.rng.randrange(64)])
        return first + b"\x00\x00\x00\x01" + self.junk(self.rng.randrange(0, 1300))

    def short_header(self, data: bytes, header: LongHeader) -> bytes:
        return bytes([0x40 | self.rng.randrange(64)]) + self.junk(self.rng.randrange(8, 1300))

    def next(self) -> tuple[str, bytes]:
        data = self.rng.choice(self.initials)
        header = parse_header(data, short_dcid_length=CID_LENGTH)
        assert isinstance(header, LongHeader)
        name, make = self.rng.choice(self.kinds)
        return name, make(data, header)


def main(args: argparse.Namespace) -> int:
    address = (args.host, args.port)
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4))
    rng = random.Random(seed)
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    initials = real_initials(args.initials, address)
    counts: collections.Counter[str] = collections.Counter()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    for data in initials[: args.valid]:  # intact: the server opens connections that never finish
        sock.sendto(data, address)
        counts["valid_initial"] += 1
    forge = Forge(initials, rng)
    batch = max(1, args.rate // 100)
    deadline = time.monotonic() + args.duration
    announced = False
    while not stopping and time.monotonic() < deadline:
        for _ in range(batch):
            name, data = forge.next()
            try:
                sock.sendto(data, address)
                counts[name] += 1
            except BlockingIOError:
                counts["send_blocked"] += 1
        if not announced:
            report("sending", seed=seed, port=args.port)
            announced = True
        time.sleep(0.01)
    sent = sum(count for name, count in counts.items() if name != "send_blocked")
    report("sent", total=sent, **dict(sorted(counts.items())))
    sock.close()
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=int, default=3000, help="datagrams per second, roughly")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--initials", type=int, default=24, help="real Initials to damage")
    parser.add_argument("--valid", type=int, default=4, help="of which sent intact")
    parser.add_argument("--seed", type=int)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main(parse_args(sys.argv[1:])))
