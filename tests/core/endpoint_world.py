"""A world for endpoint tests: a simulated network, a server endpoint, client endpoints, apps.

:func:`make_world` puts a server :class:`~pyquic.core.endpoint.Endpoint` at ``"server"`` (behind a
:class:`Swappable`, so a test can restart it) and one client endpoint at each client address, all
with real TLS wired as :mod:`pyquic.testing.pair` does.  :class:`EchoServer` echoes every stream
back once its FIN arrives; :class:`EchoClient` sends payloads once connected and checks the echo.
The forging helpers at the end build datagrams a real peer would not send.  Public APIs only.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

from pyquic.core.connection import Connection
from pyquic.core.endpoint import ConnectionClosed, Endpoint, NewConnection, ServerConfig
from pyquic.core.events import (
    ConnectionTerminated,
    HandshakeCompleted,
    NewTokenReceived,
    StreamOpened,
    StreamReadable,
)
from pyquic.core.packet_header import encode_long_header
from pyquic.core.settings import Settings
from pyquic.core.tls_interface import TlsSessionLike
from pyquic.core.version import QUIC_V1, QUIC_V2, V1, PacketType
from pyquic.platform.crypto import CryptoProvider
from pyquic.testing.certificates import TestPki
from pyquic.testing.network import LinkConditions, SimulatedNetwork
from pyquic.testing.pair import pair_settings, tls_configs, tls_factory

SERVER = "server"
CLIENTS = ("client-1", "client-2", "client-3")
SERVER_KEY = bytes(range(32))
TlsFactory = Callable[[bytes], TlsSessionLike]


# --- the world: a network, a server endpoint, client endpoints --------------------------------


class Recorder:
    """A network endpoint that only records what it receives (a probe or an attacker)."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, Hashable]] = []

    def receive_datagram(self, data: bytes, address: Hashable, now_us: int, /) -> None:
        self.received.append((data, address))

    def datagrams_to_send(self, now_us: int, /) -> Sequence[tuple[bytes, Hashable]]:
        return []

    def next_timer_us(self) -> int | None:
        return None

    def handle_timer(self, now_us: int, /) -> None:
        return None


class Swappable:
    """Delegates to an endpoint that a test can replace, as if the process restarted."""

    def __init__(self, target: Endpoint) -> None:
        self.target = target

    def receive_datagram(self, data: bytes, address: Hashable, now_us: int, /) -> None:
        self.target.receive_datagram(data, address, now_us)

    def datagrams_to_send(self, now_us: int, /) -> Sequence[tuple[bytes, Hashable]]:
        return self.target.datagrams_to_send(now_us)

    def next_timer_us(self) -> int | None:
        return self.target.next_timer_us()

    def handle_timer(self, now_us: int, /) -> None:
        self.target.handle_timer(now_us)


@dataclass(slots=True)
class World:
    network: SimulatedNetwork
    server: Endpoint
    clients: dict[str, Endpoint]
    client_tls: TlsFactory
    server_config: ServerConfig
    crypto: CryptoProvider
    server_slot: Swappable

    def new_server_endpoint(self, seed: str) -> Endpoint:
        """A fresh server endpoint with the same static reset key (a restarted process)."""
        return Endpoint(
            settings=self.server_config.settings,
            crypto=self.crypto,
            rng=random.Random(seed),
            stateless_reset_key=SERVER_KEY,
            server=self.server_config,
        )

    def restart_server(self) -> Endpoint:
        self.server = self.new_server_endpoint("restarted")
        self.server_slot.target = self.server
        return self.server


def make_world(
    pki: TestPki,
    *,
    seed: int = 0,
    clients: Sequence[str] = CLIENTS,
    endpoint_settings: Settings | None = None,
    max_handshakes: int = 64,
    versions: tuple[int, ...] = (QUIC_V1, QUIC_V2),
    conditions: LinkConditions | None = None,
) -> World:
    network = SimulatedNetwork(seed, conditions=conditions)
    client_tls, server_tls = tls_configs(pki, network, seed=seed)
    conn_settings = endpoint_settings if endpoint_settings is not None else pair_settings()
    crypto = CryptoProvider()
    config = ServerConfig(
        tls_factory(server_tls), conn_settings, max_handshakes=max_handshakes, versions=versions
    )
    server = Endpoint(
        settings=conn_settings,
        crypto=crypto,
        rng=random.Random(f"server/{seed}"),
        stateless_reset_key=SERVER_KEY,
        server=config,
    )
    slot = Swappable(server)
    network.add_endpoint(SERVER, slot)
    endpoints = {}
    for address in clients:
        endpoints[address] = Endpoint(
            settings=conn_settings,
            crypto=crypto,
            rng=random.Random(f"{address}/{seed}"),
            stateless_reset_key=hashlib.sha256(address.encode()).digest(),
        )
        network.add_endpoint(address, endpoints[address])
    return World(network, server, endpoints, tls_factory(client_tls), config, crypto, slot)


# --- the applications: an echo server and clients that check the echo ------------------------


class EchoServer:
    """Echoes every stream the clients open once its FIN arrives."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.conns: list[Connection] = []
        self.closed: list[ConnectionClosed] = []
        self.buffers: dict[tuple[Connection, int], bytearray] = {}
        self.finished: set[tuple[Connection, int]] = set()

    def step(self) -> None:
        endpoint = self.world.server
        while (event := endpoint.poll_event()) is not None:
            if isinstance(event, NewConnection):
                self.conns.append(event.connection)
            else:
                self.closed.append(event)
        for conn in self.conns:
            self._poll(endpoint, conn)

    def _poll(self, endpoint: Endpoint, conn: Connection) -> None:
        while (event := conn.poll_event()) is not None:
            if not isinstance(event, StreamOpened | StreamReadable):
                continue
            key = (conn, event.stream_id)
            if key in self.finished:
                continue
            data, fin = conn.read_stream(event.stream_id)
            self.buffers.setdefault(key, bytearray()).extend(data)
            if fin:
                self.finished.add(key)
                conn.send_stream(event.stream_id, bytes(self.buffers[key]), fin=True)
                endpoint.touch(conn)


@dataclass(slots=True)
class EchoClient:
    """One client connection: sends its payloads once connected and collects the echoes."""

    address: str
    endpoint: Endpoint
    conn: Connection
    payloads: list[bytes]
    sent: dict[int, bytes] = field(default_factory=dict)
    echoed: dict[int, bytearray] = field(default_factory=dict)
    finished: set[int] = field(default_factory=set)
    established: bool = False
    terminated: ConnectionTerminated | None = None
    tokens: list[bytes] = field(default_factory=list)  # NEW_TOKEN tokens (RFC 9000 §8.1.3)

    def step(self) -> None:
        while (event := self.conn.poll_event()) is not None:
            if isinstance(event, HandshakeCompleted):
                self.established = True
                self.send(self.payloads)
            elif isinstance(event, StreamReadable) and event.stream_id not in self.finished:
                data, fin = self.conn.read_stream(event.stream_id)
                self.echoed.setdefault(event.stream_id, bytearray()).extend(data)
                if fin:
                    self.finished.add(event.stream_id)
            elif isinstance(event, ConnectionTerminated):
                self.terminated = event
            elif isinstance(event, NewTokenReceived):
                self.tokens.append(event.token)

    def send(self, payloads: list[bytes]) -> None:
        for payload in payloads:
            stream_id = self.conn.open_stream()
            self.conn.send_stream(stream_id, payload, fin=True)
            self.sent[stream_id] = payload
        self.endpoint.touch(self.conn)

    @property
    def done(self) -> bool:
        return self.established and self.finished == set(self.sent)

    def assert_intact(self) -> None:
        assert self.terminated is None
        assert self.finished == set(self.sent)
        for stream_id, payload in self.sent.items():
            assert bytes(self.echoed[stream_id]) == payload, f"stream {stream_id} differs"


def payloads_for(address: str, count: int = 2, size: int = 30_000) -> list[bytes]:
    rng = random.Random(f"payload/{address}")
    return [rng.randbytes(size) for _ in range(count)]


def start_clients(world: World, *, version: int = QUIC_V1) -> list[EchoClient]:
    now = world.network.now_us
    clients = []
    for address, endpoint in world.clients.items():
        conn = endpoint.connect(SERVER, world.client_tls, now, version=version)
        clients.append(EchoClient(address, endpoint, conn, payloads_for(address)))
    return clients


def run_echo(
    world: World,
    clients: list[EchoClient],
    echo: EchoServer,
    *,
    until: Callable[[], bool] | None = None,
    on_step: Callable[[], None] | None = None,
    max_time_us: int = 20_000_000,
) -> None:
    def step() -> bool:
        echo.step()
        for client in clients:
            client.step()
        if on_step is not None:
            on_step()
        return until() if until is not None else all(c.done for c in clients)

    world.network.run(step, max_time_us=max_time_us, max_events=200_000)


def server_conn_of(echo: EchoServer, client: EchoClient) -> Connection:
    (match,) = [c for c in echo.conns if c.original_destination_cid == client_odcid(client)]
    return match


def client_odcid(client: EchoClient) -> bytes:
    return client.conn.original_destination_cid


# --- forged datagrams ------------------------------------------------------------------------


def forged_long_header(
    packet_type: PacketType, dcid: bytes, scid: bytes, size: int, *, seed: int = 0
) -> bytes:
    """A v1 long header with a random (undecryptable) payload, ``size`` bytes in all."""

    def header(payload_length: int) -> bytes:
        return encode_long_header(
            V1,
            packet_type,
            dcid,
            scid,
            packet_number=0,
            pn_length=1,
            payload_length=payload_length,
            length_field_size=2,  # the header's size does not depend on the payload's
        )

    payload_length = size - len(header(0))
    return header(payload_length) + random.Random(seed).randbytes(payload_length)


def real_initial(world: World) -> bytes:
    """A client's first Initial datagram, from a connection no endpoint knows."""
    conn = Connection(
        is_client=True,
        settings=pair_settings(),
        tls_factory=world.client_tls,
        crypto=world.crypto,
        rng=random.Random("stray"),
        now_us=0,
        peer_address=SERVER,
        stateless_reset_key=bytes(32),
    )
    ((datagram, _),) = conn.datagrams_to_send(0)
    return datagram


def unknown_version_initial(dcid: bytes, scid: bytes, size: int) -> bytes:
    header = b"\xc0" + (0x1A2A3A4A).to_bytes(4, "big")
    header += bytes([len(dcid)]) + dcid + bytes([len(scid)]) + scid
    return header + bytes(size - len(header))


def short_header(dcid: bytes, size: int, seed: int = 0) -> bytes:
    return b"\x40" + dcid + random.Random(seed).randbytes(size - 1 - len(dcid))
