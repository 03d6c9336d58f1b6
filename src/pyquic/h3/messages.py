"""Checking HTTP/3 requests and responses as HTTP messages (RFC 9114 §4.1.2, §4.2, §4.3).

What: the pseudo-header rules and field-name rules whose violation makes a message malformed,
a stream error of type H3_MESSAGE_ERROR (§4.1.2).  Pure functions over ``(name, value)`` pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyquic.h3.frames import ErrorCode, H3Error

__all__ = ["RequestHead", "parse_request_head", "parse_status"]

Headers = list[tuple[bytes, bytes]]

_REQUEST_PSEUDO = frozenset({b":method", b":scheme", b":authority", b":path"})
# §4.2: connection-specific fields are malformed in HTTP/3
_CONNECTION_SPECIFIC = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade"}
)


def _malformed(message: str) -> H3Error:
    return H3Error(ErrorCode.H3_MESSAGE_ERROR, message, connection=False)


@dataclass(frozen=True)
class RequestHead:
    method: str
    scheme: str
    authority: str
    path: str
    headers: Headers  # the regular fields, in order


def _split(headers: Headers, allowed: frozenset[bytes]) -> tuple[dict[bytes, bytes], Headers]:
    pseudo: dict[bytes, bytes] = {}
    regular: Headers = []
    for name, value in headers:
        if name != name.lower():  # §4.2: uppercase field names are malformed
            raise _malformed(f"uppercase field name {name!r}")
        if name.startswith(b":"):
            if regular:  # §4.3: pseudo-headers come first
                raise _malformed(f"pseudo-header {name!r} after a regular field")
            if name not in allowed or name in pseudo:  # §4.3: unknown or repeated
                raise _malformed(f"pseudo-header {name!r} not allowed here or repeated")
            pseudo[name] = value
        else:
            if name in _CONNECTION_SPECIFIC or (name == b"te" and value != b"trailers"):
                raise _malformed(f"connection-specific field {name!r}")
            regular.append((name, value))
    return pseudo, regular


def parse_request_head(headers: Headers) -> RequestHead:
    """§4.3.1: :method, :scheme and a non-empty :path (CONNECT has only :authority, §4.4)."""
    pseudo, regular = _split(headers, _REQUEST_PSEUDO)
    method = pseudo.get(b":method")
    if method is None:
        raise _malformed("no :method")
    if method == b"CONNECT":
        if b":scheme" in pseudo or b":path" in pseudo or b":authority" not in pseudo:
            raise _malformed("CONNECT carries :authority only (§4.4)")
    elif not pseudo.get(b":scheme") or not pseudo.get(b":path"):
        raise _malformed("no :scheme or :path")
    return RequestHead(
        method.decode("latin-1"),
        pseudo.get(b":scheme", b"").decode("latin-1"),
        pseudo.get(b":authority", b"").decode("latin-1"),
        pseudo.get(b":path", b"").decode("latin-1"),
        regular,
    )


def parse_status(headers: Headers) -> tuple[int, Headers]:
    """§4.3.2: exactly :status, a three-digit code."""
    pseudo, regular = _split(headers, frozenset({b":status"}))
    status = pseudo.get(b":status", b"")
    if len(status) != 3 or not status.isdigit():
        raise _malformed(f"bad or missing :status {status!r}")
    return int(status), regular
