"""Loss detection: sent packets per space, ACK processing, loss, PTO, persistent congestion.

RFC 9002 §6 and Appendix A, §7.6 (persistent congestion); RFC 9000 §13.1 (an ACK for a packet
never sent is a PROTOCOL_VIOLATION).

Design: one :class:`LossDetection` per connection path drives the
:class:`~pyquic.core.rtt.RttEstimator` and the
:class:`~pyquic.core.congestion.CongestionController` it is given, following the Appendix A
pseudocode step by step.  Each space keeps its sent packets in a dict in packet-number (= insertion)
order, so loss detection walks only the oldest outstanding packets and stops at the largest
acknowledged.  Records leave the dict when acknowledged, declared lost or discarded; packets that
are not in flight (only ACK frames) are additionally capped per space, since a peer need never
acknowledge them (RFC 9000 §13.2.1), so memory stays bounded.  Acknowledging a range is
proportional to the smaller of the range and the outstanding packets, so a peer's huge ranges
cost nothing.

The loss detection timer is a query (:meth:`LossDetection.loss_timer_us`) taking the connection's
view of the handshake, and :meth:`LossDetection.on_loss_timer` acts only when that time has come.
"Now" for the anti-deadlock timer (§6.2.2.1, which runs from when the timer was last set) is the
time of the last send, acknowledgment or timeout.  Persistent congestion (§7.6.2) considers the
acknowledged packets of the space being processed only, which §7.6.2 permits.
Packets declared lost are remembered (bounded, for two PTO periods): one acknowledged after all was
only reordered, a spurious loss; the first turns the packet threshold off and each raises the time
threshold to cover it (RFC 9002 §6.1.1-§6.1.2 allow adapting them; RFC 8985 §6.2), and once every
loss was spurious the congestion controller undoes its reduction (RFC 9438 §4.9).
Outputs are small frozen dataclasses; the connection walks their ``SentPacket.records``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from pyquic.core.congestion import CongestionController
from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.core.frames import AckFrame
from pyquic.core.levels import PacketSpace
from pyquic.core.range_set import RangeSet
from pyquic.core.rtt import K_GRANULARITY_US, RttEstimator
from pyquic.core.sent_packet import SentPacket

K_PACKET_THRESHOLD = 3  # RFC 9002 §6.1.1
K_PERSISTENT_CONGESTION_THRESHOLD = 3  # RFC 9002 §7.6.1
PTO_PROBE_PACKETS = 2  # RFC 9002 §6.2.4: "up to two full-sized datagrams"
MAX_NON_IN_FLIGHT_RECORDS = 64  # per space: ACK-only packets remembered for §13.2.4 pruning
K_TIME_THRESHOLD_EIGHTHS = 9  # kTimeThreshold = 9/8, RFC 9002 §6.1.2
# Reordering (RFC 9002 §6.1.1 and §6.1.2 allow adapting both thresholds): once a packet declared
# lost is acknowledged after all, the packet threshold is dropped, as RACK does once it has seen
# reordering (RFC 8985 §6.2), and the time threshold grows to cover the reordering seen (as
# quiche's adaptive time threshold), up to:
PACKET_THRESHOLD_OFF = 1 << 62  # no packet-threshold losses
MAX_TIME_THRESHOLD_EIGHTHS = 16  # at most 2 RTTs
MAX_LOST_RECORDS = 1024  # per space: packets declared lost, remembered to spot spurious losses

_SPACES = (PacketSpace.INITIAL, PacketSpace.HANDSHAKE, PacketSpace.APPLICATION)


@dataclass(frozen=True, slots=True)
class AckOutcome:
    """What one ACK frame did: packets newly acknowledged and declared lost, in packet order;
    ``spurious``: packets declared lost earlier that this ACK acknowledges."""

    newly_acked: list[SentPacket]
    lost: list[SentPacket]
    rtt_sampled: bool
    largest_newly_acked: SentPacket | None
    persistent_congestion: bool = False
    ecn_ce_increased: bool = False
    spurious: int = 0


@dataclass(frozen=True, slots=True)
class TimerOutcome:
    """What the loss detection timer did: time-threshold losses, or a PTO asking for
    ``probe_count`` ack-eliciting probe packets in ``probe_space`` (RFC 9002 §6.2.4)."""

    lost: list[SentPacket]
    probe_space: PacketSpace | None
    probe_count: int
    persistent_congestion: bool = False


class _SpaceState:
    __slots__ = (
        "ack_eliciting_in_flight",
        "acked",
        "ecn_ce",
        "largest_acked",
        "largest_sent",
        "last_ack_eliciting_sent_us",
        "loss_time_us",
        "lost",
        "non_in_flight",
        "sent",
    )

    def __init__(self) -> None:
        self.sent: dict[int, SentPacket] = {}
        self.largest_sent = -1
        self.largest_acked: int | None = None
        self.loss_time_us: int | None = None
        self.last_ack_eliciting_sent_us = 0
        self.ack_eliciting_in_flight = 0
        # acknowledged packet numbers at or above the oldest outstanding one (§7.6.2)
        self.acked = RangeSet()
        self.ecn_ce = 0
        # made on first use: an empty deque costs ~600 bytes, three per connection
        self.non_in_flight: deque[int] | None = None
        self.lost: dict[int, int] = {}  # declared lost, not yet seen acknowledged: pn -> time sent

    def forget(self, packets: Sequence[SentPacket]) -> None:
        """Drop records already removed from ``sent`` from the in-flight count."""
        for packet in packets:
            if packet.ack_eliciting and packet.in_flight:
                self.ack_eliciting_in_flight -= 1

    def trim_acked(self) -> None:
        oldest = next(iter(self.sent), self.largest_sent + 1)
        self.acked.subtract(0, oldest)


_TimerKey = tuple[bool, bool, bool, bool, int, int, int, int]


class LossDetection:
    """RFC 9002 loss detection and PTO for the three packet number spaces of a connection."""

    __slots__ = (
        "_first_rtt_sample_us",
        "_spaces",
        "_timer_anchor_us",
        "_timer_cache",
        "cc",
        "max_ack_delay_us",
        "packet_threshold",
        "pto_count",
        "rtt",
        "spurious_losses",
        "time_threshold_eighths",
    )

    def __init__(
        self, rtt: RttEstimator, cc: CongestionController, *, max_ack_delay_us: int
    ) -> None:
        self.rtt = rtt
        self.cc = cc
        self.max_ack_delay_us = max_ack_delay_us  # the peer's; settable as it becomes known
        self.pto_count = 0
        self.packet_threshold = K_PACKET_THRESHOLD  # PACKET_THRESHOLD_OFF after reordering
        self.time_threshold_eighths = K_TIME_THRESHOLD_EIGHTHS  # raised by spurious losses
        self.spurious_losses = 0
        self._spaces = (_SpaceState(), _SpaceState(), _SpaceState())
        self._first_rtt_sample_us: int | None = None
        self._timer_anchor_us: int | None = None
        # loss_timer_us's last (inputs, answer); None when a send, ACK, loss, timeout or discard
        # may have moved the timer.  The inputs include what may change from outside this class.
        self._timer_cache: tuple[_TimerKey, int | None] | None = None

    # -- queries ---------------------------------------------------------------------------------

    @property
    def bytes_in_flight(self) -> int:
        return self.cc.bytes_in_flight

    @property
    def ack_eliciting_in_flight(self) -> int:
        """Ack-eliciting packets in flight across all spaces."""
        initial, handshake, application = self._spaces
        return (
            initial.ack_eliciting_in_flight
            + handshake.ack_eliciting_in_flight
            + application.ack_eliciting_in_flight
        )

    @property
    def first_rtt_sample_us(self) -> int | None:
        return self._first_rtt_sample_us

    def ack_eliciting_in_flight_in(self, space: PacketSpace) -> int:
        return self._spaces[space].ack_eliciting_in_flight

    def largest_acked(self, space: PacketSpace) -> int | None:
        return self._spaces[space].largest_acked

    def loss_time_us(self, space: PacketSpace) -> int | None:
        """When time-threshold loss detection next fires in ``space`` (RFC 9002 §6.1.2)."""
        return self._spaces[space].loss_time_us

    def unacked_packets(self, space: PacketSpace) -> list[SentPacket]:
        """The packets of ``space`` neither acknowledged, lost nor discarded, in packet order."""
        return list(self._spaces[space].sent.values())

    # -- sending ---------------------------------------------------------------------------------

    def on_packet_sent(self, packet: SentPacket) -> None:
        """OnPacketSent (RFC 9002 §A.5).  Packet numbers must increase within a space."""
        state = self._spaces[packet.space]
        number = packet.packet_number
        if number <= state.largest_sent:
            raise ValueError(
                f"packet number {number} not above {state.largest_sent} in {packet.space.name}"
            )
        state.largest_sent = number
        state.sent[number] = packet
        if packet.in_flight:
            self._timer_cache = None
            if packet.ack_eliciting:
                state.last_ack_eliciting_sent_us = packet.time_sent_us
                state.ack_eliciting_in_flight += 1
            self.cc.on_packet_sent(packet)
            self._timer_anchor_us = packet.time_sent_us
        else:
            remembered = state.non_in_flight
            if remembered is None:
                remembered = state.non_in_flight = deque()
            remembered.append(number)
            if len(remembered) > MAX_NON_IN_FLIGHT_RECORDS:
                state.sent.pop(remembered.popleft(), None)

    # -- acknowledgments -------------------------------------------------------------------------

    def on_ack_received(
        self,
        space: PacketSpace,
        ack: AckFrame,
        ack_delay_us: int,
        now_us: int,
        *,
        handshake_confirmed: bool,
        peer_address_validated: bool,
    ) -> AckOutcome:
        """OnAckReceived (RFC 9002 §A.7).  ``ack_delay_us`` is the decoded ACK Delay.

        ``peer_address_validated`` is PeerCompletedAddressValidation (§A.6): always true at a
        server; at a client, a Handshake ACK was received or the handshake is confirmed (an ACK
        in the Handshake space counts by itself).  Raises PROTOCOL_VIOLATION for an ACK of a
        packet number never sent (RFC 9000 §13.1).
        """
        self._timer_cache = None
        state = self._spaces[space]
        largest = ack.ranges[0][1]
        _check_sent(state, largest, space, ack)
        if state.largest_acked is None or largest > state.largest_acked:
            state.largest_acked = largest
        spurious = self._detect_spurious(state, ack.ranges, now_us)
        if spurious and not state.lost:
            # every packet declared lost was only late: undo the reduction (RFC 9438 §4.9, as
            # MsQuic does once its list of lost packets empties)
            self.cc.on_spurious_congestion_event()
        newly_acked = self._remove_acked(state, ack.ranges)
        if not newly_acked:
            return AckOutcome([], [], False, None, spurious=spurious)
        largest_newly = newly_acked[-1]
        # §5.1: a sample only when the largest acknowledged is newly acknowledged and the ACK
        # newly acknowledges at least one ack-eliciting packet.
        rtt_sampled = largest_newly.packet_number == largest and any(
            p.ack_eliciting for p in newly_acked
        )
        if rtt_sampled:
            # §5.3: the ack delay MAY be ignored for Initial packets (never intentionally delayed)
            delay_us = 0 if space == PacketSpace.INITIAL else ack_delay_us
            self._sample_rtt(
                now_us - largest_newly.time_sent_us, delay_us, now_us, handshake_confirmed
            )
        ecn_ce_increased = self._on_ecn_counts(state, ack, largest_newly, now_us)
        lost = self._detect_lost(state, now_us)
        persistent = False
        if lost:
            persistent = self._in_persistent_congestion(state, _congestion_losses(lost))
            self.cc.on_packets_lost(lost, now_us, persistent_congestion=persistent)
        self.cc.on_packets_acked(newly_acked, now_us, self.rtt)
        # §6.2.1: reset the backoff, except at a client unsure the server validated its address.
        if peer_address_validated or space == PacketSpace.HANDSHAKE:
            self.pto_count = 0
        self._timer_anchor_us = now_us
        state.trim_acked()
        return AckOutcome(
            newly_acked, lost, rtt_sampled, largest_newly, persistent, ecn_ce_increased, spurious
        )

    def _on_ecn_counts(
        self, state: _SpaceState, ack: AckFrame, largest_newly: SentPacket, now_us: int
    ) -> bool:
        """§7.1, §B.7: an increased ECN-CE count is a congestion signal."""
        if ack.ecn is None or ack.ecn.ce <= state.ecn_ce:
            return False
        state.ecn_ce = ack.ecn.ce
        self.cc.on_ecn_ce(largest_newly.time_sent_us, now_us)
        return True

    def _sample_rtt(
        self, sample_us: int, ack_delay_us: int, now_us: int, handshake_confirmed: bool
    ) -> None:
        first = not self.rtt.has_sample
        self.rtt.update(
            sample_us,
            ack_delay_us,
            handshake_confirmed=handshake_confirmed,
            max_ack_delay_us=self.max_ack_delay_us,
        )
        if first:
            self._first_rtt_sample_us = now_us  # first_rtt_sample, §A.7 (for §7.6.2)

    def _remove_acked(
        self, state: _SpaceState, ranges: tuple[tuple[int, int], ...]
    ) -> list[SentPacket]:
        """DetectAndRemoveAckedPackets: the newly acknowledged packets, ascending."""
        sent = state.sent
        if not sent:
            return []
        oldest = next(iter(sent))
        clipped: list[tuple[int, int]] = []
        span = 0
        for smallest, largest in reversed(ranges):  # ascending
            low = max(smallest, oldest)
            high = min(largest, state.largest_sent)
            if low <= high:
                clipped.append((low, high))
                span += high - low + 1
                state.acked.add(low, high + 1)
        newly: list[SentPacket] = []
        if span <= 2 * len(sent):
            for low, high in clipped:
                for number in range(low, high + 1):
                    packet = sent.pop(number, None)
                    if packet is not None:
                        newly.append(packet)
        elif clipped:
            # Sparse outstanding packets under wide ranges: walk the packets instead.
            starts = [low for low, _ in clipped]
            last = clipped[-1][1]
            for number in list(sent):
                if number > last:
                    break
                index = bisect_right(starts, number) - 1
                if index >= 0 and number <= clipped[index][1]:
                    newly.append(sent.pop(number))
        state.forget(newly)
        return newly

    # -- loss ------------------------------------------------------------------------------------

    def _detect_lost(self, state: _SpaceState, now_us: int) -> list[SentPacket]:
        """DetectAndRemoveLostPackets (RFC 9002 §A.10): packet threshold (§6.1.1) and time
        threshold (§6.1.2); sets the space's loss time for packets not yet lost."""
        state.loss_time_us = None
        largest_acked = state.largest_acked
        if largest_acked is None:
            return []
        loss_delay = self.loss_delay_us()
        lost_send_time = now_us - loss_delay
        threshold = self.packet_threshold
        lost: list[SentPacket] = []
        loss_time: int | None = None
        for number, packet in state.sent.items():
            if number > largest_acked:
                break
            if packet.time_sent_us <= lost_send_time or largest_acked >= number + threshold:
                lost.append(packet)
            else:
                when = packet.time_sent_us + loss_delay
                if loss_time is None or when < loss_time:
                    loss_time = when
        state.loss_time_us = loss_time
        sent, records = state.sent, state.lost
        for packet in lost:
            del sent[packet.packet_number]
            records[packet.packet_number] = packet.time_sent_us
        while len(records) > MAX_LOST_RECORDS:
            del records[next(iter(records))]
        state.forget(lost)
        return lost

    def loss_delay_us(self) -> int:
        """The time threshold (RFC 9002 §6.1.2): max(latest_rtt, smoothed_rtt) times
        ``time_threshold_eighths`` / 8 (9/8 until reordering raised it), at least kGranularity."""
        rtt = self.rtt
        longest = max(rtt.latest_rtt_us, rtt.smoothed_rtt_us)
        return max(self.time_threshold_eighths * longest // 8, K_GRANULARITY_US)

    def _detect_spurious(
        self,
        state: _SpaceState,
        ranges: tuple[tuple[int, int], ...],
        now_us: int,
    ) -> int:
        """Count packets declared lost that this ACK acknowledges: they were only reordered.

        The first turns the packet threshold off; each raises the time threshold so that it would
        not have been declared lost (see ``PACKET_THRESHOLD_OFF``).
        Records older than twice the PTO period are forgotten.
        """
        records = state.lost
        if not records:
            return 0
        cutoff = now_us - 2 * self.rtt.pto_duration_us(
            include_max_ack_delay=True, max_ack_delay_us=self.max_ack_delay_us
        )
        while records and next(iter(records.values())) < cutoff:
            del records[next(iter(records))]
        low, high = ranges[-1][0], ranges[0][1]
        found = [
            number
            for number in records
            if low <= number <= high and any(s <= number <= e for s, e in ranges)
        ]
        for number in found:
            time_sent_us = records.pop(number)
            self.packet_threshold = PACKET_THRESHOLD_OFF
            longest = max(self.rtt.latest_rtt_us, self.rtt.smoothed_rtt_us)
            if longest > 0:
                needed = -(-(now_us - time_sent_us) * 8 // longest) + 1  # eighths, with a margin
                self.time_threshold_eighths = min(
                    max(self.time_threshold_eighths, needed), MAX_TIME_THRESHOLD_EIGHTHS
                )
        self.spurious_losses += len(found)
        return len(found)

    def _in_persistent_congestion(self, state: _SpaceState, lost: list[SentPacket]) -> bool:
        """RFC 9002 §7.6.2: two ack-eliciting lost packets, both sent after the first RTT
        sample, more than the persistent congestion duration apart, with no packet sent between
        them acknowledged."""
        first_sample = self._first_rtt_sample_us
        if first_sample is None:
            return False
        rtt = self.rtt
        duration = (
            rtt.smoothed_rtt_us + max(4 * rtt.rttvar_us, K_GRANULARITY_US) + self.max_ack_delay_us
        ) * K_PERSISTENT_CONGESTION_THRESHOLD  # §7.6.1
        acked = list(state.acked)
        index = 0
        run_start_us: int | None = None
        previous = -1
        for packet in lost:
            if not packet.ack_eliciting or packet.time_sent_us <= first_sample:
                continue
            number = packet.packet_number
            if run_start_us is not None:
                while index < len(acked) and acked[index][1] <= previous + 1:
                    index += 1
                if index < len(acked) and acked[index][0] < number and previous + 1 < number:
                    run_start_us = None  # an acknowledged packet lies between: start over
            if run_start_us is None:
                run_start_us = packet.time_sent_us
            elif packet.time_sent_us - run_start_us > duration:
                return True
            previous = number
        return False

    # -- the timer -------------------------------------------------------------------------------

    def _earliest_loss_time(self) -> tuple[int | None, PacketSpace]:
        """GetLossTimeAndSpace (RFC 9002 §A.8)."""
        best: int | None = None
        best_space = PacketSpace.INITIAL
        for space in _SPACES:
            when = self._spaces[space].loss_time_us
            if when is not None and (best is None or when < best):
                best, best_space = when, space
        return best, best_space

    def _pto_time_and_space(
        self, *, handshake_confirmed: bool, has_handshake_keys: bool
    ) -> tuple[int | None, PacketSpace]:
        """GetPtoTimeAndSpace (RFC 9002 §A.8), with exponential backoff (§6.2.1)."""
        backoff = 1 << self.pto_count
        duration = (
            self.rtt.pto_duration_us(include_max_ack_delay=False, max_ack_delay_us=0) * backoff
        )
        if not self.ack_eliciting_in_flight:
            # §6.2.2.1 anti-deadlock: from when the timer was last set.
            anchor = self._timer_anchor_us
            space = PacketSpace.HANDSHAKE if has_handshake_keys else PacketSpace.INITIAL
            return (None if anchor is None else anchor + duration), space
        best: int | None = None
        best_space = PacketSpace.INITIAL
        for space in _SPACES:
            state = self._spaces[space]
            if not state.ack_eliciting_in_flight:
                continue
            if space == PacketSpace.APPLICATION:
                if not handshake_confirmed:
                    break  # §6.2.1: no application PTO before handshake confirmation
                duration += self.max_ack_delay_us * backoff
            when = state.last_ack_eliciting_sent_us + duration
            if best is None or when < best:
                best, best_space = when, space
        return best, best_space

    def loss_timer_us(
        self,
        *,
        handshake_confirmed: bool,
        peer_address_validated: bool,
        amplification_blocked: bool,
        has_handshake_keys: bool,
    ) -> int | None:
        """SetLossDetectionTimer (RFC 9002 §A.8): when :meth:`on_loss_timer` is due, or None.

        ``amplification_blocked``: a server that cannot send anything more until the client's
        address is validated arms no timer (§6.2.2.1).  Times in the past mean now.

        Cached: the timer moves only when a packet is sent, acknowledged or lost, the timer
        fires, a space is discarded, or an input (below, with the RTT and PTO count) changes."""
        rtt = self.rtt
        key = (
            handshake_confirmed,
            peer_address_validated,
            amplification_blocked,
            has_handshake_keys,
            self.pto_count,
            self.max_ack_delay_us,
            rtt.smoothed_rtt_us,
            rtt.rttvar_us,
        )
        cache = self._timer_cache
        if cache is not None and cache[0] == key:
            return cache[1]
        when = self._compute_loss_timer(
            handshake_confirmed=handshake_confirmed,
            peer_address_validated=peer_address_validated,
            amplification_blocked=amplification_blocked,
            has_handshake_keys=has_handshake_keys,
        )
        self._timer_cache = (key, when)
        return when

    def _compute_loss_timer(
        self,
        *,
        handshake_confirmed: bool,
        peer_address_validated: bool,
        amplification_blocked: bool,
        has_handshake_keys: bool,
    ) -> int | None:
        loss_time, _ = self._earliest_loss_time()
        if loss_time is not None:
            return loss_time  # §6.1.2: time threshold first; no PTO alongside
        if amplification_blocked:
            return None
        if not self.ack_eliciting_in_flight and peer_address_validated:
            return None
        when, _ = self._pto_time_and_space(
            handshake_confirmed=handshake_confirmed, has_handshake_keys=has_handshake_keys
        )
        return when

    def on_loss_timer(
        self,
        now_us: int,
        *,
        handshake_confirmed: bool,
        peer_address_validated: bool,
        amplification_blocked: bool,
        has_handshake_keys: bool,
    ) -> TimerOutcome:
        """OnLossDetectionTimeout (RFC 9002 §A.9); a no-op before :meth:`loss_timer_us`.

        A PTO increments ``pto_count`` and grants the congestion controller exemptions for the
        probes, which are not blocked by the window (RFC 9002 §7.5)."""
        deadline = self.loss_timer_us(
            handshake_confirmed=handshake_confirmed,
            peer_address_validated=peer_address_validated,
            amplification_blocked=amplification_blocked,
            has_handshake_keys=has_handshake_keys,
        )
        if deadline is None or now_us < deadline:
            return TimerOutcome([], None, 0)
        self._timer_cache = None
        self._timer_anchor_us = now_us
        loss_time, space = self._earliest_loss_time()
        if loss_time is not None:
            state = self._spaces[space]
            lost = self._detect_lost(state, now_us)
            persistent = False
            if lost:
                persistent = self._in_persistent_congestion(state, _congestion_losses(lost))
                self.cc.on_packets_lost(lost, now_us, persistent_congestion=persistent)
            state.trim_acked()
            return TimerOutcome(lost, None, 0, persistent)
        if not self.ack_eliciting_in_flight:
            # §6.2.2.1: a Handshake packet if possible, else a padded Initial: one probe.
            space = PacketSpace.HANDSHAKE if has_handshake_keys else PacketSpace.INITIAL
            count = 1
        else:
            _, space = self._pto_time_and_space(
                handshake_confirmed=handshake_confirmed, has_handshake_keys=has_handshake_keys
            )
            count = PTO_PROBE_PACKETS
        self.pto_count += 1
        self.cc.set_exemptions(count)
        return TimerOutcome([], space, count)

    # -- discarding ------------------------------------------------------------------------------

    def discard_space(self, space: PacketSpace) -> list[SentPacket]:
        """OnPacketNumberSpaceDiscarded (RFC 9002 §6.4, §A.11): forget the space's packets
        without a congestion signal, reset its timers and the PTO backoff.  Returns the packets.

        Also usable for the application space when 0-RTT is rejected (§6.4); packet numbering
        and the largest acknowledged are kept."""
        self._timer_cache = None
        state = self._spaces[space]
        packets = list(state.sent.values())
        state.sent.clear()
        state.non_in_flight = None
        state.lost.clear()
        state.acked.clear()
        state.ack_eliciting_in_flight = 0
        state.loss_time_us = None
        state.last_ack_eliciting_sent_us = 0
        self.cc.on_packets_discarded(packets)
        self.pto_count = 0
        return packets


def _check_sent(state: _SpaceState, largest: int, space: PacketSpace, ack: AckFrame) -> None:
    """RFC 9000 §13.1: an ACK of a packet number never sent is a PROTOCOL_VIOLATION."""
    if largest > state.largest_sent:
        raise QuicError(
            TransportErrorCode.PROTOCOL_VIOLATION,
            f"ACK of unsent packet {largest} in {space.name}",
            frame_type=ack.wire_type,
        )


def _congestion_losses(lost: list[SentPacket]) -> list[SentPacket]:
    """The lost packets that say something about congestion: not PMTU probes (RFC 9000 §14.4)."""
    return [packet for packet in lost if not packet.mtu_probe]
