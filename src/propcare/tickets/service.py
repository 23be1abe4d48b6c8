"""The front desk's ticket work (``app.tickets``).

Every action goes the same way: load the ticket the actor may see, check the
role, apply the event through the transition table, recompute the deadlines
from the new state, append the event, put ``ticket.changed`` in the outbox and
commit. Nothing is written when any step refuses.

Every datetime a ticket method returns (the state's times, the deadlines, the
history's events, an alert's time) is in the estate's time zone, whatever zone a
caller gave or the clock keeps.
"""

from __future__ import annotations

import builtins
import contextlib
import enum
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any

import attrs

from propcare.access import Actor, Resource
from propcare.clock import require_instant
from propcare.errors import (
    MoneyTypeError,
    NotFound,
    PermissionDenied,
    PropcareError,
    ValidationError,
)
from propcare.money import exact, money, to_fen
from propcare.notify.outbox import Notification, Recipient
from propcare.period import Period
from propcare.registry.model import EstateId, RevealPurpose, Staff
from propcare.registry.service import audit_reveal
from propcare.service import Service
from propcare.sla.engine import Deadlines, alerts_due, compute_deadlines
from propcare.sla.policy import SlaPolicy, Target
from propcare.storage.ports import UnitOfWork
from propcare.tickets.events import SlaAlerted, TicketChanged, TicketsImported
from propcare.tickets.model import (
    Action,
    CallbackPolicy,
    Category,
    Channel,
    Priority,
    Satisfaction,
    TicketEvent,
    TicketState,
    apply,
    finished_order,
    replay,
)
from propcare.tickets.record import (
    Difference,
    DifferingTicket,
    HolidayGaps,
    Recomputed,
    SkippedTicket,
    SlaCheck,
    StoredCharge,
    StoredTicket,
    Ticket,
    TicketVerification,
    state_columns,
)
from propcare.tickets.words import LEVEL_WORDS, TARGET_WORDS
from propcare.validators import (
    NAME_MAX,
    NOTE_MAX,
    SUMMARY_MAX,
    bounded_int,
    day,
    enum_member,
    flag,
    optional_record_id,
    optional_text,
    params,
    record_id,
    text,
)

__all__ = ["TicketService"]

log = logging.getLogger(__name__)

# The permission each action needs.
_NEEDS = {
    Action.ASSIGN: "ticket.work",
    Action.START: "ticket.work",
    Action.ARRIVE: "ticket.work",
    Action.PAUSE: "ticket.work",
    Action.RESUME: "ticket.work",
    Action.DISPATCH: "ticket.work",
    Action.OUTSIDE_DONE: "ticket.work",
    Action.RESOLVE: "ticket.work",
    Action.NOTE: "ticket.work",
    Action.CHARGE: "ticket.work",
    Action.RATE: "ticket.callback",
    Action.CALLBACK: "ticket.callback",
    Action.CLOSE: "ticket.callback",
    Action.CANCEL: "ticket.cancel",
}


def _is_id(value: Any, *, optional: bool = False) -> bool:
    if value is None:
        return optional
    return isinstance(value, int) and not isinstance(value, bool)


class TicketService(Service):
    # --- intake ---------------------------------------------------------------------

    def open(
        self,
        actor: Actor,
        estate_id: EstateId,
        *,
        category: Category | str,
        channel: Channel | str,
        summary: str,
        priority: Priority | str = Priority.NORMAL,
        first_contact_staff_id: int | None = None,
        unit_id: int | None = None,
        location: str = "",
        reporter_owner_id: int | None = None,
        reporter_name: str = "",
        callback_policy: CallbackPolicy | str | None = None,
        at: datetime | None = None,
    ) -> Ticket:
        """Record a call, visit or patrol finding; whoever received it owns it (首问负责制).

        ``first_contact_staff_id`` defaults to the actor's own staff id.
        """
        actor = self._actor(actor)
        data = self._intake(
            category, channel, summary, priority, unit_id, location, reporter_owner_id,
            reporter_name, callback_policy,
        )  # fmt: skip
        when = self._at(at)
        with self._app.unit_of_work() as uow:
            ticket = self._open(uow, actor, estate_id, data, when, first_contact_staff_id, None)
            uow.commit()
        # What was stored, from memory: reading it back would cost a second transaction,
        # and the lifecycle actions (_act) answer the same way.
        return ticket

    def open_in(
        self,
        uow: UnitOfWork,
        actor: Actor,
        estate_id: int,
        data: dict[str, Any],
        when: datetime,
        first_contact_staff_id: int | None,
        plan: tuple[int, str] | None,
    ) -> int:
        """Open a ticket inside ``uow`` (for plans that generate tickets); returns its id."""
        return self._open(uow, actor, estate_id, data, when, first_contact_staff_id, plan).id

    def _open(
        self,
        uow: UnitOfWork,
        actor: Actor,
        estate_id: int,
        data: dict[str, Any],
        when: datetime,
        first_contact_staff_id: int | None,
        plan: tuple[int, str] | None,
    ) -> Ticket:
        record_id("estate_id", estate_id)
        optional_record_id("first_contact_staff_id", first_contact_staff_id)
        staff_id = first_contact_staff_id if first_contact_staff_id is not None else actor.staff_id
        unit_id, owner_id = data.get("unit_id"), data.get("reporter_owner_id")
        ids_ok = (_is_id(staff_id), _is_id(unit_id, optional=True), _is_id(owner_id, optional=True))
        # The estate and everything the call names in one lookup (what _estate() and three
        # record loads did in four): this runs for every call the front desk takes.
        refs = uow.tickets.intake_refs(
            estate_id,
            staff_id if ids_ok[0] else None,
            unit_id if ids_ok[1] else None,
            owner_id if ids_ok[2] else None,
        )
        if refs.timezone is None or not actor.sees(EstateId(estate_id)):
            # As Service._estate: an actor learns nothing about estates it may not see.
            raise NotFound(
                "estate_id", estate_id, f"no estate with this id among those {actor.name} may see"
            )
        self._authorize(actor, "ticket.open", Resource("estate", EstateId(estate_id), estate_id))
        if staff_id is None:
            raise ValidationError(
                "first_contact_staff_id", None, "name the staff member who received it (首问负责人)"
            )
        if not ids_ok[0] or refs.staff is None:
            raise ValidationError(
                "first_contact_staff_id",
                staff_id,
                f"no staff member with this id in estate {estate_id}",
            )
        name, active_from, active_to = refs.staff
        zone = self._app.zone(refs.timezone)
        when = when.astimezone(zone)  # the history and the state in the estate's zone
        day = when.date()
        if not (active_from <= day and (active_to is None or day <= active_to)):  # Staff.active_on
            raise ValidationError(
                "first_contact_staff_id", staff_id, f"{name} is not active on that day"
            )
        if not (ids_ok[1] and refs.unit):
            raise ValidationError("unit_id", unit_id, f"no unit in estate {estate_id}")
        if not (ids_ok[2] and refs.owner):
            raise ValidationError("reporter_owner_id", owner_id, f"no owner in estate {estate_id}")
        event = TicketEvent(
            seq=1,
            action=Action.OPEN,
            at=when,
            actor=actor.name,
            staff_id=actor.staff_id,
            data={**data, "estate_id": estate_id, "first_contact_staff_id": staff_id},
        )
        state = apply(None, event)
        policy = self._policy(state)
        deadlines = self._deadlines(state, policy)
        ticket_id = uow.tickets.add(state, event, deadlines, policy.name, plan)
        self._changed(uow, ticket_id, state, event)
        return _zoned(
            Ticket(id=ticket_id, state=state, deadlines=deadlines, policy=policy.name), zone
        )

    @staticmethod
    def _intake(
        category: Any,
        channel: Any,
        summary: Any,
        priority: Any,
        unit_id: Any,
        location: Any,
        reporter_owner_id: Any,
        reporter_name: Any,
        callback_policy: Any,
    ) -> dict[str, Any]:
        if not isinstance(summary, str) or not summary.strip():
            raise ValidationError("summary", summary, "describe what was reported")
        text("summary", summary, max_length=SUMMARY_MAX)
        optional_record_id("unit_id", unit_id)
        optional_record_id("reporter_owner_id", reporter_owner_id)
        text("location", location, required=False)
        text("reporter_name", reporter_name, required=False)
        if unit_id is None and not location.strip():
            raise ValidationError(
                "location", location, "give a unit_id, or a location for common areas"
            )
        data: dict[str, Any] = {
            "category": enum_member(Category, "category", category).value,
            "channel": enum_member(Channel, "channel", channel).value,
            "priority": enum_member(Priority, "priority", priority).value,
            "summary": summary.strip(),
            "unit_id": unit_id,
            "location": location,
            "reporter_owner_id": reporter_owner_id,
            "reporter_name": reporter_name,
        }
        if callback_policy is not None:
            data["callback_policy"] = enum_member(
                CallbackPolicy, "callback_policy", callback_policy
            ).value
        return data

    # --- the lifecycle ----------------------------------------------------------------

    def assign(
        self,
        actor: Actor,
        ticket_id: int,
        *,
        staff_id: int | None = None,
        team_id: int | None = None,
        at: datetime | None = None,
    ) -> Ticket:
        """Give the work to a technician or a team; a hand-off when already assigned.

        The first-contact owner does not change: they stay accountable.
        """
        optional_record_id("staff_id", staff_id)
        optional_record_id("team_id", team_id)
        return self._act(
            actor, ticket_id, Action.ASSIGN, {"staff_id": staff_id, "team_id": team_id}, at
        )

    def start(self, actor: Actor, ticket_id: int, *, at: datetime | None = None) -> Ticket:
        return self._act(actor, ticket_id, Action.START, {}, at)

    def arrive(self, actor: Actor, ticket_id: int, *, at: datetime | None = None) -> Ticket:
        """The technician is on site (the arrival target of repairs)."""
        return self._act(actor, ticket_id, Action.ARRIVE, {}, at)

    def pause(
        self, actor: Actor, ticket_id: int, reason: str, *, at: datetime | None = None
    ) -> Ticket:
        """Stop the SLA clock: waiting for the owner, for parts, for an outside party."""
        text("reason", reason, max_length=NOTE_MAX)
        return self._act(actor, ticket_id, Action.PAUSE, {"reason": reason}, at)

    def resume(self, actor: Actor, ticket_id: int, *, at: datetime | None = None) -> Ticket:
        return self._act(actor, ticket_id, Action.RESUME, {}, at)

    def dispatch(
        self,
        actor: Actor,
        ticket_id: int,
        party: str,
        *,
        promised: str | None = None,
        at: datetime | None = None,
    ) -> Ticket:
        """Send a work order to an outside party (developer's engineering dept, a vendor).

        ``promised`` is the day the party promised to finish by, as a ``date`` or written
        YYYY-MM-DD."""
        text("party", party)
        promised = _promised(promised)
        return self._act(
            actor, ticket_id, Action.DISPATCH, {"party": party, "promised": promised}, at
        )

    def outside_done(
        self,
        actor: Actor,
        ticket_id: int,
        *,
        order: int | None = None,
        party: str | None = None,
        at: datetime | None = None,
    ) -> Ticket:
        """An outside party reported a work order done.

        ``order`` names which: its number, 1 for the first dispatched (as
        ``state.outside`` lists them); ``party`` the party it was sent to (the first of
        its orders still pending; with ``order``, it must be that order's party). Neither:
        the first order still pending. The history records the order's number and party.
        """
        if order is not None:
            bounded_int("order", order, 1, _MAX_ORDERS, " (the outside order's number)")
        optional_text("party", party, required=True)
        data = {k: v for k, v in (("order", order), ("party", party)) if v is not None}
        return self._act(actor, ticket_id, Action.OUTSIDE_DONE, data, at)

    def resolve(
        self, actor: Actor, ticket_id: int, note: str = "", *, at: datetime | None = None
    ) -> Ticket:
        text("note", note, max_length=NOTE_MAX, required=False)
        return self._act(actor, ticket_id, Action.RESOLVE, {"note": note}, at)

    def rate(
        self,
        actor: Actor,
        ticket_id: int,
        satisfaction: Satisfaction | str,
        *,
        at: datetime | None = None,
    ) -> Ticket:
        """The owner rated the work themselves (e.g. in WeChat)."""
        value = enum_member(Satisfaction, "satisfaction", satisfaction).value
        return self._act(actor, ticket_id, Action.RATE, {"satisfaction": value}, at)

    def callback(
        self,
        actor: Actor,
        ticket_id: int,
        *,
        satisfaction: Satisfaction | str,
        fixed: bool = True,
        channel: str = "phone",
        comment: str = "",
        at: datetime | None = None,
    ) -> Ticket:
        """回访: closes the ticket, or reopens it as rework (返修) when not fixed."""
        if channel not in ("phone", "visit", "online"):
            raise ValidationError("channel", channel, "a callback is by phone, visit or online")
        flag("fixed", fixed)
        text("comment", comment, max_length=NOTE_MAX, required=False)
        data = {
            "satisfaction": enum_member(Satisfaction, "satisfaction", satisfaction).value,
            "fixed": fixed,
            "channel": channel,
            "comment": comment,
        }
        return self._act(actor, ticket_id, Action.CALLBACK, data, at)

    def reporter_contact(self, actor: Actor, ticket_id: int) -> tuple[str, ...]:
        """The full phone numbers of the owner who reported the ticket, for its callback.

        Allowed to whoever may call the ticket back (``ticket.callback``: the front desk,
        supervisors, managers, as the host's policy answers for that ticket), while the
        ticket is open, and only for its reporter (``reporter_owner_id``). Every reveal is
        audited in the same transaction (``app.owners.reveals``, purpose ``callback``,
        with the ticket) and published as ``registry.contact_revealed``.
        """
        actor = self._actor(actor)
        record_id("ticket_id", ticket_id)
        with self._app.unit_of_work() as uow:
            ticket = self._load(uow, actor, ticket_id, "ticket.callback")
            state = ticket.state
            if not state.is_open:
                raise PermissionDenied(
                    "ticket_id",
                    ticket_id,
                    f"ticket {ticket.id} is {state.status.value}: a reporter's contact is "
                    "shown for the callback of an open ticket",
                )
            owner = (
                None if state.reporter_owner_id is None else uow.owners.get(state.reporter_owner_id)
            )
            if owner is None or owner.estate_id != state.estate_id:
                raise ValidationError(
                    "ticket_id",
                    ticket_id,
                    f"ticket {ticket.id} names no reporting owner (reporter_owner_id) whose "
                    "contact is on file"
                    + (f"; the reporter noted at intake: {state.reporter_name}"
                       if state.reporter_name else ""),
                )  # fmt: skip
            audit_reveal(
                uow, self._publish, actor, self._app.clock.now(), EstateId(state.estate_id),
                owner.id, RevealPurpose.CALLBACK, ticket_id=ticket.id,
            )  # fmt: skip
            uow.commit()
        return tuple(p.reveal() for p in owner.phones)

    def close(
        self,
        actor: Actor,
        ticket_id: int,
        reason: str | None = None,
        *,
        at: datetime | None = None,
    ) -> Ticket:
        """Close without a callback: where the category's policy needs none, or with the
        reason none could be made (the owner could not be reached after repeated tries)."""
        optional_text("reason", reason, max_length=NOTE_MAX, required=True)
        data = {} if reason is None else {"reason": reason}
        return self._act(actor, ticket_id, Action.CLOSE, data, at)

    def cancel(
        self, actor: Actor, ticket_id: int, reason: str, *, at: datetime | None = None
    ) -> Ticket:
        text("reason", reason, max_length=NOTE_MAX)
        return self._act(actor, ticket_id, Action.CANCEL, {"reason": reason}, at)

    def note(
        self, actor: Actor, ticket_id: int, text: str, *, at: datetime | None = None
    ) -> Ticket:
        if not isinstance(text, str) or not text.strip():
            raise ValidationError("text", text, "a note needs text")
        _text("text", text, max_length=NOTE_MAX)
        return self._act(actor, ticket_id, Action.NOTE, {"text": text}, at)

    def charge(
        self,
        actor: Actor,
        ticket_id: int,
        item: str,
        unit_price: Decimal,
        quantity: Decimal | int = 1,
        *,
        at: datetime | None = None,
    ) -> Ticket:
        """Price an item of a paid service (有偿服务) for the fee ledger to bill.

        ``quantity`` is more than 0 and at most 10,000, to the hundredth (1.5 hours); the
        amount, ``unit_price`` times ``quantity``, is at most ``MAX_AMOUNT`` like any."""
        text("item", item)
        price = exact(unit_price, "unit_price")
        if price <= 0:
            raise ValidationError("unit_price", unit_price, "must be more than zero")
        qty = (
            Decimal(quantity)
            if isinstance(quantity, int) and not isinstance(quantity, bool)
            else quantity
        )
        if isinstance(qty, float):
            raise MoneyTypeError("quantity", quantity, "must be a Decimal or int, never a float")
        if (
            not isinstance(qty, Decimal)
            or not qty.is_finite()
            or not 0 < qty <= MAX_QUANTITY
            or qty != qty.quantize(Decimal("0.01"))
        ):
            raise ValidationError(
                "quantity",
                quantity,
                f"must be a Decimal or int above 0 and at most {MAX_QUANTITY:,}, "
                "at most 2 decimals",
            )
        amount = exact(money(price * qty), "amount")  # within MAX_AMOUNT, as a typed amount
        data = {
            "item": item,
            "quantity": str(qty),
            "unit_price": str(price),
            "amount": str(amount),
        }
        return self._act(actor, ticket_id, Action.CHARGE, data, at)

    # --- history from an earlier system -----------------------------------------------

    def import_history(
        self,
        actor: Actor,
        estate_id: EstateId,
        histories: Iterable[Sequence[TicketEvent]],
        *,
        batch: int = 1000,
    ) -> int:
        """Store historical tickets (from the system the estate used before); returns how many.

        Each history is one ticket's complete list of events, its open event first, with
        seq 1, 2, 3, ... and times that never go back. Each is replayed through the
        transition table, so an illegal sequence raises InvalidTransition naming where it
        is (``histories[41].events[3].action=...``), and gets its deadlines from this app's
        SLA policies and calendars exactly as a live ticket does. The first-contact staff
        member, unit, reporting owner and assignees must be the estate's. Charges among the
        events are recorded for the fee ledger as live ones are; nobody is notified.

        All or nothing: the whole call is ONE transaction, and any bad history leaves
        nothing written. Rows are written ``batch`` tickets at a time (executemany), so
        memory stays flat however long ``histories`` runs; SQLite has one writer at a
        time, so split an import of years into several calls if others must not wait.
        One ``ticket.imported`` event (count and id range) goes to the outbox for the
        whole call, not one per ticket.
        """
        actor = self._actor(actor)
        bounded_int("batch", batch, 1, 100_000, " (tickets a write)")
        if isinstance(histories, str | bytes | Mapping) or not isinstance(histories, Iterable):
            raise ValidationError(
                "histories", type(histories).__name__, "must be an iterable of event lists"
            )
        with self._app.unit_of_work() as uow:
            estate = self._estate(uow, actor, estate_id, "ticket.import")
            known = _EstateIds(uow, estate.id)
            missing: list[Deadlines] = []
            pending: list[tuple[TicketState, Sequence[TicketEvent], Deadlines, str]] = []
            first_id = last_id = count = 0
            for position, history in enumerate(histories):
                pending.append(self._historic(position, history, estate.id, known, missing))
                if len(pending) >= batch:
                    ids = uow.tickets.add_many(pending)
                    first_id, last_id = first_id or ids[0], ids[-1]
                    count += len(ids)
                    pending.clear()
            if pending:
                ids = uow.tickets.add_many(pending)
                first_id, last_id = first_id or ids[0], ids[-1]
                count += len(ids)
            if count == 0:
                return 0
            if missing:
                # Once for the import, not once a ticket as live intake logs it.
                years = sorted({y for d in missing for y in d.missing_years})
                log.warning(
                    "%d imported tickets have deadlines %s without the holiday data of %s "
                    "(recompute() brings them up to date once the calendar has the year)",
                    len(missing),
                    self._app.sla_missing.value,
                    ", ".join(map(str, years)),
                )
            event = TicketsImported(
                estate_id=estate.id,
                at=self._app.clock.now(),
                count=count,
                first_id=first_id,
                last_id=last_id,
            )
            self._publish(uow, event, key=f"ticket.imported:{first_id}-{last_id}")
            uow.commit()
        return count

    def _historic(
        self,
        position: int,
        history: Any,
        estate_id: int,
        known: _EstateIds,
        missing: list[Deadlines],
    ) -> tuple[TicketState, Sequence[TicketEvent], Deadlines, str]:
        """One history checked and replayed: its state, events, deadlines and policy name."""
        where = f"histories[{position}]"
        if isinstance(history, str | bytes | Mapping) or not isinstance(history, Sequence):
            raise ValidationError(where, type(history).__name__, "must be a list of TicketEvent")
        if not history:
            raise ValidationError(where, [], "a ticket has at least its open event")
        state: TicketState | None = None
        previous: datetime | None = None
        for index, event in enumerate(history):
            try:
                if not isinstance(event, TicketEvent):
                    raise ValidationError("event", type(event).__name__, "must be a TicketEvent")
                _check_imported(event)
                if previous is not None and event.at < previous:
                    raise ValidationError(
                        "at", event.at.isoformat(), f"goes back before {previous.isoformat()}"
                    )
                if state is None:
                    _check_opening(event, estate_id, known)
                elif event.action is Action.ASSIGN:
                    _check_assignee_known(event, estate_id, known)
                elif event.action in _DATA_RULES:
                    _DATA_RULES[event.action](event.data)
                state = apply(state, event)
            except PropcareError as exc:
                field = f"{where}.events[{index}].{exc.field}"
                raise type(exc)(field, exc.value, exc.rule) from exc
            except (KeyError, ValueError, TypeError, ArithmeticError) as exc:
                # Data the live methods would have refused before building the event.
                raise ValidationError(
                    f"{where}.events[{index}].data",
                    dict(event.data),
                    f"cannot be applied to a {event.action.value}: {type(exc).__name__} {exc}",
                ) from exc
            previous = event.at
        assert state is not None
        policy = self._policy(state)
        # As _deadlines() for live tickets, with the warnings gathered for the whole import.
        deadlines = compute_deadlines(
            state, policy, self._app.calendars, missing=self._app.sla_missing
        )
        if deadlines.gaps:
            missing.append(deadlines)
        return state, history, deadlines, policy.name

    # --- reading ----------------------------------------------------------------------

    def get(self, actor: Actor, ticket_id: int) -> Ticket:
        """The ticket, its times in the estate's time zone."""
        with self._app.unit_of_work(readonly=True) as uow:
            ticket = self._load(uow, self._actor(actor), ticket_id, "ticket.read")
            return _zoned(ticket, self._zone_of(uow, ticket.state.estate_id))

    def history(self, actor: Actor, ticket_id: int) -> builtins.list[TicketEvent]:
        """The ticket's events in order, their times in the estate's time zone."""
        with self._app.unit_of_work(readonly=True) as uow:
            ticket = self._load(uow, self._actor(actor), ticket_id, "ticket.read")
            zone = self._zone_of(uow, ticket.state.estate_id)
            return [
                e if e.at.tzinfo is zone else attrs.evolve(e, at=e.at.astimezone(zone))
                for e in uow.tickets.events(ticket.id)
            ]

    def open_tickets(self, actor: Actor, estate_id: EstateId) -> builtins.list[Ticket]:
        """The estate's open tickets, their times in its time zone."""
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, self._actor(actor), estate_id, "ticket.read")
            zone = self._app.zone(estate.timezone)
            return [_zoned(t, zone) for t in uow.tickets.open_in(estate.id)]

    # --- SLA upkeep -------------------------------------------------------------------

    def recompute(
        self,
        actor: Actor,
        estate_id: EstateId,
        *,
        period: str | None = None,
        open_only: bool = False,
    ) -> Recomputed:
        """Bring deadlines up to date after a calendar or policy change.

        Looks at the estate's open tickets and at every ticket, open or closed, whose
        deadlines are provisional or open (no holiday data when they were computed, or
        stored with a deadline missing): those opened in ``period`` (``"YYYY-MM"``, the
        estate's time zone), or all of them. An open ticket gets every deadline anew
        from its history, its policy and the calendars; a closed one keeps the deadlines
        it had and gets only those that were provisional or missing, so a later change
        of targets does not rewrite what was reported. ``open_only`` limits it to open
        tickets (what recompute did before 2027). Deterministic: the same history,
        policy and calendars give the same deadlines; the monthly statistics follow, as
        they count from the stored deadlines.
        """
        actor = self._actor(actor)
        flag("open_only", open_only)
        if period is not None:
            Period.parse(period)
        changed = examined = 0
        with self._app.unit_of_work() as uow:
            estate = self._estate(uow, actor, estate_id, "sla.recompute")
            zone = self._app.zone(estate.timezone)
            bounds = None if period is None else Period.parse(period).bounds(zone)
            for ticket in uow.tickets.needing_recompute(estate.id, bounds, open_only=open_only):
                examined += 1
                changed += self._recompute_one(uow, ticket)
            waiting = [d for _, d in uow.tickets.with_gaps(estate.id, bounds)]
            uow.commit()
        result = Recomputed(
            examined=examined,
            changed=changed,
            provisional=sum(1 for d in waiting if d.provisional),
            held=sum(1 for d in waiting if d.held),
        )
        if result.provisional or result.held:
            log.warning("estate %s after recompute: %s", estate.id, result.describe())
        return result

    def _recompute_one(self, uow: UnitOfWork, ticket: Ticket) -> bool:
        """Store ``ticket``'s deadlines anew (a closed one keeps its known ones); whether
        they changed."""
        policy = self._policy(ticket.state)
        deadlines = self._deadlines(ticket.state, policy, log_gaps=False)
        if not ticket.state.is_open:
            deadlines = _fill_in(ticket.deadlines, deadlines)
            policy_name = ticket.policy
        else:
            policy_name = policy.name
        if deadlines == ticket.deadlines and policy_name == ticket.policy:
            return False
        uow.tickets.refresh(ticket.id, deadlines, policy_name)
        return True

    def _refresh_arrived_years(self) -> int:
        """Recompute, in every estate, the tickets whose deadlines wait for a year's holiday
        data that a calendar now has (the year's file was added to the configuration);
        returns how many changed. ``Propcare.open`` runs it, so the flags clear by
        themselves once the data is there; it reads only the flagged tickets."""
        covered = {
            year
            for calendar in self._app.calendars.values()
            if calendar.holidays is not None
            for year in calendar.holidays.years
        }
        with self._app.unit_of_work(readonly=True) as uow:
            due = [
                ticket_id
                for estate in uow.estates.list_all()
                for ticket_id, deadlines in uow.tickets.with_gaps(estate.id, None)
                if covered.intersection(deadlines.missing_years)
            ]
        if not due:
            return 0
        changed = 0
        with self._app.unit_of_work() as uow:
            for ticket_id in due:
                ticket = uow.tickets.get(ticket_id)
                if ticket is not None:
                    changed += self._recompute_one(uow, ticket)
            uow.commit()
        log.info(
            "recomputed the deadlines of %d tickets now that their holiday data is here", changed
        )
        return changed

    def holiday_gaps(
        self, actor: Actor, estate_id: EstateId, *, period: str | None = None
    ) -> HolidayGaps:
        """How many of the estate's tickets (opened in ``period``, ``"YYYY-MM"``, if given)
        have deadlines that wait for a year's holiday data, and which years."""
        actor = self._actor(actor)
        if period is not None:
            Period.parse(period)
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, actor, estate_id, "ticket.read")
            zone = self._app.zone(estate.timezone)
            bounds = None if period is None else Period.parse(period).bounds(zone)
            found = uow.tickets.with_gaps(estate.id, bounds)
        return HolidayGaps(
            tickets=len(found),
            provisional=sum(len(d.provisional) for _, d in found),
            held=sum(len(d.held) for _, d in found),
            years=tuple(sorted({y for _, d in found for y in d.missing_years})),
        )

    # --- integrity ------------------------------------------------------------------

    def verify(self, actor: Actor, estate_id: EstateId) -> TicketVerification:
        """Rebuild every ticket of the estate from its events and report each stored row
        that differs; writes nothing (permission ``ticket.verify``).

        The database keeps events, charges and alerts append-only and lets a ticket row
        change only one event at a time or in its deadlines (migration 0019); what no
        trigger can judge is checked here, ticket by ticket:

        - the history replays through the transition table (else ``events``);
        - the state column is the replayed state, field by field (``state.<field>``; a
          state written before ``last_at`` and ``close_reason`` existed may lack them);
        - the columns that repeat the state (status, timestamps, assignees, satisfaction,
          rework count, callback flag, last_seq, ...) hold what the replay gives;
        - the ``ticket_charges`` rows are the charge events' (``charges``);
        - the deadlines are what ``recompute`` would store: an open ticket's are computed
          anew from the replayed state with today's policy and calendars (and its policy
          name compared); a closed or cancelled ticket keeps the known deadlines it was
          reported with (the database refuses to change them), so only those missing or
          provisional are compared with a fresh computation. A change of SLA targets or
          of holiday data therefore shows on open tickets until ``recompute`` runs: run
          it first, and what verify still reports is not recompute's to fix.

        Replay uses this release's rules: a ticket stored under older ones (when a note
        still counted as the first response, say) shows as differing too. Reads a chunk
        of tickets per unit of work (three queries each), so it runs beside the front
        desk's work on an estate of 100,000 tickets; each ticket is read with its events
        in one transaction.
        """
        actor = self._actor(actor)
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, actor, estate_id, "ticket.verify")
            ids = uow.tickets.ids_in(estate.id)
        zone = self._app.zone(estate.timezone)  # the report shows times as the estate's
        differing: list[DifferingTicket] = []
        for start in range(0, len(ids), _VERIFY_CHUNK):
            with self._app.unit_of_work(readonly=True) as uow:
                chunk = uow.tickets.stored(ids[start : start + _VERIFY_CHUNK])
            for stored in chunk:  # outside the transaction: nobody waits for the replay
                found = self._differences(stored, zone)
                if found:
                    differing.append(DifferingTicket(stored.id, tuple(found)))
        result = TicketVerification(estate.id, len(ids), tuple(differing))
        if differing:
            log.info(
                "estate %s: %d of %d tickets differ from their events: %s",
                estate.id,
                len(differing),
                len(ids),
                ", ".join(str(t.ticket_id) for t in differing[:20])
                + (" ..." if len(differing) > 20 else ""),
            )
        return result

    def _differences(self, stored: StoredTicket, zone: tzinfo) -> builtins.list[Difference]:
        """What of ``stored`` is not what its events give (see verify)."""
        found = [
            Difference(what, f"unreadable ({why})", "a readable value")
            for what, why in stored.unreadable
        ]
        try:
            rebuilt = replay(stored.events)
        except (PropcareError, KeyError, ValueError, TypeError, ArithmeticError) as exc:
            shown = f"{len(stored.events)} events" if stored.events else "no events"
            found.append(Difference("events", shown, f"no ticket: {type(exc).__name__} {exc}"))
            return found
        if stored.state is not None and stored.state != rebuilt:
            for field in attrs.fields(TicketState):
                kept, given = getattr(stored.state, field.name), getattr(rebuilt, field.name)
                if kept != given and not (field.name in _ADDED_LATER and kept == field.default):
                    found.append(
                        Difference(f"state.{field.name}", _shown(kept, zone), _shown(given, zone))
                    )
        for name, given in state_columns(rebuilt).items():
            kept = stored.columns.get(name)
            if kept != given:
                found.append(Difference(name, _shown(kept, zone), _shown(given, zone)))
        charges = _charges_of(stored.events, rebuilt)
        if stored.charges != charges:
            found.append(
                Difference("charges", _shown_charges(stored.charges), _shown_charges(charges))
            )
        if stored.deadlines is not None:
            found.extend(self._deadline_differences(stored, stored.deadlines, rebuilt, zone))
        return found

    def _deadline_differences(
        self, stored: StoredTicket, kept: Deadlines, rebuilt: TicketState, zone: tzinfo
    ) -> builtins.list[Difference]:
        policy = self._policy(rebuilt)
        fresh = compute_deadlines(
            rebuilt, policy, self._app.calendars, missing=self._app.sla_missing
        )
        found: list[Difference] = []
        if rebuilt.is_open:
            should, policy_name = fresh, policy.name
        else:
            should, policy_name = _fill_in(kept, fresh), stored.policy
        for target in Target:
            if kept.get(target) != should.get(target) or kept.gap(target) != should.gap(target):
                found.append(
                    Difference(
                        f"deadlines.{target.value}",
                        _shown_due(kept, target, zone),
                        _shown_due(should, target, zone),
                    )
                )
        counts = (
            ("provisional", stored.provisional, len(should.provisional)),
            ("held", stored.held, len(should.held)),
        )
        for name, count, wanted in counts:
            if count != wanted:
                found.append(Difference(name, str(count), str(wanted)))
        if stored.policy != policy_name:
            found.append(Difference("policy", stored.policy, policy_name))
        return found

    def check_sla(
        self, actor: Actor, estate_id: EstateId, *, now: datetime | None = None
    ) -> SlaCheck:
        """Send every warning and escalation now due, each once.

        Returns the alerts sent now, and every open ticket it could not fully judge
        (a year's holiday data missing under the strict setting), each with the reason;
        those are logged too. Provisional deadlines alert as any other, saying so.

        Whom: a warning goes to the one who must act (the callback's to the first-contact
        owner; the work's to the assignee, or to the leader of a team it is assigned to
        alone, or, unassigned, to the first-contact owner); an escalation to the estate's
        supervisors, then its managers. An outside work order whose promised day has
        passed while it is not done raises one warning per order (target ``outside``),
        to the first-contact owner, who answers for the ticket while another party works
        on it (首问负责制) and chases that party.
        """
        actor = self._actor(actor)
        when = self._at(now)
        rules = self._app.sla_alert_rules
        sent: list[SlaAlerted] = []
        skipped: list[SkippedTicket] = []
        checked = 0
        with self._app.unit_of_work() as uow:
            estate = self._estate(uow, actor, estate_id, "ticket.read")
            zone = self._app.zone(estate.timezone)
            when = when.astimezone(zone)
            for ticket in uow.tickets.open_in(estate.id):
                checked += 1
                policy = self._policy(ticket.state)
                found = alerts_due(
                    ticket.state,
                    policy,
                    self._app.calendars,
                    when,
                    rules,
                    missing=self._app.sla_missing,
                )
                if found.unknown:
                    reason = "; ".join(found.unknown)
                    skipped.append(SkippedTicket(ticket.id, reason))
                    log.warning("check_sla: ticket %s not fully judged: %s", ticket.id, reason)
                for alert in found.alerts:
                    if not uow.tickets.record_alert(
                        ticket.id, alert.target.value, alert.level, when
                    ):
                        continue
                    event = SlaAlerted(
                        estate_id=estate.id,
                        at=when,
                        ticket_id=ticket.id,
                        target=alert.target.value,
                        level=alert.level,
                        due=alert.due.astimezone(zone).isoformat(),
                        provisional=", ".join(str(y) for y in alert.provisional),
                    )
                    self._publish(uow, event, key=f"sla:{ticket.id}:{alert.target}:{alert.level}")
                    self._notify_alert(uow, estate.id, ticket, event, zone)
                    sent.append(event)
                for event in self._outside_overdue(uow, ticket, when, zone):
                    self._notify_alert(uow, estate.id, ticket, event, zone)
                    sent.append(event)
            uow.commit()
        return SlaCheck(checked=checked, sent=tuple(sent), skipped=tuple(skipped))

    def _outside_overdue(
        self, uow: UnitOfWork, ticket: Ticket, when: datetime, zone: tzinfo
    ) -> builtins.list[SlaAlerted]:
        """The alerts of the ticket's outside orders whose promised day (in the estate's
        zone) ended before ``when`` undone, each recorded once and published."""
        found: list[SlaAlerted] = []
        for number, order in enumerate(ticket.state.outside, start=1):
            if order.done_at is not None or order.promised is None:
                continue
            due = datetime.combine(order.promised + timedelta(days=1), time(), zone)
            if when < due:
                continue
            target = f"outside:{number}"
            if not uow.tickets.record_alert(ticket.id, target, "warning", when):
                continue
            event = SlaAlerted(
                estate_id=EstateId(ticket.state.estate_id),
                at=when,
                ticket_id=ticket.id,
                target="outside",
                level="warning",
                due=due.isoformat(),
                order=number,
                party=order.party,
            )
            self._publish(uow, event, key=f"sla:{ticket.id}:{target}:warning")
            found.append(event)
        return found

    # --- internals --------------------------------------------------------------------

    def _staff(self, uow: UnitOfWork, estate_id: int, staff_id: Any, field: str) -> Staff:
        staff: Staff | None = uow.staff.get(staff_id) if isinstance(staff_id, int) else None
        if staff is None or staff.estate_id != estate_id:
            raise ValidationError(
                field, staff_id, f"no staff member with this id in estate {estate_id}"
            )
        return staff

    def _load(self, uow: UnitOfWork, actor: Actor, ticket_id: Any, action: str) -> Ticket:
        ticket = uow.tickets.get(record_id("ticket_id", ticket_id))
        if ticket is None or not actor.sees(ticket.state.estate_id):  # type: ignore[arg-type]
            raise self._not_found(actor, ticket_id)
        self._authorize(actor, action, Resource("ticket", ticket.state.estate_id, ticket_id))  # type: ignore[arg-type]
        return ticket

    @staticmethod
    def _not_found(actor: Actor, ticket_id: int) -> Exception:
        from propcare.errors import NotFound

        return NotFound(
            "ticket_id", ticket_id, f"no ticket with this id in the estates {actor.name} may see"
        )

    def _act(
        self,
        actor: Actor,
        ticket_id: int,
        action: Action,
        data: Mapping[str, Any],
        at: datetime | None,
    ) -> Ticket:
        actor = self._actor(actor)
        record_id("ticket_id", ticket_id)
        when = self._at(at)
        with self._app.unit_of_work() as uow:
            ticket = self._load(uow, actor, ticket_id, _NEEDS[action])
            zone = self._zone_of(uow, ticket.state.estate_id)
            when = when.astimezone(zone)
            if action is Action.ASSIGN:
                self._check_assignee(uow, ticket.state.estate_id, data)
            elif action is Action.OUTSIDE_DONE:
                # The history names the order that finished, however the caller named it.
                index = finished_order(ticket.state, data.get("order"), data.get("party"))
                data = {"order": index + 1, "party": ticket.state.outside[index].party}
            event = TicketEvent(
                seq=ticket.state.last_seq + 1,
                action=action,
                at=when,
                actor=actor.name,
                staff_id=actor.staff_id,
                data=dict(data),
            )
            state = apply(ticket.state, event)
            policy = self._policy(state)
            deadlines = self._deadlines(state, policy)
            policy_name = policy.name
            if not ticket.state.is_open:
                # A note on a closed or cancelled ticket: it keeps the deadlines it was
                # reported with, as recompute keeps them (and the database insists).
                deadlines = _fill_in(ticket.deadlines, deadlines)
                policy_name = ticket.policy
            uow.tickets.append(ticket.id, event, state, deadlines, policy_name)
            if action is Action.CHARGE:
                uow.tickets.add_charge(ticket.id, state, event.seq, state.charges[-1])
            self._changed(uow, ticket.id, state, event)
            if action is Action.ASSIGN and data.get("staff_id") is not None:
                self._notify_assignee(uow, ticket.id, state, data["staff_id"])
            uow.commit()
        return _zoned(
            Ticket(id=ticket.id, state=state, deadlines=deadlines, policy=policy_name), zone
        )

    def _check_assignee(self, uow: UnitOfWork, estate_id: int, data: Mapping[str, Any]) -> None:
        staff_id, team_id = data.get("staff_id"), data.get("team_id")
        if staff_id is None and team_id is None:
            raise ValidationError("assignee", None, "assign needs a staff_id or a team_id")
        if staff_id is not None:
            self._staff(uow, estate_id, staff_id, "staff_id")
        if team_id is not None:
            team = uow.teams.get(team_id) if isinstance(team_id, int) else None
            if team is None or team.estate_id != estate_id:
                raise ValidationError(
                    "team_id", team_id, f"no team with this id in estate {estate_id}"
                )

    def _policy(self, state: TicketState) -> SlaPolicy:
        return self._app.sla_policy_set(state.estate_id).find(state.category, state.priority)

    def _deadlines(
        self, state: TicketState, policy: SlaPolicy, *, log_gaps: bool = True
    ) -> Deadlines:
        # A call is recorded even without next year's holiday data: refusing it would
        # break 首问负责制. The deadline is provisional (or open, if so configured) and
        # says so until the data is added and recompute() runs.
        deadlines = compute_deadlines(
            state, policy, self._app.calendars, missing=self._app.sla_missing
        )
        if deadlines.gaps and log_gaps:
            # The ticket carries the flag; the log line is a trace, not the warning (that is
            # given at open, by `propcare calendar check` and in the monthly report).
            log.info("ticket deadlines: %s", deadlines.describe_gaps())
        return deadlines

    def _changed(
        self, uow: UnitOfWork, ticket_id: int, state: TicketState, event: TicketEvent
    ) -> None:
        self._publish(
            uow,
            TicketChanged(
                estate_id=EstateId(state.estate_id),
                at=event.at,
                ticket_id=ticket_id,
                seq=event.seq,
                action=event.action.value,
                status=state.status.value,
                actor=event.actor,
                category=state.category.value,
            ),
            key=f"ticket:{ticket_id}:{event.seq}",
        )

    def _notify_assignee(
        self, uow: UnitOfWork, ticket_id: int, state: TicketState, staff_id: int
    ) -> None:
        staff = uow.staff.get(staff_id)
        channel = self._app.ticket_channel
        if staff is None or staff.phone is None or channel is None:
            return
        self._app.notify.queue(
            uow,
            Notification(
                estate_id=EstateId(state.estate_id),
                channel=channel,
                recipient=Recipient(staff.name, staff.phone.reveal()),
                template="ticket_assigned",
                params={
                    "ticket": ticket_id,
                    "name": staff.name,
                    "summary": state.summary,
                    "location": self._place(uow, state),
                },
                key=f"assign:{ticket_id}:{state.last_seq}",
            ),
        )

    @staticmethod
    def _place(uow: UnitOfWork, state: TicketState) -> str:
        """Where the work is, as people say it: the unit ("1栋1-101"), with the location
        noted at intake if any ("1栋1-101 厨房"), or the common-area location alone."""
        unit = None if state.unit_id is None else uow.units.get(state.unit_id)
        if unit is None:
            return state.location or "—"
        building = uow.buildings.get(unit.building_id)
        label = f"{building.name if building is not None else ''}{unit.number}"
        return f"{label} {state.location}" if state.location.strip() else label

    def _notify_alert(
        self, uow: UnitOfWork, estate_id: int, ticket: Ticket, event: SlaAlerted, zone: tzinfo
    ) -> None:
        channel = self._app.ticket_channel
        if channel is None:
            return
        on = event.at.astimezone(zone).date()
        if event.level == "warning":
            people = self._warned(uow, EstateId(estate_id), ticket.state, event.target, on)
        else:
            wanted = {"supervisor": "supervisor", "manager": "manager"}[event.level]
            people = [
                s
                for s in uow.staff.in_estate(EstateId(estate_id))
                if wanted in s.roles and s.active_on(on)
            ]
        stored = event.target if event.order is None else f"outside:{event.order}"
        due = datetime.fromisoformat(event.due).astimezone(zone)
        if event.order is None:
            target: str | dict[str, str] = dict(TARGET_WORDS[event.target])
            when: str | dict[str, str] = _when_words(due)
        else:
            target = {
                "zh-CN": f"外部派单{event.order}（{event.party}）承诺完成",
                "en": f"outside order {event.order} ({event.party}) promised completion",
            }
            promised = (due - timedelta(days=1)).date()  # due: the end of the promised day
            when = {"zh-CN": f"{promised.month}月{promised.day}日", "en": f"{promised:%d %b}"}
        for person in people:
            if person.phone is None:
                continue
            self._app.notify.queue(
                uow,
                Notification(
                    estate_id=EstateId(estate_id),
                    channel=channel,
                    recipient=Recipient(person.name, person.phone.reveal()),
                    template="sla_alert",
                    params={
                        "ticket": ticket.id,
                        "name": person.name,
                        "target": target,
                        "level": dict(LEVEL_WORDS[event.level]),
                        "due": when,
                        "summary": ticket.state.summary,
                        "provisional": _provisional_words(event.provisional),
                    },
                    key=f"sla:{ticket.id}:{stored}:{event.level}:{person.id}",
                ),
            )

    @staticmethod
    def _warned(
        uow: UnitOfWork, estate_id: EstateId, state: TicketState, target: str, on: date
    ) -> builtins.list[Staff]:
        """Who gets a warning: the callback's owner for the callback and an outside order
        overdue (the first-contact owner, 首问负责人: they call back and chase the outside
        party); for the work itself, the assignee, or for a ticket assigned to a team
        alone the team's leader, or for a ticket nobody has yet the first-contact owner
        (who dispatches it). When that person is not active on the day (or a team has no
        leader), the first-contact owner; when they have left too, the front desk."""
        first = uow.staff.get(state.first_contact_staff_id)
        chosen: Staff | None = first
        if target not in (Target.CALLBACK.value, "outside"):
            if state.assignee_staff_id is not None:
                chosen = uow.staff.get(state.assignee_staff_id)
            elif state.assignee_team_id is not None:
                team = uow.teams.get(state.assignee_team_id)
                leader = None if team is None else team.leader_staff_id
                chosen = None if leader is None else uow.staff.get(leader)
        for person in (chosen, first):
            if person is not None and person.estate_id == estate_id and person.active_on(on):
                return [person]
        return [
            s for s in uow.staff.in_estate(estate_id) if "front_desk" in s.roles and s.active_on(on)
        ]

    def _zone_of(self, uow: UnitOfWork, estate_id: int) -> tzinfo:
        return self._app.zone(self._estate_tz(uow, estate_id))

    def _estate_tz(self, uow: UnitOfWork, estate_id: int) -> str:
        estate = uow.estates.get(estate_id)
        return "Asia/Shanghai" if estate is None else estate.timezone


# How much of a paid service one charge may price (hours, pieces, square metres).
MAX_QUANTITY = Decimal(10_000)
_text = text  # TicketService.note's parameter is named text


def _promised(value: Any) -> str | None:
    """A promised day as stored: None, or a date (or its YYYY-MM-DD text) in range."""
    if value is None:
        return None
    if isinstance(value, str) and len(value) <= 10 and "\x00" not in value:
        with contextlib.suppress(ValueError):  # not a date: refused below, with the rule
            value = date.fromisoformat(value)
    if not isinstance(value, date) or isinstance(value, datetime):
        raise ValidationError("promised", value, "must be a date, or one written YYYY-MM-DD")
    return day("promised", value).isoformat()


def _check_imported(event: TicketEvent) -> None:
    """What the live methods check of an event's fields, for an imported one: who made it,
    and data that JSON can hold, without NUL, within the size of a live event's."""
    bounded_int("seq", event.seq, 0, 1_000_000)  # the open event's is checked to be 1
    require_instant("at", event.at)
    text("actor", event.actor, max_length=NAME_MAX)
    optional_record_id("staff_id", event.staff_id)
    params("data", event.data)


def _provisional_words(years: str) -> str | dict[str, str]:
    """What an alert's text adds when its deadline is provisional (per locale), or ""."""
    if not years:
        return ""
    return {
        "zh-CN": f"（临时时限：缺少 {years} 年节假日数据）",
        "en": f" (provisional: {years} holiday data missing)",
    }


# A ticket's outside orders are numbered 1, 2, ...; an order number past this is no order.
_MAX_ORDERS = 10_000


def _when_words(due: datetime) -> dict[str, str]:
    """A deadline as people read it, in the zone ``due`` is in: 11月2日 09:15, 2 Nov 09:15."""
    return {"zh-CN": f"{due.month}月{due.day}日 {due:%H:%M}", "en": f"{due.day} {due:%b %H:%M}"}


def _zoned(ticket: Ticket, zone: tzinfo) -> Ticket:
    """``ticket`` with every datetime of its state and deadlines in ``zone`` (the same
    instants): what the ticket methods return."""
    state, due = ticket.state, ticket.deadlines

    def moved(value: datetime) -> datetime:
        return value if value.tzinfo is zone else value.astimezone(zone)

    def maybe(value: datetime | None) -> datetime | None:
        return None if value is None else moved(value)

    changes: dict[str, Any] = {}
    for name in _STATE_TIMES:
        value = getattr(state, name)
        if value is not None and value.tzinfo is not zone:
            changes[name] = value.astimezone(zone)
    if state.pauses:
        changes["pauses"] = tuple(
            attrs.evolve(p, start=moved(p.start), end=maybe(p.end)) for p in state.pauses
        )
    if state.outside:
        changes["outside"] = tuple(
            attrs.evolve(o, at=moved(o.at), done_at=maybe(o.done_at)) for o in state.outside
        )
    if state.charges:
        changes["charges"] = tuple(attrs.evolve(c, at=moved(c.at)) for c in state.charges)
    shown = {t.value: maybe(due.get(t)) for t in Target}
    if not changes and all(shown[t.value] is due.get(t) for t in Target):
        return ticket  # already in the zone: nearly every ticket just opened
    return attrs.evolve(
        ticket,
        state=attrs.evolve(state, **changes) if changes else state,
        deadlines=Deadlines(**shown, gaps=due.gaps),
    )


_STATE_TIMES = (
    "opened_at", "responded_at", "arrived_at", "resolved_at", "closed_at", "cancelled_at",
    "callback_at", "reopened_at", "last_at",
)  # fmt: skip

# Tickets verify reads per unit of work: a few queries each, the lock held only meanwhile.
_VERIFY_CHUNK = 500

# State fields a ticket stored before they existed lacks (read back as their defaults).
_ADDED_LATER = frozenset({"last_at", "close_reason"})


def _shown(value: object, zone: tzinfo) -> str:
    """A stored or rebuilt value as the verify report shows it."""
    if value is None:
        return "none"
    if isinstance(value, datetime):
        return value.astimezone(zone).isoformat()
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _shown_due(deadlines: Deadlines, target: Target, zone: tzinfo) -> str:
    text = _shown(deadlines.get(target), zone)
    gap = deadlines.gap(target)
    if gap is not None:
        years = ", ".join(map(str, gap.years))
        text += f" ({'held open' if gap.held else 'provisional'}: {years} holiday data missing)"
    return text


def _charges_of(events: Sequence[TicketEvent], state: TicketState) -> tuple[StoredCharge, ...]:
    """The ticket_charges rows the charge events of a history lead to."""
    seqs = [e.seq for e in events if e.action is Action.CHARGE]
    return tuple(
        StoredCharge(
            seq=seq,
            item=c.item,
            quantity=str(c.quantity),
            unit_price_fen=to_fen(c.unit_price),
            amount_fen=to_fen(c.amount),
            at=c.at,
        )
        for seq, c in zip(seqs, state.charges, strict=True)
    )


def _shown_charges(charges: Sequence[StoredCharge]) -> str:
    if not charges:
        return "none"
    return ", ".join(f"#{c.seq} {c.item} x{c.quantity} = {c.amount_fen} fen" for c in charges)


def _fill_in(kept: Deadlines, fresh: Deadlines) -> Deadlines:
    """A closed ticket's deadlines: those it had, except where they were provisional or
    missing, which take the fresh computation (and its gaps, if any remain)."""
    dues: dict[str, datetime | None] = {}
    gaps = []
    for target, name in ((t, t.value) for t in Target):
        if kept.gap(target) is not None or kept.get(target) is None:
            dues[name] = fresh.get(target)
            gap = fresh.gap(target)
            if gap is not None:
                gaps.append(gap)
        else:
            dues[name] = kept.get(target)
    return Deadlines(**dues, gaps=gaps)


class _EstateIds:
    """The ids of an estate's staff, units, owners and teams, each loaded once on first need.

    An import checks thousands of references; one query per kind beats one per ticket.
    """

    def __init__(self, uow: UnitOfWork, estate_id: int) -> None:
        self._uow = uow
        self._estate = EstateId(estate_id)
        self._loaded: dict[str, frozenset[int]] = {}

    def has(self, kind: str, value: Any) -> bool:
        """Whether ``value`` is the id of one of the estate's ``kind`` (staff, unit, ...)."""
        if not _is_id(value):
            return False
        ids = self._loaded.get(kind)
        if ids is None:
            repo: Any = {
                "staff": self._uow.staff,
                "unit": self._uow.units,
                "owner": self._uow.owners,
                "team": self._uow.teams,
            }[kind]
            ids = self._loaded[kind] = frozenset(r.id for r in repo.in_estate(self._estate))
        return value in ids


def _check_opening(event: TicketEvent, estate_id: int, known: _EstateIds) -> None:
    """What live intake checks before it builds the open event, for a stored one."""
    if event.action is not Action.OPEN:
        return  # apply() refuses it, naming the rule
    if event.seq != 1:
        raise ValidationError("seq", event.seq, "the open event is seq 1")
    d = event.data
    if d.get("estate_id") != estate_id:
        raise ValidationError("estate_id", d.get("estate_id"), f"must be {estate_id}, this estate")
    TicketService._intake(
        d.get("category"), d.get("channel"), d.get("summary"),
        d.get("priority", Priority.NORMAL), d.get("unit_id"), d.get("location", ""),
        d.get("reporter_owner_id"), d.get("reporter_name", ""), d.get("callback_policy"),
    )  # fmt: skip
    refs = (
        ("first_contact_staff_id", "staff", "staff member"),
        ("unit_id", "unit", "unit"),
        ("reporter_owner_id", "owner", "owner"),
    )
    for field, kind, what in refs:
        value = d.get(field)
        if (value is not None or kind == "staff") and not known.has(kind, value):
            raise ValidationError(field, value, f"no {what} with this id in estate {estate_id}")


def _check_assignee_known(event: TicketEvent, estate_id: int, known: _EstateIds) -> None:
    for field, kind in (("staff_id", "staff"), ("team_id", "team")):
        value = event.data.get(field)
        if value is not None and not known.has(kind, value):
            raise ValidationError(field, value, f"no {kind} with this id in estate {estate_id}")


def _check_callback_data(d: Mapping[str, Any]) -> None:
    """What callback() refuses: apply() would read "false" as fixed (any text is true)."""
    if not isinstance(d.get("fixed", True), bool):
        raise ValidationError("fixed", d.get("fixed"), "must be True or False")
    if d.get("channel", "phone") not in ("phone", "visit", "online"):
        raise ValidationError(
            "channel", d.get("channel"), "a callback is by phone, visit or online"
        )


def _check_charge_data(d: Mapping[str, Any]) -> None:
    """What charge() refuses, and an amount that is not the price times the quantity: the
    fee ledger bills these rows, so a wrong total from an old system must not slip in."""
    quantity = Decimal(str(d.get("quantity")))
    price = exact(Decimal(str(d.get("unit_price"))), "unit_price")
    if not quantity.is_finite() or quantity <= 0:
        raise ValidationError("quantity", d.get("quantity"), "must be a positive number")
    if price <= 0:
        raise ValidationError("unit_price", d.get("unit_price"), "must be more than zero")
    if Decimal(str(d.get("amount"))) != money(price * quantity):
        raise ValidationError(
            "amount", d.get("amount"), f"must be unit_price x quantity = {money(price * quantity)}"
        )


_DATA_RULES: dict[Action, Callable[[Mapping[str, Any]], None]] = {
    Action.CALLBACK: _check_callback_data,
    Action.CHARGE: _check_charge_data,
}
