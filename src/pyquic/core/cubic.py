"""CUBIC congestion control (RFC 9438) on the RFC 9002 bookkeeping.

Design: :class:`~pyquic.core.congestion.CongestionController` provides slow start (as NewReno,
RFC 9438 §4.10), the recovery period, persistent congestion, ECN-CE and app-limited handling;
this class adds CUBIC's window reduction and congestion-avoidance growth.  The window stays in
bytes; CUBIC's formulas run in segments of ``max_datagram_size`` as floats (RFC 9438 §4.1), and
a fractional-byte remainder carries between ACKs so small per-ACK increments are not truncated.

- Congestion event (§4.6, §4.7): W_max = cwnd in segments, or cwnd * (1 + beta) / 2 when the
  window is below the previous W_max (fast convergence); ssthresh = cwnd * beta_cubic (0.7);
  cwnd = max(ssthresh, minimum window).  The congestion-avoidance epoch starts at the congestion
  event, with cwnd_epoch = the reduced window.
- K = cubic_root((W_max - cwnd_epoch) / C), C = 0.4 (§4.2).  Without fast convergence this is
  cubic_root(W_max * (1 - beta) / C).  The signed cube root keeps W_cubic(0) = cwnd_epoch even when
  the minimum window pushes cwnd_epoch above W_max.
- Each ACK in congestion avoidance (§4.3-§4.5): W_est += alpha * segments_acked / cwnd with
  alpha = 3 (1 - beta) / (1 + beta), switching to 1 once W_est reaches the pre-reduction window;
  if W_cubic(t) < W_est the window is W_est (Reno-friendly region), else it grows by
  (target - cwnd) / cwnd per segment acked, target = W_cubic(t + smoothed_rtt) clamped to
  [cwnd, 1.5 cwnd].
- First congestion avoidance after slow start with no congestion event since (start of the
  connection, persistent congestion, or a slow-start exit hook): the epoch starts at that ACK with
  K = 0 and W_max = the current window (§4.8).
- Idle and application-limited periods do not count toward t (§5.8): the epoch is shifted forward
  by the time from the first application-limited ACK, or from the ACK that emptied the pipe,
  until growth resumes (the next cwnd-limited ACK, or the next send into an empty pipe).

A spurious congestion event (every packet whose loss caused it acknowledged after all) is undone
as §4.9 describes, through :meth:`CongestionController.on_spurious_congestion_event`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pyquic.core.congestion import CongestionController
from pyquic.core.rtt import RttEstimator
from pyquic.core.sent_packet import SentPacket

CUBIC_C = 0.4  # segments / s^3, RFC 9438 §4.2
BETA_CUBIC = 0.7  # RFC 9438 §4.6
ALPHA_CUBIC = 3 * (1 - BETA_CUBIC) / (1 + BETA_CUBIC)  # RFC 9438 §4.3
_US_PER_S = 1_000_000


class Cubic(CongestionController):
    """RFC 9438 CUBIC with fast convergence."""

    __slots__ = (
        "_cwnd_epoch",
        "_cwnd_prior",
        "_epoch_start_us",
        "_frac_bytes",
        "_k_s",
        "_pause_start_us",
        "_w_est",
        "_w_max_seg",
    )

    name = "cubic"

    def __init__(self, *, max_datagram_size: int = 1200, initial_window_packets: int = 10) -> None:
        super().__init__(
            max_datagram_size=max_datagram_size, initial_window_packets=initial_window_packets
        )
        self._w_max_seg: float | None = None  # W_max, segments; None: no congestion event yet
        self._k_s = 0.0  # K, seconds
        self._epoch_start_us: int | None = None  # t_epoch
        self._cwnd_epoch = 0  # cwnd at the start of the epoch, bytes
        self._cwnd_prior = 0  # cwnd before the last reduction, bytes
        self._w_est = 0.0  # W_est, bytes
        self._frac_bytes = 0.0
        self._pause_start_us: int | None = None

    # -- introspection (qlog, tests) -----------------------------------------------------------

    @property
    def w_max_segments(self) -> float | None:
        return self._w_max_seg

    @property
    def k_seconds(self) -> float:
        return self._k_s

    @property
    def epoch_start_us(self) -> int | None:
        return self._epoch_start_us

    @property
    def w_est_bytes(self) -> float:
        return self._w_est

    def w_cubic_bytes(self, elapsed_us: int) -> float | None:
        """W_cubic(t) = C (t - K)^3 + W_max in bytes, t = ``elapsed_us`` since the epoch started
        (RFC 9438 §4.2); None before the first epoch."""
        if self._w_max_seg is None:
            return None
        return self._w_cubic(elapsed_us)

    def _w_cubic(self, elapsed_us: int) -> float:
        assert self._w_max_seg is not None
        offset = elapsed_us / _US_PER_S - self._k_s
        return (CUBIC_C * offset * offset * offset + self._w_max_seg) * self.max_datagram_size

    # -- events ----------------------------------------------------------------------------------

    def on_packet_sent(self, packet: SentPacket) -> None:
        # §5.8: sending into an empty pipe ends an idle period; do not count it toward t.
        pause = self._pause_start_us
        if pause is not None and packet.in_flight and self.bytes_in_flight == 0:
            if self._epoch_start_us is not None and packet.time_sent_us > pause:
                self._epoch_start_us += packet.time_sent_us - pause
            self._pause_start_us = None
        super().on_packet_sent(packet)

    def on_packets_acked(
        self, packets: Sequence[SentPacket], now_us: int, rtt: RttEstimator
    ) -> None:
        if self._app_limited and self._pause_start_us is None and self._epoch_start_us is not None:
            self._pause_start_us = now_us  # §5.8: application-limited, t stops
        super().on_packets_acked(packets, now_us, rtt)
        if (
            self.bytes_in_flight == 0
            and self._pause_start_us is None
            and self._epoch_start_us is not None
        ):
            self._pause_start_us = now_us  # the pipe is empty: idle until the next send

    # -- the growth law ------------------------------------------------------------------------

    def _start_epoch(self, now_us: int, w_max_seg: float, cwnd_epoch: int) -> None:
        self._epoch_start_us = now_us
        self._w_max_seg = w_max_seg
        self._cwnd_epoch = cwnd_epoch
        # RFC 9438 §4.2: K = cubic_root((W_max - cwnd_epoch) / C)
        self._k_s = math.cbrt((w_max_seg - cwnd_epoch / self.max_datagram_size) / CUBIC_C)
        self._w_est = float(cwnd_epoch)  # §4.3: W_est starts at cwnd_epoch
        self._frac_bytes = 0.0
        self._pause_start_us = None

    def _reduce_window(self, now_us: int) -> None:
        cwnd = self.congestion_window
        cwnd_seg = cwnd / self.max_datagram_size
        previous_w_max = self._w_max_seg
        # RFC 9438 §4.7 fast convergence: release bandwidth when the window shrank since last time.
        if previous_w_max is not None and cwnd_seg < previous_w_max:
            w_max = cwnd_seg * (1 + BETA_CUBIC) / 2
        else:
            w_max = cwnd_seg
        self._cwnd_prior = cwnd
        # RFC 9438 §4.6: ssthresh = cwnd * beta_cubic; cwnd = max(ssthresh, minimum window).
        self.ssthresh = cwnd * 7 // 10
        self.congestion_window = max(self.ssthresh, self.minimum_window)
        self._start_epoch(now_us, w_max, self.congestion_window)

    def _congestion_avoidance_ack(self, acked_bytes: int, now_us: int, rtt: RttEstimator) -> None:
        cwnd = self.congestion_window
        epoch = self._epoch_start_us
        if epoch is None:
            # §4.8: first congestion avoidance with no congestion event: K = 0, W_max = cwnd.
            self._cwnd_prior = cwnd
            self._start_epoch(now_us, cwnd / self.max_datagram_size, cwnd)
            epoch = now_us
        elif self._pause_start_us is not None:
            # §5.8: the window is in use again; the paused time does not count toward t.
            epoch += max(now_us - self._pause_start_us, 0)
            self._epoch_start_us = epoch
            self._pause_start_us = None
        # §4.3 Reno-friendly estimate, alpha = 1 once W_est reached the pre-reduction window.
        alpha = 1.0 if self._w_est >= self._cwnd_prior else ALPHA_CUBIC
        w_est = self._w_est + alpha * self.max_datagram_size * acked_bytes / cwnd
        self._w_est = w_est
        elapsed_us = now_us - epoch
        if self._w_cubic(elapsed_us) < w_est:
            # §4.3: Reno-friendly region, cwnd = W_est.
            if w_est > cwnd:
                self.congestion_window = int(w_est)
            return
        # §4.4, §4.5: concave and convex regions.
        target = self._w_cubic(elapsed_us + rtt.smoothed_rtt_us)
        target = min(max(target, float(cwnd)), 1.5 * cwnd)
        increase = (target - cwnd) * acked_bytes / cwnd + self._frac_bytes
        whole = int(increase)
        self._frac_bytes = increase - whole
        self.congestion_window = cwnd + whole

    def _saved_state(self) -> object:
        return (
            self._w_max_seg,
            self._k_s,
            self._epoch_start_us,
            self._cwnd_epoch,
            self._cwnd_prior,
            self._w_est,
            self._frac_bytes,
            self._pause_start_us,
        )

    def _restore_state(self, state: object) -> None:
        # RFC 9438 §4.9: W_max, K, the epoch and W_est as they were before the spurious event
        assert isinstance(state, tuple)
        (
            self._w_max_seg,
            self._k_s,
            self._epoch_start_us,
            self._cwnd_epoch,
            self._cwnd_prior,
            self._w_est,
            self._frac_bytes,
            self._pause_start_us,
        ) = state

    def _on_persistent_congestion(self) -> None:
        # §4.8: after a timeout the next congestion avoidance starts afresh (K = 0).
        self._epoch_start_us = None
        self._w_max_seg = None
        self._k_s = 0.0
        self._pause_start_us = None
        self._frac_bytes = 0.0
