"""HTTP/3 frame, stream-type, setting and error-code codecs: pure functions and dataclasses.

What: the wire format of RFC 9114 §7 (frames), §6.2 (unidirectional stream types), §7.2.4.1
(settings) and §8.1 (error codes), with QUIC's variable-length integers (RFC 9000 §16).

Design: nothing here does I/O or keeps connection state.  :class:`FrameReader` is the only
stateful piece: it turns the bytes of one stream, as they arrive, into whole frames, except DATA,
whose payload is passed through in pieces so a large body is never buffered whole (§7.2.1).
Every malformation raises :class:`H3Error` carrying the RFC's error code and whether it is a
connection or a stream error; :mod:`pyquic.h3.connection` maps that to QUIC once (§8).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

__all__ = [
    "DataChunk",
    "ErrorCode",
    "Frame",
    "FrameReader",
    "FrameType",
    "H3Error",
    "Setting",
    "StreamType",
    "decode_goaway",
    "decode_settings",
    "decode_varint",
    "encode_frame",
    "encode_settings",
    "encode_varint",
    "is_reserved",
]

MAX_VARINT = (1 << 62) - 1


class ErrorCode(enum.IntEnum):
    """HTTP/3 (RFC 9114 §8.1) and QPACK (RFC 9204 §6) application error codes."""

    H3_NO_ERROR = 0x100
    H3_GENERAL_PROTOCOL_ERROR = 0x101
    H3_INTERNAL_ERROR = 0x102
    H3_STREAM_CREATION_ERROR = 0x103
    H3_CLOSED_CRITICAL_STREAM = 0x104
    H3_FRAME_UNEXPECTED = 0x105
    H3_FRAME_ERROR = 0x106
    H3_EXCESSIVE_LOAD = 0x107
    H3_ID_ERROR = 0x108
    H3_SETTINGS_ERROR = 0x109
    H3_MISSING_SETTINGS = 0x10A
    H3_REQUEST_REJECTED = 0x10B
    H3_REQUEST_CANCELLED = 0x10C
    H3_REQUEST_INCOMPLETE = 0x10D
    H3_MESSAGE_ERROR = 0x10E
    H3_CONNECT_ERROR = 0x10F
    H3_VERSION_FALLBACK = 0x110
    QPACK_DECOMPRESSION_FAILED = 0x200
    QPACK_ENCODER_STREAM_ERROR = 0x201
    QPACK_DECODER_STREAM_ERROR = 0x202


class H3Error(Exception):
    """A protocol violation: ``code`` to send, ``connection`` True for a connection error
    (CONNECTION_CLOSE, §8), False for a stream error (RESET_STREAM / STOP_SENDING)."""

    def __init__(self, code: ErrorCode, message: str, *, connection: bool = True) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.connection = connection


class FrameType(enum.IntEnum):
    """Frame types of RFC 9114 §7.2 (and the HTTP/2 ones it reserves, §7.2.8)."""

    DATA = 0x0
    HEADERS = 0x1
    H2_PRIORITY = 0x2
    CANCEL_PUSH = 0x3
    SETTINGS = 0x4
    PUSH_PROMISE = 0x5
    H2_PING = 0x6
    GOAWAY = 0x7
    H2_WINDOW_UPDATE = 0x8
    H2_CONTINUATION = 0x9
    MAX_PUSH_ID = 0xD


# §7.2.8: HTTP/2 frame types with no HTTP/3 meaning; receiving one is H3_FRAME_UNEXPECTED.
H2_ONLY_FRAMES = frozenset(
    {
        FrameType.H2_PRIORITY,
        FrameType.H2_PING,
        FrameType.H2_WINDOW_UPDATE,
        FrameType.H2_CONTINUATION,
    }
)


class StreamType(enum.IntEnum):
    """Unidirectional stream types (RFC 9114 §6.2, RFC 9204 §4.2)."""

    CONTROL = 0x00
    PUSH = 0x01
    QPACK_ENCODER = 0x02
    QPACK_DECODER = 0x03


class Setting(enum.IntEnum):
    """SETTINGS identifiers (RFC 9114 §7.2.4.1, RFC 9204 §5)."""

    QPACK_MAX_TABLE_CAPACITY = 0x1
    MAX_FIELD_SECTION_SIZE = 0x6
    QPACK_BLOCKED_STREAMS = 0x7


# §7.2.4.1: identifiers of HTTP/2 settings; receiving one is H3_SETTINGS_ERROR.
H2_ONLY_SETTINGS = frozenset({0x2, 0x3, 0x4, 0x5})


def is_reserved(value: int) -> bool:
    """A grease value 0x1f * N + 0x21 (frame types §7.2.8, settings §7.2.4.1, streams §6.2.3)."""
    return value >= 0x21 and (value - 0x21) % 0x1F == 0


# --- variable-length integers (RFC 9000 §16) --------------------------------------------------


def encode_varint(value: int) -> bytes:
    if value < 0 or value > MAX_VARINT:
        raise ValueError(f"{value} does not fit a QUIC variable-length integer")
    if value < 0x40:
        return value.to_bytes(1, "big")
    if value < 0x4000:
        return (value | 0x4000).to_bytes(2, "big")
    if value < 0x4000_0000:
        return (value | 0x8000_0000).to_bytes(4, "big")
    return (value | 0xC000_0000_0000_0000).to_bytes(8, "big")


def decode_varint(data: bytes | bytearray | memoryview, offset: int = 0) -> tuple[int, int] | None:
    """(value, offset after it), or None when ``data`` ends inside it."""
    if offset >= len(data):
        return None
    length = 1 << (data[offset] >> 6)
    if offset + length > len(data):
        return None
    value = data[offset] & 0x3F
    for index in range(offset + 1, offset + length):
        value = (value << 8) | data[index]
    return value, offset + length


def _varints(payload: bytes, what: str) -> Iterator[int]:
    offset = 0
    while offset < len(payload):
        decoded = decode_varint(payload, offset)
        if decoded is None:
            raise H3Error(ErrorCode.H3_FRAME_ERROR, f"{what} ends inside an integer")
        value, offset = decoded
        yield value


# --- frames (§7.1) ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """A whole frame: its type (possibly unknown, §9) and payload."""

    type: int
    payload: bytes


@dataclass(frozen=True)
class DataChunk:
    """A piece of a DATA frame's payload; ``end`` marks the frame's last piece."""

    data: bytes
    end: bool


def encode_frame(frame_type: int, payload: bytes) -> bytes:
    return encode_varint(frame_type) + encode_varint(len(payload)) + payload


def encode_settings(settings: Mapping[int, int]) -> bytes:
    """A SETTINGS frame's payload (§7.2.4)."""
    return b"".join(encode_varint(key) + encode_varint(value) for key, value in settings.items())


def decode_settings(payload: bytes) -> dict[int, int]:
    """SETTINGS payload -> {identifier: value}; duplicates and HTTP/2 ids are errors."""
    values = list(_varints(payload, "SETTINGS"))
    if len(values) % 2:
        raise H3Error(ErrorCode.H3_FRAME_ERROR, "SETTINGS has an identifier without a value")
    settings: dict[int, int] = {}
    for key, value in zip(values[::2], values[1::2], strict=True):
        if key in settings:  # §7.2.4: the same identifier twice is a connection error
            raise H3Error(ErrorCode.H3_SETTINGS_ERROR, f"setting {key:#x} repeated")
        if key in H2_ONLY_SETTINGS:  # §7.2.4.1
            raise H3Error(ErrorCode.H3_SETTINGS_ERROR, f"HTTP/2 setting {key:#x} received")
        settings[key] = value
    return settings


def decode_goaway(payload: bytes) -> int:
    """The stream or push ID of a GOAWAY frame (§7.2.6); exactly one integer."""
    values = list(_varints(payload, "GOAWAY"))
    if len(values) != 1:
        raise H3Error(ErrorCode.H3_FRAME_ERROR, "GOAWAY carries exactly one integer")
    return values[0]


class FrameReader:
    """Incremental frame parsing for one stream (§7.1).

    ``feed(data)`` returns the frames completed so far: :class:`Frame` for whole non-DATA
    frames (each at most ``max_frame_size`` bytes, else H3_EXCESSIVE_LOAD, §10.5) and
    :class:`DataChunk` for DATA payload as it arrives.  ``at_boundary`` says whether the bytes
    so far end exactly between frames (a stream ending elsewhere is H3_FRAME_ERROR, §7.1).
    """

    def __init__(self, max_frame_size: int) -> None:
        self._buffer = bytearray()
        self._max_frame_size = max_frame_size
        self._data_left = 0  # bytes of the current DATA frame still to come
        self._in_data = False

    @property
    def at_boundary(self) -> bool:
        return not self._buffer and not self._in_data

    def feed(self, data: bytes) -> list[Frame | DataChunk]:
        self._buffer += data
        out: list[Frame | DataChunk] = []
        while True:
            if self._in_data:
                if not self._pass_data(out):
                    return out
                continue
            header = self._parse_header()
            if header is None:
                return out
            frame_type, length, start = header
            if frame_type == FrameType.DATA:
                del self._buffer[:start]
                self._in_data, self._data_left = True, length
                continue
            if length > self._max_frame_size:
                raise H3Error(
                    ErrorCode.H3_EXCESSIVE_LOAD, f"a {length}-byte frame of type {frame_type:#x}"
                )
            if len(self._buffer) < start + length:
                return out
            out.append(Frame(frame_type, bytes(self._buffer[start : start + length])))
            del self._buffer[: start + length]

    def _parse_header(self) -> tuple[int, int, int] | None:
        decoded = decode_varint(self._buffer)
        if decoded is None:
            return None
        frame_type, offset = decoded
        decoded = decode_varint(self._buffer, offset)
        if decoded is None:
            return None
        length, offset = decoded
        return frame_type, length, offset

    def _pass_data(self, out: list[Frame | DataChunk]) -> bool:
        """Move DATA payload out; False when more bytes are needed."""
        if self._data_left == 0:
            self._in_data = False
            out.append(DataChunk(b"", True))
            return True
        if not self._buffer:
            return False
        take = min(self._data_left, len(self._buffer))
        chunk = bytes(self._buffer[:take])
        del self._buffer[:take]
        self._data_left -= take
        if self._data_left == 0:
            self._in_data = False
        out.append(DataChunk(chunk, not self._in_data))
        return True
