"""Settings: each bad one is a ConfigError naming it, and secrets never reach a message."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import propcare_wechatpay
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.x509.oid import NameOID
from propcare_wechatpay import DEFAULT_BASE_URL, WeChatPayClient
from propcare_wechatpay_fake import (
    MERCHANT_SERIAL,
    PUBKEY_ID,
    T0,
    Keys,
    account_settings,
    callback,
    keys,
    transaction,
)

from propcare import ConfigError, FixedClock, Propcare, SystemClock

BASE = "http://127.0.0.1:9"


def settings(**changes: Any) -> dict[str, Any]:
    return {**account_settings(BASE, FixedClock(T0)), **changes}


def test_the_plugin_provides_the_wechatpay_gateway() -> None:
    config = {"gateways": {"counter": {}, "wechatpay": settings()}}
    with Propcare.open(
        "sqlite://:memory:", plugins=[propcare_wechatpay], load_entrypoints=False, config=config
    ) as app:
        names = {p.record.name: p.record for p in app.host.payment_gateways()}
        assert names["wechatpay"].create is WeChatPayClient
        assert isinstance(app.gateways["wechatpay"], WeChatPayClient)
    (entry,) = [e for e in entry_points(group="propcare") if e.name == "wechatpay"]
    assert entry.value == "propcare_wechatpay" and entry.load() is propcare_wechatpay


def test_defaults() -> None:
    given = {k: v for k, v in settings().items() if k not in ("base_url", "timeout", "clock")}
    loaded = WeChatPayClient(given).settings
    assert loaded.base_url == "https://api.mch.weixin.qq.com" == DEFAULT_BASE_URL
    assert (loaded.trade_type, loaded.timeout, loaded.description) == ("native", 10.0, "物业缴费")
    assert isinstance(loaded.clock, SystemClock) and loaded.payer_openid is None
    assert loaded.merchant_serial_no == MERCHANT_SERIAL
    assert set(loaded.platform_keys) == {keys().platform_serial, PUBKEY_ID}
    # Secrets stay out of repr (and so out of logs of the settings object).
    assert keys().apiv3_key not in repr(loaded) and "RSAPrivateKey" not in repr(loaded)


def _ec_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _cert(key: rsa.RSAPrivateKey, serial: int) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


class NoClock:
    pass


BAD: dict[str, tuple[str, Any, str]] = {
    "no mchid": ("mchid", None, "merchant id"),
    "mchid with letters": ("mchid", "19000abc", "digits"),
    "mchid as a number": ("mchid", 1900000109, "digits"),
    "empty appid": ("appid", "", "appid"),
    "no private key": ("merchant_private_key", None, "PEM text or the path"),
    "private key not PEM": ("merchant_private_key", "-----BEGIN junk", "unencrypted PEM"),
    "private key file missing": ("merchant_private_key", "/nonexistent/key.pem", "cannot read"),
    "EC private key": ("merchant_private_key", _ec_pem(), "RSA key"),
    "serial not hex": ("merchant_serial_no", "XYZ-1", "hex"),
    "short APIv3 key": ("apiv3_key", "0123456789abcdef", "32-byte"),
    "long APIv3 key": ("apiv3_key", "0" * 33, "32-byte"),
    "APIv3 key not text": ("apiv3_key", 12345, "32-byte"),
    "no platform keys": ("platform_public_keys", {}, "at least one"),
    "platform keys as a list": ("platform_public_keys", ["PEM"], "must map"),
    "platform key not PEM": ("platform_public_keys.ABC", {"ABC": "-----BEGIN x"}, "PEM public"),
    "serial with spaces": ("platform_public_keys", {"A B": "x"}, "letters, digits"),
    "http to the internet": ("base_url", "http://api.mch.weixin.qq.com", "https"),
    "base URL with a path": ("base_url", "https://gw.example.com/wxpay", "without a path"),
    "base URL not a URL": ("base_url", "api.mch.weixin.qq.com", "scheme and host"),
    "notify over http": ("notify_url", "http://wuye.example.com/notify", "https"),
    "notify with a query": ("notify_url", "https://wuye.example.com/n?estate=1", "query"),
    "estate id zero": ("estate_id", 0, "estate"),
    "estate id as text": ("estate_id", "1", "estate"),
    "estate id True": ("estate_id", True, "estate"),
    "trade type h5": ("trade_type", "h5", "native, jsapi"),
    "timeout zero": ("timeout", 0, "seconds"),
    "timeout True": ("timeout", True, "seconds"),
    "timeout an hour": ("timeout", 3600, "seconds"),
    "empty description": ("description", " ", "1 to 127"),
    "clock without now": ("clock", NoClock(), "now()"),
    "openid not callable": ("payer_openid", "oUpF8u", "callable"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_setting_is_a_config_error_naming_it(case: str) -> None:
    field, value, rule = BAD[case]
    key = field.split(".")[0]
    with pytest.raises(ConfigError, match=rule) as caught:
        WeChatPayClient(settings(**{key: value}))
    assert caught.value.field == f"gateways.wechatpay.{field}"


def test_missing_settings_are_named() -> None:
    for key in ("mchid", "appid", "merchant_private_key", "merchant_serial_no", "apiv3_key",
                "platform_public_keys", "notify_url", "estate_id"):  # fmt: skip
        incomplete = {k: v for k, v in settings().items() if k != key}
        with pytest.raises(ConfigError) as caught:
            WeChatPayClient(incomplete)
        assert caught.value.field == f"gateways.wechatpay.{key}"


def test_jsapi_needs_a_way_to_find_the_payers_openid() -> None:
    with pytest.raises(ConfigError, match="openid") as caught:
        WeChatPayClient(settings(trade_type="jsapi"))
    assert caught.value.field == "gateways.wechatpay.payer_openid"


def test_a_certificate_filed_under_another_serial_is_refused() -> None:
    cert = _cert(keys().platform, 0xABC)
    with pytest.raises(ConfigError, match="serial") as caught:
        WeChatPayClient(settings(platform_public_keys={"ABD": cert}))
    assert caught.value.field == "gateways.wechatpay.platform_public_keys.ABD"
    assert WeChatPayClient(settings(platform_public_keys={"0ABC": cert})).settings.platform_keys


def test_a_short_rsa_key_is_refused() -> None:
    short = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ConfigError, match="2048"):
        WeChatPayClient(settings(merchant_private_key=Keys.private_pem(short)))
    with pytest.raises(ConfigError, match="2048"):
        WeChatPayClient(settings(platform_public_keys={"ABC": Keys.public_pem(short)}))


def test_secrets_never_appear_in_a_message() -> None:
    pem = keys().merchant_pem()
    cases: list[dict[str, Any]] = [
        {"merchant_private_key": pem.replace("MII", "XII", 1)},  # a damaged key
        {"apiv3_key": keys().apiv3_key + "x"},
        {"apiv3key": keys().apiv3_key},  # a misspelt name
    ]
    for changes in cases:
        with pytest.raises(ConfigError) as caught:
            WeChatPayClient(settings(**changes))
        message = str(caught.value)
        assert keys().apiv3_key not in message and pem[40:80] not in message
    assert caught.value.field == "gateways.wechatpay.apiv3key"
    assert "unknown setting" in str(caught.value)


def test_keys_may_be_given_as_files(tmp_path: Path) -> None:
    merchant = tmp_path / "apiclient_key.pem"
    merchant.write_text(keys().merchant_pem())
    platform = tmp_path / "wechatpay_public_key.pem"
    platform.write_text(Keys.public_pem(keys().platform))
    client = WeChatPayClient(
        settings(merchant_private_key=str(merchant), platform_public_keys={PUBKEY_ID: platform})
    )
    # The loaded merchant key is the one in the file: what it signs, its public key verifies.
    params = client.jsapi_invoke_params("wx201410272009395522657a690389285100")
    signed = "".join(f"{params[k]}\n" for k in ("appId", "timeStamp", "nonceStr", "package"))
    keys().merchant.public_key().verify(
        base64.b64decode(params["paySign"]), signed.encode(), PKCS1v15(), SHA256()
    )
    headers, body = callback(transaction("ORDER-000001", 1, "4200000001"), serial=PUBKEY_ID)
    assert client.parse_notification(headers, body).provider_txn_id == "4200000001"
