"""The bulk send path (stream_burst) keeps every counter the general path keeps: a paced bulk
transfer on a simulated link accounts for each byte it put on the wire, in the statistics, the
connection's byte count and flow control (RFC 9000 §4.1), exactly as the link saw them."""

from __future__ import annotations

from sim_util import assert_intact, make_payloads, run_transfer

from pyquic.testing.network import LinkConditions
from pyquic.testing.pair import connection_pair

# 20 ms of RTT: the pacer is on (RFC 9002 §7.7), so bursts end on its allowance as well as on
# the congestion window
LINK = LinkConditions(latency_us=10_000, bandwidth_bps=100_000_000)


def test_a_paced_bulk_transfer_counts_every_byte_it_sent() -> None:
    pair = connection_pair(seed=91, conditions=LINK)
    size = 2_000_000
    result = run_transfer(
        pair,
        client_payloads=make_payloads(91, count=1, size=size),
        max_time_us=20_000_000,
        max_events=200_000,
    )
    assert_intact(result)
    client = pair.client
    on_wire = pair.network.stats("client", "server").sent_bytes
    assert client.stats.send_total_bytes == client.bytes_sent == on_wire
    assert client.stats.send_total_stream_bytes >= size
    assert client.send_credit.sent == size  # new stream bytes, each counted once (§4.1)
    # one packet per datagram but for the coalesced handshake ones
    assert client.stats.send_total_packets >= pair.network.stats("client", "server").sent_datagrams
