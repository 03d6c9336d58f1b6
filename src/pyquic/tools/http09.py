"""HTTP/0.9 over QUIC, the ``hq-interop`` protocol of the QUIC interop runner, for both sides.

The protocol: a client opens one bidirectional stream per file, sends ``GET /path\\r\\n`` and
FIN; the server answers with the file's bytes and FIN.  There are no status codes, so a server
that cannot answer resets the stream (RFC 9000 §3.1) with one of the :class:`Http09Error` codes,
which the client turns back into a message.  The codes are pyquic's own (hq-interop defines none)
and chosen to read like the HTTP statuses they stand for.

Design: the server confines every path to its document root (:func:`resolve_path`): a request
that names an absolute path, climbs with ``..``, or reaches outside the root through a symbolic
link is refused, as is anything that is not a regular file.  Files are sent in
:data:`CHUNK_SIZE` pieces, each write followed by ``drain()``, so a large file never sits whole
in memory and a slow client slows the server's reading.  The client writes what it receives to a
binary file as it arrives, under the same backpressure on its side.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote

from pyquic.aio import QuicConnection, QuicStreamReader, QuicStreamWriter, StreamClosedError

__all__ = [
    "ALPN",
    "CHUNK_SIZE",
    "MAX_REQUEST_BYTES",
    "Http09Error",
    "RequestError",
    "encode_request",
    "fetch",
    "parse_request",
    "read_request",
    "resolve_path",
    "serve_request",
]

ALPN = "hq-interop"
CHUNK_SIZE = 64 * 1024  # bytes read from a file per write
MAX_REQUEST_BYTES = 8 * 1024  # a longer request line is refused


class Http09Error(enum.IntEnum):
    """The application error codes a server resets a stream with (pyquic's own)."""

    NO_ERROR = 0x0
    BAD_REQUEST = 0x400  # not "GET /path"
    FORBIDDEN = 0x403  # the path leaves the document root
    NOT_FOUND = 0x404  # no such regular file
    INTERNAL_ERROR = 0x500  # the file could not be read

    @property
    def description(self) -> str:
        return self.name.lower().replace("_", " ")

    @classmethod
    def describe(cls, code: int) -> str:
        """``"not found (0x404)"``: a code as a client prints it, known or not."""
        try:
            return f"{cls(code).description} ({code:#x})"
        except ValueError:
            return f"error code {code:#x}"


class RequestError(Exception):
    """A request the server refuses; ``code`` is the stream reset's error code."""

    def __init__(self, code: Http09Error, message: str) -> None:
        super().__init__(message)
        self.code = code


# --- requests --------------------------------------------------------------------------------


def encode_request(path: str) -> bytes:
    """The request for ``path`` (which must start with "/"): ``GET /path\\r\\n``."""
    if not path.startswith("/"):
        raise ValueError(f"a request path starts with '/', got {path!r}")
    if any(c in path for c in "\r\n ") or not path.isascii():
        raise ValueError(f"a request path is ASCII without spaces or line breaks, got {path!r}")
    return f"GET {path}\r\n".encode("ascii")


def parse_request(data: bytes) -> str:
    """The path of a request line ``GET /path`` (ended by CRLF, LF or nothing), percent-decoded.

    Raises :class:`RequestError` (BAD_REQUEST) for anything else.
    """
    line, newline, rest = data.partition(b"\n")
    if newline and rest:
        raise RequestError(Http09Error.BAD_REQUEST, "bytes after the request line")
    line = line.removesuffix(b"\r")
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        raise RequestError(Http09Error.BAD_REQUEST, "the request is not ASCII") from None
    method, _, target = text.partition(" ")
    if method != "GET" or not target or " " in target:
        raise RequestError(Http09Error.BAD_REQUEST, f"not a 'GET /path' request: {text[:80]!r}")
    if not target.startswith("/"):
        raise RequestError(Http09Error.BAD_REQUEST, f"the path must start with '/': {target!r}")
    try:
        path = unquote(target.partition("?")[0], errors="strict")
    except UnicodeDecodeError:
        raise RequestError(Http09Error.BAD_REQUEST, "the path is not UTF-8") from None
    if "\x00" in path:
        raise RequestError(Http09Error.BAD_REQUEST, "the path contains a NUL byte")
    return path


def resolve_path(root: Path, request_path: str) -> Path:
    """The file ``request_path`` names under ``root``, confined to it.

    Raises :class:`RequestError`: FORBIDDEN for an absolute path, a ``..`` component or a
    symbolic link leading outside ``root``; NOT_FOUND for what does not exist or is not a regular
    file.
    """
    relative = request_path.removeprefix("/")
    parts = relative.split("/")
    if relative.startswith("/") or os.path.isabs(relative) or ".." in parts:
        raise RequestError(Http09Error.FORBIDDEN, f"path outside the document root: {request_path}")
    base = root.resolve()
    candidate = base.joinpath(*[part for part in parts if part not in ("", ".")])
    try:
        real = candidate.resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        raise RequestError(Http09Error.NOT_FOUND, f"no such file: {request_path}") from None
    except (OSError, RuntimeError):  # RuntimeError: a symbolic link loop
        raise RequestError(Http09Error.NOT_FOUND, f"cannot open: {request_path}") from None
    if not real.is_relative_to(base):
        raise RequestError(Http09Error.FORBIDDEN, f"path outside the document root: {request_path}")
    if not real.is_file():
        raise RequestError(Http09Error.NOT_FOUND, f"not a regular file: {request_path}")
    return real


# --- server side -----------------------------------------------------------------------------


async def read_request(reader: QuicStreamReader) -> bytes:
    """The request's bytes: up to the first line feed or the end of the stream.

    Raises :class:`RequestError` (BAD_REQUEST) beyond :data:`MAX_REQUEST_BYTES`.
    """
    data = bytearray()
    while b"\n" not in data and not reader.at_eof():
        chunk = await reader.read(MAX_REQUEST_BYTES + 1 - len(data))
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_REQUEST_BYTES:
            raise RequestError(Http09Error.BAD_REQUEST, "the request line is too long")
    return bytes(data)


async def serve_request(
    root: Path, reader: QuicStreamReader, writer: QuicStreamWriter
) -> tuple[str, int]:
    """Answer one request stream: the file under ``root``, then FIN.

    Returns the request path and the bytes sent.  A refused request resets the stream with its
    code and raises :class:`RequestError`; a stream or connection that fails while sending
    raises ``ConnectionError``.
    """
    try:
        path = resolve_path(root, parse_request(await read_request(reader)))
        source = path.open("rb")
    except RequestError as exc:
        writer.reset(exc.code)
        raise
    except OSError as exc:
        writer.reset(Http09Error.INTERNAL_ERROR)
        raise RequestError(Http09Error.INTERNAL_ERROR, f"cannot read: {exc}") from None
    with source:
        sent = await _send_file(source, writer)
    return str(path), sent


async def _send_file(source: BinaryIO, writer: QuicStreamWriter) -> int:
    sent = 0
    while True:
        try:
            chunk = source.read(CHUNK_SIZE)  # from the page cache: not worth a thread
        except OSError as exc:
            writer.reset(Http09Error.INTERNAL_ERROR)
            raise RequestError(Http09Error.INTERNAL_ERROR, f"cannot read: {exc}") from None
        if not chunk:
            break
        writer.write(chunk)
        sent += len(chunk)
        await writer.drain()
    writer.write_eof()
    return sent


# --- client side -----------------------------------------------------------------------------


async def fetch(
    connection: QuicConnection,
    path: str,
    sink: BinaryIO,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Request ``path`` on a new stream and write the answer to ``sink``; returns its size.

    ``progress(n)`` is called as each ``n`` bytes arrive.  A stream the server resets raises
    :class:`StreamClosedError` naming the reset's code (see :meth:`Http09Error.describe`); a
    failed connection raises ``ConnectionError``.
    """
    reader, writer = await connection.open_stream()
    writer.write(encode_request(path))
    writer.write_eof()
    received = 0
    while True:
        try:
            chunk = await reader.read(CHUNK_SIZE)
        except StreamClosedError as exc:
            if exc.error_code is None:
                raise
            raise StreamClosedError(
                f"the server reset the stream: {Http09Error.describe(exc.error_code)}",
                exc.error_code,
            ) from None
        if not chunk:
            return received
        sink.write(chunk)
        received += len(chunk)
        if progress is not None:
            progress(len(chunk))
