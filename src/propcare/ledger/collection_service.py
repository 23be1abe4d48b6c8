"""Collectors and dunning (``app.collection``)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from propcare.access import Actor
from propcare.errors import ConfigError, ValidationError
from propcare.ledger.collection import (
    CollectorAssignment,
    DunningAttempt,
    Method,
    Outcome,
    QuietHours,
    collector_on,
)
from propcare.money import exact
from propcare.notify.outbox import Notification, Recipient
from propcare.registry.model import Building, EstateId, Staff, Unit, UnitId
from propcare.service import Service
from propcare.storage.ports import UnitOfWork
from propcare.validators import (
    NOTE_MAX,
    day,
    enum_member,
    optional_day,
    optional_record_id,
    optional_text,
    record_id,
    text,
)

__all__ = ["CollectionService"]


class CollectionService(Service):
    def quiet_hours(self) -> QuietHours:
        settings = dict(self._app.config.get("dunning") or {})
        window = settings.get("quiet_hours", "21:00-08:00")
        if not isinstance(window, str) or "-" not in window:
            raise ConfigError("dunning.quiet_hours", window, "write it as HH:MM-HH:MM")
        start, end = window.split("-", 1)
        return QuietHours(start, end)

    def assign_collector(
        self,
        actor: Actor,
        estate_id: EstateId,
        staff_id: int,
        *,
        start: date,
        building_id: int | None = None,
        unit_id: int | None = None,
        end: date | None = None,
    ) -> CollectorAssignment:
        """Make ``staff_id`` the collector of a building or a unit from ``start``."""
        actor = self._actor(actor)
        record_id("staff_id", staff_id)
        optional_record_id("building_id", building_id)
        optional_record_id("unit_id", unit_id)
        day("start", start)
        optional_day("end", end)
        with self._app.unit_of_work() as uow:
            estate = self._estate(uow, actor, estate_id, "ledger.assign")
            staff: Staff | None = uow.staff.get(staff_id) if isinstance(staff_id, int) else None
            if staff is None or staff.estate_id != estate.id or "collector" not in staff.roles:
                raise ValidationError("staff_id", staff_id, "no collector with this id here")
            for kind, place_id in (("building", building_id), ("unit", unit_id)):
                if place_id is None:
                    continue
                repo = uow.buildings if kind == "building" else uow.units
                found = repo.get(place_id)
                if found is None or found.estate_id != estate.id:
                    raise ValidationError(f"{kind}_id", place_id, f"no {kind} with this id here")
            assignment = uow.collection.add_assignment(
                CollectorAssignment(
                    estate_id=estate.id,
                    staff_id=staff.id,
                    start=start,
                    building_id=building_id,
                    unit_id=unit_id,
                    end=end,
                )
            )
            uow.commit()
        return assignment

    def collector_of(self, actor: Actor, unit_id: UnitId, on: date) -> int | None:
        """The collector answering for the unit on ``on`` (unit assignment beats building)."""
        day("on", on)
        with self._app.unit_of_work(readonly=True) as uow:
            unit: Unit = self._get(
                uow, self._actor(actor), uow.units, "unit", unit_id, "ledger.read"
            )
            assignments = uow.collection.assignments(unit.estate_id)
        return collector_on(assignments, unit.id, unit.building_id, on)

    def start_campaign(self, actor: Actor, estate_id: EstateId, title: str) -> int:
        actor = self._actor(actor)
        if not isinstance(title, str) or not title.strip():
            raise ValidationError("title", title, "a dunning campaign needs a title")
        text("title", title)
        with self._app.unit_of_work() as uow:
            estate = self._estate(uow, actor, estate_id, "ledger.dun")
            campaign = uow.collection.add_campaign(
                estate.id, title.strip(), self._app.clock.now(), actor.name
            )
            uow.commit()
        return campaign

    def log_attempt(
        self,
        actor: Actor,
        unit_id: UnitId,
        method: Method | str,
        outcome: Outcome | str,
        *,
        collector_staff_id: int | None = None,
        campaign_id: int | None = None,
        promised_date: date | None = None,
        note: str = "",
        at: datetime | None = None,
    ) -> DunningAttempt:
        """Log a posted notice, call or visit and what came of it."""
        actor = self._actor(actor)
        enum_member(Method, "method", method)
        enum_member(Outcome, "outcome", outcome)
        optional_record_id("collector_staff_id", collector_staff_id)
        optional_record_id("campaign_id", campaign_id)
        optional_day("promised_date", promised_date)
        text("note", note, max_length=NOTE_MAX, required=False)
        when = self._at(at)
        with self._app.unit_of_work() as uow:
            unit: Unit = self._get(uow, actor, uow.units, "unit", unit_id, "ledger.dun")
            attempt = self._attempt(
                uow, actor, unit, method, outcome, when, collector_staff_id, campaign_id,
                promised_date, note,
            )  # fmt: skip
            uow.commit()
        return attempt

    def send_sms(
        self,
        actor: Actor,
        unit_id: UnitId,
        amount: Decimal,
        *,
        channel: str | None = None,
        campaign_id: int | None = None,
        collector_staff_id: int | None = None,
        at: datetime | None = None,
    ) -> DunningAttempt:
        """A reminder SMS to the unit's current owner, through the outbox, never in quiet
        hours (it waits until they end), logged as an attempt at ``at`` (default now)."""
        actor = self._actor(actor)
        owed = exact(amount, "amount")
        if owed <= 0:
            raise ValidationError("amount", amount, "a reminder is for an amount owed")
        optional_text("channel", channel, required=True)
        optional_record_id("campaign_id", campaign_id)
        optional_record_id("collector_staff_id", collector_staff_id)
        now = self._at(at)
        name = channel or self._app.ticket_channel or "log"
        with self._app.unit_of_work() as uow:
            unit: Unit = self._get(uow, actor, uow.units, "unit", unit_id, "ledger.dun")
            estate = uow.estates.get(unit.estate_id)
            assert estate is not None
            zone = self._app.zone(estate.timezone)
            held = uow.ownerships.on(unit.id, now.astimezone(zone).date())
            owner = None if held is None else uow.owners.get(held.owner_id)
            if owner is None or owner.primary_phone is None:
                raise ValidationError("unit_id", unit_id, "the unit has no owner with a phone")
            building: Building | None = uow.buildings.get(unit.building_id)
            attempt = self._attempt(
                uow, actor, unit, Method.SMS, Outcome.SENT, now, collector_staff_id, campaign_id,
                None, "",
            )  # fmt: skip
            self._app.notify.queue(
                uow,
                Notification(
                    estate_id=EstateId(unit.estate_id),
                    channel=name,
                    recipient=Recipient(owner.name, owner.primary_phone.reveal()),
                    template="dunning_sms",
                    params={
                        "estate": estate.name,
                        "name": owner.name,
                        "unit": f"{building.name if building else ''}{unit.number}",
                        "amount": str(owed),
                    },
                    key=f"dunning:{attempt.id}",
                ),
                not_before=now,
                quiet=(self.quiet_hours(), estate.timezone),
            )
            uow.commit()
        return attempt

    def attempts(self, actor: Actor, unit_id: UnitId) -> list[DunningAttempt]:
        with self._app.unit_of_work(readonly=True) as uow:
            unit: Unit = self._get(
                uow, self._actor(actor), uow.units, "unit", unit_id, "ledger.read"
            )
            return uow.collection.attempts(unit.id)

    def _attempt(
        self,
        uow: UnitOfWork,
        actor: Actor,
        unit: Unit,
        method: Method | str,
        outcome: Outcome | str,
        when: datetime,
        collector_staff_id: int | None,
        campaign_id: int | None,
        promised_date: date | None,
        note: str,
    ) -> DunningAttempt:
        if collector_staff_id is None:
            estate = uow.estates.get(unit.estate_id)
            zone = self._app.zone(estate.timezone if estate else "Asia/Shanghai")
            day = when.astimezone(zone).date()
            collector_staff_id = collector_on(
                uow.collection.assignments(unit.estate_id), unit.id, unit.building_id, day
            )
        else:
            staff = (
                uow.staff.get(collector_staff_id) if isinstance(collector_staff_id, int) else None
            )
            if staff is None or staff.estate_id != unit.estate_id:
                raise ValidationError(
                    "collector_staff_id", collector_staff_id, "no staff member with this id here"
                )
        if (
            campaign_id is not None
            and uow.collection.campaign_estate(campaign_id) != unit.estate_id
        ):
            raise ValidationError("campaign_id", campaign_id, "no campaign with this id here")
        return uow.collection.add_attempt(
            DunningAttempt(
                estate_id=unit.estate_id,
                unit_id=unit.id,
                method=method,
                outcome=outcome,
                at=when,
                actor=actor.name,
                collector_staff_id=collector_staff_id,
                campaign_id=campaign_id,
                promised_date=promised_date,
                note=note,
            )
        )
