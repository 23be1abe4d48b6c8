"""Arrears roster, aging and collection rate (收缴率), derived from receivable postings."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from propcare import Actor, FixedClock, PermissionDenied, Propcare
from propcare.errors import ValidationError
from propcare.ledger.arrears import (
    CHARGE_KINDS,
    DEFAULT_BUCKETS,
    AgingBucket,
    CreditMove,
    check_buckets,
    credit_sources,
    period_start,
    settled_by,
)
from propcare.ledger.billing import BillLine
from propcare.ledger.journal import JournalEntry, Posting, release
from propcare.money import from_fen

SH = ZoneInfo("Asia/Shanghai")
ADMIN = Actor.system()
AS_OF = datetime(2026, 11, 20, 12, 0, tzinfo=SH)
NOW = datetime(2026, 12, 8, 10, 0, tzinfo=SH)


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(hour=10, tzinfo=SH)


@pytest.fixture
def w() -> Iterator[Any]:
    app = Propcare.open("sqlite://:memory:", load_entrypoints=False, clock=FixedClock(NOW))
    estate = app.estates.create(ADMIN, "翠苑")
    b1 = app.estates.add_building(ADMIN, estate.id, "1栋")
    b2 = app.estates.add_building(ADMIN, estate.id, "2栋")
    u1 = app.estates.add_unit(ADMIN, b1.id, "101", Decimal("90"))
    u2 = app.estates.add_unit(ADMIN, b2.id, "201", Decimal("90"))
    owner = app.owners.create(ADMIN, estate.id, "张三", ["13812345678"])
    app.owners.assign(ADMIN, u1.id, owner.id, date(2020, 1, 1))
    li = app.staff.create(ADMIN, estate.id, "李收费", ["collector"], date(2020, 1, 1))
    boss = app.staff.create(ADMIN, estate.id, "王经理", ["manager"], date(2020, 1, 1))
    app.collection.assign_collector(
        ADMIN, estate.id, li.id, start=date(2020, 1, 1), building_id=b1.id
    )
    w = type("W", (), {})()
    w.app, w.estate, w.u1, w.u2, w.b1, w.li = app, estate.id, u1.id, u2.id, b1.id, li.id
    w.boss = boss.id
    w.n = 0
    yield w
    app.close()


def post(w: Any, kind: str, when: datetime, *postings: Posting, reverses: int | None = None) -> int:
    w.n += 1
    with w.app.unit_of_work() as uow:
        entry_id, _ = w.app.ledger.post_in(
            uow,
            JournalEntry(w.estate, kind, when, f"t{w.n}", "test", postings, reverses=reverses),
        )
        uow.commit()
    return entry_id


def bill(w: Any, unit: int, period: str, fen: int, item: str = "property_fee") -> int:
    return post(
        w,
        "bill",
        at(f"{period}-01"),
        Posting("receivable", fen, unit, item, period),
        Posting("revenue", -fen, sub=item),
    )


def pay(w: Any, unit: int, when: str, *lines: tuple[str, int], item: str = "property_fee") -> int:
    total = sum(f for _, f in lines)
    return post(
        w,
        "payment",
        at(when),
        Posting("cash", total),
        *(Posting("receivable", -f, unit, item, p) for p, f in lines),
    )


def test_the_roster_lists_what_is_owed_with_masked_phones(w: Any) -> None:
    bill(w, w.u1, "2024-06", 20000)
    bill(w, w.u1, "2026-10", 22393)
    bill(w, w.u1, "2026-11", 22393)
    bill(w, w.u1, "2026-11", 15000, item="parking")
    bill(w, w.u2, "2026-11", 10000)
    pay(w, w.u1, "2026-11-05", ("2026-10", 22393))
    w.app.collection.log_attempt(ADMIN, w.u1, "visit", "nobody_home", at=at("2026-11-07"))
    roster = w.app.arrears.roster(ADMIN, w.estate, as_of=AS_OF)
    assert [(r.unit, r.fee_item, r.periods, r.amount) for r in roster] == [
        ("101", "property_fee", ("2024-06", "2026-11"), Decimal("423.93")),
        ("101", "parking", ("2026-11",), Decimal("150.00")),
        ("201", "property_fee", ("2026-11",), Decimal("100.00")),
    ]
    first = roster[0]
    assert (first.owner, first.phone, first.years) == ("张三", "138****5678", (2024, 2026))
    assert first.collector_staff_id == w.li
    assert first.last_attempt == "2026-11-07 visit nobody_home"
    assert roster[2].owner == "" and roster[2].collector_staff_id is None
    by_building = w.app.arrears.roster(ADMIN, w.estate, as_of=AS_OF, building_id=w.b1)
    assert {r.unit for r in by_building} == {"101"}
    assert (
        w.app.arrears.roster(ADMIN, w.estate, as_of=AS_OF, collector_staff_id=w.li) == by_building
    )
    oldest = w.app.arrears.roster(ADMIN, w.estate, as_of=AS_OF, sort_by="oldest")
    assert oldest[0].periods[0] == "2024-06"
    clerk = Actor("客服", {"front_desk"}, {w.estate})
    with pytest.raises(PermissionDenied, match="owner.reveal_contact"):
        w.app.arrears.roster(clerk, w.estate, as_of=AS_OF, show_phones=True)
    full = w.app.arrears.roster(ADMIN, w.estate, as_of=AS_OF, show_phones=True)
    assert full[0].phone == "13812345678"
    with pytest.raises(ValidationError, match="sort_by"):
        w.app.arrears.roster(ADMIN, w.estate, sort_by="name")


def test_aging_buckets_sum_to_the_total_outstanding(w: Any) -> None:
    for period, fen in (("2026-11", 100), ("2026-09", 200), ("2025-12", 400), ("2023-01", 800)):
        bill(w, w.u1, period, fen)
    aging = dict(w.app.arrears.aging(ADMIN, w.estate, as_of=AS_OF))
    assert aging == {
        "0-30": Decimal("1.00"),
        "31-90": Decimal("2.00"),
        "91-180": Decimal("0.00"),
        "181-365": Decimal("4.00"),
        "1-2y": Decimal("0.00"),
        "2-3y": Decimal("0.00"),
        ">3y": Decimal("8.00"),
    }
    total = sum(r.amount for r in w.app.arrears.roster(ADMIN, w.estate, as_of=AS_OF))
    assert sum(aging.values()) == total


def test_the_collection_rate_counts_bills_of_the_period_and_what_undid_them(w: Any) -> None:
    bill(w, w.u1, "2026-11", 30000)
    wrong = bill(w, w.u2, "2026-11", 10000)
    bill(w, w.u2, "2026-11", 20000)
    post(w, "reversal", at("2026-11-03"), Posting("receivable", -10000, w.u2, "property_fee",
         "2026-11"), Posting("revenue", 10000, sub="property_fee"), reverses=wrong)  # fmt: skip
    paid = pay(w, w.u1, "2026-11-10", ("2026-11", 30000))
    pay(w, w.u2, "2026-11-11", ("2026-11", 5000))
    post(
        w,
        "reversal",
        at("2026-11-12"),
        Posting("cash", -30000),
        Posting("receivable", 30000, w.u1, "property_fee", "2026-11"),
        reverses=paid,
    )  # fmt: skip  (the cheque bounced)
    pay(w, w.u1, "2026-11-15", ("2026-11", 30000))
    (whole,) = w.app.arrears.collection_rate(ADMIN, w.estate, "2026-11", as_of=AS_OF)
    assert (whole.billed, whole.collected, whole.rate) == (
        Decimal("500.00"),
        Decimal("350.00"),
        Decimal("0.7000"),
    )
    by_building = w.app.arrears.collection_rate(
        ADMIN, w.estate, "2026-11", group_by="building", as_of=AS_OF
    )
    assert [(r.group, r.rate) for r in by_building] == [
        ("1栋", Decimal("1")),
        ("2栋", Decimal("0.25")),
    ]
    by_collector = w.app.arrears.collection_rate(
        ADMIN, w.estate, "2026-11", group_by="collector", as_of=AS_OF
    )
    assert [(r.group, r.collected) for r in by_collector] == [
        (w.li, Decimal("300.00")),
        (None, Decimal("50.00")),
    ]
    (nothing,) = w.app.arrears.collection_rate(ADMIN, w.estate, "2030-01", as_of=AS_OF)
    assert nothing.rate is None  # nothing billed: no rate, never a silent 100%
    with pytest.raises(ValidationError, match="first_period"):
        w.app.arrears.collection_rate(ADMIN, w.estate, "2026/11")


def test_recovery_of_earlier_years_is_reported_apart(w: Any) -> None:
    bill(w, w.u1, "2024-03", 50000)
    bill(w, w.u1, "2026-02", 30000)
    pay(w, w.u1, "2026-05-06", ("2024-03", 50000), ("2026-02", 30000))
    recovered = w.app.arrears.recovery(
        ADMIN, w.estate, datetime(2026, 1, 1, tzinfo=SH), datetime(2027, 1, 1, tzinfo=SH)
    )
    assert recovered == [(None, Decimal("500.00"))]


@given(st.lists(st.integers(1, 400), min_size=1, max_size=8))
def test_bucket_bounds_must_cover_everything_without_gaps(widths: list[int]) -> None:
    buckets, low = [], 0
    for i, width in enumerate(widths):
        buckets.append(AgingBucket(str(i), low, low + width - 1))
        low += width
    buckets.append(AgingBucket("rest", low, None))
    check_buckets(buckets)
    if len(buckets) > 2:
        with pytest.raises(ValidationError, match="without gap"):
            check_buckets([buckets[0], *buckets[2:]])
    check_buckets(DEFAULT_BUCKETS)


def compensate(w: Any, unit: int, when: str, fen: int) -> int:
    """折抵补偿金 through the payments service: settles what is owed, the rest is credit."""
    return int(
        w.app.payments.compensate(
            ADMIN, unit, Decimal(fen) / 100, "地下室泡水", w.boss, at=at(when)
        )
    )


# --- 收缴率: cash over billed, the credits beside it (issue 16, point 5) ------------------


def test_compensation_is_a_credit_shown_beside_the_cash_rate_never_in_it(w: Any) -> None:
    bill(w, w.u1, "2026-11", 30000)
    bill(w, w.u2, "2026-11", 20000)
    pay(w, w.u1, "2026-11-10", ("2026-11", 30000))
    compensate(w, w.u2, "2026-11-12", 20000)  # the flood: compensation settles the bill
    (whole,) = w.app.arrears.collection_rate(ADMIN, w.estate, "2026-11", as_of=AS_OF)
    # Collected is cash: the compensation is not (it gave 100 % before issue 16).
    assert (whole.billed, whole.collected, whole.rate) == (
        Decimal("500.00"), Decimal("300.00"), Decimal("0.6000"),
    )  # fmt: skip
    assert (whole.billed, whole.cash, whole.compensation, whole.other_credits) == (
        Decimal("500.00"),
        Decimal("300.00"),
        Decimal("200.00"),
        Decimal("0.00"),
    )
    assert whole.rate == Decimal("0.6000")  # cash only, what collectors are paid on
    assert (whole.credits, whole.collected) == (Decimal("200.00"), whole.cash)
    by_building = w.app.arrears.collection_rate(
        ADMIN, w.estate, "2026-11", group_by="building", as_of=AS_OF
    )
    assert [(r.group, r.rate, r.credits) for r in by_building] == [
        ("1栋", Decimal("1"), Decimal("0.00")),
        ("2栋", Decimal("0"), Decimal("200.00")),
    ]


def test_a_gateway_payment_put_to_a_unit_from_suspense_is_cash(w: Any) -> None:
    """A payment that arrived for no known order and was then put to the unit (a SUSPENSE
    entry, as ``payments.resolve_suspense`` posts it) is money the owner paid."""
    bill(w, w.u1, "2026-11", 30000)
    post(w, "suspense", at("2026-11-10"), Posting("suspense", 10000),
         Posting("receivable", -10000, w.u1, "property_fee", "2026-11"))  # fmt: skip
    (whole,) = w.app.arrears.collection_rate(ADMIN, w.estate, "2026-11", as_of=NOW)
    assert (whole.cash, whole.other_credits, whole.rate) == (
        Decimal("100.00"), Decimal("0.00"), Decimal("0.3333"),
    )  # fmt: skip


def test_owner_credit_applied_counts_as_what_put_it_there(w: Any) -> None:
    """A prepayment applied to a later bill is cash; the rest of a compensation applied to
    one is still compensation."""
    bill(w, w.u1, "2026-11", 30000)
    bill(w, w.u2, "2026-11", 20000)
    pay(w, w.u1, "2026-11-10", ("2026-11", 30000))
    post(
        w,
        "payment",
        at("2026-11-10"),
        Posting("cash", 20000),
        Posting("owner_credit", -20000, w.u1),
    )  # fmt: skip  (paid ahead: 预交)
    compensate(w, w.u2, "2026-11-12", 50000)  # 200.00 settles November, 300.00 is credit
    bill(w, w.u1, "2026-12", 30000)
    bill(w, w.u2, "2026-12", 20000)
    for unit in (w.u1, w.u2):
        w.app.payments.apply_credit(ADMIN, unit, at=at("2026-12-02"))
    (december,) = w.app.arrears.collection_rate(ADMIN, w.estate, "2026-12", as_of=NOW)
    assert (december.billed, december.collected) == (Decimal("500.00"), Decimal("200.00"))
    assert (december.billed, december.cash, december.compensation) == (
        Decimal("500.00"),
        Decimal("200.00"),  # unit 1's prepayment
        Decimal("200.00"),  # unit 2's compensation, carried as credit
    )
    assert december.rate == Decimal("0.4000")


def test_commission_stays_on_cash_a_compensation_earns_none(run: Any) -> None:
    """Collectors are paid on the cash they bring in: a compensation that settles a bill
    is in no commission line, as it is in no collection rate."""
    w, app = run, run.app
    app.billing.run(ADMIN, w.estate, "2026-10", at=at("2026-10-01"))
    app.billing.run(ADMIN, w.estate, "2026-11", at=at("2026-11-01"))
    app.payments.pay_at_counter(ADMIN, w.u1, Decimal("225"), "cash", at=at("2026-11-05"))
    compensate(w, w.u1, "2026-11-06", 22500)  # the flood settles November's bill
    rates = {"current": "1", "arrears": "2", "old_arrears": "3"}
    app.commission.add_plan(
        ADMIN, w.estate, "收费提成", effective_from=date(2026, 11, 1), params={"rates": rates},
        role="collector",
    )  # fmt: skip
    settled = app.commission.settle(ADMIN, w.estate, "2026-11").statements
    (li,) = [s for s in settled if s.staff_id == w.li]
    assert [line.arithmetic for line in li.lines] == ["225.00 × 2% = 4.50"]  # October's
    (november, _nobody) = app.arrears.collection_rate(
        ADMIN, w.estate, "2026-11", group_by="collector", as_of=NOW
    )
    assert (november.group, november.cash, november.compensation, november.rate) == (
        w.li, Decimal("0.00"), Decimal("225.00"), Decimal("0"),
    )  # fmt: skip


def test_recovered_arrears_are_cash_a_compensation_recovers_nothing(w: Any) -> None:
    bill(w, w.u1, "2024-03", 50000)
    bill(w, w.u2, "2024-03", 30000)
    pay(w, w.u1, "2026-05-06", ("2024-03", 50000))
    compensate(w, w.u2, "2026-05-07", 30000)
    recovered = w.app.arrears.recovery(
        ADMIN, w.estate, datetime(2026, 1, 1, tzinfo=SH), datetime(2027, 1, 1, tzinfo=SH)
    )
    assert recovered == [(None, Decimal("500.00"))]


def _bill_entry(app: Propcare, unit: int, period: str) -> int:
    (entry,) = [b.entry_id for b in app.billing.bills(ADMIN, unit) if b.period == period]
    assert entry is not None
    return entry


def test_a_compensation_a_reversed_bill_released_is_still_compensation(run: Any) -> None:
    """Point 1 with point 5: the money a reversed bill releases to owner credit keeps its
    source, so compensation never turns into cash when it moves to the next bill."""
    w, app = run, run.app
    app.billing.run(ADMIN, w.estate, "2026-11", at=at("2026-11-01"))  # 225.00 each
    app.payments.pay_at_counter(ADMIN, w.u1, Decimal("225"), "cash", at=at("2026-11-05"))
    compensate(w, w.u2, "2026-11-12", 22500)  # the flood settles 201's November
    app.ledger.reverse(ADMIN, _bill_entry(app, w.u2, "2026-11"), "重复出账", at=at("2026-11-20"))
    app.billing.run(ADMIN, w.estate, "2026-12", at=at("2026-12-01"))  # the credit settles it
    rate = app.arrears.collection_rate
    (november,) = rate(ADMIN, w.estate, "2026-11", as_of=NOW)
    assert (november.billed, november.cash, november.compensation) == (
        Decimal("225.00"), Decimal("225.00"), Decimal("0.00"),
    )  # fmt: skip
    (december,) = rate(ADMIN, w.estate, "2026-12", as_of=NOW)
    assert (december.billed, december.cash, december.compensation) == (
        Decimal("450.00"), Decimal("0.00"), Decimal("225.00"),
    )  # fmt: skip
    assert december.rate == Decimal("0")
    # Roster, aging and balance agree: 101 owes December once it is due; 201 owes nothing.
    assert app.ledger.unit_balance(ADMIN, w.u2) == Decimal("0.00")
    late = datetime(2026, 12, 20, 9, 0, tzinfo=SH)
    assert [(r.unit, r.amount) for r in app.arrears.roster(ADMIN, w.estate, as_of=late)] == [
        ("101", Decimal("225.00"))
    ]
    assert sum(a for _b, a in app.arrears.aging(ADMIN, w.estate, as_of=late)) == Decimal("225.00")


def test_a_correction_gives_back_what_credit_settled_first_as_the_ledger_reads_it(
    run: Any,
) -> None:
    """A bill corrected down releases what owner credit settled on it before what was
    paid on it (the ledger's reading, which a later refund follows): here compensation
    carried as credit, so the period keeps its cash and the next bill gets compensation."""
    w, app = run, run.app
    compensate(w, w.u1, "2026-10-20", 10000)  # nothing billed yet: all of it is credit
    app.billing.run(ADMIN, w.estate, "2026-11", at=at("2026-11-01"))  # credit settles 100.00
    paid = app.payments.pay_at_counter(ADMIN, w.u1, Decimal("125"), "cash", at=at("2026-11-05"))
    app.estates.update_unit(ADMIN, w.u1, floor_area=Decimal("80"))  # 200.00, not 225.00
    app.clock.set(at("2026-11-20"))  # type: ignore[attr-defined]
    fixed = app.billing.correct(ADMIN, w.u1, "2026-11", "面积复测 90 -> 80")
    assert fixed.released == Decimal("25.00")
    app.clock.set(NOW)  # type: ignore[attr-defined]
    app.billing.run(ADMIN, w.estate, "2026-12", at=at("2026-12-01"))
    rate = app.arrears.collection_rate  # group 1栋: unit 101 alone
    (november, _) = rate(ADMIN, w.estate, "2026-11", group_by="building", as_of=NOW)
    assert november.group == "1栋"
    assert (november.billed, november.cash, november.compensation) == (
        Decimal("200.00"), Decimal("125.00"), Decimal("75.00"),
    )  # fmt: skip
    (december, _) = rate(ADMIN, w.estate, "2026-12", group_by="building", as_of=NOW)
    assert (december.billed, december.cash, december.compensation) == (
        Decimal("200.00"), Decimal("0.00"), Decimal("25.00"),
    )  # fmt: skip
    # Refunding the payment reopens November by all of it: the cash goes, the
    # compensation stays, and no figure goes below zero.
    app.payments.refund(ADMIN, paid.payment_id, Decimal("125"), "业主申请退款", at=NOW)
    (november, _) = rate(ADMIN, w.estate, "2026-11", group_by="building", as_of=NOW)
    assert (november.billed, november.cash, november.compensation) == (
        Decimal("200.00"), Decimal("0.00"), Decimal("75.00"),
    )  # fmt: skip
    assert app.ledger.open_receivables(ADMIN, w.u1) == [
        ("property_fee", "2026-11", Decimal("125.00")),
        ("property_fee", "2026-12", Decimal("175.00")),
    ]


# --- one collection rate, one stated cut-off (issue 16, point 7) ------------------------


def test_the_collection_rate_is_as_of_the_months_last_instant_stated_in_the_value(
    w: Any,
) -> None:
    from propcare.appraisal.metrics import MetricContext, builtin_values
    from propcare.reports.monthly import build_monthly

    bill(w, w.u1, "2026-11", 30000)
    pay(w, w.u1, "2026-11-20", ("2026-11", 10000))
    midnight = datetime(2026, 12, 1, tzinfo=SH)  # the first instant of December
    post(w, "payment", midnight, Posting("cash", 5000),
         Posting("receivable", -5000, w.u1, "property_fee", "2026-11"))  # fmt: skip
    pay(w, w.u1, "2026-12-03", ("2026-11", 5000))
    (rate,) = w.app.arrears.collection_rate(ADMIN, w.estate, "2026-11")  # it is 12-08
    assert (rate.collected, rate.rate) == (Decimal("100.00"), Decimal("0.3333"))
    assert rate.as_of == midnight - timedelta(microseconds=1)
    (now,) = w.app.arrears.collection_rate(ADMIN, w.estate, "2026-11", as_of=NOW)
    assert (now.cash, now.as_of) == (Decimal("200.00"), NOW)  # asked for: stated too
    (running,) = w.app.arrears.collection_rate(ADMIN, w.estate, "2026-12")
    assert running.as_of == NOW  # a month still running: as of now

    # The monthly report and the appraisal's metric read the same figure for the month.
    report = build_monthly(w.app, ADMIN, w.estate, "2026-11")
    (summary,) = report.section("collection_summary").rows
    assert summary[1:6] == (
        rate.billed, rate.cash, rate.compensation, rate.other_credits, rate.rate,
    )  # fmt: skip
    assert "2026-11-30 23:59" in (report.section("collection_summary").note or "")
    (collector,) = w.app.arrears.collection_rate(ADMIN, w.estate, "2026-11", group_by="collector")
    context = MetricContext(
        w.app, ADMIN, w.estate, "2026-11", datetime(2026, 11, 1, tzinfo=SH), midnight,
        min(midnight, NOW), (("staff", w.li),), frozenset(),
    )  # fmt: skip
    values = builtin_values(context)
    assert values[("staff", w.li)]["collection_rate"] == collector.rate == rate.rate


# --- the last attempt, by when it happened (issue 16, point 8) --------------------------


def test_the_roster_shows_the_attempt_that_happened_last_not_the_one_entered_last(
    w: Any,
) -> None:
    bill(w, w.u1, "2026-10", 22393)
    collect = w.app.collection
    collect.log_attempt(
        ADMIN, w.u1, "phone", "promised", promised_date=date(2026, 12, 10), at=at("2026-12-01")
    )
    collect.log_attempt(ADMIN, w.u1, "visit", "refused", at=at("2026-10-27"))  # the paper log
    (line,) = w.app.arrears.roster(ADMIN, w.estate, as_of=NOW)
    assert line.last_attempt == "2026-12-01 phone promised"
    # As of a day before the call, the roster shows what was known then.
    (then,) = w.app.arrears.roster(ADMIN, w.estate, as_of=at("2026-11-20"))
    assert then.last_attempt == "2026-10-27 visit refused"


# --- arrears are what is past due (issue 16, point 9) -----------------------------------


@pytest.fixture
def run(w: Any) -> Any:
    """The estate with units handed over and a property fee due 15 days into the period
    (the 16th), billed by bill runs on the first morning of the month."""
    app = w.app
    for unit in (w.u1, w.u2):
        app.estates.update_unit(ADMIN, unit, handover_date=date(2020, 1, 1))
    app.billing.add_fee_item(
        ADMIN, w.estate, "property_fee", "物业费", "area", rates={"residential": "2.50"}
    )
    app.billing.add_fee_item(ADMIN, w.estate, "card", "门禁卡", "one_off")
    return w


def test_right_after_a_bill_run_nothing_is_arrears_until_it_falls_due(run: Any) -> None:
    w, app = run, run.app
    app.billing.run(ADMIN, w.estate, "2026-11", at=at("2026-11-01"))
    assert app.arrears.roster(ADMIN, w.estate, as_of=at("2026-11-02")) == []
    assert sum(a for _b, a in app.arrears.aging(ADMIN, w.estate, as_of=at("2026-11-02"))) == 0
    billed = app.arrears.roster(ADMIN, w.estate, as_of=at("2026-11-02"), include_not_due=True)
    assert [(r.unit, r.amount, r.not_due, r.due_date, r.days_past_due) for r in billed] == [
        ("101", Decimal("225.00"), Decimal("225.00"), date(2026, 11, 16), -14),
        ("201", Decimal("225.00"), Decimal("225.00"), date(2026, 11, 16), -14),
    ]
    aging = app.arrears.aging(ADMIN, w.estate, as_of=at("2026-11-02"), include_not_due=True)
    assert aging[0] == ("not_due", Decimal("450.00"))
    assert [a for _b, a in aging[1:]] == [Decimal("0.00")] * len(DEFAULT_BUCKETS)
    # Due on the 16th: paying that day is on time; from the 17th it is arrears.
    last_day = datetime(2026, 11, 16, 23, 59, tzinfo=SH)
    assert app.arrears.roster(ADMIN, w.estate, as_of=last_day) == []
    late = app.arrears.roster(ADMIN, w.estate, as_of=at("2026-11-17"))
    assert [(r.unit, r.amount, r.not_due, r.days_past_due) for r in late] == [
        ("101", Decimal("225.00"), Decimal("0.00"), 1),
        ("201", Decimal("225.00"), Decimal("0.00"), 1),
    ]
    # December's run: November stays arrears, December is not due yet.
    app.billing.run(ADMIN, w.estate, "2026-12", at=at("2026-12-01"))
    (first, _second) = app.arrears.roster(ADMIN, w.estate, as_of=NOW, sort_by="unit")
    assert (first.periods, first.amount, first.days_past_due) == (
        ("2026-11",), Decimal("225.00"), 22,
    )  # fmt: skip
    (both, _) = app.arrears.roster(ADMIN, w.estate, as_of=NOW, sort_by="unit", include_not_due=True)
    assert (both.periods, both.amount, both.not_due) == (
        ("2026-11", "2026-12"), Decimal("450.00"), Decimal("225.00"),
    )  # fmt: skip


def test_aging_counts_the_days_past_the_due_date_not_from_the_period_start(run: Any) -> None:
    w, app = run, run.app
    app.billing.update_fee_item(ADMIN, w.estate, "property_fee", due=45)
    app.billing.run(ADMIN, w.estate, "2026-08", at=at("2026-08-01"))  # due 2026-09-15
    aging = dict(app.arrears.aging(ADMIN, w.estate, as_of=AS_OF))
    # 111 days after the period began, 66 days past due.
    assert aging["31-90"] == Decimal("450.00") and aging["91-180"] == Decimal("0.00")
    (line, _) = app.arrears.roster(ADMIN, w.estate, as_of=AS_OF)
    assert (line.due_date, line.days_past_due) == (date(2026, 9, 15), 66)


def test_a_charge_without_a_bill_is_due_the_day_it_was_made(run: Any) -> None:
    w, app = run, run.app
    app.clock.set(at("2026-11-20"))  # type: ignore[attr-defined]
    app.billing.charge(ADMIN, w.u1, "card", Decimal("30"))  # an access card at the counter
    evening = datetime(2026, 11, 20, 23, 0, tzinfo=SH)
    assert app.arrears.roster(ADMIN, w.estate, as_of=evening) == []
    (line,) = app.arrears.roster(ADMIN, w.estate, as_of=evening, include_not_due=True)
    assert (line.fee_item, line.due_date, line.not_due) == ("card", date(2026, 11, 20),
                                                              Decimal("30.00"))  # fmt: skip
    next_morning = datetime(2026, 11, 21, 0, 30, tzinfo=SH)
    (line,) = app.arrears.roster(ADMIN, w.estate, as_of=next_morning)
    assert (line.fee_item, line.days_past_due, line.amount) == ("card", 1, Decimal("30.00"))
    assert dict(app.arrears.aging(ADMIN, w.estate, as_of=next_morning))["0-30"] == Decimal("30.00")


# --- the explanation page's examples ------------------------------------------------------

PAGE = Path(__file__).resolve().parents[1] / "docs" / "explanation" / "collection-figures.md"


def test_the_collection_figures_page_runs_as_written() -> None:
    """docs/explanation/collection-figures.md: its ```python blocks, in order, in one
    namespace (the definitions it states are the ones its examples assert)."""
    blocks = re.findall(r"^```python[ \t]*\n(.*?)^```[ \t]*$", PAGE.read_text("utf-8"), re.S | re.M)
    assert len(blocks) == 2
    namespace: dict[str, Any] = {"__name__": "collection_figures"}
    for block in blocks:
        exec(compile(block, str(PAGE), "exec"), namespace)


# --- the SQL against a reference in Python ----------------------------------------------
#
# The roster, aging and the collection rate run as SQL for speed. Below is what they
# compute, written plainly over the journal entries and the bills' due dates; a property
# holds the services to it on random ledgers: bills with and without a bill row, late
# fees, payments, compensations, prepayments and credit applied, other credits, and
# reversals of any of them.

UNITS = 2
ITEMS = ("property_fee", "parking")
PERIODS = ("2026-09", "2026-10", "2026-11")
T_START = datetime(2026, 9, 1, 8, 0, tzinfo=SH)


@attrs.frozen
class Stored:
    """A journal entry as the reference reads it."""

    id: int
    kind: str
    at: datetime
    reverses: int | None
    postings: tuple[Posting, ...]


def reference_lines(
    entries: list[Stored], due: dict[tuple[int, str, str], date], as_of: datetime
) -> dict[tuple[int, str, str], tuple[int, date]]:
    """(unit, fee item, period) -> (fen owed, due date) of each line owed at ``as_of``:
    a bill row's due date, else the local day the line was first charged."""
    owed: dict[tuple[int, str, str], int] = {}
    first: dict[tuple[int, str, str], datetime] = {}
    for e in entries:
        if e.at > as_of:
            continue
        for p in e.postings:
            if p.account == "receivable":
                assert p.unit_id is not None and p.fee_item and p.period
                key = (p.unit_id, p.fee_item, p.period)
                owed[key] = owed.get(key, 0) + p.amount_fen
                first[key] = min(first.get(key, e.at), e.at)
    return {
        k: (fen, due.get(k) or first[k].astimezone(SH).date()) for k, fen in owed.items() if fen > 0
    }


def reference_roster(
    lines: dict[tuple[int, str, str], tuple[int, date]], day: date, include_not_due: bool
) -> dict[tuple[int, str], tuple[tuple[str, ...], Decimal, date, int, Decimal]]:
    out: dict[tuple[int, str], list[tuple[str, int, date]]] = {}
    for (unit, item, period), (fen, due) in lines.items():
        if include_not_due or due < day:
            out.setdefault((unit, item), []).append((period, fen, due))
    return {
        key: (
            tuple(sorted(p for p, _f, _d in got)),
            from_fen(sum(f for _p, f, _d in got)),
            min(d for _p, _f, d in got),
            (day - min(d for _p, _f, d in got)).days,
            from_fen(sum(f for _p, f, d in got if d >= day)),
        )
        for key, got in out.items()
    }


def reference_aging(
    lines: dict[tuple[int, str, str], tuple[int, date]], day: date, include_not_due: bool
) -> list[tuple[str, Decimal]]:
    totals = {b.label: 0 for b in DEFAULT_BUCKETS}
    not_due = 0
    for fen, due in lines.values():
        days = (day - due).days
        if days <= 0:
            not_due += fen
            continue
        label = next(
            b.label for b in DEFAULT_BUCKETS if b.low <= days and (b.high is None or days <= b.high)
        )
        totals[label] += fen
    shown = [(label, from_fen(fen)) for label, fen in totals.items()]
    return [("not_due", from_fen(not_due)), *shown] if include_not_due else shown


def reference_rate(
    entries: list[Stored], first: str, last: str, as_of: datetime
) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """(billed, cash, compensation, other credits) of the periods' bills at ``as_of``."""
    kinds = {e.id: e.kind for e in entries}
    sums = {"billed": 0, "cash": 0, "compensation": 0, "other_credits": 0}
    moves: dict[int, list[CreditMove]] = {}
    for e in sorted(entries, key=lambda e: (e.at, e.id)):
        if e.at > as_of:
            continue
        kind = kinds[e.reverses] if e.reverses is not None else e.kind
        for p in e.postings:
            if p.account != "receivable" or p.fee_item == "late_fee":
                continue
            assert p.period is not None
            if first <= p.period <= last:
                what = settled_by(kind)
                sums[what] += p.amount_fen if what == "billed" else -p.amount_fen
        touched = {p.unit_id for p in e.postings if p.account == "owner_credit"}
        if kind not in CHARGE_KINDS:
            touched |= {p.unit_id for p in e.postings if p.account == "receivable"}
        for unit in touched:
            assert unit is not None
            credit = sum(
                p.amount_fen
                for p in e.postings
                if p.account == "owner_credit" and p.unit_id == unit
            )
            settled = tuple(
                (str(p.fee_item), str(p.period), p.amount_fen)
                for p in e.postings
                if p.account == "receivable" and p.unit_id == unit and kind not in CHARGE_KINDS
            )
            moves.setdefault(unit, []).append(
                CreditMove(e.id, e.at, kind, credit, settled, e.reverses)
            )
    for unit_moves in moves.values():
        for _at, item, period, source, fen in credit_sources(unit_moves):
            if item != "late_fee" and first <= period <= last:
                sums["cash"] -= fen
                sums[source] += fen
    return (
        from_fen(sums["billed"]),
        from_fen(sums["cash"]),
        from_fen(sums["compensation"]),
        from_fen(sums["other_credits"]),
    )


class Books:
    """A small ledger written through ``post_in``, remembering what it wrote."""

    def __init__(self, app: Propcare, estate: int, units: list[int]) -> None:
        self.app, self.estate, self.units = app, estate, units
        self.entries: list[Stored] = []
        self.due: dict[tuple[int, str, str], date] = {}
        self.owed: dict[tuple[int, str, str], int] = {}
        self.credit: dict[int, int] = dict.fromkeys(units, 0)
        self.at = T_START

    def post(
        self,
        kind: str,
        postings: list[Posting],
        *,
        reverses: int | None = None,
        bill_row: tuple[tuple[int, str, str], date, int] | None = None,
    ) -> None:
        entry = JournalEntry(
            self.estate, kind, self.at, f"p{len(self.entries)}", "test", postings,
            reverses=reverses,
        )  # fmt: skip
        with self.app.unit_of_work() as uow:
            entry_id, _ = self.app.ledger.post_in(uow, entry)
            if bill_row is not None:
                (unit, item, period), due, fen = bill_row
                line = BillLine(unit, item, period, fen, due, ((None, fen),))
                uow.billing.add_bills(self.estate, [line], [entry_id])
                self.due[(unit, item, period)] = due
            uow.commit()
        self.entries.append(Stored(entry_id, kind, self.at, reverses, tuple(postings)))
        for p in postings:
            if p.account == "receivable":
                key = (int(p.unit_id or 0), str(p.fee_item), str(p.period))
                self.owed[key] = self.owed.get(key, 0) + p.amount_fen
            elif p.account == "owner_credit":
                self.credit[int(p.unit_id or 0)] -= p.amount_fen

    def settle(self, unit: int, fen: int) -> list[Posting]:
        """Receivable credits for ``fen`` over the unit's open lines, oldest first."""
        out = []
        for key in sorted(k for k, v in self.owed.items() if k[0] == unit and v > 0):
            take = min(fen, self.owed[key])
            if take:
                out.append(Posting("receivable", -take, unit, key[1], key[2]))
                fen -= take
        return out

    def apply(self, op: tuple[Any, ...]) -> None:
        name, unit_no, item_no, period_no, fen, flag_, days, step = op
        self.at += timedelta(hours=step)
        unit = self.units[unit_no]
        item, period = ITEMS[item_no], PERIODS[period_no]
        if name == "bill":
            key = (unit, item, period)
            row = None
            if flag_ and key not in self.due:
                row = (key, period_start(period) + timedelta(days=days), fen)
            self.post("bill", [Posting("receivable", fen, unit, item, period),
                               Posting("revenue", -fen, sub=item)], bill_row=row)  # fmt: skip
        elif name == "late_fee":
            self.post("late_fee", [Posting("receivable", fen, unit, "late_fee", period),
                                   Posting("late_fee_revenue", -fen)])  # fmt: skip
        elif name in ("payment", "compensation"):
            lines = self.settle(unit, fen)
            rest = fen - sum(-p.amount_fen for p in lines)
            source = Posting("cash" if name == "payment" else "compensation", fen)
            extra = [Posting("owner_credit", -rest, unit)] if rest else []
            self.post(name, [source, *lines, *extra])
        elif name == "credit_applied":
            lines = self.settle(unit, min(fen, self.credit[unit]))
            if lines:
                used = sum(-p.amount_fen for p in lines)
                self.post("credit_applied", [Posting("owner_credit", used, unit), *lines])
        elif name == "waiver":  # another credit against the fee (not cash, not compensation)
            lines = self.settle(unit, fen)
            if lines:
                used = sum(-p.amount_fen for p in lines)
                self.post("waiver", [Posting("revenue", used, sub=item), *lines])
        elif name == "reversal":
            done = {e.reverses for e in self.entries}
            undoable = [e for e in self.entries if e.kind != "reversal" and e.id not in done]
            if undoable:
                e = undoable[days % len(undoable)]
                self.post("reversal", [attrs.evolve(p, amount_fen=-p.amount_fen)
                                       for p in e.postings], reverses=e.id)  # fmt: skip
                self.release({p.unit_id for p in e.postings if p.unit_id is not None})

    def release(self, units: set[int]) -> None:
        """As the ledger does after a correction: lines below zero go to owner credit."""
        for unit in sorted(units):
            below = [(k[1], k[2], v) for k, v in sorted(self.owed.items()) if k[0] == unit]
            entry = release(self.estate, unit, below, at=self.at, actor="test", key="-", memo="")
            if entry is not None:
                self.post("credit_applied", list(entry.postings))


OPS = st.tuples(
    st.sampled_from(
        ["bill", "bill", "bill", "late_fee", "payment", "payment", "compensation",
         "credit_applied", "credit_applied", "waiver", "reversal"]
    ),
    st.integers(0, UNITS - 1),
    st.integers(0, len(ITEMS) - 1),
    st.integers(0, len(PERIODS) - 1),
    st.integers(1, 40_000),
    st.booleans(),  # a bill row
    st.integers(0, 60),  # days from the period start to the due date; which entry to reverse
    st.integers(0, 24 * 12),  # hours since the operation before
)  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=st.lists(OPS, min_size=1, max_size=30),
    cut=st.integers(0, 24 * 140),
    span=st.tuples(st.integers(0, 2), st.integers(0, 2)),
)
def test_roster_aging_and_rate_equal_the_python_reference(
    ops: list[tuple[Any, ...]], cut: int, span: tuple[int, int]
) -> None:
    with Propcare.open("sqlite://:memory:", load_entrypoints=False, clock=FixedClock(NOW)) as app:
        estate = app.estates.create(ADMIN, "参照")
        building = app.estates.add_building(ADMIN, estate.id, "1栋")
        units = [
            app.estates.add_unit(ADMIN, building.id, f"10{i}", Decimal("90")).id
            for i in range(UNITS)
        ]
        books = Books(app, estate.id, units)
        for op in ops:
            books.apply(op)
        as_of = T_START + timedelta(hours=cut)
        day = as_of.astimezone(SH).date()
        lines = reference_lines(books.entries, books.due, as_of)
        for include in (False, True):
            roster = app.arrears.roster(ADMIN, estate.id, as_of=as_of, include_not_due=include)
            assert {
                (r.unit_id, r.fee_item): (r.periods, r.amount, r.due_date, r.days_past_due,
                                          r.not_due)
                for r in roster
            } == reference_roster(lines, day, include)  # fmt: skip
            assert len(roster) == len(reference_roster(lines, day, include))
            aging = app.arrears.aging(ADMIN, estate.id, as_of=as_of, include_not_due=include)
            assert aging == reference_aging(lines, day, include)
        first, last = PERIODS[min(span)], PERIODS[max(span)]
        (rate,) = app.arrears.collection_rate(ADMIN, estate.id, first, last, as_of=as_of)
        assert (rate.billed, rate.cash, rate.compensation, rate.other_credits) == (
            reference_rate(books.entries, first, last, as_of)
        )


# --- the streaming roster (issue 17, points 1 and 3) ---------------------------------------

# The orders the roster documents, in Python: text by code point, the unit id last.
ORDERS = {
    "amount": lambda r: (-r.amount, r.building, r.unit, r.fee_item, r.unit_id),
    "unit": lambda r: (r.building, r.unit, r.fee_item, r.unit_id),
    "oldest": lambda r: (r.periods[0], r.building, r.unit, r.fee_item, r.unit_id),
}


@pytest.fixture
def mixed(w: Any) -> Any:
    """Names whose code-point order is not a dictionary's (upper before lower case, "1-01"
    before "101", "10" before "9"), equal amounts, several fee items and periods."""
    app = w.app
    upper = app.estates.add_building(ADMIN, w.estate, "B栋")
    lower = app.estates.add_building(ADMIN, w.estate, "a栋")
    numbers = {upper.id: ["1-01", "101", "10", "9"], lower.id: ["A1", "a1"]}
    units = [w.u1, w.u2]
    for building, names in numbers.items():
        units += [app.estates.add_unit(ADMIN, building, n, Decimal("90")).id for n in names]
    for i, unit in enumerate(units):
        bill(w, unit, "2026-09", 10000 + 5000 * (i % 3))
        if i % 2:
            bill(w, unit, "2025-12", 3000)
            bill(w, unit, "2026-10", 10000, item="parking")
    w.units = units
    return w


def test_the_streaming_roster_is_the_roster_in_each_order_the_database_sorts(mixed: Any) -> None:
    app = mixed.app
    for sort_by, key in ORDERS.items():
        streamed = list(app.arrears.iter_roster(ADMIN, mixed.estate, as_of=NOW, sort_by=sort_by))
        assert streamed == app.arrears.roster(ADMIN, mixed.estate, as_of=NOW, sort_by=sort_by)
        assert streamed == sorted(streamed, key=key), sort_by
        assert len(streamed) == 12
        building = app.arrears.roster(
            ADMIN, mixed.estate, as_of=NOW, sort_by=sort_by, building_id=mixed.b1
        )
        assert building == [r for r in streamed if r.building == "1栋"]
    (first, *_rest) = app.arrears.iter_roster(ADMIN, mixed.estate, as_of=NOW, sort_by="unit")
    assert (first.building, first.unit) == ("1栋", "101")
    by_unit = app.arrears.roster(ADMIN, mixed.estate, as_of=NOW, sort_by="unit")
    units = [(r.building, r.unit) for r in by_unit if r.fee_item == "property_fee"]
    assert units[2:] == [
        ("B栋", "1-01"),
        ("B栋", "10"),
        ("B栋", "101"),
        ("B栋", "9"),
        ("a栋", "A1"),
        ("a栋", "a1"),
    ]


def test_the_streaming_roster_checks_its_call_before_a_line_is_read(w: Any) -> None:
    """Bad arguments and refusals are raised by the call, not by the first ``next``; a
    roster with full phones is audited then, before any phone is shown."""
    bill(w, w.u1, "2026-09", 10000)
    with pytest.raises(ValidationError, match="sort_by"):
        w.app.arrears.iter_roster(ADMIN, w.estate, sort_by="name")
    with pytest.raises(ValidationError, match="building_id"):
        w.app.arrears.iter_roster(ADMIN, w.estate, building_id=0)
    clerk = Actor("客服", {"front_desk"}, {w.estate})
    with pytest.raises(PermissionDenied, match="owner.reveal_contact"):
        w.app.arrears.iter_roster(clerk, w.estate, show_phones=True)
    lines = w.app.arrears.iter_roster(ADMIN, w.estate, as_of=NOW, show_phones=True)
    assert [r.purpose for r in w.app.owners.reveals(ADMIN, w.estate)] == ["roster"]
    assert next(lines).phone == "13812345678"
    lines.close()


def test_a_streaming_roster_left_unfinished_ends_its_read_when_closed(w: Any) -> None:
    for period in ("2026-07", "2026-08", "2026-09"):
        bill(w, w.u1, period, 10000, item=f"fee_{period}")
    lines = w.app.arrears.iter_roster(ADMIN, w.estate, as_of=NOW)
    assert next(lines).unit == "101"
    lines.close()  # the read transaction ends: the app reads and writes again
    bill(w, w.u2, "2026-09", 10000)
    assert len(w.app.arrears.roster(ADMIN, w.estate, as_of=NOW)) == 4
