"""QUIC versions and what differs between them, as data.

One :class:`VersionInfo` per supported version holds every version-specific constant: the long
header packet type codes (RFC 9000 §17.2, RFC 9369 §3.2), the Initial salt (RFC 9001 §5.2, RFC
9369 §3.3.1), the HKDF label prefix (RFC 9369 §3.3.2) and the Retry integrity key and nonce (RFC
9001 §5.8, RFC 9369 §3.3.3). Code asks the table; nothing branches on a version number
elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class PacketType(IntEnum):
    """Packet types, independent of the version's wire codes."""

    INITIAL = 0
    ZERO_RTT = 1
    HANDSHAKE = 2
    RETRY = 3
    ONE_RTT = 4
    VERSION_NEGOTIATION = 5


QUIC_V1 = 0x00000001
QUIC_V2 = 0x6B3343CF  # RFC 9369 §3.1


@dataclass(frozen=True, slots=True)
class VersionInfo:
    number: int
    name: str
    # long header type bits (the two bits after the fixed bit) for each long packet type
    type_to_bits: dict[PacketType, int]
    initial_salt: bytes
    label_prefix: bytes  # "quic " (v1) or "quicv2 " (v2), RFC 9369 §3.3.2
    retry_key: bytes
    retry_nonce: bytes

    def bits_to_type(self, bits: int) -> PacketType:
        return _BITS_TO_TYPE[self.number][bits]


V1 = VersionInfo(
    number=QUIC_V1,
    name="v1",
    # RFC 9000 §17.2, Table 5
    type_to_bits={
        PacketType.INITIAL: 0b00,
        PacketType.ZERO_RTT: 0b01,
        PacketType.HANDSHAKE: 0b10,
        PacketType.RETRY: 0b11,
    },
    initial_salt=bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a"),  # RFC 9001 §5.2
    label_prefix=b"quic ",
    retry_key=bytes.fromhex("be0c690b9f66575a1d766b54e368c84e"),  # RFC 9001 §5.8
    retry_nonce=bytes.fromhex("461599d35d632bf2239825bb"),
)

V2 = VersionInfo(
    number=QUIC_V2,
    name="v2",
    # RFC 9369 §3.2
    type_to_bits={
        PacketType.INITIAL: 0b01,
        PacketType.ZERO_RTT: 0b10,
        PacketType.HANDSHAKE: 0b11,
        PacketType.RETRY: 0b00,
    },
    initial_salt=bytes.fromhex("0dede3def700a6db819381be6e269dcbf9bd2ed9"),  # RFC 9369 §3.3.1
    label_prefix=b"quicv2 ",
    retry_key=bytes.fromhex("8fb4b01b56ac48e260fbcbcead7ccc92"),  # RFC 9369 §3.3.3
    retry_nonce=bytes.fromhex("d86969bc2d7c6d9990efb04a"),
)

SUPPORTED_VERSIONS: dict[int, VersionInfo] = {QUIC_V1: V1, QUIC_V2: V2}

_BITS_TO_TYPE: dict[int, dict[int, PacketType]] = {
    info.number: {bits: t for t, bits in info.type_to_bits.items()}
    for info in SUPPORTED_VERSIONS.values()
}


def version_info(number: int) -> VersionInfo | None:
    """The table entry for a supported version, or ``None``."""
    return SUPPORTED_VERSIONS.get(number)


def is_reserved_version(number: int) -> bool:
    """Versions of the form 0x?a?a?a?a are reserved to exercise negotiation (RFC 9000 §15)."""
    return number & 0x0F0F0F0F == 0x0A0A0A0A
