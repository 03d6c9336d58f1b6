"""Flow control credit (RFC 9000 §4): our receive limits with auto-tuning, and the peer's limit.

* :class:`AutoTunedWindow` is one receive limit that follows consumption: when the application has
  consumed at least half the window since the last advertisement, a new limit of
  ``consumed + window`` is due (§4.2).  Like MsQuic's ``stream_recv.c``, the window doubles (up to
  ``max_window``) when the previous advertisement was used up quickly: here, when the next update
  falls due within two smoothed RTTs of the previous one, which grows the window until it is
  about four times the bandwidth-delay product the application actually consumes.  Streams
  (:mod:`pyquic.core.stream_recv`, MAX_STREAM_DATA) and the connection (MAX_DATA) share it.
* :class:`ReceiveWindow` is the connection-level receive side: the sum of the highest received
  offsets over all streams is checked against MAX_DATA (FLOW_CONTROL_ERROR, §4.1, §19.9), and the
  bytes consumed on all streams drive new MAX_DATA frames.
* :class:`SendCredit` is the connection-level send side: the peer's MAX_DATA, ignoring decreases
  (§4.1), and DATA_BLOCKED once per limit (§4.1, §19.12).

No clock: callers pass ``now_us`` and the smoothed RTT in microseconds.
"""

from __future__ import annotations

from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.core.frames import DataBlockedFrame, FrameType, MaxDataFrame

# The window doubles when the previous one was consumed within this many smoothed RTTs.
AUTO_TUNE_RTT_MULTIPLIER = 2


class AutoTunedWindow:
    """A receive limit in bytes (absolute offset), advanced as data is consumed.

    ``limit`` is the largest limit advertised; ``window`` the credit granted beyond the consumed
    offset at each update (bytes); ``max_window`` caps auto-tuning.
    """

    __slots__ = ("_last_update_us", "_resend", "limit", "max_window", "window")

    def __init__(self, window: int, max_window: int | None = None) -> None:
        if window < 0:
            raise ValueError(f"window must not be negative, got {window}")
        self.limit = window  # the initial limit is the transport parameter
        self.window = window
        self.max_window = window if max_window is None else max(window, max_window)
        self._last_update_us: int | None = None
        self._resend = False

    def update_due(self, consumed: int) -> bool:
        """Whether a new (or re-sent) limit should be advertised, given bytes consumed so far."""
        return self._resend or self._advance_due(consumed)

    def _advance_due(self, consumed: int) -> bool:
        # at least half the window consumed since the last update, and a larger limit to give
        window = self.window
        return self.limit - consumed <= window // 2 and consumed + window > self.limit

    def next_limit(self, consumed: int, now_us: int, smoothed_rtt_us: int) -> int | None:
        """Advance the limit if due and return it to advertise; re-send it after a loss.

        Returns ``None`` when nothing needs advertising.
        """
        if self._advance_due(consumed):
            last = self._last_update_us
            if (
                last is not None
                and now_us - last <= AUTO_TUNE_RTT_MULTIPLIER * smoothed_rtt_us
                and self.window < self.max_window
            ):
                self.window = min(self.window * 2, self.max_window)
            self._last_update_us = now_us
            self.limit = consumed + self.window
            self._resend = False
            return self.limit
        if self._resend:
            self._resend = False
            return self.limit
        return None

    def on_lost(self, limit: int | None = None) -> None:
        """A frame advertising ``limit`` (``None``: the current) was lost; resend if current."""
        if limit is None or limit == self.limit:
            self._resend = True


class ReceiveWindow(AutoTunedWindow):
    """Connection-level receive flow control (RFC 9000 §4.1): MAX_DATA we advertise.

    ``received`` is the sum over streams of the highest offset received (or final size);
    ``consumed`` the bytes the application read or that were discarded, in bytes.
    """

    __slots__ = ("consumed", "received")

    def __init__(self, window: int, max_window: int | None = None) -> None:
        super().__init__(window, max_window)
        self.received = 0
        self.consumed = 0

    @property
    def max_data(self) -> int:
        """The largest MAX_DATA advertised (initially the initial_max_data transport parameter)."""
        return self.limit

    def on_received(self, increase: int, frame_type: int = FrameType.STREAM) -> None:
        """A stream's highest received offset grew by ``increase`` bytes (in a ``frame_type``).

        Raises QuicError(FLOW_CONTROL_ERROR) beyond MAX_DATA (RFC 9000 §4.1, §19.9).
        """
        self.received += increase
        if self.received > self.limit:
            raise QuicError(
                TransportErrorCode.FLOW_CONTROL_ERROR,
                f"{self.received} bytes received exceed MAX_DATA {self.limit}",
                frame_type=frame_type,
            )

    def on_consumed(self, count: int) -> None:
        """``count`` more bytes were read by the application or discarded."""
        self.consumed += count

    @property
    def max_data_due(self) -> bool:
        """Whether ``max_data_frame`` would return a frame."""
        return self.update_due(self.consumed)

    def max_data_frame(self, now_us: int, smoothed_rtt_us: int) -> MaxDataFrame | None:
        """A MAX_DATA frame when half the window was consumed (auto-tuned) or one was lost."""
        limit = self.next_limit(self.consumed, now_us, smoothed_rtt_us)
        return None if limit is None else MaxDataFrame(limit)

    def on_max_data_lost(self, maximum_data: int | None = None) -> None:
        """A MAX_DATA frame was lost: re-send the limit unless a larger one superseded it."""
        self.on_lost(maximum_data)


class SendCredit:
    """Connection-level send flow control: the peer's MAX_DATA and the bytes we sent (§4.1)."""

    __slots__ = ("_blocked_reported", "max_data", "sent")

    def __init__(self, max_data: int = 0) -> None:
        self.max_data = max_data  # the peer's initial_max_data, then MAX_DATA frames
        self.sent = 0  # new stream bytes sent (retransmissions excluded)
        self._blocked_reported = -1  # the limit a DATA_BLOCKED frame was last queued for

    @property
    def credit(self) -> int:
        """New stream bytes we may still send."""
        return self.max_data - self.sent

    def on_sent(self, count: int) -> None:
        """``count`` new (never sent) stream bytes went out; ValueError beyond the credit."""
        if count > self.max_data - self.sent:
            raise ValueError(f"sending {count} bytes exceeds the credit {self.credit}")
        self.sent += count

    def update(self, max_data: int) -> bool:
        """Apply MAX_DATA (or initial_max_data); decreases are ignored (§4.1, §19.9).

        Returns whether the limit grew.
        """
        if max_data <= self.max_data:
            return False
        self.max_data = max_data
        return True

    @property
    def blocked(self) -> bool:
        """Whether no new stream data may be sent."""
        return self.sent >= self.max_data

    def blocked_frame(self) -> DataBlockedFrame | None:
        """DATA_BLOCKED, once per limit, while blocked (§4.1, §19.12).

        Call it when streams have new data waiting for credit.
        """
        if self.sent < self.max_data or self._blocked_reported == self.max_data:
            return None
        self._blocked_reported = self.max_data
        return DataBlockedFrame(self.max_data)

    def on_blocked_lost(self, maximum_data: int) -> None:
        """A DATA_BLOCKED frame was lost: send it again if still blocked at that limit."""
        if maximum_data == self._blocked_reported == self.max_data:
            self._blocked_reported = -1
