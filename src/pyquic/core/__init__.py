"""The QUIC protocol, sans-I/O and deterministic.

Nothing under ``pyquic.core`` opens a socket, reads a clock, starts a thread or draws randomness:
datagrams and ``now`` go in, datagrams, timers and events come out.  Cryptography reaches the core
only through the small protocols of :mod:`pyquic.core.crypto_interface`.
"""
