"""Byte buffers shared by STREAM and CRYPTO data: a retransmitting send buffer and reassembly.

Both STREAM frames (RFC 9000 §2.2, §19.8) and CRYPTO frames (§19.6) carry an offset-addressed
byte stream, so one pair of buffers serves :mod:`pyquic.core.stream_send`,
:mod:`pyquic.core.stream_recv` and :mod:`pyquic.core.crypto_stream`.

Design:

* :class:`SendBuffer` keeps the unacknowledged bytes in one ``bytearray`` that starts at the
  acknowledged prefix.  Acknowledgements release the front (``del buf[:n]`` is amortised O(1) in
  CPython, which moves the buffer start), so memory is what is written and not yet acknowledged,
  and a long transfer costs time linear in its size.  Lost ranges are kept in a
  :class:`~pyquic.core.range_set.RangeSet` and are handed out before new data; only ranges not
  acknowledged in the meantime become pending again.  Old bytes are never "resent": each chunk is a
  fresh slice of the buffer (core-design: loss regenerates frames from current state).
* :class:`ReassemblyBuffer` keeps the bytes from the delivered offset onwards in one
  ``bytearray``, writing each frame at its position (gaps are zero-filled placeholders) and
  recording what arrived in a ``RangeSet``.  Memory is bounded by the caller, which rejects data
  beyond its flow-control limit (§4.1) or crypto buffer (§7.5) before inserting; the number of
  gaps a peer can create is bounded by ``max_ranges`` (RFC 9000 §21.7, fragmentation attacks).
  Duplicate and overlapping data is tolerated (§2.2): it is written again at the same position.
"""

from __future__ import annotations

from pyquic.core.errors import QuicError, TransportErrorCode
from pyquic.core.range_set import RangeSet

# How many disjoint received ranges a reassembly buffer accepts before treating the peer as
# abusive (RFC 9000 §21.7).  A sender with full-sized packets and heavy alternating loss over a
# 16 MiB window creates about 7000 gaps; ordinary loss creates a handful.
DEFAULT_MAX_RANGES = 8192

Buffer = bytes | bytearray | memoryview


class SendBuffer:
    """Written bytes from the acknowledged prefix on, with sent, acknowledged and lost tracking.

    Offsets are absolute stream offsets in bytes.  ``acked_offset <= sent_offset <= end_offset``;
    bytes below ``acked_offset`` are released.
    """

    __slots__ = ("_acked", "_acked_offset", "_data", "_lost", "_sent_offset")

    def __init__(self) -> None:
        self._data = bytearray()  # bytes [acked_offset, end_offset)
        self._acked_offset = 0  # everything below is acknowledged and released
        self._sent_offset = 0  # highest offset ever sent: new data starts here
        self._acked = RangeSet()  # acknowledged ranges above the acknowledged prefix
        self._lost = RangeSet()  # sent, declared lost, not acknowledged since

    @property
    def end_offset(self) -> int:
        """One past the last byte written."""
        return self._acked_offset + len(self._data)

    @property
    def sent_offset(self) -> int:
        """One past the highest byte ever sent."""
        return self._sent_offset

    @property
    def acked_offset(self) -> int:
        """Every byte below this offset is acknowledged (and released)."""
        return self._acked_offset

    @property
    def buffered_bytes(self) -> int:
        """Bytes held: written and not yet acknowledged as a prefix."""
        return len(self._data)

    @property
    def has_lost(self) -> bool:
        """Whether some sent bytes await retransmission."""
        return bool(self._lost)

    @property
    def has_unsent(self) -> bool:
        """Whether some written bytes were never sent."""
        return self._acked_offset + len(self._data) > self._sent_offset

    def write(self, data: Buffer) -> None:
        """Append ``data`` at ``end_offset``."""
        self._data += data

    def next_lost(self, max_length: int) -> tuple[int, bytes] | None:
        """The first lost range (up to ``max_length`` bytes), no longer pending once returned."""
        first = self._lost.first()
        if first is None or max_length <= 0:
            return None
        start, end = first
        end = min(end, start + max_length)
        self._lost.subtract(start, end)
        return start, self._slice(start, end)

    def next_new(self, max_length: int, limit_offset: int) -> tuple[int, bytes] | None:
        """Unsent bytes from ``sent_offset``: up to ``max_length``, ending by ``limit_offset``."""
        start = self._sent_offset
        end = min(self._acked_offset + len(self._data), limit_offset, start + max_length)
        if end <= start:
            return None
        self._sent_offset = end
        return start, self._slice(start, end)

    def _slice(self, start: int, end: int) -> bytes:
        position = start - self._acked_offset
        with memoryview(self._data) as view:
            return view[position : end - self._acked_offset].tobytes()

    def on_acked(self, offset: int, length: int) -> None:
        """Bytes ``[offset, offset + length)`` were acknowledged; release the acked prefix."""
        start = max(offset, self._acked_offset)
        end = min(offset + length, self._sent_offset)
        if start >= end:
            return
        acked = self._acked
        if start == self._acked_offset and not acked and not self._lost:
            # in order, nothing acknowledged above the prefix and nothing lost: the usual ACK
            # of a bulk transfer just moves the prefix (the same result as below)
            del self._data[: end - start]
            self._acked_offset = end
            return
        self._lost.subtract(start, end)  # a late acknowledgement makes a retransmission moot
        acked.add(start, end)
        first = acked.first()
        if first is not None and first[0] == self._acked_offset:
            acked.shift()
            del self._data[: first[1] - first[0]]
            self._acked_offset = first[1]

    def on_lost(self, offset: int, length: int) -> None:
        """Bytes ``[offset, offset + length)`` were lost: the unacknowledged parts are pending."""
        start = max(offset, self._acked_offset)
        end = min(offset + length, self._sent_offset)
        if start >= end:
            return
        lost = self._lost
        acked = self._acked
        if not acked:  # the common case: nothing acknowledged beyond the prefix
            lost.add(start, end)
            return
        if acked.covers(start, end):
            return
        for acked_start, acked_end in acked:  # ascending; one range per hole above the prefix
            if acked_end <= start:
                continue
            if acked_start >= end:
                break
            if acked_start > start:
                lost.add(start, acked_start)
            start = acked_end
            if start >= end:
                return
        lost.add(start, end)

    def discard(self) -> None:
        """Release every byte and forget pending retransmissions (the stream was reset)."""
        self._data = bytearray()
        self._acked_offset = self._sent_offset
        self._acked.clear()
        self._lost.clear()


class ReassemblyBuffer:
    """Out-of-order received bytes, delivered in order from ``read_offset``.

    ``insert`` accepts any offset; the caller bounds it (flow control, crypto buffer limit) before
    inserting, since the buffer allocates up to the highest offset inserted.  With
    ``keep_data=False`` (after STOP_SENDING) only the received ranges are tracked and delivered
    data is dropped as it becomes contiguous.
    """

    __slots__ = ("_contiguous", "_data", "_keep_data", "_max_ranges", "_read_offset", "_received")

    def __init__(self, max_ranges: int = DEFAULT_MAX_RANGES) -> None:
        self._data = bytearray()  # bytes [read_offset, highest inserted); gaps zero-filled
        self._read_offset = 0
        self._received = RangeSet()  # every offset received, including the delivered prefix
        self._contiguous = 0  # contiguous_end, kept up to date by insert (asked per packet)
        self._max_ranges = max_ranges
        self._keep_data = True

    @property
    def read_offset(self) -> int:
        """Bytes delivered so far (the next offset ``read`` returns)."""
        return self._read_offset

    @property
    def contiguous_end(self) -> int:
        """One past the last byte received without a gap from offset 0."""
        return self._contiguous

    @property
    def readable_bytes(self) -> int:
        """Contiguous bytes available to ``read``."""
        return self.contiguous_end - self._read_offset if self._keep_data else 0

    @property
    def buffered_bytes(self) -> int:
        """Memory held, including zero-filled gaps."""
        return len(self._data)

    def insert(self, offset: int, data: Buffer) -> None:
        """Store ``data`` at ``offset``; bytes already delivered are ignored.

        Raises QuicError(INTERNAL_ERROR) when the peer fragments the stream into more than
        ``max_ranges`` pieces (RFC 9000 §21.7).
        """
        read_offset = self._read_offset
        end = offset + len(data)
        buf = self._data
        if offset == self._contiguous == read_offset + len(buf) and self._keep_data:
            # in order with nothing received beyond: extend the last range, append the bytes
            received = self._received
            if not received.extend_last(offset, end):
                received.add(offset, end)  # the first bytes (or none at all)
            self._contiguous = end
            buf += data
            return
        if end <= read_offset:
            return
        if offset < read_offset:
            data = memoryview(data)[read_offset - offset :]
            offset = read_offset
        received = self._received
        received.add(offset, end)
        if offset <= self._contiguous:  # it touches the contiguous prefix: extend it
            first = received.first()
            if first is not None and first[0] <= self._contiguous < first[1]:
                self._contiguous = first[1]
        if len(received) > self._max_ranges:
            raise QuicError(
                TransportErrorCode.INTERNAL_ERROR,
                f"received data fragmented into more than {self._max_ranges} ranges",
            )
        if not self._keep_data:
            self._read_offset = self.contiguous_end
            return
        position = offset - read_offset
        size = len(buf)
        if position > size:
            buf += bytes(position - size)  # placeholder for the gap, bounded by the caller
            buf += data
        elif position == size:
            buf += data
        else:
            buf[position : position + len(data)] = data

    def read(self, max_bytes: int = -1) -> bytes:
        """Up to ``max_bytes`` contiguous bytes (all available when negative)."""
        available = self.readable_bytes
        count = available if max_bytes < 0 else min(available, max_bytes)
        if count <= 0:
            return b""
        buf = self._data
        if count == len(buf):
            out = bytes(buf)
            buf.clear()
        else:
            with memoryview(buf) as view:
                out = view[:count].tobytes()
            del buf[:count]
        self._read_offset += count
        return out

    def stop_keeping_data(self) -> None:
        """Drop buffered bytes and from now on track only which ranges arrived."""
        self._keep_data = False
        self._data = bytearray()
        self._read_offset = self.contiguous_end
