"""Property tests of the frame codec: encode-then-parse is the identity for every frame type and
for whole payloads, and no input makes the parser raise anything but QuicError."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.core.frame_parser import MAX_ACK_RANGES, parse_frames
from pyquic.core.frame_rules import ACK_ELICITING_FRAME_TYPES, NON_ACK_ELICITING_FRAME_CLASSES
from pyquic.core.frames import (
    ACK_FREQUENCY_MAX_ACK_DELAY_LIMIT_US,
    MAX_STREAMS_LIMIT,
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
from pyquic.core.varint import VARINT_MAX
from pyquic.core.version import PacketType

# Mostly small values, sometimes at the edges of each varint length.
varints = st.one_of(
    st.integers(0, 100),
    st.sampled_from([0x3F, 0x40, 0x3FFF, 0x4000, 0x3FFFFFFF, 0x40000000, VARINT_MAX]),
    st.integers(0, VARINT_MAX),
)
small_bytes = st.binary(max_size=40)


@st.composite
def ack_frames(draw: st.DrawFn) -> AckFrame:
    # Build ranges upward from a base, then list them largest first.
    pairs = draw(st.lists(st.tuples(varints, varints), min_size=1, max_size=12))
    lengths = [min(length, 1000) for length, _ in pairs]
    gaps = [min(gap, 1000) for _, gap in pairs[1:]]
    span = sum(lengths) + sum(gap + 2 for gap in gaps)
    smallest = draw(st.integers(0, VARINT_MAX - span))
    ranges = []
    for index, length in enumerate(lengths):
        ranges.append((smallest, smallest + length))
        if index < len(gaps):
            smallest = smallest + length + gaps[index] + 2
    ecn = draw(st.none() | st.builds(EcnCounts, varints, varints, varints))
    return AckFrame(tuple(reversed(ranges)), draw(varints), ecn)


@st.composite
def crypto_frames(draw: st.DrawFn) -> CryptoFrame:
    data = draw(small_bytes)
    return CryptoFrame(draw(st.integers(0, VARINT_MAX - len(data))), data)


@st.composite
def stream_frames(draw: st.DrawFn, explicit_length: bool = True) -> StreamFrame:
    data = draw(small_bytes)
    offset = draw(st.integers(0, 3) | st.integers(0, VARINT_MAX - len(data)))
    return StreamFrame(draw(varints), offset, data, draw(st.booleans()), explicit_length)


@st.composite
def new_connection_id_frames(draw: st.DrawFn) -> NewConnectionIdFrame:
    sequence_number = draw(varints)
    return NewConnectionIdFrame(
        sequence_number,
        draw(st.integers(0, sequence_number)),
        draw(st.binary(min_size=1, max_size=20)),
        draw(st.binary(min_size=16, max_size=16)),
    )


@st.composite
def connection_close_frames(draw: st.DrawFn) -> ConnectionCloseFrame:
    application = draw(st.booleans())
    frame_type = 0 if application else draw(varints)
    return ConnectionCloseFrame(draw(varints), frame_type, draw(small_bytes), application)


stream_counts = st.integers(0, MAX_STREAMS_LIMIT)
eight_bytes = st.binary(min_size=8, max_size=8)

# One strategy per frame type value; the STREAM and DATAGRAM strategies cover every flag bit.
STRATEGIES: dict[str, st.SearchStrategy[Frame]] = {
    "padding": st.builds(PaddingFrame, st.integers(1, 300)),
    "ping": st.just(PingFrame()),
    "ack": ack_frames(),
    "reset_stream": st.builds(ResetStreamFrame, varints, varints, varints),
    "stop_sending": st.builds(StopSendingFrame, varints, varints),
    "crypto": crypto_frames(),
    "new_token": st.builds(NewTokenFrame, st.binary(min_size=1, max_size=40)),
    "stream": stream_frames(),
    "max_data": st.builds(MaxDataFrame, varints),
    "max_stream_data": st.builds(MaxStreamDataFrame, varints, varints),
    "max_streams": st.builds(MaxStreamsFrame, st.booleans(), stream_counts),
    "data_blocked": st.builds(DataBlockedFrame, varints),
    "stream_data_blocked": st.builds(StreamDataBlockedFrame, varints, varints),
    "streams_blocked": st.builds(StreamsBlockedFrame, st.booleans(), stream_counts),
    "new_connection_id": new_connection_id_frames(),
    "retire_connection_id": st.builds(RetireConnectionIdFrame, varints),
    "path_challenge": st.builds(PathChallengeFrame, eight_bytes),
    "path_response": st.builds(PathResponseFrame, eight_bytes),
    "connection_close": connection_close_frames(),
    "handshake_done": st.just(HandshakeDoneFrame()),
    "datagram": st.builds(DatagramFrame, small_bytes),
    "ack_frequency": st.builds(
        AckFrequencyFrame,
        varints,
        varints,
        st.integers(0, ACK_FREQUENCY_MAX_ACK_DELAY_LIMIT_US - 1),
        varints,
    ),
    "immediate_ack": st.just(ImmediateAckFrame()),
}
# Frames that may only end a payload: their data runs to the end of the packet.
LAST_ONLY: st.SearchStrategy[Frame] = stream_frames(explicit_length=False) | st.builds(
    DatagramFrame, small_bytes, st.just(False)
)
any_frame = st.one_of(*STRATEGIES.values())


T = FrameType
ROUNDTRIPS: dict[str, tuple[st.SearchStrategy[Frame], set[int]]] = {
    "padding": (STRATEGIES["padding"], {T.PADDING}),
    "ping": (STRATEGIES["ping"], {T.PING}),
    "ack": (STRATEGIES["ack"], {T.ACK, T.ACK_ECN}),
    "reset_stream": (STRATEGIES["reset_stream"], {T.RESET_STREAM}),
    "stop_sending": (STRATEGIES["stop_sending"], {T.STOP_SENDING}),
    "crypto": (STRATEGIES["crypto"], {T.CRYPTO}),
    "new_token": (STRATEGIES["new_token"], {T.NEW_TOKEN}),
    "stream": (
        STRATEGIES["stream"],
        {T.STREAM_LEN, T.STREAM_LEN_FIN, T.STREAM_OFF_LEN, T.STREAM_OFF_LEN_FIN},
    ),
    "stream_without_length": (
        stream_frames(explicit_length=False),
        {T.STREAM, T.STREAM_FIN, T.STREAM_OFF, T.STREAM_OFF_FIN},
    ),
    "max_data": (STRATEGIES["max_data"], {T.MAX_DATA}),
    "max_stream_data": (STRATEGIES["max_stream_data"], {T.MAX_STREAM_DATA}),
    "max_streams": (STRATEGIES["max_streams"], {T.MAX_STREAMS_BIDI, T.MAX_STREAMS_UNI}),
    "data_blocked": (STRATEGIES["data_blocked"], {T.DATA_BLOCKED}),
    "stream_data_blocked": (STRATEGIES["stream_data_blocked"], {T.STREAM_DATA_BLOCKED}),
    "streams_blocked": (
        STRATEGIES["streams_blocked"],
        {T.STREAMS_BLOCKED_BIDI, T.STREAMS_BLOCKED_UNI},
    ),
    "new_connection_id": (STRATEGIES["new_connection_id"], {T.NEW_CONNECTION_ID}),
    "retire_connection_id": (STRATEGIES["retire_connection_id"], {T.RETIRE_CONNECTION_ID}),
    "path_challenge": (STRATEGIES["path_challenge"], {T.PATH_CHALLENGE}),
    "path_response": (STRATEGIES["path_response"], {T.PATH_RESPONSE}),
    "connection_close": (
        STRATEGIES["connection_close"],
        {T.CONNECTION_CLOSE, T.CONNECTION_CLOSE_APPLICATION},
    ),
    "handshake_done": (STRATEGIES["handshake_done"], {T.HANDSHAKE_DONE}),
    "datagram": (STRATEGIES["datagram"], {T.DATAGRAM_LEN}),
    "datagram_without_length": (
        st.builds(DatagramFrame, small_bytes, st.just(False)),
        {T.DATAGRAM},
    ),
    "ack_frequency": (STRATEGIES["ack_frequency"], {T.ACK_FREQUENCY}),
    "immediate_ack": (STRATEGIES["immediate_ack"], {T.IMMEDIATE_ACK}),
}


def test_roundtrips_cover_every_frame_type() -> None:
    covered = [t for _, wire_types in ROUNDTRIPS.values() for t in wire_types]
    assert sorted(covered) == sorted(FrameType)
    assert set(STRATEGIES) <= set(ROUNDTRIPS)


@pytest.mark.parametrize("name", sorted(ROUNDTRIPS))
def test_roundtrip(name: str) -> None:
    """encode-then-parse is the identity, and the examples reach every expected wire type."""
    strategy, wire_types = ROUNDTRIPS[name]
    seen: set[int] = set()

    @settings(max_examples=150, deadline=None)
    @given(strategy)
    def check(frame: Frame) -> None:
        seen.add(frame.wire_type)
        assert parse_frames(frame.to_bytes()) == [frame]

    check()
    assert seen == wire_types


def _merge_padding(frames: list[Frame]) -> list[Frame]:
    """Adjacent PADDING frames are indistinguishable on the wire from one longer run."""
    merged: list[Frame] = []
    for frame in frames:
        previous = merged[-1] if merged else None
        if isinstance(frame, PaddingFrame) and isinstance(previous, PaddingFrame):
            merged[-1] = PaddingFrame(previous.length + frame.length)
        else:
            merged.append(frame)
    return merged


@settings(max_examples=500, deadline=None)
@given(st.lists(any_frame, min_size=1, max_size=10), st.none() | LAST_ONLY)
def test_roundtrip_payload(frames: list[Frame], last: Frame | None) -> None:
    if last is not None:
        frames = [*frames, last]
    assert parse_frames(encode_frames(frames)) == _merge_padding(frames)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 3 * MAX_ACK_RANGES), st.integers(0, 5))
def test_ack_keeps_the_newest_ranges(count: int, gap: int) -> None:
    step = gap + 2  # each range is one packet, `gap + 1` packets below the previous one
    ranges = tuple((step * i, step * i) for i in reversed(range(count)))
    (parsed,) = parse_frames(AckFrame(ranges, 0).to_bytes())
    assert parsed == AckFrame(ranges[:MAX_ACK_RANGES], 0)


ALLOWED_CODES = {TransportErrorCode.FRAME_ENCODING_ERROR, TransportErrorCode.PROTOCOL_VIOLATION}


def _parse_or_quic_error(data: bytes, packet_type: PacketType | None) -> None:
    """Parsing raises only QuicError; a successful parse re-encodes to an equivalent payload."""
    try:
        frames = parse_frames(data, packet_type)
    except QuicError as exc:
        assert exc.error_code in ALLOWED_CODES
        return
    assert parse_frames(encode_frames(frames)) == frames


def test_arbitrary_bytes_raise_only_quic_error() -> None:
    examples = 0

    @settings(max_examples=10_000, deadline=None)
    @given(st.binary(max_size=48), st.none() | st.sampled_from(PacketType))
    def check(data: bytes, packet_type: PacketType | None) -> None:
        nonlocal examples
        examples += 1
        _parse_or_quic_error(data, packet_type)

    check()
    assert examples >= 10_000


@settings(max_examples=1000, deadline=None)
@given(st.lists(any_frame, min_size=1, max_size=4), st.data())
def test_mutated_payloads_raise_only_quic_error(frames: list[Frame], data: st.DataObject) -> None:
    payload = bytearray(encode_frames(frames))
    index = data.draw(st.integers(0, len(payload) - 1))
    mutation = data.draw(st.sampled_from(["truncate", "replace", "insert"]))
    if mutation == "truncate":
        del payload[index:]
    elif mutation == "replace":
        payload[index] = data.draw(st.integers(0, 255))
    else:
        payload.insert(index, data.draw(st.integers(0, 255)))
    _parse_or_quic_error(bytes(payload), None)


@settings(max_examples=300, deadline=None)
@given(any_frame)
def test_non_ack_eliciting_classes_agree_with_the_table(frame: Frame) -> None:
    # the receive path decides by class what RFC 9000 Table 3 decides by frame type
    by_class = type(frame) not in NON_ACK_ELICITING_FRAME_CLASSES
    assert by_class == (frame.wire_type in ACK_ELICITING_FRAME_TYPES)
