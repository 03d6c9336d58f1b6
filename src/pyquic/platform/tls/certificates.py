"""Certificates for the TLS 1.3 engine: loading credentials and verifying the peer's chain.

A :class:`Credential` is what an endpoint presents (RFC 8446 §4.4.2): the chain, leaf first, and
the leaf's private key.  It is loaded from PEM files or a PKCS#12 file; bad input from the user
(missing file, undecodable data, wrong password, a key that does not match the certificate, an
unsupported key type) raises :class:`CredentialError` (a ValueError) or an OSError, both naming
the file.

Verification is delegated whole to ``cryptography.x509.verification`` (RFC 5280 path building
under the Web PKI profile); this module only turns DER from the wire into certificates, picks the
subject (an IP address when the server name parses as one, else a DNS name) and maps each failure
to the TLS alert the engine sends (RFC 8446 §6.2), as ``QuicError`` CRYPTO_ERROR 0x100 + alert
(RFC 9001 §4.8):

* empty chain: ``decode_error`` from a server (RFC 8446 §4.4.2.4), ``certificate_required``
  from a client that was asked for one (RFC 8446 §4.4.2.4);
* undecodable DER, or more than :data:`MAX_PEER_CHAIN_LENGTH` certificates: ``bad_certificate``;
* a certificate outside its validity period: ``certificate_expired``;
* no path to a trust anchor: ``unknown_ca``;
* server name not in the leaf (project decision) or any other failure: ``bad_certificate``.

Design choices: time is passed in (no clock reads); revocation (CRL/OCSP) is not checked;
client certificates need the clientAuth usage when they list extended key usages, but unlike
server certificates need no subjectAltName.  :class:`NoVerification` is the explicit, named
opt-out that accepts any parseable chain.  The system trust store is found the way OpenSSL finds
it on Linux (see :meth:`CertificateVerifier.from_system_store`).
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib
import ipaddress
import os
import re
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509 import verification

from pyquic.core.errors import QuicError
from pyquic.platform.tls.constants import AlertDescription, SignatureScheme, alert_error
from pyquic.platform.tls.signatures import schemes_for_key

__all__ = [
    "MAX_PEER_CHAIN_LENGTH",
    "CertificateVerifier",
    "Credential",
    "CredentialError",
    "NoVerification",
    "PeerVerifier",
    "PrivateKey",
    "load_pem_credential",
    "load_pkcs12_credential",
    "verification_subject",
]

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
StrPath = str | os.PathLike[str]

# A peer's Certificate message is bounded by the engine's message size limit; the number of
# certificates we parse is bounded here too (cryptography's default path depth is 8).
MAX_PEER_CHAIN_LENGTH = 10
MIN_RSA_KEY_BITS = 2048  # what the Web PKI profile (and so our verifier) accepts
_EC_CURVES = {"secp256r1": 256, "secp384r1": 384}  # RFC 8446 §4.2.3 ecdsa_secp{256,384}r1
# RFC 1035 §2.3.1 preferred name syntax (letters, digits, hyphens), at most 253 octets.
_DNS_NAME = re.compile(
    r"(?=.{1,253}\Z)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(?:\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*", re.ASCII
)
_PEM_CERTIFICATE = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL
)


class CredentialError(ValueError):
    """A credential or trust store file cannot be used; the message names the file."""


def _public_der(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _supported_key(key: object) -> PrivateKey:
    """``key`` if this engine can sign CertificateVerify with it (RFC 8446 §4.2.3), else raise."""
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_KEY_BITS:
            raise CredentialError(
                f"RSA key of {key.key_size} bits is too small (minimum {MIN_RSA_KEY_BITS})"
            )
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name not in _EC_CURVES:
            raise CredentialError(
                f"unsupported EC curve {key.curve.name}: use secp256r1 (P-256) or secp384r1 (P-384)"
            )
    elif not isinstance(key, ed25519.Ed25519PrivateKey):
        raise CredentialError(
            f"unsupported private key type {type(key).__name__}: "
            "use RSA (>= 2048 bits), ECDSA P-256/P-384 or Ed25519"
        )
    return key


@dataclass(frozen=True, slots=True)
class Credential:
    """A certificate chain (leaf first) and the leaf's private key (RFC 8446 §4.4.2).

    Construction checks that the chain is not empty, that the key type is supported and that
    the key matches the leaf; it raises :class:`CredentialError` otherwise.
    """

    chain: tuple[x509.Certificate, ...]
    private_key: PrivateKey
    chain_der: tuple[bytes, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.chain:
            raise CredentialError("the certificate chain is empty")
        _supported_key(self.private_key)
        leaf_key = (
            self.chain[0]
            .public_key()
            .public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        if leaf_key != _public_der(self.private_key):
            raise CredentialError("the private key does not match the first (leaf) certificate")
        der = tuple(c.public_bytes(serialization.Encoding.DER) for c in self.chain)
        object.__setattr__(self, "chain_der", der)

    @property
    def leaf(self) -> x509.Certificate:
        return self.chain[0]

    @property
    def signature_schemes(self) -> tuple[SignatureScheme, ...]:
        """The schemes this key can sign CertificateVerify with, preferred first (§4.2.3)."""
        return schemes_for_key(self.private_key)


def _read(path: StrPath, role: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise type(exc)(exc.errno, f"cannot read {role} file: {exc.strerror}", str(path)) from exc


def _load_private_key(data: bytes, path: StrPath, password: bytes | None) -> object:
    try:
        return serialization.load_pem_private_key(data, password)
    except TypeError as exc:  # cryptography: password given for a clear key, or missing
        need = "is encrypted: a password is required" if password is None else "is not encrypted"
        raise CredentialError(f"{path}: the private key {need}") from exc
    except UnsupportedAlgorithm as exc:
        raise CredentialError(f"{path}: unsupported private key algorithm ({exc})") from exc
    except ValueError as exc:
        raise CredentialError(
            f"{path}: cannot decode the PEM private key (bad data or wrong password)"
        ) from exc


def load_pem_credential(
    cert_path: StrPath, key_path: StrPath, password: bytes | None = None
) -> Credential:
    """Load a chain (PEM, leaf first) and its private key (PEM, PKCS#8 or traditional)."""
    cert_data = _read(cert_path, "certificate")
    key_data = _read(key_path, "private key")
    try:
        chain = tuple(x509.load_pem_x509_certificates(cert_data))
    except ValueError as exc:
        raise CredentialError(f"{cert_path}: no valid PEM certificate ({exc})") from exc
    key = _load_private_key(key_data, key_path, password)
    try:
        return Credential(chain, _supported_key(key))
    except CredentialError as exc:
        raise CredentialError(f"{cert_path}, {key_path}: {exc}") from exc


def load_pkcs12_credential(path: StrPath, password: bytes | None) -> Credential:
    """Load the key, the certificate and the extra certificates of a PKCS#12 file."""
    data = _read(path, "PKCS#12")
    try:
        bundle = pkcs12.load_pkcs12(data, password)
    except UnsupportedAlgorithm as exc:
        raise CredentialError(f"{path}: unsupported algorithm in PKCS#12 file ({exc})") from exc
    except ValueError as exc:
        raise CredentialError(f"{path}: not a PKCS#12 file or wrong password") from exc
    if bundle.key is None:
        raise CredentialError(f"{path}: the PKCS#12 file holds no private key")
    if bundle.cert is None:
        raise CredentialError(f"{path}: the PKCS#12 file holds no certificate for the key")
    chain = (bundle.cert.certificate, *(c.certificate for c in bundle.additional_certs))
    try:
        return Credential(chain, _supported_key(bundle.key))
    except CredentialError as exc:
        raise CredentialError(f"{path}: {exc}") from exc


def verification_subject(server_name: str) -> verification.Subject:
    """The name to verify a server certificate against: an IP address when ``server_name``
    parses as one, else a DNS name (a trailing dot is ignored).  Raises ValueError for a name
    that is neither; a client can call this when configured, to fail early."""
    try:
        return x509.IPAddress(ipaddress.ip_address(server_name))
    except ValueError:
        pass
    name = server_name.removesuffix(".")  # an absolute name matches like a relative one
    if not _DNS_NAME.fullmatch(name):
        raise ValueError(f"invalid server name {server_name!r}: not an IP address or DNS name")
    return x509.DNSName(name)


@functools.lru_cache(maxsize=64)
def _decode_certificate(der: bytes) -> x509.Certificate:
    """One certificate, fully decoded.  Cached by its DER bytes (certificates are immutable): a
    client that connects again and again to the same servers decodes their chains once."""
    certificate = x509.load_der_x509_certificate(der)
    # cryptography decodes these lazily, so decode them now: a bad field is the peer's
    # bad_certificate (RFC 8446 §6.2), not an error out of the verifier or the engine
    _ = (certificate.subject, certificate.issuer, certificate.extensions)
    certificate.public_key()
    return certificate


def _parse_chain(chain_der: Sequence[bytes], *, client: bool) -> list[x509.Certificate]:
    """Decode the peer's Certificate message entries (RFC 8446 §4.4.2)."""
    if not chain_der:
        if client:  # RFC 8446 §4.4.2.4: the server requires a certificate
            raise alert_error(AlertDescription.certificate_required, "client sent no certificate")
        # RFC 8446 §4.4.2.4: an empty server Certificate message is a decode_error
        raise alert_error(AlertDescription.decode_error, "server sent no certificate")
    if len(chain_der) > MAX_PEER_CHAIN_LENGTH:
        raise alert_error(
            AlertDescription.bad_certificate,
            f"{len(chain_der)} certificates in chain (limit {MAX_PEER_CHAIN_LENGTH})",
        )
    chain = []
    for index, der in enumerate(chain_der):
        try:
            certificate = _decode_certificate(bytes(der))
        except UnsupportedAlgorithm as exc:  # RFC 8446 §6.2: a certificate of a type we lack
            raise alert_error(
                AlertDescription.unsupported_certificate, f"certificate {index}: {exc}"
            ) from exc
        except Exception as exc:  # ValueError, InvalidVersion, DuplicateExtension, TypeError
            raise alert_error(
                AlertDescription.bad_certificate, f"certificate {index} is not valid DER: {exc}"
            ) from exc
        chain.append(certificate)
    return chain


def _alert_for(exc: verification.VerificationError, who: str) -> QuicError:
    """Map a path validation failure to its TLS alert (RFC 8446 §6.2)."""
    message = str(exc)
    if "not valid at validation time" in message:
        return alert_error(AlertDescription.certificate_expired, f"{who}: {message}")
    if (
        "no matching subjectAltName" in message
    ):  # project decision: name mismatch is bad_certificate
        return alert_error(AlertDescription.bad_certificate, f"{who}: {message}")
    if "with no interior errors" in message:  # no candidate path reached a trust anchor
        return alert_error(AlertDescription.unknown_ca, f"{who}: {message}")
    return alert_error(AlertDescription.bad_certificate, f"{who}: {message}")


class PeerVerifier(Protocol):
    """What the engine calls to authenticate the peer's Certificate message."""

    def verify_server(
        self, chain_der: Sequence[bytes], server_name: str, now: dt.datetime
    ) -> x509.Certificate: ...

    def verify_client(self, chain_der: Sequence[bytes], now: dt.datetime) -> x509.Certificate: ...


class CertificateVerifier:
    """Verifies peer chains against a fixed set of trust anchors (immutable, thread-safe)."""

    __slots__ = ("_anchor_count", "_store")

    def __init__(self, trust_anchors: Iterable[x509.Certificate]) -> None:
        anchors = list(trust_anchors)
        if not anchors:
            raise ValueError("a certificate verifier needs at least one trust anchor")
        self._store = verification.Store(anchors)
        self._anchor_count = len(anchors)

    @property
    def anchor_count(self) -> int:
        return self._anchor_count

    @classmethod
    def from_ca_file(cls, path: StrPath) -> CertificateVerifier:
        """Trust the certificates of a PEM bundle; every block must parse."""
        data = _read(path, "CA")
        try:
            anchors = x509.load_pem_x509_certificates(data)
        except ValueError as exc:
            raise CredentialError(f"{path}: no valid PEM CA certificate ({exc})") from exc
        return cls(anchors)

    @classmethod
    def from_system_store(cls) -> CertificateVerifier:
        """Trust the operating system's CA certificates, found as OpenSSL finds them.

        Sources, all used: the CA bundle file and the hashed CA directory of
        ``ssl.get_default_verify_paths()`` (which honours the ``SSL_CERT_FILE`` and
        ``SSL_CERT_DIR`` environment variables, then OpenSSL's compiled-in paths, on Debian
        ``/usr/lib/ssl/cert.pem`` and ``/usr/lib/ssl/certs``).  Only when they yield nothing is
        the ``certifi`` bundle used, if that package is installed.  Blocks that do not parse
        are skipped (system bundles carry certificates of many ages).  Raises
        :class:`CredentialError` when no CA certificate is found at all.
        """
        paths = ssl.get_default_verify_paths()
        files: list[Path] = [Path(paths.cafile)] if paths.cafile else []
        if paths.capath:
            directory = Path(paths.capath)
            files += sorted(p for p in directory.iterdir() if p.is_file())
        anchors = _read_pem_anchors(files)
        if not anchors:
            anchors = _read_pem_anchors(_certifi_bundle())
        if not anchors:
            raise CredentialError(
                "no system CA certificates found (set SSL_CERT_FILE or SSL_CERT_DIR, "
                "or pass a CA file)"
            )
        return cls(anchors)

    def verify_server(
        self, chain_der: Sequence[bytes], server_name: str, now: dt.datetime
    ) -> x509.Certificate:
        """Verify a server's chain for ``server_name`` at ``now``; return the leaf.

        ``now`` is a timezone-aware datetime, or a naive one in UTC.

        Raises QuicError (CRYPTO_ERROR + alert, see the module docstring) for a bad chain and
        ValueError for a ``server_name`` that is neither an IP address nor a DNS name.
        """
        subject = verification_subject(server_name)
        leaf, *intermediates = _parse_chain(chain_der, client=False)
        builder = verification.PolicyBuilder().store(self._store).time(now)
        try:
            verifier = builder.build_server_verifier(subject)
        except ValueError as exc:  # a name cryptography refuses though it passed our syntax
            raise ValueError(f"invalid server name {server_name!r}: {exc}") from exc
        try:
            verifier.verify(leaf, intermediates)
        except verification.VerificationError as exc:
            raise _alert_for(exc, "server certificate") from exc
        return leaf

    def verify_client(self, chain_der: Sequence[bytes], now: dt.datetime) -> x509.Certificate:
        """Verify a client's chain (mutual TLS) at ``now``; return the leaf."""
        leaf, *intermediates = _parse_chain(chain_der, client=True)
        # Client certificates commonly carry no subjectAltName: allow it to be absent.
        ee_policy = verification.ExtensionPolicy.webpki_defaults_ee().may_be_present(
            x509.SubjectAlternativeName, verification.Criticality.AGNOSTIC, None
        )
        verifier = (
            verification.PolicyBuilder()
            .store(self._store)
            .time(now)
            .extension_policies(
                ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee_policy
            )
            .build_client_verifier()
        )
        try:
            verifier.verify(leaf, intermediates)
        except verification.VerificationError as exc:
            raise _alert_for(exc, "client certificate") from exc
        return leaf


class NoVerification:
    """Accept any chain whose certificates parse and return the leaf: no trust, no name check.

    An explicit opt-out for tests and closed deployments; the peer is NOT authenticated.
    """

    __slots__ = ()

    def verify_server(
        self, chain_der: Sequence[bytes], server_name: str, now: dt.datetime
    ) -> x509.Certificate:
        return _parse_chain(chain_der, client=False)[0]

    def verify_client(self, chain_der: Sequence[bytes], now: dt.datetime) -> x509.Certificate:
        return _parse_chain(chain_der, client=True)[0]


def _read_pem_anchors(files: Iterable[Path]) -> list[x509.Certificate]:
    """Every parseable certificate of the files, without duplicates; unreadable files and
    unparseable blocks are skipped."""
    seen: set[bytes] = set()
    anchors: list[x509.Certificate] = []
    for path in files:
        try:
            data = path.read_bytes()
        except OSError:
            continue
        for block in _PEM_CERTIFICATE.findall(data):
            try:
                cert = x509.load_pem_x509_certificate(block)
            except ValueError:
                continue
            der = cert.public_bytes(serialization.Encoding.DER)
            if der not in seen:
                seen.add(der)
                anchors.append(cert)
    return anchors


def _certifi_bundle() -> list[Path]:
    """certifi's CA bundle, when the optional package is installed."""
    try:
        certifi = importlib.import_module("certifi")
    except ImportError:
        return []
    return [Path(str(certifi.where()))]
