"""A binding: one UDP socket, the endpoint that routes its datagrams, served by one worker.

MsQuic's execution model (msquic-facts §4): every operation on a connection (datagrams received,
a timer, an application call) runs serialized on the worker that owns it, and each connection hands
only its earliest timer to the worker's timer wheel.  Here a :class:`Binding` is that unit: the
datapath delivers a batch of datagrams, the sans-I/O :class:`~pyquic.core.endpoint.Endpoint` routes
them, then one *service pass* hands every connection event to the observer (the API layer),
flushes what the connections want to send as one batch (so the datapath can use GSO), and moves
the touched connections' timers in the wheel.  All methods run on the worker's thread.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Hashable
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
        for datagram in datagrams:
            receive(datagram.data, datagram.remote, now, ecn=datagram.ecn)
        self.service()

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
            batches = self.endpoint.datagram_batches(now_us())
            if self.datapath is not None:
                for batch, ecn in batches:
                    # the endpoint's addresses are the datapath's socket addresses, passed
                    # through; each batch with its ECN codepoint (RFC 9000 §13.4)
                    self.datapath.send(cast("list[tuple[bytes, SocketAddress]]", batch), ecn=ecn)
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

    # --- teardown ----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop receiving and release the socket; connections are abandoned silently."""
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        if self.datapath is not None:
            self.datapath.close()
        self._wheel.clear()
