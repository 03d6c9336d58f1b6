"""Key shares for x25519, secp256r1, secp384r1 and X25519MLKEM768 (RFC 8446 §4.2.8, §7.4)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, mlkem, x25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from pyquic.core.errors import QuicError
from pyquic.platform.tls.constants import NamedGroup
from pyquic.platform.tls.key_exchange import (
    SUPPORTED_GROUPS,
    generate,
    group_parameters,
    respond,
)

ILLEGAL_PARAMETER = 0x100 + 47
GROUPS = list(NamedGroup)
X25519_LOW_ORDER = [bytes(32), b"\x01" + bytes(31)]  # u = 0 and u = 1 give an all-zero secret

EXPECTED_LENGTHS = {  # (client share, server share, shared secret)
    NamedGroup.X25519: (32, 32, 32),
    NamedGroup.SECP256R1: (65, 65, 32),  # §4.2.8.2: 0x04 || X || Y
    NamedGroup.SECP384R1: (97, 97, 48),
    NamedGroup.X25519MLKEM768: (1216, 1120, 64),  # 1184 + 32, 1088 + 32, 32 + 32
}


def _expect_illegal_parameter(excinfo: pytest.ExceptionInfo[QuicError]) -> None:
    assert excinfo.value.error_code == ILLEGAL_PARAMETER
    assert excinfo.value.tls_alert == 47


def test_every_group_is_supported() -> None:
    assert set(SUPPORTED_GROUPS) == set(NamedGroup)


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: g.name)
def test_both_roles_agree(group: NamedGroup) -> None:
    client = generate(group)
    assert client.group is group
    server_share, server_secret = respond(group, client.public_bytes)
    client_secret = client.complete(server_share)
    assert client_secret == server_secret
    client_len, server_len, secret_len = EXPECTED_LENGTHS[group]
    assert len(client.public_bytes) == client_len
    assert len(server_share) == server_len
    assert len(client_secret) == secret_len
    params = group_parameters(group)
    assert (params.client_share_length, params.server_share_length) == (client_len, server_len)
    assert params.shared_secret_length == secret_len
    # Fresh keys every time.
    assert generate(group).public_bytes != client.public_bytes
    assert respond(group, client.public_bytes)[1] != server_secret


@pytest.mark.parametrize("group", [NamedGroup.SECP256R1, NamedGroup.SECP384R1])
def test_ec_shares_are_uncompressed_points(group: NamedGroup) -> None:
    client = generate(group)
    assert client.public_bytes[0] == 0x04  # §4.2.8.2 legacy_form
    server_share, _ = respond(group, client.public_bytes)
    assert server_share[0] == 0x04


def test_hybrid_order_is_mlkem_then_x25519_client_side() -> None:
    # Build the server's share by hand from the client's, with cryptography directly.
    client = generate(NamedGroup.X25519MLKEM768)
    encapsulation_key, x25519_public = client.public_bytes[:1184], client.public_bytes[1184:]
    mlkem_secret, ciphertext = mlkem.MLKEM768PublicKey.from_public_bytes(
        encapsulation_key
    ).encapsulate()
    server_x25519 = x25519.X25519PrivateKey.generate()
    x25519_secret = server_x25519.exchange(x25519.X25519PublicKey.from_public_bytes(x25519_public))
    server_share = ciphertext + server_x25519.public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw
    )
    assert client.complete(server_share) == mlkem_secret + x25519_secret


def test_hybrid_order_is_mlkem_then_x25519_server_side() -> None:
    mlkem_key = mlkem.MLKEM768PrivateKey.generate()
    x25519_key = x25519.X25519PrivateKey.generate()
    client_share = mlkem_key.public_key().public_bytes_raw() + x25519_key.public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw
    )
    server_share, secret = respond(NamedGroup.X25519MLKEM768, client_share)
    mlkem_secret = mlkem_key.decapsulate(server_share[:1088])
    x25519_secret = x25519_key.exchange(
        x25519.X25519PublicKey.from_public_bytes(server_share[1088:])
    )
    assert secret == mlkem_secret + x25519_secret


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: g.name)
def test_wrong_lengths_are_illegal_parameter(group: NamedGroup) -> None:
    client = generate(group)
    server_share, _ = respond(group, client.public_bytes)
    for good, operation in (
        (client.public_bytes, lambda share: respond(group, share)),
        (server_share, client.complete),
    ):
        for bad in (b"", good[:-1], good + b"\x00", good * 2):
            with pytest.raises(QuicError) as excinfo:
                operation(bad)
            _expect_illegal_parameter(excinfo)


@pytest.mark.parametrize("group", [NamedGroup.SECP256R1, NamedGroup.SECP384R1])
def test_invalid_ec_points_are_illegal_parameter(group: NamedGroup) -> None:
    coordinate = EXPECTED_LENGTHS[group][2]
    valid = generate(group).public_bytes
    numbers = ec.EllipticCurvePublicKey.from_encoded_point(
        ec.SECP256R1() if group is NamedGroup.SECP256R1 else ec.SECP384R1(), valid
    ).public_numbers()
    off_curve = (
        b"\x04"
        + numbers.x.to_bytes(coordinate, "big")
        + ((numbers.y + 1).to_bytes(coordinate, "big"))
    )
    compressed_form = b"\x02" + valid[1:]  # right length, but only 0x04 is allowed
    bad_shares = [
        off_curve,
        compressed_form,
        b"\x04" + bytes(2 * coordinate),  # (0, 0) is not on the curve
        b"\x04" + b"\xff" * (2 * coordinate),  # coordinates beyond the field prime
    ]
    client = generate(group)
    for bad in bad_shares:
        with pytest.raises(QuicError) as excinfo:
            respond(group, bad)
        _expect_illegal_parameter(excinfo)
        with pytest.raises(QuicError) as excinfo:
            client.complete(bad)
        _expect_illegal_parameter(excinfo)
    with pytest.raises(QuicError) as excinfo:
        respond(group, compressed_form)
    assert "uncompressed" in excinfo.value.reason  # refused by the §4.2.8.2 format rule


@pytest.mark.parametrize("low_order", X25519_LOW_ORDER, ids=["zero", "one"])
def test_x25519_all_zero_secret_is_illegal_parameter(low_order: bytes) -> None:
    # RFC 8446 §7.4.2 / RFC 7748 §6: an all-zero shared secret MUST abort.
    with pytest.raises(QuicError) as excinfo:
        respond(NamedGroup.X25519, low_order)
    _expect_illegal_parameter(excinfo)
    with pytest.raises(QuicError) as excinfo:
        generate(NamedGroup.X25519).complete(low_order)
    _expect_illegal_parameter(excinfo)


@pytest.mark.parametrize("low_order", X25519_LOW_ORDER, ids=["zero", "one"])
def test_hybrid_x25519_part_all_zero_is_illegal_parameter(low_order: bytes) -> None:
    group = NamedGroup.X25519MLKEM768
    client = generate(group)
    with pytest.raises(QuicError) as excinfo:
        respond(group, client.public_bytes[:1184] + low_order)
    _expect_illegal_parameter(excinfo)
    server_share, _ = respond(group, client.public_bytes)
    with pytest.raises(QuicError) as excinfo:
        client.complete(server_share[:1088] + low_order)
    _expect_illegal_parameter(excinfo)


def test_hybrid_invalid_encapsulation_key_is_illegal_parameter() -> None:
    # FIPS 203 §7.2: every coefficient must be below q = 3329; 0xfff... encodes 4095.
    client = generate(NamedGroup.X25519MLKEM768)
    with pytest.raises(QuicError) as excinfo:
        respond(NamedGroup.X25519MLKEM768, b"\xff" * 1184 + client.public_bytes[1184:])
    _expect_illegal_parameter(excinfo)


def test_hybrid_tampered_ciphertext_gives_a_different_secret() -> None:
    # ML-KEM decapsulation rejects implicitly: a forged ciphertext yields an unrelated secret,
    # which the Finished check then catches; it is not a key share error.
    group = NamedGroup.X25519MLKEM768
    client = generate(group)
    server_share, server_secret = respond(group, client.public_bytes)
    tampered = bytes((server_share[0] ^ 1,)) + server_share[1:]
    client_secret = client.complete(tampered)
    assert client_secret[:32] != server_secret[:32]
    assert client_secret[32:] == server_secret[32:]


def test_unsupported_group_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        generate(0x0019)  # secp521r1, not implemented
    with pytest.raises(ValueError):
        respond(0x0019, bytes(133))
    with pytest.raises(ValueError):
        group_parameters(0x0100)  # ffdhe2048


@settings(max_examples=60, deadline=None)
@given(group=st.sampled_from(GROUPS), data=st.data())
def test_arbitrary_shares_raise_only_quic_errors(group: NamedGroup, data: st.DataObject) -> None:
    """Random bytes, of the right length or not: a secret or illegal_parameter, never ValueError."""
    params = group_parameters(group)
    client = generate(group)
    for role_length, operation in (
        (params.client_share_length, lambda share: respond(group, share)[1]),
        (params.server_share_length, client.complete),
    ):
        size = data.draw(st.sampled_from([role_length, 0, role_length - 1, 3]))
        share = data.draw(st.binary(min_size=size, max_size=size))
        try:
            secret = operation(share)
        except QuicError as exc:
            assert exc.error_code == ILLEGAL_PARAMETER
        else:
            assert len(secret) == params.shared_secret_length
