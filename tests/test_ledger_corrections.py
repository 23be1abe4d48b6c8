"""Corrections to the ledger, and the figures people act on (issue 16, points 1-4 and 6).

A reversed bill that was paid leaves the money as owner credit, applied like any credit;
bills and late fees carry the entry ids a correction needs, and ``billing.correct``
re-bills a period in one transaction; receipts take the estate's year; a payment settles
a period's fees before its late fees unless the ``ledger.allocation`` setting says
otherwise; a bill run names every unit it billed no property fee, and why.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from propcare import Actor, FixedClock, Propcare, UnitSpec
from propcare.cli import main
from propcare.errors import ConfigError, PermissionDenied, ValidationError
from propcare.ledger.allocation import Allocation, allocate
from propcare.registry.model import EstateId, UnitId
from propcare.storage.sqlite_billing import BillingRepo

SH = ZoneInfo("Asia/Shanghai")
ADMIN = Actor.system()
DEC = datetime(2026, 12, 5, 9, 0, tzinfo=SH)
JAN = datetime(2027, 1, 5, 9, 0, tzinfo=SH)
HANDED_OVER = date(2020, 1, 1)


class World:
    """One estate, building 1栋, flat 101 of 89.50 m2 at 1.80 a month: 161.10 a month."""

    def __init__(self, clock: FixedClock, config: dict[str, Any] | None = None) -> None:
        self.clock = clock
        self.app = Propcare.open(
            "sqlite://:memory:", load_entrypoints=False, clock=clock, config=config
        )
        app = self.app
        self.estate = app.estates.create(ADMIN, "翠苑").id
        self.building = app.estates.add_building(ADMIN, self.estate, "1栋").id
        (flat,) = app.estates.add_units(
            ADMIN,
            self.building,
            [UnitSpec("101", Decimal("89.50"), "residential", HANDED_OVER)],
        )
        self.unit = flat.id
        app.billing.add_fee_item(
            ADMIN, self.estate, "property_fee", "物业费", "area", rates={"residential": "1.80"}
        )

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self.app.unit_of_work(readonly=True) as uow:
            return uow.tuples(sql, params)  # type: ignore[attr-defined,no-any-return]

    def bill_entry(self, period: str) -> int:
        """The entry of the unit's bill of ``period``, read from storage (not the API)."""
        ((entry,),) = self.rows(
            "SELECT entry_id FROM bills WHERE unit_id = ? AND period = ?", (self.unit, period)
        )
        return int(entry)

    def owner_credit(self) -> Decimal:
        return self.app.ledger.trial_balance(ADMIN, EstateId(self.estate)).get(
            "owner_credit", Decimal("0.00")
        )

    def balanced(self) -> bool:
        unbalanced = self.rows(
            "SELECT entry_id FROM postings GROUP BY entry_id HAVING SUM(amount_fen) <> 0"
        )
        total = self.rows("SELECT COALESCE(SUM(amount_fen), 0) FROM postings")[0][0]
        return not unbalanced and total == 0


@pytest.fixture
def w() -> Iterator[World]:
    world = World(FixedClock(DEC))
    yield world
    world.app.close()


def _owed(w: World) -> list[tuple[str, str, Decimal]]:
    return w.app.ledger.open_receivables(ADMIN, UnitId(w.unit))


# --- 1. a reversed bill that was paid: the money becomes owner credit --------------------------


def test_reversing_a_paid_bill_makes_the_payment_credit_that_settles_the_next_bill(
    w: World,
) -> None:
    app, unit = w.app, UnitId(w.unit)
    app.billing.run(ADMIN, EstateId(w.estate), "2026-12")
    app.payments.pay_at_counter(ADMIN, unit, Decimal("161.10"), "cash")
    app.ledger.reverse(ADMIN, w.bill_entry("2026-12"), "面积录错")

    assert _owed(w) == []  # no line in credit: the payment is the owner's credit
    assert app.ledger.unit_balance(ADMIN, unit) == Decimal("-161.10")
    assert w.owner_credit() == Decimal("161.10")
    assert app.payments.apply_credit(ADMIN, unit) is None  # nothing is open to settle yet

    w.clock.set(JAN)
    app.billing.run(ADMIN, EstateId(w.estate), "2027-01")  # the credit settles January
    assert app.ledger.unit_balance(ADMIN, unit) == Decimal("0.00")
    assert _owed(w) == [] and w.owner_credit() == Decimal("0.00")
    estate = EstateId(w.estate)
    # The roster and aging agree with the balance: the unit owes nothing, due or not.
    assert app.arrears.roster(ADMIN, estate) == []
    assert app.arrears.roster(ADMIN, estate, include_not_due=True) == []
    assert sum(a for _b, a in app.arrears.aging(ADMIN, estate, include_not_due=True)) == 0
    # December was un-billed and nothing is collected for it; January was billed and paid.
    (december,) = app.arrears.collection_rate(ADMIN, estate, "2026-12", as_of=JAN)
    assert (december.billed, december.collected) == (Decimal("0.00"), Decimal("0.00"))
    (january,) = app.arrears.collection_rate(ADMIN, estate, "2027-01", as_of=JAN)
    assert (january.billed, january.collected) == (Decimal("161.10"), Decimal("161.10"))
    assert w.balanced()


def test_after_the_reversal_the_roster_aging_balance_and_rate_agree_once_past_due(
    w: World,
) -> None:
    """The issue's figures: after January's bill the balance read 0.00 while the roster and
    aging showed the unit owing 161.10, and December's rate read billed 0.00, collected 161.10.
    Read here past January's due date, with the roster's and aging's default arguments."""
    app, unit, estate = w.app, UnitId(w.unit), EstateId(w.estate)
    app.billing.run(ADMIN, estate, "2026-12")
    app.payments.pay_at_counter(ADMIN, unit, Decimal("161.10"), "cash")
    app.ledger.reverse(ADMIN, w.bill_entry("2026-12"), "面积录错")
    w.clock.set(JAN)
    app.billing.run(ADMIN, estate, "2027-01")
    later = datetime(2027, 2, 20, 9, 0, tzinfo=SH)  # January's bill is past due by now
    w.clock.set(later)
    assert app.ledger.unit_balance(ADMIN, unit) == Decimal("0.00")
    assert app.arrears.roster(ADMIN, estate, as_of=later) == []
    assert [a for _bucket, a in app.arrears.aging(ADMIN, estate, as_of=later) if a] == []
    (december,) = app.arrears.collection_rate(ADMIN, estate, "2026-12", as_of=later)
    assert (december.billed, december.collected) == (Decimal("0.00"), Decimal("0.00"))
    (january,) = app.arrears.collection_rate(ADMIN, estate, "2027-01", as_of=later)
    assert (january.billed, january.collected) == (Decimal("161.10"), Decimal("161.10"))


def test_a_reversed_bill_releases_only_what_was_paid_on_it_to_the_other_arrears(
    w: World,
) -> None:
    app, unit, estate = w.app, UnitId(w.unit), EstateId(w.estate)
    w.clock.set(JAN)
    app.billing.run(ADMIN, estate, "2026-12")
    app.billing.run(ADMIN, estate, "2027-01")
    app.payments.pay_at_counter(ADMIN, unit, Decimal("200.00"), "cash")  # Dec, 38.90 of Jan
    app.ledger.reverse(ADMIN, w.bill_entry("2026-12"), "重复出账")
    # December's 161.10 went to credit and settled the rest of January at once.
    assert _owed(w) == []
    assert app.ledger.unit_balance(ADMIN, unit) == Decimal("-38.90")
    assert w.owner_credit() == Decimal("38.90")
    assert app.arrears.roster(ADMIN, estate, include_not_due=True) == []
    assert w.balanced()


def test_an_unpaid_reversed_bill_simply_stops_being_owed(w: World) -> None:
    app, unit = w.app, UnitId(w.unit)
    app.billing.run(ADMIN, EstateId(w.estate), "2026-12")
    app.ledger.reverse(ADMIN, w.bill_entry("2026-12"), "面积录错")
    assert _owed(w) == [] and w.owner_credit() == Decimal("0.00")
    assert app.ledger.unit_balance(ADMIN, unit) == Decimal("0.00")


@pytest.mark.parametrize("undo", ["refund", "reverse"])
def test_taking_back_a_payment_whose_bill_was_reversed_takes_it_from_the_credit(
    w: World, undo: str
) -> None:
    app, unit = w.app, UnitId(w.unit)
    app.billing.run(ADMIN, EstateId(w.estate), "2026-12")
    paid = app.payments.pay_at_counter(ADMIN, unit, Decimal("161.10"), "cash")
    app.ledger.reverse(ADMIN, w.bill_entry("2026-12"), "面积录错")
    if undo == "refund":
        app.payments.refund(ADMIN, paid.payment_id, Decimal("161.10"), "业主申请退款")
    else:
        app.payments.reverse(ADMIN, paid.payment_id, "录错了")
    # The reversed bill stays reversed: the money came out of the owner's credit.
    assert _owed(w) == [] and w.owner_credit() == Decimal("0.00")
    assert app.ledger.unit_balance(ADMIN, unit) == Decimal("0.00")
    assert w.balanced()


def test_refunding_after_the_released_credit_was_spent_reopens_the_bill_it_settled(
    w: World,
) -> None:
    app, unit = w.app, UnitId(w.unit)
    app.billing.run(ADMIN, EstateId(w.estate), "2026-12")
    paid = app.payments.pay_at_counter(ADMIN, unit, Decimal("161.10"), "cash")
    app.ledger.reverse(ADMIN, w.bill_entry("2026-12"), "面积录错")
    w.clock.set(JAN)
    app.billing.run(ADMIN, EstateId(w.estate), "2027-01")  # settled by the released credit
    app.payments.refund(ADMIN, paid.payment_id, Decimal("161.10"), "业主申请退款")
    assert _owed(w) == [("property_fee", "2027-01", Decimal("161.10"))]
    assert w.owner_credit() == Decimal("0.00")
    assert w.balanced()


# --- 2. the ids corrections need, and billing.correct -------------------------------------------


def test_bills_and_late_fees_carry_the_entry_ids_that_reverse_and_waive_them(w: World) -> None:
    app, unit, estate = w.app, UnitId(w.unit), EstateId(w.estate)
    app.billing.run(ADMIN, estate, "2026-12")
    (bill,) = app.billing.bills(ADMIN, unit)
    assert bill.entry_id is not None and bill.reversed_by is None
    assert app.ledger.entry(ADMIN, bill.entry_id).key == bill.key

    app.billing.set_late_fees(ADMIN, estate, "0.0005")
    w.clock.set(datetime(2027, 1, 20, 9, tzinfo=SH))
    report = app.billing.assess_late_fees(ADMIN, estate, date(2027, 1, 20))
    (fee,) = report.fees
    assert (fee.unit_id, fee.fee_item, fee.period, fee.month) == (
        w.unit,
        "property_fee",
        "2026-12",
        "2027-01",
    )
    assert fee.amount == Decimal("2.82")  # 161.10 x 0.05% x 35 days
    assert app.billing.late_fees(ADMIN, unit) == [fee]
    waiver = app.billing.waive_late_fee(ADMIN, fee.entry_id, "经理批准减免")
    (waived,) = app.billing.late_fees(ADMIN, unit)
    assert waived.waived_by == waiver

    reversal = app.ledger.reverse(ADMIN, bill.entry_id, "面积录错")
    (reversed_bill,) = app.billing.bills(ADMIN, unit)
    assert reversed_bill.reversed_by == reversal


def test_correct_rebills_a_period_after_an_area_correction_in_one_step(w: World) -> None:
    app, unit, estate = w.app, UnitId(w.unit), EstateId(w.estate)
    app.billing.run(ADMIN, estate, "2026-12")
    app.payments.pay_at_counter(ADMIN, unit, Decimal("161.10"), "cash")
    (old,) = app.billing.bills(ADMIN, unit)

    app.estates.update_unit(ADMIN, unit, floor_area=Decimal("85.00"))  # measured again
    fixed = app.billing.correct(ADMIN, unit, "2026-12", "面积复测 89.50 -> 85.00")
    (new,) = fixed.rebilled
    assert (new.fee_item, new.period, new.amount_fen) == ("property_fee", "2026-12", 15300)
    assert len(fixed.reversed) == 1 and fixed.unchanged == ()
    assert fixed.difference == Decimal("-8.10") and fixed.released == Decimal("8.10")
    # The payment settles the new bill; what it paid beyond it is the owner's credit.
    assert _owed(w) == [] and w.owner_credit() == Decimal("8.10")
    assert app.billing.bills(ADMIN, unit) == [new]
    assert new.entry_id != old.entry_id
    assert old.entry_id is not None
    assert app.ledger.entry(ADMIN, fixed.reversed[0]).reverses == old.entry_id
    (december,) = app.arrears.collection_rate(ADMIN, estate, "2026-12", as_of=DEC)
    assert (december.billed, december.collected) == (Decimal("153.00"), Decimal("153.00"))

    # Nothing changed since: a second call posts nothing.
    entries = w.rows("SELECT COUNT(*) FROM journal_entries")
    again = app.billing.correct(ADMIN, unit, "2026-12", "面积复测")
    assert (again.reversed, again.rebilled, again.unchanged) == ((), (), ("property_fee",))
    assert w.rows("SELECT COUNT(*) FROM journal_entries") == entries

    app.estates.update_unit(ADMIN, unit, floor_area=Decimal("95.00"))  # the other way
    up = app.billing.correct(ADMIN, unit, "2026-12", "面积复测 85.00 -> 95.00")
    assert up.difference == Decimal("18.00") and up.released == Decimal("0.00")
    # The credit left over settled part of the larger bill at once.
    assert up.credit_applied is not None
    assert _owed(w) == [("property_fee", "2026-12", Decimal("9.90"))]
    assert app.ledger.unit_balance(ADMIN, unit) == Decimal("9.90")
    assert w.balanced()


def test_correct_bills_a_period_a_unit_was_skipped_in_once_it_has_a_handover_date(
    w: World,
) -> None:
    app, estate = w.app, EstateId(w.estate)
    (flat,) = app.estates.add_units(ADMIN, w.building, [UnitSpec("102", Decimal("100"))])
    run = app.billing.run(ADMIN, estate, "2026-12")
    assert [s.unit_id for s in run.skipped] == [flat.id]
    app.estates.update_unit(ADMIN, flat.id, handover_date=date(2026, 12, 1))
    fixed = app.billing.correct(ADMIN, flat.id, "2026-12", "补录交房日期")
    assert fixed.reversed == () and [b.amount_fen for b in fixed.rebilled] == [18000]
    assert app.ledger.entry(ADMIN, fixed.rebilled[0].entry_id or 0).key == (
        f"bill:{flat.id}:property_fee:2026-12"
    )
    assert app.billing.run(ADMIN, estate, "2026-12").billed_now == 0  # billed once


def test_correct_rebills_a_bill_reversed_by_hand(w: World) -> None:
    app, unit = w.app, UnitId(w.unit)
    app.billing.run(ADMIN, EstateId(w.estate), "2026-12")
    app.payments.pay_at_counter(ADMIN, unit, Decimal("161.10"), "cash")
    reversal = app.ledger.reverse(ADMIN, w.bill_entry("2026-12"), "面积录错")
    fixed = app.billing.correct(ADMIN, unit, "2026-12", "重新出账")
    assert fixed.reversed == ()  # it was reversed already
    (bill,) = fixed.rebilled
    assert app.ledger.entry(ADMIN, bill.entry_id or 0).key == (
        f"bill:{w.unit}:property_fee:2026-12:{reversal}"
    )
    # The credit the reversal released settled the new bill at once.
    assert _owed(w) == [] and w.owner_credit() == Decimal("0.00")


def test_correct_writes_nothing_when_it_fails_part_way(
    w: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, unit = w.app, UnitId(w.unit)
    app.billing.run(ADMIN, EstateId(w.estate), "2026-12")
    app.payments.pay_at_counter(ADMIN, unit, Decimal("161.10"), "cash")
    app.estates.update_unit(ADMIN, unit, floor_area=Decimal("85.00"))
    before = w.rows("SELECT COUNT(*), COALESCE(SUM(ABS(amount_fen)), 0) FROM postings")

    def broken(*_args: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(BillingRepo, "rebill", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        app.billing.correct(ADMIN, unit, "2026-12", "面积复测")
    assert w.rows("SELECT COUNT(*), COALESCE(SUM(ABS(amount_fen)), 0) FROM postings") == before
    (bill,) = app.billing.bills(ADMIN, unit)
    assert bill.reversed_by is None and bill.amount_fen == 16110


def test_correct_checks_its_arguments_and_rights(w: World) -> None:
    app, unit, estate = w.app, UnitId(w.unit), EstateId(w.estate)
    app.billing.run(ADMIN, estate, "2026-12")
    with pytest.raises(ValidationError, match="reason"):
        app.billing.correct(ADMIN, unit, "2026-12", " ")
    with pytest.raises(ValidationError, match="is not open yet"):
        app.billing.correct(ADMIN, unit, "2027-02", "面积复测")
    with pytest.raises(ValidationError, match="a billing period is written YYYY-MM"):
        app.billing.correct(ADMIN, unit, "2026-1", "面积复测")
    with pytest.raises(ValidationError, match="fee_items"):
        app.billing.correct(ADMIN, unit, "2026-12", "面积复测", fee_items=["water"])
    with pytest.raises(ValidationError, match="fee_items"):
        app.billing.correct(ADMIN, unit, "2026-12", "面积复测", fee_items="property_fee")
    manager = Actor("经理", roles=frozenset({"manager"}), estate_ids=frozenset({estate}))
    with pytest.raises(PermissionDenied, match="ledger.bill"):  # reverses, but does not bill
        app.billing.correct(manager, unit, "2026-12", "面积复测")
    desk = Actor("前台", roles=frozenset({"front_desk"}), estate_ids=frozenset({estate}))
    with pytest.raises(PermissionDenied, match="ledger.reverse"):
        app.billing.correct(desk, unit, "2026-12", "面积复测")


# --- 3. receipts take the estate's year ----------------------------------------------------------


def test_a_payment_after_midnight_on_new_years_day_in_shanghai_gets_the_new_years_receipt() -> None:
    # The system clock runs in UTC: 17:30 on 31 December there is 01:30 on 1 January here.
    clock = FixedClock(datetime(2026, 12, 31, 17, 30, tzinfo=UTC))
    w = World(clock)
    try:
        w.app.billing.run(ADMIN, EstateId(w.estate), "2026-12")
        paid = w.app.payments.pay_at_counter(ADMIN, UnitId(w.unit), Decimal("161.10"), "cash")
        assert paid.receipt is not None and paid.receipt.label == "2027-000001"
        deposit = w.app.deposits.collect(ADMIN, UnitId(w.unit), Decimal("2000"))
        assert deposit.id
        receipts = w.app.ledger.receipts(ADMIN, EstateId(w.estate), 2027)
        assert [r.label for r in receipts] == ["2027-000001", "2027-000002"]
        assert w.app.ledger.receipts(ADMIN, EstateId(w.estate), 2026) == []
    finally:
        w.app.close()


def test_a_receipt_dated_in_another_zone_still_takes_the_estates_year(w: World) -> None:
    w.app.billing.run(ADMIN, EstateId(w.estate), "2026-12")
    w.clock.set(JAN)
    at = datetime(2026, 12, 31, 16, 0, tzinfo=UTC)  # 2027-01-01 00:00 in Shanghai
    paid = w.app.payments.pay_at_counter(ADMIN, UnitId(w.unit), Decimal("10"), "cash", at=at)
    assert paid.receipt is not None and paid.receipt.year == 2027
    before = datetime(2026, 12, 31, 15, 59, tzinfo=UTC)  # 23:59 on New Year's Eve
    late = w.app.payments.pay_at_counter(ADMIN, UnitId(w.unit), Decimal("10"), "cash", at=before)
    assert late.receipt is not None and late.receipt.label == "2026-000001"


# --- 4. a period's fees before its late fees, configurable ----------------------------------------


def _with_late_fee(w: World) -> None:
    """December billed (161.10, due 16 December) and 2.82 of late fee on it by 20 January."""
    w.app.billing.run(ADMIN, EstateId(w.estate), "2026-12")
    w.app.billing.set_late_fees(ADMIN, EstateId(w.estate), "0.0005")
    w.clock.set(datetime(2027, 1, 20, 9, tzinfo=SH))
    w.app.billing.assess_late_fees(ADMIN, EstateId(w.estate), date(2027, 1, 20))


def test_paying_exactly_the_fee_settles_the_fee_not_its_late_fee(w: World) -> None:
    _with_late_fee(w)
    paid = w.app.payments.pay_at_counter(ADMIN, UnitId(w.unit), Decimal("161.10"), "cash")
    assert paid.allocations == (Allocation("property_fee", "2026-12", 16110),)
    # Only the late fee is open: the fee itself no longer accrues any.
    assert _owed(w) == [("late_fee", "2026-12", Decimal("2.82"))]


@pytest.mark.parametrize(
    ("order", "open_after"),
    [
        ("principal_first", [("late_fee", "2026-12", Decimal("2.82"))]),
        ("late_fees_first", [("property_fee", "2026-12", Decimal("2.82"))]),
        ("all_principal_first", [("late_fee", "2026-12", Decimal("2.82"))]),
    ],
)
def test_the_allocation_order_is_the_ledger_allocation_setting(
    order: str, open_after: list[tuple[str, str, Decimal]]
) -> None:
    w = World(FixedClock(DEC), config={"ledger": {"allocation": order}})
    try:
        _with_late_fee(w)
        w.app.payments.pay_at_counter(ADMIN, UnitId(w.unit), Decimal("161.10"), "cash")
        assert _owed(w) == open_after
    finally:
        w.app.close()


def test_allocation_orders_place_late_fees_by_period_or_last() -> None:
    from propcare.ledger.allocation import Order  # new in issue 16: here, so HEAD fails here

    owed = [
        ("late_fee", "2026-11", 500),
        ("property_fee", "2026-12", 16110),
        ("property_fee", "2026-11", 16110),
        ("parking", "2026-11", 15000),
    ]

    def order_of(order: Order) -> list[tuple[str, str]]:
        plan = allocate(owed, 10**6, None, order)
        return [(a.fee_item, a.period) for a in plan.lines]

    assert order_of(Order.PRINCIPAL_FIRST) == [
        ("parking", "2026-11"),
        ("property_fee", "2026-11"),
        ("late_fee", "2026-11"),
        ("property_fee", "2026-12"),
    ]
    assert order_of(Order.LATE_FEES_FIRST)[0] == ("late_fee", "2026-11")
    assert order_of(Order.ALL_PRINCIPAL_FIRST)[-1] == ("late_fee", "2026-11")
    assert allocate(owed, 10**6).lines == allocate(owed, 10**6, None, Order.PRINCIPAL_FIRST).lines


def test_an_unknown_allocation_order_is_refused_when_the_app_opens(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"ledger\.allocation='fifo': must be one of"):
        Propcare.open(
            "sqlite://:memory:", load_entrypoints=False, config={"ledger": {"allocation": "fifo"}}
        )
    with pytest.raises(ConfigError, match=r"ledger\.order=.*unknown key; known: allocation"):
        Propcare.open(
            "sqlite://:memory:", load_entrypoints=False, config={"ledger": {"order": "x"}}
        )
    from propcare.ledger.allocation import Order

    toml = tmp_path / "propcare.toml"
    toml.write_text('[ledger]\nallocation = "late_fees_first"\n', encoding="utf-8")
    with Propcare.open("sqlite://:memory:", load_entrypoints=False, config=toml) as app:
        assert app.allocation_order is Order.LATE_FEES_FIRST


# --- 6. a bill run names the units it did not bill ---------------------------------------------


def _mixed_estate(app: Propcare) -> tuple[int, dict[str, int]]:
    estate = app.estates.create(ADMIN, "翠苑").id
    building = app.estates.add_building(ADMIN, estate, "1栋").id
    units = app.estates.add_units(
        ADMIN,
        building,
        [
            UnitSpec("101", Decimal("89.50")),  # no handover date: the README's first example
            UnitSpec("102", Decimal("89.50"), "residential", date(2027, 3, 1)),
            UnitSpec("201", Decimal("89.50"), "residential", HANDED_OVER),
            UnitSpec("S1", Decimal("45.20"), "shop", HANDED_OVER),
        ],
    )
    app.billing.add_fee_item(
        ADMIN, estate, "property_fee", "物业费", "area", rates={"residential": "1.80"}
    )
    return estate, {u.number: u.id for u in units}


def test_a_bill_run_reports_every_unit_it_skipped_and_why(clock: FixedClock) -> None:
    from propcare.ledger.billing import SkipReason  # new in issue 16

    clock.set(DEC)
    with Propcare.open("sqlite://:memory:", load_entrypoints=False, clock=clock) as app:
        estate, ids = _mixed_estate(app)
        run = app.billing.run(ADMIN, EstateId(estate), "2026-12")
        assert run.billed_now == 1
        assert [(s.unit_id, s.unit, s.reason, s.detail) for s in run.skipped] == [
            (
                ids["101"],
                "1栋 101",
                SkipReason.NO_HANDOVER_DATE,
                "property_fee: no handover date, no vacancy rate",
            ),
            (
                ids["102"],
                "1栋 102",
                SkipReason.HANDED_OVER_LATER,
                "property_fee: handed over 2027-03-01, no vacancy rate",
            ),
            (
                ids["S1"],
                "1栋 S1",
                SkipReason.NO_RATE_FOR_USE,
                "property_fee: no rate for shop units",
            ),
        ]
        again = app.billing.run(ADMIN, EstateId(estate), "2026-12")
        assert again.billed_now == 0 and again.skipped == run.skipped  # said again, not lost


def test_units_skipped_by_a_run_of_many_chunks_are_labelled_alike(
    clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # More skipped units than a chunk: the labels come from one read of the estate's units.
    import propcare.ledger.billing_service as billing_service

    clock.set(DEC)
    with Propcare.open("sqlite://:memory:", load_entrypoints=False, clock=clock) as app:
        estate, _ = _mixed_estate(app)
        small = app.billing.run(ADMIN, EstateId(estate), "2026-12").skipped
        monkeypatch.setattr(billing_service, "CHUNK", 1)
        many = app.billing.run(ADMIN, EstateId(estate), "2026-12").skipped
        assert [s.unit for s in small] == ["1栋 101", "1栋 102", "1栋 S1"]
        assert many == small


def test_a_vacancy_rate_bills_units_not_handed_over(clock: FixedClock) -> None:
    clock.set(DEC)
    with Propcare.open("sqlite://:memory:", load_entrypoints=False, clock=clock) as app:
        estate, ids = _mixed_estate(app)
        app.billing.update_fee_item(ADMIN, EstateId(estate), "property_fee", vacancy_rate="0.5")
        run = app.billing.run(ADMIN, EstateId(estate), "2026-12")
        assert [s.unit_id for s in run.skipped] == [ids["S1"]]
        assert run.billed_now == 3


def test_running_the_month_again_at_the_same_instant_bills_the_unit_fixed_since(
    w: World,
) -> None:
    """Fix the unit a run named, run the month again as of the same time (``at=``): the
    second run bills it and is an event of its own, not a clash with the first's."""
    app, estate = w.app, EstateId(w.estate)
    (flat,) = app.estates.add_units(ADMIN, w.building, [UnitSpec("102", Decimal("100"))])
    at = datetime(2026, 12, 1, 9, 0, tzinfo=SH)
    first = app.billing.run(ADMIN, estate, "2026-12", at=at)
    app.estates.update_unit(ADMIN, flat.id, handover_date=date(2026, 12, 1))
    second = app.billing.run(ADMIN, estate, "2026-12", at=at)
    assert (first.billed_now, second.billed_now, second.already_billed) == (1, 1, 1)
    assert second.total_now == Decimal("180.00")
    assert w.rows("SELECT COUNT(*) FROM outbox WHERE topic = 'ledger.bill_run'") == [(2,)]


def test_the_bill_run_command_prints_the_units_it_skipped(tmp_path: Path) -> None:
    db = tmp_path / "estate.db"
    with Propcare.open(f"sqlite:///{db}", load_entrypoints=False) as app:
        estate, _ids = _mixed_estate(app)
    result = CliRunner().invoke(
        main,
        ["bill-run", "--db", str(db), "--estate", str(estate), "--period", "2026-01"],
        env={"COLUMNS": "200", "NO_COLOR": "1"},
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert re.search(r"Units not billed 未出账房屋\s+3\b", out)
    assert "1栋 101" in out and "无交房日期" in out and "no handover date" in out
    assert "1栋 102" in out and "handed over 2027-03-01" in out
    assert "1栋 S1" in out and "no rate for shop units" in out


# --- the docs: their examples bill, and what they print is what the code prints ------------------

ROOT = Path(__file__).resolve().parents[1]
_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def _blocks(relative: str) -> list[str]:
    return _FENCE.findall((ROOT / relative).read_text(encoding="utf-8"))


def _run_and_compare(
    blocks: list[tuple[str, str]], capsys: pytest.CaptureFixture[str], checked: set[int]
) -> None:
    """Run ``blocks`` (name, code) in order in one namespace; for those whose index is in
    ``checked``, every line the block prints must begin a comment of it (``# line`` or
    ``# -> line``, a remark may follow)."""
    namespace: dict[str, Any] = {"__name__": "docs"}
    for index, (name, code) in enumerate(blocks):
        capsys.readouterr()
        exec(compile(code, name, "exec"), namespace)
        if index not in checked:
            continue
        shown = [c.split("#", 1)[1].strip() for c in code.splitlines() if "#" in c]
        shown = [s.removeprefix("->").strip() for s in shown]
        for line in capsys.readouterr().out.splitlines():
            printed = line.strip()
            assert any(s.startswith(printed) for s in shown), f"{name} prints {line!r}, not shown"


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_readme_example_bills_its_units(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (embedding,) = [b for b in _blocks("README.md") if "Propcare.open" in b]
    assert 'UnitSpec(number, Decimal("89.50"), "residential", handed_over)' in embedding
    _run_and_compare([("README.md", embedding)], capsys, {0})
    with Propcare.open("sqlite:///estate.db", load_entrypoints=False) as app:
        (estate,) = app.estates.list(ADMIN)
        units = app.estates.units(ADMIN, estate.id)
        assert len(units) == 4
        assert all(len(app.billing.bills(ADMIN, u.id)) == 1 for u in units)


def test_the_tutorials_first_example_bills_its_flat(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _blocks("docs/tutorial.md")[0]
    assert "handed_over)" in first and "billing.run" in first
    _run_and_compare([("docs/tutorial.md (block 1)", first)], capsys, {0})


def test_the_ledger_guide_and_the_how_to_print_what_they_show(
    in_tmp: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    guide = [(f"guides/ledger.md (block {i + 1})", b) for i, b in enumerate(_blocks(
        "docs/guides/ledger.md"))]  # fmt: skip
    _run_and_compare(guide, capsys, set(range(1, len(guide))))
    how_to = [(f"how-to/correct-a-bill.md (block {i + 1})", b) for i, b in enumerate(_blocks(
        "docs/how-to/correct-a-bill.md"))]  # fmt: skip
    assert len(how_to) >= 6
    _run_and_compare(how_to, capsys, set(range(len(how_to))))
