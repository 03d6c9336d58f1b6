"""Listener: accepts server connections on a local address for a list of ALPNs.

MsQuic (``docs/api/ListenerOpen.md``, ``ListenerStart.md``, ``ListenerStop.md``,
``QUIC_LISTENER_EVENT.md``; msquic-facts §1.1, §1.3): ``ListenerStart(Alpns, LocalAddress)``
binds; each client whose ClientHello offers one of the ALPNs is indicated in NEW_CONNECTION
with the SNI, the client's ALPNs and the negotiated one.  The handler calls
``connection.set_configuration(...)`` (there, or later) and may set the connection's handler;
returning a failure status rejects the connection, which is closed with CONNECTION_REFUSED
(RFC 9000 §20.1).  ``stop()`` is asynchronous and ends with STOP_COMPLETE; connections already
accepted are independent of the listener and keep running.

Design: a started listener owns an :class:`~pyquic.api.engine.ApiBinding` (a UDP socket and a
server endpoint) on one of the registration's workers; its connections run on that worker.  A
client offering none of the listener's ALPNs is refused in TLS (no_application_protocol) before
any event, as MsQuic does.  Stopping turns the endpoint into a non-server (new Initials are
dropped) and the socket closes once the last accepted connection is gone.  The endpoint builds
connections with the settings of the registration's latest server Configuration (defaults
otherwise); ``set_configuration`` then applies the chosen Configuration's per-connection
settings (:func:`~pyquic.api.server_tls.apply_server_settings`).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pyquic.api.connection import Connection
from pyquic.api.engine import RESET_KEY_BYTES, ApiBinding, BindingRouter
from pyquic.api.events import (
    ListenerEvent,
    ListenerStopCompleteEvent,
    NewConnectionEvent,
    NewConnectionInfo,
)
from pyquic.api.handle import Callback, Handle
from pyquic.api.params import ListenerParam, ListenerStatistics, unsupported_param
from pyquic.api.server_tls import DeferredServerSession
from pyquic.api.status import QuicStatusError, Status, failed
from pyquic.core.connection import Connection as CoreConnection
from pyquic.core.endpoint import ServerConfig
from pyquic.core.settings import Settings
from pyquic.platform.crypto import CryptoProvider

if TYPE_CHECKING:
    from pyquic.api.registration import Registration

__all__ = ["Listener", "ListenerCallback"]

ListenerCallback = Callback[ListenerEvent]


def _alpn_list(alpns: Sequence[str | bytes]) -> tuple[bytes, ...]:
    if isinstance(alpns, str | bytes):
        raise QuicStatusError(Status.INVALID_PARAMETER, "alpns is a list of protocol names")
    out = tuple(a.encode("ascii") if isinstance(a, str) else bytes(a) for a in alpns)
    if not out or any(not 1 <= len(a) <= 255 for a in out):
        raise QuicStatusError(Status.INVALID_PARAMETER, "one or more ALPNs of 1 to 255 bytes")
    return out


class Listener(Handle[ListenerEvent]):
    """``ListenerOpen``: then ``start(alpns, local_address)``."""

    _kind = "listener"

    def __init__(
        self,
        registration: Registration,
        callback: ListenerCallback | None = None,
        context: object = None,
    ) -> None:
        registration._check_open()
        super().__init__(registration._next_worker(), callback, context)
        self.registration = registration
        self._binding: ApiBinding | None = None
        self._alpns: tuple[bytes, ...] = ()
        self._base_settings = Settings()
        self._listening = False
        self._accepted = 0
        self._rejected = 0
        registration._register(self)

    # -- ListenerStart / ListenerStop -------------------------------------------------------------

    def start(
        self, alpns: Sequence[str | bytes], local_address: tuple[str, int] = ("::", 0)
    ) -> None:
        """``ListenerStart``: bind ``local_address`` (port 0 picks one; see ``local_address``)."""
        self._check_open()
        alpn_list = _alpn_list(alpns)
        self._call(lambda: self._start(alpn_list, local_address))

    def _start(self, alpns: tuple[bytes, ...], local_address: tuple[str, int]) -> None:
        if self._listening:
            raise QuicStatusError(Status.INVALID_STATE, "the listener is already started")
        base = self.registration._server_settings()
        router = BindingRouter()
        router.on_new = self._on_new_core
        try:
            binding = ApiBinding.open(
                self._worker,
                local_address,
                settings=base,
                crypto=CryptoProvider(),
                observer=router,
                stateless_reset_key=os.urandom(RESET_KEY_BYTES),
                server=ServerConfig(tls_factory=self._tls_factory, settings=base),
            )
        except OSError as exc:
            status = (
                Status.ADDRESS_IN_USE if exc.errno == errno.EADDRINUSE else Status.INVALID_ADDRESS
            )
            raise QuicStatusError(status, str(exc)) from exc
        assert isinstance(binding, ApiBinding)
        router.on_empty = lambda: self._close_idle_binding(binding)
        self._binding, self._alpns, self._base_settings = binding, alpns, base
        self._listening = True

    def stop(self) -> None:
        """``ListenerStop``: stop accepting; STOP_COMPLETE follows asynchronously."""
        self._check_open()
        self._call(lambda: self._stop(app_close=False))

    def _stop(self, *, app_close: bool) -> None:
        binding = self._binding
        if not self._listening or binding is None:
            return
        self._listening = False
        binding.endpoint.server = None  # new Initials are dropped from now on
        binding.router.on_new = None
        if not binding.router.connections:
            self._close_idle_binding(binding)
        event = ListenerStopCompleteEvent(app_close_in_progress=app_close)
        if app_close:
            self._indicate(event)
        else:
            self._post(lambda: self._indicate(event))

    def _close_idle_binding(self, binding: ApiBinding) -> None:
        if binding.endpoint.server is None and not binding.router.connections:
            self._post(binding.close)

    def close(self) -> None:
        """``ListenerClose``: stop (STOP_COMPLETE with ``app_close_in_progress``) and release."""
        if self._closed:
            return
        self._call(self._close)

    def _close(self) -> None:
        self._stop(app_close=True)
        self._closed = True
        self.registration._unregister(self)

    # -- new connections (worker thread) ----------------------------------------------------------

    def _tls_factory(self, transport_parameters: bytes) -> DeferredServerSession:
        return DeferredServerSession(transport_parameters, self._alpns)

    def _on_new_core(self, core: CoreConnection) -> Connection | None:
        binding, deferred = self._binding, core.tls
        if binding is None or not isinstance(deferred, DeferredServerSession):
            return None
        connection = Connection._accepted(self, binding, core, self._base_settings)
        if deferred.client_hello is not None:
            self._post(lambda: self._indicate_new(connection))
        else:  # the ClientHello spans several Initials: wait for the rest
            deferred.on_client_hello = lambda: self._post(lambda: self._indicate_new(connection))
        return connection

    def _indicate_new(self, connection: Connection) -> None:
        core, binding, deferred = connection.core, self._binding, connection._deferred_tls
        if core is None or binding is None or deferred is None or deferred.client_hello is None:
            return
        if connection._is_shut_down() or connection.closed:
            return  # it failed before the application could see it
        if not self._listening:
            self._rejected += 1
            connection._reject()
            return
        hello = deferred.client_hello
        address = core.peer_address
        info = NewConnectionInfo(
            quic_version=core.version.number,
            local_address=binding.local_address,
            remote_address=address if isinstance(address, tuple) else (address,),
            crypto_buffer=hello.raw,
            client_alpn_list=hello.client_alpns,
            negotiated_alpn=hello.negotiated_alpn,
            server_name=hello.server_name,
        )
        connection._make_visible()
        if failed(self._indicate(NewConnectionEvent(info, connection))):
            self._rejected += 1
            connection._reject()
        else:
            self._accepted += 1

    # -- parameters ------------------------------------------------------------------------------

    @property
    def local_address(self) -> tuple[object, ...]:
        """The bound address (the chosen port when started on port 0)."""
        return self._call(self._local_address)

    def _local_address(self) -> tuple[object, ...]:
        if self._binding is None:
            raise QuicStatusError(Status.INVALID_STATE, "the listener was not started")
        return self._binding.local_address

    def get_param(self, param: int) -> object:
        """Supported: ListenerParam.LOCAL_ADDRESS, ListenerParam.STATS."""
        if param == ListenerParam.LOCAL_ADDRESS:
            return self.local_address
        if param == ListenerParam.STATS:
            return self._call(self._statistics)
        raise unsupported_param(param, "get_param", "listener")

    def _statistics(self) -> ListenerStatistics:
        dropped = self._binding.endpoint.stats.datagrams_dropped if self._binding else 0
        return ListenerStatistics(self._accepted, self._rejected, dropped)

    def set_param(self, param: int, value: object) -> None:
        """No listener parameter can be set in pyquic."""
        raise unsupported_param(param, "set_param", "listener")
