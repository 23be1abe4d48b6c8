"""Fakes for tests: channels and subscribers that record, or fail on purpose.

They are real plugins (they go through the same hooks and the same dispatcher
as a production channel); only what they do on delivery is simplified.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from propcare.notify.outbox import EventEnvelope, OutboundMessage
from propcare.plugins.hookspecs import hookimpl
from propcare.plugins.records import DeliveryFailed, EventSubscriber, NotificationChannel

__all__ = ["FlakyChannel", "RecordingChannel", "RecordingSubscriber"]


class RecordingChannel:
    """A channel plugin named ``name`` that keeps every message it is given."""

    def __init__(self, name: str = "recording") -> None:
        self.name = name
        self.sent: list[OutboundMessage] = []
        self._lock = threading.Lock()

    def send(self, message: OutboundMessage) -> None:
        with self._lock:
            self.sent.append(message)

    def _create(self, settings: Mapping[str, Any]) -> RecordingChannel:
        return self

    @hookimpl
    def propcare_notification_channels(self) -> list[NotificationChannel]:
        return [NotificationChannel(name=self.name, create=self._create, description="test")]


class FlakyChannel(RecordingChannel):
    """Fails the first ``failures`` sends (``permanent`` makes the failures final)."""

    def __init__(self, failures: int, name: str = "flaky", *, permanent: bool = False) -> None:
        super().__init__(name)
        self.failures = failures
        self.permanent = permanent
        self.attempts = 0

    def send(self, message: OutboundMessage) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise DeliveryFailed(
                f"channel:{self.name}", f"down (attempt {self.attempts})", permanent=self.permanent
            )
        super().send(message)


class RecordingSubscriber:
    """A subscriber plugin that keeps the envelopes it receives; can fail the first N."""

    def __init__(
        self, name: str = "recorder", topics: frozenset[str] | None = None, failures: int = 0
    ) -> None:
        self.name = name
        self.topics = topics
        self.failures = failures
        self.calls = 0
        self.received: list[EventEnvelope] = []

    def handle(self, envelope: EventEnvelope) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError(f"subscriber {self.name} failing on purpose ({self.calls})")
        self.received.append(envelope)

    def topics_received(self) -> list[str]:
        return [e.topic for e in self.received]

    @hookimpl
    def propcare_event_subscribers(self) -> list[EventSubscriber]:
        return [EventSubscriber(name=self.name, handle=self.handle, topics=self.topics)]
