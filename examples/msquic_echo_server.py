"""An echo server on pyquic's MsQuic-style API (``pyquic.api``).

Every stream a client opens is echoed back, FIN included.  The structure follows MsQuic's
sample server (``src/tools/sample/sample.c``): a registration, a configuration with the server
credential, a listener whose NEW_CONNECTION handler sets the connection's handler and
configuration, a connection handler that takes PEER_STREAM_STARTED, and a stream handler that
answers RECEIVE.

    python examples/msquic_echo_server.py --port 4433 --cert cert.pem --key key.pem

Without ``--cert``/``--key`` it makes a throw-away CA and certificate for ``localhost`` and prints
where the CA is, for ``msquic_client.py --ca``.  Stop it with Ctrl-C.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
from typing import Any

from pyquic.api import (
    Configuration,
    Connection,
    ConnectionEventType,
    CredentialConfig,
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
    StreamShutdownFlags,
)
from pyquic.testing.certificates import make_test_credentials

ALPN = "echo"


def on_stream(stream: Stream, context: Any, event: Any) -> Status:
    if event.type == StreamEventType.RECEIVE:
        fin = ReceiveFlags.FIN in event.flags
        if event.total_buffer_length or fin:
            # send buffering copies the data, so the event's buffers need not outlive the call
            stream.send(event.buffers, SendFlags.FIN if fin else SendFlags.NONE)
    elif event.type == StreamEventType.PEER_SEND_ABORTED:
        stream.shutdown(StreamShutdownFlags.ABORT, 0)
    elif event.type == StreamEventType.SHUTDOWN_COMPLETE:
        stream.close()
    return Status.SUCCESS


def on_connection(connection: Connection, context: Any, event: Any) -> Status:
    if event.type == ConnectionEventType.CONNECTED:
        print(f"[conn] connected, ALPN {event.negotiated_alpn.decode()}")
    elif event.type == ConnectionEventType.PEER_STREAM_STARTED:
        event.stream.set_callback_handler(on_stream)
    elif event.type == ConnectionEventType.SHUTDOWN_COMPLETE:
        print("[conn] shutdown complete")
        connection.close()
    return Status.SUCCESS


def make_listener_handler(configuration: Configuration) -> Any:
    def on_listener(listener: Listener, context: Any, event: Any) -> Status:
        if event.type == ListenerEventType.NEW_CONNECTION:
            info = event.info
            print(f"[list] new connection from {info.remote_address[:2]}, SNI {info.server_name}")
            event.connection.set_callback_handler(on_connection)
            event.connection.set_configuration(configuration)
        return Status.SUCCESS

    return on_listener


def credential(args: argparse.Namespace) -> CredentialConfig:
    if args.cert and args.key:
        cert, key = args.cert, args.key
    else:
        files = make_test_credentials(["localhost", "127.0.0.1", "::1"]).write_pem(
            tempfile.mkdtemp(prefix="pyquic-echo-")
        )
        cert, key = files.server_certificate, files.server_key
        print(f"[main] test certificate; clients verify it with --ca {files.ca_certificate}")
    return CredentialConfig(
        CredentialType.CERTIFICATE_FILE, certificate_file=cert, private_key_file=key
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="::")
    parser.add_argument("--port", type=int, default=4433)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()
    with Registration("echo-server") as registration:
        # MsQuic's default lets the peer open no stream: allow some
        settings = Settings(peer_bidi_stream_count=100, idle_timeout_ms=30_000)
        configuration = Configuration(registration, [ALPN], settings)
        configuration.load_credential(credential(args))
        listener = Listener(registration, make_listener_handler(configuration))
        listener.start([ALPN], (args.host, args.port))
        print(f"[main] listening on {listener.local_address[:2]}")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("\n[main] stopping")
        listener.close()


if __name__ == "__main__":
    main()
