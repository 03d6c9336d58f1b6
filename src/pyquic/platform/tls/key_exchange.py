"""Key shares for the TLS 1.3 key exchange groups (RFC 8446 §4.2.8, §7.4; X25519MLKEM768).

Design: one small class per group family behind the :class:`ClientKeyShare` interface, chosen
from a table of :class:`GroupParameters` keyed by :class:`NamedGroup`, so nothing branches on a
group.  A client calls
:func:`generate` and sends ``public_bytes``; on the ServerHello it calls ``complete`` with the
server's share.  A server calls :func:`respond` with the client's share and gets its own share and
the shared secret in one step (the hybrid group's server share is a KEM ciphertext, so there is no
separate server key pair to keep).  Every ``cryptography`` primitive error on a peer's share
becomes an illegal_parameter alert: a peer can never raise ``ValueError`` here.

Encodings:

- x25519: 32-byte u-coordinate both ways; an all-zero shared secret is rejected (§7.4.2,
  RFC 7748 §6).
- secp256r1 / secp384r1: UncompressedPointRepresentation, 0x04 || X || Y, validated on the curve
  (§4.2.8.2); the shared secret is the x-coordinate, full length (§7.4.2).
- X25519MLKEM768 (0x11EC, draft-ietf-tls-ecdhe-mlkem): client share = ML-KEM-768 encapsulation
  key (1184) || X25519 public (32); server share = ML-KEM-768 ciphertext (1088) || X25519 public
  (32); shared secret = ML-KEM shared secret (32) || X25519 shared secret (32).  ML-KEM comes
  first in every encoding.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import ClassVar

from cryptography.hazmat.primitives.asymmetric import ec, mlkem, x25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pyquic.platform.tls.constants import AlertDescription, NamedGroup, alert_error

BytesLike = bytes | bytearray | memoryview

X25519_KEY_LENGTH = 32  # RFC 7748 §5, RFC 8446 §4.2.8.2
MLKEM768_ENCAPSULATION_KEY_LENGTH = 1184  # FIPS 203 (draft-ietf-tls-ecdhe-mlkem)
MLKEM768_CIPHERTEXT_LENGTH = 1088  # FIPS 203
MLKEM768_SHARED_SECRET_LENGTH = 32  # FIPS 203

_EC_CURVES: dict[NamedGroup, type[ec.EllipticCurve]] = {
    NamedGroup.SECP256R1: ec.SECP256R1,
    NamedGroup.SECP384R1: ec.SECP384R1,
}
_EC_COORDINATE_LENGTHS: dict[NamedGroup, int] = {
    NamedGroup.SECP256R1: 32,  # §4.2.8.2: P-256 coordinates are 32 octets
    NamedGroup.SECP384R1: 48,  # §4.2.8.2: P-384 coordinates are 48 octets
}


def _illegal(group: NamedGroup, reason: str) -> Exception:
    return alert_error(AlertDescription.illegal_parameter, f"{group.name} key share: {reason}")


def _check_length(group: NamedGroup, share: BytesLike, expected: int) -> bytes:
    # §4.2.8: a key_exchange of the wrong size for its group is an illegal_parameter.
    if len(share) != expected:
        raise _illegal(group, f"{len(share)} bytes, expected {expected}")
    return bytes(share)


# -- x25519 (RFC 7748, RFC 8446 §7.4.2) ------------------------------------------------------


def _x25519_exchange(group: NamedGroup, private_key: x25519.X25519PrivateKey, peer: bytes) -> bytes:
    try:
        secret = private_key.exchange(x25519.X25519PublicKey.from_public_bytes(peer))
    except ValueError as exc:  # cryptography refuses an all-zero result (RFC 7748 §6)
        raise _illegal(group, "X25519 produced an all-zero shared secret") from exc
    if secret == bytes(X25519_KEY_LENGTH):  # §7.4.2: MUST check for the all-zero value
        raise _illegal(group, "X25519 produced an all-zero shared secret")
    return secret


def _x25519_public(private_key: x25519.X25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


# -- NIST curves (RFC 8446 §4.2.8.2, §7.4.2) ------------------------------------------------


def _ec_point_length(group: NamedGroup) -> int:
    return 1 + 2 * _EC_COORDINATE_LENGTHS[group]


def _ec_public(private_key: ec.EllipticCurvePrivateKey) -> bytes:
    return private_key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def _ec_exchange(group: NamedGroup, private_key: ec.EllipticCurvePrivateKey, peer: bytes) -> bytes:
    share = _check_length(group, peer, _ec_point_length(group))
    if share[0] != 0x04:  # §4.2.8.2: legacy_form = 4, the only point format in TLS 1.3
        raise _illegal(group, f"point format {share[0]:#04x}, expected uncompressed (0x04)")
    try:
        # from_encoded_point checks that the point is on the curve (§4.2.8.2 validation).
        public_key = ec.EllipticCurvePublicKey.from_encoded_point(_EC_CURVES[group](), share)
        secret = private_key.exchange(ec.ECDH(), public_key)
    except ValueError as exc:
        raise _illegal(group, "not a valid point on the curve") from exc
    # §7.4.2: Z is the x-coordinate at full field length; cryptography never truncates it.
    return secret


# -- private keys from injected randomness ------------------------------------------------------

RandomBytes = Callable[[int], bytes]

# The group orders of P-256 and P-384 (SEC 2 §2.4.2, §2.5.1), to map random bytes to a scalar.
_EC_ORDERS: dict[NamedGroup, int] = {
    NamedGroup.SECP256R1: 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    NamedGroup.SECP384R1: int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973",
        16,
    ),
}
_MLKEM_SEED_LENGTH = 64  # FIPS 203: d || z


def _x25519_key(random_bytes: RandomBytes | None) -> x25519.X25519PrivateKey:
    if random_bytes is None:
        return x25519.X25519PrivateKey.generate()
    return x25519.X25519PrivateKey.from_private_bytes(random_bytes(X25519_KEY_LENGTH))


def _ec_key(group: NamedGroup, random_bytes: RandomBytes | None) -> ec.EllipticCurvePrivateKey:
    curve = _EC_CURVES[group]()
    if random_bytes is None:
        return ec.generate_private_key(curve)
    order = _EC_ORDERS[group]
    # 64 extra bits make the reduction's bias negligible (FIPS 186-5 §A.2.1)
    raw = int.from_bytes(random_bytes((order.bit_length() + 64) // 8), "big")
    return ec.derive_private_key(raw % (order - 1) + 1, curve)


def _mlkem_key(random_bytes: RandomBytes | None) -> mlkem.MLKEM768PrivateKey:
    if random_bytes is None:
        return mlkem.MLKEM768PrivateKey.generate()
    return mlkem.MLKEM768PrivateKey.from_seed_bytes(random_bytes(_MLKEM_SEED_LENGTH))


# -- client side ------------------------------------------------------------------------------


class ClientKeyShare(abc.ABC):
    """A client's key pair for one group: ``public_bytes`` goes in the key_share entry."""

    group: NamedGroup
    public_bytes: bytes

    @abc.abstractmethod
    def complete(self, server_share: BytesLike) -> bytes:
        """The shared secret from the server's key_exchange; bad shares -> illegal_parameter."""


class _X25519ClientShare(ClientKeyShare):
    def __init__(self, random_bytes: RandomBytes | None = None) -> None:
        self.group = NamedGroup.X25519
        self._private_key = _x25519_key(random_bytes)
        self.public_bytes = _x25519_public(self._private_key)

    def complete(self, server_share: BytesLike) -> bytes:
        share = _check_length(self.group, server_share, X25519_KEY_LENGTH)
        return _x25519_exchange(self.group, self._private_key, share)


class _EcdheClientShare(ClientKeyShare):
    def __init__(self, group: NamedGroup, random_bytes: RandomBytes | None = None) -> None:
        self.group = group
        self._private_key = _ec_key(group, random_bytes)
        self.public_bytes = _ec_public(self._private_key)

    def complete(self, server_share: BytesLike) -> bytes:
        return _ec_exchange(self.group, self._private_key, bytes(server_share))


class _HybridClientShare(ClientKeyShare):
    """X25519MLKEM768: ML-KEM-768 encapsulation key || X25519 public key."""

    CLIENT_LENGTH: ClassVar[int] = MLKEM768_ENCAPSULATION_KEY_LENGTH + X25519_KEY_LENGTH
    SERVER_LENGTH: ClassVar[int] = MLKEM768_CIPHERTEXT_LENGTH + X25519_KEY_LENGTH

    def __init__(self, random_bytes: RandomBytes | None = None) -> None:
        self.group = NamedGroup.X25519MLKEM768
        self._mlkem_key = _mlkem_key(random_bytes)
        self._x25519_key = _x25519_key(random_bytes)
        self.public_bytes = self._mlkem_key.public_key().public_bytes_raw() + _x25519_public(
            self._x25519_key
        )

    def complete(self, server_share: BytesLike) -> bytes:
        share = _check_length(self.group, server_share, self.SERVER_LENGTH)
        ciphertext = share[:MLKEM768_CIPHERTEXT_LENGTH]
        x25519_peer = share[MLKEM768_CIPHERTEXT_LENGTH:]
        try:
            # FIPS 203 decapsulation has implicit rejection: a well-sized ciphertext never fails.
            mlkem_secret = self._mlkem_key.decapsulate(ciphertext)
        except ValueError as exc:
            raise _illegal(self.group, "invalid ML-KEM-768 ciphertext") from exc
        return mlkem_secret + _x25519_exchange(self.group, self._x25519_key, x25519_peer)


# -- server side ------------------------------------------------------------------------------


def _respond_x25519(
    client_share: bytes, random_bytes: RandomBytes | None = None
) -> tuple[bytes, bytes]:
    group = NamedGroup.X25519
    share = _check_length(group, client_share, X25519_KEY_LENGTH)
    private_key = _x25519_key(random_bytes)
    return _x25519_public(private_key), _x25519_exchange(group, private_key, share)


def _respond_ec(
    group: NamedGroup, client_share: bytes, random_bytes: RandomBytes | None = None
) -> tuple[bytes, bytes]:
    private_key = _ec_key(group, random_bytes)
    secret = _ec_exchange(group, private_key, client_share)
    return _ec_public(private_key), secret


def _respond_hybrid(
    client_share: bytes, random_bytes: RandomBytes | None = None
) -> tuple[bytes, bytes]:
    """The server's hybrid share.  ML-KEM encapsulation draws its own randomness: cryptography
    offers no seeded encapsulation, so only the X25519 half follows ``random_bytes``."""
    group = NamedGroup.X25519MLKEM768
    share = _check_length(group, client_share, _HybridClientShare.CLIENT_LENGTH)
    encapsulation_key = share[:MLKEM768_ENCAPSULATION_KEY_LENGTH]
    x25519_peer = share[MLKEM768_ENCAPSULATION_KEY_LENGTH:]
    try:
        # FIPS 203 §7.2 encapsulation key check; failure is illegal_parameter (hybrid draft).
        mlkem_public = mlkem.MLKEM768PublicKey.from_public_bytes(encapsulation_key)
        mlkem_secret, ciphertext = mlkem_public.encapsulate()
    except ValueError as exc:
        raise _illegal(group, "invalid ML-KEM-768 encapsulation key") from exc
    x25519_key = _x25519_key(random_bytes)
    x25519_secret = _x25519_exchange(group, x25519_key, x25519_peer)
    return ciphertext + _x25519_public(x25519_key), mlkem_secret + x25519_secret


@dataclass(frozen=True, slots=True)
class GroupParameters:
    """The sizes and operations of one group; the one place that maps a group to its code."""

    client_share_length: int
    server_share_length: int
    shared_secret_length: int
    generate: Callable[[RandomBytes | None], ClientKeyShare]
    respond: Callable[[bytes, RandomBytes | None], tuple[bytes, bytes]]


_GROUPS: dict[NamedGroup, GroupParameters] = {
    NamedGroup.X25519MLKEM768: GroupParameters(
        client_share_length=_HybridClientShare.CLIENT_LENGTH,
        server_share_length=_HybridClientShare.SERVER_LENGTH,
        shared_secret_length=MLKEM768_SHARED_SECRET_LENGTH + X25519_KEY_LENGTH,
        generate=_HybridClientShare,
        respond=_respond_hybrid,
    ),
    NamedGroup.X25519: GroupParameters(
        client_share_length=X25519_KEY_LENGTH,
        server_share_length=X25519_KEY_LENGTH,
        shared_secret_length=X25519_KEY_LENGTH,
        generate=_X25519ClientShare,
        respond=_respond_x25519,
    ),
    **{
        group: GroupParameters(
            client_share_length=_ec_point_length(group),
            server_share_length=_ec_point_length(group),
            shared_secret_length=_EC_COORDINATE_LENGTHS[group],  # §7.4.2: the x-coordinate
            generate=partial(_EcdheClientShare, group),
            respond=partial(_respond_ec, group),
        )
        for group in (NamedGroup.SECP256R1, NamedGroup.SECP384R1)
    },
}

# Every group this module implements, in the default order of preference (hybrid first).
SUPPORTED_GROUPS: tuple[NamedGroup, ...] = tuple(_GROUPS)


def group_parameters(group: NamedGroup) -> GroupParameters:
    """The parameters of ``group``; ``ValueError`` for a group this module does not implement."""
    try:
        return _GROUPS[group]
    except KeyError:
        raise ValueError(f"unsupported key exchange group: {group!r}") from None


def generate(group: NamedGroup, random_bytes: RandomBytes | None = None) -> ClientKeyShare:
    """A fresh client key share for ``group`` (RFC 8446 §4.2.8).

    ``random_bytes`` (the engine's injected randomness) makes the key deterministic for tests;
    without it the key comes from the OS's random source.
    """
    return group_parameters(group).generate(random_bytes)


def respond(
    group: NamedGroup, client_share: BytesLike, random_bytes: RandomBytes | None = None
) -> tuple[bytes, bytes]:
    """The server's ``(key_exchange bytes, shared secret)`` for a client's share (§4.2.8).

    A malformed client share raises the illegal_parameter alert (§4.2.8, §7.4.2).
    """
    return group_parameters(group).respond(bytes(client_share), random_bytes)
