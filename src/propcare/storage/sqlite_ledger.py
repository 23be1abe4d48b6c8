"""SQLite repository of the journal: entries, postings, balances, receipts."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from propcare.errors import Conflict
from propcare.ledger.accounts import Account
from propcare.ledger.journal import JournalEntry, Posting, Receipt
from propcare.storage.sqlite_values import ts

if TYPE_CHECKING:
    from propcare.storage.sql import SqlSession

__all__ = ["LedgerRepo"]


class LedgerRepo:
    def __init__(self, uow: SqlSession) -> None:
        self._uow = uow

    def append(self, entry: JournalEntry) -> int:
        """Store a balanced entry; Conflict if its key or the entry it reverses is taken."""
        at = ts(entry.at)
        new_id = self._uow.insert_id(
            "INSERT INTO journal_entries (estate_id, kind, at, idem_key, actor, memo, reverses) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                entry.estate_id,
                entry.kind.value,
                at,
                entry.key,
                entry.actor,
                entry.memo,
                entry.reverses,
            ),
        )
        entry_id = new_id
        self._uow.executemany(
            "INSERT INTO postings (entry_id, estate_id, account, sub, unit_id, fee_item, "
            "period, amount_fen, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    entry_id,
                    entry.estate_id,
                    p.account.value,
                    p.sub,
                    p.unit_id,
                    p.fee_item,
                    p.period,
                    p.amount_fen,
                    at,
                )
                for p in entry.postings
            ],
        )
        return entry_id

    def by_key(self, key: str) -> int | None:
        row = self._uow.execute(
            "SELECT id FROM journal_entries WHERE idem_key = ?", (key,)
        ).fetchone()
        return None if row is None else int(row[0])

    def get(self, entry_id: int) -> JournalEntry | None:
        head = self._uow.execute(
            "SELECT estate_id, kind, at, idem_key, actor, memo, reverses "
            "FROM journal_entries WHERE id = ?",
            (entry_id,),
        ).fetchone()
        if head is None:
            return None
        rows = self._uow.execute(
            "SELECT account, amount_fen, unit_id, fee_item, period, sub FROM postings "
            "WHERE entry_id = ? ORDER BY id",
            (entry_id,),
        )
        return JournalEntry(
            estate_id=head["estate_id"],
            kind=head["kind"],
            at=datetime.fromisoformat(head["at"]),
            key=head["idem_key"],
            actor=head["actor"],
            memo=head["memo"],
            reverses=head["reverses"],
            postings=tuple(
                Posting(
                    account=r["account"],
                    amount_fen=r["amount_fen"],
                    unit_id=r["unit_id"],
                    fee_item=r["fee_item"],
                    period=r["period"],
                    sub=r["sub"],
                )
                for r in rows
            ),
        )

    def reversed_by(self, entry_id: int) -> int | None:
        row = self._uow.execute(
            "SELECT id FROM journal_entries WHERE reverses = ?", (entry_id,)
        ).fetchone()
        return None if row is None else int(row[0])

    def account_balance(self, estate_id: int, account: Account, unit_id: int | None = None) -> int:
        if unit_id is None:
            row = self._uow.execute(
                "SELECT COALESCE(SUM(amount_fen), 0) FROM postings "
                "WHERE estate_id = ? AND account = ?",
                (estate_id, account.value),
            )
        else:
            row = self._uow.execute(
                "SELECT COALESCE(SUM(amount_fen), 0) FROM postings "
                "WHERE estate_id = ? AND account = ? AND unit_id = ?",
                (estate_id, account.value, unit_id),
            )
        return int(row.fetchone()[0])

    def trial_balance(self, estate_id: int) -> dict[str, int]:
        """Balance per account (``account`` or ``account:sub``); the values sum to zero."""
        rows = self._uow.execute(
            "SELECT account, sub, SUM(amount_fen) FROM postings WHERE estate_id = ? "
            "GROUP BY account, sub ORDER BY account, sub",
            (estate_id,),
        )
        return {(f"{r[0]}:{r[1]}" if r[1] else r[0]): int(r[2]) for r in rows}

    def open_receivables(self, unit_id: int) -> list[tuple[str, str, int]]:
        """(fee item, period, fen still owed) of a unit, oldest period first."""
        rows = self._uow.execute(
            "SELECT fee_item, period, SUM(amount_fen) AS owed FROM postings "
            "WHERE unit_id = ? AND account = 'receivable' GROUP BY fee_item, period "
            "HAVING SUM(amount_fen) <> 0 ORDER BY period, fee_item",
            (unit_id,),
        )
        return [(r[0], r[1], int(r[2])) for r in rows]

    def credit_applied_lines(self, unit_id: int) -> list[tuple[str, str, int]]:
        """(fee item, period, fen) of the unit's receivables still settled by owner credit,
        most recently settled first; within one entry the latest period first, so that
        reopening is deterministic.

        Read entry by entry, not summed: money released from a line (its bill reversed)
        leaves the credit-settled part first and never below zero, so a payment's share
        that was released is not held against credit applied to the line later."""
        rows = self._uow.execute(
            "SELECT p.entry_id, p.fee_item, p.period, p.amount_fen FROM postings p "
            "JOIN journal_entries e ON e.id = p.entry_id "
            "LEFT JOIN journal_entries o ON e.kind = 'reversal' AND o.id = e.reverses "
            "WHERE p.unit_id = ? AND p.account = 'receivable' "
            "AND COALESCE(o.kind, e.kind) = 'credit_applied' ORDER BY p.entry_id, p.id",
            (unit_id,),
        )
        standing: dict[tuple[str, str], list[int]] = {}  # line -> [fen, last entry]
        for entry_id, fee_item, period, fen in rows:
            slot = standing.setdefault((fee_item, period), [0, 0])
            slot[0] = max(0, slot[0] - int(fen))
            slot[1] = int(entry_id)
        order = sorted(
            ((k, v) for k, v in standing.items() if v[0] > 0),
            key=lambda kv: (kv[1][1], kv[0][1], kv[0][0]),
            reverse=True,
        )
        return [(item, period, fen) for (item, period), (fen, _last) in order]

    def settled_lines(self, unit_id: int) -> dict[tuple[str, str], int]:
        """(fee item, period) -> fen settled on it: billed less still owed, where billed is
        what bills, late fees and waivers (and reversals of them) put on the line, and the
        rest (payments, credit, compensation, refunds, releases) settles it."""
        rows = self._uow.execute(
            "SELECT p.fee_item, p.period, -SUM(p.amount_fen) FROM postings p "
            "JOIN journal_entries e ON e.id = p.entry_id "
            "LEFT JOIN journal_entries o ON e.kind = 'reversal' AND o.id = e.reverses "
            "WHERE p.unit_id = ? AND p.account = 'receivable' "
            "AND COALESCE(o.kind, e.kind) NOT IN ('bill', 'late_fee', 'waiver') "
            "GROUP BY p.fee_item, p.period",
            (unit_id,),
        )
        return {(r[0], r[1]): int(r[2]) for r in rows}

    def issue_receipt(self, estate_id: int, entry_id: int, at: datetime, *, year: int) -> Receipt:
        """The next number of the estate's ``year`` (the year of ``at`` in the estate's time
        zone, which the caller knows), in this transaction: gapless because the counter
        and the receipt commit or roll back together."""
        row = self._uow.execute(
            "INSERT INTO receipt_counters (estate_id, year, last_number) VALUES (?, ?, 1) "
            "ON CONFLICT (estate_id, year) "
            "DO UPDATE SET last_number = receipt_counters.last_number + 1 "
            "RETURNING last_number",
            (estate_id, year),
        ).fetchone()
        number = int(row[0])
        self._uow.execute(
            "INSERT INTO receipts (estate_id, year, number, entry_id, issued_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (estate_id, year, number, entry_id, ts(at)),
        )
        return Receipt(estate_id, year, number, entry_id, at)

    def void_receipt(
        self, estate_id: int, year: int, number: int, at: datetime, reason: str
    ) -> None:
        cur = self._uow.execute(
            "UPDATE receipts SET voided_at = ?, void_reason = ? "
            "WHERE estate_id = ? AND year = ? AND number = ? AND voided_at IS NULL",
            (ts(at), reason, estate_id, year, number),
        )
        if cur.rowcount != 1:
            raise Conflict("receipt", f"{year}-{number:06d}", "no such receipt, or already void")

    def receipts(self, estate_id: int, year: int) -> list[Receipt]:
        rows = self._uow.execute(
            "SELECT estate_id, year, number, entry_id, issued_at, voided_at, void_reason "
            "FROM receipts WHERE estate_id = ? AND year = ? ORDER BY number",
            (estate_id, year),
        )
        return [
            Receipt(
                r[0],
                r[1],
                r[2],
                r[3],
                datetime.fromisoformat(r[4]),
                None if r[5] is None else datetime.fromisoformat(r[5]),
                r[6],
            )
            for r in rows
        ]
