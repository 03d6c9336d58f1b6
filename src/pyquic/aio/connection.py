"""The asyncio API: ``await connect(...)``, ``await serve(...)``, connections and their streams.

Design: the same engine as MsQuic's object model.  A :class:`~pyquic.platform.binding.Binding`
runs on a worker that adopts the caller's running event loop, so every protocol operation, event
and callback happens on that loop's thread without locks.  A :class:`QuicConnection` wraps one
core connection; application calls act on it and mark it touched, and one service pass per loop
iteration sends what they produced (many writes, one batch of datagrams).
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import os
import socket
import weakref
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Literal, NamedTuple

from pyquic.aio.config import QlogFile, QuicConfiguration
from pyquic.aio.streams import QuicStreamReader, QuicStreamWriter, StreamClosedError
from pyquic.core.connection import Connection, ConnectionState
from pyquic.core.endpoint import ServerConfig
from pyquic.core.events import (
    ConnectionEvent,
    ConnectionTerminated,
    HandshakeCompleted,
    StopSendingReceived,
    StreamOpened,
    StreamReadable,
    StreamReset,
    StreamsAvailable,
    TlsNotice,
)
from pyquic.core.paths import MigrationError
from pyquic.core.streams import StreamLimitError
from pyquic.core.transport_params import TransportParameters, parse_transport_parameters
from pyquic.core.version import SUPPORTED_VERSIONS
from pyquic.platform.binding import Binding, ViaSocket
from pyquic.platform.crypto import CryptoProvider
from pyquic.platform.crypto.tokens import AesGcmTokenSealer
from pyquic.platform.execution import Worker, now_us
from pyquic.platform.tls import ClientSession, ServerSession, TlsConfig
from pyquic.platform.tls.events import SessionTicketReceived
from pyquic.platform.tls.tickets import SessionTicket

StreamHandler = Callable[[QuicStreamReader, QuicStreamWriter], Coroutine[Any, Any, None]]
ConnectionHandler = Callable[["QuicConnection"], Coroutine[Any, Any, None]]
_TASKS: set[asyncio.Task[None]] = set()  # strong references to handler tasks until they end


def _spawn(coroutine: Coroutine[Any, Any, None]) -> None:
    task = asyncio.get_running_loop().create_task(coroutine)
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)


_RESET_KEY_BYTES = 32


class PathInfo(NamedTuple):
    """A connection's active path: the peer's address, whether PATH_CHALLENGE / PATH_RESPONSE
    (or the handshake) validated it, and how many paths PATH_RESPONSE validated so far."""

    peer_address: object
    validated: bool
    validations: int


class QuicConnection:
    """One QUIC connection for asyncio code."""

    def __init__(self, binding: Binding, core: Connection) -> None:
        self._binding = binding
        self._core = core
        self._handshake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # weak: a stream's objects live as long as the application (or a pending event) holds
        # them, so a connection that serves a million streams keeps only the live ones
        self._readers: weakref.WeakValueDictionary[int, QuicStreamReader] = (
            weakref.WeakValueDictionary()
        )
        self._writers: weakref.WeakValueDictionary[int, QuicStreamWriter] = (
            weakref.WeakValueDictionary()
        )
        # the writers waiting in drain()/wait_closed(): only they need a progress wake-up
        self._waiting_writers: dict[QuicStreamWriter, None] = {}
        self._incoming: deque[tuple[QuicStreamReader, QuicStreamWriter]] = deque()
        self._incoming_waiter: asyncio.Future[None] | None = None
        # every opener waiting for stream credit (RFC 9000 §4.6); all wake on MAX_STREAMS
        self._streams_waiters: list[asyncio.Future[None]] = []
        self.terminated: ConnectionTerminated | None = None
        self.session_tickets: list[SessionTicket] = []
        # the handshake's outcome (RFC 8446 §2.2, §4.2.10), set when it completes
        self.session_resumed = False
        self.early_data_accepted = False  # a client's 0-RTT data was accepted by the server
        self.on_stream: StreamHandler | None = None  # server side: a task per peer stream
        self._qlog: QlogFile | None = None
        # waiters for the handshake's confirmation (RFC 9001 §4.1.2), checked after service
        self._confirm_waiters: list[asyncio.Future[None]] = []

    # --- public API ------------------------------------------------------------------------

    @property
    def alpn(self) -> bytes | None:
        return self._core.alpn

    @property
    def statistics(self) -> Mapping[str, object]:
        return self._core.stats.as_dict()

    @property
    def path(self) -> PathInfo:
        """The active network path (RFC 9000 §8.2, §9)."""
        paths = self._core.paths
        peer = paths.active.address
        peer = peer.remote if isinstance(peer, ViaSocket) else peer
        return PathInfo(peer, paths.active.validated, paths.validations)

    def get_extra_info(self, name: str, default: object = None) -> object:
        if name == "peername":
            peer = self._core.peer_address
            return peer.remote if isinstance(peer, ViaSocket) else peer
        if name == "sockname":
            return self._binding.local_address
        if name == "alpn":
            return self.alpn
        return default

    async def wait_connected(self) -> None:
        """Wait for the handshake to complete; raises ConnectionError if it fails."""
        await asyncio.shield(self._handshake)

    async def open_stream(
        self, *, bidirectional: bool = True
    ) -> tuple[QuicStreamReader, QuicStreamWriter]:
        """Open a stream, waiting while the peer's stream limit is reached (RFC 9000 §4.6)."""
        while True:
            self._check_open()
            try:
                stream_id = self._core.open_stream(bidirectional=bidirectional)
                break
            except StreamLimitError:
                waiter = asyncio.get_running_loop().create_future()
                self._streams_waiters.append(waiter)
                self._binding.touch(self._core)  # send STREAMS_BLOCKED
                await waiter
        return self._stream_pair(stream_id, local=True)

    async def accept_stream(self) -> tuple[QuicStreamReader, QuicStreamWriter]:
        """The next stream the peer opened."""
        while not self._incoming:
            self._check_open()
            self._incoming_waiter = asyncio.get_running_loop().create_future()
            await self._incoming_waiter
        return self._incoming.popleft()

    async def wait_confirmed(self) -> None:
        """Wait for the handshake to be confirmed (RFC 9001 §4.1.2: for a client, HANDSHAKE_DONE
        arrived); raises ConnectionError if the connection closes first."""
        while not self._core.handshake_confirmed:
            self._check_open()
            waiter = asyncio.get_running_loop().create_future()
            self._confirm_waiters.append(waiter)
            await waiter

    async def migrate(self, local_address: tuple[str, int] | None = None) -> tuple[object, ...]:
        """Client: move to a new UDP socket bound to ``local_address`` (default: this host, a
        new port), switch to an unused connection ID of the server's and validate the new path
        (RFC 9000 §9.2, §9.5): MsQuic's LOCAL_ADDRESS set on a started client connection.
        Waits for the handshake's confirmation first (RFC 9000 §9).  Returns the new local
        address.  Raises :class:`~pyquic.core.paths.MigrationError` (and moves nothing) when the
        server sent disable_active_migration or no unused connection ID is left, ConnectionError
        when the connection is closed and OSError when the address cannot be bound."""
        if not self._core.is_client:
            raise MigrationError("only a client migrates (RFC 9000 §9)")
        await self.wait_confirmed()
        self._check_open()
        address = self._binding.rebind(
            local_address, before_switch=lambda: self._core.migrate(_now())
        )
        self._binding.touch(self._core)  # the PATH_CHALLENGE leaves at once
        return address

    def initiate_key_update(self) -> bool:
        """Update the 1-RTT keys now (RFC 9001 §6.1); False when not possible yet."""
        started = self._core.initiate_key_update()
        if started:
            self._binding.touch(self._core)
        return started

    def close(self, error_code: int = 0, reason: str = "") -> None:
        """Close with an application error code (RFC 9000 §10.2)."""
        self._core.close(error_code, reason, application=True, now_us=_now())
        self._binding.touch(self._core)

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed)

    # --- the engine's side ------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._core.state not in (ConnectionState.HANDSHAKE, ConnectionState.ESTABLISHED):
            reason = self.terminated.reason if self.terminated else self._core.state.value
            raise ConnectionError(f"the connection is closed: {reason}")

    def _stream_pair(
        self, stream_id: int, *, local: bool
    ) -> tuple[QuicStreamReader, QuicStreamWriter]:
        reader = QuicStreamReader(self, stream_id)
        writer = QuicStreamWriter(self, stream_id)
        bidirectional = not stream_id & 0x2
        if bidirectional or not local:
            self._readers[stream_id] = reader
        if bidirectional or local:
            self._writers[stream_id] = writer
        return reader, writer

    def _read_stream(self, stream_id: int, max_bytes: int) -> tuple[bytes, bool]:
        data, fin = self._core.read_stream(stream_id, max_bytes)
        if data:
            self._binding.touch(self._core)  # credit may be due (MAX_STREAM_DATA)
        return data, fin

    def _send_stream(self, stream_id: int, data: bytes, *, fin: bool) -> None:
        self._check_open()
        self._core.send_stream(stream_id, data, fin=fin)
        self._binding.touch(self._core)

    def _reset_stream(self, stream_id: int, error_code: int) -> None:
        self._core.reset_stream(stream_id, error_code)
        self._binding.touch(self._core)

    def _buffered(self, stream_id: int) -> int:
        stream = self._core.streams.get(stream_id)
        return stream.send.buffered_bytes if stream is not None and stream.send else 0

    def _send_finished(self, stream_id: int) -> bool:
        stream = self._core.streams.get(stream_id)
        return stream is None or stream.send is None or stream.send.is_terminal

    def _on_event(self, event: ConnectionEvent) -> None:
        if isinstance(event, HandshakeCompleted):
            self.session_resumed = event.session_resumed
            self.early_data_accepted = event.early_data_accepted
            _resolve(self._handshake)
        elif isinstance(event, StreamReadable):
            self._reader_for(event.stream_id)._on_readable()
        elif isinstance(event, StreamOpened):
            self._on_peer_stream(event.stream_id)
        elif isinstance(event, StreamReset):
            self._reader_for(event.stream_id)._on_readable()
        elif isinstance(event, StopSendingReceived):
            writer = self._writers.get(event.stream_id)
            if writer is not None:
                writer._set_error(
                    StreamClosedError(
                        f"peer stopped reading (code {event.error_code})", event.error_code
                    )
                )
        elif isinstance(event, StreamsAvailable):
            self._wake_stream_openers()
        elif isinstance(event, ConnectionTerminated):
            self._on_terminated(event)
        elif isinstance(event, TlsNotice) and isinstance(event.event, SessionTicketReceived):
            self.session_tickets.append(event.event.ticket)

    def _wake_stream_openers(self) -> None:
        waiters, self._streams_waiters = self._streams_waiters, []
        for waiter in waiters:
            _resolve(waiter)

    def _reader_for(self, stream_id: int) -> QuicStreamReader:
        reader = self._readers.get(stream_id)
        if reader is None:
            reader, _ = self._stream_pair(stream_id, local=False)
        return reader

    def _on_peer_stream(self, stream_id: int) -> None:
        if stream_id in self._readers:
            return
        pair = self._stream_pair(stream_id, local=False)
        if self.on_stream is not None:
            _spawn(self.on_stream(*pair))
        else:
            self._incoming.append(pair)
            _resolve(self._incoming_waiter)

    def _wait_for_progress(self, writer: QuicStreamWriter) -> None:
        self._waiting_writers[writer] = None

    def _on_progress(self) -> None:
        if self._waiting_writers:
            waiting, self._waiting_writers = self._waiting_writers, {}
            for writer in waiting:
                writer._on_progress()

    def _on_terminated(self, event: ConnectionTerminated) -> None:
        self.terminated = event
        error = ConnectionError(
            f"connection closed ({'peer' if event.by_peer else 'local'}, "
            f"code {event.error_code:#x}): {event.reason}"
        )
        if not self._handshake.done():
            self._handshake.set_exception(error)
            self._handshake.exception()  # mark retrieved: waiting is optional
        if self._readers:  # iterating a WeakValueDictionary costs even when it is empty
            for reader in list(self._readers.values()):
                reader._set_error(error)
        if self._writers:
            for writer in list(self._writers.values()):
                writer._set_error(error)
        _resolve(self._incoming_waiter)
        self._wake_stream_openers()
        self._wake_confirm_waiters()

    def _wake_confirm_waiters(self) -> None:
        waiters, self._confirm_waiters = self._confirm_waiters, []
        for waiter in waiters:
            _resolve(waiter)

    def _on_closed(self) -> None:
        if self.terminated is None:
            self._on_terminated(ConnectionTerminated(0, "closed", None, False, False))
        self._close_qlog()
        _resolve(self._closed)

    def _close_qlog(self) -> None:
        if self._qlog is not None:
            self._qlog.close()


def _resolve(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)


def _now() -> int:
    return now_us()


class _Engine:
    """The BindingObserver that turns core events into asyncio objects."""

    def __init__(self) -> None:
        self.connections: dict[Connection, QuicConnection] = {}
        self.binding: Binding | None = None
        self.on_connection: Callable[[QuicConnection], None] | None = None
        self.configuration: QuicConfiguration | None = None
        # server: qlog sinks by original DCID, until their connection is accepted (or dropped)
        self._qlogs: weakref.WeakValueDictionary[bytes, QlogFile] = weakref.WeakValueDictionary()

    def qlog_factory(self, original_dcid: bytes) -> QlogFile | None:
        sink = self.configuration.qlog_sink("server") if self.configuration else None
        if sink is not None:
            self._qlogs[original_dcid] = sink
        return sink

    def on_new_connection(self, binding: Binding, connection: Connection) -> None:
        wrapper = QuicConnection(binding, connection)
        wrapper._qlog = self._qlogs.pop(connection.original_destination_cid, None)
        if wrapper._qlog is not None:
            wrapper._qlog.open(connection.original_destination_cid)
        self.connections[connection] = wrapper
        if self.on_connection is not None:
            self.on_connection(wrapper)

    def on_connection_event(
        self, binding: Binding, connection: Connection, event: ConnectionEvent
    ) -> None:
        wrapper = self.connections.get(connection)
        if wrapper is not None:
            wrapper._on_event(event)

    def on_connection_closed(self, binding: Binding, connection: Connection) -> None:
        wrapper = self.connections.pop(connection, None)
        if wrapper is not None:
            wrapper._on_closed()

    def on_connections_served(self, binding: Binding, connections: list[Connection]) -> None:
        for connection in connections:
            wrapper = self.connections.get(connection)
            if wrapper is not None:
                wrapper._on_progress()
                if wrapper._confirm_waiters and connection.handshake_confirmed:
                    wrapper._wake_confirm_waiters()


def _tls_factory(config: TlsConfig) -> Callable[[bytes], ClientSession | ServerSession]:
    def factory(transport_parameters: bytes) -> ClientSession | ServerSession:
        if config.is_client:
            return ClientSession(config, transport_parameters)
        return ServerSession(config, transport_parameters)

    return factory


def _is_ip_literal(host: str) -> bool:
    """Whether ``host`` is a numeric IPv4 or IPv6 address (``inet_pton`` costs a fraction of
    ``ipaddress.ip_address``, and a perf client asks once per connection)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except (OSError, ValueError):
            continue
        return True
    return False


async def _resolve_address(host: str, port: int) -> tuple[str, int]:
    if _is_ip_literal(host):
        return host, port
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    if not infos:
        raise OSError(f"cannot resolve {host!r}")
    address = infos[0][4]
    return str(address[0]), int(address[1])


async def connect(
    host: str,
    port: int,
    *,
    configuration: QuicConfiguration,
    local_address: tuple[str, int] | None = None,
    wait_connected: bool = True,
    versions: tuple[int, ...] | None = None,
) -> QuicConnection:
    """Connect to ``host:port`` and (by default) wait for the handshake to complete.

    ``versions``: the QUIC versions accepted, most preferred first (offered in version_information
    with ``Settings.version_negotiation_ext_enabled``, RFC 9368 §3); the first flight is QUIC v1.
    """
    remote = await _resolve_address(host, port)
    loop = asyncio.get_running_loop()
    engine = _Engine()
    family_any = "::" if ":" in remote[0] else "0.0.0.0"
    binding = Binding.open(
        Worker.adopt(loop),
        local_address or (family_any, 0),
        settings=configuration.settings,
        crypto=CryptoProvider(),
        observer=engine,
        stateless_reset_key=os.urandom(_RESET_KEY_BYTES),
        use_gso=configuration.use_gso,
    )
    engine.binding = binding
    tls = configuration.client_tls(host)
    qlog = configuration.qlog_sink("client")
    try:
        core = binding.endpoint.connect(
            remote,
            _tls_factory(tls),
            _now(),
            qlog=qlog,
            remembered_parameters=_remembered_parameters(configuration),
            versions=versions,
        )
    except ValueError:
        binding.close()  # e.g. versions we do not implement: nothing was sent
        raise
    connection = QuicConnection(binding, core)
    if qlog is not None:
        qlog.open(core.original_destination_cid)
        connection._qlog = qlog
    engine.connections[core] = connection
    # the client's socket lives as long as its one connection (a callback, not a task: one
    # less coroutine per connection)
    connection._closed.add_done_callback(lambda _: binding.close())
    binding.service()
    if wait_connected:
        await connection.wait_connected()
    return connection


def _remembered_parameters(configuration: QuicConfiguration) -> TransportParameters | None:
    """The server's parameters stored with the ticket, for 0-RTT (RFC 9000 §7.4.1)."""
    ticket = configuration.session_ticket
    if ticket is None or not configuration.enable_early_data or not ticket.transport_parameters:
        return None
    return parse_transport_parameters(ticket.transport_parameters, from_server=True)


class QuicServer:
    """A listening server; ``close()`` stops it."""

    def __init__(self, binding: Binding, engine: _Engine) -> None:
        self._binding = binding
        self._engine = engine
        self._closed = asyncio.get_running_loop().create_future()
        self.preferred_address: tuple[str, int] | None = None  # offered to clients (§9.6)

    @property
    def local_address(self) -> tuple[object, ...]:
        return self._binding.local_address

    @property
    def connections(self) -> list[QuicConnection]:
        return list(self._engine.connections.values())

    def close(self) -> None:
        for connection in self.connections:
            connection.close(0, "server shutting down")
        self._binding.service()
        self._binding.close()
        for connection in self.connections:
            connection._close_qlog()  # abandoned with the binding: never reported closed
        _resolve(self._closed)

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed)

    async def __aenter__(self) -> QuicServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


async def serve(
    host: str,
    port: int,
    *,
    configuration: QuicConfiguration,
    stream_handler: StreamHandler | None = None,
    connection_handler: ConnectionHandler | None = None,
    reuse_port: bool = False,
    retry: Literal["never", "always", "auto"] = "never",
    versions: tuple[int, ...] | None = None,
    preferred_address: tuple[str, int] | None = None,
    advertised_preferred_address: tuple[str, int] | None = None,
) -> QuicServer:
    """Listen on ``host:port``; each peer stream runs ``stream_handler(reader, writer)`` as a
    task, or ``connection_handler(connection)`` runs per connection to accept streams itself.

    ``retry`` is the server's address validation (:class:`ServerConfig`; a fresh AES-GCM token
    key is generated when it is not "never"); ``versions`` the QUIC versions accepted, in
    preference order (None: all supported).  ``preferred_address`` (a numeric IP address and a
    port, 0 for any) is also listened on and offered to every client as the server's preferred
    address (RFC 9000 §9.6); clients that allow migration move there after the handshake.
    ``advertised_preferred_address`` is offered instead when a NAT or relay forwards it to the
    listening one."""
    if (stream_handler is None) == (connection_handler is None):
        raise ValueError("give exactly one of stream_handler and connection_handler")
    if host:  # the datapath binds numeric addresses
        host, port = await _resolve_address(host, port)
    loop = asyncio.get_running_loop()
    engine = _Engine()
    engine.configuration = configuration
    tls = configuration.server_tls()
    server_config = ServerConfig(
        tls_factory=_tls_factory(tls),
        settings=configuration.settings,
        qlog_factory=engine.qlog_factory if configuration.qlog_dir is not None else None,
        retry=retry,
        token_sealer=(
            AesGcmTokenSealer(AesGcmTokenSealer.generate_key()) if retry != "never" else None
        ),
        versions=versions if versions is not None else tuple(SUPPORTED_VERSIONS),
    )
    binding = Binding.open(
        Worker.adopt(loop),
        (host, port),
        settings=configuration.settings,
        crypto=CryptoProvider(),
        observer=engine,
        stateless_reset_key=os.urandom(_RESET_KEY_BYTES),
        use_gso=configuration.use_gso,
        server=server_config,
        reuse_port=reuse_port,
    )
    engine.binding = binding
    offered = _listen_preferred(
        binding, server_config, preferred_address, advertised_preferred_address
    )

    def on_connection(connection: QuicConnection) -> None:
        if stream_handler is not None:
            connection.on_stream = stream_handler
        elif connection_handler is not None:
            _spawn(connection_handler(connection))

    engine.on_connection = on_connection
    server = QuicServer(binding, engine)
    server.preferred_address = offered
    return server


def _listen_preferred(
    binding: Binding,
    config: ServerConfig,
    address: tuple[str, int] | None,
    advertised: tuple[str, int] | None,
) -> tuple[str, int] | None:
    """Listen on the preferred address too and offer it (RFC 9000 §9.6); the offered address."""
    if address is None:
        return None
    try:
        bound = binding.add_socket(address)
        offered = advertised or (address[0], int(bound[1]))
        ip = ipaddress.ip_address(offered[0])
        if ip.is_unspecified:
            raise ValueError("a preferred address must be one clients reach, not a wildcard")
    except (ValueError, OSError):
        binding.close()
        raise
    offered = (str(ip), offered[1])
    offer = (offered, None) if ip.version == 4 else (None, offered)
    binding.endpoint.server = dataclasses.replace(config, preferred_address=offer)
    return offered
