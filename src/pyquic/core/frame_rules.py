"""Which packets may carry each frame type, and what each frame type counts as.

This is the one copy of RFC 9000 §12.4 Table 3, extended with DATAGRAM (RFC 9221 §4) and the
ack-frequency frames (draft-ietf-quic-ack-frequency).  Rows are written with the RFC's own
notation (a "Pkts" string such as ``"IH_1"`` and a "Spec" string such as ``"NC"``) so the table
can be checked against the RFC by eye; every other answer (per-packet-type sets, ack-eliciting
sets) is derived from it once at import time, so lookups on the receive path are one set
membership test.

Properties (RFC 9000 §12.4 "Spec" column):

* N: not ack-eliciting (§13.2): ACK, PADDING, CONNECTION_CLOSE;
* C: packets holding only such frames do not count toward bytes in flight: ACK;
* P: probing frame (§9.1): PADDING, NEW_CONNECTION_ID, PATH_CHALLENGE, PATH_RESPONSE;
* F: flow controlled (§4): STREAM.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.core.frames import AckFrame, ConnectionCloseFrame, FrameType, PaddingFrame
from pyquic.core.version import PacketType

_PKTS_LETTERS = {
    "I": PacketType.INITIAL,
    "H": PacketType.HANDSHAKE,
    "0": PacketType.ZERO_RTT,
    "1": PacketType.ONE_RTT,
}


@dataclass(frozen=True, slots=True)
class FrameRule:
    """One row of Table 3: the packet types allowed to carry a frame type and its properties."""

    packet_types: frozenset[PacketType]
    ack_eliciting: bool  # not "N"
    congestion_controlled: bool  # not "C"
    probing: bool  # "P"
    flow_controlled: bool  # "F"


def _row(pkts: str, spec: str = "") -> FrameRule:
    """A rule from the RFC's notation: Pkts positions I, H, 0, 1 ('_' = not allowed)."""
    positions_ok = len(pkts) == 4 and all(c in (p, "_") for p, c in zip("IH01", pkts, strict=True))
    if not positions_ok or any(c not in "NCPF" for c in spec):
        raise ValueError(f"bad Table 3 row {pkts!r} {spec!r}")
    return FrameRule(
        packet_types=frozenset(_PKTS_LETTERS[c] for c in pkts if c != "_"),
        ack_eliciting="N" not in spec,
        congestion_controlled="C" not in spec,
        probing="P" in spec,
        flow_controlled="F" in spec,
    )


_T = FrameType
_STREAM_TYPES = range(_T.STREAM, _T.STREAM_OFF_LEN_FIN + 1)

# RFC 9000 §12.4 Table 3 (the "ih" of CONNECTION_CLOSE expanded: only 0x1c may appear in Initial
# and Handshake packets, §12.5, §19.19).
_TABLE: dict[int, FrameRule] = {
    _T.PADDING: _row("IH01", "NP"),
    _T.PING: _row("IH01"),
    _T.ACK: _row("IH_1", "NC"),
    _T.ACK_ECN: _row("IH_1", "NC"),
    _T.RESET_STREAM: _row("__01"),
    _T.STOP_SENDING: _row("__01"),
    _T.CRYPTO: _row("IH_1"),
    _T.NEW_TOKEN: _row("___1"),
    **{t: _row("__01", "F") for t in _STREAM_TYPES},
    _T.MAX_DATA: _row("__01"),
    _T.MAX_STREAM_DATA: _row("__01"),
    _T.MAX_STREAMS_BIDI: _row("__01"),
    _T.MAX_STREAMS_UNI: _row("__01"),
    _T.DATA_BLOCKED: _row("__01"),
    _T.STREAM_DATA_BLOCKED: _row("__01"),
    _T.STREAMS_BLOCKED_BIDI: _row("__01"),
    _T.STREAMS_BLOCKED_UNI: _row("__01"),
    _T.NEW_CONNECTION_ID: _row("__01", "P"),
    # §12.5 notes RETIRE_CONNECTION_ID cannot be sent in 0-RTT but only says a server MAY refuse
    # it there; Table 3 (followed here) allows it.
    _T.RETIRE_CONNECTION_ID: _row("__01"),
    _T.PATH_CHALLENGE: _row("__01", "P"),
    _T.PATH_RESPONSE: _row("___1", "P"),
    _T.CONNECTION_CLOSE: _row("IH01", "N"),
    _T.CONNECTION_CLOSE_APPLICATION: _row("__01", "N"),
    _T.HANDSHAKE_DONE: _row("___1"),
    # RFC 9221 §4, §5: 0-RTT or 1-RTT only; ack-eliciting (§5.2), congestion controlled (§5.4),
    # not flow controlled (§5.3).
    _T.DATAGRAM: _row("__01"),
    _T.DATAGRAM_LEN: _row("__01"),
    # draft-ietf-quic-ack-frequency §3: never in 0-RTT; like other non-handshake frames only in
    # the application data space (RFC 9000 §12.5).  §4, §5: ack-eliciting, congestion controlled.
    _T.ACK_FREQUENCY: _row("___1"),
    _T.IMMEDIATE_ACK: _row("___1"),
}

FRAME_RULES: Mapping[int, FrameRule] = MappingProxyType(_TABLE)

ALLOWED_FRAME_TYPES: Mapping[PacketType, frozenset[int]] = MappingProxyType(
    {
        packet_type: frozenset(t for t, rule in _TABLE.items() if packet_type in rule.packet_types)
        for packet_type in PacketType
    }
)
ACK_ELICITING_FRAME_TYPES = frozenset(t for t, rule in _TABLE.items() if rule.ack_eliciting)
# The same rule by parsed frame class, for the receive path (a type test per frame is cheaper
# than its wire_type): the classes of the types above that are not ack-eliciting.
NON_ACK_ELICITING_FRAME_CLASSES: frozenset[type] = frozenset(
    (PaddingFrame, AckFrame, ConnectionCloseFrame)
)
PROBING_FRAME_TYPES = frozenset(t for t, rule in _TABLE.items() if rule.probing)
FLOW_CONTROLLED_FRAME_TYPES = frozenset(t for t, rule in _TABLE.items() if rule.flow_controlled)
NOT_CONGESTION_CONTROLLED_FRAME_TYPES = frozenset(
    t for t, rule in _TABLE.items() if not rule.congestion_controlled
)


def frame_rule(frame_type: int) -> FrameRule:
    """The Table 3 row of ``frame_type``; an unknown type is FRAME_ENCODING_ERROR (§12.4)."""
    rule = _TABLE.get(frame_type)
    if rule is None:
        raise QuicError(
            TransportErrorCode.FRAME_ENCODING_ERROR,
            f"unknown frame type {frame_type:#x}",
            frame_type=frame_type,
        )
    return rule


def check_frame_allowed(frame_type: int, packet_type: PacketType) -> None:
    """Raise PROTOCOL_VIOLATION if ``packet_type`` may not carry ``frame_type`` (§12.4).

    Retry and Version Negotiation packets carry no frames, so every frame type is refused for
    them.  An unknown frame type is FRAME_ENCODING_ERROR (§12.4).
    """
    if frame_type in ALLOWED_FRAME_TYPES[packet_type]:
        return
    frame_rule(frame_type)  # unknown type -> FRAME_ENCODING_ERROR
    raise QuicError(
        TransportErrorCode.PROTOCOL_VIOLATION,
        f"frame type {frame_type:#x} is not allowed in a {packet_type.name} packet",
        frame_type=frame_type,
    )


def is_ack_eliciting(frame_types: Iterable[int]) -> bool:
    """Whether a packet holding these frame types is ack-eliciting (RFC 9000 §13.2, RFC 9002 §2).

    Use on a parsed packet as ``is_ack_eliciting(f.wire_type for f in frames)``.
    """
    return not ACK_ELICITING_FRAME_TYPES.isdisjoint(frame_types)


def is_in_flight(frame_types: Iterable[int]) -> bool:
    """Whether a sent packet with these frames counts toward bytes in flight (RFC 9002 §2).

    RFC 9002 §2 defines in-flight packets as those that are ack-eliciting or contain PADDING; this
    is stricter than Table 3's "C" marking alone, which exempts only ACK-only packets (a packet of
    only CONNECTION_CLOSE is not in flight either).
    """
    for frame_type in frame_types:
        if frame_type in ACK_ELICITING_FRAME_TYPES or frame_type == FrameType.PADDING:
            return True
    return False


def is_probing_only(frame_types: Iterable[int]) -> bool:
    """Whether a packet holding these frame types is a probing packet (RFC 9000 §9.1).

    A packet with no frames is not a probing packet.
    """
    seen = False
    for frame_type in frame_types:
        if frame_type not in PROBING_FRAME_TYPES:
            return False
        seen = True
    return seen


def is_flow_controlled(frame_type: int) -> bool:
    """Whether the contents of a frame of this type count toward flow control (RFC 9000 §4)."""
    return frame_type in FLOW_CONTROLLED_FRAME_TYPES
