"""Bulk sending: 1-RTT packets that carry only stream data, built in one tight loop (issue 6).

In a bulk transfer nearly every packet has the same shape: a short header and one STREAM frame
that fills it.  The general builder (:mod:`pyquic.core.send_path`) asks every frame source for
every packet (ACK, CRYPTO, HANDSHAKE_DONE, tokens, path frames, flow control, CIDs, each stream's
control frames), which is most of a packet's cost in Python.  This module checks *once per call*
that the connection is in that steady state, then builds each packet directly:

* per call: only 1-RTT keys are left, the peer's address is validated and no new path is being
  probed (no amplification limit, RFC 9000 §8.1), no probe is due (RFC 9002 §6.2.4), no ACK is
  due (RFC 9000 §13.2.1), no control frame and no CRYPTO data waits, the keys are not worn
  (RFC 9001 §6.6), no qlog trace records frames;
* per packet: the congestion window and the pacer (RFC 9002 §7, §7.7), the next stream in
  priority order, a chunk of its data (lost ranges first, then new data within flow control,
  RFC 9000 §4.1), the header (RFC 9000 §17.3.1) and one STREAM frame without a Length field
  (RFC 9000 §19.8: it extends to the end of the packet) written into one buffer, sealed and
  header-protected in place (:func:`~pyquic.core.packet_protection.protect_packet`), and a
  :class:`~pyquic.core.sent_packet.SentPacket` recorded exactly as the general path records one.

It stops at the first thing the general builder must handle (a stream with a control frame due,
data held back by flow control, an empty stream) and says so; the caller then continues with
the general builder, so a packet is never lost or built differently in substance.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, NamedTuple

from pyquic.core import paths
from pyquic.core.levels import EncryptionLevel, PacketSpace
from pyquic.core.packet_builder import AEAD_TAG_LENGTH, MIN_ONE_RTT_PN_LENGTH
from pyquic.core.packet_number import packet_number_length
from pyquic.core.packet_protection import min_payload_length, protect_packet
from pyquic.core.send_plan import connection_frames_due
from pyquic.core.sent_packet import SentPacket, StreamChunk
from pyquic.core.varint import encode_varint, push_varint, varint_size

if TYPE_CHECKING:
    from pyquic.core.connection import Address, Connection
    from pyquic.core.stream_send import SendChunk

__all__ = ["BurstEnd", "send_burst"]

_APP = EncryptionLevel.APPLICATION
_SPACE = PacketSpace.APPLICATION
_EARLY_LEVELS = (EncryptionLevel.INITIAL, EncryptionLevel.EARLY_DATA, EncryptionLevel.HANDSHAKE)
_STREAM_OFF_FIN = 0x08  # STREAM frame type bits (RFC 9000 §19.8): OFF 0x04, LEN 0x02, FIN 0x01
_SHORT_HEADER_FIXED = 0x40  # RFC 9000 §17.3.1
_KEY_PHASE_BIT = 0x04
_TAG_ROOM = bytes(AEAD_TAG_LENGTH)  # where the AEAD writes its tag (seal in place)
_MAX_BURST_PN_LENGTH_SLACK = 64  # packets a burst may add before its pn length is re-derived


class BurstEnd(Enum):
    """Why a burst stopped."""

    LIMITED = "limited"  # the congestion window or the pacer: nothing more now
    IDLE = "idle"  # no stream has anything to send
    GENERAL = "general"  # something the general builder must do (or check) next


def steady(conn: Connection, now_us: int) -> bool:
    """Whether the connection is in the bulk steady state (the module docstring's list)."""
    keys = conn.keys
    if conn.qlog is not None or not keys.can_send(_APP):
        return False
    for early in _EARLY_LEVELS:
        if keys.can_send(early):
            return False
    if not conn.address_validated or paths.amplification_allowance(conn) is not None:
        return False  # RFC 9000 §8.1, §9.3: bytes on an unvalidated path are limited
    probes = conn.probes_pending
    if probes[PacketSpace.INITIAL] or probes[PacketSpace.HANDSHAKE] or probes[_SPACE]:
        return False
    deadline = conn.ack_trackers[_SPACE].ack_deadline_us()
    if deadline is not None and deadline <= now_us:
        return False  # the general builder puts the ACK in front of the data
    if keys.packets_in_phase >= keys.confidentiality_limit * 3 // 4 or (
        keys.bytes_in_phase >= conn.settings.max_bytes_per_key
    ):
        return False  # a key update is due first (RFC 9001 §6.6)
    return not (conn.crypto_streams[_APP].has_pending or connection_frames_due(conn))


class _ShortHeader(NamedTuple):
    """The 1-RTT header every packet of one burst shares (RFC 9000 §17.3.1), unprotected."""

    prefix: bytes  # the first byte and the Destination Connection ID
    pn_length: int
    length: int  # prefix and packet number
    min_payload: int  # the payload a header-protection sample needs (RFC 9001 §5.4.2)


def _short_header(conn: Connection, first_pn: int) -> _ShortHeader:
    assert conn.peer_cids is not None
    pn_length = max(
        packet_number_length(
            first_pn + _MAX_BURST_PN_LENGTH_SLACK, conn.loss.largest_acked(_SPACE)
        ),
        MIN_ONE_RTT_PN_LENGTH,  # as plan_packet: tolerate reordering (packet_builder)
    )
    first_byte = _SHORT_HEADER_FIXED | (pn_length - 1)
    if conn.keys.key_phase:
        first_byte |= _KEY_PHASE_BIT
    prefix = bytes((first_byte,)) + conn.peer_cids.current
    return _ShortHeader(prefix, pn_length, len(prefix) + pn_length, min_payload_length(pn_length))


def send_burst(
    conn: Connection, now_us: int, out: list[tuple[bytes, Address]], max_datagrams: int
) -> BurstEnd:
    """Append up to ``max_datagrams`` single-packet datagrams of stream data to ``out``.

    The caller checked :func:`steady`.  Returns why it stopped; with ``LIMITED`` the pacing
    deadline (if any) is set on the connection as the general path sets it.
    """
    keys = conn.keys.send_keys(_APP)
    assert keys is not None
    size_limit = conn.max_datagram_size
    cc, pacer, streams = conn.cc, conn.pacer, conn.streams
    first_pn = conn.next_packet_number[_SPACE]
    header = _short_header(conn, first_pn)
    room_after_header = size_limit - header.length - AEAD_TAG_LENGTH
    # RFC 9002 §7.7: the pacer's allowance is read once per burst; the burst's packets, all
    # sent at ``now_us``, are reported to it together (Pacer.allowance_bytes)
    allowance = None if pacer is None else pacer.allowance_bytes(now_us)
    paced_bytes = 0
    # the per-packet counters (connection credit, statistics, the path's and the keys' byte
    # counts) are kept here and applied once when the burst ends; the credit is read once
    connection_credit = conn.send_credit.credit
    new_bytes = stream_bytes = sent_bytes = 0
    address = conn.peer_address
    last_stream_id, id_bytes = -1, b""  # the previous packet's stream ID, encoded (§16)
    end = BurstEnd.GENERAL
    for _ in range(max_datagrams):
        if not cc.can_send(size_limit):
            end = BurstEnd.LIMITED
            break
        if allowance is not None and allowance - paced_bytes < size_limit:
            allowance, paced_bytes = _renew_allowance(conn, paced_bytes, size_limit, now_us), 0
            if allowance is None:
                end = BurstEnd.LIMITED
                break
        stream = streams.next_sendable(connection_credit - new_bytes)
        if stream is None:
            end = BurstEnd.IDLE
            break
        send = stream.send
        if send is None or (stream.recv is not None and stream.recv.has_pending()):
            break  # its control frames go through the general builder
        stream_id = stream.stream_id
        if stream_id != last_stream_id:
            last_stream_id, id_bytes = stream_id, encode_varint(stream_id)
        # type byte, ID, Offset (bounded by the highest offset sent), no Length: §19.8
        frame_overhead = 1 + len(id_bytes) + varint_size(send.sent_offset)
        chunk = send.next_chunk(room_after_header - frame_overhead, connection_credit - new_bytes)
        if chunk is None:
            break  # blocked (STREAM_DATA_BLOCKED) or a state to handle there
        packet_number = conn.next_packet_number[_SPACE]
        buf = _stream_packet(header, packet_number, id_bytes, chunk)
        payload_length = len(buf) - header.length
        buf += _TAG_ROOM
        pn_length = header.pn_length
        size = protect_packet(keys, buf, header.length, packet_number, pn_length, payload_length)
        length = len(chunk.data)
        _record(conn, packet_number, size, StreamChunk(stream_id, chunk.offset, length, chunk.fin))
        new_bytes += chunk.new_bytes
        stream_bytes += length
        paced_bytes += size
        sent_bytes += size
        out.append((bytes(buf), address))
        if packet_number - first_pn >= _MAX_BURST_PN_LENGTH_SLACK:
            break  # GENERAL: re-derive the packet number length
    if conn.next_packet_number[_SPACE] > first_pn:
        _account(conn, first_pn, new_bytes, stream_bytes, sent_bytes)
        if pacer is not None and paced_bytes:
            pacer.on_sent(paced_bytes, now_us)
    return end


def _renew_allowance(conn: Connection, paced_bytes: int, size: int, now_us: int) -> int | None:
    """Report the packets paced so far; the pacer's new allowance, or None when the next packet
    of ``size`` bytes must wait (the pacing deadline is then set, RFC 9002 §7.7)."""
    pacer = conn.pacer
    assert pacer is not None
    pacer.on_sent(paced_bytes, now_us)
    wait = pacer.time_until_send_us(size, now_us)
    if wait > 0:
        conn.pacing_deadline_us = now_us + wait
        return None
    return pacer.allowance_bytes(now_us)


def _stream_packet(
    header: _ShortHeader, packet_number: int, id_bytes: bytes, chunk: SendChunk
) -> bytearray:
    """The unprotected packet: the header, then (after PADDING if the sample needs it) one STREAM
    frame without a Length field, running to the end of the packet (RFC 9000 §19.8, §19.1)."""
    pn_length = header.pn_length
    truncated = packet_number & ((1 << (8 * pn_length)) - 1)  # RFC 9000 §17.1
    buf = bytearray(header.prefix + truncated.to_bytes(pn_length, "big"))
    offset, data = chunk.offset, chunk.data
    frame_type = _STREAM_OFF_FIN | (0x04 if offset else 0) | (0x01 if chunk.fin else 0)
    frame_length = 1 + len(id_bytes) + (varint_size(offset) if offset else 0) + len(data)
    if frame_length < header.min_payload:
        buf += bytes(header.min_payload - frame_length)
    buf.append(frame_type)
    buf += id_bytes
    if offset:
        push_varint(buf, offset)
    buf += data
    return buf


def _account(
    conn: Connection, first_pn: int, new_bytes: int, stream_bytes: int, sent_bytes: int
) -> None:
    """The burst's counters, applied once: connection flow control (RFC 9000 §4.1), statistics,
    the keys' usage (RFC 9001 §6.6), the connection's and the path's bytes sent."""
    count = conn.next_packet_number[_SPACE] - first_pn
    conn.send_credit.on_sent(new_bytes)
    conn.stats.record_packets_sent(count, sent_bytes, stream_bytes=stream_bytes)
    conn.keys.on_packets_sealed(first_pn, count, sent_bytes)
    conn.bytes_sent += sent_bytes
    paths.on_sent(conn, sent_bytes)


def _record(conn: Connection, packet_number: int, size: int, chunk: StreamChunk) -> None:
    """What the general path's ``_record_sent`` does for an ack-eliciting 1-RTT packet."""
    now_us = conn.now_us
    ecn = conn.send_ecn
    conn.loss.on_packet_sent(
        SentPacket(packet_number, _SPACE, now_us, size, True, True, [chunk], None, False, ecn)
    )
    conn.ecn.on_packet_sent(_SPACE, ecn)
    conn.next_packet_number[_SPACE] = packet_number + 1
    if not conn.ack_eliciting_sent_since_receive:
        conn.ack_eliciting_sent_since_receive = True
        conn.restart_idle_timer(now_us)  # RFC 9000 §10.1
