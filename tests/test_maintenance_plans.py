"""Maintenance and patrol plans: rrule occurrences open tickets, once each, in one transaction."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from propcare import Actor, FixedClock, NotFound, PermissionDenied, Propcare
from propcare.errors import ValidationError
from propcare.testing import RecordingSubscriber
from propcare.tickets.planned import occurrences, parse_rule

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
    (stored,) = w.app.maintenance.plans(w.boss, w.estate.id)
    assert stored == plan
    assert stored.dtstart.tzinfo == SH and stored.dtstart.hour == 9
    assert stored.occurrences(at9(2026, 1, 1), at9(2026, 1, 1) + timedelta(days=1), SH) == [
        at9(2026, 1, 1)
    ]
