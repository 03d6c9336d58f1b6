"""The endpoint's outputs besides datagrams: its events and its counters (split from endpoint).

:class:`NewConnection` and :class:`ConnectionClosed` are what :meth:`Endpoint.poll_event
<pyquic.core.endpoint.Endpoint.poll_event>` reports (MsQuic's listener NEW_CONNECTION and the
connection's removal); :class:`EndpointStatistics` counts what the endpoint received, sent and
dropped, each drop with its :class:`DropReason` (the RFC rule that made it drop the datagram).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from pyquic.core.connection import Connection

__all__ = [
    "ConnectionClosed",
    "DropReason",
    "EndpointEvent",
    "EndpointStatistics",
    "NewConnection",
]


class DropReason(Enum):
    """Why the endpoint dropped a datagram without handing it to a connection."""

    UNPARSABLE = "unparsable"  # not even the invariant header fields (RFC 8999 §5)
    CID_TOO_LONG = "cid_too_long"  # a v1/v2 long header with a CID over 20 bytes (RFC 9000 §17.2)
    UNKNOWN_CONNECTION = "unknown_connection"  # a long header, not a new Initial, for no one
    VERSION_NEGOTIATION = "version_negotiation"  # a VN for no connection (never answered)
    NOT_A_SERVER = "not_a_server"  # a client endpoint does not accept connections
    UNSUPPORTED_VERSION_SMALL = "unsupported_version_small"  # RFC 9000 §6.1: below 1200 bytes
    INITIAL_TOO_SMALL = "initial_too_small"  # RFC 9000 §14.1
    ORIGINAL_DCID_TOO_SHORT = "original_dcid_too_short"  # RFC 9000 §7.2
    HANDSHAKE_LIMIT = "handshake_limit"  # ServerConfig.max_handshakes reached
    INITIAL_NOT_AUTHENTICATED = "initial_not_authenticated"  # no packet of it decrypted
    TOO_SMALL_FOR_RESET = "too_small_for_reset"  # RFC 9000 §10.3.3: it could be a reset itself
    STATELESS_RATE_LIMITED = "stateless_rate_limited"  # no stateless answer allowed now
    INVALID_TOKEN = "invalid_token"  # a Retry token that did not validate (RFC 9000 §8.1.3)


@dataclass(slots=True)
class EndpointStatistics:
    """Counters of one endpoint (MsQuic's binding and global per-binding counters)."""

    datagrams_received: int = 0
    bytes_received: int = 0
    datagrams_sent: int = 0  # connections' datagrams and stateless answers
    bytes_sent: int = 0
    dropped: dict[DropReason, int] = field(default_factory=dict)
    version_negotiation_sent: int = 0
    stateless_resets_sent: int = 0
    stateless_resets_received: int = 0  # resets recognised for one of our connections
    connections_created: int = 0  # client (connect) and server (accepted) connections
    connections_closed: int = 0  # removed, for any reason
    connection_errors: int = 0  # connections abandoned because they raised
    cid_collisions: int = 0  # a connection's CID already routed to another one (not stolen)
    retries_sent: int = 0  # Retry packets (RFC 9000 §17.2.5)
    new_tokens_issued: int = 0  # NEW_TOKEN tokens given to connections (RFC 9000 §8.1.3)

    @property
    def datagrams_dropped(self) -> int:
        return sum(self.dropped.values())


@dataclass(frozen=True, slots=True)
class NewConnection:
    """A client opened a connection to this server endpoint (MsQuic's NEW_CONNECTION)."""

    connection: Connection


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """A connection reached CLOSED (or raised) and is no longer routed or driven."""

    connection: Connection
    error: Exception | None = None  # set when the endpoint abandoned a connection that raised


EndpointEvent: TypeAlias = NewConnection | ConnectionClosed
