"""The lifetime states of a connection (RFC 9000 §10), in a module of their own.

Split from :mod:`pyquic.core.connection` so that the per-packet paths (``receive_path``,
``send_path``) can import it at module level rather than inside their functions.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["ConnectionState"]


class ConnectionState(Enum):
    """The lifetime of a connection (RFC 9000 §10)."""

    # members are singletons compared by identity: hash them by identity too (Enum's default
    # hashes the name in Python code, and these are looked up in sets on every packet)
    __hash__ = object.__hash__

    HANDSHAKE = "handshake"
    ESTABLISHED = "established"  # the handshake completed (RFC 9001 §4.1.1)
    CLOSING = "closing"  # we sent CONNECTION_CLOSE (RFC 9000 §10.2.1)
    DRAINING = "draining"  # the peer closed, or a stateless reset (RFC 9000 §10.2.2)
    CLOSED = "closed"
