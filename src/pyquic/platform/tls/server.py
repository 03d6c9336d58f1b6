"""The TLS 1.3 server state machine for QUIC.

States and the messages each accepts (RFC 8446 §2, Appendix A.2):

    START --ClientHello--> (HelloRetryRequest) WAIT_CH2 --ClientHello--> ...
    ... sends ServerHello, EncryptedExtensions, [CertificateRequest, Certificate,
    CertificateVerify], Finished --> WAIT_CLIENT_CERT | WAIT_CLIENT_FINISHED
    WAIT_CLIENT_CERT --Certificate--> WAIT_CLIENT_CV (or WAIT_CLIENT_FINISHED if empty and
    allowed) --CertificateVerify--> WAIT_CLIENT_FINISHED --Finished--> CONNECTED,
    then NewSessionTickets at the 1-RTT level.

Design: the ClientHello is decoded into an :class:`~pyquic.platform.tls.server_offer.Offer`
and the choices are made there; resumption and 0-RTT decisions live in
:mod:`pyquic.platform.tls.server_resumption`.  A HelloRetryRequest carries the selected group
and a cookie that the second ClientHello must echo (RFC 8446 §4.1.4, §4.2.2).
"""

from __future__ import annotations

from enum import Enum, auto
from typing import Any

from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from pyquic.platform.crypto.suites import CipherSuite
from pyquic.platform.tls import extensions as ext
from pyquic.platform.tls.config import TlsConfig
from pyquic.platform.tls.constants import (
    TLS13_VERSION,
    AlertDescription,
    EncryptionLevel,
    ExtensionType,
    HandshakeType,
    NamedGroup,
    alert_error,
)
from pyquic.platform.tls.events import Direction, HandshakeCompleted, PeerCertificateReceived
from pyquic.platform.tls.key_exchange import respond
from pyquic.platform.tls.key_schedule import KeySchedule
from pyquic.platform.tls.keylog import KeyLogLabel
from pyquic.platform.tls.messages import (
    Certificate,
    CertificateEntry,
    CertificateRequest,
    CertificateVerify,
    ClientHello,
    EncryptedExtensions,
    Finished,
    ServerHello,
)
from pyquic.platform.tls.server_offer import (
    Offer,
    choose_alpn,
    choose_cipher_suite,
    choose_group,
    parse_offer,
)
from pyquic.platform.tls.server_resumption import Resumption, ResumptionPolicy
from pyquic.platform.tls.session import Handler, TlsSession, parse_certificate_chain
from pyquic.platform.tls.signatures import (
    certificate_verify_content,
    choose_scheme,
    sign,
    verify,
)

_ILLEGAL = AlertDescription.illegal_parameter
_E = ExtensionType
_COOKIE_LENGTH = 32


class ServerState(Enum):
    START = auto()
    WAIT_CH2 = auto()
    WAIT_CLIENT_CERT = auto()
    WAIT_CLIENT_CV = auto()
    WAIT_CLIENT_FINISHED = auto()
    CONNECTED = auto()


class ServerSession(TlsSession[ServerState]):
    """A TLS server: feed the client's CRYPTO data to ``receive``.

    ``early_data_context`` identifies what 0-RTT data depends on beyond the suite and ALPN: the
    connection passes the encoding of the transport parameters that 0-RTT must remember (RFC 9001
    §4.6.3; not the per-connection ones such as connection IDs).  A ticket issued under another
    context resumes, but without 0-RTT.
    """

    def __init__(
        self, config: TlsConfig, transport_parameters: bytes, *, early_data_context: bytes = b""
    ) -> None:
        if config.is_client:
            raise ValueError("ServerSession needs a server configuration")
        super().__init__(config, transport_parameters, ServerState.START)
        self._resumption_policy = ResumptionPolicy(config, early_data_context)
        self._resumption: Resumption | None = None
        self._hrr: tuple[CipherSuite, int, bytes] | None = None  # suite, group, cookie
        self._client_key: CertificatePublicKeyTypes | None = None
        self._client_handshake_secret = b""
        self._server_handshake_secret = b""
        self._client_app_secret = b""
        self._offer: Offer | None = None
        self.server_name: str | None = None

    def start(self) -> None:
        """Nothing to send first: a server waits for the ClientHello (RFC 8446 §2)."""

    # --- ClientHello (RFC 8446 §4.1.2) --------------------------------------------------------

    def _on_client_hello(self, hello: ClientHello, raw: bytes) -> ServerState:
        offer = parse_offer(hello)
        suite = self._resumption_policy.ticket_suite(offer) or choose_cipher_suite(
            self.config, offer
        )
        alpn = choose_alpn(self.config, offer)
        group, share = choose_group(self.config, offer)
        if self._hrr is not None:
            self._check_second_hello(offer, suite, group, share)
        elif share is None:
            return self._send_hello_retry(suite, group, raw)
        assert share is not None
        self.client_random = hello.random
        self.cipher_suite, self.alpn, self._offer = suite, alpn, offer
        self.server_name = offer.server_name
        self.peer_transport_parameters = offer.transport_parameters
        if self._hrr is None:
            self.transcript.select_hash(suite.hash_algorithm)
        self._resumption = self._resumption_policy.evaluate(
            offer, suite, alpn, self.transcript, retried=self._hrr is not None
        )
        self.transcript.add(raw)
        if self._resumption is None and offer.signature_schemes is None:
            # RFC 8446 §9.2: certificate authentication needs signature_algorithms
            raise alert_error(AlertDescription.missing_extension, "no signature_algorithms")
        self._start_schedule(suite)
        self._send_server_hello(suite, group, share)
        return self._send_server_flight(suite)

    def _send_hello_retry(self, suite: CipherSuite, group: int, raw: bytes) -> ServerState:
        cookie = self.config.random_bytes(_COOKIE_LENGTH)
        self._hrr = (suite, group, cookie)
        hrr = ServerHello.hello_retry_request(
            int(suite),
            (
                (_E.SUPPORTED_VERSIONS, ext.encode_supported_versions(TLS13_VERSION)),
                (_E.KEY_SHARE, ext.encode_key_share(group)),
                (_E.COOKIE, ext.encode_cookie(cookie)),
            ),
        )
        # RFC 8446 §4.4.1: ClientHello1 is replaced by message_hash in the transcript
        self.transcript.select_hash(suite.hash_algorithm)
        self.transcript.add(raw)
        self.transcript.apply_hello_retry()
        self.send_message(EncryptionLevel.INITIAL, hrr.encode())
        return ServerState.WAIT_CH2

    def _check_second_hello(
        self, offer: Offer, suite: CipherSuite, group: int, share: ext.KeyShareEntry | None
    ) -> None:
        """RFC 8446 §4.1.2, §4.1.4: the second ClientHello must answer the retry."""
        assert self._hrr is not None
        hrr_suite, hrr_group, cookie = self._hrr
        if share is None or group != hrr_group or len(offer.key_shares) != 1:
            raise alert_error(_ILLEGAL, "second ClientHello lacks a share of the selected group")
        if suite != hrr_suite:
            raise alert_error(_ILLEGAL, "second ClientHello changed the cipher suite")
        if offer.cookie != cookie:  # RFC 8446 §4.2.2
            raise alert_error(_ILLEGAL, "second ClientHello did not echo the cookie")
        if offer.early_data:  # RFC 8446 §4.2.10
            raise alert_error(_ILLEGAL, "early_data in the second ClientHello")

    def _start_schedule(self, suite: CipherSuite) -> None:
        resumption = self._resumption
        self.session_resumed = resumption is not None
        self.schedule = KeySchedule(suite, resumption.psk if resumption else None)
        if resumption is not None and resumption.early_data_accepted:
            self.early_data_accepted = True
            # RFC 8446 §7.1: client_early_traffic_secret over the ClientHello
            secret = self.schedule.client_early_traffic_secret(self.transcript.digest())
            self.install_secret(
                EncryptionLevel.EARLY_DATA,
                Direction.READ,
                secret,
                KeyLogLabel.CLIENT_EARLY_TRAFFIC_SECRET,
            )

    def _send_server_hello(self, suite: CipherSuite, group: int, share: ext.KeyShareEntry) -> None:
        ext.check_key_share_length(group, share.key_exchange, from_client=True)
        server_share, shared_secret = respond(
            NamedGroup(group), share.key_exchange, self.config.random_bytes
        )
        extensions: list[ext.Extension] = [
            (_E.SUPPORTED_VERSIONS, ext.encode_supported_versions(TLS13_VERSION)),
            (_E.KEY_SHARE, ext.encode_key_share(ext.KeyShareEntry(group, server_share))),
        ]
        if self._resumption is not None:
            extensions.append((_E.PRE_SHARED_KEY, ext.encode_pre_shared_key(0)))
        hello = ServerHello(
            random=self.config.random_bytes(32),
            cipher_suite=int(suite),
            extensions=tuple((int(t), d) for t, d in extensions),
            legacy_session_id_echo=b"",
        )
        self.send_message(EncryptionLevel.INITIAL, hello.encode())
        schedule = self.require_schedule()
        schedule.enter_handshake(shared_secret)
        digest = self.transcript.digest()
        self._client_handshake_secret = schedule.client_handshake_traffic_secret(digest)
        self._server_handshake_secret = schedule.server_handshake_traffic_secret(digest)
        self.install_secret(
            EncryptionLevel.HANDSHAKE,
            Direction.WRITE,
            self._server_handshake_secret,
            KeyLogLabel.SERVER_HANDSHAKE_TRAFFIC_SECRET,
        )
        self.install_secret(
            EncryptionLevel.HANDSHAKE,
            Direction.READ,
            self._client_handshake_secret,
            KeyLogLabel.CLIENT_HANDSHAKE_TRAFFIC_SECRET,
        )

    # --- the server's flight (RFC 8446 §4.3, §4.4) ---------------------------------------------

    def _send_server_flight(self, suite: CipherSuite) -> ServerState:
        hs = EncryptionLevel.HANDSHAKE
        self.send_message(hs, self._encrypted_extensions().encode())
        request_cert = self._resumption is None and self.config.require_client_certificate
        if request_cert:
            schemes = ext.encode_signature_algorithms(self.config.signature_schemes)
            request = CertificateRequest(b"", ((int(_E.SIGNATURE_ALGORITHMS), schemes),))
            self.send_message(hs, request.encode())
        if self._resumption is None:
            self._send_certificate()
        schedule = self.require_schedule()
        verify_data = schedule.finished_verify_data(
            self._server_handshake_secret, self.transcript.digest()
        )
        self.send_message(hs, Finished(verify_data).encode())
        schedule.enter_main()
        digest = self.transcript.digest()  # through the server Finished
        self._client_app_secret = schedule.client_application_traffic_secret(digest)
        server_app = schedule.server_application_traffic_secret(digest)
        self.exporter_secret = schedule.exporter_master_secret(digest)
        self.log_secret(KeyLogLabel.EXPORTER_SECRET, self.exporter_secret)
        # RFC 9001 §4.1.4: the server may send 0.5-RTT data now; it reads 1-RTT after Finished
        self.install_secret(
            EncryptionLevel.APPLICATION,
            Direction.WRITE,
            server_app,
            KeyLogLabel.SERVER_TRAFFIC_SECRET_0,
        )
        return ServerState.WAIT_CLIENT_CERT if request_cert else ServerState.WAIT_CLIENT_FINISHED

    def _encrypted_extensions(self) -> EncryptedExtensions:
        assert self.alpn is not None
        items: list[ext.Extension] = [
            (_E.APPLICATION_LAYER_PROTOCOL_NEGOTIATION, ext.encode_alpn([self.alpn])),
            (
                _E.QUIC_TRANSPORT_PARAMETERS,
                ext.encode_quic_transport_parameters(self.local_transport_parameters),
            ),
        ]
        if self.early_data_accepted:  # RFC 8446 §4.2.10
            items.append((_E.EARLY_DATA, ext.encode_early_data()))
        return EncryptedExtensions(tuple((int(t), d) for t, d in items))

    def _send_certificate(self) -> None:
        credential = self.config.credential
        offer = self._offer
        assert credential is not None and offer is not None and offer.signature_schemes
        entries = tuple(CertificateEntry(der) for der in credential.chain_der)
        self.send_message(EncryptionLevel.HANDSHAKE, Certificate(b"", entries).encode())
        scheme = choose_scheme(credential.private_key, offer.signature_schemes)
        content = certificate_verify_content(self.transcript.digest(), server=True)
        signature = sign(scheme, credential.private_key, content)
        self.send_message(EncryptionLevel.HANDSHAKE, CertificateVerify(scheme, signature).encode())

    # --- client authentication and Finished (RFC 8446 §4.4.2-§4.4.4) ---------------------------

    def _on_client_certificate(self, message: Certificate, raw: bytes) -> ServerState:
        if message.certificate_request_context:  # RFC 8446 §4.4.2: echo of our empty context
            raise alert_error(_ILLEGAL, "certificate_request_context does not match")
        verifier = self.config.verifier
        assert verifier is not None
        chain_der = [entry.cert_data for entry in message.certificate_list]
        # an empty chain raises certificate_required (RFC 8446 §4.4.2.4)
        leaf = verifier.verify_client(chain_der, self.now_datetime())
        self._client_key = leaf.public_key()
        self.peer_certificate_chain = parse_certificate_chain(chain_der)
        self.emit(PeerCertificateReceived(self.peer_certificate_chain))
        self.transcript.add(raw)
        return ServerState.WAIT_CLIENT_CV

    def _on_client_certificate_verify(self, message: CertificateVerify, raw: bytes) -> ServerState:
        assert self._client_key is not None
        content = certificate_verify_content(self.transcript.digest(), server=False)
        verify(
            message.algorithm,
            self._client_key,
            content,
            message.signature,
            offered=self.config.signature_schemes,
        )
        self.transcript.add(raw)
        return ServerState.WAIT_CLIENT_FINISHED

    def _on_client_finished(self, message: Finished, raw: bytes) -> ServerState:
        schedule = self.require_schedule()
        schedule.verify_finished(
            self._client_handshake_secret, self.transcript.digest(), message.verify_data
        )
        self.transcript.add(raw)
        self.install_secret(
            EncryptionLevel.APPLICATION,
            Direction.READ,
            self._client_app_secret,
            KeyLogLabel.CLIENT_TRAFFIC_SECRET_0,
        )
        self.handshake_complete = True
        assert self.alpn is not None
        self.emit(HandshakeCompleted(self.alpn, self.session_resumed, self.early_data_accepted))
        offer = self._offer
        assert offer is not None
        if offer.psk_dhe_ke:  # RFC 8446 §4.2.9: tickets only for a client that can use them
            resumption_secret = schedule.resumption_master_secret(self.transcript.digest())
            assert self.cipher_suite is not None
            for ticket in self._resumption_policy.issue(
                schedule,
                resumption_secret,
                suite=self.cipher_suite,
                alpn=self.alpn,
                server_name=self.server_name,
                client_authenticated=bool(self.peer_certificate_chain),
            ):
                # post-handshake messages are not part of the handshake transcript
                self.queue_message(EncryptionLevel.APPLICATION, ticket)
        self._offer = None  # the ClientHello's details are not needed any more (idle memory)
        return ServerState.CONNECTED

    # --- the table -------------------------------------------------------------------------------

    def transition(self, msg_type: int) -> tuple[EncryptionLevel, Handler[ServerState]] | None:
        row = _TABLE.get((self.state, msg_type))
        if row is None:
            return None
        level, method = row
        return level, method.__get__(self)


_I, _H = EncryptionLevel.INITIAL, EncryptionLevel.HANDSHAKE
_S = ServerState
_T = HandshakeType
_TABLE: dict[tuple[ServerState, int], tuple[EncryptionLevel, Any]] = {
    (_S.START, _T.CLIENT_HELLO): (_I, ServerSession._on_client_hello),
    (_S.WAIT_CH2, _T.CLIENT_HELLO): (_I, ServerSession._on_client_hello),
    (_S.WAIT_CLIENT_CERT, _T.CERTIFICATE): (_H, ServerSession._on_client_certificate),
    (_S.WAIT_CLIENT_CV, _T.CERTIFICATE_VERIFY): (_H, ServerSession._on_client_certificate_verify),
    (_S.WAIT_CLIENT_FINISHED, _T.FINISHED): (_H, ServerSession._on_client_finished),
}
