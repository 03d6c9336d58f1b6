"""Handshake failures of our TLS engine and the exact QUIC error each one closes with.

A failure is CRYPTO_ERROR 0x100 + the TLS alert (RFC 9001 §4.8) or a transport error the QUIC
mapping names (PROTOCOL_VIOLATION, RFC 9001 §4.1.3, §4.6.1, §8.4).  Bad messages are produced by
a man-in-the-middle that decodes a genuine message with the public codecs of ``messages`` and
``extensions``, changes it and re-encodes it, or are crafted whole.  Each test also checks that
the failed session stays failed (``handshake_util.expect_failure``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from certs import Issued, Pki
from cryptography import x509
from cryptography.x509.oid import NameOID
from handshake_util import (
    MESSAGE_LEVELS,
    Clock,
    Exchange,
    Harness,
    Interceptor,
    Side,
    expect_failure,
    expect_receive_failure,
    pump,
    rewrite,
    split_messages,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.platform.crypto.suites import CipherSuite
from pyquic.platform.tls import (
    AlertDescription,
    ClientSession,
    Credential,
    EncryptionLevel,
    NamedGroup,
    ServerSession,
    SignatureScheme,
)
from pyquic.platform.tls import extensions as ext
from pyquic.platform.tls.certificates import CertificateVerifier, NoVerification
from pyquic.platform.tls.constants import TLS13_VERSION, ExtensionType, HandshakeType
from pyquic.platform.tls.messages import (
    Certificate,
    CertificateEntry,
    CertificateRequest,
    CertificateVerify,
    ClientHello,
    EncryptedExtensions,
    Finished,
    NewSessionTicket,
    ServerHello,
)
from pyquic.platform.tls.signatures import certificate_verify_content, sign

INITIAL = EncryptionLevel.INITIAL
EARLY = EncryptionLevel.EARLY_DATA
HANDSHAKE = EncryptionLevel.HANDSHAKE
ONE_RTT = EncryptionLevel.APPLICATION
_E = ExtensionType
_T = HandshakeType


def alert(description: AlertDescription) -> int:
    return 0x100 + int(description)


UNEXPECTED_MESSAGE = alert(AlertDescription.unexpected_message)  # 0x10a
HANDSHAKE_FAILURE = alert(AlertDescription.handshake_failure)  # 0x128
BAD_CERTIFICATE = alert(AlertDescription.bad_certificate)  # 0x12a
CERTIFICATE_EXPIRED = alert(AlertDescription.certificate_expired)  # 0x12d
ILLEGAL_PARAMETER = alert(AlertDescription.illegal_parameter)  # 0x12f
UNKNOWN_CA = alert(AlertDescription.unknown_ca)  # 0x130
DECODE_ERROR = alert(AlertDescription.decode_error)  # 0x132
DECRYPT_ERROR = alert(AlertDescription.decrypt_error)  # 0x133
PROTOCOL_VERSION = alert(AlertDescription.protocol_version)  # 0x146
MISSING_EXTENSION = alert(AlertDescription.missing_extension)  # 0x16d
UNSUPPORTED_EXTENSION = alert(AlertDescription.unsupported_extension)  # 0x16e
NO_APPLICATION_PROTOCOL = alert(AlertDescription.no_application_protocol)  # 0x178
PROTOCOL_VIOLATION = int(TransportErrorCode.PROTOCOL_VIOLATION)  # 0x0a
CRYPTO_BUFFER_EXCEEDED = int(TransportErrorCode.CRYPTO_BUFFER_EXCEEDED)  # 0x0d


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


def test_alert_codes_are_the_rfc_values() -> None:
    assert (UNEXPECTED_MESSAGE, HANDSHAKE_FAILURE, BAD_CERTIFICATE) == (0x10A, 0x128, 0x12A)
    assert (CERTIFICATE_EXPIRED, ILLEGAL_PARAMETER, UNKNOWN_CA) == (0x12D, 0x12F, 0x130)
    assert (DECODE_ERROR, DECRYPT_ERROR, PROTOCOL_VERSION) == (0x132, 0x133, 0x146)
    assert (MISSING_EXTENSION, UNSUPPORTED_EXTENSION) == (0x16D, 0x16E)
    assert (NO_APPLICATION_PROTOCOL, PROTOCOL_VIOLATION, CRYPTO_BUFFER_EXCEEDED) == (
        0x178,
        0x0A,
        0x0D,
    )


# --- man-in-the-middle helpers ----------------------------------------------------------------

Extensions = tuple[tuple[int, bytes], ...]


def without(extensions: Extensions, ext_type: int) -> Extensions:
    kept = tuple(e for e in extensions if e[0] != ext_type)
    assert len(kept) == len(extensions) - 1, f"extension {ext_type} was not there"
    return kept


def replacing(extensions: Extensions, ext_type: int, data: bytes) -> Extensions:
    assert any(e[0] == ext_type for e in extensions), f"extension {ext_type} was not there"
    return tuple((t, data if t == ext_type else d) for t, d in extensions)


def on_client_hello(change: Callable[[ClientHello], ClientHello]) -> Interceptor:
    return rewrite("client", _T.CLIENT_HELLO, lambda raw: change(ClientHello.parse(raw)).encode())


def on_client_hello_extensions(change: Callable[[Extensions], Extensions]) -> Interceptor:
    return on_client_hello(lambda h: dataclasses.replace(h, extensions=change(h.extensions)))


def on_server_hello(change: Callable[[ServerHello], ServerHello]) -> Interceptor:
    return rewrite("server", _T.SERVER_HELLO, lambda raw: change(ServerHello.parse(raw)).encode())


def on_encrypted_extensions(change: Callable[[Extensions], Extensions]) -> Interceptor:
    def change_message(raw: bytes) -> bytes:
        return EncryptedExtensions(change(EncryptedExtensions.parse(raw).extensions)).encode()

    return rewrite("server", _T.ENCRYPTED_EXTENSIONS, change_message)


def corrupt_last_byte(raw: bytes) -> bytes:
    return raw[:-1] + bytes([raw[-1] ^ 0x01])


def fail(
    harness: Harness,
    failing: Side,
    error_code: int,
    intercept: Interceptor | None = None,
    *,
    client: ClientSession | None = None,
    server: ServerSession | None = None,
) -> Exchange:
    exchange = Exchange(client or harness.client(), server or harness.server(), intercept)
    expect_failure(
        exchange, exchange.client if failing == "client" else exchange.server, error_code
    )
    return exchange


# --- ALPN and transport parameters (RFC 9001 §8.1, §8.2) -------------------------------------


def test_no_alpn_overlap(harness: Harness) -> None:
    fail(harness, "server", NO_APPLICATION_PROTOCOL, server=harness.server(alpn_protocols=(b"h2",)))


def test_client_hello_without_alpn(harness: Harness) -> None:
    intercept = on_client_hello_extensions(
        lambda e: without(e, _E.APPLICATION_LAYER_PROTOCOL_NEGOTIATION)
    )
    fail(harness, "server", NO_APPLICATION_PROTOCOL, intercept)


def test_encrypted_extensions_without_alpn(harness: Harness) -> None:
    intercept = on_encrypted_extensions(
        lambda e: without(e, _E.APPLICATION_LAYER_PROTOCOL_NEGOTIATION)
    )
    fail(harness, "client", NO_APPLICATION_PROTOCOL, intercept)


def test_encrypted_extensions_with_an_unoffered_alpn(harness: Harness) -> None:
    intercept = on_encrypted_extensions(
        lambda e: replacing(e, _E.APPLICATION_LAYER_PROTOCOL_NEGOTIATION, ext.encode_alpn([b"h2"]))
    )
    fail(harness, "client", ILLEGAL_PARAMETER, intercept)


def test_client_hello_without_transport_parameters(harness: Harness) -> None:
    intercept = on_client_hello_extensions(lambda e: without(e, _E.QUIC_TRANSPORT_PARAMETERS))
    fail(harness, "server", MISSING_EXTENSION, intercept)


def test_encrypted_extensions_without_transport_parameters(harness: Harness) -> None:
    intercept = on_encrypted_extensions(lambda e: without(e, _E.QUIC_TRANSPORT_PARAMETERS))
    fail(harness, "client", MISSING_EXTENSION, intercept)


# --- other mandatory and forbidden extensions (RFC 8446 §4.2, §9.2) --------------------------


@pytest.mark.parametrize(
    "ext_type", [_E.SUPPORTED_GROUPS, _E.KEY_SHARE, _E.SIGNATURE_ALGORITHMS], ids=lambda t: t.name
)
def test_client_hello_without_a_mandatory_extension(harness: Harness, ext_type: int) -> None:
    fail(
        harness,
        "server",
        MISSING_EXTENSION,
        on_client_hello_extensions(lambda e: without(e, ext_type)),
    )


def test_duplicate_extension_in_client_hello(harness: Harness) -> None:
    def duplicate(extensions: Extensions) -> Extensions:
        versions = ext.find_extension(extensions, _E.SUPPORTED_VERSIONS)
        assert versions is not None
        return (*extensions, (int(_E.SUPPORTED_VERSIONS), versions))

    fail(harness, "server", ILLEGAL_PARAMETER, on_client_hello_extensions(duplicate))


def test_duplicate_extension_in_encrypted_extensions(harness: Harness) -> None:
    intercept = on_encrypted_extensions(lambda e: (*e, e[0]))
    fail(harness, "client", ILLEGAL_PARAMETER, intercept)


@pytest.mark.parametrize(
    ("ext_type", "data"),
    [(0x1234, b"unknown"), (_E.EARLY_DATA, b""), (_E.SERVER_NAME, b"")],
    ids=["unknown", "early_data", "server_name"],
)
def test_unsolicited_extension_in_encrypted_extensions(
    harness: Harness, ext_type: int, data: bytes
) -> None:
    # RFC 8446 §4.2: a response to something the client did not offer (no 0-RTT offered, no
    # SNI sent to an IP address)
    client = harness.client(server_name="127.0.0.1")
    intercept = on_encrypted_extensions(lambda e: (*e, (ext_type, data)))
    fail(harness, "client", UNSUPPORTED_EXTENSION, intercept, client=client)


def test_unsolicited_extension_in_server_hello(harness: Harness) -> None:
    # a pre_shared_key selection although the client offered no PSK
    intercept = on_server_hello(
        lambda h: dataclasses.replace(
            h, extensions=(*h.extensions, (int(_E.PRE_SHARED_KEY), ext.encode_pre_shared_key(0)))
        )
    )
    fail(harness, "client", UNSUPPORTED_EXTENSION, intercept)


def test_extension_in_the_wrong_message(harness: Harness) -> None:
    # RFC 8446 §4.2: a cookie may be in a HelloRetryRequest, never in a ServerHello
    intercept = on_server_hello(
        lambda h: dataclasses.replace(
            h, extensions=(*h.extensions, (int(_E.COOKIE), ext.encode_cookie(b"c")))
        )
    )
    fail(harness, "client", ILLEGAL_PARAMETER, intercept)


# --- versions, suites, groups (RFC 8446 §4.1.1, §4.1.3, §4.2.1, §4.2.8) ----------------------


def test_client_without_tls13_in_supported_versions(harness: Harness) -> None:
    intercept = on_client_hello_extensions(
        lambda e: replacing(e, _E.SUPPORTED_VERSIONS, ext.encode_supported_versions([0x0303]))
    )
    fail(harness, "server", PROTOCOL_VERSION, intercept)


def test_client_without_supported_versions(harness: Harness) -> None:
    fail(
        harness,
        "server",
        PROTOCOL_VERSION,
        on_client_hello_extensions(lambda e: without(e, _E.SUPPORTED_VERSIONS)),
    )


def test_server_hello_without_supported_versions(harness: Harness) -> None:
    intercept = on_server_hello(
        lambda h: dataclasses.replace(h, extensions=without(h.extensions, _E.SUPPORTED_VERSIONS))
    )
    fail(harness, "client", PROTOCOL_VERSION, intercept)


def test_server_selecting_another_version(harness: Harness) -> None:
    intercept = on_server_hello(
        lambda h: dataclasses.replace(
            h,
            extensions=replacing(
                h.extensions, _E.SUPPORTED_VERSIONS, ext.encode_supported_versions(0x0303)
            ),
        )
    )
    fail(harness, "client", ILLEGAL_PARAMETER, intercept)


def test_server_selecting_an_unoffered_cipher_suite(harness: Harness) -> None:
    client = harness.client(cipher_suites=(CipherSuite.AES_128_GCM_SHA256,))
    intercept = on_server_hello(
        lambda h: dataclasses.replace(h, cipher_suite=CipherSuite.CHACHA20_POLY1305_SHA256)
    )
    fail(harness, "client", ILLEGAL_PARAMETER, intercept, client=client)


def test_server_key_share_for_an_unoffered_group(harness: Harness) -> None:
    share = ext.KeyShareEntry(NamedGroup.SECP256R1, b"\x04" + bytes(64))
    intercept = on_server_hello(
        lambda h: dataclasses.replace(
            h, extensions=replacing(h.extensions, _E.KEY_SHARE, ext.encode_key_share(share))
        )
    )
    fail(harness, "client", ILLEGAL_PARAMETER, intercept)


def test_server_key_share_of_the_wrong_length(harness: Harness) -> None:
    share = ext.KeyShareEntry(NamedGroup.X25519, bytes(31))
    intercept = on_server_hello(
        lambda h: dataclasses.replace(
            h, extensions=replacing(h.extensions, _E.KEY_SHARE, ext.encode_key_share(share))
        )
    )
    fail(harness, "client", ILLEGAL_PARAMETER, intercept)


def test_no_common_cipher_suite(harness: Harness) -> None:
    client = harness.client(cipher_suites=(CipherSuite.AES_128_GCM_SHA256,))
    server = harness.server(cipher_suites=(CipherSuite.AES_256_GCM_SHA384,))
    fail(harness, "server", HANDSHAKE_FAILURE, client=client, server=server)


def test_no_common_group(harness: Harness) -> None:
    client = harness.client(
        groups=(NamedGroup.SECP384R1,), key_share_groups=(NamedGroup.SECP384R1,)
    )
    server = harness.server(groups=(NamedGroup.X25519, NamedGroup.SECP256R1))
    fail(harness, "server", HANDSHAKE_FAILURE, client=client, server=server)


def test_no_common_signature_scheme(harness: Harness) -> None:
    client = harness.client(signature_schemes=(SignatureScheme.ED25519,))
    fail(harness, "server", HANDSHAKE_FAILURE, client=client)  # a P-256 server


def test_client_key_share_for_a_group_it_does_not_list(harness: Harness) -> None:
    intercept = on_client_hello_extensions(
        lambda e: replacing(
            e, _E.SUPPORTED_GROUPS, ext.encode_supported_groups([NamedGroup.SECP256R1])
        )
    )
    fail(harness, "server", ILLEGAL_PARAMETER, intercept)


# --- legacy_session_id (RFC 9001 §8.4, RFC 8446 §4.1.3) --------------------------------------


def test_client_hello_with_a_legacy_session_id(harness: Harness) -> None:
    intercept = on_client_hello(lambda h: dataclasses.replace(h, legacy_session_id=bytes(32)))
    fail(harness, "server", PROTOCOL_VIOLATION, intercept)


def test_server_hello_echoing_another_session_id(harness: Harness) -> None:
    intercept = on_server_hello(lambda h: dataclasses.replace(h, legacy_session_id_echo=b"\x01"))
    fail(harness, "client", ILLEGAL_PARAMETER, intercept)


def test_client_hello_with_compression(harness: Harness) -> None:
    def add_compression(raw: bytes) -> bytes:
        hello = ClientHello.parse(raw)
        # body: version(2) random(32) session_id(1) suites(2+n) compression(1+1)
        offset = 4 + 2 + 32 + 1 + 2 + 2 * len(hello.cipher_suites)
        assert raw[offset : offset + 2] == b"\x01\x00"
        body = raw[4:offset] + b"\x02\x00\x01" + raw[offset + 2 :]
        return bytes([raw[0]]) + len(body).to_bytes(3, "big") + body

    fail(harness, "server", ILLEGAL_PARAMETER, rewrite("client", _T.CLIENT_HELLO, add_compression))


# --- certificates (RFC 8446 §4.4.2, §6.2) ----------------------------------------------------


def server_with(harness: Harness, issued: Issued) -> ServerSession:
    return harness.server(credential=Credential(issued.chain, issued.key))


def test_wrong_server_name(harness: Harness) -> None:
    fail(harness, "client", BAD_CERTIFICATE, client=harness.client(server_name="other.test"))


def test_unknown_ca(harness: Harness, pki: Pki) -> None:
    server = server_with(harness, pki.unknown_ca_server)
    fail(harness, "client", UNKNOWN_CA, server=server)


@pytest.mark.parametrize("which", ["expired", "not_yet_valid"])
def test_certificate_outside_its_validity(harness: Harness, pki: Pki, which: str) -> None:
    issued = getattr(pki, which)
    fail(
        harness,
        "client",
        CERTIFICATE_EXPIRED,
        server=server_with(harness, issued),
    )


def test_validity_follows_the_injected_clock(harness: Harness) -> None:
    harness.clock.advance(400 * 86_400)  # the leaves are valid for 365 days
    fail(harness, "client", CERTIFICATE_EXPIRED)


def test_empty_server_certificate(harness: Harness) -> None:
    intercept = rewrite("server", _T.CERTIFICATE, lambda raw: Certificate(b"", ()).encode())
    fail(harness, "client", DECODE_ERROR, intercept)  # RFC 8446 §4.4.2.4


def test_server_certificate_with_a_request_context(harness: Harness) -> None:
    def add_context(raw: bytes) -> bytes:
        return dataclasses.replace(
            Certificate.parse(raw), certificate_request_context=b"x"
        ).encode()

    fail(harness, "client", ILLEGAL_PARAMETER, rewrite("server", _T.CERTIFICATE, add_context))


def test_undecodable_server_certificate(harness: Harness) -> None:
    def garble(raw: bytes) -> bytes:
        message = Certificate.parse(raw)
        entries = (dataclasses.replace(message.certificate_list[0], cert_data=b"\x30\x03junk"),)
        return dataclasses.replace(message, certificate_list=entries).encode()

    fail(harness, "client", BAD_CERTIFICATE, rewrite("server", _T.CERTIFICATE, garble))


def test_client_certificate_from_an_unknown_ca(
    harness: Harness, pki: Pki, certificate_verifier: CertificateVerifier
) -> None:
    stranger = pki.unknown_root.issue_leaf(
        pki.client.key,
        not_before=pki.now - dt.timedelta(days=1),
        not_after=pki.now + dt.timedelta(days=1),
        dns_names=(),
        ip_addresses=(),
        server=False,
        client=True,
    )
    client = harness.client(credential=Credential(stranger.chain, stranger.key))
    server = harness.server(require_client_certificate=True, verifier=certificate_verifier)
    fail(harness, "server", UNKNOWN_CA, client=client, server=server)


def test_client_certificate_without_client_auth_usage(
    harness: Harness, certificate_verifier: CertificateVerifier
) -> None:
    server_leaf = harness.server_credentials["p256"]  # serverAuth only
    client = harness.client(credential=server_leaf)
    server = harness.server(require_client_certificate=True, verifier=certificate_verifier)
    fail(harness, "server", BAD_CERTIFICATE, client=client, server=server)


# --- CertificateVerify and Finished (RFC 8446 §4.4.3, §4.4.4) --------------------------------


def test_bad_server_certificate_verify_signature(harness: Harness) -> None:
    key = harness.server_credentials["p256"].private_key

    def resign(raw: bytes) -> bytes:
        message = CertificateVerify.parse(raw)
        content = certificate_verify_content(bytes(32), server=True)  # the wrong transcript
        return CertificateVerify(
            message.algorithm, sign(SignatureScheme(message.algorithm), key, content)
        ).encode()

    fail(harness, "client", DECRYPT_ERROR, rewrite("server", _T.CERTIFICATE_VERIFY, resign))


def test_corrupted_server_certificate_verify_signature(harness: Harness) -> None:
    intercept = rewrite("server", _T.CERTIFICATE_VERIFY, corrupt_last_byte)
    fail(harness, "client", DECRYPT_ERROR, intercept, server=harness.server("ed25519"))


def test_server_certificate_verify_with_an_unoffered_scheme(harness: Harness) -> None:
    client = harness.client(
        signature_schemes=(SignatureScheme.ECDSA_SECP256R1_SHA256, SignatureScheme.ED25519)
    )
    intercept = rewrite(
        "server",
        _T.CERTIFICATE_VERIFY,
        lambda raw: dataclasses.replace(
            CertificateVerify.parse(raw), algorithm=SignatureScheme.ECDSA_SECP384R1_SHA384
        ).encode(),
    )
    fail(harness, "client", ILLEGAL_PARAMETER, intercept, client=client)


def test_bad_client_certificate_verify_signature(
    harness: Harness, certificate_verifier: CertificateVerifier
) -> None:
    client = harness.client(credential=harness.client_credential)
    server = harness.server(require_client_certificate=True, verifier=certificate_verifier)
    intercept = rewrite("client", _T.CERTIFICATE_VERIFY, corrupt_last_byte)
    fail(harness, "server", DECRYPT_ERROR, intercept, client=client, server=server)


def test_bad_server_finished(harness: Harness) -> None:
    fail(harness, "client", DECRYPT_ERROR, rewrite("server", _T.FINISHED, corrupt_last_byte))


def test_bad_client_finished(harness: Harness) -> None:
    fail(harness, "server", DECRYPT_ERROR, rewrite("client", _T.FINISHED, corrupt_last_byte))


def test_short_server_finished(harness: Harness) -> None:
    intercept = rewrite("server", _T.FINISHED, lambda raw: Finished(raw[4:-1]).encode())
    fail(harness, "client", DECRYPT_ERROR, intercept)


def test_tampered_transcript_fails_authentication(harness: Harness) -> None:
    # a different but valid EncryptedExtensions: the transcripts differ, so the signature fails
    intercept = on_encrypted_extensions(lambda e: tuple(reversed(e)))
    fail(harness, "client", DECRYPT_ERROR, intercept)


# --- CertificateRequest (RFC 8446 §4.3.2) ----------------------------------------------------


def test_certificate_request_with_a_context(
    harness: Harness, certificate_verifier: CertificateVerifier
) -> None:
    server = harness.server(require_client_certificate=True, verifier=certificate_verifier)
    intercept = rewrite(
        "server",
        _T.CERTIFICATE_REQUEST,
        lambda raw: dataclasses.replace(
            CertificateRequest.parse(raw), certificate_request_context=b"ctx"
        ).encode(),
    )
    fail(harness, "client", ILLEGAL_PARAMETER, intercept, server=server)


def test_certificate_request_without_signature_algorithms(
    harness: Harness, certificate_verifier: CertificateVerifier
) -> None:
    server = harness.server(require_client_certificate=True, verifier=certificate_verifier)
    intercept = rewrite(
        "server", _T.CERTIFICATE_REQUEST, lambda raw: CertificateRequest(b"", ()).encode()
    )
    fail(harness, "client", MISSING_EXTENSION, intercept, server=server)


def test_certificate_request_in_a_resumed_handshake(harness: Harness) -> None:
    # RFC 8446 §4.3.2: a server authenticating with a PSK MUST NOT send a CertificateRequest
    ticket = harness.ticket()
    request = CertificateRequest(
        b"",
        (
            (
                int(_E.SIGNATURE_ALGORITHMS),
                ext.encode_signature_algorithms([SignatureScheme.ED25519]),
            ),
        ),
    ).encode()

    def insert_request(raw: bytes) -> bytes:
        return raw + request

    intercept = rewrite("server", _T.ENCRYPTED_EXTENSIONS, insert_request)
    fail(
        harness,
        "client",
        UNEXPECTED_MESSAGE,
        intercept,
        client=harness.client(session_ticket=ticket),
    )


# --- message order and encryption levels (RFC 8446 §4, RFC 9001 §4.1.3, §4.1.4) --------------


def started(harness: Harness, **changes: Any) -> tuple[ClientSession, ServerSession, bytes, bytes]:
    """A client and a server after the ClientHello: (client, server, initial, handshake), the
    server's flights not delivered yet."""
    client, server = harness.client(**changes), harness.server()
    client.start()
    server.receive(INITIAL, client.data_to_send(INITIAL))
    return client, server, server.data_to_send(INITIAL), server.data_to_send(HANDSHAKE)


def test_finished_instead_of_server_hello(harness: Harness) -> None:
    client = harness.client()
    client.start()
    expect_receive_failure(client, INITIAL, Finished(bytes(32)).encode(), UNEXPECTED_MESSAGE)


def test_finished_instead_of_client_hello(harness: Harness) -> None:
    expect_receive_failure(
        harness.server(), INITIAL, Finished(bytes(32)).encode(), UNEXPECTED_MESSAGE
    )


def test_server_hello_at_the_handshake_level(harness: Harness) -> None:
    client, _, initial, _ = started(harness)
    expect_receive_failure(client, HANDSHAKE, initial, UNEXPECTED_MESSAGE)


def test_encrypted_extensions_at_the_initial_level(harness: Harness) -> None:
    client, _, initial, handshake = started(harness)
    client.receive(INITIAL, initial)
    expect_receive_failure(client, INITIAL, split_messages(handshake)[0], UNEXPECTED_MESSAGE)


def test_client_hello_at_the_handshake_level(harness: Harness) -> None:
    client = harness.client()
    client.start()
    expect_receive_failure(
        harness.server(), HANDSHAKE, client.data_to_send(INITIAL), UNEXPECTED_MESSAGE
    )


def test_certificate_before_encrypted_extensions(harness: Harness) -> None:
    client, _, initial, handshake = started(harness)
    client.receive(INITIAL, initial)
    ee, certificate, *_ = split_messages(handshake)
    expect_receive_failure(client, HANDSHAKE, certificate + ee, UNEXPECTED_MESSAGE)


def test_finished_without_certificate_in_a_full_handshake(harness: Harness) -> None:
    client, _, initial, handshake = started(harness)
    client.receive(INITIAL, initial)
    ee, _, _, finished = split_messages(handshake)
    expect_receive_failure(client, HANDSHAKE, ee + finished, UNEXPECTED_MESSAGE)


def test_new_session_ticket_during_the_handshake(harness: Harness) -> None:
    client, _, initial, _ = started(harness)
    client.receive(INITIAL, initial)
    ticket = NewSessionTicket(3600, 1, b"\x00", b"ticket").encode()
    expect_receive_failure(client, ONE_RTT, ticket, UNEXPECTED_MESSAGE)


def test_client_hello_sent_to_a_client(harness: Harness) -> None:
    client = harness.client()
    client.start()
    other = harness.client()
    other.start()
    expect_receive_failure(client, INITIAL, other.data_to_send(INITIAL), UNEXPECTED_MESSAGE)


def test_server_hello_sent_to_a_server(harness: Harness) -> None:
    _, _, initial, _ = started(harness)
    expect_receive_failure(harness.server(), INITIAL, initial, UNEXPECTED_MESSAGE)


def test_unrequested_client_certificate(harness: Harness) -> None:
    def add_certificate(side: Side, level: EncryptionLevel, data: bytes) -> bytes:
        if side == "client" and level is HANDSHAKE:
            chain = harness.client_credential.chain_der
            return Certificate(b"", tuple(map(CertificateEntry, chain))).encode() + data
        return data

    fail(harness, "server", UNEXPECTED_MESSAGE, add_certificate)


def test_tls_data_at_the_early_data_level(harness: Harness) -> None:
    client = harness.client()
    client.start()
    hello = client.data_to_send(INITIAL)
    expect_receive_failure(harness.server(), EARLY, hello, UNEXPECTED_MESSAGE)
    expect_receive_failure(client, EARLY, b"\x02\x00\x00\x00", UNEXPECTED_MESSAGE)


def test_end_of_early_data(harness: Harness) -> None:
    # RFC 9001 §8.3: EndOfEarlyData is not used; even with 0-RTT accepted it is refused
    ticket = harness.ticket(enable_early_data=True)
    client = harness.client(session_ticket=ticket, enable_early_data=True)
    server = harness.server(enable_early_data=True)
    client.start()
    server.receive(INITIAL, client.data_to_send(INITIAL))
    assert server.early_data_accepted
    expect_receive_failure(server, HANDSHAKE, b"\x05\x00\x00\x00", UNEXPECTED_MESSAGE)


@pytest.mark.parametrize("side", ["client", "server"])
def test_key_update(harness: Harness, side: Side) -> None:
    # RFC 9001 §6: a TLS KeyUpdate is a connection error 0x010a
    exchange = pump(harness.client(), harness.server())
    session = exchange.client if side == "client" else exchange.server
    expect_receive_failure(session, ONE_RTT, b"\x18\x00\x00\x01\x00", UNEXPECTED_MESSAGE)


def test_unknown_message_type(harness: Harness) -> None:
    client = harness.client()
    client.start()
    expect_receive_failure(client, INITIAL, b"\x63\x00\x00\x00", UNEXPECTED_MESSAGE)


def test_data_left_over_at_a_key_change(harness: Harness) -> None:
    # RFC 9001 §4.1.3: unconsumed data of a previous level when the keys change
    client, _, initial, _ = started(harness)
    expect_receive_failure(client, INITIAL, initial + b"\x08\x00", PROTOCOL_VIOLATION)


def test_data_left_over_after_the_client_hello(harness: Harness) -> None:
    client = harness.client()
    client.start()
    hello = client.data_to_send(INITIAL)
    expect_receive_failure(harness.server(), INITIAL, hello + b"\x14", PROTOCOL_VIOLATION)


def test_data_left_over_after_the_server_finished(harness: Harness) -> None:
    client, _, initial, handshake = started(harness)
    client.receive(INITIAL, initial)
    expect_receive_failure(client, HANDSHAKE, handshake + b"\x04\x00", PROTOCOL_VIOLATION)


# --- malformed messages (RFC 8446 §4, §6.2: decode_error) ------------------------------------


def test_truncated_server_hello(harness: Harness) -> None:
    def truncate(raw: bytes) -> bytes:
        body = raw[4:-1]
        return bytes([raw[0]]) + len(body).to_bytes(3, "big") + body

    fail(harness, "client", DECODE_ERROR, rewrite("server", _T.SERVER_HELLO, truncate))


def test_client_hello_with_trailing_bytes(harness: Harness) -> None:
    def extend(raw: bytes) -> bytes:
        body = raw[4:] + b"\x00"
        return bytes([raw[0]]) + len(body).to_bytes(3, "big") + body

    fail(harness, "server", DECODE_ERROR, rewrite("client", _T.CLIENT_HELLO, extend))


def test_malformed_extension_body(harness: Harness) -> None:
    intercept = on_encrypted_extensions(
        lambda e: replacing(e, _E.APPLICATION_LAYER_PROTOCOL_NEGOTIATION, b"\x00\x05\x02h3")
    )
    fail(harness, "client", DECODE_ERROR, intercept)


def test_oversized_message(harness: Harness) -> None:
    client = harness.client()
    client.start()
    expect_receive_failure(client, INITIAL, b"\x02\x01\x00\x01", CRYPTO_BUFFER_EXCEEDED)


# --- HelloRetryRequest (RFC 8446 §4.1.4) -----------------------------------------------------


def hrr_sessions(harness: Harness) -> tuple[ClientSession, ServerSession]:
    client = harness.client(
        groups=(NamedGroup.SECP256R1, NamedGroup.X25519), key_share_groups=(NamedGroup.SECP256R1,)
    )
    return client, harness.server(groups=(NamedGroup.X25519,))


def test_second_hello_retry_request(harness: Harness) -> None:
    retries: list[bytes] = []

    def repeat_retry(raw: bytes) -> bytes:
        if not retries:
            assert ServerHello.parse(raw).is_hello_retry_request
            retries.append(raw)
        return retries[0]  # the real ServerHello is replaced by the HRR again

    client, server = hrr_sessions(harness)
    fail(
        harness,
        "client",
        UNEXPECTED_MESSAGE,
        rewrite("server", _T.SERVER_HELLO, repeat_retry),
        client=client,
        server=server,
    )


def test_hello_retry_request_for_an_already_shared_group(harness: Harness) -> None:
    def select_secp256r1(raw: bytes) -> bytes:
        hello = ServerHello.parse(raw)
        data = ext.encode_key_share(int(NamedGroup.SECP256R1))
        return dataclasses.replace(
            hello, extensions=replacing(hello.extensions, _E.KEY_SHARE, data)
        ).encode()

    client, server = hrr_sessions(harness)
    intercept = rewrite("server", _T.SERVER_HELLO, select_secp256r1)
    fail(harness, "client", ILLEGAL_PARAMETER, intercept, client=client, server=server)


def test_server_hello_after_retry_with_another_suite(harness: Harness) -> None:
    count = 0

    def change_suite(raw: bytes) -> bytes:
        nonlocal count
        count += 1
        if count == 1:
            return raw  # the HelloRetryRequest, with AES-128-GCM
        return dataclasses.replace(
            ServerHello.parse(raw), cipher_suite=CipherSuite.CHACHA20_POLY1305_SHA256
        ).encode()

    client, server = hrr_sessions(harness)
    intercept = rewrite("server", _T.SERVER_HELLO, change_suite)
    fail(harness, "client", ILLEGAL_PARAMETER, intercept, client=client, server=server)


# --- resumption and tickets (RFC 8446 §4.2.11, §4.6.1; RFC 9001 §4.6.1) ----------------------


def test_bad_psk_binder(harness: Harness) -> None:
    ticket = harness.ticket()

    def corrupt_binder(hello: ClientHello) -> ClientHello:
        offered = ext.parse_pre_shared_key(hello.extensions[-1][1], _T.CLIENT_HELLO)
        return hello.with_binders([corrupt_last_byte(offered.binders[0])])

    client = harness.client(session_ticket=ticket)
    fail(harness, "server", DECRYPT_ERROR, on_client_hello(corrupt_binder), client=client)


def test_psk_selection_out_of_range(harness: Harness) -> None:
    ticket = harness.ticket()
    intercept = on_server_hello(
        lambda h: dataclasses.replace(
            h,
            extensions=replacing(h.extensions, _E.PRE_SHARED_KEY, ext.encode_pre_shared_key(1)),
        )
    )
    client = harness.client(session_ticket=ticket)
    fail(harness, "client", ILLEGAL_PARAMETER, intercept, client=client)


def test_early_data_accepted_without_resumption(
    harness: Harness, certificate_verifier: CertificateVerifier
) -> None:
    ticket = harness.ticket(enable_early_data=True)
    other = Harness(
        certificate_verifier, harness.server_credentials, harness.client_credential, harness.clock
    )  # another sealer: the ticket does not open, a full handshake follows
    intercept = on_encrypted_extensions(lambda e: (*e, (int(_E.EARLY_DATA), b"")))
    client = harness.client(session_ticket=ticket, enable_early_data=True)
    fail(harness, "client", ILLEGAL_PARAMETER, intercept, client=client, server=other.server())


def connected_client(harness: Harness) -> ClientSession:
    return pump(harness.client(), harness.server()).client


def test_new_session_ticket_with_a_bad_max_early_data_size(harness: Harness) -> None:
    early = ((int(_E.EARLY_DATA), ext.encode_early_data(16_384)),)
    ticket = NewSessionTicket(3600, 7, b"\x00", b"ticket", early).encode()
    expect_receive_failure(connected_client(harness), ONE_RTT, ticket, PROTOCOL_VIOLATION)


def test_new_session_ticket_with_a_lifetime_over_seven_days(harness: Harness) -> None:
    ticket = NewSessionTicket(604_801, 7, b"\x00", b"ticket").encode()
    expect_receive_failure(connected_client(harness), ONE_RTT, ticket, ILLEGAL_PARAMETER)


def test_new_session_ticket_at_the_handshake_level(harness: Harness) -> None:
    ticket = NewSessionTicket(3600, 7, b"\x00", b"ticket").encode()
    expect_receive_failure(connected_client(harness), HANDSHAKE, ticket, UNEXPECTED_MESSAGE)


def test_zero_lifetime_ticket_is_dropped(harness: Harness) -> None:
    client = connected_client(harness)
    client.receive(ONE_RTT, NewSessionTicket(0, 7, b"\x00", b"ticket").encode())
    assert client.poll_event() is None


def test_anything_after_the_handshake_is_refused_by_the_server(harness: Harness) -> None:
    exchange = pump(harness.client(), harness.server())
    ticket = NewSessionTicket(3600, 7, b"\x00", b"ticket").encode()
    expect_receive_failure(exchange.server, ONE_RTT, ticket, UNEXPECTED_MESSAGE)


def test_errors_are_quic_errors_with_reasons(harness: Harness) -> None:
    server = harness.server()
    with pytest.raises(QuicError) as info:
        server.receive(INITIAL, b"\x01\x00\x00\x01\x00")
    assert info.value.error_code == DECODE_ERROR and info.value.tls_alert == 50
    assert info.value.reason
    for level in MESSAGE_LEVELS:
        with pytest.raises(QuicError):
            server.receive(level, b"")


def test_legacy_version_field_is_ignored_when_supported_versions_is_present(
    harness: Harness,
) -> None:
    # RFC 8446 §4.2.1: the server negotiates with supported_versions only
    client, server = harness.client(), harness.server()
    client.start()
    hello = ClientHello.parse(client.data_to_send(INITIAL))
    server.receive(INITIAL, dataclasses.replace(hello, legacy_version=0x0301).encode())
    (raw,) = split_messages(server.data_to_send(INITIAL))
    versions = ext.find_extension(ServerHello.parse(raw).extensions, _E.SUPPORTED_VERSIONS)
    assert versions is not None
    assert ext.parse_supported_versions(versions, _T.SERVER_HELLO) == TLS13_VERSION


# --- fuzzing: only QuicError, never internal_error, may come out of receive ------------------

INTERNAL_ERROR = alert(AlertDescription.internal_error)
ALL_LEVELS = (INITIAL, EARLY, HANDSHAKE, ONE_RTT)
FUZZ = settings(max_examples=2000, deadline=None)


@pytest.fixture(scope="module")
def fuzz_harness(
    certificate_verifier: CertificateVerifier,
    server_credentials: dict[str, Credential],
    client_credential: Credential,
    pki_now: dt.datetime,
) -> Harness:
    return Harness(
        certificate_verifier, server_credentials, client_credential, Clock(pki_now.timestamp())
    )


@pytest.fixture(scope="module")
def genuine_client_hellos(fuzz_harness: Harness) -> list[bytes]:
    """First flights to mutate: plain, hybrid share, resumption with 0-RTT, and mutual TLS."""
    ticket = fuzz_harness.ticket(enable_early_data=True)
    hellos = []
    for changes in (
        {},
        {"key_share_groups": (NamedGroup.X25519MLKEM768,)},
        {"session_ticket": ticket, "enable_early_data": True},
    ):
        client = fuzz_harness.client(**changes)
        client.start()
        hellos.append(client.data_to_send(INITIAL))
    return hellos


def framed_messages() -> st.SearchStrategy[bytes]:
    """Handshake-framed bodies of any type (the header length matches), or raw bytes."""
    framed = st.builds(
        lambda msg_type, body: bytes([msg_type]) + len(body).to_bytes(3, "big") + body,
        st.one_of(st.sampled_from(list(HandshakeType)), st.integers(0, 255)),
        st.binary(max_size=200),
    )
    return st.one_of(st.binary(max_size=300), framed)


Edit = tuple[int, int, bytes]  # (kind, position, bytes)


def mutations() -> st.SearchStrategy[list[Edit]]:
    return st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 1 << 16), st.binary(min_size=1, max_size=4)),
        min_size=1,
        max_size=4,
    )


def mutate(data: bytes, edits: list[Edit]) -> bytes:
    """Apply byte edits: 0 overwrite, 1 insert, 2 delete, 3 truncate."""
    out = bytearray(data)
    for kind, position, value in edits:
        at = position % (len(out) + 1)
        if kind == 0:
            out[at : at + len(value)] = value
        elif kind == 1:
            out[at:at] = value
        elif kind == 2:
            del out[at : at + len(value)]
        else:
            del out[at:]
    return bytes(out)


def feed(
    session: ClientSession | ServerSession, chunks: list[tuple[EncryptionLevel, bytes]]
) -> None:
    """Feed chunks until one fails; a failure must be a QuicError other than internal_error,
    after which the session stays failed."""
    for level, data in chunks:
        try:
            session.receive(level, data)
        except QuicError as error:
            assert error.error_code != INTERNAL_ERROR, f"engine bug: {error!r} {error.__cause__!r}"
            with pytest.raises(QuicError) as again:
                session.receive(level, b"")
            assert again.value is error
            return


@FUZZ
@given(chunks=st.lists(st.tuples(st.sampled_from(ALL_LEVELS), framed_messages()), max_size=4))
def test_fuzz_server_with_arbitrary_bytes(
    fuzz_harness: Harness, chunks: list[tuple[EncryptionLevel, bytes]]
) -> None:
    feed(fuzz_harness.server(enable_early_data=True), chunks)


@FUZZ
@given(chunks=st.lists(st.tuples(st.sampled_from(ALL_LEVELS), framed_messages()), max_size=4))
def test_fuzz_client_with_arbitrary_bytes(
    fuzz_harness: Harness, chunks: list[tuple[EncryptionLevel, bytes]]
) -> None:
    client = fuzz_harness.client()
    client.start()
    feed(client, chunks)


@FUZZ
@given(index=st.integers(0, 2), edits=mutations())
def test_fuzz_server_with_mutated_client_hellos(
    fuzz_harness: Harness, genuine_client_hellos: list[bytes], index: int, edits: list[Edit]
) -> None:
    hello = mutate(genuine_client_hellos[index], edits)
    feed(fuzz_harness.server(enable_early_data=True), [(INITIAL, hello)])


@FUZZ
@given(target=st.sampled_from(MESSAGE_LEVELS), edits=mutations(), mutual=st.booleans())
def test_fuzz_client_with_mutated_server_flights(
    fuzz_harness: Harness,
    certificate_verifier: CertificateVerifier,
    target: EncryptionLevel,
    edits: list[Edit],
    mutual: bool,
) -> None:
    if mutual:
        client = fuzz_harness.client(credential=fuzz_harness.client_credential)
        server = fuzz_harness.server(require_client_certificate=True, verifier=certificate_verifier)
    else:
        client, server = fuzz_harness.client(), fuzz_harness.server()
    client.start()
    server.receive(INITIAL, client.data_to_send(INITIAL))
    flights = [(level, server.data_to_send(level)) for level in (INITIAL, HANDSHAKE)]
    flights.append((ONE_RTT, NewSessionTicket(3600, 1, b"\x00", b"ticket").encode()))
    feed(client, [(level, mutate(d, edits) if level is target else d) for level, d in flights])


@FUZZ
@given(edits=mutations(), mutual=st.booleans())
def test_fuzz_server_with_mutated_client_flights(
    fuzz_harness: Harness,
    certificate_verifier: CertificateVerifier,
    edits: list[Edit],
    mutual: bool,
) -> None:
    if mutual:
        client = fuzz_harness.client(credential=fuzz_harness.client_credential)
        server = fuzz_harness.server(require_client_certificate=True, verifier=certificate_verifier)
    else:
        client, server = fuzz_harness.client(), fuzz_harness.server()
    client.start()
    server.receive(INITIAL, client.data_to_send(INITIAL))
    client.receive(INITIAL, server.data_to_send(INITIAL))
    client.receive(HANDSHAKE, server.data_to_send(HANDSHAKE))
    feed(server, [(HANDSHAKE, mutate(client.data_to_send(HANDSHAKE), edits))])


def corrupt_certificate(der: bytes, how: str) -> bytes:
    """A certificate that still loads, with one field cryptography decodes lazily or rejects with
    an exception other than ValueError: the subject's common name tagged NULL (ValueError) or
    BIT STRING (TypeError), or X.509 version 2 (InvalidVersion)."""
    if how == "version":
        at = der.index(b"\xa0\x03\x02\x01\x02") + 4  # [0] EXPLICIT INTEGER v3(2)
        return der[:at] + b"\x01" + der[at + 1 :]
    certificate = x509.load_der_x509_certificate(der)
    subject = certificate.subject.public_bytes()
    (common_name,) = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    name = str(common_name.value).encode()
    at = der.index(subject) + subject.index(b"\x0c" + bytes([len(name)]) + name)  # UTF8String
    bad = der[:at] + (b"\x00" if how == "subject-null" else b"\x03") + der[at + 1 :]
    lazy = x509.load_der_x509_certificate(bad)  # loads...
    with pytest.raises((ValueError, TypeError)):
        _ = lazy.subject  # ...but the subject does not decode
    return bad


def corrupt_leaf(how: str) -> Callable[[bytes], bytes]:
    def change(raw: bytes) -> bytes:
        message = Certificate.parse(raw)
        leaf, *rest = message.certificate_list
        bad_leaf = dataclasses.replace(leaf, cert_data=corrupt_certificate(leaf.cert_data, how))
        return dataclasses.replace(message, certificate_list=(bad_leaf, *rest)).encode()

    return change


CORRUPTIONS = ["subject-null", "subject-bitstring", "version"]


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_server_certificate_that_does_not_decode(harness: Harness, how: str) -> None:
    intercept = rewrite("server", _T.CERTIFICATE, corrupt_leaf(how))
    fail(harness, "client", BAD_CERTIFICATE, intercept)


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_server_certificate_that_does_not_decode_without_verification(
    harness: Harness, how: str
) -> None:
    client = harness.client(verifier=NoVerification())
    intercept = rewrite("server", _T.CERTIFICATE, corrupt_leaf(how))
    fail(harness, "client", BAD_CERTIFICATE, intercept, client=client)


@pytest.mark.parametrize("how", CORRUPTIONS)
def test_client_certificate_that_does_not_decode(
    harness: Harness, certificate_verifier: CertificateVerifier, how: str
) -> None:
    client = harness.client(credential=harness.client_credential)
    server = harness.server(require_client_certificate=True, verifier=certificate_verifier)
    intercept = rewrite("client", _T.CERTIFICATE, corrupt_leaf(how))
    fail(harness, "server", BAD_CERTIFICATE, intercept, client=client, server=server)
