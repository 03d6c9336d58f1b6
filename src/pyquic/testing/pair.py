"""A client and a server connection wired together over a :class:`SimulatedNetwork`.

:func:`connection_pair` builds two :class:`pyquic.core.connection.Connection` objects with real
TLS 1.3 sessions (:mod:`pyquic.platform.tls`), real packet protection
(:class:`~pyquic.platform.crypto.CryptoProvider`) and certificates from
:func:`~pyquic.testing.certificates.make_test_credentials`, and registers them on the network as
``"client"`` and ``"server"``.  Driving the pair is then ``pair.run(until=...)``.

Design choices: everything that can be deterministic is.  Each connection and each TLS session
gets its own ``random.Random`` derived from ``seed`` and its role, so the network's random
decisions never depend on how many random numbers an endpoint drew; the TLS wall clock is the
virtual clock, ``epoch + now_us``, and the certificates are valid around ``epoch``.  What stays
random: the certificate keys and the TLS key shares, which ``cryptography`` draws from the OS.  They
change bytes, never sizes or timings, so runs with one seed are alike event for event.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from pyquic.core.connection import Connection
from pyquic.core.qlog import QlogSink
from pyquic.core.settings import Settings
from pyquic.core.tls_interface import TlsSessionLike
from pyquic.core.transport_params import TransportParameters
from pyquic.core.version import QUIC_V1
from pyquic.platform.crypto import CryptoProvider
from pyquic.platform.tls import ClientSession, ServerSession, TlsConfig
from pyquic.testing.certificates import TestPki, make_test_credentials
from pyquic.testing.network import (
    DEFAULT_MAX_EVENTS,
    DEFAULT_MAX_TIME_US,
    LinkConditions,
    LinkStats,
    SimulatedNetwork,
)

__all__ = [
    "DEFAULT_EPOCH",
    "ConnectionPair",
    "connection_pair",
    "pair_settings",
    "tls_configs",
    "tls_factory",
]

DEFAULT_EPOCH = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)  # the wall-clock time at virtual t = 0
_RESET_KEY_LENGTH = 32
TlsCustomizer = Callable[[TlsConfig], TlsConfig]


def pair_settings() -> Settings:
    """MsQuic's defaults, except that the peer may open 100 streams of each kind (MsQuic allows
    none by default)."""
    return Settings(peer_bidi_stream_count=100, peer_unidi_stream_count=100)


@dataclass(slots=True)
class ConnectionPair:
    """The two connections, the network between them and the PKI their certificates come from."""

    network: SimulatedNetwork
    client: Connection
    server: Connection
    pki: TestPki
    client_address: Hashable = "client"
    server_address: Hashable = "server"

    def run(
        self,
        until: Callable[[], bool],
        *,
        max_time_us: int = DEFAULT_MAX_TIME_US,
        max_events: int = DEFAULT_MAX_EVENTS,
    ) -> int:
        """:meth:`SimulatedNetwork.run` on the pair's network."""
        return self.network.run(until, max_time_us=max_time_us, max_events=max_events)

    def run_for(self, duration_us: int, *, max_events: int = DEFAULT_MAX_EVENTS) -> int:
        """:meth:`SimulatedNetwork.run_for` on the pair's network."""
        return self.network.run_for(duration_us, max_events=max_events)

    @property
    def client_to_server(self) -> LinkStats:
        return self.network.stats(self.client_address, self.server_address)

    @property
    def server_to_client(self) -> LinkStats:
        return self.network.stats(self.server_address, self.client_address)


def connection_pair(
    *,
    seed: int = 0,
    client_settings: Settings | None = None,
    server_settings: Settings | None = None,
    alpn: bytes = b"hq-interop",
    network: SimulatedNetwork | None = None,
    conditions: LinkConditions | None = None,
    pki: TestPki | None = None,
    mutual_tls: bool = False,
    epoch: dt.datetime = DEFAULT_EPOCH,
    version: int = QUIC_V1,
    customize_client_tls: TlsCustomizer | None = None,
    customize_server_tls: TlsCustomizer | None = None,
    client_qlog: QlogSink | None = None,
    server_qlog: QlogSink | None = None,
    remembered_parameters: TransportParameters | None = None,
) -> ConnectionPair:
    """Build a client and a server connection on a (new or given) network; see the module doc.

    ``client_settings``/``server_settings`` default to :func:`pair_settings`.  ``conditions``, if
    given, shapes both directions of the path.  ``pki`` defaults to a fresh one valid around
    ``epoch`` (with a client certificate when ``mutual_tls``, which makes the server require one).
    ``customize_*_tls`` may return a changed copy of a side's :class:`TlsConfig`, e.g. with
    ``dataclasses.replace`` to add a session ticket, a ticket sealer or 0-RTT.  ``*_qlog`` are
    qlog sinks (any callable taking an event dict) for each side; ``remembered_parameters`` the
    server's parameters from the client's ticket, for 0-RTT (RFC 9000 §7.4.1).
    """
    network = network if network is not None else SimulatedNetwork(seed)
    if conditions is not None:
        network.set_path("client", "server", conditions)
    if pki is None:
        pki = make_test_credentials(now=epoch, client_certificate=mutual_tls)
    elif mutual_tls and pki.client_credential is None:
        raise ValueError("mutual_tls needs a pki made with client_certificate=True")
    client_config, server_config = tls_configs(
        pki, network, seed=seed, alpn=alpn, mutual_tls=mutual_tls, epoch=epoch
    )
    if customize_client_tls is not None:
        client_config = customize_client_tls(client_config)
    if customize_server_tls is not None:
        server_config = customize_server_tls(server_config)
    crypto = CryptoProvider()
    now = network.now_us
    client = _connection(
        client_config,
        client_settings,
        crypto,
        seed,
        now,
        version,
        client_qlog,
        remembered_parameters,
    )
    server = _connection(server_config, server_settings, crypto, seed, now, version, server_qlog)
    network.add_endpoint("client", client)
    network.add_endpoint("server", server)
    return ConnectionPair(network, client, server, pki)


def tls_configs(
    pki: TestPki,
    network: SimulatedNetwork,
    *,
    seed: int = 0,
    alpn: bytes = b"hq-interop",
    mutual_tls: bool = False,
    epoch: dt.datetime = DEFAULT_EPOCH,
) -> tuple[TlsConfig, TlsConfig]:
    """(client, server) TLS configurations as :func:`connection_pair` makes them: trusting
    ``pki``'s CA, on ``network``'s virtual clock; for wiring endpoints by hand."""
    epoch_s = epoch.timestamp()

    def wall_clock() -> float:
        return epoch_s + network.now_us / 1_000_000

    return _tls_configs(pki, alpn, seed, mutual_tls, wall_clock)


def tls_factory(config: TlsConfig) -> Callable[[bytes], TlsSessionLike]:
    """A connection's ``tls_factory``: a new client or server session of ``config`` each call."""

    def factory(transport_parameters: bytes) -> TlsSessionLike:
        if config.is_client:
            return ClientSession(config, transport_parameters)
        return ServerSession(config, transport_parameters)

    return factory


def _tls_configs(
    pki: TestPki, alpn: bytes, seed: int, mutual_tls: bool, wall_clock: Callable[[], float]
) -> tuple[TlsConfig, TlsConfig]:
    """(client, server) TLS configurations trusting the test CA, on the virtual clock."""
    client = TlsConfig(
        is_client=True,
        alpn_protocols=(alpn,),
        server_name=pki.server_name,
        verifier=pki.verifier,
        credential=pki.client_credential if mutual_tls else None,
        random_bytes=_rng(seed, "client/tls").randbytes,
        wall_clock=wall_clock,
    )
    server = TlsConfig(
        is_client=False,
        alpn_protocols=(alpn,),
        credential=pki.server_credential,
        verifier=pki.verifier if mutual_tls else None,
        require_client_certificate=mutual_tls,
        random_bytes=_rng(seed, "server/tls").randbytes,
        wall_clock=wall_clock,
    )
    return client, server


def _connection(
    config: TlsConfig,
    settings: Settings | None,
    crypto: CryptoProvider,
    seed: int,
    now_us: int,
    version: int,
    qlog: QlogSink | None = None,
    remembered_parameters: TransportParameters | None = None,
) -> Connection:
    """One side's connection: the client talks to "server", the server to "client"."""
    role = "client" if config.is_client else "server"
    return Connection(
        is_client=config.is_client,
        settings=settings if settings is not None else pair_settings(),
        tls_factory=tls_factory(config),
        crypto=crypto,
        rng=_rng(seed, f"{role}/connection"),
        now_us=now_us,
        peer_address="server" if config.is_client else "client",
        stateless_reset_key=_rng(seed, f"{role}/reset").randbytes(_RESET_KEY_LENGTH),
        version=version,
        qlog=qlog,
        remembered_parameters=remembered_parameters,
    )


def _rng(seed: int, purpose: str) -> random.Random:
    """A generator for one purpose; string seeds are hashed with SHA-512, so this is stable
    across processes."""
    return random.Random(f"pyquic.testing/{seed}/{purpose}")
