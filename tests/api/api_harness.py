"""Helpers for the MsQuic-style API tests: an event recorder, an echo server, client helpers.

Everything goes through the public API over real loopback sockets.  Callbacks run on the
registration's worker thread, so the recorder is thread-safe and tests wait on conditions
with a timeout instead of sleeping.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyquic.api import (
    Configuration,
    Connection,
    ConnectionEventType,
    CredentialConfig,
    CredentialFlags,
    CredentialType,
    Listener,
    ListenerEventType,
    ReceiveFlags,
    Registration,
    SendFlags,
    Settings,
    Status,
    Stream,
    StreamEventType,
)
from pyquic.testing.certificates import PemFiles

WAIT_S = 10.0
ALPN = "echo"


class Recorder:
    """Events by source (``"client"``, ``"server-stream"``, ...), in arrival order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.threads: set[str] = set()
        self._cond = threading.Condition()

    def add(self, source: str, event: Any) -> None:
        with self._cond:
            self.events.append((source, event))
            self.threads.add(threading.current_thread().name)
            self._cond.notify_all()

    def of(self, source: str) -> list[Any]:
        with self._cond:
            return [event for who, event in self.events if who == source]

    def types(self, source: str) -> list[int]:
        return [event.type for event in self.of(source)]

    def has(self, source: str, event_type: int, count: int = 1) -> bool:
        return self.types(source).count(event_type) >= count

    def wait_for(self, predicate: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
        with self._cond:
            if not self._cond.wait_for(predicate, timeout):
                sources = sorted({who for who, _ in self.events})
                dump = {
                    who: [type(e).__name__ for w, e in self.events if w == who] for who in sources
                }
                raise AssertionError(f"timed out waiting for {what}; events: {dump}")

    def wait_event(self, source: str, event_type: int, count: int = 1) -> Any:
        self.wait_for(lambda: self.has(source, event_type, count), f"{source} {event_type!r}")
        return [e for e in self.of(source) if e.type == event_type][count - 1]


def server_configuration(
    registration: Registration, pem: PemFiles, settings: Settings | None = None
) -> Configuration:
    configuration = Configuration(
        registration,
        [ALPN],
        settings or Settings(peer_bidi_stream_count=16, peer_unidi_stream_count=4),
    )
    configuration.load_credential(
        CredentialConfig(
            CredentialType.CERTIFICATE_FILE,
            certificate_file=pem.server_certificate,
            private_key_file=pem.server_key,
        )
    )
    return configuration


def client_configuration(
    registration: Registration,
    pem: PemFiles,
    flags: CredentialFlags = CredentialFlags.NONE,
    settings: Settings | None = None,
    **credential: Any,
) -> Configuration:
    configuration = Configuration(registration, [ALPN], settings)
    configuration.load_credential(
        CredentialConfig(
            flags=CredentialFlags.CLIENT | flags, ca_file=pem.ca_certificate, **credential
        )
    )
    return configuration


StreamHandler = Callable[[Stream, Any], "int | None"]


@dataclass
class EchoServer:
    """A listener that accepts everything and echoes each stream (FIN answered with FIN).

    ``stream_handler`` replaces the echo for streams; ``accept`` decides NEW_CONNECTION.
    """

    registration: Registration
    recorder: Recorder
    configuration: Configuration
    stream_handler: StreamHandler | None = None
    accept: Callable[[Any], int] = lambda event: Status.SUCCESS
    on_connection_event: Callable[[Connection, Any], None] | None = None
    alpns: tuple[str, ...] = (ALPN,)
    connections: list[Connection] = field(default_factory=list)
    streams: list[Stream] = field(default_factory=list)
    listener: Listener = field(init=False)

    def __post_init__(self) -> None:
        self.listener = Listener(self.registration, self._on_listener)
        self.listener.start(list(self.alpns), ("::", 0))

    @property
    def port(self) -> int:
        return int(self.listener.local_address[1])

    def _on_listener(self, listener: Listener, context: Any, event: Any) -> int:
        self.recorder.add("listener", event)
        if event.type == ListenerEventType.NEW_CONNECTION:
            status = self.accept(event)
            if status == Status.SUCCESS:
                self.connections.append(event.connection)
                event.connection.set_callback_handler(self._on_connection)
                event.connection.set_configuration(self.configuration)
            return status
        return Status.SUCCESS

    def _on_connection(self, connection: Connection, context: Any, event: Any) -> int:
        self.recorder.add("server", event)
        if self.on_connection_event is not None:
            self.on_connection_event(connection, event)
        if event.type == ConnectionEventType.PEER_STREAM_STARTED:
            self.streams.append(event.stream)
            event.stream.set_callback_handler(self._on_stream)
        elif event.type == ConnectionEventType.SHUTDOWN_COMPLETE:
            connection.close()
        return Status.SUCCESS

    def _on_stream(self, stream: Stream, context: Any, event: Any) -> int | None:
        self.recorder.add("server-stream", event)
        if self.stream_handler is not None:
            return self.stream_handler(stream, event)
        if event.type == StreamEventType.RECEIVE:
            fin = ReceiveFlags.FIN in event.flags
            if event.total_buffer_length or fin:
                stream.send(event.data, SendFlags.FIN if fin else SendFlags.NONE)
        elif event.type == StreamEventType.SHUTDOWN_COMPLETE:
            stream.close()
        return Status.SUCCESS


@dataclass
class Client:
    """A client connection whose events (and its streams') go to the recorder."""

    registration: Registration
    recorder: Recorder
    on_event: Callable[[Connection, Any], None] | None = None
    received: bytearray = field(default_factory=bytearray)
    connection: Connection = field(init=False)

    def __post_init__(self) -> None:
        self.connection = Connection(self.registration, self._on_connection)

    def start(self, configuration: Configuration, port: int, name: str = "localhost") -> Client:
        self.connection.start(configuration, name, port)
        return self

    def _on_connection(self, connection: Connection, context: Any, event: Any) -> int:
        self.recorder.add("client", event)
        if self.on_event is not None:
            self.on_event(connection, event)
        return Status.SUCCESS

    def open_stream(self, handler: StreamHandler | None = None, **kwargs: Any) -> Stream:
        def on_stream(stream: Stream, context: Any, event: Any) -> int | None:
            self.recorder.add("client-stream", event)
            if event.type == StreamEventType.RECEIVE:
                self.received += event.data
            if handler is not None:
                return handler(stream, event)
            return Status.SUCCESS

        return Stream(self.connection, callback=on_stream, **kwargs)

    def wait_connected(self) -> Any:
        return self.recorder.wait_event("client", ConnectionEventType.CONNECTED)

    def wait_shutdown_complete(self) -> Any:
        return self.recorder.wait_event("client", ConnectionEventType.SHUTDOWN_COMPLETE)
