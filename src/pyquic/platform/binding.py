"""A binding: one UDP socket, the endpoint that routes its datagrams, served by one worker.

MsQuic's execution model (msquic-facts §4): every operation on a connection (datagrams received,
a timer, an application call) runs serialized on the worker that owns it, and each connection hands
only its earliest timer to the worker's timer wheel.  Here a :class:`Binding` is that unit: the
datapath delivers a batch of datagrams, the sans-I/O :class:`~pyquic.core.endpoint.Endpoint` routes
them, then one *service pass* hands every connection event to the observer (the API layer),
flushes what the connections want to send as one batch (so the datapath can use GSO), and moves
the touched connections' timers in the wheel.  All methods run on the worker's thread.

Paths over more than one socket (RFC 9000 §9):

* A server binding may listen on additional sockets (:meth:`Binding.add_socket`, for the
  preferred address it offers, RFC 9000 §9.6).  A datagram from one of them reaches the endpoint
  with its peer address wrapped in :class:`ViaSocket`, so the core sees the same peer through
  another local address as another path (a path is the 4-tuple) and validates it; what the core
  sends to a :class:`ViaSocket` leaves from that socket, so every path is answered from the local
  address it uses (RFC 9000 §9.6.1).
* A client binding moves to a new socket with :meth:`Binding.rebind` (MsQuic's LOCAL_ADDRESS set
  on a started client connection): the client's active migration (RFC 9000 §9.2), and,
  automatically, when a connection moved to the server's preferred address (the core's
  ``paths.rebind_requested``, RFC 9000 §9.6.1).  The old socket keeps receiving for
  :data:`RETIRED_SOCKET_LINGER_S` (packets already in flight to it), then closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Protocol, cast

from pyquic.core.connection import Connection
from pyquic.core.endpoint import ConnectionClosed, Endpoint, NewConnection, ServerConfig
from pyquic.core.events import ConnectionEvent
from pyquic.core.qlog import QlogSink
from pyquic.core.settings import Settings
from pyquic.core.tls_interface import PacketProtectionFactory, TlsSessionLike
from pyquic.platform.datapath import ReceivedDatagram, SocketAddress, UdpDatapath
from pyquic.platform.execution import Worker, now_us
from pyquic.platform.timer_wheel import TimerWheel

Address = Hashable
MAX_SERVICE_ROUNDS = 8  # send passes per service call before yielding to the loop
RETIRED_SOCKET_LINGER_S = 2.0  # a client's old socket keeps receiving this long after a move
_Batch = Sequence[tuple[bytes, Address]]


@dataclass(frozen=True, slots=True)
class ViaSocket:
    """A peer address as seen through one of a server binding's additional sockets."""

    remote: SocketAddress  # the peer's address
    local: SocketAddress  # the additional socket's bound address

    def __str__(self) -> str:
        return f"{self.remote} via {self.local}"


class BindingObserver(Protocol):
    """What the layer above hears from a binding (all calls on the worker's thread)."""

    def on_new_connection(self, binding: Binding, connection: Connection) -> None: ...

    def on_connection_event(
        self, binding: Binding, connection: Connection, event: ConnectionEvent
    ) -> None: ...

    def on_connection_closed(self, binding: Binding, connection: Connection) -> None: ...

    def on_connections_served(self, binding: Binding, connections: list[Connection]) -> None:
        """After a service pass: these connections may have progressed (ACKs freed buffers)."""
        ...


class Binding:
    """A datapath and an endpoint on one worker (see the module docstring)."""

    def __init__(
        self,
        worker: Worker,
        endpoint: Endpoint,
        observer: BindingObserver,
    ) -> None:
        self.worker = worker
        self.endpoint = endpoint
        self.observer = observer
        self.datapath: UdpDatapath | None = None
        self._wheel: TimerWheel[Connection] = TimerWheel()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_deadline_us: int | None = None
        self._service_scheduled = False
        self._closed = False
        self._use_gso = True
        self._sockets: dict[SocketAddress, UdpDatapath] = {}  # server: additional sockets
        self._retired: list[UdpDatapath] = []  # client: old sockets still receiving a while
        # client: the server address it left for the preferred address -> the old socket, so
        # the old path is still answered on its own 4-tuple (RFC 9000 §8.2.2, §9.3.3)
        self._old_paths: dict[Address, UdpDatapath] = {}

    @classmethod
    def open(
        cls,
        worker: Worker,
        local_address: tuple[str, int],
        *,
        settings: Settings,
        crypto: PacketProtectionFactory,
        observer: BindingObserver,
        stateless_reset_key: bytes,
        server: ServerConfig | None = None,
        rng: random.Random | None = None,
        reuse_port: bool = False,
        use_gso: bool = True,
    ) -> Binding:
        """Bind a UDP socket on ``local_address`` (port 0 picks one); call on the worker."""
        endpoint = Endpoint(
            settings=settings,
            crypto=crypto,
            rng=rng if rng is not None else random.SystemRandom(),
            stateless_reset_key=stateless_reset_key,
            server=server,
        )
        binding = cls(worker, endpoint, observer)
        binding._use_gso = use_gso
        binding.datapath = UdpDatapath.bind(
            local_address,
            loop=worker.loop,
            on_receive=binding._on_receive,
            reuse_port=reuse_port,
            use_gso=use_gso,  # off when captures must see one packet per datagram
        )
        return binding

    @property
    def local_address(self) -> tuple[object, ...]:
        assert self.datapath is not None
        return self.datapath.local_address

    # --- inputs --------------------------------------------------------------------------

    def connect(
        self,
        peer_address: Address,
        tls_factory: Callable[[bytes], TlsSessionLike],
        *,
        settings: Settings | None = None,
        qlog: QlogSink | None = None,
    ) -> Connection:
        """Start a client connection to ``peer_address``; its first flight leaves at once."""
        connection = self.endpoint.connect(
            peer_address, tls_factory, now_us(), settings=settings, qlog=qlog
        )
        self.service()
        return connection

    def touch(self, connection: Connection) -> None:
        """The application acted on ``connection``: serve it soon (coalesces many calls)."""
        self.endpoint.touch(connection)
        self._schedule_service()

    def _on_receive(self, datagrams: list[ReceivedDatagram]) -> None:
        now = now_us()
        receive = self.endpoint.receive_datagram
        for data, remote, _, ecn in datagrams:  # unpacked: cheaper than three field reads
            receive(data, remote, now, ecn=ecn)
        self._after_receive()

    def _on_receive_via(self, local: SocketAddress, datagrams: list[ReceivedDatagram]) -> None:
        now = now_us()
        receive = self.endpoint.receive_datagram
        for data, remote, _, ecn in datagrams:
            receive(data, ViaSocket(remote, local), now, ecn=ecn)
        self._after_receive()

    def _after_receive(self) -> None:
        """Wake the application at once, send one loop iteration later.

        The tasks the events wake run before the service pass, so what they write in answer
        (the next request, a response) leaves together with the ACKs the datagrams called
        for: one datagram where there would be two, on both ends.
        """
        self._deliver_events(self.endpoint.connections_with_input())
        self._schedule_service()

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_deadline_us = None
        now = now_us()
        for connection in self._wheel.pop_expired(now):
            self.endpoint.handle_timer(connection, now)
        self.service()

    # --- the service pass ----------------------------------------------------------------------

    def _schedule_service(self) -> None:
        if not self._service_scheduled and not self._closed:
            self._service_scheduled = True
            self.worker.loop.call_soon(self._run_scheduled_service)

    def _run_scheduled_service(self) -> None:
        self._service_scheduled = False
        self.service()

    def service(self) -> None:
        """Deliver events, send what is ready, and re-arm timers."""
        if self._closed:
            return
        served: list[Connection] = []
        for _ in range(MAX_SERVICE_ROUNDS):
            touched = self.endpoint.take_touched()
            self._deliver_events(touched)
            if self.endpoint.server is None:
                self._follow_preferred_addresses(touched)
            batches = self.endpoint.datagram_batches(now_us())
            if self.datapath is not None:
                for batch, ecn in batches:
                    # the endpoint's addresses are the datapath's socket addresses, passed
                    # through; each batch with its ECN codepoint (RFC 9000 §13.4)
                    if self._sockets:
                        self._send_through_sockets(batch, ecn)
                    elif self._old_paths:
                        self._send_through_old_paths(batch, ecn)
                    else:
                        direct = cast("list[tuple[bytes, SocketAddress]]", batch)
                        self.datapath.send(direct, ecn=ecn)
            touched += self.endpoint.take_touched()
            self._deliver_events(touched)
            for connection in touched:
                self._wheel.update(connection, self.endpoint.next_timer_us(connection))
            served += touched
            if not batches:
                break
        if served:
            self.observer.on_connections_served(self, list(dict.fromkeys(served)))
        self._arm_timer()

    def _deliver_events(self, touched: list[Connection]) -> None:
        endpoint = self.endpoint
        while (event := endpoint.poll_event()) is not None:
            if isinstance(event, NewConnection):
                self.observer.on_new_connection(self, event.connection)
            elif isinstance(event, ConnectionClosed):
                self._wheel.cancel(event.connection)
                self._drain_connection_events(event.connection)
                self.observer.on_connection_closed(self, event.connection)
        for connection in touched:
            self._drain_connection_events(connection)

    def _drain_connection_events(self, connection: Connection) -> None:
        while (event := connection.poll_event()) is not None:
            self.observer.on_connection_event(self, connection, event)

    def _arm_timer(self) -> None:
        deadline = self._wheel.next_deadline_us()
        if deadline == self._timer_deadline_us:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_deadline_us = deadline
        if deadline is not None:
            self._timer = self.worker.call_at_us(deadline, self._on_timer)

    # --- more than one socket (RFC 9000 §9) ----------------------------------------------------

    def add_socket(self, local_address: tuple[str, int]) -> SocketAddress:
        """Server: also receive on ``local_address`` (port 0 picks one), e.g. the preferred
        address offered to clients (RFC 9000 §9.6); returns the bound address."""
        holder: list[SocketAddress] = []
        datapath = UdpDatapath.bind(
            local_address,
            loop=self.worker.loop,
            on_receive=lambda datagrams: self._on_receive_via(holder[0], datagrams),
            use_gso=self._use_gso,
        )
        holder.append(datapath.local_address)
        self._sockets[datapath.local_address] = datapath
        return datapath.local_address

    def _send_through_sockets(self, batch: _Batch, ecn: int) -> None:
        """Each datagram from the socket of its path: a :class:`ViaSocket` names it."""
        assert self.datapath is not None
        groups: dict[UdpDatapath, list[tuple[bytes, SocketAddress]]] = {}
        for data, address in batch:
            if isinstance(address, ViaSocket):
                datapath = self._sockets.get(address.local)
                if datapath is None:
                    continue
                groups.setdefault(datapath, []).append((data, address.remote))
            else:
                groups.setdefault(self.datapath, []).append((data, cast("SocketAddress", address)))
        for datapath, datagrams in groups.items():
            datapath.send(datagrams, ecn=ecn)

    def _send_through_old_paths(self, batch: _Batch, ecn: int) -> None:
        """A datagram to a server address the client left leaves from the old socket."""
        assert self.datapath is not None
        groups: dict[UdpDatapath, list[tuple[bytes, SocketAddress]]] = {}
        for data, address in batch:
            datapath = self._old_paths.get(address, self.datapath)
            groups.setdefault(datapath, []).append((data, cast("SocketAddress", address)))
        for datapath, datagrams in groups.items():
            datapath.send(datagrams, ecn=ecn)

    def rebind(
        self,
        local_address: tuple[str, int] | None = None,
        *,
        before_switch: Callable[[], None] | None = None,
    ) -> SocketAddress:
        """Client: send and receive through a new socket bound to ``local_address`` (default:
        the current socket's host, a new port) from now on; returns its address.
        ``before_switch`` runs once the new socket is bound and before the move; if it raises,
        the new socket is closed and nothing changes (so a refused migration moves nothing)."""
        if self._closed or self.datapath is None:
            raise RuntimeError("the binding is closed")
        if local_address is None:
            local_address = (str(self.datapath.local_address[0]), 0)
        datapath = UdpDatapath.bind(
            local_address,
            loop=self.worker.loop,
            on_receive=self._on_receive,
            use_gso=self._use_gso,
        )
        try:
            if before_switch is not None:
                before_switch()
        except BaseException:
            datapath.close()
            raise
        old, self.datapath = self.datapath, datapath
        self._retired.append(old)
        self.worker.loop.call_later(RETIRED_SOCKET_LINGER_S, self._close_retired, old)
        return datapath.local_address

    def _close_retired(self, datapath: UdpDatapath) -> None:
        if datapath in self._retired:
            self._retired.remove(datapath)
            datapath.close()
        for address, old in list(self._old_paths.items()):
            if old is datapath:
                del self._old_paths[address]

    def _follow_preferred_addresses(self, touched: list[Connection]) -> None:
        """Client: a connection that moved to the server's preferred address sends from a new
        socket, of the preferred address's family (RFC 9000 §9.6.1)."""
        for connection in touched:
            if connection.paths.rebind_requested:
                connection.paths.rebind_requested = False
                old_socket = self.datapath
                # no new socket (the family is unavailable): the move goes on from this one
                with contextlib.suppress(OSError):
                    self.rebind(self._local_for(connection.peer_address))
                left = connection.paths.other
                if left is not None and old_socket is not None and old_socket is not self.datapath:
                    self._old_paths[left.address] = old_socket

    def _local_for(self, peer: Address) -> tuple[str, int]:
        """The current socket's host on a new port, or the wildcard of ``peer``'s family."""
        assert self.datapath is not None
        host = str(self.datapath.local_address[0])
        peer_host = peer[0] if isinstance(peer, tuple) and peer else ""
        try:
            peer_v6 = ipaddress.ip_address(str(peer_host)).version == 6
        except ValueError:
            return host, 0
        bound_v6 = ":" in host
        if bound_v6 == peer_v6 or host == "::":
            return host, 0
        return ("::" if peer_v6 else "0.0.0.0"), 0

    # --- teardown ----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop receiving and release the sockets; connections are abandoned silently."""
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        for datapath in (self.datapath, *self._sockets.values(), *self._retired):
            if datapath is not None:
                datapath.close()
        self._sockets.clear()
        self._retired.clear()
        self._wheel.clear()
