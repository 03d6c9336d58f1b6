"""The frame rules table against RFC 9000 §12.4 Table 3, RFC 9221 and the ack-frequency draft."""

from __future__ import annotations

import pytest

from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.core.frame_rules import (
    ACK_ELICITING_FRAME_TYPES,
    ALLOWED_FRAME_TYPES,
    FLOW_CONTROLLED_FRAME_TYPES,
    FRAME_RULES,
    NOT_CONGESTION_CONTROLLED_FRAME_TYPES,
    PROBING_FRAME_TYPES,
    check_frame_allowed,
    frame_rule,
    is_ack_eliciting,
    is_flow_controlled,
    is_in_flight,
    is_probing_only,
)
from pyquic.core.frames import FrameType
from pyquic.core.version import PacketType

# RFC 9000 §12.4 Table 3, copied row by row: (first type, last type, Pkts, Spec).  The "ih01" of
# CONNECTION_CLOSE means 0x1c may appear in Initial/Handshake and 0x1d may not.
RFC_TABLE_3 = [
    (0x00, 0x00, "IH01", "NP"),  # PADDING
    (0x01, 0x01, "IH01", ""),  # PING
    (0x02, 0x03, "IH_1", "NC"),  # ACK
    (0x04, 0x04, "__01", ""),  # RESET_STREAM
    (0x05, 0x05, "__01", ""),  # STOP_SENDING
    (0x06, 0x06, "IH_1", ""),  # CRYPTO
    (0x07, 0x07, "___1", ""),  # NEW_TOKEN
    (0x08, 0x0F, "__01", "F"),  # STREAM
    (0x10, 0x10, "__01", ""),  # MAX_DATA
    (0x11, 0x11, "__01", ""),  # MAX_STREAM_DATA
    (0x12, 0x13, "__01", ""),  # MAX_STREAMS
    (0x14, 0x14, "__01", ""),  # DATA_BLOCKED
    (0x15, 0x15, "__01", ""),  # STREAM_DATA_BLOCKED
    (0x16, 0x17, "__01", ""),  # STREAMS_BLOCKED
    (0x18, 0x18, "__01", "P"),  # NEW_CONNECTION_ID
    (0x19, 0x19, "__01", ""),  # RETIRE_CONNECTION_ID
    (0x1A, 0x1A, "__01", "P"),  # PATH_CHALLENGE
    (0x1B, 0x1B, "___1", "P"),  # PATH_RESPONSE
    (0x1C, 0x1C, "IH01", "N"),  # CONNECTION_CLOSE (transport, the "ih" part)
    (0x1D, 0x1D, "__01", "N"),  # CONNECTION_CLOSE (application)
    (0x1E, 0x1E, "___1", ""),  # HANDSHAKE_DONE
    # RFC 9221 §4/§5: DATAGRAM needs 0-RTT or 1-RTT keys; ack-eliciting, congestion controlled,
    # not flow controlled.
    (0x30, 0x31, "__01", ""),
    # draft-ietf-quic-ack-frequency: IMMEDIATE_ACK 0x1f and ACK_FREQUENCY 0xaf, not in 0-RTT,
    # application data space only; ack-eliciting and congestion controlled.
    (0x1F, 0x1F, "___1", ""),
    (0xAF, 0xAF, "___1", ""),
]

LETTER = {
    "I": PacketType.INITIAL,
    "H": PacketType.HANDSHAKE,
    "0": PacketType.ZERO_RTT,
    "1": PacketType.ONE_RTT,
}

EXPANDED = [
    (frame_type, pkts, spec)
    for first, last, pkts, spec in RFC_TABLE_3
    for frame_type in range(first, last + 1)
]

FEE = TransportErrorCode.FRAME_ENCODING_ERROR
PV = TransportErrorCode.PROTOCOL_VIOLATION


def test_table_covers_exactly_the_known_frame_types() -> None:
    assert set(FRAME_RULES) == {frame_type for frame_type, _, _ in EXPANDED} == set(FrameType)


@pytest.mark.parametrize(("frame_type", "pkts", "spec"), EXPANDED, ids=lambda v: repr(v))
def test_row_matches_rfc(frame_type: int, pkts: str, spec: str) -> None:
    rule = frame_rule(frame_type)
    assert rule.packet_types == {LETTER[c] for c in pkts if c != "_"}
    assert rule.ack_eliciting == ("N" not in spec)
    assert rule.congestion_controlled == ("C" not in spec)
    assert rule.probing == ("P" in spec)
    assert rule.flow_controlled == ("F" in spec)
    assert is_flow_controlled(frame_type) == ("F" in spec)


@pytest.mark.parametrize(("frame_type", "pkts", "spec"), EXPANDED, ids=lambda v: repr(v))
def test_check_frame_allowed_matches_rfc(frame_type: int, pkts: str, spec: str) -> None:
    for packet_type in PacketType:
        allowed = any(c != "_" and LETTER[c] == packet_type for c in pkts)
        assert (frame_type in ALLOWED_FRAME_TYPES[packet_type]) == allowed
        if allowed:
            check_frame_allowed(frame_type, packet_type)
        else:
            with pytest.raises(QuicError) as info:
                check_frame_allowed(frame_type, packet_type)
            assert info.value.error_code == PV
            assert info.value.frame_type == frame_type


def test_every_frame_allowed_in_one_rtt() -> None:
    # RFC 9000 §12.4: "all frames can appear in 1-RTT packets"
    assert ALLOWED_FRAME_TYPES[PacketType.ONE_RTT] == set(FrameType)


@pytest.mark.parametrize("packet_type", [PacketType.RETRY, PacketType.VERSION_NEGOTIATION])
def test_frameless_packets_allow_nothing(packet_type: PacketType) -> None:
    assert ALLOWED_FRAME_TYPES[packet_type] == frozenset()
    with pytest.raises(QuicError) as info:
        check_frame_allowed(FrameType.PADDING, packet_type)
    assert info.value.error_code == PV


def test_application_close_only_in_application_space() -> None:
    check_frame_allowed(FrameType.CONNECTION_CLOSE, PacketType.INITIAL)
    check_frame_allowed(FrameType.CONNECTION_CLOSE, PacketType.HANDSHAKE)
    for packet_type in (PacketType.INITIAL, PacketType.HANDSHAKE):
        with pytest.raises(QuicError) as info:
            check_frame_allowed(FrameType.CONNECTION_CLOSE_APPLICATION, packet_type)
        assert (info.value.error_code, info.value.frame_type) == (PV, 0x1D)


@pytest.mark.parametrize("frame_type", [0x20, 0x2F, 0x32, 0xAE, 0x4000])
def test_unknown_type_is_frame_encoding_error(frame_type: int) -> None:
    for call in (
        lambda: frame_rule(frame_type),
        lambda: check_frame_allowed(frame_type, PacketType.ONE_RTT),
    ):
        with pytest.raises(QuicError) as info:
            call()
        assert (info.value.error_code, info.value.frame_type) == (FEE, frame_type)


def test_ack_eliciting_set() -> None:
    # RFC 9000 §13.2: all frames other than ACK, PADDING and CONNECTION_CLOSE
    not_eliciting = {0x00, 0x02, 0x03, 0x1C, 0x1D}
    expected = set(FrameType) - not_eliciting
    assert expected == ACK_ELICITING_FRAME_TYPES


def test_is_ack_eliciting() -> None:
    assert not is_ack_eliciting([])
    assert not is_ack_eliciting([FrameType.ACK, FrameType.PADDING, FrameType.CONNECTION_CLOSE])
    assert is_ack_eliciting([FrameType.ACK, FrameType.PING])
    assert is_ack_eliciting(iter([FrameType.DATAGRAM]))
    assert is_ack_eliciting([FrameType.IMMEDIATE_ACK])


def test_is_in_flight() -> None:
    # RFC 9002 §2: ack-eliciting or containing PADDING
    assert not is_in_flight([])
    assert not is_in_flight([FrameType.ACK])
    assert not is_in_flight([FrameType.ACK_ECN, FrameType.CONNECTION_CLOSE])
    assert is_in_flight([FrameType.ACK, FrameType.PADDING])
    assert is_in_flight([FrameType.STREAM_LEN])


def test_is_probing_only() -> None:
    # RFC 9000 §9.1
    assert not is_probing_only([])
    assert is_probing_only([FrameType.PATH_CHALLENGE, FrameType.PADDING])
    assert is_probing_only([FrameType.PATH_RESPONSE, FrameType.NEW_CONNECTION_ID])
    assert not is_probing_only([FrameType.PATH_CHALLENGE, FrameType.PING])


def test_property_sets() -> None:
    assert {0x02, 0x03} == NOT_CONGESTION_CONTROLLED_FRAME_TYPES  # "C": ACK only
    assert {0x00, 0x18, 0x1A, 0x1B} == PROBING_FRAME_TYPES  # "P", RFC 9000 §9.1
    assert set(range(0x08, 0x10)) == FLOW_CONTROLLED_FRAME_TYPES  # "F": STREAM only
