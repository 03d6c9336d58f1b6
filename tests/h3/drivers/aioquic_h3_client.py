"""An aioquic HTTP/3 client (aioquic.h3.connection.H3Connection) for pyquic's h3 tests.

Sends ``--count`` concurrent requests for ``--path`` on one connection (``{i}`` in the path is
replaced by the request's index) and prints ``response index=I status=S bytes=B sha256=H
x-path=P`` per response, then ``done count=N``.  Gives up after ``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib

from aioquic.asyncio import QuicConnectionProtocol, connect
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, H3Event, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import QuicEvent


class Client(QuicConnectionProtocol):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.h3 = H3Connection(self._quic)
        self.waiters: dict[int, asyncio.Future[tuple[list[tuple[bytes, bytes]], bytes]]] = {}
        self.headers: dict[int, list[tuple[bytes, bytes]]] = {}
        self.bodies: dict[int, bytearray] = {}

    def quic_event_received(self, event: QuicEvent) -> None:
        for h3_event in self.h3.handle_event(event):
            self._h3_event(h3_event)

    def _h3_event(self, event: H3Event) -> None:
        if isinstance(event, HeadersReceived):
            self.headers[event.stream_id] = event.headers
        elif isinstance(event, DataReceived):
            self.bodies.setdefault(event.stream_id, bytearray()).extend(event.data)
        if getattr(event, "stream_ended", False):
            waiter = self.waiters.pop(event.stream_id)
            body = bytes(self.bodies.pop(event.stream_id, b""))
            waiter.set_result((self.headers.pop(event.stream_id), body))

    async def get(
        self, authority: str, path: str, body: bytes
    ) -> tuple[list[tuple[bytes, bytes]], bytes]:
        stream_id = self._quic.get_next_available_stream_id()
        method = b"POST" if body else b"GET"
        headers = [
            (b":method", method),
            (b":scheme", b"https"),
            (b":authority", authority.encode()),
            (b":path", path.encode()),
        ]
        self.h3.send_headers(stream_id, headers, end_stream=not body)
        if body:
            self.h3.send_data(stream_id, body, end_stream=True)
        waiter = asyncio.get_running_loop().create_future()
        self.waiters[stream_id] = waiter
        self.transmit()
        return await waiter


async def main(args: argparse.Namespace) -> None:
    configuration = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN)
    configuration.load_verify_locations(args.ca)
    configuration.server_name = "localhost"
    async with connect(
        args.host, args.port, configuration=configuration, create_protocol=Client
    ) as client:
        assert isinstance(client, Client)
        authority = f"localhost:{args.port}"

        async def one(index: int) -> None:
            path = args.path.replace("{i}", str(index))
            body = args.body.replace("{i}", str(index)).encode()
            headers, data = await client.get(authority, path, body)
            fields = dict(headers)
            status = fields[b":status"].decode()
            digest = hashlib.sha256(data).hexdigest()
            x_path = fields.get(b"x-path", b"-").decode()
            print(
                f"response index={index} status={status} bytes={len(data)} sha256={digest} "
                f"x-path={x_path} body={data[:40].hex()}",
                flush=True,
            )

        await asyncio.gather(*(one(index) for index in range(args.count)))
        print(f"done count={args.count}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--path", default="/")
    parser.add_argument("--body", default="")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=60.0)
    arguments = parser.parse_args()
    asyncio.run(asyncio.wait_for(main(arguments), arguments.timeout))
