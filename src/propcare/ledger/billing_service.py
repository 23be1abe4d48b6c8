"""Billing as a service (``app.billing``): fee items, assignments, one-off charges, bill runs.

A bill run streams the estate's units in chunks; each chunk's lines, journal entries and
``bills`` rows commit in one transaction, so a crash leaves whole chunks and a rerun
bills only what is missing: each (unit, fee item, period) exactly once, guarded twice,
by the ``bills`` table's UNIQUE(unit_id, fee_item, period) and by the journal key
``bill:{unit}:{item}:{period}``. The run reports every unit it billed no per-m2 fee, and
why (most often: no handover date).

A wrong bill is corrected by :meth:`BillingService.correct`: the unit's bills of the
period are reversed and billed again from the corrected area or rate in one transaction
(re-bill entries are keyed ``bill:{unit}:{item}:{period}:{reversal id}``); what had been
paid settles the new bill, and any excess becomes owner credit.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import attrs
from dateutil.relativedelta import relativedelta

from propcare.access import Actor
from propcare.clock import require_instant
from propcare.errors import Conflict, InvalidTransition, NotFound, ValidationError
from propcare.ledger.accounts import Account, EntryKind
from propcare.ledger.billing import (
    BillLine,
    FeeAssignment,
    FeeItem,
    FeeKind,
    LateFeeTerms,
    Schedule,
    SkippedUnit,
    bill_lines,
    check_code,
    check_terms,
    late_fee_now,
    parse_period,
    period_bounds,
    skipped_units,
)
from propcare.ledger.events import BillRun
from propcare.ledger.journal import JournalEntry, Posting, reversal
from propcare.money import exact, from_fen, to_fen
from propcare.registry.model import EstateId, Unit, UnitId
from propcare.service import Service, new_key
from propcare.storage.ports import UnitOfWork
from propcare.validators import KEY_MAX, NOTE_MAX, day, optional_text, record_id, text

__all__ = [
    "CHUNK",
    "BillCorrection",
    "BillRunReport",
    "BillingService",
    "LateFee",
    "LateFeeReport",
]

CHUNK = 2000  # units per transaction: small enough to stream, large enough for executemany
PAID_SERVICE = "paid_service"  # fee item of ticket charges in receivables


@attrs.frozen
class BillRunReport:
    estate_id: int
    period: str
    billed_now: int  # lines written by this run
    already_billed: int  # lines an earlier run (or a crashed one) wrote
    total_now: Decimal  # yuan billed by this run
    # Units billed no per-m2 fee for the period, and why (a rerun reports them again).
    skipped: tuple[SkippedUnit, ...] = ()


@attrs.frozen
class LateFee:
    """A late fee as posted: ``entry_id`` is what ``waive_late_fee`` takes; ``waived_by``
    the waiver's (or a reversal's) entry id, None while it stands."""

    entry_id: int
    unit_id: int
    fee_item: str  # the fee it was charged on
    period: str
    month: str  # the month it was assessed in
    amount: Decimal
    waived_by: int | None = None


@attrs.frozen
class LateFeeReport:
    estate_id: int
    as_of: date
    posted: int  # late-fee entries posted by this call
    total_now: Decimal
    fees: tuple[LateFee, ...] = ()  # those entries, each with its entry id


@attrs.frozen
class BillCorrection:
    """What :meth:`BillingService.correct` did to a unit's period.

    ``reversed`` are the reversal entries' ids; ``rebilled`` the new bills (with their
    entry ids); ``unchanged`` the fee items whose bill came out the same and was left
    alone. ``released`` is what had been paid beyond the corrected bills and went to the
    owner's credit (and on to the unit's other open bills, ``credit_applied``)."""

    unit_id: int
    period: str
    reversed: tuple[int, ...]
    rebilled: tuple[BillLine, ...]
    unchanged: tuple[str, ...]
    difference: Decimal  # corrected total less the total reversed
    released: Decimal
    credit_applied: int | None  # the CREDIT_APPLIED entry that settled other bills


def _day(field: str, value: Any) -> date:
    return day(field, value)


def _codes(value: Any) -> tuple[str, ...]:
    """Fee item codes given as a list (a bare string would be its letters)."""
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise ValidationError("fee_items", value, "must be a list of fee item codes")
    codes = tuple(value)
    if not codes or len(codes) > 100:
        raise ValidationError("fee_items", len(codes), "name 1 to 100 fee items")
    for code in codes:
        check_code(code, "fee_items")
    return codes


class BillingService(Service):
    def add_fee_item(
        self,
        actor: Actor,
        estate_id: EstateId,
        code: str,
        name: str,
        kind: FeeKind | str,
        *,
        rates: Mapping[str, Decimal | str] | None = None,
        amount: Decimal | str | None = None,
        schedule: Schedule | str = Schedule.MONTHLY,
        due: int | str = 15,
        vacancy_rate: Decimal | str | None = None,
    ) -> FeeItem:
        """Define a fee item: ``rates`` per unit use (yuan/m2/month) for an area fee,
        ``amount`` (yuan/month) for a fixed one; ``due`` is days after the period start
        or ``'end_of_first_month'``; ``vacancy_rate`` a fraction for units not handed over.
        Rates and amounts are at most ``MAX_AMOUNT`` with at most 6 decimals."""
        actor = self._actor(actor)
        FeeItem(0, code, name, kind, schedule, rates or {}, amount, due, vacancy_rate)
        with self._app.unit_of_work() as uow:
            estate = self._estate(uow, actor, estate_id, "ledger.configure")
            item = FeeItem(
                estate_id=estate.id,
                code=code,
                name=name,
                kind=kind,
                schedule=schedule,
                rates=rates or {},
                amount=amount,
                due=due,
                vacancy_rate=vacancy_rate,
            )
            if uow.billing.item(estate.id, item.code) is not None:
                raise Conflict("code", code, f"a fee item of this code exists in {estate.name}")
            item = uow.billing.add_item(item)
            uow.commit()
        return item

    def fee_items(self, actor: Actor, estate_id: EstateId) -> builtins.list[FeeItem]:
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, self._actor(actor), estate_id, "ledger.read")
            return uow.billing.items(estate.id)

    def update_fee_item(
        self,
        actor: Actor,
        estate_id: EstateId,
        code: str,
        *,
        name: str | None = None,
        rates: Mapping[str, Decimal | str] | None = None,
        amount: Decimal | str | None = None,
        due: int | str | None = None,
        vacancy_rate: Decimal | str | None = None,
    ) -> FeeItem:
        """Change a fee item (a new price after the owners' assembly approved it, 调价).

        Bills already run keep their amounts; runs from now on, including a period not
        yet billed, use the new terms. The code, kind and schedule stay: a different
        kind of fee is a new item. Arguments left None keep their value.
        """
        actor = self._actor(actor)
        check_code(code)
        check_terms(name=name, rates=rates, amount=amount, due=due, vacancy_rate=vacancy_rate)
        with self._app.unit_of_work() as uow:
            estate = self._estate(uow, actor, estate_id, "ledger.configure")
            item = uow.billing.item(estate.id, code)
            if item is None:
                raise NotFound("code", code, f"no fee item of this code in {estate.name}")
            changes: dict[str, Any] = {
                k: v
                for k, v in {
                    "name": name,
                    "rates": rates,
                    "amount": amount,
                    "due": due,
                    "vacancy_rate": vacancy_rate,
                }.items()
                if v is not None
            }
            if not changes:
                raise ValidationError("changes", {}, "name at least one term to change")
            if "rates" in changes and item.kind is not FeeKind.AREA:
                raise ValidationError("rates", rates, f"{code} is not a per-m2 fee")
            if "amount" in changes and item.kind is not FeeKind.FIXED:
                raise ValidationError("amount", amount, f"{code} is not a fixed monthly fee")
            updated = attrs.evolve(item, **changes)  # the validators run again
            uow.billing.update_item(updated)
            uow.commit()
        return updated

    def assign(
        self, actor: Actor, unit_id: UnitId, code: str, start: date, end: date | None = None
    ) -> None:
        """Charge a fixed item (a parking space) to a unit from ``start`` to ``end``
        (exclusive). One assignment per unit and item at a time (Conflict otherwise);
        a second space is a second item."""
        actor = self._actor(actor)
        check_code(code)
        start = _day("start", start)
        if end is not None and _day("end", end) <= start:
            raise ValidationError("end", end, f"must be after the start {start}")
        with self._app.unit_of_work() as uow:
            unit: Unit = self._get(uow, actor, uow.units, "unit", unit_id, "ledger.configure")
            item = uow.billing.item(unit.estate_id, code)
            if item is None or item.kind is not FeeKind.FIXED:
                raise ValidationError("code", code, "names no fixed fee item of this estate")
            for held in uow.billing.assignments(unit.id):
                if (
                    held.fee_item == code
                    and (end is None or held.start < end)
                    and (held.end is None or held.end > start)
                ):
                    raise Conflict(
                        "start",
                        start,
                        f"overlaps the unit's {code} from {held.start} to {held.end or 'open'}",
                    )
            uow.billing.assign(unit.estate_id, FeeAssignment(unit.id, code, start, end))
            uow.commit()

    def assignments(self, actor: Actor, unit_id: UnitId) -> builtins.list[FeeAssignment]:
        """The unit's fixed items (parking spaces), earliest first, ended ones included."""
        with self._app.unit_of_work(readonly=True) as uow:
            unit: Unit = self._get(
                uow, self._actor(actor), uow.units, "unit", unit_id, "ledger.read"
            )
            return uow.billing.assignments(unit.id)

    def end_assignment(self, actor: Actor, unit_id: UnitId, code: str, end: date) -> None:
        """Stop charging the unit's current ``code`` from ``end`` (exclusive; a space given
        up on the 20th is billed to the 19th). A period already billed past ``end`` is not
        rebilled: credit the owner with a compensation if the space was returned early."""
        actor = self._actor(actor)
        check_code(code)
        end = _day("end", end)
        with self._app.unit_of_work() as uow:
            unit: Unit = self._get(uow, actor, uow.units, "unit", unit_id, "ledger.configure")
            current = [
                a
                for a in uow.billing.assignments(unit.id)
                if a.fee_item == code and a.start < end and (a.end is None or a.end > end)
            ]
            if not current:
                raise NotFound("code", code, f"the unit has no {code} running on {end}")
            uow.billing.end_assignment(unit.id, code, current[0].start, end)
            uow.commit()

    def charge(
        self,
        actor: Actor,
        unit_id: UnitId,
        code: str,
        amount: Decimal | str | int,
        *,
        key: str | None = None,
    ) -> int:
        """Bill a one-off charge (access card, temporary parking) now; returns the entry id.

        ``key`` makes a retried request post once (default: a new key per call).
        """
        actor = self._actor(actor)
        value = exact(amount, "amount")
        if value <= 0:
            raise ValidationError("amount", amount, "a charge is a positive amount")
        check_code(code)
        optional_text("key", key, max_length=KEY_MAX)
        with self._app.unit_of_work() as uow:
            unit: Unit = self._get(uow, actor, uow.units, "unit", unit_id, "ledger.bill")
            item = uow.billing.item(unit.estate_id, code)
            if item is None or item.kind is not FeeKind.ONE_OFF:
                raise ValidationError("code", code, "names no one-off fee item of this estate")
            now = self._app.clock.now()
            estate = uow.estates.get(unit.estate_id)
            assert estate is not None
            period = now.astimezone(self._app.zone(estate.timezone)).strftime("%Y-%m")
            fen = to_fen(value)
            entry = JournalEntry(
                estate_id=unit.estate_id,
                kind="bill",
                at=now,
                key=f"charge:{unit.id}:{code}:{key}" if key else new_key(f"charge:{unit.id}"),
                actor=actor.name,
                postings=(
                    Posting("receivable", fen, unit.id, code, period),
                    Posting("revenue", -fen, sub=code),
                ),
            )
            entry_id, _ = self._app.ledger.post_in(uow, entry)
            uow.commit()
        return entry_id

    def bills(self, actor: Actor, unit_id: UnitId) -> builtins.list[BillLine]:
        """The unit's bills (from bill runs), oldest period first."""
        with self._app.unit_of_work(readonly=True) as uow:
            unit: Unit = self._get(
                uow, self._actor(actor), uow.units, "unit", unit_id, "ledger.read"
            )
            return uow.billing.bills_of(unit.id)

    def correct(
        self,
        actor: Actor,
        unit_id: UnitId,
        period: str,
        reason: str,
        *,
        fee_items: Iterable[str] | None = None,
        at: datetime | None = None,
    ) -> BillCorrection:
        """Re-bill a unit's ``period`` after its area, use or handover date, or a fee
        item's rate, was corrected (fix those first: ``app.estates.update_unit``,
        ``update_fee_item``). In one transaction, each of the period's bills (of
        ``fee_items``, default every item billed by runs) that the corrected terms change
        is reversed with ``reason`` and billed anew; a bill that comes out the same is left
        alone, so a second call does nothing. What was paid on a reversed bill settles the
        new one; an excess goes to the owner's credit and on to the unit's other open
        bills, and owner credit settles a new bill as in a run.

        Needs ``ledger.reverse`` and ``ledger.bill`` (finance). ``at`` dates the entries
        (default now; not more than a day ahead). Late fees already assessed on the old
        bill stand: waive them (``late_fees``, ``waive_late_fee``) if they no longer apply.
        """
        actor = self._actor(actor)
        start = parse_period(period)
        if not isinstance(reason, str) or not reason.strip():
            raise ValidationError("reason", reason, "a correction needs a reason")
        why = text("reason", reason, max_length=NOTE_MAX).strip()
        codes = None if fee_items is None else _codes(fee_items)
        when = self._money_at(at)
        with self._app.unit_of_work() as uow:
            unit: Unit = self._get(uow, actor, uow.units, "unit", unit_id, "ledger.reverse")
            estate = self._estate(uow, actor, unit.estate_id, "ledger.bill")
            today = when.astimezone(self._app.zone(estate.timezone)).date()
            if start > today.replace(day=1):
                raise ValidationError(
                    "period", period, f"is not open yet: the current month is {today:%Y-%m}"
                )
            items = [
                i
                for i in uow.billing.items(estate.id)
                if i.kind is not FeeKind.ONE_OFF and period_bounds(i.schedule, period)
            ]
            if codes is not None:
                unknown = sorted(set(codes) - {i.code for i in items})
                if unknown:
                    raise ValidationError(
                        "fee_items", unknown, f"no fee item of these codes is billed in {period}"
                    )
                items = [i for i in items if i.code in codes]
            result = self._correct_in(uow, actor, unit, items, period, why, when)
            uow.commit()
        return result

    def _correct_in(
        self,
        uow: UnitOfWork,
        actor: Actor,
        unit: Unit,
        items: builtins.list[FeeItem],
        period: str,
        why: str,
        when: datetime,
    ) -> BillCorrection:
        start = parse_period(period)
        facts = uow.billing.unit_chunk(
            unit.estate_id, unit.id - 1, 1, start, start + relativedelta(months=12)
        )
        assert facts and facts[0].unit_id == unit.id  # the unit was just read
        new = {ln.fee_item: ln for ln in bill_lines(items, facts, period)}
        codes = {i.code for i in items}
        old = {b.fee_item: b for b in uow.billing.bills_of(unit.id) if b.period == period}
        reversed_ids: builtins.list[int] = []
        rebilled: builtins.list[BillLine] = []
        unchanged: builtins.list[str] = []
        difference = 0
        for code in sorted(codes):
            was, now = old.get(code), new.get(code)
            live = was is not None and was.reversed_by is None
            if (
                was is not None
                and live
                and now is not None
                and (
                    (was.amount_fen, was.due_date, was.shares)
                    == (now.amount_fen, now.due_date, now.shares)
                )
            ):
                unchanged.append(code)
                continue
            last = None if was is None else was.reversed_by
            if was is not None and was.reversed_by is None:
                assert was.entry_id is not None  # a stored bill names its entry
                original = uow.ledger.get(was.entry_id)
                assert original is not None
                undo = reversal(original, was.entry_id, at=when, actor=actor.name, reason=why)
                last, _ = self._app.ledger.post_in(uow, undo)
                reversed_ids.append(last)
                difference -= was.amount_fen
            if now is None:
                continue
            entry = JournalEntry(
                estate_id=unit.estate_id,
                kind=EntryKind.BILL,
                at=when,
                # A bill's own key is taken by the bill it corrects: the re-bill names the
                # reversal that cleared the way, so each is posted once.
                key=now.key if last is None else f"{now.key}:{last}",
                actor=actor.name,
                postings=(
                    Posting(Account.RECEIVABLE, now.amount_fen, unit.id, code, period),
                    Posting(Account.REVENUE, -now.amount_fen, sub=code),
                ),
                memo=why if was is None else f"re-billed: {why}",
            )
            entry_id, _ = self._app.ledger.post_in(uow, entry)
            uow.billing.rebill(unit.estate_id, now, entry_id)
            rebilled.append(attrs.evolve(now, entry_id=entry_id))
            difference += now.amount_fen
        released = 0
        applied = None
        if reversed_ids or rebilled:
            last_id = max([*reversed_ids, *(b.entry_id or 0 for b in rebilled)])
            done = self._app.ledger.release_in(
                uow, unit.estate_id, unit.id, when, actor.name, f"correction:{last_id}"
            )
            released = 0 if done is None else done[1]
            # Released money, and any credit the owner held, settle the new bills at once.
            applied = self._app.payments.apply_credit_in(
                uow, unit.estate_id, unit.id, when, actor.name
            )
        return BillCorrection(
            unit.id,
            period,
            tuple(reversed_ids),
            tuple(rebilled),
            tuple(unchanged),
            from_fen(difference),
            from_fen(released),
            applied,
        )

    def run(
        self, actor: Actor, estate_id: EstateId, period: str, *, at: datetime | None = None
    ) -> BillRunReport:
        """Bill ``period`` ('YYYY-MM') for every unit of the estate; safe to rerun.

        ``at`` dates the bills (default now; never in the future): a company bringing its
        past months into propcare bills each as of when it was billed, so reports as of
        an earlier day see them.
        """
        actor = self._actor(actor)
        start = parse_period(period)
        now = self._app.clock.now()
        if at is not None:
            if require_instant("at", at) > now:
                raise ValidationError("at", at, "bills are not dated in the future")
            now = at
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, actor, estate_id, "ledger.bill")
            items = uow.billing.items(estate.id)
        tz = self._app.zone(estate.timezone)
        today = now.astimezone(tz).date()
        if start > today.replace(day=1):
            raise ValidationError(
                "period", period, f"is not open yet: the current month is {today:%Y-%m}"
            )
        # The longest schedule decides which assignments and owners a chunk must read.
        end = start + relativedelta(months=12)
        billed_now = already = 0
        total_fen = 0
        after = 0
        skipped: builtins.list[SkippedUnit] = []
        while True:
            with self._app.unit_of_work() as uow:
                units = uow.billing.unit_chunk(estate.id, after, CHUNK, start, end)
                if not units:
                    break
                after = units[-1].unit_id
                lines = bill_lines(items, units, period)
                skipped += skipped_units(items, units, lines, period)
                done = uow.billing.billed(estate.id, period, units[0].unit_id, after)
                new = [ln for ln in lines if (ln.unit_id, ln.fee_item) not in done]
                already += len(lines) - len(new)
                ids = uow.billing.write_entries(
                    estate.id,
                    "bill",
                    now,
                    actor.name,
                    [
                        (ln.key, ln.unit_id, ln.amount_fen, ln.fee_item, period, "revenue")
                        for ln in new
                    ],
                )
                uow.billing.add_bills(estate.id, new, ids)
                # Prepayments and overpayments settle the new bills at once, in the same
                # transaction (a crash leaves neither); one query finds the few units with any.
                if new:
                    for unit_id in uow.billing.units_with_credit(
                        estate.id, units[0].unit_id, after
                    ):
                        self._app.payments.apply_credit_in(uow, estate.id, unit_id, now, actor.name)
                uow.commit()
            billed_now += len(new)
            total_fen += sum(ln.amount_fen for ln in new)
        # Paid services of tickets, each billed once in the run of the month it fell in.
        lo = datetime.combine(start, time(), tz).astimezone(UTC)
        hi = datetime.combine(start + relativedelta(months=1), time(), tz).astimezone(UTC)
        with self._app.unit_of_work() as uow:
            charges = uow.billing.unbilled_ticket_charges(estate.id, lo, hi)
            ids = uow.billing.write_entries(
                estate.id,
                "bill",
                now,
                actor.name,
                [
                    (f"ticket_charge:{cid}", unit, fen, PAID_SERVICE, period, "revenue")
                    for cid, unit, fen, _at in charges
                ],
            )
            uow.billing.mark_ticket_charges(
                [(c[0], entry) for c, entry in zip(charges, ids, strict=True)]
            )
            if new_charges := len(charges):
                billed_now += new_charges
                total_fen += sum(c[2] for c in charges)
            if billed_now:
                self._publish(
                    uow,
                    BillRun(
                        estate_id=estate.id,
                        at=now,
                        period=period,
                        billed=billed_now,
                        already=already,
                        total_fen=total_fen,
                    ),
                    # A run of its own: a second run of the period at the same instant (a
                    # unit fixed after the first named it skipped, the same ``at``) bills
                    # other lines and is another event, not a clash.
                    key=new_key(f"billrun:{estate.id}:{period}"),
                )
            uow.commit()
        return BillRunReport(
            estate.id,
            period,
            billed_now,
            already,
            from_fen(total_fen),
            self._labelled(estate.id, skipped),
        )

    def _labelled(
        self, estate_id: EstateId, skipped: builtins.list[SkippedUnit]
    ) -> tuple[SkippedUnit, ...]:
        """``skipped`` with each unit's building and number, as a person looks it up: the
        estate's buildings in one query, and its units in one when many were skipped (a
        new estate before handover skips them all)."""
        if not skipped:
            return ()
        with self._app.unit_of_work(readonly=True) as uow:
            buildings = {b.id: b.name for b in uow.buildings.in_estate(estate_id)}
            if len(skipped) > CHUNK:
                known = {u.id: u for u in uow.units.in_estate(estate_id)}
                units = [known.get(UnitId(s.unit_id)) for s in skipped]
            else:
                units = [uow.units.get(UnitId(s.unit_id)) for s in skipped]
        out: builtins.list[SkippedUnit] = []
        for s, unit in zip(skipped, units, strict=True):
            if unit is None:  # removed since the run read it: keep the id
                out.append(s)
                continue
            label = f"{buildings.get(unit.building_id, '')} {unit.number}".strip()
            out.append(attrs.evolve(s, unit=label))
        return tuple(out)

    # --- late fees: off by default ---------------------------------------------------

    def set_late_fees(
        self,
        actor: Actor,
        estate_id: EstateId,
        daily_rate: Decimal | str,
        grace_days: int = 0,
        cap: Decimal | str = Decimal("0.3"),
    ) -> LateFeeTerms:
        """Record the contract's late-fee clause for the estate (there is none by default)."""
        actor = self._actor(actor)
        record_id("estate_id", estate_id)
        terms = LateFeeTerms(daily_rate, grace_days, cap)
        with self._app.unit_of_work() as uow:
            estate = self._estate(uow, actor, estate_id, "ledger.configure")
            uow.billing.set_terms(estate.id, terms)
            uow.commit()
        return terms

    def assess_late_fees(self, actor: Actor, estate_id: EstateId, as_of: date) -> LateFeeReport:
        """Post the late fees accrued by ``as_of`` on overdue bills, if the contract sets
        any; once per bill and month of ``as_of`` (a rerun in the month posts nothing).
        ``as_of`` is not more than a day past today in the estate's time zone: a late fee
        accrues by days that have passed, not by days to come."""
        actor = self._actor(actor)
        as_of = _day("as_of", as_of)
        now = self._app.clock.now()
        month = f"{as_of:%Y-%m}"
        with self._app.unit_of_work() as uow:
            estate = self._estate(uow, actor, estate_id, "ledger.bill")
            self._money_day(as_of, estate.timezone)
            terms = uow.billing.terms(estate.id)
            if terms is None:
                return LateFeeReport(estate.id, as_of, 0, from_fen(0))
            done = uow.billing.assessed(estate.id, month)
            rows: list[tuple[str, int, int, str, str, str]] = []
            fees: list[tuple[int, str, str, int]] = []
            for unit, item, period, due, billed, owed, assessed in uow.billing.overdue(
                estate.id, as_of
            ):
                if (unit, item, period) in done:
                    continue
                fen = late_fee_now(terms, owed, billed, due, as_of, assessed)
                if fen > 0:
                    key = f"late_fee:{unit}:{item}:{period}:{month}"
                    rows.append((key, unit, fen, "late_fee", period, "late_fee_revenue"))
                    fees.append((unit, item, period, fen))
            ids = uow.billing.write_entries(estate.id, "late_fee", now, actor.name, rows)
            uow.billing.add_late_fees(
                estate.id, month, [(*f, e) for f, e in zip(fees, ids, strict=True)]
            )
            uow.commit()
        posted = tuple(
            LateFee(e, unit, item, period, month, from_fen(fen))
            for (unit, item, period, fen), e in zip(fees, ids, strict=True)
        )
        return LateFeeReport(estate.id, as_of, len(ids), from_fen(sum(f[3] for f in fees)), posted)

    def late_fees(self, actor: Actor, unit_id: UnitId) -> builtins.list[LateFee]:
        """The unit's late fees, oldest first, each with its entry id and its waiver's."""
        with self._app.unit_of_work(readonly=True) as uow:
            unit: Unit = self._get(
                uow, self._actor(actor), uow.units, "unit", unit_id, "ledger.read"
            )
            rows = uow.billing.late_fees_of(unit.id)
        return [
            LateFee(e, unit.id, item, period, month, from_fen(fen), waived)
            for e, item, period, month, fen, waived in rows
        ]

    def waive_late_fee(self, actor: Actor, entry_id: int, reason: str) -> int:
        """Waive a late fee (a WAIVER entry reversing it, dated now); returns its id.
        Only roles allowed ``ledger.waive``, always with a reason. The entry id is on the
        fee as assessed (``assess_late_fees(...).fees``, ``late_fees(unit_id)``). What of
        the fee was paid goes to the owner's credit and on to the unit's open bills."""
        actor = self._actor(actor)
        if not isinstance(reason, str) or not reason.strip():
            raise ValidationError("reason", reason, "waiving a late fee needs a reason")
        text("reason", reason, max_length=NOTE_MAX)
        with self._app.unit_of_work() as uow:
            entry: JournalEntry = self._find(
                actor, uow.ledger.get, "entry", entry_id, "ledger.waive"
            )
            if entry.kind is not EntryKind.LATE_FEE:
                raise ValidationError("entry_id", entry_id, "is not a late fee")
            if not isinstance(reason, str) or not reason.strip():
                raise ValidationError("reason", reason, "waiving a late fee needs a reason")
            if uow.ledger.reversed_by(entry_id) is not None:
                raise InvalidTransition("entry_id", entry_id, "has been waived already")
            # The whole fee is un-billed; whatever of it was paid is then released to the
            # owner's credit (a receivable never stays below zero) and applied like any
            # credit, as for a reversed bill.
            postings = [attrs.evolve(p, amount_fen=-p.amount_fen) for p in entry.postings]
            waiver = JournalEntry(
                estate_id=entry.estate_id,
                kind=EntryKind.WAIVER,
                at=self._app.clock.now(),
                key=f"waiver:{entry_id}",
                actor=actor.name,
                postings=tuple(postings),
                memo=reason.strip(),
                reverses=entry_id,
            )
            new_id, _ = self._app.ledger.post_in(uow, waiver)
            for unit_id in sorted({p.unit_id for p in postings if p.unit_id is not None}):
                if self._app.ledger.release_in(
                    uow, entry.estate_id, unit_id, waiver.at, actor.name, waiver.key
                ):
                    self._app.payments.apply_credit_in(
                        uow, entry.estate_id, unit_id, waiver.at, actor.name
                    )
            uow.commit()
        return new_id
