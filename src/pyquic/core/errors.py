"""The one error type of the protocol, carrying its wire code.

Every decoder and every protocol rule raises :class:`QuicError`; the connection translates it once,
at its boundary, into a CONNECTION_CLOSE frame (RFC 9000 §10.2).  Transport error codes are those of
RFC 9000 §20.1; TLS alerts map into the CRYPTO_ERROR range 0x0100-0x01ff (RFC 9001 §4.8).
"""

from __future__ import annotations

from enum import IntEnum


class TransportErrorCode(IntEnum):
    """RFC 9000 §20.1 transport error codes (plus RFC 9368 §10.2 VERSION_NEGOTIATION_ERROR)."""

    NO_ERROR = 0x00
    INTERNAL_ERROR = 0x01
    CONNECTION_REFUSED = 0x02
    FLOW_CONTROL_ERROR = 0x03
    STREAM_LIMIT_ERROR = 0x04
    STREAM_STATE_ERROR = 0x05
    FINAL_SIZE_ERROR = 0x06
    FRAME_ENCODING_ERROR = 0x07
    TRANSPORT_PARAMETER_ERROR = 0x08
    CONNECTION_ID_LIMIT_ERROR = 0x09
    PROTOCOL_VIOLATION = 0x0A
    INVALID_TOKEN = 0x0B
    APPLICATION_ERROR = 0x0C
    CRYPTO_BUFFER_EXCEEDED = 0x0D
    KEY_UPDATE_ERROR = 0x0E
    AEAD_LIMIT_REACHED = 0x0F
    NO_VIABLE_PATH = 0x10
    VERSION_NEGOTIATION_ERROR = 0x11
    CRYPTO_ERROR = 0x100  # first of the range 0x0100-0x01ff, RFC 9000 §20.1


CRYPTO_ERROR_BASE = 0x100


class QuicError(Exception):
    """A protocol error: the transport error code, the frame type that caused it, and a reason.

    ``frame_type`` is ``None`` when no frame is to blame (the CONNECTION_CLOSE frame then carries 0,
    RFC 9000 §19.19).  ``application`` marks an application-level close (frame type 0x1d), whose
    ``error_code`` is the application's own.
    """

    __slots__ = ("application", "error_code", "frame_type", "reason")

    def __init__(
        self,
        error_code: int,
        reason: str = "",
        *,
        frame_type: int | None = None,
        application: bool = False,
    ) -> None:
        super().__init__(error_code, reason)
        self.error_code = int(error_code)
        self.reason = reason
        self.frame_type = frame_type
        self.application = application

    @classmethod
    def from_tls_alert(cls, alert: int, reason: str = "") -> QuicError:
        """CRYPTO_ERROR carrying a TLS alert (RFC 9001 §4.8: 0x0100 + alert)."""
        if not 0 <= alert <= 0xFF:
            raise ValueError(f"TLS alert must be 0..255, got {alert}")
        return cls(CRYPTO_ERROR_BASE + alert, reason)

    @property
    def tls_alert(self) -> int | None:
        """The TLS alert for a CRYPTO_ERROR, else ``None``."""
        if not self.application and CRYPTO_ERROR_BASE <= self.error_code <= 0x1FF:
            return self.error_code - CRYPTO_ERROR_BASE
        return None

    def __str__(self) -> str:
        if self.application:
            name = f"application error {self.error_code:#x}"
        else:
            try:
                name = TransportErrorCode(self.error_code).name
            except ValueError:
                alert = self.tls_alert
                name = (
                    f"CRYPTO_ERROR(alert {alert})"
                    if alert is not None
                    else f"transport error {self.error_code:#x}"
                )
        where = f" in frame {self.frame_type:#x}" if self.frame_type is not None else ""
        return f"{name}{where}: {self.reason}" if self.reason else f"{name}{where}"

    def __repr__(self) -> str:
        return (
            f"QuicError(error_code={self.error_code:#x}, reason={self.reason!r}, "
            f"frame_type={self.frame_type!r}, application={self.application})"
        )
