"""QUIC packet protection on the ``cryptography`` package (RFC 9001 §5, RFC 9369 §3.3).

The only code that touches cryptographic primitives.  It provides the objects the core consumes
through :mod:`pyquic.core.crypto_interface`: :class:`QuicPacketKeys` (one direction at one
encryption level) holding a :class:`QuicAead` and a header protection object, plus the key
schedule pieces QUIC adds to TLS 1.3 (Initial secrets, key update, Retry integrity) and the
TLS 1.3 HKDF functions the handshake reuses.  Every primitive comes from ``cryptography``; nothing
here implements one.
"""

from pyquic.platform.crypto.aead import QuicAead
from pyquic.platform.crypto.header_protection import (
    AesHeaderProtection,
    ChaCha20HeaderProtection,
    header_protection_for,
)
from pyquic.platform.crypto.hkdf import (
    hkdf_expand,
    hkdf_expand_label,
    hkdf_extract,
    hkdf_label,
)
from pyquic.platform.crypto.keys import (
    PacketKeyMaterial,
    QuicPacketKeys,
    derive_key_material,
    initial_secrets,
    next_generation_secret,
)
from pyquic.platform.crypto.provider import CryptoProvider
from pyquic.platform.crypto.retry import (
    RETRY_INTEGRITY_TAG_LENGTH,
    retry_integrity_tag,
    retry_pseudo_packet,
    verify_retry_integrity,
)
from pyquic.platform.crypto.suites import INITIAL_SUITE, CipherSuite, SuiteParameters

__all__ = [
    "INITIAL_SUITE",
    "RETRY_INTEGRITY_TAG_LENGTH",
    "AesHeaderProtection",
    "ChaCha20HeaderProtection",
    "CipherSuite",
    "CryptoProvider",
    "PacketKeyMaterial",
    "QuicAead",
    "QuicPacketKeys",
    "SuiteParameters",
    "derive_key_material",
    "header_protection_for",
    "hkdf_expand",
    "hkdf_expand_label",
    "hkdf_extract",
    "hkdf_label",
    "initial_secrets",
    "next_generation_secret",
    "retry_integrity_tag",
    "retry_pseudo_packet",
    "verify_retry_integrity",
]
