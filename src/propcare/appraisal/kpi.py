"""Scorecards, scoring rules, grade bands, calibration: the pure core of appraisal.

Every KPI scores 0 to its cap (at most 100) points. A person's total is the weighted mean
of the KPIs that have data, computed exactly: excluded KPIs drop out and the others'
weights are re-normalised by dividing by their sum, never by a weight that is not used.
Commendations add points and discipline takes them off, and the total stays within
0..100. No data is never a silent 100: a KPI without data is excluded or gets its
configured fixed points, and a person with no data at all is not scored.
"""

from __future__ import annotations

import enum
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

import attrs

from propcare.errors import ValidationError
from propcare.money import exact
from propcare.validators import enum_member, non_empty, text, valid_date

__all__ = [
    "Band",
    "Kpi",
    "KpiLine",
    "Rule",
    "RuleKind",
    "Score",
    "Scorecard",
    "calibrate",
    "calibration_limits",
    "check_bands",
    "grade_of",
    "rank_within",
    "score",
]

HUNDRED = Decimal(100)
ZERO = Decimal(0)
CENT = Decimal("0.01")


# Weights, points, caps and a metric's thresholds: far below this, whatever the unit.
LIMIT = Decimal(10**10)


def _dec(
    field: str, value: Any, *, minimum: Decimal | None = None, maximum: Decimal = LIMIT
) -> Decimal:
    if isinstance(value, bool | float):
        raise ValidationError(field, value, "write it as a Decimal or a string, not a float")
    if isinstance(value, str) and len(value) > 40:
        raise ValidationError(field, value, "is not a number")
    try:
        out = value if isinstance(value, Decimal) else Decimal(value)
    except (ArithmeticError, TypeError, ValueError):
        raise ValidationError(field, value, "is not a number") from None
    if not out.is_finite():
        raise ValidationError(field, value, "must be finite")
    if minimum is not None and out < minimum:
        raise ValidationError(field, value, f"must not be below {minimum}")
    if abs(out) > maximum:
        raise ValidationError(field, value, f"must be at most {maximum:,}")
    return out


def _grades(field: str, value: Any, *, maximum: Decimal) -> dict[str, Decimal]:
    """A mapping of names (grades, levels) to numbers from 0 to ``maximum``."""
    if not isinstance(value, Mapping):
        raise ValidationError(field, value, "must be a mapping of names to numbers")
    out = {}
    for key, number in value.items():
        text(field, key)
        out[key] = _dec(f"{field}.{key}", number, minimum=ZERO, maximum=maximum)
    return out


def _weight(value: Any) -> Decimal:
    return _dec("weight", value)


def _cap(value: Any) -> Decimal:
    return _dec("cap", value)


def _low(value: Any) -> Decimal:
    return _dec("low", value)


def _high(value: Any) -> Decimal:
    return _dec("high", value)


def _base_bonus(value: Any) -> Decimal:
    amount = exact(value, "base_bonus")  # yuan: at most MAX_AMOUNT, whole fen
    if amount < 0:
        raise ValidationError("base_bonus", value, "must not be below 0")
    return amount


def _praise_points(value: Any) -> Decimal:
    return _dec("praise_points", value, minimum=ZERO, maximum=HUNDRED)


def _vendor_threshold(value: Any) -> Decimal | None:
    return None if value is None else _dec("vendor_threshold", value, minimum=ZERO, maximum=HUNDRED)


def _vendor_rate(value: Any) -> Decimal | None:
    if value is None:
        return None
    return _dec("vendor_deduction_rate", value, minimum=ZERO, maximum=Decimal(1))


def _label(value: Any) -> None:
    text("label", value, required=False)


def _no_data(value: Any) -> Decimal | None:
    return None if value is None else _dec("no_data", value)


def _rule_kind(value: Any) -> RuleKind:
    return enum_member(RuleKind, "rule", value)


class RuleKind(enum.StrEnum):
    LINEAR = "linear"  # 0 points at the floor, 100 at the target, straight between
    THRESHOLD = "threshold"  # 100 points at or above the target, else 0
    INVERSE = "inverse"  # lower is better: 100 at or below the target, 0 at the floor
    STEPPED = "stepped"  # points by bands of the value


@attrs.frozen
class Rule:
    """How a metric's value becomes points (0..100). ``steps`` (stepped rules) are
    (from value, points) pairs; with ``lower_is_better`` a value at or *below* a step's
    value earns its points."""

    kind: RuleKind = attrs.field(converter=_rule_kind)
    target: Decimal | None = None
    floor: Decimal | None = None
    steps: tuple[tuple[Decimal, Decimal], ...] = ()
    lower_is_better: bool = False

    def __attrs_post_init__(self) -> None:
        k = self.kind
        if k in (RuleKind.LINEAR, RuleKind.INVERSE, RuleKind.THRESHOLD) and self.target is None:
            raise ValidationError("target", None, f"a {k.value} rule needs a target")
        if k is RuleKind.LINEAR and (self.floor is None or self.floor >= self.target):  # type: ignore[operator]
            raise ValidationError(
                "floor", self.floor, f"a linear rule's floor is below its target {self.target}"
            )
        if k is RuleKind.INVERSE and (self.floor is None or self.floor <= self.target):  # type: ignore[operator]
            raise ValidationError(
                "floor",
                self.floor,
                f"an inverse rule's floor (worst value) is above its target {self.target}",
            )
        if k is RuleKind.STEPPED:
            if not self.steps:
                raise ValidationError("steps", (), "a stepped rule needs at least one step")
            values = [v for v, _ in self.steps]
            points = [p for _, p in self.steps]
            ordered = sorted(values, reverse=self.lower_is_better)
            if values != ordered or len(set(values)) != len(values):
                raise ValidationError(
                    "steps", [str(v) for v in values], "step values must be distinct and in order"
                )
            if any(p < 0 or p > HUNDRED for p in points) or points != sorted(points):
                raise ValidationError(
                    "steps",
                    [str(p) for p in points],
                    "step points run from 0 to 100, never falling",
                )

    def points(self, value: Decimal) -> Decimal:
        """Points for ``value``, 0..100; a better value never scores lower."""
        k = self.kind
        if k is RuleKind.THRESHOLD:
            assert self.target is not None
            return HUNDRED if value >= self.target else ZERO
        if k is RuleKind.LINEAR or k is RuleKind.INVERSE:
            assert self.target is not None and self.floor is not None
            share = (value - self.floor) / (self.target - self.floor)
            return min(HUNDRED, max(ZERO, share * HUNDRED))
        got = ZERO
        for bar, points in self.steps:
            if (value <= bar) if self.lower_is_better else (value >= bar):
                got = points
        return got

    def describe(self) -> str:
        k = self.kind
        if k is RuleKind.THRESHOLD:
            return f"≥ {self.target}: 100, else 0"
        if k is RuleKind.LINEAR:
            return f"linear {self.floor} → {self.target}"
        if k is RuleKind.INVERSE:
            return f"lower is better: {self.target} → 100, {self.floor} → 0"
        sign = "≤" if self.lower_is_better else "≥"
        return "; ".join(f"{sign} {v}: {p}" for v, p in self.steps)


def _rule(value: Any) -> Rule:
    if isinstance(value, Rule):
        return value
    if not isinstance(value, Mapping):
        raise ValidationError("rule", value, "must be a Rule or a mapping")
    steps = tuple(
        (_dec("steps.value", v), _dec("steps.points", p)) for v, p in value.get("steps", ())
    )
    return Rule(
        kind=value.get("kind"),
        target=None if value.get("target") is None else _dec("target", value["target"]),
        floor=None if value.get("floor") is None else _dec("floor", value["floor"]),
        steps=steps,
        lower_is_better=bool(value.get("lower_is_better", False)),
    )


@attrs.frozen
class Kpi:
    """A metric, its weight, how it scores, its cap and what happens without data:
    ``no_data`` None excludes it (the other weights are re-normalised), a number gives
    those fixed points."""

    metric: str = attrs.field(validator=non_empty("metric"))
    weight: Decimal = attrs.field(converter=_weight)
    rule: Rule = attrs.field(converter=_rule)
    cap: Decimal = attrs.field(default=HUNDRED, converter=_cap)
    no_data: Decimal | None = attrs.field(default=None, converter=_no_data)
    label: str = attrs.field(default="", validator=lambda _i, _a, v: _label(v))

    def __attrs_post_init__(self) -> None:
        if self.weight <= 0:
            raise ValidationError(f"weight of {self.metric}", self.weight, "must be above 0")
        if not ZERO < self.cap <= HUNDRED:
            raise ValidationError(
                f"cap of {self.metric}", self.cap, "must be above 0 and at most 100"
            )
        if self.no_data is not None and not ZERO <= self.no_data <= self.cap:
            raise ValidationError(
                f"no_data of {self.metric}",
                self.no_data,
                f"fixed points run from 0 to the cap {self.cap}",
            )


@attrs.frozen
class Band:
    """Totals from ``low`` (inclusive) to ``high`` (exclusive; the top band includes 100)."""

    grade: str = attrs.field(validator=non_empty("grade"))
    low: Decimal = attrs.field(converter=_low)
    high: Decimal = attrs.field(converter=_high)


def check_bands(bands: Sequence[Band]) -> tuple[Band, ...]:
    """Bands sorted from the lowest; they must cover 0..100 with no gap or overlap."""
    bands = _items("bands", bands, Band)
    if not bands:
        raise ValidationError("bands", [], "give at least one grade band")
    ordered = sorted(bands, key=lambda b: b.low)
    if len({b.grade for b in ordered}) != len(ordered):
        raise ValidationError("bands", [b.grade for b in ordered], "grades must be distinct")
    if ordered[0].low != 0:
        raise ValidationError("bands", ordered[0].low, "the lowest band starts at 0")
    for before, band in itertools.pairwise(ordered):
        if band.low > before.high:
            raise ValidationError(
                "bands",
                f"{before.high}..{band.low}",
                f"a gap between {before.grade} and {band.grade}",
            )
        if band.low < before.high:
            raise ValidationError(
                "bands", f"{band.low}..{before.high}", f"{before.grade} and {band.grade} overlap"
            )
    for band in ordered:
        if band.high <= band.low:
            raise ValidationError("bands", band.grade, "a band's high is above its low")
    if ordered[-1].high != HUNDRED:
        raise ValidationError(
            "bands", ordered[-1].high, "the top band ends at 100 (and includes it)"
        )
    return tuple(ordered)


def grade_of(bands: Sequence[Band], total: Decimal) -> str:
    """The band of ``total``; 100 is the top band's."""
    for band in bands:
        if band.low <= total < band.high:
            return band.grade
    if total == bands[-1].high:
        return bands[-1].grade
    raise ValidationError("total", total, "is outside 0..100")


def _multipliers(value: Mapping[str, Any]) -> dict[str, Decimal]:
    return _grades("multipliers", value, maximum=HUNDRED)


def _levels(value: Mapping[str, Any]) -> dict[str, Decimal]:
    return _grades("inspection_weights", value, maximum=HUNDRED)


def calibration_limits(value: Any) -> dict[str, Decimal]:
    """A forced distribution as :func:`calibrate` takes it: grade -> share from 0 to 1."""
    return _grades("calibration", value, maximum=Decimal(1))


def _items(field: str, value: Any, kind: type[Any]) -> tuple[Any, ...]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise ValidationError(field, value, f"must be a list of {kind.__name__}")
    items = tuple(value)
    if len(items) > 100:
        raise ValidationError(field, len(items), "at most 100")
    for i, item in enumerate(items):
        if not isinstance(item, kind):
            raise ValidationError(f"{field}[{i}]", item, f"must be a {kind.__name__}")
    return items


def _kpis(value: Iterable[Kpi]) -> tuple[Kpi, ...]:
    return _items("kpis", value, Kpi)


def _first_of_month(_inst: Any, attribute: Any, value: date) -> None:
    valid_date(attribute.name)(_inst, attribute, value)
    if value.day != 1:
        raise ValidationError(
            attribute.name, value, "a scorecard takes effect on the first of a month"
        )


@attrs.frozen
class Scorecard:
    """The KPIs of a role (or of vendors), versioned by effective date, with the grade
    bands, the pay link (a multiplier per grade on a base bonus) and the manual inputs'
    weights (the three inspection levels, which sum to 100)."""

    estate_id: int
    role: str = attrs.field(validator=non_empty("role"))
    effective_from: date = attrs.field(validator=_first_of_month)
    kpis: tuple[Kpi, ...] = attrs.field(converter=_kpis)
    bands: tuple[Band, ...] = attrs.field(converter=check_bands)
    multipliers: Mapping[str, Decimal] = attrs.field(factory=dict, converter=_multipliers)
    base_bonus: Decimal = attrs.field(default=ZERO, converter=_base_bonus)
    inspection_weights: Mapping[str, Decimal] = attrs.field(
        converter=_levels,
        factory=lambda: {
            "team_leader": Decimal(30),
            "supervisor": Decimal(30),
            "area_steward": Decimal(40),
        },
    )
    praise_points: Decimal = attrs.field(default=ZERO, converter=_praise_points)
    vendor_threshold: Decimal | None = attrs.field(default=None, converter=_vendor_threshold)
    # a share of the vendor's monthly fee
    vendor_deduction_rate: Decimal | None = attrs.field(default=None, converter=_vendor_rate)
    version: int = 1
    id: int = 0

    def __attrs_post_init__(self) -> None:
        if not self.kpis:
            raise ValidationError("kpis", (), "a scorecard needs at least one KPI")
        metrics = [k.metric for k in self.kpis]
        if len(set(metrics)) != len(metrics):
            raise ValidationError("kpis", metrics, "each metric once")
        total = sum((k.weight for k in self.kpis), ZERO)
        if total != HUNDRED:
            raise ValidationError(
                "weights",
                {k.metric: str(k.weight) for k in self.kpis},
                f"sum to {total}, not exactly 100",
            )
        grades = {b.grade for b in self.bands}
        if self.multipliers and set(self.multipliers) != grades:
            raise ValidationError(
                "multipliers",
                sorted(self.multipliers),
                f"give one for each grade: {sorted(grades)}",
            )
        levels = {"team_leader", "supervisor", "area_steward"}
        if set(self.inspection_weights) != levels:
            raise ValidationError(
                "inspection_weights", sorted(self.inspection_weights), f"name {sorted(levels)}"
            )
        if sum(self.inspection_weights.values(), ZERO) != HUNDRED:
            raise ValidationError(
                "inspection_weights", {k: str(v) for k, v in self.inspection_weights.items()},
                "must sum to exactly 100",
            )  # fmt: skip


@attrs.frozen
class KpiLine:
    """One KPI of a result: the explanation a supervisor shows the employee."""

    metric: str
    value: Decimal | None
    target: Decimal | None
    rule: str
    points: Decimal | None  # None: excluded (no data)
    weight: Decimal
    weighted: Decimal  # its share of the total, after re-normalisation
    note: str = ""


@attrs.frozen
class Score:
    total: Decimal | None  # None: no data at all, not scored
    lines: tuple[KpiLine, ...]
    commendations: Decimal = ZERO
    deductions: Decimal = ZERO
    grade: str | None = None
    bonus: Decimal = ZERO


def score(
    card: Scorecard,
    values: Mapping[str, Decimal | None],
    *,
    commendations: Decimal = ZERO,
    deductions: Decimal = ZERO,
) -> Score:
    """Score one person (or team, or vendor) by ``card`` from the metric ``values``."""
    lines: list[tuple[Kpi, Decimal | None, Decimal | None, str]] = []
    for kpi in card.kpis:
        value = values.get(kpi.metric)
        if value is None:
            lines.append(
                (
                    kpi,
                    None,
                    kpi.no_data,
                    "no data: " + ("excluded" if kpi.no_data is None else "fixed points"),
                )
            )
        else:
            lines.append((kpi, value, min(kpi.rule.points(value), kpi.cap), ""))
    used = sum((k.weight for k, _v, p, _n in lines if p is not None), ZERO)
    if used == 0:
        return Score(
            None,
            tuple(
                KpiLine(k.metric, v, k.rule.target, k.rule.describe(), None, k.weight, ZERO, n)
                for k, v, _p, n in lines
            ),
        )
    out = []
    # The total is computed exactly, as one fraction: summing rounded shares could land a
    # total on the other side of x.xx5 than the exact one (and a grade with it).
    weighted = Fraction(0)
    for kpi, value, points, note in lines:
        if points is not None:
            weighted += Fraction(kpi.weight) * Fraction(points)
        share = ZERO if points is None else kpi.weight * points / used
        share = share.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)  # shown to four places
        out.append(
            KpiLine(
                kpi.metric,
                value,
                kpi.rule.target,
                kpi.rule.describe(),
                points,
                kpi.weight,
                share,
                note,
            )
        )
    exact = weighted / Fraction(used) + Fraction(commendations) - Fraction(deductions)
    total = _cents_half_up(min(Fraction(100), max(Fraction(0), exact)))
    grade = grade_of(card.bands, total)
    multiplier = card.multipliers.get(grade, ZERO)
    bonus = (card.base_bonus * multiplier).quantize(CENT, rounding=ROUND_HALF_UP)
    return Score(total, tuple(out), commendations, deductions, grade, bonus)


def _cents_half_up(value: Fraction) -> Decimal:
    """A non-negative fraction to the cent, half up, without any intermediate rounding."""
    hundredths = value * 100
    whole, rest = divmod(hundredths.numerator, hundredths.denominator)
    if 2 * rest >= hundredths.denominator:
        whole += 1
    return (Decimal(whole) / 100).quantize(CENT)


def rank_within(totals: Mapping[int, tuple[Any, Decimal | None]]) -> dict[int, int | None]:
    """Competition ranking (1, 2, 2, 4) of each subject within its group (its team);
    the unscored get None. ``totals``: subject -> (group, total)."""
    by_group: dict[Any, list[tuple[int, Decimal]]] = {}
    for subject, (group, total) in totals.items():
        if total is not None:
            by_group.setdefault(group, []).append((subject, total))
    ranks: dict[int, int | None] = dict.fromkeys(totals)
    for members in by_group.values():
        members.sort(key=lambda m: -m[1])
        for i, (subject, total) in enumerate(members):
            ranks[subject] = 1 + sum(1 for _s, t in members if t > total) if i else 1
    return ranks


def calibrate(
    bands: Sequence[Band],
    results: Mapping[int, tuple[Decimal, str, Decimal]],
    limits: Mapping[str, Decimal],
) -> dict[int, str]:
    """A forced distribution: at most ``limits[grade]`` (a share, 0.2 for 20%) of the
    scored people in each capped grade; the rest move down one grade at a time.

    Deterministic: within a grade, people keep their place by total, then by the points
    of their heaviest KPI (``results``: subject -> (total, grade, heaviest KPI's
    weighted points)), then by the lower subject id; the last in that order move down.
    Returns subject -> grade after calibration.
    """
    order = [b.grade for b in sorted(bands, key=lambda b: b.low, reverse=True)]
    for grade, share in limits.items():
        if grade not in order:
            raise ValidationError("limits", grade, f"is not a grade: {order}")
        if not ZERO <= _dec(f"limits.{grade}", share) <= 1:
            raise ValidationError(f"limits.{grade}", share, "is a share from 0 to 1")
    n = len(results)
    grades = {s: g for s, (_t, g, _k) in results.items()}
    for i, grade in enumerate(order[:-1]):
        if grade not in limits:
            continue
        allowed = math.floor(Decimal(limits[grade]) * n)
        members = sorted(
            (s for s, g in grades.items() if g == grade),
            key=lambda s: (-results[s][0], -results[s][2], s),
        )
        for s in members[allowed:]:
            grades[s] = order[i + 1]
    return grades


# --- keeping scorecards and results as JSON ---------------------------------------------


def card_body(card: Scorecard) -> dict[str, Any]:
    def rule(r: Rule) -> dict[str, Any]:
        return {
            "kind": r.kind.value,
            "target": None if r.target is None else str(r.target),
            "floor": None if r.floor is None else str(r.floor),
            "steps": [[str(v), str(p)] for v, p in r.steps],
            "lower_is_better": r.lower_is_better,
        }

    return {
        "kpis": [
            {"metric": k.metric, "weight": str(k.weight), "rule": rule(k.rule), "cap": str(k.cap),
             "no_data": None if k.no_data is None else str(k.no_data), "label": k.label}
            for k in card.kpis
        ],
        "bands": [[b.grade, str(b.low), str(b.high)] for b in card.bands],
        "multipliers": {g: str(m) for g, m in card.multipliers.items()},
        "base_bonus": str(card.base_bonus),
        "inspection_weights": {k: str(v) for k, v in card.inspection_weights.items()},
        "praise_points": str(card.praise_points),
        "vendor_threshold": None if card.vendor_threshold is None else str(card.vendor_threshold),
        "vendor_deduction_rate": None
        if card.vendor_deduction_rate is None
        else str(card.vendor_deduction_rate),
    }  # fmt: skip


def card_from(
    estate_id: int, role: str, effective_from: date, body: Mapping[str, Any], *, version: int = 1,
    card_id: int = 0,
) -> Scorecard:  # fmt: skip
    def opt(v: Any) -> Decimal | None:
        return None if v is None else Decimal(v)

    return Scorecard(
        estate_id=estate_id,
        role=role,
        effective_from=effective_from,
        kpis=tuple(
            Kpi(
                k["metric"],
                Decimal(k["weight"]),
                k["rule"],
                Decimal(k["cap"]),
                opt(k["no_data"]),
                k.get("label", ""),
            )
            for k in body["kpis"]
        ),
        bands=tuple(Band(g, Decimal(lo), Decimal(hi)) for g, lo, hi in body["bands"]),
        multipliers={g: Decimal(m) for g, m in body["multipliers"].items()},
        base_bonus=Decimal(body["base_bonus"]),
        inspection_weights={k: Decimal(v) for k, v in body["inspection_weights"].items()},
        praise_points=Decimal(body["praise_points"]),
        vendor_threshold=opt(body.get("vendor_threshold")),
        vendor_deduction_rate=opt(body.get("vendor_deduction_rate")),
        version=version,
        id=card_id,
    )
