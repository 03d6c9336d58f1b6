"""Status codes of the MsQuic-style API: MsQuic's ``QUIC_STATUS`` values and the error raised.

MsQuic returns a ``QUIC_STATUS`` from every call and from every callback (``src/inc/msquic.h``,
``src/inc/msquic_posix.h``, ``docs/api/QUIC_STATUS.md``).  :class:`Status` has the POSIX (Linux)
values, so a status logged by pyquic reads the same as one logged by MsQuic on Linux: success is
0, PENDING -2, CONTINUE -1 and failures are positive errno values, TLS alerts
``TLS_ERROR_BASE + alert`` and certificate errors ``CERT_ERROR_BASE + n``.

Design: calls that fail raise :class:`QuicStatusError` carrying the status (Python's way of
returning a failed ``QUIC_STATUS``); callbacks return a :class:`Status` (``None`` counts as
SUCCESS).  :func:`succeeded` / :func:`failed` are ``QUIC_SUCCEEDED`` / ``QUIC_FAILED``.  A TLS
alert without a named member becomes a pseudo-member ``TLS_ALERT_<n>`` so every status is a
:class:`Status`.  :func:`status_from_close` maps the error of a CONNECTION_CLOSE (RFC 9000 §20)
to the status MsQuic reports in SHUTDOWN_INITIATED_BY_TRANSPORT.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "CERT_ERROR_BASE",
    "TLS_ERROR_BASE",
    "QuicStatusError",
    "Status",
    "failed",
    "status_from_close",
    "succeeded",
    "tls_alert_status",
]

_ERROR_BASE = 200_000_000
TLS_ERROR_BASE = 256 + _ERROR_BASE
CERT_ERROR_BASE = 512 + _ERROR_BASE
_CRYPTO_ERROR_BASE = 0x100  # RFC 9001 §4.8: CRYPTO_ERROR is 0x0100 + TLS alert


class Status(IntEnum):
    """MsQuic's ``QUIC_STATUS`` values on Linux (``msquic_posix.h``)."""

    SUCCESS = 0
    PENDING = -2
    CONTINUE = -1
    OUT_OF_MEMORY = 12  # ENOMEM
    INVALID_PARAMETER = 22  # EINVAL
    INVALID_STATE = 1  # EPERM
    NOT_SUPPORTED = 95  # EOPNOTSUPP
    NOT_FOUND = 2  # ENOENT
    BUFFER_TOO_SMALL = 75  # EOVERFLOW
    HANDSHAKE_FAILURE = 103  # ECONNABORTED
    ABORTED = 125  # ECANCELED
    ADDRESS_IN_USE = 98  # EADDRINUSE
    INVALID_ADDRESS = 97  # EAFNOSUPPORT
    CONNECTION_TIMEOUT = 110  # ETIMEDOUT
    CONNECTION_IDLE = 62  # ETIME
    INTERNAL_ERROR = 5  # EIO
    CONNECTION_REFUSED = 111  # ECONNREFUSED
    PROTOCOL_ERROR = 71  # EPROTO
    VER_NEG_ERROR = 93  # EPROTONOSUPPORT
    UNREACHABLE = 113  # EHOSTUNREACH
    TLS_ERROR = 126  # ENOKEY
    USER_CANCELED = 130  # EOWNERDEAD
    ALPN_NEG_FAILURE = 92  # ENOPROTOOPT
    STREAM_LIMIT_REACHED = 86  # ESTRPIPE
    ALPN_IN_USE = 91  # EPROTOTYPE
    ADDRESS_NOT_AVAILABLE = 99  # EADDRNOTAVAIL
    CLOSE_NOTIFY = TLS_ERROR_BASE + 0
    BAD_CERTIFICATE = TLS_ERROR_BASE + 42
    UNSUPPORTED_CERTIFICATE = TLS_ERROR_BASE + 43
    REVOKED_CERTIFICATE = TLS_ERROR_BASE + 44
    EXPIRED_CERTIFICATE = TLS_ERROR_BASE + 45
    UNKNOWN_CERTIFICATE = TLS_ERROR_BASE + 46
    REQUIRED_CERTIFICATE = TLS_ERROR_BASE + 116
    CERT_EXPIRED = CERT_ERROR_BASE + 1
    CERT_UNTRUSTED_ROOT = CERT_ERROR_BASE + 2
    CERT_NO_CERT = CERT_ERROR_BASE + 3

    @classmethod
    def _missing_(cls, value: object) -> Status | None:
        """Every TLS alert is a status (QUIC_STATUS_TLS_ALERT); unnamed ones are pseudo-members."""
        if isinstance(value, int) and TLS_ERROR_BASE <= value <= TLS_ERROR_BASE + 0xFF:
            member = int.__new__(cls, value)
            member._name_ = f"TLS_ALERT_{value - TLS_ERROR_BASE}"
            member._value_ = value
            return member
        return None


def succeeded(status: int | None) -> bool:
    """``QUIC_SUCCEEDED``: SUCCESS, PENDING and CONTINUE (and a callback's ``None``)."""
    return status is None or int(status) <= 0


def failed(status: int | None) -> bool:
    """``QUIC_FAILED``: any positive status."""
    return not succeeded(status)


def tls_alert_status(alert: int) -> Status:
    """``QUIC_STATUS_TLS_ALERT(alert)``; no_application_protocol is ALPN_NEG_FAILURE in MsQuic."""
    if alert == 120:  # RFC 7301 §3.2 no_application_protocol
        return Status.ALPN_NEG_FAILURE
    return Status(TLS_ERROR_BASE + (alert & 0xFF))


_TRANSPORT_STATUS = {
    0x00: Status.SUCCESS,  # NO_ERROR
    0x01: Status.INTERNAL_ERROR,
    0x02: Status.CONNECTION_REFUSED,
    0x0B: Status.PROTOCOL_ERROR,  # INVALID_TOKEN
    0x0D: Status.PROTOCOL_ERROR,  # CRYPTO_BUFFER_EXCEEDED
    0x11: Status.VER_NEG_ERROR,
}


def status_from_close(
    error_code: int, *, application: bool, idle_timeout: bool = False, reset: bool = False
) -> Status:
    """The status MsQuic reports for a connection closed with this error (RFC 9000 §20)."""
    if idle_timeout:
        return Status.CONNECTION_IDLE
    if reset:
        return Status.ABORTED  # a Stateless Reset (RFC 9000 §10.3)
    if application:
        return Status.SUCCESS  # the application's own code, carried as error_code
    if _CRYPTO_ERROR_BASE <= error_code <= _CRYPTO_ERROR_BASE + 0xFF:
        return tls_alert_status(error_code - _CRYPTO_ERROR_BASE)
    return _TRANSPORT_STATUS.get(error_code, Status.PROTOCOL_ERROR)


class QuicStatusError(Exception):
    """An API call failed with ``status`` (MsQuic's failed ``QUIC_STATUS`` return)."""

    def __init__(self, status: Status, message: str = "") -> None:
        super().__init__(f"{status.name}: {message}" if message else status.name)
        self.status = status
