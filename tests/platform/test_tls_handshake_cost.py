"""What one handshake costs: work that does not depend on the handshake is done once.

A server answering thousands of handshakes a second (``pyquic perf --scenario hps``) pays for
every HKDF call and every task per connection.  Without a PSK, the Early Secret and the salt of
the Handshake Secret are constants of the hash (RFC 8446 §7.1), so a handshake extracts only the
Handshake and Main Secrets; and an asyncio client connection costs no background task beyond
the connection's own, while its socket still closes with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import hashes

import pyquic.aio as aio
from pyquic.platform.crypto.hkdf import BytesLike
from pyquic.platform.crypto.suites import CipherSuite
from pyquic.platform.tls import ClientSession, ServerSession, TlsConfig, key_schedule
from pyquic.platform.tls.certificates import NoVerification
from pyquic.platform.tls.constants import EncryptionLevel
from pyquic.testing.certificates import make_test_credentials

_LEVELS = (EncryptionLevel.INITIAL, EncryptionLevel.HANDSHAKE, EncryptionLevel.APPLICATION)
_PKI = make_test_credentials(("localhost",))


def _handshake() -> tuple[ClientSession, ServerSession]:
    client = ClientSession(
        TlsConfig(is_client=True, alpn_protocols=(b"perf",), verifier=NoVerification()),
        b"client parameters",
    )
    server = ServerSession(
        TlsConfig(is_client=False, alpn_protocols=(b"perf",), credential=_PKI.server_credential),
        b"server parameters",
    )
    client.start()
    sessions = (client, server)
    moved = True
    while moved:
        moved = False
        for sender, receiver in (sessions, sessions[::-1]):
            for level in _LEVELS:
                if data := sender.data_to_send(level):
                    receiver.receive(level, data)
                    moved = True
    assert client.handshake_complete and server.handshake_complete
    return client, server


def test_a_handshake_without_psk_extracts_only_the_handshake_and_main_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _handshake()  # the constants of SHA-256 are computed here, once
    extracts: list[bytes] = []
    real_extract: Callable[[hashes.HashAlgorithm, BytesLike, BytesLike], bytes]
    real_extract = key_schedule.hkdf_extract

    def counting(algorithm: hashes.HashAlgorithm, salt: BytesLike, ikm: BytesLike) -> bytes:
        extracts.append(bytes(ikm))
        return real_extract(algorithm, salt, ikm)

    monkeypatch.setattr(key_schedule, "hkdf_extract", counting)
    client, server = _handshake()
    # RFC 8446 §7.1: per side, HKDF-Extract(salt, (EC)DHE) and HKDF-Extract(salt, 0)
    assert len(extracts) == 4
    assert extracts.count(bytes(32)) == 2  # the two Main Secrets
    # and the secrets still agree: each side read what the other wrote
    assert client.exporter_secret == server.exporter_secret != b""
    # RFC 8448 §3 (a handshake without PSK): the Early Secret, and the Handshake Secret from
    # its ECDHE output, as when each handshake computed them
    schedule = key_schedule.KeySchedule(CipherSuite.AES_128_GCM_SHA256)
    assert schedule.early_secret.hex() == (
        "33ad0a1c607ec03b09e6cd9893680ce210adf300aa1f2660e1b22e10f170f92a"
    )
    schedule.enter_handshake(
        bytes.fromhex("8bd4054fb55b9d63fdfbacf9f04b9f0d35e6d63f537563efd46272900f89492d")
    )
    assert schedule.handshake_secret.hex() == (
        "1dc826e93606aa6fdc0aadc12f741b01046aa6b99f691ed221a9f0ca043fbeac"
    )


async def _connect_and_close() -> tuple[int, int, bool]:
    server = await aio.serve(
        "127.0.0.1",
        0,
        configuration=aio.QuicConfiguration(
            alpn_protocols=["perf"], credential=_PKI.server_credential
        ),
        connection_handler=lambda connection: asyncio.sleep(0),
    )
    port = int(server.local_address[1])  # type: ignore[call-overload]
    config = aio.QuicConfiguration(alpn_protocols=["perf"], verify=False)
    try:
        before = len(asyncio.all_tasks())
        connection = await aio.connect("127.0.0.1", port, configuration=config)
        during = len(asyncio.all_tasks())
        binding = connection._binding
        connection.close()
        await asyncio.wait_for(connection.wait_closed(), 10)
        await asyncio.sleep(0)  # the socket closes one loop iteration after the connection
        return before, during, binding.datapath is not None and binding.datapath.closed
    finally:
        server.close()
        await server.wait_closed()


def test_a_client_connection_costs_no_task_and_still_closes_its_socket() -> None:
    before, during, socket_closed = asyncio.run(_connect_and_close())
    assert during == before
    assert socket_closed
