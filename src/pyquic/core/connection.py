"""One QUIC connection: sans-I/O, deterministic, driven by datagrams, timers and the application.

Inputs: :meth:`Connection.receive_datagram`, :meth:`Connection.handle_timer` and the application
calls (streams, close), each given ``now_us``.  Outputs: :meth:`Connection.datagrams_to_send`,
:meth:`Connection.next_timer_us` (only the earliest timer, as quinn does) and
:meth:`Connection.poll_event`.  No sockets, no clock, randomness from the injected ``rng``.

Design (MsQuic's connection.c split by concept): this module owns the state machine
(:class:`ConnectionState`), the lifetime rules (idle timeout RFC 9000 §10.1, closing and draining
RFC 9000 §10.2), the TLS pump (RFC 9001 §4) and the one error boundary where a
:class:`QuicError` raised anywhere becomes a single CONNECTION_CLOSE (RFC 9000 §10.2).  Receiving
lives in :mod:`pyquic.core.receive_path` and :mod:`pyquic.core.frame_handlers`, sending in
:mod:`pyquic.core.send_path`; recovery, streams, flow control and CIDs in their own modules.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Hashable

from pyquic.core import (
    key_update,
    paths,
    receive_path,
    send_path,
    version_negotiation,
    zero_rtt,
)
from pyquic.core.ack_tracker import DUPLICATE_DETECTION_RANGES, AckTracker
from pyquic.core.cid_manager import LocalConnectionIds, PeerConnectionIds
from pyquic.core.congestion import create_controller
from pyquic.core.connection_state import ConnectionState as ConnectionState
from pyquic.core.crypto_stream import CryptoStream
from pyquic.core.ecn import EcnValidator
from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.core.events import (
    ConnectionEvent,
    ConnectionTerminated,
    HandshakeCompleted,
    StreamsAvailable,
    TlsNotice,
)
from pyquic.core.flow_control import ReceiveWindow, SendCredit
from pyquic.core.frames import ConnectionCloseFrame
from pyquic.core.key_ring import KeyRing
from pyquic.core.levels import EncryptionLevel, PacketSpace
from pyquic.core.loss_detection import LossDetection
from pyquic.core.mtu_discovery import MtuSearch
from pyquic.core.pacing import Pacer
from pyquic.core.packet_header import LongHeader, ShortHeader
from pyquic.core.qlog import QlogSink, QlogTrace
from pyquic.core.rtt import RttEstimator
from pyquic.core.settings import Settings
from pyquic.core.statistics import ConnectionStatistics
from pyquic.core.streams import StreamManager
from pyquic.core.tls_interface import (
    Direction,
    PacketProtectionFactory,
    TlsSessionLike,
    TrafficSecretReady,
)
from pyquic.core.tls_interface import HandshakeCompleted as TlsHandshakeCompleted
from pyquic.core.transport_params import (
    TransportParameters,
    encode_transport_parameters,
    parse_transport_parameters,
)
from pyquic.core.version import (
    QUIC_V1,
    SUPPORTED_VERSIONS,
    PacketType,
    VersionInfo,
    version_info,
)

Address = Hashable
# a packet kept until its keys arrive (RFC 9001 §5.7): level, type, bytes, header
BufferedPacket = tuple[EncryptionLevel, PacketType, bytes, "LongHeader | ShortHeader"]
INITIAL_MAX_DATAGRAM_SIZE = 1200  # RFC 9000 §14: until the path's MTU is known
_CRYPTO_LEVELS = (EncryptionLevel.INITIAL, EncryptionLevel.HANDSHAKE, EncryptionLevel.APPLICATION)
_TPE = TransportErrorCode.TRANSPORT_PARAMETER_ERROR
# states in which a datagram is not processed (RFC 9000 §10.2.2); a set, as an Enum member's
# attribute lookup is slow on the per-datagram path
_NOT_RECEIVING = frozenset({ConnectionState.CLOSED, ConnectionState.DRAINING})


class Connection:
    """A QUIC connection (client or server), fed by its endpoint or a simulated network."""

    # Memory: a server holds thousands of idle connections, and an instance ``__dict__`` of this
    # many attributes costs about 1.6 KB where slots cost 8 bytes each.  ``__dict__`` stays
    # available (made on first use) for the rare attribute set from outside, e.g. by a test.
    __slots__ = (
        "__dict__",
        "__weakref__",
        "_events",
        "_negotiated_idle_timeout_us",
        "_tls_factory",
        "ack_eliciting_sent_since_receive",
        "ack_trackers",
        "address_validated",
        "buffered_packets",
        "bytes_received",
        "bytes_sent",
        "cc",
        "client_hello_prefix",
        "close_deadline_us",
        "close_frame",
        "close_pending",
        "crypto",
        "crypto_streams",
        "ecn",
        "handshake_confirmed",
        "handshake_done_pending",
        "idle_deadline_us",
        "is_client",
        "keys",
        "local_cids",
        "local_parameters",
        "loss",
        "loss_peer_validated",
        "max_datagram_size",
        "mtu",
        "new_tokens_pending",
        "next_packet_number",
        "now_us",
        "original_destination_cid",
        "original_version",
        "pacer",
        "pacing_deadline_us",
        "path_responses",
        "paths",
        "peer_ack_delay_exponent",
        "peer_address",
        "peer_cids",
        "peer_initial_source_cid",
        "peer_max_ack_delay_us",
        "peer_parameters",
        "probes_pending",
        "qlog",
        "qlog_congestion_state",
        "reacted_to_version_negotiation",
        "recv_ecn",
        "recv_window",
        "remembered_parameters",
        "retry_source_cid",
        "rng",
        "rtt",
        "send_credit",
        "send_ecn",
        "sent_handshake_packet",
        "settings",
        "state",
        "stats",
        "streams",
        "tls",
        "token",
        "version",
        "version_chosen",
        "versions",
    )

    def __init__(
        self,
        *,
        is_client: bool,
        settings: Settings,
        tls_factory: Callable[[bytes], TlsSessionLike],
        crypto: PacketProtectionFactory,
        rng: random.Random,
        now_us: int,
        peer_address: Address,
        stateless_reset_key: bytes,
        version: int = QUIC_V1,
        qlog: QlogSink | None = None,
        token: bytes = b"",
        versions: tuple[int, ...] | None = None,
        remembered_parameters: TransportParameters | None = None,
    ) -> None:
        info = version_info(version)
        if info is None:
            raise ValueError(f"unsupported QUIC version {version:#010x}")
        self.is_client = is_client
        self.settings = settings
        self.version: VersionInfo = info
        # compatible version negotiation (RFC 9368): ours by preference, the first Initial's
        self.versions = versions if versions is not None else tuple(SUPPORTED_VERSIONS)
        self.original_version = info.number
        self.version_chosen = False  # server: the version was settled from the ClientHello
        # client: this attempt follows a Version Negotiation packet (RFC 9368 §2.1, §4)
        self.reacted_to_version_negotiation = False
        self.client_hello_prefix = b""
        self.rng = rng
        self.crypto = crypto
        self.peer_address = peer_address
        self._tls_factory = tls_factory
        self.tls: TlsSessionLike | None = None
        self.state = ConnectionState.HANDSHAKE
        self.handshake_confirmed = False
        self._init_observability(qlog, now_us)
        self.keys = KeyRing(crypto)
        self._init_connection_ids(stateless_reset_key)
        self.token = token  # client: sent in Initials (RFC 9000 §8.1.3, §17.2.2)
        # client: the server's parameters remembered with the ticket, for 0-RTT (RFC 9000 §7.4.1)
        self.remembered_parameters = remembered_parameters
        self._init_recovery(settings)
        self._init_streams(settings)
        self.crypto_streams = {
            level: CryptoStream(level, max_buffer=settings.max_crypto_buffer_bytes)
            for level in _CRYPTO_LEVELS
        }
        self.next_packet_number = {space: 0 for space in PacketSpace}
        self.peer_parameters: TransportParameters | None = None
        self.local_parameters: TransportParameters | None = None
        self._init_sending(now_us)
        if is_client:
            self.begin_client_attempt()

    # --- construction helpers ---------------------------------------------------------------

    def _init_observability(self, qlog: QlogSink | None, now_us: int) -> None:
        self.stats = ConnectionStatistics(timing_start_us=now_us)
        self.qlog = (
            QlogTrace(qlog, now_us=now_us, vantage_point="client" if self.is_client else "server")
            if qlog is not None
            else None
        )
        self.now_us = now_us  # the time of the latest input, for events raised without one
        self.qlog_congestion_state: str | None = None  # last state reported to qlog
        # made by the first event and dropped once drained: an empty deque holds ~600 bytes
        self._events: deque[ConnectionEvent] | None = None

    def _init_connection_ids(self, stateless_reset_key: bytes) -> None:
        self.local_cids = LocalConnectionIds(
            rng=self.rng,
            cid_length=self.settings.local_cid_length,
            stateless_reset_key=stateless_reset_key,
        )
        self.peer_cids: PeerConnectionIds | None = None
        self.original_destination_cid = b""
        self.retry_source_cid: bytes | None = None
        self.peer_initial_source_cid: bytes | None = None

    def _init_sending(self, now_us: int) -> None:
        # anti-amplification (RFC 9000 §8.1): the client's Handshake packet validates it
        self.address_validated = self.is_client
        self.bytes_received = 0
        self.bytes_sent = 0
        self.max_datagram_size = INITIAL_MAX_DATAGRAM_SIZE
        # timers and closing
        self.idle_deadline_us: int | None = now_us + self._idle_timeout_us(handshake=True)
        self._negotiated_idle_timeout_us: int | None = None  # cached by restart_idle_timer
        self.close_deadline_us: int | None = None
        self.close_frame: ConnectionCloseFrame | None = None
        self.close_pending = False
        self.sent_handshake_packet = False
        self.handshake_done_pending = False
        self.ack_eliciting_sent_since_receive = False
        self.probes_pending = {space: 0 for space in PacketSpace}
        self.pacing_deadline_us: int | None = None
        self.path_responses: list[bytes] = []  # PATH_CHALLENGE data to echo (RFC 9000 §8.2.2)
        self.paths = paths.PathSet(self.peer_address)  # RFC 9000 §8.2, §9
        # RFC 9002 §6.2.2.1: the client knows the server validated its address
        self.loss_peer_validated = False
        self.buffered_packets: list[BufferedPacket] = []
        self.new_tokens_pending: list[bytes] = []  # server: NEW_TOKEN frames (RFC 9000 §8.1.3)
        # ECN (RFC 9000 §13.4): the codepoint of the current send batch and received datagram
        self.ecn = EcnValidator(enabled=self.settings.ecn_enabled)
        self.send_ecn = 0
        self.recv_ecn = 0

    def _init_recovery(self, settings: Settings) -> None:
        self.rtt = RttEstimator(settings.initial_rtt_us)
        self.cc = create_controller(
            settings.congestion_control_algorithm,
            max_datagram_size=INITIAL_MAX_DATAGRAM_SIZE,
            initial_window_packets=settings.initial_window_packets,
        )
        self.loss = LossDetection(self.rtt, self.cc, max_ack_delay_us=settings.max_ack_delay_us)
        self.pacer = Pacer(self.cc, self.rtt) if settings.pacing_enabled else None
        self.mtu = MtuSearch(  # DPLPMTUD of the active path (RFC 9000 §14.3)
            missing_probe_count=settings.mtu_discovery_missing_probe_count,
            search_complete_timeout_us=settings.mtu_discovery_search_complete_timeout_us,
        )
        self.ack_trackers = {
            space: AckTracker(
                space,
                max_ack_delay_us=settings.max_ack_delay_us,
                ack_delay_exponent=settings.ack_delay_exponent,
                max_ranges=settings.max_ack_ranges,
                max_received_ranges=DUPLICATE_DETECTION_RANGES,
            )
            for space in PacketSpace
        }
        # the peer's values, known once its transport parameters arrive (RFC 9000 §18.2)
        self.peer_ack_delay_exponent = 3
        self.peer_max_ack_delay_us = 25_000

    def _init_streams(self, settings: Settings) -> None:
        self.streams = StreamManager.from_settings(self.is_client, settings)
        self.send_credit = SendCredit(0)
        self.recv_window = ReceiveWindow(
            settings.conn_flow_control_window, max_window=settings.conn_flow_control_window_max
        )

    def begin_client_attempt(self) -> None:
        """Client: a first flight (also the new one after Version Negotiation, RFC 9368 §2.1)."""
        # RFC 9000 §7.2: the client's first Destination CID is random, at least 8 bytes
        self.original_destination_cid = self.rng.randbytes(8)
        self.peer_cids = PeerConnectionIds(
            initial_cid=self.original_destination_cid,
            active_connection_id_limit=self.settings.active_connection_id_limit,
        )
        self._install_initial_keys(self.original_destination_cid)
        self._start_tls(
            self.settings.transport_parameters(
                initial_source_connection_id=self.local_cids.initial, is_server=False
            )
        )

    def accept_initial(self, destination_cid: bytes, source_cid: bytes) -> None:
        """Server: the first Initial names the client's CIDs (RFC 9000 §7.2, §7.3)."""
        if self.retry_source_cid is None:  # else the ODCID came from the Retry token
            self.original_destination_cid = destination_cid
        self.peer_initial_source_cid = source_cid
        self.peer_cids = PeerConnectionIds(
            initial_cid=source_cid,
            active_connection_id_limit=self.settings.active_connection_id_limit,
        )
        self._install_initial_keys(destination_cid)
        parameters = self.settings.transport_parameters(
            initial_source_connection_id=self.local_cids.initial,
            original_destination_connection_id=self.original_destination_cid,
            retry_source_connection_id=self.retry_source_cid,
            stateless_reset_token=self.local_cids.initial_reset_token,
            is_server=True,
        )
        self._start_tls(paths.with_preferred_address(self, parameters))  # RFC 9000 §9.6

    def validate_address_by_token(
        self, original_dcid: bytes | None = None, retry_source_cid: bytes | None = None
    ) -> None:
        """Server, before the first Initial: it carried a valid token, so the client's address
        is validated (RFC 9000 §8.1.2, §8.1.3); a Retry token also gives the CIDs the transport
        parameters must carry (RFC 9000 §7.3)."""
        self.address_validated = True
        if original_dcid is not None and retry_source_cid is not None:
            self.original_destination_cid = original_dcid
            self.retry_source_cid = retry_source_cid

    def queue_new_token(self, token: bytes) -> None:
        """Server: send ``token`` in a NEW_TOKEN frame (RFC 9000 §8.1.3, §19.7)."""
        self.new_tokens_pending.append(token)

    def _install_initial_keys(self, destination_cid: bytes) -> None:
        send, recv = self.crypto.initial_keys(self.version, destination_cid, self.is_client)
        self.keys.install(EncryptionLevel.INITIAL, send=send, recv=recv)

    def restart_tls(self, parameters: TransportParameters) -> None:
        """A new TLS session with these parameters (a server that switched versions)."""
        self._start_tls(parameters)

    def _start_tls(self, parameters: TransportParameters) -> None:
        parameters = version_negotiation.with_version_information(self, parameters)
        self.local_parameters = parameters
        if self.qlog is not None:
            self.qlog.parameters_set(self.now_us, parameters, initiator="local")
        self.tls = self._tls_factory(encode_transport_parameters(parameters))
        self.tls.start()
        self.pump_tls()

    # --- the TLS pump (RFC 9001 §4.1) ---------------------------------------------------------

    def pump_tls(self) -> None:
        """Move TLS output into the CRYPTO streams and act on TLS events."""
        tls = self.tls
        if tls is None:
            return
        for level in _CRYPTO_LEVELS:
            data = tls.data_to_send(level)
            if data:
                self.crypto_streams[level].write(data)
        while (event := tls.poll_event()) is not None:
            if isinstance(event, TrafficSecretReady):
                self._on_traffic_secret(event)
            elif isinstance(event, TlsHandshakeCompleted):
                # the peer's parameters are checked first: a connection they fail (a forged
                # Version Negotiation, RFC 9368 §4) never reports itself connected
                self._apply_pending_peer_parameters()
                self._on_handshake_completed(event)
            else:
                self.emit(TlsNotice(event))
        self._apply_pending_peer_parameters()

    def _apply_pending_peer_parameters(self) -> None:
        encoded = self.tls.peer_transport_parameters if self.tls is not None else None
        if self.peer_parameters is None and encoded is not None:
            self._apply_peer_parameters(encoded)

    def _on_traffic_secret(self, event: TrafficSecretReady) -> None:
        keys = self.crypto.keys_from_secret(event.cipher_suite, event.secret, self.version)
        if event.level is EncryptionLevel.APPLICATION:
            self.keys.confidentiality_limit = key_update.confidentiality_limit(event.cipher_suite)
        if event.direction is Direction.WRITE:
            self.keys.install(event.level, send=keys, recv=None)
        else:
            self.keys.install(event.level, send=None, recv=keys)
        zero_rtt.on_traffic_secret(self, event)  # RFC 9001 §4.6.1

    def _on_handshake_completed(self, event: TlsHandshakeCompleted) -> None:
        self.state = ConnectionState.ESTABLISHED
        self.emit(HandshakeCompleted(event.alpn, event.session_resumed, event.early_data_accepted))
        zero_rtt.on_handshake_completed(self, event.early_data_accepted)  # RFC 9001 §4.9.3
        self.idle_deadline_us = None  # re-armed with the negotiated timeout on the next packet
        if not self.is_client:
            # RFC 9001 §4.1.2: the server's handshake is confirmed when it completes
            self.handshake_done_pending = True
            self.confirm_handshake()

    def confirm_handshake(self) -> None:
        """RFC 9001 §4.1.2: then Handshake keys go (RFC 9001 §4.9.2)."""
        if self.handshake_confirmed:
            return
        self.handshake_confirmed = True
        self.discard_level(EncryptionLevel.HANDSHAKE)
        paths.use_preferred_address(self, self.now_us)  # client (RFC 9000 §9.6.1)

    def discard_level(self, level: EncryptionLevel) -> None:
        """Discard keys and recovery state of a level (RFC 9001 §4.9, RFC 9002 §6.4)."""
        if not self.keys.discard(level):
            return
        space = PacketSpace.INITIAL if level is EncryptionLevel.INITIAL else PacketSpace.HANDSHAKE
        self.ecn.on_packets_discarded(self.loss.discard_space(space))
        self.probes_pending[space] = 0
        self.ack_trackers[space].clear()
        self.crypto_streams[level].discard()

    def _apply_peer_parameters(self, encoded: bytes) -> None:
        params = parse_transport_parameters(encoded, from_server=self.is_client)
        self._authenticate_connection_ids(params)
        version_negotiation.check_peer_version_information(self, params)
        self.peer_parameters = params
        if self.qlog is not None:
            self.qlog.parameters_set(self.now_us, params, initiator="remote")
            self.qlog.peer_ack_delay_exponent = params.ack_delay_exponent
        self.peer_ack_delay_exponent = params.ack_delay_exponent
        self.peer_max_ack_delay_us = params.max_ack_delay_ms * 1000
        self.loss.max_ack_delay_us = self.peer_max_ack_delay_us
        self.send_credit.update(params.initial_max_data)
        self.streams.apply_transport_parameters(params)
        assert self.peer_cids is not None
        if self.is_client and params.stateless_reset_token is not None:
            self.peer_cids.set_initial_reset_token(params.stateless_reset_token)
        self.max_datagram_size = min(params.max_udp_payload_size, self.max_datagram_size)
        bidi, uni = self.streams.available_local_streams()
        self.emit(StreamsAvailable(bidi, uni))

    def _authenticate_connection_ids(self, params: TransportParameters) -> None:
        """RFC 9000 §7.3: the CIDs of the handshake must match the transport parameters."""
        if params.initial_source_connection_id != self.peer_initial_source_cid:
            raise QuicError(_TPE, "initial_source_connection_id does not match")
        if not self.is_client:
            return
        if params.original_destination_connection_id != self.original_destination_cid:
            raise QuicError(_TPE, "original_destination_connection_id does not match")
        if params.retry_source_connection_id != self.retry_source_cid:
            raise QuicError(_TPE, "retry_source_connection_id does not match")

    # --- inputs ----------------------------------------------------------------------------------

    def receive_datagram(self, data: bytes, address: Address, now_us: int, *, ecn: int = 0) -> None:
        """Process one UDP datagram from ``address`` (RFC 9000 §12.2); ``ecn`` is the IP ECN
        codepoint it arrived with (RFC 9000 §13.4.1), as the platform reports it."""
        if self.state in _NOT_RECEIVING:
            return
        size = len(data)
        self.bytes_received += size
        self.stats.recv_total_bytes += size
        self.paths.on_datagram(address, size)
        self.now_us = now_us
        self.recv_ecn = ecn & 0b11
        try:  # the _guard boundary, inlined on this per-datagram path
            receive_path.receive_datagram(self, data, address, now_us)
        except QuicError as exc:
            self.close_with_error(exc, now_us)

    def handle_timer(self, now_us: int) -> None:
        """Run whatever timers are due at ``now_us``."""
        if self.close_deadline_us is not None and now_us >= self.close_deadline_us:
            self.state = ConnectionState.CLOSED
            self.close_deadline_us = None
            return
        if self.state in (
            ConnectionState.CLOSED,
            ConnectionState.CLOSING,
            ConnectionState.DRAINING,
        ):
            return
        if self.idle_deadline_us is not None and now_us >= self.idle_deadline_us:
            self._on_idle_timeout()
            return
        self._guard(lambda: paths.on_timer(self, now_us), now_us)
        self._guard(lambda: send_path.on_loss_timer(self, now_us), now_us)

    def _on_idle_timeout(self) -> None:
        """RFC 9000 §10.1: silently close."""
        self.state = ConnectionState.CLOSED
        self.emit(
            ConnectionTerminated(
                int(TransportErrorCode.NO_ERROR),
                "idle timeout",
                None,
                application=False,
                by_peer=False,
                idle_timeout=True,
            )
        )

    def _guard(self, action: Callable[[], None], now_us: int) -> None:
        """The one error boundary: a QuicError anywhere closes the connection (RFC 9000 §10.2)."""
        try:
            action()
        except QuicError as exc:
            self.close_with_error(exc, now_us)

    # --- outputs ---------------------------------------------------------------------------------

    def datagrams_to_send(self, now_us: int) -> list[tuple[bytes, Address]]:
        """Datagrams to send now, each with its destination; send them with the IP ECN
        codepoint :attr:`ecn_codepoint` (read after this call)."""
        if self.state in (ConnectionState.CLOSED, ConnectionState.DRAINING):
            return []
        self.send_ecn = self.ecn.codepoint  # one codepoint per batch (RFC 9000 §13.4.2)
        try:
            return send_path.datagrams_to_send(self, now_us)
        except QuicError as exc:
            self.close_with_error(exc, now_us)
            return send_path.datagrams_to_send(self, now_us)

    @property
    def ecn_codepoint(self) -> int:
        """The IP ECN codepoint for the datagrams of the last :meth:`datagrams_to_send` call:
        ECT(0) (2) while ECN is tested or validated, else Not-ECT (0) (RFC 9000 §13.4.2)."""
        return self.send_ecn

    def next_timer_us(self) -> int | None:
        """The earliest time :meth:`handle_timer` or :meth:`datagrams_to_send` has work."""
        if self.state is ConnectionState.CLOSED:
            return None
        if self.state in (ConnectionState.CLOSING, ConnectionState.DRAINING):
            return self.close_deadline_us
        candidates = [
            self.idle_deadline_us,
            send_path.next_send_timer_us(self),
            paths.next_timer_us(self),
        ]
        return min((t for t in candidates if t is not None), default=None)

    def poll_event(self) -> ConnectionEvent | None:
        events = self._events
        if not events:
            return None
        event = events.popleft()
        if not events:
            self._events = None
        return event

    def emit(self, event: ConnectionEvent) -> None:
        events = self._events
        if events is None:
            events = self._events = deque()
        events.append(event)

    # --- closing (RFC 9000 §10.2) -----------------------------------------------------------

    def close(
        self, error_code: int = 0, reason: str = "", *, application: bool = True, now_us: int
    ) -> None:
        """Close the connection: CONNECTION_CLOSE, then the closing period (RFC 9000 §10.2.1)."""
        if self.state not in (ConnectionState.HANDSHAKE, ConnectionState.ESTABLISHED):
            return
        self._enter_closing(
            ConnectionCloseFrame(error_code, 0, reason.encode()[:1000], application=application),
            now_us,
        )
        self.emit(ConnectionTerminated(error_code, reason, None, application, by_peer=False))

    def abandon(self, reason: str = "abandoned") -> None:
        """Close at once without sending anything (MsQuic's SILENT shutdown, RFC 9000 §10.1)."""
        if self.state is ConnectionState.CLOSED:
            return
        was_open = self.state in (ConnectionState.HANDSHAKE, ConnectionState.ESTABLISHED)
        self.state = ConnectionState.CLOSED
        self.close_deadline_us = None
        self.close_pending = False
        if was_open:
            self.emit(ConnectionTerminated(0, reason, None, application=True, by_peer=False))

    def close_with_error(self, error: QuicError, now_us: int) -> None:
        """A protocol error: one CONNECTION_CLOSE with its code (RFC 9000 §10.2, §20.1)."""
        if self.state not in (ConnectionState.HANDSHAKE, ConnectionState.ESTABLISHED):
            return
        frame = ConnectionCloseFrame(
            error.error_code,
            error.frame_type or 0,
            error.reason.encode()[:1000],
            application=error.application,
        )
        self._enter_closing(frame, now_us)
        self.emit(
            ConnectionTerminated(
                error.error_code, error.reason, error.frame_type, error.application, by_peer=False
            )
        )

    def _enter_closing(self, frame: ConnectionCloseFrame, now_us: int) -> None:
        self.state = ConnectionState.CLOSING
        self.close_frame = frame
        self.close_pending = True
        self.close_deadline_us = now_us + 3 * self._pto_us()  # RFC 9000 §10.2
        if self.qlog is not None:
            self.qlog.connection_closed(
                now_us,
                initiator="local",
                error_code=frame.error_code,
                application=frame.application,
                reason=frame.reason.decode("utf-8", errors="replace"),
            )

    def enter_draining(self, event: ConnectionTerminated, now_us: int) -> None:
        """The peer closed (or reset): stop sending, wait 3 PTO (RFC 9000 §10.2.2)."""
        if self.state in (ConnectionState.CLOSED, ConnectionState.DRAINING):
            return
        was_closing = self.state is ConnectionState.CLOSING
        self.state = ConnectionState.DRAINING
        self.close_pending = False
        self.close_deadline_us = now_us + 3 * self._pto_us()
        if not was_closing:
            self.emit(event)

    def _pto_us(self) -> int:
        return self.rtt.pto_duration_us(
            include_max_ack_delay=True, max_ack_delay_us=self.peer_max_ack_delay_us
        )

    # --- idle timeout (RFC 9000 §10.1) --------------------------------------------------------

    def _idle_timeout_us(self, *, handshake: bool = False) -> int:
        local = self.settings.idle_timeout_us
        if handshake or self.state is ConnectionState.HANDSHAKE:
            return self.settings.handshake_idle_timeout_us or local or 0
        peer = self.peer_parameters.max_idle_timeout_ms * 1000 if self.peer_parameters else 0
        timeouts = [t for t in (local, peer) if t > 0]
        return min(timeouts) if timeouts else 0

    def restart_idle_timer(self, now_us: int) -> None:
        """On receiving a packet, and on the first ack-eliciting send after it (§10.1)."""
        timeout = self._negotiated_idle_timeout_us
        if timeout is None:
            timeout = self._idle_timeout_us()
            if self.state is not ConnectionState.HANDSHAKE:
                # fixed once the handshake is over (both sides' max_idle_timeout are known):
                # computed once rather than per packet
                self._negotiated_idle_timeout_us = timeout
        if timeout == 0:
            self.idle_deadline_us = None
            return
        # RFC 9000 §10.1: at least three times the current PTO
        floor = 3 * self._pto_us()
        self.idle_deadline_us = now_us + (timeout if timeout > floor else floor)

    # --- the application's side --------------------------------------------------------------

    def open_stream(self, *, bidirectional: bool = True) -> int:
        """Open a stream and return its ID; raises StreamLimitError at the peer's limit."""
        self._require_open()
        return self.streams.open_stream(bidirectional).stream_id

    def send_stream(self, stream_id: int, data: bytes, *, fin: bool = False) -> None:
        """Queue ``data`` on a stream (copied, as MsQuic's send buffering does)."""
        self._require_open()
        self.streams.send(stream_id, data, fin=fin)

    def read_stream(self, stream_id: int, max_bytes: int = -1) -> tuple[bytes, bool]:
        """Read received data in order; the bool tells whether the stream's end was reached."""
        try:
            return self.streams.read(stream_id, max_bytes)
        finally:
            # also after a reset: the discarded bytes free credit too (RFC 9000 §4.5)
            self.return_flow_credit()

    def return_flow_credit(self) -> None:
        """Bytes read or discarded free connection-level credit (RFC 9000 §4.1, §4.5)."""
        consumed = self.streams.take_consumed()
        if consumed:
            self.recv_window.on_consumed(consumed)

    def reset_stream(self, stream_id: int, error_code: int) -> None:
        self._require_open()
        self.streams.reset(stream_id, error_code)

    def stop_sending(self, stream_id: int, error_code: int) -> None:
        self._require_open()
        self.streams.stop_sending(stream_id, error_code)
        self.return_flow_credit()  # what the stream will no longer deliver (RFC 9000 §4.5)

    def set_stream_priority(self, stream_id: int, priority: int) -> None:
        self.streams.set_priority(stream_id, priority)

    def _require_open(self) -> None:
        if self.state not in (ConnectionState.HANDSHAKE, ConnectionState.ESTABLISHED):
            raise ConnectionError(f"the connection is {self.state.value}")

    def initiate_key_update(self) -> bool:
        """Update the 1-RTT keys now (RFC 9001 §6.1); False (nothing done) before the handshake
        is confirmed or while the previous update is unacknowledged or its old keys still kept."""
        return key_update.initiate(self)

    def migrate(self, now_us: int) -> None:
        """Client: our datagrams now leave from a new local address (RFC 9000 §9.2): switch to an
        unused peer CID (§9.5) and validate the new path.  Raises
        :class:`pyquic.core.paths.MigrationError` when the peer disabled active migration, no unused
        CID is left, or the handshake is not confirmed."""
        self._require_open()
        paths.migrate(self, now_us)

    def handshake_complete_locally(self) -> bool:
        """1-RTT data may flow: the TLS handshake completed here (0.5-RTT for a server)."""
        return self.keys.can_send(EncryptionLevel.APPLICATION) and (
            not self.is_client or self.state is not ConnectionState.HANDSHAKE
        )

    @property
    def alpn(self) -> bytes | None:
        return self.tls.alpn if self.tls is not None else None
