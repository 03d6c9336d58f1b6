"""Session tickets for resumption and 0-RTT: the client's store, the server's sealer, anti-replay.

Client side: a :class:`SessionTicket` is what the engine keeps from a NewSessionTicket (RFC 8446
§4.6.1): the ticket, the resumption PSK, what was negotiated, and the server's transport
parameters that 0-RTT must remember (RFC 9001 §4.6.3, RFC 9000 §7.4.1).  It serialises to a
versioned blob so an application can persist it (MsQuic's RESUMPTION_TICKET_RECEIVED); the blob
holds the PSK, a secret.  :class:`ClientTicketStore` keeps a bounded number, keyed by server
name, and hands each ticket out once (RFC 8446 §C.4: reuse links connections).

Server side: tickets are self-contained.  :class:`TicketSealer` encrypts a :class:`TicketState`
with AES-256-GCM; ``ticket = key_id(4) || nonce(12) || ciphertext``.  Design choice for the
rotating keys: the key of epoch ``e = floor(now / rotation_interval_s)`` comes from a one-way
HKDF ratchet (``chain[e + 1] = HKDF-Expand(chain[e])``), so servers sharing the key material
(secret, epoch) and the interval derive the same keys without talking to each other, and a
server only holds the chain from the previous epoch on, so old keys are gone (forward secrecy
for tickets older than two intervals).  Tickets sealed in the previous, current or next epoch
(clock skew between servers) open; older ones do not.  ``open`` never raises on network input.

Anti-replay for 0-RTT (RFC 8446 §8): the freshness check of §8.3 (:func:`is_fresh`),
single-use tickets of §8.1 (:class:`SingleUseTicketRegistry`) and ClientHello recording of §8.2
(:class:`StrikeRegister`), combined by :class:`AntiReplay`.  Every store is bounded; a full store
refuses 0-RTT rather than forgetting.  Time is always passed in, in seconds since the epoch.
"""

from __future__ import annotations

import heapq
import math
import os
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pyquic.core.buffer import Reader
from pyquic.core.errors import QuicError
from pyquic.platform.crypto.hkdf import hkdf_expand

__all__ = [
    "MAX_TICKET_LIFETIME_S",
    "QUIC_MAX_EARLY_DATA_SIZE",
    "AntiReplay",
    "ClientTicketStore",
    "SessionTicket",
    "SingleUseTicketRegistry",
    "StrikeRegister",
    "TicketSealer",
    "TicketState",
    "compute_early_data_context",
    "is_fresh",
]

MAX_TICKET_LIFETIME_S = 604_800  # RFC 8446 §4.6.1: at most 7 days
QUIC_MAX_EARLY_DATA_SIZE = 0xFFFF_FFFF  # RFC 9001 §4.6.1: the only value a QUIC server sends
_U16_MAX = 0xFFFF
_U32_MAX = 0xFFFF_FFFF
_BLOB_MAGIC = b"PQST"  # pyquic session ticket blob
_BLOB_VERSION = 1
_STATE_VERSION = 1
_KEY_ID_LENGTH = 4
_NONCE_LENGTH = 12  # AES-GCM nonce (RFC 5116 §3.2)
_TAG_LENGTH = 16
_TICKET_SECRET_LENGTH = 32  # AES-256 keys and ratchet secrets
_TICKET_AAD = b"pyquic ticket v1"
_RATCHET_LABEL = b"pyquic ticket ratchet"
_KEY_LABEL = b"pyquic ticket key"
_MAX_RATCHET_STEPS = 1_000_000  # a clock jump beyond this is a caller bug, not a rotation
_HASH = hashes.SHA256()


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ValueError(f"{name} must be in {low}..{high}, got {value}")


def _check_common(
    psk: bytes,
    cipher_suite: int,
    alpn: bytes | None,
    lifetime_s: int,
    age_add: int,
    max_early_data_size: int,
) -> None:
    """The invariants SessionTicket and TicketState share."""
    _check_range("psk length", len(psk), 1, 255)
    _check_range("cipher_suite", cipher_suite, 0, _U16_MAX)
    if alpn is not None:
        _check_range("alpn length", len(alpn), 1, 255)  # RFC 7301 §3.1: ProtocolName<1..2^8-1>
    _check_range("lifetime_s", lifetime_s, 0, MAX_TICKET_LIFETIME_S)  # RFC 8446 §4.6.1
    _check_range("age_add", age_add, 0, _U32_MAX)  # RFC 8446 §4.6.1: a 32-bit value
    if max_early_data_size not in (0, QUIC_MAX_EARLY_DATA_SIZE):  # RFC 9001 §4.6.1
        raise ValueError(
            f"max_early_data_size must be 0 or 0xffffffff in QUIC, got {max_early_data_size:#x}"
        )


def _check_time(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number of seconds, got {value}")


class _Writer:
    """Length-prefixed fields for the ticket blob and the sealed state (network byte order)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def uint(self, value: int, size: int) -> _Writer:
        self._parts.append(value.to_bytes(size, "big"))
        return self

    def double(self, value: float) -> _Writer:
        self._parts.append(struct.pack(">d", value))
        return self

    def vector(self, value: bytes, prefix: int) -> _Writer:
        return self.uint(len(value), prefix).raw(value)

    def raw(self, value: bytes) -> _Writer:
        self._parts.append(value)
        return self

    def finish(self) -> bytes:
        return b"".join(self._parts)


def _pull_double(reader: Reader) -> float:
    value: float = struct.unpack(">d", reader.pull_bytes(8))[0]
    return value


def _pull_vector(reader: Reader, prefix: int) -> bytes:
    return reader.pull_bytes(reader.pull_uint(prefix))


def _pull_alpn(reader: Reader) -> bytes | None:
    return _pull_vector(reader, 1) or None  # an ALPN name is never empty: 0 means "none"


# --- client side ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionTicket:
    """A ticket the client can resume with (RFC 8446 §4.6.1), as the engine stores it.

    ``issued_at_s`` is the wall time the NewSessionTicket arrived (the client's age counts from
    there, RFC 8446 §4.2.11); ``transport_parameters`` is the server's encoded
    quic_transport_parameters, remembered for 0-RTT (RFC 9001 §4.6.3, RFC 9000 §7.4.1).
    ``max_early_data_size`` is 0 (no 0-RTT) or 0xffffffff (RFC 9001 §4.6.1): the engine turns
    another value received into PROTOCOL_VIOLATION before building this object.
    """

    ticket: bytes
    psk: bytes = field(repr=False)  # a secret: never in logs
    cipher_suite: int
    server_name: str
    alpn: bytes | None
    issued_at_s: float
    lifetime_s: int
    age_add: int
    max_early_data_size: int = 0
    transport_parameters: bytes = b""

    def __post_init__(self) -> None:
        _check_range("ticket length", len(self.ticket), 1, _U16_MAX)  # ticket<1..2^16-1>
        _check_common(
            self.psk,
            self.cipher_suite,
            self.alpn,
            self.lifetime_s,
            self.age_add,
            self.max_early_data_size,
        )
        _check_range("server_name length", len(self.server_name.encode()), 0, _U16_MAX)
        _check_range("transport_parameters length", len(self.transport_parameters), 0, _U16_MAX)
        _check_time("issued_at_s", self.issued_at_s)

    @property
    def allows_early_data(self) -> bool:
        """The server offered 0-RTT with this ticket (RFC 9001 §4.6.1)."""
        return self.max_early_data_size == QUIC_MAX_EARLY_DATA_SIZE

    @property
    def expires_at_s(self) -> float:
        """Never later than 7 days after issue, whatever the lifetime (RFC 8446 §4.6.1)."""
        return self.issued_at_s + min(self.lifetime_s, MAX_TICKET_LIFETIME_S)

    def is_expired(self, now: float) -> bool:
        """RFC 8446 §4.2.11: no use once the age exceeds ticket_lifetime (0: discard at once)."""
        return now >= self.expires_at_s

    def age_ms(self, now: float) -> int:
        """The client's view of the ticket age in milliseconds (RFC 8446 §4.2.11)."""
        return max(0, int((now - self.issued_at_s) * 1000))

    def obfuscated_age(self, now: float) -> int:
        """(age_ms + ticket_age_add) mod 2^32 (RFC 8446 §4.2.11.1)."""
        return (self.age_ms(now) + self.age_add) & _U32_MAX

    def to_bytes(self) -> bytes:
        """A versioned blob for persistence; it contains the PSK: store it as a secret."""
        return (
            _Writer()
            .raw(_BLOB_MAGIC)
            .uint(_BLOB_VERSION, 1)
            .vector(self.ticket, 2)
            .vector(self.psk, 1)
            .uint(self.cipher_suite, 2)
            .vector(self.server_name.encode(), 2)
            .vector(self.alpn or b"", 1)
            .double(self.issued_at_s)
            .uint(self.lifetime_s, 4)
            .uint(self.age_add, 4)
            .uint(self.max_early_data_size, 4)
            .vector(self.transport_parameters, 2)
            .finish()
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> SessionTicket:
        """Parse :meth:`to_bytes` output; anything else raises ValueError."""
        if bytes(data[:4]) != _BLOB_MAGIC:
            raise ValueError("not a pyquic session ticket blob (bad magic)")
        reader = Reader(data, 0, start=4)
        try:
            if (version := reader.pull_uint8()) != _BLOB_VERSION:
                raise ValueError(f"unsupported session ticket blob version {version}")
            ticket = cls(
                ticket=_pull_vector(reader, 2),
                psk=_pull_vector(reader, 1),
                cipher_suite=reader.pull_uint16(),
                server_name=_pull_vector(reader, 2).decode(),
                alpn=_pull_alpn(reader),
                issued_at_s=_pull_double(reader),
                lifetime_s=reader.pull_uint32(),
                age_add=reader.pull_uint32(),
                max_early_data_size=reader.pull_uint32(),
                transport_parameters=_pull_vector(reader, 2),
            )
        except QuicError as exc:
            raise ValueError(f"corrupt session ticket blob: {exc.reason}") from None
        except ValueError as exc:
            raise ValueError(f"corrupt session ticket blob: {exc}") from None
        if not reader.eof():
            raise ValueError(f"corrupt session ticket blob: {reader.remaining()} trailing bytes")
        return ticket


class ClientTicketStore:
    """The client's tickets, keyed by server name (the name the client connects to).

    Bounded: at most ``max_per_server`` tickets per name (the oldest goes) and ``max_tickets``
    in all (the least recently refilled name loses its oldest).  :meth:`take` returns the newest
    unexpired ticket and, by default, removes it: RFC 8446 §C.4, a ticket is used once.
    Thread-safe, since connections on several workers share one store.
    """

    def __init__(
        self, max_tickets: int = 256, *, max_per_server: int = 8, single_use: bool = True
    ) -> None:
        if max_tickets < 1 or max_per_server < 1:
            raise ValueError("max_tickets and max_per_server must be at least 1")
        self._max_tickets = max_tickets
        self._max_per_server = max_per_server
        self._single_use = single_use
        self._tickets: OrderedDict[str, list[SessionTicket]] = OrderedDict()
        self._count = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._count

    def add(self, ticket: SessionTicket, now: float) -> None:
        """Keep ``ticket`` unless it is already expired (lifetime 0: discard, RFC 8446 §4.6.1)."""
        if ticket.is_expired(now):
            return
        with self._lock:
            tickets = self._tickets.setdefault(ticket.server_name, [])
            self._count -= len(tickets)
            tickets[:] = [t for t in tickets if not t.is_expired(now)]
            tickets.append(ticket)
            del tickets[: -self._max_per_server]
            self._count += len(tickets)
            self._tickets.move_to_end(ticket.server_name)
            while self._count > self._max_tickets:
                name, oldest = next(iter(self._tickets.items()))
                oldest.pop(0)
                self._count -= 1
                if not oldest:
                    del self._tickets[name]

    def take(
        self, server_name: str, now: float, alpns: Sequence[bytes] | None = None
    ) -> SessionTicket | None:
        """The newest unexpired ticket for ``server_name`` (and, if ``alpns`` is given, whose
        ALPN is among them); removed from the store when tickets are single-use."""
        with self._lock:
            tickets = self._tickets.get(server_name)
            if tickets is None:
                return None
            self._count -= len(tickets)
            tickets[:] = [t for t in tickets if not t.is_expired(now)]
            self._count += len(tickets)
            chosen = None
            for index in range(len(tickets) - 1, -1, -1):  # newest last
                if alpns is None or tickets[index].alpn in alpns:
                    chosen = tickets[index]
                    if self._single_use:  # RFC 8446 §C.4: do not reuse a ticket
                        del tickets[index]
                        self._count -= 1
                    break
            if not tickets:
                del self._tickets[server_name]
            return chosen

    def discard(self, server_name: str) -> None:
        """Forget every ticket for ``server_name`` (e.g. its certificate changed)."""
        with self._lock:
            self._count -= len(self._tickets.pop(server_name, []))


# --- server side ------------------------------------------------------------------------------


def compute_early_data_context(transport_parameters: bytes, application: bytes = b"") -> bytes:
    """A SHA-256 digest of what 0-RTT depends on: the server's encoded transport parameters and
    the application's settings (e.g. HTTP/3 SETTINGS).  Sealed in the ticket; on resumption the
    server compares it with the current value and rejects 0-RTT on a mismatch, which satisfies
    the "remembered transport parameters" rules (RFC 9001 §4.6.3, RFC 9000 §7.4.1)."""
    digest = hashes.Hash(_HASH)
    for part in (transport_parameters, application):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.finalize()


@dataclass(frozen=True, slots=True)
class TicketState:
    """What a server seals into a ticket and gets back on resumption.

    ``issued_at_s`` is the creation time and ``rtt_ms`` the RTT estimate then: their sum is the
    adjusted_creation_time of RFC 8446 §8.3.  ``ticket_id`` identifies one sealed ticket for
    single-use tracking: :meth:`TicketSealer.open` sets it; :meth:`TicketSealer.seal` ignores it.
    """

    psk: bytes = field(repr=False)  # a secret: never in logs
    cipher_suite: int
    server_name: str | None
    alpn: bytes | None
    issued_at_s: float
    lifetime_s: int
    age_add: int
    max_early_data_size: int = 0
    early_data_context: bytes = b""
    client_authenticated: bool = False
    rtt_ms: int = 0
    ticket_id: bytes = b""

    def __post_init__(self) -> None:
        _check_common(
            self.psk,
            self.cipher_suite,
            self.alpn,
            self.lifetime_s,
            self.age_add,
            self.max_early_data_size,
        )
        if self.server_name is not None:
            _check_range("server_name length", len(self.server_name.encode()), 1, _U16_MAX)
        _check_range("early_data_context length", len(self.early_data_context), 0, 255)
        _check_range("rtt_ms", self.rtt_ms, 0, _U32_MAX)
        _check_time("issued_at_s", self.issued_at_s)

    @property
    def expires_at_s(self) -> float:
        return self.issued_at_s + self.lifetime_s

    @property
    def adjusted_creation_time_s(self) -> float:
        """creation_time + estimated_RTT (RFC 8446 §8.3)."""
        return self.issued_at_s + self.rtt_ms / 1000

    def early_data_matches(
        self, cipher_suite: int, alpn: bytes | None, early_data_context: bytes
    ) -> bool:
        """0-RTT needs the same suite and ALPN as the original connection (RFC 8446 §4.2.10)
        and an unchanged transport/application configuration (RFC 9001 §4.6.3)."""
        return (
            self.max_early_data_size == QUIC_MAX_EARLY_DATA_SIZE
            and cipher_suite == self.cipher_suite
            and alpn == self.alpn
            and early_data_context == self.early_data_context
        )

    def _encode(self) -> bytes:
        flags = (self.client_authenticated << 0) | ((self.server_name is not None) << 1)
        return (
            _Writer()
            .uint(_STATE_VERSION, 1)
            .uint(flags, 1)
            .vector(self.psk, 1)
            .uint(self.cipher_suite, 2)
            .vector((self.server_name or "").encode(), 2)
            .vector(self.alpn or b"", 1)
            .double(self.issued_at_s)
            .uint(self.lifetime_s, 4)
            .uint(self.age_add, 4)
            .uint(self.max_early_data_size, 4)
            .vector(self.early_data_context, 1)
            .uint(self.rtt_ms, 4)
            .finish()
        )

    @classmethod
    def _decode(cls, data: bytes, ticket_id: bytes) -> TicketState | None:
        reader = Reader(data, 0)
        try:
            if reader.pull_uint8() != _STATE_VERSION:
                return None
            flags = reader.pull_uint8()
            psk = _pull_vector(reader, 1)
            suite = reader.pull_uint16()
            name = _pull_vector(reader, 2).decode()
            state = cls(
                psk=psk,
                cipher_suite=suite,
                server_name=name if flags & 2 else None,
                alpn=_pull_alpn(reader),
                issued_at_s=_pull_double(reader),
                lifetime_s=reader.pull_uint32(),
                age_add=reader.pull_uint32(),
                max_early_data_size=reader.pull_uint32(),
                early_data_context=_pull_vector(reader, 1),
                client_authenticated=bool(flags & 1),
                rtt_ms=reader.pull_uint32(),
                ticket_id=ticket_id,
            )
        except (QuicError, ValueError):
            return None
        return state if reader.eof() else None


class TicketSealer:
    """Seals :class:`TicketState` into self-contained tickets under rotating AES-256-GCM keys.

    ``secret`` is the ratchet secret of epoch ``epoch`` (see the module docstring); all servers
    given the same pair and ``rotation_interval_s`` seal and open each other's tickets.  Tickets
    stay openable at least ``rotation_interval_s`` seconds, so :attr:`max_lifetime_s` (what the
    engine may put in ticket_lifetime) is the smaller of that and 7 days.  ``random_bytes``
    (default ``os.urandom``) supplies the nonces.  Thread-safe.
    """

    def __init__(
        self,
        secret: bytes,
        *,
        epoch: int,
        rotation_interval_s: float = 86_400.0,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        if len(secret) != _TICKET_SECRET_LENGTH:
            raise ValueError(f"ticket secret must be {_TICKET_SECRET_LENGTH} bytes")
        _check_range("epoch", epoch, 0, _U32_MAX)
        if not 1.0 <= rotation_interval_s <= MAX_TICKET_LIFETIME_S:
            raise ValueError(f"rotation_interval_s must be 1..{MAX_TICKET_LIFETIME_S} s")
        self._interval_s = rotation_interval_s
        self._random_bytes = random_bytes
        self._lock = threading.Lock()
        self._epoch = epoch  # the newest epoch this sealer has ratcheted to
        self._chain = secret  # chain[self._epoch]
        self._previous: tuple[bytes, AESGCM] | None = None  # (chain, key) of self._epoch - 1
        self._current = AESGCM(_derive_key(secret, epoch))

    @classmethod
    def generate(
        cls,
        random_bytes: Callable[[int], bytes],
        now: float,
        *,
        rotation_interval_s: float = 86_400.0,
    ) -> TicketSealer:
        """A sealer with fresh key material, starting at the epoch of ``now``."""
        return cls(
            random_bytes(_TICKET_SECRET_LENGTH),
            epoch=int(now // rotation_interval_s),
            rotation_interval_s=rotation_interval_s,
            random_bytes=random_bytes,
        )

    @property
    def max_lifetime_s(self) -> int:
        return min(MAX_TICKET_LIFETIME_S, int(self._interval_s))

    def export_key_material(self) -> tuple[bytes, int]:
        """(secret, epoch) to build another server's sealer from: the oldest chain secret still
        held, so the other server can open tickets of the previous epoch too."""
        with self._lock:
            if self._previous is not None:
                return self._previous[0], self._epoch - 1
            return self._chain, self._epoch

    def seal(self, state: TicketState, now: float) -> bytes:
        """The ticket for ``state`` under the key of the epoch of ``now``."""
        if state.lifetime_s > self.max_lifetime_s:  # RFC 8446 §4.6.1 and the rotation window
            raise ValueError(
                f"ticket lifetime {state.lifetime_s} s exceeds this sealer's maximum "
                f"{self.max_lifetime_s} s"
            )
        nonce = self._random_bytes(_NONCE_LENGTH)
        if len(nonce) != _NONCE_LENGTH:
            raise ValueError("random_bytes returned the wrong number of bytes")
        with self._lock:
            self._advance(now)
            key_id = self._epoch.to_bytes(_KEY_ID_LENGTH, "big")
            aead = self._current
        return key_id + nonce + aead.encrypt(nonce, state._encode(), _TICKET_AAD + key_id)

    def open(self, ticket: bytes, now: float) -> TicketState | None:
        """The state sealed in ``ticket``, or None when the key is unknown (too old, other
        deployment), the ticket was altered or malformed, or it has expired.  Never raises on
        any ``ticket`` bytes (only on a ``now`` absurdly far ahead, as :meth:`seal` does)."""
        if not _KEY_ID_LENGTH + _NONCE_LENGTH + _TAG_LENGTH <= len(ticket) <= _U16_MAX:
            return None
        ticket = bytes(ticket)
        key_id = ticket[:_KEY_ID_LENGTH]
        with self._lock:
            self._advance(now)
            aead = self._key_for(int.from_bytes(key_id, "big"))
        if aead is None:
            return None
        nonce_end = _KEY_ID_LENGTH + _NONCE_LENGTH
        try:
            plaintext = aead.decrypt(
                ticket[_KEY_ID_LENGTH:nonce_end], ticket[nonce_end:], _TICKET_AAD + key_id
            )
        except InvalidTag:
            return None
        state = TicketState._decode(plaintext, ticket_id=ticket[:nonce_end])
        if state is None or now >= state.expires_at_s:  # RFC 8446 §4.6.1: lifetime
            return None
        return state

    def _key_for(self, epoch: int) -> AESGCM | None:
        if epoch == self._epoch:
            return self._current
        if epoch == self._epoch - 1 and self._previous is not None:
            return self._previous[1]
        if epoch == self._epoch + 1:  # a peer server whose clock is slightly ahead
            return AESGCM(_derive_key(_ratchet(self._chain), epoch))
        return None

    def _advance(self, now: float) -> None:
        """Ratchet to the epoch of ``now``, erasing keys older than the previous epoch."""
        target = int(now // self._interval_s) if math.isfinite(now) else self._epoch
        if target <= self._epoch:
            return  # the clock went back, or no rotation due: keep the newest keys
        steps = target - self._epoch
        if steps > _MAX_RATCHET_STEPS or target > _U32_MAX:
            raise ValueError(f"time {now} is {steps} key rotations ahead; is the clock wrong?")
        if steps == 1:
            self._previous = (self._chain, self._current)
            self._chain = _ratchet(self._chain)
        else:
            previous = self._chain
            for _ in range(steps - 1):
                previous = _ratchet(previous)
            self._previous = (previous, AESGCM(_derive_key(previous, target - 1)))
            self._chain = _ratchet(previous)
        self._epoch = target
        self._current = AESGCM(_derive_key(self._chain, target))


def _ratchet(chain: bytes) -> bytes:
    return hkdf_expand(_HASH, chain, _RATCHET_LABEL, _TICKET_SECRET_LENGTH)


def _derive_key(chain: bytes, epoch: int) -> bytes:
    return hkdf_expand(_HASH, chain, _KEY_LABEL + epoch.to_bytes(8, "big"), _TICKET_SECRET_LENGTH)


# --- anti-replay (RFC 8446 §8) ----------------------------------------------------------------


def is_fresh(
    obfuscated_age: int, age_add: int, issued_at: float, now: float, window: float
) -> bool:
    """RFC 8446 §8.3: the ClientHello's expected arrival time is within ``window`` seconds of
    ``now``.  ``issued_at`` is the adjusted creation time (creation + RTT estimate)."""
    client_age_ms = (obfuscated_age - age_add) & _U32_MAX  # RFC 8446 §4.2.11.1, mod 2^32
    expected_arrival = issued_at + client_age_ms / 1000
    return abs(expected_arrival - now) <= window


class SingleUseTicketRegistry:
    """RFC 8446 §8.1: accept 0-RTT for each ticket at most once.

    Remembers ticket ids until the ticket expires.  Bounded: when ``max_entries`` unexpired ids
    are held, :meth:`use` refuses (returns False) rather than forget one, which could let a
    replay through.  Thread-safe.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._expiry: dict[bytes, float] = {}
        self._heap: list[tuple[float, bytes]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._expiry)

    def use(self, ticket_id: bytes, expires_at_s: float, now: float) -> bool:
        """True the first time ``ticket_id`` is used before ``expires_at_s``; else False."""
        with self._lock:
            _purge(self._heap, self._expiry, now)
            if now >= expires_at_s or ticket_id in self._expiry:
                return False
            if len(self._expiry) >= self._max_entries:
                return False
            self._expiry[ticket_id] = expires_at_s
            heapq.heappush(self._heap, (expires_at_s, ticket_id))
            return True


class StrikeRegister:
    """RFC 8446 §8.2: record ClientHellos (their random or validated binder) within a window.

    A ClientHello whose expected arrival time is more than ``window_s`` away from ``now`` is
    refused (it would have to be remembered longer); one already recorded is refused; otherwise
    it is recorded until its expected arrival time leaves the window.  ``started_at_s`` is when
    this register began recording: until one window has passed, everything is refused, since
    replays of ClientHellos sent before the start cannot be detected (§8.2).  Bounded: when full,
    refuse rather than forget.  Thread-safe.
    """

    def __init__(
        self, *, started_at_s: float, window_s: float = 10.0, max_entries: int = 100_000
    ) -> None:
        if window_s <= 0 or max_entries < 1:
            raise ValueError("window_s must be positive and max_entries at least 1")
        self._started_at_s = started_at_s
        self._window_s = window_s
        self._max_entries = max_entries
        self._expiry: dict[bytes, float] = {}
        self._heap: list[tuple[float, bytes]] = []
        self._lock = threading.Lock()

    @property
    def window_s(self) -> float:
        return self._window_s

    def __len__(self) -> int:
        return len(self._expiry)

    def record(self, identifier: bytes, expected_arrival_s: float, now: float) -> bool:
        """True if 0-RTT may be accepted for this ClientHello (and it is now recorded)."""
        if now < self._started_at_s + self._window_s:  # §8.2: window overlaps the start
            return False
        if not abs(expected_arrival_s - now) <= self._window_s:  # §8.2: outside the window
            return False
        with self._lock:
            _purge(self._heap, self._expiry, now)
            if identifier in self._expiry or len(self._expiry) >= self._max_entries:
                return False
            expires = expected_arrival_s + self._window_s
            self._expiry[identifier] = expires
            heapq.heappush(self._heap, (expires, identifier))
            return True


def _purge(heap: list[tuple[float, bytes]], expiry: dict[bytes, float], now: float) -> None:
    while heap and heap[0][0] <= now:
        _, key = heapq.heappop(heap)
        if expiry.get(key, math.inf) <= now:
            del expiry[key]


class AntiReplay:
    """The server's 0-RTT decision for a ticket that opened and matched (RFC 8446 §8).

    Checks, in order: the ticket allows 0-RTT; the ClientHello is fresh (§8.3, ``window_s``);
    the ticket was not used for 0-RTT before (§8.1, if a registry is given); the ClientHello was
    not seen before (§8.2, if a strike register is given).  At least one of the two stores is
    required (§8: each 0-RTT handshake is accepted at most once per server instance).
    """

    def __init__(
        self,
        *,
        window_s: float = 10.0,
        single_use: SingleUseTicketRegistry | None = None,
        strike_register: StrikeRegister | None = None,
    ) -> None:
        if single_use is None and strike_register is None:
            raise ValueError("anti-replay needs a single-use registry or a strike register")
        self._window_s = window_s
        self._single_use = single_use
        self._strike_register = strike_register

    def accept_early_data(
        self, ticket: TicketState, client_hello_id: bytes, obfuscated_age: int, now: float
    ) -> bool:
        """``client_hello_id`` is ClientHello.random or the validated binder (§8.2)."""
        if self._single_use is not None and not ticket.ticket_id:
            raise ValueError("the ticket state has no ticket_id: use what TicketSealer.open gave")
        if ticket.max_early_data_size != QUIC_MAX_EARLY_DATA_SIZE:  # RFC 9001 §4.6.1
            return False
        created = ticket.adjusted_creation_time_s
        if not is_fresh(obfuscated_age, ticket.age_add, created, now, self._window_s):
            return False  # RFC 8446 §4.2.10: reject 0-RTT, the handshake may go on
        if self._single_use is not None and not self._single_use.use(
            ticket.ticket_id, ticket.expires_at_s, now
        ):
            return False
        if self._strike_register is not None:
            expected = created + ((obfuscated_age - ticket.age_add) & _U32_MAX) / 1000
            return self._strike_register.record(client_hello_id, expected, now)
        return True
