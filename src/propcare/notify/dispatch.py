"""After commit: hand each outbox message to its targets, once, with retries.

A delivery is leased before it is attempted, so two dispatchers (two
processes) never send the same delivery at the same time; a process that dies
mid-send leaves a lease that expires, and the delivery is tried again. Each
target is called in its own try/except, so one failing subscriber or channel
never stops the others. Each attempt carries the delivery's idempotency key.
A notification queued with quiet hours is held back, not sent, while it is quiet
where its recipient lives; holding back does not count as an attempt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from propcare.clock import Clock
from propcare.notify.outbox import (
    Backoff,
    EventEnvelope,
    OutboundMessage,
    Recipient,
    StoredMessage,
    masked_in,
)
from propcare.notify.quiet import QuietHours
from propcare.notify.templates import Templates
from propcare.plugins.records import Channel, DeliveryFailed, EventSubscriber
from propcare.storage.ports import ClaimedDelivery, Storage

__all__ = ["DispatchReport", "Dispatcher", "channel_target", "subscriber_target"]

log = logging.getLogger(__name__)


def subscriber_target(name: str) -> str:
    return f"subscriber:{name}"


def channel_target(name: str) -> str:
    return f"channel:{name}"


@attrs.frozen
class DispatchReport:
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    held: int = 0  # held back by quiet hours, sent when they end

    def __add__(self, other: DispatchReport) -> DispatchReport:
        return DispatchReport(
            self.delivered + other.delivered,
            self.retried + other.retried,
            self.failed + other.failed,
            self.held + other.held,
        )


class _Quiet(Exception):
    """Not now: the recipient's quiet hours last until ``until``."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"quiet hours until {until.isoformat()}")
        self.until = until


class Dispatcher:
    """Delivers what the outbox holds to subscribers and channels."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        *,
        subscribers: Callable[[], Sequence[EventSubscriber]],
        channels: Mapping[str, Channel],
        templates: Templates,
        backoff: Backoff | None = None,
        batch: int = 200,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._subscribers = subscribers
        self._channels = channels
        self._templates = templates
        self.backoff = backoff or Backoff()
        self._batch = batch

    def dispatch(
        self,
        message_ids: Sequence[int] = (),
        *,
        limit: int | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> DispatchReport:
        """Deliver what is due now (only ``message_ids`` if given); return the counts.

        ``stop`` is asked before each delivery; once it says true, the deliveries claimed
        and not yet attempted are put back (due now, no attempt counted) and the pass ends:
        how the app's background worker stops when the app closes."""
        report = DispatchReport()
        done = 0
        while limit is None or done < limit:
            size = self._batch if limit is None else min(self._batch, limit - done)
            now = self._clock.now()
            with self._storage.unit_of_work() as uow:
                claimed = uow.outbox.claim_due(now, now + self.backoff.lease, size, message_ids)
                uow.commit()
            if not claimed:
                break
            outcomes: list[tuple[ClaimedDelivery, Exception | None]] = []
            for delivery in claimed:
                if stop is not None and stop():
                    break
                outcomes.append((delivery, self._attempt(delivery)))
            put_back = claimed[len(outcomes) :]
            report = report + self._record(outcomes, put_back)
            if put_back:
                break
            done += len(claimed)
            if len(claimed) < size:
                break
        return report

    def _attempt(self, delivery: ClaimedDelivery) -> Exception | None:
        try:
            kind, _, name = delivery.target.partition(":")
            if kind == "subscriber":
                self._to_subscriber(name, delivery)
            elif kind == "channel":
                self._to_channel(name, delivery)
            else:
                raise DeliveryFailed(delivery.target, "unknown kind of target", permanent=True)
        except Exception as exc:
            return exc
        return None

    def _key(self, delivery: ClaimedDelivery) -> str:
        return f"{delivery.message.key}/{delivery.target}"

    def _to_subscriber(self, name: str, delivery: ClaimedDelivery) -> None:
        found = [s for s in self._subscribers() if s.name == name]
        if not found:
            raise DeliveryFailed(delivery.target, "no subscriber of that name is registered now")
        m = delivery.message
        found[0].handle(
            EventEnvelope(
                message_id=m.id,
                topic=m.topic,
                estate_id=m.estate_id,
                occurred_at=m.created_at,
                payload=m.payload,
                idempotency_key=self._key(delivery),
            )
        )

    def _to_channel(self, name: str, delivery: ClaimedDelivery) -> None:
        channel = self._channels.get(name)
        if channel is None:
            raise DeliveryFailed(delivery.target, "no channel of that name is configured now")
        quiet = delivery.message.payload.get("quiet")
        if quiet:
            now = self._clock.now()
            hours = QuietHours(quiet["start"], quiet["end"])
            until = hours.next_allowed(now, ZoneInfo(quiet["zone"]))
            if until > now:
                raise _Quiet(until)
        channel.send(self.render(delivery.message, self._key(delivery)))

    def render(self, message: StoredMessage, key: str) -> OutboundMessage:
        p: Mapping[str, Any] = message.payload
        subject, body = self._templates.render(p["template"], p["locale"], p["params"])
        return OutboundMessage(
            idempotency_key=key,
            channel=p["channel"],
            estate_id=message.estate_id,
            recipient=Recipient(name=p["recipient"]["name"], address=p["recipient"]["address"]),
            subject=subject,
            body=body,
            locale=p["locale"],
            template=p["template"],
            created_at=message.created_at,
        )

    def _record(
        self,
        outcomes: list[tuple[ClaimedDelivery, Exception | None]],
        put_back: Sequence[ClaimedDelivery] = (),
    ) -> DispatchReport:
        delivered = retried = failed = held = 0
        now: datetime = self._clock.now()
        with self._storage.unit_of_work() as uow:
            for delivery in put_back:
                # Claimed but never attempted: due again now, the claim not counted.
                uow.outbox.hold(delivery.delivery_id, now)
            for delivery, error in outcomes:
                if error is None:
                    uow.outbox.mark_delivered(delivery.delivery_id, now)
                    delivered += 1
                    continue
                if isinstance(error, _Quiet):
                    uow.outbox.hold(delivery.delivery_id, error.until)
                    held += 1
                    continue
                reason = f"{type(error).__name__}: {error}"
                # Logs show the recipient's address masked, as the log channel does.
                shown = masked_in(reason, delivery.message.payload)
                permanent = isinstance(error, DeliveryFailed) and error.permanent
                if permanent or self.backoff.exhausted(delivery.attempts):
                    uow.outbox.mark_failed(delivery.delivery_id, now, reason)
                    failed += 1
                    log.error("delivery %s failed for good: %s", self._key(delivery), shown)
                else:
                    next_at = now + self.backoff.delay(delivery.attempts)
                    uow.outbox.mark_retry(delivery.delivery_id, next_at, reason)
                    retried += 1
                    log.warning(
                        "delivery %s failed (attempt %d), retry at %s: %s",
                        self._key(delivery),
                        delivery.attempts,
                        next_at.isoformat(),
                        shown,
                    )
            uow.commit()
        return DispatchReport(delivered, retried, failed, held)
