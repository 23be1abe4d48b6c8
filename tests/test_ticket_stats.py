"""Ticket metrics (月统计): the SQL in the storage equals a plain count over the same tickets."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from propcare import Actor, FixedClock, NotFound, PermissionDenied, Propcare, ValidationError
from propcare.errors import PropcareError
from propcare.registry.model import EstateId
from propcare.sla.policy import Target
from propcare.storage.sqlite import ts
from propcare.storage.sqlite_ticket_stats import column_of, outside_sql, tickets_sql
from propcare.tickets.model import REPAIRS, Action, CallbackPolicy, Category, Status
from propcare.tickets.record import Ticket
from propcare.tickets.stats import GROUP_BY, Rate, Source, TicketMetrics

SH = ZoneInfo("Asia/Shanghai")
MON = datetime(2026, 11, 2, 9, 0, tzinfo=SH)  # a Monday
OCTOBER = (datetime(2026, 10, 1, tzinfo=SH), datetime(2026, 11, 1, tzinfo=SH))
ADMIN = Actor.system()


@attrs.define
class Estate:
    """One estate with its people, and the tickets opened in it."""

    id: EstateId
    units: Sequence[int]
    clerks: Sequence[int]
    techs: Sequence[int]
    teams: Sequence[int]
    tickets: list[int] = attrs.Factory(list)
    planned: set[int] = attrs.Factory(set)  # the tickets maintenance plans generated


def _estate(app: Propcare, name: str) -> Estate:
    estate = app.estates.create(ADMIN, name)
    building = app.estates.add_building(ADMIN, estate.id, "1栋")
    units = [app.estates.add_unit(ADMIN, building.id, f"1-{n}", Decimal(90)).id for n in range(4)]
    teams = [
        app.staff.create_team(ADMIN, estate.id, "维修组", "repair").id,
        app.staff.create_team(ADMIN, estate.id, "客服组", "front_desk").id,
    ]
    since = date(2024, 1, 1)
    clerks = [
        app.staff.create(ADMIN, estate.id, f"客服{n}", ["front_desk"], since, teams[1]).id
        for n in range(3)
    ]
    techs = [
        app.staff.create(ADMIN, estate.id, f"师傅{n}", ["technician"], since, teams[0]).id
        for n in range(4)
    ]
    return Estate(estate.id, units, clerks, techs, teams)


@pytest.fixture
def app() -> Iterator[Propcare]:
    with Propcare.open(
        "sqlite://:memory:", load_entrypoints=False, clock=FixedClock(MON)
    ) as opened:
        yield opened


# --- a random estate, worked through the public services --------------------------------

# Delays between steps, in minutes: most within the targets, some far past them.
DELAYS = (1, 3, 8, 12, 20, 40, 90, 150, 300, 600, 1500, 2900)


def _life(app: Propcare, e: Estate, rng: random.Random, at: datetime) -> None:
    """Open one ticket at ``at`` and take it a random way through its lifecycle."""
    category = rng.choice(list(Category))
    repair = category in REPAIRS
    opened = app.tickets.open(
        ADMIN,
        e.id,
        category=category,
        channel=rng.choice(["phone", "phone", "visit", "online", "patrol", "letter_box"]),
        priority=rng.choice(["normal"] * 6 + ["urgent", "emergency"]),
        summary="随机工单",
        first_contact_staff_id=rng.choice(e.clerks),
        unit_id=rng.choice(e.units) if rng.random() < 0.7 else None,
        location="大堂",
        at=at,
    )
    e.tickets.append(opened.id)
    tid = opened.id

    def step() -> datetime:
        nonlocal at
        at += timedelta(minutes=rng.choice(DELAYS))
        return at

    tickets = app.tickets
    if rng.random() < 0.07:
        return  # nobody has touched it yet
    if rng.random() < 0.07:
        tickets.cancel(ADMIN, tid, "业主撤回", at=step())
        return
    for attempt in range(3):  # the first resolution, then up to two reworks
        if rng.random() < 0.85:
            who = rng.random()
            tickets.assign(
                ADMIN,
                tid,
                staff_id=rng.choice(e.techs) if who < 0.7 else None,
                team_id=rng.choice(e.teams) if who > 0.4 else None,
                at=step(),
            )
            if repair and rng.random() < 0.8:
                tickets.arrive(ADMIN, tid, at=step())
            if rng.random() < 0.2:
                tickets.pause(ADMIN, tid, "等待配件", at=step())
                if rng.random() < 0.2:
                    return  # still paused: its clock is stopped
                tickets.resume(ADMIN, tid, at=step())
            if rng.random() < 0.12:
                tickets.dispatch(ADMIN, tid, "开发商工程部", promised="2026-12-01", at=step())
                if rng.random() < 0.6:
                    tickets.outside_done(ADMIN, tid, at=step())
            if attempt > 0 and rng.random() < 0.1:
                tickets.cancel(ADMIN, tid, "业主放弃返修", at=step())
                return
        if rng.random() < 0.12:
            return  # still being worked on
        state = tickets.resolve(ADMIN, tid, at=step()).state
        if state.status is Status.CLOSED:
            return  # nothing to call back about (consultations, praise)
        if rng.random() < 0.3:
            rating = rng.choice(["satisfied", "dissatisfied"])
            state = tickets.rate(ADMIN, tid, rating, at=step()).state
        if not state.needs_callback:
            if rng.random() < 0.7:
                tickets.close(ADMIN, tid, at=step())
            elif rng.random() < 0.5:
                # Called back although the owner's rating waived it.
                tickets.callback(ADMIN, tid, satisfaction="satisfied", at=step())
            return
        if rng.random() < 0.15:
            return  # resolved, the callback still to do
        fixed = rng.random() < 0.75
        satisfaction = rng.choice(["satisfied", "basically_satisfied", "dissatisfied"])
        tickets.callback(ADMIN, tid, satisfaction=satisfaction, fixed=fixed, at=step())
        if fixed:
            return
        if rng.random() < 0.1:
            return  # reopened, nobody has picked it up again


def _populate(app: Propcare, e: Estate, seed: int, n: int) -> None:
    rng = random.Random(seed)
    first = datetime(2026, 9, 20, 0, 0, tzinfo=SH)
    for _ in range(n):
        # Opened from late September to early November, so October has tickets on both
        # sides of its edges; some on the hour or at midnight. Everything, deadlines
        # included, stays inside 2026, the last year with holiday data.
        offset = rng.randrange(0, 50 * 24 * 60)
        at = first + timedelta(minutes=offset - offset % rng.choice((1, 60, 24 * 60)))
        _life(app, e, rng, at)


# --- the plain Python count the SQL must equal ------------------------------------------

KEYS: dict[str | None, Callable[[Ticket], str | int | None]] = {
    None: lambda t: None,
    "category": lambda t: t.state.category.value,
    "channel": lambda t: t.state.channel.value,
    "priority": lambda t: t.state.priority.value,
    "team": lambda t: t.state.assignee_team_id,
    "staff": lambda t: t.state.assignee_staff_id,
    "first_contact": lambda t: t.state.first_contact_staff_id,
}
assert set(KEYS) == {None, *GROUP_BY}


def _done(t: Ticket, target: Target) -> datetime | None:
    s = t.state
    if target is Target.RESPONSE:
        return s.responded_at
    if target is Target.ARRIVAL:
        return s.arrived_at
    if target is Target.RESOLUTION:
        return s.resolved_at  # the latest resolution
    # The callback of the latest resolution is the one that closed the ticket; after a
    # rework, an earlier callback does not count.
    return s.callback_at if s.status is Status.CLOSED else None


def _rate(
    tickets: list[Ticket], counted: Callable[[Ticket], bool], met: Callable[[Ticket], bool]
) -> Rate:
    base = [t for t in tickets if counted(t)]
    return Rate(sum(1 for t in base if met(t)), len(base))


def _timely(tickets: list[Ticket], target: Target, as_of: datetime) -> Rate:
    numerator = denominator = 0
    for t in tickets:
        due, done = t.deadlines.get(target), _done(t, target)
        if due is None:
            continue
        # An unmet deadline is missed once past, unless the ticket was cancelled before it
        # (or, for the arrival on site, resolved before it: no visit was needed).
        cancelled = t.state.cancelled_at
        resolved = t.state.resolved_at if target is Target.ARRIVAL else None
        if done is not None or (
            due < as_of
            and (cancelled is None or due < cancelled)
            and (resolved is None or due < resolved)
        ):
            denominator += 1
            if done is not None and done <= due:
                numerator += 1
    return Rate(numerator, denominator)


def _expected_row(
    group: str | int | None,
    tickets: list[Ticket],
    outside: dict[int, tuple[int, int]],
    as_of: datetime,
    source: Source = Source.INTAKE,
) -> TicketMetrics:
    def status(t: Ticket) -> Status:
        return t.state.status

    complaints = [
        t
        for t in tickets
        if t.state.category is Category.COMPLAINT and status(t) is not Status.CANCELLED
    ]
    return TicketMetrics(
        group=group,
        opened=len(tickets),
        closed=sum(1 for t in tickets if status(t) is Status.CLOSED),
        cancelled=sum(1 for t in tickets if status(t) is Status.CANCELLED),
        open_now=sum(1 for t in tickets if t.state.is_open),
        by_category={c.value: sum(1 for t in tickets if t.state.category is c) for c in Category},
        by_channel={
            c: sum(1 for t in tickets if t.state.channel.value == c)
            for c in ("phone", "visit", "online", "patrol", "letter_box")
        },
        timely={target.value: _timely(tickets, target, as_of) for target in Target},
        rework=_rate(
            tickets,
            lambda t: t.state.resolved_at is not None or t.state.rework_count > 0,
            lambda t: t.state.rework_count > 0,
        ),
        callback=_rate(
            tickets,
            lambda t: (
                t.state.needs_callback
                and (t.state.resolved_at is not None or t.state.callback_at is not None)
            ),
            lambda t: t.state.callback_at is not None,
        ),
        satisfaction=_rate(
            tickets,
            lambda t: t.state.satisfaction is not None,
            lambda t: t.state.satisfaction in ("satisfied", "basically_satisfied"),
        ),
        complaint_resolution=_rate(
            complaints,
            lambda t: True,
            lambda t: t.state.resolved_at is not None or status(t) is Status.CLOSED,
        ),
        outside_dispatched=sum(outside[t.id][0] for t in tickets),
        outside_completed=sum(outside[t.id][1] for t in tickets),
        source=source,
    )


def _of_source(e: Estate, t: Ticket, source: Source) -> bool:
    """Whether ``t`` is counted in ``source``: the intake is what residents brought, neither
    a patrol finding nor a plan's ticket."""
    patrol = t.state.channel.value == "patrol" or t.id in e.planned
    return source is Source.ALL or patrol == (source is Source.PATROL)


def expected(
    app: Propcare,
    e: Estate,
    start: datetime,
    end: datetime,
    as_of: datetime,
    group_by: str | None,
    source: Source = Source.INTAKE,
) -> list[TicketMetrics]:
    """The metrics counted ticket by ticket in Python, from what app.tickets.get shows."""
    tickets = [app.tickets.get(ADMIN, tid) for tid in e.tickets]
    tickets = [t for t in tickets if start <= t.state.opened_at < end and _of_source(e, t, source)]
    outside = {}
    for t in tickets:
        actions = [ev.action for ev in app.tickets.history(ADMIN, t.id)]
        outside[t.id] = (actions.count(Action.DISPATCH), actions.count(Action.OUTSIDE_DONE))
    groups: dict[str | int | None, list[Ticket]] = {}
    for t in tickets:
        groups.setdefault(KEYS[group_by](t), []).append(t)
    if group_by is None:
        groups.setdefault(None, [])  # the whole estate has its row even with no tickets
    keys = sorted(groups, key=lambda g: (g is None, g if g is not None else 0))
    return [_expected_row(g, groups[g], outside, as_of, source) for g in keys]


# --- the random estate: every group_by equals the plain count -----------------------------


@pytest.fixture(scope="module")
def busy() -> Iterator[tuple[Propcare, Estate, Estate]]:
    with Propcare.open(
        "sqlite://:memory:",
        load_entrypoints=False,
        clock=FixedClock(datetime(2026, 11, 20, tzinfo=SH)),
    ) as app:
        estate = _estate(app, "翠苑小区")
        _populate(app, estate, seed=20261101, n=360)
        rng = random.Random(1)
        for edge in OCTOBER:
            for at in (edge, edge, edge - timedelta(microseconds=1)):
                _life(app, estate, rng, at)
        _plan_tickets(app, estate)
        neighbour = _estate(app, "隔壁小区")  # its tickets must never be counted for the first
        _populate(app, neighbour, seed=7, n=40)
        yield app, estate, neighbour


def _plan_tickets(app: Propcare, e: Estate) -> None:
    """A weekly patrol and a monthly upkeep through October, some of their tickets worked."""
    for title, rule, category in (
        ("楼栋公共区域巡查", "FREQ=WEEKLY;BYDAY=MO", "other_service"),
        ("水泵月保养", "FREQ=MONTHLY;BYMONTHDAY=1", "common_repair"),
    ):
        app.maintenance.create_plan(
            ADMIN, e.id, title=title, rule=rule, dtstart=datetime(2026, 9, 1, 9, tzinfo=SH),
            category=category, location="公共区域", first_contact_staff_id=e.clerks[0],
        )  # fmt: skip
    opened = app.maintenance.generate(ADMIN, e.id, datetime(2026, 9, 20, tzinfo=SH), OCTOBER[1])
    for n, tid in enumerate(opened):
        if n % 3:
            at = app.tickets.get(ADMIN, tid).state.opened_at + timedelta(minutes=10)
            app.tickets.assign(ADMIN, tid, staff_id=e.techs[n % 4], team_id=e.teams[0], at=at)
            app.tickets.resolve(ADMIN, tid, "已巡查", at=at + timedelta(hours=n))
    e.tickets.extend(opened)
    e.planned.update(opened)


def test_the_random_estate_covers_what_the_metrics_count(
    busy: tuple[Propcare, Estate, Estate],
) -> None:
    app, e, _ = busy
    states = [app.tickets.get(ADMIN, t).state for t in e.tickets]
    in_october = [s for s in states if OCTOBER[0] <= s.opened_at < OCTOBER[1]]
    assert len(in_october) > 150
    assert {s.status for s in in_october} == set(Status)
    assert any(s.rework_count > 1 for s in in_october)
    assert any(s.pauses and s.pauses[-1].end is None for s in in_october)
    assert any(s.outside and s.outside[-1].done_at is None for s in in_october)
    for edge in OCTOBER:  # the fixture opens tickets on and just before both edges
        assert {edge, edge - timedelta(microseconds=1)} <= {s.opened_at for s in states}
    # Unmet targets, and re-resolved reworks whose earlier callback must not count.
    assert any(s.callback_at is not None and s.status is Status.RESOLVED for s in in_october)
    assert any(
        s.callback_policy is CallbackPolicy.UNLESS_RATED and s.rated_by_owner and s.callback_at
        for s in states
    )


@pytest.mark.parametrize("source", list(Source))
@pytest.mark.parametrize("group_by", [None, *GROUP_BY])
@pytest.mark.parametrize(
    "as_of",
    [datetime(2026, 10, 20, 12, 0, tzinfo=SH), None],
    ids=["as_of_mid_october", "as_of_clock"],
)
def test_metrics_equal_a_plain_count_for_every_grouping(
    busy: tuple[Propcare, Estate, Estate],
    group_by: str | None,
    as_of: datetime | None,
    source: Source,
) -> None:
    app, e, _ = busy
    got = app.ticket_stats.metrics(
        ADMIN, e.id, *OCTOBER, group_by=group_by, as_of=as_of, source=source
    )
    want = expected(app, e, *OCTOBER, as_of or app.clock.now(), group_by, source)
    assert got == want
    assert sum(row.opened for row in got) == sum(want_row.opened for want_row in want) > 15


def test_the_intake_and_patrol_work_add_up_to_all_tickets(
    busy: tuple[Propcare, Estate, Estate],
) -> None:
    app, e, _ = busy
    rows = {s: app.ticket_stats.metrics(ADMIN, e.id, *OCTOBER, source=s)[0] for s in list(Source)}
    intake, patrol, every = rows[Source.INTAKE], rows[Source.PATROL], rows[Source.ALL]
    assert intake.opened > 150 and patrol.opened > 20  # patrol findings and plan tickets
    assert intake.by_channel["patrol"] == 0 and patrol.by_channel["patrol"] == patrol.opened
    for field in ("opened", "closed", "cancelled", "open_now", "outside_dispatched"):
        assert getattr(intake, field) + getattr(patrol, field) == getattr(every, field), field
    for target, rate in every.timely.items():
        both = (intake.timely[target], patrol.timely[target])
        assert rate == Rate(sum(r.numerator for r in both), sum(r.denominator for r in both))


def test_periods_are_half_open_and_in_any_zone(busy: tuple[Propcare, Estate, Estate]) -> None:
    app, e, _ = busy
    as_of = app.clock.now()
    # The same instants written in UTC give the same answer.
    utc = tuple(d.astimezone(ZoneInfo("UTC")) for d in OCTOBER)
    assert app.ticket_stats.metrics(ADMIN, e.id, *utc) == app.ticket_stats.metrics(
        ADMIN, e.id, *OCTOBER
    )
    # Consecutive weeks add up to the month: nothing is counted twice or lost at an edge.
    edges = [OCTOBER[0] + timedelta(days=7 * i) for i in range(5)] + [OCTOBER[1]]
    weeks = [app.ticket_stats.metrics(ADMIN, e.id, a, b)[0] for a, b in itertools.pairwise(edges)]
    month = app.ticket_stats.metrics(ADMIN, e.id, *OCTOBER)[0]
    assert sum(w.opened for w in weeks) == month.opened
    assert sum(w.timely["resolution"].denominator for w in weeks) == (
        month.timely["resolution"].denominator
    )
    assert app.ticket_stats.metrics(ADMIN, e.id, *OCTOBER[:1], OCTOBER[0] + timedelta(1)) == (
        expected(app, e, OCTOBER[0], OCTOBER[0] + timedelta(1), as_of, None)
    )


def test_an_empty_period_has_one_row_of_zeros_and_rates_of_nothing(
    busy: tuple[Propcare, Estate, Estate],
) -> None:
    app, e, _ = busy
    start = datetime(2025, 1, 1, tzinfo=SH)
    [row] = app.ticket_stats.metrics(ADMIN, e.id, start, start + timedelta(days=31))
    assert row.group is None and row.opened == 0
    assert row.by_category == dict.fromkeys([c.value for c in Category], 0)
    assert row.rework == Rate(0, 0) and row.rework.value is None  # never a silent 100%
    assert all(rate.value is None for rate in row.timely.values())
    assert (
        app.ticket_stats.metrics(ADMIN, e.id, start, start + timedelta(1), group_by="staff") == []
    )


@pytest.mark.parametrize("group_by", [None, *GROUP_BY])
def test_the_sum_form_for_sqlite_before_3_30_counts_the_same(
    busy: tuple[Propcare, Estate, Estate], group_by: str | None
) -> None:
    app, e, _ = busy
    column = column_of(group_by)
    period = (e.id, ts(OCTOBER[0]), ts(OCTOBER[1]))

    def counts(filtered: bool) -> list[tuple[Any, ...]]:
        with app.unit_of_work(readonly=True) as uow:
            conn = uow.connection  # type: ignore[attr-defined]
            rows = [*conn.execute(tickets_sql(column, filtered), (*period, ts(MON)))]
            rows += [*conn.execute(outside_sql(column, filtered), period)]
        # SUM of only NULLs is NULL where COUNT is 0: the repository reads both as 0.
        return sorted((tuple(v or 0 for v in r) for r in rows), key=repr)

    assert counts(filtered=True) == counts(filtered=False)
    assert "FILTER" in tickets_sql(column, True) and "FILTER" not in tickets_sql(column, False)


# --- Hypothesis: small random estates, side by side in one database -----------------------


_NAMES = itertools.count()


@pytest.fixture(scope="module")
def shared() -> Iterator[Propcare]:
    with Propcare.open(
        "sqlite://:memory:",
        load_entrypoints=False,
        clock=FixedClock(datetime(2026, 11, 20, tzinfo=SH)),
    ) as app:
        yield app


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 2**32),
    n=st.integers(0, 14),
    group_by=st.sampled_from([None, *GROUP_BY]),
    as_of_day=st.integers(1, 50),
)
def test_any_small_estate_counts_like_python(
    shared: Propcare, seed: int, n: int, group_by: str | None, as_of_day: int
) -> None:
    e = _estate(shared, f"小区{next(_NAMES)}")
    _populate(shared, e, seed, n)
    as_of = datetime(2026, 9, 20, tzinfo=SH) + timedelta(days=as_of_day)
    got = shared.ticket_stats.metrics(ADMIN, e.id, *OCTOBER, group_by=group_by, as_of=as_of)
    assert got == expected(shared, e, *OCTOBER, as_of, group_by)


# --- worked examples, counted by hand ------------------------------------------------------


def test_four_tickets_counted_by_hand(app: Propcare) -> None:
    e = _estate(app, "样板小区")
    s1, s2 = e.techs[0], e.techs[1]
    t = app.tickets

    def at(hours: float = 0, minutes: int = 0, day: int = 0) -> datetime:
        return MON + timedelta(days=day, hours=hours, minutes=minutes)

    def open_(category: str, channel: str) -> int:
        return t.open(
            ADMIN,
            e.id,
            category=category,
            channel=channel,
            summary="样例",
            location="大堂",
            first_contact_staff_id=e.clerks[0],
            at=MON,
        ).id

    # A, an in-home repair (response 15 min, arrival 2 office hours, resolution 16, callback 16):
    # answered at 09:05 (in time), on site 11:30 (arrival was due 11:00: late), resolved at
    # 14:00 and called back at 15:00 (both in time). Two outside orders, one done.
    a = open_("home_repair", "phone")
    t.assign(ADMIN, a, staff_id=s1, at=at(minutes=5))
    t.dispatch(ADMIN, a, "开发商工程部", at=at(minutes=20))
    t.outside_done(ADMIN, a, at=at(2))
    t.dispatch(ADMIN, a, "电梯维保公司", at=at(2, 10))
    t.arrive(ADMIN, a, at=at(2.5))
    t.resolve(ADMIN, a, at=at(5))
    t.callback(ADMIN, a, satisfaction="satisfied", at=at(6))
    # B, a complaint (response 30 min, resolution 24 office hours, callback 8, rework 8):
    # answered at 10:00 (late), resolved 11:00, the callback at 11:30 finds it not fixed:
    # rework, due 8 office hours later, Tuesday 12:00. Resolved again Tuesday 10:00 and
    # called back Tuesday 11:00: basically satisfied.
    b = open_("complaint", "visit")
    t.assign(ADMIN, b, staff_id=s2, at=at(1))
    t.resolve(ADMIN, b, at=at(2))
    reopened = t.callback(ADMIN, b, satisfaction="dissatisfied", fixed=False, at=at(2.5))
    assert reopened.deadlines.resolution == datetime(2026, 11, 3, 12, 0, tzinfo=SH)
    t.resolve(ADMIN, b, at=at(1, day=1))
    t.callback(ADMIN, b, satisfaction="basically_satisfied", at=at(2, day=1))
    # C, a consultation nobody answered: response due 09:15, resolution due Tuesday 09:30.
    open_("consultation", "online")
    # D, a complaint cancelled at 09:10 as a duplicate: cancelling is not an answer, but it
    # came before the response was due (09:30), so D missed nothing; its resolution is not
    # due until Thursday either.
    d = open_("complaint", "phone")
    t.cancel(ADMIN, d, "重复投诉", at=at(minutes=10))
    assert t.get(ADMIN, d).deadlines.resolution == datetime(2026, 11, 5, 10, 30, tzinfo=SH)

    as_of = at(3, day=1)  # Tuesday 12:00
    [row] = app.ticket_stats.metrics(ADMIN, e.id, *_november(), as_of=as_of)
    assert (row.group, row.opened, row.closed, row.cancelled, row.open_now) == (None, 4, 2, 1, 1)
    assert row.by_category == {
        "consultation": 1,
        "suggestion": 0,
        "complaint": 2,
        "common_repair": 0,
        "home_repair": 1,
        "other_service": 0,
        "praise": 0,
    }
    assert row.by_channel == {"phone": 2, "visit": 1, "online": 1, "patrol": 0, "letter_box": 0}
    assert row.timely == {
        "response": Rate(1, 3),  # A in time; B late; C past due, unanswered; D withdrawn
        "arrival": Rate(0, 1),  # only A is a repair, and it was late
        "resolution": Rate(2, 3),  # A; B within its rework target; C past due
        "callback": Rate(2, 2),
    }
    assert row.timely["resolution"].value == Decimal("0.6667")
    assert row.rework == Rate(1, 2) and row.rework.value == Decimal("0.5000")
    assert row.callback == Rate(2, 2)  # C needs none; D was never resolved
    assert row.satisfaction == Rate(2, 2)  # satisfied and basically satisfied both count
    assert row.complaint_resolution == Rate(1, 1)  # the cancelled complaint is left out
    assert (row.outside_dispatched, row.outside_completed) == (2, 1)
    with pytest.raises(TypeError):
        row.by_category["praise"] = 1  # type: ignore[index]  # a result is frozen through

    # As of Friday D's resolution deadline (Thursday) has passed too, but D was cancelled
    # on Monday, long before it: withdrawn in time, it missed nothing.
    [friday] = app.ticket_stats.metrics(ADMIN, e.id, *_november(), as_of=at(day=4))
    assert friday.timely == row.timely

    # As of Monday 09:10 C's response is not yet due, nor is its resolution: unmet targets
    # count only once past due. (Done ones count as they are now: as_of is no time machine.)
    [early] = app.ticket_stats.metrics(ADMIN, e.id, *_november(), as_of=at(minutes=10))
    assert early.timely["response"] == Rate(1, 2)  # A in time, B late (done, so counted)
    assert early.timely["resolution"] == Rate(2, 2)

    by_staff = app.ticket_stats.metrics(ADMIN, e.id, *_november(), group_by="staff", as_of=as_of)
    assert [(r.group, r.opened) for r in by_staff] == [(s1, 1), (s2, 1), (None, 2)]
    assert by_staff[0].timely["arrival"] == Rate(0, 1)
    assert by_staff[1].rework == Rate(1, 1)
    assert by_staff[0].outside_dispatched == 2 and by_staff[2].outside_dispatched == 0
    by_fc = app.ticket_stats.metrics(ADMIN, e.id, *_november(), group_by="first_contact")
    assert [(r.group, r.opened) for r in by_fc] == [(e.clerks[0], 4)]
    by_category = app.ticket_stats.metrics(ADMIN, e.id, *_november(), group_by="category")
    assert [r.group for r in by_category] == ["complaint", "consultation", "home_repair"]


def test_a_reworked_ticket_resolved_again_awaits_its_new_callback(app: Propcare) -> None:
    e = _estate(app, "返修小区")
    t = app.tickets
    tid = t.open(
        ADMIN,
        e.id,
        category="home_repair",
        channel="phone",
        summary="返修",
        unit_id=e.units[0],
        first_contact_staff_id=e.clerks[0],
        at=MON,
    ).id
    # Answered exactly at its deadline (15 minutes): in time.
    t.assign(ADMIN, tid, staff_id=e.techs[0], at=MON + timedelta(minutes=15))
    t.resolve(ADMIN, tid, at=MON + timedelta(hours=1))
    t.callback(ADMIN, tid, satisfaction="dissatisfied", fixed=False, at=MON + timedelta(hours=2))
    again = t.resolve(ADMIN, tid, at=MON + timedelta(hours=3))
    assert again.state.callback_at == MON + timedelta(hours=2)  # the earlier callback
    due = again.deadlines.callback
    assert due is not None

    def timely(as_of: datetime) -> dict[str, Rate]:
        return dict(app.ticket_stats.metrics(ADMIN, e.id, *_november(), as_of=as_of)[0].timely)

    assert timely(due)["response"] == Rate(1, 1)
    # Not yet called back about the new resolution: not counted while due (at the deadline
    # itself there is still time), missed once past it.
    assert timely(due)["callback"] == Rate(0, 0)
    assert timely(due + timedelta(microseconds=1))["callback"] == Rate(0, 1)
    # It was called back once, though: the callback rate counts it.
    assert app.ticket_stats.metrics(ADMIN, e.id, *_november())[0].callback == Rate(1, 1)


def test_a_repair_fixed_by_phone_before_its_arrival_deadline_missed_no_arrival(
    app: Propcare,
) -> None:
    e = _estate(app, "电话指导小区")
    t = app.tickets

    def repair(summary: str) -> int:
        return t.open(
            ADMIN,
            e.id,
            category="home_repair",
            channel="phone",
            summary=summary,
            unit_id=e.units[0],
            first_contact_staff_id=e.clerks[0],
            at=MON,
        ).id

    by_phone = repair("跳闸，电话指导复位")
    t.assign(ADMIN, by_phone, staff_id=e.techs[0], at=MON + timedelta(minutes=5))
    t.resolve(ADMIN, by_phone, at=MON + timedelta(minutes=20))  # arrival was due at 11:00
    forgotten = repair("门锁坏了")
    t.assign(ADMIN, forgotten, staff_id=e.techs[0], at=MON + timedelta(minutes=5))
    t.resolve(ADMIN, forgotten, at=MON + timedelta(hours=5))  # after the arrival deadline
    (row,) = app.ticket_stats.metrics(ADMIN, e.id, *_november(), as_of=MON + timedelta(days=1))
    assert row.timely["arrival"] == Rate(0, 1)  # only the second one missed its arrival


def _november() -> tuple[datetime, datetime]:
    return datetime(2026, 11, 1, tzinfo=SH), datetime(2026, 12, 1, tzinfo=SH)


# --- the rate --------------------------------------------------------------------------------


def test_a_rate_rounds_half_up_to_four_places_and_is_none_for_nothing() -> None:
    assert Rate(1, 3).value == Decimal("0.3333")
    assert Rate(2, 3).value == Decimal("0.6667")
    assert Rate(1, 20000).value == Decimal("0.0001")  # exactly half: up, not to even
    assert Rate(3, 3).value == Decimal("1.0000")
    assert Rate(0, 5).value == Decimal("0.0000")
    assert Rate(0, 0).value is None


@pytest.mark.parametrize(
    ("numerator", "denominator", "field"),
    [(4, 3, "numerator"), (-1, 3, "numerator"), (1, -1, "denominator"), (True, 2, "numerator")],
)
def test_a_rate_cannot_be_built_wrong(numerator: Any, denominator: Any, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        Rate(numerator, denominator)
    assert info.value.field == field


# --- bad input, permissions, isolation --------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"start": datetime(2026, 10, 1)}, "start", "timezone-aware"),
        ({"end": datetime(2026, 11, 1)}, "end", "timezone-aware"),
        ({"as_of": datetime(2026, 11, 1)}, "as_of", "timezone-aware"),
        ({"start": "2026-10-01"}, "start", "must be a datetime"),
        ({"end": OCTOBER[0]}, "end", "must be after start"),
        ({"end": OCTOBER[0] - timedelta(days=1)}, "end", "must be after start"),
        ({"group_by": "building"}, "group_by", "category, channel, priority, team, staff"),
        ({"group_by": "Staff"}, "group_by", "first_contact"),
        ({"estate_id": "1"}, "estate_id", "integer"),
    ],
)
def test_bad_input_names_the_field_the_value_and_the_rule(
    app: Propcare, kwargs: dict[str, Any], field: str, words: str
) -> None:
    e = _estate(app, "翠苑")
    args: dict[str, Any] = {"estate_id": e.id, "start": OCTOBER[0], "end": OCTOBER[1], **kwargs}
    with pytest.raises(PropcareError) as info:
        app.ticket_stats.metrics(
            ADMIN,
            args.pop("estate_id"),
            args.pop("start"),
            args.pop("end"),
            **args,
        )
    assert isinstance(info.value, ValidationError)
    assert info.value.field == field
    assert words in str(info.value)
    assert repr(kwargs[field]) in str(info.value)


def test_reading_metrics_needs_ticket_read_in_a_visible_estate(app: Propcare) -> None:
    e = _estate(app, "翠苑")
    other = _estate(app, "别苑")
    technician = Actor("师傅", {"technician"}, {e.id})
    assert app.ticket_stats.metrics(technician, e.id, *OCTOBER)[0].opened == 0
    with pytest.raises(NotFound):
        app.ticket_stats.metrics(technician, other.id, *OCTOBER)
    with pytest.raises(PermissionDenied, match="ticket.read"):
        app.ticket_stats.metrics(Actor("访客", {"guest"}, {e.id}), e.id, *OCTOBER)


# --- the intake and patrol work, counted apart (issue 16, point 10) -----------------------


def test_a_weekly_patrol_plan_does_not_inflate_the_intake_or_its_timeliness() -> None:
    """One phone repair answered in time and a weekly patrol plan: 月统计 counts one call
    (response 1 of 1), and the plan's five Monday tickets apart, with their own rate."""
    december = datetime(2026, 12, 1, 10, 0, tzinfo=SH)
    with Propcare.open(
        "sqlite://:memory:", load_entrypoints=False, clock=FixedClock(december)
    ) as app:
        e = _estate(app, "巡查小区")
        call = app.tickets.open(
            ADMIN, e.id, category="home_repair", channel="phone", summary="厨房水管漏水",
            unit_id=e.units[0], first_contact_staff_id=e.clerks[0], at=MON,
        )  # fmt: skip
        app.tickets.assign(ADMIN, call.id, staff_id=e.techs[0], at=MON + timedelta(minutes=5))
        app.maintenance.create_plan(
            ADMIN, e.id, title="楼栋公共区域巡查", rule="FREQ=WEEKLY;BYDAY=MO",
            dtstart=datetime(2026, 10, 5, 8, tzinfo=SH), category="other_service",
            location="各楼栋", first_contact_staff_id=e.clerks[0],
        )  # fmt: skip
        november = (datetime(2026, 11, 1, tzinfo=SH), december.replace(hour=0))
        assert len(app.maintenance.generate(ADMIN, e.id, *november)) == 5  # five Mondays
        (intake,) = app.ticket_stats.metrics(ADMIN, e.id, *november, as_of=december)
        assert (intake.opened, intake.timely["response"]) == (1, Rate(1, 1))  # not 6, 1 of 6
        assert (intake.source, intake.by_channel["phone"]) == ("intake", 1)
        (patrol,) = app.ticket_stats.metrics(
            ADMIN, e.id, *november, as_of=december, source="patrol"
        )
        assert (patrol.opened, patrol.by_channel["patrol"]) == (5, 5)
        assert patrol.timely["response"] == Rate(0, 5)  # nobody took the patrols up
        (every,) = app.ticket_stats.metrics(ADMIN, e.id, *november, as_of=december, source="all")
        assert every.opened == 6 and every.timely["response"] == Rate(1, 6)
        with pytest.raises(ValidationError, match="source='calls': must be one of: intake"):
            app.ticket_stats.metrics(ADMIN, e.id, *november, source="calls")
