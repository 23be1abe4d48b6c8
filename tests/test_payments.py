"""Payments: allocation, idempotent notices, suspense, refunds, compensation, receipts."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from propcare import Actor, Propcare
from propcare.errors import (
    Conflict,
    InvalidTransition,
    MoneyTypeError,
    NotFound,
    PermissionDenied,
    PropcareError,
    ValidationError,
)
from propcare.ledger.accounts import Account
from propcare.ledger.allocation import Allocation, AsSpecified, ByPriority, allocate
from propcare.ledger.gateways import (
    CounterClient,
    GatewayClient,
    PaymentIntent,
    PaymentNotice,
    PaymentRequest,
    RefundRequest,
    RefundResult,
)
from propcare.ledger.journal import JournalEntry, Posting
from propcare.plugins.hookspecs import hookimpl
from propcare.plugins.records import PaymentGateway
from propcare.registry.model import EstateId, UnitId
from propcare.storage import sqlite as sqlite_backend

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=SH)
ADMIN = Actor.system()

# --- allocation: pure --------------------------------------------------------------

OPEN = [("parking", "2026-10", 15000), ("property_fee", "2026-10", 26850),
        ("property_fee", "2026-11", 26850), ("parking", "2026-11", 15000)]  # fmt: skip


def test_oldest_period_first_then_partial_then_credit() -> None:
    plan = allocate(OPEN, 50000)
    assert plan.lines == (
        Allocation("parking", "2026-10", 15000),
        Allocation("property_fee", "2026-10", 26850),
        Allocation("parking", "2026-11", 8150),  # partial: 2026-11 items, by name
    )
    assert plan.credit_fen == 0
    over = allocate(OPEN, 90000)
    assert sum(a.fen for a in over.lines) == 83700 and over.credit_fen == 6300


def test_priority_and_payer_specified() -> None:
    plan = allocate(OPEN, 30000, ByPriority(("property_fee",)))
    assert plan.lines == (
        Allocation("property_fee", "2026-10", 26850),
        Allocation("property_fee", "2026-11", 3150),
    )
    spec = allocate(OPEN, 30000, AsSpecified([("parking", "2026-11", 15000)]))
    assert spec.lines == (Allocation("parking", "2026-11", 15000),) and spec.credit_fen == 15000
    with pytest.raises(ValidationError, match="exceeds what is owed"):
        allocate(OPEN, 30000, AsSpecified([("parking", "2026-11", 15001)]))
    with pytest.raises(ValidationError, match="not an open receivable"):
        allocate(OPEN, 30000, AsSpecified([("water", "2026-11", 1)]))
    with pytest.raises(ValidationError, match="exceeds the payment"):
        allocate(OPEN, 100, AsSpecified([("parking", "2026-11", 101)]))


open_items = st.lists(
    st.tuples(
        st.sampled_from(["property_fee", "parking", "water"]),
        st.sampled_from(["2026-09", "2026-10", "2026-11", "2026-12"]),
        st.integers(-5000, 10**7),
    ),
    max_size=8,
    unique_by=lambda t: (t[0], t[1]),
)


@given(items=open_items, amount=st.integers(1, 10**8), by_priority=st.booleans())
def test_allocations_sum_exactly_to_the_payment_and_never_exceed_a_receivable(
    items: list[tuple[str, str, int]], amount: int, by_priority: bool
) -> None:
    rule = ByPriority(("water", "parking")) if by_priority else None
    plan = allocate(items, amount, rule)
    assert plan.total_fen == amount and plan.credit_fen >= 0
    owed = {(f, p): fen for f, p, fen in items}
    for line in plan.lines:
        assert 0 < line.fen <= owed[(line.fee_item, line.period)]


@pytest.mark.parametrize("amount", [0, -1, True])
def test_allocation_refuses_nonpositive_amounts(amount: int) -> None:
    with pytest.raises(ValidationError):
        allocate(OPEN, amount)


# --- the service ------------------------------------------------------------------


class World:
    def __init__(self, app: Propcare) -> None:
        self.app = app
        estate = app.estates.create(ADMIN, "翠苑")
        other = app.estates.create(ADMIN, "B苑")
        building = app.estates.add_building(ADMIN, estate.id, "1栋")
        self.estate = estate.id
        self.unit = app.estates.add_unit(ADMIN, building.id, "101", Decimal("88")).id
        self.unit2 = app.estates.add_unit(ADMIN, building.id, "102", Decimal("88")).id
        b_building = app.estates.add_building(ADMIN, other.id, "1栋")
        self.other_unit = app.estates.add_unit(ADMIN, b_building.id, "101", Decimal(9)).id
        self.finance_staff = app.staff.create(
            ADMIN, estate.id, "财务", ["finance"], date(2020, 1, 1)
        )
        self.clerk_staff = app.staff.create(
            ADMIN, estate.id, "前台", ["front_desk"], date(2020, 1, 1)
        )
        self.desk = Actor("前台", {"front_desk"}, {estate.id})
        self.finance = Actor("财务", {"finance"}, {estate.id})
        self.outsider = Actor("B前台", {"front_desk", "finance"}, {other.id})
        self.n = 0

    def bill(self, unit: int, fee_item: str, period: str, fen: int) -> None:
        self.n += 1
        with self.app.unit_of_work() as uow:
            self.app.ledger.post_in(
                uow,
                JournalEntry(
                    estate_id=self.estate,
                    kind="bill",
                    at=T0,
                    key=f"bill-{self.n}",
                    actor="system",
                    postings=(
                        Posting("receivable", fen, unit, fee_item, period),
                        Posting("revenue", -fen, sub=fee_item),
                    ),
                ),
            )
            uow.commit()

    def owed(self, unit: UnitId | None = None) -> list[tuple[str, str, Decimal]]:
        return self.app.ledger.open_receivables(ADMIN, unit or self.unit)

    def rows(self, table: str) -> int:
        with self.app.unit_of_work(readonly=True) as uow:
            conn = uow.connection  # type: ignore[attr-defined]
            return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def state(self) -> tuple[int, ...]:
        tables = ("journal_entries", "postings", "receipts", "payment_notices",
                  "payment_allocations", "payment_refunds")  # fmt: skip
        return tuple(self.rows(t) for t in tables)


@pytest.fixture
def w(app: Propcare) -> Iterator[World]:
    world = World(app)
    yield world
    # Every test leaves the books balanced.
    for estate in (world.estate,):
        with app.unit_of_work(readonly=True) as uow:
            assert sum(uow.ledger.trial_balance(estate).values()) == 0


def test_counter_payment_oldest_first_with_a_receipt(w: World) -> None:
    w.bill(w.unit, "property_fee", "2026-10", 26850)
    w.bill(w.unit, "parking", "2026-10", 15000)
    w.bill(w.unit, "property_fee", "2026-11", 26850)
    w.bill(w.unit, "parking", "2026-11", 15000)
    result = w.app.payments.pay_at_counter(w.desk, w.unit, Decimal("500.00"), "cash")
    assert result.new and result.status == "posted" and result.credit == Decimal("0.00")
    assert [(a.fee_item, a.period, a.fen) for a in result.allocations] == [
        ("parking", "2026-10", 15000),
        ("property_fee", "2026-10", 26850),
        ("parking", "2026-11", 8150),
    ]
    assert result.receipt is not None and result.receipt.label == "2026-000001"
    assert w.owed() == [
        ("parking", "2026-11", Decimal("68.50")),
        ("property_fee", "2026-11", Decimal("268.50")),
    ]
    tb = w.app.ledger.trial_balance(ADMIN, w.estate)
    assert tb["cash"] == Decimal("500.00")
    assert w.app.payments.payment(w.finance, result.payment_id) == attrs.evolve(result, new=False)


def test_overpayment_becomes_credit_then_applies_to_a_later_bill(w: World) -> None:
    w.bill(w.unit, "property_fee", "2026-10", 26850)
    result = w.app.payments.pay_at_counter(w.desk, w.unit, Decimal("300"), "pos")
    assert result.credit == Decimal("31.50")
    assert w.app.ledger.unit_balance(ADMIN, w.unit) == Decimal("-31.50")
    assert w.app.payments.apply_credit(w.desk, w.unit) is None  # nothing open yet
    w.bill(w.unit, "property_fee", "2026-11", 26850)
    entry_id = w.app.payments.apply_credit(w.desk, w.unit)
    assert entry_id is not None
    assert w.app.ledger.entry(ADMIN, entry_id).kind.value == "credit_applied"
    assert w.owed() == [("property_fee", "2026-11", Decimal("237.00"))]
    assert w.app.ledger.unit_balance(ADMIN, w.unit) == Decimal("237.00")
    assert w.app.ledger.trial_balance(ADMIN, w.estate)["bank"] == Decimal("300.00")


def test_payer_specified_and_priority_allocation_through_the_service(w: World) -> None:
    w.bill(w.unit, "property_fee", "2026-10", 10000)
    w.bill(w.unit, "parking", "2026-11", 5000)
    r = w.app.payments.pay_at_counter(
        w.desk,
        w.unit,
        Decimal("50"),
        "transfer",
        allocation=AsSpecified([("parking", "2026-11", 5000)]),
    )
    assert [(a.fee_item, a.fen) for a in r.allocations] == [("parking", 5000)]
    w.bill(w.unit, "parking", "2026-12", 5000)
    r2 = w.app.payments.pay_at_counter(
        w.desk, w.unit, Decimal("30"), "cash", allocation=ByPriority(("parking",))
    )
    assert [(a.fee_item, a.period, a.fen) for a in r2.allocations] == [("parking", "2026-12", 3000)]


def _notice(w: World, txn: str, amount: str, **kw: Any) -> PaymentNotice:
    return PaymentNotice(w.estate, "counter", txn, Decimal(amount), T0, method="cash", **kw)


def test_the_same_notice_a_hundred_times_posts_once(w: World) -> None:
    w.bill(w.unit, "property_fee", "2026-10", 26850)
    first = w.app.payments.record(ADMIN, _notice(w, "T-1", "100", unit_id=w.unit))
    before = w.state()
    for _ in range(100):
        again = w.app.payments.record(ADMIN, _notice(w, "T-1", "100", unit_id=w.unit))
        assert (again.payment_id, again.entry_id, again.receipt, again.new) == (
            first.payment_id,
            first.entry_id,
            first.receipt,
            False,
        )
    assert w.state() == before
    assert w.app.ledger.trial_balance(ADMIN, w.estate)["cash"] == Decimal("100.00")


def test_same_txn_with_another_amount_is_refused_and_flagged(w: World) -> None:
    w.bill(w.unit, "property_fee", "2026-10", 26850)
    w.app.payments.pay_at_counter(w.desk, w.unit, Decimal("100"), "cash", txn_id="SLIP-9")
    before = w.state()
    with pytest.raises(Conflict, match="SLIP-9"):
        w.app.payments.pay_at_counter(w.desk, w.unit, Decimal("101"), "cash", txn_id="SLIP-9")
    assert w.state() == before
    [(provider, txn, kind, _detail)] = w.app.payments.anomalies(w.finance, w.estate)
    assert (provider, txn, kind) == ("counter", "SLIP-9", "amount_mismatch")
    with pytest.raises(Conflict):  # the same slip for another unit is no replay either
        w.app.payments.pay_at_counter(w.desk, w.unit2, Decimal("100"), "cash", txn_id="SLIP-9")
    assert w.state() == before and len(w.app.payments.anomalies(w.finance, w.estate)) == 2


def test_unknown_order_goes_to_suspense_and_a_person_resolves_it(w: World) -> None:
    w.bill(w.unit, "property_fee", "2026-10", 26850)
    parked = w.app.payments.record(ADMIN, _notice(w, "WX-1", "100", order_id="no-such-order"))
    assert parked.status == "suspense" and parked.receipt is None and parked.unit_id is None
    assert w.app.ledger.trial_balance(ADMIN, w.estate)["suspense"] == Decimal("100.00")
    assert [p.payment_id for p in w.app.payments.suspense(w.finance, w.estate)] == [
        parked.payment_id
    ]
    with pytest.raises(PermissionDenied):
        w.app.payments.resolve_suspense(w.desk, parked.payment_id, w.unit)
    with pytest.raises(NotFound):
        w.app.payments.resolve_suspense(w.finance, parked.payment_id, w.other_unit)
    done = w.app.payments.resolve_suspense(w.finance, parked.payment_id, w.unit)
    assert done.status == "resolved" and done.unit_id == w.unit
    assert done.receipt is not None and done.receipt.number == 1
    assert "suspense" not in {
        k for k, v in w.app.ledger.trial_balance(ADMIN, w.estate).items() if v
    }
    assert w.owed() == [("property_fee", "2026-10", Decimal("168.50"))]
    with pytest.raises(InvalidTransition):
        w.app.payments.resolve_suspense(w.finance, parked.payment_id, w.unit)
    assert w.app.payments.suspense(w.finance, w.estate) == []


def test_a_requested_order_finds_its_unit(w: World) -> None:
    intent = w.app.payments.request_payment(w.desk, w.unit, Decimal("10"), "counter")
    body = json.dumps(
        {
            "estate_id": w.estate,
            "txn_id": "Q-1",
            "amount": "10",
            "order_id": intent.order_id,
            "paid_at": T0.isoformat(),
            "method": "pos",
        }
    ).encode()
    result = w.app.payments.handle_notification(ADMIN, "counter", {}, body)
    assert result.unit_id == w.unit and result.credit == Decimal("10.00")
    with pytest.raises(ValidationError):
        w.app.payments.handle_notification(ADMIN, "counter", {}, b"{not json")


def test_refunds_newest_allocation_first_and_never_above_what_was_paid(w: World) -> None:
    w.bill(w.unit, "property_fee", "2026-10", 10000)
    w.bill(w.unit, "property_fee", "2026-11", 10000)
    paid = w.app.payments.pay_at_counter(w.desk, w.unit, Decimal("250"), "cash")
    assert paid.credit == Decimal("50.00")
    with pytest.raises(PermissionDenied):
        w.app.payments.refund(w.desk, paid.payment_id, Decimal("10"), "多收")
    with pytest.raises(ValidationError, match="reason"):
        w.app.payments.refund(w.finance, paid.payment_id, Decimal("10"), " ")
    w.app.payments.refund(w.finance, paid.payment_id, Decimal("80"), "多收退款")
    # The credit part (50) goes first, then 30 of the newest line, 2026-11.
    assert w.owed() == [("property_fee", "2026-11", Decimal("30.00"))]
    before = w.state()
    with pytest.raises(ValidationError, match="exceeds"):
        w.app.payments.refund(w.finance, paid.payment_id, Decimal("170.01"), "再退")
    assert w.state() == before
    w.app.payments.refund(w.finance, paid.payment_id, Decimal("170"), "全部退回")
    assert w.app.ledger.unit_balance(ADMIN, w.unit) == Decimal("200.00")
    assert w.app.ledger.trial_balance(ADMIN, w.estate).get("cash", Decimal(0)) == Decimal("0.00")
    with pytest.raises(InvalidTransition):
        w.app.payments.reverse(w.finance, paid.payment_id, "错账")


def test_reversal_voids_the_receipt_and_is_not_repeated(w: World) -> None:
    w.bill(w.unit, "property_fee", "2026-10", 10000)
    paid = w.app.payments.pay_at_counter(w.desk, w.unit, Decimal("100"), "cash")
    w.app.payments.reverse(w.finance, paid.payment_id, "假币")
    assert w.owed() == [("property_fee", "2026-10", Decimal("100.00"))]
    [receipt] = w.app.ledger.receipts(ADMIN, w.estate, 2026)
    assert receipt.voided_at is not None
    with pytest.raises(InvalidTransition):
        w.app.payments.reverse(w.finance, paid.payment_id, "再来")
    with pytest.raises(InvalidTransition):
        w.app.payments.refund(w.finance, paid.payment_id, Decimal(1), "退")


def test_compensation_credits_fees_with_an_approver(w: World) -> None:
    w.bill(w.unit, "property_fee", "2026-10", 26850)
    with pytest.raises(ValidationError, match="manager or finance"):
        w.app.payments.compensate(w.finance, w.unit, Decimal("300"), "地下室水浸", w.clerk_staff.id)
    w.app.payments.compensate(w.finance, w.unit, Decimal("300"), "地下室水浸", w.finance_staff.id)
    assert w.owed() == []
    assert w.app.ledger.unit_balance(ADMIN, w.unit) == Decimal("-31.50")
    assert w.app.ledger.trial_balance(ADMIN, w.estate)["compensation"] == Decimal("300.00")
    (granted,) = w.app.payments.compensations(w.finance, w.estate)
    assert granted.approver_staff_id == w.finance_staff.id and granted.reason == "地下室水浸"
    assert granted.amount == Decimal("300.00") and granted.unit_id == w.unit


@pytest.mark.parametrize(
    ("amount", "error"),
    [
        (1.5, MoneyTypeError),
        (Decimal(0), ValidationError),
        (Decimal(-5), ValidationError),
        (Decimal("0.001"), ValidationError),
    ],
)
def test_bad_amounts_write_nothing(w: World, amount: Any, error: type[Exception]) -> None:
    w.bill(w.unit, "property_fee", "2026-10", 100)
    before = w.state()
    with pytest.raises(error) as info:
        w.app.payments.pay_at_counter(w.desk, w.unit, amount, "cash")
    assert isinstance(info.value, PropcareError)
    if amount == 1.5:
        assert isinstance(info.value, TypeError)
    with pytest.raises(ValidationError):
        w.app.payments.pay_at_counter(w.desk, w.unit, Decimal(1), "cheque")  # type: ignore[arg-type]
    assert w.state() == before


def test_another_estates_unit_is_not_found(w: World) -> None:
    before = w.state()
    with pytest.raises(NotFound):
        w.app.payments.pay_at_counter(w.desk, w.other_unit, Decimal(1), "cash")
    with pytest.raises(NotFound):
        w.app.payments.pay_at_counter(w.outsider, w.unit, Decimal(1), "cash")
    assert w.state() == before


def test_receipts_stay_gapless_across_payments_and_failures(w: World) -> None:
    w.bill(w.unit, "property_fee", "2026-10", 100000)
    for i in range(5):
        w.app.clock.set(T0 + timedelta(i))  # type: ignore[attr-defined]  # a FixedClock
        w.app.payments.pay_at_counter(w.desk, w.unit, Decimal("10"), "cash", at=T0 + timedelta(i))
        with pytest.raises(ValidationError):
            w.app.payments.pay_at_counter(w.desk, w.unit, Decimal("-1"), "cash")
    assert [r.number for r in w.app.ledger.receipts(ADMIN, w.estate, 2026)] == [1, 2, 3, 4, 5]


def test_the_counter_client_implements_the_gateway_interface() -> None:
    client = CounterClient({})
    assert isinstance(client, GatewayClient)


def test_an_unconfigured_gateway_is_a_config_error() -> None:
    app = Propcare.open("sqlite://:memory:", load_entrypoints=False, config={"gateways": {}})
    with app, pytest.raises(PropcareError, match="not configured"):
        app.payments.pay_at_counter(ADMIN, UnitId(1), Decimal(1), "cash")


class FakeWeChat:
    """A stand-in WeChat Pay adapter: checks a shared secret, records refund requests."""

    def __init__(self, settings: Any) -> None:
        self.secret = settings["secret"]
        self.refunds: list[RefundRequest] = []

    def create_payment_request(self, request: PaymentRequest) -> PaymentIntent:
        return PaymentIntent("wechatpay", f"wx-{request.order_id}", request.order_id, "weixin://x")

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> PaymentNotice:
        if headers.get("X-Sign") != self.secret:
            raise ValidationError("X-Sign", headers.get("X-Sign"), "signature does not verify")
        data = json.loads(body)
        return PaymentNotice(
            data["estate_id"],
            "wechatpay",
            data["txn"],
            Decimal(data["amount"]),
            T0,
            order_id=data["order"],
        )

    def request_refund(self, request: RefundRequest) -> RefundResult:
        self.refunds.append(request)
        return RefundResult(f"wxr-{request.refund_id}", "done")


class WeChatPlugin:
    @hookimpl
    def propcare_payment_gateways(self) -> list[PaymentGateway]:
        return [PaymentGateway("wechatpay", FakeWeChat)]


def test_a_gateway_plugs_in_without_ledger_changes(clock: Any) -> None:
    config = {"gateways": {"counter": {}, "wechatpay": {"secret": "s3"}}}
    with Propcare.open(
        "sqlite://:memory:", load_entrypoints=False, plugins=[WeChatPlugin()], clock=clock,
        config=config,
    ) as app:  # fmt: skip
        w = World(app)
        w.bill(w.unit, "property_fee", "2026-10", 10000)
        intent = app.payments.request_payment(w.desk, w.unit, Decimal("100"), "wechatpay")
        assert intent.pay_url == "weixin://x"
        body = json.dumps(
            {"estate_id": w.estate, "txn": "4200001", "amount": "100", "order": intent.order_id}
        ).encode()
        with pytest.raises(ValidationError, match="signature"):
            app.payments.handle_notification(ADMIN, "wechatpay", {"X-Sign": "bad"}, body)
        for _ in range(3):
            paid = app.payments.handle_notification(ADMIN, "wechatpay", {"X-Sign": "s3"}, body)
        assert paid.unit_id == w.unit and paid.receipt is not None
        assert app.ledger.trial_balance(ADMIN, w.estate)["gateway:wechatpay"] == Decimal("100.00")
        for _ in range(2):  # a retried refund with the same id refunds once
            app.payments.refund(w.finance, paid.payment_id, Decimal("40"), "退款", refund_id="r1")
        client = app.gateways["wechatpay"]
        assert isinstance(client, FakeWeChat) and len(client.refunds) == 1
        assert app.ledger.trial_balance(ADMIN, w.estate)["gateway:wechatpay"] == Decimal("60.00")
        assert w.owed() == [("property_fee", "2026-10", Decimal("40.00"))]
        with app.unit_of_work(readonly=True) as uow:
            assert sum(uow.ledger.trial_balance(w.estate).values()) == 0


def test_a_notice_for_another_estates_unit_goes_to_suspense(w: World) -> None:
    parked = w.app.payments.record(ADMIN, _notice(w, "X-9", "5", unit_id=w.other_unit))
    assert parked.status == "suspense" and parked.unit_id is None


@settings(max_examples=25, deadline=None)
@given(
    bills=st.lists(st.integers(1, 50000), min_size=1, max_size=4),
    payments=st.lists(st.integers(1, 60000), min_size=1, max_size=4),
)
def test_random_payments_keep_the_books_right(bills: list[int], payments: list[int]) -> None:
    with Propcare.open("sqlite://:memory:", load_entrypoints=False) as app:
        w = World(app)
        for n, fen in enumerate(bills):
            w.bill(w.unit, "property_fee", f"2026-{n + 1:02d}", fen)
        for fen in payments:
            r = app.payments.pay_at_counter(ADMIN, w.unit, Decimal(fen) / 100, "cash", at=T0)
            assert sum(a.fen for a in r.allocations) + int(r.credit * 100) == fen
            assert all(owed > 0 for _, _, owed in w.owed())
        app.payments.apply_credit(ADMIN, w.unit)
        expected = Decimal(sum(bills) - sum(payments)) / 100
        assert app.ledger.unit_balance(ADMIN, w.unit) == expected
        with app.unit_of_work(readonly=True) as uow:
            assert sum(uow.ledger.trial_balance(w.estate).values()) == 0
            assert uow.ledger.account_balance(w.estate, Account.OWNER_CREDIT, w.unit) <= 0
            if expected > 0:  # credit was applied: none left while something is owed
                assert uow.ledger.account_balance(w.estate, Account.OWNER_CREDIT, w.unit) == 0


def test_a_notice_for_an_order_with_another_amount_posts_nothing(clock: Any) -> None:
    config = {"gateways": {"counter": {}, "wechatpay": {"secret": "s3"}}}
    with Propcare.open(
        "sqlite://:memory:", load_entrypoints=False, plugins=[WeChatPlugin()], clock=clock,
        config=config,
    ) as app:  # fmt: skip
        w = World(app)
        w.bill(w.unit, "property_fee", "2026-10", 10000)
        intent = app.payments.request_payment(w.desk, w.unit, Decimal("100"), "wechatpay")

        def body(txn: str, amount: str) -> bytes:
            return json.dumps(
                {"estate_id": w.estate, "txn": txn, "amount": amount, "order": intent.order_id}
            ).encode()

        with pytest.raises(Conflict, match="differs from the 100.00 of order"):
            app.payments.handle_notification(ADMIN, "wechatpay", {"X-Sign": "s3"}, body("9", "90"))
        assert w.owed() == [("property_fee", "2026-10", Decimal("100.00"))]
        ((provider, txn, kind, _detail),) = app.payments.anomalies(ADMIN, w.estate)
        assert (provider, txn, kind) == ("wechatpay", "9", "amount_differs_from_order")
        paid = app.payments.handle_notification(
            ADMIN, "wechatpay", {"X-Sign": "s3"}, body("10", "100")
        )
        assert paid.new and w.owed() == []


# --- idempotency keys scoped to the estate and the merchant (issue 15) ---------------------


def test_two_estates_may_use_the_same_slip_number(app: Propcare) -> None:
    """The issue's case: B's desk takes 50.00 on slip 0001, then A's desk 30.00 on its own
    slip 0001. Both are payments; each posts once; nothing is flagged in B."""
    w = World(app)
    b_estate = app.estates.get_unit(ADMIN, w.other_unit).estate_id
    desk_b = Actor("B前台", {"front_desk"}, {b_estate})
    paid_b = app.payments.pay_at_counter(
        desk_b, w.other_unit, Decimal("50.00"), "cash", txn_id="0001"
    )
    paid_a = app.payments.pay_at_counter(w.desk, w.unit, Decimal("30.00"), "cash", txn_id="0001")
    assert paid_a.new and paid_a.payment_id != paid_b.payment_id
    again = app.payments.pay_at_counter(w.desk, w.unit, Decimal("30.00"), "cash", txn_id="0001")
    assert again == attrs.evolve(paid_a, new=False)
    assert again.receipt is not None and again.receipt.estate_id == w.estate
    assert app.ledger.trial_balance(ADMIN, w.estate)["cash"] == Decimal("30.00")
    assert app.ledger.trial_balance(ADMIN, b_estate)["cash"] == Decimal("50.00")
    assert app.payments.anomalies(ADMIN, w.estate) == []
    assert app.payments.anomalies(ADMIN, b_estate) == []


def test_the_counter_ignores_a_merchant_its_notice_carries(w: World) -> None:
    """A till's slips are the desk's own numbers: a "merchant" in its JSON does not make
    them a merchant's."""
    first = w.app.payments.record(
        ADMIN, attrs.evolve(_notice(w, "S-1", "10", unit_id=w.unit), merchant="M1")
    )
    with w.app.unit_of_work(readonly=True) as uow:
        row = uow.payments.get(first.payment_id)
    assert row is not None and row.merchant == ""


@pytest.mark.parametrize("merchant", [7, "19000:00109", "商户", "x" * 65, " 1900000109"])
def test_a_gateway_notice_with_a_malformed_merchant_is_refused(clock: Any, merchant: Any) -> None:
    with open_with_wechat("sqlite://:memory:", clock) as app:
        w = World(app)
        before = w.state()
        with pytest.raises(ValidationError, match="merchant"):
            PaymentNotice(
                w.estate, "wechatpay", "4200001", Decimal("1"), T0, unit_id=w.unit,
                merchant=merchant,
            )  # fmt: skip
        assert w.state() == before


# Rows as the previous release (schema 16) wrote them, in SQL both databases read alike:
# estate 2's slip 0001 (50.00, 10.00 of it refunded) and a WeChat Pay payment recorded
# before notices named their merchant.
_T = "'2026-11-01T01:00:00.000000+00:00'"
LEGACY_PAYMENTS = f"""
INSERT INTO estates (id, name, timezone) VALUES (1, 'A苑', 'Asia/Shanghai'),
    (2, 'B苑', 'Asia/Shanghai');
INSERT INTO buildings (id, estate_id, name) VALUES (1, 1, '1栋'), (2, 2, '1栋');
INSERT INTO units (id, estate_id, building_id, number, floor_area, use)
    VALUES (1, 1, 1, '101', '88', 'residential'), (2, 2, 2, '101', '88', 'residential');
INSERT INTO journal_entries (id, estate_id, kind, at, idem_key, actor) VALUES
    (1, 2, 'payment', {_T}, 'payment:counter:0001', 'system'),
    (2, 2, 'payment', {_T}, 'payment:wechatpay:4200001', 'system'),
    (3, 2, 'refund', {_T}, 'refund:1:r1', 'system');
INSERT INTO postings (entry_id, estate_id, account, sub, unit_id, amount_fen, at) VALUES
    (1, 2, 'cash', '', NULL, 5000, {_T}), (1, 2, 'owner_credit', '', 2, -5000, {_T}),
    (2, 2, 'gateway', 'wechatpay', NULL, 10000, {_T}),
    (2, 2, 'owner_credit', '', 2, -10000, {_T}),
    (3, 2, 'cash', '', NULL, -1000, {_T}), (3, 2, 'owner_credit', '', 2, 1000, {_T});
INSERT INTO receipt_counters (estate_id, year, last_number) VALUES (2, 2026, 2);
INSERT INTO receipts (estate_id, year, number, entry_id, issued_at)
    VALUES (2, 2026, 1, 1, {_T}), (2, 2026, 2, 2, {_T});
INSERT INTO payment_notices (id, estate_id, provider, provider_txn_id, amount_fen, unit_id,
    method, paid_at, entry_id, status, receipt_year, receipt_number) VALUES
    (1, 2, 'counter', '0001', 5000, 2, 'cash', {_T}, 1, 'posted', 2026, 1),
    (2, 2, 'wechatpay', '4200001', 10000, 2, 'wechat', {_T}, 2, 'posted', 2026, 2);
INSERT INTO payment_allocations (payment_id, entry_id, unit_id, fee_item, period, amount_fen)
    VALUES (1, 1, 2, '', '', 5000), (2, 2, 2, '', '', 10000), (1, 3, 2, '', '', -1000);
INSERT INTO payment_refunds (payment_id, entry_id, amount_fen, reason, actor, at,
    provider_refund_id, refund_no, status) VALUES (1, 3, 1000, '多收', 'system', {_T}, 'r1',
    'r1', 'paid');
"""
LEGACY_SCHEMA = 16  # the release before payment keys were scoped (0017_payment_scope)


def open_with_wechat(url: str, clock: Any, plugins: Iterable[object] = ()) -> Propcare:
    return Propcare.open(
        url, plugins=[*plugins, WeChatPlugin()], load_entrypoints=False, clock=clock,
        config={"gateways": {"counter": {}, "wechatpay": {"secret": "s3"}}},
    )  # fmt: skip


def check_upgraded_payments(app: Propcare) -> None:
    """LEGACY_PAYMENTS after the upgrade: kept whole, replays found, keys the estates'.

    Run on PostgreSQL too, by the adapter's test."""
    a, b = EstateId(1), EstateId(2)
    kept = app.payments.payment(ADMIN, 1)
    assert kept.receipt is not None and kept.receipt.label == "2026-000001"
    assert (kept.amount, kept.unit_id, kept.status, kept.credit) == (
        Decimal("50.00"), 2, "posted", Decimal("40.00"),
    )  # fmt: skip
    with app.unit_of_work(readonly=True) as uow:
        assert uow.payments.refunded_fen(1) == 1000
        assert [uow.payments.get(i).merchant for i in (1, 2)] == ["", ""]  # type: ignore[union-attr]
    replay = app.payments.pay_at_counter(ADMIN, UnitId(2), Decimal("50.00"), "cash", txn_id="0001")
    assert (replay.payment_id, replay.new) == (1, False)
    own = app.payments.pay_at_counter(ADMIN, UnitId(1), Decimal("30.00"), "cash", txn_id="0001")
    assert own.new and own.receipt is not None and own.receipt.label == "2026-000001"
    # WeChat Pay repeats a notice of before the upgrade, now naming its merchant: the same.
    notice = PaymentNotice(
        b, "wechatpay", "4200001", Decimal("100.00"), T0, unit_id=UnitId(2), method="wechat",
        merchant="1900000109",
    )  # fmt: skip
    assert app.payments.record(ADMIN, notice).payment_id == 2
    fresh = app.payments.record(ADMIN, attrs.evolve(notice, provider_txn_id="4200002"))
    assert fresh.new and fresh.receipt is not None and fresh.receipt.number == 3
    routed = attrs.evolve(notice, estate_id=a, unit_id=UnitId(1), provider_txn_id="4200002")
    with pytest.raises(Conflict, match="recorded for another estate"):
        app.payments.record(ADMIN, routed)
    assert app.ledger.trial_balance(ADMIN, a) == {
        "cash": Decimal("30.00"), "owner_credit": Decimal("30.00"),
    }  # fmt: skip
    held = app.ledger.trial_balance(ADMIN, b)
    assert (held["cash"], held["gateway:wechatpay"]) == (Decimal("40.00"), Decimal("200.00"))
    assert app.payments.anomalies(ADMIN, b) == []


def test_a_database_of_the_previous_release_upgrades_to_scoped_keys(
    tmp_path: Path, clock: Any
) -> None:
    path = tmp_path / "previous.db"
    conn = sqlite_backend.connect(str(path))
    assert sqlite_backend.migrate(conn, target=LEGACY_SCHEMA) == LEGACY_SCHEMA
    conn.executescript(LEGACY_PAYMENTS)
    conn.close()
    with open_with_wechat(f"sqlite:///{path}", clock) as app:
        assert app.storage.schema_version() > LEGACY_SCHEMA
        conn = app.storage.conn  # type: ignore[attr-defined]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        check_upgraded_payments(app)


# --- one anomaly per distinct notice (issue 16) ---------------------------------------------


def check_a_mismatched_notice_resent_three_times_is_flagged_once(w: World) -> None:
    """A provider re-sends a notice it was not answered "success" for: the same notice is
    one anomaly however often it comes; a notice that says something else is another."""
    w.app.payments.record(ADMIN, _notice(w, "T-1", "100", unit_id=w.unit))
    for _ in range(3):
        with pytest.raises(Conflict, match="replayed with amount 101.00"):
            w.app.payments.record(ADMIN, _notice(w, "T-1", "101", unit_id=w.unit))
    [(provider, txn, kind, _detail)] = w.app.payments.anomalies(w.finance, w.estate)
    assert (provider, txn, kind) == ("counter", "T-1", "amount_mismatch")
    # Another amount, another unit or another time: each a distinct notice, flagged once.
    others = [
        _notice(w, "T-1", "102", unit_id=w.unit),
        _notice(w, "T-1", "100", unit_id=w.unit2),
        attrs.evolve(_notice(w, "T-1", "101", unit_id=w.unit), paid_at=T0 - timedelta(hours=1)),
    ]
    for notice in others * 2:
        with pytest.raises(Conflict):
            w.app.payments.record(ADMIN, notice)
    kinds = [k for _, _, k, _ in w.app.payments.anomalies(w.finance, w.estate)]
    assert kinds == ["amount_mismatch", "amount_mismatch", "details_mismatch", "amount_mismatch"]
    # The same instant written in another zone is the same notice.
    shanghai = _notice(w, "T-1", "101", unit_id=w.unit)
    with pytest.raises(Conflict):
        w.app.payments.record(ADMIN, attrs.evolve(shanghai, paid_at=T0.astimezone(UTC)))
    assert len(w.app.payments.anomalies(w.finance, w.estate)) == 4


def check_a_notice_for_another_amount_than_its_order_resent_is_flagged_once(
    app: Propcare,
) -> None:
    """``app`` has the stand-in wechatpay gateway (:func:`open_with_wechat`)."""
    w = World(app)
    intent = app.payments.request_payment(w.desk, w.unit, Decimal("100"), "wechatpay")
    body = json.dumps(
        {"estate_id": w.estate, "txn": "9", "amount": "90", "order": intent.order_id}
    ).encode()
    for _ in range(3):
        with pytest.raises(Conflict, match="differs from the 100.00 of order"):
            app.payments.handle_notification(ADMIN, "wechatpay", {"X-Sign": "s3"}, body)
    [(provider, txn, kind, _)] = app.payments.anomalies(ADMIN, w.estate)
    assert (provider, txn, kind) == ("wechatpay", "9", "amount_differs_from_order")


def check_the_same_transaction_of_two_merchants_is_two_anomalies(app: Propcare) -> None:
    """``app`` has the stand-in wechatpay gateway (:func:`open_with_wechat`)."""
    w = World(app)
    for merchant in ("1900000109", "1900000110"):
        paid = PaymentNotice(w.estate, "wechatpay", "42", Decimal("10"), T0,
                             unit_id=w.unit, merchant=merchant)  # fmt: skip
        app.payments.record(ADMIN, paid)
        for _ in range(2):
            with pytest.raises(Conflict):
                app.payments.record(ADMIN, attrs.evolve(paid, amount=Decimal("11")))
    assert len(app.payments.anomalies(ADMIN, w.estate)) == 2
    with app.unit_of_work(readonly=True) as uow:
        conn = uow.connection  # type: ignore[attr-defined]
        rows = conn.execute("SELECT merchant FROM payment_anomalies ORDER BY id").fetchall()
    assert [r[0] for r in rows] == ["1900000109", "1900000110"]


# The schema before 0022_anomaly_once, and what its release wrote for one notice re-sent
# three times: three rows, none naming its notice.
LEGACY_ANOMALY_SCHEMA = 21
LEGACY_ANOMALIES = (
    "INSERT INTO estates (id, name, timezone) VALUES (1, '翠苑', 'Asia/Shanghai');\n"
    + (
        "INSERT INTO payment_anomalies (estate_id, provider, provider_txn_id, kind, detail, at) "
        "VALUES (1, 'counter', 'T-1', 'amount_mismatch', 'replayed', '2026-11-01T00:00:00Z');\n"
    )
    * 3
)


def check_anomalies_flagged_before_the_upgrade_are_all_kept(app: Propcare) -> None:
    """Rows of the release before 0022 hold no notice content, so which were re-sends of
    one notice cannot be told: every one survives the upgrade, and new ones are keyed."""
    assert [k for _, _, k, _ in app.payments.anomalies(ADMIN, EstateId(1))] == [
        "amount_mismatch"
    ] * 3
    building = app.estates.add_building(ADMIN, EstateId(1), "1栋")
    unit = app.estates.add_unit(ADMIN, building.id, "101", Decimal("88")).id
    notice = PaymentNotice(EstateId(1), "counter", "T-1", Decimal(100), T0, unit_id=unit)
    app.payments.record(ADMIN, notice)
    for _ in range(3):
        with pytest.raises(Conflict):
            app.payments.record(ADMIN, attrs.evolve(notice, amount=Decimal(101)))
    assert len(app.payments.anomalies(ADMIN, EstateId(1))) == 4


def test_a_mismatched_notice_resent_three_times_is_flagged_once(w: World) -> None:
    check_a_mismatched_notice_resent_three_times_is_flagged_once(w)


def test_a_notice_for_another_amount_than_its_order_resent_is_flagged_once(clock: Any) -> None:
    with open_with_wechat("sqlite://:memory:", clock) as app:
        check_a_notice_for_another_amount_than_its_order_resent_is_flagged_once(app)


def test_the_same_transaction_of_two_merchants_is_two_anomalies(clock: Any) -> None:
    with open_with_wechat("sqlite://:memory:", clock) as app:
        check_the_same_transaction_of_two_merchants_is_two_anomalies(app)


def test_anomalies_flagged_before_the_upgrade_are_all_kept(tmp_path: Path, clock: Any) -> None:
    path = tmp_path / "previous.db"
    conn = sqlite_backend.connect(str(path))
    assert sqlite_backend.migrate(conn, target=LEGACY_ANOMALY_SCHEMA) == LEGACY_ANOMALY_SCHEMA
    conn.executescript(LEGACY_ANOMALIES)
    conn.close()
    with Propcare.open(f"sqlite:///{path}", load_entrypoints=False, clock=clock) as app:
        check_anomalies_flagged_before_the_upgrade_are_all_kept(app)
