"""Speeding up handshake completion (RFC 9002 §6.2.3): our handshake flight is sent again as soon
as the peer shows it did not arrive, instead of at our next PTO.

The sign is an ack-eliciting Initial or Handshake packet from the peer that carries no ACK frame
while CRYPTO data we sent in that space is still unacknowledged: the peer probes because its own
PTO fired (RFC 9002 §6.2.4: a PING, or its CRYPTO data again) without having received anything
of ours to acknowledge.  Each PTO of ours doubles the wait, so a flight lost a few times in a row
(under corruption, say) costs seconds, and a peer with a handshake timeout may give up first;
the peer's probes arrive at its own, earlier pace.

RFC 9002 §6.2.3 allows this "for a limited number of times per connection": at most
``MAX_EARLY_RESENDS``, counted in ``stats.send_early_crypto_resends``.  The CRYPTO data is only
marked due again (the packets stay in flight, so an ACK of either copy settles it); the send path
sends it within the anti-amplification limit (RFC 9000 §8.1) and the congestion window as usual.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyquic.core.levels import PacketSpace
from pyquic.core.sent_packet import CryptoChunk

if TYPE_CHECKING:
    from pyquic.core.connection import Connection

__all__ = ["MAX_EARLY_RESENDS", "on_peer_packet", "requeue_crypto"]

MAX_EARLY_RESENDS = 8  # per connection (RFC 9002 §6.2.3: "a limited number of times")


def on_peer_packet(
    conn: Connection, space: PacketSpace, *, ack_eliciting: bool, has_ack: bool
) -> None:
    """An authenticated Initial or Handshake packet from the peer was processed."""
    if not ack_eliciting or has_ack or space is PacketSpace.APPLICATION:
        return
    if conn.stats.send_early_crypto_resends >= MAX_EARLY_RESENDS:
        return
    found = requeue_crypto(conn, space)
    if space is PacketSpace.INITIAL and not conn.is_client:
        # the server's Handshake flight left in the same datagrams as its Initial one: a client
        # that never got the ServerHello could not open (or acknowledge) any of it either
        found = requeue_crypto(conn, PacketSpace.HANDSHAKE) or found
    if found:
        conn.stats.send_early_crypto_resends += 1


def requeue_crypto(conn: Connection, space: PacketSpace) -> bool:
    """Mark the CRYPTO data of ``space`` still in flight as due again; whether there was any."""
    found = False
    for packet in conn.loss.unacked_packets(space):
        for record in packet.records:
            if isinstance(record, CryptoChunk):
                conn.crypto_streams[record.level].on_lost(record.offset, record.length)
                found = True
    return found
