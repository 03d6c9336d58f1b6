"""What a TLS session is configured with: roles, ALPN, suites, groups, credentials, resumption.

Design: one frozen :class:`TlsConfig`, validated when built, shared by many sessions (as MsQuic's
Configuration is).  Bad settings from the user raise ``ValueError`` naming the problem.  Time and
randomness are injected (``wall_clock``, ``random_bytes``) so a test can make a session
deterministic; the defaults read the system clock and the OS's random source.

RFC 9001 §8.1 makes ALPN mandatory; RFC 8446 §4.2.7 and §4.2.3 govern groups and signature
schemes; RFC 8446 §4.6.1 and RFC 9001 §4.6 resumption and 0-RTT.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from pyquic.platform.crypto.suites import CipherSuite
from pyquic.platform.tls.certificates import Credential, NoVerification, PeerVerifier
from pyquic.platform.tls.constants import NamedGroup, SignatureScheme
from pyquic.platform.tls.key_exchange import SUPPORTED_GROUPS
from pyquic.platform.tls.keylog import KeyLogSink
from pyquic.platform.tls.signatures import SUPPORTED_SIGNATURE_SCHEMES
from pyquic.platform.tls.tickets import AntiReplay, SessionTicket, TicketSealer

DEFAULT_CIPHER_SUITES = (
    CipherSuite.AES_128_GCM_SHA256,
    CipherSuite.AES_256_GCM_SHA384,
    CipherSuite.CHACHA20_POLY1305_SHA256,
)
# Preference order when choosing a group; the hybrid group is offered but its 1216-byte share is
# sent only when asked for (it makes the first flight span several Initial packets).
DEFAULT_GROUPS = (
    NamedGroup.X25519,
    NamedGroup.SECP256R1,
    NamedGroup.SECP384R1,
    NamedGroup.X25519MLKEM768,
)
DEFAULT_KEY_SHARE_GROUPS = (NamedGroup.X25519,)
DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """The settings of a TLS 1.3 session for QUIC; see the field comments."""

    is_client: bool
    alpn_protocols: tuple[bytes, ...]  # in preference order; at least one (RFC 9001 §8.1)
    server_name: str | None = None  # client: SNI (not for IP literals) and the name verified
    cipher_suites: tuple[CipherSuite, ...] = DEFAULT_CIPHER_SUITES
    groups: tuple[NamedGroup, ...] = DEFAULT_GROUPS
    key_share_groups: tuple[NamedGroup, ...] = DEFAULT_KEY_SHARE_GROUPS  # client's first shares
    signature_schemes: tuple[SignatureScheme, ...] = SUPPORTED_SIGNATURE_SCHEMES
    credential: Credential | None = None  # server: required; client: for mutual TLS
    # Peer certificate verification.  Client: None means the system trust store; pass
    # certificates.NoVerification() to turn verification off explicitly.  Server: used only
    # with require_client_certificate, and then required.
    verifier: PeerVerifier | None = None
    require_client_certificate: bool = False
    # Resumption and 0-RTT (RFC 8446 §4.6.1, RFC 9001 §4.6).
    session_ticket: SessionTicket | None = None  # client: resume with this ticket
    enable_early_data: bool = False  # client: send 0-RTT; server: offer and accept 0-RTT
    ticket_sealer: TicketSealer | None = None  # server: issue tickets sealed with these keys
    tickets_per_handshake: int = 1  # server: NewSessionTickets sent after the handshake
    ticket_lifetime_s: int | None = None  # server: None = the sealer's maximum
    anti_replay: AntiReplay | None = None  # server: required to accept 0-RTT (RFC 8446 §8)
    keylog: KeyLogSink | None = None  # NSS key log lines (SSLKEYLOGFILE)
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    random_bytes: Callable[[int], bytes] = os.urandom
    wall_clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self._check_lists()
        if self.is_client:
            self._check_client()
        else:
            self._check_server()
        if self.tickets_per_handshake < 0:
            raise ValueError("tickets_per_handshake cannot be negative")
        if self.max_message_size < 1024:
            raise ValueError("max_message_size must be at least 1024 bytes")

    def _check_lists(self) -> None:
        if not self.alpn_protocols:
            raise ValueError("QUIC requires at least one ALPN protocol (RFC 9001 §8.1)")
        for alpn in self.alpn_protocols:
            if not isinstance(alpn, bytes) or not 1 <= len(alpn) <= 255:
                raise ValueError(f"an ALPN protocol is 1 to 255 bytes, got {alpn!r}")
        if not self.cipher_suites:
            raise ValueError("at least one cipher suite is required")
        for suite in self.cipher_suites:
            CipherSuite(suite)  # raises ValueError for an unknown suite
        if not self.groups:
            raise ValueError("at least one key exchange group is required")
        unsupported = [g for g in self.groups if g not in SUPPORTED_GROUPS]
        if unsupported:
            raise ValueError(f"unsupported key exchange groups: {unsupported}")
        if not self.signature_schemes:
            raise ValueError("at least one signature scheme is required")

    def _check_client(self) -> None:
        if not self.key_share_groups:
            raise ValueError("a client needs at least one key share group")
        if not set(self.key_share_groups) <= set(self.groups):
            raise ValueError("key_share_groups must be a subset of groups")
        if self.server_name is None and not isinstance(self.verifier, NoVerification):
            raise ValueError("server_name is required to verify the server's certificate")
        if self.require_client_certificate or self.ticket_sealer is not None:
            raise ValueError("require_client_certificate and ticket_sealer are server settings")

    def _check_server(self) -> None:
        if self.credential is None:
            raise ValueError("a server needs a credential (certificate chain and key)")
        if self.require_client_certificate and self.verifier is None:
            raise ValueError("require_client_certificate needs a verifier for client chains")
        if self.session_ticket is not None:
            raise ValueError("session_ticket is a client setting")
        if self.enable_early_data and (self.ticket_sealer is None or self.anti_replay is None):
            raise ValueError("accepting 0-RTT needs a ticket_sealer and anti_replay (RFC 8446 §8)")
        if (
            self.ticket_sealer is not None
            and self.ticket_lifetime_s is not None
            and not 0 < self.ticket_lifetime_s <= self.ticket_sealer.max_lifetime_s
        ):
            raise ValueError(
                f"ticket_lifetime_s must be in 1..{self.ticket_sealer.max_lifetime_s:.0f}"
            )
