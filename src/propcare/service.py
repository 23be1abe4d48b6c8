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
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

import attrs

from propcare.access import Actor, Resource
from propcare.clock import require_aware
from propcare.errors import NotFound, PermissionDenied, ValidationError
from propcare.notify.outbox import Event, NewMessage
from propcare.registry.model import Estate, EstateId
from propcare.storage.ports import UnitOfWork

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
        if not isinstance(actor, Actor):
            raise ValidationError("actor", actor, "must be a propcare.Actor")
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
        if isinstance(record_id, bool) or not isinstance(record_id, int):
            raise ValidationError(f"{kind}_id", record_id, "must be an integer id")
        record = find(record_id)
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
        if isinstance(estate_id, bool) or not isinstance(estate_id, int):
            raise ValidationError("estate_id", estate_id, "must be an integer id")
        estate = uow.estates.get(EstateId(estate_id))
        if estate is None or not actor.sees(estate.id):
            raise NotFound(
                "estate_id", estate_id, f"no estate with this id among those {actor.name} may see"
            )
        self._authorize(actor, action, Resource("estate", estate.id, estate.id))
        return estate

    def _at(self, at: datetime | None, field: str = "at") -> datetime:
        """``at`` when the caller gives one (it must be aware), else now by the app's clock."""
        return self._app.clock.now() if at is None else require_aware(field, at)

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
