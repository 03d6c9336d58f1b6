"""What a ClientHello offers, and the server's choices from it.

Design: the ClientHello is decoded once into a frozen :class:`Offer`, enforcing the rules that need
nothing but the hello itself (mandatory extensions, TLS 1.3 support, the QUIC rules); the choice
functions then pick the suite, ALPN and key exchange group by the server's preference order.
The state machine in :mod:`pyquic.platform.tls.server` only sequences these.

Rules: RFC 8446 §4.1.2 (ClientHello), §4.2.1 (supported_versions: protocol_version alert),
§4.2.8 (key shares must be for offered groups), §9.2 (mandatory extensions: missing_extension),
RFC 7301 §3.2 and RFC 9001 §8.1 (ALPN: no_application_protocol), RFC 9001 §8.2 (transport
parameters), RFC 9001 §8.4 (no legacy_session_id: PROTOCOL_VIOLATION).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.platform.crypto.suites import CipherSuite
from pyquic.platform.tls import extensions as ext
from pyquic.platform.tls.config import TlsConfig
from pyquic.platform.tls.constants import (
    TLS13_VERSION,
    AlertDescription,
    ExtensionType,
    HandshakeType,
    PskKeyExchangeMode,
    alert_error,
)
from pyquic.platform.tls.messages import ClientHello

_E = ExtensionType


@dataclass(frozen=True, slots=True)
class Offer:
    """The parts of a ClientHello the server negotiates on."""

    hello: ClientHello
    server_name: str | None
    alpn_protocols: tuple[bytes, ...]
    groups: tuple[int, ...]
    key_shares: tuple[ext.KeyShareEntry, ...]
    signature_schemes: tuple[int, ...] | None
    transport_parameters: bytes
    psk_dhe_ke: bool  # psk_key_exchange_modes offers psk_dhe_ke (RFC 8446 §4.2.9)
    offered_psks: ext.OfferedPsks | None
    early_data: bool
    cookie: bytes | None


def _find(hello: ClientHello, ext_type: ExtensionType) -> bytes | None:
    return ext.find_extension(hello.extensions, ext_type)


def _require(hello: ClientHello, ext_type: ExtensionType) -> bytes:
    data = _find(hello, ext_type)
    if data is None:  # RFC 8446 §9.2, RFC 9001 §8.1-§8.2
        raise alert_error(AlertDescription.missing_extension, f"ClientHello lacks {ext_type.name}")
    return data


def parse_offer(hello: ClientHello) -> Offer:
    """Decode and check a ClientHello; raises the alert the RFCs name for each violation."""
    versions = _find(hello, _E.SUPPORTED_VERSIONS)
    if versions is None or TLS13_VERSION not in ext.parse_supported_versions(
        versions, HandshakeType.CLIENT_HELLO
    ):
        # RFC 8446 §4.2.1: no TLS 1.3 offered
        raise alert_error(AlertDescription.protocol_version, "the client does not offer TLS 1.3")
    if hello.legacy_session_id:  # RFC 9001 §8.4
        raise QuicError(
            TransportErrorCode.PROTOCOL_VIOLATION, "ClientHello with a legacy_session_id"
        )
    alpn_data = _find(hello, _E.APPLICATION_LAYER_PROTOCOL_NEGOTIATION)
    if alpn_data is None:  # RFC 9001 §8.1: no protocol negotiated is no_application_protocol
        raise alert_error(AlertDescription.no_application_protocol, "ClientHello lacks ALPN")
    alpn = ext.parse_alpn(alpn_data, HandshakeType.CLIENT_HELLO)
    transport = ext.parse_quic_transport_parameters(
        _require(hello, _E.QUIC_TRANSPORT_PARAMETERS), HandshakeType.CLIENT_HELLO
    )
    groups = ext.parse_supported_groups(
        _require(hello, _E.SUPPORTED_GROUPS), HandshakeType.CLIENT_HELLO
    )
    shares = _key_shares(hello, groups)
    schemes_data = _find(hello, _E.SIGNATURE_ALGORITHMS)
    modes_data = _find(hello, _E.PSK_KEY_EXCHANGE_MODES)
    psk_data = _find(hello, _E.PRE_SHARED_KEY)
    if psk_data is not None and modes_data is None:  # RFC 8446 §4.2.9
        raise alert_error(AlertDescription.missing_extension, "pre_shared_key without modes")
    early = _find(hello, _E.EARLY_DATA)
    if early is not None:
        ext.parse_early_data(early, HandshakeType.CLIENT_HELLO)
    cookie = _find(hello, _E.COOKIE)
    name = _find(hello, _E.SERVER_NAME)
    return Offer(
        hello=hello,
        server_name=ext.parse_server_name(name, HandshakeType.CLIENT_HELLO)
        if name is not None
        else None,
        alpn_protocols=alpn,
        groups=groups,
        key_shares=shares,
        signature_schemes=(
            ext.parse_signature_algorithms(schemes_data, HandshakeType.CLIENT_HELLO)
            if schemes_data
            else None
        ),
        transport_parameters=transport,
        psk_dhe_ke=modes_data is not None
        and PskKeyExchangeMode.PSK_DHE_KE
        in ext.parse_psk_key_exchange_modes(modes_data, HandshakeType.CLIENT_HELLO),
        offered_psks=ext.parse_pre_shared_key(psk_data, HandshakeType.CLIENT_HELLO)
        if psk_data is not None
        else None,
        early_data=early is not None,
        cookie=ext.parse_cookie(cookie, HandshakeType.CLIENT_HELLO) if cookie is not None else None,
    )


def _key_shares(hello: ClientHello, groups: tuple[int, ...]) -> tuple[ext.KeyShareEntry, ...]:
    shares = ext.parse_key_share(_require(hello, _E.KEY_SHARE), HandshakeType.CLIENT_HELLO)
    for share in shares:
        if share.group not in groups:  # RFC 8446 §4.2.8
            raise alert_error(
                AlertDescription.illegal_parameter, f"key share for unoffered group {share.group}"
            )
    return shares


def choose_cipher_suite(config: TlsConfig, offer: Offer) -> CipherSuite:
    """The server's most preferred suite the client offers (RFC 8446 §4.1.1)."""
    for suite in config.cipher_suites:
        if suite in offer.hello.cipher_suites:
            return suite
    raise alert_error(AlertDescription.handshake_failure, "no cipher suite in common")


def choose_alpn(config: TlsConfig, offer: Offer) -> bytes:
    """The server's most preferred ALPN the client offers (RFC 7301 §3.2, RFC 9001 §8.1)."""
    for protocol in config.alpn_protocols:
        if protocol in offer.alpn_protocols:
            return protocol
    raise alert_error(
        AlertDescription.no_application_protocol,
        f"none of the client's protocols {list(offer.alpn_protocols)} is served",
    )


def choose_group(config: TlsConfig, offer: Offer) -> tuple[int, ext.KeyShareEntry | None]:
    """The group to use and the client's share for it; no share means a HelloRetryRequest.

    A group the client sent a share for wins over a more preferred one it only listed, which
    saves a round trip (RFC 8446 §4.2.8: the server selects "a single KeyShareEntry").
    """
    shares = {share.group: share for share in offer.key_shares}
    for group in config.groups:
        if group in shares:
            return group, shares[group]
    for group in config.groups:
        if group in offer.groups:
            return group, None
    raise alert_error(AlertDescription.handshake_failure, "no key exchange group in common")
