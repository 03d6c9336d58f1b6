"""The TLS presentation language on the wire: fixed-size integers and length-prefixed vectors.

Design: one small reader, :class:`TlsReader`, through which every TLS codec parses, so that every
malformed input (truncation, a vector length outside its declared range, a list whose length is not
a multiple of its element size, trailing bytes) is one rule in one place and raises
``alert_error(decode_error)`` (RFC 8446 §6.2: "the message does not conform to the formal protocol
syntax"), never IndexError or ValueError.  The encoding helpers check the same ranges and raise
``ValueError``: producing an unencodable value is a bug of ours, not the peer's.

Sources: RFC 8446 §3.3 (numbers, big-endian), §3.4 (vectors: the bounds are in bytes and the length
prefix is as wide as the upper bound needs).
"""

from __future__ import annotations

from collections.abc import Iterable

from pyquic.core.errors import QuicError
from pyquic.platform.tls.constants import AlertDescription, alert_error

__all__ = [
    "TlsReader",
    "decode_error",
    "encode_uint",
    "encode_uint16_list",
    "encode_vector",
]


def decode_error(reason: str) -> QuicError:
    """The error for input that does not conform to the syntax (RFC 8446 §6.2 decode_error)."""
    return alert_error(AlertDescription.decode_error, reason)


def encode_uint(value: int, size: int, what: str) -> bytes:
    """``value`` as a big-endian unsigned integer of ``size`` bytes (RFC 8446 §3.3)."""
    if not 0 <= value < 1 << (8 * size):
        raise ValueError(f"{what}: {value} does not fit in {size} bytes")
    return value.to_bytes(size, "big")


def encode_vector(data: bytes, length_size: int, low: int, high: int, what: str) -> bytes:
    """``data`` as a vector ``<low..high>`` with a ``length_size``-byte length (RFC 8446 §3.4)."""
    if not low <= len(data) <= high:
        raise ValueError(f"{what}: length {len(data)} outside {low}..{high}")
    return len(data).to_bytes(length_size, "big") + data


def encode_uint16_list(
    values: Iterable[int], low: int, high: int, what: str, length_size: int = 2
) -> bytes:
    """A vector of uint16 values (cipher suites, groups, schemes, versions), bounds in bytes."""
    body = b"".join(encode_uint(value, 2, what) for value in values)
    return encode_vector(body, length_size, low, high, what)


class TlsReader:
    """Sequential, bounds-checked reader of TLS structures; every failure is decode_error."""

    __slots__ = ("_data", "_end", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0
        self._end = len(data)

    def remaining(self) -> int:
        return self._end - self._pos

    def eof(self) -> bool:
        return self._pos >= self._end

    def _take(self, n: int, what: str) -> bytes:
        pos = self._pos
        if pos + n > self._end:
            raise decode_error(f"truncated {what}: need {n} bytes, have {self._end - pos}")
        self._pos = pos + n
        return self._data[pos : pos + n]

    def uint(self, size: int, what: str) -> int:
        """A big-endian unsigned integer of ``size`` bytes (RFC 8446 §3.3)."""
        return int.from_bytes(self._take(size, what), "big")

    def uint8(self, what: str) -> int:
        return self.uint(1, what)

    def uint16(self, what: str) -> int:
        return self.uint(2, what)

    def uint32(self, what: str) -> int:
        return self.uint(4, what)

    def fixed(self, n: int, what: str) -> bytes:
        """Exactly ``n`` bytes (a fixed-length opaque field such as Random, RFC 8446 §3.4)."""
        return self._take(n, what)

    def vector(self, length_size: int, low: int, high: int, what: str) -> bytes:
        """The body of a vector ``<low..high>`` with a ``length_size``-byte length (§3.4)."""
        length = self.uint(length_size, f"{what} length")
        if not low <= length <= high:
            raise decode_error(f"{what}: length {length} outside {low}..{high}")
        return self._take(length, what)

    def sub(self, length_size: int, low: int, high: int, what: str) -> TlsReader:
        """A reader over the body of the next vector, for vectors of structures."""
        return TlsReader(self.vector(length_size, low, high, what))

    def uint16_list(self, low: int, high: int, what: str, length_size: int = 2) -> tuple[int, ...]:
        """A vector of uint16 values: its byte length must be even (RFC 8446 §3.4)."""
        body = self.vector(length_size, low, high, what)
        if len(body) % 2:
            raise decode_error(f"{what}: odd length {len(body)} for a list of uint16")
        return tuple(int.from_bytes(body[i : i + 2], "big") for i in range(0, len(body), 2))

    def rest(self) -> bytes:
        """Everything not read yet."""
        return self._take(self._end - self._pos, "rest")

    def finish(self, what: str) -> None:
        """Trailing bytes after a structure are a decode_error (RFC 8446 §4.2)."""
        if self._pos != self._end:
            raise decode_error(f"{self._end - self._pos} trailing bytes after {what}")
