"""The flag and enumeration types of the MsQuic-style API, with MsQuic's names and values.

Every value is the one in MsQuic's public header (``src/inc/msquic.h``; msquic-facts §1.4), so
code ported from C keeps its constants: ``QUIC_STREAM_SHUTDOWN_FLAG_ABORT`` is
``StreamShutdownFlags.ABORT`` (6).  Flag sets are :class:`enum.IntFlag` (combine with ``|``),
plain choices :class:`enum.IntEnum`.  Which values pyquic supports is decided where each is used;
an unsupported flag raises ``ValueError`` naming it (:func:`reject_flags`).
"""

from __future__ import annotations

import socket
from enum import IntEnum, IntFlag

__all__ = [
    "AddressFamily",
    "AllowedCipherSuiteFlags",
    "ConnectionShutdownFlags",
    "CredentialFlags",
    "CredentialType",
    "ExecutionProfile",
    "ReceiveFlags",
    "SendFlags",
    "ServerResumptionLevel",
    "StreamOpenFlags",
    "StreamShutdownFlags",
    "StreamStartFlags",
    "reject_flags",
]


class ExecutionProfile(IntEnum):
    """``QUIC_EXECUTION_PROFILE``: how a registration's workers are scheduled."""

    LOW_LATENCY = 0  # the default
    MAX_THROUGHPUT = 1
    SCAVENGER = 2  # MsQuic gives it a single worker; so does pyquic
    REAL_TIME = 3


class AddressFamily(IntEnum):
    """``QUIC_ADDRESS_FAMILY``: the socket address families (Linux values)."""

    UNSPEC = int(socket.AF_UNSPEC)
    INET = int(socket.AF_INET)
    INET6 = int(socket.AF_INET6)


class CredentialType(IntEnum):
    """``QUIC_CREDENTIAL_TYPE``: where a credential comes from."""

    NONE = 0
    CERTIFICATE_HASH = 1
    CERTIFICATE_HASH_STORE = 2
    CERTIFICATE_CONTEXT = 3
    CERTIFICATE_FILE = 4
    CERTIFICATE_FILE_PROTECTED = 5
    CERTIFICATE_PKCS12 = 6


class CredentialFlags(IntFlag):
    """``QUIC_CREDENTIAL_FLAGS``."""

    NONE = 0x0
    CLIENT = 0x1
    LOAD_ASYNCHRONOUS = 0x2
    NO_CERTIFICATE_VALIDATION = 0x4
    ENABLE_OCSP = 0x8
    INDICATE_CERTIFICATE_RECEIVED = 0x10
    DEFER_CERTIFICATE_VALIDATION = 0x20
    REQUIRE_CLIENT_AUTHENTICATION = 0x40
    USE_TLS_BUILTIN_CERTIFICATE_VALIDATION = 0x80
    REVOCATION_CHECK_END_CERT = 0x100
    REVOCATION_CHECK_CHAIN = 0x200
    REVOCATION_CHECK_CHAIN_EXCLUDE_ROOT = 0x400
    IGNORE_NO_REVOCATION_CHECK = 0x800
    IGNORE_REVOCATION_OFFLINE = 0x1000
    SET_ALLOWED_CIPHER_SUITES = 0x2000
    USE_PORTABLE_CERTIFICATES = 0x4000
    USE_SUPPLIED_CREDENTIALS = 0x8000
    USE_SYSTEM_MAPPER = 0x10000
    CACHE_ONLY_URL_RETRIEVAL = 0x20000
    REVOCATION_CHECK_CACHE_ONLY = 0x40000
    INPROC_PEER_CERTIFICATE = 0x80000
    SET_CA_CERTIFICATE_FILE = 0x100000
    DISABLE_AIA = 0x200000


class AllowedCipherSuiteFlags(IntFlag):
    """``QUIC_ALLOWED_CIPHER_SUITE_FLAGS`` (with CredentialFlags.SET_ALLOWED_CIPHER_SUITES)."""

    NONE = 0x0
    AES_128_GCM_SHA256 = 0x1
    AES_256_GCM_SHA384 = 0x2
    CHACHA20_POLY1305_SHA256 = 0x4


class ServerResumptionLevel(IntEnum):
    """``QUIC_SERVER_RESUMPTION_LEVEL`` (``Settings.server_resumption_level`` names them)."""

    NO_RESUME = 0
    RESUME_ONLY = 1
    RESUME_AND_ZERORTT = 2


class ConnectionShutdownFlags(IntFlag):
    """``QUIC_CONNECTION_SHUTDOWN_FLAGS``."""

    NONE = 0x0
    SILENT = 0x1  # no CONNECTION_CLOSE is sent


class StreamOpenFlags(IntFlag):
    """``QUIC_STREAM_OPEN_FLAGS`` (also the flags of PEER_STREAM_STARTED)."""

    NONE = 0x0
    UNIDIRECTIONAL = 0x1
    ZERO_RTT = 0x2  # QUIC_STREAM_OPEN_FLAG_0_RTT
    DELAY_ID_FC_UPDATES = 0x4
    APP_OWNED_BUFFERS = 0x8  # preview


class StreamStartFlags(IntFlag):
    """``QUIC_STREAM_START_FLAGS``."""

    NONE = 0x0
    IMMEDIATE = 0x1
    FAIL_BLOCKED = 0x2
    SHUTDOWN_ON_FAIL = 0x4
    INDICATE_PEER_ACCEPT = 0x8
    PRIORITY_WORK = 0x10


class StreamShutdownFlags(IntFlag):
    """``QUIC_STREAM_SHUTDOWN_FLAGS``."""

    NONE = 0x0
    GRACEFUL = 0x1
    ABORT_SEND = 0x2
    ABORT_RECEIVE = 0x4
    ABORT = 0x6
    IMMEDIATE = 0x8
    INLINE = 0x10


class ReceiveFlags(IntFlag):
    """``QUIC_RECEIVE_FLAGS``."""

    NONE = 0x0
    ZERO_RTT = 0x1  # QUIC_RECEIVE_FLAG_0_RTT
    FIN = 0x2


class SendFlags(IntFlag):
    """``QUIC_SEND_FLAGS``."""

    NONE = 0x0
    ALLOW_0_RTT = 0x1
    START = 0x2
    FIN = 0x4
    DGRAM_PRIORITY = 0x8
    DELAY_SEND = 0x10
    CANCEL_ON_LOSS = 0x20
    PRIORITY_WORK = 0x40
    CANCEL_ON_BLOCKED = 0x80


def reject_flags(flags: IntFlag, unsupported: IntFlag, what: str) -> None:
    """ValueError naming every flag of ``unsupported`` that is set in ``flags``."""
    hits = int(flags) & int(unsupported)
    if hits:
        names = [str(member.name) for member in type(unsupported) if member & hits]
        raise ValueError(f"unsupported {what}: {', '.join(names)}")
