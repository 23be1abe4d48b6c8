"""Planned outage notices (计划停水停电通知, ``app.outages``).

Owners must hear of a water or power cut at least a day ahead; the year reports
blame complaints on notices that came too late. Announcing an outage records it,
queues one notice per affected owner through the outbox (in the same transaction,
so a refused announcement sends nothing), and flags it late when it leaves owners
less than the estate's lead time. Late notices are counted for the monthly
report and the appraisal.

The lead time is ``{"tickets": {"outage_lead_hours": 24}}`` in the app config: a
number of hours for every estate, or a mapping of estate ids to hours with an
optional ``"default"``.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

import attrs

from propcare.access import Actor
from propcare.clock import require_instant
from propcare.errors import ConfigError, ValidationError
from propcare.notify.outbox import Notification, Recipient
from propcare.registry.model import Building, EstateId, Owner, OwnerId, Unit
from propcare.service import Service
from propcare.storage.ports import UnitOfWork
from propcare.tickets.planned import (
    DEFAULT_LEAD,
    OUTAGE_EVENT_KEY,
    Outage,
    OutageAnnounced,
    OutageKind,
    id_list,
)

if TYPE_CHECKING:
    from propcare.app import Propcare

__all__ = ["OutageService", "lead_times"]

_SETTING = "tickets.outage_lead_hours"


def _hours(value: Any, where: str) -> timedelta:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigError(where, value, "must be a positive number of hours")
    return timedelta(seconds=round(value * 3600))


def lead_times(tickets: Mapping[str, Any]) -> tuple[timedelta, dict[int, timedelta]]:
    """The default lead time and the per-estate ones from the ``tickets`` config section."""
    setting = tickets.get("outage_lead_hours", DEFAULT_LEAD.total_seconds() / 3600)
    if not isinstance(setting, Mapping):
        return _hours(setting, _SETTING), {}
    default = DEFAULT_LEAD
    per_estate: dict[int, timedelta] = {}
    for key, hours in setting.items():
        if key == "default":
            default = _hours(hours, f"{_SETTING}.default")
            continue
        try:
            estate_id = int(key)
        except (TypeError, ValueError):
            raise ConfigError(
                _SETTING, key, 'keys are estate ids (as numbers or text) or "default"'
            ) from None
        per_estate[estate_id] = _hours(hours, f"{_SETTING}.{key}")
    return default, per_estate


def _local(outage: Outage, zone: tzinfo) -> Outage:
    """The outage with its times in the estate's zone, as people read them."""
    return attrs.evolve(
        outage,
        starts_at=outage.starts_at.astimezone(zone),
        ends_at=outage.ends_at.astimezone(zone),
        announced_at=outage.announced_at.astimezone(zone),
    )


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M")


class OutageService(Service):
    def __init__(self, app: Propcare) -> None:
        super().__init__(app)
        # Read once at open, so a bad setting fails there, not at the first announcement.
        self._default_lead, self._leads = lead_times(dict(app.config.get("tickets", {}) or {}))

    def _lead_time(self, estate_id: int) -> timedelta:
        """How long ahead the estate must tell owners of a cut."""
        return self._leads.get(estate_id, self._default_lead)

    def announce(
        self,
        actor: Actor,
        estate_id: EstateId,
        *,
        kind: OutageKind | str,
        title: str,
        starts_at: datetime,
        ends_at: datetime,
        building_ids: Sequence[int] = (),
        unit_ids: Sequence[int] = (),
        channel: str | None = None,
        at: datetime | None = None,
    ) -> Outage:
        """Record a planned cut and notify the owners of the affected units on its day.

        The affected units are every unit of ``building_ids`` and the units of
        ``unit_ids``; each owner (ownerships held on the day the cut starts, in the
        estate's zone) gets one notice however many of their units are cut. Owners
        without a phone are counted in ``unreachable``. The notice goes out on
        ``channel``, by default the app's ticket notification channel, else ``log``.
        """
        actor = self._actor(actor)
        announced_at = self._at(at)
        require_instant("starts_at", starts_at)
        require_instant("ends_at", ends_at)
        buildings = id_list(building_ids, "building_ids")
        units = id_list(unit_ids, "unit_ids")
        channel_name = self._channel(channel)
        with self._app.unit_of_work() as uow:
            estate = self._estate(uow, actor, estate_id, "outage.announce")
            zone = self._app.zone(estate.timezone)
            draft = Outage(
                estate_id=estate.id,
                kind=kind,
                title=title,
                starts_at=starts_at.astimezone(zone),
                ends_at=ends_at.astimezone(zone),
                announced_at=announced_at.astimezone(zone),
                lead=self._lead_time(estate.id),
                building_ids=buildings,
                unit_ids=units,
                announced_by_staff_id=actor.staff_id,
            )
            affected, names = self._affected(uow, estate.id, buildings, units)
            day = draft.starts_at.date()
            owners = self._owners(uow, estate.id, affected, day)
            reachable = [(o, us) for o, us in owners if o.primary_phone is not None]
            outage = uow.outages.add(
                attrs.evolve(
                    draft, notices=len(reachable), unreachable=len(owners) - len(reachable)
                )
            )
            for owner, their_units in reachable:
                self._notify(uow, estate.name, outage, owner, their_units, names, channel_name)
            self._publish(
                uow,
                OutageAnnounced(
                    estate_id=estate.id,
                    at=announced_at,
                    outage_id=outage.id,
                    kind=outage.kind.value,
                    title=outage.title,
                    starts_at=outage.starts_at.isoformat(),
                    ends_at=outage.ends_at.isoformat(),
                    late=outage.late,
                    notices=outage.notices,
                    unreachable=outage.unreachable,
                    unit_count=len(affected),
                ),
                key=OUTAGE_EVENT_KEY.format(outage_id=outage.id),
            )
            uow.commit()
        return outage

    def list(
        self, actor: Actor, estate_id: EstateId, start: datetime, end: datetime
    ) -> builtins.list[Outage]:
        """The estate's outages that start in ``[start, end)``, in start order."""
        start, end = _period(start, end)
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, self._actor(actor), estate_id, "outage.read")
            zone = self._app.zone(estate.timezone)
            return [_local(o, zone) for o in uow.outages.starting_between(estate.id, start, end)]

    def late_count(self, actor: Actor, estate_id: EstateId, start: datetime, end: datetime) -> int:
        """How many outages starting in ``[start, end)`` were announced late."""
        start, end = _period(start, end)
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, self._actor(actor), estate_id, "outage.read")
            return uow.outages.late_count(estate.id, start, end)

    # --- internals --------------------------------------------------------------------

    def _channel(self, channel: str | None) -> str:
        name = channel if channel is not None else (self._app.ticket_channel or "log")
        if not isinstance(name, str) or name not in self._app.channels:
            raise ConfigError(
                "channel",
                name,
                f"is not configured; configured: {', '.join(sorted(self._app.channels))}",
            )
        return name

    @staticmethod
    def _affected(
        uow: UnitOfWork, estate_id: EstateId, buildings: Sequence[int], units: Sequence[int]
    ) -> tuple[builtins.list[Unit], dict[int, str]]:
        """The units cut (in order, once each) and the name of every building involved."""
        found: dict[int, Unit] = {}
        names: dict[int, str] = {}
        for building_id in buildings:
            building: Building | None = uow.buildings.get(building_id)
            if building is None or building.estate_id != estate_id:
                raise ValidationError(
                    "building_ids", building_id, f"no building with this id in estate {estate_id}"
                )
            names[building.id] = building.name
            found.update((u.id, u) for u in uow.units.in_building(building.id))
        for unit_id in units:
            unit: Unit | None = uow.units.get(unit_id)
            if unit is None or unit.estate_id != estate_id:
                raise ValidationError(
                    "unit_ids", unit_id, f"no unit with this id in estate {estate_id}"
                )
            found.setdefault(unit.id, unit)
            if unit.building_id not in names:
                building = uow.buildings.get(unit.building_id)
                names[unit.building_id] = "" if building is None else building.name
        return builtins.list(found.values()), names

    @staticmethod
    def _owners(
        uow: UnitOfWork, estate_id: EstateId, units: Sequence[Unit], day: date
    ) -> builtins.list[tuple[Owner, builtins.list[Unit]]]:
        """Each owner of the units on ``day``, with their units among them."""
        held = uow.ownerships.held_on(estate_id, day)
        by_owner: dict[OwnerId, builtins.list[Unit]] = {}
        for unit in units:
            ownership = held.get(unit.id)
            if ownership is not None:
                by_owner.setdefault(ownership.owner_id, []).append(unit)
        found: builtins.list[tuple[Owner, builtins.list[Unit]]] = []
        for owner_id, their_units in by_owner.items():
            owner = uow.owners.get(owner_id)
            if owner is not None:
                found.append((owner, their_units))
        return found

    def _notify(
        self,
        uow: UnitOfWork,
        estate_name: str,
        outage: Outage,
        owner: Owner,
        units: Sequence[Unit],
        building_names: Mapping[int, str],
        channel: str,
    ) -> None:
        phone = owner.primary_phone
        assert phone is not None  # only reachable owners get here
        self._app.notify.queue(
            uow,
            Notification(
                estate_id=outage.estate_id,
                channel=channel,
                recipient=Recipient(owner.name, phone.reveal()),
                template="outage_notice",
                params={
                    "estate": estate_name,
                    "name": owner.name,
                    "title": outage.title,
                    "what": outage.kind.zh,
                    "what_en": outage.kind.en,
                    "units": "、".join(
                        f"{building_names.get(u.building_id, '')}{u.number}" for u in units
                    ),
                    "starts": _when(outage.starts_at),
                    "ends": _when(outage.ends_at),
                },
                # One notice per outage and owner, even if the announcement is retried.
                key=f"outage:{outage.id}:owner:{owner.id}",
            ),
        )


def _period(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    require_instant("start", start)
    require_instant("end", end)
    if end <= start:
        raise ValidationError("end", end, f"must be after start {start}")
    return start, end
