"""TLS 1.3 for QUIC: a sans-I/O handshake engine on ``cryptography``'s primitives.

MsQuic's TLS layer takes handshake bytes in per encryption level and hands back bytes to send,
new keys and flags; :class:`ClientSession` and :class:`ServerSession` do the same (RFC 8446,
RFC 9001 §4).  Python's ``ssl`` module cannot serve QUIC, which is why this engine exists.

Typical use::

    session = ClientSession(config, encoded_transport_parameters)
    session.start()
    crypto_to_send = session.data_to_send(EncryptionLevel.INITIAL)
    session.receive(EncryptionLevel.INITIAL, crypto_received)
    while (event := session.poll_event()) is not None:
        ...  # TrafficSecretReady, HandshakeCompleted, PeerCertificateReceived, ...
"""

from pyquic.platform.tls.certificates import (
    CertificateVerifier,
    Credential,
    CredentialError,
    NoVerification,
    load_pem_credential,
    load_pkcs12_credential,
)
from pyquic.platform.tls.client import ClientSession, ClientState
from pyquic.platform.tls.config import TlsConfig
from pyquic.platform.tls.constants import (
    AlertDescription,
    EncryptionLevel,
    NamedGroup,
    SignatureScheme,
)
from pyquic.platform.tls.events import (
    Direction,
    HandshakeCompleted,
    PeerCertificateReceived,
    SessionTicketReceived,
    TlsEvent,
    TrafficSecretReady,
)
from pyquic.platform.tls.keylog import KeyLogFile, key_log_file_from_environment
from pyquic.platform.tls.server import ServerSession, ServerState
from pyquic.platform.tls.tickets import (
    AntiReplay,
    ClientTicketStore,
    SessionTicket,
    SingleUseTicketRegistry,
    StrikeRegister,
    TicketSealer,
)

__all__ = [
    "AlertDescription",
    "AntiReplay",
    "CertificateVerifier",
    "ClientSession",
    "ClientState",
    "ClientTicketStore",
    "Credential",
    "CredentialError",
    "Direction",
    "EncryptionLevel",
    "HandshakeCompleted",
    "KeyLogFile",
    "NamedGroup",
    "NoVerification",
    "PeerCertificateReceived",
    "ServerSession",
    "ServerState",
    "SessionTicket",
    "SessionTicketReceived",
    "SignatureScheme",
    "SingleUseTicketRegistry",
    "StrikeRegister",
    "TicketSealer",
    "TlsConfig",
    "TlsEvent",
    "TrafficSecretReady",
    "key_log_file_from_environment",
    "load_pem_credential",
    "load_pkcs12_credential",
]
