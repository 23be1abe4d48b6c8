"""SQLite repository of appraisal: scorecards, inputs, closed cycles, results, vendor
deductions, and the metrics appraisal reads that no other report computes (door visits,
outage notices given late), in SQL."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from propcare.appraisal.kpi import Scorecard, card_body, card_from
from propcare.storage.sqlite_values import parse_ts, ts

if TYPE_CHECKING:
    from propcare.storage.sql import SqlSession

__all__ = ["AppraisalRepo"]


class AppraisalRepo:
    def __init__(self, uow: SqlSession) -> None:
        self._uow = uow

    def add_scorecard(self, card: Scorecard, at: datetime, actor: str) -> Scorecard:
        version = self._uow.execute(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM appraisal_scorecards "
            "WHERE estate_id = ? AND role = ?",
            (card.estate_id, card.role),
        ).fetchone()[0]
        new_id = self._uow.insert_id(
            "INSERT INTO appraisal_scorecards (estate_id, role, version, effective_from, body, "
            "created_at, actor) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                card.estate_id, card.role, version, card.effective_from.isoformat(),
                json.dumps(card_body(card), ensure_ascii=False), ts(at), actor,
            ),
        )  # fmt: skip
        return card_from(
            card.estate_id, card.role, card.effective_from, card_body(card), version=version,
            card_id=new_id,
        )  # fmt: skip

    def scorecards(self, estate_id: int) -> list[Scorecard]:
        rows = self._uow.tuples(
            "SELECT id, role, version, effective_from, body FROM appraisal_scorecards "
            "WHERE estate_id = ? ORDER BY role, version",
            (estate_id,),
        )
        return [
            card_from(estate_id, r[1], date.fromisoformat(r[3]), json.loads(r[4]), version=r[2],
                      card_id=r[0])
            for r in rows
        ]  # fmt: skip

    def add_input(
        self,
        estate_id: int,
        period: str,
        subject: tuple[str, int],
        kind: str,
        value: Decimal,
        *,
        level: str | None = None,
        deductions: Sequence[tuple[str, Decimal]] = (),
        reason: str = "",
        corrects_period: str | None = None,
        entered_by: str,
        entered_at: datetime,
    ) -> int:
        new_id = self._uow.insert_id(
            "INSERT INTO appraisal_inputs (estate_id, period, subject_kind, subject_id, kind, "
            "level, value, deductions, reason, corrects_period, entered_by, entered_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                estate_id, period, subject[0], subject[1], kind, level, str(value),
                json.dumps([[r, str(p)] for r, p in deductions], ensure_ascii=False), reason,
                corrects_period, entered_by, ts(entered_at),
            ),
        )  # fmt: skip
        return new_id

    def inputs(self, estate_id: int, period: str) -> list[dict[str, Any]]:
        rows = self._uow.tuples(
            "SELECT id, subject_kind, subject_id, kind, level, value, deductions, reason, "
            "corrects_period, entered_by, entered_at FROM appraisal_inputs "
            "WHERE estate_id = ? AND period = ? ORDER BY id",
            (estate_id, period),
        )
        return [
            {
                "id": r[0], "subject": (r[1], r[2]), "kind": r[3], "level": r[4],
                "value": Decimal(r[5]),
                "deductions": [(why, Decimal(p)) for why, p in json.loads(r[6])],
                "reason": r[7], "corrects_period": r[8], "entered_by": r[9],
                "entered_at": datetime.fromisoformat(r[10]),
            }
            for r in rows
        ]  # fmt: skip

    def closed_periods(self, estate_id: int) -> list[str]:
        rows = self._uow.tuples(
            "SELECT period FROM appraisal_cycles WHERE estate_id = ? ORDER BY period", (estate_id,)
        )
        return [r[0] for r in rows]

    def calibration(self, estate_id: int, period: str) -> dict[str, str]:
        rows = self._uow.tuples(
            "SELECT calibration FROM appraisal_cycles WHERE estate_id = ? AND period = ?",
            (estate_id, period),
        )
        return dict(json.loads(rows[0][0])) if rows else {}

    def close(
        self,
        estate_id: int,
        period: str,
        at: datetime,
        actor: str,
        calibration: Mapping[str, str],
        results: Sequence[tuple[tuple[str, int], Mapping[str, Any]]],
    ) -> None:
        self._uow.execute(
            "INSERT INTO appraisal_cycles (estate_id, period, closed_at, closed_by, calibration) "
            "VALUES (?, ?, ?, ?, ?)",
            (estate_id, period, ts(at), actor, json.dumps(dict(calibration))),
        )
        self._uow.executemany(
            "INSERT INTO appraisal_results (estate_id, period, subject_kind, subject_id, body) "
            "VALUES (?, ?, ?, ?, ?)",
            [
                (estate_id, period, kind, sid, json.dumps(body, ensure_ascii=False))
                for (kind, sid), body in results
            ],
        )

    def results(self, estate_id: int, periods: Sequence[str]) -> list[tuple[str, dict[str, Any]]]:
        """(period, body) of the stored results of ``periods``, in subject order."""
        if not periods:
            return []
        rows = self._uow.tuples(
            "SELECT period, body FROM appraisal_results WHERE estate_id = ? "
            f"AND period IN ({', '.join('?' for _ in periods)}) "
            "ORDER BY period, subject_kind, subject_id",
            (estate_id, *periods),
        )
        return [(r[0], json.loads(r[1])) for r in rows]

    def add_vendor_deduction(
        self, estate_id: int, vendor_id: int, period: str, score: Decimal, rate: Decimal,
        reason: str, at: datetime,
    ) -> None:  # fmt: skip
        self._uow.execute(
            "INSERT INTO vendor_deductions (estate_id, vendor_id, period, score, rate, reason, "
            "recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (estate_id, vendor_id, period, str(score), str(rate), reason, ts(at)),
        )

    def vendor_deductions(
        self, estate_id: int, period: str
    ) -> list[tuple[int, Decimal, Decimal, str]]:
        rows = self._uow.tuples(
            "SELECT vendor_id, score, rate, reason FROM vendor_deductions "
            "WHERE estate_id = ? AND period = ? ORDER BY vendor_id",
            (estate_id, period),
        )
        return [(r[0], Decimal(r[1]), Decimal(r[2]), r[3]) for r in rows]

    # --- metrics no other report computes ----------------------------------------------

    def visit_days(
        self, estate_id: int, start: datetime, end: datetime, offset_minutes: int
    ) -> dict[int, int]:
        """Collector -> door visits in [start, end): distinct (unit, local day) pairs."""
        # The local day in Python: date arithmetic is spelled differently in every SQL
        # dialect, and a month's visits are a few thousand rows.
        rows = self._uow.tuples(
            "SELECT DISTINCT collector_staff_id, unit_id, at FROM dunning_attempts "
            "WHERE estate_id = ? AND at >= ? AND at < ? AND method = 'visit' "
            "AND collector_staff_id IS NOT NULL",
            (estate_id, ts(start), ts(end)),
        )
        shift = timedelta(minutes=offset_minutes)
        days = {(int(r[0]), int(r[1]), (parse_ts(r[2]) + shift).date()) for r in rows}
        counts: dict[int, int] = {}
        for staff_id, _unit, _day in days:
            counts[staff_id] = counts.get(staff_id, 0) + 1
        return counts

    def late_notices(self, estate_id: int, start: datetime, end: datetime) -> dict[int, int]:
        """Staff -> outage notices they announced for cuts starting in [start, end) that
        were announced later than the lead time required."""
        rows = self._uow.tuples(
            "SELECT announced_by_staff_id, COUNT(*) FROM outages WHERE estate_id = ? "
            "AND starts_at >= ? AND starts_at < ? AND announced_by_staff_id IS NOT NULL "
            "AND late = 1 GROUP BY announced_by_staff_id",
            (estate_id, ts(start), ts(end)),
        )
        return {int(r[0]): int(r[1]) for r in rows}
