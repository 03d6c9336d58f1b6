"""Test helper, not a test module: our TLS client and server talking to each other in memory.

:class:`Exchange` (and :func:`pump`, its one-call form) moves the handshake bytes each session
queues per encryption level to the other until both are quiet, recording every flight and every
event; an optional interceptor sees (and may rewrite) each flight on the way, which is how the
negative tests play man-in-the-middle.  When a ``receive`` raises, :attr:`Exchange.failed` names the
session that raised.

:class:`Harness` builds configurations and sessions around the test PKI of ``conftest.py`` with an
injected clock (:class:`Clock`, so certificate validity and ticket ages are deterministic), a
ticket sealer and a single-use anti-replay store shared by the servers it builds, so a ticket from
one connection resumes the next.

Helpers for crafting messages: :func:`split_messages` cuts a flight into whole handshake messages,
:func:`rewrite` builds an interceptor that replaces one message type in one direction.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest

from pyquic.core.errors import QuicError
from pyquic.platform.tls import (
    AntiReplay,
    ClientSession,
    ClientState,
    Credential,
    Direction,
    EncryptionLevel,
    HandshakeCompleted,
    ServerSession,
    SessionTicket,
    SessionTicketReceived,
    SingleUseTicketRegistry,
    TicketSealer,
    TlsConfig,
    TlsEvent,
    TrafficSecretReady,
)
from pyquic.platform.tls.certificates import PeerVerifier
from pyquic.platform.tls.messages import HandshakeBuffer

Side = Literal["client", "server"]
Session = ClientSession | ServerSession
Interceptor = Callable[[Side, EncryptionLevel, bytes], bytes]

# The levels that carry handshake messages (RFC 9001 §4.1.4: none at 0-RTT).
MESSAGE_LEVELS = (EncryptionLevel.INITIAL, EncryptionLevel.HANDSHAKE, EncryptionLevel.APPLICATION)
ALPN = b"h3"
SERVER_NAME = "localhost"
# Opaque to the TLS engine (RFC 9001 §8.2): any bytes do; distinct so a mix-up shows.
CLIENT_TRANSPORT_PARAMETERS = bytes.fromhex("0104800075300304800005dc")
SERVER_TRANSPORT_PARAMETERS = bytes.fromhex("0104800075300e0104")
EXPORTER_LABEL = b"EXPORTER-pyquic-test"


class Clock:
    """A settable wall clock in seconds since the epoch: ``TlsConfig.wall_clock``."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def deterministic_random(seed: bytes) -> Callable[[int], bytes]:
    """A ``random_bytes`` replacement: SHA-256 in counter mode over ``seed``."""
    counter = 0

    def random_bytes(n: int) -> bytes:
        nonlocal counter
        out = b""
        while len(out) < n:
            out += hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
            counter += 1
        return out[:n]

    return random_bytes


def split_messages(data: bytes) -> list[bytes]:
    """The whole handshake messages (header included) of a flight; a partial tail is an error."""
    buffer = HandshakeBuffer()
    buffer.feed(data)
    messages = []
    while (message := buffer.pop()) is not None:
        messages.append(message)
    assert len(buffer) == 0, "the flight ends in a partial handshake message"
    return messages


def rewrite(sender: Side, msg_type: int, change: Callable[[bytes], bytes]) -> Interceptor:
    """An interceptor replacing each message of ``msg_type`` sent by ``sender`` with
    ``change(message)`` (whole messages, header included)."""

    def intercept(side: Side, level: EncryptionLevel, data: bytes) -> bytes:
        if side != sender:
            return data
        return b"".join(change(m) if m[0] == msg_type else m for m in split_messages(data))

    return intercept


@dataclass(frozen=True, slots=True)
class Flight:
    """Bytes one side queued at one level, as delivered (after any interception)."""

    sender: Side
    level: EncryptionLevel
    data: bytes


@dataclass
class Exchange:
    """A client and a server connected in memory; :meth:`run` pumps until both are quiet."""

    client: ClientSession
    server: ServerSession
    intercept: Interceptor | None = None
    client_events: list[TlsEvent] = field(default_factory=list)
    server_events: list[TlsEvent] = field(default_factory=list)
    flights: list[Flight] = field(default_factory=list)
    failed: Session | None = None

    def run(self, max_rounds: int = 16) -> Exchange:
        """Start the client if needed and move data per level until nothing is queued.

        A ``QuicError`` from either side propagates, with :attr:`failed` set to that side.
        """
        if self.client.state is ClientState.START:
            self.client.start()
        for _ in range(max_rounds):
            moved = self._drain("client", self.client, self.server)
            moved |= self._drain("server", self.server, self.client)
            self._collect()
            if not moved:
                return self
        raise AssertionError("the handshake did not go quiet")

    def _drain(self, side: Side, sender: Session, receiver: Session) -> bool:
        moved = False
        for level in MESSAGE_LEVELS:
            data = sender.data_to_send(level)
            if not data:
                continue
            moved = True
            if self.intercept is not None:
                data = self.intercept(side, level, data)
            self.flights.append(Flight(side, level, data))
            try:
                receiver.receive(level, data)
            except QuicError:
                self.failed = receiver
                self._collect()
                raise
        return moved

    def _collect(self) -> None:
        while (event := self.client.poll_event()) is not None:
            self.client_events.append(event)
        while (event := self.server.poll_event()) is not None:
            self.server_events.append(event)

    # --- what happened --------------------------------------------------------------------------

    def events(self, side: Side) -> list[TlsEvent]:
        return self.client_events if side == "client" else self.server_events

    def secrets(self, side: Side, direction: Direction) -> dict[EncryptionLevel, bytes]:
        """The traffic secrets one side reported, per level, for one direction."""
        found: dict[EncryptionLevel, bytes] = {}
        for event in self.events(side):
            if isinstance(event, TrafficSecretReady) and event.direction is direction:
                assert event.level not in found, f"two {direction.name} secrets for {event.level}"
                found[event.level] = event.secret
        return found

    def completed(self, side: Side) -> HandshakeCompleted:
        done = [e for e in self.events(side) if isinstance(e, HandshakeCompleted)]
        assert len(done) == 1, f"{side}: {len(done)} HandshakeCompleted events"
        return done[0]

    def tickets(self) -> list[SessionTicket]:
        return [e.ticket for e in self.client_events if isinstance(e, SessionTicketReceived)]

    def messages(self, sender: Side, level: EncryptionLevel | None = None) -> list[bytes]:
        """Every whole message ``sender`` sent (at ``level``, if given), in order."""
        return [
            message
            for flight in self.flights
            if flight.sender == sender and (level is None or flight.level == level)
            for message in split_messages(flight.data)
        ]

    def message_types(self, sender: Side) -> list[int]:
        return [message[0] for message in self.messages(sender)]


def pump(
    client: ClientSession, server: ServerSession, intercept: Interceptor | None = None
) -> Exchange:
    """Run a handshake between ``client`` and ``server`` in memory; see :class:`Exchange`."""
    return Exchange(client, server, intercept).run()


def expect_failure(exchange: Exchange, failing: Session, error_code: int) -> QuicError:
    """Run ``exchange``, which must fail in ``failing`` with ``error_code``; the session must
    then stay failed: any further ``receive`` raises the same error."""
    with pytest.raises(QuicError) as info:
        exchange.run()
    error = info.value
    assert exchange.failed is failing, f"the other side failed: {error}"
    assert error.error_code == error_code, f"{error.error_code:#x} != {error_code:#x}: {error}"
    for level in (*MESSAGE_LEVELS, EncryptionLevel.EARLY_DATA):
        with pytest.raises(QuicError) as again:
            failing.receive(level, b"")
        assert again.value is error
    return error


def expect_receive_failure(
    session: Session, level: EncryptionLevel, data: bytes, error_code: int
) -> QuicError:
    """``session.receive(level, data)`` must fail with ``error_code``, and keep failing."""
    with pytest.raises(QuicError) as info:
        session.receive(level, data)
    error = info.value
    assert error.error_code == error_code, f"{error.error_code:#x} != {error_code:#x}: {error}"
    with pytest.raises(QuicError) as again:
        session.receive(level, data)
    assert again.value is error
    return error


@dataclass
class Harness:
    """Configurations and sessions over the test PKI, with a shared clock, sealer and
    anti-replay store (tickets of one connection resume the next)."""

    verifier: PeerVerifier
    server_credentials: dict[str, Credential]
    client_credential: Credential
    clock: Clock
    sealer: TicketSealer = field(init=False)
    anti_replay: AntiReplay = field(init=False)

    def __post_init__(self) -> None:
        self.sealer = TicketSealer.generate(os.urandom, self.clock.now)  # fresh keys per harness
        self.anti_replay = AntiReplay(single_use=SingleUseTicketRegistry())

    def client_config(self, **changes: Any) -> TlsConfig:
        settings: dict[str, Any] = {
            "is_client": True,
            "alpn_protocols": (ALPN,),
            "server_name": SERVER_NAME,
            "verifier": self.verifier,
            "wall_clock": self.clock,
        }
        settings.update(changes)
        return TlsConfig(**settings)

    def server_config(self, kind: str = "p256", **changes: Any) -> TlsConfig:
        settings: dict[str, Any] = {
            "is_client": False,
            "alpn_protocols": (ALPN,),
            "credential": self.server_credentials[kind],
            "ticket_sealer": self.sealer,
            "anti_replay": self.anti_replay,
            "wall_clock": self.clock,
        }
        settings.update(changes)
        return TlsConfig(**settings)

    def client(
        self, *, transport_parameters: bytes = CLIENT_TRANSPORT_PARAMETERS, **changes: Any
    ) -> ClientSession:
        return ClientSession(self.client_config(**changes), transport_parameters)

    def server(
        self,
        kind: str = "p256",
        *,
        transport_parameters: bytes = SERVER_TRANSPORT_PARAMETERS,
        early_data_context: bytes = b"",
        **changes: Any,
    ) -> ServerSession:
        return ServerSession(
            self.server_config(kind, **changes),
            transport_parameters,
            early_data_context=early_data_context,
        )

    def ticket(self, **server_changes: Any) -> SessionTicket:
        """A ticket from a fresh full handshake (0-RTT allowed when the server enables it)."""
        exchange = pump(self.client(), self.server(**server_changes))
        tickets = exchange.tickets()
        assert tickets, "the server issued no ticket"
        return tickets[0]
