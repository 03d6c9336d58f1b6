"""Settings: MsQuic's defaults, validation, and the transport parameters they produce."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, fields
from typing import Any

import pytest

from pyquic.core.settings import DATAGRAM_MAX_FRAME_SIZE, Settings
from pyquic.core.transport_params import (
    TransportParameters,
    encode_transport_parameters,
    parse_transport_parameters,
)

CID = bytes.fromhex("0102030405060708")
ODCID = bytes.fromhex("a1a2a3a4a5a6a7a8")
TOKEN = bytes(range(16))

# msquic-facts §2 (QUIC_SETTINGS defaults from quicdef.h / settings.c)
MSQUIC_DEFAULTS: dict[str, Any] = {
    "max_bytes_per_key": 274_877_906_944,
    "handshake_idle_timeout_ms": 10_000,
    "idle_timeout_ms": 30_000,
    "tls_client_max_send_buffer": 4_096,
    "tls_server_max_send_buffer": 8_192,
    "stream_recv_window_default": 65_536,
    "stream_recv_buffer_default": 4_096,
    "conn_flow_control_window": 16_777_216,
    "max_worker_queue_delay_us": 250_000,
    "max_stateless_operations": 16,
    "max_binding_stateless_operations": 100,
    "stateless_operation_expiration_ms": 100,
    "initial_window_packets": 10,
    "send_idle_timeout_ms": 1_000,
    "initial_rtt_ms": 333,
    "max_ack_delay_ms": 25,
    "disconnect_timeout_ms": 16_000,
    "keep_alive_interval_ms": 0,
    "congestion_control_algorithm": "cubic",
    "peer_bidi_stream_count": 0,
    "peer_unidi_stream_count": 0,
    "minimum_mtu": 1288,
    "maximum_mtu": 1500,
    "mtu_discovery_search_complete_timeout_us": 600_000_000,
    "mtu_discovery_missing_probe_count": 3,
    "send_buffering_enabled": True,
    "pacing_enabled": True,
    "migration_enabled": True,
    "datagram_receive_enabled": False,
    "server_resumption_level": "no_resume",
    "max_operations_per_drain": 16,
    "dest_cid_update_idle_timeout_ms": 20_000,
    "grease_quic_bit_enabled": False,
    "ecn_enabled": False,
    "hystart_enabled": False,
    "version_negotiation_ext_enabled": False,
    # msquic-facts §3: ack_delay_exponent 3, active_connection_id_limit 4
    "ack_delay_exponent": 3,
    "active_connection_id_limit": 4,
}


def test_defaults_are_msquics() -> None:
    settings = Settings()
    for name, value in MSQUIC_DEFAULTS.items():
        assert getattr(settings, name) == value, name


def test_per_type_windows_default_to_the_default_window() -> None:
    settings = Settings()
    assert settings.stream_recv_window_bidi_local is None
    assert settings.stream_recv_window_bidi_remote is None
    assert settings.stream_recv_window_unidi is None
    for bidi, local in ((True, True), (True, False), (False, False)):
        assert settings.stream_recv_window(bidirectional=bidi, locally_initiated=local) == 65_536


def test_our_own_defaults() -> None:
    settings = Settings()
    assert settings.stream_recv_window_max == 16 * 1024 * 1024
    assert settings.conn_flow_control_window_max == 64 * 1024 * 1024
    assert settings.local_cid_length == 8
    assert settings.max_ack_ranges == 32
    assert settings.max_crypto_buffer_bytes == 65_536
    assert settings.max_udp_payload_size is None
    assert settings.effective_max_udp_payload_size == 1500 - 28


def test_microsecond_views() -> None:
    settings = Settings(idle_timeout_ms=7, initial_rtt_ms=100)
    assert settings.idle_timeout_us == 7_000
    assert settings.initial_rtt_us == 100_000
    assert settings.max_ack_delay_us == 25_000
    assert settings.handshake_idle_timeout_us == 10_000_000
    assert settings.disconnect_timeout_us == 16_000_000
    assert settings.keep_alive_interval_us == 0
    assert settings.send_idle_timeout_us == 1_000_000


def test_settings_are_immutable() -> None:
    settings = Settings()
    with pytest.raises(FrozenInstanceError):
        settings.idle_timeout_ms = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"idle_timeout_ms": -1}, r"idle_timeout_ms must be in 0\.\."),
        ({"disconnect_timeout_ms": 600_001}, r"disconnect_timeout_ms must be in 1\.\.600000"),
        ({"disconnect_timeout_ms": 0}, "disconnect_timeout_ms"),
        ({"peer_bidi_stream_count": 65_536}, r"peer_bidi_stream_count must be in 0\.\.65535"),
        ({"peer_unidi_stream_count": -1}, "peer_unidi_stream_count"),
        ({"stream_recv_window_default": 65_535}, "stream_recv_window_default must be a power"),
        ({"stream_recv_window_default": 0}, "stream_recv_window_default must be in"),
        ({"stream_recv_window_bidi_local": 3_000}, "stream_recv_window_bidi_local must be a"),
        ({"stream_recv_window_bidi_remote": 12}, "stream_recv_window_bidi_remote must be a"),
        ({"stream_recv_window_unidi": 100}, "stream_recv_window_unidi must be a power"),
        ({"stream_recv_window_max": 3 << 20}, "stream_recv_window_max must be a power"),
        ({"max_ack_delay_ms": 1 << 14}, r"max_ack_delay_ms must be in 0\.\.16383"),
        ({"ack_delay_exponent": 21}, r"ack_delay_exponent must be in 0\.\.20"),
        ({"active_connection_id_limit": 1}, "active_connection_id_limit"),
        ({"local_cid_length": 0}, r"local_cid_length must be in 1\.\.20"),
        ({"local_cid_length": 21}, "local_cid_length"),
        ({"minimum_mtu": 1247}, "minimum_mtu"),
        ({"minimum_mtu": 1400, "maximum_mtu": 1300}, "minimum_mtu .* must not exceed maximum_mtu"),
        ({"max_udp_payload_size": 1199}, "max_udp_payload_size"),
        ({"max_crypto_buffer_bytes": 4_095}, "max_crypto_buffer_bytes"),
        ({"initial_rtt_ms": 0}, "initial_rtt_ms"),
        ({"initial_window_packets": 1}, "initial_window_packets"),
        ({"max_bytes_per_key": 274_877_906_945}, "max_bytes_per_key"),
        ({"stream_recv_buffer_default": 1_024}, "stream_recv_buffer_default"),
        ({"mtu_discovery_missing_probe_count": 256}, "mtu_discovery_missing_probe_count"),
        ({"congestion_control_algorithm": "bbr"}, "congestion_control_algorithm must be one of"),
        ({"server_resumption_level": "always"}, "server_resumption_level must be one of"),
        ({"pacing_enabled": 1}, "pacing_enabled must be a bool"),
        ({"idle_timeout_ms": 1.5}, "idle_timeout_ms must be an integer"),
        ({"idle_timeout_ms": True}, "idle_timeout_ms must be an integer"),
        ({"stream_recv_window_default": 1 << 25}, "must not exceed stream_recv_window_max"),
        ({"stream_recv_window_unidi": 1 << 25}, "stream_recv_window_unidi .* must not exceed"),
        ({"conn_flow_control_window": (64 << 20) + 1}, "must not exceed conn_flow_control_win"),
    ],
)
def test_validation_names_the_field_and_range(overrides: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Settings(**overrides)


def test_limits_themselves_are_accepted() -> None:
    Settings(
        peer_bidi_stream_count=65_535,
        peer_unidi_stream_count=65_535,
        disconnect_timeout_ms=600_000,
        max_ack_delay_ms=(1 << 14) - 1,
        ack_delay_exponent=20,
        local_cid_length=20,
        active_connection_id_limit=2,
        minimum_mtu=1248,
        maximum_mtu=1248,
        max_udp_payload_size=1200,
        stream_recv_window_default=1 << 24,
        stream_recv_window_unidi=1,
        idle_timeout_ms=0,
        congestion_control_algorithm="new_reno",
        server_resumption_level="resume_and_zerortt",
    )


def test_merge_overrides_and_validates() -> None:
    base = Settings()
    merged = base.merge(peer_bidi_stream_count=100, idle_timeout_ms=5_000)
    assert merged.peer_bidi_stream_count == 100
    assert merged.idle_timeout_ms == 5_000
    assert base.peer_bidi_stream_count == 0  # the original is untouched
    assert merged.merge() == merged
    with pytest.raises(ValueError, match="unknown setting"):
        base.merge(idle_timeout=5)
    with pytest.raises(ValueError, match="peer_bidi_stream_count"):
        base.merge(peer_bidi_stream_count=70_000)


def test_every_field_has_a_rule() -> None:
    """Each field is validated: a string where a number or bool belongs is refused."""
    for field in fields(Settings):
        with pytest.raises(ValueError, match=field.name):
            bad: dict[str, Any] = {field.name: "x"}
            Settings(**bad)


# -- transport parameters ------------------------------------------------------------------------


def _round_trip(params: TransportParameters, *, from_server: bool) -> TransportParameters:
    return parse_transport_parameters(encode_transport_parameters(params), from_server=from_server)


def test_client_parameters_map_every_setting() -> None:
    settings = Settings(
        peer_bidi_stream_count=100,
        peer_unidi_stream_count=3,
        stream_recv_window_bidi_local=1 << 17,
        stream_recv_window_bidi_remote=1 << 18,
        stream_recv_window_unidi=1 << 19,
        max_udp_payload_size=1452,
        max_ack_delay_ms=20,
        ack_delay_exponent=4,
        active_connection_id_limit=6,
    )
    params = settings.transport_parameters(initial_source_connection_id=CID, is_server=False)
    assert params.initial_source_connection_id == CID
    assert params.max_idle_timeout_ms == 30_000
    assert params.initial_max_data == 16_777_216
    # bidi_local: streams we open; bidi_remote: streams the peer opens (RFC 9000 §18.2)
    assert params.initial_max_stream_data_bidi_local == 1 << 17
    assert params.initial_max_stream_data_bidi_remote == 1 << 18
    assert params.initial_max_stream_data_uni == 1 << 19
    assert params.initial_max_streams_bidi == 100
    assert params.initial_max_streams_uni == 3
    assert params.max_udp_payload_size == 1452
    assert params.max_ack_delay_ms == 20
    assert params.ack_delay_exponent == 4
    assert params.active_connection_id_limit == 6
    assert params.disable_active_migration is False
    assert params.max_datagram_frame_size is None
    assert params.grease_quic_bit is False
    assert params.original_destination_connection_id is None
    assert params.stateless_reset_token is None
    assert _round_trip(params, from_server=False) == params


def test_server_parameters_round_trip() -> None:
    settings = Settings(
        migration_enabled=False, datagram_receive_enabled=True, grease_quic_bit_enabled=True
    )
    params = settings.transport_parameters(
        initial_source_connection_id=CID,
        original_destination_connection_id=ODCID,
        retry_source_connection_id=b"\x09" * 8,
        stateless_reset_token=TOKEN,
        is_server=True,
    )
    assert params.original_destination_connection_id == ODCID
    assert params.retry_source_connection_id == b"\x09" * 8
    assert params.stateless_reset_token == TOKEN
    assert params.disable_active_migration is True
    assert params.max_datagram_frame_size == DATAGRAM_MAX_FRAME_SIZE == 65_535
    assert params.grease_quic_bit is True
    assert params.max_udp_payload_size == 1472
    assert _round_trip(params, from_server=True) == params


def test_default_windows_fill_all_three_stream_parameters() -> None:
    params = Settings().transport_parameters(initial_source_connection_id=CID, is_server=False)
    assert params.initial_max_stream_data_bidi_local == 65_536
    assert params.initial_max_stream_data_bidi_remote == 65_536
    assert params.initial_max_stream_data_uni == 65_536
    assert params.initial_max_streams_bidi == 0  # MsQuic's default: the peer opens nothing


def test_role_rules_for_parameters() -> None:
    settings = Settings()
    with pytest.raises(ValueError, match="original_destination_connection_id"):
        settings.transport_parameters(initial_source_connection_id=CID, is_server=True)
    with pytest.raises(ValueError, match=r"server-only parameter.*stateless_reset_token"):
        settings.transport_parameters(
            initial_source_connection_id=CID, stateless_reset_token=TOKEN, is_server=False
        )
    with pytest.raises(ValueError, match="original_destination_connection_id"):
        settings.transport_parameters(
            initial_source_connection_id=CID,
            original_destination_connection_id=ODCID,
            is_server=False,
        )
