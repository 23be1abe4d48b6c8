"""The SQL behind arrears, aging and the collection rate.

Every query is one statement over the estate (no query per unit or line). The rules
they compute are written out in :mod:`propcare.ledger.arrears`, and the tests hold the
SQL to a reference in Python.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterator, Sequence
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


# --- the roster ---------------------------------------------------------------------------
#
# Numbered parameters, each used wherever it is needed: ?1 the estate, ?2 the cut-off
# instant, ?3 the roster's day (ISO), ?4 the instant it began, ?5 the building or the
# collector (?6 the collector when both are given).

# Whether assignment c covers the roster's day. An open end counts as 9999-12-31, the
# expression migration 0024 indexes: only assignments still running on the day are read,
# never one that ended before it.
_COVERS = "COALESCE(c.end_date, '9999-12-31') >= ?3 AND c.start_date <= ?3"
# The collector of a unit on the day: its own assignment beats its building's; of those
# covering the day the latest start wins, then the later entered (as
# propcare.ledger.collection.collector_on says). Each a lookup in the index of the unit's
# or the building's running assignments, whatever the estate's history.
_COLLECTOR = (
    "COALESCE((SELECT c.staff_id FROM collector_assignments c WHERE c.unit_id = {unit} "
    f"AND {_COVERS} ORDER BY c.start_date DESC, c.id DESC LIMIT 1), "
    "(SELECT c.staff_id FROM collector_assignments c WHERE c.building_id = {building} "
    f"AND {_COVERS} ORDER BY c.start_date DESC, c.id DESC LIMIT 1))"
)
# The units the roster reads, chosen before their postings are: a building's; or those a
# collector answers for on the day (of the units of the buildings and the units the
# collector is assigned to on the day, those whose collector it is).
_OF_BUILDING = "AND unit_id IN (SELECT id FROM units WHERE estate_id = ?1 AND building_id = ?5) "
_OF_COLLECTOR = (
    "AND unit_id IN (SELECT u.id FROM units u WHERE u.id IN ("
    "SELECT v.id FROM units v WHERE v.estate_id = ?1 AND v.building_id IN ("
    "SELECT c.building_id FROM collector_assignments c WHERE c.staff_id = ?5 "
    f"AND c.estate_id = ?1 AND c.building_id IS NOT NULL AND {_COVERS}) "
    "UNION SELECT c.unit_id FROM collector_assignments c WHERE c.staff_id = ?5 "
    f"AND c.estate_id = ?1 AND c.unit_id IS NOT NULL AND {_COVERS}) "
    "AND " + _COLLECTOR.format(unit="u.id", building="u.building_id") + " = ?5) "
)
# Past due on the day: a bill's due date is before it, or a line without a bill was first
# charged before the day began.
_PAST_DUE = "(bl.due_date < ?3 OR (bl.due_date IS NULL AND x.first_at < ?4))"
# Sort keys: text compared by code point on both engines ({c}: PostgreSQL's collation of a
# database may be a language's), then the unit id, so equal keys keep one order.
_ORDERS = {
    "amount": "l.fen DESC, b.name{c}, u.number{c}, l.fee_item{c}, l.unit_id",
    "unit": "b.name{c}, u.number{c}, l.fee_item{c}, l.unit_id",
    "oldest": "l.first_period{c}, b.name{c}, u.number{c}, l.fee_item{c}, l.unit_id",
}
# Rows fetched from a PostgreSQL cursor at a time.
_BATCH = 2000


def _roster_sql(
    estate_id: int,
    as_of: datetime,
    day: date,
    day_start: datetime,
    include_not_due: bool,
    building_id: int | None,
    collector_staff_id: int | None,
    sort_by: str,
    *,
    sqlite: bool,
) -> tuple[str, tuple[Any, ...]]:
    """The roster's statement and its parameters (see ``ArrearsRepo.roster_lines``)."""
    params: tuple[Any, ...] = (estate_id, ts(as_of), day.isoformat(), ts(day_start))
    units = ""
    if building_id is not None:
        units, params = _OF_BUILDING, (*params, building_id)
    elif collector_staff_id is not None:
        units, params = _OF_COLLECTOR, (*params, collector_staff_id)
    if building_id is not None and collector_staff_id is not None:
        units += _OF_COLLECTOR.replace("?5", "?6")
        params = (*params, collector_staff_id)
    order = _ORDERS[sort_by].format(c="" if sqlite else ' COLLATE "C"')
    where = "" if include_not_due else f"WHERE {_PAST_DUE} "
    sql = (
        "WITH owing AS (SELECT unit_id, fee_item, period, SUM(amount_fen) AS owed, "
        "MIN(at) AS first_at FROM postings WHERE estate_id = ?1 AND account = 'receivable' "
        f"AND at <= ?2 {units}GROUP BY unit_id, fee_item, period HAVING SUM(amount_fen) > 0), "
        "lines AS (SELECT x.unit_id, x.fee_item, group_concat(x.period) AS periods, "
        "MIN(x.period) AS first_period, CAST(SUM(x.owed) AS BIGINT) AS fen, "
        "MIN(bl.due_date) AS bill_due, "
        "MIN(CASE WHEN bl.due_date IS NULL THEN x.first_at END) AS charged, "
        f"CAST(SUM(CASE WHEN {_PAST_DUE} THEN 0 ELSE x.owed END) AS BIGINT) AS not_due "
        f"FROM owing x {_WITH_BILL}{where}GROUP BY x.unit_id, x.fee_item) "
        # Only the lines owed are joined to their unit, owner, collector and attempt.
        "SELECT l.unit_id, b.name, u.number, COALESCE(o.name, ''), "
        "COALESCE(o.phones, '[]'), l.fee_item, l.periods, l.fen, l.bill_due, l.charged, "
        f"l.not_due, {_COLLECTOR.format(unit='l.unit_id', building='u.building_id')}, "
        "d.at, d.method, d.outcome "
        "FROM lines l JOIN units u ON u.id = l.unit_id "
        "JOIN buildings b ON b.id = u.building_id "
        "LEFT JOIN ownerships s ON s.unit_id = l.unit_id AND s.start_date <= ?3 "
        "AND (s.end_date IS NULL OR s.end_date > ?3) "
        "LEFT JOIN owners o ON o.id = s.owner_id "
        "LEFT JOIN dunning_attempts d ON d.id = (SELECT a.id FROM dunning_attempts a "
        "WHERE a.estate_id = ?1 AND a.unit_id = l.unit_id AND a.at <= ?2 "
        f"ORDER BY a.at DESC, a.id DESC LIMIT 1) ORDER BY {order}"
    )
    return sql, params


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

    def roster_lines(
        self,
        estate_id: int,
        as_of: datetime,
        day: date,
        day_start: datetime,
        *,
        include_not_due: bool = False,
        building_id: int | None = None,
        collector_staff_id: int | None = None,
        sort_by: str = "amount",
    ) -> Iterator[tuple[Any, ...]]:
        """The roster's lines in the order asked for, one owed (unit, fee item) a row:
        (unit, building, unit number, owner, phones JSON, fee item, the periods joined by
        commas in no set order, fen, the earliest due date of its bills or None, the
        earliest first-charged instant of its lines without a bill or None, fen not yet
        due, the unit's collector on ``day`` or None, and the instant, method and outcome
        of its latest dunning attempt at or before ``as_of`` (the later entered on a tie),
        or three Nones).

        Only lines past due on ``day`` (which began at ``day_start``) unless
        ``include_not_due``; only the units of ``building_id``, or those
        ``collector_staff_id`` answers for on ``day``, when given: the filters choose the
        units before their postings are read, so a building's roster reads that building's
        postings alone. The collector comes from the assignments covering ``day`` (an
        interval join: the unit's own beats its building's, the latest start and then the
        later entered wins), so past assignments cost nothing per line.

        One statement, sorted by the database and read as the caller iterates: use it up
        inside the unit of work (on PostgreSQL it is read through a server-side cursor, a
        batch at a time)."""
        conn = self._sqlite()
        sql, params = _roster_sql(
            estate_id, as_of, day, day_start, include_not_due, building_id,
            collector_staff_id, sort_by, sqlite=conn is not None,
        )  # fmt: skip
        dues: dict[str, date] = {}  # a roster has few due dates: each parsed once
        for r in self._stream(conn, sql, params):
            due = r[8]
            if due is not None:
                parsed = dues.get(due)
                if parsed is None:
                    if len(dues) >= 4096:
                        dues.clear()
                    parsed = dues[due] = date.fromisoformat(str(due))
                due = parsed
            charged, at = r[9], r[12]
            yield (
                r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], due,
                None if charged is None else parse_ts(str(charged)), r[10], r[11],
                None if at is None else parse_ts(str(at)), r[13], r[14],
            )  # fmt: skip

    def _sqlite(self) -> sqlite3.Connection | None:
        """The SQLite connection of the unit of work, or None on PostgreSQL (the other
        engine the repositories run on): ordering and streaming are spelled differently."""
        conn = getattr(self._uow, "connection", None)
        return conn if isinstance(conn, sqlite3.Connection) else None

    def _stream(
        self, conn: sqlite3.Connection | None, sql: str, params: Sequence[Any]
    ) -> Iterator[tuple[Any, ...]]:
        """The rows of ``sql`` as the caller reads them, as plain tuples."""
        if conn is not None:
            # SQLite steps the statement as the rows are read (its sorter spills to its
            # temporary files, not to this process's memory); plain tuples, not Rows.
            cursor = conn.cursor()
            cursor.row_factory = None
            try:
                yield from cursor.execute(sql, params)
            except sqlite3.Error as exc:
                from propcare.storage.sqlite import storage_error  # it imports this module

                file = conn.execute("PRAGMA database_list").fetchone()[2] or ":memory:"
                raise storage_error(exc, file) from exc
            finally:
                cursor.close()
            return
        # PostgreSQL's client would hold the whole result: a cursor on the server instead,
        # a batch at a time, closed with the transaction if the caller stops early.
        self._uow.execute(f"DECLARE propcare_roster NO SCROLL CURSOR FOR {sql}", params)
        fetch = f"FETCH FORWARD {_BATCH} FROM propcare_roster"
        while batch := self._uow.execute(fetch).fetchall():
            yield from batch
        self._uow.execute("CLOSE propcare_roster")

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
