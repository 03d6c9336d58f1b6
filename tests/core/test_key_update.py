"""Key update (RFC 9001 §6) on the simulated network: initiated by the application or
automatically (confidentiality limit, max_bytes_per_key), followed by the peer, old keys dropped
after 3 PTO, and the key-order rule (KEY_UPDATE_ERROR, RFC 9001 §6.4)."""

from __future__ import annotations

import dataclasses

import pytest
from sim_util import assert_intact, make_payloads, run_transfer

from pyquic.core.connection import ConnectionState
from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.core.key_ring import KeyRing
from pyquic.core.key_update import confidentiality_limit
from pyquic.core.levels import EncryptionLevel
from pyquic.testing.network import LinkConditions
from pyquic.testing.pair import ConnectionPair, connection_pair, pair_settings


def _confirmed_pair(**kwargs: object) -> ConnectionPair:
    pair = connection_pair(**kwargs)  # type: ignore[arg-type]
    pair.run(lambda: pair.client.handshake_confirmed and pair.server.handshake_confirmed)
    return pair


def test_no_key_update_before_the_handshake_is_confirmed() -> None:
    pair = connection_pair()
    assert not pair.client.initiate_key_update()
    assert not pair.server.initiate_key_update()


def test_initiated_update_is_followed_by_the_peer() -> None:
    pair = _confirmed_pair()
    client, server = pair.client, pair.server
    # a packet of the current phase must have been acknowledged first (RFC 9001 §6.1)
    pair.run(lambda: client.keys.can_initiate_update(pair.network.now_us))
    assert client.initiate_key_update()
    assert client.keys.key_phase == 1 and client.keys.key_updates == 1
    assert not client.initiate_key_update()  # not before this update is acknowledged
    result = run_transfer(
        pair,
        client_payloads=make_payloads(1, 3, 50_000),
        server_payloads=make_payloads(2, 3, 50_000),
        max_time_us=20_000_000,
        max_events=100_000,
    )
    assert_intact(result)
    assert server.keys.key_phase == 1 and server.keys.key_updates == 1
    assert client.state is ConnectionState.ESTABLISHED


def test_old_keys_dropped_after_three_pto_then_another_update() -> None:
    pair = _confirmed_pair()
    client, server = pair.client, pair.server
    pair.run(lambda: client.keys.can_initiate_update(pair.network.now_us))
    assert client.initiate_key_update()
    stream = client.open_stream()
    client.send_stream(stream, b"x" * 5000, fin=True)
    pair.run(lambda: server.keys.key_updates == 1)
    assert server.keys.has_previous_generation
    # RFC 9001 §6.5: kept about 3 PTO, then gone
    pair.run_for(3_000_000)
    server.send_stream(stream, b"y", fin=True)
    pair.run(lambda: not server.keys.has_previous_generation and client.keys.key_updates == 1)
    pair.run(lambda: server.keys.can_initiate_update(pair.network.now_us))
    assert server.initiate_key_update()  # now the server updates: phase 0 again
    server.send_stream(server.open_stream(bidirectional=False), b"z" * 3000, fin=True)
    pair.run(lambda: client.keys.key_updates == 2)
    assert client.keys.key_phase == server.keys.key_phase == 0


def test_automatic_update_by_bytes_per_key() -> None:
    settings = dataclasses.replace(pair_settings(), max_bytes_per_key=100_000)
    # 2 Mbit/s: 100 kB per key lasts longer than the 3 PTO between updates (RFC 9001 §6.5)
    conditions = LinkConditions(bandwidth_bps=2_000_000)
    pair = _confirmed_pair(client_settings=settings, conditions=conditions)
    result = run_transfer(
        pair,
        client_payloads=make_payloads(3, 4, 250_000),
        max_time_us=60_000_000,
        max_events=400_000,
    )
    assert_intact(result)
    # updated again and again: each update waits 3 PTO after the previous one (RFC 9001 §6.5),
    # and the PTO grows with the queue this slow link builds (1472-byte datagrams once DPLPMTUD
    # confirmed them), so about 4 s of transfer leave room for two or three updates
    assert pair.client.keys.key_updates >= 2
    # the server follows each update when a packet in the new phase reaches it (RFC 9001 §6.2);
    # the client may start the last one after its last data, so that packet can come later
    pair.run(
        lambda: pair.server.keys.key_updates == pair.client.keys.key_updates,
        max_time_us=pair.network.now_us + 5_000_000,
    )


def test_confidentiality_limits() -> None:
    assert confidentiality_limit(0x1301) == 1 << 23  # RFC 9001 §6.6
    assert confidentiality_limit(0x1303) == 1 << 62


class _FakeKeys:
    def __init__(self, generation: int) -> None:
        self.generation = generation


class _FakeCrypto:
    def next_generation(self, keys: _FakeKeys) -> _FakeKeys:
        return _FakeKeys(keys.generation + 1)


def _ring() -> KeyRing:
    ring = KeyRing(_FakeCrypto())  # type: ignore[arg-type]
    ring.install(EncryptionLevel.APPLICATION, send=_FakeKeys(0), recv=_FakeKeys(0))  # type: ignore[arg-type]
    return ring


def test_old_keys_after_newer_is_key_update_error() -> None:
    """RFC 9001 §6.4: old keys for a packet above one that used the newer keys."""
    ring = _ring()
    assert ring.recv_keys_for_phase(1).generation == 1  # type: ignore[union-attr]
    ring.on_packet_opened(1, 10, now_us=0, pto_us=1000)  # the peer updated at pn 10
    assert ring.key_phase == 1 and ring.send_keys(EncryptionLevel.APPLICATION).generation == 1  # type: ignore[union-attr]
    assert ring.recv_keys_for_phase(0).generation == 0  # type: ignore[union-attr]
    ring.on_packet_opened(0, 9, now_us=1, pto_us=1000)  # reordered: fine
    with pytest.raises(QuicError) as info:
        ring.on_packet_opened(0, 11, now_us=2, pto_us=1000)
    assert info.value.error_code == TransportErrorCode.KEY_UPDATE_ERROR


def test_previous_keys_expire_after_three_pto() -> None:
    ring = _ring()
    ring.on_packet_opened(1, 10, now_us=0, pto_us=1000)
    assert ring.recv_keys_for_phase(0, 2999).generation == 0  # type: ignore[union-attr]
    # after 3 PTO the other phase means the *next* generation again (RFC 9001 §6.5)
    assert ring.recv_keys_for_phase(0, 3000).generation == 2  # type: ignore[union-attr]
    assert not ring.has_previous_generation


def test_initiation_needs_an_acknowledged_packet_of_the_phase() -> None:
    ring = _ring()
    assert not ring.can_initiate_update(0)
    ring.on_packet_sealed(5, 100)
    ring.on_ack(4)
    assert not ring.can_initiate_update(0)
    ring.on_ack(5)
    assert ring.can_initiate_update(0)
    ring.initiate_update()
    assert ring.key_phase == 1 and not ring.can_initiate_update(0)
