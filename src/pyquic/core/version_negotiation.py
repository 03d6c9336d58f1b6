"""Compatible version negotiation (RFC 9368) between QUIC v1 and v2 (RFC 9369).

Design: with ``Settings.version_negotiation_ext_enabled`` both sides send the version_information
transport parameter (RFC 9368 §3).  ``conn.versions`` lists our versions by preference.  A server
reads the client's parameters out of the ClientHello *before* TLS sees it, so the version can be
switched while its own parameters (which name the chosen version) are still unsent: it picks the
first of its versions the client offers (RFC 9368 §2.3), and, when that differs from the version
of the client's first Initial, installs Initial keys of the new version for the same Destination
CID (RFC 9368 §4, RFC 9369 §4) and starts TLS again with the new parameters.  The client switches
when an Initial of an offered version arrives.  Both then check the peer's version_information
(RFC 9368 §4); a mismatch is VERSION_NEGOTIATION_ERROR.  v1 and v2 are compatible with each other
in both directions (RFC 9369 §4).  A client that restarted after a Version Negotiation packet
(:mod:`pyquic.core.version_restart`) offers only its new version and, once the server's parameters
arrive, checks that their Available Versions would have led it to the same choice (RFC 9368 §4,
§8), which defeats a forged Version Negotiation packet.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.core.levels import EncryptionLevel
from pyquic.core.transport_params import (
    TransportParameters,
    VersionInformation,
    parse_transport_parameters,
)
from pyquic.core.version import QUIC_V1, SUPPORTED_VERSIONS, version_info
from pyquic.core.version_restart import select_version

if TYPE_CHECKING:
    from pyquic.core.connection import Connection

__all__ = [
    "check_peer_version_information",
    "client_switch",
    "server_crypto_input",
    "with_version_information",
]

_VNE = TransportErrorCode.VERSION_NEGOTIATION_ERROR
_CLIENT_HELLO = 1
_QUIC_TRANSPORT_PARAMETERS = 0x39  # RFC 9001 §8.2


def _enabled(conn: Connection) -> bool:
    return conn.settings.version_negotiation_ext_enabled


def with_version_information(conn: Connection, params: TransportParameters) -> TransportParameters:
    """Our parameters with version_information (RFC 9368 §3) when the extension is on."""
    if not _enabled(conn):
        return params
    chosen = conn.version.number
    available = tuple(conn.versions)
    if conn.reacted_to_version_negotiation:
        available = (chosen,)  # the new first flight is compatible with itself only
    if chosen not in available:
        available = (chosen, *available)  # RFC 9368 §3: the client's list includes its choice
    return dataclasses.replace(params, version_information=VersionInformation(chosen, available))


# --- server -------------------------------------------------------------------------------------


def server_crypto_input(conn: Connection, level: EncryptionLevel, data: bytes) -> bytes:
    """Initial CRYPTO bytes on their way to TLS at a server still free to choose the version.

    Returns what to give TLS: ``data``, or the whole ClientHello when TLS was started again."""
    if conn.is_client or level is not EncryptionLevel.INITIAL or conn.version_chosen:
        return data
    if not _enabled(conn):
        conn.version_chosen = True
        return data
    conn.client_hello_prefix += data
    offered = _client_hello_versions(conn.client_hello_prefix)
    if offered is None:
        return data  # incomplete: TLS only buffers it
    conn.version_chosen = True
    hello, conn.client_hello_prefix = conn.client_hello_prefix, b""
    chosen = next((v for v in conn.versions if v in offered and v in SUPPORTED_VERSIONS), None)
    if chosen is None or chosen == conn.version.number:
        return data
    _switch(conn, chosen)
    assert conn.local_parameters is not None
    conn.restart_tls(conn.local_parameters)  # our parameters now name the new version
    return hello


def _client_hello_versions(buffer: bytes) -> tuple[int, ...] | None:
    """The Available Versions of a complete ClientHello's version_information; () when absent or
    malformed (TLS reports those), None while the message is incomplete."""
    if len(buffer) < 4:
        return None
    if buffer[0] != _CLIENT_HELLO:
        return ()
    end = 4 + int.from_bytes(buffer[1:4], "big")
    if len(buffer) < end:
        return None
    extension = _find_extension(buffer[4:end], _QUIC_TRANSPORT_PARAMETERS)
    if extension is None:
        return ()
    try:
        params = parse_transport_parameters(extension, from_server=False)
    except QuicError:
        return ()
    info = params.version_information
    return () if info is None else info.available_versions


def _find_extension(body: bytes, wanted: int) -> bytes | None:
    """One extension of a ClientHello body (RFC 8446 §4.1.2), or None."""
    pos = 2 + 32  # legacy_version, random
    try:
        pos += 1 + body[pos]  # legacy_session_id
        pos += 2 + int.from_bytes(body[pos : pos + 2], "big")  # cipher_suites
        pos += 1 + body[pos]  # legacy_compression_methods
        end = pos + 2 + int.from_bytes(body[pos : pos + 2], "big")
    except IndexError:
        return None
    pos += 2
    while pos + 4 <= min(end, len(body)):
        kind = int.from_bytes(body[pos : pos + 2], "big")
        size = int.from_bytes(body[pos + 2 : pos + 4], "big")
        if kind == wanted:
            return body[pos + 4 : pos + 4 + size]
        pos += 4 + size
    return None


# --- client -------------------------------------------------------------------------------------


def client_switch(conn: Connection, version: int) -> bool:
    """A server Initial of another version: switch if we offered it (RFC 9368 §2.3, §4)."""
    if (
        not conn.is_client
        or not _enabled(conn)
        or conn.peer_parameters is not None
        or conn.reacted_to_version_negotiation  # it offered no other version (version_restart)
        or conn.keys.can_send(EncryptionLevel.HANDSHAKE)
        or version not in conn.versions
        or version_info(version) is None
    ):
        return False
    _switch(conn, version)
    return True


def _switch(conn: Connection, version: int) -> None:
    info = version_info(version)
    assert info is not None
    conn.version = info
    # RFC 9368 §4: Initial keys of the negotiated version, from the same Destination CID
    cid = conn.retry_source_cid or conn.original_destination_cid
    send, recv = conn.crypto.initial_keys(info, cid, conn.is_client)
    conn.keys.install(EncryptionLevel.INITIAL, send=send, recv=recv)


# --- both ---------------------------------------------------------------------------------------


def check_peer_version_information(conn: Connection, params: TransportParameters) -> None:
    """RFC 9368 §4: the peer's Chosen Version matches what the packets say; no downgrade."""
    if not _enabled(conn):
        return
    info = params.version_information
    if conn.is_client and conn.reacted_to_version_negotiation:
        _check_after_version_negotiation(conn, info)
        return
    if conn.is_client:
        if info is None:
            if conn.version.number != conn.original_version:
                raise QuicError(_VNE, "version changed without version_information")
            return
        if info.chosen_version != conn.version.number:
            raise QuicError(_VNE, "server's chosen version differs from its packets' version")
        return
    if info is None:
        return  # a client without the extension: no compatible negotiation happened
    if info.chosen_version != conn.original_version:
        raise QuicError(_VNE, "client's chosen version differs from its first Initial's")
    if conn.version.number not in info.available_versions:
        raise QuicError(_VNE, "negotiated a version the client did not offer")


def _check_after_version_negotiation(conn: Connection, info: VersionInformation | None) -> None:
    """RFC 9368 §4: a client that reacted to Version Negotiation checks that the server's
    Available Versions would have led it to the same version (no forged downgrade)."""
    negotiated = conn.version.number
    if info is None:
        if negotiated != QUIC_V1:
            raise QuicError(_VNE, "version_information missing after Version Negotiation")
        info = VersionInformation(QUIC_V1, (QUIC_V1,))  # RFC 9368 §8: QUIC v1 servers
    if info.chosen_version != negotiated:
        raise QuicError(_VNE, "server's chosen version differs from the negotiated one")
    if not info.available_versions:
        raise QuicError(_VNE, "server's Available Versions is empty after Version Negotiation")
    would_choose = select_version(conn.versions, (*info.available_versions, negotiated))
    if would_choose != negotiated:
        raise QuicError(
            _VNE,
            f"downgrade: the server's versions would have given {would_choose or 0:#010x}, "
            f"not {negotiated:#010x}",
        )
