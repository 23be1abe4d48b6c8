"""Maintenance and patrol plans: rrule occurrences open tickets, once each, in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from propcare import Actor, FixedClock, NotFound, PermissionDenied, Propcare, hookimpl
from propcare.calendar import DEFAULT_CALENDARS, BusinessCalendar, HolidayData
from propcare.calendar_sources import china_holidays
from propcare.errors import ConfigError, ValidationError
from propcare.plugins.records import CalendarSource
from propcare.testing import RecordingSubscriber
from propcare.tickets.planned import (
    NonWorking,
    Plan,
    occurrence_key,
    occurrences,
    parse_rule,
    runs_every_working_day,
)

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=SH)


def at9(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 9, 0, tzinfo=SH)


@pytest.fixture
def w() -> Iterator[Any]:
    clock = FixedClock(NOW)
    sub = RecordingSubscriber("watcher", topics=frozenset({"ticket.changed"}))
    app = Propcare.open("sqlite://:memory:", plugins=[sub], load_entrypoints=False, clock=clock)
    admin = Actor.system()
    estate = app.estates.create(admin, "翠苑小区")
    building = app.estates.add_building(admin, estate.id, "1栋")
    unit = app.estates.add_unit(admin, building.id, "101", Decimal("89.5"))
    team = app.staff.create_team(admin, estate.id, "工程维修组", "repair")
    since = date(2024, 1, 1)
    boss = app.staff.create(admin, estate.id, "赵主管", ["supervisor"], since)
    clerk = app.staff.create(admin, estate.id, "王客服", ["front_desk"], since)
    w = type("W", (), {})()
    w.app, w.clock, w.sub, w.admin, w.estate, w.unit, w.team = (
        app, clock, sub, admin, estate, unit, team,
    )  # fmt: skip
    w.boss = app.staff.actor_for(admin, boss.id, NOW.date())
    w.clerk = app.staff.actor_for(admin, clerk.id, NOW.date())
    w.boss_id = boss.id
    yield w
    app.close()


def _plan(w: Any, rule: str, dtstart: datetime, **kw: Any) -> Any:
    args: dict[str, Any] = {"title": "二次供水泵房月度保养", "location": "2号泵房"}
    args.update(kw)
    return w.app.maintenance.create_plan(w.boss, w.estate.id, rule=rule, dtstart=dtstart, **args)


def _opened(w: Any, ids: list[int]) -> list[datetime]:
    return [w.app.tickets.get(w.admin, i).state.opened_at for i in ids]


def _ticket_count(w: Any) -> int:
    with w.app.unit_of_work(readonly=True) as uow:
        return int(uow.connection.execute("SELECT COUNT(*) FROM tickets").fetchone()[0])


# --- occurrences, computed by hand --------------------------------------------------------


def test_every_15_days(w: Any) -> None:
    _plan(w, "FREQ=DAILY;INTERVAL=15", at9(2026, 1, 1))
    ids = w.app.maintenance.generate(w.boss, w.estate.id, at9(2026, 1, 1), at9(2026, 3, 2))
    # 1 Jan + 15 = 16 Jan, + 15 = 31 Jan, + 15 = 15 Feb, + 15 = 2 Mar (the end: excluded).
    assert _opened(w, ids) == [
        at9(2026, 1, 1),
        at9(2026, 1, 16),
        at9(2026, 1, 31),
        at9(2026, 2, 15),
    ]


def test_monthly_on_the_first(w: Any) -> None:
    _plan(w, "FREQ=MONTHLY;BYMONTHDAY=1", at9(2026, 1, 1))
    ids = w.app.maintenance.generate(
        w.boss, w.estate.id, datetime(2026, 1, 1, tzinfo=SH), datetime(2026, 7, 1, tzinfo=SH)
    )
    assert _opened(w, ids) == [at9(2026, m, 1) for m in range(1, 7)]


def test_quarterly_from_the_15th(w: Any) -> None:
    _plan(w, "FREQ=MONTHLY;INTERVAL=3", at9(2026, 1, 15))
    ids = w.app.maintenance.generate(
        w.boss, w.estate.id, datetime(2026, 1, 1, tzinfo=SH), datetime(2026, 12, 1, tzinfo=SH)
    )
    assert _opened(w, ids) == [
        at9(2026, 1, 15),
        at9(2026, 4, 15),
        at9(2026, 7, 15),
        at9(2026, 10, 15),
    ]


def test_a_period_before_the_start_or_between_occurrences_opens_nothing(w: Any) -> None:
    _plan(w, "FREQ=MONTHLY;BYMONTHDAY=1", at9(2026, 3, 1))
    gen = w.app.maintenance.generate
    assert gen(w.boss, w.estate.id, at9(2026, 1, 1), at9(2026, 3, 1)) == []  # end excluded
    assert gen(w.boss, w.estate.id, at9(2026, 3, 2), at9(2026, 4, 1)) == []
    assert _ticket_count(w) == 0


def test_the_rule_repeats_wall_clock_time_in_the_estates_zone() -> None:
    # Given in UTC (01:00Z is 09:00 in Shanghai), expanded in Shanghai: always 09:00 local.
    utc_start = datetime(2026, 1, 1, 1, 0, tzinfo=ZoneInfo("UTC"))
    found = occurrences("FREQ=MONTHLY", utc_start.astimezone(SH), at9(2026, 1, 1), at9(2026, 4, 1))
    assert [(o.month, o.hour) for o in found] == [(1, 9), (2, 9), (3, 9)]


# --- idempotent generation --------------------------------------------------------------------


def test_generating_twice_or_for_overlapping_periods_makes_no_duplicates(w: Any) -> None:
    _plan(w, "FREQ=MONTHLY;BYMONTHDAY=1", at9(2026, 1, 1))
    gen = w.app.maintenance.generate
    first = gen(w.boss, w.estate.id, at9(2026, 1, 1), at9(2026, 4, 1))  # Jan, Feb, Mar
    assert len(first) == 3
    assert gen(w.boss, w.estate.id, at9(2026, 1, 1), at9(2026, 4, 1)) == []
    overlap = gen(w.boss, w.estate.id, at9(2026, 2, 15), at9(2026, 6, 1))  # Mar again; Apr, May
    assert _opened(w, overlap) == [at9(2026, 4, 1), at9(2026, 5, 1)]
    assert _ticket_count(w) == 5


def test_a_deactivated_plan_stops_generating(w: Any) -> None:
    keep = _plan(w, "FREQ=MONTHLY;BYMONTHDAY=1", at9(2026, 1, 1))
    stop = _plan(w, "FREQ=MONTHLY;BYMONTHDAY=10", at9(2026, 1, 1), title="消防设施月检")
    gen = w.app.maintenance.generate
    assert len(gen(w.boss, w.estate.id, at9(2026, 1, 1), at9(2026, 2, 1))) == 2
    stopped = w.app.maintenance.deactivate(w.boss, stop.id)
    assert not stopped.active
    assert w.app.maintenance.deactivate(w.boss, stop.id) == stopped  # again: no change
    ids = gen(w.boss, w.estate.id, at9(2026, 2, 1), at9(2026, 3, 1))
    assert [w.app.tickets.get(w.admin, i).state.summary for i in ids] == [keep.title]
    # The tickets it opened before stay open.
    assert len(w.app.tickets.open_tickets(w.admin, w.estate.id)) == 3
    assert [p.active for p in w.app.maintenance.plans(w.clerk, w.estate.id)] == [True, False]


# --- what the tickets carry -----------------------------------------------------------------


def test_tickets_carry_the_plans_category_channel_location_and_team(w: Any) -> None:
    plan = _plan(w, "FREQ=MONTHLY;BYMONTHDAY=1", at9(2026, 1, 1), team_id=w.team.id)
    patrol = _plan(
        w, "FREQ=DAILY;INTERVAL=15", at9(2026, 1, 1), title="单元入户巡查",
        category="other_service", location="", unit_id=w.unit.id,
    )  # fmt: skip
    ids = w.app.maintenance.generate(w.boss, w.estate.id, at9(2026, 1, 1), at9(2026, 1, 2))
    upkeep, walk = (w.app.tickets.get(w.admin, i) for i in ids)
    assert (upkeep.state.category, upkeep.state.channel) == ("common_repair", "patrol")
    assert (upkeep.state.location, upkeep.state.summary) == ("2号泵房", plan.title)
    assert (upkeep.status, upkeep.state.assignee_team_id) == ("assigned", w.team.id)
    assert upkeep.state.first_contact_staff_id == w.boss_id  # the plan's creator by default
    assert (walk.state.category, walk.state.channel) == ("other_service", "patrol")
    assert (walk.state.unit_id, walk.state.summary) == (w.unit.id, patrol.title)
    assert (walk.status, walk.state.assignee_team_id) == ("received", None)
    # Opened at the occurrence, so the SLA clock starts then; nobody to call back.
    assert upkeep.state.opened_at == at9(2026, 1, 1)
    assert not upkeep.state.needs_callback
    done = w.app.tickets.resolve(w.boss, upkeep.id)
    assert done.status == "closed"
    w.app.dispatch_idle()
    actions = [(e.payload["ticket_id"], e.payload["action"]) for e in w.sub.received]
    assert actions == [(upkeep.id, "open"), (walk.id, "open"), (upkeep.id, "assign"),
                       (upkeep.id, "resolve")]  # fmt: skip


def test_a_run_stopped_before_the_assignment_is_completed_by_the_next(
    w: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _plan(w, "FREQ=MONTHLY;BYMONTHDAY=1", at9(2026, 1, 1), team_id=w.team.id)

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("power cut between the two steps")

    with monkeypatch.context() as patch:
        patch.setattr(w.app.tickets, "assign", crash)
        with pytest.raises(RuntimeError):
            w.app.maintenance.generate(w.boss, w.estate.id, at9(2026, 1, 1), at9(2026, 3, 1))
    (waiting,) = {
        t.state.assignee_team_id for t in w.app.tickets.open_tickets(w.admin, w.estate.id)
    }
    assert waiting is None
    assert w.app.maintenance.generate(w.boss, w.estate.id, at9(2026, 1, 1), at9(2026, 3, 1)) == []
    tickets = w.app.tickets.open_tickets(w.admin, w.estate.id)
    assert [t.state.assignee_team_id for t in tickets] == [w.team.id, w.team.id]


def test_one_bad_plan_stops_the_whole_period_and_writes_nothing(w: Any) -> None:
    leaver = w.app.staff.create(
        w.admin,
        w.estate.id,
        "离职员工",
        ["front_desk"],
        date(2024, 1, 1),
        active_to=date(2026, 1, 31),
    )
    _plan(w, "FREQ=MONTHLY;BYMONTHDAY=1", at9(2026, 1, 1))
    bad = _plan(
        w, "FREQ=MONTHLY;BYMONTHDAY=5", at9(2026, 1, 5), title="电梯月检",
        first_contact_staff_id=leaver.id,
    )  # fmt: skip
    with pytest.raises(ValidationError, match=rf"not active.*plan {bad.id} '电梯月检'"):
        w.app.maintenance.generate(w.boss, w.estate.id, at9(2026, 1, 1), at9(2026, 3, 1))
    assert _ticket_count(w) == 0 and w.sub.received == []
    w.app.maintenance.deactivate(w.boss, bad.id)
    assert (
        len(w.app.maintenance.generate(w.boss, w.estate.id, at9(2026, 1, 1), at9(2026, 3, 1))) == 2
    )


# --- bad plans, roles, isolation ------------------------------------------------------------------

BAD: dict[str, tuple[dict[str, Any], str]] = {
    "not an rrule": ({"rule": "every month"}, "rule='every month'"),
    "unknown frequency": ({"rule": "FREQ=FORTNIGHTLY"}, "rule='FREQ=FORTNIGHTLY'"),
    "unknown part": ({"rule": "FREQ=DAILY;BYFOO=1"}, "BYFOO"),
    "bad interval": ({"rule": "FREQ=DAILY;INTERVAL=x"}, "INTERVAL"),
    "naive until": ({"rule": "FREQ=DAILY;UNTIL=20270101T000000"}, "UNTIL"),
    "every minute": ({"rule": "FREQ=MINUTELY"}, "at most hourly"),
    "dtstart inside": ({"rule": "DTSTART:20260101T090000\nRRULE:FREQ=DAILY"}, "single RRULE"),
    "empty rule": ({"rule": ""}, "rule"),
    "naive dtstart": ({"dtstart": datetime(2026, 1, 1, 9)}, "timezone-aware"),
    "unknown category": ({"category": "gossip"}, "category"),
    "nowhere": ({"location": " "}, "location"),
    "empty title": ({"title": ""}, "title"),
    "unknown unit": ({"unit_id": 9999}, "unit_id"),
    "unknown team": ({"team_id": 9999}, "team_id"),
    "unknown staff": ({"first_contact_staff_id": 9999}, "first_contact_staff_id"),
    "unknown calendar": ({"calendar": "weekend"}, r"calendar='weekend'.*configured: 24x7, office"),
    "calendar not a name": ({"calendar": ["office"]}, "calendar"),
    "unknown non_working": ({"non_working": "sometimes"}, "non_working='sometimes'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_plan_is_refused_and_nothing_is_written(w: Any, case: str) -> None:
    changes, match = BAD[case]
    args: dict[str, Any] = {"rule": "FREQ=MONTHLY", "dtstart": at9(2026, 1, 1)}
    args.update(changes)
    with pytest.raises(ValidationError, match=match):
        _plan(w, **args)
    assert w.app.maintenance.plans(w.boss, w.estate.id) == []


def test_an_rrule_prefix_and_lower_case_are_accepted() -> None:
    rule = parse_rule("RRULE:freq=monthly;bymonthday=1", at9(2026, 1, 1))
    assert rule.after(at9(2026, 1, 1)) == at9(2026, 2, 1)


def test_a_plan_needs_a_staff_member_accountable(w: Any) -> None:
    with pytest.raises(ValidationError, match="首问负责人"):
        w.app.maintenance.create_plan(
            w.admin, w.estate.id, title="x", rule="FREQ=MONTHLY", dtstart=at9(2026, 1, 1),
            location="泵房",
        )  # fmt: skip


def test_a_period_must_run_forward(w: Any) -> None:
    with pytest.raises(ValidationError, match="end"):
        w.app.maintenance.generate(w.boss, w.estate.id, at9(2026, 2, 1), at9(2026, 1, 1))


def test_the_front_desk_reads_plans_but_does_not_make_or_run_them(w: Any) -> None:
    plan = _plan(w, "FREQ=MONTHLY", at9(2026, 1, 1))
    assert w.app.maintenance.plans(w.clerk, w.estate.id) == [plan]
    with pytest.raises(PermissionDenied, match="maintenance.write"):
        w.app.maintenance.deactivate(w.clerk, plan.id)
    with pytest.raises(PermissionDenied, match="maintenance.generate"):
        w.app.maintenance.generate(w.clerk, w.estate.id, at9(2026, 1, 1), at9(2026, 2, 1))


def test_generation_with_a_team_needs_ticket_work_before_anything_is_written(w: Any) -> None:
    _plan(w, "FREQ=MONTHLY", at9(2026, 1, 1), team_id=w.team.id)
    planner = Actor("计划员", {"custom"}, {w.estate.id})
    host = w.app.host

    class OnlyPlans:
        from propcare import hookimpl

        @hookimpl
        def propcare_authorize(self, actor: Actor, action: str, resource: Any) -> bool | None:
            if actor.name != "计划员":
                return None
            return action in {"maintenance.generate", "ticket.open"}

    host.register(OnlyPlans())
    with pytest.raises(PermissionDenied, match="ticket.work"):
        w.app.maintenance.generate(planner, w.estate.id, at9(2026, 1, 1), at9(2026, 3, 1))
    assert _ticket_count(w) == 0


def test_another_estate_sees_no_plan(w: Any) -> None:
    plan = _plan(w, "FREQ=MONTHLY", at9(2026, 1, 1))
    other = w.app.estates.create(w.admin, "别的小区")
    outsider = Actor("外人", {"admin"}, {other.id})
    with pytest.raises(NotFound):
        w.app.maintenance.deactivate(outsider, plan.id)
    with pytest.raises(NotFound):
        w.app.maintenance.generate(outsider, w.estate.id, at9(2026, 1, 1), at9(2026, 2, 1))
    assert w.app.maintenance.plans(outsider, other.id) == []
    assert w.app.maintenance.generate(outsider, other.id, at9(2026, 1, 1), at9(2026, 2, 1)) == []
    assert w.app.maintenance.plans(w.boss, w.estate.id)[0].active


def test_plans_read_back_as_created(w: Any) -> None:
    plan = _plan(w, "FREQ=MONTHLY;BYMONTHDAY=1", at9(2026, 1, 1), team_id=w.team.id)
    moved = _plan(
        w, "FREQ=MONTHLY;BYMONTHDAY=1", at9(2026, 1, 1), calendar="office",
        non_working="next_working_day",
    )  # fmt: skip
    (stored, stored_moved) = w.app.maintenance.plans(w.boss, w.estate.id)
    assert stored == plan and (plan.calendar, plan.non_working) == (None, NonWorking.SKIP)
    assert stored_moved == moved and stored_moved.non_working is NonWorking.NEXT_WORKING_DAY
    assert stored.dtstart.tzinfo == SH and stored.dtstart.hour == 9
    assert stored.occurrences(at9(2026, 1, 1), at9(2026, 1, 1) + timedelta(days=1), SH) == [
        at9(2026, 1, 1)
    ]


# --- plans that follow a business calendar (2026: the cn schedule) ----------------------------
#
# National Day 2026 is 10-01..10-07 off with make-up working days Sunday 09-20 and Saturday
# 10-10; the Mid-Autumn Festival takes Friday 09-25 off.

WORKING_DAYS_SEP19_TO_OCT11 = [
    date(2026, 9, 20),  # a make-up Sunday
    *(date(2026, 9, d) for d in (21, 22, 23, 24)),  # 09-25: Mid-Autumn Festival
    *(date(2026, 9, d) for d in (28, 29, 30)),  # 10-01..10-07: National Day
    date(2026, 10, 8),
    date(2026, 10, 9),
    date(2026, 10, 10),  # a make-up Saturday
]


def _days(w: Any, ids: Iterable[int]) -> list[date]:
    return [t.date() for t in _opened(w, list(ids))]


@pytest.mark.parametrize(
    "rule", ["FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", "FREQ=DAILY", "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR"]
)
def test_a_working_day_patrol_skips_national_day_and_runs_on_make_up_days(
    w: Any, rule: str
) -> None:
    _plan(w, rule, at9(2026, 9, 1), title="楼栋公共区域巡查", calendar="office")
    ids = w.app.maintenance.generate(w.boss, w.estate.id, at9(2026, 9, 19), at9(2026, 10, 12))
    assert _opened(w, ids) == [at9(d.year, d.month, d.day) for d in WORKING_DAYS_SEP19_TO_OCT11]
    assert w.app.maintenance.generate(w.boss, w.estate.id, at9(2026, 9, 1), at9(2026, 11, 1)) != []
    every = _days(w, (t.id for t in w.app.tickets.open_tickets(w.admin, w.estate.id)))
    assert not [d for d in every if date(2026, 10, 1) <= d <= date(2026, 10, 7)]
    assert [d for d in every if d.weekday() >= 5] == [date(2026, 9, 20), date(2026, 10, 10)]


def test_without_a_calendar_the_rule_runs_as_written_holidays_included(w: Any) -> None:
    plan = _plan(w, "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", at9(2026, 9, 1))
    assert (plan.calendar, plan.non_working) == (None, NonWorking.SKIP)
    ids = w.app.maintenance.generate(w.boss, w.estate.id, at9(2026, 9, 19), at9(2026, 10, 12))
    days = _days(w, ids)
    assert date(2026, 10, 1) in days and date(2026, 9, 25) in days
    assert date(2026, 9, 20) not in days and date(2026, 10, 10) not in days
    assert len(days) == 15  # three whole weeks, Monday to Friday


def test_a_24x7_calendar_changes_nothing(w: Any) -> None:
    _plan(w, "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", at9(2026, 9, 1), calendar="24x7")
    _plan(w, "FREQ=MONTHLY;BYMONTHDAY=1", at9(2026, 9, 1), title="月检", calendar="24x7",
          non_working="next_working_day")  # fmt: skip
    ids = w.app.maintenance.generate(w.boss, w.estate.id, at9(2026, 9, 28), at9(2026, 10, 5))
    # Plan by plan: the weekdays, National Day included; then the 1st, not moved.
    assert _opened(w, ids) == [
        at9(2026, 9, 28), at9(2026, 9, 29), at9(2026, 9, 30), at9(2026, 10, 1),
        at9(2026, 10, 2), at9(2026, 10, 1),
    ]  # fmt: skip


def test_next_working_day_moves_the_first_of_october_to_the_eighth(w: Any) -> None:
    plan = _plan(
        w, "FREQ=MONTHLY;BYMONTHDAY=1", at9(2026, 9, 1), calendar="office",
        non_working="next_working_day", team_id=w.team.id,
    )  # fmt: skip
    gen = w.app.maintenance.generate
    ids = gen(
        w.boss, w.estate.id, datetime(2026, 9, 1, tzinfo=SH), datetime(2026, 12, 1, tzinfo=SH)
    )
    # 11-01 is a Sunday: Monday 11-02, same time.
    assert _opened(w, ids) == [at9(2026, 9, 1), at9(2026, 10, 8), at9(2026, 11, 2)]
    # The moved ticket is still the occurrence of 10-01: generating again finds it.
    with w.app.unit_of_work(readonly=True) as uow:
        assert uow.tickets.by_occurrence(plan.id, occurrence_key(at9(2026, 10, 1))) == ids[1]
    assert gen(w.boss, w.estate.id, at9(2026, 9, 1), at9(2026, 12, 1)) == []
    assert gen(w.boss, w.estate.id, at9(2026, 10, 1), at9(2026, 10, 2)) == []
    assert _ticket_count(w) == 3
    moved = w.app.tickets.get(w.admin, ids[1])
    assert moved.state.assignee_team_id == w.team.id


def test_a_period_holds_the_occurrences_of_its_rule_even_when_they_move_out_of_it(w: Any) -> None:
    _plan(w, "FREQ=MONTHLY;BYMONTHDAY=1", at9(2026, 9, 1), calendar="office",
          non_working="next_working_day")  # fmt: skip
    ids = w.app.maintenance.generate(w.boss, w.estate.id, at9(2026, 10, 1), at9(2026, 10, 2))
    assert _opened(w, ids) == [at9(2026, 10, 8)]
    assert w.app.maintenance.generate(w.boss, w.estate.id, at9(2026, 10, 8), at9(2026, 10, 9)) == []


def test_a_plan_on_chosen_days_gets_no_make_up_occurrence(w: Any) -> None:
    _plan(w, "FREQ=WEEKLY;BYDAY=MO", at9(2026, 9, 1), title="周一设备巡检", calendar="office")
    _plan(w, "FREQ=MONTHLY;BYMONTHDAY=1", at9(2026, 9, 1), title="月检", calendar="office")
    ids = w.app.maintenance.generate(w.boss, w.estate.id, at9(2026, 9, 14), at9(2026, 10, 19))
    # Mondays 09-14, 09-21, 09-28, 10-12; 10-05 is National Day; nothing on 09-20 or 10-10;
    # the 1st of October is a holiday and skip drops it.
    assert _days(w, ids) == [
        date(2026, 9, 14), date(2026, 9, 21), date(2026, 9, 28), date(2026, 10, 12)
    ]  # fmt: skip


OFFICE = BusinessCalendar(
    {"mon-fri": ["09:00-12:00", "13:30-18:00"]}, china_holidays(), name="office"
)


@pytest.mark.parametrize(
    ("rule", "office", "always"),
    [
        ("FREQ=DAILY", True, True),
        ("FREQ=DAILY;BYHOUR=9,15", True, True),
        ("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR", True, False),  # 24x7 works weekends too
        ("RRULE:freq=weekly;byday=su,mo,tu,we,th,fr,sa", True, True),
        ("FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR;COUNT=30", True, False),
        ("FREQ=DAILY;INTERVAL=2", False, False),
        ("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH", False, False),
        ("FREQ=WEEKLY;BYDAY=MO", False, False),
        ("FREQ=WEEKLY", False, False),  # dtstart's weekday only
        ("FREQ=WEEKLY;BYDAY=1MO,TU,WE,TH,FR", False, False),  # an ordinal picks days
        ("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR", False, False),
        ("FREQ=DAILY;BYMONTH=1,2,3", False, False),
        ("FREQ=MONTHLY;BYMONTHDAY=1", False, False),
        ("FREQ=HOURLY;INTERVAL=2", False, False),
    ],
)
def test_a_plan_runs_every_working_day_when_its_weekdays_cover_the_calendars(
    rule: str, office: bool, always: bool
) -> None:
    monday = at9(2026, 9, 7)
    assert runs_every_working_day(rule, monday, OFFICE) is office
    assert runs_every_working_day(rule, monday, BusinessCalendar.always()) is always


def _schedule(
    rule: str, start: datetime, end: datetime, **kw: Any
) -> list[tuple[datetime, datetime]]:
    plan = Plan(
        estate_id=1, title="巡查", rule=rule, dtstart=at9(2026, 9, 1), first_contact_staff_id=1,
        location="1栋", calendar="office", **kw,
    )  # fmt: skip
    due = plan.schedule(start, end, SH, OFFICE).due
    return [(o.key, o.at) for o in due]


def test_a_make_up_day_gets_the_rules_times_of_day_within_its_span() -> None:
    twice = _schedule("FREQ=DAILY;BYHOUR=9,15;BYMINUTE=0", at9(2026, 10, 9), at9(2026, 10, 12))
    assert [k for k, _ in twice] == [
        at9(2026, 10, 9), at9(2026, 10, 9) + timedelta(hours=6),
        at9(2026, 10, 10), at9(2026, 10, 10) + timedelta(hours=6),
    ]  # fmt: skip
    ended = _schedule("FREQ=DAILY;UNTIL=20261009T120000Z", at9(2026, 10, 1), at9(2026, 10, 12))
    assert [k for k, _ in ended] == [at9(2026, 10, 8), at9(2026, 10, 9)]  # not 10-10
    # 09-20 comes before the rule's dtstart of 09-21: no make-up occurrence then.
    later = Plan(
        estate_id=1, title="巡查", rule="FREQ=DAILY", dtstart=at9(2026, 9, 21),
        first_contact_staff_id=1, location="1栋", calendar="office",
    )  # fmt: skip
    due = later.schedule(at9(2026, 9, 19), at9(2026, 9, 22), SH, OFFICE).due
    assert [o.key for o in due] == [at9(2026, 9, 21)]


def test_a_plan_that_follows_a_calendar_needs_it() -> None:
    plan = Plan(
        estate_id=1, title="巡查", rule="FREQ=DAILY", dtstart=at9(2026, 9, 1),
        first_contact_staff_id=1, location="1栋", calendar="office",
    )  # fmt: skip
    with pytest.raises(ValidationError, match="calendar='office'"):
        plan.schedule(at9(2026, 9, 1), at9(2026, 9, 2), SH)


def test_a_calendar_no_longer_configured_stops_generation(
    w: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _plan(w, "FREQ=DAILY", at9(2026, 9, 1), calendar="office")
    monkeypatch.delitem(w.app.calendars, "office")
    with pytest.raises(ConfigError, match=r"calendar='office'.*configured: 24x7"):
        w.app.maintenance.generate(w.boss, w.estate.id, at9(2026, 9, 1), at9(2026, 9, 8))
    assert _ticket_count(w) == 0


# A test fixture, not the State Council's 2027 schedule: it only marks one made-up closure
# (Wednesday 2027-01-06) and says the year is covered, which is all this test needs.
TEST_2027 = HolidayData(
    days_off=frozenset({date(2027, 1, 6)}),
    years=frozenset({2027}),
    source="test fixture (not the official 2027 schedule)",
)


def _cn_to_2026() -> HolidayData:
    """The cn data up to 2026, whatever later years a newer chinesecalendar knows."""
    cn = china_holidays()
    return HolidayData(
        frozenset(d for d in cn.days_off if d.year <= 2026),
        frozenset(d for d in cn.days_on if d.year <= 2026),
        frozenset(y for y in cn.years if y <= 2026),
        "cn to 2026",
    )


class FixtureSources:
    @hookimpl
    def propcare_calendars(self) -> list[CalendarSource]:
        return [
            CalendarSource("cn-2026", lambda settings: _cn_to_2026()),
            CalendarSource("test-2027", lambda settings: TEST_2027),
        ]


def _office(*sources: str) -> dict[str, Any]:
    office = {**DEFAULT_CALENDARS["office"], "sources": list(sources)}
    return {"calendars": {"office": office, "24x7": DEFAULT_CALENDARS["24x7"]}}


def test_a_year_without_holiday_data_is_held_back_until_the_calendar_has_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path}/plans.db"
    clock = FixedClock(datetime(2026, 12, 20, 9, 0, tzinfo=SH))
    admin = Actor.system()
    opened_with = {"plugins": [FixtureSources()], "load_entrypoints": False, "clock": clock}
    with Propcare.open(url, config=_office("cn-2026"), **opened_with) as app:
        estate = app.estates.create(admin, "翠苑小区")
        boss = app.staff.create(admin, estate.id, "赵主管", ["supervisor"], date(2024, 1, 1))
        patrol = app.maintenance.create_plan(
            admin, estate.id, title="楼栋公共区域巡查", rule="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
            dtstart=at9(2026, 12, 1), location="1栋", first_contact_staff_id=boss.id,
            calendar="office",
        )  # fmt: skip
        monthly = app.maintenance.create_plan(
            admin, estate.id, title="泵房月检", rule="FREQ=MONTHLY;BYMONTHDAY=1",
            dtstart=at9(2026, 12, 1), location="泵房", first_contact_staff_id=boss.id,
        )  # fmt: skip
        period = (at9(2026, 12, 28), at9(2027, 1, 9))
        with caplog.at_level(logging.WARNING, logger="propcare.tickets.plans"):
            run = app.maintenance.run(admin, estate.id, *period)
        # 2026 is known: Monday 12-28 to Thursday 12-31. The plan without a calendar runs
        # on 2027-01-01 as written. The calendar has no 2027 data: six weekdays wait.
        opened = [app.tickets.get(admin, i) for i in run.opened]
        assert [(t.state.summary, t.state.opened_at.date()) for t in opened] == [
            *((patrol.title, date(2026, 12, d)) for d in (28, 29, 30, 31)),
            (monthly.title, date(2027, 1, 1)),
        ]
        assert [(h.plan_id, h.calendar, h.year) for h in run.held] == [
            (patrol.id, "office", 2027)
        ] * 6
        assert [h.occurrence for h in run.held] == [
            at9(2027, 1, 1), *(at9(2027, 1, d) for d in range(4, 9))
        ]  # fmt: skip
        (warning,) = [r.getMessage() for r in caplog.records if r.name == "propcare.tickets.plans"]
        assert f"plan {patrol.id} '楼栋公共区域巡查'" in warning
        assert "calendar 'office' has no holiday data for 2027" in warning
        assert app.maintenance.generate(admin, estate.id, *period) == []  # still held, no duplicate

    # The year's data is added to the calendar's sources: the next run opens what waited.
    with Propcare.open(url, config=_office("cn-2026", "test-2027"), **opened_with) as app:
        caplog.clear()
        run = app.maintenance.run(admin, estate.id, *period)
        assert run.held == ()
        assert [r for r in caplog.records if r.name == "propcare.tickets.plans"] == []
        assert [app.tickets.get(admin, i).state.opened_at for i in run.opened] == [
            at9(2027, 1, d)
            for d in (1, 4, 5, 7, 8)  # the fixture closes 01-06
        ]
        assert app.maintenance.generate(admin, estate.id, *period) == []
