"""ECN marking and validation of one path (RFC 9000 §13.4, the sample algorithm of Appendix A.4).

Design: the path has one state, "testing", "unknown", "capable" or "failed" (Appendix A.4), plus
"disabled" when ECN is switched off by settings.  Packets are marked ECT(0) in "testing" and
"capable".  The testing period is :data:`TESTING_PACKETS` packets (RFC 9000 §13.4.2); the state then
becomes "unknown" (unmarked) until an ACK frame validates the counts, which makes it "capable".
Each ACK frame that advances the largest acknowledged packet number is validated against the
counts of the last one (RFC 9000 §13.4.2.1); a failure disables marking for good (§13.4.2.2).
Losing every marked packet also fails validation (§13.4.2).  The congestion response to an
increased ECN-CE count is loss detection's (RFC 9002 §7.1, §B.7).

The sender decides the codepoint per call to ``Connection.datagrams_to_send``: every datagram of
one batch carries :attr:`EcnValidator.codepoint` as read before the batch (the platform sets one
codepoint per send call).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import TYPE_CHECKING

from pyquic.core.frames import AckFrame, EcnCounts
from pyquic.core.levels import PacketSpace
from pyquic.core.sent_packet import SentPacket
from pyquic.core.statistics import ConnectionStatistics, EcnCodepoint

if TYPE_CHECKING:
    from pyquic.core.loss_detection import AckOutcome

__all__ = [
    "TESTING_PACKETS",
    "EcnState",
    "EcnValidator",
    "count_received",
    "on_ack_processed",
]

TESTING_PACKETS = 10  # RFC 9000 §13.4.2: "the first ten outgoing packets on a path"
_ECT0 = int(EcnCodepoint.ECT0)


_NO_COUNTS = EcnCounts(0, 0, 0)


class EcnState(Enum):
    """RFC 9000 Appendix A.4, plus DISABLED (ECN off by settings)."""

    DISABLED = "disabled"
    TESTING = "testing"
    UNKNOWN = "unknown"
    CAPABLE = "capable"
    FAILED = "failed"


class EcnValidator:
    """Which codepoint to send, and whether the peer's ECN counts are believable."""

    __slots__ = (
        "_marked_acked",
        "_marked_outstanding",
        "_peer_counts",
        "_sent_ect0",
        "_testing_sent",
        "failure_reason",
        "state",
    )

    def __init__(self, *, enabled: bool) -> None:
        self.state = EcnState.TESTING if enabled else EcnState.DISABLED
        self.failure_reason = ""
        self._testing_sent = 0
        self._marked_outstanding = 0  # ECT(0) packets neither acknowledged nor declared lost
        self._marked_acked = 0
        # per packet number space, indexed by PacketSpace (lists: a third of a dict's size)
        self._sent_ect0 = [0] * len(PacketSpace)
        self._peer_counts = [_NO_COUNTS] * len(PacketSpace)

    @property
    def codepoint(self) -> int:
        """The codepoint for the next datagrams: ECT(0) when testing or capable (Appendix A.4)."""
        if self.state in (EcnState.TESTING, EcnState.CAPABLE):
            return _ECT0
        return int(EcnCodepoint.NOT_ECT)

    def on_packet_sent(self, space: PacketSpace, ecn: int) -> None:
        if ecn != _ECT0:
            return
        self._sent_ect0[space] += 1
        self._marked_outstanding += 1
        if self.state is EcnState.TESTING:
            self._testing_sent += 1
            if self._testing_sent >= TESTING_PACKETS:
                self.state = EcnState.UNKNOWN  # Appendix A.4: the testing period ended

    def on_ack_received(
        self,
        space: PacketSpace,
        ack: AckFrame,
        newly_acked: Sequence[SentPacket],
        *,
        advances_largest: bool,
    ) -> None:
        """Validate the counts of an ACK frame against the packets it newly acknowledges."""
        marked = sum(1 for packet in newly_acked if packet.ecn == _ECT0)
        self._marked_outstanding -= marked
        self._marked_acked += marked
        if self.state in (EcnState.DISABLED, EcnState.FAILED):
            return
        if not advances_largest:
            return  # RFC 9000 §13.4.2.1: never fail on a reordered ACK frame
        reason = self._check_counts(space, ack, marked)
        if reason:
            self._fail(reason)
            return
        if ack.ecn is not None:
            self._peer_counts[space] = ack.ecn
        if self.state is EcnState.UNKNOWN and self._marked_acked:
            self.state = EcnState.CAPABLE  # Appendix A.4: validated

    def _check_counts(self, space: PacketSpace, ack: AckFrame, marked: int) -> str:
        """RFC 9000 §13.4.2.1; the reason validation fails, or ''."""
        counts = ack.ecn
        if counts is None:
            return "ECN counts missing" if marked else ""
        last = self._peer_counts[space]
        if counts.ect0 < last.ect0 or counts.ect1 < last.ect1 or counts.ce < last.ce:
            return "ECN counts decreased"
        if (counts.ect0 - last.ect0) + (counts.ce - last.ce) < marked:
            return "ECT(0) and CE counts grew less than the ECT(0) packets acknowledged"
        if counts.ect0 > self._sent_ect0[space]:
            return "ECT(0) count exceeds the ECT(0) packets sent"
        if counts.ect1:
            return "ECT(1) count but ECT(1) never sent"
        return ""

    def on_packets_lost(self, lost: Sequence[SentPacket]) -> None:
        """RFC 9000 §13.4.2: every marked packet declared lost fails validation."""
        marked = sum(1 for packet in lost if packet.ecn == _ECT0)
        if not marked:
            return
        self._marked_outstanding -= marked
        if (
            self.state is EcnState.UNKNOWN
            and self._marked_acked == 0
            and self._marked_outstanding <= 0
        ):
            self._fail("every ECT(0) packet was lost")

    def on_packets_discarded(self, packets: Sequence[SentPacket]) -> None:
        """Keys were discarded: those packets will be neither acknowledged nor lost."""
        self._marked_outstanding -= sum(1 for packet in packets if packet.ecn == _ECT0)

    def _fail(self, reason: str) -> None:
        # RFC 9000 §13.4.2.2: stop setting the ECT codepoint
        self.state = EcnState.FAILED
        self.failure_reason = reason


def on_ack_processed(
    validator: EcnValidator,
    stats: ConnectionStatistics,
    space: PacketSpace,
    ack: AckFrame,
    outcome: AckOutcome,
    *,
    advances_largest: bool,
) -> None:
    """After loss detection processed ``ack``: validate its counts, update the statistics."""
    validator.on_ack_received(space, ack, outcome.newly_acked, advances_largest=advances_largest)
    validator.on_packets_lost(outcome.lost)
    if ack.ecn is not None:
        stats.send_acked_ecn_ce_count = max(stats.send_acked_ecn_ce_count, ack.ecn.ce)
    stats.ecn_capable = validator.state is EcnState.CAPABLE


def count_received(stats: ConnectionStatistics, ecn: int) -> None:
    """Count the ECN codepoint of a processed packet (RFC 9000 §13.4.1)."""
    if ecn == _ECT0:
        stats.recv_ecn_ect0_packets += 1
    elif ecn == EcnCodepoint.ECT1:
        stats.recv_ecn_ect1_packets += 1
    elif ecn == EcnCodepoint.CE:
        stats.recv_ecn_ce_packets += 1
