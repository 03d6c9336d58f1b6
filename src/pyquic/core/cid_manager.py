"""Connection IDs: the ones we issue (NEW_CONNECTION_ID) and the peer's (RETIRE_CONNECTION_ID).

Two independent halves of RFC 9000 §5.1:

* :class:`LocalConnectionIds` is what the peer may send to.  Sequence 0 is the Source Connection
  ID of our long headers (§5.1.1).  Further IDs are random bytes of one fixed length drawn from an
  injected ``random.Random``; each carries the stateless reset token
  HMAC-SHA256(static_key, cid)[:16] (§10.3.2), so any process holding the static key can reset a
  connection whose state it lost.  We keep the peer supplied up to its active_connection_id_limit
  (§5.1.1), replace IDs it retires, and can rotate all of them with Retire Prior To (§5.1.2).
* :class:`PeerConnectionIds` is what we may send to.  It enforces our active_connection_id_limit
  (CONNECTION_ID_LIMIT_ERROR, §5.1.1), obeys Retire Prior To by answering RETIRE_CONNECTION_ID
  (§5.1.2, §19.15), switches the current destination ID when that one is retired, and gives the
  stateless reset tokens to compare received datagrams against (§10.3.1).

Design: both halves are pull-based like every sender in the core.  ``frames_to_issue`` /
``frames_to_send`` return the frames that are due and mark them in flight; the connection records
each frame in its sent packet and reports it back with ``on_frame_acked`` or ``on_frame_lost``,
which makes a lost frame due again (RFC 9000 §13.3: NEW_CONNECTION_ID and RETIRE_CONNECTION_ID
are retransmitted until acknowledged).  Memory is bounded: retired local IDs are forgotten (a
sequence number below the next one that is not stored was retired), and the peer can make us
owe at most ``max_pending_retirements`` RETIRE_CONNECTION_ID frames before we close with
CONNECTION_ID_LIMIT_ERROR, which §5.1.2 allows.
"""

from __future__ import annotations

import hmac
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum

from pyquic.core.buffer import BytesLike
from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.core.frames import (
    MAX_CONNECTION_ID_LENGTH,
    STATELESS_RESET_TOKEN_LENGTH,
    FrameType,
    NewConnectionIdFrame,
    RetireConnectionIdFrame,
)

__all__ = [
    "MIN_STATELESS_RESET_KEY_LENGTH",
    "LocalConnectionIds",
    "PeerConnectionIds",
    "stateless_reset_token",
]

MIN_STATELESS_RESET_KEY_LENGTH = 16  # our floor: the key must be hard to guess (RFC 9000 §10.3.2)
# Bytes of a Stateless Reset: at least 5 unpredictable bytes, then the token (RFC 9000 §10.3).
_MIN_STATELESS_RESET_BYTES = 5 + STATELESS_RESET_TOKEN_LENGTH
_DEFAULT_MAX_LOCAL_ACTIVE = 8  # our own cap on IDs we keep issued, whatever the peer allows
_MAX_CID_DRAWS = 16  # attempts to draw a CID that is not already in use

_PV = TransportErrorCode.PROTOCOL_VIOLATION
_LIMIT = TransportErrorCode.CONNECTION_ID_LIMIT_ERROR
_NEW_CID = FrameType.NEW_CONNECTION_ID
_RETIRE_CID = FrameType.RETIRE_CONNECTION_ID


def stateless_reset_token(static_key: bytes, connection_id: bytes) -> bytes:
    """The stateless reset token of ``connection_id``: HMAC-SHA256(key, cid)[:16] (§10.3.2)."""
    # hmac.digest: the one-shot OpenSSL HMAC, without building an hmac object per token
    return hmac.digest(static_key, connection_id, "sha256")[:STATELESS_RESET_TOKEN_LENGTH]


# the empty set of sequence numbers, shared (an empty frozenset costs 216 bytes per connection)
_NO_SEQUENCES: frozenset[int] = frozenset()


def _sequences(members: Iterable[int]) -> frozenset[int]:
    """``members`` as a frozenset, the shared one when empty."""
    result = frozenset(members)
    return result if result else _NO_SEQUENCES


class _SendState(Enum):
    """Where the NEW_CONNECTION_ID frame announcing one of our IDs stands."""

    PENDING = "pending"  # due: not sent yet, or lost
    IN_FLIGHT = "in_flight"
    ACKED = "acked"  # or never needs a frame (sequence 0, sent in the long header)


@dataclass(slots=True)
class _LocalCid:
    cid: bytes
    token: bytes
    state: _SendState


class LocalConnectionIds:
    """The connection IDs we issued and the peer may use to reach us (RFC 9000 §5.1).

    ``initial_cid`` is our sequence-0 ID (the Source Connection ID of our long headers); when
    ``None`` one is drawn from ``rng``.  ``is_cid_in_use`` lets the endpoint reject IDs another
    connection already routes (a fresh one is drawn).  ``max_active`` caps how many IDs we keep
    issued even if the peer allows more (RFC 9000 §5.1.1 lets an endpoint limit issuance).
    """

    def __init__(
        self,
        *,
        rng: random.Random,
        cid_length: int,
        stateless_reset_key: bytes,
        initial_cid: bytes | None = None,
        max_active: int = _DEFAULT_MAX_LOCAL_ACTIVE,
        is_cid_in_use: Callable[[bytes], bool] | None = None,
    ) -> None:
        if not 1 <= cid_length <= MAX_CONNECTION_ID_LENGTH:
            # RFC 9000 §10.3.2: a zero-length ID cannot be used with derived reset tokens
            raise ValueError(f"cid_length must be 1..{MAX_CONNECTION_ID_LENGTH}, got {cid_length}")
        if len(stateless_reset_key) < MIN_STATELESS_RESET_KEY_LENGTH:
            raise ValueError(
                f"stateless_reset_key must be at least {MIN_STATELESS_RESET_KEY_LENGTH} bytes"
            )
        if max_active < 2:  # RFC 9000 §18.2: every endpoint accepts at least two
            raise ValueError(f"max_active must be at least 2, got {max_active}")
        if initial_cid is not None and len(initial_cid) != cid_length:
            raise ValueError(f"initial_cid must be {cid_length} bytes, got {len(initial_cid)}")
        self._rng = rng
        self._cid_length = cid_length
        self._key = stateless_reset_key
        self._max_active = max_active
        self._is_cid_in_use = is_cid_in_use
        self._entries: dict[int, _LocalCid] = {}
        self.generation = 0  # bumped whenever the active set changes (the endpoint's routes)
        self._cid_set: set[bytes] = set()  # the active IDs, for is_local (every packet asks)
        self._next_sequence = 0
        self._retire_prior_to = 0
        first = initial_cid if initial_cid is not None else self._draw_cid()
        self._add(first, _SendState.ACKED)  # RFC 9000 §5.1.1: sequence 0, sent in the header

    # -- queries ---------------------------------------------------------------------------------

    @property
    def initial(self) -> bytes:
        """Our sequence-0 connection ID (it may have been retired since)."""
        return self._initial

    @property
    def initial_reset_token(self) -> bytes:
        """The reset token of sequence 0, for a server's stateless_reset_token parameter."""
        return self.reset_token(self._initial)

    @property
    def retire_prior_to(self) -> int:
        """The Retire Prior To value we announce (RFC 9000 §19.15)."""
        return self._retire_prior_to

    @property
    def next_sequence(self) -> int:
        """The sequence number the next issued ID will get; all below were issued."""
        return self._next_sequence

    @property
    def rotation_pending(self) -> bool:
        """Whether IDs below Retire Prior To await the peer's RETIRE_CONNECTION_ID."""
        return any(seq < self._retire_prior_to for seq in self._entries)

    def is_local(self, cid: bytes) -> bool:
        """Whether ``cid`` is one of our active (issued, not retired) connection IDs."""
        return cid in self._cid_set

    def sequence_of(self, cid: bytes) -> int | None:
        """The sequence number of an active ID of ours, or None."""
        for seq, entry in self._entries.items():
            if entry.cid == cid:
                return seq
        return None

    def active_cids(self) -> list[bytes]:
        """Our active IDs in sequence order: the ones the endpoint must route to us."""
        return [self._entries[seq].cid for seq in sorted(self._entries)]

    def reset_token(self, cid: bytes) -> bytes:
        """The stateless reset token of ``cid`` under our static key (RFC 9000 §10.3.2)."""
        return stateless_reset_token(self._key, cid)

    # -- issuing ---------------------------------------------------------------------------------

    def wants_to_issue(self, peer_active_connection_id_limit: int) -> bool:
        """Whether :meth:`frames_to_issue` would return anything."""
        if self._unretired_count() < self._target(peer_active_connection_id_limit):
            return True
        return any(e.state is _SendState.PENDING for e in self._entries.values())

    def frames_to_issue(self, peer_active_connection_id_limit: int) -> list[NewConnectionIdFrame]:
        """NEW_CONNECTION_ID frames due now, marked in flight.

        New IDs are drawn until the peer holds as many IDs at or above Retire Prior To as its
        limit allows (RFC 9000 §5.1.1), capped by ``max_active``; lost frames are due again.
        The endpoint must route each frame's ``connection_id`` to this connection before
        sending it (registering twice is harmless).
        """
        target = self._target(peer_active_connection_id_limit)
        while self._unretired_count() < target:
            self._add(self._draw_cid(), _SendState.PENDING)
        frames = []
        for seq in sorted(self._entries):
            entry = self._entries[seq]
            if entry.state is not _SendState.PENDING:
                continue
            entry.state = _SendState.IN_FLIGHT
            # RFC 9000 §19.15: Retire Prior To must not exceed the Sequence Number; an ID resent
            # below the announced value is retired by the peer on receipt all the same
            frames.append(
                NewConnectionIdFrame(seq, min(self._retire_prior_to, seq), entry.cid, entry.token)
            )
        return frames

    def on_frame_acked(self, frame: NewConnectionIdFrame) -> None:
        """A NEW_CONNECTION_ID frame we sent was acknowledged."""
        entry = self._entries.get(frame.sequence_number)
        if entry is not None:
            entry.state = _SendState.ACKED

    def on_frame_lost(self, frame: NewConnectionIdFrame) -> None:
        """A NEW_CONNECTION_ID frame we sent was lost: send it again unless acked or retired."""
        entry = self._entries.get(frame.sequence_number)
        if entry is not None and entry.state is _SendState.IN_FLIGHT:
            entry.state = _SendState.PENDING

    def reserve_preferred(self) -> tuple[bytes, bytes]:
        """Draw the next ID (sequence 1) for the server's preferred_address transport parameter
        (RFC 9000 §5.1.1, §9.6): it is issued there, not by NEW_CONNECTION_ID.  Returns the ID
        and its stateless reset token."""
        cid = self._draw_cid()
        self._add(cid, _SendState.ACKED)
        return cid, self.reset_token(cid)

    def rotate(self) -> bool:
        """Ask the peer to retire every ID issued so far (RFC 9000 §5.1.2).

        Retire Prior To becomes the next sequence number, so the next :meth:`frames_to_issue`
        issues fresh IDs carrying it.  The old IDs stay valid until the peer retires them.
        Returns False, doing nothing, while a previous rotation is incomplete (§5.1.2: SHOULD NOT
        update Retire Prior To before the previous one is fully retired).
        """
        if self.rotation_pending:
            return False
        self._retire_prior_to = self._next_sequence
        return True

    def on_retire(self, sequence: int, packet_dcid: bytes) -> bytes | None:
        """Handle RETIRE_CONNECTION_ID from the peer (RFC 9000 §19.16).

        ``packet_dcid`` is the Destination Connection ID of the packet that carried the frame.
        Returns the retired ID, which the endpoint should stop routing, or None if it was
        already retired.  The next :meth:`frames_to_issue` replaces it (§5.1.1).
        """
        if sequence >= self._next_sequence:
            # RFC 9000 §19.16: a sequence number greater than any sent is a PROTOCOL_VIOLATION
            raise QuicError(
                _PV,
                f"RETIRE_CONNECTION_ID for unissued sequence {sequence}",
                frame_type=_RETIRE_CID,
            )
        entry = self._entries.get(sequence)
        if entry is None:
            return None  # already retired; a repeated frame is not an error
        if entry.cid == packet_dcid:
            # RFC 9000 §19.16: it must not retire the ID the packet was sent to
            raise QuicError(
                _PV,
                f"RETIRE_CONNECTION_ID retires sequence {sequence}, the packet's own DCID",
                frame_type=_RETIRE_CID,
            )
        del self._entries[sequence]
        self._cid_set.discard(entry.cid)
        self.generation += 1
        return entry.cid

    # -- internals -------------------------------------------------------------------------------

    def _target(self, peer_limit: int) -> int:
        return min(max(peer_limit, 2), self._max_active)  # RFC 9000 §18.2: the limit is >= 2

    def _unretired_count(self) -> int:
        """Active IDs the peer may keep: those at or above Retire Prior To."""
        return sum(1 for seq in self._entries if seq >= self._retire_prior_to)

    def _add(self, cid: bytes, state: _SendState) -> None:
        seq = self._next_sequence
        if seq == 0:
            self._initial = cid
        self._entries[seq] = _LocalCid(cid, self.reset_token(cid), state)
        self._cid_set.add(cid)
        self._next_sequence = seq + 1
        self.generation += 1

    def _draw_cid(self) -> bytes:
        for _ in range(_MAX_CID_DRAWS):
            cid = self._rng.randbytes(self._cid_length)
            # RFC 9000 §5.1: the same ID must not be issued twice on a connection
            if self.is_local(cid):
                continue
            if self._is_cid_in_use is not None and self._is_cid_in_use(cid):
                continue
            return cid
        raise QuicError(
            TransportErrorCode.INTERNAL_ERROR,
            f"no unused {self._cid_length}-byte connection ID after {_MAX_CID_DRAWS} draws",
        )


@dataclass(slots=True)
class _PeerCid:
    cid: bytes
    token: bytes | None
    used: bool = False  # RFC 9000 §10.3.1: only tokens of IDs we used are checked


class PeerConnectionIds:
    """The peer's connection IDs: the ones we may send to (RFC 9000 §5.1).

    ``initial_cid`` is the Destination Connection ID we start with: the client's random initial
    DCID (replaced by the server's Source Connection ID with :meth:`replace_initial`), or for a
    server the client's Source Connection ID.  It is sequence 0.  ``active_connection_id_limit``
    is the limit *we* advertised.  ``max_pending_retirements`` bounds the RETIRE_CONNECTION_ID
    frames we owe (sent or not, unacknowledged); §5.1.2 asks for at least twice the limit, which
    is the default.
    """

    def __init__(
        self,
        *,
        initial_cid: bytes,
        active_connection_id_limit: int,
        max_pending_retirements: int | None = None,
    ) -> None:
        if active_connection_id_limit < 2:  # RFC 9000 §18.2
            raise ValueError("active_connection_id_limit must be at least 2")
        pending_limit = (
            2 * active_connection_id_limit
            if max_pending_retirements is None
            else max_pending_retirements
        )
        if pending_limit < 1:
            raise ValueError("max_pending_retirements must be at least 1")
        self._limit = active_connection_id_limit
        self._max_pending = pending_limit
        self._active: dict[int, _PeerCid] = {0: _PeerCid(initial_cid, None, used=True)}
        self._current_seq = 0
        self._retire_prior_to = 0
        # frozensets, replaced on change (rare, and at most a few dozen members): an idle
        # connection shares the empty one instead of holding two empty sets of 216 bytes
        self._retired_above = _NO_SEQUENCES  # retired by us at or above Retire Prior To
        self._retire_due: list[int] = []  # RETIRE_CONNECTION_ID frames to send
        self._retire_in_flight = _NO_SEQUENCES

    # -- queries ---------------------------------------------------------------------------------

    @property
    def current(self) -> bytes:
        """The Destination Connection ID to send with."""
        return self._active[self._current_seq].cid

    @property
    def current_sequence(self) -> int:
        return self._current_seq

    @property
    def retire_prior_to(self) -> int:
        """The largest Retire Prior To received (RFC 9000 §19.15)."""
        return self._retire_prior_to

    @property
    def active_count(self) -> int:
        return len(self._active)

    @property
    def unused_count(self) -> int:
        """Active IDs never used: what a migration can switch to (RFC 9000 §9.5)."""
        return sum(1 for entry in self._active.values() if not entry.used)

    @property
    def pending_retirements(self) -> int:
        """RETIRE_CONNECTION_ID frames owed: due or in flight."""
        return len(self._retire_due) + len(self._retire_in_flight)

    def reset_tokens(self) -> list[bytes]:
        """Stateless reset tokens of the active IDs we have used (RFC 9000 §10.3.1)."""
        return [e.token for e in self._active.values() if e.used and e.token is not None]

    def is_stateless_reset(self, datagram: BytesLike) -> bool:
        """Whether ``datagram`` ends with one of :meth:`reset_tokens` (RFC 9000 §10.3.1).

        Every token is compared in constant time, without stopping at a match, so the timing
        reveals nothing about the tokens (§10.3.1).
        """
        if len(datagram) < _MIN_STATELESS_RESET_BYTES:  # RFC 9000 §10.3: at least 21 bytes
            return False
        tail = bytes(datagram[-STATELESS_RESET_TOKEN_LENGTH:])
        found = False
        for token in self.reset_tokens():
            found |= hmac.compare_digest(tail, token)
        return found

    # -- handshake -------------------------------------------------------------------------------

    def replace_initial(self, cid: bytes) -> None:
        """Set sequence 0 to ``cid``: the server's Source Connection ID from its first Initial
        or a Retry (RFC 9000 §7.2).  Only valid while sequence 0 is current."""
        if self._current_seq != 0:
            raise ValueError("sequence 0 is no longer the current destination ID")
        self._active[0].cid = cid

    def set_initial_reset_token(self, token: bytes) -> None:
        """The server's stateless_reset_token transport parameter, for sequence 0 (§18.2)."""
        if len(token) != STATELESS_RESET_TOKEN_LENGTH:
            raise ValueError(f"a stateless reset token is {STATELESS_RESET_TOKEN_LENGTH} bytes")
        entry = self._active.get(0)
        if entry is not None:
            entry.token = token

    # -- NEW_CONNECTION_ID -----------------------------------------------------------------------

    def on_new_connection_id(self, frame: NewConnectionIdFrame) -> bytes | None:
        """Handle NEW_CONNECTION_ID (RFC 9000 §19.15, §5.1.1, §5.1.2).

        Returns the new current Destination Connection ID when retirement moved it, else None.
        Raises QuicError on PROTOCOL_VIOLATION, FRAME_ENCODING_ERROR or
        CONNECTION_ID_LIMIT_ERROR.
        """
        self._validate_new(frame)
        seq, rpt = frame.sequence_number, frame.retire_prior_to
        old_current = self._current_seq
        if rpt > self._retire_prior_to:
            # RFC 9000 §5.1.2: retire those below before adding the new one
            self._retire_prior_to = rpt
            for old in sorted(s for s in self._active if s < rpt):
                self._retire(old)
            self._retired_above = _sequences(s for s in self._retired_above if s >= rpt)
        if seq < self._retire_prior_to:
            # RFC 9000 §19.15: an ID below Retire Prior To is retired on receipt
            if seq not in self._retire_in_flight and seq not in self._retire_due:
                self._retire_due.append(seq)
        elif seq not in self._active and seq not in self._retired_above:
            self._active[seq] = _PeerCid(frame.connection_id, frame.stateless_reset_token)
        if len(self._active) > self._limit:  # RFC 9000 §5.1.1
            raise QuicError(
                _LIMIT,
                f"{len(self._active)} active connection IDs exceed our limit {self._limit}",
                frame_type=_NEW_CID,
            )
        if self.pending_retirements > self._max_pending:  # RFC 9000 §5.1.2
            raise QuicError(
                _LIMIT,
                f"{self.pending_retirements} connection IDs await retirement "
                f"(limit {self._max_pending})",
                frame_type=_NEW_CID,
            )
        if self._current_seq not in self._active:
            self._switch_to(self._replacement(), retire_current=False)
        return self.current if self._current_seq != old_current else None

    def _validate_new(self, frame: NewConnectionIdFrame) -> None:
        """The checks made before any state changes; raise QuicError."""
        if not self._active[self._current_seq].cid:
            # RFC 9000 §19.15: a peer using zero-length IDs must not send NEW_CONNECTION_ID
            raise QuicError(
                _PV,
                "NEW_CONNECTION_ID from a peer using zero-length connection IDs",
                frame_type=_NEW_CID,
            )
        if frame.retire_prior_to > frame.sequence_number:  # RFC 9000 §19.15
            raise QuicError(
                TransportErrorCode.FRAME_ENCODING_ERROR,
                "Retire Prior To exceeds the Sequence Number",
                frame_type=_NEW_CID,
            )
        for seq, entry in self._active.items():
            same_seq = seq == frame.sequence_number
            if same_seq and (
                entry.cid != frame.connection_id or entry.token != frame.stateless_reset_token
            ):
                # RFC 9000 §19.15: a sequence number reused for a different ID or token
                raise QuicError(
                    _PV,
                    f"sequence {seq} repeated with a different ID or token",
                    frame_type=_NEW_CID,
                )
            if not same_seq and entry.cid == frame.connection_id:
                # RFC 9000 §19.15: one ID under two sequence numbers
                raise QuicError(
                    _PV,
                    f"connection ID repeated under sequences {seq} and {frame.sequence_number}",
                    frame_type=_NEW_CID,
                )
            if not same_seq and entry.token == frame.stateless_reset_token:
                # RFC 9000 §10.3.2: a token reused for another ID MAY be a PROTOCOL_VIOLATION
                raise QuicError(
                    _PV,
                    "stateless reset token reused for another connection ID",
                    frame_type=_NEW_CID,
                )

    # -- RETIRE_CONNECTION_ID --------------------------------------------------------------------

    def wants_to_send(self) -> bool:
        return bool(self._retire_due)

    def frames_to_send(self) -> list[RetireConnectionIdFrame]:
        """RETIRE_CONNECTION_ID frames due now, marked in flight."""
        frames = [RetireConnectionIdFrame(seq) for seq in self._retire_due]
        if self._retire_due:
            self._retire_in_flight = self._retire_in_flight.union(self._retire_due)
        self._retire_due.clear()
        return frames

    def on_frame_acked(self, frame: RetireConnectionIdFrame) -> None:
        seq = frame.sequence_number
        if seq in self._retire_in_flight:
            self._retire_in_flight = _sequences(self._retire_in_flight - {seq})

    def on_frame_lost(self, frame: RetireConnectionIdFrame) -> None:
        """A RETIRE_CONNECTION_ID frame was lost: it is due again."""
        seq = frame.sequence_number
        if seq in self._retire_in_flight:
            self._retire_in_flight = _sequences(self._retire_in_flight - {seq})
            self._retire_due.append(seq)

    # -- migration -------------------------------------------------------------------------------

    def switch_to_unused(self, *, retire_current: bool = True) -> bytes | None:
        """Move to the lowest-sequence unused ID, retiring the current one unless told not to.

        Returns the new current ID, or None (nothing changes) when no unused ID is left.  A new
        path must use an ID not used on another (RFC 9000 §9.5).
        """
        seq = self._lowest_unused()
        if seq is None:
            return None
        self._switch_to(seq, retire_current=retire_current)
        return self.current

    # -- internals -------------------------------------------------------------------------------

    def _lowest_unused(self) -> int | None:
        unused = [seq for seq, entry in self._active.items() if not entry.used]
        return min(unused) if unused else None

    def _replacement(self) -> int | None:
        """The ID to move to when the current one was retired: unused first (§9.5)."""
        unused = self._lowest_unused()
        if unused is not None:
            return unused
        return min(self._active) if self._active else None

    def _switch_to(self, seq: int | None, *, retire_current: bool) -> None:
        if seq is None:
            # only a peer that retired everything it gave us gets here
            raise QuicError(
                _PV, "the peer retired every connection ID we could use", frame_type=_NEW_CID
            )
        previous = self._current_seq
        self._active[seq].used = True
        self._current_seq = seq
        if retire_current and previous in self._active:
            self._retire(previous)

    def _retire(self, seq: int) -> None:
        """Forget an active ID and owe the peer a RETIRE_CONNECTION_ID (RFC 9000 §5.1.2)."""
        del self._active[seq]
        if seq >= self._retire_prior_to:
            self._retired_above = self._retired_above | {seq}
        self._retire_due.append(seq)
