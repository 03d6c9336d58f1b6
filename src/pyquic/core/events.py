"""The events a connection reports to its application.

A connection queues these immutable values and the application drains them with
``Connection.poll_event()``; they are the sans-I/O counterpart of MsQuic's connection and stream
callbacks (msquic-facts §1.3): CONNECTED becomes :class:`HandshakeCompleted`, the three SHUTDOWN
events become one :class:`ConnectionTerminated`, PEER_STREAM_STARTED :class:`StreamOpened`, a
stream RECEIVE becomes :class:`StreamReadable` (receive is pull-based: the application reads when
told data is there), PEER_SEND_ABORTED :class:`StreamReset`, PEER_RECEIVE_ABORTED
:class:`StopSendingReceived`, STREAMS_AVAILABLE :class:`StreamsAvailable`, DATAGRAM_RECEIVED
:class:`DatagramReceived`.  TLS events the transport does not consume (a session ticket, a peer
certificate) pass through unchanged in :class:`TlsNotice`.

Design: plain frozen dataclasses and one union type, so an application matches on them with
``match`` and a type checker sees every case.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

__all__ = [
    "ConnectionEvent",
    "ConnectionTerminated",
    "DatagramReceived",
    "HandshakeCompleted",
    "NewTokenReceived",
    "StopSendingReceived",
    "StreamOpened",
    "StreamReadable",
    "StreamReset",
    "StreamsAvailable",
    "TlsNotice",
]


@dataclass(frozen=True, slots=True)
class HandshakeCompleted:
    """The handshake completed (RFC 9001 §4.1.1); MsQuic's CONNECTED."""

    alpn: bytes
    session_resumed: bool
    early_data_accepted: bool  # meaningful for a client that offered 0-RTT


@dataclass(frozen=True, slots=True)
class ConnectionTerminated:
    """The connection ended; no event follows.

    ``error_code`` is a transport error code (RFC 9000 §20.1) unless ``application`` is set, in
    which case it is the application's own (RFC 9000 §19.19).  ``frame_type`` is the frame that
    caused a transport error, when known.  ``by_peer`` says the peer sent the CONNECTION_CLOSE
    (or the stateless reset).  ``idle_timeout`` marks a silent close after the idle timeout
    (RFC 9000 §10.1); ``stateless_reset`` one caused by a Stateless Reset (RFC 9000 §10.3).
    """

    error_code: int
    reason: str
    frame_type: int | None
    application: bool
    by_peer: bool
    idle_timeout: bool = False
    stateless_reset: bool = False


@dataclass(frozen=True, slots=True)
class StreamOpened:
    """The peer opened a stream (RFC 9000 §2.1); MsQuic's PEER_STREAM_STARTED."""

    stream_id: int
    bidirectional: bool


@dataclass(frozen=True, slots=True)
class StreamReadable:
    """A stream has data (or its FIN) to read."""

    stream_id: int


@dataclass(frozen=True, slots=True)
class StreamReset:
    """The peer abandoned sending on a stream with RESET_STREAM (RFC 9000 §19.4)."""

    stream_id: int
    error_code: int


@dataclass(frozen=True, slots=True)
class StopSendingReceived:
    """The peer asked us to stop sending on a stream with STOP_SENDING (RFC 9000 §19.5)."""

    stream_id: int
    error_code: int


@dataclass(frozen=True, slots=True)
class StreamsAvailable:
    """How many more streams of each kind we may open now (RFC 9000 §4.6, MAX_STREAMS)."""

    bidirectional: int
    unidirectional: int


@dataclass(frozen=True, slots=True)
class DatagramReceived:
    """An unreliable DATAGRAM frame's payload arrived (RFC 9221 §5)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class NewTokenReceived:
    """The server sent a token (NEW_TOKEN, RFC 9000 §19.7): pass it as ``token=`` to a later
    connection to the same server to skip address validation (RFC 9000 §8.1.3)."""

    token: bytes


@dataclass(frozen=True, slots=True)
class TlsNotice:
    """A TLS event the transport does not consume, passed through (e.g. a session ticket)."""

    event: object


ConnectionEvent: TypeAlias = (
    HandshakeCompleted
    | ConnectionTerminated
    | StreamOpened
    | StreamReadable
    | StreamReset
    | StopSendingReceived
    | StreamsAvailable
    | DatagramReceived
    | NewTokenReceived
    | TlsNotice
)
