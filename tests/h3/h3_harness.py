"""In-process HTTP/3 loopback: a pyquic ASGI server and a pyquic h3 client on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from pyquic.aio import QuicConfiguration
from pyquic.h3 import H3Client, connect, serve_asgi
from pyquic.h3.server import ASGIApp
from pyquic.testing.certificates import PemFiles, make_test_credentials

Scenario = Callable[[H3Client], Awaitable[None]]
TIMEOUT_S = 60.0


def make_pem(tmp_path: Path) -> PemFiles:
    return make_test_credentials(["127.0.0.1", "localhost"]).write_pem(tmp_path / "pki")


def server_configuration(pem: PemFiles, alpns: tuple[str, ...] = ("h3",)) -> QuicConfiguration:
    return QuicConfiguration(
        alpn_protocols=list(alpns),
        certificate_file=str(pem.server_certificate),
        private_key_file=str(pem.server_key),
    )


def client_configuration(pem: PemFiles) -> QuicConfiguration:
    return QuicConfiguration(alpn_protocols=["h3"], ca_file=str(pem.ca_certificate))


def run_loopback(pem: PemFiles, app: ASGIApp, *scenarios: Scenario) -> None:
    """Serve ``app`` and run each scenario on its own client connection, concurrently."""

    async def main() -> None:
        server = await serve_asgi(app, "127.0.0.1", 0, configuration=server_configuration(pem))
        port = server.local_address[1]
        assert isinstance(port, int)

        async def one(scenario: Scenario) -> None:
            async with connect(
                "127.0.0.1", port, configuration=client_configuration(pem)
            ) as client:
                await scenario(client)

        try:
            await asyncio.gather(*(one(scenario) for scenario in scenarios))
        finally:
            await server.close()

    asyncio.run(asyncio.wait_for(main(), TIMEOUT_S))
