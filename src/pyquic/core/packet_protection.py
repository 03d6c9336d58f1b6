"""Applying and removing QUIC packet protection: AEAD payload + header protection (RFC 9001 §5).

Design: protocol logic only.  The cryptography arrives through the
:class:`~pyquic.core.crypto_interface.PacketKeys` protocol (an AEAD that seals in place and a
header protection object that turns a 16-byte sample into a 5-byte mask); this module decides what
is sampled and which header bits are masked.  Sending works in place on the caller's buffer in one
pass: seal the payload (RFC 9001 §5.3), then mask the header (RFC 9001 §5.4.1).  Receiving removes
header protection first to learn the packet number length and value, then opens the payload.

Receiving never raises on hostile input: a packet too short to sample, or that fails
authentication, yields ``None`` and is to be dropped (RFC 9001 §5.4.2, §5.5).  It does *not* check
the reserved bits: they are returned unmasked in the header's first byte (0x0c for long headers,
RFC 9000 §17.2; 0x18 for short headers, RFC 9000 §17.3.1), and the caller MUST treat non-zero
reserved bits in a packet that authenticated as a connection error of type PROTOCOL_VIOLATION.
Dropping such a packet after only removing header protection would open a side channel (RFC 9001
§9.5), which is why the check belongs after authentication, in the caller.
"""

from __future__ import annotations

from pyquic.core.crypto_interface import BytesLike, PacketKeys
from pyquic.core.packet_header import HEADER_FORM_BIT as LONG_HEADER_BIT
from pyquic.core.packet_header import PN_SAMPLE_OFFSET as SAMPLE_PN_OFFSET
from pyquic.core.packet_header import SAMPLE_LENGTH
from pyquic.core.packet_number import decode_packet_number

MAX_PN_LENGTH = 4  # RFC 9000 §17.1
LONG_HEADER_HP_MASK = 0x0F  # reserved bits + packet number length (RFC 9001 §5.4.1)
SHORT_HEADER_HP_MASK = 0x1F  # reserved bits + key phase + packet number length (RFC 9001 §5.4.1)


def min_payload_length(pn_length: int, tag_length: int = 16) -> int:
    """The fewest plaintext payload bytes that leave a full sample (RFC 9001 §5.4.2).

    The packet number plus the ciphertext must span at least 4 + 16 bytes, so with a 16-byte tag
    this is 4 - ``pn_length`` bytes (3 frames bytes for a 1-byte packet number).
    """
    return max(SAMPLE_PN_OFFSET + SAMPLE_LENGTH - tag_length - pn_length, 0)


def protect_packet(
    keys: PacketKeys,
    buf: bytearray,
    header_length: int,
    packet_number: int,
    pn_length: int,
    payload_length: int,
) -> int:
    """Protect one packet in place and return its total length.

    ``buf[:header_length]`` is the complete unprotected header, ending with the ``pn_length``-byte
    truncated Packet Number field (whose length is also in the first byte's low two bits); the
    ``payload_length`` plaintext bytes follow, then room for the AEAD tag.  The payload is sealed
    with the header as associated data (RFC 9001 §5.3), then the header is masked (RFC 9001 §5.4.1).
    Raises ``ValueError`` if the packet is too short to be sampled: the packet builder must pad
    (RFC 9001 §5.4.2).
    """
    if not 1 <= pn_length <= MAX_PN_LENGTH or (buf[0] & 0x03) + 1 != pn_length:
        raise ValueError(f"pn_length {pn_length} does not match the header's first byte")
    aead = keys.aead
    pn_offset = header_length - pn_length
    if pn_offset < 1:
        raise ValueError(f"a {header_length}-byte header cannot end in a {pn_length}-byte pn")
    sample_offset = pn_offset + SAMPLE_PN_OFFSET
    if sample_offset + SAMPLE_LENGTH > header_length + payload_length + aead.tag_length:
        raise ValueError("packet too short for a header protection sample; pad the payload")
    total = aead.seal_into(packet_number, buf, header_length, payload_length)
    # RFC 9001 §5.4.2: the sample starts 4 bytes after the start of the Packet Number field
    mask = keys.header_protection.mask(buf[sample_offset : sample_offset + SAMPLE_LENGTH])
    first = buf[0]
    # RFC 9001 §5.4.1: 4 low bits of a long header's first byte, 5 of a short header's
    hp_bits = LONG_HEADER_HP_MASK if first & LONG_HEADER_BIT else SHORT_HEADER_HP_MASK
    buf[0] = first ^ (mask[0] & hp_bits)
    for i in range(pn_length):  # a byte loop beats int round trips for 1-4 bytes
        buf[pn_offset + i] ^= mask[1 + i]
    return total


def unprotect_packet(
    keys: PacketKeys,
    packet: BytesLike,
    pn_offset: int,
    largest_pn: int | None,
    *,
    mask: bytes | None = None,
) -> tuple[bytes, int, bytes] | None:
    """Remove protection from one packet: (unprotected header, packet number, payload) or ``None``.

    ``packet`` is exactly one QUIC packet: for a long header up to the end of its Length field's
    extent, for a short header the rest of the datagram.  ``pn_offset`` is where its Packet Number
    field starts; ``largest_pn`` is the largest packet number successfully processed in this packet
    number space (``None`` before any), used to expand the truncated number (RFC 9000 §17.1).

    Returns ``None``, never raises, when the packet is too short to sample (RFC 9001 §5.4.2) or
    fails authentication (RFC 9001 §5.5).  The returned header's first byte is unmasked, reserved
    bits included: checking them is the caller's job (see the module docstring).
    """
    sample_offset = pn_offset + SAMPLE_PN_OFFSET
    if pn_offset < 1 or len(packet) < sample_offset + SAMPLE_LENGTH:
        return None
    if mask is None:  # ``mask``: the caller already computed it from this packet's sample
        mask = keys.header_protection.mask(packet[sample_offset : sample_offset + SAMPLE_LENGTH])
    first = packet[0]
    # RFC 9001 §5.4.1: unmask the first byte to learn the packet number length
    hp_bits = LONG_HEADER_HP_MASK if first & LONG_HEADER_BIT else SHORT_HEADER_HP_MASK
    first ^= mask[0] & hp_bits
    pn_length = (first & 0x03) + 1
    header_length = pn_offset + pn_length
    truncated = int.from_bytes(packet[pn_offset:header_length], "big") ^ int.from_bytes(
        mask[1 : 1 + pn_length], "big"
    )
    header = bytes((first,)) + packet[1:pn_offset] + truncated.to_bytes(pn_length, "big")
    packet_number = decode_packet_number(truncated, pn_length * 8, largest_pn)
    # RFC 9001 §5.3: the associated data is the unprotected header up to and including the pn;
    # the ciphertext (payload + tag) is passed as a view, not copied
    payload = keys.aead.open(packet_number, header, memoryview(packet)[header_length:])
    if payload is None:
        return None
    return header, packet_number, payload
