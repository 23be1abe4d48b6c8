"""Ticket metrics for the monthly statistics (月统计): counts, timeliness, rework, callbacks.

``app.ticket_stats.metrics(actor, estate_id, start, end)`` counts the tickets
OPENED in ``[start, end)``, for the whole estate or per category, channel,
priority, team or staff member (the assignee now, after the last hand-off) or
first-contact owner (首问负责人). The counting is done by the storage backend in
SQL (one pass over the period's tickets and one over their outside work orders);
no ticket is loaded into Python.

Which tickets, by ``source`` (:class:`Source`), as the front desks' reports count them:
their monthly statistics count what residents brought (接待来电来访共计 N 件, 其中咨询…),
and patrols and planned work are the staff's own, logged apart (巡查、巡检记录):

- ``"intake"`` (the default): calls, visits, online and letter-box requests, the tickets
  on any channel but ``patrol`` that no maintenance plan generated;
- ``"patrol"``: patrol findings (channel ``patrol``) and the tickets plans generate
  (which come in on the patrol channel too);
- ``"all"``: both. A weekly patrol plan thus never inflates the intake or its timeliness:
  each source has its own counts and rates, and the two add up to ``"all"``'s counts.

The definitions, as the front desk reports them (each rate is a :class:`Rate`,
numerator over denominator, never a silent 100% when nothing was counted):

- **opened**: tickets opened in the period; **closed** / **cancelled**: of those, now
  closed / cancelled; **open_now**: of those, still open when asked (received,
  assigned, in progress, paused or resolved awaiting the callback).
- **by_category** / **by_channel**: opened tickets per category / channel, every
  category and channel present (zero when none).
- **timely[target]** (处理及时率) for response, arrival, resolution and callback:
  the denominator is the tickets with a deadline for that target that either
  have been done or whose deadline is before ``as_of`` (and, for a cancelled
  ticket, before it was cancelled: a ticket withdrawn in time missed nothing; for
  the arrival on site, before the ticket was resolved: a repair fixed by phone in time
  needed no visit);
  the numerator is those done by the deadline (done at or before it). Done is
  responded_at, arrived_at, resolved_at (for a reopened ticket the latest
  resolution, against its rework deadline), and for the callback the callback
  that closed the ticket: a reworked ticket that is resolved again is not called
  back until its new callback, whatever an earlier callback said. A ticket paused
  with its clock stopped has no deadline and is not counted for that target.
  ``as_of`` only decides which deadlines have passed; what was done is counted as
  it stands now.
- **rework** (返修率): tickets reopened at least once (rework_count > 0) over tickets
  resolved at least once (resolved now, or reopened, which needs a resolution).
- **callback** (回访率): of the tickets that need a callback (by the category's
  policy; an owner's own rating can waive it) and were resolved at least once,
  those called back at least once.
- **satisfaction** (满意率): satisfied or basically satisfied over tickets with a
  satisfaction recorded (by a callback or by the owner's own rating).
- **complaint_resolution** (投诉处理率): complaints resolved (resolved now or closed)
  over complaints opened, cancelled ones left out.
- **outside_dispatched** / **outside_completed**: work orders sent to outside
  parties (developer, vendor) for these tickets, and those reported done,
  whenever that happened.
- **provisional** / **held**: tickets whose timeliness rests on a deadline computed
  without a year's holiday data (weekly windows alone), and tickets with a deadline
  held open for it (the strict setting; not counted in ``timely`` until it is
  computed). Both fall to zero once the data is added and ``recompute`` has run.
- **source**: which tickets the row counts (above).
"""

from __future__ import annotations

import builtins
import enum
from collections.abc import Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType
from typing import Any

import attrs

from propcare.access import Actor
from propcare.clock import require_instant
from propcare.errors import ValidationError
from propcare.registry.model import EstateId
from propcare.service import Service
from propcare.sla.policy import Target
from propcare.tickets.model import Category, Channel
from propcare.validators import enum_member

__all__ = [
    "CATEGORIES",
    "CHANNELS",
    "GROUP_BY",
    "INTAKE_CHANNELS",
    "TARGETS",
    "Rate",
    "Source",
    "TicketMetrics",
    "TicketStatsService",
    "empty_metrics",
]

# group_by value -> what the rows are grouped by (the storage backend maps it to a column).
GROUP_BY: tuple[str, ...] = ("category", "channel", "priority", "team", "staff", "first_contact")

_FOUR_PLACES = Decimal("0.0001")


class Source(enum.StrEnum):
    """Which tickets the statistics count (see the module docstring)."""

    INTAKE = "intake"  # 来电、来访、线上、意见箱: what residents brought
    PATROL = "patrol"  # 巡查 findings and the tickets of maintenance and patrol plans
    ALL = "all"


def _count(_inst: Any, attribute: Any, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(attribute.name, value, "must be a count (an int >= 0)")


@attrs.frozen
class Rate:
    """``numerator`` of ``denominator``; ``value`` is None when nothing was counted."""

    numerator: int = attrs.field(validator=_count)
    denominator: int = attrs.field(validator=_count)

    def __attrs_post_init__(self) -> None:
        if self.numerator > self.denominator:
            raise ValidationError(
                "numerator", self.numerator, f"cannot exceed the denominator {self.denominator}"
            )

    @property
    def value(self) -> Decimal | None:
        """The rate to 4 places (0.8125 is 81.25%), half up; None for 0 of 0, never 100%."""
        if self.denominator == 0:
            return None
        return (Decimal(self.numerator) / Decimal(self.denominator)).quantize(
            _FOUR_PLACES, rounding=ROUND_HALF_UP
        )


# Read-only views: a frozen result whose mappings could be changed would not be frozen.
def _counts(value: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType(dict(value))


def _rates(value: Mapping[str, Rate]) -> Mapping[str, Rate]:
    return MappingProxyType(dict(value))


@attrs.frozen
class TicketMetrics:
    """The metrics of one group of tickets opened in the period (see the module docstring).

    ``group`` is the group's key: a category, channel or priority value, a team or
    staff id, or None for the whole estate (or for tickets nobody is assigned to).
    """

    group: str | int | None
    opened: int
    closed: int
    cancelled: int
    open_now: int
    by_category: Mapping[str, int] = attrs.field(converter=_counts)
    by_channel: Mapping[str, int] = attrs.field(converter=_counts)
    timely: Mapping[str, Rate] = attrs.field(converter=_rates)
    rework: Rate
    callback: Rate
    satisfaction: Rate
    complaint_resolution: Rate
    outside_dispatched: int
    outside_completed: int
    provisional: int = 0
    held: int = 0
    source: Source = Source.INTAKE


CATEGORIES: tuple[str, ...] = tuple(c.value for c in Category)
CHANNELS: tuple[str, ...] = tuple(c.value for c in Channel)
TARGETS: tuple[str, ...] = tuple(t.value for t in Target)
# The channels of the intake: every one but patrol (巡查), which staff raise themselves.
INTAKE_CHANNELS: tuple[str, ...] = tuple(c for c in CHANNELS if c != Channel.PATROL.value)


class TicketStatsService(Service):
    """``app.ticket_stats``: the monthly statistics of tickets, computed by the storage."""

    def metrics(
        self,
        actor: Actor,
        estate_id: EstateId,
        start: datetime,
        end: datetime,
        *,
        group_by: str | None = None,
        as_of: datetime | None = None,
        source: Source | str = Source.INTAKE,
    ) -> builtins.list[TicketMetrics]:
        """Metrics of the tickets opened in ``[start, end)``, one row per group, by group key.

        ``group_by`` None gives one row for the whole estate (zeros when nothing was
        opened); otherwise one row per group that has tickets, sorted by key, with
        the unassigned (None) group last. ``as_of`` (default: the clock's now)
        decides which unmet deadlines have passed and count as missed. ``source``
        (:class:`Source`: ``"intake"``, the default, ``"patrol"`` or ``"all"``) says which
        tickets are counted. Needs ``ticket.read`` on the estate.
        """
        actor = self._actor(actor)
        start = require_instant("start", start)
        end = require_instant("end", end)
        if end <= start:
            raise ValidationError("end", end, f"must be after start ({start.isoformat()})")
        if group_by is not None and group_by not in GROUP_BY:
            raise ValidationError(
                "group_by", group_by, f"must be None or one of: {', '.join(GROUP_BY)}"
            )
        which = enum_member(Source, "source", source)
        when = self._app.clock.now() if as_of is None else require_instant("as_of", as_of)
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, actor, estate_id, "ticket.read")
            rows = uow.ticket_stats.metrics(estate.id, start, end, when, group_by, which)
        if group_by is None:
            return rows or [empty_metrics(None, which)]
        return sorted(rows, key=_group_order)


def _group_order(row: TicketMetrics) -> tuple[bool, Any]:
    # Keys of one group_by are all str or all int; None (unassigned) sorts after them.
    return (row.group is None, row.group if row.group is not None else 0)


def empty_metrics(group: str | int | None, source: Source = Source.INTAKE) -> TicketMetrics:
    """The metrics of no tickets at all: every count zero, every rate 0 of 0."""
    none = Rate(0, 0)
    return TicketMetrics(
        group=group,
        opened=0,
        closed=0,
        cancelled=0,
        open_now=0,
        by_category=dict.fromkeys(CATEGORIES, 0),
        by_channel=dict.fromkeys(CHANNELS, 0),
        timely=dict.fromkeys(TARGETS, none),
        rework=none,
        callback=none,
        satisfaction=none,
        complaint_resolution=none,
        outside_dispatched=0,
        outside_completed=0,
        source=source,
    )
