"""CryptoProvider: the platform's PacketProtectionFactory (RFC 9001 §5.1, §5.2, §5.8, §6.1)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pyquic.core.crypto_interface import PacketKeys
from pyquic.core.packet_header import encode_retry_without_tag, encode_short_header
from pyquic.core.packet_protection import protect_packet, unprotect_packet
from pyquic.core.tls_interface import PacketProtectionFactory
from pyquic.core.version import V1, V2, VersionInfo
from pyquic.platform.crypto import CipherSuite, CryptoProvider, QuicPacketKeys

# RFC 9001 Appendix A.1
DCID = bytes.fromhex("8394c8f03e515708")
CLIENT_KEY = bytes.fromhex("1f369613dd76d5467730efcbe3b1a22d")
CLIENT_IV = bytes.fromhex("fa044b2f42a3fd3b46fb255c")
CLIENT_HP = bytes.fromhex("9f50449e04a0e810283a1e9933adedd2")
CLIENT_SECRET = bytes.fromhex("c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea")
# RFC 9001 Appendix A.4: the Retry packet (tag included) answering DCID
RETRY_PACKET = bytes.fromhex(
    "ff000000010008f067a5502a4262b5746f6b656e04a265ba2eff4d829058fb3f0f2496ba"
)

# Type-checked conformance: mypy --strict rejects this line if the protocol is not satisfied.
PROVIDER: PacketProtectionFactory = CryptoProvider()


def _protect_short(keys: PacketKeys, pn: int, payload: bytes) -> bytes:
    header = encode_short_header(DCID, packet_number=pn, pn_length=2)
    buf = bytearray(header + payload + bytes(16))
    total = protect_packet(keys, buf, len(header), pn, 2, len(payload))
    return bytes(buf[:total])


def test_initial_keys_match_rfc9001_a1_client_key() -> None:
    client_send, client_receive = PROVIDER.initial_keys(V1, DCID, is_client=True)
    server_send, server_receive = PROVIDER.initial_keys(V1, DCID, is_client=False)
    reference = QuicPacketKeys.from_secret(CipherSuite.AES_128_GCM_SHA256, CLIENT_SECRET, V1)
    assert isinstance(client_send, QuicPacketKeys)
    assert client_send.secret == CLIENT_SECRET
    # The client's send keys are the server's receive keys, and both are RFC 9001 A.1's.
    packet = _protect_short(client_send, 7, b"hello initial")
    assert packet == _protect_short(reference, 7, b"hello initial")
    assert unprotect_packet(server_receive, packet, 1 + len(DCID), None) is not None
    assert unprotect_packet(client_receive, packet, 1 + len(DCID), None) is None
    reply = _protect_short(server_send, 1, b"hello back")
    assert unprotect_packet(client_receive, reply, 1 + len(DCID), None) is not None


def test_initial_aead_uses_rfc9001_a1_key_and_iv() -> None:
    # A packet sealed with the RFC's raw key/IV must open with the provider's client keys.
    send, _ = PROVIDER.initial_keys(V1, DCID, is_client=True)
    pn, header, payload = 2, b"\x40" + DCID + b"\x00\x02", b"\x01" * 20
    nonce = (int.from_bytes(CLIENT_IV, "big") ^ pn).to_bytes(12, "big")
    sealed = AESGCM(CLIENT_KEY).encrypt(nonce, payload, header)
    assert send.aead.open(pn, header, sealed) == payload
    assert len(send.header_protection.mask(bytes(16))) == 5
    assert send.header_protection.mask(bytes(16)) == _aes_ecb(CLIENT_HP, bytes(16))[:5]


def _aes_ecb(key: bytes, block: bytes) -> bytes:
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return encryptor.update(block) + encryptor.finalize()


@pytest.mark.parametrize("suite", list(CipherSuite))
@pytest.mark.parametrize("version", [V1, V2])
def test_keys_from_secret_protect_and_unprotect(suite: CipherSuite, version: VersionInfo) -> None:
    secret = bytes(range(suite.hash_length))
    writer = PROVIDER.keys_from_secret(int(suite), secret, version)
    reader = PROVIDER.keys_from_secret(int(suite), secret, version)
    packet = _protect_short(writer, 0x1234, b"stream data" * 3)
    result = unprotect_packet(reader, packet, 1 + len(DCID), 0x1200)
    assert result is not None
    _header, pn, payload = result
    assert (pn, payload) == (0x1234, b"stream data" * 3)


def test_keys_from_secret_rejects_unknown_suite_and_bad_length() -> None:
    with pytest.raises(ValueError, match="0x1304"):
        PROVIDER.keys_from_secret(0x1304, bytes(32), V1)  # TLS_AES_128_CCM_SHA256: not offered
    with pytest.raises(ValueError, match="32 bytes"):
        PROVIDER.keys_from_secret(0x1301, bytes(48), V1)


def test_next_generation_changes_aead_keeps_header_protection() -> None:
    secret = bytes(range(32))
    keys = PROVIDER.keys_from_secret(0x1301, secret, V1)
    updated = PROVIDER.next_generation(keys)
    peer_updated = PROVIDER.next_generation(PROVIDER.keys_from_secret(0x1301, secret, V1))
    assert updated.header_protection is keys.header_protection  # RFC 9001 §6.1
    packet = _protect_short(updated, 9, b"after key update")
    assert unprotect_packet(peer_updated, packet, 1 + len(DCID), None) is not None
    assert unprotect_packet(keys, packet, 1 + len(DCID), None) is None


def test_next_generation_refuses_foreign_keys() -> None:
    class Foreign:
        aead = None
        header_protection = None

    with pytest.raises(TypeError, match="Foreign"):
        CryptoProvider().next_generation(Foreign())  # type: ignore[arg-type]


def test_retry_integrity_rfc9001_a4() -> None:
    assert PROVIDER.verify_retry_integrity(V1, DCID, RETRY_PACKET)
    assert PROVIDER.retry_integrity_tag(V1, DCID, RETRY_PACKET[:-16]) == RETRY_PACKET[-16:]
    tampered = RETRY_PACKET[:-1] + bytes((RETRY_PACKET[-1] ^ 1,))
    assert not PROVIDER.verify_retry_integrity(V1, DCID, tampered)
    assert not PROVIDER.verify_retry_integrity(V1, DCID, b"short")


def test_retry_round_trip_v2() -> None:
    body = encode_retry_without_tag(V2, b"\x01\x02", b"\x03\x04\x05", b"token")
    packet = body + PROVIDER.retry_integrity_tag(V2, DCID, body)
    assert PROVIDER.verify_retry_integrity(V2, DCID, packet)
    assert not PROVIDER.verify_retry_integrity(V1, DCID, packet)
