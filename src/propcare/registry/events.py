"""Events of the estate registry, for subscribers that mirror it elsewhere."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

import attrs

from propcare.notify.outbox import Event

__all__ = [
    "ContactRevealed",
    "OwnershipChanged",
    "RecordCreated",
    "RecordUpdated",
    "RolesChanged",
    "UnitsAdded",
]


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


@attrs.frozen
class ContactRevealed(Event):
    """An owner's full phone numbers were shown: the audited reveal (never the numbers).

    ``reveal_id`` is the row of the append-only audit (``app.owners.reveals``); ``owner_id``
    the owner (None for many at once: an archive export, an arrears roster); ``ticket_id``
    the ticket whose callback it was for; ``purpose`` ``callback``, ``contact``, ``archive``
    or ``roster``; ``actor`` the name of who asked.
    """

    topic: ClassVar[str] = "registry.contact_revealed"
    reveal_id: int
    owner_id: int | None
    ticket_id: int | None
    purpose: str
    actor: str
