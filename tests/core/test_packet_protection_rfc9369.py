"""RFC 9369 Appendix A.2, A.3 and A.5: whole QUIC v2 packets protected and unprotected.

The hex below is copied from RFC 9369 Appendix A.
"""

from __future__ import annotations

from pyquic.core.packet_protection import protect_packet, unprotect_packet
from pyquic.core.version import V1, V2
from pyquic.platform.crypto import CipherSuite, QuicPacketKeys

DCID = bytes.fromhex("8394c8f03e515708")

# A.2: the CRYPTO frame, padded with PADDING (zero) frames to a 1162-byte payload
CLIENT_CRYPTO_FRAME = bytes.fromhex(
    """
060040f1010000ed0303ebf8fa56f129 39b9584a3896472ec40bb863cfd3e868
04fe3a47f06a2b69484c000004130113 02010000c000000010000e00000b6578
616d706c652e636f6dff01000100000a 00080006001d00170018001000070005
04616c706e0005000501000000000033 00260024001d00209370b2c9caa47fba
baf4559fedba753de171fa71f50f1ce1 5d43e994ec74d748002b000302030400
0d0010000e0403050306030203080408 050806002d00020101001c0002400100
3900320408ffffffffffffffff050480 00ffff07048000ffff08011001048000
75300901100f088394c8f03e51570806 048000ffff
"""
)
CLIENT_PAYLOAD = CLIENT_CRYPTO_FRAME + bytes(1162 - len(CLIENT_CRYPTO_FRAME))
CLIENT_HEADER = bytes.fromhex("d36b3343cf088394c8f03e5157080000449e00000002")
CLIENT_PROTECTED_HEADER = bytes.fromhex("d76b3343cf088394c8f03e5157080000449ea0c95e82")
CLIENT_PROTECTED = bytes.fromhex(
    """
d76b3343cf088394c8f03e5157080000 449ea0c95e82ffe67b6abcdb4298b485
dd04de806071bf03dceebfa162e75d6c 96058bdbfb127cdfcbf903388e99ad04
9f9a3dd4425ae4d0992cfff18ecf0fdb 5a842d09747052f17ac2053d21f57c5d
250f2c4f0e0202b70785b7946e992e58 a59ac52dea6774d4f03b55545243cf1a
12834e3f249a78d395e0d18f4d766004 f1a2674802a747eaa901c3f10cda5500
cb9122faa9f1df66c392079a1b40f0de 1c6054196a11cbea40afb6ef5253cd68
18f6625efce3b6def6ba7e4b37a40f77 32e093daa7d52190935b8da58976ff33
12ae50b187c1433c0f028edcc4c2838b 6a9bfc226ca4b4530e7a4ccee1bfa2a3
d396ae5a3fb512384b2fdd851f784a65 e03f2c4fbe11a53c7777c023462239dd
6f7521a3f6c7d5dd3ec9b3f233773d4b 46d23cc375eb198c63301c21801f6520
bcfb7966fc49b393f0061d974a2706df 8c4a9449f11d7f3d2dcbb90c6b877045
636e7c0c0fe4eb0f697545460c806910 d2c355f1d253bc9d2452aaa549e27a1f
ac7cf4ed77f322e8fa894b6a83810a34 b361901751a6f5eb65a0326e07de7c12
16ccce2d0193f958bb3850a833f7ae43 2b65bc5a53975c155aa4bcb4f7b2c4e5
4df16efaf6ddea94e2c50b4cd1dfe060 17e0e9d02900cffe1935e0491d77ffb4
fdf85290fdd893d577b1131a610ef6a5 c32b2ee0293617a37cbb08b847741c3b
8017c25ca9052ca1079d8b78aebd4787 6d330a30f6a8c6d61dd1ab5589329de7
14d19d61370f8149748c72f132f0fc99 f34d766c6938597040d8f9e2bb522ff9
9c63a344d6a2ae8aa8e51b7b90a4a806 105fcbca31506c446151adfeceb51b91
abfe43960977c87471cf9ad4074d30e1 0d6a7f03c63bd5d4317f68ff325ba3bd
80bf4dc8b52a0ba031758022eb025cdd 770b44d6d6cf0670f4e990b22347a7db
848265e3e5eb72dfe8299ad7481a4083 22cac55786e52f633b2fb6b614eaed18
d703dd84045a274ae8bfa73379661388 d6991fe39b0d93debb41700b41f90a15
c4d526250235ddcd6776fc77bc97e7a4 17ebcb31600d01e57f32162a8560cacc
7e27a096d37a1a86952ec71bd89a3e9a 30a2a26162984d7740f81193e8238e61
f6b5b984d4d3dfa033c1bb7e4f0037fe bf406d91c0dccf32acf423cfa1e70710
10d3f270121b493ce85054ef58bada42 310138fe081adb04e2bd901f2f13458b
3d6758158197107c14ebb193230cd115 7380aa79cae1374a7c1e5bbcb80ee23e
06ebfde206bfb0fcbc0edc4ebec30966 1bdd908d532eb0c6adc38b7ca7331dce
8dfce39ab71e7c32d318d136b6100671 a1ae6a6600e3899f31f0eed19e3417d1
34b90c9058f8632c798d4490da498730 7cba922d61c39805d072b589bd52fdf1
e86215c2d54e6670e07383a27bbffb5a ddf47d66aa85a0c6f9f32e59d85a44dd
5d3b22dc2be80919b490437ae4f36a0a e55edf1d0b5cb4e9a3ecabee93dfc6e3
8d209d0fa6536d27a5d6fbb17641cde2 7525d61093f1b28072d111b2b4ae5f89
d5974ee12e5cf7d5da4d6a31123041f3 3e61407e76cffcdcfd7e19ba58cf4b53
6f4c4938ae79324dc402894b44faf8af bab35282ab659d13c93f70412e85cb19
9a37ddec600545473cfb5a05e08d0b20 9973b2172b4d21fb69745a262ccde96b
a18b2faa745b6fe189cf772a9f84cbfc
"""
)

# A.3
SERVER_PAYLOAD = bytes.fromhex(
    """
02000000000600405a020000560303ee fce7f7b37ba1d1632e96677825ddf739
88cfc79825df566dc5430b9a045a1200 130100002e00330024001d00209d3c94
0d89690b84d08a60993c144eca684d10 81287c834d5311bcf32bb9da1a002b00
020304
"""
)
SERVER_HEADER = bytes.fromhex("d16b3343cf0008f067a5502a4262b50040750001")
SERVER_PROTECTED_HEADER = bytes.fromhex("dc6b3343cf0008f067a5502a4262b5004075d92f")
SERVER_PROTECTED = bytes.fromhex(
    """
dc6b3343cf0008f067a5502a4262b500 4075d92faaf16f05d8a4398c47089698
baeea26b91eb761d9b89237bbf872630 17915358230035f7fd3945d88965cf17
f9af6e16886c61bfc703106fbaf3cb4c fa52382dd16a393e42757507698075b2
c984c707f0a0812d8cd5a6881eaf21ce da98f4bd23f6fe1a3e2c43edd9ce7ca8
4bed8521e2e140
"""
)

# A.5
CHACHA_SECRET = bytes.fromhex("9ac312a7f877468ebe69422748ad00a1 5443f18203a07d6060f688f30f21632b")
CHACHA_PN = 654360564
CHACHA_HEADER = bytes.fromhex("4200bff4")
CHACHA_CIPHERTEXT = bytes.fromhex("0ae7b6b932bc27d786f4bc2bb20f2162ba")
CHACHA_PACKET = bytes.fromhex("5558b1c60ae7b6b932bc27d786f4bc2bb20f2162ba")

INITIAL_PN_OFFSET = 18  # 1 + 4 + 1 + 8 + 1 + 0 + 1 (token length) + 2 (Length)


def test_rfc9369_a2_protect_client_initial() -> None:
    send, _ = QuicPacketKeys.initial(V2, DCID, is_client=True)
    buf = bytearray(CLIENT_HEADER + CLIENT_PAYLOAD + bytes(16))
    total = protect_packet(send, buf, len(CLIENT_HEADER), 2, 4, len(CLIENT_PAYLOAD))
    assert total == len(CLIENT_PROTECTED) == 1200
    assert buf[: len(CLIENT_HEADER)] == CLIENT_PROTECTED_HEADER
    assert bytes(buf) == CLIENT_PROTECTED


def test_rfc9369_a2_unprotect_client_initial() -> None:
    _, receive = QuicPacketKeys.initial(V2, DCID, is_client=False)
    result = unprotect_packet(receive, CLIENT_PROTECTED, INITIAL_PN_OFFSET, None)
    assert result == (CLIENT_HEADER, 2, CLIENT_PAYLOAD)
    # v1 Initial keys for the same DCID cannot open a v2 packet
    _, v1_receive = QuicPacketKeys.initial(V1, DCID, is_client=False)
    assert unprotect_packet(v1_receive, CLIENT_PROTECTED, INITIAL_PN_OFFSET, None) is None


def test_rfc9369_a3_protect_server_initial() -> None:
    send, _ = QuicPacketKeys.initial(V2, DCID, is_client=False)
    buf = bytearray(SERVER_HEADER + SERVER_PAYLOAD + bytes(16))
    total = protect_packet(send, buf, len(SERVER_HEADER), 1, 2, len(SERVER_PAYLOAD))
    assert total == len(SERVER_PROTECTED)
    assert buf[: len(SERVER_HEADER)] == SERVER_PROTECTED_HEADER
    assert bytes(buf) == SERVER_PROTECTED


def test_rfc9369_a3_unprotect_server_initial() -> None:
    _, receive = QuicPacketKeys.initial(V2, DCID, is_client=True)
    result = unprotect_packet(receive, bytearray(SERVER_PROTECTED), INITIAL_PN_OFFSET, None)
    assert result == (SERVER_HEADER, 1, SERVER_PAYLOAD)


def test_rfc9369_a5_chacha20_payload_ciphertext() -> None:
    keys = QuicPacketKeys.from_secret(CipherSuite.CHACHA20_POLY1305_SHA256, CHACHA_SECRET, V2)
    buf = bytearray(CHACHA_HEADER + b"\x01" + bytes(16))
    assert keys.aead.seal_into(CHACHA_PN, buf, 4, 1) == 21
    assert buf[4:] == CHACHA_CIPHERTEXT


def test_rfc9369_a5_chacha20_short_header_packet() -> None:
    keys = QuicPacketKeys.from_secret(CipherSuite.CHACHA20_POLY1305_SHA256, CHACHA_SECRET, V2)
    buf = bytearray(CHACHA_HEADER + b"\x01" + bytes(16))
    assert protect_packet(keys, buf, 4, CHACHA_PN, 3, 1) == 21
    assert bytes(buf) == CHACHA_PACKET
    result = unprotect_packet(keys, CHACHA_PACKET, 1, CHACHA_PN - 1)
    assert result == (CHACHA_HEADER, CHACHA_PN, b"\x01")
