"""Send planning: what a connection has to send now, and when it next will (issue 6).

Split from :mod:`pyquic.core.send_path`, which builds the packets.  These are the per-call
questions asked for every datagram, so they are kept cheap: :func:`nothing_to_send` answers the
common "nothing at all" case of a 1-RTT connection before any limit (RFC 9000 §8.1
anti-amplification, RFC 9002 §7 congestion window and §7.7 pacing) is evaluated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyquic.core import paths, zero_rtt
from pyquic.core.levels import SPACE_OF_LEVEL, EncryptionLevel, PacketSpace

if TYPE_CHECKING:
    from pyquic.core.connection import Connection

# RFC 9000 §12.2: coalesced in order of increasing encryption level, 0-RTT after Initial
LEVELS = tuple(EncryptionLevel)  # Initial, 0-RTT, Handshake, 1-RTT

_LEVEL_OF_SPACE = {
    PacketSpace.INITIAL: EncryptionLevel.INITIAL,
    PacketSpace.HANDSHAKE: EncryptionLevel.HANDSHAKE,
    PacketSpace.APPLICATION: EncryptionLevel.APPLICATION,
}


def amplification_allowance(conn: Connection) -> int | None:
    """Bytes we may still send before the peer's address is validated (RFC 9000 §8.1)."""
    if conn.address_validated:
        return paths.amplification_allowance(conn)  # a new path (RFC 9000 §9.3)
    return max(3 * conn.bytes_received - conn.bytes_sent, 0)


_ONLY_APPLICATION = (EncryptionLevel.APPLICATION,)
_EARLY_LEVELS = tuple(level for level in LEVELS if level is not EncryptionLevel.APPLICATION)


def levels_to_send(
    conn: Connection, now_us: int, may_send_data: bool
) -> tuple[EncryptionLevel, ...]:
    """The levels with something to send now; a fast path once only 1-RTT keys are left."""
    keys = conn.keys
    for early in _EARLY_LEVELS:
        if keys.can_send(early):
            return tuple(
                level for level in LEVELS if _wants_to_send(conn, level, now_us, may_send_data)
            )
    if _wants_to_send(conn, EncryptionLevel.APPLICATION, now_us, may_send_data):
        return _ONLY_APPLICATION
    return ()


def _wants_to_send(
    conn: Connection, level: EncryptionLevel, now_us: int, may_send_data: bool
) -> bool:
    if not conn.keys.can_send(level):
        return False
    if level is EncryptionLevel.EARLY_DATA:  # 0-RTT: stream data, never ACKs (RFC 9000 §12.4)
        return zero_rtt.wants_to_send(conn, may_send_data)
    space = SPACE_OF_LEVEL[level]
    deadline = conn.ack_trackers[space].ack_deadline_us()
    if deadline is not None and deadline <= now_us:
        return True
    if not may_send_data:
        return False
    if conn.probes_pending[space] or conn.crypto_streams[level].has_pending:
        return True
    return level is EncryptionLevel.APPLICATION and _application_has_data(conn)


def _application_has_data(conn: Connection) -> bool:
    # cheap flags first, then the usual answer in a bulk transfer, then the rarer checks
    return (
        _connection_flags_due(conn)
        or conn.streams.has_sendable(conn.send_credit.credit)
        or connection_frames_due(conn)
    )


def _connection_flags_due(conn: Connection) -> bool:
    return bool(
        conn.handshake_done_pending
        or paths.wants_to_send(conn)
        or conn.new_tokens_pending
        or conn.recv_window.max_data_due
        or conn.send_credit.blocked
    )


def connection_frames_due(conn: Connection) -> bool:
    """Whether a 1-RTT frame other than stream data is due: HANDSHAKE_DONE, NEW_TOKEN, path
    frames, connection flow control, MAX_STREAMS/STREAMS_BLOCKED, connection IDs."""
    assert conn.peer_cids is not None
    return bool(
        _connection_flags_due(conn)
        or conn.streams.has_control_frames
        or conn.local_cids.wants_to_issue(peer_cid_limit(conn))
        or conn.peer_cids.wants_to_send()
    )


def peer_cid_limit(conn: Connection) -> int:
    return conn.peer_parameters.active_connection_id_limit if conn.peer_parameters else 0


def peer_validated(conn: Connection) -> bool:
    """RFC 9002 §6.2.2.1: the server validated our address (client view), or we are a server."""
    return not conn.is_client or conn.handshake_confirmed or conn.loss_peer_validated


def timer_inputs(conn: Connection) -> dict[str, bool]:
    allowance = amplification_allowance(conn)
    return {
        "handshake_confirmed": conn.handshake_confirmed,
        "peer_address_validated": peer_validated(conn),
        "amplification_blocked": allowance is not None and allowance < 60,
        "has_handshake_keys": conn.keys.can_send(EncryptionLevel.HANDSHAKE),
    }


def next_send_timer_us(conn: Connection) -> int | None:
    """The earliest of the loss timer, ACK deadlines and the pacing deadline."""
    allowance = amplification_allowance(conn)
    blocked = allowance is not None and allowance < 60  # RFC 9000 §8.1: wait for the peer
    keys = conn.keys
    earliest = conn.loss.loss_timer_us(
        handshake_confirmed=conn.handshake_confirmed,
        peer_address_validated=peer_validated(conn),
        amplification_blocked=blocked,
        has_handshake_keys=keys.can_send(EncryptionLevel.HANDSHAKE),
    )
    for space, tracker in conn.ack_trackers.items():
        deadline = tracker.ack_deadline_us()
        if (
            deadline is not None
            and (earliest is None or deadline < earliest)
            and keys.can_send(_LEVEL_OF_SPACE[space])
            and not blocked  # an ACK cannot be sent either
        ):
            earliest = deadline
    pacing = conn.pacing_deadline_us  # a query: cleared by datagrams_to_send only
    if pacing is not None and (earliest is None or pacing < earliest):
        earliest = pacing
    return earliest


def nothing_to_send(conn: Connection, now_us: int) -> bool:
    """True when only 1-RTT keys are left and no frame at all is due: no ACK (RFC 9000 §13.2.1),
    no probe (RFC 9002 §6.2.4), no CRYPTO data and nothing from the application.  Then no
    datagram can be built whatever the limits say, so they need not be evaluated."""
    if conn.streams.has_scheduled:  # a bulk sender: let the limits decide (cheaply) instead
        return False
    keys = conn.keys
    for early in _EARLY_LEVELS:
        if keys.can_send(early):
            return False
    if not keys.can_send(EncryptionLevel.APPLICATION):
        return True
    deadline = conn.ack_trackers[PacketSpace.APPLICATION].ack_deadline_us()
    if deadline is not None and deadline <= now_us:
        return False
    if any(conn.probes_pending.values()):
        return False
    if conn.crypto_streams[EncryptionLevel.APPLICATION].has_pending:
        return False
    return not _application_has_data(conn)
