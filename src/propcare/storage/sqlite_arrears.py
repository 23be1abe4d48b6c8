"""The SQL behind arrears, aging and the collection rate."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from propcare.storage.sqlite_values import ts

if TYPE_CHECKING:
    from propcare.storage.sql import SqlSession

__all__ = ["ArrearsRepo"]

# What a receivable posting counts as: the kind of its entry, or for a reversal the kind of
# the entry it undoes (a reversed bill un-bills, a reversed payment un-collects).
_KIND = "COALESCE(o.kind, e.kind)"
_FROM = (
    "FROM postings p JOIN journal_entries e ON e.id = p.entry_id "
    "LEFT JOIN journal_entries o ON e.kind = 'reversal' AND o.id = e.reverses "
)
_COLLECTING = "('payment', 'credit_applied', 'compensation', 'refund')"


class ArrearsRepo:
    def __init__(self, uow: SqlSession) -> None:
        self._uow = uow

    def outstanding(self, estate_id: int, as_of: datetime) -> list[tuple[int, str, str, int]]:
        """(unit, fee item, period, fen owed) for every line still owed at ``as_of``."""
        rows = self._uow.execute(
            "SELECT unit_id, fee_item, period, SUM(amount_fen) AS owed FROM postings "
            "WHERE estate_id = ? AND account = 'receivable' AND at <= ? "
            "GROUP BY unit_id, fee_item, period HAVING SUM(amount_fen) > 0 "
            "ORDER BY unit_id, period",
            (estate_id, ts(as_of)),
        )
        return [(r[0], r[1], r[2], int(r[3])) for r in rows]

    def roster_rows(
        self, estate_id: int, as_of: datetime, day: date
    ) -> list[tuple[int, int, str, str, str, str, str, str, int]]:
        """Each owed (unit, fee item) with what the roster shows beside it: (unit, building
        id, building, unit number, owner, phones JSON, fee item, the owed periods joined by
        commas in no set order, fen). One query: only the lines in arrears are joined to
        their unit and owner, and a line's periods are gathered in SQL."""
        return self._uow.tuples(
            "SELECT x.unit_id, u.building_id, b.name, u.number, COALESCE(o.name, ''), "
            "COALESCE(o.phones, '[]'), x.fee_item, group_concat(x.period), "
            "CAST(SUM(x.owed) AS BIGINT) FROM ("
            "SELECT unit_id, fee_item, period, SUM(amount_fen) AS owed FROM postings "
            "WHERE estate_id = ? AND account = 'receivable' AND at <= ? "
            "GROUP BY unit_id, fee_item, period HAVING SUM(amount_fen) > 0) x "
            "JOIN units u ON u.id = x.unit_id JOIN buildings b ON b.id = u.building_id "
            "LEFT JOIN ownerships s ON s.unit_id = x.unit_id AND s.start_date <= ? "
            "AND (s.end_date IS NULL OR s.end_date > ?) "
            "LEFT JOIN owners o ON o.id = s.owner_id "
            "GROUP BY x.unit_id, x.fee_item, u.building_id, b.name, u.number, o.name, o.phones",
            (estate_id, ts(as_of), day.isoformat(), day.isoformat()),
        )

    def billed_and_collected(
        self, estate_id: int, first_period: str, last_period: str, as_of: datetime
    ) -> list[tuple[int, int, int]]:
        """(unit, billed fen, collected fen) for the bills of the periods, per unit."""
        rows = self._uow.execute(
            "SELECT p.unit_id, "
            f"SUM(CASE WHEN {_KIND} = 'bill' THEN p.amount_fen ELSE 0 END), "
            f"-SUM(CASE WHEN {_KIND} IN {_COLLECTING} THEN p.amount_fen ELSE 0 END) "
            f"{_FROM}WHERE p.estate_id = ? AND p.account = 'receivable' "
            "AND p.fee_item <> 'late_fee' AND p.period >= ? AND p.period <= ? AND p.at <= ? "
            "GROUP BY p.unit_id",
            (estate_id, first_period, last_period, ts(as_of)),
        )
        return [(r[0], int(r[1]), int(r[2])) for r in rows]

    def recovered_before(
        self, estate_id: int, before_period: str, start: datetime, end: datetime
    ) -> list[tuple[int, int]]:
        """(unit, fen) collected in [start, end) for periods before ``before_period``:
        the recovery of earlier arrears (历史欠费清缴). Read through the window's journal
        entries (a posting has its entry's time), not by scanning every receivable."""
        rows = self._uow.execute(
            "SELECT p.unit_id, "
            f"-SUM(CASE WHEN {_KIND} IN {_COLLECTING} THEN p.amount_fen ELSE 0 END) "
            "FROM journal_entries e JOIN postings p ON p.entry_id = e.id "
            "LEFT JOIN journal_entries o ON e.kind = 'reversal' AND o.id = e.reverses "
            "WHERE e.estate_id = ? AND e.at >= ? AND e.at < ? AND p.account = 'receivable' "
            "AND p.fee_item <> 'late_fee' AND p.period < ? GROUP BY p.unit_id",
            (estate_id, ts(start), ts(end), before_period),
        )
        return [(r[0], int(r[1])) for r in rows]

    def unit_buildings(self, estate_id: int) -> dict[int, int]:
        """Unit id -> building id, for grouping without loading whole units."""
        rows = self._uow.execute(
            "SELECT id, building_id FROM units WHERE estate_id = ?", (estate_id,)
        )
        return {int(r[0]): int(r[1]) for r in rows}
