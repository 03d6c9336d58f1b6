"""The interop runner's wire checks, applied to the relay's captures with tshark.

:func:`check_case` reads the two captures :mod:`pyquic.tools.interop_relay` writes with
``--pcap-dir`` (``client-side.pcap``: the client's leg, ``server-side.pcap``: the server's leg),
has tshark dissect and decrypt each once (``-T json`` with the endpoints' NSS key logs, QUIC
decoded on the port the first datagram went to), and applies the public runner's checks for the
case (``/work/shared/design/interop-runner.md`` §1), returning why it fails (empty: it passes).

Design: tshark's JSON is reduced to :class:`Datagram` s holding :class:`Packet` s (type, version,
connection IDs, token, packet number, key phase, frames, TLS handshake messages), which the checks
read.  A leg's client is whatever sent its first datagram (a client always speaks first), so the
checks need no addresses from the runner.  The "number of handshakes" is, as in the public
runner, the number of distinct Source Connection IDs of the Initial packets the server sent,
counted on the server's leg.  A check never passes for lack of evidence: tshark missing or
failing, a missing key log, or (where a case reads decrypted packets) protected packets that do
not decrypt are failures that say so.

The checks (case -> what is asserted), beyond the table's "1 HS" and "ver" (the server's Initials
all carry QUIC v1):

* handshake: no Retry on the client's leg.  longrtt: at least 2 ClientHellos from the client
  (client Initials with CRYPTO data at offset 0).
* chacha20: every ClientHello offers only TLS_CHACHA20_POLY1305_SHA256 (0x1303) and every
  ServerHello selects it.
* multiplexing: the server's initial_max_streams_bidi is present and at most 1000.
* retry: a Retry with a token, and a later client Initial carrying that token with a packet number
  above every token-less client Initial (no packet number reset, RFC 9000 §17.2.5.3).
* resumption: 2 handshakes; the first connection's server Handshake packets carry a Certificate,
  the second's none (RFC 8446 §2.2); no Handshake packet from a third server SCID.
* zerortt: 2 handshakes; 0-RTT payload sent; the client's 1-RTT payload at most 5000 bytes.
* keyupdate: a 1-RTT packet with key phase 1 (RFC 9001 §6) sent by the client (client leg) and
  one sent by the server (server leg).
* ecn: in each direction no CE, at least one ECT(0)/ECT(1) mark (RFC 9000 §13.4), and the receiver
  sent an ACK frame with ECN counts.
* amplificationlimit: the server's Handshake CRYPTO data reaches 7500 bytes; until the first
  client Handshake packet the server sent at most 3 times the UDP payload it received (RFC 9000
  §8.1); no Version Negotiation.
* handshakeloss, handshakecorruption: exactly :data:`MULTICONNECT_FILES` handshakes.
* ipv6: the server sent nothing over IPv4.
* v2: a client Initial in v1, a server Initial in v2 (0x6b3343cf, RFC 9369 §3.1), and every
  Handshake packet in both directions in v2 (no handshake count, no version check).
* rebind-port, rebind-addr, connectionmigration: at least 2 paths on the server's leg; the first
  server packet on each new path carries PATH_CHALLENGE (RFC 9000 §9.3) whose data comes back in
  a PATH_RESPONSE from the client (challenges to an abandoned binding, §9.3.3, are not counted);
  rebind-addr: the server sent to more than one client address; connectionmigration: the first
  client packet on each new path of the client's leg uses a Destination Connection ID not used
  before (RFC 9000 §9.5).
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyquic.tools.interop_relay import CLIENT_SIDE_PCAP, SERVER_SIDE_PCAP

__all__ = [
    "CHECKED_CASES",
    "MULTICONNECT_FILES",
    "NEEDS_KEY_LOG",
    "check_case",
    "read_trace",
]

TSHARK_TIMEOUT_S = 300.0
MULTICONNECT_FILES = 50  # the runner's handshakeloss / handshakecorruption connections
QUIC_V1 = 0x00000001
QUIC_V2 = 0x6B3343CF
CHACHA20_SUITE = 0x1303
MIN_DECRYPTED_SHARE = 0.5  # below it, the key log is taken not to work (corruption spoils some)
AMPLIFICATION_FACTOR = 3
AMPLIFICATION_CERTIFICATE_BYTES = 7500
MAX_STREAMS_BIDI = 1000
ZERORTT_MAX_1RTT_BYTES = 5000  # 0.5 x 250-byte names x 40 files
ECT0, ECT1, CE = 2, 1, 3
# Long header packet types (RFC 9000 §17.2 for v1, RFC 9369 §3.2 for v2).
_LONG_TYPES = {
    QUIC_V1: {0: "initial", 1: "0rtt", 2: "handshake", 3: "retry"},
    QUIC_V2: {1: "initial", 2: "0rtt", 3: "handshake", 0: "retry"},
}
_PATH_CHALLENGE, _PATH_RESPONSE = 0x1A, 0x1B
_TLS_CLIENT_HELLO, _TLS_SERVER_HELLO, _TLS_CERTIFICATE = 1, 2, 11
_PROTECTED = ("handshake", "0rtt", "1rtt")

Endpoint = tuple[str, int]


@dataclass
class Packet:
    """One QUIC packet as tshark dissected it."""

    kind: str  # initial, 0rtt, handshake, retry, 1rtt, vn, unknown
    version: int | None
    dcid: str
    scid: str
    token: str
    number: int | None
    key_phase: int | None
    payload_bytes: int
    frames: list[dict[str, Any]]  # tshark's tree of each decrypted frame


@dataclass
class Datagram:
    """One UDP datagram of a capture and the QUIC packets in it."""

    source: Endpoint
    destination: Endpoint
    ipv6: bool
    ecn: int
    payload_bytes: int
    from_client: bool
    packets: list[Packet] = field(default_factory=list)


@dataclass
class Trace:
    """One leg's capture: its datagrams in order."""

    name: str
    datagrams: list[Datagram]

    def packets(self, from_client: bool, kind: str | None = None) -> Iterator[Packet]:
        for datagram in self.datagrams:
            if datagram.from_client == from_client:
                yield from (p for p in datagram.packets if kind is None or p.kind == kind)


# --- tshark --------------------------------------------------------------------------------------


class CheckError(Exception):
    """A capture could not be read or decrypted: the reason is the check's failure."""


def _first_destination_port(pcap: Path) -> int | None:
    """The UDP destination port of the capture's first datagram (classic pcap, raw IP)."""
    with pcap.open("rb") as stream:
        header = stream.read(24 + 16 + 48)
    if len(header) < 24 + 16 + 28 or header[:4] != b"\xd4\xc3\xb2\xa1":
        return None
    ip = header[40:]
    offset = (ip[0] & 0x0F) * 4 if ip[0] >> 4 == 4 else 40
    if len(ip) < offset + 4:
        return None
    return int(struct.unpack_from("!H", ip, offset + 2)[0])


def _tshark(pcap: Path, keylog: Path, peer_ports: Sequence[int] = ()) -> list[dict[str, Any]]:
    """tshark's JSON dissection of ``pcap``, decrypted with ``keylog``."""
    program = shutil.which("tshark")
    if program is None:
        raise CheckError("tshark is not installed (scripts/install-test-peers.sh installs it)")
    if not pcap.is_file():
        raise CheckError(f"capture {pcap} is missing")
    port = _first_destination_port(pcap)
    command = [program, "-n", "-r", str(pcap), "-o", f"tls.keylog_file:{keylog}"]
    for quic_port in dict.fromkeys([*([] if port is None else [port]), *peer_ports]):
        command += ["-d", f"udp.port=={quic_port},quic"]
    command += ["-T", "json", "--no-duplicate-keys", "-J", "ip ipv6 udp quic"]
    try:
        result = subprocess.run(command, capture_output=True, timeout=TSHARK_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise CheckError(f"tshark took over {TSHARK_TIMEOUT_S:.0f} s on {pcap.name}") from None
    if result.returncode != 0:
        error = result.stderr.decode(errors="replace").strip().splitlines()[-1:]
        raise CheckError(f"tshark failed on {pcap.name}: {' '.join(error)}")
    try:
        frames = json.loads(result.stdout or b"[]")
    except ValueError as exc:
        raise CheckError(f"tshark's JSON for {pcap.name} does not parse: {exc}") from None
    return frames if isinstance(frames, list) else []


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def find_all(tree: Any, key: str) -> Iterator[Any]:
    """Every value of ``key`` anywhere in ``tree`` (tshark's JSON), lists flattened."""
    if isinstance(tree, dict):
        for name, value in tree.items():
            if name == key:
                yield from _list(value)
            else:
                yield from find_all(value, key)
    elif isinstance(tree, list):
        for value in tree:
            yield from find_all(value, key)


def _hex_bytes(text: Any) -> int:
    return (len(text) + 1) // 3 if isinstance(text, str) and text else 0


def _packet(quic: dict[str, Any]) -> Packet:
    short = quic.get("quic.short")
    frames = [f for f in _list(quic.get("quic.frame")) if isinstance(f, dict)]
    if isinstance(short, dict):
        return Packet(
            "1rtt",
            None,
            str(short.get("quic.dcid", "")),
            "",
            "",
            _int(short.get("quic.packet_number")),
            _int(short.get("quic.key_phase")),
            _hex_bytes(short.get("quic.protected_payload", quic.get("quic.remaining_payload"))),
            frames,
        )
    version = _int(quic.get("quic.version"))
    raw_type = _int(quic.get("quic.long.packet_type", quic.get("quic.long.packet_type_v2")))
    kind: str | None = "vn"
    if version != 0:
        kind = _LONG_TYPES.get(version or -1, {}).get(raw_type if raw_type is not None else -1)
    return Packet(
        kind or "unknown",
        version,
        str(quic.get("quic.dcid", "")),
        str(quic.get("quic.scid", "")),
        str(quic.get("quic.token", quic.get("quic.retry_token", ""))),
        _int(quic.get("quic.packet_number")),
        None,
        _hex_bytes(quic.get("quic.payload", quic.get("quic.remaining_payload"))),
        frames,
    )


def _int(value: Any) -> int | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if not isinstance(value, str):
        return None
    try:
        return int(value, 0)
    except ValueError:
        return None


def _datagram(
    layers: dict[str, Any], client_peer: list[Endpoint], peer_ports: Sequence[int] = ()
) -> Datagram | None:
    udp = layers.get("udp")
    ip = layers.get("ipv6") if "ipv6" in layers else layers.get("ip")
    if not isinstance(udp, dict) or not isinstance(ip, dict):
        return None
    ipv6 = "ipv6" in layers
    prefix = "ipv6" if ipv6 else "ip"
    source = (str(ip.get(f"{prefix}.src")), _int(udp.get("udp.srcport")) or 0)
    destination = (str(ip.get(f"{prefix}.dst")), _int(udp.get("udp.dstport")) or 0)
    if not client_peer:
        client_peer.append(destination)  # the first datagram goes from a client to its peer
    ecn_field = "ipv6.tclass.ecn" if ipv6 else "ip.dsfield.ecn"
    ecn = _int(next(find_all(ip, ecn_field), None)) or 0
    payload_bytes = (_int(udp.get("udp.length")) or 8) - 8
    packets = [_packet(q) for q in _list(layers.get("quic")) if isinstance(q, dict)]
    from_client = destination == client_peer[0] or destination[1] in peer_ports
    return Datagram(source, destination, ipv6, ecn, payload_bytes, from_client, packets)


def read_trace(pcap: Path, keylog: Path, peer_ports: Sequence[int] = ()) -> Trace:
    """Dissect and decrypt one capture into a :class:`Trace` (raises :class:`CheckError`).

    The client's peer is the destination of the first datagram, and any port of
    ``peer_ports`` (a server with a second address, its preferred address: RFC 9000 §9.6).
    """
    client_peer: list[Endpoint] = []
    datagrams = []
    for frame in _tshark(pcap, keylog, peer_ports):
        layers = frame.get("_source", {}).get("layers", {}) if isinstance(frame, dict) else {}
        datagram = _datagram(layers, client_peer, peer_ports)
        if datagram is not None:
            datagrams.append(datagram)
    return Trace(pcap.name, datagrams)


def _decryption_problem(trace: Trace) -> str:
    """Why ``trace``'s protected packets did not decrypt (empty when enough did)."""
    protected = [p for d in trace.datagrams for p in d.packets if p.kind in _PROTECTED]
    if not protected:
        return ""
    decrypted = sum(1 for p in protected if p.frames)
    if decrypted >= MIN_DECRYPTED_SHARE * len(protected):
        return ""
    return (
        f"tshark could not decrypt {len(protected) - decrypted} of {len(protected)} "
        f"Handshake/0-RTT/1-RTT packets of {trace.name} with the key log"
    )


# --- the checks ----------------------------------------------------------------------------------

Check = Callable[[Trace, Trace], list[str]]


def server_handshakes(server: Trace) -> list[str]:
    """The distinct SCIDs of the server's Initial packets, in order (one per handshake)."""
    seen: dict[str, None] = {}
    for packet in server.packets(from_client=False, kind="initial"):
        seen.setdefault(packet.scid, None)
    return list(seen)


def _handshakes(expected: int) -> Check:
    def check(client: Trace, server: Trace) -> list[str]:
        count = len(server_handshakes(server))
        if count != expected:
            return [f"{count} handshakes on the server's leg, expected {expected}"]
        return []

    return check


def _version_1(client: Trace, server: Trace) -> list[str]:
    versions = {p.version for p in server.packets(from_client=False, kind="initial")}
    if versions != {QUIC_V1}:
        shown = ", ".join(f"{v:#010x}" for v in sorted(v for v in versions if v is not None))
        return [f"the server's Initials carry versions {{{shown}}}, expected only 0x00000001"]
    return []


def _no_retry(client: Trace, server: Trace) -> list[str]:
    retries = sum(1 for _ in client.packets(from_client=False, kind="retry"))
    return [f"{retries} Retry packets on the client's leg, expected none"] if retries else []


def _tls_messages(packets: Iterator[Packet], message_type: int) -> list[dict[str, Any]]:
    """The TLS handshake messages of ``message_type`` tshark found in ``packets``' CRYPTO data."""
    return [
        message
        for packet in packets
        for message in find_all(packet.frames, "tls.handshake")
        if isinstance(message, dict) and _int(message.get("tls.handshake.type")) == message_type
    ]


def _hello_retransmitted(client: Trace, server: Trace) -> list[str]:
    """The ClientHello was sent at least twice: client Initials with CRYPTO data at offset 0.

    Counted by the CRYPTO offset, since tshark dissects a ClientHello only the first time it
    reassembles it, not in a retransmission.
    """
    hellos = sum(
        1
        for packet in client.packets(from_client=True, kind="initial")
        if any(_int(f.get("quic.crypto.offset")) == 0 for f in packet.frames)
    )
    return [] if hellos >= 2 else [f"{hellos} ClientHellos from the client, expected >= 2"]


def _chacha20(client: Trace, server: Trace) -> list[str]:
    problems = []
    hellos = _tls_messages(client.packets(True, "initial"), _TLS_CLIENT_HELLO)
    if not hellos:
        problems.append("no ClientHello on the client's leg")
    for hello in hellos:
        offered = {_int(s) for s in find_all(hello, "tls.handshake.ciphersuite")}
        if offered != {CHACHA20_SUITE}:
            shown = ", ".join(f"{s:#06x}" for s in sorted(x for x in offered if x is not None))
            problems.append(f"a ClientHello offers {{{shown}}}, expected only 0x1303")
    server_hellos = _tls_messages(server.packets(False, "initial"), _TLS_SERVER_HELLO)
    selected = [_int(hello.get("tls.handshake.ciphersuite")) for hello in server_hellos]
    if not selected or any(suite != CHACHA20_SUITE for suite in selected):
        shown = ", ".join("?" if suite is None else f"{suite:#06x}" for suite in selected)
        problems.append(f"the ServerHellos select [{shown}], expected 0x1303")
    return problems


def _max_streams(client: Trace, server: Trace) -> list[str]:
    values = [
        _int(value)
        for packet in server.packets(from_client=False, kind="handshake")
        for value in find_all(packet.frames, "tls.quic.parameter.initial_max_streams_bidi")
    ]
    if not values:
        return ["no initial_max_streams_bidi in the server's Handshake packets"]
    if any(v is None or v > MAX_STREAMS_BIDI for v in values):
        return [f"the server's initial_max_streams_bidi is {values[0]}, above {MAX_STREAMS_BIDI}"]
    return []


def _retry(client: Trace, server: Trace) -> list[str]:
    tokens = {p.token for p in client.packets(from_client=False, kind="retry") if p.token}
    if not tokens:
        return ["no Retry with a token on the client's leg"]
    initials = list(client.packets(from_client=True, kind="initial"))
    tokenless = [p.number for p in initials if not p.token and p.number is not None]
    reused = [p.number for p in initials if p.token in tokens and p.number is not None]
    if not reused:
        return ["no client Initial carries the Retry's token"]
    if tokenless and max(reused) <= max(tokenless):
        return [
            f"the client's Initials with the Retry token have packet numbers {reused}, not above "
            f"those without it ({max(tokenless)}): the packet numbers were reset"
        ]
    return []


def _carries_certificate(packet: Packet) -> bool:
    return any(_int(t) == _TLS_CERTIFICATE for t in find_all(packet.frames, "tls.handshake.type"))


def _resumption(client: Trace, server: Trace) -> list[str]:
    connections = server_handshakes(server)
    if len(connections) < 2:
        return []  # the handshake count says why
    problems = []
    by_scid: dict[str, list[Packet]] = {}
    for packet in server.packets(from_client=False, kind="handshake"):
        by_scid.setdefault(packet.scid, []).append(packet)
    first, second = (by_scid.get(scid, []) for scid in connections[:2])
    if not any(_carries_certificate(p) for p in first):
        problems.append("the first connection's server Handshake packets carry no Certificate")
    if any(_carries_certificate(p) for p in second):
        problems.append("the second connection's server Handshake packets carry a Certificate")
    if not second:
        problems.append("no server Handshake packet in the second connection")
    if set(by_scid) - set(connections[:2]):
        problems.append("server Handshake packets from a third connection ID")
    return problems


def _zero_rtt(client: Trace, server: Trace) -> list[str]:
    problems = []
    early = sum(p.payload_bytes for p in client.packets(from_client=True, kind="0rtt"))
    if early == 0:
        problems.append("no 0-RTT payload from the client")
    late = sum(p.payload_bytes for p in client.packets(from_client=True, kind="1rtt"))
    if late > ZERORTT_MAX_1RTT_BYTES:
        problems.append(f"{late} bytes of client 1-RTT payload, above {ZERORTT_MAX_1RTT_BYTES}")
    return problems


def _key_phases(client: Trace, server: Trace) -> list[str]:
    problems = []
    for trace, from_client, who in ((client, True, "client"), (server, False, "server")):
        if not any(p.key_phase == 1 for p in trace.packets(from_client, kind="1rtt")):
            problems.append(f"no 1-RTT packet with key phase 1 sent by the {who} ({trace.name})")
    return problems


def _ecn(client: Trace, server: Trace) -> list[str]:
    problems = []
    for trace, from_client, who in ((client, True, "client"), (server, False, "server")):
        marks = [d.ecn for d in trace.datagrams if d.from_client == from_client]
        if CE in marks:
            problems.append(f"CE marks on the {who}'s datagrams ({trace.name})")
        if not any(mark in (ECT0, ECT1) for mark in marks):
            problems.append(f"no ECT(0)/ECT(1) mark on the {who}'s datagrams ({trace.name})")
        counted = any(
            "quic.ack.ect0_count" in frame
            for packet in trace.packets(from_client)
            for frame in packet.frames
        )
        if not counted:
            problems.append(f"no ACK with ECN counts sent by the {who} ({trace.name})")
    return problems


def _amplification(client: Trace, server: Trace) -> list[str]:
    problems = []
    crypto_end = max(
        (
            (_int(frame.get("quic.crypto.offset")) or 0)
            + (_int(frame.get("quic.crypto.length")) or 0)
            for packet in server.packets(from_client=False, kind="handshake")
            for frame in packet.frames
        ),
        default=0,
    )
    if crypto_end < AMPLIFICATION_CERTIFICATE_BYTES:
        problems.append(
            f"the server's Handshake CRYPTO data ends at {crypto_end} bytes, below "
            f"{AMPLIFICATION_CERTIFICATE_BYTES}: the certificate chain is too small to test"
        )
    received = sent = 0
    for datagram in server.datagrams:
        if datagram.from_client:
            if any(p.kind == "handshake" for p in datagram.packets):
                break  # the client's address is validated (RFC 9000 §8.1)
            received += datagram.payload_bytes
        else:
            sent += datagram.payload_bytes
    if sent > AMPLIFICATION_FACTOR * received:
        problems.append(
            f"the server sent {sent} bytes before validating the client's address, more than "
            f"{AMPLIFICATION_FACTOR} x the {received} bytes it received"
        )
    if any(p.kind == "vn" for d in server.datagrams for p in d.packets):
        problems.append("a Version Negotiation packet on the server's leg")
    return problems


def _ipv6_only(client: Trace, server: Trace) -> list[str]:
    over_ipv4 = sum(1 for d in server.datagrams if not d.from_client and not d.ipv6)
    return [f"the server sent {over_ipv4} datagrams over IPv4"] if over_ipv4 else []


def _v2(client: Trace, server: Trace) -> list[str]:
    problems = []
    if not any(p.version == QUIC_V1 for p in client.packets(from_client=True, kind="initial")):
        problems.append("no client Initial in QUIC v1")
    if not any(p.version == QUIC_V2 for p in server.packets(from_client=False, kind="initial")):
        problems.append("no server Initial in QUIC v2 (0x6b3343cf)")
    for trace, from_client, who in ((client, True, "client"), (server, False, "server")):
        versions = [p.version for p in trace.packets(from_client, kind="handshake")]
        if not versions:
            problems.append(f"no Handshake packet from the {who} in QUIC v2 ({trace.name})")
        elif any(v != QUIC_V2 for v in versions):
            problems.append(f"{who} Handshake packets not in QUIC v2 ({trace.name})")
    return problems


def _frame_values(packets: Iterator[Packet], frame_type: int, key: str) -> Iterator[str]:
    for packet in packets:
        for frame in packet.frames:
            if _int(frame.get("quic.frame_type")) == frame_type and key in frame:
                yield str(frame[key])


def _new_paths(client: Trace, server: Trace) -> list[str]:
    """Each new path of the server's leg opens with a PATH_CHALLENGE (§9.3) the client answers.

    Only the challenges that open a new path count: those the server sends to the binding the
    NAT abandoned (RFC 9000 §9.3.3 has it validate the previous path) cannot be answered.
    """
    problems = []
    paths: list[Endpoint] = []
    challenges: set[str] = set()
    for datagram in server.datagrams:
        if datagram.from_client or datagram.destination in paths:
            continue
        if paths:
            found = set(
                _frame_values(iter(datagram.packets), _PATH_CHALLENGE, "quic.path_challenge.data")
            )
            if not found:
                problems.append(
                    f"the server's first packet to {datagram.destination} has no challenge"
                )
            challenges |= found
        paths.append(datagram.destination)
    if len(paths) < 2:
        problems.append(f"{len(paths)} path(s) on the server's leg, expected at least 2")
    responses = set(_frame_values(client.packets(True), _PATH_RESPONSE, "quic.path_response.data"))
    if challenges - responses:
        problems.append(
            f"{len(challenges - responses)} of the server's {len(challenges)} PATH_CHALLENGEs "
            "opening a new path got no PATH_RESPONSE from the client"
        )
    return problems


def _client_addresses(client: Trace, server: Trace) -> list[str]:
    hosts = {d.destination[0] for d in server.datagrams if not d.from_client}
    return [] if len(hosts) > 1 else [f"the server sent to {len(hosts)} client address(es)"]


def _new_dcids(client: Trace, server: Trace) -> list[str]:
    """The client's first packet on each new path of its leg uses an unused DCID (§9.5)."""
    problems = []
    paths: set[tuple[Endpoint, Endpoint]] = set()
    used: set[str] = set()
    for datagram in client.datagrams:
        if not datagram.from_client or not datagram.packets:
            continue
        path = (datagram.source, datagram.destination)
        dcid = datagram.packets[0].dcid
        if paths and path not in paths and dcid in used:
            problems.append(f"the client reused DCID {dcid} on the new path {path}")
        paths.add(path)
        used.add(dcid)
    if len(paths) < 2:
        problems.append(f"{len(paths)} client path(s) on the client's leg, expected at least 2")
    return problems


_VER = (_version_1,)
# Each case: the handshakes the server must count (None: not counted) and the other checks.
_CHECKS: dict[str, tuple[int | None, tuple[Check, ...]]] = {
    "handshake": (1, (_no_retry, _version_1)),
    "transfer": (1, _VER),
    "longrtt": (1, (_version_1, _hello_retransmitted)),
    "chacha20": (1, (_version_1, _chacha20)),
    "multiplexing": (1, (_version_1, _max_streams)),
    "retry": (1, (_version_1, _retry)),
    "resumption": (2, (_version_1, _resumption)),
    "zerortt": (2, (_version_1, _zero_rtt)),
    "http3": (1, _VER),
    "blackhole": (1, _VER),
    "keyupdate": (1, (_version_1, _key_phases)),
    "ecn": (1, (_no_retry, _version_1, _ecn)),
    "amplificationlimit": (1, (_version_1, _amplification)),
    "handshakeloss": (MULTICONNECT_FILES, _VER),
    "transferloss": (1, _VER),
    "handshakecorruption": (MULTICONNECT_FILES, _VER),
    "transfercorruption": (1, _VER),
    "ipv6": (1, (_version_1, _ipv6_only)),
    "v2": (None, (_v2,)),
    "rebind-port": (1, (_version_1, _new_paths)),
    "rebind-addr": (1, (_version_1, _client_addresses, _new_paths)),
    "connectionmigration": (1, (_version_1, _new_paths, _new_dcids)),
    "goodput": (1, _VER),
    "crosstraffic": (1, _VER),
}
CHECKED_CASES = frozenset(_CHECKS)
# The cases whose checks read decrypted packets ("KL" in the design notes' table).
NEEDS_KEY_LOG = frozenset(
    {
        "multiplexing",
        "resumption",
        "keyupdate",
        "ecn",
        "amplificationlimit",
        "rebind-port",
        "rebind-addr",
        "connectionmigration",
    }
)


def _merged_keylog(keylog: Path | Sequence[Path], directory: Path) -> Path:
    """One key log file holding every given one (raises :class:`CheckError` if one is missing)."""
    paths = [keylog] if isinstance(keylog, (str, os.PathLike)) else list(keylog)
    if not paths:
        raise CheckError("no key log given")
    for path in paths:
        if not Path(path).is_file():
            raise CheckError(f"key log {path} is missing: tshark cannot decrypt the captures")
    merged = directory / "keys.log"
    with merged.open("wb") as out:
        for path in paths:
            out.write(Path(path).read_bytes().rstrip(b"\n") + b"\n")
    return merged


def check_case(
    case: str,
    pcap_dir: Path,
    keylog: Path | Sequence[Path],
    *,
    handshakes: int | None = None,
    relay_ports: Sequence[int] = (),
    server_ports: Sequence[int] = (),
) -> list[str]:
    """Why ``case`` fails the runner's wire checks on the captures in ``pcap_dir``; [] passes.

    ``relay_ports`` and ``server_ports``: the client's peer's other ports on each leg, when the
    server has a second address (connectionmigration's preferred address, RFC 9000 §9.6).

    ``pcap_dir`` holds the relay's ``client-side.pcap`` and ``server-side.pcap`` (``--pcap-dir``).
    ``keylog`` is the NSS key log file (SSLKEYLOGFILE) of the endpoints, or several (the client's
    and the server's), which are concatenated.  ``handshakes`` overrides the number of
    handshakes expected where the case counts them (a multiconnect case with fewer files than
    :data:`MULTICONNECT_FILES`).  A case without wire checks (not in :data:`CHECKED_CASES`)
    returns [] without running tshark.  Otherwise tshark runs once per capture; tshark missing or
    failing, a missing capture or key log, and for the cases that read decrypted packets
    (:data:`NEEDS_KEY_LOG`) protected packets that mostly do not decrypt on a leg, each give a
    failure reason naming the problem: the checks never pass for want of evidence.  (The other
    cases read only cleartext headers and Initial packets; under corruption, a packet whose
    key phase bit was flipped can leave tshark unable to decrypt the rest of a leg.)
    """
    if case not in _CHECKS:
        return []
    expected, checks = _CHECKS[case]
    if expected is not None:
        checks = (_handshakes(expected if handshakes is None else handshakes), *checks)
    try:
        with tempfile.TemporaryDirectory(prefix="pyquic-checks-") as scratch:
            merged = _merged_keylog(keylog, Path(scratch))
            client = read_trace(pcap_dir / CLIENT_SIDE_PCAP, merged, relay_ports)
            server = read_trace(pcap_dir / SERVER_SIDE_PCAP, merged, server_ports)
    except CheckError as exc:
        return [str(exc)]
    problems = []
    if case in NEEDS_KEY_LOG:
        problems += [p for p in (_decryption_problem(client), _decryption_problem(server)) if p]
    if not client.datagrams or not server.datagrams:
        problems.append("a capture holds no datagram")
    for check in checks:
        problems.extend(check(client, server))
    return problems
