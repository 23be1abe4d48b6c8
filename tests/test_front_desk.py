"""The front desk's daily path (issue 16, points 11 and 12): the callback it owns, whom the
SLA warnings reach, one time zone for a ticket, outside work orders by name, and texts for
people (SMS in Chinese with local times, labels instead of codes)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from propcare import (
    Actor,
    FixedClock,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    Propcare,
    ValidationError,
)
from propcare.ledger.collection import Method, Outcome
from propcare.testing import RecordingChannel, RecordingSubscriber

SH = ZoneInfo("Asia/Shanghai")
MON = datetime(2026, 11, 2, 9, 0, tzinfo=SH)  # a Monday
ADMIN = Actor.system()
PHONE = "13812345678"


class Desk:
    """One estate: a unit with its owner, a repair team with a leader, and its people."""

    def __init__(self, clock: FixedClock) -> None:
        self.clock = clock
        self.sms = RecordingChannel("sms")
        self.sub = RecordingSubscriber(
            "audit", topics=frozenset({"registry.contact_revealed", "ticket.sla_alert"})
        )
        self.app = app = Propcare.open(
            "sqlite://:memory:",
            plugins=[self.sms, self.sub],
            load_entrypoints=False,
            clock=clock,
            config={"channels": {"sms": {}}, "tickets": {"notify_channel": "sms"}},
        )
        estate = app.estates.create(ADMIN, "翠苑小区")
        self.estate = estate.id
        building = app.estates.add_building(ADMIN, estate.id, "1栋")
        self.unit = app.estates.add_unit(ADMIN, building.id, "1-101", Decimal("89.5")).id
        self.owner = app.owners.create(ADMIN, estate.id, "张业主", [PHONE]).id
        app.owners.assign(ADMIN, self.unit, self.owner, date(2020, 1, 1))
        since = date(2024, 1, 1)

        def person(name: str, role: str, phone: str, team: int | None = None) -> Any:
            return app.staff.create(ADMIN, estate.id, name, [role], since, team, phone=phone)

        self.team = app.staff.create_team(ADMIN, estate.id, "维修组", "repair").id
        self.clerk = person("王客服", "front_desk", "13800000001")
        self.tech = person("李师傅", "technician", "13800000002", self.team)
        self.leader = person("陈班长", "technician", "13800000005", self.team)
        self.boss = person("赵主管", "supervisor", "13800000003")
        self.mgr = person("钱经理", "manager", "13800000004")
        self.fin = person("孙财务", "finance", "13800000006")
        app.staff.update_team(ADMIN, self.team, leader_staff_id=self.leader.id)

    def actor(self, staff: Any) -> Actor:
        return self.app.staff.actor_for(ADMIN, staff.id, MON.date())

    def repair(self, **kw: Any) -> Any:
        kw.setdefault("reporter_owner_id", self.owner)
        return self.app.tickets.open(
            self.actor(self.clerk), self.estate, category="home_repair", channel="phone",
            summary="厨房水管漏水", unit_id=self.unit, **kw,
        )  # fmt: skip

    def texts(self, template: str) -> list[tuple[str, str, str]]:
        """(recipient, subject, body) of what the channel was handed, in order."""
        self.app.dispatch_idle()
        return [
            (m.recipient.name, m.subject, m.body) for m in self.sms.sent if m.template == template
        ]


@pytest.fixture
def desk() -> Any:
    d = Desk(FixedClock(MON))
    yield d
    d.app.close()


# --- point 11: the callback the front desk owns -------------------------------------------


def test_the_front_desk_reaches_the_reporter_of_the_ticket_it_calls_back(desk: Desk) -> None:
    app, clerk, tech = desk.app, desk.actor(desk.clerk), desk.actor(desk.tech)
    t = desk.repair()
    with pytest.raises(PermissionDenied):
        app.owners.contact(clerk, desk.owner)  # no directory of owners' phones for the desk
    assert app.tickets.reporter_contact(clerk, t.id) == (PHONE,)
    # The technician does not call back, so does not see the number.
    with pytest.raises(PermissionDenied, match="ticket.callback"):
        app.tickets.reporter_contact(tech, t.id)
    assert app.tickets.reporter_contact(desk.actor(desk.boss), t.id) == (PHONE,)
    # Each reveal is in the audit, who, when, whose, for which ticket; and published.
    reveals = app.owners.reveals(desk.actor(desk.mgr), desk.estate)
    assert [
        (r.owner_id, r.ticket_id, r.purpose, r.actor, r.actor_roles, r.actor_staff_id, r.at)
        for r in reveals
    ] == [
        (desk.owner, t.id, "callback", "王客服", ("front_desk",), desk.clerk.id, MON),
        (desk.owner, t.id, "callback", "赵主管", ("supervisor",), desk.boss.id, MON),
    ]
    app.dispatch_idle()
    events = [e.payload for e in desk.sub.received if e.topic == "registry.contact_revealed"]
    assert [(e["owner_id"], e["ticket_id"], e["purpose"], e["actor"]) for e in events] == [
        (desk.owner, t.id, "callback", "王客服"),
        (desk.owner, t.id, "callback", "赵主管"),
    ]
    assert all(PHONE not in str(e) for e in events)
    # Only the ticket's own reporter, and only while there is a callback to make.
    walk_in = desk.repair(reporter_owner_id=None, reporter_name="租户刘先生")
    with pytest.raises(ValidationError, match="no reporting owner.*租户刘先生"):
        app.tickets.reporter_contact(clerk, walk_in.id)
    app.tickets.assign(clerk, t.id, staff_id=desk.tech.id)
    app.tickets.resolve(tech, t.id, "已更换")
    app.tickets.callback(clerk, t.id, satisfaction="satisfied")
    with pytest.raises(PermissionDenied, match="closed"):
        app.tickets.reporter_contact(clerk, t.id)
    outsider = Actor("外人", {"admin"}, {app.estates.create(ADMIN, "别苑").id})
    with pytest.raises(NotFound):
        app.tickets.reporter_contact(outsider, walk_in.id)
    assert len(app.owners.reveals(ADMIN, desk.estate)) == 2  # refusals reveal nothing


def test_every_reveal_is_audited_finance_and_managers_too(desk: Desk) -> None:
    app = desk.app
    assert app.owners.contact(desk.actor(desk.fin), desk.owner) == (PHONE,)
    desk.clock.advance(minutes=5)
    assert app.owners.contact(desk.actor(desk.mgr), desk.owner) == (PHONE,)
    app.owners.archive(desk.actor(desk.mgr), desk.estate, MON.date())  # masked: no reveal
    rows = app.owners.archive(desk.actor(desk.fin), desk.estate, MON.date(), reveal_contacts=True)
    assert rows[0].phones == PHONE
    reveals = app.owners.reveals(desk.actor(desk.mgr), desk.estate)
    assert [(r.owner_id, r.ticket_id, r.purpose, r.actor) for r in reveals] == [
        (desk.owner, None, "contact", "孙财务"),
        (desk.owner, None, "contact", "钱经理"),
        (None, None, "archive", "孙财务"),  # every owner of the estate
    ]
    assert reveals[1].at == MON + timedelta(minutes=5)
    assert app.owners.reveals(ADMIN, desk.estate, owner_id=desk.owner) == reveals[:2]
    # The audit is a manager's to read, not the front desk's or finance's.
    for who in (desk.clerk, desk.fin):
        with pytest.raises(PermissionDenied, match="owner.audit"):
            app.owners.reveals(desk.actor(who), desk.estate)


def test_the_arrears_roster_with_full_phones_is_audited_and_the_masked_one_is_not(
    desk: Desk,
) -> None:
    app, fin = desk.app, desk.actor(desk.fin)
    app.arrears.roster(fin, desk.estate)  # masked: nothing shown, nothing written
    assert app.owners.reveals(ADMIN, desk.estate) == []
    app.arrears.roster(fin, desk.estate, show_phones=True)
    assert [(r.owner_id, r.purpose, r.actor) for r in app.owners.reveals(ADMIN, desk.estate)] == [
        (None, "roster", "孙财务")  # the owners of every unit listed
    ]


# --- point 11: whom the SLA warnings reach ------------------------------------------------


def test_callback_warnings_go_to_the_first_contact_owner_not_the_technician(desk: Desk) -> None:
    app, clerk, tech = desk.app, desk.actor(desk.clerk), desk.actor(desk.tech)
    t = desk.repair()
    app.tickets.assign(clerk, t.id, staff_id=desk.tech.id)
    resolved = app.tickets.resolve(tech, t.id, "已更换")
    with pytest.raises(PermissionDenied):  # the technician may not make the callback
        app.tickets.callback(tech, t.id, satisfaction="satisfied")
    assert resolved.deadlines.callback is not None
    desk.clock.set(resolved.deadlines.callback + timedelta(minutes=1))
    sent = app.tickets.check_sla(ADMIN, desk.estate).sent
    assert {(a.target, a.level) for a in sent} >= {("callback", "warning")}
    warned = [name for name, subject, _ in desk.texts("sla_alert") if "预警" in subject]
    assert warned == ["王客服"]  # the first-contact owner, who makes the callback


def test_a_ticket_assigned_to_a_team_alone_warns_the_teams_leader(desk: Desk) -> None:
    app, clerk = desk.app, desk.actor(desk.clerk)
    t = desk.repair()
    assigned = app.tickets.assign(clerk, t.id, team_id=desk.team)
    assert assigned.deadlines.resolution is not None
    desk.clock.set(assigned.deadlines.resolution - timedelta(minutes=10))
    sent = app.tickets.check_sla(ADMIN, desk.estate).sent
    assert ("resolution", "warning") in {(a.target, a.level) for a in sent}
    bodies = [b for name, _, b in desk.texts("sla_alert") if name == "陈班长"]
    assert f"陈班长：工单{t.id}「厨房水管漏水」的处理时限为11月4日 10:00，请跟进。" in bodies
    warned = {name for name, subject, _ in desk.texts("sla_alert") if "预警" in subject}
    assert warned == {"陈班长"}  # not the front desk, not the technicians
    # A team without a leader: the first-contact owner hears of it, nobody is forgotten.
    app.staff.update_team(ADMIN, desk.team, leader_staff_id=None)
    again = desk.repair()
    app.tickets.assign(clerk, again.id, team_id=desk.team)
    desk.clock.set(app.tickets.get(ADMIN, again.id).deadlines.resolution - timedelta(minutes=10))
    app.tickets.check_sla(ADMIN, desk.estate)
    texts = desk.texts("sla_alert")
    assert {n for n, s, b in texts if f"工单{again.id}「" in b and "预警" in s} == {"王客服"}
    with pytest.raises(ValidationError, match="leader_staff_id"):
        app.staff.update_team(ADMIN, desk.team, leader_staff_id=desk.clerk.id + 100)


# --- point 12: one zone, outside orders, texts ----------------------------------------------


def test_every_datetime_a_ticket_returns_is_in_the_estates_zone() -> None:
    """The clock in UTC and times given in UTC: get, history, the actions' answers and the
    alerts all speak Shanghai time (the same instants)."""
    d = Desk(FixedClock(MON.astimezone(UTC)))
    try:
        app, clerk = d.app, d.actor(d.clerk)
        t = d.repair()
        app.tickets.assign(
            clerk, t.id, staff_id=d.tech.id, at=(MON + timedelta(minutes=3)).astimezone(UTC)
        )
        d.clock.advance(minutes=10)
        app.tickets.dispatch(clerk, t.id, "开发商工程部", promised="2026-11-05")
        paused = app.tickets.pause(clerk, t.id, "等配件", at=datetime(2026, 11, 2, 2, tzinfo=UTC))
        got = app.tickets.get(clerk, t.id)
        history = app.tickets.history(clerk, t.id)
        listed = app.tickets.open_tickets(clerk, d.estate)
        d.clock.set(datetime(2026, 11, 6, tzinfo=UTC))
        alerts = app.tickets.check_sla(ADMIN, d.estate).sent
        times = [
            t.state.opened_at, paused.state.responded_at, paused.state.pauses[0].start,
            got.state.opened_at, got.state.last_at, got.state.outside[0].at,
            got.state.pauses[0].start, got.deadlines.response,
            listed[0].state.opened_at, listed[0].deadlines.response,
            *(e.at for e in history),
        ]  # fmt: skip
        assert all(x is not None for x in times)
        assert {str(x.tzinfo) for x in times if x is not None} == {"Asia/Shanghai"}
        assert history[0].at == MON and history[1].at == MON + timedelta(minutes=3)
        # The outside order promised for the 5th, overdue: its alert speaks Shanghai time too.
        assert alerts and {str(a.at.tzinfo) for a in alerts} == {"Asia/Shanghai"}
        assert all(datetime.fromisoformat(a.due).utcoffset() == timedelta(hours=8) for a in alerts)
    finally:
        d.app.close()


def test_outside_done_names_the_order_that_finished(desk: Desk) -> None:
    app, clerk = desk.app, desk.actor(desk.clerk)
    t = desk.repair()
    app.tickets.dispatch(clerk, t.id, "开发商工程部", promised="2026-11-05")
    app.tickets.dispatch(clerk, t.id, "电梯公司", promised="2026-11-10")
    app.tickets.dispatch(clerk, t.id, "电梯公司")
    done = app.tickets.outside_done(clerk, t.id, party="电梯公司")
    assert [o.done_at is not None for o in done.state.outside] == [False, True, False]
    done = app.tickets.outside_done(clerk, t.id, order=3)
    assert [o.done_at is not None for o in done.state.outside] == [False, True, True]
    finished = [e.data for e in app.tickets.history(clerk, t.id) if e.action == "outside_done"]
    assert finished == [{"order": 2, "party": "电梯公司"}, {"order": 3, "party": "电梯公司"}]
    with pytest.raises(InvalidTransition, match="order 2 \\(电梯公司\\) was reported done"):
        app.tickets.outside_done(clerk, t.id, order=2)
    with pytest.raises(InvalidTransition, match="no outside order sent to 电梯公司 is pending"):
        app.tickets.outside_done(clerk, t.id, party="电梯公司")
    with pytest.raises(ValidationError, match="order=4: the ticket has 3 outside orders"):
        app.tickets.outside_done(clerk, t.id, order=4)
    with pytest.raises(ValidationError, match="sent to 开发商工程部, not to 电梯公司"):
        app.tickets.outside_done(clerk, t.id, order=1, party="电梯公司")
    with pytest.raises(ValidationError, match="order=0"):
        app.tickets.outside_done(clerk, t.id, order=0)
    # Without a name, the first order still pending, as before.
    assert app.tickets.outside_done(clerk, t.id).state.outside[0].done_at is not None


def test_an_outside_order_past_its_promised_day_alerts_the_first_contact_owner_once(
    desk: Desk,
) -> None:
    app, clerk = desk.app, desk.actor(desk.clerk)
    t = desk.repair()
    app.tickets.assign(clerk, t.id, staff_id=desk.tech.id)
    app.tickets.dispatch(clerk, t.id, "开发商工程部", promised="2026-11-03")
    app.tickets.dispatch(clerk, t.id, "电梯公司", promised="2026-11-03")
    app.tickets.outside_done(clerk, t.id, party="电梯公司")  # kept its promise
    desk.clock.set(datetime(2026, 11, 3, 23, 59, tzinfo=SH))  # the promised day itself
    assert [
        a for a in app.tickets.check_sla(ADMIN, desk.estate).sent if a.target == "outside"
    ] == []
    desk.clock.set(datetime(2026, 11, 4, 0, 1, tzinfo=SH))
    outside = [a for a in app.tickets.check_sla(ADMIN, desk.estate).sent if a.target == "outside"]
    assert [(a.ticket_id, a.order, a.party, a.level, a.due) for a in outside] == [
        (t.id, 1, "开发商工程部", "warning", "2026-11-04T00:00:00+08:00")
    ]
    desk.clock.advance(days=1)
    assert not [a for a in app.tickets.check_sla(ADMIN, desk.estate).sent if a.target == "outside"]
    texts = [(n, b) for n, _, b in desk.texts("sla_alert") if "外部派单" in b]
    assert texts == [
        (
            "王客服",
            f"王客服：工单{t.id}「厨房水管漏水」的外部派单1（开发商工程部）承诺完成时限为11月3日，请跟进。",
        )
    ]
    with app.unit_of_work(readonly=True) as uow:
        rows = uow.connection.execute(  # type: ignore[attr-defined]
            "SELECT target, level FROM sla_alerts WHERE target LIKE 'outside%'"
        ).fetchall()
    assert [tuple(r) for r in rows] == [("outside:1", "warning")]


def test_the_assignment_sms_names_the_unit(desk: Desk) -> None:
    app, clerk = desk.app, desk.actor(desk.clerk)
    t = desk.repair()
    app.tickets.assign(clerk, t.id, staff_id=desk.tech.id)
    common = app.tickets.open(
        clerk, desk.estate, category="common_repair", channel="patrol", summary="路灯不亮",
        location="3栋东侧路灯",
    )  # fmt: skip
    app.tickets.assign(clerk, common.id, staff_id=desk.tech.id)
    bodies = [b for _, _, b in desk.texts("ticket_assigned")]
    assert bodies == [
        f"李师傅：工单{t.id}（1栋1-101）厨房水管漏水，请尽快处理。",
        f"李师傅：工单{common.id}（3栋东侧路灯）路灯不亮，请尽快处理。",
    ]


def test_the_sla_alert_sms_is_in_chinese_with_the_time_in_the_estates_zone() -> None:
    d = Desk(FixedClock(MON.astimezone(UTC)))  # a clock in UTC changes nothing people read
    try:
        t = d.repair(priority="urgent")  # a 10-minute response on the 24x7 calendar
        d.clock.advance(minutes=9)
        d.app.tickets.check_sla(ADMIN, d.estate)
        d.clock.advance(minutes=5)
        d.app.tickets.check_sla(ADMIN, d.estate)
        texts = d.texts("sla_alert")
    finally:
        d.app.close()
    assert (
        "王客服",  # unassigned: the one who took the call dispatches it
        f"工单{t.id}时限提醒（预警）",
        f"王客服：工单{t.id}「厨房水管漏水」的响应时限为11月2日 09:10，请跟进。",
    ) in texts
    assert (
        "赵主管",
        f"工单{t.id}时限提醒（已超时，报主管）",
        f"赵主管：工单{t.id}「厨房水管漏水」的响应时限为11月2日 09:10，请跟进。",
    ) in texts
    assert not any("response" in body or "+00:00" in body for _, _, body in texts)


def test_the_alert_text_reads_in_english_too() -> None:
    from propcare.notify.templates import Templates

    params = {
        "ticket": 7, "name": "Zhao", "summary": "leak", "provisional": "",
        "target": {"zh-CN": "回访", "en": "callback"},
        "level": {"zh-CN": "预警", "en": "warning"},
        "due": {"zh-CN": "11月2日 18:00", "en": "2 Nov 18:00"},
    }  # fmt: skip
    subject, body = Templates().render("sla_alert", "en", params)
    assert subject == "Ticket 7 SLA alert (warning)"
    assert (
        body == "Zhao: the callback deadline of ticket 7 (leak) is 2 Nov 18:00. Please follow up."
    )
    _, zh = Templates().render("sla_alert", "zh-CN", params)
    assert zh == "Zhao：工单7「leak」的回访时限为11月2日 18:00，请跟进。"


def test_dunning_attempts_read_as_words_in_both_languages() -> None:
    """The roster's last attempt and any report table: labels, never raw codes."""
    from propcare.reports.monthly import LABELS, attempt_label

    for lang in ("zh-CN", "en"):
        for method in Method:
            assert f"method.{method.value}" in LABELS[lang]
        for outcome in Outcome:
            assert f"outcome.{outcome.value}" in LABELS[lang]
    assert attempt_label("visit", "nobody_home") == "上门·无人在家"
    assert attempt_label("phone", "promised", "en") == "phone, promised to pay"
    from propcare.cli.arrears import _attempt_text

    assert _attempt_text("2026-11-07 visit nobody_home") == (
        "2026-11-07 上门·无人在家 (visit, nobody home)"
    )
    assert _attempt_text("2026-12-01 phone promised") == (
        "2026-12-01 电话·承诺缴费 (phone, promised to pay)"
    )
    assert _attempt_text("") == ""
