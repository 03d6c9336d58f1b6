"""Packet protection keys from traffic secrets: Initial secrets, key/IV/hp, key update.

Design: :class:`QuicPacketKeys` satisfies :class:`pyquic.core.crypto_interface.PacketKeys` for one
direction at one encryption level.  It is built once per secret and holds the ready AEAD and header
protection objects.  Version differences are data: the label prefix ("quic " or "quicv2 ") and the
Initial salt come from :class:`pyquic.core.version.VersionInfo` (RFC 9369 §3.3.1, §3.3.2).

- key/iv/hp: HKDF-Expand-Label(secret, prefix + "key"/"iv"/"hp", "", length) (RFC 9001 §5.1).
- Initial secrets: HKDF-Extract(initial_salt, client DCID), then "client in" / "server in" with
  SHA-256 (RFC 9001 §5.2).
- Key update: secret_<n+1> = HKDF-Expand-Label(secret_<n>, prefix + "ku", "", Hash.length); the
  header protection key is not updated (RFC 9001 §6.1).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from pyquic.core.version import VersionInfo
from pyquic.platform.crypto.aead import QuicAead
from pyquic.platform.crypto.header_protection import (
    AesHeaderProtection,
    ChaCha20HeaderProtection,
    header_protection_for,
)
from pyquic.platform.crypto.hkdf import hkdf_expand_label, hkdf_extract, hkdf_label
from pyquic.platform.crypto.suites import INITIAL_SUITE, CipherSuite

BytesLike = bytes | bytearray | memoryview


@dataclass(frozen=True, slots=True)
class PacketKeyMaterial:
    """The raw AEAD key, IV and header protection key derived from one secret."""

    key: bytes
    iv: bytes
    hp: bytes


def derive_key_material(
    suite: CipherSuite, secret: BytesLike, version: VersionInfo
) -> PacketKeyMaterial:
    """key, iv and hp from a traffic secret (RFC 9001 §5.1; RFC 9369 §3.3.2 for v2 labels)."""
    alg = suite.hash_algorithm
    prefix = version.label_prefix
    secret = bytes(secret)
    return PacketKeyMaterial(
        key=_expand_label(alg, secret, prefix + b"key", suite.key_length),
        iv=_expand_label(alg, secret, prefix + b"iv", suite.iv_length),
        hp=_expand_label(alg, secret, prefix + b"hp", suite.hp_key_length),
    )


@functools.lru_cache(maxsize=64)
def _label_info(label: bytes, length: int) -> bytes:
    """The HkdfLabel of a QUIC label with an empty context (RFC 8446 §7.1, RFC 9001 §5.1); the
    few labels and lengths QUIC uses are encoded once."""
    return hkdf_label(label, b"", length)


def _expand_label(
    algorithm: hashes.HashAlgorithm, secret: bytes, label: bytes, length: int
) -> bytes:
    """HKDF-Expand-Label(secret, label, "", length) (RFC 8446 §7.1): ``hkdf_expand_label`` with
    the label's encoding cached, on the per-connection key path."""
    return HKDFExpand(algorithm, length, _label_info(label, length)).derive(secret)


def initial_secrets(version: VersionInfo, dcid: BytesLike) -> tuple[bytes, bytes]:
    """(client_initial_secret, server_initial_secret) for the client's first DCID (RFC 9001 §5.2).

    The salt is per version (RFC 9001 §5.2, RFC 9369 §3.3.1); the hash is always SHA-256.
    """
    alg = INITIAL_SUITE.hash_algorithm
    initial_secret = hkdf_extract(alg, version.initial_salt, dcid)
    length = alg.digest_size
    return (
        _expand_label(alg, initial_secret, b"client in", length),
        _expand_label(alg, initial_secret, b"server in", length),
    )


def next_generation_secret(suite: CipherSuite, secret: BytesLike, version: VersionInfo) -> bytes:
    """The secret after a key update, label "quic ku" / "quicv2 ku".

    RFC 9001 §6.1, RFC 9369 §3.3.2: HKDF-Expand-Label(secret, "quic ku", "", Hash.length).
    """
    return hkdf_expand_label(
        suite.hash_algorithm, secret, version.label_prefix + b"ku", b"", suite.hash_length
    )


class QuicPacketKeys:
    """The AEAD and header protection of one direction at one encryption level."""

    # Plain attributes, not properties: they are read for every packet.  Treat them as read-only.
    __slots__ = ("aead", "generation", "header_protection", "secret", "suite", "version")

    def __init__(
        self,
        suite: CipherSuite,
        version: VersionInfo,
        secret: BytesLike,
        aead: QuicAead,
        header_protection: AesHeaderProtection | ChaCha20HeaderProtection,
        generation: int = 0,
    ) -> None:
        self.suite = suite
        self.version = version
        self.secret = bytes(secret)  # kept for the next key update (RFC 9001 §6.1)
        self.aead = aead
        self.header_protection = header_protection
        self.generation = generation  # key updates since the TLS-provided secret

    @classmethod
    def from_secret(
        cls, suite: CipherSuite, secret: BytesLike, version: VersionInfo
    ) -> QuicPacketKeys:
        """Keys for a TLS traffic secret (RFC 9001 §5.1)."""
        if len(secret) != suite.hash_length:
            raise ValueError(
                f"{suite.name} traffic secrets are {suite.hash_length} bytes, got {len(secret)}"
            )
        material = derive_key_material(suite, secret, version)
        return cls(
            suite,
            version,
            secret,
            QuicAead(suite, material.key, material.iv),
            header_protection_for(suite, material.hp),
        )

    @classmethod
    def initial(
        cls, version: VersionInfo, dcid: BytesLike, is_client: bool
    ) -> tuple[QuicPacketKeys, QuicPacketKeys]:
        """(send, receive) Initial keys of an endpoint (RFC 9001 §5.2).

        ``dcid`` is the Destination Connection ID of the client's first Initial packet (or the one
        the server chose in a Retry).  A client sends with the client secret, a server with the
        server secret.
        """
        client_secret, server_secret = initial_secrets(version, dcid)
        client = cls.from_secret(INITIAL_SUITE, client_secret, version)
        server = cls.from_secret(INITIAL_SUITE, server_secret, version)
        return (client, server) if is_client else (server, client)

    def next_generation(self) -> QuicPacketKeys:
        """The keys after a key update: new key and IV, same header protection (RFC 9001 §6.1)."""
        suite, version = self.suite, self.version
        secret = next_generation_secret(suite, self.secret, version)
        alg, prefix = suite.hash_algorithm, version.label_prefix
        key = hkdf_expand_label(alg, secret, prefix + b"key", b"", suite.key_length)
        iv = hkdf_expand_label(alg, secret, prefix + b"iv", b"", suite.iv_length)
        return QuicPacketKeys(
            suite,
            version,
            secret,
            QuicAead(suite, key, iv),
            self.header_protection,
            self.generation + 1,
        )
