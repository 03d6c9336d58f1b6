"""CryptoStream: CRYPTO send with retransmission and bounded reassembly (RFC 9000 §7.5, §19.6)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyquic.core.crypto_stream import CryptoStream
from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.core.levels import EncryptionLevel


def test_send_chunks_ack_and_retransmit_lost_ranges_first() -> None:
    stream = CryptoStream(EncryptionLevel.HANDSHAKE)
    assert stream.level is EncryptionLevel.HANDSHAKE
    stream.write(b"A" * 1500)
    assert stream.has_pending
    assert stream.next_chunk(1000) == (0, b"A" * 1000)
    assert stream.next_chunk(1000) == (1000, b"A" * 500)
    assert stream.next_chunk(1000) is None
    assert not stream.has_pending
    stream.on_acked(1000, 500)
    stream.on_lost(0, 1000)
    stream.on_lost(1000, 500)  # already acknowledged: not resent
    stream.write(b"B" * 10)
    assert stream.next_chunk(600) == (0, b"A" * 600)  # lost data before new data
    assert stream.next_chunk(600) == (600, b"A" * 400)
    assert stream.next_chunk(600) == (1500, b"B" * 10)
    assert not stream.all_acked
    stream.on_acked(0, 1000)
    assert stream.unacked_bytes == 10
    stream.on_acked(1500, 10)
    assert stream.all_acked
    assert stream.unacked_bytes == 0


def test_receive_reassembles_and_returns_newly_contiguous_bytes() -> None:
    stream = CryptoStream(EncryptionLevel.INITIAL)
    assert stream.on_crypto_frame(5, b"fghij") == b""
    assert stream.on_crypto_frame(0, b"abc") == b"abc"
    assert stream.on_crypto_frame(2, b"cde") == b"defghij"
    assert stream.on_crypto_frame(0, b"abcdefghij") == b""  # duplicate
    assert stream.received_offset == 10


def test_crypto_buffer_exceeded() -> None:
    stream = CryptoStream(EncryptionLevel.HANDSHAKE, max_buffer=4096)
    stream.on_crypto_frame(4000, b"x" * 96)  # exactly 4096 beyond the delivered offset
    with pytest.raises(QuicError) as excinfo:
        stream.on_crypto_frame(4096, b"y")
    assert excinfo.value.error_code == TransportErrorCode.CRYPTO_BUFFER_EXCEEDED
    stream.on_crypto_frame(0, b"z" * 4000)
    stream.on_crypto_frame(4096, b"y")  # the window moved with delivery


def test_default_buffer_is_64_kib() -> None:
    stream = CryptoStream(EncryptionLevel.INITIAL)
    stream.on_crypto_frame(65535, b"x")
    with pytest.raises(QuicError) as excinfo:
        stream.on_crypto_frame(65536, b"x")
    assert excinfo.value.error_code == TransportErrorCode.CRYPTO_BUFFER_EXCEEDED


def test_buffer_minimum_is_enforced() -> None:
    with pytest.raises(ValueError, match="4096"):
        CryptoStream(EncryptionLevel.INITIAL, max_buffer=4095)


def test_discard_releases_and_ignores() -> None:
    stream = CryptoStream(EncryptionLevel.INITIAL)
    stream.write(b"hello")
    stream.next_chunk(100)
    stream.on_crypto_frame(10, b"later")
    stream.discard()
    assert stream.discarded
    assert not stream.has_pending
    assert stream.unacked_bytes == 0
    stream.on_lost(0, 5)
    assert stream.next_chunk(100) is None
    assert stream.on_crypto_frame(0, b"x" * 15) == b""
    with pytest.raises(ValueError, match="discarded"):
        stream.write(b"more")


@given(
    st.binary(max_size=2000),
    st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 300)), max_size=30),
    st.randoms(use_true_random=False),
)
@settings(max_examples=200, deadline=None)
def test_random_frames_reassemble(
    data: bytes, extra: list[tuple[int, int]], rng: random.Random
) -> None:
    frames = [(start, data[start : start + 100]) for start in range(0, len(data), 100)]
    frames += [(start, data[start : start + length]) for start, length in extra]
    rng.shuffle(frames)
    stream = CryptoStream(EncryptionLevel.HANDSHAKE)
    out = b"".join(stream.on_crypto_frame(offset, piece) for offset, piece in frames)
    assert out == data


def test_lossy_round_trip() -> None:
    rng = random.Random(7)
    payload = rng.randbytes(50_000)
    sender = CryptoStream(EncryptionLevel.HANDSHAKE)
    receiver = CryptoStream(EncryptionLevel.HANDSHAKE)
    sender.write(payload)
    out = bytearray()
    while not sender.all_acked:
        flight = []
        while (chunk := sender.next_chunk(1100)) is not None:
            flight.append(chunk)
        rng.shuffle(flight)
        for offset, piece in flight:
            if rng.random() < 0.2:
                sender.on_lost(offset, len(piece))
            else:
                out += receiver.on_crypto_frame(offset, piece)
                sender.on_acked(offset, len(piece))
    assert bytes(out) == payload
