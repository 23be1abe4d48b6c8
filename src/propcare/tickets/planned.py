"""Planned work and planned outages: the records and the pure rules behind them.

A maintenance plan (保养计划 / 巡查计划) is an RFC 5545 recurrence rule that opens a
ticket at each occurrence; an outage (计划停水停电) is a cut announced to the owners
it affects, late when given less than the estate's lead time before it starts.
Storage and services import these; nothing here does IO.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, ClassVar

import attrs
from dateutil.rrule import rrule, rrulestr

from propcare.errors import ValidationError
from propcare.notify.outbox import Event
from propcare.registry.model import EstateId
from propcare.tickets.model import Category, Channel
from propcare.validators import aware, non_empty

__all__ = [
    "DEFAULT_LEAD",
    "OUTAGE_EVENT_KEY",
    "Outage",
    "OutageAnnounced",
    "OutageKind",
    "Plan",
    "id_list",
    "is_late",
    "occurrence_key",
    "occurrences",
    "parse_rule",
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


def _category(value: Any) -> Category:
    try:
        return Category(value)
    except ValueError:
        allowed = ", ".join(c.value for c in Category)
        raise ValidationError("category", value, f"must be one of: {allowed}") from None


@attrs.frozen
class Plan:
    """Preventive maintenance or a patrol that repeats: each occurrence opens a ticket.

    Generated tickets come in on the ``patrol`` channel (巡查: raised by staff
    themselves, not reported by an owner) with the plan's title as their summary.
    """

    estate_id: EstateId
    title: str = attrs.field(validator=non_empty("title"))
    rule: str = attrs.field(validator=non_empty("rule", 500))
    dtstart: datetime = attrs.field(validator=aware("dtstart"))
    first_contact_staff_id: int
    category: Category = attrs.field(default=Category.COMMON_REPAIR, converter=_category)
    location: str = ""
    unit_id: int | None = None
    team_id: int | None = None
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
        """This plan's occurrences in ``[start, end)``, in the estate's ``zone``."""
        return occurrences(self.rule, self.dtstart.astimezone(zone), start, end)


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
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValidationError(field, v, "must be an integer id")
        yield v


def id_list(values: Any, field: str) -> tuple[int, ...]:
    """A list of ids from the caller, checked and without repeats (order kept)."""
    return tuple(dict.fromkeys(_iter_ids(values, field)))
