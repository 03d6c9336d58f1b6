"""Unit and property tests of pyquic.core.packet_protection (RFC 9001 §5.3, §5.4)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyquic.core.packet_header import reserved_bits_set
from pyquic.core.packet_number import encode_packet_number
from pyquic.core.packet_protection import min_payload_length, protect_packet, unprotect_packet
from pyquic.core.version import V1
from pyquic.platform.crypto import CipherSuite, QuicPacketKeys

DCID = bytes.fromhex("0011223344556677")
KEYS = {
    suite: QuicPacketKeys.from_secret(suite, bytes(range(suite.hash_length)), V1)
    for suite in CipherSuite
}
SUITES = list(CipherSuite)


def long_header(pn: int, pn_length: int, payload_length: int, reserved: int = 0) -> bytes:
    """An Initial header (RFC 9000 §17.2.2) with a 2-byte Length and an empty token."""
    length = pn_length + payload_length + 16
    return (
        bytes((0xC0 | reserved | (pn_length - 1),))
        + (1).to_bytes(4, "big")
        + bytes((len(DCID),))
        + DCID
        + b"\x00"  # SCID length
        + b"\x00"  # token length
        + (0x4000 | length).to_bytes(2, "big")
        + encode_packet_number(pn, pn_length)
    )


LONG_PN_OFFSET = 1 + 4 + 1 + len(DCID) + 1 + 1 + 2


def short_header(pn: int, pn_length: int, bits: int = 0) -> bytes:
    """A 1-RTT header (RFC 9000 §17.3.1); ``bits`` sets spin/reserved/key phase bits."""
    return bytes((0x40 | bits | (pn_length - 1),)) + DCID + encode_packet_number(pn, pn_length)


SHORT_PN_OFFSET = 1 + len(DCID)


def protect(keys: QuicPacketKeys, header: bytes, pn: int, pn_length: int, payload: bytes) -> bytes:
    buf = bytearray(header + payload + bytes(16))
    total = protect_packet(keys, buf, len(header), pn, pn_length, len(payload))
    assert total == len(buf)
    return bytes(buf)


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("pn_length", [1, 2, 3, 4])
@pytest.mark.parametrize("form", ["long", "short"])
def test_round_trip(suite: CipherSuite, pn_length: int, form: str) -> None:
    keys = KEYS[suite]
    pn = 0x1234567 & ((1 << (8 * pn_length)) - 1)
    payload = bytes(range(256)) * 4
    if form == "long":
        header, pn_offset, kept = long_header(pn, pn_length, len(payload)), LONG_PN_OFFSET, 0xF0
    else:
        header, pn_offset, kept = short_header(pn, pn_length, 0x20), SHORT_PN_OFFSET, 0xE0
    packet = protect(keys, header, pn, pn_length, payload)
    # RFC 9001 §5.4.1: only the low 4 (long) or 5 (short) bits of byte 0 and the pn are masked
    assert packet[0] & kept == header[0] & kept
    assert packet[1:pn_offset] == header[1:pn_offset]
    assert packet[: len(header)] != header
    assert unprotect_packet(keys, packet, pn_offset, None) == (header, pn, payload)


def test_packet_number_is_expanded_from_largest_pn() -> None:
    keys = KEYS[CipherSuite.AES_128_GCM_SHA256]
    pn = 0x1234567
    header = short_header(pn, 2)
    packet = protect(keys, header, pn, 2, b"\x01\x00\x00")
    assert unprotect_packet(keys, packet, SHORT_PN_OFFSET, pn - 100) == (
        header,
        pn,
        b"\x01\x00\x00",
    )
    # a wrong expansion means a wrong nonce: authentication fails, the packet is dropped
    assert unprotect_packet(keys, packet, SHORT_PN_OFFSET, None) is None


def test_reserved_and_key_phase_bits_are_returned_for_the_caller() -> None:
    keys = KEYS[CipherSuite.AES_128_GCM_SHA256]
    for reserved in (0x04, 0x08, 0x0C):
        long = long_header(9, 1, 20, reserved=reserved)
        packet = protect(keys, long, 9, 1, bytes(20))
        result = unprotect_packet(keys, packet, LONG_PN_OFFSET, None)
        assert result is not None and result[0][0] & 0x0C == reserved
        assert reserved_bits_set(result[0][0])
    short = short_header(9, 1, bits=0x10 | 0x04)  # a reserved bit and the key phase
    result = unprotect_packet(keys, protect(keys, short, 9, 1, bytes(20)), SHORT_PN_OFFSET, None)
    assert result is not None and result[0][0] & 0x1C == 0x14
    assert reserved_bits_set(result[0][0])
    clean = short_header(9, 1, bits=0x20 | 0x04)  # spin bit and key phase are not reserved
    result = unprotect_packet(keys, protect(keys, clean, 9, 1, bytes(20)), SHORT_PN_OFFSET, None)
    assert result is not None and not reserved_bits_set(result[0][0])
    assert not reserved_bits_set(long_header(9, 1, 20)[0])


@pytest.mark.parametrize("pn_length", [1, 2, 3, 4])
def test_minimum_payload_for_a_sample(pn_length: int) -> None:
    keys = KEYS[CipherSuite.CHACHA20_POLY1305_SHA256]
    shortest = min_payload_length(pn_length)
    assert shortest == 4 - pn_length  # RFC 9001 §5.4.2
    header = short_header(1, pn_length)
    packet = protect(keys, header, 1, pn_length, b"\x01" * shortest)
    assert len(packet) == SHORT_PN_OFFSET + 4 + 16
    assert unprotect_packet(keys, packet, SHORT_PN_OFFSET, 0) == (header, 1, b"\x01" * shortest)
    if shortest:
        buf = bytearray(header + bytes(shortest - 1 + 16))
        sealed = keys.aead.sealed_packets
        with pytest.raises(ValueError):
            protect_packet(keys, buf, len(header), 1, pn_length, shortest - 1)
        assert keys.aead.sealed_packets == sealed  # refused before sealing anything
        assert buf == header + bytes(shortest - 1 + 16)


def test_protect_rejects_a_pn_length_that_disagrees_with_the_header() -> None:
    keys = KEYS[CipherSuite.AES_128_GCM_SHA256]
    header = short_header(1, 2)
    buf = bytearray(header + bytes(20 + 16))
    with pytest.raises(ValueError):
        protect_packet(keys, buf, len(header), 1, 1, 20)
    with pytest.raises(ValueError):
        protect_packet(keys, buf, len(header), 1, 5, 20)
    with pytest.raises(ValueError):
        protect_packet(keys, bytearray(b"\x41\x00" + bytes(36)), 2, 1, 2, 20)  # no first byte


def test_unprotect_within_a_coalesced_datagram() -> None:
    keys = KEYS[CipherSuite.AES_256_GCM_SHA384]
    first = protect(keys, long_header(0, 1, 30), 0, 1, bytes(30))
    second = protect(keys, short_header(1, 1), 1, 1, b"\x01" * 50)
    datagram = memoryview(bytearray(first + second))
    assert unprotect_packet(keys, datagram[: len(first)], LONG_PN_OFFSET, None) is not None
    result = unprotect_packet(keys, datagram[len(first) :], SHORT_PN_OFFSET, 0)
    assert result is not None and result[1:] == (1, b"\x01" * 50)
    # the whole datagram is not one packet: the long packet's payload would include the second
    assert unprotect_packet(keys, datagram, LONG_PN_OFFSET, None) is None


def test_unprotect_drops_truncated_packets() -> None:
    keys = KEYS[CipherSuite.AES_128_GCM_SHA256]
    packet = protect(keys, short_header(5, 2), 5, 2, bytes(40))
    for cut in range(len(packet)):
        assert unprotect_packet(keys, packet[:cut], SHORT_PN_OFFSET, None) is None


@pytest.mark.parametrize("pn_offset", [-5, -1, 0, 100, 10**6])
def test_unprotect_drops_impossible_pn_offsets(pn_offset: int) -> None:
    keys = KEYS[CipherSuite.AES_128_GCM_SHA256]
    packet = protect(keys, short_header(5, 2), 5, 2, bytes(40))
    assert unprotect_packet(keys, packet, pn_offset, None) is None


@settings(max_examples=300)
@given(
    packet=st.binary(max_size=120),
    pn_offset=st.integers(min_value=-3, max_value=40),
    largest_pn=st.none() | st.integers(min_value=0, max_value=(1 << 62) - 1),
    suite=st.sampled_from(SUITES),
)
def test_unprotect_never_raises_on_garbage(
    packet: bytes, pn_offset: int, largest_pn: int | None, suite: CipherSuite
) -> None:
    assert unprotect_packet(KEYS[suite], packet, pn_offset, largest_pn) is None


@settings(max_examples=300)
@given(data=st.data(), suite=st.sampled_from(SUITES), form=st.sampled_from(["long", "short"]))
def test_any_flipped_bit_is_rejected(data: st.DataObject, suite: CipherSuite, form: str) -> None:
    keys = KEYS[suite]
    if form == "long":
        header, pn_offset = long_header(77, 2, 25), LONG_PN_OFFSET
    else:
        header, pn_offset = short_header(77, 2), SHORT_PN_OFFSET
    packet = bytearray(protect(keys, header, 77, 2, bytes(range(25))))
    index = data.draw(st.integers(min_value=0, max_value=len(packet) - 1))
    packet[index] ^= 1 << data.draw(st.integers(min_value=0, max_value=7))
    assert unprotect_packet(keys, packet, pn_offset, 70) is None
