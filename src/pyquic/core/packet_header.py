"""Packet headers: parse and build long and short headers, Retry and Version Negotiation packets.

Pure codecs over the header *as seen before header protection is removed*: a parsed header says
where the packet number starts (``pn_offset``) and where the packet ends in its datagram
(``packet_end``), which is all that packet protection (RFC 9001 §5.4) and the coalescing walk
(RFC 9000 §12.2) need.  The protected bits (reserved bits, key phase, packet number length) are read
after protection is removed, by :func:`unprotected_pn_length` and friends.

Version-specific type codes come from :mod:`pyquic.core.version` (RFC 9000 §17.2, RFC 9369 §3.2).
A header that cannot be parsed raises :class:`QuicError` with PROTOCOL_VIOLATION; the endpoint drops
such a packet (RFC 9000 §12.2, §17.2) rather than closing a connection for it.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pyquic.core.buffer import BytesLike, Reader
from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.core.packet_number import encode_packet_number
from pyquic.core.varint import encode_varint, varint_size
from pyquic.core.version import PacketType, VersionInfo, version_info

MAX_CID_LENGTH = 20  # RFC 9000 §17.2: v1 connection IDs are at most 20 bytes
MAX_INVARIANT_CID_LENGTH = 255  # RFC 8999 §5.1: other versions may use up to 255
RETRY_INTEGRITY_TAG_LENGTH = 16  # RFC 9001 §5.8
STATELESS_RESET_TOKEN_LENGTH = 16  # RFC 9000 §10.3
MIN_STATELESS_RESET_LENGTH = 21  # RFC 9000 §10.3: 5 unpredictable bytes + 16-byte token
PN_SAMPLE_OFFSET = 4  # RFC 9001 §5.4.2: sample starts 4 bytes after the packet number offset
SAMPLE_LENGTH = 16

HEADER_FORM_BIT = 0x80  # RFC 9000 §17.2 / §17.3
FIXED_BIT = 0x40
LONG_RESERVED_BITS = 0x0C  # RFC 9000 §17.2
SHORT_RESERVED_BITS = 0x18  # RFC 9000 §17.3.1
SPIN_BIT = 0x20
KEY_PHASE_BIT = 0x04
PN_LENGTH_BITS = 0x03

_PV = TransportErrorCode.PROTOCOL_VIOLATION


@dataclass(frozen=True, slots=True)
class LongHeader:
    """An Initial, 0-RTT or Handshake packet's header (RFC 9000 §17.2.2-§17.2.4)."""

    packet_type: PacketType
    version: int
    first_byte: int  # still header-protected
    destination_cid: bytes
    source_cid: bytes
    token: bytes  # Initial only (RFC 9000 §17.2.2); empty otherwise
    pn_offset: int  # offset of the packet number in the datagram
    packet_end: int  # offset one past this packet's last byte in the datagram
    packet_start: int = 0  # offset of the packet's first byte in the datagram


@dataclass(frozen=True, slots=True)
class ShortHeader:
    """A 1-RTT packet's header (RFC 9000 §17.3.1); it runs to the end of the datagram."""

    first_byte: int  # still header-protected
    destination_cid: bytes
    pn_offset: int
    packet_end: int
    packet_start: int = 0


@dataclass(frozen=True, slots=True)
class RetryPacket:
    """A Retry packet (RFC 9000 §17.2.5); the integrity tag is checked by the crypto layer."""

    version: int
    destination_cid: bytes
    source_cid: bytes
    token: bytes
    integrity_tag: bytes
    packet_start: int
    packet_end: int


@dataclass(frozen=True, slots=True)
class VersionNegotiationPacket:
    """A Version Negotiation packet (RFC 9000 §17.2.1)."""

    destination_cid: bytes
    source_cid: bytes
    supported_versions: tuple[int, ...]
    packet_end: int


@dataclass(frozen=True, slots=True)
class UnsupportedVersionHeader:
    """A long header of a version we do not speak: only the invariant fields (RFC 8999 §5.1).

    A server answers it with Version Negotiation (RFC 9000 §6.1); it extends to the datagram's end.
    """

    version: int
    destination_cid: bytes
    source_cid: bytes
    packet_end: int


PacketHeader = (
    LongHeader | ShortHeader | RetryPacket | VersionNegotiationPacket | UnsupportedVersionHeader
)


def is_long_header(first_byte: int) -> bool:
    return bool(first_byte & HEADER_FORM_BIT)


def _pull_cid(reader: Reader, limit: int) -> bytes:
    length = reader.pull_uint8()
    if length > limit:
        # RFC 9000 §17.2: a v1 long header with a CID longer than 20 bytes is dropped
        raise QuicError(_PV, f"connection ID of {length} bytes exceeds {limit}")
    return reader.pull_bytes(length)


def parse_header(
    data: BytesLike, offset: int = 0, *, short_dcid_length: int, require_fixed_bit: bool = True
) -> PacketHeader:
    """Parse the header of the packet starting at ``data[offset]``.

    ``short_dcid_length`` is the length of the connection IDs this endpoint issues: a short header
    carries no length (RFC 9000 §17.3.1).  ``require_fixed_bit=False`` accepts a cleared fixed bit,
    for a connection that negotiated grease_quic_bit (RFC 9287 §3).
    """
    reader = Reader(data, _PV, offset)
    first = reader.pull_uint8()
    if not first & HEADER_FORM_BIT:
        if require_fixed_bit and not first & FIXED_BIT:
            raise QuicError(_PV, "short header with the fixed bit cleared")  # RFC 9000 §17.3.1
        dcid = reader.pull_bytes(short_dcid_length)
        return ShortHeader(first, dcid, reader.position, len(data), offset)
    version = reader.pull_uint32()
    if version == 0:
        return _parse_version_negotiation(reader, len(data))
    info = version_info(version)
    if info is None:
        dcid = _pull_cid(reader, MAX_INVARIANT_CID_LENGTH)
        scid = _pull_cid(reader, MAX_INVARIANT_CID_LENGTH)
        return UnsupportedVersionHeader(version, dcid, scid, len(data))
    if require_fixed_bit and not first & FIXED_BIT:
        raise QuicError(_PV, "long header with the fixed bit cleared")  # RFC 9000 §17.2
    dcid = _pull_cid(reader, MAX_CID_LENGTH)
    scid = _pull_cid(reader, MAX_CID_LENGTH)
    packet_type = info.bits_to_type((first >> 4) & 0x03)
    if packet_type is PacketType.RETRY:
        return _parse_retry(reader, offset, version, dcid, scid, len(data))
    token = b""
    if packet_type is PacketType.INITIAL:
        token = reader.pull_bytes(reader.pull_varint())  # RFC 9000 §17.2.2
    length = reader.pull_varint()  # RFC 9000 §17.2: packet number + payload
    pn_offset = reader.position
    if length > reader.remaining():
        raise QuicError(_PV, f"Length {length} runs past the datagram end")
    if length < PN_SAMPLE_OFFSET + SAMPLE_LENGTH:
        # RFC 9001 §5.4.2: too short to sample for header protection, never valid
        raise QuicError(_PV, f"Length {length} too short for a protected packet")
    return LongHeader(
        packet_type, version, first, dcid, scid, token, pn_offset, pn_offset + length, offset
    )


def _parse_version_negotiation(reader: Reader, end: int) -> VersionNegotiationPacket:
    dcid = _pull_cid(reader, MAX_INVARIANT_CID_LENGTH)
    scid = _pull_cid(reader, MAX_INVARIANT_CID_LENGTH)
    if reader.remaining() % 4 or reader.eof():
        # RFC 9000 §17.2.1: a list of 32-bit versions; an empty one is not a valid VN packet
        raise QuicError(_PV, "Version Negotiation list is empty or not a multiple of 4 bytes")
    versions = tuple(reader.pull_uint32() for _ in range(reader.remaining() // 4))
    return VersionNegotiationPacket(dcid, scid, versions, end)


def _parse_retry(
    reader: Reader, start: int, version: int, dcid: bytes, scid: bytes, end: int
) -> RetryPacket:
    token_length = reader.remaining() - RETRY_INTEGRITY_TAG_LENGTH
    if token_length <= 0:
        # RFC 9000 §17.2.5.2: a client MUST discard a Retry with a zero-length token
        raise QuicError(_PV, "Retry packet without a token")
    token = reader.pull_bytes(token_length)
    tag = reader.pull_bytes(RETRY_INTEGRITY_TAG_LENGTH)
    return RetryPacket(version, dcid, scid, token, tag, start, end)


def iter_packets(
    datagram: BytesLike, *, short_dcid_length: int, require_fixed_bit: bool = True
) -> Iterator[PacketHeader]:
    """Walk the packets coalesced in one datagram (RFC 9000 §12.2).

    Yields each header in turn; a short header, Retry, Version Negotiation or unknown-version
    packet ends the walk, since each of them extends to the datagram's end.  An error in a later
    packet is raised when that packet is reached, after the earlier ones were yielded, so the
    caller keeps what it already processed (RFC 9000 §12.2: drop only the bad packet and after).
    """
    offset = 0
    end = len(datagram)
    while offset < end:
        header = parse_header(
            datagram,
            offset,
            short_dcid_length=short_dcid_length,
            require_fixed_bit=require_fixed_bit,
        )
        yield header
        if not isinstance(header, LongHeader):
            return
        offset = header.packet_end


def unprotected_pn_length(first_byte: int) -> int:
    """Packet number length (1-4) from an unprotected first byte (RFC 9000 §17.2, §17.3.1)."""
    return (first_byte & PN_LENGTH_BITS) + 1


def reserved_bits_set(first_byte: int) -> bool:
    """Reserved bits non-zero after removing protection: PROTOCOL_VIOLATION (RFC 9000 §17.2)."""
    mask = LONG_RESERVED_BITS if first_byte & HEADER_FORM_BIT else SHORT_RESERVED_BITS
    return bool(first_byte & mask)


def key_phase(first_byte: int) -> int:
    """The Key Phase bit of an unprotected short header (RFC 9000 §17.3.1, RFC 9001 §6)."""
    return (first_byte & KEY_PHASE_BIT) >> 2


def spin_bit(first_byte: int) -> int:
    """The latency spin bit of a short header (RFC 9000 §17.4)."""
    return (first_byte & SPIN_BIT) >> 5


def encode_long_header(
    version: VersionInfo,
    packet_type: PacketType,
    destination_cid: bytes,
    source_cid: bytes,
    *,
    packet_number: int,
    pn_length: int,
    payload_length: int,
    token: bytes = b"",
    length_field_size: int | None = None,
    fixed_bit: bool = True,
) -> bytes:
    """An unprotected long header ending with the truncated packet number.

    ``payload_length`` counts everything after the packet number, AEAD tag included; the Length
    field (RFC 9000 §17.2) covers the packet number plus that.  ``length_field_size`` forces a wider
    varint so a builder can patch the Length in place later.
    """
    if packet_type not in version.type_to_bits or packet_type is PacketType.RETRY:
        raise ValueError(f"{packet_type.name} is not a long header packet with a packet number")
    if not 1 <= pn_length <= 4:
        raise ValueError(f"packet number length must be 1..4, got {pn_length}")
    _check_cid(destination_cid)
    _check_cid(source_cid)
    if token and packet_type is not PacketType.INITIAL:
        raise ValueError("only Initial packets carry a token")  # RFC 9000 §17.2.2
    first = (
        HEADER_FORM_BIT
        | (FIXED_BIT if fixed_bit else 0)
        | (version.type_to_bits[packet_type] << 4)
        | (pn_length - 1)
    )
    out = bytearray((first,))
    out += version.number.to_bytes(4, "big")
    out.append(len(destination_cid))
    out += destination_cid
    out.append(len(source_cid))
    out += source_cid
    if packet_type is PacketType.INITIAL:
        out += encode_varint(len(token))
        out += token
    out += encode_varint(pn_length + payload_length, length_field_size)
    out += encode_packet_number(packet_number, pn_length)
    return bytes(out)


def long_header_size(
    packet_type: PacketType,
    destination_cid: bytes,
    source_cid: bytes,
    *,
    pn_length: int,
    payload_length: int,
    token: bytes = b"",
) -> int:
    """The size :func:`encode_long_header` will produce, for packet-size planning."""
    size = 7 + len(destination_cid) + len(source_cid) + pn_length
    if packet_type is PacketType.INITIAL:
        size += varint_size(len(token)) + len(token)
    return size + varint_size(pn_length + payload_length)


def encode_short_header(
    destination_cid: bytes,
    *,
    packet_number: int,
    pn_length: int,
    key_phase: int = 0,
    spin: int = 0,
    fixed_bit: bool = True,
) -> bytes:
    """An unprotected 1-RTT header (RFC 9000 §17.3.1)."""
    if not 1 <= pn_length <= 4:
        raise ValueError(f"packet number length must be 1..4, got {pn_length}")
    _check_cid(destination_cid)
    first = (
        (FIXED_BIT if fixed_bit else 0)
        | (SPIN_BIT if spin else 0)
        | (KEY_PHASE_BIT if key_phase else 0)
        | (pn_length - 1)
    )
    return bytes((first,)) + destination_cid + encode_packet_number(packet_number, pn_length)


def encode_retry_without_tag(
    version: VersionInfo,
    destination_cid: bytes,
    source_cid: bytes,
    token: bytes,
    *,
    unused: int = 0,
) -> bytes:
    """A Retry packet up to its integrity tag (RFC 9000 §17.2.5); ``unused`` fills the low 4 bits.

    The crypto layer computes the tag over the Retry pseudo-packet (RFC 9001 §5.8) and appends it.
    """
    if not token:
        raise ValueError("a Retry packet must carry a non-empty token")  # RFC 9000 §17.2.5.1
    _check_cid(destination_cid)
    _check_cid(source_cid)
    first = (
        HEADER_FORM_BIT
        | FIXED_BIT
        | (version.type_to_bits[PacketType.RETRY] << 4)
        | (unused & 0x0F)
    )
    return (
        bytes((first,))
        + version.number.to_bytes(4, "big")
        + bytes((len(destination_cid),))
        + destination_cid
        + bytes((len(source_cid),))
        + source_cid
        + token
    )


def encode_version_negotiation(
    destination_cid: bytes, source_cid: bytes, versions: Iterable[int], *, unused: int = 0
) -> bytes:
    """A Version Negotiation packet (RFC 9000 §17.2.1).

    The CIDs echo the client's packet with source and destination swapped (RFC 9000 §6.1);
    ``unused`` supplies the 7 unused bits, which the server sets to a random value (injected).
    """
    listed = tuple(versions)
    if not listed:
        raise ValueError("a Version Negotiation packet lists at least one version")
    for cid in (destination_cid, source_cid):
        if len(cid) > MAX_INVARIANT_CID_LENGTH:
            raise ValueError(f"connection ID of {len(cid)} bytes exceeds 255")
    out = bytearray((HEADER_FORM_BIT | (unused & 0x7F),))
    out += b"\x00\x00\x00\x00"
    out.append(len(destination_cid))
    out += destination_cid
    out.append(len(source_cid))
    out += source_cid
    for v in listed:
        out += v.to_bytes(4, "big")
    return bytes(out)


def encode_stateless_reset(token: bytes, unpredictable: bytes) -> bytes:
    """A Stateless Reset (RFC 9000 §10.3): short-header form, random bytes, then the token.

    ``unpredictable`` is random filler of at least 5 bytes (its first byte's top bits are
    replaced by 0b01); the caller sizes it to stay under 3x the triggering packet (§10.3).
    """
    if len(token) != STATELESS_RESET_TOKEN_LENGTH:
        raise ValueError("a stateless reset token is 16 bytes")
    if len(unpredictable) < MIN_STATELESS_RESET_LENGTH - STATELESS_RESET_TOKEN_LENGTH:
        raise ValueError("a stateless reset needs at least 5 unpredictable bytes")
    first = (unpredictable[0] & 0x3F) | FIXED_BIT
    return bytes((first,)) + unpredictable[1:] + token


def stateless_reset_token_of(datagram: BytesLike) -> bytes | None:
    """The trailing 16 bytes a datagram would carry as a Stateless Reset, if long enough."""
    if len(datagram) < MIN_STATELESS_RESET_LENGTH:
        return None  # RFC 9000 §10.3: shorter datagrams are never valid resets
    return bytes(datagram[-STATELESS_RESET_TOKEN_LENGTH:])


def is_stateless_reset(datagram: BytesLike, tokens: Iterable[bytes]) -> bool:
    """Whether ``datagram`` ends with one of ``tokens`` (RFC 9000 §10.3.1).

    Each comparison is constant-time, and every token is compared, so timing reveals nothing
    about the tokens' values.
    """
    tail = stateless_reset_token_of(datagram)
    if tail is None:
        return False
    found = False
    for token in tokens:
        found |= hmac.compare_digest(tail, token)
    return found


def _check_cid(cid: bytes) -> None:
    if len(cid) > MAX_CID_LENGTH:
        raise ValueError(f"connection ID of {len(cid)} bytes exceeds {MAX_CID_LENGTH}")
