"""What a TLS session reports to the QUIC connection above it.

Design: like MsQuic's TLS layer, which returns result flags and new keys per call, a session queues
small frozen events that the connection polls after each input: a traffic secret ready for a level
and direction (RFC 9001 §4.1.4), the handshake completed (RFC 9001 §4.1.1), a verified peer
certificate, a session ticket to keep (RFC 8446 §4.6.1).  Handshake bytes to send are not events;
they are drained per encryption level with ``TlsSession.data_to_send``.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509

from pyquic.core.tls_interface import Direction, HandshakeCompleted, TrafficSecretReady
from pyquic.platform.tls.tickets import SessionTicket


@dataclass(frozen=True, slots=True)
class PeerCertificateReceived:
    """The peer's chain (leaf first), after it was verified (or verification was turned off)."""

    chain: tuple[x509.Certificate, ...]


@dataclass(frozen=True, slots=True)
class SessionTicketReceived:
    """A ticket from the server, ready to resume a later connection (client only)."""

    ticket: SessionTicket


__all__ = [
    "Direction",
    "HandshakeCompleted",
    "PeerCertificateReceived",
    "SessionTicketReceived",
    "TlsEvent",
    "TrafficSecretReady",
]

TlsEvent = TrafficSecretReady | HandshakeCompleted | PeerCertificateReceived | SessionTicketReceived
