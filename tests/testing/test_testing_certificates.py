"""pyquic.testing.certificates: the in-memory test PKI, checked with the project's own verifier
and TLS engine."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest
from cryptography import x509

from pyquic.core.errors import QuicError
from pyquic.platform.tls import (
    CertificateVerifier,
    ClientSession,
    EncryptionLevel,
    HandshakeCompleted,
    PeerCertificateReceived,
    ServerSession,
    TlsConfig,
    load_pem_credential,
)
from pyquic.testing import TestPki, make_test_credentials

NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
LEVELS = (EncryptionLevel.INITIAL, EncryptionLevel.HANDSHAKE, EncryptionLevel.APPLICATION)


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return make_test_credentials(
        ("localhost", "127.0.0.1", "::1"), now=NOW, client_certificate=True
    )


def test_server_chain_verifies_for_every_name(pki: TestPki) -> None:
    chain = pki.server_credential.chain_der
    assert len(chain) == 1  # the leaf alone; the CA is the trust anchor
    for name in ("localhost", "127.0.0.1", "::1"):
        assert pki.verifier.verify_server(chain, name, NOW) == pki.server_credential.leaf
    assert pki.server_name == "localhost"
    with pytest.raises(QuicError):
        pki.verifier.verify_server(chain, "example.com", NOW)


def test_validity_window_is_around_now(pki: TestPki) -> None:
    chain = pki.server_credential.chain_der
    leaf = pki.server_credential.leaf
    assert leaf.not_valid_before_utc == NOW - dt.timedelta(days=1)
    assert leaf.not_valid_after_utc == NOW + dt.timedelta(days=30)
    pki.verifier.verify_server(chain, "localhost", NOW + dt.timedelta(days=29))
    with pytest.raises(QuicError, match=r"expired|not valid"):
        pki.verifier.verify_server(chain, "localhost", NOW + dt.timedelta(days=31))
    with pytest.raises(QuicError):
        pki.verifier.verify_server(chain, "localhost", NOW - dt.timedelta(days=2))


def test_client_certificate_verifies_for_mutual_tls(pki: TestPki) -> None:
    client = pki.client_credential
    assert client is not None
    assert pki.verifier.verify_client(client.chain_der, NOW) == client.leaf
    assert make_test_credentials(now=NOW).client_credential is None


def test_structure_is_fixed_but_keys_are_fresh() -> None:
    first, second = make_test_credentials(now=NOW), make_test_credentials(now=NOW)
    a, b = first.server_credential.leaf, second.server_credential.leaf
    assert (a.serial_number, a.subject, a.issuer) == (b.serial_number, b.subject, b.issuer)
    assert a.extensions.get_extension_for_class(x509.SubjectAlternativeName).value == (
        b.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    )
    assert a.public_key() != b.public_key()
    with pytest.raises(QuicError):  # each PKI trusts only its own CA
        first.verifier.verify_server(second.server_credential.chain_der, "localhost", NOW)


def test_naive_now_is_utc_and_bad_arguments_are_refused() -> None:
    naive = make_test_credentials(now=dt.datetime(2025, 3, 1, 12, 0, 0, 999))
    assert naive.now == NOW
    with pytest.raises(ValueError, match="hostname"):
        make_test_credentials(())
    with pytest.raises(ValueError, match="validity"):
        make_test_credentials(validity=dt.timedelta(0))


def test_pem_round_trip(pki: TestPki, tmp_path: Path) -> None:
    files = pki.write_pem(tmp_path / "pki")
    assert files.client_certificate is not None and files.client_key is not None
    server = load_pem_credential(files.server_certificate, files.server_key)
    assert server.chain_der == pki.server_credential.chain_der
    client = load_pem_credential(files.client_certificate, files.client_key)
    assert pki.client_credential is not None
    assert client.chain_der == pki.client_credential.chain_der
    verifier = CertificateVerifier.from_ca_file(files.ca_certificate)
    verifier.verify_server(server.chain_der, "localhost", NOW)
    assert stat.S_IMODE(files.server_key.stat().st_mode) == 0o600
    assert files.ca_certificate.read_bytes() == pki.ca_pem
    assert pki.server_key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert pki.client_chain_pem is not None and pki.client_key_pem is not None
    no_client = make_test_credentials(now=NOW)
    assert no_client.client_chain_pem is None and no_client.client_key_pem is None
    assert no_client.write_pem(tmp_path / "other").client_key is None


def test_mutual_tls_handshake_with_the_engine(pki: TestPki) -> None:
    clock = NOW.timestamp
    client = ClientSession(
        TlsConfig(
            is_client=True,
            alpn_protocols=(b"hq-interop",),
            server_name=pki.server_name,
            verifier=pki.verifier,
            credential=pki.client_credential,
            wall_clock=clock,
        ),
        b"\x01\x02",
    )
    server = ServerSession(
        TlsConfig(
            is_client=False,
            alpn_protocols=(b"hq-interop",),
            credential=pki.server_credential,
            verifier=pki.verifier,
            require_client_certificate=True,
            wall_clock=clock,
        ),
        b"\x03\x04",
    )
    client.start()
    server.start()
    for _ in range(10):
        for sender, receiver in ((client, server), (server, client)):
            for level in LEVELS:
                data = sender.data_to_send(level)
                if data:
                    receiver.receive(level, data)
    assert client.handshake_complete and server.handshake_complete
    events = [client.poll_event() for _ in range(10)] + [server.poll_event() for _ in range(10)]
    assert sum(isinstance(e, HandshakeCompleted) for e in events) == 2
    assert sum(isinstance(e, PeerCertificateReceived) for e in events) == 2
