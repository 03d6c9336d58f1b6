"""HTTP/0.9 (hq-interop): request parsing, path confinement to the document root, and the error
codes a refused request resets its stream with, end to end over a loopback connection."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from pyquic.aio import (
    QuicConfiguration,
    QuicConnection,
    QuicStreamReader,
    QuicStreamWriter,
    StreamClosedError,
    connect,
    serve,
)
from pyquic.testing.certificates import make_test_credentials
from pyquic.tools import http09
from pyquic.tools.http09 import Http09Error, RequestError, parse_request, resolve_path

# --- requests ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "path"),
    [
        (b"GET /index.html\r\n", "/index.html"),
        (b"GET /index.html\n", "/index.html"),
        (b"GET /index.html", "/index.html"),  # FIN without a line end
        (b"GET /\r\n", "/"),
        (b"GET /a/b/c.txt\r\n", "/a/b/c.txt"),
        (b"GET /with%20space\r\n", "/with space"),
        (b"GET /caf%C3%A9\r\n", "/café"),
        (b"GET /q?x=1\r\n", "/q"),
    ],
)
def test_parse_request(data: bytes, path: str) -> None:
    assert parse_request(data) == path


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\r\n",
        b"GET\r\n",
        b"GET \r\n",
        b"POST /x\r\n",
        b"get /x\r\n",
        b"GET x\r\n",
        b"GET /a b\r\n",
        b"GET /x HTTP/1.1\r\n",
        b"GET /x\r\nHost: a\r\n",
        b"GET /\xff\r\n",
        b"GET /%00\r\n",
        b"GET /%ff\r\n",
    ],
)
def test_parse_request_rejects(data: bytes) -> None:
    with pytest.raises(RequestError) as exc:
        parse_request(data)
    assert exc.value.code is Http09Error.BAD_REQUEST


def test_encode_request_round_trips() -> None:
    assert http09.encode_request("/a/b.txt") == b"GET /a/b.txt\r\n"
    assert parse_request(http09.encode_request("/a/b.txt")) == "/a/b.txt"


@pytest.mark.parametrize("path", ["a.txt", "/a b", "/a\r\n", "/é"])
def test_encode_request_rejects(path: str) -> None:
    with pytest.raises(ValueError):
        http09.encode_request(path)


def test_error_descriptions() -> None:
    assert Http09Error.describe(0x404) == "not found (0x404)"
    assert Http09Error.describe(0x403) == "forbidden (0x403)"
    assert Http09Error.describe(0x400) == "bad request (0x400)"
    assert Http09Error.describe(0x500) == "internal error (0x500)"
    assert Http09Error.describe(0x1234) == "error code 0x1234"


# --- path confinement ---------------------------------------------------------------------------


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A document root with a file, a subdirectory, and symbolic links in and out of it."""
    www = tmp_path / "www"
    (www / "sub").mkdir(parents=True)
    (www / "index.html").write_text("hello")
    (www / "sub" / "file.txt").write_text("nested")
    (tmp_path / "secret.txt").write_text("outside")
    (www / "inside-link").symlink_to(www / "sub" / "file.txt")
    (www / "outside-link").symlink_to(tmp_path / "secret.txt")
    (www / "outside-dir").symlink_to(tmp_path)
    (www / "loop").symlink_to(www / "loop")
    return www


@pytest.mark.parametrize(
    ("request_path", "relative"),
    [
        ("/index.html", "index.html"),
        ("/sub/file.txt", "sub/file.txt"),
        ("/./sub//file.txt", "sub/file.txt"),
        ("/inside-link", "sub/file.txt"),
        # confinement is by real path: a link that leaves the root and comes back is harmless
        ("/outside-dir/www/index.html", "index.html"),
    ],
)
def test_resolve_path_inside(root: Path, request_path: str, relative: str) -> None:
    assert resolve_path(root, request_path) == (root / relative).resolve()


@pytest.mark.parametrize(
    "request_path",
    [
        "/../secret.txt",
        "/sub/../../secret.txt",
        "/sub/..",
        "//etc/passwd",
        "/outside-link",
        "/outside-dir/secret.txt",
    ],
)
def test_resolve_path_forbidden(root: Path, request_path: str) -> None:
    with pytest.raises(RequestError) as exc:
        resolve_path(root, request_path)
    assert exc.value.code is Http09Error.FORBIDDEN


def test_percent_encoded_dot_dot_is_forbidden(root: Path) -> None:
    with pytest.raises(RequestError) as exc:
        resolve_path(root, parse_request(b"GET /%2e%2e/secret.txt\r\n"))
    assert exc.value.code is Http09Error.FORBIDDEN


@pytest.mark.parametrize(
    "request_path", ["/missing", "/sub/missing", "/", "/sub", "/index.html/x", "/loop"]
)
def test_resolve_path_not_found(root: Path, request_path: str) -> None:
    with pytest.raises(RequestError) as exc:
        resolve_path(root, request_path)
    assert exc.value.code is Http09Error.NOT_FOUND


def test_resolve_path_with_a_relative_root(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(root.parent)
    assert resolve_path(Path("www"), "/index.html") == (root / "index.html").resolve()


# --- over a real connection ---------------------------------------------------------------------

Scenario = Callable[[QuicConnection], Awaitable[None]]


def _loopback(tmp_path: Path, root: Path, scenario: Scenario) -> list[BaseException]:
    """Serve ``root`` on 127.0.0.1 and run ``scenario`` with a connection to it; the server's
    RequestErrors."""
    pki = make_test_credentials(["127.0.0.1"])
    pem = pki.write_pem(tmp_path / "pki")
    refused: list[BaseException] = []

    async def handler(reader: QuicStreamReader, writer: QuicStreamWriter) -> None:
        try:
            await http09.serve_request(root, reader, writer)
        except RequestError as exc:
            refused.append(exc)

    async def main() -> None:
        server_config = QuicConfiguration(
            alpn_protocols=[http09.ALPN], credential=pki.server_credential
        )
        server = await serve("127.0.0.1", 0, configuration=server_config, stream_handler=handler)
        port = server.local_address[1]
        assert isinstance(port, int)
        client_config = QuicConfiguration(
            alpn_protocols=[http09.ALPN], ca_file=str(pem.ca_certificate)
        )
        try:
            connection = await connect("127.0.0.1", port, configuration=client_config)
            await scenario(connection)
            connection.close()
            await asyncio.wait_for(connection.wait_closed(), 5)
        finally:
            server.close()

    asyncio.run(asyncio.wait_for(main(), 60))
    return refused


def test_fetch_small_large_and_nested_files(tmp_path: Path, root: Path) -> None:
    big = os.urandom(3 * http09.CHUNK_SIZE + 17)
    (root / "big.bin").write_bytes(big)
    (root / "empty").write_bytes(b"")
    got: dict[str, bytes] = {}
    progress: list[int] = []

    async def scenario(connection: QuicConnection) -> None:
        for path in ("/index.html", "/sub/file.txt", "/big.bin", "/empty"):
            sink = io.BytesIO()
            size = await http09.fetch(connection, path, sink, progress.append)
            assert size == len(sink.getvalue())
            got[path] = sink.getvalue()

    assert _loopback(tmp_path, root, scenario) == []
    assert got == {
        "/index.html": b"hello",
        "/sub/file.txt": b"nested",
        "/big.bin": big,
        "/empty": b"",
    }
    assert sum(progress) == len(big) + len("hello") + len("nested")


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/missing", Http09Error.NOT_FOUND),
        ("/../secret.txt", Http09Error.FORBIDDEN),
        ("/outside-link", Http09Error.FORBIDDEN),
        ("/sub", Http09Error.NOT_FOUND),
    ],
)
def test_refused_requests_reset_the_stream(
    tmp_path: Path, root: Path, path: str, code: Http09Error
) -> None:
    errors: list[StreamClosedError] = []

    async def scenario(connection: QuicConnection) -> None:
        with pytest.raises(StreamClosedError) as exc:
            await http09.fetch(connection, path, io.BytesIO())
        errors.append(exc.value)
        # the connection survives a refused request
        sink = io.BytesIO()
        await http09.fetch(connection, "/index.html", sink)
        assert sink.getvalue() == b"hello"

    refused = _loopback(tmp_path, root, scenario)
    assert [getattr(e, "code", None) for e in refused] == [code]
    assert errors[0].error_code == code
    assert str(errors[0]) == f"the server reset the stream: {Http09Error.describe(code)}"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"DELETE /index.html\r\n", Http09Error.BAD_REQUEST),
        (b"GET /" + b"a" * http09.MAX_REQUEST_BYTES + b"\r\n", Http09Error.BAD_REQUEST),
        (b"", Http09Error.BAD_REQUEST),
    ],
)
def test_malformed_requests_reset_the_stream(
    tmp_path: Path, root: Path, data: bytes, code: Http09Error
) -> None:
    async def scenario(connection: QuicConnection) -> None:
        reader, writer = await connection.open_stream()
        writer.write(data)
        writer.write_eof()
        with pytest.raises(StreamClosedError) as exc:
            await reader.read()
        assert exc.value.error_code == code

    refused = _loopback(tmp_path, root, scenario)
    assert [getattr(e, "code", None) for e in refused] == [code]


def test_request_without_fin_is_answered(tmp_path: Path, root: Path) -> None:
    """The server answers once the request line is complete, FIN or not."""

    async def scenario(connection: QuicConnection) -> None:
        reader, writer = await connection.open_stream()
        writer.write(b"GET /index.html\r\n")
        assert await asyncio.wait_for(reader.read(), 10) == b"hello"
        writer.write_eof()

    assert _loopback(tmp_path, root, scenario) == []
