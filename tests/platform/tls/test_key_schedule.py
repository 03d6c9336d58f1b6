"""The TLS 1.3 transcript and key schedule (RFC 8446 §4.4.1, §4.2.11.2, §4.4.4, §4.6.1, §7).

Every derived secret is cross-checked against aioquic's independent key schedule for the same
inputs; the exporter against OpenSSL; the HelloRetryRequest rule against hashlib.
"""

from __future__ import annotations

import hashlib
import random

import pytest
from aioquic import tls as aio
from openssl_oracle import run_openssl_handshake

from pyquic.core.errors import QuicError
from pyquic.platform.crypto.suites import CipherSuite
from pyquic.platform.tls.key_schedule import (
    KeySchedule,
    KeyScheduleStage,
    Transcript,
    message_hash_message,
    transcript_hash,
)

SUITES = list(CipherSuite)
DECRYPT_ERROR = 0x100 + 51


def _message(rng: random.Random, handshake_type: int, length: int) -> bytes:
    """A handshake message with a valid header and random body (the schedule never parses it)."""
    return bytes((handshake_type,)) + length.to_bytes(3, "big") + rng.randbytes(length)


def _aio_schedule(suite: CipherSuite) -> aio.KeySchedule:
    return aio.KeySchedule(aio.CipherSuite(int(suite)))


def _hashlib_name(suite: CipherSuite) -> str:
    return suite.hash_algorithm.name


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: s.name)
@pytest.mark.parametrize("with_psk", [False, True], ids=["no_psk", "psk"])
def test_full_handshake_secrets_match_aioquic(suite: CipherSuite, with_psk: bool) -> None:
    rng = random.Random(f"{suite.name}-{with_psk}")
    psk = rng.randbytes(suite.hash_length) if with_psk else None
    shared = rng.randbytes(32)
    ch, sh, ee, cert, cv, sfin, cfin = (
        _message(rng, t, rng.randrange(40, 900)) for t in (1, 2, 8, 11, 15, 20, 20)
    )

    oracle = _aio_schedule(suite)
    oracle.extract(psk)
    transcript = Transcript()
    transcript.add(ch)  # buffered: the suite is not known yet
    ours = KeySchedule(suite, psk)
    assert ours.stage is KeyScheduleStage.EARLY
    assert ours.early_secret == oracle.secret
    transcript.select_hash(suite.hash_algorithm)
    oracle.update_hash(ch)
    assert ours.client_early_traffic_secret(transcript.digest()) == oracle.derive_secret(
        b"c e traffic"
    )
    assert ours.early_exporter_secret(transcript.digest()) == oracle.derive_secret(b"e exp master")

    ours.enter_handshake(shared)
    oracle.extract(shared)
    assert ours.handshake_secret == oracle.secret
    transcript.add(sh)
    oracle.update_hash(sh)
    c_hs = ours.client_handshake_traffic_secret(transcript.digest())
    s_hs = ours.server_handshake_traffic_secret(transcript.digest())
    assert c_hs == oracle.derive_secret(b"c hs traffic")
    assert s_hs == oracle.derive_secret(b"s hs traffic")

    for message in (ee, cert, cv):
        transcript.add(message)
        oracle.update_hash(message)
    server_finished = ours.finished_verify_data(s_hs, transcript.digest())
    assert server_finished == oracle.finished_verify_data(s_hs)
    ours.verify_finished(s_hs, transcript.digest(), server_finished)
    transcript.add(sfin)
    oracle.update_hash(sfin)

    ours.enter_main()
    oracle.extract(None)
    assert ours.main_secret == oracle.secret
    through_server_finished = transcript.digest()
    assert ours.client_application_traffic_secret(through_server_finished) == (
        oracle.derive_secret(b"c ap traffic")
    )
    assert ours.server_application_traffic_secret(through_server_finished) == (
        oracle.derive_secret(b"s ap traffic")
    )
    assert ours.exporter_master_secret(through_server_finished) == oracle.derive_secret(
        b"exp master"
    )
    assert ours.finished_verify_data(c_hs, through_server_finished) == (
        oracle.finished_verify_data(c_hs)
    )
    # A server may compute the resumption secret ahead of the client Finished (§4.6.1).
    ahead = ours.resumption_master_secret(transcript.digest(cfin))
    transcript.add(cfin)
    oracle.update_hash(cfin)
    assert ours.resumption_master_secret(transcript.digest()) == ahead
    assert ahead == oracle.derive_secret(b"res master")
    assert transcript.message_count == 7


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: s.name)
def test_psk_only_handshake_extracts_zeros_like_aioquic(suite: CipherSuite) -> None:
    # §7.1: psk_ke has no (EC)DHE input; the zero value of Hash.length bytes is used.
    psk = bytes(range(suite.hash_length))
    oracle = _aio_schedule(suite)
    oracle.extract(psk)
    oracle.extract(None)
    ours = KeySchedule(suite, psk)
    ours.enter_handshake(None)
    assert ours.handshake_secret == oracle.secret


def test_stages_are_enforced() -> None:
    schedule = KeySchedule(CipherSuite.AES_128_GCM_SHA256)
    some_hash = bytes(32)
    with pytest.raises(RuntimeError):
        schedule.client_handshake_traffic_secret(some_hash)
    with pytest.raises(RuntimeError):
        schedule.enter_main()
    schedule.enter_handshake(bytes(32))
    assert schedule.stage is KeyScheduleStage.HANDSHAKE
    with pytest.raises(RuntimeError):
        schedule.binder_key(resumption=True)
    with pytest.raises(RuntimeError):
        schedule.enter_handshake(bytes(32))
    schedule.enter_main()
    assert schedule.stage is KeyScheduleStage.MAIN
    with pytest.raises(RuntimeError):
        schedule.server_handshake_traffic_secret(some_hash)
    with pytest.raises(ValueError):
        schedule.client_application_traffic_secret(bytes(48))  # SHA-384 size, SHA-256 suite
    with pytest.raises(ValueError):
        KeySchedule(CipherSuite.AES_128_GCM_SHA256, b"")


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: s.name)
@pytest.mark.parametrize("resumption", [True, False], ids=["res", "ext"])
def test_binder_matches_aioquic(suite: CipherSuite, resumption: bool) -> None:
    rng = random.Random(f"binder-{suite.name}-{resumption}")
    psk = rng.randbytes(suite.hash_length)
    truncated_client_hello = _message(rng, 1, 500)[:-40]
    label = b"res binder" if resumption else b"ext binder"

    oracle = _aio_schedule(suite)
    oracle.extract(psk)
    oracle_binder_key = oracle.derive_secret(label)  # Derive-Secret(., label, "")
    oracle.update_hash(truncated_client_hello)
    oracle_binder = oracle.finished_verify_data(oracle_binder_key)

    ours = KeySchedule(suite, psk)
    binder_key = ours.binder_key(resumption=resumption)
    assert binder_key == oracle_binder_key
    partial = transcript_hash(suite.hash_algorithm, truncated_client_hello)
    binder = ours.compute_binder(binder_key, partial)
    assert binder == oracle_binder
    assert len(binder) == suite.hash_length
    ours.verify_binder(binder_key, partial, binder)
    with pytest.raises(QuicError) as excinfo:
        ours.verify_binder(binder_key, partial, binder[:-1] + bytes((binder[-1] ^ 1,)))
    assert excinfo.value.error_code == DECRYPT_ERROR


def test_binder_labels_differ() -> None:
    # §7.1: the two labels keep a resumption PSK from standing in for an external one.
    schedule = KeySchedule(CipherSuite.AES_128_GCM_SHA256, bytes(32))
    assert schedule.binder_key(resumption=True) != schedule.binder_key(resumption=False)


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: s.name)
def test_finished_mismatch_is_decrypt_error(suite: CipherSuite) -> None:
    schedule = KeySchedule(suite)
    base_key = bytes(range(suite.hash_length))
    digest = transcript_hash(suite.hash_algorithm, b"messages")
    verify_data = schedule.finished_verify_data(base_key, digest)
    schedule.verify_finished(base_key, digest, verify_data)
    for bad in (verify_data[:-1], verify_data + b"\x00", bytes(len(verify_data))):
        with pytest.raises(QuicError) as excinfo:
            schedule.verify_finished(base_key, digest, bad)
        assert excinfo.value.error_code == DECRYPT_ERROR


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: s.name)
def test_resumption_psk_and_traffic_update_match_aioquic(suite: CipherSuite) -> None:
    algorithm = aio.cipher_suite_hash(aio.CipherSuite(int(suite)))
    schedule = KeySchedule(suite)
    secret = bytes(range(suite.hash_length))
    for nonce in (b"", b"\x00", b"\x00\x00\x00\x01", bytes(255)):
        expected = aio.hkdf_expand_label(
            algorithm, secret, b"resumption", nonce, algorithm.digest_size
        )
        assert schedule.resumption_psk(secret, nonce) == expected  # §4.6.1
    assert schedule.resumption_psk(secret, b"\x00") != schedule.resumption_psk(secret, b"\x01")
    expected_next = aio.hkdf_expand_label(
        algorithm, secret, b"traffic upd", b"", algorithm.digest_size
    )
    assert schedule.next_application_traffic_secret(secret) == expected_next  # §7.2


@pytest.mark.parametrize(
    "suite", [CipherSuite.AES_128_GCM_SHA256, CipherSuite.AES_256_GCM_SHA384], ids=lambda s: s.name
)
def test_exporter_matches_openssl(suite: CipherSuite) -> None:
    session = run_openssl_handshake(suite.parameters.name)
    _, exporter_secret = session.secret("EXPORTER_SECRET")
    schedule = KeySchedule(suite)
    for label, context, length in (
        (b"EXPORTER-pyquic-test", b"context", 32),
        (b"EXPORTER-pyquic-test", b"", 17),
        (b"EXPORTER-other", b"\x00" * 70, 64),
    ):
        expected = session.client.export_keying_material(label, length, context)
        assert schedule.export(exporter_secret, label, context, length) == expected  # §7.5


@pytest.mark.parametrize("suite", SUITES, ids=lambda s: s.name)
def test_hello_retry_transcript_rule(suite: CipherSuite) -> None:
    rng = random.Random(f"hrr-{suite.name}")
    ch1, hrr, ch2, sh = (_message(rng, t, rng.randrange(50, 700)) for t in (1, 2, 1, 2))
    name = _hashlib_name(suite)
    ch1_hash = hashlib.new(name, ch1).digest()
    # §4.4.1: message_hash (254), uint24 Hash.length, Hash(ClientHello1).
    synthetic = b"\xfe\x00\x00" + bytes((suite.hash_length,)) + ch1_hash
    assert message_hash_message(suite.hash_algorithm, ch1_hash) == synthetic

    client = Transcript()
    client.add(ch1)
    client.select_hash(suite.hash_algorithm)
    assert client.digest() == ch1_hash  # what a stateless server keeps in its cookie
    client.apply_hello_retry()
    client.add(hrr)
    # The binder of ClientHello2 covers message_hash, HelloRetryRequest, Truncate(ClientHello2).
    truncated = ch2[:-33]
    assert client.digest(truncated) == hashlib.new(name, synthetic + hrr + truncated).digest()
    client.add(ch2)
    client.add(sh)
    assert client.digest() == hashlib.new(name, synthetic + hrr + ch2 + sh).digest()

    server = Transcript.from_client_hello1_hash(suite.hash_algorithm, ch1_hash)
    for message in (hrr, ch2, sh):
        server.add(message)
    assert server.digest() == client.digest()


def test_hello_retry_rule_misuse() -> None:
    sha256 = CipherSuite.AES_128_GCM_SHA256.hash_algorithm
    unselected = Transcript()
    unselected.add(b"\x01\x00\x00\x00")
    with pytest.raises(RuntimeError):
        unselected.apply_hello_retry()  # no hash chosen yet
    two = Transcript(sha256)
    two.add(b"\x01\x00\x00\x00")
    two.add(b"\x02\x00\x00\x00")
    with pytest.raises(RuntimeError):
        two.apply_hello_retry()  # only ClientHello1 may be replaced
    with pytest.raises(ValueError):
        message_hash_message(sha256, bytes(48))


def test_transcript_buffers_until_hash_selected() -> None:
    suite = CipherSuite.AES_256_GCM_SHA384
    messages = [b"\x01\x00\x00\x03abc", b"\x02\x00\x00\x01z"]
    late = Transcript()
    for message in messages:
        late.add(message)
    assert late.algorithm is None
    with pytest.raises(RuntimeError):
        late.digest()
    late.select_hash(suite.hash_algorithm)
    late.select_hash(suite.hash_algorithm)  # idempotent
    early = Transcript(suite.hash_algorithm)
    for message in messages:
        early.add(message)
    expected = hashlib.sha384(b"".join(messages)).digest()
    assert late.digest() == early.digest() == expected
    assert transcript_hash(suite.hash_algorithm, *messages) == expected
    with pytest.raises(RuntimeError):
        late.select_hash(CipherSuite.AES_128_GCM_SHA256.hash_algorithm)
    # digest(extra) does not record extra.
    assert late.digest(b"more") != late.digest()
    assert late.digest() == expected
