"""Planned work and planned outages: the records and the pure rules behind them.

A maintenance plan (保养计划 / 巡查计划) is an RFC 5545 recurrence rule that opens a
ticket at each occurrence, optionally following a business calendar (working days
only, make-up days included, or moved to the next working day); an outage
(计划停水停电) is a cut announced to the owners it affects, late when given less than
the estate's lead time before it starts. Storage and services import these; nothing
here does IO.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, ClassVar

import attrs
from dateutil.rrule import rrule, rrulestr

from propcare.calendar import BusinessCalendar
from propcare.errors import CalendarDataMissing, ValidationError
from propcare.notify.outbox import Event
from propcare.registry.model import EstateId
from propcare.tickets.model import Category, Channel
from propcare.validators import aware, enum_member, non_empty, record_id, text

__all__ = [
    "DEFAULT_LEAD",
    "OUTAGE_EVENT_KEY",
    "HeldBack",
    "NonWorking",
    "Occurrence",
    "Outage",
    "OutageAnnounced",
    "OutageKind",
    "Plan",
    "Schedule",
    "id_list",
    "is_late",
    "occurrence_key",
    "occurrences",
    "parse_rule",
    "runs_every_working_day",
    "working_weekdays",
]

# The OutageAnnounced event of an outage is stored in the outbox under this key.
OUTAGE_EVENT_KEY = "outage:{outage_id}"
DEFAULT_LEAD = timedelta(hours=24)  # DOMAIN.md: water and power cuts at least a day ahead

# Tickets are work for people: a rule that fires every minute is a typo, not a plan.
_TOO_FREQUENT = ("SECONDLY", "MINUTELY")


def parse_rule(rule: Any, dtstart: datetime) -> rrule:
    """The recurrence of ``rule`` (an RRULE such as ``FREQ=MONTHLY;BYMONTHDAY=1``) from
    ``dtstart``; ValidationError naming the rule when it is not one."""
    if not isinstance(rule, str) or not rule.strip():
        raise ValidationError("rule", rule, "give an RRULE such as FREQ=MONTHLY;BYMONTHDAY=1")
    text = rule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[len("RRULE:") :]
    # The start comes from dtstart, and one plan is one rule: a DTSTART, RDATE or EXDATE
    # line inside the text would silently disagree with the stored dtstart.
    if "\n" in text or "DTSTART" in text.upper() or "FREQ=" not in text.upper():
        raise ValidationError(
            "rule", rule, "must be a single RRULE line with FREQ (dtstart is given separately)"
        )
    try:
        parsed = rrulestr(text, dtstart=dtstart)
    except (ValueError, TypeError) as exc:
        raise ValidationError("rule", rule, f"is not a valid RFC 5545 RRULE: {exc}") from None
    if not isinstance(parsed, rrule):  # pragma: no cover - rrulestr gives a set only for sets
        raise ValidationError("rule", rule, "must be one RRULE, not a set")
    if any(f"FREQ={freq}" in text.upper() for freq in _TOO_FREQUENT):
        raise ValidationError("rule", rule, "must repeat at most hourly")
    parts = _rule_parts(text)
    for part, most in (("COUNT", 100_000), ("INTERVAL", 1_000)):
        if part in parts and (not parts[part].isdigit() or int(parts[part]) > most):
            raise ValidationError("rule", rule, f"{part} must be a whole number up to {most:,}")
    return parsed


def occurrences(rule: str, dtstart: datetime, start: datetime, end: datetime) -> list[datetime]:
    """Occurrences of ``rule`` in ``[start, end)``, expanded in ``dtstart``'s zone.

    The rule is expanded in wall-clock time of dtstart's zone (give it the estate's
    ZoneInfo): "09:00 on the 1st" stays 09:00 local.
    """
    if end <= start:
        return []
    found = parse_rule(rule, dtstart).between(start, end, inc=True)
    return [o for o in found if start <= o < end]


def occurrence_key(occurrence: datetime) -> str:
    """The text that identifies an occurrence of a plan (UNIQUE with the plan id).

    UTC, so the key of an instant does not depend on the zone it was computed in.
    """
    return occurrence.astimezone(UTC).isoformat()


# --- following a business calendar --------------------------------------------------------


class NonWorking(enum.StrEnum):
    """What a plan that follows a calendar does with an occurrence on a day with no
    working time (a weekend, a public holiday)."""

    SKIP = "skip"  # drop it; a make-up day gets one if the plan runs every working day
    NEXT_WORKING_DAY = "next_working_day"  # open it on the next working day, same time


@attrs.frozen
class Occurrence:
    """One occurrence of a plan: ``key`` identifies it (:func:`occurrence_key`; the
    rule's own time, so generating again finds it), ``at`` is when its ticket opens
    (``key``, or ``key`` moved to the next working day)."""

    key: datetime
    at: datetime


@attrs.frozen
class HeldBack:
    """An occurrence not generated because the plan's calendar has no holiday data for
    ``year``: whether that day is worked is not known, and a ticket cannot be taken back.
    Generating again once the year's data is configured opens it."""

    plan_id: int
    occurrence: datetime
    calendar: str
    year: int


@attrs.frozen
class Schedule:
    """A plan's occurrences in a period: those due (to open), those held back."""

    due: tuple[Occurrence, ...] = ()
    held: tuple[HeldBack, ...] = ()


_WEEKDAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
# Parts that pick some days of a month or year: such a rule does not run every working day.
_CHOSEN_DAYS = frozenset({"BYMONTH", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYSETPOS", "BYEASTER"})
_TIME_OF_DAY = ("BYHOUR", "BYMINUTE", "BYSECOND", "UNTIL")
# A run of days off longer than this is a data error, not a holiday.
_LONGEST_CLOSURE = 366


def _rule_parts(rule: str) -> dict[str, str]:
    """``"FREQ=WEEKLY;BYDAY=MO,TU"`` -> ``{"FREQ": "WEEKLY", "BYDAY": "MO,TU"}`` (upper case)."""
    text = rule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[len("RRULE:") :]
    parts: dict[str, str] = {}
    for item in text.split(";"):
        key, _, value = item.partition("=")
        if key.strip():
            parts[key.strip().upper()] = value.strip().upper()
    return parts


def working_weekdays(calendar: BusinessCalendar) -> frozenset[int]:
    """The weekdays (0 = Monday) with working windows in a regular week of ``calendar``."""
    return frozenset(i for i, windows in enumerate(calendar.windows) if windows)


def runs_every_working_day(rule: str, dtstart: datetime, calendar: BusinessCalendar) -> bool:
    """Whether ``rule`` fires on every regular working weekday of ``calendar``: such a
    plan also runs on the calendar's make-up working days (调休).

    That is a ``FREQ=DAILY`` or ``FREQ=WEEKLY`` rule with no ``INTERVAL`` above 1, no part
    that picks days of a month or year (``BYMONTH``, ``BYMONTHDAY``, ``BYYEARDAY``,
    ``BYWEEKNO``, ``BYSETPOS``), and weekdays covering every weekday the calendar has
    working windows on: ``FREQ=DAILY`` (every day), or ``BYDAY=MO,TU,WE,TH,FR`` for the
    office calendar. ``BYDAY`` with an ordinal (``1MO``: the first Monday) picks days,
    so it is not; neither is a weekly rule without ``BYDAY`` (dtstart's weekday only)
    unless the calendar works one day a week. ``BYHOUR`` / ``BYMINUTE`` set the times.
    """
    parts = _rule_parts(rule)
    if parts.get("FREQ") not in ("DAILY", "WEEKLY") or _CHOSEN_DAYS & parts.keys():
        return False
    if int(parts.get("INTERVAL", "1")) != 1:
        return False
    if "BYDAY" in parts:
        codes = parts["BYDAY"].split(",")
        if not all(code in _WEEKDAY_CODES for code in codes):
            return False
        days = frozenset(_WEEKDAY_CODES.index(code) for code in codes)
    elif parts["FREQ"] == "DAILY":
        days = frozenset(range(7))
    else:
        days = frozenset({dtstart.weekday()})
    return working_weekdays(calendar) <= days


def _on_makeup_days(
    rule: str, dtstart: datetime, start: datetime, end: datetime, calendar: BusinessCalendar
) -> list[datetime]:
    """Occurrences an every-working-day ``rule`` gets on the calendar's make-up days in
    ``[start, end)``: at the times of day the rule runs, within the rule's span."""
    data = calendar.holidays
    if data is None or not data.days_on or not runs_every_working_day(rule, dtstart, calendar):
        return []
    zone = dtstart.tzinfo
    first, last = start.astimezone(zone).date(), end.astimezone(zone).date()
    days = sorted(d for d in data.days_on if first <= d <= last)
    if not days:
        return []
    # The same rule every day: its times of day (BYHOUR, or dtstart's), from dtstart,
    # until its UNTIL. COUNT belongs to the rule's own days, so it is checked apart.
    parts = _rule_parts(rule)
    daily = ";".join(["FREQ=DAILY", *(f"{k}={parts[k]}" for k in _TIME_OF_DAY if k in parts)])
    every_day = parse_rule(daily, dtstart)
    own = parse_rule(rule, dtstart)
    found: list[datetime] = []
    for day in days:
        midnight = datetime.combine(day, time(), zone)
        for o in every_day.between(midnight, midnight + timedelta(days=1), inc=True):
            if o.date() == day and start <= o < end and own.after(o, inc=True) is not None:
                found.append(o)
    return found


def _working(calendar: BusinessCalendar, day: date) -> bool:
    return bool(calendar.windows_on(day))


def _next_working(calendar: BusinessCalendar, occurrence: datetime) -> datetime:
    """``occurrence``, or the same wall-clock time on the next working day."""
    day = occurrence.date()
    for step in range(_LONGEST_CLOSURE + 1):
        moved = day + timedelta(days=step)
        if _working(calendar, moved):
            if not step:
                return occurrence
            return occurrence.replace(year=moved.year, month=moved.month, day=moved.day)
    raise ValidationError(
        "calendar",
        calendar.name,
        f"has no working day within {_LONGEST_CLOSURE} days after {occurrence.isoformat()}",
    )


def _category(value: Any) -> Category:
    try:
        return Category(value)
    except ValueError:
        allowed = ", ".join(c.value for c in Category)
        raise ValidationError("category", value, f"must be one of: {allowed}") from None


def _non_working(value: Any) -> NonWorking:
    return enum_member(NonWorking, "non_working", value)


def _calendar_name(_inst: Any, _attr: Any, value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ValidationError("calendar", value, "must name a configured calendar, or be None")


@attrs.frozen
class Plan:
    """Preventive maintenance or a patrol that repeats: each occurrence opens a ticket.

    Generated tickets come in on the ``patrol`` channel (巡查: raised by staff
    themselves, not reported by an owner) with the plan's title as their summary.

    ``calendar`` names a business calendar the plan follows; ``None`` (the default)
    runs the rule as written, holidays included. A plan that follows a calendar looks
    each occurrence's local date up in it; on a day with no working time,
    ``non_working`` decides:

    - ``skip`` (the default): the occurrence is dropped, so the plan runs on working
      days only. A make-up working day (调休, a day on in the calendar's holiday data)
      gets an occurrence at the rule's time(s) of day when the plan runs *every working
      day* (:func:`runs_every_working_day`: ``FREQ=DAILY``, or weekdays covering all of
      the calendar's working weekdays such as ``BYDAY=MO,TU,WE,TH,FR`` for ``office``);
      a plan on chosen days (every Monday, the 1st of the month) gets none.
    - ``next_working_day``: the occurrence moves to the next working day at the same
      wall-clock time. It keeps its identity (:func:`occurrence_key` of the rule's
      time), so generating again never duplicates it; every moved occurrence opens its
      own ticket, even when the plan has one that day too.

    An occurrence whose answer needs a year the calendar has no holiday data for is
    held back (:class:`HeldBack`), never guessed. A 24x7 calendar changes nothing; one
    that ignores holidays applies its weekly windows only.
    """

    estate_id: EstateId
    title: str = attrs.field(validator=non_empty("title"))
    rule: str = attrs.field(validator=non_empty("rule", 500))
    dtstart: datetime = attrs.field(validator=aware("dtstart"))
    first_contact_staff_id: int
    category: Category = attrs.field(default=Category.COMMON_REPAIR, converter=_category)
    location: str = attrs.field(
        default="", validator=lambda _i, _a, v: text("location", v, required=False)
    )
    unit_id: int | None = None
    team_id: int | None = None
    calendar: str | None = attrs.field(default=None, validator=_calendar_name)
    non_working: NonWorking = attrs.field(default=NonWorking.SKIP, converter=_non_working)
    active: bool = True
    id: int = 0

    channel: ClassVar[Channel] = Channel.PATROL

    def __attrs_post_init__(self) -> None:
        if self.unit_id is None and not self.location.strip():
            raise ValidationError(
                "location", self.location, "give a unit_id, or a location for common areas"
            )
        parse_rule(self.rule, self.dtstart)

    def occurrences(self, start: datetime, end: datetime, zone: tzinfo) -> list[datetime]:
        """This plan's rule's occurrences in ``[start, end)``, in the estate's ``zone``
        (as written: the calendar is applied by :meth:`schedule`)."""
        return occurrences(self.rule, self.dtstart.astimezone(zone), start, end)

    def schedule(
        self,
        start: datetime,
        end: datetime,
        zone: tzinfo,
        calendar: BusinessCalendar | None = None,
    ) -> Schedule:
        """The occurrences to generate for ``[start, end)``, the plan's calendar applied.

        A period takes the occurrences of the rule (and of make-up days) that fall in
        it; one moved to the next working day opens then, even after ``end``. Give the
        calendar the plan names (``None`` for a plan that follows none).
        """
        found = self.occurrences(start, end, zone)
        if self.calendar is None:
            return Schedule(tuple(Occurrence(o, o) for o in found))
        if calendar is None:
            raise ValidationError(
                "calendar", self.calendar, f"plan {self.id} follows it: give the calendar"
            )
        due: list[Occurrence] = []
        held: list[HeldBack] = []
        if self.non_working is NonWorking.SKIP:
            dtstart = self.dtstart.astimezone(zone)
            extra = _on_makeup_days(self.rule, dtstart, start, end, calendar)
            for o in sorted({*found, *extra}):
                try:
                    if _working(calendar, o.date()):
                        due.append(Occurrence(o, o))
                except CalendarDataMissing as exc:
                    held.append(HeldBack(self.id, o, self.calendar, int(exc.value)))
        else:
            for o in found:
                try:
                    due.append(Occurrence(o, _next_working(calendar, o)))
                except CalendarDataMissing as exc:
                    held.append(HeldBack(self.id, o, self.calendar, int(exc.value)))
        return Schedule(tuple(due), tuple(held))


class OutageKind(enum.StrEnum):
    WATER = "water"  # 停水
    POWER = "power"  # 停电
    GAS = "gas"  # 停气
    OTHER = "other"  # 其它

    @property
    def zh(self) -> str:
        return {"water": "停水", "power": "停电", "gas": "停气", "other": "停用"}[self.value]

    @property
    def en(self) -> str:
        return {"water": "water", "power": "power", "gas": "gas", "other": "service"}[self.value]


def _kind(value: Any) -> OutageKind:
    try:
        return OutageKind(value)
    except ValueError:
        allowed = ", ".join(k.value for k in OutageKind)
        raise ValidationError("kind", value, f"must be one of: {allowed}") from None


def _ids(value: Any) -> tuple[int, ...]:
    return tuple(dict.fromkeys(value))


def is_late(starts_at: datetime, announced_at: datetime, lead: timedelta) -> bool:
    """A notice is late when it leaves owners less than ``lead`` before the cut.

    Exactly ``lead`` ahead is on time: "at least a day before" includes the day.
    """
    return starts_at - announced_at < lead


@attrs.frozen
class Outage:
    """A planned cut and the notices sent for it.

    ``lead`` is the lead time the estate required when it was announced (kept, so a
    later change of configuration does not rewrite history); ``notices`` how many
    owners were notified; ``unreachable`` how many affected owners have no phone.
    """

    estate_id: EstateId
    kind: OutageKind = attrs.field(converter=_kind)
    title: str = attrs.field(validator=non_empty("title"))
    starts_at: datetime = attrs.field(validator=aware("starts_at"))
    ends_at: datetime = attrs.field(validator=aware("ends_at"))
    announced_at: datetime = attrs.field(validator=aware("announced_at"))
    lead: timedelta = DEFAULT_LEAD
    building_ids: tuple[int, ...] = attrs.field(default=(), converter=_ids)
    unit_ids: tuple[int, ...] = attrs.field(default=(), converter=_ids)
    notices: int = 0
    unreachable: int = 0
    announced_by_staff_id: int | None = None
    id: int = 0

    def __attrs_post_init__(self) -> None:
        if self.ends_at <= self.starts_at:
            raise ValidationError(
                "ends_at", self.ends_at, f"must be after starts_at {self.starts_at}"
            )
        if not self.building_ids and not self.unit_ids:
            raise ValidationError(
                "building_ids", self.building_ids, "name at least one building or unit"
            )

    @property
    def late(self) -> bool:
        return is_late(self.starts_at, self.announced_at, self.lead)

    @property
    def notice_given(self) -> timedelta:
        """How long before the cut the owners were told."""
        return self.starts_at - self.announced_at


@attrs.frozen
class OutageAnnounced(Event):
    """A planned outage was announced and its notices queued."""

    topic: ClassVar[str] = "outage.announced"
    outage_id: int
    kind: str
    title: str
    starts_at: str
    ends_at: str
    late: bool
    notices: int
    unreachable: int
    unit_count: int


def _iter_ids(values: Any, field: str) -> Iterator[int]:
    if isinstance(values, str | bytes | Mapping) or not isinstance(values, Iterable):
        raise ValidationError(field, values, "must be a list of integer ids")
    for v in values:
        yield record_id(field, v)


def id_list(values: Any, field: str) -> tuple[int, ...]:
    """A list of ids from the caller, checked and without repeats (order kept)."""
    return tuple(dict.fromkeys(_iter_ids(values, field)))
