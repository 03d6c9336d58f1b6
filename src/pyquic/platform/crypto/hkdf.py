"""HKDF-Extract and the TLS 1.3 HKDF-Expand-Label, for any hash (RFC 5869 §2, RFC 8446 §7.1).

Design: thin functions over ``cryptography``'s HKDF primitives; the only code here is the encoding
of the ``HkdfLabel`` structure (RFC 8446 §7.1), exposed on its own so it can be checked against the
label bytes printed in RFC 9001 Appendix A.1 and RFC 9369 Appendix A.1.  The hash is a parameter,
so the TLS 1.3 key schedule reuses these functions with SHA-256 or SHA-384; QUIC uses them with a
zero-length context everywhere (RFC 9001 §5.1).
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand

TLS13_LABEL_PREFIX = b"tls13 "  # RFC 8446 §7.1

BytesLike = bytes | bytearray | memoryview


def hkdf_extract(algorithm: hashes.HashAlgorithm, salt: BytesLike, ikm: BytesLike) -> bytes:
    """HKDF-Extract(salt, IKM) -> PRK (RFC 5869 §2.2)."""
    return HKDF.extract(algorithm, bytes(salt), bytes(ikm))


def hkdf_expand(
    algorithm: hashes.HashAlgorithm, prk: BytesLike, info: BytesLike, length: int
) -> bytes:
    """HKDF-Expand(PRK, info, L) -> OKM (RFC 5869 §2.3); ``length`` <= 255 * HashLen."""
    return HKDFExpand(algorithm, length, bytes(info)).derive(bytes(prk))


def hkdf_label(label: bytes, context: BytesLike, length: int) -> bytes:
    """The encoded ``HkdfLabel`` structure (RFC 8446 §7.1).

    ``struct { uint16 length; opaque label<7..255> = "tls13 " + Label; opaque context<0..255>; }``.
    Labels are ASCII without a trailing NUL (RFC 9001 §5.1).
    """
    full_label = TLS13_LABEL_PREFIX + label
    if len(full_label) > 255:
        raise ValueError(f"HKDF label too long: {len(full_label)} bytes")
    if len(context) > 255:
        raise ValueError(f"HKDF context too long: {len(context)} bytes")
    if not 0 <= length <= 0xFFFF:
        raise ValueError(f"HKDF output length out of range: {length}")
    return b"".join(
        (
            length.to_bytes(2, "big"),
            len(full_label).to_bytes(1, "big"),
            full_label,
            len(context).to_bytes(1, "big"),
            bytes(context),
        )
    )


def hkdf_expand_label(
    algorithm: hashes.HashAlgorithm,
    secret: BytesLike,
    label: bytes,
    context: BytesLike,
    length: int,
) -> bytes:
    """HKDF-Expand-Label(Secret, Label, Context, Length) (RFC 8446 §7.1).

    ``label`` excludes the ``"tls13 "`` prefix, which is added here (e.g. ``b"quic key"``).
    """
    return hkdf_expand(algorithm, secret, hkdf_label(label, context, length), length)
