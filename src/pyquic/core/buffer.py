"""A bounds-checked reader over received bytes.

Every codec parses through :class:`Reader`, so running off the end of the input is one rule in
one place: it raises :class:`~pyquic.core.errors.QuicError` with the error code the caller chose
(FRAME_ENCODING_ERROR for frames, TRANSPORT_PARAMETER_ERROR for transport parameters, ...),
never IndexError or struct.error. The reader works on bytes, bytearray or memoryview without
copying until a field is taken out.
"""

from __future__ import annotations

from pyquic.core.errors import QuicError, TransportErrorCode

BytesLike = bytes | bytearray | memoryview


class Reader:
    """Sequential reader of big-endian integers, variable-length integers and byte strings."""

    __slots__ = ("_data", "_end", "_error_code", "_pos")

    def __init__(
        self,
        data: BytesLike,
        error_code: int = TransportErrorCode.FRAME_ENCODING_ERROR,
        start: int = 0,
        end: int | None = None,
    ) -> None:
        self._data = data
        self._pos = start
        self._end = len(data) if end is None else end
        self._error_code = int(error_code)

    @property
    def position(self) -> int:
        return self._pos

    @property
    def data(self) -> BytesLike:
        return self._data

    def remaining(self) -> int:
        return self._end - self._pos

    def eof(self) -> bool:
        return self._pos >= self._end

    def fail(self, reason: str) -> QuicError:
        """The error this reader raises, for callers that detect a bad value themselves."""
        return QuicError(self._error_code, reason)

    def _need(self, n: int, what: str) -> int:
        pos = self._pos
        if n < 0 or pos + n > self._end:
            raise QuicError(self._error_code, f"truncated {what}: need {n}, have {self._end - pos}")
        self._pos = pos + n
        return pos

    def pull_uint8(self) -> int:
        pos = self._need(1, "uint8")
        return self._data[pos]

    def pull_uint16(self) -> int:
        pos = self._need(2, "uint16")
        return int.from_bytes(self._data[pos : pos + 2], "big")

    def pull_uint32(self) -> int:
        pos = self._need(4, "uint32")
        return int.from_bytes(self._data[pos : pos + 4], "big")

    def pull_uint(self, length: int) -> int:
        pos = self._need(length, "integer")
        return int.from_bytes(self._data[pos : pos + length], "big")

    def pull_varint(self) -> int:
        """RFC 9000 §16 / Appendix A.1."""
        pos = self._pos
        if pos >= self._end:
            raise QuicError(self._error_code, "truncated variable-length integer")
        data = self._data
        first = data[pos]
        prefix = first >> 6
        if prefix == 0:
            self._pos = pos + 1
            return first
        length = 1 << prefix
        if pos + length > self._end:
            raise QuicError(self._error_code, "truncated variable-length integer")
        self._pos = pos + length
        return int.from_bytes(data[pos : pos + length], "big") & ((1 << (8 * length - 2)) - 1)

    def pull_bytes(self, length: int) -> bytes:
        pos = self._need(length, "byte string")
        return bytes(self._data[pos : pos + length])

    def pull_view(self, length: int) -> memoryview:
        """A zero-copy view of the next ``length`` bytes."""
        pos = self._need(length, "byte string")
        return memoryview(self._data)[pos : pos + length]

    def pull_rest(self) -> bytes:
        pos = self._pos
        self._pos = self._end
        return bytes(self._data[pos : self._end])

    def skip(self, length: int) -> None:
        self._need(length, "field")
