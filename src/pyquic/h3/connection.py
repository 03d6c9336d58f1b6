"""HTTP/3 connection logic over one :class:`pyquic.aio.QuicConnection` (RFC 9114, RFC 9204).

What: the control stream with SETTINGS first (§6.2.1), the QPACK encoder and decoder streams
(RFC 9204 §4.2), request streams carrying HEADERS and DATA frames (§4.1), GOAWAY and graceful
shutdown (§5.2), and the error handling of §8.

Design: one :class:`H3Connection` per QUIC connection, for either role, built only on the
public asyncio API (``open_stream``, ``accept_stream``, stream readers and writers).  A task
accepts the peer's streams: unidirectional ones are read by type (unknown and reserved types are
read and discarded, §6.2.3 / §9), request streams go to the server's handler.  Each request
stream is a :class:`MessageStream`, read lazily by whoever consumes it, so the body streams
under QUIC flow control.  QPACK is pylsqpack (ls-qpack) with a dynamic table: a header block
that references entries not yet received waits for the encoder stream (RFC 9204 §2.1.2), and
any decoding failure is QPACK_DECOMPRESSION_FAILED (RFC 9204 §2.2), never a crash.

Errors are raised deep as :class:`~pyquic.h3.frames.H3Error` and mapped once, by
:meth:`H3Connection.fail`: a connection error closes QUIC with the HTTP/3 code
(CONNECTION_CLOSE, §8), a stream error resets the stream with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import pylsqpack

from pyquic.aio import QuicConnection, QuicStreamReader, QuicStreamWriter
from pyquic.h3.frames import (
    H2_ONLY_FRAMES,
    DataChunk,
    ErrorCode,
    Frame,
    FrameReader,
    FrameType,
    H3Error,
    Setting,
    StreamType,
    decode_goaway,
    decode_settings,
    decode_varint,
    encode_frame,
    encode_settings,
    encode_varint,
)

__all__ = ["DEFAULT_MAX_FIELD_SECTION_SIZE", "H3Connection", "Headers", "MessageStream"]

Headers = list[tuple[bytes, bytes]]
RequestHandler = Callable[["MessageStream"], Coroutine[Any, Any, None]]

DEFAULT_MAX_FIELD_SECTION_SIZE = 64 * 1024  # our SETTINGS_MAX_FIELD_SECTION_SIZE (§4.2.2)
QPACK_TABLE_CAPACITY = 4096  # our decoder's dynamic table (RFC 9204 §3.2.3)
QPACK_BLOCKED_STREAMS = 16  # streams that may wait for the encoder stream (RFC 9204 §2.1.2)
READ_SIZE = 64 * 1024
FIELD_OVERHEAD = 32  # per field, in the size of a field section (§4.2.2, RFC 9204 §3.2.1)
# §9: these frame types are not allowed on a request stream (the control-stream-only ones).
_CONTROL_ONLY = frozenset(
    {FrameType.SETTINGS, FrameType.GOAWAY, FrameType.MAX_PUSH_ID, FrameType.CANCEL_PUSH}
)
_log = logging.getLogger("pyquic.h3")


def field_section_size(headers: Headers) -> int:
    return sum(len(name) + len(value) + FIELD_OVERHEAD for name, value in headers)


async def _read_varint(reader: QuicStreamReader) -> int | None:
    """One variable-length integer from a stream, or None if it ends first."""
    first = await reader.read(1)
    if not first:
        return None
    try:
        rest = await reader.readexactly((1 << (first[0] >> 6)) - 1)
    except asyncio.IncompleteReadError:
        return None
    decoded = decode_varint(first + rest)
    assert decoded is not None
    return decoded[0]


class MessageStream:
    """One request stream: the message read from it and the one written to it (§4.1).

    Reading is lazy: :meth:`read_headers`, then :meth:`read_data` until it returns None (the
    trailers, if any, are then in :attr:`trailers`).  Writing: :meth:`send_headers`, then
    :meth:`send_data`; ``end=True`` on the last one sends FIN.
    """

    def __init__(self, h3: H3Connection, reader: QuicStreamReader, writer: QuicStreamWriter):
        self.h3 = h3
        self.reader = reader
        self.writer = writer
        self.stream_id = reader.stream_id
        self.trailers: Headers = []
        self._frames = FrameReader(h3.max_frame_size)
        self._pending: deque[Frame | DataChunk] = deque()
        self._eof = False
        self._in_body = False
        self._done = False
        self._content_length: int | None = None
        self._received = 0

    # --- reading ---------------------------------------------------------------------------

    async def _next(self) -> Frame | DataChunk | None:
        while not self._pending:
            if self._eof:
                if not self._frames.at_boundary:  # §7.1: a frame cut short by the stream's end
                    raise H3Error(ErrorCode.H3_FRAME_ERROR, "the stream ends inside a frame")
                return None
            data = await self.reader.read(READ_SIZE)
            if data:
                self._pending.extend(self._frames.feed(data))
            else:
                self._eof = True
        return self._pending.popleft()

    def _check_frame(self, frame_type: int) -> None:
        """Frames other than HEADERS and DATA on a request stream (§7.2, §9)."""
        if frame_type in _CONTROL_ONLY or frame_type in H2_ONLY_FRAMES:
            raise H3Error(ErrorCode.H3_FRAME_UNEXPECTED, f"frame {frame_type:#x} on a request")
        if frame_type == FrameType.PUSH_PROMISE:
            # §7.2.5: we never send MAX_PUSH_ID, so no push ID is valid; a server never gets one
            code = ErrorCode.H3_ID_ERROR if self.h3.is_client else ErrorCode.H3_FRAME_UNEXPECTED
            raise H3Error(code, "PUSH_PROMISE without MAX_PUSH_ID")
        # anything else is an unknown or reserved type: ignored (§9)

    async def read_headers(self) -> Headers:
        """The message's header section (§4.1: HEADERS comes first)."""
        while True:
            item = await self._next()
            if item is None:
                raise H3Error(
                    ErrorCode.H3_REQUEST_INCOMPLETE, "no HEADERS before FIN", connection=False
                )
            if isinstance(item, DataChunk):
                raise H3Error(ErrorCode.H3_FRAME_UNEXPECTED, "DATA before HEADERS (§4.1)")
            if item.type == FrameType.HEADERS:
                headers = await self.h3.decode_headers(self.stream_id, item.payload)
                self._in_body = True
                self._content_length = _content_length(headers)
                return headers
            self._check_frame(item.type)

    async def read_data(self) -> bytes | None:
        """The next piece of the body, or None at its end."""
        while not self._done:
            item = await self._next()
            if item is None:
                self._done = True
                if self._content_length is not None and self._content_length != self._received:
                    raise H3Error(  # §4.1.2: content-length must match the DATA frames
                        ErrorCode.H3_MESSAGE_ERROR, "content-length mismatch", connection=False
                    )
                return None
            if isinstance(item, DataChunk):
                if not self._in_body:  # §4.1: nothing but unknown frames after trailers
                    raise H3Error(ErrorCode.H3_FRAME_UNEXPECTED, "DATA after trailers")
                if item.data:
                    self._received += len(item.data)
                    return item.data
            elif item.type == FrameType.HEADERS:
                if not self._in_body:
                    raise H3Error(ErrorCode.H3_FRAME_UNEXPECTED, "HEADERS after trailers")
                self.trailers = await self.h3.decode_headers(self.stream_id, item.payload)
                self._in_body = False
            else:
                self._check_frame(item.type)
        return None

    # --- writing ---------------------------------------------------------------------------

    def send_headers(self, headers: Headers, *, end: bool = False) -> None:
        self.writer.write(self.h3.encode_headers(self.stream_id, headers))
        if end:
            self.writer.write_eof()

    async def send_data(self, data: bytes, *, end: bool = False) -> None:
        if data:
            self.writer.write(encode_varint(FrameType.DATA) + encode_varint(len(data)))
            self.writer.write(data)
        if end:
            self.writer.write_eof()
        await self.writer.drain()


def _content_length(headers: Headers) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            if not value.isdigit():
                raise H3Error(ErrorCode.H3_MESSAGE_ERROR, "bad content-length", connection=False)
            return int(value)
    return None


class H3Connection:
    """HTTP/3 over one established QUIC connection; call :meth:`start` first."""

    def __init__(
        self,
        quic: QuicConnection,
        *,
        is_client: bool,
        request_handler: RequestHandler | None = None,
        max_field_section_size: int = DEFAULT_MAX_FIELD_SECTION_SIZE,
    ) -> None:
        self.quic = quic
        self.is_client = is_client
        self.max_field_section_size = max_field_section_size
        # a HEADERS frame may not exceed the decoded limit by much (§10.5: excessive load)
        self.max_frame_size = 2 * max_field_section_size + 1024
        self.peer_settings: dict[int, int] | None = None
        self.goaway_id: int | None = None  # the last GOAWAY received (§5.2)
        self.sent_goaway_id: int | None = None
        self.error: H3Error | None = None
        self._handler = request_handler
        self._encoder = pylsqpack.Encoder()
        self._decoder = pylsqpack.Decoder(QPACK_TABLE_CAPACITY, QPACK_BLOCKED_STREAMS)
        self._blocked: dict[int, asyncio.Event] = {}
        self._peer_streams: set[int] = set()  # the peer's critical stream types seen
        self._control: QuicStreamWriter | None = None
        self._encoder_stream: QuicStreamWriter | None = None
        self._decoder_stream: QuicStreamWriter | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._requests: set[asyncio.Task[None]] = set()
        self._next_request_id = 0  # above the highest request stream accepted (§5.2)
        self.settings_received = asyncio.get_running_loop().create_future()

    # --- setup and shutdown ------------------------------------------------------------------

    async def start(self) -> None:
        """Open our control and QPACK streams (§6.2.1, RFC 9204 §4.2) and read the peer's."""
        settings: dict[int, int] = {
            Setting.QPACK_MAX_TABLE_CAPACITY: QPACK_TABLE_CAPACITY,
            Setting.QPACK_BLOCKED_STREAMS: QPACK_BLOCKED_STREAMS,
            Setting.MAX_FIELD_SECTION_SIZE: self.max_field_section_size,
        }
        self._control = await self._open_uni(StreamType.CONTROL)
        self._control.write(encode_frame(FrameType.SETTINGS, encode_settings(settings)))
        self._encoder_stream = await self._open_uni(StreamType.QPACK_ENCODER)
        self._decoder_stream = await self._open_uni(StreamType.QPACK_DECODER)
        self.spawn(self._accept_streams())

    async def _open_uni(self, stream_type: StreamType) -> QuicStreamWriter:
        _, writer = await self.quic.open_stream(bidirectional=False)
        writer.write(encode_varint(stream_type))
        return writer

    def send_goaway(self) -> None:
        """Tell the peer no new requests will be processed (§5.2); idempotent."""
        goaway_id = self._next_request_id if not self.is_client else 0
        if self._control is not None and self.sent_goaway_id is None:
            self.sent_goaway_id = goaway_id
            with contextlib.suppress(ConnectionError):  # already closed: nothing to tell
                self._control.write(encode_frame(FrameType.GOAWAY, encode_varint(goaway_id)))

    async def shutdown(self, timeout: float = 5.0) -> None:
        """Graceful shutdown (§5.2): GOAWAY, let requests in progress finish, then close."""
        self.send_goaway()
        if self._requests:
            await asyncio.wait(set(self._requests), timeout=timeout)
        self.close(ErrorCode.H3_NO_ERROR, "shutdown")

    def close(self, code: ErrorCode = ErrorCode.H3_NO_ERROR, reason: str = "") -> None:
        self.quic.close(code, reason)
        for event in self._blocked.values():
            event.set()
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()

    def fail(self, error: H3Error, writer: QuicStreamWriter | None = None) -> None:
        """Map an HTTP/3 error to QUIC, the one place that does (§8)."""
        if error.connection or writer is None:
            _log.info("closing the connection: %s", error)
            if self.error is None:
                self.error = error
            self.close(error.code, str(error)[:200])
        else:
            _log.info("resetting stream %d: %s", writer.stream_id, error)
            with contextlib.suppress(ConnectionError, ValueError):
                writer.reset(error.code)

    def spawn(
        self, coroutine: Coroutine[Any, Any, None], writer: QuicStreamWriter | None = None
    ) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(self._guard(coroutine, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _guard(
        self, coroutine: Coroutine[Any, Any, None], writer: QuicStreamWriter | None
    ) -> None:
        try:
            await coroutine
        except H3Error as exc:
            self.fail(exc, writer)
        except ConnectionError:
            pass  # the stream or connection ended: nothing more to do here
        except Exception:
            _log.exception("HTTP/3 task failed")
            self.fail(H3Error(ErrorCode.H3_INTERNAL_ERROR, "internal error"), writer)

    # --- QPACK (RFC 9204) ------------------------------------------------------------------

    def encode_headers(self, stream_id: int, headers: Headers) -> bytes:
        """A HEADERS frame; encoder instructions go first on the encoder stream (§4.5)."""
        instructions, block = self._encoder.encode(stream_id, headers)
        if instructions and self._encoder_stream is not None:
            self._encoder_stream.write(instructions)
        return encode_frame(FrameType.HEADERS, block)

    async def decode_headers(self, stream_id: int, block: bytes) -> Headers:
        """Decode a field section, waiting if it is blocked (RFC 9204 §2.1.2)."""
        try:
            try:
                ack, headers = self._decoder.feed_header(stream_id, block)
            except pylsqpack.StreamBlocked:
                event = self._blocked[stream_id] = asyncio.Event()
                await event.wait()
                self._blocked.pop(stream_id, None)
                self.quic_check_open()
                ack, headers = self._decoder.resume_header(stream_id)
        except (pylsqpack.DecompressionFailed, pylsqpack.StreamBlocked, ValueError) as exc:
            raise H3Error(ErrorCode.QPACK_DECOMPRESSION_FAILED, str(exc) or "bad block") from None
        if ack and self._decoder_stream is not None:
            self._decoder_stream.write(ack)
        if field_section_size(headers) > self.max_field_section_size:  # §4.2.2
            raise H3Error(ErrorCode.H3_EXCESSIVE_LOAD, "header section too large", connection=False)
        return headers

    def quic_check_open(self) -> None:
        if self.error is not None or self.quic.terminated is not None:
            raise ConnectionError("the connection is closed")

    # --- the peer's streams (§6) -----------------------------------------------------------

    async def _accept_streams(self) -> None:
        while True:
            reader, writer = await self.quic.accept_stream()
            if reader.stream_id & 0x2:
                self.spawn(self._read_uni(reader))
            elif self.is_client:  # §6.1: servers open no bidirectional streams
                raise H3Error(ErrorCode.H3_STREAM_CREATION_ERROR, "a server-initiated request")
            else:
                self._on_request(MessageStream(self, reader, writer))

    def _on_request(self, stream: MessageStream) -> None:
        if self.sent_goaway_id is not None and stream.stream_id >= self.sent_goaway_id:
            stream.writer.reset(ErrorCode.H3_REQUEST_REJECTED)  # §5.2: after our GOAWAY
            return
        self._next_request_id = max(self._next_request_id, stream.stream_id + 4)
        if self._handler is None:
            stream.writer.reset(ErrorCode.H3_REQUEST_REJECTED)
            return
        task = self.spawn(self._handler(stream), stream.writer)
        self._requests.add(task)
        task.add_done_callback(self._requests.discard)

    async def _read_uni(self, reader: QuicStreamReader) -> None:
        stream_type = await _read_varint(reader)
        if stream_type is None:
            return
        if stream_type in (StreamType.CONTROL, StreamType.QPACK_ENCODER, StreamType.QPACK_DECODER):
            if stream_type in self._peer_streams:  # §6.2.1, RFC 9204 §4.2: only one each
                raise H3Error(ErrorCode.H3_STREAM_CREATION_ERROR, f"second stream {stream_type}")
            self._peer_streams.add(stream_type)
        if stream_type == StreamType.CONTROL:
            await self._read_control(reader)
        elif stream_type == StreamType.QPACK_ENCODER:
            await self._read_qpack(reader, encoder=True)
        elif stream_type == StreamType.QPACK_DECODER:
            await self._read_qpack(reader, encoder=False)
        elif stream_type == StreamType.PUSH:
            if self.is_client:  # §4.6: no MAX_PUSH_ID sent, so no push is allowed
                raise H3Error(ErrorCode.H3_ID_ERROR, "a push stream without MAX_PUSH_ID")
            raise H3Error(ErrorCode.H3_STREAM_CREATION_ERROR, "a push stream from a client")
        else:  # §6.2.3, §9: unknown or reserved: read and discard
            while await reader.read(READ_SIZE):
                pass

    async def _read_qpack(self, reader: QuicStreamReader, *, encoder: bool) -> None:
        code = (
            ErrorCode.QPACK_ENCODER_STREAM_ERROR
            if encoder
            else ErrorCode.QPACK_DECODER_STREAM_ERROR
        )
        while data := await reader.read(READ_SIZE):
            try:
                if encoder:
                    for stream_id in self._decoder.feed_encoder(data):
                        event = self._blocked.get(stream_id)
                        if event is not None:
                            event.set()
                else:
                    self._encoder.feed_decoder(data)
            except (pylsqpack.EncoderStreamError, pylsqpack.DecoderStreamError, ValueError) as exc:
                raise H3Error(code, str(exc) or "bad instruction") from None
        raise H3Error(ErrorCode.H3_CLOSED_CRITICAL_STREAM, "a QPACK stream closed")  # RFC 9204 §4.2

    async def _read_control(self, reader: QuicStreamReader) -> None:
        frames = FrameReader(self.max_frame_size)
        while data := await reader.read(READ_SIZE):
            for item in frames.feed(data):
                self._on_control_frame(item)
        raise H3Error(ErrorCode.H3_CLOSED_CRITICAL_STREAM, "the control stream closed")  # §6.2.1

    def _on_control_frame(self, item: Frame | DataChunk) -> None:
        frame_type = FrameType.DATA if isinstance(item, DataChunk) else item.type
        if self.peer_settings is None:
            if frame_type != FrameType.SETTINGS:  # §6.2.1: SETTINGS first
                raise H3Error(ErrorCode.H3_MISSING_SETTINGS, f"frame {frame_type:#x} first")
            assert isinstance(item, Frame)
            self._on_settings(decode_settings(item.payload))
        elif frame_type == FrameType.GOAWAY:
            assert isinstance(item, Frame)
            self._on_goaway(decode_goaway(item.payload))
        elif frame_type == FrameType.MAX_PUSH_ID and self.is_client:  # §7.2.7
            raise H3Error(ErrorCode.H3_FRAME_UNEXPECTED, "MAX_PUSH_ID sent by a server")
        elif frame_type in (FrameType.DATA, FrameType.HEADERS, FrameType.PUSH_PROMISE):
            raise H3Error(ErrorCode.H3_FRAME_UNEXPECTED, f"frame {frame_type:#x} on control")
        elif frame_type == FrameType.SETTINGS:  # §7.2.4: only once
            raise H3Error(ErrorCode.H3_FRAME_UNEXPECTED, "a second SETTINGS frame")
        elif frame_type in H2_ONLY_FRAMES:  # §7.2.8
            raise H3Error(ErrorCode.H3_FRAME_UNEXPECTED, f"HTTP/2 frame {frame_type:#x}")
        # CANCEL_PUSH (we allow no push), MAX_PUSH_ID (we never push), unknown: ignored (§9)

    def _on_settings(self, settings: dict[int, int]) -> None:
        self.peer_settings = settings
        try:
            instructions = self._encoder.apply_settings(
                min(settings.get(Setting.QPACK_MAX_TABLE_CAPACITY, 0), QPACK_TABLE_CAPACITY),
                settings.get(Setting.QPACK_BLOCKED_STREAMS, 0),
            )
        except (ValueError, RuntimeError) as exc:
            raise H3Error(ErrorCode.H3_SETTINGS_ERROR, str(exc)) from None
        if instructions and self._encoder_stream is not None:
            self._encoder_stream.write(instructions)
        if not self.settings_received.done():
            self.settings_received.set_result(None)

    def _on_goaway(self, goaway_id: int) -> None:
        if self.is_client and goaway_id % 4:  # §5.2: a client-initiated bidirectional ID
            raise H3Error(ErrorCode.H3_ID_ERROR, f"GOAWAY with stream ID {goaway_id}")
        if self.goaway_id is not None and goaway_id > self.goaway_id:  # §5.2: never increases
            raise H3Error(ErrorCode.H3_ID_ERROR, "GOAWAY ID increased")
        self.goaway_id = goaway_id


def request_headers(
    method: str, scheme: str, authority: str, path: str, extra: Sequence[tuple[bytes, bytes]]
) -> Headers:
    """The request's field section: pseudo-headers first (§4.3.1), names lowercase (§4.2)."""
    pseudo = [
        (b":method", method.encode()),
        (b":scheme", scheme.encode()),
        (b":authority", authority.encode()),
        (b":path", path.encode()),
    ]
    return pseudo + [(name.lower(), value) for name, value in extra]
