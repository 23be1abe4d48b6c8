"""SQLite repository of tickets: the folded state beside the append-only events."""

from __future__ import annotations

import enum
import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from json.encoder import encode_basestring as _escape
from typing import TYPE_CHECKING, Any

import attrs

from propcare.errors import Conflict
from propcare.money import to_fen
from propcare.sla.engine import Deadlines, HolidayGap
from propcare.storage.codec import converter
from propcare.storage.sqlite_values import ts
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
from propcare.tickets.record import (
    STATE_COLUMNS,
    IntakeRefs,
    StoredCharge,
    StoredTicket,
    Ticket,
)

if TYPE_CHECKING:
    from propcare.storage.sql import SqlSession

__all__ = ["TicketRepo", "state_from_dict", "state_json"]


# Tickets read per query when walking many by id (a bound on the IN list).
_CHUNK = 500


def _ts(value: datetime | None) -> str | None:
    return None if value is None else ts(value)


# --- the state as JSON ------------------------------------------------------------------
# Written and read by hand rather than through cattrs: every ticket write stores the state
# and every read loads it, and the generic path (unstructure, then json) is about twice as
# slow for this one class. The text is exactly what cattrs wrote, so older rows load
# unchanged; tests/test_ticket_import.py checks both directions against the converter on
# random histories.

_STATE_FIELDS = (
    "estate_id", "category", "channel", "priority", "summary", "first_contact_staff_id",
    "opened_at", "status", "unit_id", "location", "reporter_owner_id", "reporter_name",
    "assignee_staff_id", "assignee_team_id", "handoffs", "responded_at", "arrived_at",
    "resolved_at", "closed_at", "cancelled_at", "cancel_reason", "callback_at", "satisfaction",
    "rated_by_owner", "fixed", "rework_count", "reopened_at", "pauses", "outside", "charges",
    "callback_policy", "last_seq", "last_at", "close_reason",
)  # fmt: skip
if tuple(f.name for f in attrs.fields(TicketState)) != _STATE_FIELDS:  # pragma: no cover
    # A new field would otherwise be dropped silently on every write.
    raise RuntimeError("TicketState changed: update state_json and state_from_dict")


def _str(value: str) -> str:
    # json's own escaping (as json.dumps with ensure_ascii=False), for any text a person typed.
    return _escape(value) if type(value) is str else json.dumps(value, ensure_ascii=False)


def _int(value: int | None) -> str:
    if value is None:
        return "null"
    return str(value) if type(value) is int else json.dumps(value)


def _bool(value: bool | None) -> str:
    return "null" if value is None else ("true" if value else "false")


def _time(value: datetime | date | None) -> str:
    return "null" if value is None else f'"{value.isoformat()}"'  # ISO text needs no escaping


def _enum(value: enum.Enum | None) -> str:
    return "null" if value is None else f'"{value.value}"'  # enum values are plain ASCII


def state_json(s: TicketState) -> str:
    """The state as compact JSON text: what ``codec.dumps`` (cattrs) writes, by hand."""
    handoffs = ",".join(f"[{_int(staff)},{_int(team)}]" for staff, team in s.handoffs)
    pauses = ",".join(
        f'{{"start":{_time(p.start)},"reason":{_str(p.reason)},"end":{_time(p.end)}}}'
        for p in s.pauses
    )
    outside = ",".join(
        f'{{"party":{_str(o.party)},"at":{_time(o.at)},"promised":{_time(o.promised)},'
        f'"done_at":{_time(o.done_at)}}}'
        for o in s.outside
    )
    charges = ",".join(
        f'{{"item":{_str(c.item)},"quantity":"{c.quantity}","unit_price":"{c.unit_price}",'
        f'"amount":"{c.amount}","at":{_time(c.at)}}}'
        for c in s.charges
    )
    return (
        f'{{"estate_id":{_int(s.estate_id)},"category":{_enum(s.category)},'
        f'"channel":{_enum(s.channel)},"priority":{_enum(s.priority)},'
        f'"summary":{_str(s.summary)},"first_contact_staff_id":{_int(s.first_contact_staff_id)},'
        f'"opened_at":{_time(s.opened_at)},"status":{_enum(s.status)},'
        f'"unit_id":{_int(s.unit_id)},"location":{_str(s.location)},'
        f'"reporter_owner_id":{_int(s.reporter_owner_id)},'
        f'"reporter_name":{_str(s.reporter_name)},'
        f'"assignee_staff_id":{_int(s.assignee_staff_id)},'
        f'"assignee_team_id":{_int(s.assignee_team_id)},"handoffs":[{handoffs}],'
        f'"responded_at":{_time(s.responded_at)},"arrived_at":{_time(s.arrived_at)},'
        f'"resolved_at":{_time(s.resolved_at)},"closed_at":{_time(s.closed_at)},'
        f'"cancelled_at":{_time(s.cancelled_at)},"cancel_reason":{_str(s.cancel_reason)},'
        f'"callback_at":{_time(s.callback_at)},"satisfaction":{_enum(s.satisfaction)},'
        f'"rated_by_owner":{_bool(s.rated_by_owner)},"fixed":{_bool(s.fixed)},'
        f'"rework_count":{_int(s.rework_count)},"reopened_at":{_time(s.reopened_at)},'
        f'"pauses":[{pauses}],"outside":[{outside}],"charges":[{charges}],'
        f'"callback_policy":{_enum(s.callback_policy)},"last_seq":{_int(s.last_seq)},'
        f'"last_at":{_time(s.last_at)},"close_reason":{_str(s.close_reason)}}}'
    )


def _dt(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def state_from_dict(d: Mapping[str, Any]) -> TicketState:
    """The ticket state back from the JSON of :func:`state_json` (or cattrs' older rows)."""
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
        # Rows written before these fields existed load with their defaults.
        last_at=_dt(d.get("last_at")),
        close_reason=d.get("close_reason", ""),
    )


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
    "response_due, arrival_due, resolution_due, callback_due, deadline_gaps, provisional, held, "
    "policy, last_seq, state"
)
# Built once here: these run for every ticket written.
_INSERT_TICKET = (
    f"INSERT INTO tickets ({_COLUMNS}, plan_id, occurrence) VALUES ({', '.join('?' * 31)})"
)
_TICKET_IMPORT_COLUMNS = ("id", *_COLUMNS.split(", "), "plan_id", "occurrence")
_EVENT_COLUMNS = ("ticket_id", "seq", "action", "at", "actor", "staff_id", "data")
_INSERT_EVENT = (
    f"INSERT INTO ticket_events ({', '.join(_EVENT_COLUMNS)}) VALUES ({', '.join('?' * 7)})"
)
_SNAPSHOT = (
    "status = ?, assignee_staff_id = ?, assignee_team_id = ?, responded_at = ?, "
    "arrived_at = ?, resolved_at = ?, closed_at = ?, cancelled_at = ?, callback_at = ?, "
    "satisfaction = ?, rework_count = ?, needs_callback = ?, response_due = ?, arrival_due = ?, "
    "resolution_due = ?, callback_due = ?, deadline_gaps = ?, provisional = ?, held = ?, "
    "policy = ?, last_seq = ?, state = ?"
)
_SELECT = (
    "SELECT id, state, policy, response_due, arrival_due, resolution_due, callback_due, "
    "deadline_gaps FROM tickets"
)


def _gaps_json(due: Deadlines) -> str | None:
    """``{"arrival":[2027],"resolution":[2027],"held":["resolution"]}``: which deadlines
    wait for which year's holiday data, and which of them are held open (strict)."""
    if not due.gaps:
        return None
    held = [g.target.value for g in due.gaps if g.held]
    gaps: dict[str, Any] = {g.target.value: list(g.years) for g in due.gaps}
    if held:
        gaps["held"] = held
    return json.dumps(gaps, separators=(",", ":"))


def _gap_columns(due: Deadlines) -> tuple[str | None, int, int]:
    if not due.gaps:  # the common case, on every ticket written
        return None, 0, 0
    return _gaps_json(due), len(due.provisional), len(due.held)


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
        *_gap_columns(due),
        policy,
        state.last_seq,
        state_json(state),
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
        *_gap_columns(due),
        policy,
        state.last_seq,
        state_json(state),
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


_CHARGE_COLUMNS = (
    "ticket_id",
    "estate_id",
    "unit_id",
    "seq",
    "item",
    "quantity",
    "unit_price_fen",
    "amount_fen",
    "at",
)
_INSERT_CHARGE = (
    f"INSERT INTO ticket_charges ({', '.join(_CHARGE_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_CHARGE_COLUMNS))})"
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
    def __init__(self, uow: SqlSession) -> None:
        self._uow = uow

    def add(
        self,
        state: TicketState,
        event: TicketEvent,
        deadlines: Deadlines,
        policy: str,
        plan: tuple[int, str] | None = None,
    ) -> int:
        new_id = self._uow.insert_id(_INSERT_TICKET, _insert_row(state, deadlines, policy, plan))
        ticket_id = new_id
        self._uow.execute(_INSERT_EVENT, _event_row(ticket_id, event))
        return ticket_id

    def add_many(
        self, tickets: Sequence[tuple[TicketState, Sequence[TicketEvent], Deadlines, str]]
    ) -> list[int]:
        """Store whole tickets (state, every event, charges) with a few executemany calls.

        The ids are reserved here as a block (``reserve_ids``) rather than read back row
        by row: no other writer can take them meanwhile.
        """
        if not tickets:
            return []
        first = self._uow.reserve_ids("tickets", len(tickets))
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
        # The bulk path: executemany on SQLite, COPY on PostgreSQL.
        self._uow.insert_rows("tickets", _TICKET_IMPORT_COLUMNS, ticket_rows)
        self._uow.insert_rows("ticket_events", _EVENT_COLUMNS, event_rows)
        if charge_rows:
            self._uow.insert_rows("ticket_charges", _CHARGE_COLUMNS, charge_rows)
        return list(range(first, first + len(tickets)))

    def append(
        self,
        ticket_id: int,
        event: TicketEvent,
        state: TicketState,
        deadlines: Deadlines,
        policy: str,
    ) -> None:
        """Record ``event`` and the state it led to; Conflict if someone else moved first.

        The event goes in first: the database lets the row's ``last_seq`` move only to
        the ticket's latest event (migration 0019). Two writers of the same seq collide
        on the event's key, the second with the Conflict below.
        """
        try:
            self._uow.execute(_INSERT_EVENT, _event_row(ticket_id, event))
        except Conflict as exc:
            raise Conflict(
                "ticket_id", ticket_id, "changed by someone else meanwhile; reload it"
            ) from exc
        cur = self._uow.execute(
            f"UPDATE tickets SET {_SNAPSHOT} WHERE id = ? AND last_seq = ?",
            (*_snapshot(state, deadlines, policy), ticket_id, event.seq - 1),
        )
        if cur.rowcount != 1:
            raise Conflict("ticket_id", ticket_id, "changed by someone else meanwhile; reload it")

    def refresh(self, ticket_id: int, deadlines: Deadlines, policy: str) -> None:
        """Store recomputed deadlines (a policy or calendar changed) and the policy name;
        nothing else of the row changes, and the history is not touched."""
        self._uow.execute(
            "UPDATE tickets SET response_due = ?, arrival_due = ?, resolution_due = ?, "
            "callback_due = ?, deadline_gaps = ?, provisional = ?, held = ?, policy = ? "
            "WHERE id = ?",
            (
                _ts(deadlines.response),
                _ts(deadlines.arrival),
                _ts(deadlines.resolution),
                _ts(deadlines.callback),
                *_gap_columns(deadlines),
                policy,
                ticket_id,
            ),
        )

    def get(self, ticket_id: int) -> Ticket | None:
        row = self._uow.execute(f"{_SELECT} WHERE id = ?", (ticket_id,)).fetchone()
        return None if row is None else _ticket(row)

    def open_in(self, estate_id: int) -> list[Ticket]:
        rows = self._uow.execute(
            f"{_SELECT} WHERE estate_id = ? AND status NOT IN ('closed', 'cancelled') ORDER BY id",
            (estate_id,),
        )
        return [_ticket(r) for r in rows]

    def opened_between(self, estate_id: int, start: datetime, end: datetime) -> list[Ticket]:
        rows = self._uow.execute(
            f"{_SELECT} WHERE estate_id = ? AND opened_at >= ? AND opened_at < ? ORDER BY id",
            (estate_id, _ts(start), _ts(end)),
        )
        return [_ticket(r) for r in rows]

    def needing_recompute(
        self,
        estate_id: int,
        opened: tuple[datetime, datetime] | None,
        *,
        open_only: bool = False,
    ) -> Iterator[Ticket]:
        """Open tickets, and unless ``open_only`` every ticket with a deadline provisional,
        held open or missing, of the estate (opened in ``[start, end)`` if given), by id.
        Read a chunk of ids at a time: the caller refreshes rows as it goes."""
        where, params = _opened_in(estate_id, opened)
        wanted = "status NOT IN ('closed', 'cancelled')"
        if not open_only:
            # A deadline missing where the ticket could have one: not an arrival of a
            # consultation, nor a callback nobody needs (most closed tickets have those).
            wanted += (
                " OR deadline_gaps IS NOT NULL OR response_due IS NULL OR resolution_due IS NULL"
                " OR (arrival_due IS NULL AND category IN ('home_repair', 'common_repair'))"
                " OR (callback_due IS NULL AND needs_callback = 1 AND resolved_at IS NOT NULL)"
            )
        ids = [
            int(r[0])
            for r in self._uow.execute(
                f"SELECT id FROM tickets WHERE {where} AND ({wanted}) ORDER BY id", params
            )
        ]
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            yield from (
                _ticket(r)
                for r in self._uow.execute(f"{_SELECT} WHERE id IN ({marks}) ORDER BY id", chunk)
            )

    def with_gaps(
        self, estate_id: int, opened: tuple[datetime, datetime] | None
    ) -> list[tuple[int, Deadlines]]:
        """(id, deadlines) of the estate's tickets whose deadlines wait for a year's
        holiday data, opened in ``[start, end)`` if given, by id. Deadlines in UTC."""
        where, params = _opened_in(estate_id, opened)
        rows = self._uow.execute(
            "SELECT id, response_due, arrival_due, resolution_due, callback_due, deadline_gaps "
            f"FROM tickets WHERE {where} AND deadline_gaps IS NOT NULL ORDER BY id",
            params,
        )
        return [(int(r[0]), _gapped_deadlines(r)) for r in rows]

    def events(self, ticket_id: int) -> list[TicketEvent]:
        rows = self._uow.execute(
            "SELECT seq, action, at, actor, staff_id, data FROM ticket_events "
            "WHERE ticket_id = ? ORDER BY seq",
            (ticket_id,),
        )
        return [_event(r) for r in rows]

    def ids_in(self, estate_id: int) -> list[int]:
        """The ids of every ticket of the estate, ascending."""
        rows = self._uow.tuples(
            "SELECT id FROM tickets WHERE estate_id = ? ORDER BY id", (estate_id,)
        )
        return [int(r[0]) for r in rows]

    def stored(self, ticket_ids: Sequence[int]) -> list[StoredTicket]:
        """The tickets with these ids exactly as stored, with their events and charge
        rows, by id: three queries for up to a chunk of ids (pass at most a few hundred).
        A value that cannot be read is named in ``unreadable``, never raised."""
        found: list[StoredTicket] = []
        for i in range(0, len(ticket_ids), _CHUNK):
            chunk = list(ticket_ids[i : i + _CHUNK])
            marks = ", ".join("?" * len(chunk))
            events: dict[int, list[Any]] = {}
            for r in self._uow.tuples(
                "SELECT ticket_id, seq, action, at, actor, staff_id, data FROM ticket_events "
                f"WHERE ticket_id IN ({marks}) ORDER BY ticket_id, seq",
                chunk,
            ):
                events.setdefault(int(r[0]), []).append(r[1:])
            charges: dict[int, list[StoredCharge]] = {}
            for r in self._uow.tuples(
                "SELECT ticket_id, seq, item, quantity, unit_price_fen, amount_fen, at "
                f"FROM ticket_charges WHERE ticket_id IN ({marks}) ORDER BY ticket_id, seq",
                chunk,
            ):
                charges.setdefault(int(r[0]), []).append(
                    StoredCharge(r[1], r[2], r[3], r[4], r[5], _time_or_text(r[6]))
                )
            rows = self._uow.tuples(
                f"SELECT id, {', '.join(STATE_COLUMNS)}, state, policy, provisional, held, "
                "response_due, arrival_due, resolution_due, callback_due, deadline_gaps "
                f"FROM tickets WHERE id IN ({marks}) ORDER BY id",
                chunk,
            )
            found.extend(
                _stored(r, events.get(int(r[0]), []), charges.get(int(r[0]), [])) for r in rows
            )
        return found

    def add_charge(self, ticket_id: int, state: TicketState, seq: int, charge: Charge) -> None:
        self._uow.execute(_INSERT_CHARGE, _charge_row(ticket_id, state, seq, charge))

    def record_alert(self, ticket_id: int, target: str, level: str, at: datetime) -> bool:
        """True the first time this alert is recorded, False if it was sent before."""
        cur = self._uow.execute(
            # ON CONFLICT DO NOTHING, not SQLite's INSERT OR IGNORE: PostgreSQL runs it too.
            "INSERT INTO sla_alerts (ticket_id, target, level, at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            (ticket_id, target, level, _ts(at)),
        )
        return cur.rowcount == 1

    def by_occurrence(self, plan_id: int, occurrence: str) -> int | None:
        row = self._uow.execute(
            "SELECT id FROM tickets WHERE plan_id = ? AND occurrence = ?", (plan_id, occurrence)
        ).fetchone()
        return None if row is None else int(row[0])

    def intake_refs(
        self, estate_id: int, staff_id: int | None, unit_id: int | None, owner_id: int | None
    ) -> IntakeRefs:
        # One statement instead of loading a whole Estate, Staff, Unit and Owner (each
        # validated on the way in) to compare estate ids: intake is the hot write path.
        row = self._uow.execute(
            "SELECT e.timezone, s.name, s.active_from, s.active_to, "
            # CAST: PostgreSQL must know a parameter's type to test it for NULL.
            "CAST(? AS BIGINT) IS NULL "
            "OR EXISTS (SELECT 1 FROM units WHERE id = ? AND estate_id = ?), "
            "CAST(? AS BIGINT) IS NULL "
            "OR EXISTS (SELECT 1 FROM owners WHERE id = ? AND estate_id = ?) "
            "FROM (SELECT 1) one LEFT JOIN estates e ON e.id = ? "
            "LEFT JOIN staff s ON s.id = ? AND s.estate_id = ?",
            (
                unit_id, unit_id, estate_id, owner_id, owner_id, estate_id,
                estate_id, staff_id, estate_id,
            ),
        ).fetchone()  # fmt: skip
        timezone, name, active_from, active_to, unit_ok, owner_ok = row
        staff = (
            None
            if name is None
            else (
                name,
                date.fromisoformat(active_from),
                None if active_to is None else date.fromisoformat(active_to),
            )
        )
        return IntakeRefs(timezone=timezone, staff=staff, unit=bool(unit_ok), owner=bool(owner_ok))

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

    gaps = row["deadline_gaps"]
    return Ticket(
        id=row["id"],
        state=state,
        deadlines=Deadlines(
            response=due("response_due"),
            arrival=due("arrival_due"),
            resolution=due("resolution_due"),
            callback=due("callback_due"),
            gaps=() if gaps is None else _load_gaps(gaps),
        ),
        policy=row["policy"],
    )


def _opened_in(estate_id: int, opened: tuple[datetime, datetime] | None) -> tuple[str, list[Any]]:
    """The WHERE text and parameters of an estate's tickets, opened in [start, end) if given."""
    if opened is None:
        return "estate_id = ?", [estate_id]
    return "estate_id = ? AND opened_at >= ? AND opened_at < ?", [
        estate_id,
        _ts(opened[0]),
        _ts(opened[1]),
    ]


def _gapped_deadlines(row: Sequence[Any]) -> Deadlines:
    """(id, response_due, arrival_due, resolution_due, callback_due, deadline_gaps)."""
    due = [None if t is None else datetime.fromisoformat(t) for t in row[1:5]]
    return Deadlines(
        response=due[0],
        arrival=due[1],
        resolution=due[2],
        callback=due[3],
        gaps=_load_gaps(row[5]),
    )


def _load_gaps(text: str) -> tuple[HolidayGap, ...]:
    gaps = json.loads(text)
    held = set(gaps.pop("held", ()))
    return tuple(HolidayGap(target, years, target in held) for target, years in gaps.items())


def _event(r: Sequence[Any]) -> TicketEvent:
    """(seq, action, at, actor, staff_id, data) of a ticket_events row."""
    return TicketEvent(
        seq=r[0],
        action=r[1],
        at=datetime.fromisoformat(r[2]),
        actor=r[3],
        staff_id=r[4],
        data=json.loads(r[5]),
    )


_TIME_COLUMNS = frozenset(
    {
        "opened_at", "responded_at", "arrived_at", "resolved_at", "closed_at",
        "cancelled_at", "callback_at",
    }
)  # fmt: skip
_UNREADABLE = (ValueError, TypeError, KeyError, AttributeError)


def _time_or_text(text: Any) -> Any:
    """A stored time as an aware datetime; what cannot be read as one stays as stored."""
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except _UNREADABLE:
        return text


def _due(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _stored(row: Sequence[Any], event_rows: list[Any], charges: list[StoredCharge]) -> StoredTicket:
    """A StoredTicket of ``SELECT id, STATE_COLUMNS, state, policy, provisional, held,
    the four deadlines, deadline_gaps``: what cannot be read is named, never raised."""
    n = len(STATE_COLUMNS)
    columns: dict[str, object] = {}
    for name, value in zip(STATE_COLUMNS, row[1 : n + 1], strict=True):
        if name in _TIME_COLUMNS:
            value = _time_or_text(value)
        elif name == "needs_callback" and value in (0, 1):
            value = bool(value)
        columns[name] = value
    state_text, policy, provisional, held = row[n + 1 : n + 5]
    unreadable: list[tuple[str, str]] = []
    state: TicketState | None = None
    try:
        state = state_from_dict(json.loads(state_text))
    except _UNREADABLE as exc:
        unreadable.append(("state", f"{type(exc).__name__}: {exc}"))
    deadlines: Deadlines | None = None
    try:
        response, arrival, resolution, callback, gaps = row[n + 5 : n + 10]
        deadlines = Deadlines(
            response=_due(response),
            arrival=_due(arrival),
            resolution=_due(resolution),
            callback=_due(callback),
            gaps=() if gaps is None else _load_gaps(gaps),
        )
        if state is not None:  # shown in the zone the ticket was opened in, as _ticket does
            zone = state.opened_at.tzinfo
            deadlines = attrs.evolve(
                deadlines,
                **{
                    name: due.astimezone(zone)
                    for name in ("response", "arrival", "resolution", "callback")
                    if (due := getattr(deadlines, name)) is not None
                },
            )
    except _UNREADABLE as exc:
        unreadable.append(("deadlines", f"{type(exc).__name__}: {exc}"))
    events: list[TicketEvent] = []
    for r in event_rows:
        try:
            events.append(_event(r))
        except _UNREADABLE as exc:
            unreadable.append((f"events[seq={r[0]}]", f"{type(exc).__name__}: {exc}"))
    return StoredTicket(
        id=int(row[0]),
        columns=columns,
        state=state,
        deadlines=deadlines,
        policy=policy,
        provisional=provisional,
        held=held,
        events=tuple(events),
        charges=tuple(charges),
        unreadable=tuple(unreadable),
    )
