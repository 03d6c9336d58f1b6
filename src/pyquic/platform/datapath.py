"""The UDP datapath: one socket on an asyncio event loop, with GSO, GRO, ECN and PKTINFO.

MsQuic's datapath layer (``src/platform/datapath_epoll.c``, msquic-facts §4 "Datapath") owns the
UDP sockets of a binding and hands the QUIC layer batches of received datagrams with their ECN
codepoint and local address; on Linux it sends with UDP_SEGMENT (GSO), receives with UDP_GRO and
reads IP_PKTINFO / IP_TOS control messages.  asyncio's ``DatagramTransport`` cannot do any of
that (no ancillary data, one ``sendto`` per datagram), so this module drives a non-blocking socket
directly: :meth:`asyncio.AbstractEventLoop.add_reader` wakes :class:`UdpDatapath`, which then calls
``recvmsg_into`` in a bounded loop (up to ``receive_batch_limit`` calls and
:data:`MAX_RECEIVE_BATCH_DATAGRAMS` datagrams per wakeup, as MsQuic's recvmmsg batches) and
delivers everything it read in one ``on_receive`` call.

Design choices:

* Feature detection (:func:`detect_features`) runs once per process on loopback sockets: GSO and
  GRO when their ``setsockopt`` succeeds, ECN when a datagram sent to itself with ECT(0) in an
  IP_TOS control message comes back reporting it, PKTINFO when that datagram reports its local
  address.  Constants come from :mod:`socket` when it has them, else (Linux only) from the kernel
  headers (``linux/udp.h``: UDP_SEGMENT 103 and UDP_GRO 104 at SOL_UDP 17; ``linux/in.h``:
  IP_PKTINFO 8, IP_MTU_DISCOVER 10; ``linux/in6.h``: IPV6_MTU_DISCOVER 23).
* Sending groups consecutive datagrams to one destination and of one size (the last may be
  shorter) into a single ``sendmsg`` whose iovecs are the datagrams and whose UDP_SEGMENT control
  message carries the segment size, so the kernel cuts them apart (at most 64 segments and
  65,507 bytes per call, the kernel's UDP_MAX_SEGMENTS and IP length limits).  Without GSO each
  datagram is its own ``sendmsg``.  The ECN codepoint (RFC 9000 §13.4) goes into an IP_TOS or
  IPV6_TCLASS control message per call, only when it is not Not-ECT; a dual-stack socket uses
  IP_TOS for IPv4-mapped destinations, as the kernel hands those to the IPv4 stack.
* UDP is lossy, so sending never raises into the protocol: EAGAIN queues the unsent rest (bounded
  by ``max_pending_datagrams``; beyond it datagrams are dropped and counted) and flushes it when
  ``add_writer`` reports the socket writable; ENOBUFS (no writability event follows it) retries
  the queue after a millisecond; any other ``OSError`` drops and counts the datagrams.  A GSO call
  the kernel refuses (EIO: no checksum offload; EINVAL: segment above the path MTU) is resent one
  datagram per call, and EIO switches GSO off for the socket.
* Large datagrams must not be fragmented, or PMTU probes (RFC 8899, RFC 9000 §14.3) would succeed
  falsely: sockets set IP_MTU_DISCOVER / IPV6_MTU_DISCOVER to IP_PMTUDISC_PROBE (don't fragment,
  ignore the cached path MTU), as MsQuic does.
* A socket bound to ``"::"`` is dual-stack (IPV6_V6ONLY off, RFC 3493 §5.3).  Addresses are passed
  through in the socket's own format: on an IPv6 socket an IPv4 peer is ``("::ffff:a.b.c.d", port,
  0, 0)``; :meth:`UdpDatapath.send` also accepts a plain ``(ipv4, port)`` there and maps it.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import select
import socket
import struct
import sys
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

__all__ = [
    "DatapathFeatures",
    "DatapathStatistics",
    "ReceivedDatagram",
    "SocketAddress",
    "UdpDatapath",
    "detect_features",
]

SocketAddress = tuple[Any, ...]
"""A socket address, as :mod:`socket` has it: ``(host, port)`` or ``(host, port, flow, scope)``."""

_LINUX = sys.platform == "linux"
_ABSENT = -1


def _constant(name: str, linux_value: int) -> int:
    """The :mod:`socket` constant ``name``, else its Linux value on Linux, else ``_ABSENT``."""
    value = getattr(socket, name, None)
    if value is not None:
        return int(value)
    return linux_value if _LINUX else _ABSENT


_IPPROTO_IP = int(socket.IPPROTO_IP)
_IPPROTO_IPV6 = int(socket.IPPROTO_IPV6)
_MSG_TRUNC = int(socket.MSG_TRUNC)  # a plain int: IntFlag arithmetic is slow per datagram
_SOL_UDP = _constant("SOL_UDP", 17)
_UDP_SEGMENT = _constant("UDP_SEGMENT", 103)
_UDP_GRO = _constant("UDP_GRO", 104)
_IP_TOS = _constant("IP_TOS", 1)
_IP_RECVTOS = _constant("IP_RECVTOS", 13)
_IP_PKTINFO = _constant("IP_PKTINFO", 8)
_IP_MTU_DISCOVER = _constant("IP_MTU_DISCOVER", 10)
_IP_PMTUDISC_PROBE = _constant("IP_PMTUDISC_PROBE", 3)
_IPV6_TCLASS = _constant("IPV6_TCLASS", 67)
_IPV6_RECVTCLASS = _constant("IPV6_RECVTCLASS", 66)
_IPV6_PKTINFO = _constant("IPV6_PKTINFO", 50)
_IPV6_RECVPKTINFO = _constant("IPV6_RECVPKTINFO", 49)
_IPV6_MTU_DISCOVER = _constant("IPV6_MTU_DISCOVER", 23)
_IPV6_PMTUDISC_PROBE = _constant("IPV6_PMTUDISC_PROBE", 3)

MAX_GSO_SEGMENTS = 64  # UDP_MAX_SEGMENTS in include/linux/udp.h (older kernels; newer allow 128)
MAX_GSO_BYTES = 65_507  # 65,535 minus the IPv4 and UDP headers: one IP datagram's payload
DEFAULT_RECEIVE_BUFFER_BYTES = 2 * 1024 * 1024  # SO_RCVBUF asked for (the kernel caps it)
RECEIVE_BUFFER_BYTES = 65_536  # one GRO-coalesced receive, or the largest UDP datagram
# Datagrams handed up per wakeup at most (GRO may coalesce dozens per read): the QUIC layer
# answers each batch, so a bounded batch keeps the peer's ACKs coming (MsQuic's receive batches
# are likewise bounded in datagrams)
MAX_RECEIVE_BATCH_DATAGRAMS = 64
_RECEIVE_BUFFERS = threading.local()


def _thread_receive_buffer() -> tuple[bytearray, memoryview]:
    """The receive buffer of the calling thread, shared by all its sockets.

    A read copies each datagram out before the next read, so one buffer per thread (per event
    loop) serves every socket: a client holding 10,000 connections, each on its own socket,
    does not hold 10,000 buffers of 64 KB.
    """
    buffers: tuple[bytearray, memoryview] | None = getattr(_RECEIVE_BUFFERS, "value", None)
    if buffers is None:
        buffer = bytearray(RECEIVE_BUFFER_BYTES)
        buffers = _RECEIVE_BUFFERS.value = (buffer, memoryview(buffer))
    return buffers


_ANCILLARY_BYTES = 256  # room for UDP_GRO, IP(V6)_PKTINFO and TOS/TCLASS control messages
_ECN_MASK = 0b11
_ECT0 = 0b10
_ENOBUFS_RETRY_S = 0.001
_FLUSH_RUN_LIMIT = 256  # datagrams handed to one transmit pass while flushing the queue
_PROBE_TIMEOUT_S = 0.5
_GSO_SIZE = struct.Struct("=H")  # UDP_SEGMENT takes a u16
_INT = struct.Struct("=i")


class DatapathFeatures(NamedTuple):
    """What the kernel's UDP stack offers this process (detected once by :func:`detect_features`).

    ``gso``: UDP_SEGMENT send segmentation; ``gro``: UDP_GRO receive coalescing; ``ecn``: the ECN
    codepoint can be set on send and is reported on receive (IP_TOS / IPV6_TCLASS); ``pktinfo``:
    the local address of a received datagram is reported (IP_PKTINFO / IPV6_PKTINFO);
    ``dont_fragment``: datagrams can be sent with DF set regardless of the path MTU cache.
    """

    gso: bool
    gro: bool
    ecn: bool
    pktinfo: bool
    dont_fragment: bool = False


class ReceivedDatagram(NamedTuple):
    """One received UDP datagram: payload, peer, local address (if PKTINFO) and ECN codepoint."""

    data: bytes
    remote: SocketAddress
    local: SocketAddress | None
    ecn: int  # the low 2 bits of the TOS / Traffic Class byte (RFC 3168 §5)


# builds a ReceivedDatagram without the Python-level __new__ of a NamedTuple: one per datagram
_new_tuple = tuple.__new__
_NO_ANCILLARY: tuple[int, int, SocketAddress | None] = (0, 0, None)  # no control message came


@dataclass(slots=True)
class DatapathStatistics:
    """Counters of one :class:`UdpDatapath`."""

    datagrams_sent: int = 0
    bytes_sent: int = 0
    send_calls: int = 0  # successful sendmsg calls
    gso_batches: int = 0  # successful sendmsg calls that carried more than one segment
    send_blocked: int = 0  # times EAGAIN or ENOBUFS deferred sending to the queue
    send_queue_drops: int = 0  # datagrams dropped: queue full, or datapath closed
    send_errors: int = 0  # datagrams dropped on any other OSError
    datagrams_received: int = 0
    bytes_received: int = 0
    receive_calls: int = 0  # successful recvmsg calls
    gro_batches: int = 0  # recvmsg calls that returned more than one coalesced datagram
    receive_errors: int = 0
    receive_truncated: int = 0  # datagrams larger than the receive buffer, dropped

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


# -- feature detection -------------------------------------------------------------------------

_features_lock = threading.Lock()
_features: list[DatapathFeatures] = []


def detect_features() -> DatapathFeatures:
    """Probe the kernel once per process (thread-safe) and return the cached result."""
    with _features_lock:
        if not _features:
            _features.append(_probe_features())
        return _features[0]


def _try_setsockopt(sock: socket.socket, level: int, option: int, value: int) -> bool:
    if level == _ABSENT or option == _ABSENT or value == _ABSENT:
        return False
    try:
        sock.setsockopt(level, option, value)
    except OSError:
        return False
    return True


def _probe_features() -> DatapathFeatures:
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    except OSError:
        return DatapathFeatures(gso=False, gro=False, ecn=False, pktinfo=False)
    with sock:
        gso = _try_setsockopt(sock, _SOL_UDP, _UDP_SEGMENT, 1200)
        gso = gso and _try_setsockopt(sock, _SOL_UDP, _UDP_SEGMENT, 0)  # back to "no GSO"
        gro = _try_setsockopt(sock, _SOL_UDP, _UDP_GRO, 1)
        dont_fragment = _try_setsockopt(
            sock, socket.IPPROTO_IP, _IP_MTU_DISCOVER, _IP_PMTUDISC_PROBE
        )
        tos_ok = _try_setsockopt(sock, socket.IPPROTO_IP, _IP_RECVTOS, 1)
        pktinfo_ok = _try_setsockopt(sock, socket.IPPROTO_IP, _IP_PKTINFO, 1)
        ecn, pktinfo = _probe_round_trip(sock) if tos_ok or pktinfo_ok else (False, False)
    ecn6, pktinfo6 = _probe_ipv6_options()
    return DatapathFeatures(
        gso=gso,
        gro=gro,
        ecn=ecn and tos_ok and ecn6,
        pktinfo=pktinfo and pktinfo_ok and pktinfo6,
        dont_fragment=dont_fragment,
    )


def _probe_round_trip(sock: socket.socket) -> tuple[bool, bool]:
    """Send ECT(0) to ourselves; return (TOS reported with ECT(0), local address reported)."""
    try:
        sock.bind(("127.0.0.1", 0))
        sock.sendmsg(
            [b"pyquic-probe"],
            [(socket.IPPROTO_IP, _IP_TOS, _INT.pack(_ECT0))],
            0,
            sock.getsockname(),
        )
        readable, _, _ = select.select([sock], [], [], _PROBE_TIMEOUT_S)
        if not readable:
            return False, False
        _, ancillary, _, _ = sock.recvmsg(64, _ANCILLARY_BYTES)
    except OSError:
        return False, False
    ecn, local = _parse_ancillary(ancillary, socket.AF_INET, 0)[1:]
    return ecn == _ECT0, local is not None


def _probe_ipv6_options() -> tuple[bool, bool]:
    """Whether IPV6_RECVTCLASS and IPV6_RECVPKTINFO can be set; (True, True) without IPv6."""
    try:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    except OSError:
        return True, True  # no IPv6 in this process: the IPv4 results decide
    with sock:
        tclass = _try_setsockopt(sock, socket.IPPROTO_IPV6, _IPV6_RECVTCLASS, 1)
        pktinfo = _try_setsockopt(sock, socket.IPPROTO_IPV6, _IPV6_RECVPKTINFO, 1)
    return tclass, pktinfo


# -- control messages --------------------------------------------------------------------------


def _parse_ancillary(
    ancillary: list[tuple[int, int, bytes]], family: int, local_port: int
) -> tuple[int, int, SocketAddress | None]:
    """(GRO segment size or 0, ECN codepoint, local address or None) from received cmsgs."""
    segment_bytes = 0
    ecn = 0
    local4: str | None = None
    local6: SocketAddress | None = None
    for level, kind, data in ancillary:
        if level == _SOL_UDP and kind == _UDP_GRO and len(data) >= 4:
            segment_bytes = _INT.unpack_from(data)[0]
        elif level == _IPPROTO_IP and kind == _IP_TOS and data:
            ecn = data[0] & _ECN_MASK  # Linux reports IP_TOS as one byte
        elif level == _IPPROTO_IPV6 and kind == _IPV6_TCLASS and len(data) >= 4:
            ecn = _INT.unpack_from(data)[0] & _ECN_MASK
        elif level == _IPPROTO_IP and kind == _IP_PKTINFO and len(data) >= 12:
            local4 = socket.inet_ntop(socket.AF_INET, data[8:12])  # in_pktinfo.ipi_addr
        elif level == _IPPROTO_IPV6 and kind == _IPV6_PKTINFO and len(data) >= 20:
            host = socket.inet_ntop(socket.AF_INET6, data[:16])  # in6_pktinfo.ipi6_addr
            scope = _INT.unpack_from(data, 16)[0] if host.startswith("fe80:") else 0
            local6 = (host, local_port, 0, scope)
    if family == socket.AF_INET6:
        if local6 is None and local4 is not None:
            local6 = ("::ffff:" + local4, local_port, 0, 0)
        return segment_bytes, ecn, local6
    return segment_bytes, ecn, None if local4 is None else (local4, local_port)


def _is_ipv4_literal(host: object) -> bool:
    if not isinstance(host, str):
        return False
    try:
        socket.inet_pton(socket.AF_INET, host)
    except OSError:
        return False
    return True


def _is_ipv4_mapped(host: object) -> bool:
    return isinstance(host, str) and host[:7].lower() == "::ffff:" and "." in host


def _family_of(host: str) -> int:
    if host in ("", "0.0.0.0"):
        return socket.AF_INET
    try:
        version = ipaddress.ip_address(host.split("%", 1)[0]).version
    except ValueError as exc:
        raise ValueError(f"not a numeric IP address: {host!r}") from exc
    return socket.AF_INET6 if version == 6 else socket.AF_INET


# -- the datapath --------------------------------------------------------------------------------

OnReceive = Callable[[list[ReceivedDatagram]], None]
_EcnControls = tuple[tuple[int, int, bytes], ...]  # indexed by ECN codepoint
_ECN_CONTROLS_IPV4: _EcnControls = tuple(
    (socket.IPPROTO_IP, _IP_TOS, _INT.pack(codepoint)) for codepoint in range(4)
)
_ECN_CONTROLS_IPV6: _EcnControls = tuple(
    (socket.IPPROTO_IPV6, _IPV6_TCLASS, _INT.pack(codepoint)) for codepoint in range(4)
)


class UdpDatapath:
    """One non-blocking UDP socket driven by an asyncio event loop (see the module docstring).

    Create with :meth:`bind` (or :meth:`from_socket` for an already bound socket); every method
    must be called on the loop's thread.  ``on_receive`` gets each wakeup's datagrams as one list.
    """

    def __init__(
        self,
        sock: socket.socket,
        *,
        loop: asyncio.AbstractEventLoop,
        on_receive: OnReceive,
        use_gso: bool = True,
        use_gro: bool = True,
        receive_batch_limit: int = 32,
        max_pending_datagrams: int = 4096,
    ) -> None:
        if receive_batch_limit < 1 or max_pending_datagrams < 0:
            raise ValueError("receive_batch_limit must be >= 1, max_pending_datagrams >= 0")
        if sock.type != socket.SOCK_DGRAM or sock.family not in (socket.AF_INET, socket.AF_INET6):
            raise ValueError("UdpDatapath needs an AF_INET or AF_INET6 datagram socket")
        self._sock = sock
        self._loop = loop
        self._on_receive = on_receive
        self._family = sock.family
        self._receive_batch_limit = receive_batch_limit
        self._max_pending = max_pending_datagrams
        self._stats = DatapathStatistics()
        self._pending: deque[tuple[bytes, SocketAddress, int]] = deque()
        self._writer_armed = False
        self._retry_handle: asyncio.TimerHandle | None = None
        self._closed = False
        self._route_key: SocketAddress | None = None
        self._route_value: tuple[SocketAddress, _EcnControls] = ((), _ECN_CONTROLS_IPV4)
        sock.setblocking(False)
        self._features = _configure_socket(sock, detect_features(), use_gso, use_gro)
        self._local_address: SocketAddress = sock.getsockname()
        self._local_port: int = self._local_address[1]
        loop.add_reader(sock.fileno(), self._on_readable)

    @classmethod
    def bind(
        cls,
        local_address: tuple[str, int],
        *,
        loop: asyncio.AbstractEventLoop,
        on_receive: OnReceive,
        reuse_port: bool = False,
        family: int | None = None,
        use_gso: bool = True,
        use_gro: bool = True,
        send_buffer_bytes: int | None = None,
        receive_buffer_bytes: int | None = DEFAULT_RECEIVE_BUFFER_BYTES,
        receive_batch_limit: int = 32,
        max_pending_datagrams: int = 4096,
    ) -> UdpDatapath:
        """Open a UDP socket bound to ``local_address`` (port 0 picks one) and start receiving.

        ``family`` defaults to the address's own; ``"::"`` binds dual-stack.  The buffer sizes
        set SO_SNDBUF / SO_RCVBUF when not None (bursts of GRO batches need a large one).  Raises
        :class:`OSError` when the address or family is unavailable (for example EADDRNOTAVAIL
        or EAFNOSUPPORT for ``"::1"`` on a host without IPv6) and :class:`ValueError` for a
        host that is not a numeric address.
        """
        host, port = local_address
        sock_family = _family_of(host) if family is None else family
        sock = socket.socket(sock_family, socket.SOCK_DGRAM)
        try:
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if sock_family == socket.AF_INET6 and host in ("::", ""):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            if send_buffer_bytes is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer_bytes)
            if receive_buffer_bytes is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer_bytes)
            sock.bind((host, port))
            return cls(
                sock,
                loop=loop,
                on_receive=on_receive,
                use_gso=use_gso,
                use_gro=use_gro,
                receive_batch_limit=receive_batch_limit,
                max_pending_datagrams=max_pending_datagrams,
            )
        except BaseException:
            sock.close()
            raise

    @classmethod
    def from_socket(
        cls,
        sock: socket.socket,
        *,
        loop: asyncio.AbstractEventLoop,
        on_receive: OnReceive,
        use_gso: bool = True,
        use_gro: bool = True,
        receive_batch_limit: int = 32,
        max_pending_datagrams: int = 4096,
    ) -> UdpDatapath:
        """Adopt a bound UDP socket (e.g. one handed over by a service manager); owns it after."""
        return cls(
            sock,
            loop=loop,
            on_receive=on_receive,
            use_gso=use_gso,
            use_gro=use_gro,
            receive_batch_limit=receive_batch_limit,
            max_pending_datagrams=max_pending_datagrams,
        )

    # -- properties ---------------------------------------------------------------------------

    @property
    def local_address(self) -> SocketAddress:
        """The bound address as ``getsockname()`` reports it (the chosen port when bound to 0)."""
        return self._local_address

    @property
    def family(self) -> int:
        return int(self._family)

    @property
    def features(self) -> DatapathFeatures:
        """The features in use on this socket (detected ones, minus those switched off)."""
        return self._features

    @property
    def statistics(self) -> DatapathStatistics:
        """A snapshot of the counters."""
        return DatapathStatistics(**self._stats.as_dict())

    @property
    def pending_datagrams(self) -> int:
        """Datagrams queued behind EAGAIN / ENOBUFS, waiting for the socket to drain."""
        return len(self._pending)

    @property
    def closed(self) -> bool:
        return self._closed

    def fileno(self) -> int:
        return self._sock.fileno()

    # -- receiving ----------------------------------------------------------------------------

    def _on_readable(self) -> None:
        batch = self._read_batch()
        if batch:
            self._on_receive(batch)

    def _read_batch(self) -> list[ReceivedDatagram]:
        out: list[ReceivedDatagram] = []
        append = out.append
        sock, stats, family, port = self._sock, self._stats, self._family, self._local_port
        receive = sock.recvmsg_into
        buffer, view = _thread_receive_buffer()
        buffers = [buffer]
        for _ in range(self._receive_batch_limit):
            if len(out) >= MAX_RECEIVE_BATCH_DATAGRAMS:
                break  # the rest waits for the next wakeup, after the ACKs for these went out
            try:
                nbytes, ancillary, flags, remote = receive(buffers, _ANCILLARY_BYTES)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                stats.receive_errors += 1  # e.g. a queued ICMP error; the next call goes on
                continue
            if flags & _MSG_TRUNC:
                stats.receive_truncated += 1
                continue
            stats.receive_calls += 1
            segment_bytes, ecn, local = (
                _parse_ancillary(ancillary, family, port) if ancillary else _NO_ANCILLARY
            )
            if segment_bytes <= 0 or segment_bytes >= nbytes:
                append(_new_tuple(ReceivedDatagram, (view[:nbytes].tobytes(), remote, local, ecn)))
                stats.datagrams_received += 1
            else:
                # one GRO read: equal segments but the last (the kernel's UDP_GRO contract)
                stats.gro_batches += 1
                received = view[:nbytes]  # its slices stop at the read's end
                for start in range(0, nbytes, segment_bytes):
                    data = received[start : start + segment_bytes].tobytes()
                    append(_new_tuple(ReceivedDatagram, (data, remote, local, ecn)))
                stats.datagrams_received += -(-nbytes // segment_bytes)
            stats.bytes_received += nbytes
        return out

    # -- sending ------------------------------------------------------------------------------

    def send(self, datagrams: Sequence[tuple[bytes, SocketAddress]], *, ecn: int = 0) -> None:
        """Send ``datagrams`` in order, each ``(payload, destination)``, with ECN codepoint ``ecn``.

        Never raises for network conditions (see the module docstring); queued datagrams keep
        their order ahead of later sends.  ``ecn`` is ignored when the kernel cannot set it.
        """
        if not 0 <= ecn <= _ECN_MASK:
            raise ValueError(f"ECN codepoint must be 0..3, not {ecn}")
        if not datagrams:
            return
        if self._closed:
            self._stats.send_queue_drops += len(datagrams)
            return
        if not self._features.ecn:
            ecn = 0
        if self._pending:
            self._enqueue(datagrams, 0, ecn)
            return
        consumed, blocked_errno = self._transmit(datagrams, ecn)
        if blocked_errno:
            self._enqueue(datagrams, consumed, ecn)
            self._arm_flush(blocked_errno)

    def _transmit(self, items: Sequence[tuple[bytes, SocketAddress]], ecn: int) -> tuple[int, int]:
        """Send ``items``; return (datagrams consumed, errno that blocked the rest or 0)."""
        index, count = 0, len(items)
        while index < count:
            end = self._batch_end(items, index) if self._features.gso else index + 1
            consumed, blocked_errno = self._send_batch(items, index, end, ecn)
            if blocked_errno:
                return index + consumed, blocked_errno
            index = end
        return count, 0

    @staticmethod
    def _batch_end(items: Sequence[tuple[bytes, SocketAddress]], start: int) -> int:
        """End of the GSO batch from ``start``: one destination, one size (last may be shorter)."""
        first, address = items[start]
        segment_bytes = len(first)
        total_bytes = segment_bytes
        limit = min(len(items), start + MAX_GSO_SEGMENTS)
        end = start + 1
        while end < limit:
            data, destination = items[end]
            size = len(data)
            if size > segment_bytes or total_bytes + size > MAX_GSO_BYTES or size == 0:
                break
            if destination != address:
                break
            total_bytes += size
            end += 1
            if size < segment_bytes:
                break
        return end

    def _send_batch(
        self, items: Sequence[tuple[bytes, SocketAddress]], start: int, end: int, ecn: int
    ) -> tuple[int, int]:
        """One sendmsg for ``items[start:end]``; return (consumed, blocking errno or 0)."""
        count = end - start
        first, address = items[start]
        destination, ecn_controls = self._route(address)
        control = [ecn_controls[ecn]] if ecn else []
        if count == 1:
            buffers = [first]
        else:
            buffers = [items[i][0] for i in range(start, end)]
            control.append((_SOL_UDP, _UDP_SEGMENT, _GSO_SIZE.pack(len(first))))
        try:
            sent_bytes = self._sock.sendmsg(buffers, control, 0, destination)
        except (BlockingIOError, InterruptedError):
            return 0, errno.EAGAIN
        except OSError as exc:
            if exc.errno == errno.ENOBUFS:
                return 0, errno.ENOBUFS
            if count > 1 and exc.errno in (errno.EIO, errno.EINVAL):
                if exc.errno == errno.EIO:  # the device cannot checksum-offload: no GSO here
                    self._features = self._features._replace(gso=False)
                return self._send_singly(items, start, end, ecn)
            self._stats.send_errors += count
            return count, 0
        stats = self._stats
        stats.send_calls += 1
        stats.datagrams_sent += count
        stats.bytes_sent += sent_bytes
        if count > 1:
            stats.gso_batches += 1
        return count, 0

    def _send_singly(
        self, items: Sequence[tuple[bytes, SocketAddress]], start: int, end: int, ecn: int
    ) -> tuple[int, int]:
        for index in range(start, end):
            consumed, blocked_errno = self._send_batch(items, index, index + 1, ecn)
            if blocked_errno:
                return index - start + consumed, blocked_errno
        return end - start, 0

    def _route(self, address: SocketAddress) -> tuple[SocketAddress, _EcnControls]:
        """``address`` in the socket's family, and the ECN control messages for it (cached).

        IPv4 maps into (or out of) ``::ffff:0:0/96``; the kernel sends IPv4-mapped destinations
        of an IPv6 socket through the IPv4 stack, which takes IP_TOS, not IPV6_TCLASS.
        """
        if address == self._route_key:
            return self._route_value
        destination = address
        if self._family == socket.AF_INET6:
            if len(address) == 2 and _is_ipv4_literal(address[0]):
                destination = ("::ffff:" + address[0], address[1], 0, 0)
            ipv4_path = _is_ipv4_mapped(destination[0])
        else:
            if _is_ipv4_mapped(address[0]):
                destination = (address[0][7:], address[1])
            ipv4_path = True
        value = (destination, _ECN_CONTROLS_IPV4 if ipv4_path else _ECN_CONTROLS_IPV6)
        self._route_key, self._route_value = address, value
        return value

    # -- the send queue -----------------------------------------------------------------------

    def _enqueue(
        self, datagrams: Sequence[tuple[bytes, SocketAddress]], start: int, ecn: int
    ) -> None:
        room = self._max_pending - len(self._pending)
        remaining = len(datagrams) - start
        take = max(0, min(room, remaining))
        for index in range(start, start + take):
            data, destination = datagrams[index]
            self._pending.append((data, destination, ecn))
        self._stats.send_queue_drops += remaining - take

    def _arm_flush(self, blocked_errno: int) -> None:
        self._stats.send_blocked += 1
        if blocked_errno == errno.ENOBUFS:
            if self._retry_handle is None:
                self._retry_handle = self._loop.call_later(_ENOBUFS_RETRY_S, self._on_retry)
        elif not self._writer_armed:
            self._loop.add_writer(self._sock.fileno(), self._on_writable)
            self._writer_armed = True

    def _on_retry(self) -> None:
        self._retry_handle = None
        self._flush()

    def _on_writable(self) -> None:
        self._loop.remove_writer(self._sock.fileno())
        self._writer_armed = False
        self._flush()

    def _flush(self) -> None:
        pending = self._pending
        while pending and not self._closed:
            ecn = pending[0][2]
            run: list[tuple[bytes, SocketAddress]] = []
            for data, destination, codepoint in pending:
                if codepoint != ecn or len(run) >= _FLUSH_RUN_LIMIT:
                    break
                run.append((data, destination))
            consumed, blocked_errno = self._transmit(run, ecn)
            for _ in range(consumed):
                pending.popleft()
            if blocked_errno:
                self._arm_flush(blocked_errno)
                return

    # -- closing --------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop receiving, drop the send queue (counted) and close the socket.  Idempotent."""
        if self._closed:
            return
        self._closed = True
        fd = self._sock.fileno()
        self._loop.remove_reader(fd)
        if self._writer_armed:
            self._loop.remove_writer(fd)
            self._writer_armed = False
        if self._retry_handle is not None:
            self._retry_handle.cancel()
            self._retry_handle = None
        self._stats.send_queue_drops += len(self._pending)
        self._pending.clear()
        self._sock.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<UdpDatapath {self._local_address!r} {state} {self._features}>"


def _configure_socket(
    sock: socket.socket, detected: DatapathFeatures, use_gso: bool, use_gro: bool
) -> DatapathFeatures:
    """Set the receive options and DF on ``sock``; return the features it ended up with.

    The IPv4 options are set on IPv6 sockets too: there they serve the IPv4-mapped traffic of a
    dual-stack socket (best effort), while the IPv6 options decide the features.
    """
    ip, ip6 = socket.IPPROTO_IP, socket.IPPROTO_IPV6
    gro = use_gro and detected.gro and _try_setsockopt(sock, _SOL_UDP, _UDP_GRO, 1)
    ecn = detected.ecn and _try_setsockopt(sock, ip, _IP_RECVTOS, 1)
    pktinfo = detected.pktinfo and _try_setsockopt(sock, ip, _IP_PKTINFO, 1)
    dont_fragment = _try_setsockopt(sock, ip, _IP_MTU_DISCOVER, _IP_PMTUDISC_PROBE)
    if sock.family == socket.AF_INET6:
        ecn = detected.ecn and _try_setsockopt(sock, ip6, _IPV6_RECVTCLASS, 1)
        pktinfo = detected.pktinfo and _try_setsockopt(sock, ip6, _IPV6_RECVPKTINFO, 1)
        dont_fragment = _try_setsockopt(sock, ip6, _IPV6_MTU_DISCOVER, _IPV6_PMTUDISC_PROBE)
    return DatapathFeatures(
        gso=use_gso and detected.gso,
        gro=gro,
        ecn=ecn,
        pktinfo=pktinfo,
        dont_fragment=dont_fragment,
    )
