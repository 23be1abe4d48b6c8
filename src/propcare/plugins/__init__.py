"""The plugin layer: hook specifications, named records, and the typed host."""

from propcare.plugins.hookspecs import hookimpl
from propcare.plugins.records import (
    CalendarSource,
    Channel,
    DeliveryFailed,
    EventSubscriber,
    NotificationChannel,
    PaymentGateway,
    StorageBackend,
)

__all__ = [
    "CalendarSource",
    "Channel",
    "DeliveryFailed",
    "EventSubscriber",
    "NotificationChannel",
    "PaymentGateway",
    "StorageBackend",
    "hookimpl",
]
