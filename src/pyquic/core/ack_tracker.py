"""Received packet numbers of one packet number space, and when and what to acknowledge.

RFC 9000 §13.2 (sending ACK frames), §13.4.1 (ECN counts), §19.3 (the ACK frame) and
draft-ietf-quic-ack-frequency §6 (ACK_FREQUENCY's thresholds, IMMEDIATE_ACK).

Design: two :class:`~pyquic.core.range_set.RangeSet` s, bounded to ``max_received_ranges`` and
``max_ranges`` ranges:

- ``received``: every packet number processed, for duplicate detection (RFC 9000 §12.3).  When a
  peer fragments it past the bound, the lowest range is dropped and a *floor* rises to its end:
  numbers below the floor count as duplicates, so a dropped range is never accepted twice
  (RFC 9000 §13.2.3 "maintaining a minimum packet number").  A packet that would open a new lowest
  range in a full set is refused as a duplicate for the same reason.
- ``to_ack``: what the next ACK frame reports.  When a packet carrying one of our ACK frames is
  acknowledged, everything up to that frame's Largest Acknowledged is removed from it (§13.2.4),
  except the largest packet number received, which every ACK frame keeps reporting (§13.2.3).

When to acknowledge (RFC 9000 §13.2.1-§13.2.2): an ack-eliciting packet starts the delayed-ACK
clock (``max_ack_delay`` from its arrival).  The ACK is due at once for Initial and Handshake
packets, when ``ack_eliciting_threshold`` ack-eliciting packets arrived since the last ACK, when an
ack-eliciting packet arrives out of order (below the largest ack-eliciting one, or above it with a
gap), when a CE-marked packet arrives, or on IMMEDIATE_ACK.  A packet that is not ack-eliciting
never makes an ACK due by itself.

``set_ack_frequency`` applies an ACK_FREQUENCY frame (draft §4, §6): its Ack-Eliciting Threshold
(ACK when *more than* that many arrived, so the internal count is threshold + 1), its Requested Max
Ack Delay and its Reordering Threshold: 0 never acknowledges early for reordering; 1 is the
RFC 9000 behaviour above; larger values acknowledge at once only when the smallest unreported
missing packet lies ``reordering_threshold`` or more below the largest ack-eliciting packet, or
when a packet arrives at or below (largest acknowledged - threshold) (draft §6.2).  With an
Ack-Eliciting Threshold above 1, only a transition to CE marking makes an ACK due (draft §6.3).
"""

from __future__ import annotations

import itertools

from pyquic.core.frames import AckFrame, EcnCounts
from pyquic.core.levels import PacketSpace
from pyquic.core.range_set import RangeSet

ECN_NOT_ECT = 0
ECN_ECT1 = 1
ECN_ECT0 = 2
ECN_CE = 3
MAX_ACK_DELAY_EXPONENT = 20  # RFC 9000 §18.2
# Ranges a connection keeps for duplicate detection: far more than an ACK frame reports, since a
# reordered packet refused as "too old" is lost for good and must be sent again (RFC 9000
# §13.2.3).  MsQuic keeps 256 (QUIC_MAX_RANGE_DUPLICATE_PACKETS: 4096 bytes of 16-byte
# subranges); 1024 hold the gaps of 10 ms of 10% reordering at a few Gbit/s (tens of KB at most).
DUPLICATE_DETECTION_RANGES = 1024


class AckTracker:
    """Acknowledgment state of one packet number space (see the module docstring)."""

    __slots__ = (
        "_ce_count",
        "_ect0_count",
        "_ect1_count",
        "_first_pending_us",
        "_floor",
        "_immediate_us",
        "_largest_ack_eliciting",
        "_largest_acked_sent",
        "_largest_received_us",
        "_last_was_ce",
        "_received",
        "_to_ack",
        "ack_delay_exponent",
        "ack_eliciting_received_since_ack",
        "ack_eliciting_threshold",
        "ack_pending",
        "largest_received",
        "last_ack_sent_us",
        "max_ack_delay_us",
        "max_ranges",
        "max_received_ranges",
        "reordering_threshold",
        "space",
    )

    def __init__(
        self,
        space: PacketSpace,
        *,
        max_ack_delay_us: int,
        ack_delay_exponent: int = 3,
        max_ranges: int = 32,
        ack_eliciting_threshold: int = 2,
        max_received_ranges: int | None = None,
    ) -> None:
        if max_ack_delay_us < 0:
            raise ValueError(f"max_ack_delay_us must not be negative, got {max_ack_delay_us}")
        if not 0 <= ack_delay_exponent <= MAX_ACK_DELAY_EXPONENT:
            raise ValueError(f"ack_delay_exponent must be 0..20, got {ack_delay_exponent}")
        if max_ranges < 1:
            raise ValueError(f"max_ranges must be at least 1, got {max_ranges}")
        if ack_eliciting_threshold < 1:
            raise ValueError(
                f"ack_eliciting_threshold must be at least 1, got {ack_eliciting_threshold}"
            )
        self.space = space
        self.max_ack_delay_us = max_ack_delay_us
        self.ack_delay_exponent = ack_delay_exponent
        self.max_ranges = max_ranges  # ranges an ACK frame reports
        # ranges kept for duplicate detection (default: max_ranges); at least max_ranges
        self.max_received_ranges = max(max_received_ranges or max_ranges, max_ranges)
        self.ack_eliciting_threshold = ack_eliciting_threshold  # ACK once this many arrived
        self.reordering_threshold = 1  # draft-ietf-quic-ack-frequency §4 default
        self._received = RangeSet()
        self._floor = 0  # numbers below count as duplicates
        self._to_ack = RangeSet()
        self.largest_received: int | None = None
        self._largest_received_us = 0
        self._largest_ack_eliciting: int | None = None  # "Largest Unacked" of the draft
        self._largest_acked_sent: int | None = None  # Largest Acknowledged of our last ACK
        self.ack_eliciting_received_since_ack = 0
        self.ack_pending = False  # any packet received since the last ACK was sent
        self._first_pending_us: int | None = None  # arrival of the first unacked ack-eliciting
        self._immediate_us: int | None = None  # when an immediate ACK became due
        self._ect0_count = 0
        self._ect1_count = 0
        self._ce_count = 0
        self._last_was_ce = False
        self.last_ack_sent_us: int | None = None

    # -- receiving -------------------------------------------------------------------------------

    def is_duplicate(self, packet_number: int) -> bool:
        """Whether ``packet_number`` was already processed, or is too old to track: below the
        floor, or below every range of a full set (it would push a range out)."""
        largest = self.largest_received
        if largest is not None and packet_number > largest:
            return False  # above every number processed (and the floor never passes largest + 1)
        received = self._received
        if packet_number < self._floor or packet_number in received:
            return True
        first = received.first()
        return (
            first is not None
            and packet_number + 1 < first[0]
            and len(received) >= self.max_received_ranges
        )

    def on_packet_received(
        self, packet_number: int, ack_eliciting: bool, now_us: int, ecn: int = ECN_NOT_ECT
    ) -> bool:
        """Record a processed packet; ``ecn`` is the IP ECN codepoint (0 Not-ECT, 1 ECT(1),
        2 ECT(0), 3 CE).  Returns False, changing nothing, for a duplicate (RFC 9000 §12.3:
        duplicates are not processed and do not count toward ECN, §13.4.1)."""
        largest = self.largest_received
        if largest is not None and packet_number == largest + 1 and self._append(packet_number):
            pass  # the next packet in order: recorded in O(1)
        elif not self._record(packet_number):
            return False
        if largest is None or packet_number > largest:
            self.largest_received = packet_number
            self._largest_received_us = now_us
        self.ack_pending = True
        ce = ecn == ECN_CE
        if ecn:  # RFC 9000 §13.4.1: count each codepoint
            if ecn == ECN_ECT0:
                self._ect0_count += 1
            elif ecn == ECN_ECT1:
                self._ect1_count += 1
            elif ce:
                self._ce_count += 1
            else:
                raise ValueError(f"ECN codepoint must be 0..3, got {ecn}")
        ce_due = ce and (self.ack_eliciting_threshold <= 2 or not self._last_was_ce)
        self._last_was_ce = ce
        if not ack_eliciting:
            # §13.2.1: never ACK a non-ack-eliciting packet alone; CE only hurries a pending ACK.
            if ce_due and self.ack_eliciting_received_since_ack:
                self._make_immediate(now_us)
            return True
        self.ack_eliciting_received_since_ack += 1
        if self._first_pending_us is None:
            self._first_pending_us = now_us
        previous = self._largest_ack_eliciting
        # the next ack-eliciting number in order is never "reordered" under the RFC 9000 rule
        in_order = previous is not None and packet_number == previous + 1
        if (
            ce_due
            or self.space is not PacketSpace.APPLICATION  # §13.2.1: Initial/Handshake at once
            or self.ack_eliciting_received_since_ack >= self.ack_eliciting_threshold
            or ((not in_order or self.reordering_threshold > 1) and self._reordered(packet_number))
        ):
            self._make_immediate(now_us)
        if previous is None or packet_number > previous:
            self._largest_ack_eliciting = packet_number
        return True

    def request_immediate_ack(self, now_us: int) -> None:
        """An IMMEDIATE_ACK frame arrived (draft-ietf-quic-ack-frequency §5): ACK now."""
        if self.ack_eliciting_received_since_ack:
            self._make_immediate(now_us)

    def _make_immediate(self, now_us: int) -> None:
        if self._immediate_us is None:
            self._immediate_us = now_us

    def _append(self, packet_number: int) -> bool:
        """Record the packet after the largest received when it extends the last range of both
        sets (no new range, so no bound to enforce); False, changing nothing, otherwise."""
        end = packet_number + 1
        if not self._to_ack.extend_last(packet_number, end):
            return False
        if not self._received.extend_last(packet_number, end):
            self._to_ack.truncate_last(packet_number)
            return False
        return True

    def _record(self, packet_number: int) -> bool:
        if packet_number < 0:
            raise ValueError(f"packet number must not be negative, got {packet_number}")
        if self.is_duplicate(packet_number):
            return False
        received = self._received
        received.add(packet_number, packet_number + 1)
        if len(received) > self.max_received_ranges:
            self._floor = received.pop_first()[1]
        to_ack = self._to_ack
        to_ack.add(packet_number, packet_number + 1)
        if len(to_ack) > self.max_ranges:
            # §13.2.3: the oldest ranges are the ones to omit, but never the range of the packet
            # just received: a late (reordered) packet opens the lowest range, and dropping it
            # unreported makes the sender retransmit what arrived
            lowest = to_ack.first()
            assert lowest is not None
            if lowest[0] <= packet_number < lowest[1]:
                to_ack.subtract(*list(itertools.islice(to_ack, 2))[1])
            else:
                to_ack.shift()
        return True

    def _reordered(self, packet_number: int) -> bool:
        """Whether an ack-eliciting packet's arrival order calls for an immediate ACK."""
        threshold = self.reordering_threshold
        if threshold == 0:
            return False  # draft §6.2: rely on the thresholds and the delay only
        largest = self._largest_ack_eliciting
        if threshold == 1:
            # RFC 9000 §13.2.1: below the largest ack-eliciting, or above it with a gap.
            if largest is None:
                return False
            if packet_number < largest:
                return True
            return not self._received.covers(largest + 1, packet_number)
        # draft §6.2 with Reordering Threshold > 1
        largest_acked = self._largest_acked_sent
        if largest_acked is not None and packet_number <= largest_acked - threshold:
            return True
        largest_unacked = packet_number if largest is None else max(largest, packet_number)
        reported_missing = -1 if largest_acked is None else largest_acked - threshold
        missing = self._first_missing(max(reported_missing + 1, self._floor))
        return missing < largest_unacked and largest_unacked - missing >= threshold

    def _first_missing(self, start: int) -> int:
        """The smallest number >= ``start`` not received."""
        for range_start, range_end in self._received:
            if start < range_start:
                break
            if start < range_end:
                start = range_end
        return start

    # -- ACK_FREQUENCY ---------------------------------------------------------------------------

    def set_ack_frequency(
        self, ack_eliciting_threshold: int, max_ack_delay_us: int, reordering_threshold: int
    ) -> None:
        """Apply an ACK_FREQUENCY frame's fields (draft-ietf-quic-ack-frequency §4): ACK after
        *more than* ``ack_eliciting_threshold`` ack-eliciting packets, within
        ``max_ack_delay_us``, and the reordering rule of ``reordering_threshold`` (0 = never
        early for reordering, 1 = RFC 9000).  Validation against min_ack_delay is the caller's."""
        if ack_eliciting_threshold < 0 or max_ack_delay_us < 0 or reordering_threshold < 0:
            raise ValueError("ACK_FREQUENCY values must not be negative")
        self.ack_eliciting_threshold = ack_eliciting_threshold + 1
        self.max_ack_delay_us = max_ack_delay_us
        self.reordering_threshold = reordering_threshold
        pending = self.ack_eliciting_received_since_ack
        if (
            pending
            and pending >= self.ack_eliciting_threshold
            and self._first_pending_us is not None
        ):
            self._make_immediate(self._first_pending_us)

    # -- sending ---------------------------------------------------------------------------------

    def ack_deadline_us(self) -> int | None:
        """When an ACK frame must be sent: None when no ack-eliciting packet awaits one; a time at
        or before now means at once (RFC 9000 §13.2.1)."""
        if not self.ack_eliciting_received_since_ack:
            return None
        if self._immediate_us is not None:
            return self._immediate_us
        assert self._first_pending_us is not None
        return self._first_pending_us + self.max_ack_delay_us

    def build_ack(self, now_us: int) -> AckFrame | None:
        """The ACK frame to send now, ranges descending, or None when nothing was received.

        ACK Delay is the time since the largest packet arrived, in units of
        2^ack_delay_exponent microseconds (RFC 9000 §13.2.5, §19.3); ECN counts are included once
        any ECN-marked packet was counted (§13.4.1)."""
        to_ack = self._to_ack
        if not to_ack:
            return None
        ranges = tuple((start, end - 1) for start, end in to_ack.descending())
        delay_us = now_us - self._largest_received_us
        ack_delay = (delay_us if delay_us > 0 else 0) >> self.ack_delay_exponent
        ecn: EcnCounts | None = None
        if self._ect0_count or self._ect1_count or self._ce_count:
            ecn = EcnCounts(self._ect0_count, self._ect1_count, self._ce_count)
        return AckFrame(ranges=ranges, ack_delay=ack_delay, ecn=ecn)

    def on_ack_sent(self, now_us: int) -> None:
        """An ACK frame from :meth:`build_ack` was sent: the delayed-ACK state restarts."""
        self.ack_eliciting_received_since_ack = 0
        self.ack_pending = False
        self._first_pending_us = None
        self._immediate_us = None
        self.last_ack_sent_us = now_us
        last = self._to_ack.last()
        if last is not None:
            self._largest_acked_sent = last[1] - 1

    def on_ack_acknowledged(self, largest_acked_in_ack: int) -> None:
        """A packet carrying our ACK frame with this Largest Acknowledged was acknowledged: stop
        reporting what it covered (RFC 9000 §13.2.4), keeping the largest received."""
        largest = self.largest_received
        if largest is None:
            return
        self._to_ack.subtract(0, min(largest_acked_in_ack + 1, largest))

    def clear(self) -> None:
        """The space's keys were discarded (RFC 9001 §4.9): nothing more to acknowledge.  The
        largest received number and the duplicate floor are kept."""
        largest = self.largest_received
        if largest is not None:
            self._floor = max(self._floor, largest + 1)
        self._received.clear()
        self._to_ack.clear()
        self.ack_eliciting_received_since_ack = 0
        self.ack_pending = False
        self._first_pending_us = None
        self._immediate_us = None

    # -- introspection ---------------------------------------------------------------------------

    @property
    def ecn_counts(self) -> EcnCounts:
        return EcnCounts(self._ect0_count, self._ect1_count, self._ce_count)

    @property
    def duplicate_floor(self) -> int:
        """Packet numbers below this are treated as duplicates."""
        return self._floor

    def received_ranges(self) -> list[tuple[int, int]]:
        """Processed packet numbers still tracked, as inclusive (smallest, largest), ascending."""
        return [(start, end - 1) for start, end in self._received]
