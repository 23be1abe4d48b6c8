"""Where time comes from. The core never reads the system clock itself.

An instant a caller gives propcare is a timezone-aware ``datetime`` from 1970-01-01 to
2100-01-01 UTC (``EARLIEST`` inclusive, ``LATEST`` exclusive; :func:`require_instant`):
far enough from the ends of ``datetime`` that a zone, a deadline or a year added to it
never overflows. What propcare computes from one (a deadline) may run past 2100. Money is
never dated ahead of the app's clock by more than ``AHEAD_TOLERANCE`` (a day: the clocks
of tills drift, and a payment keyed in just after midnight is not a mistake); see
:func:`not_ahead`.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from propcare.errors import ValidationError

__all__ = [
    "AHEAD_TOLERANCE",
    "DEFAULT_TZ",
    "EARLIEST",
    "LATEST",
    "Clock",
    "FixedClock",
    "SystemClock",
    "not_ahead",
    "require_aware",
    "require_instant",
    "zone",
]

DEFAULT_TZ = "Asia/Shanghai"
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
AHEAD_TOLERANCE = timedelta(days=1)


@runtime_checkable
class Clock(Protocol):
    """Something that tells the current time as an aware datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The machine's clock, in UTC (callers convert to the estate's zone)."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


class FixedClock:
    """A clock that only moves when told to; for tests and replays."""

    def __init__(self, at: datetime) -> None:
        self._at = require_aware("at", at)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._at

    def set(self, at: datetime) -> None:
        with self._lock:
            self._at = require_aware("at", at)

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        """Move forward by ``delta`` or by ``timedelta(**kwargs)``; return the new time."""
        step = delta if delta is not None else timedelta(**kwargs)
        with self._lock:
            self._at = self._at + step
            return self._at

    def __repr__(self) -> str:
        return f"FixedClock({self._at.isoformat()})"


def require_aware(field: str, value: object) -> datetime:
    """Return ``value`` if it is a timezone-aware datetime, else raise ValidationError.

    For instants propcare computes (deadlines, calendar spans); an instant a caller gives
    is checked by :func:`require_instant`."""
    if not isinstance(value, datetime):
        raise ValidationError(field, value, "must be a datetime")
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValidationError(field, value, "must be timezone-aware (naive datetimes are refused)")
    return value


def require_instant(field: str, value: object) -> datetime:
    """Return ``value`` if it is an instant a caller may give: timezone-aware, from
    1970-01-01 to 2100-01-01 UTC (``EARLIEST`` to ``LATEST``); else ValidationError."""
    require_aware(field, value)
    assert isinstance(value, datetime)
    try:
        inside = EARLIEST <= value < LATEST
    except OverflowError:  # an offset that takes it past datetime's own range
        inside = False
    if not inside:
        raise ValidationError(
            field, value, "must be from 1970-01-01 to 2100-01-01 UTC (a date far off is a typo)"
        )
    return value


def not_ahead(field: str, when: datetime, now: datetime, what: str = "money") -> datetime:
    """``when`` unless it is more than ``AHEAD_TOLERANCE`` (a day) after ``now``: a
    payment, deposit, refund or other movement of money has happened, it is not dated
    ahead (a payment dated in 2031 would open that year's receipt series today)."""
    if when > now + AHEAD_TOLERANCE:
        raise ValidationError(
            field,
            when,
            f"{what} cannot be dated ahead of the clock ({now.isoformat(timespec='minutes')}) "
            "by more than a day",
        )
    return when


def zone(name: str, field: str = "timezone") -> ZoneInfo:
    """The ``ZoneInfo`` for an IANA name, or ValidationError naming the field."""
    if not isinstance(name, str) or not name or len(name) > 64 or "\x00" in name:
        raise ValidationError(field, name, "must be an IANA time zone name such as Asia/Shanghai")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValidationError(field, name, "is not a known IANA time zone") from None
