"""Parsing a decrypted packet payload into frames (RFC 9000 §12.4, §19; RFC 9221 §4;
draft-ietf-quic-ack-frequency §4, §5).

Design: the Frame Type is read once, checked for the shortest encoding, then dispatched through a
list indexed by the type value to one small function per frame layout; each function reads its
fields in wire order exactly once from the shared :class:`~pyquic.core.buffer.Reader`, whose
bounds checks turn every truncation into FRAME_ENCODING_ERROR.  Any :class:`QuicError` leaving
:func:`parse_frame` carries the offending frame type.  Field-level rules that need no connection
state are enforced here; rules that need state (stream direction, limits, min_ack_delay, ...) are
the connection's.

ACK range bound: an ACK frame is always consumed and validated in full (every range is checked
against packet number 0, RFC 9000 §19.3.1), but only the first :data:`MAX_ACK_RANGES` ranges
(the newest packet numbers) are kept.  Dropping older ranges is safe for loss detection:
acknowledgments are only ever missed, never invented, so at worst some packets are acknowledged
by a later ACK or retransmitted spuriously (RFC 9002 §6); the largest acknowledged packet, which
drives RTT sampling and loss detection, is always kept.  This bounds the per-frame allocation and
the work done by loss recovery, whatever the peer sends.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from pyquic.core.buffer import BytesLike, Reader
from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.core.frame_rules import ALLOWED_FRAME_TYPES, check_frame_allowed
from pyquic.core.frames import (
    ACK_FREQUENCY_MAX_ACK_DELAY_LIMIT_US,
    DATAGRAM_LEN_BIT,
    MAX_CONNECTION_ID_LENGTH,
    MAX_STREAMS_LIMIT,
    MIN_CONNECTION_ID_LENGTH,
    PATH_DATA_LENGTH,
    STATELESS_RESET_TOKEN_LENGTH,
    STREAM_FIN_BIT,
    STREAM_LEN_BIT,
    STREAM_OFF_BIT,
    AckFrame,
    AckFrequencyFrame,
    ConnectionCloseFrame,
    CryptoFrame,
    DataBlockedFrame,
    DatagramFrame,
    EcnCounts,
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
from pyquic.core.varint import VARINT_MAX, varint_size
from pyquic.core.version import PacketType

# Ranges kept per ACK frame (see the module docstring).  256 ranges is far more than any receiver
# needs to describe realistic loss and reordering, and about a third of what a 1500-byte packet can
# carry (each range takes at least 2 bytes).
MAX_ACK_RANGES = 256

_FRAME_ENCODING_ERROR = TransportErrorCode.FRAME_ENCODING_ERROR
_ZERO_RUN = re.compile(rb"\x00*")

_Handler = Callable[[Reader, int], Frame]

# Frames without fields are immutable, so one instance serves every parse.
_PING = PingFrame()
_HANDSHAKE_DONE = HandshakeDoneFrame()
_IMMEDIATE_ACK = ImmediateAckFrame()


def _malformed(reason: str) -> QuicError:
    # parse_frame fills in frame_type on the way out.
    return QuicError(_FRAME_ENCODING_ERROR, reason)


def _parse_padding(reader: Reader, frame_type: int) -> Frame:
    # RFC 9000 §19.1: a run of 0x00 bytes is one PaddingFrame; the type byte is already consumed.
    start = reader.position
    end = start + reader.remaining()
    match = _ZERO_RUN.match(reader.data, start, end)
    stop = end if match is None else match.end()  # the pattern always matches
    reader.skip(stop - start)
    return PaddingFrame(stop - start + 1)


def _parse_ping(reader: Reader, frame_type: int) -> Frame:
    return _PING  # RFC 9000 §19.2


def _parse_ack(reader: Reader, frame_type: int) -> Frame:
    # RFC 9000 §19.3
    pull = reader.pull_varint
    largest = pull()
    ack_delay = pull()
    range_count = pull()
    smallest = largest - pull()
    if smallest < 0:  # §19.3.1: any computed packet number below 0
        raise _malformed("ACK range extends below packet number 0")
    if range_count > reader.remaining() // 2:  # each Gap + ACK Range Length takes >= 2 bytes
        raise _malformed(f"ACK Range Count {range_count} exceeds the frame")
    ranges = [(smallest, largest)]
    kept = min(range_count, MAX_ACK_RANGES - 1)
    for _ in range(kept):
        largest = smallest - pull() - 2  # §19.3.1: largest = previous_smallest - gap - 2
        smallest = largest - pull()  # smallest = largest - ack_range
        if smallest < 0:
            raise _malformed("ACK range extends below packet number 0")
        ranges.append((smallest, largest))
    for _ in range(range_count - kept):  # consumed and validated, not kept
        gap = pull()
        smallest = smallest - gap - 2 - pull()
        if smallest < 0:
            raise _malformed("ACK range extends below packet number 0")
    ecn = EcnCounts(pull(), pull(), pull()) if frame_type == FrameType.ACK_ECN else None  # §19.3.2
    return AckFrame(tuple(ranges), ack_delay, ecn)


def _parse_reset_stream(reader: Reader, frame_type: int) -> Frame:
    pull = reader.pull_varint
    return ResetStreamFrame(pull(), pull(), pull())  # RFC 9000 §19.4


def _parse_stop_sending(reader: Reader, frame_type: int) -> Frame:
    pull = reader.pull_varint
    return StopSendingFrame(pull(), pull())  # RFC 9000 §19.5


def _parse_crypto(reader: Reader, frame_type: int) -> Frame:
    offset = reader.pull_varint()
    length = reader.pull_varint()
    # RFC 9000 §19.6 allows FRAME_ENCODING_ERROR or CRYPTO_BUFFER_EXCEEDED; the codec has no
    # buffer, so it reports the encoding error (buffer limits are the crypto stream's, §7.5).
    if offset + length > VARINT_MAX:
        raise _malformed("CRYPTO data ends beyond 2^62-1")
    return CryptoFrame(offset, reader.pull_bytes(length))


def _parse_new_token(reader: Reader, frame_type: int) -> Frame:
    length = reader.pull_varint()
    if length == 0:  # RFC 9000 §19.7
        raise _malformed("empty NEW_TOKEN token")
    return NewTokenFrame(reader.pull_bytes(length))


def _parse_stream(reader: Reader, frame_type: int) -> Frame:
    # RFC 9000 §19.8: OFF, LEN and FIN bits in the type.
    stream_id = reader.pull_varint()
    offset = reader.pull_varint() if frame_type & STREAM_OFF_BIT else 0
    explicit_length = bool(frame_type & STREAM_LEN_BIT)
    length = reader.pull_varint() if explicit_length else reader.remaining()
    if offset + length > VARINT_MAX:  # §19.8 (FRAME_ENCODING_ERROR or FLOW_CONTROL_ERROR)
        raise _malformed("STREAM data ends beyond 2^62-1")
    data = reader.pull_bytes(length)
    return StreamFrame(stream_id, offset, data, bool(frame_type & STREAM_FIN_BIT), explicit_length)


def _parse_max_data(reader: Reader, frame_type: int) -> Frame:
    return MaxDataFrame(reader.pull_varint())  # RFC 9000 §19.9


def _parse_max_stream_data(reader: Reader, frame_type: int) -> Frame:
    pull = reader.pull_varint
    return MaxStreamDataFrame(pull(), pull())  # RFC 9000 §19.10


def _pull_stream_count(reader: Reader) -> int:
    count = reader.pull_varint()
    if count > MAX_STREAMS_LIMIT:  # RFC 9000 §19.11, §19.14
        raise _malformed(f"stream count {count} exceeds 2^60")
    return count


def _parse_max_streams(reader: Reader, frame_type: int) -> Frame:
    # RFC 9000 §19.11: 0x12 bidirectional, 0x13 unidirectional
    return MaxStreamsFrame(frame_type == FrameType.MAX_STREAMS_BIDI, _pull_stream_count(reader))


def _parse_data_blocked(reader: Reader, frame_type: int) -> Frame:
    return DataBlockedFrame(reader.pull_varint())  # RFC 9000 §19.12


def _parse_stream_data_blocked(reader: Reader, frame_type: int) -> Frame:
    pull = reader.pull_varint
    return StreamDataBlockedFrame(pull(), pull())  # RFC 9000 §19.13


def _parse_streams_blocked(reader: Reader, frame_type: int) -> Frame:
    # RFC 9000 §19.14: 0x16 bidirectional, 0x17 unidirectional
    bidirectional = frame_type == FrameType.STREAMS_BLOCKED_BIDI
    return StreamsBlockedFrame(bidirectional, _pull_stream_count(reader))


def _parse_new_connection_id(reader: Reader, frame_type: int) -> Frame:
    # RFC 9000 §19.15
    sequence_number = reader.pull_varint()
    retire_prior_to = reader.pull_varint()
    if retire_prior_to > sequence_number:
        raise _malformed("Retire Prior To exceeds the Sequence Number")
    length = reader.pull_uint8()
    if not MIN_CONNECTION_ID_LENGTH <= length <= MAX_CONNECTION_ID_LENGTH:
        raise _malformed(f"connection ID length {length} outside 1..20")
    connection_id = reader.pull_bytes(length)
    token = reader.pull_bytes(STATELESS_RESET_TOKEN_LENGTH)
    return NewConnectionIdFrame(sequence_number, retire_prior_to, connection_id, token)


def _parse_retire_connection_id(reader: Reader, frame_type: int) -> Frame:
    return RetireConnectionIdFrame(reader.pull_varint())  # RFC 9000 §19.16


def _parse_path_challenge(reader: Reader, frame_type: int) -> Frame:
    return PathChallengeFrame(reader.pull_bytes(PATH_DATA_LENGTH))  # RFC 9000 §19.17


def _parse_path_response(reader: Reader, frame_type: int) -> Frame:
    return PathResponseFrame(reader.pull_bytes(PATH_DATA_LENGTH))  # RFC 9000 §19.18


def _parse_connection_close(reader: Reader, frame_type: int) -> Frame:
    # RFC 9000 §19.19: 0x1d (application) has no Frame Type field.
    error_code = reader.pull_varint()
    application = frame_type == FrameType.CONNECTION_CLOSE_APPLICATION
    offending_type = 0 if application else reader.pull_varint()
    reason = reader.pull_bytes(reader.pull_varint())
    return ConnectionCloseFrame(error_code, offending_type, reason, application)


def _parse_handshake_done(reader: Reader, frame_type: int) -> Frame:
    return _HANDSHAKE_DONE  # RFC 9000 §19.20


def _parse_immediate_ack(reader: Reader, frame_type: int) -> Frame:
    return _IMMEDIATE_ACK  # draft-ietf-quic-ack-frequency §5


def _parse_datagram(reader: Reader, frame_type: int) -> Frame:
    # RFC 9221 §4: the LEN bit says whether a Length field is present; empty data is allowed.
    explicit_length = bool(frame_type & DATAGRAM_LEN_BIT)
    length = reader.pull_varint() if explicit_length else reader.remaining()
    return DatagramFrame(reader.pull_bytes(length), explicit_length)


def _parse_ack_frequency(reader: Reader, frame_type: int) -> Frame:
    # draft-ietf-quic-ack-frequency §4
    pull = reader.pull_varint
    sequence_number = pull()
    threshold = pull()
    max_ack_delay_us = pull()
    reordering_threshold = pull()
    # §4: 2^14 ms or more is an invalid max_ack_delay (RFC 9000 §18.2) -> PROTOCOL_VIOLATION.
    # The other rule (not below our min_ack_delay) needs transport parameters: the connection's.
    if max_ack_delay_us >= ACK_FREQUENCY_MAX_ACK_DELAY_LIMIT_US:
        raise QuicError(
            TransportErrorCode.PROTOCOL_VIOLATION,
            f"Requested Max Ack Delay {max_ack_delay_us} us is 2^14 ms or more",
        )
    return AckFrequencyFrame(sequence_number, threshold, max_ack_delay_us, reordering_threshold)


def _build_table() -> list[_Handler | None]:
    handlers: dict[int, _Handler] = {
        FrameType.PADDING: _parse_padding,
        FrameType.PING: _parse_ping,
        FrameType.ACK: _parse_ack,
        FrameType.ACK_ECN: _parse_ack,
        FrameType.RESET_STREAM: _parse_reset_stream,
        FrameType.STOP_SENDING: _parse_stop_sending,
        FrameType.CRYPTO: _parse_crypto,
        FrameType.NEW_TOKEN: _parse_new_token,
        **{t: _parse_stream for t in range(FrameType.STREAM, FrameType.STREAM_OFF_LEN_FIN + 1)},
        FrameType.MAX_DATA: _parse_max_data,
        FrameType.MAX_STREAM_DATA: _parse_max_stream_data,
        FrameType.MAX_STREAMS_BIDI: _parse_max_streams,
        FrameType.MAX_STREAMS_UNI: _parse_max_streams,
        FrameType.DATA_BLOCKED: _parse_data_blocked,
        FrameType.STREAM_DATA_BLOCKED: _parse_stream_data_blocked,
        FrameType.STREAMS_BLOCKED_BIDI: _parse_streams_blocked,
        FrameType.STREAMS_BLOCKED_UNI: _parse_streams_blocked,
        FrameType.NEW_CONNECTION_ID: _parse_new_connection_id,
        FrameType.RETIRE_CONNECTION_ID: _parse_retire_connection_id,
        FrameType.PATH_CHALLENGE: _parse_path_challenge,
        FrameType.PATH_RESPONSE: _parse_path_response,
        FrameType.CONNECTION_CLOSE: _parse_connection_close,
        FrameType.CONNECTION_CLOSE_APPLICATION: _parse_connection_close,
        FrameType.HANDSHAKE_DONE: _parse_handshake_done,
        FrameType.IMMEDIATE_ACK: _parse_immediate_ack,
        FrameType.DATAGRAM: _parse_datagram,
        FrameType.DATAGRAM_LEN: _parse_datagram,
        FrameType.ACK_FREQUENCY: _parse_ack_frequency,
    }
    table: list[_Handler | None] = [None] * (max(handlers) + 1)
    for frame_type, handler in handlers.items():
        table[frame_type] = handler
    return table


_HANDLERS = _build_table()
_TABLE_SIZE = len(_HANDLERS)


def parse_frame(reader: Reader, packet_type: PacketType | None = None) -> Frame:
    """Parse the one frame at the reader's position.

    The reader should raise FRAME_ENCODING_ERROR on truncation (its default).  With
    ``packet_type``, a frame type that packet may not carry is refused before its body is read
    (PROTOCOL_VIOLATION, RFC 9000 §12.4).  Every error carries the frame type once it is known.
    """
    start = reader.position
    frame_type = reader.pull_varint()
    size = reader.position - start
    if size > 1 and size != varint_size(frame_type):
        # RFC 9000 §12.4: a frame type MUST use the shortest encoding; MAY be PROTOCOL_VIOLATION.
        raise QuicError(
            TransportErrorCode.PROTOCOL_VIOLATION,
            f"frame type {frame_type:#x} not in its shortest encoding",
            frame_type=frame_type,
        )
    handler = _HANDLERS[frame_type] if frame_type < _TABLE_SIZE else None
    if handler is None:  # RFC 9000 §12.4: unknown frame type
        raise QuicError(
            _FRAME_ENCODING_ERROR, f"unknown frame type {frame_type:#x}", frame_type=frame_type
        )
    if packet_type is not None and frame_type not in ALLOWED_FRAME_TYPES[packet_type]:
        check_frame_allowed(frame_type, packet_type)  # raises PROTOCOL_VIOLATION (§12.4)
    try:
        return handler(reader, frame_type)
    except QuicError as exc:
        if exc.frame_type is None:
            exc.frame_type = frame_type
        raise


def parse_frames(payload: BytesLike, packet_type: PacketType | None = None) -> list[Frame]:
    """Every frame of a decrypted packet payload, in order.

    An empty payload is PROTOCOL_VIOLATION (RFC 9000 §12.4: a packet containing no frames).  With
    ``packet_type``, each frame type is checked against RFC 9000 §12.4 Table 3.
    """
    reader = Reader(payload, _FRAME_ENCODING_ERROR)
    if reader.eof():
        raise QuicError(TransportErrorCode.PROTOCOL_VIOLATION, "packet contains no frames")
    frames: list[Frame] = []
    append = frames.append
    while not reader.eof():
        append(parse_frame(reader, packet_type))
    return frames
