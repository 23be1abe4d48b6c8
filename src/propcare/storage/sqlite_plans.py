"""SQLite repositories of maintenance plans and planned outages (tables of migration 0003;
the plans' calendar columns of 0016)."""

from __future__ import annotations

import functools
import json
import sqlite3
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from propcare.registry.model import EstateId
from propcare.storage.sqlite_values import ts
from propcare.tickets.planned import Outage, Plan

if TYPE_CHECKING:
    from propcare.storage.sql import SqlSession
    from propcare.storage.sqlite import Table, TableRepository

__all__ = ["OutageRepo", "PlanRepo"]


# --- maintenance plans --------------------------------------------------------------


def _plan_row(p: Plan) -> tuple[Any, ...]:
    return (
        p.estate_id,
        p.title,
        p.category.value,
        p.rule,
        # With its offset, not in UTC: the wall-clock time people set ("09:00 on the 1st")
        # is what the rule repeats, and it reads back as it was written.
        p.dtstart.isoformat(),
        p.location,
        p.unit_id,
        p.team_id,
        p.first_contact_staff_id,
        int(p.active),
        p.calendar,
        p.non_working.value,
    )


def _plan(r: sqlite3.Row) -> Plan:
    return Plan(
        id=r["id"],
        estate_id=EstateId(r["estate_id"]),
        title=r["title"],
        category=r["category"],
        rule=r["rule"],
        dtstart=datetime.fromisoformat(r["dtstart"]),
        location=r["location"],
        unit_id=r["unit_id"],
        team_id=r["team_id"],
        first_contact_staff_id=r["first_contact_staff_id"],
        active=bool(r["active"]),
        calendar=r["calendar"],
        non_working=r["non_working"],
    )


@functools.cache
def _plans_table() -> Table[Plan]:
    from propcare.storage.sqlite import Table

    return Table[Plan](
        "maintenance_plans",
        (
            "estate_id",
            "title",
            "category",
            "rule",
            "dtstart",
            "location",
            "unit_id",
            "team_id",
            "first_contact_staff_id",
            "active",
            "calendar",
            "non_working",
        ),
        _plan_row,
        _plan,
    )


class PlanRepo:
    """Maintenance plans: the shared Table mapping, plus the active plans of an estate."""

    def __init__(self, uow: SqlSession) -> None:
        from propcare.storage.sqlite import TableRepository

        self._rows: TableRepository[Plan] = TableRepository[Plan](uow, _plans_table())

    def add(self, record: Plan) -> Plan:
        return self._rows.add(record)

    def get(self, record_id: int) -> Plan | None:
        return self._rows.get(record_id)

    def update(self, record: Plan) -> None:
        self._rows.update(record)

    def in_estate(self, estate_id: EstateId) -> list[Plan]:
        return self._rows.in_estate(estate_id)

    def active_in(self, estate_id: EstateId) -> list[Plan]:
        return self._rows.where("estate_id = ? AND active = 1", (estate_id,))


# --- planned outages --------------------------------------------------------------------

_OUTAGE_SELECT = (
    "SELECT o.id, o.estate_id, o.kind, o.title, o.starts_at, o.ends_at, o.announced_at, "
    "o.lead_seconds, o.building_ids, o.unit_ids, o.notices, o.announced_by_staff_id, "
    "o.unreachable FROM outages o"
)


def _outage(r: sqlite3.Row) -> Outage:
    return Outage(
        id=r["id"],
        estate_id=EstateId(r["estate_id"]),
        kind=r["kind"],
        title=r["title"],
        starts_at=datetime.fromisoformat(r["starts_at"]),
        ends_at=datetime.fromisoformat(r["ends_at"]),
        announced_at=datetime.fromisoformat(r["announced_at"]),
        lead=timedelta(seconds=r["lead_seconds"]),
        building_ids=tuple(json.loads(r["building_ids"])),
        unit_ids=tuple(json.loads(r["unit_ids"])),
        notices=r["notices"],
        unreachable=int(r["unreachable"]),
        announced_by_staff_id=r["announced_by_staff_id"],
    )


class OutageRepo:
    def __init__(self, uow: SqlSession) -> None:
        self._uow = uow

    def add(self, record: Outage) -> Outage:
        new_id = self._uow.insert_id(
            "INSERT INTO outages (estate_id, kind, title, starts_at, ends_at, announced_at, "
            "lead_seconds, late, building_ids, unit_ids, notices, announced_by_staff_id, "
            "unreachable) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.estate_id,
                record.kind.value,
                record.title,
                ts(record.starts_at),
                ts(record.ends_at),
                ts(record.announced_at),
                int(record.lead.total_seconds()),
                int(record.late),
                json.dumps(list(record.building_ids)),
                json.dumps(list(record.unit_ids)),
                record.notices,
                record.announced_by_staff_id,
                record.unreachable,
            ),
        )
        return attrs.evolve(record, id=new_id)

    def get(self, record_id: int) -> Outage | None:
        row = self._uow.execute(f"{_OUTAGE_SELECT} WHERE o.id = ?", (record_id,)).fetchone()
        return None if row is None else _outage(row)

    def starting_between(self, estate_id: EstateId, start: datetime, end: datetime) -> list[Outage]:
        rows = self._uow.execute(
            f"{_OUTAGE_SELECT} WHERE o.estate_id = ? AND o.starts_at >= ? AND o.starts_at < ? "
            "ORDER BY o.starts_at, o.id",
            (estate_id, ts(start), ts(end)),
        )
        return [_outage(r) for r in rows]

    def late_count(self, estate_id: EstateId, start: datetime, end: datetime) -> int:
        row = self._uow.execute(
            "SELECT COUNT(*) FROM outages WHERE estate_id = ? AND starts_at >= ? "
            "AND starts_at < ? AND late = 1",
            (estate_id, ts(start), ts(end)),
        ).fetchone()
        return int(row[0])
