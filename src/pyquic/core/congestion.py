"""The congestion controller interface and the bookkeeping every controller shares (RFC 9002 §7).

Design: :class:`CongestionController` owns what RFC 9002 §7 and Appendix B define independently of
the growth law: bytes in flight, the congestion window and ssthresh, the recovery period entered
once per loss event (§7.3.2), the single packet that may be sent on entering recovery (§7.3.2),
persistent congestion collapsing the window to the minimum (§7.6.2), ECN-CE as a congestion signal
(§7.1), no growth while application-limited (§7.8), and the probe exemptions of §7.5.  A concrete
controller supplies only how the window grows in congestion avoidance and how it shrinks on a
congestion event (``_congestion_avoidance_ack``, ``_reduce_window``), and may override
``should_exit_slow_start`` (the hook for HyStart++, RFC 9406).

Windows are in bytes.  The initial window is ``initial_window_packets`` (MsQuic's
InitialWindowPackets, default 10) times the maximum datagram size; unlike RFC 9002 §7.2 it is not
capped at 14,720 bytes, as in MsQuic.  The minimum window is two datagrams (§7.2).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from pyquic.core.rtt import RttEstimator
from pyquic.core.sent_packet import SentPacket

MIN_MAX_DATAGRAM_SIZE = 1200  # RFC 9000 §14: QUIC requires at least 1200-byte datagrams
DEFAULT_INITIAL_WINDOW_PACKETS = 10  # RFC 9002 §7.2, MsQuic InitialWindowPackets
MINIMUM_WINDOW_PACKETS = 2  # kMinimumWindow = 2 * max_datagram_size, RFC 9002 §7.2
SSTHRESH_INFINITE = (1 << 62) - 1  # "infinite" slow start threshold (RFC 9002 §B.3)


class CongestionController(ABC):
    """Window-based sender congestion control (RFC 9002 §7); see the module docstring."""

    __slots__ = (
        "_app_limited",
        "_exemptions",
        "_in_recovery",
        "_initial_window_packets",
        "_prior",
        "_recovery_start_us",
        "bytes_in_flight",
        "congestion_window",
        "max_datagram_size",
        "minimum_window",
        "ssthresh",
    )

    name = "abstract"

    def __init__(
        self,
        *,
        max_datagram_size: int = MIN_MAX_DATAGRAM_SIZE,
        initial_window_packets: int = DEFAULT_INITIAL_WINDOW_PACKETS,
    ) -> None:
        if max_datagram_size < MIN_MAX_DATAGRAM_SIZE:
            raise ValueError(f"max_datagram_size must be at least 1200, got {max_datagram_size}")
        if initial_window_packets < MINIMUM_WINDOW_PACKETS:
            raise ValueError(
                f"initial_window_packets must be at least 2, got {initial_window_packets}"
            )
        self._initial_window_packets = initial_window_packets
        self.max_datagram_size = max_datagram_size
        self.minimum_window = MINIMUM_WINDOW_PACKETS * max_datagram_size
        self.congestion_window = initial_window_packets * max_datagram_size
        self.ssthresh = SSTHRESH_INFINITE
        self.bytes_in_flight = 0
        self._recovery_start_us: int | None = None  # congestion_recovery_start_time
        self._in_recovery = False
        self._app_limited = False
        self._exemptions = 0
        # the state before the last loss-triggered reduction, for undoing a spurious one
        self._prior: tuple[int, int, int | None, object] | None = None

    # -- queries -----------------------------------------------------------------------------

    @property
    def initial_window(self) -> int:
        return self._initial_window_packets * self.max_datagram_size

    @property
    def recovery_start_time_us(self) -> int | None:
        return self._recovery_start_us

    @property
    def app_limited(self) -> bool:
        return self._app_limited

    def in_recovery(self, time_sent_us: int) -> bool:
        """Whether a packet sent at ``time_sent_us`` belongs to the current recovery period
        (InCongestionRecovery, RFC 9002 §B.4): sent at or before the period started."""
        start = self._recovery_start_us
        return start is not None and time_sent_us <= start

    def can_send(self, size_bytes: int) -> bool:
        """Whether a packet of ``size_bytes`` fits in the window (RFC 9002 §7), or may be sent
        regardless: the one packet on entering recovery (§7.3.2) or a probe exemption (§7.5)."""
        return self._exemptions > 0 or self.bytes_in_flight + size_bytes <= self.congestion_window

    def available_window(self) -> int:
        """Bytes that may be sent now without exceeding the congestion window."""
        return max(self.congestion_window - self.bytes_in_flight, 0)

    @property
    def exemptions(self) -> int:
        """Packets that may still be sent regardless of the window."""
        return self._exemptions

    @property
    def state_name(self) -> str:
        """The qlog recovery state: ``recovery``, ``application_limited``, ``slow_start`` or
        ``congestion_avoidance``."""
        if self._in_recovery:
            return "recovery"
        if self._app_limited:
            return "application_limited"
        if self.congestion_window < self.ssthresh:
            return "slow_start"
        return "congestion_avoidance"

    # -- settings ----------------------------------------------------------------------------

    def set_app_limited(self, app_limited: bool) -> None:
        """Whether the sender is application- or flow-control-limited: the window does not grow
        while it is (RFC 9002 §7.8)."""
        self._app_limited = app_limited

    def set_exemptions(self, count: int) -> None:
        """Allow ``count`` packets regardless of the window: probes are not blocked by congestion
        control but still count as in flight (RFC 9002 §7.5)."""
        self._exemptions = max(count, 0)

    def set_max_datagram_size(self, max_datagram_size: int) -> None:
        """A new path MTU: rescale the minimum window; an untouched initial window is recomputed
        with the new size (RFC 9002 §7.2)."""
        if max_datagram_size < MIN_MAX_DATAGRAM_SIZE:
            raise ValueError(f"max_datagram_size must be at least 1200, got {max_datagram_size}")
        untouched = self.congestion_window == self.initial_window and self.ssthresh == (
            SSTHRESH_INFINITE
        )
        self.max_datagram_size = max_datagram_size
        self.minimum_window = MINIMUM_WINDOW_PACKETS * max_datagram_size
        if untouched:
            self.congestion_window = self.initial_window
        self.congestion_window = max(self.congestion_window, self.minimum_window)

    # -- events ------------------------------------------------------------------------------

    def on_packet_sent(self, packet: SentPacket) -> None:
        """OnPacketSentCC (RFC 9002 §B.4): an in-flight packet adds to bytes in flight."""
        if packet.in_flight:
            self.bytes_in_flight += packet.size_bytes
            if self._exemptions:
                self._exemptions -= 1

    def on_packets_acked(
        self, packets: Sequence[SentPacket], now_us: int, rtt: RttEstimator
    ) -> None:
        """OnPacketsAcked (RFC 9002 §B.5), one packet at a time in the given order."""
        for packet in packets:
            if not packet.in_flight:
                continue
            size = packet.size_bytes
            self.bytes_in_flight -= size
            if self.in_recovery(packet.time_sent_us):
                continue  # §7.3.2: no growth during the recovery period
            # §7.3.2: a packet sent after recovery started is acknowledged: recovery is over.
            self._in_recovery = False
            if self._app_limited:
                continue  # §7.8: do not grow an underutilized window
            if self.congestion_window < self.ssthresh:
                self._slow_start_ack(size, now_us, rtt)
            else:
                self._congestion_avoidance_ack(size, now_us, rtt)
        if self.bytes_in_flight < 0:
            self.bytes_in_flight = 0

    def on_packets_lost(
        self, packets: Sequence[SentPacket], now_us: int, *, persistent_congestion: bool
    ) -> None:
        """OnPacketsLost (RFC 9002 §B.8): remove from flight, one congestion event for the newest
        lost in-flight packet, then persistent congestion (decided by loss detection, §7.6)."""
        last_loss_sent_us: int | None = None
        for packet in packets:
            if packet.in_flight:
                self.bytes_in_flight -= packet.size_bytes
                if packet.mtu_probe:
                    continue  # RFC 9000 §14.4: a lost PMTU probe is no sign of congestion
                if last_loss_sent_us is None or packet.time_sent_us > last_loss_sent_us:
                    last_loss_sent_us = packet.time_sent_us
        if self.bytes_in_flight < 0:
            self.bytes_in_flight = 0
        if last_loss_sent_us is not None:
            self._on_congestion_event(last_loss_sent_us, now_us)
        if persistent_congestion:
            # §7.6.2: collapse to the minimum window and leave the recovery period (§B.8).
            self.congestion_window = self.minimum_window
            self._recovery_start_us = None
            self._in_recovery = False
            self._prior = None
            self._on_persistent_congestion()

    def on_ecn_ce(self, sent_time_us: int, now_us: int) -> None:
        """The peer-reported ECN-CE count increased (RFC 9002 §7.1, §B.7); ``sent_time_us`` is
        the send time of the largest acknowledged packet."""
        self._on_congestion_event(sent_time_us, now_us)
        self._prior = None  # a CE mark is never spurious

    def on_spurious_congestion_event(self) -> bool:
        """Every packet whose loss caused the current recovery period was acknowledged after
        all: restore the window and state from before it (RFC 9438 §4.9; MsQuic's
        OnSpuriousCongestionEvent).  Returns whether anything was undone."""
        prior = self._prior
        if prior is None or not self._in_recovery:
            return False
        self._prior = None
        self.congestion_window, self.ssthresh, self._recovery_start_us, state = prior
        self._in_recovery = False
        self._restore_state(state)
        return True

    def on_packets_discarded(self, packets: Sequence[SentPacket]) -> None:
        """Keys were discarded: the packets leave flight without a signal (RFC 9002 §6.4, §B.9)."""
        for packet in packets:
            if packet.in_flight:
                self.bytes_in_flight -= packet.size_bytes
        if self.bytes_in_flight < 0:
            self.bytes_in_flight = 0

    # -- the growth law ----------------------------------------------------------------------

    def should_exit_slow_start(self, now_us: int, rtt: RttEstimator) -> bool:
        """Hook for a slow-start exit heuristic such as HyStart++ (RFC 9406), consulted after each
        slow-start increase; True sets ssthresh to the current window.  Default: never (RFC 9002
        §7.3.1 leaves slow start only on loss, ECN-CE or reaching ssthresh)."""
        return False

    def _slow_start_ack(self, acked_bytes: int, now_us: int, rtt: RttEstimator) -> None:
        # RFC 9002 §7.3.1: grow by the number of bytes acknowledged.
        self.congestion_window += acked_bytes
        if self.should_exit_slow_start(now_us, rtt):
            self.ssthresh = self.congestion_window

    def _on_congestion_event(self, sent_time_us: int, now_us: int) -> None:
        """OnCongestionEvent (RFC 9002 §B.6): at most one reduction per recovery period."""
        if self.in_recovery(sent_time_us):
            return
        self._prior = (
            self.congestion_window,
            self.ssthresh,
            self._recovery_start_us,
            self._saved_state(),
        )
        self._recovery_start_us = now_us
        self._in_recovery = True
        self._reduce_window(now_us)
        if self.congestion_window < self.minimum_window:
            self.congestion_window = self.minimum_window
        # §7.3.2: one packet may be sent before the reduction takes hold.
        self._exemptions = max(self._exemptions, 1)

    @abstractmethod
    def _congestion_avoidance_ack(self, acked_bytes: int, now_us: int, rtt: RttEstimator) -> None:
        """Grow the window for ``acked_bytes`` newly acknowledged in congestion avoidance."""

    @abstractmethod
    def _reduce_window(self, now_us: int) -> None:
        """Set ssthresh and the congestion window on entering recovery (the caller then enforces
        the minimum window)."""

    def _saved_state(self) -> object:
        """The controller-specific state a spurious congestion event restores."""
        return None

    def _restore_state(self, state: object) -> None:  # noqa: B027 - optional hook
        """Restore what :meth:`_saved_state` returned."""

    def _on_persistent_congestion(self) -> None:  # noqa: B027 - optional hook
        """Persistent congestion collapsed the window; reset controller-specific state."""

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(cwnd={self.congestion_window}, "
            f"in_flight={self.bytes_in_flight}, ssthresh={self.ssthresh}, "
            f"state={self.state_name})"
        )


def create_controller(
    name: str,
    *,
    max_datagram_size: int = MIN_MAX_DATAGRAM_SIZE,
    initial_window_packets: int = DEFAULT_INITIAL_WINDOW_PACKETS,
) -> CongestionController:
    """A new controller by name: ``"cubic"`` (RFC 9438, MsQuic's default) or ``"new_reno"``
    (RFC 9002 §7).  An unknown name raises ValueError listing the choices."""
    from pyquic.core.cubic import Cubic
    from pyquic.core.new_reno import NewReno

    controllers: dict[str, type[Cubic] | type[NewReno]] = {"cubic": Cubic, "new_reno": NewReno}
    try:
        cls = controllers[name]
    except KeyError:
        raise ValueError(
            f"unknown congestion control algorithm {name!r}; choose one of: "
            + ", ".join(sorted(controllers))
        ) from None
    return cls(max_datagram_size=max_datagram_size, initial_window_packets=initial_window_packets)
