"""The bulk-receive fast path: a 1-RTT payload that is one STREAM frame, plus PADDING.

Design: a bulk download is a run of 1-RTT packets each carrying one STREAM frame for a stream that
already exists, in order.  :func:`parse_single_stream` recognises exactly that payload with one
pass over its varints, building no frame object, and answers ``None`` for anything else (another
frame, a truncated field, a STREAM frame followed by non-zero bytes), so the caller runs the
generic parser, which owns every error.  It has no side effects: the caller can still fall back.
:func:`on_stream_data` is then what the generic STREAM handler
(:mod:`pyquic.core.frame_handlers`) does for an existing receive stream, with the same checks:
flow control and final size in :meth:`RecvStream.on_stream_frame` (RFC 9000 §4.1, §4.5),
MAX_DATA in :meth:`ReceiveWindow.on_received` (§4.1), StreamReadable when data becomes readable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyquic.core.errors import QuicError
from pyquic.core.events import StreamReadable
from pyquic.core.frames import STREAM_FIN_BIT, STREAM_LEN_BIT, STREAM_OFF_BIT, FrameType
from pyquic.core.stream_recv import RecvStream
from pyquic.core.varint import VARINT_MAX, decode_varint_at

if TYPE_CHECKING:
    from pyquic.core.connection import Connection

_STREAM_FIRST = int(FrameType.STREAM)  # 0x08..0x0f: STREAM with its OFF, LEN, FIN bits
_STREAM_LAST = int(FrameType.STREAM_OFF_LEN_FIN)

# (stream ID, offset, data, FIN, wire frame type)
StreamData = tuple[int, int, memoryview, bool, int]


def parse_single_stream(payload: bytes) -> StreamData | None:
    """The payload's one STREAM frame (RFC 9000 §19.8), or ``None`` if the payload is anything
    else: the generic parser then handles (and rejects) it.

    A frame with the LEN bit may be followed only by PADDING (0x00 bytes, RFC 9000 §19.1); one
    without it runs to the end of the packet.
    """
    end = len(payload)
    if end < 2:
        return None
    frame_type = payload[0]
    if not _STREAM_FIRST <= frame_type <= _STREAM_LAST:
        return None
    stream_id = payload[1]
    if stream_id < 0x40:  # a one-byte stream ID, the usual case
        pos = 2
    else:
        stream_id, pos = decode_varint_at(payload, 1)
    offset = 0
    if frame_type & STREAM_OFF_BIT:  # the Offset, inline: present in all but the first frame
        if pos >= end:
            return None
        offset, pos = decode_varint_at(payload, pos)
    if frame_type & STREAM_LEN_BIT:
        if pos >= end:
            return None
        length, pos = decode_varint_at(payload, pos)
        stop = pos + length
        # the rest must be PADDING (RFC 9000 §19.1): any other frame takes the generic path
        if pos > end or stop > end or payload.count(0, stop) != end - stop:
            return None
    else:
        stop = end
    # §19.8: data ending beyond 2^62-1 is an error the generic parser reports
    if pos > end or offset + stop - pos > VARINT_MAX:
        return None
    data = memoryview(payload)[pos:stop]
    return stream_id, offset, data, bool(frame_type & STREAM_FIN_BIT), frame_type


def existing_recv_stream(conn: Connection, stream_id: int) -> RecvStream | None:
    """The receiving part of an open stream, if there is one.

    Such a stream is what ``StreamManager.stream_for_frame`` returns for a STREAM frame without
    raising or opening streams: a stream that has a receiving part is not our send-only stream
    (RFC 9000 §19.8) and, being open, is within the stream limits (§4.6).  ``None``: let the
    generic handler decide (open a peer stream, refuse the frame, or ignore a forgotten stream).
    """
    stream = conn.streams.get(stream_id)
    return None if stream is None else stream.recv


def on_stream_data(conn: Connection, recv: RecvStream, frame: StreamData) -> None:
    """Deliver a STREAM frame to an existing receive stream (RFC 9000 §2.2, §19.8).

    Raises QuicError FLOW_CONTROL_ERROR (§4.1) or FINAL_SIZE_ERROR (§4.5) with the frame's wire
    type (§19.19), as the generic handler does.
    """
    stream_id, offset, data, fin, frame_type = frame
    was_readable = recv.readable
    try:
        increase = recv.on_stream_frame(offset, data, fin)
        conn.recv_window.on_received(increase)  # RFC 9000 §4.1: FLOW_CONTROL_ERROR past MAX_DATA
    except QuicError as exc:
        if not exc.application:
            exc.frame_type = frame_type  # RFC 9000 §19.19: the exact wire type
        raise
    if not was_readable and recv.readable:
        conn.emit(StreamReadable(stream_id))
