"""Commission plans: versions, who they apply to, and the built-in ``tiered`` plan type.

A :class:`Plan` is one version of a named plan of an estate. It applies to one collector
(``staff_id``) or to everyone with a role (``role``); a collector's own plan beats a role
plan. It takes effect on the first day of a month (the settlement period) and stays in
force until a later version of the same name. A *correction* replaces a version for the
months it covered, settled ones included: re-settling those months pays the difference
as adjustment lines, while a new version may never start in a month already settled.

The plan's ``kind`` names a plan type, from the ``propcare_commission_plans`` hook; the
built-in ``tiered`` type is described at :class:`TieredTerms`. Every plan, whatever its
type, may have a floor and a cap per period. Who collected what (attribution) is the
estate's rule, not a plan's: see :mod:`propcare.commission.basis`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from operator import itemgetter
from typing import Any, NamedTuple

import attrs

from propcare.commission.basis import BasisClass, CreditedLine, basis_class
from propcare.errors import ValidationError
from propcare.money import to_fen
from propcare.plugins.hookspecs import hookimpl
from propcare.validators import (
    NOTE_MAX,
    enum_member,
    non_empty,
    optional_record_id,
    params,
    text,
    valid_date,
)

__all__ = [
    "CollectorMonth",
    "CommissionPlanType",
    "Line",
    "Plan",
    "Tier",
    "TierMode",
    "TieredTerms",
    "VisitRule",
    "WorkingWeeks",
    "compute_tiered",
    "parse_tiered",
]

HUNDRED = Decimal(100)
ONE = Decimal(1)
FACTOR = Decimal("0.0001")  # visit completion ratios are kept to four places
FEN = Decimal("0.01")
_AMOUNT = itemgetter(2)  # CreditedLine.amount_fen


def _decimal(field: str, value: Any, *, minimum: Decimal | None = Decimal(0)) -> Decimal:
    if isinstance(value, bool | float):
        raise ValidationError(field, value, "write it as a Decimal or a string, not a float")
    try:
        out = Decimal(value) if not isinstance(value, Decimal) else value
    except ArithmeticError:
        raise ValidationError(field, value, "is not a number") from None
    if not out.is_finite():
        raise ValidationError(field, value, "must be finite")
    if minimum is not None and out < minimum:
        raise ValidationError(field, value, f"must not be below {minimum}")
    return out


# --- plan versions -----------------------------------------------------------------------


def _first_of_month(_inst: Any, attribute: Any, value: date) -> None:
    valid_date(attribute.name)(_inst, attribute, value)
    if value.day != 1:
        raise ValidationError(
            attribute.name, value, "a plan takes effect on the first day of a month"
        )


def _params(value: Any) -> dict[str, Any]:
    return params("params", value)


def _role(_inst: Any, _attr: Any, value: Any) -> None:
    from propcare.access import ROLES  # the role list lives with the role map

    if value is not None and (not isinstance(value, str) or value not in ROLES):
        raise ValidationError("role", value, f"must be None or a staff role: {', '.join(ROLES)}")


def _reason(_inst: Any, _attr: Any, value: Any) -> None:
    text("reason", value, max_length=NOTE_MAX, required=False)


@attrs.frozen
class Plan:
    """One version of a commission plan (see the module notes)."""

    estate_id: int
    name: str = attrs.field(validator=non_empty("name"))
    effective_from: date = attrs.field(validator=_first_of_month)
    kind: str = attrs.field(default="tiered", validator=non_empty("kind"))
    params: Mapping[str, Any] = attrs.field(factory=dict, converter=_params)
    staff_id: int | None = None
    role: str | None = attrs.field(default=None, validator=_role)
    floor_fen: int | None = None
    cap_fen: int | None = None
    version: int = 1
    corrects: int | None = None  # the version id this one corrects
    reason: str = attrs.field(default="", validator=_reason)
    id: int = 0

    def __attrs_post_init__(self) -> None:
        optional_record_id("staff_id", self.staff_id)
        if (self.staff_id is None) == (self.role is None):
            raise ValidationError(
                "applies_to", (self.staff_id, self.role), "name one collector or one role"
            )
        for field in ("floor_fen", "cap_fen"):
            fen = getattr(self, field)
            if fen is not None and (isinstance(fen, bool) or not isinstance(fen, int) or fen < 0):
                raise ValidationError(field[:-4], fen, "must be an amount of at least 0")
        if (
            self.floor_fen is not None
            and self.cap_fen is not None
            and self.floor_fen > self.cap_fen
        ):
            raise ValidationError(
                "floor", self.floor_fen / 100, f"is above the cap {self.cap_fen / 100}"
            )

    def applies_to(self, staff_id: int, roles: frozenset[str]) -> bool:
        return self.staff_id == staff_id if self.staff_id is not None else self.role in roles


# --- what a plan type is given and gives back ----------------------------------------------


@attrs.frozen
class WorkingWeeks:
    """One calendar's working days in the weeks of a month, which a weekly quota scales by.

    ``per_week``: the working weekdays of the calendar's regular week (5 for ``office``,
    7 for ``24x7``). ``days``: the working dates, holidays and make-up days (调休) applied,
    of every week ending in the month, Monday to Sunday (so the days of a week that began
    in the month before are there too).
    """

    per_week: int
    days: frozenset[date] = frozenset()

    def __attrs_post_init__(self) -> None:
        if isinstance(self.per_week, bool) or not isinstance(self.per_week, int):
            raise ValidationError("per_week", self.per_week, "must be a whole number of days")
        if not 1 <= self.per_week <= 7:
            raise ValidationError("per_week", self.per_week, "a week has 1 to 7 working days")

    def in_week(self, monday: date) -> int:
        """The working days of the week from ``monday`` to the Sunday after it."""
        return sum(1 for i in range(7) if monday + timedelta(days=i) in self.days)


@attrs.frozen
class CollectorMonth:
    """Everything a plan type needs to pay one collector for one month."""

    staff_id: int
    period: str  # 'YYYY-MM'
    lines: Sequence[CreditedLine]  # collected this month, in a fixed order (see settle)
    target_fen: int | None = None
    target_households: int | None = None
    # local day -> distinct units the collector visited door to door (上门)
    visits: Mapping[date, int] = attrs.field(factory=dict)
    # calendar name -> the month's working days in it
    working_days: Mapping[str, frozenset[date]] = attrs.field(factory=dict)
    # (monday, sunday, households collected) for each week ending in the month
    weeks: Sequence[tuple[date, date, int]] = ()
    # calendar name -> its working days in those weeks (what a weekly quota is due on);
    # absent on statements settled before weekly quotas scaled: those had a flat quota
    working_weeks: Mapping[str, WorkingWeeks] = attrs.field(factory=dict)

    # By position, not by field name: a month has 10^5 lines and these run once each.
    @property
    def collected_fen(self) -> int:
        return sum(map(_AMOUNT, self.lines))

    @property
    def households(self) -> int:
        return len({line[0][2] for line in self.lines if line[2] > 0})  # row.unit_id


class Line(NamedTuple):
    """One line of a statement and the arithmetic behind it (a named tuple: statements
    have thousands of lines).

    ``kind``: ``collection`` (amount x rate x tier factor x visit factor), ``visits``
    (a deduction for missed visit days), ``weekly`` (a quota's reward or penalty),
    ``floor`` / ``cap`` (lifting or trimming the period's earnings), ``clawback`` (money
    paid back after its commission was settled), ``adjustment`` (a plan correction).
    """

    kind: str
    commission_fen: int
    amount_fen: int = 0
    payment_id: int | None = None
    txn: str = ""
    unit_id: int | None = None
    fee_item: str = ""
    period: str = ""
    paid_on: date | None = None
    basis: str = ""
    rate: Decimal = Decimal(0)  # percent
    tier: str = ""
    factor: Decimal = ONE
    visit_factor: Decimal = ONE
    share: Decimal = HUNDRED
    note: str = ""

    @property
    def source(self) -> tuple[int | None, str, str]:
        return (self.payment_id, self.fee_item, self.period)

    @property
    def exact(self) -> Decimal:
        """A collection line's product before rounding, in yuan."""
        return Decimal(self.amount_fen) * self.rate * self.factor * self.visit_factor / 10_000

    @property
    def arithmetic(self) -> str:
        """The line's sum as a person checks it: ``1,200.00 × 2% × 1.5 = 36.00``; when the
        product is not a whole fen, its rounding: ``49.99 × 1% × 0.5 = 0.24995 → 0.25``."""
        result = f"{Decimal(self.commission_fen) / 100:,.2f}"
        if self.kind == "collection":
            parts = [f"{Decimal(self.amount_fen) / 100:,.2f}", f"{self.rate.normalize():f}%"]
            if self.factor != ONE:
                parts.append(f"{self.factor.normalize():f}")
            if self.visit_factor != ONE:
                parts.append(f"{self.visit_factor.normalize():f}")
            exact = self.exact.normalize()
            shown = f"{exact:,.2f}" if exact == exact.quantize(FEN) else f"{exact:,f}"
            return " × ".join(parts) + f" = {shown}" + ("" if shown == result else f" → {result}")
        return f"{self.note} = {result}" if self.note else result


@attrs.frozen
class CommissionPlanType:
    """A kind of plan a plugin provides through ``propcare_commission_plans``.

    ``parse(params)`` checks a plan's parameters and returns its terms (ValidationError
    naming the parameter otherwise); ``compute(terms, month)`` returns the month's
    earned lines for one collector (collection lines and quota lines); ``explain(terms,
    month)``, if given, what the statement keeps of how (attainment, ...). Floors, caps,
    clawbacks and adjustments are the settlement's, the same for every type.
    """

    name: str
    parse: Callable[[Mapping[str, Any]], Any]
    compute: Callable[[Any, CollectorMonth], Sequence[Line]]
    description: str = ""
    # What the statement should show of how it was computed (attainment, ...), as
    # JSON-able values; optional.
    explain: Callable[[Any, CollectorMonth], Mapping[str, Any]] | None = None


# --- the built-in "tiered" type --------------------------------------------------------------


class TierMode(enum.StrEnum):
    WHOLE = "whole"  # the tier reached pays its factor on everything
    MARGINAL = "marginal"  # each slice of the collection at its own tier's factor


class VisitRule(enum.StrEnum):
    NONE = "none"
    MULTIPLIER = "multiplier"  # collection lines x the month's completion ratio
    DEDUCTION = "deduction"  # a fixed amount off per day the quota was missed


@attrs.frozen
class Tier:
    """Attainment from ``start`` (inclusive) to ``end`` (exclusive; None: no end) pays
    ``factor`` times the class rates. Attainment is a fraction: 1 is the target."""

    start: Decimal
    end: Decimal | None
    factor: Decimal

    @property
    def label(self) -> str:
        def pct(x: Decimal) -> str:
            return f"{(x * HUNDRED).normalize():f}%"

        return f"{pct(self.start)}–{pct(self.end) if self.end is not None else ''}"


@attrs.frozen
class TieredTerms:
    """The built-in plan: a rate per basis class, tiers by attainment, a threshold, visit
    and weekly quotas. Parameters (all optional but ``rates``), as a plan's ``params``:

    - ``rates``: percent per class, ``{"current": "1.0", "arrears": "1.5",
      "old_arrears": "3.0", "prepayment": "1.0"}``; a class left out pays the current rate
      (``prepayment``) or nothing (the others);
    - ``fee_items``: only these fee items earn (default: all);
    - ``tiers``: ``[{"from": "0", "to": "0.8", "factor": "0.8"}, {"from": "0.8", "to": "1",
      "factor": "1"}, {"from": "1", "to": null, "factor": "1.5"}]``: from 0, without gaps
      or overlaps, factors not falling as attainment rises (a cap limits pay instead);
      without tiers every line has factor 1;
    - ``mode``: ``whole`` (default) or ``marginal``; ``threshold``: attainment below which
      nothing is paid at all (default 0); ``attainment``: ``amount`` (default) or
      ``households`` (the marginal mode slices money, so it needs ``amount``);
    - ``visits_per_day``, ``visit_rule`` (``multiplier`` or ``deduction``),
      ``visit_deduction`` (yuan per missed day), ``visit_calendar`` (whose working days
      the quota is due on; default ``office``);
    - ``weekly_households``, ``weekly_reward``, ``weekly_penalty`` (yuan), and
      ``weekly_calendar`` (default: the ``visit_calendar``): the quota is for a regular
      week of that calendar and scales with the working days each week actually has:
      due = ``weekly_households`` × the week's working days ÷ the calendar's regular
      working days a week (10 households in a National Day week of 3 office days: 6). A
      week without working days (the Spring Festival) has no quota line at all.
    """

    rates: Mapping[BasisClass, Decimal]
    tiers: tuple[Tier, ...] = ()
    mode: TierMode = TierMode.WHOLE
    threshold: Decimal = Decimal(0)
    attainment: str = "amount"
    fee_items: frozenset[str] | None = None
    visits_per_day: int = 0
    visit_rule: VisitRule = VisitRule.NONE
    visit_deduction_fen: int = 0
    visit_calendar: str = "office"
    weekly_households: int = 0
    weekly_reward_fen: int = 0
    weekly_penalty_fen: int = 0
    weekly_calendar: str = "office"

    def tier_at(self, attainment: Decimal) -> Tier | None:
        for tier in self.tiers:
            if tier.start <= attainment and (tier.end is None or attainment < tier.end):
                return tier
        return None


def _count(params: Mapping[str, Any], key: str) -> int:
    value = params.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(key, value, "must be a whole number of at least 0")
    return value


def _yuan_fen(params: Mapping[str, Any], key: str) -> int:
    value = params.get(key, "0")
    return to_fen(_decimal(key, value), key)


def _tiers(raw: Any) -> tuple[Tier, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise ValidationError("tiers", raw, "must be a list of {from, to, factor}")
    tiers: list[Tier] = []
    for i, t in enumerate(raw):
        if not isinstance(t, Mapping):
            raise ValidationError(f"tiers[{i}]", t, "must be {from, to, factor}")
        start = _decimal(f"tiers[{i}].from", t.get("from"))
        end_raw = t.get("to")
        end = None if end_raw is None else _decimal(f"tiers[{i}].to", end_raw)
        factor = _decimal(f"tiers[{i}].factor", t.get("factor"))
        if end is not None and end <= start:
            raise ValidationError(f"tiers[{i}].to", end_raw, f"must be above its from {start}")
        tiers.append(Tier(start, end, factor))
    if not tiers:
        return ()
    if tiers[0].start != 0:
        raise ValidationError("tiers[0].from", tiers[0].start, "the first tier starts at 0")
    for i in range(1, len(tiers)):
        before, tier = tiers[i - 1], tiers[i]
        if before.end is None or tier.start > before.end:
            raise ValidationError(
                f"tiers[{i}].from",
                tier.start,
                f"leaves a gap or follows an open tier (the previous ends at {before.end})",
            )
        if tier.start < before.end:
            raise ValidationError(
                f"tiers[{i}].from", tier.start, f"overlaps the previous tier (to {before.end})"
            )
        if tier.factor < before.factor:
            raise ValidationError(
                f"tiers[{i}].factor",
                tier.factor,
                f"falls below the previous tier's {before.factor}; limit pay with a cap",
            )
    if tiers[-1].end is not None:
        raise ValidationError(
            f"tiers[{len(tiers) - 1}].to", tiers[-1].end, "the last tier has no end (null)"
        )
    return tuple(tiers)


KNOWN = frozenset(
    {
        "rates", "tiers", "mode", "threshold", "attainment", "fee_items", "visits_per_day",
        "visit_rule", "visit_deduction", "visit_calendar", "weekly_households",
        "weekly_reward", "weekly_penalty", "weekly_calendar",
    }
)  # fmt: skip


def parse_tiered(params: Mapping[str, Any]) -> TieredTerms:
    """Check a tiered plan's parameters (see :class:`TieredTerms`)."""
    if not isinstance(params, Mapping):
        raise ValidationError("params", params, "must be a mapping")
    unknown = sorted(set(params) - KNOWN)
    if unknown:
        raise ValidationError("params", unknown[0], f"is not a parameter; known: {sorted(KNOWN)}")
    raw = params.get("rates")
    if not isinstance(raw, Mapping) or not raw:
        raise ValidationError("rates", raw, "give a percent rate for at least the current fees")
    rates: dict[BasisClass, Decimal] = {}
    for key, value in raw.items():
        cls = enum_member(BasisClass, "rates", key)
        rates[cls] = _decimal(f"rates.{cls.value}", value)
        if rates[cls] > HUNDRED:
            raise ValidationError(f"rates.{cls.value}", value, "a percent rate is at most 100")
    rates.setdefault(BasisClass.PREPAYMENT, rates.get(BasisClass.CURRENT, Decimal(0)))
    for cls in BasisClass:
        rates.setdefault(cls, Decimal(0))
    mode = enum_member(TierMode, "mode", params.get("mode", "whole"))
    attainment = params.get("attainment", "amount")
    if attainment not in ("amount", "households"):
        raise ValidationError("attainment", attainment, "must be amount or households")
    if mode is TierMode.MARGINAL and attainment != "amount":
        raise ValidationError("mode", "marginal", "slices money: it needs attainment by amount")
    items = params.get("fee_items")
    if items is not None and (
        isinstance(items, str)
        or not isinstance(items, Sequence)
        or not all(isinstance(i, str) and i for i in items)
    ):
        raise ValidationError("fee_items", items, "must be a list of fee item codes")
    visit_rule = enum_member(VisitRule, "visit_rule", params.get("visit_rule", "none"))
    visits = _count(params, "visits_per_day")
    if visit_rule is not VisitRule.NONE and visits == 0:
        raise ValidationError("visits_per_day", 0, f"a {visit_rule.value} rule needs a quota")
    calendar = params.get("visit_calendar", "office")
    if not isinstance(calendar, str) or not calendar:
        raise ValidationError("visit_calendar", calendar, "must name a calendar")
    weekly_calendar = params.get("weekly_calendar", calendar)
    if not isinstance(weekly_calendar, str) or not weekly_calendar:
        raise ValidationError("weekly_calendar", weekly_calendar, "must name a calendar")
    return TieredTerms(
        rates=rates,
        tiers=_tiers(params.get("tiers")),
        mode=mode,
        threshold=_decimal("threshold", params.get("threshold", "0")),
        attainment=attainment,
        fee_items=None if items is None else frozenset(items),
        visits_per_day=visits,
        visit_rule=visit_rule,
        visit_deduction_fen=_yuan_fen(params, "visit_deduction"),
        visit_calendar=calendar,
        weekly_households=_count(params, "weekly_households"),
        weekly_reward_fen=_yuan_fen(params, "weekly_reward"),
        weekly_penalty_fen=_yuan_fen(params, "weekly_penalty"),
        weekly_calendar=weekly_calendar,
    )


def _attainment(
    terms: TieredTerms, month: CollectorMonth, earning: Sequence[CreditedLine]
) -> Decimal | None:
    if terms.attainment == "households":
        if not month.target_households:
            return None
        units = {line.row.unit_id for line in earning if line.amount_fen > 0}
        return Decimal(len(units)) / Decimal(month.target_households)
    if not month.target_fen:
        return None
    return Decimal(sum(line.amount_fen for line in earning)) / Decimal(month.target_fen)


def _visit_factor(terms: TieredTerms, month: CollectorMonth) -> tuple[Decimal, int, int]:
    """(completion ratio, days due, days missed) of the month's visit quota."""
    if terms.visits_per_day == 0:
        return ONE, 0, 0
    days = sorted(month.working_days.get(terms.visit_calendar, frozenset()))
    if not days:
        return ONE, 0, 0
    quota = Decimal(terms.visits_per_day)
    done = sum((min(ONE, Decimal(month.visits.get(d, 0)) / quota) for d in days), Decimal(0))
    missed = sum(1 for d in days if month.visits.get(d, 0) < terms.visits_per_day)
    ratio = (done / len(days)).quantize(FACTOR, rounding=ROUND_HALF_UP)
    return ratio, len(days), missed


def _households_text(numerator: int, denominator: int) -> str:
    """A scaled quota as people read it: ``6``, ``1.2``; ``≈8.33`` when not exact."""
    exact_value = Decimal(numerator) / Decimal(denominator)
    shown = exact_value.quantize(FEN, rounding=ROUND_HALF_UP)
    if shown * denominator == numerator:
        return f"{shown.normalize():f}"
    return f"≈{shown:f}"


def _weekly_quotas(
    terms: TieredTerms, month: CollectorMonth
) -> list[tuple[date, date, int, int, int]]:
    """(monday, sunday, households, working days, regular working days) of each week
    with a quota; the quota due is ``weekly_households × working ÷ regular``."""
    calendar = month.working_weeks.get(terms.weekly_calendar)
    out: list[tuple[date, date, int, int, int]] = []
    for monday, sunday, households in month.weeks:
        if calendar is None:
            # Kept inputs from before quotas scaled (a correction recomputing an old
            # month): the flat quota they were settled with.
            out.append((monday, sunday, households, 1, 1))
            continue
        working = calendar.in_week(monday)
        if working:  # a week with no working day owes nothing
            out.append((monday, sunday, households, working, calendar.per_week))
    return out


def compute_tiered(terms: TieredTerms, month: CollectorMonth) -> list[Line]:
    """The month's earned lines of one collector under a tiered plan."""
    items = terms.fee_items
    earning: Sequence[CreditedLine] = month.lines
    excluded: list[CreditedLine] = []
    if items is not None:
        earning = []
        for line in month.lines:
            if not line.row.fee_item or line.row.fee_item in items:
                earning.append(line)
            else:
                excluded.append(line)
    ratio, due, missed = _visit_factor(terms, month)
    visit_factor = ratio if terms.visit_rule is VisitRule.MULTIPLIER else ONE
    attainment = _attainment(terms, month, earning)
    if terms.tiers and attainment is None:
        raise ValidationError(
            "target",
            f"staff {month.staff_id} {month.period}",
            f"a tiered plan needs a target by {terms.attainment} for every collector it pays",
        )
    below = attainment is not None and attainment < terms.threshold
    out: list[Line] = []
    append = out.append
    new = tuple.__new__  # a Line without its Python-level constructor: 10^5 lines a month
    if below or not terms.tiers or terms.mode is TierMode.WHOLE:
        # One tier for the month: each credited line is one statement line, its product
        # rounded to the fen on its own, half up (away from zero), in integers.
        tier = None if below or attainment is None else terms.tier_at(attainment)
        factor = Decimal(0) if below else (tier.factor if tier is not None else ONE)
        label = "below threshold" if below else (tier.label if tier is not None else "")
        # bill period -> (class, rate, numerator and denominator of the exact multiplier
        # rate / 100 x factor x visit factor): a month has a few periods.
        by_period: dict[str, tuple[str, Decimal, int, int]] = {}
        for line in earning:  # by position: row, staff, fen, share, via
            row = line[0]  # payment, txn, unit, building, fee item, period, fen, at, day
            period = row[5]
            found = by_period.get(period)
            if found is None:
                cls = basis_class(period, month.period)
                rate = terms.rates[cls]
                num, den = (rate / HUNDRED * factor * visit_factor).as_integer_ratio()
                found = by_period[period] = (cls.value, rate, num, den)
            cls_name, rate, num, den = found
            fen = line[2]
            # |fen x num / den| rounded half up is floor((2 |fen x num| + den) / (2 den))
            product = fen * num
            commission = (
                (2 * product + den) // (2 * den)
                if product >= 0
                else -((den - 2 * product) // (2 * den))
            )
            append(
                new(Line, (
                    "collection", commission, fen, row[0], row[1], row[2], row[4], period,
                    row[8], cls_name, rate, label, factor, visit_factor, line[3], "",
                ))
            )  # fmt: skip
    else:
        out = _marginal(terms, month, earning, visit_factor)
    for line in excluded:
        row = line.row
        out.append(
            Line(
                "collection", 0, line.amount_fen, row.payment_id, row.txn, row.unit_id,
                row.fee_item, row.period, row.paid_on,
                basis_class(row.period, month.period).value, Decimal(0), "not commissioned",
                ONE, ONE, line.share,
            )
        )  # fmt: skip
    if terms.visit_rule is VisitRule.DEDUCTION and missed:
        out.append(
            Line(
                "visits",
                -missed * terms.visit_deduction_fen,
                note=f"{missed} of {due} days below {terms.visits_per_day} visits "
                f"× {Decimal(terms.visit_deduction_fen) / 100:,.2f}",
            )
        )
    if terms.weekly_households:
        quota = terms.weekly_households
        for monday, sunday, households, working, regular in _weekly_quotas(terms, month):
            # Integers, not a rounded quota: 2 of 1.2 households is met, 1 is not.
            met = households * regular >= quota * working
            fen = terms.weekly_reward_fen if met else -terms.weekly_penalty_fen
            if not fen:
                continue
            note = f"{monday:%m-%d}–{sunday:%m-%d} {households} of "
            if working == regular:
                note += f"{quota} households"
            else:
                scaled = _households_text(quota * working, regular)
                note += f"{scaled} households ({quota} × {working}/{regular} working days)"
            out.append(Line("weekly", fen, note=f"{note} {'met' if met else 'missed'}"))
    return out


def _marginal(
    terms: TieredTerms,
    month: CollectorMonth,
    earning: Sequence[CreditedLine],
    visit_factor: Decimal,
) -> list[Line]:
    """Collection lines of marginal tiers: each slice of the month's collection at its own
    tier's factor.

    Each credited line is rounded to the fen on its own, half up. A line that straddles a
    tier boundary is cut into pieces rounded cumulatively, so its pieces add up to the
    line's product rounded once. Collecting more therefore never pays less: a later line
    can only move to a higher tier, and rounding never reverses an increase."""
    assert month.target_fen  # marginal needs an amount target (checked by the caller)
    bounds = [
        int((t.start * month.target_fen).to_integral_value(rounding=ROUND_CEILING))
        for t in terms.tiers
    ]
    # pieces: (credited line, fen, tier) in the month's fixed order
    pieces: list[tuple[CreditedLine, int, Tier | None]] = []
    reached = 0
    for line in earning:
        left = line.amount_fen
        while left > 0:
            i = max(k for k, b in enumerate(bounds) if b <= reached)
            room = bounds[i + 1] - reached if i + 1 < len(bounds) else left
            take = min(left, room)
            pieces.append((line, take, terms.tiers[i]))
            reached += take
            left -= take
        if line.amount_fen < 0:  # cannot happen for earned lines; kept exact anyway
            pieces.append((line, line.amount_fen, terms.tier_at(Decimal(0))))
    out: list[Line] = []
    append = out.append
    new = tuple.__new__  # a Line without its Python-level constructor
    # Keyed by (bill period, tier position): hashing a Tier per line would cost more.
    cache: dict[tuple[str, int], tuple[str, Decimal, Decimal, str, int, int]] = {}
    running = line_den = paid = 0
    current: CreditedLine | None = None
    for line, fen, tier in pieces:
        row = line.row
        found = cache.get((row.period, id(tier)))
        if found is None:
            cls = basis_class(row.period, month.period)
            factor = tier.factor if tier is not None else ONE
            rate = terms.rates[cls]
            label = tier.label if tier is not None else ""
            num, den = (rate / HUNDRED * factor * visit_factor).as_integer_ratio()
            found = cache[(row.period, id(tier))] = (cls.value, factor, rate, label, num, den)
        cls_name, factor, rate, label, num, den = found
        if line is not current:
            current, running, paid, line_den = line, 0, 0, den
        elif den != line_den:  # a piece at another tier: bring the sums to one base
            running, line_den, num = running * den, line_den * den, num * line_den
        running += fen * num
        # half up (away from zero), in integers
        q, r = divmod(abs(running), line_den)
        total = q + (2 * r >= line_den)
        if running < 0:
            total = -total
        append(
            new(Line, (
                "collection", total - paid, fen, row.payment_id, row.txn, row.unit_id,
                row.fee_item, row.period, row.paid_on, cls_name, rate, label, factor,
                visit_factor, line.share, "",
            ))
        )  # fmt: skip
        paid = total
    return out


def explain_tiered(terms: TieredTerms, month: CollectorMonth) -> dict[str, Any]:
    """The attainment the tiers were read at, and the visit quota's completion."""
    items = terms.fee_items
    earning = [
        x for x in month.lines if items is None or not x.row.fee_item or x.row.fee_item in items
    ]
    attainment = _attainment(terms, month, earning)
    ratio, due, missed = _visit_factor(terms, month)
    out: dict[str, Any] = {
        "attainment": None if attainment is None else str(attainment.quantize(FACTOR)),
        "attainment_by": terms.attainment,
        "threshold_met": attainment is None or attainment >= terms.threshold,
        "visit_ratio": str(ratio),
        "visit_days_due": due,
        "visit_days_missed": missed,
    }
    if terms.weekly_households:
        # Each week's quota as it was judged: Sunday -> households due (weeks without
        # working days are left out: they owed nothing).
        out["weekly_calendar"] = terms.weekly_calendar
        out["weekly_due"] = {
            sunday.isoformat(): _households_text(terms.weekly_households * working, regular)
            for _monday, sunday, _n, working, regular in _weekly_quotas(terms, month)
        }
    return out


TIERED = CommissionPlanType(
    "tiered",
    parse_tiered,
    compute_tiered,
    "rates per basis class, tiers by attainment (whole or marginal), threshold, "
    "visit and weekly household quotas",
    explain_tiered,
)


@hookimpl
def propcare_commission_plans() -> list[CommissionPlanType]:
    """The built-in plan type."""
    return [TIERED]
