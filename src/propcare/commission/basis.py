"""What a collector is paid on: cash collected and allocated, classed and attributed.

Pure functions over plain records; the storage backend reads the allocations in one
pass and the service hands them here.

- **Class** of a collected line, by the period of the bill it settled against the month
  the money came in: ``current`` (that month's or a later month's fees), ``arrears``
  (an earlier month of the same year) or ``old_arrears`` (an earlier year: 历史欠费), and
  ``prepayment`` for the part that became owner credit (预交, overpayment).
- **Attribution** (who collected it), in this order of precedence:
  1. with the rule ``dunning``, the collector whose dunning attempt on the unit came
     last within the window before the payment (the attempt that led to it);
  2. a split of the unit (shares of several collectors), or the unit's own collector;
  3. a split of the unit's building, or the building's collector.
  At one level the arrangement that started last wins. Money nobody is attributed
  for is reported as unattributed, never guessed.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

import attrs

from propcare.errors import ConfigError, ValidationError
from propcare.money import split_by_weights, to_fen
from propcare.validators import enum_member, optional_record_id, record_id, valid_date

__all__ = [
    "Attribution",
    "BasisClass",
    "BasisRow",
    "CreditedLine",
    "Split",
    "attribute",
    "attribution_rule",
    "basis_class",
    "check_shares",
]

HUNDRED = Decimal(100)


class BasisClass(enum.StrEnum):
    CURRENT = "current"  # the month's own fees, or later months paid ahead
    ARREARS = "arrears"  # an earlier month of the same year
    OLD_ARREARS = "old_arrears"  # an earlier year (历史欠费)
    PREPAYMENT = "prepayment"  # became owner credit (预交)


class Attribution(enum.StrEnum):
    ASSIGNMENT = "assignment"  # the unit's collector on the payment date
    DUNNING = "dunning"  # the collector whose attempt led to it, else the assignment


def attribution_rule(settings: Mapping[str, Any]) -> tuple[Attribution, timedelta]:
    """The ``commission`` configuration: who is credited (``attribution``) and how many
    days before a payment a dunning attempt counts (``dunning_window_days``)."""
    rule = enum_member(
        Attribution, "commission.attribution", settings.get("attribution", "assignment")
    )
    days = settings.get("dunning_window_days", 30)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 366:
        raise ConfigError("commission.dunning_window_days", days, "must be 1 to 366 days")
    return rule, timedelta(days=days)


@functools.lru_cache(maxsize=4096)
def basis_class(bill_period: str, paid_month: str) -> BasisClass:
    """Class a line by its bill's period ('YYYY-MM', '' for owner credit) against the
    month it was paid in ('YYYY-MM')."""
    if not bill_period:
        return BasisClass.PREPAYMENT
    if bill_period >= paid_month:
        return BasisClass.CURRENT
    if bill_period[:4] == paid_month[:4]:
        return BasisClass.ARREARS
    return BasisClass.OLD_ARREARS


class BasisRow(NamedTuple):
    """Net cash of one payment allocated to one receivable line (or to owner credit),
    as read from the allocations: positive when collected, negative when paid back.
    (A named tuple: a month has a hundred thousand of them.)"""

    payment_id: int
    txn: str  # provider:transaction id, the payment's name independent of its row id
    unit_id: int
    building_id: int
    fee_item: str  # '' for owner credit
    period: str  # '' for owner credit
    amount_fen: int
    at: datetime  # when the money was allocated (the payment, or the refund)
    paid_on: date  # the local date of ``at``


def check_shares(shares: Mapping[int, Decimal | str | int]) -> dict[int, Decimal]:
    """Staff id -> percent; every share positive and all summing to exactly 100."""
    if not isinstance(shares, Mapping):
        raise ValidationError("shares", shares, "must map staff ids to percent shares")
    if not shares:
        raise ValidationError("shares", dict(shares), "name at least one collector")
    if len(shares) > 1_000:
        raise ValidationError("shares", len(shares), "at most 1,000 collectors")
    out: dict[int, Decimal] = {}
    for staff, share in shares.items():
        if isinstance(staff, bool) or not isinstance(staff, int):
            raise ValidationError("shares", staff, "keys are staff ids")
        record_id("shares", staff)
        if isinstance(share, bool | float) or not isinstance(share, Decimal | int | str):
            raise ValidationError(f"shares[{staff}]", share, "a share is a Decimal percent")
        try:
            value = Decimal(share) if not isinstance(share, str) or len(share) <= 40 else None
        except ArithmeticError:
            value = None
        if value is None:
            raise ValidationError(f"shares[{staff}]", share, "not a number")
        if not value.is_finite() or not 0 < value <= HUNDRED:
            raise ValidationError(
                f"shares[{staff}]", share, "a share is a positive percent, at most 100"
            )
        out[staff] = value
    total = sum(out.values(), Decimal(0))
    if total != HUNDRED:
        raise ValidationError(
            "shares", {k: str(v) for k, v in out.items()}, f"sum to {total}, not 100"
        )
    return out


@attrs.frozen
class Split:
    """Several collectors share a building's or a unit's collections from ``start`` to
    ``end`` (inclusive), by percent shares that sum to exactly 100."""

    estate_id: int
    shares: Mapping[int, Decimal] = attrs.field(converter=check_shares)
    start: date = attrs.field(validator=valid_date("start"))
    building_id: int | None = None
    unit_id: int | None = None
    end: date | None = attrs.field(default=None, validator=valid_date("end", optional=True))
    id: int = 0

    def __attrs_post_init__(self) -> None:
        optional_record_id("building_id", self.building_id)
        optional_record_id("unit_id", self.unit_id)
        if (self.building_id is None) == (self.unit_id is None):
            raise ValidationError(
                "split", (self.building_id, self.unit_id), "name a building or a unit"
            )
        if self.end is not None and self.end < self.start:
            raise ValidationError("end", self.end, f"must not be before the start {self.start}")

    def covers(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


class CreditedLine(NamedTuple):
    """A collector's share of a basis row."""

    row: BasisRow
    staff_id: int
    amount_fen: int
    share: Decimal  # percent
    via: str  # "unit", "building", "split" or "dunning": how it was attributed


class _Arrangement:
    """A collector assignment or a split, reduced to what attribution needs."""

    __slots__ = ("building_id", "end", "shares", "start", "tie", "unit_id", "via")

    def __init__(
        self,
        unit_id: int | None,
        building_id: int | None,
        start: date,
        end: date | None,
        shares: tuple[tuple[int, Decimal], ...],
        via: str,
        tie: int,
    ) -> None:
        self.unit_id, self.building_id = unit_id, building_id
        self.start, self.end, self.shares, self.via, self.tie = start, end, shares, via, tie


class Attributor:
    """Attributes basis rows to collectors; built once per settlement, then O(1)-ish per
    row (arrangements are indexed by unit and building)."""

    def __init__(
        self,
        assignments: Iterable[Any],
        splits: Iterable[Split],
        *,
        rule: Attribution = Attribution.ASSIGNMENT,
        attempts: Mapping[int, Sequence[tuple[datetime, int]]] | None = None,
        window: timedelta = timedelta(days=30),
    ) -> None:
        self.rule = enum_member(Attribution, "attribution", rule)
        self.window = window
        # unit -> [(at, collector)] sorted by time: attempts that name a collector
        self.attempts = {u: sorted(a) for u, a in (attempts or {}).items()}
        self.by_unit: dict[int, list[_Arrangement]] = {}
        self.by_building: dict[int, list[_Arrangement]] = {}
        for n, a in enumerate(assignments):
            self._add(
                _Arrangement(
                    a.unit_id, a.building_id, a.start, a.end, ((a.staff_id, HUNDRED),),
                    "unit" if a.unit_id is not None else "building", n,
                )
            )  # fmt: skip
        for n, s in enumerate(splits):
            self._add(
                _Arrangement(
                    s.unit_id, s.building_id, s.start, s.end, tuple(sorted(s.shares.items())),
                    "split", n,
                )
            )  # fmt: skip
        self._cache: dict[tuple[int, int, date], _Arrangement | None] = {}
        self._by_building_day: dict[tuple[int, date], _Arrangement | None] = {}

    def _add(self, a: _Arrangement) -> None:
        if a.unit_id is not None:
            self.by_unit.setdefault(a.unit_id, []).append(a)
        elif a.building_id is not None:
            self.by_building.setdefault(a.building_id, []).append(a)

    def _arranged(self, unit_id: int, building_id: int, day: date) -> _Arrangement | None:
        if unit_id not in self.by_unit:  # nearly every unit: its building decides
            bkey = (building_id, day)
            try:
                return self._by_building_day[bkey]
            except KeyError:
                live = [
                    a
                    for a in self.by_building.get(building_id, ())
                    if a.start <= day and (a.end is None or day <= a.end)
                ]
                found = (
                    max(live, key=lambda a: (a.start, a.via == "split", a.tie)) if live else None
                )
                self._by_building_day[bkey] = found
                return found
        key = (unit_id, building_id, day)
        if key in self._cache:
            return self._cache[key]
        found = None
        for level in (self.by_unit.get(unit_id, ()), self.by_building.get(building_id, ())):
            live = [a for a in level if a.start <= day and (a.end is None or day <= a.end)]
            if live:
                found = max(live, key=lambda a: (a.start, a.via == "split", a.tie))
                break
        self._cache[key] = found
        return found

    def _dunned_by(self, unit_id: int, at: datetime) -> int | None:
        tried = self.attempts.get(unit_id)
        if not tried:
            return None
        for when, collector in reversed(tried):
            if when <= at:
                return collector if at - when <= self.window else None
        return None

    def credit(self, row: BasisRow) -> list[tuple[int, int, Decimal, str]]:
        """(staff id, fen, share, via) for each collector credited with ``row``; the fen
        sum exactly to the row's amount. Empty when nobody is attributed."""
        if self.rule is Attribution.DUNNING:
            who = self._dunned_by(row.unit_id, row.at)
            if who is not None:
                return [(who, row.amount_fen, HUNDRED, "dunning")]
        found = self._arranged(row.unit_id, row.building_id, row.paid_on)
        if found is None:
            return []
        shares = found.shares
        if len(shares) == 1:
            return [(shares[0][0], row.amount_fen, HUNDRED, found.via)]
        parts = split_by_weights(Decimal(row.amount_fen) / 100, [s for _, s in shares], "amount")
        return [
            (staff, to_fen(part), share, "split")
            for (staff, share), part in zip(shares, parts, strict=True)
        ]


def attribute(rows: Iterable[BasisRow], attributor: Attributor) -> tuple[list[CreditedLine], int]:
    """Credit every row; returns the credited lines and the fen nobody is attributed for."""
    lines: list[CreditedLine] = []
    append, new = lines.append, tuple.__new__
    nobody = 0
    by_unit = attributor.by_unit
    simple = attributor.rule is Attribution.ASSIGNMENT
    # (building, day) -> (collector, via) when one collector answers for the building
    single: dict[tuple[int, date], tuple[int, str] | None] = {}
    for row in rows:
        # By position (a hundred thousand rows): payment, txn, unit 2, building 3, fee
        # item, period, fen 6, at, paid on 8.
        if simple and row[2] not in by_unit:
            # Nearly every row: the building's one collector, no dunning rule to ask.
            key = (row[3], row[8])
            try:
                who = single[key]
            except KeyError:
                found = attributor._arranged(row.unit_id, row.building_id, row.paid_on)
                who = single[key] = (
                    (found.shares[0][0], found.via)
                    if found is not None and len(found.shares) == 1
                    else None
                )
            if who is not None:
                fen = row[6]
                if fen:
                    append(new(CreditedLine, (row, who[0], fen, HUNDRED, who[1])))
                continue
        credited = attributor.credit(row)
        if not credited:
            nobody += row.amount_fen
            continue
        for staff, fen, share, via in credited:
            if fen:
                append(new(CreditedLine, (row, staff, fen, share, via)))
    return lines, nobody
