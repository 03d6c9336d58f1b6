"""What the interop driver scripts share: hq-interop requests, cipher names, status lines.

hq-interop (HTTP/0.9 over QUIC, as the QUIC interop runner uses it): the client opens a
bidirectional stream, sends ``GET /path\\r\\n`` and FIN; the server answers with the file's bytes
and FIN.  Every driver reports what happened as ``key=value`` lines on stdout (flushed at once) so
the tests can wait for and check them: ``listening port=...``, ``handshake alpn=... suite=...``,
``closed ...``, ``done ...``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The cipher suite names the drivers accept, with their TLS codepoints (RFC 8446 §B.4).
CIPHERS = {"aes128": 0x1301, "aes256": 0x1302, "chacha20": 0x1303}
SUITE_NAMES = {
    0x1301: "TLS_AES_128_GCM_SHA256",
    0x1302: "TLS_AES_256_GCM_SHA384",
    0x1303: "TLS_CHACHA20_POLY1305_SHA256",
}
CHUNK = 64 * 1024


def report(event: str, **fields: object) -> None:
    """One status line on stdout, flushed: ``event key=value ...``."""
    parts = [event, *(f"{key}={value}" for key, value in fields.items())]
    print(" ".join(parts), flush=True)


def request_line(path: str) -> bytes:
    return f"GET /{path.lstrip('/')}\r\n".encode("ascii")


def resolve_request(root: Path, request: bytes) -> Path | None:
    """The file a ``GET /path`` request names under ``root``; None if it is not one."""
    line = request.decode("ascii", "replace").strip()
    if not line.startswith("GET /"):
        return None
    target = (root / line[len("GET /") :]).resolve()
    if root.resolve() not in target.parents or not target.is_file():
        return None
    return target


def output_name(path: str) -> str:
    return Path(path).name or "index.html"


def fail(message: str, status: int = 1) -> int:
    print(f"error {message}", file=sys.stderr, flush=True)
    report("failed", reason=message.replace(" ", "_"))
    return status
