"""What each received frame does to the connection (RFC 9000 §19, RFC 9221 §4).

Design: one table from frame class to handler, each handler a few lines that call into the
module owning the state (streams, flow control, CIDs, loss detection, TLS).  Handlers raise
:class:`QuicError` with the RFC's code; the connection's boundary turns it into CONNECTION_CLOSE.
Which frames a packet type may carry was already checked by the parser (RFC 9000 §12.4).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pyquic.core import paths, version_negotiation, version_restart
from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.core.events import (
    ConnectionTerminated,
    DatagramReceived,
    NewTokenReceived,
    StopSendingReceived,
    StreamOpened,
    StreamReadable,
    StreamReset,
    StreamsAvailable,
)
from pyquic.core.frames import (
    AckFrame,
    AckFrequencyFrame,
    ConnectionCloseFrame,
    CryptoFrame,
    DataBlockedFrame,
    DatagramFrame,
    Frame,
    FrameType,
    HandshakeDoneFrame,
    ImmediateAckFrame,
    MaxDataFrame,
    MaxStreamDataFrame,
    MaxStreamsFrame,
    NewConnectionIdFrame,
    NewTokenFrame,
    PaddingFrame,
    PathChallengeFrame,
    PathResponseFrame,
    PingFrame,
    ResetStreamFrame,
    RetireConnectionIdFrame,
    StopSendingFrame,
    StreamDataBlockedFrame,
    StreamFrame,
    StreamsBlockedFrame,
)
from pyquic.core.levels import SPACE_OF_LEVEL, EncryptionLevel, PacketSpace
from pyquic.core.packet_header import LongHeader, RetryPacket, ShortHeader, VersionNegotiationPacket
from pyquic.core.send_path import on_ack_received

if TYPE_CHECKING:
    from pyquic.core.connection import Connection

_PV = TransportErrorCode.PROTOCOL_VIOLATION
Header = LongHeader | ShortHeader


def handle_frame(
    conn: Connection, frame: Frame, level: EncryptionLevel, header: Header, now_us: int
) -> None:
    handler = _HANDLERS[type(frame)]
    try:
        handler(conn, frame, level, header, now_us)
    except QuicError as exc:
        if not exc.application:
            # RFC 9000 §19.19: the Frame Type field names the frame that triggered the error, by
            # its exact wire type (a STREAM frame's flag bits, an ACK's ECN bit included)
            exc.frame_type = frame.wire_type
        raise


def _ignore(conn: Connection, frame: Any, level: EncryptionLevel, header: Header, now: int) -> None:
    """PADDING and PING need nothing beyond being acknowledged (RFC 9000 §19.1, §19.2)."""


def _ack(
    conn: Connection, frame: AckFrame, level: EncryptionLevel, header: Header, now: int
) -> None:
    space = SPACE_OF_LEVEL[level]
    # RFC 9000 §19.3: ack_delay is scaled by the peer's exponent; RFC 9002 §5.3 ignores it for
    # Initial and Handshake packets
    ack_delay_us = (
        frame.ack_delay << conn.peer_ack_delay_exponent if space is PacketSpace.APPLICATION else 0
    )
    on_ack_received(conn, space, frame, ack_delay_us, now)


def _crypto(
    conn: Connection, frame: CryptoFrame, level: EncryptionLevel, header: Header, now: int
) -> None:
    data = conn.crypto_streams[level].on_crypto_frame(frame.offset, frame.data)
    if data and conn.tls is not None:
        # RFC 9368 §2.3: a server may switch versions before TLS reads the ClientHello
        data = version_negotiation.server_crypto_input(conn, level, data)
        conn.tls.receive(level, data)


def _new_token(
    conn: Connection, frame: NewTokenFrame, level: EncryptionLevel, header: Header, now: int
) -> None:
    if not conn.is_client:  # RFC 9000 §19.7: a server never receives NEW_TOKEN
        raise QuicError(_PV, "NEW_TOKEN from a client", frame_type=FrameType.NEW_TOKEN)
    conn.emit(NewTokenReceived(frame.token))  # for a later connection (RFC 9000 §8.1.3)


def _stream(
    conn: Connection, frame: StreamFrame, level: EncryptionLevel, header: Header, now: int
) -> None:
    stream = _stream_for(conn, frame.stream_id, frame.wire_type)
    if stream is None or stream.recv is None:
        return
    was_readable = stream.recv.readable
    increase = stream.recv.on_stream_frame(frame.offset, frame.data, frame.fin)
    conn.recv_window.on_received(increase)  # RFC 9000 §4.1: FLOW_CONTROL_ERROR beyond MAX_DATA
    if stream.recv.readable and not was_readable:
        conn.emit(StreamReadable(frame.stream_id))


def _reset_stream(
    conn: Connection, frame: ResetStreamFrame, level: EncryptionLevel, header: Header, now: int
) -> None:
    stream = _stream_for(conn, frame.stream_id, FrameType.RESET_STREAM)
    if stream is None or stream.recv is None:
        return
    increase = stream.recv.on_reset(frame.error_code, frame.final_size)
    conn.recv_window.on_received(increase)
    conn.emit(StreamReset(frame.stream_id, frame.error_code))


def _stop_sending(
    conn: Connection, frame: StopSendingFrame, level: EncryptionLevel, header: Header, now: int
) -> None:
    stream = _stream_for(conn, frame.stream_id, FrameType.STOP_SENDING)
    if stream is None or stream.send is None:
        return
    if stream.send.on_stop_sending(frame.error_code):  # RFC 9000 §3.5: answer with RESET_STREAM
        conn.emit(StopSendingReceived(frame.stream_id, frame.error_code))


def _max_data(
    conn: Connection, frame: MaxDataFrame, level: EncryptionLevel, header: Header, now: int
) -> None:
    conn.send_credit.update(frame.maximum_data)  # RFC 9000 §19.9: decreases are ignored


def _max_stream_data(
    conn: Connection, frame: MaxStreamDataFrame, level: EncryptionLevel, header: Header, now: int
) -> None:
    stream = _stream_for(conn, frame.stream_id, FrameType.MAX_STREAM_DATA)
    if stream is not None and stream.send is not None:
        stream.send.update_max_stream_data(frame.maximum_stream_data)


def _max_streams(
    conn: Connection, frame: MaxStreamsFrame, level: EncryptionLevel, header: Header, now: int
) -> None:
    if conn.streams.on_max_streams(frame.bidirectional, frame.maximum_streams):
        bidi, uni = conn.streams.available_local_streams()
        conn.emit(StreamsAvailable(bidi, uni))


def _blocked(
    conn: Connection, frame: Any, level: EncryptionLevel, header: Header, now: int
) -> None:
    """DATA_BLOCKED, STREAM_DATA_BLOCKED, STREAMS_BLOCKED: informational (RFC 9000 §19.12-14).

    A STREAM_DATA_BLOCKED frame still has to name a stream that may carry data to us.
    """
    if isinstance(frame, StreamDataBlockedFrame):
        _stream_for(conn, frame.stream_id, FrameType.STREAM_DATA_BLOCKED)


def _new_connection_id(
    conn: Connection, frame: NewConnectionIdFrame, level: EncryptionLevel, header: Header, now: int
) -> None:
    assert conn.peer_cids is not None
    conn.peer_cids.on_new_connection_id(frame)


def _retire_connection_id(
    conn: Connection,
    frame: RetireConnectionIdFrame,
    level: EncryptionLevel,
    header: Header,
    now: int,
) -> None:
    conn.local_cids.on_retire(frame.sequence_number, header.destination_cid)


def _path_challenge(
    conn: Connection, frame: PathChallengeFrame, level: EncryptionLevel, header: Header, now: int
) -> None:
    paths.on_path_challenge(conn, frame.data)  # RFC 9000 §8.2.2: echo on the same path


def _path_response(
    conn: Connection, frame: PathResponseFrame, level: EncryptionLevel, header: Header, now: int
) -> None:
    """RFC 9000 §8.2.3: a response to no challenge of ours is ignored."""
    paths.on_path_response(conn, frame.data)


def _connection_close(
    conn: Connection, frame: ConnectionCloseFrame, level: EncryptionLevel, header: Header, now: int
) -> None:
    if (
        conn.is_client
        and level is EncryptionLevel.INITIAL
        and frame.error_code == TransportErrorCode.INVALID_TOKEN
        and not frame.application
        and not conn.token
    ):
        # RFC 9000 §8.1.2, §20.1: INVALID_TOKEN answers an Initial whose Token field the server
        # could not validate; we sent none, so one of our Initials reached it corrupted (its
        # Token Length, say).  Initial packets prove nothing about their sender (RFC 9001
        # §5.2), so this close is dropped as §10.2.3 allows; the next Initial goes as usual
        conn.stats.recv_ignored_closes += 1
        return
    reason = frame.reason.decode("utf-8", errors="replace")
    frame_type = None if frame.application else frame.frame_type
    if conn.qlog is not None:
        conn.qlog.connection_closed(
            now,
            initiator="remote",
            error_code=frame.error_code,
            application=frame.application,
            reason=reason,
        )
    conn.enter_draining(
        ConnectionTerminated(
            frame.error_code, reason, frame_type, application=frame.application, by_peer=True
        ),
        now,
    )


def _handshake_done(
    conn: Connection, frame: HandshakeDoneFrame, level: EncryptionLevel, header: Header, now: int
) -> None:
    if not conn.is_client:  # RFC 9000 §19.20: a server never receives HANDSHAKE_DONE
        raise QuicError(_PV, "HANDSHAKE_DONE from a client", frame_type=FrameType.HANDSHAKE_DONE)
    conn.confirm_handshake()  # RFC 9001 §4.1.2


def _datagram(
    conn: Connection, frame: DatagramFrame, level: EncryptionLevel, header: Header, now: int
) -> None:
    if not conn.settings.datagram_receive_enabled:
        # RFC 9221 §3: DATAGRAM frames we did not advertise are a PROTOCOL_VIOLATION
        raise QuicError(_PV, "DATAGRAM frame not negotiated", frame_type=frame.wire_type)
    conn.emit(DatagramReceived(frame.data))


def _ack_frequency(
    conn: Connection, frame: Any, level: EncryptionLevel, header: Header, now: int
) -> None:
    # draft-ietf-quic-ack-frequency §3: only after we advertised min_ack_delay, which we do not
    raise QuicError(_PV, "ACK frequency extension not negotiated", frame_type=frame.wire_type)


def _stream_for(conn: Connection, stream_id: int, frame_type: int) -> Any:
    """The stream a frame names, opening peer streams as RFC 9000 §3.2 says; None if gone."""
    stream = conn.streams.stream_for_frame(stream_id, frame_type)
    for new in conn.streams.take_new_streams():
        conn.emit(StreamOpened(new.stream_id, bidirectional=new.bidirectional))
    return stream


def on_version_or_retry(
    conn: Connection, packet: VersionNegotiationPacket | RetryPacket, datagram: bytes, now: int
) -> bool:
    """Version Negotiation and Retry (RFC 9000 §6, §17.2.5): only a client acts on them."""
    if not conn.is_client or conn.peer_initial_source_cid is not None:
        return False  # RFC 9000 §17.2.5.2: once the server answered, these are discarded
    if isinstance(packet, VersionNegotiationPacket):
        return version_restart.handle_version_negotiation(conn, packet, now)
    return version_restart.handle_retry(conn, packet, datagram, now)


_HANDLERS: dict[type, Callable[..., None]] = {
    PaddingFrame: _ignore,
    PingFrame: _ignore,
    AckFrame: _ack,
    ResetStreamFrame: _reset_stream,
    StopSendingFrame: _stop_sending,
    CryptoFrame: _crypto,
    NewTokenFrame: _new_token,
    StreamFrame: _stream,
    MaxDataFrame: _max_data,
    MaxStreamDataFrame: _max_stream_data,
    MaxStreamsFrame: _max_streams,
    DataBlockedFrame: _blocked,
    StreamDataBlockedFrame: _blocked,
    StreamsBlockedFrame: _blocked,
    NewConnectionIdFrame: _new_connection_id,
    RetireConnectionIdFrame: _retire_connection_id,
    PathChallengeFrame: _path_challenge,
    PathResponseFrame: _path_response,
    ConnectionCloseFrame: _connection_close,
    HandshakeDoneFrame: _handshake_done,
    DatagramFrame: _datagram,
    AckFrequencyFrame: _ack_frequency,
    ImmediateAckFrame: _ack_frequency,
}
