"""Billing: worked examples by hand, idempotent bill runs, proration that sums exactly."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from propcare import Actor, FixedClock, Propcare, UnitSpec
from propcare.errors import Conflict, InvalidTransition, NotFound, PermissionDenied, ValidationError
from propcare.ledger import billing_service
from propcare.ledger.billing import (
    FeeItem,
    OwnerSpan,
    UnitFacts,
    bill_lines,
    due_date,
    period_bounds,
)
from propcare.registry.model import UnitUse
from propcare.storage.sqlite_billing import BillingRepo

ADMIN = Actor.system()


def _rows(app: Propcare, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with app.unit_of_work(readonly=True) as uow:
        conn: sqlite3.Connection = uow.connection  # type: ignore[attr-defined]
        return [tuple(r) for r in conn.execute(sql, params)]


def _receivable_fen(app: Propcare, estate: int) -> int:
    return int(
        _rows(
            app,
            "SELECT COALESCE(SUM(amount_fen), 0) FROM postings "
            "WHERE estate_id = ? AND account = 'receivable'",
            (estate,),
        )[0][0]
    )


@pytest.fixture
def estate(app: Propcare) -> dict[str, Any]:
    e = app.estates.create(ADMIN, "翠苑")
    b = app.estates.add_building(ADMIN, e.id, "1栋")
    units = app.estates.add_units(
        ADMIN,
        b.id,
        [
            UnitSpec("101", Decimal("89.57"), "residential", date(2020, 1, 1)),
            UnitSpec("S1", Decimal("120"), "shop", date(2020, 1, 1)),
            UnitSpec("102", Decimal("100"), "residential", None),  # not handed over
            UnitSpec("103", Decimal("100"), "residential", date(2026, 11, 11)),
        ],
    )
    app.billing.add_fee_item(
        ADMIN,
        e.id,
        "property_fee",
        "物业费",
        "area",
        rates={"residential": Decimal("2.50"), "shop": Decimal("6.80")},
    )
    return {"estate": e, "building": b, "units": {u.number: u for u in units}}


def test_worked_examples_of_a_monthly_run(app: Propcare, estate: dict[str, Any]) -> None:
    e, u = estate["estate"], estate["units"]
    app.billing.add_fee_item(ADMIN, e.id, "parking", "车位费", "fixed", amount=Decimal("300"))
    app.billing.assign(ADMIN, u["101"].id, "parking", date(2026, 1, 1))
    report = app.billing.run(ADMIN, e.id, "2026-11")
    owed = {
        (b.unit_id, b.fee_item): b.amount_fen
        for unit in u.values()
        for b in app.billing.bills(ADMIN, unit.id)
    }
    assert owed == {
        (u["101"].id, "property_fee"): 22393,  # 89.57 x 2.50 = 223.925 -> 223.93 (half up)
        (u["S1"].id, "property_fee"): 81600,  # 120 x 6.80
        (u["101"].id, "parking"): 30000,
        # 102 is not handed over and there is no vacancy rate: not billed.
        (u["103"].id, "property_fee"): 16667,  # handed over on the 11th: 250.00 x 20/30
    }
    assert report.billed_now == 4 and report.already_billed == 0
    assert report.total_now == Decimal("1506.60")
    assert _receivable_fen(app, e.id) == 150660
    assert app.ledger.unit_balance(ADMIN, u["101"].id) == Decimal("523.93")
    bills = app.billing.bills(ADMIN, u["101"].id)
    assert {b.due_date for b in bills} == {date(2026, 11, 16)}  # 15 days after the start
    trial = app.ledger.trial_balance(ADMIN, e.id)
    assert trial["revenue:property_fee"] == Decimal("1206.60")


def test_vacancy_rate_bills_units_not_handed_over(app: Propcare) -> None:
    e = app.estates.create(ADMIN, "空置苑")
    b = app.estates.add_building(ADMIN, e.id, "1栋")
    (unit, handed) = app.estates.add_units(
        ADMIN,
        b.id,
        [
            UnitSpec("1", Decimal("100"), "residential", None),
            UnitSpec("2", Decimal("100"), "residential", date(2026, 11, 11)),
        ],
    )
    app.billing.add_fee_item(
        ADMIN,
        e.id,
        "property_fee",
        "物业费",
        "area",
        rates={"residential": "2.50"},
        vacancy_rate=Decimal("0.7"),
    )
    app.billing.run(ADMIN, e.id, "2026-11")
    assert [b.amount_fen for b in app.billing.bills(ADMIN, unit.id)] == [17500]  # 250 x 0.7
    # 10 vacant days at 0.7 and 20 handed-over days: 250 x (20 + 7) / 30 = 225.00
    assert [b.amount_fen for b in app.billing.bills(ADMIN, handed.id)] == [22500]


def test_a_quarterly_item_bills_the_first_month_of_each_quarter(
    app: Propcare, estate: dict[str, Any]
) -> None:
    e, u = estate["estate"], estate["units"]
    app.billing.add_fee_item(
        ADMIN,
        e.id,
        "lift_fee",
        "电梯费",
        "area",
        rates={"residential": "0.30"},
        schedule="quarterly",
        due="end_of_first_month",
    )
    app.billing.run(ADMIN, e.id, "2026-10")
    app.billing.run(ADMIN, e.id, "2026-11")
    lift = [b for b in app.billing.bills(ADMIN, u["101"].id) if b.fee_item == "lift_fee"]
    assert [(b.period, b.amount_fen, b.due_date) for b in lift] == [
        ("2026-10", 8061, date(2026, 10, 31))  # 89.57 x 0.30 x 3 = 80.613 -> 80.61
    ]
    assert (
        period_bounds(FeeItem(1, "x", "x", "fixed", "yearly", amount=1).schedule, "2026-02") is None
    )
    assert due_date(date(2026, 2, 1), "end_of_first_month") == date(2026, 2, 28)


def test_an_owner_change_splits_the_bill_exactly(app: Propcare, estate: dict[str, Any]) -> None:
    e, u = estate["estate"], estate["units"]
    first = app.owners.create(ADMIN, e.id, "张三")
    second = app.owners.create(ADMIN, e.id, "李四")
    app.owners.assign(ADMIN, u["101"].id, first.id, date(2020, 1, 1))
    app.owners.assign(ADMIN, u["101"].id, second.id, date(2026, 11, 16))
    app.billing.run(ADMIN, e.id, "2026-11")
    (bill,) = app.billing.bills(ADMIN, u["101"].id)
    # 15 days each of 223.93: the odd fen goes to the first part.
    assert bill.shares == ((first.id, 11197), (second.id, 11196))
    assert sum(f for _, f in bill.shares) == bill.amount_fen == 22393


def test_a_bill_run_twice_bills_once(app: Propcare, estate: dict[str, Any]) -> None:
    e = estate["estate"]
    one = app.billing.run(ADMIN, e.id, "2026-11")
    two = app.billing.run(ADMIN, e.id, "2026-11")
    assert (two.billed_now, two.already_billed, two.total_now) == (0, one.billed_now, Decimal(0))
    assert _receivable_fen(app, e.id) == 22393 + 81600 + 16667


def test_a_crash_halfway_then_a_rerun_bills_each_line_exactly_once(
    app: Propcare, monkeypatch: pytest.MonkeyPatch
) -> None:
    e = app.estates.create(ADMIN, "大苑")
    b = app.estates.add_building(ADMIN, e.id, "1栋")
    app.estates.add_units(
        ADMIN,
        b.id,
        [UnitSpec(str(i), Decimal("50.01"), "residential", date(2020, 1, 1)) for i in range(25)],
    )
    app.billing.add_fee_item(
        ADMIN, e.id, "property_fee", "物业费", "area", rates={"residential": "2.50"}
    )
    monkeypatch.setattr(billing_service, "CHUNK", 10)
    real = BillingRepo.add_bills
    calls = {"n": 0}

    def crash_on_second_chunk(self: BillingRepo, *args: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("power cut")
        real(self, *args)

    monkeypatch.setattr(BillingRepo, "add_bills", crash_on_second_chunk)
    with pytest.raises(RuntimeError):
        app.billing.run(ADMIN, e.id, "2026-11")
    assert _rows(app, "SELECT COUNT(*) FROM bills")[0][0] == 10  # the first whole chunk
    assert _rows(app, "SELECT COUNT(*) FROM journal_entries")[0][0] == 10
    monkeypatch.setattr(BillingRepo, "add_bills", real)
    report = app.billing.run(ADMIN, e.id, "2026-11")
    assert (report.billed_now, report.already_billed) == (15, 10)
    rows = _rows(app, "SELECT unit_id, fee_item, period, COUNT(*) FROM bills GROUP BY 1, 2, 3")
    assert len(rows) == 25 and all(r[3] == 1 for r in rows)
    assert _receivable_fen(app, e.id) == 25 * 12503  # 50.01 x 2.50 = 125.025 -> 125.03


def test_a_period_not_yet_open_is_refused_and_nothing_written(
    app: Propcare, estate: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError, match="not open"):
        app.billing.run(ADMIN, estate["estate"].id, "2026-12")  # the clock says 2026-11-02
    assert _rows(app, "SELECT COUNT(*) FROM bills")[0][0] == 0
    with pytest.raises(ValidationError, match="YYYY-MM"):
        app.billing.run(ADMIN, estate["estate"].id, "2026-13")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"rates": {"residential": Decimal("-2.50")}}, "rates[residential]"),
        ({"rates": {"residential": Decimal("0")}}, "rates[residential]"),
        ({"rates": {"residential": "2.5"}, "vacancy_rate": Decimal("1.5")}, "vacancy_rate"),
        ({"rates": {"residential": "2.5"}, "vacancy_rate": Decimal("0")}, "vacancy_rate"),
        ({"rates": {}}, "rates"),
        ({"rates": {"residential": "2.5"}, "due": -1}, "due"),
    ],
)
def test_bad_rates_name_the_field(
    app: Propcare, estate: dict[str, Any], kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        app.billing.add_fee_item(ADMIN, estate["estate"].id, "bad", "坏", "area", **kwargs)
    assert info.value.field == field


def test_floats_are_never_money(app: Propcare, estate: dict[str, Any]) -> None:
    e = estate["estate"]
    with pytest.raises(TypeError):
        app.billing.add_fee_item(ADMIN, e.id, "f", "浮", "area", rates={"residential": 2.5})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        app.billing.add_fee_item(ADMIN, e.id, "f", "浮", "fixed", amount=300.0)  # type: ignore[arg-type]
    app.billing.add_fee_item(ADMIN, e.id, "card", "门禁卡", "one_off")
    with pytest.raises(TypeError):
        app.billing.charge(ADMIN, estate["units"]["101"].id, "card", 20.0)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="positive"):
        app.billing.charge(ADMIN, estate["units"]["101"].id, "card", Decimal("-20"))


def test_one_off_charges_post_once_per_key(app: Propcare, estate: dict[str, Any]) -> None:
    e, unit = estate["estate"], estate["units"]["101"]
    app.billing.add_fee_item(ADMIN, e.id, "card", "门禁卡", "one_off")
    first = app.billing.charge(ADMIN, unit.id, "card", Decimal("20.00"), key="counter-1")
    again = app.billing.charge(ADMIN, unit.id, "card", Decimal("20.00"), key="counter-1")
    assert first == again
    assert app.ledger.open_receivables(ADMIN, unit.id) == [("card", "2026-11", Decimal("20.00"))]


def test_ticket_charges_are_billed_once_in_their_month(
    app: Propcare, estate: dict[str, Any]
) -> None:
    e, unit = estate["estate"], estate["units"]["101"]
    staff = app.staff.create(ADMIN, e.id, "客服", ["front_desk"], date(2020, 1, 1))
    ticket = app.tickets.open(
        ADMIN,
        e.id,
        category="home_repair",
        channel="phone",
        summary="换水龙头",
        unit_id=unit.id,
        first_contact_staff_id=staff.id,
    )
    app.tickets.charge(ADMIN, ticket.id, "水龙头", Decimal("45.50"))
    app.billing.run(ADMIN, e.id, "2026-10")  # another month: not billed there
    assert ("paid_service", "2026-11", Decimal("45.50")) not in app.ledger.open_receivables(
        ADMIN, unit.id
    )
    app.billing.run(ADMIN, e.id, "2026-11")
    app.billing.run(ADMIN, e.id, "2026-11")
    assert ("paid_service", "2026-11", Decimal("45.50")) in app.ledger.open_receivables(
        ADMIN, unit.id
    )
    assert _rows(app, "SELECT COUNT(*) FROM billed_ticket_charges")[0][0] == 1


def test_only_permitted_roles_run_bills(app: Propcare, estate: dict[str, Any]) -> None:
    clerk = Actor("前台", {"front_desk"}, {estate["estate"].id})
    with pytest.raises(PermissionDenied):
        app.billing.run(clerk, estate["estate"].id, "2026-11")
    finance = Actor("财务", {"finance"}, {estate["estate"].id})
    assert app.billing.run(finance, estate["estate"].id, "2026-11").billed_now == 3


@given(
    area=st.decimals(Decimal("1"), Decimal("9999.9999"), places=4),
    rate=st.decimals(Decimal("0.01"), Decimal("99.99"), places=2),
    changes=st.lists(st.integers(1, 29), max_size=4, unique=True),
    handover=st.one_of(st.none(), st.integers(1, 30)),
    vacancy=st.one_of(st.none(), st.decimals(Decimal("0.01"), Decimal("1"), places=2)),
)
def test_proration_parts_always_sum_to_the_whole(
    area: Decimal,
    rate: Decimal,
    changes: list[int],
    handover: int | None,
    vacancy: Decimal | None,
) -> None:
    item = FeeItem(
        1, "property_fee", "物业费", "area", rates={"residential": rate}, vacancy_rate=vacancy
    )
    starts = [date(2026, 11, 1)] + [date(2026, 11, 1) + timedelta(days=d) for d in sorted(changes)]
    ends: list[date | None] = [*starts[1:], None]
    owners = tuple(
        OwnerSpan(i + 1, s, e) for i, (s, e) in enumerate(zip(starts, ends, strict=True))
    )
    unit = UnitFacts(
        7,
        area,
        UnitUse.RESIDENTIAL,
        None if handover is None else date(2026, 11, handover),
        owners,
    )
    for line in bill_lines([item], [unit], "2026-11"):
        assert sum(f for _, f in line.shares) == line.amount_fen
        assert all(f > 0 for _, f in line.shares)


def test_an_estate_without_units_bills_nothing(app: Propcare) -> None:
    e = app.estates.create(ADMIN, "空苑")
    report = app.billing.run(ADMIN, e.id, "2026-11")
    assert (report.billed_now, report.already_billed, report.total_now) == (0, 0, Decimal(0))


def _on(clock: FixedClock, day: date) -> date:
    """Move the clock to ``day`` (late fees accrue by days that have passed)."""
    clock.set(datetime.combine(day, time(9), tzinfo=ZoneInfo("Asia/Shanghai")))
    return day


def test_late_fees_are_off_until_a_contract_sets_them(
    app: Propcare, estate: dict[str, Any], clock: FixedClock
) -> None:
    e, u = estate["estate"], estate["units"]
    app.billing.run(ADMIN, e.id, "2026-11")  # due 2026-11-16
    assert app.billing.assess_late_fees(ADMIN, e.id, _on(clock, date(2026, 12, 21))).posted == 0
    app.billing.set_late_fees(ADMIN, e.id, Decimal("0.0003"), grace_days=5, cap=Decimal("0.1"))
    # 35 days after the due date, 30 after the grace: 223.93 x 0.0003 x 30 = 2.01537 -> 2.02;
    # 816.00 -> 7.344 -> 7.34; 166.67 -> 1.50003 -> 1.50.
    report = app.billing.assess_late_fees(ADMIN, e.id, date(2026, 12, 21))
    assert (report.posted, report.total_now) == (3, Decimal("10.86"))
    assert app.billing.assess_late_fees(ADMIN, e.id, _on(clock, date(2026, 12, 28))).posted == 0
    # Much later the cap (10% of 223.93 = 22.39) holds: only the rest of it is posted.
    app.billing.assess_late_fees(ADMIN, e.id, _on(clock, date(2028, 1, 31)))
    fees = _rows(
        app,
        "SELECT SUM(amount_fen) FROM late_fees WHERE unit_id = ? AND fee_item = 'property_fee'",
        (u["101"].id,),
    )
    assert fees == [(2239,)]
    assert _rows(app, "SELECT COUNT(*) FROM late_fees")[0][0] == 6


def test_a_late_fee_is_waived_by_a_permitted_role_with_a_reason(
    app: Propcare, estate: dict[str, Any], clock: FixedClock
) -> None:
    e, unit = estate["estate"], estate["units"]["101"]
    app.billing.run(ADMIN, e.id, "2026-11")
    app.billing.set_late_fees(ADMIN, e.id, "0.0003")
    app.billing.assess_late_fees(ADMIN, e.id, _on(clock, date(2026, 12, 16)))
    (entry_id,) = _rows(app, "SELECT entry_id FROM late_fees WHERE unit_id = ?", (unit.id,))[0]
    before = app.ledger.unit_balance(ADMIN, unit.id)
    clerk = Actor("前台", {"front_desk"}, {e.id})
    with pytest.raises(PermissionDenied):
        app.billing.waive_late_fee(clerk, entry_id, "业主困难")
    manager = Actor("经理", {"manager"}, {e.id})
    with pytest.raises(ValidationError, match="reason"):
        app.billing.waive_late_fee(manager, entry_id, " ")
    app.billing.waive_late_fee(manager, entry_id, "业主困难，经理批准减免")
    assert app.ledger.unit_balance(ADMIN, unit.id) == before - Decimal("2.02")  # 30 days x 0.03%
    with pytest.raises(InvalidTransition):
        app.billing.waive_late_fee(manager, entry_id, "再次")
    bill_entry = _rows(app, "SELECT entry_id FROM bills WHERE unit_id = ?", (unit.id,))[0][0]
    with pytest.raises(ValidationError, match="not a late fee"):
        app.billing.waive_late_fee(manager, bill_entry, "不是滞纳金")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"daily_rate": Decimal("-0.0003")}, "daily_rate"),
        ({"daily_rate": Decimal("0")}, "daily_rate"),
        ({"daily_rate": Decimal("0.05")}, "daily_rate"),
        ({"daily_rate": "0.0003", "cap": Decimal("2")}, "cap"),
        ({"daily_rate": "0.0003", "grace_days": -1}, "grace_days"),
    ],
)
def test_bad_late_fee_terms_name_the_field(
    app: Propcare, estate: dict[str, Any], kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        app.billing.set_late_fees(ADMIN, estate["estate"].id, **kwargs)
    assert info.value.field == field
    with pytest.raises(TypeError):
        app.billing.set_late_fees(ADMIN, estate["estate"].id, 0.0003)  # type: ignore[arg-type]


def test_each_bill_is_one_balanced_entry_under_its_key(
    app: Propcare, estate: dict[str, Any]
) -> None:
    e, unit = estate["estate"], estate["units"]["101"]
    app.billing.add_fee_item(ADMIN, e.id, "parking", "车位费", "fixed", amount="300")
    # A space given up on the 16th of November is billed for 15 of 30 days.
    app.billing.assign(ADMIN, unit.id, "parking", date(2026, 1, 1), date(2026, 11, 16))
    app.billing.run(ADMIN, e.id, "2026-11")
    rows = _rows(
        app,
        "SELECT j.idem_key, b.amount_fen, SUM(p.amount_fen), COUNT(p.id) FROM bills b "
        "JOIN journal_entries j ON j.id = b.entry_id JOIN postings p ON p.entry_id = j.id "
        "WHERE b.unit_id = ? GROUP BY b.id ORDER BY b.fee_item",
        (unit.id,),
    )
    assert rows == [
        (f"bill:{unit.id}:parking:2026-11", 15000, 0, 2),
        (f"bill:{unit.id}:property_fee:2026-11", 22393, 0, 2),
    ]
    assert _rows(app, "SELECT SUM(amount_fen) FROM postings WHERE estate_id = ?", (e.id,)) == [(0,)]


def test_a_prepayment_settles_the_new_bill_in_the_run(
    app: Propcare, estate: dict[str, Any]
) -> None:
    e, unit = estate["estate"], estate["units"]["101"]
    paid = app.payments.pay_at_counter(ADMIN, unit.id, Decimal("300"), "cash")
    assert paid.credit == Decimal("300.00")  # nothing billed yet: all of it is credit
    app.billing.run(ADMIN, e.id, "2026-11")
    assert app.ledger.open_receivables(ADMIN, unit.id) == []
    assert app.ledger.unit_balance(ADMIN, unit.id) == Decimal("-76.07")  # 300 - 223.93


def test_past_months_are_billed_as_of_when_and_each_run_sends_one_event(
    app: Propcare, estate: dict[str, Any]
) -> None:
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    e = estate["estate"]
    sh = ZoneInfo("Asia/Shanghai")
    october = datetime(2026, 10, 1, 9, 0, tzinfo=sh)
    app.billing.run(ADMIN, e.id, "2026-10", at=october)
    rows = _rows(app, "SELECT DISTINCT at FROM postings WHERE account = 'receivable'")
    assert [datetime.fromisoformat(r[0]) for r in rows] == [october]
    # A report as of mid-October sees the October bills.
    (rate,) = app.arrears.collection_rate(
        ADMIN, e.id, "2026-10", as_of=october + timedelta(days=14)
    )
    assert rate.billed == Decimal("223.93") + Decimal("816.00")
    with pytest.raises(ValidationError, match="future"):
        app.billing.run(ADMIN, e.id, "2026-11", at=app.clock.now() + timedelta(days=1))
    app.billing.run(ADMIN, e.id, "2026-10", at=october)  # nothing new: no second event
    with app.unit_of_work(readonly=True) as uow:
        (event,) = uow.outbox.messages("ledger.bill_run")
    assert (event.payload["period"], event.payload["billed"]) == ("2026-10", 2)
    assert event.payload["total_fen"] == 22393 + 81600


def test_a_new_price_applies_to_runs_from_now_on(app: Propcare, estate: dict[str, Any]) -> None:
    e, u = estate["estate"], estate["units"]
    app.billing.run(ADMIN, e.id, "2026-10")
    item = app.billing.update_fee_item(
        ADMIN, e.id, "property_fee", rates={"residential": "2.80", "shop": "6.80"}
    )
    assert item.rates[UnitUse.RESIDENTIAL] == Decimal("2.80")
    app.billing.run(ADMIN, e.id, "2026-11")
    owed = {(b.fee_item, b.period): b.amount_fen for b in app.billing.bills(ADMIN, u["101"].id)}
    # 89.57 m2 x 2.50 = 223.925 -> 223.93 before; x 2.80 = 250.796 -> 250.80 after.
    assert owed == {("property_fee", "2026-10"): 22393, ("property_fee", "2026-11"): 25080}
    assert [i.rates for i in app.billing.fee_items(ADMIN, e.id)] == [item.rates]
    with pytest.raises(ValidationError, match="not a fixed monthly fee"):
        app.billing.update_fee_item(ADMIN, e.id, "property_fee", amount="300")
    with pytest.raises(ValidationError, match="rate"):
        app.billing.update_fee_item(ADMIN, e.id, "property_fee", rates={"residential": "-1"})
    with pytest.raises(NotFound):
        app.billing.update_fee_item(ADMIN, e.id, "water", name="水费")
    with pytest.raises(ValidationError, match="at least one"):
        app.billing.update_fee_item(ADMIN, e.id, "property_fee")
    assert app.billing.fee_items(ADMIN, e.id) == [item]  # refused changes wrote nothing


def test_a_parking_space_is_listed_ended_and_billed_to_its_end(
    app: Propcare, estate: dict[str, Any]
) -> None:
    e, u = estate["estate"], estate["units"]
    unit = u["101"].id
    app.billing.add_fee_item(ADMIN, e.id, "parking", "车位费", "fixed", amount=Decimal("300"))
    app.billing.assign(ADMIN, unit, "parking", date(2026, 1, 1))
    with pytest.raises(Conflict, match="overlaps"):
        app.billing.assign(ADMIN, unit, "parking", date(2026, 6, 1))
    app.billing.end_assignment(ADMIN, unit, "parking", date(2026, 11, 16))
    with pytest.raises(NotFound):
        app.billing.end_assignment(ADMIN, unit, "parking", date(2026, 12, 1))
    (space,) = app.billing.assignments(ADMIN, unit)
    assert (space.start, space.end) == (date(2026, 1, 1), date(2026, 11, 16))
    app.billing.assign(ADMIN, unit, "parking", date(2027, 1, 1))  # rented again later
    assert [a.start for a in app.billing.assignments(ADMIN, unit)] == [
        date(2026, 1, 1),
        date(2027, 1, 1),
    ]
    app.billing.run(ADMIN, e.id, "2026-11")
    parking = [b for b in app.billing.bills(ADMIN, unit) if b.fee_item == "parking"]
    assert [b.amount_fen for b in parking] == [15000]  # 15 of 30 days of 300.00
