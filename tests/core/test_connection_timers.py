"""The connection's timers, to the microsecond: PTO and its backoff (RFC 9002 §6.2), delayed and
immediate ACKs (RFC 9000 §13.2), the idle timeouts (RFC 9000 §10.1) and the closing and draining
periods (RFC 9000 §10.2).

Each test completes the handshake on the pair's network (no loss, fixed 10 ms latency), then moves
every datagram by hand at explicit virtual times, so nothing happens that the test did not ask for
and every deadline is checked against the value the RFCs give, computed from the connection's own
RTT state.  The network is not run again after that.
"""

from __future__ import annotations

from forge import (
    close_frames,
    deliver,
    drain_events,
    flush,
    forge_datagram,
    handshake,
    open_datagram,
    send_keys,
)

from pyquic.core.connection import Connection, ConnectionState
from pyquic.core.errors import TransportErrorCode
from pyquic.core.events import ConnectionTerminated, StreamOpened
from pyquic.core.frame_rules import is_ack_eliciting
from pyquic.core.frames import (
    AckFrame,
    ConnectionCloseFrame,
    CryptoFrame,
    Frame,
    HandshakeDoneFrame,
    PingFrame,
    StreamFrame,
)
from pyquic.core.levels import EncryptionLevel, PacketSpace
from pyquic.core.mtu_discovery import PROBE_AFTER_BYTES
from pyquic.core.rtt import K_GRANULARITY_US
from pyquic.core.settings import Settings
from pyquic.core.version import PacketType
from pyquic.testing.certificates import make_test_credentials
from pyquic.testing.pair import DEFAULT_EPOCH, ConnectionPair, connection_pair, pair_settings

LATENCY_US = 10_000  # the network's default one-way latency, used for hand deliveries too
MAX_ACK_DELAY_US = 25_000  # both sides' default max_ack_delay (RFC 9000 §18.2)


def _pto_us(conn: Connection) -> int:
    """RFC 9002 §6.2.1: smoothed_rtt + max(4*rttvar, kGranularity) + max_ack_delay."""
    rtt = conn.rtt
    return (
        rtt.smoothed_rtt_us + max(4 * rtt.rttvar_us, K_GRANULARITY_US) + conn.peer_max_ack_delay_us
    )


def _established(
    seed: int,
    *,
    client: Settings | None = None,
    server: Settings | None = None,
    settle_us: int = 300_000,
) -> tuple[ConnectionPair, int]:
    pair = connection_pair(seed=seed, client_settings=client, server_settings=server)
    handshake(pair, settle_us=0)
    # each side sends enough for its PMTU search to run (it waits for a bulk sender, RFC 8899
    # §5.2), so the search is over and no probe appears among the packets a test counts
    for conn in (pair.client, pair.server):
        conn.send_stream(conn.open_stream(bidirectional=False), bytes(PROBE_AFTER_BYTES), fin=True)
    pair.run_for(settle_us)
    now = pair.network.now_us
    for conn in (pair.client, pair.server):
        assert conn.stats.send_path_mtu > 1200  # the search is over: the probe was acknowledged
    drain_events(pair.client)
    drain_events(pair.server)
    for conn in (pair.client, pair.server):
        # quiet: nothing due but the idle timer
        assert conn.next_timer_us() == conn.idle_deadline_us
        assert flush(conn, now) == []
    return pair, now


def _frames(sender: Connection, datagram: bytes) -> list[tuple[PacketType, Frame]]:
    return [
        (packet.packet_type, frame)
        for packet in open_datagram(sender, datagram)
        for frame in packet.frames
    ]


def _state(conn: Connection) -> ConnectionState:
    """The state, read through a call so a type checker does not narrow it across calls."""
    return conn.state


def _terminated(conn: Connection) -> list[ConnectionTerminated]:
    return [e for e in drain_events(conn) if isinstance(e, ConnectionTerminated)]


# --- PTO (RFC 9002 §6.2) ------------------------------------------------------------------------


def test_each_probe_of_a_lost_client_hello_repeats_it() -> None:
    """RFC 9002 §6.2.4: probes carry the data in flight.  Both probes of a lost first flight carry
    the ClientHello, so whichever reaches the server first can start its handshake (a server may
    refuse a first Initial without CRYPTO, as a PING-only probe would be)."""
    pair = connection_pair(seed=31)
    client = pair.client
    t0 = pair.network.now_us
    first = flush(client, t0)  # the ClientHello, dropped
    assert len(first) == 1
    deadline = client.next_timer_us()
    assert deadline is not None
    client.handle_timer(deadline)
    probes = flush(client, deadline)
    assert len(probes) == 2
    for probe in probes:
        frames = _frames(client, probe)
        crypto = [
            f for kind, f in frames if kind is PacketType.INITIAL and isinstance(f, CryptoFrame)
        ]
        assert crypto and crypto[0].offset == 0, frames


def test_pto_fires_at_the_rfc_9002_time_and_backs_off() -> None:
    pair, t0 = _established(1)
    client, server = pair.client, pair.server
    assert client.peer_max_ack_delay_us == MAX_ACK_DELAY_US
    stream_id = client.open_stream()
    client.send_stream(stream_id, b"lost once", fin=True)
    assert len(flush(client, t0)) == 1  # dropped: never delivered
    pto = _pto_us(client)
    assert client.next_timer_us() == t0 + pto

    # nothing happens a microsecond early
    client.handle_timer(t0 + pto - 1)
    assert flush(client, t0 + pto - 1) == []
    assert client.loss.pto_count == 0

    # the first PTO: ack-eliciting probes, and the period doubles (RFC 9002 §6.2.1)
    first = t0 + pto
    client.handle_timer(first)
    probes = flush(client, first)
    assert 1 <= len(probes) <= 2  # RFC 9002 §6.2.4: up to two
    for probe in probes:
        frames = [frame for _, frame in _frames(client, probe)]
        assert is_ack_eliciting(f.wire_type for f in frames), frames  # RFC 9002 §6.2.4
    assert client.loss.pto_count == 1
    assert pto == _pto_us(client)  # no RTT sample in between
    assert client.next_timer_us() == first + 2 * pto

    # the second PTO (its probes are dropped too): four times the period
    second = first + 2 * pto
    client.handle_timer(second - 1)
    assert flush(client, second - 1) == []
    client.handle_timer(second)
    probes = flush(client, second)
    assert 1 <= len(probes) <= 2
    assert client.loss.pto_count == 2
    assert client.next_timer_us() == second + 4 * pto

    # the probes repeat the data in flight (RFC 9002 §6.2.4), whatever the encoding (with or
    # without a Length field, §19.8)
    frames = [f for d in probes for _, f in _frames(client, d)]
    resent = [(f.stream_id, f.offset, f.data, f.fin) for f in frames if isinstance(f, StreamFrame)]
    assert (stream_id, 0, b"lost once", True) in resent
    # the last probes get through: the data arrives, the server acknowledges at once (a gap,
    # RFC 9000 §13.2.1), and the acknowledgement resets the backoff (RFC 9002 §6.2.1)
    deliver(server, probes, second + LATENCY_US)
    assert server.read_stream(stream_id) == (b"lost once", True)
    acks = flush(server, second + LATENCY_US)
    assert acks
    deliver(client, acks, second + 2 * LATENCY_US)
    assert client.loss.pto_count == 0


def test_pto_period_uses_the_granularity_floor_when_rttvar_is_small() -> None:
    """max(4*rttvar, kGranularity): many identical samples shrink rttvar below 250 us."""
    pair, now = _established(2)
    client, server = pair.client, pair.server
    stream_id = client.open_stream()
    for _ in range(12):
        client.send_stream(stream_id, b"x")
        data = flush(client, now)
        deliver(server, data, now + LATENCY_US)
        server.handle_timer(now + LATENCY_US + MAX_ACK_DELAY_US)
        acks = flush(server, now + LATENCY_US + MAX_ACK_DELAY_US)
        now += 2 * LATENCY_US + MAX_ACK_DELAY_US
        deliver(client, acks, now)
    assert 4 * client.rtt.rttvar_us < K_GRANULARITY_US
    client.send_stream(stream_id, b"y")
    assert flush(client, now)
    assert client.next_timer_us() == now + client.rtt.smoothed_rtt_us + K_GRANULARITY_US + (
        MAX_ACK_DELAY_US
    )


def test_next_timer_is_a_pure_query_that_includes_the_pacer() -> None:
    """The pacer's wake-up (RFC 9002 §7.7) survives being asked for twice, and at that moment
    the held-back data goes out."""
    pair, t0 = _established(16)
    client = pair.client
    # a window well above the pacer's 10-packet burst, so that the pacer is what holds data back
    client.cc.congestion_window = 120_000
    stream_id = client.open_stream()
    client.send_stream(stream_id, bytes(200_000))
    assert flush(client, t0)  # the first burst
    wake = client.next_timer_us()
    assert wake is not None and t0 < wake < t0 + _pto_us(client)
    assert client.next_timer_us() == wake
    assert flush(client, wake - 1) == []
    assert client.next_timer_us() == wake
    client.handle_timer(wake)
    assert flush(client, wake)


# --- acknowledgements (RFC 9000 §13.2) -----------------------------------------------------------


def test_a_single_ack_eliciting_packet_is_acknowledged_after_max_ack_delay() -> None:
    pair, t0 = _established(3)
    client, server = pair.client, pair.server
    stream_id = client.open_stream()
    client.send_stream(stream_id, b"one")
    packet = flush(client, t0)
    arrival = t0 + LATENCY_US
    deliver(server, packet, arrival)
    assert flush(server, arrival) == []
    assert server.next_timer_us() == arrival + MAX_ACK_DELAY_US
    server.handle_timer(arrival + MAX_ACK_DELAY_US - 1)
    assert flush(server, arrival + MAX_ACK_DELAY_US - 1) == []
    server.handle_timer(arrival + MAX_ACK_DELAY_US)
    (ack_datagram,) = flush(server, arrival + MAX_ACK_DELAY_US)
    (ack,) = [f for _, f in _frames(server, ack_datagram) if isinstance(f, AckFrame)]
    # the ACK Delay field reports the 25 ms it waited (RFC 9000 §13.2.5), in 8 us units
    assert ack.ack_delay == MAX_ACK_DELAY_US >> server.settings.ack_delay_exponent
    assert ack.ranges[0][1] == client.next_packet_number[PacketSpace.APPLICATION] - 1


def test_a_second_ack_eliciting_packet_is_acknowledged_at_once() -> None:
    pair, t0 = _established(4)
    client, server = pair.client, pair.server
    stream_id = client.open_stream()
    client.send_stream(stream_id, b"first")
    first = flush(client, t0)
    client.send_stream(stream_id, b"second")
    second = flush(client, t0 + 1_000)
    deliver(server, first, t0 + LATENCY_US)
    assert flush(server, t0 + LATENCY_US) == []
    deliver(server, second, t0 + LATENCY_US + 1_000)
    (ack_datagram,) = flush(server, t0 + LATENCY_US + 1_000)
    (ack,) = [f for _, f in _frames(server, ack_datagram) if isinstance(f, AckFrame)]
    largest = client.next_packet_number[PacketSpace.APPLICATION] - 1
    assert ack.ranges[0][1] == largest
    assert ack.ranges[0][0] <= largest - 1  # both packets
    assert server.next_timer_us() == server.idle_deadline_us  # nothing left to acknowledge


def test_an_out_of_order_packet_is_acknowledged_at_once() -> None:
    pair, t0 = _established(5)
    client, server = pair.client, pair.server
    stream_id = client.open_stream()
    client.send_stream(stream_id, b"first")
    first = flush(client, t0)
    client.send_stream(stream_id, b"second")
    second = flush(client, t0)
    # the later packet arrives alone: a gap below it (RFC 9000 §13.2.1)
    deliver(server, second, t0 + LATENCY_US)
    (ack_datagram,) = flush(server, t0 + LATENCY_US)
    assert any(isinstance(f, AckFrame) for _, f in _frames(server, ack_datagram))
    # the missing one fills the gap, below the largest received: at once again
    deliver(server, first, t0 + LATENCY_US + 500)
    (ack_datagram,) = flush(server, t0 + LATENCY_US + 500)
    (ack,) = [f for _, f in _frames(server, ack_datagram) if isinstance(f, AckFrame)]
    assert len(ack.ranges) == 1


def test_initial_and_handshake_packets_are_acknowledged_at_once() -> None:
    """RFC 9000 §13.2.1: Initial and Handshake packets are never delayed; a 1-RTT packet of
    the same handshake is."""
    pair = connection_pair(seed=6)
    client, server = pair.client, pair.server
    hello = flush(client, 0)
    deliver(server, hello, LATENCY_US)
    server_flight = flush(server, LATENCY_US)
    # a lone ack-eliciting Initial from the client (a PING): the server acknowledges at once
    ping = forge_datagram(client, [PingFrame()], level=EncryptionLevel.INITIAL, now_us=15_000)
    deliver(server, [ping], 15_000)
    assert server.next_timer_us() == 15_000
    keys = send_keys(server)
    (reply,) = flush(server, 15_000)
    kinds = {
        (p.packet_type, type(f)) for p in open_datagram(server, reply, keys=keys) for f in p.frames
    }
    assert (PacketType.INITIAL, AckFrame) in kinds
    # the client processes the server's flight, sends its Finished ...
    deliver(client, server_flight, 2 * LATENCY_US)
    assert flush(client, 2 * LATENCY_US)
    # ... then a lone ack-eliciting Handshake packet from the server: acknowledged at once
    ping = forge_datagram(server, [PingFrame()], level=EncryptionLevel.HANDSHAKE, now_us=25_000)
    deliver(client, [ping], 25_000)
    assert client.next_timer_us() == 25_000
    keys = send_keys(client)
    (reply,) = flush(client, 25_000)
    packets = open_datagram(client, reply, keys=keys)
    assert [p.packet_type for p in packets] == [PacketType.HANDSHAKE]
    assert any(isinstance(f, AckFrame) for f in packets[0].frames)
    # while a lone 1-RTT PING waits for max_ack_delay
    ping = forge_datagram(server, [PingFrame()], now_us=26_000)
    deliver(client, [ping], 26_000)
    assert flush(client, 26_000) == []
    assert client.next_timer_us() == 26_000 + MAX_ACK_DELAY_US


# --- idle timeout (RFC 9000 §10.1) ---------------------------------------------------------------


def _one_exchange(pair: ConnectionPair, t0: int) -> tuple[int, int]:
    """The client sends a stream packet at ``t0``; the server acknowledges it after its ACK
    delay.  Returns when each side last received a packet."""
    client, server = pair.client, pair.server
    stream_id = client.open_stream()
    client.send_stream(stream_id, b"ping")
    deliver(server, flush(client, t0), t0 + LATENCY_US)
    server_rx = t0 + LATENCY_US
    ack_time = server_rx + MAX_ACK_DELAY_US
    server.handle_timer(ack_time)
    deliver(client, flush(server, ack_time), ack_time + LATENCY_US)
    return ack_time + LATENCY_US, server_rx


def _expect_idle_close(conn: Connection, deadline: int) -> None:
    assert conn.next_timer_us() == deadline
    conn.handle_timer(deadline - 1)
    assert _state(conn) is ConnectionState.ESTABLISHED
    drain_events(conn)
    conn.handle_timer(deadline)
    assert _state(conn) is ConnectionState.CLOSED
    assert flush(conn, deadline) == []  # silently: no CONNECTION_CLOSE
    assert conn.next_timer_us() is None
    (event,) = _terminated(conn)
    assert event.idle_timeout and not event.by_peer
    assert event.error_code == TransportErrorCode.NO_ERROR


def test_idle_timeout_is_the_minimum_of_both_and_closes_silently() -> None:
    pair, t0 = _established(
        7,
        client=pair_settings().merge(idle_timeout_ms=1000),
        server=pair_settings().merge(idle_timeout_ms=2000),
    )
    client_rx, server_rx = _one_exchange(pair, t0)
    assert 3 * _pto_us(pair.client) < 1_000_000
    _expect_idle_close(pair.client, client_rx + 1_000_000)
    assert 3 * _pto_us(pair.server) < 1_000_000
    _expect_idle_close(pair.server, server_rx + 1_000_000)


def test_idle_timeout_is_at_least_three_ptos() -> None:
    pair, t0 = _established(
        8,
        client=pair_settings().merge(idle_timeout_ms=60),
        server=pair_settings().merge(idle_timeout_ms=60_000),
        settle_us=100_000,
    )
    client_rx, server_rx = _one_exchange(pair, t0)
    assert 3 * _pto_us(pair.client) > 60_000
    _expect_idle_close(pair.client, client_rx + 3 * _pto_us(pair.client))
    _expect_idle_close(pair.server, server_rx + 3 * _pto_us(pair.server))


def test_sending_after_receiving_restarts_the_idle_timer() -> None:
    """RFC 9000 §10.1: also when sending an ack-eliciting packet, if none was sent since the
    last packet was received; later sends do not restart it."""
    pair, t0 = _established(
        9,
        client=pair_settings().merge(idle_timeout_ms=1000),
        server=pair_settings().merge(idle_timeout_ms=1000),
    )
    client_rx, _ = _one_exchange(pair, t0)
    client = pair.client
    stream_id = client.open_stream()
    client.send_stream(stream_id, b"a")
    assert flush(client, client_rx + 100_000)  # first ack-eliciting send since receiving
    assert client.idle_deadline_us == client_rx + 100_000 + 1_000_000
    client.send_stream(stream_id, b"b")
    assert flush(client, client_rx + 150_000)
    assert client.idle_deadline_us == client_rx + 100_000 + 1_000_000


def test_handshake_idle_timeout_applies_before_the_handshake_completes() -> None:
    settings = pair_settings().merge(idle_timeout_ms=1000, handshake_idle_timeout_ms=5000)
    pair = connection_pair(seed=10, client_settings=settings, server_settings=settings)
    client, server = pair.client, pair.server
    hello = flush(client, 0)  # the server gets the client's first flight, then nothing
    deliver(server, hello, LATENCY_US)
    flush(server, LATENCY_US)
    for conn, start in ((client, 0), (server, LATENCY_US)):
        deadline = start + 5_000_000
        assert deadline > start + 3 * _pto_us(conn)
        while conn.state is ConnectionState.HANDSHAKE:
            now = conn.next_timer_us()
            assert now is not None and now <= deadline
            conn.handle_timer(now)
            flush(conn, now)  # probes, lost
        assert now == deadline
        assert _state(conn) is ConnectionState.CLOSED
        (event,) = _terminated(conn)
        assert event.idle_timeout and not event.by_peer


# --- closing and draining (RFC 9000 §10.2) -------------------------------------------------------


def _close_and_check(
    pair: ConnectionPair, t0: int, *, application: bool
) -> tuple[int, list[bytes]]:
    client = pair.client
    code = 0x42 if application else TransportErrorCode.PROTOCOL_VIOLATION
    client.close(code, "bye", application=application, now_us=t0)
    assert _state(client) is ConnectionState.CLOSING
    (event,) = _terminated(client)
    assert (event.error_code, event.application, event.by_peer) == (code, application, False)
    datagrams = flush(client, t0)
    assert len(datagrams) == 1
    (close,) = close_frames(client, datagrams[0])
    assert close == (PacketType.ONE_RTT, ConnectionCloseFrame(code, 0, b"bye", application))
    return code, datagrams


def test_closing_period_lasts_three_ptos_and_answers_packets() -> None:
    pair, t0 = _established(11)
    client, server = pair.client, pair.server
    # the server sends something before it learns of the close
    stream_id = server.open_stream()
    server.send_stream(stream_id, b"late")
    late = flush(server, t0)
    closing_pto = _pto_us(client)
    code, _ = _close_and_check(pair, t0, application=True)
    assert client.next_timer_us() == t0 + 3 * closing_pto
    assert flush(client, t0 + 5_000) == []  # nothing more unless a packet arrives
    # RFC 9000 §10.2.1: a packet received while closing is answered with CONNECTION_CLOSE
    deliver(client, late, t0 + LATENCY_US)
    assert not [e for e in drain_events(client) if isinstance(e, StreamOpened)]
    (again,) = flush(client, t0 + LATENCY_US)
    assert [frame.error_code for _, frame in close_frames(client, again)] == [code]
    assert client.next_timer_us() == t0 + 3 * closing_pto  # the period does not restart
    client.handle_timer(t0 + 3 * closing_pto - 1)
    assert _state(client) is ConnectionState.CLOSING
    client.handle_timer(t0 + 3 * closing_pto)
    assert _state(client) is ConnectionState.CLOSED
    assert client.next_timer_us() is None
    assert flush(client, t0 + 3 * closing_pto) == []


def test_draining_peer_waits_three_ptos_and_sends_nothing() -> None:
    pair, t0 = _established(12)
    server = pair.server
    stream_id = server.open_stream()
    server.send_stream(stream_id, b"queued but never sent")  # not flushed before the close
    code, close = _close_and_check(pair, t0, application=True)
    arrival = t0 + LATENCY_US
    draining_pto = _pto_us(server)
    deliver(server, close, arrival)
    assert _state(server) is ConnectionState.DRAINING
    (event,) = _terminated(server)
    assert (event.error_code, event.application, event.by_peer) == (code, True, True)
    assert event.reason == "bye"
    assert flush(server, arrival) == []
    assert server.next_timer_us() == arrival + 3 * draining_pto
    # more packets from the closing peer change nothing (RFC 9000 §10.2.2)
    deliver(server, close, arrival + 1_000)
    assert flush(server, arrival + 1_000) == []
    assert server.next_timer_us() == arrival + 3 * draining_pto
    server.handle_timer(arrival + 3 * draining_pto - 1)
    assert _state(server) is ConnectionState.DRAINING
    server.handle_timer(arrival + 3 * draining_pto)
    assert _state(server) is ConnectionState.CLOSED
    assert flush(server, arrival + 3 * draining_pto) == []
    assert drain_events(server) == []


def test_transport_close_reaches_the_peer_as_a_transport_error() -> None:
    pair, t0 = _established(13)
    code, close = _close_and_check(pair, t0, application=False)
    deliver(pair.server, close, t0 + LATENCY_US)
    (event,) = _terminated(pair.server)
    assert (event.error_code, event.application, event.by_peer) == (code, False, True)
    assert event.frame_type == 0


def test_application_close_before_1rtt_becomes_application_error() -> None:
    """RFC 9000 §10.2.3: in Initial and Handshake packets an application close is sent as a
    transport CONNECTION_CLOSE with APPLICATION_ERROR."""
    pair = connection_pair(seed=14)
    client, server = pair.client, pair.server
    client.close(7, "changed my mind", application=True, now_us=0)
    (event,) = _terminated(client)
    assert (event.error_code, event.application) == (7, True)
    (datagram,) = flush(client, 0)
    assert len(datagram) >= 1200  # a client's Initial datagram is padded (RFC 9000 §14.1)
    assert close_frames(client, datagram) == [
        (PacketType.INITIAL, ConnectionCloseFrame(TransportErrorCode.APPLICATION_ERROR, 0, b""))
    ]
    deliver(server, [datagram], LATENCY_US)
    (event,) = _terminated(server)
    assert event.error_code == TransportErrorCode.APPLICATION_ERROR
    assert (event.application, event.by_peer) == (False, True)


def test_server_application_close_during_the_handshake_uses_every_level() -> None:
    pair = connection_pair(seed=15)
    client, server = pair.client, pair.server
    deliver(server, flush(client, 0), LATENCY_US)
    flight = flush(server, LATENCY_US)
    server.close(9, "no", application=True, now_us=LATENCY_US)
    keys = send_keys(server)
    (datagram,) = flush(server, LATENCY_US)
    app_error = ConnectionCloseFrame(TransportErrorCode.APPLICATION_ERROR, 0, b"")
    assert close_frames(server, datagram, keys=keys) == [
        (PacketType.INITIAL, app_error),
        (PacketType.HANDSHAKE, app_error),
        (PacketType.ONE_RTT, ConnectionCloseFrame(9, 0, b"no", True)),
    ]
    deliver(client, [*flight, datagram], 2 * LATENCY_US)
    assert _state(client) is ConnectionState.DRAINING
    (event,) = _terminated(client)
    assert event.error_code == TransportErrorCode.APPLICATION_ERROR
    assert (event.application, event.by_peer) == (False, True)
    assert flush(client, 2 * LATENCY_US) == []


def _exchange(pair: ConnectionPair, now: int, rounds: int, step_us: int = 10_000) -> int:
    """Run timers and deliver every datagram both ways, ``rounds`` times; the time after."""
    client, server = pair.client, pair.server
    for _ in range(rounds):
        for conn in (client, server):
            deadline = conn.next_timer_us()
            if deadline is not None and deadline <= now:
                conn.handle_timer(now)
        deliver(server, flush(client, now), now)
        deliver(client, flush(server, now), now)
        now += step_us
    return now


def test_a_lost_handshake_done_is_sent_again_by_the_servers_probes() -> None:
    """RFC 9001 §4.1.2, RFC 9002 §6.2.4: when every datagram carrying HANDSHAKE_DONE is lost and
    the client sends nothing in 1-RTT, the server's PTO probes repeat the frame, and the client
    confirms its handshake (and stops sending Handshake packets)."""
    pair = connection_pair(seed=32)
    client, server = pair.client, pair.server
    now = pair.network.now_us
    deliver(server, flush(client, now), now)  # the ClientHello
    deliver(client, flush(server, now), now)  # the server's flight
    deliver(server, flush(client, now), now)  # the client's Finished: the server confirms
    assert server.handshake_confirmed and not client.handshake_confirmed
    lost = flush(server, now)
    assert any(
        isinstance(frame, HandshakeDoneFrame) for d in lost for _, frame in _frames(server, d)
    )
    # the client's ACKs are lost too: the server learns nothing until its PTO fires
    flush(client, now)
    pto_deadline = server.next_timer_us()
    assert pto_deadline is not None
    server.handle_timer(pto_deadline)
    probes = flush(server, pto_deadline)
    assert any(
        isinstance(frame, HandshakeDoneFrame) for d in probes for _, frame in _frames(server, d)
    )
    deliver(client, probes, pto_deadline)
    now = _exchange(pair, pto_deadline, rounds=20)
    assert client.handshake_confirmed
    assert not client.keys.can_send(EncryptionLevel.HANDSHAKE)  # RFC 9001 §4.9.2


def test_a_client_probes_an_amplification_limited_server_until_it_is_validated() -> None:
    """RFC 9002 §6.2.2.1: a server blocked by its 3x limit (RFC 9000 §8.1) waits for the client;
    the client keeps a PTO armed until one of its Handshake packets is acknowledged, even with
    nothing ack-eliciting in flight, so losing its ACK-only packets cannot deadlock them."""
    names = [f"name-{index}.pyquic.example" for index in range(250)]  # a certificate of ~8 kB
    pki = make_test_credentials(["localhost", *names], now=DEFAULT_EPOCH)
    pair = connection_pair(seed=33, pki=pki)
    client, server = pair.client, pair.server
    now = pair.network.now_us
    deliver(server, flush(client, now), now)  # the 1200-byte ClientHello datagram
    first_flight = flush(server, now)
    assert sum(map(len, first_flight)) <= 3 * 1200  # the server is blocked by its limit
    deliver(client, first_flight, now)
    assert not client.handshake_complete_locally()  # the server's flight is incomplete
    flush(client, now)  # its ACK-only answers are lost
    deadline = client.next_timer_us()
    assert deadline is not None and deadline < client.idle_deadline_us  # the anti-deadlock PTO
    client.handle_timer(deadline)
    probes = flush(client, deadline)
    assert probes and any(
        is_ack_eliciting(f.wire_type for _, f in _frames(client, probe)) for probe in probes
    )
    now = _exchange(pair, deadline, rounds=30)
    assert client.handshake_confirmed and server.handshake_confirmed
