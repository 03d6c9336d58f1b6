"""An impairment relay for the local interop runner: the network simulator's link, in one process.

``python -m pyquic.tools.interop_relay --server HOST:PORT`` listens on a loopback UDP port and
forwards datagrams between the clients and the server, through one :class:`Link` per direction
that models the public runner's ns-3 bottleneck (``/work/shared/design/interop-runner.md`` §1):
the default is 10 Mbit/s serialisation with a 25-packet drop-tail queue and 15 ms one-way delay.
On top of it, per-case impairments (:class:`Impairments`): a drop rate and a corruption rate in
percent per direction with at most 3 impaired packets in a row (corruption flips one byte among
the first 50 and spares Version Negotiation packets), a blackhole window (every packet in both
directions dropped from ``on`` to ``on + off`` seconds after start) and a list of client-to-server
packet numbers to drop (amplificationlimit).  Each client address gets its own upstream socket,
so that several connections (multiconnect) map back to the right client.  A rebinding NAT
(:class:`Rebinding`, rebind-port and rebind-addr): from ``--first-rebind`` seconds after start and
then every ``--rebind-freq`` seconds, each client's upstream socket is replaced by a new one (a new
source port; with ``--rebind-addr`` also a new source address in 127.0.0.0/8, IPv4 only) and
server packets to the old binding are dropped, as in the network simulator's ``rebind`` scenario.

Sockets are :class:`~pyquic.platform.datapath.UdpDatapath` s, not asyncio transports, because the
relay must read each datagram's ECN codepoint (IP_RECVTOS / IPV6_RECVTCLASS, RFC 3168 §5) and send
it on unchanged (RFC 9000 §13.4 needs the marks end to end for the ``ecn`` case); the ns-3 link
never marks CE, and neither does :class:`Link`.  A rebinding keeps the old upstream socket open,
so that what the server still sends to the old binding is received (and recorded) but dropped.

``--pcap-dir DIR`` records the two legs as the public runner's simulator does on its two
interfaces: ``client-side.pcap`` (client <-> relay) and ``server-side.pcap`` (relay <-> server),
classic pcap (:class:`PcapWriter`, LINKTYPE_RAW) with the legs' real addresses and ports, the
datagram's ECN codepoint in the IP header and wall-clock timestamps.  A datagram is recorded on the
leg it arrived on when received, so one the link drops appears on that leg only; it is recorded on
the other leg when (and as) it is sent there, corrupted bytes included.
:mod:`pyquic.tools.interop_checks` reads the files.

It prints ``listening on HOST:PORT`` when ready; on SIGTERM or SIGINT it prints one JSON line of
statistics (per direction: packets received, forwarded, dropped by loss, queue or blackhole,
corrupted; plus the delivery times of the first and last server-to-client short-header packet,
which the runner turns into goodput the way the public runner reads its client-side pcap; with
``--pcap-dir``, the records written per leg).  No QUIC parsing beyond the first byte and the
version field.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import ipaddress
import json
import random
import signal
import socket
import struct
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pyquic.platform.datapath import ReceivedDatagram, SocketAddress, UdpDatapath

__all__ = [
    "CLIENT_SIDE_PCAP",
    "SERVER_SIDE_PCAP",
    "Impairments",
    "Link",
    "LinkStats",
    "PcapWriter",
    "Rebinding",
    "Relay",
    "main",
]

Address = tuple[str, int]

DEFAULT_BANDWIDTH_BPS = 10_000_000
DEFAULT_QUEUE_PACKETS = 25
DEFAULT_DELAY_S = 0.015
MAX_IMPAIRED_IN_A_ROW = 3
CORRUPT_PREFIX = 50
MAX_DATAGRAM = 65536
CLIENT_SIDE_PCAP = "client-side.pcap"
SERVER_SIDE_PCAP = "server-side.pcap"
_PCAP_HEADER = struct.Struct("<IHHiIII")  # magic, version 2.4, zone, sigfigs, snaplen, linktype
_PCAP_RECORD = struct.Struct("<IIII")  # seconds, microseconds, captured and original lengths
_PCAP_SNAPLEN = 262_144
_LINKTYPE_RAW = 101  # raw IPv4 or IPv6, told apart by the version nibble


@dataclass
class LinkStats:
    """What one direction did with its packets."""

    received: int = 0
    forwarded: int = 0
    dropped_loss: int = 0
    dropped_queue: int = 0
    dropped_blackhole: int = 0
    dropped_list: int = 0
    corrupted: int = 0
    first_short_s: float | None = None  # delivery time of the first short-header packet
    last_short_s: float | None = None


@dataclass(frozen=True)
class Impairments:
    """A direction's impairments on top of the shaped link."""

    drop_percent: float = 0.0
    corrupt_percent: float = 0.0
    blackhole: tuple[float, float] | None = None  # (on, off) seconds after the relay starts
    drop_numbers: frozenset[int] = field(default_factory=frozenset)  # 1-based packet numbers


@dataclass(frozen=True)
class Rebinding:
    """A NAT giving each client a new upstream binding at ``first_s``, then every ``every_s``."""

    first_s: float = 1.0
    every_s: float = 5.0
    new_address: bool = False  # also a new source address in 127.0.0.0/8 (IPv4 only)


def _is_version_negotiation(data: bytes) -> bool:
    return len(data) >= 5 and data[0] & 0x80 != 0 and data[1:5] == b"\x00\x00\x00\x00"


class Link:
    """One direction: impairments, then a drop-tail queue drained at ``bandwidth``, then delay.

    Pure and clock-free: :meth:`admit` takes the current time and returns the delivery time (or
    None when the packet is dropped) and the possibly corrupted bytes, so it is testable without
    sockets.
    """

    def __init__(
        self,
        bandwidth_bps: float = DEFAULT_BANDWIDTH_BPS,
        queue_packets: int = DEFAULT_QUEUE_PACKETS,
        delay_s: float = DEFAULT_DELAY_S,
        impairments: Impairments | None = None,
        seed: int | None = None,
    ) -> None:
        self.bandwidth_bps = bandwidth_bps
        self.queue_packets = queue_packets
        self.delay_s = delay_s
        self.impairments = impairments or Impairments()
        self.stats = LinkStats()
        self._random = random.Random(seed)
        self._departures: deque[float] = deque()  # when each queued packet leaves the queue
        self._busy_until = 0.0
        self._drops_in_a_row = 0
        self._corrupts_in_a_row = 0

    def _roll(self, percent: float, in_a_row: int) -> bool:
        if percent <= 0 or in_a_row >= MAX_IMPAIRED_IN_A_ROW:
            return False
        return self._random.random() * 100 < percent

    def _impair(self, elapsed: float, data: bytes) -> bytes | None:
        """``data``, possibly corrupted, or None when an impairment drops it."""
        imp, stats = self.impairments, self.stats
        if stats.received in imp.drop_numbers:
            stats.dropped_list += 1
            return None
        if imp.blackhole is not None and imp.blackhole[0] <= elapsed < sum(imp.blackhole):
            stats.dropped_blackhole += 1
            return None
        if self._roll(imp.drop_percent, self._drops_in_a_row):
            self._drops_in_a_row += 1
            stats.dropped_loss += 1
            return None
        self._drops_in_a_row = 0
        if not _is_version_negotiation(data) and self._roll(
            imp.corrupt_percent, self._corrupts_in_a_row
        ):
            self._corrupts_in_a_row += 1
            stats.corrupted += 1
            corrupted = bytearray(data)
            index = self._random.randrange(min(len(data), CORRUPT_PREFIX))
            corrupted[index] ^= self._random.randrange(1, 256)
            return bytes(corrupted)
        self._corrupts_in_a_row = 0
        return data

    def admit(self, now: float, data: bytes, elapsed: float = 0.0) -> tuple[float, bytes] | None:
        """The delivery time and bytes of ``data`` sent at ``now``, or None when dropped.

        ``elapsed`` is the time since the relay started (for the blackhole window).
        """
        self.stats.received += 1
        impaired = self._impair(elapsed, data) if data else data
        if impaired is None:
            return None
        while self._departures and self._departures[0] <= now:
            self._departures.popleft()
        if len(self._departures) >= self.queue_packets:
            self.stats.dropped_queue += 1
            return None
        departure = max(now, self._busy_until) + len(data) * 8 / self.bandwidth_bps
        self._busy_until = departure
        self._departures.append(departure)
        self.stats.forwarded += 1
        return departure + self.delay_s, impaired


class PcapWriter:
    """A classic pcap file (LINKTYPE_RAW) of UDP datagrams with synthesized IP and UDP headers.

    Each record is an IPv4 header (or IPv6 when either address is IPv6 and not IPv4-mapped) whose
    ECN bits (RFC 3168 §5: the low two bits of the TOS / Traffic Class byte) are the datagram's
    codepoint, then a UDP header with the true length and checksum (RFC 768), then the payload,
    stamped with the wall clock.  Buffered; :meth:`close` flushes.
    """

    def __init__(self, path: Path) -> None:
        self._file = path.open("wb")
        self._file.write(_PCAP_HEADER.pack(0xA1B2C3D4, 2, 4, 0, 0, _PCAP_SNAPLEN, _LINKTYPE_RAW))
        self.records = 0

    def write(self, source: Address, destination: Address, payload: bytes, ecn: int) -> None:
        """Append one datagram from ``source`` to ``destination`` carrying ECN ``ecn``."""
        packet = _ip_packet(source, destination, payload, ecn & 0b11)
        now = time.time()
        seconds = int(now)
        micros = min(int((now - seconds) * 1e6), 999_999)
        self._file.write(_PCAP_RECORD.pack(seconds, micros, len(packet), len(packet)) + packet)
        self.records += 1

    def close(self) -> None:
        """Flush and close the file.  Idempotent."""
        if not self._file.closed:
            self._file.close()


def _checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``: the one's complement of the 16-bit sum."""
    if len(data) % 2:
        data += b"\x00"
    value = int.from_bytes(data, "big")
    folded = value % 0xFFFF  # 65536 ≡ 1 (mod 65535): the end-around-carry sum of the words
    if folded == 0 and value:
        folded = 0xFFFF
    return ~folded & 0xFFFF


def _ip_packet(source: Address, destination: Address, payload: bytes, ecn: int) -> bytes:
    src, dst = ipaddress.ip_address(source[0]), ipaddress.ip_address(destination[0])
    if isinstance(src, ipaddress.IPv6Address) and src.ipv4_mapped is not None:
        src = src.ipv4_mapped
    if isinstance(dst, ipaddress.IPv6Address) and dst.ipv4_mapped is not None:
        dst = dst.ipv4_mapped
    if src.version != dst.version:  # one IPv6, one IPv4: both as IPv6
        src, dst = (
            ipaddress.IPv6Address(f"::ffff:{a}") if a.version == 4 else a for a in (src, dst)
        )
    udp_length = 8 + len(payload)
    if src.version == 4:
        pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, 17, udp_length)
    else:
        pseudo = src.packed + dst.packed + struct.pack("!IxxxB", udp_length, 17)
    udp = struct.pack("!HHHH", source[1], destination[1], udp_length, 0) + payload
    checksum = _checksum(pseudo + udp) or 0xFFFF  # RFC 768: a computed 0 is sent as all ones
    udp = udp[:6] + checksum.to_bytes(2, "big") + udp[8:]
    if src.version == 4:
        header = struct.pack("!BBHHHBBH", 0x45, ecn, 20 + udp_length, 0, 0x4000, 64, 17, 0)
        header += src.packed + dst.packed
        header = header[:10] + _checksum(header).to_bytes(2, "big") + header[12:]
        return header + udp
    first_word = 6 << 28 | ecn << 20
    return struct.pack("!IHBB", first_word, udp_length, 17, 64) + src.packed + dst.packed + udp


class _Capture:
    """The two legs' pcap files (``client-side.pcap``, ``server-side.pcap``) in one directory."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.client_side = PcapWriter(directory / CLIENT_SIDE_PCAP)
        self.server_side = PcapWriter(directory / SERVER_SIDE_PCAP)

    def close(self) -> None:
        self.client_side.close()
        self.server_side.close()


def _plain(address: SocketAddress) -> Address:
    return str(address[0]), int(address[1])


class _Upstream:
    """The relay's socket towards the server for one client (a NAT binding).

    A connected socket, so the kernel picks (and reports) the real source address; its datapath
    reads each datagram's ECN codepoint (IP_RECVTOS / IPV6_RECVTCLASS) and sets it on send.
    """

    def __init__(
        self, relay: Relay, listener: _Listener, client: Address, local_host: str | None
    ) -> None:
        self.relay, self.listener, self.client = relay, listener, client
        self.server = listener.server
        self.current = True  # False once rebound: the server's packets to it are dropped
        family = socket.AF_INET6 if ":" in self.server[0] else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if local_host is not None:
                sock.bind((local_host, 0))
            sock.connect(self.server)
            self.datapath = UdpDatapath.from_socket(
                sock, loop=relay.loop, on_receive=self._received, use_gso=False
            )
        except BaseException:
            sock.close()
            raise
        self.address = _plain(self.datapath.local_address)

    def _received(self, batch: list[ReceivedDatagram]) -> None:
        for datagram in batch:
            self.relay.from_server(self, datagram.data, datagram.ecn)

    def send(self, payload: bytes, ecn: int) -> None:
        """Send ``payload`` to the server with ``ecn`` (recorded as sent on the server leg)."""
        ecn = ecn if self.datapath.features.ecn else 0
        self.datapath.send([(payload, self.server)], ecn=ecn)
        if self.relay.capture is not None:
            self.relay.capture.server_side.write(self.address, self.server, payload, ecn)


class _Listener:
    """A listening socket of the relay and the server address it forwards to."""

    def __init__(self, relay: Relay, local: Address, server: Address) -> None:
        self.server = server
        self.datapath = UdpDatapath.bind(
            local,
            loop=relay.loop,
            on_receive=functools.partial(relay._from_clients, self),
            use_gso=False,
        )
        self.address = _plain(self.datapath.local_address)


class Relay:
    """Forwards datagrams between clients (on the listening socket) and one server.

    Open it with :meth:`listen` on a running event loop.  With ``pcap_dir`` it records both legs
    (:class:`PcapWriter`): a datagram is written on the leg where the relay received it, before
    the link may drop it, and on the other leg only when the relay sends it on.
    """

    def __init__(
        self,
        server: Address,
        to_server: Link,
        to_client: Link,
        rebinding: Rebinding | None = None,
        pcap_dir: Path | None = None,
    ) -> None:
        self.server = server
        self.rebinding = rebinding
        self.rebinds = 0
        self.links = {"to_server": to_server, "to_client": to_client}
        self.capture = None if pcap_dir is None else _Capture(pcap_dir)
        self.listeners: list[_Listener] = []
        self._upstreams: dict[tuple[Address, Address], _Upstream] = {}  # (client, server)
        self._retired: list[_Upstream] = []
        self.loop = asyncio.get_running_loop()
        self._started = self.loop.time()
        self._random = random.Random()
        self._rebind_timer: asyncio.TimerHandle | None = None
        if rebinding is not None:
            self._rebind_timer = self.loop.call_at(
                self._started + rebinding.first_s, self._rebind_all
            )

    @classmethod
    def listen(
        cls,
        local: Address,
        server: Address,
        to_server: Link,
        to_client: Link,
        rebinding: Rebinding | None = None,
        pcap_dir: Path | None = None,
    ) -> Relay:
        """A relay listening on ``local`` (port 0: any; see :attr:`address`) towards ``server``."""
        relay = cls(server, to_server, to_client, rebinding, pcap_dir)
        try:
            relay.add_listener(local, server)
        except BaseException:
            relay.close()
            raise
        return relay

    @property
    def address(self) -> Address:
        """The first listening socket's address (the one clients are given)."""
        return self.listeners[0].address

    def add_listener(self, local: Address, server: Address) -> Address:
        """Also listen on ``local`` and forward what arrives there to ``server``, through the
        same links: a second address of the server (its preferred address, RFC 9000 §9.6)
        reached through the relay.  Returns the new socket's address."""
        listener = _Listener(self, local, server)
        self.listeners.append(listener)
        return listener.address

    def _schedule(self, link: Link, data: bytes, send: Callable[[bytes], None]) -> None:
        now = self.loop.time()
        admitted = link.admit(now, data, now - self._started)
        if admitted is not None:
            self.loop.call_at(admitted[0], send, admitted[1])

    def _from_clients(self, listener: _Listener, batch: list[ReceivedDatagram]) -> None:
        for datagram in batch:
            client, ecn = _plain(datagram.remote), datagram.ecn
            if self.capture is not None:
                self.capture.client_side.write(client, listener.address, datagram.data, ecn)
            send = functools.partial(self._send_up, listener, client, ecn=ecn)
            self._schedule(self.links["to_server"], datagram.data, send)

    def _send_up(self, listener: _Listener, client: Address, payload: bytes, *, ecn: int) -> None:
        upstream = self._upstreams.get((client, listener.server))
        if upstream is None:
            try:
                upstream = self._open_upstream(listener, client)
            except OSError as exc:
                print(f"interop_relay: no upstream socket: {exc}", file=sys.stderr, flush=True)
                return
        upstream.send(payload, ecn)

    def _open_upstream(
        self, listener: _Listener, client: Address, local_host: str | None = None
    ) -> _Upstream:
        upstream = _Upstream(self, listener, client, local_host)
        key = (client, listener.server)
        old = self._upstreams.get(key)
        self._upstreams[key] = upstream
        if old is not None:  # the NAT forgot the old binding: what reaches it is dropped
            old.current = False
            self._retired.append(old)  # kept open, so the capture sees what the server sends it
        return upstream

    def _rebind_all(self) -> None:
        """Give every client a new upstream binding (new port, maybe new address); re-arm."""
        rebinding = self.rebinding
        assert rebinding is not None
        for (client, _), upstream in list(self._upstreams.items()):
            host = None
            if rebinding.new_address:
                current = host = upstream.address[0]
                while host == current:
                    host = f"127.0.0.{self._random.randrange(2, 255)}"
            self.rebinds += 1
            try:
                self._open_upstream(upstream.listener, client, host)
            except OSError as exc:
                print(f"interop_relay: rebinding failed: {exc}", file=sys.stderr, flush=True)
        if rebinding.every_s > 0:
            self._rebind_timer = self.loop.call_later(rebinding.every_s, self._rebind_all)

    def from_server(self, upstream: _Upstream, data: bytes, ecn: int) -> None:
        """A datagram the server sent to ``upstream``: recorded, then relayed if still bound."""
        if self.capture is not None:
            self.capture.server_side.write(upstream.server, upstream.address, data, ecn)
        if upstream.current:
            self.to_client(data, upstream.client, ecn, upstream.listener)

    def to_client(
        self, data: bytes, client: Address, ecn: int = 0, listener: _Listener | None = None
    ) -> None:
        """Send ``data`` from the server towards ``client`` through the link, from ``listener``
        (the socket the client sent to; default the first)."""
        link = self.links["to_client"]
        source = listener if listener is not None else self.listeners[0]

        def deliver(payload: bytes) -> None:
            datapath = source.datapath
            if not datapath.closed:
                sent_ecn = ecn if datapath.features.ecn else 0
                datapath.send([(payload, client)], ecn=sent_ecn)
                if self.capture is not None:
                    self.capture.client_side.write(source.address, client, payload, sent_ecn)
            if payload and payload[0] & 0x80 == 0:  # short header: 1-RTT
                at = round(self.loop.time() - self._started, 6)
                stats = link.stats
                stats.first_short_s = at if stats.first_short_s is None else stats.first_short_s
                stats.last_short_s = at

        self._schedule(link, data, deliver)

    def statistics(self) -> dict[str, dict[str, object]]:
        """Each direction's :class:`LinkStats` as a dictionary (plus ``rebinds`` when rebinding)."""
        statistics: dict[str, dict[str, object]] = {
            name: asdict(link.stats) for name, link in self.links.items()
        }
        if self.rebinding is not None:
            statistics["rebinding"] = {"rebinds": self.rebinds}
        if self.capture is not None:
            statistics["pcap"] = {
                "client_side": self.capture.client_side.records,
                "server_side": self.capture.server_side.records,
            }
        return statistics

    def close(self) -> None:
        """Close the listening socket and every upstream socket; flush the captures."""
        if self._rebind_timer is not None:
            self._rebind_timer.cancel()
        for upstream in [*self._upstreams.values(), *self._retired]:
            upstream.datapath.close()
        for listener in self.listeners:
            listener.datapath.close()
        if self.capture is not None:
            self.capture.close()


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def _links(args: argparse.Namespace) -> tuple[Link, Link]:
    blackhole = (args.blackhole_on, args.blackhole_off) if args.blackhole_on is not None else None
    common = Impairments(args.drop_rate, args.corrupt_rate, blackhole)
    numbers = frozenset(int(n) for n in args.drops_to_server.split(",") if n)
    to_server = Impairments(common.drop_percent, common.corrupt_percent, blackhole, numbers)
    seed = args.seed
    shape = (args.bandwidth * 1e6, args.queue, args.delay / 1000)
    return (
        Link(*shape, impairments=to_server, seed=seed),
        Link(*shape, impairments=common, seed=None if seed is None else seed + 1),
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The relay's options (bandwidth in Mbit/s, delay in ms, rates in percent)."""
    parser = argparse.ArgumentParser(prog="interop_relay", description=__doc__.split("\n")[0])
    parser.add_argument("--server", required=True, type=_address, help="HOST:PORT to relay to")
    parser.add_argument("--host", default="127.0.0.1", help="listening address")
    parser.add_argument("--port", type=int, default=0, help="listening port (0: any)")
    parser.add_argument("--bandwidth", type=float, default=DEFAULT_BANDWIDTH_BPS / 1e6)
    parser.add_argument("--queue", type=int, default=DEFAULT_QUEUE_PACKETS, help="packets")
    parser.add_argument("--delay", type=float, default=DEFAULT_DELAY_S * 1000, help="one way ms")
    parser.add_argument("--drop-rate", type=float, default=0.0, help="percent, each way")
    parser.add_argument("--corrupt-rate", type=float, default=0.0, help="percent, each way")
    parser.add_argument("--blackhole-on", type=float, default=None, help="seconds after start")
    parser.add_argument("--blackhole-off", type=float, default=2.0, help="blackhole length (s)")
    parser.add_argument("--drops-to-server", default="", help="e.g. 2,3,4 (1-based)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--rebind", action="store_true", help="NAT rebinding: new client ports")
    parser.add_argument("--first-rebind", type=float, default=1.0, help="seconds after start")
    parser.add_argument("--rebind-freq", type=float, default=5.0, help="seconds (0: once)")
    parser.add_argument(
        "--rebind-addr", action="store_true", help="rebind to a new 127.0.0.x too (IPv4)"
    )
    parser.add_argument(
        "--second-port", type=int, default=None, help="also listen on this port (0: any) ..."
    )
    parser.add_argument(
        "--second-server", type=_address, default=None, help="... and relay it to HOST:PORT"
    )
    parser.add_argument(
        "--pcap-dir",
        default=None,
        help=f"write {CLIENT_SIDE_PCAP} and {SERVER_SIDE_PCAP} (each leg, both ways) here",
    )
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> dict[str, dict[str, object]]:
    """Relay until SIGTERM or SIGINT; the statistics."""
    loop = asyncio.get_running_loop()
    to_server, to_client = _links(args)
    rebinding = None
    if args.rebind or args.rebind_addr:
        rebinding = Rebinding(args.first_rebind, args.rebind_freq, args.rebind_addr)
    pcap_dir = None if args.pcap_dir is None else Path(args.pcap_dir)
    relay = Relay.listen(
        (args.host, args.port), args.server, to_server, to_client, rebinding, pcap_dir
    )
    if args.second_server is not None:
        relay.add_listener((args.host, args.second_port or 0), args.second_server)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    for listener in relay.listeners:  # the first line names the main port
        host, port = listener.address
        shown = f"[{host}]" if ":" in host else host
        print(f"listening on {shown}:{port}", flush=True)
    try:
        await stop.wait()
    finally:
        relay.close()
    return relay.statistics()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the relay; print its statistics as one JSON line when stopped."""
    args = parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        statistics = asyncio.run(run(args))
        print(json.dumps(statistics), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
