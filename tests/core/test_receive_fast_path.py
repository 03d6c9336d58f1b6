"""The 1-RTT single-STREAM receive fast path gives the generic path's results (RFC 9000 §19.8).

Each scenario plays the server with forged 1-RTT packets into a real client, twice: with the fast
path, and with it disabled (so every packet takes the generic frame parser and handlers).  Both
runs must give the same data, events, acknowledgement state and errors; the fast run must also
have kept the eligible packets away from the generic parser.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from forge import deliver, drain_events, forge_datagram, handshake

from pyquic.core import receive_path, stream_fast_path
from pyquic.core.errors import TransportErrorCode
from pyquic.core.events import ConnectionEvent, ConnectionTerminated
from pyquic.core.frames import Frame, PaddingFrame, PingFrame, StreamFrame
from pyquic.core.levels import PacketSpace
from pyquic.core.settings import Settings
from pyquic.testing.pair import ConnectionPair, connection_pair

STREAM = 0  # the client's first bidirectional stream: open before the first packet
WINDOW = 65_536  # the client's initial stream receive window (Settings default)
CHUNK = 1000

# a scenario: the frames (or raw payload) of each forged packet, then the order (indices) they
# are delivered in
Packets = list[list[Frame] | bytes]


@dataclass
class Outcome:
    data: bytes
    fin: bool
    events: list[ConnectionEvent]
    received_ranges: list[tuple[int, int]]
    duplicates: int
    generic_parses: int


def _chunk(index: int, *, fin: bool = False, stream_id: int = STREAM) -> StreamFrame:
    data = bytes([index & 0xFF]) * CHUNK
    return StreamFrame(stream_id, index * CHUNK, data, fin)


def _pair(settings: Settings | None = None) -> tuple[ConnectionPair, int]:
    pair = connection_pair(seed=3, client_settings=settings)
    now = handshake(pair)
    assert pair.client.open_stream() == STREAM
    drain_events(pair.client)
    return pair, now


def _run(
    packets: Packets,
    order: Sequence[int],
    *,
    fast: bool,
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings | None = None,
) -> Outcome:
    pair, now = _pair(settings)
    client = pair.client
    parses = 0
    generic = receive_path.parse_frames

    def counting(*args: Any) -> Any:
        nonlocal parses
        parses += 1
        return generic(*args)

    with monkeypatch.context() as patch:
        patch.setattr(receive_path, "parse_frames", counting)
        if not fast:
            patch.setattr(stream_fast_path, "parse_single_stream", lambda payload: None)
        datagrams = [forge_datagram(pair.server, frames, now_us=now) for frames in packets]
        data, fin, events = bytearray(), False, []
        for index in order:
            now += 1000
            deliver(client, [datagrams[index]], now)
            events += drain_events(client)
            if client.streams.get(STREAM) is not None:
                chunk, fin = client.read_stream(STREAM)
                data += chunk
    tracker = client.ack_trackers[PacketSpace.APPLICATION]
    return Outcome(
        bytes(data),
        fin,
        events,
        tracker.received_ranges(),
        client.stats.recv_duplicate_packets,
        parses,
    )


def _both(
    packets: Packets, order: Sequence[int], monkeypatch: pytest.MonkeyPatch, **kw: Any
) -> tuple[Outcome, Outcome]:
    fast = _run(packets, order, fast=True, monkeypatch=monkeypatch, **kw)
    generic = _run(packets, order, fast=False, monkeypatch=monkeypatch, **kw)
    assert generic.generic_parses == len(order) - generic.duplicates  # §12.3: never parsed
    assert (fast.data, fast.fin, fast.events) == (generic.data, generic.fin, generic.events)
    assert fast.received_ranges == generic.received_ranges
    assert fast.duplicates == generic.duplicates
    return fast, generic


def _expected(indices: Iterator[int] | range) -> bytes:
    return b"".join(bytes([i & 0xFF]) * CHUNK for i in indices)


def _terminated(events: list[ConnectionEvent]) -> ConnectionTerminated:
    closes = [event for event in events if isinstance(event, ConnectionTerminated)]
    assert len(closes) == 1
    return closes[0]


def test_in_order_stream_packets_skip_the_generic_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    packets: Packets = [[_chunk(i)] for i in range(20)]
    fast, _ = _both(packets, range(20), monkeypatch)
    assert fast.data == _expected(range(20))
    assert fast.generic_parses == 0
    assert len(fast.received_ranges) == 1


def test_stream_frame_followed_by_padding_is_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    packets: Packets = [[_chunk(i), PaddingFrame(37)] for i in range(4)]
    fast, _ = _both(packets, range(4), monkeypatch)
    assert fast.data == _expected(range(4))
    assert fast.generic_parses == 0


def test_stream_frame_followed_by_another_frame_is_generic(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    packets: Packets = [[_chunk(0), PingFrame()], [_chunk(1)], [PingFrame(), _chunk(2)]]
    fast, _ = _both(packets, range(3), monkeypatch)
    assert fast.data == _expected(range(3))
    assert fast.generic_parses == 2  # the packets with a PING


def test_out_of_order_packets(monkeypatch: pytest.MonkeyPatch) -> None:
    packets: Packets = [[_chunk(i)] for i in range(6)]
    order = [0, 2, 1, 4, 5, 3]
    fast, _ = _both(packets, order, monkeypatch)
    assert fast.data == _expected(range(6))
    assert fast.generic_parses == 0  # every packet opened to a single STREAM frame
    assert len(fast.received_ranges) == 1  # every packet number, without a gap


def test_duplicate_packets_and_retransmitted_data(monkeypatch: pytest.MonkeyPatch) -> None:
    # packet 2 repeats packet 1's bytes under a new number (a retransmission, RFC 9000 §2.2);
    # delivering packet 1 twice is a duplicate packet, dropped unprocessed (RFC 9000 §12.3)
    packets: Packets = [[_chunk(0)], [_chunk(1)], [_chunk(1)], [_chunk(2)]]
    fast, _ = _both(packets, [0, 1, 1, 2, 3, 3], monkeypatch)
    assert fast.data == _expected(range(3))
    assert fast.duplicates == 2
    assert fast.generic_parses == 0


def test_fin_ends_the_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    packets: Packets = [[_chunk(0)], [_chunk(1)], [_chunk(2, fin=True)]]
    fast, _ = _both(packets, range(3), monkeypatch)
    assert fast.data == _expected(range(3)) and fast.fin
    assert fast.generic_parses == 0


def test_fin_before_the_data(monkeypatch: pytest.MonkeyPatch) -> None:
    packets: Packets = [[_chunk(0)], [_chunk(1)], [_chunk(2, fin=True)]]
    fast, _ = _both(packets, [2, 0, 1], monkeypatch)
    assert fast.data == _expected(range(3)) and fast.fin
    assert fast.generic_parses == 0


def test_stream_flow_control_violation(monkeypatch: pytest.MonkeyPatch) -> None:
    # RFC 9000 §4.1: data beyond the advertised MAX_STREAM_DATA is a FLOW_CONTROL_ERROR
    count = WINDOW // CHUNK + 1
    packets: Packets = [[_chunk(i)] for i in range(count)]
    fast, _ = _both(
        packets, range(count), monkeypatch, settings=Settings(stream_recv_window_default=WINDOW)
    )
    close = _terminated(fast.events)
    assert close.error_code == TransportErrorCode.FLOW_CONTROL_ERROR
    assert close.frame_type == 0x0E  # STREAM with OFF and LEN (RFC 9000 §19.19)
    assert fast.generic_parses == 0


def test_connection_flow_control_violation(monkeypatch: pytest.MonkeyPatch) -> None:
    # RFC 9000 §4.1: the sum over streams beyond MAX_DATA is a FLOW_CONTROL_ERROR
    settings = Settings(
        stream_recv_window_default=WINDOW,
        conn_flow_control_window=WINDOW // 2,
        conn_flow_control_window_max=WINDOW // 2,
    )
    count = WINDOW // 2 // CHUNK + 1
    packets: Packets = [[_chunk(i)] for i in range(count)]
    fast, _ = _both(packets, range(count), monkeypatch, settings=settings)
    close = _terminated(fast.events)
    assert close.error_code == TransportErrorCode.FLOW_CONTROL_ERROR
    assert close.frame_type == 0x0E
    assert fast.generic_parses == 0


def test_data_beyond_the_final_size(monkeypatch: pytest.MonkeyPatch) -> None:
    # RFC 9000 §4.5: data at or beyond the final size is a FINAL_SIZE_ERROR
    packets: Packets = [[_chunk(0)], [_chunk(1, fin=True)], [_chunk(2)]]
    fast, _ = _both(packets, range(3), monkeypatch)
    close = _terminated(fast.events)
    assert close.error_code == TransportErrorCode.FINAL_SIZE_ERROR
    assert close.frame_type == 0x0E
    assert fast.generic_parses == 0


def test_a_changed_final_size(monkeypatch: pytest.MonkeyPatch) -> None:
    # RFC 9000 §4.5: a second FIN at another offset changes the final size
    packets: Packets = [[_chunk(0)], [_chunk(2, fin=True)], [_chunk(1, fin=True)]]
    fast, _ = _both(packets, range(3), monkeypatch)
    close = _terminated(fast.events)
    assert close.error_code == TransportErrorCode.FINAL_SIZE_ERROR
    assert close.frame_type == 0x0F
    assert fast.generic_parses == 0


def test_a_new_peer_stream_takes_the_generic_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # the server's first unidirectional stream (3) is opened by its first frame (RFC 9000 §3.2)
    packets: Packets = [[_chunk(i, stream_id=3)] for i in range(3)]
    fast, _ = _both(packets, range(3), monkeypatch)
    assert fast.generic_parses == 1  # only the packet that opened it
    assert any(type(event).__name__ == "StreamOpened" for event in fast.events)


def test_a_stream_frame_for_our_send_only_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    # RFC 9000 §19.8: STREAM for a locally initiated unidirectional stream is STREAM_STATE_ERROR
    def run(fast: bool) -> list[ConnectionEvent]:
        pair, now = _pair()
        with monkeypatch.context() as patch:
            if not fast:
                patch.setattr(stream_fast_path, "parse_single_stream", lambda payload: None)
            stream_id = pair.client.open_stream(bidirectional=False)
            # it has no receiving part, so the generic handler rejects the frame
            assert stream_fast_path.existing_recv_stream(pair.client, stream_id) is None
            deliver(
                pair.client,
                [forge_datagram(pair.server, [_chunk(0, stream_id=stream_id)], now_us=now)],
                now,
            )
            return drain_events(pair.client)

    fast_events, generic_events = run(True), run(False)
    assert fast_events == generic_events
    assert _terminated(fast_events).error_code == TransportErrorCode.STREAM_STATE_ERROR


@pytest.mark.parametrize(
    ("payload", "fast_path"),
    [
        (bytes([0x0A, 0x00, 0x40, 0x00]) + bytes(20), True),  # empty, 2-byte Length, PADDING
        (bytes([0x08, 0x00]) + b"the rest of the packet", True),  # no LEN: runs to the end
        (bytes([0x0D, 0xC0]) + bytes(8) + bytes(20), True),  # 8-byte stream ID, OFF, FIN
        (bytes([0x0A, 0x00, 0x20]) + bytes(10), False),  # Length 32 beyond the packet
        (bytes([0x0E, 0x00, 0x80]) + bytes(2), False),  # a truncated Offset
        (bytes([0x0A, 0x00, 0x05]) + b"hello" + b"\x01", False),  # followed by a PING
        (bytes([0x0A, 0x00, 0x05]) + b"hello" + bytes(3) + b"\x01", False),  # PADDING, PING
    ],
)
def test_fast_and_generic_agree_on_odd_payloads(
    payload: bytes, fast_path: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (stream_fast_path.parse_single_stream(payload) is not None) is fast_path
    fast, _ = _both([payload], [0], monkeypatch)
    assert fast.generic_parses == (0 if fast_path else 1)
