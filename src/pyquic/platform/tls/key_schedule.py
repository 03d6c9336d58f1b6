"""The TLS 1.3 transcript hash and key schedule (RFC 8446 §4.4.1, §4.4.4, §4.2.11.2, §4.6.1, §7).

Design:

- :class:`Transcript` is the running hash of the handshake messages.  The hash is fixed by the
  cipher suite, which a client learns only from the ServerHello or HelloRetryRequest, so until
  :meth:`Transcript.select_hash` the raw messages are buffered (in practice only ClientHello1) and
  hashed once the suite is known.  The HelloRetryRequest rule of §4.4.1 (ClientHello1 replaced by
  a synthetic ``message_hash`` message) is :meth:`Transcript.apply_hello_retry`, and a server that
  keeps only Hash(ClientHello1) in a cookie rebuilds the transcript with
  :meth:`Transcript.from_client_hello1_hash`.  The binder of the first ClientHello, computed before
  any suite is chosen, uses :func:`transcript_hash` with the PSK's hash (§4.2.11.2).
- :class:`KeySchedule` walks the three stages of the §7.1 diagram (early, handshake, main secret)
  as an explicit :class:`KeyScheduleStage`; each Derive-Secret takes the transcript hash as bytes,
  so the caller decides which messages it covers and the schedule never sees the messages.
  Asking for a secret of another stage is a programming error (``RuntimeError``).
- Stage-independent helpers (Finished/binder HMAC, resumption PSK, "traffic upd", exporters) are
  methods of the same object because they need only its hash.

Secrets are returned as ``bytes``; the caller derives packet keys from them (RFC 9001 §5.1).
"""

from __future__ import annotations

import hmac
from enum import Enum

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

from pyquic.platform.crypto.hkdf import hkdf_expand_label, hkdf_extract
from pyquic.platform.crypto.suites import CipherSuite
from pyquic.platform.tls.constants import AlertDescription, HandshakeType, alert_error

BytesLike = bytes | bytearray | memoryview


def transcript_hash(algorithm: hashes.HashAlgorithm, *messages: BytesLike) -> bytes:
    """Transcript-Hash(M1, ..., Mn) = Hash(M1 || ... || Mn) (RFC 8446 §4.4.1)."""
    digest = hashes.Hash(algorithm)
    for message in messages:
        digest.update(bytes(message))
    return digest.finalize()


def _constants(algorithm: hashes.HashAlgorithm) -> tuple[bytes, bytes]:
    """(Early Secret, salt) without a PSK: the Early Secret HKDF-Extract(0, 0) and the salt
    Derive-Secret(Early Secret, "derived", "") of the Handshake Secret depend on the hash alone
    (RFC 8446 §7.1).  Public constants, computed once per hash rather than per handshake."""
    key = (algorithm.name, algorithm.digest_size)
    constants = _CONSTANTS.get(key)
    if constants is None:
        zeros = bytes(algorithm.digest_size)
        early = hkdf_extract(algorithm, zeros, zeros)
        empty = transcript_hash(algorithm)
        salt = hkdf_expand_label(algorithm, early, b"derived", empty, algorithm.digest_size)
        constants = _CONSTANTS[key] = (early, salt)
    return constants


_CONSTANTS: dict[tuple[str, int], tuple[bytes, bytes]] = {}


def message_hash_message(algorithm: hashes.HashAlgorithm, client_hello1_hash: BytesLike) -> bytes:
    """The synthetic ``message_hash`` handshake message replacing ClientHello1 (RFC 8446 §4.4.1).

    ``message_hash (254) || uint24 Hash.length || Hash(ClientHello1)``.
    """
    if len(client_hello1_hash) != algorithm.digest_size:
        raise ValueError(
            f"Hash(ClientHello1) must be {algorithm.digest_size} bytes, "
            f"got {len(client_hello1_hash)}"
        )
    return b"".join(
        (
            bytes((HandshakeType.MESSAGE_HASH,)),
            algorithm.digest_size.to_bytes(3, "big"),  # §4.4.1: 00 00 Hash.length
            bytes(client_hello1_hash),
        )
    )


class Transcript:
    """The running transcript hash of one handshake (RFC 8446 §4.4.1).

    Messages are whole handshake messages, header included (type and uint24 length), without any
    record or CRYPTO frame framing.  Before :meth:`select_hash` they are buffered raw.
    """

    __slots__ = ("_algorithm", "_buffered", "_hash", "_message_count")

    def __init__(self, algorithm: hashes.HashAlgorithm | None = None) -> None:
        self._algorithm: hashes.HashAlgorithm | None = None
        self._hash: hashes.Hash | None = None
        self._buffered: list[bytes] = []
        self._message_count = 0
        if algorithm is not None:
            self.select_hash(algorithm)

    @classmethod
    def from_client_hello1_hash(
        cls, algorithm: hashes.HashAlgorithm, client_hello1_hash: BytesLike
    ) -> Transcript:
        """The transcript after a stateless HelloRetryRequest, from Hash(ClientHello1) alone.

        RFC 8446 §4.4.1 and §4.2.2: the server may keep only the hash in the cookie; the
        transcript then starts with the ``message_hash`` message.  Add the HelloRetryRequest next.
        """
        transcript = cls(algorithm)
        transcript.add(message_hash_message(algorithm, client_hello1_hash))
        return transcript

    @property
    def algorithm(self) -> hashes.HashAlgorithm | None:
        """The hash in use, or ``None`` while messages are buffered."""
        return self._algorithm

    @property
    def message_count(self) -> int:
        """How many messages the transcript holds (``message_hash`` counts as one)."""
        return self._message_count

    def select_hash(self, algorithm: hashes.HashAlgorithm) -> None:
        """Fix the suite's hash and hash the buffered messages (RFC 8446 §4.4.1).

        Selecting the same hash again is a no-op; a different one is a ``RuntimeError``.
        """
        if self._algorithm is not None:
            if self._algorithm.name != algorithm.name:
                raise RuntimeError(
                    f"transcript hash already {self._algorithm.name}, not {algorithm.name}"
                )
            return
        self._algorithm = algorithm
        self._hash = hashes.Hash(algorithm)
        for message in self._buffered:
            self._hash.update(message)
        self._buffered.clear()

    def add(self, message: BytesLike) -> None:
        """Append one handshake message (header included) to the transcript."""
        data = bytes(message)
        if self._hash is None:
            self._buffered.append(data)
        else:
            self._hash.update(data)
        self._message_count += 1

    def digest(self, extra: BytesLike = b"") -> bytes:
        """Transcript-Hash of the messages so far followed by ``extra``, which is not recorded.

        ``extra`` serves the binder of ClientHello2 (Truncate(ClientHello2), §4.2.11.2) and a
        server that computes the client Finished ahead of time (§4.6.1).
        """
        if self._hash is None:
            raise RuntimeError("transcript hash not selected yet")
        digest = self._hash.copy()
        digest.update(bytes(extra))
        return digest.finalize()

    def apply_hello_retry(self) -> None:
        """Replace ClientHello1 with ``message_hash`` (RFC 8446 §4.4.1).

        Call on receiving (client) or sending (server) a HelloRetryRequest, after
        :meth:`select_hash` with the suite it names and before adding the HelloRetryRequest.
        """
        if self._message_count != 1:
            raise RuntimeError(
                f"HelloRetryRequest rule needs exactly ClientHello1, have {self._message_count}"
            )
        algorithm = self._algorithm
        if algorithm is None:
            raise RuntimeError("transcript hash not selected yet")
        client_hello1_hash = self.digest()
        self._hash = hashes.Hash(algorithm)
        self._hash.update(message_hash_message(algorithm, client_hello1_hash))


class KeyScheduleStage(Enum):
    """Which extracted secret the schedule holds (RFC 8446 §7.1 diagram, top to bottom)."""

    EARLY = "early"
    HANDSHAKE = "handshake"
    MAIN = "main"


class KeySchedule:
    """The RFC 8446 §7.1 key schedule of one connection for one cipher suite.

    Create it with the PSK (or none: the zero PSK), derive early secrets, then
    :meth:`enter_handshake` with the (EC)DHE shared secret, then :meth:`enter_main`.
    Every ``transcript_hash`` argument is Transcript-Hash of the messages the RFC names.
    """

    __slots__ = ("_derived_salt", "_secret", "_stage", "suite")

    def __init__(self, suite: CipherSuite, psk: BytesLike | None = None) -> None:
        self.suite = suite
        if psk is not None and len(psk) == 0:
            raise ValueError("a PSK cannot be empty")
        # §7.1: Early Secret = HKDF-Extract(0, PSK); "0" (Hash.length zero bytes) if no PSK.
        self._derived_salt: bytes | None = None  # Derive-Secret(Early Secret, "derived", "")
        if psk is None:
            self._secret, self._derived_salt = _constants(suite.hash_algorithm)
        else:
            self._secret = hkdf_extract(suite.hash_algorithm, bytes(suite.hash_length), psk)
        self._stage = KeyScheduleStage.EARLY

    @property
    def hash_algorithm(self) -> hashes.HashAlgorithm:
        return self.suite.hash_algorithm

    @property
    def hash_length(self) -> int:
        return self.suite.hash_length

    @property
    def stage(self) -> KeyScheduleStage:
        return self._stage

    # -- internals -------------------------------------------------------------------------

    def _empty_hash(self) -> bytes:
        return transcript_hash(self.hash_algorithm)

    def _derive_secret(self, secret: bytes, label: bytes, transcript_hash: BytesLike) -> bytes:
        """Derive-Secret(Secret, Label, Messages), given Transcript-Hash(Messages) (§7.1)."""
        if len(transcript_hash) != self.hash_length:
            raise ValueError(
                f"transcript hash must be {self.hash_length} bytes, got {len(transcript_hash)}"
            )
        return hkdf_expand_label(
            self.hash_algorithm, secret, label, transcript_hash, self.hash_length
        )

    def _stage_secret(self, stage: KeyScheduleStage) -> bytes:
        if self._stage is not stage:
            raise RuntimeError(
                f"key schedule is at the {self._stage.value} secret, not {stage.value}"
            )
        return self._secret

    def _advance(self, expected: KeyScheduleStage, new: KeyScheduleStage, ikm: bytes) -> None:
        # §7.1: salt = Derive-Secret(previous, "derived", ""), then HKDF-Extract(salt, IKM).
        secret = self._stage_secret(expected)  # raises out of order
        salt = self._derived_salt if expected is KeyScheduleStage.EARLY else None
        if salt is None:
            salt = self._derive_secret(secret, b"derived", self._empty_hash())
        self._secret = hkdf_extract(self.hash_algorithm, salt, ikm)
        self._stage = new

    # -- early secret ----------------------------------------------------------------------

    @property
    def early_secret(self) -> bytes:
        return self._stage_secret(KeyScheduleStage.EARLY)

    def binder_key(self, resumption: bool) -> bytes:
        """Derive-Secret(Early Secret, "res binder" | "ext binder", "") (§7.1).

        "res binder" for resumption PSKs, "ext binder" for external PSKs.
        """
        label = b"res binder" if resumption else b"ext binder"
        return self._derive_secret(self.early_secret, label, self._empty_hash())

    def client_early_traffic_secret(self, client_hello_hash: BytesLike) -> bytes:
        """Derive-Secret(Early Secret, "c e traffic", ClientHello) (§7.1): the 0-RTT secret."""
        return self._derive_secret(self.early_secret, b"c e traffic", client_hello_hash)

    def early_exporter_secret(self, client_hello_hash: BytesLike) -> bytes:
        """Derive-Secret(Early Secret, "e exp master", ClientHello) (§7.1)."""
        return self._derive_secret(self.early_secret, b"e exp master", client_hello_hash)

    # -- handshake secret ------------------------------------------------------------------

    def enter_handshake(self, shared_secret: BytesLike | None) -> None:
        """Handshake Secret = HKDF-Extract(Derive-Secret(Early, "derived", ""), shared) (§7.1).

        ``shared_secret`` is the (EC)DHE output; ``None`` for psk_ke, which uses zeros (§7.1).
        """
        ikm = bytes(self.hash_length) if shared_secret is None else bytes(shared_secret)
        self._advance(KeyScheduleStage.EARLY, KeyScheduleStage.HANDSHAKE, ikm)

    @property
    def handshake_secret(self) -> bytes:
        return self._stage_secret(KeyScheduleStage.HANDSHAKE)

    def client_handshake_traffic_secret(self, transcript_hash: BytesLike) -> bytes:
        """Derive-Secret(., "c hs traffic", ClientHello...ServerHello) (§7.1)."""
        return self._derive_secret(self.handshake_secret, b"c hs traffic", transcript_hash)

    def server_handshake_traffic_secret(self, transcript_hash: BytesLike) -> bytes:
        """Derive-Secret(., "s hs traffic", ClientHello...ServerHello) (§7.1)."""
        return self._derive_secret(self.handshake_secret, b"s hs traffic", transcript_hash)

    # -- main secret -----------------------------------------------------------------------

    def enter_main(self) -> None:
        """Main Secret = HKDF-Extract(Derive-Secret(Handshake, "derived", ""), 0) (§7.1)."""
        self._advance(KeyScheduleStage.HANDSHAKE, KeyScheduleStage.MAIN, bytes(self.hash_length))

    @property
    def main_secret(self) -> bytes:
        return self._stage_secret(KeyScheduleStage.MAIN)

    def client_application_traffic_secret(self, transcript_hash: BytesLike) -> bytes:
        """Derive-Secret(., "c ap traffic", ClientHello...server Finished) (§7.1)."""
        return self._derive_secret(self.main_secret, b"c ap traffic", transcript_hash)

    def server_application_traffic_secret(self, transcript_hash: BytesLike) -> bytes:
        """Derive-Secret(., "s ap traffic", ClientHello...server Finished) (§7.1)."""
        return self._derive_secret(self.main_secret, b"s ap traffic", transcript_hash)

    def exporter_master_secret(self, transcript_hash: BytesLike) -> bytes:
        """Derive-Secret(., "exp master", ClientHello...server Finished) (§7.1)."""
        return self._derive_secret(self.main_secret, b"exp master", transcript_hash)

    def resumption_master_secret(self, transcript_hash: BytesLike) -> bytes:
        """Derive-Secret(., "res master", ClientHello...client Finished) (§7.1)."""
        return self._derive_secret(self.main_secret, b"res master", transcript_hash)

    # -- stage-independent helpers -------------------------------------------------------

    def finished_verify_data(self, base_key: BytesLike, transcript_hash: BytesLike) -> bytes:
        """HMAC(finished_key, transcript_hash) (§4.4.4).

        finished_key = HKDF-Expand-Label(BaseKey, "finished", "", Hash.length).
        """
        if len(transcript_hash) != self.hash_length:
            raise ValueError(
                f"transcript hash must be {self.hash_length} bytes, got {len(transcript_hash)}"
            )
        finished_key = hkdf_expand_label(
            self.hash_algorithm, base_key, b"finished", b"", self.hash_length
        )
        mac = crypto_hmac.HMAC(finished_key, self.hash_algorithm)
        mac.update(bytes(transcript_hash))
        return mac.finalize()

    def verify_finished(
        self, base_key: BytesLike, transcript_hash: BytesLike, verify_data: BytesLike
    ) -> None:
        """Check a received Finished; a mismatch is a decrypt_error alert (§4.4.4)."""
        expected = self.finished_verify_data(base_key, transcript_hash)
        if not hmac.compare_digest(expected, bytes(verify_data)):
            raise alert_error(AlertDescription.decrypt_error, "Finished verify_data mismatch")

    def compute_binder(self, binder_key: BytesLike, partial_transcript_hash: BytesLike) -> bytes:
        """A PSK binder: the Finished computation with BaseKey = binder_key (§4.2.11.2).

        ``partial_transcript_hash`` covers Truncate(ClientHello) (and, after a
        HelloRetryRequest, the messages before it), hashed with this suite's hash.
        """
        return self.finished_verify_data(binder_key, partial_transcript_hash)

    def verify_binder(
        self, binder_key: BytesLike, partial_transcript_hash: BytesLike, binder: BytesLike
    ) -> None:
        """Check a received PSK binder; failure is a decrypt_error alert (§4.2.11, §6.2)."""
        expected = self.compute_binder(binder_key, partial_transcript_hash)
        if not hmac.compare_digest(expected, bytes(binder)):
            raise alert_error(AlertDescription.decrypt_error, "PSK binder does not validate")

    def resumption_psk(self, resumption_master_secret: BytesLike, ticket_nonce: BytesLike) -> bytes:
        """The PSK of a ticket (§4.6.1).

        HKDF-Expand-Label(resumption_secret, "resumption", ticket_nonce, Hash.length).
        """
        algorithm = self.hash_algorithm
        return hkdf_expand_label(
            algorithm, resumption_master_secret, b"resumption", ticket_nonce, self.hash_length
        )

    def next_application_traffic_secret(self, secret: BytesLike) -> bytes:
        """application_traffic_secret_N+1 via "traffic upd" (§7.2).  QUIC uses "quic ku" instead."""
        return hkdf_expand_label(self.hash_algorithm, secret, b"traffic upd", b"", self.hash_length)

    def export(
        self, exporter_secret: BytesLike, label: bytes, context: BytesLike, length: int
    ) -> bytes:
        """TLS-Exporter(label, context_value, key_length) (§7.5).

        HKDF-Expand-Label(Derive-Secret(Secret, label, ""), "exporter", Hash(context), length),
        with Secret the exporter_secret (or, for an early exporter, early_exporter_secret).
        A missing context is the empty context (§7.5).
        """
        derived = self._derive_secret(bytes(exporter_secret), label, self._empty_hash())
        context_hash = transcript_hash(self.hash_algorithm, context)
        return hkdf_expand_label(self.hash_algorithm, derived, b"exporter", context_hash, length)
