"""An example propcare plugin: the ``jsonl`` notification channel.

Each rendered notification is appended to a file as one JSON line. Configure it
with a path::

    Propcare.open(url, config={"channels": {"log": {}, "jsonl": {"path": "out.jsonl"}}})

propcare delivers at least once: a process that dies after ``send`` returns
but before the delivery is recorded will send the message again. So this
channel, like any receiver should, drops a message whose idempotency key is
already in the file. The recipient's address is written masked (138****1234).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from propcare import ConfigError, DeliveryFailed, NotificationChannel, OutboundMessage, hookimpl

__all__ = ["CHANNEL_NAME", "JsonlChannel", "propcare_notification_channels"]

CHANNEL_NAME = "jsonl"


class JsonlChannel:
    """Appends each message to ``settings["path"]`` as one JSON line, once per key."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        path = settings.get("path")
        if not isinstance(path, str | Path) or not str(path).strip():
            raise ConfigError(
                "channels.jsonl.path", path, "must be the path of the file to append to"
            )
        self.path = Path(path)
        self._lock = threading.Lock()

    def send(self, message: OutboundMessage) -> None:
        line = json.dumps(
            {
                "idempotency_key": message.idempotency_key,
                "channel": message.channel,
                "recipient": {"name": message.recipient.name, "address": message.recipient.masked},
                "subject": message.subject,
                "body": message.body,
                "locale": message.locale,
                "created_at": message.created_at.isoformat(),
            },
            ensure_ascii=False,
        )
        with self._lock:
            try:
                if message.idempotency_key in self.keys():
                    return  # a repeat of a message already written: at-least-once delivery
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as out:
                    out.write(line + "\n")
            except OSError as exc:
                # Not permanent: a full disk or a missing mount may come back; retry.
                raise DeliveryFailed(
                    f"channel:{CHANNEL_NAME}", f"cannot write {self.path}: {exc}"
                ) from exc

    def keys(self) -> set[str]:
        """The idempotency keys already in the file."""
        if not self.path.exists():
            return set()
        with self.path.open(encoding="utf-8") as lines:
            return {json.loads(line)["idempotency_key"] for line in lines if line.strip()}


@hookimpl
def propcare_notification_channels() -> list[NotificationChannel]:
    return [
        NotificationChannel(
            name=CHANNEL_NAME,
            create=JsonlChannel,
            description="appends each notification to a file as one JSON line",
        )
    ]
