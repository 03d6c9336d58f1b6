"""Packet number encoding and decoding (RFC 9000 §17.1, Appendix A.2 and A.3).

A sender truncates a packet number to the fewest bytes that let the receiver recover it: at
least twice the range of unacknowledged packet numbers plus one. A receiver expands the
truncated value to the candidate closest to one past the largest packet number it has processed.
"""

from __future__ import annotations

MAX_PACKET_NUMBER = (1 << 62) - 1  # RFC 9000 §12.3


def packet_number_length(packet_number: int, largest_acked: int | None) -> int:
    """Bytes (1-4) needed to send ``packet_number`` (RFC 9000 Appendix A.2)."""
    num_unacked = packet_number + 1 if largest_acked is None else packet_number - largest_acked
    # 2^bits must exceed twice the unacknowledged range: bits = log2(num_unacked) + 1
    min_bits = max(num_unacked, 1).bit_length() + 1
    return min((min_bits + 7) // 8, 4)


def encode_packet_number(packet_number: int, length: int) -> bytes:
    """The ``length`` low-order bytes of ``packet_number``."""
    return (packet_number & ((1 << (8 * length)) - 1)).to_bytes(length, "big")


def decode_packet_number(truncated: int, length_bits: int, largest_pn: int | None) -> int:
    """Recover a full packet number (RFC 9000 Appendix A.3).

    ``largest_pn`` is the largest packet number processed so far in this space, or ``None`` before
    the first one (the expected packet number is then 0).
    """
    expected = 0 if largest_pn is None else largest_pn + 1
    win = 1 << length_bits
    hwin = win // 2
    mask = win - 1
    candidate = (expected & ~mask) | truncated
    if candidate <= expected - hwin and candidate < (1 << 62) - win:
        return candidate + win
    if candidate > expected + hwin and candidate >= win:
        return candidate - win
    return candidate
