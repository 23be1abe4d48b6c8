"""Arrears roster, aging and collection rate (收缴率), derived from receivable postings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from propcare import Actor, PermissionDenied, Propcare
from propcare.errors import ValidationError
from propcare.ledger.arrears import DEFAULT_BUCKETS, AgingBucket, check_buckets
from propcare.ledger.journal import JournalEntry, Posting

SH = ZoneInfo("Asia/Shanghai")
ADMIN = Actor.system()
AS_OF = datetime(2026, 11, 20, 12, 0, tzinfo=SH)


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(hour=10, tzinfo=SH)


@pytest.fixture
def w() -> Iterator[Any]:
    app = Propcare.open("sqlite://:memory:", load_entrypoints=False)
    estate = app.estates.create(ADMIN, "翠苑")
    b1 = app.estates.add_building(ADMIN, estate.id, "1栋")
    b2 = app.estates.add_building(ADMIN, estate.id, "2栋")
    u1 = app.estates.add_unit(ADMIN, b1.id, "101", Decimal("90"))
    u2 = app.estates.add_unit(ADMIN, b2.id, "201", Decimal("90"))
    owner = app.owners.create(ADMIN, estate.id, "张三", ["13812345678"])
    app.owners.assign(ADMIN, u1.id, owner.id, date(2020, 1, 1))
    li = app.staff.create(ADMIN, estate.id, "李收费", ["collector"], date(2020, 1, 1))
    app.collection.assign_collector(
        ADMIN, estate.id, li.id, start=date(2020, 1, 1), building_id=b1.id
    )
    w = type("W", (), {})()
    w.app, w.estate, w.u1, w.u2, w.b1, w.li = app, estate.id, u1.id, u2.id, b1.id, li.id
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
