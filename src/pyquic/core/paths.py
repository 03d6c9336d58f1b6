"""Network paths: path validation (RFC 9000 §8.2) and connection migration (RFC 9000 §9).

Design: a :class:`Path` is plain data (the peer address, whether it is validated, the bytes sent
and received on it for the anti-amplification limit, the outstanding PATH_CHALLENGE data and the
validation timers).  The connection keeps one :class:`PathSet`: the active path and at most one
other path (a probing path, or the previously active path while the new one is validated,
RFC 9000 §9.3.3).  The functions here are called by the receive and send paths and the timer:

* a non-probing packet with the highest packet number from a new address moves the active path
  there (RFC 9000 §9.3); the new path is validated with PATH_CHALLENGE, limited to three times
  the bytes received on it (§8.2.1, §9.3), and the old one is validated again (§9.3.3);
* probing packets from a new address are answered on that address and move nothing (§9.1);
* a validation that times out (§8.2.4) abandons the path; a failed active path falls back to the
  previous validated path (§9.3.2);
* :func:`migrate` is the client's migration to a new local address (§9.2, §9.5);
* a server offers a preferred address (:func:`offer_preferred_address`, or the endpoint's
  configured one); a client that allows migration moves there once the handshake is confirmed,
  with the preferred_address's CID, validating the path (§9.6.1), and sets
  ``PathSet.rebind_requested`` so that its platform sends from a new local address (a socket of
  the preferred address's family): the move is then a new path whatever the server sees.

PATH_CHALLENGE frames on the active path ride in the ordinary packets (:mod:`send_path`); frames
for the other path go in their own datagram, padded to 1200 bytes as far as the anti-amplification
limit allows (§8.2.1, §8.2.2).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address
from typing import TYPE_CHECKING

from pyquic.core import key_update
from pyquic.core.congestion import create_controller
from pyquic.core.frames import (
    Frame,
    NewConnectionIdFrame,
    PaddingFrame,
    PathChallengeFrame,
    PathResponseFrame,
)
from pyquic.core.levels import EncryptionLevel, PacketSpace
from pyquic.core.packet_builder import plan_packet, seal_packet
from pyquic.core.sent_packet import SentPacket
from pyquic.core.transport_params import PreferredAddress, TransportParameters
from pyquic.core.version import PacketType

if TYPE_CHECKING:
    from pyquic.core.connection import Connection

Address = Hashable
HostPort = tuple[str, int]  # an IP address and a port, as the client's peer address
PreferredOffer = tuple[HostPort | None, HostPort | None]  # a server's (IPv4, IPv6) preference
MIN_PROBE_DATAGRAM_SIZE = 1200  # RFC 9000 §8.2.1: datagrams with PATH_CHALLENGE are expanded
AMPLIFICATION_FACTOR = 3  # RFC 9000 §8.1, §9.3
MIN_PROBE_PACKET_SIZE = 64  # room for a short header, two 9-byte frames and the AEAD tag
_PROBING_FRAMES = (PathChallengeFrame, PathResponseFrame, NewConnectionIdFrame, PaddingFrame)


class MigrationError(RuntimeError):
    """:meth:`Connection.migrate` is not allowed now (RFC 9000 §9, §9.5)."""


@dataclass(slots=True)
class Path:
    """One network path, named by the peer's address."""

    address: Address
    validated: bool = False
    bytes_sent: int = 0
    bytes_received: int = 0
    local_cid: bytes | None = None  # the DCID the peer last used on it (RFC 9000 §9.5)
    challenges: list[bytes] = field(default_factory=list)  # data of the challenges we sent
    challenge_due: bool = False  # a PATH_CHALLENGE is to be sent on the path
    retransmit_us: int | None = None  # when to send another PATH_CHALLENGE (§8.2.1)
    deadline_us: int | None = None  # the validation fails after it (§8.2.4)
    responses: list[bytes] = field(default_factory=list)  # PATH_RESPONSE owed (other path only)
    failed: bool = False

    @property
    def validating(self) -> bool:
        return self.deadline_us is not None


class PathSet:
    """The active path and at most one other (probing or previously active) path."""

    __slots__ = (
        "active",
        "other",
        "preferred_offer",
        "rebind_requested",
        "recv_address",
        "recv_size",
        "validations",
    )

    def __init__(self, address: Address) -> None:
        # the handshake's path: its address is validated by the handshake (RFC 9000 §8.1)
        self.active = Path(address, validated=True)
        self.other: Path | None = None
        self.recv_address: Address = address  # of the datagram being processed
        self.recv_size = 0
        self.validations = 0  # paths validated by PATH_RESPONSE (for statistics and tests)
        # server: the preferred_address to advertise, IPv4 and IPv6 (RFC 9000 §9.6)
        self.preferred_offer: PreferredOffer | None = None
        # client: the platform is asked to send from a new local address (a new socket) from
        # now on, because the connection moved to the server's preferred address (RFC 9000
        # §9.6.1); the platform clears it once it has moved
        self.rebind_requested = False

    def on_datagram(self, address: Address, size: int) -> None:
        """Count a received datagram on its path (RFC 9000 §8.1: bytes received from an address)."""
        self.recv_address = address
        self.recv_size = size
        path = self.path_of(address)
        if path is not None:
            path.bytes_received += size

    def path_of(self, address: Address) -> Path | None:
        if self.active.address == address:
            return self.active
        if self.other is not None and self.other.address == address:
            return self.other
        return None


# --- receiving ------------------------------------------------------------------------------------


def on_packet(
    conn: Connection,
    frames: Sequence[Frame],
    packet_number: int,
    largest_before: int | None,
    destination_cid: bytes,
    now_us: int,
) -> None:
    """An authenticated 1-RTT packet arrived from ``conn.paths.recv_address``."""
    paths = conn.paths
    address = paths.recv_address
    if address == paths.active.address:
        paths.active.local_cid = destination_cid
        return
    if conn.is_client or not conn.handshake_confirmed:
        return  # RFC 9000 §9: no migration before the handshake is confirmed; servers don't move
    probing = all(isinstance(frame, _PROBING_FRAMES) for frame in frames)
    highest = largest_before is None or packet_number > largest_before
    if probing or not highest:
        # RFC 9000 §9.1, §9.3: probes and reordered packets are answered but move nothing
        if paths.path_of(address) is None:
            paths.other = _new_path(paths, address, destination_cid)
            if probing:
                # a peer probing a new path is about to move there (RFC 9000 §9.2): validate it
                # now, the PATH_CHALLENGE leaving with our PATH_RESPONSE (§8.2), so the path is
                # ready (and the move needs no second round trip) when the peer comes over
                start_validation(conn, paths.other, now_us)
        return
    _move_to(conn, address, destination_cid, now_us)


def _new_path(paths: PathSet, address: Address, destination_cid: bytes) -> Path:
    return Path(address, bytes_received=paths.recv_size, local_cid=destination_cid)


def _move_to(conn: Connection, address: Address, destination_cid: bytes, now_us: int) -> None:
    """RFC 9000 §9.3: the peer moved; send to the new address and validate it."""
    paths = conn.paths
    old = paths.active
    new = paths.path_of(address) or _new_path(paths, address, destination_cid)
    known = new.validated
    paths.active, paths.other = new, old
    conn.peer_address = address
    # RFC 9000 §9.5: a peer that changed its CID on the new path gets a new CID from us too
    if destination_cid != old.local_cid and conn.peer_cids is not None:
        conn.peer_cids.switch_to_unused(retire_current=True)
    new.local_cid = destination_cid
    if not _same_host(old.address, address):
        _reset_recovery(conn)  # RFC 9000 §9.4: a new path, new RTT and congestion state
    if known:
        return  # RFC 9000 §9.3: a path validated before (or while probed); §9.3.3 the old one
    start_validation(conn, new, now_us)
    if old.validated and not old.validating:
        start_validation(conn, old, now_us)  # RFC 9000 §9.3.3: validate the previous path


def _same_host(a: Address, b: Address) -> bool:
    """RFC 9000 §9.4: a port change alone (NAT rebinding) keeps the RTT and congestion state."""
    if isinstance(a, tuple) and isinstance(b, tuple) and len(a) >= 2 and len(b) >= 2:
        return bool(a[0] == b[0])
    return False


def _reset_recovery(conn: Connection) -> None:
    """RFC 9000 §9.4, RFC 9002 §5.3: restart RTT estimation and congestion control."""
    conn.rtt.reset()
    old = conn.cc
    cc = create_controller(
        conn.settings.congestion_control_algorithm,
        max_datagram_size=conn.max_datagram_size,
        initial_window_packets=conn.settings.initial_window_packets,
    )
    cc.bytes_in_flight = old.bytes_in_flight  # the old path's packets are still acknowledged
    conn.cc = cc
    conn.loss.cc = cc
    if conn.pacer is not None:
        conn.pacer._cc = cc


def on_path_challenge(conn: Connection, data: bytes) -> None:
    """RFC 9000 §8.2.2: echo the data on the path the challenge arrived on."""
    paths = conn.paths
    path = paths.path_of(paths.recv_address)
    if path is None or path is paths.active:
        conn.path_responses.append(data)
    else:
        path.responses.append(data)


def on_path_response(conn: Connection, data: bytes) -> None:
    """RFC 9000 §8.2.3: a response with the data of one of our challenges validates that path,
    on whichever path it arrives; any other response is ignored."""
    paths = conn.paths
    for path in (paths.active, paths.other):
        if path is not None and data in path.challenges:
            path.validated = True
            path.challenges.clear()
            path.challenge_due = False
            path.retransmit_us = path.deadline_us = None
            paths.validations += 1
            return


# --- validation and its timers (RFC 9000 §8.2.1, §8.2.4) ------------------------------------------


def start_validation(conn: Connection, path: Path, now_us: int) -> None:
    path.challenge_due = True
    path.failed = False
    pto = _pto_us(conn)
    # RFC 9000 §8.2.4: 3x the larger of the current PTO and the new path's PTO (kInitialRtt)
    new_path_pto = 3 * conn.settings.initial_rtt_us + conn.peer_max_ack_delay_us
    path.deadline_us = now_us + 3 * max(pto, new_path_pto)
    path.retransmit_us = now_us + pto


def _pto_us(conn: Connection) -> int:
    return conn.rtt.pto_duration_us(
        include_max_ack_delay=True, max_ack_delay_us=conn.peer_max_ack_delay_us
    )


def next_timer_us(conn: Connection) -> int | None:
    paths = conn.paths
    times = [
        t
        for path in (paths.active, paths.other)
        if path is not None
        for t in (path.retransmit_us, path.deadline_us)
        if t is not None
    ]
    return min(times) if times else None


def on_timer(conn: Connection, now_us: int) -> None:
    paths = conn.paths
    for path in (paths.active, paths.other):
        if path is None:
            continue
        if path.deadline_us is not None and now_us >= path.deadline_us:
            _on_validation_failed(conn, path)
        elif path.retransmit_us is not None and now_us >= path.retransmit_us:
            path.challenge_due = True  # RFC 9000 §8.2.1: retransmit, at most once per PTO
            path.retransmit_us = now_us + _pto_us(conn)


def _on_validation_failed(conn: Connection, path: Path) -> None:
    """RFC 9000 §8.2.4: abandon the path; §9.3.2: fall back to the last validated path."""
    paths = conn.paths
    path.validated = False
    path.failed = True
    path.challenge_due = False
    path.retransmit_us = path.deadline_us = None
    if path is paths.other:
        paths.other = None
        return
    fallback = paths.other
    if fallback is not None and fallback.validated:
        paths.active, paths.other = fallback, None
        conn.peer_address = fallback.address


# --- sending ------------------------------------------------------------------------------------


def amplification_allowance(conn: Connection) -> int | None:
    """Bytes we may still send on an unvalidated active path (RFC 9000 §8.1, §9.3); None: no
    limit.  A client's peer address (the server's) does not change when the client migrates."""
    active = conn.paths.active
    if conn.is_client or active.validated:
        return None
    return max(AMPLIFICATION_FACTOR * active.bytes_received - active.bytes_sent, 0)


def on_sent(conn: Connection, size: int) -> None:
    conn.paths.active.bytes_sent += size


def wants_to_send(conn: Connection) -> bool:
    """PATH_RESPONSE or PATH_CHALLENGE frames are due on the active path."""
    return bool(conn.path_responses) or conn.paths.active.challenge_due


def add_frames(conn: Connection, add: Callable[[Frame, None], bool]) -> bool:
    """Add the active path's PATH_RESPONSE and PATH_CHALLENGE frames; False: the packet is full."""
    while conn.path_responses:
        if not add(PathResponseFrame(conn.path_responses[0]), None):
            return False
        conn.path_responses.pop(0)
    challenge = take_challenge(conn)
    if challenge is not None and not add(challenge, None):
        conn.paths.active.challenge_due = True
        return False
    return True


def take_challenge(conn: Connection) -> PathChallengeFrame | None:
    """A PATH_CHALLENGE for the active path, with fresh unpredictable data (RFC 9000 §8.2.1)."""
    path = conn.paths.active
    if not path.challenge_due:
        return None
    path.challenge_due = False
    data = conn.rng.randbytes(8)
    path.challenges.append(data)
    return PathChallengeFrame(data)


def other_path_datagrams(conn: Connection, now_us: int) -> list[tuple[bytes, Address]]:
    """One datagram to the other path with its PATH_CHALLENGE and PATH_RESPONSE frames."""
    path = conn.paths.other
    if path is None or not (path.challenge_due or path.responses):
        return []
    if conn.keys.send_keys(EncryptionLevel.APPLICATION) is None or conn.peer_cids is None:
        return []
    size = MIN_PROBE_DATAGRAM_SIZE
    if not path.validated:  # RFC 9000 §8.2.1, §9.3: within the anti-amplification limit
        size = min(size, AMPLIFICATION_FACTOR * path.bytes_received - path.bytes_sent)
        if size < MIN_PROBE_PACKET_SIZE:
            return []
    frames: list[Frame] = [PathResponseFrame(data) for data in path.responses]
    path.responses.clear()
    if path.challenge_due:
        path.challenge_due = False
        data = conn.rng.randbytes(8)
        path.challenges.append(data)
        frames.append(PathChallengeFrame(data))
    datagram = _probe_packet(conn, frames, size, now_us)
    if datagram is None:
        return []
    path.bytes_sent += len(datagram)
    return [(datagram, path.address)]


def _probe_packet(conn: Connection, frames: list[Frame], size: int, now_us: int) -> bytes | None:
    key_update.before_send(conn)  # RFC 9001 §6.6
    keys = conn.keys.send_keys(EncryptionLevel.APPLICATION)
    assert keys is not None and conn.peer_cids is not None
    space = PacketSpace.APPLICATION
    plan = plan_packet(
        PacketType.ONE_RTT,
        destination_cid=conn.peer_cids.current,
        source_cid=b"",
        token=b"",
        packet_number=conn.next_packet_number[space],
        largest_acked=conn.loss.largest_acked(space),
        space_left=size,
    )
    if plan is None:
        return None
    payload = bytearray()
    for frame in frames:
        frame.encode(payload)
    if len(payload) > plan.max_payload:
        return None
    packet = seal_packet(
        plan,
        keys,
        conn.version,
        payload,
        destination_cid=conn.peer_cids.current,
        source_cid=b"",
        key_phase=conn.keys.key_phase,
        pad_to=size,
    )
    # registered so the peer's ACK of it is valid (RFC 9000 §13.1); not in flight on this path
    conn.loss.on_packet_sent(
        SentPacket(plan.packet_number, space, now_us, len(packet), False, False, [])
    )
    conn.next_packet_number[space] += 1
    conn.keys.on_packet_sealed(plan.packet_number, len(packet))
    return packet


# --- the client's migration (RFC 9000 §9.2, §9.5) -------------------------------------------------


def migrate(conn: Connection, now_us: int) -> None:
    """The client's datagrams come from a new local address from now on: use an unused peer CID
    (RFC 9000 §9.5), restart recovery (§9.4) and validate the new path (§9.2, §8.2)."""
    if not conn.is_client:
        raise MigrationError("only a client migrates (RFC 9000 §9)")
    if not conn.handshake_confirmed or conn.peer_parameters is None or conn.peer_cids is None:
        raise MigrationError("migration before the handshake is confirmed (RFC 9000 §9)")
    if conn.peer_parameters.disable_active_migration:
        raise MigrationError("the peer sent disable_active_migration (RFC 9000 §9, §18.2)")
    if conn.peer_cids.unused_count == 0:
        raise MigrationError("no unused peer connection ID for a new path (RFC 9000 §9.5)")
    conn.peer_cids.switch_to_unused(retire_current=True)
    paths = conn.paths
    paths.active = Path(conn.peer_address, validated=False)
    paths.other = None  # the old local address is gone
    _reset_recovery(conn)
    start_validation(conn, paths.active, now_us)


# --- the server's preferred address (RFC 9000 §9.6) -----------------------------------------------


def offer_preferred_address(
    conn: Connection, *, ipv4: HostPort | None = None, ipv6: HostPort | None = None
) -> None:
    """Server, before the client's first Initial: advertise a preferred_address (RFC 9000 §9.6,
    §18.2) with a new connection ID (sequence 1, §5.1.1) and its reset token.  Datagrams the
    client sends there must reach this connection."""
    if conn.is_client or conn.tls is not None:
        raise ValueError("only a server offers a preferred address, before its handshake")
    if ipv4 is None and ipv6 is None:
        raise ValueError("a preferred address needs an IPv4 or an IPv6 address")
    conn.paths.preferred_offer = (ipv4, ipv6)


def offer_configured_address(conn: Connection, offer: PreferredOffer | None) -> None:
    """A server endpoint's configured preferred address (none: nothing to offer), RFC 9000 §9.6."""
    if offer is not None:
        offer_preferred_address(conn, ipv4=offer[0], ipv6=offer[1])


def with_preferred_address(conn: Connection, params: TransportParameters) -> TransportParameters:
    """The server's transport parameters with the offered preferred_address, if any."""
    offer = conn.paths.preferred_offer
    if offer is None:
        return params
    ipv4, ipv6 = offer
    cid, token = conn.local_cids.reserve_preferred()
    preferred = PreferredAddress(
        IPv4Address(ipv4[0]) if ipv4 else None,
        ipv4[1] if ipv4 else 0,
        IPv6Address(ipv6[0]) if ipv6 else None,
        ipv6[1] if ipv6 else 0,
        cid,
        token,
    )
    return dataclasses.replace(params, preferred_address=preferred)


def use_preferred_address(conn: Connection, now_us: int) -> None:
    """Client, once the handshake is confirmed (RFC 9000 §9.6.1): move to the server's preferred
    address with its connection ID and validate the path; if validation fails (§8.2.4) we fall
    back to the original address (§9.6.1: the client may keep using it)."""
    params = conn.peer_parameters
    if not conn.is_client or params is None or params.preferred_address is None:
        return
    if not conn.settings.migration_enabled or conn.peer_cids is None:
        return
    preferred = params.preferred_address
    if preferred.ipv4_address is not None:  # IPv4 first: the simulated network has no families
        address: HostPort = (str(preferred.ipv4_address), preferred.ipv4_port)
    else:
        address = (str(preferred.ipv6_address), preferred.ipv6_port)
    frame = NewConnectionIdFrame(1, 0, preferred.connection_id, preferred.stateless_reset_token)
    conn.peer_cids.on_new_connection_id(frame)  # §5.1.1: its sequence number is 1
    conn.peer_cids.switch_to_unused(retire_current=False)  # §9.5: a new CID on the new path
    paths = conn.paths
    paths.active, paths.other = Path(address), paths.active
    conn.peer_address = address
    # the address family may differ, and a new local port makes the move a new path whichever
    # address the server sees it on (RFC 9000 §9.6.1, §9.5)
    paths.rebind_requested = True
    _reset_recovery(conn)  # RFC 9000 §9.4
    start_validation(conn, paths.active, now_us)
