"""What every service shares: the unit of work, permissions and estate isolation.

A service method takes the acting :class:`~propcare.access.Actor` first. It
loads records through :meth:`Service._get`, which answers NotFound for a
record of an estate the actor may not see (isolation: the actor learns
nothing about it), then asks ``propcare_authorize`` whether the actor's roles
allow the action.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

import attrs

from propcare.access import Actor, Resource
from propcare.clock import AHEAD_TOLERANCE, not_ahead, require_instant
from propcare.errors import NotFound, PermissionDenied, ValidationError
from propcare.notify.outbox import Event, NewMessage
from propcare.registry.model import Estate, EstateId
from propcare.storage.ports import UnitOfWork
from propcare.validators import optional_record_id, text
from propcare.validators import record_id as record_id_of

if TYPE_CHECKING:
    from propcare.app import Propcare

__all__ = ["Service"]


class _Scoped(Protocol):
    @property
    def estate_id(self) -> EstateId: ...


class _Getter(Protocol):
    def get(self, record_id: Any) -> Any: ...


R = TypeVar("R")


class Service:
    def __init__(self, app: Propcare) -> None:
        self._app = app

    @staticmethod
    def _actor(actor: object) -> Actor:
        """``actor`` if it is an Actor whose name and staff id may be stored (events and
        journal entries keep who acted)."""
        if not isinstance(actor, Actor):
            raise ValidationError("actor", actor, "must be a propcare.Actor")
        text("actor.name", actor.name)
        optional_record_id("actor.staff_id", actor.staff_id)
        return actor

    def _authorize(self, actor: Actor, action: str, resource: Resource) -> None:
        if not self._app.host.authorize(actor, action, resource):
            raise PermissionDenied(
                "action",
                action,
                f"{actor.name} (roles {', '.join(sorted(actor.roles)) or 'none'}) may not do "
                f"this on {resource.kind}" + (f" {resource.id}" if resource.id is not None else ""),
            )

    def _get(
        self, uow: UnitOfWork, actor: Actor, repo: _Getter, kind: str, record_id: Any, action: str
    ) -> Any:
        """Load a record the actor may see, then check the action on it."""
        return self._find(actor, repo.get, kind, record_id, action)

    def _find(
        self,
        actor: Actor,
        find: Callable[[int], Any],
        kind: str,
        record_id: Any,
        action: str,
        resource: str | None = None,
    ) -> Any:
        """:meth:`_get` with any lookup by id (``find``) returning a record that has an
        ``estate_id``: NotFound for one the actor may not see, then the action checked
        on it (as a ``resource`` kind, default ``kind``)."""
        record = find(record_id_of(f"{kind}_id", record_id))
        if record is None or not actor.sees(EstateId(record.estate_id)):
            raise NotFound(
                f"{kind}_id",
                record_id,
                f"no {kind} with this id in the estates {actor.name} may see",
            )
        self._authorize(
            actor, action, Resource(resource or kind, EstateId(record.estate_id), record_id)
        )
        return record

    def _estate(self, uow: UnitOfWork, actor: Actor, estate_id: Any, action: str) -> Estate:
        estate = uow.estates.get(EstateId(record_id_of("estate_id", estate_id)))
        if estate is None or not actor.sees(estate.id):
            raise NotFound(
                "estate_id", estate_id, f"no estate with this id among those {actor.name} may see"
            )
        self._authorize(actor, action, Resource("estate", estate.id, estate.id))
        return estate

    def _at(self, at: datetime | None, field: str = "at") -> datetime:
        """``at`` when the caller gives one (aware, 1970 to 2100), else now by the app's
        clock."""
        return self._app.clock.now() if at is None else require_instant(field, at)

    def _money_at(self, at: datetime | None, field: str = "at", what: str = "money") -> datetime:
        """:meth:`_at` for a movement of money: never dated more than a day ahead of the
        app's clock (:func:`propcare.clock.not_ahead`)."""
        now = self._app.clock.now()
        return now if at is None else not_ahead(field, require_instant(field, at), now, what)

    def _money_day(self, day: date, zone: str, field: str = "as_of") -> date:
        """A date a movement of money is computed as of (late fees): at most a day past
        today in the estate's time zone ``zone``."""
        today = self._app.clock.now().astimezone(self._app.zone(zone)).date()
        if day > today + AHEAD_TOLERANCE:
            raise ValidationError(
                field, day, f"money cannot be dated ahead of today ({today}) by more than a day"
            )
        return day

    def _publish(self, uow: UnitOfWork, event: Event, key: str | None = None) -> int:
        """Write ``event`` to this unit of work's outbox, for each subscriber that wants it."""
        return self._app.publish(uow, event, key=key)


def evolve_checked(record: R, changes: Mapping[str, Any], allowed: frozenset[str]) -> R:
    """``attrs.evolve`` limited to the fields a caller may change; validators run again."""
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise ValidationError(
            "changes", unknown, f"cannot be changed here; changeable: {', '.join(sorted(allowed))}"
        )
    return cast(R, attrs.evolve(cast(Any, record), **changes))


def new_key(prefix: str) -> str:
    return f"{prefix}:{uuid.uuid4().hex}"


def event_message(event: Event, key: str | None = None) -> NewMessage:
    return NewMessage(
        estate_id=event.estate_id,
        kind="event",
        topic=event.topic,
        payload=event.payload(),
        key=key or new_key(event.topic),
        created_at=event.at,
    )
