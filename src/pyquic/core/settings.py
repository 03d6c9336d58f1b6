"""Connection settings: MsQuic's QUIC_SETTINGS, their defaults, validation, and our parameters.

:class:`Settings` is an immutable value holding every knob a connection reads, named after MsQuic's
``QUIC_SETTINGS`` members in snake_case and with MsQuic's defaults and units (msquic-facts §2;
``src/core/quicdef.h``).  Times end in ``_ms`` or ``_us`` like MsQuic's; byte counts keep MsQuic's
names (``stream_recv_window_default`` is in bytes).  A few knobs MsQuic keeps as compile-time
constants are settings here (``active_connection_id_limit``, ``local_cid_length``,
``max_ack_ranges``, ``max_crypto_buffer_bytes``), and two are ours: the auto-tuning caps
``stream_recv_window_max`` and ``conn_flow_control_window_max``.

Design: one validation table (``_INT_RULES``) lists each integer setting's allowed range, so every
rule is written once; ``__post_init__`` walks it and raises ValueError naming the field and the
range.  Settings are inherited by copying with :meth:`Settings.merge` (MsQuic's IsSet cascade
from global to Configuration to Connection becomes "override the fields you set").
:meth:`Settings.transport_parameters` maps the settings onto our transport parameters (RFC 9000
§18.2; RFC 9221 §3; RFC 9287 §3).

Decisions worth knowing:

* ``peer_bidi_stream_count`` and ``peer_unidi_stream_count`` default to 0, as in MsQuic: the peer
  may open no streams until the application raises them (MsQuic apps must do the same).
* Stream receive windows must be powers of two, as MsQuic requires of StreamRecvWindowDefault
  (msquic-facts §2); they auto-double up to ``stream_recv_window_max`` (16 MiB by default, equal
  to MsQuic's effective cap: the default connection window).
* ``conn_flow_control_window_max`` (64 MiB) caps auto-tuning of the connection window; MsQuic keeps
  that window fixed, which is the behaviour obtained by setting it equal to the window.
* ``max_udp_payload_size`` of ``None`` derives the transport parameter from ``maximum_mtu`` minus
  the smallest IP (IPv4, 20 bytes) and UDP (8 bytes) headers: the largest payload our MTU allows.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from pyquic.core.transport_params import TransportParameters
from pyquic.core.varint import VARINT_MAX

__all__ = [
    "DATAGRAM_MAX_FRAME_SIZE",
    "CongestionControlAlgorithm",
    "ServerResumptionLevel",
    "Settings",
]

CongestionControlAlgorithm = Literal["cubic", "new_reno"]
ServerResumptionLevel = Literal["no_resume", "resume_only", "resume_and_zerortt"]

_CONGESTION_CONTROL_ALGORITHMS = ("cubic", "new_reno")
_SERVER_RESUMPTION_LEVELS = ("no_resume", "resume_only", "resume_and_zerortt")

# MsQuic advertises max_datagram_frame_size 65535 when datagrams are enabled (msquic-facts §3).
DATAGRAM_MAX_FRAME_SIZE = 65_535

_U8 = 0xFF
_U16 = 0xFFFF
_U32 = 0xFFFF_FFFF
_MIB = 1 << 20
_MAX_WINDOW = 1 << 31  # the largest power of two in MsQuic's uint32 window fields
_MIN_MTU = 1248  # MsQuic's lowest allowed MinimumMtu (QUIC_DPLPMUTD_MIN_MTU, msquic-facts §2)
_IPV4_UDP_HEADER_BYTES = 20 + 8
_DEFAULT_MAX_BYTES_PER_KEY = 274_877_906_944  # MsQuic's default and its upper bound


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting a connection reads; defaults are MsQuic's (msquic-facts §2).

    Construct with keyword arguments, derive variants with :meth:`merge`.  Invalid values raise
    ValueError naming the field and its allowed range.
    """

    # -- timeouts and timers --------------------------------------------------------------------
    idle_timeout_ms: int = 30_000  # 0 disables the idle timeout
    handshake_idle_timeout_ms: int = 10_000
    disconnect_timeout_ms: int = 16_000  # give up on a path whose packets go unacknowledged
    keep_alive_interval_ms: int = 0  # 0: no keep-alive PINGs
    send_idle_timeout_ms: int = 1_000  # congestion control restarts after this much send idle
    dest_cid_update_idle_timeout_ms: int = 20_000  # rotate the destination CID after idle
    initial_rtt_ms: int = 333
    max_ack_delay_ms: int = 25
    ack_delay_exponent: int = 3
    # -- flow control (bytes) -------------------------------------------------------------------
    stream_recv_window_default: int = 65_536
    stream_recv_window_bidi_local: int | None = None  # None: stream_recv_window_default
    stream_recv_window_bidi_remote: int | None = None
    stream_recv_window_unidi: int | None = None
    stream_recv_window_max: int = 16 * _MIB  # auto-tuning cap (ours)
    stream_recv_buffer_default: int = 4_096
    conn_flow_control_window: int = 16_777_216
    conn_flow_control_window_max: int = 64 * _MIB  # auto-tuning cap (ours)
    # -- streams --------------------------------------------------------------------------------
    peer_bidi_stream_count: int = 0  # MsQuic's default: the peer may open none
    peer_unidi_stream_count: int = 0
    send_buffering_enabled: bool = True
    # -- congestion control and recovery --------------------------------------------------------
    congestion_control_algorithm: CongestionControlAlgorithm = "cubic"
    initial_window_packets: int = 10
    pacing_enabled: bool = True
    hystart_enabled: bool = False
    ecn_enabled: bool = False
    max_ack_ranges: int = 32
    # -- path MTU (IP-level bytes, as MsQuic counts them) ---------------------------------------
    minimum_mtu: int = 1288
    maximum_mtu: int = 1500
    max_udp_payload_size: int | None = None  # None: maximum_mtu - 28
    mtu_discovery_search_complete_timeout_us: int = 600_000_000
    mtu_discovery_missing_probe_count: int = 3
    # -- connection IDs and migration -----------------------------------------------------------
    active_connection_id_limit: int = 4  # MsQuic's value (msquic-facts §3)
    local_cid_length: int = 8
    migration_enabled: bool = True
    # -- extensions -----------------------------------------------------------------------------
    datagram_receive_enabled: bool = False
    grease_quic_bit_enabled: bool = False
    version_negotiation_ext_enabled: bool = False
    # -- TLS and keys ---------------------------------------------------------------------------
    max_crypto_buffer_bytes: int = 65_536
    tls_client_max_send_buffer: int = 4_096
    tls_server_max_send_buffer: int = 8_192
    max_bytes_per_key: int = _DEFAULT_MAX_BYTES_PER_KEY
    server_resumption_level: ServerResumptionLevel = "no_resume"
    # -- execution and the binding's stateless work ---------------------------------------------
    max_worker_queue_delay_us: int = 250_000
    max_operations_per_drain: int = 16
    max_stateless_operations: int = 16
    max_binding_stateless_operations: int = 100
    stateless_operation_expiration_ms: int = 100

    def __post_init__(self) -> None:
        for rule in _INT_RULES:
            rule.check(getattr(self, rule.name))
        for name in _BOOL_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be a bool, got {type(value).__name__}")
        _check_choice(
            "congestion_control_algorithm",
            self.congestion_control_algorithm,
            _CONGESTION_CONTROL_ALGORITHMS,
        )
        _check_choice(
            "server_resumption_level", self.server_resumption_level, _SERVER_RESUMPTION_LEVELS
        )
        self._check_cross_rules()

    def _check_cross_rules(self) -> None:
        if self.minimum_mtu > self.maximum_mtu:  # MsQuic: MinimumMtu <= MaximumMtu
            raise ValueError(
                f"minimum_mtu ({self.minimum_mtu}) must not exceed maximum_mtu ({self.maximum_mtu})"
            )
        for name in _STREAM_WINDOW_FIELDS:
            window = getattr(self, name)
            if window is not None and window > self.stream_recv_window_max:
                raise ValueError(
                    f"{name} ({window}) must not exceed stream_recv_window_max "
                    f"({self.stream_recv_window_max})"
                )
        if self.conn_flow_control_window > self.conn_flow_control_window_max:
            raise ValueError(
                f"conn_flow_control_window ({self.conn_flow_control_window}) must not exceed "
                f"conn_flow_control_window_max ({self.conn_flow_control_window_max})"
            )

    # -- derived values -------------------------------------------------------------------------

    def stream_recv_window(self, *, bidirectional: bool, locally_initiated: bool) -> int:
        """The initial receive window in bytes for a stream of this kind.

        A unidirectional stream we receive on is always peer-initiated, so ``locally_initiated``
        only matters for bidirectional streams.
        """
        if not bidirectional:
            override = self.stream_recv_window_unidi
        elif locally_initiated:
            override = self.stream_recv_window_bidi_local
        else:
            override = self.stream_recv_window_bidi_remote
        return self.stream_recv_window_default if override is None else override

    @property
    def effective_max_udp_payload_size(self) -> int:
        """The max_udp_payload_size we advertise (RFC 9000 §18.2), in bytes."""
        if self.max_udp_payload_size is not None:
            return self.max_udp_payload_size
        return self.maximum_mtu - _IPV4_UDP_HEADER_BYTES

    @property
    def idle_timeout_us(self) -> int:
        return self.idle_timeout_ms * 1000

    @property
    def handshake_idle_timeout_us(self) -> int:
        return self.handshake_idle_timeout_ms * 1000

    @property
    def disconnect_timeout_us(self) -> int:
        return self.disconnect_timeout_ms * 1000

    @property
    def keep_alive_interval_us(self) -> int:
        return self.keep_alive_interval_ms * 1000

    @property
    def send_idle_timeout_us(self) -> int:
        return self.send_idle_timeout_ms * 1000

    @property
    def initial_rtt_us(self) -> int:
        return self.initial_rtt_ms * 1000

    @property
    def max_ack_delay_us(self) -> int:
        return self.max_ack_delay_ms * 1000

    # -- operations -----------------------------------------------------------------------------

    def merge(self, **overrides: Any) -> Settings:
        """A copy with ``overrides`` applied and validated; unknown names raise ValueError."""
        unknown = sorted(set(overrides) - _FIELD_NAMES)
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
        return replace(self, **overrides)

    def transport_parameters(
        self,
        *,
        initial_source_connection_id: bytes,
        original_destination_connection_id: bytes | None = None,
        retry_source_connection_id: bytes | None = None,
        stateless_reset_token: bytes | None = None,
        is_server: bool,
    ) -> TransportParameters:
        """Our transport parameters built from these settings (RFC 9000 §18.2).

        The stream windows map by who opens the stream (RFC 9000 §18.2):
        ``initial_max_stream_data_bidi_local`` is our window on bidirectional streams *we* open,
        ``..._bidi_remote`` on those the *peer* opens, ``..._uni`` on the peer's unidirectional
        streams.  A server must give the original destination connection ID (RFC 9000 §7.3);
        a client must not give any server-only value (RFC 9000 §18.2).  ValueError otherwise.
        """
        _check_role_fields(
            is_server=is_server,
            original_destination_connection_id=original_destination_connection_id,
            retry_source_connection_id=retry_source_connection_id,
            stateless_reset_token=stateless_reset_token,
        )
        return TransportParameters(
            original_destination_connection_id=original_destination_connection_id,
            stateless_reset_token=stateless_reset_token,
            initial_source_connection_id=initial_source_connection_id,
            retry_source_connection_id=retry_source_connection_id,
            **_settings_parameters(self),
        )


@functools.lru_cache(maxsize=64)
def _settings_parameters(settings: Settings) -> dict[str, Any]:
    """The transport parameters that depend on the settings alone, computed once per value of
    ``settings`` (a connection's own CIDs and token are added by the caller).  Callers must not
    change the returned dict."""
    return {
        "max_idle_timeout_ms": settings.idle_timeout_ms,
        "max_udp_payload_size": settings.effective_max_udp_payload_size,
        "initial_max_data": settings.conn_flow_control_window,
        "initial_max_stream_data_bidi_local": settings.stream_recv_window(
            bidirectional=True, locally_initiated=True
        ),
        "initial_max_stream_data_bidi_remote": settings.stream_recv_window(
            bidirectional=True, locally_initiated=False
        ),
        "initial_max_stream_data_uni": settings.stream_recv_window(
            bidirectional=False, locally_initiated=False
        ),
        "initial_max_streams_bidi": settings.peer_bidi_stream_count,
        "initial_max_streams_uni": settings.peer_unidi_stream_count,
        "ack_delay_exponent": settings.ack_delay_exponent,
        "max_ack_delay_ms": settings.max_ack_delay_ms,
        # MsQuic: MigrationEnabled FALSE sends disable_active_migration (msquic-facts §2)
        "disable_active_migration": not settings.migration_enabled,
        "active_connection_id_limit": settings.active_connection_id_limit,
        # RFC 9221 §3: advertising a non-zero size enables receiving DATAGRAM frames
        "max_datagram_frame_size": (
            DATAGRAM_MAX_FRAME_SIZE if settings.datagram_receive_enabled else None
        ),
        "grease_quic_bit": settings.grease_quic_bit_enabled,  # RFC 9287 §3
    }


def _check_role_fields(
    *,
    is_server: bool,
    original_destination_connection_id: bytes | None,
    retry_source_connection_id: bytes | None,
    stateless_reset_token: bytes | None,
) -> None:
    if is_server:
        if original_destination_connection_id is None:  # RFC 9000 §7.3: a server MUST send it
            raise ValueError(
                "a server's transport parameters need original_destination_connection_id"
            )
        return
    given = [
        name
        for name, value in (
            ("original_destination_connection_id", original_destination_connection_id),
            ("retry_source_connection_id", retry_source_connection_id),
            ("stateless_reset_token", stateless_reset_token),
        )
        if value is not None
    ]
    if given:  # RFC 9000 §18.2: a client MUST NOT send server-only parameters
        raise ValueError(f"a client cannot send server-only parameter(s): {', '.join(given)}")


def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


@dataclass(frozen=True, slots=True)
class _IntRule:
    """The allowed range of one integer setting; ``optional`` admits None."""

    name: str
    low: int
    high: int
    power_of_two: bool = False
    optional: bool = False

    def check(self, value: object) -> None:
        if value is None and self.optional:
            return
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{self.name} must be an integer, got {type(value).__name__}")
        if not self.low <= value <= self.high:
            raise ValueError(f"{self.name} must be in {self.low}..{self.high}, got {value}")
        if self.power_of_two and value & (value - 1):
            raise ValueError(f"{self.name} must be a power of two, got {value}")


def _window_rule(name: str, *, optional: bool = False) -> _IntRule:
    # msquic-facts §2: stream receive windows are powers of two
    return _IntRule(name, 1, _MAX_WINDOW, power_of_two=True, optional=optional)


_INT_RULES: tuple[_IntRule, ...] = (
    _IntRule("idle_timeout_ms", 0, VARINT_MAX),  # MsQuic: <= QUIC_VAR_INT_MAX
    _IntRule("handshake_idle_timeout_ms", 0, VARINT_MAX),
    _IntRule("disconnect_timeout_ms", 1, 600_000),  # MsQuic: max 600,000 (msquic-facts §2)
    _IntRule("keep_alive_interval_ms", 0, _U32),
    _IntRule("send_idle_timeout_ms", 0, _U32),
    _IntRule("dest_cid_update_idle_timeout_ms", 0, _U32),
    _IntRule("initial_rtt_ms", 1, _U32),
    _IntRule("max_ack_delay_ms", 0, (1 << 14) - 1),  # RFC 9000 §18.2: below 2^14
    _IntRule("ack_delay_exponent", 0, 20),  # RFC 9000 §18.2: above 20 is invalid
    _window_rule("stream_recv_window_default"),
    _window_rule("stream_recv_window_bidi_local", optional=True),
    _window_rule("stream_recv_window_bidi_remote", optional=True),
    _window_rule("stream_recv_window_unidi", optional=True),
    _window_rule("stream_recv_window_max"),
    _IntRule("stream_recv_buffer_default", 4_096, _U32),  # MsQuic: at least its 4096 default
    _IntRule("conn_flow_control_window", 1, _U32),
    _IntRule("conn_flow_control_window_max", 1, VARINT_MAX),  # RFC 9000 §19.9: a varint
    _IntRule("peer_bidi_stream_count", 0, _U16),  # MsQuic: uint16 (msquic-facts §2)
    _IntRule("peer_unidi_stream_count", 0, _U16),
    _IntRule("initial_window_packets", 2, _U32),  # RFC 9002 §7.2: minimum window is 2 packets
    _IntRule("max_ack_ranges", 1, 1024),
    _IntRule("minimum_mtu", _MIN_MTU, _U16),
    _IntRule("maximum_mtu", _MIN_MTU, _U16),
    # RFC 9000 §18.2: below 1200 is invalid; 65527 is the largest UDP payload
    _IntRule("max_udp_payload_size", 1200, 65_527, optional=True),
    _IntRule("mtu_discovery_search_complete_timeout_us", 0, VARINT_MAX),
    _IntRule("mtu_discovery_missing_probe_count", 1, _U8),
    # RFC 9000 §18.2: at least 2; the upper bound is ours and bounds the peer CIDs we keep
    _IntRule("active_connection_id_limit", 2, 64),
    # RFC 9000 §17.2: at most 20; zero-length CIDs cannot carry stateless reset tokens (§10.3.2)
    _IntRule("local_cid_length", 1, 20),
    _IntRule("max_crypto_buffer_bytes", 4_096, _U32),  # RFC 9001 §4.1.3: at least 4096 bytes
    _IntRule("tls_client_max_send_buffer", 0, _U32),
    _IntRule("tls_server_max_send_buffer", 0, _U32),
    _IntRule("max_bytes_per_key", 1, _DEFAULT_MAX_BYTES_PER_KEY),  # MsQuic: above default fails
    _IntRule("max_worker_queue_delay_us", 0, _U32),
    _IntRule("max_operations_per_drain", 1, _U8),
    _IntRule("max_stateless_operations", 1, _U32),
    _IntRule("max_binding_stateless_operations", 1, _U32),
    _IntRule("stateless_operation_expiration_ms", 0, _U32),
)

_STREAM_WINDOW_FIELDS = (
    "stream_recv_window_default",
    "stream_recv_window_bidi_local",
    "stream_recv_window_bidi_remote",
    "stream_recv_window_unidi",
)
_BOOL_FIELDS = (
    "send_buffering_enabled",
    "pacing_enabled",
    "hystart_enabled",
    "ecn_enabled",
    "migration_enabled",
    "datagram_receive_enabled",
    "grease_quic_bit_enabled",
    "version_negotiation_ext_enabled",
)
_FIELD_NAMES = frozenset(f.name for f in fields(Settings))
assert {r.name for r in _INT_RULES} | set(_BOOL_FIELDS) | {
    "congestion_control_algorithm",
    "server_resumption_level",
} == _FIELD_NAMES
