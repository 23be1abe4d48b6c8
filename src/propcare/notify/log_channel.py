"""The built-in "log" channel: writes each notification to the Python log.

Useful on a workstation, in the demo, and as the always-present fallback. The
recipient's address is masked: logs are not the place for owners' phones.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from propcare.notify.outbox import OutboundMessage
from propcare.plugins.hookspecs import hookimpl
from propcare.plugins.records import NotificationChannel

__all__ = ["LogChannel"]


class LogChannel:
    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.logger = logging.getLogger(str(settings.get("logger", "propcare.notifications")))
        self.level = logging.getLevelName(str(settings.get("level", "INFO")).upper())
        if not isinstance(self.level, int):
            self.level = logging.INFO

    def send(self, message: OutboundMessage) -> None:
        self.logger.log(
            self.level,
            "notification %s to %s <%s>: %s | %s",
            message.idempotency_key,
            message.recipient.name,
            message.recipient.masked,
            message.subject,
            message.body,
        )


@hookimpl
def propcare_notification_channels() -> list[NotificationChannel]:
    return [
        NotificationChannel(
            name="log", create=LogChannel, description="writes notifications to the Python log"
        )
    ]
