"""A client that sent no token ignores an Initial CONNECTION_CLOSE with INVALID_TOKEN (RFC 9000
§8.1.2, §10.2.3, §20.1): the server complains about a Token field the client never sent, so one
of the client's Initials reached it corrupted; the handshake goes on with the next Initial.  A
client that did send a token (a Retry token here) takes the close as it is."""

from __future__ import annotations

import dataclasses
import random

from endpoint_world import SERVER, make_world
from forge import deliver, flush, forge_datagram

from pyquic.core.connection import ConnectionState
from pyquic.core.errors import TransportErrorCode
from pyquic.core.frames import ConnectionCloseFrame
from pyquic.core.levels import EncryptionLevel
from pyquic.platform.crypto.tokens import AesGcmTokenSealer
from pyquic.testing.certificates import make_test_credentials
from pyquic.testing.pair import DEFAULT_EPOCH, connection_pair

LATENCY_US = 10_000
INVALID_TOKEN = ConnectionCloseFrame(
    error_code=TransportErrorCode.INVALID_TOKEN, frame_type=0, reason=b"", application=False
)


def test_a_client_that_sent_no_token_ignores_invalid_token() -> None:
    pair = connection_pair(seed=81)
    client, server = pair.client, pair.server
    now = pair.network.now_us
    hello = flush(client, now)
    deliver(server, hello, now + LATENCY_US)
    # the server's answer is replaced by an INVALID_TOKEN close (the ClientHello it saw was
    # corrupted); the client ignores it and the handshake completes with the next exchange
    close = forge_datagram(server, [INVALID_TOKEN], level=EncryptionLevel.INITIAL, now_us=now)
    deliver(client, [close], now + 2 * LATENCY_US)
    assert client.state is ConnectionState.HANDSHAKE
    assert client.stats.recv_ignored_closes == 1
    pair.run(lambda: client.handshake_confirmed and server.handshake_confirmed)


def test_a_client_that_sent_a_retry_token_takes_the_close() -> None:
    pki = make_test_credentials(now=DEFAULT_EPOCH)
    world = make_world(pki, clients=("client-1",))
    sealer = AesGcmTokenSealer(bytes(range(32)), random_bytes=random.Random(7).randbytes)
    world.server_config = dataclasses.replace(
        world.server_config, retry="always", token_sealer=sealer
    )
    server_endpoint = world.restart_server()
    client = world.clients["client-1"].connect(SERVER, world.client_tls, 0)
    ((initial, _),) = client.datagrams_to_send(0)
    server_endpoint.receive_datagram(initial, "client-1", 0)
    ((retry, _),) = server_endpoint.datagrams_to_send(0)
    client.receive_datagram(retry, SERVER, 1)
    assert client.token  # the Retry token: the client's next Initials carry it
    ((second, _),) = client.datagrams_to_send(1)
    server_endpoint.receive_datagram(second, "client-1", 2)
    (server,) = server_endpoint.connections
    close = forge_datagram(server, [INVALID_TOKEN], level=EncryptionLevel.INITIAL, now_us=3)
    client.receive_datagram(close, SERVER, 3)
    assert client.state is ConnectionState.DRAINING
    assert client.stats.recv_ignored_closes == 0
