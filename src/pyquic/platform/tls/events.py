"""What a TLS session reports to the QUIC connection above it.

Design: like MsQuic's TLS layer, which returns result flags and new keys per call, a session queues
small frozen events that the connection polls after each input: a traffic secret ready for a level
and direction (RFC 9001 §4.1.4), the handshake completed (RFC 9001 §4.1.1), a verified peer
certificate, a session ticket to keep (RFC 8446 §4.6.1).  Handshake bytes to send are not events;
they are drained per encryption level with ``TlsSession.data_to_send``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from cryptography import x509

from pyquic.platform.crypto.suites import CipherSuite
from pyquic.platform.tls.constants import EncryptionLevel
from pyquic.platform.tls.tickets import SessionTicket


class Direction(Enum):
    """Whether a traffic secret protects what this endpoint reads or what it writes."""

    READ = "read"
    WRITE = "write"


@dataclass(frozen=True, slots=True)
class TrafficSecretReady:
    """A traffic secret for ``level``: install packet keys derived from it (RFC 9001 §5.1)."""

    level: EncryptionLevel
    direction: Direction
    cipher_suite: CipherSuite
    secret: bytes

    def __repr__(self) -> str:  # never print secrets
        return (
            f"TrafficSecretReady({self.level.name}, {self.direction.name}, "
            f"{self.cipher_suite.name})"
        )


@dataclass(frozen=True, slots=True)
class HandshakeCompleted:
    """The TLS handshake is complete (RFC 9001 §4.1.1)."""

    alpn: bytes
    session_resumed: bool
    early_data_accepted: bool  # meaningful for a client that offered 0-RTT


@dataclass(frozen=True, slots=True)
class PeerCertificateReceived:
    """The peer's chain (leaf first), after it was verified (or verification was turned off)."""

    chain: tuple[x509.Certificate, ...]


@dataclass(frozen=True, slots=True)
class SessionTicketReceived:
    """A ticket from the server, ready to resume a later connection (client only)."""

    ticket: SessionTicket


TlsEvent = TrafficSecretReady | HandshakeCompleted | PeerCertificateReceived | SessionTicketReceived
