"""HTTP/3 (RFC 9114) with QPACK (RFC 9204) over pyquic's asyncio API.

Client::

    async with pyquic.h3.connect("https://localhost:4433/", configuration=configuration) as c:
        response = await c.request("GET", "/index.html")
        async for chunk in response.iter_body():
            ...

Server: ``await pyquic.h3.serve_asgi(app, "::", 4433, configuration=configuration)`` serves an
ASGI 3 application.  QPACK is the ls-qpack library through ``pylsqpack``, the optional
dependency installed by ``pip install 'pyquic[h3]'``.
"""

try:
    import pylsqpack  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "pyquic.h3 needs the pylsqpack package (QPACK): install it with pip install 'pyquic[h3]'"
    ) from exc

from pyquic.h3.client import ALPN, H3Client, Response, connect
from pyquic.h3.connection import H3Connection, MessageStream
from pyquic.h3.frames import ErrorCode, H3Error
from pyquic.h3.server import H3Server, serve_asgi, static_files

__all__ = [
    "ALPN",
    "ErrorCode",
    "H3Client",
    "H3Connection",
    "H3Error",
    "H3Server",
    "MessageStream",
    "Response",
    "connect",
    "serve_asgi",
    "static_files",
]
