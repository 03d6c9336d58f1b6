"""``GetParam`` / ``SetParam`` for connections: the subset of MsQuic's parameters pyquic has.

MsQuic's connection and TLS parameters (``docs/Settings.md``, ``src/inc/msquic.h``;
msquic-facts §1.5).  Supported for ``get_param``: ConnectionParam.QUIC_VERSION,
LOCAL_ADDRESS, REMOTE_ADDRESS, SETTINGS, STATISTICS / STATISTICS_PLAT / STATISTICS_V2 /
STATISTICS_V2_PLAT (a :class:`~pyquic.core.statistics.ConnectionStatistics` snapshot),
LOCAL_BIDI_STREAM_COUNT, LOCAL_UNIDI_STREAM_COUNT (streams we may still open),
CLOSE_REASON_PHRASE, DATAGRAM_RECEIVE_ENABLED, DATAGRAM_SEND_ENABLED (always False: the engine
does not send DATAGRAM frames), ORIG_DEST_CID, TlsParam.NEGOTIATED_ALPN and
TlsParam.HANDSHAKE_INFO.  Supported for ``set_param``, on a client before ``start``:
LOCAL_ADDRESS, REMOTE_ADDRESS (skips name resolution; the server name stays the SNI),
SETTINGS, DATAGRAM_RECEIVE_ENABLED and RESUMPTION_TICKET (bytes from RESUMPTION_TICKET_RECEIVED);
at any time: CLOSE_REASON_PHRASE; on a started client once the handshake is confirmed:
LOCAL_ADDRESS, which migrates the connection to a new socket bound there (port 0: any) with a new
connection ID and validates the new path (RFC 9000 §9.2, §9.5), as MsQuic does.  REMOTE_ADDRESS
reads the peer's address of the active path.  Anything else raises ``ValueError`` naming the
parameter.
These functions run on the connection's worker.
"""

from __future__ import annotations

import copy
import errno
from typing import TYPE_CHECKING

from pyquic.api.params import ConnectionParam, HandshakeInfo, TlsParam, unsupported_param
from pyquic.api.server_tls import DeferredServerSession
from pyquic.api.status import QuicStatusError, Status
from pyquic.core.paths import MigrationError
from pyquic.core.settings import Settings
from pyquic.platform.binding import ViaSocket
from pyquic.platform.execution import now_us
from pyquic.platform.tls import SessionTicket

if TYPE_CHECKING:
    from pyquic.api.connection import Connection
    from pyquic.core.connection import Connection as CoreConnection

__all__ = ["get_param", "set_param"]

_TLS13 = 0x0304
_STATISTICS = frozenset(
    {
        ConnectionParam.STATISTICS,
        ConnectionParam.STATISTICS_PLAT,
        ConnectionParam.STATISTICS_V2,
        ConnectionParam.STATISTICS_V2_PLAT,
    }
)


def _core(connection: Connection) -> CoreConnection:
    core = connection.core
    if core is None:
        raise QuicStatusError(Status.INVALID_STATE, "the connection has not started")
    return core


def _settings(connection: Connection) -> Settings:
    core = connection.core
    if core is not None:
        return core.settings
    return connection.start_settings(Settings())


def _tls_info(connection: Connection) -> HandshakeInfo:
    tls = _core(connection).tls
    session = tls.session if isinstance(tls, DeferredServerSession) else tls
    suite = getattr(session, "cipher_suite", None)
    if suite is None:
        raise QuicStatusError(Status.INVALID_STATE, "no cipher suite negotiated yet")
    return HandshakeInfo(_TLS13, int(suite))


def get_param(connection: Connection, param: int) -> object:
    """The value of ``param`` (see the module docstring for the supported ones)."""
    if param in _STATISTICS:
        return copy.copy(_core(connection).stats)
    if param == ConnectionParam.QUIC_VERSION:
        return _core(connection).version.number
    if param == ConnectionParam.LOCAL_ADDRESS:
        address = connection.local_address
        if address is None:
            raise QuicStatusError(Status.INVALID_STATE, "the connection has no socket yet")
        return address
    if param == ConnectionParam.REMOTE_ADDRESS:
        core = connection.core
        if core is not None:
            peer = core.peer_address
            return peer.remote if isinstance(peer, ViaSocket) else peer
        if connection.remote_address_param is None:
            raise QuicStatusError(Status.INVALID_STATE, "the remote address is not known yet")
        return connection.remote_address_param
    if param == ConnectionParam.SETTINGS:
        return _settings(connection)
    if param == ConnectionParam.DATAGRAM_RECEIVE_ENABLED:
        return _settings(connection).datagram_receive_enabled
    if param == ConnectionParam.DATAGRAM_SEND_ENABLED:
        return False
    if param == ConnectionParam.CLOSE_REASON_PHRASE:
        return connection.close_reason
    if param in (ConnectionParam.LOCAL_BIDI_STREAM_COUNT, ConnectionParam.LOCAL_UNIDI_STREAM_COUNT):
        bidirectional = param == ConnectionParam.LOCAL_BIDI_STREAM_COUNT
        return _core(connection).streams.streams_available(bidirectional)
    if param == ConnectionParam.ORIG_DEST_CID:
        return _core(connection).original_destination_cid
    if param == TlsParam.NEGOTIATED_ALPN:
        alpn = _core(connection).alpn
        if alpn is None:
            raise QuicStatusError(Status.INVALID_STATE, "no ALPN negotiated yet")
        return alpn
    if param == TlsParam.HANDSHAKE_INFO:
        return _tls_info(connection)
    raise unsupported_param(param, "get_param", "connection")


def _before_start(connection: Connection, param: int) -> None:
    if connection.is_server or connection.core is not None or connection._started:
        name = ConnectionParam(param).name
        raise QuicStatusError(Status.INVALID_STATE, f"{name} is set on a client before start()")


def _address(value: object) -> tuple[str, int]:
    if (
        not isinstance(value, tuple)
        or len(value) < 2
        or not isinstance(value[0], str)
        or not isinstance(value[1], int)
    ):
        raise QuicStatusError(Status.INVALID_PARAMETER, "an address is a (host, port) tuple")
    return value[0], value[1]


def _migrate(connection: Connection, address: tuple[str, int]) -> None:
    """A started client moves to a new local address (RFC 9000 §9.2): MsQuic's LOCAL_ADDRESS."""
    core, binding = _core(connection), connection.binding
    if binding is None:
        raise QuicStatusError(Status.INVALID_STATE, "the connection has no socket")
    try:
        binding.rebind(address, before_switch=lambda: core.migrate(now_us()))
    except (MigrationError, ConnectionError) as exc:
        raise QuicStatusError(Status.INVALID_STATE, str(exc)) from exc
    except OSError as exc:
        in_use = exc.errno == errno.EADDRINUSE
        status = Status.ADDRESS_IN_USE if in_use else Status.ADDRESS_NOT_AVAILABLE
        raise QuicStatusError(status, str(exc)) from exc
    binding.touch(core)


def set_param(connection: Connection, param: int, value: object) -> None:
    """Set ``param`` (see the module docstring for the supported ones)."""
    if param == ConnectionParam.CLOSE_REASON_PHRASE:
        if not isinstance(value, str):
            raise QuicStatusError(Status.INVALID_PARAMETER, "CLOSE_REASON_PHRASE is a str")
        connection.close_reason = value
        return
    if param == ConnectionParam.LOCAL_ADDRESS:
        if connection.core is not None and not connection.is_server:
            _migrate(connection, _address(value))
            return
        _before_start(connection, param)
        connection.local_address_param = _address(value)
    elif param == ConnectionParam.REMOTE_ADDRESS:
        _before_start(connection, param)
        connection.remote_address_param = _address(value)
    elif param == ConnectionParam.SETTINGS:
        _before_start(connection, param)
        if not isinstance(value, Settings):
            raise QuicStatusError(Status.INVALID_PARAMETER, "SETTINGS takes a Settings value")
        connection.settings_override = value
    elif param == ConnectionParam.DATAGRAM_RECEIVE_ENABLED:
        _before_start(connection, param)
        connection.setting_changes["datagram_receive_enabled"] = bool(value)
    elif param == ConnectionParam.RESUMPTION_TICKET:
        _before_start(connection, param)
        if not isinstance(value, bytes | bytearray):
            raise QuicStatusError(Status.INVALID_PARAMETER, "RESUMPTION_TICKET takes bytes")
        try:
            connection.resumption_ticket = SessionTicket.from_bytes(bytes(value))
        except ValueError as exc:
            raise QuicStatusError(Status.INVALID_PARAMETER, str(exc)) from exc
    else:
        raise unsupported_param(param, "set_param", "connection")
