"""The events delivered to listener, connection and stream callbacks, with MsQuic's numbers.

MsQuic hands each callback one ``QUIC_*_EVENT`` struct whose ``Type`` selects a union member
(``src/inc/msquic.h``; ``docs/api/QUIC_LISTENER_EVENT.md``, ``QUIC_CONNECTION_EVENT.md``,
``QUIC_STREAM_EVENT.md``; msquic-facts §1.3).  Here each union member is a small dataclass whose
class attribute ``type`` is the MsQuic event number (:class:`ListenerEventType`,
:class:`ConnectionEventType`, :class:`StreamEventType`), so a handler can test
``event.type == StreamEventType.RECEIVE`` as in C or match on the class.  Field names are
MsQuic's in snake_case.

Only RECEIVE has an in/out field: the handler may lower ``total_buffer_length`` to consume part
of the data (MsQuic's partial receive).  Buffers handed to a handler are valid after it returns
(they are Python objects), unlike MsQuic's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, ClassVar, TypeAlias

from pyquic.api.flags import ReceiveFlags, StreamOpenFlags
from pyquic.api.status import Status

if TYPE_CHECKING:
    from cryptography import x509

    from pyquic.api.connection import Connection
    from pyquic.api.stream import Stream

__all__ = [
    "ConnectedEvent",
    "ConnectionEvent",
    "ConnectionEventType",
    "ConnectionShutdownCompleteEvent",
    "DatagramReceivedEvent",
    "IdealSendBufferSizeEvent",
    "ListenerEvent",
    "ListenerEventType",
    "ListenerStopCompleteEvent",
    "NewConnectionEvent",
    "NewConnectionInfo",
    "PeerAcceptedEvent",
    "PeerAddressChangedEvent",
    "PeerCertificateReceivedEvent",
    "PeerReceiveAbortedEvent",
    "PeerSendAbortedEvent",
    "PeerSendShutdownEvent",
    "PeerStreamStartedEvent",
    "ReceiveEvent",
    "ResumptionTicketReceivedEvent",
    "SendCompleteEvent",
    "SendShutdownCompleteEvent",
    "ShutdownInitiatedByPeerEvent",
    "ShutdownInitiatedByTransportEvent",
    "StartCompleteEvent",
    "StreamEvent",
    "StreamEventType",
    "StreamShutdownCompleteEvent",
    "StreamsAvailableEvent",
]


class ListenerEventType(IntEnum):
    NEW_CONNECTION = 0
    STOP_COMPLETE = 1
    DOS_MODE_CHANGED = 2


class ConnectionEventType(IntEnum):
    CONNECTED = 0
    SHUTDOWN_INITIATED_BY_TRANSPORT = 1
    SHUTDOWN_INITIATED_BY_PEER = 2
    SHUTDOWN_COMPLETE = 3
    LOCAL_ADDRESS_CHANGED = 4
    PEER_ADDRESS_CHANGED = 5
    PEER_STREAM_STARTED = 6
    STREAMS_AVAILABLE = 7
    PEER_NEEDS_STREAMS = 8
    IDEAL_PROCESSOR_CHANGED = 9
    DATAGRAM_STATE_CHANGED = 10
    DATAGRAM_RECEIVED = 11
    DATAGRAM_SEND_STATE_CHANGED = 12
    RESUMED = 13
    RESUMPTION_TICKET_RECEIVED = 14
    PEER_CERTIFICATE_RECEIVED = 15


class StreamEventType(IntEnum):
    START_COMPLETE = 0
    RECEIVE = 1
    SEND_COMPLETE = 2
    PEER_SEND_SHUTDOWN = 3
    PEER_SEND_ABORTED = 4
    PEER_RECEIVE_ABORTED = 5
    SEND_SHUTDOWN_COMPLETE = 6
    SHUTDOWN_COMPLETE = 7
    IDEAL_SEND_BUFFER_SIZE = 8
    PEER_ACCEPTED = 9
    CANCEL_ON_LOSS = 10


# --- listener -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewConnectionInfo:
    """``QUIC_NEW_CONNECTION_INFO``: what the client's first flight said."""

    quic_version: int
    local_address: tuple[object, ...]
    remote_address: tuple[object, ...]
    crypto_buffer: bytes  # the ClientHello (TLS handshake message, header included)
    client_alpn_list: tuple[bytes, ...]
    negotiated_alpn: bytes  # the first of the listener's ALPNs the client offers
    server_name: str | None  # SNI (RFC 6066 §3)


@dataclass(slots=True)
class NewConnectionEvent:
    """Call ``connection.set_configuration(...)`` (now or later); a failure status rejects."""

    type: ClassVar[ListenerEventType] = ListenerEventType.NEW_CONNECTION
    info: NewConnectionInfo
    connection: Connection


@dataclass(slots=True)
class ListenerStopCompleteEvent:
    type: ClassVar[ListenerEventType] = ListenerEventType.STOP_COMPLETE
    app_close_in_progress: bool


ListenerEvent: TypeAlias = NewConnectionEvent | ListenerStopCompleteEvent

# --- connection -----------------------------------------------------------------------------


@dataclass(slots=True)
class ConnectedEvent:
    type: ClassVar[ConnectionEventType] = ConnectionEventType.CONNECTED
    session_resumed: bool
    negotiated_alpn: bytes


@dataclass(slots=True)
class ShutdownInitiatedByTransportEvent:
    """The transport closed: an error (``status``), the idle timeout, or the peer's transport
    error code (``error_code`` is the wire code, RFC 9000 §20.1)."""

    type: ClassVar[ConnectionEventType] = ConnectionEventType.SHUTDOWN_INITIATED_BY_TRANSPORT
    status: Status
    error_code: int


@dataclass(slots=True)
class ShutdownInitiatedByPeerEvent:
    """The peer application closed with ``error_code`` (RFC 9000 §19.19, type 0x1d)."""

    type: ClassVar[ConnectionEventType] = ConnectionEventType.SHUTDOWN_INITIATED_BY_PEER
    error_code: int


@dataclass(slots=True)
class ConnectionShutdownCompleteEvent:
    """The last event of a connection; the handle may be closed from here on."""

    type: ClassVar[ConnectionEventType] = ConnectionEventType.SHUTDOWN_COMPLETE
    handshake_completed: bool
    peer_acknowledged_shutdown: bool
    app_close_in_progress: bool


@dataclass(slots=True)
class PeerAddressChangedEvent:
    type: ClassVar[ConnectionEventType] = ConnectionEventType.PEER_ADDRESS_CHANGED
    address: tuple[object, ...]


@dataclass(slots=True)
class PeerStreamStartedEvent:
    """Set the stream's handler with ``stream.set_callback_handler`` before returning."""

    type: ClassVar[ConnectionEventType] = ConnectionEventType.PEER_STREAM_STARTED
    stream: Stream
    flags: StreamOpenFlags


@dataclass(slots=True)
class StreamsAvailableEvent:
    type: ClassVar[ConnectionEventType] = ConnectionEventType.STREAMS_AVAILABLE
    bidirectional_count: int
    unidirectional_count: int


@dataclass(slots=True)
class DatagramReceivedEvent:
    type: ClassVar[ConnectionEventType] = ConnectionEventType.DATAGRAM_RECEIVED
    buffer: bytes
    flags: ReceiveFlags = ReceiveFlags.NONE


@dataclass(slots=True)
class ResumptionTicketReceivedEvent:
    """A ticket to persist; give it back with ``ConnectionParam.RESUMPTION_TICKET``."""

    type: ClassVar[ConnectionEventType] = ConnectionEventType.RESUMPTION_TICKET_RECEIVED
    resumption_ticket: bytes


@dataclass(slots=True)
class PeerCertificateReceivedEvent:
    """The peer's verified chain; returning a failure status rejects it (bad_certificate)."""

    type: ClassVar[ConnectionEventType] = ConnectionEventType.PEER_CERTIFICATE_RECEIVED
    certificate: x509.Certificate | None
    deferred_error_flags: int
    deferred_status: Status
    chain: tuple[x509.Certificate, ...] = field(default=())


ConnectionEvent: TypeAlias = (
    ConnectedEvent
    | ShutdownInitiatedByTransportEvent
    | ShutdownInitiatedByPeerEvent
    | ConnectionShutdownCompleteEvent
    | PeerAddressChangedEvent
    | PeerStreamStartedEvent
    | StreamsAvailableEvent
    | DatagramReceivedEvent
    | ResumptionTicketReceivedEvent
    | PeerCertificateReceivedEvent
)

# --- stream ---------------------------------------------------------------------------------


@dataclass(slots=True)
class StartCompleteEvent:
    type: ClassVar[StreamEventType] = StreamEventType.START_COMPLETE
    status: Status
    id: int
    peer_accepted: bool


@dataclass(slots=True)
class ReceiveEvent:
    """Data at ``absolute_offset``.  Lower ``total_buffer_length`` to consume only part of it,
    or return PENDING and call ``stream.receive_complete(n)`` later."""

    type: ClassVar[StreamEventType] = StreamEventType.RECEIVE
    absolute_offset: int
    total_buffer_length: int
    buffers: tuple[memoryview, ...]
    flags: ReceiveFlags

    @property
    def data(self) -> bytes:
        """All buffers joined (a copy)."""
        return b"".join(bytes(buffer) for buffer in self.buffers)


@dataclass(slots=True)
class SendCompleteEvent:
    """A send request's buffers are released (copied, or acknowledged without buffering)."""

    type: ClassVar[StreamEventType] = StreamEventType.SEND_COMPLETE
    canceled: bool
    client_context: object


@dataclass(slots=True)
class PeerSendShutdownEvent:
    type: ClassVar[StreamEventType] = StreamEventType.PEER_SEND_SHUTDOWN


@dataclass(slots=True)
class PeerSendAbortedEvent:
    type: ClassVar[StreamEventType] = StreamEventType.PEER_SEND_ABORTED
    error_code: int


@dataclass(slots=True)
class PeerReceiveAbortedEvent:
    type: ClassVar[StreamEventType] = StreamEventType.PEER_RECEIVE_ABORTED
    error_code: int


@dataclass(slots=True)
class SendShutdownCompleteEvent:
    type: ClassVar[StreamEventType] = StreamEventType.SEND_SHUTDOWN_COMPLETE
    graceful: bool


@dataclass(slots=True)
class StreamShutdownCompleteEvent:
    """The last event of a stream; the handle may be closed from here on."""

    type: ClassVar[StreamEventType] = StreamEventType.SHUTDOWN_COMPLETE
    connection_shutdown: bool
    app_close_in_progress: bool = False
    connection_shutdown_by_app: bool = False
    connection_closed_remotely: bool = False
    connection_error_code: int = 0
    connection_close_status: Status = Status.SUCCESS


@dataclass(slots=True)
class IdealSendBufferSizeEvent:
    type: ClassVar[StreamEventType] = StreamEventType.IDEAL_SEND_BUFFER_SIZE
    byte_count: int


@dataclass(slots=True)
class PeerAcceptedEvent:
    type: ClassVar[StreamEventType] = StreamEventType.PEER_ACCEPTED


StreamEvent: TypeAlias = (
    StartCompleteEvent
    | ReceiveEvent
    | SendCompleteEvent
    | PeerSendShutdownEvent
    | PeerSendAbortedEvent
    | PeerReceiveAbortedEvent
    | SendShutdownCompleteEvent
    | StreamShutdownCompleteEvent
    | IdealSendBufferSizeEvent
    | PeerAcceptedEvent
)
