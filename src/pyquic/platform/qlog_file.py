"""qlog files: a JSON Text Sequences writer that serves as a connection's qlog sink.

The core hands qlog events to a callable (:data:`pyquic.core.qlog.QlogSink`); this platform
module is the callable that writes them to disk.  The format is the streamable QlogFileSeq of
draft-ietf-quic-qlog-main-schema §5 serialised as JSON-SEQ (§11.2, RFC 7464): every record is an
ASCII Record Separator (0x1E), one JSON text, and a line feed.  The first record is the header
(file_schema, serialization_format, and the trace with its vantage point and common fields); each
later record is one event.  Files are named ``<odcid>_<vantage point>.sqlog`` (quic events §1.1
names traces by the original destination connection ID; main schema §11.2 gives the suffix).

Design: the writer encodes each event as compact UTF-8 JSON and appends it through a buffered
binary file, flushing on close; a JSON text never contains a raw 0x1E (JSON escapes control
characters), so records stay separable.  :func:`read_qlog_file` parses such a file back,
skipping a truncated final record as RFC 7464 §2.4 allows.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from pyquic.core.qlog import QlogEvent, VantagePointType, qlog_seq_header

__all__ = ["QlogFileWriter", "open_qlog_file", "read_qlog_file"]

RECORD_SEPARATOR = b"\x1e"  # RFC 7464 §2
_LINE_FEED = b"\n"
_VANTAGE_POINTS = ("client", "server", "network", "unknown")
_HEX = re.compile(r"[0-9a-f]{0,40}")  # a connection ID of at most 20 bytes, lowercase hex


def _encode_record(value: object) -> bytes:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return RECORD_SEPARATOR + text.encode("utf-8") + _LINE_FEED


class QlogFileWriter:
    """A qlog sink writing one JSON-SEQ trace to ``path``; call it with each event.

    The header record is written on construction.  Use as a context manager, or call
    :meth:`close`; events given after closing raise ValueError.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        vantage_point: VantagePointType,
        group_id: str | None = None,
        title: str | None = None,
    ) -> None:
        if vantage_point not in _VANTAGE_POINTS:
            raise ValueError(f"vantage_point must be one of {', '.join(_VANTAGE_POINTS)}")
        self.path = Path(path)
        self._file = self.path.open("wb")
        wall_clock = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        header = qlog_seq_header(
            vantage_point=vantage_point,
            group_id=group_id,
            title=title,
            vantage_point_name="pyquic",
            wall_clock_time=wall_clock,
        )
        self._file.write(_encode_record(header))

    @property
    def closed(self) -> bool:
        return self._file.closed

    def __call__(self, event: QlogEvent) -> None:
        if self._file.closed:
            raise ValueError(f"qlog file {self.path} is closed")
        self._file.write(_encode_record(event))

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> QlogFileWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def open_qlog_file(
    directory: str | os.PathLike[str], odcid_hex: str, vantage_point: VantagePointType
) -> QlogFileWriter:
    """Open ``<directory>/<odcid_hex>_<vantage_point>.sqlog`` (creating the directory).

    ``odcid_hex`` is the original destination connection ID in lowercase hex; it also becomes
    the trace's group_id (quic events §1.1).
    """
    if not _HEX.fullmatch(odcid_hex) or len(odcid_hex) % 2:
        raise ValueError(f"odcid_hex must be a connection ID in lowercase hex, got {odcid_hex!r}")
    if vantage_point not in _VANTAGE_POINTS:
        raise ValueError(f"vantage_point must be one of {', '.join(_VANTAGE_POINTS)}")
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{odcid_hex}_{vantage_point}.sqlog"
    return QlogFileWriter(path, vantage_point=vantage_point, group_id=odcid_hex)


def read_qlog_file(path: str | os.PathLike[str]) -> list[dict[str, object]]:
    """The records of a JSON-SEQ qlog file: the header first, then the events.

    A last record without its line feed was truncated mid-write and is skipped when it does not
    parse (RFC 7464 §2.4); any other malformed record raises ValueError.
    """
    data = Path(path).read_bytes()
    chunks = data.split(RECORD_SEPARATOR)
    if chunks[0].strip():
        raise ValueError("a JSON text sequence must start with a record separator")
    records: list[dict[str, object]] = []
    for index, chunk in enumerate(chunks[1:], start=1):
        last = index == len(chunks) - 1
        try:
            value = json.loads(chunk.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            if last and not chunk.endswith(_LINE_FEED):
                break  # RFC 7464 §2.4: a truncated final record
            raise ValueError(f"record {index} is not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise ValueError(f"record {index} is not a JSON object")
        records.append(value)
    return records
