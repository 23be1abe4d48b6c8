"""Sending notifications (``app.notify``): rendered and checked now, delivered after commit."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from propcare.access import Actor
from propcare.clock import require_aware
from propcare.errors import ConfigError
from propcare.notify.outbox import NewMessage, Notification, Recipient
from propcare.notify.quiet import QuietHours
from propcare.registry.model import EstateId
from propcare.service import Service, new_key
from propcare.storage.ports import UnitOfWork

__all__ = ["NotifyService"]


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
        Channels see it as ``notify:<estate id>:<key>/channel:<name>``.
        """
        actor = self._actor(actor)
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
