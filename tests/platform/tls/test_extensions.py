"""Tests of the TLS extension codecs and extension-block rules (RFC 8446 §4.2, RFC 6066, RFC 7301).

Expected bytes are written by hand from the RFC structure definitions; every error case checks
the exact QUIC error code, 0x100 + alert (RFC 9001 §4.8).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pyquic.core.errors import QuicError
from pyquic.platform.tls.constants import ExtensionType, HandshakeType, NamedGroup
from pyquic.platform.tls.extensions import (
    Extensions,
    KeyShareEntry,
    OfferedPsks,
    PskIdentity,
    check_extensions,
    check_key_share_length,
    encode_alpn,
    encode_cookie,
    encode_early_data,
    encode_extension_block,
    encode_key_share,
    encode_pre_shared_key,
    encode_psk_key_exchange_modes,
    encode_quic_transport_parameters,
    encode_server_name,
    encode_signature_algorithms,
    encode_supported_groups,
    encode_supported_versions,
    find_extension,
    parse_alpn,
    parse_cookie,
    parse_early_data,
    parse_extension_block,
    parse_key_share,
    parse_pre_shared_key,
    parse_psk_key_exchange_modes,
    parse_quic_transport_parameters,
    parse_server_name,
    parse_signature_algorithms,
    parse_supported_groups,
    parse_supported_versions,
)
from pyquic.platform.tls.wire import TlsReader

DECODE_ERROR = 0x132
ILLEGAL_PARAMETER = 0x12F

CH = HandshakeType.CLIENT_HELLO
SH = HandshakeType.SERVER_HELLO
EE = HandshakeType.ENCRYPTED_EXTENSIONS
CT = HandshakeType.CERTIFICATE
CR = HandshakeType.CERTIFICATE_REQUEST
NST = HandshakeType.NEW_SESSION_TICKET
H = bytes.fromhex


def raises_code(code: int, action: Callable[[], object]) -> QuicError:
    with pytest.raises(QuicError) as info:
        action()
    assert info.value.error_code == code, info.value
    return info.value


# --- extension block ---------------------------------------------------------------------------


def test_extension_block_exact_bytes() -> None:
    block = encode_extension_block([(0x002B, H("0304")), (0xFFFF, b"")])
    assert block == H("000a" + "002b00020304" + "ffff0000")
    reader = TlsReader(block)
    assert parse_extension_block(reader) == ((0x2B, H("0304")), (0xFFFF, b""))
    assert reader.eof()


def test_extension_block_empty_and_minimum() -> None:
    assert encode_extension_block([]) == H("0000")
    assert parse_extension_block(TlsReader(H("0000"))) == ()
    raises_code(DECODE_ERROR, lambda: parse_extension_block(TlsReader(H("0000")), minimum=6))
    with pytest.raises(ValueError):
        encode_extension_block([], minimum=6)


@pytest.mark.parametrize(
    "hex_block",
    [
        "",  # no length
        "00",  # half a length
        "0005002b0002",  # block shorter than its length
        "0006002b00020304ff",  # a byte after the block
        "0003002b00",  # extension header cut
        "0004002b0001",  # extension_data length 1 but no byte
    ],
)
def test_extension_block_malformed(hex_block: str) -> None:
    def parse() -> object:
        reader = TlsReader(H(hex_block))
        block = parse_extension_block(reader)
        reader.finish("test")
        return block

    raises_code(DECODE_ERROR, parse)


def test_find_extension() -> None:
    extensions: Extensions = ((1, b"a"), (2, b""))
    assert find_extension(extensions, 2) == b""
    assert find_extension(extensions, 1) == b"a"
    assert find_extension(extensions, 3) is None


# --- check_extensions: the RFC 8446 §4.2 table -------------------------------------------------

TABLE_CASES = [
    # (extension, message, hello_retry, allowed)
    (ExtensionType.SERVER_NAME, CH, False, True),
    (ExtensionType.SERVER_NAME, EE, False, True),
    (ExtensionType.SERVER_NAME, CR, False, True),
    (ExtensionType.SERVER_NAME, SH, False, False),
    (ExtensionType.SERVER_NAME, CT, False, False),
    (ExtensionType.SUPPORTED_GROUPS, EE, False, True),
    (ExtensionType.SUPPORTED_GROUPS, SH, False, False),
    (ExtensionType.SIGNATURE_ALGORITHMS, CR, False, True),
    (ExtensionType.SIGNATURE_ALGORITHMS, EE, False, False),
    (ExtensionType.APPLICATION_LAYER_PROTOCOL_NEGOTIATION, EE, False, True),
    (ExtensionType.APPLICATION_LAYER_PROTOCOL_NEGOTIATION, SH, False, False),
    (ExtensionType.PRE_SHARED_KEY, SH, False, True),
    (ExtensionType.PRE_SHARED_KEY, SH, True, False),
    (ExtensionType.PRE_SHARED_KEY, EE, False, False),
    (ExtensionType.EARLY_DATA, EE, False, True),
    (ExtensionType.EARLY_DATA, NST, False, True),
    (ExtensionType.EARLY_DATA, SH, False, False),
    (ExtensionType.SUPPORTED_VERSIONS, SH, True, True),
    (ExtensionType.SUPPORTED_VERSIONS, EE, False, False),
    (ExtensionType.COOKIE, SH, True, True),
    (ExtensionType.COOKIE, SH, False, False),
    (ExtensionType.PSK_KEY_EXCHANGE_MODES, CH, False, True),
    (ExtensionType.PSK_KEY_EXCHANGE_MODES, SH, False, False),
    (ExtensionType.CERTIFICATE_AUTHORITIES, CR, False, True),
    (ExtensionType.CERTIFICATE_AUTHORITIES, EE, False, False),
    (ExtensionType.SIGNATURE_ALGORITHMS_CERT, CR, False, True),
    (ExtensionType.KEY_SHARE, SH, False, True),
    (ExtensionType.KEY_SHARE, SH, True, True),
    (ExtensionType.KEY_SHARE, EE, False, False),
    (ExtensionType.KEY_SHARE, NST, False, False),
    (ExtensionType.QUIC_TRANSPORT_PARAMETERS, EE, False, True),
    (ExtensionType.QUIC_TRANSPORT_PARAMETERS, SH, False, False),
    (ExtensionType.QUIC_TRANSPORT_PARAMETERS, NST, False, False),
    (5, CT, False, True),  # status_request
    (5, EE, False, False),
    (48, CR, False, True),  # oid_filters
    (48, CH, False, False),
    (21, CH, False, True),  # padding
    (21, EE, False, False),
    (65037, SH, True, True),  # encrypted_client_hello
    (65037, SH, False, False),
]


@pytest.mark.parametrize(("ext_type", "message", "hello_retry", "allowed"), TABLE_CASES)
def test_check_extensions_table(
    ext_type: int, message: HandshakeType, hello_retry: bool, allowed: bool
) -> None:
    extensions: Extensions = ((int(ext_type), b""),)
    if allowed:
        check_extensions(extensions, message, hello_retry=hello_retry)
    else:
        raises_code(
            ILLEGAL_PARAMETER,
            lambda: check_extensions(extensions, message, hello_retry=hello_retry),
        )


@pytest.mark.parametrize("message", [CH, SH, EE, CT, CR, NST])
def test_check_extensions_unknown_types_pass(message: HandshakeType) -> None:
    check_extensions(((0x1234, b"x"), (0xFAFA, b"")), message)


@pytest.mark.parametrize("message", [CH, SH, EE, CT, CR, NST])
def test_check_extensions_duplicate(message: HandshakeType) -> None:
    raises_code(ILLEGAL_PARAMETER, lambda: check_extensions(((7, b""), (7, b"x")), message))


def test_check_extensions_pre_shared_key_last_in_client_hello() -> None:
    psk, versions = int(ExtensionType.PRE_SHARED_KEY), int(ExtensionType.SUPPORTED_VERSIONS)
    check_extensions(((versions, b""), (psk, b"")), CH)
    raises_code(ILLEGAL_PARAMETER, lambda: check_extensions(((psk, b""), (versions, b"")), CH))
    check_extensions(((psk, b""), (versions, b"")), SH)  # anywhere in the ServerHello


def test_check_extensions_bad_arguments() -> None:
    with pytest.raises(ValueError):
        check_extensions((), EE, hello_retry=True)
    with pytest.raises(ValueError):
        check_extensions((), HandshakeType.FINISHED)


# --- server_name (RFC 6066 §3) -----------------------------------------------------------------


def test_server_name_exact_bytes() -> None:
    data = encode_server_name("example.com")
    assert data == H("000e" + "00" + "000b" + b"example.com".hex())
    assert parse_server_name(data, CH) == "example.com"
    assert parse_server_name(data, CR) == "example.com"
    assert encode_server_name(None) == b""
    assert parse_server_name(b"", EE) is None


def test_server_name_unknown_type_ignored() -> None:
    assert parse_server_name(H("0004" + "01000161"), CH) is None
    other_then_host = H("0008" + "01000161" + "00000162")
    assert parse_server_name(other_then_host, CH) == "b"


@pytest.mark.parametrize(
    ("hex_data", "context", "code"),
    [
        ("00", EE, DECODE_ERROR),  # the response must be empty
        ("", CH, DECODE_ERROR),
        ("0000", CH, DECODE_ERROR),  # server_name_list<1..2^16-1>
        ("0003000000", CH, DECODE_ERROR),  # HostName<1..2^16-1>
        ("000400000161ff", CH, DECODE_ERROR),  # trailing byte
        ("0005000002", CH, DECODE_ERROR),  # truncated
        ("000800000161" + "00000162", CH, ILLEGAL_PARAMETER),  # two host_names
        ("0004000001ff", CH, ILLEGAL_PARAMETER),  # not ASCII
    ],
)
def test_server_name_errors(hex_data: str, context: HandshakeType, code: int) -> None:
    raises_code(code, lambda: parse_server_name(H(hex_data), context))


def test_server_name_encode_errors() -> None:
    with pytest.raises(ValueError):
        encode_server_name("")
    with pytest.raises(ValueError):
        encode_server_name("bücher.example")
    with pytest.raises(ValueError):
        parse_server_name(b"", SH)


# --- supported_groups, signature_algorithms ----------------------------------------------------


def test_supported_groups_exact_bytes() -> None:
    data = encode_supported_groups([NamedGroup.X25519, NamedGroup.SECP256R1, 0x11EC])
    assert data == H("0006001d001711ec")
    assert parse_supported_groups(data, CH) == (0x1D, 0x17, 0x11EC)
    assert parse_supported_groups(data, EE) == (0x1D, 0x17, 0x11EC)


@pytest.mark.parametrize(
    ("hex_data", "code"),
    [
        ("0000", DECODE_ERROR),  # named_group_list<2..2^16-1>
        ("0003001d00", DECODE_ERROR),  # odd
        ("0004001d", DECODE_ERROR),  # truncated
        ("0002001d00", DECODE_ERROR),  # trailing
        ("0004001d001d", ILLEGAL_PARAMETER),  # duplicate entry (§4.2.7)
    ],
)
def test_supported_groups_errors(hex_data: str, code: int) -> None:
    raises_code(code, lambda: parse_supported_groups(H(hex_data), CH))


def test_supported_groups_encode_errors() -> None:
    with pytest.raises(ValueError):
        encode_supported_groups([])
    with pytest.raises(ValueError):
        encode_supported_groups([0x1D, 0x1D])
    with pytest.raises(ValueError):
        encode_supported_groups([0x10000])


def test_signature_algorithms_exact_bytes() -> None:
    data = encode_signature_algorithms([0x0403, 0x0804, 0x0807])
    assert data == H("0006040308040807")
    assert parse_signature_algorithms(data, CH) == (0x0403, 0x0804, 0x0807)
    assert parse_signature_algorithms(data, CR) == (0x0403, 0x0804, 0x0807)


@pytest.mark.parametrize("hex_data", ["0000", "000304030804", "00020403ff", "0004", ""])
def test_signature_algorithms_errors(hex_data: str) -> None:
    raises_code(DECODE_ERROR, lambda: parse_signature_algorithms(H(hex_data), CH))


# --- ALPN (RFC 7301 §3.1) ----------------------------------------------------------------------


def test_alpn_exact_bytes() -> None:
    assert encode_alpn([b"h3"]) == H("0003026833")
    data = encode_alpn([b"h3", b"hq-interop"])
    assert data == H("000e" + "026833" + "0a" + b"hq-interop".hex())
    assert parse_alpn(data, CH) == (b"h3", b"hq-interop")
    assert parse_alpn(H("0003026833"), EE) == b"h3"


@pytest.mark.parametrize(
    ("hex_data", "context", "code"),
    [
        ("0000", CH, DECODE_ERROR),  # protocol_name_list<2..2^16-1>
        ("000100", CH, DECODE_ERROR),
        ("0003000161", CH, DECODE_ERROR),  # an empty ProtocolName<1..2^8-1>
        ("0003036833", CH, DECODE_ERROR),  # name runs past the list
        ("000302683300", CH, DECODE_ERROR),  # trailing
        ("0006026833026834", EE, ILLEGAL_PARAMETER),  # two names in the response
    ],
)
def test_alpn_errors(hex_data: str, context: HandshakeType, code: int) -> None:
    raises_code(code, lambda: parse_alpn(H(hex_data), context))


def test_alpn_encode_errors() -> None:
    with pytest.raises(ValueError):
        encode_alpn([])
    with pytest.raises(ValueError):
        encode_alpn([b""])
    with pytest.raises(ValueError):
        encode_alpn([b"x" * 256])


# --- supported_versions (§4.2.1) ---------------------------------------------------------------


def test_supported_versions_exact_bytes() -> None:
    assert encode_supported_versions([0x0304, 0x0303]) == H("0403040303")
    assert parse_supported_versions(H("0403040303"), CH) == (0x0304, 0x0303)
    assert encode_supported_versions(0x0304) == H("0304")
    assert parse_supported_versions(H("0304"), SH) == 0x0304


@pytest.mark.parametrize(
    ("hex_data", "context"),
    [
        ("00", CH),  # versions<2..254>
        ("030304ff", CH),  # odd
        ("0403", CH),  # truncated
        ("02030400", CH),  # trailing
        ("03", SH),
        ("030400", SH),
    ],
)
def test_supported_versions_errors(hex_data: str, context: HandshakeType) -> None:
    raises_code(DECODE_ERROR, lambda: parse_supported_versions(H(hex_data), context))


def test_supported_versions_encode_errors() -> None:
    with pytest.raises(ValueError):
        encode_supported_versions([])
    with pytest.raises(ValueError):
        encode_supported_versions([0x0304] * 128)  # 256 bytes > 254


# --- key_share (§4.2.8) ------------------------------------------------------------------------

SHARE = KeyShareEntry(NamedGroup.X25519, b"\xaa" * 32)


def test_key_share_exact_bytes() -> None:
    entry_hex = "001d" + "0020" + "aa" * 32
    assert encode_key_share([SHARE]) == H("0024" + entry_hex)
    assert parse_key_share(H("0024" + entry_hex), CH) == (SHARE,)
    assert encode_key_share(SHARE) == H(entry_hex)
    assert parse_key_share(H(entry_hex), SH) == SHARE
    assert encode_key_share(0x0017) == H("0017")
    assert parse_key_share(H("0017"), SH, hello_retry=True) == 0x0017
    assert encode_key_share([]) == H("0000")
    assert parse_key_share(H("0000"), CH) == ()


def test_key_share_two_client_shares() -> None:
    second = KeyShareEntry(NamedGroup.SECP256R1, b"\x04" + b"\x01" * 64)
    data = encode_key_share([SHARE, second])
    assert parse_key_share(data, CH) == (SHARE, second)


@pytest.mark.parametrize(
    ("hex_data", "context", "hello_retry", "code"),
    [
        ("0004001d0000", CH, False, DECODE_ERROR),  # key_exchange<1..2^16-1>
        ("0006001d000101", CH, False, DECODE_ERROR),  # list longer than the data
        ("0005001d0001aa" + "ff", CH, False, DECODE_ERROR),
        ("0006001d0001aa00", CH, False, DECODE_ERROR),  # entry cut
        ("000a001d0001aa" + "001d0001bb", CH, False, ILLEGAL_PARAMETER),  # two for one group
        ("001d0000", SH, False, DECODE_ERROR),
        ("001d0001aaff", SH, False, DECODE_ERROR),
        ("001d", SH, False, DECODE_ERROR),
        ("00", SH, True, DECODE_ERROR),
        ("001d00", SH, True, DECODE_ERROR),
    ],
)
def test_key_share_errors(
    hex_data: str, context: HandshakeType, hello_retry: bool, code: int
) -> None:
    raises_code(code, lambda: parse_key_share(H(hex_data), context, hello_retry=hello_retry))


def test_key_share_bad_arguments() -> None:
    with pytest.raises(ValueError):
        parse_key_share(H("0000"), CH, hello_retry=True)
    with pytest.raises(ValueError):
        parse_key_share(H("0000"), EE)
    with pytest.raises(ValueError):
        encode_key_share([SHARE, SHARE])
    with pytest.raises(ValueError):
        encode_key_share(KeyShareEntry(0x1D, b""))


@pytest.mark.parametrize(
    ("group", "length", "from_client"),
    [
        (NamedGroup.SECP256R1, 65, True),
        (NamedGroup.SECP256R1, 65, False),
        (NamedGroup.SECP384R1, 97, True),
        (NamedGroup.X25519, 32, True),
        (NamedGroup.X25519, 32, False),
        (NamedGroup.X25519MLKEM768, 1216, True),
        (NamedGroup.X25519MLKEM768, 1120, False),
    ],
)
def test_key_share_length_accepted(group: int, length: int, from_client: bool) -> None:
    check_key_share_length(group, b"\x04" + b"\x00" * (length - 1), from_client)


@pytest.mark.parametrize(
    ("group", "data", "from_client"),
    [
        (NamedGroup.SECP256R1, b"\x04" * 64, True),
        (NamedGroup.SECP256R1, b"\x02" + b"\x00" * 64, True),  # not uncompressed
        (NamedGroup.SECP384R1, b"\x04" * 65, False),
        (NamedGroup.SECP384R1, b"\x03" + b"\x00" * 96, False),
        (NamedGroup.X25519, b"\x00" * 33, True),
        (NamedGroup.X25519, b"\x00" * 31, False),
        (NamedGroup.X25519MLKEM768, b"\x00" * 1120, True),  # a server-sized share
        (NamedGroup.X25519MLKEM768, b"\x00" * 1216, False),  # a client-sized share
    ],
)
def test_key_share_length_rejected(group: int, data: bytes, from_client: bool) -> None:
    raises_code(ILLEGAL_PARAMETER, lambda: check_key_share_length(group, data, from_client))


def test_key_share_length_unknown_group_passes() -> None:
    check_key_share_length(0x0100, b"\x01", True)


# --- psk_key_exchange_modes, pre_shared_key ----------------------------------------------------


def test_psk_key_exchange_modes() -> None:
    assert encode_psk_key_exchange_modes([1]) == H("0101")
    assert parse_psk_key_exchange_modes(H("020100"), CH) == (1, 0)
    for bad in ("00", "0201", "010100", ""):
        raises_code(DECODE_ERROR, lambda bad=bad: parse_psk_key_exchange_modes(H(bad), CH))
    with pytest.raises(ValueError):
        encode_psk_key_exchange_modes([])


OFFERED = OfferedPsks((PskIdentity(b"ticket", 0x01020304),), (b"\xbb" * 32,))
OFFERED_HEX = "000c" + "0006" + b"ticket".hex() + "01020304" + "0021" + "20" + "bb" * 32


def test_pre_shared_key_exact_bytes() -> None:
    assert encode_pre_shared_key(OFFERED) == H(OFFERED_HEX)
    assert parse_pre_shared_key(H(OFFERED_HEX), CH) == OFFERED
    assert OFFERED.encode_identities() == H(OFFERED_HEX[: 2 * 14])
    assert OFFERED.encode_binders() == H("0021" + "20" + "bb" * 32)
    assert encode_pre_shared_key(1) == H("0001")
    assert parse_pre_shared_key(H("0001"), SH) == 1


def test_pre_shared_key_two_identities() -> None:
    offered = OfferedPsks(
        (PskIdentity(b"a", 0), PskIdentity(b"b" * 300, 0xFFFFFFFF)),
        (b"\x01" * 32, b"\x02" * 48),
    )
    assert parse_pre_shared_key(encode_pre_shared_key(offered), CH) == offered


@pytest.mark.parametrize(
    ("hex_data", "code"),
    [
        ("0000" + "0021" + "20" + "bb" * 32, DECODE_ERROR),  # identities<7..2^16-1>
        ("0007" + "0000" + "00000000" + "00" + "0021" + "20" + "bb" * 32, DECODE_ERROR),
        ("000c0006" + b"ticket".hex() + "01020304" + "0020" + "1f" + "bb" * 31, DECODE_ERROR),
        ("000c0006" + b"ticket".hex() + "01020304" + "0000", DECODE_ERROR),  # binders<33..>
        ("000c0006" + b"ticket".hex() + "01020304", DECODE_ERROR),  # no binders
        (OFFERED_HEX + "00", DECODE_ERROR),  # trailing
        (
            "000c0006" + b"ticket".hex() + "01020304" + "0042" + ("20" + "bb" * 32) * 2,
            ILLEGAL_PARAMETER,  # two binders for one identity
        ),
    ],
)
def test_pre_shared_key_errors(hex_data: str, code: int) -> None:
    raises_code(code, lambda: parse_pre_shared_key(H(hex_data), CH))


def test_pre_shared_key_selected_identity_errors() -> None:
    raises_code(DECODE_ERROR, lambda: parse_pre_shared_key(H("00"), SH))
    raises_code(DECODE_ERROR, lambda: parse_pre_shared_key(H("000000"), SH))


def test_pre_shared_key_encode_errors() -> None:
    with pytest.raises(ValueError):
        encode_pre_shared_key(OfferedPsks(OFFERED.identities, ()))
    with pytest.raises(ValueError):
        encode_pre_shared_key(OfferedPsks(OFFERED.identities, (b"\x00" * 31,)))
    with pytest.raises(ValueError):
        encode_pre_shared_key(OfferedPsks((PskIdentity(b"", 0),), (b"\x00" * 32,)))


# --- early_data, cookie, quic_transport_parameters ---------------------------------------------


def test_early_data() -> None:
    assert encode_early_data() == b""
    assert parse_early_data(b"", CH) is None
    assert parse_early_data(b"", EE) is None
    assert encode_early_data(0xFFFFFFFF) == H("ffffffff")
    assert parse_early_data(H("00004000"), NST) == 0x4000
    raises_code(DECODE_ERROR, lambda: parse_early_data(H("00"), EE))
    raises_code(DECODE_ERROR, lambda: parse_early_data(H("00"), CH))
    raises_code(DECODE_ERROR, lambda: parse_early_data(H("000040"), NST))
    raises_code(DECODE_ERROR, lambda: parse_early_data(H("0000400000"), NST))
    with pytest.raises(ValueError):
        encode_early_data(1 << 32)


def test_cookie() -> None:
    assert encode_cookie(b"\x01\x02\x03") == H("0003010203")
    assert parse_cookie(H("0003010203"), SH) == H("010203")
    assert parse_cookie(H("0003010203"), CH) == H("010203")
    for bad in ("0000", "00", "000301", "000301020304"):
        raises_code(DECODE_ERROR, lambda bad=bad: parse_cookie(H(bad), CH))
    with pytest.raises(ValueError):
        encode_cookie(b"")


def test_quic_transport_parameters() -> None:
    body = H("0104800075300f00")
    assert encode_quic_transport_parameters(body) == body
    assert parse_quic_transport_parameters(body, CH) == body
    assert parse_quic_transport_parameters(b"", EE) == b""
    with pytest.raises(ValueError):
        encode_quic_transport_parameters(b"\x00" * 0x10000)
    with pytest.raises(ValueError):
        parse_quic_transport_parameters(body, SH)


@pytest.mark.parametrize(
    ("parse", "context"),
    [
        (parse_supported_groups, SH),
        (parse_signature_algorithms, EE),
        (parse_psk_key_exchange_modes, SH),
        (parse_cookie, EE),
        (parse_early_data, SH),
        (parse_pre_shared_key, EE),
        (parse_supported_versions, EE),
        (parse_alpn, SH),
    ],
)
def test_parse_in_impossible_context_is_a_programming_error(
    parse: Callable[[bytes, HandshakeType], object], context: HandshakeType
) -> None:
    with pytest.raises(ValueError):
        parse(b"", context)
