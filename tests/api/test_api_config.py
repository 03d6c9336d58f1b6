"""The MsQuic-style API: credentials, certificate events, resumption, parameters and misuse.

Over loopback with the ``api_harness`` echo server, through the public API only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from api_harness import (
    ALPN,
    Client,
    EchoServer,
    Recorder,
    client_configuration,
    server_configuration,
)
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from pyquic.api import (
    AllowedCipherSuiteFlags,
    Configuration,
    ConfigurationParam,
    Connection,
    ConnectionEventType,
    ConnectionParam,
    CredentialConfig,
    CredentialFlags,
    CredentialType,
    Listener,
    ListenerParam,
    QuicStatusError,
    Registration,
    SendFlags,
    Settings,
    Status,
    Stream,
    StreamEventType,
    StreamParam,
    StreamShutdownFlags,
    TlsParam,
)
from pyquic.api.status import TLS_ERROR_BASE
from pyquic.platform.tls import SessionTicket
from pyquic.testing.certificates import PemFiles, TestPki

CE = ConnectionEventType
SE = StreamEventType


def _served(
    registration: Registration, pem: PemFiles, **server: Any
) -> tuple[Recorder, EchoServer]:
    recorder = Recorder()
    configuration = server.pop("configuration", None) or server_configuration(registration, pem)
    return recorder, EchoServer(registration, recorder, configuration, **server)


def _echo_once(client: Client, recorder: Recorder, data: bytes = b"ping") -> None:
    stream = client.open_stream()
    stream.send(data, SendFlags.START | SendFlags.FIN)
    recorder.wait_event("client-stream", SE.SHUTDOWN_COMPLETE)
    assert client.received == data


# --- credentials --------------------------------------------------------------------------------


def _server_with(registration: Registration, credential: CredentialConfig) -> Configuration:
    configuration = Configuration(registration, [ALPN], Settings(peer_bidi_stream_count=4))
    configuration.load_credential(credential)
    return configuration


@pytest.mark.parametrize("kind", ["protected-pem", "pkcs12-blob", "pkcs12-file", "context"])
def test_server_credential_types(
    kind: str, registration: Registration, pem: PemFiles, pki: TestPki, tmp_path: Path
) -> None:
    key = pki.server_credential.private_key
    if kind == "protected-pem":
        key_file = tmp_path / "protected.key"
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"secret"),
            )
        )
        credential = CredentialConfig(
            CredentialType.CERTIFICATE_FILE_PROTECTED,
            certificate_file=pem.server_certificate,
            private_key_file=key_file,
            private_key_password="secret",
        )
    elif kind.startswith("pkcs12"):
        blob = pkcs12.serialize_key_and_certificates(
            b"server",
            key,
            pki.server_credential.leaf,
            None,
            serialization.BestAvailableEncryption(b"p12"),
        )
        source: bytes | Path = blob
        if kind == "pkcs12-file":
            source = tmp_path / "server.p12"
            source.write_bytes(blob)
        credential = CredentialConfig(
            CredentialType.CERTIFICATE_PKCS12, pkcs12=source, private_key_password=b"p12"
        )
    else:
        credential = CredentialConfig(
            CredentialType.CERTIFICATE_CONTEXT, credential=pki.server_credential
        )
    recorder, echo = _served(
        registration, pem, configuration=_server_with(registration, credential)
    )
    client = Client(registration, recorder).start(
        client_configuration(registration, pem), echo.port
    )
    _echo_once(client, recorder)


def test_credential_errors_name_the_problem(registration: Registration, pem: PemFiles) -> None:
    configuration = Configuration(registration, [ALPN])
    with pytest.raises(ValueError, match="LOAD_ASYNCHRONOUS, DEFER_CERTIFICATE_VALIDATION"):
        configuration.load_credential(
            CredentialConfig(
                flags=CredentialFlags.CLIENT
                | CredentialFlags.LOAD_ASYNCHRONOUS
                | CredentialFlags.DEFER_CERTIFICATE_VALIDATION
            )
        )
    with pytest.raises(ValueError, match="CERTIFICATE_HASH"):
        configuration.load_credential(CredentialConfig(CredentialType.CERTIFICATE_HASH))
    bad = [
        CredentialConfig(),  # a server without a certificate
        CredentialConfig(CredentialType.CERTIFICATE_FILE, certificate_file=pem.server_certificate),
        CredentialConfig(
            flags=CredentialFlags.CLIENT | CredentialFlags.REQUIRE_CLIENT_AUTHENTICATION
        ),
        CredentialConfig(
            flags=CredentialFlags.CLIENT,
            allowed_cipher_suites=AllowedCipherSuiteFlags.AES_128_GCM_SHA256,
        ),
        CredentialConfig(flags=CredentialFlags.CLIENT, ca_file=pem.server_key),  # not a CA file
    ]
    for credential in bad:
        with pytest.raises(QuicStatusError) as info:
            configuration.load_credential(credential)
        assert info.value.status == Status.INVALID_PARAMETER


def test_allowed_cipher_suites(registration: Registration, pem: PemFiles) -> None:
    recorder, echo = _served(registration, pem)
    configuration = client_configuration(
        registration,
        pem,
        CredentialFlags.SET_ALLOWED_CIPHER_SUITES,
        allowed_cipher_suites=AllowedCipherSuiteFlags.CHACHA20_POLY1305_SHA256,
    )
    client = Client(registration, recorder).start(configuration, echo.port)
    client.wait_connected()
    info = client.connection.get_param(TlsParam.HANDSHAKE_INFO)
    assert info.cipher_suite == 0x1303 and info.tls_protocol_version == 0x0304


def test_certificate_validation(registration: Registration, pem: PemFiles) -> None:
    recorder, echo = _served(registration, pem)
    strict = Client(registration, recorder)
    strict.connection.set_param(ConnectionParam.REMOTE_ADDRESS, ("127.0.0.1", echo.port))
    strict.start(client_configuration(registration, pem), echo.port, name="wrong.example")
    failure = recorder.wait_event("client", CE.SHUTDOWN_INITIATED_BY_TRANSPORT)
    assert failure.status >= TLS_ERROR_BASE and 0x100 <= failure.error_code <= 0x1FF

    lenient = Client(registration, recorder)
    lenient.connection.set_param(ConnectionParam.REMOTE_ADDRESS, ("127.0.0.1", echo.port))
    configuration = client_configuration(
        registration, pem, CredentialFlags.NO_CERTIFICATE_VALIDATION
    )
    lenient.start(configuration, echo.port, name="wrong.example")
    lenient.wait_connected()


@pytest.mark.parametrize("verdict", [Status.SUCCESS, Status.BAD_CERTIFICATE])
def test_peer_certificate_received(
    verdict: Status, registration: Registration, pem: PemFiles, pki: TestPki
) -> None:
    recorder, echo = _served(registration, pem)
    configuration = client_configuration(
        registration, pem, CredentialFlags.INDICATE_CERTIFICATE_RECEIVED
    )
    client = Client(registration, recorder)

    def judge(connection: Connection, context: Any, event: Any) -> Status:
        recorder.add("client", event)
        return verdict if event.type == CE.PEER_CERTIFICATE_RECEIVED else Status.SUCCESS

    client.connection.set_callback_handler(judge)
    client.start(configuration, echo.port)
    event = recorder.wait_event("client", CE.PEER_CERTIFICATE_RECEIVED)
    assert event.certificate == pki.server_credential.leaf
    assert event.chain[0] == event.certificate and event.deferred_status == Status.SUCCESS
    if verdict == Status.SUCCESS:
        client.wait_connected()
    else:
        failure = recorder.wait_event("client", CE.SHUTDOWN_INITIATED_BY_TRANSPORT)
        assert failure.status == Status.BAD_CERTIFICATE and failure.error_code == 0x100 + 42
        assert CE.CONNECTED not in recorder.types("client")


def test_mutual_tls_indicates_the_client_certificate(
    registration: Registration, pem: PemFiles, pki: TestPki
) -> None:
    assert pem.client_certificate is not None and pem.client_key is not None
    server = Configuration(registration, [ALPN], Settings(peer_bidi_stream_count=4))
    server.load_credential(
        CredentialConfig(
            CredentialType.CERTIFICATE_FILE,
            CredentialFlags.REQUIRE_CLIENT_AUTHENTICATION
            | CredentialFlags.INDICATE_CERTIFICATE_RECEIVED
            | CredentialFlags.SET_CA_CERTIFICATE_FILE,
            certificate_file=pem.server_certificate,
            private_key_file=pem.server_key,
            ca_file=pem.ca_certificate,
        )
    )
    recorder, echo = _served(registration, pem, configuration=server)
    configuration = client_configuration(
        registration,
        pem,
        type=CredentialType.CERTIFICATE_FILE,
        certificate_file=pem.client_certificate,
        private_key_file=pem.client_key,
    )
    client = Client(registration, recorder).start(configuration, echo.port)
    client.wait_connected()
    seen = recorder.wait_event("server", CE.PEER_CERTIFICATE_RECEIVED)
    assert pki.client_credential is not None
    assert seen.certificate == pki.client_credential.leaf


def test_resumption_ticket_resumes(registration: Registration, pem: PemFiles) -> None:
    settings = Settings(peer_bidi_stream_count=4, server_resumption_level="resume_only")
    recorder, echo = _served(
        registration, pem, configuration=server_configuration(registration, pem, settings)
    )
    configuration = client_configuration(registration, pem)
    first = Client(registration, recorder).start(configuration, echo.port)
    assert not first.wait_connected().session_resumed
    ticket = recorder.wait_event("client", CE.RESUMPTION_TICKET_RECEIVED).resumption_ticket
    assert SessionTicket.from_bytes(ticket).alpn == b"echo"
    first.connection.shutdown()
    first.wait_shutdown_complete()

    second = Client(registration, recorder)
    second.connection.set_param(ConnectionParam.RESUMPTION_TICKET, ticket)
    second.start(configuration, echo.port)
    assert recorder.wait_event("client", CE.CONNECTED, 2).session_resumed


# --- parameters -------------------------------------------------------------------------------


def test_parameters(registration: Registration, pem: PemFiles) -> None:
    recorder, echo = _served(registration, pem)
    client = Client(registration, recorder)
    connection = client.connection
    connection.set_param(ConnectionParam.CLOSE_REASON_PHRASE, "bye")
    connection.set_param(ConnectionParam.SETTINGS, Settings(idle_timeout_ms=5000))
    client.start(client_configuration(registration, pem), echo.port)
    client.wait_connected()
    _echo_once(client, recorder, b"x" * 5000)

    statistics = connection.get_param(ConnectionParam.STATISTICS_V2)
    assert statistics.recv_total_bytes > 5000 and statistics.send_total_packets > 0
    assert connection.get_param(ConnectionParam.QUIC_VERSION) == 1
    assert connection.get_param(ConnectionParam.REMOTE_ADDRESS)[1] == echo.port
    assert connection.get_param(ConnectionParam.LOCAL_ADDRESS)[1] != 0
    assert connection.get_param(TlsParam.NEGOTIATED_ALPN) == b"echo"
    assert connection.get_param(ConnectionParam.SETTINGS).idle_timeout_ms == 5000
    assert connection.get_param(ConnectionParam.LOCAL_BIDI_STREAM_COUNT) in (15, 16)  # one used
    assert connection.get_param(ConnectionParam.CLOSE_REASON_PHRASE) == "bye"
    assert connection.get_param(ConnectionParam.DATAGRAM_SEND_ENABLED) is False
    assert len(connection.get_param(ConnectionParam.ORIG_DEST_CID)) >= 8
    with pytest.raises(ValueError, match=r"ConnectionParam\.CIBIR_ID"):
        connection.get_param(ConnectionParam.CIBIR_ID)
    with pytest.raises(QuicStatusError, match="INVALID_STATE"):
        connection.set_param(ConnectionParam.REMOTE_ADDRESS, ("127.0.0.1", 1))

    assert echo.listener.get_param(ListenerParam.LOCAL_ADDRESS)[1] == echo.port
    stats = echo.listener.get_param(ListenerParam.STATS)
    assert stats.total_accepted_connections == 1
    settings = echo.configuration.get_param(ConfigurationParam.SETTINGS)
    assert settings.peer_bidi_stream_count == 16

    stream = client.open_stream()
    stream.set_priority(0x9000)
    stream.start()
    recorder.wait_event("client-stream", SE.START_COMPLETE, 2)
    assert stream.get_param(StreamParam.ID) == 4
    assert stream.get_param(StreamParam.PRIORITY) == 0x9000
    assert stream.get_param(StreamParam.IDEAL_SEND_BUFFER_SIZE) >= 0x20000
    with pytest.raises(ValueError, match=r"StreamParam\.STATISTICS"):
        stream.get_param(StreamParam.STATISTICS)


# --- misuse -----------------------------------------------------------------------------------


def _status(call: Any) -> Status:
    with pytest.raises(QuicStatusError) as info:
        call()
    return info.value.status


def test_api_misuse_is_reported(registration: Registration, pem: PemFiles) -> None:
    recorder, echo = _served(registration, pem)
    client = Client(registration, recorder)
    unloaded = Configuration(registration, [ALPN])
    assert _status(lambda: client.connection.start(unloaded, "localhost", echo.port)) == (
        Status.INVALID_STATE
    )
    server_side = echo.configuration
    assert _status(lambda: client.connection.start(server_side, "localhost", echo.port)) == (
        Status.INVALID_PARAMETER
    )
    assert _status(lambda: client.connection.set_configuration(server_side)) == Status.INVALID_STATE
    client.start(client_configuration(registration, pem), echo.port)
    client.wait_connected()

    stream = client.open_stream()
    assert _status(lambda: stream.send(b"early")) == Status.INVALID_STATE  # not started
    stream.start()
    assert _status(stream.start) == Status.INVALID_STATE
    assert _status(lambda: stream.shutdown(StreamShutdownFlags.NONE)) == Status.INVALID_PARAMETER
    graceful_abort = StreamShutdownFlags.GRACEFUL | StreamShutdownFlags.ABORT_SEND
    assert _status(lambda: stream.shutdown(graceful_abort)) == Status.INVALID_PARAMETER
    assert (
        _status(lambda: stream.shutdown(StreamShutdownFlags.IMMEDIATE)) == Status.INVALID_PARAMETER
    )
    with pytest.raises(ValueError, match="CANCEL_ON_LOSS"):
        stream.send(b"x", SendFlags.CANCEL_ON_LOSS)
    stream.send(b"last", SendFlags.FIN)
    assert _status(lambda: stream.send(b"after fin")) == Status.INVALID_STATE
    recorder.wait_event("client-stream", SE.SHUTDOWN_COMPLETE)
    stream.close()
    assert _status(lambda: stream.send(b"after close")) == Status.INVALID_STATE
    assert _status(lambda: stream.shutdown(StreamShutdownFlags.ABORT)) == Status.INVALID_STATE

    client.connection.close()
    assert _status(lambda: Stream(client.connection)) == Status.INVALID_STATE
    assert _status(lambda: client.connection.shutdown()) == Status.INVALID_STATE
    with Registration("closed") as closed:
        pass
    assert _status(lambda: Configuration(closed, [ALPN])) == Status.INVALID_STATE
    assert _status(lambda: Connection(closed)) == Status.INVALID_STATE
    assert _status(lambda: Listener(closed)) == Status.INVALID_STATE
    assert _status(lambda: Configuration(registration, [])) == Status.INVALID_PARAMETER


def test_unresolvable_name_fails_the_start(registration: Registration, pem: PemFiles) -> None:
    recorder = Recorder()
    client = Client(registration, recorder)
    client.start(client_configuration(registration, pem), 4433, name="nonexistent.invalid")
    failure = recorder.wait_event("client", CE.SHUTDOWN_INITIATED_BY_TRANSPORT)
    assert failure.status == Status.UNREACHABLE
    assert not client.wait_shutdown_complete().handshake_completed


def test_unbuffered_sends_complete_on_acknowledgement(
    registration: Registration, pem: PemFiles
) -> None:
    recorder, echo = _served(registration, pem)
    configuration = client_configuration(
        registration, pem, settings=Settings(send_buffering_enabled=False)
    )
    client = Client(registration, recorder).start(configuration, echo.port)
    client.wait_connected()
    stream = client.open_stream()
    stream.start()
    for index in range(4):
        stream.send(b"%d" % index * 50_000, client_context=index)
    stream.send(b"", SendFlags.FIN, client_context="fin")
    recorder.wait_event("client-stream", SE.SHUTDOWN_COMPLETE)
    contexts = [
        e.client_context for e in recorder.of("client-stream") if e.type == SE.SEND_COMPLETE
    ]
    assert contexts == [0, 1, 2, 3, "fin"]
    assert len(client.received) == 200_000
