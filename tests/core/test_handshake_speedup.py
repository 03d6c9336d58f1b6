"""Speeding up handshake completion (RFC 9002 §6.2.3): when the peer's probe shows our handshake
flight did not arrive, the flight goes again at once instead of at our next PTO, a limited number
of times per connection and within the anti-amplification limit (RFC 9000 §8.1).

Every datagram is moved by hand at explicit virtual times (forge's flush/deliver)."""

from __future__ import annotations

from forge import deliver, flush, forge_datagram, open_datagram

from pyquic.core.frames import CryptoFrame, PingFrame
from pyquic.core.handshake_speedup import MAX_EARLY_RESENDS
from pyquic.core.levels import EncryptionLevel
from pyquic.core.paths import AMPLIFICATION_FACTOR
from pyquic.core.version import PacketType
from pyquic.testing.pair import ConnectionPair, connection_pair, pair_settings

LATENCY_US = 10_000


def _server_flight_lost(seed: int) -> tuple[ConnectionPair, int]:
    """The client's first flight reaches the server; the server's answer is lost.  Returns the
    time the server sent it."""
    # the server's initial RTT is the larger, so its PTO would fire after the client's probe
    server_settings = pair_settings().merge(initial_rtt_ms=500)
    pair = connection_pair(seed=seed, server_settings=server_settings)
    t0 = pair.network.now_us
    hello = flush(pair.client, t0)
    deliver(pair.server, hello, t0 + LATENCY_US)
    lost = flush(pair.server, t0 + LATENCY_US)
    assert lost  # the ServerHello and the rest of the flight: never delivered
    return pair, t0 + LATENCY_US


def _initial_crypto_offsets(pair: ConnectionPair, datagrams: list[bytes]) -> list[int]:
    return [
        frame.offset
        for datagram in datagrams
        for packet in open_datagram(pair.server, datagram)
        if packet.packet_type is PacketType.INITIAL
        for frame in packet.frames
        if isinstance(frame, CryptoFrame)
    ]


def test_the_client_probe_brings_the_server_flight_again_before_the_server_pto() -> None:
    pair, _ = _server_flight_lost(seed=71)
    client, server = pair.client, pair.server
    server_pto_at = server.next_timer_us()
    client_pto_at = client.next_timer_us()
    assert server_pto_at is not None and client_pto_at is not None
    client.handle_timer(client_pto_at)
    probes = flush(client, client_pto_at)  # RFC 9002 §6.2.4: the ClientHello again
    arrival = client_pto_at + LATENCY_US
    assert arrival < server_pto_at  # the server's own PTO has not fired
    deliver(server, probes[:1], arrival)
    answer = flush(server, arrival)
    assert 0 in _initial_crypto_offsets(pair, answer)  # the ServerHello goes again now
    assert server.stats.send_early_crypto_resends == 1
    assert server.stats.send_total_bytes <= AMPLIFICATION_FACTOR * server.stats.recv_total_bytes
    # the resent flight completes the handshake well before the server's PTO would have fired
    now = arrival
    for _ in range(3):
        now += LATENCY_US
        deliver(client, answer, now)
        now += LATENCY_US
        deliver(server, flush(client, now), now)
        answer = flush(server, now)
    assert now < server_pto_at
    assert client.handshake_complete_locally() and server.handshake_confirmed


def test_a_ping_probe_also_brings_the_flight_again() -> None:
    """Some clients probe with PING only (no CRYPTO): it shows the same."""
    pair, sent_at = _server_flight_lost(seed=72)
    now = sent_at + 200_000
    ping = forge_datagram(pair.client, [PingFrame()], level=EncryptionLevel.INITIAL, now_us=now)
    deliver(pair.server, [ping.ljust(1200, b"\0")], now)
    assert 0 in _initial_crypto_offsets(pair, flush(pair.server, now))


def test_at_most_a_limited_number_of_times() -> None:
    pair, sent_at = _server_flight_lost(seed=73)
    now = sent_at
    for _ in range(MAX_EARLY_RESENDS + 3):
        now += 50_000
        ping = forge_datagram(pair.client, [PingFrame()], level=EncryptionLevel.INITIAL, now_us=now)
        deliver(pair.server, [ping.ljust(1200, b"\0")], now)
        flush(pair.server, now)  # every resend lost again
    assert pair.server.stats.send_early_crypto_resends == MAX_EARLY_RESENDS
    now += 50_000
    ping = forge_datagram(pair.client, [PingFrame()], level=EncryptionLevel.INITIAL, now_us=now)
    deliver(pair.server, [ping.ljust(1200, b"\0")], now)
    assert _initial_crypto_offsets(pair, flush(pair.server, now)) == []  # an ACK only


def test_a_probe_that_acknowledges_the_flight_changes_nothing() -> None:
    """The normal handshake: the client's packets acknowledge the server's, nothing is resent."""
    pair = connection_pair(seed=74)
    pair.run(lambda: pair.client.handshake_confirmed and pair.server.handshake_confirmed)
    assert pair.server.stats.send_early_crypto_resends == 0
    assert pair.client.stats.send_early_crypto_resends == 0
