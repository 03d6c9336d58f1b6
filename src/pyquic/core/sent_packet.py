"""What we remember about a packet we sent, for loss recovery (RFC 9002 §A.1, §A.1.1).

Design: a packet is remembered by its number, space, send time, size, whether it is ack-eliciting
and in flight (the fields of RFC 9002 §A.1.1), plus the *records* of what it carried.  Records
describe data by position (stream/offset/length, CRYPTO level/offset/length) or are the small
control frames themselves; on loss the connection marks the described data or frame as needing
retransmission in its owning state, which regenerates a *new* frame from current state when the
next packet is built (RFC 9000 §13.3: information, not packets, is retransmitted).  Old packet
bytes are never kept.

``largest_acked`` remembers the Largest Acknowledged of the ACK frame the packet carried so that,
once the packet is acknowledged, the receiver can stop reporting older ranges (RFC 9000 §13.2.4).
``AckRecord`` carries the same number for code that walks ``records`` uniformly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

from pyquic.core.frames import (
    AckFrequencyFrame,
    DataBlockedFrame,
    DatagramFrame,
    HandshakeDoneFrame,
    MaxDataFrame,
    MaxStreamDataFrame,
    MaxStreamsFrame,
    NewConnectionIdFrame,
    NewTokenFrame,
    PathChallengeFrame,
    PathResponseFrame,
    PingFrame,
    ResetStreamFrame,
    RetireConnectionIdFrame,
    StopSendingFrame,
    StreamDataBlockedFrame,
    StreamsBlockedFrame,
)
from pyquic.core.levels import EncryptionLevel, PacketSpace
from pyquic.core.mtu_discovery import MtuProbeRecord


@dataclass(frozen=True, slots=True)
class StreamChunk:
    """``length`` bytes of stream ``stream_id`` at ``offset``; ``fin`` if the frame carried FIN."""

    stream_id: int
    offset: int
    length: int
    fin: bool


@dataclass(frozen=True, slots=True)
class CryptoChunk:
    """``length`` bytes of the CRYPTO stream of ``level`` at ``offset`` (RFC 9000 §19.6)."""

    level: EncryptionLevel
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class AckRecord:
    """The packet carried an ACK frame whose Largest Acknowledged was ``largest_acked``."""

    largest_acked: int


FrameRecord: TypeAlias = (
    StreamChunk
    | CryptoChunk
    | AckRecord
    | MaxDataFrame
    | MaxStreamDataFrame
    | MaxStreamsFrame
    | DataBlockedFrame
    | StreamDataBlockedFrame
    | StreamsBlockedFrame
    | ResetStreamFrame
    | StopSendingFrame
    | NewConnectionIdFrame
    | RetireConnectionIdFrame
    | NewTokenFrame
    | HandshakeDoneFrame
    | PingFrame
    | PathChallengeFrame
    | PathResponseFrame
    | DatagramFrame
    | AckFrequencyFrame
    | MtuProbeRecord
)


@dataclass(slots=True, eq=False)
class SentPacket:
    """One sent packet as loss recovery sees it (RFC 9002 §A.1.1).

    ``size_bytes`` counts the whole QUIC packet (header, frames, AEAD tag) but not UDP/IP overhead.
    ``in_flight`` is true for packets that count toward bytes in flight: those that are
    ack-eliciting or contain PADDING (RFC 9002 §2); a packet of only ACK frames is not in flight.
    Equality is identity: two sends are never the same packet.
    """

    packet_number: int
    space: PacketSpace
    time_sent_us: int
    size_bytes: int
    ack_eliciting: bool
    in_flight: bool
    records: list[FrameRecord] = field(default_factory=list)
    largest_acked: int | None = None  # Largest Acknowledged of our ACK frame in it (§13.2.4)
    is_probe: bool = False
    ecn: int = 0  # the IP ECN codepoint it was sent with (RFC 9000 §13.4.2)
    mtu_probe: bool = False  # a PMTU probe: its loss is no congestion signal (RFC 9000 §14.4)
