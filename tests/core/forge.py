"""Forging and opening real protected packets, for tests that play a misbehaving peer.

:func:`forge_datagram` builds one packet with chosen frames (or raw payload bytes) as the given
*sender* connection would: its current send keys of the level, its current destination CID, its
source CID, its next packet number (which it consumes, so the real sender stays consistent) and its
key phase.  The forged packet is recorded in the sender's loss detection as a packet that is
neither ack-eliciting nor in flight and carries nothing to retransmit, so the receiver's
acknowledgement of it is an ordinary ACK for the sender.

:func:`open_datagram` undoes it: it walks a datagram the given connection *sent* and removes
protection with that connection's own send keys, so a test can see what went on the wire even
when the receiver has no keys (any more) for a level.

Both use public attributes of :class:`~pyquic.core.connection.Connection` only.  So do the small
drivers at the end: :func:`handshake` (on the pair's network), then :func:`flush` and
:func:`deliver` for tests that move every datagram by hand at explicit virtual times, and
:func:`drain_events`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pyquic.core.connection import Connection, ConnectionState
from pyquic.core.crypto_interface import PacketKeys
from pyquic.core.events import ConnectionEvent
from pyquic.core.frame_parser import parse_frames
from pyquic.core.frames import ConnectionCloseFrame, Frame
from pyquic.core.levels import PACKET_TYPE_OF_LEVEL, SPACE_OF_LEVEL, EncryptionLevel
from pyquic.core.packet_builder import MIN_INITIAL_DATAGRAM_SIZE, plan_packet, seal_packet
from pyquic.core.packet_header import LongHeader, ShortHeader, iter_packets
from pyquic.core.packet_protection import unprotect_packet
from pyquic.core.sent_packet import SentPacket
from pyquic.core.version import PacketType
from pyquic.testing.pair import ConnectionPair

__all__ = [
    "OpenedPacket",
    "close_frames",
    "deliver",
    "drain_events",
    "flush",
    "forge_datagram",
    "handshake",
    "open_datagram",
    "send_keys",
]

SendKeys = Mapping[EncryptionLevel, PacketKeys]


def forge_datagram(
    sender: Connection,
    payload: Iterable[Frame] | bytes,
    *,
    level: EncryptionLevel = EncryptionLevel.APPLICATION,
    now_us: int,
) -> bytes:
    """One protected packet of ``level`` from ``sender`` carrying ``payload``.

    ``payload`` is a list of frames, encoded in order, or raw frame bytes (for malformed frames).
    A client's Initial is padded to 1200 bytes (RFC 9000 §14.1).
    """
    keys = sender.keys.send_keys(level)
    if keys is None or sender.peer_cids is None:
        raise ValueError(f"the sender has no {level.name} send keys")
    if isinstance(payload, bytes):
        body = bytearray(payload)
    else:
        body = bytearray()
        for frame in payload:
            frame.encode(body)
    space = SPACE_OF_LEVEL[level]
    packet_type = PACKET_TYPE_OF_LEVEL[level]
    token = sender.token if packet_type is PacketType.INITIAL and sender.is_client else b""
    packet_number = sender.next_packet_number[space]
    plan = plan_packet(
        packet_type,
        destination_cid=sender.peer_cids.current,
        source_cid=sender.local_cids.initial,
        token=token,
        packet_number=packet_number,
        largest_acked=sender.loss.largest_acked(space),
        space_left=sender.max_datagram_size,
    )
    assert plan is not None and len(body) <= plan.max_payload
    pad_to = MIN_INITIAL_DATAGRAM_SIZE if packet_type is PacketType.INITIAL else 0
    datagram = seal_packet(
        plan,
        keys,
        sender.version,
        body,
        destination_cid=sender.peer_cids.current,
        source_cid=sender.local_cids.initial,
        token=token,
        key_phase=sender.keys.key_phase,
        pad_to=pad_to if sender.is_client else 0,
    )
    sender.next_packet_number[space] += 1
    sender.loss.on_packet_sent(
        SentPacket(
            packet_number=packet_number,
            space=space,
            time_sent_us=now_us,
            size_bytes=len(datagram),
            ack_eliciting=False,
            in_flight=False,
            records=[],
        )
    )
    return datagram


@dataclass(frozen=True, slots=True)
class OpenedPacket:
    """One packet of a datagram, unprotected."""

    packet_type: PacketType
    packet_number: int
    frames: list[Frame]


_LEVEL_OF_TYPE = {
    PacketType.INITIAL: EncryptionLevel.INITIAL,
    PacketType.HANDSHAKE: EncryptionLevel.HANDSHAKE,
    PacketType.ONE_RTT: EncryptionLevel.APPLICATION,
}


def send_keys(sender: Connection) -> dict[EncryptionLevel, PacketKeys]:
    """A snapshot of ``sender``'s send keys, to open datagrams it builds while it discards some
    (a client drops its Initial keys when it first sends a Handshake packet, RFC 9001 §4.9.1)."""
    snapshot: dict[EncryptionLevel, PacketKeys] = {}
    for level in _LEVEL_OF_TYPE.values():
        keys = sender.keys.send_keys(level)
        if keys is not None:
            snapshot[level] = keys
    return snapshot


def open_datagram(
    sender: Connection, datagram: bytes, *, keys: SendKeys | None = None
) -> list[OpenedPacket]:
    """The packets of a datagram ``sender`` built, opened with ``sender``'s send keys (or
    ``keys``, a :func:`send_keys` snapshot taken before it was built)."""
    assert sender.peer_cids is not None
    keyring = send_keys(sender) if keys is None else keys
    packets: list[OpenedPacket] = []
    dcid_length = len(sender.peer_cids.current)
    for header in iter_packets(datagram, short_dcid_length=dcid_length):
        assert isinstance(header, LongHeader | ShortHeader), header
        packet_type = header.packet_type if isinstance(header, LongHeader) else PacketType.ONE_RTT
        level = _LEVEL_OF_TYPE[packet_type]
        level_keys = keyring.get(level)
        assert level_keys is not None, f"no {level.name} keys to open the packet with"
        packet = datagram[header.packet_start : header.packet_end]
        largest = sender.next_packet_number[SPACE_OF_LEVEL[level]] - 1
        opened = unprotect_packet(
            level_keys, packet, header.pn_offset - header.packet_start, largest
        )
        assert opened is not None, "the packet does not authenticate"
        _, packet_number, payload = opened
        packets.append(OpenedPacket(packet_type, packet_number, parse_frames(payload)))
    return packets


def close_frames(
    sender: Connection, datagram: bytes, *, keys: SendKeys | None = None
) -> list[tuple[PacketType, ConnectionCloseFrame]]:
    """The CONNECTION_CLOSE frames of a datagram ``sender`` built, with their packet types."""
    return [
        (packet.packet_type, frame)
        for packet in open_datagram(sender, datagram, keys=keys)
        for frame in packet.frames
        if isinstance(frame, ConnectionCloseFrame)
    ]


# --- driving ----------------------------------------------------------------------------------


def handshake(pair: ConnectionPair, *, settle_us: int = 500_000) -> int:
    """Run the pair's network until both sides confirmed the handshake, then ``settle_us`` more
    so every acknowledgement has been exchanged; returns the virtual time."""
    client, server = pair.client, pair.server
    pair.run(
        lambda: (
            client.handshake_confirmed
            and server.handshake_confirmed
            and client.state is ConnectionState.ESTABLISHED
        )
    )
    pair.run_for(settle_us)
    return pair.network.now_us


def flush(conn: Connection, now_us: int) -> list[bytes]:
    """Every datagram ``conn`` sends at ``now_us``."""
    return [datagram for datagram, _ in conn.datagrams_to_send(now_us)]


def deliver(conn: Connection, datagrams: Iterable[bytes], now_us: int) -> None:
    """``datagrams`` arrive at ``conn`` from its peer at ``now_us``."""
    for datagram in datagrams:
        conn.receive_datagram(datagram, conn.peer_address, now_us)


def drain_events(conn: Connection) -> list[ConnectionEvent]:
    """The events ``conn`` queued, oldest first."""
    events: list[ConnectionEvent] = []
    while (event := conn.poll_event()) is not None:
        events.append(event)
    return events
