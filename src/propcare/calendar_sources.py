"""The built-in calendar sources, registered through ``propcare_calendars`` like any plugin.

- ``cn``: China's official public holidays and make-up working days (调休) from the
  chinesecalendar package (2004-2026 in chinesecalendar 1.11).
- ``file``: a JSON or TOML file of days off and days on, for next year's State
  Council schedule, a typhoon closure or a company day off (format in
  ``docs/reference/calendar-files.md``).

Each record's ``load(settings)`` returns a :class:`~propcare.calendar.HolidayData`;
reading happens there, never at import.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from propcare.calendar import FIRST_YEAR, LAST_YEAR, HolidayData
from propcare.errors import ConfigError, ValidationError
from propcare.plugins.hookspecs import hookimpl
from propcare.plugins.records import CalendarSource

__all__ = [
    "CN",
    "FILE",
    "china_holidays",
    "load_cn",
    "load_file",
    "parse_calendar_document",
    "propcare_calendars",
    "read_calendar_file",
]

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FILE_KEYS = frozenset({"name", "covers", "days_off", "days_on", "notes"})


# --- cn ---------------------------------------------------------------------------------


@cache
def china_holidays() -> HolidayData:
    """The State Council schedule as chinesecalendar knows it, for every year it covers.

    Days off are all its holidays, weekend ones included, so a calendar with
    Saturday windows also rests on a Saturday inside the Spring Festival span;
    days on are its make-up working days. Years are those its tables span.
    """
    import chinese_calendar  # imported on first use: plugin registration stays cheap

    holidays: Iterable[date] = chinese_calendar.holidays.keys()
    workdays: Iterable[date] = chinese_calendar.workdays.keys()
    days_off = frozenset(holidays)
    days_on = frozenset(workdays)
    years = range(min(d.year for d in days_off), max(d.year for d in days_off) + 1)
    version = getattr(chinese_calendar, "__version__", "?")
    return HolidayData(days_off, days_on, frozenset(years), f"cn (chinesecalendar {version})")


def load_cn(settings: Mapping[str, Any]) -> HolidayData:
    """The ``cn`` source; it takes no settings."""
    if settings:
        raise ConfigError("calendar source cn", dict(settings), "takes no settings")
    return china_holidays()


# --- file -------------------------------------------------------------------------------


def _date(origin: str, key: str, value: Any) -> date:
    field = f"{origin}: {key}"
    # TOML has a native date type; a datetime there is a mistake, not a day.
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValidationError(field, value, "is not a real calendar date") from None
    raise ValidationError(field, value, "must be a date written YYYY-MM-DD")


def _dates(origin: str, key: str, values: Any) -> frozenset[date]:
    if values is None:
        return frozenset()
    if not isinstance(values, list):
        raise ValidationError(f"{origin}: {key}", values, "must be a list of dates YYYY-MM-DD")
    return frozenset(_date(origin, key, v) for v in values)


def _covers(origin: str, values: Any) -> frozenset[int]:
    if values is None:
        return frozenset()
    if not isinstance(values, list):
        raise ValidationError(f"{origin}: covers", values, "must be a list of years like [2027]")
    for year in values:
        if isinstance(year, bool) or not isinstance(year, int):
            raise ValidationError(f"{origin}: covers", year, "must be a whole year like 2027")
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise ValidationError(
                f"{origin}: covers", year, f"must be between {FIRST_YEAR} and {LAST_YEAR}"
            )
    return frozenset(values)


def parse_calendar_document(document: Any, origin: str) -> HolidayData:
    """Holiday data from a parsed calendar file; ``origin`` names it in errors.

    Keys: ``covers`` (years this file fully describes; optional), ``days_off``,
    ``days_on`` (dates YYYY-MM-DD), ``name`` and ``notes`` (optional). A date
    both off and on, an unknown key or a bad date is a ValidationError.
    """
    if not isinstance(document, Mapping):
        raise ValidationError(origin, document, "must be a table (TOML) or an object (JSON)")
    unknown = sorted(set(document) - _FILE_KEYS)
    if unknown:
        raise ValidationError(
            f"{origin}: {unknown[0]}",
            document[unknown[0]],
            f"unknown key; a calendar file has {', '.join(sorted(_FILE_KEYS))}",
        )
    name = document.get("name", origin)
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"{origin}: name", name, "must be a non-empty text")
    days_off = _dates(origin, "days_off", document.get("days_off"))
    days_on = _dates(origin, "days_on", document.get("days_on"))
    both = days_off & days_on
    if both:
        raise ValidationError(
            f"{origin}: days_on",
            min(both).isoformat(),
            "is also listed in days_off: a date is either off or on",
        )
    covers = _covers(origin, document.get("covers"))
    return HolidayData(days_off, days_on, covers, f"file {name}")


def read_calendar_file(path: str | Path) -> HolidayData:
    """Read a ``.toml`` or ``.json`` calendar file (see docs/reference/calendar-files.md)."""
    file = Path(path)
    origin = str(file)
    suffix = file.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise ConfigError("calendar file", origin, "must end in .toml or .json")
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ConfigError("calendar file", origin, f"cannot be read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
        document = tomllib.loads(text) if suffix == ".toml" else json.loads(text)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        kind = "TOML" if suffix == ".toml" else "JSON"
        raise ValidationError(origin, "...", f"is not valid UTF-8 {kind}: {exc}") from None
    return parse_calendar_document(document, origin)


def load_file(settings: Mapping[str, Any]) -> HolidayData:
    """The ``file`` source: settings ``{"path": "holidays-2027.toml"}``."""
    extra = sorted(set(settings) - {"path"})
    if extra or not isinstance(settings.get("path"), str | Path):
        raise ConfigError(
            "calendar source file", dict(settings), 'takes one setting, {"path": "<file>"}'
        )
    return read_calendar_file(settings["path"])


# --- the plugin ---------------------------------------------------------------------------

CN = CalendarSource(
    "cn",
    load_cn,
    "China's public holidays and make-up working days (chinesecalendar; 2004-2026 in 1.11)",
)
FILE = CalendarSource(
    "file",
    load_file,
    'Days off and days on from a JSON or TOML file; settings {"path": "..."}',
)


@hookimpl
def propcare_calendars() -> Iterable[CalendarSource]:
    return (CN, FILE)
