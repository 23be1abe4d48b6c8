"""The journal as a service (``app.ledger``): posting, reversals, balances, receipts.

Billing, payments, deposits and arrears build on :meth:`LedgerService.post_in`,
which every money movement goes through: one balanced entry, idempotent by key,
its event in the same transaction.

A reversal that un-bills what was already paid (a bill entered with the wrong area, a
late fee charged in error) releases the paid money to the owner's credit in the same
transaction and applies it to the unit's other open bills (:meth:`LedgerService.release_in`),
so no receivable stays below zero and the money is never stranded.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from propcare.access import Actor, Resource
from propcare.errors import Conflict, InvalidTransition, NotFound, ValidationError
from propcare.ledger.accounts import DEBIT_NORMAL, Account, EntryKind
from propcare.ledger.events import EntryPosted
from propcare.ledger.journal import JournalEntry, Receipt, release, reversal
from propcare.money import from_fen
from propcare.registry.model import EstateId, UnitId
from propcare.service import Service
from propcare.storage.ports import UnitOfWork
from propcare.validators import NOTE_MAX, bounded_int, record_id, text

__all__ = ["LedgerService"]

# Receipts are numbered per estate and year from 1 (shown with six digits and more).
MAX_RECEIPT = 10**9


def _year(year: object) -> int:
    """A receipt year: money is dated from 1970 to 2099 (propcare.clock)."""
    return bounded_int("year", year, 1970, 2099)


class LedgerService(Service):
    def post_in(self, uow: UnitOfWork, entry: JournalEntry) -> tuple[int, bool]:
        """Post ``entry`` inside ``uow``; returns (entry id, whether it is new).

        The same key with the same postings returns the stored entry (a replayed
        request posts once); the same key with different postings is a Conflict.
        """
        existing = uow.ledger.by_key(entry.key)
        if existing is not None:
            stored = uow.ledger.get(existing)
            if stored is None or (stored.estate_id, stored.postings) != (
                entry.estate_id,
                entry.postings,
            ):
                raise Conflict("key", entry.key, "already used for a different entry")
            return existing, False
        if entry.reverses is not None and uow.ledger.reversed_by(entry.reverses) is not None:
            raise InvalidTransition("entry_id", entry.reverses, "has been reversed already")
        entry_id = uow.ledger.append(entry)
        self._publish(
            uow,
            EntryPosted(
                estate_id=EstateId(entry.estate_id),
                at=entry.at,
                entry_id=entry_id,
                kind=entry.kind.value,
                total_fen=entry.total_fen,
                reverses=entry.reverses,
            ),
            key=f"ledger:{entry.key}",
        )
        return entry_id, True

    def entry(self, actor: Actor, entry_id: int) -> JournalEntry:
        with self._app.unit_of_work(readonly=True) as uow:
            return self._load(uow, self._actor(actor), entry_id, "ledger.read")

    def reverse(
        self, actor: Actor, entry_id: int, reason: str, *, at: datetime | None = None
    ) -> int:
        """Post the entry that undoes ``entry_id``, dated now; returns its id.

        Only roles allowed ``ledger.reverse``; a reversal is not itself reversed, and
        an entry is reversed at most once. ``at`` is not more than a day ahead of the
        app's clock. Reversing a bill or late fee that was (partly) paid releases what
        was paid to the owner's credit and applies it to the unit's other open bills, in
        the same transaction. To re-bill a period with corrected terms in one step, use
        ``app.billing.correct``; a payment is undone by ``app.payments.reverse``.
        """
        actor = self._actor(actor)
        if not isinstance(reason, str) or not reason.strip():
            raise ValidationError("reason", reason, "a reversal needs a reason")
        text("reason", reason, max_length=NOTE_MAX)
        when = self._money_at(at)
        with self._app.unit_of_work() as uow:
            original = self._load(uow, actor, entry_id, "ledger.reverse")
            if original.kind is EntryKind.REVERSAL:
                raise InvalidTransition("entry_id", entry_id, "a reversal is not reversed")
            if uow.ledger.reversed_by(entry_id) is not None:
                raise InvalidTransition("entry_id", entry_id, "has been reversed already")
            undo = reversal(original, entry_id, at=when, actor=actor.name, reason=reason)
            new_id, _ = self.post_in(uow, undo)
            units = sorted({p.unit_id for p in undo.postings if p.unit_id is not None})
            for unit_id in units:
                if self.release_in(uow, undo.estate_id, unit_id, when, actor.name, undo.key):
                    self._app.payments.apply_credit_in(
                        uow, undo.estate_id, unit_id, when, actor.name
                    )
            uow.commit()
        return new_id

    def release_in(
        self, uow: UnitOfWork, estate_id: int, unit_id: int, at: datetime, actor: str, key: str
    ) -> tuple[int, int] | None:
        """Inside ``uow``, after a correction: move whatever the unit's receivable lines hold
        below zero (paid, then un-billed) to its owner credit. Returns the release entry's
        id and the fen released, None when no line is below zero; the caller then applies
        the credit (``app.payments.apply_credit_in``). ``key`` is the correction's; the
        release's key derives from it."""
        lines = [line for line in uow.ledger.open_receivables(unit_id) if line[2] < 0]
        entry = release(
            estate_id,
            unit_id,
            lines,
            at=at,
            actor=actor,
            key=f"{key}:release:{unit_id}",
            memo="paid money of a reversed charge, returned to the owner's credit",
        )
        if entry is None:
            return None
        entry_id, _ = self.post_in(uow, entry)
        return entry_id, -sum(fen for _item, _period, fen in lines)

    def unit_balance(self, actor: Actor, unit_id: UnitId) -> Decimal:
        """What the unit owes (positive) or has in credit (negative), in yuan."""
        with self._app.unit_of_work(readonly=True) as uow:
            unit = self._get(uow, self._actor(actor), uow.units, "unit", unit_id, "ledger.read")
            owed = uow.ledger.account_balance(unit.estate_id, Account.RECEIVABLE, unit.id)
            credit = uow.ledger.account_balance(unit.estate_id, Account.OWNER_CREDIT, unit.id)
        return from_fen(owed + credit)

    def open_receivables(self, actor: Actor, unit_id: UnitId) -> list[tuple[str, str, Decimal]]:
        """(fee item, period, amount owed) of the unit, oldest period first."""
        with self._app.unit_of_work(readonly=True) as uow:
            unit = self._get(uow, self._actor(actor), uow.units, "unit", unit_id, "ledger.read")
            return [(i, p, from_fen(f)) for i, p, f in uow.ledger.open_receivables(unit.id)]

    def trial_balance(self, actor: Actor, estate_id: EstateId) -> dict[str, Decimal]:
        """Each account's balance in yuan, signed as it normally stands (debit accounts
        positive when debited, credit accounts positive when credited)."""
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, self._actor(actor), estate_id, "ledger.read")
            raw = uow.ledger.trial_balance(estate.id)
        out: dict[str, Decimal] = {}
        for name, fen in raw.items():
            account = Account(name.split(":", 1)[0])
            out[name] = from_fen(fen if account in DEBIT_NORMAL else -fen)
        return out

    def receipts(self, actor: Actor, estate_id: EstateId, year: int) -> list[Receipt]:
        _year(year)
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, self._actor(actor), estate_id, "ledger.read")
            return uow.ledger.receipts(estate.id, year)

    def void_receipt(
        self,
        actor: Actor,
        estate_id: EstateId,
        year: int,
        number: int,
        reason: str,
        *,
        at: datetime | None = None,
    ) -> None:
        """Void a receipt; it keeps its number (the sequence stays gapless). ``at`` is not
        more than a day ahead of the app's clock."""
        if not isinstance(reason, str) or not reason.strip():
            raise ValidationError("reason", reason, "voiding a receipt needs a reason")
        text("reason", reason, max_length=NOTE_MAX)
        _year(year)
        bounded_int("number", number, 1, MAX_RECEIPT)
        actor = self._actor(actor)
        when = self._money_at(at)
        with self._app.unit_of_work() as uow:
            estate = self._estate(uow, actor, estate_id, "ledger.reverse")
            uow.ledger.void_receipt(estate.id, year, number, when, reason.strip())
            uow.commit()

    def issue_receipt_in(
        self, uow: UnitOfWork, estate_id: int, entry_id: int, at: datetime
    ) -> Receipt:
        """The next receipt of the estate's year for ``entry_id``, inside ``uow``: the year
        of ``at`` in the estate's time zone (a payment at 01:30 on New Year's Day in
        Shanghai is the new year's, whatever zone ``at`` is given in)."""
        estate = uow.estates.get(EstateId(estate_id))
        if estate is None:
            raise NotFound("estate_id", estate_id, "no estate with this id")
        year = at.astimezone(self._app.zone(estate.timezone)).year
        return uow.ledger.issue_receipt(estate_id, entry_id, at, year=year)

    def _load(self, uow: UnitOfWork, actor: Actor, entry_id: object, action: str) -> JournalEntry:
        entry_id = record_id("entry_id", entry_id)
        entry = uow.ledger.get(entry_id)
        if entry is None or not actor.sees(EstateId(entry.estate_id)):
            raise NotFound(
                "entry_id", entry_id, f"no entry with this id in the estates {actor.name} may see"
            )
        self._authorize(actor, action, Resource("entry", EstateId(entry.estate_id), entry_id))
        return entry
