"""The vocabulary of the TLS 1.3 engine: codepoints, encryption levels and the alert error.

Design: one module of enums shared by the message codecs, the key schedule and the state machines,
so no codepoint is written twice.  A TLS failure is the protocol's one error type,
:class:`~pyquic.core.errors.QuicError`, carrying CRYPTO_ERROR 0x0100 + alert (RFC 9001 §4.8);
:func:`alert_error` builds it.

Sources: RFC 8446 §4 and Appendix B.3 (handshake types, extensions), §4.2.3 (signature schemes),
§4.2.7 (groups), §6 (alerts); draft-ietf-tls-ecdhe-mlkem (X25519MLKEM768); RFC 9001 §8.2
(quic_transport_parameters).
"""

from __future__ import annotations

from enum import IntEnum

from pyquic.core.errors import QuicError
from pyquic.core.levels import EncryptionLevel

__all__ = [
    "LEGACY_VERSION",
    "TLS13_VERSION",
    "AlertDescription",
    "EncryptionLevel",
    "ExtensionType",
    "HandshakeType",
    "NamedGroup",
    "PskKeyExchangeMode",
    "SignatureScheme",
    "alert_error",
]

TLS13_VERSION = 0x0304  # RFC 8446 §4.2.1
LEGACY_VERSION = 0x0303  # RFC 8446 §4.1.2: legacy_version in hellos


class HandshakeType(IntEnum):
    """RFC 8446 Appendix B.3."""

    CLIENT_HELLO = 1
    SERVER_HELLO = 2
    NEW_SESSION_TICKET = 4
    END_OF_EARLY_DATA = 5
    ENCRYPTED_EXTENSIONS = 8
    CERTIFICATE = 11
    CERTIFICATE_REQUEST = 13
    CERTIFICATE_VERIFY = 15
    FINISHED = 20
    KEY_UPDATE = 24
    MESSAGE_HASH = 254


class ExtensionType(IntEnum):
    """RFC 8446 §4.2 and RFC 9001 §8.2."""

    SERVER_NAME = 0
    SUPPORTED_GROUPS = 10
    SIGNATURE_ALGORITHMS = 13
    APPLICATION_LAYER_PROTOCOL_NEGOTIATION = 16
    PRE_SHARED_KEY = 41
    EARLY_DATA = 42
    SUPPORTED_VERSIONS = 43
    COOKIE = 44
    PSK_KEY_EXCHANGE_MODES = 45
    CERTIFICATE_AUTHORITIES = 47
    SIGNATURE_ALGORITHMS_CERT = 50
    KEY_SHARE = 51
    QUIC_TRANSPORT_PARAMETERS = 0x39


class NamedGroup(IntEnum):
    """Key exchange groups (RFC 8446 §4.2.7, draft-ietf-tls-ecdhe-mlkem)."""

    SECP256R1 = 0x0017
    SECP384R1 = 0x0018
    X25519 = 0x001D
    X25519MLKEM768 = 0x11EC


class SignatureScheme(IntEnum):
    """Signature schemes offered and accepted (RFC 8446 §4.2.3)."""

    ECDSA_SECP256R1_SHA256 = 0x0403
    ECDSA_SECP384R1_SHA384 = 0x0503
    RSA_PSS_RSAE_SHA256 = 0x0804
    RSA_PSS_RSAE_SHA384 = 0x0805
    RSA_PSS_RSAE_SHA512 = 0x0806
    ED25519 = 0x0807


class PskKeyExchangeMode(IntEnum):
    """RFC 8446 §4.2.9."""

    PSK_KE = 0
    PSK_DHE_KE = 1


class AlertDescription(IntEnum):
    """TLS alerts (RFC 8446 §6 and Appendix B.2)."""

    close_notify = 0
    unexpected_message = 10
    bad_record_mac = 20
    record_overflow = 22
    handshake_failure = 40
    bad_certificate = 42
    unsupported_certificate = 43
    certificate_revoked = 44
    certificate_expired = 45
    certificate_unknown = 46
    illegal_parameter = 47
    unknown_ca = 48
    access_denied = 49
    decode_error = 50
    decrypt_error = 51
    protocol_version = 70
    insufficient_security = 71
    internal_error = 80
    inappropriate_fallback = 86
    user_canceled = 90
    missing_extension = 109
    unsupported_extension = 110
    unrecognized_name = 112
    bad_certificate_status_response = 113
    unknown_psk_identity = 115
    certificate_required = 116
    general_error = 117
    no_application_protocol = 120


def alert_error(alert: AlertDescription, reason: str) -> QuicError:
    """The QUIC error for a TLS alert: CRYPTO_ERROR 0x0100 + alert (RFC 9001 §4.8)."""
    return QuicError.from_tls_alert(int(alert), f"{alert.name}: {reason}")
