"""A driver for bulk transfers between a connection pair on the simulated network.

:func:`run_transfer` waits until both sides completed the handshake, then has each side open
streams and write its payloads on them (each with its FIN), reads every readable stream on both
sides as the data arrives, hashes what arrived per stream with SHA-256 and stops when every stream
ended.  It returns a :class:`TransferResult` with the virtual times, what each receiver got, and
what the connections observed along the way (the largest PTO backoff, the connections' statistics,
the link counters).  Only public APIs of the connections and the network are used.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyquic.core.connection import Connection, ConnectionState
from pyquic.core.events import (
    ConnectionTerminated,
    HandshakeCompleted,
    StreamOpened,
    StreamReadable,
)
from pyquic.testing.network import LinkStats
from pyquic.testing.pair import ConnectionPair

STREAM_COUNT = 100
STREAM_SIZE = 100_000  # 100 streams of 100 KB: 10 MB per direction


def make_payloads(seed: int, count: int = STREAM_COUNT, size: int = STREAM_SIZE) -> list[bytes]:
    """``count`` random payloads of ``size`` bytes, reproducible from ``seed``."""
    rng = random.Random(f"sim-payloads/{seed}")
    return [rng.randbytes(size) for _ in range(count)]


@dataclass(slots=True)
class _Receiver:
    """What one side received on the streams its peer opened, hashed as it arrives."""

    hashes: dict[int, Any] = field(default_factory=dict)  # hashlib.sha256 objects
    sizes: dict[int, int] = field(default_factory=dict)
    finished: set[int] = field(default_factory=set)
    total: int = 0

    def read(self, conn: Connection, stream_id: int) -> None:
        data, fin = conn.read_stream(stream_id)
        if stream_id not in self.hashes:
            self.hashes[stream_id] = hashlib.sha256()
            self.sizes[stream_id] = 0
        self.hashes[stream_id].update(data)
        self.sizes[stream_id] += len(data)
        self.total += len(data)
        if fin:
            self.finished.add(stream_id)


@dataclass(slots=True)
class SideReport:
    """One side of a finished transfer."""

    sent_digests: dict[int, bytes]  # stream ID -> SHA-256 of what this side sent on it
    received_digests: dict[int, bytes]  # stream ID -> SHA-256 of what arrived from the peer
    received_sizes: dict[int, int]
    max_pto_count: int  # the largest PTO backoff seen (``conn.loss.pto_count``)
    terminated: ConnectionTerminated | None


@dataclass(slots=True)
class TransferResult:
    """Virtual times (microseconds) and what each side sent, received and observed."""

    handshake_done_us: int  # both sides completed the handshake; the transfer starts
    end_us: int  # the last stream of the transfer ended at its receiver
    client: SideReport
    server: SideReport
    client_to_server: LinkStats
    server_to_client: LinkStats
    events: int
    progress: list[tuple[int, int]]  # (time, stream bytes received by both sides so far)

    @property
    def duration_us(self) -> int:
        return self.end_us - self.handshake_done_us

    def goodput_bps(self, payload_bytes: int) -> float:
        """Application bits per second of virtual time over the transfer."""
        return payload_bytes * 8 * 1_000_000 / self.duration_us

    def received_by(self, time_us: int) -> int:
        """Stream bytes both sides had received at ``time_us``."""
        index = bisect.bisect_right(self.progress, (time_us, math.inf))
        return self.progress[index - 1][1] if index else 0

    def received_between(self, start_us: int, end_us: int) -> int:
        """Stream bytes received in ``[start_us, end_us)``."""
        return self.received_by(end_us - 1) - self.received_by(start_us - 1)


class _Driver:
    """The application on both ends of the pair; ``step`` runs after every network event."""

    def __init__(
        self,
        pair: ConnectionPair,
        client_payloads: list[bytes],
        server_payloads: list[bytes],
        on_start: Callable[[ConnectionPair], None] | None,
        observe: Callable[[ConnectionPair], None] | None = None,
    ) -> None:
        self.pair = pair
        self.payloads = {True: client_payloads, False: server_payloads}
        self.receivers = {True: _Receiver(), False: _Receiver()}
        self.sent_digests: dict[bool, dict[int, bytes]] = {True: {}, False: {}}
        self.handshakes = {True: False, False: False}
        self.terminated: dict[bool, ConnectionTerminated | None] = {True: None, False: None}
        self.max_pto = {True: 0, False: 0}
        self.on_start = on_start
        self.observe = observe
        self.start_us: int | None = None
        self.end_us: int | None = None
        self.progress: list[tuple[int, int]] = []

    def conns(self) -> tuple[tuple[bool, Connection], tuple[bool, Connection]]:
        return (True, self.pair.client), (False, self.pair.server)

    def step(self) -> bool:
        for is_client, conn in self.conns():
            self._poll(is_client, conn)
            self.max_pto[is_client] = max(self.max_pto[is_client], conn.loss.pto_count)
        if self.observe is not None:
            self.observe(self.pair)
        received = sum(r.total for r in self.receivers.values())
        if not self.progress or self.progress[-1][1] != received:
            self.progress.append((self.pair.network.now_us, received))
        if self.start_us is None and all(self.handshakes.values()):
            self._start()
        if any(self.terminated.values()):
            raise AssertionError(f"a connection terminated: {self.terminated}")
        if self.start_us is not None and self._complete():
            self.end_us = self.pair.network.now_us
            return True
        return False

    def _poll(self, is_client: bool, conn: Connection) -> None:
        receiver = self.receivers[is_client]
        while (event := conn.poll_event()) is not None:
            if isinstance(event, HandshakeCompleted):
                self.handshakes[is_client] = True
            elif isinstance(event, StreamReadable | StreamOpened):
                if conn.streams.is_local(event.stream_id):
                    conn.read_stream(event.stream_id)  # nothing is sent back; drain anyway
                else:
                    receiver.read(conn, event.stream_id)
            elif isinstance(event, ConnectionTerminated):
                self.terminated[is_client] = event

    def _start(self) -> None:
        self.start_us = self.pair.network.now_us
        if self.on_start is not None:
            self.on_start(self.pair)
        for is_client, conn in self.conns():
            for payload in self.payloads[is_client]:
                stream_id = conn.open_stream()
                conn.send_stream(stream_id, payload, fin=True)
                self.sent_digests[is_client][stream_id] = hashlib.sha256(payload).digest()

    def _complete(self) -> bool:
        # the client's streams end at the server's receiver and the other way round
        return len(self.receivers[False].finished) == len(self.payloads[True]) and len(
            self.receivers[True].finished
        ) == len(self.payloads[False])

    def report(self, is_client: bool) -> SideReport:
        receiver = self.receivers[is_client]
        return SideReport(
            sent_digests=self.sent_digests[is_client],
            received_digests={sid: h.digest() for sid, h in receiver.hashes.items()},
            received_sizes=dict(receiver.sizes),
            max_pto_count=self.max_pto[is_client],
            terminated=self.terminated[is_client],
        )


def run_transfer(
    pair: ConnectionPair,
    *,
    client_payloads: list[bytes],
    server_payloads: list[bytes] = [],  # noqa: B006 - never mutated
    max_time_us: int,
    max_events: int,
    on_start: Callable[[ConnectionPair], None] | None = None,
    observe: Callable[[ConnectionPair], None] | None = None,
) -> TransferResult:
    """Handshake, then send every payload on its own new stream (client and server at once).

    ``on_start(pair)`` runs when both handshakes completed, before the first write (e.g. to
    schedule a blackout relative to the transfer); ``observe(pair)`` after every network event.
    The network's limits make a broken transfer raise instead of hanging.
    """
    driver = _Driver(pair, client_payloads, server_payloads, on_start, observe)
    events = pair.run(driver.step, max_time_us=max_time_us, max_events=max_events)
    assert driver.start_us is not None and driver.end_us is not None
    for conn in (pair.client, pair.server):
        assert conn.state is ConnectionState.ESTABLISHED
    return TransferResult(
        handshake_done_us=driver.start_us,
        end_us=driver.end_us,
        client=driver.report(True),
        server=driver.report(False),
        client_to_server=pair.client_to_server,
        server_to_client=pair.server_to_client,
        events=events,
        progress=driver.progress,
    )


def assert_intact(result: TransferResult) -> None:
    """Every stream arrived complete and byte-identical (SHA-256), in both directions."""
    for sender, receiver in ((result.client, result.server), (result.server, result.client)):
        assert set(receiver.received_digests) == set(sender.sent_digests)
        for stream_id, digest in sender.sent_digests.items():
            assert receiver.received_digests[stream_id] == digest, f"stream {stream_id} differs"
