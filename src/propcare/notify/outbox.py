"""What goes into the outbox: domain events and notifications, and the retry rule.

Both are written in the same transaction as the change they report, so a
rolled-back change leaves nothing to send. After commit the dispatcher
(:mod:`propcare.notify.dispatch`) delivers each message once to each target.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

import attrs

from propcare.errors import ValidationError
from propcare.registry.contact import mask_middle
from propcare.registry.model import EstateId
from propcare.validators import aware, non_empty

__all__ = [
    "Backoff",
    "Event",
    "EventEnvelope",
    "NewMessage",
    "Notification",
    "OutboundMessage",
    "Recipient",
    "StoredMessage",
    "decode_payload",
    "encode_payload",
    "masked_in",
]


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, frozenset | set | tuple):
        return sorted(value) if isinstance(value, frozenset | set) else list(value)
    raise TypeError(f"cannot put {type(value).__name__} in an outbox payload")


def encode_payload(payload: Mapping[str, Any]) -> str:
    """JSON text for a payload; Decimals as strings so no fen is lost."""
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, default=_default)


def decode_payload(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValidationError("payload", text[:60], "must be a JSON object")
    return value


@attrs.frozen
class Event:
    """Base of domain events. Subclasses set ``topic`` and add their fields.

    ``payload()`` is what subscribers receive: plain JSON-safe values.
    """

    topic: ClassVar[str] = "event"
    estate_id: EstateId
    at: datetime = attrs.field(validator=aware("at"))

    def payload(self) -> dict[str, Any]:
        data = attrs.asdict(self, recurse=True)
        data.pop("estate_id")
        data.pop("at")
        return data


@attrs.frozen
class Recipient:
    """Who a notification goes to: a name and an address the channel understands."""

    name: str
    address: str = attrs.field(validator=non_empty("recipient address"))

    @property
    def masked(self) -> str:
        """The address as logs show it: phone 138****1234, e-mail z***@example.com."""
        if "@" in self.address:
            local, _, domain = self.address.partition("@")
            return f"{local[:1]}***@{domain}"
        digits = re.sub(r"[\s\-()]", "", self.address)
        if digits.startswith("+86"):
            digits = digits[3:]
        if digits.isdigit() and len(digits) >= 7:
            return mask_middle(digits, 3, 4)
        return mask_middle(self.address, 2, 2)


def masked_in(text: str, payload: Mapping[str, Any]) -> str:
    """``text`` (a channel's error) with the address of a notification's recipient masked,
    for logs and lists: a gateway's error often quotes the number it refused."""
    recipient = payload.get("recipient")
    address = recipient.get("address") if isinstance(recipient, Mapping) else None
    if not isinstance(address, str) or not address:
        return text
    return text.replace(address, Recipient(name="", address=address).masked)


@attrs.frozen
class Notification:
    """A message for a person through a channel, rendered from a template after commit."""

    estate_id: EstateId
    channel: str = attrs.field(validator=non_empty("channel"))
    recipient: Recipient
    template: str = attrs.field(validator=non_empty("template"))
    params: Mapping[str, Any] = attrs.field(factory=dict)
    locale: str = "zh-CN"
    key: str | None = None


@attrs.frozen
class NewMessage:
    """An outbox row before it is stored."""

    estate_id: EstateId | None
    kind: str  # "event" | "notification"
    topic: str
    payload: Mapping[str, Any]
    key: str
    created_at: datetime = attrs.field(validator=aware("created_at"))


@attrs.frozen
class StoredMessage:
    id: int
    estate_id: EstateId | None
    kind: str
    topic: str
    payload: Mapping[str, Any]
    key: str
    created_at: datetime


@attrs.frozen
class EventEnvelope:
    """What a subscriber receives: the committed event with its delivery key.

    ``idempotency_key`` is the same on every retry of this delivery, so a
    subscriber that may see a message twice (after a crash) can drop the repeat.
    """

    message_id: int
    topic: str
    estate_id: EstateId | None
    occurred_at: datetime
    payload: Mapping[str, Any]
    idempotency_key: str


@attrs.frozen
class OutboundMessage:
    """A rendered notification handed to a channel."""

    idempotency_key: str
    channel: str
    estate_id: EstateId | None
    recipient: Recipient
    subject: str
    body: str
    locale: str
    template: str
    created_at: datetime


@attrs.frozen
class Backoff:
    """Retry schedule: ``base`` x 2^(attempt-1), at most ``cap``; give up after ``max_attempts``."""

    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=1)
    max_attempts: int = 8
    lease: timedelta = timedelta(minutes=5)

    def delay(self, attempts: int) -> timedelta:
        if attempts < 1:
            raise ValidationError("attempts", attempts, "must be at least 1")
        return min(self.cap, self.base * (1 << min(attempts - 1, 30)))

    def exhausted(self, attempts: int) -> bool:
        return attempts >= self.max_attempts
