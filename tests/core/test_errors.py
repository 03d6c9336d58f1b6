"""The single protocol error type and its wire codes (RFC 9000 §20.1, RFC 9001 §4.8)."""

from __future__ import annotations

import pytest

from pyquic.core.errors import QuicError, TransportErrorCode


def test_rfc9000_transport_codes() -> None:
    assert TransportErrorCode.FRAME_ENCODING_ERROR == 0x07
    assert TransportErrorCode.TRANSPORT_PARAMETER_ERROR == 0x08
    assert TransportErrorCode.PROTOCOL_VIOLATION == 0x0A
    assert TransportErrorCode.NO_VIABLE_PATH == 0x10
    assert TransportErrorCode.VERSION_NEGOTIATION_ERROR == 0x11  # RFC 9368 §10.2


def test_tls_alert_maps_to_crypto_error_range() -> None:
    err = QuicError.from_tls_alert(120, "no overlap")  # no_application_protocol
    assert err.error_code == 0x178
    assert err.tls_alert == 120
    assert "CRYPTO_ERROR(alert 120)" in str(err)
    with pytest.raises(ValueError):
        QuicError.from_tls_alert(256)


def test_message_names_code_and_frame() -> None:
    err = QuicError(TransportErrorCode.FRAME_ENCODING_ERROR, "bad ACK", frame_type=0x02)
    assert str(err) == "FRAME_ENCODING_ERROR in frame 0x2: bad ACK"
    assert err.tls_alert is None
    app = QuicError(0x10C, "bye", application=True)
    assert app.tls_alert is None
    assert str(app) == "application error 0x10c: bye"
