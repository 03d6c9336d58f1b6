"""Fixtures of the HTTP/3 tests: a PKI for "localhost", random files, and peer processes
(managed by the interop tests' :class:`interop_peers.Processes`: always killed at teardown)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "interop"))

from interop_peers import Processes

from pyquic.testing.certificates import PemFiles, make_test_credentials


@pytest.fixture(scope="session")
def h3_pem(tmp_path_factory: pytest.TempPathFactory) -> PemFiles:
    return make_test_credentials(("localhost", "127.0.0.1")).write_pem(
        tmp_path_factory.mktemp("h3-pki")
    )


@pytest.fixture
def h3_processes(tmp_path: Path) -> Iterator[Processes]:
    logs = tmp_path / "logs"
    logs.mkdir()
    manager = Processes(logs)
    try:
        yield manager
    finally:
        manager.close()
