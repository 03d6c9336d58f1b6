"""Property tests of the transport parameters codec (RFC 9000 §18).

Three properties: encoding then parsing valid parameters is the identity; parsing arbitrary bytes
raises nothing but TRANSPORT_PARAMETER_ERROR; and the same for well-formed (id, length, value)
sequences over the known ids, so that every validation path is reached.  Whatever parses also
re-encodes to something that parses back to the same value.

Speed: each example is built from a single Hypothesis-drawn byte string read by :class:`Choices`
rather than from one Hypothesis draw per field.  Per-draw overhead made the field-by-field
strategies take about a minute for 10,000 examples; one draw per example takes seconds, and
Hypothesis still shrinks the string (toward zero bytes: absent parameters, minimal values).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from ipaddress import IPv4Address, IPv6Address
from typing import Any, TypeVar

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.core.transport_params import (
    PreferredAddress,
    TransportParameterId,
    TransportParameters,
    VersionInformation,
    encode_transport_parameters,
    parse_transport_parameters,
)
from pyquic.core.varint import VARINT_MAX, encode_varint

T = TypeVar("T")

MANY = settings(
    max_examples=10_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
BLOBS = st.binary(min_size=512, max_size=512)  # room for the largest example (~500 bytes)


class Choices:
    """Decisions read in order from one byte string; reads past its end give zeros."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def take(self, size: int) -> bytes:
        chunk = self._data[self._pos : self._pos + size]
        self._pos += size
        return chunk.ljust(size, b"\0")

    def flag(self) -> bool:
        return bool(self.take(1)[0] & 1)

    def pick(self, options: Sequence[T]) -> T:
        return options[self.take(1)[0] % len(options)]

    def integer(self, low: int, high: int) -> int:
        """``low``..``high``: often an end point, else from 1, 2, 4 or 8 random bytes."""
        mode = self.take(1)[0] % 8
        if mode in (0, 1):
            return (low, high)[mode]
        size = (1, 2, 4, 8)[mode % 4]
        return low + int.from_bytes(self.take(size), "big") % (high - low + 1)

    def blob(self, low: int, high: int) -> bytes:
        return self.take(self.integer(low, high))


def varint(c: Choices) -> int:
    return c.integer(0, VARINT_MAX)


def preferred_address(c: Choices) -> PreferredAddress:
    ipv4 = IPv4Address(c.take(4)) if c.flag() else None
    ipv4_port = 0 if ipv4 is None else c.integer(0 if int(ipv4) else 1, 65535)
    ipv6 = IPv6Address(c.take(16)) if c.flag() else None
    ipv6_port = 0 if ipv6 is None else c.integer(0 if int(ipv6) else 1, 65535)
    return PreferredAddress(ipv4, ipv4_port, ipv6, ipv6_port, c.blob(1, 20), c.take(16))


def version_information(c: Choices, from_server: bool) -> VersionInformation:
    chosen = c.integer(1, 2**32 - 1)
    available = [c.integer(1, 2**32 - 1) for _ in range(c.integer(0, 4))]
    if not from_server and chosen not in available:  # RFC 9368 §4: a client lists its choice
        available.insert(c.integer(0, len(available)), chosen)
    return VersionInformation(chosen, tuple(available))


SERVER_ONLY = {
    "original_destination_connection_id",
    "stateless_reset_token",
    "preferred_address",
    "retry_source_connection_id",
}
# A valid value for each field, in field order; min_ack_delay_us and version_information depend
# on other choices and are made in transport_parameters().
FIELDS: dict[str, Callable[[Choices], Any]] = {
    "original_destination_connection_id": lambda c: c.blob(0, 20),
    "max_idle_timeout_ms": varint,
    "stateless_reset_token": lambda c: c.take(16),
    "max_udp_payload_size": lambda c: c.integer(1200, VARINT_MAX),
    "initial_max_data": varint,
    "initial_max_stream_data_bidi_local": varint,
    "initial_max_stream_data_bidi_remote": varint,
    "initial_max_stream_data_uni": varint,
    "initial_max_streams_bidi": lambda c: c.integer(0, 2**60),
    "initial_max_streams_uni": lambda c: c.integer(0, 2**60),
    "ack_delay_exponent": lambda c: c.integer(0, 20),
    "max_ack_delay_ms": lambda c: c.integer(0, 2**14 - 1),
    "disable_active_migration": lambda c: True,
    "preferred_address": preferred_address,
    "active_connection_id_limit": lambda c: c.integer(2, VARINT_MAX),
    "initial_source_connection_id": lambda c: c.blob(0, 20),
    "retry_source_connection_id": lambda c: c.blob(0, 20),
    "max_datagram_frame_size": varint,
    "grease_quic_bit": lambda c: True,
}


def transport_parameters(c: Choices) -> tuple[bool, TransportParameters]:
    """A sender role and valid parameters for it (no server-only fields from a client)."""
    from_server = c.flag()
    present = int.from_bytes(c.take(3), "big")
    chosen: dict[str, Any] = {}
    for bit, (name, make) in enumerate(FIELDS.items()):
        if present >> bit & 1 and (from_server or name not in SERVER_ONLY):
            chosen[name] = make(c)
    if chosen.get("initial_source_connection_id") == b"":  # RFC 9000 §18.2
        chosen.pop("preferred_address", None)
    if present >> 21 & 1:  # ack-frequency draft: min_ack_delay <= max_ack_delay
        chosen["min_ack_delay_us"] = c.integer(0, chosen.get("max_ack_delay_ms", 25) * 1000)
    if present >> 22 & 1:
        chosen["version_information"] = version_information(c, from_server)
    return from_server, TransportParameters(**chosen)


def grease(c: Choices) -> list[tuple[int, bytes]]:
    """Up to three reserved parameters (RFC 9000 §18.1) with distinct ids."""
    ids = {31 * c.integer(0, (VARINT_MAX - 27) // 31) + 27 for _ in range(c.integer(0, 3))}
    return [(pid, c.blob(0, 24)) for pid in sorted(ids)]


def check_parse(data: bytes, from_server: bool) -> None:
    """Parsing raises only TRANSPORT_PARAMETER_ERROR; a success re-encodes to the same value."""
    try:
        params = parse_transport_parameters(data, from_server=from_server)
    except QuicError as exc:
        assert exc.error_code == TransportErrorCode.TRANSPORT_PARAMETER_ERROR
        assert exc.reason
        event(re.sub(r"0x[0-9a-f]+|\d+", "N", exc.reason))
        return
    event("parsed")
    again = encode_transport_parameters(params)
    assert parse_transport_parameters(again, from_server=from_server) == params


@MANY
@given(BLOBS)
def test_encode_then_parse_is_identity(blob: bytes) -> None:
    c = Choices(blob)
    from_server, params = transport_parameters(c)
    data = encode_transport_parameters(params, grease=grease(c))
    assert parse_transport_parameters(data, from_server=from_server) == params
    assert parse_transport_parameters(memoryview(data), from_server=True) == params


@MANY
@given(st.binary(max_size=300), st.booleans())
def test_arbitrary_bytes_raise_only_transport_parameter_error(
    data: bytes, from_server: bool
) -> None:
    check_parse(data, from_server)


# Known ids, reserved ones, and unknown ones of every varint size.
PARAMETER_IDS = [int(pid) for pid in TransportParameterId]
PARAMETER_IDS += [27, 58, 31 * 2**40 + 27, 0x12, 0x21, 0x2AB3, 0x4000, VARINT_MAX]
VERSION_WORDS = [v.to_bytes(4, "big") for v in (0, 1, 2, 0x6B3343CF, 0x1A2A3A4A)]


def preferred_address_like(c: Choices) -> bytes:
    cid = c.blob(0, 21)
    return c.take(24) + bytes((len(cid),)) + cid + c.blob(15, 17)


VALUES: list[Callable[[Choices], bytes]] = [
    lambda c: encode_varint(varint(c)),  # shortest varint
    lambda c: encode_varint(c.integer(0, 0x3F), c.pick([1, 2, 4, 8])),  # maybe longer
    lambda c: c.blob(0, 24),  # connection IDs, tokens, flags, garbage
    lambda c: b"".join(c.pick(VERSION_WORDS) for _ in range(c.integer(0, 4))),
    preferred_address_like,
]


def parameter_sequence(c: Choices) -> bytes:
    """Well-formed (id, length, value) entries with ids mostly known, values often plausible."""
    entries = []
    for _ in range(c.integer(0, 6)):
        pid = c.pick(PARAMETER_IDS)
        value = c.pick(VALUES)(c)
        entries.append(encode_varint(pid) + encode_varint(len(value)) + value)
    return b"".join(entries)


@MANY
@given(BLOBS)
def test_well_formed_sequences_raise_only_transport_parameter_error(blob: bytes) -> None:
    c = Choices(blob)
    from_server = c.flag()
    data = parameter_sequence(c)
    check_parse(data, from_server)
    check_parse(data + c.blob(1, 3), from_server)  # trailing junk: truncated or one more entry
