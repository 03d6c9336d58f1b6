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

It prints ``listening on HOST:PORT`` when ready; on SIGTERM or SIGINT it prints one JSON line of
statistics (per direction: packets received, forwarded, dropped by loss, queue or blackhole,
corrupted; plus the delivery times of the first and last server-to-client short-header packet,
which the runner turns into goodput the way the public runner reads its client-side pcap).
No QUIC parsing beyond the first byte and the version field.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import signal
import socket
import sys
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import cast

__all__ = ["Impairments", "Link", "LinkStats", "Rebinding", "Relay", "main"]

DEFAULT_BANDWIDTH_BPS = 10_000_000
DEFAULT_QUEUE_PACKETS = 25
DEFAULT_DELAY_S = 0.015
MAX_IMPAIRED_IN_A_ROW = 3
CORRUPT_PREFIX = 50
MAX_DATAGRAM = 65536


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


class _Upstream(asyncio.DatagramProtocol):
    """The relay's socket towards the server for one client address."""

    def __init__(self, relay: Relay, client: tuple[str, int]) -> None:
        self.relay, self.client = relay, client
        self.transport: asyncio.DatagramTransport | None = None
        self.current = True  # False once rebound: the server's packets to it are dropped

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.current:
            self.relay.to_client(data, self.client)


class Relay(asyncio.DatagramProtocol):
    """Forwards datagrams between clients (on the listening socket) and one server."""

    def __init__(
        self,
        server: tuple[str, int],
        to_server: Link,
        to_client: Link,
        rebinding: Rebinding | None = None,
    ) -> None:
        self.server = server
        self.rebinding = rebinding
        self.rebinds = 0
        self.links = {"to_server": to_server, "to_client": to_client}
        self.transport: asyncio.DatagramTransport | None = None
        self._upstreams: dict[tuple[str, int], _Upstream] = {}
        self._pending: dict[tuple[str, int], list[bytes]] = {}
        self._loop = asyncio.get_running_loop()
        self._started = self._loop.time()
        self._random = random.Random()
        self._rebind_timer: asyncio.TimerHandle | None = None
        if rebinding is not None:
            self._rebind_timer = self._loop.call_at(
                self._started + rebinding.first_s, self._rebind_all
            )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def _schedule(self, link: Link, data: bytes, send: Callable[[bytes], None]) -> None:
        now = self._loop.time()
        admitted = link.admit(now, data, now - self._started)
        if admitted is not None:
            self._loop.call_at(admitted[0], send, admitted[1])

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        client = (addr[0], addr[1])
        self._schedule(self.links["to_server"], data, lambda p: self._send_up(client, p))

    def _send_up(self, client: tuple[str, int], payload: bytes) -> None:
        upstream = self._upstreams.get(client)
        if upstream is None:
            self._pending.setdefault(client, []).append(payload)
            if len(self._pending[client]) == 1:
                self._loop.create_task(self._open_upstream(client))
        elif upstream.transport is not None:
            upstream.transport.sendto(payload)

    async def _open_upstream(self, client: tuple[str, int], local_host: str | None = None) -> None:
        family = socket.AF_INET6 if ":" in self.server[0] else socket.AF_INET
        local = None if local_host is None else (local_host, 0)
        _, upstream = await self._loop.create_datagram_endpoint(
            lambda: _Upstream(self, client),
            local_addr=local,
            remote_addr=self.server,
            family=family,
        )
        old = self._upstreams.get(client)
        self._upstreams[client] = upstream
        if old is not None:  # the NAT forgot the old binding
            old.current = False
            if old.transport is not None:
                old.transport.close()
        for payload in self._pending.pop(client, []):
            assert upstream.transport is not None
            upstream.transport.sendto(payload)

    def _rebind_all(self) -> None:
        """Give every client a new upstream binding (new port, maybe new address); re-arm."""
        rebinding = self.rebinding
        assert rebinding is not None
        for client, upstream in list(self._upstreams.items()):
            host = None
            if rebinding.new_address and upstream.transport is not None:
                current = upstream.transport.get_extra_info("sockname")[0]
                host = current
                while host == current:
                    host = f"127.0.0.{self._random.randrange(2, 255)}"
            self.rebinds += 1
            self._loop.create_task(self._open_upstream(client, host))
        if rebinding.every_s > 0:
            self._rebind_timer = self._loop.call_later(rebinding.every_s, self._rebind_all)

    def to_client(self, data: bytes, client: tuple[str, int]) -> None:
        """Send ``data`` from the server towards ``client`` through the link."""
        link = self.links["to_client"]

        def deliver(payload: bytes) -> None:
            if self.transport is not None:
                self.transport.sendto(payload, client)
            if payload and payload[0] & 0x80 == 0:  # short header: 1-RTT
                at = round(self._loop.time() - self._started, 6)
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
        return statistics

    def close(self) -> None:
        """Close the listening socket and every upstream socket."""
        if self._rebind_timer is not None:
            self._rebind_timer.cancel()
        for upstream in self._upstreams.values():
            if upstream.transport is not None:
                upstream.transport.close()
        if self.transport is not None:
            self.transport.close()


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
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> dict[str, dict[str, object]]:
    """Relay until SIGTERM or SIGINT; the statistics."""
    loop = asyncio.get_running_loop()
    to_server, to_client = _links(args)
    rebinding = None
    if args.rebind or args.rebind_addr:
        rebinding = Rebinding(args.first_rebind, args.rebind_freq, args.rebind_addr)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    transport, relay = await loop.create_datagram_endpoint(
        lambda: Relay(args.server, to_server, to_client, rebinding),
        local_addr=(args.host, args.port),
        family=family,
    )
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    host, port = transport.get_extra_info("sockname")[:2]
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
