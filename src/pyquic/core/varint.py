"""Variable-length integers (RFC 9000 §16).

The two most significant bits of the first byte give the length (1, 2, 4 or 8 bytes); the rest
is the value in network byte order. Encoders always pick the shortest form unless a length is
forced (used for fields that are patched later, such as a long header's Length).
"""

from __future__ import annotations

VARINT_MAX = (1 << 62) - 1

_LIMITS = ((0x3F, 1, 0x00), (0x3FFF, 2, 0x4000), (0x3FFFFFFF, 4, 0x80000000))
# the value bits of a 1-, 2-, 4- and 8-byte varint, by its two-bit length prefix
_VALUE_MASKS = (0x3F, 0x3FFF, 0x3FFF_FFFF, 0x3FFF_FFFF_FFFF_FFFF)


def varint_size(value: int) -> int:
    """Bytes needed for ``value`` in its shortest form (RFC 9000 §16, Table 4)."""
    if value <= 0x3F:
        return 1
    if value <= 0x3FFF:
        return 2
    if value <= 0x3FFFFFFF:
        return 4
    if value <= VARINT_MAX:
        return 8
    raise ValueError(f"{value} does not fit in a QUIC variable-length integer")


def encode_varint(value: int, length: int | None = None) -> bytes:
    """Encode ``value``; ``length`` (1, 2, 4 or 8) forces a longer-than-needed form."""
    if value < 0:
        raise ValueError(f"a QUIC variable-length integer cannot be negative: {value}")
    size = varint_size(value) if length is None else length
    if size == 1 and value <= 0x3F:
        return bytes((value,))
    if size == 2 and value <= 0x3FFF:
        return (value | 0x4000).to_bytes(2, "big")
    if size == 4 and value <= 0x3FFFFFFF:
        return (value | 0x80000000).to_bytes(4, "big")
    if size == 8 and value <= VARINT_MAX:
        return (value | 0xC000000000000000).to_bytes(8, "big")
    raise ValueError(f"{value} does not fit in a {size}-byte variable-length integer")


def push_varint(out: bytearray, value: int) -> None:
    """Append ``value`` to ``out`` in its shortest form."""
    if 0 <= value <= 0x3F:
        out.append(value)
    else:
        out += encode_varint(value)


def decode_varint_at(data: bytes | bytearray | memoryview, pos: int) -> tuple[int, int]:
    """The varint starting at ``data[pos]`` and where it ends, without bounds checks beyond the
    first byte: the end may lie past ``data``, which the caller checks (hot parsing paths)."""
    first = data[pos]
    stop = pos + (1 << (first >> 6))
    return int.from_bytes(data[pos:stop], "big") & _VALUE_MASKS[first >> 6], stop
