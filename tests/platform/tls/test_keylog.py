"""The NSS key log format and the SSLKEYLOGFILE writer."""

from __future__ import annotations

import os
import stat
import sys
import threading
from pathlib import Path

import pytest
from openssl_oracle import run_openssl_handshake

from pyquic.platform.tls.keylog import (
    SSLKEYLOGFILE,
    KeyLogFile,
    KeyLogLabel,
    KeyLogSink,
    key_log_file_from_environment,
    key_log_line,
)

RANDOM = bytes(range(32))


def test_line_format() -> None:
    line = key_log_line(KeyLogLabel.CLIENT_HANDSHAKE_TRAFFIC_SECRET, RANDOM, b"\xab\x01")
    assert line == "CLIENT_HANDSHAKE_TRAFFIC_SECRET " + RANDOM.hex() + " ab01\n"
    assert {label.value for label in KeyLogLabel} == {
        "CLIENT_EARLY_TRAFFIC_SECRET",
        "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
        "SERVER_HANDSHAKE_TRAFFIC_SECRET",
        "CLIENT_TRAFFIC_SECRET_0",
        "SERVER_TRAFFIC_SECRET_0",
        "EXPORTER_SECRET",
    }


def test_line_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        key_log_line(KeyLogLabel.EXPORTER_SECRET, RANDOM[:31], bytes(32))
    with pytest.raises(ValueError):
        key_log_line(KeyLogLabel.EXPORTER_SECRET, RANDOM, b"")
    with pytest.raises(ValueError):
        key_log_line("SECRET", RANDOM, bytes(32))


def test_lines_match_what_openssl_logs() -> None:
    session = run_openssl_handshake("TLS_AES_256_GCM_SHA384")
    checked = set()
    for raw in session.key_log:
        name, random_hex, secret_hex = raw.decode("ascii").split(" ")
        label = KeyLogLabel(name)
        ours = key_log_line(label, bytes.fromhex(random_hex), bytes.fromhex(secret_hex))
        assert ours == raw.decode("ascii") + "\n"
        checked.add(label)
    assert len(checked) == 5  # everything but the early secret, which needs 0-RTT


def test_file_appends_line_buffered(tmp_path: Path) -> None:
    path = tmp_path / "keys.log"
    path.write_text("# existing\n")
    sink: KeyLogSink
    with KeyLogFile(path) as sink:
        line = key_log_line(KeyLogLabel.SERVER_TRAFFIC_SECRET_0, RANDOM, bytes(32))
        sink(line)
        # Line-buffered: visible to a reader (Wireshark) before the file is closed.
        assert path.read_text() == "# existing\n" + line
        assert not sink.closed
    assert sink.closed
    assert path.read_text() == "# existing\n" + line


def test_new_file_is_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "secret.log"
    KeyLogFile(path).close()
    assert stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0


def test_write_rejects_partial_lines_and_closed_file(tmp_path: Path) -> None:
    log = KeyLogFile(str(tmp_path / "k.log"))
    for bad in ("no newline", "two\nlines\n", ""):
        with pytest.raises(ValueError):
            log.write(bad)
    log.close()
    log.close()  # idempotent
    with pytest.raises(ValueError):
        log.write(key_log_line(KeyLogLabel.EXPORTER_SECRET, RANDOM, bytes(32)))


def _secret(index: int, n: int) -> bytes:
    return index.to_bytes(2, "big") + n.to_bytes(2, "big") + bytes(44)


def _write_concurrently(path: Path, threads_count: int, per_thread: int) -> None:
    start = threading.Barrier(threads_count)
    with KeyLogFile(path) as log:

        def writer(index: int) -> None:
            start.wait()  # all threads write at once
            for n in range(per_thread):
                log(key_log_line(KeyLogLabel.CLIENT_TRAFFIC_SECRET_0, RANDOM, _secret(index, n)))

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(threads_count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def test_concurrent_writers_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "threads.log"
    threads_count, per_thread = 8, 400
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible to provoke interleaving
    try:
        _write_concurrently(path, threads_count, per_thread)
    finally:
        sys.setswitchinterval(old_interval)
    lines = path.read_text().splitlines()
    assert len(lines) == threads_count * per_thread
    expected = {
        key_log_line(KeyLogLabel.CLIENT_TRAFFIC_SECRET_0, RANDOM, _secret(i, n)).rstrip("\n")
        for i in range(threads_count)
        for n in range(per_thread)
    }
    assert set(lines) == expected


def test_from_environment(tmp_path: Path) -> None:
    assert key_log_file_from_environment({}) is None
    assert key_log_file_from_environment({SSLKEYLOGFILE: ""}) is None
    path = tmp_path / "env.log"
    log = key_log_file_from_environment({SSLKEYLOGFILE: str(path)})
    assert log is not None
    try:
        assert log.path == str(path)
        assert path.exists()
    finally:
        log.close()
