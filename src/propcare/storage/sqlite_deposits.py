"""SQLite repository of deposits."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from propcare.ledger.deposits import Deduction, Deposit, DepositStatus
from propcare.money import from_fen, to_fen
from propcare.storage.sqlite_values import ts

if TYPE_CHECKING:
    from propcare.storage.sql import SqlSession

__all__ = ["DepositRepo"]

_SELECT = (
    "SELECT id, estate_id, unit_id, purpose, amount_fen, status, collected_at, inspected_at, "
    "inspection_passed, inspection_note, refunded_at, deductions FROM deposits"
)


def _dt(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _deposit(r: sqlite3.Row) -> Deposit:
    return Deposit(
        id=r["id"],
        estate_id=r["estate_id"],
        unit_id=r["unit_id"],
        purpose=r["purpose"],
        amount=from_fen(r["amount_fen"]),
        status=DepositStatus(r["status"]),
        collected_at=datetime.fromisoformat(r["collected_at"]),
        inspected_at=_dt(r["inspected_at"]),
        inspection_passed=None if r["inspection_passed"] is None else bool(r["inspection_passed"]),
        inspection_note=r["inspection_note"] or "",
        refunded_at=_dt(r["refunded_at"]),
        deductions=tuple(
            Deduction(reason=d["reason"], amount=Decimal(d["amount"]))
            for d in json.loads(r["deductions"])
        ),
    )


class DepositRepo:
    def __init__(self, uow: SqlSession) -> None:
        self._uow = uow

    def next_id(self) -> int:
        return self._uow.reserve_ids("deposits", 1)

    def add(self, deposit: Deposit, entry_id: int) -> None:
        self._uow.execute(
            "INSERT INTO deposits (id, estate_id, unit_id, purpose, amount_fen, status, "
            "collected_at, collect_entry_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                deposit.id,
                deposit.estate_id,
                deposit.unit_id,
                deposit.purpose,
                to_fen(deposit.amount),
                deposit.status.value,
                ts(deposit.collected_at),
                entry_id,
            ),
        )

    def get(self, deposit_id: int) -> Deposit | None:
        row = self._uow.execute(f"{_SELECT} WHERE id = ?", (deposit_id,)).fetchone()
        return None if row is None else _deposit(row)

    def inspected(self, deposit: Deposit) -> None:
        assert deposit.inspected_at is not None
        self._uow.execute(
            "UPDATE deposits SET status = ?, inspected_at = ?, inspection_passed = ?, "
            "inspection_note = ? WHERE id = ?",
            (
                deposit.status.value,
                ts(deposit.inspected_at),
                int(bool(deposit.inspection_passed)),
                deposit.inspection_note,
                deposit.id,
            ),
        )

    def refunded(self, deposit: Deposit, entry_id: int) -> None:
        assert deposit.refunded_at is not None
        deductions = [{"reason": d.reason, "amount": str(d.amount)} for d in deposit.deductions]
        self._uow.execute(
            "UPDATE deposits SET status = ?, refunded_at = ?, refund_entry_id = ?, deductions = ? "
            "WHERE id = ?",
            (
                deposit.status.value,
                ts(deposit.refunded_at),
                entry_id,
                json.dumps(deductions, ensure_ascii=False),
                deposit.id,
            ),
        )

    def not_refunded(self, estate_id: int) -> list[Deposit]:
        rows = self._uow.execute(
            f"{_SELECT} WHERE estate_id = ? AND status <> 'refunded' ORDER BY id", (estate_id,)
        )
        return [_deposit(r) for r in rows]
