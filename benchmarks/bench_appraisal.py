"""Appraising 500 staff for a month from 300,000 tickets and 1,000,000 postings.

Fixture (untimed): one estate (Asia/Shanghai) made through the API: 112 buildings of 108
units (``app.estates.add_units``), 500 staff (100 front desk in 10 teams, 200 technicians
in 20 repair teams, 100 collectors in 5 collection teams, 60 supervisors, 40 finance), the
collectors assigned through ``app.collection.assign_collector`` (a building each, ten of
them a second one, two hand-overs during the month, 30 single units given to another
collector; two buildings nobody collects), a scorecard per role through
``app.appraisal.add_scorecard`` (front desk: satisfaction_rate, timely_response,
timely_resolution, rework_rate (inverse), callback_rate, inspection, training_score;
technician: timely_arrival, timely_resolution, rework_rate, satisfaction_rate,
tickets_handled, inspection, training_score; collector: collection_rate,
arrears_recovered, visit_completion, inspection; supervisor: outage_notices_late
(stepped, lower is better), inspection, training_score; finance: inspection,
training_score), and the month's inputs through the API (three-level inspections with
itemised deductions, training scores, commendations, discipline). Written raw with
``executemany`` (a benchmark fixture, not a lifecycle):
- 300,000 tickets opened in October 2026, ids in opening order, with the columns the
  ticket statistics read: category, channel and priority mix, first-contact clerk,
  assignee (repairs to technicians, the rest to the front desk, some complaints to
  supervisors, some nobody) and the assignee's team, SLA deadlines, response, arrival,
  resolution, callback and closing times with some targets missed, cancellations,
  reworks, satisfaction, tickets still open; their history in ticket_events (open,
  assign, cancel, resolve, callback, outside work orders);
- about 1,000,000 postings: property-fee bills of every unit for 2025-01..2026-10 and the
  payments for them (most on time, some late, some never; a recovery drive collecting
  part of 2025's arrears in October 2026), late-fee bills (which neither query counts) and
  reversed payments, entries in time order, as the ledger writes them (no bill rows, no
  notices: nothing here reads them);
- dunning attempts in September..November (visits, calls, SMS, notices; repeated visits
  to a door on one day) and outages starting in September..November, some announced late.

Timed, with the clock on 2026-11-02:
(a) ``app.appraisal.appraise(actor, estate, "2026-10")`` for the 500 staff, median of 3
    (goal: under 5 s), then ``app.appraisal.close`` once (the same computation plus the
    stored results);
(b) the metric queries alone as appraise runs them, ``builtin_values(context)`` (ticket
    metrics per staff, collection rate and arrears recovery per collector through
    ``app.ticket_stats`` and ``app.arrears``, door visits and late notices through the
    appraisal repository), against five hand-written GROUP BY queries on a raw
    connection to the same file, fetched as tuples: tickets per assignee (only the counts
    appraisal uses, COUNT(*) FILTER, the intake only as appraisal counts it: no patrol, no
    plan tickets), collection per collector and recovery per collector
    (each resolving the unit's collector in SQL: a unit's own assignment beats its
    building's, the latest start wins; recovery driven by the month's journal entries,
    whose postings carry their time), visits per collector, late notices per announcer.
    In turns, the side that goes first rotating each round, median of the ratios of 7
    rounds (goal: at most 2 times); then each family alone, the same way: the service
    call, the storage query under it alone, and the hand-written query.

Checks (not timing): every metric of every appraised staff member equals the hand-written
queries' (ticket rates, counts and praise, collection rate, recovery, visits per working
day, late notices), all 500 are appraised, a few KPI lines of the appraisal show the same
values, and the closed month stores what appraise showed.
"""

from __future__ import annotations

import gc
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rounds import Rounds, alternate

from propcare import Actor, FixedClock, Propcare, UnitSpec
from propcare.appraisal.kpi import Band, Kpi
from propcare.appraisal.metrics import MetricContext, Subject, builtin_values
from propcare.registry.model import EstateId, TeamId
from propcare.storage.sqlite import connect

PERIOD = "2026-10"
SH = ZoneInfo("Asia/Shanghai")
START, END = datetime(2026, 10, 1, tzinfo=SH), datetime(2026, 11, 1, tzinfo=SH)
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=SH)
CLOCK = FixedClock(NOW)
ADMIN = Actor.system()
SEED = 20261101

BUILDINGS, PER_BUILDING = 112, 108  # 12,096 units
COLLECTED = 100  # buildings 0..99 have a collector each; 100..109 a second one; 110, 111 none
FRONT_DESK, TECHS, COLLECTORS, SUPERVISORS, FINANCE = 100, 200, 100, 60, 40
TICKETS = 300_000
BILL_PERIODS = [f"{2025 + i // 12}-{i % 12 + 1:02d}" for i in range(22)]  # 2025-01..2026-10
ATTEMPTS, OUTAGES = 30_000, 400
APPRAISE_ROUNDS, QUERY_ROUNDS = 3, 7

D = Decimal
BANDS = [
    Band("D", D(0), D(60)),
    Band("C", D(60), D(75)),
    Band("B", D(75), D(90)),
    Band("A", D(90), D(100)),
]
PAY = {"A": D("1.5"), "B": D("1.2"), "C": D(1), "D": D(0)}


def _linear(floor: str, target: str) -> dict[str, str]:
    return {"kind": "linear", "floor": floor, "target": target}


INSPECTION = Kpi("inspection", D(15), _linear("60", "100"))
TRAINING = Kpi("training_score", D(10), {"kind": "threshold", "target": "80"}, no_data=D(50))
REWORK = {"kind": "inverse", "target": "0.03", "floor": "0.10"}
CARDS: dict[str, list[Kpi]] = {
    "front_desk": [
        Kpi("satisfaction_rate", D(25), _linear("0.80", "0.98")),
        Kpi("timely_response", D(15), _linear("0.70", "0.95")),
        Kpi("timely_resolution", D(15), _linear("0.50", "0.90")),
        Kpi("rework_rate", D(10), REWORK),
        Kpi("callback_rate", D(10), _linear("0.80", "1")),
        INSPECTION,
        TRAINING,
    ],
    "technician": [
        Kpi("timely_arrival", D(15), _linear("0.50", "0.85")),
        Kpi("timely_resolution", D(20), _linear("0.50", "0.90")),
        Kpi("rework_rate", D(15), REWORK),
        Kpi("satisfaction_rate", D(20), _linear("0.80", "0.98")),
        Kpi("tickets_handled", D(10), _linear("300", "550")),
        Kpi("inspection", D(10), _linear("60", "100")),
        TRAINING,
    ],
    "collector": [
        Kpi("collection_rate", D(40), _linear("0.50", "0.85")),
        Kpi("arrears_recovered", D(20), _linear("0", "8000")),
        Kpi("visit_completion", D(20), _linear("0", "6")),
        Kpi("inspection", D(20), _linear("60", "100")),
    ],
    "supervisor": [
        Kpi(
            "outage_notices_late",
            D(30),
            {
                "kind": "stepped",
                "lower_is_better": True,
                "steps": [["3", "40"], ["1", "80"], ["0", "100"]],
            },
        ),
        Kpi("inspection", D(40), _linear("60", "100")),
        Kpi("training_score", D(30), {"kind": "threshold", "target": "80"}),
    ],
    "finance": [
        Kpi("inspection", D(60), _linear("60", "100")),
        Kpi("training_score", D(40), {"kind": "threshold", "target": "80"}),
    ],
}

# --- fast timestamps --------------------------------------------------------------------

_DAYS: dict[int, str] = {}
_CLOCK_TEXT = [f"{m // 60:02d}:{m % 60:02d}:" for m in range(24 * 60)]
_SECONDS = [f"{s:02d}.000000+00:00" for s in range(60)]


def _ts(epoch: int | None) -> str | None:
    """The fixed-width UTC text propcare stores (storage.sqlite.ts), for whole seconds,
    put together from pieces made once (formatting millions of datetimes is slow)."""
    if epoch is None:
        return None
    day, second = divmod(epoch, 86400)
    head = _DAYS.get(day)
    if head is None:
        head = _DAYS[day] = datetime.fromtimestamp(day * 86400, UTC).strftime("%Y-%m-%dT")
    return head + _CLOCK_TEXT[second // 60] + _SECONDS[second % 60]


def _epoch(at: datetime) -> int:
    return int(at.timestamp())


# --- the fixture ------------------------------------------------------------------------


class World:
    """What the API made: ids the raw rows and the checks need."""

    estate: EstateId
    buildings: list[int]
    units: list[int]  # in building order
    unit_building: dict[int, int]
    fd_teams: list[TeamId]
    front_desk: list[int]
    techs: list[int]
    collectors: list[int]
    supervisors: list[int]
    finance: list[int]
    team_of: dict[int, int | None]
    collector_of_building: dict[int, int]  # building -> collector at the start of October
    counts: dict[str, int]

    @property
    def staff(self) -> list[int]:
        return self.front_desk + self.techs + self.collectors + self.supervisors + self.finance


def _people(app: Propcare, rng: random.Random) -> World:
    """The estate, units, staff, teams, collectors, scorecards and inputs, through the API."""
    w = World()
    w.estate = app.estates.create(ADMIN, "绩效基准苑").id
    w.buildings, w.units, w.unit_building = [], [], {}
    for b in range(BUILDINGS):
        building = app.estates.add_building(ADMIN, w.estate, f"{b + 1}栋").id
        w.buildings.append(building)
        specs = [
            UnitSpec(
                f"{i // 4 + 1:02d}{i % 4 + 1:02d}",
                D(f"{60 + (b * 31 + i * 7) % 90}.50"),
                "residential",
                date(2018, 1, 1),
            )
            for i in range(PER_BUILDING)
        ]
        for unit in app.estates.add_units(ADMIN, building, specs):
            w.units.append(unit.id)
            w.unit_building[unit.id] = building
    hired = date(2020, 1, 1)
    w.team_of = {}

    def hire(role: str, n: int, name: str, teams: list[TeamId] | None) -> list[int]:
        out: list[int] = []
        for i in range(n):
            team = teams[i % len(teams)] if teams else None
            s = app.staff.create(ADMIN, w.estate, f"{name}{i + 1}", [role], hired, team).id
            w.team_of[s] = team
            out.append(s)
        return out

    def teams(kind: str, n: int, name: str) -> list[TeamId]:
        return [
            app.staff.create_team(ADMIN, w.estate, f"{name}{i + 1}组", kind).id for i in range(n)
        ]

    w.fd_teams = teams("front_desk", 10, "客服")
    w.front_desk = hire("front_desk", FRONT_DESK, "客服", w.fd_teams)
    w.techs = hire("technician", TECHS, "师傅", teams("repair", 20, "维修"))
    w.collectors = hire("collector", COLLECTORS, "收费员", teams("collection", 5, "收费"))
    w.supervisors = hire("supervisor", SUPERVISORS, "主管", None)
    w.finance = hire("finance", FINANCE, "财务", None)

    assign = app.collection.assign_collector
    w.collector_of_building = {}
    for b, bid in enumerate(w.buildings[:COLLECTED]):
        c = w.collectors[b]
        end = date(2026, 10, 15) if b == 5 else None  # building 5 handed over on the 16th
        assign(ADMIN, w.estate, c, start=date(2020, 1, 1), building_id=bid, end=end)
        w.collector_of_building[bid] = c
    for b, bid in enumerate(w.buildings[COLLECTED : COLLECTED + 10]):
        assign(ADMIN, w.estate, w.collectors[b], start=date(2021, 3, 1), building_id=bid)
        w.collector_of_building[bid] = w.collectors[b]
    # Hand-overs during the month: building 5 ends and 6's collector takes it; building 7's
    # collector is superseded by a later start (the latest start wins).
    assign(ADMIN, w.estate, w.collectors[6], start=date(2026, 10, 16), building_id=w.buildings[5])
    assign(ADMIN, w.estate, w.collectors[8], start=date(2026, 10, 20), building_id=w.buildings[7])
    for i in range(30):  # a unit's own assignment beats its building's
        own = w.units[i * PER_BUILDING + 3]
        assign(ADMIN, w.estate, w.collectors[(i + 50) % COLLECTORS], start=date(2026, 1, 1),
               unit_id=own)  # fmt: skip

    for role, kpis in CARDS.items():
        app.appraisal.add_scorecard(
            ADMIN,
            w.estate,
            role,
            effective_from=date(2026, 1, 1),
            kpis=kpis,
            bands=BANDS,
            multipliers=PAY,
            base_bonus=D(1000),
            praise_points=D("0.05") if role == "front_desk" else D(0),
        )

    a, inputs = app.appraisal, 0
    for s in w.staff:
        level = "team_leader" if w.team_of[s] is not None else "supervisor"
        items = [
            (why, D(rng.randint(1, 5)))
            for why in rng.sample(
                ["着装不规范", "台面不洁", "记录不全", "工具未归位", "迟到"], rng.randint(0, 2)
            )
        ]
        a.record_inspection(ADMIN, PERIOD, level, staff_id=s, deductions=items)
        inputs += 1
        if rng.random() < 0.4:
            a.record_inspection(
                ADMIN,
                PERIOD,
                "area_steward",
                staff_id=s,
                deductions=[("区域检查扣分", D(rng.randint(1, 8)))],
            )
            inputs += 1
        if rng.random() < 0.6:
            a.record_training(ADMIN, s, PERIOD, D(rng.randint(55, 100)))
            inputs += 1
    for s in rng.sample(w.staff, 20):
        a.record_commendation(ADMIN, s, PERIOD, D(2), "业主来信表扬")
        a.record_discipline(ADMIN, rng.choice(w.staff), PERIOD, D(3), "值班脱岗")
        inputs += 2
    w.counts = {"inputs": inputs}
    return w


# Tickets: the mix of DOMAIN.md, as in bench_ticket_metrics.
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
    "id, estate_id, category, channel, priority, status, unit_id, first_contact_staff_id, "
    "assignee_staff_id, assignee_team_id, opened_at, responded_at, arrived_at, resolved_at, "
    "closed_at, cancelled_at, callback_at, satisfaction, rework_count, needs_callback, "
    "response_due, arrival_due, resolution_due, callback_due, policy, last_seq, state"
)
# The history the rows imply, made by SQLite itself, each action in its own seq slot.
EVENTS = """
INSERT INTO ticket_events (ticket_id, seq, action, at, actor, staff_id, data)
SELECT ticket_id, seq, action, at, 'system', NULL, '{}' FROM (
    SELECT id AS ticket_id, 1 AS seq, 'open' AS action, opened_at AS at FROM tickets
    UNION ALL SELECT id, 2, 'assign', responded_at FROM tickets WHERE responded_at IS NOT NULL
    UNION ALL SELECT id, 5, 'cancel', cancelled_at FROM tickets WHERE cancelled_at IS NOT NULL
    UNION ALL SELECT id, 6, 'resolve', resolved_at FROM tickets WHERE resolved_at IS NOT NULL
    UNION ALL SELECT id, 7, 'callback', callback_at FROM tickets WHERE callback_at IS NOT NULL
) ORDER BY ticket_id, seq
"""


def _population(mix: dict[str, int]) -> list[str]:
    return [k for k, w in mix.items() for _ in range(w)]


def _tickets(w: World, rng: random.Random) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The month's ticket rows and their outside work orders (ticket_events rows)."""
    categories, channels = _population(CATEGORY_MIX), _population(CHANNEL_MIX)
    priorities = _population(PRIORITY_MIX)
    repair_teams = sorted({w.team_of[t] for t in w.techs})  # type: ignore[type-var]
    now = _epoch(NOW)
    first, last = _epoch(START), _epoch(END)
    opened_times = sorted(rng.randrange(first, last) for _ in range(TICKETS))
    minute, hour = 60, 3600
    rows: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []

    def after(start: int, mean: float) -> int:
        return start + int(rng.expovariate(1 / mean))

    def done(at: int | None) -> int | None:  # nothing is done after the clock's now
        return at if at is not None and at <= now else None

    for tid, opened in enumerate(opened_times, start=1):
        category, channel, priority = (
            rng.choice(categories),
            rng.choice(channels),
            rng.choice(priorities),
        )
        repair, urgent = category in REPAIRS, priority != "normal"
        status = "closed"
        staff = team = responded = arrived = resolved = closed = cancelled = callback = None
        satisfaction: str | None = None
        rework = 0
        needs_callback = category in NEEDS_CALLBACK
        response_due = opened + (10 if urgent else 15 if repair else 30) * minute
        arrival_due = opened + (1 if urgent else 2) * hour if repair else None
        resolution_due: int | None = opened + rng.choice((8, 16, 24, 40)) * hour
        callback_due: int | None = None
        responded = done(after(opened, 12 * minute))
        if rng.random() < 0.03 or responded is None:
            status, responded = "received", None
        else:
            r = rng.random()
            if repair:
                staff = rng.choice(w.techs) if r < 0.9 else None
                team = w.team_of[staff] if staff else rng.choice(repair_teams)
                if rng.random() < 0.9:
                    arrived = done(after(responded, 70 * minute))
            elif category == "complaint" and r < 0.2:
                staff = rng.choice(w.supervisors)
            else:
                staff = rng.choice(w.front_desk) if r < 0.85 else None
                team = w.team_of[staff] if staff else rng.choice(w.fd_teams)
            if rng.random() < 0.03:
                status, cancelled = "cancelled", done(after(responded, hour))
                if cancelled is None:
                    status = "assigned"
            elif rng.random() < 0.04:
                status = rng.choice(("assigned", "in_progress", "paused"))
                if status == "paused":
                    resolution_due = None  # the clock is stopped
            else:
                if rng.random() < 0.04:
                    events.append((tid, 3, "dispatch", _ts(responded + 5 * minute)))
                    if rng.random() < 0.35 and responded + 20 * hour <= now:
                        events.append((tid, 4, "outside_done", _ts(responded + 20 * hour)))
                resolved = done(after(responded, 12 * hour))
                if resolved is not None and rng.random() < 0.06:  # rework (返修)
                    rework, reopened = 1, after(resolved, 6 * hour)
                    resolution_due = reopened + 8 * hour
                    resolved = done(after(reopened, 10 * hour))
                if resolved is None:
                    status = "in_progress"
                elif needs_callback:
                    callback_due = resolved + 16 * hour
                    callback = closed = done(after(resolved, 10 * hour))
                    if callback is None or rng.random() < 0.08:
                        status, callback, closed = "resolved", None, None  # still to call
                    else:
                        satisfaction = rng.choice(SATISFACTION)
                else:
                    closed = resolved
        rows.append((
            tid, w.estate, category, channel, priority, status, None, rng.choice(w.front_desk),
            staff, team, _ts(opened), _ts(responded), _ts(arrived), _ts(resolved), _ts(closed),
            _ts(cancelled), _ts(callback), satisfaction, rework, int(needs_callback),
            _ts(response_due), _ts(arrival_due), _ts(resolution_due), _ts(callback_due),
            "default", 7, "{}",
        ))  # fmt: skip
    return rows, events


def _ledger(w: World, rng: random.Random) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Journal entries and postings, in time order: bills of every unit for BILL_PERIODS,
    payments by each owner's habit, a recovery drive in October, late fees, reversals."""
    now, month = _epoch(NOW), (_epoch(START), _epoch(END))
    day = 86400
    # (at, order, kind, unit, fee item, period, fen, reverses: index of the entry or None)
    plan: list[tuple[int, int, str, int, str, str, int, int | None]] = []
    october_payments: list[int] = []

    def add(
        at: int, kind: str, unit: int, item: str, period: str, fen: int, reverses: int | None = None
    ) -> int:
        plan.append((at, len(plan), kind, unit, item, period, fen, reverses))
        return len(plan) - 1

    starts = {p: _epoch(datetime(int(p[:4]), int(p[5:]), 1, tzinfo=SH)) for p in BILL_PERIODS}
    for unit in w.units:
        fen = 15_000 + unit * 37 % 22_500
        habit = rng.random()  # most pay on time, some late, a few hardly ever
        for period in BILL_PERIODS:
            billed = starts[period]
            add(billed, "bill", unit, "property_fee", period, fen)
            delay: int | None
            if habit < 0.7:
                delay = rng.randrange(28 * day) if rng.random() < 0.95 else rng.randrange(120 * day)
            elif habit < 0.9:
                delay = rng.randrange(180 * day) if rng.random() < 0.85 else None
            else:
                delay = rng.randrange(365 * day) if rng.random() < 0.3 else None
            paid = None if delay is None else billed + delay + rng.randrange(8, 20) * 3600
            if (paid is None or paid > now) and period < "2026" and rng.random() < 0.15:
                paid = rng.randrange(*month)  # the recovery drive of October
            if paid is not None and paid <= now:
                i = add(paid, "payment", unit, "property_fee", period, fen)
                if month[0] <= paid < month[1]:
                    october_payments.append(i)
    for unit in rng.sample(w.units, 1_500):  # late fees: neither query counts them
        add(_epoch(datetime(2026, 10, 15, tzinfo=SH)), "late_fee", unit, "late_fee", PERIOD, 800)
        if rng.random() < 0.3:
            add(
                rng.randrange(_epoch(datetime(2026, 10, 16, tzinfo=SH)), month[1]),
                "payment",
                unit,
                "late_fee",
                PERIOD,
                800,
            )
    for i in rng.sample(october_payments, 300):  # payments reversed a few days later
        at, _, _, unit, item, period, fen, _ = plan[i]
        add(min(at + rng.randrange(3600, 5 * day), now), "reversal", unit, item, period, fen, i)
    plan.sort()
    entries: list[tuple[Any, ...]] = []
    postings: list[tuple[Any, ...]] = []
    entry_id: dict[int, int] = {}
    accounts = (("cash", ""), ("gateway", "wechat"), ("bank", ""))
    for eid, (at, index, kind, unit, item, period, fen, reverses) in enumerate(plan, start=1):
        entry_id[index] = eid
        when = _ts(at)
        if kind == "reversal":
            assert reverses is not None
            original = entry_id[reverses]
            entries.append((eid, "reversal", when, f"reversal:{original}", original))
            postings.append((eid, "receivable", "", unit, item, period, fen, when))
            account, sub = accounts[original % 3]
            postings.append((eid, account, sub, None, None, None, -fen, when))
            continue
        entries.append((eid, kind, when, f"{kind}:{index}", None))
        if kind == "payment":
            account, sub = accounts[eid % 3]
            postings.append((eid, account, sub, None, None, None, fen, when))
            postings.append((eid, "receivable", "", unit, item, period, -fen, when))
        else:  # a bill or a late fee
            postings.append((eid, "receivable", "", unit, item, period, fen, when))
            revenue = ("revenue", item) if kind == "bill" else ("late_fee_revenue", "")
            postings.append((eid, *revenue, None, None, None, -fen, when))
    return entries, postings


def _collection_and_outages(
    w: World, rng: random.Random
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Dunning attempts (September..November) and outages starting then."""
    first, last = _epoch(datetime(2026, 9, 1, tzinfo=SH)), _epoch(NOW)
    methods = ["visit"] * 55 + ["phone"] * 25 + ["sms"] * 12 + ["notice"] * 8
    outcomes = {
        "visit": ("nobody_home", "promised", "refused", "paid"),
        "phone": ("promised", "refused", "paid"),
        "sms": ("sent",),
        "notice": ("sent",),
    }
    attempts = []
    for _ in range(ATTEMPTS):
        unit = rng.choice(w.units)
        method = rng.choice(methods)
        collector = w.collector_of_building.get(w.unit_building[unit])
        if method == "sms" and rng.random() < 0.5:
            collector = None  # sent by the system
        day = rng.randrange(first, last) // 86400 * 86400
        at = day + rng.randrange(0, 12 * 3600)  # 08:00..20:00 local is 00:00..12:00 UTC
        row = (
            w.estate,
            None,
            unit,
            collector,
            method,
            rng.choice(outcomes[method]),
            _ts(at),
            None,
            "",
            "bench",
        )
        attempts.append(row)
        if method == "visit" and rng.random() < 0.1:  # nobody home: back in the evening
            attempts.append((*row[:6], _ts(at + 3 * 3600), *row[7:]))
    attempts.sort(key=lambda r: str(r[6]))
    outages = []
    lead = 24 * 3600
    announcers = w.supervisors * 4 + w.front_desk[:30]
    for i in range(OUTAGES):
        starts = rng.randrange(
            _epoch(datetime(2026, 9, 1, tzinfo=SH)), _epoch(datetime(2026, 12, 1, tzinfo=SH))
        )
        late = rng.random() < 0.25
        announced = starts - (rng.randrange(2 * 3600, lead) if late else lead + 3600 * i % 7)
        by = rng.choice(announcers) if rng.random() < 0.9 else None
        building = rng.choice(w.buildings)
        outages.append((
            w.estate, rng.choice(("water", "power", "gas", "other")), f"计划停用{i + 1}",
            _ts(starts), _ts(starts + 4 * 3600), _ts(announced), lead, int(late),
            f"[{building}]", "[]", PER_BUILDING, by, 0,
        ))  # fmt: skip
    return attempts, outages


def build(path: Path) -> World:
    rng = random.Random(SEED)
    app = Propcare.open(f"sqlite:///{path}", load_entrypoints=False, clock=CLOCK)
    w = _people(app, rng)
    app.close()
    gc.disable()  # millions of new tuples and nothing to collect
    try:
        tickets, outside = _tickets(w, rng)
        entries, postings = _ledger(w, rng)
        attempts, outages = _collection_and_outages(w, rng)
    finally:
        gc.enable()
    # A plain connection without foreign-key checks: the rows are right by construction.
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        f"INSERT INTO tickets ({TICKET_COLUMNS}) VALUES ({', '.join('?' * 27)})", tickets
    )
    conn.executemany(
        "INSERT INTO ticket_events (ticket_id, seq, action, at, actor, staff_id, data) "
        "VALUES (?, ?, ?, ?, 'system', NULL, '{}')",
        outside,
    )
    conn.execute(EVENTS)
    conn.executemany(
        "INSERT INTO journal_entries (id, estate_id, kind, at, idem_key, actor, reverses) "
        f"VALUES (?, {w.estate}, ?, ?, ?, 'bench', ?)",
        entries,
    )
    conn.executemany(
        "INSERT INTO postings (entry_id, estate_id, account, sub, unit_id, fee_item, period, "
        f"amount_fen, at) VALUES (?, {w.estate}, ?, ?, ?, ?, ?, ?, ?)",
        postings,
    )
    conn.executemany(
        "INSERT INTO dunning_attempts (estate_id, campaign_id, unit_id, collector_staff_id, "
        "method, outcome, at, promised_date, note, actor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        attempts,
    )
    conn.executemany(
        "INSERT INTO outages (estate_id, kind, title, starts_at, ends_at, announced_at, "
        "lead_seconds, late, building_ids, unit_ids, notices, announced_by_staff_id, "
        "unreachable) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        outages,
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    events = conn.execute("SELECT COUNT(*) FROM ticket_events").fetchone()[0]
    conn.close()
    w.counts.update(
        tickets=len(tickets),
        events=events,
        entries=len(entries),
        postings=len(postings),
        attempts=len(attempts),
        outages=len(outages),
    )
    return w


# --- the hand-written queries -----------------------------------------------------------


def _n(condition: str) -> str:
    # The form propcare's ticket statistics use; SUM(CASE ...) is slower in SQLite and
    # would flatter propcare (issue 17).
    return f"COUNT(*) FILTER (WHERE {condition})"


def _missed(due: str) -> str:
    """Past due at as_of while still wanted (a repair fixed before its arrival deadline
    needed no visit)."""
    visit = " AND (resolved_at IS NULL OR arrival_due < resolved_at)" if "arrival" in due else ""
    return f"({due} < :as_of AND (cancelled_at IS NULL OR {due} < cancelled_at){visit})"


_COMPLAINT = "category = 'complaint' AND status <> 'cancelled'"
# Tickets per assignee: only the counts appraisal uses, CASE by CASE: opened, praise, then
# (denominator, numerator) of the four timeliness rates, and (numerator, denominator) of
# rework, callback, satisfaction and complaint resolution.
_COUNTS = [
    "COUNT(*)",
    _n("category = 'praise'"),
    *(
        c
        for target, done in (
            ("response", "responded_at"),
            ("arrival", "arrived_at"),
            ("resolution", "resolved_at"),
        )
        for c in (
            _n(f"{target}_due IS NOT NULL AND ({done} IS NOT NULL OR {_missed(target + '_due')})"),
            _n(f"{done} IS NOT NULL AND {target}_due IS NOT NULL AND {done} <= {target}_due"),
        )
    ),
    _n(f"callback_due IS NOT NULL AND (callback_at = closed_at OR {_missed('callback_due')})"),
    _n("callback_at = closed_at AND callback_at <= callback_due"),
    _n("rework_count > 0"),
    _n("resolved_at IS NOT NULL OR rework_count > 0"),
    _n("needs_callback = 1 AND callback_at IS NOT NULL"),
    _n("needs_callback = 1 AND (resolved_at IS NOT NULL OR callback_at IS NOT NULL)"),
    _n("satisfaction IN ('satisfied', 'basically_satisfied')"),
    _n("satisfaction IS NOT NULL"),
    _n(f"{_COMPLAINT} AND (resolved_at IS NOT NULL OR status = 'closed')"),
    _n(_COMPLAINT),
]
TICKETS_SQL = f"""
SELECT assignee_staff_id, {", ".join(_COUNTS)}
FROM tickets WHERE estate_id = :estate AND opened_at >= :start AND opened_at < :end
  AND channel <> 'patrol' AND plan_id IS NULL
GROUP BY assignee_staff_id
"""

# Each unit's collector on :day: its own assignment, else its building's; the latest start
# (then the latest id) among those in force. SQLite takes the bare staff_id from the MAX row.
COLLECTOR = """
WITH live AS (
    SELECT id, staff_id, building_id, unit_id, start_date || printf('%010d', id) AS rank
    FROM collector_assignments WHERE estate_id = :estate AND start_date <= :day
    AND (end_date IS NULL OR end_date >= :day)
), by_unit AS (
    SELECT unit_id, staff_id, MAX(rank) FROM live WHERE unit_id IS NOT NULL GROUP BY unit_id
), by_building AS (
    SELECT building_id, staff_id, MAX(rank) FROM live WHERE unit_id IS NULL GROUP BY building_id
), collector AS (
    SELECT u.id AS unit_id, COALESCE(x.staff_id, b.staff_id) AS staff_id FROM units u
    LEFT JOIN by_unit x ON x.unit_id = u.id LEFT JOIN by_building b ON b.building_id = u.building_id
    WHERE u.estate_id = :estate
)"""
KIND = "COALESCE(o.kind, e.kind)"
COLLECTING = "('payment', 'credit_applied', 'compensation', 'refund')"
REVERSED = "LEFT JOIN journal_entries o ON e.kind = 'reversal' AND o.id = e.reverses"
# Billed and collected for the period's bills as of :as_of, per unit, then per collector.
COLLECTION_SQL = f"""{COLLECTOR}
SELECT c.staff_id, SUM(x.billed), SUM(x.collected) FROM (
    SELECT p.unit_id, SUM(CASE WHEN {KIND} = 'bill' THEN p.amount_fen ELSE 0 END) AS billed,
        -SUM(CASE WHEN {KIND} IN {COLLECTING} THEN p.amount_fen ELSE 0 END) AS collected
    FROM postings p JOIN journal_entries e ON e.id = p.entry_id {REVERSED}
    WHERE p.estate_id = :estate AND p.account = 'receivable' AND p.fee_item <> 'late_fee'
    AND p.period = :period AND p.at <= :as_of GROUP BY p.unit_id
) x LEFT JOIN collector c ON c.unit_id = x.unit_id GROUP BY c.staff_id
"""
# Collected in the month for bills of earlier years, per collector (on the month's first
# day). Driven by the month's entries (journal_by_estate): a posting carries its entry's time.
RECOVERY_SQL = f"""{COLLECTOR}
SELECT c.staff_id, -SUM(CASE WHEN {KIND} IN {COLLECTING} THEN p.amount_fen ELSE 0 END)
FROM journal_entries e JOIN postings p ON p.entry_id = e.id {REVERSED}
LEFT JOIN collector c ON c.unit_id = p.unit_id
WHERE e.estate_id = :estate AND e.at >= :start AND e.at < :end AND p.account = 'receivable'
AND p.fee_item <> 'late_fee' AND p.period < :year
GROUP BY c.staff_id
"""
VISITS_SQL = """
SELECT collector_staff_id, COUNT(*) FROM (
    SELECT DISTINCT collector_staff_id, unit_id, date(at, :offset) FROM dunning_attempts
    WHERE estate_id = :estate AND at >= :start AND at < :end AND method = 'visit'
    AND collector_staff_id IS NOT NULL
) GROUP BY collector_staff_id
"""
LATE_SQL = """
SELECT announced_by_staff_id, COUNT(*) FROM outages WHERE estate_id = :estate
AND starts_at >= :start AND starts_at < :end AND late = 1 AND announced_by_staff_id IS NOT NULL
GROUP BY announced_by_staff_id
"""
FAMILIES = {
    "tickets": TICKETS_SQL,
    "collection": COLLECTION_SQL,
    "recovery": RECOVERY_SQL,
    "visits": VISITS_SQL,
    "late notices": LATE_SQL,
}


def _params(estate: int, as_of: datetime) -> dict[str, Any]:
    hours = int((START.utcoffset() or timedelta()).total_seconds() // 60)
    return {
        "estate": estate,
        "start": _ts(_epoch(START)),
        "end": _ts(_epoch(END)),
        "as_of": _ts(_epoch(as_of)),
        "period": PERIOD,
        "year": f"{START.year}-01",
        "offset": f"{hours:+d} minutes",
    }


def hand(
    conn: sqlite3.Connection, params: dict[str, Any], family: str | None = None
) -> dict[str, list[tuple[Any, ...]]]:
    """The hand-written queries (or one family), fetched as tuples, in one read transaction.
    The collector is resolved on the as_of day for the collection rate and on the month's
    first day for recovery, as app.arrears does."""
    as_of_day = datetime.fromisoformat(params["as_of"]).astimezone(SH).date().isoformat()
    days = {"collection": as_of_day, "recovery": START.date().isoformat()}
    out = {}
    conn.execute("BEGIN")
    try:
        for name, sql in FAMILIES.items():
            if family is None or family == name:
                day = {"day": days[name]} if name in days else {}
                out[name] = conn.execute(sql, {**params, **day}).fetchall()
    finally:
        conn.execute("ROLLBACK")
    return out


def _rate(numerator: int, denominator: int) -> Decimal | None:
    if not denominator:
        return None
    return (D(numerator) / D(denominator)).quantize(D("0.0001"), rounding="ROUND_HALF_UP")


def hand_values(
    rows: dict[str, list[tuple[Any, ...]]], staff: list[int], working_days: int
) -> dict[Subject, dict[str, Decimal | None]]:
    """The hand-written rows as builtin_values gives them, per appraised staff member."""
    out: dict[Subject, dict[str, Decimal | None]] = {("staff", s): {} for s in staff}
    for sid, opened, praise, *n in rows["tickets"]:
        values = out.get(("staff", sid))
        if values is None:
            continue
        n = [v or 0 for v in n]
        for i, target in enumerate(("response", "arrival", "resolution", "callback")):
            values[f"timely_{target}"] = _rate(n[2 * i + 1], n[2 * i])
        for i, metric in enumerate(
            ("rework_rate", "callback_rate", "satisfaction_rate", "complaint_resolution_rate")
        ):
            values[metric] = _rate(n[8 + 2 * i], n[9 + 2 * i])
        values["tickets_handled"], values["_praise"] = D(opened), D(praise or 0)
    for values in out.values():
        values.setdefault("tickets_handled", D(0))
    for sid, billed, collected in rows["collection"]:
        if ("staff", sid) in out:
            out[("staff", sid)]["collection_rate"] = _rate_of(billed, collected)
    for sid, fen in rows["recovery"]:
        if ("staff", sid) in out:
            out[("staff", sid)]["arrears_recovered"] = D(fen) / 100
    visits = dict(rows["visits"])
    late = dict(rows["late notices"])
    for (_kind, sid), values in out.items():
        values["visit_completion"] = (D(visits.get(sid, 0)) / working_days).quantize(D("0.01"))
        values["outage_notices_late"] = D(late.get(sid, 0))
    return out


def _rate_of(billed: int, collected: int) -> Decimal | None:
    if not billed:
        return None
    return (D(collected) / D(billed)).quantize(D("0.0001"), rounding="ROUND_HALF_UP")


def context(app: Propcare, estate: EstateId) -> MetricContext:
    """The metric context appraise builds for the month (AppraisalService._compute): the
    staff active in the month whose role has a scorecard, the office calendar's days."""
    first, last = START.date(), END.date() - timedelta(days=1)
    with app.unit_of_work(readonly=True) as uow:
        staff = uow.staff.in_estate(estate)
    subjects = tuple(
        ("staff", s.id)
        for s in staff
        if not (s.active_from > last or (s.active_to is not None and s.active_to < first))
        and any(r in CARDS for r in s.roles)
    )
    calendar = app.calendars["office"]
    days = frozenset(
        d
        for d in (first + timedelta(days=i) for i in range((last - first).days + 1))
        if calendar.windows_on(d)
    )
    return MetricContext(
        app, ADMIN, estate, PERIOD, START, END, min(END, app.clock.now()), subjects, days
    )


# --- timing -------------------------------------------------------------------------------


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _families(
    app: Propcare, ctx: MetricContext
) -> dict[str, tuple[Callable[[], Any], Callable[[], Any] | None]]:
    """Each metric family as builtin_values calls it, and the storage query under it alone
    (None where the call is the query: visits and late notices)."""
    estate = EstateId(ctx.estate_id)
    offset = int((START.utcoffset() or timedelta()).total_seconds() // 60)

    def read(query: Callable[[Any], Any]) -> Callable[[], Any]:
        def run() -> Any:
            with app.unit_of_work(readonly=True) as uow:
                return query(uow)

        return run

    return {
        "tickets": (
            lambda: app.ticket_stats.metrics(
                ADMIN, estate, START, END, group_by="staff", as_of=ctx.as_of
            ),
            read(lambda u: u.ticket_stats.metrics(estate, START, END, ctx.as_of, "staff")),
        ),
        "collection": (
            lambda: app.arrears.collection_rate(
                ADMIN, estate, PERIOD, group_by="collector", as_of=ctx.as_of
            ),
            read(lambda u: u.arrears.billed_and_collected(estate, PERIOD, PERIOD, ctx.as_of)),
        ),
        "recovery": (
            lambda: app.arrears.recovery(ADMIN, estate, START, END, group_by="collector"),
            read(lambda u: u.arrears.recovered_before(estate, f"{START.year}-01", START, END)),
        ),
        "visits": (read(lambda u: u.appraisal.visit_days(estate, START, END, offset)), None),
        "late notices": (read(lambda u: u.appraisal.late_notices(estate, START, END)), None),
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "appraisal.db"
        began = time.perf_counter()
        w = build(path)
        c = w.counts
        print(
            f"fixture: {len(w.staff)} staff, {len(w.units):,} units, {c['tickets']:,} tickets "
            f"({c['events']:,} events), {c['entries']:,} entries with {c['postings']:,} "
            f"postings, {c['attempts']:,} dunning attempts, {c['outages']} outages, "
            f"{c['inputs']:,} inputs in {time.perf_counter() - began:.1f} s"
        )
        app = Propcare.open(f"sqlite:///{path}", load_entrypoints=False, clock=CLOCK)
        conn = connect(str(path))
        conn.row_factory = None
        try:
            _measure(app, conn, w)
        finally:
            conn.close()
            app.close()


def _measure(app: Propcare, conn: sqlite3.Connection, w: World) -> None:
    ctx = context(app, w.estate)
    params = _params(w.estate, ctx.as_of)
    staff = [sid for _kind, sid in ctx.subjects]
    # Correctness first (and warm pages and statement caches for both sides).
    ours = builtin_values(ctx)
    theirs = hand_values(hand(conn, params), staff, len(ctx.working_days))
    for subject in ctx.subjects:
        if ours[subject] != theirs[subject]:
            diff = {
                k: (ours[subject].get(k), theirs[subject].get(k))
                for k in ours[subject].keys() | theirs[subject].keys()
                if ours[subject].get(k) != theirs[subject].get(k)
            }
            raise AssertionError(f"{subject}: builtin_values and the SQL disagree: {diff}")
    assert len(ctx.subjects) == len(w.staff) == 500, len(ctx.subjects)
    with_rate = sum(1 for v in ours.values() if v.get("collection_rate") is not None)
    assert with_rate == COLLECTORS, with_rate  # every collector has bills this month
    assert sum(1 for v in ours.values() if v.get("arrears_recovered")) >= COLLECTORS - 5
    assert sum(1 for v in ours.values() if v.get("outage_notices_late")) >= 10

    # (a) appraise, and close once.
    appraise_times = []
    for _ in range(APPRAISE_ROUNDS):
        took, appraisal = _timed(lambda: app.appraisal.appraise(ADMIN, w.estate, PERIOD))
        appraise_times.append(took)
    results = {r.subject_id: r for r in appraisal.results}
    assert set(results) == set(w.staff), len(results)
    for sid, metric in (
        (w.front_desk[0], "satisfaction_rate"),
        (w.techs[0], "timely_arrival"),
        (w.collectors[5], "collection_rate"),
        (w.collectors[6], "arrears_recovered"),
        (w.collectors[7], "visit_completion"),
        (w.supervisors[0], "outage_notices_late"),
    ):
        (line,) = [x for x in results[sid].score.lines if x.metric == metric]
        assert line.value == theirs[("staff", sid)][metric], (sid, metric, line)
    scored = sum(1 for r in appraisal.results if r.total is not None)
    grades: dict[str | None, int] = {}
    for r in appraisal.results:
        grades[r.grade] = grades.get(r.grade, 0) + 1

    # (b) the metric queries: builtin_values against the hand-written SQL, alternated; then
    # each family alone.
    # Each side once a round, in turns, the side that goes first rotating; the garbage
    # collected (untimed) before each.
    total = alternate(
        [("builtin_values", lambda: builtin_values(ctx)), ("hand", lambda: hand(conn, params))],
        QUERY_ROUNDS,
        setup=_collect,
    )
    per_family: dict[str, Rounds] = {}
    for name, (service, storage) in _families(app, ctx).items():
        sides: list[tuple[str, Callable[[], Any]]] = [("call", service)]
        if storage is not None:
            sides.append(("query", storage))
        sides.append(("hand", lambda n=name: hand(conn, params, n)))  # type: ignore[misc]
        per_family[name] = alternate(sides, QUERY_ROUNDS, setup=_collect)

    close_took, closed = _timed(lambda: app.appraisal.close(ADMIN, w.estate, PERIOD))
    assert closed.closed and closed.results == appraisal.results
    stored_took, stored = _timed(lambda: app.appraisal.appraise(ADMIN, w.estate, PERIOD))
    assert stored.closed and stored.results == appraisal.results

    a = statistics.median(appraise_times)
    print(
        f"appraise {PERIOD}: {len(results)} staff ({scored} scored; grades "
        f"{', '.join(f'{g}: {n}' for g, n in sorted(grades.items(), key=str))}): "
        f"{a * 1000:,.0f} ms (goal < 5,000 ms; rounds "
        f"{', '.join(f'{t * 1000:,.0f}' for t in appraise_times)})"
    )
    print(
        f"           close {PERIOD} (the same computation, results stored): "
        f"{close_took * 1000:,.0f} ms; appraise of the closed month: {stored_took * 1000:,.0f} ms"
    )
    print(
        f"metric queries: builtin_values {total.median(0) * 1000:,.0f} ms, five hand-written "
        f"GROUP BY queries {total.median(1) * 1000:,.0f} ms: ratio {total.ratio(0, 1):.2f}x, "
        f"median of {QUERY_ROUNDS} alternated rounds (goal <= 2x; rounds {total.spread(0, 1)})"
    )
    print(
        f"           per family, median of {QUERY_ROUNDS} alternated rounds: the call as "
        "builtin_values makes it | the storage query under it alone | hand-written SQL: "
        "ratio call / hand-written (median of the rounds' ratios; rounds)"
    )
    for name, r in per_family.items():
        last = len(r.names) - 1
        sql = "   (the same)" if last == 1 else f"{r.median(1) * 1000:9,.1f} ms"
        print(
            f"           {name:<12} {r.median(0) * 1000:9,.1f} ms | {sql} | "
            f"{r.median(last) * 1000:9,.1f} ms: {r.ratio(0, last):.2f}x ({r.spread(0, last)})"
        )


def _collect(_round: int, _side: int) -> None:
    gc.collect()


if __name__ == "__main__":
    main()
