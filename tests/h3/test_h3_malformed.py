"""Malformed HTTP/3 input closes the offending connection with the RFC's code (RFC 9114 §8),
while another connection to the same server carries on."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from h3_harness import client_configuration, make_pem, server_configuration
from test_h3_loopback import echo_app

from pyquic.aio import QuicConnection, connect
from pyquic.h3 import ErrorCode, serve_asgi
from pyquic.h3 import connect as h3_connect
from pyquic.h3.frames import FrameType, StreamType, encode_frame, encode_settings, encode_varint
from pyquic.testing.certificates import PemFiles

SETTINGS = encode_frame(FrameType.SETTINGS, encode_settings({0x6: 1000}))
Attack = Callable[[QuicConnection], Awaitable[None]]


async def _control(connection: QuicConnection, payload: bytes) -> None:
    _, writer = await connection.open_stream(bidirectional=False)
    writer.write(encode_varint(StreamType.CONTROL) + payload)


async def bad_first_frame(connection: QuicConnection) -> None:
    await _control(connection, encode_frame(FrameType.GOAWAY, encode_varint(0)))


async def second_settings(connection: QuicConnection) -> None:
    await _control(connection, SETTINGS + SETTINGS)


async def data_on_control(connection: QuicConnection) -> None:
    await _control(connection, SETTINGS + encode_frame(FrameType.DATA, b"x"))


async def huge_headers_frame(connection: QuicConnection) -> None:
    await _control(connection, SETTINGS)
    _, writer = await connection.open_stream()
    writer.write(encode_frame(FrameType.HEADERS, b"\x00" * 200_000))


async def undecodable_headers(connection: QuicConnection) -> None:
    await _control(connection, SETTINGS)
    _, writer = await connection.open_stream()
    writer.write(encode_frame(FrameType.HEADERS, b"\x00\x00\xff\xff\xff"))


async def closed_control_stream(connection: QuicConnection) -> None:
    _, writer = await connection.open_stream(bidirectional=False)
    writer.write(encode_varint(StreamType.CONTROL) + SETTINGS)
    writer.write_eof()


def _attack(pem: PemFiles, attack: Attack) -> int:
    """Run ``attack`` on a raw QUIC connection and a good h3 client beside it; the close code."""

    async def main() -> int:
        server = await serve_asgi(echo_app, "127.0.0.1", 0, configuration=server_configuration(pem))
        port = server.local_address[1]
        assert isinstance(port, int)
        try:
            async with h3_connect(
                "127.0.0.1", port, configuration=client_configuration(pem)
            ) as good:
                bad = await connect("127.0.0.1", port, configuration=client_configuration(pem))
                await attack(bad)
                await asyncio.wait_for(bad.wait_closed(), 10)
                assert bad.terminated is not None and bad.terminated.by_peer
                response = await good.request("POST", "/still-here", body=b"ok")
                assert response.status == 201 and await response.read() == b"ok"
                return bad.terminated.error_code
        finally:
            await server.close()

    return asyncio.run(asyncio.wait_for(main(), 30))


@pytest.mark.parametrize(
    ("attack", "code"),
    [
        (bad_first_frame, ErrorCode.H3_MISSING_SETTINGS),
        (second_settings, ErrorCode.H3_FRAME_UNEXPECTED),
        (data_on_control, ErrorCode.H3_FRAME_UNEXPECTED),
        (huge_headers_frame, ErrorCode.H3_EXCESSIVE_LOAD),
        (undecodable_headers, ErrorCode.QPACK_DECOMPRESSION_FAILED),
        (closed_control_stream, ErrorCode.H3_CLOSED_CRITICAL_STREAM),
    ],
)
def test_malformed_input_closes_with_the_rfc_code(
    tmp_path: Path, attack: Attack, code: ErrorCode
) -> None:
    assert _attack(make_pem(tmp_path), attack) == code


def test_oversized_header_section_is_answered_431(tmp_path: Path) -> None:
    pem = make_pem(tmp_path)

    async def main() -> None:
        server = await serve_asgi(echo_app, "127.0.0.1", 0, configuration=server_configuration(pem))
        port = server.local_address[1]
        assert isinstance(port, int)
        try:
            async with h3_connect(
                "127.0.0.1", port, configuration=client_configuration(pem)
            ) as client:
                big = {f"x-{index}": "v" * 1000 for index in range(80)}  # > 64 KiB decoded
                response = await client.request("GET", "/", headers=big)
                assert response.status == 431
                response = await client.request("GET", "/fine")
                assert response.status == 201
        finally:
            await server.close()

    asyncio.run(asyncio.wait_for(main(), 30))
