"""Named records that provider hooks return.

The app picks a record by the name its configuration gives and refuses an
unknown or duplicate name; a record only describes, it does no IO until one of
its callables is called.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from propcare.errors import PropcareError

if TYPE_CHECKING:
    from propcare.notify.outbox import EventEnvelope, OutboundMessage
    from propcare.storage.ports import Storage

__all__ = [
    "CalendarSource",
    "Channel",
    "DeliveryFailed",
    "EventSubscriber",
    "NotificationChannel",
    "PaymentGateway",
    "StorageBackend",
]

Settings = Mapping[str, Any]


@attrs.frozen
class StorageBackend:
    """A storage backend, chosen by the scheme of the URL given to ``Propcare.open``.

    ``open(url)`` refuses (``ForeignDatabase``) a database holding another program's
    tables and no propcare schema, writing nothing; one that can take such a database
    over accepts the keyword ``adopt_foreign=True`` too.
    """

    name: str
    open: Callable[[str], Storage]
    description: str = ""


class Channel(Protocol):
    """A configured notification channel: delivers one rendered message.

    Raise :class:`DeliveryFailed` on failure; ``permanent=True`` stops retries
    (a rejected address), anything else is retried with backoff.
    """

    def send(self, message: OutboundMessage) -> None: ...


class DeliveryFailed(PropcareError):
    """A channel or subscriber could not deliver; ``permanent`` stops retries."""

    def __init__(self, target: str, reason: str, *, permanent: bool = False) -> None:
        self.permanent = permanent
        super().__init__("target", target, reason)


@attrs.frozen
class NotificationChannel:
    """A kind of channel (log, email, webhook, ...); ``create`` builds it from settings."""

    name: str
    create: Callable[[Settings], Channel]
    description: str = ""


@attrs.frozen
class EventSubscriber:
    """Receives every committed event whose topic it asks for (all when ``topics`` is None).

    ``name`` keys its delivery records, so keep it stable across releases: a
    renamed subscriber counts as a new one.
    """

    name: str
    handle: Callable[[EventEnvelope], None]
    topics: frozenset[str] | None = None

    def wants(self, topic: str) -> bool:
        return self.topics is None or topic in self.topics


@attrs.frozen
class PaymentGateway:
    """A payment provider (front-desk counter, WeChat Pay, Alipay).

    ``create`` builds a client from settings. The client's interface (create a
    payment request, verify a notification into a payment notice, request a
    refund) is defined by the fee ledger in ``propcare.ledger``.
    """

    name: str
    create: Callable[[Settings], Any]
    description: str = ""


@attrs.frozen
class CalendarSource:
    """Holiday and make-up working-day data (official China calendar, a file, ...).

    ``load`` builds the source from settings; its interface is defined by
    ``propcare.calendar``.
    """

    name: str
    load: Callable[[Settings], Any]
    description: str = ""
