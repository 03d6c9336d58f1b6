"""Hand-written wire vectors for every frame (RFC 9000 §19, RFC 9221 §4, ack-frequency draft),
and every parse error with its exact code and frame type."""

from __future__ import annotations

import pytest

from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.core.frame_parser import MAX_ACK_RANGES, parse_frames
from pyquic.core.frames import (
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
    encode_frames,
)
from pyquic.core.varint import VARINT_MAX, encode_varint
from pyquic.core.version import PacketType

FEE = TransportErrorCode.FRAME_ENCODING_ERROR
PV = TransportErrorCode.PROTOCOL_VIOLATION

MAX8 = "ffffffffffffffff"  # 2^62-1 as an 8-byte varint
TWO_POW_60 = "d000000000000000"  # 2^60 as an 8-byte varint
TOKEN = bytes(range(16))

# (frame, wire bytes as hex; spaces separate fields)
VECTORS: list[tuple[Frame, str]] = [
    (PaddingFrame(1), "00"),
    (PaddingFrame(3), "00 00 00"),
    (PingFrame(), "01"),
    (AckFrame(((0, 5),), 0), "02 05 00 00 05"),
    # largest 10, delay 100, 1 extra range, first range 2 (8..10), gap 1 (6, 7 missing), range 3
    (AckFrame(((8, 10), (2, 5)), 100), "02 0a 4064 01 02 01 03"),
    (AckFrame(((0, 0),), 0, EcnCounts(1, 2, 3)), "03 00 00 00 00 01 02 03"),
    (ResetStreamFrame(4, 0x100, 1000), "04 04 4100 43e8"),
    (StopSendingFrame(1, 7), "05 01 07"),
    (CryptoFrame(0, b"abc"), "06 00 03 616263"),
    (CryptoFrame(0x1234, b"x"), "06 5234 01 78"),
    (NewTokenFrame(b"\x01\x02"), "07 02 0102"),
    (StreamFrame(0, 0, b"hi", fin=False), "0a 00 02 6869"),
    (StreamFrame(4, 0, b"hi", fin=True), "0b 04 02 6869"),
    (StreamFrame(4, 5, b"", fin=True), "0f 04 05 00"),
    (StreamFrame(1, 5, b"hi"), "0e 01 05 02 6869"),
    (StreamFrame(8, 0, b"abc", explicit_length=False), "08 08 616263"),
    (StreamFrame(8, 0, b"", fin=True, explicit_length=False), "09 08"),
    (StreamFrame(1, 5, b"hi", explicit_length=False), "0c 01 05 6869"),
    (StreamFrame(1, 64, b"z", fin=True, explicit_length=False), "0d 01 4040 7a"),
    (MaxDataFrame(16384), "10 80004000"),
    (MaxStreamDataFrame(3, 64), "11 03 4040"),
    (MaxStreamsFrame(True, 100), "12 4064"),
    (MaxStreamsFrame(False, 1 << 60), "13 " + TWO_POW_60),
    (DataBlockedFrame(63), "14 3f"),
    (StreamDataBlockedFrame(2, 0), "15 02 00"),
    (StreamsBlockedFrame(True, 0), "16 00"),
    (StreamsBlockedFrame(False, 5), "17 05"),
    (
        NewConnectionIdFrame(1, 0, bytes.fromhex("aabbccdd"), TOKEN),
        "18 01 00 04 aabbccdd " + TOKEN.hex(),
    ),
    (NewConnectionIdFrame(7, 7, bytes(20), TOKEN), "18 07 07 14 " + "00" * 20 + TOKEN.hex()),
    (RetireConnectionIdFrame(2), "19 02"),
    (PathChallengeFrame(b"12345678"), "1a 3132333435363738"),
    (PathResponseFrame(b"abcdefgh"), "1b 6162636465666768"),
    (ConnectionCloseFrame(0x0A, 0x06, b"bad"), "1c 0a 06 03 626164"),
    (ConnectionCloseFrame(0x101, 0xAF, b""), "1c 4101 40af 00"),
    (ConnectionCloseFrame(0x101, 0, b"app", application=True), "1d 4101 03 617070"),
    (HandshakeDoneFrame(), "1e"),
    (DatagramFrame(b"ab"), "31 02 6162"),
    (DatagramFrame(b""), "31 00"),
    (DatagramFrame(b"ab", explicit_length=False), "30 6162"),
    (DatagramFrame(b"", explicit_length=False), "30"),
    (AckFrequencyFrame(1, 2, 25_000, 1), "40af 01 02 800061a8 01"),
    (AckFrequencyFrame(0, 0, 16_383_999, 0), "40af 00 00 80f9ffff 00"),
    (ImmediateAckFrame(), "1f"),
]


def wire(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text.replace(" ", ""))


def assert_error(payload: bytes, code: int, frame_type: int | None, **kwargs: PacketType) -> None:
    with pytest.raises(QuicError) as info:
        parse_frames(payload, **kwargs)
    assert info.value.error_code == code, info.value
    assert info.value.frame_type == frame_type, info.value


@pytest.mark.parametrize(("frame", "hex_text"), VECTORS, ids=[repr(f) for f, _ in VECTORS])
def test_encode_matches_vector(frame: Frame, hex_text: str) -> None:
    data = wire(hex_text)
    assert frame.to_bytes() == data
    out = bytearray(b"prefix")
    frame.encode(out)
    assert bytes(out) == b"prefix" + data


@pytest.mark.parametrize(("frame", "hex_text"), VECTORS, ids=[repr(f) for f, _ in VECTORS])
def test_parse_vector(frame: Frame, hex_text: str) -> None:
    data = wire(hex_text)
    assert parse_frames(data) == [frame]
    assert parse_frames(memoryview(data)) == [frame]
    assert parse_frames(bytearray(data)) == [frame]


@pytest.mark.parametrize(("frame", "hex_text"), VECTORS, ids=[repr(f) for f, _ in VECTORS])
def test_wire_type_is_the_leading_varint(frame: Frame, hex_text: str) -> None:
    type_bytes = encode_varint(frame.wire_type)
    assert wire(hex_text).startswith(type_bytes)
    assert frame.wire_type in set(FrameType)


def test_every_frame_type_has_a_vector() -> None:
    assert {frame.wire_type for frame, _ in VECTORS} == set(FrameType)


def test_parse_several_frames_in_one_payload() -> None:
    frames: list[Frame] = [
        PingFrame(),
        AckFrame(((3, 9),), 7),
        PaddingFrame(2),
        StreamFrame(0, 0, b"x"),
        CryptoFrame(5, b"yz"),
        PaddingFrame(4),
        DatagramFrame(b"tail", explicit_length=False),
    ]
    payload = encode_frames(frames)
    assert payload == b"".join(f.to_bytes() for f in frames)
    assert parse_frames(payload) == frames


def test_padding_run_becomes_one_frame() -> None:
    assert parse_frames(bytes(1200)) == [PaddingFrame(1200)]
    assert parse_frames(b"\x01" + bytes(5) + b"\x01") == [PingFrame(), PaddingFrame(5), PingFrame()]


def test_stream_offset_zero_with_off_bit_parses() -> None:
    # The encoder omits a zero offset, but a peer may send it explicitly (RFC 9000 §19.8).
    assert parse_frames(wire("0e 00 00 01 41")) == [StreamFrame(0, 0, b"A")]


# Frames whose every strict prefix is a truncation (fixed or explicit length throughout).
TRUNCATABLE = [
    (frame, hex_text)
    for frame, hex_text in VECTORS
    if len(wire(hex_text)) > len(encode_varint(frame.wire_type))
    and not isinstance(frame, PaddingFrame)
    and not (isinstance(frame, (StreamFrame, DatagramFrame)) and not frame.explicit_length)
]


@pytest.mark.parametrize(("frame", "hex_text"), TRUNCATABLE, ids=[repr(f) for f, _ in TRUNCATABLE])
def test_every_truncation_is_frame_encoding_error(frame: Frame, hex_text: str) -> None:
    data = wire(hex_text)
    for cut in range(len(encode_varint(frame.wire_type)), len(data)):
        assert_error(data[:cut], FEE, frame.wire_type)


def test_truncated_frame_type_is_frame_encoding_error() -> None:
    assert_error(wire("40"), FEE, None)  # the two-byte type itself is cut
    assert_error(wire("01 40"), FEE, None)


def test_empty_payload_is_protocol_violation() -> None:
    # RFC 9000 §12.4: a packet containing no frames
    assert_error(b"", PV, None)


@pytest.mark.parametrize("frame_type", [0x20, 0x2F, 0x32, 0x3F, 0xAE, 0xB0, 0x3FFF, 0x10000])
def test_unknown_frame_type_is_frame_encoding_error(frame_type: int) -> None:
    assert_error(encode_varint(frame_type) + b"\x00" * 4, FEE, frame_type)


@pytest.mark.parametrize(
    ("hex_text", "frame_type"),
    [("4001", 0x01), ("4000", 0x00), ("8000001e", 0x1E), ("c000000000000008 00", 0x08)],
)
def test_frame_type_not_shortest_is_protocol_violation(hex_text: str, frame_type: int) -> None:
    assert_error(wire(hex_text), PV, frame_type)


def test_ack_frequency_type_in_four_bytes_is_protocol_violation() -> None:
    assert_error(wire("800000af 00 00 00 00"), PV, 0xAF)


def test_unknown_type_in_longer_encoding_is_protocol_violation() -> None:
    assert_error(wire("4020"), PV, 0x20)


@pytest.mark.parametrize("frame_type", [0x0E, 0x0F])
def test_stream_end_beyond_limit(frame_type: int) -> None:
    # RFC 9000 §19.8: offset + length > 2^62-1
    assert_error(wire(f"{frame_type:02x} 00 {MAX8} 01 78"), FEE, frame_type)


def test_stream_end_beyond_limit_implicit_length() -> None:
    assert_error(wire(f"0c 00 {MAX8} 78"), FEE, 0x0C)


def test_stream_end_at_limit_is_accepted() -> None:
    assert parse_frames(wire(f"0e 00 {MAX8} 00")) == [StreamFrame(0, VARINT_MAX, b"")]
    limit_minus_one = encode_varint(VARINT_MAX - 1, 8).hex()
    assert parse_frames(wire(f"0e 00 {limit_minus_one} 01 78")) == [
        StreamFrame(0, VARINT_MAX - 1, b"x")
    ]


def test_crypto_end_beyond_limit() -> None:
    # RFC 9000 §19.6 allows FRAME_ENCODING_ERROR (chosen) or CRYPTO_BUFFER_EXCEEDED
    assert_error(wire(f"06 {MAX8} 01 78"), FEE, 0x06)
    assert parse_frames(wire(f"06 {MAX8} 00")) == [CryptoFrame(VARINT_MAX, b"")]


def test_ack_first_range_below_zero() -> None:
    # RFC 9000 §19.3.1: largest 5, first range 6 -> smallest -1
    assert_error(wire("02 05 00 00 06"), FEE, 0x02)
    assert_error(wire("03 05 00 00 06 00 00 00"), FEE, 0x03)


def test_ack_gap_below_zero() -> None:
    # smallest 5; gap 3 -> largest 0 (fine); gap 4 -> largest -1
    assert parse_frames(wire("02 05 00 01 00 03 00")) == [AckFrame(((5, 5), (0, 0)), 0)]
    assert_error(wire("02 05 00 01 00 04 00"), FEE, 0x02)


def test_ack_range_length_below_zero() -> None:
    assert_error(wire("02 05 00 01 00 03 01"), FEE, 0x02)


def test_ack_range_count_larger_than_frame() -> None:
    assert_error(wire(f"02 05 00 {MAX8} 00 00 00"), FEE, 0x02)


def _ack_with_ranges(count: int) -> tuple[bytes, tuple[tuple[int, int], ...]]:
    """An ACK frame acknowledging every even packet number below 2 * count."""
    ranges = tuple((2 * i, 2 * i) for i in reversed(range(count)))
    return AckFrame(ranges, 0).to_bytes(), ranges


def test_ack_ranges_beyond_bound_are_consumed_and_dropped() -> None:
    data, ranges = _ack_with_ranges(MAX_ACK_RANGES + 50)
    frames = parse_frames(data + b"\x01")
    assert frames == [AckFrame(ranges[:MAX_ACK_RANGES], 0), PingFrame()]


def test_ack_ranges_at_bound_are_all_kept() -> None:
    data, ranges = _ack_with_ranges(MAX_ACK_RANGES)
    assert parse_frames(data) == [AckFrame(ranges, 0)]


def test_ack_dropped_ranges_are_still_validated() -> None:
    # Each (gap 0, length 0) range lies 2 below the previous one; with largest 2 * count - 1 only
    # the very last range, far beyond the kept ones, reaches -1.
    count = MAX_ACK_RANGES + 5
    head = b"\x02" + encode_varint(2 * count - 1) + b"\x00" + encode_varint(count) + b"\x00"
    assert_error(head + b"\x00\x00" * count, FEE, 0x02)
    valid = b"\x02" + encode_varint(2 * count) + b"\x00" + encode_varint(count) + b"\x00"
    (frame,) = parse_frames(valid + b"\x00\x00" * count)
    assert isinstance(frame, AckFrame)
    assert len(frame.ranges) == MAX_ACK_RANGES
    assert frame.ranges[-1] == (2 * count - 2 * (MAX_ACK_RANGES - 1),) * 2


def test_ack_dropped_ranges_are_still_checked_for_truncation() -> None:
    data, _ = _ack_with_ranges(MAX_ACK_RANGES + 20)
    assert_error(data[:-1], FEE, 0x02)


@pytest.mark.parametrize("length", [0, 21, 255])
def test_new_connection_id_bad_length(length: int) -> None:
    # RFC 9000 §19.15: length outside 1..20
    payload = wire(f"18 01 00 {length:02x}") + bytes(length) + TOKEN
    assert_error(payload, FEE, 0x18)


def test_new_connection_id_retire_prior_to_above_sequence() -> None:
    assert_error(wire("18 01 02 04 aabbccdd") + TOKEN, FEE, 0x18)


@pytest.mark.parametrize("frame_type", [0x12, 0x13, 0x16, 0x17])
def test_stream_count_above_two_pow_60(frame_type: int) -> None:
    # RFC 9000 §19.11, §19.14
    assert_error(wire(f"{frame_type:02x} d000000000000001"), FEE, frame_type)
    assert len(parse_frames(wire(f"{frame_type:02x} {TWO_POW_60}"))) == 1


def test_empty_new_token() -> None:
    assert_error(wire("07 00"), FEE, 0x07)  # RFC 9000 §19.7


def test_ack_frequency_max_ack_delay_too_large() -> None:
    # draft-ietf-quic-ack-frequency §4: 2^14 ms or more -> PROTOCOL_VIOLATION
    assert_error(wire("40af 01 02 80fa0000 01"), PV, 0xAF)  # exactly 16_384_000 us


def test_error_in_second_frame_names_that_frame() -> None:
    assert_error(wire("01 07 00"), FEE, 0x07)
    assert_error(wire("01 0a 00 05 41"), FEE, 0x0A)


@pytest.mark.parametrize(
    ("hex_text", "packet_type", "frame_type"),
    [
        ("02 00 00 00 00", PacketType.ZERO_RTT, 0x02),
        ("06 00 00", PacketType.ZERO_RTT, 0x06),
        ("1d 00 00", PacketType.INITIAL, 0x1D),
        ("1d 00 00", PacketType.HANDSHAKE, 0x1D),
        ("0a 00 00", PacketType.INITIAL, 0x0A),
        ("30", PacketType.HANDSHAKE, 0x30),
        ("1e", PacketType.ZERO_RTT, 0x1E),
        ("40af 00 00 00 00", PacketType.ZERO_RTT, 0xAF),
        ("01 01 1b 0000000000000000", PacketType.ZERO_RTT, 0x1B),
        ("02", PacketType.ZERO_RTT, 0x02),  # refused before its (truncated) body is read
    ],
)
def test_frame_not_allowed_in_packet_type(
    hex_text: str, packet_type: PacketType, frame_type: int
) -> None:
    assert_error(wire(hex_text), PV, frame_type, packet_type=packet_type)


def test_frames_allowed_in_packet_type_parse() -> None:
    payload = wire("1c 0a 00 00 01 06 00 01 61 00")
    frames = parse_frames(payload, packet_type=PacketType.INITIAL)
    assert frames == [ConnectionCloseFrame(0x0A), PingFrame(), CryptoFrame(0, b"a"), PaddingFrame()]


@pytest.mark.parametrize(
    "frame",
    [
        AckFrame((), 0),
        AckFrame(((5, 4),), 0),  # smallest > largest
        AckFrame(((4, 6), (3, 3)), 0),  # adjacent: gap would be -1
        AckFrame(((4, 6), (2, 5)), 0),  # overlapping
        PaddingFrame(0),
        CryptoFrame(VARINT_MAX, b"x"),
        StreamFrame(0, VARINT_MAX, b"x"),
        NewTokenFrame(b""),
        MaxStreamsFrame(True, (1 << 60) + 1),
        StreamsBlockedFrame(False, (1 << 60) + 1),
        NewConnectionIdFrame(0, 0, b"", TOKEN),
        NewConnectionIdFrame(0, 0, bytes(21), TOKEN),
        NewConnectionIdFrame(0, 1, b"a", TOKEN),
        NewConnectionIdFrame(0, 0, b"a", TOKEN[:15]),
        PathChallengeFrame(b"1234567"),
        PathResponseFrame(b"123456789"),
        ConnectionCloseFrame(1, frame_type=6, application=True),
        AckFrequencyFrame(0, 0, 16_384_000, 0),
        MaxDataFrame(VARINT_MAX + 1),
        ResetStreamFrame(-1, 0, 0),
    ],
    ids=repr,
)
def test_encoder_rejects_what_the_parser_would_reject(frame: Frame) -> None:
    with pytest.raises(ValueError):
        frame.to_bytes()


def test_ack_largest_acknowledged() -> None:
    assert AckFrame(((8, 10), (2, 5)), 0).largest_acknowledged == 10


def test_parsed_frames_are_immutable() -> None:
    (frame,) = parse_frames(wire("0a 00 02 6869"))
    with pytest.raises(AttributeError):
        frame.stream_id = 4  # type: ignore[union-attr, misc]
