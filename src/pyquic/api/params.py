"""Parameter IDs for ``get_param`` / ``set_param``, with MsQuic's values, and their value types.

MsQuic names a parameter by a prefix (the object level) shifted into the top byte plus an index
(``src/inc/msquic.h``, ``docs/Settings.md``; msquic-facts §1.5): ``QUIC_PARAM_CONN_STATISTICS_V2``
is ``0x05000016``.  Each level is an :class:`enum.IntEnum` here with the same numbers.  pyquic
supports a subset (listed on each object's ``get_param``); any other parameter raises
``ValueError`` naming it.  Values are Python objects rather than C structs: an address is a
socket address tuple, statistics a :class:`~pyquic.core.statistics.ConnectionStatistics` copy,
settings a :class:`~pyquic.core.settings.Settings`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

__all__ = [
    "ConfigurationParam",
    "ConnectionParam",
    "HandshakeInfo",
    "ListenerParam",
    "ListenerStatistics",
    "StreamParam",
    "TlsParam",
    "unsupported_param",
]

HIGH_PRIORITY = 0x40000000  # QUIC_PARAM_HIGH_PRIORITY: accepted and ignored (calls are FIFO)


class ConfigurationParam(IntEnum):
    SETTINGS = 0x03000000
    TICKET_KEYS = 0x03000001
    VERSION_SETTINGS = 0x03000002


class ListenerParam(IntEnum):
    LOCAL_ADDRESS = 0x04000000
    STATS = 0x04000001
    CIBIR_ID = 0x04000002
    DOS_MODE_EVENTS = 0x04000004


class ConnectionParam(IntEnum):
    QUIC_VERSION = 0x05000000
    LOCAL_ADDRESS = 0x05000001
    REMOTE_ADDRESS = 0x05000002
    IDEAL_PROCESSOR = 0x05000003
    SETTINGS = 0x05000004
    STATISTICS = 0x05000005
    STATISTICS_PLAT = 0x05000006
    SHARE_UDP_BINDING = 0x05000007
    LOCAL_BIDI_STREAM_COUNT = 0x05000008
    LOCAL_UNIDI_STREAM_COUNT = 0x05000009
    MAX_STREAM_IDS = 0x0500000A
    CLOSE_REASON_PHRASE = 0x0500000B
    STREAM_SCHEDULING_SCHEME = 0x0500000C
    DATAGRAM_RECEIVE_ENABLED = 0x0500000D
    DATAGRAM_SEND_ENABLED = 0x0500000E
    DISABLE_1RTT_ENCRYPTION = 0x0500000F
    RESUMPTION_TICKET = 0x05000010
    PEER_CERTIFICATE_VALID = 0x05000011
    LOCAL_INTERFACE = 0x05000012
    TLS_SECRETS = 0x05000013
    VERSION_SETTINGS = 0x05000014
    CIBIR_ID = 0x05000015
    STATISTICS_V2 = 0x05000016
    STATISTICS_V2_PLAT = 0x05000017
    ORIG_DEST_CID = 0x05000018
    SEND_DSCP = 0x05000019
    NETWORK_STATISTICS = 0x05000020


class TlsParam(IntEnum):
    HANDSHAKE_INFO = 0x06000000
    NEGOTIATED_ALPN = 0x06000001


class StreamParam(IntEnum):
    ID = 0x08000000
    ZERO_RTT_LENGTH = 0x08000001  # QUIC_PARAM_STREAM_0RTT_LENGTH
    IDEAL_SEND_BUFFER_SIZE = 0x08000002
    PRIORITY = 0x08000003
    STATISTICS = 0x08000004
    RELIABLE_OFFSET = 0x08000005


@dataclass(frozen=True, slots=True)
class HandshakeInfo:
    """``QUIC_HANDSHAKE_INFO``: what the TLS handshake negotiated."""

    tls_protocol_version: int  # 0x0304: TLS 1.3 (RFC 8446)
    cipher_suite: int  # the TLS codepoint (RFC 8446 §B.4)


@dataclass(frozen=True, slots=True)
class ListenerStatistics:
    """``QUIC_LISTENER_STATISTICS``."""

    total_accepted_connections: int
    total_rejected_connections: int
    binding_dropped_packets: int


def unsupported_param(param: int, operation: str, obj: str) -> ValueError:
    """The ValueError for a parameter pyquic does not implement, naming it."""
    name = f"{param:#010x}"
    for enum in (ConfigurationParam, ListenerParam, ConnectionParam, TlsParam, StreamParam):
        try:
            name = f"{enum.__name__}.{enum(param & ~HIGH_PRIORITY).name}"
            break
        except ValueError:
            continue
    return ValueError(f"{operation} of {name} is not supported on a {obj}")
