"""The platform's packet-key factory: what a connection is handed as ``crypto``.

:class:`CryptoProvider` implements :class:`pyquic.core.tls_interface.PacketProtectionFactory` on
this package's ``cryptography``-based pieces: Initial keys (RFC 9001 §5.2), keys from a TLS
traffic secret (RFC 9001 §5.1), key update (RFC 9001 §6.1) and the Retry integrity tag
(RFC 9001 §5.8, RFC 9369 §3.3.3).

Design: a stateless facade over :class:`~pyquic.platform.crypto.keys.QuicPacketKeys` and
:mod:`~pyquic.platform.crypto.retry`; it adds only the translation the core's interface needs
(the TLS codepoint ``int`` to :class:`CipherSuite`).  One instance can serve every connection.
"""

from __future__ import annotations

from pyquic.core.crypto_interface import BytesLike, PacketKeys
from pyquic.core.version import VersionInfo
from pyquic.platform.crypto import retry
from pyquic.platform.crypto.keys import QuicPacketKeys
from pyquic.platform.crypto.suites import CipherSuite

__all__ = ["CryptoProvider"]


class CryptoProvider:
    """Packet keys and Retry integrity on ``cryptography`` (stateless, thread-safe)."""

    __slots__ = ()

    def initial_keys(
        self, version: VersionInfo, destination_cid: bytes, is_client: bool
    ) -> tuple[QuicPacketKeys, QuicPacketKeys]:
        """(send, receive) Initial keys for an endpoint (RFC 9001 §5.2).

        ``destination_cid`` is the Destination Connection ID of the client's first Initial (or
        the one a Retry chose).
        """
        return QuicPacketKeys.initial(version, destination_cid, is_client)

    def keys_from_secret(
        self, cipher_suite: int, secret: bytes, version: VersionInfo
    ) -> QuicPacketKeys:
        """Packet keys for a TLS traffic secret (RFC 9001 §5.1).

        Raises ValueError for a codepoint QUIC cannot use or a secret of the wrong length.
        """
        try:
            suite = CipherSuite(cipher_suite)
        except ValueError:
            raise ValueError(f"unsupported cipher suite {cipher_suite:#06x}") from None
        return QuicPacketKeys.from_secret(suite, secret, version)

    def next_generation(self, keys: PacketKeys) -> QuicPacketKeys:
        """The keys after a key update, with the same header protection (RFC 9001 §6.1).

        ``keys`` must have come from this provider (it holds the secret the update derives from).
        """
        if not isinstance(keys, QuicPacketKeys):
            raise TypeError(f"keys not made by CryptoProvider: {type(keys).__name__}")
        return keys.next_generation()

    def retry_integrity_tag(
        self, version: VersionInfo, original_dcid: bytes, retry_without_tag: BytesLike
    ) -> bytes:
        """The 16-byte tag to append to a Retry packet (RFC 9001 §5.8)."""
        return retry.retry_integrity_tag(version, original_dcid, retry_without_tag)

    def verify_retry_integrity(
        self, version: VersionInfo, original_dcid: bytes, retry_packet: BytesLike
    ) -> bool:
        """Whether a received Retry (tag included) is authentic; never raises (RFC 9001 §5.8)."""
        return retry.verify_retry_integrity(version, original_dcid, retry_packet)
