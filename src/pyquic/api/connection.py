"""Connection: MsQuic's connection object over one core connection.

MsQuic (``docs/api/ConnectionOpen.md``, ``ConnectionStart.md``, ``ConnectionSetConfiguration.md``,
``ConnectionShutdown.md``, ``QUIC_CONNECTION_EVENT.md``; msquic-facts §1): a client opens a
connection and starts it with a Configuration, a server name and a port; a server connection
arrives in the listener's NEW_CONNECTION event and proceeds once the application sets its
Configuration.  Events: CONNECTED when the handshake completes (RFC 9001 §4.1.1),
SHUTDOWN_INITIATED_BY_TRANSPORT or _BY_PEER when the transport or the peer closes (RFC 9000
§10), SHUTDOWN_COMPLETE last, once the closing or draining period is over (RFC 9000 §10.2) and
after every stream's SHUTDOWN_COMPLETE; PEER_STREAM_STARTED, STREAMS_AVAILABLE,
RESUMPTION_TICKET_RECEIVED (client), PEER_CERTIFICATE_RECEIVED (with
INDICATE_CERTIFICATE_RECEIVED), DATAGRAM_RECEIVED (with ``datagram_receive_enabled``) and
PEER_ADDRESS_CHANGED in between.  A shutdown the application asked for is not indicated as
"initiated"; SHUTDOWN_COMPLETE reports it.

Design: a client connection owns a :class:`~pyquic.api.engine.ApiBinding` (its own UDP socket)
on one of the registration's workers; a server connection lives on its listener's binding.
Every call runs on that worker (:class:`~pyquic.api.handle.Handle`).  Stream IDs are handed out
in order when a stream starts, even while the peer's stream limit holds the stream back, so
START_COMPLETE always carries the ID, as in MsQuic.  Parameters are in
:mod:`pyquic.api.connection_params`.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import socket
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyquic.api import connection_params
from pyquic.api.engine import RESET_KEY_BYTES, ApiBinding, BindingRouter, client_tls_factory
from pyquic.api.events import (
    ConnectedEvent,
    ConnectionEvent,
    ConnectionShutdownCompleteEvent,
    DatagramReceivedEvent,
    PeerAddressChangedEvent,
    PeerCertificateReceivedEvent,
    PeerStreamStartedEvent,
    ResumptionTicketReceivedEvent,
    ShutdownInitiatedByPeerEvent,
    ShutdownInitiatedByTransportEvent,
    StreamsAvailableEvent,
)
from pyquic.api.flags import (
    AddressFamily,
    ConnectionShutdownFlags,
    StreamOpenFlags,
    StreamStartFlags,
)
from pyquic.api.handle import Callback, Handle
from pyquic.api.server_tls import DeferredServerSession, apply_server_settings
from pyquic.api.status import QuicStatusError, Status, failed, status_from_close
from pyquic.api.stream import Stream
from pyquic.core import events as core_events
from pyquic.core.connection import Connection as CoreConnection
from pyquic.core.connection import ConnectionState
from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.core.settings import Settings
from pyquic.core.streams import StreamLimitError
from pyquic.core.varint import VARINT_MAX
from pyquic.platform.crypto import CryptoProvider
from pyquic.platform.execution import Worker, now_us
from pyquic.platform.tls import PeerCertificateReceived, SessionTicket, SessionTicketReceived

if TYPE_CHECKING:
    from pyquic.api.configuration import Configuration
    from pyquic.api.listener import Listener
    from pyquic.api.registration import Registration

__all__ = ["Connection", "ConnectionCallback", "ShutdownInfo"]

ConnectionCallback = Callback[ConnectionEvent]
DEFAULT_IDEAL_SEND_BUFFER = 0x20000  # MsQuic's QUIC_DEFAULT_IDEAL_SEND_BUFFER_SIZE (128 KiB)
MAX_IDEAL_SEND_BUFFER = 64 << 20
_BAD_CERTIFICATE = 0x100 + 42  # CRYPTO_ERROR + bad_certificate (RFC 9001 §4.8)
_OPEN_STATES = (ConnectionState.HANDSHAKE, ConnectionState.ESTABLISHED)
_LOG = logging.getLogger("pyquic.api")


@dataclass(frozen=True, slots=True)
class ShutdownInfo:
    """How the connection ended, for the streams' SHUTDOWN_COMPLETE."""

    by_app: bool  # an application close (ours or the peer's), RFC 9000 §19.19 type 0x1d
    remotely: bool  # the peer closed
    error_code: int
    status: Status


class Connection(Handle[ConnectionEvent]):
    """``ConnectionOpen``: a client connection (server connections come from a Listener)."""

    _kind = "connection"

    def __init__(
        self,
        registration: Registration,
        callback: ConnectionCallback | None = None,
        context: object = None,
        *,
        _worker: Worker | None = None,
    ) -> None:
        registration._check_open()
        super().__init__(_worker or registration._next_worker(), callback, context)
        self.registration = registration
        self.is_server = _worker is not None
        self._core: CoreConnection | None = None
        self._binding: ApiBinding | None = None
        self._configuration: Configuration | None = None
        self._listener: Listener | None = None
        self._deferred_tls: DeferredServerSession | None = None
        self._base_settings: Settings | None = None  # server: what the listener built it with
        self._visible = not self.is_server  # server: after NEW_CONNECTION accepted it
        self._started = False
        self._handshake_completed = False
        self._certificate_rejected = False
        self._shutdown: ShutdownInfo | None = None
        self._local_shutdown = False
        self._peer_acked_shutdown = False
        self._complete = False
        self._peer_address: object = None
        self._streams: set[Stream] = set()
        self._by_id: dict[int, Stream] = {}
        self._blocked: tuple[deque[Stream], deque[Stream]] = (deque(), deque())
        self._next_index = [0, 0]  # next local stream index: bidirectional, unidirectional
        self._ideal_send_buffer = DEFAULT_IDEAL_SEND_BUFFER
        self._streams_available: StreamsAvailableEvent | None = None
        # set_param values that apply at start
        self.local_address_param: tuple[str, int] | None = None
        self.remote_address_param: tuple[str, int] | None = None
        self.resumption_ticket: SessionTicket | None = None
        self.settings_override: Settings | None = None
        self.setting_changes: dict[str, Any] = {}
        self.close_reason = ""
        registration._register(self)

    # -- the client's start --------------------------------------------------------------------

    def start(
        self,
        configuration: Configuration,
        server_name: str,
        port: int,
        family: AddressFamily = AddressFamily.UNSPEC,
    ) -> None:
        """``ConnectionStart``: resolve ``server_name`` (unless REMOTE_ADDRESS was set) and
        connect; ``server_name`` is also the TLS SNI and the name the certificate must match."""
        self._check_open()
        if self.is_server or not server_name or not 0 < port <= 0xFFFF:
            raise QuicStatusError(Status.INVALID_PARAMETER, "a client start needs a name and port")
        tls = configuration.client_tls(server_name, self.resumption_ticket)
        self._call(lambda: self._start(configuration, tls, server_name, port, family))

    def _start(
        self, configuration: Configuration, tls: Any, name: str, port: int, family: AddressFamily
    ) -> None:
        if self._started or self._shutdown is not None:
            raise QuicStatusError(Status.INVALID_STATE, "the connection was already started")
        remote = self.remote_address_param
        if remote is None:
            remote = _literal_address(name, port, family)
        self._started = True
        self._configuration = configuration
        if remote is not None:
            self._connect(tls, remote)
        else:
            task = self._worker.loop.create_task(self._resolve(tls, name, port, family))
            self.registration._keep(task)

    async def _resolve(self, tls: Any, name: str, port: int, family: AddressFamily) -> None:
        try:
            infos = await self._worker.loop.getaddrinfo(
                name, port, family=int(family), type=socket.SOCK_DGRAM
            )
        except OSError:
            infos = []
        if self._shutdown is not None:
            return
        if not infos:
            self._fail_start(Status.UNREACHABLE, f"cannot resolve {name!r}")
            return
        address = infos[0][4]
        self._connect(tls, (str(address[0]), int(address[1])))

    def _connect(self, tls: Any, remote: tuple[str, int]) -> None:
        assert self._configuration is not None
        settings = self.start_settings(self._configuration.settings)
        local = self.local_address_param or ("::" if ":" in remote[0] else "0.0.0.0", 0)
        router = BindingRouter()
        try:
            binding = ApiBinding.open(
                self._worker,
                local,
                settings=settings,
                crypto=CryptoProvider(),
                observer=router,
                stateless_reset_key=os.urandom(RESET_KEY_BYTES),
            )
        except OSError as exc:
            status = (
                Status.ADDRESS_IN_USE if exc.errno == errno.EADDRINUSE else Status.INVALID_ADDRESS
            )
            self._fail_start(status, str(exc))
            return
        assert isinstance(binding, ApiBinding)
        core = binding.endpoint.connect(
            remote, client_tls_factory(tls), now_us(), settings=settings
        )
        self._attach(binding, core)
        router.add(core, self)
        binding.service()

    def start_settings(self, configured: Settings) -> Settings:
        """The settings a client starts with: SETTINGS and other set_param values applied."""
        base = self.settings_override if self.settings_override is not None else configured
        return base.merge(**self.setting_changes) if self.setting_changes else base

    def _fail_start(self, status: Status, reason: str) -> None:
        """The start failed before a core connection existed."""
        _LOG.info("connection start failed (%s): %s", status.name, reason)
        self._shutdown = ShutdownInfo(False, False, 0, status)
        self._indicate(ShutdownInitiatedByTransportEvent(status, 0))
        self._shut_down_streams()
        self._complete_shutdown()

    def _attach(self, binding: ApiBinding, core: CoreConnection) -> None:
        self._binding = binding
        self._core = core
        self._peer_address = core.peer_address
        self._open_blocked_streams()

    # -- the server's side ---------------------------------------------------------------------

    @classmethod
    def _accepted(
        cls, listener: Listener, binding: ApiBinding, core: CoreConnection, base: Settings
    ) -> Connection:
        connection = cls(listener.registration, None, None, _worker=binding.worker)
        connection._listener = listener
        connection._started = True
        connection._base_settings = base
        assert isinstance(core.tls, DeferredServerSession)
        connection._deferred_tls = core.tls
        connection._attach(binding, core)
        return connection

    def set_configuration(self, configuration: Configuration) -> None:
        """``ConnectionSetConfiguration``: a server connection's credentials and settings; the
        handshake proceeds from here (call it in NEW_CONNECTION or later)."""
        self._check_open()
        deferred = self._deferred_tls
        if deferred is None or deferred.client_hello is None:
            raise QuicStatusError(Status.INVALID_STATE, "only for a server connection")
        tls = configuration.server_tls(deferred.client_hello.negotiated_alpn)
        self._call(lambda: self._set_configuration(configuration, tls))

    def _set_configuration(self, configuration: Configuration, tls: Any) -> None:
        core, deferred = self._core, self._deferred_tls
        assert core is not None and deferred is not None and self._base_settings is not None
        if self._configuration is not None or deferred.configured:
            raise QuicStatusError(Status.INVALID_STATE, "the configuration was already set")
        if core.state not in _OPEN_STATES:
            raise QuicStatusError(Status.INVALID_STATE, "the connection is shutting down")
        self._configuration = configuration
        try:
            parameters = apply_server_settings(core, self._base_settings, configuration.settings)
            deferred.configure(tls, parameters)
            core.pump_tls()
        except QuicError as exc:
            core.close_with_error(exc, now_us())
        self._touch()

    def _make_visible(self) -> None:
        self._visible = True

    # -- core events (worker thread) -------------------------------------------------------------

    def _on_core_event(self, event: core_events.ConnectionEvent) -> None:
        if self._complete:
            return  # closed by the application while events were still queued
        if isinstance(event, core_events.StreamReadable):
            stream = self._by_id.get(event.stream_id)
            if stream is not None:
                stream._on_readable()
            else:
                self._discard_stream(event.stream_id)
        elif isinstance(event, core_events.StreamOpened):
            self._on_peer_stream(event.stream_id)
        elif isinstance(event, core_events.StreamReset):
            stream = self._by_id.get(event.stream_id)
            if stream is not None:
                stream._on_peer_reset(event.error_code)
        elif isinstance(event, core_events.StopSendingReceived):
            stream = self._by_id.get(event.stream_id)
            if stream is not None:
                stream._on_peer_stop_sending(event.error_code)
        elif isinstance(event, core_events.HandshakeCompleted):
            if self._certificate_rejected:
                return  # the TLS engine finished before the handler's verdict; never CONNECTED
            self._handshake_completed = True
            self._indicate_visible(ConnectedEvent(event.session_resumed, event.alpn))
            if self._streams_available is not None:  # held back until CONNECTED
                self._indicate_visible(self._streams_available)
                self._streams_available = None
        elif isinstance(event, core_events.ConnectionTerminated):
            self._on_terminated(event)
        elif isinstance(event, core_events.StreamsAvailable):
            self._open_blocked_streams()
            available = StreamsAvailableEvent(event.bidirectional, event.unidirectional)
            if self._handshake_completed:
                self._indicate_visible(available)
            else:
                self._streams_available = available
        elif isinstance(event, core_events.DatagramReceived):
            self._indicate_visible(DatagramReceivedEvent(event.data))
        elif isinstance(event, core_events.TlsNotice):
            self._on_tls_notice(event.event)

    def _indicate_visible(self, event: ConnectionEvent) -> Status:
        return self._indicate(event) if self._visible and not self._complete else Status.SUCCESS

    def _on_tls_notice(self, notice: object) -> None:
        if isinstance(notice, SessionTicketReceived):
            self._indicate_visible(ResumptionTicketReceivedEvent(notice.ticket.to_bytes()))
        elif isinstance(notice, PeerCertificateReceived):
            configuration = self._configuration
            if configuration is None or not configuration.indicates_certificate:
                return
            chain = notice.chain
            event = PeerCertificateReceivedEvent(
                chain[0] if chain else None, 0, Status.SUCCESS, chain
            )
            status = self._indicate_visible(event)
            if (failed(status) or status is Status.PENDING) and self._core is not None:
                # no asynchronous validation: PENDING counts as a rejection
                self._certificate_rejected = True
                self._core.close(
                    _BAD_CERTIFICATE, "certificate rejected", application=False, now_us=now_us()
                )
                self._touch()

    def _on_terminated(self, event: core_events.ConnectionTerminated) -> None:
        if self._shutdown is not None:
            return  # our own shutdown, already recorded
        status = status_from_close(
            event.error_code,
            application=event.application,
            idle_timeout=event.idle_timeout,
            reset=event.stateless_reset,
        )
        if event.idle_timeout and not self._handshake_completed:
            status = Status.CONNECTION_TIMEOUT  # MsQuic: the handshake idle timeout
        self._shutdown = ShutdownInfo(event.application, event.by_peer, event.error_code, status)
        if event.by_peer and event.application:
            self._indicate_visible(ShutdownInitiatedByPeerEvent(event.error_code))
        else:
            self._indicate_visible(ShutdownInitiatedByTransportEvent(status, event.error_code))
        self._shut_down_streams()

    def _on_core_closed(self) -> None:
        """The endpoint removed the core connection: its closing period is over."""
        if self._shutdown is None:  # removed without a ConnectionTerminated (it raised)
            self._shutdown = ShutdownInfo(False, False, 0, Status.INTERNAL_ERROR)
            self._indicate_visible(ShutdownInitiatedByTransportEvent(Status.INTERNAL_ERROR, 0))
            self._shut_down_streams()
        self._complete_shutdown()

    def _complete_shutdown(self, *, app_close: bool = False) -> None:
        if self._complete:
            return
        self._shut_down_streams()
        event = ConnectionShutdownCompleteEvent(
            handshake_completed=self._handshake_completed,
            peer_acknowledged_shutdown=self._peer_acked_shutdown,
            app_close_in_progress=app_close,
        )
        self._complete = True  # first: the handler may close() the handle inline
        self._release_binding()
        if self._visible:
            self._indicate(event)
        elif not self._closed:  # a server connection the application never saw
            self._closed = True
            self.registration._unregister(self)

    def _release_binding(self) -> None:
        binding, core = self._binding, self._core
        if binding is None or core is None:
            return
        router = binding.router
        if self.is_server:
            self._post(lambda: router.remove(core))
        else:
            self._post(binding.close)

    def _after_service(self) -> None:
        core = self._core
        if core is None or self._complete:
            return
        if self._local_shutdown and core.state is ConnectionState.DRAINING:
            self._peer_acked_shutdown = True  # the peer answered our CONNECTION_CLOSE
        address = core.peer_address
        if address != self._peer_address and core.state in _OPEN_STATES:
            self._peer_address = address
            if isinstance(address, tuple):
                self._indicate_visible(PeerAddressChangedEvent(address))
        self._update_ideal_send_buffer(core)
        for stream in list(self._streams):
            stream._poll()

    def _update_ideal_send_buffer(self, core: CoreConnection) -> None:
        window = core.cc.congestion_window
        ideal = DEFAULT_IDEAL_SEND_BUFFER
        while ideal < window and ideal < MAX_IDEAL_SEND_BUFFER:
            ideal <<= 1
        self._ideal_send_buffer = ideal

    # -- streams ---------------------------------------------------------------------------------

    def _on_peer_stream(self, stream_id: int) -> None:
        core = self._core
        core_stream = core.streams.get(stream_id) if core is not None else None
        if core_stream is None or not self._visible:
            return
        stream = Stream._from_peer(self, core_stream)
        self._streams.add(stream)
        self._by_id[stream_id] = stream
        flags = (
            StreamOpenFlags.NONE if core_stream.bidirectional else StreamOpenFlags.UNIDIRECTIONAL
        )
        if failed(self._indicate(PeerStreamStartedEvent(stream, flags))):
            stream._close()

    def _discard_stream(self, stream_id: int) -> None:
        """Data for a stream whose handle is gone: stop the peer and drop what arrived."""
        core = self._core
        core_stream = core.streams.get(stream_id) if core is not None else None
        if core is not None and core_stream is not None and core_stream.recv is not None:
            self._stop_core(stream_id, 0)

    def _start_stream(self, stream: Stream, flags: StreamStartFlags) -> None:
        if self._shutdown is not None or self._closed:
            stream._on_start_result(Status.ABORTED, 0, False)
            return
        kind = 0 if stream.bidirectional else 1
        local_bit = 1 if self.is_server else 0
        stream_id = (self._next_index[kind] << 2) | (kind << 1) | local_bit
        queue = self._blocked[kind]
        if not queue and self._try_open(stream, stream_id):
            self._next_index[kind] += 1
            stream._on_start_result(Status.SUCCESS, stream_id, True)
            return
        if StreamStartFlags.FAIL_BLOCKED in flags:
            stream._on_start_result(Status.STREAM_LIMIT_REACHED, 0, False)
            return
        self._next_index[kind] += 1
        queue.append(stream)
        self._streams.add(stream)
        stream.id = stream_id
        stream._on_start_result(Status.SUCCESS, stream_id, False)

    def _try_open(self, stream: Stream, expected_id: int) -> bool:
        """Open ``stream`` in the core if the peer's limit allows (its ID was handed out)."""
        core = self._core
        if core is None or core.state not in _OPEN_STATES:
            return False
        try:
            stream_id = core.open_stream(bidirectional=stream.bidirectional)
        except StreamLimitError:
            self._touch()  # STREAMS_BLOCKED goes out (RFC 9000 §19.14)
            return False
        if stream_id != expected_id:  # every local stream is opened here, in ID order
            raise RuntimeError(f"the core opened stream {stream_id}, expected {expected_id}")
        core_stream = core.streams.get(stream_id)
        assert core_stream is not None
        stream.id = stream_id
        stream._on_opened(core_stream)  # applies an abort made while it waited
        if not stream._complete:  # closed while it waited: only the ID was needed
            self._streams.add(stream)
            self._by_id[stream_id] = stream
        return True

    def _open_blocked_streams(self) -> None:
        for queue in self._blocked:
            while queue and queue[0].id is not None and self._try_open(queue[0], queue[0].id):
                stream = queue.popleft()
                stream._on_peer_accepted()

    def _forget_stream(self, stream: Stream) -> None:
        self._streams.discard(stream)
        if stream.id is not None and self._by_id.get(stream.id) is stream:
            del self._by_id[stream.id]

    def _shut_down_streams(self) -> None:
        info = self._shutdown or ShutdownInfo(True, False, 0, Status.SUCCESS)
        for queue in self._blocked:
            queue.clear()
        for stream in list(self._streams):
            stream._on_connection_shutdown(info)

    # -- what streams call (worker thread) -------------------------------------------------------

    @property
    def _send_buffering(self) -> bool:
        core = self._core
        return core.settings.send_buffering_enabled if core is not None else True

    def _is_shut_down(self) -> bool:
        return self._shutdown is not None

    def _touch(self) -> None:
        if self._binding is not None and self._core is not None and not self._binding.is_closed:
            self._binding.touch(self._core)

    def _write(self, stream_id: int, data: bytes, fin: bool) -> bool:
        core = self._core
        if core is None:
            return False
        try:
            core.send_stream(stream_id, data, fin=fin)
        except (ValueError, ConnectionError):
            return False  # reset by STOP_SENDING, or the connection closed
        return True

    def _read(self, stream_id: int) -> tuple[bytes, bool]:
        core = self._core
        if core is None:
            return b"", False
        try:
            data, fin = core.read_stream(stream_id, -1)
        except ValueError:
            return b"", False  # the core forgot the stream
        if data:
            self._touch()  # flow-control credit may be due (MAX_STREAM_DATA, MAX_DATA)
        return data, fin

    def _reset_core(self, stream_id: int, error_code: int) -> None:
        if self._core is not None and self._core.state in _OPEN_STATES:
            try:
                self._core.reset_stream(stream_id, error_code)
            except ValueError:
                return
            self._touch()

    def _stop_core(self, stream_id: int, error_code: int) -> None:
        core = self._core
        if core is not None and core.state in _OPEN_STATES:
            try:
                core.stop_sending(stream_id, error_code)
            except ValueError:
                return
            core.return_flow_credit()  # discarded bytes count as consumed (RFC 9000 §4.5)
            self._touch()

    def _acknowledge_reset(self, core_stream: Any) -> None:
        if core_stream is not None and core_stream.recv is not None and self._core is not None:
            core_stream.recv.acknowledge_reset()
            self._core.return_flow_credit()
            self._touch()

    def _set_core_priority(self, stream_id: int, priority: int) -> None:
        if self._core is not None and self._core.streams.get(stream_id) is not None:
            self._core.set_stream_priority(stream_id, priority)

    # -- shutdown and close ----------------------------------------------------------------------

    def shutdown(
        self, flags: ConnectionShutdownFlags = ConnectionShutdownFlags.NONE, error_code: int = 0
    ) -> None:
        """``ConnectionShutdown``: close with an application error code (RFC 9000 §10.2,
        CONNECTION_CLOSE type 0x1d); SILENT closes without sending it."""
        self._check_open()
        if not 0 <= error_code <= VARINT_MAX:
            raise QuicStatusError(Status.INVALID_PARAMETER, "the error code is a 62-bit integer")
        self._call(lambda: self._shutdown_now(ConnectionShutdownFlags(flags), error_code))

    def _shutdown_now(self, flags: ConnectionShutdownFlags, error_code: int) -> None:
        if self._shutdown is not None:
            return
        self._shutdown = ShutdownInfo(True, False, error_code, Status.SUCCESS)
        self._local_shutdown = True
        core = self._core
        if core is None:  # a client not started yet, or still resolving
            self._post(self._complete_shutdown)
            return
        if ConnectionShutdownFlags.SILENT in flags:
            core.abandon("silent shutdown")  # no CONNECTION_CLOSE; the endpoint drops it
        else:
            core.close(error_code, self.close_reason, application=True, now_us=now_us())
        self._shut_down_streams()
        self._touch()

    def close(self) -> None:
        """``ConnectionClose``: shut down silently if needed, then release the handle;
        SHUTDOWN_COMPLETE (``app_close_in_progress``) is delivered first if it was not yet."""
        if self._closed:
            return
        self._call(self._close)

    def _close(self) -> None:
        if not self._complete:
            if self._shutdown is None:
                self._shutdown_now(ConnectionShutdownFlags.SILENT, 0)
            elif self._core is not None and self._core.state is not ConnectionState.CLOSED:
                self._core.abandon("closed")  # abandon the closing period
                self._touch()
            self._complete_shutdown(app_close=True)
        self._closed = True
        self.registration._unregister(self)

    def _reject(self) -> None:
        """The listener's handler refused the connection: CONNECTION_REFUSED (RFC 9000 §20.1)."""
        self._visible = False
        core = self._core
        if core is not None:
            core.close(
                TransportErrorCode.CONNECTION_REFUSED, "refused", application=False, now_us=now_us()
            )
            self._touch()
        self._closed = True
        self.registration._unregister(self)

    # -- parameters ------------------------------------------------------------------------------

    def get_param(self, param: int) -> object:
        """MsQuic's ``GetParam``; see :mod:`pyquic.api.connection_params` for the list."""
        return self._call(lambda: connection_params.get_param(self, param))

    def set_param(self, param: int, value: object) -> None:
        """MsQuic's ``SetParam``; see :mod:`pyquic.api.connection_params` for the list."""
        self._check_open()
        self._call(lambda: connection_params.set_param(self, param, value))

    @property
    def core(self) -> CoreConnection | None:
        """The core connection (None before a client starts); for diagnostics and tests."""
        return self._core

    @property
    def local_address(self) -> tuple[object, ...] | None:
        return self._binding.local_address if self._binding is not None else None

    @property
    def binding(self) -> ApiBinding | None:
        """The binding (socket) the connection uses; a client's moves on LOCAL_ADDRESS."""
        return self._binding

    def __repr__(self) -> str:
        role = "server" if self.is_server else "client"
        state = self._core.state.value if self._core is not None else "idle"
        return f"<Connection {role} {state}>"


def _literal_address(name: str, port: int, family: AddressFamily) -> tuple[str, int] | None:
    """``(name, port)`` when ``name`` is an IP literal (checked against ``family``), else None."""
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return None
    if family != AddressFamily.UNSPEC and (family == AddressFamily.INET) != (address.version == 4):
        raise QuicStatusError(Status.INVALID_PARAMETER, f"{name} is not in family {family.name}")
    return str(address), port
