"""The Retry Integrity Tag (RFC 9001 §5.8, RFC 9369 §3.3.3).

Design: the tag is AEAD_AES_128_GCM over an empty plaintext with the Retry pseudo-packet as the
associated data, under the version's fixed key and nonce (taken from
:class:`pyquic.core.version.VersionInfo`).  One AESGCM object is cached per fixed key.  Verification
recomputes the tag and compares in constant time.

Retry pseudo-packet (RFC 9001 §5.8): ODCID Length (8) || Original Destination Connection ID || the
Retry packet without its 16-byte tag.
"""

from __future__ import annotations

import hmac

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pyquic.core.version import VersionInfo

BytesLike = bytes | bytearray | memoryview

RETRY_INTEGRITY_TAG_LENGTH = 16  # RFC 9000 §17.2.5

_AEADS: dict[bytes, AESGCM] = {}


def _aead_for(version: VersionInfo) -> AESGCM:
    aead = _AEADS.get(version.retry_key)
    if aead is None:
        aead = _AEADS[version.retry_key] = AESGCM(version.retry_key)
    return aead


def retry_pseudo_packet(original_dcid: BytesLike, retry_without_tag: BytesLike) -> bytes:
    """ODCID Length || ODCID || Retry packet without the tag (RFC 9001 §5.8, Figure 8)."""
    if len(original_dcid) > 255:
        raise ValueError(f"original DCID too long: {len(original_dcid)} bytes")
    return b"".join((bytes((len(original_dcid),)), bytes(original_dcid), bytes(retry_without_tag)))


def retry_integrity_tag(
    version: VersionInfo, original_dcid: BytesLike, retry_without_tag: BytesLike
) -> bytes:
    """The 16-byte tag to append to a Retry packet (RFC 9001 §5.8, RFC 9369 §3.3.3)."""
    pseudo = retry_pseudo_packet(original_dcid, retry_without_tag)
    return _aead_for(version).encrypt(version.retry_nonce, b"", pseudo)


def verify_retry_integrity(
    version: VersionInfo, original_dcid: BytesLike, retry_packet: BytesLike
) -> bool:
    """Whether ``retry_packet`` (with its tag) carries a valid tag for ``original_dcid``.

    Never raises on malformed input: a Retry that fails this check is discarded
    (RFC 9000 §17.2.5.2).
    """
    if len(retry_packet) < RETRY_INTEGRITY_TAG_LENGTH or len(original_dcid) > 255:
        return False
    split = len(retry_packet) - RETRY_INTEGRITY_TAG_LENGTH
    view = memoryview(retry_packet)
    expected = retry_integrity_tag(version, original_dcid, view[:split])
    return hmac.compare_digest(expected, bytes(view[split:]))
