"""The whole receive path over RFC 9001 Appendix A packets: header, protection, frames.

parse_header finds the packet number offset, unprotect_packet removes protection, parse_frames
reads the payload, and the frames are allowed in their packet type (RFC 9000 §12.4).
"""

from __future__ import annotations

from test_packet_protection_rfc9001 import (
    CHACHA_PACKET,
    CHACHA_PN,
    CHACHA_SECRET,
    CLIENT_PROTECTED,
    DCID,
    SERVER_PROTECTED,
)

from pyquic.core.frame_parser import parse_frames
from pyquic.core.frames import AckFrame, CryptoFrame, PaddingFrame, PingFrame
from pyquic.core.packet_header import LongHeader, ShortHeader, parse_header, reserved_bits_set
from pyquic.core.packet_protection import unprotect_packet
from pyquic.core.version import V1, PacketType
from pyquic.platform.crypto import CipherSuite, QuicPacketKeys


def test_rfc9001_a2_client_initial_receive_path() -> None:
    header = parse_header(CLIENT_PROTECTED, short_dcid_length=8)
    assert isinstance(header, LongHeader)
    assert header.packet_type is PacketType.INITIAL
    assert header.destination_cid == DCID
    assert header.packet_end == len(CLIENT_PROTECTED) == 1200
    _, server_receive = QuicPacketKeys.initial(V1, DCID, is_client=False)
    result = unprotect_packet(
        server_receive, CLIENT_PROTECTED[: header.packet_end], header.pn_offset, None
    )
    assert result is not None
    plain_header, packet_number, payload = result
    assert packet_number == 2
    assert not reserved_bits_set(plain_header[0])
    frames = parse_frames(payload, PacketType.INITIAL)
    assert isinstance(frames[0], CryptoFrame)
    assert frames[0].offset == 0
    assert frames[0].data[:4] == bytes.fromhex("010000ed")  # a ClientHello of 237 bytes
    assert frames[1:] == [PaddingFrame(1162 - 4 - len(frames[0].data))]


def test_rfc9001_a3_server_initial_receive_path() -> None:
    header = parse_header(SERVER_PROTECTED, short_dcid_length=8)
    assert isinstance(header, LongHeader)
    _, client_receive = QuicPacketKeys.initial(V1, DCID, is_client=True)
    result = unprotect_packet(
        client_receive, SERVER_PROTECTED[: header.packet_end], header.pn_offset, None
    )
    assert result is not None
    _, packet_number, payload = result
    assert packet_number == 1
    frames = parse_frames(payload, PacketType.INITIAL)
    assert frames[0] == AckFrame(ranges=((0, 0),), ack_delay=0)
    assert isinstance(frames[1], CryptoFrame)
    assert frames[1].data[:1] == b"\x02"  # ServerHello


def test_rfc9001_a5_chacha20_short_header_receive_path() -> None:
    header = parse_header(CHACHA_PACKET, short_dcid_length=0)
    assert isinstance(header, ShortHeader)
    keys = QuicPacketKeys.from_secret(CipherSuite.CHACHA20_POLY1305_SHA256, CHACHA_SECRET, V1)
    result = unprotect_packet(keys, CHACHA_PACKET, header.pn_offset, CHACHA_PN - 1)
    assert result is not None
    _, packet_number, payload = result
    assert packet_number == CHACHA_PN
    assert parse_frames(payload, PacketType.ONE_RTT) == [PingFrame()]
