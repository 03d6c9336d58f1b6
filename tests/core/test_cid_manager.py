"""Connection ID management (RFC 9000 §5.1, §10.3, §19.15, §19.16)."""

from __future__ import annotations

import hashlib
import hmac
import random

import pytest

from pyquic.core.cid_manager import LocalConnectionIds, PeerConnectionIds, stateless_reset_token
from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.core.frames import FrameType, NewConnectionIdFrame, RetireConnectionIdFrame

KEY = bytes(range(32))
PV = TransportErrorCode.PROTOCOL_VIOLATION
LIMIT_ERROR = TransportErrorCode.CONNECTION_ID_LIMIT_ERROR


def local(seed: int = 1, **kwargs: object) -> LocalConnectionIds:
    return LocalConnectionIds(
        rng=random.Random(seed),
        cid_length=8,
        stateless_reset_key=KEY,
        **kwargs,  # type: ignore[arg-type]
    )


def cid(n: int) -> bytes:
    return bytes([n]) * 8


def token(n: int) -> bytes:
    return bytes([n]) * 16


def ncid(seq: int, rpt: int = 0, *, cid_byte: int | None = None) -> NewConnectionIdFrame:
    n = seq + 1 if cid_byte is None else cid_byte
    return NewConnectionIdFrame(seq, rpt, cid(n), token(n))


def peer(limit: int = 4, **kwargs: object) -> PeerConnectionIds:
    return PeerConnectionIds(
        initial_cid=cid(1),
        active_connection_id_limit=limit,
        **kwargs,  # type: ignore[arg-type]
    )


def check_error(info: pytest.ExceptionInfo[QuicError], code: int, frame_type: int) -> None:
    assert info.value.error_code == code
    assert info.value.frame_type == frame_type


# -- stateless reset tokens ------------------------------------------------------------------------


def test_reset_token_is_truncated_hmac_sha256_rfc9000() -> None:
    expected = hmac.new(KEY, cid(7), hashlib.sha256).digest()[:16]
    assert stateless_reset_token(KEY, cid(7)) == expected
    assert len(expected) == 16


def test_reset_tokens_derivable_by_another_instance_with_the_key() -> None:
    issuer = local(seed=1)
    frames = issuer.frames_to_issue(4)
    other = local(seed=99)  # another process: different CIDs, same static key
    for frame in frames:
        assert frame.stateless_reset_token == other.reset_token(frame.connection_id)
        assert frame.stateless_reset_token == stateless_reset_token(KEY, frame.connection_id)
    assert issuer.initial_reset_token == other.reset_token(issuer.initial)
    stranger = LocalConnectionIds(
        rng=random.Random(1), cid_length=8, stateless_reset_key=b"\x55" * 32
    )
    assert stranger.reset_token(issuer.initial) != issuer.initial_reset_token


# -- LocalConnectionIds ----------------------------------------------------------------------------


def test_initial_id_is_sequence_zero() -> None:
    ids = local(initial_cid=cid(9))
    assert ids.initial == cid(9)
    assert ids.sequence_of(cid(9)) == 0
    assert ids.is_local(cid(9))
    assert ids.next_sequence == 1
    assert ids.active_cids() == [cid(9)]
    drawn = local()
    assert len(drawn.initial) == 8


def test_seeded_rng_makes_ids_deterministic() -> None:
    assert local(seed=5).frames_to_issue(4) == local(seed=5).frames_to_issue(4)
    assert local(seed=5).initial != local(seed=6).initial


def test_issues_up_to_the_peer_limit() -> None:
    ids = local()
    assert ids.wants_to_issue(4)
    frames = ids.frames_to_issue(4)
    assert [f.sequence_number for f in frames] == [1, 2, 3]
    assert all(f.retire_prior_to == 0 for f in frames)
    assert all(len(f.connection_id) == 8 for f in frames)
    assert len({f.connection_id for f in frames} | {ids.initial}) == 4
    assert all(ids.is_local(f.connection_id) for f in frames)
    assert ids.frames_to_issue(4) == []  # in flight: nothing due
    assert not ids.wants_to_issue(4)
    # a larger peer limit later issues more
    assert [f.sequence_number for f in ids.frames_to_issue(6)] == [4, 5]


def test_issuance_is_capped_by_max_active() -> None:
    ids = local(max_active=3)
    assert [f.sequence_number for f in ids.frames_to_issue(1000)] == [1, 2]
    # a peer limit below 2 is invalid (RFC 9000 §18.2): treated as 2
    assert [f.sequence_number for f in local().frames_to_issue(0)] == [1]


def test_lost_frames_are_sent_again_until_acknowledged() -> None:
    ids = local()
    first, second, third = ids.frames_to_issue(4)
    ids.on_frame_lost(first)
    ids.on_frame_acked(second)
    ids.on_frame_lost(second)  # a late loss report after the ack changes nothing
    assert ids.wants_to_issue(4)
    assert ids.frames_to_issue(4) == [first]
    ids.on_frame_acked(first)
    ids.on_frame_lost(first)
    assert ids.frames_to_issue(4) == []
    assert third.sequence_number == 3


def test_retire_of_unissued_sequence_is_protocol_violation() -> None:
    ids = local()
    ids.frames_to_issue(2)  # sequences 0 and 1
    with pytest.raises(QuicError) as info:
        ids.on_retire(2, packet_dcid=ids.initial)
    check_error(info, PV, FrameType.RETIRE_CONNECTION_ID)


def test_retiring_the_packets_own_dcid_is_protocol_violation() -> None:
    ids = local()
    (frame,) = ids.frames_to_issue(2)
    with pytest.raises(QuicError) as info:
        ids.on_retire(1, packet_dcid=frame.connection_id)
    check_error(info, PV, FrameType.RETIRE_CONNECTION_ID)


def test_retired_ids_are_replaced_and_forgotten() -> None:
    ids = local()
    frames = ids.frames_to_issue(4)
    retired = ids.on_retire(0, packet_dcid=frames[0].connection_id)
    assert retired == ids.initial
    assert not ids.is_local(ids.initial)
    assert ids.sequence_of(ids.initial) is None
    assert ids.on_retire(0, packet_dcid=frames[0].connection_id) is None  # repeated frame
    (replacement,) = ids.frames_to_issue(4)
    assert replacement.sequence_number == 4
    assert ids.active_cids() == [f.connection_id for f in frames] + [replacement.connection_id]


def test_lost_frame_of_a_retired_id_is_not_resent() -> None:
    ids = local()
    frames = ids.frames_to_issue(4)
    ids.on_retire(2, packet_dcid=ids.initial)
    ids.on_frame_lost(frames[1])  # sequence 2, retired meanwhile
    new = ids.frames_to_issue(4)
    assert [f.sequence_number for f in new] == [4]


def test_rotation_with_retire_prior_to() -> None:
    ids = local()
    old = ids.frames_to_issue(4)
    for frame in old:
        ids.on_frame_acked(frame)
    assert ids.rotate()
    assert ids.retire_prior_to == 4
    assert ids.rotation_pending
    fresh = ids.frames_to_issue(4)
    assert [f.sequence_number for f in fresh] == [4, 5, 6, 7]
    assert all(f.retire_prior_to == 4 for f in fresh)
    assert not ids.rotate()  # §5.1.2: not before the previous rotation completed
    # old IDs stay valid until the peer retires them
    assert ids.is_local(old[0].connection_id)
    for seq in range(4):
        ids.on_retire(seq, packet_dcid=fresh[0].connection_id)
    assert not ids.rotation_pending
    assert ids.frames_to_issue(4) == []  # four IDs at or above Retire Prior To remain
    assert ids.rotate()


def test_lost_frame_below_retire_prior_to_keeps_a_valid_retire_prior_to() -> None:
    ids = local()
    frames = ids.frames_to_issue(4)
    ids.rotate()
    ids.frames_to_issue(4)
    ids.on_frame_lost(frames[1])  # sequence 2 < Retire Prior To 4
    (resent,) = ids.frames_to_issue(4)
    assert resent.sequence_number == 2
    assert resent.retire_prior_to == 2  # §19.15: never above the sequence number
    resent.to_bytes()  # encodable


def test_cid_in_use_by_another_connection_is_redrawn() -> None:
    taken: set[bytes] = set()
    probe = LocalConnectionIds(rng=random.Random(3), cid_length=8, stateless_reset_key=KEY)
    taken.add(probe.initial)  # the first draw of seed 3
    ids = LocalConnectionIds(
        rng=random.Random(3),
        cid_length=8,
        stateless_reset_key=KEY,
        is_cid_in_use=taken.__contains__,
    )
    assert ids.initial not in taken


def test_running_out_of_ids_is_internal_error() -> None:
    with pytest.raises(QuicError) as info:
        LocalConnectionIds(
            rng=random.Random(1),
            cid_length=8,
            stateless_reset_key=KEY,
            is_cid_in_use=lambda c: True,
        )
    assert info.value.error_code == TransportErrorCode.INTERNAL_ERROR


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"cid_length": 0}, "cid_length"),
        ({"cid_length": 21}, "cid_length"),
        ({"stateless_reset_key": b"short"}, "stateless_reset_key"),
        ({"max_active": 1}, "max_active"),
        ({"initial_cid": b"\x01\x02"}, "initial_cid"),
    ],
)
def test_local_constructor_validation(kwargs: dict[str, object], match: str) -> None:
    arguments: dict[str, object] = {
        "rng": random.Random(1),
        "cid_length": 8,
        "stateless_reset_key": KEY,
    }
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=match):
        LocalConnectionIds(**arguments)  # type: ignore[arg-type]


# -- PeerConnectionIds -----------------------------------------------------------------------------


def test_initial_peer_id_is_current() -> None:
    ids = peer()
    assert ids.current == cid(1)
    assert ids.current_sequence == 0
    assert ids.active_count == 1
    assert ids.unused_count == 0
    assert ids.reset_tokens() == []  # no token for sequence 0 until the server's parameter


def test_replace_initial_and_reset_token() -> None:
    ids = peer()
    ids.replace_initial(cid(2))
    ids.set_initial_reset_token(token(2))
    assert ids.current == cid(2)
    assert ids.reset_tokens() == [token(2)]
    with pytest.raises(ValueError):
        ids.set_initial_reset_token(b"short")


def test_new_ids_are_stored_unused() -> None:
    ids = peer()
    assert ids.on_new_connection_id(ncid(1)) is None
    assert ids.on_new_connection_id(ncid(2)) is None
    assert ids.active_count == 3
    assert ids.unused_count == 2
    assert ids.current == cid(1)
    # an identical frame again (a retransmission) is not an error
    assert ids.on_new_connection_id(ncid(1)) is None
    assert ids.active_count == 3


def test_exceeding_our_limit_is_connection_id_limit_error() -> None:
    ids = peer(limit=2)
    ids.on_new_connection_id(ncid(1))
    with pytest.raises(QuicError) as info:
        ids.on_new_connection_id(ncid(2))
    check_error(info, LIMIT_ERROR, FrameType.NEW_CONNECTION_ID)


def test_retire_prior_to_lets_the_peer_exceed_nothing() -> None:
    """§5.1.1: retiring first means a full replacement stays within the limit."""
    ids = peer(limit=2)
    ids.on_new_connection_id(ncid(1))
    assert ids.on_new_connection_id(ncid(2, rpt=1)) == cid(2)  # sequence 0 retired
    assert ids.active_count == 2


@pytest.mark.parametrize(
    "frame",
    [
        NewConnectionIdFrame(1, 0, cid(9), token(2)),  # sequence 1 with another ID
        NewConnectionIdFrame(1, 0, cid(2), token(9)),  # sequence 1 with another token
        NewConnectionIdFrame(2, 0, cid(2), token(3)),  # sequence 1's ID under sequence 2
        NewConnectionIdFrame(2, 0, cid(3), token(2)),  # sequence 1's token for another ID
    ],
)
def test_conflicting_new_connection_id_is_protocol_violation(frame: NewConnectionIdFrame) -> None:
    ids = peer()
    ids.on_new_connection_id(ncid(1))  # sequence 1: cid(2), token(2)
    with pytest.raises(QuicError) as info:
        ids.on_new_connection_id(frame)
    check_error(info, PV, FrameType.NEW_CONNECTION_ID)


def test_new_connection_id_from_zero_length_peer_is_protocol_violation() -> None:
    ids = PeerConnectionIds(initial_cid=b"", active_connection_id_limit=4)
    with pytest.raises(QuicError) as info:
        ids.on_new_connection_id(ncid(1))
    check_error(info, PV, FrameType.NEW_CONNECTION_ID)
    assert ids.switch_to_unused() is None


def test_retire_prior_to_above_sequence_is_frame_encoding_error() -> None:
    with pytest.raises(QuicError) as info:
        peer().on_new_connection_id(NewConnectionIdFrame(1, 2, cid(2), token(2)))
    check_error(info, TransportErrorCode.FRAME_ENCODING_ERROR, FrameType.NEW_CONNECTION_ID)


def test_retire_prior_to_retires_and_switches_current() -> None:
    ids = peer()
    ids.on_new_connection_id(ncid(1))
    ids.on_new_connection_id(ncid(2))
    new_current = ids.on_new_connection_id(ncid(3, rpt=2))
    assert new_current == cid(3)  # the lowest unused ID at or above Retire Prior To
    assert ids.current_sequence == 2
    assert ids.retire_prior_to == 2
    assert ids.wants_to_send()
    assert ids.frames_to_send() == [RetireConnectionIdFrame(0), RetireConnectionIdFrame(1)]
    assert not ids.wants_to_send()
    assert ids.active_count == 2
    # a smaller Retire Prior To later has no effect (§19.15)
    assert ids.on_new_connection_id(ncid(4, rpt=1)) is None
    assert ids.retire_prior_to == 2
    assert ids.frames_to_send() == []


def test_id_below_retire_prior_to_is_retired_on_receipt() -> None:
    ids = peer()
    ids.on_new_connection_id(ncid(3, rpt=2))  # sequences 1 and 2 never arrived yet
    assert ids.frames_to_send() == [RetireConnectionIdFrame(0)]
    ids.on_new_connection_id(ncid(1))
    ids.on_new_connection_id(ncid(1))  # repeated: not retired twice while owed
    assert ids.frames_to_send() == [RetireConnectionIdFrame(1)]
    assert ids.active_count == 1
    assert ids.current == cid(4)


def test_lost_retire_frames_are_sent_again() -> None:
    ids = peer()
    ids.on_new_connection_id(ncid(1, rpt=1))
    (frame,) = ids.frames_to_send()
    assert ids.pending_retirements == 1
    ids.on_frame_lost(frame)
    assert ids.frames_to_send() == [frame]
    ids.on_frame_acked(frame)
    assert ids.pending_retirements == 0
    ids.on_frame_lost(frame)  # a loss reported after the ack: nothing is due
    assert ids.frames_to_send() == []


def test_too_many_pending_retirements_is_connection_id_limit_error() -> None:
    ids = peer(limit=4, max_pending_retirements=2)
    ids.on_new_connection_id(ncid(1))
    ids.on_new_connection_id(ncid(2))
    with pytest.raises(QuicError) as info:
        ids.on_new_connection_id(ncid(5, rpt=5))  # retires 0, 1, 2: three owed
    check_error(info, LIMIT_ERROR, FrameType.NEW_CONNECTION_ID)


def test_default_pending_bound_is_twice_the_limit() -> None:
    ids = peer(limit=2)
    # each frame retires the previous ID: owed RETIRE frames pile up while unacknowledged
    for seq in range(1, 5):
        ids.on_new_connection_id(ncid(seq, rpt=seq))
    assert ids.pending_retirements == 4
    with pytest.raises(QuicError) as info:
        ids.on_new_connection_id(ncid(5, rpt=5))
    check_error(info, LIMIT_ERROR, FrameType.NEW_CONNECTION_ID)


def test_reset_tokens_cover_used_active_ids_only() -> None:
    ids = peer()
    ids.set_initial_reset_token(token(1))
    ids.on_new_connection_id(ncid(1))
    assert ids.reset_tokens() == [token(1)]  # sequence 1 is unused: not checked (§10.3.1)
    assert ids.switch_to_unused(retire_current=False) == cid(2)
    assert sorted(ids.reset_tokens()) == [token(1), token(2)]
    ids.on_new_connection_id(ncid(2, rpt=1))  # retires sequence 0
    assert ids.reset_tokens() == [token(2)]


def test_stateless_reset_detection() -> None:
    ids = peer()
    ids.set_initial_reset_token(token(1))
    ids.on_new_connection_id(ncid(1))
    datagram = b"\x40" + bytes(20) + token(1)
    assert ids.is_stateless_reset(datagram)
    assert ids.is_stateless_reset(bytearray(datagram))
    assert not ids.is_stateless_reset(b"\x40" * 4 + token(1))  # shorter than 21 bytes
    assert not ids.is_stateless_reset(b"\x40" + bytes(20) + token(2))  # unused ID's token
    assert not ids.is_stateless_reset(b"\x40" + bytes(20) + token(7))


def test_switch_to_unused_retires_the_old_id() -> None:
    ids = peer()
    ids.on_new_connection_id(ncid(1))
    ids.on_new_connection_id(ncid(2))
    assert ids.switch_to_unused() == cid(2)
    assert ids.frames_to_send() == [RetireConnectionIdFrame(0)]
    assert ids.switch_to_unused() == cid(3)
    assert ids.switch_to_unused() is None  # none left
    assert ids.current == cid(3)
    # a retransmitted NEW_CONNECTION_ID for a retired sequence is not taken back
    ids.on_new_connection_id(ncid(1))
    assert ids.active_count == 1


def test_replace_initial_only_while_sequence_zero_is_current() -> None:
    ids = peer()
    ids.on_new_connection_id(ncid(1))
    ids.switch_to_unused()
    with pytest.raises(ValueError):
        ids.replace_initial(cid(5))


def test_peer_constructor_validation() -> None:
    with pytest.raises(ValueError):
        PeerConnectionIds(initial_cid=cid(1), active_connection_id_limit=1)
    with pytest.raises(ValueError):
        PeerConnectionIds(
            initial_cid=cid(1), active_connection_id_limit=2, max_pending_retirements=0
        )
