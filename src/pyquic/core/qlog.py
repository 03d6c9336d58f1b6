"""qlog: structured connection events for a user-supplied sink (draft-ietf-quic-qlog-*).

A connection that is given a :data:`QlogSink` owns a :class:`QlogTrace` and calls it as things
happen; the trace turns each call into one qlog event (draft-ietf-quic-qlog-main-schema §7), a
plain ``dict`` of JSON-ready values, and hands it to the sink.  The core does no I/O: writing a
JSON-SEQ file is the platform's job (:mod:`pyquic.platform.qlog_file`), and a test can collect
events in a list.

Which draft: the event names, fields and data types follow draft-ietf-quic-qlog-quic-events as
revised after -12 (hence the schema URI :data:`QUIC_EVENT_SCHEMA`, ``...:quic-13``, as the
draft's "Draft Event Schema Identification" section requires), over the main schema revised after
-13.  Event names are ``namespace:type`` (main schema §8), e.g. ``quic:packet_sent`` and
``quic:recovery_metrics_updated`` (the event once called ``recovery:metrics_updated``).

Conventions: ``time`` is milliseconds (float) since the trace started, i.e. ``relative_to_epoch``
with a monotonic clock whose epoch is the trace start (main schema §7.1); RTTs and delays in event
data are milliseconds as the draft defines them; byte strings (connection IDs, tokens) are
lowercase hex (main schema §1.2).  Frames serialise to the draft's ``$QuicFrame`` forms (quic
events §8.13); ACK_FREQUENCY and IMMEDIATE_ACK, which the draft does not define, use the frame
names of draft-ietf-quic-ack-frequency.  Application error codes are always logged as
``"unknown"`` with the numeric ``error_code`` since the transport knows no application's names.

Design: serialisers are pure functions (:func:`frame_to_qlog`, :func:`transport_parameters_to_qlog`,
:class:`QlogPacketHeader`), and the trace keeps just enough state to log only the recovery
metrics that changed, as the draft asks (quic events §7.2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from pyquic.core.errors import CRYPTO_ERROR_BASE, TransportErrorCode
from pyquic.core.frames import (
    AckFrame,
    AckFrequencyFrame,
    ConnectionCloseFrame,
    CryptoFrame,
    DataBlockedFrame,
    DatagramFrame,
    Frame,
    HandshakeDoneFrame,
    ImmediateAckFrame,
    MaxDataFrame,
    MaxStreamDataFrame,
    MaxStreamsFrame,
    NewConnectionIdFrame,
    NewTokenFrame,
    PaddingFrame,
    PathChallengeFrame,
    PathResponseFrame,
    PingFrame,
    ResetStreamFrame,
    RetireConnectionIdFrame,
    StopSendingFrame,
    StreamDataBlockedFrame,
    StreamFrame,
    StreamsBlockedFrame,
)
from pyquic.core.levels import PacketSpace
from pyquic.core.transport_params import PreferredAddress, TransportParameters
from pyquic.core.version import PacketType

__all__ = [
    "QLOG_FILE_SCHEMA_SEQUENTIAL",
    "QLOG_JSON_SEQ_MEDIA_TYPE",
    "QUIC_EVENT_SCHEMA",
    "Initiator",
    "QlogEvent",
    "QlogPacketHeader",
    "QlogSink",
    "QlogTrace",
    "VantagePointType",
    "error_to_qlog",
    "frame_to_qlog",
    "packet_type_name",
    "qlog_seq_header",
    "transport_parameters_to_qlog",
]

QlogEvent: TypeAlias = dict[str, object]
QlogSink: TypeAlias = Callable[[QlogEvent], None]
Initiator = Literal["local", "remote"]
VantagePointType = Literal["client", "server", "network", "unknown"]

QLOG_FILE_SCHEMA_SEQUENTIAL = "urn:ietf:params:qlog:file:sequential"  # main schema §5
QLOG_JSON_SEQ_MEDIA_TYPE = "application/qlog+json-seq"  # main schema §11.2
# quic events §2.1: a draft implementation appends "-" and the draft number to the URI
QUIC_EVENT_SCHEMA = "urn:ietf:params:qlog:events:quic-13"

_PACKET_TYPE_NAMES = {  # quic events §8.6 PacketType
    PacketType.INITIAL: "initial",
    PacketType.HANDSHAKE: "handshake",
    PacketType.ZERO_RTT: "0RTT",
    PacketType.ONE_RTT: "1RTT",
    PacketType.RETRY: "retry",
    PacketType.VERSION_NEGOTIATION: "version_negotiation",
}
_EXTRA_PACKET_TYPES = frozenset({"stateless_reset", "unknown"})
_SPACE_NAMES = {  # quic events §8.7 PacketNumberSpace
    PacketSpace.INITIAL: "initial",
    PacketSpace.HANDSHAKE: "handshake",
    PacketSpace.APPLICATION: "application_data",
}
# quic events §8.13.24 TransportError: every RFC 9000 code has a name; others are "unknown"
_TRANSPORT_ERROR_NAMES = {
    int(code): code.name.lower()
    for code in TransportErrorCode
    if code <= TransportErrorCode.NO_VIABLE_PATH
}


def _hex(data: bytes) -> str:
    return data.hex()


def _ms(microseconds: int) -> float:
    return microseconds / 1000.0


def packet_type_name(packet_type: PacketType | str) -> str:
    """The qlog ``$PacketType`` of a packet type (quic events §8.6)."""
    if isinstance(packet_type, PacketType):
        return _PACKET_TYPE_NAMES[packet_type]
    if packet_type not in _EXTRA_PACKET_TYPES:
        raise ValueError(f"unknown qlog packet type {packet_type!r}")
    return packet_type


@dataclass(frozen=True, slots=True)
class QlogPacketHeader:
    """The header fields of a packet event (quic events §8.8 PacketHeader).

    ``packet_type`` is a :class:`PacketType`, or ``"stateless_reset"`` / ``"unknown"``.
    ``length`` is a long header's Length field (packet number plus payload).  Fields left None
    are omitted.
    """

    packet_type: PacketType | str
    packet_number: int | None = None
    version: int | None = None
    dcid: bytes | None = None
    scid: bytes | None = None
    token: bytes | None = None
    key_phase_bit: bool | None = None
    spin_bit: bool | None = None
    packet_number_length: int | None = None
    length: int | None = None

    def to_qlog(self) -> dict[str, object]:
        out: dict[str, object] = {"packet_type": packet_type_name(self.packet_type)}
        if self.packet_number is not None:
            out["packet_number"] = self.packet_number
        if self.packet_number_length is not None:
            out["packet_number_length"] = self.packet_number_length
        if self.key_phase_bit is not None:
            out["key_phase_bit"] = self.key_phase_bit
        if self.spin_bit is not None:
            out["spin_bit"] = self.spin_bit
        if self.token is not None:
            out["token"] = {"raw": {"length": len(self.token), "data": _hex(self.token)}}
        if self.length is not None:
            out["length"] = self.length
        if self.version is not None:
            out["version"] = f"{self.version:08x}"  # QuicVersion is a hexstring (§8.1)
        if self.scid is not None:
            out["scil"] = len(self.scid)
            out["scid"] = _hex(self.scid)
        if self.dcid is not None:
            out["dcil"] = len(self.dcid)
            out["dcid"] = _hex(self.dcid)
        return out


def error_to_qlog(error_code: int, *, application: bool) -> dict[str, object]:
    """The error fields of connection_closed and CONNECTION_CLOSE (quic events §8.13.24-26).

    A transport code becomes its ``$TransportError`` name, a TLS alert ``crypto_error_0x1XX``,
    anything else ``"unknown"`` with the numeric ``error_code``.
    """
    if application:
        return {"error": "unknown", "error_code": error_code}
    name = _TRANSPORT_ERROR_NAMES.get(error_code)
    if name is not None:
        return {"error": name}
    if CRYPTO_ERROR_BASE <= error_code <= CRYPTO_ERROR_BASE + 0xFF:  # quic events §8.13.26
        return {"error": f"crypto_error_0x{error_code:03x}"}
    return {"error": "unknown", "error_code": error_code}


# ---------------------------------------------------------------------------------------------
# Frames (quic events §8.13)

_FrameJson = dict[str, object]

# Frames whose qlog form only renames fields: frame class -> (frame_type, ((qlog key, attribute),))
_RENAMED_FRAMES: dict[type, tuple[str, tuple[tuple[str, str], ...]]] = {
    PingFrame: ("ping", ()),
    MaxDataFrame: ("max_data", (("maximum", "maximum_data"),)),
    MaxStreamDataFrame: (
        "max_stream_data",
        (("stream_id", "stream_id"), ("maximum", "maximum_stream_data")),
    ),
    DataBlockedFrame: ("data_blocked", (("limit", "maximum_data"),)),
    StreamDataBlockedFrame: (
        "stream_data_blocked",
        (("stream_id", "stream_id"), ("limit", "maximum_stream_data")),
    ),
    RetireConnectionIdFrame: ("retire_connection_id", (("sequence_number", "sequence_number"),)),
    HandshakeDoneFrame: ("handshake_done", ()),
    ImmediateAckFrame: ("immediate_ack", ()),  # draft-ietf-quic-ack-frequency §5
}


def _padding(frame: PaddingFrame, _exp: int) -> _FrameJson:
    # §8.13.1: one PaddingFrame whose raw.payload_length counts the PADDING bytes
    return {
        "frame_type": "padding",
        "raw": {"length": frame.length, "payload_length": frame.length},
    }


def _ack(frame: AckFrame, exponent: int) -> _FrameJson:
    # §8.13.3: ack_delay in ms; ranges [from, to] or [n] when from == to
    ranges = [
        [smallest] if smallest == largest else [smallest, largest]
        for smallest, largest in reversed(frame.ranges)
    ]
    out: _FrameJson = {
        "frame_type": "ack",
        "ack_delay": _ms(frame.ack_delay << exponent),
        "acked_ranges": ranges,
    }
    if frame.ecn is not None:
        out.update(ect1=frame.ecn.ect1, ect0=frame.ecn.ect0, ce=frame.ecn.ce)
    return out


def _stream_abort(frame: ResetStreamFrame | StopSendingFrame, _exp: int) -> _FrameJson:
    # §8.13.4, §8.13.6: application error codes have no names the transport knows
    out: _FrameJson = {
        "frame_type": "reset_stream" if isinstance(frame, ResetStreamFrame) else "stop_sending",
        "stream_id": frame.stream_id,
        "error": "unknown",
        "error_code": frame.error_code,
    }
    if isinstance(frame, ResetStreamFrame):
        out["final_size"] = frame.final_size
    return out


def _crypto(frame: CryptoFrame, _exp: int) -> _FrameJson:
    # §8.13.7: the Length field MUST be logged in raw.length
    return {"frame_type": "crypto", "offset": frame.offset, "raw": {"length": len(frame.data)}}


def _new_token(frame: NewTokenFrame, _exp: int) -> _FrameJson:
    token = {
        "type": "resumption",  # §8.9: NEW_TOKEN tokens serve future connections
        "raw": {"length": len(frame.token), "data": _hex(frame.token)},
    }
    return {"frame_type": "new_token", "token": token}


def _stream(frame: StreamFrame, _exp: int) -> _FrameJson:
    # §8.13.9: the Length is logged in raw.length (computed when the frame omits it)
    return {
        "frame_type": "stream",
        "stream_id": frame.stream_id,
        "offset": frame.offset,
        "fin": frame.fin,
        "raw": {"length": len(frame.data)},
    }


def _stream_count(frame: MaxStreamsFrame | StreamsBlockedFrame, _exp: int) -> _FrameJson:
    # §8.13.12, §8.13.15
    if isinstance(frame, MaxStreamsFrame):
        frame_type, key = "max_streams", "maximum"
    else:
        frame_type, key = "streams_blocked", "limit"
    return {
        "frame_type": frame_type,
        "stream_type": "bidirectional" if frame.bidirectional else "unidirectional",
        key: frame.maximum_streams,
    }


def _new_connection_id(frame: NewConnectionIdFrame, _exp: int) -> _FrameJson:
    return {
        "frame_type": "new_connection_id",
        "sequence_number": frame.sequence_number,
        "retire_prior_to": frame.retire_prior_to,
        "connection_id_length": len(frame.connection_id),
        "connection_id": _hex(frame.connection_id),
        "stateless_reset_token": _hex(frame.stateless_reset_token),
    }


def _path_data(frame: PathChallengeFrame | PathResponseFrame, _exp: int) -> _FrameJson:
    name = "path_challenge" if isinstance(frame, PathChallengeFrame) else "path_response"
    return {"frame_type": name, "data": _hex(frame.data)}


def _connection_close(frame: ConnectionCloseFrame, _exp: int) -> _FrameJson:
    # §8.13.20: the reason as text when it is UTF-8, else as reason_bytes
    out: _FrameJson = {
        "frame_type": "connection_close",
        "error_space": "application" if frame.application else "transport",
    }
    out.update(error_to_qlog(frame.error_code, application=frame.application))
    try:
        out["reason"] = frame.reason.decode("utf-8")
    except UnicodeDecodeError:
        out["reason_bytes"] = _hex(frame.reason)
    if not frame.application:
        out["trigger_frame_type"] = frame.frame_type
    return out


def _datagram(frame: DatagramFrame, _exp: int) -> _FrameJson:
    return {"frame_type": "datagram", "raw": {"length": len(frame.data)}}  # §8.13.23


def _ack_frequency(frame: AckFrequencyFrame, _exp: int) -> _FrameJson:
    return {  # draft-ietf-quic-ack-frequency §4; not in the qlog draft
        "frame_type": "ack_frequency",
        "sequence_number": frame.sequence_number,
        "ack_eliciting_threshold": frame.ack_eliciting_threshold,
        "requested_max_ack_delay": _ms(frame.requested_max_ack_delay_us),
        "reordering_threshold": frame.reordering_threshold,
    }


_FRAME_SERIALISERS: dict[type, Callable[[Any, int], _FrameJson]] = {
    PaddingFrame: _padding,
    AckFrame: _ack,
    ResetStreamFrame: _stream_abort,
    StopSendingFrame: _stream_abort,
    CryptoFrame: _crypto,
    NewTokenFrame: _new_token,
    StreamFrame: _stream,
    MaxStreamsFrame: _stream_count,
    StreamsBlockedFrame: _stream_count,
    NewConnectionIdFrame: _new_connection_id,
    PathChallengeFrame: _path_data,
    PathResponseFrame: _path_data,
    ConnectionCloseFrame: _connection_close,
    DatagramFrame: _datagram,
    AckFrequencyFrame: _ack_frequency,
}


def frame_to_qlog(frame: Frame, *, ack_delay_exponent: int = 3) -> dict[str, object]:
    """The qlog ``$QuicFrame`` of ``frame`` (quic events §8.13).

    ``ack_delay_exponent`` is the sender's (RFC 9000 §18.2): ours for frames we send, the peer's
    for frames we receive; it scales an ACK's raw ack_delay to milliseconds.
    """
    renamed = _RENAMED_FRAMES.get(type(frame))
    if renamed is not None:
        frame_type, renames = renamed
        out: dict[str, object] = {"frame_type": frame_type}
        for key, attribute in renames:
            out[key] = getattr(frame, attribute)
        return out
    return _FRAME_SERIALISERS[type(frame)](frame, ack_delay_exponent)


# ---------------------------------------------------------------------------------------------
# Transport parameters (quic events §5.3 parameters_set)

_CID_PARAMETERS = (
    "original_destination_connection_id",
    "initial_source_connection_id",
    "retry_source_connection_id",
)
_INT_PARAMETERS = (
    ("max_udp_payload_size", "max_udp_payload_size"),
    ("ack_delay_exponent", "ack_delay_exponent"),
    ("active_connection_id_limit", "active_connection_id_limit"),
    ("initial_max_data", "initial_max_data"),
    ("initial_max_stream_data_bidi_local", "initial_max_stream_data_bidi_local"),
    ("initial_max_stream_data_bidi_remote", "initial_max_stream_data_bidi_remote"),
    ("initial_max_stream_data_uni", "initial_max_stream_data_uni"),
    ("initial_max_streams_bidi", "initial_max_streams_bidi"),
    ("initial_max_streams_uni", "initial_max_streams_uni"),
    ("max_idle_timeout", "max_idle_timeout_ms"),
    ("max_ack_delay", "max_ack_delay_ms"),
)


def _preferred_address_to_qlog(address: PreferredAddress) -> dict[str, object]:
    out: dict[str, object] = {}
    if address.ipv4_address is not None:
        out["ip_v4"] = str(address.ipv4_address)
        out["port_v4"] = address.ipv4_port
    if address.ipv6_address is not None:
        out["ip_v6"] = str(address.ipv6_address)
        out["port_v6"] = address.ipv6_port
    out["connection_id"] = _hex(address.connection_id)
    out["stateless_reset_token"] = _hex(address.stateless_reset_token)
    return out


def transport_parameters_to_qlog(params: TransportParameters) -> dict[str, object]:
    """The transport parameter fields of a parameters_set event (quic events §5.3).

    Absent optional parameters are omitted; min_ack_delay (an extension the draft does not
    list) is logged in milliseconds like max_ack_delay.
    """
    out: dict[str, object] = {}
    for name in _CID_PARAMETERS:
        value = getattr(params, name)
        if value is not None:
            out[name] = _hex(value)
    if params.stateless_reset_token is not None:
        out["stateless_reset_token"] = _hex(params.stateless_reset_token)
    out["disable_active_migration"] = params.disable_active_migration
    for qlog_name, field_name in _INT_PARAMETERS:
        out[qlog_name] = getattr(params, field_name)
    if params.preferred_address is not None:
        out["preferred_address"] = _preferred_address_to_qlog(params.preferred_address)
    if params.max_datagram_frame_size is not None:
        out["max_datagram_frame_size"] = params.max_datagram_frame_size
    out["grease_quic_bit"] = params.grease_quic_bit
    if params.min_ack_delay_us is not None:
        out["min_ack_delay"] = _ms(params.min_ack_delay_us)
    return out


def qlog_seq_header(
    *,
    vantage_point: VantagePointType,
    group_id: str | None = None,
    title: str | None = None,
    vantage_point_name: str | None = None,
    wall_clock_time: str | None = None,
) -> dict[str, object]:
    """The first record of a JSON-SEQ qlog file: a QlogFileSeq (main schema §5).

    Event times are relative to the trace start on a monotonic clock, so the reference time has
    the epoch "unknown" (main schema §7.1); ``wall_clock_time`` (RFC 3339) says roughly when
    logging began.
    """
    reference_time: dict[str, object] = {"clock_type": "monotonic", "epoch": "unknown"}
    if wall_clock_time is not None:
        reference_time["wall_clock_time"] = wall_clock_time
    common_fields: dict[str, object] = {
        "time_format": "relative_to_epoch",
        "reference_time": reference_time,
    }
    if group_id is not None:
        common_fields["group_id"] = group_id
    point: dict[str, object] = {"type": vantage_point}
    if vantage_point_name is not None:
        point["name"] = vantage_point_name
    header: dict[str, object] = {
        "file_schema": QLOG_FILE_SCHEMA_SEQUENTIAL,
        "serialization_format": QLOG_JSON_SEQ_MEDIA_TYPE,
    }
    if title is not None:
        header["title"] = title
    header["trace"] = {
        "common_fields": common_fields,
        "vantage_point": point,
        "event_schemas": [QUIC_EVENT_SCHEMA],
    }
    return header


# ---------------------------------------------------------------------------------------------
# The trace

_MetricValue = int | float


class QlogTrace:
    """One connection's qlog events, handed to ``sink`` as they happen.

    ``now_us`` is the connection's time when the trace starts (kept as ``start_us``): event
    times are milliseconds since then.  ``vantage_point`` ("client" or "server") only feeds
    :meth:`header`.  ``group_id`` (for instance the original destination connection ID
    in hex, quic events §1.1) is added to every event when given, for sinks shared by many
    connections.  ``local_ack_delay_exponent`` and ``peer_ack_delay_exponent`` scale the ACK
    delays of sent and received ACK frames; the connection updates the peer's once it has the
    peer's transport parameters.
    """

    def __init__(
        self,
        sink: QlogSink,
        *,
        now_us: int,
        vantage_point: VantagePointType = "unknown",
        group_id: str | None = None,
        local_ack_delay_exponent: int = 3,
        peer_ack_delay_exponent: int = 3,
    ) -> None:
        self._sink = sink
        self.start_us = now_us
        self.vantage_point: VantagePointType = vantage_point
        self.group_id = group_id
        self.local_ack_delay_exponent = local_ack_delay_exponent
        self.peer_ack_delay_exponent = peer_ack_delay_exponent
        self._last_metrics: dict[str, _MetricValue] = {}

    def header(self, *, title: str | None = None) -> dict[str, object]:
        """The JSON-SEQ file header for this trace (see :func:`qlog_seq_header`)."""
        return qlog_seq_header(
            vantage_point=self.vantage_point, group_id=self.group_id, title=title
        )

    def event(self, now_us: int, name: str, data: dict[str, object]) -> None:
        """Emit one event named ``namespace:type`` with ``data`` (main schema §7)."""
        record: QlogEvent = {"time": _ms(now_us - self.start_us), "name": name, "data": data}
        if self.group_id is not None:
            record["group_id"] = self.group_id
        self._sink(record)

    # -- packets (quic events §5.5-§5.9) --------------------------------------------------------

    def packet_sent(
        self,
        now_us: int,
        header: QlogPacketHeader,
        frames: Sequence[Frame],
        *,
        raw_length: int,
        trigger: str | None = None,
        is_mtu_probe: bool = False,
    ) -> None:
        """quic:packet_sent; ``raw_length`` is the packet's size in bytes, AEAD tag included."""
        data = self._packet_data(header, frames, raw_length, self.local_ack_delay_exponent)
        if is_mtu_probe:
            data["is_mtu_probe_packet"] = True
        if trigger is not None:
            data["trigger"] = trigger
        self.event(now_us, "quic:packet_sent", data)

    def packet_received(
        self,
        now_us: int,
        header: QlogPacketHeader,
        frames: Sequence[Frame],
        *,
        raw_length: int,
        trigger: str | None = None,
    ) -> None:
        """quic:packet_received; ``trigger`` "keys_available" for a packet buffered earlier."""
        data = self._packet_data(header, frames, raw_length, self.peer_ack_delay_exponent)
        if trigger is not None:
            data["trigger"] = trigger
        self.event(now_us, "quic:packet_received", data)

    def packet_dropped(
        self,
        now_us: int,
        *,
        trigger: str,
        header: QlogPacketHeader | None = None,
        raw_length: int | None = None,
        details: dict[str, object] | None = None,
    ) -> None:
        """quic:packet_dropped; ``trigger`` is one of the draft's reasons (e.g. "duplicate",
        "decryption_failure", "key_unavailable", "invalid", "connection_unknown")."""
        data: dict[str, object] = {"trigger": trigger}
        if header is not None:
            data["header"] = header.to_qlog()
        if raw_length is not None:
            data["raw"] = {"length": raw_length}
        if details:
            data["details"] = details
        self.event(now_us, "quic:packet_dropped", data)

    def packet_lost(
        self,
        now_us: int,
        header: QlogPacketHeader,
        *,
        trigger: str | None = None,
        frames: Sequence[Frame] | None = None,
    ) -> None:
        """quic:packet_lost (quic events §7.4); ``trigger`` is "reordering_threshold",
        "time_threshold" or "pto_expired"."""
        data: dict[str, object] = {"header": header.to_qlog()}
        if frames is not None:
            data["frames"] = self._frames(frames, self.local_ack_delay_exponent)
        if trigger is not None:
            data["trigger"] = trigger
        self.event(now_us, "quic:packet_lost", data)

    def packets_lost(
        self, now_us: int, headers: Iterable[QlogPacketHeader], *, trigger: str | None = None
    ) -> None:
        """One quic:packet_lost per packet declared lost together."""
        for header in headers:
            self.packet_lost(now_us, header, trigger=trigger)

    def packets_acked(self, now_us: int, space: PacketSpace, packet_numbers: Sequence[int]) -> None:
        """quic:packets_acked: packets acknowledged for the first time (quic events §5.9)."""
        data: dict[str, object] = {
            "packet_number_space": _SPACE_NAMES[space],
            "packet_numbers": list(packet_numbers),
        }
        self.event(now_us, "quic:packets_acked", data)

    # -- recovery (quic events §7) --------------------------------------------------------------

    def metrics_updated(
        self,
        now_us: int,
        *,
        min_rtt_us: int | None = None,
        smoothed_rtt_us: int | None = None,
        latest_rtt_us: int | None = None,
        rtt_variance_us: int | None = None,
        pto_count: int | None = None,
        congestion_window: int | None = None,
        bytes_in_flight: int | None = None,
        ssthresh: int | None = None,
        packets_in_flight: int | None = None,
        pacing_rate_bps: int | None = None,
    ) -> None:
        """quic:recovery_metrics_updated with only the metrics that changed since the last one.

        Pass the current values (None: not known); nothing is emitted when none changed
        (quic events §7.2: log only actual updates).  RTTs are given in microseconds and logged
        in milliseconds; windows in bytes; the pacing rate in bits per second.
        """
        current: dict[str, _MetricValue | None] = {
            "min_rtt": None if min_rtt_us is None else _ms(min_rtt_us),
            "smoothed_rtt": None if smoothed_rtt_us is None else _ms(smoothed_rtt_us),
            "latest_rtt": None if latest_rtt_us is None else _ms(latest_rtt_us),
            "rtt_variance": None if rtt_variance_us is None else _ms(rtt_variance_us),
            "pto_count": pto_count,
            "congestion_window": congestion_window,
            "bytes_in_flight": bytes_in_flight,
            "ssthresh": ssthresh,
            "packets_in_flight": packets_in_flight,
            "pacing_rate": pacing_rate_bps,
        }
        changed: dict[str, object] = {}
        for name, value in current.items():
            if value is not None and self._last_metrics.get(name) != value:
                changed[name] = value
                self._last_metrics[name] = value
        if changed:
            self.event(now_us, "quic:recovery_metrics_updated", changed)

    def congestion_state_updated(
        self, now_us: int, old: str | None, new: str, *, trigger: str | None = None
    ) -> None:
        """quic:congestion_state_updated (quic events §7.3), e.g. "slow_start" -> "recovery"."""
        data: dict[str, object] = {"new": new}
        if old is not None:
            data["old"] = old
        if trigger is not None:
            data["trigger"] = trigger
        self.event(now_us, "quic:congestion_state_updated", data)

    # -- connectivity and transport (quic events §4, §5) ----------------------------------------

    def connection_state_updated(self, now_us: int, old: str | None, new: str) -> None:
        """quic:connection_state_updated (quic events §4.6): "attempted", "handshake_started",
        "handshake_complete", "handshake_confirmed", "closing", "draining", "closed", ..."""
        data: dict[str, object] = {"new": new}
        if old is not None:
            data["old"] = old
        self.event(now_us, "quic:connection_state_updated", data)

    def connection_id_updated(
        self, now_us: int, *, initiator: Initiator, old: bytes | None, new: bytes | None
    ) -> None:
        """quic:connection_id_updated (quic events §4.4): "remote" for the peer's new ID."""
        data: dict[str, object] = {"initiator": initiator}
        if old is not None:
            data["old"] = _hex(old)
        if new is not None:
            data["new"] = _hex(new)
        self.event(now_us, "quic:connection_id_updated", data)

    def parameters_set(
        self,
        now_us: int,
        params: TransportParameters,
        *,
        initiator: Initiator,
        tls_cipher: str | None = None,
        resumption_allowed: bool | None = None,
        early_data_enabled: bool | None = None,
    ) -> None:
        """quic:parameters_set for one side's transport parameters (quic events §5.3)."""
        data: dict[str, object] = {"initiator": initiator}
        if resumption_allowed is not None:
            data["resumption_allowed"] = resumption_allowed
        if early_data_enabled is not None:
            data["early_data_enabled"] = early_data_enabled
        if tls_cipher is not None:
            data["tls_cipher"] = tls_cipher
        data.update(transport_parameters_to_qlog(params))
        self.event(now_us, "quic:parameters_set", data)

    def alpn_information(
        self,
        now_us: int,
        *,
        chosen_alpn: bytes | None = None,
        client_alpns: Sequence[bytes] | None = None,
        server_alpns: Sequence[bytes] | None = None,
    ) -> None:
        """quic:alpn_information (quic events §5.2); each ALPN is logged as hex bytes."""
        data: dict[str, object] = {}
        if server_alpns is not None:
            data["server_alpns"] = [{"byte_value": _hex(a)} for a in server_alpns]
        if client_alpns is not None:
            data["client_alpns"] = [{"byte_value": _hex(a)} for a in client_alpns]
        if chosen_alpn is not None:
            data["chosen_alpn"] = {"byte_value": _hex(chosen_alpn)}
        self.event(now_us, "quic:alpn_information", data)

    def connection_closed(
        self,
        now_us: int,
        *,
        initiator: Initiator | None,
        error_code: int | None = None,
        application: bool = False,
        reason: str | None = None,
        trigger: str | None = None,
    ) -> None:
        """quic:connection_closed (quic events §4.3).

        ``trigger`` is one of "idle_timeout", "application", "error", "version_mismatch",
        "stateless_reset", "aborted", "unspecified".  ``error_code`` is a transport code unless
        ``application``.
        """
        data: dict[str, object] = {}
        if initiator is not None:
            data["initiator"] = initiator
        if error_code is not None:
            fields = error_to_qlog(error_code, application=application)
            key = "application_error" if application else "connection_error"
            data[key] = fields["error"]
            if "error_code" in fields:
                data["error_code"] = fields["error_code"]
        if reason is not None:
            data["reason"] = reason
        if trigger is not None:
            data["trigger"] = trigger
        self.event(now_us, "quic:connection_closed", data)

    # -- security (quic events §6) --------------------------------------------------------------

    def key_updated(
        self, now_us: int, key_type: str, *, key_phase: int | None = None, trigger: str = "tls"
    ) -> None:
        """quic:key_updated; ``key_type`` like "client_1rtt_secret", ``trigger`` "tls",
        "remote_update" or "local_update".  Keys themselves are never logged."""
        data: dict[str, object] = {"key_type": key_type, "trigger": trigger}
        if key_phase is not None:
            data["key_phase"] = key_phase
        self.event(now_us, "quic:key_updated", data)

    def key_discarded(
        self, now_us: int, key_type: str, *, key_phase: int | None = None, trigger: str = "tls"
    ) -> None:
        """quic:key_discarded (quic events §6.2)."""
        data: dict[str, object] = {"key_type": key_type, "trigger": trigger}
        if key_phase is not None:
            data["key_phase"] = key_phase
        self.event(now_us, "quic:key_discarded", data)

    # -- internals ------------------------------------------------------------------------------

    @staticmethod
    def _frames(frames: Sequence[Frame], exponent: int) -> list[dict[str, object]]:
        return [frame_to_qlog(frame, ack_delay_exponent=exponent) for frame in frames]

    def _packet_data(
        self, header: QlogPacketHeader, frames: Sequence[Frame], raw_length: int, exponent: int
    ) -> dict[str, object]:
        return {
            "header": header.to_qlog(),
            "frames": self._frames(frames, exponent),
            "raw": {"length": raw_length},
        }
