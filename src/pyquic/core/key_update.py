"""Key update policy (RFC 9001 §6): when we may and must update the 1-RTT keys.

Design: the keys and their generations live in :class:`pyquic.core.key_ring.KeyRing`; this
module holds the connection-level rules.  We may initiate an update once the handshake is
confirmed and a packet of the current key phase was acknowledged (RFC 9001 §6.1), and do so
automatically before the AEAD's confidentiality limit (RFC 9001 §6.6; a per-connection count of
packets under the current keys, at three quarters of the suite's limit) or after
``Settings.max_bytes_per_key`` bytes (MsQuic's MaxBytesPerKey).  Old receive keys are kept for
three PTOs after the new ones are first used, then dropped (RFC 9001 §6.5).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyquic.core.connection import Connection

# RFC 9001 §6.6: AEAD_AES_128_GCM and AEAD_AES_256_GCM 2^23 packets, ChaCha20-Poly1305 2^62
_CONFIDENTIALITY_LIMITS = {0x1301: 1 << 23, 0x1302: 1 << 23, 0x1303: 1 << 62}


def confidentiality_limit(cipher_suite: int) -> int:
    """Packets one key of ``cipher_suite`` (a TLS codepoint) may protect."""
    return _CONFIDENTIALITY_LIMITS.get(cipher_suite, 1 << 23)


def can_initiate(conn: Connection) -> bool:
    """RFC 9001 §6: after the handshake is confirmed and the previous update acknowledged."""
    return conn.handshake_confirmed and conn.keys.can_initiate_update(conn.now_us)


def initiate(conn: Connection) -> bool:
    """Update our keys now (RFC 9001 §6.1); False when not allowed yet."""
    if not can_initiate(conn):
        return False
    conn.keys.initiate_update()
    return True


def before_send(conn: Connection) -> None:
    """Update automatically before a key is worn out (RFC 9001 §6.6)."""
    keys = conn.keys
    worn = (
        keys.packets_in_phase >= keys.confidentiality_limit * 3 // 4
        or keys.bytes_in_phase >= conn.settings.max_bytes_per_key
    )
    if worn:
        initiate(conn)


def on_packet_opened(conn: Connection, phase: int, packet_number: int, now_us: int) -> None:
    """A 1-RTT packet authenticated (RFC 9001 §6.2-§6.5)."""
    if conn.keys.is_routine(phase, packet_number):
        return
    pto_us = conn.rtt.pto_duration_us(
        include_max_ack_delay=True, max_ack_delay_us=conn.peer_max_ack_delay_us
    )
    conn.keys.on_packet_opened(phase, packet_number, now_us, pto_us)
