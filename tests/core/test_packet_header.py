"""Long and short headers, Retry, Version Negotiation, coalescing and stateless resets.

RFC 9000 §12.2, §17, §10.3; RFC 9369 §3.2 packet type bits; RFC 8999 invariants.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.core.packet_header import (
    LongHeader,
    RetryPacket,
    ShortHeader,
    UnsupportedVersionHeader,
    VersionNegotiationPacket,
    encode_long_header,
    encode_retry_without_tag,
    encode_short_header,
    encode_stateless_reset,
    encode_version_negotiation,
    is_stateless_reset,
    iter_packets,
    key_phase,
    long_header_size,
    parse_header,
    reserved_bits_set,
    spin_bit,
    unprotected_pn_length,
)
from pyquic.core.version import V1, V2, PacketType, VersionInfo, is_reserved_version

DCID = bytes.fromhex("8394c8f03e515708")
SCID = bytes.fromhex("f067a5502a4262b5")
PV = TransportErrorCode.PROTOCOL_VIOLATION

# RFC 9001 Appendix A.2: the unprotected header of the client Initial (v1)
RFC9001_A2_HEADER = "c300000001088394c8f03e5157080000449e00000002"
# RFC 9369 Appendix A.2: the same for v2 (type bits 0b01)
RFC9369_A2_HEADER = "d36b3343cf088394c8f03e5157080000449e00000002"


@pytest.mark.parametrize(
    ("version", "expected"),
    [(V1, RFC9001_A2_HEADER), (V2, RFC9369_A2_HEADER)],
    ids=["rfc9001", "rfc9369"],
)
def test_rfc9001_rfc9369_client_initial_header_bytes(version: VersionInfo, expected: str) -> None:
    header = encode_long_header(
        version,
        PacketType.INITIAL,
        DCID,
        b"",
        packet_number=2,
        pn_length=4,
        payload_length=1162 + 16,  # Length 0x449e = 1182 = pn(4) + payload(1162) + tag(16)
        length_field_size=2,
    )
    assert header.hex() == expected


@pytest.mark.parametrize("version", [V1, V2], ids=["v1", "v2"])
@pytest.mark.parametrize("ptype", [PacketType.INITIAL, PacketType.ZERO_RTT, PacketType.HANDSHAKE])
def test_long_header_roundtrip(version: VersionInfo, ptype: PacketType) -> None:
    token = b"tok" if ptype is PacketType.INITIAL else b""
    payload = bytes(40)
    header = encode_long_header(
        version,
        ptype,
        DCID,
        SCID,
        packet_number=7,
        pn_length=2,
        payload_length=len(payload),
        token=token,
    )
    assert len(header) == long_header_size(
        ptype, DCID, SCID, pn_length=2, payload_length=len(payload), token=token
    )
    datagram = header + payload
    parsed = parse_header(datagram, short_dcid_length=8)
    assert isinstance(parsed, LongHeader)
    assert parsed.packet_type is ptype
    assert parsed.version == version.number
    assert (parsed.destination_cid, parsed.source_cid, parsed.token) == (DCID, SCID, token)
    assert parsed.pn_offset == len(header) - 2
    assert parsed.packet_end == len(datagram)
    assert unprotected_pn_length(parsed.first_byte) == 2
    assert not reserved_bits_set(parsed.first_byte)


def test_short_header_roundtrip_and_bits() -> None:
    header = encode_short_header(DCID, packet_number=0x1234, pn_length=2, key_phase=1, spin=1)
    datagram = header + bytes(30)
    parsed = parse_header(datagram, short_dcid_length=len(DCID))
    assert isinstance(parsed, ShortHeader)
    assert parsed.destination_cid == DCID
    assert parsed.pn_offset == 1 + len(DCID)
    assert parsed.packet_end == len(datagram)
    assert key_phase(parsed.first_byte) == 1
    assert spin_bit(parsed.first_byte) == 1
    assert unprotected_pn_length(parsed.first_byte) == 2
    assert reserved_bits_set(parsed.first_byte | 0x08)


def test_coalesced_packets_walk() -> None:
    """RFC 9000 §12.2: Initial + Handshake + 1-RTT in one datagram."""
    initial = encode_long_header(
        V1, PacketType.INITIAL, DCID, SCID, packet_number=0, pn_length=1, payload_length=30
    ) + bytes(30)
    handshake = encode_long_header(
        V1, PacketType.HANDSHAKE, DCID, SCID, packet_number=0, pn_length=1, payload_length=25
    ) + bytes(25)
    short = encode_short_header(DCID, packet_number=0, pn_length=1) + bytes(25)
    datagram = initial + handshake + short
    headers = list(iter_packets(datagram, short_dcid_length=len(DCID)))
    assert [type(h) for h in headers] == [LongHeader, LongHeader, ShortHeader]
    assert [h.packet_end for h in headers] == [
        len(initial),
        len(initial) + len(handshake),
        len(datagram),
    ]


def test_coalesced_error_after_good_packet() -> None:
    good = encode_long_header(
        V1, PacketType.INITIAL, DCID, SCID, packet_number=0, pn_length=1, payload_length=30
    ) + bytes(30)
    walk = iter_packets(good + b"\xc0\x00", short_dcid_length=8)
    assert isinstance(next(walk), LongHeader)
    with pytest.raises(QuicError) as exc:
        next(walk)
    assert exc.value.error_code == PV


def test_length_past_end_and_too_short() -> None:
    header = encode_long_header(
        V1, PacketType.HANDSHAKE, DCID, SCID, packet_number=0, pn_length=1, payload_length=100
    )
    with pytest.raises(QuicError, match="past the datagram end"):
        parse_header(header + bytes(50), short_dcid_length=8)
    header = encode_long_header(
        V1, PacketType.HANDSHAKE, DCID, SCID, packet_number=0, pn_length=1, payload_length=10
    )
    with pytest.raises(QuicError, match="too short"):
        parse_header(header + bytes(10), short_dcid_length=8)


def test_v1_cid_over_20_bytes_dropped() -> None:
    """RFC 9000 §17.2: a v1 long header with a CID over 20 bytes is dropped."""
    data = bytes((0xC0,)) + (1).to_bytes(4, "big") + bytes((21,)) + bytes(21) + b"\x00" + bytes(30)
    with pytest.raises(QuicError) as exc:
        parse_header(data, short_dcid_length=8)
    assert exc.value.error_code == PV


def test_fixed_bit_required_unless_greased() -> None:
    """RFC 9000 §17.2 (fixed bit) and RFC 9287 §3 (grease_quic_bit)."""
    header = encode_short_header(DCID, packet_number=1, pn_length=1, fixed_bit=False)
    with pytest.raises(QuicError):
        parse_header(header + bytes(20), short_dcid_length=8)
    parsed = parse_header(header + bytes(20), short_dcid_length=8, require_fixed_bit=False)
    assert isinstance(parsed, ShortHeader)


def test_unknown_version_exposes_invariants() -> None:
    """RFC 8999 §5.1: long CIDs (up to 255) are readable so VN can be sent (RFC 9000 §6.1)."""
    dcid = bytes(range(40))
    data = bytes((0xC0,)) + bytes.fromhex("1a2a3a4a") + bytes((40,)) + dcid + b"\x03abc" + bytes(9)
    parsed = parse_header(data, short_dcid_length=8)
    assert parsed == UnsupportedVersionHeader(0x1A2A3A4A, dcid, b"abc", len(data))
    assert is_reserved_version(0x1A2A3A4A)


def test_version_negotiation_roundtrip() -> None:
    packet = encode_version_negotiation(SCID, DCID, [V1.number, V2.number], unused=0x55)
    assert packet[0] == 0x80 | 0x55
    parsed = parse_header(packet, short_dcid_length=8)
    assert parsed == VersionNegotiationPacket(SCID, DCID, (V1.number, V2.number), len(packet))
    with pytest.raises(QuicError):
        parse_header(packet[:-2], short_dcid_length=8)  # not a multiple of 4
    with pytest.raises(ValueError):
        encode_version_negotiation(SCID, DCID, [])


@pytest.mark.parametrize("version", [V1, V2], ids=["rfc9001", "rfc9369"])
def test_retry_roundtrip(version: VersionInfo) -> None:
    tag = bytes(range(16))
    packet = encode_retry_without_tag(version, b"", SCID, b"token!") + tag
    parsed = parse_header(packet, short_dcid_length=8)
    assert parsed == RetryPacket(version.number, b"", SCID, b"token!", tag, 0, len(packet))
    with pytest.raises(QuicError, match="without a token"):
        parse_header(
            encode_retry_without_tag(version, b"", SCID, b"t")[:-1] + tag, short_dcid_length=8
        )


def test_rfc9001_retry_header_bytes() -> None:
    """RFC 9001 Appendix A.4 Retry: header and token as on the wire (tag excluded)."""
    retry = encode_retry_without_tag(V1, b"", SCID, b"token", unused=0xF)
    assert retry.hex() == "ff000000010008f067a5502a4262b5746f6b656e"


def test_rfc9369_retry_header_bytes() -> None:
    retry = encode_retry_without_tag(V2, b"", SCID, b"token", unused=0xF)
    assert retry.hex() == "cf6b3343cf0008f067a5502a4262b5746f6b656e"


def test_stateless_reset() -> None:
    token = bytes(range(16))
    reset = encode_stateless_reset(token, b"\xff" * 10)
    assert reset[0] & 0xC0 == 0x40  # RFC 9000 §10.3: short-header form
    assert is_stateless_reset(reset, [bytes(16), token])
    assert not is_stateless_reset(reset, [bytes(16)])
    assert not is_stateless_reset(reset[-20:], [token])  # under 21 bytes: never a reset
    with pytest.raises(ValueError):
        encode_stateless_reset(token, b"\x00" * 4)


def test_encoder_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        encode_long_header(
            V1, PacketType.RETRY, DCID, SCID, packet_number=0, pn_length=1, payload_length=20
        )
    with pytest.raises(ValueError):
        encode_long_header(
            V1,
            PacketType.HANDSHAKE,
            DCID,
            SCID,
            packet_number=0,
            pn_length=1,
            payload_length=20,
            token=b"x",
        )
    with pytest.raises(ValueError):
        encode_short_header(bytes(21), packet_number=0, pn_length=1)
    with pytest.raises(ValueError):
        encode_short_header(DCID, packet_number=0, pn_length=5)


@settings(max_examples=10_000, deadline=None)
@given(st.binary(max_size=80), st.integers(min_value=0, max_value=20))
def test_arbitrary_bytes_raise_only_protocol_errors(data: bytes, dcid_len: int) -> None:
    try:
        for header in iter_packets(data, short_dcid_length=dcid_len):
            assert header.packet_end <= len(data)
    except QuicError as exc:
        assert exc.error_code == PV


@settings(max_examples=10_000, deadline=None)
@given(
    st.sampled_from([0xC0, 0xD0, 0xE0, 0xF0, 0x40]),
    st.sampled_from([V1.number, V2.number, 0, 0x0A0A0A0A]),
    st.binary(max_size=22),
    st.binary(max_size=22),
    st.binary(max_size=60),
)
def test_structured_garbage_raises_only_protocol_errors(
    first: int, version: int, dcid: bytes, scid: bytes, rest: bytes
) -> None:
    data = (
        bytes((first,))
        + version.to_bytes(4, "big")
        + bytes((len(dcid),))
        + dcid
        + bytes((len(scid),))
        + scid
        + rest
    )
    try:
        for header in iter_packets(data, short_dcid_length=8):
            assert header.packet_end <= len(data)
    except QuicError as exc:
        assert exc.error_code == PV
