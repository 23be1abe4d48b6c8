"""Ticket records cannot be rewritten (issue 15, point 4), and ``verify`` finds what could be.

The database refuses to delete or change an event, and lets a ticket row change only one
event at a time or in its deadlines (migration 0019); ``app.tickets.verify`` and
``propcare tickets verify`` rebuild every ticket from its events and report each row that
differs. The refusals and verify's findings on both backends are in the storage contract
(propcare.testing.contract); these are the SQLite side's details, the service's and the CLI's.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from click.testing import CliRunner, Result

from propcare import Actor, FixedClock, NotFound, PermissionDenied, Propcare
from propcare.cli import main
from propcare.errors import Conflict
from propcare.tickets.model import Action, TicketEvent, apply
from propcare.tickets.record import TicketVerification

SH = ZoneInfo("Asia/Shanghai")
MON = datetime(2026, 11, 2, 9, 0, tzinfo=SH)  # a Monday
ADMIN = Actor.system()
ENV: dict[str, str | None] = {"COLUMNS": "200", "FORCE_COLOR": None, "NO_COLOR": "1"}
# Repairs answered within an hour instead of the built-in 15 minutes: a change of targets.
LENIENT = {
    "sla": {
        "policies": {
            "repair": {"category": "home_repair", "response": {"budget": "1h", "calendar": "24x7"}}
        }
    }
}


@attrs.define
class World:
    app: Propcare
    clock: FixedClock
    url: str
    estate: int
    unit: int
    clerk: int
    tech: int

    def repair(self, **kw: Any) -> int:
        return self.app.tickets.open(
            ADMIN, self.estate, category="home_repair", channel="phone", summary="厨房漏水",
            unit_id=self.unit, first_contact_staff_id=self.clerk, **kw,
        ).id  # fmt: skip

    def close(self, ticket: int) -> None:
        self.app.tickets.assign(ADMIN, ticket, staff_id=self.tech)
        self.app.tickets.resolve(ADMIN, ticket, "已修复")
        self.app.tickets.callback(ADMIN, ticket, satisfaction="satisfied")

    def reopen(self, config: Mapping[str, Any] | None = None) -> None:
        self.app.close()
        self.app = open_app(self.url, self.clock, config)

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        with self.app.unit_of_work() as uow:
            uow.execute(sql, params)  # type: ignore[attr-defined]
            uow.commit()


def open_app(url: str, clock: FixedClock, config: Mapping[str, Any] | None = None) -> Propcare:
    return Propcare.open(url, load_entrypoints=False, clock=clock, config=dict(config or {}))


@pytest.fixture
def w(tmp_path: Path) -> Iterator[World]:
    clock = FixedClock(MON)
    url = f"sqlite:///{tmp_path / 'estate.db'}"
    app = open_app(url, clock)
    estate = app.estates.create(ADMIN, "翠苑小区")
    building = app.estates.add_building(ADMIN, estate.id, "1栋")
    unit = app.estates.add_unit(ADMIN, building.id, "1-101", Decimal("89.5"))
    start = date(2024, 1, 1)
    clerk = app.staff.create(ADMIN, estate.id, "王客服", ["front_desk"], start)
    tech = app.staff.create(ADMIN, estate.id, "李师傅", ["technician"], start)
    world = World(app, clock, url, estate.id, unit.id, clerk.id, tech.id)
    yield world
    world.app.close()


def timely_response(w: World) -> tuple[int, int]:
    (row,) = w.app.ticket_stats.metrics(
        ADMIN, w.estate, MON - timedelta(days=1), MON + timedelta(days=1)
    )
    return row.timely["response"].numerator, row.timely["response"].denominator


def verified(w: World) -> TicketVerification:
    return w.app.tickets.verify(ADMIN, w.estate)


# --- the case -------------------------------------------------------------------------


def test_the_event_of_a_response_5_hours_late_cannot_be_deleted(w: World) -> None:
    ticket = w.repair()
    w.clock.set(MON + timedelta(hours=5))
    w.close(ticket)
    assert timely_response(w) == (0, 1)  # due 09:15, answered 14:00
    with pytest.raises(Conflict, match="ticket events are append-only"):
        w.execute("DELETE FROM ticket_events WHERE ticket_id = ? AND seq = 2", (ticket,))
    # The database refuses it, not only propcare's session: any program opening the file.
    path = w.url.removeprefix("sqlite:///")
    w.app.close()
    raw = sqlite3.connect(path)
    try:
        for statement in (
            "DELETE FROM ticket_events WHERE seq = 2",
            "UPDATE tickets SET responded_at = opened_at",
            "UPDATE tickets SET response_due = closed_at",
            "DELETE FROM tickets",
        ):
            with pytest.raises(sqlite3.IntegrityError):
                raw.execute(statement)
    finally:
        raw.close()
    w.app = open_app(w.url, w.clock)
    assert timely_response(w) == (0, 1)
    assert verified(w) == TicketVerification(w.estate, 1)


def test_a_stale_append_is_refused_before_it_writes_anything(w: World) -> None:
    """The event goes in first; a second writer of the same seq collides on its key."""
    ticket = w.app.tickets.get(ADMIN, w.repair())
    note = TicketEvent(2, Action.NOTE, MON, "王客服", w.clerk, {"text": "业主不在家"})
    state = apply(ticket.state, note)
    with w.app.unit_of_work() as uow:
        uow.tickets.append(ticket.id, note, state, ticket.deadlines, ticket.policy)
        with pytest.raises(Conflict, match="changed by someone else meanwhile"):
            uow.tickets.append(ticket.id, note, state, ticket.deadlines, ticket.policy)
    with w.app.unit_of_work() as uow:
        uow.execute(  # type: ignore[attr-defined]
            "INSERT INTO ticket_events (ticket_id, seq, action, at, actor, data) "
            "VALUES (?, 3, 'note', '2026-11-02T01:00:00.000000+00:00', 'x', '{}')",
            (ticket.id,),
        )
        with pytest.raises(Conflict, match="one event at a time"):
            # A row cannot skip an event: 1 -> 3.
            uow.execute(  # type: ignore[attr-defined]
                "UPDATE tickets SET last_seq = 3 WHERE id = ?", (ticket.id,)
            )
    assert [e.seq for e in w.app.tickets.history(ADMIN, ticket.id)] == [1]


# --- what verify accepts ----------------------------------------------------------------------


def test_a_change_of_targets_shows_on_open_tickets_until_recompute_and_never_on_closed(
    w: World,
) -> None:
    waiting, closed = w.repair(), w.repair()
    w.clock.set(MON + timedelta(minutes=30))
    w.close(closed)  # answered late: due 09:15
    before = w.app.tickets.get(ADMIN, closed)
    assert timely_response(w) == (0, 2)  # both late at 09:30: one answered, one waiting
    w.reopen(LENIENT)
    report = verified(w)
    assert [(t.ticket_id, t.fields) for t in report.differing] == [
        (waiting, ("deadlines.response",))
    ]
    (difference,) = report.differing[0].differences
    assert (difference.stored, difference.rebuilt) == (
        "2026-11-02T09:15:00+08:00",
        "2026-11-02T10:00:00+08:00",
    )
    # A note on the closed ticket keeps the deadlines it was reported with (before issue 15
    # it took the new targets, and the late answer turned timely).
    w.app.tickets.note(ADMIN, closed, "业主来电致谢")
    after = w.app.tickets.get(ADMIN, closed)
    assert (after.deadlines, after.policy) == (before.deadlines, before.policy)
    assert timely_response(w) == (0, 2)
    assert w.app.tickets.recompute(ADMIN, w.estate).changed == 1
    assert verified(w) == TicketVerification(w.estate, 2)
    assert timely_response(w) == (0, 1)  # the waiting one is due at 10:00 now; still late


def test_recompute_changes_only_the_deadlines_of_a_row_an_older_release_wrote(w: World) -> None:
    """A state written before last_at and close_reason existed is read with their defaults,
    kept as it is by recompute, and not reported by verify for lacking them."""
    source = w.repair()
    with w.app.unit_of_work() as uow:
        conn = uow.connection  # type: ignore[attr-defined]
        row = dict(conn.execute("SELECT * FROM tickets WHERE id = ?", (source,)).fetchone())
        state = json.loads(row["state"])
        del state["last_at"], state["close_reason"]
        row.update(id=None, state=json.dumps(state, ensure_ascii=False), response_due=None)
        columns = ", ".join(row)
        old = conn.execute(
            f"INSERT INTO tickets ({columns}) VALUES ({', '.join('?' * len(row))})",
            tuple(row.values()),
        ).lastrowid
        conn.execute(
            "INSERT INTO ticket_events SELECT ?, seq, action, at, actor, staff_id, data "
            "FROM ticket_events WHERE ticket_id = ?",
            (old, source),
        )
        uow.commit()
    (found,) = verified(w).differing
    assert (found.ticket_id, found.fields) == (old, ("deadlines.response",))
    assert w.app.tickets.recompute(ADMIN, w.estate).changed == 1
    with w.app.unit_of_work(readonly=True) as uow:
        conn = uow.connection  # type: ignore[attr-defined]
        (stored,) = conn.execute("SELECT state FROM tickets WHERE id = ?", (old,)).fetchone()
    assert json.loads(stored) == state  # the state is not rewritten
    assert verified(w) == TicketVerification(w.estate, 2)


def test_imported_history_of_many_tickets_verifies_in_chunks(w: World) -> None:
    """One query of events per chunk of 500 tickets, not one per ticket."""
    opened = {
        "category": "home_repair", "channel": "phone", "priority": "normal",
        "summary": "旧系统工单", "unit_id": w.unit, "location": "", "reporter_owner_id": None,
        "reporter_name": "", "estate_id": w.estate, "first_contact_staff_id": w.clerk,
    }  # fmt: skip
    histories = []
    for i in range(1_200):
        at = MON - timedelta(days=60) + timedelta(minutes=7 * i)
        histories.append(
            [
                TicketEvent(1, Action.OPEN, at, "旧系统", w.clerk, opened),
                TicketEvent(2, Action.ASSIGN, at + timedelta(minutes=9), "旧系统", w.clerk,
                            {"staff_id": w.tech, "team_id": None}),
                TicketEvent(3, Action.RESOLVE, at + timedelta(hours=2), "旧系统", w.tech, {}),
            ]
        )  # fmt: skip
    assert w.app.tickets.import_history(ADMIN, w.estate, histories) == 1_200
    seen: list[str] = []
    with w.app.unit_of_work(readonly=True) as uow:
        conn = uow.connection  # type: ignore[attr-defined]
    conn.set_trace_callback(seen.append)
    try:
        report = verified(w)
    finally:
        conn.set_trace_callback(None)
    assert report == TicketVerification(w.estate, 1_200)
    assert sum("FROM ticket_events" in s for s in seen) == 3


# --- what verify reports ----------------------------------------------------------------------


def test_verify_names_what_it_cannot_read_rather_than_failing(w: World) -> None:
    garbled, orphan = w.repair(), w.repair()
    w.execute("UPDATE tickets SET response_due = 'soon' WHERE id = ?", (garbled,))
    w.execute(
        "INSERT INTO tickets (estate_id, category, channel, priority, status, "
        "first_contact_staff_id, opened_at, needs_callback, policy, last_seq, state) "
        "SELECT estate_id, category, channel, priority, status, first_contact_staff_id, "
        "opened_at, needs_callback, policy, last_seq, state FROM tickets WHERE id = ?",
        (orphan,),
    )
    report = verified(w)
    assert report.checked == 3
    ((first, fields), (second, no_events)) = [(t.ticket_id, t.fields) for t in report.differing]
    assert (first, fields) == (garbled, ("deadlines",))
    assert second == orphan + 1 and no_events == ("events",)
    text = report.describe()
    assert "deadlines: stored unreadable (ValueError" in text
    assert "events: stored no events, events give no ticket" in text


def test_verify_needs_its_permission_and_sees_only_the_actors_estates(w: World) -> None:
    w.repair()
    clerk = w.app.staff.actor_for(ADMIN, w.clerk, MON.date())
    with pytest.raises(PermissionDenied):
        w.app.tickets.verify(clerk, w.estate)
    boss = w.app.staff.create(ADMIN, w.estate, "赵主管", ["supervisor"], date(2024, 1, 1))
    supervisor = w.app.staff.actor_for(ADMIN, boss.id, MON.date())
    assert w.app.tickets.verify(supervisor, w.estate).ok
    other = w.app.estates.create(ADMIN, "海棠湾")
    with pytest.raises(NotFound):
        w.app.tickets.verify(Actor("外人", frozenset({"manager"}), frozenset({other.id})), w.estate)


# --- the command ------------------------------------------------------------------------------


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=ENV)


@pytest.mark.usefixtures("quiet_opening")
def test_cli_exits_0_on_a_clean_estate_and_1_naming_each_ticket_and_field(w: World) -> None:
    moved, closed = w.repair(), w.repair()
    w.close(closed)
    w.app.close()
    db = w.url.removeprefix("sqlite:///")
    clean = run("tickets", "verify", "--db", db, "--estate", str(w.estate))
    assert clean.exit_code == 0, clean.output
    assert "Checked 2 tickets of 翠苑小区: every row is what its events give." in clean.stdout
    w.app = open_app(w.url, w.clock)
    w.execute(
        "UPDATE tickets SET response_due = '2026-11-02T06:00:00.000000+00:00' WHERE id = ?",
        (moved,),
    )
    w.app.close()
    found = run("tickets", "verify", "--db", db, "--estate", str(w.estate))
    assert found.exit_code == 1, found.output
    assert found.stderr == (
        f"error: estate={w.estate}: 1 of 2 tickets differ from their events (tickets {moved}); "
        "if SLA targets or holiday data changed, run propcare sla recompute first\n"
    )
    (line,) = [row for row in found.stdout.splitlines() if "deadlines.response" in row]
    assert line.split() == [
        str(moved), "deadlines.response", "2026-11-02T14:00:00+08:00", "2026-11-02T09:15:00+08:00"
    ]  # fmt: skip
    unknown = run("tickets", "verify", "--db", db, "--estate", "99")
    assert unknown.exit_code == 1 and unknown.stderr.startswith("error: estate=99: no such estate")
    w.app = open_app(w.url, w.clock)
