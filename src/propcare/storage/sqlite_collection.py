"""SQLite repository of collector assignments and dunning attempts."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime
from typing import TYPE_CHECKING

import attrs

from propcare.ledger.collection import CollectorAssignment, DunningAttempt
from propcare.storage.sqlite_values import ts

if TYPE_CHECKING:
    from propcare.storage.sql import SqlSession

__all__ = ["CollectionRepo"]


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _date(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


def _attempt(r: sqlite3.Row) -> DunningAttempt:
    return DunningAttempt(
        id=r["id"],
        estate_id=r["estate_id"],
        unit_id=r["unit_id"],
        method=r["method"],
        outcome=r["outcome"],
        at=datetime.fromisoformat(r["at"]),
        actor=r["actor"],
        collector_staff_id=r["collector_staff_id"],
        campaign_id=r["campaign_id"],
        promised_date=None
        if r["promised_date"] is None
        else date.fromisoformat(r["promised_date"]),
        note=r["note"],
    )


_ATTEMPTS = (
    "SELECT id, estate_id, campaign_id, unit_id, collector_staff_id, method, outcome, at, "
    "promised_date, note, actor FROM dunning_attempts"
)


class CollectionRepo:
    def __init__(self, uow: SqlSession) -> None:
        self._uow = uow

    def add_assignment(self, a: CollectorAssignment) -> CollectorAssignment:
        new_id = self._uow.insert_id(
            "INSERT INTO collector_assignments (estate_id, staff_id, building_id, unit_id, "
            "start_date, end_date) VALUES (?, ?, ?, ?, ?, ?)",
            (a.estate_id, a.staff_id, a.building_id, a.unit_id, _day(a.start), _day(a.end)),
        )
        return attrs.evolve(a, id=new_id)

    def assignments(self, estate_id: int) -> list[CollectorAssignment]:
        rows = self._uow.execute(
            "SELECT id, estate_id, staff_id, building_id, unit_id, start_date, end_date "
            "FROM collector_assignments WHERE estate_id = ? ORDER BY start_date, id",
            (estate_id,),
        )
        return [
            CollectorAssignment(
                id=r["id"],
                estate_id=r["estate_id"],
                staff_id=r["staff_id"],
                building_id=r["building_id"],
                unit_id=r["unit_id"],
                start=date.fromisoformat(r["start_date"]),
                end=None if r["end_date"] is None else date.fromisoformat(r["end_date"]),
            )
            for r in rows
        ]

    def add_campaign(self, estate_id: int, title: str, at: datetime, actor: str) -> int:
        new_id = self._uow.insert_id(
            "INSERT INTO dunning_campaigns (estate_id, title, started_at, started_by) "
            "VALUES (?, ?, ?, ?)",
            (estate_id, title, ts(at), actor),
        )
        return new_id

    def campaign_estate(self, campaign_id: int) -> int | None:
        row = self._uow.execute(
            "SELECT estate_id FROM dunning_campaigns WHERE id = ?", (campaign_id,)
        ).fetchone()
        return None if row is None else int(row[0])

    def add_attempt(self, a: DunningAttempt) -> DunningAttempt:
        new_id = self._uow.insert_id(
            "INSERT INTO dunning_attempts (estate_id, campaign_id, unit_id, collector_staff_id, "
            "method, outcome, at, promised_date, note, actor) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                a.estate_id,
                a.campaign_id,
                a.unit_id,
                a.collector_staff_id,
                a.method.value,
                a.outcome.value,
                ts(a.at),
                _day(a.promised_date),
                a.note,
                a.actor,
            ),
        )
        return attrs.evolve(a, id=new_id)

    def attempts(self, unit_id: int) -> list[DunningAttempt]:
        rows = self._uow.execute(f"{_ATTEMPTS} WHERE unit_id = ? ORDER BY at, id", (unit_id,))
        return [_attempt(r) for r in rows]

    def last_attempts(
        self, estate_id: int, as_of: datetime | None = None
    ) -> dict[int, DunningAttempt]:
        """The latest attempt per unit of the estate (for the arrears roster): the one
        that happened last, by ``at``, not the one entered last (an attempt copied in
        from a paper log is entered after later ones); on a tie, the later entered. Only
        attempts at or before ``as_of`` when it is given. One query for the estate."""
        cut = "" if as_of is None else "AND at <= ? "
        params: tuple[object, ...] = (estate_id,) if as_of is None else (estate_id, ts(as_of))
        rows = self._uow.execute(
            "SELECT id, estate_id, campaign_id, unit_id, collector_staff_id, method, outcome, "
            "at, promised_date, note, actor FROM (SELECT d.*, ROW_NUMBER() OVER ("
            "PARTITION BY unit_id ORDER BY at DESC, id DESC) AS latest "
            f"FROM dunning_attempts d WHERE estate_id = ? {cut}) a WHERE latest = 1",
            params,
        )
        return {r["unit_id"]: _attempt(r) for r in rows}
