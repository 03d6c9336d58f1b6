"""Sending: which frames go into which packets, and what acknowledgements and losses mean.

Design (MsQuic's send.c and loss_detection.c, quinn's poll_transmit): every packet is filled
from *current state* in a fixed order: ACK, CRYPTO, HANDSHAKE_DONE, connection and stream
control frames, then stream data round-robin by priority.  Each packet remembers small frame
records (:mod:`pyquic.core.sent_packet`); when it is acknowledged or declared lost the records go
back to the state that produced them, which marks data acknowledged or due again.  Old packet
bytes are never resent.

Limits on sending: the anti-amplification limit of 3x the bytes received before the peer's address
is validated (RFC 9000 §8.1), the congestion window and pacing (RFC 9002 §7), probes exempt
(RFC 9002 §7.5); datagrams carrying a client Initial, or an ack-eliciting server Initial, are
padded to 1200 bytes (RFC 9000 §14.1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from pyquic.core import ecn, key_update, paths, stream_burst
from pyquic.core.connection_state import ConnectionState
from pyquic.core.crypto_interface import PacketKeys
from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.core.frames import (
    AckFrame,
    ConnectionCloseFrame,
    CryptoFrame,
    DataBlockedFrame,
    Frame,
    HandshakeDoneFrame,
    MaxDataFrame,
    NewConnectionIdFrame,
    NewTokenFrame,
    PingFrame,
    RetireConnectionIdFrame,
    StreamFrame,
)
from pyquic.core.handshake_speedup import requeue_crypto
from pyquic.core.levels import (
    PACKET_TYPE_OF_LEVEL,
    SPACE_OF_LEVEL,
    EncryptionLevel,
    PacketSpace,
)
from pyquic.core.mtu_discovery import (
    BASE_DATAGRAM_SIZE,
    PROBE_AFTER_BYTES,
    MtuProbeRecord,
    udp_payload_limit,
)
from pyquic.core.packet_builder import (
    MIN_INITIAL_DATAGRAM_SIZE,
    PacketPlan,
    plan_packet,
    seal_packet,
)
from pyquic.core.qlog import QlogPacketHeader
from pyquic.core.send_plan import LEVELS as _LEVELS
from pyquic.core.send_plan import amplification_allowance as _amplification_allowance
from pyquic.core.send_plan import levels_to_send as _levels_to_send
from pyquic.core.send_plan import next_send_timer_us as next_send_timer_us
from pyquic.core.send_plan import nothing_to_send
from pyquic.core.send_plan import peer_cid_limit as _peer_cid_limit
from pyquic.core.send_plan import peer_validated as _peer_validated
from pyquic.core.send_plan import timer_inputs as _timer_inputs
from pyquic.core.sent_packet import AckRecord, CryptoChunk, FrameRecord, SentPacket, StreamChunk
from pyquic.core.streams import Stream
from pyquic.core.varint import varint_size
from pyquic.core.version import PacketType

if TYPE_CHECKING:
    from pyquic.core.connection import Address, Connection

MAX_DATAGRAMS_PER_CALL = 64
_STREAM_FRAME_OVERHEAD = 1 + 2  # type byte and a 2-byte Length; ID and offset counted per frame


# --- building datagrams ----------------------------------------------------------------------


def datagrams_to_send(conn: Connection, now_us: int) -> list[tuple[bytes, Address]]:

    conn.now_us = now_us
    if conn.state is ConnectionState.CLOSING:
        return _close_datagrams(conn, now_us)
    conn.pacing_deadline_us = None  # recomputed below if the pacer still holds data back
    out: list[tuple[bytes, Address]] = []
    if nothing_to_send(conn, now_us):  # the usual answer: skip the limits and the pacer
        return out + paths.other_path_datagrams(conn, now_us)
    _mtu_probe(conn, now_us, out)
    while len(out) < MAX_DATAGRAMS_PER_CALL:
        if stream_burst.steady(conn, now_us):  # the bulk fast path (stream_burst's docstring)
            end = stream_burst.send_burst(conn, now_us, out, MAX_DATAGRAMS_PER_CALL - len(out))
            if end is not stream_burst.BurstEnd.GENERAL or len(out) >= MAX_DATAGRAMS_PER_CALL:
                break
        datagram = _build_datagram(conn, now_us)
        if datagram is None:
            break
        paths.on_sent(conn, len(datagram))
        out.append((datagram, conn.peer_address))
    return out + paths.other_path_datagrams(conn, now_us)  # RFC 9000 §8.2, §9.3.3


def _build_datagram(conn: Connection, now_us: int) -> bytes | None:
    limit = conn.max_datagram_size
    allowance = _amplification_allowance(conn)
    if allowance is not None:
        limit = min(limit, allowance)
    probing = any(conn.probes_pending.values())
    may_send_data = probing or conn.cc.can_send(limit)
    if may_send_data and not probing and conn.pacer is not None:
        wait = conn.pacer.time_until_send_us(limit, now_us)
        if wait > 0:
            conn.pacing_deadline_us = now_us + wait
            may_send_data = False
    levels = _levels_to_send(conn, now_us, may_send_data)
    if not levels:
        return None
    datagram = bytearray()
    needs_padding = False
    for index, level in enumerate(levels):
        last = index == len(levels) - 1
        pad_to = 0
        if last and (needs_padding or _initial_needs_padding(conn, level, may_send_data)):
            pad_to = min(MIN_INITIAL_DATAGRAM_SIZE, limit) - len(datagram)
        packet = _build_packet(conn, level, limit - len(datagram), now_us, may_send_data, pad_to)
        if packet is None:
            continue
        if level is EncryptionLevel.INITIAL and (conn.is_client or packet[1]):
            needs_padding = True
        datagram += packet[0]
    if not datagram:
        return None
    conn.bytes_sent += len(datagram)
    if conn.pacer is not None:
        conn.pacer.on_sent(len(datagram), now_us)
    _after_datagram(conn)
    return bytes(datagram)


def _initial_needs_padding(conn: Connection, level: EncryptionLevel, may_send_data: bool) -> bool:
    """RFC 9000 §14.1: a client pads every datagram with an Initial; a server pads
    datagrams with ack-eliciting Initials (approximated here by having data to send)."""
    if level is not EncryptionLevel.INITIAL:
        return False
    return conn.is_client or (may_send_data and conn.crypto_streams[level].has_pending)


def _after_datagram(conn: Connection) -> None:
    if conn.is_client and conn.sent_handshake_packet:
        # RFC 9001 §4.9.1: a client discards Initial keys when it first sends a Handshake packet
        conn.discard_level(EncryptionLevel.INITIAL)


class _PacketFiller:
    """Frames and their records for one packet, within its payload budget."""

    __slots__ = (
        "ack_eliciting",
        "budget",
        "frames",
        "largest_acked",
        "payload",
        "records",
        "stream_bytes",
    )

    def __init__(self, budget: int, *, keep_frames: bool = False) -> None:
        self.payload = bytearray()
        self.records: list[FrameRecord] = []
        # the frames themselves are kept only for qlog
        self.frames: list[Frame] | None = [] if keep_frames else None
        self.budget = budget
        self.ack_eliciting = False
        self.largest_acked: int | None = None
        self.stream_bytes = 0  # STREAM frame data bytes, for the statistics

    @property
    def room(self) -> int:
        return self.budget - len(self.payload)

    def add(self, frame: Frame, record: FrameRecord | None, *, eliciting: bool = True) -> bool:
        size_before = len(self.payload)
        frame.encode(self.payload)
        if len(self.payload) > self.budget:
            del self.payload[size_before:]
            return False
        if record is not None:
            self.records.append(record)
        if self.frames is not None:
            self.frames.append(frame)
        self.ack_eliciting |= eliciting
        return True


def _plan(
    conn: Connection, level: EncryptionLevel, space_left: int
) -> tuple[PacketPlan, PacketKeys, bytes, bytes] | None:
    """Lay out the next packet of ``level``: its plan, send keys, Initial token and DCID."""
    keys = conn.keys.send_keys(level)
    assert keys is not None and conn.peer_cids is not None
    space = SPACE_OF_LEVEL[level]
    packet_type = PACKET_TYPE_OF_LEVEL[level]
    # RFC 9000 §17.2.2: only a client's Initial packets carry a token
    token = conn.token if packet_type is PacketType.INITIAL and conn.is_client else b""
    destination_cid = conn.peer_cids.current
    plan = plan_packet(
        packet_type,
        destination_cid=destination_cid,
        source_cid=conn.local_cids.initial,
        token=token,
        packet_number=conn.next_packet_number[space],
        largest_acked=conn.loss.largest_acked(space),
        space_left=space_left,
    )
    return None if plan is None else (plan, keys, token, destination_cid)


def _build_packet(
    conn: Connection,
    level: EncryptionLevel,
    space_left: int,
    now_us: int,
    may_send_data: bool,
    pad_to: int,
) -> tuple[bytes, bool] | None:
    """One protected packet for ``level`` and whether it is ack-eliciting; None if empty."""
    if level is EncryptionLevel.APPLICATION:
        key_update.before_send(conn)  # RFC 9001 §6.6
    planned = _plan(conn, level, space_left)
    if planned is None:
        return None
    plan, keys, token, destination_cid = planned
    space = SPACE_OF_LEVEL[level]
    filler = _PacketFiller(plan.max_payload, keep_frames=conn.qlog is not None)
    if level is not EncryptionLevel.EARLY_DATA:  # no ACK in 0-RTT (RFC 9000 §12.4)
        _add_ack(conn, space, filler, now_us)
    if may_send_data:
        _fill(conn, level, filler, now_us)
        if not filler.ack_eliciting and conn.probes_pending[space]:
            if space is not PacketSpace.APPLICATION and requeue_crypto(conn, space):
                # RFC 9002 §6.2.4: a probe carries data in flight when there is some; each of
                # the two probes repeats the handshake data, so whichever arrives first starts
                # the peer's handshake (a server may refuse a first Initial without CRYPTO)
                _fill_crypto(conn, level, filler)
            if not filler.ack_eliciting:
                filler.add(PingFrame(), None)  # RFC 9002 §6.2.4: a probe must elicit an ACK
    elif filler.payload and level is EncryptionLevel.APPLICATION:
        # an ACK leaving while the window is full still carries the path frames: a PATH_RESPONSE
        # is never delayed (RFC 9000 §8.2.2), and the first packet on a new path challenges it
        paths.add_frames(conn, filler.add)
    if not filler.payload:
        return None
    if filler.ack_eliciting and conn.probes_pending[space]:
        conn.probes_pending[space] -= 1
    packet = _seal(conn, plan, keys, filler.payload, destination_cid, token, max(pad_to, 0))
    _record_sent(conn, level, plan, filler, len(packet), now_us)
    if level is EncryptionLevel.APPLICATION:
        conn.keys.on_packet_sealed(plan.packet_number, len(packet))
    return packet, filler.ack_eliciting


def _add_ack(conn: Connection, space: PacketSpace, filler: _PacketFiller, now_us: int) -> None:
    tracker = conn.ack_trackers[space]
    if tracker.ack_deadline_us() is None and not tracker.ack_pending:
        return
    ack = tracker.build_ack(now_us)
    if ack is None:
        return
    record = AckRecord(ack.largest_acknowledged)
    added = filler.add(ack, record, eliciting=False)
    while not added and len(ack.ranges) > 1:
        # RFC 9000 §13.2.4: fewer ranges may be reported; the newest ones are kept.  Without
        # this an ACK too large for the room left (say, under the anti-amplification limit)
        # would stay due and its deadline would fire again and again at the same instant
        ack = replace(ack, ranges=ack.ranges[: len(ack.ranges) // 2])
        added = filler.add(ack, record, eliciting=False)
    if added:
        filler.largest_acked = ack.largest_acknowledged
        tracker.on_ack_sent(now_us)


def _fill(conn: Connection, level: EncryptionLevel, filler: _PacketFiller, now_us: int) -> None:
    if level is EncryptionLevel.EARLY_DATA:  # no CRYPTO in 0-RTT (RFC 9000 §12.4)
        _fill_streams(conn, filler, now_us)
        return
    _fill_crypto(conn, level, filler)
    if level is EncryptionLevel.APPLICATION and conn.handshake_complete_locally():
        _fill_control(conn, filler, now_us)
        _fill_streams(conn, filler, now_us)


def _fill_crypto(conn: Connection, level: EncryptionLevel, filler: _PacketFiller) -> None:
    stream = conn.crypto_streams[level]
    while stream.has_pending:
        # CRYPTO: type, offset, 2-byte length (RFC 9000 §19.6)
        overhead = 1 + 8 + 2
        if filler.room <= overhead:
            return
        chunk = stream.next_chunk(filler.room - overhead)
        if chunk is None:
            return
        offset, data = chunk
        filler.add(CryptoFrame(offset, data), CryptoChunk(level, offset, len(data)))


def _fill_control(conn: Connection, filler: _PacketFiller, now_us: int) -> None:
    assert conn.peer_cids is not None
    if conn.handshake_done_pending and filler.add(HandshakeDoneFrame(), HandshakeDoneFrame()):
        conn.handshake_done_pending = False  # RFC 9001 §4.1.2
    while conn.new_tokens_pending:  # RFC 9000 §8.1.3
        token_frame = NewTokenFrame(conn.new_tokens_pending[0])
        if not filler.add(token_frame, token_frame):
            break
        conn.new_tokens_pending.pop(0)
    if not paths.add_frames(conn, filler.add):  # PATH_RESPONSE, PATH_CHALLENGE (RFC 9000 §8.2)
        return
    max_data = conn.recv_window.max_data_frame(now_us, conn.rtt.smoothed_rtt_us)
    if max_data is not None:
        filler.add(max_data, max_data)
    blocked = conn.send_credit.blocked_frame()
    if blocked is not None:
        filler.add(blocked, blocked)
    for control in conn.streams.control_frames():
        filler.add(control, control)
    for new_cid in conn.local_cids.frames_to_issue(_peer_cid_limit(conn)):
        if not filler.add(new_cid, new_cid):
            conn.local_cids.on_frame_lost(new_cid)
    for retire in conn.peer_cids.frames_to_send():
        if not filler.add(retire, retire):
            conn.peer_cids.on_frame_lost(retire)


def _fill_streams(conn: Connection, filler: _PacketFiller, now_us: int) -> None:
    srtt = conn.rtt.smoothed_rtt_us
    while filler.room > _STREAM_FRAME_OVERHEAD + 2:
        stream = conn.streams.next_sendable(conn.send_credit.credit)
        if stream is None:
            return
        if not _fill_one_stream(conn, stream, filler, now_us, srtt):
            return


def _fill_one_stream(
    conn: Connection, stream: object, filler: _PacketFiller, now_us: int, srtt: int
) -> bool:
    """Control frames and one data chunk of ``stream``; False when the packet is full."""
    assert isinstance(stream, Stream)
    recv, send = stream.recv, stream.send
    controls: tuple[Frame | None, ...]
    if send is None:
        if recv is None:
            return True
        controls = (recv.stop_sending_frame(), recv.max_stream_data_frame(now_us, srtt))
    elif recv is None:
        controls = (send.reset_frame(), send.blocked_frame())
    else:
        controls = (
            send.reset_frame(),
            recv.stop_sending_frame(),
            recv.max_stream_data_frame(now_us, srtt),
            send.blocked_frame(),
        )
    for control in controls:
        if control is not None and not filler.add(control, control):
            _return_unsent(conn, control)
            return False
    if send is None:
        return True
    overhead = _STREAM_FRAME_OVERHEAD + varint_size(stream.stream_id) + 8
    room = filler.room - overhead
    if room <= 0:
        return False
    chunk = send.next_chunk(room, conn.send_credit.credit)
    if chunk is None:
        return True
    conn.send_credit.on_sent(chunk.new_bytes)
    data_frame = StreamFrame(stream.stream_id, chunk.offset, chunk.data, chunk.fin)
    length = len(chunk.data)
    if filler.add(data_frame, StreamChunk(stream.stream_id, chunk.offset, length, chunk.fin)):
        filler.stream_bytes += length
    return True


def _return_unsent(conn: Connection, frame: Frame) -> None:
    """A frame generated but not fitting: hand it back as if lost, so it is generated again."""
    conn.streams.on_frame_lost(frame)


def _record_sent(
    conn: Connection,
    level: EncryptionLevel,
    plan: PacketPlan,
    filler: _PacketFiller,
    size: int,
    now_us: int,
    *,
    probe: bool = False,
) -> None:
    space = SPACE_OF_LEVEL[level]
    sent = SentPacket(
        packet_number=plan.packet_number,
        space=space,
        time_sent_us=now_us,
        size_bytes=size,
        ack_eliciting=filler.ack_eliciting,
        in_flight=filler.ack_eliciting or size > len(filler.payload) + 40,
        records=filler.records,
        largest_acked=filler.largest_acked,
        ecn=conn.send_ecn,
        mtu_probe=probe,
    )
    conn.loss.on_packet_sent(sent)
    conn.ecn.on_packet_sent(space, conn.send_ecn)
    conn.next_packet_number[space] += 1
    conn.stats.record_packet_sent(
        size, ack_eliciting=filler.ack_eliciting, stream_bytes=filler.stream_bytes
    )
    if level is EncryptionLevel.HANDSHAKE:
        conn.sent_handshake_packet = True
    if filler.ack_eliciting and not conn.ack_eliciting_sent_since_receive:
        conn.ack_eliciting_sent_since_receive = True
        conn.restart_idle_timer(now_us)  # RFC 9000 §10.1
    if conn.qlog is not None:
        conn.qlog.packet_sent(
            now_us,
            QlogPacketHeader(plan.packet_type, packet_number=plan.packet_number),
            filler.frames or [],
            raw_length=size,
            is_mtu_probe=probe,
        )


# --- path MTU discovery (RFC 9000 §14.3, §14.4) -------------------------------------------------


def _mtu_probe(conn: Connection, now_us: int, out: list[tuple[bytes, Address]]) -> None:
    """Start or follow the active path's DPLPMTUD search; send its probe when one is due."""
    search = conn.mtu
    if search.path is not conn.paths.active:
        if search.path is not None and conn.max_datagram_size != BASE_DATAGRAM_SIZE:
            set_datagram_size(conn, BASE_DATAGRAM_SIZE)  # a new path starts over (§14.3)
        params = conn.peer_parameters
        if not conn.handshake_confirmed or params is None:
            return  # RFC 9000 §14.3: probing waits for a confirmed handshake
        limit = udp_payload_limit(conn.settings.maximum_mtu, conn.peer_address)
        search.start(conn.paths.active, min(limit, params.max_udp_payload_size), now_us)
    if _amplification_allowance(conn) is not None or not conn.paths.active.validated:
        return  # RFC 9000 §8.1, §9.3: not on a path whose address is not validated yet
    if conn.bytes_sent < PROBE_AFTER_BYTES or not conn.streams.has_scheduled:
        return  # RFC 8899 §5.2: not before a larger size would help (mtu_discovery's docstring)
    size = search.probe_size(now_us)
    if size is None or not conn.cc.can_send(size):
        return
    if conn.keys.send_keys(EncryptionLevel.APPLICATION) is None:
        return
    planned = _plan(conn, EncryptionLevel.APPLICATION, size)
    if planned is None:
        return
    plan, keys, _, destination_cid = planned
    filler = _PacketFiller(plan.max_payload, keep_frames=conn.qlog is not None)
    filler.add(PingFrame(), MtuProbeRecord(size, search.epoch))  # PING + PADDING (§14.4)
    packet = _seal(conn, plan, keys, filler.payload, destination_cid, b"", size)
    _record_sent(conn, EncryptionLevel.APPLICATION, plan, filler, len(packet), now_us, probe=True)
    conn.keys.on_packet_sealed(plan.packet_number, len(packet))
    search.on_probe_sent(size)
    conn.bytes_sent += len(packet)
    paths.on_sent(conn, len(packet))
    out.append((packet, conn.peer_address))


def set_datagram_size(conn: Connection, size: int) -> None:
    """The active path's datagram size changed: packets and the congestion controller follow."""
    conn.max_datagram_size = size
    conn.cc.set_max_datagram_size(size)
    conn.stats.send_path_mtu = size


def _mtu_probe_record(
    conn: Connection, record: MtuProbeRecord, acked: bool, space: PacketSpace
) -> None:
    search = conn.mtu
    if record.epoch != search.epoch:
        return  # a probe of an abandoned search
    if not acked:
        search.on_probe_lost(record.size, conn.now_us)
    elif search.on_probe_acked(record.size, conn.now_us):
        set_datagram_size(conn, search.current)  # RFC 9000 §14.3: the larger size is confirmed


# --- closing ----------------------------------------------------------------------------------


def _close_datagrams(conn: Connection, now_us: int) -> list[tuple[bytes, Address]]:
    """CONNECTION_CLOSE in every packet space we can still send in (RFC 9000 §10.2.3)."""
    if not conn.close_pending or conn.close_frame is None or conn.peer_cids is None:
        return []
    conn.close_pending = False
    datagram = bytearray()
    for level in _LEVELS:
        keys = conn.keys.send_keys(level)
        if keys is None:
            continue
        frame = _close_frame_for(conn.close_frame, level)
        packet = _one_frame_packet(conn, level, frame, MIN_INITIAL_DATAGRAM_SIZE - len(datagram))
        if packet is not None:
            datagram += packet
    return [(bytes(datagram), conn.peer_address)] if datagram else []


def _close_frame_for(frame: ConnectionCloseFrame, level: EncryptionLevel) -> ConnectionCloseFrame:
    """RFC 9000 §10.2.3: an application close becomes APPLICATION_ERROR before 1-RTT."""
    if frame.application and level is not EncryptionLevel.APPLICATION:
        return ConnectionCloseFrame(TransportErrorCode.APPLICATION_ERROR, 0, b"")
    return frame


def _one_frame_packet(
    conn: Connection, level: EncryptionLevel, frame: Frame, space_left: int
) -> bytes | None:
    planned = _plan(conn, level, space_left)
    if planned is None:
        return None
    plan, keys, token, destination_cid = planned
    space = SPACE_OF_LEVEL[level]
    payload = bytearray()
    frame.encode(payload)
    if len(payload) > plan.max_payload:
        return None
    conn.next_packet_number[space] += 1
    pad_to = MIN_INITIAL_DATAGRAM_SIZE if level is EncryptionLevel.INITIAL and conn.is_client else 0
    return _seal(conn, plan, keys, payload, destination_cid, token, min(pad_to, space_left))


def _seal(
    conn: Connection,
    plan: PacketPlan,
    keys: PacketKeys,
    payload: bytearray,
    destination_cid: bytes,
    token: bytes,
    pad_to: int,
) -> bytes:
    """The protected packet of ``plan`` with this connection's version, CIDs and key phase."""
    return seal_packet(
        plan,
        keys,
        conn.version,
        payload,
        destination_cid=destination_cid,
        source_cid=conn.local_cids.initial,
        token=token,
        key_phase=conn.keys.key_phase,
        pad_to=pad_to,
    )


# --- acknowledgements, losses and timers (RFC 9002) ------------------------------------------


def on_ack_received(
    conn: Connection, space: PacketSpace, frame: AckFrame, ack_delay_us: int, now_us: int
) -> None:
    recovery_start_us = conn.cc.recovery_start_time_us
    if space is PacketSpace.HANDSHAKE and conn.is_client:
        # RFC 9002 §6.2.2.1, §A.6: the server validated our address once it acknowledges one of
        # our Handshake packets (its own Handshake packets do not say so: until then the client
        # keeps a PTO armed, so an amplification-limited server is never left waiting)
        conn.loss_peer_validated = True
    if space is PacketSpace.APPLICATION:
        conn.keys.on_ack(frame.largest_acknowledged)  # RFC 9001 §6.1
        if conn.is_client and not conn.handshake_confirmed and conn.keys.one_rtt_acked:
            # RFC 9001 §4.1.2: a client MAY consider the handshake confirmed when a 1-RTT
            # packet of its own is acknowledged (HANDSHAKE_DONE may have been lost)
            conn.confirm_handshake()
    prior_largest = conn.loss.largest_acked(space)
    outcome = conn.loss.on_ack_received(
        space,
        frame,
        ack_delay_us,
        now_us,
        handshake_confirmed=conn.handshake_confirmed,
        peer_address_validated=_peer_validated(conn),
    )
    for packet in outcome.newly_acked:
        _on_records(conn, packet, acked=True)
    for packet in outcome.lost:
        _on_records(conn, packet, acked=False)
    conn.stats.send_suspected_lost_packets += len(outcome.lost)
    conn.stats.send_spurious_lost_packets += outcome.spurious
    advances = prior_largest is None or frame.ranges[0][1] > prior_largest
    ecn.on_ack_processed(conn.ecn, conn.stats, space, frame, outcome, advances_largest=advances)
    _count_congestion_event(
        conn, recovery_start_us, outcome.persistent_congestion, ecn=outcome.ecn_ce_increased
    )
    _after_recovery_event(conn, now_us)


def _count_congestion_event(
    conn: Connection, recovery_start_us: int | None, persistent: bool, *, ecn: bool = False
) -> None:
    """A new recovery period means the window was reduced (RFC 9002 §7.3.2); ``ecn``: an
    increased ECN-CE count came with it (RFC 9002 §7.1)."""
    if conn.cc.recovery_start_time_us != recovery_start_us or persistent:
        conn.stats.record_congestion_event(ecn=ecn, persistent=persistent)


def on_loss_timer(conn: Connection, now_us: int) -> None:
    """The loss detection timer (RFC 9002 §6.2): losses, or probes when the PTO fires."""
    conn.now_us = now_us
    recovery_start_us = conn.cc.recovery_start_time_us
    outcome = conn.loss.on_loss_timer(now_us, **_timer_inputs(conn))
    for packet in outcome.lost:
        _on_records(conn, packet, acked=False)
    conn.ecn.on_packets_lost(outcome.lost)
    # time-threshold losses count like those an ACK reveals (MsQuic's SuspectedLostPackets)
    conn.stats.send_suspected_lost_packets += len(outcome.lost)
    _count_congestion_event(conn, recovery_start_us, outcome.persistent_congestion)
    if outcome.probe_space is not None:
        space = outcome.probe_space
        conn.probes_pending[space] = max(conn.probes_pending[space], outcome.probe_count)
        # RFC 9002 §6.2.4: a probe carries data in flight when there is some
        if space is not PacketSpace.APPLICATION:
            requeue_crypto(conn, space)
        else:
            _requeue_oldest(conn, outcome.probe_count)
    _after_recovery_event(conn, now_us)


def _requeue_oldest(conn: Connection, count: int) -> None:
    """The frames of the ``count`` oldest ack-eliciting 1-RTT packets in flight are due again, so
    the probes repeat them (a lost HANDSHAKE_DONE, say, which the peer's handshake waits for).
    The packets stay in flight: an ACK of either copy settles the data.  PMTU probes are left
    alone (their loss means something else, RFC 9000 §14.4)."""
    for packet in conn.loss.unacked_packets(PacketSpace.APPLICATION):
        if count <= 0:
            return
        if packet.ack_eliciting and not packet.mtu_probe:
            _on_records(conn, packet, acked=False)
            count -= 1


def _after_recovery_event(conn: Connection, now_us: int) -> None:
    stats = conn.stats
    stats.record_rtt(
        smoothed_rtt_us=conn.rtt.smoothed_rtt_us,
        min_rtt_us=conn.rtt.min_rtt_us,
        rtt_variance_us=conn.rtt.rttvar_us,
        latest_rtt_us=conn.rtt.latest_rtt_us,
    )
    stats.send_congestion_window = conn.cc.congestion_window
    if conn.qlog is not None:
        conn.qlog.metrics_updated(
            now_us,
            min_rtt_us=conn.rtt.min_rtt_us,
            smoothed_rtt_us=conn.rtt.smoothed_rtt_us,
            latest_rtt_us=conn.rtt.latest_rtt_us,
            rtt_variance_us=conn.rtt.rttvar_us,
            pto_count=conn.loss.pto_count,
            congestion_window=conn.cc.congestion_window,
            bytes_in_flight=conn.cc.bytes_in_flight,
        )
        state = conn.cc.state_name
        if state != conn.qlog_congestion_state:
            conn.qlog.congestion_state_updated(now_us, conn.qlog_congestion_state, state)
            conn.qlog_congestion_state = state


def _on_records(conn: Connection, packet: SentPacket, *, acked: bool) -> None:
    """Give each record of an acknowledged or lost packet back to its owner."""
    for record in packet.records:
        handler = _RECORD_HANDLERS.get(type(record))
        if handler is not None:
            handler(conn, record, acked, packet.space)
        elif acked:
            conn.streams.on_frame_acked(record)
        else:
            conn.streams.on_frame_lost(record)


def _stream_chunk(conn: Connection, record: StreamChunk, acked: bool, space: PacketSpace) -> None:
    if acked:
        conn.streams.on_stream_data_acked(
            record.stream_id, record.offset, record.length, record.fin
        )
    else:
        conn.stats.send_retransmitted_bytes += record.length
        conn.streams.on_stream_data_lost(record.stream_id, record.offset, record.length, record.fin)


def _crypto_chunk(conn: Connection, record: CryptoChunk, acked: bool, space: PacketSpace) -> None:
    stream = conn.crypto_streams[record.level]
    if acked:
        stream.on_acked(record.offset, record.length)
    else:
        stream.on_lost(record.offset, record.length)


def _ack_record(conn: Connection, record: AckRecord, acked: bool, space: PacketSpace) -> None:
    if acked:
        # RFC 9000 §13.2.4: once our ACK is acknowledged, older ranges need not be repeated
        conn.ack_trackers[space].on_ack_acknowledged(record.largest_acked)


def _handshake_done(
    conn: Connection, record: HandshakeDoneFrame, acked: bool, space: PacketSpace
) -> None:
    if not acked:
        conn.handshake_done_pending = True


def _max_data(conn: Connection, record: MaxDataFrame, acked: bool, space: PacketSpace) -> None:
    if not acked:
        conn.recv_window.on_max_data_lost(record.maximum_data)


def _data_blocked(
    conn: Connection, record: DataBlockedFrame, acked: bool, space: PacketSpace
) -> None:
    if not acked:
        conn.send_credit.on_blocked_lost(record.maximum_data)


def _new_connection_id(
    conn: Connection, record: NewConnectionIdFrame, acked: bool, space: PacketSpace
) -> None:
    if acked:
        conn.local_cids.on_frame_acked(record)
    else:
        conn.local_cids.on_frame_lost(record)


def _new_token(conn: Connection, record: NewTokenFrame, acked: bool, space: PacketSpace) -> None:
    if not acked:
        conn.new_tokens_pending.append(record.token)  # RFC 9000 §13.3: NEW_TOKEN is resent


def _retire_connection_id(
    conn: Connection, record: RetireConnectionIdFrame, acked: bool, space: PacketSpace
) -> None:
    assert conn.peer_cids is not None
    if acked:
        conn.peer_cids.on_frame_acked(record)
    else:
        conn.peer_cids.on_frame_lost(record)


_RECORD_HANDLERS: dict[type, Callable[..., None]] = {
    StreamChunk: _stream_chunk,
    CryptoChunk: _crypto_chunk,
    AckRecord: _ack_record,
    HandshakeDoneFrame: _handshake_done,
    MaxDataFrame: _max_data,
    DataBlockedFrame: _data_blocked,
    NewConnectionIdFrame: _new_connection_id,
    RetireConnectionIdFrame: _retire_connection_id,
    NewTokenFrame: _new_token,
    MtuProbeRecord: _mtu_probe_record,
}


__all__ = [
    "QuicError",
    "datagrams_to_send",
    "next_send_timer_us",
    "on_ack_received",
    "on_loss_timer",
]
