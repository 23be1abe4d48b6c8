"""Commission (提成): worked examples computed by hand, properties, and bad input.

The world: one building of ten 100 m2 flats at 2.50 a month (250.00 a bill), billed for
2025-12 (an earlier year), 2026-09 (earlier this year) and 2026-10 (the month being paid).
李 collects the building; 王 is another collector.
"""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from propcare import Actor, FixedClock, Propcare, UnitSpec
from propcare.calendar import DEFAULT_CALENDARS
from propcare.commission.basis import Attributor, BasisRow, CreditedLine, Split
from propcare.commission.plans import (
    CollectorMonth,
    Plan,
    WorkingWeeks,
    compute_tiered,
    parse_tiered,
)
from propcare.commission.settle import (
    SourceTotals,
    Statement,
    clawback_lines,
    month_from_inputs,
    statement_csv,
)
from propcare.errors import (
    CalendarDataMissing,
    Conflict,
    PermissionDenied,
    PropcareError,
    ValidationError,
)

SH = ZoneInfo("Asia/Shanghai")
ADMIN = Actor.system()
OCT = datetime(2026, 10, 9, 10, 0, tzinfo=SH)
NOV = datetime(2026, 11, 2, 9, 0, tzinfo=SH)
RATES = {"current": "1", "arrears": "2", "old_arrears": "3"}


class World:
    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        self.clock = FixedClock(datetime(2026, 10, 1, 9, 0, tzinfo=SH))
        self.app = Propcare.open(
            "sqlite://:memory:", load_entrypoints=False, clock=self.clock, config=config
        )
        app = self.app
        self.estate = app.estates.create(ADMIN, "翠苑").id
        self.building = app.estates.add_building(ADMIN, self.estate, "1栋").id
        units = app.estates.add_units(
            ADMIN,
            self.building,
            [
                UnitSpec(f"{101 + i}", Decimal("100"), "residential", date(2020, 1, 1))
                for i in range(10)
            ],
        )
        self.units = [u.id for u in units]
        self.li = app.staff.create(ADMIN, self.estate, "李收费", ["collector"], date(2020, 1, 1)).id
        self.wang = app.staff.create(
            ADMIN, self.estate, "王收费", ["collector"], date(2020, 1, 1)
        ).id
        app.collection.assign_collector(
            ADMIN, self.estate, self.li, start=date(2020, 1, 1), building_id=self.building
        )
        app.billing.add_fee_item(
            ADMIN, self.estate, "property_fee", "物业费", "area", rates={"residential": "2.50"}
        )
        for period in ("2025-12", "2026-09", "2026-10"):
            day = datetime(int(period[:4]), int(period[5:]), 1, 9, tzinfo=SH)
            app.billing.run(ADMIN, self.estate, period, at=day)
        self.n = 0

    def pay(self, unit: int, amount: str, at: datetime = OCT, **kw: Any) -> int:
        self.n += 1
        self.clock.set(max(self.clock.now(), at))
        paid = self.app.payments.pay_at_counter(
            ADMIN, self.units[unit], Decimal(amount), "cash", at=at, txn_id=f"slip-{self.n}", **kw
        )
        return paid.payment_id

    def plan(self, params: Mapping[str, Any] | None = None, **kw: Any) -> Plan:
        kw.setdefault("role", "collector")
        return self.app.commission.add_plan(
            ADMIN,
            self.estate,
            kw.pop("name", "收费提成"),
            effective_from=kw.pop("effective_from", date(2026, 10, 1)),
            params=params or {"rates": RATES},
            **kw,
        )

    def target(self, amount: str, period: str = "2026-10") -> None:
        for staff in (self.li, self.wang):
            self.app.commission.set_target(ADMIN, staff, period, amount=Decimal(amount))

    def settle(self, period: str = "2026-10", at: datetime = NOV) -> dict[int, Statement]:
        self.clock.set(max(self.clock.now(), at))
        return {
            s.staff_id: s
            for s in self.app.commission.settle(ADMIN, self.estate, period).statements
            if s.sequence == 0
        }


@pytest.fixture
def w() -> Iterator[World]:
    world = World()
    yield world
    world.app.close()


def _arith(s: Statement) -> list[str]:
    return [line.arithmetic for line in s.lines]


# --- worked examples, by hand ---------------------------------------------------------------


def test_rates_differ_by_the_age_of_what_was_paid(w: World) -> None:
    w.pay(0, "250")  # the oldest bill: 2025-12, an earlier year: 3%
    w.pay(1, "500")  # 2025-12 and 2026-09: 3% and 2%
    w.pay(2, "800")  # all three bills (750.00) and 50.00 ahead: 3%, 2%, 1%, 1%
    w.plan()
    li = w.settle()[w.li]
    # In the fixed order: by time, slip number, then bill period ('' for credit first).
    assert _arith(li) == [
        "250.00 × 3% = 7.50",
        "250.00 × 3% = 7.50",
        "250.00 × 2% = 5.00",
        "50.00 × 1% = 0.50",  # owner credit (预交) pays the current rate
        "250.00 × 3% = 7.50",
        "250.00 × 2% = 5.00",
        "250.00 × 1% = 2.50",
    ]
    assert li.total == Decimal("35.50")  # 7.50 x 3 + 5.00 x 2 + 2.50 + 0.50
    assert {line.basis for line in li.lines} == {"old_arrears", "arrears", "current", "prepayment"}


def test_whole_amount_tiers_pay_the_reached_tier_on_everything(w: World) -> None:
    tiers = [
        {"from": "0", "to": "0.8", "factor": "0.5"},
        {"from": "0.8", "to": "1", "factor": "1"},
        {"from": "1", "to": None, "factor": "1.5"},
    ]
    w.plan({"rates": {"current": "1", "arrears": "1", "old_arrears": "1"}, "tiers": tiers})
    w.target("1000")
    for unit in range(3):
        w.pay(unit, "250")
    w.pay(3, "49.99")
    li = w.settle()[w.li]
    # 799.99 of 1,000.00 is 79.999%: the first tier, 0.5 on everything.
    assert li.inputs["attainment"] == "0.8000"  # rounded for display; the tier used the exact
    assert {line.factor for line in li.lines} == {Decimal("0.5")}
    assert _arith(li)[-1] == "49.99 × 1% × 0.5 = 0.24995 → 0.25"
    assert li.total == Decimal("4.00")  # 799.99 x 1% x 0.5 = 3.99995


def test_marginal_tiers_pay_each_slice_at_its_own_factor(w: World) -> None:
    tiers = [{"from": "0", "to": "0.5", "factor": "1"}, {"from": "0.5", "to": None, "factor": "2"}]
    w.plan({"rates": {"old_arrears": "1"}, "tiers": tiers, "mode": "marginal"})
    w.target("1000")
    w.pay(0, "250", OCT)
    w.pay(1, "200", OCT + timedelta(hours=1))
    w.pay(2, "150", OCT + timedelta(hours=2))  # straddles 500.00: 50 at 1, 100 at 2
    li = w.settle()[w.li]
    assert _arith(li) == [
        "250.00 × 1% = 2.50",
        "200.00 × 1% = 2.00",
        "50.00 × 1% = 0.50",
        "100.00 × 1% × 2 = 2.00",
    ]
    assert [line.tier for line in li.lines] == ["0%–50%", "0%–50%", "0%–50%", "50%–"]
    assert li.total == Decimal("7.00")


def test_nothing_is_paid_below_the_threshold(w: World) -> None:
    w.plan(
        {"rates": RATES, "threshold": "0.6", "tiers": [{"from": "0", "to": None, "factor": "1"}]}
    )
    w.target("1000")
    w.pay(0, "250")
    w.pay(1, "250")
    below = w.settle()[w.li]
    assert below.total == 0 and {line.tier for line in below.lines} == {"below threshold"}


def test_a_visit_quota_multiplies_or_deducts(w: World) -> None:
    def visits(staff: int) -> None:
        # 24x7 calendar: all 31 days of October are due, 2 visits a day.
        for day in range(1, 11):  # ten full days
            for unit in (0, 1):
                w.app.collection.log_attempt(
                    ADMIN, w.units[unit], "visit", "nobody_home", collector_staff_id=staff,
                    at=datetime(2026, 10, day, 15, tzinfo=SH),
                )  # fmt: skip
        for day in range(11, 16):  # five half days
            w.app.collection.log_attempt(
                ADMIN, w.units[2], "visit", "refused", collector_staff_id=staff,
                at=datetime(2026, 10, day, 15, tzinfo=SH),
            )  # fmt: skip

    visits(w.li)
    visits(w.wang)
    w.app.collection.assign_collector(
        ADMIN, w.estate, w.wang, start=date(2026, 10, 1), unit_id=w.units[9]
    )
    quota = {"visits_per_day": 2, "visit_calendar": "24x7"}
    w.plan({"rates": RATES, **quota, "visit_rule": "multiplier"}, staff_id=w.li, role=None)
    w.plan(
        {"rates": RATES, **quota, "visit_rule": "deduction", "visit_deduction": "10"},
        name="王的提成", staff_id=w.wang, role=None,
    )  # fmt: skip
    w.pay(0, "250")  # 李: old arrears 7.50 x (10 + 5 x 0.5) / 31
    w.pay(9, "250")  # 王: old arrears 7.50, less 21 missed days x 10.00
    got = w.settle()
    assert _arith(got[w.li]) == ["250.00 × 3% × 0.4032 = 3.024 → 3.02"]  # 12.5 / 31
    assert got[w.wang].by_kind() == {"collection": 750, "visits": -21000}
    assert got[w.wang].lines[-1].arithmetic == "21 of 31 days below 2 visits × 10.00 = -210.00"


def test_weekly_household_quotas_reward_and_penalise(w: World) -> None:
    w.plan({"rates": RATES, "weekly_households": 2, "weekly_reward": "50", "weekly_penalty": "20"})
    # Weeks ending in October 2026: to Sundays 10-04, 10-11, 10-18, 10-25.
    w.pay(0, "250", datetime(2026, 10, 6, 10, tzinfo=SH))
    w.pay(1, "250", datetime(2026, 10, 7, 10, tzinfo=SH))  # week to 10-11: 2 households
    w.pay(2, "250", datetime(2026, 10, 13, 10, tzinfo=SH))  # week to 10-18: 1
    w.pay(3, "250", datetime(2026, 10, 30, 10, tzinfo=SH))  # week to 11-01: November's
    weekly = [line for line in w.settle()[w.li].lines if line.kind == "weekly"]
    assert [line.commission_fen for line in weekly] == [-2000, 5000, -2000, -2000]
    # 10-08, 10-09 and the make-up Saturday 10-10 are that week's working days.
    assert weekly[1].note == "10-05–10-11 2 of 1.2 households (2 × 3/5 working days) met"
    assert weekly[2].note == "10-12–10-18 1 of 2 households missed"


# --- weekly quotas scale with the week's working days (office calendar, cn 2026) ------------

WEEKLY = {"rates": RATES, "weekly_households": 10, "weekly_reward": "50", "weekly_penalty": "20"}


def _weekly(statement: Statement) -> list[tuple[int, str]]:
    return [(x.commission_fen, x.note) for x in statement.lines if x.kind == "weekly"]


def test_the_national_day_week_is_judged_against_its_three_working_days(w: World) -> None:
    w.plan(WEEKLY)
    # The week 09-28..10-04 ends in October. National Day takes 10-01..10-07 off, so it has
    # three working days (09-28, 09-29, 09-30): 10 households x 3/5 = 6 are due, and 6 meet
    # it. Judged as a five-day week, 6 of 10 would have cost 20.00.
    for unit in range(3):
        w.pay(unit, "250", datetime(2026, 9, 29, 10, tzinfo=SH))
    for unit in range(3, 6):
        w.pay(unit, "250", datetime(2026, 10, 2, 10, tzinfo=SH))  # paid at the counter
    li = w.settle()[w.li]
    assert _weekly(li) == [
        (5000, "09-28–10-04 6 of 6 households (10 × 3/5 working days) met"),
        # 10-08, 10-09 and the make-up Saturday 10-10.
        (-2000, "10-05–10-11 0 of 6 households (10 × 3/5 working days) missed"),
        (-2000, "10-12–10-18 0 of 10 households missed"),  # a normal week: unchanged
        (-2000, "10-19–10-25 0 of 10 households missed"),
    ]
    # The statement explains itself: each week's working days, the regular week, the due.
    kept = w.app.commission.statement(ADMIN, li.id).inputs
    office = kept["working_weeks"]["office"]
    assert office["per_week"] == 5
    assert office["weeks"]["2026-10-04"] == ["2026-09-28", "2026-09-29", "2026-09-30"]
    assert office["weeks"]["2026-10-11"] == ["2026-10-08", "2026-10-09", "2026-10-10"]
    assert len(office["weeks"]["2026-10-18"]) == 5
    assert kept["weekly_calendar"] == "office"
    assert kept["weekly_due"] == {
        "2026-10-04": "6", "2026-10-11": "6", "2026-10-18": "10", "2026-10-25": "10"
    }  # fmt: skip
    # Read back, the inputs recompute the same quota lines.
    month = month_from_inputs(w.li, "2026-10", kept, li.lines)
    assert month.working_weeks["office"].in_week(date(2026, 9, 28)) == 3
    weekly = [x for x in compute_tiered(parse_tiered(WEEKLY), month) if x.kind == "weekly"]
    assert [(x.commission_fen, x.note) for x in weekly] == _weekly(li)


def test_a_week_with_a_make_up_day_owes_more_than_a_regular_week(w: World) -> None:
    w.plan(WEEKLY, effective_from=date(2026, 9, 1))
    for unit in range(10):
        w.pay(unit, "250", datetime(2026, 9, 15, 10, tzinfo=SH))
    li = w.settle("2026-09")[w.li]
    assert _weekly(li) == [
        (-2000, "08-31–09-06 0 of 10 households missed"),
        (-2000, "09-07–09-13 0 of 10 households missed"),
        # Sunday 09-20 is a make-up working day: six days, 12 due; 10 is not enough.
        (-2000, "09-14–09-20 10 of 12 households (10 × 6/5 working days) missed"),
        # Friday 09-25 is the Mid-Autumn Festival.
        (-2000, "09-21–09-27 0 of 8 households (10 × 4/5 working days) missed"),
    ]
    assert li.inputs["weekly_due"]["2026-09-20"] == "12"


def test_a_week_without_working_days_has_no_quota_line(w: World) -> None:
    w.plan(WEEKLY, effective_from=date(2026, 2, 1))
    li = w.settle("2026-02")[w.li]
    # 02-16..02-22 is all Spring Festival: no reward, no penalty. Saturday 02-14 is a
    # make-up day; Sunday 02-15 is off.
    assert _weekly(li) == [
        (-2000, "01-26–02-01 0 of 10 households missed"),
        (-2000, "02-02–02-08 0 of 10 households missed"),
        (-2000, "02-09–02-15 0 of 12 households (10 × 6/5 working days) missed"),
    ]
    assert li.inputs["working_weeks"]["office"]["weeks"]["2026-02-22"] == []
    assert "2026-02-22" not in li.inputs["weekly_due"]


def test_a_scaled_quota_is_compared_exactly() -> None:
    terms = parse_tiered({**WEEKLY, "weekly_calendar": "six-day"})
    # A six-day calendar, a week of five working days: 10 x 5/6 = 8.333... households due.
    days = frozenset(date(2026, 10, 5) + timedelta(days=i) for i in range(5))
    for households, fen, word in ((8, -2000, "missed"), (9, 5000, "met")):
        month = CollectorMonth(
            staff_id=7, period="2026-10", lines=[],
            weeks=[(date(2026, 10, 5), date(2026, 10, 11), households)],
            working_weeks={"six-day": WorkingWeeks(6, days)},
        )  # fmt: skip
        (line,) = compute_tiered(terms, month)
        assert (line.commission_fen, line.note) == (
            fen, f"10-05–10-11 {households} of ≈8.33 households (10 × 5/6 working days) {word}"
        )  # fmt: skip


def test_inputs_kept_before_quotas_scaled_recompute_the_flat_quota() -> None:
    # A statement settled before weekly quotas scaled has no working_weeks in its inputs:
    # a correction recomputing it judges the week as it was judged then.
    kept = {"weeks": [["2026-09-28", "2026-10-04", 6]], "working_days": {}, "visits": {}}
    month = month_from_inputs(7, "2026-10", kept, ())
    (line,) = compute_tiered(parse_tiered(WEEKLY), month)
    assert (line.commission_fen, line.note) == (-2000, "09-28–10-04 6 of 10 households missed")


def test_a_correction_recomputes_the_scaled_quota_from_the_kept_inputs(w: World) -> None:
    plan = w.plan(WEEKLY)
    for unit in range(6):
        w.pay(unit, "250", datetime(2026, 9, 29, 10, tzinfo=SH))
    w.settle()
    w.app.commission.correct_plan(
        ADMIN, plan.id, reason="周考核奖励应为60元", params={**WEEKLY, "weekly_reward": "60"}
    )
    result = w.app.commission.settle(ADMIN, w.estate, "2026-10")
    (adjustment,) = [s for s in result.statements if s.sequence == 1]
    # Only the National Day week was met (6 of its 6 due): 10.00 more for it.
    assert adjustment.by_kind() == {"adjustment": 1000}


def test_a_correction_that_adds_a_weekly_quota_scales_it_too(w: World) -> None:
    plan = w.plan()
    for unit in range(6):
        w.pay(unit, "250", datetime(2026, 9, 29, 10, tzinfo=SH))
    w.settle()
    w.app.commission.correct_plan(ADMIN, plan.id, reason="漏了周考核", params=WEEKLY)
    result = w.app.commission.settle(ADMIN, w.estate, "2026-10")
    adjusted = {s.staff_id: s for s in result.statements if s.sequence == 1}
    # 李: +50.00 for the National Day week (6 of 6), -20.00 for each of the three others;
    # a flat quota would have missed all four (-80.00), as 王, who collected nothing, does.
    assert [(x.basis, x.commission_fen) for x in adjusted[w.li].lines] == [("weekly", -1000)]
    assert [(x.basis, x.commission_fen) for x in adjusted[w.wang].lines] == [("weekly", -8000)]


def test_the_visit_quota_is_due_on_make_up_days_and_not_on_holidays(w: World) -> None:
    for day in (1, 10):  # National Day, and the make-up Saturday
        w.app.collection.log_attempt(
            ADMIN, w.units[0], "visit", "nobody_home", collector_staff_id=w.li,
            at=datetime(2026, 10, day, 15, tzinfo=SH),
        )  # fmt: skip
    w.plan(
        {"rates": RATES, "visits_per_day": 1, "visit_rule": "deduction", "visit_deduction": "10"}
    )
    li = w.settle()[w.li]
    # October 2026 on the office calendar: 22 weekdays, 5 of them National Day, plus the
    # make-up Saturday 10-10: 18 days due. The visit of 10-10 counts; that of 10-01 is not due.
    due = li.inputs["working_days"]["office"]
    assert len(due) == 18 and "2026-10-10" in due and "2026-10-01" not in due
    assert (li.inputs["visit_days_due"], li.inputs["visit_days_missed"]) == (18, 17)
    assert li.lines[-1].arithmetic == "17 of 18 days below 1 visits × 10.00 = -170.00"


def test_weeks_that_need_a_year_without_holiday_data_are_not_settled(tmp_path: Path) -> None:
    # A test fixture, not the official 2027 schedule: a calendar file that covers 2027 and
    # says nothing else.
    fixture = tmp_path / "test-2027.toml"
    fixture.write_text('name = "test fixture, not the official schedule"\ncovers = [2027]\n')
    office = {**DEFAULT_CALENDARS["office"], "sources": [{"file": str(fixture)}]}
    w = World({"calendars": {"office": office, "24x7": DEFAULT_CALENDARS["24x7"]}})
    with w.app:
        w.plan(WEEKLY)
        # January 2027 is known, but its first week began on Monday 2026-12-28: its quota
        # is not guessed, and nothing is settled.
        with pytest.raises(CalendarDataMissing, match="no holiday data for 2026"):
            w.settle("2027-01", datetime(2027, 2, 2, 9, tzinfo=SH))
        assert w.app.commission.statements(ADMIN, w.estate) == []
        with pytest.raises(CalendarDataMissing, match="no holiday data for 2026"):
            w.settle("2026-12", datetime(2027, 2, 2, 9, tzinfo=SH))


def test_a_floor_lifts_and_a_cap_trims_the_month(w: World) -> None:
    w.plan(floor=Decimal("100"), staff_id=w.li, role=None)
    w.plan(name="封顶", cap=Decimal("5"), staff_id=w.wang, role=None)
    w.app.collection.assign_collector(
        ADMIN, w.estate, w.wang, start=date(2026, 10, 1), unit_id=w.units[9]
    )
    w.pay(0, "250")  # 李 7.50 -> floor 100
    w.pay(9, "250")  # 王 7.50 -> cap 5
    got = w.settle()
    assert got[w.li].by_kind() == {"collection": 750, "floor": 9250}
    assert got[w.wang].by_kind() == {"collection": 750, "cap": -250}
    assert got[w.li].total == Decimal("100.00") and got[w.wang].total == Decimal("5.00")


def test_split_credit_sums_exactly_and_shares_must_make_100(w: World) -> None:
    with pytest.raises(ValidationError, match="not 100"):
        w.app.commission.split(
            ADMIN, w.estate, {w.li: Decimal("60"), w.wang: Decimal("39.99")}, date(2026, 10, 1),
            unit_id=w.units[0],
        )  # fmt: skip
    assert w.app.commission.splits(ADMIN, w.estate) == []
    w.app.commission.split(
        ADMIN, w.estate, {w.li: Decimal("60"), w.wang: Decimal("40")}, date(2026, 10, 1),
        unit_id=w.units[0],
    )  # fmt: skip
    w.plan({"rates": {"old_arrears": "1", "arrears": "1", "current": "1"}})
    w.pay(0, "250.01")  # 250.00 to 2025-12, 0.01 to 2026-09
    got = w.settle()
    li = {(x.period, x.amount_fen) for x in got[w.li].lines}
    wang = {(x.period, x.amount_fen) for x in got[w.wang].lines}
    # 250.00 x 60% = 150.00 and 100.00; 0.01 goes whole to the larger remainder (60%: 0.006).
    assert li == {("2025-12", 15000), ("2026-09", 1)} and wang == {("2025-12", 10000)}
    assert {x.share for x in got[w.li].lines} == {Decimal(60)}


def test_the_dunning_rule_credits_whoever_dunned_within_the_window() -> None:
    w = World({"commission": {"attribution": "dunning", "dunning_window_days": 30}})
    with w.app:
        phoned = OCT - timedelta(days=3)
        w.app.collection.log_attempt(
            ADMIN, w.units[0], "phone", "promised", collector_staff_id=w.wang, at=phoned,
            promised_date=date(2026, 10, 9),
        )  # fmt: skip
        w.app.collection.log_attempt(
            ADMIN, w.units[1], "phone", "refused", collector_staff_id=w.wang,
            at=OCT - timedelta(days=31),
        )  # fmt: skip
        w.plan()
        w.pay(0, "250")  # dunned 3 days before: 王
        w.pay(1, "250")  # dunned 31 days before: the building's collector, 李
        got = w.settle()
        assert [x.unit_id for x in got[w.wang].lines] == [w.units[0]]
        assert [x.unit_id for x in got[w.li].lines] == [w.units[1]]
        assert got[w.wang].inputs["attribution"] == "dunning"


def test_commission_is_dated_by_the_payment_not_the_bill(w: World) -> None:
    w.plan()
    w.settle("2026-10")  # nothing paid in October
    w.pay(0, "250", datetime(2026, 11, 20, 10, tzinfo=SH))  # pays the 2025-12 bill in November
    w.pay(1, "250", datetime(2026, 11, 21, 10, tzinfo=SH))
    nov = w.settle("2026-11", datetime(2026, 12, 1, 9, tzinfo=SH))[w.li]
    assert [x.paid_on for x in nov.lines] == [date(2026, 11, 20), date(2026, 11, 21)]
    assert {x.basis for x in nov.lines} == {"old_arrears"}


def test_lines_are_dated_by_the_local_day_to_the_microsecond_and_ordered_within_an_instant(
    w: World,
) -> None:
    w.plan()
    w.app.collection.assign_collector(
        ADMIN, w.estate, w.wang, start=date(2026, 10, 16), building_id=w.building
    )
    w.pay(0, "250", datetime(2026, 9, 30, 23, 59, 59, 999_999, tzinfo=SH))  # September's
    w.pay(1, "250", datetime(2026, 10, 1, tzinfo=SH))
    w.pay(2, "250", datetime(2026, 10, 15, 23, 59, 59, 999_999, tzinfo=SH))  # 李's last day
    w.pay(3, "250", datetime(2026, 10, 31, 23, 59, 59, 999_999, tzinfo=SH))
    w.pay(4, "250", datetime(2026, 11, 1, tzinfo=SH))  # November's
    # Two payments at one instant, recorded against the order of their transactions; each
    # settles three bills and leaves owner credit, allocated (written) after the bills.
    midnight = datetime(2026, 10, 16, tzinfo=SH)
    for unit, txn in ((5, "slip-z"), (6, "slip-a")):
        w.app.payments.pay_at_counter(
            ADMIN, w.units[unit], Decimal("800"), "cash", at=midnight, txn_id=txn
        )
    got = w.settle()
    assert [(x.unit_id, x.paid_on) for x in got[w.li].lines] == [
        (w.units[1], date(2026, 10, 1)),
        (w.units[2], date(2026, 10, 15)),
    ]
    wang = [(x.unit_id, x.period, x.paid_on) for x in got[w.wang].lines]
    instant = [(x.txn, x.period, x.fee_item) for x in got[w.wang].lines[:8]]
    assert instant == sorted(instant)
    assert [txn.rsplit(":", 1)[1] for txn, _, _ in instant[::4]] == ["slip-a", "slip-z"]
    assert wang[:4] == [
        (w.units[6], period, date(2026, 10, 16)) for period in ("", "2025-12", "2026-09", "2026-10")
    ]
    assert wang[-1] == (w.units[3], "2025-12", date(2026, 10, 31))
    assert len(wang) == 9


# --- clawbacks ------------------------------------------------------------------------------


def test_refunds_after_settlement_claw_back_exactly_in_the_next_statement(w: World) -> None:
    w.plan()
    first = w.pay(0, "250")  # 7.50 at 3%
    second = w.pay(1, "500")  # 7.50 + 5.00
    oct_li = w.settle()[w.li]
    before = w.app.commission.statement(ADMIN, oct_li.id)
    refunds_at = datetime(2026, 11, 10, 10, tzinfo=SH)
    w.clock.set(refunds_at)
    for amount in ("0.01", "100"):  # 100.01 of 250.00 in November: one paid-back line
        w.app.payments.refund(ADMIN, first, Decimal(amount), "退款", at=refunds_at)
    w.app.payments.reverse(ADMIN, second, "录错了", at=refunds_at)
    nov = w.settle("2026-11", datetime(2026, 12, 1, 9, tzinfo=SH))[w.li]
    w.app.payments.refund(ADMIN, first, Decimal("149.99"), "退款")  # the rest, in December
    dec = w.settle("2026-12", datetime(2027, 1, 4, 9, tzinfo=SH))[w.li]
    claws = [x for s in (nov, dec) for x in s.lines if x.kind == "clawback"]
    assert all(x.commission_fen <= 0 and x.amount_fen < 0 for x in claws)  # never positive
    by_payment: dict[int | None, int] = {}
    for x in claws:
        by_payment[x.payment_id] = by_payment.get(x.payment_id, 0) + x.commission_fen
    assert by_payment == {first: -750, second: -1250}  # the full refund claws back everything
    # 7.50 x 100.01 / 250.00 = 3.0003 -> 3.00 in November; the rest, 4.50, in December.
    assert [(x.amount_fen, x.commission_fen) for x in claws if x.payment_id == first] == [
        (-10001, -300),
        (-14999, -450),
    ]
    assert all(x.kind == "clawback" for x in dec.lines) and dec.total == Decimal("-4.50")
    assert w.app.commission.statement(ADMIN, oct_li.id) == before  # settled stays settled
    with w.app.unit_of_work() as uow, pytest.raises(sqlite3.DatabaseError, match="immutable"):
        uow.connection.execute("UPDATE commission_statements SET total_fen = 0")  # type: ignore[attr-defined]


def test_money_paid_back_from_before_settling_began_claws_nothing(w: World) -> None:
    w.plan(effective_from=date(2026, 11, 1))
    paid = w.pay(0, "250")  # October: before the first settled month
    w.clock.set(datetime(2026, 11, 10, tzinfo=SH))
    w.app.payments.refund(ADMIN, paid, Decimal("250"), "退款")
    w.clock.set(datetime(2026, 12, 1, 9, tzinfo=SH))
    settled = w.app.commission.settle(ADMIN, w.estate, "2026-11")
    assert settled.uncommissioned["not_settled"] == 25000
    assert all(s.total_fen == 0 for s in settled.statements)


# --- settling: once, in order, after the month; corrections -----------------------------------


def test_settling_twice_returns_the_same_statements(w: World) -> None:
    w.plan()
    w.pay(0, "250")
    w.clock.set(NOV)
    first = w.app.commission.settle(ADMIN, w.estate, "2026-10")
    assert first.new
    again = w.app.commission.settle(ADMIN, w.estate, "2026-10")
    assert not again.new and again.statements == first.statements


def test_only_closed_months_settle_and_in_order(w: World) -> None:
    w.plan()
    with pytest.raises(ValidationError, match="not over yet"):
        w.app.commission.settle(ADMIN, w.estate, "2026-10")  # the clock is in October
    w.clock.set(datetime(2027, 1, 5, 9, tzinfo=SH))
    w.app.commission.settle(ADMIN, w.estate, "2026-10")
    with pytest.raises(ValidationError, match="settle 2026-11 first"):
        w.app.commission.settle(ADMIN, w.estate, "2026-12")
    with pytest.raises(ValidationError, match="where settling began"):
        w.app.commission.settle(ADMIN, w.estate, "2026-09")
    assert [s.period for s in w.app.commission.statements(ADMIN, w.estate)] == [
        "2026-10",
        "2026-10",
    ]


def test_a_plan_correction_pays_the_difference_as_an_adjustment(w: World) -> None:
    plan = w.plan()
    w.pay(0, "250")
    w.pay(1, "250")
    oct_li = w.settle()[w.li]
    assert oct_li.total == Decimal("15.00")
    with pytest.raises(Conflict, match="settled already"):
        w.plan({"rates": {"current": "5"}}, effective_from=date(2026, 10, 1))
    fixed = w.app.commission.correct_plan(
        ADMIN, plan.id, reason="老欠费比例应为4%", params={"rates": {**RATES, "old_arrears": "4"}}
    )
    assert fixed.version == 2 and fixed.corrects == plan.id
    result = w.app.commission.settle(ADMIN, w.estate, "2026-10")
    (adjustment,) = [s for s in result.statements if s.sequence == 1]
    assert result.new and adjustment.total == Decimal("5.00")  # 2 x 250.00 x 1%
    assert {x.kind for x in adjustment.lines} == {"adjustment"}
    assert "v1->v2" in adjustment.lines[0].note
    assert not w.app.commission.settle(ADMIN, w.estate, "2026-10").new  # once
    # A refund in November claws back what the corrected plan paid: 10.00 for 250.00.
    w.clock.set(datetime(2026, 11, 5, tzinfo=SH))
    payment = oct_li.lines[0].payment_id
    assert payment is not None
    w.app.payments.refund(ADMIN, payment, Decimal("250"), "退款")
    nov = w.settle("2026-11", datetime(2026, 12, 1, 9, tzinfo=SH))[w.li]
    assert nov.by_kind() == {"clawback": -1000}


def test_statements_export_as_csv_with_chinese_headers(w: World) -> None:
    w.plan()
    w.pay(0, "250")
    li = w.settle()[w.li]
    text = w.app.commission.statement_csv(ADMIN, li.id)
    rows = [r.split(",") for r in text.strip().splitlines()]
    assert rows[0][:3] == ["类型", "付款", "交易号"] and rows[-1][0] == "合计"
    assert rows[-1][-2] == "7.50" and rows[1][-1] == "250.00 × 3% = 7.50"
    english = w.app.commission.statement_csv(ADMIN, li.id, lang="en")
    assert english.startswith("kind,payment,transaction") and english.strip().endswith("7.50,")


def test_the_statement_csv_never_writes_text_as_a_formula_and_keeps_amounts_numbers(
    w: World,
) -> None:
    """Text a spreadsheet would run is marked as text (a leading '); a clawback's negative
    amounts are numbers, written as they are."""
    hostile = '=HYPERLINK("http://x","y")'
    w.plan()
    w.clock.set(OCT)
    paid = w.app.payments.pay_at_counter(
        ADMIN, w.units[0], Decimal("250"), "cash", at=OCT, txn_id=hostile
    )
    october = w.settle()[w.li]
    rows = list(csv.reader(io.StringIO(w.app.commission.statement_csv(ADMIN, october.id))))
    assert rows[1][2] == "counter:" + hostile  # the gateway's name comes first
    assert rows[1][8:] == ["250.00", "3", "", "1", "1", "100", "7.50", "250.00 × 3% = 7.50"]

    w.clock.set(datetime(2026, 11, 5, tzinfo=SH))
    w.app.payments.refund(ADMIN, paid.payment_id, Decimal("250"), "退款")
    november = w.settle("2026-11", datetime(2026, 12, 1, 9, tzinfo=SH))[w.li]
    text = w.app.commission.statement_csv(ADMIN, november.id, lang="en")
    (clawback,) = [r for r in csv.reader(io.StringIO(text)) if r[0] == "clawback"]
    assert clawback[8] == "-250.00" and clawback[14] == "-7.50"
    assert clawback[15] == "250.00 of 250.00 paid back; it earned 7.50 = -7.50"
    assert text.strip().splitlines()[-1] == "total" + "," * 14 + "-7.50,"

    # Whatever a line's text holds, it is never a formula.
    line = november.lines[0]._replace(txn=hostile, fee_item="@SUM(A1)", tier="+1+cmd|'/C calc'!A0")
    odd = attrs.evolve(november, lines=(line,))
    (_, row, _) = list(csv.reader(io.StringIO(statement_csv(odd))))
    assert row[2] == "'" + hostile and row[4] == "'@SUM(A1)" and row[10].startswith("'+1")


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"rates": {"current": "-1"}}, "rates.current"),
        ({"rates": {"current": 1.5}}, "rates.current"),
        ({"rates": {"weekend": "1"}}, "rates"),
        ({"rates": RATES, "tiers": [{"from": "0.1", "to": None, "factor": "1"}]}, "tiers[0].from"),
        (
            {"rates": RATES, "tiers": [{"from": "0", "to": "0.5", "factor": "1"},
                                       {"from": "0.6", "to": None, "factor": "1"}]},
            "tiers[1].from",
        ),
        (
            {"rates": RATES, "tiers": [{"from": "0", "to": "0.7", "factor": "1"},
                                       {"from": "0.6", "to": None, "factor": "1"}]},
            "tiers[1].from",
        ),
        (
            {"rates": RATES, "tiers": [{"from": "0", "to": "1", "factor": "1"},
                                       {"from": "1", "to": None, "factor": "0.5"}]},
            "tiers[1].factor",
        ),
        ({"rates": RATES, "tiers": [{"from": "0", "to": "1", "factor": "1"}]}, "tiers[0].to"),
        ({"rates": RATES, "mode": "marginal", "attainment": "households"}, "mode"),
        ({"rates": RATES, "visit_rule": "multiplier"}, "visits_per_day"),
        ({"rates": RATES, "bonus": "1"}, "params"),
        ({"rates": RATES, "weekly_calendar": ""}, "weekly_calendar"),
        ({"rates": RATES, "weekly_households": 2, "weekly_calendar": "nowhere"}, "weekly_calendar"),
        ({"rates": RATES, "weekly_households": 2, "visit_calendar": "nowhere"}, "weekly_calendar"),
        ({"rates": RATES, "visits_per_day": 1, "visit_calendar": "nowhere"}, "visit_calendar"),
    ],
)  # fmt: skip
def test_bad_plans_name_the_parameter_and_write_nothing(
    w: World, params: dict[str, Any], field: str
) -> None:
    with pytest.raises(PropcareError) as info:
        w.plan(params)
    assert info.value.field == field  # type: ignore[attr-defined]
    assert w.app.commission.plans(ADMIN, w.estate) == []


def test_other_bad_input_is_refused(w: World) -> None:
    with pytest.raises(ValidationError, match="first day of a month"):
        w.plan(effective_from=date(2026, 10, 15))
    with pytest.raises(ValidationError, match="one collector or one role"):
        w.plan(staff_id=w.li, role="collector")
    with pytest.raises(ValidationError, match="above the cap"):
        w.plan(floor=Decimal("10"), cap=Decimal("5"))
    with pytest.raises(TypeError):
        w.plan(floor=10.0)
    with pytest.raises(ValidationError, match="a correction needs a reason"):
        w.app.commission.correct_plan(ADMIN, 1, reason=" ")
    with pytest.raises(ValidationError, match="YYYY-MM"):
        w.app.commission.settle(ADMIN, w.estate, "2026-13")
    w.plan({"rates": RATES, "tiers": [{"from": "0", "to": None, "factor": "1"}]})
    w.pay(0, "250")
    w.clock.set(NOV)
    with pytest.raises(ValidationError, match="needs a target"):
        w.app.commission.settle(ADMIN, w.estate, "2026-10")  # 李 has no target
    assert w.app.commission.statements(ADMIN, w.estate) == []  # nothing written
    desk = Actor("前台", {"front_desk"}, {w.estate})
    with pytest.raises(PermissionDenied):
        w.app.commission.settle(desk, w.estate, "2026-10")
    for staff in (w.li, w.wang):
        w.app.commission.set_target(ADMIN, staff, "2026-10", amount=Decimal("1000"))
    w.app.commission.settle(ADMIN, w.estate, "2026-10")
    with pytest.raises(Conflict, match="targets are final"):
        w.target("1")
    with pytest.raises(Conflict, match="settled already"):
        w.app.commission.split(
            ADMIN, w.estate, {w.li: Decimal(100)}, date(2026, 10, 20), unit_id=w.units[0]
        )


# --- properties (pure) --------------------------------------------------------------------------


def _row(n: int, fen: int, period: str = "2026-10", unit: int | None = None) -> BasisRow:
    at = datetime(2026, 10, 1, tzinfo=SH) + timedelta(minutes=n)
    return BasisRow(
        n, f"t:{n:06d}", unit if unit is not None else n, 1, "fee", period, fen, at, at.date()
    )


def _month(fens: list[int], target: int, periods: list[str] | None = None) -> CollectorMonth:
    periods = periods or ["2026-10"] * len(fens)
    lines = [
        CreditedLine(_row(i, fen, p), 7, fen, Decimal(100), "building")
        for i, (fen, p) in enumerate(zip(fens, periods, strict=True))
    ]
    return CollectorMonth(staff_id=7, period="2026-10", lines=lines, target_fen=target)


factors = st.lists(st.decimals("0", "3", places=2), min_size=1, max_size=4).map(sorted)
starts = st.lists(st.decimals("0.01", "2", places=2), min_size=3, max_size=3, unique=True).map(
    sorted
)


def _tiers(fs: list[Decimal], cut: list[Decimal]) -> list[dict[str, Any]]:
    bounds = [Decimal(0), *cut[: len(fs) - 1]]
    return [
        {
            "from": str(b),
            "to": str(bounds[i + 1]) if i + 1 < len(bounds) else None,
            "factor": str(f),
        }
        for i, (b, f) in enumerate(zip(bounds, fs, strict=False))
    ]


@settings(max_examples=300, deadline=None)
@given(
    paid=st.lists(st.tuples(st.integers(1, 500_000), st.booleans()), min_size=1, max_size=12),
    extra=st.tuples(st.integers(1, 500_000), st.booleans()),
    where=st.integers(0, 12),
    fs=factors,
    cut=starts,
    target=st.integers(100_000, 5_000_000),
)
def test_marginal_tiers_never_pay_less_for_collecting_more(
    paid: list[tuple[int, bool]], extra: tuple[int, bool], where: int, fs: list[Decimal],
    cut: list[Decimal], target: int,
) -> None:  # fmt: skip
    terms = parse_tiered(
        {"rates": {"current": "1", "arrears": "2", "old_arrears": "3"}, "mode": "marginal",
         "tiers": _tiers(fs, cut)}
    )  # fmt: skip

    def month(pays: list[tuple[int, bool]]) -> CollectorMonth:
        return _month(
            [f for f, _ in pays], target, ["2025-05" if o else "2026-10" for _, o in pays]
        )

    more = [*paid[:where], extra, *paid[where:]]
    base = compute_tiered(terms, month(paid))
    bigger = compute_tiered(terms, month(more))
    assert sum(x.commission_fen for x in bigger) >= sum(x.commission_fen for x in base)
    assert sum(x.amount_fen for x in bigger) == sum(f for f, _ in more)  # slices cover it all
    for x in bigger:  # each line within a fen of its own product
        assert abs(x.commission_fen - x.exact * 100) < 1


@settings(max_examples=200, deadline=None)
@given(fs=factors, cut=starts, target=st.integers(10_000, 10_000_000), tier=st.integers(0, 3))
def test_whole_amount_tiers_start_exactly_at_their_boundary(
    fs: list[Decimal], cut: list[Decimal], target: int, tier: int
) -> None:
    tiers = _tiers(fs, cut)
    tier = min(tier, len(tiers) - 1)
    terms = parse_tiered({"rates": {"current": "1"}, "tiers": tiers})
    start = Decimal(tiers[tier]["from"])
    fen = start * target
    if fen != fen.to_integral_value() or fen == 0:
        return  # the boundary is not a whole fen: it cannot be collected exactly
    at = compute_tiered(terms, _month([int(fen)], target))
    assert {x.factor for x in at} == {Decimal(tiers[tier]["factor"])}
    if tier > 0:
        below = compute_tiered(terms, _month([int(fen) - 1], target))
        assert {x.factor for x in below} == {Decimal(tiers[tier - 1]["factor"])}


@settings(max_examples=300, deadline=None)
@given(
    cuts=st.lists(st.decimals("0.01", "99.99", places=2), min_size=0, max_size=4, unique=True),
    fen=st.integers(-10_000_000, 10_000_000).filter(bool),
)
def test_split_shares_sum_exactly_to_the_whole(cuts: list[Decimal], fen: int) -> None:
    points = [Decimal(0), *sorted(cuts), Decimal(100)]
    parts = {i + 1: points[i + 1] - points[i] for i in range(len(points) - 1)}
    split = Split(estate_id=1, shares=parts, start=date(2026, 1, 1), unit_id=5)
    attributor = Attributor([], [split])
    credited = attributor.credit(_row(1, fen, unit=5))
    assert sum(f for _s, f, _sh, _v in credited) == fen
    assert sorted(s for s, *_ in credited) == sorted(parts)


@settings(max_examples=300, deadline=None)
@given(
    amount=st.integers(1, 10_000_000),
    commission=st.integers(0, 1_000_000),
    cuts=st.lists(st.integers(1, 10_000_000), max_size=6, unique=True),
)
def test_clawbacks_of_a_whole_refund_undo_exactly_what_it_earned(
    amount: int, commission: int, cuts: list[int]
) -> None:
    points = [*sorted({c for c in cuts if c < amount}), amount]
    refunds = [b - a for a, b in zip([0, *points], points, strict=False)]
    settled = {(1, "fee", "2026-09"): {7: SourceTotals(amount, commission)}}
    clawed = 0
    for n, fen in enumerate(refunds):
        row = _row(1, -fen, "2026-09")
        lines, none = clawback_lines([row], settled)
        assert none == 0 and all(x.commission_fen <= 0 for x in lines[7])
        clawed += sum(x.commission_fen for x in lines[7])
        partial = -clawed
        assert abs(partial - commission * sum(refunds[: n + 1]) / amount) <= Decimal("0.5")
    assert clawed == -commission


def test_no_line_depends_on_the_order_payments_were_recorded_in() -> None:
    payments = [(0, "250", 1), (1, "333.33", 2), (2, "800", 3), (3, "100.01", 4), (4, "520", 5)]

    def settle(order: list[tuple[int, str, int]]) -> list[tuple[Any, ...]]:
        w = World()
        with w.app:
            w.plan(
                {"rates": RATES, "mode": "marginal", "tiers": [
                    {"from": "0", "to": "0.5", "factor": "1"},
                    {"from": "0.5", "to": None, "factor": "1.5"}]}
            )  # fmt: skip
            w.target("1500")
            w.clock.set(datetime(2026, 10, 20, tzinfo=SH))
            for unit, amount, hour in order:
                w.app.payments.pay_at_counter(
                    ADMIN, w.units[unit], Decimal(amount), "cash",
                    at=datetime(2026, 10, 9, hour, tzinfo=SH), txn_id=f"slip-{unit}",
                )  # fmt: skip
            li = w.settle()[w.li]
            return [(x.txn, x.period, x.amount_fen, x.tier, x.commission_fen) for x in li.lines]

    forward = settle(payments)
    assert forward == settle(list(reversed(payments)))
    assert forward == settle(payments[2:] + payments[:2])
    assert len({t for t, *_ in forward}) == 5


@settings(max_examples=200, deadline=None)
@given(
    fens=st.lists(st.integers(1, 3_000_000), min_size=0, max_size=20),
    rate=st.decimals("0", "10", places=3),
    weekly=st.integers(0, 3),
)
def test_the_lines_of_a_statement_add_up_to_its_total(
    fens: list[int], rate: Decimal, weekly: int
) -> None:
    month = attrs.evolve(
        _month(fens, 1_000_000), weeks=[(date(2026, 10, 5), date(2026, 10, 11), weekly)]
    )
    terms = parse_tiered(
        {"rates": {"current": str(rate)}, "weekly_households": 2, "weekly_reward": "30",
         "weekly_penalty": "10.55"}
    )  # fmt: skip
    lines = compute_tiered(terms, month)
    statement = Statement(1, 7, "2026-10", 0, 1, "p", 1, tuple(lines), {}, NOV, "t")
    assert statement.total_fen == sum(x.commission_fen for x in lines)
    per_line = sum(
        int((Decimal(f) * rate / 100).quantize(Decimal(1), rounding="ROUND_HALF_UP")) for f in fens
    )  # each line rounded half up on its own
    quota = 3000 if weekly >= 2 else -1055
    assert statement.total_fen - quota == per_line
    with pytest.raises(ValidationError, match="sum of the statement's lines"):
        Statement(1, 7, "2026-10", 0, 1, "p", 1, tuple(lines), {}, NOV, "t",
                  total_fen=statement.total_fen + 1)  # fmt: skip


def test_old_statements_keep_the_plan_version_they_used(w: World) -> None:
    w.plan()
    w.pay(0, "250")
    oct_li = w.settle()[w.li]
    newer = w.plan({"rates": {"old_arrears": "5"}}, effective_from=date(2026, 11, 1))
    assert newer.version == 2
    w.pay(1, "250", datetime(2026, 11, 10, tzinfo=SH))
    nov_li = w.settle("2026-11", datetime(2026, 12, 1, 9, tzinfo=SH))[w.li]
    assert (oct_li.plan_version, nov_li.plan_version) == (1, 2)
    assert nov_li.total == Decimal("12.50")  # 250.00 x 5%
    assert w.app.commission.statement(ADMIN, oct_li.id).total == Decimal("7.50")
    assert not w.app.commission.settle(ADMIN, w.estate, "2026-10").new  # no adjustment
