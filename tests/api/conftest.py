"""Fixtures for the MsQuic-style API tests: a throw-away PKI on disk and a registration."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pyquic.api import Registration
from pyquic.testing.certificates import PemFiles, TestPki, make_test_credentials


@pytest.fixture(scope="session")
def pki() -> TestPki:
    return make_test_credentials(["localhost", "127.0.0.1", "::1"], client_certificate=True)


@pytest.fixture(scope="session")
def pem(pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> PemFiles:
    return pki.write_pem(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def registration() -> Iterator[Registration]:
    with Registration("api-test") as registration:
        yield registration
