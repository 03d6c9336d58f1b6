"""The HTTP/3 client for asyncio users (RFC 9114 §4.1, §5.2).

Usage::

    async with pyquic.h3.connect("https://example.com:4433/") as client:
        response = await client.request("GET", "/index.html")
        body = await response.read()

Design: :func:`connect` opens a QUIC connection with ALPN ``h3`` and an
:class:`~pyquic.h3.connection.H3Connection` on it.  Each :meth:`H3Client.request` is one
bidirectional stream, so many run concurrently on one connection; the response's body is
read lazily (:meth:`Response.iter_body`), under QUIC flow control.  Interim (1xx) responses
are skipped (§4.1).  An HTTP/3 error met while reading is mapped to QUIC by the connection
(§8) and raised to the caller as :class:`~pyquic.h3.frames.H3Error`.  Leaving the ``async
with`` sends GOAWAY and closes with H3_NO_ERROR (§5.2).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from typing import TypeVar
from urllib.parse import urlsplit

from pyquic.aio import QuicConfiguration
from pyquic.aio import connect as quic_connect
from pyquic.h3.connection import H3Connection, Headers, MessageStream, request_headers
from pyquic.h3.frames import ErrorCode, H3Error
from pyquic.h3.messages import parse_status

__all__ = ["ALPN", "H3Client", "Response", "connect"]

ALPN = "h3"
CLOSE_TIMEOUT_S = 5.0
HeaderInput = Mapping[str, str] | Sequence[tuple[str | bytes, str | bytes]]
T = TypeVar("T")


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode("latin-1") if isinstance(value, str) else value


def _headers(headers: HeaderInput | None) -> Headers:
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(_as_bytes(name).lower(), _as_bytes(value)) for name, value in items]


class Response:
    """An HTTP/3 response: ``status``, ``headers``, and the body read as it arrives."""

    def __init__(self, stream: MessageStream, status: int, headers: Headers) -> None:
        self.status = status
        self.headers = headers
        self._stream = stream

    @property
    def trailers(self) -> Headers:
        return self._stream.trailers

    async def iter_body(self) -> AsyncIterator[bytes]:
        while True:
            chunk = await _mapped(self._stream, self._stream.read_data())
            if chunk is None:
                return
            yield chunk

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.iter_body()])


async def _mapped(stream: MessageStream, awaitable: Awaitable[T]) -> T:
    """Await, mapping an HTTP/3 error to QUIC once (§8) before raising it to the caller."""
    try:
        return await awaitable
    except H3Error as exc:
        stream.h3.fail(exc, stream.writer)
        raise


class H3Client:
    """Requests over one HTTP/3 connection."""

    def __init__(self, h3: H3Connection, authority: str) -> None:
        self.h3 = h3
        self.authority = authority

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: HeaderInput | None = None,
        body: bytes = b"",
    ) -> Response:
        """Send a request and wait for its response's header section."""
        if self.h3.goaway_id is not None:  # §5.2: no new requests after GOAWAY
            raise ConnectionError("the server sent GOAWAY: no new requests on this connection")
        reader, writer = await self.h3.quic.open_stream()
        stream = MessageStream(self.h3, reader, writer)
        extra = _headers(headers)
        if body and not any(name == b"content-length" for name, _ in extra):
            extra.append((b"content-length", str(len(body)).encode()))
        stream.send_headers(
            request_headers(method, "https", self.authority, path, extra), end=not body
        )
        if body:
            await stream.send_data(body, end=True)
        while True:
            status, fields = await _mapped(stream, _read_status(stream))
            if status >= 200:  # §4.1: 1xx responses are interim
                return Response(stream, status, fields)

    async def close(self) -> None:
        self.h3.send_goaway()
        self.h3.close(ErrorCode.H3_NO_ERROR, "done")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.h3.quic.wait_closed(), CLOSE_TIMEOUT_S)

    async def __aenter__(self) -> H3Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def _read_status(stream: MessageStream) -> tuple[int, Headers]:
    return parse_status(await stream.read_headers())


def _target(url_or_host: str, port: int | None) -> tuple[str, int]:
    if "://" in url_or_host:
        parts = urlsplit(url_or_host)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError(f"expected an https:// URL, got {url_or_host!r}")
        return parts.hostname, port or parts.port or 443
    return url_or_host, port or 443


@contextlib.asynccontextmanager
async def connect(
    url_or_host: str,
    port: int | None = None,
    *,
    configuration: QuicConfiguration | None = None,
) -> AsyncIterator[H3Client]:
    """An HTTP/3 client connected to ``url_or_host`` (an https URL or a host name)."""
    host, port = _target(url_or_host, port)
    configuration = configuration or QuicConfiguration(alpn_protocols=[ALPN])
    quic = await quic_connect(host, port, configuration=configuration)
    if quic.alpn != ALPN.encode():
        quic.close(0, "no h3")
        raise ConnectionError(f"the server did not agree to h3 (ALPN {quic.alpn!r})")
    h3 = H3Connection(quic, is_client=True)
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    client = H3Client(h3, authority)
    try:
        await h3.start()
        yield client
    finally:
        await client.close()
