"""A throw-away PKI for the TLS tests, generated on the fly with ``cryptography``.

Not a test module: ``conftest.py`` in this directory builds one :class:`Pki` per test session
(RSA key generation is slow) and exposes it through fixtures; tests may also import the helpers
here to issue certificates of their own (``from certs import ...``).

Layout of :func:`session_pki`::

    root CA (P-256)  -->  intermediate CA (P-256)  -->  server leaves, one per key kind
                                                   -->  client leaf (clientAuth)
                                                   -->  expired / not-yet-valid server leaves
    unknown root CA  -->  server leaf that nobody trusts

Every server leaf names ``localhost``, ``server.test``, ``127.0.0.1`` and ``::1``.  Validity is
relative to :attr:`Pki.now`, the moment the PKI was built; pass ``pki.now`` to verifiers.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KeyKind = Literal["rsa2048", "p256", "p384", "ed25519"]
KEY_KINDS: tuple[KeyKind, ...] = ("rsa2048", "p256", "p384", "ed25519")
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

SERVER_DNS_NAMES = ("localhost", "server.test")
SERVER_IP_ADDRESSES = ("127.0.0.1", "::1")
DAY = dt.timedelta(days=1)


def generate_key(kind: KeyKind) -> PrivateKey:
    """A fresh private key of the given kind."""
    if kind == "rsa2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    return ed25519.Ed25519PrivateKey.generate()


def _signature_hash(key: PrivateKey) -> hashes.HashAlgorithm | None:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None  # Ed25519 signs without a separate hash
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp384r1":
        return hashes.SHA384()
    return hashes.SHA256()


@dataclass(frozen=True)
class Issued:
    """A certificate, its private key and the chain a peer sends (leaf first, no root)."""

    key: PrivateKey
    cert: x509.Certificate
    chain: tuple[x509.Certificate, ...]

    @property
    def chain_der(self) -> tuple[bytes, ...]:
        return tuple(c.public_bytes(serialization.Encoding.DER) for c in self.chain)


@dataclass(frozen=True)
class Authority:
    """A CA: its key, its certificate and the chain above it (excluding the root)."""

    key: PrivateKey
    cert: x509.Certificate
    parents: tuple[x509.Certificate, ...] = ()

    @classmethod
    def root(cls, common_name: str, now: dt.datetime) -> Authority:
        key = generate_key("p256")
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        builder = _base_builder(name, name, key.public_key(), now - DAY, now + 3650 * DAY)
        builder = _ca_extensions(builder, key.public_key(), None)
        return cls(key, builder.sign(key, _signature_hash(key)))

    def issue_ca(self, common_name: str, now: dt.datetime) -> Authority:
        key = generate_key("p256")
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        builder = _base_builder(
            name, self.cert.subject, key.public_key(), now - DAY, now + 3650 * DAY
        )
        builder = _ca_extensions(builder, key.public_key(), self.key)
        cert = builder.sign(self.key, _signature_hash(self.key))
        return Authority(key, cert, (self.cert, *self.parents))

    def issue_leaf(
        self,
        key: PrivateKey,
        *,
        not_before: dt.datetime,
        not_after: dt.datetime,
        dns_names: Sequence[str] = SERVER_DNS_NAMES,
        ip_addresses: Sequence[str] = SERVER_IP_ADDRESSES,
        server: bool = True,
        client: bool = False,
        common_name: str = "leaf",
    ) -> Issued:
        """An end-entity certificate with the given names and extended key usages."""
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        builder = _base_builder(subject, self.cert.subject, key.public_key(), not_before, not_after)
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
        names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        usages = [ExtendedKeyUsageOID.SERVER_AUTH] if server else []
        usages += [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        builder = builder.add_extension(
            x509.BasicConstraints(ca=False, path_length=None), critical=True
        )
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
            critical=False,
        )
        cert = builder.sign(self.key, _signature_hash(self.key))
        above = (self.cert, *self.parents[:-1]) if self.parents else ()  # never send the root
        return Issued(key, cert, (cert, *above))


def _base_builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _ca_extensions(
    builder: x509.CertificateBuilder,
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey,
    issuer_key: PrivateKey | None,
) -> x509.CertificateBuilder:
    builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    builder = builder.add_extension(usage, critical=True)
    signer = public_key if issuer_key is None else issuer_key.public_key()
    return builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(signer), critical=False
    )


@dataclass(frozen=True)
class Pki:
    """The session's certificates; see the module docstring for the layout."""

    now: dt.datetime
    root: Authority
    intermediate: Authority
    servers: dict[KeyKind, Issued]
    client: Issued
    expired: Issued
    not_yet_valid: Issued
    unknown_root: Authority
    unknown_ca_server: Issued

    @property
    def root_pem(self) -> bytes:
        return self.root.cert.public_bytes(serialization.Encoding.PEM)


def build_pki(now: dt.datetime | None = None) -> Pki:
    """Generate a complete :class:`Pki` valid around ``now`` (default: the current UTC time)."""
    now = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    root = Authority.root("pyquic test root", now)
    intermediate = root.issue_ca("pyquic test intermediate", now)
    valid = {"not_before": now - DAY, "not_after": now + 365 * DAY}
    servers = {kind: intermediate.issue_leaf(generate_key(kind), **valid) for kind in KEY_KINDS}
    client = intermediate.issue_leaf(
        generate_key("p256"),
        dns_names=(),
        ip_addresses=(),
        server=False,
        client=True,
        common_name="client",
        **valid,
    )
    key = servers["p256"].key
    expired = intermediate.issue_leaf(key, not_before=now - 30 * DAY, not_after=now - DAY)
    not_yet_valid = intermediate.issue_leaf(key, not_before=now + DAY, not_after=now + 30 * DAY)
    unknown_root = Authority.root("somebody else's root", now)
    unknown_ca_server = unknown_root.issue_leaf(key, **valid)
    return Pki(
        now=now,
        root=root,
        intermediate=intermediate,
        servers=servers,
        client=client,
        expired=expired,
        not_yet_valid=not_yet_valid,
        unknown_root=unknown_root,
        unknown_ca_server=unknown_ca_server,
    )


@functools.cache
def session_pki() -> Pki:
    """The one :class:`Pki` shared by every test of the session."""
    return build_pki()


def write_pem(
    issued: Issued, directory: Path, stem: str, password: bytes | None = None
) -> tuple[Path, Path]:
    """Write ``<stem>.crt`` (the chain, leaf first) and ``<stem>.key`` (PKCS#8, optionally
    encrypted with ``password``); return both paths."""
    cert_path = directory / f"{stem}.crt"
    key_path = directory / f"{stem}.key"
    cert_path.write_bytes(
        b"".join(c.public_bytes(serialization.Encoding.PEM) for c in issued.chain)
    )
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    key_path.write_bytes(
        issued.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )
    )
    return cert_path, key_path


def write_pkcs12(issued: Issued, directory: Path, stem: str, password: bytes | None) -> Path:
    """Write ``<stem>.p12`` holding the key, the leaf and the intermediates."""
    path = directory / f"{stem}.p12"
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    data = pkcs12.serialize_key_and_certificates(
        stem.encode(), issued.key, issued.cert, list(issued.chain[1:]), encryption
    )
    path.write_bytes(data)
    return path


def write_ca_bundle(certs: Sequence[x509.Certificate], path: Path) -> Path:
    """Write a PEM bundle of CA certificates (a trust store file)."""
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
    return path
