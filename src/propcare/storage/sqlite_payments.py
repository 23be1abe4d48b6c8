"""SQLite repository of payments: notices, allocations, refunds, anomalies, orders."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from propcare.ledger.journal import Receipt
from propcare.storage.ports import PaymentRow, RefundRow
from propcare.storage.sqlite_values import parse_ts, ts

if TYPE_CHECKING:
    from propcare.storage.sql import SqlSession

__all__ = ["PaymentsRepo"]


_COLUMNS = (
    "id, estate_id, provider, provider_txn_id, amount_fen, unit_id, order_id, method, paid_at, "
    "entry_id, status, receipt_year, receipt_number, merchant"
)


class PaymentsRepo:
    def __init__(self, uow: SqlSession) -> None:
        self._uow = uow

    @staticmethod
    def _row(r: Sequence[object]) -> PaymentRow:
        values = list(r)
        values[8] = datetime.fromisoformat(str(values[8]))
        return PaymentRow(*values)  # type: ignore[arg-type]

    def by_txn(
        self, estate_id: int, provider: str, provider_txn_id: str, merchant: str = ""
    ) -> PaymentRow | None:
        # Both reads are on a unique index (payment_notices_key, payment_notices_merchant_key).
        if merchant:
            r = self._uow.execute(
                f"SELECT {_COLUMNS} FROM payment_notices WHERE provider = ? AND merchant = ? "
                "AND provider_txn_id = ?",
                (provider, merchant, provider_txn_id),
            ).fetchone()
            if r is not None:
                return self._row(r)
        r = self._uow.execute(
            f"SELECT {_COLUMNS} FROM payment_notices WHERE estate_id = ? AND provider = ? "
            "AND merchant = '' AND provider_txn_id = ?",
            (estate_id, provider, provider_txn_id),
        ).fetchone()
        return None if r is None else self._row(r)

    def get(self, payment_id: int) -> PaymentRow | None:
        r = self._uow.execute(
            f"SELECT {_COLUMNS} FROM payment_notices WHERE id = ?", (payment_id,)
        ).fetchone()
        return None if r is None else self._row(r)

    def add(
        self,
        *,
        estate_id: int,
        provider: str,
        provider_txn_id: str,
        amount_fen: int,
        unit_id: int | None,
        order_id: str | None,
        method: str,
        paid_at: datetime,
        entry_id: int,
        status: str,
        merchant: str = "",
    ) -> int:
        new_id = self._uow.insert_id(
            "INSERT INTO payment_notices (estate_id, provider, provider_txn_id, amount_fen, "
            "unit_id, order_id, method, paid_at, entry_id, status, merchant) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                estate_id,
                provider,
                provider_txn_id,
                amount_fen,
                unit_id,
                order_id,
                method,
                ts(paid_at),
                entry_id,
                status,
                merchant,
            ),
        )
        return new_id

    def set_status(
        self,
        payment_id: int,
        status: str,
        *,
        unit_id: int | None = None,
        receipt: tuple[int, int] | None = None,
    ) -> None:
        self._uow.execute(
            "UPDATE payment_notices SET status = ?, unit_id = COALESCE(?, unit_id), "
            "receipt_year = COALESCE(?, receipt_year), "
            "receipt_number = COALESCE(?, receipt_number) WHERE id = ?",
            (
                status,
                unit_id,
                None if receipt is None else receipt[0],
                None if receipt is None else receipt[1],
                payment_id,
            ),
        )

    def add_allocations(
        self, payment_id: int, entry_id: int, unit_id: int, lines: Sequence[tuple[str, str, int]]
    ) -> None:
        self._uow.executemany(
            "INSERT INTO payment_allocations (payment_id, entry_id, unit_id, fee_item, period, "
            "amount_fen) VALUES (?, ?, ?, ?, ?, ?)",
            [(payment_id, entry_id, unit_id, f, p, fen) for f, p, fen in lines if fen],
        )

    def allocations(self, payment_id: int) -> list[tuple[str, str, int]]:
        """Net (fee item, period, fen) per line, in the order first allocated."""
        rows = self._uow.execute(
            "SELECT fee_item, period, SUM(amount_fen) FROM payment_allocations "
            "WHERE payment_id = ? GROUP BY fee_item, period ORDER BY MIN(id)",
            (payment_id,),
        )
        return [(r[0], r[1], int(r[2])) for r in rows]

    def refunded_fen(self, payment_id: int) -> int:
        row = self._uow.execute(
            "SELECT COALESCE(SUM(amount_fen), 0) FROM payment_refunds WHERE payment_id = ?",
            (payment_id,),
        ).fetchone()
        return int(row[0])

    def add_refund(
        self,
        payment_id: int,
        entry_id: int,
        amount_fen: int,
        reason: str,
        actor: str,
        at: datetime,
        provider_refund_id: str,
        *,
        refund_no: str = "",
        status: str = "paid",
    ) -> int:
        new_id = self._uow.insert_id(
            "INSERT INTO payment_refunds (payment_id, entry_id, amount_fen, reason, actor, at, "
            "provider_refund_id, refund_no, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                payment_id,
                entry_id,
                amount_fen,
                reason,
                actor,
                ts(at),
                provider_refund_id,
                refund_no,
                status,
            ),
        )
        return new_id

    def add_compensation(
        self,
        estate_id: int,
        unit_id: int,
        entry_id: int,
        amount_fen: int,
        reason: str,
        approver_staff_id: int,
        actor: str,
        at: datetime,
    ) -> None:
        self._uow.execute(
            "INSERT INTO compensations (estate_id, unit_id, entry_id, amount_fen, reason, "
            "approver_staff_id, actor, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (estate_id, unit_id, entry_id, amount_fen, reason, approver_staff_id, actor, ts(at)),
        )

    def compensations(
        self, estate_id: int
    ) -> list[tuple[int, int, int, int, str, int, str, datetime]]:
        rows = self._uow.execute(
            "SELECT id, unit_id, entry_id, amount_fen, reason, approver_staff_id, actor, at "
            "FROM compensations WHERE estate_id = ? ORDER BY at, id",
            (estate_id,),
        )
        return [
            (int(r[0]), int(r[1]), int(r[2]), int(r[3]), r[4], int(r[5]), r[6], parse_ts(r[7]))
            for r in rows
        ]

    _REFUND = (
        "SELECT r.id, r.payment_id, n.estate_id, n.provider, n.provider_txn_id, r.entry_id, "
        "r.amount_fen, r.reason, r.refund_no, r.status, r.provider_refund_id, r.paid_entry_id, "
        "r.attempts, r.error FROM payment_refunds r JOIN payment_notices n ON n.id = r.payment_id "
    )

    def refund_row(self, refund_id: int) -> RefundRow | None:
        row = self._uow.execute(self._REFUND + "WHERE r.id = ?", (refund_id,)).fetchone()
        return RefundRow(*row) if row else None

    def refund_by_entry(self, entry_id: int) -> RefundRow | None:
        row = self._uow.execute(self._REFUND + "WHERE r.entry_id = ?", (entry_id,)).fetchone()
        return RefundRow(*row) if row else None

    def refunds(self, estate_id: int, statuses: Sequence[str]) -> list[RefundRow]:
        marks = ", ".join("?" for _ in statuses)
        rows = self._uow.execute(
            self._REFUND + f"WHERE n.estate_id = ? AND r.status IN ({marks}) ORDER BY r.id",
            (estate_id, *statuses),
        )
        return [RefundRow(*r) for r in rows]

    def update_refund(
        self,
        refund_id: int,
        *,
        status: str,
        provider_refund_id: str | None = None,
        paid_entry_id: int | None = None,
        error: str = "",
        attempted: bool = False,
    ) -> None:
        self._uow.execute(
            "UPDATE payment_refunds SET status = ?, "
            "provider_refund_id = COALESCE(?, provider_refund_id), "
            "paid_entry_id = COALESCE(?, paid_entry_id), error = ?, attempts = attempts + ? "
            "WHERE id = ?",
            (status, provider_refund_id, paid_entry_id, error, int(attempted), refund_id),
        )

    def add_anomaly(
        self,
        estate_id: int | None,
        provider: str,
        provider_txn_id: str,
        kind: str,
        detail: str,
        at: datetime,
        *,
        merchant: str = "",
        notice_key: str = "",
    ) -> None:
        # A notice_key writes one row per distinct notice: a re-send of one already
        # flagged meets the unique key of migration 0022 and writes nothing.
        self._uow.execute(
            "INSERT INTO payment_anomalies (estate_id, provider, provider_txn_id, kind, detail, "
            "at, merchant, notice_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (estate_id, provider, provider_txn_id, kind, detail, ts(at), merchant, notice_key),
        )

    def anomalies(self, estate_id: int) -> list[tuple[str, str, str, str]]:
        rows = self._uow.execute(
            "SELECT provider, provider_txn_id, kind, detail FROM payment_anomalies "
            "WHERE estate_id = ? ORDER BY id",
            (estate_id,),
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def add_order(
        self,
        order_id: str,
        estate_id: int,
        unit_id: int,
        provider: str,
        amount_fen: int,
        at: datetime,
    ) -> None:
        self._uow.execute(
            "INSERT INTO payment_orders (order_id, estate_id, unit_id, provider, amount_fen, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (order_id, estate_id, unit_id, provider, amount_fen, ts(at)),
        )

    def order(self, estate_id: int, order_id: str) -> tuple[int, int] | None:
        row = self._uow.execute(
            "SELECT unit_id, amount_fen FROM payment_orders WHERE order_id = ? AND estate_id = ?",
            (order_id, estate_id),
        ).fetchone()
        return None if row is None else (int(row[0]), int(row[1]))

    def order_unit(self, estate_id: int, order_id: str) -> int | None:
        row = self._uow.execute(
            "SELECT unit_id FROM payment_orders WHERE order_id = ? AND estate_id = ?",
            (order_id, estate_id),
        ).fetchone()
        return None if row is None else int(row[0])

    def in_status(self, estate_id: int, status: str) -> list[PaymentRow]:
        rows = self._uow.execute(
            f"SELECT {_COLUMNS} FROM payment_notices WHERE estate_id = ? AND status = ? "
            "ORDER BY id",
            (estate_id, status),
        )
        return [self._row(r) for r in rows]

    def receipt(self, estate_id: int, year: int, number: int) -> Receipt | None:
        r = self._uow.execute(
            "SELECT entry_id, issued_at, voided_at, void_reason FROM receipts "
            "WHERE estate_id = ? AND year = ? AND number = ?",
            (estate_id, year, number),
        ).fetchone()
        if r is None:
            return None
        voided = None if r[2] is None else datetime.fromisoformat(r[2])
        return Receipt(estate_id, year, number, r[0], datetime.fromisoformat(r[1]), voided, r[3])
