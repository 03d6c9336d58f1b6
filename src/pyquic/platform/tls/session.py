"""The sans-I/O TLS 1.3 session for QUIC: the machinery shared by the client and the server.

MsQuic's TLS layer takes handshake bytes in per encryption level and hands back bytes to send per
level, new keys and flags.  A :class:`TlsSession` does the same: :meth:`TlsSession.receive` takes
CRYPTO bytes of one level, :meth:`TlsSession.data_to_send` drains what to send at a level, and
:meth:`TlsSession.poll_event` yields new traffic secrets, completion, tickets (see ``events``).
There is no record layer (RFC 9001 §4).

Design: state as data.  Each role declares a transition table mapping (state, message type) to
the encryption level the message must arrive at and the handler, which returns the next state.  A
message absent from the table, or at the wrong level, is an unexpected_message alert (RFC 8446
§6.2, RFC 9001 §4.1.3).  Every failure is a :class:`QuicError` carrying CRYPTO_ERROR + alert; once
a session has failed it stays failed.  Time and randomness come from the configuration.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Generic, TypeVar

from cryptography import x509

from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.platform.crypto.suites import CipherSuite
from pyquic.platform.tls.config import TlsConfig
from pyquic.platform.tls.constants import AlertDescription, EncryptionLevel, alert_error
from pyquic.platform.tls.events import Direction, TlsEvent, TrafficSecretReady
from pyquic.platform.tls.key_schedule import KeySchedule, Transcript
from pyquic.platform.tls.keylog import KeyLogLabel, key_log_line
from pyquic.platform.tls.messages import HandshakeBuffer, Message, parse_handshake_message

StateT = TypeVar("StateT", bound=Enum)
Handler = Callable[[Message, bytes], StateT]

# The levels that carry handshake messages (RFC 9001 §4.1.4: none at 0-RTT).
MESSAGE_LEVELS = (EncryptionLevel.INITIAL, EncryptionLevel.HANDSHAKE, EncryptionLevel.APPLICATION)


class TlsSession(ABC, Generic[StateT]):
    """What the client and server sessions share: buffers, events, transcript, key logging."""

    def __init__(self, config: TlsConfig, transport_parameters: bytes, state: StateT) -> None:
        self.config = config
        self.local_transport_parameters = transport_parameters
        self._state = state
        self._buffers = {
            level: HandshakeBuffer(max_message_size=config.max_message_size)
            for level in MESSAGE_LEVELS
        }
        self._outgoing = {level: bytearray() for level in MESSAGE_LEVELS}
        self._events: deque[TlsEvent] = deque()
        self._error: QuicError | None = None
        self._read_level = EncryptionLevel.INITIAL  # the highest level with a READ secret
        self.transcript = Transcript()
        self.schedule: KeySchedule | None = None
        self.cipher_suite: CipherSuite | None = None
        self.client_random = b""
        # What the handshake negotiated, for the connection above.
        self.alpn: bytes | None = None
        self.peer_transport_parameters: bytes | None = None
        self.peer_certificate_chain: tuple[x509.Certificate, ...] = ()
        self.session_resumed = False
        self.early_data_accepted = False
        self.handshake_complete = False
        self.exporter_secret = b""

    # --- the interface the QUIC connection uses ------------------------------------------------

    @property
    def state(self) -> StateT:
        return self._state

    def receive(self, level: EncryptionLevel, data: bytes) -> None:
        """Process in-order CRYPTO bytes received at ``level`` (RFC 9001 §4.1.3).

        Raises :class:`QuicError` (CRYPTO_ERROR + alert, CRYPTO_BUFFER_EXCEEDED, or
        PROTOCOL_VIOLATION) on any failure; the session is then failed for good.
        """
        if self._error is not None:
            raise self._error
        buffer = self._buffers.get(level)
        try:
            if buffer is None:  # RFC 9001 §4.1.4: no handshake messages in 0-RTT packets
                raise alert_error(AlertDescription.unexpected_message, f"TLS data at {level.name}")
            buffer.feed(data)
            while (raw := buffer.pop()) is not None:
                self._dispatch(level, raw)
                if len(buffer) and self._read_level > level:
                    # RFC 9001 §4.1.3: data of a previous level left unconsumed at a key change
                    raise QuicError(
                        TransportErrorCode.PROTOCOL_VIOLATION,
                        f"{len(buffer)} bytes left at {level.name} after the keys changed",
                    )
        except QuicError as exc:
            self._error = exc
            raise
        except Exception as exc:  # a bug must not crash the endpoint: close this connection
            self._error = alert_error(AlertDescription.internal_error, f"{type(exc).__name__}")
            raise self._error from exc

    def data_to_send(self, level: EncryptionLevel) -> bytes:
        """Drain the handshake bytes queued for ``level``."""
        out = self._outgoing.get(level)
        if not out:
            return b""
        data = bytes(out)
        out.clear()
        return data

    def poll_event(self) -> TlsEvent | None:
        return self._events.popleft() if self._events else None

    def export_keying_material(self, label: bytes, context: bytes, length: int) -> bytes:
        """The TLS exporter (RFC 8446 §7.5), available once the handshake is complete."""
        if not self.handshake_complete or self.schedule is None:
            raise RuntimeError("keying material can be exported after the handshake completes")
        return self.schedule.export(self.exporter_secret, label, context, length)

    # --- machinery for the roles ----------------------------------------------------------------

    def _dispatch(self, level: EncryptionLevel, raw: bytes) -> None:
        message = parse_handshake_message(raw)
        transition = self.transition(message.msg_type)
        if transition is None or transition[0] != level:
            # RFC 8446 §6.2 / RFC 9001 §4.1.3: a message out of order or at the wrong level
            raise alert_error(
                AlertDescription.unexpected_message,
                f"{message.msg_type.name} at {level.name} in state {self._state.name}",
            )
        self._state = transition[1](message, raw)

    @abstractmethod
    def transition(self, msg_type: int) -> tuple[EncryptionLevel, Handler[StateT]] | None:
        """The role's table row for ``msg_type`` in the current state, bound to this session."""

    def send_message(self, level: EncryptionLevel, raw: bytes) -> None:
        """Queue a handshake message and add it to the transcript."""
        self.queue_message(level, raw)
        self.transcript.add(raw)

    def queue_message(self, level: EncryptionLevel, raw: bytes) -> None:
        """Queue a message to send without adding it to the transcript (post-handshake)."""
        self._outgoing[level] += raw

    def emit(self, event: TlsEvent) -> None:
        self._events.append(event)

    def install_secret(
        self,
        level: EncryptionLevel,
        direction: Direction,
        secret: bytes,
        label: KeyLogLabel,
        suite: CipherSuite | None = None,
    ) -> None:
        """Report a traffic secret to the connection and to the key log."""
        chosen = suite if suite is not None else self.cipher_suite
        if chosen is None:
            raise RuntimeError("no cipher suite chosen yet")
        self.emit(TrafficSecretReady(level, direction, chosen, secret))
        if direction is Direction.READ:
            self._read_level = max(self._read_level, level)
        self.log_secret(label, secret)

    def log_secret(self, label: KeyLogLabel, secret: bytes) -> None:
        keylog = self.config.keylog
        if keylog is not None:
            keylog(key_log_line(label, self.client_random, secret))

    def now_s(self) -> float:
        return self.config.wall_clock()

    def now_datetime(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.now_s(), dt.UTC)

    def require_schedule(self) -> KeySchedule:
        if self.schedule is None:
            raise RuntimeError("the key schedule is not started")
        return self.schedule


def parse_certificate_chain(chain_der: Sequence[bytes]) -> tuple[x509.Certificate, ...]:
    """The chain as certificate objects; call after the verifier accepted it (it parsed)."""
    return tuple(x509.load_der_x509_certificate(der) for der in chain_der)
