"""0-RTT between two connections on the simulated network (RFC 9001 §4.6, RFC 9000 §7.4.1)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from typing import Any

from pyquic.core.connection import ConnectionState
from pyquic.core.events import HandshakeCompleted, StreamReadable, TlsNotice
from pyquic.core.levels import EncryptionLevel
from pyquic.core.transport_params import TransportParameters, parse_transport_parameters
from pyquic.platform.tls import (
    AntiReplay,
    SessionTicket,
    SessionTicketReceived,
    SingleUseTicketRegistry,
    TicketSealer,
    TlsConfig,
)
from pyquic.testing.certificates import make_test_credentials
from pyquic.testing.pair import DEFAULT_EPOCH, ConnectionPair, connection_pair

PAYLOAD = bytes(range(256)) * 8  # 2 KiB: more than one 0-RTT packet


class Servers:
    """One ticket sealer and anti-replay store shared by the servers of a test."""

    def __init__(self) -> None:
        self.sealer = TicketSealer.generate(os.urandom, DEFAULT_EPOCH.timestamp())
        self.anti_replay = AntiReplay(single_use=SingleUseTicketRegistry())

    def tls(self, *, early_data: bool = True) -> Any:
        def customize(config: TlsConfig) -> TlsConfig:
            return dataclasses.replace(
                config,
                ticket_sealer=self.sealer,
                anti_replay=self.anti_replay,
                enable_early_data=early_data,
            )

        return customize


def _events(conn: Any) -> list[object]:
    events = []
    while (event := conn.poll_event()) is not None:
        events.append(event)
    return events


def _first_ticket(servers: Servers, pki: Any) -> SessionTicket:
    pair = connection_pair(pki=pki, customize_server_tls=servers.tls())
    tickets: list[SessionTicket] = []

    def got_ticket() -> bool:
        for event in _events(pair.client):
            if isinstance(event, TlsNotice) and isinstance(event.event, SessionTicketReceived):
                tickets.append(event.event.ticket)
        return bool(tickets)

    pair.run(got_ticket)
    return tickets[0]


def _resumed_pair(
    servers: Servers, pki: Any, ticket: SessionTicket, *, early_data: bool = True
) -> tuple[ConnectionPair, list[dict[str, Any]], TransportParameters]:
    remembered = parse_transport_parameters(ticket.transport_parameters, from_server=True)
    qlog: list[dict[str, Any]] = []

    def client_tls(config: TlsConfig) -> TlsConfig:
        return dataclasses.replace(config, session_ticket=ticket, enable_early_data=True)

    pair = connection_pair(
        pki=pki,
        epoch=DEFAULT_EPOCH + dt.timedelta(seconds=1),
        customize_client_tls=client_tls,
        customize_server_tls=servers.tls(early_data=early_data),
        client_qlog=qlog.append,
        remembered_parameters=remembered,
    )
    return pair, qlog, remembered


def _zero_rtt_sent(qlog: list[dict[str, Any]]) -> int:
    return sum(
        1
        for event in qlog
        if event.get("name", "").endswith("packet_sent")
        and event["data"]["header"]["packet_type"] == "0RTT"
    )


def _send_and_receive(pair: ConnectionPair) -> tuple[bytes, list[object]]:
    client = pair.client
    assert client.keys.can_send(EncryptionLevel.EARLY_DATA)
    stream_id = client.open_stream()
    client.send_stream(stream_id, PAYLOAD, fin=True)
    received = bytearray()
    client_events: list[object] = []
    done = False

    def finished() -> bool:
        nonlocal done
        client_events.extend(_events(client))
        for event in _events(pair.server):
            if isinstance(event, StreamReadable):
                data, fin = pair.server.read_stream(event.stream_id)
                received.extend(data)
                done |= fin
        return done and client.state is ConnectionState.ESTABLISHED

    pair.run(finished)
    return bytes(received), client_events


def test_zero_rtt_accepted() -> None:
    servers, pki = Servers(), make_test_credentials(now=DEFAULT_EPOCH)
    ticket = _first_ticket(servers, pki)
    assert ticket.allows_early_data
    pair, qlog, _ = _resumed_pair(servers, pki, ticket)
    received, events = _send_and_receive(pair)
    assert received == PAYLOAD
    assert _zero_rtt_sent(qlog) >= 2
    completed = [e for e in events if isinstance(e, HandshakeCompleted)]
    assert completed and completed[0].early_data_accepted
    # RFC 9001 §4.9.3: 1-RTT replaces 0-RTT
    assert pair.client.keys.is_discarded(EncryptionLevel.EARLY_DATA)
    assert pair.client.stats.send_retransmitted_bytes == 0


def test_zero_rtt_rejected_data_resent_in_one_rtt() -> None:
    servers, pki = Servers(), make_test_credentials(now=DEFAULT_EPOCH)
    ticket = _first_ticket(servers, pki)
    pair, qlog, _ = _resumed_pair(servers, pki, ticket, early_data=False)
    received, events = _send_and_receive(pair)
    assert received == PAYLOAD
    assert _zero_rtt_sent(qlog) >= 1
    completed = [e for e in events if isinstance(e, HandshakeCompleted)]
    assert completed and not completed[0].early_data_accepted
    assert pair.client.stats.send_retransmitted_bytes >= len(PAYLOAD)


def test_zero_rtt_respects_remembered_limits() -> None:
    servers, pki = Servers(), make_test_credentials(now=DEFAULT_EPOCH)
    ticket = _first_ticket(servers, pki)
    remembered = parse_transport_parameters(ticket.transport_parameters, from_server=True)
    small = dataclasses.replace(remembered, initial_max_data=1000)
    qlog: list[dict[str, Any]] = []

    def client_tls(config: TlsConfig) -> TlsConfig:
        return dataclasses.replace(config, session_ticket=ticket, enable_early_data=True)

    pair = connection_pair(
        pki=pki,
        epoch=DEFAULT_EPOCH + dt.timedelta(seconds=1),
        customize_client_tls=client_tls,
        customize_server_tls=servers.tls(),
        client_qlog=qlog.append,
        remembered_parameters=small,
    )
    stream_id = pair.client.open_stream()
    pair.client.send_stream(stream_id, PAYLOAD, fin=True)
    pair.client.datagrams_to_send(pair.network.now_us)
    assert pair.client.send_credit.sent == 1000  # initial_max_data (RFC 9000 §7.4.1)
    stream_bytes = sum(
        frame["raw"]["length"]
        for event in qlog
        if event.get("name", "").endswith("packet_sent")
        and event["data"]["header"]["packet_type"] == "0RTT"
        for frame in event["data"].get("frames", [])
        if frame.get("frame_type") == "stream"
    )
    assert stream_bytes == 1000
