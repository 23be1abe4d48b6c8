"""The ticket service on SQLite: intake, lifecycle, SLA on the China office calendar, alerts."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from propcare import Actor, FixedClock, InvalidTransition, NotFound, PermissionDenied, Propcare
from propcare.errors import Conflict, ValidationError
from propcare.sla.policy import Target
from propcare.testing import RecordingChannel, RecordingSubscriber

SH = ZoneInfo("Asia/Shanghai")
MON = datetime(2026, 11, 2, 9, 0, tzinfo=SH)  # a Monday


@pytest.fixture
def w() -> Any:
    clock = FixedClock(MON)
    sub = RecordingSubscriber("watcher", topics=frozenset({"ticket.changed", "ticket.sla_alert"}))
    sms = RecordingChannel("sms")
    app = Propcare.open(
        "sqlite://:memory:",
        plugins=[sub, sms],
        load_entrypoints=False,
        clock=clock,
        config={"channels": {"log": {}, "sms": {}}, "tickets": {"notify_channel": "sms"}},
    )
    admin = Actor.system()
    estate = app.estates.create(admin, "翠苑小区")
    building = app.estates.add_building(admin, estate.id, "1栋")
    unit = app.estates.add_unit(admin, building.id, "1-101", Decimal("89.5"))
    team = app.staff.create_team(admin, estate.id, "维修组", "repair")
    start = date(2024, 1, 1)
    clerk = app.staff.create(admin, estate.id, "王客服", ["front_desk"], start, phone="13800000001")
    tech = app.staff.create(
        admin, estate.id, "李师傅", ["technician"], start, team.id, phone="13800000002"
    )
    boss = app.staff.create(admin, estate.id, "赵主管", ["supervisor"], start, phone="13800000003")
    mgr = app.staff.create(admin, estate.id, "钱经理", ["manager"], start, phone="13800000004")
    w = type("W", (), {})()
    w.app, w.clock, w.sub, w.sms, w.estate, w.unit, w.team = (
        app,
        clock,
        sub,
        sms,
        estate,
        unit,
        team,
    )
    w.admin = admin
    w.clerk = app.staff.actor_for(admin, clerk.id, MON.date())
    w.tech = app.staff.actor_for(admin, tech.id, MON.date())
    w.boss, w.mgr, w.tech_id, w.clerk_id = boss, mgr, tech.id, clerk.id
    yield w
    app.close()


def _repair(w: Any, **kw: Any) -> Any:
    return w.app.tickets.open(
        w.clerk,
        w.estate.id,
        category="home_repair",
        channel="phone",
        summary="厨房水管漏水",
        unit_id=w.unit.id,
        **kw,
    )


def test_intake_fixes_the_first_contact_owner_and_computes_deadlines(w: Any) -> None:
    t = _repair(w)
    assert t.state.first_contact_staff_id == w.clerk_id
    assert t.status == "received" and t.policy == "repair"
    # Response on 24x7: 15 minutes. Resolution on office hours: 16 working hours from Monday
    # 09:00 with 09:00-12:00 and 13:30-18:00 (7.5 h a day) -> Wednesday 10:00.
    assert t.deadlines.response == MON + timedelta(minutes=15)
    assert t.deadlines.resolution == datetime(2026, 11, 4, 10, 0, tzinfo=SH)
    assert t.deadlines.arrival == datetime(2026, 11, 2, 11, 0, tzinfo=SH)


def test_the_lifecycle_end_to_end_with_history_and_events(w: Any) -> None:
    t = _repair(w)
    app, clock = w.app, w.clock
    clock.advance(minutes=5)
    app.tickets.assign(w.clerk, t.id, staff_id=w.tech_id)
    clock.advance(minutes=40)
    app.tickets.arrive(w.tech, t.id)
    app.tickets.charge(w.tech, t.id, "更换水龙头", Decimal("35.00"), 2)
    clock.advance(minutes=30)
    app.tickets.resolve(w.tech, t.id, "已更换")
    clock.advance(hours=2)
    done = app.tickets.callback(w.clerk, t.id, satisfaction="satisfied", fixed=True)
    assert done.status == "closed"
    assert [e.action for e in app.tickets.history(w.admin, t.id)] == [
        "open", "assign", "arrive", "charge", "resolve", "callback",
    ]  # fmt: skip
    app.dispatch_idle()
    assert [e.payload["action"] for e in w.sub.received] == [
        "open", "assign", "arrive", "charge", "resolve", "callback",
    ]  # fmt: skip
    assert done.state.charges[0].amount == Decimal("70.00")
    with app.unit_of_work(readonly=True) as uow:
        row = uow.connection.execute(  # type: ignore[attr-defined]
            "SELECT amount_fen, unit_id FROM ticket_charges"
        ).fetchone()
    assert tuple(row) == (7000, w.unit.id)
    # The technician heard about the assignment through the configured channel.
    assert [m.recipient.name for m in w.sms.sent] == ["李师傅"]
    assert "厨房水管漏水" in w.sms.sent[0].body


def test_pause_and_resume_move_the_deadline_by_the_paused_working_time(w: Any) -> None:
    t = _repair(w)
    app, clock = w.app, w.clock
    app.tickets.assign(w.clerk, t.id, staff_id=w.tech_id)
    clock.advance(hours=1)
    paused = app.tickets.pause(w.tech, t.id, "等待业主回家")
    assert paused.deadlines.resolution is None
    clock.advance(hours=2)  # 10:00 -> 12:00: two working hours lost to the pause
    resumed = app.tickets.resume(w.tech, t.id)
    # Wednesday 10:00 plus the two lost hours: 12:00 exactly (a budget ending at a window's end
    # gives that end, not the afternoon opening).
    assert resumed.deadlines.resolution == datetime(2026, 11, 4, 12, 0, tzinfo=SH)


def test_callback_not_fixed_reopens_with_a_rework_target(w: Any) -> None:
    t = _repair(w)
    app, clock = w.app, w.clock
    app.tickets.assign(w.clerk, t.id, staff_id=w.tech_id)
    app.tickets.resolve(w.tech, t.id)
    clock.advance(hours=1)
    again = app.tickets.callback(w.clerk, t.id, satisfaction="dissatisfied", fixed=False)
    assert again.status == "assigned" and again.state.rework_count == 1
    # Rework: 8 working hours from Monday 10:00 -> Tuesday 10:30.
    assert again.deadlines.resolution == datetime(2026, 11, 3, 10, 30, tzinfo=SH)


def test_a_spring_festival_repair_waits_for_the_working_days(w: Any) -> None:
    eve = datetime(2026, 2, 13, 17, 0, tzinfo=SH)  # Friday before the 2026 Spring Festival
    w.clock.set(eve)
    t = _repair(w)
    # One office hour on Friday the 13th; Saturday 14th is a make-up working day (调休) with
    # 7.5 hours; the holiday runs 15th-23rd; the last 7.5 hours fill Tuesday the 24th.
    # (chinesecalendar: 2026-02-14 and 2026-02-28 are make-up working days.)
    assert t.deadlines.resolution == datetime(2026, 2, 24, 18, 0, tzinfo=SH)
    assert t.deadlines.resolution.utcoffset() == timedelta(hours=8)  # shown in the estate's zone


def test_illegal_actions_and_bad_input_write_nothing(w: Any) -> None:
    t = _repair(w)
    app = w.app
    before = app.tickets.history(w.admin, t.id)
    with pytest.raises(InvalidTransition):
        app.tickets.callback(w.clerk, t.id, satisfaction="satisfied")
    with pytest.raises(InvalidTransition):
        app.tickets.resume(w.tech, t.id)
    with pytest.raises(ValidationError, match="staff_id"):
        app.tickets.assign(w.clerk, t.id, staff_id=9999)
    with pytest.raises(ValidationError, match="reason"):
        app.tickets.cancel(w.clerk, t.id, "")
    with pytest.raises(ValidationError, match="timezone-aware"):
        app.tickets.resolve(w.tech, t.id, at=datetime(2026, 11, 2, 10, 0))
    with pytest.raises(TypeError):
        app.tickets.charge(w.tech, t.id, "x", 3.5)  # type: ignore[arg-type]
    assert app.tickets.history(w.admin, t.id) == before
    with pytest.raises(ValidationError, match="category"):
        w.app.tickets.open(
            w.clerk, w.estate.id, category="gossip", channel="phone", summary="x", location="大堂"
        )
    with pytest.raises(ValidationError, match="location"):
        w.app.tickets.open(w.clerk, w.estate.id, category="complaint", channel="phone", summary="x")
    with pytest.raises(ValidationError, match="first_contact_staff_id"):
        w.app.tickets.open(
            w.admin,
            w.estate.id,
            category="complaint",
            channel="phone",
            summary="x",
            location="门岗",
        )
    with w.app.unit_of_work(readonly=True) as uow:
        assert len(uow.tickets.open_in(w.estate.id)) == 1


def test_roles_and_estates_limit_ticket_work(w: Any) -> None:
    t = _repair(w)
    with pytest.raises(PermissionDenied, match="ticket.callback"):
        w.app.tickets.close(w.tech, t.id)
    other = w.app.estates.create(w.admin, "别的小区")
    outsider = Actor("外人", {"admin"}, {other.id})
    with pytest.raises(NotFound):
        w.app.tickets.get(outsider, t.id)
    with pytest.raises(NotFound):
        w.app.tickets.assign(outsider, t.id, staff_id=w.tech_id)


def test_escalation_is_sent_once(w: Any) -> None:
    t = _repair(w, priority="urgent")  # urgent: 10-minute response on the 24x7 calendar
    app, clock = w.app, w.clock
    clock.advance(minutes=9)
    first = app.tickets.check_sla(w.admin, w.estate.id)
    assert {(a.target, a.level) for a in first.sent} == {("response", "warning")}  # 90% used
    assert first.checked == 1 and first.skipped == ()
    clock.advance(minutes=5)
    second = app.tickets.check_sla(w.admin, w.estate.id)
    assert ("response", "supervisor") in {(a.target, a.level) for a in second.sent}
    assert app.tickets.check_sla(w.admin, w.estate.id).sent == ()  # nothing twice
    app.dispatch_idle()
    supervisors = [
        m for m in w.sms.sent if m.template == "sla_alert" and m.recipient.name == "赵主管"
    ]
    assert len([m for m in supervisors if "的响应时限" in m.body]) == 1
    assert t.id in {e.payload["ticket_id"] for e in w.sub.received if e.topic == "ticket.sla_alert"}


def test_two_clerks_acting_on_one_ticket_at_once_conflict(w: Any) -> None:
    t = _repair(w)
    with w.app.unit_of_work() as uow:
        ticket = uow.tickets.get(t.id)
        assert ticket is not None
        from propcare.tickets.model import Action, TicketEvent, apply

        stale = TicketEvent(2, Action.NOTE, MON, "x", None, {"text": "a"})
        uow.tickets.append(t.id, stale, apply(ticket.state, stale), ticket.deadlines, "repair")
        with pytest.raises(Conflict):
            uow.tickets.append(t.id, stale, apply(ticket.state, stale), ticket.deadlines, "repair")


def test_recompute_after_a_policy_change(w: Any) -> None:
    t = _repair(w)
    assert w.app.tickets.recompute(w.admin, w.estate.id).changed == 0
    from propcare.sla.policy import DEFAULT_POLICIES, PolicySet, SlaPolicy, TargetRule

    faster = SlaPolicy(
        "fast repair",
        "home_repair",
        response=TargetRule(timedelta(minutes=5), "24x7"),
        resolution=TargetRule(timedelta(hours=4), "office"),
    )
    w.app.sla_policies = PolicySet(DEFAULT_POLICIES, [faster])
    assert w.app.tickets.recompute(w.admin, w.estate.id).changed == 1
    again = w.app.tickets.get(w.admin, t.id)
    assert again.policy == "fast repair"
    assert again.deadlines.resolution == MON + timedelta(hours=4, minutes=90)


def test_a_call_in_a_year_without_calendar_data_is_recorded_and_completed_later(
    w: Any, tmp_path: Any
) -> None:
    w.clock.set(datetime(2027, 1, 5, 9, 0, tzinfo=SH))
    t = _repair(w)
    assert t.id > 0  # 首问负责制: the call is on record
    assert t.deadlines.response == datetime(2027, 1, 5, 9, 15, tzinfo=SH)  # 24x7 needs no data
    # Office hours without 2027 holidays: provisional, on the weekly windows, and flagged.
    assert t.deadlines.resolution == datetime(2027, 1, 7, 10, 0, tzinfo=SH)
    assert t.deadlines.provisional == (Target.ARRIVAL, Target.RESOLUTION)
    assert t.deadlines.missing_years == (2027,) and t.awaits_holiday_data
    w.clock.advance(hours=3)
    check = w.app.tickets.check_sla(w.admin, w.estate.id)
    by_target = {a.target: a.provisional for a in check.sent}
    assert by_target == {"response": "", "arrival": "2027"}  # alerted, and said to be provisional
    # The staff's SMS says so too; the 24x7 response alert does not.
    w.app.dispatch_idle()
    texts = [m.body for m in w.sms.sent if m.template == "sla_alert"]
    arrival = [t for t in texts if "的到场时限" in t]
    assert arrival and all("（临时时限：缺少 2027 年节假日数据）" in t for t in arrival)
    assert not any("临时时限" in t for t in texts if t not in arrival)
    # The company adds next year's schedule; recompute fills the deadlines.
    path = tmp_path / "2027.toml"
    path.write_text('covers = [2027]\ndays_off = ["2027-01-01"]\ndays_on = []\n')
    from propcare.calendar import build_calendars

    sources = {p.record.name: p.record for p in w.app.host.calendars()}
    w.app.calendars = build_calendars(
        {
            "office": {
                "windows": {"mon-fri": ["09:00-12:00", "13:30-18:00"]},
                "sources": ["cn", {"file": str(path)}],
            },
            "24x7": {"always": True},
        },
        sources,
    )
    assert w.app.tickets.recompute(w.admin, w.estate.id).changed == 1
    again = w.app.tickets.get(w.admin, t.id)
    # Real data for 2027 moved nothing here (1 January is before the call), but the flag
    # is gone: the deadline now rests on the schedule, not on the weekly windows.
    assert again.deadlines.resolution == datetime(2027, 1, 7, 10, 0, tzinfo=SH)
    assert not again.awaits_holiday_data and again.deadlines.gaps == ()


@pytest.mark.parametrize(
    ("alerts", "field"),
    [
        ({"warn_fraction": "80%"}, "tickets.alerts.warn_fraction"),
        ({"warn_fraction": 1.5}, "tickets.alerts.warn_fraction"),
        ({"warn_remaining": 30}, "tickets.alerts"),
    ],
)
def test_bad_alert_settings_are_refused_when_the_app_opens(alerts: Any, field: str) -> None:
    from propcare import ConfigError

    with pytest.raises(ConfigError, match=field):
        Propcare.open(
            "sqlite://:memory:", load_entrypoints=False, config={"tickets": {"alerts": alerts}}
        )


def test_alert_settings_are_read_from_config() -> None:
    with Propcare.open(
        "sqlite://:memory:",
        load_entrypoints=False,
        config={"tickets": {"alerts": {"warn_fraction": 0.5, "warn_remaining_minutes": 60}}},
    ) as app:
        assert app.sla_alert_rules.warn_fraction == 0.5
        assert app.sla_alert_rules.warn_remaining == timedelta(hours=1)
