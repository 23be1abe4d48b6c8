"""Sending notifications (``app.notify``): rendered and checked now, delivered after commit.

The outbox's failures are looked after here too: :meth:`NotifyService.failed` lists the
estate's deliveries that ended ``failed`` (after ``dispatch.max_attempts`` attempts, or
a permanent refusal), :meth:`NotifyService.requeue` sends them again. Both take the
``notify.send`` right in the estate, and neither shows or touches another estate's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import attrs

from propcare.access import Actor
from propcare.clock import require_aware
from propcare.errors import ConfigError, NotFound, ValidationError
from propcare.notify.outbox import Event, NewMessage, Notification, Recipient, masked_in
from propcare.notify.quiet import QuietHours
from propcare.registry.model import EstateId
from propcare.service import Service, new_key
from propcare.storage.ports import FailedDeliveryRow, UnitOfWork
from propcare.validators import KEY_MAX, optional_text, text
from propcare.validators import params as check_params

__all__ = ["DeliveriesRequeued", "FailedDelivery", "NotifyService"]

log = logging.getLogger(__name__)

MAX_ID = 2**63 - 1  # the largest id a database stores


@attrs.frozen
class FailedDelivery:
    """A delivery that ended ``failed``, as staff may see it: the address masked.

    ``target`` is ``channel:<name>`` for a notification (``channel`` names it, and
    ``recipient`` is the masked address: 138****1234) or ``subscriber:<name>`` for an
    event (both None). ``error`` is the last attempt's error, the address in it masked too.
    """

    delivery_id: int
    message_id: int
    estate_id: EstateId
    kind: str  # "notification" | "event"
    topic: str
    target: str
    channel: str | None
    recipient_name: str | None
    recipient: str | None
    attempts: int
    error: str | None
    failed_at: datetime
    created_at: datetime


@attrs.frozen
class DeliveriesRequeued(Event):
    """Failed deliveries were put back to be sent again, by ``by`` (the actor's name)."""

    topic: ClassVar[str] = "outbox.requeued"
    delivery_ids: tuple[int, ...]
    by: str


def _shown(row: FailedDeliveryRow) -> FailedDelivery:
    message = row.message
    payload = message.payload
    channel = name = masked = None
    error = None if row.last_error is None else masked_in(row.last_error, payload)
    if message.kind == "notification":
        channel = str(payload.get("channel", "")) or None
        recipient = payload.get("recipient") or {}
        name = str(recipient.get("name", ""))
        address = str(recipient.get("address", ""))
        if address:
            masked = Recipient(name=name, address=address).masked
    return FailedDelivery(
        delivery_id=row.delivery_id,
        message_id=message.id,
        estate_id=EstateId(int(message.estate_id or 0)),
        kind=message.kind,
        topic=message.topic,
        target=row.target,
        channel=channel,
        recipient_name=name,
        recipient=masked,
        attempts=row.attempts,
        error=error,
        failed_at=row.failed_at,
        created_at=message.created_at,
    )


def _delivery_ids(ids: Iterable[int]) -> list[int]:
    if isinstance(ids, str | bytes) or not isinstance(ids, Iterable):
        raise ValidationError("delivery_ids", ids, "must be a list of delivery ids")
    found = list(ids)
    for value in found:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
            raise ValidationError("delivery_id", value, f"must be an integer id from 1 to {MAX_ID}")
    return sorted(set(found))


class NotifyService(Service):
    def send(
        self,
        actor: Actor,
        estate_id: EstateId,
        channel: str,
        recipient: Recipient,
        template: str,
        params: Mapping[str, Any],
        *,
        locale: str = "zh-CN",
        key: str | None = None,
    ) -> int:
        """Queue one notification; returns its outbox message id.

        The same ``key`` sent twice in an estate queues it once (the first message's
        id is returned); the same key with a different message raises Conflict.
        Channels see it as ``notify:<estate id>:<key>/channel:<name>``. ``params`` map
        text to what JSON holds, at most 10,000 characters as JSON.
        """
        actor = self._actor(actor)
        text("channel", channel)
        if not isinstance(recipient, Recipient):
            raise ValidationError("recipient", recipient, "must be a propcare.Recipient")
        text("recipient name", recipient.name, required=False)
        text("recipient address", recipient.address, max_length=KEY_MAX)
        text("template", template)
        params = check_params("params", params)
        text("locale", locale)
        optional_text("key", key, max_length=KEY_MAX)
        with self._app.unit_of_work() as uow:
            self._estate(uow, actor, estate_id, "notify.send")
            message_id = self.queue(
                uow,
                Notification(
                    estate_id=estate_id,
                    channel=channel,
                    recipient=recipient,
                    template=template,
                    params=dict(params),
                    locale=locale,
                    key=key,
                ),
            )
            uow.commit()
        return message_id

    def queue(
        self,
        uow: UnitOfWork,
        notification: Notification,
        *,
        not_before: datetime | None = None,
        quiet: tuple[QuietHours, str] | None = None,
    ) -> int:
        """Write a notification into ``uow``'s outbox; for services that notify as they change.

        The template is rendered here once so a missing parameter fails now, while
        the change can still roll back, not after commit. ``quiet`` (hours, time zone
        name) holds delivery back while it is quiet there: checked now and again by the
        dispatcher at the moment it sends, so a retry never goes out at night.
        """
        if notification.channel not in self._app.channels:
            raise ConfigError(
                "channel",
                notification.channel,
                f"is not configured; configured: {', '.join(sorted(self._app.channels))}",
            )
        self._app.templates.render(notification.template, notification.locale, notification.params)
        payload = {
            "channel": notification.channel,
            "recipient": {
                "name": notification.recipient.name,
                "address": notification.recipient.address,
            },
            "template": notification.template,
            "locale": notification.locale,
            "params": dict(notification.params),
        }
        not_after_quiet = not_before
        if quiet is not None:
            hours, zone = quiet
            payload["quiet"] = {
                "start": hours.start.isoformat("minutes"),
                "end": hours.end.isoformat("minutes"),
                "zone": zone,
            }
            earliest = max(self._app.clock.now(), not_before or self._app.clock.now())
            not_after_quiet = hours.next_allowed(earliest, ZoneInfo(zone))
        message = NewMessage(
            estate_id=notification.estate_id,
            kind="notification",
            topic=f"notify.{notification.template}",
            payload=payload,
            # A caller's key is scoped to its estate: estate B cannot reuse (and so
            # silently drop) a key estate A already sent with.
            key=(
                f"notify:{notification.estate_id}:{notification.key}"
                if notification.key
                else new_key("notify")
            ),
            # Delivery waits until then: dunning SMS never go out in quiet hours.
            created_at=max(self._app.clock.now(), require_aware("not_before", not_after_quiet))
            if not_after_quiet is not None
            else self._app.clock.now(),
        )
        return self._app.enqueue(uow, message, [f"channel:{notification.channel}"])

    # --- failed deliveries ------------------------------------------------------------

    def failed(
        self, actor: Actor, estate_id: EstateId, *, limit: int | None = None
    ) -> list[FailedDelivery]:
        """The estate's deliveries that ended ``failed``, oldest first (the first
        ``limit``): notifications to people (addresses masked) and events to subscribers,
        each with its attempts and last error. :meth:`requeue` sends them again."""
        actor = self._actor(actor)
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_ID
        ):
            raise ValidationError("limit", limit, "must be a positive integer")
        with self._app.unit_of_work(readonly=True) as uow:
            self._estate(uow, actor, estate_id, "notify.send")
            rows = uow.outbox.failed(estate_id, limit)
        return [_shown(r) for r in rows]

    def requeue(
        self,
        actor: Actor,
        estate_id: EstateId,
        delivery_ids: Iterable[int] = (),
        *,
        all_failed: bool = False,
    ) -> list[int]:
        """Send failed deliveries again: ``delivery_ids``, or with ``all_failed`` every
        failed delivery of the estate. Each goes back to ``pending``, due now, with its
        attempts reset to 0, so it gets ``dispatch.max_attempts`` more; the retries keep
        its idempotency key. Returns the ids put back, ascending.

        All or nothing: an id that is not a failed delivery of the estate (delivered,
        still pending, another estate's, unknown) refuses the whole call with NotFound.
        Publishes ``outbox.requeued`` (:class:`DeliveriesRequeued`) and logs who did it;
        with ``dispatch.auto`` the worker sends them right after the commit."""
        actor = self._actor(actor)
        if not isinstance(all_failed, bool):
            raise ValidationError("all_failed", all_failed, "must be True or False")
        ids = _delivery_ids(delivery_ids)
        if all_failed == bool(ids):
            raise ValidationError(
                "delivery_ids",
                ids,
                "give the ids of failed deliveries, or all_failed=True for every one (not both)",
            )
        now = self._app.clock.now()
        with self._app.unit_of_work() as uow:
            self._estate(uow, actor, estate_id, "notify.send")
            requeued = uow.outbox.requeue(estate_id, None if all_failed else ids, now)
            missing = sorted(set(ids) - set(requeued))
            if missing:
                raise NotFound(
                    "delivery_id",
                    missing[0] if len(missing) == 1 else missing,
                    f"no failed delivery with this id in estate {estate_id}; nothing was "
                    "requeued (`notify.failed` lists them)",
                )
            if requeued:
                self._publish(
                    uow,
                    DeliveriesRequeued(
                        estate_id=estate_id, at=now, delivery_ids=tuple(requeued), by=actor.name
                    ),
                )
                self._app.dispatch_after_commit(uow)
            uow.commit()
        if requeued:
            log.info(
                "%s requeued %d failed deliveries of estate %s: %s",
                actor.name,
                len(requeued),
                estate_id,
                ", ".join(map(str, requeued)),
            )
        return requeued
