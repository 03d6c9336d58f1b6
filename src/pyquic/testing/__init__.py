"""Test QUIC code, yours or pyquic's, deterministically and without sockets.

* :class:`SimulatedNetwork`: a virtual clock and one-directional links shaped by
  :class:`LinkConditions` (latency, bandwidth and queue, loss, duplication, reordering,
  corruption, MTU, blackouts), all randomness from one seed; ``run(until=...)`` never hangs.
* :func:`make_test_credentials`: an in-memory CA and server (and client) certificates, as
  :class:`~pyquic.platform.tls.Credential` and verifier or as PEM.
* :func:`connection_pair`: a client and a server ``pyquic.core.connection.Connection`` with real
  TLS and packet protection, registered on a network as ``"client"`` and ``"server"``.

Example::

    pair = connection_pair(seed=1, conditions=LinkConditions(latency_us=25_000, loss_rate=0.01))
    stream_id = pair.client.open_stream()
    pair.client.send_stream(stream_id, b"hello", fin=True)
    pair.run(until=lambda: ..., max_time_us=10_000_000)

``connection_pair``, ``ConnectionPair`` and ``pair_settings`` are imported on first use, so the
network and certificates can be used without loading the connection and TLS stacks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyquic.testing.certificates import PemFiles, TestPki, make_test_credentials
from pyquic.testing.network import (
    DEFAULT_MAX_EVENTS,
    DEFAULT_MAX_TIME_US,
    LinkConditions,
    LinkStats,
    NetworkEndpoint,
    SimulatedNetwork,
    SimulationError,
    SimulationEventLimit,
    SimulationStalled,
    SimulationTimeLimit,
)

if TYPE_CHECKING:
    from pyquic.testing.pair import DEFAULT_EPOCH, ConnectionPair, connection_pair, pair_settings

__all__ = [
    "DEFAULT_EPOCH",
    "DEFAULT_MAX_EVENTS",
    "DEFAULT_MAX_TIME_US",
    "ConnectionPair",
    "LinkConditions",
    "LinkStats",
    "NetworkEndpoint",
    "PemFiles",
    "SimulatedNetwork",
    "SimulationError",
    "SimulationEventLimit",
    "SimulationStalled",
    "SimulationTimeLimit",
    "TestPki",
    "connection_pair",
    "make_test_credentials",
    "pair_settings",
]

_LAZY = frozenset({"DEFAULT_EPOCH", "ConnectionPair", "connection_pair", "pair_settings"})


def __getattr__(name: str) -> object:
    if name in _LAZY:
        from pyquic.testing import pair

        return getattr(pair, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
