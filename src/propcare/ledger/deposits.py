"""Deposits (押金): collected, held, inspected, refunded in full or with deductions.

The renovation deposit (装修押金) is taken when the renovation permit is issued,
held per unit, and refunded after the renovation inspection (装修验房), less any
deductions, each with its reason. The money moves through the journal: collecting
debits cash and credits deposits held; refunding debits deposits held and credits
cash for the part paid back and revenue ``deposit_deduction`` for each deduction.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

import attrs

from propcare.errors import InvalidTransition, ValidationError
from propcare.ledger.accounts import Account
from propcare.money import exact
from propcare.validators import non_empty

__all__ = ["Deduction", "Deposit", "DepositStatus", "Till", "require_step"]


class DepositStatus(enum.StrEnum):
    HELD = "held"
    INSPECTED = "inspected"
    REFUNDED = "refunded"


# What may happen next, by status.
_NEXT: Mapping[str, frozenset[DepositStatus]] = {
    "inspect": frozenset({DepositStatus.HELD}),
    "refund": frozenset({DepositStatus.INSPECTED}),
}


def _deduction_amount(value: Decimal | int | str) -> Decimal:
    return exact(value, "deduction amount")


@attrs.frozen
class Deduction:
    reason: str = attrs.field(validator=non_empty("deduction reason"))
    amount: Decimal = attrs.field(converter=_deduction_amount)

    def __attrs_post_init__(self) -> None:
        if self.amount <= 0:
            raise ValidationError("deduction amount", self.amount, "must be more than zero")


@attrs.frozen
class Deposit:
    id: int
    estate_id: int
    unit_id: int
    purpose: str
    amount: Decimal
    status: DepositStatus
    collected_at: datetime
    inspected_at: datetime | None = None
    inspection_passed: bool | None = None
    inspection_note: str = ""
    refunded_at: datetime | None = None
    deductions: tuple[Deduction, ...] = ()

    @property
    def refunded_amount(self) -> Decimal:
        return self.amount - sum((d.amount for d in self.deductions), Decimal("0.00"))


def require_step(deposit: Deposit, step: str) -> None:
    if deposit.status not in _NEXT[step]:
        allowed = ", ".join(sorted(s.value for s in _NEXT[step]))
        raise InvalidTransition(
            "deposit", deposit.id, f"cannot {step} a {deposit.status.value} deposit; only {allowed}"
        )


class Till(enum.StrEnum):
    CASH = "cash"
    POS = "pos"
    TRANSFER = "transfer"

    @property
    def account(self) -> Account:
        return Account.CASH if self is Till.CASH else Account.BANK
