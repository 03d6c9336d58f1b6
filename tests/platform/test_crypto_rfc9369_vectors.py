"""RFC 9369 Appendix A: key schedule, header protection masks and Retry tag vectors (QUIC v2).

The hex below is copied from RFC 9369 Appendix A; the packet-level vectors (A.2, A.3, A.5 packets)
are in tests/core/test_packet_protection_rfc9369.py.
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
INITIAL_SECRET = bytes.fromhex("2062e8b3cd8d52092614b8071d0aa1fb 7c2e3ac193f78b280e72d8f5751f6aba")
CLIENT_SECRET = bytes.fromhex("14ec9d6eb9fd7af83bf5a668bc17a7e2 83766aade7ecd0891f70f9ff7f4bf47b")
CLIENT_KEY = bytes.fromhex("8b1a0bc121284290a29e0971b5cd045d")
CLIENT_IV = bytes.fromhex("91f73e2351d8fa91660e909f")
CLIENT_HP = bytes.fromhex("45b95e15235d6f45a6b19cbcb0294ba9")
SERVER_SECRET = bytes.fromhex("0263db1782731bf4588e7e4d93b74639 07cb8cd8200b5da55a8bd488eafc37c1")
SERVER_KEY = bytes.fromhex("82db637861d55e1d011f19ea71d5d2a7")
SERVER_IV = bytes.fromhex("dd13c276499c0249d3310652")
SERVER_HP = bytes.fromhex("edf6d05c83121201b436e16877593c3a")

# A.4
RETRY_PACKET = bytes.fromhex(
    """
cf6b3343cf0008f067a5502a4262b574 6f6b656ec8646ce8bfe33952d9555436
65dcc7b6
"""
)

# A.5
CHACHA_SECRET = bytes.fromhex("9ac312a7f877468ebe69422748ad00a1 5443f18203a07d6060f688f30f21632b")
CHACHA_KEY = bytes.fromhex("3bfcddd72bcf02541d7fa0dd1f5f9eee a817e09a6963a0e6c7df0f9a1bab90f2")
CHACHA_IV = bytes.fromhex("a6b5bc6ab7dafce30ffff5dd")
CHACHA_HP = bytes.fromhex("d659760d2ba434a226fd37b35c69e2da 8211d10c4f12538787d65645d5d1b8e2")
CHACHA_KU = bytes.fromhex("c69374c49e3d2a9466fa689e49d476db 5d0dfbc87d32ceeaa6343fd0ae4c7d88")
CHACHA_PN = 654360564
CHACHA_NONCE = bytes.fromhex("a6b5bc6ab7dafce328ff4a29")
CHACHA_SAMPLE = bytes.fromhex("e7b6b932bc27d786f4bc2bb20f2162ba")
CHACHA_MASK = bytes.fromhex("97580e32bf")


@pytest.mark.parametrize(
    ("label", "length", "expected"),
    [
        (b"client in", 32, "00200f746c73313320636c69656e7420696e00"),
        (b"server in", 32, "00200f746c7331332073657276657220696e00"),
        (b"quicv2 key", 16, "001010746c73313320717569637632206b657900"),
        (b"quicv2 iv", 12, "000c0f746c7331332071756963763220697600"),
        (b"quicv2 hp", 16, "00100f746c7331332071756963763220687000"),
    ],
)
def test_rfc9369_a1_hkdf_label_encoding(label: bytes, length: int, expected: str) -> None:
    assert hkdf_label(label, b"", length) == bytes.fromhex(expected)
    # the version table supplies the "quicv2 " prefix (RFC 9369 §3.3.2)
    if label.startswith(b"quicv2 "):
        assert label.startswith(V2.label_prefix)


def test_rfc9369_a1_initial_secret() -> None:
    assert hkdf_extract(hashes.SHA256(), V2.initial_salt, DCID) == INITIAL_SECRET


def test_rfc9369_a1_client_and_server_initial_secrets() -> None:
    assert initial_secrets(V2, DCID) == (CLIENT_SECRET, SERVER_SECRET)
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
def test_rfc9369_a1_key_iv_hp(secret: bytes, key: bytes, iv: bytes, hp: bytes) -> None:
    material = derive_key_material(INITIAL_SUITE, secret, V2)
    assert (material.key, material.iv, material.hp) == (key, iv, hp)
    # the same secret under v1 labels gives different keys (RFC 9369 §3.3.2)
    v1_material = derive_key_material(INITIAL_SUITE, secret, V1)
    assert v1_material.key != key and v1_material.iv != iv and v1_material.hp != hp


def test_rfc9369_a1_initial_keys_by_role() -> None:
    client_send, client_receive = QuicPacketKeys.initial(V2, DCID, is_client=True)
    server_send, server_receive = QuicPacketKeys.initial(V2, DCID, is_client=False)
    assert client_send.secret == server_receive.secret == CLIENT_SECRET
    assert server_send.secret == client_receive.secret == SERVER_SECRET
    assert client_send.version is V2


@pytest.mark.parametrize(
    ("hp_key", "sample", "mask"),
    [
        (CLIENT_HP, "ffe67b6abcdb4298b485dd04de806071", "94a0c95e80"),  # A.2
        (SERVER_HP, "6f05d8a4398c47089698baeea26b91eb", "4dd92e91ea"),  # A.3
    ],
    ids=["a2-client", "a3-server"],
)
def test_rfc9369_a2_a3_aes_header_protection_mask(hp_key: bytes, sample: str, mask: str) -> None:
    assert AesHeaderProtection(hp_key).mask(bytes.fromhex(sample)) == bytes.fromhex(mask)


def test_rfc9369_a4_retry_integrity_tag() -> None:
    assert len(RETRY_PACKET) == 36
    assert retry_integrity_tag(V2, DCID, RETRY_PACKET[:-16]) == RETRY_PACKET[-16:]
    assert verify_retry_integrity(V2, DCID, RETRY_PACKET)


def test_rfc9369_a4_retry_rejects_tampering() -> None:
    for i in range(len(RETRY_PACKET)):
        tampered = bytearray(RETRY_PACKET)
        tampered[i] ^= 0x80
        assert not verify_retry_integrity(V2, DCID, tampered), i
    assert not verify_retry_integrity(V2, bytes(8), RETRY_PACKET)
    assert not verify_retry_integrity(V1, DCID, RETRY_PACKET)  # v1 uses another key


def test_rfc9369_a5_chacha20_key_iv_hp_ku() -> None:
    suite = CipherSuite.CHACHA20_POLY1305_SHA256
    material = derive_key_material(suite, CHACHA_SECRET, V2)
    assert (material.key, material.iv, material.hp) == (CHACHA_KEY, CHACHA_IV, CHACHA_HP)
    assert next_generation_secret(suite, CHACHA_SECRET, V2) == CHACHA_KU
    # "quicv2 ku" differs from "quic ku" (RFC 9369 §3.3.2)
    assert next_generation_secret(suite, CHACHA_SECRET, V1) != CHACHA_KU
    keys = QuicPacketKeys.from_secret(suite, CHACHA_SECRET, V2)
    updated = keys.next_generation()
    assert updated.secret == CHACHA_KU
    assert updated.header_protection is keys.header_protection


def test_rfc9369_a5_chacha20_nonce_and_mask() -> None:
    aead = QuicAead(CipherSuite.CHACHA20_POLY1305_SHA256, CHACHA_KEY, CHACHA_IV)
    assert aead.nonce(CHACHA_PN) == CHACHA_NONCE
    assert ChaCha20HeaderProtection(CHACHA_HP).mask(CHACHA_SAMPLE) == CHACHA_MASK
