"""Unit tests of the crypto platform layer: HKDF, suites, AEAD, header protection, key update."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives import hashes

from pyquic.core.version import V1, V2, VersionInfo
from pyquic.platform.crypto import (
    AesHeaderProtection,
    ChaCha20HeaderProtection,
    CipherSuite,
    QuicAead,
    QuicPacketKeys,
    derive_key_material,
    header_protection_for,
    hkdf_expand,
    hkdf_expand_label,
    hkdf_extract,
    hkdf_label,
    next_generation_secret,
    retry_integrity_tag,
    retry_pseudo_packet,
)

SUITES = list(CipherSuite)
VERSIONS = [V1, V2]


def _secret(suite: CipherSuite, seed: int = 1) -> bytes:
    return bytes((seed + i) & 0xFF for i in range(suite.hash_length))


def _reference_hkdf_expand(hash_name: str, prk: bytes, info: bytes, length: int) -> bytes:
    """HKDF-Expand written out from RFC 5869 §2.3 with the standard library's HMAC."""
    okm = b""
    block = b""
    counter = 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes((counter,)), hash_name).digest()
        okm += block
        counter += 1
    return okm[:length]


# --- HKDF ----------------------------------------------------------------------------------------


def test_hkdf_rfc5869_test_case_1() -> None:
    ikm = bytes([0x0B] * 22)
    salt = bytes(range(13))
    info = bytes(range(0xF0, 0xFA))
    prk = hkdf_extract(hashes.SHA256(), salt, ikm)
    assert prk == bytes.fromhex("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5")
    okm = hkdf_expand(hashes.SHA256(), prk, info, 42)
    assert okm == bytes.fromhex(
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )


@pytest.mark.parametrize(
    ("algorithm", "hash_name"), [(hashes.SHA256(), "sha256"), (hashes.SHA384(), "sha384")]
)
@pytest.mark.parametrize("length", [12, 16, 32, 48, 100])
def test_hkdf_expand_label_matches_reference(
    algorithm: hashes.HashAlgorithm, hash_name: str, length: int
) -> None:
    secret = hashlib.new(hash_name, b"secret").digest()
    context = hashlib.new(hash_name, b"transcript").digest()
    info = (
        (length.to_bytes(2, "big") + bytes((len(b"tls13 derived"),)) + b"tls13 derived")
        + bytes((len(context),))
        + context
    )
    expected = _reference_hkdf_expand(hash_name, secret, info, length)
    assert hkdf_expand_label(algorithm, secret, b"derived", context, length) == expected


def test_hkdf_label_includes_context() -> None:
    assert hkdf_label(b"c hs traffic", b"\xaa\xbb", 32) == bytes.fromhex(
        "0020" + "12" + b"tls13 c hs traffic".hex() + "02aabb"
    )


def test_hkdf_label_rejects_out_of_range_fields() -> None:
    with pytest.raises(ValueError):
        hkdf_label(b"x" * 250, b"", 32)  # "tls13 " + 250 bytes > 255
    with pytest.raises(ValueError):
        hkdf_label(b"quic key", bytes(256), 16)
    with pytest.raises(ValueError):
        hkdf_label(b"quic key", b"", 0x10000)
    assert len(hkdf_label(b"x" * 249, bytes(255), 0xFFFF)) == 2 + 1 + 255 + 1 + 255


# --- suites --------------------------------------------------------------------------------------


def test_cipher_suite_parameters() -> None:
    aes128 = CipherSuite(0x1301)
    aes256 = CipherSuite(0x1302)
    chacha = CipherSuite(0x1303)
    assert (aes128.key_length, aes128.hp_key_length, aes128.hash_length) == (16, 16, 32)
    assert (aes256.key_length, aes256.hp_key_length, aes256.hash_length) == (32, 32, 48)
    assert (chacha.key_length, chacha.hp_key_length, chacha.hash_length) == (32, 32, 32)
    assert isinstance(aes256.hash_algorithm, hashes.SHA384)
    for suite in SUITES:
        assert suite.iv_length == 12
        assert suite.tag_length == 16
        assert suite.parameters.name == "TLS_" + suite.name
    # RFC 9001 §6.6
    assert aes128.confidentiality_limit == aes256.confidentiality_limit == 2**23
    assert aes128.integrity_limit == aes256.integrity_limit == 2**52
    assert chacha.confidentiality_limit == 2**62
    assert chacha.integrity_limit == 2**36


# --- AEAD ----------------------------------------------------------------------------------------


def _aead(suite: CipherSuite) -> QuicAead:
    return QuicAead(suite, bytes(range(suite.key_length)), bytes(range(100, 112)))


@pytest.mark.parametrize("suite", SUITES)
def test_aead_seal_open_round_trip_and_counters(suite: CipherSuite) -> None:
    aead = _aead(suite)
    header = b"\x41header"
    payload = bytes(range(200))
    buf = bytearray(header + payload + bytes(16) + b"tail")
    total = aead.seal_into(7, buf, len(header), len(payload))
    assert total == len(header) + len(payload) + 16
    assert buf[: len(header)] == header  # the header is associated data, not encrypted
    assert buf[len(header) : len(header) + len(payload)] != payload
    assert buf[total:] == b"tail"  # nothing written past the tag
    assert aead.sealed_packets == 1
    assert aead.open(7, header, buf[len(header) : total]) == payload
    assert aead.open(7, memoryview(header), memoryview(buf)[len(header) : total]) == payload
    assert (aead.opened_packets, aead.open_failures) == (2, 0)


@pytest.mark.parametrize("suite", SUITES)
def test_aead_open_rejects_any_flipped_bit(suite: CipherSuite) -> None:
    aead = _aead(suite)
    header = b"\x41hdr"
    buf = bytearray(header + b"payload" + bytes(16))
    total = aead.seal_into(3, buf, len(header), 7)
    ciphertext = bytes(buf[len(header) : total])
    failures = 0
    for i in range(len(ciphertext)):
        for bit in (0x01, 0x80):
            flipped = bytearray(ciphertext)
            flipped[i] ^= bit
            assert aead.open(3, header, flipped) is None
            failures += 1
    assert aead.open(3, b"\x40hdr", ciphertext) is None  # header is authenticated
    assert aead.open(4, header, ciphertext) is None  # packet number is in the nonce
    assert aead.open(3, header, ciphertext[:15]) is None  # shorter than a tag
    assert aead.open_failures == failures + 3
    assert aead.opened_packets == 0
    assert aead.open(3, header, ciphertext) == b"payload"


def test_aead_nonce_is_iv_xor_packet_number() -> None:
    aead = QuicAead(CipherSuite.AES_128_GCM_SHA256, bytes(16), bytes.fromhex("00" * 11 + "ff"))
    assert aead.nonce(0x0F) == bytes.fromhex("00" * 11 + "f0")
    assert aead.nonce(2**62 - 1) == bytes.fromhex("00000000 3fffffff ffffff00")


def test_aead_confidentiality_limit_flag() -> None:
    aead = _aead(CipherSuite.AES_128_GCM_SHA256)
    assert aead.confidentiality_limit == 2**23 and aead.integrity_limit == 2**52
    aead.sealed_packets = aead.confidentiality_limit - 1
    assert not aead.confidentiality_limit_reached
    aead.seal_into(0, bytearray(4 + 16), 4, 0)
    assert aead.confidentiality_limit_reached


def test_aead_rejects_bad_arguments() -> None:
    suite = CipherSuite.AES_128_GCM_SHA256
    with pytest.raises(ValueError):
        QuicAead(suite, bytes(32), bytes(12))
    with pytest.raises(ValueError):
        QuicAead(suite, bytes(16), bytes(8))
    aead = _aead(suite)
    with pytest.raises(ValueError):
        aead.seal_into(0, bytearray(10 + 15), 10, 0)  # no room for the tag
    with pytest.raises(ValueError):
        aead.seal_into(2**62, bytearray(32), 4, 0)
    with pytest.raises(ValueError):
        aead.seal_into(-1, bytearray(32), 4, 0)
    assert aead.sealed_packets == 0


# --- header protection ---------------------------------------------------------------------------


def test_header_protection_for_each_suite() -> None:
    aes128 = header_protection_for(CipherSuite.AES_128_GCM_SHA256, bytes(16))
    aes256 = header_protection_for(CipherSuite.AES_256_GCM_SHA384, bytes(32))
    chacha = header_protection_for(CipherSuite.CHACHA20_POLY1305_SHA256, bytes(32))
    assert isinstance(aes128, AesHeaderProtection)
    assert isinstance(aes256, AesHeaderProtection)
    assert isinstance(chacha, ChaCha20HeaderProtection)
    sample = bytes(range(16))
    masks = {aes128.mask(sample), aes256.mask(sample), chacha.mask(sample)}
    assert len(masks) == 3 and all(len(m) == 5 for m in masks)
    with pytest.raises(ValueError):
        header_protection_for(CipherSuite.AES_256_GCM_SHA384, bytes(16))
    with pytest.raises(ValueError):
        ChaCha20HeaderProtection(bytes(16))
    with pytest.raises(ValueError):
        AesHeaderProtection(bytes(24))


@pytest.mark.parametrize("suite", SUITES)
def test_header_protection_rejects_wrong_sample_length(suite: CipherSuite) -> None:
    hp = header_protection_for(suite, bytes(suite.hp_key_length))
    with pytest.raises(ValueError):
        hp.mask(bytes(15))
    with pytest.raises(ValueError):
        hp.mask(bytes(17))


def test_chacha20_mask_depends_on_counter_and_nonce() -> None:
    hp = ChaCha20HeaderProtection(bytes(range(32)))
    base = hp.mask(bytes(16))
    counter_changed = hp.mask(b"\x01" + bytes(15))
    nonce_changed = hp.mask(bytes(15) + b"\x01")
    assert len({base, counter_changed, nonce_changed}) == 3


def test_chacha20_mask_against_rfc8439_block_function() -> None:
    # RFC 8439 §2.3.2: key 00..1f, block counter 1, nonce 000000090000004a00000000; the first
    # five keystream bytes are 10f1e7e4d1.  The sample carries the counter little-endian
    # (RFC 9001 §5.4.4).
    hp = ChaCha20HeaderProtection(bytes(range(32)))
    sample = (1).to_bytes(4, "little") + bytes.fromhex("000000090000004a00000000")
    assert hp.mask(sample) == bytes.fromhex("10f1e7e4d1")


# --- keys and key update -------------------------------------------------------------------------


@pytest.mark.parametrize("suite", SUITES)
@pytest.mark.parametrize("version", VERSIONS, ids=["v1", "v2"])
def test_key_update_derivation(suite: CipherSuite, version: VersionInfo) -> None:
    secret = _secret(suite)
    keys = QuicPacketKeys.from_secret(suite, secret, version)
    updated = keys.next_generation()
    expected = hkdf_expand_label(
        suite.hash_algorithm, secret, version.label_prefix + b"ku", b"", suite.hash_length
    )
    assert updated.secret == expected == next_generation_secret(suite, secret, version)
    assert updated.generation == 1 and updated.next_generation().generation == 2
    # the header protection key is not updated (RFC 9001 §6.1): same object, original hp key
    assert updated.header_protection is keys.header_protection
    original_hp = derive_key_material(suite, secret, version).hp
    sample = bytes(range(16))
    assert updated.header_protection.mask(sample) == header_protection_for(suite, original_hp).mask(
        sample
    )
    # while the AEAD key and IV are
    old_material = derive_key_material(suite, secret, version)
    new_material = derive_key_material(suite, updated.secret, version)
    assert new_material.key != old_material.key and new_material.iv != old_material.iv
    assert updated.aead is not keys.aead


@pytest.mark.parametrize("suite", SUITES)
def test_key_update_label_differs_between_versions(suite: CipherSuite) -> None:
    secret = _secret(suite)
    assert next_generation_secret(suite, secret, V1) != next_generation_secret(suite, secret, V2)
    v1 = QuicPacketKeys.from_secret(suite, secret, V1).next_generation()
    v2 = QuicPacketKeys.from_secret(suite, secret, V2).next_generation()
    assert v1.secret != v2.secret


@pytest.mark.parametrize("suite", SUITES)
def test_updated_keys_interoperate_only_with_same_generation(suite: CipherSuite) -> None:
    sender = QuicPacketKeys.from_secret(suite, _secret(suite, 9), V1).next_generation()
    receiver = QuicPacketKeys.from_secret(suite, _secret(suite, 9), V1)
    buf = bytearray(b"\x40hd" + b"data" + bytes(16))
    total = sender.aead.seal_into(5, buf, 3, 4)
    ciphertext = bytes(buf[3:total])
    assert receiver.aead.open(5, b"\x40hd", ciphertext) is None
    assert receiver.next_generation().aead.open(5, b"\x40hd", ciphertext) == b"data"


def test_from_secret_rejects_wrong_secret_length() -> None:
    with pytest.raises(ValueError):
        QuicPacketKeys.from_secret(CipherSuite.AES_256_GCM_SHA384, bytes(32), V1)


def test_initial_keys_differ_per_dcid_and_version() -> None:
    a, _ = QuicPacketKeys.initial(V1, b"\x01\x02\x03\x04\x05\x06\x07\x08", is_client=True)
    b, _ = QuicPacketKeys.initial(V1, b"\x01\x02\x03\x04\x05\x06\x07\x09", is_client=True)
    c, _ = QuicPacketKeys.initial(V2, b"\x01\x02\x03\x04\x05\x06\x07\x08", is_client=True)
    empty, _ = QuicPacketKeys.initial(V1, b"", is_client=True)  # zero-length DCID after Retry
    assert len({a.secret, b.secret, c.secret, empty.secret}) == 4


# --- Retry ---------------------------------------------------------------------------------------


def test_retry_pseudo_packet_layout() -> None:
    assert retry_pseudo_packet(b"\xaa\xbb", b"\xff\x00") == b"\x02\xaa\xbb\xff\x00"
    assert retry_pseudo_packet(b"", memoryview(b"\xff")) == b"\x00\xff"
    with pytest.raises(ValueError):
        retry_integrity_tag(V1, bytes(256), b"\xff")
    assert retry_integrity_tag(V1, b"\x01", b"\xff") != retry_integrity_tag(V2, b"\x01", b"\xff")
