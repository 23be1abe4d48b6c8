"""SQLite repository of commission: plans, targets, splits, settled statements, and the
one pass over a month's allocations that settlement reads."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from operator import itemgetter
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from propcare.commission.basis import BasisRow, Split
from propcare.commission.plans import Plan
from propcare.commission.settle import (
    Statement,
    lines_from_json,
    lines_to_json,
    payments_named,
)
from propcare.storage.sqlite_values import parse_ts, ts

if TYPE_CHECKING:
    from propcare.storage.sql import SqlSession

__all__ = ["CommissionRepo"]

_KIND = itemgetter(0)  # Line.kind
_TIE = itemgetter(1, 5, 4)  # BasisRow (txn, period, fee item): the order within an instant

_PLAN = (
    "SELECT id, estate_id, name, version, effective_from, kind, params, staff_id, role, "
    "floor_fen, cap_fen, corrects, reason "
    "FROM commission_plans "
)
_STATEMENT = (
    "SELECT id, estate_id, staff_id, period, sequence, plan_id, plan_name, plan_version, "
    "total_fen, lines, inputs, settled_at, actor FROM commission_statements "
)


def _plan(r: Sequence[Any]) -> Plan:
    return Plan(
        estate_id=r[1],
        name=r[2],
        version=r[3],
        effective_from=date.fromisoformat(r[4]),
        kind=r[5],
        params=json.loads(r[6]),
        staff_id=r[7],
        role=r[8],
        floor_fen=r[9],
        cap_fen=r[10],
        corrects=r[11],
        reason=r[12],
        id=r[0],
    )


class CommissionRepo:
    def __init__(self, uow: SqlSession) -> None:
        self._uow = uow

    # --- plans, targets, splits -----------------------------------------------------

    def add_plan(self, plan: Plan, at: datetime, actor: str) -> Plan:
        version = self._uow.execute(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM commission_plans "
            "WHERE estate_id = ? AND name = ?",
            (plan.estate_id, plan.name),
        ).fetchone()[0]
        new_id = self._uow.insert_id(
            "INSERT INTO commission_plans (estate_id, name, version, effective_from, kind, "
            "params, staff_id, role, floor_fen, cap_fen, corrects, reason, created_at, actor) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                plan.estate_id, plan.name, version, plan.effective_from.isoformat(), plan.kind,
                json.dumps(plan.params, ensure_ascii=False, sort_keys=True), plan.staff_id,
                plan.role, plan.floor_fen, plan.cap_fen, plan.corrects, plan.reason, ts(at),
                actor,
            ),
        )  # fmt: skip
        found = self.plan(new_id)
        assert found is not None
        return found

    def plan(self, plan_id: int) -> Plan | None:
        row = self._uow.execute(_PLAN + "WHERE id = ?", (plan_id,)).fetchone()
        return _plan(row) if row else None

    def plans(self, estate_id: int) -> list[Plan]:
        rows = self._uow.execute(_PLAN + "WHERE estate_id = ? ORDER BY name, version", (estate_id,))
        return [_plan(r) for r in rows]

    def set_target(
        self,
        estate_id: int,
        staff_id: int,
        period: str,
        amount_fen: int | None,
        households: int | None,
    ) -> None:
        self._uow.execute(
            "INSERT INTO commission_targets (estate_id, staff_id, period, amount_fen, households) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (estate_id, staff_id, period) DO UPDATE SET "
            "amount_fen = excluded.amount_fen, households = excluded.households",
            (estate_id, staff_id, period, amount_fen, households),
        )

    def targets(self, estate_id: int, period: str) -> dict[int, tuple[int | None, int | None]]:
        rows = self._uow.execute(
            "SELECT staff_id, amount_fen, households FROM commission_targets "
            "WHERE estate_id = ? AND period = ?",
            (estate_id, period),
        )
        return {int(r[0]): (r[1], r[2]) for r in rows}

    def add_split(self, split: Split) -> Split:
        new_id = self._uow.insert_id(
            "INSERT INTO commission_splits (estate_id, building_id, unit_id, shares, start_date, "
            "end_date) VALUES (?, ?, ?, ?, ?, ?)",
            (
                split.estate_id,
                split.building_id,
                split.unit_id,
                json.dumps({str(k): str(v) for k, v in split.shares.items()}),
                split.start.isoformat(),
                None if split.end is None else split.end.isoformat(),
            ),
        )
        from attrs import evolve

        return evolve(split, id=new_id)

    def splits(self, estate_id: int) -> list[Split]:
        rows = self._uow.execute(
            "SELECT id, estate_id, building_id, unit_id, shares, start_date, end_date "
            "FROM commission_splits WHERE estate_id = ? ORDER BY id",
            (estate_id,),
        )
        return [
            Split(
                estate_id=r[1],
                shares={int(k): v for k, v in json.loads(r[4]).items()},
                start=date.fromisoformat(r[5]),
                building_id=r[2],
                unit_id=r[3],
                end=None if r[6] is None else date.fromisoformat(r[6]),
                id=r[0],
            )
            for r in rows
        ]

    # --- settlements and statements ---------------------------------------------------

    def settled_periods(self, estate_id: int) -> list[str]:
        rows = self._uow.execute(
            "SELECT period FROM commission_settlements WHERE estate_id = ? ORDER BY period",
            (estate_id,),
        )
        return [r[0] for r in rows]

    def add_settlement(
        self, estate_id: int, period: str, at: datetime, actor: str, uncommissioned: dict[str, int]
    ) -> None:
        self._uow.execute(
            "INSERT INTO commission_settlements (estate_id, period, settled_at, actor, "
            "uncommissioned) VALUES (?, ?, ?, ?, ?)",
            (estate_id, period, ts(at), actor, json.dumps(uncommissioned, sort_keys=True)),
        )

    def uncommissioned(self, estate_id: int, period: str) -> dict[str, int] | None:
        row = self._uow.execute(
            "SELECT uncommissioned FROM commission_settlements WHERE estate_id = ? AND period = ?",
            (estate_id, period),
        ).fetchone()
        return None if row is None else {k: int(v) for k, v in json.loads(row[0]).items()}

    def add_statement(self, s: Statement) -> Statement:
        new_id = self._uow.insert_id(
            "INSERT INTO commission_statements (estate_id, staff_id, period, sequence, plan_id, "
            "plan_name, plan_version, total_fen, lines, inputs, settled_at, actor) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                s.estate_id, s.staff_id, s.period, s.sequence, s.plan_id, s.plan_name,
                s.plan_version, s.total_fen,
                json.dumps(lines_to_json(s.lines), ensure_ascii=False, separators=(",", ":")),
                json.dumps(s.inputs, ensure_ascii=False), ts(s.settled_at), s.actor,
            ),
        )  # fmt: skip
        statement_id = new_id
        payments: set[int] = set()
        if not set(map(_KIND, s.lines)).isdisjoint(("clawback", "adjustment")):
            payments = {
                line.payment_id
                for line in s.lines
                if line.kind in ("clawback", "adjustment") and line.payment_id is not None
            }
        if payments:
            self._uow.executemany(
                "INSERT INTO commission_line_index (statement_id, payment_id) VALUES (?, ?)",
                [(statement_id, p) for p in sorted(payments)],
            )
        from attrs import evolve

        return evolve(s, id=statement_id)

    def _statements(self, rows: Sequence[Sequence[Any]]) -> list[Statement]:
        kept = [json.loads(r[9]) for r in rows]
        ids = sorted(set().union(*(payments_named(k) for k in kept))) if kept else []
        txns: dict[int, str] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            txns.update(
                self._uow.tuples(
                    "SELECT id, provider || ':' || provider_txn_id FROM payment_notices "
                    f"WHERE id IN ({', '.join('?' for _ in chunk)})",
                    chunk,
                )
            )
        return [
            Statement(
                estate_id=r[1],
                staff_id=r[2],
                period=r[3],
                sequence=r[4],
                plan_id=r[5],
                plan_name=r[6],
                plan_version=r[7],
                total_fen=r[8],
                lines=lines_from_json(k, txns),
                inputs=json.loads(r[10]),
                settled_at=parse_ts(r[11]),
                actor=r[12],
                id=r[0],
            )
            for r, k in zip(rows, kept, strict=True)
        ]

    def statement(self, statement_id: int) -> Statement | None:
        rows = self._uow.tuples(_STATEMENT + "WHERE id = ?", (statement_id,))
        return self._statements(rows)[0] if rows else None

    def statements(
        self, estate_id: int, periods: Iterable[str] | None = None, staff_id: int | None = None
    ) -> list[Statement]:
        sql = _STATEMENT + "WHERE estate_id = ?"
        params: list[Any] = [estate_id]
        if periods is not None:
            wanted = sorted(set(periods))
            if not wanted:
                return []
            sql += f" AND period IN ({', '.join('?' for _ in wanted)})"
            params.extend(wanted)
        if staff_id is not None:
            sql += " AND staff_id = ?"
            params.append(staff_id)
        return self._statements(
            self._uow.tuples(sql + " ORDER BY period, staff_id, sequence", params)
        )

    def statements_naming(self, payment_ids: Iterable[int]) -> list[Statement]:
        """Statements with clawback or adjustment lines of these payments."""
        ids = sorted(set(payment_ids))
        if not ids:
            return []
        rows = self._uow.tuples(
            _STATEMENT + "WHERE id IN (SELECT statement_id FROM commission_line_index "
            f"WHERE payment_id IN ({', '.join('?' for _ in ids)})) ORDER BY id",
            ids,
        )
        return self._statements(rows)

    # --- what settlement reads ------------------------------------------------------------

    def basis(
        self, estate_id: int, start: datetime, end: datetime, zone: ZoneInfo
    ) -> tuple[list[BasisRow], list[BasisRow]]:
        """The allocations of [start, end), in one pass, as (collected, paid back), each in
        the fixed order of commission lines: time, provider transaction, period, fee item.

        Collected: net per (payment, fee item, period) of payments first allocated in the
        window (a refund in the same window nets). Paid back: refunds and reversals in the
        window of payments allocated before it, per (payment, fee item, period).
        """
        # The index on (estate, at) returns the rows in time order without a sort; ties
        # (one payment's lines, or two payments at one instant) are ordered below.
        rows = self._uow.tuples(
            "SELECT a.payment_id, n.provider || ':' || n.provider_txn_id, a.unit_id, "
            "a.fee_item, a.period, a.amount_fen, e.at "
            "FROM journal_entries e JOIN payment_allocations a ON a.entry_id = e.id "
            "JOIN payment_notices n ON n.id = a.payment_id "
            "WHERE e.estate_id = ? AND e.at >= ? AND e.at < ? ORDER BY e.at",
            (estate_id, ts(start), ts(end)),
        )
        building = self._buildings(estate_id, rows)
        returned = {r[0] for r in rows if r[5] < 0}  # payments with money paid back: rare
        earlier = {p for p, at in self._first_allocated(sorted(returned)).items() if at < ts(start)}
        collected: list[BasisRow] = []
        back: dict[tuple[int, str, str], BasisRow] = {}
        netted: dict[tuple[int, str, str], int] = {}
        # Stamps are fixed-width UTC text in time order: the local day changes only when a
        # stamp reaches the next local midnight (``day_end``), looked up then.
        last_stamp, when, day, day_end = "", start, start.date(), ""
        # Rows of one instant out of (transaction, period, fee item) order: a payment's
        # lines as they were written (a bill line before owner credit, say). Such an
        # instant's rows, at the end of ``collected`` when the next instant begins, are
        # sorted then; every other row is in order already.
        unordered = False
        previous: Sequence[Any] = ()
        append, new = collected.append, tuple.__new__
        for row in rows:
            pid, txn, unit, item, period, fen, stamp = row
            if stamp != last_stamp:  # a payment's lines are together: parse it once
                if unordered:
                    _sort_instant(collected, when)
                    unordered = False
                last_stamp, when = stamp, parse_ts(stamp)
                if stamp >= day_end:
                    day = when.astimezone(zone).date()
                    day_end = ts(datetime.combine(day + timedelta(days=1), time.min, zone))
            elif not unordered:
                unordered = (txn, period, item) < (previous[1], previous[4], previous[3])
            previous = row
            if fen < 0:
                key = (pid, item, period)
                if pid in earlier:
                    had = back.get(key)
                    back[key] = (
                        BasisRow(pid, txn, unit, building[unit], item, period, fen, when, day)
                        if had is None
                        else had._replace(amount_fen=had.amount_fen + fen)
                    )
                else:
                    netted[key] = netted.get(key, 0) + fen
                continue
            append(new(BasisRow, (pid, txn, unit, building[unit], item, period, fen, when, day)))
        if unordered:
            _sort_instant(collected, when)
        if netted:
            out = []
            for row in collected:
                less = netted.get((row.payment_id, row.fee_item, row.period), 0)
                if less:
                    row = row._replace(amount_fen=row.amount_fen + less)
                if row.amount_fen:
                    out.append(row)
            collected = out
        paid_back = sorted(back.values(), key=lambda r: (r.at, r.txn, r.period, r.fee_item))
        return collected, paid_back

    def _buildings(self, estate_id: int, rows: Sequence[Sequence[Any]]) -> dict[int, int]:
        """Unit -> building of the units these basis rows name: the estate's whole list for
        a month, only those named for a few days (the week before a month)."""
        if len(rows) > 2_000:
            return dict(
                self._uow.tuples(
                    "SELECT id, building_id FROM units WHERE estate_id = ?", (estate_id,)
                )
            )
        ids = sorted({r[2] for r in rows})
        out: dict[int, int] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            out.update(
                self._uow.tuples(
                    "SELECT id, building_id FROM units "
                    f"WHERE id IN ({', '.join('?' for _ in chunk)})",
                    chunk,
                )
            )
        return out

    def _first_allocated(self, payment_ids: Sequence[int]) -> dict[int, str]:
        ids = sorted(set(payment_ids))
        out: dict[int, str] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            rows = self._uow.execute(
                "SELECT a.payment_id, MIN(e.at) FROM payment_allocations a "
                "JOIN journal_entries e ON e.id = a.entry_id "
                f"WHERE a.amount_fen > 0 AND a.payment_id IN ({', '.join('?' for _ in chunk)}) "
                "GROUP BY a.payment_id",
                chunk,
            )
            out.update({int(r[0]): r[1] for r in rows})
        return out

    def first_allocated(self, payment_ids: Sequence[int]) -> dict[int, datetime]:
        """When each payment was first allocated (the month its commission belongs to)."""
        return {k: parse_ts(v) for k, v in self._first_allocated(payment_ids).items()}

    def attempts(
        self, estate_id: int, start: datetime, end: datetime, *, visits_only: bool = False
    ) -> list[tuple[int, datetime, int]]:
        """(unit, at, collector) of dunning attempts in [start, end) that name a collector."""
        rows = self._uow.execute(
            "SELECT unit_id, at, collector_staff_id FROM dunning_attempts "
            "WHERE estate_id = ? AND at >= ? AND at < ? AND collector_staff_id IS NOT NULL"
            + (" AND method = 'visit'" if visits_only else ""),
            (estate_id, ts(start), ts(end)),
        )
        return [(int(r[0]), parse_ts(r[1]), int(r[2])) for r in rows]


def _sort_instant(rows: list[BasisRow], at: datetime) -> None:
    """Put the rows at the end of ``rows`` whose time is ``at`` (one object for an
    instant's rows) in (transaction, period, fee item) order."""
    first = len(rows)
    while first and rows[first - 1].at is at:
        first -= 1
    rows[first:] = sorted(rows[first:], key=_TIE)
