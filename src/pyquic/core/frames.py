"""Every QUIC frame as an immutable value with its wire encoding.

One frozen, slotted dataclass per frame of RFC 9000 §19, RFC 9221 §4 (DATAGRAM) and
draft-ietf-quic-ack-frequency (ACK_FREQUENCY, IMMEDIATE_ACK).  Fields hold the values exactly as
they travel on the wire (ACK Delay is the raw, unscaled field), so encoding is a direct walk over
the fields and parsing (:mod:`pyquic.core.frame_parser`) is its exact inverse.  ``encode`` appends
to a caller-owned ``bytearray`` so a packet builder writes every frame into one buffer without
intermediate copies; ``to_bytes`` is the convenience form.  Encoders reject values the parser
would reject (``ValueError``): a frame built here always parses back to an equal frame.

Each frame reports the Frame Type value it encodes with as ``wire_type`` (not ``frame_type``,
which is a field of CONNECTION_CLOSE, RFC 9000 §19.19).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import TypeAlias

from pyquic.core.varint import VARINT_MAX, push_varint


class FrameType(IntEnum):
    """Frame Type values (RFC 9000 §12.4 Table 3, RFC 9221 §4, draft-ietf-quic-ack-frequency §11.2).

    Types that carry flags in their low bits (ACK, STREAM, MAX_STREAMS, STREAMS_BLOCKED,
    CONNECTION_CLOSE, DATAGRAM) have one member per wire value.
    """

    PADDING = 0x00
    PING = 0x01
    ACK = 0x02
    ACK_ECN = 0x03
    RESET_STREAM = 0x04
    STOP_SENDING = 0x05
    CRYPTO = 0x06
    NEW_TOKEN = 0x07
    STREAM = 0x08  # STREAM with OFF, LEN, FIN bits clear; RFC 9000 §19.8
    STREAM_FIN = 0x09
    STREAM_LEN = 0x0A
    STREAM_LEN_FIN = 0x0B
    STREAM_OFF = 0x0C
    STREAM_OFF_FIN = 0x0D
    STREAM_OFF_LEN = 0x0E
    STREAM_OFF_LEN_FIN = 0x0F
    MAX_DATA = 0x10
    MAX_STREAM_DATA = 0x11
    MAX_STREAMS_BIDI = 0x12
    MAX_STREAMS_UNI = 0x13
    DATA_BLOCKED = 0x14
    STREAM_DATA_BLOCKED = 0x15
    STREAMS_BLOCKED_BIDI = 0x16
    STREAMS_BLOCKED_UNI = 0x17
    NEW_CONNECTION_ID = 0x18
    RETIRE_CONNECTION_ID = 0x19
    PATH_CHALLENGE = 0x1A
    PATH_RESPONSE = 0x1B
    CONNECTION_CLOSE = 0x1C  # transport error; RFC 9000 §19.19
    CONNECTION_CLOSE_APPLICATION = 0x1D  # application error; RFC 9000 §19.19
    HANDSHAKE_DONE = 0x1E
    IMMEDIATE_ACK = 0x1F  # draft-ietf-quic-ack-frequency §5, §11.2
    DATAGRAM = 0x30  # no Length field; RFC 9221 §4
    DATAGRAM_LEN = 0x31
    ACK_FREQUENCY = 0xAF  # draft-ietf-quic-ack-frequency §4, §11.2


# Low-order flag bits of the STREAM frame type (RFC 9000 §19.8) and DATAGRAM type (RFC 9221 §4).
STREAM_OFF_BIT = 0x04
STREAM_LEN_BIT = 0x02
STREAM_FIN_BIT = 0x01
DATAGRAM_LEN_BIT = 0x01

# MAX_STREAMS and STREAMS_BLOCKED cannot exceed 2^60 (RFC 9000 §19.11, §19.14).
MAX_STREAMS_LIMIT = 1 << 60
# Connection IDs in NEW_CONNECTION_ID are 1..20 bytes (RFC 9000 §19.15).
MIN_CONNECTION_ID_LENGTH = 1
MAX_CONNECTION_ID_LENGTH = 20
STATELESS_RESET_TOKEN_LENGTH = 16  # RFC 9000 §19.15
PATH_DATA_LENGTH = 8  # RFC 9000 §19.17, §19.18
# Requested Max Ack Delay of 2^14 ms or more is invalid (draft-ietf-quic-ack-frequency §4,
# RFC 9000 §18.2); the field is in microseconds.
ACK_FREQUENCY_MAX_ACK_DELAY_LIMIT_US = (1 << 14) * 1000


class _FrameCodec(ABC):
    """What every frame offers: its wire type and its encoding."""

    __slots__ = ()

    @property
    @abstractmethod
    def wire_type(self) -> int:
        """The Frame Type value this frame is encoded with."""

    @abstractmethod
    def encode(self, out: bytearray) -> None:
        """Append this frame's wire bytes to ``out``."""

    def to_bytes(self) -> bytes:
        """This frame's wire bytes."""
        out = bytearray()
        self.encode(out)
        return bytes(out)


def _check_exact_length(name: str, value: bytes, length: int) -> None:
    if len(value) != length:
        raise ValueError(f"{name} must be {length} bytes, got {len(value)}")


def _check_end_offset(offset: int, length: int) -> None:
    # RFC 9000 §19.6, §19.8: offset + length cannot exceed 2^62-1.
    if offset + length > VARINT_MAX:
        raise ValueError(f"end offset {offset + length} exceeds 2^62-1")


@dataclass(frozen=True, slots=True)
class PaddingFrame(_FrameCodec):
    """A run of ``length`` PADDING bytes (RFC 9000 §19.1); consecutive 0x00 bytes parse as one."""

    length: int = 1

    @property
    def wire_type(self) -> int:
        return FrameType.PADDING

    def encode(self, out: bytearray) -> None:
        if self.length < 1:
            raise ValueError(f"PADDING length must be at least 1, got {self.length}")
        out += bytes(self.length)


@dataclass(frozen=True, slots=True)
class PingFrame(_FrameCodec):
    """PING (RFC 9000 §19.2)."""

    @property
    def wire_type(self) -> int:
        return FrameType.PING

    def encode(self, out: bytearray) -> None:
        out.append(FrameType.PING)


@dataclass(frozen=True, slots=True)
class EcnCounts:
    """The ECN Counts of an ACK_ECN frame (RFC 9000 §19.3.2)."""

    ect0: int
    ect1: int
    ce: int


@dataclass(frozen=True, slots=True)
class AckFrame(_FrameCodec):
    """ACK / ACK_ECN (RFC 9000 §19.3).

    ``ranges`` are inclusive ``(smallest, largest)`` packet number pairs, largest range first,
    disjoint, non-adjacent and descending (adjacent ranges would need a Gap of -1, §19.3.1).
    ``ack_delay`` is the raw ACK Delay field: microseconds divided by 2^ack_delay_exponent.
    """

    ranges: tuple[tuple[int, int], ...]
    ack_delay: int
    ecn: EcnCounts | None = None

    @property
    def wire_type(self) -> int:
        return FrameType.ACK if self.ecn is None else FrameType.ACK_ECN

    @property
    def largest_acknowledged(self) -> int:
        return self.ranges[0][1]

    def encode(self, out: bytearray) -> None:
        ranges = self.ranges
        if not ranges:
            raise ValueError("an ACK frame needs at least one range")
        out.append(FrameType.ACK if self.ecn is None else FrameType.ACK_ECN)
        smallest, largest = ranges[0]
        push_varint(out, largest)  # Largest Acknowledged
        push_varint(out, self.ack_delay)
        push_varint(out, len(ranges) - 1)  # ACK Range Count
        push_varint(out, largest - smallest)  # First ACK Range; negative -> ValueError
        for next_smallest, next_largest in ranges[1:]:
            # RFC 9000 §19.3.1: largest = previous_smallest - gap - 2
            push_varint(out, smallest - next_largest - 2)
            push_varint(out, next_largest - next_smallest)
            smallest = next_smallest
        if self.ecn is not None:
            push_varint(out, self.ecn.ect0)
            push_varint(out, self.ecn.ect1)
            push_varint(out, self.ecn.ce)


@dataclass(frozen=True, slots=True)
class ResetStreamFrame(_FrameCodec):
    """RESET_STREAM (RFC 9000 §19.4); ``final_size`` in bytes."""

    stream_id: int
    error_code: int
    final_size: int

    @property
    def wire_type(self) -> int:
        return FrameType.RESET_STREAM

    def encode(self, out: bytearray) -> None:
        out.append(FrameType.RESET_STREAM)
        push_varint(out, self.stream_id)
        push_varint(out, self.error_code)
        push_varint(out, self.final_size)


@dataclass(frozen=True, slots=True)
class StopSendingFrame(_FrameCodec):
    """STOP_SENDING (RFC 9000 §19.5)."""

    stream_id: int
    error_code: int

    @property
    def wire_type(self) -> int:
        return FrameType.STOP_SENDING

    def encode(self, out: bytearray) -> None:
        out.append(FrameType.STOP_SENDING)
        push_varint(out, self.stream_id)
        push_varint(out, self.error_code)


@dataclass(frozen=True, slots=True)
class CryptoFrame(_FrameCodec):
    """CRYPTO (RFC 9000 §19.6); ``offset`` in bytes of this level's crypto stream."""

    offset: int
    data: bytes

    @property
    def wire_type(self) -> int:
        return FrameType.CRYPTO

    def encode(self, out: bytearray) -> None:
        _check_end_offset(self.offset, len(self.data))
        out.append(FrameType.CRYPTO)
        push_varint(out, self.offset)
        push_varint(out, len(self.data))
        out += self.data


@dataclass(frozen=True, slots=True)
class NewTokenFrame(_FrameCodec):
    """NEW_TOKEN (RFC 9000 §19.7); the token is never empty."""

    token: bytes

    @property
    def wire_type(self) -> int:
        return FrameType.NEW_TOKEN

    def encode(self, out: bytearray) -> None:
        if not self.token:
            raise ValueError("NEW_TOKEN token must not be empty")  # RFC 9000 §19.7
        out.append(FrameType.NEW_TOKEN)
        push_varint(out, len(self.token))
        out += self.token


@dataclass(frozen=True, slots=True)
class StreamFrame(_FrameCodec):
    """STREAM (RFC 9000 §19.8); ``offset`` in bytes.

    The OFF bit is set only when ``offset`` is non-zero.  ``explicit_length=False`` omits the
    Length field (LEN bit clear), so the data runs to the end of the packet: only for the last
    frame of a packet.  The parser sets it from the LEN bit it received.
    """

    stream_id: int
    offset: int = 0
    data: bytes = b""
    fin: bool = False
    explicit_length: bool = True

    @property
    def wire_type(self) -> int:
        frame_type = int(FrameType.STREAM)
        if self.offset:
            frame_type |= STREAM_OFF_BIT
        if self.explicit_length:
            frame_type |= STREAM_LEN_BIT
        if self.fin:
            frame_type |= STREAM_FIN_BIT
        return frame_type

    def encode(self, out: bytearray) -> None:
        data = self.data
        _check_end_offset(self.offset, len(data))
        out.append(self.wire_type)
        push_varint(out, self.stream_id)
        if self.offset:
            push_varint(out, self.offset)
        if self.explicit_length:
            push_varint(out, len(data))
        out += data


@dataclass(frozen=True, slots=True)
class MaxDataFrame(_FrameCodec):
    """MAX_DATA (RFC 9000 §19.9); ``maximum_data`` in bytes."""

    maximum_data: int

    @property
    def wire_type(self) -> int:
        return FrameType.MAX_DATA

    def encode(self, out: bytearray) -> None:
        out.append(FrameType.MAX_DATA)
        push_varint(out, self.maximum_data)


@dataclass(frozen=True, slots=True)
class MaxStreamDataFrame(_FrameCodec):
    """MAX_STREAM_DATA (RFC 9000 §19.10); ``maximum_stream_data`` in bytes."""

    stream_id: int
    maximum_stream_data: int

    @property
    def wire_type(self) -> int:
        return FrameType.MAX_STREAM_DATA

    def encode(self, out: bytearray) -> None:
        out.append(FrameType.MAX_STREAM_DATA)
        push_varint(out, self.stream_id)
        push_varint(out, self.maximum_stream_data)


def _check_stream_count(maximum_streams: int) -> None:
    if maximum_streams > MAX_STREAMS_LIMIT:  # RFC 9000 §19.11, §19.14
        raise ValueError(f"stream count {maximum_streams} exceeds 2^60")


@dataclass(frozen=True, slots=True)
class MaxStreamsFrame(_FrameCodec):
    """MAX_STREAMS (RFC 9000 §19.11): type 0x12 (bidirectional) or 0x13 (unidirectional)."""

    bidirectional: bool
    maximum_streams: int

    @property
    def wire_type(self) -> int:
        return FrameType.MAX_STREAMS_BIDI if self.bidirectional else FrameType.MAX_STREAMS_UNI

    def encode(self, out: bytearray) -> None:
        _check_stream_count(self.maximum_streams)
        out.append(self.wire_type)
        push_varint(out, self.maximum_streams)


@dataclass(frozen=True, slots=True)
class DataBlockedFrame(_FrameCodec):
    """DATA_BLOCKED (RFC 9000 §19.12); ``maximum_data`` in bytes."""

    maximum_data: int

    @property
    def wire_type(self) -> int:
        return FrameType.DATA_BLOCKED

    def encode(self, out: bytearray) -> None:
        out.append(FrameType.DATA_BLOCKED)
        push_varint(out, self.maximum_data)


@dataclass(frozen=True, slots=True)
class StreamDataBlockedFrame(_FrameCodec):
    """STREAM_DATA_BLOCKED (RFC 9000 §19.13); ``maximum_stream_data`` in bytes."""

    stream_id: int
    maximum_stream_data: int

    @property
    def wire_type(self) -> int:
        return FrameType.STREAM_DATA_BLOCKED

    def encode(self, out: bytearray) -> None:
        out.append(FrameType.STREAM_DATA_BLOCKED)
        push_varint(out, self.stream_id)
        push_varint(out, self.maximum_stream_data)


@dataclass(frozen=True, slots=True)
class StreamsBlockedFrame(_FrameCodec):
    """STREAMS_BLOCKED (RFC 9000 §19.14): type 0x16 (bidirectional) or 0x17 (unidirectional)."""

    bidirectional: bool
    maximum_streams: int

    @property
    def wire_type(self) -> int:
        if self.bidirectional:
            return FrameType.STREAMS_BLOCKED_BIDI
        return FrameType.STREAMS_BLOCKED_UNI

    def encode(self, out: bytearray) -> None:
        _check_stream_count(self.maximum_streams)
        out.append(self.wire_type)
        push_varint(out, self.maximum_streams)


@dataclass(frozen=True, slots=True)
class NewConnectionIdFrame(_FrameCodec):
    """NEW_CONNECTION_ID (RFC 9000 §19.15)."""

    sequence_number: int
    retire_prior_to: int
    connection_id: bytes
    stateless_reset_token: bytes

    @property
    def wire_type(self) -> int:
        return FrameType.NEW_CONNECTION_ID

    def encode(self, out: bytearray) -> None:
        cid = self.connection_id
        if not MIN_CONNECTION_ID_LENGTH <= len(cid) <= MAX_CONNECTION_ID_LENGTH:
            raise ValueError(f"connection ID length must be 1..20, got {len(cid)}")
        if self.retire_prior_to > self.sequence_number:
            raise ValueError("Retire Prior To must not exceed the Sequence Number")
        _check_exact_length(
            "stateless reset token", self.stateless_reset_token, STATELESS_RESET_TOKEN_LENGTH
        )
        out.append(FrameType.NEW_CONNECTION_ID)
        push_varint(out, self.sequence_number)
        push_varint(out, self.retire_prior_to)
        out.append(len(cid))
        out += cid
        out += self.stateless_reset_token


@dataclass(frozen=True, slots=True)
class RetireConnectionIdFrame(_FrameCodec):
    """RETIRE_CONNECTION_ID (RFC 9000 §19.16)."""

    sequence_number: int

    @property
    def wire_type(self) -> int:
        return FrameType.RETIRE_CONNECTION_ID

    def encode(self, out: bytearray) -> None:
        out.append(FrameType.RETIRE_CONNECTION_ID)
        push_varint(out, self.sequence_number)


@dataclass(frozen=True, slots=True)
class PathChallengeFrame(_FrameCodec):
    """PATH_CHALLENGE (RFC 9000 §19.17): 8 bytes of data."""

    data: bytes

    @property
    def wire_type(self) -> int:
        return FrameType.PATH_CHALLENGE

    def encode(self, out: bytearray) -> None:
        _check_exact_length("PATH_CHALLENGE data", self.data, PATH_DATA_LENGTH)
        out.append(FrameType.PATH_CHALLENGE)
        out += self.data


@dataclass(frozen=True, slots=True)
class PathResponseFrame(_FrameCodec):
    """PATH_RESPONSE (RFC 9000 §19.18): 8 bytes of data."""

    data: bytes

    @property
    def wire_type(self) -> int:
        return FrameType.PATH_RESPONSE

    def encode(self, out: bytearray) -> None:
        _check_exact_length("PATH_RESPONSE data", self.data, PATH_DATA_LENGTH)
        out.append(FrameType.PATH_RESPONSE)
        out += self.data


@dataclass(frozen=True, slots=True)
class ConnectionCloseFrame(_FrameCodec):
    """CONNECTION_CLOSE (RFC 9000 §19.19): type 0x1c (transport) or 0x1d (``application``).

    ``frame_type`` is the type of the frame that caused the error (0 when unknown); the application
    variant has no such field on the wire, so it must be 0 there.
    """

    error_code: int
    frame_type: int = 0
    reason: bytes = b""
    application: bool = False

    @property
    def wire_type(self) -> int:
        if self.application:
            return FrameType.CONNECTION_CLOSE_APPLICATION
        return FrameType.CONNECTION_CLOSE

    def encode(self, out: bytearray) -> None:
        if self.application:
            if self.frame_type:
                raise ValueError("an application CONNECTION_CLOSE carries no frame type")
            out.append(FrameType.CONNECTION_CLOSE_APPLICATION)
            push_varint(out, self.error_code)
        else:
            out.append(FrameType.CONNECTION_CLOSE)
            push_varint(out, self.error_code)
            push_varint(out, self.frame_type)
        push_varint(out, len(self.reason))
        out += self.reason


@dataclass(frozen=True, slots=True)
class HandshakeDoneFrame(_FrameCodec):
    """HANDSHAKE_DONE (RFC 9000 §19.20)."""

    @property
    def wire_type(self) -> int:
        return FrameType.HANDSHAKE_DONE

    def encode(self, out: bytearray) -> None:
        out.append(FrameType.HANDSHAKE_DONE)


@dataclass(frozen=True, slots=True)
class DatagramFrame(_FrameCodec):
    """DATAGRAM (RFC 9221 §4): type 0x31 with a Length field, 0x30 without.

    ``explicit_length=False`` omits the Length field so the data runs to the end of the packet.
    """

    data: bytes
    explicit_length: bool = True

    @property
    def wire_type(self) -> int:
        return FrameType.DATAGRAM_LEN if self.explicit_length else FrameType.DATAGRAM

    def encode(self, out: bytearray) -> None:
        if self.explicit_length:
            out.append(FrameType.DATAGRAM_LEN)
            push_varint(out, len(self.data))
        else:
            out.append(FrameType.DATAGRAM)
        out += self.data


@dataclass(frozen=True, slots=True)
class AckFrequencyFrame(_FrameCodec):
    """ACK_FREQUENCY (draft-ietf-quic-ack-frequency §4); the type 0xaf takes two bytes."""

    sequence_number: int
    ack_eliciting_threshold: int  # packets
    requested_max_ack_delay_us: int
    reordering_threshold: int  # packets

    @property
    def wire_type(self) -> int:
        return FrameType.ACK_FREQUENCY

    def encode(self, out: bytearray) -> None:
        if self.requested_max_ack_delay_us >= ACK_FREQUENCY_MAX_ACK_DELAY_LIMIT_US:
            raise ValueError("Requested Max Ack Delay must be below 2^14 ms")
        push_varint(out, FrameType.ACK_FREQUENCY)
        push_varint(out, self.sequence_number)
        push_varint(out, self.ack_eliciting_threshold)
        push_varint(out, self.requested_max_ack_delay_us)
        push_varint(out, self.reordering_threshold)


@dataclass(frozen=True, slots=True)
class ImmediateAckFrame(_FrameCodec):
    """IMMEDIATE_ACK (draft-ietf-quic-ack-frequency §5)."""

    @property
    def wire_type(self) -> int:
        return FrameType.IMMEDIATE_ACK

    def encode(self, out: bytearray) -> None:
        out.append(FrameType.IMMEDIATE_ACK)


Frame: TypeAlias = (
    PaddingFrame
    | PingFrame
    | AckFrame
    | ResetStreamFrame
    | StopSendingFrame
    | CryptoFrame
    | NewTokenFrame
    | StreamFrame
    | MaxDataFrame
    | MaxStreamDataFrame
    | MaxStreamsFrame
    | DataBlockedFrame
    | StreamDataBlockedFrame
    | StreamsBlockedFrame
    | NewConnectionIdFrame
    | RetireConnectionIdFrame
    | PathChallengeFrame
    | PathResponseFrame
    | ConnectionCloseFrame
    | HandshakeDoneFrame
    | DatagramFrame
    | AckFrequencyFrame
    | ImmediateAckFrame
)


def encode_frames(frames: Iterable[Frame]) -> bytes:
    """The concatenated encoding of ``frames``: a packet payload."""
    out = bytearray()
    for frame in frames:
        frame.encode(out)
    return bytes(out)
