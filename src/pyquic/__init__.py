"""pyquic: the IETF QUIC protocol in Python, built the way MsQuic is built.

Layers, top to bottom: ``api`` (MsQuic's object model), ``core`` (the protocol, sans-I/O and
deterministic), ``platform`` (the only code that touches crypto back-ends, sockets, threads and the
clock) and ``tools`` (the ``pyquic`` command).
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
