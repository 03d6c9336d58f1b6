"""What the pyquic driver scripts share."""

from __future__ import annotations

import atexit
import socket
import struct
import time
from collections.abc import Sequence

from hq import SUITE_NAMES

from pyquic.aio import QuicConnection
from pyquic.core.levels import EncryptionLevel
from pyquic.platform import datapath


def suite_of(connection: QuicConnection) -> str:
    """The negotiated cipher suite's name, from the connection's 1-RTT send keys."""
    keys = connection._core.keys.send_keys(EncryptionLevel.APPLICATION)
    return SUITE_NAMES.get(int(keys.suite), "?") if keys is not None else "none"


def disable_gso() -> None:
    """Send one datagram per sendmsg call.

    On loopback a capture sees a GSO send as one oversized UDP datagram (segmentation never
    happens on ``lo``), which Wireshark cannot split into its QUIC packets.  pyquic has no public
    switch for GSO (``Binding.open`` does not pass ``use_gso`` to the datapath), so this replaces
    the process-wide feature detection the datapath consults.
    """
    detected = datapath.detect_features()._replace(gso=False)
    datapath.detect_features = lambda: detected


PCAP_LINKTYPE_RAW = 101  # each record is an IP packet (tcpdump.org/linktypes.html)


def _ipv4_checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4_udp_packet(source: tuple[str, int], destination: tuple[str, int], payload: bytes) -> bytes:
    """An IPv4 + UDP packet around ``payload`` (UDP checksum 0: none, RFC 768)."""
    udp = struct.pack("!HHHH", source[1], destination[1], 8 + len(payload), 0) + payload
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(udp),
        0,
        0x4000,  # DF
        64,
        17,  # UDP
        0,
        socket.inet_aton(source[0]),
        socket.inet_aton(destination[0]),
    )
    checksum = _ipv4_checksum(header)
    return header[:10] + struct.pack("!H", checksum) + header[12:] + udp


class PcapWriter:
    """A classic pcap file (microsecond timestamps) of raw IPv4 packets."""

    def __init__(self, path: str) -> None:
        self._file = open(path, "wb")  # noqa: SIM115 - closed at exit
        self._file.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, PCAP_LINKTYPE_RAW))
        atexit.register(self._file.close)

    def write(self, packet: bytes) -> None:
        now = time.time()
        seconds, microseconds = int(now), int((now % 1) * 1_000_000)
        self._file.write(struct.pack("<IIII", seconds, microseconds, len(packet), len(packet)))
        self._file.write(packet)
        self._file.flush()


def record_sent_datagrams(path: str) -> None:
    """Write every datagram this process's pyquic datapaths send to a pcap file at ``path``.

    For when capturing on loopback is impossible (no privileges): the datagrams as pyquic handed
    them to the kernel (before GSO), in IPv4 + UDP framing with the real ports.
    """
    writer = PcapWriter(path)
    send = datapath.UdpDatapath.send

    def recording_send(
        self: datapath.UdpDatapath,
        datagrams: Sequence[tuple[bytes, datapath.SocketAddress]],
        *,
        ecn: int = 0,
    ) -> None:
        host, port = self.local_address[0], self.local_address[1]
        source = ("127.0.0.1" if host in ("0.0.0.0", "") else str(host), int(port))
        for payload, destination in datagrams:
            target = (str(destination[0]), int(destination[1]))
            writer.write(ipv4_udp_packet(source, target, bytes(payload)))
        send(self, datagrams, ecn=ecn)

    datapath.UdpDatapath.send = recording_send  # type: ignore[method-assign]


STATISTICS = (
    "rtt_us",
    "send_total_packets",
    "send_suspected_lost_packets",
    "send_spurious_lost_packets",
    "send_congestion_count",
    "recv_total_packets",
    "recv_dropped_packets",
    "recv_duplicate_packets",
    "recv_decryption_failures",
)


def statistics_of(connection: QuicConnection) -> dict[str, object]:
    """A few of the connection's counters, for the ``conn-stats`` status line."""
    everything = connection.statistics
    return {name: everything.get(name) for name in STATISTICS}
