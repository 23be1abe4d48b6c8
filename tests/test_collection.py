"""Collectors and dunning: assignments with dates, attempts with outcomes, no SMS at night."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from propcare import Actor, FixedClock, NotFound, Propcare
from propcare.errors import ValidationError
from propcare.ledger.collection import QuietHours, collector_on
from propcare.ledger.journal import JournalEntry, Posting
from propcare.testing import RecordingChannel
from propcare.testing.fakes import FlakyChannel

SH = ZoneInfo("Asia/Shanghai")
ADMIN = Actor.system()


@pytest.fixture
def w() -> Iterator[Any]:
    clock = FixedClock(datetime(2026, 11, 2, 22, 30, tzinfo=SH))  # a Monday night
    sms = RecordingChannel("sms")
    app = Propcare.open(
        "sqlite://:memory:",
        plugins=[sms],
        load_entrypoints=False,
        clock=clock,
        config={"channels": {"log": {}, "sms": {}}},
    )
    estate = app.estates.create(ADMIN, "翠苑")
    b1 = app.estates.add_building(ADMIN, estate.id, "1栋")
    u1 = app.estates.add_unit(ADMIN, b1.id, "101", Decimal("90"))
    u2 = app.estates.add_unit(ADMIN, b1.id, "102", Decimal("90"))
    owner = app.owners.create(ADMIN, estate.id, "张三", ["13812345678"])
    app.owners.assign(ADMIN, u1.id, owner.id, date(2020, 1, 1))
    start = date(2025, 1, 1)
    li = app.staff.create(ADMIN, estate.id, "李收费", ["collector"], start)
    wang = app.staff.create(ADMIN, estate.id, "王收费", ["collector"], start)
    clerk = app.staff.create(ADMIN, estate.id, "客服", ["front_desk"], start)
    w = type("W", (), {})()
    w.app, w.clock, w.sms, w.estate, w.b1, w.u1, w.u2 = app, clock, sms, estate.id, b1, u1, u2
    w.li, w.wang, w.clerk_id = li.id, wang.id, clerk.id
    yield w
    app.close()


def test_a_unit_assignment_beats_its_building_and_dates_matter(w: Any) -> None:
    c = w.app.collection
    c.assign_collector(ADMIN, w.estate, w.li, start=date(2026, 1, 1), building_id=w.b1.id)
    c.assign_collector(
        ADMIN, w.estate, w.wang, start=date(2026, 6, 1), end=date(2026, 8, 31), unit_id=w.u2.id
    )
    assert c.collector_of(ADMIN, w.u1.id, date(2026, 7, 1)) == w.li
    assert c.collector_of(ADMIN, w.u2.id, date(2026, 7, 1)) == w.wang
    assert c.collector_of(ADMIN, w.u2.id, date(2026, 9, 1)) == w.li  # Wang's stint ended
    assert c.collector_of(ADMIN, w.u1.id, date(2025, 12, 31)) is None
    with pytest.raises(ValidationError, match="no collector"):
        c.assign_collector(ADMIN, w.estate, w.clerk_id, start=date(2026, 1, 1), unit_id=w.u1.id)
    with pytest.raises(ValidationError, match="name a building or a unit"):
        c.assign_collector(ADMIN, w.estate, w.li, start=date(2026, 1, 1))


def test_attempts_are_logged_with_outcome_and_the_collector_by_assignment(w: Any) -> None:
    c = w.app.collection
    c.assign_collector(ADMIN, w.estate, w.li, start=date(2026, 1, 1), building_id=w.b1.id)
    campaign = c.start_campaign(ADMIN, w.estate, "2026年第四季度清欠")
    at = datetime(2026, 11, 7, 10, 0, tzinfo=SH)  # a Saturday visit
    c.log_attempt(ADMIN, w.u1.id, "visit", "nobody_home", campaign_id=campaign, at=at)
    promised = c.log_attempt(
        ADMIN,
        w.u1.id,
        "phone",
        "promised",
        promised_date=date(2026, 11, 20),
        at=at + timedelta(days=2),
    )
    assert promised.collector_staff_id == w.li
    assert [(a.method, a.outcome) for a in c.attempts(ADMIN, w.u1.id)] == [
        ("visit", "nobody_home"),
        ("phone", "promised"),
    ]
    with pytest.raises(ValidationError, match="promised_date"):
        c.log_attempt(ADMIN, w.u1.id, "phone", "promised")
    with pytest.raises(ValidationError, match="method"):
        c.log_attempt(ADMIN, w.u1.id, "cut_water", "paid")  # dunning never cuts services
    with w.app.unit_of_work(readonly=True) as uow:
        last = uow.collection.last_attempts(w.estate)
    assert last[w.u1.id].outcome == "promised" and w.u2.id not in last


def test_the_last_attempt_is_the_one_that_happened_last_ties_going_to_the_later_entered(
    w: Any,
) -> None:
    c = w.app.collection
    call = datetime(2026, 12, 1, 10, 0, tzinfo=SH)
    c.log_attempt(ADMIN, w.u1.id, "phone", "promised", promised_date=date(2026, 12, 10), at=call)
    # Copied in afterwards from the paper log: earlier, though entered later.
    c.log_attempt(ADMIN, w.u1.id, "visit", "refused", at=datetime(2026, 10, 27, 15, tzinfo=SH))
    c.log_attempt(ADMIN, w.u2.id, "notice", "sent", at=call)
    c.log_attempt(ADMIN, w.u2.id, "visit", "nobody_home", at=call)  # the same minute
    with w.app.unit_of_work(readonly=True) as uow:
        last = uow.collection.last_attempts(w.estate)
    assert (last[w.u1.id].at, last[w.u1.id].outcome) == (call, "promised")
    assert last[w.u2.id].method == "visit"  # a tie: the one entered later
    with w.app.unit_of_work(readonly=True) as uow:  # as the roster of a day before saw it
        before = uow.collection.last_attempts(w.estate, call - timedelta(days=1))
    assert before[w.u1.id].outcome == "refused" and w.u2.id not in before


def test_an_sms_at_night_waits_for_the_morning(w: Any) -> None:
    attempt = w.app.collection.send_sms(ADMIN, w.u1.id, Decimal("1342.80"), channel="sms")
    assert attempt.method == "sms" and attempt.outcome == "sent"
    w.app.dispatch()
    assert w.sms.sent == []  # 22:30: quiet hours
    w.clock.set(datetime(2026, 11, 3, 7, 59, tzinfo=SH))
    w.app.dispatch()
    assert w.sms.sent == []
    w.clock.set(datetime(2026, 11, 3, 8, 0, tzinfo=SH))
    w.app.dispatch()
    (message,) = w.sms.sent
    assert "1342.80" in message.body and message.recipient.masked == "138****5678"
    with pytest.raises(ValidationError, match="no owner with a phone"):
        w.app.collection.send_sms(ADMIN, w.u2.id, Decimal("10"))
    with pytest.raises(TypeError):
        w.app.collection.send_sms(ADMIN, w.u1.id, 10.5)  # type: ignore[arg-type]


def test_an_sms_is_never_sent_in_quiet_hours_even_by_a_late_retry() -> None:
    clock = FixedClock(datetime(2026, 11, 3, 20, 58, tzinfo=SH))  # 2 minutes before quiet
    sms = FlakyChannel(1, "sms")  # the SMS gateway is down for the first try
    with Propcare.open(
        "sqlite://:memory:", plugins=[sms], load_entrypoints=False, clock=clock,
        config={"channels": {"sms": {}}},
    ) as app:  # fmt: skip
        estate = app.estates.create(ADMIN, "翠苑")
        building = app.estates.add_building(ADMIN, estate.id, "1栋")
        unit = app.estates.add_unit(ADMIN, building.id, "101", Decimal("90"))
        owner = app.owners.create(ADMIN, estate.id, "张三", ["13812345678"])
        app.owners.assign(ADMIN, unit.id, owner.id, date(2020, 1, 1))
        sent_at = datetime(2026, 11, 3, 20, 50, tzinfo=SH)  # when the collector sent it
        attempt = app.collection.send_sms(ADMIN, unit.id, Decimal("88"), channel="sms", at=sent_at)
        assert attempt.at == sent_at
        app.dispatch_idle()
        assert sms.attempts == 1 and sms.sent == []  # sent after commit: the gateway was down
        clock.set(datetime(2026, 11, 3, 21, 30, tzinfo=SH))  # the retry falls due at night
        assert app.dispatch().held == 1 and sms.sent == []
        clock.set(datetime(2026, 11, 4, 7, 59, tzinfo=SH))
        assert app.dispatch().delivered == 0
        clock.set(datetime(2026, 11, 4, 8, 0, tzinfo=SH))
        assert app.dispatch().delivered == 1 and len(sms.sent) == 1
        with app.unit_of_work(readonly=True) as uow:
            (delivery,) = uow.outbox.deliveries()
        assert (delivery.status, delivery.attempts) == ("delivered", 2)  # the hold was none


@given(st.integers(0, 24 * 60 - 1))
def test_quiet_hours_always_point_to_an_allowed_time(minute: int) -> None:
    rule = QuietHours("21:00", "08:00")
    when = datetime(2026, 11, 2, tzinfo=SH) + timedelta(minutes=minute)
    allowed = rule.next_allowed(when, SH)
    assert allowed >= when
    assert not rule.quiet(allowed.astimezone(SH).time())
    if not rule.quiet(when.time()):
        assert allowed == when
    assert allowed - when <= timedelta(hours=11)
    assert QuietHours("12:00", "13:30").quiet(time(12, 15))


def test_another_estate_cannot_dun_or_read(w: Any) -> None:
    other = w.app.estates.create(ADMIN, "别处")
    outsider = Actor("外人", {"admin"}, {other.id})
    with pytest.raises(NotFound):
        w.app.collection.log_attempt(outsider, w.u1.id, "phone", "refused")
    with pytest.raises(NotFound):
        w.app.collection.attempts(outsider, w.u1.id)


# --- the roster's collector (issue 17, point 2) -------------------------------------------
#
# The roster resolves every line's collector in SQL, through indexes of the assignments
# running on the roster's day; collector_on is the rule it must agree with.


def _owe(w: Any, unit: int, fen: int = 10000) -> None:
    """A charge without a bill, due the day it was made (long before the rosters below)."""
    w.n = getattr(w, "n", 0) + 1
    at = datetime(2025, 6, 1, 10, tzinfo=SH)
    entry = JournalEntry(
        w.estate, "bill", at, f"owe{w.n}", "test",
        (Posting("receivable", fen, unit, "property_fee", "2025-06"),
         Posting("revenue", -fen, sub="property_fee")),
    )  # fmt: skip
    with w.app.unit_of_work() as uow:
        w.app.ledger.post_in(uow, entry)
        uow.commit()


def _collectors(w: Any, day: date) -> dict[str, int | None]:
    as_of = datetime.combine(day, time(12), SH)
    return {
        r.unit: r.collector_staff_id for r in w.app.arrears.roster(ADMIN, w.estate, as_of=as_of)
    }


def test_the_roster_names_the_units_own_collector_before_its_buildings_on_the_days_it_covers(
    w: Any,
) -> None:
    c = w.app.collection
    c.assign_collector(
        ADMIN, w.estate, w.li, start=date(2026, 1, 1), end=date(2026, 6, 30), building_id=w.b1.id
    )
    c.assign_collector(ADMIN, w.estate, w.wang, start=date(2026, 7, 1), building_id=w.b1.id)
    c.assign_collector(  # Wang covers 102 himself in March, Li's building or not
        ADMIN, w.estate, w.wang, start=date(2026, 3, 1), end=date(2026, 3, 31), unit_id=w.u2.id
    )
    _owe(w, w.u1.id)
    _owe(w, w.u2.id)
    assert _collectors(w, date(2025, 12, 31)) == {"101": None, "102": None}
    assert _collectors(w, date(2026, 1, 1)) == {"101": w.li, "102": w.li}  # the first day
    assert _collectors(w, date(2026, 2, 28)) == {"101": w.li, "102": w.li}
    assert _collectors(w, date(2026, 3, 1)) == {"101": w.li, "102": w.wang}  # his own starts
    assert _collectors(w, date(2026, 3, 31)) == {"101": w.li, "102": w.wang}  # and ends
    assert _collectors(w, date(2026, 4, 1)) == {"101": w.li, "102": w.li}
    assert _collectors(w, date(2026, 6, 30)) == {"101": w.li, "102": w.li}  # Li's last day
    assert _collectors(w, date(2026, 7, 1)) == {"101": w.wang, "102": w.wang}
    march = datetime(2026, 3, 31, 12, tzinfo=SH)
    mine = w.app.arrears.roster(ADMIN, w.estate, as_of=march, collector_staff_id=w.wang)
    assert [r.unit for r in mine] == ["102"]
    assert [r.unit for r in w.app.arrears.roster(
        ADMIN, w.estate, as_of=march, collector_staff_id=w.li)] == ["101"]  # fmt: skip
    for day in (date(2026, 3, 31), date(2026, 4, 1)):
        for unit in (w.u1, w.u2):
            assert _collectors(w, day)[unit.number] == c.collector_of(ADMIN, unit.id, day)


def test_among_assignments_covering_the_day_the_latest_start_wins_then_the_later_entered(
    w: Any,
) -> None:
    c = w.app.collection
    c.assign_collector(ADMIN, w.estate, w.li, start=date(2026, 1, 1), building_id=w.b1.id)
    c.assign_collector(ADMIN, w.estate, w.wang, start=date(2026, 5, 1), building_id=w.b1.id)
    c.assign_collector(ADMIN, w.estate, w.wang, start=date(2026, 2, 1), unit_id=w.u2.id)
    c.assign_collector(ADMIN, w.estate, w.li, start=date(2026, 2, 1), unit_id=w.u2.id)
    _owe(w, w.u1.id)
    _owe(w, w.u2.id)
    assert _collectors(w, date(2026, 4, 30)) == {"101": w.li, "102": w.li}
    assert _collectors(w, date(2026, 5, 1)) == {"101": w.wang, "102": w.li}


# Two buildings of two units; three collectors; assignments of a building or a unit with
# random starts and ends (or none), often on the same day; the roster's day is often one
# where an assignment starts or ends, or the day after.
_DAY0 = date(2026, 1, 1)
ASSIGNMENT = st.tuples(
    st.integers(0, 2),  # the collector
    st.sampled_from(["building", "unit"]),
    st.integers(0, 3),  # which building (index // 2) or unit
    st.integers(0, 20),  # start, days from _DAY0
    st.one_of(st.none(), st.integers(0, 15)),  # days it runs after the start, or no end
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(assignments=st.lists(ASSIGNMENT, max_size=12), data=st.data())
def test_each_lines_collector_and_the_filters_agree_with_collector_on(
    assignments: list[tuple[int, str, int, int, int | None]], data: st.DataObject
) -> None:
    edges = {e + d for _w, _k, _p, s, n in assignments for e in (s, s + (n or 0)) for d in (0, 1)}
    offset = data.draw(st.one_of(st.sampled_from(sorted(edges) or [0]), st.integers(0, 40)))
    clock = FixedClock(datetime(2026, 6, 1, tzinfo=SH))
    with Propcare.open("sqlite://:memory:", load_entrypoints=False, clock=clock) as app:
        estate = app.estates.create(ADMIN, "翠苑")
        buildings = [app.estates.add_building(ADMIN, estate.id, f"{b}栋") for b in (1, 2)]
        units = [
            app.estates.add_unit(ADMIN, buildings[i // 2].id, f"{i // 2 + 1}0{i % 2 + 1}",
                                 Decimal("90"))
            for i in range(4)
        ]  # fmt: skip
        staff = [
            app.staff.create(ADMIN, estate.id, name, ["collector"], date(2020, 1, 1)).id
            for name in ("李", "王", "赵")
        ]
        for who, kind, where, start, length in assignments:
            first = _DAY0 + timedelta(days=start)
            app.collection.assign_collector(
                ADMIN, estate.id, staff[who], start=first,
                end=None if length is None else first + timedelta(days=length),
                building_id=buildings[where // 2].id if kind == "building" else None,
                unit_id=units[where].id if kind == "unit" else None,
            )  # fmt: skip
        w = type("W", (), {"app": app, "estate": estate.id, "n": 0})()
        for i, unit in enumerate(units):
            _owe(w, unit.id, 1000 * (i + 1))
        day = _DAY0 + timedelta(days=offset)
        as_of = datetime.combine(day, time(12), SH)
        with app.unit_of_work(readonly=True) as uow:
            stored = uow.collection.assignments(estate.id)
        whole = app.arrears.roster(ADMIN, estate.id, as_of=as_of)
        assert len(whole) == 4
        building_of = {u.id: u.building_id for u in units}
        for line in whole:
            expected = collector_on(stored, line.unit_id, building_of[line.unit_id], day)
            assert line.collector_staff_id == expected
        for b in buildings:
            only = app.arrears.roster(ADMIN, estate.id, as_of=as_of, building_id=b.id)
            assert only == [r for r in whole if building_of[r.unit_id] == b.id]
        for s in staff:
            theirs = app.arrears.roster(ADMIN, estate.id, as_of=as_of, collector_staff_id=s)
            assert theirs == [r for r in whole if r.collector_staff_id == s]
            both = app.arrears.roster(
                ADMIN, estate.id, as_of=as_of, collector_staff_id=s, building_id=buildings[0].id
            )
            assert both == [r for r in theirs if building_of[r.unit_id] == buildings[0].id]
