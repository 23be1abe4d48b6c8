"""The SQL behind arrears, aging and the collection rate.

Every query is one statement over the estate (no query per unit or line). The rules
they compute are written out in :mod:`propcare.ledger.arrears`, and the tests hold the
SQL to a reference in Python.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from propcare.ledger.arrears import CASH_KINDS, CHARGE_KINDS, CreditMove
from propcare.storage.sqlite_values import parse_ts, ts

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
_CASH = "(" + ", ".join(f"'{k}'" for k in CASH_KINDS) + ")"
_CHARGES = "(" + ", ".join(f"'{k}'" for k in CHARGE_KINDS) + ")"
_SETTLING = "(" + ", ".join(f"'{k}'" for k in ("bill", *CASH_KINDS, "compensation")) + ")"

# The receivable lines (unit, fee item, period) still owed at a cut-off, with the first
# time each was charged (a line without a bill is due that day).
_OWED = (
    "SELECT unit_id, fee_item, period, SUM(amount_fen) AS owed, MIN(at) AS first_at "
    "FROM postings WHERE estate_id = ? AND account = 'receivable' AND at <= ? "
    "GROUP BY unit_id, fee_item, period HAVING SUM(amount_fen) > 0"
)
_WITH_BILL = (
    "LEFT JOIN bills bl ON bl.unit_id = x.unit_id AND bl.fee_item = x.fee_item "
    "AND bl.period = x.period "
)
# Past due on a day: a bill's due date is before it, or a line without a bill was first
# charged before the day began (parameters: the day, the instant it began).
_PAST_DUE = "(bl.due_date < ? OR (bl.due_date IS NULL AND x.first_at < ?))"


def _date(value: Any) -> date | None:
    return None if value is None else date.fromisoformat(str(value))


def _instant(value: Any) -> datetime | None:
    return None if value is None else parse_ts(str(value))


class ArrearsRepo:
    def __init__(self, uow: SqlSession) -> None:
        self._uow = uow

    def owed_by_due_date(
        self, estate_id: int, as_of: datetime
    ) -> list[tuple[date | None, datetime | None, int]]:
        """What is owed at ``as_of`` by when it fell due: (a bill's due date, None, fen)
        summed per due date, and (None, first charged, fen) for each line without a bill."""
        rows = self._uow.execute(
            "SELECT bl.due_date, CASE WHEN bl.due_date IS NULL THEN x.first_at END, "
            f"SUM(x.owed) FROM ({_OWED}) x {_WITH_BILL}"
            "GROUP BY bl.due_date, CASE WHEN bl.due_date IS NULL THEN x.first_at END",
            (estate_id, ts(as_of)),
        )
        return [(_date(r[0]), _instant(r[1]), int(r[2])) for r in rows]

    def roster_rows(
        self,
        estate_id: int,
        as_of: datetime,
        day: date,
        day_start: datetime,
        *,
        include_not_due: bool = False,
    ) -> list[tuple[Any, ...]]:
        """Each owed (unit, fee item) with what the roster shows beside it: (unit, building
        id, building, unit number, owner, phones JSON, fee item, the periods joined by
        commas in no set order, fen, the earliest due date of its bills or None, the
        earliest first-charged instant of its lines without a bill or None, fen not yet
        due). Only lines past due on ``day`` (which began at ``day_start``) unless
        ``include_not_due``. One query: only the lines in arrears are joined to their
        unit and owner, and a line's periods are gathered in SQL."""
        where = "" if include_not_due else f"WHERE {_PAST_DUE} "
        params: tuple[Any, ...] = (day.isoformat(), ts(day_start), estate_id, ts(as_of))
        params += (day.isoformat(), day.isoformat())
        if not include_not_due:
            params += (day.isoformat(), ts(day_start))
        rows = self._uow.tuples(
            "SELECT x.unit_id, u.building_id, b.name, u.number, COALESCE(o.name, ''), "
            "COALESCE(o.phones, '[]'), x.fee_item, group_concat(x.period), "
            "CAST(SUM(x.owed) AS BIGINT), MIN(bl.due_date), "
            "MIN(CASE WHEN bl.due_date IS NULL THEN x.first_at END), "
            f"CAST(SUM(CASE WHEN {_PAST_DUE} THEN 0 ELSE x.owed END) AS BIGINT) "
            f"FROM ({_OWED}) x {_WITH_BILL}"
            "JOIN units u ON u.id = x.unit_id JOIN buildings b ON b.id = u.building_id "
            "LEFT JOIN ownerships s ON s.unit_id = x.unit_id AND s.start_date <= ? "
            "AND (s.end_date IS NULL OR s.end_date > ?) "
            f"LEFT JOIN owners o ON o.id = s.owner_id {where}"
            "GROUP BY x.unit_id, x.fee_item, u.building_id, b.name, u.number, o.name, o.phones",
            params,
        )
        return [(*r[:9], _date(r[9]), _instant(r[10]), int(r[11])) for r in rows]

    def billed_and_collected(
        self, estate_id: int, first_period: str, last_period: str, as_of: datetime
    ) -> list[tuple[int, int, int, int, int]]:
        """(unit, billed, cash, compensation, other credits) in fen for the bills of the
        periods as of ``as_of``, per unit; late fees left out. Owner credit applied counts
        as cash here: :meth:`credit_moves` says which of it came from compensation."""
        rows = self._uow.execute(
            "SELECT p.unit_id, "
            f"SUM(CASE WHEN {_KIND} = 'bill' THEN p.amount_fen ELSE 0 END), "
            f"-SUM(CASE WHEN {_KIND} IN {_CASH} THEN p.amount_fen ELSE 0 END), "
            f"-SUM(CASE WHEN {_KIND} = 'compensation' THEN p.amount_fen ELSE 0 END), "
            f"-SUM(CASE WHEN {_KIND} NOT IN {_SETTLING} THEN p.amount_fen ELSE 0 END) "
            f"{_FROM}WHERE p.estate_id = ? AND p.account = 'receivable' "
            "AND p.fee_item <> 'late_fee' AND p.period >= ? AND p.period <= ? AND p.at <= ? "
            "GROUP BY p.unit_id",
            (estate_id, first_period, last_period, ts(as_of)),
        )
        return [(int(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows]

    def credit_moves(self, estate_id: int, before: datetime) -> dict[int, list[CreditMove]]:
        """Per unit whose owner credit may hold something other than cash, its entries
        up to ``before`` (inclusive) that touch owner credit or settle a receivable line,
        in the order they were posted: what
        :func:`propcare.ledger.arrears.credit_sources` traces. Few units: those a
        compensation or another non-cash credit left credit to, and those a correction
        released settled money to credit for (a unit's other entries are all cash)."""
        rows = self._uow.execute(
            f"SELECT p.unit_id, p.entry_id, p.at, {_KIND}, e.reverses, p.account, "
            f"p.fee_item, p.period, p.amount_fen {_FROM}"
            "WHERE p.estate_id = ? AND p.at <= ? AND p.unit_id IN ("
            f"SELECT p.unit_id {_FROM}WHERE p.estate_id = ? AND p.account = 'owner_credit' "
            f"AND p.at <= ? AND {_KIND} NOT IN {_CASH} "
            "UNION SELECT p.unit_id FROM postings p JOIN journal_entries e ON e.id = p.entry_id "
            "WHERE p.estate_id = ? AND p.account = 'owner_credit' AND p.amount_fen < 0 "
            "AND p.at <= ? AND e.kind = 'credit_applied') "
            "AND (p.account = 'owner_credit' OR (p.account = 'receivable' "
            f"AND {_KIND} NOT IN {_CHARGES})) "
            "ORDER BY p.unit_id, p.at, p.entry_id, p.id",
            (estate_id, ts(before)) * 3,
        )
        entries: dict[int, dict[int, list[Any]]] = defaultdict(dict)
        for unit_id, entry_id, at, kind, reverses, account, item, period, fen in rows:
            move = entries[int(unit_id)].setdefault(
                int(entry_id), [parse_ts(str(at)), str(kind), reverses, 0, []]
            )
            if account == "owner_credit":
                move[3] += int(fen)
            else:
                move[4].append((str(item), str(period), int(fen)))
        return {
            unit_id: [
                CreditMove(
                    entry_id=entry_id,
                    at=at,
                    kind=kind,
                    credit=credit,
                    settled=tuple(settled),
                    reverses=None if reverses is None else int(reverses),
                )
                for entry_id, (at, kind, reverses, credit, settled) in moves.items()
            ]
            for unit_id, moves in entries.items()
        }

    def recovered_before(
        self, estate_id: int, before_period: str, start: datetime, end: datetime
    ) -> list[tuple[int, int]]:
        """(unit, fen) of cash collected in [start, end) for periods before
        ``before_period``: the recovery of earlier arrears (历史欠费清缴); credits are not
        recovered cash. Read through the window's journal entries (a posting has its
        entry's time), not by scanning every receivable."""
        rows = self._uow.execute(
            "SELECT p.unit_id, "
            f"-SUM(CASE WHEN {_KIND} IN {_CASH} THEN p.amount_fen ELSE 0 END) "
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
