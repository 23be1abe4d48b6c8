"""Services of the estate registry: create, read, update and list, scoped by estate.

Each method is one unit of work: it validates everything first, writes, puts
its event in the outbox and commits; on any error nothing is written.
"""

from __future__ import annotations

import builtins
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import attrs

from propcare.access import (
    ACT_AS,
    GRANT,
    Actor,
    Resource,
    RoleGrant,
    act_as_shortfall,
    grant_shortfall,
    role_allows,
)
from propcare.clock import DEFAULT_TZ
from propcare.errors import Conflict, PermissionDenied, ValidationError
from propcare.notify.outbox import Event
from propcare.registry.archive import ArchiveRow
from propcare.registry.archive_import import (
    ArchiveSheet,
    ArchiveSource,
    CheckedRow,
    ImportProblem,
    ImportProgress,
    ImportResult,
    archive_sheet,
    check_sheet,
    owner_key,
)
from propcare.registry.contact import Phone
from propcare.registry.events import (
    ContactRevealed,
    OwnershipChanged,
    RecordCreated,
    RecordUpdated,
    RolesChanged,
    UnitsAdded,
)
from propcare.registry.model import (
    Building,
    BuildingId,
    ContactReveal,
    Estate,
    EstateId,
    Owner,
    OwnerId,
    Ownership,
    RevealPurpose,
    Staff,
    StaffId,
    Team,
    TeamId,
    TeamKind,
    Unit,
    UnitId,
    UnitUse,
    Vendor,
    VendorId,
)
from propcare.service import Service, evolve_checked
from propcare.storage.ports import UnitOfWork
from propcare.validators import day, flag, optional_day, optional_record_id

__all__ = [
    "EstateService",
    "OwnerService",
    "StaffService",
    "UnitSpec",
    "VendorService",
    "audit_reveal",
]


@attrs.frozen
class UnitSpec:
    """One unit to add in bulk (an import row, a demo building)."""

    number: str
    floor_area: Decimal
    use: UnitUse | str = UnitUse.RESIDENTIAL
    handover_date: date | None = None


def _unit_specs(specs: Any) -> builtins.list[UnitSpec]:
    if isinstance(specs, str | bytes | Mapping) or not isinstance(specs, Iterable):
        raise ValidationError("specs", specs, "must be a list of UnitSpec")
    found = builtins.list(specs)
    if len(found) > 100_000:
        raise ValidationError("specs", f"{len(found)} units", "at most 100,000 at a time")
    for i, spec in enumerate(found):
        if not isinstance(spec, UnitSpec):
            raise ValidationError(f"specs[{i}]", spec, "must be a UnitSpec")
    return found


def _check_source(source: Any) -> None:
    """What import_archive reads: a sheet, a path, or rows (an iterable of mappings)."""
    if isinstance(source, str):
        if not source or len(source) > 4096 or "\x00" in source:
            raise ValidationError("source", source, "is not a file path")
    elif isinstance(source, bytes | Mapping) or not isinstance(
        source, ArchiveSheet | os.PathLike | Iterable
    ):
        raise ValidationError(
            "source", source, "must be a file path, an ArchiveSheet or rows as mappings"
        )


def audit_reveal(
    uow: UnitOfWork,
    publish: Callable[[UnitOfWork, Event], object],
    actor: Actor,
    at: datetime,
    estate_id: EstateId,
    owner_id: OwnerId | None,
    purpose: RevealPurpose,
    *,
    ticket_id: int | None = None,
) -> ContactReveal:
    """Record in ``uow`` that ``actor`` was shown owners' full phone numbers: a row of the
    append-only audit (``contact_reveals``) and a ``registry.contact_revealed`` event, in
    the transaction that shows them (so a reveal the audit lacks cannot happen).

    ``owner_id`` is None for many owners at once (purposes ``archive`` and ``roster``);
    ``ticket_id`` is given for, and only for, purpose ``callback`` (the table's CHECK)."""
    reveal = uow.owners.add_reveal(
        ContactReveal(
            estate_id=estate_id,
            owner_id=owner_id,
            purpose=purpose,
            at=at,
            actor=actor.name,
            actor_roles=actor.roles,
            actor_staff_id=actor.staff_id,
            ticket_id=ticket_id,
        )
    )
    publish(
        uow,
        ContactRevealed(
            estate_id=estate_id,
            at=at,
            reveal_id=reveal.id,
            owner_id=owner_id,
            ticket_id=ticket_id,
            purpose=reveal.purpose.value,
            actor=actor.name,
        ),
    )
    return reveal


# How a refusal names a record of another estate, by kind.
_OF_ESTATE = {"building": "a building", "owner": "an owner", "staff": "a staff member"}


class RegistryService(Service):
    """Shared by the registry services: their created/updated events, and the check that
    a record named beside an estate belongs to it."""

    def _of_estate(
        self,
        uow: UnitOfWork,
        actor: Actor,
        estate: Estate,
        repo: Any,
        kind: str,
        record_id: Any,
        action: str,
    ) -> Any:
        """The ``kind`` record ``record_id`` the actor may see, refused (naming the field)
        when it belongs to another estate than ``estate``."""
        record = self._get(uow, actor, repo, kind, record_id, action)
        if record.estate_id != estate.id:
            raise ValidationError(
                f"{kind}_id", record_id, f"is not {_OF_ESTATE[kind]} of estate {estate.id}"
            )
        return record

    def _created(
        self,
        uow: UnitOfWork,
        estate_id: EstateId,
        kind: str,
        record_id: int,
        at: datetime | None = None,
    ) -> None:
        self._publish(
            uow,
            RecordCreated(estate_id=estate_id, at=self._at(at), kind=kind, record_id=record_id),
        )

    def _updated(
        self,
        uow: UnitOfWork,
        estate_id: EstateId,
        kind: str,
        record_id: int,
        changes: Mapping[str, Any],
    ) -> None:
        self._publish(
            uow,
            RecordUpdated(
                estate_id=estate_id,
                at=self._app.clock.now(),
                kind=kind,
                record_id=record_id,
                fields=tuple(sorted(changes)),
            ),
        )


class EstateService(RegistryService):
    """Estates, their buildings and units (``app.estates``)."""

    def create(self, actor: Actor, name: str, timezone: str = DEFAULT_TZ) -> Estate:
        actor = self._actor(actor)
        estate = Estate(name=name, timezone=timezone)
        self._authorize(actor, "estate.create", Resource("estate"))
        if not actor.all_estates:
            raise ValidationError(
                "actor", actor.name, "only an actor of all estates may create an estate"
            )
        with self._app.unit_of_work() as uow:
            estate = uow.estates.add(estate)
            self._created(uow, estate.id, "estate", estate.id)
            uow.commit()
        return estate

    def get(self, actor: Actor, estate_id: EstateId) -> Estate:
        with self._app.unit_of_work(readonly=True) as uow:
            return self._estate(uow, self._actor(actor), estate_id, "estate.read")

    def list(self, actor: Actor) -> builtins.list[Estate]:
        actor = self._actor(actor)
        with self._app.unit_of_work(readonly=True) as uow:
            estates = uow.estates.list_all(actor.estate_ids)
        return [
            e
            for e in estates
            if self._app.host.authorize(actor, "estate.read", Resource("estate", e.id, e.id))
        ]

    def update(self, actor: Actor, estate_id: EstateId, **changes: Any) -> Estate:
        actor = self._actor(actor)
        with self._app.unit_of_work() as uow:
            estate = self._estate(uow, actor, estate_id, "estate.write")
            new = evolve_checked(estate, changes, frozenset({"name", "timezone"}))
            uow.estates.update(new)
            self._updated(uow, new.id, "estate", new.id, changes)
            uow.commit()
        return new

    # --- buildings ------------------------------------------------------------------

    def add_building(self, actor: Actor, estate_id: EstateId, name: str) -> Building:
        actor = self._actor(actor)
        with self._app.unit_of_work() as uow:
            estate = self._estate(uow, actor, estate_id, "estate.write")
            building = Building(estate_id=estate.id, name=name)
            if any(b.name == building.name for b in uow.buildings.in_estate(estate.id)):
                raise Conflict("building name", name, f"already used in estate {estate.name}")
            building = uow.buildings.add(building)
            self._created(uow, estate.id, "building", building.id)
            uow.commit()
        return building

    def get_building(self, actor: Actor, building_id: BuildingId) -> Building:
        with self._app.unit_of_work(readonly=True) as uow:
            building: Building = self._get(
                uow, self._actor(actor), uow.buildings, "building", building_id, "estate.read"
            )
        return building

    def buildings(self, actor: Actor, estate_id: EstateId) -> builtins.list[Building]:
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, self._actor(actor), estate_id, "estate.read")
            return uow.buildings.in_estate(estate.id)

    def update_building(self, actor: Actor, building_id: BuildingId, **changes: Any) -> Building:
        actor = self._actor(actor)
        with self._app.unit_of_work() as uow:
            old: Building = self._get(
                uow, actor, uow.buildings, "building", building_id, "estate.write"
            )
            new = evolve_checked(old, changes, frozenset({"name"}))
            if new.name != old.name and any(
                b.name == new.name for b in uow.buildings.in_estate(old.estate_id)
            ):
                raise Conflict("building name", new.name, "already used in this estate")
            uow.buildings.update(new)
            self._updated(uow, old.estate_id, "building", old.id, changes)
            uow.commit()
        return new

    # --- units ----------------------------------------------------------------------

    def add_unit(
        self,
        actor: Actor,
        building_id: BuildingId,
        number: str,
        floor_area: Decimal,
        use: UnitUse | str = UnitUse.RESIDENTIAL,
        handover_date: date | None = None,
    ) -> Unit:
        spec = UnitSpec(number, floor_area, use, handover_date)
        return self.add_units(actor, building_id, [spec])[0]

    def add_units(
        self, actor: Actor, building_id: BuildingId, specs: Iterable[UnitSpec]
    ) -> builtins.list[Unit]:
        """Add many units to one building in one transaction: all of them or none (at
        most 100,000 at a time)."""
        actor = self._actor(actor)
        specs = _unit_specs(specs)
        with self._app.unit_of_work() as uow:
            building: Building = self._get(
                uow, actor, uow.buildings, "building", building_id, "estate.write"
            )
            units = [
                Unit(
                    estate_id=building.estate_id,
                    building_id=building.id,
                    number=s.number,
                    floor_area=s.floor_area,
                    use=s.use,
                    handover_date=s.handover_date,
                )
                for s in specs
            ]
            seen: set[str] = set()
            taken = uow.units.numbers_taken(building.id, (u.number for u in units))
            for unit in units:
                if unit.number in taken or unit.number in seen:
                    raise Conflict(
                        "unit number", unit.number, f"already used in building {building.name}"
                    )
                seen.add(unit.number)
            stored = uow.units.add_many(units)
            if stored:
                self._units_added(uow, building, stored)
            uow.commit()
        return stored

    def get_unit(self, actor: Actor, unit_id: UnitId) -> Unit:
        with self._app.unit_of_work(readonly=True) as uow:
            unit: Unit = self._get(
                uow, self._actor(actor), uow.units, "unit", unit_id, "estate.read"
            )
        return unit

    def units(
        self, actor: Actor, estate_id: EstateId, building_id: BuildingId | None = None
    ) -> builtins.list[Unit]:
        actor = self._actor(actor)
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, actor, estate_id, "estate.read")
            if building_id is None:
                return uow.units.in_estate(estate.id)
            building: Building = self._of_estate(
                uow, actor, estate, uow.buildings, "building", building_id, "estate.read"
            )
            return uow.units.in_building(building.id)

    def update_unit(self, actor: Actor, unit_id: UnitId, **changes: Any) -> Unit:
        actor = self._actor(actor)
        with self._app.unit_of_work() as uow:
            old: Unit = self._get(uow, actor, uow.units, "unit", unit_id, "estate.write")
            new = evolve_checked(
                old, changes, frozenset({"number", "floor_area", "use", "handover_date"})
            )
            if new.number != old.number and uow.units.find(old.building_id, new.number):
                raise Conflict("unit number", new.number, "already used in this building")
            uow.units.update(new)
            self._updated(uow, old.estate_id, "unit", old.id, changes)
            uow.commit()
        return new

    # --- the owner archive ----------------------------------------------------------

    def import_archive(
        self,
        actor: Actor,
        estate_id: EstateId,
        source: ArchiveSource,
        *,
        all_or_nothing: bool = False,
        progress: ImportProgress | None = None,
    ) -> ImportResult:
        """Import the owner archive (业主档案): buildings, units, owners and who owns what.

        ``source`` is a path to a .csv or .xlsx file, an
        :class:`~propcare.registry.archive_import.ArchiveSheet` already read, or rows as
        mappings (see :mod:`propcare.registry.archive_import`). Every row is checked by the
        registry's rules; a bad row becomes an
        :class:`~propcare.registry.archive_import.ImportProblem` in the result rather than an
        error, and so does a unit listed twice or a unit number the building already has. A new
        building name adds the building; rows of one owner (same name, phones and ID number)
        make one owner, also with an owner already in the estate.

        The good rows are written in one unit of work, with the events of the services that
        would write them one by one (``registry.created`` for each building and owner,
        ``registry.units_added`` per building, ``registry.ownership_changed`` per owned unit):
        all of them or, on any error while writing, none. Nothing is written when no row is
        good, or with ``all_or_nothing`` when any row has a problem; the result says so with
        ``committed=False``.

        Needs ``estate.write`` and ``owner.write`` on the estate, checked before a file is
        read. A file that cannot be read, or lacks the required columns, raises ValidationError.
        ``progress(done, total)`` is called as the rows are checked, then as they are written
        (``done`` 0 starts each stage), for a progress bar.
        """
        actor = self._actor(actor)
        flag("all_or_nothing", all_or_nothing)
        if progress is not None and not callable(progress):
            raise ValidationError("progress", progress, "must be a function (done, total)")
        _check_source(source)
        with self._app.unit_of_work(readonly=True) as uow:
            # Refused before a file is read: an actor that may not import learns nothing of it.
            estate = self._archive_estate(uow, actor, estate_id)
        sheet = archive_sheet(source)
        rows, problems = check_sheet(estate.id, sheet, progress)
        unit_column = sheet.header("unit")
        now = self._app.clock.now()
        with self._app.unit_of_work() as uow:
            estate = self._archive_estate(uow, actor, estate.id)
            buildings = {b.name: b for b in uow.buildings.in_estate(estate.id)}
            groups: dict[str, builtins.list[CheckedRow]] = defaultdict(builtins.list)
            for row in rows:
                groups[row.building].append(row)
            for name, group in groups.items():
                if name not in buildings:
                    continue
                taken = uow.units.numbers_taken(buildings[name].id, (r.unit.number for r in group))
                problems.extend(
                    ImportProblem(
                        r.row, unit_column, r.unit.number, f"already used in building {name}"
                    )
                    for r in group
                    if r.unit.number in taken
                )
                groups[name] = [r for r in group if r.unit.number not in taken]
            good = sum(len(g) for g in groups.values())
            report = tuple(sorted(problems, key=lambda p: p.row))
            if problems and (all_or_nothing or not good):
                return ImportResult(
                    units=0,
                    buildings=(),
                    owners_created=0,
                    owners_reused=0,
                    committed=False,
                    problems=report,
                    rows=len(sheet.rows),
                )
            if progress is not None:
                progress(0, good)
            owners: dict[tuple[str, tuple[str, ...], str | None], Owner] = {}
            for known in uow.owners.in_estate(estate.id):
                owners.setdefault(owner_key(known), known)
            created: builtins.list[str] = []
            new_owners = reused = done = 0
            for name, group in groups.items():
                if not group:
                    continue
                building = buildings.get(name)
                if building is None:
                    building = uow.buildings.add(Building(estate.id, name))
                    self._created(uow, estate.id, "building", building.id, at=now)
                    created.append(name)
                units = uow.units.add_many(
                    [
                        attrs.evolve(r.unit, estate_id=estate.id, building_id=building.id)
                        for r in group
                    ]
                )
                self._units_added(uow, building, units, at=now)
                for row, unit in zip(group, units, strict=True):
                    if row.owner is not None and row.start is not None:
                        key = owner_key(row.owner)
                        owner = owners.get(key) if key[1] or key[2] else None
                        if owner is None:
                            owner = uow.owners.add(row.owner)
                            self._created(uow, estate.id, "owner", owner.id, at=now)
                            owners.setdefault(key, owner)
                            new_owners += 1
                        else:
                            reused += 1
                        uow.ownerships.add(Ownership(estate.id, unit.id, owner.id, row.start))
                        self._publish(
                            uow,
                            OwnershipChanged(
                                estate_id=estate.id,
                                at=now,
                                unit_id=unit.id,
                                previous_owner_id=None,
                                owner_id=OwnerId(owner.id),
                                start=row.start,
                            ),
                        )
                    done += 1
                    if progress is not None:
                        progress(done, good)
            uow.commit()
        return ImportResult(
            units=good,
            buildings=tuple(created),
            owners_created=new_owners,
            owners_reused=reused,
            committed=True,
            problems=report,
            rows=len(sheet.rows),
        )

    def _units_added(
        self,
        uow: UnitOfWork,
        building: Building,
        units: Sequence[Unit],
        at: datetime | None = None,
    ) -> None:
        self._publish(
            uow,
            UnitsAdded(
                estate_id=building.estate_id,
                at=self._at(at),
                building_id=building.id,
                unit_ids=tuple(u.id for u in units),
            ),
        )

    def _archive_estate(self, uow: UnitOfWork, actor: Actor, estate_id: EstateId) -> Estate:
        """The estate an archive goes into: it takes units (estate.write) and owners."""
        estate = self._estate(uow, actor, estate_id, "estate.write")
        self._authorize(actor, "owner.write", Resource("owner", estate.id))
        return estate


class OwnerService(RegistryService):
    """Owners and who owns which unit over time (``app.owners``)."""

    def create(
        self,
        actor: Actor,
        estate_id: EstateId,
        name: str,
        phones: Sequence[str | Phone] | str = (),
        id_card: str | None = None,
    ) -> Owner:
        actor = self._actor(actor)
        with self._app.unit_of_work() as uow:
            estate = self._estate(uow, actor, estate_id, "owner.write")
            owner = uow.owners.add(
                Owner(estate_id=estate.id, name=name, phones=phones, id_card=id_card)
            )
            self._created(uow, estate.id, "owner", owner.id)
            uow.commit()
        return owner

    def get(self, actor: Actor, owner_id: OwnerId) -> Owner:
        with self._app.unit_of_work(readonly=True) as uow:
            owner: Owner = self._get(
                uow, self._actor(actor), uow.owners, "owner", owner_id, "owner.read"
            )
        return owner

    def list(self, actor: Actor, estate_id: EstateId) -> builtins.list[Owner]:
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, self._actor(actor), estate_id, "owner.read")
            return uow.owners.in_estate(estate.id)

    def update(self, actor: Actor, owner_id: OwnerId, **changes: Any) -> Owner:
        actor = self._actor(actor)
        with self._app.unit_of_work() as uow:
            old: Owner = self._get(uow, actor, uow.owners, "owner", owner_id, "owner.write")
            new = evolve_checked(old, changes, frozenset({"name", "phones", "id_card"}))
            uow.owners.update(new)
            self._updated(uow, old.estate_id, "owner", old.id, changes)
            uow.commit()
        return new

    def contact(self, actor: Actor, owner_id: OwnerId) -> tuple[str, ...]:
        """The owner's full phone numbers, for roles allowed ``owner.reveal_contact``.

        Every call is audited (:meth:`reveals`, purpose ``contact``), finance's and
        managers' too. The one calling back a ticket reaches its reporter through
        ``app.tickets.reporter_contact`` instead, which needs no more than the callback."""
        actor = self._actor(actor)
        with self._app.unit_of_work() as uow:
            owner: Owner = self._get(
                uow, actor, uow.owners, "owner", owner_id, "owner.reveal_contact"
            )
            audit_reveal(
                uow, self._publish, actor, self._app.clock.now(), owner.estate_id, owner.id,
                RevealPurpose.CONTACT,
            )  # fmt: skip
            uow.commit()
        return tuple(p.reveal() for p in owner.phones)

    def reveals(
        self, actor: Actor, estate_id: EstateId, *, owner_id: OwnerId | None = None
    ) -> builtins.list[ContactReveal]:
        """The audit of owners' contacts shown in the estate (of one owner if ``owner_id``),
        oldest first: who saw whose numbers, when, why, for which ticket. An archive export
        or an arrears roster with full phones is one row without an owner, listed only for
        the whole estate. Needs
        ``owner.audit`` (managers and admins)."""
        actor = self._actor(actor)
        optional_record_id("owner_id", owner_id)
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, actor, estate_id, "owner.audit")
            if owner_id is not None:
                self._of_estate(uow, actor, estate, uow.owners, "owner", owner_id, "owner.read")
            return uow.owners.reveals(estate.id, owner_id)

    def archive(
        self, actor: Actor, estate_id: EstateId, on: date, *, reveal_contacts: bool = False
    ) -> builtins.list[ArchiveRow]:
        """The owner archive on ``on``: every unit with its owner then, contacts masked.

        ``reveal_contacts=True`` needs ``owner.reveal_contact`` and gives them in full: an
        audited reveal (:meth:`reveals`, purpose ``archive``, one row for every owner).
        """
        actor = self._actor(actor)
        day("on", on)
        flag("reveal_contacts", reveal_contacts)
        with self._app.unit_of_work(readonly=not reveal_contacts) as uow:
            estate = self._estate(uow, actor, estate_id, "owner.read")
            if reveal_contacts:
                self._authorize(actor, "owner.reveal_contact", Resource("owner", estate.id))
                audit_reveal(
                    uow, self._publish, actor, self._app.clock.now(), estate.id, None,
                    RevealPurpose.ARCHIVE,
                )  # fmt: skip
            buildings = {b.id: b.name for b in uow.buildings.in_estate(estate.id)}
            owners = {o.id: o for o in uow.owners.in_estate(estate.id)}
            holders = uow.ownerships.held_on(estate.id, on)
            rows = []
            for unit in uow.units.in_estate(estate.id):
                held = holders.get(unit.id)
                owner = owners.get(held.owner_id) if held else None
                phones = owner.phones if owner else ()
                card = owner.id_card if owner else None
                rows.append(
                    ArchiveRow(
                        building=buildings[unit.building_id],
                        unit=unit.number,
                        floor_area=str(unit.floor_area),
                        use=unit.use.value,
                        handover_date=unit.handover_date.isoformat() if unit.handover_date else "",
                        owner=owner.name if owner else "",
                        phones=" / ".join(
                            p.reveal() if reveal_contacts else p.masked for p in phones
                        ),
                        id_card=""
                        if card is None
                        else (card.reveal() if reveal_contacts else card.masked),
                        owner_since=held.start.isoformat() if held else "",
                    )
                )
            if reveal_contacts:
                uow.commit()  # the audit of the reveal, with nothing else written
        return rows

    def assign(self, actor: Actor, unit_id: UnitId, owner_id: OwnerId, start: date) -> Ownership:
        """Make ``owner_id`` the unit's owner from ``start``; the previous ownership ends then.

        History is kept: earlier owners stay in :meth:`history` with their dates.
        """
        actor = self._actor(actor)
        day("start", start)
        with self._app.unit_of_work() as uow:
            unit: Unit = self._get(uow, actor, uow.units, "unit", unit_id, "owner.write")
            owner: Owner = self._get(uow, actor, uow.owners, "owner", owner_id, "owner.write")
            if owner.estate_id != unit.estate_id:
                raise ValidationError(
                    "owner_id", owner_id, f"belongs to another estate than unit {unit_id}"
                )
            history = uow.ownerships.history(unit.id)
            current = history[-1] if history and history[-1].end is None else None
            ownership = Ownership(
                estate_id=unit.estate_id, unit_id=unit.id, owner_id=owner.id, start=start
            )
            if history and start <= max(h.start for h in history):
                raise ValidationError(
                    "start",
                    start,
                    f"must be after the latest ownership start {history[-1].start} "
                    "(history is not rewritten)",
                )
            if current is not None and current.owner_id == owner.id:
                raise Conflict("owner_id", owner_id, f"already owns unit {unit.number}")
            if current is not None:
                uow.ownerships.end_current(unit.id, start)
            uow.ownerships.add(ownership)
            self._publish(
                uow,
                OwnershipChanged(
                    estate_id=unit.estate_id,
                    at=self._app.clock.now(),
                    unit_id=unit.id,
                    previous_owner_id=None if current is None else current.owner_id,
                    owner_id=owner.id,
                    start=start,
                ),
            )
            uow.commit()
        return ownership

    def owner_of(self, actor: Actor, unit_id: UnitId, on: date) -> Owner | None:
        """The unit's owner on ``on``, or None if it had none then."""
        day("on", on)
        with self._app.unit_of_work(readonly=True) as uow:
            unit: Unit = self._get(
                uow, self._actor(actor), uow.units, "unit", unit_id, "owner.read"
            )
            held = uow.ownerships.on(unit.id, on)
            return None if held is None else uow.owners.get(held.owner_id)

    def history(self, actor: Actor, unit_id: UnitId) -> builtins.list[Ownership]:
        with self._app.unit_of_work(readonly=True) as uow:
            unit: Unit = self._get(
                uow, self._actor(actor), uow.units, "unit", unit_id, "owner.read"
            )
            return uow.ownerships.history(unit.id)


class StaffService(RegistryService):
    """Staff and teams (``app.staff``).

    Giving or taking away a role is its own action, ``staff.grant``, checked for each role
    (``Resource("staff", estate_id, staff_id, role=...)``) besides ``staff.write`` on the
    record: the built-in role map allows it only for a role all of whose rights the actor's
    roles hold or may assign (:func:`propcare.access.may_grant`). Each change is kept in an
    append-only audit (:meth:`grants`) and published as ``registry.roles_changed``.
    """

    def create_team(
        self,
        actor: Actor,
        estate_id: EstateId,
        name: str,
        kind: TeamKind | str = TeamKind.OTHER,
        *,
        leader_staff_id: StaffId | None = None,
    ) -> Team:
        """A new team; ``leader_staff_id`` (a staff member of the estate, or None) leads it
        (班组长) and gets the SLA warnings of the tickets assigned to the team alone."""
        actor = self._actor(actor)
        with self._app.unit_of_work() as uow:
            estate = self._estate(uow, actor, estate_id, "staff.write")
            team = Team(estate_id=estate.id, name=name, kind=kind, leader_staff_id=leader_staff_id)
            self._check_leader(uow, team)
            if any(t.name == team.name for t in uow.teams.in_estate(estate.id)):
                raise Conflict("team name", name, f"already used in estate {estate.name}")
            team = uow.teams.add(team)
            self._created(uow, estate.id, "team", team.id)
            uow.commit()
        return team

    def get_team(self, actor: Actor, team_id: TeamId) -> Team:
        with self._app.unit_of_work(readonly=True) as uow:
            team: Team = self._get(
                uow, self._actor(actor), uow.teams, "team", team_id, "staff.read"
            )
        return team

    def teams(self, actor: Actor, estate_id: EstateId) -> builtins.list[Team]:
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, self._actor(actor), estate_id, "staff.read")
            return uow.teams.in_estate(estate.id)

    def update_team(self, actor: Actor, team_id: TeamId, **changes: Any) -> Team:
        actor = self._actor(actor)
        with self._app.unit_of_work() as uow:
            old: Team = self._get(uow, actor, uow.teams, "team", team_id, "staff.write")
            new = evolve_checked(old, changes, frozenset({"name", "kind", "leader_staff_id"}))
            self._check_leader(uow, new)
            if new.name != old.name and any(
                t.name == new.name for t in uow.teams.in_estate(old.estate_id)
            ):
                raise Conflict("team name", new.name, "already used in this estate")
            uow.teams.update(new)
            self._updated(uow, old.estate_id, "team", old.id, changes)
            uow.commit()
        return new

    def create(
        self,
        actor: Actor,
        estate_id: EstateId,
        name: str,
        roles: Iterable[str] | str,
        active_from: date,
        team_id: TeamId | None = None,
        active_to: date | None = None,
        phone: str | None = None,
    ) -> Staff:
        """A new staff member with ``roles``: needs ``staff.write`` on the estate and
        ``staff.grant`` for every role (see the class); the roles given are audited."""
        actor = self._actor(actor)
        with self._app.unit_of_work() as uow:
            estate = self._estate(uow, actor, estate_id, "staff.write")
            staff = Staff(
                estate_id=estate.id,
                name=name,
                roles=roles,
                active_from=active_from,
                team_id=team_id,
                active_to=active_to,
                phone=phone,
            )
            self._check_team(uow, actor, staff)
            self._check_grants(actor, staff, staff.roles, giving=True)
            staff = uow.staff.add(staff)
            self._created(uow, estate.id, "staff", staff.id)
            self._audit_grant(uow, actor, staff, added=staff.roles, removed=frozenset())
            uow.commit()
        return staff

    def get(self, actor: Actor, staff_id: StaffId) -> Staff:
        with self._app.unit_of_work(readonly=True) as uow:
            staff: Staff = self._get(
                uow, self._actor(actor), uow.staff, "staff", staff_id, "staff.read"
            )
        return staff

    def list(
        self,
        actor: Actor,
        estate_id: EstateId,
        *,
        active_on: date | None = None,
        team_id: TeamId | None = None,
    ) -> builtins.list[Staff]:
        optional_day("active_on", active_on)
        optional_record_id("team_id", team_id)
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, self._actor(actor), estate_id, "staff.read")
            found = uow.staff.in_estate(estate.id)
        return [
            s
            for s in found
            if (active_on is None or s.active_on(active_on))
            and (team_id is None or s.team_id == team_id)
        ]

    def update(self, actor: Actor, staff_id: StaffId, **changes: Any) -> Staff:
        """Change a staff member: needs ``staff.write``, and ``staff.grant`` for each role
        added or removed (audited) and, when ``active_from`` or ``active_to`` changes, for
        each of their roles: starting or ending when someone acts is granting their roles
        for that time."""
        actor = self._actor(actor)
        allowed = frozenset({"name", "roles", "team_id", "active_from", "active_to", "phone"})
        with self._app.unit_of_work() as uow:
            old: Staff = self._get(uow, actor, uow.staff, "staff", staff_id, "staff.write")
            new = evolve_checked(old, changes, allowed)
            self._check_team(uow, actor, new)
            added, removed = new.roles - old.roles, old.roles - new.roles
            self._check_grants(actor, old, added, giving=True)
            self._check_grants(actor, old, removed, giving=False)
            if (new.active_from, new.active_to) != (old.active_from, old.active_to):
                self._check_grants(actor, old, new.roles & old.roles, giving=True)
            uow.staff.update(new)
            self._updated(uow, old.estate_id, "staff", old.id, changes)
            if added or removed:
                self._audit_grant(uow, actor, new, added=added, removed=removed)
            uow.commit()
        return new

    def grants(
        self, actor: Actor, estate_id: EstateId, *, staff_id: StaffId | None = None
    ) -> builtins.list[RoleGrant]:
        """The audit of role changes in the estate (of one staff member if ``staff_id``),
        oldest first: who gave or took away which roles, when, holding which roles.
        Needs ``staff.read``."""
        actor = self._actor(actor)
        optional_record_id("staff_id", staff_id)
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, actor, estate_id, "staff.read")
            if staff_id is not None:
                self._of_estate(uow, actor, estate, uow.staff, "staff", staff_id, "staff.read")
            return uow.staff.grants(estate.id, staff_id)

    def actor_for(self, actor: Actor, staff_id: StaffId, on: date) -> Actor:
        """The :class:`Actor` a staff member acts as: their roles, their estate only.

        It hands out that person's rights, so it needs ``staff.act_as`` for each of their
        roles (``Resource("staff", estate_id, staff_id, role=...)``): the built-in role map
        allows it to admins (the system actor among them) and to managers for staff whose
        rights are all a manager's own (technicians, collectors, supervisors, managers), so
        acting as someone never gains a right (:func:`propcare.access.may_act_as`). A host
        system that logs its users in as staff members calls it as ``Actor.system()``.
        """
        actor = self._actor(actor)
        day("on", on)
        with self._app.unit_of_work(readonly=True) as uow:
            staff: Staff = self._get(uow, actor, uow.staff, "staff", staff_id, "staff.read")
        for role in sorted(staff.roles):
            resource = Resource("staff", staff.estate_id, staff.id, role=role)
            if not self._app.host.authorize(actor, ACT_AS, resource):
                lacking = act_as_shortfall(actor.roles, (role,))
                raise PermissionDenied(
                    "staff_id",
                    staff_id,
                    f"{self._who(actor)} may not act as {staff.name} (role {role}): "
                    + self._refusal(actor, ACT_AS, lacking, "lack")
                    + "; acting as a staff member needs staff.act_as and every right "
                    "of their roles",
                )
        if not staff.active_on(on):
            raise ValidationError(
                "staff_id", staff_id, f"{staff.name} is not active on {on.isoformat()}"
            )
        return Actor(
            name=staff.name,
            roles=staff.roles,
            estate_ids=frozenset({staff.estate_id}),
            staff_id=staff.id,
        )

    # --- granting roles --------------------------------------------------------------

    @staticmethod
    def _who(actor: Actor) -> str:
        return f"{actor.name} (roles {', '.join(sorted(actor.roles)) or 'none'})"

    @staticmethod
    def _refusal(actor: Actor, action: str, lacking: Sequence[str], lack: str) -> str:
        """Why the built-in rules refuse ``action``, or that the host's policy did."""
        if not role_allows(actor.roles, action):
            return f"those roles do not hold {action}"
        if lacking:
            return f"the role carries {', '.join(lacking)}, which those roles {lack}"
        return f"the host system's propcare_authorize policy refused {action}"

    def _check_grants(
        self, actor: Actor, staff: Staff, roles: Iterable[str], *, giving: bool
    ) -> None:
        """``staff.grant`` for each role, before anything is written: PermissionDenied
        naming the first role refused and the rule."""
        record = staff.id or None  # a staff member being created has no id yet
        for role in sorted(roles):
            resource = Resource("staff", staff.estate_id, record, role=role)
            if self._app.host.authorize(actor, GRANT, resource):
                continue
            lacking = grant_shortfall(actor.roles, role)
            what = "give" if giving else "take away"
            raise PermissionDenied(
                "roles",
                role,
                f"{self._who(actor)} may not {what} this role: "
                + self._refusal(actor, GRANT, lacking, "neither hold nor may assign")
                + "; a role is given or taken away only by someone whose roles hold or may "
                "assign every right it carries",
            )

    def _audit_grant(
        self,
        uow: UnitOfWork,
        actor: Actor,
        staff: Staff,
        *,
        added: frozenset[str],
        removed: frozenset[str],
    ) -> RoleGrant:
        at = self._app.clock.now()
        grant = uow.staff.add_grant(
            RoleGrant(
                estate_id=staff.estate_id,
                staff_id=staff.id,
                added=added,
                removed=removed,
                at=at,
                actor=actor.name,
                actor_roles=actor.roles,
                actor_staff_id=actor.staff_id,
            )
        )
        self._publish(
            uow,
            RolesChanged(
                estate_id=staff.estate_id,
                at=at,
                staff_id=staff.id,
                grant_id=grant.id,
                added=grant.added,
                removed=grant.removed,
                actor=actor.name,
            ),
        )
        return grant

    @staticmethod
    def _check_leader(uow: UnitOfWork, team: Team) -> None:
        if team.leader_staff_id is None:
            return
        leader = uow.staff.get(team.leader_staff_id)
        if leader is None or leader.estate_id != team.estate_id:
            raise ValidationError(
                "leader_staff_id",
                team.leader_staff_id,
                f"no staff member with this id in estate {team.estate_id}",
            )

    def _check_team(self, uow: UnitOfWork, actor: Actor, staff: Staff) -> None:
        if staff.team_id is None:
            return
        team = uow.teams.get(staff.team_id)
        if team is None or team.estate_id != staff.estate_id:
            raise ValidationError(
                "team_id", staff.team_id, f"no team with this id in estate {staff.estate_id}"
            )


class VendorService(RegistryService):
    """Outside service providers: cleaning contractors, lift maintenance, ... (``app.vendors``)."""

    def create(
        self,
        actor: Actor,
        estate_id: EstateId,
        name: str,
        service: str = "cleaning",
        contact_name: str | None = None,
        phone: str | None = None,
    ) -> Vendor:
        actor = self._actor(actor)
        with self._app.unit_of_work() as uow:
            estate = self._estate(uow, actor, estate_id, "vendor.write")
            vendor = uow.vendors.add(
                Vendor(
                    estate_id=estate.id,
                    name=name,
                    service=service,
                    contact_name=contact_name,
                    phone=phone,
                )
            )
            self._created(uow, estate.id, "vendor", vendor.id)
            uow.commit()
        return vendor

    def get(self, actor: Actor, vendor_id: VendorId) -> Vendor:
        with self._app.unit_of_work(readonly=True) as uow:
            vendor: Vendor = self._get(
                uow, self._actor(actor), uow.vendors, "vendor", vendor_id, "vendor.read"
            )
        return vendor

    def list(self, actor: Actor, estate_id: EstateId) -> builtins.list[Vendor]:
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, self._actor(actor), estate_id, "vendor.read")
            return uow.vendors.in_estate(estate.id)

    def update(self, actor: Actor, vendor_id: VendorId, **changes: Any) -> Vendor:
        actor = self._actor(actor)
        allowed = frozenset({"name", "service", "contact_name", "phone"})
        with self._app.unit_of_work() as uow:
            old: Vendor = self._get(uow, actor, uow.vendors, "vendor", vendor_id, "vendor.write")
            new = evolve_checked(old, changes, allowed)
            uow.vendors.update(new)
            self._updated(uow, old.estate_id, "vendor", old.id, changes)
            uow.commit()
        return new
