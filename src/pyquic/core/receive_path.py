"""Receiving a datagram: split, authenticate, deduplicate, then hand each frame to its handler.

Design: one pass per datagram (RFC 9000 §12.2).  Each coalesced packet is parsed by the pure header
codec, matched to its keys, unprotected (RFC 9001 §5), checked (reserved bits, RFC 9000 §17.2;
duplicates, RFC 9000 §12.3), parsed into frames, which must be allowed in the packet's type
(RFC 9000 §12.4), and dispatched through :mod:`pyquic.core.frame_handlers`.  A packet that cannot
be processed is dropped, never fatal, unless an authenticated packet breaks a rule: that raises
:class:`QuicError` for the connection's error boundary.  Packets whose keys are not there yet
are kept briefly (bounded) and retried when the keys arrive (RFC 9001 §5.7).

The usual datagram of a bulk transfer, one 1-RTT packet, is opened without a header object
(:func:`_receive_one_rtt`), and when it holds one STREAM frame for an open stream it is handled
without frame objects either (:mod:`pyquic.core.stream_fast_path`), with the same checks and
effects as the generic path; anything else falls back to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyquic.core import (
    ecn,
    frame_handlers,
    handshake_speedup,
    key_update,
    paths,
    stream_fast_path,
    version_negotiation,
)
from pyquic.core.connection_state import ConnectionState
from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.core.events import ConnectionTerminated
from pyquic.core.frame_parser import parse_frames
from pyquic.core.frame_rules import NON_ACK_ELICITING_FRAME_CLASSES
from pyquic.core.frames import AckFrame, CryptoFrame
from pyquic.core.levels import LEVEL_OF_PACKET_TYPE, SPACE_OF_LEVEL, EncryptionLevel, PacketSpace
from pyquic.core.packet_header import (
    FIXED_BIT,
    HEADER_FORM_BIT,
    KEY_PHASE_BIT,
    PN_SAMPLE_OFFSET,
    SAMPLE_LENGTH,
    SHORT_RESERVED_BITS,
    LongHeader,
    RetryPacket,
    ShortHeader,
    VersionNegotiationPacket,
    iter_packets,
    key_phase,
    parse_header,
    reserved_bits_set,
)
from pyquic.core.packet_protection import unprotect_packet
from pyquic.core.qlog import QlogPacketHeader
from pyquic.core.version import PacketType

if TYPE_CHECKING:
    from pyquic.core.connection import Connection

MAX_BUFFERED_PACKETS = 16  # undecryptable-yet packets kept per connection (RFC 9001 §5.7)


def receive_datagram(conn: Connection, data: bytes, address: object, now_us: int) -> None:
    """Process every packet coalesced in ``data``."""

    if conn.state is ConnectionState.CLOSING:
        # RFC 9000 §10.2.1: answer (rate-limited) with CONNECTION_CLOSE, process nothing
        conn.close_pending = True
        return
    cid_length = conn.settings.local_cid_length
    if data and not data[0] & HEADER_FORM_BIT:
        # the usual datagram: one short-header packet, which runs to its end (RFC 9000 §12.2)
        handled = _receive_one_rtt(conn, data, cid_length, now_us)
        if handled is not None:
            if not handled:
                _check_stateless_reset(conn, data, now_us)
            return
        try:
            header = parse_header(data, 0, short_dcid_length=cid_length)
        except QuicError:
            header = None  # the walk below drops it and counts it
        if header is not None:
            if not _receive_packet(conn, header, data, now_us):
                _check_stateless_reset(conn, data, now_us)
            return
    first = True
    offset = 0  # where the next coalesced packet starts
    packets = iter_packets(data, short_dcid_length=cid_length)
    while True:
        try:
            header = next(packets, None)
        except QuicError as exc:
            if offset and not data[offset:].strip(b"\0"):
                return  # zero bytes after the last packet: padding some stacks append
            # an unparsable header: drop the rest of the datagram (RFC 9000 §12.2)
            conn.stats.recv_dropped_packets += 1
            if conn.qlog is not None:
                conn.qlog.packet_dropped(
                    now_us,
                    trigger="invalid",
                    raw_length=len(data) - offset,
                    details={"reason": exc.reason},
                )
            return
        if header is None:
            return
        # a QuicError from an authenticated packet is a connection error (RFC 9000 §11.1): it
        # propagates to the connection's error boundary, it does not merely drop the packet
        processed = _receive_packet(conn, header, data, now_us)
        offset = header.packet_end
        if first and not processed and isinstance(header, ShortHeader):
            _check_stateless_reset(conn, data, now_us)
        first = False


def _receive_packet(
    conn: Connection,
    header: object,
    datagram: bytes,
    now_us: int,
) -> bool:
    """Handle one packet; True if it was authenticated and processed."""
    if isinstance(header, VersionNegotiationPacket | RetryPacket):
        return frame_handlers.on_version_or_retry(conn, header, datagram, now_us)
    if not isinstance(header, LongHeader | ShortHeader):
        return False  # another version's packet: a server's endpoint answers those
    if isinstance(header, LongHeader):
        if header.version != conn.version.number and not (
            header.packet_type is PacketType.INITIAL
            and version_negotiation.client_switch(conn, header.version)  # RFC 9368 §4
        ):
            return False
        packet_type = header.packet_type
        if not _accept_long_header(conn, header):
            return False
    else:
        packet_type = PacketType.ONE_RTT
        if not conn.local_cids.is_local(header.destination_cid):
            return False
    level = LEVEL_OF_PACKET_TYPE[packet_type]
    start, end = header.packet_start, header.packet_end
    # a 1-RTT packet is usually the whole datagram: no copy then
    packet = datagram if start == 0 and end == len(datagram) else datagram[start:end]
    return _process_protected(conn, level, packet_type, packet, header, now_us)


def _packet_start(header: LongHeader | ShortHeader) -> int:
    return header.packet_start


def _accept_long_header(conn: Connection, header: LongHeader) -> bool:
    """Match a long header to this connection (RFC 9000 §7.2, §17.2)."""
    if conn.is_client:
        # the server's Source CID is adopted once its packet authenticates (_on_authenticated):
        # a corrupted copy must not replace the real one
        return conn.local_cids.is_local(header.destination_cid)
    if conn.tls is None:
        if header.packet_type is not PacketType.INITIAL:
            return False
        conn.accept_initial(header.destination_cid, header.source_cid)
        return True
    # RFC 9000 §17.2.5.2: after a Retry the client's Initials name the Retry's Source CID
    return conn.local_cids.is_local(header.destination_cid) or (
        header.destination_cid in (conn.original_destination_cid, conn.retry_source_cid)
    )


def _process_protected(
    conn: Connection,
    level: EncryptionLevel,
    packet_type: PacketType,
    packet: bytes,
    header: LongHeader | ShortHeader,
    now_us: int,
) -> bool:
    pn_offset = header.pn_offset - _packet_start(header)
    space = SPACE_OF_LEVEL[level]
    tracker = conn.ack_trackers[space]
    mask = None
    if level is EncryptionLevel.APPLICATION:
        phase, mask = _peek_key_phase(conn, packet, pn_offset)
        keys = conn.keys.recv_keys_for_phase(phase, now_us)
    else:
        keys = conn.keys.recv_keys(level)
    if keys is None:
        _buffer_packet(conn, level, packet_type, packet, header)
        return False
    result = unprotect_packet(keys, packet, pn_offset, tracker.largest_received, mask=mask)
    if result is None:
        conn.stats.recv_decryption_failures += 1
        return False
    plain_header, packet_number, payload = result
    if reserved_bits_set(plain_header[0]):  # RFC 9000 §17.2, §17.3.1 (after authentication)
        raise QuicError(TransportErrorCode.PROTOCOL_VIOLATION, "reserved bits set")
    if level is EncryptionLevel.APPLICATION:  # the peer's key update (RFC 9001 §6.2-§6.5)
        key_update.on_packet_opened(conn, key_phase(plain_header[0]), packet_number, now_us)
    if tracker.is_duplicate(packet_number):
        conn.stats.recv_duplicate_packets += 1
        return True
    return _process_frames(conn, level, packet_type, packet, header, packet_number, payload, now_us)


def _receive_one_rtt(conn: Connection, data: bytes, cid_length: int, now_us: int) -> bool | None:
    """A datagram holding one 1-RTT packet (RFC 9000 §17.3.1), without a header object.

    True or False as :func:`_receive_packet`; ``None``, having changed nothing, for what the
    generic path must handle: no fixed bit, too short to sample, not our connection ID, no keys.
    A payload of one STREAM frame for an open stream takes :mod:`pyquic.core.stream_fast_path`.
    """
    pn_offset = 1 + cid_length
    if not data[0] & FIXED_BIT or len(data) < pn_offset + PN_SAMPLE_OFFSET + SAMPLE_LENGTH:
        return None
    destination_cid = data[1:pn_offset]
    ring = conn.keys
    current = ring.recv_keys(EncryptionLevel.APPLICATION)
    if current is None or not conn.local_cids.is_local(destination_cid):
        return None
    # RFC 9001 §5.4.2: the sample starts 4 bytes after the start of the Packet Number field;
    # header protection keys are not updated (RFC 9001 §6), so the current keys' mask serves both
    sample = pn_offset + PN_SAMPLE_OFFSET
    mask = current.header_protection.mask(data[sample : sample + SAMPLE_LENGTH])
    phase = ((data[0] ^ mask[0]) & KEY_PHASE_BIT) >> 2  # unmasked Key Phase (RFC 9001 §5.4.1)
    keys = ring.recv_keys_for_phase(phase, now_us)  # RFC 9001 §6.3
    if keys is None:
        return None
    tracker = conn.ack_trackers[PacketSpace.APPLICATION]
    result = unprotect_packet(keys, data, pn_offset, tracker.largest_received, mask=mask)
    if result is None:
        conn.stats.recv_decryption_failures += 1
        return False
    plain_header, packet_number, payload = result
    if plain_header[0] & SHORT_RESERVED_BITS:  # RFC 9000 §17.3.1 (after authentication)
        raise QuicError(TransportErrorCode.PROTOCOL_VIOLATION, "reserved bits set")
    key_update.on_packet_opened(conn, phase, packet_number, now_us)  # RFC 9001 §6.2-§6.5
    largest = tracker.largest_received
    # RFC 9000 §12.3: a number above the largest processed is new; others may be duplicates
    if (largest is None or packet_number <= largest) and tracker.is_duplicate(packet_number):
        conn.stats.recv_duplicate_packets += 1
        return True
    if _receive_stream_packet(conn, destination_cid, packet_number, payload, now_us):
        return True
    header = ShortHeader(data[0], destination_cid, pn_offset, len(data))
    level, packet_type = EncryptionLevel.APPLICATION, PacketType.ONE_RTT
    return _process_frames(conn, level, packet_type, data, header, packet_number, payload, now_us)


def _receive_stream_packet(
    conn: Connection, destination_cid: bytes, packet_number: int, payload: bytes, now_us: int
) -> bool:
    """A new 1-RTT packet of one STREAM frame for an open stream, arriving on the active path:
    what :func:`_process_frames` does for it, without frame objects.  False, having changed
    nothing, for any other payload (or with qlog on, which logs the frames)."""
    path = conn.paths
    if conn.qlog is not None or path.recv_address != path.active.address:
        return False
    frame = stream_fast_path.parse_single_stream(payload)
    if frame is None:
        return False
    recv = stream_fast_path.existing_recv_stream(conn, frame[0])
    if recv is None:
        return False
    conn.ack_eliciting_sent_since_receive = False  # what _on_authenticated does for 1-RTT
    path.active.local_cid = destination_cid  # paths.on_packet on the active path (RFC 9000 §9.3)
    stream_fast_path.on_stream_data(conn, recv, frame)
    # STREAM is ack-eliciting (RFC 9000 §13.2); RFC 9000 §13.4.1: count the ECN codepoint
    recv_ecn = conn.recv_ecn
    conn.ack_trackers[PacketSpace.APPLICATION].on_packet_received(
        packet_number, True, now_us, ecn=recv_ecn
    )
    conn.stats.recv_total_packets += 1
    if recv_ecn:
        ecn.count_received(conn.stats, recv_ecn)
    conn.return_flow_credit()
    conn.restart_idle_timer(now_us)  # RFC 9000 §10.1
    if conn.buffered_packets:
        _retry_buffered(conn, now_us)
    return True


def _process_frames(
    conn: Connection,
    level: EncryptionLevel,
    packet_type: PacketType,
    packet: bytes,
    header: LongHeader | ShortHeader,
    packet_number: int,
    payload: bytes,
    now_us: int,
) -> bool:
    """An authenticated, new packet: parse its frames and act on them."""
    space = SPACE_OF_LEVEL[level]
    tracker = conn.ack_trackers[space]
    frames = parse_frames(payload, packet_type)
    _on_authenticated(conn, level, header, now_us)
    if level is EncryptionLevel.APPLICATION:  # RFC 9000 §9.3: a new peer address?
        largest = tracker.largest_received
        paths.on_packet(conn, frames, packet_number, largest, header.destination_cid, now_us)
    frame_types = {type(frame) for frame in frames}
    ack_eliciting = not frame_types.issubset(
        NON_ACK_ELICITING_FRAME_CLASSES
    )  # RFC 9000 §13.2, RFC 9002 §2
    if conn.qlog is not None:
        conn.qlog.packet_received(
            now_us,
            QlogPacketHeader(packet_type, packet_number=packet_number),
            frames,
            raw_length=len(packet),
        )
    for frame in frames:
        frame_handlers.handle_frame(conn, frame, level, header, now_us)
    if level is not EncryptionLevel.APPLICATION:  # RFC 9002 §6.2.3
        has_ack = AckFrame in frame_types
        handshake_speedup.on_peer_packet(conn, space, ack_eliciting=ack_eliciting, has_ack=has_ack)
    # RFC 9000 §13.4.1: count the datagram's ECN codepoint for our ACK_ECN frames
    tracker.on_packet_received(packet_number, ack_eliciting, now_us, ecn=conn.recv_ecn)
    conn.stats.recv_total_packets += 1
    ecn.count_received(conn.stats, conn.recv_ecn)
    if CryptoFrame in frame_types:
        conn.pump_tls()  # TLS produces output and events only in answer to CRYPTO data
    conn.return_flow_credit()
    # RFC 9000 §10.1: restarted once the packet was processed successfully, so the 3-PTO floor
    # uses the RTT its ACK frames gave and a handshake completed by it arms the negotiated timeout
    conn.restart_idle_timer(now_us)
    _retry_buffered(conn, now_us)
    return True


def _on_authenticated(
    conn: Connection, level: EncryptionLevel, header: LongHeader | ShortHeader, now_us: int
) -> None:
    """Bookkeeping every authenticated packet triggers."""
    conn.ack_eliciting_sent_since_receive = False
    if (
        conn.is_client
        and conn.peer_initial_source_cid is None
        and isinstance(header, LongHeader)
        and level in (EncryptionLevel.INITIAL, EncryptionLevel.HANDSHAKE)
    ):
        # RFC 9000 §7.2: the server's first Source CID becomes our destination
        conn.peer_initial_source_cid = header.source_cid
        assert conn.peer_cids is not None
        conn.peer_cids.replace_initial(header.source_cid)
    if level is EncryptionLevel.HANDSHAKE and not conn.is_client:
        # RFC 9000 §8.1: a Handshake packet proves the client's address;
        # RFC 9001 §4.9.1: the server discards Initial keys on the first one
        conn.address_validated = True
        conn.discard_level(EncryptionLevel.INITIAL)


def _peek_key_phase(conn: Connection, packet: bytes, pn_offset: int) -> tuple[int, bytes | None]:
    """The Key Phase bit needs header protection removed: use the current keys' mask.

    Returns the phase and the mask, which is the mask of every phase: header protection keys
    are not updated (RFC 9001 §6), so unprotecting reuses it instead of computing it again.
    """
    keys = conn.keys.recv_keys(EncryptionLevel.APPLICATION)
    if keys is None or len(packet) < pn_offset + 20:
        return conn.keys.key_phase, None
    mask = keys.header_protection.mask(packet[pn_offset + 4 : pn_offset + 20])
    return key_phase(packet[0] ^ (mask[0] & 0x1F)), mask


def _buffer_packet(
    conn: Connection,
    level: EncryptionLevel,
    packet_type: PacketType,
    packet: bytes,
    header: LongHeader | ShortHeader,
) -> None:
    if conn.keys.is_discarded(level) or len(conn.buffered_packets) >= MAX_BUFFERED_PACKETS:
        conn.stats.recv_dropped_packets += 1
        return
    conn.buffered_packets.append((level, packet_type, packet, header))


def _retry_buffered(conn: Connection, now_us: int) -> None:
    pending = conn.buffered_packets
    if not pending:
        return
    ready = [p for p in pending if conn.keys.recv_keys(p[0]) is not None]
    if not ready:
        return
    conn.buffered_packets = [p for p in pending if conn.keys.recv_keys(p[0]) is None]
    for level, packet_type, packet, header in ready:
        _process_protected(conn, level, packet_type, packet, header, now_us)


def _check_stateless_reset(conn: Connection, datagram: bytes, now_us: int) -> None:
    """RFC 9000 §10.3.1: a datagram ending with a peer's reset token ends the connection."""
    if conn.peer_cids is None or not conn.peer_cids.is_stateless_reset(datagram):
        return
    conn.enter_draining(
        ConnectionTerminated(
            0, "stateless reset", None, application=False, by_peer=True, stateless_reset=True
        ),
        now_us,
    )
