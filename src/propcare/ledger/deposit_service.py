"""The deposit service (``app.deposits``): collect, inspect, refund."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal

import attrs

from propcare.access import Actor
from propcare.errors import ValidationError
from propcare.ledger.accounts import Account, EntryKind
from propcare.ledger.deposits import Deduction, Deposit, DepositStatus, Till, require_step
from propcare.ledger.journal import JournalEntry, Posting
from propcare.money import exact, to_fen
from propcare.registry.model import EstateId, Unit, UnitId
from propcare.service import Service
from propcare.storage.ports import UnitOfWork
from propcare.validators import NOTE_MAX, enum_member, flag, text

__all__ = ["DepositService"]


def _deductions(value: object) -> tuple[Deduction, ...]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise ValidationError("deductions", value, "must be a list of Deduction")
    items = tuple(value)
    if len(items) > 100:
        raise ValidationError("deductions", len(items), "at most 100")
    for i, item in enumerate(items):
        if not isinstance(item, Deduction):
            raise ValidationError(f"deductions[{i}]", item, "must be a Deduction")
    return items


class DepositService(Service):
    """``app.deposits``: collect, inspect, refund."""

    def collect(
        self,
        actor: Actor,
        unit_id: UnitId,
        amount: Decimal,
        *,
        purpose: str = "renovation",
        method: str = "cash",
        at: datetime | None = None,
    ) -> Deposit:
        actor = self._actor(actor)
        value = exact(amount, "amount")
        if value <= 0:
            raise ValidationError("amount", amount, "a deposit is more than zero")
        if not isinstance(purpose, str) or not purpose.strip():
            raise ValidationError("purpose", purpose, "say what the deposit is for")
        text("purpose", purpose)
        till = enum_member(Till, "method", method)
        when = self._money_at(at, what="a deposit")
        with self._app.unit_of_work() as uow:
            unit: Unit = self._get(uow, actor, uow.units, "unit", unit_id, "ledger.deposit")
            next_id = uow.deposits.next_id()
            entry_id, _ = self._app.ledger.post_in(
                uow,
                JournalEntry(
                    estate_id=unit.estate_id,
                    kind=EntryKind.DEPOSIT,
                    at=when,
                    key=f"deposit:{next_id}",
                    actor=actor.name,
                    memo=purpose,
                    postings=(
                        Posting(till.account, to_fen(value)),
                        Posting(Account.DEPOSITS_HELD, -to_fen(value), unit_id=unit.id),
                    ),
                ),
            )
            deposit = Deposit(
                id=next_id,
                estate_id=unit.estate_id,
                unit_id=unit.id,
                purpose=purpose.strip(),
                amount=value,
                status=DepositStatus.HELD,
                collected_at=when,
            )
            uow.deposits.add(deposit, entry_id)
            self._app.ledger.issue_receipt_in(uow, unit.estate_id, entry_id, when)
            uow.commit()
        return self.get(actor, next_id)

    def inspect(
        self,
        actor: Actor,
        deposit_id: int,
        *,
        passed: bool,
        note: str = "",
        at: datetime | None = None,
    ) -> Deposit:
        """Record the inspection (装修验房); deductions are decided at the refund. ``at`` is
        not more than a day ahead of the app's clock."""
        actor = self._actor(actor)
        flag("passed", passed)
        text("note", note, max_length=NOTE_MAX, required=False)
        when = self._money_at(at, what="an inspection")
        with self._app.unit_of_work() as uow:
            deposit = self._load(uow, actor, deposit_id, "ledger.deposit")
            require_step(deposit, "inspect")
            uow.deposits.inspected(
                attrs.evolve(
                    deposit,
                    status=DepositStatus.INSPECTED,
                    inspected_at=when,
                    inspection_passed=passed,
                    inspection_note=note,
                )
            )
            uow.commit()
        return self.get(actor, deposit_id)

    def refund(
        self,
        actor: Actor,
        deposit_id: int,
        *,
        deductions: Sequence[Deduction] = (),
        method: str = "cash",
        at: datetime | None = None,
    ) -> Deposit:
        """Pay the deposit back less ``deductions`` (each with its reason; at most 100).
        ``at`` is not more than a day ahead of the app's clock."""
        actor = self._actor(actor)
        items = _deductions(deductions)
        till = enum_member(Till, "method", method)
        when = self._money_at(at, what="a refund")
        with self._app.unit_of_work() as uow:
            deposit = self._load(uow, actor, deposit_id, "ledger.refund")
            require_step(deposit, "refund")
            kept = sum((d.amount for d in items), Decimal("0.00"))
            if kept > deposit.amount:
                raise ValidationError(
                    "deductions", str(kept), f"more than the deposit of {deposit.amount}"
                )
            postings = [Posting(Account.DEPOSITS_HELD, to_fen(deposit.amount), deposit.unit_id)]
            back = deposit.amount - kept
            if back > 0:
                postings.append(Posting(till.account, -to_fen(back)))
            postings += [
                Posting(Account.REVENUE, -to_fen(d.amount), sub="deposit_deduction") for d in items
            ]
            entry_id, _ = self._app.ledger.post_in(
                uow,
                JournalEntry(
                    estate_id=deposit.estate_id,
                    kind=EntryKind.DEPOSIT_REFUND,
                    at=when,
                    key=f"deposit-refund:{deposit.id}",
                    actor=actor.name,
                    memo="; ".join(f"{d.reason}: -{d.amount}" for d in items),
                    postings=tuple(postings),
                ),
            )
            uow.deposits.refunded(
                attrs.evolve(
                    deposit, status=DepositStatus.REFUNDED, refunded_at=when, deductions=items
                ),
                entry_id,
            )
            uow.commit()
        return self.get(actor, deposit_id)

    def get(self, actor: Actor, deposit_id: int) -> Deposit:
        with self._app.unit_of_work(readonly=True) as uow:
            return self._load(uow, self._actor(actor), deposit_id, "ledger.read")

    def held(self, actor: Actor, estate_id: EstateId) -> list[Deposit]:
        """Deposits not yet refunded."""
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, self._actor(actor), estate_id, "ledger.read")
            return uow.deposits.not_refunded(estate.id)

    def _load(self, uow: UnitOfWork, actor: Actor, deposit_id: object, action: str) -> Deposit:
        deposit: Deposit = self._get(uow, actor, uow.deposits, "deposit", deposit_id, action)
        return deposit
