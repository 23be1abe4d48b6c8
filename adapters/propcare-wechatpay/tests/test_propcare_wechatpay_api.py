"""Orders and refunds through propcare, against a local fake of WeChat Pay API v3."""

from __future__ import annotations

import base64
import socket
from collections.abc import Iterator
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.hashes import SHA256
from propcare_wechatpay import WeChatPayClient, WeChatPayError
from propcare_wechatpay_fake import (
    ADMIN,
    APPID,
    MCHID,
    NOTIFY_URL,
    T0,
    FakeWeChatPay,
    Keys,
    World,
    account_settings,
    keys,
    opened,
    world,
)

from propcare import FixedClock, UnitSpec, ValidationError
from propcare.ledger.gateways import GatewayClient, RefundRequest


@pytest.fixture
def fake() -> Iterator[FakeWeChatPay]:
    with FakeWeChatPay(FixedClock(T0)) as server:
        yield server


@pytest.fixture
def w(fake: FakeWeChatPay) -> Iterator[World]:
    yield from world(fake)


def paid(w: World, amount: str = "250") -> int:
    """A payment of ``amount`` made through WeChat Pay and posted; its payment id."""
    intent = w.app.payments.request_payment(ADMIN, w.unit, Decimal(amount), "wechatpay")
    result = w.app.payments.handle_notification(ADMIN, "wechatpay", *w.fake.pay(intent.order_id))
    assert result.new
    return result.payment_id


# --- orders ----------------------------------------------------------------------------


def test_a_native_order_gives_the_qr_code_url(w: World) -> None:
    assert isinstance(w.app.gateways["wechatpay"], GatewayClient)
    intent = w.app.payments.request_payment(ADMIN, w.unit, Decimal("250"), "wechatpay")
    assert intent.provider == "wechatpay" and intent.provider_ref == intent.order_id
    assert intent.pay_url is not None and intent.pay_url.startswith("weixin://wxpay/bizpayurl?pr=")
    ((method, path, body),) = w.fake.requests
    assert (method, path) == ("POST", "/v3/pay/transactions/native")
    assert body == {
        "appid": APPID,
        "mchid": MCHID,
        "description": "物业缴费",
        "out_trade_no": intent.order_id,
        "notify_url": NOTIFY_URL,
        "amount": {"total": 25000, "currency": "CNY"},
    }
    assert w.fake.rejected == []  # the fake verified the request's signature


def test_a_jsapi_order_gives_the_prepay_id_and_signed_invoke_parameters(
    fake: FakeWeChatPay,
) -> None:
    asked: list[int] = []

    def openid(request: object) -> str:
        asked.append(getattr(request, "unit_id", 0))
        return "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"

    with opened(fake, trade_type="jsapi", payer_openid=openid) as w:
        intent = w.app.payments.request_payment(ADMIN, w.unit, Decimal("88.5"), "wechatpay")
        assert intent.provider_ref.startswith("wx") and intent.pay_url is None
        (_, path, body) = fake.requests[-1]
        assert path == "/v3/pay/transactions/jsapi" and asked == [w.unit]
        assert body["payer"] == {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}
        assert body["amount"] == {"total": 8850, "currency": "CNY"}
        client = w.app.gateways["wechatpay"]
        assert isinstance(client, WeChatPayClient)
        params = client.jsapi_invoke_params(intent.provider_ref)
        assert params["package"] == f"prepay_id={intent.provider_ref}"
        assert params["appId"] == APPID and params["signType"] == "RSA"
        assert params["timeStamp"] == str(int(T0.timestamp()))
        signed = "".join(
            f"{params[k]}\n" for k in ("appId", "timeStamp", "nonceStr", "package")
        ).encode()
        keys().merchant.public_key().verify(
            base64.b64decode(params["paySign"]), signed, PKCS1v15(), SHA256()
        )
        assert fake.rejected == []


def test_a_unit_of_another_estate_is_refused_before_wechat_pay_is_asked(w: World) -> None:
    other = w.app.estates.create(ADMIN, "B苑")
    building = w.app.estates.add_building(ADMIN, other.id, "1栋")
    (unit,) = w.app.estates.add_units(
        ADMIN, building.id, [UnitSpec("101", Decimal("90"), "residential", T0.date())]
    )
    with pytest.raises(ValidationError, match="collects for estate 1") as caught:
        w.app.payments.request_payment(ADMIN, unit.id, Decimal("10"), "wechatpay")
    assert caught.value.field == "estate_id"
    assert w.fake.requests == [] and w.rows("payment_orders") == 0


def test_a_request_signed_with_the_wrong_key_is_refused_by_wechat_pay(fake: FakeWeChatPay) -> None:
    other_pem = Keys.private_pem(keys().other)  # a key WeChat Pay does not know
    with opened(fake, merchant_private_key=other_pem) as w:
        with pytest.raises(WeChatPayError, match="HTTP 401 SIGN_ERROR") as caught:
            w.app.payments.request_payment(ADMIN, w.unit, Decimal("250"), "wechatpay")
        assert caught.value.field == "POST /v3/pay/transactions/native"
        assert fake.rejected == ["signature"]
        assert w.rows("payment_orders") == 0  # no order is kept for a request that failed


# --- refunds --------------------------------------------------------------------------


def test_a_refund_is_asked_for_with_our_number_and_the_order_total(w: World) -> None:
    payment = paid(w)
    refund = w.app.payments.refund(ADMIN, payment, Decimal("80"), "多收退款")
    assert refund.status == "paid" and refund.attempts == 1
    ((query_method, query_path, _), (method, path, body)) = w.fake.requests[-2:]
    txn = next(iter(w.fake.transactions))
    assert (query_method, query_path) == ("GET", f"/v3/pay/transactions/id/{txn}?mchid={MCHID}")
    assert (method, path) == ("POST", "/v3/refund/domestic/refunds")
    assert body == {
        "transaction_id": txn,
        "out_refund_no": refund.refund_no,
        "reason": "多收退款",
        "amount": {"refund": 8000, "total": 25000, "currency": "CNY"},
    }
    assert refund.provider_refund_id == w.fake.refunds[refund.refund_no]["refund_id"]
    assert w.fake.refunded_fen() == 8000 and w.fake.rejected == []
    assert w.balances()["gateway:wechatpay"] == Decimal("170.00")
    assert w.app.ledger.unit_balance(ADMIN, w.unit) == Decimal("80.00")


def test_a_processing_refund_is_pending_until_wechat_pay_says_it_is_paid(w: World) -> None:
    payment = paid(w)
    w.fake.refund_script = ["PROCESSING"]
    refund = w.app.payments.refund(ADMIN, payment, Decimal("50"), "退款")
    assert refund.status == "pending"
    client = w.app.gateways["wechatpay"]
    assert isinstance(client, WeChatPayClient)
    assert client.query_refund(refund.refund_no).status == "pending"
    w.fake.settle(refund.refund_no)
    answer = client.query_refund(refund.refund_no)
    assert (answer.status, answer.provider_refund_id) == ("done", refund.provider_refund_id)
    assert w.app.payments.confirm_refund(ADMIN, refund.id).status == "paid"
    assert w.balances()["gateway:wechatpay"] == Decimal("200.00")


@pytest.mark.parametrize(
    ("script", "error"),
    [
        ("500", "HTTP 500 SYSTEM_ERROR"),
        ("badsig", "is not WeChat Pay's"),
        ("unsigned", "is not WeChat Pay's"),
        ("CLOSED", "was not accepted"),
    ],
)
def test_a_failed_refund_stays_requested_and_a_retry_pays_it_once(
    w: World, script: str, error: str
) -> None:
    payment = paid(w)
    w.fake.refund_script = [script]
    refund = w.app.payments.refund(ADMIN, payment, Decimal("50"), "退款")
    assert refund.status == "requested" and refund.attempts == 1
    assert "WeChatPayError" in refund.error and error in refund.error
    assert w.balances()["refunds_payable"] == Decimal("50.00")
    if script == "CLOSED":
        # WeChat Pay keeps the closed refund under its number: a person must look.
        (again,) = w.app.payments.retry_refunds(ADMIN, w.estate)
        assert again.status == "requested" and again.attempts == 2
        return
    (again,) = w.app.payments.retry_refunds(ADMIN, w.estate)
    assert again.status == "paid" and again.attempts == 2
    numbers = [b["out_refund_no"] for m, p, b in w.fake.requests if p.endswith("/refunds")]
    assert numbers == [refund.refund_no, refund.refund_no]  # the same number both times
    assert w.fake.refunded_fen() == 5000  # paid back once
    assert w.balances()["gateway:wechatpay"] == Decimal("200.00")
    assert w.balances().get("refunds_payable", Decimal(0)) == Decimal(0)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_wechat_pay_is_a_wechatpay_error() -> None:
    client = WeChatPayClient(
        account_settings(f"http://127.0.0.1:{_closed_port()}", FixedClock(T0), timeout=2)
    )
    request = RefundRequest("wechatpay", "4200000001", "R-1", Decimal("1"), "退款")
    with pytest.raises(WeChatPayError, match="unreachable") as caught:
        client.request_refund(request)
    assert caught.value.field == "GET /v3/pay/transactions/id/4200000001"


def test_refund_and_order_numbers_wechat_pay_cannot_take_are_refused(fake: FakeWeChatPay) -> None:
    client = WeChatPayClient(fake.settings())
    with pytest.raises(ValidationError, match="1-64 letters") as caught:
        client.request_refund(RefundRequest("wechatpay", "4200000001", "退款#1", Decimal("1")))
    assert caught.value.field == "refund_id"
    assert fake.requests == []
