"""Connection statistics modelled on MsQuic's QUIC_STATISTICS_V2."""

from __future__ import annotations

import json

import pytest

from pyquic.core.statistics import ConnectionStatistics, EcnCodepoint

# QUIC_STATISTICS_V2 members (msquic-facts §1.5), snake_cased with units where they carry one
MSQUIC_V2_COUNTERS = {
    "version_negotiation",
    "stateless_retry",
    "resumption_attempted",
    "resumption_succeeded",
    "grease_bit_negotiated",
    "ecn_capable",
    "rtt_us",
    "min_rtt_us",
    "max_rtt_us",
    "rtt_variance_us",
    "timing_start_us",
    "timing_initial_flight_end_us",
    "timing_handshake_flight_end_us",
    "handshake_client_flight1_bytes",
    "handshake_server_flight1_bytes",
    "handshake_client_flight2_bytes",
    "send_path_mtu",
    "send_total_packets",
    "send_retransmittable_packets",
    "send_suspected_lost_packets",
    "send_spurious_lost_packets",
    "send_total_bytes",
    "send_total_stream_bytes",
    "send_congestion_count",
    "send_persistent_congestion_count",
    "send_ecn_congestion_count",
    "send_congestion_window",
    "recv_total_packets",
    "recv_reordered_packets",
    "recv_dropped_packets",
    "recv_duplicate_packets",
    "recv_total_bytes",
    "recv_total_stream_bytes",
    "recv_decryption_failures",
    "recv_valid_ack_frames",
    "key_update_count",
    "dest_cid_update_count",
}


def test_starts_at_zero_with_msquics_counters() -> None:
    stats = ConnectionStatistics()
    counters = stats.as_dict()
    assert set(counters) >= MSQUIC_V2_COUNTERS
    assert all(value == 0 for value in counters.values())  # False == 0 for the flags
    assert stats.handshake_duration_us is None
    json.dumps(counters)


def test_is_slotted_and_mutable() -> None:
    stats = ConnectionStatistics()
    stats.recv_dropped_packets += 2
    assert stats.recv_dropped_packets == 2
    with pytest.raises(AttributeError):
        stats.not_a_counter = 1  # type: ignore[attr-defined]


def test_rtt_record_tracks_the_maximum_sample() -> None:
    stats = ConnectionStatistics()
    stats.record_rtt(
        smoothed_rtt_us=30_000, min_rtt_us=20_000, rtt_variance_us=4_000, latest_rtt_us=50_000
    )
    stats.record_rtt(
        smoothed_rtt_us=28_000, min_rtt_us=20_000, rtt_variance_us=3_000, latest_rtt_us=25_000
    )
    assert stats.rtt_us == 28_000
    assert stats.min_rtt_us == 20_000
    assert stats.rtt_variance_us == 3_000
    assert stats.max_rtt_us == 50_000


def test_packet_recorders() -> None:
    stats = ConnectionStatistics()
    stats.record_packet_sent(1_200, ack_eliciting=True, stream_bytes=1_000)
    stats.record_packet_sent(50, ack_eliciting=False)
    stats.record_packet_received(1_200, ecn=EcnCodepoint.ECT0)
    stats.record_packet_received(800, ecn=EcnCodepoint.ECT1)
    stats.record_packet_received(700, ecn=EcnCodepoint.CE)
    stats.record_packet_received(100)
    assert stats.send_total_packets == 2
    assert stats.send_total_bytes == 1_250
    assert stats.send_total_stream_bytes == 1_000
    assert stats.send_retransmittable_packets == 1
    assert stats.recv_total_packets == 4
    assert stats.recv_total_bytes == 2_800
    assert (stats.recv_ecn_ect0_packets, stats.recv_ecn_ect1_packets) == (1, 1)
    assert stats.recv_ecn_ce_packets == 1


def test_losses_and_congestion_events() -> None:
    stats = ConnectionStatistics()
    stats.send_suspected_lost_packets = 25
    stats.send_spurious_lost_packets = 5
    assert stats.send_lost_packets == 20
    stats.record_congestion_event()
    stats.record_congestion_event(ecn=True)
    stats.record_congestion_event(persistent=True)
    assert stats.send_congestion_count == 3
    assert stats.send_ecn_congestion_count == 1
    assert stats.send_persistent_congestion_count == 1
    counters = stats.as_dict()
    assert counters["send_lost_packets"] == 20
    assert counters["send_congestion_count"] == 3


def test_handshake_duration() -> None:
    stats = ConnectionStatistics(timing_start_us=1_000_000)
    stats.timing_initial_flight_end_us = 1_010_000
    stats.timing_handshake_flight_end_us = 1_045_000
    assert stats.handshake_duration_us == 45_000
