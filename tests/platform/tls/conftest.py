"""Shared fixtures for the TLS tests: a test PKI generated once per session.

RSA key generation is slow, so every fixture here is session-scoped and built from
:func:`certs.session_pki`.  ``certs.py`` (a helper module, not a test file) describes the layout
and has helpers that issue more certificates or write PEM / PKCS#12 files
(``from certs import ...``).

``pki``
    The :class:`certs.Pki`: root and intermediate CAs; ``pki.servers[kind]`` for kind in
    ``"rsa2048"``, ``"p256"``, ``"p384"``, ``"ed25519"`` (each valid for ``localhost``,
    ``server.test``, ``127.0.0.1`` and ``::1``); ``pki.client`` (clientAuth, no
    subjectAltName); ``pki.expired``; ``pki.not_yet_valid``; ``pki.unknown_ca_server``.
    Each is a :class:`certs.Issued` with ``.key``, ``.cert``, ``.chain`` and ``.chain_der``
    (what a peer puts in its Certificate message).
``pki_now``
    A ``datetime`` at which every "valid" certificate is valid: pass it to verifiers.
``ca_file``
    Path of a PEM file holding the root CA (a trust store file).
``certificate_verifier``
    A :class:`~pyquic.platform.tls.certificates.CertificateVerifier` trusting the root CA.
``server_credential``
    The P-256 server :class:`~pyquic.platform.tls.certificates.Credential` (fast signing).
``server_credentials``
    ``dict`` from key kind to server Credential, for every kind.
``client_credential``
    The client Credential for mutual TLS.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from certs import KeyKind, Pki, session_pki, write_ca_bundle

from pyquic.platform.tls.certificates import CertificateVerifier, Credential


@pytest.fixture(scope="session")
def pki() -> Pki:
    return session_pki()


@pytest.fixture(scope="session")
def pki_now(pki: Pki) -> dt.datetime:
    return pki.now


@pytest.fixture(scope="session")
def ca_file(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_ca_bundle([pki.root.cert], tmp_path_factory.mktemp("ca") / "ca.pem")


@pytest.fixture(scope="session")
def certificate_verifier(pki: Pki) -> CertificateVerifier:
    return CertificateVerifier([pki.root.cert])


@pytest.fixture(scope="session")
def server_credentials(pki: Pki) -> dict[KeyKind, Credential]:
    return {kind: Credential(i.chain, i.key) for kind, i in pki.servers.items()}


@pytest.fixture(scope="session")
def server_credential(server_credentials: dict[KeyKind, Credential]) -> Credential:
    return server_credentials["p256"]


@pytest.fixture(scope="session")
def client_credential(pki: Pki) -> Credential:
    return Credential(pki.client.chain, pki.client.key)
