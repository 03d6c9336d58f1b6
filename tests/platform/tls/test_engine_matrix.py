"""Our TLS 1.3 client against our server, in memory (RFC 8446, RFC 9001 §4).

Every cipher suite x key exchange group x signature scheme completes with matching keys; then
HelloRetryRequest, resumption, 0-RTT accepted and rejected, ticket persistence, mutual TLS, the
hybrid post-quantum group, key logging and ClientHello determinism.  Sessions are driven by
``handshake_util`` (a helper module) over the PKI of ``conftest.py`` with an injected clock.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from typing import Any

import pytest
from handshake_util import (
    ALPN,
    CLIENT_TRANSPORT_PARAMETERS,
    EXPORTER_LABEL,
    SERVER_TRANSPORT_PARAMETERS,
    Clock,
    Exchange,
    Harness,
    Side,
    deterministic_random,
    expect_failure,
    pump,
    split_messages,
)

from pyquic.platform.crypto.suites import CipherSuite
from pyquic.platform.tls import (
    AlertDescription,
    ClientSession,
    ClientState,
    Credential,
    Direction,
    EncryptionLevel,
    NamedGroup,
    PeerCertificateReceived,
    ServerSession,
    ServerState,
    SessionTicket,
    SignatureScheme,
)
from pyquic.platform.tls import extensions as ext
from pyquic.platform.tls.certificates import CertificateVerifier
from pyquic.platform.tls.constants import ExtensionType, HandshakeType
from pyquic.platform.tls.messages import (
    Certificate,
    CertificateVerify,
    ClientHello,
    EncryptedExtensions,
    ServerHello,
)

INITIAL = EncryptionLevel.INITIAL
EARLY = EncryptionLevel.EARLY_DATA
HANDSHAKE = EncryptionLevel.HANDSHAKE
ONE_RTT = EncryptionLevel.APPLICATION
READ, WRITE = Direction.READ, Direction.WRITE
CERTIFICATE_REQUIRED = 0x100 + AlertDescription.certificate_required
# The credential kind of conftest.py that signs with each scheme.
SCHEME_KIND = {
    SignatureScheme.ECDSA_SECP256R1_SHA256: "p256",
    SignatureScheme.ECDSA_SECP384R1_SHA384: "p384",
    SignatureScheme.RSA_PSS_RSAE_SHA256: "rsa2048",
    SignatureScheme.RSA_PSS_RSAE_SHA384: "rsa2048",
    SignatureScheme.RSA_PSS_RSAE_SHA512: "rsa2048",
    SignatureScheme.ED25519: "ed25519",
}
FULL_HANDSHAKE_SERVER_MESSAGES = [
    HandshakeType.SERVER_HELLO,
    HandshakeType.ENCRYPTED_EXTENSIONS,
    HandshakeType.CERTIFICATE,
    HandshakeType.CERTIFICATE_VERIFY,
    HandshakeType.FINISHED,
    HandshakeType.NEW_SESSION_TICKET,
]


@pytest.fixture
def harness(
    certificate_verifier: CertificateVerifier,
    server_credentials: dict[str, Credential],
    client_credential: Credential,
    pki_now: dt.datetime,
) -> Harness:
    return Harness(
        certificate_verifier, server_credentials, client_credential, Clock(pki_now.timestamp())
    )


def server_hello(exchange: Exchange) -> ServerHello:
    """The (last) ServerHello the server sent."""
    hellos = [
        ServerHello.parse(m)
        for m in exchange.messages("server", INITIAL)
        if m[0] == HandshakeType.SERVER_HELLO
    ]
    return hellos[-1]


def client_hellos(exchange: Exchange) -> list[ClientHello]:
    return [ClientHello.parse(m) for m in exchange.messages("client", INITIAL)]


def encrypted_extensions(exchange: Exchange) -> EncryptedExtensions:
    (raw,) = [
        m
        for m in exchange.messages("server", HANDSHAKE)
        if m[0] == HandshakeType.ENCRYPTED_EXTENSIONS
    ]
    return EncryptedExtensions.parse(raw)


def assert_keys_agree(exchange: Exchange, levels: set[EncryptionLevel]) -> None:
    """Each side's WRITE secret for a level is the other side's READ secret for it."""
    client_write, client_read = exchange.secrets("client", WRITE), exchange.secrets("client", READ)
    server_write, server_read = exchange.secrets("server", WRITE), exchange.secrets("server", READ)
    suite = exchange.client.cipher_suite
    assert suite is not None
    for level in levels - {EARLY}:
        assert client_write[level] == server_read[level], level
        assert server_write[level] == client_read[level], level
        assert client_write[level] != client_read[level], level
        assert len(client_write[level]) == suite.hash_length
    assert set(client_read) == set(server_write) == levels - {EARLY}
    # 0-RTT: the client writes, the server reads (RFC 9001 §4.1.4); nothing the other way
    offered = ext.find_extension(
        ClientHello.parse(exchange.messages("client", INITIAL)[0]).extensions,
        ExtensionType.EARLY_DATA,
    )
    assert set(client_write) == levels | ({EARLY} if offered is not None else set())
    assert set(server_read) == levels
    if EARLY in levels:
        assert client_write[EARLY] == server_read[EARLY]


def assert_connected(exchange: Exchange, *, resumed: bool = False, early: bool = False) -> None:
    client, server = exchange.client, exchange.server
    assert client.state is ClientState.CONNECTED and server.state is ServerState.CONNECTED
    assert client.handshake_complete and server.handshake_complete
    assert client.alpn == server.alpn == ALPN
    assert client.cipher_suite is not None and client.cipher_suite == server.cipher_suite
    assert client.peer_transport_parameters == SERVER_TRANSPORT_PARAMETERS
    assert server.peer_transport_parameters == CLIENT_TRANSPORT_PARAMETERS
    assert client.session_resumed is server.session_resumed is resumed
    assert client.early_data_accepted is server.early_data_accepted is early
    sides: tuple[Side, ...] = ("client", "server")
    for side in sides:
        done = exchange.completed(side)
        assert (done.alpn, done.session_resumed, done.early_data_accepted) == (ALPN, resumed, early)
    levels = {HANDSHAKE, ONE_RTT} | ({EARLY} if early else set())
    assert_keys_agree(exchange, levels)
    for length in (16, 32, 48):
        secret = client.export_keying_material(EXPORTER_LABEL, b"context", length)
        assert len(secret) == length
        assert secret == server.export_keying_material(EXPORTER_LABEL, b"context", length)
    assert client.export_keying_material(EXPORTER_LABEL, b"", 32) != (
        client.export_keying_material(EXPORTER_LABEL, b"context", 32)
    )
    assert client.export_keying_material(b"EXPORTER-other", b"", 32) != (
        server.export_keying_material(EXPORTER_LABEL, b"", 32)
    )


# --- the matrix (RFC 8446 §4.1.1, §4.2.3, §4.2.7; RFC 9001 §5.3) -----------------------------


@pytest.mark.parametrize(
    ("suite", "group", "scheme"),
    list(itertools.product(CipherSuite, NamedGroup, SCHEME_KIND)),
    ids=lambda value: value.name,
)
def test_full_handshake(
    harness: Harness, suite: CipherSuite, group: NamedGroup, scheme: SignatureScheme
) -> None:
    kind = SCHEME_KIND[scheme]
    client = harness.client(
        cipher_suites=(suite,),
        groups=(group,),
        key_share_groups=(group,),
        signature_schemes=(scheme,),
    )
    exchange = pump(client, harness.server(kind))
    assert_connected(exchange)
    assert client.cipher_suite is suite
    hello = server_hello(exchange)
    assert not hello.is_hello_retry_request and hello.cipher_suite == suite
    share_data = ext.find_extension(hello.extensions, ExtensionType.KEY_SHARE)
    assert share_data is not None
    assert ext.parse_key_share(share_data, HandshakeType.SERVER_HELLO).group == group
    (verify_raw,) = [
        m for m in exchange.messages("server") if m[0] == HandshakeType.CERTIFICATE_VERIFY
    ]
    assert CertificateVerify.parse(verify_raw).algorithm == scheme
    assert exchange.message_types("server") == FULL_HANDSHAKE_SERVER_MESSAGES
    assert exchange.message_types("client") == [HandshakeType.CLIENT_HELLO, HandshakeType.FINISHED]
    leaf = harness.server_credentials[kind].chain[0]
    assert client.peer_certificate_chain[0] == leaf
    (certificate_event,) = [
        e for e in exchange.client_events if isinstance(e, PeerCertificateReceived)
    ]
    assert certificate_event.chain == client.peer_certificate_chain
    assert exchange.server.peer_certificate_chain == ()
    for event in exchange.client_events + exchange.server_events:
        assert getattr(event, "cipher_suite", suite) is suite


def test_server_preference_decides_suite_and_alpn(harness: Harness) -> None:
    client = harness.client(alpn_protocols=(b"hq-interop", b"h3"))
    server = harness.server(
        alpn_protocols=(b"h3", b"hq-interop"),
        cipher_suites=(CipherSuite.CHACHA20_POLY1305_SHA256, CipherSuite.AES_128_GCM_SHA256),
    )
    exchange = pump(client, server)
    assert client.cipher_suite is CipherSuite.CHACHA20_POLY1305_SHA256
    assert client.alpn == server.alpn == b"h3"
    assert_keys_agree(exchange, {HANDSHAKE, ONE_RTT})


def test_api_misuse(harness: Harness) -> None:
    client, server = harness.client(), harness.server()
    with pytest.raises(RuntimeError):
        client.export_keying_material(EXPORTER_LABEL, b"", 32)  # RFC 8446 §7.5: after Finished
    client.start()
    with pytest.raises(RuntimeError):
        client.start()
    with pytest.raises(ValueError):
        ClientSession(harness.server_config(), CLIENT_TRANSPORT_PARAMETERS)
    with pytest.raises(ValueError):
        ServerSession(harness.client_config(), SERVER_TRANSPORT_PARAMETERS)
    assert client.data_to_send(HANDSHAKE) == b"" and server.poll_event() is None


# --- HelloRetryRequest (RFC 8446 §4.1.4, §4.2.2, §4.4.1) --------------------------------------


def hrr_pair(harness: Harness, **client_changes: Any) -> tuple[Exchange, ServerHello]:
    """A handshake where the client's only share is secp256r1 and the server takes x25519."""
    client = harness.client(
        groups=(NamedGroup.SECP256R1, NamedGroup.X25519),
        key_share_groups=(NamedGroup.SECP256R1,),
        **client_changes,
    )
    server = harness.server(groups=(NamedGroup.X25519,))
    exchange = pump(client, server)
    retry = ServerHello.parse(exchange.messages("server", INITIAL)[0])
    return exchange, retry


def test_hello_retry_request(harness: Harness) -> None:
    exchange, retry = hrr_pair(harness)
    assert retry.is_hello_retry_request
    selected = ext.find_extension(retry.extensions, ExtensionType.KEY_SHARE)
    assert selected is not None
    assert ext.parse_key_share(selected, HandshakeType.SERVER_HELLO, hello_retry=True) == (
        NamedGroup.X25519
    )
    cookie_data = ext.find_extension(retry.extensions, ExtensionType.COOKIE)
    assert cookie_data is not None
    cookie = ext.parse_cookie(cookie_data, HandshakeType.SERVER_HELLO)
    first, second = client_hellos(exchange)
    assert first.random == second.random  # RFC 8446 §4.1.2: the same hello, amended
    first_shares = ext.find_extension(first.extensions, ExtensionType.KEY_SHARE)
    second_shares = ext.find_extension(second.extensions, ExtensionType.KEY_SHARE)
    assert first_shares is not None and second_shares is not None
    assert [s.group for s in ext.parse_key_share(first_shares, HandshakeType.CLIENT_HELLO)] == [
        NamedGroup.SECP256R1
    ]
    (share,) = ext.parse_key_share(second_shares, HandshakeType.CLIENT_HELLO)
    assert share.group == NamedGroup.X25519 and len(share.key_exchange) == 32
    # the cookie round trip (RFC 8446 §4.2.2)
    assert ext.find_extension(first.extensions, ExtensionType.COOKIE) is None
    echoed = ext.find_extension(second.extensions, ExtensionType.COOKIE)
    assert echoed is not None and ext.parse_cookie(echoed, HandshakeType.CLIENT_HELLO) == cookie
    # the transcripts (message_hash, HRR, ClientHello2, ...) agree, or Finished would fail
    assert_connected(exchange)
    assert exchange.message_types("server")[:2] == [HandshakeType.SERVER_HELLO] * 2
    assert not server_hello(exchange).is_hello_retry_request


def test_hello_retry_request_with_sha384_suite(harness: Harness) -> None:
    exchange, retry = hrr_pair(harness, cipher_suites=(CipherSuite.AES_256_GCM_SHA384,))
    assert retry.is_hello_retry_request and retry.cipher_suite == CipherSuite.AES_256_GCM_SHA384
    assert_connected(exchange)


def test_second_client_hello_ignoring_the_retry_is_rejected(harness: Harness) -> None:
    sent: list[bytes] = []

    def replay_first_hello(side: Side, level: EncryptionLevel, data: bytes) -> bytes:
        if side == "client" and level is INITIAL and data[0] == HandshakeType.CLIENT_HELLO:
            sent.append(data)
            return sent[0]  # the second ClientHello is the first one again
        return data

    client = harness.client(
        groups=(NamedGroup.SECP256R1, NamedGroup.X25519), key_share_groups=(NamedGroup.SECP256R1,)
    )
    server = harness.server(groups=(NamedGroup.X25519,))
    exchange = Exchange(client, server, replay_first_hello)
    expect_failure(exchange, server, 0x100 + AlertDescription.illegal_parameter)
    assert len(sent) == 2 and sent[0] != sent[1]


def test_second_client_hello_without_the_cookie_is_rejected(harness: Harness) -> None:
    count = 0

    def drop_cookie(side: Side, level: EncryptionLevel, data: bytes) -> bytes:
        nonlocal count
        if side != "client" or level is not INITIAL:
            return data
        count += 1
        if count == 1:
            return data
        hello = ClientHello.parse(data)
        kept = tuple(e for e in hello.extensions if e[0] != ExtensionType.COOKIE)
        assert len(kept) == len(hello.extensions) - 1
        return dataclasses.replace(hello, extensions=kept).encode()

    client = harness.client(
        groups=(NamedGroup.SECP256R1, NamedGroup.X25519), key_share_groups=(NamedGroup.SECP256R1,)
    )
    server = harness.server(groups=(NamedGroup.X25519,))
    exchange = Exchange(client, server, drop_cookie)
    expect_failure(exchange, server, 0x100 + AlertDescription.illegal_parameter)


# --- resumption (RFC 8446 §2.2, §4.2.11, §4.6.1) ---------------------------------------------


def test_resumption(harness: Harness) -> None:
    first = pump(harness.client(), harness.server())
    (ticket,) = first.tickets()
    assert ticket.server_name == "localhost" and ticket.alpn == ALPN
    assert ticket.transport_parameters == SERVER_TRANSPORT_PARAMETERS
    assert not ticket.allows_early_data  # the server did not enable 0-RTT
    harness.clock.advance(5)
    client = harness.client(session_ticket=ticket)
    exchange = pump(client, harness.server())
    assert_connected(exchange, resumed=True)
    # RFC 8446 §2.2: no Certificate, CertificateVerify with a PSK
    assert exchange.message_types("server") == [
        HandshakeType.SERVER_HELLO,
        HandshakeType.ENCRYPTED_EXTENSIONS,
        HandshakeType.FINISHED,
        HandshakeType.NEW_SESSION_TICKET,
    ]
    assert client.peer_certificate_chain == ()
    assert not any(isinstance(e, PeerCertificateReceived) for e in exchange.client_events)
    selected = ext.find_extension(server_hello(exchange).extensions, ExtensionType.PRE_SHARED_KEY)
    assert (
        selected is not None and ext.parse_pre_shared_key(selected, HandshakeType.SERVER_HELLO) == 0
    )
    (hello,) = client_hellos(exchange)
    assert hello.extensions[-1][0] == ExtensionType.PRE_SHARED_KEY  # §4.2.11: last
    offered = ext.parse_pre_shared_key(hello.extensions[-1][1], HandshakeType.CLIENT_HELLO)
    (identity,) = offered.identities
    assert identity.identity == ticket.ticket
    # RFC 8446 §4.2.11.1: the obfuscated age is the age in ms plus age_add
    assert identity.obfuscated_ticket_age == (5000 + ticket.age_add) % 2**32
    assert ext.find_extension(hello.extensions, ExtensionType.EARLY_DATA) is None
    # the resumed connection issues a fresh ticket, and that one resumes too
    (second_ticket,) = exchange.tickets()
    assert second_ticket.ticket != ticket.ticket and second_ticket.psk != ticket.psk
    assert_connected(
        pump(harness.client(session_ticket=second_ticket), harness.server()), resumed=True
    )


def test_resumption_with_another_suite_of_the_same_hash(harness: Harness) -> None:
    ticket = harness.ticket()
    assert ticket.cipher_suite == CipherSuite.AES_128_GCM_SHA256
    client = harness.client(
        session_ticket=ticket,
        cipher_suites=(CipherSuite.CHACHA20_POLY1305_SHA256, CipherSuite.AES_128_GCM_SHA256),
    )
    server = harness.server(cipher_suites=(CipherSuite.CHACHA20_POLY1305_SHA256,))
    exchange = pump(client, server)
    assert_connected(exchange, resumed=True)
    assert client.cipher_suite is CipherSuite.CHACHA20_POLY1305_SHA256


def test_ticket_of_another_server_falls_back_to_a_full_handshake(
    harness: Harness, certificate_verifier: CertificateVerifier
) -> None:
    ticket = harness.ticket()
    other = Harness(
        certificate_verifier,
        harness.server_credentials,
        harness.client_credential,
        Clock(harness.clock.now),
    )  # another server: its own ticket keys
    exchange = pump(harness.client(session_ticket=ticket), other.server())
    assert_connected(exchange)  # the PSK is ignored (RFC 8446 §4.2.11), not an error
    assert HandshakeType.CERTIFICATE in exchange.message_types("server")


def test_expired_ticket_is_not_offered(harness: Harness) -> None:
    ticket = harness.ticket()
    harness.clock.advance(ticket.lifetime_s + 1)
    exchange = pump(harness.client(session_ticket=ticket), harness.server())
    (hello,) = client_hellos(exchange)
    assert ext.find_extension(hello.extensions, ExtensionType.PRE_SHARED_KEY) is None
    assert_connected(exchange)


def test_ticket_of_another_hash_falls_back_to_a_full_handshake(harness: Harness) -> None:
    ticket = harness.ticket()  # AES-128-GCM-SHA256
    client = harness.client(
        session_ticket=ticket,
        cipher_suites=(CipherSuite.AES_256_GCM_SHA384, CipherSuite.AES_128_GCM_SHA256),
    )
    server = harness.server(cipher_suites=(CipherSuite.AES_256_GCM_SHA384,))
    exchange = pump(client, server)
    (hello,) = client_hellos(exchange)
    assert hello.extensions[-1][0] == ExtensionType.PRE_SHARED_KEY  # offered, not usable
    assert_connected(exchange)  # RFC 8446 §4.2.11: the PSK needs the suite's hash
    assert client.cipher_suite is CipherSuite.AES_256_GCM_SHA384


def test_hello_retry_request_drops_a_psk_of_another_hash(harness: Harness) -> None:
    ticket = harness.ticket()  # SHA-256
    client = harness.client(
        session_ticket=ticket,
        cipher_suites=(CipherSuite.AES_256_GCM_SHA384, CipherSuite.AES_128_GCM_SHA256),
        groups=(NamedGroup.SECP256R1, NamedGroup.X25519),
        key_share_groups=(NamedGroup.SECP256R1,),
    )
    server = harness.server(
        cipher_suites=(CipherSuite.AES_256_GCM_SHA384,), groups=(NamedGroup.X25519,)
    )
    exchange = pump(client, server)
    first, second = client_hellos(exchange)
    assert first.extensions[-1][0] == ExtensionType.PRE_SHARED_KEY
    # RFC 8446 §4.1.2: a PSK incompatible with the HelloRetryRequest's suite is removed
    assert ext.find_extension(second.extensions, ExtensionType.PRE_SHARED_KEY) is None
    assert_connected(exchange)


def test_resumption_after_hello_retry_request(harness: Harness) -> None:
    ticket = harness.ticket()
    exchange, retry = hrr_pair(harness, session_ticket=ticket)
    assert retry.is_hello_retry_request
    first, second = client_hellos(exchange)
    # RFC 8446 §4.1.2: the second hello refreshes the PSK's binder over the new transcript
    binders = [
        ext.parse_pre_shared_key(h.extensions[-1][1], HandshakeType.CLIENT_HELLO).binders
        for h in (first, second)
    ]
    assert binders[0] != binders[1]
    assert_connected(exchange, resumed=True)


def test_several_tickets_per_handshake(harness: Harness) -> None:
    exchange = pump(harness.client(), harness.server(tickets_per_handshake=3))
    tickets = exchange.tickets()
    assert len(tickets) == 3
    assert len({t.ticket for t in tickets}) == len({t.psk for t in tickets}) == 3
    assert len({t.age_add for t in tickets}) == 3
    for ticket in tickets:
        assert_connected(
            pump(harness.client(session_ticket=ticket), harness.server()), resumed=True
        )


def test_no_tickets_without_a_sealer_or_when_none_are_wanted(harness: Harness) -> None:
    for server in (harness.server(ticket_sealer=None), harness.server(tickets_per_handshake=0)):
        exchange = pump(harness.client(), server)
        assert_connected(exchange)
        assert exchange.tickets() == []
        assert HandshakeType.NEW_SESSION_TICKET not in exchange.message_types("server")


def test_ticket_lifetime_setting(harness: Harness) -> None:
    exchange = pump(harness.client(), harness.server(ticket_lifetime_s=600))
    (ticket,) = exchange.tickets()
    assert ticket.lifetime_s == 600 and ticket.issued_at_s == harness.clock.now
    harness.clock.advance(601)
    exchange = pump(harness.client(session_ticket=ticket), harness.server())
    assert_connected(exchange)  # expired: not offered, a full handshake


# --- 0-RTT (RFC 8446 §4.2.10, RFC 9001 §4.6) -------------------------------------------------


def early_ticket(harness: Harness) -> SessionTicket:
    ticket = harness.ticket(enable_early_data=True)
    assert ticket.allows_early_data and ticket.max_early_data_size == 0xFFFF_FFFF
    harness.clock.advance(1)
    return ticket


def test_early_data_accepted(harness: Harness) -> None:
    ticket = early_ticket(harness)
    client = harness.client(session_ticket=ticket, enable_early_data=True)
    client.start()
    assert client.early_data_offered
    # the 0-RTT key is ready before anything is received (RFC 9001 §4.6.1)
    (event,) = [client.poll_event()]
    assert event is not None and getattr(event, "level", None) is EARLY
    exchange = Exchange(client, harness.server(enable_early_data=True))
    exchange.client_events.append(event)
    exchange.run()
    assert_connected(exchange, resumed=True, early=True)
    assert exchange.secrets("client", WRITE)[EARLY] == exchange.secrets("server", READ)[EARLY]
    assert EARLY not in exchange.secrets("client", READ)
    assert EARLY not in exchange.secrets("server", WRITE)
    early_extension = ext.find_extension(
        encrypted_extensions(exchange).extensions, ExtensionType.EARLY_DATA
    )
    assert early_extension == b""  # RFC 8446 §4.2.10: empty in EncryptedExtensions
    # RFC 9001 §8.3: no EndOfEarlyData
    assert exchange.message_types("client") == [HandshakeType.CLIENT_HELLO, HandshakeType.FINISHED]


def assert_early_data_rejected(exchange: Exchange) -> None:
    # the client offered 0-RTT and got its key; the server read none
    first_hello = client_hellos(exchange)[0]
    assert ext.find_extension(first_hello.extensions, ExtensionType.EARLY_DATA) == b""
    assert_connected(exchange, resumed=True, early=False)
    assert EARLY in exchange.secrets("client", WRITE)
    assert EARLY not in exchange.secrets("server", READ)
    assert (
        ext.find_extension(encrypted_extensions(exchange).extensions, ExtensionType.EARLY_DATA)
        is None
    )


def test_early_data_rejected_by_a_server_without_early_data(harness: Harness) -> None:
    ticket = early_ticket(harness)
    exchange = pump(harness.client(session_ticket=ticket, enable_early_data=True), harness.server())
    assert_early_data_rejected(exchange)


def test_early_data_rejected_under_another_context(harness: Harness) -> None:
    ticket = early_ticket(harness)
    client = harness.client(session_ticket=ticket, enable_early_data=True)
    server = harness.server(enable_early_data=True, early_data_context=b"other settings")
    assert_early_data_rejected(pump(client, server))


def test_early_data_replay_of_a_single_use_ticket_is_rejected(harness: Harness) -> None:
    ticket = early_ticket(harness)
    first = pump(
        harness.client(session_ticket=ticket, enable_early_data=True),
        harness.server(enable_early_data=True),
    )
    assert_connected(first, resumed=True, early=True)
    replay = pump(
        harness.client(session_ticket=ticket, enable_early_data=True),
        harness.server(enable_early_data=True),
    )
    assert_early_data_rejected(replay)


def test_early_data_rejected_after_hello_retry_request(harness: Harness) -> None:
    ticket = early_ticket(harness)
    client = harness.client(
        session_ticket=ticket,
        enable_early_data=True,
        groups=(NamedGroup.SECP256R1, NamedGroup.X25519),
        key_share_groups=(NamedGroup.SECP256R1,),
    )
    server = harness.server(enable_early_data=True, groups=(NamedGroup.X25519,))
    exchange = pump(client, server)
    assert ServerHello.parse(exchange.messages("server", INITIAL)[0]).is_hello_retry_request
    first, second = client_hellos(exchange)
    assert ext.find_extension(first.extensions, ExtensionType.EARLY_DATA) is not None
    # RFC 8446 §4.2.10: no early_data in the second ClientHello; the PSK is still offered
    assert ext.find_extension(second.extensions, ExtensionType.EARLY_DATA) is None
    assert second.extensions[-1][0] == ExtensionType.PRE_SHARED_KEY
    assert_early_data_rejected(exchange)


def test_early_data_not_offered_without_client_opt_in(harness: Harness) -> None:
    ticket = early_ticket(harness)
    exchange = pump(harness.client(session_ticket=ticket), harness.server(enable_early_data=True))
    assert not exchange.client.early_data_offered
    assert_connected(exchange, resumed=True, early=False)
    (hello,) = client_hellos(exchange)
    assert ext.find_extension(hello.extensions, ExtensionType.EARLY_DATA) is None


def test_early_data_rejected_when_the_alpn_changes(harness: Harness) -> None:
    ticket = early_ticket(harness)  # h3
    client = harness.client(
        session_ticket=ticket, enable_early_data=True, alpn_protocols=(b"h3", b"hq-interop")
    )
    server = harness.server(enable_early_data=True, alpn_protocols=(b"hq-interop", b"h3"))
    exchange = Exchange(client, server).run()
    assert client.alpn == b"hq-interop"
    assert client.session_resumed and not client.early_data_accepted  # RFC 8446 §4.2.10
    assert EARLY not in exchange.secrets("server", READ)
    assert_keys_agree(exchange, {HANDSHAKE, ONE_RTT})


def test_ticket_persistence(harness: Harness) -> None:
    ticket = early_ticket(harness)
    blob = ticket.to_bytes()
    restored = SessionTicket.from_bytes(blob)
    assert restored == ticket and restored.psk == ticket.psk
    exchange = pump(
        harness.client(session_ticket=restored, enable_early_data=True),
        harness.server(enable_early_data=True),
    )
    assert_connected(exchange, resumed=True, early=True)
    with pytest.raises(ValueError):
        SessionTicket.from_bytes(blob[:-1])


# --- mutual TLS (RFC 8446 §4.3.2, §4.4.2) ----------------------------------------------------


def test_mutual_tls(harness: Harness, certificate_verifier: CertificateVerifier) -> None:
    client = harness.client(credential=harness.client_credential)
    server = harness.server(require_client_certificate=True, verifier=certificate_verifier)
    exchange = pump(client, server)
    assert_connected(exchange)
    assert HandshakeType.CERTIFICATE_REQUEST in exchange.message_types("server")
    assert exchange.message_types("client") == [
        HandshakeType.CLIENT_HELLO,
        HandshakeType.CERTIFICATE,
        HandshakeType.CERTIFICATE_VERIFY,
        HandshakeType.FINISHED,
    ]
    client_leaf = harness.client_credential.chain[0]
    assert server.peer_certificate_chain[0] == client_leaf
    events = [e for e in exchange.server_events if isinstance(e, PeerCertificateReceived)]
    assert [e.chain[0] for e in events] == [client_leaf]
    # a ticket from an authenticated client resumes without a new CertificateRequest
    (ticket,) = exchange.tickets()
    resumed = pump(
        harness.client(credential=harness.client_credential, session_ticket=ticket),
        harness.server(require_client_certificate=True, verifier=certificate_verifier),
    )
    assert_connected(resumed, resumed=True)
    assert HandshakeType.CERTIFICATE_REQUEST not in resumed.message_types("server")


def test_mutual_tls_without_client_certificate(
    harness: Harness, certificate_verifier: CertificateVerifier
) -> None:
    client = harness.client()
    server = harness.server(require_client_certificate=True, verifier=certificate_verifier)
    exchange = Exchange(client, server)
    expect_failure(exchange, server, CERTIFICATE_REQUIRED)
    # RFC 8446 §4.4.2: the client answered with an empty Certificate
    raw = [m for m in exchange.messages("client") if m[0] == HandshakeType.CERTIFICATE]
    assert [Certificate.parse(m).certificate_list for m in raw] == [()]
    assert client.handshake_complete and not server.handshake_complete


def test_ticket_of_an_anonymous_client_does_not_skip_client_authentication(
    harness: Harness, certificate_verifier: CertificateVerifier
) -> None:
    ticket = harness.ticket()
    client = harness.client(credential=harness.client_credential, session_ticket=ticket)
    server = harness.server(require_client_certificate=True, verifier=certificate_verifier)
    exchange = pump(client, server)
    assert_connected(exchange)  # a full handshake with client authentication
    assert HandshakeType.CERTIFICATE_REQUEST in exchange.message_types("server")


# --- X25519MLKEM768 (draft-ietf-tls-ecdhe-mlkem) ---------------------------------------------


def test_hybrid_post_quantum_group(harness: Harness) -> None:
    client = harness.client(key_share_groups=(NamedGroup.X25519MLKEM768,))
    exchange = pump(client, harness.server())
    assert_connected(exchange)
    (raw_hello,) = exchange.messages("client", INITIAL)
    assert len(raw_hello) > 1216  # more than one Initial packet's worth
    hello = ClientHello.parse(raw_hello)
    shares_data = ext.find_extension(hello.extensions, ExtensionType.KEY_SHARE)
    assert shares_data is not None
    (share,) = ext.parse_key_share(shares_data, HandshakeType.CLIENT_HELLO)
    assert share.group == NamedGroup.X25519MLKEM768 and len(share.key_exchange) == 1184 + 32
    server_share_data = ext.find_extension(
        server_hello(exchange).extensions, ExtensionType.KEY_SHARE
    )
    assert server_share_data is not None
    server_share = ext.parse_key_share(server_share_data, HandshakeType.SERVER_HELLO)
    assert server_share.group == NamedGroup.X25519MLKEM768
    assert len(server_share.key_exchange) == 1088 + 32


def test_hybrid_group_offered_but_not_shared_by_default(harness: Harness) -> None:
    exchange = pump(harness.client(), harness.server())
    (raw_hello,) = exchange.messages("client", INITIAL)
    assert len(raw_hello) < 1200 - 100  # fits one Initial packet
    hello = ClientHello.parse(raw_hello)
    groups_data = ext.find_extension(hello.extensions, ExtensionType.SUPPORTED_GROUPS)
    assert groups_data is not None
    assert NamedGroup.X25519MLKEM768 in ext.parse_supported_groups(
        groups_data, HandshakeType.CLIENT_HELLO
    )


def test_hybrid_group_through_hello_retry_request(harness: Harness) -> None:
    client = harness.client()  # shares x25519 only
    server = harness.server(groups=(NamedGroup.X25519MLKEM768,))
    exchange = pump(client, server)
    assert ServerHello.parse(exchange.messages("server", INITIAL)[0]).is_hello_retry_request
    assert_connected(exchange)
    assert len(exchange.messages("client", INITIAL)[1]) > 1216


# --- key log (NSS format) -------------------------------------------------------------------

FIVE_LABELS = {
    "CLIENT_HANDSHAKE_TRAFFIC_SECRET": (HANDSHAKE, WRITE),
    "SERVER_HANDSHAKE_TRAFFIC_SECRET": (HANDSHAKE, READ),
    "CLIENT_TRAFFIC_SECRET_0": (ONE_RTT, WRITE),
    "SERVER_TRAFFIC_SECRET_0": (ONE_RTT, READ),
}


def parse_key_log(lines: list[str]) -> dict[str, tuple[bytes, bytes]]:
    entries: dict[str, tuple[bytes, bytes]] = {}
    for line in lines:
        assert line.endswith("\n") and line.count("\n") == 1
        label, random_hex, secret_hex = line.rstrip("\n").split(" ")
        assert label not in entries, f"{label} logged twice"
        assert len(random_hex) == 64
        entries[label] = (bytes.fromhex(random_hex), bytes.fromhex(secret_hex))
    return entries


def test_key_log_full_handshake(harness: Harness) -> None:
    client_lines: list[str] = []
    server_lines: list[str] = []
    exchange = pump(
        harness.client(keylog=client_lines.append),
        harness.server(keylog=server_lines.append, cipher_suites=(CipherSuite.AES_256_GCM_SHA384,)),
    )
    client_log, server_log = parse_key_log(client_lines), parse_key_log(server_lines)
    assert set(client_log) == set(FIVE_LABELS) | {"EXPORTER_SECRET"}
    assert client_log == server_log
    (hello,) = client_hellos(exchange)
    client_secrets = {d: exchange.secrets("client", d) for d in (READ, WRITE)}
    for label, (level, direction) in FIVE_LABELS.items():
        random, secret = client_log[label]
        assert random == hello.random
        assert secret == client_secrets[direction][level]
        assert len(secret) == 48
    assert client_log["EXPORTER_SECRET"][0] == hello.random


def test_key_log_with_early_data(harness: Harness) -> None:
    ticket = early_ticket(harness)
    client_lines: list[str] = []
    server_lines: list[str] = []
    exchange = pump(
        harness.client(keylog=client_lines.append, session_ticket=ticket, enable_early_data=True),
        harness.server(keylog=server_lines.append, enable_early_data=True),
    )
    assert_connected(exchange, resumed=True, early=True)
    client_log, server_log = parse_key_log(client_lines), parse_key_log(server_lines)
    assert client_log == server_log
    assert set(client_log) == set(FIVE_LABELS) | {"EXPORTER_SECRET", "CLIENT_EARLY_TRAFFIC_SECRET"}
    assert client_log["CLIENT_EARLY_TRAFFIC_SECRET"][1] == exchange.secrets("client", WRITE)[EARLY]
    assert client_lines[0].startswith("CLIENT_EARLY_TRAFFIC_SECRET ")


# --- determinism ---------------------------------------------------------------------------


def test_injected_random_and_clock_make_the_client_hello_repeatable(harness: Harness) -> None:
    ticket = early_ticket(harness)

    def first_flight() -> bytes:
        client = harness.client(
            random_bytes=deterministic_random(b"seed"),
            session_ticket=ticket,
            enable_early_data=True,
        )
        client.start()
        return client.data_to_send(INITIAL)

    one, two = first_flight(), first_flight()
    assert len(split_messages(one)) == 1
    hello_one, hello_two = ClientHello.parse(one), ClientHello.parse(two)
    assert hello_one.random == hello_two.random == deterministic_random(b"seed")(32)

    # the key shares come from the injected randomness too: the whole flight repeats
    assert one == two
    assert len(one) == len(two)
    other = harness.client(random_bytes=deterministic_random(b"other seed"))
    other.start()
    assert ClientHello.parse(other.data_to_send(INITIAL)).random != hello_one.random
