"""pyquic's HTTP/3 against aioquic's (aioquic.h3.connection.H3Connection), both directions.

aioquic runs as a separate process (drivers/), killed at teardown whatever happens.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from h3_harness import server_configuration
from interop_peers import Processes, status_lines
from test_h3_loopback import echo_app

from pyquic.aio import QuicConfiguration
from pyquic.h3 import connect, serve_asgi
from pyquic.testing.certificates import PemFiles

DRIVERS = Path(__file__).parent / "drivers"
CLIENT_TIMEOUT_S = 90.0
SERVER_READY_S = 30.0


def _driver(name: str, *args: object) -> list[str]:
    return [sys.executable, str(DRIVERS / f"{name}.py"), *(str(arg) for arg in args)]


class _ServerThread:
    """A pyquic ASGI server on its own event loop in a thread, for a peer process to reach."""

    def __init__(self, pem: PemFiles, app: object) -> None:
        self.port = 0
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, args=(pem, app), daemon=True)

    def _run(self, pem: PemFiles, app: object) -> None:
        async def main() -> None:
            self._stop = asyncio.Event()
            server = await serve_asgi(
                app,  # type: ignore[arg-type]
                "127.0.0.1",
                0,
                configuration=server_configuration(pem, ("h3", "hq-interop")),
            )
            port = server.local_address[1]
            assert isinstance(port, int)
            self.port = port
            self._ready.set()
            await self._stop.wait()
            await server.close()

        self._loop.run_until_complete(main())

    def __enter__(self) -> _ServerThread:
        self._thread.start()
        assert self._ready.wait(10), "the pyquic server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(15)


@pytest.fixture
def files(tmp_path: Path) -> Iterator[tuple[Path, dict[str, bytes]]]:
    root = tmp_path / "www"
    root.mkdir()
    contents = {"small.bin": os.urandom(1024), "big.bin": os.urandom(5 << 20)}
    for index in range(50):
        contents[f"f{index}"] = os.urandom(100 + 37 * index)
    for name, data in contents.items():
        (root / name).write_bytes(data)
    yield root, contents


def test_aioquic_client_to_pyquic_asgi_app_50_concurrent(
    h3_processes: Processes, h3_pem: PemFiles
) -> None:
    with _ServerThread(h3_pem, echo_app) as server:
        client = h3_processes.start(
            "aioquic-h3-client",
            _driver(
                "aioquic_h3_client",
                "--port",
                server.port,
                "--ca",
                h3_pem.ca_certificate,
                "--path",
                "/item/{i}",
                "--body",
                "payload-{i}",
                "--count",
                50,
            ),
        )
        assert client.wait(CLIENT_TIMEOUT_S) == 0, client.describe()
    responses = status_lines(client.stdout, "response")
    assert len(responses) == 50, client.describe()
    for line in responses:
        index = line["index"]
        assert line["status"] == "201" and line["x-path"] == f"/item/{index}"
        assert bytes.fromhex(line["body"]) == f"payload-{index}".encode()


def test_aioquic_client_downloads_static_files(
    h3_processes: Processes, h3_pem: PemFiles, files: tuple[Path, dict[str, bytes]]
) -> None:
    from pyquic.h3 import static_files

    root, contents = files
    with _ServerThread(h3_pem, static_files(root)) as server:
        client = h3_processes.start(
            "aioquic-h3-client",
            _driver(
                "aioquic_h3_client",
                "--port",
                server.port,
                "--ca",
                h3_pem.ca_certificate,
                "--path",
                "/big.bin",
                "--count",
                2,
            ),
        )
        assert client.wait(CLIENT_TIMEOUT_S) == 0, client.describe()
    responses = status_lines(client.stdout, "response")
    assert len(responses) == 2
    digest = hashlib.sha256(contents["big.bin"]).hexdigest()
    assert all(line["status"] == "200" and line["sha256"] == digest for line in responses)


def test_pyquic_client_to_aioquic_server_50_concurrent(
    h3_processes: Processes, h3_pem: PemFiles, files: tuple[Path, dict[str, bytes]]
) -> None:
    root, contents = files
    server = h3_processes.start(
        "aioquic-h3-server",
        _driver(
            "aioquic_h3_server",
            "--cert",
            h3_pem.server_certificate,
            "--key",
            h3_pem.server_key,
            "--root",
            root,
        ),
    )
    port = int(server.wait_for(r"^listening port=(\d+)", SERVER_READY_S)[1])
    configuration = QuicConfiguration(
        alpn_protocols=["h3"], ca_file=str(h3_pem.ca_certificate), server_name="localhost"
    )

    async def main() -> None:
        async with connect("127.0.0.1", port, configuration=configuration) as client:

            async def one(name: str) -> None:
                response = await client.request("GET", f"/{name}")
                assert response.status == 200, name
                assert dict(response.headers)[b"x-path"] == f"/{name}".encode()
                assert await response.read() == contents[name]

            await asyncio.gather(*(one(f"f{index}") for index in range(50)))
            await one("big.bin")
            missing = await client.request("GET", "/nothing")
            assert missing.status == 404

    asyncio.run(asyncio.wait_for(main(), 60))
