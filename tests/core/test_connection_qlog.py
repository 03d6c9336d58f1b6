"""A connection's qlog trace: packets with their frames, recovery metrics, congestion states."""

from __future__ import annotations

from pyquic.core.events import HandshakeCompleted, StreamReadable
from pyquic.testing.network import LinkConditions
from pyquic.testing.pair import connection_pair


def test_qlog_events_of_a_transfer_with_loss() -> None:
    client_events: list[dict[str, object]] = []
    server_events: list[dict[str, object]] = []
    pair = connection_pair(
        seed=3,
        conditions=LinkConditions(latency_us=10_000, loss_rate=0.05),
        client_qlog=client_events.append,
        server_qlog=server_events.append,
    )
    client, server = pair.client, pair.server
    done = {"handshakes": 0, "received": 0, "stream": -1, "readable": 0}
    payload = bytes(range(256)) * 2000  # 512 000 bytes

    def step() -> bool:
        for connection in (client, server):
            while (event := connection.poll_event()) is not None:
                if isinstance(event, HandshakeCompleted):
                    done["handshakes"] += 1
                elif isinstance(event, StreamReadable):
                    done["readable"] = 1
        if done["handshakes"] == 2 and done["stream"] < 0:
            done["stream"] = client.open_stream()
            client.send_stream(done["stream"], payload, fin=True)
        if done["readable"]:
            data, fin = server.read_stream(done["stream"])
            done["received"] += len(data)
            return fin
        return False

    pair.run(step, max_time_us=60_000_000)
    assert done["received"] == len(payload)

    names = [str(event["name"]) for event in client_events]
    for expected in (
        "quic:packet_sent",
        "quic:packet_received",
        "quic:recovery_metrics_updated",
        "quic:congestion_state_updated",
        "quic:parameters_set",
    ):
        assert expected in names, expected
    sent = [e for e in client_events if e["name"] == "quic:packet_sent"]
    frame_types = {
        frame["frame_type"]
        for event in sent
        for frame in event["data"]["frames"]  # type: ignore[index,union-attr]
    }
    assert {"crypto", "stream", "ack"} <= frame_types
    received = [e for e in server_events if e["name"] == "quic:packet_received"]
    assert any(
        frame["frame_type"] == "stream"
        for event in received
        for frame in event["data"]["frames"]  # type: ignore[index,union-attr]
    )
    times = [float(event["time"]) for event in client_events]  # type: ignore[arg-type]
    assert times == sorted(times)
