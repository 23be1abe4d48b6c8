"""verify() accepts exactly what sign() signed, fresh, under the same secret."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from propcare_webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureInvalid,
    sign,
    verify,
)

from propcare import ConfigError, ValidationError

SECRET = "whsec-翠苑-0123456789"
T = 1_800_000_000  # 2027-01-15T08:00:00Z
NOW = datetime.fromtimestamp(T, UTC)
BODY = '{"subject":"【翠苑】停水通知","body":"尊敬的张三：明日停水。"}'.encode()


def headers(timestamp: int = T, body: bytes = BODY, secret: str = SECRET) -> dict[str, str]:
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
        IDEMPOTENCY_HEADER: "notify:1:k/channel:webhook",
    }


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, T, BODY) == f"sha256={expected}"
    verify(SECRET, headers(), BODY, now=NOW)  # passes: no exception


def test_a_tampered_body_is_rejected() -> None:
    tampered = BODY.replace(b"12:00", b"18:00").replace("明日".encode(), "后天".encode())
    assert tampered != BODY
    with pytest.raises(SignatureInvalid, match="does not match the body and timestamp"):
        verify(SECRET, headers(), tampered, now=NOW)


def test_a_wrong_secret_is_rejected() -> None:
    with pytest.raises(SignatureInvalid, match="X-Propcare-Signature="):
        verify("another-secret", headers(), BODY, now=NOW)


def test_a_changed_timestamp_is_rejected_even_when_fresh() -> None:
    # Re-stamping a captured request to make it look fresh breaks its signature.
    moved = {**headers(), TIMESTAMP_HEADER: str(T + 1)}
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify(SECRET, moved, BODY, now=NOW)


def test_a_stale_timestamp_is_rejected() -> None:
    with pytest.raises(SignatureInvalid, match="is 301 s old, more than the 300 s allowed"):
        verify(SECRET, headers(), BODY, now=NOW + timedelta(seconds=301))
    verify(SECRET, headers(), BODY, now=NOW + timedelta(seconds=300))  # at the edge: passes
    with pytest.raises(SignatureInvalid, match="X-Propcare-Timestamp=1800000000: is 61 s old"):
        verify(SECRET, headers(), BODY, now=NOW + timedelta(seconds=61), tolerance=60)


def test_a_timestamp_from_the_future_is_rejected() -> None:
    with pytest.raises(SignatureInvalid, match="s in the future"):
        verify(SECRET, headers(), BODY, now=NOW - timedelta(seconds=301))


def test_header_names_are_matched_in_any_case() -> None:
    lowered = {k.lower(): v for k, v in headers().items()}
    verify(SECRET, lowered, BODY, now=NOW)
    upper = [(k.upper(), v) for k, v in headers().items()]
    verify(SECRET, _Items(upper), BODY, now=NOW)


class _Items:
    """Headers as a list of pairs, like a framework's multi-dict."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def items(self) -> list[tuple[str, str]]:
        return self.pairs


def test_missing_malformed_or_repeated_headers_are_rejected() -> None:
    good = headers()
    without_stamp = {k: v for k, v in good.items() if k != TIMESTAMP_HEADER}
    with pytest.raises(SignatureInvalid, match="X-Propcare-Timestamp=None: is missing"):
        verify(SECRET, without_stamp, BODY, now=NOW)
    without_signature = {k: v for k, v in good.items() if k != SIGNATURE_HEADER}
    with pytest.raises(SignatureInvalid, match="X-Propcare-Signature=None: is missing"):
        verify(SECRET, without_signature, BODY, now=NOW)
    for stamp in ["-5", "1.8e9", "", "１８００", "9" * 13]:
        with pytest.raises(SignatureInvalid, match="must be unix seconds"):
            verify(SECRET, {**good, TIMESTAMP_HEADER: stamp}, BODY, now=NOW)
    digest = good[SIGNATURE_HEADER].removeprefix("sha256=")
    for signature in [digest, "sha1=" + digest[:40], "sha256=" + digest[:-1], "sha256=xyz"]:
        with pytest.raises(SignatureInvalid, match="must be sha256=<64 hex digits>"):
            verify(SECRET, {**good, SIGNATURE_HEADER: signature}, BODY, now=NOW)
    twice = _Items([*good.items(), (SIGNATURE_HEADER.lower(), good[SIGNATURE_HEADER])])
    with pytest.raises(SignatureInvalid, match="appears more than once"):
        verify(SECRET, twice, BODY, now=NOW)


def test_misuse_is_refused_with_the_rule() -> None:
    with pytest.raises(ValidationError, match="now=.*must be timezone-aware"):
        verify(SECRET, headers(), BODY, now=datetime(2027, 1, 15, 8, 0))
    with pytest.raises(ValidationError, match="raw request body as bytes"):
        verify(SECRET, headers(), BODY.decode(), now=NOW)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="secret='<hidden>': must be a non-empty"):
        verify("", headers(), BODY, now=NOW)
    for tolerance in [0, -1, float("nan"), True]:
        with pytest.raises(ValidationError, match="tolerance="):
            verify(SECRET, headers(), BODY, now=NOW, tolerance=tolerance)


@given(body=st.binary(max_size=2048), secret=st.text(min_size=1).filter(str.strip), data=st.data())
def test_whatever_is_signed_verifies_within_the_tolerance(
    body: bytes, secret: str, data: st.DataObject
) -> None:
    timestamp = data.draw(st.integers(0, 10**11), label="timestamp")
    skew = data.draw(st.integers(-300, 300), label="skew")
    verify(
        secret,
        headers(timestamp, body, secret),
        body,
        now=datetime.fromtimestamp(timestamp + skew, UTC),
    )


@given(body=st.binary(min_size=1, max_size=2048), data=st.data())
def test_any_change_of_one_byte_of_the_body_fails_verification(
    body: bytes, data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(body) - 1), label="index")
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != body[index]), label="byte")
    changed = body[:index] + bytes([byte]) + body[index + 1 :]
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify(SECRET, headers(body=body), changed, now=NOW)


@given(secret=st.text(min_size=1).filter(lambda s: s.strip() and s != SECRET))
def test_any_other_secret_fails_verification(secret: str) -> None:
    with pytest.raises(SignatureInvalid, match="does not match"):
        verify(secret, headers(), BODY, now=NOW)


@given(age=st.integers(301, 10**9) | st.integers(-(10**9), -301))
def test_any_timestamp_outside_the_tolerance_is_rejected(age: int) -> None:
    with pytest.raises(SignatureInvalid, match="more than the 300 s allowed"):
        verify(SECRET, headers(), BODY, now=NOW + timedelta(seconds=age))
