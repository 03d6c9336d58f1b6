"""ECN (RFC 9000 §13.4): marking, ACK_ECN counts, validation (Appendix A.4) and the congestion
response to CE (RFC 9002 §7.1), on the simulated network and on :class:`EcnValidator` alone."""

from __future__ import annotations

import dataclasses

from sim_util import assert_intact, make_payloads, run_transfer

from pyquic.core.ecn import TESTING_PACKETS, EcnState, EcnValidator
from pyquic.core.frames import AckFrame, EcnCounts
from pyquic.core.levels import PacketSpace
from pyquic.core.sent_packet import SentPacket
from pyquic.testing.network import LinkConditions
from pyquic.testing.pair import ConnectionPair, connection_pair, pair_settings

ECT0, CE = 0b10, 0b11
APP = PacketSpace.APPLICATION


def ecn_pair(conditions: LinkConditions, *, seed: int = 7, ecn: bool = True) -> ConnectionPair:
    settings = dataclasses.replace(pair_settings(), ecn_enabled=ecn)
    return connection_pair(
        seed=seed, conditions=conditions, client_settings=settings, server_settings=settings
    )


def transfer(pair: ConnectionPair, count: int = 20, size: int = 50_000) -> None:
    result = run_transfer(
        pair,
        client_payloads=make_payloads(1, count, size),
        max_time_us=30_000_000,
        max_events=200_000,
    )
    assert_intact(result)


# --- on the simulated network ----------------------------------------------------------------


def test_ecn_off_by_default_sends_not_ect() -> None:
    pair = ecn_pair(LinkConditions(), ecn=False)
    transfer(pair, count=2)
    assert pair.client.ecn_codepoint == 0
    assert pair.client.ecn.state is EcnState.DISABLED
    assert pair.server.stats.recv_ecn_ect0_packets == 0


def test_marks_and_counts_flow_and_validate() -> None:
    pair = ecn_pair(LinkConditions())
    transfer(pair)
    for conn, peer in ((pair.client, pair.server), (pair.server, pair.client)):
        assert conn.ecn.state is EcnState.CAPABLE, conn.ecn.failure_reason
        assert conn.stats.ecn_capable
        assert conn.ecn_codepoint == ECT0
        assert peer.stats.recv_ecn_ect0_packets > TESTING_PACKETS
        assert peer.stats.recv_ecn_ce_packets == 0
    # the server's ACK_ECN frames report every ECT(0) packet it processed (RFC 9000 §13.4.1)
    counts = pair.server.ack_trackers[APP].ecn_counts
    assert counts.ect0 > 0 and counts.ce == 0


def test_ce_marking_bottleneck_reduces_cwnd_without_loss() -> None:
    # a 20 Mbit/s bottleneck whose queue marks CE from 10 waiting datagrams, and never fills
    bottleneck = LinkConditions(bandwidth_bps=20_000_000, queue_packets=10_000, ecn_ce_threshold=10)
    pair = ecn_pair(bottleneck)
    windows: list[int] = []
    run_transfer(
        pair,
        client_payloads=make_payloads(2, 20, 100_000),
        max_time_us=30_000_000,
        max_events=300_000,
        observe=lambda p: windows.append(p.client.cc.congestion_window),
    )
    stats = pair.client.stats
    assert pair.client_to_server.ce_marked > 0
    assert pair.client_to_server.dropped == 0
    assert stats.send_suspected_lost_packets == 0
    assert pair.server.stats.recv_ecn_ce_packets == pair.client_to_server.ce_marked
    assert stats.send_acked_ecn_ce_count > 0
    assert stats.send_ecn_congestion_count > 0
    assert stats.send_ecn_congestion_count == stats.send_congestion_count
    assert pair.client.ecn.state is EcnState.CAPABLE  # CE marks are not a validation failure
    assert min(windows[windows.index(max(windows)) :]) < max(windows)  # the window came down


def test_bleaching_path_fails_validation_and_disables_ecn() -> None:
    pair = ecn_pair(LinkConditions(ecn_bleach=True))
    transfer(pair, count=5)
    for conn, peer in ((pair.client, pair.server), (pair.server, pair.client)):
        assert conn.ecn.state is EcnState.FAILED
        assert conn.ecn.failure_reason == "ECN counts missing"
        assert conn.ecn_codepoint == 0
        assert not conn.stats.ecn_capable
        assert peer.stats.recv_ecn_ect0_packets == 0
    assert pair.client_to_server.ecn_bleached > 0


# --- the validator alone (RFC 9000 §13.4.2.1, Appendix A.4) ----------------------------------


def _sent(validator: EcnValidator, count: int, start: int = 0) -> list[SentPacket]:
    packets = []
    for number in range(start, start + count):
        ecn = validator.codepoint
        packets.append(SentPacket(number, APP, 0, 1200, True, True, ecn=ecn))
        validator.on_packet_sent(APP, ecn)
    return packets


def _ack(ect0: int, ect1: int = 0, ce: int = 0, largest: int = 0) -> AckFrame:
    return AckFrame(((0, largest),), 0, EcnCounts(ect0, ect1, ce))


def test_testing_period_then_unknown_then_capable() -> None:
    validator = EcnValidator(enabled=True)
    packets = _sent(validator, TESTING_PACKETS + 2)
    assert [p.ecn for p in packets].count(ECT0) == TESTING_PACKETS
    assert validator.state is EcnState.UNKNOWN and validator.codepoint == 0
    validator.on_ack_received(APP, _ack(9, ce=1, largest=11), packets, advances_largest=True)
    assert validator.state is EcnState.CAPABLE and validator.codepoint == ECT0


def test_counts_short_of_marked_packets_fail() -> None:
    validator = EcnValidator(enabled=True)
    packets = _sent(validator, 4)
    validator.on_ack_received(APP, _ack(3, largest=3), packets, advances_largest=True)
    assert validator.state is EcnState.FAILED


def test_reordered_ack_never_fails() -> None:
    validator = EcnValidator(enabled=True)
    packets = _sent(validator, 4)
    validator.on_ack_received(APP, AckFrame(((0, 3),), 0), packets, advances_largest=False)
    assert validator.state is EcnState.TESTING


def test_remarked_counts_fail() -> None:
    for ack in (_ack(5, largest=3), _ack(4, ect1=1, largest=3)):
        validator = EcnValidator(enabled=True)
        packets = _sent(validator, 4)
        validator.on_ack_received(APP, ack, packets, advances_largest=True)
        assert validator.state is EcnState.FAILED


def test_all_marked_packets_lost_fails() -> None:
    validator = EcnValidator(enabled=True)
    packets = _sent(validator, TESTING_PACKETS)
    validator.on_packets_lost(packets[:-1])
    assert validator.state is EcnState.UNKNOWN
    validator.on_packets_lost(packets[-1:])
    assert validator.state is EcnState.FAILED
