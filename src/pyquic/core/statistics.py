"""Per-connection counters, modelled on MsQuic's QUIC_STATISTICS_V2.

MsQuic exposes a connection's statistics through the QUIC_PARAM_CONN_STATISTICS_V2 parameter
(msquic-facts §1.5).  :class:`ConnectionStatistics` carries the same counters, snake_cased and
with units in their names (``_us``, ``_bytes``), plus a few of ours: bytes retransmitted, the ECN
codepoints seen on received packets (RFC 9000 §13.4.1) and the CE count reported back in ACK_ECN
frames.  Times such as ``timing_start_us`` are the connection's ``now_us`` values, as MsQuic's are
timestamps; durations are derived from them.

Design: a mutable, slotted dataclass that the connection and its loss recovery update in place
(a counter increment must stay cheap), with a handful of recorders for updates that touch
several counters at once, and :meth:`ConnectionStatistics.as_dict` for reporting.  Nothing here
reads a clock.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import IntEnum

__all__ = ["ConnectionStatistics", "EcnCodepoint"]


class EcnCodepoint(IntEnum):
    """The ECN field of the IP header (RFC 3168 §5; RFC 9000 §13.4)."""

    NOT_ECT = 0b00
    ECT1 = 0b01
    ECT0 = 0b10
    CE = 0b11


@dataclass(slots=True)
class ConnectionStatistics:
    """Counters of one connection (MsQuic's QUIC_STATISTICS_V2 and a few of ours)."""

    # -- what happened during the handshake -----------------------------------------------------
    version_negotiation: bool = False
    stateless_retry: bool = False
    resumption_attempted: bool = False
    resumption_succeeded: bool = False
    grease_bit_negotiated: bool = False  # RFC 9287
    ecn_capable: bool = False
    # -- round-trip time (RFC 9002 §5) ----------------------------------------------------------
    rtt_us: int = 0  # smoothed
    min_rtt_us: int = 0
    max_rtt_us: int = 0
    rtt_variance_us: int = 0
    # -- handshake timing (now_us timestamps; 0 = not yet) --------------------------------------
    timing_start_us: int = 0
    timing_initial_flight_end_us: int = 0
    timing_handshake_flight_end_us: int = 0
    handshake_client_flight1_bytes: int = 0
    handshake_server_flight1_bytes: int = 0
    handshake_client_flight2_bytes: int = 0
    # -- sending --------------------------------------------------------------------------------
    send_path_mtu: int = 0
    send_total_packets: int = 0
    send_retransmittable_packets: int = 0  # ack-eliciting packets
    send_suspected_lost_packets: int = 0
    send_spurious_lost_packets: int = 0  # declared lost, then acknowledged
    send_early_crypto_resends: int = 0  # handshake flights resent before the PTO (RFC 9002 §6.2.3)
    send_total_bytes: int = 0
    send_total_stream_bytes: int = 0
    send_retransmitted_bytes: int = 0  # ours: stream and CRYPTO bytes sent again after loss
    send_congestion_count: int = 0  # congestion events (RFC 9002 §7.3.2)
    send_persistent_congestion_count: int = 0  # RFC 9002 §7.6
    send_ecn_congestion_count: int = 0  # congestion events caused by CE marks
    send_congestion_window: int = 0  # bytes
    send_acked_ecn_ce_count: int = 0  # ours: the largest CE count the peer reported (§19.3.2)
    # -- receiving ------------------------------------------------------------------------------
    recv_total_packets: int = 0
    recv_reordered_packets: int = 0
    recv_dropped_packets: int = 0
    recv_duplicate_packets: int = 0
    recv_total_bytes: int = 0
    recv_total_stream_bytes: int = 0
    recv_decryption_failures: int = 0
    recv_ignored_closes: int = 0  # a client's Initial INVALID_TOKEN close when it sent no token
    recv_valid_ack_frames: int = 0
    recv_ecn_ect0_packets: int = 0  # ours: ECN codepoints on received packets (§13.4.1)
    recv_ecn_ect1_packets: int = 0
    recv_ecn_ce_packets: int = 0
    # -- keys and connection IDs ----------------------------------------------------------------
    key_update_count: int = 0  # RFC 9001 §6
    dest_cid_update_count: int = 0

    # -- derived values -------------------------------------------------------------------------

    @property
    def send_lost_packets(self) -> int:
        """Packets really lost: suspected minus those later found spurious."""
        return self.send_suspected_lost_packets - self.send_spurious_lost_packets

    @property
    def handshake_duration_us(self) -> int | None:
        """From start to the end of the handshake flight, or None while it is not over."""
        if not self.timing_handshake_flight_end_us:
            return None
        return self.timing_handshake_flight_end_us - self.timing_start_us

    # -- recorders ------------------------------------------------------------------------------

    def record_rtt(
        self, *, smoothed_rtt_us: int, min_rtt_us: int, rtt_variance_us: int, latest_rtt_us: int
    ) -> None:
        """Copy the estimator's state after an RTT sample; the maximum tracks latest samples."""
        self.rtt_us = smoothed_rtt_us
        self.min_rtt_us = min_rtt_us
        self.rtt_variance_us = rtt_variance_us
        self.max_rtt_us = max(self.max_rtt_us, latest_rtt_us)

    def record_packet_sent(
        self, size_bytes: int, *, ack_eliciting: bool, stream_bytes: int = 0
    ) -> None:
        """A packet of ``size_bytes`` went out, carrying ``stream_bytes`` of STREAM data."""
        self.send_total_packets += 1
        self.send_total_bytes += size_bytes
        self.send_total_stream_bytes += stream_bytes
        if ack_eliciting:
            self.send_retransmittable_packets += 1

    def record_packets_sent(self, count: int, size_bytes: int, *, stream_bytes: int) -> None:
        """``count`` ack-eliciting packets of ``size_bytes`` in all went out (a send burst)."""
        self.send_total_packets += count
        self.send_total_bytes += size_bytes
        self.send_total_stream_bytes += stream_bytes
        self.send_retransmittable_packets += count

    def record_packet_received(
        self, size_bytes: int, *, ecn: EcnCodepoint = EcnCodepoint.NOT_ECT
    ) -> None:
        """A packet of ``size_bytes`` was received and decrypted, with this ECN marking."""
        self.recv_total_packets += 1
        self.recv_total_bytes += size_bytes
        if ecn is EcnCodepoint.ECT0:
            self.recv_ecn_ect0_packets += 1
        elif ecn is EcnCodepoint.ECT1:
            self.recv_ecn_ect1_packets += 1
        elif ecn is EcnCodepoint.CE:
            self.recv_ecn_ce_packets += 1

    def record_congestion_event(self, *, ecn: bool = False, persistent: bool = False) -> None:
        """The controller reduced its window (RFC 9002 §7.3.2), for loss or for CE marks."""
        self.send_congestion_count += 1
        if ecn:
            self.send_ecn_congestion_count += 1
        if persistent:
            self.send_persistent_congestion_count += 1

    def as_dict(self) -> dict[str, int | bool]:
        """Every counter by field name, plus ``send_lost_packets``."""
        counters: dict[str, int | bool] = asdict(self)
        counters["send_lost_packets"] = self.send_lost_packets
        return counters
