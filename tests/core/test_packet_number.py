"""Packet number truncation and recovery (RFC 9000 §17.1, Appendix A.2 and A.3)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pyquic.core.packet_number import (
    decode_packet_number,
    encode_packet_number,
    packet_number_length,
)


def test_rfc9000_appendix_a2_example() -> None:
    # "if an endpoint has received an acknowledgment for packet 0xabe8b3 and is sending a packet
    # with a number of 0xac5c02, ... 16 bits"; for 0xace8fe, 24 bits are needed.
    assert packet_number_length(0xAC5C02, 0xABE8B3) == 2
    assert packet_number_length(0xACE8FE, 0xABE8B3) == 3
    assert encode_packet_number(0xAC5C02, 2) == bytes.fromhex("5c02")


def test_rfc9000_appendix_a3_example() -> None:
    # largest 0xa82f30ea, truncated 0x9b32 in 16 bits -> 0xa82f9b32
    assert decode_packet_number(0x9B32, 16, 0xA82F30EA) == 0xA82F9B32


def test_first_packet_and_bounds() -> None:
    assert packet_number_length(0, None) == 1
    assert packet_number_length(1 << 40, 0) == 4
    assert decode_packet_number(0, 8, None) == 0


@given(
    st.integers(min_value=0, max_value=(1 << 62) - 1 - (1 << 31)),
    st.integers(min_value=1, max_value=(1 << 30)),
)
def test_roundtrip_within_window(largest_acked: int, ahead: int) -> None:
    pn = largest_acked + ahead
    length = packet_number_length(pn, largest_acked)
    truncated = int.from_bytes(encode_packet_number(pn, length), "big")
    # the receiver has seen every packet up to at least largest_acked
    assert decode_packet_number(truncated, 8 * length, largest_acked) == pn
    assert decode_packet_number(truncated, 8 * length, pn - 1) == pn
