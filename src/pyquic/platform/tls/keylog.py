"""TLS secrets in the NSS key log format, for Wireshark and other decoders (SSLKEYLOGFILE).

Design: the TLS engine formats one line per secret with :func:`key_log_line` and hands it to a
:data:`KeyLogSink`, any ``Callable[[str], None]``, so tests and applications can capture lines in
memory.  :class:`KeyLogFile` is the file sink: it appends, is line-buffered (each secret reaches the
file as soon as it is derived, so a capture can be decrypted while the connection runs) and
serialises writers with a lock, since connections on several worker threads may share one file.
A new file is created readable by its owner only, because it holds live traffic secrets.

Format (NSS "Key Log Format", the one Wireshark reads): ``<LABEL> <client_random hex>
<secret hex>\\n``, where client_random is the 32-byte ClientHello.random (RFC 8446 §4.1.2) that
identifies the connection; the TLS 1.3 labels name the secrets of RFC 8446 §7.1.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from enum import StrEnum
from types import TracebackType
from typing import TextIO

BytesLike = bytes | bytearray | memoryview

KeyLogSink = Callable[[str], None]

CLIENT_RANDOM_LENGTH = 32  # RFC 8446 §4.1.2: ClientHello.random
SSLKEYLOGFILE = "SSLKEYLOGFILE"  # the conventional environment variable naming the file


class KeyLogLabel(StrEnum):
    """NSS key log labels for the TLS 1.3 secrets (RFC 8446 §7.1 names in comments)."""

    CLIENT_EARLY_TRAFFIC_SECRET = "CLIENT_EARLY_TRAFFIC_SECRET"  # client_early_traffic_secret
    CLIENT_HANDSHAKE_TRAFFIC_SECRET = "CLIENT_HANDSHAKE_TRAFFIC_SECRET"  # c hs traffic
    SERVER_HANDSHAKE_TRAFFIC_SECRET = "SERVER_HANDSHAKE_TRAFFIC_SECRET"  # s hs traffic
    CLIENT_TRAFFIC_SECRET_0 = "CLIENT_TRAFFIC_SECRET_0"  # client_application_traffic_secret_0
    SERVER_TRAFFIC_SECRET_0 = "SERVER_TRAFFIC_SECRET_0"  # server_application_traffic_secret_0
    EXPORTER_SECRET = "EXPORTER_SECRET"  # exporter_secret


def key_log_line(label: KeyLogLabel, client_random: BytesLike, secret: BytesLike) -> str:
    """One key log line, newline included: ``LABEL <client_random hex> <secret hex>\\n``."""
    if len(client_random) != CLIENT_RANDOM_LENGTH:
        raise ValueError(
            f"client_random must be {CLIENT_RANDOM_LENGTH} bytes, got {len(client_random)}"
        )
    if len(secret) == 0:
        raise ValueError("cannot log an empty secret")
    return f"{KeyLogLabel(label).value} {bytes(client_random).hex()} {bytes(secret).hex()}\n"


class KeyLogFile:
    """A thread-safe, line-buffered, append-only key log file; callable as a :data:`KeyLogSink`."""

    __slots__ = ("_file", "_lock", "path")

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        # Owner-only permissions on creation: the file holds traffic secrets.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            self._file: TextIO | None = open(  # noqa: SIM115 - closed by close()
                fd, "a", buffering=1, encoding="ascii", newline="\n"
            )
        except BaseException:
            os.close(fd)
            raise
        self._lock = threading.Lock()

    @property
    def closed(self) -> bool:
        return self._file is None

    def write(self, line: str) -> None:
        """Append one whole line (as made by :func:`key_log_line`) atomically w.r.t. threads."""
        if not line.endswith("\n") or "\n" in line[:-1]:
            raise ValueError("a key log entry must be exactly one newline-terminated line")
        with self._lock:
            if self._file is None:
                raise ValueError(f"key log file {self.path!r} is closed")
            self._file.write(line)

    def __call__(self, line: str) -> None:
        self.write(line)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __enter__(self) -> KeyLogFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def key_log_file_from_environment(
    environ: Mapping[str, str] | None = None,
) -> KeyLogFile | None:
    """A :class:`KeyLogFile` for ``$SSLKEYLOGFILE``, or ``None`` when it is unset or empty."""
    env = os.environ if environ is None else environ
    path = env.get(SSLKEYLOGFILE, "")
    return KeyLogFile(path) if path else None
