"""Serving ASGI 3 applications over HTTP/3, and a static-file application (RFC 9114 §4.1).

What: :func:`serve_asgi` listens with ALPN ``h3`` and runs an ASGI 3 application for each
request: an ``http`` scope (method, path, query_string, headers, ``http_version`` "3"),
``receive()`` giving ``http.request`` messages as the body arrives then ``http.disconnect``,
and ``send()`` taking ``http.response.start`` and ``http.response.body`` (ASGI HTTP spec 2.3).
Lifespan is not run.  :func:`static_files` is an ASGI application serving a directory,
confined to it like pyquic's HTTP/0.9 server.

Design: :class:`H3Server` wraps a QUIC server whose ``connection_handler`` starts an
:class:`~pyquic.h3.connection.H3Connection` per connection; :meth:`H3Server.handle_connection`
is also what ``pyquic server`` calls for connections that chose ``h3``.  A request whose header
section exceeds our limit is answered 431 (§4.2.2); other malformed requests reset the stream
with H3_MESSAGE_ERROR (§4.1.2).  ``close()`` is graceful: GOAWAY, in-flight requests finish,
then CONNECTION_CLOSE with H3_NO_ERROR (§5.2).
"""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from pyquic.aio import QuicConfiguration, QuicConnection, QuicServer, serve
from pyquic.h3.connection import H3Connection, Headers, MessageStream
from pyquic.h3.frames import ErrorCode, H3Error
from pyquic.h3.messages import RequestHead, parse_request_head

__all__ = ["ASGIApp", "H3Server", "serve_asgi", "static_files"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
CHUNK_SIZE = 64 * 1024
SHUTDOWN_TIMEOUT_S = 5.0


class _Exchange:
    """One request stream as seen by an ASGI application."""

    def __init__(self, stream: MessageStream) -> None:
        self.stream = stream
        self.started = False
        self.finished = False
        self._body_done = False
        self._head: Headers | None = None

    async def receive(self) -> Message:
        if not self._body_done:
            chunk = await self.stream.read_data()
            if chunk is not None:
                return {"type": "http.request", "body": chunk, "more_body": True}
            self._body_done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.stream.writer.wait_closed()  # the response went out, or the stream died
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start" and not self.started:
            self.started = True
            status = str(int(message["status"])).encode()
            fields = [(bytes(n).lower(), bytes(v)) for n, v in message.get("headers", [])]
            self._head = [(b":status", status), *fields]
        elif kind == "http.response.body" and self.started and not self.finished:
            if self._head is not None:  # the header section goes with the first body part
                self.stream.send_headers(self._head)
                self._head = None
            more = bool(message.get("more_body", False))
            await self.stream.send_data(bytes(message.get("body", b"")), end=not more)
            self.finished = not more
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r} here")


def _scope(head: RequestHead, connection: QuicConnection) -> Scope:
    raw_path, _, query = head.path.partition("?")
    headers = list(head.headers)
    if head.authority:
        headers.insert(0, (b"host", head.authority.encode("latin-1")))
    peer = connection.get_extra_info("peername")
    local = connection.get_extra_info("sockname")
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "3",
        "method": head.method,
        "scheme": head.scheme or "https",
        "path": unquote(raw_path),
        "raw_path": raw_path.encode("latin-1"),
        "query_string": query.encode("latin-1"),
        "root_path": "",
        "headers": headers,
        "client": tuple(peer[:2]) if isinstance(peer, tuple) else None,
        "server": tuple(local[:2]) if isinstance(local, tuple) else None,
    }


async def _respond_simple(stream: MessageStream, status: int) -> None:
    stream.send_headers([(b":status", str(status).encode()), (b"content-length", b"0")], end=True)
    await stream.writer.drain()


async def run_asgi(app: ASGIApp, stream: MessageStream) -> None:
    """Answer one request with ``app``; errors are raised for the connection to map."""
    try:
        head = parse_request_head(await stream.read_headers())
    except H3Error as exc:
        if exc.code == ErrorCode.H3_EXCESSIVE_LOAD and not exc.connection:
            await _respond_simple(stream, 431)  # §4.2.2: Request Header Fields Too Large
            return
        raise
    exchange = _Exchange(stream)
    try:
        await app(_scope(head, stream.h3.quic), exchange.receive, exchange.send)
    except H3Error:
        raise
    except Exception:
        if not exchange.started:
            await _respond_simple(stream, 500)
            return
        raise
    if not exchange.started:
        await _respond_simple(stream, 500)
    elif not exchange.finished:
        raise H3Error(ErrorCode.H3_INTERNAL_ERROR, "the app did not finish", connection=False)


class H3Server:
    """A QUIC server running an ASGI application over HTTP/3 on each connection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.quic_server: QuicServer | None = None
        self.connections: set[H3Connection] = set()

    async def handle_connection(self, connection: QuicConnection) -> None:
        """Serve HTTP/3 on one connection until it closes."""

        async def handler(stream: MessageStream) -> None:
            await run_asgi(self.app, stream)

        h3 = H3Connection(connection, is_client=False, request_handler=handler)
        self.connections.add(h3)
        try:
            await h3.start()
            await connection.wait_closed()
        except ConnectionError:
            pass
        finally:
            self.connections.discard(h3)

    @property
    def local_address(self) -> tuple[object, ...]:
        assert self.quic_server is not None
        return self.quic_server.local_address

    async def shutdown(self, timeout: float = SHUTDOWN_TIMEOUT_S) -> None:
        """GOAWAY on every connection, let requests finish, then close (§5.2)."""
        await asyncio.gather(*(h3.shutdown(timeout) for h3 in list(self.connections)))

    async def close(self) -> None:
        await self.shutdown()
        if self.quic_server is not None:
            self.quic_server.close()
            await self.quic_server.wait_closed()

    async def __aenter__(self) -> H3Server:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def serve_asgi(
    app: ASGIApp, host: str, port: int, *, configuration: QuicConfiguration
) -> H3Server:
    """Listen on ``host:port`` and serve ``app`` over HTTP/3 (the configuration's ALPNs
    should include "h3")."""
    server = H3Server(app)
    server.quic_server = await serve(
        host, port, configuration=configuration, connection_handler=server.handle_connection
    )
    return server


def static_files(root: Path) -> ASGIApp:
    """An ASGI application serving the regular files under ``root`` (GET and HEAD)."""
    from pyquic.tools.http09 import Http09Error, RequestError, resolve_path

    base = root.resolve()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await _simple(send, 405)
            return
        try:
            path = resolve_path(base, scope["path"])
        except RequestError as exc:
            await _simple(send, 403 if exc.code == Http09Error.FORBIDDEN else 404)
            return
        await _send_file(path, scope["method"] == "HEAD", send)

    return app


async def _simple(send: Send, status: int) -> None:
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def _send_file(path: Path, head_only: bool, send: Send) -> None:
    size = path.stat().st_size
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    headers = [(b"content-length", str(size).encode()), (b"content-type", kind.encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    if head_only:
        await send({"type": "http.response.body", "body": b""})
        return
    with path.open("rb") as source:
        while chunk := source.read(CHUNK_SIZE):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    with contextlib.suppress(ConnectionError):
        await send({"type": "http.response.body", "body": b""})
