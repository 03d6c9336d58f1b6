"""Credentials (PEM, PKCS#12) and peer chain verification with its TLS alerts (RFC 8446 §4.4.2,
§6.2; RFC 9001 §4.8: CRYPTO_ERROR = 0x100 + alert)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from certs import (
    KEY_KINDS,
    Issued,
    KeyKind,
    Pki,
    generate_key,
    write_ca_bundle,
    write_pem,
    write_pkcs12,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec

from pyquic.core.errors import QuicError
from pyquic.platform.tls.certificates import (
    MAX_PEER_CHAIN_LENGTH,
    CertificateVerifier,
    Credential,
    CredentialError,
    NoVerification,
    load_pem_credential,
    load_pkcs12_credential,
    verification_subject,
)
from pyquic.platform.tls.constants import SignatureScheme

BAD_CERTIFICATE = 0x100 + 42
CERTIFICATE_EXPIRED = 0x100 + 45
UNKNOWN_CA = 0x100 + 48
DECODE_ERROR = 0x100 + 50
CERTIFICATE_REQUIRED = 0x100 + 116


# -- loading credentials ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", KEY_KINDS)
def test_load_pem_credential_each_key_kind(pki: Pki, tmp_path: Path, kind: KeyKind) -> None:
    issued = pki.servers[kind]
    cert_path, key_path = write_pem(issued, tmp_path, kind)
    credential = load_pem_credential(cert_path, key_path)
    assert credential.chain == issued.chain
    assert credential.leaf == issued.cert
    assert credential.chain_der == issued.chain_der
    assert len(credential.chain) == 2  # leaf and intermediate, never the root


def test_load_encrypted_pem_key(pki: Pki, tmp_path: Path) -> None:
    cert_path, key_path = write_pem(pki.servers["p256"], tmp_path, "enc", password=b"s3cret")
    credential = load_pem_credential(str(cert_path), str(key_path), password=b"s3cret")
    assert credential.leaf == pki.servers["p256"].cert
    with pytest.raises(CredentialError, match="encrypted: a password is required"):
        load_pem_credential(cert_path, key_path)
    with pytest.raises(CredentialError, match=r"enc\.key.*wrong password"):
        load_pem_credential(cert_path, key_path, password=b"wrong")


def test_password_for_clear_key_is_an_error(pki: Pki, tmp_path: Path) -> None:
    cert_path, key_path = write_pem(pki.servers["p256"], tmp_path, "clear")
    with pytest.raises(CredentialError, match="not encrypted"):
        load_pem_credential(cert_path, key_path, password=b"unneeded")


@pytest.mark.parametrize("kind", KEY_KINDS)
def test_load_pkcs12_credential_each_key_kind(pki: Pki, tmp_path: Path, kind: KeyKind) -> None:
    issued = pki.servers[kind]
    path = write_pkcs12(issued, tmp_path, kind, b"pw")
    credential = load_pkcs12_credential(path, b"pw")
    assert credential.chain == issued.chain


def test_load_pkcs12_without_password(pki: Pki, tmp_path: Path) -> None:
    path = write_pkcs12(pki.client, tmp_path, "client", None)
    assert load_pkcs12_credential(path, None).leaf == pki.client.cert


def test_pkcs12_wrong_password_and_garbage(pki: Pki, tmp_path: Path) -> None:
    path = write_pkcs12(pki.servers["p256"], tmp_path, "s", b"pw")
    with pytest.raises(CredentialError, match=r"s\.p12: not a PKCS#12 file or wrong password"):
        load_pkcs12_credential(path, b"nope")
    garbage = tmp_path / "garbage.p12"
    garbage.write_bytes(b"\x30\x03junk")
    with pytest.raises(CredentialError, match=r"garbage\.p12"):
        load_pkcs12_credential(garbage, None)


def test_missing_files_raise_oserror_naming_the_file(pki: Pki, tmp_path: Path) -> None:
    cert_path, key_path = write_pem(pki.servers["p256"], tmp_path, "s")
    with pytest.raises(FileNotFoundError, match="cannot read certificate file") as info:
        load_pem_credential(tmp_path / "none.crt", key_path)
    assert info.value.filename == str(tmp_path / "none.crt")
    with pytest.raises(FileNotFoundError, match="cannot read private key file"):
        load_pem_credential(cert_path, tmp_path / "none.key")
    with pytest.raises(FileNotFoundError, match=r"none\.p12"):
        load_pkcs12_credential(tmp_path / "none.p12", None)
    with pytest.raises(FileNotFoundError, match="cannot read CA file"):
        CertificateVerifier.from_ca_file(tmp_path / "none.pem")


def test_key_not_matching_certificate(pki: Pki, tmp_path: Path) -> None:
    cert_path, _ = write_pem(pki.servers["p256"], tmp_path, "a")
    _, other_key = write_pem(pki.servers["p384"], tmp_path, "b")
    with pytest.raises(CredentialError, match=r"a\.crt, .*b\.key: the private key does not match"):
        load_pem_credential(cert_path, other_key)
    with pytest.raises(CredentialError, match="does not match"):
        Credential(pki.servers["p256"].chain, pki.servers["p384"].key)


def test_not_pem_data(pki: Pki, tmp_path: Path) -> None:
    _, key_path = write_pem(pki.servers["p256"], tmp_path, "s")
    bogus = tmp_path / "bogus.crt"
    bogus.write_text("hello\n")
    with pytest.raises(CredentialError, match=r"bogus\.crt: no valid PEM certificate"):
        load_pem_credential(bogus, key_path)
    with pytest.raises(CredentialError, match=r"bogus\.crt: cannot decode the PEM private key"):
        load_pem_credential(key_path.with_suffix(".crt"), bogus)
    with pytest.raises(CredentialError, match=r"bogus\.crt: no valid PEM CA certificate"):
        CertificateVerifier.from_ca_file(bogus)


def _self_signed_with(key: dsa.DSAPrivateKey | ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "odd key")])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


def test_unsupported_key_types(tmp_path: Path) -> None:
    secp521 = ec.generate_private_key(ec.SECP521R1())
    issued = Issued(secp521, _self_signed_with(secp521), (_self_signed_with(secp521),))
    cert_path, key_path = write_pem(issued, tmp_path, "p521")
    with pytest.raises(CredentialError, match=r"p521\.key: unsupported EC curve secp521r1"):
        load_pem_credential(cert_path, key_path)
    dsa_key = dsa.generate_private_key(2048)
    with pytest.raises(CredentialError, match="unsupported private key type"):
        Credential((_self_signed_with(dsa_key),), dsa_key)  # type: ignore[arg-type]
    with pytest.raises(CredentialError, match="empty"):
        Credential((), generate_key("p256"))


def test_signature_schemes_follow_the_key(server_credentials: dict[KeyKind, Credential]) -> None:
    assert server_credentials["rsa2048"].signature_schemes[0] == (
        SignatureScheme.RSA_PSS_RSAE_SHA256
    )
    assert server_credentials["p256"].signature_schemes == (SignatureScheme.ECDSA_SECP256R1_SHA256,)
    assert server_credentials["p384"].signature_schemes == (SignatureScheme.ECDSA_SECP384R1_SHA384,)
    assert server_credentials["ed25519"].signature_schemes == (SignatureScheme.ED25519,)


# -- verifying a server ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KEY_KINDS)
@pytest.mark.parametrize("name", ["localhost", "server.test", "SERVER.test.", "127.0.0.1", "::1"])
def test_verify_server_by_dns_name_and_ip(
    pki: Pki, certificate_verifier: CertificateVerifier, kind: KeyKind, name: str
) -> None:
    issued = pki.servers[kind]
    leaf = certificate_verifier.verify_server(issued.chain_der, name, pki.now)
    assert leaf == issued.cert


def test_verify_server_from_ca_file(pki: Pki, ca_file: Path) -> None:
    verifier = CertificateVerifier.from_ca_file(ca_file)
    assert verifier.anchor_count == 1
    assert verifier.verify_server(pki.servers["p256"].chain_der, "localhost", pki.now)


def _server_error(
    verifier: CertificateVerifier, chain: list[bytes], name: str, now: dt.datetime
) -> QuicError:
    with pytest.raises(QuicError) as info:
        verifier.verify_server(chain, name, now)
    return info.value


def test_server_host_name_mismatch_is_bad_certificate(
    pki: Pki, certificate_verifier: CertificateVerifier
) -> None:
    chain = list(pki.servers["p256"].chain_der)
    for name in ("other.test", "127.0.0.2", "::2"):
        err = _server_error(certificate_verifier, chain, name, pki.now)
        assert err.error_code == BAD_CERTIFICATE
        assert "subjectAltName" in err.reason


def test_server_expired_and_not_yet_valid(
    pki: Pki, certificate_verifier: CertificateVerifier
) -> None:
    for issued in (pki.expired, pki.not_yet_valid):
        err = _server_error(certificate_verifier, list(issued.chain_der), "localhost", pki.now)
        assert err.error_code == CERTIFICATE_EXPIRED
        assert err.tls_alert == 45
    later = pki.now + dt.timedelta(days=400)  # the valid leaf expires after a year
    err = _server_error(certificate_verifier, list(pki.servers["p256"].chain_der), "::1", later)
    assert err.error_code == CERTIFICATE_EXPIRED


def test_server_expired_intermediate(pki: Pki, certificate_verifier: CertificateVerifier) -> None:
    old_ca = pki.root.issue_ca("retired intermediate", pki.now - dt.timedelta(days=5000))
    leaf = old_ca.issue_leaf(
        pki.servers["p256"].key,
        not_before=pki.now - dt.timedelta(days=1),
        not_after=pki.now + dt.timedelta(days=1),
    )
    err = _server_error(certificate_verifier, list(leaf.chain_der), "localhost", pki.now)
    assert err.error_code == CERTIFICATE_EXPIRED


def test_server_unknown_ca(pki: Pki, certificate_verifier: CertificateVerifier) -> None:
    chain = list(pki.unknown_ca_server.chain_der)
    assert _server_error(certificate_verifier, chain, "localhost", pki.now).error_code == UNKNOWN_CA
    missing_intermediate = [pki.servers["p256"].chain_der[0]]
    err = _server_error(certificate_verifier, missing_intermediate, "localhost", pki.now)
    assert err.error_code == UNKNOWN_CA


def test_server_chain_decoding_failures(
    pki: Pki, certificate_verifier: CertificateVerifier
) -> None:
    assert _server_error(certificate_verifier, [], "localhost", pki.now).error_code == DECODE_ERROR
    garbage = [b"\x30\x82\x00\x01\x00"]
    assert _server_error(certificate_verifier, garbage, "localhost", pki.now).error_code == (
        BAD_CERTIFICATE
    )
    leaf = pki.servers["p256"].chain_der[0]
    too_long = [leaf] * (MAX_PEER_CHAIN_LENGTH + 1)
    err = _server_error(certificate_verifier, too_long, "localhost", pki.now)
    assert err.error_code == BAD_CERTIFICATE
    assert "limit" in err.reason


def test_client_certificate_presented_as_server_is_bad_certificate(
    pki: Pki, certificate_verifier: CertificateVerifier
) -> None:
    err = _server_error(certificate_verifier, list(pki.client.chain_der), "localhost", pki.now)
    assert err.error_code == BAD_CERTIFICATE


def test_invalid_server_names_are_value_errors(
    pki: Pki, certificate_verifier: CertificateVerifier
) -> None:
    assert isinstance(verification_subject("127.0.0.1"), x509.IPAddress)
    assert verification_subject("example.com.") == x509.DNSName("example.com")
    for name in ("", "bad name", "-lead.test", "a..b", "*.test", "x" * 64 + ".test"):
        with pytest.raises(ValueError, match="invalid server name"):
            verification_subject(name)
        with pytest.raises(ValueError, match="invalid server name"):
            certificate_verifier.verify_server(pki.servers["p256"].chain_der, name, pki.now)


# -- verifying a client (mutual TLS) -----------------------------------------------------------


def test_verify_client(pki: Pki, certificate_verifier: CertificateVerifier) -> None:
    assert certificate_verifier.verify_client(pki.client.chain_der, pki.now) == pki.client.cert


def test_client_failures(pki: Pki, certificate_verifier: CertificateVerifier) -> None:
    def code(chain: tuple[bytes, ...], now: dt.datetime = pki.now) -> int:
        with pytest.raises(QuicError) as info:
            certificate_verifier.verify_client(chain, now)
        return info.value.error_code

    assert code(()) == CERTIFICATE_REQUIRED
    assert code(pki.client.chain_der, pki.now + dt.timedelta(days=400)) == CERTIFICATE_EXPIRED
    stranger = pki.unknown_root.issue_leaf(
        generate_key("p256"),
        not_before=pki.now - dt.timedelta(days=1),
        not_after=pki.now + dt.timedelta(days=1),
        server=False,
        client=True,
    )
    assert code(stranger.chain_der) == UNKNOWN_CA
    assert code(pki.servers["p256"].chain_der) == BAD_CERTIFICATE  # serverAuth only
    assert code((b"junk",)) == BAD_CERTIFICATE


# -- trust stores and the opt-out --------------------------------------------------------------


def test_system_store_honours_ssl_cert_file(
    pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = write_ca_bundle([pki.unknown_root.cert, pki.root.cert], tmp_path / "bundle.pem")
    with bundle.open("ab") as f:  # a block that does not parse is skipped
        f.write(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "no-such-dir"))
    verifier = CertificateVerifier.from_system_store()
    assert verifier.anchor_count == 2
    assert verifier.verify_server(pki.unknown_ca_server.chain_der, "localhost", pki.now)


def test_system_store_reads_the_ca_directory(
    pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "certs"
    directory.mkdir()
    write_ca_bundle([pki.root.cert], directory / "abcd1234.0")
    write_ca_bundle([pki.root.cert], directory / "root.pem")  # duplicates count once
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-file"))
    monkeypatch.setenv("SSL_CERT_DIR", str(directory))
    verifier = CertificateVerifier.from_system_store()
    assert verifier.anchor_count == 1
    assert verifier.verify_server(pki.servers["p256"].chain_der, "localhost", pki.now)


def test_empty_trust_store_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one trust anchor"):
        CertificateVerifier([])


def test_no_verification_accepts_any_parseable_chain(pki: Pki) -> None:
    opt_out = NoVerification()
    for issued in (pki.expired, pki.unknown_ca_server, pki.servers["ed25519"]):
        assert opt_out.verify_server(issued.chain_der, "anything.test", pki.now) == issued.cert
    assert opt_out.verify_client(pki.unknown_ca_server.chain_der, pki.now) == (
        pki.unknown_ca_server.cert
    )
    with pytest.raises(QuicError) as info:
        opt_out.verify_server([b"junk"], "x.test", pki.now)
    assert info.value.error_code == BAD_CERTIFICATE
    with pytest.raises(QuicError) as info:
        opt_out.verify_client([], pki.now)
    assert info.value.error_code == CERTIFICATE_REQUIRED
