"""A token-bucket pacer (RFC 9002 §7.7).

Design: the bucket fills at rate = N * congestion_window / smoothed_rtt with N = 5/4 (§7.7), read
from the controller and the RTT estimator at each call so it follows every change of either; it
holds at most ``burst_packets`` datagrams (10, the initial window, §7.7 "limit bursts to the
initial congestion window"), and starts full.  Sending takes tokens and may leave a debt, repaid
before the next send.  Without an RTT sample there is no rate to pace at, so pacing is off
(every packet may go now).  The caller does not pace packets of only ACK frames (§7.7) and
simply does not call :meth:`Pacer.on_sent` for them.

As MsQuic does (msquic-facts, "Pacing": a send allowance plus a 1 ms pacing timer, off when
RTT < 1 ms): pacing is off while the smoothed RTT is under :data:`MIN_PACING_RTT_US` (a loopback
or LAN path, where a timer could not be precise enough to matter), and the bucket holds at least
one :data:`PACING_INTERVAL_US` worth at the current rate, so that a sender whose timer fires up
to an interval late (an event loop's timers are about that coarse) still keeps the full rate.

Tokens are a float count of bytes; times are integer microseconds (``time_until_send_us`` rounds
the wait up, so a packet never leaves early).
"""

from __future__ import annotations

import math

from pyquic.core.congestion import CongestionController
from pyquic.core.rtt import RttEstimator

PACING_GAIN = 1.25  # N in RFC 9002 §7.7
DEFAULT_BURST_PACKETS = 10  # RFC 9002 §7.7: bursts limited to the initial window
MIN_PACING_RTT_US = 1_000  # MsQuic: no pacing below a 1 ms RTT
PACING_INTERVAL_US = 1_000  # MsQuic's pacing timer period: the bucket holds at least this much


class Pacer:
    """Paces in-flight packets to 1.25 * cwnd / smoothed_rtt with a bounded burst."""

    __slots__ = ("_burst_packets", "_cc", "_last_us", "_rtt", "_tokens")

    def __init__(
        self,
        cc: CongestionController,
        rtt: RttEstimator,
        *,
        burst_packets: int = DEFAULT_BURST_PACKETS,
    ) -> None:
        if burst_packets < 1:
            raise ValueError(f"burst_packets must be at least 1, got {burst_packets}")
        self._cc = cc
        self._rtt = rtt
        self._burst_packets = burst_packets
        self._tokens = float(self.capacity_bytes)
        self._last_us: int | None = None

    @property
    def enabled(self) -> bool:
        """Pacing needs an RTT sample of at least :data:`MIN_PACING_RTT_US`."""
        return self._rtt.has_sample and self._rtt.smoothed_rtt_us >= MIN_PACING_RTT_US

    @property
    def capacity_bytes(self) -> int:
        """The bucket size: ``burst_packets`` datagrams, or one pacing interval at the rate."""
        burst = self._burst_packets * self._cc.max_datagram_size
        return max(burst, math.ceil(self.rate_bytes_per_us() * PACING_INTERVAL_US))

    def rate_bytes_per_us(self) -> float:
        """N * congestion_window / smoothed_rtt (RFC 9002 §7.7); 0 when disabled."""
        if not self.enabled:
            return 0.0
        return PACING_GAIN * self._cc.congestion_window / self._rtt.smoothed_rtt_us

    def _tokens_at(self, now_us: int) -> float:
        tokens = self._tokens
        last = self._last_us
        if last is not None and now_us > last:
            tokens += (now_us - last) * self.rate_bytes_per_us()
        return min(tokens, float(self.capacity_bytes))

    def time_until_send_us(self, size_bytes: int, now_us: int) -> int:
        """Microseconds to wait before a packet of ``size_bytes`` may be sent; 0 = send now."""
        # Inlined enabled, rate_bytes_per_us and _tokens_at (same arithmetic): a per-datagram call
        rtt = self._rtt
        if not rtt.has_sample or rtt.smoothed_rtt_us < MIN_PACING_RTT_US:
            return 0
        cc = self._cc
        rate = PACING_GAIN * cc.congestion_window / rtt.smoothed_rtt_us
        capacity = max(self._burst_packets * cc.max_datagram_size, rate * PACING_INTERVAL_US)
        tokens = self._tokens
        last = self._last_us
        if last is not None and now_us > last:
            tokens += (now_us - last) * rate
        # A packet larger than the bucket waits only for a full bucket (else it would never go).
        missing = min(size_bytes, capacity) - min(tokens, float(capacity))
        if missing <= 0:
            return 0
        return math.ceil(missing / rate)

    def allowance_bytes(self, now_us: int) -> int | None:
        """Bytes that may leave now without waiting (None: pacing is off, no limit).

        A burst of packets sent at one instant takes them from this allowance and reports them
        with one :meth:`on_sent` of their total: the bucket arithmetic is the same as per
        packet (MsQuic's send allowance)."""
        rtt = self._rtt
        if not rtt.has_sample or rtt.smoothed_rtt_us < MIN_PACING_RTT_US:
            return None
        return max(0, math.floor(self._tokens_at(now_us)))

    def on_sent(self, size_bytes: int, now_us: int) -> None:
        """A paced packet of ``size_bytes`` left at ``now_us``."""
        if self.enabled:
            self._tokens = self._tokens_at(now_us) - size_bytes
        else:
            # Unpaced: keep the bucket full so pacing starts with a full burst allowance.
            self._tokens = float(self.capacity_bytes)
        if self._last_us is None or now_us > self._last_us:
            self._last_us = now_us
