"""Round-trip time estimation (RFC 9002 §5) and the probe timeout period (RFC 9002 §6.2.1).

Design: integer microseconds throughout; the exponentially weighted averages of RFC 9002 §5.3
use floor division (7/8, 3/4), so every value is an exact, reproducible integer.  ``rttvar`` is
updated from the *previous* ``smoothed_rtt``, as in the Appendix A.7 pseudocode and RFC 6298 §2.3
(the prose of §5.3 lists the two assignments the other way round; the appendix order is the one
TCP has always used).  The estimator does not know the time; the caller (loss detection) records
when the first sample was taken, which persistent congestion needs (RFC 9002 §7.6.2).
"""

from __future__ import annotations

K_GRANULARITY_US = 1_000  # kGranularity, RFC 9002 §6.1.2 and §A.2
K_INITIAL_RTT_US = 333_000  # kInitialRtt, RFC 9002 §6.2.2


class RttEstimator:
    """latest_rtt, min_rtt, smoothed_rtt and rttvar of one path (RFC 9002 §5)."""

    __slots__ = (
        "has_sample",
        "initial_rtt_us",
        "latest_rtt_us",
        "min_rtt_us",
        "rttvar_us",
        "smoothed_rtt_us",
    )

    initial_rtt_us: int
    latest_rtt_us: int  # the most recent sample
    min_rtt_us: int  # 0 until the first sample
    smoothed_rtt_us: int
    rttvar_us: int
    has_sample: bool

    def __init__(self, initial_rtt_us: int = K_INITIAL_RTT_US) -> None:
        self.reset(initial_rtt_us)

    def reset(self, initial_rtt_us: int | None = None) -> None:
        """Forget all samples, e.g. for a new path (RFC 9002 §5.3, RFC 9000 §9.4)."""
        if initial_rtt_us is None:
            initial_rtt_us = self.initial_rtt_us
        if initial_rtt_us <= 0:
            raise ValueError(f"initial RTT must be positive, got {initial_rtt_us}")
        self.initial_rtt_us = initial_rtt_us
        self.latest_rtt_us = 0
        self.min_rtt_us = 0
        self.smoothed_rtt_us = initial_rtt_us  # RFC 9002 §5.3: smoothed_rtt = kInitialRtt
        self.rttvar_us = initial_rtt_us // 2  # rttvar = kInitialRtt / 2
        self.has_sample = False

    def update(
        self,
        sample_us: int,
        ack_delay_us: int,
        *,
        handshake_confirmed: bool,
        max_ack_delay_us: int,
    ) -> None:
        """Take one RTT sample (``latest_rtt``) with the peer's reported ACK delay (RFC 9002 §5)."""
        sample_us = max(sample_us, 0)  # a clock cannot make an ACK arrive before its packet
        self.latest_rtt_us = sample_us
        if not self.has_sample:
            # RFC 9002 §5.2, §5.3: the first sample resets the estimator.
            self.has_sample = True
            self.min_rtt_us = sample_us
            self.smoothed_rtt_us = sample_us
            self.rttvar_us = sample_us // 2
            return
        # RFC 9002 §5.2: min_rtt ignores acknowledgment delay.
        self.min_rtt_us = min(self.min_rtt_us, sample_us)
        # RFC 9002 §5.3: cap the ack delay by max_ack_delay only after handshake confirmation.
        if handshake_confirmed:
            ack_delay_us = min(ack_delay_us, max_ack_delay_us)
        # RFC 9002 §5.3: subtract the ack delay only if the result stays at or above min_rtt.
        adjusted_us = sample_us
        if ack_delay_us > 0 and sample_us >= self.min_rtt_us + ack_delay_us:
            adjusted_us = sample_us - ack_delay_us
        smoothed = self.smoothed_rtt_us
        self.rttvar_us = (3 * self.rttvar_us + abs(smoothed - adjusted_us)) // 4
        self.smoothed_rtt_us = (7 * smoothed + adjusted_us) // 8

    def pto_duration_us(self, *, include_max_ack_delay: bool, max_ack_delay_us: int) -> int:
        """smoothed_rtt + max(4*rttvar, kGranularity) [+ max_ack_delay] (RFC 9002 §6.2.1).

        ``max_ack_delay`` is included for the application data space only (§6.2.1); the result is
        the un-backed-off period, at least kGranularity.
        """
        duration = self.smoothed_rtt_us + max(4 * self.rttvar_us, K_GRANULARITY_US)
        if include_max_ack_delay:
            duration += max_ack_delay_us
        return duration

    def loss_delay_us(self) -> int:
        """The time-threshold reordering window: 9/8 * max(latest_rtt, smoothed_rtt), at least
        kGranularity (RFC 9002 §6.1.2, kTimeThreshold = 9/8); floor division."""
        return max(9 * max(self.latest_rtt_us, self.smoothed_rtt_us) // 8, K_GRANULARITY_US)

    def __repr__(self) -> str:
        return (
            f"RttEstimator(latest={self.latest_rtt_us}, smoothed={self.smoothed_rtt_us}, "
            f"rttvar={self.rttvar_us}, min={self.min_rtt_us}, has_sample={self.has_sample})"
        )
