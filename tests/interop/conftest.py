"""Fixtures of the interop tests: a test PKI on disk, the files served, and process management.

Every peer runs as a real process over loopback; :class:`interop_peers.Processes` kills whatever
a test left running, even when the test fails or times out.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from interop_peers import MANY, SIZES, Documents, Processes

from pyquic.testing.certificates import PemFiles, make_test_credentials


@pytest.fixture(scope="session")
def pem(tmp_path_factory: pytest.TempPathFactory) -> PemFiles:
    """A CA, and a server certificate for "localhost" issued by it, as PEM files."""
    return make_test_credentials(("localhost",)).write_pem(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def documents(tmp_path_factory: pytest.TempPathFactory) -> Documents:
    """Random files: 1 KiB, 5 MiB, 20 MiB, and 100 small ones of different sizes."""
    root = tmp_path_factory.mktemp("www")
    (root / "many").mkdir()
    files = {name: size for name, size in SIZES.items()}
    files.update({f"many/f{index:02d}": 100 + 37 * index for index in range(MANY)})
    digests = {}
    for name, size in files.items():
        data = os.urandom(size)
        (root / name).write_bytes(data)
        digests[name] = hashlib.sha256(data).hexdigest()
    return Documents(root, digests)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    """Start peers with ``processes.start(...)``; all of them are ended after the test."""
    logs = tmp_path / "logs"
    logs.mkdir()
    manager = Processes(logs)
    try:
        yield manager
    finally:
        manager.close()
