"""The packet keys of one connection, per encryption level and direction, and their lifetime.

Design: one small table indexed by :class:`EncryptionLevel` holding the send and receive keys,
plus the 1-RTT key phase.  Keys appear when TLS reports a traffic secret (RFC 9001 §4.1.4) and
are discarded for good at the moments RFC 9001 §4.9 names: Initial keys when the first Handshake
packet is sent (client) or processed (server), Handshake keys when the handshake is confirmed,
0-RTT keys once 1-RTT keys are in use.  A discarded level never comes back.

Memory: the tables are two four-slot lists indexed by level and the discarded levels a bit mask
(dicts and a set would cost about 650 bytes more per connection), so a connection holds only the
keys of the levels still in use.

Key update (RFC 9001 §6) keeps the current and next receive keys so a packet with the other key
phase can be tried against the next generation before it is trusted.
"""

from __future__ import annotations

from pyquic.core.crypto_interface import PacketKeys
from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.core.levels import EncryptionLevel
from pyquic.core.tls_interface import PacketProtectionFactory

_LEVELS = len(EncryptionLevel)
_APPLICATION = EncryptionLevel.APPLICATION


class KeyRing:
    """Send and receive keys per encryption level."""

    __slots__ = (
        "_crypto",
        "_discarded",
        "_next_recv",
        "_phase_acked",
        "_phase_start_pn",
        "_prev_drop_us",
        "_prev_recv",
        "_recv",
        "_recv_phase_min_pn",
        "_send",
        "bytes_in_phase",
        "confidentiality_limit",
        "key_phase",
        "key_updates",
        "packets_in_phase",
    )

    def __init__(self, crypto: PacketProtectionFactory) -> None:
        self._crypto = crypto
        # indexed by EncryptionLevel (an IntEnum): None where the level has no key
        self._send: list[PacketKeys | None] = [None] * _LEVELS
        self._recv: list[PacketKeys | None] = [None] * _LEVELS
        self._discarded = 0  # bit 1 << level per discarded level
        self.key_phase = 0
        self._next_recv: PacketKeys | None = None
        self._prev_recv: PacketKeys | None = None
        self._prev_drop_us: int | None = None  # when the previous generation goes (§6.5)
        self._phase_start_pn: int | None = None  # our first packet of the current phase
        self._phase_acked = False  # one of them was acknowledged (RFC 9001 §6.1)
        self._recv_phase_min_pn: int | None = None  # the peer's lowest of the current phase
        self.packets_in_phase = 0  # sent under the current keys (RFC 9001 §6.6)
        self.bytes_in_phase = 0
        self.key_updates = 0
        # packets one key may protect (RFC 9001 §6.6); set from the 1-RTT cipher suite
        self.confidentiality_limit = 1 << 23

    def install(
        self, level: EncryptionLevel, *, send: PacketKeys | None, recv: PacketKeys | None
    ) -> None:
        if self._discarded >> level & 1:
            return  # RFC 9001 §4.9: discarded keys are never reinstated
        if send is not None:
            self._send[level] = send
        if recv is not None:
            self._recv[level] = recv

    def send_keys(self, level: EncryptionLevel) -> PacketKeys | None:
        return self._send[level]

    def recv_keys(self, level: EncryptionLevel) -> PacketKeys | None:
        return self._recv[level]

    def can_send(self, level: EncryptionLevel) -> bool:
        return self._send[level] is not None

    def discard(self, level: EncryptionLevel) -> bool:
        """Drop both directions of ``level``; True if anything was there."""
        had = self._send[level] is not None or self._recv[level] is not None
        self._send[level] = None
        self._recv[level] = None
        self._discarded |= 1 << level
        return had

    def is_discarded(self, level: EncryptionLevel) -> bool:
        return bool(self._discarded >> level & 1)

    @property
    def levels_with_keys(self) -> tuple[EncryptionLevel, ...]:
        """The levels holding a send or a receive key, lowest first."""
        return tuple(
            level
            for level in EncryptionLevel
            if self._send[level] is not None or self._recv[level] is not None
        )

    def recv_keys_for_phase(self, phase: int, now_us: int = 0) -> PacketKeys | None:
        """1-RTT receive keys for a packet's Key Phase bit (RFC 9001 §6.3).

        The current keys for the current phase; for the other phase, the previous generation if
        it is still kept (RFC 9001 §6.5), else the next generation (derived once, kept until
        used: RFC 9001 §6.3).
        """
        if self._prev_drop_us is not None and now_us >= self._prev_drop_us:
            self.drop_previous_generation()
        current = self._recv[_APPLICATION]
        if current is None or phase == self.key_phase:
            return current
        if self._prev_recv is not None:
            return self._prev_recv
        if self._next_recv is None:
            self._next_recv = self._crypto.next_generation(current)
        return self._next_recv

    def is_routine(self, phase: int, packet_number: int) -> bool:
        """Whether :meth:`on_packet_opened` would change nothing: a packet of the current phase,
        not older than the phase's first, with no previous keys awaiting their drop time (the
        common case, answered without computing a PTO)."""
        minimum = self._recv_phase_min_pn
        return (
            phase == self.key_phase
            and minimum is not None
            and packet_number >= minimum
            and (self._prev_recv is None or self._prev_drop_us is not None)
        )

    def on_packet_opened(self, phase: int, packet_number: int, now_us: int, pto_us: int) -> None:
        """A 1-RTT packet of ``phase`` authenticated: follow a peer's update (RFC 9001 §6.2),
        enforce key order (RFC 9001 §6.4) and time out the old keys (RFC 9001 §6.5)."""
        if phase == self.key_phase:
            if self._recv_phase_min_pn is None or packet_number < self._recv_phase_min_pn:
                self._recv_phase_min_pn = packet_number
            if self._prev_recv is not None and self._prev_drop_us is None:
                # RFC 9001 §6.5: old keys are kept up to 3 PTO after the new ones are used
                self._prev_drop_us = now_us + 3 * pto_us
            return
        if self._prev_recv is not None:  # opened with the previous generation
            if self._recv_phase_min_pn is not None and packet_number > self._recv_phase_min_pn:
                raise QuicError(
                    TransportErrorCode.KEY_UPDATE_ERROR,
                    "old keys after newer keys (RFC 9001 §6.4)",
                )
            return
        self._update()  # the peer initiated a key update (RFC 9001 §6.2)
        self._recv_phase_min_pn = packet_number
        self._prev_drop_us = now_us + 3 * pto_us

    def confirm_peer_update(self) -> None:
        """Move both directions to the next generation (RFC 9001 §6.2)."""
        self._update()

    def can_initiate_update(self, now_us: int) -> bool:
        """RFC 9001 §6.1: not before a packet of the current phase was acknowledged, nor while
        the previous generation's receive keys are still kept (RFC 9001 §6.5)."""
        if self._prev_drop_us is not None and now_us >= self._prev_drop_us:
            self.drop_previous_generation()
        return (
            self._phase_acked and self._prev_recv is None and self._send[_APPLICATION] is not None
        )

    def initiate_update(self) -> None:
        """Our key update (RFC 9001 §6.1): the next packet carries the other Key Phase."""
        self._update()

    def on_packet_sealed(self, packet_number: int, size: int) -> None:
        """Count a 1-RTT packet sent under the current keys (RFC 9001 §6.1, §6.6)."""
        if self._phase_start_pn is None:
            self._phase_start_pn = packet_number
        self.packets_in_phase += 1
        self.bytes_in_phase += size

    def on_packets_sealed(self, first_packet_number: int, count: int, size: int) -> None:
        """``count`` 1-RTT packets from ``first_packet_number``, ``size`` bytes in all."""
        if self._phase_start_pn is None:
            self._phase_start_pn = first_packet_number
        self.packets_in_phase += count
        self.bytes_in_phase += size

    @property
    def one_rtt_acked(self) -> bool:
        """Whether a 1-RTT packet of the current key phase was acknowledged (not a 0-RTT one:
        0-RTT packets share the space but are sealed before any 1-RTT packet)."""
        return self._phase_acked

    def on_ack(self, largest_acknowledged: int) -> None:
        """An ACK in the application space: has a packet of the current phase been acked?"""
        if self._phase_start_pn is not None and largest_acknowledged >= self._phase_start_pn:
            self._phase_acked = True

    def _update(self) -> None:
        current = self._recv[_APPLICATION]
        send = self._send[_APPLICATION]
        if current is None or send is None:
            return
        self._prev_recv = current
        self._recv[_APPLICATION] = self._next_recv or self._crypto.next_generation(current)
        self._next_recv = None
        self._send[_APPLICATION] = self._crypto.next_generation(send)
        self.key_phase ^= 1
        self.key_updates += 1
        self._phase_start_pn = None
        self._phase_acked = False
        self._recv_phase_min_pn = None
        self._prev_drop_us = None
        self.packets_in_phase = 0
        self.bytes_in_phase = 0

    def drop_previous_generation(self) -> None:
        """Old 1-RTT receive keys are dropped some time after an update (RFC 9001 §6.5)."""
        self._prev_recv = None
        self._prev_drop_us = None

    @property
    def has_previous_generation(self) -> bool:
        return self._prev_recv is not None
