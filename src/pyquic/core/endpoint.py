"""The endpoint: one UDP binding's protocol logic, sans-I/O (MsQuic's binding.c and lookup.c).

An :class:`Endpoint` owns the connections reached through one local address.  It routes every
received datagram by the Destination Connection ID of its first packet (RFC 9000 §5.2, §12.2),
creates a server connection for an Initial that names an unknown CID (RFC 9000 §5.2.2, §7.2,
§14.1), answers a long header of an unsupported version with Version Negotiation (RFC 9000 §6.1,
§17.2.1), answers a short header for an unknown CID with a Stateless Reset (RFC 9000 §10.3) and
recognises a Stateless Reset sent to one of its own connections (RFC 9000 §10.3.1).  Everything
else is dropped and counted.  :meth:`Endpoint.receive_datagram` never raises.

Design choices:

* Sans-I/O like the connection: no sockets, no clock, no threads; time is ``now_us`` and every
  random choice (grease versions, reset filler, the connections' CIDs) comes from the injected
  ``rng``.  The endpoint also speaks the simulated network's ``NetworkEndpoint`` protocol
  (:meth:`next_timer_us` and :meth:`handle_timer` without a connection mean "all connections").
* The route table maps a CID to its connection and mirrors each connection's active local CIDs
  (``local_cids.active_cids()``), re-read after every operation on that connection: receiving,
  a timer, sending.  A connection therefore never puts a CID in a NEW_CONNECTION_ID frame that
  the endpoint does not route (the datagram leaves after the re-read).  A server connection is
  also routed by the client's original Destination CID for its whole life, as quinn does, so a
  late duplicate of the client's first Initial reaches it instead of opening a second connection.
* Every connection uses the endpoint's CID length, which is what makes short headers routable
  and reset tokens derivable from a CID alone (RFC 9000 §10.3.2).
* Stateless answers (Version Negotiation, Stateless Reset) spend tokens of one bucket, MsQuic's
  MaxBindingStatelessOperations per StatelessOperationExpirationMs, and one remote address gets
  at most one answer per expiration period (MsQuic's per-address stateless context); this bounds
  reflection (RFC 9000 §21.3, §21.5) and reset loops (RFC 9000 §10.3.3).
* A connection's timers are tracked for a timer wheel: :meth:`connection_timers` (or
  :meth:`take_touched`) lists the connections whose earliest timer changed since the last call.
* A connection that raises anything but its own ``QuicError`` (which it handles itself) is
  abandoned and reported in :class:`ConnectionClosed`; one faulty connection never takes the
  endpoint down.  ``EndpointStatistics.connection_errors`` counts these (tests expect zero).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Literal, TypeAlias, TypeVar, overload

from pyquic.core.cid_manager import MIN_STATELESS_RESET_KEY_LENGTH, stateless_reset_token
from pyquic.core.connection import Connection, ConnectionState
from pyquic.core.endpoint_events import (
    ConnectionClosed,
    DropReason,
    EndpointEvent,
    EndpointStatistics,
    NewConnection,
)
from pyquic.core.errors import QuicError
from pyquic.core.packet_header import (
    HEADER_FORM_BIT,
    MAX_CID_LENGTH,
    MIN_STATELESS_RESET_LENGTH,
    STATELESS_RESET_TOKEN_LENGTH,
    LongHeader,
    encode_stateless_reset,
    encode_version_negotiation,
    parse_header,
)
from pyquic.core.paths import PreferredOffer, offer_configured_address
from pyquic.core.qlog import QlogSink
from pyquic.core.retry import (
    INVALID_TOKEN,
    TokenSealer,
    ValidToken,
    build_retry,
    check_token,
    new_token,
    retry_token,
)
from pyquic.core.settings import Settings
from pyquic.core.stateless_limiter import StatelessLimiter
from pyquic.core.tls_interface import PacketProtectionFactory, TlsSessionLike
from pyquic.core.transport_params import TransportParameters
from pyquic.core.version import QUIC_V1, SUPPORTED_VERSIONS, PacketType, version_info

__all__ = [
    "DEFAULT_MAX_HANDSHAKES",
    "MIN_INITIAL_DATAGRAM_SIZE",
    "MIN_ORIGINAL_DCID_LENGTH",
    "ConnectionClosed",
    "DropReason",
    "Endpoint",
    "EndpointEvent",
    "EndpointStatistics",
    "NewConnection",
    "ServerConfig",
]

Address: TypeAlias = Hashable
TlsFactory: TypeAlias = Callable[[bytes], TlsSessionLike]
_T = TypeVar("_T")

MIN_INITIAL_DATAGRAM_SIZE = 1200  # RFC 9000 §14.1: a client's Initial datagram is this big
MIN_ORIGINAL_DCID_LENGTH = 8  # RFC 9000 §7.2: the client's first Destination CID
DEFAULT_MAX_HANDSHAKES = 1024  # server connections still in their handshake, at most
DEFAULT_RETRY_HANDSHAKE_THRESHOLD = 64  # retry="auto": Retry from this many handshakes on
# RFC 9000 §10.3: answering a packet of at most 43 bytes, a reset is one byte shorter
_SMALL_TRIGGER_LENGTH = 43
_RESET_EXTRA_LENGTH = 16  # larger triggers get a reset of 43 + rng.randrange(16) bytes
_VN_UNUSED_MULTIPLEX_BIT = 0x40  # RFC 9000 §17.2.1: set it where QUIC shares a port
_GREASE_VERSION_MASK = 0x0F0F0F0F  # RFC 9000 §15: versions 0x?a?a?a?a are reserved
_GREASE_VERSION_BITS = 0x0A0A0A0A


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """What a server endpoint needs to accept connections.

    ``tls_factory(transport_parameters_bytes)`` builds one TLS server session per connection.
    ``max_handshakes`` bounds the server connections still in their handshake; Initials for new
    connections beyond it are dropped (the client retransmits), against handshake floods
    (RFC 9000 §21.2).  ``qlog_factory(original_dcid)``
    may give each accepted connection a qlog sink.  ``versions`` are the versions accepted, in
    preference order; Version Negotiation lists them (RFC 9000 §6.1).

    Address validation (RFC 9000 §8.1): ``retry`` is ``"never"``, ``"always"`` or ``"auto"``
    (a Retry once ``retry_handshake_threshold`` handshakes are in progress: MsQuic's
    RetryMemoryLimit as a count).  ``token_sealer`` seals Retry and NEW_TOKEN tokens (needed for
    any Retry; with it and ``issue_new_tokens`` every connection gets a NEW_TOKEN once its
    handshake completes); token times are the endpoint's ``now_us``, so servers sharing a
    sealer's key must share a time base.  Lifetimes: MsQuic's 2 x 30 s for Retry tokens.
    """

    tls_factory: TlsFactory
    settings: Settings
    max_handshakes: int = DEFAULT_MAX_HANDSHAKES
    qlog_factory: Callable[[bytes], QlogSink | None] | None = None
    versions: tuple[int, ...] = tuple(SUPPORTED_VERSIONS)
    retry: Literal["never", "always", "auto"] = "never"
    retry_handshake_threshold: int = DEFAULT_RETRY_HANDSHAKE_THRESHOLD
    token_sealer: TokenSealer | None = None
    issue_new_tokens: bool = True
    retry_token_lifetime_ms: int = 60_000
    new_token_lifetime_ms: int = 24 * 3600 * 1000
    preferred_address: PreferredOffer | None = None  # (IPv4, IPv6) for all, RFC 9000 §9.6

    def __post_init__(self) -> None:
        if self.retry not in ("never", "always", "auto"):
            raise ValueError(f"retry must be 'never', 'always' or 'auto', not {self.retry!r}")
        if self.retry != "never" and self.token_sealer is None:
            raise ValueError("a Retry needs a token_sealer")
        if self.max_handshakes < 1:
            raise ValueError(f"max_handshakes must be at least 1, got {self.max_handshakes}")
        if not self.versions or any(v not in SUPPORTED_VERSIONS for v in self.versions):
            raise ValueError(f"versions must be a non-empty subset of {list(SUPPORTED_VERSIONS)}")


@dataclass(frozen=True, slots=True)
class _Invariants:
    """The version-independent header fields (RFC 8999 §5) that routing needs."""

    long: bool
    version: int  # 0 for a short header (and for Version Negotiation)
    destination_cid: bytes
    source_cid: bytes


def _parse_invariants(data: bytes, short_cid_length: int) -> _Invariants | None:
    """RFC 8999 §5.1, §5.2: the CIDs (and version) of the first packet; None if truncated."""
    if not data:
        return None
    if not data[0] & HEADER_FORM_BIT:
        if len(data) < 1 + short_cid_length:
            return None
        return _Invariants(False, 0, data[1 : 1 + short_cid_length], b"")
    if len(data) < 6:
        return None
    version = int.from_bytes(data[1:5], "big")
    dcid_end = 6 + data[5]
    if len(data) < dcid_end + 1:
        return None
    scid_end = dcid_end + 1 + data[dcid_end]
    if len(data) < scid_end:
        return None
    return _Invariants(True, version, data[6:dcid_end], data[dcid_end + 1 : scid_end])


@dataclass(slots=True)
class _Entry:
    """The endpoint's bookkeeping for one connection."""

    # the CIDs it wants routed (unless another connection has one); a tuple, 80 bytes, not a set
    cids: tuple[bytes, ...]
    address: Address  # the peer address it is indexed under (for reset detection)
    timer_us: int | None  # its earliest timer when last synced
    handshaking: bool  # a server connection counted against max_handshakes
    routes_key: tuple[int, bytes, bytes | None] | None = None  # what ``cids`` was computed from


class Endpoint:
    """Routes datagrams to connections and answers what no connection can (module docstring)."""

    def __init__(
        self,
        *,
        settings: Settings,
        crypto: PacketProtectionFactory,
        rng: random.Random,
        stateless_reset_key: bytes,
        server: ServerConfig | None = None,
    ) -> None:
        if len(stateless_reset_key) < MIN_STATELESS_RESET_KEY_LENGTH:
            raise ValueError(
                f"stateless_reset_key must be at least {MIN_STATELESS_RESET_KEY_LENGTH} bytes"
            )
        self.settings = settings
        self.crypto = crypto
        self.rng = rng
        self.server = server
        self.stats = EndpointStatistics()
        self._reset_key = stateless_reset_key
        self._cid_length = settings.local_cid_length
        if server is not None:
            self._check_cid_length(server.settings)
        self._routes: dict[bytes, Connection] = {}
        self._entries: dict[Connection, _Entry] = {}
        # peer address -> its connection, or a set when several share it (a set costs 216 bytes)
        self._by_address: dict[Address, Connection | set[Connection]] = {}
        self._handshakes = 0
        self._touched: dict[Connection, None] = {}  # timer changed since connection_timers()
        self._active: dict[Connection, None] = {}  # had input since datagrams_to_send()
        self._recv_ecn = 0  # the ECN codepoint of the datagram being received (RFC 9000 §13.4.1)
        # a list and a deque made on demand: an empty deque costs ~600 bytes (a client endpoint)
        self._stateless_out: list[tuple[bytes, Address]] = []
        self._events: deque[EndpointEvent] | None = None
        self._limiter = StatelessLimiter(
            settings.max_binding_stateless_operations,
            settings.stateless_operation_expiration_ms * 1000,
        )

    # --- queries ------------------------------------------------------------------------------

    @property
    def connections(self) -> tuple[Connection, ...]:
        """The connections the endpoint drives, oldest first."""
        return tuple(self._entries)

    @property
    def handshakes_in_progress(self) -> int:
        """Server connections still in their handshake (bounded by ``max_handshakes``)."""
        return self._handshakes

    @property
    def route_count(self) -> int:
        return len(self._routes)

    def route(self, connection_id: bytes) -> Connection | None:
        """The connection a packet to ``connection_id`` is delivered to, if any."""
        return self._routes.get(connection_id)

    def poll_event(self) -> EndpointEvent | None:
        events = self._events
        if not events:
            return None
        event = events.popleft()
        if not events:
            self._events = None
        return event

    def _emit(self, event: EndpointEvent) -> None:
        if self._events is None:
            self._events = deque()
        self._events.append(event)

    # --- client connections -------------------------------------------------------------------

    def connect(
        self,
        peer_address: Address,
        tls_factory: TlsFactory,
        now_us: int,
        *,
        settings: Settings | None = None,
        qlog: QlogSink | None = None,
        version: int = QUIC_V1,
        token: bytes = b"",
        remembered_parameters: TransportParameters | None = None,
        versions: tuple[int, ...] | None = None,
    ) -> Connection:
        """Open a client connection to ``peer_address``; its first flight goes out with the next
        :meth:`datagrams_to_send`.  ``settings`` (default: the endpoint's) must keep the
        endpoint's ``local_cid_length``.  ``token`` is one from an earlier connection's
        ``NewTokenReceived`` event (RFC 9000 §8.1.3); ``remembered_parameters`` the server's
        parameters stored with the session ticket, for 0-RTT (RFC 9000 §7.4.1); ``versions``
        the versions the client accepts, most preferred first (its version_information and its
        choice after Version Negotiation, RFC 9368 §2.1, §3; default: every supported one)."""
        settings = settings if settings is not None else self.settings
        self._check_cid_length(settings)
        if versions is not None and (
            not versions or any(v not in SUPPORTED_VERSIONS for v in versions)
        ):
            raise ValueError(f"versions must be a non-empty subset of {list(SUPPORTED_VERSIONS)}")
        conn = Connection(
            is_client=True,
            settings=settings,
            tls_factory=tls_factory,
            crypto=self.crypto,
            rng=self.rng,
            now_us=now_us,
            peer_address=peer_address,
            stateless_reset_key=self._reset_key,
            version=version,
            qlog=qlog,
            token=token,
            remembered_parameters=remembered_parameters,
            versions=versions,
        )
        self._register(conn)
        return conn

    def _check_cid_length(self, settings: Settings) -> None:
        # RFC 9000 §10.3.2: one CID length for every connection, so short headers route
        if settings.local_cid_length != self._cid_length:
            raise ValueError(
                f"local_cid_length {settings.local_cid_length} differs from the endpoint's "
                f"{self._cid_length}"
            )

    # --- receiving ----------------------------------------------------------------------------

    def receive_datagram(
        self, data: bytes, address: Address, now_us: int, *, ecn: int = 0
    ) -> Connection | None:
        """Route one datagram; returns the connection it was delivered to.  Never raises.
        ``ecn``: the IP ECN codepoint it arrived with (RFC 9000 §13.4.1)."""
        data = bytes(data)
        self._recv_ecn = ecn
        stats = self.stats
        stats.datagrams_received += 1
        stats.bytes_received += len(data)
        cid_length = self._cid_length
        if data and not data[0] & HEADER_FORM_BIT and len(data) > cid_length:
            # RFC 8999 §5.2, RFC 9000 §5.2: a short header's DCID is the endpoint's CID length
            # right after the first byte; a routed one is delivered without parsing further
            conn = self._routes.get(data[1 : 1 + cid_length])
            if conn is not None:
                self._deliver(conn, data, address, now_us)
                return conn
        header = _parse_invariants(data, cid_length)
        if header is None:
            return self._drop(DropReason.UNPARSABLE)
        conn = self._routes.get(header.destination_cid)
        if conn is not None:  # RFC 9000 §5.2: the first packet's DCID names the connection
            self._deliver(conn, data, address, now_us)
            return conn
        conn = self._reset_target(data, address)
        if conn is not None:
            # RFC 9000 §10.3.1: a reset's DCID is random, its last 16 bytes are one of the
            # peer's tokens (in any header form); the connection checks them again and drains
            self.stats.stateless_resets_received += 1
            self._deliver(conn, data, address, now_us)
            return conn
        if header.long:
            return self._unroutable_long(data, header, address, now_us)
        self._unroutable_short(data, header, address, now_us)
        return None

    def _unroutable_long(
        self, data: bytes, header: _Invariants, address: Address, now_us: int
    ) -> Connection | None:
        if header.version == 0:
            return self._drop(DropReason.VERSION_NEGOTIATION)  # RFC 9000 §6.1: never answer VN
        if self.server is None:
            return self._drop(DropReason.NOT_A_SERVER)
        if header.version not in self.server.versions:
            if len(data) < MIN_INITIAL_DATAGRAM_SIZE:
                return self._drop(DropReason.UNSUPPORTED_VERSION_SMALL)  # RFC 9000 §6.1
            self._send_version_negotiation(header, address, now_us)
            return None
        if max(len(header.destination_cid), len(header.source_cid)) > MAX_CID_LENGTH:
            return self._drop(DropReason.CID_TOO_LONG)  # RFC 9000 §17.2
        return self._accept(data, self.server, address, now_us)

    def _unroutable_short(
        self, data: bytes, header: _Invariants, address: Address, now_us: int
    ) -> None:
        if len(data) <= MIN_STATELESS_RESET_LENGTH:
            # RFC 9000 §10.3.3: our reset must be smaller than the trigger and >= 21 bytes
            self._drop(DropReason.TOO_SMALL_FOR_RESET)
            return
        if not self._limiter.allow(address, now_us):
            self._drop(DropReason.STATELESS_RATE_LIMITED)
            return
        self._stateless_out.append((self._stateless_reset(data, header.destination_cid), address))
        self.stats.stateless_resets_sent += 1
        return None

    def _reset_target(self, data: bytes, address: Address) -> Connection | None:
        """RFC 9000 §10.3.1: the connection at ``address`` whose peer's token ends ``data``.

        Tokens are compared in constant time by ``PeerConnectionIds.is_stateless_reset``.
        """
        if len(data) < MIN_STATELESS_RESET_LENGTH:
            return None
        peers = self._by_address.get(address)
        if peers is None:
            return None
        for conn in (peers,) if isinstance(peers, Connection) else peers:
            if conn.peer_cids is not None and conn.peer_cids.is_stateless_reset(data):
                return conn
        return None

    def _accept(
        self, data: bytes, server: ServerConfig, address: Address, now_us: int
    ) -> Connection | None:
        """A new server connection for a client's first Initial (RFC 9000 §5.2.2, §7.2)."""
        if len(data) < MIN_INITIAL_DATAGRAM_SIZE:
            return self._drop(DropReason.INITIAL_TOO_SMALL)  # RFC 9000 §14.1
        try:
            header = parse_header(data, short_dcid_length=self._cid_length)
        except QuicError:
            return self._drop(DropReason.UNPARSABLE)
        if not isinstance(header, LongHeader) or header.packet_type is not PacketType.INITIAL:
            return self._drop(DropReason.UNKNOWN_CONNECTION)  # 0-RTT/Handshake before Initial
        if len(header.destination_cid) < MIN_ORIGINAL_DCID_LENGTH:
            return self._drop(DropReason.ORIGINAL_DCID_TOO_SHORT)  # RFC 9000 §7.2
        token = self._check_token(header, server, address, now_us)
        if token == INVALID_TOKEN:
            return self._drop(DropReason.INVALID_TOKEN)  # RFC 9000 §8.1.3: discard it
        if token is None and self._should_retry(server):
            self._send_retry(header, server, address, now_us)
            return None
        if self._handshakes >= server.max_handshakes:
            return self._drop(DropReason.HANDSHAKE_LIMIT)
        valid = token if isinstance(token, ValidToken) else None
        odcid = valid.original_destination_cid if valid and valid.retry_source_cid else None
        try:
            qlog_cid = odcid or header.destination_cid
            qlog = server.qlog_factory(qlog_cid) if server.qlog_factory else None
            conn = Connection(
                is_client=False,
                settings=server.settings,
                tls_factory=server.tls_factory,
                crypto=self.crypto,
                rng=self.rng,
                now_us=now_us,
                peer_address=address,
                stateless_reset_key=self._reset_key,
                version=header.version,
                qlog=qlog,
                versions=server.versions,  # the server's preference (RFC 9368 §4)
            )
            if valid is not None:
                conn.validate_address_by_token(odcid, valid.retry_source_cid or None)
            offer_configured_address(conn, server.preferred_address)  # RFC 9000 §9.6
            conn.receive_datagram(data, address, now_us, ecn=self._recv_ecn)
        except Exception:  # a faulty TLS factory or connection: refuse, stay up
            self.stats.connection_errors += 1
            return self._drop(DropReason.INITIAL_NOT_AUTHENTICATED)
        if conn.state is ConnectionState.HANDSHAKE and conn.stats.recv_total_packets == 0:
            # nothing authenticated (garbage, or a forged Initial): keep no state for it
            return self._drop(DropReason.INITIAL_NOT_AUTHENTICATED)
        self._register(conn)
        self._emit(NewConnection(conn))
        return conn

    # --- address validation (RFC 9000 §8.1) -----------------------------------------------------

    def _check_token(
        self, header: LongHeader, server: ServerConfig, address: Address, now_us: int
    ) -> ValidToken | str | None:
        if not header.token or server.token_sealer is None:
            return None
        return check_token(
            server.token_sealer,
            header.token,
            address,
            now_us,
            destination_cid=header.destination_cid,
            retry_lifetime_us=server.retry_token_lifetime_ms * 1000,
            new_token_lifetime_us=server.new_token_lifetime_ms * 1000,
        )

    def _should_retry(self, server: ServerConfig) -> bool:
        """RFC 9000 §8.1.2: always, or under load (MsQuic's RetryMemoryLimit, as a count)."""
        if server.retry == "auto":
            return self._handshakes >= server.retry_handshake_threshold
        return server.retry == "always"

    def _send_retry(
        self, header: LongHeader, server: ServerConfig, address: Address, now_us: int
    ) -> None:
        """RFC 9000 §17.2.5: a new Source CID and a token binding the client's address, the
        time and its original DCID; a Retry is smaller than the Initial, so never amplifies."""
        assert server.token_sealer is not None
        info = version_info(header.version)
        assert info is not None
        retry_scid = self.rng.randbytes(max(self._cid_length, MIN_ORIGINAL_DCID_LENGTH))
        token = retry_token(
            server.token_sealer, address, now_us, header.destination_cid, retry_scid
        )
        packet = build_retry(
            self.crypto,
            info,
            client_scid=header.source_cid,
            original_dcid=header.destination_cid,
            retry_scid=retry_scid,
            token=token,
            unused=self.rng.getrandbits(4),
        )
        self._stateless_out.append((packet, address))
        self.stats.retries_sent += 1

    def _issue_new_token(self, conn: Connection, now_us: int) -> None:
        """RFC 9000 §8.1.3: a token for the client's next connection, once the handshake is done."""
        server = self.server
        if server is None or server.token_sealer is None or not server.issue_new_tokens:
            return
        conn.queue_new_token(new_token(server.token_sealer, conn.peer_address, now_us))
        self.stats.new_tokens_issued += 1

    def _deliver(self, conn: Connection, data: bytes, address: Address, now_us: int) -> None:
        # synced later, once per batch of datagrams (datagram_batches, take_touched), not per
        # datagram: routes and timers change rarely between two datagrams of a bulk transfer
        self._active[conn] = None
        try:
            conn.receive_datagram(data, address, now_us, ecn=self._recv_ecn)
        except Exception as exc:  # the _call boundary, inlined on this per-datagram path
            self.stats.connection_errors += 1
            entry = self._entries.get(conn)
            if entry is not None:
                self._remove(conn, entry, exc)

    def _drop(self, reason: DropReason) -> Connection | None:
        """Count a dropped datagram; returns None, what receive_datagram then returns."""
        self.stats.dropped[reason] = self.stats.dropped.get(reason, 0) + 1
        return None

    # --- stateless answers --------------------------------------------------------------------

    def _send_version_negotiation(self, header: _Invariants, address: Address, now_us: int) -> None:
        """RFC 9000 §6.1, §17.2.1: our versions and a grease one, the client's CIDs swapped."""
        assert self.server is not None
        if not self._limiter.allow(address, now_us):
            self._drop(DropReason.STATELESS_RATE_LIMITED)
            return
        grease = (self.rng.getrandbits(32) & ~_GREASE_VERSION_MASK) | _GREASE_VERSION_BITS
        packet = encode_version_negotiation(
            header.source_cid,
            header.destination_cid,
            (*self.server.versions, grease),
            unused=self.rng.getrandbits(7) | _VN_UNUSED_MULTIPLEX_BIT,
        )
        self._stateless_out.append((packet, address))
        self.stats.version_negotiation_sent += 1

    def _stateless_reset(self, trigger: bytes, destination_cid: bytes) -> bytes:
        """RFC 9000 §10.3: shorter than the trigger (so never 3x), at least 21 bytes."""
        if len(trigger) <= _SMALL_TRIGGER_LENGTH:
            size = len(trigger) - 1
        else:
            size = min(
                len(trigger) - 1, _SMALL_TRIGGER_LENGTH + self.rng.randrange(_RESET_EXTRA_LENGTH)
            )
        token = stateless_reset_token(self._reset_key, destination_cid)
        return encode_stateless_reset(
            token, self.rng.randbytes(size - STATELESS_RESET_TOKEN_LENGTH)
        )

    # --- sending ------------------------------------------------------------------------------

    def datagrams_to_send(
        self, now_us: int, *, max_datagrams: int | None = None
    ) -> list[tuple[bytes, Address]]:
        """:meth:`datagram_batches` as one list, for a platform that does not set ECN."""
        batches = self.datagram_batches(now_us, max_datagrams=max_datagrams)
        return [datagram for batch, _ in batches for datagram in batch]

    def datagram_batches(
        self, now_us: int, *, max_datagrams: int | None = None
    ) -> list[tuple[list[tuple[bytes, Address]], int]]:
        """Stateless answers, then each connection's datagrams, in batches each sent with one
        IP ECN codepoint (RFC 9000 §13.4; the connection's ``ecn_codepoint``).

        Only connections that had input since they were last asked (a datagram, a timer, an
        application call: :meth:`touch`) are asked, in the order they had it: a connection
        with nothing new has nothing new to send, so an idle connection costs nothing here
        (MsQuic's workers likewise serve only connections with queued operations).  One that
        sent stays on the list until it has nothing more.  With ``max_datagrams`` the endpoint
        stops asking once that many are gathered (a connection's batch is not split).
        """
        out = [(self._stateless_out, 0)] if self._stateless_out else []
        if out:
            self._stateless_out = []
        count = sum(len(batch) for batch, _ in out)
        active, self._active = list(self._active), {}
        senders: list[Connection] = []
        for index, conn in enumerate(active):
            if max_datagrams is not None and count >= max_datagrams:
                senders = active[index:] + senders  # not asked yet: first in line next time
                break
            batch = self._call(conn, partial(conn.datagrams_to_send, now_us))
            self._sync(conn)  # routes first: the batch may announce new CIDs
            if batch:
                out.append((batch, conn.ecn_codepoint))
                count += len(batch)
                senders.append(conn)  # it may have more (a full batch, a new round)
        if senders:
            kept = {conn: None for conn in senders if conn in self._entries}
            kept.update(self._active)
            self._active = kept
        self.stats.datagrams_sent += count
        self.stats.bytes_sent += sum(len(data) for batch, _ in out for data, _ in batch)
        return out

    # --- timers -------------------------------------------------------------------------------

    def next_timer_us(self, connection: Connection | None = None) -> int | None:
        """The earliest timer of ``connection``, or of every connection when it is omitted."""
        if connection is not None:
            return connection.next_timer_us() if connection in self._entries else None
        timers = [t for c in self._entries if (t := c.next_timer_us()) is not None]
        return min(timers, default=None)

    @overload
    def handle_timer(self, now_us: int, /) -> None: ...

    @overload
    def handle_timer(self, connection: Connection, now_us: int, /) -> None: ...

    def handle_timer(self, target: Connection | int, now_us: int | None = None, /) -> None:
        """``handle_timer(connection, now_us)`` runs one connection's due timers (for a timer
        wheel); ``handle_timer(now_us)`` runs every due connection (:meth:`handle_timers`)."""
        if isinstance(target, Connection):
            if now_us is None:
                raise TypeError("handle_timer(connection, now_us) needs now_us")
            if target in self._entries:
                self._active[target] = None
                self._call(target, partial(target.handle_timer, now_us))
                self._sync(target)
            return
        self.handle_timers(target)

    def handle_timers(self, now_us: int) -> None:
        """Run the timers of every connection that has one due at ``now_us``."""
        for conn in list(self._entries):
            timer_us = conn.next_timer_us()
            if timer_us is not None and timer_us <= now_us:
                self.handle_timer(conn, now_us)

    def next_timer_us_all(self) -> int | None:
        """The earliest timer over all connections (for simple drivers)."""
        return self.next_timer_us()

    def connections_with_input(self) -> list[Connection]:
        """The connections that had input (a datagram, a timer, :meth:`touch`) since they were
        last asked for datagrams: those whose events a driver may want to deliver first."""
        return list(self._active)

    def take_touched(self) -> list[Connection]:
        """Connections whose earliest timer changed (or that were removed, timer None) since
        the last call; the timer wheel re-arms them with :meth:`next_timer_us`."""
        for conn in list(self._active):
            self._sync(conn)  # those that had input since they were last synced
        touched = list(self._touched)
        self._touched.clear()
        return touched

    def connection_timers(self) -> list[tuple[Connection, int | None]]:
        """:meth:`take_touched` with each connection's timer (None: cancel it)."""
        return [(conn, self.next_timer_us(conn)) for conn in self.take_touched()]

    def touch(self, connection: Connection) -> None:
        """Re-read a connection after the application acted on it (a stream write, a close):
        its routes, its timer, its removal if it closed."""
        if connection in self._entries:
            self._active[connection] = None
            self._sync(connection)

    # --- bookkeeping --------------------------------------------------------------------------

    def _register(self, conn: Connection) -> None:
        entry = self._entries[conn] = _Entry((), conn.peer_address, None, handshaking=False)
        self._index_address(conn, entry)
        self.stats.connections_created += 1
        self._active[conn] = None  # its first flight (a client) or its answer (a server)
        self._sync(conn)

    def _sync(self, conn: Connection) -> None:
        """Mirror a connection's routes, handshake status and timer; remove it once CLOSED."""
        entry = self._entries.get(conn)
        if entry is None:
            return
        if conn.state is ConnectionState.CLOSED:
            self._remove(conn, entry, None)
            return
        routes_key = (
            conn.local_cids.generation,
            conn.original_destination_cid,
            conn.retry_source_cid,
        )
        if routes_key != entry.routes_key:  # the routes change only with these (cheap to test)
            entry.routes_key = routes_key
            wanted = set(conn.local_cids.active_cids())
            if not conn.is_client and conn.original_destination_cid:
                wanted.add(conn.original_destination_cid)
            if not conn.is_client and conn.retry_source_cid:
                wanted.add(conn.retry_source_cid)  # the client's Initials after a Retry
            self._set_routes(conn, entry, wanted)
        if conn.peer_address != entry.address:  # the peer migrated (RFC 9000 §9)
            self._unindex_address(conn, entry)
            self._index_address(conn, entry)
        handshaking = not conn.is_client and conn.state is ConnectionState.HANDSHAKE
        if handshaking != entry.handshaking:
            self._handshakes += 1 if handshaking else -1
            entry.handshaking = handshaking
            if not handshaking and conn.state is ConnectionState.ESTABLISHED:
                self._issue_new_token(conn, conn.now_us)
        timer_us = conn.next_timer_us()
        if timer_us != entry.timer_us:
            entry.timer_us = timer_us
            self._touched[conn] = None

    def _set_routes(self, conn: Connection, entry: _Entry, wanted: Iterable[bytes]) -> None:
        wanted = set(wanted)
        old = entry.cids
        for cid in old:
            if cid not in wanted and self._routes.get(cid) is conn:
                del self._routes[cid]
        for cid in wanted.difference(old):
            owner = self._routes.setdefault(cid, conn)
            if owner is not conn:
                self.stats.cid_collisions += 1  # never steal another connection's route
        entry.cids = tuple(wanted)

    def _index_address(self, conn: Connection, entry: _Entry) -> None:
        entry.address = address = conn.peer_address
        peers = self._by_address.get(address)
        if peers is None:
            self._by_address[address] = conn
        elif isinstance(peers, Connection):
            if peers is not conn:
                self._by_address[address] = {peers, conn}
        else:
            peers.add(conn)

    def _unindex_address(self, conn: Connection, entry: _Entry) -> None:
        peers = self._by_address.get(entry.address)
        if peers is None:
            return
        if isinstance(peers, Connection):
            if peers is conn:
                del self._by_address[entry.address]
            return
        peers.discard(conn)
        if len(peers) == 1:
            self._by_address[entry.address] = next(iter(peers))

    def _remove(self, conn: Connection, entry: _Entry, error: Exception | None) -> None:
        self._set_routes(conn, entry, ())
        self._unindex_address(conn, entry)
        if entry.handshaking:
            self._handshakes -= 1
        del self._entries[conn]
        self._active.pop(conn, None)
        self._touched[conn] = None  # the timer wheel cancels it
        self.stats.connections_closed += 1
        self._emit(ConnectionClosed(conn, error))

    def _call(self, conn: Connection, action: Callable[[], _T]) -> _T | None:
        """Run an operation of ``conn``; a connection that raises is abandoned (docstring)."""
        try:
            return action()
        except Exception as exc:
            self.stats.connection_errors += 1
            entry = self._entries.get(conn)
            if entry is not None:
                self._remove(conn, entry, exc)
            return None
