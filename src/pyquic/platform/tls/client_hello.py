"""Building the client's ClientHello, first and after a HelloRetryRequest.

Design: one object owns everything the client offered (key shares, the ticket, the extension types
sent), because the state machine checks the server's answers against exactly that (RFC 8446 §4.2:
no response extension that was not offered).  Extension order: pre_shared_key last (§4.2.11).

QUIC rules: legacy_session_id is empty, no middlebox compatibility mode (RFC 9001 §8.4); the
quic_transport_parameters extension carries the client's parameters (RFC 9001 §8.2); early_data
only with a ticket that allows it (RFC 9001 §4.6.1) and never after a HelloRetryRequest (RFC 8446
§4.2.10).  The second ClientHello replaces the key shares with one of the selected group, echoes
the cookie and refreshes the PSK's age and binder (RFC 8446 §4.1.2).
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from pyquic.platform.crypto.suites import CipherSuite
from pyquic.platform.tls import extensions as ext
from pyquic.platform.tls.config import TlsConfig
from pyquic.platform.tls.constants import (
    TLS13_VERSION,
    ExtensionType,
    NamedGroup,
    PskKeyExchangeMode,
)
from pyquic.platform.tls.key_exchange import ClientKeyShare, generate
from pyquic.platform.tls.key_schedule import KeySchedule, Transcript, transcript_hash
from pyquic.platform.tls.messages import ClientHello
from pyquic.platform.tls.tickets import SessionTicket

_E = ExtensionType


def _usable_ticket(config: TlsConfig, now_s: float) -> SessionTicket | None:
    """The configured ticket if it may resume this connection (RFC 8446 §4.6.1, §4.2.11)."""
    ticket = config.session_ticket
    if ticket is None or ticket.is_expired(now_s):
        return None
    if ticket.server_name != (config.server_name or ""):
        return None
    if ticket.alpn is not None and ticket.alpn not in config.alpn_protocols:
        return None
    if ticket.cipher_suite not in config.cipher_suites:
        return None
    return ticket


@lru_cache(maxsize=64)  # a client connects to the same few names again and again
def _is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class ClientHelloBuilder:
    """What the client offered, and the encoded ClientHellos."""

    def __init__(self, config: TlsConfig, transport_parameters: bytes, now_s: float) -> None:
        self._config = config
        self._transport_parameters = transport_parameters
        self.ticket = _usable_ticket(config, now_s)
        self.early_data_offered = bool(
            self.ticket is not None and config.enable_early_data and self.ticket.allows_early_data
        )
        self.legacy_session_id = b""  # RFC 9001 §8.4
        self.random = b""
        self.key_shares: dict[int, ClientKeyShare] = {}
        self.sent_extension_types: set[int] = set()
        self._cookie: bytes | None = None

    def first(self, random: bytes, now_s: float) -> bytes:
        """The encoded first ClientHello (with its PSK binder, if resuming)."""
        self.random = random
        for group in self._config.key_share_groups:
            self.key_shares[int(group)] = generate(group, self._config.random_bytes)
        return self._encode(self.ticket, self.early_data_offered, now_s, transcript=None)

    def second(
        self,
        suite: CipherSuite,
        group: int | None,
        cookie: bytes | None,
        transcript: Transcript,
        now_s: float,
    ) -> bytes:
        """The ClientHello answering a HelloRetryRequest (RFC 8446 §4.1.2)."""
        if group is not None:
            self.key_shares = {group: generate(NamedGroup(group), self._config.random_bytes)}
        self._cookie = cookie
        ticket = self.ticket
        if ticket is not None and (
            CipherSuite(ticket.cipher_suite).hash_algorithm.name != suite.hash_algorithm.name
        ):
            ticket = None  # RFC 8446 §4.1.2: drop a PSK incompatible with the chosen suite
        self.ticket = ticket
        self.early_data_offered = False  # RFC 8446 §4.2.10: no early data after HRR
        return self._encode(ticket, False, now_s, transcript=transcript)

    def _extensions(self, ticket: SessionTicket | None, early_data: bool) -> list[ext.Extension]:
        config = self._config
        items: list[ext.Extension] = []
        name = config.server_name
        if name and not _is_ip_literal(name):  # RFC 6066 §3: no IP literals in SNI
            items.append((_E.SERVER_NAME, ext.encode_server_name(name)))
        items += [
            (_E.SUPPORTED_VERSIONS, ext.encode_supported_versions([TLS13_VERSION])),
            (_E.SUPPORTED_GROUPS, ext.encode_supported_groups(config.groups)),
            (_E.SIGNATURE_ALGORITHMS, ext.encode_signature_algorithms(config.signature_schemes)),
            (
                _E.KEY_SHARE,
                ext.encode_key_share(
                    [ext.KeyShareEntry(g, s.public_bytes) for g, s in self.key_shares.items()]
                ),
            ),
            (_E.APPLICATION_LAYER_PROTOCOL_NEGOTIATION, ext.encode_alpn(config.alpn_protocols)),
            (
                _E.QUIC_TRANSPORT_PARAMETERS,
                ext.encode_quic_transport_parameters(self._transport_parameters),
            ),
            # RFC 8446 §4.2.9: sent always, so the server may issue tickets
            (_E.PSK_KEY_EXCHANGE_MODES, ext.encode_psk_key_exchange_modes([_PSK_DHE_KE])),
        ]
        if self._cookie is not None:
            items.append((_E.COOKIE, ext.encode_cookie(self._cookie)))
        if early_data:
            items.append((_E.EARLY_DATA, ext.encode_early_data()))
        return items

    def _encode(
        self,
        ticket: SessionTicket | None,
        early_data: bool,
        now_s: float,
        *,
        transcript: Transcript | None,
    ) -> bytes:
        items = self._extensions(ticket, early_data)
        if ticket is not None:
            suite = CipherSuite(ticket.cipher_suite)
            # RFC 8446 §4.2.11.1: the ticket's age in ms plus age_add, modulo 2^32
            identity = ext.PskIdentity(ticket.ticket, ticket.obfuscated_age(now_s))
            placeholder = bytes(suite.hash_length)
            items.append(
                (
                    _E.PRE_SHARED_KEY,
                    ext.encode_pre_shared_key(ext.OfferedPsks((identity,), (placeholder,))),
                )
            )
        self.sent_extension_types = {int(t) for t, _ in items}
        hello = ClientHello(
            random=self.random,
            cipher_suites=tuple(int(s) for s in self._config.cipher_suites),
            extensions=tuple((int(t), d) for t, d in items),
            legacy_session_id=self.legacy_session_id,
        )
        if ticket is None:
            return hello.encode()
        return self._bind(hello, ticket, transcript)

    def _bind(
        self, hello: ClientHello, ticket: SessionTicket, transcript: Transcript | None
    ) -> bytes:
        """Fill in the PSK binder over the partial ClientHello (RFC 8446 §4.2.11.2)."""
        suite = CipherSuite(ticket.cipher_suite)
        schedule = KeySchedule(suite, ticket.psk)
        partial = hello.truncated_for_binders()
        if transcript is None:
            partial_hash = transcript_hash(suite.hash_algorithm, partial)
        else:  # after HRR the binder covers message_hash, the HRR and the partial hello
            partial_hash = transcript.digest(partial)
        binder = schedule.compute_binder(schedule.binder_key(resumption=True), partial_hash)
        return hello.with_binders([binder]).encode()


_PSK_DHE_KE = int(PskKeyExchangeMode.PSK_DHE_KE)
