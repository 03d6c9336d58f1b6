"""What an asyncio client or server is configured with, turned into TLS and transport settings.

Design: one :class:`QuicConfiguration` for both roles, the counterpart of MsQuic's Configuration
(ALPNs, settings, credentials).  It validates eagerly (a bad file or option raises ``ValueError``
or ``OSError`` naming it) and builds the TLS configuration of each connection.  Certificate
verification is on by default against a CA file or the system trust store; turning it off is the
explicit ``verify=False``.  ``SSLKEYLOGFILE`` in the environment is honoured, as Wireshark users
expect.  With ``qlog_dir`` every connection writes a qlog trace there, named by its original
destination connection ID.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from pyquic.core.qlog import QlogEvent, VantagePointType
from pyquic.core.settings import Settings
from pyquic.platform.crypto.suites import CipherSuite
from pyquic.platform.qlog_file import QlogFileWriter, open_qlog_file
from pyquic.platform.tls import (
    CertificateVerifier,
    Credential,
    KeyLogFile,
    NoVerification,
    SessionTicket,
    TicketSealer,
    TlsConfig,
    load_pem_credential,
)
from pyquic.platform.tls.certificates import PeerVerifier
from pyquic.platform.tls.config import DEFAULT_CIPHER_SUITES
from pyquic.platform.tls.keylog import KeyLogSink
from pyquic.platform.tls.tickets import AntiReplay, SingleUseTicketRegistry

DEFAULT_SETTINGS = Settings(peer_bidi_stream_count=100, peer_unidi_stream_count=100)


def _alpn_bytes(protocols: Sequence[str | bytes]) -> tuple[bytes, ...]:
    if isinstance(protocols, str | bytes):
        raise ValueError("alpn_protocols is a list of protocol names, not one string")
    out = tuple(p.encode("ascii") if isinstance(p, str) else bytes(p) for p in protocols)
    if not out:
        raise ValueError("at least one ALPN protocol is required (RFC 9001 §8.1)")
    return out


def _suites(suites: Sequence[CipherSuite | int] | None) -> tuple[CipherSuite, ...]:
    if suites is None:
        return DEFAULT_CIPHER_SUITES
    out = tuple(CipherSuite(suite) for suite in suites)  # ValueError names an unknown suite
    if not out:
        raise ValueError("cipher_suites is None (the defaults) or at least one suite")
    return out


@dataclass
class QuicConfiguration:
    """Settings, ALPNs and credentials for asyncio clients and servers."""

    alpn_protocols: Sequence[str | bytes]
    settings: Settings = field(default_factory=lambda: DEFAULT_SETTINGS)
    # client: the name to verify (and send as SNI); defaults to the host connected to
    server_name: str | None = None
    certificate_file: str | None = None  # PEM chain (server, or client for mutual TLS)
    private_key_file: str | None = None
    private_key_password: bytes | None = None
    credential: Credential | None = None  # instead of the two files
    ca_file: str | None = None  # None: the system trust store
    verify: bool = True  # False turns certificate verification off, explicitly
    require_client_certificate: bool = False  # server: mutual TLS
    keylog_file: str | None = None  # NSS key log; defaults to $SSLKEYLOGFILE
    session_ticket: SessionTicket | None = None  # client: resume with this ticket
    enable_early_data: bool = False  # client: send 0-RTT; server: offer and accept it
    qlog_dir: str | None = None  # a qlog trace per connection in this directory
    # TLS 1.3 suites in preference order (e.g. only CHACHA20_POLY1305_SHA256); None: the defaults
    cipher_suites: Sequence[CipherSuite | int] | None = None
    use_gso: bool = True  # False: one datagram per send (captures then see every packet)

    def __post_init__(self) -> None:
        self._alpn = _alpn_bytes(self.alpn_protocols)
        self._suites = _suites(self.cipher_suites)
        if self.credential is None and self.certificate_file is not None:
            if self.private_key_file is None:
                raise ValueError("certificate_file needs private_key_file")
            self.credential = load_pem_credential(
                self.certificate_file, self.private_key_file, self.private_key_password
            )
        self._verifier: PeerVerifier | None = None
        self._keylog: KeyLogSink | None = None
        self._sealer: TicketSealer | None = None
        self._anti_replay: AntiReplay | None = None  # one per server configuration

    @property
    def alpn(self) -> tuple[bytes, ...]:
        return self._alpn

    def with_settings(self, **overrides: object) -> QuicConfiguration:
        return replace(self, settings=self.settings.merge(**overrides))

    def verifier(self) -> PeerVerifier:
        if self._verifier is None:
            if not self.verify:
                self._verifier = NoVerification()
            elif self.ca_file is not None:
                self._verifier = CertificateVerifier.from_ca_file(self.ca_file)
            else:
                self._verifier = CertificateVerifier.from_system_store()
        return self._verifier

    def keylog(self) -> KeyLogSink | None:
        path = self.keylog_file or os.environ.get("SSLKEYLOGFILE")
        if path and self._keylog is None:
            self._keylog = KeyLogFile(path)
        return self._keylog

    def qlog_sink(self, vantage_point: VantagePointType) -> QlogFile | None:
        """A qlog sink for one connection, or None without ``qlog_dir``."""
        return QlogFile(self.qlog_dir, vantage_point) if self.qlog_dir is not None else None

    def client_tls(self, server_name: str) -> TlsConfig:
        """The TLS configuration of one client connection to ``server_name``."""
        return TlsConfig(
            is_client=True,
            cipher_suites=self._suites,
            alpn_protocols=self._alpn,
            server_name=self.server_name or server_name,
            credential=self.credential,
            verifier=self.verifier(),
            session_ticket=self.session_ticket,
            enable_early_data=self.enable_early_data,
            keylog=self.keylog(),
        )

    def server_tls(self) -> TlsConfig:
        """The TLS configuration shared by a server's connections."""
        if self.credential is None:
            raise ValueError("a server needs certificate_file and private_key_file (or credential)")
        if self._sealer is None:
            self._sealer = TicketSealer.generate(os.urandom, time.time())
        # 0-RTT offered in tickets and accepted (MsQuic's QUIC_SERVER_RESUME_AND_ZERORTT), each
        # ticket's early data at most once (RFC 8446 §8.1)
        zero_rtt = self.enable_early_data or (
            self.settings.server_resumption_level == "resume_and_zerortt"
        )
        if zero_rtt and self._anti_replay is None:
            self._anti_replay = AntiReplay(single_use=SingleUseTicketRegistry())
        return TlsConfig(
            is_client=False,
            cipher_suites=self._suites,
            alpn_protocols=self._alpn,
            credential=self.credential,
            verifier=self.verifier() if self.require_client_certificate else None,
            require_client_certificate=self.require_client_certificate,
            ticket_sealer=self._sealer,
            enable_early_data=zero_rtt,
            anti_replay=self._anti_replay if zero_rtt else None,
            keylog=self.keylog(),
        )


class QlogFile:
    """A connection's qlog sink: events wait in memory until :meth:`open` names the file.

    A connection's first events come before its original destination connection ID, which
    names the file, is known to the caller (a server's sink is made before it knows whether the
    Initial is genuine); the file is created only for connections that are kept.
    """

    def __init__(self, directory: str, vantage_point: VantagePointType) -> None:
        self._directory = directory
        self._vantage_point: VantagePointType = vantage_point
        self._pending: list[QlogEvent] | None = []
        self._writer: QlogFileWriter | None = None

    def __call__(self, event: QlogEvent) -> None:
        if self._writer is not None:
            self._writer(event)
        elif self._pending is not None:
            self._pending.append(event)

    def open(self, original_dcid: bytes) -> None:
        """Create ``<odcid>_<vantage point>.sqlog`` and write the events so far to it."""
        if self._writer is None and self._pending is not None:
            self._writer = open_qlog_file(self._directory, original_dcid.hex(), self._vantage_point)
            for event in self._pending:
                self._writer(event)
            self._pending = None

    def close(self) -> None:
        """Flush and close the file; later events are dropped."""
        self._pending = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None
