"""Datagram Packetization Layer PMTU Discovery for the active path (RFC 9000 §14.3, RFC 8899).

Every path starts at the 1200-byte datagram QUIC guarantees (RFC 9000 §14); once the handshake is
confirmed the connection probes for more, as MsQuic does (msquic-facts, DPLPMTUD): the largest
size first, ``maximum_mtu`` less the IP and UDP headers, capped by the peer's
``max_udp_payload_size`` (RFC 9000 §18.2); if ``missing_probe_count`` probes of a size are lost,
the search falls back to steps of 80 bytes up from the confirmed size, and stops at the first
size that fails.  The search waits until a larger size would help (RFC 8899 §5.2 leaves the
moment to the sender): until the connection has sent ``PROBE_AFTER_BYTES`` and still has
stream data queued, so a bulk sender probes within its first few round trips while a
connection that only makes small requests, answers them or acknowledges never pays for a
1,472-byte probe it cannot use.  A finished search starts again after
``search_complete_timeout_us`` (the path may have changed).  A move to another path (RFC 9000
§9) starts over from 1200 bytes.

A probe is a 1-RTT packet of PING and PADDING (RFC 9000 §14.4) of exactly the probed size.  It
counts toward bytes in flight but its loss is not a congestion signal (RFC 9000 §14.4: "Loss of a
QUIC packet that is carried in a PMTU probe is therefore not a reliable indication of
congestion"); the send path marks it ``mtu_probe`` and congestion control skips it.

This module holds the search state only (sans-I/O, no clock reads); the send path builds the
probes and hands acknowledgements and losses back through the packet's :class:`MtuProbeRecord`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = [
    "BASE_DATAGRAM_SIZE",
    "PROBE_AFTER_BYTES",
    "MtuProbeRecord",
    "MtuSearch",
    "SearchState",
    "udp_payload_limit",
]

BASE_DATAGRAM_SIZE = 1200  # RFC 9000 §14: every path carries 1200-byte UDP payloads
PROBE_AFTER_BYTES = 16 * BASE_DATAGRAM_SIZE  # sent in all before the first probe
PROBE_STEP_BYTES = 80  # MsQuic's step after the largest size failed
IPV4_UDP_OVERHEAD = 20 + 8
IPV6_UDP_OVERHEAD = 40 + 8


@dataclass(frozen=True, slots=True)
class MtuProbeRecord:
    """A sent packet was a PMTU probe of ``size`` bytes (the whole UDP payload), sent during
    search ``epoch`` (a probe of an abandoned search, e.g. of a previous path, is ignored)."""

    size: int
    epoch: int


class SearchState(Enum):
    IDLE = "idle"  # not started: the handshake is not confirmed yet
    SEARCHING = "searching"
    COMPLETE = "complete"  # until ``research_at_us``


def udp_payload_limit(maximum_mtu: int, peer_address: object) -> int:
    """The largest UDP payload ``maximum_mtu`` allows toward ``peer_address``.

    Addresses are opaque to the core; an IPv6 socket address (a tuple whose host contains a
    colon) pays the 40-byte IPv6 header, anything else the 20-byte IPv4 one.
    """
    host = peer_address[0] if isinstance(peer_address, tuple) and peer_address else None
    ipv6 = isinstance(host, str) and ":" in host
    return maximum_mtu - (IPV6_UDP_OVERHEAD if ipv6 else IPV4_UDP_OVERHEAD)


class MtuSearch:
    """The DPLPMTUD search of one path (module docstring)."""

    __slots__ = (
        "_attempts",
        "_in_flight",
        "_max_size",
        "_missing_probe_count",
        "_research_after_us",
        "_target",
        "current",
        "epoch",
        "path",
        "research_at_us",
        "state",
    )

    def __init__(
        self, *, missing_probe_count: int = 3, search_complete_timeout_us: int = 600_000_000
    ) -> None:
        if missing_probe_count < 1:
            raise ValueError(f"missing_probe_count must be at least 1, got {missing_probe_count}")
        self._missing_probe_count = missing_probe_count
        self._research_after_us = search_complete_timeout_us
        self.current = BASE_DATAGRAM_SIZE  # the confirmed size
        self.state = SearchState.IDLE
        self.path: object = None  # the path the search is about (identity)
        self.epoch = 0  # bumped by every start()
        self.research_at_us: int | None = None
        self._max_size = BASE_DATAGRAM_SIZE
        self._target: int | None = None  # the size being probed
        self._attempts = 0  # probes of ``_target`` lost so far
        self._in_flight = False  # a probe of ``_target`` awaits its fate

    def start(self, path: object, max_size: int, now_us: int) -> None:
        """Search ``path`` up to ``max_size`` bytes, from the base size."""
        self.path = path
        self.epoch += 1
        self.current = BASE_DATAGRAM_SIZE
        self._max_size = max(max_size, BASE_DATAGRAM_SIZE)
        self._begin(now_us)

    def _begin(self, now_us: int) -> None:
        self._attempts = 0
        self._in_flight = False
        self._target = self._max_size if self._max_size > self.current else None
        self.state = SearchState.SEARCHING
        if self._target is None:
            self._complete(now_us)

    def _complete(self, now_us: int) -> None:
        self.state = SearchState.COMPLETE
        self._target = None
        self.research_at_us = now_us + self._research_after_us

    def probe_size(self, now_us: int) -> int | None:
        """The size to probe now, or None (searching with a probe out, or complete)."""
        if self.state is SearchState.COMPLETE:
            if self.research_at_us is None or now_us < self.research_at_us:
                return None
            self._begin(now_us)  # the re-search after search_complete_timeout_us
        if self.state is not SearchState.SEARCHING or self._in_flight:
            return None
        return self._target

    def on_probe_sent(self, size: int) -> None:
        if size == self._target:
            self._in_flight = True

    def on_probe_acked(self, size: int, now_us: int) -> bool:
        """A probe of ``size`` was acknowledged; True when the confirmed size grew."""
        grew = size > self.current
        if grew:
            self.current = size
        if size == self._target:
            self._next_target(now_us)
        return grew

    def on_probe_lost(self, size: int, now_us: int) -> None:
        """A probe of ``size`` was declared lost (not a congestion signal, RFC 9000 §14.4)."""
        if size != self._target:
            return
        self._in_flight = False
        self._attempts += 1
        if self._attempts < self._missing_probe_count:
            return
        if size == self._max_size and self.current + PROBE_STEP_BYTES < self._max_size:
            self._attempts = 0
            self._target = self.current + PROBE_STEP_BYTES  # MsQuic: +80 bytes at a time
        else:
            self._complete(now_us)  # the first size that fails ends the search

    def _next_target(self, now_us: int) -> None:
        self._attempts = 0
        self._in_flight = False
        following = self.current + PROBE_STEP_BYTES
        if self.current >= self._max_size or following >= self._max_size:
            self._complete(now_us)
        else:
            self._target = following
