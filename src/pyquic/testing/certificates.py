"""A throw-away PKI made in memory: a CA, a server certificate and optionally a client one.

:func:`make_test_credentials` returns a :class:`TestPki` holding what a test (or a local demo)
needs to run TLS with real certificate verification: the server's
:class:`~pyquic.platform.tls.Credential`, a :class:`~pyquic.platform.tls.CertificateVerifier`
trusting the CA, and the same material as PEM bytes or files.

Design choices: every key is ECDSA P-256 (fast to generate, supported by every TLS 1.3 stack) and
is made from the operating system's randomness, so keys and signatures differ from call to call;
everything else is fixed: names, serial numbers, extensions and a validity window around the given
``now``.  The server certificate is issued directly by the CA (the chain sent is the leaf alone)
and carries the hostnames as subjectAltNames (IP literals as IP addresses), so it passes the Web
PKI profile :class:`~pyquic.platform.tls.CertificateVerifier` applies.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pyquic.platform.tls import CertificateVerifier, Credential

__all__ = ["PemFiles", "TestPki", "make_test_credentials"]

_CA_SERIAL, _SERVER_SERIAL, _CLIENT_SERIAL = 1, 2, 3
_DEFAULT_VALIDITY = dt.timedelta(days=30)
_BACKDATE = dt.timedelta(days=1)  # certificates start before ``now`` to tolerate clock skew


@dataclass(frozen=True, slots=True)
class PemFiles:
    """Where :meth:`TestPki.write_pem` wrote each file; the client pair is ``None`` without one."""

    ca_certificate: Path
    server_certificate: Path
    server_key: Path
    client_certificate: Path | None
    client_key: Path | None


@dataclass(frozen=True, slots=True)
class TestPki:
    """A CA, the server credential it issued, optionally a client credential, and a verifier."""

    __test__ = False  # not a pytest test class, despite the name

    now: dt.datetime
    hostnames: tuple[str, ...]
    ca_certificate: x509.Certificate
    ca_key: ec.EllipticCurvePrivateKey
    server_credential: Credential
    client_credential: Credential | None
    verifier: CertificateVerifier  # trusts the CA; for a client and for mutual TLS on a server

    @property
    def server_name(self) -> str:
        """The first hostname: the name a client should ask for."""
        return self.hostnames[0]

    @property
    def ca_pem(self) -> bytes:
        return self.ca_certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def server_chain_pem(self) -> bytes:
        return _chain_pem(self.server_credential)

    @property
    def server_key_pem(self) -> bytes:
        return _key_pem(self.server_credential)

    @property
    def client_chain_pem(self) -> bytes | None:
        return None if self.client_credential is None else _chain_pem(self.client_credential)

    @property
    def client_key_pem(self) -> bytes | None:
        return None if self.client_credential is None else _key_pem(self.client_credential)

    def write_pem(self, directory: str | os.PathLike[str]) -> PemFiles:
        """Write ``ca.pem``, ``server.pem``/``server.key`` and, with a client credential,
        ``client.pem``/``client.key`` (unencrypted PKCS#8 keys, mode 0600) into ``directory``."""
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        ca = root / "ca.pem"
        ca.write_bytes(self.ca_pem)
        server_cert, server_key = _write_pair(root, "server", self.server_credential)
        client_cert = client_key = None
        if self.client_credential is not None:
            client_cert, client_key = _write_pair(root, "client", self.client_credential)
        return PemFiles(ca, server_cert, server_key, client_cert, client_key)


def make_test_credentials(
    hostnames: Sequence[str] = ("localhost",),
    *,
    now: dt.datetime | None = None,
    validity: dt.timedelta = _DEFAULT_VALIDITY,
    client_certificate: bool = False,
) -> TestPki:
    """Generate a CA and a server certificate for ``hostnames`` (DNS names or IP literals).

    The certificates are valid from one day before ``now`` (default: the current UTC time; a
    naive datetime is taken as UTC) until ``now + validity``.  With ``client_certificate`` a
    client certificate for mutual TLS is issued too.
    """
    if not hostnames:
        raise ValueError("at least one hostname is required")
    if validity <= dt.timedelta(0):
        raise ValueError("validity must be positive")
    moment = _utc(now if now is not None else dt.datetime.now(dt.UTC))
    not_before, not_after = moment - _BACKDATE, moment + validity
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("pyquic test CA")
    ca = _builder(ca_name, ca_name, ca_key, _CA_SERIAL, not_before, not_after)
    ca = ca.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
    ca = ca.add_extension(_key_usage(ca=True), critical=True)
    ca = ca.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
    )
    ca_certificate = ca.sign(ca_key, hashes.SHA256())
    issue = _Issuer(ca_certificate, ca_key, not_before, not_after)
    server = issue.leaf("pyquic test server", _SERVER_SERIAL, tuple(hostnames), client=False)
    client = (
        issue.leaf("pyquic test client", _CLIENT_SERIAL, (), client=True)
        if client_certificate
        else None
    )
    return TestPki(
        now=moment,
        hostnames=tuple(hostnames),
        ca_certificate=ca_certificate,
        ca_key=ca_key,
        server_credential=server,
        client_credential=client,
        verifier=CertificateVerifier([ca_certificate]),
    )


@dataclass(frozen=True, slots=True)
class _Issuer:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    not_before: dt.datetime
    not_after: dt.datetime

    def leaf(
        self, common_name: str, serial: int, hostnames: tuple[str, ...], *, client: bool
    ) -> Credential:
        """An end-entity credential: serverAuth with the names as SANs, or clientAuth."""
        key = ec.generate_private_key(ec.SECP256R1())
        builder = _builder(
            _name(common_name),
            self.certificate.subject,
            key,
            serial,
            self.not_before,
            self.not_after,
        )
        if hostnames:
            sans = [_general_name(host) for host in hostnames]
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        builder = builder.add_extension(_key_usage(ca=False), critical=True)
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
            critical=False,
        )
        return Credential((builder.sign(self.key, hashes.SHA256()),), key)


def _utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).replace(microsecond=0)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    serial: int,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.CertificateBuilder:
    public_key = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _chain_pem(credential: Credential) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in credential.chain)


def _key_pem(credential: Credential) -> bytes:
    return credential.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_pair(root: Path, stem: str, credential: Credential) -> tuple[Path, Path]:
    certificate, key = root / f"{stem}.pem", root / f"{stem}.key"
    certificate.write_bytes(_chain_pem(credential))
    key.touch(mode=0o600)
    key.chmod(0o600)
    key.write_bytes(_key_pem(credential))
    return certificate, key
