"""The interop impairment relay: its link model, on plain UDP, and the runner through it."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time
from pathlib import Path

import pytest

from pyquic.tools import interop_runner
from pyquic.tools.interop_relay import (
    CLIENT_SIDE_PCAP,
    SERVER_SIDE_PCAP,
    Impairments,
    Link,
    PcapWriter,
    Rebinding,
    Relay,
)


def test_link_delays_and_shapes_to_the_bandwidth() -> None:
    link = Link(bandwidth_bps=10_000_000, queue_packets=1000, delay_s=0.015)
    deliveries = [link.admit(0.0, bytes(1250)) for _ in range(100)]  # 1 ms each at 10 Mbit/s
    times = [d[0] for d in deliveries if d is not None]
    assert times[0] == 0.001 + 0.015
    assert abs(times[-1] - (0.100 + 0.015)) < 1e-9


def test_link_drop_tail_queue_of_25_packets() -> None:
    link = Link()
    admitted = [link.admit(0.0, bytes(1250)) for _ in range(40)]
    assert sum(a is not None for a in admitted) == 25
    assert link.stats.dropped_queue == 15
    assert link.admit(0.0011, bytes(1250)) is not None  # the first packet has left the queue


def test_link_loss_statistics_are_seeded_and_capped() -> None:
    def losses(seed: int) -> list[bool]:
        link = Link(queue_packets=10**6, impairments=Impairments(drop_percent=10), seed=seed)
        return [link.admit(i * 0.01, bytes(100)) is None for i in range(10_000)]

    dropped = losses(7)
    assert dropped == losses(7)
    assert 800 < sum(dropped) < 1100
    assert "TTTT" not in "".join("T" if d else "F" for d in dropped)  # at most 3 in a row


def test_link_corrupts_one_byte_of_the_first_50_and_spares_version_negotiation() -> None:
    link = Link(queue_packets=10**6, impairments=Impairments(corrupt_percent=100), seed=1)
    packet = bytes(range(200))
    admitted = link.admit(0.0, packet)
    assert admitted is not None
    diff = [i for i in range(200) if admitted[1][i] != packet[i]]
    assert len(diff) == 1 and diff[0] < 50
    negotiation = b"\x80\x00\x00\x00\x00" + bytes(50)
    for _ in range(5):
        delivered = link.admit(0.0, negotiation)
        assert delivered is not None and delivered[1] == negotiation


def test_link_blackhole_window_and_drop_list() -> None:
    link = Link(impairments=Impairments(blackhole=(5.0, 2.0), drop_numbers=frozenset({2, 3})))
    assert link.admit(1.0, b"x", elapsed=1.0) is not None  # packet 1
    assert link.admit(2.0, b"x", elapsed=2.0) is None  # packet 2: listed
    assert link.admit(3.0, b"x", elapsed=3.0) is None  # packet 3: listed
    assert link.admit(6.0, b"x", elapsed=6.0) is None  # blackhole
    assert link.admit(7.5, b"x", elapsed=7.5) is not None
    assert (link.stats.dropped_list, link.stats.dropped_blackhole) == (2, 1)


async def _relay_round_trips(count: int) -> tuple[list[float], Relay]:
    """Send ``count`` datagrams client → relay → echo server → relay → client; the RTTs."""
    loop = asyncio.get_running_loop()
    echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    echo.bind(("127.0.0.1", 0))
    echo.setblocking(False)
    loop.add_reader(echo.fileno(), lambda: echo.sendto(*echo.recvfrom(2048)))
    links = (Link(delay_s=0.02, seed=1), Link(delay_s=0.02, seed=2))
    relay = Relay.listen(("127.0.0.1", 0), echo.getsockname(), *links)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.setblocking(False)
    rtts = []
    try:
        for _ in range(count):
            sent = time.monotonic()
            client.sendto(b"\x40ping", relay.address)
            while True:
                await asyncio.sleep(0.001)
                try:
                    client.recvfrom(2048)
                    break
                except BlockingIOError:
                    assert time.monotonic() - sent < 2
            rtts.append(time.monotonic() - sent)
    finally:
        loop.remove_reader(echo.fileno())
        relay.close()
        echo.close()
        client.close()
    return rtts, relay


def test_relay_forwards_plain_udp_with_the_link_delay() -> None:
    rtts, relay = asyncio.run(_relay_round_trips(5))
    assert all(0.04 <= rtt < 0.2 for rtt in rtts), rtts
    statistics = relay.statistics()
    assert statistics["to_server"]["forwarded"] == statistics["to_client"]["forwarded"] == 5
    assert statistics["to_client"]["first_short_s"] is not None


def test_transferloss_through_the_relay_is_green(tmp_path: Path) -> None:
    result = interop_runner.run_case("transferloss", tmp_path, timeout=60)
    assert result.status == "green", result.reason
    output = (tmp_path / "logs" / "relay-stats.json").read_text().strip().splitlines()[-1]
    statistics = json.loads(output)
    assert statistics["to_server"]["dropped_loss"] + statistics["to_client"]["dropped_loss"] > 0


@pytest.mark.parametrize("case", ["rebind-port", "rebind-addr"])
def test_rebinding_through_the_relay_is_green(case: str, tmp_path: Path) -> None:
    result = interop_runner.run_case(case, tmp_path, timeout=60)
    assert result.status == "green", result.reason
    output = (tmp_path / "logs" / "relay-stats.json").read_text().strip().splitlines()[-1]
    assert json.loads(output)["rebinding"]["rebinds"] >= 1


async def _sources_across_a_rebind(new_address: bool) -> tuple[list[tuple[str, int]], int]:
    """The server-side source addresses of two pings, one before and one after a rebind."""
    loop = asyncio.get_running_loop()
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.setblocking(False)
    sources: list[tuple[str, int]] = []

    def echo() -> None:
        data, addr = server.recvfrom(2048)
        sources.append(addr)
        server.sendto(data, addr)

    loop.add_reader(server.fileno(), echo)
    links = (Link(delay_s=0.001), Link(delay_s=0.001))
    rebinding = Rebinding(first_s=0.2, every_s=0, new_address=new_address)
    relay = Relay.listen(("127.0.0.1", 0), server.getsockname(), *links, rebinding)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.setblocking(False)
    try:
        for _ in range(2):
            client.sendto(b"\x40ping", relay.address)
            await asyncio.sleep(0.3)
            assert client.recvfrom(2048)[0] == b"\x40ping"
    finally:
        loop.remove_reader(server.fileno())
        relay.close()
        server.close()
        client.close()
    return sources, relay.rebinds


@pytest.mark.parametrize("new_address", [False, True])
def test_relay_rebinds_the_clients_source(new_address: bool) -> None:
    sources, rebinds = asyncio.run(_sources_across_a_rebind(new_address))
    assert rebinds == 1 and len(sources) == 2
    assert sources[0] != sources[1]
    assert (sources[0][0] != sources[1][0]) == new_address
    assert sources[1][0].startswith("127.")


def _pcap_records(path: Path) -> list[bytes]:
    """The packets of a classic pcap file (LINKTYPE_RAW), checking its headers."""
    data = path.read_bytes()
    magic, major, minor, _, _, _, linktype = struct.unpack_from("<IHHiIII", data)
    assert (magic, major, minor, linktype) == (0xA1B2C3D4, 2, 4, 101)
    records, offset = [], 24
    while offset < len(data):
        _, _, captured, original = struct.unpack_from("<IIII", data, offset)
        assert captured == original
        records.append(data[offset + 16 : offset + 16 + captured])
        offset += 16 + captured
    return records


def _ones_complement_sum(data: bytes) -> int:
    data += b"\x00" * (len(data) % 2)
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _udp_of(packet: bytes) -> tuple[int, tuple[str, int], tuple[str, int], bytes]:
    """(ECN, source, destination, payload) of a record, checking lengths and checksums."""
    if packet[0] >> 4 == 4:
        header, family, ecn = packet[:20], socket.AF_INET, packet[1] & 3
        assert struct.unpack_from("!H", header, 2)[0] == len(packet)
        assert _ones_complement_sum(header) == 0xFFFF  # the IPv4 header checksum holds
        src, dst, udp = header[12:16], header[16:20], packet[20:]
        pseudo = src + dst + struct.pack("!BBH", 0, 17, len(udp))
    else:
        family, ecn = socket.AF_INET6, (struct.unpack_from("!I", packet)[0] >> 20) & 3
        assert struct.unpack_from("!H", packet, 4)[0] == len(packet) - 40
        src, dst, udp = packet[8:24], packet[24:40], packet[40:]
        pseudo = src + dst + struct.pack("!IxxxB", len(udp), 17)
    source_port, destination_port, length, _ = struct.unpack_from("!HHHH", udp)
    assert length == len(udp)
    assert _ones_complement_sum(pseudo + udp) == 0xFFFF  # the UDP checksum holds
    source = (socket.inet_ntop(family, src), source_port)
    return ecn, source, (socket.inet_ntop(family, dst), destination_port), udp[8:]


def test_pcap_writer_synthesizes_ipv4_and_ipv6_headers_with_ecn(tmp_path: Path) -> None:
    writer = PcapWriter(tmp_path / "legs.pcap")
    writer.write(("127.0.0.1", 5000), ("127.0.0.2", 443), b"\xc0quic", 2)
    writer.write(("::1", 443), ("::1", 6000), bytes(range(255)), 3)
    writer.write(("::ffff:10.0.0.1", 7), ("10.0.0.2", 8), b"", 0)
    writer.close()
    records = [_udp_of(r) for r in _pcap_records(tmp_path / "legs.pcap")]
    assert records == [
        (2, ("127.0.0.1", 5000), ("127.0.0.2", 443), b"\xc0quic"),
        (3, ("::1", 443), ("::1", 6000), bytes(range(255))),
        (0, ("10.0.0.1", 7), ("10.0.0.2", 8), b""),
    ]


async def _relay_with_capture(pcap_dir: Path) -> tuple[Relay, tuple[str, int], list[int]]:
    """Two ECT(0) datagrams client → relay → echo server, the second dropped by the link."""
    loop = asyncio.get_running_loop()
    echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    echo.bind(("127.0.0.1", 0))
    echo.setblocking(False)
    echo.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
    received_ecn: list[int] = []

    def reply() -> None:
        data, ancillary, _, addr = echo.recvmsg(2048, 64)
        received_ecn.extend(d[0] & 3 for level, kind, d in ancillary if kind == socket.IP_TOS)
        echo.sendto(data, addr)

    loop.add_reader(echo.fileno(), reply)
    to_server = Link(delay_s=0.001, impairments=Impairments(drop_numbers=frozenset({2})))
    relay = Relay.listen(
        ("127.0.0.1", 0), echo.getsockname(), to_server, Link(delay_s=0.001), pcap_dir=pcap_dir
    )
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind(("127.0.0.1", 0))
    client.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 2)  # ECT(0)
    try:
        for payload in (b"\x40one", b"\x40two"):
            client.sendto(payload, relay.address)
            await asyncio.sleep(0.1)
    finally:
        loop.remove_reader(echo.fileno())
        relay.close()
        echo.close()
        client.close()
    return relay, relay.address, received_ecn


def test_relay_captures_each_leg_with_ecn_and_drops_where_seen(tmp_path: Path) -> None:
    relay, relay_address, received_ecn = asyncio.run(_relay_with_capture(tmp_path))
    assert received_ecn == [2]  # the relay forwarded ECT(0) to the server
    client_side = [_udp_of(r) for r in _pcap_records(tmp_path / CLIENT_SIDE_PCAP)]
    server_side = [_udp_of(r) for r in _pcap_records(tmp_path / SERVER_SIDE_PCAP)]
    assert [(ecn, payload) for ecn, _, _, payload in client_side] == [
        (2, b"\x40one"),
        (0, b"\x40one"),  # the echo's reply, Not-ECT
        (2, b"\x40two"),  # dropped by the link: on the client's leg only
    ]
    assert [(ecn, payload) for ecn, _, _, payload in server_side] == [
        (2, b"\x40one"),
        (0, b"\x40one"),
    ]
    client, relay_side = client_side[0][1], client_side[0][2]
    assert relay_side == relay_address and client_side[1][1:3] == (relay_address, client)
    upstream, server = server_side[0][1], server_side[0][2]
    assert server_side[1][1:3] == (server, upstream) and upstream != relay_address
    assert relay.statistics()["pcap"] == {"client_side": 3, "server_side": 2}


async def _two_listeners() -> list[tuple[bytes, tuple[str, int], tuple[str, int]]]:
    """A relay whose second socket leads to a second server (its preferred address)."""
    loop = asyncio.get_running_loop()
    servers = []
    for tag in (b"A", b"B"):
        echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        echo.bind(("127.0.0.1", 0))
        echo.setblocking(False)

        def answer(sock: socket.socket = echo, tag: bytes = tag) -> None:
            data, source = sock.recvfrom(2048)
            sock.sendto(tag + data, source)

        loop.add_reader(echo.fileno(), answer)
        servers.append(echo)
    links = (Link(delay_s=0.001, seed=1), Link(delay_s=0.001, seed=2))
    relay = Relay.listen(("127.0.0.1", 0), servers[0].getsockname(), *links)
    second = relay.add_listener(("127.0.0.1", 0), servers[1].getsockname())
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.setblocking(False)
    answers = []
    try:
        for target in (relay.address, second, relay.address):
            client.sendto(b"\x40ping", target)
            for _ in range(2000):
                await asyncio.sleep(0.001)
                try:
                    data, source = client.recvfrom(2048)
                    break
                except BlockingIOError:
                    continue
            answers.append((data, target, source))
    finally:
        for echo in servers:
            loop.remove_reader(echo.fileno())
            echo.close()
        relay.close()
        client.close()
    return answers


def test_a_second_listener_relays_to_the_second_server_and_answers_from_itself() -> None:
    answers = asyncio.run(_two_listeners())
    assert [data for data, _, _ in answers] == [b"A\x40ping", b"B\x40ping", b"A\x40ping"]
    for _, target, source in answers:
        assert source == target  # a path is a pair of addresses: replies come from it
