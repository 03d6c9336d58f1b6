"""A client on pyquic's MsQuic-style API (``pyquic.api``): send a message, print the echo.

The structure follows MsQuic's sample client (``src/tools/sample/sample.c``): a registration, a
client configuration, a connection started with a server name and port, and on CONNECTED a
stream that sends the message with FIN.  The stream's RECEIVE events collect the answer; its
SHUTDOWN_COMPLETE shuts the connection down, and the connection's SHUTDOWN_COMPLETE ends the
program.  The main thread only waits: every callback runs on the registration's worker.

    python examples/msquic_client.py localhost 4433 --ca ca.pem --message "hello"
    python examples/msquic_client.py localhost 4433 --insecure   # no certificate validation
"""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

from pyquic.api import (
    Configuration,
    Connection,
    ConnectionEventType,
    CredentialConfig,
    CredentialFlags,
    Registration,
    SendFlags,
    Status,
    Stream,
    StreamEventType,
)

ALPN = "echo"


class EchoClient:
    """The client's state and its three handlers."""

    def __init__(self, message: bytes) -> None:
        self.message = message
        self.answer = bytearray()
        self.done = threading.Event()
        self.error: str | None = None

    def on_connection(self, connection: Connection, context: Any, event: Any) -> Status:
        if event.type == ConnectionEventType.CONNECTED:
            stream = Stream(connection, callback=self.on_stream)
            stream.start()
            stream.send(self.message, SendFlags.FIN)
        elif event.type == ConnectionEventType.SHUTDOWN_INITIATED_BY_TRANSPORT:
            self.error = f"transport closed the connection: {event.status!r}"
        elif event.type == ConnectionEventType.SHUTDOWN_INITIATED_BY_PEER:
            self.error = f"the server closed the connection with {event.error_code:#x}"
        elif event.type == ConnectionEventType.SHUTDOWN_COMPLETE:
            self.done.set()
        return Status.SUCCESS

    def on_stream(self, stream: Stream, context: Any, event: Any) -> Status:
        if event.type == StreamEventType.RECEIVE:
            self.answer += event.data
        elif event.type == StreamEventType.SHUTDOWN_COMPLETE:
            stream.close()
            stream.connection.shutdown()
        return Status.SUCCESS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--ca", help="PEM file of trusted CAs (default: the system store)")
    parser.add_argument("--insecure", action="store_true", help="skip certificate validation")
    parser.add_argument("--message", default="hello over QUIC")
    args = parser.parse_args()

    flags = CredentialFlags.CLIENT
    if args.insecure:
        flags |= CredentialFlags.NO_CERTIFICATE_VALIDATION
    client = EchoClient(args.message.encode())
    with Registration("echo-client") as registration:
        configuration = Configuration(registration, [ALPN])
        configuration.load_credential(CredentialConfig(flags=flags, ca_file=args.ca))
        connection = Connection(registration, client.on_connection)
        connection.start(configuration, args.host, args.port)
        if not client.done.wait(30):
            print("timed out", file=sys.stderr)
            return 1
        connection.close()
    if client.error and not client.answer:
        print(client.error, file=sys.stderr)
        return 1
    print(client.answer.decode(errors="replace"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
