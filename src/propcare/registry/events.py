"""Events of the estate registry, for subscribers that mirror it elsewhere."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

import attrs

from propcare.notify.outbox import Event

__all__ = ["OwnershipChanged", "RecordCreated", "RecordUpdated", "RolesChanged", "UnitsAdded"]


@attrs.frozen
class RecordCreated(Event):
    topic: ClassVar[str] = "registry.created"
    kind: str
    record_id: int


@attrs.frozen
class RecordUpdated(Event):
    topic: ClassVar[str] = "registry.updated"
    kind: str
    record_id: int
    fields: tuple[str, ...]


@attrs.frozen
class UnitsAdded(Event):
    topic: ClassVar[str] = "registry.units_added"
    building_id: int
    unit_ids: tuple[int, ...]


@attrs.frozen
class OwnershipChanged(Event):
    topic: ClassVar[str] = "registry.ownership_changed"
    unit_id: int
    previous_owner_id: int | None
    owner_id: int
    start: date


@attrs.frozen
class RolesChanged(Event):
    """A staff member was given or lost roles (their first roles too): the audited grant.

    ``grant_id`` is the row of the append-only audit (``app.staff.grants``); ``actor`` is
    the name of who changed the roles.
    """

    topic: ClassVar[str] = "registry.roles_changed"
    staff_id: int
    grant_id: int
    added: tuple[str, ...]
    removed: tuple[str, ...]
    actor: str
