"""The server's resumption and 0-RTT decisions, and the tickets it issues.

Design: one policy object per server session holds what the configuration says (the sealer, the
anti-replay stores, the 0-RTT context) and answers two questions: may this ClientHello resume,
and with 0-RTT (:meth:`ResumptionPolicy.evaluate`); which NewSessionTickets to send after the
handshake (:meth:`ResumptionPolicy.issue`).  A PSK that cannot be used (unknown key, expired,
other hash, other server name) is ignored and the handshake falls back to a full one; a PSK that
is used must carry a valid binder, or the handshake fails with decrypt_error (RFC 8446 §4.2.11).

Rules: RFC 8446 §4.2.10 (0-RTT only with the first identity, same suite and ALPN, never after a
HelloRetryRequest), §4.2.11 (binders), §4.6.1 (tickets, nonces, age_add), §8 (anti-replay);
RFC 9001 §4.6.1 (max_early_data_size 0xffffffff), §4.6.3 (remembered transport parameters).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyquic.platform.crypto.suites import CipherSuite
from pyquic.platform.tls import extensions as ext
from pyquic.platform.tls.config import TlsConfig
from pyquic.platform.tls.constants import ExtensionType
from pyquic.platform.tls.key_schedule import KeySchedule, Transcript
from pyquic.platform.tls.messages import NewSessionTicket
from pyquic.platform.tls.server_offer import Offer
from pyquic.platform.tls.tickets import (
    QUIC_MAX_EARLY_DATA_SIZE,
    TicketState,
    compute_early_data_context,
)

_NONCE_LENGTH = 8  # a per-connection counter: nonces must be unique per connection (§4.6.1)


@dataclass(frozen=True, slots=True)
class Resumption:
    """An accepted PSK: its secret, whether 0-RTT is accepted, and the ticket it came from."""

    psk: bytes
    early_data_accepted: bool
    ticket: TicketState


class ResumptionPolicy:
    """Resumption and 0-RTT for one server session."""

    def __init__(self, config: TlsConfig, early_data_context: bytes) -> None:
        self._config = config
        self._context = compute_early_data_context(early_data_context)

    def ticket_suite(self, offer: Offer) -> CipherSuite | None:
        """The suite of the ticket offered first, if both sides still allow it.

        Resuming with the ticket's own suite is what clients expect (RFC 8446 §4.2.11 only
        requires the same hash; some clients, aioquic among them, insist on the same suite).
        """
        sealer = self._config.ticket_sealer
        psks = offer.offered_psks
        if sealer is None or psks is None or not offer.psk_dhe_ke:
            return None
        state = sealer.open(psks.identities[0].identity, self._config.wall_clock())
        if state is None:
            return None
        suite = state.cipher_suite
        if suite in self._config.cipher_suites and suite in offer.hello.cipher_suites:
            return CipherSuite(suite)
        return None

    def evaluate(
        self,
        offer: Offer,
        suite: CipherSuite,
        alpn: bytes,
        transcript: Transcript,
        *,
        retried: bool,
    ) -> Resumption | None:
        """The PSK to resume with, or ``None`` for a full handshake.

        ``transcript`` holds what precedes this ClientHello (nothing, or message_hash and the
        HelloRetryRequest): the binder covers it and the partial hello (RFC 8446 §4.2.11.2).
        """
        config = self._config
        sealer = config.ticket_sealer
        psks = offer.offered_psks
        if sealer is None or psks is None or not offer.psk_dhe_ke:
            return None
        now = config.wall_clock()
        # RFC 8446 §4.2.11: we only try the first identity, the only one 0-RTT may use
        identity, binder = psks.identities[0], psks.binders[0]
        state = sealer.open(identity.identity, now)
        if state is None or not self._usable(state, offer, suite):
            return None
        schedule = KeySchedule(suite, state.psk)
        partial_hash = transcript.digest(offer.hello.truncated_for_binders())
        # a wrong binder aborts the handshake with decrypt_error (RFC 8446 §4.2.11)
        schedule.verify_binder(schedule.binder_key(resumption=True), partial_hash, binder)
        early = self._accept_early_data(offer, state, suite, alpn, identity, retried, now)
        return Resumption(state.psk, early, state)

    def _usable(self, state: TicketState, offer: Offer, suite: CipherSuite) -> bool:
        ticket_hash = CipherSuite(state.cipher_suite).hash_algorithm.name
        if ticket_hash != suite.hash_algorithm.name:  # RFC 8446 §4.2.11: same hash
            return False
        if state.server_name != offer.server_name:  # RFC 8446 §4.6.1: same SNI
            return False
        # a ticket from an unauthenticated client must not skip required client authentication
        return state.client_authenticated or not self._config.require_client_certificate

    def _accept_early_data(
        self,
        offer: Offer,
        state: TicketState,
        suite: CipherSuite,
        alpn: bytes,
        identity: ext.PskIdentity,
        retried: bool,
        now: float,
    ) -> bool:
        config = self._config
        anti_replay = config.anti_replay
        if not offer.early_data or retried or not config.enable_early_data or anti_replay is None:
            return False  # RFC 8446 §4.2.10: no 0-RTT after a HelloRetryRequest
        if not state.early_data_matches(int(suite), alpn, self._context):
            return False  # RFC 8446 §4.2.10, RFC 9001 §4.6.3
        return anti_replay.accept_early_data(
            state, offer.hello.random, identity.obfuscated_ticket_age, now
        )

    def issue(
        self,
        schedule: KeySchedule,
        resumption_secret: bytes,
        *,
        suite: CipherSuite,
        alpn: bytes,
        server_name: str | None,
        client_authenticated: bool,
    ) -> list[bytes]:
        """The encoded NewSessionTickets to send once the handshake is complete."""
        config = self._config
        sealer = config.ticket_sealer
        if sealer is None:
            return []
        now = config.wall_clock()
        lifetime = config.ticket_lifetime_s or sealer.max_lifetime_s
        max_early = QUIC_MAX_EARLY_DATA_SIZE if config.enable_early_data else 0
        extensions: ext.Extensions = ()
        if max_early:  # RFC 9001 §4.6.1: the only value allowed
            extensions = ((int(ExtensionType.EARLY_DATA), ext.encode_early_data(max_early)),)
        messages = []
        for index in range(config.tickets_per_handshake):
            nonce = index.to_bytes(_NONCE_LENGTH, "big")
            age_add = int.from_bytes(config.random_bytes(4), "big")  # RFC 8446 §4.6.1
            state = TicketState(
                psk=schedule.resumption_psk(resumption_secret, nonce),
                cipher_suite=int(suite),
                server_name=server_name,
                alpn=alpn,
                issued_at_s=now,
                lifetime_s=lifetime,
                age_add=age_add,
                max_early_data_size=max_early,
                early_data_context=self._context,
                client_authenticated=client_authenticated,
            )
            ticket = sealer.seal(state, now)
            messages.append(NewSessionTicket(lifetime, age_add, nonce, ticket, extensions).encode())
        return messages
