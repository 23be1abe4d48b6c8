"""Alipay through propcare: orders, notices and refunds against a fake Alipay on 127.0.0.1.

The fake checks every request's RSA2 signature with the app's public key and answers
JSON signed with the "Alipay" key; notices are signed here with that key too. Every
refused notice must leave the books exactly as they were.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import quote, urlencode

import propcare_alipay
import pytest
from propcare_alipay import AlipayError, NotAPayment, answer
from propcare_alipay_testkit import (
    SELLER_ID,
    T0,
    FakeAlipay,
    beijing,
    fake_alipay,
    form,
    notice_body,
    notice_params,
    settings,
    signed,
)

from propcare import Actor, FixedClock, Propcare, PropcareError, UnitSpec
from propcare.errors import ValidationError
from propcare.ledger.allocation import Allocation

ADMIN = Actor.system()


class World:
    """One estate, one unit billed 250.00 for 2026-11, and Alipay configured."""

    def __init__(self, fake: FakeAlipay) -> None:
        self.fake = fake
        self.clock = FixedClock(T0)
        self.app = Propcare.open(
            "sqlite://:memory:",
            plugins=[propcare_alipay],
            load_entrypoints=False,
            clock=self.clock,
            config={"gateways": {"counter": {}, "alipay": settings(fake.url, clock=self.clock)}},
        )
        app = self.app
        estate = app.estates.create(ADMIN, "翠苑")
        assert estate.id == 1  # the estate_id in the gateway's settings
        self.estate = estate.id
        building = app.estates.add_building(ADMIN, estate.id, "1栋")
        (unit,) = app.estates.add_units(
            ADMIN, building.id, [UnitSpec("101", Decimal("100"), "residential", date(2020, 1, 1))]
        )
        self.unit = unit.id
        app.billing.add_fee_item(
            ADMIN, estate.id, "property_fee", "物业费", "area", rates={"residential": "2.50"}
        )
        app.billing.run(ADMIN, estate.id, "2026-11")  # 250.00

    def order(self, amount: str = "250.00") -> str:
        intent = self.app.payments.request_payment(ADMIN, self.unit, Decimal(amount), "alipay")
        return intent.order_id

    def count(self, table: str) -> int:
        with self.app.unit_of_work(readonly=True) as uow:
            conn = uow.connection  # type: ignore[attr-defined]
            return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def state(self) -> tuple[object, ...]:
        """What a posted notice would change: entries, notices, receipts, balances."""
        return (
            self.count("journal_entries"),
            self.count("payment_notices"),
            self.count("receipts"),
            self.app.ledger.trial_balance(ADMIN, self.estate).get("gateway:alipay"),
            self.app.ledger.unit_balance(ADMIN, self.unit),
        )


@pytest.fixture
def w() -> Iterator[World]:
    with fake_alipay() as fake:
        world = World(fake)
        try:
            yield world
        finally:
            world.app.close()


# --- orders and good notices -------------------------------------------------------


def test_an_order_is_a_signed_precreate_whose_notice_posts_with_a_receipt(w: World) -> None:
    intent = w.app.payments.request_payment(ADMIN, w.unit, Decimal("250.00"), "alipay")
    (sent,) = w.fake.requests
    assert w.fake.bad_signatures == 0  # the fake verified our RSA2 signature
    assert sent["method"] == "alipay.trade.precreate" and sent["sign_type"] == "RSA2"
    assert sent["notify_url"] == "https://pay.example.com/alipay/notify"
    assert sent["timestamp"] == beijing(T0)
    assert w.fake.orders == {intent.order_id: "250.00"}
    assert intent.provider == "alipay" and intent.provider_ref == intent.order_id
    assert intent.pay_url == "https://qr.alipay.com/bax0" + intent.order_id[:8]

    result = w.app.payments.handle_notification(
        ADMIN, "alipay", {}, notice_body(intent.order_id, "250.00")
    )
    assert result.new and result.status == "posted" and result.unit_id == w.unit
    assert result.amount == Decimal("250.00") and result.receipt is not None
    assert result.allocations == (Allocation("property_fee", "2026-11", 25000),)
    assert w.app.ledger.unit_balance(ADMIN, w.unit) == Decimal("0.00")
    assert w.app.ledger.trial_balance(ADMIN, w.estate)["gateway:alipay"] == Decimal("250.00")
    assert answer(result.new) == b"success"


def test_a_replayed_notice_posts_once_in_any_order_or_equivalent_encoding(w: World) -> None:
    order = w.order()
    body = notice_body(order, "250.00")
    first = w.app.payments.handle_notification(ADMIN, "alipay", {}, body)
    after = w.state()
    for _ in range(100):
        again = w.app.payments.handle_notification(ADMIN, "alipay", {}, body)
        assert not again.new and again.payment_id == first.payment_id
    # The same parameters in reverse order, and with %20 for the space "+" stood for,
    # are the same signed values: they verify, and they are the same payment.
    params = signed(notice_params(order, "250.00"))
    reordered = form(dict(reversed(list(params.items()))))
    spaced = urlencode(list(params.items()), quote_via=quote).encode("ascii")
    assert b"%20" in spaced and b"+" not in spaced.replace(b"%2B", b"")
    for body in (reordered, spaced):
        again = w.app.payments.handle_notification(ADMIN, "alipay", {}, body)
        assert not again.new and again.payment_id == first.payment_id
    assert w.state() == after
    assert w.count("payment_notices") == 1 and answer(again.new) == b"fail"


# --- notices that must not post ---------------------------------------------------------


def _tampered(order: str) -> bytes:
    body = notice_body(order, "250.00")
    assert b"total_amount=250.00" in body
    return body.replace(b"total_amount=250.00", b"total_amount=2.50")


def _gbk_bytes_as_utf8(order: str) -> bytes:
    # The subject's bytes re-encoded in GBK while charset still says utf-8.
    return form(signed(notice_params(order, "250.00")), charset="gbk")


def _plus_as_literal(order: str) -> bytes:
    # "物业费 2026-11" sent with %2B: the value becomes "物业费+2026-11".
    body = notice_body(order, "250.00")
    assert b"+2026-11" in body
    return body.replace(b"+2026-11", b"%2B2026-11")


def _with(signer: str = "alipay", **changes: str) -> Callable[[str], bytes]:
    def build(order: str) -> bytes:
        return form(signed(notice_params(order, "250.00", **changes), signer=signer))

    return build


def _sign_type_rsa(order: str) -> bytes:
    params = signed(notice_params(order, "250.00"))
    params["sign_type"] = "RSA"
    return form(params)


def _unsigned(order: str) -> bytes:
    params = signed(notice_params(order, "250.00"))
    del params["sign"]
    return form(params)


def _twice(order: str) -> bytes:
    return notice_body(order, "250.00") + b"&total_amount=2.50"


BAD_NOTICES: list[tuple[str, Callable[[str], bytes], str]] = [
    ("tampered amount", _tampered, "sign"),
    ("GBK bytes, charset utf-8", _gbk_bytes_as_utf8, "body"),
    ("+ re-encoded as %2B", _plus_as_literal, "sign"),
    ("signed by another key", _with(signer="other"), "sign"),
    ("stale: 26 h old", _with(notify_time=beijing(T0 - timedelta(hours=26))), "notify_time"),
    ("dated an hour ahead", _with(notify_time=beijing(T0 + timedelta(hours=1))), "notify_time"),
    ("TRADE_CLOSED", _with(trade_status="TRADE_CLOSED"), "trade_status"),
    ("WAIT_BUYER_PAY", _with(trade_status="WAIT_BUYER_PAY"), "trade_status"),
    ("another app_id", _with(app_id="2021004100000999"), "app_id"),
    ("another seller_id", _with(seller_id="2088102100000999"), "seller_id"),
    ("sign_type RSA", _sign_type_rsa, "sign_type"),
    ("no sign", _unsigned, "sign"),
    ("a parameter twice", _twice, "total_amount"),
    ("three decimal places", _with(total_amount="250.000"), "total_amount"),
    ("no out_trade_no", _with(out_trade_no=""), "out_trade_no"),
    ("bad gmt_payment", _with(gmt_payment="2026-11-05T08:58:00"), "gmt_payment"),
]


@pytest.mark.parametrize(
    ("build", "field"), [(b, f) for _, b, f in BAD_NOTICES], ids=[n for n, _, _ in BAD_NOTICES]
)
def test_a_notice_that_does_not_verify_posts_nothing(
    w: World, build: Callable[[str], bytes], field: str
) -> None:
    order = w.order()
    before = w.state()
    with pytest.raises(ValidationError) as caught:
        w.app.payments.handle_notification(ADMIN, "alipay", {}, build(order))
    assert caught.value.field == field
    assert w.state() == before
    # The genuine notice still posts: a refused forgery uses nothing up.
    result = w.app.payments.handle_notification(ADMIN, "alipay", {}, notice_body(order, "250.00"))
    assert result.new and result.status == "posted"


def test_only_a_verified_notice_without_money_is_not_a_payment(w: World) -> None:
    order = w.order()
    with pytest.raises(NotAPayment):
        w.app.payments.handle_notification(
            ADMIN, "alipay", {}, _with(trade_status="WAIT_BUYER_PAY")(order)
        )
    # A forged one is refused for its signature, before its status is believed.
    with pytest.raises(ValidationError) as caught:
        w.app.payments.handle_notification(
            ADMIN, "alipay", {}, _with(signer="other", trade_status="TRADE_CLOSED")(order)
        )
    assert not isinstance(caught.value, NotAPayment) and caught.value.field == "sign"


def test_a_full_refund_notice_is_genuine_not_a_payment_and_names_the_refund(w: World) -> None:
    order = w.order()
    paid = w.app.payments.handle_notification(ADMIN, "alipay", {}, notice_body(order, "250.00"))
    refund = w.app.payments.refund(ADMIN, paid.payment_id, Decimal("250.00"), "退房")
    before = w.state()
    # What Alipay sends when a trade is refunded in full: the trade closes.
    closed = _with(
        trade_status="TRADE_CLOSED",
        out_biz_no=refund.refund_no,
        refund_fee="250.00",
        gmt_refund="2026-11-05 08:59:30.215",
        gmt_close="2026-11-05 08:59:30",
        notify_id="c" * 32,
    )(order)
    with pytest.raises(NotAPayment) as caught:
        w.app.payments.handle_notification(ADMIN, "alipay", {}, closed)
    said = caught.value
    assert (said.status, said.trade_no, said.refund_no) == (
        "TRADE_CLOSED",
        "2026110522001400001",
        refund.refund_no,
    )
    assert said.refund_paid and said.estate_id == w.estate and "sign" not in said.params
    assert w.state() == before
    # An order closed unpaid names no refund.
    with pytest.raises(NotAPayment) as unpaid:
        w.app.payments.handle_notification(
            ADMIN, "alipay", {}, _with(trade_status="TRADE_CLOSED")(w.order())
        )
    assert unpaid.value.refund_no is None and not unpaid.value.refund_paid


def test_a_notice_for_another_amount_than_its_order_is_not_posted(w: World) -> None:
    order = w.order("250.00")
    before = w.state()
    with pytest.raises(PropcareError) as caught:
        w.app.payments.handle_notification(ADMIN, "alipay", {}, notice_body(order, "25.00"))
    assert caught.value.field == "amount"
    assert w.state() == before
    kinds = [kind for _, _, kind, _ in w.app.payments.anomalies(ADMIN, w.estate)]
    assert kinds == ["amount_differs_from_order"]


def test_a_finished_trade_after_its_success_notice_is_the_same_payment(w: World) -> None:
    order = w.order()
    first = w.app.payments.handle_notification(ADMIN, "alipay", {}, notice_body(order, "250.00"))
    finished = _with(trade_status="TRADE_FINISHED", notify_id="f" * 32)(order)
    again = w.app.payments.handle_notification(ADMIN, "alipay", {}, finished)
    assert first.new and not again.new and again.payment_id == first.payment_id


# --- refunds -------------------------------------------------------------------------


def _paid(w: World) -> int:
    order = w.order()
    result = w.app.payments.handle_notification(ADMIN, "alipay", {}, notice_body(order, "250.00"))
    return result.payment_id


def test_a_refund_is_a_signed_request_with_our_refund_number(w: World) -> None:
    payment = _paid(w)
    refund = w.app.payments.refund(ADMIN, payment, Decimal("50"), "多收退款")
    sent = w.fake.requests[-1]
    assert sent["method"] == "alipay.trade.refund" and w.fake.bad_signatures == 0
    assert "notify_url" not in sent
    assert w.fake.refunds == {refund.refund_no: ("2026110522001400001", "50.00")}
    assert refund.status == "paid" and refund.provider_refund_id == refund.refund_no
    balances = w.app.ledger.trial_balance(ADMIN, w.estate)
    assert balances["gateway:alipay"] == Decimal("200.00")
    assert balances.get("refunds_payable", Decimal(0)) == Decimal(0)


@pytest.mark.parametrize(
    ("failure", "says"),
    [
        ("http500", "HTTP 500"),
        ("busy", "aop.ACQ.SYSTEM_ERROR"),
        ("bad_sign", "signature does not verify"),
        ("unsigned", "not signed"),
    ],
)
def test_a_failed_refund_stays_requested_and_a_retry_uses_the_same_number(
    w: World, failure: str, says: str
) -> None:
    payment = _paid(w)
    w.fake.script = [failure]
    refund = w.app.payments.refund(ADMIN, payment, Decimal("50"), "多收退款")
    assert refund.status == "requested" and says in refund.error
    assert w.app.ledger.trial_balance(ADMIN, w.estate)["refunds_payable"] == Decimal("50.00")
    (retried,) = w.app.payments.retry_refunds(ADMIN, w.estate)
    numbers = {r["biz_content"] for r in w.fake.requests if r["method"] == "alipay.trade.refund"}
    assert len(numbers) == 1  # the same out_request_no and amount both times
    assert len(w.fake.refunds) == 1 and refund.refund_no in w.fake.refunds
    if failure in ("bad_sign", "unsigned"):
        # Alipay did refund the first time; the retry moved no money: pending, then a
        # query confirms it and propcare pays it out of refunds payable.
        assert retried.status == "pending"
        client = w.app.gateways["alipay"]
        assert isinstance(client, propcare_alipay.AlipayClient)
        assert client.query_refund("2026110522001400001", refund.refund_no)
        assert not client.query_refund("2026110522001400001", "never-asked")
        retried = w.app.payments.confirm_refund(ADMIN, refund.id)
    assert retried.status == "paid" and retried.refund_no == refund.refund_no
    assert w.app.ledger.trial_balance(ADMIN, w.estate)["gateway:alipay"] == Decimal("200.00")


def test_an_unreachable_gateway_is_a_propcare_error_and_stores_no_order(w: World) -> None:
    w.fake.server.shutdown()
    w.fake.server.server_close()  # nothing listens on the port any more
    with pytest.raises(AlipayError) as caught:
        w.app.payments.request_payment(ADMIN, w.unit, Decimal("250.00"), "alipay")
    assert caught.value.field == "alipay.trade.precreate"
    assert w.count("payment_orders") == 0


def test_a_payment_is_kept_under_its_sellers_key(w: World) -> None:
    """Alipay numbers the seller's trades: the payment is stored with the seller that
    received it, so a replay is found whichever estate the notice is routed to."""
    paid = w.app.payments.handle_notification(ADMIN, "alipay", {}, notice_body(w.order(), "250.00"))
    with w.app.unit_of_work(readonly=True) as uow:
        row = uow.payments.get(paid.payment_id)
        assert row is not None and row.merchant == SELLER_ID
        found = uow.payments.by_txn(w.estate + 1, "alipay", row.provider_txn_id, SELLER_ID)
        assert found == row
