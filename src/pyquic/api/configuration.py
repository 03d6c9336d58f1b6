"""Configuration: ALPNs, settings and TLS credentials shared by many connections.

MsQuic's ``ConfigurationOpen(Registration, AlpnBuffers, Settings)`` and
``ConfigurationLoadCredential(Configuration, QUIC_CREDENTIAL_CONFIG)`` (``docs/api/
ConfigurationOpen.md``, ``ConfigurationLoadCredential.md``, ``QUIC_CREDENTIAL_CONFIG.md``;
msquic-facts §1.1, §1.2).  A client connection takes one in ``Connection.start``; a server
connection in ``Connection.set_configuration`` from the listener's NEW_CONNECTION handler.

Design: the credential part reuses the asyncio API's
:class:`~pyquic.aio.config.QuicConfiguration` (PEM loading, the CA file or system trust store,
``SSLKEYLOGFILE``, the server's ticket keys), so both APIs build TLS the same way; this module
maps MsQuic's credential types and flags onto it.  Supported: certificate files (PEM, optionally
with a key password), PKCS#12 (a blob or a file), a ready :class:`~pyquic.platform.tls.Credential`
(pyquic's stand-in for CERTIFICATE_CONTEXT), and the flags CLIENT, NO_CERTIFICATE_VALIDATION,
INDICATE_CERTIFICATE_RECEIVED, REQUIRE_CLIENT_AUTHENTICATION, SET_ALLOWED_CIPHER_SUITES,
SET_CA_CERTIFICATE_FILE, USE_PORTABLE_CERTIFICATES and USE_TLS_BUILTIN_CERTIFICATE_VALIDATION
(certificates are always portable ``cryptography`` objects, validation always the built-in one).
Anything else raises ``ValueError`` naming it.  Settings follow MsQuic's defaults (a server must
raise ``peer_bidi_stream_count`` before a client may open streams); a server issues session
tickets only when ``server_resumption_level`` allows resumption, as MsQuic does.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.serialization import pkcs12

from pyquic.aio.config import QuicConfiguration
from pyquic.api.flags import (
    AllowedCipherSuiteFlags,
    CredentialFlags,
    CredentialType,
    reject_flags,
)
from pyquic.api.params import ConfigurationParam, unsupported_param
from pyquic.api.status import QuicStatusError, Status
from pyquic.core.settings import Settings
from pyquic.platform.crypto.suites import CipherSuite
from pyquic.platform.tls import (
    Credential,
    CredentialError,
    SessionTicket,
    TlsConfig,
    load_pem_credential,
    load_pkcs12_credential,
)

if TYPE_CHECKING:
    from pyquic.api.registration import Registration

__all__ = ["Configuration", "CredentialConfig"]

_UNSUPPORTED_FLAGS = (
    CredentialFlags.LOAD_ASYNCHRONOUS
    | CredentialFlags.ENABLE_OCSP
    | CredentialFlags.DEFER_CERTIFICATE_VALIDATION
    | CredentialFlags.REVOCATION_CHECK_END_CERT
    | CredentialFlags.REVOCATION_CHECK_CHAIN
    | CredentialFlags.REVOCATION_CHECK_CHAIN_EXCLUDE_ROOT
    | CredentialFlags.IGNORE_NO_REVOCATION_CHECK
    | CredentialFlags.IGNORE_REVOCATION_OFFLINE
    | CredentialFlags.USE_SUPPLIED_CREDENTIALS
    | CredentialFlags.USE_SYSTEM_MAPPER
    | CredentialFlags.CACHE_ONLY_URL_RETRIEVAL
    | CredentialFlags.REVOCATION_CHECK_CACHE_ONLY
    | CredentialFlags.INPROC_PEER_CERTIFICATE
    | CredentialFlags.DISABLE_AIA
)
_SUITES = {
    AllowedCipherSuiteFlags.AES_128_GCM_SHA256: CipherSuite.AES_128_GCM_SHA256,
    AllowedCipherSuiteFlags.AES_256_GCM_SHA384: CipherSuite.AES_256_GCM_SHA384,
    AllowedCipherSuiteFlags.CHACHA20_POLY1305_SHA256: CipherSuite.CHACHA20_POLY1305_SHA256,
}


@dataclass(frozen=True, slots=True)
class CredentialConfig:
    """``QUIC_CREDENTIAL_CONFIG``: which credential to load and how to validate the peer.

    ``type`` selects the fields used: CERTIFICATE_FILE (``certificate_file`` and
    ``private_key_file``), CERTIFICATE_FILE_PROTECTED (the same plus ``private_key_password``),
    CERTIFICATE_PKCS12 (``pkcs12``: the DER blob, or a file path, and ``private_key_password``),
    CERTIFICATE_CONTEXT (``credential``: a loaded :class:`~pyquic.platform.tls.Credential`) or NONE
    (a client without a certificate).  ``ca_file`` is a PEM bundle of trust anchors used instead
    of the system store (MsQuic's ``CaCertificateFile`` with SET_CA_CERTIFICATE_FILE; giving it
    is enough here).  ``allowed_cipher_suites`` applies with SET_ALLOWED_CIPHER_SUITES.
    """

    type: CredentialType = CredentialType.NONE
    flags: CredentialFlags = CredentialFlags.NONE
    certificate_file: str | os.PathLike[str] | None = None
    private_key_file: str | os.PathLike[str] | None = None
    private_key_password: str | bytes | None = None
    pkcs12: bytes | str | os.PathLike[str] | None = None
    credential: Credential | None = None
    ca_file: str | os.PathLike[str] | None = None
    allowed_cipher_suites: AllowedCipherSuiteFlags = AllowedCipherSuiteFlags.NONE

    @property
    def is_client(self) -> bool:
        return CredentialFlags.CLIENT in self.flags


def _password(value: str | bytes | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


def _pkcs12_blob(blob: bytes, password: bytes | None) -> Credential:
    try:
        bundle = pkcs12.load_pkcs12(blob, password)
    except ValueError as exc:
        raise CredentialError("not a PKCS#12 blob, or a wrong password") from exc
    if bundle.key is None or bundle.cert is None:
        raise CredentialError("the PKCS#12 blob lacks the private key or its certificate")
    chain = (bundle.cert.certificate, *(c.certificate for c in bundle.additional_certs))
    return Credential(chain, bundle.key)  # type: ignore[arg-type]  # Credential checks the type


def _load(config: CredentialConfig) -> Credential | None:
    kind = config.type
    password = _password(config.private_key_password)
    if kind is CredentialType.NONE:
        return None
    if kind in (CredentialType.CERTIFICATE_FILE, CredentialType.CERTIFICATE_FILE_PROTECTED):
        if config.certificate_file is None or config.private_key_file is None:
            raise QuicStatusError(
                Status.INVALID_PARAMETER, f"{kind.name} needs certificate_file and private_key_file"
            )
        if kind is CredentialType.CERTIFICATE_FILE_PROTECTED and password is None:
            raise QuicStatusError(Status.INVALID_PARAMETER, f"{kind.name} needs a password")
        return load_pem_credential(config.certificate_file, config.private_key_file, password)
    if kind is CredentialType.CERTIFICATE_PKCS12:
        if config.pkcs12 is None:
            raise QuicStatusError(Status.INVALID_PARAMETER, "CERTIFICATE_PKCS12 needs pkcs12")
        if isinstance(config.pkcs12, bytes):
            return _pkcs12_blob(config.pkcs12, password)
        return load_pkcs12_credential(config.pkcs12, password)
    if kind is CredentialType.CERTIFICATE_CONTEXT:
        if config.credential is None:
            raise QuicStatusError(Status.INVALID_PARAMETER, "CERTIFICATE_CONTEXT needs credential")
        return config.credential
    raise ValueError(f"unsupported credential type: {kind.name} (a Windows certificate store)")


def _cipher_suites(config: CredentialConfig) -> tuple[CipherSuite, ...] | None:
    allowed = config.allowed_cipher_suites
    if CredentialFlags.SET_ALLOWED_CIPHER_SUITES not in config.flags:
        if allowed:
            raise QuicStatusError(
                Status.INVALID_PARAMETER,
                "allowed_cipher_suites needs CredentialFlags.SET_ALLOWED_CIPHER_SUITES",
            )
        return None
    suites = tuple(suite for flag, suite in _SUITES.items() if flag in allowed)
    if not suites:
        raise QuicStatusError(Status.INVALID_PARAMETER, "no allowed cipher suite")
    return suites


def _check_flags(config: CredentialConfig) -> None:
    reject_flags(config.flags, _UNSUPPORTED_FLAGS, "credential flags")
    flags = config.flags
    if config.is_client and CredentialFlags.REQUIRE_CLIENT_AUTHENTICATION in flags:
        raise QuicStatusError(
            Status.INVALID_PARAMETER, "REQUIRE_CLIENT_AUTHENTICATION is a server flag"
        )
    if CredentialFlags.SET_CA_CERTIFICATE_FILE in flags and config.ca_file is None:
        raise QuicStatusError(Status.INVALID_PARAMETER, "SET_CA_CERTIFICATE_FILE needs ca_file")
    if not config.is_client and config.type is CredentialType.NONE:
        raise QuicStatusError(Status.INVALID_PARAMETER, "a server credential needs a certificate")


class Configuration:
    """``ConfigurationOpen``: ALPNs (in preference order), settings, then ``load_credential``."""

    def __init__(
        self,
        registration: Registration,
        alpn: Sequence[str | bytes],
        settings: Settings | None = None,
        context: object = None,
    ) -> None:
        if isinstance(alpn, str | bytes):
            raise QuicStatusError(Status.INVALID_PARAMETER, "alpn is a list of protocol names")
        alpns = tuple(a.encode("ascii") if isinstance(a, str) else bytes(a) for a in alpn)
        if not alpns or any(not 1 <= len(a) <= 255 for a in alpns):
            raise QuicStatusError(Status.INVALID_PARAMETER, "one or more ALPNs of 1 to 255 bytes")
        registration._check_open()
        self.registration = registration
        self.alpn = alpns
        self._settings = settings if settings is not None else Settings()
        self._context = context
        self._lock = threading.Lock()
        self._credential: CredentialConfig | None = None
        self._tls_source: QuicConfiguration | None = None
        self._suites: tuple[CipherSuite, ...] | None = None
        self._closed = False

    # -- MsQuic's functions ------------------------------------------------------------------

    def load_credential(self, config: CredentialConfig) -> None:
        """``ConfigurationLoadCredential``: validate the flags and load the credential now."""
        self._check_open()
        _check_flags(config)
        suites = _cipher_suites(config)
        require_client = CredentialFlags.REQUIRE_CLIENT_AUTHENTICATION in config.flags
        try:
            source = QuicConfiguration(
                alpn_protocols=self.alpn,
                settings=self._settings,
                credential=_load(config),
                ca_file=os.fspath(config.ca_file) if config.ca_file is not None else None,
                verify=CredentialFlags.NO_CERTIFICATE_VALIDATION not in config.flags,
                require_client_certificate=require_client,
            )
            if config.is_client or require_client:
                source.verifier()  # load the trust anchors now: a bad CA file fails here
        except (CredentialError, OSError) as exc:
            raise QuicStatusError(Status.INVALID_PARAMETER, str(exc)) from exc
        with self._lock:
            self._credential, self._tls_source, self._suites = config, source, suites
        if not config.is_client:
            self.registration._note_server_settings(self._settings)

    def close(self) -> None:
        """``ConfigurationClose``: connections already using it keep their copy."""
        self._closed = True

    def get_param(self, param: int) -> object:
        """Supported: ConfigurationParam.SETTINGS."""
        if param == ConfigurationParam.SETTINGS:
            return self._settings
        raise unsupported_param(param, "get_param", "configuration")

    def set_param(self, param: int, value: object) -> None:
        """Supported: ConfigurationParam.SETTINGS (a :class:`Settings`)."""
        self._check_open()
        if param != ConfigurationParam.SETTINGS:
            raise unsupported_param(param, "set_param", "configuration")
        if not isinstance(value, Settings):
            raise QuicStatusError(Status.INVALID_PARAMETER, "SETTINGS takes a Settings value")
        with self._lock:
            self._settings = value
            if self._tls_source is not None:
                self._tls_source = replace(self._tls_source, settings=value)

    def set_context(self, context: object) -> None:
        self._context = context

    def get_context(self) -> object:
        return self._context

    # -- what connections read -----------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def credential_config(self) -> CredentialConfig | None:
        return self._credential

    @property
    def indicates_certificate(self) -> bool:
        """INDICATE_CERTIFICATE_RECEIVED: deliver PEER_CERTIFICATE_RECEIVED."""
        config = self._credential
        return config is not None and CredentialFlags.INDICATE_CERTIFICATE_RECEIVED in config.flags

    def _check_open(self) -> None:
        if self._closed:
            raise QuicStatusError(Status.INVALID_STATE, "the configuration is closed")

    def _source(self, *, client: bool) -> QuicConfiguration:
        self._check_open()
        config, source = self._credential, self._tls_source
        if config is None or source is None:
            raise QuicStatusError(Status.INVALID_STATE, "load_credential() was not called")
        if config.is_client != client:
            role = "client" if client else "server"
            raise QuicStatusError(
                Status.INVALID_PARAMETER, f"a {role} needs a {role} credential (CredentialFlags)"
            )
        return source

    def client_tls(self, server_name: str, ticket: SessionTicket | None) -> TlsConfig:
        """The TLS configuration of one client connection."""
        tls = self._source(client=True).client_tls(server_name)
        if self._suites is not None:
            tls = replace(tls, cipher_suites=self._suites)
        if ticket is not None:
            tls = replace(tls, session_ticket=ticket)
        return tls

    def server_tls(self, negotiated_alpn: bytes) -> TlsConfig:
        """The TLS configuration of one server connection (the listener chose the ALPN)."""
        tls = self._source(client=False).server_tls()
        changes: dict[str, object] = {"alpn_protocols": (negotiated_alpn,)}
        if self._suites is not None:
            changes["cipher_suites"] = self._suites
        if self._settings.server_resumption_level == "no_resume":
            changes["ticket_sealer"] = None  # MsQuic's default: no session tickets
        return replace(tls, **changes)  # type: ignore[arg-type]
