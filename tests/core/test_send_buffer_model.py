"""SendBuffer against a byte-by-byte model (hypothesis): whatever order chunks are sent,
acknowledged, lost and resent in, the buffer releases exactly the acknowledged prefix, hands out
lost bytes (never acknowledged ones) before new data, and every chunk carries the bytes written at
its offsets (RFC 9000 §2.2: a stream is an ordered byte sequence; §13.3: only lost data is resent).
The in-order acknowledgement shortcut must agree with the general path."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pyquic.core.stream_buffer import SendBuffer

SIZE = 600
DATA = bytes(i % 251 for i in range(SIZE))

# (operation, index or length): 0 send new, 1 acknowledge a sent chunk, 2 lose a sent chunk,
# 3 resend the first lost range
Operations = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 200)), max_size=120)


@settings(max_examples=300, deadline=None)
@given(Operations)
def test_the_buffer_matches_a_byte_model(operations: list[tuple[int, int]]) -> None:
    buffer = SendBuffer()
    buffer.write(DATA)
    acked = [False] * SIZE
    lost = [False] * SIZE
    sent: list[tuple[int, int]] = []  # chunks on the wire: (offset, length)
    for operation, value in operations:
        if operation == 0:
            piece = buffer.next_new(1 + value % 97, SIZE)
            if piece is not None:
                offset, data = piece
                assert data == DATA[offset : offset + len(data)]
                sent.append((offset, len(data)))
        elif operation in (1, 2) and sent:
            offset, length = sent[value % len(sent)]
            if operation == 1:
                buffer.on_acked(offset, length)
                for i in range(offset, offset + length):
                    acked[i], lost[i] = True, False
            else:
                buffer.on_lost(offset, length)
                for i in range(offset, offset + length):
                    lost[i] = not acked[i]
        elif operation == 3:
            piece = buffer.next_lost(1 + value % 97)
            expected = next((i for i in range(SIZE) if lost[i]), None)
            assert (piece is None) == (expected is None)
            if piece is not None:
                offset, data = piece
                assert offset == expected and data == DATA[offset : offset + len(data)]
                assert all(lost[offset : offset + len(data)])
                for i in range(offset, offset + len(data)):
                    lost[i] = False
                sent.append((offset, len(data)))
        prefix = next((i for i in range(SIZE) if not acked[i]), SIZE)
        assert buffer.acked_offset == prefix
        assert buffer.buffered_bytes == SIZE - prefix
        assert buffer.has_lost == any(lost)
