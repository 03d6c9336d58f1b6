"""Connection-level flow control (RFC 9000 §4.1, §19.9, §19.12) and the auto-tuned window."""

from __future__ import annotations

import pytest

from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.core.flow_control import AutoTunedWindow, ReceiveWindow, SendCredit
from pyquic.core.frames import DataBlockedFrame, MaxDataFrame

RTT_US = 50_000


def test_send_credit_tracks_sent_bytes_and_ignores_decreases() -> None:
    credit = SendCredit(1000)
    assert credit.credit == 1000
    credit.on_sent(600)
    assert credit.credit == 400
    assert not credit.update(900)  # §4.1: a MAX_DATA that does not increase is ignored
    assert credit.max_data == 1000
    assert credit.update(1500)
    assert credit.credit == 900
    with pytest.raises(ValueError, match="credit"):
        credit.on_sent(901)


def test_data_blocked_once_per_limit() -> None:
    credit = SendCredit(100)
    assert credit.blocked_frame() is None  # not blocked
    credit.on_sent(100)
    assert credit.blocked
    assert credit.blocked_frame() == DataBlockedFrame(100)
    assert credit.blocked_frame() is None
    credit.on_blocked_lost(100)
    assert credit.blocked_frame() == DataBlockedFrame(100)
    credit.update(200)
    credit.on_blocked_lost(100)  # stale
    assert credit.blocked_frame() is None
    credit.on_sent(100)
    assert credit.blocked_frame() == DataBlockedFrame(200)


def test_receive_window_flow_control_error() -> None:
    window = ReceiveWindow(1000)
    window.on_received(400)
    window.on_received(600)  # exactly MAX_DATA is fine
    with pytest.raises(QuicError) as excinfo:
        window.on_received(1)
    assert excinfo.value.error_code == TransportErrorCode.FLOW_CONTROL_ERROR


def test_max_data_after_half_consumed() -> None:
    window = ReceiveWindow(1000)
    window.on_received(1000)
    window.on_consumed(499)
    assert not window.max_data_due
    assert window.max_data_frame(0, RTT_US) is None
    window.on_consumed(1)
    assert window.max_data_due
    assert window.max_data_frame(0, RTT_US) == MaxDataFrame(1500)
    assert window.max_data == 1500
    assert window.max_data_frame(0, RTT_US) is None
    window.on_received(500)  # the new limit is honoured


def consume_to_limit(window: ReceiveWindow, now_us: int) -> MaxDataFrame | None:
    window.on_received(window.max_data - window.received)
    window.on_consumed(window.received - window.consumed)
    return window.max_data_frame(now_us, RTT_US)


def test_connection_window_auto_tunes_when_consumed_fast() -> None:
    window = ReceiveWindow(1000, max_window=8000)
    assert consume_to_limit(window, 0) == MaxDataFrame(2000)
    assert consume_to_limit(window, RTT_US) == MaxDataFrame(4000)  # within 2 RTTs: doubled
    assert window.window == 2000
    assert consume_to_limit(window, 2 * RTT_US) == MaxDataFrame(8000)
    assert consume_to_limit(window, 3 * RTT_US) == MaxDataFrame(16000)
    assert consume_to_limit(window, 4 * RTT_US) == MaxDataFrame(24000)
    assert window.window == 8000  # capped


def test_connection_window_stays_when_consumed_slowly() -> None:
    window = ReceiveWindow(1000, max_window=8000)
    now_us = 0
    for _ in range(5):
        consume_to_limit(window, now_us)
        now_us += 3 * RTT_US
    assert window.window == 1000


def test_max_data_loss_resends_unless_superseded() -> None:
    window = ReceiveWindow(100)
    frame = consume_to_limit(window, 0)
    assert frame == MaxDataFrame(200)
    window.on_max_data_lost(200)
    assert window.max_data_due
    assert window.max_data_frame(1, RTT_US) == MaxDataFrame(200)
    newer = consume_to_limit(window, 10 * RTT_US)
    assert newer == MaxDataFrame(300)
    window.on_max_data_lost(200)
    assert window.max_data_frame(11 * RTT_US, RTT_US) is None
    window.on_max_data_lost()
    assert window.max_data_frame(12 * RTT_US, RTT_US) == MaxDataFrame(300)


def test_zero_window_never_advertises() -> None:
    window = AutoTunedWindow(0)
    assert not window.update_due(0)
    assert window.next_limit(0, 0, RTT_US) is None


def test_window_validation() -> None:
    with pytest.raises(ValueError, match="negative"):
        AutoTunedWindow(-1)
    assert AutoTunedWindow(100, max_window=50).max_window == 100
