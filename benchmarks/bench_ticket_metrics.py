"""Monthly ticket metrics (月统计) over 300,000 tickets against a hand-written SQL GROUP BY.

Fixture: one SQLite file with two large estates, each with clerks, technicians and
teams made through the app, and 300,000 tickets over 2025 written straight into the
tickets table with one raw ``executemany`` (a benchmark fixture, not a lifecycle: the
folded-state JSON is a small constant), with realistic columns: the category and
channel mix of DOMAIN.md, priorities, first-contact clerks, assignees,
response/arrival/resolution/callback times and deadlines with some targets missed,
cancellations, reworks, satisfaction, tickets still open, and their history in
ticket_events (open, assign, resolve, callback, and outside work orders). Ids follow
the time of opening, as in a live system.

Measured in the same run, in turns (the side that goes first rotating each round),
15 rounds, for one estate and one month (about 12,400 tickets), after one warm-up call
each; each ratio is the median of the rounds' ratios:
- propcare: ``app.ticket_stats.metrics(actor, estate, start, end, group_by=...)`` for
  group_by None, "category" and "staff" (a transaction, the estate and permission
  check, two queries, the result objects);
- the baseline of the goal: a hand-written ``SELECT ... COUNT(*) FILTER (WHERE ...) ...
  GROUP BY`` over the same tables computing the same counts, the form propcare's SQL
  uses, on a raw sqlite3 connection, rows as tuples: the ratio is the cost of the
  layers above the SQL. Both count the intake (the default source since issue 16:
  calls, visits, online and letter box; patrol findings and plan tickets are counted
  apart), so the hand-written WHERE has ``channel <> 'patrol' AND plan_id IS NULL`` too;
- for reference, the same hand-written query with ``SUM(CASE WHEN ... THEN 1 ELSE 0
  END)``, which SQLite runs more slowly: this benchmark's headline baseline until issue
  17, which flattered propcare.
All three answers are compared: they must be equal. Goal: propcare at most 2 times the
hand-written SQL.
"""

from __future__ import annotations

import gc
import random
import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rounds import Rounds, alternate

from propcare import Actor, Propcare
from propcare.registry.model import EstateId
from propcare.storage.sqlite import connect
from propcare.tickets.stats import CATEGORIES, CHANNELS, TARGETS, TicketMetrics

TICKETS = 300_000
ESTATES = 2
CLERKS, TECHS, TEAMS = 12, 30, 4
ROUNDS = 15
SEED = 20250301
SH = ZoneInfo("Asia/Shanghai")
YEAR_START = datetime(2025, 1, 1, tzinfo=SH)
MONTH = (datetime(2025, 6, 1, tzinfo=SH), datetime(2025, 7, 1, tzinfo=SH))
AS_OF = datetime(2025, 12, 31, 18, 0, tzinfo=SH)
GROUPS = (None, "category", "staff")

CATEGORY_MIX = {
    "consultation": 30,
    "suggestion": 5,
    "complaint": 8,
    "common_repair": 12,
    "home_repair": 25,
    "other_service": 15,
    "praise": 5,
}
CHANNEL_MIX = {"phone": 55, "visit": 20, "online": 15, "patrol": 7, "letter_box": 3}
PRIORITY_MIX = {"normal": 90, "urgent": 8, "emergency": 2}
NEEDS_CALLBACK = {"complaint", "common_repair", "home_repair", "suggestion", "other_service"}
REPAIRS = {"common_repair", "home_repair"}
SATISFACTION = ("satisfied",) * 7 + ("basically_satisfied",) * 2 + ("dissatisfied",)

TICKET_COLUMNS = (
    "estate_id, category, channel, priority, status, unit_id, first_contact_staff_id, "
    "assignee_staff_id, assignee_team_id, opened_at, responded_at, arrived_at, resolved_at, "
    "closed_at, cancelled_at, callback_at, satisfaction, rework_count, needs_callback, "
    "response_due, arrival_due, resolution_due, callback_due, policy, last_seq, state"
)


_DAYS: dict[int, str] = {}
_CLOCK = [f"{m // 60:02d}:{m % 60:02d}:" for m in range(24 * 60)]
_SECONDS = [f"{s:02d}.000000+00:00" for s in range(60)]


def _ts(epoch: int | None) -> str | None:
    """The fixed-width UTC text propcare stores (storage.sqlite.ts), for whole seconds.

    Formatting a datetime costs microseconds and the fixture needs millions of these:
    the text is put together from the day's, the minute's and the second's, each made once.
    """
    if epoch is None:
        return None
    day, second = divmod(epoch, 86400)
    head = _DAYS.get(day)
    if head is None:
        head = _DAYS[day] = datetime.fromtimestamp(day * 86400, UTC).strftime("%Y-%m-%dT")
    return head + _CLOCK[second // 60] + _SECONDS[second % 60]


def _pick(rng: random.Random, mix: dict[str, int]) -> Callable[[], str]:
    population = [k for k, w in mix.items() for _ in range(w)]
    return lambda: rng.choice(population)


class People:
    """The staff and teams of one estate, made through the app."""

    def __init__(self, app: Propcare, name: str) -> None:
        admin = Actor.system()
        self.estate_id = app.estates.create(admin, name).id
        hired = date(2024, 1, 1)
        self.teams = [
            app.staff.create_team(admin, self.estate_id, f"班组{i}", "repair").id
            for i in range(TEAMS)
        ]
        self.clerks = [
            app.staff.create(admin, self.estate_id, f"客服{i}", ["front_desk"], hired).id
            for i in range(CLERKS)
        ]
        self.techs = [
            app.staff.create(
                admin, self.estate_id, f"师傅{i}", ["technician"], hired, self.teams[i % TEAMS]
            ).id
            for i in range(TECHS)
        ]


def _ticket(
    rng: random.Random, people: People, pick: dict[str, Callable[[], str]], opened: int
) -> tuple[tuple[Any, ...], list[tuple[int, str, int]]]:
    """One ticket row and its outside work orders as (seq, action, at), times in seconds.

    The other events (open, assign, cancel, resolve, callback) are made from the rows
    in SQL afterwards, each in its own seq slot (see ``_EVENTS``).
    """
    category, channel, priority = pick["category"](), pick["channel"](), pick["priority"]()
    repair, urgent = category in REPAIRS, priority != "normal"
    minute, hour = 60, 3600

    def after(start: int, mean: float) -> int:
        return start + int(rng.expovariate(1 / mean))

    outside: list[tuple[int, str, int]] = []
    status = "closed"
    staff = team = responded = arrived = resolved = closed = cancelled = callback = None
    satisfaction: str | None = None
    rework = 0
    needs_callback = category in NEEDS_CALLBACK
    response_due = opened + (10 if urgent else 15 if repair else 30) * minute
    arrival_due = opened + (1 if urgent else 2) * hour if repair else None
    resolution_due: int | None = opened + rng.choice((8, 16, 24, 40)) * hour
    callback_due: int | None = None
    if rng.random() < 0.03:
        status = "received"
    else:
        responded = after(opened, 12 * minute)  # most in time, some late
        staff = rng.choice(people.techs) if rng.random() < 0.85 else None
        team = rng.choice(people.teams) if rng.random() < 0.5 else None
        if repair and rng.random() < 0.9:
            arrived = after(responded, 70 * minute)
        if rng.random() < 0.03:
            status, cancelled = "cancelled", after(responded, hour)
        elif rng.random() < 0.05:
            status = rng.choice(("assigned", "in_progress", "paused"))
            if status == "paused":
                resolution_due = None  # the clock is stopped
        else:
            if rng.random() < 0.04:
                outside.append((3, "dispatch", responded + 5 * minute))
                if rng.random() < 0.35:  # a report: 86 slips sent, 28 completed
                    outside.append((4, "outside_done", responded + 20 * hour))
            resolved = after(responded, 12 * hour)
            if rng.random() < 0.06:  # the callback found it not fixed: rework (返修)
                rework, reopened = 1, after(resolved, 6 * hour)
                resolution_due = reopened + 8 * hour
                resolved = after(reopened, 10 * hour)
            if needs_callback:
                callback_due = resolved + 16 * hour
                if rng.random() < 0.1:
                    status = "resolved"  # the callback is still to do
                else:
                    callback = closed = after(resolved, 10 * hour)
                    satisfaction = rng.choice(SATISFACTION)
            else:
                closed = resolved
    row = (
        people.estate_id,
        category,
        channel,
        priority,
        status,
        None,
        rng.choice(people.clerks),
        staff,
        team,
        _ts(opened),
        _ts(responded),
        _ts(arrived),
        _ts(resolved),
        _ts(closed),
        _ts(cancelled),
        _ts(callback),
        satisfaction,
        rework,
        int(needs_callback),
        _ts(response_due),
        _ts(arrival_due),
        _ts(resolution_due),
        _ts(callback_due),
        "default",
        7,  # the last seq slot of _EVENTS
        "{}",
    )
    return row, outside


# The history the rows imply, made by SQLite itself: a million rows bound one by one from
# Python would take longer than the tickets. Each action has its own seq slot.
_EVENTS = """
INSERT INTO ticket_events (ticket_id, seq, action, at, actor, staff_id, data)
SELECT ticket_id, seq, action, at, 'system', NULL, '{}' FROM (
    SELECT id AS ticket_id, 1 AS seq, 'open' AS action, opened_at AS at FROM tickets
    UNION ALL SELECT id, 2, 'assign', responded_at FROM tickets WHERE responded_at IS NOT NULL
    UNION ALL SELECT id, 5, 'cancel', cancelled_at FROM tickets WHERE cancelled_at IS NOT NULL
    UNION ALL SELECT id, 6, 'resolve', resolved_at FROM tickets WHERE resolved_at IS NOT NULL
    UNION ALL SELECT id, 7, 'callback', callback_at FROM tickets WHERE callback_at IS NOT NULL
) ORDER BY ticket_id, seq
"""


def build(path: Path) -> list[EstateId]:
    """The fixture database; returns the estate ids."""
    app = Propcare.open(f"sqlite:///{path}", load_entrypoints=False)
    estates = [People(app, f"基准小区{i}") for i in range(ESTATES)]
    app.close()
    rng = random.Random(SEED)
    pick = {
        "category": _pick(rng, CATEGORY_MIX),
        "channel": _pick(rng, CHANNEL_MIX),
        "priority": _pick(rng, PRIORITY_MIX),
    }
    # Ids follow the time of opening, as they do in a live system.
    first, last = int(YEAR_START.timestamp()), int(datetime(2026, 1, 1, tzinfo=SH).timestamp())
    opened = sorted(rng.randrange(first, last) for _ in range(TICKETS))
    rows: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []  # the outside work orders only
    # Millions of new tuples and nothing to collect: the cyclic collector would only
    # walk them again and again (it tripled the build time).
    gc.disable()
    try:
        for ticket_id, at in enumerate(opened, start=1):
            row, orders = _ticket(rng, estates[ticket_id % ESTATES], pick, at)
            rows.append((ticket_id, *row))
            events.extend(
                (ticket_id, seq, action, _ts(when), "system", None, "{}")
                for seq, action, when in orders
            )
    finally:
        gc.enable()
    # A plain connection without foreign-key checks or a WAL: the rows are right by
    # construction, and the app turns the WAL back on when it opens the file.
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        f"INSERT INTO tickets (id, {TICKET_COLUMNS}) VALUES ({', '.join(['?'] * 27)})", rows
    )
    conn.executemany("INSERT INTO ticket_events VALUES (?, ?, ?, ?, ?, ?, ?)", events)
    conn.execute(_EVENTS)
    conn.execute("COMMIT")
    conn.close()
    return [e.estate_id for e in estates]


# --- the hand-written baseline ----------------------------------------------------------


def _baseline_sql(column: str | None, filtered: bool) -> tuple[str, str]:
    """What one would write by hand: the same counts, CASE by CASE (or FILTER by FILTER)."""
    key = "NULL" if column is None else column

    def n(cond: str) -> str:
        if filtered:
            return f"COUNT(*) FILTER (WHERE {cond})"
        return f"SUM(CASE WHEN {cond} THEN 1 ELSE 0 END)"

    def missed(due: str) -> str:
        # A repair resolved before its arrival deadline needed no visit: nothing missed.
        visit = (
            " AND (resolved_at IS NULL OR arrival_due < resolved_at)" if "arrival" in due else ""
        )
        return f"({due} < :as_of AND (cancelled_at IS NULL OR {due} < cancelled_at){visit})"

    cols = ["COUNT(*)", n("status = 'closed'"), n("status = 'cancelled'")]
    cols.append(n("status IN ('received','assigned','in_progress','paused','resolved')"))
    cols += [n(f"category = '{c}'") for c in CATEGORIES]
    cols += [n(f"channel = '{c}'") for c in CHANNELS]
    for target, done in (
        ("response", "responded_at"),
        ("arrival", "arrived_at"),
        ("resolution", "resolved_at"),
    ):
        due = f"{target}_due"
        cols.append(n(f"{due} IS NOT NULL AND ({done} IS NOT NULL OR {missed(due)})"))
        cols.append(n(f"{done} IS NOT NULL AND {due} IS NOT NULL AND {done} <= {due}"))
    cols.append(
        n(f"callback_due IS NOT NULL AND (callback_at = closed_at OR {missed('callback_due')})")
    )
    cols.append(n("callback_at = closed_at AND callback_at <= callback_due"))
    cols += [
        n("rework_count > 0"),
        n("resolved_at IS NOT NULL OR rework_count > 0"),
        n("needs_callback = 1 AND callback_at IS NOT NULL"),
        n("needs_callback = 1 AND (resolved_at IS NOT NULL OR callback_at IS NOT NULL)"),
        n("satisfaction IN ('satisfied', 'basically_satisfied')"),
        n("satisfaction IS NOT NULL"),
        n(
            "category = 'complaint' AND status <> 'cancelled' "
            "AND (resolved_at IS NOT NULL OR status = 'closed')"
        ),
        n("category = 'complaint' AND status <> 'cancelled'"),
    ]
    intake = "channel <> 'patrol' AND plan_id IS NULL"  # the default source: the intake
    where = f"estate_id = :estate AND opened_at >= :start AND opened_at < :end AND {intake}"
    group = "" if column is None else " GROUP BY 1"
    tickets = f"SELECT {key}, {', '.join(cols)} FROM tickets WHERE {where}{group}"
    outside = (
        f"SELECT {'NULL' if column is None else 't.' + column}, "
        f"{n(SENT)}, {n(DONE)} "
        "FROM tickets t JOIN ticket_events e ON e.ticket_id = t.id "
        "WHERE t.estate_id = :estate AND t.opened_at >= :start AND t.opened_at < :end "
        "AND t.channel <> 'patrol' AND t.plan_id IS NULL "
        "AND e.action IN ('dispatch', 'outside_done') GROUP BY 1"
    )
    return tickets, outside


SENT, DONE = "e.action = 'dispatch'", "e.action = 'outside_done'"
BASELINE_COLUMN = {None: None, "category": "category", "staff": "assignee_staff_id"}


def baseline(
    conn: sqlite3.Connection, estate_id: int, group_by: str | None, filtered: bool = False
) -> dict[Any, tuple[int, ...]]:
    tickets_sql, outside_sql = _baseline_sql(BASELINE_COLUMN[group_by], filtered)
    params = {
        "estate": estate_id,
        "start": _ts(int(MONTH[0].timestamp())),
        "end": _ts(int(MONTH[1].timestamp())),
        "as_of": _ts(int(AS_OF.timestamp())),
    }
    conn.execute("BEGIN")
    try:
        outside = {r[0]: (r[1], r[2]) for r in conn.execute(outside_sql, params)}
        return {
            r[0]: (*(v or 0 for v in r[1:]), *outside.get(r[0], (0, 0)))
            for r in conn.execute(tickets_sql, params)
        }
    finally:
        conn.execute("ROLLBACK")


def flat(m: TicketMetrics) -> tuple[int, ...]:
    """A propcare row in the baseline's column order."""
    timely = [n for t in TARGETS for n in (m.timely[t].denominator, m.timely[t].numerator)]
    rates = (m.rework, m.callback, m.satisfaction, m.complaint_resolution)
    return (
        m.opened,
        m.closed,
        m.cancelled,
        m.open_now,
        *(m.by_category[c] for c in CATEGORIES),
        *(m.by_channel[c] for c in CHANNELS),
        *timely,
        *(n for r in rates for n in (r.numerator, r.denominator)),
        m.outside_dispatched,
        m.outside_completed,
    )


def _rounds(*sides: tuple[str, Callable[[], object]]) -> Rounds:
    """Each side timed once a round, in turns, the side that goes first rotating."""
    for _, fn in sides:
        fn()  # warm: statement caches and pages
    return alternate(sides, ROUNDS)


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "metrics.db"
        began = time.perf_counter()
        estates = build(path)
        print(f"fixture: {TICKETS:,} tickets in {time.perf_counter() - began:.1f} s")
        app = Propcare.open(f"sqlite:///{path}", load_entrypoints=False)
        conn = connect(str(path))
        admin, estate = Actor.system(), estates[0]
        try:
            for group_by in GROUPS:

                def ours(g: str | None = group_by) -> list[TicketMetrics]:
                    return app.ticket_stats.metrics(admin, estate, *MONTH, group_by=g, as_of=AS_OF)

                def by_case(g: str | None = group_by) -> dict[Any, tuple[int, ...]]:
                    return baseline(conn, estate, g)

                def by_filter(g: str | None = group_by) -> dict[Any, tuple[int, ...]]:
                    return baseline(conn, estate, g, filtered=True)

                got = {m.group: flat(m) for m in ours()}
                if not got == by_case() == by_filter():
                    raise AssertionError(f"group_by={group_by}: propcare and the SQL disagree")
                opened = sum(m.opened for m in ours())
                r = _rounds(("propcare", ours), ("filter", by_filter), ("case", by_case))
                print(
                    f"metrics group_by={group_by}: {opened:,} tickets in {len(got)} rows; "
                    f"propcare {r.median(0) * 1000:.1f} ms, hand-written COUNT FILTER "
                    f"{r.median(1) * 1000:.1f} ms: ratio {r.ratio(0, 1):.2f}x (rounds "
                    f"{r.spread(0, 1)}; goal <= 2x); hand-written SUM(CASE) "
                    f"{r.median(2) * 1000:.1f} ms: ratio {r.ratio(0, 2):.2f}x"
                )
        finally:
            conn.close()
            app.close()


if __name__ == "__main__":
    main()
