"""Platform certificates as WeChat Pay's own SDK treats them: serials are numbers, and a
certificate is trusted only within its validity period (warned of before its end).

Each rule is checked against wechatpayv3 (``wechatpayv3.core.Core``), the SDK WeChat
Pay's documentation lists for Python: what it accepts, the adapter accepts, and what it
refuses, the adapter refuses.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from propcare_wechatpay import EXPIRY_WARNING, WeChatPayClient
from propcare_wechatpay_fake import (
    MCHID,
    MERCHANT_SERIAL,
    PLATFORM_SERIAL,
    T0,
    account_settings,
    callback,
    certificate,
    keys,
    transaction,
)
from wechatpayv3.core import Core

from propcare import ConfigError, FixedClock, ValidationError

BASE = "http://127.0.0.1:9"  # no server: verifying a callback makes no request
UPPER = f"{PLATFORM_SERIAL:X}"  # as WeChat Pay writes Wechatpay-Serial
SERIALS = {
    "upper": UPPER,
    "lower": UPPER.lower(),
    "leading zero": "0" + UPPER,
}


class OfflineCore(Core):  # type: ignore[misc]
    """wechatpayv3's Core with the certificates in ``cert_dir`` only: it would download
    missing ones from WeChat Pay, which a test cannot reach."""

    def _update_certificates(self) -> None:
        pass


def sdk(tmp_path: Path, *certs: str) -> Any:
    """wechatpayv3 loading ``certs`` as a merchant's certificate folder."""
    for i, pem in enumerate(certs):
        (tmp_path / f"cert{i}.pem").write_text(pem)
    return OfflineCore(
        mchid=MCHID,
        cert_serial_no=MERCHANT_SERIAL,
        private_key=keys().merchant_pem(),
        apiv3_key=keys().apiv3_key,
        cert_dir=str(tmp_path),
    )


def sdk_verifies(core: Any, headers: dict[str, str], body: bytes) -> bool:
    # WeChat Pay also sends the scheme, which wechatpayv3 requires.
    signed = {**headers, "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048"}
    return bool(core._verify_signature(signed, body.decode("utf-8")))


def client(filed: dict[str, str], now: datetime = T0) -> WeChatPayClient:
    return WeChatPayClient(account_settings(BASE, FixedClock(now), platform_public_keys=filed))


def paid(at: datetime = T0, **signing: Any) -> tuple[dict[str, str], bytes]:
    return callback(transaction("ORDER-000001", 100, "4200000001"), at=at, **signing)


# --- serials ---------------------------------------------------------------------------


@pytest.mark.parametrize("sent", sorted(SERIALS))
@pytest.mark.parametrize("filed", sorted(SERIALS))
def test_a_serial_is_a_number_whatever_its_case_as_in_wechatpayv3(
    tmp_path: Path, filed: str, sent: str
) -> None:
    headers, body = paid(serial=SERIALS[sent])
    assert sdk_verifies(sdk(tmp_path, keys().platform_cert_pem), headers, body)
    notice = client({SERIALS[filed]: keys().platform_cert_pem}).parse_notification(headers, body)
    assert notice.amount == 1 and notice.provider_txn_id == "4200000001"


def test_another_serial_is_unknown_to_both(tmp_path: Path) -> None:
    headers, body = paid(serial=f"{PLATFORM_SERIAL + 1:X}")
    assert not sdk_verifies(sdk(tmp_path, keys().platform_cert_pem), headers, body)
    with pytest.raises(ValidationError, match="unknown") as caught:
        client({UPPER: keys().platform_cert_pem}).parse_notification(headers, body)
    assert caught.value.field == "Wechatpay-Serial"


def test_one_serial_filed_twice_in_two_spellings_is_a_config_error() -> None:
    pem = keys().platform_cert_pem
    with pytest.raises(ConfigError, match="same serial") as caught:
        client({UPPER: pem, UPPER.lower(): pem})
    assert caught.value.field == "gateways.wechatpay.platform_public_keys"


# --- validity --------------------------------------------------------------------------

# wechatpayv3 reads the machine's clock, so these certificates are dated around it.
NOW = datetime.now(UTC).replace(microsecond=0)
EXPIRED_SERIAL = 0xE1E1E1E1
EXPIRED = certificate(
    keys().platform,
    serial=EXPIRED_SERIAL,
    not_before=NOW - timedelta(days=5 * 365),
    not_after=NOW - timedelta(days=1),
)
NOT_YET_SERIAL = 0xF2F2F2F2
NOT_YET = certificate(
    keys().platform,
    serial=NOT_YET_SERIAL,
    not_before=NOW + timedelta(days=1),
    not_after=NOW + timedelta(days=5 * 365),
)


@pytest.mark.parametrize(
    ("serial", "pem", "rule"),
    [(EXPIRED_SERIAL, EXPIRED, "expired"), (NOT_YET_SERIAL, NOT_YET, "valid only from")],
    ids=["expired", "not yet valid"],
)
def test_a_certificate_out_of_its_validity_is_not_trusted_as_in_wechatpayv3(
    tmp_path: Path, serial: int, pem: str, rule: str
) -> None:
    headers, body = paid(at=NOW, serial=f"{serial:X}")
    core = sdk(tmp_path, pem, keys().platform_cert_pem)
    # wechatpayv3 leaves it out of the certificates it trusts, so nothing it signs verifies.
    assert [c.serial_number for c in core._certificates] == [PLATFORM_SERIAL]
    assert not sdk_verifies(core, headers, body)
    ours = client({f"{serial:X}": pem, UPPER: keys().platform_cert_pem}, now=NOW)
    with pytest.raises(ValidationError, match=rule) as caught:
        ours.parse_notification(headers, body)
    assert caught.value.field == "Wechatpay-Serial"
    # The same key under a valid certificate verifies in both.
    good = paid(at=NOW)
    assert sdk_verifies(core, *good) and ours.parse_notification(*good).amount == 1


def test_a_certificate_is_trusted_up_to_its_last_second() -> None:
    end = datetime(2026, 11, 30, tzinfo=UTC)
    pem = certificate(keys().platform, not_after=end)
    assert client({UPPER: pem}, now=end).parse_notification(*paid(at=end)).amount == 1
    later = end + timedelta(seconds=1)
    with pytest.raises(ValidationError, match="expired"):
        client({UPPER: pem}, now=later).parse_notification(*paid(at=later))


def test_a_certificate_near_its_end_is_warned_of_at_opening_and_once_when_it_signs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ends = T0 + EXPIRY_WARNING - timedelta(days=1)
    pem = certificate(keys().platform, not_after=ends)
    with caplog.at_level(logging.WARNING, logger="propcare_wechatpay"):
        ours = client({UPPER: pem})
        assert [r.getMessage() for r in caplog.records] == [
            f"WeChat Pay platform certificate {UPPER} expires at "
            f"{ends.astimezone(UTC).isoformat()} (in 29 days): add its successor to "
            "gateways.wechatpay.platform_public_keys; messages it signs are refused after that"
        ]
        caplog.clear()
        for _ in range(3):
            assert ours.parse_notification(*paid()).amount == 1
        assert len(caplog.records) == 1 and UPPER in caplog.records[0].getMessage()


def test_a_certificate_with_time_to_spare_or_a_public_key_is_not_warned_of(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="propcare_wechatpay"):
        ours = WeChatPayClient(account_settings(BASE, FixedClock(T0)))
        ours.parse_notification(*paid())
    assert caplog.records == []
