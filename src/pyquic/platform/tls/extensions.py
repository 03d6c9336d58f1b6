"""TLS 1.3 extensions: the extension block, its placement rules, and a codec per extension body.

Design: messages keep their extensions as an ordered tuple of ``(extension_type, data)`` pairs
(:data:`Extensions`), so a received message re-encodes to exactly the bytes that were hashed into
the transcript, and unknown extensions pass through untouched.  Bodies are decoded on demand by the
state machines with the typed codecs below: ``encode_X(value) -> bytes`` and
``parse_X(data, context) -> value``, where ``context`` is the :class:`HandshakeType` of the message
carrying the extension (a HelloRetryRequest is ``SERVER_HELLO``, plus ``hello_retry=True`` for
key_share, the one body that differs between the two).  Overloads give each context its own type.

What is checked where:

* :func:`check_extensions` (called by every message parser): no extension type twice in one block
  (RFC 8446 §4.2; the RFC names no alert, illegal_parameter is the §6.2 alert for well-formed but
  incorrect fields), no recognised extension in a message its §4.2 table column does not list
  (illegal_parameter), and pre_shared_key last in a ClientHello (§4.2.11, illegal_parameter).
  "Recognised" means listed in the RFC 9846 §4.2 table; other types are not judged here.  In a
  ClientHello, CertificateRequest, NewSessionTicket or Certificate an unknown extension is ignored
  (§4.1.2, §4.3.2, §4.6.1); in ServerHello, HelloRetryRequest and EncryptedExtensions an extension
  the client did not offer is unsupported_extension (§4.2), which only the client state machine,
  knowing what it offered, can check.
* ``parse_X``: the body's syntax (decode_error: truncation, trailing bytes, vector lengths outside
  their ranges, §4.2 "receivers MUST abort the handshake with a decode_error alert if there is
  data left over") and value rules local to the body (illegal_parameter: duplicate groups or key
  shares, an ALPN response without exactly one name, PSK identities without one binder each).
* The state machines: everything that relates two extensions or the negotiation (a key share for
  a group not in supported_groups, a selected version or identity out of range, mandatory
  extensions), and the key-share length of the share actually used, via
  :func:`check_key_share_length` (parsers do not apply it, so an unused share never aborts).

Encoders raise ``ValueError`` for a value outside the syntax (a vector too long or empty where the
RFC forbids it); they do not apply the extension-block rules, so tests can build bad messages.

Sources: RFC 8446bis (RFC 9846) §4.2 and §4.2.1-§4.2.11; RFC 6066 §3 (server_name); RFC 7301 §3.1
(ALPN); RFC 9001 §8.2 (quic_transport_parameters); draft-ietf-tls-ecdhe-mlkem (X25519MLKEM768).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias, overload

from pyquic.core.errors import QuicError
from pyquic.platform.tls.constants import (
    AlertDescription,
    ExtensionType,
    HandshakeType,
    NamedGroup,
    alert_error,
)
from pyquic.platform.tls.wire import (
    TlsReader,
    encode_uint,
    encode_uint16_list,
    encode_vector,
)

__all__ = [
    "Extension",
    "Extensions",
    "KeyShareEntry",
    "OfferedPsks",
    "PskIdentity",
    "check_extensions",
    "check_key_share_length",
    "encode_alpn",
    "encode_cookie",
    "encode_early_data",
    "encode_extension_block",
    "encode_key_share",
    "encode_pre_shared_key",
    "encode_psk_key_exchange_modes",
    "encode_quic_transport_parameters",
    "encode_server_name",
    "encode_signature_algorithms",
    "encode_supported_groups",
    "encode_supported_versions",
    "find_extension",
    "parse_alpn",
    "parse_cookie",
    "parse_early_data",
    "parse_extension_block",
    "parse_key_share",
    "parse_pre_shared_key",
    "parse_psk_key_exchange_modes",
    "parse_quic_transport_parameters",
    "parse_server_name",
    "parse_signature_algorithms",
    "parse_supported_groups",
    "parse_supported_versions",
]

Extension: TypeAlias = tuple[int, bytes]
"""One extension: (extension_type, extension_data), RFC 8446 §4.2."""
Extensions: TypeAlias = tuple[Extension, ...]
"""An extension block in wire order."""

_CH = HandshakeType.CLIENT_HELLO
_SH = HandshakeType.SERVER_HELLO
_EE = HandshakeType.ENCRYPTED_EXTENSIONS
_CR = HandshakeType.CERTIFICATE_REQUEST
_NST = HandshakeType.NEW_SESSION_TICKET
_U16_MAX = 0xFFFF


def _illegal(reason: str) -> QuicError:
    return alert_error(AlertDescription.illegal_parameter, reason)


# --- the extension block (RFC 8446 §4.2) -------------------------------------------------------


def encode_extension_block(extensions: Sequence[Extension], *, minimum: int = 0) -> bytes:
    """``Extension extensions<minimum..2^16-1>`` (RFC 8446 §4.2), in the given order."""
    body = b"".join(
        encode_uint(ext_type, 2, "extension_type")
        + encode_vector(data, 2, 0, _U16_MAX, "extension_data")
        for ext_type, data in extensions
    )
    return encode_vector(body, 2, minimum, _U16_MAX, "extensions")


def parse_extension_block(reader: TlsReader, *, minimum: int = 0) -> Extensions:
    """Read ``Extension extensions<minimum..2^16-1>`` from ``reader`` (RFC 8446 §4.2)."""
    block = reader.sub(2, minimum, _U16_MAX, "extensions")
    result: list[Extension] = []
    while not block.eof():
        ext_type = block.uint16("extension_type")
        result.append((ext_type, block.vector(2, 0, _U16_MAX, "extension_data")))
    return tuple(result)


def find_extension(extensions: Extensions, extension_type: int) -> bytes | None:
    """The data of the extension of that type, or ``None`` if absent."""
    for ext_type, data in extensions:
        if ext_type == extension_type:
            return data
    return None


# The RFC 9846 §4.2 table: extension type -> the messages it may appear in.
_ALLOWED_IN: dict[int, frozenset[str]] = {
    ExtensionType.SERVER_NAME: frozenset({"CH", "EE", "CR"}),
    5: frozenset({"CH", "CR", "CT"}),  # status_request
    ExtensionType.SUPPORTED_GROUPS: frozenset({"CH", "EE"}),
    ExtensionType.SIGNATURE_ALGORITHMS: frozenset({"CH", "CR"}),
    14: frozenset({"CH", "EE"}),  # use_srtp
    15: frozenset({"CH", "EE"}),  # heartbeat
    ExtensionType.APPLICATION_LAYER_PROTOCOL_NEGOTIATION: frozenset({"CH", "EE"}),
    19: frozenset({"CH", "EE"}),  # client_certificate_type
    20: frozenset({"CH", "EE"}),  # server_certificate_type
    21: frozenset({"CH"}),  # padding
    27: frozenset({"CH", "CR"}),  # compress_certificate
    28: frozenset({"CH", "EE"}),  # record_size_limit
    34: frozenset({"CH", "CR", "CT"}),  # delegated_credential
    39: frozenset({"CH", "EE"}),  # supported_ekt_ciphers
    ExtensionType.PRE_SHARED_KEY: frozenset({"CH", "SH"}),
    ExtensionType.EARLY_DATA: frozenset({"CH", "EE", "NST"}),
    ExtensionType.SUPPORTED_VERSIONS: frozenset({"CH", "SH", "HRR"}),
    ExtensionType.COOKIE: frozenset({"CH", "HRR"}),
    ExtensionType.PSK_KEY_EXCHANGE_MODES: frozenset({"CH"}),
    ExtensionType.CERTIFICATE_AUTHORITIES: frozenset({"CH", "CR"}),
    48: frozenset({"CR"}),  # oid_filters
    49: frozenset({"CH"}),  # post_handshake_auth
    ExtensionType.SIGNATURE_ALGORITHMS_CERT: frozenset({"CH", "CR"}),
    ExtensionType.KEY_SHARE: frozenset({"CH", "SH", "HRR"}),
    52: frozenset({"CH", "CR", "CT"}),  # transparency_info
    55: frozenset({"CH", "EE"}),  # external_id_hash
    56: frozenset({"CH", "EE"}),  # external_session_id
    ExtensionType.QUIC_TRANSPORT_PARAMETERS: frozenset({"CH", "EE"}),
    58: frozenset({"CH", "EE"}),  # ticket_request
    64768: frozenset({"CH"}),  # ech_outer_extensions
    65037: frozenset({"CH", "HRR", "EE"}),  # encrypted_client_hello
}

_COLUMN: dict[int, str] = {
    HandshakeType.CLIENT_HELLO: "CH",
    HandshakeType.SERVER_HELLO: "SH",
    HandshakeType.ENCRYPTED_EXTENSIONS: "EE",
    HandshakeType.CERTIFICATE: "CT",
    HandshakeType.CERTIFICATE_REQUEST: "CR",
    HandshakeType.NEW_SESSION_TICKET: "NST",
}


def check_extensions(
    extensions: Extensions, message: HandshakeType, *, hello_retry: bool = False
) -> None:
    """Apply the RFC 8446 §4.2 extension-block rules for ``message`` (see the module docstring).

    ``message`` is the carrying message (CERTIFICATE for the extensions of one CertificateEntry);
    ``hello_retry`` selects the HRR column for a SERVER_HELLO.  Raises illegal_parameter.
    """
    if hello_retry and message != HandshakeType.SERVER_HELLO:
        raise ValueError("hello_retry applies to SERVER_HELLO only")
    column = "HRR" if hello_retry else _COLUMN.get(message)
    if column is None:
        raise ValueError(f"{message!r} carries no extensions")
    seen: set[int] = set()
    for ext_type, _ in extensions:
        if ext_type in seen:  # RFC 8446 §4.2: not more than one extension of the same type
            raise _illegal(f"duplicate extension {ext_type} in {column}")
        seen.add(ext_type)
        allowed = _ALLOWED_IN.get(ext_type)
        if allowed is not None and column not in allowed:  # RFC 8446 §4.2 table
            raise _illegal(f"extension {ext_type} is not allowed in {column}")
    if (
        message == HandshakeType.CLIENT_HELLO
        and ExtensionType.PRE_SHARED_KEY in seen
        and extensions[-1][0] != ExtensionType.PRE_SHARED_KEY
    ):  # RFC 8446 §4.2.11: pre_shared_key MUST be the last extension in the ClientHello
        raise _illegal("pre_shared_key is not the last extension of the ClientHello")


def _require_context(context: HandshakeType, allowed: Sequence[HandshakeType], what: str) -> None:
    if context not in allowed:
        raise ValueError(f"{what} has no encoding in {context!r}")


# --- server_name (RFC 6066 §3) -----------------------------------------------------------------

_HOST_NAME = 0  # RFC 6066 §3: NameType host_name(0)


def encode_server_name(host_name: str | None) -> bytes:
    """A ServerNameList with one host_name (ClientHello), or ``None``: the empty response (EE)."""
    if host_name is None:
        return b""  # RFC 6066 §3: the server's response has empty extension_data
    name = encode_vector(host_name.encode("ascii"), 2, 1, _U16_MAX, "HostName")
    return encode_vector(bytes([_HOST_NAME]) + name, 2, 1, _U16_MAX, "server_name_list")


def parse_server_name(data: bytes, context: HandshakeType) -> str | None:
    """The host_name of a ClientHello / CertificateRequest list, ``None`` in EncryptedExtensions.

    Entries of unknown name_type are assumed to be opaque<1..2^16-1> like host_name and ignored;
    a list without a host_name gives ``None``.
    """
    _require_context(context, (_CH, _EE, _CR), "server_name")
    reader = TlsReader(data)
    if context == _EE:
        reader.finish("server_name response")  # RFC 6066 §3: empty in the server's response
        return None
    entries = reader.sub(2, 1, _U16_MAX, "server_name_list")
    reader.finish("server_name")
    host_name: str | None = None
    while not entries.eof():
        name_type = entries.uint8("NameType")
        name = entries.vector(2, 1, _U16_MAX, "HostName")
        if name_type != _HOST_NAME:
            continue
        if host_name is not None:  # RFC 6066 §3: not more than one name of the same name_type
            raise _illegal("more than one host_name in server_name")
        if not name.isascii():  # RFC 6066 §3: HostName is a byte string in ASCII
            raise _illegal("host_name is not ASCII")
        host_name = name.decode("ascii")
    return host_name


# --- supported_groups (§4.2.7), signature_algorithms(_cert) (§4.2.3) ---------------------------


def encode_supported_groups(groups: Sequence[int]) -> bytes:
    """``NamedGroup named_group_list<2..2^16-1>`` (RFC 8446 §4.2.7)."""
    if len(set(groups)) != len(groups):
        raise ValueError("duplicate group in supported_groups")
    return encode_uint16_list(groups, 2, _U16_MAX, "named_group_list")


def parse_supported_groups(data: bytes, context: HandshakeType) -> tuple[int, ...]:
    """The groups in preference order (ClientHello or EncryptedExtensions; unknown ones kept)."""
    _require_context(context, (_CH, _EE), "supported_groups")
    reader = TlsReader(data)
    groups = reader.uint16_list(2, _U16_MAX, "named_group_list")
    reader.finish("supported_groups")
    if len(set(groups)) != len(groups):  # RFC 8446 §4.2.7: MAY abort with illegal_parameter
        raise _illegal("duplicate group in supported_groups")
    return groups


def encode_signature_algorithms(schemes: Sequence[int]) -> bytes:
    """``SignatureScheme supported_signature_algorithms<2..2^16-2>`` (RFC 8446 §4.2.3).

    The same body serves signature_algorithms and signature_algorithms_cert.
    """
    return encode_uint16_list(schemes, 2, _U16_MAX - 1, "supported_signature_algorithms")


def parse_signature_algorithms(data: bytes, context: HandshakeType) -> tuple[int, ...]:
    """Schemes in preference order (ClientHello or CertificateRequest; unknown ones kept).

    The same body serves signature_algorithms and signature_algorithms_cert (RFC 8446 §4.2.3).
    """
    _require_context(context, (_CH, _CR), "signature_algorithms")
    reader = TlsReader(data)
    schemes = reader.uint16_list(2, _U16_MAX - 1, "supported_signature_algorithms")
    reader.finish("signature_algorithms")
    return schemes


# --- application_layer_protocol_negotiation (RFC 7301 §3.1) ------------------------------------


def encode_alpn(protocols: Sequence[bytes]) -> bytes:
    """``ProtocolName protocol_name_list<2..2^16-1>``, names ``opaque<1..2^8-1>`` (RFC 7301)."""
    body = b"".join(encode_vector(name, 1, 1, 0xFF, "ProtocolName") for name in protocols)
    return encode_vector(body, 2, 2, _U16_MAX, "protocol_name_list")


@overload
def parse_alpn(data: bytes, context: Literal[HandshakeType.CLIENT_HELLO]) -> tuple[bytes, ...]: ...
@overload
def parse_alpn(data: bytes, context: Literal[HandshakeType.ENCRYPTED_EXTENSIONS]) -> bytes: ...
@overload
def parse_alpn(data: bytes, context: HandshakeType) -> tuple[bytes, ...] | bytes: ...
def parse_alpn(data: bytes, context: HandshakeType) -> tuple[bytes, ...] | bytes:
    """The offered names (ClientHello) or the one selected name (EncryptedExtensions).

    An empty name is outside ``opaque ProtocolName<1..2^8-1>``, so it is a decode_error.
    """
    _require_context(context, (_CH, _EE), "application_layer_protocol_negotiation")
    reader = TlsReader(data)
    names_reader = reader.sub(2, 2, _U16_MAX, "protocol_name_list")
    reader.finish("application_layer_protocol_negotiation")
    names: list[bytes] = []
    while not names_reader.eof():
        names.append(names_reader.vector(1, 1, 0xFF, "ProtocolName"))
    if context == _CH:
        return tuple(names)
    if len(names) != 1:  # RFC 7301 §3.1: the server's list MUST contain exactly one name
        raise _illegal(f"ALPN response with {len(names)} protocol names")
    return names[0]


# --- supported_versions (§4.2.1) ---------------------------------------------------------------


def encode_supported_versions(versions: int | Sequence[int]) -> bytes:
    """``versions<2..254>`` (a sequence, ClientHello) or ``selected_version`` (an int, SH/HRR)."""
    if isinstance(versions, int):
        return encode_uint(versions, 2, "selected_version")
    return encode_uint16_list(versions, 2, 254, "versions", length_size=1)


@overload
def parse_supported_versions(
    data: bytes, context: Literal[HandshakeType.CLIENT_HELLO]
) -> tuple[int, ...]: ...
@overload
def parse_supported_versions(data: bytes, context: Literal[HandshakeType.SERVER_HELLO]) -> int: ...
@overload
def parse_supported_versions(data: bytes, context: HandshakeType) -> tuple[int, ...] | int: ...
def parse_supported_versions(data: bytes, context: HandshakeType) -> tuple[int, ...] | int:
    """The offered versions (ClientHello) or the selected version (ServerHello and HRR)."""
    _require_context(context, (_CH, _SH), "supported_versions")
    reader = TlsReader(data)
    result: tuple[int, ...] | int
    if context == _CH:
        result = reader.uint16_list(2, 254, "versions", length_size=1)
    else:
        result = reader.uint16("selected_version")
    reader.finish("supported_versions")
    return result


# --- key_share (§4.2.8) ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyShareEntry:
    """``struct { NamedGroup group; opaque key_exchange<1..2^16-1>; } KeyShareEntry``."""

    group: int
    key_exchange: bytes

    def encode(self) -> bytes:
        return encode_uint(self.group, 2, "group") + encode_vector(
            self.key_exchange, 2, 1, _U16_MAX, "key_exchange"
        )


def _pull_key_share_entry(reader: TlsReader) -> KeyShareEntry:
    group = reader.uint16("group")
    return KeyShareEntry(group, reader.vector(2, 1, _U16_MAX, "key_exchange"))


def encode_key_share(value: Sequence[KeyShareEntry] | KeyShareEntry | int) -> bytes:
    """The body for a ClientHello (a sequence of shares), a ServerHello (one share) or a
    HelloRetryRequest (an int: the selected_group)."""
    if isinstance(value, int):
        return encode_uint(value, 2, "selected_group")
    if isinstance(value, KeyShareEntry):
        return value.encode()
    if len({entry.group for entry in value}) != len(value):
        raise ValueError("two key shares for one group")
    body = b"".join(entry.encode() for entry in value)
    return encode_vector(body, 2, 0, _U16_MAX, "client_shares")


@overload
def parse_key_share(
    data: bytes, context: Literal[HandshakeType.CLIENT_HELLO], *, hello_retry: Literal[False] = ...
) -> tuple[KeyShareEntry, ...]: ...
@overload
def parse_key_share(
    data: bytes, context: Literal[HandshakeType.SERVER_HELLO], *, hello_retry: Literal[False] = ...
) -> KeyShareEntry: ...
@overload
def parse_key_share(
    data: bytes, context: Literal[HandshakeType.SERVER_HELLO], *, hello_retry: Literal[True]
) -> int: ...
@overload
def parse_key_share(
    data: bytes, context: HandshakeType, *, hello_retry: bool = ...
) -> tuple[KeyShareEntry, ...] | KeyShareEntry | int: ...
def parse_key_share(
    data: bytes, context: HandshakeType, *, hello_retry: bool = False
) -> tuple[KeyShareEntry, ...] | KeyShareEntry | int:
    """Client shares (ClientHello), the server share (ServerHello) or the selected_group (HRR).

    Key-exchange lengths are not checked here: see :func:`check_key_share_length`.
    """
    _require_context(context, (_CH, _SH), "key_share")
    if hello_retry and context != _SH:
        raise ValueError("hello_retry applies to SERVER_HELLO only")
    reader = TlsReader(data)
    result: tuple[KeyShareEntry, ...] | KeyShareEntry | int
    if hello_retry:
        result = reader.uint16("selected_group")
    elif context == _SH:
        result = _pull_key_share_entry(reader)
    else:
        shares = reader.sub(2, 0, _U16_MAX, "client_shares")
        entries: list[KeyShareEntry] = []
        while not shares.eof():
            entries.append(_pull_key_share_entry(shares))
        if len({entry.group for entry in entries}) != len(entries):
            raise _illegal("two key shares for one group")  # RFC 8446 §4.2.8: MAY abort
        result = tuple(entries)
    reader.finish("key_share")
    return result


# key_exchange lengths of the known groups: (from the client, from the server)
_KEY_SHARE_LENGTHS: dict[int, tuple[int, int]] = {
    NamedGroup.SECP256R1: (65, 65),  # RFC 8446 §4.2.8.2: 0x04 || X || Y, 32-byte coordinates
    NamedGroup.SECP384R1: (97, 97),  # 48-byte coordinates
    NamedGroup.X25519: (32, 32),  # RFC 8446 §4.2.8.2, RFC 7748 §6
    NamedGroup.X25519MLKEM768: (1216, 1120),  # ek || x25519 / ciphertext || x25519
}
_UNCOMPRESSED_POINT = 0x04  # RFC 8446 §4.2.8.2: legacy_form = 4


def check_key_share_length(group: int, key_exchange: bytes, from_client: bool) -> None:
    """Raise illegal_parameter if a share of a known group has the wrong length or form.

    Unknown groups pass: the caller never uses them.
    """
    lengths = _KEY_SHARE_LENGTHS.get(group)
    if lengths is None:
        return
    expected = lengths[0] if from_client else lengths[1]
    if len(key_exchange) != expected:
        raise _illegal(f"key share of group {group:#06x}: {len(key_exchange)} bytes, {expected}")
    if group in (NamedGroup.SECP256R1, NamedGroup.SECP384R1) and (
        key_exchange[0] != _UNCOMPRESSED_POINT
    ):
        raise _illegal(f"key share of group {group:#06x} is not an uncompressed point")


# --- psk_key_exchange_modes (§4.2.9) -----------------------------------------------------------


def encode_psk_key_exchange_modes(modes: Sequence[int]) -> bytes:
    """``PskKeyExchangeMode ke_modes<1..255>`` (RFC 8446 §4.2.9)."""
    body = b"".join(encode_uint(mode, 1, "PskKeyExchangeMode") for mode in modes)
    return encode_vector(body, 1, 1, 0xFF, "ke_modes")


def parse_psk_key_exchange_modes(data: bytes, context: HandshakeType) -> tuple[int, ...]:
    """The offered modes (ClientHello only; unknown values kept for the caller to ignore)."""
    _require_context(context, (_CH,), "psk_key_exchange_modes")
    reader = TlsReader(data)
    modes = tuple(reader.vector(1, 1, 0xFF, "ke_modes"))
    reader.finish("psk_key_exchange_modes")
    return modes


# --- pre_shared_key (§4.2.11) ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PskIdentity:
    """``struct { opaque identity<1..2^16-1>; uint32 obfuscated_ticket_age; } PskIdentity``."""

    identity: bytes
    obfuscated_ticket_age: int


@dataclass(frozen=True, slots=True)
class OfferedPsks:
    """The ClientHello body: identities and one binder (``opaque<32..255>``) per identity."""

    identities: tuple[PskIdentity, ...]
    binders: tuple[bytes, ...]

    def encode_identities(self) -> bytes:
        """``PskIdentity identities<7..2^16-1>``: the part covered by the binders (§4.2.11.2)."""
        body = b"".join(
            encode_vector(psk.identity, 2, 1, _U16_MAX, "identity")
            + encode_uint(psk.obfuscated_ticket_age, 4, "obfuscated_ticket_age")
            for psk in self.identities
        )
        return encode_vector(body, 2, 7, _U16_MAX, "identities")

    def encode_binders(self) -> bytes:
        """``PskBinderEntry binders<33..2^16-1>``: the tail of the ClientHello (§4.2.11.2)."""
        body = b"".join(encode_vector(b, 1, 32, 0xFF, "PskBinderEntry") for b in self.binders)
        return encode_vector(body, 2, 33, _U16_MAX, "binders")

    def encode(self) -> bytes:
        if len(self.identities) != len(self.binders):
            raise ValueError("one binder per PSK identity is required")
        return self.encode_identities() + self.encode_binders()


def encode_pre_shared_key(value: OfferedPsks | int) -> bytes:
    """The ClientHello body (:class:`OfferedPsks`) or the ServerHello selected_identity (int)."""
    if isinstance(value, int):
        return encode_uint(value, 2, "selected_identity")
    return value.encode()


def _pull_offered_psks(reader: TlsReader) -> OfferedPsks:
    identities_reader = reader.sub(2, 7, _U16_MAX, "identities")
    identities: list[PskIdentity] = []
    while not identities_reader.eof():
        identity = identities_reader.vector(2, 1, _U16_MAX, "identity")
        identities.append(PskIdentity(identity, identities_reader.uint32("obfuscated_ticket_age")))
    binders_reader = reader.sub(2, 33, _U16_MAX, "binders")
    binders: list[bytes] = []
    while not binders_reader.eof():
        binders.append(binders_reader.vector(1, 32, 0xFF, "PskBinderEntry"))
    if len(binders) != len(identities):  # RFC 8446 §4.2.11: one binder per identity
        raise _illegal(f"{len(identities)} PSK identities but {len(binders)} binders")
    return OfferedPsks(tuple(identities), tuple(binders))


@overload
def parse_pre_shared_key(
    data: bytes, context: Literal[HandshakeType.CLIENT_HELLO]
) -> OfferedPsks: ...
@overload
def parse_pre_shared_key(data: bytes, context: Literal[HandshakeType.SERVER_HELLO]) -> int: ...
@overload
def parse_pre_shared_key(data: bytes, context: HandshakeType) -> OfferedPsks | int: ...
def parse_pre_shared_key(data: bytes, context: HandshakeType) -> OfferedPsks | int:
    """The offered PSKs (ClientHello) or the selected_identity (ServerHello)."""
    _require_context(context, (_CH, _SH), "pre_shared_key")
    reader = TlsReader(data)
    result = _pull_offered_psks(reader) if context == _CH else reader.uint16("selected_identity")
    reader.finish("pre_shared_key")
    return result


# --- early_data (§4.2.10), cookie (§4.2.2), quic_transport_parameters (RFC 9001 §8.2) ----------


def encode_early_data(max_early_data_size: int | None = None) -> bytes:
    """Empty (ClientHello, EncryptedExtensions) or ``uint32 max_early_data_size`` (NST)."""
    if max_early_data_size is None:
        return b""
    return encode_uint(max_early_data_size, 4, "max_early_data_size")


@overload
def parse_early_data(data: bytes, context: Literal[HandshakeType.NEW_SESSION_TICKET]) -> int: ...
@overload
def parse_early_data(
    data: bytes,
    context: Literal[HandshakeType.CLIENT_HELLO, HandshakeType.ENCRYPTED_EXTENSIONS],
) -> None: ...
@overload
def parse_early_data(data: bytes, context: HandshakeType) -> int | None: ...
def parse_early_data(data: bytes, context: HandshakeType) -> int | None:
    """max_early_data_size in a NewSessionTicket; ``None`` (the body is empty) elsewhere."""
    _require_context(context, (_CH, _EE, _NST), "early_data")
    reader = TlsReader(data)
    result = reader.uint32("max_early_data_size") if context == _NST else None
    reader.finish("early_data")
    return result


def encode_cookie(cookie: bytes) -> bytes:
    """``opaque cookie<1..2^16-1>`` (RFC 8446 §4.2.2)."""
    return encode_vector(cookie, 2, 1, _U16_MAX, "cookie")


def parse_cookie(data: bytes, context: HandshakeType) -> bytes:
    """The cookie of a HelloRetryRequest (context SERVER_HELLO) or of the second ClientHello."""
    _require_context(context, (_CH, _SH), "cookie")
    reader = TlsReader(data)
    cookie = reader.vector(2, 1, _U16_MAX, "cookie")
    reader.finish("cookie")
    return cookie


def encode_quic_transport_parameters(parameters: bytes) -> bytes:
    """The body is the encoded transport parameters themselves (RFC 9001 §8.2)."""
    if len(parameters) > _U16_MAX:
        raise ValueError("quic_transport_parameters longer than an extension can carry")
    return parameters


def parse_quic_transport_parameters(data: bytes, context: HandshakeType) -> bytes:
    """The opaque transport parameters (ClientHello or EncryptedExtensions, RFC 9001 §8.2),
    to be decoded by :func:`pyquic.core.transport_params.parse_transport_parameters`."""
    _require_context(context, (_CH, _EE), "quic_transport_parameters")
    return bytes(data)
