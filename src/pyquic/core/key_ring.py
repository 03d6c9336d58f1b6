"""The packet keys of one connection, per encryption level and direction, and their lifetime.

Design: one small table indexed by :class:`EncryptionLevel` holding the send and receive keys,
plus the 1-RTT key phase.  Keys appear when TLS reports a traffic secret (RFC 9001 §4.1.4) and
are discarded for good at the moments RFC 9001 §4.9 names: Initial keys when the first Handshake
packet is sent (client) or processed (server), Handshake keys when the handshake is confirmed,
0-RTT keys once 1-RTT keys are in use.  A discarded level never comes back.

Key update (RFC 9001 §6) keeps the current and next receive keys so a packet with the other key
phase can be tried against the next generation before it is trusted.
"""

from __future__ import annotations

from pyquic.core.crypto_interface import PacketKeys
from pyquic.core.levels import EncryptionLevel
from pyquic.core.tls_interface import PacketProtectionFactory


class KeyRing:
    """Send and receive keys per encryption level."""

    __slots__ = ("_crypto", "_discarded", "_next_recv", "_prev_recv", "_recv", "_send", "key_phase")

    def __init__(self, crypto: PacketProtectionFactory) -> None:
        self._crypto = crypto
        self._send: dict[EncryptionLevel, PacketKeys] = {}
        self._recv: dict[EncryptionLevel, PacketKeys] = {}
        self._discarded: set[EncryptionLevel] = set()
        self.key_phase = 0
        self._next_recv: PacketKeys | None = None
        self._prev_recv: PacketKeys | None = None

    def install(
        self, level: EncryptionLevel, *, send: PacketKeys | None, recv: PacketKeys | None
    ) -> None:
        if level in self._discarded:
            return  # RFC 9001 §4.9: discarded keys are never reinstated
        if send is not None:
            self._send[level] = send
        if recv is not None:
            self._recv[level] = recv

    def send_keys(self, level: EncryptionLevel) -> PacketKeys | None:
        return self._send.get(level)

    def recv_keys(self, level: EncryptionLevel) -> PacketKeys | None:
        return self._recv.get(level)

    def can_send(self, level: EncryptionLevel) -> bool:
        return level in self._send

    def discard(self, level: EncryptionLevel) -> bool:
        """Drop both directions of ``level``; True if anything was there."""
        had = level in self._send or level in self._recv
        self._send.pop(level, None)
        self._recv.pop(level, None)
        self._discarded.add(level)
        return had

    def is_discarded(self, level: EncryptionLevel) -> bool:
        return level in self._discarded

    def recv_keys_for_phase(self, phase: int) -> PacketKeys | None:
        """1-RTT receive keys for a packet's Key Phase bit (RFC 9001 §6.3).

        The current keys for the current phase; for the other phase, the previous generation if
        it is still kept, else the next generation (derived once, kept until confirmed).
        """
        current = self._recv.get(EncryptionLevel.APPLICATION)
        if current is None or phase == self.key_phase:
            return current
        if self._prev_recv is not None:
            return self._prev_recv
        if self._next_recv is None:
            self._next_recv = self._crypto.next_generation(current)
        return self._next_recv

    def confirm_peer_update(self) -> None:
        """A packet of the next phase authenticated: move both directions forward (§6.2)."""
        current = self._recv.get(EncryptionLevel.APPLICATION)
        send = self._send.get(EncryptionLevel.APPLICATION)
        if current is None or send is None:
            return
        self._prev_recv = current
        self._recv[EncryptionLevel.APPLICATION] = self._next_recv or self._crypto.next_generation(
            current
        )
        self._next_recv = None
        self._send[EncryptionLevel.APPLICATION] = self._crypto.next_generation(send)
        self.key_phase ^= 1

    def drop_previous_generation(self) -> None:
        """Old 1-RTT receive keys are dropped some time after an update (RFC 9001 §6.5)."""
        self._prev_recv = None
