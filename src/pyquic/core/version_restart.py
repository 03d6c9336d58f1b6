"""The client's new first flight: after Version Negotiation (a new version) or a Retry.

Retry (RFC 9000 §17.2.5.2, :func:`handle_retry`): one Retry with a valid integrity tag (RFC 9001
§5.8) makes the client send its Initials again to the Retry's Source CID, with its token.

A client whose first flight's version the server cannot parse gets a Version Negotiation packet
(RFC 9000 §6, §17.2.1).  This module decides what the client does with it (RFC 9000 §6.2, RFC 9368
§2.1, §4): ignore it, abandon the attempt, or start a new attempt in the most preferred of its
configured versions (``conn.versions``) that the packet lists.

Design: the new attempt reuses the :class:`~pyquic.core.connection.Connection` object (RFC 9368
§2.4: two connections conceptually, not necessarily two objects) and keeps its configuration,
local connection IDs (so the endpoint's routes stay valid) and packet numbers (never reused in a
space, RFC 9000 §12.3).  Everything of the first attempt's handshake is dropped: its in-flight
packets, CRYPTO streams, keys and TLS session.  A new random Destination CID (RFC 9000 §7.2)
keeps the new Initial away from any state the server holds for the first one, and the new TLS
session sends a new ClientHello whose version_information names the new version (RFC 9368 §3).

Downgrade protection (RFC 9368 §4): the restart happens only with the version_information
extension on (``Settings.version_negotiation_ext_enabled``), since without it the server's
Available Versions cannot be checked; otherwise the client abandons the attempt as RFC 9000 §6.2
allows.  After a restart, :func:`pyquic.core.version_negotiation.check_peer_version_information`
checks that the server's Available Versions would have led to the same choice.  The new first
flight offers only its own version (no compatible negotiation on top of the restart), so packets
of another version (late answers to the first attempt) are never taken for a version switch.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum
from typing import TYPE_CHECKING

from pyquic.core.connection_state import ConnectionState
from pyquic.core.crypto_stream import CryptoStream
from pyquic.core.errors import TransportErrorCode
from pyquic.core.events import ConnectionTerminated
from pyquic.core.key_ring import KeyRing
from pyquic.core.levels import EncryptionLevel, PacketSpace
from pyquic.core.packet_header import RetryPacket, VersionNegotiationPacket
from pyquic.core.sent_packet import CryptoChunk
from pyquic.core.version import VersionInfo, version_info

if TYPE_CHECKING:
    from pyquic.core.connection import Connection

__all__ = [
    "Outcome",
    "handle_retry",
    "handle_version_negotiation",
    "on_version_negotiation",
    "select_version",
]

_LEVELS = (EncryptionLevel.INITIAL, EncryptionLevel.HANDSHAKE, EncryptionLevel.APPLICATION)


class Outcome(Enum):
    """What a Version Negotiation packet did to the connection attempt."""

    IGNORED = "ignored"
    RESTARTED = "restarted"
    ABANDON = "abandon"  # no version in common (or no downgrade protection): give up


def select_version(preference: Iterable[int], offered: Iterable[int]) -> int | None:
    """The first of ``preference`` (the client's versions, most preferred first) that is in
    ``offered`` and that we implement; None when there is none (RFC 9368 §2.1)."""
    offered_set = set(offered)
    return next((v for v in preference if v in offered_set and version_info(v)), None)


def on_version_negotiation(
    conn: Connection, packet: VersionNegotiationPacket, now_us: int
) -> Outcome:
    """A client's reaction to a Version Negotiation packet (RFC 9000 §6.2, RFC 9368 §2.1, §4)."""
    if (
        conn.reacted_to_version_negotiation  # RFC 9368 §4: ignore VN answering the new attempt
        or conn.retry_source_cid is not None  # RFC 9000 §6.2: after any other packet
        or packet.destination_cid != conn.local_cids.initial  # RFC 8999 §6: CIDs must echo ours
        or packet.source_cid != conn.original_destination_cid
        or conn.version.number in packet.supported_versions  # RFC 9000 §6.2, RFC 9368 §4
    ):
        return Outcome.IGNORED
    chosen = select_version(conn.versions, packet.supported_versions)
    if chosen is None or not conn.settings.version_negotiation_ext_enabled:
        return Outcome.ABANDON  # RFC 9368 §2.1: no mutually supported version
    info = version_info(chosen)
    assert info is not None
    _restart(conn, info)
    return Outcome.RESTARTED


def _restart(conn: Connection, info: VersionInfo) -> None:
    """RFC 9368 §2.1: a new first flight in ``info``'s version, the configuration kept."""
    from pyquic.core.send_path import _on_records

    conn.version = info
    conn.reacted_to_version_negotiation = True
    conn.stats.version_negotiation = True
    # the first attempt's packets are gone; their STREAM data (0-RTT) is sent again, their CRYPTO
    # data belongs to a ClientHello that is replaced (RFC 9002 §6.4: no congestion signal)
    for space in (PacketSpace.INITIAL, PacketSpace.APPLICATION):
        discarded = conn.loss.discard_space(space)
        conn.ecn.on_packets_discarded(discarded)
        for packet in discarded:
            _on_records(conn, packet, acked=False)
        conn.probes_pending[space] = 0
    conn.crypto_streams = {
        level: CryptoStream(level, max_buffer=conn.settings.max_crypto_buffer_bytes)
        for level in _LEVELS
    }
    conn.keys = KeyRing(conn.crypto)
    # RFC 9368 §7.2: a ticket is scoped to the version it was issued in, so no 0-RTT now
    conn.remembered_parameters = None
    conn.begin_client_attempt()


# --- the client's answers to Version Negotiation and Retry (RFC 9000 §6.2, §17.2.5) -----------


def handle_version_negotiation(
    conn: Connection, packet: VersionNegotiationPacket, now_us: int
) -> bool:
    """RFC 9000 §6.2, RFC 9368 §2.1, §4: ignore the packet, start a new attempt in a version
    both support, or abandon the attempt; True when the packet was acted on."""
    outcome = on_version_negotiation(conn, packet, now_us)
    if outcome is not Outcome.ABANDON:
        return outcome is Outcome.RESTARTED
    conn.state = ConnectionState.CLOSED
    conn.emit(
        ConnectionTerminated(
            int(TransportErrorCode.VERSION_NEGOTIATION_ERROR),
            "the server supports none of our versions: "
            + ", ".join(f"{v:#010x}" for v in packet.supported_versions),
            None,
            application=False,
            by_peer=True,
        )
    )
    return True


def handle_retry(conn: Connection, packet: RetryPacket, datagram: bytes, now_us: int) -> bool:
    """RFC 9000 §17.2.5.2: one Retry, with a valid tag, restarts the Initial exchange."""
    if conn.retry_source_cid is not None or packet.version != conn.version.number:
        return False
    raw = datagram[packet.packet_start : packet.packet_end]
    if not conn.crypto.verify_retry_integrity(conn.version, conn.original_destination_cid, raw):
        return False  # RFC 9001 §5.8: discard a Retry whose tag does not verify
    assert conn.peer_cids is not None
    conn.retry_source_cid = packet.source_cid
    conn.token = packet.token
    conn.peer_cids.replace_initial(packet.source_cid)
    send, recv = conn.crypto.initial_keys(conn.version, packet.source_cid, True)
    conn.keys.install(EncryptionLevel.INITIAL, send=send, recv=recv)
    # RFC 9002 §6.3: the Initial packets sent so far are gone; their data is sent again
    for sent in conn.loss.discard_space(PacketSpace.INITIAL):
        for record in sent.records:
            if isinstance(record, CryptoChunk):
                conn.crypto_streams[record.level].on_lost(record.offset, record.length)
    conn.stats.stateless_retry = True
    return True
