"""0-RTT for the client: sending early STREAM data under remembered limits, and the switch to 1-RTT.

Design: a client resuming with a ticket that allows early data gets a 0-RTT WRITE secret from
TLS right after its ClientHello (RFC 9001 §4.6.1).  If the caller gave the server's transport
parameters remembered with the ticket, this module applies the subset RFC 9000 §7.4.1 lists
(stream counts, stream and connection flow control) and the send path builds ZERO_RTT packets
(long header, application packet number space, RFC 9000 §17.2.3) carrying stream data only.  When
the handshake completes, 1-RTT replaces 0-RTT: the 0-RTT keys go (RFC 9001 §4.9.3).  If the
server accepted, the real parameters must not be smaller than the remembered ones (RFC 9000
§7.4.1; quinn and MsQuic treat a reduction as PROTOCOL_VIOLATION).  If it rejected, every 0-RTT
packet is treated as lost so its data is resent in 1-RTT, and the limits are reset to the real
parameters (RFC 9001 §4.6.2, RFC 9000 §7.4.1) - as MsQuic's QuicLossDetectionOnZeroRttRejected.

The server's side needs nothing here: it installs 0-RTT READ keys when TLS accepts early data,
processes ZERO_RTT packets in the application space (frames checked against RFC 9000 §12.4) and,
never having 0-RTT WRITE keys, acknowledges them in 1-RTT packets (RFC 9000 §12.4: no ACK in 0-RTT).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.core.events import StreamsAvailable
from pyquic.core.levels import EncryptionLevel, PacketSpace
from pyquic.core.tls_interface import Direction, TrafficSecretReady
from pyquic.core.transport_params import TransportParameters, parse_transport_parameters

if TYPE_CHECKING:
    from pyquic.core.connection import Connection

# RFC 9000 §7.4.1: the remembered limits an accepting server must not reduce
REMEMBERED_LIMITS = (
    "active_connection_id_limit",
    "initial_max_data",
    "initial_max_stream_data_bidi_local",
    "initial_max_stream_data_bidi_remote",
    "initial_max_stream_data_uni",
    "initial_max_streams_bidi",
    "initial_max_streams_uni",
)


def on_traffic_secret(conn: Connection, event: TrafficSecretReady) -> None:
    """After a secret's keys were installed: a client's 0-RTT WRITE keys enable early data."""
    if not (
        conn.is_client
        and event.level is EncryptionLevel.EARLY_DATA
        and event.direction is Direction.WRITE
    ):
        return
    remembered = conn.remembered_parameters
    if remembered is None:
        # nothing remembered: no limits to send under (RFC 9000 §7.4.1), so no 0-RTT
        conn.keys.discard(EncryptionLevel.EARLY_DATA)
        return
    _apply_limits(conn, remembered)


def _apply_limits(conn: Connection, params: TransportParameters) -> None:
    """The remembered (or real) flow control and stream limits (RFC 9000 §4.1, §4.6, §7.4.1)."""
    conn.send_credit.update(params.initial_max_data)
    conn.streams.apply_transport_parameters(params)
    bidi, uni = conn.streams.available_local_streams()
    conn.emit(StreamsAvailable(bidi, uni))


def can_send(conn: Connection) -> bool:
    """A client may send 0-RTT packets: keys installed and no 1-RTT keys yet (RFC 9001 §4.6)."""
    return conn.keys.can_send(EncryptionLevel.EARLY_DATA) and not conn.keys.can_send(
        EncryptionLevel.APPLICATION
    )


def wants_to_send(conn: Connection, may_send_data: bool) -> bool:
    """Stream data is waiting and 0-RTT may carry it (never ACKs: RFC 9000 §12.4)."""
    return may_send_data and can_send(conn) and conn.streams.has_sendable(conn.send_credit.credit)


def on_handshake_completed(conn: Connection, accepted: bool) -> None:
    """Client: 1-RTT replaces 0-RTT (RFC 9001 §4.9.3); a rejection resends 0-RTT data."""
    if not conn.is_client or conn.remembered_parameters is None:
        return
    attempted = conn.keys.can_send(EncryptionLevel.EARLY_DATA)
    conn.keys.discard(EncryptionLevel.EARLY_DATA)
    if not attempted:
        return
    real = _real_parameters(conn)
    if accepted:
        if real is not None:
            _check_not_reduced(conn.remembered_parameters, real)
        return
    _on_rejected(conn, real)


def _real_parameters(conn: Connection) -> TransportParameters | None:
    if conn.peer_parameters is not None:
        return conn.peer_parameters
    encoded = conn.tls.peer_transport_parameters if conn.tls is not None else None
    return parse_transport_parameters(encoded, from_server=True) if encoded else None


def _check_not_reduced(remembered: TransportParameters, real: TransportParameters) -> None:
    """RFC 9000 §7.4.1: a server that accepted 0-RTT must not reduce these limits."""
    for name in REMEMBERED_LIMITS:
        if getattr(real, name) < getattr(remembered, name):
            raise QuicError(
                TransportErrorCode.PROTOCOL_VIOLATION,
                f"0-RTT accepted but {name} was reduced (RFC 9000 §7.4.1)",
            )


def _on_rejected(conn: Connection, real: TransportParameters | None) -> None:
    """RFC 9001 §4.6.2: everything sent in 0-RTT is lost; the remembered limits no longer hold."""
    from pyquic.core.send_path import _on_records

    # before 1-RTT keys the client's application-space packets are all 0-RTT packets; they
    # leave the bytes in flight without a congestion signal (RFC 9002 §6.4)
    for packet in conn.loss.discard_space(PacketSpace.APPLICATION):
        _on_records(conn, packet, acked=False)
    conn.send_credit.max_data = conn.send_credit.sent  # no new data until the real limit
    conn.streams.reset_peer_limits()
    if real is not None and conn.peer_parameters is not None:
        _apply_limits(conn, real)  # else _apply_peer_parameters applies them next
