"""The interface between the connection and its TLS handshake and packet-key factory.

The core never imports the TLS engine or a crypto back-end: a connection is handed a factory
that builds its TLS session (given the encoded transport parameters it must carry, RFC 9001
§8.2) and a factory of packet keys.  This module states what the core expects of both, and
defines the TLS events the core consumes: a traffic secret per level and direction (RFC 9001
§4.1.4) and handshake completion (RFC 9001 §4.1.1).  The platform's TLS engine emits exactly these;
any other event it emits (a verified certificate, a session ticket) is passed through to the
application untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from pyquic.core.crypto_interface import BytesLike, PacketKeys
from pyquic.core.levels import EncryptionLevel
from pyquic.core.version import VersionInfo


class Direction(Enum):
    """Whether a traffic secret protects what this endpoint reads or what it writes."""

    READ = "read"
    WRITE = "write"


@dataclass(frozen=True, slots=True)
class TrafficSecretReady:
    """A traffic secret for ``level``: install packet keys derived from it (RFC 9001 §5.1)."""

    level: EncryptionLevel
    direction: Direction
    cipher_suite: int  # the TLS codepoint (RFC 8446 §B.4)
    secret: bytes

    def __repr__(self) -> str:  # never print secrets
        return (
            f"TrafficSecretReady({self.level.name}, {self.direction.name}, "
            f"cipher_suite={int(self.cipher_suite):#06x})"
        )


@dataclass(frozen=True, slots=True)
class HandshakeCompleted:
    """The TLS handshake is complete (RFC 9001 §4.1.1)."""

    alpn: bytes
    session_resumed: bool
    early_data_accepted: bool  # meaningful for a client that offered 0-RTT


class TlsSessionLike(Protocol):
    """What a connection needs of its TLS session (a ClientSession or ServerSession)."""

    @property
    def alpn(self) -> bytes | None: ...

    @property
    def peer_transport_parameters(self) -> bytes | None: ...

    @property
    def handshake_complete(self) -> bool: ...

    def start(self) -> None:
        """Begin the handshake (the client sends its ClientHello; a server waits)."""
        ...

    def receive(self, level: EncryptionLevel, data: bytes) -> None:
        """In-order CRYPTO bytes of ``level``; raises QuicError (CRYPTO_ERROR + alert)."""
        ...

    def data_to_send(self, level: EncryptionLevel) -> bytes: ...

    def poll_event(self) -> object | None:
        """The next event: TrafficSecretReady, HandshakeCompleted, or one to pass through."""
        ...


class PacketProtectionFactory(Protocol):
    """Builds packet keys (RFC 9001 §5) and checks Retry integrity (RFC 9001 §5.8)."""

    def initial_keys(
        self, version: VersionInfo, destination_cid: bytes, is_client: bool
    ) -> tuple[PacketKeys, PacketKeys]:
        """(send, receive) Initial keys for an endpoint (RFC 9001 §5.2)."""
        ...

    def keys_from_secret(
        self, cipher_suite: int, secret: bytes, version: VersionInfo
    ) -> PacketKeys:
        """Packet keys for a traffic secret (RFC 9001 §5.1)."""
        ...

    def next_generation(self, keys: PacketKeys) -> PacketKeys:
        """The keys after a key update, keeping header protection (RFC 9001 §6.1)."""
        ...

    def retry_integrity_tag(
        self, version: VersionInfo, original_dcid: bytes, retry_without_tag: BytesLike
    ) -> bytes: ...

    def verify_retry_integrity(
        self, version: VersionInfo, original_dcid: bytes, retry_packet: BytesLike
    ) -> bool: ...
