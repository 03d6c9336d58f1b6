"""pyquic's HTTP/3 client against pyquic's ASGI server, in one process."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from h3_harness import make_pem, run_loopback

from pyquic.h3 import H3Client
from pyquic.h3.server import Receive, Scope, Send


async def echo_app(scope: Scope, receive: Receive, send: Send) -> None:
    """A bare ASGI callable: echoes the body, and the request's details in headers."""
    assert scope["type"] == "http"
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers = [
        (b"x-method", scope["method"].encode()),
        (b"x-path", scope["path"].encode()),
        (b"x-query", scope["query_string"]),
        (b"x-version", scope["http_version"].encode()),
        (b"x-agent", dict(scope["headers"]).get(b"user-agent", b"")),
    ]
    await send({"type": "http.response.start", "status": 201, "headers": headers})
    for start in range(0, len(body), 10_000):
        await send(
            {"type": "http.response.body", "body": body[start : start + 10_000], "more_body": True}
        )
    await send({"type": "http.response.body", "body": b"", "more_body": False})


def test_request_and_response(tmp_path: Path) -> None:
    payload = os.urandom(100_000)

    async def scenario(client: H3Client) -> None:
        response = await client.request(
            "POST", "/echo%20me?x=1", headers={"User-Agent": "pyquic-test"}, body=payload
        )
        assert response.status == 201
        fields = dict(response.headers)
        assert fields[b"x-method"] == b"POST"
        assert fields[b"x-path"] == b"/echo me"
        assert fields[b"x-query"] == b"x=1"
        assert fields[b"x-version"] == b"3"
        assert fields[b"x-agent"] == b"pyquic-test"
        chunks = [chunk async for chunk in response.iter_body()]
        assert b"".join(chunks) == payload

    run_loopback(make_pem(tmp_path), echo_app, scenario)


def test_many_concurrent_requests_on_one_connection(tmp_path: Path) -> None:
    async def one(client: H3Client, index: int) -> None:
        body = f"request {index}".encode() * (index + 1)
        response = await client.request("PUT", f"/r/{index}", body=body)
        assert response.status == 201
        assert dict(response.headers)[b"x-path"] == f"/r/{index}".encode()
        assert await response.read() == body

    async def scenario(client: H3Client) -> None:
        await asyncio.gather(*(one(client, index) for index in range(50)))

    run_loopback(make_pem(tmp_path), echo_app, scenario)


def test_an_app_that_fails_gives_500(tmp_path: Path) -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    async def scenario(client: H3Client) -> None:
        response = await client.request("GET", "/")
        assert response.status == 500
        assert await response.read() == b""

    run_loopback(make_pem(tmp_path), broken, scenario)
