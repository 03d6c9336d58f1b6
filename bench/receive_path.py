"""Benchmark: a client's CPU per received 1-RTT packet in a bulk download (the receive path).

A real client and server complete a handshake on the simulated network; then this script plays
the server: it protects, with the server's 1-RTT keys, full-size (1472-byte) packets each carrying
one STREAM frame of the server's first unidirectional stream, in order, and hands them to the
client's ``receive_datagram`` one by one.  Only that call is timed; between calls the client
drains its events, reads the stream and, every second packet, sends what it has (ACKs,
MAX_STREAM_DATA), as an application reading a download would.

Two mixes: ``stream_only`` (every packet one STREAM frame) and ``with_ack_max_data`` (every 8th
packet also carries an ACK of the client's packets and a MAX_DATA, which take the generic path).
Each row gives the median and the mean microseconds per packet (best of ``--repeat`` runs; the
median resists the noise of a shared machine) and the Python function calls per packet
(cProfile, one extra run).  Writes bench/results/receive_path.json.

Run: .venv/bin/python bench/receive_path.py [--packets N] [--repeat N] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import platform
import pstats
import time
from pathlib import Path

import cryptography

from pyquic.core.connection import Connection
from pyquic.core.frames import AckFrame, MaxDataFrame, StreamFrame
from pyquic.core.levels import EncryptionLevel, PacketSpace
from pyquic.core.packet_protection import protect_packet
from pyquic.core.settings import Settings
from pyquic.core.varint import varint_size
from pyquic.testing.pair import ConnectionPair, connection_pair

DATAGRAM_SIZE = 1472
STREAM_ID = 3  # the server's first unidirectional stream
PN_LENGTH = 2
EXTRA_EVERY = 8  # with_ack_max_data: one packet in 8 also carries ACK + MAX_DATA
RESULTS = Path(__file__).resolve().parent / "results" / "receive_path.json"


class Server:
    """Protects the packets the real server would send, with its keys and packet numbers."""

    def __init__(self, pair: ConnectionPair, extra_every: int) -> None:
        server = pair.server
        keys = server.keys.send_keys(EncryptionLevel.APPLICATION)
        assert keys is not None and server.peer_cids is not None
        self.client = pair.client
        self.keys = keys
        self.dcid = server.peer_cids.current
        self.packet_number = server.next_packet_number[PacketSpace.APPLICATION]
        self.first_byte = 0x40 | (PN_LENGTH - 1) | (server.keys.key_phase << 2)
        self.header_length = 1 + len(self.dcid) + PN_LENGTH
        self.payload_length = DATAGRAM_SIZE - self.header_length - 16
        self.offset = 0
        self.extra_every = extra_every
        self.count = 0

    def next_datagram(self) -> bytes:
        payload = bytearray()
        self.count += 1
        if self.extra_every and self.count % self.extra_every == 0:
            largest = self.client.next_packet_number[PacketSpace.APPLICATION] - 1
            if largest >= 0:
                AckFrame(ranges=((0, largest),), ack_delay=0).encode(payload)
            MaxDataFrame(1 << 40).encode(payload)
        offset = self.offset
        size = self.payload_length - len(payload) - 2 - (varint_size(offset) if offset else 0)
        data = bytes([self.count & 0xFF]) * size
        StreamFrame(STREAM_ID, offset, data, explicit_length=False).encode(payload)
        self.offset += size
        number = self.packet_number
        self.packet_number += 1
        header = bytes([self.first_byte]) + self.dcid + (number & 0xFFFF).to_bytes(2, "big")
        buf = bytearray(header + payload + bytes(16))
        protect_packet(self.keys, buf, self.header_length, number, PN_LENGTH, len(payload))
        return bytes(buf)


def _established_pair() -> ConnectionPair:
    settings = Settings(
        peer_bidi_stream_count=100, peer_unidi_stream_count=100, stream_recv_window_default=1 << 24
    )
    pair = connection_pair(seed=7, client_settings=settings)
    client, server = pair.client, pair.server
    pair.run(lambda: client.handshake_confirmed and server.handshake_confirmed)
    pair.run_for(200_000)
    return pair


def _drain(client: Connection) -> int:
    while client.poll_event() is not None:
        pass
    return len(client.read_stream(STREAM_ID)[0])


def run(packets: int, extra_every: int, profile: cProfile.Profile | None = None) -> list[float]:
    """Seconds spent in ``receive_datagram`` for each packet."""
    pair = _established_pair()
    client = pair.client
    server = Server(pair, extra_every)
    now = pair.network.now_us
    address = pair.server_address
    clock = time.perf_counter
    times: list[float] = []
    received = 0
    for index in range(packets):
        datagram = server.next_datagram()
        now += 10
        if profile is not None:
            profile.enable()
        start = clock()
        client.receive_datagram(datagram, address, now)
        times.append(clock() - start)
        if profile is not None:
            profile.disable()
        received += _drain(client)
        if index & 1:
            client.datagrams_to_send(now)
    if received != server.offset:
        raise RuntimeError(f"the client read {received} of {server.offset} bytes")
    return times


def measure(packets: int, repeat: int, extra_every: int) -> dict[str, float]:
    medians, means = [], []
    for _ in range(repeat):
        times = sorted(run(packets, extra_every))
        medians.append(times[len(times) // 2] * 1e6)
        means.append(sum(times) / len(times) * 1e6)
    profile = cProfile.Profile()
    run(packets, extra_every, profile)
    calls: float = pstats.Stats(profile).total_calls / packets
    return {"median_us": min(medians), "mean_us": min(means), "calls_per_packet": calls}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="print the top cProfile entries")
    args = parser.parse_args()
    if args.profile:
        profile = cProfile.Profile()
        run(args.packets, 0, profile)
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
        return
    results = {
        "stream_only": measure(args.packets, args.repeat, 0),
        "with_ack_max_data": measure(args.packets, args.repeat, EXTRA_EVERY),
    }
    for name, row in results.items():
        print(
            f"{name:18} median {row['median_us']:6.2f} us/packet  mean {row['mean_us']:6.2f}"
            f"  {row['calls_per_packet']:6.1f} calls/packet"
        )
    RESULTS.parent.mkdir(exist_ok=True)
    report = {
        "benchmark": "receive_path",
        "unit": "microseconds per received 1-RTT packet (client receive_datagram)",
        "datagram_size": DATAGRAM_SIZE,
        "packets": args.packets,
        "repeat": args.repeat,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "cryptography": cryptography.__version__,
        "results": results,
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
