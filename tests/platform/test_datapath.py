"""UdpDatapath on real loopback sockets: round trips, GSO, GRO, ECN, PKTINFO, EAGAIN, errors.

Every kernel feature is tested when :func:`detect_features` reports it and, when it does not, the
test asserts that report and the fallback behaviour instead; nothing is skipped.  EAGAIN never
happens on a plain loopback (the loopback device frees a datagram's send-buffer charge as it
transmits), so the real-kernel EAGAIN test runs in a private network namespace whose loopback is
rate limited by a tbf qdisc (``unshare`` + ``tc``); the queueing logic is also tested everywhere
with a UDP socket whose ``sendmsg`` reports a full buffer.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest

from pyquic.platform.datapath import (
    MAX_GSO_BYTES,
    MAX_GSO_SEGMENTS,
    DatapathFeatures,
    ReceivedDatagram,
    UdpDatapath,
    detect_features,
)

_WAIT_S = 5.0
FEATURES = detect_features()
ECT0, ECT1, CE = 0b10, 0b01, 0b11


class Collector:
    """An ``on_receive`` callback that records batches and wakes a waiter at a count."""

    def __init__(self) -> None:
        self.batches: list[list[ReceivedDatagram]] = []
        self.datagrams: list[ReceivedDatagram] = []
        self._target = 0
        self._event = asyncio.Event()

    def __call__(self, batch: list[ReceivedDatagram]) -> None:
        self.batches.append(batch)
        self.datagrams.extend(batch)
        if len(self.datagrams) >= self._target:
            self._event.set()

    async def wait_for(self, count: int) -> list[ReceivedDatagram]:
        self._target = count
        if len(self.datagrams) < count:
            self._event.clear()
            await asyncio.wait_for(self._event.wait(), _WAIT_S)
        return self.datagrams


def run(test: Callable[[asyncio.AbstractEventLoop], Awaitable[None]]) -> None:
    async def main() -> None:
        await test(asyncio.get_running_loop())

    asyncio.run(main())


def bind(
    loop: asyncio.AbstractEventLoop, host: str = "127.0.0.1", **options: Any
) -> tuple[UdpDatapath, Collector]:
    collector = Collector()
    datapath = UdpDatapath.bind((host, 0), loop=loop, on_receive=collector, **options)
    return datapath, collector


def payloads(count: int, size: int = 1200) -> list[bytes]:
    return [(index.to_bytes(4, "big") * (size // 4 + 1))[:size] for index in range(count)]


def ipv6_loopback_available() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


# -- features -------------------------------------------------------------------------------------


def test_features_are_detected_once_and_cached() -> None:
    assert detect_features() is FEATURES
    assert isinstance(FEATURES, DatapathFeatures)
    if sys.platform != "linux":
        assert not FEATURES.gso and not FEATURES.gro


def test_sockets_are_set_to_not_fragment() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        datapath = UdpDatapath.from_socket(sock, loop=loop, on_receive=Collector())
        try:
            assert datapath.features.dont_fragment == FEATURES.dont_fragment
            if FEATURES.dont_fragment:  # IP_MTU_DISCOVER (10) = IP_PMTUDISC_PROBE (3) on Linux
                assert sock.getsockopt(socket.IPPROTO_IP, 10) == 3
        finally:
            datapath.close()

    run(body)


# -- round trips ----------------------------------------------------------------------------------


@pytest.mark.parametrize("use_gso", [True, False])
def test_ipv4_round_trip_of_many_datagrams(use_gso: bool) -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        receiver, received = bind(loop)
        sender, _ = bind(loop, use_gso=use_gso)
        data = [bytes([i % 251]) * (1 + (i * 37) % 1400) for i in range(600)]
        port = receiver.local_address[1]
        for start in range(0, len(data), 100):
            sender.send([(d, ("127.0.0.1", port)) for d in data[start : start + 100]])
        got = await received.wait_for(len(data))
        assert [d.data for d in got] == data
        assert {d.remote for d in got} == {sender.local_address}
        stats = sender.statistics
        assert stats.datagrams_sent == 600 and stats.bytes_sent == sum(map(len, data))
        assert receiver.statistics.datagrams_received == 600
        assert receiver.statistics.bytes_received == stats.bytes_sent
        sender.close()
        receiver.close()

    run(body)


def test_ipv6_round_trip_or_documented_bind_error() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        if not ipv6_loopback_available():
            with pytest.raises(OSError):  # documented: bind raises OSError without IPv6
                UdpDatapath.bind(("::1", 0), loop=loop, on_receive=Collector())
            return
        receiver, received = bind(loop, "::1")
        sender, _ = bind(loop, "::1")
        assert receiver.family == socket.AF_INET6
        data = payloads(300)
        sender.send([(d, receiver.local_address) for d in data])
        got = await received.wait_for(300)
        assert [d.data for d in got] == data
        assert got[0].remote[:2] == ("::1", sender.local_address[1])
        sender.close()
        receiver.close()

    run(body)


def test_dual_stack_socket_talks_to_ipv4_peers() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        if not ipv6_loopback_available():
            with pytest.raises(OSError):
                UdpDatapath.bind(("::", 0), loop=loop, on_receive=Collector())
            return
        server, server_rx = bind(loop, "::")
        client, client_rx = bind(loop, "127.0.0.1")
        port = server.local_address[1]
        client.send([(b"hello", ("127.0.0.1", port))])
        (hello,) = await server_rx.wait_for(1)
        assert hello.remote == ("::ffff:127.0.0.1", client.local_address[1], 0, 0)
        server.send([(b"mapped", hello.remote), (b"plain", ("127.0.0.1", client.local_address[1]))])
        got = await client_rx.wait_for(2)
        assert [d.data for d in got] == [b"mapped", b"plain"]
        assert got[0].remote == ("127.0.0.1", port)
        client.send([(b"back", ("::ffff:127.0.0.1", port))])  # mapped form on an IPv4 socket
        assert (await server_rx.wait_for(2))[1].data == b"back"
        server.close()
        client.close()

    run(body)


# -- GSO and GRO ----------------------------------------------------------------------------------


def test_gso_batches_200_datagrams_byte_identically() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        receiver, received = bind(loop, use_gro=False)
        sender, _ = bind(loop)
        data = payloads(200)
        sender.send([(d, receiver.local_address) for d in data])
        got = await received.wait_for(200)
        assert [d.data for d in got] == data
        stats = sender.statistics
        if FEATURES.gso:
            per_call = min(MAX_GSO_SEGMENTS, MAX_GSO_BYTES // 1200)  # 54
            expected_calls = -(-200 // per_call)
            assert stats.gso_batches == stats.send_calls == expected_calls
        else:
            assert sender.features.gso is False
            assert stats.gso_batches == 0 and stats.send_calls == 200
        assert receiver.statistics.gro_batches == 0
        sender.close()
        receiver.close()

    run(body)


def test_gso_batches_split_on_destination_and_size() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        first, first_rx = bind(loop)
        second, second_rx = bind(loop)
        sender, _ = bind(loop)
        a, b = first.local_address, second.local_address
        plan: Sequence[tuple[bytes, tuple[Any, ...]]] = [
            (b"x" * 1000, a),
            (b"x" * 1000, a),
            (b"x" * 700, a),  # shorter: ends the batch
            (b"y" * 1000, a),
            (b"y" * 1200, a),  # larger than the first: new batch
            (b"z" * 1200, b),  # another destination: new batch
            (b"z" * 1200, b),
        ]
        sender.send(plan)
        got_a = await first_rx.wait_for(5)
        got_b = await second_rx.wait_for(2)
        assert [d.data for d in got_a] == [d for d, dest in plan if dest == a]
        assert [d.data for d in got_b] == [d for d, dest in plan if dest == b]
        stats = sender.statistics
        if FEATURES.gso:  # [x x x'] [y] [y'] [z z]
            assert (stats.send_calls, stats.gso_batches) == (4, 2)
        else:
            assert (stats.send_calls, stats.gso_batches) == (7, 0)
        for datapath in (first, second, sender):
            datapath.close()

    run(body)


def test_gso_respects_the_kernel_segment_limit() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        receiver, received = bind(loop, use_gro=False)
        sender, _ = bind(loop)
        data = payloads(3 * MAX_GSO_SEGMENTS, size=100)  # small: the segment count binds
        sender.send([(d, receiver.local_address) for d in data])
        assert [d.data for d in await received.wait_for(len(data))] == data
        expected = 3 if FEATURES.gso else len(data)
        assert sender.statistics.send_calls == expected
        sender.close()
        receiver.close()

    run(body)


def test_gro_coalesced_receive_is_split_by_segment_size() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        receiver, received = bind(loop)
        sender, _ = bind(loop)
        data = [*payloads(9), b"tail" * 100]  # nine full segments and a shorter last one
        sender.send([(d, receiver.local_address) for d in data])
        got = await received.wait_for(len(data))
        assert [d.data for d in got] == data
        assert [len(d.data) for d in got] == [1200] * 9 + [400]
        stats = receiver.statistics
        if FEATURES.gro and FEATURES.gso:  # the loopback keeps a GSO batch whole for GRO sockets
            assert stats.gro_batches == 1 and stats.receive_calls == 1
            assert len(received.batches) == 1
        else:
            assert receiver.features.gro == FEATURES.gro
            assert stats.gro_batches == 0 and stats.receive_calls == len(data)
        sender.close()
        receiver.close()

    run(body)


def test_without_gro_a_gso_batch_arrives_as_separate_datagrams() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        receiver, received = bind(loop, use_gro=False)
        sender, _ = bind(loop)
        data = payloads(20)
        sender.send([(d, receiver.local_address) for d in data])
        assert [d.data for d in await received.wait_for(20)] == data
        assert receiver.features.gro is False
        assert receiver.statistics.gro_batches == 0
        assert receiver.statistics.receive_calls == 20
        sender.close()
        receiver.close()

    run(body)


def test_receive_batch_limit_bounds_one_wakeup() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        receiver, received = bind(loop, receive_batch_limit=4)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
            for index in range(20):  # queued before the loop gets to read any
                raw.sendto(index.to_bytes(2, "big"), receiver.local_address)
        got = await received.wait_for(20)
        assert [int.from_bytes(d.data, "big") for d in got] == list(range(20))
        assert max(len(batch) for batch in received.batches) == 4
        receiver.close()

    run(body)


# -- ECN and PKTINFO ------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "::"])
def test_ecn_codepoint_is_set_and_read_back(host: str) -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        if host != "127.0.0.1" and not ipv6_loopback_available():
            with pytest.raises(OSError):
                UdpDatapath.bind((host, 0), loop=loop, on_receive=Collector())
            return
        receiver, received = bind(loop, host)
        sender, _ = bind(loop, "::1" if host == "::1" else "127.0.0.1")
        destination = ("::1" if host == "::1" else "127.0.0.1", receiver.local_address[1])
        for codepoint in (0, ECT0, ECT1, CE):
            sender.send([(bytes([codepoint]) * 1200, destination)] * 3, ecn=codepoint)
        got = await received.wait_for(12)
        if FEATURES.ecn:
            assert [d.ecn for d in got] == [d.data[0] for d in got]
            assert [d.ecn for d in got] == [0] * 3 + [ECT0] * 3 + [ECT1] * 3 + [CE] * 3
        else:  # the kernel does not report TOS here: detection says so and ECN reads as 0
            assert not receiver.features.ecn and not sender.features.ecn
            assert {d.ecn for d in got} == {0}
        with pytest.raises(ValueError):
            sender.send([(b"x", destination)], ecn=4)
        sender.close()
        receiver.close()

    run(body)


def test_pktinfo_reports_the_local_address() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        receiver, received = bind(loop, "0.0.0.0")
        port = receiver.local_address[1]
        assert receiver.local_address == ("0.0.0.0", port)
        sender, _ = bind(loop)
        sender.send([(b"where", ("127.0.0.1", port))])
        (datagram,) = await received.wait_for(1)
        if FEATURES.pktinfo:
            assert datagram.local == ("127.0.0.1", port)
        else:
            assert receiver.features.pktinfo is False and datagram.local is None
        sender.close()
        receiver.close()

    run(body)


def test_pktinfo_on_ipv6_and_dual_stack() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        if not ipv6_loopback_available():
            with pytest.raises(OSError):
                UdpDatapath.bind(("::", 0), loop=loop, on_receive=Collector())
            return
        receiver, received = bind(loop, "::")
        port = receiver.local_address[1]
        sender6, _ = bind(loop, "::1")
        sender4, _ = bind(loop, "127.0.0.1")
        sender6.send([(b"six", ("::1", port))])
        await received.wait_for(1)
        sender4.send([(b"four", ("127.0.0.1", port))])
        six, four = await received.wait_for(2)
        if FEATURES.pktinfo:
            assert six.local == ("::1", port, 0, 0)
            assert four.local == ("::ffff:127.0.0.1", port, 0, 0)
        else:
            assert six.local is None and four.local is None
        for datapath in (receiver, sender4, sender6):
            datapath.close()

    run(body)


# -- send failures, EAGAIN and the queue ----------------------------------------------------------


class FullBufferSocket(socket.socket):
    """A real UDP socket whose ``sendmsg`` fails with ``failure`` once ``allowance`` calls are used.

    It stands in for a socket whose send buffer is full, which the loopback never produces.
    """

    allowance = 1 << 30
    failure = errno.EAGAIN

    def sendmsg(self, buffers: Any, ancdata: Any = (), flags: int = 0, address: Any = None) -> int:
        if self.allowance <= 0:
            raise OSError(self.failure, os.strerror(self.failure))
        self.allowance -= 1
        return super().sendmsg(buffers, ancdata, flags, address)


@pytest.mark.parametrize("failure", [errno.EAGAIN, errno.ENOBUFS])
def test_blocked_sends_queue_in_order_bounded_and_flush(failure: int) -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        receiver, received = bind(loop, use_gro=False)
        sock = FullBufferSocket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sender = UdpDatapath.from_socket(
            sock, loop=loop, on_receive=Collector(), use_gso=False, max_pending_datagrams=50
        )
        sock.failure, sock.allowance = failure, 3
        data = payloads(100)
        sender.send([(d, receiver.local_address) for d in data[:80]])
        sender.send([(d, receiver.local_address) for d in data[80:]])  # behind the queue
        stats = sender.statistics
        assert stats.datagrams_sent == 3 and sender.pending_datagrams == 50
        assert stats.send_queue_drops == 47 and stats.send_blocked == 1
        sock.allowance = 1 << 30  # the buffer drains
        got = await received.wait_for(53)
        assert [d.data for d in got] == data[:53]
        assert sender.pending_datagrams == 0 and sender.statistics.datagrams_sent == 53
        sender.close()
        receiver.close()

    run(body)


class NoChecksumOffloadSocket(socket.socket):
    """A real UDP socket whose device refuses GSO with EIO, as one without checksum offload."""

    def sendmsg(self, buffers: Any, ancdata: Any = (), flags: int = 0, address: Any = None) -> int:
        if any(level == socket.SOL_UDP and kind == 103 for level, kind, _ in ancdata):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return super().sendmsg(buffers, ancdata, flags, address)


def test_a_refused_gso_batch_is_resent_singly_and_gso_switched_off() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        receiver, received = bind(loop, use_gro=False)
        sock = NoChecksumOffloadSocket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sender = UdpDatapath.from_socket(sock, loop=loop, on_receive=Collector())
        data = payloads(10)
        sender.send([(d, receiver.local_address) for d in data])
        sender.send([(d, receiver.local_address) for d in data])
        assert [d.data for d in await received.wait_for(20)] == data + data
        stats = sender.statistics
        assert stats.send_calls == 20 and stats.gso_batches == 0 and stats.send_errors == 0
        assert sender.features.gso is False
        sender.close()
        receiver.close()

    run(body)


def test_other_send_errors_are_counted_not_raised() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        receiver, received = bind(loop)
        sender, _ = bind(loop)
        sender.send(
            [
                (b"to port zero", ("127.0.0.1", 0)),  # EINVAL
                (b"too big" * 10_000, receiver.local_address),  # EMSGSIZE
                (b"fine", receiver.local_address),
            ]
        )
        (datagram,) = await received.wait_for(1)
        assert datagram.data == b"fine"
        stats = sender.statistics
        assert stats.send_errors == 2 and stats.datagrams_sent == 1 and stats.send_blocked == 0
        sender.close()
        receiver.close()

    run(body)


def test_close_is_idempotent_and_drops_later_sends() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        receiver, received = bind(loop)
        sender, _ = bind(loop)
        sender.close()
        sender.close()
        assert sender.closed
        sender.send([(b"late", receiver.local_address)])
        assert sender.statistics.send_queue_drops == 1
        receiver.close()
        await asyncio.sleep(0.01)
        assert received.datagrams == []

    run(body)


def test_reuse_port_lets_two_sockets_share_a_port() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        first, _ = bind(loop, reuse_port=True)
        port = first.local_address[1]
        second = UdpDatapath.bind(
            ("127.0.0.1", port), loop=loop, on_receive=Collector(), reuse_port=True
        )
        assert second.local_address == first.local_address
        with pytest.raises(OSError):
            UdpDatapath.bind(("127.0.0.1", port), loop=loop, on_receive=Collector())
        first.close()
        second.close()

    run(body)


def test_bind_rejects_names() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        with pytest.raises(ValueError):
            UdpDatapath.bind(("localhost", 0), loop=loop, on_receive=Collector())

    run(body)


def test_tiny_send_buffer_burst_on_plain_loopback_is_fully_accounted() -> None:
    async def body(loop: asyncio.AbstractEventLoop) -> None:
        receiver, received = bind(loop, use_gro=False, receive_buffer_bytes=8 * 1024 * 1024)
        sender, _ = bind(loop, send_buffer_bytes=4096, use_gso=False)
        data = payloads(1000)
        sender.send([(d, receiver.local_address) for d in data])
        stats = sender.statistics
        assert stats.datagrams_sent + sender.pending_datagrams + stats.send_queue_drops == 1000
        sent = 1000 - stats.send_queue_drops
        got = await received.wait_for(sent)
        assert [d.data for d in got] == data[:sent]
        sender.close()
        receiver.close()

    run(body)


_BURST_CHILD = r"""
import asyncio, json, subprocess, sys
if sys.argv[1:] == ["--rate-limit"]:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["tc", "qdisc", "add", "dev", "lo", "root", "tbf", "rate", "40mbit",
                    "burst", "16kb", "latency", "2s"], check=True)
from pyquic.platform.datapath import UdpDatapath

async def phase(loop, use_gso, max_pending):
    got, done = [], asyncio.Event()
    def on_receive(batch):
        got.extend(d.data for d in batch)
        if len(got) >= target[0]:
            done.set()
    target = [1 << 30]
    rx = UdpDatapath.bind(("127.0.0.1", 0), loop=loop, on_receive=on_receive,
                          receive_buffer_bytes=8 << 20)
    tx = UdpDatapath.bind(("127.0.0.1", 0), loop=loop, on_receive=lambda b: None,
                          send_buffer_bytes=4096, use_gso=use_gso,
                          max_pending_datagrams=max_pending)
    data = [i.to_bytes(4, "big") * 300 for i in range(300)]
    tx.send([(d, rx.local_address) for d in data])
    pending = tx.pending_datagrams
    target[0] = 300 - tx.statistics.send_queue_drops
    if len(got) < target[0]:
        await asyncio.wait_for(done.wait(), 20)
    stats = tx.statistics.as_dict()
    result = dict(stats, pending_after_burst=pending, in_order=got == data[: len(got)],
                  received=len(got), gso=tx.features.gso)
    tx.close(); rx.close()
    return result

async def main():
    loop = asyncio.get_running_loop()
    results = [await phase(loop, False, 4096), await phase(loop, True, 4096),
               await phase(loop, False, 20)]
    print(json.dumps(results))

asyncio.run(main())
"""


def _namespace_command() -> list[str] | None:
    """``unshare`` arguments that give a private network namespace here, or None."""
    if not all(shutil.which(tool) for tool in ("unshare", "ip", "tc")):
        return None
    for flags in (["-rn"], ["-n"]):
        probe = subprocess.run(
            ["unshare", *flags, "tc", "qdisc", "show", "dev", "lo"],
            capture_output=True,
            check=False,
        )
        if probe.returncode == 0:
            return ["unshare", *flags]
    return None


def test_eagain_burst_with_tiny_send_buffer_in_a_rate_limited_namespace() -> None:
    command = _namespace_command()
    rate_limited = command is not None
    argv = [sys.executable, "-c", _BURST_CHILD]
    if command is not None:
        argv = [*command, *argv, "--rate-limit"]
    child = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert child.returncode == 0, child.stderr
    unbounded_single, unbounded_gso, bounded = json.loads(child.stdout)
    for result in (unbounded_single, unbounded_gso, bounded):
        assert result["datagrams_sent"] + result["send_queue_drops"] == 300
        assert result["received"] == result["datagrams_sent"] and result["in_order"]
        assert result["send_errors"] == 0
    if not rate_limited:  # no namespace here: the plain-loopback burst is only accounted
        return
    for result in (unbounded_single, unbounded_gso):
        assert result["send_blocked"] >= 1 and result["pending_after_burst"] > 0  # real EAGAIN
        assert result["send_queue_drops"] == 0
    assert unbounded_gso["gso_batches"] >= 1 or not unbounded_gso["gso"]
    assert bounded["send_queue_drops"] > 0 and bounded["pending_after_burst"] == 20
