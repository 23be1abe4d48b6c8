"""A month as a value: ``Period(2026, 11)`` is November 2026, written ``"2026-11"``.

Reports, bill runs and recomputations all speak of months; a value that parses and
checks itself once saves every caller from slicing ``"YYYY-MM"`` strings.
"""

from __future__ import annotations

import re
from datetime import date, datetime, tzinfo
from typing import Any

import attrs

from propcare.errors import ValidationError

__all__ = ["Period"]

_TEXT = re.compile(r"^(\d{4})-(\d{2})$")


def _month(_inst: Any, _attribute: Any, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 12:
        raise ValidationError("month", value, "must be 1 to 12")


def _year(_inst: Any, _attribute: Any, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1900 <= value <= 9998:
        raise ValidationError("year", value, "must be 1900 to 9998")


@attrs.frozen(order=True)
class Period:
    year: int = attrs.field(validator=_year)
    month: int = attrs.field(validator=_month)

    @classmethod
    def parse(cls, text: Any, field: str = "period") -> Period:
        """``"2026-11"`` -> ``Period(2026, 11)``; ValidationError naming ``field`` otherwise."""
        found = _TEXT.match(text) if isinstance(text, str) else None
        if found is None or not 1 <= int(found[2]) <= 12:
            raise ValidationError(field, text, "a month is written YYYY-MM, e.g. 2026-11")
        return cls(int(found[1]), int(found[2]))

    @classmethod
    def of(cls, day: date) -> Period:
        """The month ``day`` falls in (a datetime: its own local date)."""
        return cls(day.year, day.month)

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def next(self) -> Period:
        return Period(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Period:
        return Period(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def bounds(self, zone: tzinfo) -> tuple[datetime, datetime]:
        """[first instant, first instant of the next month) in ``zone``."""
        following = self.next()
        return (
            datetime(self.year, self.month, 1, tzinfo=zone),
            datetime(following.year, following.month, 1, tzinfo=zone),
        )

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"
