"""The HTTP/3 frame codecs (RFC 9114 §7) and message checks (§4.1.2), as pure functions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyquic.h3.frames import (
    DataChunk,
    ErrorCode,
    Frame,
    FrameReader,
    FrameType,
    H3Error,
    decode_goaway,
    decode_settings,
    decode_varint,
    encode_frame,
    encode_settings,
    encode_varint,
    is_reserved,
)
from pyquic.h3.messages import parse_request_head, parse_status


@given(st.integers(min_value=0, max_value=(1 << 62) - 1))
def test_varint_round_trip(value: int) -> None:
    encoded = encode_varint(value)
    assert decode_varint(encoded) == (value, len(encoded))
    assert decode_varint(encoded[:-1]) is None


def test_settings_round_trip_and_errors() -> None:
    settings = {0x1: 4096, 0x6: 65536, 0x7: 16, 0x21: 7}
    assert decode_settings(encode_settings(settings)) == settings
    with pytest.raises(H3Error) as repeated:
        decode_settings(encode_settings({0x6: 1}) + encode_settings({0x6: 2}))
    assert repeated.value.code == ErrorCode.H3_SETTINGS_ERROR
    with pytest.raises(H3Error) as http2:
        decode_settings(encode_settings({0x2: 1}))  # SETTINGS_ENABLE_PUSH of HTTP/2
    assert http2.value.code == ErrorCode.H3_SETTINGS_ERROR
    with pytest.raises(H3Error) as odd:
        decode_settings(encode_varint(6))
    assert odd.value.code == ErrorCode.H3_FRAME_ERROR


def test_goaway() -> None:
    assert decode_goaway(encode_varint(8)) == 8
    with pytest.raises(H3Error):
        decode_goaway(encode_varint(8) + encode_varint(4))


def test_reserved_values() -> None:
    assert [value for value in range(0x100) if is_reserved(value)] == [
        0x21,
        0x40,
        0x5F,
        0x7E,
        0x9D,
        0xBC,
        0xDB,
        0xFA,
    ]


def test_reader_splits_frames_and_streams_data_in_pieces() -> None:
    wire = (
        encode_frame(FrameType.HEADERS, b"hdr")
        + encode_frame(0x21, b"grease")
        + encode_frame(FrameType.DATA, b"0123456789")
        + encode_frame(FrameType.DATA, b"")
    )
    reader = FrameReader(max_frame_size=100)
    out: list[Frame | DataChunk] = []
    for index in range(len(wire)):  # one byte at a time
        out += reader.feed(wire[index : index + 1])
    assert reader.at_boundary
    frames = [item for item in out if isinstance(item, Frame)]
    assert frames == [Frame(FrameType.HEADERS, b"hdr"), Frame(0x21, b"grease")]
    data = b"".join(item.data for item in out if isinstance(item, DataChunk))
    assert data == b"0123456789"
    assert sum(1 for item in out if isinstance(item, DataChunk) and item.end) == 2


def test_reader_refuses_oversized_frames_and_sees_truncation() -> None:
    reader = FrameReader(max_frame_size=10)
    with pytest.raises(H3Error) as error:
        reader.feed(encode_varint(FrameType.HEADERS) + encode_varint(11))
    assert error.value.code == ErrorCode.H3_EXCESSIVE_LOAD
    partial = FrameReader(max_frame_size=10)
    partial.feed(encode_frame(FrameType.HEADERS, b"abc")[:-1])
    assert not partial.at_boundary


@given(st.binary(max_size=300), st.integers(min_value=1, max_value=50))
def test_arbitrary_bytes_raise_only_h3_errors(data: bytes, piece: int) -> None:
    reader = FrameReader(max_frame_size=64)
    try:
        for start in range(0, len(data), piece):
            for item in reader.feed(data[start : start + piece]):
                if isinstance(item, Frame) and item.type == FrameType.SETTINGS:
                    decode_settings(item.payload)
                elif isinstance(item, Frame) and item.type == FrameType.GOAWAY:
                    decode_goaway(item.payload)
    except H3Error:
        pass


@given(st.lists(st.tuples(st.binary(max_size=12), st.binary(max_size=12)), max_size=8))
def test_arbitrary_fields_raise_only_h3_message_errors(fields: list[tuple[bytes, bytes]]) -> None:
    for check in (parse_request_head, parse_status):
        try:
            check(fields)
        except H3Error as exc:
            assert exc.code == ErrorCode.H3_MESSAGE_ERROR and not exc.connection


def test_request_and_response_heads() -> None:
    head = parse_request_head(
        [
            (b":method", b"GET"),
            (b":scheme", b"https"),
            (b":authority", b"a"),
            (b":path", b"/x"),
            (b"accept", b"*/*"),
        ]
    )
    assert (head.method, head.path, head.headers) == ("GET", "/x", [(b"accept", b"*/*")])
    for bad in (
        [(b":method", b"GET"), (b":path", b"/")],  # no :scheme
        [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b":path", b"/")],
        [(b"accept", b"x"), (b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/")],
        [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b"Accept", b"x")],
        [(b":method", b"GET"), (b":scheme", b"https"), (b":path", b"/"), (b"connection", b"x")],
    ):
        with pytest.raises(H3Error):
            parse_request_head(bad)
    assert parse_status([(b":status", b"404"), (b"server", b"x")]) == (404, [(b"server", b"x")])
    with pytest.raises(H3Error):
        parse_status([(b":status", b"4040")])
