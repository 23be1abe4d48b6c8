"""SQLite repository of tickets: the folded state beside the append-only events."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import TYPE_CHECKING, Any

from propcare.errors import Conflict
from propcare.money import to_fen
from propcare.sla.engine import Deadlines
from propcare.storage.codec import converter, dumps, loads
from propcare.tickets.model import Charge, TicketEvent, TicketState
from propcare.tickets.record import Ticket

if TYPE_CHECKING:
    from propcare.storage.sqlite import SqliteUnitOfWork

__all__ = ["TicketRepo"]


def _ts(value: datetime | None) -> str | None:
    from propcare.storage.sqlite import ts

    return None if value is None else ts(value)


_COLUMNS = (
    "estate_id, category, channel, priority, status, unit_id, first_contact_staff_id, "
    "assignee_staff_id, assignee_team_id, opened_at, responded_at, arrived_at, resolved_at, "
    "closed_at, cancelled_at, callback_at, satisfaction, rework_count, needs_callback, "
    "response_due, arrival_due, resolution_due, callback_due, policy, last_seq, state"
)
_SNAPSHOT = (
    "status = ?, assignee_staff_id = ?, assignee_team_id = ?, responded_at = ?, "
    "arrived_at = ?, resolved_at = ?, closed_at = ?, cancelled_at = ?, callback_at = ?, "
    "satisfaction = ?, rework_count = ?, needs_callback = ?, response_due = ?, arrival_due = ?, "
    "resolution_due = ?, callback_due = ?, policy = ?, last_seq = ?, state = ?"
)


def _snapshot(state: TicketState, due: Deadlines, policy: str) -> tuple[Any, ...]:
    return (
        state.status.value,
        state.assignee_staff_id,
        state.assignee_team_id,
        _ts(state.responded_at),
        _ts(state.arrived_at),
        _ts(state.resolved_at),
        _ts(state.closed_at),
        _ts(state.cancelled_at),
        _ts(state.callback_at),
        None if state.satisfaction is None else state.satisfaction.value,
        state.rework_count,
        int(state.needs_callback),
        _ts(due.response),
        _ts(due.arrival),
        _ts(due.resolution),
        _ts(due.callback),
        policy,
        state.last_seq,
        dumps(state),
    )


def _event_row(ticket_id: int, e: TicketEvent) -> tuple[Any, ...]:
    return (
        ticket_id,
        e.seq,
        e.action.value,
        _ts(e.at),
        e.actor,
        e.staff_id,
        json.dumps(converter.unstructure(dict(e.data)), ensure_ascii=False),
    )


class TicketRepo:
    def __init__(self, uow: SqliteUnitOfWork) -> None:
        self._uow = uow

    def add(
        self,
        state: TicketState,
        event: TicketEvent,
        deadlines: Deadlines,
        policy: str,
        plan: tuple[int, str] | None = None,
    ) -> int:
        snap = _snapshot(state, deadlines, policy)
        cur = self._uow.execute(
            f"INSERT INTO tickets ({_COLUMNS}, plan_id, occurrence) "
            f"VALUES ({', '.join('?' for _ in range(28))})",
            self._insert_row(state, snap, plan),
        )
        ticket_id = int(cur.lastrowid or 0)
        self._uow.execute(
            "INSERT INTO ticket_events VALUES (?, ?, ?, ?, ?, ?, ?)", _event_row(ticket_id, event)
        )
        return ticket_id

    @staticmethod
    def _insert_row(
        state: TicketState, snap: tuple[Any, ...], plan: tuple[int, str] | None
    ) -> tuple[Any, ...]:
        (status, staff, team, responded, arrived, resolved, closed, cancelled, called) = snap[:9]
        return (
            state.estate_id,
            state.category.value,
            state.channel.value,
            state.priority.value,
            status,
            state.unit_id,
            state.first_contact_staff_id,
            staff,
            team,
            _ts(state.opened_at),
            responded,
            arrived,
            resolved,
            closed,
            cancelled,
            called,
            *snap[9:],
            None if plan is None else plan[0],
            None if plan is None else plan[1],
        )

    def append(
        self,
        ticket_id: int,
        event: TicketEvent,
        state: TicketState,
        deadlines: Deadlines,
        policy: str,
    ) -> None:
        """Record ``event`` and the state it led to; Conflict if someone else moved first."""
        cur = self._uow.execute(
            f"UPDATE tickets SET {_SNAPSHOT} WHERE id = ? AND last_seq = ?",
            (*_snapshot(state, deadlines, policy), ticket_id, event.seq - 1),
        )
        if cur.rowcount != 1:
            raise Conflict("ticket_id", ticket_id, "changed by someone else meanwhile; reload it")
        self._uow.execute(
            "INSERT INTO ticket_events VALUES (?, ?, ?, ?, ?, ?, ?)", _event_row(ticket_id, event)
        )

    def refresh(
        self, ticket_id: int, state: TicketState, deadlines: Deadlines, policy: str
    ) -> None:
        """Store recomputed deadlines (a policy or calendar changed); the history stays."""
        self._uow.execute(
            f"UPDATE tickets SET {_SNAPSHOT} WHERE id = ?",
            (*_snapshot(state, deadlines, policy), ticket_id),
        )

    def get(self, ticket_id: int) -> Ticket | None:
        row = self._uow.execute(
            "SELECT id, state, policy, response_due, arrival_due, resolution_due, callback_due "
            "FROM tickets WHERE id = ?",
            (ticket_id,),
        ).fetchone()
        return None if row is None else _ticket(row)

    def open_in(self, estate_id: int) -> list[Ticket]:
        rows = self._uow.execute(
            "SELECT id, state, policy, response_due, arrival_due, resolution_due, callback_due "
            "FROM tickets WHERE estate_id = ? AND status NOT IN ('closed', 'cancelled') "
            "ORDER BY id",
            (estate_id,),
        )
        return [_ticket(r) for r in rows]

    def opened_between(self, estate_id: int, start: datetime, end: datetime) -> list[Ticket]:
        rows = self._uow.execute(
            "SELECT id, state, policy, response_due, arrival_due, resolution_due, callback_due "
            "FROM tickets WHERE estate_id = ? AND opened_at >= ? AND opened_at < ? ORDER BY id",
            (estate_id, _ts(start), _ts(end)),
        )
        return [_ticket(r) for r in rows]

    def events(self, ticket_id: int) -> list[TicketEvent]:
        rows = self._uow.execute(
            "SELECT seq, action, at, actor, staff_id, data FROM ticket_events "
            "WHERE ticket_id = ? ORDER BY seq",
            (ticket_id,),
        )
        return [
            TicketEvent(
                seq=r["seq"],
                action=r["action"],
                at=datetime.fromisoformat(r["at"]),
                actor=r["actor"],
                staff_id=r["staff_id"],
                data=json.loads(r["data"]),
            )
            for r in rows
        ]

    def add_charge(self, ticket_id: int, state: TicketState, seq: int, charge: Charge) -> None:
        self._uow.execute(
            "INSERT INTO ticket_charges (ticket_id, estate_id, unit_id, seq, item, quantity, "
            "unit_price_fen, amount_fen, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                ticket_id,
                state.estate_id,
                state.unit_id,
                seq,
                charge.item,
                str(charge.quantity),
                to_fen(charge.unit_price),
                to_fen(charge.amount),
                _ts(charge.at),
            ),
        )

    def record_alert(self, ticket_id: int, target: str, level: str, at: datetime) -> bool:
        """True the first time this alert is recorded, False if it was sent before."""
        cur = self._uow.execute(
            "INSERT OR IGNORE INTO sla_alerts VALUES (?, ?, ?, ?)",
            (ticket_id, target, level, _ts(at)),
        )
        return cur.rowcount == 1

    def by_occurrence(self, plan_id: int, occurrence: str) -> int | None:
        row = self._uow.execute(
            "SELECT id FROM tickets WHERE plan_id = ? AND occurrence = ?", (plan_id, occurrence)
        ).fetchone()
        return None if row is None else int(row[0])

    def estate_of(self, ticket_id: int) -> int | None:
        row = self._uow.execute(
            "SELECT estate_id FROM tickets WHERE id = ?", (ticket_id,)
        ).fetchone()
        return None if row is None else int(row[0])


def _ticket(row: sqlite3.Row) -> Ticket:
    state = loads(row["state"], TicketState)
    zone = state.opened_at.tzinfo  # stored in UTC, shown in the zone the ticket was opened in

    def due(name: str) -> datetime | None:
        text = row[name]
        return None if text is None else datetime.fromisoformat(text).astimezone(zone)

    return Ticket(
        id=row["id"],
        state=state,
        deadlines=Deadlines(
            response=due("response_due"),
            arrival=due("arrival_due"),
            resolution=due("resolution_due"),
            callback=due("callback_due"),
        ),
        policy=row["policy"],
    )
