"""The TLS 1.3 client state machine for QUIC.

States and the messages each accepts (RFC 8446 §2, Appendix A.1):

    START --ClientHello--> WAIT_SH --HelloRetryRequest--> WAIT_SH (once)
    WAIT_SH --ServerHello--> WAIT_EE --EncryptedExtensions--> WAIT_CERT_CR (or WAIT_FINISHED
    when resuming) --CertificateRequest--> WAIT_CERT --Certificate--> WAIT_CV
    --CertificateVerify--> WAIT_FINISHED --Finished--> CONNECTED --NewSessionTicket--> CONNECTED

Design: the transition table at the bottom is the whole protocol order; handlers validate one
message each and return the next state.  QUIC specifics (RFC 9001): no middlebox compatibility
mode (§8.4: empty legacy_session_id), ALPN mandatory (§8.1), quic_transport_parameters required
(§8.2), 0-RTT only with max_early_data_size 0xffffffff (§4.6.1), no EndOfEarlyData (§8.3).
Building the ClientHello lives in :mod:`pyquic.platform.tls.client_hello`.
"""

from __future__ import annotations

from enum import Enum, auto
from typing import Any

from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.platform.crypto.suites import CipherSuite
from pyquic.platform.tls import extensions as ext
from pyquic.platform.tls.certificates import CertificateVerifier, PeerVerifier
from pyquic.platform.tls.client_hello import ClientHelloBuilder
from pyquic.platform.tls.config import TlsConfig
from pyquic.platform.tls.constants import (
    TLS13_VERSION,
    AlertDescription,
    EncryptionLevel,
    ExtensionType,
    HandshakeType,
    alert_error,
)
from pyquic.platform.tls.events import (
    Direction,
    HandshakeCompleted,
    PeerCertificateReceived,
    SessionTicketReceived,
)
from pyquic.platform.tls.key_schedule import KeySchedule, transcript_hash
from pyquic.platform.tls.keylog import KeyLogLabel
from pyquic.platform.tls.messages import (
    Certificate,
    CertificateEntry,
    CertificateRequest,
    CertificateVerify,
    EncryptedExtensions,
    Finished,
    NewSessionTicket,
    ServerHello,
)
from pyquic.platform.tls.session import Handler, TlsSession, parse_certificate_chain
from pyquic.platform.tls.signatures import (
    certificate_verify_content,
    choose_scheme,
    sign,
    verify,
)
from pyquic.platform.tls.tickets import (
    MAX_TICKET_LIFETIME_S,
    QUIC_MAX_EARLY_DATA_SIZE,
    SessionTicket,
)

_ILLEGAL = AlertDescription.illegal_parameter
# Extensions a ServerHello may carry, and only if offered (RFC 8446 §4.1.3, §4.2).
_SERVER_HELLO_EXTENSIONS = {
    ExtensionType.SUPPORTED_VERSIONS,
    ExtensionType.KEY_SHARE,
    ExtensionType.PRE_SHARED_KEY,
    ExtensionType.COOKIE,
}


class ClientState(Enum):
    START = auto()
    WAIT_SH = auto()
    WAIT_EE = auto()
    WAIT_CERT_CR = auto()
    WAIT_CERT = auto()
    WAIT_CV = auto()
    WAIT_FINISHED = auto()
    CONNECTED = auto()


class ClientSession(TlsSession[ClientState]):
    """A TLS client: call :meth:`start`, then feed the server's CRYPTO data to ``receive``."""

    def __init__(self, config: TlsConfig, transport_parameters: bytes) -> None:
        if not config.is_client:
            raise ValueError("ClientSession needs a client configuration")
        super().__init__(config, transport_parameters, ClientState.START)
        self._verifier: PeerVerifier = (
            config.verifier if config.verifier is not None else _system_verifier()
        )
        self._hello = ClientHelloBuilder(config, transport_parameters, self.now_s())
        self._retried = False
        self._server_key: CertificatePublicKeyTypes | None = None
        self._certificate_request: CertificateRequest | None = None
        self._client_handshake_secret = b""
        self._server_handshake_secret = b""
        self._resumption_secret = b""

    @property
    def early_data_offered(self) -> bool:
        """Whether the ClientHello offered 0-RTT (keys for it were reported)."""
        return self._hello.early_data_offered

    def start(self) -> None:
        """Send the ClientHello, and report 0-RTT keys if a ticket allows early data."""
        if self.state is not ClientState.START:
            raise RuntimeError("the handshake has already started")
        raw = self._hello.first(self.config.random_bytes(32), self.now_s())
        self.client_random = self._hello.random
        self.send_message(EncryptionLevel.INITIAL, raw)
        if self._hello.early_data_offered:
            ticket = self._hello.ticket
            assert ticket is not None
            suite = CipherSuite(ticket.cipher_suite)
            # RFC 8446 §7.1: client_early_traffic_secret over the ClientHello
            schedule = KeySchedule(suite, ticket.psk)
            secret = schedule.client_early_traffic_secret(
                transcript_hash(suite.hash_algorithm, raw)
            )
            self.install_secret(
                EncryptionLevel.EARLY_DATA,
                Direction.WRITE,
                secret,
                KeyLogLabel.CLIENT_EARLY_TRAFFIC_SECRET,
                suite,
            )
        self._state = ClientState.WAIT_SH

    # --- ServerHello and HelloRetryRequest (RFC 8446 §4.1.3, §4.1.4) ---------------------------

    def _on_server_hello(self, hello: ServerHello, raw: bytes) -> ClientState:
        suite = self._check_server_hello_common(hello)
        if hello.is_hello_retry_request:
            return self._on_hello_retry(hello, suite, raw)
        if self._retried and suite != self.cipher_suite:  # RFC 8446 §4.1.4
            raise alert_error(_ILLEGAL, "ServerHello suite differs from the HelloRetryRequest's")
        self.cipher_suite = suite
        psk = self._accepted_psk(hello, suite)
        share_data = ext.find_extension(hello.extensions, ExtensionType.KEY_SHARE)
        if share_data is None:  # we offer psk_dhe_ke only, so a share is required (§4.2.9)
            raise alert_error(AlertDescription.missing_extension, "ServerHello lacks key_share")
        entry = ext.parse_key_share(share_data, HandshakeType.SERVER_HELLO)
        share = self._hello.key_shares.get(entry.group)
        if share is None:  # RFC 8446 §4.2.8: a group we offered a share for
            raise alert_error(_ILLEGAL, f"server key share for unoffered group {entry.group:#x}")
        ext.check_key_share_length(entry.group, entry.key_exchange, from_client=False)
        shared_secret = share.complete(entry.key_exchange)
        self.transcript.select_hash(suite.hash_algorithm)
        self.transcript.add(raw)
        self.schedule = KeySchedule(suite, psk)
        self.schedule.enter_handshake(shared_secret)
        digest = self.transcript.digest()
        self._client_handshake_secret = self.schedule.client_handshake_traffic_secret(digest)
        self._server_handshake_secret = self.schedule.server_handshake_traffic_secret(digest)
        self.install_secret(
            EncryptionLevel.HANDSHAKE,
            Direction.READ,
            self._server_handshake_secret,
            KeyLogLabel.SERVER_HANDSHAKE_TRAFFIC_SECRET,
        )
        self.install_secret(
            EncryptionLevel.HANDSHAKE,
            Direction.WRITE,
            self._client_handshake_secret,
            KeyLogLabel.CLIENT_HANDSHAKE_TRAFFIC_SECRET,
        )
        return ClientState.WAIT_EE

    def _check_server_hello_common(self, hello: ServerHello) -> CipherSuite:
        """The checks a ServerHello and a HelloRetryRequest share (RFC 8446 §4.1.3, §4.1.4)."""
        sent = self._hello.sent_extension_types
        for ext_type, _ in hello.extensions:
            if ext_type == ExtensionType.COOKIE and hello.is_hello_retry_request:
                continue  # RFC 8446 §4.2.2: the server's own cookie, not a response
            if ext_type not in sent or ext_type not in _SERVER_HELLO_EXTENSIONS:
                # RFC 8446 §4.2: a response extension the client did not offer
                raise alert_error(
                    AlertDescription.unsupported_extension, f"unsolicited extension {ext_type}"
                )
        versions = ext.find_extension(hello.extensions, ExtensionType.SUPPORTED_VERSIONS)
        if versions is None:  # RFC 8446 §4.2.1: a TLS 1.2 server
            raise alert_error(AlertDescription.protocol_version, "the server does not do TLS 1.3")
        if ext.parse_supported_versions(versions, HandshakeType.SERVER_HELLO) != TLS13_VERSION:
            raise alert_error(_ILLEGAL, "the server selected a version other than TLS 1.3")
        if hello.legacy_session_id_echo != self._hello.legacy_session_id:  # RFC 8446 §4.1.3
            raise alert_error(_ILLEGAL, "legacy_session_id_echo does not match")
        if hello.cipher_suite not in self.config.cipher_suites:  # RFC 8446 §4.1.3
            raise alert_error(_ILLEGAL, f"unoffered cipher suite {hello.cipher_suite:#06x}")
        return CipherSuite(hello.cipher_suite)

    def _on_hello_retry(self, hello: ServerHello, suite: CipherSuite, raw: bytes) -> ClientState:
        if self._retried:  # RFC 8446 §4.1.4: a second HelloRetryRequest
            raise alert_error(AlertDescription.unexpected_message, "second HelloRetryRequest")
        self._retried = True
        self.cipher_suite = suite
        group_data = ext.find_extension(hello.extensions, ExtensionType.KEY_SHARE)
        cookie_data = ext.find_extension(hello.extensions, ExtensionType.COOKIE)
        if group_data is None and cookie_data is None:  # RFC 8446 §4.1.4: no change requested
            raise alert_error(_ILLEGAL, "HelloRetryRequest would not change the ClientHello")
        group = None
        if group_data is not None:
            group = ext.parse_key_share(group_data, HandshakeType.SERVER_HELLO, hello_retry=True)
            if group not in self.config.groups or group in self._hello.key_shares:
                raise alert_error(_ILLEGAL, f"HelloRetryRequest selected group {group:#x}")
        cookie = (
            ext.parse_cookie(cookie_data, HandshakeType.SERVER_HELLO)
            if cookie_data is not None
            else None
        )
        # RFC 8446 §4.4.1: the transcript restarts from message_hash(ClientHello1)
        self.transcript.select_hash(suite.hash_algorithm)
        self.transcript.apply_hello_retry()
        self.transcript.add(raw)
        second = self._hello.second(suite, group, cookie, self.transcript, self.now_s())
        self.send_message(EncryptionLevel.INITIAL, second)
        return ClientState.WAIT_SH

    def _accepted_psk(self, hello: ServerHello, suite: CipherSuite) -> bytes | None:
        data = ext.find_extension(hello.extensions, ExtensionType.PRE_SHARED_KEY)
        if data is None:
            return None
        ticket = self._hello.ticket
        assert ticket is not None  # the extension was offered, else unsupported_extension above
        if ext.parse_pre_shared_key(data, HandshakeType.SERVER_HELLO) != 0:  # RFC 8446 §4.2.11
            raise alert_error(_ILLEGAL, "selected_identity is not an offered PSK")
        if CipherSuite(ticket.cipher_suite).hash_algorithm.name != suite.hash_algorithm.name:
            raise alert_error(_ILLEGAL, "the PSK's hash does not match the cipher suite")
        self.session_resumed = True
        return ticket.psk

    # --- EncryptedExtensions (RFC 8446 §4.3.1, RFC 9001 §8) ------------------------------------

    def _on_encrypted_extensions(self, message: EncryptedExtensions, raw: bytes) -> ClientState:
        sent = self._hello.sent_extension_types
        for ext_type, _ in message.extensions:
            if ext_type not in sent:  # RFC 8446 §4.2: responses only to what was offered
                raise alert_error(
                    AlertDescription.unsupported_extension, f"unsolicited extension {ext_type}"
                )
        alpn_data = ext.find_extension(
            message.extensions, ExtensionType.APPLICATION_LAYER_PROTOCOL_NEGOTIATION
        )
        if alpn_data is None:  # RFC 9001 §8.1
            raise alert_error(AlertDescription.no_application_protocol, "the server chose no ALPN")
        alpn = ext.parse_alpn(alpn_data, HandshakeType.ENCRYPTED_EXTENSIONS)
        if alpn not in self.config.alpn_protocols:  # RFC 7301 §3.2
            raise alert_error(_ILLEGAL, f"the server chose an unoffered ALPN {alpn!r}")
        tp_data = ext.find_extension(message.extensions, ExtensionType.QUIC_TRANSPORT_PARAMETERS)
        if tp_data is None:  # RFC 9001 §8.2
            raise alert_error(AlertDescription.missing_extension, "no quic_transport_parameters")
        self.alpn = alpn
        self.peer_transport_parameters = ext.parse_quic_transport_parameters(
            tp_data, HandshakeType.ENCRYPTED_EXTENSIONS
        )
        early = ext.find_extension(message.extensions, ExtensionType.EARLY_DATA)
        if early is not None:
            ext.parse_early_data(early, HandshakeType.ENCRYPTED_EXTENSIONS)
            if not self.session_resumed:  # RFC 8446 §4.2.10: only with the first PSK
                raise alert_error(_ILLEGAL, "early_data accepted without resumption")
        self.early_data_accepted = early is not None
        self.transcript.add(raw)
        return ClientState.WAIT_FINISHED if self.session_resumed else ClientState.WAIT_CERT_CR

    # --- server authentication (RFC 8446 §4.3.2, §4.4.2, §4.4.3) -------------------------------

    def _on_certificate_request(self, message: CertificateRequest, raw: bytes) -> ClientState:
        if message.certificate_request_context:  # RFC 8446 §4.3.2: empty during the handshake
            raise alert_error(_ILLEGAL, "non-empty certificate_request_context")
        if ext.find_extension(message.extensions, ExtensionType.SIGNATURE_ALGORITHMS) is None:
            raise alert_error(AlertDescription.missing_extension, "no signature_algorithms")
        self._certificate_request = message
        self.transcript.add(raw)
        return ClientState.WAIT_CERT

    def _on_certificate(self, message: Certificate, raw: bytes) -> ClientState:
        if message.certificate_request_context:  # RFC 8446 §4.4.2: empty for the server
            raise alert_error(_ILLEGAL, "non-empty certificate_request_context")
        chain_der = [entry.cert_data for entry in message.certificate_list]
        name = self.config.server_name or ""
        leaf = self._verifier.verify_server(chain_der, name, self.now_datetime())
        self._server_key = leaf.public_key()
        self.peer_certificate_chain = parse_certificate_chain(chain_der)
        self.emit(PeerCertificateReceived(self.peer_certificate_chain))
        self.transcript.add(raw)
        return ClientState.WAIT_CV

    def _on_certificate_verify(self, message: CertificateVerify, raw: bytes) -> ClientState:
        assert self._server_key is not None
        content = certificate_verify_content(self.transcript.digest(), server=True)
        verify(
            message.algorithm,
            self._server_key,
            content,
            message.signature,
            offered=self.config.signature_schemes,
        )
        self.transcript.add(raw)
        return ClientState.WAIT_FINISHED

    # --- Finished and the client's second flight (RFC 8446 §4.4.4, §4.4.2.4) -------------------

    def _on_finished(self, message: Finished, raw: bytes) -> ClientState:
        schedule = self.require_schedule()
        schedule.verify_finished(
            self._server_handshake_secret, self.transcript.digest(), message.verify_data
        )
        self.transcript.add(raw)
        schedule.enter_main()
        digest = self.transcript.digest()  # through the server Finished
        client_app = schedule.client_application_traffic_secret(digest)
        server_app = schedule.server_application_traffic_secret(digest)
        self.exporter_secret = schedule.exporter_master_secret(digest)
        self.log_secret(KeyLogLabel.EXPORTER_SECRET, self.exporter_secret)
        self.install_secret(
            EncryptionLevel.APPLICATION,
            Direction.READ,
            server_app,
            KeyLogLabel.SERVER_TRAFFIC_SECRET_0,
        )
        if self._certificate_request is not None:
            self._send_client_certificate(self._certificate_request)
        verify_data = schedule.finished_verify_data(
            self._client_handshake_secret, self.transcript.digest()
        )
        self.send_message(EncryptionLevel.HANDSHAKE, Finished(verify_data).encode())
        self._resumption_secret = schedule.resumption_master_secret(self.transcript.digest())
        self.install_secret(
            EncryptionLevel.APPLICATION,
            Direction.WRITE,
            client_app,
            KeyLogLabel.CLIENT_TRAFFIC_SECRET_0,
        )
        self.handshake_complete = True
        assert self.alpn is not None
        self.emit(HandshakeCompleted(self.alpn, self.session_resumed, self.early_data_accepted))
        return ClientState.CONNECTED

    def _send_client_certificate(self, request: CertificateRequest) -> None:
        credential = self.config.credential
        entries = (
            tuple(CertificateEntry(der) for der in credential.chain_der)
            if credential is not None
            else ()
        )
        # RFC 8446 §4.4.2: an empty list when the client has no suitable certificate
        self.send_message(EncryptionLevel.HANDSHAKE, Certificate(b"", entries).encode())
        if credential is None:
            return
        algorithms = ext.find_extension(request.extensions, ExtensionType.SIGNATURE_ALGORITHMS)
        assert algorithms is not None
        offered = ext.parse_signature_algorithms(algorithms, HandshakeType.CERTIFICATE_REQUEST)
        scheme = choose_scheme(credential.private_key, offered)
        content = certificate_verify_content(self.transcript.digest(), server=False)
        signature = sign(scheme, credential.private_key, content)
        self.send_message(EncryptionLevel.HANDSHAKE, CertificateVerify(scheme, signature).encode())

    # --- NewSessionTicket (RFC 8446 §4.6.1, RFC 9001 §4.6.1) -----------------------------------

    def _on_new_session_ticket(self, message: NewSessionTicket, raw: bytes) -> ClientState:
        if message.ticket_lifetime > MAX_TICKET_LIFETIME_S:  # RFC 8446 §4.6.1
            raise alert_error(_ILLEGAL, "ticket_lifetime exceeds 7 days")
        max_early = 0
        early = ext.find_extension(message.extensions, ExtensionType.EARLY_DATA)
        if early is not None:
            max_early = ext.parse_early_data(early, HandshakeType.NEW_SESSION_TICKET)
            if max_early != QUIC_MAX_EARLY_DATA_SIZE:  # RFC 9001 §4.6.1
                raise QuicError(
                    TransportErrorCode.PROTOCOL_VIOLATION,
                    f"max_early_data_size {max_early:#x} is not 0xffffffff",
                )
        if message.ticket_lifetime == 0:  # RFC 8446 §4.6.1: discard at once
            return ClientState.CONNECTED
        suite = self.cipher_suite
        assert suite is not None and self.alpn is not None
        psk = self.require_schedule().resumption_psk(self._resumption_secret, message.ticket_nonce)
        ticket = SessionTicket(
            ticket=message.ticket,
            psk=psk,
            cipher_suite=int(suite),
            server_name=self.config.server_name or "",
            alpn=self.alpn,
            issued_at_s=self.now_s(),
            lifetime_s=message.ticket_lifetime,
            age_add=message.ticket_age_add,
            max_early_data_size=max_early,
            transport_parameters=self.peer_transport_parameters or b"",
        )
        self.emit(SessionTicketReceived(ticket))
        return ClientState.CONNECTED

    # --- the table -------------------------------------------------------------------------------

    def transition(self, msg_type: int) -> tuple[EncryptionLevel, Handler[ClientState]] | None:
        row = _TABLE.get((self.state, msg_type))
        if row is None:
            return None
        level, method = row
        return level, method.__get__(self)


_I, _H, _A = EncryptionLevel.INITIAL, EncryptionLevel.HANDSHAKE, EncryptionLevel.APPLICATION
_S = ClientState
_T = HandshakeType
_TABLE: dict[tuple[ClientState, int], tuple[EncryptionLevel, Any]] = {
    (_S.WAIT_SH, _T.SERVER_HELLO): (_I, ClientSession._on_server_hello),
    (_S.WAIT_EE, _T.ENCRYPTED_EXTENSIONS): (_H, ClientSession._on_encrypted_extensions),
    (_S.WAIT_CERT_CR, _T.CERTIFICATE_REQUEST): (_H, ClientSession._on_certificate_request),
    (_S.WAIT_CERT_CR, _T.CERTIFICATE): (_H, ClientSession._on_certificate),
    (_S.WAIT_CERT, _T.CERTIFICATE): (_H, ClientSession._on_certificate),
    (_S.WAIT_CV, _T.CERTIFICATE_VERIFY): (_H, ClientSession._on_certificate_verify),
    (_S.WAIT_FINISHED, _T.FINISHED): (_H, ClientSession._on_finished),
    (_S.CONNECTED, _T.NEW_SESSION_TICKET): (_A, ClientSession._on_new_session_ticket),
}


def _system_verifier() -> PeerVerifier:
    return CertificateVerifier.from_system_store()
