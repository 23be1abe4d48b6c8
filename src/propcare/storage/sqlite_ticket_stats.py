"""SQLite ticket metrics: the monthly statistics as two GROUP BY queries.

One pass over the period's tickets (the ``(estate_id, opened_at)`` index) counts
everything with conditional counts; one pass over their outside work orders
(the partial index of migration 0004) counts dispatches and completions. Both keep
to the tickets of one source (:class:`~propcare.tickets.stats.Source`): the intake
(``channel <> 'patrol' AND plan_id IS NULL``), patrol and plan work, or all.
Timestamps are fixed-width UTC text, so comparing them as text compares times.
The definitions are those of :mod:`propcare.tickets.stats`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from propcare.errors import ValidationError
from propcare.storage.sqlite_values import ts
from propcare.tickets.stats import (
    CATEGORIES,
    CHANNELS,
    GROUP_BY,
    TARGETS,
    Rate,
    Source,
    TicketMetrics,
)
from propcare.validators import enum_member

if TYPE_CHECKING:
    from propcare.storage.sql import SqlSession

__all__ = ["FILTER", "TicketStatsRepo", "column_of", "outside_sql", "tickets_sql"]

# group_by -> the tickets column that holds the group's key.
_COLUMN: Mapping[str, str] = {
    "category": "category",
    "channel": "channel",
    "priority": "priority",
    "team": "assignee_team_id",
    "staff": "assignee_staff_id",
    "first_contact": "first_contact_staff_id",
}
assert set(_COLUMN) == set(GROUP_BY)

# The column that says when each target was met. The callback counts as done only when it is
# the callback that closed the ticket: after a rework the stored callback_at is the earlier
# callback, which says nothing about the new resolution.
_DONE = {
    "response": "responded_at",
    "arrival": "arrived_at",
    "resolution": "resolved_at",
    "callback": "callback_at",
}


def _done(target: str) -> str:
    if target == "callback":
        return "callback_at = closed_at"
    return f"{_DONE[target]} IS NOT NULL"


def _timely(target: str) -> list[str]:
    due, done = f"{target}_due", _DONE[target]
    # A repair fixed (say, by phone guidance) before its arrival deadline needed no visit:
    # its arrival target ended unmet but not missed, like a ticket cancelled in time.
    ended = " AND (resolved_at IS NULL OR arrival_due < resolved_at)" if target == "arrival" else ""
    return [
        # Denominator: a deadline, and either done or past due at as_of (?4) while the
        # ticket was still wanted (a ticket cancelled before its deadline missed nothing).
        # A NULL in a comparison makes the whole condition NULL, which is not counted.
        f"{due} IS NOT NULL AND ({_done(target)} OR ({due} < ?4 "
        f"AND (cancelled_at IS NULL OR {due} < cancelled_at){ended}))",
        f"{_done(target)} AND {done} <= {due}",
    ]


# One count per condition, in the order _metrics reads them.
_CONDITIONS: list[str] = [
    "status = 'closed'",
    "status = 'cancelled'",
    "status NOT IN ('closed', 'cancelled')",
    *(f"category = '{c}'" for c in CATEGORIES),
    *(f"channel = '{c}'" for c in CHANNELS),
    *(condition for target in TARGETS for condition in _timely(target)),
    # rework: reopened / resolved at least once (a reopen clears resolved_at)
    "rework_count > 0",
    "resolved_at IS NOT NULL OR rework_count > 0",
    # callback: called back / needed one and was resolved at least once
    "needs_callback = 1 AND callback_at IS NOT NULL",
    "needs_callback = 1 AND (resolved_at IS NOT NULL OR callback_at IS NOT NULL)",
    # satisfaction: satisfied or basically / rated
    "satisfaction IN ('satisfied', 'basically_satisfied')",
    "satisfaction IS NOT NULL",
    # complaints: resolved or closed / opened and not cancelled
    "category = 'complaint' AND status <> 'cancelled' "
    "AND (resolved_at IS NOT NULL OR status = 'closed')",
    "category = 'complaint' AND status <> 'cancelled'",
    # deadlines waiting for a year's holiday data: provisional / held open
    "provisional > 0",
    "held > 0",
]

# COUNT(*) FILTER (WHERE ...) skips the aggregate step for rows that do not match, where
# SUM(CASE ...) steps on every row for every count: with some forty counts of mostly
# non-matching rows that is about twice as fast. SQLite has FILTER from 3.30 (2019); an
# older library gets the SUM form, which counts the same.
FILTER = sqlite3.sqlite_version_info >= (3, 30, 0)


def _count(condition: str, filtered: bool) -> str:
    return f"COUNT(*) FILTER (WHERE {condition})" if filtered else f"SUM({condition})"


_PERIOD = "estate_id = ?1 AND opened_at >= ?2 AND opened_at < ?3"

# Which tickets each source counts, on a ticket row named ``t.`` (or not, ""): the intake is
# what residents brought (no patrol finding, no plan's ticket; plans open theirs on the
# patrol channel, and plan_id says so whatever the channel).
_SOURCE: Mapping[Source, str] = {
    Source.INTAKE: " AND {t}channel <> 'patrol' AND {t}plan_id IS NULL",
    Source.PATROL: " AND ({t}channel = 'patrol' OR {t}plan_id IS NOT NULL)",
    Source.ALL: "",
}


def tickets_sql(column: str | None, filtered: bool = FILTER, source: Source = Source.INTAKE) -> str:
    """The counts of the period's tickets of ``source``, grouped by ``column`` (None: one
    row)."""
    key = "NULL" if column is None else column
    counts = ", ".join(["COUNT(*)", *(_count(c, filtered) for c in _CONDITIONS)])
    # Without a group there is no GROUP BY, so an empty period still gives its one row.
    grouped = "" if column is None else " GROUP BY grp"
    which = _SOURCE[source].format(t="")
    return f"SELECT {key} AS grp, {counts} FROM tickets WHERE {_PERIOD}{which}{grouped}"


def outside_sql(column: str | None, filtered: bool = FILTER, source: Source = Source.INTAKE) -> str:
    """Outside work orders sent and done for the period's tickets of ``source``, grouped by
    ``column``."""
    key = "NULL" if column is None else f"t.{column}"
    sent, done = (
        _count("e.action = 'dispatch'", filtered),
        _count("e.action = 'outside_done'", filtered),
    )
    # The IN list repeats the partial index's WHERE word for word: that is how SQLite
    # knows it may use the index (migration 0004).
    return (
        f"SELECT {key} AS grp, {sent}, {done} "
        "FROM tickets t JOIN ticket_events e ON e.ticket_id = t.id "
        "WHERE t.estate_id = ?1 AND t.opened_at >= ?2 AND t.opened_at < ?3"
        f"{_SOURCE[source].format(t='t.')} "
        "AND e.action IN ('dispatch', 'outside_done') GROUP BY grp"
    )


def column_of(group_by: str | None) -> str | None:
    return None if group_by is None else _COLUMN[group_by]


# Built once, so the connection's statement cache compiles each once.
_SQL: Mapping[tuple[str | None, Source], tuple[str, str]] = {
    (g, s): (tickets_sql(column_of(g), source=s), outside_sql(column_of(g), source=s))
    for g in (None, *GROUP_BY)
    for s in Source
}

_N_CATEGORIES, _N_CHANNELS = len(CATEGORIES), len(CHANNELS)


def _metrics(row: sqlite3.Row, outside: tuple[int, int], source: Source) -> TicketMetrics:
    # Column 0 is the group; SUM over no rows is NULL, hence "or 0".
    n = [int(v or 0) for v in tuple(row)[1:]]
    opened, closed, cancelled, open_now = n[0:4]
    i = 4
    by_category = dict(zip(CATEGORIES, n[i : i + _N_CATEGORIES], strict=True))
    i += _N_CATEGORIES
    by_channel = dict(zip(CHANNELS, n[i : i + _N_CHANNELS], strict=True))
    i += _N_CHANNELS
    timely: dict[str, Rate] = {}
    for target in TARGETS:
        timely[target] = Rate(n[i + 1], n[i])
        i += 2
    rework, callback, satisfaction, complaints = (Rate(n[j], n[j + 1]) for j in range(i, i + 8, 2))
    provisional, held = n[i + 8], n[i + 9]
    return TicketMetrics(
        group=row[0],
        opened=opened,
        closed=closed,
        cancelled=cancelled,
        open_now=open_now,
        by_category=by_category,
        by_channel=by_channel,
        timely=timely,
        rework=rework,
        callback=callback,
        satisfaction=satisfaction,
        complaint_resolution=complaints,
        outside_dispatched=outside[0],
        outside_completed=outside[1],
        provisional=provisional,
        held=held,
        source=source,
    )


class TicketStatsRepo:
    def __init__(self, uow: SqlSession) -> None:
        self._uow = uow

    def metrics(
        self,
        estate_id: int,
        start: datetime,
        end: datetime,
        as_of: datetime,
        group_by: str | None,
        source: Source | str = Source.INTAKE,
    ) -> list[TicketMetrics]:
        if group_by is not None and group_by not in GROUP_BY:
            raise ValidationError(
                "group_by", group_by, f"must be None or one of: {', '.join(GROUP_BY)}"
            )
        which = enum_member(Source, "source", source)
        tickets_sql, outside_sql = _SQL[(group_by, which)]
        # Numbered parameters: ?1 estate, ?2 start, ?3 end, ?4 as_of (the tickets query only).
        period = (estate_id, ts(start), ts(end))
        outside = {
            r[0]: (int(r[1] or 0), int(r[2] or 0)) for r in self._uow.execute(outside_sql, period)
        }
        return [
            _metrics(row, outside.get(row[0], (0, 0)), which)
            for row in self._uow.execute(tickets_sql, (*period, ts(as_of)))
        ]
