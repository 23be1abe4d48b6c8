"""Preventive maintenance and patrol plans that open their own tickets (``app.maintenance``).

A plan repeats by an RFC 5545 RRULE ("FREQ=MONTHLY;BYMONTHDAY=1", "FREQ=DAILY;INTERVAL=15",
"FREQ=MONTHLY;INTERVAL=3") from its ``dtstart``, expanded in the estate's zone.
:meth:`MaintenancePlanService.generate` opens one ticket per occurrence in a period,
all in one transaction; the tickets table keeps (plan, occurrence) unique, and
generation skips occurrences already generated, so it can run as often as wanted
and for overlapping periods without making a duplicate.

A plan may follow a business calendar (``calendar="office"``): working days only,
make-up days included, or each occurrence on a day off moved to the next working day
(see :class:`~propcare.tickets.planned.Plan`). An occurrence in a year the calendar has
no holiday data for is held back with a warning, not guessed: tickets cannot be
deleted. :meth:`MaintenancePlanService.run` reports those; a later run, once the
year's data is configured, opens them.
"""

from __future__ import annotations

import builtins
import logging
from datetime import datetime
from typing import Any

import attrs

from propcare.access import Actor, Resource
from propcare.calendar import BusinessCalendar
from propcare.clock import require_instant
from propcare.errors import ConfigError, PropcareError, ValidationError
from propcare.registry.model import EstateId, Staff, Team, Unit
from propcare.service import Service
from propcare.storage.ports import UnitOfWork
from propcare.tickets.model import CallbackPolicy, Category, Priority, Status
from propcare.tickets.planned import HeldBack, NonWorking, Plan, occurrence_key
from propcare.validators import optional_record_id, text

__all__ = ["Generation", "MaintenancePlanService"]

log = logging.getLogger(__name__)


@attrs.frozen
class Generation:
    """What a run of the plans did: the tickets it opened now (ids, in order) and the
    occurrences it held back because a plan's calendar has no holiday data for their
    year (a later run opens them once the year's data is configured)."""

    opened: tuple[int, ...] = ()
    held: tuple[HeldBack, ...] = ()


def _optional_id(value: Any, field: str) -> int | None:
    return optional_record_id(field, value)


class MaintenancePlanService(Service):
    def create_plan(
        self,
        actor: Actor,
        estate_id: EstateId,
        *,
        title: str,
        rule: str,
        dtstart: datetime,
        category: Category | str = Category.COMMON_REPAIR,
        location: str = "",
        unit_id: int | None = None,
        team_id: int | None = None,
        first_contact_staff_id: int | None = None,
        calendar: str | None = None,
        non_working: NonWorking | str = NonWorking.SKIP,
    ) -> Plan:
        """A plan that opens a ticket at every occurrence of ``rule`` from ``dtstart``.

        Preventive maintenance is ``common_repair`` (the default); a patrol plan uses
        ``other_service``. Give a ``unit_id`` or a common-area ``location``. Its tickets
        go to ``team_id`` when given; ``first_contact_staff_id`` (default: the actor's
        own staff id) is accountable for them (首问负责人).

        ``calendar`` names a configured business calendar (``app.calendars``) the plan
        follows; ``non_working`` (``skip`` or ``next_working_day``) says what happens to
        an occurrence on a day off: see :class:`~propcare.tickets.planned.Plan`.
        """
        actor = self._actor(actor)
        require_instant("dtstart", dtstart)
        if calendar is not None and (
            not isinstance(calendar, str) or calendar not in self._app.calendars
        ):
            configured = ", ".join(sorted(self._app.calendars))
            raise ValidationError(
                "calendar", calendar, f"is not a configured calendar; configured: {configured}"
            )
        text("location", location, required=False)
        text("title", title)
        unit_id = _optional_id(unit_id, "unit_id")
        team_id = _optional_id(team_id, "team_id")
        staff_id = _optional_id(
            first_contact_staff_id if first_contact_staff_id is not None else actor.staff_id,
            "first_contact_staff_id",
        )
        with self._app.unit_of_work() as uow:
            estate = self._estate(uow, actor, estate_id, "maintenance.write")
            if staff_id is None:
                raise ValidationError(
                    "first_contact_staff_id", None, "name the staff member accountable (首问负责人)"
                )
            staff: Staff | None = uow.staff.get(staff_id)
            if staff is None or staff.estate_id != estate.id:
                raise ValidationError(
                    "first_contact_staff_id", staff_id, f"no staff member in estate {estate.id}"
                )
            if unit_id is not None:
                unit: Unit | None = uow.units.get(unit_id)
                if unit is None or unit.estate_id != estate.id:
                    raise ValidationError("unit_id", unit_id, f"no unit in estate {estate.id}")
            if team_id is not None:
                team: Team | None = uow.teams.get(team_id)
                if team is None or team.estate_id != estate.id:
                    raise ValidationError("team_id", team_id, f"no team in estate {estate.id}")
            plan = uow.maintenance_plans.add(
                Plan(
                    estate_id=estate.id,
                    title=title,
                    rule=rule.strip() if isinstance(rule, str) else rule,
                    dtstart=dtstart.astimezone(self._app.zone(estate.timezone)),
                    first_contact_staff_id=staff_id,
                    category=category,
                    location=location.strip(),
                    unit_id=unit_id,
                    team_id=team_id,
                    calendar=calendar,
                    non_working=non_working,
                )
            )
            uow.commit()
        return plan

    def plans(self, actor: Actor, estate_id: EstateId) -> builtins.list[Plan]:
        """Every plan of the estate, active or not, by id."""
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, self._actor(actor), estate_id, "maintenance.read")
            zone = self._app.zone(estate.timezone)
            return [
                attrs.evolve(p, dtstart=p.dtstart.astimezone(zone))
                for p in uow.maintenance_plans.in_estate(estate.id)
            ]

    def deactivate(self, actor: Actor, plan_id: int) -> Plan:
        """Stop the plan generating tickets; tickets it already opened stay as they are."""
        actor = self._actor(actor)
        with self._app.unit_of_work() as uow:
            plan: Plan = self._get(
                uow, actor, uow.maintenance_plans, "plan", plan_id, "maintenance.write"
            )
            if plan.active:
                plan = attrs.evolve(plan, active=False)
                uow.maintenance_plans.update(plan)
                uow.commit()
        return plan

    def generate(
        self, actor: Actor, estate_id: EstateId, start: datetime, end: datetime
    ) -> builtins.list[int]:
        """Open a ticket for every occurrence in ``[start, end)`` of every active plan;
        returns the ids of the tickets opened now. :meth:`run` does the same and also
        reports the occurrences held back for want of holiday data."""
        return list(self.run(actor, estate_id, start, end).opened)

    def run(self, actor: Actor, estate_id: EstateId, start: datetime, end: datetime) -> Generation:
        """Open a ticket for every occurrence in ``[start, end)`` of every active plan.

        Occurrences generated before are skipped. Each ticket opens at its occurrence
        (its SLA clock starts then), or at the next working day's same time when its plan
        moves occurrences off days off; on the ``patrol`` channel, with no callback
        (nobody reported it). Tickets of plans with a team are then assigned to it: the
        ticket service assigns in a transaction of its own, so this is a second step; a
        run that stopped between the two is completed by the next run, which assigns
        those tickets still waiting unassigned.

        An occurrence of a plan following a calendar that has no holiday data for its
        year is held back (not opened, logged as a warning, listed in
        :attr:`Generation.held`); everything else is generated.
        """
        actor = self._actor(actor)
        require_instant("start", start)
        require_instant("end", end)
        if end <= start:
            raise ValidationError("end", end, f"must be after start {start}")
        opened: list[int] = []
        held: list[HeldBack] = []
        to_assign: list[tuple[int, int, datetime]] = []  # ticket, team, opening time
        with self._app.unit_of_work() as uow:
            estate = self._estate(uow, actor, estate_id, "maintenance.generate")
            zone = self._app.zone(estate.timezone)
            plans = uow.maintenance_plans.active_in(estate.id)
            if any(p.team_id is not None for p in plans):
                # Checked now: refused after the commit, the tickets would stay unassigned.
                self._authorize(actor, "ticket.work", Resource("estate", estate.id, estate.id))
            for plan in plans:
                schedule = plan.schedule(start, end, zone, self._calendar_of(plan))
                held.extend(schedule.held)
                for occurrence in schedule.due:
                    key = occurrence_key(occurrence.key)
                    ticket_id = uow.tickets.by_occurrence(plan.id, key)
                    if ticket_id is None:
                        ticket_id = self._open(uow, actor, estate.id, plan, occurrence.at, key)
                        opened.append(ticket_id)
                    elif not self._waiting(uow, ticket_id):
                        continue
                    if plan.team_id is not None:
                        to_assign.append((ticket_id, plan.team_id, occurrence.at))
            uow.commit()
        _warn_held(plans, held)
        now = self._app.clock.now()
        for ticket_id, team_id, opens in to_assign:
            # Not before the ticket opened (the model refuses that), nor before now.
            self._app.tickets.assign(actor, ticket_id, team_id=team_id, at=max(now, opens))
        return Generation(tuple(opened), tuple(held))

    # --- internals --------------------------------------------------------------------

    def _open(
        self,
        uow: UnitOfWork,
        actor: Actor,
        estate_id: int,
        plan: Plan,
        occurrence: datetime,
        key: str,
    ) -> int:
        data: dict[str, Any] = {
            "category": plan.category.value,
            "channel": plan.channel.value,
            "priority": Priority.NORMAL.value,
            "summary": plan.title,
            "unit_id": plan.unit_id,
            "location": plan.location,
            "reporter_owner_id": None,
            "reporter_name": "",
            # Nobody reported it, so there is nobody to call back: resolving closes it.
            "callback_policy": CallbackPolicy.NEVER.value,
        }
        try:
            return self._app.tickets.open_in(
                uow,
                actor,
                estate_id,
                data,
                occurrence,
                plan.first_contact_staff_id,
                plan=(plan.id, key),
            )
        except PropcareError as exc:
            # Say which plan and occurrence: one bad plan stops the whole period.
            raise type(exc)(
                exc.field,
                exc.value,
                f"{exc.rule} (plan {plan.id} {plan.title!r}, occurrence {occurrence.isoformat()}; "
                "fix or deactivate the plan)",
            ) from exc

    def _calendar_of(self, plan: Plan) -> BusinessCalendar | None:
        if plan.calendar is None:
            return None
        calendar = self._app.calendars.get(plan.calendar)
        if calendar is None:
            # Configured when the plan was made, gone since: guessing would open tickets.
            raise ConfigError(
                "calendar",
                plan.calendar,
                f"plan {plan.id} {plan.title!r} follows it, but it is not configured; "
                f"configured: {', '.join(sorted(self._app.calendars))} (configure it again, "
                "or deactivate the plan)",
            )
        return calendar

    @staticmethod
    def _waiting(uow: UnitOfWork, ticket_id: int) -> bool:
        """A generated ticket that was never assigned: a previous run stopped before it."""
        ticket = uow.tickets.get(ticket_id)
        return (
            ticket is not None
            and ticket.state.status is Status.RECEIVED
            and not ticket.state.handoffs
        )


def _warn_held(plans: builtins.list[Plan], held: builtins.list[HeldBack]) -> None:
    """One warning per plan, calendar and year, not one per occurrence (a daily patrol
    would log hundreds)."""
    groups: dict[tuple[int, str, int], builtins.list[datetime]] = {}
    for h in held:
        groups.setdefault((h.plan_id, h.calendar, h.year), []).append(h.occurrence)
    titles = {p.id: p.title for p in plans}
    for (plan_id, calendar, year), when in groups.items():
        log.warning(
            "maintenance plan %d %r: %d occurrence(s) from %s held back, no ticket opened: "
            "calendar %r has no holiday data for %d; add the year's schedule to the "
            "calendar's sources and generate again",
            plan_id,
            titles.get(plan_id, ""),
            len(when),
            min(when).isoformat(),
            calendar,
            year,
        )
