"""Packet number truncation and recovery (RFC 9000 §17.1, Appendix A.2 and A.3)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pyquic.core.packet_builder import MIN_ONE_RTT_PN_LENGTH, plan_packet
from pyquic.core.packet_number import (
    decode_packet_number,
    encode_packet_number,
    packet_number_length,
)
from pyquic.core.version import PacketType


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


def test_one_rtt_packets_use_at_least_two_bytes() -> None:
    # A packet sent with little in flight (1 byte by §17.1), then delayed behind more than 128
    # newer packets, would decode to the wrong number; 1-RTT packets never go below 2 bytes.
    def planned(packet_type: PacketType) -> int:
        plan = plan_packet(
            packet_type,
            destination_cid=b"\x01" * 8,
            source_cid=b"\x02" * 8,
            token=b"",
            packet_number=1000,
            largest_acked=999,
            space_left=1200,
        )
        assert plan is not None
        return plan.pn_length

    assert packet_number_length(1000, 999) == 1
    assert planned(PacketType.ONE_RTT) == MIN_ONE_RTT_PN_LENGTH == 2
    assert planned(PacketType.HANDSHAKE) == 1
    delayed = decode_packet_number(1000 & 0xFFFF, 16, 1000 + 300)
    assert delayed == 1000 and decode_packet_number(1000 & 0xFF, 8, 1000 + 300) != 1000
