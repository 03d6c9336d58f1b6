"""0-RTT over real loopback sockets: a server configured with ``resume_and_zerortt`` offers early
data in its tickets and accepts it once per ticket (RFC 8446 §8.1, RFC 9001 §4.6)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pyquic.aio as aio
from pyquic.core.settings import ServerResumptionLevel, Settings
from pyquic.testing.certificates import make_test_credentials


async def _echo(reader: aio.QuicStreamReader, writer: aio.QuicStreamWriter) -> None:
    writer.write(await reader.read())
    writer.write_eof()


async def _request(connection: aio.QuicConnection, payload: bytes) -> bytes:
    reader, writer = await connection.open_stream()
    writer.write(payload)
    writer.write_eof()
    return await asyncio.wait_for(reader.read(), 10)


async def _run(directory: Path, level: ServerResumptionLevel) -> list[tuple[bool, bool, bytes]]:
    pki = make_test_credentials(("localhost",))
    ca_file = str(pki.write_pem(directory).ca_certificate)
    settings = Settings(peer_bidi_stream_count=10, server_resumption_level=level)
    server = await aio.serve(
        "127.0.0.1",
        0,
        configuration=aio.QuicConfiguration(
            alpn_protocols=["echo"], credential=pki.server_credential, settings=settings
        ),
        stream_handler=_echo,
    )
    port = int(server.local_address[1])  # type: ignore[call-overload]
    config = aio.QuicConfiguration(
        alpn_protocols=["echo"], server_name="localhost", ca_file=ca_file
    )
    outcomes = []
    try:
        first = await aio.connect("127.0.0.1", port, configuration=config)
        await _request(first, b"first")
        for _ in range(50):  # the ticket follows the handshake
            if first.session_tickets:
                break
            await asyncio.sleep(0.01)
        ticket = first.session_tickets[0]
        first.close()
        resuming = replace(config, session_ticket=ticket, enable_early_data=True)
        for attempt in range(2):  # the same ticket twice: its early data is accepted only once
            connection = await aio.connect(
                "127.0.0.1", port, configuration=resuming, wait_connected=False
            )
            answer = await _request(connection, b"early %d" % attempt)  # written before 1-RTT
            await connection.wait_connected()
            outcomes.append((connection.session_resumed, connection.early_data_accepted, answer))
            connection.close()
    finally:
        server.close()
    return outcomes


def test_early_data_is_accepted_once_per_ticket(tmp_path: Path) -> None:
    outcomes = asyncio.run(_run(tmp_path, "resume_and_zerortt"))
    assert outcomes[0] == (True, True, b"early 0")
    assert outcomes[1] == (True, False, b"early 1")  # RFC 8446 §8.1: resent as 1-RTT data


def test_a_server_without_zero_rtt_resumes_but_refuses_early_data(tmp_path: Path) -> None:
    outcomes = asyncio.run(_run(tmp_path, "resume_only"))
    assert [(resumed, early) for resumed, early, _ in outcomes] == [(True, False), (True, False)]
    assert [answer for _, _, answer in outcomes] == [b"early 0", b"early 1"]
