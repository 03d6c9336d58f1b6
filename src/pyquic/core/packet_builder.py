"""Turning a packet's frames into protected bytes, and planning packet sizes.

Design: the send path decides *what* goes into each packet (frames regenerated from state);
this module only knows *how* a packet is laid out: the header for its type (RFC 9000 §17.2,
§17.3), the packet number truncated against the largest acknowledged (RFC 9000 §17.1), the Length
field of long headers written as a 2-byte varint so the header size is known before the payload
(RFC 9000 §16 allows a non-minimal encoding), padding so header protection can sample (RFC 9001
§5.4.2) or so a datagram reaches a minimum size (RFC 9000 §14.1), then protection in one pass
(RFC 9001 §5).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyquic.core.crypto_interface import PacketKeys
from pyquic.core.packet_header import encode_long_header, encode_short_header
from pyquic.core.packet_number import packet_number_length
from pyquic.core.packet_protection import min_payload_length, protect_packet
from pyquic.core.varint import varint_size
from pyquic.core.version import PacketType, VersionInfo

AEAD_TAG_LENGTH = 16  # every QUIC v1/v2 AEAD (RFC 9001 §5.3)
LENGTH_FIELD_SIZE = 2  # long header Length as a 2-byte varint: up to 16383 bytes
MIN_INITIAL_DATAGRAM_SIZE = 1200  # RFC 9000 §14.1
MIN_ONE_RTT_PN_LENGTH = 2  # bytes; see plan_packet


@dataclass(frozen=True, slots=True)
class PacketPlan:
    """Where a packet starts and how much room its frames have."""

    packet_type: PacketType
    packet_number: int
    pn_length: int
    header_length: int
    max_payload: int  # frame bytes that fit, tag excluded


def plan_packet(
    packet_type: PacketType,
    *,
    destination_cid: bytes,
    source_cid: bytes,
    token: bytes,
    packet_number: int,
    largest_acked: int | None,
    space_left: int,
) -> PacketPlan | None:
    """Lay out a packet that must fit in ``space_left`` bytes; ``None`` if no frame fits."""
    pn_length = packet_number_length(packet_number, largest_acked)
    if packet_type is PacketType.ONE_RTT:
        # RFC 9000 §17.1 sizes the field by the unacknowledged range only, so a packet sent while
        # little was in flight, then delayed behind a burst of newer ones, decodes wrongly and
        # is dropped; a floor of 2 bytes tolerates 32768 packets of reordering (MsQuic always
        # sends 4)
        pn_length = max(pn_length, MIN_ONE_RTT_PN_LENGTH)
        header_length = 1 + len(destination_cid) + pn_length
    else:
        header_length = 7 + len(destination_cid) + len(source_cid) + pn_length
        header_length += LENGTH_FIELD_SIZE
        if packet_type is PacketType.INITIAL:
            header_length += varint_size(len(token)) + len(token)
    max_payload = space_left - header_length - AEAD_TAG_LENGTH
    if max_payload < max(min_payload_length(pn_length), 1):
        return None
    return PacketPlan(packet_type, packet_number, pn_length, header_length, max_payload)


def seal_packet(
    plan: PacketPlan,
    keys: PacketKeys,
    version: VersionInfo,
    payload: bytes | bytearray,
    *,
    destination_cid: bytes,
    source_cid: bytes,
    token: bytes = b"",
    key_phase: int = 0,
    spin: int = 0,
    pad_to: int = 0,
) -> bytes:
    """The protected packet: header, ``payload`` (+ PADDING), tag; at least ``pad_to`` bytes.

    Padding is zero bytes, i.e. PADDING frames (RFC 9000 §19.1), appended to the payload.
    """
    minimum = max(
        min_payload_length(plan.pn_length),
        pad_to - plan.header_length - AEAD_TAG_LENGTH,
    )
    padding = max(minimum - len(payload), 0)
    payload_length = len(payload) + padding
    if payload_length > plan.max_payload:
        raise ValueError(f"payload of {payload_length} bytes exceeds the plan's {plan.max_payload}")
    if plan.packet_type is PacketType.ONE_RTT:
        header = encode_short_header(
            destination_cid,
            packet_number=plan.packet_number,
            pn_length=plan.pn_length,
            key_phase=key_phase,
            spin=spin,
        )
    else:
        header = encode_long_header(
            version,
            plan.packet_type,
            destination_cid,
            source_cid,
            packet_number=plan.packet_number,
            pn_length=plan.pn_length,
            payload_length=payload_length + AEAD_TAG_LENGTH,
            token=token,
            length_field_size=LENGTH_FIELD_SIZE,
        )
    buf = bytearray(header)
    buf += payload
    if padding:
        buf += bytes(padding)
    buf += bytes(AEAD_TAG_LENGTH)
    total = protect_packet(
        keys, buf, len(header), plan.packet_number, plan.pn_length, payload_length
    )
    return bytes(buf[:total])
