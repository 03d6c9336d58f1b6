"""Encryption levels and packet number spaces, and how they map to packet types.

RFC 9001 §4.1.4 (Table 1) maps encryption levels to packet types; RFC 9000 §12.3 groups them into
three packet number spaces: Initial, Handshake, and application data (0-RTT and 1-RTT share one).
"""

from __future__ import annotations

from enum import IntEnum

from pyquic.core.version import PacketType


class EncryptionLevel(IntEnum):
    """QUIC encryption levels (RFC 9001 §4.1.4)."""

    INITIAL = 0
    EARLY_DATA = 1  # 0-RTT: keys only, no TLS messages
    HANDSHAKE = 2
    APPLICATION = 3  # 1-RTT


class PacketSpace(IntEnum):
    """Packet number spaces (RFC 9000 §12.3)."""

    INITIAL = 0
    HANDSHAKE = 1
    APPLICATION = 2


SPACE_OF_LEVEL: dict[EncryptionLevel, PacketSpace] = {
    EncryptionLevel.INITIAL: PacketSpace.INITIAL,
    EncryptionLevel.EARLY_DATA: PacketSpace.APPLICATION,
    EncryptionLevel.HANDSHAKE: PacketSpace.HANDSHAKE,
    EncryptionLevel.APPLICATION: PacketSpace.APPLICATION,
}

LEVEL_OF_PACKET_TYPE: dict[PacketType, EncryptionLevel] = {
    PacketType.INITIAL: EncryptionLevel.INITIAL,
    PacketType.ZERO_RTT: EncryptionLevel.EARLY_DATA,
    PacketType.HANDSHAKE: EncryptionLevel.HANDSHAKE,
    PacketType.ONE_RTT: EncryptionLevel.APPLICATION,
}

PACKET_TYPE_OF_LEVEL: dict[EncryptionLevel, PacketType] = {
    level: ptype for ptype, level in LEVEL_OF_PACKET_TYPE.items()
}
