"""CertificateVerify content, signing, verification and scheme choice (RFC 8446 §4.4.3, §4.2.3).

Signatures are cross-checked with aioquic's signature parameters (padding, hash) in both
directions: aioquic's verification of our signatures and ours of signatures it parameterises.
"""

from __future__ import annotations

import pytest
from aioquic import tls as aio
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from pyquic.core.errors import QuicError
from pyquic.platform.tls.constants import SignatureScheme
from pyquic.platform.tls.signatures import (
    CLIENT_CONTEXT,
    SERVER_CONTEXT,
    SUPPORTED_SIGNATURE_SCHEMES,
    certificate_verify_content,
    check_scheme_for_public_key,
    choose_scheme,
    schemes_for_key,
    sign,
    verify,
)

HANDSHAKE_FAILURE = 0x100 + 40
ILLEGAL_PARAMETER = 0x100 + 47
DECRYPT_ERROR = 0x100 + 51
CONTENT = certificate_verify_content(bytes(range(32)), server=True)


@pytest.fixture(scope="module")
def keys() -> dict[str, PrivateKeyTypes]:
    return {
        "p256": ec.generate_private_key(ec.SECP256R1()),
        "p384": ec.generate_private_key(ec.SECP384R1()),
        "p521": ec.generate_private_key(ec.SECP521R1()),
        "rsa2048": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "rsa1024": rsa.generate_private_key(public_exponent=65537, key_size=1024),
        "ed25519": ed25519.Ed25519PrivateKey.generate(),
    }


KEY_FOR_SCHEME = {
    SignatureScheme.ECDSA_SECP256R1_SHA256: "p256",
    SignatureScheme.ECDSA_SECP384R1_SHA384: "p384",
    SignatureScheme.RSA_PSS_RSAE_SHA256: "rsa2048",
    SignatureScheme.RSA_PSS_RSAE_SHA384: "rsa2048",
    SignatureScheme.RSA_PSS_RSAE_SHA512: "rsa2048",
    SignatureScheme.ED25519: "ed25519",
}


def test_rfc8446_certificate_verify_content_example() -> None:
    # RFC 8446 §4.4.3: a server CertificateVerify over a transcript hash of 32 bytes of 01.
    expected = bytes.fromhex(
        "20" * 64
        + "544c5320312e332c207365727665722043657274696669636174655665726966"
        + "79"
        + "00"
        + "01" * 32
    )
    assert certificate_verify_content(b"\x01" * 32, server=True) == expected
    assert SERVER_CONTEXT == b"TLS 1.3, server CertificateVerify"
    client = certificate_verify_content(b"\x01" * 32, server=False)
    assert client == b" " * 64 + CLIENT_CONTEXT + b"\x00" + b"\x01" * 32
    assert CLIENT_CONTEXT == b"TLS 1.3, client CertificateVerify"


@pytest.mark.parametrize("scheme", list(SignatureScheme), ids=lambda s: s.name)
def test_sign_verify_round_trip_and_aioquic_agrees(
    scheme: SignatureScheme, keys: dict[str, PrivateKeyTypes]
) -> None:
    private_key = keys[KEY_FOR_SCHEME[scheme]]
    public_key = private_key.public_key()
    signature = sign(scheme, private_key, CONTENT)
    verify(scheme, public_key, CONTENT, signature)
    verify(scheme, public_key, CONTENT, signature, offered=SUPPORTED_SIGNATURE_SCHEMES)
    # aioquic's parameters for the scheme (padding, MGF1, salt length, hash) verify ours ...
    params = aio.signature_algorithm_params(int(scheme))
    public_key.verify(signature, CONTENT, *params)
    # ... and we verify a signature made with its parameters.
    theirs = private_key.sign(CONTENT, *params)
    verify(scheme, public_key, CONTENT, theirs)


@pytest.mark.parametrize("scheme", list(SignatureScheme), ids=lambda s: s.name)
def test_bad_signatures_are_decrypt_error(
    scheme: SignatureScheme, keys: dict[str, PrivateKeyTypes]
) -> None:
    private_key = keys[KEY_FOR_SCHEME[scheme]]
    public_key = private_key.public_key()
    signature = sign(scheme, private_key, CONTENT)
    flipped = signature[:10] + bytes((signature[10] ^ 0x40,)) + signature[11:]
    other_content = certificate_verify_content(bytes(range(32)), server=False)
    cases = [
        (CONTENT, flipped),
        (CONTENT, signature[:-1]),
        (CONTENT, b""),
        (CONTENT, b"\x30\x00"),  # empty DER sequence
        (other_content, signature),  # a server signature is no client signature
    ]
    for content, bad in cases:
        with pytest.raises(QuicError) as excinfo:
            verify(scheme, public_key, content, bad)
        assert excinfo.value.error_code == DECRYPT_ERROR


def test_schemes_for_key(keys: dict[str, PrivateKeyTypes]) -> None:
    assert schemes_for_key(keys["p256"]) == (SignatureScheme.ECDSA_SECP256R1_SHA256,)
    assert schemes_for_key(keys["p384"]) == (SignatureScheme.ECDSA_SECP384R1_SHA384,)
    assert schemes_for_key(keys["p521"]) == ()  # no TLS 1.3 scheme offered here for P-521
    assert schemes_for_key(keys["ed25519"]) == (SignatureScheme.ED25519,)
    assert schemes_for_key(keys["rsa2048"]) == (
        SignatureScheme.RSA_PSS_RSAE_SHA256,
        SignatureScheme.RSA_PSS_RSAE_SHA384,
        SignatureScheme.RSA_PSS_RSAE_SHA512,
    )
    # RFC 8017 §9.1.1: a 1024-bit modulus (emLen 128) cannot hold a SHA-512 PSS encoding (130).
    assert schemes_for_key(keys["rsa1024"]) == (
        SignatureScheme.RSA_PSS_RSAE_SHA256,
        SignatureScheme.RSA_PSS_RSAE_SHA384,
    )


def test_choose_scheme_follows_peer_preference(keys: dict[str, PrivateKeyTypes]) -> None:
    rsa_key = keys["rsa2048"]
    offered = [0x0401, SignatureScheme.RSA_PSS_RSAE_SHA512, SignatureScheme.RSA_PSS_RSAE_SHA256]
    assert choose_scheme(rsa_key, offered) is SignatureScheme.RSA_PSS_RSAE_SHA512
    assert choose_scheme(keys["p256"], [0x0807, 0x0403]) is SignatureScheme.ECDSA_SECP256R1_SHA256
    assert choose_scheme(keys["ed25519"], SUPPORTED_SIGNATURE_SCHEMES) is SignatureScheme.ED25519


@pytest.mark.parametrize(
    ("key_name", "offered"),
    [
        ("ed25519", [SignatureScheme.ECDSA_SECP256R1_SHA256]),
        ("p256", [SignatureScheme.ECDSA_SECP384R1_SHA384, SignatureScheme.ED25519]),
        ("rsa2048", [0x0401, 0x0201]),  # PKCS#1 v1.5 is not for CertificateVerify (§4.2.3)
        ("p521", SUPPORTED_SIGNATURE_SCHEMES),
        ("p256", []),
    ],
)
def test_choose_scheme_without_overlap_is_handshake_failure(
    key_name: str, offered: list[int], keys: dict[str, PrivateKeyTypes]
) -> None:
    with pytest.raises(QuicError) as excinfo:
        choose_scheme(keys[key_name], offered)
    assert excinfo.value.error_code == HANDSHAKE_FAILURE


@pytest.mark.parametrize(
    ("scheme", "key_name"),
    [
        (SignatureScheme.ECDSA_SECP256R1_SHA256, "p384"),  # §4.2.3: the curve is part of it
        (SignatureScheme.ECDSA_SECP384R1_SHA384, "p256"),
        (SignatureScheme.ECDSA_SECP256R1_SHA256, "rsa2048"),
        (SignatureScheme.RSA_PSS_RSAE_SHA256, "p256"),
        (SignatureScheme.RSA_PSS_RSAE_SHA512, "rsa1024"),  # too short for this hash
        (SignatureScheme.ED25519, "rsa2048"),
        (SignatureScheme.ED25519, "p256"),
    ],
)
def test_scheme_key_mismatch_is_illegal_parameter(
    scheme: SignatureScheme, key_name: str, keys: dict[str, PrivateKeyTypes]
) -> None:
    private_key = keys[key_name]
    public_key = private_key.public_key()
    with pytest.raises(QuicError) as excinfo:
        check_scheme_for_public_key(scheme, public_key)
    assert excinfo.value.error_code == ILLEGAL_PARAMETER
    with pytest.raises(QuicError) as excinfo:
        verify(scheme, public_key, CONTENT, b"\x00" * 64)
    assert excinfo.value.error_code == ILLEGAL_PARAMETER
    with pytest.raises(ValueError):
        sign(scheme, private_key, CONTENT)


def test_unknown_or_unoffered_scheme_is_illegal_parameter(keys: dict[str, PrivateKeyTypes]) -> None:
    public_key = keys["p256"].public_key()
    signature = sign(SignatureScheme.ECDSA_SECP256R1_SHA256, keys["p256"], CONTENT)
    for unknown in (0x0401, 0x0201, 0x0603, 0xFFFF):  # PKCS#1, SHA-1, P-521, nonsense
        with pytest.raises(QuicError) as excinfo:
            verify(unknown, public_key, CONTENT, signature)
        assert excinfo.value.error_code == ILLEGAL_PARAMETER
    with pytest.raises(QuicError) as excinfo:
        verify(
            SignatureScheme.ECDSA_SECP256R1_SHA256,
            public_key,
            CONTENT,
            signature,
            offered=[SignatureScheme.ED25519],
        )
    assert excinfo.value.error_code == ILLEGAL_PARAMETER
    assert check_scheme_for_public_key(0x0403, public_key) is (
        SignatureScheme.ECDSA_SECP256R1_SHA256
    )
