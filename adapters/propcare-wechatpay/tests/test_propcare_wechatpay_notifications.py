"""Payment callbacks: only a message WeChat Pay signed, fresh, for this account, posts; once."""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from propcare_wechatpay import NotAPayment, WeChatPayClient
from propcare_wechatpay_fake import (
    ADMIN,
    MCHID,
    PLATFORM_SERIAL,
    PUBKEY_ID,
    SH,
    T0,
    FakeWeChatPay,
    World,
    account_settings,
    callback,
    keys,
    signed_headers,
    transaction,
    world,
)

from propcare import Conflict, FixedClock, PropcareError, ValidationError

Message = tuple[dict[str, str], bytes]


@pytest.fixture
def fake() -> Iterator[FakeWeChatPay]:
    with FakeWeChatPay(FixedClock(T0)) as server:
        yield server


@pytest.fixture
def w(fake: FakeWeChatPay) -> Iterator[World]:
    yield from world(fake)


def ordered(w: World, amount: str = "250") -> str:
    return w.app.payments.request_payment(ADMIN, w.unit, Decimal(amount), "wechatpay").order_id


def test_a_good_notice_posts_once_with_its_receipt_and_allocation(w: World) -> None:
    headers, body = w.fake.pay(ordered(w))
    before = w.state()
    paid = w.app.payments.handle_notification(ADMIN, "wechatpay", headers, body)
    assert paid.new and paid.status == "posted" and paid.unit_id == w.unit
    assert paid.amount == Decimal("250.00") and paid.credit == Decimal("0.00")
    assert paid.receipt is not None and paid.receipt.label == "2026-000001"
    assert [(a.fee_item, a.period, a.fen) for a in paid.allocations] == [
        ("property_fee", "2026-11", 25000)
    ]
    assert w.owed() == []
    assert w.balances()["gateway:wechatpay"] == Decimal("250.00")
    after = w.state()
    assert after != before
    # WeChat Pay repeats a callback until it is answered; header names may arrive in
    # any case (HTTP/2 lower-cases them).
    lower = {name.lower(): value for name, value in headers.items()}
    for i in range(100):
        again = w.app.payments.handle_notification(
            ADMIN, "wechatpay", lower if i % 2 else headers, body
        )
        assert (again.payment_id, again.entry_id, again.receipt, again.new) == (
            paid.payment_id,
            paid.entry_id,
            paid.receipt,
            False,
        )
    assert w.state() == after
    assert w.balances()["gateway:wechatpay"] == Decimal("250.00")


def test_the_notice_carries_what_wechat_pay_said(fake: FakeWeChatPay) -> None:
    client = WeChatPayClient(fake.settings())
    headers, body = callback(transaction("ORDER-000001", 26850, "4200000001"))
    notice = client.parse_notification(headers, body)
    assert (notice.estate_id, notice.provider, notice.provider_txn_id) == (
        1,
        "wechatpay",
        "4200000001",
    )
    assert notice.amount == Decimal("268.50") and notice.order_id == "ORDER-000001"
    assert notice.paid_at == datetime(2026, 11, 2, 9, 0, 5, tzinfo=SH)
    assert notice.paid_at.utcoffset() == timedelta(hours=8)
    assert notice.method == "wechat" and notice.unit_id is None
    assert notice.raw["trade_state"] == "SUCCESS" and "payer" not in notice.raw
    assert notice.merchant == MCHID  # the ledger keys the payment by it


def test_a_key_named_by_its_public_key_id_verifies_too(fake: FakeWeChatPay) -> None:
    client = WeChatPayClient(fake.settings())
    headers, body = callback(transaction("ORDER-000001", 100, "4200000002"), serial=PUBKEY_ID)
    assert client.parse_notification(headers, body).amount == Decimal("1.00")


def _tampered(m: Message) -> Message:
    return m[0], m[1].replace(b'"EV-', b'"EV-0', 1)


def _reserialised(m: Message) -> Message:
    # The same JSON, other bytes: what a framework that parses and re-dumps would hand over.
    return m[0], json.dumps(json.loads(m[1]), indent=2, ensure_ascii=True).encode()


def _headers(**changes: str) -> Callable[[Message], Message]:
    def change(m: Message) -> Message:
        return {**m[0], **changes}, m[1]

    return change


def _without(name: str) -> Callable[[Message], Message]:
    return lambda m: ({k: v for k, v in m[0].items() if k != name}, m[1])


def _probe(m: Message) -> Message:
    signature = "WECHATPAY/SIGNTEST/" + base64.b64encode(b"probe" * 50).decode()
    return {**m[0], "Wechatpay-Signature": signature}, m[1]


ATTACKS: dict[str, tuple[Callable[[Message], Message], str, str]] = {
    "tampered body": (_tampered, "Wechatpay-Signature", "does not verify"),
    "re-serialised body": (_reserialised, "Wechatpay-Signature", "does not verify"),
    "unknown serial": (
        _headers(**{"Wechatpay-Serial": "ABCDEF0123"}),
        "Wechatpay-Serial",
        "unknown",
    ),
    "signature probe": (_probe, "Wechatpay-Signature", "probe"),
    "not base64": (_headers(**{"Wechatpay-Signature": "@@@"}), "Wechatpay-Signature", "base64"),
    "no nonce": (_without("Wechatpay-Nonce"), "Wechatpay-Nonce", "required"),
    "no timestamp": (_without("Wechatpay-Timestamp"), "Wechatpay-Timestamp", "required"),
    "no signature": (_without("Wechatpay-Signature"), "Wechatpay-Signature", "required"),
    "timestamp not a number": (
        _headers(**{"Wechatpay-Timestamp": "1e9"}),
        "Wechatpay-Timestamp",
        "Unix seconds",
    ),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_message_that_does_not_verify_posts_nothing(w: World, attack: str) -> None:
    change, field, rule = ATTACKS[attack]
    order = ordered(w)
    good = w.fake.pay(order)
    headers, body = change(good)
    before = w.state()
    with pytest.raises(ValidationError, match=rule) as caught:
        w.app.payments.handle_notification(ADMIN, "wechatpay", headers, body)
    assert caught.value.field == field
    assert w.state() == before and w.app.payments.anomalies(ADMIN, w.estate) == []
    # The genuine callback, when it comes, still posts.
    assert w.app.payments.handle_notification(ADMIN, "wechatpay", *good).new


def test_a_signature_by_a_key_we_do_not_hold_posts_nothing(w: World) -> None:
    order = ordered(w)
    resource = transaction(order, 25000, "4200000003")
    for serial in (f"{PLATFORM_SERIAL:X}", "0000ABCD"):
        headers, body = callback(resource, key=keys().other, serial=serial)
        before = w.state()
        with pytest.raises(ValidationError) as caught:
            w.app.payments.handle_notification(ADMIN, "wechatpay", headers, body)
        assert caught.value.field in ("Wechatpay-Signature", "Wechatpay-Serial")
        assert w.state() == before


@pytest.mark.parametrize("offset", [-300, 300, -301, 301, -3600, 86400])
def test_a_timestamp_300_seconds_or_more_from_now_is_refused(w: World, offset: int) -> None:
    order = ordered(w)
    headers, body = callback(
        transaction(order, 25000, "4200000004"), at=T0 + timedelta(seconds=offset)
    )
    before = w.state()
    with pytest.raises(ValidationError, match="must be under 300 s") as caught:
        w.app.payments.handle_notification(ADMIN, "wechatpay", headers, body)
    assert caught.value.field == "Wechatpay-Timestamp"
    assert w.state() == before


@pytest.mark.parametrize("offset", [-299, 0, 299])
def test_a_timestamp_under_300_seconds_from_now_is_accepted(w: World, offset: int) -> None:
    order = ordered(w)
    headers, body = callback(
        transaction(order, 25000, "4200000005"), at=T0 + timedelta(seconds=offset)
    )
    assert w.app.payments.handle_notification(ADMIN, "wechatpay", headers, body).new


RESOURCE_FAULTS: dict[str, tuple[dict[str, object], str, str]] = {
    "another merchant": ({"mchid": "1900000110"}, "resource.mchid", "this account's"),
    "another app": ({"appid": "wx0000000000000001"}, "resource.appid", "this account's"),
    "no order": ({"out_trade_no": ""}, "resource.out_trade_no", "non-empty"),
    "no transaction id": ({"transaction_id": None}, "resource.transaction_id", "non-empty"),
    "not paid": ({"trade_state": "NOTPAY"}, "resource.trade_state", "SUCCESS"),
    "refunded": ({"trade_state": "REFUND"}, "resource.trade_state", "SUCCESS"),
    "amount as text": ({"amount": {"total": "25000"}}, "resource.amount.total", "integer"),
    "amount as float": ({"amount": {"total": 25000.0}}, "resource.amount.total", "integer"),
    "amount as bool": ({"amount": {"total": True}}, "resource.amount.total", "integer"),
    "zero amount": ({"amount": {"total": 0}}, "resource.amount.total", "positive"),
    "no amount": ({"amount": None}, "resource.amount", "object"),
    "other currency": (
        {"amount": {"total": 25000, "currency": "USD"}},
        "resource.amount.currency",
        "CNY",
    ),
    "naive time": ({"success_time": "2026-11-02T09:00:05"}, "resource.success_time", "aware"),
    "no time": ({"success_time": "yesterday"}, "resource.success_time", "RFC 3339"),
}


@pytest.mark.parametrize("fault", sorted(RESOURCE_FAULTS))
def test_a_signed_notice_with_bad_content_posts_nothing(w: World, fault: str) -> None:
    changes, field, rule = RESOURCE_FAULTS[fault]
    order = ordered(w)
    headers, body = callback(transaction(order, 25000, "4200000006", **changes))
    before = w.state()
    with pytest.raises(ValidationError, match=rule) as caught:
        w.app.payments.handle_notification(ADMIN, "wechatpay", headers, body)
    assert caught.value.field == field
    assert w.state() == before and w.owed() != []


def test_a_notice_sealed_with_another_apiv3_key_or_of_another_kind_posts_nothing(
    w: World,
) -> None:
    order = ordered(w)
    resource = transaction(order, 25000, "4200000007")
    cases = {
        "resource.ciphertext": callback(resource, apiv3_key="0" * 32),
        # A refund event must carry a refund: a transaction under it names no refund.
        "resource.out_refund_no": callback(resource, event_type="REFUND.SUCCESS"),
        "event_type": callback(resource, event_type="REFUND.SOMETHING"),
    }
    before = w.state()
    for field, (headers, body) in cases.items():
        with pytest.raises(ValidationError) as caught:
            w.app.payments.handle_notification(ADMIN, "wechatpay", headers, body)
        assert caught.value.field == field and not isinstance(caught.value, NotAPayment)
    assert w.state() == before


@pytest.mark.parametrize(
    ("event_type", "paid"),
    [("REFUND.SUCCESS", True), ("REFUND.ABNORMAL", False), ("REFUND.CLOSED", False)],
)
def test_a_refund_callback_is_genuine_not_a_payment_and_names_the_refund(
    w: World, event_type: str, paid: bool
) -> None:
    payment = w.app.payments.handle_notification(ADMIN, "wechatpay", *w.fake.pay(ordered(w)))
    w.fake.refund_script = ["PROCESSING"]
    refund = w.app.payments.refund(ADMIN, payment.payment_id, Decimal("50"), "多收退款")
    assert refund.status == "pending"
    before = w.state()
    with pytest.raises(NotAPayment) as caught:
        w.app.payments.handle_notification(
            ADMIN, "wechatpay", *w.fake.refund_callback(refund.refund_no, event_type)
        )
    said = caught.value
    assert (said.status, said.refund_no, said.refund_paid) == (event_type, refund.refund_no, paid)
    assert said.estate_id == w.estate and said.trade_no.startswith("4200000")
    assert "user_received_account" not in said.resource  # the payer's bank card: not ours
    assert w.state() == before
    # Forged, it is refused for its signature before anything in it is believed.
    _, body = w.fake.refund_callback(refund.refund_no, event_type)
    forged = signed_headers(body, at=w.clock.now(), key=keys().other)
    with pytest.raises(ValidationError) as refused:
        w.app.payments.handle_notification(ADMIN, "wechatpay", forged, body)
    assert not isinstance(refused.value, NotAPayment)


def test_a_notice_for_another_amount_than_its_order_posts_nothing(w: World) -> None:
    order = ordered(w)
    headers, body = w.fake.pay(order, amount={"total": 24999, "currency": "CNY"})
    before = w.state()
    with pytest.raises(PropcareError) as caught:
        w.app.payments.handle_notification(ADMIN, "wechatpay", headers, body)
    assert isinstance(caught.value, Conflict) and caught.value.field == "amount"
    assert w.state() == before and w.owed() == [("property_fee", "2026-11", Decimal("250.00"))]
    ((provider, _txn, kind, _detail),) = w.app.payments.anomalies(ADMIN, w.estate)
    assert (provider, kind) == ("wechatpay", "amount_differs_from_order")
    # The right amount for the same order still posts.
    assert w.app.payments.handle_notification(ADMIN, "wechatpay", *w.fake.pay(order)).new
    assert w.owed() == []


# --- any byte of the body is covered by the signature --------------------------------


@functools.cache
def _offline() -> tuple[WeChatPayClient, dict[str, str], bytes]:
    # No server: verifying a callback makes no request.
    client = WeChatPayClient(account_settings("http://127.0.0.1:9", FixedClock(T0)))
    headers, body = callback(transaction("ORDER-000009", 25000, "4200000009"))
    return client, headers, body


@settings(max_examples=200, deadline=None)
@given(data=st.data(), mask=st.integers(1, 255))
def test_flipping_any_byte_of_the_body_fails_verification(data: st.DataObject, mask: int) -> None:
    client, headers, body = _offline()
    assert client.parse_notification(headers, body).amount == Decimal("250.00")
    index = data.draw(st.integers(0, len(body) - 1))
    flipped = bytearray(body)
    flipped[index] ^= mask
    with pytest.raises(ValidationError) as caught:
        client.parse_notification(headers, bytes(flipped))
    assert caught.value.field == "Wechatpay-Signature"


def test_a_payment_is_kept_under_its_merchants_key(w: World) -> None:
    """WeChat Pay numbers a merchant's transactions: the payment is stored with the merchant
    that received it, so a replay is found whichever estate the notice is routed to."""
    headers, body = w.fake.pay(ordered(w))
    paid = w.app.payments.handle_notification(ADMIN, "wechatpay", headers, body)
    with w.app.unit_of_work(readonly=True) as uow:
        row = uow.payments.get(paid.payment_id)
        assert row is not None and row.merchant == MCHID
        found = uow.payments.by_txn(w.estate + 1, "wechatpay", row.provider_txn_id, MCHID)
        assert found == row
