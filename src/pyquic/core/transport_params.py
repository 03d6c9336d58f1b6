"""QUIC transport parameters: encode and parse the quic_transport_parameters extension body.

A pure, deterministic codec between bytes and the immutable :class:`TransportParameters` value
(RFC 9000 §7.4 and §18; RFC 9221 §3; RFC 9287 §3; RFC 9368 §3; draft-ietf-quic-ack-frequency
§3, "Negotiating Extension Use").

Design: one table (``_PARAMS``) keyed by parameter id says, for every known parameter, which
dataclass field holds it, its wire kind (varint, connection ID, 16-byte token, empty flag, or one
of the two structured values) and its value rule.  The parser, the encoder and the dataclass
invariants all walk that table, so each rule is written once.  A :class:`TransportParameters`
value is always valid in itself (``__post_init__`` raises ValueError otherwise); the rules that
depend on who sent the parameters (server-only parameters, the client's Chosen Version being
among its Available Versions) are checked by :func:`parse_transport_parameters` only, which turns
every violation into ``QuicError(TRANSPORT_PARAMETER_ERROR)``.

Absent parameters take the RFC defaults.  Optional features whose mere presence matters
(connection IDs, token, preferred address, version information, max_datagram_frame_size,
min_ack_delay) are ``None`` when absent, so "absent" and "present with value 0 / empty" differ.
The encoder omits every parameter equal to its default.  The input is bounded by the 16-bit
length of the TLS extension that carries it (RFC 8446 §4.2): longer input is rejected.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from enum import Enum, IntEnum
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from pyquic.core.buffer import BytesLike, Reader
from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.core.varint import VARINT_MAX, decode_varint_at, encode_varint, push_varint

__all__ = [
    "MAX_TRANSPORT_PARAMETERS_SIZE",
    "PreferredAddress",
    "TransportParameterId",
    "TransportParameters",
    "VersionInformation",
    "encode_transport_parameters",
    "grease_parameter",
    "is_reserved_parameter_id",
    "parse_transport_parameters",
]

# The extension_data of a TLS extension has a 16-bit length (RFC 8446 §4.2).
MAX_TRANSPORT_PARAMETERS_SIZE = 0xFFFF

_TPE = TransportErrorCode.TRANSPORT_PARAMETER_ERROR
_MAX_CID_LENGTH = 20  # RFC 9000 §17.2: connection IDs of QUIC version 1 are at most 20 bytes
_TOKEN_LENGTH = 16  # RFC 9000 §10.3: a stateless reset token is 16 bytes
_MAX_GREASE_VALUE_LENGTH = 16  # our choice: reserved parameters carry 0..16 random bytes
_MAX_GREASE_N = (VARINT_MAX - 27) // 31  # largest N with 31 * N + 27 still a varint


class TransportParameterId(IntEnum):
    """Identifiers of the known transport parameters (RFC 9000 §18.2 and the extensions)."""

    ORIGINAL_DESTINATION_CONNECTION_ID = 0x00
    MAX_IDLE_TIMEOUT = 0x01
    STATELESS_RESET_TOKEN = 0x02
    MAX_UDP_PAYLOAD_SIZE = 0x03
    INITIAL_MAX_DATA = 0x04
    INITIAL_MAX_STREAM_DATA_BIDI_LOCAL = 0x05
    INITIAL_MAX_STREAM_DATA_BIDI_REMOTE = 0x06
    INITIAL_MAX_STREAM_DATA_UNI = 0x07
    INITIAL_MAX_STREAMS_BIDI = 0x08
    INITIAL_MAX_STREAMS_UNI = 0x09
    ACK_DELAY_EXPONENT = 0x0A
    MAX_ACK_DELAY = 0x0B
    DISABLE_ACTIVE_MIGRATION = 0x0C
    PREFERRED_ADDRESS = 0x0D
    ACTIVE_CONNECTION_ID_LIMIT = 0x0E
    INITIAL_SOURCE_CONNECTION_ID = 0x0F
    RETRY_SOURCE_CONNECTION_ID = 0x10
    VERSION_INFORMATION = 0x11  # RFC 9368 §10.1
    MAX_DATAGRAM_FRAME_SIZE = 0x20  # RFC 9221 §3
    GREASE_QUIC_BIT = 0x2AB2  # RFC 9287 §3
    MIN_ACK_DELAY = 0xFF04DE1B  # draft-ietf-quic-ack-frequency, "Negotiating Extension Use"


def is_reserved_parameter_id(parameter_id: int) -> bool:
    """Whether ``parameter_id`` has the reserved form 31 * N + 27 (RFC 9000 §18.1)."""
    return parameter_id >= 27 and (parameter_id - 27) % 31 == 0


def _cid_violation(cid: bytes, what: str) -> str | None:
    if len(cid) > _MAX_CID_LENGTH:  # RFC 9000 §17.2
        return f"{what} of {len(cid)} bytes exceeds {_MAX_CID_LENGTH}"
    return None


@dataclass(frozen=True, slots=True)
class PreferredAddress:
    """The server's preferred_address (RFC 9000 §18.2, §9.6).

    An address family the server does not offer is ``None`` with port 0; on the wire it is the
    all-zero address and port (0.0.0.0:0 or [::]:0).  A zero address with a non-zero port, or a
    non-zero address with port 0, is carried as is.  Hence the all-zero pair itself cannot be
    given as an address: pass ``None``.  ``connection_id`` is 1..20 bytes (a zero-length one is
    forbidden by §18.2), ``stateless_reset_token`` exactly 16 bytes.
    """

    ipv4_address: IPv4Address | None
    ipv4_port: int
    ipv6_address: IPv6Address | None
    ipv6_port: int
    connection_id: bytes
    stateless_reset_token: bytes

    def __post_init__(self) -> None:
        for address, port, family, zero in (
            (self.ipv4_address, self.ipv4_port, "IPv4", IPv4Address(0)),
            (self.ipv6_address, self.ipv6_port, "IPv6", IPv6Address(0)),
        ):
            if not 0 <= port <= 0xFFFF:
                raise ValueError(f"preferred_address {family} port {port} is not 0..65535")
            if address is None and port != 0:
                raise ValueError(f"preferred_address without an {family} address needs port 0")
            if address == zero and port == 0:
                raise ValueError(f"an all-zero {family} preferred_address means absent: use None")
        if not self.connection_id:  # RFC 9000 §18.2
            raise ValueError("preferred_address connection ID must not be empty")
        violation = _cid_violation(self.connection_id, "preferred_address connection ID")
        if violation:
            raise ValueError(violation)
        if len(self.stateless_reset_token) != _TOKEN_LENGTH:  # RFC 9000 §18.2
            raise ValueError("preferred_address stateless reset token must be 16 bytes")


@dataclass(frozen=True, slots=True)
class VersionInformation:
    """The version_information parameter (RFC 9368 §3): a Chosen Version and Available Versions.

    Versions are non-zero 32-bit numbers.  Whether the Chosen Version must be among the Available
    Versions depends on the sender (RFC 9368 §4: it must when a client sends it), so that rule is
    checked when parsing, not here.
    """

    chosen_version: int
    available_versions: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for version in (self.chosen_version, *self.available_versions):
            if not 0 < version <= 0xFFFFFFFF:  # RFC 9368 §4: a zero version is a parse failure
                raise ValueError(f"version {version:#x} is not a non-zero 32-bit number")


@dataclass(frozen=True, slots=True)
class TransportParameters:
    """One endpoint's transport parameters; absent ones hold the RFC defaults (RFC 9000 §18.2).

    Connection IDs, tokens and the optional extensions are ``None`` when absent.  A value of this
    class satisfies every per-parameter rule (and min_ack_delay <= max_ack_delay, and no preferred
    address with a zero-length initial_source_connection_id); construction raises ValueError
    otherwise.  Server-only fields must stay ``None`` in a client's parameters.
    """

    original_destination_connection_id: bytes | None = None  # server only
    max_idle_timeout_ms: int = 0
    stateless_reset_token: bytes | None = None  # server only
    max_udp_payload_size: int = 65527
    initial_max_data: int = 0
    initial_max_stream_data_bidi_local: int = 0
    initial_max_stream_data_bidi_remote: int = 0
    initial_max_stream_data_uni: int = 0
    initial_max_streams_bidi: int = 0
    initial_max_streams_uni: int = 0
    ack_delay_exponent: int = 3
    max_ack_delay_ms: int = 25
    disable_active_migration: bool = False
    preferred_address: PreferredAddress | None = None  # server only
    active_connection_id_limit: int = 2
    initial_source_connection_id: bytes | None = None
    retry_source_connection_id: bytes | None = None  # server only
    version_information: VersionInformation | None = None  # RFC 9368
    max_datagram_frame_size: int | None = None  # RFC 9221; None: DATAGRAM not supported
    grease_quic_bit: bool = False  # RFC 9287
    min_ack_delay_us: int | None = None  # ack-frequency draft; None: extension not supported

    def __post_init__(self) -> None:
        if not _all_values_valid(self):  # the common case costs one pass without calls
            for param in _PARAMS.values():
                violation = _value_violation(param, getattr(self, param.name))
                if violation:
                    raise ValueError(f"{param.name}: {violation}")
        violation = _cross_violation(self)
        if violation:
            raise ValueError(violation)


class _Kind(Enum):
    """How a parameter's value is laid out on the wire."""

    VARINT = "varint"
    CID = "cid"
    BYTES16 = "bytes16"
    FLAG = "flag"  # zero-length value, present or absent
    PREFERRED_ADDRESS = "preferred_address"
    VERSION_INFORMATION = "version_information"


@dataclass(frozen=True, slots=True)
class _Bound:
    """An extra rule on a varint value: at least ``minimum``, at most ``maximum``."""

    minimum: int
    maximum: int
    section: str  # where the rule is written

    def violation(self, value: int) -> str | None:
        if value > self.maximum:
            return f"{value} exceeds {self.maximum} ({self.section})"
        if value < self.minimum:
            return f"{value} is below {self.minimum} ({self.section})"
        return None


@dataclass(frozen=True, slots=True)
class _Param:
    name: str  # the TransportParameters field
    kind: _Kind
    server_only: bool = False  # RFC 9000 §18.2: a server rejects these from a client
    rule: _Bound | None = None  # extra rule on a varint value


def _at_most(limit: int, section: str) -> _Bound:
    return _Bound(0, limit, section)


def _at_least(limit: int, section: str) -> _Bound:
    return _Bound(limit, VARINT_MAX, section)


_P = TransportParameterId
_PARAMS: dict[int, _Param] = {
    _P.ORIGINAL_DESTINATION_CONNECTION_ID: _Param(
        "original_destination_connection_id", _Kind.CID, server_only=True
    ),
    _P.MAX_IDLE_TIMEOUT: _Param("max_idle_timeout_ms", _Kind.VARINT),
    _P.STATELESS_RESET_TOKEN: _Param("stateless_reset_token", _Kind.BYTES16, server_only=True),
    # RFC 9000 §18.2: max_udp_payload_size values below 1200 are invalid
    _P.MAX_UDP_PAYLOAD_SIZE: _Param(
        "max_udp_payload_size", _Kind.VARINT, rule=_at_least(1200, "RFC 9000 §18.2")
    ),
    _P.INITIAL_MAX_DATA: _Param("initial_max_data", _Kind.VARINT),
    _P.INITIAL_MAX_STREAM_DATA_BIDI_LOCAL: _Param(
        "initial_max_stream_data_bidi_local", _Kind.VARINT
    ),
    _P.INITIAL_MAX_STREAM_DATA_BIDI_REMOTE: _Param(
        "initial_max_stream_data_bidi_remote", _Kind.VARINT
    ),
    _P.INITIAL_MAX_STREAM_DATA_UNI: _Param("initial_max_stream_data_uni", _Kind.VARINT),
    # RFC 9000 §4.6: a stream limit above 2^60 is a TRANSPORT_PARAMETER_ERROR
    _P.INITIAL_MAX_STREAMS_BIDI: _Param(
        "initial_max_streams_bidi", _Kind.VARINT, rule=_at_most(1 << 60, "RFC 9000 §4.6")
    ),
    _P.INITIAL_MAX_STREAMS_UNI: _Param(
        "initial_max_streams_uni", _Kind.VARINT, rule=_at_most(1 << 60, "RFC 9000 §4.6")
    ),
    # RFC 9000 §18.2: ack_delay_exponent values above 20 are invalid
    _P.ACK_DELAY_EXPONENT: _Param(
        "ack_delay_exponent", _Kind.VARINT, rule=_at_most(20, "RFC 9000 §18.2")
    ),
    # RFC 9000 §18.2: max_ack_delay values of 2^14 or greater are invalid
    _P.MAX_ACK_DELAY: _Param(
        "max_ack_delay_ms", _Kind.VARINT, rule=_at_most((1 << 14) - 1, "RFC 9000 §18.2")
    ),
    _P.DISABLE_ACTIVE_MIGRATION: _Param("disable_active_migration", _Kind.FLAG),
    _P.PREFERRED_ADDRESS: _Param("preferred_address", _Kind.PREFERRED_ADDRESS, server_only=True),
    # RFC 9000 §18.2: active_connection_id_limit MUST be at least 2
    _P.ACTIVE_CONNECTION_ID_LIMIT: _Param(
        "active_connection_id_limit", _Kind.VARINT, rule=_at_least(2, "RFC 9000 §18.2")
    ),
    _P.INITIAL_SOURCE_CONNECTION_ID: _Param("initial_source_connection_id", _Kind.CID),
    _P.RETRY_SOURCE_CONNECTION_ID: _Param(
        "retry_source_connection_id", _Kind.CID, server_only=True
    ),
    _P.VERSION_INFORMATION: _Param("version_information", _Kind.VERSION_INFORMATION),
    _P.MAX_DATAGRAM_FRAME_SIZE: _Param("max_datagram_frame_size", _Kind.VARINT),
    _P.GREASE_QUIC_BIT: _Param("grease_quic_bit", _Kind.FLAG),
    _P.MIN_ACK_DELAY: _Param("min_ack_delay_us", _Kind.VARINT),
}


def _value_violation(param: _Param, value: object) -> str | None:
    """What is wrong with ``value`` for ``param`` in itself, or None; ``None`` means absent."""
    if value is None:
        return None
    kind = param.kind
    if kind is _Kind.VARINT:
        if not isinstance(value, int) or isinstance(value, bool):
            return f"expected an integer, got {type(value).__name__}"
        if not 0 <= value <= VARINT_MAX:  # RFC 9000 §16
            return f"{value} is not a variable-length integer"
        return param.rule.violation(value) if param.rule else None
    if kind is _Kind.CID:
        if not isinstance(value, bytes):
            return f"expected bytes, got {type(value).__name__}"
        return _cid_violation(value, "connection ID")
    if kind is _Kind.BYTES16:  # RFC 9000 §18.2: a sequence of 16 bytes
        if not isinstance(value, bytes) or len(value) != _TOKEN_LENGTH:
            return "expected 16 bytes"
        return None
    expected: type = {
        _Kind.FLAG: bool,
        _Kind.PREFERRED_ADDRESS: PreferredAddress,
        _Kind.VERSION_INFORMATION: VersionInformation,
    }[kind]
    if not isinstance(value, expected):
        return f"expected {expected.__name__}, got {type(value).__name__}"
    return None


def _fast_check(param: _Param) -> tuple[str, _Kind, int, int, type]:
    """The row of ``_FAST_CHECKS`` for ``param``: name, kind, bounds and expected type."""
    low, high = 0, VARINT_MAX  # RFC 9000 §16: a varint is 0..2^62-1
    if param.kind is _Kind.VARINT and param.rule is not None:
        low, high = max(low, param.rule.minimum), min(high, param.rule.maximum)
    elif param.kind is _Kind.CID:
        high = _MAX_CID_LENGTH  # RFC 9000 §17.2
    elif param.kind is _Kind.BYTES16:
        low = high = _TOKEN_LENGTH  # RFC 9000 §18.2
    expected: type = {
        _Kind.VARINT: int,
        _Kind.CID: bytes,
        _Kind.BYTES16: bytes,
        _Kind.FLAG: bool,
        _Kind.PREFERRED_ADDRESS: PreferredAddress,
        _Kind.VERSION_INFORMATION: VersionInformation,
    }[param.kind]
    return param.name, param.kind, low, high, expected


_FAST_CHECKS = tuple(_fast_check(param) for param in _PARAMS.values())
_VARINT_BOUNDS = {name: (low, high) for name, kind, low, high, _ in _FAST_CHECKS}
# RFC 9000 §16: the two high bits of the first byte encode the length, the rest is the value


def _all_values_valid(params: TransportParameters) -> bool:
    """Whether every value passes ``_value_violation``, the same rules in one loop.

    False may also mean "not sure" (an int subclass): the caller then asks ``_value_violation``.
    """
    varint, cid, bytes16 = _Kind.VARINT, _Kind.CID, _Kind.BYTES16
    for name, kind, low, high, expected in _FAST_CHECKS:
        value = getattr(params, name)
        if value is None:
            continue
        if kind is varint:
            if type(value) is not int or not low <= value <= high:
                return False
        elif kind is cid or kind is bytes16:
            if type(value) is not bytes or not low <= len(value) <= high:
                return False
        elif not isinstance(value, expected):
            return False
    return True


def _cross_violation(params: TransportParameters) -> str | None:
    """Rules that tie two parameters together, or None."""
    min_ack_delay = params.min_ack_delay_us
    if min_ack_delay is not None and min_ack_delay > params.max_ack_delay_ms * 1000:
        # ack-frequency draft, "Negotiating Extension Use": min_ack_delay (in microseconds)
        # greater than max_ack_delay (in milliseconds) is a TRANSPORT_PARAMETER_ERROR
        return (
            f"min_ack_delay {min_ack_delay} us exceeds max_ack_delay {params.max_ack_delay_ms} ms"
        )
    if params.preferred_address is not None and params.initial_source_connection_id == b"":
        # RFC 9000 §18.2: a server using a zero-length connection ID MUST NOT send a
        # preferred address
        return "preferred_address sent with a zero-length connection ID"
    return None


# ---------------------------------------------------------------------------------------------
# Parsing


def _decode_varint(reader: Reader, param: _Param, from_server: bool) -> int:
    value = reader.pull_varint()
    if not reader.eof():  # RFC 9000 §18: the value field must hold exactly the integer
        raise reader.fail(f"varint value does not fill its length ({reader.remaining()} left)")
    return value


def _decode_cid(reader: Reader, param: _Param, from_server: bool) -> bytes:
    return reader.pull_rest()  # the length check is the value rule


def _decode_bytes16(reader: Reader, param: _Param, from_server: bool) -> bytes:
    if reader.remaining() != _TOKEN_LENGTH:  # RFC 9000 §18.2: a sequence of 16 bytes
        raise reader.fail(f"expected 16 bytes, got {reader.remaining()}")
    return reader.pull_rest()


def _decode_flag(reader: Reader, param: _Param, from_server: bool) -> bool:
    # RFC 9000 §18.2 (disable_active_migration), RFC 9287 §3 (grease_quic_bit): empty value
    if not reader.eof():
        raise reader.fail(f"expected an empty value, got {reader.remaining()} bytes")
    return True


def _decode_port_pair(reader: Reader, size: int) -> tuple[int, int]:
    return reader.pull_uint(size), reader.pull_uint16()


def _decode_preferred_address(reader: Reader, param: _Param, from_server: bool) -> PreferredAddress:
    # RFC 9000 §18.2, Figure 22
    ipv4, ipv4_port = _decode_port_pair(reader, 4)
    ipv6, ipv6_port = _decode_port_pair(reader, 16)
    cid_length = reader.pull_uint8()
    if cid_length == 0:  # RFC 9000 §18.2: MUST NOT include a zero-length connection ID
        raise reader.fail("zero-length connection ID")
    if cid_length > _MAX_CID_LENGTH:  # RFC 9000 §17.2
        raise reader.fail(f"connection ID of {cid_length} bytes exceeds {_MAX_CID_LENGTH}")
    cid = reader.pull_bytes(cid_length)
    token = reader.pull_bytes(_TOKEN_LENGTH)
    if not reader.eof():
        raise reader.fail(f"{reader.remaining()} trailing bytes")
    absent4 = ipv4 == 0 and ipv4_port == 0  # RFC 9000 §18.2: all-zero address and port
    absent6 = ipv6 == 0 and ipv6_port == 0
    return PreferredAddress(
        ipv4_address=None if absent4 else IPv4Address(ipv4),
        ipv4_port=ipv4_port,
        ipv6_address=None if absent6 else IPv6Address(ipv6),
        ipv6_port=ipv6_port,
        connection_id=cid,
        stateless_reset_token=token,
    )


def _decode_version_information(
    reader: Reader, param: _Param, from_server: bool
) -> VersionInformation:
    # RFC 9368 §4: too short, or a length not divisible by four, is a parsing failure
    length = reader.remaining()
    if length < 4 or length % 4:
        raise reader.fail(f"length {length} is not a non-zero multiple of 4")
    chosen = reader.pull_uint32()
    available = tuple(reader.pull_uint32() for _ in range(length // 4 - 1))
    if chosen == 0:  # RFC 9368 §4
        raise reader.fail("chosen version is zero")
    if 0 in available:  # RFC 9368 §4
        raise reader.fail("an available version is zero")
    if not from_server and chosen not in available:
        # RFC 9368 §4: a server treats a client's Chosen Version missing from its Available
        # Versions as a parsing failure
        raise reader.fail(f"chosen version {chosen:#010x} not among the available versions")
    return VersionInformation(chosen, available)


_Decoder = Callable[[Reader, _Param, bool], object]
_DECODERS: dict[_Kind, _Decoder] = {
    _Kind.VARINT: _decode_varint,
    _Kind.CID: _decode_cid,
    _Kind.BYTES16: _decode_bytes16,
    _Kind.FLAG: _decode_flag,
    _Kind.PREFERRED_ADDRESS: _decode_preferred_address,
    _Kind.VERSION_INFORMATION: _decode_version_information,
}


def _decode_known(reader: Reader, pid: int, param: _Param, from_server: bool) -> object:
    """Decode and check one known parameter's value; errors name the parameter."""
    if param.server_only and not from_server:
        # RFC 9000 §18.2: a server MUST treat a server-only parameter from a client as an error
        raise QuicError(_TPE, f"{param.name} ({pid:#x}) is server-only but was sent by a client")
    try:
        value = _DECODERS[param.kind](reader, param, from_server)
    except QuicError as exc:
        raise QuicError(_TPE, f"{param.name} ({pid:#x}): {exc.reason}") from exc
    violation = _value_violation(param, value)
    if violation:  # RFC 9000 §7.4: an invalid value is a TRANSPORT_PARAMETER_ERROR
        raise QuicError(_TPE, f"{param.name} ({pid:#x}): {violation}")
    return value


def _decode_valid_varint(data: BytesLike, start: int, length: int, param: _Param) -> int | None:
    """A varint parameter's value if it fills the value field exactly and passes its rules
    (RFC 9000 §16, §18); None when ``_decode_known`` must decide (and name the error)."""
    if param.kind is not _Kind.VARINT or param.server_only or length == 0:
        return None
    value, stop = decode_varint_at(data, start)
    if stop - start != length:
        return None
    low, high = _VARINT_BOUNDS[param.name]
    return value if low <= value <= high else None


def parse_transport_parameters(data: BytesLike, *, from_server: bool) -> TransportParameters:
    """Parse the body of a quic_transport_parameters extension (RFC 9000 §18).

    ``from_server`` says who sent it: a client's parameters may not carry the server-only ones.
    Unknown parameters, reserved ones included, are ignored (RFC 9000 §7.4.2) but still count for
    the duplicate check.  Every failure raises ``QuicError(TRANSPORT_PARAMETER_ERROR)``.
    """
    if len(data) > MAX_TRANSPORT_PARAMETERS_SIZE:  # RFC 8446 §4.2: 16-bit extension length
        raise QuicError(_TPE, f"{len(data)} bytes of transport parameters exceed 65535")
    reader = Reader(data, _TPE)
    seen: set[int] = set()
    values: dict[str, Any] = {}  # field name -> checked value
    while not reader.eof():
        pid = reader.pull_varint()
        length = reader.pull_varint()
        start = reader.position
        if length > reader.remaining():  # RFC 9000 §18: the value must fit in the input
            raise QuicError(_TPE, f"parameter {pid:#x}: length {length} exceeds the input")
        reader.skip(length)
        if pid in seen:  # RFC 9000 §7.4: duplicates are a TRANSPORT_PARAMETER_ERROR
            raise QuicError(_TPE, f"duplicate transport parameter {pid:#x}")
        seen.add(pid)
        param = _PARAMS.get(pid)
        if param is None:  # RFC 9000 §7.4.2: ignore parameters we do not support
            continue
        value: object = _decode_valid_varint(data, start, length, param)
        if value is None:  # anything else, and every error, goes the general way
            value_reader = Reader(data, _TPE, start, start + length)
            value = _decode_known(value_reader, pid, param, from_server)
        values[param.name] = value
    try:
        return TransportParameters(**values)
    except ValueError as exc:  # only the cross-parameter rules are left to fail here
        raise QuicError(_TPE, str(exc)) from exc


# ---------------------------------------------------------------------------------------------
# Encoding


def _encode_preferred_address(address: PreferredAddress) -> bytes:
    # RFC 9000 §18.2, Figure 22; an absent family is the all-zero address and port
    ipv4 = IPv4Address(0) if address.ipv4_address is None else address.ipv4_address
    ipv6 = IPv6Address(0) if address.ipv6_address is None else address.ipv6_address
    cid = address.connection_id
    return b"".join(
        (
            ipv4.packed,
            address.ipv4_port.to_bytes(2, "big"),
            ipv6.packed,
            address.ipv6_port.to_bytes(2, "big"),
            bytes((len(cid),)),
            cid,
            address.stateless_reset_token,
        )
    )


def _encode_version_information(info: VersionInformation) -> bytes:
    # RFC 9368 §3, Figure 3
    versions = (info.chosen_version, *info.available_versions)
    return b"".join(version.to_bytes(4, "big") for version in versions)


def _encode_flag(value: bool) -> bytes:
    return b""  # only called when True: a flag is present with an empty value


_ENCODERS: dict[_Kind, Callable[[Any], bytes]] = {
    _Kind.VARINT: encode_varint,
    _Kind.CID: bytes,
    _Kind.BYTES16: bytes,
    _Kind.FLAG: _encode_flag,
    _Kind.PREFERRED_ADDRESS: _encode_preferred_address,
    _Kind.VERSION_INFORMATION: _encode_version_information,
}


def encode_transport_parameters(
    params: TransportParameters, *, grease: Sequence[tuple[int, bytes]] = ()
) -> bytes:
    """Encode ``params`` (RFC 9000 §18), omitting every parameter at its default or absent.

    Known parameters come in id order, then the ``grease`` parameters in the order given.  These
    must have reserved ids (31 * N + 27, RFC 9000 §18.1), distinct from each other; otherwise
    ValueError.  The encoder does not know the sender's role: a client must leave the server-only
    fields ``None``.
    """
    out = bytearray()
    for encoded_id, name, default, encoder in _ENCODE_TABLE:
        value = getattr(params, name)
        if value == default:
            continue
        body = encoder(value)
        out += encoded_id
        push_varint(out, len(body))
        out += body
    seen: set[int] = set()
    for pid, body in grease:
        if not 0 <= pid <= VARINT_MAX or not is_reserved_parameter_id(pid):
            raise ValueError(f"grease parameter id {pid:#x} is not of the form 31 * N + 27")
        if pid in seen:  # RFC 9000 §7.4: a parameter MUST NOT be sent more than once
            raise ValueError(f"grease parameter id {pid:#x} given twice")
        seen.add(pid)
        push_varint(out, pid)
        push_varint(out, len(body))
        out += body
    return bytes(out)


def _draw(random_bytes: Callable[[int], bytes], count: int) -> bytes:
    data = random_bytes(count)
    if len(data) != count:
        raise ValueError(f"random_bytes({count}) returned {len(data)} bytes")
    return data


def grease_parameter(random_bytes: Callable[[int], bytes]) -> tuple[int, bytes]:
    """One reserved parameter (RFC 9000 §18.1): id 31 * N + 27 and a 0..16-byte random value.

    ``random_bytes(n)`` must return ``n`` random bytes; the core draws no randomness itself.  N
    spans every id that fits in a variable-length integer.
    """
    n = int.from_bytes(_draw(random_bytes, 8), "big") % (_MAX_GREASE_N + 1)
    length = _draw(random_bytes, 1)[0] % (_MAX_GREASE_VALUE_LENGTH + 1)
    return 31 * n + 27, _draw(random_bytes, length)


_DEFAULTS = TransportParameters()
# per known parameter, in id order: the encoded id, the field, its default and its encoder
_ENCODE_TABLE = tuple(
    (encode_varint(pid), param.name, getattr(_DEFAULTS, param.name), _ENCODERS[param.kind])
    for pid, param in _PARAMS.items()
)
assert {param.name for param in _PARAMS.values()} == {f.name for f in fields(_DEFAULTS)}
