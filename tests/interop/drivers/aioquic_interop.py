"""aioquic as an endpoint of the QUIC interop runner, for the local runner's matrix.

It keeps the runner's endpoint contract (``/work/shared/design/interop-runner.md`` §3) the way
``pyquic interop`` keeps it: ``ROLE``, ``TESTCASE``, ``REQUESTS``, ``SSLKEYLOGFILE`` and
``QLOGDIR`` from the environment, and instead of the container mounts ``WWW``, ``DOWNLOADS``,
``CERTS`` (``cert.pem``, ``priv.key``), ``HOST`` and ``PORT`` (0: any port; the server prints
``listening on HOST:PORT`` when ready and runs until SIGTERM).  Exit status 0 when every file
was downloaded, 1 on failure, 127 for a test case aioquic cannot do.

Design: only aioquic's public API (``aioquic.asyncio``, ``QuicConfiguration``, the ``h0`` and
``h3`` connection classes), one protocol class for both roles.  Every case maps to a
:class:`Case`; the HTTP layer is ``H0Connection`` for ``hq-interop`` and ``H3Connection`` for
``h3`` behind the same ``send_headers``/``send_data``/``handle_event`` calls.  The server offers
both ALPNs in every case (as ``pyquic interop`` does), so an h3-only client can run any case
against it.  What maps to what: retry is ``serve(retry=True)``; resumption and zerortt keep the
first connection's session ticket (the server stores tickets in memory) and, for zerortt, send
the second connection's requests before the handshake completes (RFC 9001 §4.6); keyupdate calls
``request_key_update`` (RFC 9001 §6), which aioquic defers until the handshake is confirmed;
chacha20 restricts ``cipher_suites``; v2 starts in v1 and offers v2 first for compatible version
negotiation (RFC 9368, RFC 9369), through ``QuicConfiguration.original_version``.
Unsupported (127): ecn (aioquic neither marks nor counts ECN) and connectionmigration (aioquic
neither offers nor follows a preferred address).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol, QuicStreamHandler
from aioquic.asyncio.server import serve
from aioquic.h0.connection import H0Connection
from aioquic.h3.connection import H3Connection
from aioquic.h3.events import DataReceived, H3Event, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.events import HandshakeCompleted, ProtocolNegotiated, QuicEvent
from aioquic.quic.logger import QuicFileLogger
from aioquic.quic.packet import QuicProtocolVersion
from aioquic.tls import CipherSuite, SessionTicket

from pyquic.tools.interop_runner import TRANSFER_CASES

EXIT_UNSUPPORTED = 127
HQ, H3 = "hq-interop", "h3"
TICKET_WAIT_S = 2.0
MAX_CONCURRENT_REQUESTS = 50  # bounds the streams of multiplexing's 1999 files
MAX_DATA_BYTES = 16 << 20  # flow control windows large enough for the runner's 10 Mbit/s link
# aioquic's CUBIC rather than its default NewReno: it keeps the 25-packet bottleneck queue busier
CONGESTION_CONTROL = "cubic"

# the runner's cases that are file transfers to both endpoints (goodput is run as transfer)
ENDPOINT_TRANSFER_CASES = TRANSFER_CASES - {"goodput"}


@dataclass(frozen=True)
class Case:
    """What one test case asks of aioquic."""

    alpn: str = HQ
    retry: bool = False
    resumption: bool = False
    zero_rtt: bool = False
    key_update: bool = False
    chacha20: bool = False
    v2: bool = False
    multiconnect: bool = False


_TRANSFER = Case()
_MULTICONNECT = Case(multiconnect=True)
CASES: Mapping[str, Case] = {
    # the endpoint test cases that are plain file transfers (the runner's own list)
    **dict.fromkeys(sorted(ENDPOINT_TRANSFER_CASES), _TRANSFER),
    **dict.fromkeys(("multiconnect", "handshakeloss", "handshakecorruption"), _MULTICONNECT),
    "http3": Case(alpn=H3),
    "retry": Case(retry=True),
    "resumption": Case(resumption=True),
    "zerortt": Case(resumption=True, zero_rtt=True),
    "keyupdate": Case(key_update=True),
    "chacha20": Case(chacha20=True),
    "v2": Case(v2=True),
}
UNSUPPORTED = {
    "ecn": "aioquic neither sets ECN marks nor reports ECN counts",
    "connectionmigration": "aioquic neither offers nor follows a preferred_address",
}


def log(message: str) -> None:
    role = os.environ.get("ROLE", "?")
    print(f"aioquic interop {role}: {message}", file=sys.stderr, flush=True)


def configuration(case: Case, is_client: bool) -> QuicConfiguration:
    """The QuicConfiguration of ``case`` for one role, from the environment."""
    config = QuicConfiguration(
        alpn_protocols=[case.alpn] if is_client else [HQ, H3],
        is_client=is_client,
        max_data=MAX_DATA_BYTES,
        max_stream_data=MAX_DATA_BYTES,
        congestion_control_algorithm=CONGESTION_CONTROL,
        verify_mode=0,  # ssl.CERT_NONE: the runner does not ask clients to verify the chain
    )
    if case.chacha20:
        config.cipher_suites = [CipherSuite.CHACHA20_POLY1305_SHA256]
    if case.v2:
        # start in v1, offer v2 first: the server switches (compatible version negotiation)
        config.supported_versions = [QuicProtocolVersion.VERSION_2, QuicProtocolVersion.VERSION_1]
        if is_client:
            config.original_version = QuicProtocolVersion.VERSION_1
    if os.environ.get("QLOGDIR"):
        Path(os.environ["QLOGDIR"]).mkdir(parents=True, exist_ok=True)
        config.quic_logger = QuicFileLogger(os.environ["QLOGDIR"])
    if os.environ.get("SSLKEYLOGFILE"):
        config.secrets_log_file = open(os.environ["SSLKEYLOGFILE"], "a")  # noqa: SIM115
    if not is_client:
        certs = Path(os.environ.get("CERTS", "/certs"))
        config.load_cert_chain(certs / "cert.pem", certs / "priv.key")
    return config


class Endpoint(QuicConnectionProtocol):
    """One connection, either role: the HTTP layer of the negotiated ALPN on top of it."""

    def __init__(
        self, quic: QuicConnection, stream_handler: QuicStreamHandler | None = None
    ) -> None:
        super().__init__(quic, stream_handler)
        self.http: H0Connection | H3Connection | None = None
        self.root: Path | None = None  # set on servers
        self.responses: dict[int, Response] = {}

    def start_http(self, alpn: str) -> None:
        if self.http is None:
            self.http = H3Connection(self._quic) if alpn == H3 else H0Connection(self._quic)

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, ProtocolNegotiated) and event.alpn_protocol:
            self.start_http(event.alpn_protocol)  # before any 0-RTT request is delivered
        if isinstance(event, HandshakeCompleted):
            log(
                f"handshake completed: alpn {event.alpn_protocol}, resumed "
                f"{event.session_resumed}, early data accepted {event.early_data_accepted}"
            )
        if self.http is None:
            return
        for http_event in self.http.handle_event(event):
            self.http_event_received(http_event)

    def http_event_received(self, event: H3Event) -> None:
        if self.root is not None:
            if isinstance(event, HeadersReceived):
                self.answer(event)
            return
        if isinstance(event, (HeadersReceived, DataReceived)):
            response = self.responses.get(event.stream_id)
            if response is not None:
                response.received(event)

    def answer(self, event: HeadersReceived) -> None:
        """Serve the file ``event``'s ``:path`` names under the document root (404 if none)."""
        assert self.http is not None and self.root is not None
        path = dict(event.headers).get(b":path", b"/").decode("utf-8", "replace")
        target = (self.root / path.lstrip("/").split("?")[0]).resolve()
        found = self.root in target.parents and target.is_file()
        status = b"200" if found else b"404"
        self.http.send_headers(event.stream_id, [(b":status", status)])
        self.http.send_data(event.stream_id, target.read_bytes() if found else b"", True)
        self.transmit()

    async def fetch(self, authority: str, path: str, sink: BinaryIO) -> None:
        """GET ``path`` into ``sink``; ConnectionError unless it ends with FIN (and 200)."""
        assert self.http is not None
        stream_id = self._quic.get_next_available_stream_id()
        response = Response(sink)
        self.responses[stream_id] = response
        headers = [(b":method", b"GET"), (b":scheme", b"https")]
        headers += [(b":authority", authority.encode()), (b":path", path.encode())]
        self.http.send_headers(stream_id, headers, end_stream=True)
        self.transmit()
        closed = asyncio.ensure_future(self.wait_closed())
        try:
            await asyncio.wait([closed, response.done], return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
        if not response.done.done():
            raise ConnectionError(f"{path}: the connection closed before the response ended")
        if response.status not in (None, b"200"):
            raise ConnectionError(f"{path}: status {response.status!r}")


class Response:
    """One response being written to its file."""

    def __init__(self, sink: BinaryIO) -> None:
        self.sink = sink
        self.status: bytes | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def received(self, event: HeadersReceived | DataReceived) -> None:
        if isinstance(event, HeadersReceived):
            self.status = dict(event.headers).get(b":status", self.status)
        else:
            self.sink.write(event.data)
        if event.stream_ended and not self.done.done():
            self.done.set_result(None)


# --- server ------------------------------------------------------------------------------------


async def run_server(case: Case) -> int:
    root = Path(os.environ.get("WWW", "/www")).resolve()
    host, port = os.environ.get("HOST", "::"), int(os.environ.get("PORT", "443"))
    tickets: dict[bytes, SessionTicket] = {}

    def create_protocol(
        quic: QuicConnection, stream_handler: QuicStreamHandler | None = None
    ) -> Endpoint:
        endpoint = Endpoint(quic, stream_handler)
        endpoint.root = root
        return endpoint

    server = await serve(
        host,
        port,
        configuration=configuration(case, is_client=False),
        create_protocol=create_protocol,
        session_ticket_fetcher=lambda label: tickets.pop(label, None),  # good for one resumption
        session_ticket_handler=lambda ticket: tickets.__setitem__(ticket.ticket, ticket),
        retry=case.retry,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    transport = server._transport  # aioquic has no public accessor for the bound address
    assert transport is not None
    bound = transport.get_extra_info("sockname")
    shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    print(f"aioquic interop server: listening on {shown}:{bound[1]}", flush=True)
    await stop.wait()
    server.close()
    return 0


# --- client ------------------------------------------------------------------------------------


def batches_of(case: Case, urls: list[str]) -> list[list[str]]:
    """The connections the client opens, each with its URLs."""
    if case.multiconnect:
        return [[url] for url in urls]
    if case.resumption:
        return [urls[:1], urls[1:]]
    return [urls]


async def run_client(case: Case) -> int:
    urls = os.environ.get("REQUESTS", "").split()
    if not urls:
        log("error: REQUESTS is empty")
        return 1
    downloads = Path(os.environ.get("DOWNLOADS", "/downloads"))
    downloads.mkdir(parents=True, exist_ok=True)
    base = configuration(case, is_client=True)
    tickets: list[SessionTicket] = []
    started = time.monotonic()
    for index, batch in enumerate(batches_of(case, urls)):
        config = base
        if index == 1 and case.resumption:
            if not tickets:
                log("error: no session ticket arrived on the first connection")
                return 1
            config = replace(base, session_ticket=tickets[-1])
        failures = await one_connection(case, config, batch, downloads, tickets, index)
        if failures:
            for failure in failures:
                log(f"error: {failure}")
            return 1
    log(f"{len(urls)} files in {time.monotonic() - started:.2f} s")
    return 0


async def one_connection(
    case: Case,
    config: QuicConfiguration,
    urls: list[str],
    downloads: Path,
    tickets: list[SessionTicket],
    index: int,
) -> list[str]:
    """Download ``urls`` over one connection (new session tickets go to ``tickets``)."""
    first = urlsplit(urls[0])
    host, port = first.hostname or "localhost", first.port or 443
    config = replace(config, server_name=host)
    early = case.zero_rtt and config.session_ticket is not None
    try:
        async with connect(
            host,
            port,
            configuration=config,
            create_protocol=Endpoint,
            session_ticket_handler=tickets.append,
            wait_connected=not early,  # zerortt: the requests go out in 0-RTT
        ) as protocol:
            assert isinstance(protocol, Endpoint)
            protocol.start_http(case.alpn)
            if early:
                log("sending the requests in 0-RTT")
            if case.key_update:
                protocol.request_key_update()  # deferred by aioquic until confirmed
            failures = await fetch_all(protocol, urls, downloads)
            if case.resumption and index == 0:
                await wait_ticket(tickets)
            # leaving the context closes the connection and waits out the closing period
    except (ConnectionError, OSError, TimeoutError) as exc:
        return [f"{type(exc).__name__}: {exc}"]
    return failures


async def fetch_all(protocol: Endpoint, urls: list[str], downloads: Path) -> list[str]:
    limit = asyncio.Semaphore(MAX_CONCURRENT_REQUESTS)

    async def one(url: str) -> str | None:
        parts = urlsplit(url)
        name = Path(parts.path).name or "index.html"
        async with limit:
            try:
                with (downloads / name).open("wb") as sink:
                    await protocol.fetch(parts.netloc, parts.path or "/", sink)
            except ConnectionError as exc:
                (downloads / name).unlink(missing_ok=True)
                return str(exc)
        return None

    results = await asyncio.gather(*(one(url) for url in urls))
    return [result for result in results if result is not None]


async def wait_ticket(tickets: list[SessionTicket]) -> None:
    """Give the server's NewSessionTicket time to arrive (it may follow the responses)."""
    deadline = time.monotonic() + TICKET_WAIT_S
    while not tickets and time.monotonic() < deadline:
        await asyncio.sleep(0.01)


def main() -> int:
    role, testcase = os.environ.get("ROLE", ""), os.environ.get("TESTCASE", "")
    if role not in ("client", "server"):
        log(f"ROLE must be client or server, not {role!r}")
        return 1
    case = CASES.get(testcase)
    if case is None:
        log(f"test case {testcase!r} is not supported: {UNSUPPORTED.get(testcase, 'unknown')}")
        return EXIT_UNSUPPORTED
    runner = run_server(case) if role == "server" else run_client(case)
    return asyncio.run(runner)


if __name__ == "__main__":
    sys.exit(main())
