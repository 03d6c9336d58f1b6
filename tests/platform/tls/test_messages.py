"""Tests of the TLS handshake message codecs and the handshake buffer (RFC 8446 §4, RFC 9001).

Expected bytes are written by hand from the RFC structure definitions; every error case checks
the exact QUIC error code, 0x100 + alert (RFC 9001 §4.8), or CRYPTO_BUFFER_EXCEEDED.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.platform.tls.constants import ExtensionType, HandshakeType
from pyquic.platform.tls.extensions import (
    Extensions,
    KeyShareEntry,
    OfferedPsks,
    PskIdentity,
    encode_alpn,
    encode_early_data,
    encode_key_share,
    encode_pre_shared_key,
    encode_psk_key_exchange_modes,
    encode_signature_algorithms,
)
from pyquic.platform.tls.messages import (
    DEFAULT_MAX_MESSAGE_SIZE,
    HELLO_RETRY_REQUEST_RANDOM,
    Certificate,
    CertificateEntry,
    CertificateRequest,
    CertificateVerify,
    ClientHello,
    EncryptedExtensions,
    Finished,
    HandshakeBuffer,
    NewSessionTicket,
    ServerHello,
    parse_handshake_message,
)

DECODE_ERROR = 0x132
ILLEGAL_PARAMETER = 0x12F
UNEXPECTED_MESSAGE = 0x10A
CRYPTO_BUFFER_EXCEEDED = 0x0D
H = bytes.fromhex

RANDOM = bytes(range(32))
RANDOM_HEX = RANDOM.hex()
SV_CH = (int(ExtensionType.SUPPORTED_VERSIONS), H("020304"))
SV_SH = (int(ExtensionType.SUPPORTED_VERSIONS), H("0304"))


def raises_code(code: int, action: Callable[[], object]) -> QuicError:
    with pytest.raises(QuicError) as info:
        action()
    assert info.value.error_code == code, info.value
    return info.value


def message(msg_type: int, body_hex: str) -> bytes:
    body = H(body_hex)
    return bytes([msg_type]) + len(body).to_bytes(3, "big") + body


# --- exact encodings ---------------------------------------------------------------------------

CLIENT_HELLO_HEX = (
    "01" + "000034"  # client_hello, length 52
    "0303" + RANDOM_HEX + "00"  # legacy_version, random, empty legacy_session_id
    "0004" + "13011302"  # cipher_suites
    "0100"  # legacy_compression_methods = [0]
    "0007" + "002b" + "0003" + "020304"  # extensions: supported_versions [TLS 1.3]
)


def test_client_hello_exact_bytes() -> None:
    hello = ClientHello(RANDOM, (0x1301, 0x1302), (SV_CH,))
    assert hello.encode() == H(CLIENT_HELLO_HEX)
    assert parse_handshake_message(H(CLIENT_HELLO_HEX)) == hello
    assert ClientHello.parse(H(CLIENT_HELLO_HEX)) == hello


SERVER_SHARE = KeyShareEntry(0x001D, b"\xcc" * 32)
SERVER_HELLO_HEX = (
    "02" + "000056"  # server_hello, length 86
    "0303" + RANDOM_HEX + "00" + "1301" + "00"
    "002e"  # extensions, 46 bytes
    "002b" + "0002" + "0304"  # supported_versions
    "0033" + "0024" + "001d" + "0020" + "cc" * 32  # key_share
)


def test_server_hello_exact_bytes() -> None:
    extensions: Extensions = (SV_SH, (int(ExtensionType.KEY_SHARE), encode_key_share(SERVER_SHARE)))
    hello = ServerHello(RANDOM, 0x1301, extensions)
    assert hello.encode() == H(SERVER_HELLO_HEX)
    parsed = parse_handshake_message(H(SERVER_HELLO_HEX))
    assert parsed == hello
    assert isinstance(parsed, ServerHello)
    assert not parsed.is_hello_retry_request


def test_hello_retry_request() -> None:
    extensions: Extensions = (
        SV_SH,
        (int(ExtensionType.KEY_SHARE), encode_key_share(0x0017)),
        (int(ExtensionType.COOKIE), H("0002abcd")),
    )
    hrr = ServerHello.hello_retry_request(0x1301, extensions)
    assert hrr.random == H("CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C")
    assert hrr.random == HELLO_RETRY_REQUEST_RANDOM
    raw = hrr.encode()
    assert raw[6:38] == HELLO_RETRY_REQUEST_RANDOM
    parsed = ServerHello.parse(raw)
    assert parsed.is_hello_retry_request
    assert parsed == hrr


def test_encrypted_extensions_exact_bytes() -> None:
    extensions: Extensions = ((16, encode_alpn([b"h3"])), (0x39, H("010203")))
    raw = EncryptedExtensions(extensions).encode()
    assert raw == H("08" + "000012" + "0010" + "0010000500" + "03026833" + "00390003010203")
    assert parse_handshake_message(raw) == EncryptedExtensions(extensions)
    assert EncryptedExtensions(()).encode() == H("08000002" + "0000")


def test_certificate_request_exact_bytes() -> None:
    extensions: Extensions = ((13, encode_signature_algorithms([0x0403])),)
    raw = CertificateRequest(b"", extensions).encode()
    assert raw == H("0d" + "00000b" + "00" + "0008" + "000d" + "0004" + "0002" + "0403")
    assert parse_handshake_message(raw) == CertificateRequest(b"", extensions)
    with_context = CertificateRequest(b"\x07\x08", ())
    assert with_context.encode() == H("0d000005" + "020708" + "0000")
    assert parse_handshake_message(with_context.encode()) == with_context


def test_certificate_exact_bytes() -> None:
    cert = Certificate(b"", (CertificateEntry(H("010203")),))
    raw = cert.encode()
    assert raw == H("0b" + "00000c" + "00" + "000008" + "000003" + "010203" + "0000")
    assert parse_handshake_message(raw) == cert
    empty = Certificate(b"\x01", ())
    assert empty.encode() == H("0b000005" + "0101" + "000000")
    assert parse_handshake_message(empty.encode()) == empty


def test_certificate_chain_with_entry_extensions() -> None:
    entries = (
        CertificateEntry(b"\x30" * 300, ((5, b"\x01\x00"),)),  # status_request is allowed in CT
        CertificateEntry(b"\x31" * 70000),
    )
    cert = Certificate(b"", entries)
    assert Certificate.parse(cert.encode()) == cert


def test_certificate_verify_exact_bytes() -> None:
    raw = CertificateVerify(0x0804, H("abcd")).encode()
    assert raw == H("0f" + "000006" + "0804" + "0002" + "abcd")
    assert parse_handshake_message(raw) == CertificateVerify(0x0804, H("abcd"))
    assert CertificateVerify.parse(H("0f0000040403" + "0000")) == CertificateVerify(0x0403, b"")


def test_finished_exact_bytes() -> None:
    raw = Finished(b"\x5a" * 32).encode()
    assert raw == H("14" + "000020" + "5a" * 32)
    assert parse_handshake_message(raw) == Finished(b"\x5a" * 32)


def test_new_session_ticket_exact_bytes() -> None:
    ticket = NewSessionTicket(
        604800, 0x01020304, b"\x00", b"tk", ((42, encode_early_data(0x4000)),)
    )
    raw = ticket.encode()
    assert raw == H(
        "04"
        + "000018"
        + "00093a80"
        + "01020304"
        + "0100"
        + "0002746b"
        + "0008"
        + "002a000400004000"
    )
    assert parse_handshake_message(raw) == ticket


# --- framing errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "hex_raw",
    [
        "",
        "14",
        "140000",
        "14000001",  # length 1, no body
        "1400000100aa",  # body longer than the length
        "14000003aabb",  # body shorter than the length
    ],
)
def test_framing_errors(hex_raw: str) -> None:
    raises_code(DECODE_ERROR, lambda: parse_handshake_message(H(hex_raw)))


@pytest.mark.parametrize(
    "hex_raw",
    [
        "05000000",  # EndOfEarlyData: not used with QUIC (RFC 9001 §8.3)
        "1800000100",  # KeyUpdate: forbidden in QUIC (RFC 9001 §6)
        "fe000000",  # message_hash: never on the wire
        "00000000",  # hello_request_RESERVED
        "03000000",
        "06000000",
        "ff000000",
    ],
)
def test_unexpected_types(hex_raw: str) -> None:
    raises_code(UNEXPECTED_MESSAGE, lambda: parse_handshake_message(H(hex_raw)))


def test_parse_of_the_wrong_class() -> None:
    raw = Finished(b"\x00" * 32).encode()
    raises_code(UNEXPECTED_MESSAGE, lambda: ClientHello.parse(raw))
    raises_code(DECODE_ERROR, lambda: Finished.parse(raw + b"\x00"))


# --- ClientHello errors ------------------------------------------------------------------------

CH_PREFIX = "0303" + RANDOM_HEX + "00" + "00021301"
CH_EXTENSIONS = "0007002b0003020304"


@pytest.mark.parametrize(
    ("body_hex", "code"),
    [
        ("0303" + RANDOM_HEX[:-2], DECODE_ERROR),  # random cut
        ("0303" + RANDOM_HEX + "21" + "00" * 33 + "00021301" + "0100", DECODE_ERROR),  # id > 32
        ("0303" + RANDOM_HEX + "00" + "0000" + "0100", DECODE_ERROR),  # no cipher suite
        ("0303" + RANDOM_HEX + "00" + "000313011302" + "0100", DECODE_ERROR),  # odd suites
        (CH_PREFIX + "00", DECODE_ERROR),  # compression methods<1..2^8-1>
        (CH_PREFIX + "0101" + CH_EXTENSIONS, ILLEGAL_PARAMETER),  # not [null]
        (CH_PREFIX + "020001" + CH_EXTENSIONS, ILLEGAL_PARAMETER),  # [null, 1]
        (CH_PREFIX + "0100" + "0004" + "00150000", DECODE_ERROR),  # extensions<7..2^16-1>
        (CH_PREFIX + "0100" + "00", DECODE_ERROR),  # half an extensions length
        (CH_PREFIX + "0100" + CH_EXTENSIONS + "00", DECODE_ERROR),  # trailing
        (CH_PREFIX + "0100" + "0008002b0004020304", DECODE_ERROR),  # extension cut
        (CH_PREFIX + "0100" + "000e002b0003020304002b0003020304", ILLEGAL_PARAMETER),  # twice
        (CH_PREFIX + "0100" + "00080030000400000000", ILLEGAL_PARAMETER),  # oid_filters in CH
        (CH_PREFIX + "0100" + "000b00290000" + "002b0003020304", ILLEGAL_PARAMETER),  # PSK first
    ],
)
def test_client_hello_errors(body_hex: str, code: int) -> None:
    raises_code(code, lambda: parse_handshake_message(message(1, body_hex)))


def test_client_hello_without_extensions() -> None:
    raw = message(1, CH_PREFIX + "0100")
    hello = ClientHello.parse(raw)
    assert hello.extensions == ()
    assert hello.encode() == raw


def test_client_hello_keeps_legacy_fields() -> None:
    raw = message(1, "0301" + RANDOM_HEX + "02abcd" + "00021301" + "0100" + CH_EXTENSIONS)
    hello = ClientHello.parse(raw)
    assert hello.legacy_version == 0x0301
    assert hello.legacy_session_id == H("abcd")
    assert hello.encode() == raw


def test_client_hello_encode_errors() -> None:
    with pytest.raises(ValueError):
        ClientHello(RANDOM[:31], (0x1301,), (SV_CH,)).encode()
    with pytest.raises(ValueError):
        ClientHello(RANDOM, (), (SV_CH,)).encode()
    with pytest.raises(ValueError):
        ClientHello(RANDOM, (0x1301,), (SV_CH,), legacy_session_id=b"\x00" * 33).encode()
    with pytest.raises(ValueError):
        ClientHello(RANDOM, (0x1301,), ((0x15, b""),)).encode()  # a 4-byte extension block


# --- ServerHello and other message errors ------------------------------------------------------

SH_PREFIX = "0303" + RANDOM_HEX + "00" + "1301"


@pytest.mark.parametrize(
    ("random_hex", "body_rest", "code"),
    [
        (RANDOM_HEX, "01" + "0006002b00020304", ILLEGAL_PARAMETER),  # compression method 1
        (RANDOM_HEX, "00" + "0004ffff0000", DECODE_ERROR),  # extensions<6..2^16-1>
        (RANDOM_HEX, "00" + "0006002b0002030400", DECODE_ERROR),  # trailing
        (RANDOM_HEX, "", DECODE_ERROR),  # no compression method
        (RANDOM_HEX, "00" + "000a002b00020304002c0000", ILLEGAL_PARAMETER),  # cookie in SH
        (RANDOM_HEX, "00" + "000a00100002000000" + "2b", DECODE_ERROR),  # header cut
        (RANDOM_HEX, "00" + "000a002b000203040010" + "0000", ILLEGAL_PARAMETER),  # ALPN in SH
        (
            HELLO_RETRY_REQUEST_RANDOM.hex(),
            "00" + "000a002b0002030400290000",
            ILLEGAL_PARAMETER,  # pre_shared_key in an HRR
        ),
    ],
)
def test_server_hello_errors(random_hex: str, body_rest: str, code: int) -> None:
    body = "0303" + random_hex + "00" + "1301" + body_rest
    raises_code(code, lambda: parse_handshake_message(message(2, body)))


def test_server_hello_variants_accepted() -> None:
    cookie_in_hrr = message(
        2,
        "0303"
        + HELLO_RETRY_REQUEST_RANDOM.hex()
        + "00"
        + "1301"
        + "00"
        + "000a002b00020304002c0000",
    )
    assert ServerHello.parse(cookie_in_hrr).is_hello_retry_request
    psk_in_sh = message(2, SH_PREFIX + "00" + "000c" + "002900020000" + "002b00020304")
    assert ServerHello.parse(psk_in_sh).extensions[0] == (41, H("0000"))
    assert ServerHello.parse(message(2, SH_PREFIX + "00")).extensions == ()


@pytest.mark.parametrize(
    ("msg_type", "body_hex", "code"),
    [
        (8, "", DECODE_ERROR),
        (8, "0004003300", DECODE_ERROR),
        (8, "0000" + "00", DECODE_ERROR),
        (8, "000400330000", ILLEGAL_PARAMETER),  # key_share in EncryptedExtensions
        (8, "0008002b0000002b0000", ILLEGAL_PARAMETER),  # duplicate (and not allowed)
        (8, "000800100000" + "00100000", ILLEGAL_PARAMETER),  # duplicate ALPN
        (13, "", DECODE_ERROR),
        (13, "05aabb", DECODE_ERROR),  # context cut
        (13, "00", DECODE_ERROR),  # no extensions
        (13, "00000400330000", ILLEGAL_PARAMETER),  # key_share in CertificateRequest
        (13, "0000000000", DECODE_ERROR),  # trailing
        (11, "00", DECODE_ERROR),
        (11, "0000000000", DECODE_ERROR),  # trailing after the list
        (11, "00" + "000005" + "000000" + "0000", DECODE_ERROR),  # cert_data<1..2^24-1>
        (11, "00" + "000009" + "000001aa" + "0000", DECODE_ERROR),  # list longer than data
        (11, "00" + "000006" + "000001aa" + "00", DECODE_ERROR),  # entry extensions cut
        (11, "00" + "00000a" + "000001aa" + "000400000000", ILLEGAL_PARAMETER),  # SNI in CT
        (15, "0804", DECODE_ERROR),
        (15, "08040002ab", DECODE_ERROR),
        (15, "0804000000", DECODE_ERROR),  # trailing
        (4, "00000001" + "00000002" + "00" + "0000" + "0000", DECODE_ERROR),  # ticket<1..>
        (4, "00000001" + "00000002" + "00" + "000161", DECODE_ERROR),  # no extensions
        (4, "00000001" + "00000002" + "02aa", DECODE_ERROR),  # nonce cut
        (4, "0000000100000002" + "00" + "000161" + "000400330000", ILLEGAL_PARAMETER),
        (4, "0000000100000002" + "00" + "000161" + "0000" + "ff", DECODE_ERROR),  # trailing
    ],
)
def test_other_message_errors(msg_type: int, body_hex: str, code: int) -> None:
    raises_code(code, lambda: parse_handshake_message(message(msg_type, body_hex)))


def test_other_encode_errors() -> None:
    with pytest.raises(ValueError):
        CertificateRequest(b"\x00" * 256, ()).encode()
    with pytest.raises(ValueError):
        Certificate(b"", (CertificateEntry(b""),)).encode()
    with pytest.raises(ValueError):
        CertificateVerify(0x10000, b"").encode()
    with pytest.raises(ValueError):
        NewSessionTicket(1, 2, b"", b"", ()).encode()
    with pytest.raises(ValueError):
        NewSessionTicket(1 << 32, 2, b"", b"t", ()).encode()
    with pytest.raises(ValueError):
        ServerHello(RANDOM, 0x1301, ((0xFF, b""),)).encode()  # a 4-byte extension block


# --- PSK binders (RFC 8446 §4.2.11.2) ----------------------------------------------------------

PLACEHOLDER = OfferedPsks((PskIdentity(b"ticket", 7),), (b"\x00" * 32,))
PSK_HELLO = ClientHello(
    RANDOM,
    (0x1301,),
    (
        SV_CH,
        (int(ExtensionType.PSK_KEY_EXCHANGE_MODES), encode_psk_key_exchange_modes([1])),
        (int(ExtensionType.PRE_SHARED_KEY), encode_pre_shared_key(PLACEHOLDER)),
    ),
)


def test_truncated_for_binders_exact_bytes() -> None:
    truncated = PSK_HELLO.truncated_for_binders()
    expected = (
        "01" + "00006d"  # full length 109, as if the binders were present
        "0303" + RANDOM_HEX + "00" + "00021301" + "0100"
        "0042"  # extensions, 66 bytes
        "002b0003020304" + "002d00020101"
        "0029" + "0031" + "000c" + "0006" + b"ticket".hex() + "00000007"  # up to identities
    )
    assert truncated == H(expected)
    assert PSK_HELLO.encode() == truncated + H("0021" + "20" + "00" * 32)


def test_with_binders() -> None:
    binder = b"\x42" * 32
    filled = PSK_HELLO.with_binders([binder])
    raw = filled.encode()
    assert raw == PSK_HELLO.truncated_for_binders() + H("002120") + binder
    parsed = ClientHello.parse(raw)
    assert parsed == filled
    assert parsed.truncated_for_binders() == PSK_HELLO.truncated_for_binders()
    assert parsed.extensions[:-1] == PSK_HELLO.extensions[:-1]


def test_with_binders_errors() -> None:
    with pytest.raises(ValueError):
        PSK_HELLO.with_binders([b"\x42" * 48])
    with pytest.raises(ValueError):
        PSK_HELLO.with_binders([b"\x42" * 32, b"\x42" * 32])
    no_psk = ClientHello(RANDOM, (0x1301,), (SV_CH,))
    with pytest.raises(ValueError):
        no_psk.truncated_for_binders()
    with pytest.raises(ValueError):
        no_psk.with_binders([])
    bad_body = ClientHello(RANDOM, (0x1301,), (SV_CH, (int(ExtensionType.PRE_SHARED_KEY), b"")))
    raises_code(DECODE_ERROR, bad_body.truncated_for_binders)


# --- HandshakeBuffer ---------------------------------------------------------------------------


def test_buffer_byte_by_byte() -> None:
    first = Finished(b"\x01" * 32).encode()
    second = H(CLIENT_HELLO_HEX)
    buffer = HandshakeBuffer()
    popped: list[bytes] = []
    for byte in first + second:
        buffer.feed(bytes([byte]))
        message_ = buffer.pop()
        if message_ is not None:
            popped.append(message_)
    assert popped == [first, second]
    assert len(buffer) == 0
    assert buffer.pop() is None


def test_buffer_several_messages_in_one_feed() -> None:
    messages = [
        EncryptedExtensions(()).encode(),
        Finished(b"").encode(),
        CertificateVerify(0x0807, b"s" * 64).encode(),
    ]
    buffer = HandshakeBuffer()
    buffer.feed(b"".join(messages) + b"\x14\x00")
    assert [buffer.pop(), buffer.pop(), buffer.pop(), buffer.pop()] == [*messages, None]
    assert len(buffer) == 2


def test_buffer_message_too_large() -> None:
    buffer = HandshakeBuffer(max_message_size=100)
    buffer.feed(b"\x0b\x00\x00")
    error = raises_code(CRYPTO_BUFFER_EXCEEDED, lambda: buffer.feed(b"\x65"))  # length 101
    assert error.error_code == TransportErrorCode.CRYPTO_BUFFER_EXCEEDED
    exact = HandshakeBuffer(max_message_size=100)
    exact.feed(b"\x0b\x00\x00\x64" + b"\x00" * 100)
    assert exact.pop() == b"\x0b\x00\x00\x64" + b"\x00" * 100


def test_buffer_default_limit() -> None:
    assert DEFAULT_MAX_MESSAGE_SIZE == 65536
    buffer = HandshakeBuffer()
    raises_code(CRYPTO_BUFFER_EXCEEDED, lambda: buffer.feed(b"\x0b\x01\x00\x01"))


def test_buffer_total_limit() -> None:
    buffer = HandshakeBuffer(max_message_size=10, max_buffered=20)
    buffer.feed(b"\x14\x00\x00\x00" * 5)  # five empty messages, 20 bytes
    raises_code(CRYPTO_BUFFER_EXCEEDED, lambda: buffer.feed(b"\x14"))
    assert buffer.pop() == b"\x14\x00\x00\x00"
    buffer.feed(b"\x14\x00\x00\x00")


def test_buffer_bad_arguments() -> None:
    with pytest.raises(ValueError):
        HandshakeBuffer(max_message_size=-1)
    with pytest.raises(ValueError):
        HandshakeBuffer(max_message_size=1 << 24)
    with pytest.raises(ValueError):
        HandshakeBuffer(max_message_size=100, max_buffered=103)
    HandshakeBuffer(max_message_size=100, max_buffered=104)


def test_buffer_then_parse_round_trip() -> None:
    hello = ClientHello(RANDOM, (0x1301,), (SV_CH,))
    buffer = HandshakeBuffer()
    buffer.feed(hello.encode())
    raw = buffer.pop()
    assert raw is not None
    assert parse_handshake_message(raw) == hello


def test_messages_have_their_types() -> None:
    assert ClientHello.msg_type == HandshakeType.CLIENT_HELLO
    assert ServerHello.msg_type == HandshakeType.SERVER_HELLO
    assert NewSessionTicket.msg_type == HandshakeType.NEW_SESSION_TICKET
    assert Finished(b"").encode()[0] == HandshakeType.FINISHED
