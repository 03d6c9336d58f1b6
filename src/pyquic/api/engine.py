"""The glue between a platform Binding and the API objects that live on it.

MsQuic's binding (``src/core/binding.c``) owns a UDP socket and routes each datagram to a
connection, which then runs on its worker (msquic-facts §4).  pyquic's
:class:`~pyquic.platform.binding.Binding` does that for the sans-I/O core and hands every core
event to a ``BindingObserver``.  :class:`BindingRouter` is that observer for the MsQuic-style
API: it maps each core connection to its :class:`~pyquic.api.connection.Connection` and forwards
events in order.  One binding serves either one client connection or one listener and the
server connections it accepted.

:class:`ApiBinding` adds one thing to the platform binding: a hook after every service pass.
The core has no event for "an ACK freed send buffer" or "a FIN was acknowledged", so the API
checks its streams after each pass (send completions, SEND_SHUTDOWN_COMPLETE,
SHUTDOWN_COMPLETE); the binding's own ``on_connections_served`` only lists connections whose
timer changed, which an ACK does not guarantee.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from pyquic.core.connection import Connection as CoreConnection
from pyquic.core.events import ConnectionEvent as CoreEvent
from pyquic.platform.binding import Binding
from pyquic.platform.execution import Worker
from pyquic.platform.tls import ClientSession, TlsConfig

if TYPE_CHECKING:
    from pyquic.api.connection import Connection
    from pyquic.core.endpoint import Endpoint

__all__ = ["ApiBinding", "BindingRouter", "client_tls_factory"]

RESET_KEY_BYTES = 32  # MsQuic's QUIC_STATELESS_RESET_KEY_LENGTH
_LOG = logging.getLogger("pyquic.api")


class ApiBinding(Binding):
    """A :class:`Binding` that calls :attr:`after_service` after each service pass."""

    def __init__(self, worker: Worker, endpoint: Endpoint, observer: BindingRouter) -> None:
        super().__init__(worker, endpoint, observer)
        self.router = observer

    def service(self) -> None:
        super().service()
        if not self._closed:
            self.router.after_service()

    @property
    def is_closed(self) -> bool:
        return self._closed


class BindingRouter:
    """The ``BindingObserver`` that forwards core events to API connections (worker thread)."""

    def __init__(self) -> None:
        self.connections: dict[CoreConnection, Connection] = {}
        # server bindings: called for a new core connection; returns its API object (or None)
        self.on_new: Callable[[CoreConnection], Connection | None] | None = None
        self.on_empty: Callable[[], None] | None = None  # the last connection went away

    def add(self, core: CoreConnection, connection: Connection) -> None:
        self.connections[core] = connection

    def remove(self, core: CoreConnection) -> None:
        removed = self.connections.pop(core, None) is not None
        if removed and not self.connections and self.on_empty is not None:
            self.on_empty()

    # -- BindingObserver ---------------------------------------------------------------------

    def on_new_connection(self, binding: Binding, connection: CoreConnection) -> None:
        if self.on_new is not None:
            wrapper = self.on_new(connection)
            if wrapper is not None:
                self.connections[connection] = wrapper

    def on_connection_event(
        self, binding: Binding, connection: CoreConnection, event: CoreEvent
    ) -> None:
        wrapper = self.connections.get(connection)
        if wrapper is not None:
            _guarded(wrapper._on_core_event, event)

    def on_connection_closed(self, binding: Binding, connection: CoreConnection) -> None:
        wrapper = self.connections.get(connection)
        if wrapper is not None:
            _guarded(wrapper._on_core_closed)
        self.remove(connection)

    def on_connections_served(self, binding: Binding, connections: list[CoreConnection]) -> None:
        """Progress is checked in :meth:`after_service` for every connection instead."""

    def after_service(self) -> None:
        for wrapper in list(self.connections.values()):
            _guarded(wrapper._after_service)


def _guarded(action: Callable[..., None], *args: object) -> None:
    """Run an API-layer step; a bug in one connection must not stop the binding's service."""
    try:
        action(*args)
    except Exception:
        _LOG.exception("the API layer failed handling a connection event")


def client_tls_factory(config: TlsConfig) -> Callable[[bytes], ClientSession]:
    """The core's TLS factory for a client connection."""

    def factory(transport_parameters: bytes) -> ClientSession:
        return ClientSession(config, transport_parameters)

    return factory
