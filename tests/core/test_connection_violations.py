"""Peer violations: each is answered with its error code, and only the offending connection closes.

A test plays the misbehaving peer by forging a real protected packet with the *sender's* keys
(:func:`forge.forge_datagram`) and handing it to the victim.  The victim must close with the RFC's
code (and the offending frame's type): a ConnectionTerminated event with ``by_peer=False``, a
CONNECTION_CLOSE on the wire carrying the code (opened with the victim's own keys), which the peer
reports as ConnectionTerminated with ``by_peer=True``.  Meanwhile a second, unrelated pair, on its
own network, completes a transfer afterwards, so one connection's error never leaks beyond it.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from forge import close_frames, drain_events, flush, forge_datagram, handshake, send_keys

from pyquic.core.connection import Connection, ConnectionState
from pyquic.core.errors import TransportErrorCode
from pyquic.core.events import ConnectionTerminated, StreamReadable
from pyquic.core.frames import (
    CryptoFrame,
    Frame,
    FrameType,
    HandshakeDoneFrame,
    NewConnectionIdFrame,
    NewTokenFrame,
    PingFrame,
    ResetStreamFrame,
    StreamFrame,
)
from pyquic.core.levels import PACKET_TYPE_OF_LEVEL, EncryptionLevel
from pyquic.core.settings import Settings
from pyquic.core.version import PacketType
from pyquic.testing.pair import ConnectionPair, connection_pair, pair_settings

E = TransportErrorCode
PEER_STREAMS = 100  # pair_settings(): each side lets the peer open 100 streams of each kind
Payload = list[Frame] | bytes


@dataclass(frozen=True)
class Violation:
    """What a misbehaving peer sends after the handshake, and what the victim must answer."""

    name: str
    victim_is_server: bool
    payload: Callable[[ConnectionPair], Payload]
    code: int
    frame_type: int
    server_settings: Settings | None = None


def _stream(stream_id: int, offset: int = 0, data: bytes = b"x", fin: bool = False) -> StreamFrame:
    return StreamFrame(stream_id, offset, data, fin)


def _bidi_window(pair: ConnectionPair) -> int:
    """The server's receive window for a client-opened bidirectional stream, as advertised."""
    assert pair.client.peer_parameters is not None
    return pair.client.peer_parameters.initial_max_stream_data_bidi_remote


def _too_many_cids(pair: ConnectionPair) -> list[Frame]:
    """More NEW_CONNECTION_ID frames, none retiring any, than the client's limit allows."""
    server, client = pair.server, pair.client
    first = server.local_cids.next_sequence
    limit = client.settings.active_connection_id_limit
    return [
        NewConnectionIdFrame(seq, 0, bytes([0xC0, seq]) * 4, bytes([seq]) * 16)
        for seq in range(first, first + limit)
    ]


def _one(frame: Frame) -> Callable[[ConnectionPair], Payload]:
    return lambda pair: [frame]


VIOLATIONS = [
    Violation(
        "bidi-stream-beyond-limit",
        True,
        _one(_stream(4 * PEER_STREAMS)),
        E.STREAM_LIMIT_ERROR,
        _stream(4 * PEER_STREAMS).wire_type,
    ),
    Violation(
        "uni-stream-beyond-limit",
        True,
        _one(_stream(4 * PEER_STREAMS + 2)),
        E.STREAM_LIMIT_ERROR,
        _stream(0).wire_type,
    ),
    Violation(
        "server-stream-beyond-client-limit",
        False,
        _one(_stream(4 * PEER_STREAMS + 1)),
        E.STREAM_LIMIT_ERROR,
        _stream(0).wire_type,
    ),
    Violation(
        "stream-data-beyond-max-stream-data",
        True,
        lambda pair: [_stream(0, _bidi_window(pair))],
        E.FLOW_CONTROL_ERROR,
        _stream(0, 1).wire_type,
    ),
    Violation(
        "reset-final-size-beyond-max-stream-data",
        True,
        lambda pair: [ResetStreamFrame(0, 1, _bidi_window(pair) + 1)],
        E.FLOW_CONTROL_ERROR,
        FrameType.RESET_STREAM,
    ),
    Violation(
        "stream-data-beyond-max-data",
        True,
        lambda pair: [_stream(0, 2500), _stream(4, 2500)],
        E.FLOW_CONTROL_ERROR,
        _stream(0, 1).wire_type,
        server_settings=pair_settings().merge(conn_flow_control_window=4096),
    ),
    Violation(
        "reset-final-sizes-beyond-max-data",
        True,
        lambda pair: [ResetStreamFrame(0, 1, 2500), ResetStreamFrame(4, 1, 2500)],
        E.FLOW_CONTROL_ERROR,
        FrameType.RESET_STREAM,
        server_settings=pair_settings().merge(conn_flow_control_window=4096),
    ),
    Violation(
        "final-size-changed",
        True,
        lambda pair: [_stream(0, 0, b"abc", fin=True), _stream(0, 0, b"ab", fin=True)],
        E.FINAL_SIZE_ERROR,
        _stream(0, 0, b"ab", fin=True).wire_type,
    ),
    Violation(
        "data-beyond-final-size",
        True,
        lambda pair: [_stream(0, 0, b"abc", fin=True), _stream(0, 3, b"d")],
        E.FINAL_SIZE_ERROR,
        _stream(0, 3, b"d").wire_type,
    ),
    Violation(
        "reset-with-another-final-size",
        True,
        lambda pair: [_stream(0, 0, b"abc", fin=True), ResetStreamFrame(0, 1, 5)],
        E.FINAL_SIZE_ERROR,
        FrameType.RESET_STREAM,
    ),
    Violation(
        "crypto-far-beyond-delivered-offset",
        True,
        _one(CryptoFrame(1_000_000, b"x")),
        E.CRYPTO_BUFFER_EXCEEDED,
        FrameType.CRYPTO,
    ),
    Violation(
        "new-connection-id-beyond-limit",
        False,
        _too_many_cids,
        E.CONNECTION_ID_LIMIT_ERROR,
        FrameType.NEW_CONNECTION_ID,
    ),
    Violation(
        "stream-length-beyond-packet",
        True,
        lambda pair: bytes([FrameType.STREAM_LEN, 0, 0x40, 100]) + b"x",
        E.FRAME_ENCODING_ERROR,
        FrameType.STREAM_LEN,
    ),
    Violation(
        "ack-range-below-zero",
        True,
        lambda pair: bytes([FrameType.ACK, 5, 0, 0, 9]),
        E.FRAME_ENCODING_ERROR,
        FrameType.ACK,
    ),
    Violation(
        "unknown-frame-type",
        True,
        lambda pair: bytes([0x21]),
        E.FRAME_ENCODING_ERROR,
        0x21,
    ),
    Violation(
        "handshake-done-from-client",
        True,
        _one(HandshakeDoneFrame()),
        E.PROTOCOL_VIOLATION,
        FrameType.HANDSHAKE_DONE,
    ),
    Violation(
        "new-token-from-client",
        True,
        _one(NewTokenFrame(b"token")),
        E.PROTOCOL_VIOLATION,
        FrameType.NEW_TOKEN,
    ),
]


# --- the checks ---------------------------------------------------------------------------------


def _terminated(conn: Connection) -> list[ConnectionTerminated]:
    return [e for e in drain_events(conn) if isinstance(e, ConnectionTerminated)]


def _roles(pair: ConnectionPair, victim_is_server: bool) -> tuple[Connection, Connection]:
    """(victim, the peer whose keys forge the packet)."""
    return (pair.server, pair.client) if victim_is_server else (pair.client, pair.server)


def _expect_violation_answered(
    pair: ConnectionPair,
    victim: Connection,
    sender: Connection,
    datagram: bytes,
    code: int,
    frame_type: int,
) -> list[PacketType]:
    """Deliver ``datagram`` to ``victim`` and check the whole answer; returns the packet types
    of the victim's CONNECTION_CLOSE datagram."""
    now = pair.network.now_us
    drain_events(victim)
    drain_events(sender)
    victim.receive_datagram(datagram, victim.peer_address, now)
    assert victim.state is ConnectionState.CLOSING
    (event,) = _terminated(victim)
    assert (event.error_code, event.frame_type) == (code, frame_type), event
    assert not event.by_peer and not event.application
    # the CONNECTION_CLOSE on the wire (RFC 9000 §10.2, §19.19)
    keys = send_keys(victim)
    (close,) = flush(victim, now)
    closes = close_frames(victim, close, keys=keys)
    assert closes
    for _, frame in closes:
        assert (frame.error_code, frame.frame_type, frame.application) == (code, frame_type, False)
    # the peer learns the code and drains (RFC 9000 §10.2.2)
    pair.network.inject(sender.peer_address, victim.peer_address, close)
    pair.run(lambda: sender.state is ConnectionState.DRAINING)
    (peer_event,) = _terminated(sender)
    assert peer_event.by_peer and not peer_event.application
    assert (peer_event.error_code, peer_event.frame_type) == (code, frame_type)
    return [packet_type for packet_type, _ in closes]


def _bystander() -> ConnectionPair:
    pair = connection_pair(seed=99)
    handshake(pair)
    drain_events(pair.client)
    drain_events(pair.server)
    return pair


def _expect_transfer(pair: ConnectionPair, size: int = 100_000) -> None:
    """The pair still works: a stream of ``size`` bytes arrives whole."""
    client, server = pair.client, pair.server
    payload = random.Random(size).randbytes(size)
    stream_id = client.open_stream()
    client.send_stream(stream_id, payload, fin=True)
    received = bytearray()
    finished = False

    def done() -> bool:
        nonlocal finished
        for event in drain_events(server):
            assert not isinstance(event, ConnectionTerminated), event
            if isinstance(event, StreamReadable) and event.stream_id == stream_id:
                data, finished = server.read_stream(stream_id)
                received.extend(data)
        return finished

    pair.run(done)
    assert bytes(received) == payload
    assert client.state is ConnectionState.ESTABLISHED
    assert server.state is ConnectionState.ESTABLISHED


# --- the tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("violation", VIOLATIONS, ids=[v.name for v in VIOLATIONS])
def test_violation_after_the_handshake(violation: Violation) -> None:
    bystander = _bystander()
    pair = connection_pair(seed=7, server_settings=violation.server_settings)
    now = handshake(pair)
    victim, sender = _roles(pair, violation.victim_is_server)
    datagram = forge_datagram(sender, violation.payload(pair), now_us=now)
    packet_types = _expect_violation_answered(
        pair, victim, sender, datagram, violation.code, violation.frame_type
    )
    assert packet_types == [PacketType.ONE_RTT]  # the handshake is confirmed: 1-RTT only
    _expect_transfer(bystander)


@dataclass(frozen=True)
class EarlyViolation:
    """A frame in a packet type that may not carry it (RFC 9000 §12.4 Table 3)."""

    name: str
    level: EncryptionLevel
    victim_is_server: bool
    frame: Frame


_LEVELS = (EncryptionLevel.INITIAL, EncryptionLevel.HANDSHAKE, EncryptionLevel.APPLICATION)
EARLY_VIOLATIONS = [
    EarlyViolation("stream-in-initial", EncryptionLevel.INITIAL, True, _stream(0)),
    EarlyViolation("new-token-in-initial", EncryptionLevel.INITIAL, False, NewTokenFrame(b"t")),
    EarlyViolation("stream-in-handshake", EncryptionLevel.HANDSHAKE, True, _stream(0)),
    EarlyViolation(
        "handshake-done-in-handshake", EncryptionLevel.HANDSHAKE, False, HandshakeDoneFrame()
    ),
]


def _run_until_keys(
    pair: ConnectionPair, sender: Connection, victim: Connection, level: EncryptionLevel
) -> None:
    """Run the handshake until both ``sender`` can send and ``victim`` can read ``level``."""
    pair.run(
        lambda: (
            sender.keys.send_keys(level) is not None and victim.keys.recv_keys(level) is not None
        )
    )


@pytest.mark.parametrize("violation", EARLY_VIOLATIONS, ids=[v.name for v in EARLY_VIOLATIONS])
def test_frame_in_the_wrong_packet_type(violation: EarlyViolation) -> None:
    bystander = _bystander()
    pair = connection_pair(seed=8)
    victim, sender = _roles(pair, violation.victim_is_server)
    _run_until_keys(pair, sender, victim, violation.level)
    datagram = forge_datagram(
        sender, [violation.frame], level=violation.level, now_us=pair.network.now_us
    )
    packet_types = _expect_violation_answered(
        pair, victim, sender, datagram, E.PROTOCOL_VIOLATION, violation.frame.wire_type
    )
    # before confirmation the close goes in every level the victim can send in (RFC 9000 §10.2.3)
    assert packet_types == [
        PACKET_TYPE_OF_LEVEL[level] for level in _LEVELS if victim.keys.can_send(level)
    ]
    _expect_transfer(bystander)


def test_a_valid_forged_packet_is_simply_processed() -> None:
    """The forging helper itself: a well-formed packet changes nothing but the ACK state, and
    the sender's bookkeeping survives the acknowledgement of the forged packet number."""
    pair = connection_pair(seed=9)
    now = handshake(pair)
    datagram = forge_datagram(pair.client, [PingFrame()], now_us=now)
    pair.network.inject("client", "server", datagram)
    pair.run_for(200_000)
    assert pair.client.state is ConnectionState.ESTABLISHED
    assert pair.server.state is ConnectionState.ESTABLISHED
    assert not _terminated(pair.client) and not _terminated(pair.server)
    _expect_transfer(pair)
