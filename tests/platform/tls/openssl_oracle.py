"""Test helper, not a test module: a real TLS 1.3 handshake in OpenSSL, through pyOpenSSL (a
dependency of the aioquic test dependency), whose key log and exporter are an independent oracle.

``conftest.py`` exposes it as the ``openssl_tls13`` fixture; tests may also import it directly
(``from openssl_oracle import run_openssl_handshake``).
"""

from __future__ import annotations

import contextlib
import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from OpenSSL import SSL


@dataclass
class OpenSslSession:
    """Both ends of a completed in-memory OpenSSL TLS 1.3 handshake and their key log lines."""

    client: SSL.Connection
    server: SSL.Connection
    key_log: list[bytes]

    def secret(self, label: str) -> tuple[bytes, bytes]:
        """(client_random, secret) of the first key log line with ``label``."""
        for line in self.key_log:
            name, random_hex, secret_hex = line.decode("ascii").split(" ")
            if name == label:
                return bytes.fromhex(random_hex), bytes.fromhex(secret_hex)
        raise AssertionError(f"OpenSSL logged no {label}")


def _self_signed() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key, cert


def run_openssl_handshake(suite_name: str) -> OpenSslSession:
    """One in-memory OpenSSL TLS 1.3 handshake with ``suite_name`` (an IANA suite name)."""
    key, cert = _self_signed()
    key_log: list[bytes] = []

    def context(server: bool) -> SSL.Context:
        ctx = SSL.Context(SSL.TLS_METHOD)
        ctx.set_min_proto_version(SSL.TLS1_3_VERSION)
        ctx.set_tls13_ciphersuites(suite_name.encode("ascii"))
        ctx.set_keylog_callback(lambda _conn, line: key_log.append(line))
        if server:
            ctx.use_certificate(cert)
            ctx.use_privatekey(key)
        return ctx

    client = SSL.Connection(context(False), None)
    client.set_connect_state()
    server = SSL.Connection(context(True), None)
    server.set_accept_state()
    done = {id(client): False, id(server): False}
    for _ in range(10):
        for conn, peer in ((client, server), (server, client)):
            try:
                conn.do_handshake()
                done[id(conn)] = True
            except SSL.WantReadError:
                pass
            with contextlib.suppress(SSL.WantReadError):
                peer.bio_write(conn.bio_read(1 << 16))
        if all(done.values()):
            return OpenSslSession(client, server, key_log)
    raise AssertionError("OpenSSL handshake did not complete")
