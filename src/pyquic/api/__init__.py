"""MsQuic's object model in Python: registrations, configurations, listeners, connections, streams.

The same objects, calls, events, flags, parameters and status codes as MsQuic's C API
(``src/inc/msquic.h``, ``docs/API.md``; msquic-facts §1), over pyquic's engine.  A server::

    with Registration("echo") as registration:
        configuration = Configuration(registration, ["echo"], Settings(peer_bidi_stream_count=16))
        configuration.load_credential(
            CredentialConfig(
                CredentialType.CERTIFICATE_FILE,
                certificate_file="cert.pem",
                private_key_file="key.pem",
            )
        )

        def on_listener(listener, context, event):
            if event.type == ListenerEventType.NEW_CONNECTION:
                event.connection.set_callback_handler(on_connection)
                event.connection.set_configuration(configuration)
            return Status.SUCCESS

        listener = Listener(registration, on_listener)
        listener.start(["echo"], ("::", 4433))

Callbacks run on the registration's worker thread(s), one object's callbacks serialized; API
calls may come from any thread.  See ``docs/api.md`` for the event model.
"""

from pyquic.api.configuration import Configuration, CredentialConfig
from pyquic.api.connection import Connection
from pyquic.api.events import (
    ConnectedEvent,
    ConnectionEvent,
    ConnectionEventType,
    ConnectionShutdownCompleteEvent,
    DatagramReceivedEvent,
    IdealSendBufferSizeEvent,
    ListenerEvent,
    ListenerEventType,
    ListenerStopCompleteEvent,
    NewConnectionEvent,
    NewConnectionInfo,
    PeerAcceptedEvent,
    PeerAddressChangedEvent,
    PeerCertificateReceivedEvent,
    PeerReceiveAbortedEvent,
    PeerSendAbortedEvent,
    PeerSendShutdownEvent,
    PeerStreamStartedEvent,
    ReceiveEvent,
    ResumptionTicketReceivedEvent,
    SendCompleteEvent,
    SendShutdownCompleteEvent,
    ShutdownInitiatedByPeerEvent,
    ShutdownInitiatedByTransportEvent,
    StartCompleteEvent,
    StreamEvent,
    StreamEventType,
    StreamsAvailableEvent,
    StreamShutdownCompleteEvent,
)
from pyquic.api.flags import (
    AddressFamily,
    AllowedCipherSuiteFlags,
    ConnectionShutdownFlags,
    CredentialFlags,
    CredentialType,
    ExecutionProfile,
    ReceiveFlags,
    SendFlags,
    ServerResumptionLevel,
    StreamOpenFlags,
    StreamShutdownFlags,
    StreamStartFlags,
)
from pyquic.api.listener import Listener
from pyquic.api.params import (
    ConfigurationParam,
    ConnectionParam,
    HandshakeInfo,
    ListenerParam,
    ListenerStatistics,
    StreamParam,
    TlsParam,
)
from pyquic.api.registration import Registration
from pyquic.api.status import QuicStatusError, Status, failed, succeeded
from pyquic.api.stream import Stream
from pyquic.core.settings import Settings

__all__ = [
    "AddressFamily",
    "AllowedCipherSuiteFlags",
    "Configuration",
    "ConfigurationParam",
    "ConnectedEvent",
    "Connection",
    "ConnectionEvent",
    "ConnectionEventType",
    "ConnectionParam",
    "ConnectionShutdownCompleteEvent",
    "ConnectionShutdownFlags",
    "CredentialConfig",
    "CredentialFlags",
    "CredentialType",
    "DatagramReceivedEvent",
    "ExecutionProfile",
    "HandshakeInfo",
    "IdealSendBufferSizeEvent",
    "Listener",
    "ListenerEvent",
    "ListenerEventType",
    "ListenerParam",
    "ListenerStatistics",
    "ListenerStopCompleteEvent",
    "NewConnectionEvent",
    "NewConnectionInfo",
    "PeerAcceptedEvent",
    "PeerAddressChangedEvent",
    "PeerCertificateReceivedEvent",
    "PeerReceiveAbortedEvent",
    "PeerSendAbortedEvent",
    "PeerSendShutdownEvent",
    "PeerStreamStartedEvent",
    "QuicStatusError",
    "ReceiveEvent",
    "ReceiveFlags",
    "Registration",
    "ResumptionTicketReceivedEvent",
    "SendCompleteEvent",
    "SendFlags",
    "SendShutdownCompleteEvent",
    "ServerResumptionLevel",
    "Settings",
    "ShutdownInitiatedByPeerEvent",
    "ShutdownInitiatedByTransportEvent",
    "StartCompleteEvent",
    "Status",
    "Stream",
    "StreamEvent",
    "StreamEventType",
    "StreamOpenFlags",
    "StreamParam",
    "StreamShutdownCompleteEvent",
    "StreamShutdownFlags",
    "StreamStartFlags",
    "StreamsAvailableEvent",
    "TlsParam",
    "failed",
    "succeeded",
]
