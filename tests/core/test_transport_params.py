"""Transport parameters codec: byte vectors, defaults and every validation rule (RFC 9000 §18)."""

from __future__ import annotations

from dataclasses import fields, replace
from ipaddress import IPv4Address, IPv6Address
from typing import Any

import pytest

from pyquic.core.buffer import Reader
from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.core.transport_params import (
    MAX_TRANSPORT_PARAMETERS_SIZE,
    PreferredAddress,
    TransportParameterId,
    TransportParameters,
    VersionInformation,
    encode_transport_parameters,
    grease_parameter,
    is_reserved_parameter_id,
    parse_transport_parameters,
)
from pyquic.core.varint import encode_varint

TPE = 0x08
TOKEN = bytes(range(0x10, 0x20))


def param(pid: int, value: bytes) -> bytes:
    """One encoded (id, length, value) transport parameter."""
    return encode_varint(pid) + encode_varint(len(value)) + value


def varint_param(pid: int, value: int) -> bytes:
    return param(pid, encode_varint(value))


def preferred_address_value(cid: bytes = b"\xaa\xbb\xcc\xdd", token: bytes = TOKEN) -> bytes:
    return (
        bytes.fromhex("c0000201 01bb")  # 192.0.2.1:443
        + bytes.fromhex("20010db8000000000000000000000001 01bb")  # [2001:db8::1]:443
        + bytes((len(cid),))
        + cid
        + token
    )


def assert_rejected(data: bytes, *, from_server: bool, match: str) -> None:
    with pytest.raises(QuicError, match=match) as info:
        parse_transport_parameters(data, from_server=from_server)
    assert info.value.error_code == TPE == TransportErrorCode.TRANSPORT_PARAMETER_ERROR


# -- vectors -----------------------------------------------------------------------------------

CLIENT_VECTOR = bytes.fromhex(
    "01 04 80007530"  # max_idle_timeout 30000
    "03 02 45c0"  # max_udp_payload_size 1472
    "04 04 80100000"  # initial_max_data 1048576
    "05 04 80040000"  # initial_max_stream_data_bidi_local 262144
    "06 04 80040000"  # initial_max_stream_data_bidi_remote 262144
    "07 04 80040000"  # initial_max_stream_data_uni 262144
    "08 02 4064"  # initial_max_streams_bidi 100
    "09 01 03"  # initial_max_streams_uni 3
    "0a 01 05"  # ack_delay_exponent 5
    "0b 01 0a"  # max_ack_delay 10
    "0c 00"  # disable_active_migration
    "0e 01 08"  # active_connection_id_limit 8
    "0f 08 0102030405060708"  # initial_source_connection_id
    "11 08 00000001 00000001"  # version_information v1 / [v1]
    "20 02 44b0"  # max_datagram_frame_size 1200
    "6ab2 00"  # grease_quic_bit
    "c0000000ff04de1b 02 43e8"  # min_ack_delay 1000 us
)
CLIENT_PARAMS = TransportParameters(
    max_idle_timeout_ms=30000,
    max_udp_payload_size=1472,
    initial_max_data=1048576,
    initial_max_stream_data_bidi_local=262144,
    initial_max_stream_data_bidi_remote=262144,
    initial_max_stream_data_uni=262144,
    initial_max_streams_bidi=100,
    initial_max_streams_uni=3,
    ack_delay_exponent=5,
    max_ack_delay_ms=10,
    disable_active_migration=True,
    active_connection_id_limit=8,
    initial_source_connection_id=bytes.fromhex("0102030405060708"),
    version_information=VersionInformation(1, (1,)),
    max_datagram_frame_size=1200,
    grease_quic_bit=True,
    min_ack_delay_us=1000,
)

SERVER_VECTOR = bytes.fromhex(
    "00 08 8394c8f03e515708"  # original_destination_connection_id
    "02 10 101112131415161718191a1b1c1d1e1f"  # stateless_reset_token
    "0d 2d"  # preferred_address, 45 bytes:
    "c0000201 01bb"  # 192.0.2.1:443
    "20010db8000000000000000000000001 01bb"  # [2001:db8::1]:443
    "04 aabbccdd"  # connection ID
    "101112131415161718191a1b1c1d1e1f"  # its stateless reset token
    "0f 04 f0f1f2f3"  # initial_source_connection_id
    "10 04 e0e1e2e3"  # retry_source_connection_id
    "11 0c 00000001 6b3343cf 00000001"  # version_information v1 / [v2, v1]
)
SERVER_PARAMS = TransportParameters(
    original_destination_connection_id=bytes.fromhex("8394c8f03e515708"),
    stateless_reset_token=TOKEN,
    preferred_address=PreferredAddress(
        ipv4_address=IPv4Address("192.0.2.1"),
        ipv4_port=443,
        ipv6_address=IPv6Address("2001:db8::1"),
        ipv6_port=443,
        connection_id=bytes.fromhex("aabbccdd"),
        stateless_reset_token=TOKEN,
    ),
    initial_source_connection_id=bytes.fromhex("f0f1f2f3"),
    retry_source_connection_id=bytes.fromhex("e0e1e2e3"),
    version_information=VersionInformation(1, (0x6B3343CF, 1)),
)


def test_client_vector_parses() -> None:
    assert parse_transport_parameters(CLIENT_VECTOR, from_server=False) == CLIENT_PARAMS
    assert parse_transport_parameters(CLIENT_VECTOR, from_server=True) == CLIENT_PARAMS


def test_client_vector_encodes() -> None:
    assert encode_transport_parameters(CLIENT_PARAMS) == CLIENT_VECTOR


def test_server_vector_parses() -> None:
    assert parse_transport_parameters(SERVER_VECTOR, from_server=True) == SERVER_PARAMS


def test_server_vector_encodes() -> None:
    assert encode_transport_parameters(SERVER_PARAMS) == SERVER_VECTOR


def test_parse_accepts_memoryview_and_bytearray() -> None:
    assert parse_transport_parameters(memoryview(CLIENT_VECTOR), from_server=False) == (
        CLIENT_PARAMS
    )
    assert parse_transport_parameters(bytearray(SERVER_VECTOR), from_server=True) == SERVER_PARAMS


def test_wire_order_does_not_matter() -> None:
    data = varint_param(0x0B, 7) + varint_param(0x01, 9) + varint_param(0x0A, 0)
    params = parse_transport_parameters(data, from_server=False)
    assert (params.max_ack_delay_ms, params.max_idle_timeout_ms, params.ack_delay_exponent) == (
        7,
        9,
        0,
    )


def test_non_minimal_varint_value_is_accepted() -> None:
    # RFC 9000 §16 does not require the shortest encoding: 5 in 8 bytes
    data = bytes.fromhex("01 08 c000000000000005")
    assert parse_transport_parameters(data, from_server=False).max_idle_timeout_ms == 5


def test_non_minimal_parameter_id_and_length_are_accepted() -> None:
    data = bytes.fromhex("4001 4001 05")  # id 1 and length 1, each in two bytes
    assert parse_transport_parameters(data, from_server=False).max_idle_timeout_ms == 5


# -- defaults ----------------------------------------------------------------------------------


def test_defaults_are_the_rfc_defaults() -> None:
    params = TransportParameters()
    assert params.max_udp_payload_size == 65527  # RFC 9000 §18.2
    assert params.ack_delay_exponent == 3
    assert params.max_ack_delay_ms == 25
    assert params.active_connection_id_limit == 2
    assert params.max_idle_timeout_ms == 0
    assert params.initial_max_data == 0
    assert params.initial_max_streams_bidi == params.initial_max_streams_uni == 0
    assert params.disable_active_migration is False
    assert params.grease_quic_bit is False
    assert params.original_destination_connection_id is None
    assert params.initial_source_connection_id is None
    assert params.preferred_address is None
    assert params.version_information is None
    assert params.max_datagram_frame_size is None
    assert params.min_ack_delay_us is None


@pytest.mark.parametrize("from_server", [False, True])
def test_empty_input_gives_defaults(from_server: bool) -> None:
    assert parse_transport_parameters(b"", from_server=from_server) == TransportParameters()


def test_defaults_encode_to_nothing() -> None:
    assert encode_transport_parameters(TransportParameters()) == b""


def test_explicit_default_values_are_omitted() -> None:
    params = TransportParameters(max_udp_payload_size=65527, ack_delay_exponent=3)
    assert encode_transport_parameters(params) == b""


def test_present_zero_differs_from_absent() -> None:
    params = TransportParameters(
        max_datagram_frame_size=0, min_ack_delay_us=0, initial_source_connection_id=b""
    )
    data = encode_transport_parameters(params)
    assert data == bytes.fromhex("0f00 2001 00 c0000000ff04de1b 01 00")
    assert parse_transport_parameters(data, from_server=False) == params


def test_preferred_address_absent_families_are_all_zero() -> None:
    address = PreferredAddress(None, 0, IPv6Address("::1"), 4433, b"\x01", TOKEN)
    params = TransportParameters(preferred_address=address, initial_source_connection_id=b"\x09")
    data = encode_transport_parameters(params)
    assert data[2:8] == bytes(6)  # 0.0.0.0:0
    assert parse_transport_parameters(data, from_server=True) == params
    wire = bytes(6 + 18) + b"\x01\x07" + TOKEN  # both families all-zero
    parsed = parse_transport_parameters(param(0x0D, wire), from_server=True).preferred_address
    assert parsed == PreferredAddress(None, 0, None, 0, b"\x07", TOKEN)


def test_preferred_address_zero_address_with_port_is_kept() -> None:
    wire = bytes(4) + b"\x00\x50" + bytes(18) + b"\x01\x07" + TOKEN
    parsed = parse_transport_parameters(param(0x0D, wire), from_server=True).preferred_address
    assert parsed is not None
    assert (parsed.ipv4_address, parsed.ipv4_port) == (IPv4Address(0), 80)


# -- unknown and reserved parameters -----------------------------------------------------------


@pytest.mark.parametrize("pid", [0x12, 0x21, 0x2AB3, 0x3FFF, 27, 58, 31 * 1000 + 27, 0x173E])
def test_unknown_parameters_are_ignored(pid: int) -> None:
    data = param(pid, b"\xff\xff\xff") + varint_param(0x04, 77) + param(pid + 1000, b"")
    assert parse_transport_parameters(data, from_server=False) == TransportParameters(
        initial_max_data=77
    )


def test_reserved_parameter_with_large_value_is_ignored() -> None:
    data = param(31 * 2**40 + 27, bytes(500))
    assert parse_transport_parameters(data, from_server=True) == TransportParameters()


# -- malformed encoding ------------------------------------------------------------------------


def test_truncated_parameter_id() -> None:
    assert_rejected(b"\x40", from_server=False, match="truncated")


def test_missing_length() -> None:
    assert_rejected(b"\x01", from_server=False, match="truncated")


def test_truncated_length() -> None:
    assert_rejected(b"\x01\x80\x00", from_server=False, match="truncated")


def test_value_longer_than_input() -> None:
    assert_rejected(bytes.fromhex("01 04 800075"), from_server=False, match="exceeds the input")


def test_unknown_parameter_value_longer_than_input() -> None:
    assert_rejected(bytes.fromhex("1b 05 0000"), from_server=False, match="exceeds the input")


def test_varint_value_shorter_than_length() -> None:
    assert_rejected(bytes.fromhex("04 02 05 00"), from_server=False, match="does not fill")


def test_varint_value_truncated_within_length() -> None:
    assert_rejected(bytes.fromhex("04 01 40"), from_server=False, match="initial_max_data")


def test_empty_varint_value() -> None:
    assert_rejected(bytes.fromhex("01 00"), from_server=False, match="max_idle_timeout_ms")


def test_input_larger_than_an_extension_can_carry() -> None:
    data = param(27, bytes(MAX_TRANSPORT_PARAMETERS_SIZE))  # 65535 + 4 bytes
    assert_rejected(data, from_server=False, match="exceed 65535")


# -- duplicates (RFC 9000 §7.4) ----------------------------------------------------------------


def test_duplicate_known_parameter() -> None:
    data = varint_param(0x04, 1) + varint_param(0x01, 1) + varint_param(0x04, 1)
    assert_rejected(data, from_server=False, match="duplicate transport parameter 0x4")


def test_duplicate_flag_parameter() -> None:
    assert_rejected(bytes.fromhex("0c00 0c00"), from_server=False, match="duplicate")


def test_duplicate_unknown_parameter() -> None:
    data = param(27, b"a") + param(27, b"b")
    assert_rejected(data, from_server=False, match="duplicate transport parameter 0x1b")


# -- server-only parameters (RFC 9000 §18.2) ---------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        param(0x00, b"\x01\x02"),
        param(0x02, TOKEN),
        param(0x0D, preferred_address_value()),
        param(0x10, b"\x01"),
    ],
    ids=["original_dcid", "stateless_reset_token", "preferred_address", "retry_scid"],
)
def test_server_only_parameter_from_client(data: bytes) -> None:
    assert_rejected(data, from_server=False, match="server-only")
    parse_transport_parameters(data, from_server=True)  # fine from a server


# -- integer limits (RFC 9000 §18.2, §4.6) -----------------------------------------------------


def test_ack_delay_exponent_above_20() -> None:
    assert parse_transport_parameters(varint_param(0x0A, 20), from_server=False) == (
        TransportParameters(ack_delay_exponent=20)
    )
    assert_rejected(varint_param(0x0A, 21), from_server=False, match="ack_delay_exponent")


def test_max_ack_delay_of_2_to_the_14() -> None:
    assert parse_transport_parameters(varint_param(0x0B, 2**14 - 1), from_server=False) == (
        TransportParameters(max_ack_delay_ms=2**14 - 1)
    )
    assert_rejected(varint_param(0x0B, 2**14), from_server=False, match="max_ack_delay_ms")


@pytest.mark.parametrize("limit", [0, 1])
def test_active_connection_id_limit_below_2(limit: int) -> None:
    assert_rejected(varint_param(0x0E, limit), from_server=True, match="active_connection_id_limit")


def test_active_connection_id_limit_of_2_is_accepted() -> None:
    parsed = parse_transport_parameters(varint_param(0x0E, 2), from_server=True)
    assert parsed.active_connection_id_limit == 2


def test_max_udp_payload_size_below_1200() -> None:
    parsed = parse_transport_parameters(varint_param(0x03, 1200), from_server=False)
    assert parsed.max_udp_payload_size == 1200
    assert_rejected(varint_param(0x03, 1199), from_server=False, match="max_udp_payload_size")


@pytest.mark.parametrize(("pid", "name"), [(0x08, "bidi"), (0x09, "uni")])
def test_initial_max_streams_above_2_to_the_60(pid: int, name: str) -> None:
    parsed = parse_transport_parameters(varint_param(pid, 2**60), from_server=False)
    assert getattr(parsed, f"initial_max_streams_{name}") == 2**60
    assert_rejected(varint_param(pid, 2**60 + 1), from_server=False, match=f"streams_{name}")


# -- byte-string parameters --------------------------------------------------------------------


@pytest.mark.parametrize("length", [0, 15, 17])
def test_stateless_reset_token_not_16_bytes(length: int) -> None:
    assert_rejected(param(0x02, bytes(length)), from_server=True, match="stateless_reset_token")


@pytest.mark.parametrize("pid", [0x00, 0x0F, 0x10])
def test_connection_id_over_20_bytes(pid: int) -> None:
    parse_transport_parameters(param(pid, bytes(20)), from_server=True)
    assert_rejected(param(pid, bytes(21)), from_server=True, match="exceeds 20")


def test_disable_active_migration_with_a_value() -> None:
    assert_rejected(bytes.fromhex("0c 01 00"), from_server=False, match="disable_active_migr")


def test_grease_quic_bit_with_a_value() -> None:
    assert_rejected(bytes.fromhex("6ab2 01 01"), from_server=True, match="grease_quic_bit")


# -- preferred_address (RFC 9000 §18.2) --------------------------------------------------------


def test_preferred_address_truncated() -> None:
    value = preferred_address_value()[:-1]
    assert_rejected(param(0x0D, value), from_server=True, match="preferred_address.*truncated")


def test_preferred_address_too_short_for_cid_length() -> None:
    value = bytes(24) + b"\x08" + b"\x01" * 4
    assert_rejected(param(0x0D, value), from_server=True, match="preferred_address.*truncated")


def test_preferred_address_trailing_bytes() -> None:
    value = preferred_address_value() + b"\x00"
    assert_rejected(param(0x0D, value), from_server=True, match="trailing")


def test_preferred_address_zero_length_connection_id() -> None:
    value = preferred_address_value(cid=b"")
    assert_rejected(param(0x0D, value), from_server=True, match="zero-length connection ID")


def test_preferred_address_connection_id_over_20_bytes() -> None:
    value = preferred_address_value(cid=bytes(21))
    assert_rejected(param(0x0D, value), from_server=True, match="exceeds 20")


def test_preferred_address_with_zero_length_initial_source_cid() -> None:
    data = param(0x0D, preferred_address_value()) + param(0x0F, b"")
    assert_rejected(data, from_server=True, match="zero-length connection ID")


# -- version_information (RFC 9368 §3, §4) -----------------------------------------------------


@pytest.mark.parametrize("length", [0, 3, 5, 6, 7, 9])
def test_version_information_length_not_multiple_of_4(length: int) -> None:
    value = (b"\x00\x00\x00\x01" * 3)[:length]
    assert_rejected(param(0x11, value), from_server=True, match="version_information")


def test_version_information_chosen_version_zero() -> None:
    value = bytes.fromhex("00000000 00000001")
    assert_rejected(param(0x11, value), from_server=True, match="chosen version is zero")


def test_version_information_available_version_zero() -> None:
    value = bytes.fromhex("00000001 00000001 00000000")
    assert_rejected(param(0x11, value), from_server=True, match="available version is zero")


def test_version_information_client_chosen_not_available() -> None:
    data = param(0x11, bytes.fromhex("00000001 6b3343cf"))
    assert_rejected(data, from_server=False, match="not among the available")
    server = parse_transport_parameters(data, from_server=True)
    assert server.version_information == VersionInformation(1, (0x6B3343CF,))


def test_version_information_server_may_send_no_available_versions() -> None:
    data = param(0x11, bytes.fromhex("00000001"))
    assert parse_transport_parameters(data, from_server=True).version_information == (
        VersionInformation(1, ())
    )
    assert_rejected(data, from_server=False, match="not among the available")


def test_version_information_keeps_reserved_versions() -> None:
    data = param(0x11, bytes.fromhex("00000001 1a2a3a4a 00000001"))
    parsed = parse_transport_parameters(data, from_server=False).version_information
    assert parsed == VersionInformation(1, (0x1A2A3A4A, 1))


# -- min_ack_delay (draft-ietf-quic-ack-frequency) ---------------------------------------------


def test_min_ack_delay_codepoint() -> None:
    assert int(TransportParameterId.MIN_ACK_DELAY) == 0xFF04DE1B


def test_min_ack_delay_above_default_max_ack_delay() -> None:
    ok = parse_transport_parameters(varint_param(0xFF04DE1B, 25_000), from_server=False)
    assert ok.min_ack_delay_us == 25_000  # default max_ack_delay is 25 ms
    assert_rejected(varint_param(0xFF04DE1B, 25_001), from_server=False, match="min_ack_delay")


def test_min_ack_delay_above_explicit_max_ack_delay_in_either_order() -> None:
    min_ack = varint_param(0xFF04DE1B, 5_001)
    max_ack = varint_param(0x0B, 5)
    assert_rejected(min_ack + max_ack, from_server=True, match="exceeds max_ack_delay")
    assert_rejected(max_ack + min_ack, from_server=True, match="exceeds max_ack_delay")
    ok = parse_transport_parameters(max_ack + varint_param(0xFF04DE1B, 5_000), from_server=True)
    assert (ok.max_ack_delay_ms, ok.min_ack_delay_us) == (5, 5_000)


def test_min_ack_delay_malformed_value() -> None:
    assert_rejected(param(0xFF04DE1B, b"\x05\x05"), from_server=False, match="does not fill")


# -- encoder -----------------------------------------------------------------------------------


def test_grease_parameters_are_appended_in_order() -> None:
    params = TransportParameters(initial_max_data=5)
    data = encode_transport_parameters(params, grease=[(58, b"xy"), (27, b"")])
    assert data == bytes.fromhex("04 01 05 3a 02 7879 1b 00")
    assert parse_transport_parameters(data, from_server=False) == params


@pytest.mark.parametrize("pid", [0, 26, 28, 0x2AB2, 2**62])
def test_grease_with_non_reserved_id_is_refused(pid: int) -> None:
    with pytest.raises(ValueError, match="31 \\* N \\+ 27"):
        encode_transport_parameters(TransportParameters(), grease=[(pid, b"")])


def test_grease_with_repeated_id_is_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        encode_transport_parameters(TransportParameters(), grease=[(27, b""), (27, b"a")])


# -- grease_parameter and reserved ids (RFC 9000 §18.1) ----------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 0x7F, 0xFF])
def test_grease_parameter_has_reserved_id(seed: int) -> None:
    def random_bytes(n: int) -> bytes:
        return bytes([seed]) * n

    pid, value = grease_parameter(random_bytes)
    assert is_reserved_parameter_id(pid)
    assert (pid - 27) % 31 == 0
    assert 27 <= pid < 2**62
    assert len(value) <= 16
    assert value == bytes([seed]) * len(value)
    data = encode_transport_parameters(TransportParameters(), grease=[(pid, value)])
    assert parse_transport_parameters(data, from_server=False) == TransportParameters()


def test_grease_parameter_uses_only_injected_randomness() -> None:
    requests: list[int] = []

    def random_bytes(n: int) -> bytes:
        requests.append(n)
        return bytes(range(3, 3 + n))

    first = grease_parameter(random_bytes)
    assert first == grease_parameter(random_bytes)  # deterministic given its source
    n = int.from_bytes(bytes(range(3, 11)), "big") % ((2**62 - 1 - 27) // 31 + 1)
    assert first == (31 * n + 27, b"\x03\x04\x05")  # length byte 3 -> 3 % 17 = 3
    assert requests == [8, 1, 3, 8, 1, 3]


def test_grease_parameter_value_length_varies() -> None:
    lengths = set()
    for length_byte in range(40):

        def random_bytes(n: int, length_byte: int = length_byte) -> bytes:
            return bytes([length_byte]) * n

        lengths.add(len(grease_parameter(random_bytes)[1]))
    assert lengths == set(range(17))


def test_grease_parameter_rejects_short_random_source() -> None:
    with pytest.raises(ValueError, match="returned"):
        grease_parameter(lambda n: b"\x00")


def test_is_reserved_parameter_id() -> None:
    assert [pid for pid in range(200) if is_reserved_parameter_id(pid)] == [
        27,
        58,
        89,
        120,
        151,
        182,
    ]
    assert not any(is_reserved_parameter_id(pid) for pid in TransportParameterId)


# -- dataclass invariants ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"ack_delay_exponent": 21},
        {"max_ack_delay_ms": 2**14},
        {"active_connection_id_limit": 1},
        {"max_udp_payload_size": 1199},
        {"initial_max_streams_bidi": 2**60 + 1},
        {"initial_max_data": -1},
        {"initial_max_data": 2**62},
        {"stateless_reset_token": bytes(15)},
        {"initial_source_connection_id": bytes(21)},
        {"min_ack_delay_us": 25_001},
        {"max_idle_timeout_ms": True},
        {"disable_active_migration": 1},
    ],
)
def test_invalid_values_cannot_be_constructed(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        replace(TransportParameters(), **changes)


def test_preferred_address_needs_nonempty_initial_source_cid() -> None:
    address = PreferredAddress(IPv4Address("192.0.2.1"), 443, None, 0, b"\x01", TOKEN)
    with pytest.raises(ValueError, match="zero-length"):
        TransportParameters(preferred_address=address, initial_source_connection_id=b"")


@pytest.mark.parametrize(
    "args",
    [
        (None, 1, None, 0, b"\x01", TOKEN),  # port without address
        (IPv4Address(0), 0, None, 0, b"\x01", TOKEN),  # all-zero means None
        (None, 0, IPv6Address(0), 0, b"\x01", TOKEN),
        (IPv4Address("192.0.2.1"), 65536, None, 0, b"\x01", TOKEN),
        (None, 0, None, 0, b"", TOKEN),
        (None, 0, None, 0, bytes(21), TOKEN),
        (None, 0, None, 0, b"\x01", bytes(15)),
    ],
)
def test_invalid_preferred_address_cannot_be_constructed(args: tuple[object, ...]) -> None:
    with pytest.raises(ValueError):
        PreferredAddress(*args)  # type: ignore[arg-type]


@pytest.mark.parametrize("args", [(0, (1,)), (1, (0,)), (2**32, ()), (1, (2**32,))])
def test_invalid_version_information_cannot_be_constructed(args: tuple[int, tuple[int]]) -> None:
    with pytest.raises(ValueError):
        VersionInformation(*args)


def test_every_field_has_its_own_parameter_id() -> None:
    server_fields = (
        "original_destination_connection_id",
        "stateless_reset_token",
        "preferred_address",
        "retry_source_connection_id",
    )
    everything = replace(
        CLIENT_PARAMS, **{name: getattr(SERVER_PARAMS, name) for name in server_fields}
    )
    assert all(getattr(everything, f.name) != f.default for f in fields(TransportParameters))
    data = encode_transport_parameters(everything)
    reader = Reader(data)
    ids = []
    while not reader.eof():
        ids.append(reader.pull_varint())
        reader.skip(reader.pull_varint())
    assert ids == sorted(TransportParameterId)
    assert parse_transport_parameters(data, from_server=True) == everything
