"""Stream reader and writer objects that behave like asyncio's, over one QUIC stream.

Design: pull-based receive with backpressure.  The reader asks the connection for data only while
its own buffer is under ``high_water``; the bytes the application reads return flow-control credit
(RFC 9000 §4.1), so a slow reader slows the peer instead of growing memory.  The writer hands data
to the connection's send buffer (MsQuic's send buffering) and ``drain()`` waits while more than
``high_water`` bytes are unacknowledged.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from pyquic.core.stream_recv import StreamResetError

if TYPE_CHECKING:
    from pyquic.aio.connection import QuicConnection

DEFAULT_HIGH_WATER = 1 << 20  # bytes buffered per direction before backpressure applies


class StreamClosedError(ConnectionError):
    """The stream or its connection ended before the operation could complete.

    ``error_code`` is the peer's application error code when it reset the stream or stopped
    reading (RESET_STREAM, STOP_SENDING), else None.
    """

    def __init__(self, message: str, error_code: int | None = None) -> None:
        super().__init__(message)
        self.error_code = error_code


class QuicStreamReader:
    """The receive side of a QUIC stream, with ``asyncio.StreamReader``'s reading methods."""

    def __init__(
        self, connection: QuicConnection, stream_id: int, high_water: int = DEFAULT_HIGH_WATER
    ) -> None:
        self._connection = connection
        self.stream_id = stream_id
        self._buffer = bytearray()
        self._eof = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._high_water = high_water
        # the last pull stopped with the buffer full, so the connection may hold more data: it
        # does not announce it again (StreamReadable is sent when the stream becomes readable)
        self._full = False

    # called by the connection (on the loop) --------------------------------------------------

    def _on_readable(self) -> None:
        self._pull()

    def _pull(self) -> None:
        if self._eof or self._error is not None:
            return
        while (room := self._high_water - len(self._buffer)) > 0:
            try:
                data, fin = self._connection._read_stream(self.stream_id, room)
            except StreamResetError as exc:
                self._set_error(
                    StreamClosedError(
                        f"stream reset by peer (code {exc.error_code})", exc.error_code
                    )
                )
                return
            except ValueError:
                return  # the stream is gone (e.g. the connection closed)
            self._buffer += data
            if fin:
                self._eof = True
            if fin or len(data) < room:
                break  # the connection gave all it had: no second call to learn it has none
        self._full = len(self._buffer) >= self._high_water
        self._wake()

    def _set_error(self, error: BaseException) -> None:
        if self._error is None and not self._eof:
            self._error = error
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self) -> None:
        if self._error is not None:
            raise self._error
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    # the asyncio.StreamReader interface -----------------------------------------------------

    def at_eof(self) -> bool:
        return self._eof and not self._buffer

    def _take(self, n: int) -> bytes:
        buffer = self._buffer
        if n >= len(buffer):
            data = bytes(buffer)  # one copy, where slicing first would make two
            buffer.clear()
        else:
            with memoryview(buffer) as view:
                data = view[:n].tobytes()
            del buffer[:n]
        if self._full:
            # reading frees room: fetch what the full buffer left in the connection, which
            # returns flow-control credit (RFC 9000 §4.1); otherwise the connection holds
            # nothing, and the next data arrives with a StreamReadable event (_on_readable)
            self._pull()
        return data

    async def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (all until the end of the stream when ``n`` < 0); b"" at EOF."""
        if n == 0:
            return b""
        if n < 0:
            chunks = []
            while not self.at_eof():
                if self._buffer:
                    chunks.append(self._take(len(self._buffer)))
                elif not self._eof:
                    await self._wait()
            return b"".join(chunks)
        while not self._buffer and not self._eof:
            await self._wait()
        return self._take(min(n, len(self._buffer)))

    async def readexactly(self, n: int) -> bytes:
        while len(self._buffer) < n:
            if self._eof:
                partial = self._take(len(self._buffer))
                raise asyncio.IncompleteReadError(partial, n)
            await self._wait()
        return self._take(n)

    async def readuntil(self, separator: bytes = b"\n") -> bytes:
        while True:
            index = self._buffer.find(separator)
            if index >= 0:
                return self._take(index + len(separator))
            if self._eof:
                partial = self._take(len(self._buffer))
                raise asyncio.IncompleteReadError(partial, None)
            await self._wait()

    async def readline(self) -> bytes:
        try:
            return await self.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            return exc.partial


class QuicStreamWriter:
    """The send side of a QUIC stream, with ``asyncio.StreamWriter``'s interface."""

    def __init__(
        self, connection: QuicConnection, stream_id: int, high_water: int = DEFAULT_HIGH_WATER
    ) -> None:
        self._connection = connection
        self.stream_id = stream_id
        self._high_water = high_water
        self._closing = False
        self._waiters: list[asyncio.Future[None]] = []
        self._error: BaseException | None = None

    def write(self, data: bytes) -> None:
        if self._closing:
            raise StreamClosedError("write after write_eof() or close()")
        if self._error is not None:
            raise self._error
        if data:
            self._connection._send_stream(self.stream_id, bytes(data), fin=False)

    def writelines(self, data: list[bytes]) -> None:
        self.write(b"".join(data))

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        if not self._closing:
            self._closing = True
            self._connection._send_stream(self.stream_id, b"", fin=True)

    def close(self) -> None:
        self.write_eof()

    def is_closing(self) -> bool:
        return self._closing

    def get_extra_info(self, name: str, default: object = None) -> object:
        if name == "stream_id":
            return self.stream_id
        return self._connection.get_extra_info(name, default)

    def reset(self, error_code: int = 0) -> None:
        """Abandon the stream: RESET_STREAM with ``error_code`` (RFC 9000 §3.1)."""
        self._closing = True
        self._connection._reset_stream(self.stream_id, error_code)

    async def drain(self) -> None:
        """Wait until at most ``high_water`` bytes are buffered and unacknowledged."""
        while self._error is None and self._connection._buffered(self.stream_id) > self._high_water:
            await self._wait()
        if self._error is not None:
            raise self._error

    async def wait_closed(self) -> None:
        """Wait until everything written, FIN included, is acknowledged."""
        while self._error is None and not self._connection._send_finished(self.stream_id):
            await self._wait()

    async def _wait(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._connection._wait_for_progress(self)
        await waiter

    def _on_progress(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _set_error(self, error: BaseException) -> None:
        if self._error is None:
            self._error = error
        self._on_progress()
