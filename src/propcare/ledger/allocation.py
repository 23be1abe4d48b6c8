"""Allocating a payment over a unit's open receivables. Pure: no IO, integer fen only.

Three rules: oldest period first (the default, and what owners expect: arrears are
cleared before the current bill), by fee-item priority (a contract may say parking
is paid before the property fee), or as the payer specifies line by line. Whatever
the rule, the lines plus the owner credit sum exactly to the payment and no line
exceeds what its receivable still owes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from propcare.errors import ValidationError
from propcare.validators import MAX_ID, bounded_int, text

__all__ = [
    "Allocation",
    "AllocationPlan",
    "AsSpecified",
    "ByPriority",
    "Rule",
    "allocate",
    "check_rule",
]

OpenItem = tuple[str, str, int]  # (fee item, period, fen still owed)


@attrs.frozen
class Allocation:
    """``fen`` of a payment settles the receivable (``fee_item``, ``period``)."""

    fee_item: str
    period: str
    fen: int


@attrs.frozen
class AllocationPlan:
    lines: tuple[Allocation, ...]
    credit_fen: int  # what is left over becomes owner credit

    @property
    def total_fen(self) -> int:
        return sum(a.fen for a in self.lines) + self.credit_fen


def _items(value: Iterable[str]) -> tuple[str, ...]:
    return _fee_items(value)


def _spec(value: Iterable[tuple[str, str, int]]) -> tuple[tuple[str, str, int], ...]:
    return _lines(value)


def _sequence(field: str, value: Any) -> tuple[Any, ...]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise ValidationError(field, value, "must be a list")
    items = tuple(value)
    if len(items) > 1_000:
        raise ValidationError(field, len(items), "at most 1,000 lines")
    return items


def _fee_items(value: Any) -> tuple[str, ...]:
    items = _sequence("allocation", value)
    for item in items:
        text("allocation fee item", item)
    return items


def _lines(value: Any) -> tuple[tuple[str, str, int], ...]:
    lines = _sequence("allocation", value)
    for line in lines:
        if not isinstance(line, tuple | list) or len(line) != 3:
            raise ValidationError("allocation", line, "a line is (fee item, period, fen)")
        text("allocation fee item", line[0])
        text("allocation period", line[1])
        bounded_int("allocation fen", line[2], 1, MAX_ID)
    return tuple((line[0], line[1], line[2]) for line in lines)


def check_rule(rule: Any) -> Rule:
    """``rule`` if it is None or a well-formed ByPriority or AsSpecified (for a rule that
    reached a service without its own checks: a subclass, a mutated instance)."""
    if rule is None:
        return None
    if isinstance(rule, ByPriority):
        _fee_items(rule.fee_items)
        return rule
    if isinstance(rule, AsSpecified):
        _lines(rule.lines)
        return rule
    raise ValidationError("allocation", rule, "must be None, ByPriority or AsSpecified")


@attrs.frozen
class ByPriority:
    """Fee items in the order they are paid; items not named follow, oldest first."""

    fee_items: tuple[str, ...] = attrs.field(converter=_items)


@attrs.frozen
class AsSpecified:
    """The payer's own split: (fee item, period, fen) lines; the rest becomes credit."""

    lines: tuple[tuple[str, str, int], ...] = attrs.field(converter=_spec)


Rule = ByPriority | AsSpecified | None


def _oldest_first(items: Sequence[OpenItem]) -> list[OpenItem]:
    return sorted(items, key=lambda i: (i[1], i[0]))


def _greedy(order: Sequence[OpenItem], amount_fen: int) -> AllocationPlan:
    left = amount_fen
    lines: list[Allocation] = []
    for fee_item, period, owed in order:
        if left == 0:
            break
        take = min(owed, left)
        lines.append(Allocation(fee_item, period, take))
        left -= take
    return AllocationPlan(tuple(lines), left)


def allocate(open_items: Sequence[OpenItem], amount_fen: int, rule: Rule = None) -> AllocationPlan:
    """Spread ``amount_fen`` (> 0) over ``open_items`` by ``rule`` (None: oldest first).

    Receivables owing nothing or in credit are skipped: a payment never makes a
    line negative; an overpayment becomes owner credit instead.
    """
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
        raise ValidationError("amount_fen", amount_fen, "a payment is a positive number of fen")
    owing = [i for i in open_items if i[2] > 0]
    if rule is None:
        return _greedy(_oldest_first(owing), amount_fen)
    if isinstance(rule, ByPriority):
        rank = {item: n for n, item in enumerate(rule.fee_items)}
        order = sorted(owing, key=lambda i: (rank.get(i[0], len(rank)), i[1], i[0]))
        return _greedy(order, amount_fen)
    if isinstance(rule, AsSpecified):
        owed = {(i[0], i[1]): i[2] for i in owing}
        lines: list[Allocation] = []
        seen: set[tuple[str, str]] = set()
        for fee_item, period, fen in rule.lines:
            key = (fee_item, period)
            if key in seen:
                raise ValidationError("allocation", key, "names the same receivable twice")
            seen.add(key)
            if isinstance(fen, bool) or not isinstance(fen, int) or fen <= 0:
                raise ValidationError("allocation", (fee_item, period, fen), "must be > 0 fen")
            if key not in owed:
                raise ValidationError("allocation", key, "is not an open receivable of the unit")
            if fen > owed[key]:
                raise ValidationError(
                    "allocation", (fee_item, period, fen), f"exceeds what is owed ({owed[key]} fen)"
                )
            lines.append(Allocation(fee_item, period, fen))
        spent = sum(a.fen for a in lines)
        if spent > amount_fen:
            raise ValidationError("allocation", spent, f"exceeds the payment ({amount_fen} fen)")
        return AllocationPlan(tuple(lines), amount_fen - spent)
    raise ValidationError("allocation", rule, "must be None, ByPriority or AsSpecified")
