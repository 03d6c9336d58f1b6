"""Address validation tokens: Retry (RFC 9000 §8.1.2, §17.2.5) and NEW_TOKEN (RFC 9000 §8.1.3).

Design (MsQuic's binding.c retry tokens, quinn's token.rs): a token is one byte of kind, then the
output of an injected :class:`TokenSealer` (an AEAD: the core never imports a crypto back-end;
:class:`pyquic.platform.crypto.tokens.AesGcmTokenSealer` is the production one).  The sealed
plaintext is the issue time (the endpoint's ``now_us``), the client's original Destination CID
and the Retry's Source CID; the associated data is the kind and the client's address, so a token
only validates the address it was issued to (RFC 9000 §8.1.4).  A Retry token binds the full
address; a NEW_TOKEN token only the host, since a client's port changes between connections
(RFC 9000 §8.1.3).  Servers sharing the sealer's key (and a time base for ``now_us``) accept each
other's tokens (RFC 9000 §8.1.4).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

from pyquic.core.packet_header import encode_retry_without_tag
from pyquic.core.tls_interface import PacketProtectionFactory
from pyquic.core.version import VersionInfo

__all__ = [
    "INVALID_TOKEN",
    "TokenKind",
    "TokenSealer",
    "ValidToken",
    "build_retry",
    "check_token",
    "new_token",
    "retry_token",
]


class TokenSealer(Protocol):
    """Authenticated encryption of tokens; ``open`` returns None when authentication fails."""

    def seal(self, plaintext: bytes, associated_data: bytes) -> bytes: ...

    def open(self, token: bytes, associated_data: bytes) -> bytes | None: ...


class TokenKind(IntEnum):
    RETRY = 0xA1  # from a Retry packet (RFC 9000 §8.1.2)
    NEW_TOKEN = 0xA2  # from a NEW_TOKEN frame (RFC 9000 §8.1.3)


@dataclass(frozen=True, slots=True)
class ValidToken:
    """A token that validated the client's address."""

    kind: TokenKind
    original_destination_cid: bytes  # Retry tokens only (RFC 9000 §7.3)
    retry_source_cid: bytes  # Retry tokens only


INVALID_TOKEN = "invalid"  # a Retry token that fails validation (RFC 9000 §8.1.3)
_TIME_BYTES = 8


def _associated_data(kind: TokenKind, address: Hashable) -> bytes:
    if kind is TokenKind.NEW_TOKEN and isinstance(address, tuple) and address:
        address = address[0]  # RFC 9000 §8.1.3: the port may change, the host is bound
    return bytes((kind,)) + repr(address).encode()


def _seal(
    sealer: TokenSealer, kind: TokenKind, address: Hashable, now_us: int, odcid: bytes, rscid: bytes
) -> bytes:
    plaintext = (
        max(now_us, 0).to_bytes(_TIME_BYTES, "big")
        + bytes((len(odcid),))
        + odcid
        + bytes((len(rscid),))
        + rscid
    )
    return bytes((kind,)) + sealer.seal(plaintext, _associated_data(kind, address))


def retry_token(
    sealer: TokenSealer, address: Hashable, now_us: int, original_dcid: bytes, retry_scid: bytes
) -> bytes:
    """The token of a Retry packet (RFC 9000 §8.1.2)."""
    return _seal(sealer, TokenKind.RETRY, address, now_us, original_dcid, retry_scid)


def new_token(sealer: TokenSealer, address: Hashable, now_us: int) -> bytes:
    """The token of a NEW_TOKEN frame (RFC 9000 §8.1.3)."""
    return _seal(sealer, TokenKind.NEW_TOKEN, address, now_us, b"", b"")


def check_token(
    sealer: TokenSealer,
    token: bytes,
    address: Hashable,
    now_us: int,
    *,
    destination_cid: bytes,
    retry_lifetime_us: int,
    new_token_lifetime_us: int,
) -> ValidToken | str | None:
    """A :class:`ValidToken`; :data:`INVALID_TOKEN` for a bad Retry token; None for a token to
    ignore (not ours, or an expired or foreign NEW_TOKEN: RFC 9000 §8.1.3 says proceed as if
    there were none)."""
    if not token or token[0] not in tuple(TokenKind):
        return None
    kind = TokenKind(token[0])
    failed = INVALID_TOKEN if kind is TokenKind.RETRY else None
    plain = sealer.open(token[1:], _associated_data(kind, address))
    if plain is None or len(plain) < _TIME_BYTES + 2:
        return failed
    issued_us = int.from_bytes(plain[:_TIME_BYTES], "big")
    odcid_end = _TIME_BYTES + 1 + plain[_TIME_BYTES]
    odcid = plain[_TIME_BYTES + 1 : odcid_end]
    rscid = plain[odcid_end + 1 :]
    lifetime = retry_lifetime_us if kind is TokenKind.RETRY else new_token_lifetime_us
    if not issued_us <= now_us + 1_000_000 or now_us - issued_us > lifetime:
        return failed  # expired, or issued too far in the future (RFC 9000 §8.1.3)
    # RFC 9000 §17.2.5.2: after a Retry the client's Destination CID is the Retry's Source CID
    if kind is TokenKind.RETRY and rscid != destination_cid:
        return failed
    return ValidToken(kind, odcid, rscid)


def build_retry(
    crypto: PacketProtectionFactory,
    version: VersionInfo,
    *,
    client_scid: bytes,
    original_dcid: bytes,
    retry_scid: bytes,
    token: bytes,
    unused: int = 0,
) -> bytes:
    """A Retry packet with its integrity tag (RFC 9000 §17.2.5, RFC 9001 §5.8)."""
    packet = encode_retry_without_tag(version, client_scid, retry_scid, token, unused=unused)
    return packet + crypto.retry_integrity_tag(version, original_dcid, packet)
