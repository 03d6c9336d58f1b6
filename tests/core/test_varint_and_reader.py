"""Variable-length integers (RFC 9000 §16, Appendix A.1) and the bounds-checked Reader."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyquic.core.buffer import Reader
from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.core.varint import (
    VARINT_MAX,
    decode_varint_at,
    encode_varint,
    push_varint,
    varint_size,
)

# RFC 9000 Appendix A.1 / §16 examples
RFC9000_VARINT_EXAMPLES = [
    ("c2197c5eff14e88c", 151_288_809_941_952_652),
    ("9d7f3e7d", 494_878_333),
    ("7bbd", 15_293),
    ("25", 37),
    ("4025", 37),  # two-byte encoding of 37 decodes too
]


@pytest.mark.parametrize(("hexdata", "value"), RFC9000_VARINT_EXAMPLES)
def test_rfc9000_varint_examples_decode(hexdata: str, value: int) -> None:
    reader = Reader(bytes.fromhex(hexdata))
    assert reader.pull_varint() == value
    assert reader.eof()


@pytest.mark.parametrize(("hexdata", "value"), RFC9000_VARINT_EXAMPLES[:4])
def test_rfc9000_varint_examples_encode_shortest(hexdata: str, value: int) -> None:
    assert encode_varint(value).hex() == hexdata


def test_forced_length() -> None:
    assert encode_varint(37, 2).hex() == "4025"
    assert encode_varint(0, 8).hex() == "c000000000000000"
    with pytest.raises(ValueError):
        encode_varint(64, 1)


@pytest.mark.parametrize("bad", [-1, VARINT_MAX + 1])
def test_out_of_range_rejected(bad: int) -> None:
    with pytest.raises(ValueError):
        encode_varint(bad)
    if bad > 0:
        with pytest.raises(ValueError):
            varint_size(bad)


@given(st.integers(min_value=0, max_value=VARINT_MAX))
def test_varint_roundtrip(value: int) -> None:
    out = bytearray()
    push_varint(out, value)
    assert len(out) == varint_size(value)
    assert bytes(out) == encode_varint(value)
    reader = Reader(out)
    assert reader.pull_varint() == value
    assert reader.eof()


@pytest.mark.parametrize("hexdata", ["", "40", "80ffff", "c0000000000000"])
def test_truncated_varint_raises_chosen_code(hexdata: str) -> None:
    reader = Reader(bytes.fromhex(hexdata), TransportErrorCode.TRANSPORT_PARAMETER_ERROR)
    with pytest.raises(QuicError) as exc:
        reader.pull_varint()
    assert exc.value.error_code == TransportErrorCode.TRANSPORT_PARAMETER_ERROR


def test_reader_fixed_width_and_bounds() -> None:
    reader = Reader(bytes.fromhex("01020304050607"), start=0, end=6)
    assert reader.pull_uint8() == 1
    assert reader.pull_uint16() == 0x0203
    assert reader.remaining() == 3
    assert bytes(reader.pull_view(2)) == b"\x04\x05"
    with pytest.raises(QuicError) as exc:
        reader.pull_uint16()  # the end bound hides byte 0x07
    assert exc.value.error_code == TransportErrorCode.FRAME_ENCODING_ERROR
    with pytest.raises(QuicError):
        reader.pull_bytes(-1)


@settings(max_examples=2_000)
@given(st.binary(max_size=16), st.lists(st.sampled_from(["u8", "u16", "u32", "v", "b"])))
def test_reader_raises_only_quic_error(data: bytes, ops: list[str]) -> None:
    reader = Reader(data)
    try:
        for op in ops:
            if op == "u8":
                reader.pull_uint8()
            elif op == "u16":
                reader.pull_uint16()
            elif op == "u32":
                reader.pull_uint32()
            elif op == "v":
                reader.pull_varint()
            else:
                reader.pull_bytes(reader.pull_uint8())
    except QuicError as exc:
        assert exc.error_code == TransportErrorCode.FRAME_ENCODING_ERROR


@given(st.integers(0, VARINT_MAX), st.binary(max_size=3))
def test_decode_varint_at_reads_back_every_encoding(value: int, prefix: bytes) -> None:
    # RFC 9000 §16: any of the four lengths that can hold the value decodes to it
    for length in (1, 2, 4, 8):
        if value < 1 << (8 * length - 2):
            data = prefix + encode_varint(value, length) + b"\xff"
            assert decode_varint_at(data, len(prefix)) == (value, len(prefix) + length)


@pytest.mark.parametrize(("hexdata", "value"), RFC9000_VARINT_EXAMPLES)
def test_decode_varint_at_rfc9000_examples(hexdata: str, value: int) -> None:
    data = bytes.fromhex(hexdata)
    assert decode_varint_at(data, 0) == (value, len(data))
