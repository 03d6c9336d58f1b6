"""NewReno congestion control as specified by RFC 9002 §7 and Appendix B.

Design: the shared bookkeeping (bytes in flight, recovery period, persistent congestion, ECN-CE,
app-limited) lives in :class:`~pyquic.core.congestion.CongestionController`; this class adds the
NewReno growth law.  Slow start grows by the bytes acknowledged (§7.3.1); congestion avoidance
adds one maximum datagram size per congestion window of bytes acknowledged (§7.3.3), counted with
a byte accumulator (RFC 3465 §2.1, as §B.5 suggests for integer windows) so no fraction is lost.
On a congestion event ssthresh and the window halve (kLossReductionFactor = 0.5, §7.3.2, §B.6).
"""

from __future__ import annotations

from pyquic.core.congestion import CongestionController
from pyquic.core.rtt import RttEstimator


class NewReno(CongestionController):
    """RFC 9002 NewReno."""

    __slots__ = ("_bytes_acked_in_ca",)

    name = "new_reno"

    def __init__(self, *, max_datagram_size: int = 1200, initial_window_packets: int = 10) -> None:
        super().__init__(
            max_datagram_size=max_datagram_size, initial_window_packets=initial_window_packets
        )
        self._bytes_acked_in_ca = 0

    def _congestion_avoidance_ack(self, acked_bytes: int, now_us: int, rtt: RttEstimator) -> None:
        # RFC 9002 §7.3.3: at most one max_datagram_size per congestion window acknowledged.
        acked = self._bytes_acked_in_ca + acked_bytes
        cwnd = self.congestion_window
        if acked >= cwnd:
            acked -= cwnd
            self.congestion_window = cwnd + self.max_datagram_size
        self._bytes_acked_in_ca = acked

    def _reduce_window(self, now_us: int) -> None:
        # RFC 9002 §B.6: ssthresh = cwnd * kLossReductionFactor (0.5);
        # cwnd = max(ssthresh, kMinimumWindow)
        self.ssthresh = self.congestion_window // 2
        self.congestion_window = max(self.ssthresh, self.minimum_window)
        self._bytes_acked_in_ca = 0

    def _saved_state(self) -> object:
        return self._bytes_acked_in_ca

    def _restore_state(self, state: object) -> None:
        assert isinstance(state, int)
        self._bytes_acked_in_ca = state

    def _on_persistent_congestion(self) -> None:
        self._bytes_acked_in_ca = 0
