"""Collection (收缴): who collects where, dunning attempts (催缴), quiet hours.

Dunning is reminding, never pressure: propcare has no way to cut a service, and
SMS and posted notices go through the outbox and never leave in quiet hours.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import attrs

from propcare.errors import ValidationError
from propcare.notify.quiet import QuietHours
from propcare.validators import enum_member, valid_date

__all__ = [
    "CollectorAssignment",
    "DunningAttempt",
    "Method",
    "Outcome",
    "QuietHours",
    "collector_on",
]


class Method(enum.StrEnum):
    NOTICE = "notice"  # a posted notice (张贴催缴通知)
    PHONE = "phone"
    SMS = "sms"
    VISIT = "visit"  # door to door, including weekend visits


class Outcome(enum.StrEnum):
    PAID = "paid"
    PROMISED = "promised"  # with a promised date
    REFUSED = "refused"
    NOBODY_HOME = "nobody_home"
    SENT = "sent"  # an SMS or notice went out; no answer yet


def _method(value: Any) -> Method:
    return enum_member(Method, "method", value)


def _outcome(value: Any) -> Outcome:
    return enum_member(Outcome, "outcome", value)


@attrs.frozen
class CollectorAssignment:
    """A collector answers for a building or one unit from ``start`` to ``end`` (inclusive)."""

    estate_id: int
    staff_id: int
    start: date = attrs.field(validator=valid_date("start"))
    building_id: int | None = None
    unit_id: int | None = None
    end: date | None = attrs.field(default=None, validator=valid_date("end", optional=True))
    id: int = 0

    def __attrs_post_init__(self) -> None:
        if (self.building_id is None) == (self.unit_id is None):
            raise ValidationError(
                "assignment", (self.building_id, self.unit_id), "name a building or a unit"
            )
        if self.end is not None and self.end < self.start:
            raise ValidationError("end", self.end, f"must not be before the start {self.start}")

    def covers(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


def collector_on(
    assignments: Iterable[CollectorAssignment], unit_id: int, building_id: int, day: date
) -> int | None:
    """The collector of a unit on ``day``: a unit's own assignment beats its building's;
    among equals the latest start wins."""
    live = [a for a in assignments if a.covers(day)]
    for match in (
        [a for a in live if a.unit_id == unit_id],
        [a for a in live if a.building_id == building_id and a.unit_id is None],
    ):
        if match:
            return max(match, key=lambda a: (a.start, a.id)).staff_id
    return None


@attrs.frozen
class DunningAttempt:
    estate_id: int
    unit_id: int
    method: Method = attrs.field(converter=_method)
    outcome: Outcome = attrs.field(converter=_outcome)
    at: datetime = attrs.field()
    actor: str = ""
    collector_staff_id: int | None = None
    campaign_id: int | None = None
    promised_date: date | None = attrs.field(
        default=None, validator=valid_date("promised_date", optional=True)
    )
    note: str = ""
    id: int = 0

    def __attrs_post_init__(self) -> None:
        if self.outcome is Outcome.PROMISED and self.promised_date is None:
            raise ValidationError("promised_date", None, "a promise to pay names its date")
