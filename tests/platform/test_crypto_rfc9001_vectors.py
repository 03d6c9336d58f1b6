"""RFC 9001 Appendix A: key schedule, header protection masks and Retry tag vectors (QUIC v1).

The hex below is copied from RFC 9001 Appendix A; the packet-level vectors (A.2, A.3, A.5 packets)
are in tests/core/test_packet_protection_rfc9001.py.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes

from pyquic.core.version import V1, V2
from pyquic.platform.crypto import (
    INITIAL_SUITE,
    AesHeaderProtection,
    ChaCha20HeaderProtection,
    CipherSuite,
    QuicAead,
    QuicPacketKeys,
    derive_key_material,
    hkdf_expand_label,
    hkdf_extract,
    hkdf_label,
    initial_secrets,
    next_generation_secret,
    retry_integrity_tag,
    verify_retry_integrity,
)

DCID = bytes.fromhex("8394c8f03e515708")

# A.1
INITIAL_SECRET = bytes.fromhex("7db5df06e7a69e432496adedb0085192 3595221596ae2ae9fb8115c1e9ed0a44")
CLIENT_SECRET = bytes.fromhex("c00cf151ca5be075ed0ebfb5c80323c4 2d6b7db67881289af4008f1f6c357aea")
CLIENT_KEY = bytes.fromhex("1f369613dd76d5467730efcbe3b1a22d")
CLIENT_IV = bytes.fromhex("fa044b2f42a3fd3b46fb255c")
CLIENT_HP = bytes.fromhex("9f50449e04a0e810283a1e9933adedd2")
SERVER_SECRET = bytes.fromhex("3c199828fd139efd216c155ad844cc81 fb82fa8d7446fa7d78be803acdda951b")
SERVER_KEY = bytes.fromhex("cf3a5331653c364c88f0f379b6067e37")
SERVER_IV = bytes.fromhex("0ac1493ca1905853b0bba03e")
SERVER_HP = bytes.fromhex("c206b8d9b9f0f37644430b490eeaa314")

# A.4
RETRY_PACKET = bytes.fromhex(
    """
ff000000010008f067a5502a4262b574 6f6b656e04a265ba2eff4d829058fb3f
0f2496ba
"""
)

# A.5
CHACHA_SECRET = bytes.fromhex("9ac312a7f877468ebe69422748ad00a1 5443f18203a07d6060f688f30f21632b")
CHACHA_KEY = bytes.fromhex("c6d98ff3441c3fe1b2182094f69caa2e d4b716b65488960a7a984979fb23e1c8")
CHACHA_IV = bytes.fromhex("e0459b3474bdd0e44a41c144")
CHACHA_HP = bytes.fromhex("25a282b9e82f06f21f488917a4fc8f1b 73573685608597d0efcb076b0ab7a7a4")
CHACHA_KU = bytes.fromhex("1223504755036d556342ee9361d25342 1a826c9ecdf3c7148684b36b714881f9")
CHACHA_PN = 654360564
CHACHA_NONCE = bytes.fromhex("e0459b3474bdd0e46d417eb0")
CHACHA_SAMPLE = bytes.fromhex("5e5cd55c41f69080575d7999c25a5bfb")
CHACHA_MASK = bytes.fromhex("aefefe7d03")


@pytest.mark.parametrize(
    ("label", "length", "expected"),
    [
        (b"client in", 32, "00200f746c73313320636c69656e7420696e00"),
        (b"server in", 32, "00200f746c7331332073657276657220696e00"),
        (b"quic key", 16, "00100e746c7331332071756963206b657900"),
        (b"quic iv", 12, "000c0d746c733133207175696320697600"),
        (b"quic hp", 16, "00100d746c733133207175696320687000"),
    ],
)
def test_rfc9001_a1_hkdf_label_encoding(label: bytes, length: int, expected: str) -> None:
    assert hkdf_label(label, b"", length) == bytes.fromhex(expected)


def test_rfc9001_a1_initial_secret() -> None:
    assert hkdf_extract(hashes.SHA256(), V1.initial_salt, DCID) == INITIAL_SECRET


def test_rfc9001_a1_client_and_server_initial_secrets() -> None:
    assert initial_secrets(V1, DCID) == (CLIENT_SECRET, SERVER_SECRET)
    sha256 = hashes.SHA256()
    assert hkdf_expand_label(sha256, INITIAL_SECRET, b"client in", b"", 32) == CLIENT_SECRET
    assert hkdf_expand_label(sha256, INITIAL_SECRET, b"server in", b"", 32) == SERVER_SECRET


@pytest.mark.parametrize(
    ("secret", "key", "iv", "hp"),
    [
        (CLIENT_SECRET, CLIENT_KEY, CLIENT_IV, CLIENT_HP),
        (SERVER_SECRET, SERVER_KEY, SERVER_IV, SERVER_HP),
    ],
    ids=["client", "server"],
)
def test_rfc9001_a1_key_iv_hp(secret: bytes, key: bytes, iv: bytes, hp: bytes) -> None:
    material = derive_key_material(INITIAL_SUITE, secret, V1)
    assert (material.key, material.iv, material.hp) == (key, iv, hp)


def test_rfc9001_a1_initial_keys_by_role() -> None:
    client_send, client_receive = QuicPacketKeys.initial(V1, DCID, is_client=True)
    server_send, server_receive = QuicPacketKeys.initial(V1, DCID, is_client=False)
    assert client_send.secret == server_receive.secret == CLIENT_SECRET
    assert server_send.secret == client_receive.secret == SERVER_SECRET
    assert client_send.suite is CipherSuite.AES_128_GCM_SHA256
    assert isinstance(client_send.header_protection, AesHeaderProtection)


@pytest.mark.parametrize(
    ("hp_key", "sample", "mask"),
    [
        (CLIENT_HP, "d1b1c98dd7689fb8ec11d242b123dc9b", "437b9aec36"),  # A.2
        (SERVER_HP, "2cd0991cd25b0aac406a5816b6394100", "2ec0d8356a"),  # A.3
    ],
    ids=["a2-client", "a3-server"],
)
def test_rfc9001_a2_a3_aes_header_protection_mask(hp_key: bytes, sample: str, mask: str) -> None:
    hp = AesHeaderProtection(hp_key)
    assert hp.mask(bytes.fromhex(sample)) == bytes.fromhex(mask)
    # the encryptor context is reused: a second call gives the same answer
    assert hp.mask(memoryview(bytes.fromhex(sample))) == bytes.fromhex(mask)


def test_rfc9001_a4_retry_integrity_tag() -> None:
    assert len(RETRY_PACKET) == 36
    assert retry_integrity_tag(V1, DCID, RETRY_PACKET[:-16]) == RETRY_PACKET[-16:]
    assert verify_retry_integrity(V1, DCID, RETRY_PACKET)
    assert verify_retry_integrity(V1, DCID, memoryview(bytearray(RETRY_PACKET)))


def test_rfc9001_a4_retry_rejects_tampering() -> None:
    for i in range(len(RETRY_PACKET)):
        tampered = bytearray(RETRY_PACKET)
        tampered[i] ^= 0x01
        assert not verify_retry_integrity(V1, DCID, tampered), i
    assert not verify_retry_integrity(V1, DCID[:-1], RETRY_PACKET)
    assert not verify_retry_integrity(V1, b"", RETRY_PACKET)
    assert not verify_retry_integrity(V2, DCID, RETRY_PACKET)  # v2 uses another key
    assert not verify_retry_integrity(V1, DCID, RETRY_PACKET[:15])
    assert not verify_retry_integrity(V1, DCID, b"")
    assert not verify_retry_integrity(V1, bytes(256), RETRY_PACKET)


def test_rfc9001_a5_chacha20_key_iv_hp_ku() -> None:
    suite = CipherSuite.CHACHA20_POLY1305_SHA256
    material = derive_key_material(suite, CHACHA_SECRET, V1)
    assert (material.key, material.iv, material.hp) == (CHACHA_KEY, CHACHA_IV, CHACHA_HP)
    assert next_generation_secret(suite, CHACHA_SECRET, V1) == CHACHA_KU
    keys = QuicPacketKeys.from_secret(suite, CHACHA_SECRET, V1)
    assert keys.next_generation().secret == CHACHA_KU
    assert isinstance(keys.header_protection, ChaCha20HeaderProtection)


def test_rfc9001_a5_chacha20_nonce_and_mask() -> None:
    aead = QuicAead(CipherSuite.CHACHA20_POLY1305_SHA256, CHACHA_KEY, CHACHA_IV)
    assert aead.nonce(CHACHA_PN) == CHACHA_NONCE
    assert ChaCha20HeaderProtection(CHACHA_HP).mask(CHACHA_SAMPLE) == CHACHA_MASK
