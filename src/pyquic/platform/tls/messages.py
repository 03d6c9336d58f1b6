"""TLS 1.3 handshake messages as immutable values, their exact encoding, and message framing.

Design: one frozen, slotted dataclass per message QUIC carries (RFC 8446 §4), holding the fields
exactly as they travel, with extensions kept as an ordered ``(type, data)`` tuple
(:data:`~pyquic.platform.tls.extensions.Extensions`).  Parsing and encoding are exact inverses:
whatever parses re-encodes to the same bytes, so the transcript may hash either.  There is no
record layer: a message is the 4-byte header (HandshakeType, uint24 length) and its body, carried
in QUIC CRYPTO frames (RFC 9001 §4); :class:`HandshakeBuffer` cuts the CRYPTO byte stream of one
encryption level into whole messages.

Errors: malformed input is ``alert_error(decode_error)`` (truncation, trailing bytes, a length
field that disagrees with the data, a vector length outside its range); the extension-block rules
of :func:`~pyquic.platform.tls.extensions.check_extensions` and the fixed legacy compression
fields are illegal_parameter; EndOfEarlyData and KeyUpdate, which QUIC forbids (RFC 9001 §8.3,
§6), and unknown types are unexpected_message.  Parsers check syntax and these rules only; the
meaning of the fields (legacy_version, a Finished of the hash length, a ticket lifetime within
seven days, mandatory extensions) is the state machines'.  Encoders raise ``ValueError`` for values
outside the syntax but do not apply the extension rules, so any message can be built for tests.

Sources: RFC 8446bis (RFC 9846) §4 (framing), §4.1.2-§4.1.4, §4.3.1-§4.3.2, §4.4.2-§4.4.4,
§4.6.1, §4.2.11.2 (the partial ClientHello for binders); RFC 9001 §4.1.3, §6, §8.3.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import ClassVar, Self, TypeAlias

from pyquic.core.buffer import BytesLike
from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.platform.tls.constants import (
    LEGACY_VERSION,
    AlertDescription,
    ExtensionType,
    HandshakeType,
    alert_error,
)
from pyquic.platform.tls.extensions import (
    Extensions,
    OfferedPsks,
    check_extensions,
    encode_extension_block,
    encode_pre_shared_key,
    parse_extension_block,
    parse_pre_shared_key,
)
from pyquic.platform.tls.wire import TlsReader, decode_error, encode_uint, encode_vector

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "HELLO_RETRY_REQUEST_RANDOM",
    "Certificate",
    "CertificateEntry",
    "CertificateRequest",
    "CertificateVerify",
    "ClientHello",
    "EncryptedExtensions",
    "Finished",
    "HandshakeBuffer",
    "Message",
    "NewSessionTicket",
    "ServerHello",
    "parse_handshake_message",
]

# RFC 8446 §4.1.3: a ServerHello with this Random is a HelloRetryRequest (SHA-256 of the name).
HELLO_RETRY_REQUEST_RANDOM = bytes.fromhex(
    "CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C"
)
_HEADER_SIZE = 4  # RFC 8446 §4: HandshakeType msg_type; uint24 length
_MAX_BODY = (1 << 24) - 1
_RANDOM_SIZE = 32  # RFC 8446 §4.1.2: opaque Random[32]
_U16_MAX = 0xFFFF
_NULL_COMPRESSION = b"\x00"  # RFC 8446 §4.1.2: legacy_compression_methods = [null]


def _frame(msg_type: HandshakeType, body: bytes) -> bytes:
    """The full message: type, uint24 length, body (RFC 8446 §4)."""
    return bytes([msg_type]) + encode_uint(len(body), 3, "handshake message length") + body


def _split_header(raw: bytes) -> tuple[int, bytes]:
    """(type, body) of one whole message; the length field must match the data exactly."""
    if len(raw) < _HEADER_SIZE:
        raise decode_error(f"handshake message of {len(raw)} bytes has no complete header")
    length = int.from_bytes(raw[1:_HEADER_SIZE], "big")
    if length != len(raw) - _HEADER_SIZE:
        raise decode_error(f"handshake length field {length}, body {len(raw) - _HEADER_SIZE}")
    return raw[0], bytes(raw[_HEADER_SIZE:])


def _unexpected(reason: str) -> QuicError:
    return alert_error(AlertDescription.unexpected_message, reason)


class _MessageCodec(ABC):
    """Shared framing of the message classes: ``encode`` and ``parse`` around the body codec."""

    __slots__ = ()
    msg_type: ClassVar[HandshakeType]

    @abstractmethod
    def encode_body(self) -> bytes:
        """The message body, without the 4-byte header."""

    @classmethod
    @abstractmethod
    def parse_body(cls, body: bytes) -> Self:
        """Parse a body (header already removed) of this class's type."""

    def encode(self) -> bytes:
        """The whole handshake message, header included, as it goes into CRYPTO frames."""
        return _frame(self.msg_type, self.encode_body())

    @classmethod
    def parse(cls, raw: bytes) -> Self:
        """Parse one whole message (header included) that must be of this class's type."""
        msg_type, body = _split_header(raw)
        if msg_type != cls.msg_type:
            raise _unexpected(f"expected {cls.msg_type.name}, got handshake type {msg_type}")
        return cls.parse_body(body)


# --- ClientHello (RFC 8446 §4.1.2) -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientHello(_MessageCodec):
    """``ClientHello``; an empty ``extensions`` means the block is absent (a pre-1.3 hello)."""

    msg_type: ClassVar[HandshakeType] = HandshakeType.CLIENT_HELLO
    random: bytes
    cipher_suites: tuple[int, ...]
    extensions: Extensions
    legacy_session_id: bytes = b""
    legacy_version: int = LEGACY_VERSION

    def encode_body(self) -> bytes:
        if len(self.random) != _RANDOM_SIZE:
            raise ValueError(f"random must be {_RANDOM_SIZE} bytes")
        suites = b"".join(encode_uint(suite, 2, "CipherSuite") for suite in self.cipher_suites)
        parts = [
            encode_uint(self.legacy_version, 2, "legacy_version"),
            self.random,
            encode_vector(self.legacy_session_id, 1, 0, 32, "legacy_session_id"),
            encode_vector(suites, 2, 2, _U16_MAX - 1, "cipher_suites"),
            encode_vector(_NULL_COMPRESSION, 1, 1, 0xFF, "legacy_compression_methods"),
        ]
        if self.extensions:  # RFC 8446 §4.1.2: Extension extensions<7..2^16-1>
            parts.append(encode_extension_block(self.extensions, minimum=7))
        return b"".join(parts)

    @classmethod
    def parse_body(cls, body: bytes) -> Self:
        reader = TlsReader(body)
        legacy_version = reader.uint16("legacy_version")
        random = reader.fixed(_RANDOM_SIZE, "random")
        session_id = reader.vector(1, 0, 32, "legacy_session_id")
        suites = reader.uint16_list(2, _U16_MAX - 1, "cipher_suites")
        compression = reader.vector(1, 1, 0xFF, "legacy_compression_methods")
        if compression != _NULL_COMPRESSION:  # RFC 8446 §4.1.2: exactly one byte, zero
            raise alert_error(AlertDescription.illegal_parameter, "compression is not [null]")
        # RFC 8446 §4.1.2: the extensions are present if bytes follow the compression methods.
        extensions = () if reader.eof() else parse_extension_block(reader, minimum=7)
        reader.finish("ClientHello")
        check_extensions(extensions, HandshakeType.CLIENT_HELLO)
        return cls(random, suites, extensions, session_id, legacy_version)

    def _offered_psks(self) -> OfferedPsks:
        if not self.extensions or self.extensions[-1][0] != ExtensionType.PRE_SHARED_KEY:
            raise ValueError("the ClientHello does not end with a pre_shared_key extension")
        return parse_pre_shared_key(self.extensions[-1][1], HandshakeType.CLIENT_HELLO)

    def truncated_for_binders(self) -> bytes:
        """The partial ClientHello over which PSK binders are computed (RFC 8446 §4.2.11.2).

        The whole encoding (header included, all lengths as if the binders were present) up to
        and including ``identities``, i.e. without the trailing ``binders`` list.  A malformed
        pre_shared_key body is a decode_error; a hello without one is a ValueError.
        """
        encoded = self.encode()
        return encoded[: len(encoded) - len(self._offered_psks().encode_binders())]

    def with_binders(self, binders: Sequence[bytes]) -> ClientHello:
        """This ClientHello with the PSK binders replaced, lengths unchanged (RFC 8446 §4.2.11.2).

        Build the hello with placeholder binders of the right lengths, hash
        :meth:`truncated_for_binders`, then fill in the real binders with this method.
        """
        offered = self._offered_psks()
        if [len(b) for b in binders] != [len(b) for b in offered.binders]:
            raise ValueError("the binders must keep the number and lengths of the placeholders")
        data = encode_pre_shared_key(OfferedPsks(offered.identities, tuple(binders)))
        extensions = (*self.extensions[:-1], (int(ExtensionType.PRE_SHARED_KEY), data))
        return replace(self, extensions=extensions)


# --- ServerHello and HelloRetryRequest (RFC 8446 §4.1.3, §4.1.4) -------------------------------


@dataclass(frozen=True, slots=True)
class ServerHello(_MessageCodec):
    """``ServerHello``, or a HelloRetryRequest when ``random`` is the special value (§4.1.3)."""

    msg_type: ClassVar[HandshakeType] = HandshakeType.SERVER_HELLO
    random: bytes
    cipher_suite: int
    extensions: Extensions
    legacy_session_id_echo: bytes = b""
    legacy_version: int = LEGACY_VERSION

    @classmethod
    def hello_retry_request(
        cls, cipher_suite: int, extensions: Extensions, legacy_session_id_echo: bytes = b""
    ) -> ServerHello:
        """A HelloRetryRequest: a ServerHello with the special Random (RFC 8446 §4.1.4)."""
        return cls(HELLO_RETRY_REQUEST_RANDOM, cipher_suite, extensions, legacy_session_id_echo)

    @property
    def is_hello_retry_request(self) -> bool:
        """RFC 8446 §4.1.3: the message is an HRR iff Random is SHA-256("HelloRetryRequest")."""
        return self.random == HELLO_RETRY_REQUEST_RANDOM

    def encode_body(self) -> bytes:
        if len(self.random) != _RANDOM_SIZE:
            raise ValueError(f"random must be {_RANDOM_SIZE} bytes")
        parts = [
            encode_uint(self.legacy_version, 2, "legacy_version"),
            self.random,
            encode_vector(self.legacy_session_id_echo, 1, 0, 32, "legacy_session_id_echo"),
            encode_uint(self.cipher_suite, 2, "cipher_suite"),
            _NULL_COMPRESSION,
        ]
        if self.extensions:  # RFC 8446 §4.1.3: Extension extensions<6..2^16-1>
            parts.append(encode_extension_block(self.extensions, minimum=6))
        return b"".join(parts)

    @classmethod
    def parse_body(cls, body: bytes) -> Self:
        reader = TlsReader(body)
        legacy_version = reader.uint16("legacy_version")
        random = reader.fixed(_RANDOM_SIZE, "random")
        session_id_echo = reader.vector(1, 0, 32, "legacy_session_id_echo")
        cipher_suite = reader.uint16("cipher_suite")
        if reader.uint8("legacy_compression_method") != 0:  # RFC 8446 §4.1.3: MUST be 0
            raise alert_error(AlertDescription.illegal_parameter, "compression method is not 0")
        extensions = () if reader.eof() else parse_extension_block(reader, minimum=6)
        reader.finish("ServerHello")
        hello = cls(random, cipher_suite, extensions, session_id_echo, legacy_version)
        check_extensions(
            extensions, HandshakeType.SERVER_HELLO, hello_retry=hello.is_hello_retry_request
        )
        return hello


# --- EncryptedExtensions, CertificateRequest (RFC 8446 §4.3.1, §4.3.2) -------------------------


@dataclass(frozen=True, slots=True)
class EncryptedExtensions(_MessageCodec):
    """``struct { Extension extensions<0..2^16-1>; } EncryptedExtensions``."""

    msg_type: ClassVar[HandshakeType] = HandshakeType.ENCRYPTED_EXTENSIONS
    extensions: Extensions

    def encode_body(self) -> bytes:
        return encode_extension_block(self.extensions)

    @classmethod
    def parse_body(cls, body: bytes) -> Self:
        reader = TlsReader(body)
        extensions = parse_extension_block(reader)
        reader.finish("EncryptedExtensions")
        check_extensions(extensions, HandshakeType.ENCRYPTED_EXTENSIONS)
        return cls(extensions)


@dataclass(frozen=True, slots=True)
class CertificateRequest(_MessageCodec):
    """``certificate_request_context<0..2^8-1>`` and ``extensions<0..2^16-1>``."""

    msg_type: ClassVar[HandshakeType] = HandshakeType.CERTIFICATE_REQUEST
    certificate_request_context: bytes
    extensions: Extensions

    def encode_body(self) -> bytes:
        context = encode_vector(self.certificate_request_context, 1, 0, 0xFF, "context")
        return context + encode_extension_block(self.extensions)

    @classmethod
    def parse_body(cls, body: bytes) -> Self:
        reader = TlsReader(body)
        context = reader.vector(1, 0, 0xFF, "certificate_request_context")
        extensions = parse_extension_block(reader)
        reader.finish("CertificateRequest")
        check_extensions(extensions, HandshakeType.CERTIFICATE_REQUEST)
        return cls(context, extensions)


# --- Certificate, CertificateVerify, Finished (RFC 8446 §4.4.2-§4.4.4) -------------------------


@dataclass(frozen=True, slots=True)
class CertificateEntry:
    """``CertificateEntry``: ``cert_data<1..2^24-1>`` (X.509 DER) and its extensions."""

    cert_data: bytes
    extensions: Extensions = ()

    def encode(self) -> bytes:
        return encode_vector(self.cert_data, 3, 1, _MAX_BODY, "cert_data") + (
            encode_extension_block(self.extensions)
        )


@dataclass(frozen=True, slots=True)
class Certificate(_MessageCodec):
    """``certificate_request_context<0..2^8-1>`` and ``certificate_list<0..2^24-1>``."""

    msg_type: ClassVar[HandshakeType] = HandshakeType.CERTIFICATE
    certificate_request_context: bytes
    certificate_list: tuple[CertificateEntry, ...]

    def encode_body(self) -> bytes:
        context = encode_vector(self.certificate_request_context, 1, 0, 0xFF, "context")
        entries = b"".join(entry.encode() for entry in self.certificate_list)
        return context + encode_vector(entries, 3, 0, _MAX_BODY, "certificate_list")

    @classmethod
    def parse_body(cls, body: bytes) -> Self:
        reader = TlsReader(body)
        context = reader.vector(1, 0, 0xFF, "certificate_request_context")
        entries_reader = reader.sub(3, 0, _MAX_BODY, "certificate_list")
        reader.finish("Certificate")
        entries: list[CertificateEntry] = []
        while not entries_reader.eof():
            cert_data = entries_reader.vector(3, 1, _MAX_BODY, "cert_data")
            extensions = parse_extension_block(entries_reader)
            check_extensions(extensions, HandshakeType.CERTIFICATE)  # per entry, §4.4.2
            entries.append(CertificateEntry(cert_data, extensions))
        return cls(context, tuple(entries))


@dataclass(frozen=True, slots=True)
class CertificateVerify(_MessageCodec):
    """``struct { SignatureScheme algorithm; opaque signature<0..2^16-1>; }``."""

    msg_type: ClassVar[HandshakeType] = HandshakeType.CERTIFICATE_VERIFY
    algorithm: int
    signature: bytes

    def encode_body(self) -> bytes:
        return encode_uint(self.algorithm, 2, "algorithm") + encode_vector(
            self.signature, 2, 0, _U16_MAX, "signature"
        )

    @classmethod
    def parse_body(cls, body: bytes) -> Self:
        reader = TlsReader(body)
        algorithm = reader.uint16("algorithm")
        signature = reader.vector(2, 0, _U16_MAX, "signature")
        reader.finish("CertificateVerify")
        return cls(algorithm, signature)


@dataclass(frozen=True, slots=True)
class Finished(_MessageCodec):
    """``opaque verify_data[Hash.length]``: the whole body; the caller checks the length."""

    msg_type: ClassVar[HandshakeType] = HandshakeType.FINISHED
    verify_data: bytes

    def encode_body(self) -> bytes:
        return self.verify_data

    @classmethod
    def parse_body(cls, body: bytes) -> Self:
        return cls(bytes(body))


# --- NewSessionTicket (RFC 8446 §4.6.1) --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewSessionTicket(_MessageCodec):
    """``NewSessionTicket``: lifetime (s), age_add, nonce<0..255>, ticket<1..2^16-1>, extensions."""

    msg_type: ClassVar[HandshakeType] = HandshakeType.NEW_SESSION_TICKET
    ticket_lifetime: int
    ticket_age_add: int
    ticket_nonce: bytes
    ticket: bytes
    extensions: Extensions = ()

    def encode_body(self) -> bytes:
        return b"".join(
            (
                encode_uint(self.ticket_lifetime, 4, "ticket_lifetime"),
                encode_uint(self.ticket_age_add, 4, "ticket_age_add"),
                encode_vector(self.ticket_nonce, 1, 0, 0xFF, "ticket_nonce"),
                encode_vector(self.ticket, 2, 1, _U16_MAX, "ticket"),
                encode_extension_block(self.extensions),
            )
        )

    @classmethod
    def parse_body(cls, body: bytes) -> Self:
        reader = TlsReader(body)
        lifetime = reader.uint32("ticket_lifetime")
        age_add = reader.uint32("ticket_age_add")
        nonce = reader.vector(1, 0, 0xFF, "ticket_nonce")
        ticket = reader.vector(2, 1, _U16_MAX, "ticket")
        extensions = parse_extension_block(reader)
        reader.finish("NewSessionTicket")
        check_extensions(extensions, HandshakeType.NEW_SESSION_TICKET)
        return cls(lifetime, age_add, nonce, ticket, extensions)


# --- dispatch and the CRYPTO-stream buffer -----------------------------------------------------

Message: TypeAlias = (
    ClientHello
    | ServerHello
    | EncryptedExtensions
    | CertificateRequest
    | Certificate
    | CertificateVerify
    | Finished
    | NewSessionTicket
)

_MESSAGE_CLASSES: dict[int, type[Message]] = {
    cls.msg_type: cls
    for cls in (
        ClientHello,
        ServerHello,
        EncryptedExtensions,
        CertificateRequest,
        Certificate,
        CertificateVerify,
        Finished,
        NewSessionTicket,
    )
}


def parse_handshake_message(raw: bytes) -> Message:
    """Parse one whole handshake message (header included), dispatching on its type.

    EndOfEarlyData (RFC 9001 §8.3), KeyUpdate (RFC 9001 §6), message_hash (never on the wire,
    RFC 8446 §4.4.1) and unknown types are unexpected_message.
    """
    msg_type, body = _split_header(raw)
    cls = _MESSAGE_CLASSES.get(msg_type)
    if cls is None:
        if msg_type == HandshakeType.END_OF_EARLY_DATA:
            raise _unexpected("EndOfEarlyData is not used with QUIC (RFC 9001 §8.3)")
        if msg_type == HandshakeType.KEY_UPDATE:
            raise _unexpected("TLS KeyUpdate is forbidden in QUIC (RFC 9001 §6)")
        raise _unexpected(f"handshake message type {msg_type} is not expected")
    return cls.parse_body(body)


DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024


class HandshakeBuffer:
    """Reassembles whole handshake messages from the in-order CRYPTO bytes of one level.

    QUIC delivers the CRYPTO stream in order (RFC 9001 §4.1.3); this buffer only cuts it at
    message boundaries.  ``max_message_size`` bounds a message's body (its uint24 length field);
    ``max_buffered`` bounds the unconsumed bytes held, by default room for two maximal messages.
    Exceeding either is CRYPTO_BUFFER_EXCEEDED (RFC 9000 §7.5), raised as soon as it is known.
    """

    __slots__ = ("_buffer", "_max_buffered", "_max_message_size")

    def __init__(
        self, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE, max_buffered: int | None = None
    ) -> None:
        if not 0 <= max_message_size <= _MAX_BODY:
            raise ValueError(f"max_message_size must be 0..{_MAX_BODY}")
        if max_buffered is None:
            max_buffered = 2 * (max_message_size + _HEADER_SIZE)
        if max_buffered < max_message_size + _HEADER_SIZE:
            raise ValueError("max_buffered must hold at least one message of max_message_size")
        self._buffer = bytearray()
        self._max_message_size = max_message_size
        self._max_buffered = max_buffered

    def __len__(self) -> int:
        """Bytes received and not yet returned by :meth:`pop` (a partial message if non-zero
        after pop returned ``None``)."""
        return len(self._buffer)

    def feed(self, data: BytesLike) -> None:
        """Append in-order CRYPTO bytes."""
        if len(self._buffer) + len(data) > self._max_buffered:
            raise QuicError(
                TransportErrorCode.CRYPTO_BUFFER_EXCEEDED,
                f"more than {self._max_buffered} bytes of unprocessed handshake data",
            )
        self._buffer += data
        self._next_length()

    def _next_length(self) -> int | None:
        """The body length of the first buffered message, once its header is complete."""
        if len(self._buffer) < _HEADER_SIZE:
            return None
        length = int.from_bytes(self._buffer[1:_HEADER_SIZE], "big")
        if length > self._max_message_size:
            raise QuicError(
                TransportErrorCode.CRYPTO_BUFFER_EXCEEDED,
                f"handshake message of {length} bytes exceeds {self._max_message_size}",
            )
        return length

    def pop(self) -> bytes | None:
        """The next whole message (header included), or ``None`` until one is complete."""
        length = self._next_length()
        if length is None or len(self._buffer) < _HEADER_SIZE + length:
            return None
        end = _HEADER_SIZE + length
        message = bytes(self._buffer[:end])
        del self._buffer[:end]
        return message
