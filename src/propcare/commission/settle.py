"""Settling a month: statements, floors and caps, clawbacks and adjustments. Pure.

A statement pays one collector for one closed month. Its lines are each rounded to
the fen and the statement's total is their sum, checked when it is built. Settled
statements are never changed:

- money of an earlier month paid back (a refund or reversal) claws back, in the month
  it was paid back, exactly the commission that money earned: cumulative rounding, so
  refunding a payment in parts claws back to the fen what the whole earned;
- a plan correction is paid by re-settling: the month is recomputed from the inputs
  kept on its statements under the corrected plan, and the difference per source is
  an adjustment statement for that month.

Lines are computed in a fixed order that does not depend on the order payments were
recorded in: by the time the money came in, then the provider's transaction id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from propcare.commission.basis import BasisRow, CreditedLine
from propcare.commission.plans import (
    CollectorMonth,
    CommissionPlanType,
    Line,
    Plan,
    WorkingWeeks,
)
from propcare.errors import ValidationError
from propcare.money import from_fen, split_by_weights, to_fen
from propcare.tabular import Cell, csv_text

__all__ = [
    "SourceTotals",
    "Statement",
    "adjustment_lines",
    "bounded",
    "clawback_lines",
    "days_of",
    "lines_from_json",
    "lines_to_json",
    "month_bounds",
    "month_from_inputs",
    "month_inputs",
    "ordered",
    "statement_csv",
]

ONE = Decimal(1)
# The kinds of line the settlement adds, never a plan type.
_SETTLEMENT_KINDS = frozenset({"clawback", "adjustment", "floor", "cap"})
# Line.commission_fen and the fields of a line's shape, by position: a statement can have
# 10^5 lines, and these run once a line.
_KIND = itemgetter(0)
_COMMISSION = itemgetter(1)
_SHAPE = itemgetter(0, 9, 10, 11, 12, 13, 14, 15)
_PAID_ON = itemgetter(8)


@attrs.frozen
class Statement:
    """What one collector is paid for one month (``sequence`` 0), or what a plan
    correction changed of it (``sequence`` 1, 2, ...)."""

    estate_id: int
    staff_id: int
    period: str
    sequence: int
    plan_id: int | None
    plan_name: str
    plan_version: int
    lines: tuple[Line, ...]
    inputs: Mapping[str, Any]
    settled_at: datetime
    actor: str
    total_fen: int = attrs.field()
    id: int = 0

    @total_fen.default
    def _sum(self) -> int:
        return sum(map(_COMMISSION, self.lines))

    def __attrs_post_init__(self) -> None:
        if self.total_fen != sum(map(_COMMISSION, self.lines)):
            raise ValidationError(
                "total", self.total_fen / 100, "does not equal the sum of the statement's lines"
            )

    @property
    def total(self) -> Decimal:
        return from_fen(self.total_fen)

    def by_kind(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for line in self.lines:
            out[line.kind] = out.get(line.kind, 0) + line.commission_fen
        return out


def ordered(lines: Iterable[CreditedLine]) -> list[CreditedLine]:
    """The fixed order of a month's lines: when the money came in, then the provider's
    transaction id, then the bill line."""
    return sorted(lines, key=lambda c: (c.row.at, c.row.txn, c.row.period, c.row.fee_item))


def bounded(plan: Plan, earned: Sequence[Line]) -> list[Line]:
    """The plan's floor and cap on the month's earnings, as lines."""
    total = sum(map(_COMMISSION, earned))
    if plan.floor_fen is not None and total < plan.floor_fen:
        return [
            Line(
                "floor",
                plan.floor_fen - total,
                note=f"floor {Decimal(plan.floor_fen) / 100:,.2f} - earned "
                f"{Decimal(total) / 100:,.2f}",
            )
        ]
    if plan.cap_fen is not None and total > plan.cap_fen:
        return [
            Line(
                "cap",
                plan.cap_fen - total,
                note=f"cap {Decimal(plan.cap_fen) / 100:,.2f} - earned {Decimal(total) / 100:,.2f}",
            )
        ]
    return []


def earn(plan: Plan, kind: CommissionPlanType, terms: Any, month: CollectorMonth) -> list[Line]:
    """A month's earned lines under ``plan``, its floor or cap applied."""
    earned = list(kind.compute(terms, month))
    if not _SETTLEMENT_KINDS.isdisjoint(map(_KIND, earned)):
        wrong = next(line.kind for line in earned if line.kind in _SETTLEMENT_KINDS)
        raise ValidationError(
            "plan type", kind.name, f"returned a {wrong} line; those are the settlement's"
        )
    return earned + bounded(plan, earned)


def month_bounds(period: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[first instant, first instant of the next month) of 'YYYY-MM' in ``zone``."""
    year, month = int(period[:4]), int(period[5:7])
    start = datetime(year, month, 1, tzinfo=zone)
    return start, datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)


def days_of(period: str) -> list[date]:
    """Every day of the month 'YYYY-MM'."""
    year, month = int(period[:4]), int(period[5:7])
    first = date(year, month, 1)
    return [
        first + timedelta(days=i) for i in range(31) if (first + timedelta(days=i)).month == month
    ]


# --- clawbacks -------------------------------------------------------------------------


@attrs.define
class SourceTotals:
    """One collector's commission on one source (payment, fee item, period) so far."""

    amount_fen: int = 0  # credited when collected
    commission_fen: int = 0  # earned on it, adjustments included
    clawed_amount_fen: int = 0  # paid back since (positive)
    clawed_fen: int = 0  # commission clawed back since (positive when it was positive)
    basis: str = ""
    rate: Decimal = Decimal(0)
    unit_id: int | None = None
    txn: str = ""


def clawback_lines(
    rows: Iterable[BasisRow],
    settled: Mapping[tuple[int, str, str], Mapping[int, SourceTotals]],
) -> tuple[dict[int, list[Line]], int]:
    """Lines clawing back commission on money paid back this month whose collection was
    settled in an earlier month; returns lines per collector and the fen paid back for
    which no commission was settled (nothing to claw back).

    ``settled`` maps each source to its collectors' totals and is updated in place, so
    that several refunds of one payment claw back exactly what the whole earned.
    """
    out: dict[int, list[Line]] = {}
    none = 0
    for row in rows:
        if row.amount_fen >= 0:
            continue
        by_staff = settled.get((row.payment_id, row.fee_item, row.period))
        live = {s: t for s, t in (by_staff or {}).items() if t.amount_fen > t.clawed_amount_fen}
        if not live:
            none -= row.amount_fen
            continue
        staff_ids = sorted(live)
        refunded = -row.amount_fen
        weights = [live[s].amount_fen - live[s].clawed_amount_fen for s in staff_ids]
        refunded = min(refunded, sum(weights))
        none += -row.amount_fen - refunded
        parts = split_by_weights(Decimal(refunded) / 100, weights, "refund")
        for staff, part in zip(staff_ids, parts, strict=True):
            fen = to_fen(part)
            if not fen:
                continue
            t = live[staff]
            cumulative = t.clawed_amount_fen + fen
            target = int(
                (Decimal(t.commission_fen) * cumulative / t.amount_fen).quantize(
                    ONE, rounding=ROUND_HALF_UP
                )
            )
            line_fen = -(target - t.clawed_fen)
            t.clawed_amount_fen, t.clawed_fen = cumulative, target
            out.setdefault(staff, []).append(
                Line(
                    "clawback", line_fen, -fen, row.payment_id, row.txn, row.unit_id,
                    row.fee_item, row.period, row.paid_on, t.basis, t.rate,
                    note=f"{Decimal(fen) / 100:,.2f} of {Decimal(t.amount_fen) / 100:,.2f} "
                    f"paid back; it earned {Decimal(t.commission_fen) / 100:,.2f}",
                )
            )  # fmt: skip
    return out, none


def add_settled(
    totals: dict[tuple[int, str, str], dict[int, SourceTotals]],
    staff_id: int,
    lines: Iterable[Line],
    wanted: set[int] | None = None,
) -> None:
    """Fold a settled statement's lines into per-source totals (for clawbacks)."""
    for line in lines:
        if line.payment_id is None or (wanted is not None and line.payment_id not in wanted):
            continue
        key = (line.payment_id, line.fee_item, line.period)
        t = totals.setdefault(key, {}).setdefault(staff_id, SourceTotals())
        if line.kind == "collection":
            t.amount_fen += line.amount_fen
            t.commission_fen += line.commission_fen
            t.basis, t.rate, t.unit_id, t.txn = line.basis, line.rate, line.unit_id, line.txn
        elif line.kind == "adjustment":
            t.commission_fen += line.commission_fen
        elif line.kind == "clawback":
            t.clawed_amount_fen -= line.amount_fen
            t.clawed_fen -= line.commission_fen


# --- adjustments after a plan correction ---------------------------------------------------


def _by_source(lines: Iterable[Line]) -> dict[tuple[Any, ...], tuple[int, Line]]:
    out: dict[tuple[Any, ...], tuple[int, Line]] = {}
    for line in lines:
        if line.kind in ("clawback",):
            continue
        if line.kind in ("collection", "adjustment") and line.payment_id is not None:
            key: tuple[Any, ...] = ("source", *line.source)
        else:  # a quota line; an adjustment of one names its kind in ``basis``
            key = (line.basis if line.kind == "adjustment" else line.kind,)
        fen, first = out.get(key, (0, line))
        out[key] = (fen + line.commission_fen, first)
    return out


def adjustment_lines(settled: Iterable[Line], recomputed: Iterable[Line], why: str) -> list[Line]:
    """What to pay (or take) so that the settled lines add up to the recomputed ones, per
    source and per kind of quota line."""
    before = _by_source(settled)
    after = _by_source(recomputed)
    out: list[Line] = []
    for key in list(after) + [k for k in before if k not in after]:
        old = before.get(key, (0, None))[0]
        new, line = after.get(key, (0, None))
        if line is None:
            line = before[key][1]
        if new == old:
            continue
        if key[0] == "source":
            out.append(
                Line(
                    "adjustment", new - old, 0, line.payment_id, line.txn, line.unit_id,
                    line.fee_item, line.period, line.paid_on, line.basis, line.rate,
                    note=f"{why}: {Decimal(old) / 100:,.2f} -> {Decimal(new) / 100:,.2f}",
                )
            )  # fmt: skip
        else:
            out.append(
                Line(
                    "adjustment",
                    new - old,
                    basis=key[0],
                    note=f"{key[0]} {why}: {Decimal(old) / 100:,.2f} -> {Decimal(new) / 100:,.2f}",
                )
            )
    return out


# --- keeping statements: lines and inputs as JSON-able values ------------------------------


def lines_to_json(lines: Iterable[Line]) -> dict[str, Any]:
    """Lines as JSON-able values: per line its commission, amount, payment, unit, fee item,
    period, day and the index of its *shape* (kind, basis, rate, tier, factor, visit factor,
    share, note), the few distinct shapes listed once. The transaction id is the payment's,
    so it is not repeated: see :func:`lines_from_json`."""
    lines = lines if isinstance(lines, Sequence) else list(lines)
    shapes: dict[tuple[Any, ...], int] = {}
    add = shapes.setdefault
    # the index of each line's shape: a new shape gets the next index
    index = [add(shape, len(shapes)) for shape in map(_SHAPE, lines)]
    days = {d: d.isoformat() for d in set(map(_PAID_ON, lines)) if d is not None}
    day = days.get
    out = [
        [x[1], x[2], x[3], x[5], x[6], x[7], day(x[8]), i]
        for x, i in zip(lines, index, strict=True)
    ]
    return {
        "shapes": [
            [k, b, str(r), t, str(f), str(v), str(sh), n] for k, b, r, t, f, v, sh, n in shapes
        ],
        "lines": out,
    }


def lines_from_json(value: Mapping[str, Any], txns: Mapping[int, str]) -> tuple[Line, ...]:
    """The lines :func:`lines_to_json` kept; ``txns`` names each payment's transaction."""
    shapes = [
        (k, b, Decimal(r), t, Decimal(f), Decimal(v), Decimal(sh), n)
        for k, b, r, t, f, v, sh, n in value["shapes"]
    ]
    days: dict[str, date] = {}
    out: list[Line] = []
    new = tuple.__new__
    for c, a, p, u, item, period, day, i in value["lines"]:
        paid_on = None
        if day is not None:
            paid_on = days.get(day)
            if paid_on is None:
                paid_on = days[day] = date.fromisoformat(day)
        k, b, r, t, f, vf, sh, n = shapes[i]
        txn = "" if p is None else txns.get(p, "")
        out.append(new(Line, (k, c, a, p, txn, u, item, period, paid_on, b, r, t, f, vf, sh, n)))
    return tuple(out)


def payments_named(statement_lines: Mapping[str, Any]) -> set[int]:
    """The payment ids a kept statement's lines name (to look their transactions up)."""
    return {v[2] for v in statement_lines["lines"] if v[2] is not None}


def month_inputs(month: CollectorMonth) -> dict[str, Any]:
    """What a statement keeps of its inputs besides its lines, to explain and recompute
    it (the credited basis is in its collection lines)."""
    return {
        "target": month.target_fen,
        "target_households": month.target_households,
        "collected": month.collected_fen,
        "households": month.households,
        "visits": {d.isoformat(): n for d, n in sorted(month.visits.items())},
        "working_days": {
            k: sorted(d.isoformat() for d in v) for k, v in month.working_days.items()
        },
        "weeks": [[m.isoformat(), s.isoformat(), n] for m, s, n in month.weeks],
        # Per calendar, its regular working days a week and each week's working days
        # (by the week's Sunday): what scaled the weekly quota, kept with the statement.
        "working_weeks": {
            name: {
                "per_week": ww.per_week,
                "weeks": {
                    s.isoformat(): [
                        d.isoformat()
                        for d in (m + timedelta(days=i) for i in range(7))
                        if d in ww.days
                    ]
                    for m, s, _n in month.weeks
                },
            }
            for name, ww in month.working_weeks.items()
        },
    }


def month_from_inputs(
    staff_id: int, period: str, inputs: Mapping[str, Any], lines: Iterable[Line]
) -> CollectorMonth:
    """The month a statement was computed from, rebuilt from its inputs and its collection
    lines (the pieces of a line cut at a tier boundary are joined again)."""
    credited: list[CreditedLine] = []
    for x in lines:
        if x.kind != "collection" or x.payment_id is None or x.paid_on is None:
            continue
        last = credited[-1] if credited else None
        if last is not None and (last.row.payment_id, last.row.fee_item, last.row.period) == (
            x.payment_id,
            x.fee_item,
            x.period,
        ):
            row = last.row._replace(amount_fen=last.row.amount_fen + x.amount_fen)
            credited[-1] = last._replace(row=row, amount_fen=last.amount_fen + x.amount_fen)
            continue
        at = datetime.combine(x.paid_on, datetime.min.time(), UTC)
        row = BasisRow(
            x.payment_id,
            x.txn,
            x.unit_id or 0,
            0,
            x.fee_item,
            x.period,
            x.amount_fen,
            at,
            x.paid_on,
        )
        credited.append(CreditedLine(row, staff_id, x.amount_fen, x.share, ""))
    return CollectorMonth(
        staff_id=staff_id,
        period=period,
        lines=credited,
        target_fen=inputs.get("target"),
        target_households=inputs.get("target_households"),
        visits={date.fromisoformat(d): int(n) for d, n in inputs.get("visits", {}).items()},
        working_days={
            k: frozenset(date.fromisoformat(d) for d in v)
            for k, v in inputs.get("working_days", {}).items()
        },
        weeks=[
            (date.fromisoformat(m), date.fromisoformat(s), int(n))
            for m, s, n in inputs.get("weeks", ())
        ],
        working_weeks={
            name: WorkingWeeks(
                int(kept["per_week"]),
                frozenset(date.fromisoformat(d) for days in kept["weeks"].values() for d in days),
            )
            for name, kept in inputs.get("working_weeks", {}).items()
        },
    )


# --- export ------------------------------------------------------------------------------

CSV_HEADERS = {
    "zh-CN": (
        "类型", "付款", "交易号", "房屋", "收费项目", "账期", "收款日", "基数类别", "金额",
        "比例%", "档位", "系数", "走访系数", "分成%", "提成", "算式",
    ),
    "en": (
        "kind", "payment", "transaction", "unit", "fee item", "period", "paid on", "basis",
        "amount", "rate %", "tier", "factor", "visit factor", "share %", "commission",
        "arithmetic",
    ),
}  # fmt: skip


KIND_ZH = {
    "collection": "收款提成", "visits": "走访扣减", "weekly": "周户数考核", "floor": "保底",
    "cap": "封顶", "clawback": "退款追回", "adjustment": "方案更正调整",
}  # fmt: skip
BASIS_ZH = {
    "current": "当期",
    "arrears": "往月欠费",
    "old_arrears": "历史欠费",
    "prepayment": "预交",
}


def _yuan_cell(fen: int) -> Decimal:
    """Fen as yuan with two places, a number cell (``-1000`` -> ``-10.00``)."""
    return Decimal(fen).scaleb(-2)


def statement_csv(statement: Statement, lang: str = "zh-CN") -> str:
    """The statement as CSV: one row per line and a total row, amounts with two places.

    Amounts, rates and factors are numbers; the rest is text, written by
    :mod:`propcare.tabular` (a transaction id or fee item a spreadsheet would run as a
    formula gets a leading ``'``)."""
    if lang not in CSV_HEADERS:
        raise ValidationError("lang", lang, f"must be one of {', '.join(CSV_HEADERS)}")
    zh = lang == "zh-CN"
    rows: list[Sequence[Cell]] = [
        [
            KIND_ZH.get(line.kind, line.kind) if zh else line.kind, line.payment_id or "",
            line.txn, line.unit_id or "", line.fee_item, line.period,
            line.paid_on.isoformat() if line.paid_on else "",
            BASIS_ZH.get(line.basis, line.basis) if zh else line.basis,
            _yuan_cell(line.amount_fen), line.rate.normalize(),
            line.tier, line.factor.normalize(), line.visit_factor.normalize(),
            line.share.normalize(), _yuan_cell(line.commission_fen),
            line.arithmetic,
        ]
        for line in statement.lines
    ]  # fmt: skip
    total = "合计" if lang == "zh-CN" else "total"
    rows.append([total, *[""] * 13, Decimal(f"{statement.total:.2f}"), ""])
    return csv_text(CSV_HEADERS[lang], rows)
