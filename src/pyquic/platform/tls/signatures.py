"""CertificateVerify signatures: the signed content, signing, verifying, scheme choice.

Design: a table maps each :class:`SignatureScheme` to its key family, hash and (for ECDSA) curve,
so signing, verifying, listing a key's schemes and checking a peer's key against a scheme all read
the same data.  Keys are ``cryptography`` key objects; a peer's failures become TLS alerts
(:class:`~pyquic.core.errors.QuicError`), while misuse by the local caller (signing with a key that
cannot make the scheme) is a ``ValueError``.

Sources: RFC 8446 §4.4.3 (the signed content and decrypt_error), §4.2.3 (the schemes: ECDSA on
the named curve with its hash, RSASSA-PSS with MGF1 of the same hash and salt length equal to the
hash length, PureEdDSA Ed25519), §4.4.2.2 (the scheme must suit the certificate's key).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from enum import Enum

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificatePublicKeyTypes,
    PrivateKeyTypes,
)

from pyquic.platform.tls.constants import AlertDescription, SignatureScheme, alert_error

BytesLike = bytes | bytearray | memoryview

SERVER_CONTEXT = b"TLS 1.3, server CertificateVerify"  # RFC 8446 §4.4.3
CLIENT_CONTEXT = b"TLS 1.3, client CertificateVerify"  # RFC 8446 §4.4.3


class KeyFamily(Enum):
    """The kind of key a scheme signs with."""

    ECDSA = "ecdsa"
    RSA_PSS_RSAE = "rsa_pss_rsae"
    ED25519 = "ed25519"


@dataclass(frozen=True, slots=True)
class SchemeParameters:
    """What one signature scheme needs: key family, hash (not for EdDSA), curve (ECDSA only)."""

    family: KeyFamily
    hash_algorithm: hashes.HashAlgorithm | None
    curve_name: str | None = None


_SCHEMES: dict[SignatureScheme, SchemeParameters] = {
    # §4.2.3: in TLS 1.3 each ECDSA scheme fixes both the curve and the hash.
    SignatureScheme.ECDSA_SECP256R1_SHA256: SchemeParameters(
        KeyFamily.ECDSA, hashes.SHA256(), ec.SECP256R1.name
    ),
    SignatureScheme.ECDSA_SECP384R1_SHA384: SchemeParameters(
        KeyFamily.ECDSA, hashes.SHA384(), ec.SECP384R1.name
    ),
    # §4.2.3: RSASSA-PSS, MGF1 with the same hash, rsaEncryption public key.
    SignatureScheme.RSA_PSS_RSAE_SHA256: SchemeParameters(KeyFamily.RSA_PSS_RSAE, hashes.SHA256()),
    SignatureScheme.RSA_PSS_RSAE_SHA384: SchemeParameters(KeyFamily.RSA_PSS_RSAE, hashes.SHA384()),
    SignatureScheme.RSA_PSS_RSAE_SHA512: SchemeParameters(KeyFamily.RSA_PSS_RSAE, hashes.SHA512()),
    # §4.2.3: PureEdDSA, no prehash.
    SignatureScheme.ED25519: SchemeParameters(KeyFamily.ED25519, None),
}

# The schemes to offer in signature_algorithms, in order of preference (§4.2.3).
SUPPORTED_SIGNATURE_SCHEMES: tuple[SignatureScheme, ...] = (
    SignatureScheme.ECDSA_SECP256R1_SHA256,
    SignatureScheme.RSA_PSS_RSAE_SHA256,
    SignatureScheme.ED25519,
    SignatureScheme.ECDSA_SECP384R1_SHA384,
    SignatureScheme.RSA_PSS_RSAE_SHA384,
    SignatureScheme.RSA_PSS_RSAE_SHA512,
)


def certificate_verify_content(transcript_hash: BytesLike, *, server: bool) -> bytes:
    """The bytes a CertificateVerify signs (RFC 8446 §4.4.3).

    64 octets of 0x20, the context string, one 0x00 separator, then
    Transcript-Hash(Handshake Context, Certificate).
    """
    context = SERVER_CONTEXT if server else CLIENT_CONTEXT
    return b" " * 64 + context + b"\x00" + bytes(transcript_hash)


def _pss(algorithm: hashes.HashAlgorithm) -> padding.PSS:
    # §4.2.3: MGF1 with the signed digest's hash; salt length = hash output length.
    return padding.PSS(mgf=padding.MGF1(algorithm), salt_length=algorithm.digest_size)


def _rsa_can_sign(key_size_bits: int, algorithm: hashes.HashAlgorithm) -> bool:
    # RFC 8017 §9.1.1: emLen = ceil((modBits - 1) / 8) must be >= hLen + sLen + 2, sLen = hLen.
    return (key_size_bits + 6) // 8 >= 2 * algorithm.digest_size + 2


def _key_matches(
    params: SchemeParameters, key: PrivateKeyTypes | CertificatePublicKeyTypes
) -> bool:
    if params.family is KeyFamily.ECDSA:
        return (
            isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey)
            and key.curve.name == params.curve_name
        )
    if params.family is KeyFamily.RSA_PSS_RSAE:
        return (
            isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey)
            and params.hash_algorithm is not None
            and _rsa_can_sign(key.key_size, params.hash_algorithm)
        )
    return isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey)


def _parameters(scheme: SignatureScheme | int) -> SchemeParameters:
    try:
        return _SCHEMES[SignatureScheme(scheme)]
    except (ValueError, KeyError):
        raise alert_error(
            AlertDescription.illegal_parameter, f"unsupported signature scheme {scheme:#06x}"
        ) from None


def schemes_for_key(private_key: PrivateKeyTypes) -> tuple[SignatureScheme, ...]:
    """The schemes ``private_key`` can sign with, in :data:`SUPPORTED_SIGNATURE_SCHEMES` order.

    ECDSA keys on other curves, RSA keys too short for PSS with a given hash, and other key types
    yield fewer schemes or none.
    """
    return tuple(
        scheme
        for scheme in SUPPORTED_SIGNATURE_SCHEMES
        if _key_matches(_SCHEMES[scheme], private_key)
    )


def choose_scheme(
    private_key: PrivateKeyTypes, peer_offered: Iterable[SignatureScheme | int]
) -> SignatureScheme:
    """The first scheme in the peer's list (its order of preference, §4.2.3) the key can make.

    No overlap is a handshake_failure alert (RFC 8446 §4.2.3, §4.4.2.2).
    """
    usable = schemes_for_key(private_key)
    for offered in peer_offered:
        for scheme in usable:
            if scheme == offered:
                return scheme
    raise alert_error(
        AlertDescription.handshake_failure, "no signature scheme in common with the peer"
    )


def check_scheme_for_public_key(
    scheme: SignatureScheme | int, public_key: CertificatePublicKeyTypes
) -> SignatureScheme:
    """Check a peer's scheme suits its certificate's key; mismatch -> illegal_parameter.

    §4.4.3: the algorithm MUST be compatible with the key in the end-entity certificate; for
    ECDSA this includes the curve (§4.2.3).  Returns the scheme as a :class:`SignatureScheme`.
    """
    params = _parameters(scheme)
    if not _key_matches(params, public_key):
        raise alert_error(
            AlertDescription.illegal_parameter,
            f"signature scheme {SignatureScheme(scheme).name} does not match the certificate key",
        )
    return SignatureScheme(scheme)


def sign(scheme: SignatureScheme, private_key: PrivateKeyTypes, content: BytesLike) -> bytes:
    """Sign ``content`` with ``scheme`` (RFC 8446 §4.4.3, §4.2.3).

    A key that cannot make the scheme is the caller's mistake: ``ValueError``.
    """
    params = _SCHEMES[SignatureScheme(scheme)]
    if not _key_matches(params, private_key):
        raise ValueError(f"{type(private_key).__name__} cannot sign with {scheme.name}")
    data = bytes(content)
    if isinstance(private_key, ec.EllipticCurvePrivateKey) and params.hash_algorithm is not None:
        return private_key.sign(data, ec.ECDSA(params.hash_algorithm))
    if isinstance(private_key, rsa.RSAPrivateKey) and params.hash_algorithm is not None:
        return private_key.sign(data, _pss(params.hash_algorithm), params.hash_algorithm)
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return private_key.sign(data)
    raise ValueError(f"{type(private_key).__name__} cannot sign with {scheme.name}")


def verify(
    scheme: SignatureScheme | int,
    public_key: CertificatePublicKeyTypes,
    content: BytesLike,
    signature: BytesLike,
    *,
    offered: Collection[SignatureScheme | int] | None = None,
) -> None:
    """Verify a peer's CertificateVerify signature (RFC 8446 §4.4.3).

    ``offered``, when given, is the list this endpoint sent in signature_algorithms; a scheme
    outside it is illegal_parameter (§4.4.3), as is a scheme that does not suit ``public_key``.
    A signature that does not verify is decrypt_error (§4.4.3).
    """
    if offered is not None and scheme not in offered:
        raise alert_error(
            AlertDescription.illegal_parameter, f"signature scheme {scheme:#06x} was not offered"
        )
    checked = check_scheme_for_public_key(scheme, public_key)
    params = _SCHEMES[checked]
    data, sig = bytes(content), bytes(signature)
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey) and params.hash_algorithm is not None:
            public_key.verify(sig, data, ec.ECDSA(params.hash_algorithm))
        elif isinstance(public_key, rsa.RSAPublicKey) and params.hash_algorithm is not None:
            public_key.verify(sig, data, _pss(params.hash_algorithm), params.hash_algorithm)
        elif isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(sig, data)
        else:  # unreachable: check_scheme_for_public_key admitted only the three families
            raise InvalidSignature
    except (InvalidSignature, ValueError) as exc:
        raise alert_error(
            AlertDescription.decrypt_error, f"{checked.name} CertificateVerify does not verify"
        ) from exc
