"""Payments (``app.payments``): notices in, allocations, receipts, refunds, compensation.

Every payment is one journal entry, recorded once per idempotency key, so a provider
that repeats its notice a hundred times posts once. Who numbers the transaction decides
the key:

- The counter, and a gateway whose notice names no merchant: (estate, provider, txn id).
  Each estate's front desk numbers its own slips, so estate A's slip "0001" is a payment
  of its own, not a replay of estate B's "0001".
- A gateway notice naming its merchant account (``notice.merchant``: WeChat Pay's
  mchid, Alipay's seller id): (provider, merchant, txn id), in every estate. The provider
  numbers the merchant's transactions, and one merchant account may collect for several
  estates (the notice's attach or order decides which). Two estates' payments never
  share a transaction number, so they cannot collide; and a replay is caught even when
  it is routed to another estate than the first notice (a mapping changed between the
  two), where a key holding the estate would post the same money twice. Such a notice is
  refused and flagged in the estate it was routed to, naming nothing of the other.

Payments recorded before keys were scoped name no merchant: they keep their estate's key,
and a merchant's notice that replays one in its estate finds it. No error of this module
names another estate's unit, amount or estate. The entry debits where the money
landed (cash drawer, bank, or the gateway's clearing account) and credits the unit's
receivables as :func:`~propcare.ledger.allocation.allocate` splits it, with any
overpayment credited to the owner. The receipt number is taken in the same
transaction, so receipts stay gapless.

Refunds take money back from the payment's newest allocation first: the owner-credit
part, then the most recently settled receivable (the arrears a payment cleared first
stay cleared longest). A counter refund is paid on the spot. A refund through a
provider is first recorded as payable (``refunds_payable``) and committed; only then is
the provider asked, outside any transaction, so no database lock is held over a network
call and no money leaves without a record. The provider's answer moves it to paid
(clearing debited) or leaves it ``requested`` with the error, for
:meth:`PaymentService.retry_refunds`. Refunds, reversals, suspense resolution and compensation need
``ledger.refund`` (finance, manager).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal, NoReturn

import attrs

from propcare.access import Actor
from propcare.clock import not_ahead, require_instant
from propcare.errors import ConfigError, Conflict, InvalidTransition, NotFound, ValidationError
from propcare.ledger.accounts import Account, EntryKind
from propcare.ledger.allocation import (
    Allocation,
    AllocationPlan,
    Order,
    Rule,
    allocate,
    check_rule,
    take_back,
)
from propcare.ledger.gateways import (
    COUNTER_METHODS,
    GatewayClient,
    PaymentIntent,
    PaymentNotice,
    PaymentRequest,
    RefundRequest,
)
from propcare.ledger.journal import JournalEntry, Posting, Receipt, reversal
from propcare.money import exact, from_fen, to_fen
from propcare.registry.model import EstateId, Unit, UnitId
from propcare.service import Service, new_key
from propcare.storage.ports import PaymentRow, RefundRow, UnitOfWork
from propcare.validators import (
    KEY_MAX,
    NOTE_MAX,
    choice,
    optional_record_id,
    optional_text,
    record_id,
    text,
)

__all__ = ["APPROVER_ROLES", "Compensation", "PaymentResult", "PaymentService", "Refund"]

# Who may approve a compensation credit (折抵补偿金).
APPROVER_ROLES = frozenset({"manager", "finance"})
CREDIT = ("", "")  # the allocation line that stands for owner credit


@attrs.frozen
class PaymentResult:
    payment_id: int
    entry_id: int
    status: str  # posted, suspense, resolved, reversed
    amount: Decimal
    unit_id: int | None
    receipt: Receipt | None
    allocations: tuple[Allocation, ...]
    credit: Decimal  # what became owner credit
    new: bool  # False when the notice had been processed before


@attrs.frozen
class Compensation:
    """A compensation credit (折抵补偿金) as granted: who approved it and why."""

    id: int
    unit_id: int
    entry_id: int
    amount: Decimal
    reason: str
    approver_staff_id: int
    actor: str
    at: datetime


@attrs.frozen
class Refund:
    """A refund of a payment: ``paid`` (money handed back), ``pending`` (the provider
    accepted it and confirms later) or ``requested`` (recorded as payable; the provider
    has not accepted it yet, ``error`` says why)."""

    id: int
    payment_id: int
    entry_id: int
    amount: Decimal
    status: str
    provider: str
    refund_no: str
    provider_refund_id: str
    attempts: int
    error: str

    @classmethod
    def of(cls, row: RefundRow) -> Refund:
        return cls(
            row.id,
            row.payment_id,
            row.entry_id,
            from_fen(row.amount_fen),
            row.status,
            row.provider,
            row.refund_no,
            row.provider_refund_id,
            row.attempts,
            row.error,
        )


class _OrderMismatch(Exception):
    """A notice whose amount is not its order's; flagged after the rollback."""

    def __init__(self, detail: str) -> None:
        self.detail = detail


class _Mismatch(Exception):
    """A replayed transaction id with other details; flagged after the rollback."""

    def __init__(self, notice: PaymentNotice, kind: str, detail: str) -> None:
        self.notice = notice
        self.kind = kind
        self.detail = detail


def _merchant(notice: PaymentNotice) -> str:
    """The merchant account that numbers the notice's transaction ("" for none).

    The counter's slips are the front desk's own numbers, whatever its notice carries."""
    return "" if notice.provider == "counter" else notice.merchant


def _notice_key(notice: PaymentNotice, merchant: str) -> str:
    """What a notice says, as a digest: its anomaly is recorded once however often the
    provider re-sends it, and a notice that says anything else is another anomaly. The
    provider's delivery details (``raw``: notify ids and times) are left out."""
    said = [
        notice.estate_id, notice.provider, merchant, notice.provider_txn_id,
        to_fen(exact(notice.amount, "amount"), "amount"),
        notice.paid_at.astimezone(UTC).isoformat(), notice.unit_id, notice.order_id,
        notice.method,
    ]  # fmt: skip
    return hashlib.sha256(json.dumps(said, ensure_ascii=False).encode("utf-8")).hexdigest()


def _positive_fen(amount: object, field: str = "amount") -> int:
    # exact(): at most MAX_AMOUNT; a float raises MoneyTypeError.
    fen = to_fen(exact(amount, field), field)  # type: ignore[arg-type]
    if fen <= 0:
        raise ValidationError(field, amount, "must be a positive amount of yuan")
    return fen


def _reason(reason: object) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError("reason", reason, "a reason is required")
    return text("reason", reason, max_length=NOTE_MAX).strip()


def _checked_notice(notice: PaymentNotice, now: datetime) -> PaymentNotice:
    """What :meth:`PaymentService.record` takes from a notice, checked as any argument:
    a gateway plugin builds it from what a provider sent (docs: "Input limits")."""
    record_id("notice.estate_id", notice.estate_id)
    optional_record_id("notice.unit_id", notice.unit_id)
    optional_text("notice.order_id", notice.order_id, max_length=KEY_MAX, required=True)
    text("notice.provider", notice.provider)
    text("notice.provider_txn_id", notice.provider_txn_id, max_length=KEY_MAX)
    text("notice.method", notice.method, required=False)
    not_ahead("notice.paid_at", require_instant("notice.paid_at", notice.paid_at), now, "a payment")
    return notice


# A provider's callback as received: an HTTP body of at most a megabyte, text headers.
MAX_BODY = 1_000_000


def _checked_callback(provider: object, headers: object, body: object) -> str:
    name = text("provider", provider)
    if not isinstance(headers, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and "\x00" not in k + v
        for k, v in headers.items()
    ):
        raise ValidationError("headers", headers, "must be a mapping of text to text")
    if not isinstance(body, bytes):
        raise ValidationError("body", body, "must be the bytes received")
    if len(body) > MAX_BODY:
        raise ValidationError("body", body, f"must be at most {MAX_BODY:,} bytes")
    return name


def _settle_postings(unit_id: int, plan: AllocationPlan) -> list[Posting]:
    """The credit side of a payment: receivables as allocated, the rest owner credit."""
    out = [Posting(Account.RECEIVABLE, -a.fen, unit_id, a.fee_item, a.period) for a in plan.lines]
    if plan.credit_fen:
        out.append(Posting(Account.OWNER_CREDIT, -plan.credit_fen, unit_id))
    return out


def _lines(plan: AllocationPlan) -> list[tuple[str, str, int]]:
    lines = [(a.fee_item, a.period, a.fen) for a in plan.lines]
    if plan.credit_fen:
        lines.append((*CREDIT, plan.credit_fen))
    return lines


class PaymentService(Service):
    # --- money in ------------------------------------------------------------------

    def pay_at_counter(
        self,
        actor: Actor,
        unit_id: UnitId,
        amount: Decimal,
        method: Literal["cash", "pos", "transfer"],
        *,
        allocation: Rule = None,
        at: datetime | None = None,
        txn_id: str | None = None,
    ) -> PaymentResult:
        """Take a front-desk payment for ``unit_id`` and issue its receipt.

        ``txn_id`` (the till's slip number) makes a retried call post once; without one
        every call is a new payment. ``at`` is when it was paid: not more than a day ahead
        of the app's clock.
        """
        actor = self._actor(actor)
        fen = _positive_fen(amount)
        choice("method", method, COUNTER_METHODS)
        optional_text("txn_id", txn_id, max_length=KEY_MAX)
        check_rule(allocation)
        when = self._money_at(at, what="a payment")
        self._client("counter")
        try:
            with self._app.unit_of_work() as uow:
                unit: Unit = self._get(uow, actor, uow.units, "unit", unit_id, "ledger.pay")
                notice = PaymentNotice(
                    estate_id=unit.estate_id,
                    provider="counter",
                    provider_txn_id=txn_id or uuid.uuid4().hex,
                    amount=from_fen(fen),
                    paid_at=when,
                    unit_id=unit.id,
                    method=method,
                )
                result = self._record_in(uow, actor, notice, fen, "", unit.id, allocation)
                uow.commit()
        except _Mismatch as exc:
            self._flag(exc)
        return result

    def record(
        self, actor: Actor, notice: PaymentNotice, *, allocation: Rule = None
    ) -> PaymentResult:
        """Process a verified notice once by its idempotency key (see the module notes:
        the estate's for the counter, the merchant's for a gateway notice naming one).

        A replay returns the first result; the same id with another amount is a Conflict
        and is flagged in ``payment_anomalies`` (once per distinct notice, however often
        the provider re-sends it), and so is a notice for an order whose
        amount is not the order's, or a merchant's transaction already recorded for
        another estate: nothing is posted. A notice for no known unit or order goes to
        suspense for :meth:`resolve_suspense`. A notice dated more than a day ahead of the
        app's clock is refused, as any of its fields out of the input limits.
        """
        actor = self._actor(actor)
        if not isinstance(notice, PaymentNotice):
            raise ValidationError("notice", notice, "must be a PaymentNotice")
        _checked_notice(notice, self._app.clock.now())
        check_rule(allocation)
        fen = _positive_fen(notice.amount)
        merchant = _merchant(notice)
        self._client(notice.provider)
        try:
            with self._app.unit_of_work() as uow:
                estate = self._estate(uow, actor, notice.estate_id, "ledger.pay")
                unit_id: int | None = None
                if notice.unit_id is not None:
                    unit = uow.units.get(notice.unit_id)
                    unit_id = unit.id if unit is not None and unit.estate_id == estate.id else None
                elif notice.order_id is not None:
                    order = uow.payments.order(estate.id, notice.order_id)
                    if order is not None:
                        unit_id, ordered = order
                        seen = uow.payments.by_txn(
                            estate.id, notice.provider, notice.provider_txn_id, merchant
                        )
                        if seen is None and ordered != fen:
                            raise _OrderMismatch(
                                f"{from_fen(fen)} differs from the {from_fen(ordered)} of "
                                f"order {notice.order_id}"
                            )
                result = self._record_in(uow, actor, notice, fen, merchant, unit_id, allocation)
                uow.commit()
        except _Mismatch as exc:
            self._flag(exc)
        except _OrderMismatch as exc:
            # Money that is not what was asked for is not posted: a person looks at it.
            with self._app.unit_of_work() as uow:
                uow.payments.add_anomaly(
                    notice.estate_id, notice.provider, notice.provider_txn_id,
                    "amount_differs_from_order", exc.detail, self._app.clock.now(),
                    merchant=merchant, notice_key=_notice_key(notice, merchant),
                )  # fmt: skip
                uow.commit()
            raise Conflict("amount", notice.amount, exc.detail) from None
        return result

    def handle_notification(
        self, actor: Actor, provider: str, headers: Mapping[str, str], body: bytes
    ) -> PaymentResult:
        """A provider's callback, as received: verified by its client, then recorded.

        ``headers`` map text to text; ``body`` is the bytes received, at most a megabyte."""
        self._actor(actor)
        _checked_callback(provider, headers, body)
        notice = self._client(provider).parse_notification(headers, body)
        if notice.provider != provider:
            raise ValidationError("provider", notice.provider, f"the notice is not from {provider}")
        return self.record(actor, notice)

    def request_payment(
        self, actor: Actor, unit_id: UnitId, amount: Decimal, provider: str
    ) -> PaymentIntent:
        """Ask ``provider`` to collect ``amount`` for the unit; its notice finds the unit.

        The provider is asked outside any transaction (no lock is held over a network
        call); the order is stored once it has accepted, so a refused request writes
        nothing. A notice that could beat that commit finds no order and waits in
        suspense for a person, never lost."""
        actor = self._actor(actor)
        fen = _positive_fen(amount)
        client = self._client(text("provider", provider))
        with self._app.unit_of_work(readonly=True) as uow:
            unit: Unit = self._get(uow, actor, uow.units, "unit", unit_id, "ledger.pay")
        order_id = uuid.uuid4().hex
        intent = client.create_payment_request(
            PaymentRequest(unit.estate_id, unit.id, order_id, from_fen(fen))
        )
        with self._app.unit_of_work() as uow:
            uow.payments.add_order(
                order_id, unit.estate_id, unit.id, provider, fen, self._app.clock.now()
            )
            uow.commit()
        return intent

    # --- reading ---------------------------------------------------------------------

    def payment(self, actor: Actor, payment_id: int) -> PaymentResult:
        with self._app.unit_of_work(readonly=True) as uow:
            row = self._load(uow, self._actor(actor), payment_id, "ledger.read")
            return self._result(uow, row, new=False)

    def suspense(self, actor: Actor, estate_id: EstateId) -> list[PaymentResult]:
        """Payments waiting for a person to say which unit they are for."""
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, self._actor(actor), estate_id, "ledger.read")
            rows = uow.payments.in_status(estate.id, "suspense")
            return [self._result(uow, r, new=False) for r in rows]

    def anomalies(self, actor: Actor, estate_id: EstateId) -> list[tuple[str, str, str, str]]:
        """Flagged notices: (provider, txn id, kind, detail)."""
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, self._actor(actor), estate_id, "ledger.read")
            return uow.payments.anomalies(estate.id)

    # --- corrections -------------------------------------------------------------------

    def resolve_suspense(
        self,
        actor: Actor,
        payment_id: int,
        unit_id: UnitId,
        *,
        allocation: Rule = None,
        at: datetime | None = None,
    ) -> PaymentResult:
        """Move a suspense payment to ``unit_id``: allocated like a payment, with a receipt
        dated ``at`` (not more than a day ahead of the app's clock)."""
        actor = self._actor(actor)
        check_rule(allocation)
        when = self._money_at(at)
        with self._app.unit_of_work() as uow:
            row = self._load(uow, actor, payment_id, "ledger.refund")
            unit: Unit = self._get(uow, actor, uow.units, "unit", unit_id, "ledger.refund")
            if unit.estate_id != row.estate_id:
                raise NotFound("unit_id", unit_id, "not a unit of the payment's estate")
            if row.status != "suspense":
                raise InvalidTransition("payment_id", payment_id, f"is {row.status}, not suspense")
            plan = allocate(
                uow.ledger.open_receivables(unit.id), row.amount_fen, allocation, self._order
            )
            entry = JournalEntry(
                estate_id=row.estate_id,
                kind=EntryKind.SUSPENSE,
                at=when,
                key=f"suspense:{row.id}",
                actor=actor.name,
                postings=(
                    Posting(Account.SUSPENSE, row.amount_fen),
                    *_settle_postings(unit.id, plan),
                ),
                memo=f"suspense payment {row.provider}:{row.provider_txn_id} to unit {unit.id}",
            )
            entry_id, _ = self._app.ledger.post_in(uow, entry)
            uow.payments.add_allocations(row.id, entry_id, unit.id, _lines(plan))
            receipt = self._app.ledger.issue_receipt_in(uow, row.estate_id, entry_id, when)
            uow.payments.set_status(
                row.id, "resolved", unit_id=unit.id, receipt=(receipt.year, receipt.number)
            )
            result = self._result(uow, uow.payments.get(row.id) or row, new=True)
            uow.commit()
        return result

    def refund(
        self,
        actor: Actor,
        payment_id: int,
        amount: Decimal,
        reason: str,
        *,
        at: datetime | None = None,
        refund_id: str | None = None,
    ) -> Refund:
        """Pay back part or all of a payment.

        Never more than was paid net of earlier refunds (ValidationError). The refund
        entry is committed first; a provider other than the counter is asked after
        the commit (see the module notes), and the returned :class:`Refund` says
        whether it was paid. ``refund_id`` makes a retried call refund once (it is
        also the id the provider sees, so the provider pays once too). ``at`` is not more
        than a day ahead of the app's clock.
        """
        actor = self._actor(actor)
        fen = _positive_fen(amount)
        why = _reason(reason)
        when = self._money_at(at, what="a refund")
        if refund_id is not None and (not isinstance(refund_id, str) or not refund_id.strip()):
            raise ValidationError("refund_id", refund_id, "must be a non-empty string")
        optional_text("refund_id", refund_id, max_length=KEY_MAX)
        with self._app.unit_of_work() as uow:
            row = self._load(uow, actor, payment_id, "ledger.refund")
            if refund_id is not None:
                done = uow.ledger.by_key(f"refund:{row.id}:{refund_id}")
                if done is not None:
                    earlier = uow.payments.refund_by_entry(done)
                    assert earlier is not None  # written with its entry
                    uow.commit()
                    return self._send_refund(earlier, why)  # a retry: asked again if unpaid
            if row.status not in ("posted", "resolved") or row.unit_id is None:
                raise InvalidTransition(
                    "payment_id", payment_id, f"is {row.status}; only allocated payments refund"
                )
            refunded = uow.payments.refunded_fen(row.id)
            if fen > row.amount_fen - refunded:
                raise ValidationError(
                    "amount",
                    amount,
                    f"exceeds what is left to refund ({from_fen(row.amount_fen - refunded)})",
                )
            remote = row.provider != "counter"
            if remote:
                self._client(row.provider)  # not configured: ConfigError, nothing written
            # Newest allocation first: the credit part, then lines in reverse order.
            net = uow.payments.allocations(row.id)
            order = [n for n in net if n[:2] == CREDIT] + [
                n for n in reversed(net) if n[:2] != CREDIT
            ]
            back: list[tuple[str, str, int]] = []
            left = fen
            for fee_item, period, have in order:
                take = min(have, left)
                if take > 0:
                    back.append((fee_item, period, take))
                    left -= take
            refund_no = refund_id or uuid.uuid4().hex
            postings = [
                Posting(Account.REFUNDS_PAYABLE, -fen)
                if remote
                else self._clearing(row.provider, row.method, -fen)
            ]
            # A line whose bill was reversed released this payment's money to owner credit:
            # that part is taken back from the credit, not by reopening the reversed bill.
            reopen, from_credit = take_back(
                [b for b in back if b[:2] != CREDIT], self._paid_lines(uow, row.unit_id)
            )
            from_credit += sum(take for f, p, take in back if (f, p) == CREDIT)
            if from_credit:
                postings.append(Posting(Account.OWNER_CREDIT, from_credit, row.unit_id))
            for fee_item, period, take in reopen:
                postings.append(Posting(Account.RECEIVABLE, take, row.unit_id, fee_item, period))
            entry = JournalEntry(
                estate_id=row.estate_id,
                kind=EntryKind.REFUND,
                at=when,
                key=f"refund:{row.id}:{refund_no}",
                actor=actor.name,
                postings=postings,
                memo=why,
            )
            entry_id, _ = self._app.ledger.post_in(uow, entry)
            self._reopen_spent_credit(uow, row.estate_id, row.unit_id, when, actor.name, entry.key)
            uow.payments.add_allocations(
                row.id, entry_id, row.unit_id, [(f, p, -t) for f, p, t in back]
            )
            new_id = uow.payments.add_refund(
                row.id,
                entry_id,
                fen,
                why,
                actor.name,
                when,
                "" if remote else refund_no,
                refund_no=refund_no,
                status="requested" if remote else "paid",
            )
            stored = uow.payments.refund_row(new_id)
            assert stored is not None
            uow.commit()
        return self._send_refund(stored, why)

    def refunds(
        self, actor: Actor, estate_id: EstateId, *, status: str | None = None
    ) -> list[Refund]:
        """The estate's refunds, oldest first; ``status`` filters (requested, pending, paid)."""
        actor = self._actor(actor)
        statuses = ("requested", "pending", "paid")
        if status is not None and status not in statuses:
            raise ValidationError("status", status, f"must be one of {', '.join(statuses)}")
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, actor, estate_id, "ledger.read")
            rows = uow.payments.refunds(estate.id, (status,) if status else statuses)
        return [Refund.of(r) for r in rows]

    def retry_refunds(self, actor: Actor, estate_id: EstateId) -> list[Refund]:
        """Ask the providers again for every refund of the estate still ``requested``
        (after a provider error or a crash before it was asked); returns them as they
        stand afterwards. Safe to run on a schedule: providers dedupe by refund number."""
        actor = self._actor(actor)
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, actor, estate_id, "ledger.refund")
            rows = uow.payments.refunds(estate.id, ("requested",))
        return [self._send_refund(r, r.reason) for r in rows]

    def confirm_refund(self, actor: Actor, refund_id: int, *, at: datetime | None = None) -> Refund:
        """Record that the provider paid out a ``pending`` refund (its refund notice or
        a query said so): refunds payable are debited and the clearing credited, once
        (``at`` not more than a day ahead of the app's clock)."""
        actor = self._actor(actor)
        when = self._money_at(at, what="a refund")
        with self._app.unit_of_work() as uow:
            row: RefundRow = self._find(
                actor, uow.payments.refund_row, "refund", refund_id, "ledger.refund"
            )
            if row.status == "paid":
                return Refund.of(row)
            self._pay_out(uow, row, row.provider_refund_id, when, actor.name)
            done = uow.payments.refund_row(refund_id)
            assert done is not None
            uow.commit()
        return Refund.of(done)

    def _send_refund(self, row: RefundRow, reason: str) -> Refund:
        """Ask the provider for a refund the ledger holds as payable, after its commit."""
        if row.status != "requested":
            return Refund.of(row)
        request = RefundRequest(
            row.provider, row.provider_txn_id, row.refund_no, from_fen(row.amount_fen), reason
        )
        try:
            answer = self._client(row.provider).request_refund(request)
        except Exception as exc:  # any provider failure leaves it requested
            error = f"{type(exc).__name__}: {exc}"[:500]
            with self._app.unit_of_work() as uow:
                uow.payments.update_refund(row.id, status="requested", error=error, attempted=True)
                uow.commit()
            return attrs.evolve(Refund.of(row), attempts=row.attempts + 1, error=error)
        with self._app.unit_of_work() as uow:
            current = uow.payments.refund_row(row.id)
            assert current is not None
            if current.status == "requested":  # another process may have finished it
                if answer.status == "done":
                    self._pay_out(
                        uow, current, answer.provider_refund_id, self._app.clock.now(), "system"
                    )
                else:
                    uow.payments.update_refund(
                        row.id,
                        status="pending",
                        provider_refund_id=answer.provider_refund_id,
                        attempted=True,
                    )
            done = uow.payments.refund_row(row.id)
            assert done is not None
            uow.commit()
        return Refund.of(done)

    def _pay_out(
        self, uow: UnitOfWork, row: RefundRow, provider_ref: str, at: datetime, actor: str
    ) -> None:
        entry_id, _ = self._app.ledger.post_in(
            uow,
            JournalEntry(
                estate_id=row.estate_id,
                kind=EntryKind.REFUND_PAID,
                at=at,
                key=f"refund_paid:{row.id}",
                actor=actor,
                postings=(
                    Posting(Account.REFUNDS_PAYABLE, row.amount_fen),
                    Posting(Account.GATEWAY, -row.amount_fen, sub=row.provider),
                ),
                memo=f"refund {row.refund_no} paid by {row.provider}",
            ),
        )
        uow.payments.update_refund(
            row.id,
            status="paid",
            provider_refund_id=provider_ref,
            paid_entry_id=entry_id,
            attempted=row.status == "requested",
        )

    @property
    def _order(self) -> Order:
        """Where late fees come in an allocation (the ``ledger.allocation`` setting)."""
        return self._app.allocation_order

    @staticmethod
    def _paid_lines(uow: UnitOfWork, unit_id: int) -> dict[tuple[str, str], int]:
        """Per receivable line, what payments (not owner credit) still settle on it."""
        paid = uow.ledger.settled_lines(unit_id)
        for fee_item, period, fen in uow.ledger.credit_applied_lines(unit_id):
            paid[(fee_item, period)] = paid.get((fee_item, period), 0) - fen
        return paid

    def _capped(self, uow: UnitOfWork, undo: JournalEntry, unit_id: int) -> JournalEntry:
        """A payment's reversal whose lines reopen only what the payment still settles:
        money a reversed bill released to owner credit comes back out of the credit."""
        lines = [
            (p.fee_item or "", p.period or "", p.amount_fen)
            for p in undo.postings
            if p.account is Account.RECEIVABLE
        ]
        reopen, from_credit = take_back(lines, self._paid_lines(uow, unit_id))
        if not from_credit:
            return undo
        credit = from_credit + sum(
            p.amount_fen for p in undo.postings if p.account is Account.OWNER_CREDIT
        )
        kept = [
            p for p in undo.postings if p.account not in (Account.RECEIVABLE, Account.OWNER_CREDIT)
        ]
        return attrs.evolve(
            undo,
            postings=(
                *kept,
                Posting(Account.OWNER_CREDIT, credit, unit_id),
                *(Posting(Account.RECEIVABLE, f, unit_id, i, per) for i, per, f in reopen),
            ),
        )

    def _reopen_spent_credit(
        self,
        uow: UnitOfWork,
        estate_id: int,
        unit_id: int | None,
        at: datetime,
        actor: str,
        key: str,
    ) -> None:
        """Taking back a payment's overpaid part after its credit settled later bills leaves
        owner credit in debit; reopen those bills (newest first) so the debt shows in the
        receivables, the arrears roster and aging, not hidden in the credit account."""
        if unit_id is None:
            return
        owing = uow.ledger.account_balance(estate_id, Account.OWNER_CREDIT, unit_id)
        if owing <= 0:
            return
        postings: list[Posting] = []
        left = owing
        for fee_item, period, applied in uow.ledger.credit_applied_lines(unit_id):
            take = min(applied, left)
            postings.append(Posting(Account.RECEIVABLE, take, unit_id, fee_item, period))
            left -= take
            if not left:
                break
        reopened = owing - left
        if not reopened:
            return
        postings.append(Posting(Account.OWNER_CREDIT, -reopened, unit_id))
        self._app.ledger.post_in(
            uow,
            JournalEntry(
                estate_id=estate_id,
                kind=EntryKind.CREDIT_APPLIED,
                at=at,
                key=f"{key}:reopen",
                actor=actor,
                postings=tuple(postings),
                memo="credit taken back after it settled these bills",
            ),
        )

    def reverse(
        self, actor: Actor, payment_id: int, reason: str, *, at: datetime | None = None
    ) -> int:
        """Undo a payment recorded in error (not one refunded or resolved): its entry is
        reversed and its receipt voided; returns the reversal's id."""
        actor = self._actor(actor)
        why = _reason(reason)
        when = self._money_at(at)
        with self._app.unit_of_work() as uow:
            row = self._load(uow, actor, payment_id, "ledger.refund")
            if row.status == "reversed":
                raise InvalidTransition("payment_id", payment_id, "has been reversed already")
            if row.status == "resolved" or uow.payments.refunded_fen(row.id):
                raise InvalidTransition(
                    "payment_id", payment_id, "has refunds or a resolution; refund it instead"
                )
            original = uow.ledger.get(row.entry_id)
            assert original is not None  # the notice row references it
            undo = reversal(original, row.entry_id, at=when, actor=actor.name, reason=why)
            if row.unit_id is not None:
                undo = self._capped(uow, undo, row.unit_id)
            entry_id, _ = self._app.ledger.post_in(uow, undo)
            if row.unit_id is not None:
                self._reopen_spent_credit(
                    uow, row.estate_id, row.unit_id, when, actor.name, undo.key
                )
            if row.unit_id is not None and row.status == "posted":
                net = uow.payments.allocations(row.id)
                uow.payments.add_allocations(
                    row.id, entry_id, row.unit_id, [(f, p, -n) for f, p, n in net if n]
                )
            if row.receipt_year is not None and row.receipt_number is not None:
                uow.ledger.void_receipt(
                    row.estate_id, row.receipt_year, row.receipt_number, when, why
                )
            uow.payments.set_status(row.id, "reversed")
            uow.commit()
        return entry_id

    def apply_credit(
        self, actor: Actor, unit_id: UnitId, *, at: datetime | None = None
    ) -> int | None:
        """Apply the unit's owner credit to its open receivables, oldest first.

        Returns the CREDIT_APPLIED entry's id, or None when there is nothing to apply.
        ``at`` is not more than a day ahead of the app's clock.
        """
        actor = self._actor(actor)
        when = self._money_at(at)
        with self._app.unit_of_work() as uow:
            unit: Unit = self._get(uow, actor, uow.units, "unit", unit_id, "ledger.pay")
            entry_id = self.apply_credit_in(uow, unit.estate_id, unit.id, when, actor.name)
            uow.commit()
        return entry_id

    def apply_credit_in(
        self, uow: UnitOfWork, estate_id: int, unit_id: int, at: datetime, actor: str
    ) -> int | None:
        """:meth:`apply_credit` inside ``uow`` (for a bill run), without permission checks."""
        credit = -uow.ledger.account_balance(estate_id, Account.OWNER_CREDIT, unit_id)
        if credit <= 0:
            return None
        plan = allocate(uow.ledger.open_receivables(unit_id), credit, None, self._order)
        if not plan.lines:
            return None
        used = credit - plan.credit_fen
        entry = JournalEntry(
            estate_id=estate_id,
            kind=EntryKind.CREDIT_APPLIED,
            at=at,
            key=new_key(f"credit_applied:{unit_id}"),
            actor=actor,
            postings=(
                Posting(Account.OWNER_CREDIT, used, unit_id),
                *(
                    Posting(Account.RECEIVABLE, -a.fen, unit_id, a.fee_item, a.period)
                    for a in plan.lines
                ),
            ),
        )
        entry_id, _ = self._app.ledger.post_in(uow, entry)
        return entry_id

    def compensate(
        self,
        actor: Actor,
        unit_id: UnitId,
        amount: Decimal,
        reason: str,
        approver_staff_id: int,
        *,
        allocation: Rule = None,
        at: datetime | None = None,
    ) -> int:
        """Credit compensation against the unit's fees (折抵补偿金); returns the entry id.

        Allocated like a payment (the rest becomes owner credit); the approver is a
        staff member of the unit's estate with role manager or finance.
        """
        actor = self._actor(actor)
        fen = _positive_fen(amount)
        why = _reason(reason)
        record_id("approver_staff_id", approver_staff_id)
        check_rule(allocation)
        when = self._money_at(at, what="a compensation")
        with self._app.unit_of_work() as uow:
            unit: Unit = self._get(uow, actor, uow.units, "unit", unit_id, "ledger.refund")
            approver = uow.staff.get(approver_staff_id)
            if approver is None or approver.estate_id != unit.estate_id:
                raise ValidationError(
                    "approver_staff_id", approver_staff_id, "not a staff member of this estate"
                )
            if not approver.roles & APPROVER_ROLES:
                raise ValidationError(
                    "approver_staff_id", approver_staff_id, "approver must be manager or finance"
                )
            plan = allocate(uow.ledger.open_receivables(unit.id), fen, allocation, self._order)
            entry = JournalEntry(
                estate_id=unit.estate_id,
                kind=EntryKind.COMPENSATION,
                at=when,
                key=new_key(f"compensation:{unit.id}"),
                actor=actor.name,
                postings=(Posting(Account.COMPENSATION, fen), *_settle_postings(unit.id, plan)),
                memo=f"{why} (approved by staff {approver_staff_id})",
            )
            entry_id, _ = self._app.ledger.post_in(uow, entry)
            uow.payments.add_compensation(
                unit.estate_id, unit.id, entry_id, fen, why, approver.id, actor.name, when
            )
            uow.commit()
        return entry_id

    def compensations(self, actor: Actor, estate_id: EstateId) -> list[Compensation]:
        """The estate's compensation credits with their approvers, oldest first."""
        actor = self._actor(actor)
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, actor, estate_id, "ledger.read")
            rows = uow.payments.compensations(estate.id)
        return [
            Compensation(i, u, e, from_fen(fen), why, who, by, at)
            for i, u, e, fen, why, who, by, at in rows
        ]

    # --- internals -------------------------------------------------------------------

    def _client(self, provider: str) -> GatewayClient:
        gateways: Mapping[str, GatewayClient] = getattr(self._app, "gateways", {})
        client = gateways.get(provider)
        if client is None:
            raise ConfigError(
                "gateway", provider, f"not configured; configured: {', '.join(sorted(gateways))}"
            )
        return client

    @staticmethod
    def _clearing(provider: str, method: str, fen: int) -> Posting:
        """Where the money landed: the cash drawer, the bank, or the gateway's clearing."""
        if provider == "counter":
            return Posting(Account.CASH if method == "cash" else Account.BANK, fen)
        return Posting(Account.GATEWAY, fen, sub=provider)

    def _record_in(
        self,
        uow: UnitOfWork,
        actor: Actor,
        notice: PaymentNotice,
        fen: int,
        merchant: str,
        unit_id: int | None,
        rule: Rule,
    ) -> PaymentResult:
        existing = uow.payments.by_txn(
            notice.estate_id, notice.provider, notice.provider_txn_id, merchant
        )
        if existing is not None:
            if existing.estate_id != notice.estate_id:
                # The same money routed to a second estate: its record there is not this
                # estate's to see, so the message names nothing of it.
                raise _Mismatch(
                    notice,
                    "recorded_for_another_estate",
                    f"this {notice.provider} transaction of merchant {merchant} is recorded "
                    "for another estate; not posted here",
                )
            # A resolved suspense payment has a unit its replays do not name: not a mismatch.
            other_unit = existing.status == "posted" and existing.unit_id != unit_id
            if existing.amount_fen != fen or other_unit:
                raise _Mismatch(
                    notice,
                    "amount_mismatch" if existing.amount_fen != fen else "details_mismatch",
                    f"replayed with amount {from_fen(fen)} for unit {unit_id}; first "
                    f"{from_fen(existing.amount_fen)} for unit {existing.unit_id}",
                )
            return self._result(uow, existing, new=False)
        # The estate leads the journal key, so no two estates' keys meet there either.
        key = f"payment:{notice.estate_id}:{notice.provider}:{merchant}:{notice.provider_txn_id}"
        debit = self._clearing(notice.provider, notice.method, fen)
        plan: AllocationPlan | None = None
        if unit_id is None:
            # Nobody knows yet whose money this is: park it for a person (SUSPENSE).
            credit = [Posting(Account.SUSPENSE, -fen)]
        else:
            plan = allocate(uow.ledger.open_receivables(unit_id), fen, rule, self._order)
            credit = _settle_postings(unit_id, plan)
        entry = JournalEntry(
            estate_id=notice.estate_id,
            kind=EntryKind.PAYMENT,
            at=notice.paid_at,
            key=key,
            actor=actor.name,
            postings=(debit, *credit),
            memo=f"{notice.provider} {notice.method} {notice.provider_txn_id}".strip(),
        )
        entry_id, _ = self._app.ledger.post_in(uow, entry)
        payment_id = uow.payments.add(
            estate_id=notice.estate_id,
            provider=notice.provider,
            provider_txn_id=notice.provider_txn_id,
            amount_fen=fen,
            unit_id=unit_id,
            order_id=notice.order_id,
            method=notice.method,
            paid_at=notice.paid_at,
            entry_id=entry_id,
            status="suspense" if plan is None else "posted",
            merchant=merchant,
        )
        receipt: Receipt | None = None
        if plan is not None and unit_id is not None:
            uow.payments.add_allocations(payment_id, entry_id, unit_id, _lines(plan))
            receipt = self._app.ledger.issue_receipt_in(
                uow, notice.estate_id, entry_id, notice.paid_at
            )
            uow.payments.set_status(payment_id, "posted", receipt=(receipt.year, receipt.number))
        return PaymentResult(
            payment_id=payment_id,
            entry_id=entry_id,
            status="suspense" if plan is None else "posted",
            amount=from_fen(fen),
            unit_id=unit_id,
            receipt=receipt,
            allocations=() if plan is None else plan.lines,
            credit=from_fen(0 if plan is None else plan.credit_fen),
            new=True,
        )

    def _result(self, uow: UnitOfWork, row: PaymentRow, *, new: bool) -> PaymentResult:
        net = uow.payments.allocations(row.id)
        receipt = None
        if row.receipt_year is not None and row.receipt_number is not None:
            receipt = uow.payments.receipt(row.estate_id, row.receipt_year, row.receipt_number)
        return PaymentResult(
            payment_id=row.id,
            entry_id=row.entry_id,
            status=row.status,
            amount=from_fen(row.amount_fen),
            unit_id=row.unit_id,
            receipt=receipt,
            allocations=tuple(Allocation(f, p, n) for f, p, n in net if (f, p) != CREDIT and n),
            credit=from_fen(sum(n for f, p, n in net if (f, p) == CREDIT)),
            new=new,
        )

    def _load(self, uow: UnitOfWork, actor: Actor, payment_id: object, action: str) -> PaymentRow:
        row: PaymentRow = self._find(actor, uow.payments.get, "payment", payment_id, action)
        return row

    def _flag(self, exc: _Mismatch) -> NoReturn:
        """Write the anomaly after the failed transaction rolled back, then refuse.

        It goes to the estate the notice is for: the one whose caller is refused."""
        notice = exc.notice
        merchant = _merchant(notice)
        with self._app.unit_of_work() as uow:
            uow.payments.add_anomaly(
                notice.estate_id,
                notice.provider,
                notice.provider_txn_id,
                exc.kind,
                exc.detail,
                self._app.clock.now(),
                merchant=merchant,
                notice_key=_notice_key(notice, merchant),
            )
            uow.commit()
        raise Conflict("provider_txn_id", notice.provider_txn_id, exc.detail)
