"""Quiet hours: when no reminder may reach an owner's phone (免打扰时段).

The dispatcher checks them when it sends, not only when a message is queued, so a
retry or a late dispatcher never delivers a dunning SMS at night.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from propcare.errors import ValidationError

__all__ = ["QuietHours"]


def _clock(value: Any) -> time:
    if isinstance(value, time):
        return value
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise ValidationError("quiet_hours", value, "write times as HH:MM") from None


@attrs.frozen
class QuietHours:
    """No reminders from ``start`` to ``end`` local time (default 21:00 to 08:00)."""

    start: time = attrs.field(default=time(21, 0), converter=_clock)
    end: time = attrs.field(default=time(8, 0), converter=_clock)

    def quiet(self, local: time) -> bool:
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def next_allowed(self, when: datetime, zone: ZoneInfo) -> datetime:
        """``when`` if it is not quiet there, else the end of the quiet hours."""
        local = when.astimezone(zone)
        if not self.quiet(local.time().replace(tzinfo=None)):
            return when
        day = local.date() if local.time() < self.end else local.date() + timedelta(days=1)
        return datetime.combine(day, self.end, tzinfo=zone)
