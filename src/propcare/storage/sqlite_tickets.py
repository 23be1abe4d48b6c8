"""SQLite repository of tickets: the folded state beside the append-only events."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from propcare.errors import Conflict
from propcare.money import to_fen
from propcare.sla.engine import Deadlines
from propcare.storage.codec import converter
from propcare.tickets.model import (
    Action,
    CallbackPolicy,
    Category,
    Channel,
    Charge,
    OutsideOrder,
    Pause,
    Priority,
    Satisfaction,
    Status,
    TicketEvent,
    TicketState,
)
from propcare.tickets.record import IntakeRefs, Ticket

if TYPE_CHECKING:
    from propcare.storage.sqlite import SqliteUnitOfWork

__all__ = ["TicketRepo", "state_from_dict", "state_to_dict"]


def _ts(value: datetime | None) -> str | None:
    # The text of propcare.storage.sqlite.ts (fixed-width UTC, sorts in time order),
    # written out: importing it here would be circular, and this runs ~12 times a write.
    return None if value is None else value.astimezone(UTC).isoformat(timespec="microseconds")


# --- the state as JSON ------------------------------------------------------------------
# By hand rather than through cattrs: every ticket write stores the state and every read
# loads it, and the generated cattrs code is several times slower for this one class.
# The text is what cattrs made (older rows load unchanged); tests/test_ticket_import.py
# checks both directions against the cattrs converter.

_STATE_FIELDS = (
    "estate_id", "category", "channel", "priority", "summary", "first_contact_staff_id",
    "opened_at", "status", "unit_id", "location", "reporter_owner_id", "reporter_name",
    "assignee_staff_id", "assignee_team_id", "handoffs", "responded_at", "arrived_at",
    "resolved_at", "closed_at", "cancelled_at", "cancel_reason", "callback_at", "satisfaction",
    "rated_by_owner", "fixed", "rework_count", "reopened_at", "pauses", "outside", "charges",
    "callback_policy", "last_seq",
)  # fmt: skip
if tuple(f.name for f in attrs.fields(TicketState)) != _STATE_FIELDS:  # pragma: no cover
    # A new field would otherwise be dropped silently on every write.
    raise RuntimeError("TicketState changed: update state_to_dict and state_from_dict")


def _iso(value: datetime | date | None) -> str | None:
    return None if value is None else value.isoformat()


def _dt(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def state_to_dict(s: TicketState) -> dict[str, Any]:
    """JSON-ready values of a ticket state (what ``converter.unstructure`` gives)."""
    return {
        "estate_id": s.estate_id,
        "category": s.category.value,
        "channel": s.channel.value,
        "priority": s.priority.value,
        "summary": s.summary,
        "first_contact_staff_id": s.first_contact_staff_id,
        "opened_at": s.opened_at.isoformat(),
        "status": s.status.value,
        "unit_id": s.unit_id,
        "location": s.location,
        "reporter_owner_id": s.reporter_owner_id,
        "reporter_name": s.reporter_name,
        "assignee_staff_id": s.assignee_staff_id,
        "assignee_team_id": s.assignee_team_id,
        "handoffs": [list(h) for h in s.handoffs],
        "responded_at": _iso(s.responded_at),
        "arrived_at": _iso(s.arrived_at),
        "resolved_at": _iso(s.resolved_at),
        "closed_at": _iso(s.closed_at),
        "cancelled_at": _iso(s.cancelled_at),
        "cancel_reason": s.cancel_reason,
        "callback_at": _iso(s.callback_at),
        "satisfaction": None if s.satisfaction is None else s.satisfaction.value,
        "rated_by_owner": s.rated_by_owner,
        "fixed": s.fixed,
        "rework_count": s.rework_count,
        "reopened_at": _iso(s.reopened_at),
        "pauses": [
            {"start": p.start.isoformat(), "reason": p.reason, "end": _iso(p.end)} for p in s.pauses
        ],
        "outside": [
            {
                "party": o.party,
                "at": o.at.isoformat(),
                "promised": _iso(o.promised),
                "done_at": _iso(o.done_at),
            }
            for o in s.outside
        ],
        "charges": [
            {
                "item": c.item,
                "quantity": str(c.quantity),
                "unit_price": str(c.unit_price),
                "amount": str(c.amount),
                "at": c.at.isoformat(),
            }
            for c in s.charges
        ],
        "callback_policy": s.callback_policy.value,
        "last_seq": s.last_seq,
    }


def state_from_dict(d: Mapping[str, Any]) -> TicketState:
    """The ticket state back from :func:`state_to_dict` (or from cattrs' older text)."""
    satisfaction = d["satisfaction"]
    return TicketState(
        estate_id=d["estate_id"],
        category=Category(d["category"]),
        channel=Channel(d["channel"]),
        priority=Priority(d["priority"]),
        summary=d["summary"],
        first_contact_staff_id=d["first_contact_staff_id"],
        opened_at=datetime.fromisoformat(d["opened_at"]),
        status=Status(d["status"]),
        unit_id=d["unit_id"],
        location=d["location"],
        reporter_owner_id=d["reporter_owner_id"],
        reporter_name=d["reporter_name"],
        assignee_staff_id=d["assignee_staff_id"],
        assignee_team_id=d["assignee_team_id"],
        handoffs=tuple((staff, team) for staff, team in d["handoffs"]),
        responded_at=_dt(d["responded_at"]),
        arrived_at=_dt(d["arrived_at"]),
        resolved_at=_dt(d["resolved_at"]),
        closed_at=_dt(d["closed_at"]),
        cancelled_at=_dt(d["cancelled_at"]),
        cancel_reason=d["cancel_reason"],
        callback_at=_dt(d["callback_at"]),
        satisfaction=None if satisfaction is None else Satisfaction(satisfaction),
        rated_by_owner=d["rated_by_owner"],
        fixed=d["fixed"],
        rework_count=d["rework_count"],
        reopened_at=_dt(d["reopened_at"]),
        pauses=tuple(
            Pause(start=datetime.fromisoformat(p["start"]), reason=p["reason"], end=_dt(p["end"]))
            for p in d["pauses"]
        ),
        outside=tuple(
            OutsideOrder(
                party=o["party"],
                at=datetime.fromisoformat(o["at"]),
                promised=None if o["promised"] is None else date.fromisoformat(o["promised"]),
                done_at=_dt(o["done_at"]),
            )
            for o in d["outside"]
        ),
        charges=tuple(
            Charge(
                item=c["item"],
                quantity=Decimal(c["quantity"]),
                unit_price=Decimal(c["unit_price"]),
                amount=Decimal(c["amount"]),
                at=datetime.fromisoformat(c["at"]),
            )
            for c in d["charges"]
        ),
        callback_policy=CallbackPolicy(d["callback_policy"]),
        last_seq=d["last_seq"],
    )


# Built once: json.dumps with any option builds a new encoder on every call. The state
# holds no cycles (it is a tree of plain values), so the cycle check is skipped.
_STATE_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)


def _dumps_state(state: TicketState) -> str:
    return _STATE_JSON.encode(state_to_dict(state))


def _json_value(value: Any) -> Any:
    # Only what json cannot write itself (datetimes, dates, Decimals, attrs values) goes
    # through cattrs: the same text as unstructuring the whole mapping first, at a
    # fraction of the cost for the plain values event data nearly always holds.
    out = converter.unstructure(value)
    if type(out) is type(value):  # cattrs has nothing better: a set, an unknown object
        raise TypeError(f"cannot store {type(value).__name__} in a ticket event")
    return out


_DATA_JSON = json.JSONEncoder(ensure_ascii=False, default=_json_value)


def _dumps_data(data: Mapping[str, Any]) -> str:
    return _DATA_JSON.encode(data if type(data) is dict else dict(data))


_COLUMNS = (
    "estate_id, category, channel, priority, status, unit_id, first_contact_staff_id, "
    "assignee_staff_id, assignee_team_id, opened_at, responded_at, arrived_at, resolved_at, "
    "closed_at, cancelled_at, callback_at, satisfaction, rework_count, needs_callback, "
    "response_due, arrival_due, resolution_due, callback_due, policy, last_seq, state"
)
# Built once here: these run for every ticket written.
_INSERT_TICKET = (
    f"INSERT INTO tickets ({_COLUMNS}, plan_id, occurrence) VALUES ({', '.join('?' * 28)})"
)
_INSERT_TICKET_WITH_ID = (
    f"INSERT INTO tickets (id, {_COLUMNS}, plan_id, occurrence) VALUES ({', '.join('?' * 29)})"
)
_INSERT_EVENT = "INSERT INTO ticket_events VALUES (?, ?, ?, ?, ?, ?, ?)"
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
        _dumps_state(state),
    )


def _insert_row(
    state: TicketState, due: Deadlines, policy: str, plan: tuple[int, str] | None
) -> tuple[Any, ...]:
    """The values of _COLUMNS, plan_id and occurrence: written out flat, not built from
    _snapshot, because every open runs it."""
    satisfaction = state.satisfaction
    return (
        state.estate_id,
        state.category.value,
        state.channel.value,
        state.priority.value,
        state.status.value,
        state.unit_id,
        state.first_contact_staff_id,
        state.assignee_staff_id,
        state.assignee_team_id,
        _ts(state.opened_at),
        _ts(state.responded_at),
        _ts(state.arrived_at),
        _ts(state.resolved_at),
        _ts(state.closed_at),
        _ts(state.cancelled_at),
        _ts(state.callback_at),
        None if satisfaction is None else satisfaction.value,
        state.rework_count,
        int(state.needs_callback),
        _ts(due.response),
        _ts(due.arrival),
        _ts(due.resolution),
        _ts(due.callback),
        policy,
        state.last_seq,
        _dumps_state(state),
        None if plan is None else plan[0],
        None if plan is None else plan[1],
    )


def _event_row(ticket_id: int, e: TicketEvent) -> tuple[Any, ...]:
    return (
        ticket_id,
        e.seq,
        e.action.value,
        _ts(e.at),
        e.actor,
        e.staff_id,
        _dumps_data(e.data),
    )


_INSERT_CHARGE = (
    "INSERT INTO ticket_charges (ticket_id, estate_id, unit_id, seq, item, quantity, "
    "unit_price_fen, amount_fen, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _charge_row(ticket_id: int, state: TicketState, seq: int, charge: Charge) -> tuple[Any, ...]:
    return (
        ticket_id,
        state.estate_id,
        state.unit_id,
        seq,
        charge.item,
        str(charge.quantity),
        to_fen(charge.unit_price),
        to_fen(charge.amount),
        _ts(charge.at),
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
        cur = self._uow.execute(_INSERT_TICKET, _insert_row(state, deadlines, policy, plan))
        ticket_id = int(cur.lastrowid or 0)
        self._uow.execute(_INSERT_EVENT, _event_row(ticket_id, event))
        return ticket_id

    def add_many(
        self, tickets: Sequence[tuple[TicketState, Sequence[TicketEvent], Deadlines, str]]
    ) -> list[int]:
        """Store whole tickets (state, every event, charges) with a few executemany calls.

        The ids are given here, after the largest stored one, rather than read back row by
        row: the unit of work holds SQLite's write lock (BEGIN IMMEDIATE), so no other
        writer can take them meanwhile, and they are the ids SQLite would have chosen.
        """
        if not tickets:
            return []
        row = self._uow.execute("SELECT COALESCE(MAX(id), 0) FROM tickets").fetchone()
        first = int(row[0]) + 1
        ticket_rows: list[tuple[Any, ...]] = []
        event_rows: list[tuple[Any, ...]] = []
        charge_rows: list[tuple[Any, ...]] = []
        for ticket_id, (state, events, deadlines, policy) in enumerate(tickets, start=first):
            ticket_rows.append((ticket_id, *_insert_row(state, deadlines, policy, None)))
            event_rows.extend(_event_row(ticket_id, e) for e in events)
            if state.charges:
                seqs = [e.seq for e in events if e.action is Action.CHARGE]
                charge_rows.extend(
                    _charge_row(ticket_id, state, seq, charge)
                    for seq, charge in zip(seqs, state.charges, strict=True)
                )
        self._uow.executemany(_INSERT_TICKET_WITH_ID, ticket_rows)
        self._uow.executemany(_INSERT_EVENT, event_rows)
        if charge_rows:
            self._uow.executemany(_INSERT_CHARGE, charge_rows)
        return list(range(first, first + len(tickets)))

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
        self._uow.execute(_INSERT_EVENT, _event_row(ticket_id, event))

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
        self._uow.execute(_INSERT_CHARGE, _charge_row(ticket_id, state, seq, charge))

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

    def intake_refs(
        self, estate_id: int, staff_id: int, unit_id: int | None, owner_id: int | None
    ) -> IntakeRefs:
        # One statement instead of loading a whole Staff, Unit and Owner (each validated
        # on the way in) just to compare their estate ids: intake is the hot write path.
        row = self._uow.execute(
            "SELECT s.name, s.active_from, s.active_to, "
            "? IS NULL OR EXISTS (SELECT 1 FROM units WHERE id = ? AND estate_id = ?), "
            "? IS NULL OR EXISTS (SELECT 1 FROM owners WHERE id = ? AND estate_id = ?) "
            "FROM (SELECT 1) LEFT JOIN staff s ON s.id = ? AND s.estate_id = ?",
            (unit_id, unit_id, estate_id, owner_id, owner_id, estate_id, staff_id, estate_id),
        ).fetchone()
        name, active_from, active_to, unit_ok, owner_ok = row
        staff = (
            None
            if name is None
            else (
                name,
                date.fromisoformat(active_from),
                None if active_to is None else date.fromisoformat(active_to),
            )
        )
        return IntakeRefs(staff=staff, unit=bool(unit_ok), owner=bool(owner_ok))

    def estate_of(self, ticket_id: int) -> int | None:
        row = self._uow.execute(
            "SELECT estate_id FROM tickets WHERE id = ?", (ticket_id,)
        ).fetchone()
        return None if row is None else int(row[0])


def _ticket(row: sqlite3.Row) -> Ticket:
    state = state_from_dict(json.loads(row["state"]))
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
