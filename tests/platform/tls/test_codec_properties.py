"""Property tests of the TLS handshake message and extension codecs (RFC 8446 §4).

Properties: every message type encodes then parses to itself; parsing arbitrary bytes, a
well-formed header over an arbitrary body, or a mutated valid message raises nothing but
QuicError, and whatever parses re-encodes to exactly the input (the transcript may hash either);
the same for every typed extension body in every context it has.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyquic.core.errors import QuicError
from pyquic.platform.tls.constants import ExtensionType, HandshakeType
from pyquic.platform.tls.extensions import (
    Extension,
    Extensions,
    KeyShareEntry,
    OfferedPsks,
    PskIdentity,
    check_extensions,
    encode_alpn,
    encode_cookie,
    encode_early_data,
    encode_key_share,
    encode_pre_shared_key,
    encode_psk_key_exchange_modes,
    encode_server_name,
    encode_signature_algorithms,
    encode_supported_groups,
    encode_supported_versions,
    parse_alpn,
    parse_cookie,
    parse_early_data,
    parse_key_share,
    parse_pre_shared_key,
    parse_psk_key_exchange_modes,
    parse_server_name,
    parse_signature_algorithms,
    parse_supported_groups,
    parse_supported_versions,
)
from pyquic.platform.tls.messages import (
    HELLO_RETRY_REQUEST_RANDOM,
    Certificate,
    CertificateEntry,
    CertificateRequest,
    CertificateVerify,
    ClientHello,
    EncryptedExtensions,
    Finished,
    Message,
    NewSessionTicket,
    ServerHello,
    parse_handshake_message,
)

MANY = settings(
    max_examples=10_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

CH = HandshakeType.CLIENT_HELLO
SH = HandshakeType.SERVER_HELLO
EE = HandshakeType.ENCRYPTED_EXTENSIONS
CR = HandshakeType.CERTIFICATE_REQUEST
NST = HandshakeType.NEW_SESSION_TICKET
PSK = int(ExtensionType.PRE_SHARED_KEY)
VERSIONS = int(ExtensionType.SUPPORTED_VERSIONS)
H3_4 = b"\x02\x03\x04"  # supported_versions in a ClientHello: [TLS 1.3]

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
# Candidate types: every codepoint of the §4.2 table and some unknown ones.
CANDIDATE_TYPES = [*range(71), 0x39, 0x1234, 0xFAFA, 0xFF01, 64768, 65037]


def allowed_types(message: HandshakeType, hello_retry: bool = False) -> list[int]:
    """The candidate types that check_extensions accepts in the message."""
    allowed = []
    for ext_type in CANDIDATE_TYPES:
        try:
            check_extensions(((ext_type, b""),), message, hello_retry=hello_retry)
        except QuicError:
            continue
        allowed.append(ext_type)
    return allowed


def carve_block(types: list[int], insert: Extension | None, blob: bytes) -> Extensions:
    """Cut ``blob`` into extensions of unique types from ``types`` (selector, size, body bytes),
    with ``insert`` placed at the position the first byte picks.

    One draw per block instead of one per field keeps 10,000 examples fast.
    """
    extensions: list[Extension] = []
    seen: set[int] = set()
    position = 1
    while position + 2 <= len(blob):
        ext_type = types[blob[position] % len(types)]
        size = blob[position + 1] % 13
        body = blob[position + 2 : position + 2 + size]
        position += 2 + size
        if ext_type not in seen:
            seen.add(ext_type)
            extensions.append((ext_type, body))
    if insert is not None:
        index = (blob[0] if blob else 0) % (len(extensions) + 1)
        extensions.insert(index, insert)
    return tuple(extensions)


def extension_blocks(
    message: HandshakeType,
    hello_retry: bool = False,
    exclude: frozenset[int] = frozenset(),
    insert: Extension | None = None,
) -> st.SearchStrategy[Extensions]:
    """Blocks of unique types that check_extensions accepts for the message (plus ``insert``)."""
    types = [t for t in allowed_types(message, hello_retry) if t not in exclude]
    return st.binary(max_size=48).map(lambda blob: carve_block(types, insert, blob))


offered_psks = st.lists(
    st.tuples(st.binary(min_size=1, max_size=8), u32, st.binary(min_size=32, max_size=48)),
    min_size=1,
    max_size=2,
).map(
    lambda items: OfferedPsks(
        tuple(PskIdentity(identity, age) for identity, age, _ in items),
        tuple(binder for _, _, binder in items),
    )
)
randoms = st.binary(min_size=32, max_size=32)
session_ids = st.binary(max_size=32)
# supported_versions somewhere in every non-empty hello block, so blocks reach their minimum size.
CH_BLOCKS = st.one_of(
    st.just(()),
    extension_blocks(CH, exclude=frozenset({VERSIONS, PSK}), insert=(VERSIONS, H3_4)),
)
SH_BLOCKS = st.one_of(
    st.just(()),
    extension_blocks(SH, exclude=frozenset({VERSIONS}), insert=(VERSIONS, b"\x03\x04")),
)
HRR_BLOCKS = extension_blocks(
    SH, True, exclude=frozenset({VERSIONS}), insert=(VERSIONS, b"\x03\x04")
)


def suites_of(blob: bytes) -> tuple[int, ...]:
    """The uint16 values of ``blob`` (an odd last byte dropped)."""
    return tuple(int.from_bytes(blob[i : i + 2], "big") for i in range(0, len(blob) - 1, 2))


def client_hellos(psks: st.SearchStrategy[OfferedPsks | None]) -> st.SearchStrategy[ClientHello]:
    """ClientHellos, with a pre_shared_key extension appended when ``psks`` gives one."""

    def build(
        random: bytes,
        suites: tuple[int, ...],
        extensions: Extensions,
        offered: OfferedPsks | None,
        session_id: bytes,
        version: int,
    ) -> ClientHello:
        if offered is not None:
            extensions = (*extensions, (PSK, encode_pre_shared_key(offered)))
        return ClientHello(random, suites, extensions, session_id, version)

    return st.builds(
        build,
        randoms,
        st.binary(min_size=2, max_size=8).map(suites_of),
        CH_BLOCKS,
        psks,
        session_ids,
        st.sampled_from([0x0303, 0x0301, 0x0304]),
    )


server_hellos = st.one_of(
    st.builds(ServerHello, randoms, u16, SH_BLOCKS, session_ids),
    st.builds(ServerHello, st.just(HELLO_RETRY_REQUEST_RANDOM), u16, HRR_BLOCKS, session_ids),
)

certificate_entries = st.builds(
    CertificateEntry,
    st.binary(min_size=1, max_size=40),
    extension_blocks(HandshakeType.CERTIFICATE),
)

messages: st.SearchStrategy[Message] = st.one_of(
    client_hellos(st.one_of(st.none(), offered_psks)),
    server_hellos,
    st.builds(EncryptedExtensions, extension_blocks(EE)),
    st.builds(CertificateRequest, st.binary(max_size=8), extension_blocks(CR)),
    st.builds(
        Certificate,
        st.binary(max_size=8),
        st.lists(certificate_entries, max_size=2).map(tuple),
    ),
    st.builds(CertificateVerify, u16, st.binary(max_size=72)),
    st.builds(Finished, st.binary(max_size=48)),
    st.builds(
        NewSessionTicket,
        u32,
        u32,
        st.binary(max_size=8),
        st.binary(min_size=1, max_size=40),
        extension_blocks(NST),
    ),
)


def parses_exactly_or_fails(raw: bytes) -> None:
    """Only QuicError escapes; whatever parses re-encodes to exactly ``raw``."""
    try:
        parsed = parse_handshake_message(raw)
    except QuicError:
        return
    assert parsed.encode() == raw


def check_binders(hello: ClientHello) -> None:
    """Filling in binders changes only the tail after the partial ClientHello (§4.2.11.2)."""
    truncated = hello.truncated_for_binders()
    placeholders = parse_pre_shared_key(hello.extensions[-1][1], CH).binders
    filled = hello.with_binders([bytes([0x5A]) * len(binder) for binder in placeholders])
    assert filled.truncated_for_binders() == truncated
    assert filled.encode().startswith(truncated)
    assert len(filled.encode()) == len(hello.encode())


@MANY
@given(messages)
def test_encode_then_parse_is_identity(message: Message) -> None:
    raw = message.encode()
    parsed = parse_handshake_message(raw)
    assert parsed == message
    assert type(message).parse(raw) == message
    assert parsed.encode() == raw
    if isinstance(message, ClientHello) and PSK in dict(message.extensions):
        check_binders(message)


@MANY
@given(st.binary(max_size=300))
def test_arbitrary_bytes(raw: bytes) -> None:
    parses_exactly_or_fails(raw)


@MANY
@given(st.sampled_from([1, 2, 4, 5, 8, 11, 13, 15, 20, 24, 254, 0, 3, 99]), st.binary(max_size=300))
def test_well_formed_header_arbitrary_body(msg_type: int, body: bytes) -> None:
    parses_exactly_or_fails(bytes([msg_type]) + len(body).to_bytes(3, "big") + body)


def mutate(body: bytes, edits: bytes) -> bytes:
    """Apply the edits encoded in ``edits``, 4 bytes each: position (2), kind, byte."""
    mutated = bytearray(body)
    for i in range(0, len(edits) - 3, 4):
        position = int.from_bytes(edits[i : i + 2], "big") % (len(mutated) + 1)
        kind, byte = edits[i + 2] % 4, edits[i + 3]
        if kind == 0 and position < len(mutated):
            mutated[position] ^= byte or 1  # flip bits
        elif kind == 1:
            mutated[position:position] = bytes([byte])  # insert a byte
        elif kind == 2:
            del mutated[position : position + 1]  # delete a byte
        elif kind == 3:
            del mutated[position:]  # truncate
    return bytes(mutated)


@MANY
@given(messages, st.binary(min_size=4, max_size=12))
def test_mutated_messages(message: Message, edits: bytes) -> None:
    raw = message.encode()
    body = mutate(raw[4:], edits)
    parses_exactly_or_fails(raw[:1] + len(body).to_bytes(3, "big") + body)


# --- extension bodies --------------------------------------------------------------------------

# (parse with its context bound, re-encode of the parsed value) for every body and context.
EXTENSION_CODECS: list[tuple[Callable[[bytes], Any], Callable[[Any], bytes] | None]] = [
    (lambda d: parse_server_name(d, CH), None),  # entries of unknown types are dropped
    (lambda d: parse_server_name(d, EE), encode_server_name),
    (lambda d: parse_supported_groups(d, CH), encode_supported_groups),
    (lambda d: parse_signature_algorithms(d, CR), encode_signature_algorithms),
    (lambda d: parse_alpn(d, CH), encode_alpn),
    (lambda d: parse_alpn(d, EE), lambda name: encode_alpn([name])),
    (lambda d: parse_supported_versions(d, CH), encode_supported_versions),
    (lambda d: parse_supported_versions(d, SH), encode_supported_versions),
    (lambda d: parse_key_share(d, CH), encode_key_share),
    (lambda d: parse_key_share(d, SH), encode_key_share),
    (lambda d: parse_key_share(d, SH, hello_retry=True), encode_key_share),
    (lambda d: parse_psk_key_exchange_modes(d, CH), encode_psk_key_exchange_modes),
    (lambda d: parse_pre_shared_key(d, CH), encode_pre_shared_key),
    (lambda d: parse_pre_shared_key(d, SH), encode_pre_shared_key),
    (lambda d: parse_early_data(d, EE), encode_early_data),
    (lambda d: parse_early_data(d, NST), encode_early_data),
    (lambda d: parse_cookie(d, SH), encode_cookie),
    (lambda d: parse_cookie(d, CH), encode_cookie),
    (lambda d: parse_server_name(d, CR), None),
    (lambda d: parse_supported_groups(d, EE), encode_supported_groups),
    (lambda d: parse_signature_algorithms(d, CH), encode_signature_algorithms),
    (lambda d: parse_early_data(d, CH), encode_early_data),
]


def _length_prefixed(body: bytes, size: int) -> bytes:
    return len(body).to_bytes(size, "big") + body


extension_bodies = st.one_of(
    st.binary(max_size=80),
    st.binary(max_size=78).map(lambda b: _length_prefixed(b, 2)),
    st.binary(max_size=79).map(lambda b: _length_prefixed(b, 1)),
    st.lists(st.binary(max_size=40).map(lambda b: _length_prefixed(b, 2)), max_size=3).map(
        lambda items: _length_prefixed(b"".join(items), 2)
    ),
)


@MANY
@given(st.sampled_from(EXTENSION_CODECS), extension_bodies)
def test_extension_bodies(
    codec: tuple[Callable[[bytes], Any], Callable[[Any], bytes] | None], data: bytes
) -> None:
    parse, encode = codec
    try:
        value = parse(data)
    except QuicError:
        return
    if encode is not None:
        assert encode(value) == data


alpn_names = st.lists(st.binary(min_size=1, max_size=12), min_size=1, max_size=3)
key_shares = st.lists(
    st.builds(KeyShareEntry, u16, st.binary(min_size=1, max_size=12)),
    max_size=3,
    unique_by=lambda entry: entry.group,
)
uint16_lists = st.lists(u16, min_size=1, max_size=5, unique=True)

# (strategy of values, encode, parse) for every typed body and context.
EXTENSION_VALUES: list[
    tuple[st.SearchStrategy[Any], Callable[[Any], bytes], Callable[[bytes], Any]]
]
EXTENSION_VALUES = [
    (alpn_names.map(tuple), encode_alpn, lambda d: parse_alpn(d, CH)),
    (key_shares.map(tuple), encode_key_share, lambda d: parse_key_share(d, CH)),
    (offered_psks, encode_pre_shared_key, lambda d: parse_pre_shared_key(d, CH)),
    (u16, encode_pre_shared_key, lambda d: parse_pre_shared_key(d, SH)),
    (uint16_lists.map(tuple), encode_supported_groups, lambda d: parse_supported_groups(d, EE)),
    (
        uint16_lists.map(tuple),
        encode_signature_algorithms,
        lambda d: parse_signature_algorithms(d, CH),
    ),
    (uint16_lists.map(tuple), encode_supported_versions, lambda d: parse_supported_versions(d, CH)),
    (
        st.lists(u8, min_size=1, max_size=4).map(tuple),
        encode_psk_key_exchange_modes,
        lambda d: parse_psk_key_exchange_modes(d, CH),
    ),
    (st.binary(min_size=1, max_size=40), encode_cookie, lambda d: parse_cookie(d, SH)),
    (u32, encode_early_data, lambda d: parse_early_data(d, NST)),
    (
        st.text("abcdefghijklmnopqrstuvwxyz0123456789.-", min_size=1, max_size=30),
        encode_server_name,
        lambda d: parse_server_name(d, CH),
    ),
]


@MANY
@given(
    st.one_of(
        *(
            values.map(lambda value, e=encode, p=parse: (value, e, p))
            for values, encode, parse in EXTENSION_VALUES
        )
    )
)
def test_extension_values_round_trip(
    case: tuple[Any, Callable[[Any], bytes], Callable[[bytes], Any]],
) -> None:
    value, encode, parse = case
    assert parse(encode(value)) == value
