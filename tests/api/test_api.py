"""The MsQuic-style API end to end over loopback: lifecycles, event order, data, shutdowns.

Each test runs a registration with an echo server (``api_harness``) and a client on real UDP
sockets, and asserts the events MsQuic documents (``docs/api/QUIC_*_EVENT.md``) in the order
MsQuic delivers them.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from api_harness import (
    WAIT_S,
    Client,
    EchoServer,
    Recorder,
    client_configuration,
    server_configuration,
)

from pyquic.api import (
    ConnectionEventType,
    ConnectionShutdownFlags,
    ExecutionProfile,
    ListenerEventType,
    ReceiveFlags,
    Registration,
    SendFlags,
    Settings,
    Status,
    Stream,
    StreamEventType,
    StreamOpenFlags,
    StreamParam,
    StreamShutdownFlags,
    StreamStartFlags,
)
from pyquic.platform.execution import library_reference_count
from pyquic.testing.certificates import PemFiles

CE = ConnectionEventType
SE = StreamEventType


def _position(recorder: Recorder, source: str, event_type: int) -> int:
    """Index of the first ``event_type`` from ``source`` in the global event order."""
    for index, (who, event) in enumerate(recorder.events):
        if who == source and event.type == event_type:
            return index
    raise AssertionError(f"no {event_type!r} from {source}")


def _setup(
    registration: Registration,
    pem: PemFiles,
    client_settings: Settings | None = None,
    **server: Any,
) -> tuple[Recorder, EchoServer, Client]:
    recorder = Recorder()
    settings = server.pop("settings", None)
    echo = EchoServer(
        registration, recorder, server_configuration(registration, pem, settings), **server
    )
    client = Client(registration, recorder)
    client.start(client_configuration(registration, pem, settings=client_settings), echo.port)
    return recorder, echo, client


def test_lifecycle_events_in_msquic_order(registration: Registration, pem: PemFiles) -> None:
    recorder, echo, client = _setup(registration, pem)
    connected = client.wait_connected()
    assert connected.negotiated_alpn == b"echo" and not connected.session_resumed

    stream = client.open_stream()
    stream.start()
    stream.send(b"hello", SendFlags.FIN, client_context="ctx")
    recorder.wait_event("client-stream", SE.SHUTDOWN_COMPLETE)
    recorder.wait_event("server-stream", SE.SHUTDOWN_COMPLETE)
    assert client.received == b"hello"

    events = recorder.of("client-stream")
    assert events[0].type == SE.START_COMPLETE
    assert (events[0].status, events[0].id, events[0].peer_accepted) == (Status.SUCCESS, 0, True)
    assert events[-1].type == SE.SHUTDOWN_COMPLETE and not events[-1].connection_shutdown
    sends = [e for e in events if e.type == SE.SEND_COMPLETE]
    assert [(e.client_context, e.canceled) for e in sends] == [("ctx", False)]
    types = [e.type for e in events]
    last_receive = max(i for i, e in enumerate(events) if e.type == SE.RECEIVE)
    assert ReceiveFlags.FIN in events[last_receive].flags
    assert types.index(SE.PEER_SEND_SHUTDOWN) > last_receive
    graceful = [e for e in events if e.type == SE.SEND_SHUTDOWN_COMPLETE]
    assert [e.graceful for e in graceful] == [True]
    assert types.index(SE.SEND_SHUTDOWN_COMPLETE) < types.index(SE.SHUTDOWN_COMPLETE)

    new_connection = recorder.of("listener")[0]
    assert new_connection.type == ListenerEventType.NEW_CONNECTION
    assert new_connection.info.server_name == "localhost"
    assert new_connection.info.negotiated_alpn == b"echo"
    assert new_connection.info.client_alpn_list == (b"echo",)
    assert new_connection.info.crypto_buffer[0] == 1  # a ClientHello
    server_types = recorder.types("server")
    assert server_types[0] == CE.CONNECTED
    assert server_types.index(CE.PEER_STREAM_STARTED) > 0
    assert recorder.types("server-stream")[-1] == SE.SHUTDOWN_COMPLETE

    client.connection.shutdown(ConnectionShutdownFlags.NONE, 0)
    done = client.wait_shutdown_complete()
    assert done.handshake_completed and not done.app_close_in_progress
    client_types = recorder.types("client")
    assert client_types[0] == CE.CONNECTED and client_types[-1] == CE.SHUTDOWN_COMPLETE
    assert CE.SHUTDOWN_INITIATED_BY_PEER not in client_types  # our own shutdown is not "initiated"
    assert CE.SHUTDOWN_INITIATED_BY_TRANSPORT not in client_types
    recorder.wait_event("server", CE.SHUTDOWN_COMPLETE)
    assert recorder.of("server")[-2].type == CE.SHUTDOWN_INITIATED_BY_PEER
    assert _position(recorder, "server-stream", SE.SHUTDOWN_COMPLETE) < _position(
        recorder, "server", CE.SHUTDOWN_COMPLETE
    )
    client.connection.close()

    echo.listener.stop()
    stop = recorder.wait_event("listener", ListenerEventType.STOP_COMPLETE)
    assert not stop.app_close_in_progress


def test_echo_one_mebibyte(registration: Registration, pem: PemFiles) -> None:
    recorder, _, client = _setup(registration, pem)
    client.wait_connected()
    payload = bytes(range(256)) * 4096  # 1 MiB
    chunk = 64 * 1024
    stream = client.open_stream()
    stream.start()
    started = time.monotonic()
    for offset in range(0, len(payload), chunk):
        last = offset + chunk >= len(payload)
        stream.send(payload[offset : offset + chunk], SendFlags.FIN if last else SendFlags.NONE)
    recorder.wait_event("client-stream", SE.SHUTDOWN_COMPLETE)
    assert time.monotonic() - started < WAIT_S
    assert bytes(client.received) == payload
    events = recorder.of("client-stream")
    sends = [e for e in events if e.type == SE.SEND_COMPLETE]
    assert len(sends) == len(payload) // chunk and not any(e.canceled for e in sends)
    receives = [e for e in events if e.type == SE.RECEIVE]
    offsets = [e.absolute_offset for e in receives]
    expected = [sum(e.total_buffer_length for e in receives[:i]) for i in range(len(receives))]
    assert offsets == expected


def test_pending_receive_holds_back_the_sender(registration: Registration, pem: PemFiles) -> None:
    window = 16 * 1024
    offered: list[int] = []

    def pend(stream: Stream, event: Any) -> int:
        if event.type == SE.RECEIVE:
            offered.append(event.total_buffer_length)
            return Status.PENDING
        return Status.SUCCESS

    settings = Settings(
        peer_bidi_stream_count=4, stream_recv_window_default=window, stream_recv_window_max=window
    )
    recorder, echo, client = _setup(registration, pem, settings=settings, stream_handler=pend)
    client.wait_connected()
    stream = client.open_stream()
    stream.start()
    requests = 16
    for index in range(requests):
        last = index == requests - 1
        stream.send(bytes([index]) * window, SendFlags.FIN if last else SendFlags.NONE)
    recorder.wait_event("server-stream", SE.RECEIVE)
    time.sleep(0.3)  # the sender runs into flow control while the receive is pending
    assert recorder.types("server-stream").count(SE.RECEIVE) == 1
    assert sum(offered) <= 2 * window
    completed = recorder.types("client-stream").count(SE.SEND_COMPLETE)
    assert completed < requests  # send buffering stops at the ideal send buffer size

    server_stream = echo.streams[0]
    total, count = 0, 1
    while True:
        event = recorder.wait_event("server-stream", SE.RECEIVE, count)
        total += event.total_buffer_length
        if ReceiveFlags.FIN in event.flags:
            server_stream.receive_complete(event.total_buffer_length)
            break
        server_stream.receive_complete(event.total_buffer_length)  # from the test's thread
        count += 1
    assert total == requests * window
    recorder.wait_event("server-stream", SE.PEER_SEND_SHUTDOWN)
    recorder.wait_event("client-stream", SE.SEND_COMPLETE, requests)


def test_partial_receive_pauses_until_reenabled(registration: Registration, pem: PemFiles) -> None:
    def take_100(stream: Stream, event: Any) -> int:
        if event.type == SE.RECEIVE and event.absolute_offset == 0:
            event.total_buffer_length = 100
        return Status.SUCCESS

    recorder, echo, client = _setup(registration, pem, stream_handler=take_100)
    client.wait_connected()
    stream = client.open_stream()
    stream.start()
    stream.send(b"x" * 1000, SendFlags.FIN)
    first = recorder.wait_event("server-stream", SE.RECEIVE)
    assert first.absolute_offset == 0 and first.total_buffer_length == 100
    time.sleep(0.2)
    assert recorder.types("server-stream").count(SE.RECEIVE) == 1  # paused
    echo.streams[0].receive_set_enabled(True)
    second = recorder.wait_event("server-stream", SE.RECEIVE, 2)
    assert second.absolute_offset == 100 and second.total_buffer_length == 900
    assert ReceiveFlags.FIN in second.flags
    recorder.wait_event("server-stream", SE.PEER_SEND_SHUTDOWN)


def _quiet(stream: Stream, event: Any) -> int:
    if event.type == SE.SHUTDOWN_COMPLETE:
        stream.close()
    return Status.SUCCESS


def test_abort_delivers_peer_aborted_events(registration: Registration, pem: PemFiles) -> None:
    recorder, _, client = _setup(registration, pem, stream_handler=_quiet)
    client.wait_connected()
    stream = client.open_stream()
    stream.start()
    stream.send(b"some data")
    recorder.wait_event("server-stream", SE.RECEIVE)
    stream.shutdown(StreamShutdownFlags.ABORT, 0x1234)
    assert recorder.wait_event("server-stream", SE.PEER_SEND_ABORTED).error_code == 0x1234
    assert recorder.wait_event("server-stream", SE.PEER_RECEIVE_ABORTED).error_code == 0x1234
    sent = recorder.wait_event("client-stream", SE.SEND_SHUTDOWN_COMPLETE)
    assert not sent.graceful
    recorder.wait_event("client-stream", SE.SHUTDOWN_COMPLETE)
    recorder.wait_event("server-stream", SE.SHUTDOWN_COMPLETE)
    with pytest.raises(Exception, match="INVALID_STATE"):
        stream.send(b"more")


def test_abort_immediate_completes_at_once(registration: Registration, pem: PemFiles) -> None:
    recorder, _, client = _setup(registration, pem, stream_handler=_quiet)
    client.wait_connected()
    stream = client.open_stream()
    stream.start()
    stream.send(b"x")
    recorder.wait_event("client-stream", SE.SEND_COMPLETE)
    stream.shutdown(StreamShutdownFlags.ABORT | StreamShutdownFlags.IMMEDIATE, 7)
    assert recorder.types("client-stream")[-2:] == [SE.SEND_SHUTDOWN_COMPLETE, SE.SHUTDOWN_COMPLETE]
    assert recorder.wait_event("server-stream", SE.PEER_SEND_ABORTED).error_code == 7


def test_connection_shutdown_with_app_error(registration: Registration, pem: PemFiles) -> None:
    recorder, _, client = _setup(registration, pem, stream_handler=_quiet)
    client.wait_connected()
    stream = client.open_stream()
    stream.start()
    stream.send(b"pending")
    recorder.wait_event("server-stream", SE.RECEIVE)
    client.connection.shutdown(error_code=0xBEEF)

    assert recorder.wait_event("server", CE.SHUTDOWN_INITIATED_BY_PEER).error_code == 0xBEEF
    server_stream = recorder.wait_event("server-stream", SE.SHUTDOWN_COMPLETE)
    assert server_stream.connection_shutdown and server_stream.connection_closed_remotely
    assert server_stream.connection_shutdown_by_app
    assert server_stream.connection_error_code == 0xBEEF
    assert recorder.wait_event("server", CE.SHUTDOWN_COMPLETE).handshake_completed

    client_stream = recorder.wait_event("client-stream", SE.SHUTDOWN_COMPLETE)
    assert client_stream.connection_shutdown and not client_stream.connection_closed_remotely
    assert client_stream.connection_error_code == 0xBEEF
    client.wait_shutdown_complete()
    assert _position(recorder, "client-stream", SE.SHUTDOWN_COMPLETE) < _position(
        recorder, "client", CE.SHUTDOWN_COMPLETE
    )
    assert CE.SHUTDOWN_INITIATED_BY_PEER not in recorder.types("client")


def test_silent_shutdown_sends_nothing(registration: Registration, pem: PemFiles) -> None:
    recorder, _, client = _setup(registration, pem)
    client.wait_connected()
    client.connection.shutdown(ConnectionShutdownFlags.SILENT, 5)
    client.wait_shutdown_complete()
    time.sleep(0.2)
    assert CE.SHUTDOWN_INITIATED_BY_PEER not in recorder.types("server")


def test_registration_shutdown_closes_every_connection(
    registration: Registration, pem: PemFiles
) -> None:
    recorder = Recorder()
    echo = EchoServer(registration, recorder, server_configuration(registration, pem))
    with Registration("clients") as clients:
        configuration = client_configuration(clients, pem)
        for _ in range(2):
            Client(clients, recorder).start(configuration, echo.port)
        recorder.wait_event("client", CE.CONNECTED, 2)
        clients.shutdown(ConnectionShutdownFlags.NONE, 99)
        for count in (1, 2):
            peer = recorder.wait_event("server", CE.SHUTDOWN_INITIATED_BY_PEER, count)
            assert peer.error_code == 99
        recorder.wait_event("client", CE.SHUTDOWN_COMPLETE, 2)


def test_calls_from_another_thread(registration: Registration, pem: PemFiles) -> None:
    recorder, _, client = _setup(registration, pem)
    client.wait_connected()
    errors: list[BaseException] = []

    def worker_free_thread() -> None:
        try:
            stream = client.open_stream()
            stream.start()
            stream.send(b"from a thread", SendFlags.FIN)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=worker_free_thread, name="app-thread")
    thread.start()
    thread.join(WAIT_S)
    assert not errors
    recorder.wait_event("client-stream", SE.SHUTDOWN_COMPLETE)
    assert client.received == b"from a thread"
    workers = {worker.name for worker in registration.workers}
    assert recorder.threads <= workers  # every callback ran on the registration's worker


def test_rejected_connection_is_refused(registration: Registration, pem: PemFiles) -> None:
    recorder, _, client = _setup(registration, pem, accept=lambda event: Status.CONNECTION_REFUSED)
    shutdown = recorder.wait_event("client", CE.SHUTDOWN_INITIATED_BY_TRANSPORT)
    assert shutdown.status == Status.CONNECTION_REFUSED and shutdown.error_code == 0x2
    assert not client.wait_shutdown_complete().handshake_completed
    assert CE.CONNECTED not in recorder.types("client")


def test_unknown_alpn_never_reaches_the_listener(registration: Registration, pem: PemFiles) -> None:
    # the close arrives before any RTT sample: a short initial RTT keeps the draining period short
    fast = Settings(initial_rtt_ms=20)
    recorder, _, client = _setup(registration, pem, client_settings=fast, alpns=("other",))
    shutdown = recorder.wait_event("client", CE.SHUTDOWN_INITIATED_BY_TRANSPORT)
    assert shutdown.status == Status.ALPN_NEG_FAILURE
    assert shutdown.error_code == 0x100 + 120  # CRYPTO_ERROR(no_application_protocol)
    client.wait_shutdown_complete()
    assert recorder.of("listener") == []


def test_unidirectional_stream(registration: Registration, pem: PemFiles) -> None:
    recorder, _, client = _setup(registration, pem, stream_handler=_quiet)
    client.wait_connected()
    stream = client.open_stream(flags=StreamOpenFlags.UNIDIRECTIONAL)
    stream.start()
    stream.send(b"one way", SendFlags.FIN)
    started = recorder.wait_event("server", CE.PEER_STREAM_STARTED)
    assert started.flags == StreamOpenFlags.UNIDIRECTIONAL
    assert started.stream.id == 2  # client-initiated unidirectional
    recorder.wait_event("server-stream", SE.SHUTDOWN_COMPLETE)
    server_types = recorder.types("server-stream")
    assert SE.SEND_SHUTDOWN_COMPLETE not in server_types  # no send direction
    assert b"".join(e.data for e in recorder.of("server-stream") if e.type == SE.RECEIVE) == (
        b"one way"
    )
    recorder.wait_event("client-stream", SE.SHUTDOWN_COMPLETE)
    assert SE.PEER_SEND_SHUTDOWN not in recorder.types("client-stream")


def test_stream_limit_blocks_start_until_peer_accepts(
    registration: Registration, pem: PemFiles
) -> None:
    settings = Settings(peer_bidi_stream_count=1)
    recorder, _, client = _setup(registration, pem, settings=settings)
    client.wait_connected()
    first = client.open_stream()
    first.start()
    second = client.open_stream()
    second.start(StreamStartFlags.INDICATE_PEER_ACCEPT)
    refused = client.open_stream()
    refused.start(StreamStartFlags.FAIL_BLOCKED)
    recorder.wait_for(lambda: len(recorder.types("client-stream")) >= 3, "three starts")
    starts = [e for e in recorder.of("client-stream") if e.type == SE.START_COMPLETE]
    assert [(s.status, s.id, s.peer_accepted) for s in starts] == [
        (Status.SUCCESS, 0, True),
        (Status.SUCCESS, 4, False),
        (Status.STREAM_LIMIT_REACHED, 0, False),
    ]
    second.send(b"queued", SendFlags.FIN)  # waits with the stream
    first.send(b"first", SendFlags.FIN)
    recorder.wait_event("client-stream", SE.PEER_ACCEPTED)
    recorder.wait_event("client-stream", SE.SHUTDOWN_COMPLETE, 2)
    assert client.received in (b"firstqueued", b"queuedfirst")


def test_library_reference_count_follows_registrations() -> None:
    before = library_reference_count()
    first = Registration("one")
    second = Registration("two", ExecutionProfile.MAX_THROUGHPUT, worker_count=2)
    assert library_reference_count() == before + 2
    assert len(second.workers) == 2
    first.close()
    assert library_reference_count() == before + 1
    second.close()
    second.close()  # idempotent
    assert library_reference_count() == before
    scavenger = Registration("idle", ExecutionProfile.SCAVENGER, worker_count=4)
    assert len(scavenger.workers) == 1
    scavenger.close()
    assert library_reference_count() == before


def test_registration_close_releases_open_objects(pem: PemFiles) -> None:
    before = library_reference_count()
    registration = Registration("leaky")
    recorder, echo, client = _setup(registration, pem)
    client.wait_connected()
    registration.close()  # the application forgot to close its listener and connection
    assert echo.listener.closed and client.connection.closed
    assert recorder.wait_event("client", CE.SHUTDOWN_COMPLETE).app_close_in_progress
    assert library_reference_count() == before


def test_concurrent_connections_and_streams_on_two_workers(pem: PemFiles) -> None:
    with Registration("busy", worker_count=2) as registration:
        recorder, echo, first = _setup(registration, pem)
        clients = [first]
        configuration = client_configuration(registration, pem)
        clients += [
            Client(registration, recorder).start(configuration, echo.port) for _ in range(3)
        ]
        recorder.wait_event("client", CE.CONNECTED, len(clients))
        payloads: dict[Stream, bytes] = {}
        for number, client in enumerate(clients):
            for index in range(5):
                stream = client.open_stream()
                payloads[stream] = bytes([number * 5 + index]) * 20_000
                stream.send(payloads[stream], SendFlags.START | SendFlags.FIN)
        recorder.wait_event("client-stream", SE.SHUTDOWN_COMPLETE, len(payloads))
        assert sorted(b"".join(c.received for c in clients)) == sorted(b"".join(payloads.values()))
        workers = {worker.name for worker in registration.workers}
        assert recorder.threads == workers  # both workers served callbacks


def test_idle_timeout_ends_both_sides(registration: Registration, pem: PemFiles) -> None:
    settings = Settings(peer_bidi_stream_count=4, idle_timeout_ms=300)
    recorder, _, client = _setup(
        registration, pem, client_settings=Settings(idle_timeout_ms=300), settings=settings
    )
    client.wait_connected()
    idle = recorder.wait_event("client", CE.SHUTDOWN_INITIATED_BY_TRANSPORT)
    assert idle.status == Status.CONNECTION_IDLE
    assert client.wait_shutdown_complete().handshake_completed
    server = recorder.wait_event("server", CE.SHUTDOWN_INITIATED_BY_TRANSPORT)
    assert server.status == Status.CONNECTION_IDLE


def test_stopped_listener_accepts_nobody(registration: Registration, pem: PemFiles) -> None:
    recorder = Recorder()
    echo = EchoServer(registration, recorder, server_configuration(registration, pem))
    echo.listener.stop()
    recorder.wait_event("listener", ListenerEventType.STOP_COMPLETE)
    late = Client(registration, recorder)
    fast = Settings(handshake_idle_timeout_ms=300, initial_rtt_ms=50)
    late.start(client_configuration(registration, pem, settings=fast), echo.port)
    failure = recorder.wait_event("client", CE.SHUTDOWN_INITIATED_BY_TRANSPORT)
    assert failure.status == Status.CONNECTION_TIMEOUT
    assert [e.type for e in recorder.of("listener")] == [ListenerEventType.STOP_COMPLETE]


def test_server_initiated_stream(registration: Registration, pem: PemFiles) -> None:
    recorder = Recorder()
    echo = EchoServer(registration, recorder, server_configuration(registration, pem))
    pushed: list[Stream] = []

    def push(connection: Any, event: Any) -> None:
        if event.type == CE.CONNECTED:
            stream = Stream(connection, StreamOpenFlags.UNIDIRECTIONAL)
            pushed.append(stream)
            stream.send(b"pushed", SendFlags.START | SendFlags.FIN)

    echo.on_connection_event = push
    client = Client(registration, recorder)
    client.on_event = lambda connection, event: _accept_streams(recorder, event)
    allow = Settings(peer_unidi_stream_count=1)
    client.start(client_configuration(registration, pem, settings=allow), echo.port)
    started = recorder.wait_event("client", CE.PEER_STREAM_STARTED)
    assert started.stream.id == 3 and started.flags == StreamOpenFlags.UNIDIRECTIONAL
    recorder.wait_event("peer-stream", SE.PEER_SEND_SHUTDOWN)
    data = b"".join(e.data for e in recorder.of("peer-stream") if e.type == SE.RECEIVE)
    assert data == b"pushed"
    assert pushed[0].get_param(StreamParam.ID) == 3


def _accept_streams(recorder: Recorder, event: Any) -> None:
    if event.type == CE.PEER_STREAM_STARTED:
        event.stream.set_callback_handler(
            lambda stream, context, stream_event: recorder.add("peer-stream", stream_event)
        )


def test_stream_closed_while_blocked_keeps_ids_in_order(
    registration: Registration, pem: PemFiles
) -> None:
    recorder, _, client = _setup(registration, pem, settings=Settings(peer_bidi_stream_count=1))
    client.wait_connected()
    first, abandoned, last = (client.open_stream() for _ in range(3))
    for stream in (first, abandoned, last):
        stream.start()
    recorder.wait_event("client-stream", SE.START_COMPLETE, 3)
    assert [s.get_param(StreamParam.ID) for s in (first, abandoned, last)] == [0, 4, 8]
    abandoned.close()  # while it waits for the peer's MAX_STREAMS
    last.send(b"last", SendFlags.FIN | SendFlags.DELAY_SEND)
    first.send(b"first", SendFlags.FIN)
    recorder.wait_for(lambda: client.received.endswith(b"last"), "the last stream's echo")
    assert client.received == b"firstlast"
    aborted = recorder.wait_event("server-stream", SE.PEER_SEND_ABORTED)
    assert aborted.error_code == 0
