"""Allocating a payment over a unit's open receivables. Pure: no IO, integer fen only.

Three rules: oldest period first (the default, and what owners expect: arrears are
cleared before the current bill), by fee-item priority (a contract may say parking
is paid before the property fee), or as the payer specifies line by line. Whatever
the rule, the lines plus the owner credit sum exactly to the payment and no line
exceeds what its receivable still owes.

Within a period, principal is paid before late fees by default (:class:`Order`): a late
fee paid first would leave part of the fee open to accrue more late fees. The estate's
contract may say otherwise; the order is the ``ledger.allocation`` setting.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from propcare.errors import ConfigError, ValidationError
from propcare.validators import MAX_ID, bounded_int, text

__all__ = [
    "LATE_FEE",
    "Allocation",
    "AllocationPlan",
    "AsSpecified",
    "ByPriority",
    "Order",
    "Rule",
    "allocate",
    "allocation_order",
    "check_rule",
    "take_back",
]

OpenItem = tuple[str, str, int]  # (fee item, period, fen still owed)
LATE_FEE = "late_fee"  # the fee item of late-fee receivables (billing.RESERVED_CODES)


class Order(enum.StrEnum):
    """Where late fees come when a payment is spread oldest period first.

    ``principal_first`` (the default): each period's fees, then that period's late fees;
    ``late_fees_first``: each period's late fees, then its fees (民法典 art. 561 pays
    interest before principal, where a contract adopts it); ``all_principal_first``:
    every period's fees, oldest first, before any late fee.
    """

    PRINCIPAL_FIRST = "principal_first"
    LATE_FEES_FIRST = "late_fees_first"
    ALL_PRINCIPAL_FIRST = "all_principal_first"


def _order_key(order: Order) -> Callable[[OpenItem], tuple[Any, ...]]:
    # Fee items of one rank are taken by code, so the order never depends on storage.
    if order is Order.LATE_FEES_FIRST:
        return lambda i: (i[1], i[0] != LATE_FEE, i[0])
    if order is Order.ALL_PRINCIPAL_FIRST:
        return lambda i: (i[0] == LATE_FEE, i[1], i[0])
    return lambda i: (i[1], i[0] == LATE_FEE, i[0])


def allocation_order(settings: Mapping[str, Any], key: str = "ledger.allocation") -> Order:
    """The ``ledger`` section's ``allocation`` (default ``principal_first``); ConfigError
    naming the key for anything else."""
    value = settings.get("allocation", Order.PRINCIPAL_FIRST.value)
    try:
        return Order(value)
    except (ValueError, TypeError):
        raise ConfigError(
            key, value, f"must be one of {', '.join(o.value for o in Order)}"
        ) from None


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


def _oldest_first(items: Sequence[OpenItem], order: Order) -> list[OpenItem]:
    return sorted(items, key=_order_key(order))


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


def allocate(
    open_items: Sequence[OpenItem],
    amount_fen: int,
    rule: Rule = None,
    order: Order = Order.PRINCIPAL_FIRST,
) -> AllocationPlan:
    """Spread ``amount_fen`` (> 0) over ``open_items`` by ``rule`` (None: oldest period
    first, late fees placed by ``order``).

    Receivables owing nothing or in credit are skipped: a payment never makes a
    line negative; an overpayment becomes owner credit instead.
    """
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
        raise ValidationError("amount_fen", amount_fen, "a payment is a positive number of fen")
    owing = [i for i in open_items if i[2] > 0]
    if rule is None:
        return _greedy(_oldest_first(owing, order), amount_fen)
    if isinstance(rule, ByPriority):
        rank = {item: n for n, item in enumerate(rule.fee_items)}
        then = _order_key(order)  # items not named follow in the default order
        ranked = sorted(owing, key=lambda i: (rank.get(i[0], len(rank)), then(i)))
        return _greedy(ranked, amount_fen)
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


def take_back(
    lines: Iterable[OpenItem], paid: Mapping[tuple[str, str], int]
) -> tuple[list[OpenItem], int]:
    """Split what a refund or a reversal takes back from a payment's lines: each line
    reopens by at most what payments still settle on it (``paid``: settled, less what
    owner credit settles), and the rest comes out of owner credit, where a reversed
    bill released that money. Returns (the lines to reopen, fen from owner credit)."""
    room = dict(paid)
    reopen: list[OpenItem] = []
    from_credit = 0
    for fee_item, period, fen in lines:
        take = min(fen, max(room.get((fee_item, period), 0), 0))
        if take:
            reopen.append((fee_item, period, take))
            room[(fee_item, period)] -= take
        from_credit += fen - take
    return reopen, from_credit
