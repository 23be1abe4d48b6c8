"""Billing: fee items, schedules, proration, and the lines of a bill run (pure functions).

A fee item bills the periods of its schedule (monthly, quarterly, yearly); a period is
named by its first month, ``YYYY-MM``. Amounts are computed in ``Decimal`` and rounded
to the fen once per line with :func:`propcare.money.money` (ROUND_HALF_UP), so a line
is exactly what a clerk gets by hand: 89.57 m2 x 2.50 = 223.925 -> 223.93.

Proration is by days. A unit handed over mid-period pays from the handover day; the days
before pay the vacancy rate if the item has one, else nothing. When the owner changes
within a period the line is still one receivable of the unit (receivables are kept per
unit); the bill records each owner's share, split with
:func:`propcare.money.split_by_weights` so the shares sum exactly to the line.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

import attrs
from dateutil.relativedelta import relativedelta
from dateutil.rrule import MONTHLY, rrule

from propcare.errors import MoneyTypeError, ValidationError
from propcare.money import FEN, MAX_AMOUNT, money, split_by_weights, to_fen
from propcare.registry.model import UnitUse
from propcare.validators import enum_member, non_empty

__all__ = [
    "DUE_END_OF_FIRST_MONTH",
    "BillLine",
    "FeeAssignment",
    "FeeItem",
    "FeeKind",
    "LateFeeTerms",
    "OwnerSpan",
    "Schedule",
    "SkipReason",
    "SkippedUnit",
    "UnitFacts",
    "bill_lines",
    "check_code",
    "check_terms",
    "due_date",
    "late_fee_now",
    "parse_period",
    "period_bounds",
    "prorate",
    "skipped_units",
    "weighted_days",
]

_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
DUE_END_OF_FIRST_MONTH = "end_of_first_month"
# Codes the ledger uses for its own receivables; a fee item may not take them.
RESERVED_CODES = frozenset({"late_fee", "paid_service"})


class Schedule(enum.StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"

    @property
    def months(self) -> int:
        return {"monthly": 1, "quarterly": 3, "yearly": 12}[self.value]


class FeeKind(enum.StrEnum):
    AREA = "area"  # 物业费: yuan per m2 per month, rate by unit use
    FIXED = "fixed"  # 车位费 and the like: yuan per month, for units it is assigned to
    ONE_OFF = "one_off"  # 门禁卡, 临停: billed on demand at the counter


def parse_period(value: Any, field: str = "period") -> date:
    """``'2026-11'`` -> date(2026, 11, 1) (years 1900 to 9998)."""
    if not isinstance(value, str):
        raise ValidationError(field, value, "a billing period is written YYYY-MM")
    found = _PERIOD.match(value)
    if found is None or not 1900 <= int(found[1]) <= 9998:
        raise ValidationError(field, value, "a billing period is written YYYY-MM")
    return date(int(found[1]), int(found[2]), 1)


def _decimal(field: str, value: Any) -> Decimal:
    """A rate or an amount of a fee's terms: finite, at most ``MAX_AMOUNT`` either way and
    six decimals (a rate of 2.355 yuan/m2 is a rate; 1E-30 is a typo)."""
    if isinstance(value, bool | float):
        raise MoneyTypeError(field, value, "must be a Decimal or str, never a float")
    if isinstance(value, int):
        value = Decimal(value)
    elif isinstance(value, str):
        try:
            value = Decimal(value) if len(value) <= 40 else Decimal("NaN")
        except ArithmeticError:
            raise ValidationError(field, value, "is not a decimal number") from None
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValidationError(field, value, "must be a finite Decimal")
    if abs(value) > MAX_AMOUNT:
        raise ValidationError(field, value, f"must be at most {MAX_AMOUNT:,} either way")
    if value != value.quantize(Decimal("0.000001")):
        raise ValidationError(field, value, "at most 6 decimals")
    return value


def _positive(field: str, value: Any) -> Decimal:
    d = _decimal(field, value)
    if d <= 0:
        raise ValidationError(
            field, value, "must be positive (a zero or negative fee bills nothing)"
        )
    return d


def _rates(value: Any) -> Mapping[UnitUse, Decimal]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError("rates", value, "must map unit use to yuan per m2 per month")
    out: dict[UnitUse, Decimal] = {}
    for use, rate in value.items():
        u = enum_member(UnitUse, "rates", use)
        out[u] = _positive(f"rates[{u.value}]", rate)
    return out


def _amount(value: Any) -> Decimal | None:
    if value is None:
        return None
    d = _positive("amount", value)
    if d != d.quantize(FEN):
        raise ValidationError("amount", value, "must be a whole number of fen (at most 2 decimals)")
    return d


def _fee_kind(value: Any) -> FeeKind:
    return enum_member(FeeKind, "kind", value)


def _schedule(value: Any) -> Schedule:
    return enum_member(Schedule, "schedule", value)


def _vacancy(value: Any) -> Decimal | None:
    if value is None:
        return None
    d = _positive("vacancy_rate", value)
    if d > 1:
        raise ValidationError("vacancy_rate", value, "is a fraction of the rate, at most 1")
    return d


def _due(value: Any) -> int | str:
    if value == DUE_END_OF_FIRST_MONTH:
        return DUE_END_OF_FIRST_MONTH
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 366:
        raise ValidationError(
            "due", value, f"days after the period start (0-366) or {DUE_END_OF_FIRST_MONTH!r}"
        )
    return value


def _code(_inst: Any, _attr: Any, value: Any) -> None:
    check_code(value)


def check_code(value: Any, field: str = "code") -> str:
    """A fee item's code: lower-case letters, digits and _, at most 40, not reserved."""
    if not isinstance(value, str) or not _CODE.fullmatch(value):
        raise ValidationError(field, value, "lower-case letters, digits and _, at most 40")
    if value in RESERVED_CODES:
        raise ValidationError(field, value, "is reserved for the ledger's own receivables")
    return value


def check_terms(
    *,
    name: Any = None,
    rates: Any = None,
    amount: Any = None,
    due: Any = None,
    vacancy_rate: Any = None,
) -> None:
    """The checks :class:`FeeItem` makes of the terms given (None: not given), for a
    service to make before it looks anything up."""
    if name is not None:
        non_empty("fee item name")(None, None, name)
    _rates(rates)
    _amount(amount)
    if due is not None:
        _due(due)
    _vacancy(vacancy_rate)


@attrs.frozen
class FeeItem:
    """A fee an estate charges. ``code`` names it in receivables and journal keys."""

    estate_id: int
    code: str = attrs.field(validator=_code)
    name: str = attrs.field(validator=non_empty("fee item name"))
    kind: FeeKind = attrs.field(converter=_fee_kind)
    schedule: Schedule = attrs.field(default=Schedule.MONTHLY, converter=_schedule)
    rates: Mapping[UnitUse, Decimal] = attrs.field(factory=dict, converter=_rates)
    amount: Decimal | None = attrs.field(default=None, converter=_amount)
    due: int | str = attrs.field(default=15, converter=_due)
    vacancy_rate: Decimal | None = attrs.field(default=None, converter=_vacancy)
    id: int = 0

    def __attrs_post_init__(self) -> None:
        if self.kind is FeeKind.AREA and not self.rates:
            raise ValidationError("rates", {}, "a per-m2 fee needs a rate for at least one use")
        if self.kind is FeeKind.FIXED and self.amount is None:
            raise ValidationError("amount", None, "a fixed monthly fee needs its monthly amount")


@attrs.frozen
class FeeAssignment:
    """A fixed item (a parking space) charged to a unit from ``start`` to ``end`` (exclusive)."""

    unit_id: int
    fee_item: str
    start: date
    end: date | None = None


@attrs.frozen
class OwnerSpan:
    owner_id: int
    start: date
    end: date | None  # exclusive


@attrs.frozen
class UnitFacts:
    """What billing needs of a unit: read in bulk, one chunk at a time."""

    unit_id: int
    floor_area: Decimal
    use: UnitUse
    handover_date: date | None
    owners: tuple[OwnerSpan, ...] = ()
    assignments: tuple[FeeAssignment, ...] = ()


@attrs.frozen
class BillLine:
    """One (unit, fee item, period) bill; ``shares`` is (owner id or None, fen) per owner.

    As stored (``app.billing.bills``), ``entry_id`` is the journal entry that bills it, the
    id ``app.ledger.reverse`` takes, and ``reversed_by`` the reversal's id if it has been
    reversed and not re-billed; both are None on a line a run has yet to write.
    """

    unit_id: int
    fee_item: str
    period: str
    amount_fen: int
    due_date: date
    shares: tuple[tuple[int | None, int], ...]
    entry_id: int | None = None
    reversed_by: int | None = None

    @property
    def key(self) -> str:
        return f"bill:{self.unit_id}:{self.fee_item}:{self.period}"


@lru_cache(maxsize=256)
def _period_starts(months: int, year: int) -> frozenset[date]:
    # Periods are aligned to the calendar year: quarters start Jan/Apr/Jul/Oct.
    return frozenset(
        d.date()
        for d in rrule(MONTHLY, interval=months, dtstart=date(year, 1, 1), count=12 // months)
    )


def period_bounds(schedule: Schedule, period: str) -> tuple[date, date] | None:
    """[start, end) of the schedule's period starting in ``period``; None if none starts then."""
    start = parse_period(period)
    if start not in _period_starts(schedule.months, start.year):
        return None
    return start, start + relativedelta(months=schedule.months)


def due_date(start: date, due: int | str) -> date:
    if due == DUE_END_OF_FIRST_MONTH:
        return start + relativedelta(months=1, days=-1)
    assert isinstance(due, int)
    return start + relativedelta(days=due)


def weighted_days(
    lo: date, hi: date, handover: date | None, vacancy_rate: Decimal | None
) -> Decimal:
    """Days in [lo, hi), those before the handover counted at the vacancy rate (or 0)."""
    if hi <= lo:
        return Decimal(0)
    if handover is None or handover >= hi:
        before, after = (hi - lo).days, 0
    elif handover <= lo:
        before, after = 0, (hi - lo).days
    else:
        before, after = (handover - lo).days, (hi - handover).days
    return Decimal(after) + (vacancy_rate or Decimal(0)) * before


def prorate(full: Decimal, weight: Decimal, total_days: int) -> Decimal:
    """``full`` for ``weight`` of ``total_days`` days, rounded half up to the fen."""
    return money(full * weight / total_days)


def _shares(
    amount: Decimal,
    fen: int,
    owners: Sequence[OwnerSpan],
    lo: date,
    hi: date,
    handover: date | None,
    vacancy_rate: Decimal | None,
) -> tuple[tuple[int | None, int], ...]:
    if len(owners) == 1 and owners[0].start <= lo and (owners[0].end or hi) >= hi:
        return ((owners[0].owner_id, fen),)  # the common case: one owner all period
    weights: list[Decimal] = []
    who: list[int | None] = []
    covered = Decimal(0)
    for o in owners:
        a, b = max(o.start, lo), min(o.end or hi, hi)
        w = weighted_days(a, b, handover, vacancy_rate)
        if w > 0:
            who.append(o.owner_id)
            weights.append(w)
            covered += w
    rest = weighted_days(lo, hi, handover, vacancy_rate) - covered
    if rest > 0:  # days nobody owned the unit (developer stock): the unit's, no owner
        who.append(None)
        weights.append(rest)
    if len(who) <= 1:
        return ((who[0] if who else None, fen),)
    parts = split_by_weights(amount, weights)
    return tuple((w, to_fen(p)) for w, p in zip(who, parts, strict=True) if p)


def bill_lines(items: Iterable[FeeItem], units: Iterable[UnitFacts], period: str) -> list[BillLine]:
    """The lines the run for ``period`` bills for ``units`` (zero amounts are left out)."""
    scheduled = []
    for item in items:
        if item.kind is FeeKind.ONE_OFF:
            continue
        bounds = period_bounds(item.schedule, period)
        if bounds is not None:
            # The due date depends on the item and period only: once, not once per unit.
            scheduled.append(
                (
                    item,
                    bounds,
                    due_date(bounds[0], item.due),
                    (bounds[1] - bounds[0]).days,
                    item.schedule.months,
                )
            )
    out: list[BillLine] = []
    for unit in units:
        for item, (lo, hi), due, total_days, months in scheduled:
            if item.kind is FeeKind.AREA:
                rate = item.rates.get(unit.use)
                if rate is None:
                    continue
                handover, vacancy = unit.handover_date, item.vacancy_rate
                a, b = lo, hi
                full = rate * unit.floor_area * months
            else:
                spans = [
                    s
                    for s in unit.assignments
                    if s.fee_item == item.code and s.start < hi and (s.end is None or s.end > lo)
                ]
                if not spans:
                    continue
                # One assignment per unit and item at a time; the first that overlaps counts.
                span = spans[0]
                a, b = max(lo, span.start), min(hi, span.end or hi)
                # An assigned space is billed from its start, handed over or not.
                handover, vacancy = a, None
                assert item.amount is not None
                full = item.amount * months
            if handover is not None and handover <= a and a == lo and b == hi:
                # The whole period at the full rate (nearly every line): no day arithmetic.
                amount = full.quantize(FEN, rounding=ROUND_HALF_UP)
            else:
                weight = weighted_days(a, b, handover, vacancy)
                if weight <= 0:
                    continue
                amount = prorate(full, weight, total_days)
            if amount <= 0:
                continue
            fen = int(amount.scaleb(2))  # money() made it whole fen
            owners = unit.owners
            # Nearly every unit has one owner all period or none: no split to compute.
            if not owners:
                shares: tuple[tuple[int | None, int], ...] = ((None, fen),)
            elif len(owners) == 1 and owners[0].start <= a and (owners[0].end or b) >= b:
                shares = ((owners[0].owner_id, fen),)
            else:
                shares = _shares(amount, fen, owners, a, b, handover, vacancy)
            out.append(BillLine(unit.unit_id, item.code, period, fen, due, shares))
    return out


class SkipReason(enum.StrEnum):
    """Why a bill run billed a unit no per-m2 fee."""

    NO_HANDOVER_DATE = "no_handover_date"  # never handed over, as far as the registry knows
    HANDED_OVER_LATER = "handed_over_later"  # handed over after the period
    NO_RATE_FOR_USE = "no_rate_for_use"  # no per-m2 item has a rate for the unit's use
    ZERO_AMOUNT = "zero_amount"  # the fee rounds to 0.00


@attrs.frozen
class SkippedUnit:
    """A unit a bill run billed no per-m2 fee (物业费), and why.

    ``detail`` says it per fee item; ``unit`` is the building and number, as the run's
    report shows it ("" from :func:`skipped_units`, which has only ids).
    """

    unit_id: int
    reason: SkipReason
    detail: str
    unit: str = ""


def _miss(item: FeeItem, unit: UnitFacts, hi: date) -> tuple[SkipReason, str]:
    """Why ``item`` (per m2, its period ending before ``hi``) bills ``unit`` nothing."""
    if item.rates.get(unit.use) is None:
        return SkipReason.NO_RATE_FOR_USE, f"no rate for {unit.use.value} units"
    without = "" if item.vacancy_rate else ", no vacancy rate"
    if unit.handover_date is None:
        return SkipReason.NO_HANDOVER_DATE, f"no handover date{without}"
    if unit.handover_date >= hi:
        return SkipReason.HANDED_OVER_LATER, f"handed over {unit.handover_date}{without}"
    return SkipReason.ZERO_AMOUNT, "comes to 0.00"


def skipped_units(
    items: Iterable[FeeItem],
    units: Iterable[UnitFacts],
    lines: Iterable[BillLine],
    period: str,
) -> list[SkippedUnit]:
    """The units among ``units`` that ``lines`` (:func:`bill_lines` of the same units and
    period) bill no per-m2 item, with the reason; none when no per-m2 item is due in
    ``period``. A unit with no handover date pays nothing until it has one (or the item
    a vacancy rate): a run says so rather than skip it silently."""
    area: list[tuple[FeeItem, date]] = []
    for item in items:
        if item.kind is FeeKind.AREA:
            bounds = period_bounds(item.schedule, period)
            if bounds is not None:
                area.append((item, bounds[1]))
    if not area:
        return []
    codes = {item.code for item, _hi in area}
    billed = {ln.unit_id for ln in lines if ln.fee_item in codes}
    out: list[SkippedUnit] = []
    for unit in units:
        if unit.unit_id in billed:
            continue
        misses = [(item.code, *_miss(item, unit, hi)) for item, hi in area]
        # The registry's gap (a handover date) before a tariff's (a rate for the use).
        reason = min((m[1] for m in misses), key=list(SkipReason).index)
        detail = "; ".join(f"{code}: {text}" for code, _reason, text in misses)
        out.append(SkippedUnit(unit.unit_id, reason, detail))
    return out


# --- late fees: off unless a contract sets them ------------------------------------------


def _rate(value: Any) -> Decimal:
    d = _positive("daily_rate", value)
    if d > Decimal("0.01"):
        # Courts cut excessive late fees; 1% a day is already far beyond any contract upheld.
        raise ValidationError("daily_rate", value, "is a daily fraction, at most 0.01")
    return d


def _grace(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 366:
        raise ValidationError("grace_days", value, "must be whole days from 0 to 366")
    return value


def _cap(value: Any) -> Decimal:
    d = _positive("cap", value)
    if d > 1:
        raise ValidationError("cap", value, "is a fraction of the principal, at most 1")
    return d


@attrs.frozen
class LateFeeTerms:
    """A contract's late-fee clause: ``daily_rate`` of the overdue amount per day after
    ``grace_days`` past the due date, in total at most ``cap`` x the bill's amount."""

    daily_rate: Decimal = attrs.field(converter=_rate)
    grace_days: int = attrs.field(default=0, converter=_grace)
    cap: Decimal = attrs.field(default=Decimal("0.3"), converter=_cap)


def late_fee_now(
    terms: LateFeeTerms,
    outstanding_fen: int,
    principal_fen: int,
    due: date,
    as_of: date,
    assessed_fen: int,
) -> int:
    """Fen of late fee to post now: what has accrued on the amount still overdue, capped,
    less what was assessed before (waived fees count too: a waiver forgives, it does not
    reopen). Zero when nothing is owed or the grace days have not passed."""
    days = (as_of - due).days - terms.grace_days
    if days <= 0 or outstanding_fen <= 0:
        return 0
    accrued = money(Decimal(outstanding_fen) / 100 * terms.daily_rate * days)
    capped = min(accrued, money(Decimal(principal_fen) / 100 * terms.cap))
    return max(0, to_fen(capped) - assessed_fen)
