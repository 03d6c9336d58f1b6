"""A server connection's TLS before the application picks its Configuration.

MsQuic indicates NEW_CONNECTION once the client's ClientHello has been read: the listener has
matched an ALPN and the application sees the SNI and ALPNs, then chooses a Configuration with
``ConnectionSetConfiguration``, and only then does TLS answer (``docs/api/QUIC_LISTENER_EVENT.md``,
msquic-facts §1.3).  The core endpoint creates a server connection (and its TLS session) as soon
as an Initial arrives, so :class:`DeferredServerSession` stands in for the TLS session: it holds
the client's CRYPTO bytes, decodes the ClientHello (RFC 8446 §4.1.2) to learn the SNI and ALPNs,
refuses a client offering none of the listener's ALPNs (no_application_protocol, RFC 7301 §3.2,
RFC 9001 §8.1), and once :meth:`DeferredServerSession.configure` is called builds the real
:class:`~pyquic.platform.tls.ServerSession` and replays what it held.  Until then the connection
only acknowledges Initials; the client retransmits as it would for a slow server.

:func:`apply_server_settings` gives a not-yet-configured server connection the per-connection
settings of its Configuration (stream counts, flow-control windows, idle timeout, datagrams):
the transport parameters it will send and the stream and flow-control state that enforce them.
The endpoint built the connection with the listener's settings, and the core has no call for
this, so the function sets the connection's public attributes itself; this is safe only before
the handshake (no stream exists and no transport parameter was sent), which is when it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

from pyquic.core.connection import Connection as CoreConnection
from pyquic.core.flow_control import ReceiveWindow
from pyquic.core.settings import Settings
from pyquic.core.streams import StreamManager
from pyquic.core.transport_params import encode_transport_parameters
from pyquic.platform.tls import ServerSession, TlsConfig
from pyquic.platform.tls.constants import AlertDescription, EncryptionLevel, alert_error
from pyquic.platform.tls.messages import ClientHello, HandshakeBuffer, parse_handshake_message
from pyquic.platform.tls.server_offer import parse_offer

__all__ = ["ClientHelloInfo", "DeferredServerSession", "apply_server_settings"]

# Settings that only shape the transport parameters and the stream / flow-control state.
PER_CONNECTION_SETTINGS = (
    "idle_timeout_ms",
    "stream_recv_window_default",
    "stream_recv_window_bidi_local",
    "stream_recv_window_bidi_remote",
    "stream_recv_window_unidi",
    "stream_recv_window_max",
    "conn_flow_control_window",
    "conn_flow_control_window_max",
    "peer_bidi_stream_count",
    "peer_unidi_stream_count",
    "send_buffering_enabled",
    "datagram_receive_enabled",
    "migration_enabled",
    "grease_quic_bit_enabled",
    "server_resumption_level",
)
assert set(PER_CONNECTION_SETTINGS) <= {f.name for f in fields(Settings)}


@dataclass(frozen=True, slots=True)
class ClientHelloInfo:
    """What NEW_CONNECTION reports of the ClientHello."""

    raw: bytes  # the handshake message, header included (MsQuic's CryptoBuffer)
    server_name: str | None
    client_alpns: tuple[bytes, ...]
    negotiated_alpn: bytes


class DeferredServerSession:
    """A ``TlsSessionLike`` that holds the handshake until :meth:`configure` (see module doc)."""

    def __init__(self, transport_parameters: bytes, listener_alpns: tuple[bytes, ...]) -> None:
        self.transport_parameters = transport_parameters
        self._listener_alpns = listener_alpns
        self._held: list[tuple[EncryptionLevel, bytes]] = []
        self._peek: HandshakeBuffer | None = HandshakeBuffer()
        self._session: ServerSession | None = None
        self.client_hello: ClientHelloInfo | None = None
        self.on_client_hello: Callable[[], None] | None = None  # called once, from the core

    # -- TlsSessionLike ---------------------------------------------------------------------------

    @property
    def alpn(self) -> bytes | None:
        return self._session.alpn if self._session is not None else None

    @property
    def peer_transport_parameters(self) -> bytes | None:
        return self._session.peer_transport_parameters if self._session is not None else None

    @property
    def handshake_complete(self) -> bool:
        return self._session is not None and self._session.handshake_complete

    @property
    def session(self) -> ServerSession | None:
        return self._session

    def start(self) -> None:
        """A server waits for the ClientHello (RFC 8446 §2)."""

    def receive(self, level: EncryptionLevel, data: bytes) -> None:
        if self._session is not None:
            self._session.receive(level, data)
            return
        self._held.append((level, bytes(data)))
        peek = self._peek
        if peek is None or level is not EncryptionLevel.INITIAL:
            return
        peek.feed(data)  # CRYPTO_BUFFER_EXCEEDED beyond two maximal messages
        raw = peek.pop()
        if raw is not None:
            self._peek = None
            self.client_hello = self._read_client_hello(raw)
            if self.on_client_hello is not None:
                self.on_client_hello()

    def data_to_send(self, level: EncryptionLevel) -> bytes:
        return self._session.data_to_send(level) if self._session is not None else b""

    def poll_event(self) -> object | None:
        return self._session.poll_event() if self._session is not None else None

    # -- the application's side -------------------------------------------------------------

    def _read_client_hello(self, raw: bytes) -> ClientHelloInfo:
        message = parse_handshake_message(raw)
        if not isinstance(message, ClientHello):
            raise alert_error(
                AlertDescription.unexpected_message, "the first message is not a ClientHello"
            )
        offer = parse_offer(message)  # raises the alert the RFCs name for a bad ClientHello
        for alpn in self._listener_alpns:
            if alpn in offer.alpn_protocols:
                return ClientHelloInfo(raw, offer.server_name, offer.alpn_protocols, alpn)
        raise alert_error(
            AlertDescription.no_application_protocol,
            f"none of the client's protocols {list(offer.alpn_protocols)} is served",
        )

    @property
    def configured(self) -> bool:
        return self._session is not None

    def configure(self, config: TlsConfig, transport_parameters: bytes | None = None) -> None:
        """Build the real session and replay the client's bytes; raises QuicError on failure.

        ``transport_parameters`` replaces the ones the connection was built with.
        """
        if self._session is not None:
            return
        if transport_parameters is not None:
            self.transport_parameters = transport_parameters
        session = ServerSession(config, self.transport_parameters)
        session.start()
        self._session = session
        held, self._held = self._held, []
        for level, data in held:
            session.receive(level, data)


def apply_server_settings(core: CoreConnection, base: Settings, chosen: Settings) -> bytes | None:
    """Give an unconfigured server connection ``chosen``'s per-connection settings (module doc).

    Returns the encoded transport parameters for the TLS session, or None when ``chosen`` changes
    nothing the connection was built with.
    """
    overrides = {
        name: getattr(chosen, name)
        for name in PER_CONNECTION_SETTINGS
        if getattr(chosen, name) != getattr(base, name)
    }
    if not overrides:
        return None
    settings = base.merge(**overrides)
    core.settings = settings
    core.streams = StreamManager.from_settings(False, settings)
    core.recv_window = ReceiveWindow(
        settings.conn_flow_control_window, max_window=settings.conn_flow_control_window_max
    )
    parameters = settings.transport_parameters(
        initial_source_connection_id=core.local_cids.initial,
        original_destination_connection_id=core.original_destination_cid,
        retry_source_connection_id=core.retry_source_cid,
        stateless_reset_token=core.local_cids.initial_reset_token,
        is_server=True,
    )
    core.local_parameters = parameters
    return encode_transport_parameters(parameters)
