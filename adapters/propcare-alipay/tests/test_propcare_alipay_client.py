"""The Alipay client on its own: notice verification, charsets, settings, responses."""

from __future__ import annotations

import importlib.metadata
import threading
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import propcare_alipay
import pytest
from alipay import AliPay  # python-alipay-sdk: how Alipay's SDK verifies a notice
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from propcare_alipay import AlipayClient, AlipayError, answer, decode_form
from propcare_alipay.signing import response_members
from propcare_alipay_testkit import (
    APP_ID,
    SELLER_ID,
    SH,
    T0,
    beijing,
    form,
    notice_body,
    notice_params,
    private_pem,
    public_pem,
    signed,
)
from propcare_alipay_testkit import settings as alipay_settings

from propcare import FixedClock
from propcare.errors import ConfigError, ValidationError

CLOCK = FixedClock(T0)
CLIENT = AlipayClient(alipay_settings(clock=CLOCK))
ORDER = "9f2c0d6e4b1a4d0f8e7c6b5a49382716"
SIGNED = notice_params(ORDER, "268.50")
SIGNED_KEYS = sorted(k for k, v in SIGNED.items() if v and k != "charset")


def parse(body: bytes) -> Any:
    return CLIENT.parse_notification({}, body)


def test_a_good_notice_decodes_into_a_payment_notice() -> None:
    notice = parse(notice_body(ORDER, "268.50"))
    assert notice.estate_id == 1 and notice.provider == "alipay" and notice.method == "alipay"
    assert notice.provider_txn_id == "2026110522001400001" and notice.order_id == ORDER
    assert notice.amount == Decimal("268.50") and isinstance(notice.amount, Decimal)
    assert notice.paid_at == T0 - timedelta(minutes=2) and notice.paid_at.tzinfo == SH
    assert notice.unit_id is None
    assert notice.raw["notify_id"] == SIGNED["notify_id"] and "sign" not in notice.raw
    assert notice.raw["subject"] == "物业费 2026-11"
    assert notice.merchant == SELLER_ID  # the ledger keys the payment by it


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(SIGNED_KEYS),
    value=st.text(st.characters(codec="utf-8"), max_size=40),
)
def test_changing_any_signed_value_fails_verification(name: str, value: str) -> None:
    params = signed(SIGNED)
    if params[name] == value:
        return  # not a change
    params[name] = value
    with pytest.raises(ValidationError) as caught:
        parse(form(params))
    assert caught.value.field == "sign"


# --- empty parameters, as Alipay's own SDK verifies them ------------------------------


def sdk() -> Any:
    """python-alipay-sdk's client with the test keys: Alipay's verification of a notice."""
    return AliPay(
        appid=APP_ID,
        app_notify_url=None,
        app_private_key_string=private_pem("app"),
        alipay_public_key_string=public_pem("alipay"),
        sign_type="RSA2",
    )


def sdk_verifies(params: dict[str, str]) -> bool:
    """What python-alipay-sdk says of a notice: ``verify(data, sign)`` as its docs show,
    with every parameter received but ``sign`` (it drops ``sign_type`` itself)."""
    data = dict(params)
    signature = data.pop("sign")
    return bool(sdk().verify(data, signature))


def test_a_notice_with_an_empty_parameter_verifies_as_alipays_sdk_verifies_it() -> None:
    # Alipay sends body= (and passback_params=, ...) and signs them like any value.
    params = signed(notice_params(ORDER, "268.50", body=""))
    assert sdk_verifies(params)
    notice = parse(form(params))
    assert notice.amount == Decimal("268.50") and notice.raw["body"] == ""


def test_a_notice_signed_by_alipays_sdk_with_an_empty_parameter_is_accepted() -> None:
    # The SDK's own signing (AliPay.sign_data, here holding the "alipay" key as Alipay
    # would) signs every parameter it is given, body= included, and writes the form.
    as_alipay = AliPay(
        appid=APP_ID,
        app_notify_url=None,
        app_private_key_string=private_pem("alipay"),
        alipay_public_key_string=public_pem("alipay"),
        sign_type="RSA2",
    )
    params = notice_params(ORDER, "268.50", body="", passback_params="")
    body = as_alipay.sign_data(dict(params)) + "&sign_type=RSA2"
    notice = parse(body.encode("ascii"))
    assert notice.amount == Decimal("268.50") and notice.order_id == ORDER
    assert notice.raw["body"] == "" and notice.raw["passback_params"] == ""


def test_an_empty_parameter_added_after_signing_fails_as_in_alipays_sdk() -> None:
    params = signed(SIGNED)
    params["body"] = ""
    assert not sdk_verifies(params)
    with pytest.raises(ValidationError) as caught:
        parse(form(params))
    assert caught.value.field == "sign"


@settings(max_examples=60, deadline=None)
@given(
    empty=st.lists(
        st.sampled_from(["body", "passback_params", "voucher_detail_list", "buyer_logon_id"]),
        unique=True,
        max_size=3,
    ),
    sent=st.sets(st.integers(0, 3)),
    alipay_signs_empty=st.booleans(),
)
def test_the_verdict_on_empty_parameters_is_the_sdks(
    empty: list[str], sent: set[int], alipay_signs_empty: bool
) -> None:
    """Whether the signer included the empty values or not, and whichever of them reach
    us, the adapter accepts exactly the notices python-alipay-sdk accepts."""
    params = notice_params(ORDER, "268.50", **dict.fromkeys(empty, ""))
    if alipay_signs_empty:
        params = signed(params)
    else:  # a signer that left them out: then they must not be there either
        params = {**signed({k: v for k, v in params.items() if v}),
                  **{k: "" for i, k in enumerate(empty) if i in sent}}  # fmt: skip
    expected = sdk_verifies(params)
    try:
        parse(form(params))
    except ValidationError as exc:
        assert exc.field == "sign" and not expected
    else:
        assert expected


def test_a_gbk_notice_is_decoded_and_verified_in_gbk() -> None:
    params = signed(notice_params(ORDER, "268.50", charset="gbk"), charset="gbk")
    body = form(params, charset="gbk")
    assert parse(body).raw["subject"] == "物业费 2026-11"
    # The same signature over UTF-8 bytes is another signed text.
    with pytest.raises(ValidationError):
        parse(form(params, charset="utf-8"))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("sign=x&subject=物业费".encode(), "body"),
        (b"sign=x&trade_no", "body"),
        (form(signed(notice_params(ORDER, "1.00", charset="latin-1"))), "charset"),
        (form(signed(notice_params(ORDER, "1.00", charset="no-such"))), "charset"),
        (b"", "sign"),
    ],
    ids=["raw non-ASCII", "no =", "latin-1", "unknown charset", "empty"],
)
def test_a_body_that_is_not_alipay_form_data_is_refused(body: bytes, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse(body)
    assert caught.value.field == field


def test_decode_form_rejects_text_and_repeated_names() -> None:
    with pytest.raises(ValidationError, match="bytes"):
        decode_form("a=1")  # type: ignore[arg-type]
    with pytest.raises(ValidationError) as caught:
        decode_form(b"a=1&%61=2")  # the same name, percent-encoded the second time
    assert caught.value.field == "a"
    assert decode_form(b"a=%E7%89%A9+b&c=") == ({"a": "物 b", "c": ""}, "utf-8")


@pytest.mark.parametrize(
    ("age", "ok"),
    [(timedelta(hours=25), True), (timedelta(hours=25, seconds=1), False),
     (timedelta(minutes=-10), True), (timedelta(minutes=-10, seconds=-1), False)],
)  # fmt: skip
def test_notices_are_fresh_for_25_hours_by_default(age: timedelta, ok: bool) -> None:
    body = form(signed(notice_params(ORDER, "1.00", notify_time=beijing(T0 - age))))
    if ok:
        assert parse(body).amount == Decimal("1.00")
    else:
        with pytest.raises(ValidationError) as caught:
            parse(body)
        assert caught.value.field == "notify_time"


def test_the_notice_age_limit_is_configurable() -> None:
    client = AlipayClient(alipay_settings(clock=CLOCK, max_notice_age=timedelta(hours=1)))
    old = form(signed(notice_params(ORDER, "1.00", notify_time=beijing(T0 - timedelta(hours=2)))))
    with pytest.raises(ValidationError, match="max_notice_age"):
        client.parse_notification({}, old)
    assert parse(old).amount == Decimal("1.00")


@pytest.mark.parametrize("amount", ["0.00", "0", "-1.00", "1e3", "１００", "100.", ".5", "NaN"])
def test_total_amount_must_be_positive_yuan_with_at_most_two_places(amount: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse(form(signed(notice_params(ORDER, amount))))
    assert caught.value.field == "total_amount"


def test_answer_says_success_only_for_a_recorded_notice() -> None:
    assert answer(True) == b"success" and answer(False) == b"fail"


# --- settings ------------------------------------------------------------------------


def _rsa_pem(bits: int) -> str:
    small = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return small.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode("ascii")


def _ec_public_pem() -> str:
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


@pytest.mark.parametrize(
    ("changes", "setting"),
    [
        ({"app_id": None}, "app_id"),
        ({"app_id": "app-1"}, "app_id"),
        ({"seller_id": ""}, "seller_id"),
        ({"seller_id": True}, "seller_id"),
        ({"private_key": "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----"},
         "private_key"),
        ({"private_key": "/no/such/key.pem"}, "private_key"),
        ({"private_key": _rsa_pem(1024)}, "private_key"),
        ({"alipay_public_key": private_pem("alipay")}, "alipay_public_key"),
        ({"alipay_public_key": _ec_public_pem()}, "alipay_public_key"),
        ({"notify_url": "ftp://pay.example.com/notify"}, "notify_url"),
        ({"gateway_url": "http://openapi.alipay.com/gateway.do"}, "gateway_url"),
        ({"gateway_url": "openapi.alipay.com"}, "gateway_url"),
        ({"estate_id": "1"}, "estate_id"),
        ({"estate_id": 0}, "estate_id"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": "10"}, "timeout"),
        ({"max_notice_age": -5}, "max_notice_age"),
        ({"subject": " "}, "subject"),
        ({"clock": "now"}, "clock"),
        ({"alipay_pubkey": "x"}, "alipay_pubkey"),
    ],
)  # fmt: skip
def test_bad_settings_are_config_errors_naming_the_setting(
    changes: dict[str, Any], setting: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        AlipayClient(alipay_settings(**changes))
    assert caught.value.field == f"gateways.alipay.{setting}"
    assert "PRIVATE KEY" not in str(caught.value)  # key text never shows


def test_keys_load_from_files_and_the_defaults_hold(tmp_path: Path) -> None:
    (tmp_path / "app.pem").write_text(private_pem("app"))
    (tmp_path / "alipay.pem").write_text(public_pem("alipay"))
    base = alipay_settings(private_key=str(tmp_path / "app.pem"))
    base["alipay_public_key"] = tmp_path / "alipay.pem"
    del base["gateway_url"], base["timeout"]
    client = AlipayClient(base)
    assert client.settings.gateway_url == "https://openapi.alipay.com/gateway.do"
    assert client.settings.timeout == 10.0
    assert client.settings.max_notice_age == timedelta(hours=25)
    assert client.settings.seller_id == SELLER_ID
    assert "PRIVATE" not in repr(client.settings)
    loopback = AlipayClient(
        alipay_settings("http://127.0.0.1:9/gateway.do", app_id=2021004100000001)
    )
    assert loopback.settings.app_id == "2021004100000001"


def test_the_package_registers_the_alipay_gateway() -> None:
    points = importlib.metadata.entry_points(group="propcare")
    assert {(p.name, p.value) for p in points} >= {("alipay", "propcare_alipay")}
    (record,) = propcare_alipay.propcare_payment_gateways()
    assert record.name == "alipay" and record.create is AlipayClient


# --- responses -------------------------------------------------------------------------


def test_response_members_keep_each_value_as_written() -> None:
    text = '{"a_response" : {"code": "10000", "x": "\\u7269"} ,"sign":"s"}'
    members = response_members(text)
    assert members["a_response"] == (
        {"code": "10000", "x": "物"},
        '{"code": "10000", "x": "\\u7269"}',
    )
    assert members["sign"] == ("s", '"s"')
    for bad in ['{"a": 1, "a": 2}', "[1]", '{"a": 1} x', '{"a" 1}', '{"a": 1 "b": 2}']:
        with pytest.raises(ValueError):
            response_members(bad)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"<html>busy</html>", "not an Alipay JSON answer"),
        (b'{"other_response": {"code": "10000"}}', "has no alipay_trade_refund_response"),
        (b'{"alipay_trade_refund_response": [], "sign": "x"}', "not an object"),
        (b'{"error_response": {"code": "40002", "sub_code": "isv.invalid-app-id"}}',
         "isv.invalid-app-id"),
    ],
)  # fmt: skip
def test_an_answer_that_is_not_a_signed_success_is_an_alipay_error(body: bytes, says: str) -> None:
    with pytest.raises(AlipayError, match=says) as caught:
        CLIENT._verified("alipay.trade.refund", body)
    assert caught.value.field == "alipay.trade.refund"


def test_a_redirecting_gateway_is_refused_not_followed() -> None:
    followed: list[str] = []

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(302)
            self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            followed.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/gateway.do"
        client = AlipayClient(alipay_settings(url, clock=CLOCK))
        with pytest.raises(AlipayError) as caught:
            client.query_refund("2026110522001400001", "r-1")
        assert caught.value.value == 302 and followed == []
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
