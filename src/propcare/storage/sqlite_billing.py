"""SQLite repository of billing: fee items, assignments, bills, and bulk journal writes.

A bill run writes tens of thousands of lines per chunk, so the journal rows go in through
the session's bulk path (``insert_rows``: ``executemany`` on SQLite, COPY on PostgreSQL)
into the ledger's own schema (journal_entries, postings) rather than one
``LedgerRepo.append`` per line. Entry ids are reserved as a block (``reserve_ids``), so
nobody else can take them meanwhile.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from propcare.ledger.billing import (
    BillLine,
    FeeAssignment,
    FeeItem,
    LateFeeTerms,
    OwnerSpan,
    UnitFacts,
)
from propcare.registry.model import UnitUse
from propcare.storage.sqlite_values import ts

if TYPE_CHECKING:
    from propcare.storage.sql import SqlSession

__all__ = ["BillingRepo", "TicketCharge"]

TicketCharge = tuple[int, int, int, str]  # charge id, unit id, fen, at (UTC text)


def _marks(n: int) -> str:
    return ", ".join("?" for _ in range(n))


def _item_from_row(r: Sequence[object]) -> FeeItem:
    rates = json.loads(str(r[6]))
    due = str(r[8])
    return FeeItem(
        id=int(str(r[0])),
        estate_id=int(str(r[1])),
        code=str(r[2]),
        name=str(r[3]),
        kind=r[4],
        schedule=r[5],
        rates={k: Decimal(v) for k, v in rates.items()},
        amount=None if r[7] is None else Decimal(str(r[7])),
        due=int(due) if due.isdigit() else due,
        vacancy_rate=None if r[9] is None else Decimal(str(r[9])),
    )


def _shares_json(shares: tuple[tuple[int | None, int], ...]) -> str:
    # Written by hand for the one-owner case: json.dumps per bill was a tenth of a run.
    if len(shares) == 1:
        owner, fen = shares[0]
        return f"[[{'null' if owner is None else int(owner)}, {int(fen)}]]"
    return json.dumps([list(s) for s in shares])


_POSTING_COLUMNS = (
    "entry_id",
    "estate_id",
    "account",
    "sub",
    "unit_id",
    "fee_item",
    "period",
    "amount_fen",
    "at",
)


class BillingRepo:
    def __init__(self, uow: SqlSession) -> None:
        self._uow = uow

    # --- fee items and assignments -------------------------------------------------

    def add_item(self, item: FeeItem) -> FeeItem:
        new_id = self._uow.insert_id(
            "INSERT INTO fee_items (estate_id, code, name, kind, schedule, rates, amount, due, "
            "vacancy_rate) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                item.estate_id,
                item.code,
                item.name,
                item.kind.value,
                item.schedule.value,
                json.dumps({u.value: str(r) for u, r in item.rates.items()}),
                None if item.amount is None else str(item.amount),
                str(item.due),
                None if item.vacancy_rate is None else str(item.vacancy_rate),
            ),
        )
        from attrs import evolve

        return evolve(item, id=new_id)

    def items(self, estate_id: int) -> list[FeeItem]:
        rows = self._uow.execute(
            "SELECT id, estate_id, code, name, kind, schedule, rates, amount, due, vacancy_rate "
            "FROM fee_items WHERE estate_id = ? ORDER BY id",
            (estate_id,),
        )
        return [_item_from_row(tuple(r)) for r in rows]

    def item(self, estate_id: int, code: str) -> FeeItem | None:
        found = [i for i in self.items(estate_id) if i.code == code]
        return found[0] if found else None

    def update_item(self, item: FeeItem) -> None:
        self._uow.execute(
            "UPDATE fee_items SET name = ?, rates = ?, amount = ?, due = ?, vacancy_rate = ? "
            "WHERE id = ?",
            (
                item.name,
                json.dumps({u.value: str(r) for u, r in item.rates.items()}),
                None if item.amount is None else str(item.amount),
                str(item.due),
                None if item.vacancy_rate is None else str(item.vacancy_rate),
                item.id,
            ),
        )

    def assignments(self, unit_id: int) -> list[FeeAssignment]:
        rows = self._uow.execute(
            "SELECT unit_id, fee_item, start_date, end_date FROM fee_assignments "
            "WHERE unit_id = ? ORDER BY start_date, id",
            (unit_id,),
        )
        return [
            FeeAssignment(
                int(r[0]),
                r[1],
                date.fromisoformat(r[2]),
                None if r[3] is None else date.fromisoformat(r[3]),
            )
            for r in rows
        ]

    def end_assignment(self, unit_id: int, code: str, start: date, end: date) -> None:
        self._uow.execute(
            "UPDATE fee_assignments SET end_date = ? "
            "WHERE unit_id = ? AND fee_item = ? AND start_date = ?",
            (end.isoformat(), unit_id, code, start.isoformat()),
        )

    def assign(self, estate_id: int, a: FeeAssignment) -> None:
        self._uow.execute(
            "INSERT INTO fee_assignments (estate_id, unit_id, fee_item, start_date, end_date) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                estate_id,
                a.unit_id,
                a.fee_item,
                a.start.isoformat(),
                None if a.end is None else a.end.isoformat(),
            ),
        )

    # --- what a bill run reads, one chunk of units at a time ---------------------------

    def unit_chunk(
        self, estate_id: int, after_id: int, limit: int, start: date, end: date
    ) -> list[UnitFacts]:
        """Up to ``limit`` units with id > ``after_id``, with the owners and assignments
        that overlap [start, end): three queries per chunk, never one per unit."""
        rows = self._uow.execute(
            "SELECT id, floor_area, use, handover_date FROM units "
            # "+estate_id": walk the rowid range; the estate index would sort the whole
            # estate for every chunk (quadratic in the number of units).
            "WHERE +estate_id = ? AND id > ? ORDER BY id LIMIT ?",
            (estate_id, after_id, limit),
        ).fetchall()
        if not rows:
            return []
        lo_id, hi_id = int(rows[0][0]), int(rows[-1][0])
        s, e = start.isoformat(), end.isoformat()
        owners: dict[int, list[OwnerSpan]] = {}
        for r in self._uow.execute(
            "SELECT unit_id, owner_id, start_date, end_date FROM ownerships "
            "WHERE estate_id = ? AND unit_id BETWEEN ? AND ? AND start_date < ? "
            "AND (end_date IS NULL OR end_date > ?) ORDER BY unit_id, start_date, id",
            (estate_id, lo_id, hi_id, e, s),
        ):
            owners.setdefault(int(r[0]), []).append(
                OwnerSpan(
                    int(r[1]),
                    date.fromisoformat(r[2]),
                    None if r[3] is None else date.fromisoformat(r[3]),
                )
            )
        assigned: dict[int, list[FeeAssignment]] = {}
        for r in self._uow.execute(
            "SELECT unit_id, fee_item, start_date, end_date FROM fee_assignments "
            "WHERE estate_id = ? AND unit_id BETWEEN ? AND ? AND start_date < ? "
            "AND (end_date IS NULL OR end_date > ?) ORDER BY unit_id, start_date, id",
            (estate_id, lo_id, hi_id, e, s),
        ):
            assigned.setdefault(int(r[0]), []).append(
                FeeAssignment(
                    int(r[0]),
                    r[1],
                    date.fromisoformat(r[2]),
                    None if r[3] is None else date.fromisoformat(r[3]),
                )
            )
        # Values are built without the Unit validators: they were checked when stored.
        uses = {u.value: u for u in UnitUse}
        return [
            UnitFacts(
                unit_id=int(r[0]),
                floor_area=Decimal(r[1]),
                use=uses[r[2]],
                handover_date=None if r[3] is None else date.fromisoformat(r[3]),
                owners=tuple(owners.get(int(r[0]), ())),
                assignments=tuple(assigned.get(int(r[0]), ())),
            )
            for r in rows
        ]

    def billed(self, estate_id: int, period: str, lo_id: int, hi_id: int) -> set[tuple[int, str]]:
        """(unit, fee item) already billed for ``period`` among units lo_id..hi_id."""
        rows = self._uow.execute(
            # The UNIQUE (unit_id, fee_item, period) index, not the estate's whole period.
            "SELECT unit_id, fee_item FROM bills WHERE unit_id BETWEEN ? AND ? AND period = ? "
            "AND +estate_id = ?",
            (lo_id, hi_id, period, estate_id),
        )
        return {(int(r[0]), str(r[1])) for r in rows}

    def units_with_credit(self, estate_id: int, lo_id: int, hi_id: int) -> list[int]:
        """Units lo_id..hi_id holding owner credit (prepayments) to apply to new bills."""
        rows = self._uow.execute(
            "SELECT unit_id FROM postings WHERE estate_id = ? AND account = 'owner_credit' "
            "AND unit_id BETWEEN ? AND ? GROUP BY unit_id HAVING SUM(amount_fen) < 0",
            (estate_id, lo_id, hi_id),
        )
        return [int(r[0]) for r in rows]

    def unbilled_ticket_charges(
        self, estate_id: int, start: datetime, end: datetime
    ) -> list[TicketCharge]:
        """Paid-service charges on units in [start, end) not billed yet."""
        rows = self._uow.execute(
            "SELECT c.id, c.unit_id, c.amount_fen, c.at FROM ticket_charges c "
            "LEFT JOIN billed_ticket_charges b ON b.charge_id = c.id "
            "WHERE c.estate_id = ? AND c.at >= ? AND c.at < ? AND c.unit_id IS NOT NULL "
            "AND c.amount_fen > 0 AND b.charge_id IS NULL ORDER BY c.id",
            (estate_id, ts(start), ts(end)),
        )
        return [(int(r[0]), int(r[1]), int(r[2]), str(r[3])) for r in rows]

    # --- writes --------------------------------------------------------------------

    def write_entries(
        self,
        estate_id: int,
        kind: str,
        at: datetime,
        actor: str,
        rows: Sequence[tuple[str, int, int, str, str, str]],
    ) -> list[int]:
        """One balanced entry per row (key, unit, fen, fee item, period, revenue account):
        receivable debit of the unit, revenue credit; returns the entry ids in order."""
        if not rows:
            return []
        first = self._uow.reserve_ids("journal_entries", len(rows))
        when = ts(at)
        self._uow.insert_rows(
            "journal_entries",
            ("id", "estate_id", "kind", "at", "idem_key", "actor", "memo"),
            [(first + i, estate_id, kind, when, r[0], actor, "") for i, r in enumerate(rows)],
        )
        postings: list[tuple[object, ...]] = []
        for i, (_key, unit, fen, item, period, revenue) in enumerate(rows):
            entry = first + i
            postings.append((entry, estate_id, "receivable", "", unit, item, period, fen, when))
            postings.append((entry, estate_id, revenue, item, None, None, None, -fen, when))
        self._uow.insert_rows("postings", _POSTING_COLUMNS, postings)
        return list(range(first, first + len(rows)))

    def add_bills(
        self, estate_id: int, lines: Sequence[BillLine], entry_ids: Sequence[int]
    ) -> None:
        self._uow.insert_rows(
            "bills",
            (
                "estate_id",
                "unit_id",
                "fee_item",
                "period",
                "amount_fen",
                "due_date",
                "owner_shares",
                "entry_id",
            ),
            [
                (
                    estate_id,
                    ln.unit_id,
                    ln.fee_item,
                    ln.period,
                    ln.amount_fen,
                    ln.due_date.isoformat(),
                    _shares_json(ln.shares),
                    entry_id,
                )
                for ln, entry_id in zip(lines, entry_ids, strict=True)
            ],
        )

    def mark_ticket_charges(self, pairs: Sequence[tuple[int, int]]) -> None:
        self._uow.executemany(
            "INSERT INTO billed_ticket_charges (charge_id, entry_id) VALUES (?, ?)", pairs
        )

    def bills_of(self, unit_id: int) -> list[BillLine]:
        """The unit's bills with their entries, and each one's reversal if it has one."""
        rows = self._uow.execute(
            "SELECT b.unit_id, b.fee_item, b.period, b.amount_fen, b.due_date, b.owner_shares, "
            "b.entry_id, r.id FROM bills b LEFT JOIN journal_entries r ON r.reverses = b.entry_id "
            "WHERE b.unit_id = ? ORDER BY b.period, b.fee_item",
            (unit_id,),
        )
        return [
            BillLine(
                unit_id=int(r[0]),
                fee_item=str(r[1]),
                period=str(r[2]),
                amount_fen=int(r[3]),
                due_date=date.fromisoformat(r[4]),
                shares=tuple((s[0], int(s[1])) for s in json.loads(r[5])),
                entry_id=int(r[6]),
                reversed_by=None if r[7] is None else int(r[7]),
            )
            for r in rows
        ]

    def rebill(self, estate_id: int, line: BillLine, entry_id: int) -> None:
        """Make ``line``, billed by ``entry_id``, the bill of its (unit, fee item, period):
        the row of a corrected bill now names the new entry (the journal keeps the old
        one and its reversal); a period the unit had no bill for gets its row."""
        cur = self._uow.execute(
            "UPDATE bills SET amount_fen = ?, due_date = ?, owner_shares = ?, entry_id = ? "
            "WHERE unit_id = ? AND fee_item = ? AND period = ?",
            (
                line.amount_fen,
                line.due_date.isoformat(),
                _shares_json(line.shares),
                entry_id,
                line.unit_id,
                line.fee_item,
                line.period,
            ),
        )
        if cur.rowcount == 0:
            self.add_bills(estate_id, [line], [entry_id])

    def late_fees_of(self, unit_id: int) -> list[tuple[int, str, str, str, int, int | None]]:
        """(entry id, fee item, period, month assessed, fen, waiver or reversal id) of the
        unit's late fees, oldest first."""
        rows = self._uow.execute(
            "SELECT l.entry_id, l.fee_item, l.period, l.as_of_month, l.amount_fen, r.id "
            "FROM late_fees l LEFT JOIN journal_entries r ON r.reverses = l.entry_id "
            "WHERE l.unit_id = ? ORDER BY l.id",
            (unit_id,),
        )
        return [
            (
                int(r[0]),
                str(r[1]),
                str(r[2]),
                str(r[3]),
                int(r[4]),
                None if r[5] is None else int(r[5]),
            )
            for r in rows
        ]

    # --- late fees -------------------------------------------------------------------

    def set_terms(self, estate_id: int, terms: LateFeeTerms) -> None:
        self._uow.execute(
            "INSERT INTO late_fee_terms (estate_id, daily_rate, grace_days, cap) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (estate_id) DO UPDATE SET "
            "daily_rate = excluded.daily_rate, grace_days = excluded.grace_days, "
            "cap = excluded.cap",
            (estate_id, str(terms.daily_rate), terms.grace_days, str(terms.cap)),
        )

    def terms(self, estate_id: int) -> LateFeeTerms | None:
        row = self._uow.execute(
            "SELECT daily_rate, grace_days, cap FROM late_fee_terms WHERE estate_id = ?",
            (estate_id,),
        ).fetchone()
        if row is None:
            return None
        return LateFeeTerms(Decimal(row[0]), int(row[1]), Decimal(row[2]))

    def overdue(
        self, estate_id: int, as_of: date
    ) -> list[tuple[int, str, str, date, int, int, int]]:
        """(unit, item, period, due date, billed fen, still owed fen, late fees assessed fen)
        of the estate's bills due before ``as_of`` that are still owed."""
        rows = self._uow.execute(
            "SELECT b.unit_id, b.fee_item, b.period, b.due_date, b.amount_fen, "
            "(SELECT COALESCE(SUM(p.amount_fen), 0) FROM postings p WHERE p.estate_id = ? "
            " AND p.account = 'receivable' AND p.unit_id = b.unit_id "
            " AND p.fee_item = b.fee_item AND p.period = b.period) AS owed, "
            "(SELECT COALESCE(SUM(l.amount_fen), 0) FROM late_fees l "
            " WHERE l.unit_id = b.unit_id AND l.fee_item = b.fee_item AND l.period = b.period) "
            "FROM bills b WHERE b.estate_id = ? AND b.due_date < ? ORDER BY b.id",
            (estate_id, estate_id, as_of.isoformat()),
        )
        return [
            (
                int(r[0]),
                str(r[1]),
                str(r[2]),
                date.fromisoformat(r[3]),
                int(r[4]),
                int(r[5]),
                int(r[6]),
            )
            for r in rows
            if int(r[5]) > 0
        ]

    def assessed(self, estate_id: int, month: str) -> set[tuple[int, str, str]]:
        rows = self._uow.execute(
            "SELECT unit_id, fee_item, period FROM late_fees WHERE estate_id = ? "
            "AND as_of_month = ?",
            (estate_id, month),
        )
        return {(int(r[0]), str(r[1]), str(r[2])) for r in rows}

    def add_late_fees(
        self, estate_id: int, month: str, rows: Sequence[tuple[int, str, str, int, int]]
    ) -> None:
        """(unit, item, period, fen, entry id) assessed in ``month``."""
        self._uow.executemany(
            "INSERT INTO late_fees (estate_id, unit_id, fee_item, period, as_of_month, "
            "amount_fen, entry_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(estate_id, u, i, p, month, f, e) for u, i, p, f, e in rows],
        )
