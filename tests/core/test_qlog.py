"""qlog events and frames in the draft's JSON forms, and the platform's JSON-SEQ file writer."""

from __future__ import annotations

import json
import typing
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from pyquic.core.frames import (
    AckFrame,
    AckFrequencyFrame,
    ConnectionCloseFrame,
    CryptoFrame,
    DataBlockedFrame,
    DatagramFrame,
    EcnCounts,
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
from pyquic.core.qlog import (
    QLOG_FILE_SCHEMA_SEQUENTIAL,
    QLOG_JSON_SEQ_MEDIA_TYPE,
    QUIC_EVENT_SCHEMA,
    QlogEvent,
    QlogPacketHeader,
    QlogTrace,
    error_to_qlog,
    frame_to_qlog,
    packet_type_name,
    qlog_seq_header,
    transport_parameters_to_qlog,
)
from pyquic.core.settings import Settings
from pyquic.core.transport_params import PreferredAddress, TransportParameters
from pyquic.core.version import QUIC_V1, PacketType
from pyquic.platform.qlog_file import QlogFileWriter, open_qlog_file, read_qlog_file

SAMPLE_FRAMES: dict[type, Frame] = {
    PaddingFrame: PaddingFrame(37),
    PingFrame: PingFrame(),
    AckFrame: AckFrame(((10, 22), (7, 7), (1, 5)), ack_delay=1000, ecn=EcnCounts(5, 6, 7)),
    ResetStreamFrame: ResetStreamFrame(4, 0x101, 1000),
    StopSendingFrame: StopSendingFrame(8, 7),
    CryptoFrame: CryptoFrame(100, b"x" * 25),
    NewTokenFrame: NewTokenFrame(b"\xab\xcd"),
    StreamFrame: StreamFrame(4, 1200, b"y" * 300, fin=True),
    MaxDataFrame: MaxDataFrame(1 << 20),
    MaxStreamDataFrame: MaxStreamDataFrame(4, 65536),
    MaxStreamsFrame: MaxStreamsFrame(True, 100),
    DataBlockedFrame: DataBlockedFrame(5000),
    StreamDataBlockedFrame: StreamDataBlockedFrame(8, 6000),
    StreamsBlockedFrame: StreamsBlockedFrame(False, 3),
    NewConnectionIdFrame: NewConnectionIdFrame(2, 1, b"\x01\x02\x03\x04", bytes(range(16))),
    RetireConnectionIdFrame: RetireConnectionIdFrame(1),
    PathChallengeFrame: PathChallengeFrame(b"\x00\x11\x22\x33\x44\x55\x66\x77"),
    PathResponseFrame: PathResponseFrame(b"\x77\x66\x55\x44\x33\x22\x11\x00"),
    ConnectionCloseFrame: ConnectionCloseFrame(0x0A, frame_type=0x08, reason=b"bad"),
    HandshakeDoneFrame: HandshakeDoneFrame(),
    DatagramFrame: DatagramFrame(b"z" * 12),
    AckFrequencyFrame: AckFrequencyFrame(1, 10, 25_000, 3),
    ImmediateAckFrame: ImmediateAckFrame(),
}

# quic events §8.13: the frame_type names of the draft (ACK_FREQUENCY and IMMEDIATE_ACK: ours)
EXPECTED_FRAME_TYPES: dict[type, str] = {
    PaddingFrame: "padding",
    PingFrame: "ping",
    AckFrame: "ack",
    ResetStreamFrame: "reset_stream",
    StopSendingFrame: "stop_sending",
    CryptoFrame: "crypto",
    NewTokenFrame: "new_token",
    StreamFrame: "stream",
    MaxDataFrame: "max_data",
    MaxStreamDataFrame: "max_stream_data",
    MaxStreamsFrame: "max_streams",
    DataBlockedFrame: "data_blocked",
    StreamDataBlockedFrame: "stream_data_blocked",
    StreamsBlockedFrame: "streams_blocked",
    NewConnectionIdFrame: "new_connection_id",
    RetireConnectionIdFrame: "retire_connection_id",
    PathChallengeFrame: "path_challenge",
    PathResponseFrame: "path_response",
    ConnectionCloseFrame: "connection_close",
    HandshakeDoneFrame: "handshake_done",
    DatagramFrame: "datagram",
    AckFrequencyFrame: "ack_frequency",
    ImmediateAckFrame: "immediate_ack",
}


def collect() -> tuple[list[QlogEvent], QlogTrace]:
    events: list[QlogEvent] = []
    return events, QlogTrace(events.append, now_us=1_000_000)


# -- frames --------------------------------------------------------------------------------------


def test_every_frame_of_core_frames_serialises() -> None:
    frame_classes = set(typing.get_args(Frame))
    assert frame_classes == set(SAMPLE_FRAMES)
    for cls, frame in SAMPLE_FRAMES.items():
        out = frame_to_qlog(frame)
        assert out["frame_type"] == EXPECTED_FRAME_TYPES[cls]
        json.dumps(out, allow_nan=False)  # JSON-ready


def test_ack_frame_form() -> None:
    out = frame_to_qlog(SAMPLE_FRAMES[AckFrame], ack_delay_exponent=3)
    assert out == {
        "frame_type": "ack",
        "ack_delay": 8.0,  # 1000 << 3 microseconds
        "acked_ranges": [[1, 5], [7], [10, 22]],
        "ect1": 6,
        "ect0": 5,
        "ce": 7,
    }
    plain = frame_to_qlog(AckFrame(((0, 0),), ack_delay=0), ack_delay_exponent=0)
    assert plain == {"frame_type": "ack", "ack_delay": 0.0, "acked_ranges": [[0]]}


def test_data_bearing_frames_log_lengths_in_raw() -> None:
    assert frame_to_qlog(SAMPLE_FRAMES[StreamFrame]) == {
        "frame_type": "stream",
        "stream_id": 4,
        "offset": 1200,
        "fin": True,
        "raw": {"length": 300},
    }
    assert frame_to_qlog(SAMPLE_FRAMES[CryptoFrame]) == {
        "frame_type": "crypto",
        "offset": 100,
        "raw": {"length": 25},
    }
    assert frame_to_qlog(SAMPLE_FRAMES[PaddingFrame]) == {
        "frame_type": "padding",
        "raw": {"length": 37, "payload_length": 37},
    }
    assert frame_to_qlog(SAMPLE_FRAMES[DatagramFrame])["raw"] == {"length": 12}


def test_flow_control_and_stream_frames() -> None:
    assert frame_to_qlog(SAMPLE_FRAMES[MaxDataFrame]) == {
        "frame_type": "max_data",
        "maximum": 1 << 20,
    }
    assert frame_to_qlog(SAMPLE_FRAMES[MaxStreamDataFrame]) == {
        "frame_type": "max_stream_data",
        "stream_id": 4,
        "maximum": 65536,
    }
    assert frame_to_qlog(SAMPLE_FRAMES[MaxStreamsFrame]) == {
        "frame_type": "max_streams",
        "stream_type": "bidirectional",
        "maximum": 100,
    }
    assert frame_to_qlog(SAMPLE_FRAMES[StreamsBlockedFrame]) == {
        "frame_type": "streams_blocked",
        "stream_type": "unidirectional",
        "limit": 3,
    }
    assert frame_to_qlog(SAMPLE_FRAMES[DataBlockedFrame]) == {
        "frame_type": "data_blocked",
        "limit": 5000,
    }
    assert frame_to_qlog(SAMPLE_FRAMES[StreamDataBlockedFrame]) == {
        "frame_type": "stream_data_blocked",
        "stream_id": 8,
        "limit": 6000,
    }
    assert frame_to_qlog(SAMPLE_FRAMES[ResetStreamFrame]) == {
        "frame_type": "reset_stream",
        "stream_id": 4,
        "error": "unknown",
        "error_code": 0x101,
        "final_size": 1000,
    }
    assert frame_to_qlog(SAMPLE_FRAMES[StopSendingFrame]) == {
        "frame_type": "stop_sending",
        "stream_id": 8,
        "error": "unknown",
        "error_code": 7,
    }


def test_connection_id_token_and_path_frames_use_hex() -> None:
    assert frame_to_qlog(SAMPLE_FRAMES[NewConnectionIdFrame]) == {
        "frame_type": "new_connection_id",
        "sequence_number": 2,
        "retire_prior_to": 1,
        "connection_id_length": 4,
        "connection_id": "01020304",
        "stateless_reset_token": "000102030405060708090a0b0c0d0e0f",
    }
    assert frame_to_qlog(SAMPLE_FRAMES[RetireConnectionIdFrame]) == {
        "frame_type": "retire_connection_id",
        "sequence_number": 1,
    }
    assert frame_to_qlog(SAMPLE_FRAMES[NewTokenFrame]) == {
        "frame_type": "new_token",
        "token": {"type": "resumption", "raw": {"length": 2, "data": "abcd"}},
    }
    assert frame_to_qlog(SAMPLE_FRAMES[PathChallengeFrame]) == {
        "frame_type": "path_challenge",
        "data": "0011223344556677",
    }
    assert frame_to_qlog(SAMPLE_FRAMES[PathResponseFrame])["data"] == "7766554433221100"


def test_connection_close_forms() -> None:
    assert frame_to_qlog(SAMPLE_FRAMES[ConnectionCloseFrame]) == {
        "frame_type": "connection_close",
        "error_space": "transport",
        "error": "protocol_violation",
        "reason": "bad",
        "trigger_frame_type": 0x08,
    }
    app = frame_to_qlog(ConnectionCloseFrame(0x42, reason=b"\xff\xfe", application=True))
    assert app == {
        "frame_type": "connection_close",
        "error_space": "application",
        "error": "unknown",
        "error_code": 0x42,
        "reason_bytes": "fffe",
    }
    crypto = frame_to_qlog(ConnectionCloseFrame(0x128))
    assert crypto["error"] == "crypto_error_0x128"
    assert "error_code" not in crypto


def test_error_names() -> None:
    assert error_to_qlog(0, application=False) == {"error": "no_error"}
    assert error_to_qlog(0x09, application=False) == {"error": "connection_id_limit_error"}
    assert error_to_qlog(0x10, application=False) == {"error": "no_viable_path"}
    assert error_to_qlog(0x100, application=False) == {"error": "crypto_error_0x100"}
    assert error_to_qlog(0x1FF, application=False) == {"error": "crypto_error_0x1ff"}
    assert error_to_qlog(0x11, application=False) == {"error": "unknown", "error_code": 0x11}
    assert error_to_qlog(0x200, application=False) == {"error": "unknown", "error_code": 0x200}
    assert error_to_qlog(0, application=True) == {"error": "unknown", "error_code": 0}


def test_ack_frequency_extension_form() -> None:
    assert frame_to_qlog(SAMPLE_FRAMES[AckFrequencyFrame]) == {
        "frame_type": "ack_frequency",
        "sequence_number": 1,
        "ack_eliciting_threshold": 10,
        "requested_max_ack_delay": 25.0,
        "reordering_threshold": 3,
    }


# -- headers and packet events -------------------------------------------------------------------


def test_packet_type_names() -> None:
    assert packet_type_name(PacketType.INITIAL) == "initial"
    assert packet_type_name(PacketType.HANDSHAKE) == "handshake"
    assert packet_type_name(PacketType.ZERO_RTT) == "0RTT"
    assert packet_type_name(PacketType.ONE_RTT) == "1RTT"
    assert packet_type_name(PacketType.RETRY) == "retry"
    assert packet_type_name(PacketType.VERSION_NEGOTIATION) == "version_negotiation"
    assert packet_type_name("stateless_reset") == "stateless_reset"
    with pytest.raises(ValueError):
        packet_type_name("bogus")


def test_packet_sent_event_has_the_drafts_fields() -> None:
    events, trace = collect()
    header = QlogPacketHeader(
        PacketType.INITIAL,
        packet_number=0,
        version=QUIC_V1,
        dcid=b"\x11" * 8,
        scid=b"\x22" * 4,
        token=b"",
        packet_number_length=2,
        length=1182,
    )
    trace.packet_sent(
        1_002_500,
        header,
        [CryptoFrame(0, b"hello"), PaddingFrame(10)],
        raw_length=1200,
        trigger="pto_probe",
    )
    (event,) = events
    assert event == {
        "time": 2.5,  # ms since the trace started
        "name": "quic:packet_sent",
        "data": {
            "header": {
                "packet_type": "initial",
                "packet_number": 0,
                "packet_number_length": 2,
                "token": {"raw": {"length": 0, "data": ""}},
                "length": 1182,
                "version": "00000001",
                "scil": 4,
                "scid": "22222222",
                "dcil": 8,
                "dcid": "1111111111111111",
            },
            "frames": [
                {"frame_type": "crypto", "offset": 0, "raw": {"length": 5}},
                {"frame_type": "padding", "raw": {"length": 10, "payload_length": 10}},
            ],
            "raw": {"length": 1200},
            "trigger": "pto_probe",
        },
    }


def test_received_acks_use_the_peers_exponent() -> None:
    events, trace = collect()
    trace.peer_ack_delay_exponent = 0
    trace.local_ack_delay_exponent = 10
    ack = AckFrame(((0, 3),), ack_delay=2000)
    short = QlogPacketHeader(PacketType.ONE_RTT, packet_number=7, key_phase_bit=False)
    trace.packet_received(1_000_000, short, [ack], raw_length=50, trigger="keys_available")
    trace.packet_sent(1_000_000, short, [ack], raw_length=50, is_mtu_probe=True)
    received, sent = events
    assert received["name"] == "quic:packet_received"
    assert received["data"]["frames"][0]["ack_delay"] == 2.0  # type: ignore[index]
    assert received["data"]["trigger"] == "keys_available"  # type: ignore[index]
    assert received["data"]["header"] == {  # type: ignore[index]
        "packet_type": "1RTT",
        "packet_number": 7,
        "key_phase_bit": False,
    }
    assert sent["data"]["frames"][0]["ack_delay"] == 2048.0  # type: ignore[index]
    assert sent["data"]["is_mtu_probe_packet"] is True  # type: ignore[index]


def test_dropped_lost_and_acked_packets() -> None:
    events, trace = collect()
    trace.packet_dropped(
        1_000_000,
        trigger="decryption_failure",
        header=QlogPacketHeader(PacketType.HANDSHAKE),
        raw_length=80,
        details={"why": "bad tag"},
    )
    trace.packet_dropped(1_000_000, trigger="duplicate")
    lost = [QlogPacketHeader(PacketType.ONE_RTT, packet_number=n) for n in (4, 5)]
    trace.packet_lost(1_000_000, lost[0], trigger="time_threshold", frames=[PingFrame()])
    trace.packets_lost(1_000_000, lost, trigger="reordering_threshold")
    trace.packets_acked(1_000_000, PacketSpace.APPLICATION, [1, 2, 3])
    names = [e["name"] for e in events]
    assert names == [
        "quic:packet_dropped",
        "quic:packet_dropped",
        "quic:packet_lost",
        "quic:packet_lost",
        "quic:packet_lost",
        "quic:packets_acked",
    ]
    assert events[0]["data"] == {
        "trigger": "decryption_failure",
        "header": {"packet_type": "handshake"},
        "raw": {"length": 80},
        "details": {"why": "bad tag"},
    }
    assert events[1]["data"] == {"trigger": "duplicate"}
    assert events[2]["data"] == {
        "header": {"packet_type": "1RTT", "packet_number": 4},
        "frames": [{"frame_type": "ping"}],
        "trigger": "time_threshold",
    }
    assert events[4]["data"] == {
        "header": {"packet_type": "1RTT", "packet_number": 5},
        "trigger": "reordering_threshold",
    }
    assert events[5]["data"] == {
        "packet_number_space": "application_data",
        "packet_numbers": [1, 2, 3],
    }


# -- recovery ------------------------------------------------------------------------------------


def test_metrics_updated_logs_only_changes() -> None:
    events, trace = collect()
    trace.metrics_updated(
        1_010_000,
        min_rtt_us=20_000,
        smoothed_rtt_us=25_500,
        latest_rtt_us=30_000,
        rtt_variance_us=5_000,
        congestion_window=12_000,
        bytes_in_flight=1_200,
        ssthresh=100_000,
        pacing_rate_bps=8_000_000,
        pto_count=0,
        packets_in_flight=1,
    )
    trace.metrics_updated(1_020_000, min_rtt_us=20_000, congestion_window=12_000)  # unchanged
    trace.metrics_updated(1_030_000, min_rtt_us=20_000, bytes_in_flight=2_400)
    trace.metrics_updated(1_040_000)  # nothing known
    assert len(events) == 2
    first, second = events
    assert first["name"] == "quic:recovery_metrics_updated"
    assert first["time"] == 10.0
    assert first["data"] == {
        "min_rtt": 20.0,
        "smoothed_rtt": 25.5,
        "latest_rtt": 30.0,
        "rtt_variance": 5.0,
        "pto_count": 0,
        "congestion_window": 12_000,
        "bytes_in_flight": 1_200,
        "ssthresh": 100_000,
        "packets_in_flight": 1,
        "pacing_rate": 8_000_000,
    }
    assert second["data"] == {"bytes_in_flight": 2_400}


def test_congestion_and_connection_state_updates() -> None:
    events, trace = collect()
    trace.congestion_state_updated(1_000_000, None, "slow_start")
    trace.congestion_state_updated(1_000_000, "slow_start", "recovery", trigger="ecn")
    trace.connection_state_updated(1_000_000, None, "attempted")
    trace.connection_state_updated(1_000_000, "attempted", "handshake_complete")
    assert [e["name"] for e in events] == [
        "quic:congestion_state_updated",
        "quic:congestion_state_updated",
        "quic:connection_state_updated",
        "quic:connection_state_updated",
    ]
    assert events[0]["data"] == {"new": "slow_start"}
    assert events[1]["data"] == {"new": "recovery", "old": "slow_start", "trigger": "ecn"}
    assert events[3]["data"] == {"new": "handshake_complete", "old": "attempted"}


# -- connectivity and transport ------------------------------------------------------------------

PARAMETERS_SET_FIELDS = {  # quic events §5.3 QUICParametersSet
    "initiator",
    "resumption_allowed",
    "early_data_enabled",
    "tls_cipher",
    "original_destination_connection_id",
    "initial_source_connection_id",
    "retry_source_connection_id",
    "stateless_reset_token",
    "disable_active_migration",
    "max_idle_timeout",
    "max_udp_payload_size",
    "ack_delay_exponent",
    "max_ack_delay",
    "active_connection_id_limit",
    "initial_max_data",
    "initial_max_stream_data_bidi_local",
    "initial_max_stream_data_bidi_remote",
    "initial_max_stream_data_uni",
    "initial_max_streams_bidi",
    "initial_max_streams_uni",
    "preferred_address",
    "max_datagram_frame_size",
    "grease_quic_bit",
}


def test_parameters_set_uses_the_drafts_names() -> None:
    events, trace = collect()
    params = Settings(datagram_receive_enabled=True).transport_parameters(
        initial_source_connection_id=b"\x01" * 8,
        original_destination_connection_id=b"\x02" * 8,
        stateless_reset_token=b"\x03" * 16,
        is_server=True,
    )
    trace.parameters_set(
        1_000_000,
        params,
        initiator="local",
        tls_cipher="AES_128_GCM_SHA256",
        resumption_allowed=False,
        early_data_enabled=False,
    )
    (event,) = events
    assert event["name"] == "quic:parameters_set"
    data = event["data"]
    assert isinstance(data, dict)
    assert set(data) <= PARAMETERS_SET_FIELDS
    assert data["initiator"] == "local"
    assert data["max_idle_timeout"] == 30_000
    assert data["max_ack_delay"] == 25
    assert data["initial_source_connection_id"] == "01" * 8
    assert data["original_destination_connection_id"] == "02" * 8
    assert data["stateless_reset_token"] == "03" * 16
    assert data["max_datagram_frame_size"] == 65_535
    assert data["tls_cipher"] == "AES_128_GCM_SHA256"
    assert "retry_source_connection_id" not in data


def test_transport_parameters_with_extensions() -> None:
    address = PreferredAddress(
        IPv4Address("192.0.2.1"), 443, None, 0, b"\x0a\x0b", bytes(range(16))
    )
    params = TransportParameters(
        initial_source_connection_id=b"\x01" * 8,
        preferred_address=address,
        min_ack_delay_us=1_000,
    )
    out = transport_parameters_to_qlog(params)
    assert out["preferred_address"] == {
        "ip_v4": "192.0.2.1",
        "port_v4": 443,
        "connection_id": "0a0b",
        "stateless_reset_token": "000102030405060708090a0b0c0d0e0f",
    }
    assert out["min_ack_delay"] == 1.0


def test_connection_closed_forms() -> None:
    events, trace = collect()
    trace.connection_closed(
        1_000_000, initiator="local", error_code=0x0A, reason="oops", trigger="error"
    )
    trace.connection_closed(1_000_000, initiator="remote", error_code=0x150)
    trace.connection_closed(
        1_000_000, initiator="remote", error_code=0x33, application=True, trigger="application"
    )
    trace.connection_closed(1_000_000, initiator=None, trigger="idle_timeout")
    assert all(e["name"] == "quic:connection_closed" for e in events)
    assert events[0]["data"] == {
        "initiator": "local",
        "connection_error": "protocol_violation",
        "reason": "oops",
        "trigger": "error",
    }
    assert events[1]["data"] == {"initiator": "remote", "connection_error": "crypto_error_0x150"}
    assert events[2]["data"] == {
        "initiator": "remote",
        "application_error": "unknown",
        "error_code": 0x33,
        "trigger": "application",
    }
    assert events[3]["data"] == {"trigger": "idle_timeout"}


def test_ids_keys_and_alpn_events() -> None:
    events, trace = collect()
    trace.connection_id_updated(1_000_000, initiator="remote", old=b"\x01", new=b"\x02")
    trace.key_updated(1_000_000, "client_1rtt_secret", key_phase=1, trigger="local_update")
    trace.key_discarded(1_000_000, "server_initial_secret")
    trace.alpn_information(
        1_000_000, chosen_alpn=b"h3", client_alpns=[b"h3", b"hq"], server_alpns=[b"h3"]
    )
    assert [e["name"] for e in events] == [
        "quic:connection_id_updated",
        "quic:key_updated",
        "quic:key_discarded",
        "quic:alpn_information",
    ]
    assert events[0]["data"] == {"initiator": "remote", "old": "01", "new": "02"}
    assert events[1]["data"] == {
        "key_type": "client_1rtt_secret",
        "trigger": "local_update",
        "key_phase": 1,
    }
    assert events[2]["data"] == {"key_type": "server_initial_secret", "trigger": "tls"}
    assert events[3]["data"] == {
        "server_alpns": [{"byte_value": "6833"}],
        "client_alpns": [{"byte_value": "6833"}, {"byte_value": "6871"}],
        "chosen_alpn": {"byte_value": "6833"},
    }


def test_group_id_is_added_to_every_event() -> None:
    events: list[QlogEvent] = []
    trace = QlogTrace(events.append, now_us=0, group_id="abcd", vantage_point="server")
    trace.connection_state_updated(5_000, None, "attempted")
    assert events[0]["group_id"] == "abcd"
    assert events[0]["time"] == 5.0
    header = trace.header(title="t")
    assert header["trace"]["vantage_point"] == {"type": "server"}  # type: ignore[index]
    assert header["trace"]["common_fields"]["group_id"] == "abcd"  # type: ignore[index]


def test_seq_header_shape() -> None:
    header = qlog_seq_header(
        vantage_point="client", group_id="00ff", vantage_point_name="pyquic", title="x"
    )
    assert header == {
        "file_schema": "urn:ietf:params:qlog:file:sequential",
        "serialization_format": "application/qlog+json-seq",
        "title": "x",
        "trace": {
            "common_fields": {
                "time_format": "relative_to_epoch",
                "reference_time": {"clock_type": "monotonic", "epoch": "unknown"},
                "group_id": "00ff",
            },
            "vantage_point": {"type": "client", "name": "pyquic"},
            "event_schemas": ["urn:ietf:params:qlog:events:quic-13"],
        },
    }


# -- the platform's JSON-SEQ writer --------------------------------------------------------------


def test_json_seq_file_parses_back(tmp_path: Path) -> None:
    with open_qlog_file(tmp_path / "qlogs", "a1b2c3d4", "client") as writer:
        trace = QlogTrace(writer, now_us=0)
        trace.packet_sent(
            1_500,
            QlogPacketHeader(PacketType.INITIAL, packet_number=0, dcid=b"\xa1\xb2\xc3\xd4"),
            [CryptoFrame(0, b"hi"), PingFrame()],
            raw_length=1200,
        )
        trace.connection_closed(3_000, initiator="local", error_code=0, reason="done ✓")
    path = tmp_path / "qlogs" / "a1b2c3d4_client.sqlog"
    assert writer.path == path
    assert writer.closed
    raw = path.read_bytes()
    # RFC 7464: each record is RS, a JSON text, LF
    assert raw.startswith(b"\x1e")
    records = [json.loads(chunk) for chunk in raw.split(b"\x1e")[1:]]
    assert all(chunk.endswith(b"\n") for chunk in raw.split(b"\x1e")[1:])
    header, sent, closed = records
    assert header["file_schema"] == QLOG_FILE_SCHEMA_SEQUENTIAL
    assert header["serialization_format"] == QLOG_JSON_SEQ_MEDIA_TYPE
    assert header["trace"]["event_schemas"] == [QUIC_EVENT_SCHEMA]
    assert header["trace"]["vantage_point"]["type"] == "client"
    assert header["trace"]["common_fields"]["group_id"] == "a1b2c3d4"
    assert header["trace"]["common_fields"]["reference_time"]["wall_clock_time"].endswith("Z")
    assert sent["name"] == "quic:packet_sent"
    assert sent["time"] == 1.5
    assert sent["data"]["header"]["dcid"] == "a1b2c3d4"
    assert closed["data"]["reason"] == "done ✓"
    assert read_qlog_file(path) == records
    with pytest.raises(ValueError, match="closed"):
        writer({"time": 0.0, "name": "quic:x", "data": {}})


def test_truncated_last_record_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlog"
    writer = QlogFileWriter(path, vantage_point="server")
    writer({"time": 0.0, "name": "quic:packet_sent", "data": {}})
    writer.flush()
    writer.close()
    with path.open("ab") as file:
        file.write(b'\x1e{"time": 1.0, "na')  # the writer died mid-record
    records = read_qlog_file(path)
    assert [r.get("name") for r in records[1:]] == ["quic:packet_sent"]
    path.write_bytes(b'\x1e{"broken\n\x1e{}\n')
    with pytest.raises(ValueError, match="record 1"):
        read_qlog_file(path)
    path.write_bytes(b"{}\n")
    with pytest.raises(ValueError, match="record separator"):
        read_qlog_file(path)


@pytest.mark.parametrize("odcid", ["A1B2", "a1b", "../etc", "zz"])
def test_open_rejects_bad_names(tmp_path: Path, odcid: str) -> None:
    with pytest.raises(ValueError, match="odcid_hex"):
        open_qlog_file(tmp_path, odcid, "client")


def test_open_rejects_bad_vantage_point(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="vantage_point"):
        open_qlog_file(tmp_path, "00", "middlebox")  # type: ignore[arg-type]
