"""Session tickets: the client's blob and store, the server's sealer, 0-RTT anti-replay
(RFC 8446 §4.2.11, §4.6.1, §8; RFC 9001 §4.6)."""

from __future__ import annotations

import dataclasses
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyquic.platform.tls.tickets import (
    MAX_TICKET_LIFETIME_S,
    QUIC_MAX_EARLY_DATA_SIZE,
    AntiReplay,
    ClientTicketStore,
    SessionTicket,
    SingleUseTicketRegistry,
    StrikeRegister,
    TicketSealer,
    TicketState,
    compute_early_data_context,
    is_fresh,
)

T0 = 1_700_000_000.0  # an arbitrary wall time, seconds since the epoch
DAY_S = 86_400.0


def seeded(seed: int = 1) -> random.Random:
    return random.Random(seed)


def client_ticket(**changes: object) -> SessionTicket:
    ticket = SessionTicket(
        ticket=b"opaque-ticket",
        psk=bytes(32),
        cipher_suite=0x1301,
        server_name="server.test",
        alpn=b"h3",
        issued_at_s=T0,
        lifetime_s=3600,
        age_add=0x1234_5678,
        max_early_data_size=QUIC_MAX_EARLY_DATA_SIZE,
        transport_parameters=b"\x04\x04\x80\x10\x00\x00",
    )
    return dataclasses.replace(ticket, **changes)  # type: ignore[arg-type]


def server_state(**changes: object) -> TicketState:
    state = TicketState(
        psk=bytes(range(32)),
        cipher_suite=0x1302,
        server_name="server.test",
        alpn=b"h3",
        issued_at_s=T0,
        lifetime_s=7200,
        age_add=0xFFFF_FF00,
        max_early_data_size=QUIC_MAX_EARLY_DATA_SIZE,
        early_data_context=compute_early_data_context(b"tp", b"settings"),
        client_authenticated=True,
        rtt_ms=50,
    )
    return dataclasses.replace(state, **changes)  # type: ignore[arg-type]


def sealer(seed: int = 1, now: float = T0, interval_s: float = DAY_S) -> TicketSealer:
    return TicketSealer.generate(seeded(seed).randbytes, now, rotation_interval_s=interval_s)


# -- SessionTicket -----------------------------------------------------------------------------


def test_rfc8446_obfuscated_age_is_age_ms_plus_age_add_mod_2_32() -> None:
    ticket = client_ticket(age_add=0xFFFF_FF00)
    assert ticket.age_ms(T0 + 2.5) == 2500
    assert ticket.obfuscated_age(T0 + 2.5) == (2500 + 0xFFFF_FF00) % 2**32 == 2244
    assert ticket.obfuscated_age(T0 - 5) == 0xFFFF_FF00  # a clock gone back counts as age 0


def test_rfc8446_ticket_expiry_and_zero_lifetime() -> None:
    ticket = client_ticket(lifetime_s=60)
    assert not ticket.is_expired(T0 + 59.999)
    assert ticket.is_expired(T0 + 60)
    assert client_ticket(lifetime_s=0).is_expired(T0)  # §4.6.1: discard immediately
    assert ticket.allows_early_data
    assert not client_ticket(max_early_data_size=0).allows_early_data


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"lifetime_s": MAX_TICKET_LIFETIME_S + 1}, "lifetime_s"),
        ({"max_early_data_size": 16384}, "max_early_data_size"),
        ({"ticket": b""}, "ticket length"),
        ({"alpn": b""}, "alpn length"),
        ({"age_add": 2**32}, "age_add"),
        ({"psk": b""}, "psk length"),
        ({"issued_at_s": float("nan")}, "issued_at_s"),
    ],
)
def test_session_ticket_rejects_invalid_fields(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        client_ticket(**changes)


@pytest.mark.parametrize("alpn", [b"h3", None])
def test_ticket_blob_roundtrip(alpn: bytes | None) -> None:
    ticket = client_ticket(alpn=alpn, issued_at_s=T0 + 0.125, server_name="bücher.test")
    blob = ticket.to_bytes()
    assert SessionTicket.from_bytes(blob) == ticket
    assert blob[:4] == b"PQST"


def test_ticket_blob_garbage_raises_value_error() -> None:
    blob = client_ticket().to_bytes()
    with pytest.raises(ValueError, match="bad magic"):
        SessionTicket.from_bytes(b"garbage")
    with pytest.raises(ValueError, match="version 2"):
        SessionTicket.from_bytes(blob[:4] + b"\x02" + blob[5:])
    with pytest.raises(ValueError, match="trailing bytes"):
        SessionTicket.from_bytes(blob + b"\x00")
    for cut in range(4, len(blob)):
        with pytest.raises(ValueError, match="corrupt session ticket blob"):
            SessionTicket.from_bytes(blob[:cut])


def test_ticket_blob_with_invalid_values_raises_value_error() -> None:
    blob = bytearray(client_ticket(server_name="ab").to_bytes())
    name_at = blob.index(b"ab")
    bad_utf8 = bytes(blob[:name_at]) + b"\xff\xfe" + bytes(blob[name_at + 2 :])
    with pytest.raises(ValueError, match="corrupt session ticket blob"):
        SessionTicket.from_bytes(bad_utf8)
    lifetime_at = len(blob) - 2 - 6 - 4 - 4 - 4  # transport params, med, age_add, lifetime
    blob[lifetime_at : lifetime_at + 4] = (MAX_TICKET_LIFETIME_S + 1).to_bytes(4, "big")
    with pytest.raises(ValueError, match="lifetime_s"):
        SessionTicket.from_bytes(bytes(blob))


@given(st.binary(max_size=200))
def test_ticket_blob_arbitrary_bytes_raise_only_value_error(data: bytes) -> None:
    for candidate in (data, b"PQST\x01" + data):
        try:
            parsed = SessionTicket.from_bytes(candidate)
        except ValueError:
            continue
        assert parsed.to_bytes() == candidate  # whatever parses is canonical


# -- ClientTicketStore -------------------------------------------------------------------------


def test_store_returns_newest_ticket_once() -> None:
    store = ClientTicketStore()
    old, new = client_ticket(ticket=b"old"), client_ticket(ticket=b"new", issued_at_s=T0 + 1)
    store.add(old, T0 + 1)
    store.add(new, T0 + 1)
    assert len(store) == 2
    assert store.take("server.test", T0 + 2) == new  # RFC 8446 §C.4: single use
    assert store.take("server.test", T0 + 2) == old
    assert store.take("server.test", T0 + 2) is None
    assert store.take("other.test", T0 + 2) is None
    assert len(store) == 0


def test_store_skips_expired_and_filters_alpn() -> None:
    store = ClientTicketStore()
    store.add(client_ticket(lifetime_s=0), T0)  # discarded at once
    assert len(store) == 0
    short = client_ticket(ticket=b"short", lifetime_s=10, issued_at_s=T0 + 1)
    h3 = client_ticket(ticket=b"h3")
    store.add(h3, T0)
    store.add(short, T0 + 1)
    other = client_ticket(ticket=b"doq", alpn=b"doq")
    store.add(other, T0)
    assert store.take("server.test", T0 + 2, alpns=[b"h3"]) == short
    store.add(short, T0 + 1)
    assert store.take("server.test", T0 + 20, alpns=[b"h3"]) == h3  # short has expired
    assert store.take("server.test", T0 + 20, alpns=[b"h3"]) is None
    assert store.take("server.test", T0 + 20) == other
    assert len(store) == 0


def test_store_bounds_per_server_and_total() -> None:
    store = ClientTicketStore(max_tickets=4, max_per_server=2)
    for i in range(3):
        store.add(client_ticket(ticket=b"a%d" % i, server_name="a.test"), T0)
    assert len(store) == 2  # a0 dropped: per-server bound
    for i in range(3):
        store.add(client_ticket(ticket=b"b%d" % i, server_name="b.test"), T0)
    store.add(client_ticket(ticket=b"c0", server_name="c.test"), T0)
    assert len(store) == 4  # a1 made room for c0: a.test is the least recently refilled
    kept = store.take("a.test", T0)
    assert kept is not None and kept.ticket == b"a2"
    assert store.take("a.test", T0) is None
    assert store.take("c.test", T0) is not None
    taken = [store.take("b.test", T0), store.take("b.test", T0)]
    assert [t.ticket for t in taken if t] == [b"b2", b"b1"]


def test_store_reusable_mode_and_discard() -> None:
    store = ClientTicketStore(single_use=False)
    ticket = client_ticket()
    store.add(ticket, T0)
    assert store.take("server.test", T0) == ticket
    assert store.take("server.test", T0) == ticket
    store.discard("server.test")
    assert store.take("server.test", T0) is None
    assert len(store) == 0
    with pytest.raises(ValueError):
        ClientTicketStore(max_tickets=0)


# -- TicketSealer ------------------------------------------------------------------------------


def test_seal_open_roundtrip() -> None:
    s = sealer()
    state = server_state()
    ticket = s.seal(state, T0 + 1)
    opened = s.open(ticket, T0 + 2)
    assert opened is not None
    assert dataclasses.replace(opened, ticket_id=b"") == state
    assert opened.ticket_id == ticket[:16]
    assert ticket[:4] == int(T0 // DAY_S).to_bytes(4, "big")  # the key id is the epoch
    second = s.seal(state, T0 + 1)
    assert second != ticket
    opened_second = s.open(second, T0 + 2)
    assert opened_second is not None and opened_second.ticket_id != opened.ticket_id


def test_seal_open_roundtrip_without_optional_fields() -> None:
    s = sealer()
    state = server_state(
        server_name=None,
        alpn=None,
        max_early_data_size=0,
        early_data_context=b"",
        client_authenticated=False,
        rtt_ms=0,
    )
    opened = s.open(s.seal(state, T0), T0)
    assert opened is not None
    assert dataclasses.replace(opened, ticket_id=b"") == state


def test_tampered_or_foreign_tickets_do_not_open() -> None:
    s = sealer()
    ticket = s.seal(server_state(), T0)
    for i in range(len(ticket)):
        altered = bytearray(ticket)
        altered[i] ^= 0x01
        assert s.open(bytes(altered), T0) is None
    assert s.open(ticket[:-1], T0) is None
    assert s.open(ticket + b"\x00", T0) is None
    assert s.open(b"", T0) is None
    assert s.open(bytes(70_000), T0) is None
    assert sealer(seed=2).open(ticket, T0) is None  # another deployment's key


@given(st.binary(max_size=300))
def test_open_arbitrary_bytes_returns_none(data: bytes) -> None:
    assert sealer().open(data, T0) is None


def test_key_rotation_previous_key_opens_older_does_not() -> None:
    interval = 3600.0
    s = sealer(interval_s=interval)
    epoch_start = (T0 // interval) * interval
    # Issued "in the future" so that expiry cannot be what refuses the ticket below.
    state = server_state(lifetime_s=3600, issued_at_s=epoch_start + 2 * interval)
    ticket = s.seal(state, epoch_start + 10)
    assert s.open(ticket, epoch_start + 20) is not None  # current key
    assert s.open(ticket, epoch_start + interval + 10) is not None  # previous key
    assert s.open(ticket, epoch_start + 2 * interval + 10) is None  # older: the key is erased
    fresh = s.seal(state, epoch_start + 2 * interval + 10)
    assert fresh[:4] != ticket[:4]  # sealed under the newest key
    assert s.open(fresh, epoch_start + 2 * interval + 10) is not None


def test_ratchet_over_many_epochs_and_clock_going_back() -> None:
    s = sealer(interval_s=60.0)
    state = server_state(lifetime_s=60, issued_at_s=T0 + 600)
    early = s.seal(state, T0)
    later = T0 + 10 * 60
    ticket = s.seal(state, later)  # ten rotations later
    assert s.open(early, later + 1) is None
    assert s.open(ticket, later + 1) is not None
    assert s.open(ticket, T0) is not None  # the clock went back: keys are not rolled back


def test_shared_key_material_between_servers() -> None:
    a = sealer(interval_s=3600.0)
    secret, epoch = a.export_key_material()
    b = TicketSealer(secret, epoch=epoch, rotation_interval_s=3600.0)
    state = server_state(lifetime_s=3600)
    assert b.open(a.seal(state, T0), T0) is not None
    assert a.open(b.seal(state, T0), T0) is not None
    # Server b, an epoch later, exports its material: a newcomer still opens b's previous tickets.
    old_ticket = b.seal(state, T0)
    b.seal(state, T0 + 3600)
    secret, epoch = b.export_key_material()
    newcomer = TicketSealer(secret, epoch=epoch, rotation_interval_s=3600.0)
    assert newcomer.open(old_ticket, T0 + 3599) is not None  # in the next epoch, unexpired


def test_peer_with_clock_one_epoch_ahead() -> None:
    a = sealer(interval_s=3600.0)
    secret, epoch = a.export_key_material()
    ahead = TicketSealer(secret, epoch=epoch, rotation_interval_s=3600.0)
    state = server_state(lifetime_s=3600, issued_at_s=T0)
    ticket = ahead.seal(state, T0 + 3600)
    assert a.open(ticket, T0) is not None
    ticket2 = ahead.seal(state, T0 + 2 * 3600)
    assert a.open(ticket2, T0) is None  # two epochs ahead is not skew


def test_expiry_and_lifetime_cap() -> None:
    s = sealer()
    state = server_state(lifetime_s=600)
    ticket = s.seal(state, T0)
    assert s.open(ticket, T0 + 599) is not None
    assert s.open(ticket, T0 + 600) is None
    with pytest.raises(ValueError, match="lifetime_s"):
        server_state(lifetime_s=MAX_TICKET_LIFETIME_S + 1)  # RFC 8446 §4.6.1: 7 days
    assert s.max_lifetime_s == DAY_S
    with pytest.raises(ValueError, match="exceeds this sealer's maximum"):
        s.seal(server_state(lifetime_s=int(DAY_S) + 1), T0)
    week = sealer(interval_s=MAX_TICKET_LIFETIME_S)
    assert week.max_lifetime_s == MAX_TICKET_LIFETIME_S
    assert week.open(week.seal(server_state(lifetime_s=MAX_TICKET_LIFETIME_S), T0), T0) is not None


def test_sealer_argument_checks() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        TicketSealer(b"short", epoch=0)
    with pytest.raises(ValueError, match="rotation_interval_s"):
        TicketSealer(bytes(32), epoch=0, rotation_interval_s=0.5)
    with pytest.raises(ValueError, match="clock"):
        sealer().seal(server_state(), T0 * 1e6)
    bad_random = TicketSealer(bytes(32), epoch=0, random_bytes=lambda n: b"x")
    with pytest.raises(ValueError, match="random_bytes"):
        bad_random.seal(server_state(), T0)


def test_generate_is_deterministic_given_randomness() -> None:
    a, b = sealer(seed=7), sealer(seed=7)
    ticket = a.seal(server_state(), T0)
    assert b.seal(server_state(), T0) == ticket  # same secret, same nonce: fully deterministic
    assert b.open(ticket, T0) is not None
    assert sealer(seed=8).open(ticket, T0) is None


def test_early_data_context_and_match() -> None:
    ctx = compute_early_data_context(b"tp", b"settings")
    assert len(ctx) == 32
    assert ctx != compute_early_data_context(b"tp", b"other settings")
    assert ctx != compute_early_data_context(b"tpsettings")  # length-prefixed parts
    state = server_state(early_data_context=ctx)
    assert state.early_data_matches(0x1302, b"h3", ctx)
    assert not state.early_data_matches(0x1301, b"h3", ctx)  # RFC 8446 §4.2.10: same suite
    assert not state.early_data_matches(0x1302, b"h2", ctx)  # ... and same ALPN
    assert not state.early_data_matches(0x1302, b"h3", compute_early_data_context(b"tp2"))
    assert not server_state(max_early_data_size=0).early_data_matches(0x1302, b"h3", ctx)


# -- anti-replay -------------------------------------------------------------------------------


def test_rfc8446_freshness_check() -> None:
    age_add = 0xFFFF_FFF0  # the obfuscated age wraps around 2^32
    obfuscated = (5_000 + age_add) % 2**32  # the client says: 5 s old
    assert is_fresh(obfuscated, age_add, T0, T0 + 5, window=1)
    assert is_fresh(obfuscated, age_add, T0, T0 + 6, window=1)
    assert not is_fresh(obfuscated, age_add, T0, T0 + 6.5, window=1)  # arrived late
    assert not is_fresh(obfuscated, age_add, T0, T0 + 3.5, window=1)  # "from the future"


def test_single_use_registry_refuses_second_use_and_bounds_memory() -> None:
    registry = SingleUseTicketRegistry(max_entries=2)
    assert registry.use(b"t1", T0 + 10, T0)
    assert not registry.use(b"t1", T0 + 10, T0 + 1)  # RFC 8446 §8.1: once only
    assert registry.use(b"t2", T0 + 20, T0)
    assert not registry.use(b"t3", T0 + 20, T0)  # full: refuse rather than forget
    assert len(registry) == 2
    assert registry.use(b"t3", T0 + 20, T0 + 10)  # t1 expired and was forgotten
    assert len(registry) == 2
    assert not registry.use(b"t4", T0 + 5, T0 + 10)  # an expired ticket never qualifies


def test_strike_register_window_startup_and_bound() -> None:
    register = StrikeRegister(started_at_s=T0, window_s=10.0, max_entries=2)
    assert not register.record(b"ch0", T0 + 5, T0 + 5)  # §8.2: window overlaps the start
    now = T0 + 100
    assert register.record(b"ch1", now, now)
    assert not register.record(b"ch1", now, now + 1)  # a replay
    assert not register.record(b"ch2", now - 10.5, now)  # outside the window
    assert not register.record(b"ch2", now + 10.5, now)
    assert register.record(b"ch2", now + 3, now)
    assert not register.record(b"ch3", now, now)  # full: refuse rather than forget
    assert len(register) == 2
    assert register.record(b"ch3", now + 10, now + 10)  # ch1 left the window
    assert len(register) == 2
    assert register.window_s == 10.0


def _opened(s: TicketSealer, **changes: object) -> TicketState:
    opened = s.open(s.seal(server_state(**changes), T0), T0)
    assert opened is not None
    return opened


def test_anti_replay_single_use() -> None:
    s = sealer()
    guard = AntiReplay(window_s=10.0, single_use=SingleUseTicketRegistry())
    state = _opened(s)
    now = T0 + 60.05  # creation + 50 ms RTT + 60 s, as the client reports below
    age = (60_000 + state.age_add) % 2**32
    assert guard.accept_early_data(state, b"random-1", age, now)
    assert not guard.accept_early_data(state, b"random-2", age, now)  # the same ticket again
    other = _opened(s)
    assert not guard.accept_early_data(other, b"random-3", age, now + 30)  # not fresh
    assert not guard.accept_early_data(_opened(s, max_early_data_size=0), b"r", age, now)
    with pytest.raises(ValueError, match="ticket_id"):
        guard.accept_early_data(server_state(), b"r", age, now)


def test_anti_replay_strike_register() -> None:
    s = sealer()
    guard = AntiReplay(strike_register=StrikeRegister(started_at_s=T0 - DAY_S))
    state = _opened(s)
    age = (1_000 + state.age_add) % 2**32
    now = T0 + 1.05
    assert guard.accept_early_data(state, b"binder-1", age, now)
    assert not guard.accept_early_data(state, b"binder-1", age, now)  # a replayed ClientHello
    assert guard.accept_early_data(state, b"binder-2", age, now)  # tickets are not single-use
    with pytest.raises(ValueError, match="needs a single-use registry or a strike register"):
        AntiReplay()
