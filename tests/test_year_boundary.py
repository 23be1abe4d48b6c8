"""Crossing 2026-12-31 -> 2027 without holiday data for 2027, then with it.

chinesecalendar 1.11 (the ``cn`` source) stops at 2026 and the State Council's 2027
schedule is in no package. These tests travel in time across the boundary, as a front
desk would in the first week of January, and check that no deadline vanishes, no
alert is swallowed, and that once the year's data is added ``recompute`` makes every
deadline what it would have been with the data from the start.

The scenarios take an ``open_app(config)`` that opens the same database each time, so
the PostgreSQL adapter runs them too (adapters/propcare-postgres/tests).

The 2027 file here is a TEST FIXTURE, not the State Council's schedule (unpublished as
these tests were written): it names only 1 January, fixed by law as New Year's Day, so
that the real computation differs from the provisional one on weekly windows.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from propcare import Actor, FixedClock, Propcare
from propcare.calendar_sources import china_holidays
from propcare.sla.engine import MissingData, compute_deadlines
from propcare.sla.policy import Target

SH = ZoneInfo("Asia/Shanghai")
ADMIN = Actor.system()
OFFICE = {"mon-fri": ["09:00-12:00", "13:30-18:00"]}

FIXTURE_2027 = """\
name = "test fixture for 2027 (NOT the State Council schedule)"
covers = [2027]
days_off = [2027-01-01]
days_on = []
"""

OpenApp = Callable[[Mapping[str, Any]], Propcare]


def calendars(*sources: Any) -> dict[str, Any]:
    return {
        "calendars": {
            "office": {"windows": OFFICE, "sources": list(sources)},
            "24x7": {"always": True},
        }
    }


def with_2027(folder: Path) -> dict[str, Any]:
    path = folder / "holidays-2027.toml"
    path.write_text(FIXTURE_2027, encoding="utf-8")
    return calendars("cn", {"file": str(path)})


STRICT: dict[str, Any] = {"sla": {"missing_holiday_data": "strict"}}


class Desk:
    """One estate's front desk: a clerk, a technician, a supervisor, a unit."""

    def __init__(self, app: Propcare) -> None:
        self.app = app
        estate = app.estates.create(ADMIN, "翠苑小区")
        building = app.estates.add_building(ADMIN, estate.id, "1栋")
        self.unit = app.estates.add_unit(ADMIN, building.id, "1-101", Decimal("89.5"))
        start = date(2024, 1, 1)
        clerk = app.staff.create(
            ADMIN, estate.id, "王客服", ["front_desk"], start, phone="13800000001"
        )
        tech = app.staff.create(
            ADMIN, estate.id, "李师傅", ["technician"], start, phone="13800000002"
        )
        app.staff.create(ADMIN, estate.id, "赵主管", ["supervisor"], start, phone="13800000003")
        self.estate = estate.id
        self.clerk = app.staff.actor_for(ADMIN, clerk.id, start)
        self.tech_id = tech.id

    def repair(self, at: datetime, **kw: Any) -> Any:
        return self.app.tickets.open(
            self.clerk,
            self.estate,
            category=kw.pop("category", "home_repair"),
            channel="phone",
            summary="厨房水管漏水",
            unit_id=self.unit.id,
            at=at,
            **kw,
        )

    def metrics(self, period: str, as_of: datetime) -> Any:
        year, month = int(period[:4]), int(period[5:])
        start = datetime(year, month, 1, tzinfo=SH)
        end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=SH)
        (row,) = self.app.ticket_stats.metrics(ADMIN, self.estate, start, end, as_of=as_of)
        return row


# --- the scenarios (run on SQLite here, on PostgreSQL by the adapter) ---------------------


def scenario_deadlines_never_vanish(open_app: OpenApp) -> None:
    monday = datetime(2027, 1, 4, 9, 0, tzinfo=SH)
    app = open_app({})
    desk = Desk(app)
    ticket = desk.repair(monday)
    # Before: arrival, resolution (and later callback) were None, with only a log line.
    assert ticket.deadlines.arrival == datetime(2027, 1, 4, 11, 0, tzinfo=SH)
    assert ticket.deadlines.resolution == datetime(2027, 1, 6, 10, 0, tzinfo=SH)
    assert ticket.deadlines.provisional == (Target.ARRIVAL, Target.RESOLUTION)
    assert ticket.deadlines.missing_years == (2027,) and ticket.awaits_holiday_data
    stored = app.tickets.get(ADMIN, ticket.id)  # the flag is stored, not only returned
    assert stored.deadlines == ticket.deadlines
    assert "2027 holiday data missing" in stored.deadlines.describe_gaps()
    # The callback deadline, once resolved, is provisional too, and says so.
    app.tickets.assign(desk.clerk, ticket.id, staff_id=desk.tech_id, at=monday)
    resolved = app.tickets.resolve(desk.clerk, ticket.id, at=monday + timedelta(hours=3))
    assert resolved.deadlines.callback is not None
    assert Target.CALLBACK in resolved.deadlines.provisional
    app.close()

    strict = open_app(STRICT)
    again = Desk(strict).repair(monday)
    assert again.deadlines.arrival is None and again.deadlines.resolution is None
    assert again.deadlines.held == (Target.ARRIVAL, Target.RESOLUTION)
    assert again.deadlines.missing_years == (2027,) and again.awaits_holiday_data  # never silent
    assert strict.tickets.get(ADMIN, again.id).deadlines.held == again.deadlines.held
    strict.close()


def scenario_alerts_are_never_swallowed(open_app: OpenApp, strict: bool) -> None:
    app = open_app(STRICT if strict else {})
    desk = Desk(app)
    eve = datetime(2026, 12, 31, 16, 0, tzinfo=SH)
    ticket = desk.repair(eve)
    assert ticket.deadlines.arrival == datetime(2026, 12, 31, 18, 0, tzinfo=SH)  # known
    app.clock.set(datetime(2027, 1, 4, 15, 0, tzinfo=SH))  # type: ignore[attr-defined]
    check = app.tickets.check_sla(ADMIN, desk.estate)
    sent = {(a.ticket_id, a.target, a.level) for a in check.sent}
    # Before: nothing at all (time spent reached into 2027, raised, and was swallowed).
    assert (ticket.id, "arrival", "supervisor") in sent
    assert check.checked == 1
    if strict:
        (skipped,) = check.skipped  # the manager level cannot be judged: said, not dropped
        assert skipped.ticket_id == ticket.id and "2027" in skipped.reason
    else:
        assert check.skipped == ()
        arrival = {a.level: a.provisional for a in check.sent if a.target == "arrival"}
        # Due in 2026, so the breach is certain; how far past it (the manager's level)
        # counts working time in 2027 on the weekly windows, and says so.
        assert arrival == {"warning": "", "supervisor": "", "manager": "2027"}
        resolution = [a for a in check.sent if a.target == "resolution"]
        assert resolution and {a.provisional for a in resolution} == {"2027"}
    app.close()


def scenario_recompute_covers_the_past(open_app: OpenApp, folder: Path, strict: bool) -> None:
    base = STRICT if strict else {}
    app = open_app(base)
    desk = Desk(app)
    clock: FixedClock = app.clock  # type: ignore[assignment]
    # A: opened 2027-01-04, resolved late on 01-08, called back and closed, all before the
    # 2027 file exists. Due Wednesday 01-06 10:00 on any data: missed.
    monday = datetime(2027, 1, 4, 9, 0, tzinfo=SH)
    a = desk.repair(monday)
    app.tickets.assign(desk.clerk, a.id, staff_id=desk.tech_id, at=monday)
    app.tickets.resolve(desk.clerk, a.id, at=datetime(2027, 1, 8, 16, 0, tzinfo=SH))
    app.tickets.callback(
        desk.clerk, a.id, satisfaction="satisfied", at=datetime(2027, 1, 8, 17, 0, tzinfo=SH)
    )
    # B: opened 2026-12-31 16:00, resolved 2027-01-05 10:00. On weekly windows alone (1
    # January a Friday like any) 16 h are due Monday 01-04 17:00, so late; with New Year's
    # Day off they are due Tuesday 01-05 17:00, so on time.
    eve = datetime(2026, 12, 31, 16, 0, tzinfo=SH)
    b = desk.repair(eve)
    app.tickets.assign(desk.clerk, b.id, staff_id=desk.tech_id, at=eve)
    app.tickets.resolve(desk.clerk, b.id, at=datetime(2027, 1, 5, 10, 0, tzinfo=SH))
    app.tickets.callback(
        desk.clerk, b.id, satisfaction="satisfied", at=datetime(2027, 1, 5, 11, 0, tzinfo=SH)
    )
    clock.set(datetime(2027, 1, 20, 9, 0, tzinfo=SH))
    later = clock.now()
    january, december = desk.metrics("2027-01", later), desk.metrics("2026-12", later)
    if strict:
        assert january.timely["resolution"].denominator == 0  # held open: not yet counted...
        assert january.held == 1 and january.provisional == 0  # ...but reported as such
        assert december.timely["resolution"].denominator == 0 and december.held == 1
    else:
        assert (
            january.timely["resolution"].numerator,
            january.timely["resolution"].denominator,
        ) == (0, 1)
        assert january.provisional == 1 and january.held == 0
        assert december.timely["resolution"].numerator == 0 and december.provisional == 1
    # Recompute before the data: nothing to change, everything still waiting, and said so.
    waiting = app.tickets.recompute(ADMIN, desk.estate)
    assert waiting.changed == 0 and waiting.provisional + waiting.held == 2
    app.close()

    # The company adds the 2027 file. Opening finds the tickets that wait for 2027 and
    # recomputes them: the flags clear by themselves and the statistics follow.
    app = open_app({**base, **with_2027(folder)})
    assert app.tickets.holiday_gaps(ADMIN, desk.estate).tickets == 0
    january = desk_metrics(app, desk.estate, "2027-01", later)
    assert (january.timely["resolution"].numerator, january.timely["resolution"].denominator) == (
        0,
        1,
    )
    assert january.provisional == january.held == 0
    fixed = app.tickets.get(ADMIN, b.id)
    assert fixed.deadlines.resolution == datetime(2027, 1, 5, 17, 0, tzinfo=SH)
    assert fixed.deadlines.gaps == () and not fixed.awaits_holiday_data
    december = desk_metrics(app, desk.estate, "2026-12", later)
    assert (december.timely["resolution"].numerator, december.timely["resolution"].denominator) == (
        1,
        1,
    )
    # The known deadlines of closed tickets are not rewritten: B's arrival was due in 2026.
    assert fixed.deadlines.arrival == datetime(2026, 12, 31, 18, 0, tzinfo=SH)
    assert app.tickets.recompute(ADMIN, desk.estate).changed == 0  # nothing left; deterministic

    # recompute itself covers the past: a closed ticket stored by an older release with its
    # resolution deadline missing and no flag (as 2027's first days left them) is filled in.
    with app.unit_of_work() as uow:
        uow.execute(  # type: ignore[attr-defined]
            "UPDATE tickets SET resolution_due = NULL, deadline_gaps = NULL WHERE id = ?", (a.id,)
        )
        uow.commit()
    assert desk_metrics(app, desk.estate, "2027-01", later).timely["resolution"].denominator == 0
    done = app.tickets.recompute(ADMIN, desk.estate, period="2027-01")
    assert (done.changed, done.provisional, done.held) == (1, 0, 0)
    assert app.tickets.get(ADMIN, a.id).deadlines.resolution == datetime(
        2027, 1, 6, 10, 0, tzinfo=SH
    )
    january = desk_metrics(app, desk.estate, "2027-01", later)
    assert (january.timely["resolution"].numerator, january.timely["resolution"].denominator) == (
        0,
        1,
    )
    assert app.tickets.recompute(ADMIN, desk.estate, period="2026-11").examined == 0
    app.close()


def desk_metrics(app: Propcare, estate: int, period: str, as_of: datetime) -> Any:
    year, month = int(period[:4]), int(period[5:])
    start = datetime(year, month, 1, tzinfo=SH)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=SH)
    (row,) = app.ticket_stats.metrics(ADMIN, estate, start, end, as_of=as_of)
    return row


# --- on SQLite --------------------------------------------------------------------------------


@pytest.fixture
def open_app(tmp_path: Path) -> Iterator[OpenApp]:
    """Opens the same SQLite file each time, with the clock of the first opening."""
    url = f"sqlite:///{tmp_path / 'estate.db'}"
    clock = FixedClock(datetime(2026, 12, 31, 9, 0, tzinfo=SH))
    opened: list[Propcare] = []

    def open_(config: Mapping[str, Any]) -> Propcare:
        app = Propcare.open(url, load_entrypoints=False, clock=clock, config=dict(config))
        opened.append(app)
        return app

    yield open_
    for app in opened:
        app.close()


def test_no_deadline_vanishes_in_a_year_without_holiday_data(open_app: OpenApp) -> None:
    scenario_deadlines_never_vanish(open_app)


@pytest.mark.parametrize("strict", [False, True], ids=["provisional", "strict"])
def test_a_passed_deadline_alerts_after_new_year(
    open_app: OpenApp, strict: bool, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "propcare.tickets.service"):
        scenario_alerts_are_never_swallowed(open_app, strict)
    if strict:  # every ticket check_sla could not fully judge is logged with the reason
        assert any("not fully judged" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("strict", [False, True], ids=["provisional", "strict"])
def test_recompute_brings_closed_tickets_up_to_date_once_the_year_is_added(
    open_app: OpenApp, tmp_path: Path, strict: bool
) -> None:
    scenario_recompute_covers_the_past(open_app, tmp_path, strict)


def test_the_strict_setting_must_be_a_known_word(open_app: OpenApp) -> None:
    from propcare.errors import ConfigError

    with pytest.raises(ConfigError, match="sla.missing_holiday_data"):
        open_app({"sla": {"missing_holiday_data": "guess"}})


# --- provisional, then real, equals real from the start ---------------------------------------


def _holiday_file(folder: Path, name: str, years: range) -> str:
    """A calendar file of chinesecalendar's published data for ``years``."""
    cn = china_holidays()
    off = sorted(d for d in cn.days_off if d.year in years)
    on = sorted(d for d in cn.days_on if d.year in years)
    path = folder / f"{name}.toml"
    path.write_text(
        f'name = "{name}"\ncovers = {list(years)}\n'
        f"days_off = [{', '.join(d.isoformat() for d in off)}]\n"
        f"days_on = [{', '.join(d.isoformat() for d in on)}]\n",
        encoding="utf-8",
    )
    return str(path)


# Valid paths through a ticket's life, after the open.
PATHS: tuple[tuple[str, ...], ...] = (
    (),
    ("assign",),
    ("assign", "pause"),
    ("assign", "pause", "resume"),
    ("assign", "arrive", "resolve"),
    ("assign", "resolve", "callback_ok"),
    ("assign", "resolve", "callback_rework"),
    ("assign", "pause", "resume", "resolve", "callback_rework", "resolve", "callback_ok"),
)

tickets_strategy = st.lists(
    st.tuples(
        st.datetimes(min_value=datetime(2025, 12, 1), max_value=datetime(2025, 12, 31, 23)),
        st.sampled_from(["home_repair", "common_repair", "complaint"]),
        st.sampled_from(["normal", "urgent"]),
        st.sampled_from(PATHS),
        st.lists(st.integers(1, 6 * 24 * 60), min_size=7, max_size=7),  # minutes between
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tickets=tickets_strategy, strict=st.booleans())
def test_provisional_then_recomputed_deadlines_equal_those_with_the_data_from_the_start(
    tickets: list[tuple[datetime, str, str, tuple[str, ...], list[int]]], strict: bool
) -> None:
    # Real published data only: chinesecalendar's 2024-2025 first, its 2026 added later.
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        known = _holiday_file(folder, "cn-2024-2025", range(2024, 2026))
        added = _holiday_file(folder, "cn-2026", range(2026, 2027))
        url = f"sqlite:///{folder / 'estate.db'}"
        clock = FixedClock(datetime(2026, 3, 1, 9, 0, tzinfo=SH))
        mode = {"sla": {"missing_holiday_data": "strict" if strict else "provisional"}}
        with Propcare.open(
            url, load_entrypoints=False, clock=clock, config={**mode, **calendars({"file": known})}
        ) as app:
            desk = Desk(app)
            ids = [_live(app, desk, *ticket) for ticket in tickets]
        full = {**mode, **calendars({"file": known}, {"file": added})}
        with Propcare.open(url, load_entrypoints=False, clock=clock, config=full) as app:
            result = app.tickets.recompute(ADMIN, desk.estate)
            assert result.provisional == result.held == 0
            for ticket_id in ids:
                ticket = app.tickets.get(ADMIN, ticket_id)
                policy = app.sla_policies.find(ticket.state.category, ticket.state.priority)
                expected = compute_deadlines(
                    ticket.state, policy, app.calendars, missing=MissingData.RAISE
                )
                assert ticket.deadlines == expected
                assert ticket.policy == policy.name


def _live(
    app: Propcare,
    desk: Desk,
    opened: datetime,
    category: str,
    priority: str,
    path: tuple[str, ...],
    gaps: list[int],
) -> int:
    at = opened.replace(tzinfo=SH)
    ticket = desk.repair(at, category=category, priority=priority)
    tickets = app.tickets
    for step, minutes in zip(path, gaps, strict=False):
        at += timedelta(minutes=minutes)
        if step == "assign":
            tickets.assign(desk.clerk, ticket.id, staff_id=desk.tech_id, at=at)
        elif step == "pause":
            tickets.pause(desk.clerk, ticket.id, "等业主在家", at=at)
        elif step == "resume":
            tickets.resume(desk.clerk, ticket.id, at=at)
        elif step == "arrive":
            tickets.arrive(desk.clerk, ticket.id, at=at)
        elif step == "resolve":
            tickets.resolve(desk.clerk, ticket.id, at=at)
        else:
            fixed = step == "callback_ok"
            tickets.callback(desk.clerk, ticket.id, satisfaction="satisfied", fixed=fixed, at=at)
    return int(ticket.id)


def test_an_appraisal_month_resting_on_provisional_deadlines_is_not_closed(
    open_app: OpenApp, tmp_path: Path
) -> None:
    from propcare.appraisal.kpi import Band, Kpi, Rule
    from propcare.errors import ValidationError

    app = open_app({})
    desk = Desk(app)
    app.appraisal.add_scorecard(
        ADMIN, desk.estate, "technician", effective_from=date(2026, 12, 1),
        kpis=[Kpi("timely_resolution", Decimal(100),
                  Rule("linear", target=Decimal(1), floor=Decimal(0)))],
        bands=[Band("D", Decimal(0), Decimal(60)), Band("A", Decimal(60), Decimal(100))],
    )  # fmt: skip
    eve = datetime(2026, 12, 31, 16, 0, tzinfo=SH)
    leak = desk.repair(eve)
    app.tickets.assign(desk.clerk, leak.id, staff_id=desk.tech_id, at=eve)
    app.tickets.resolve(desk.clerk, leak.id, at=datetime(2027, 1, 5, 10, 0, tzinfo=SH))
    app.clock.set(datetime(2027, 1, 20, 9, 0, tzinfo=SH))  # type: ignore[attr-defined]
    # Closing pays bonuses and is final: not on a deadline still provisional.
    with pytest.raises(ValidationError, match=r"2026-12.*waiting for 2027 holiday data"):
        app.appraisal.close(ADMIN, desk.estate, "2026-12")
    assert app.appraisal.appraise(ADMIN, desk.estate, "2026-12").results  # shown meanwhile
    app.close()
    app = open_app(with_2027(tmp_path))
    app.tickets.recompute(ADMIN, desk.estate)
    closed = app.appraisal.close(ADMIN, desk.estate, "2026-12")
    assert closed.closed
    (result,) = [r for r in closed.results if r.subject_id == desk.tech_id]
    assert result.total == Decimal(100)  # resolved on time by the real 2027 calendar


def test_an_alert_text_says_a_deadline_is_provisional_in_the_staffs_language() -> None:
    from propcare.notify.templates import Templates

    params = {
        "ticket": 7, "name": "赵主管", "target": "resolution", "level": "supervisor",
        "due": "2027-01-04T17:00:00+08:00", "summary": "漏水",
        "provisional": {"zh-CN": "（临时时限：缺少 2027 年节假日数据）",
                        "en": " (provisional: 2027 holiday data missing)"},
    }  # fmt: skip
    _, zh = Templates().render("sla_alert", "zh-CN", params)
    _, en = Templates().render("sla_alert", "en", params)
    assert zh.endswith(
        "时限为2027-01-04T17:00:00+08:00（临时时限：缺少 2027 年节假日数据），请跟进。"
    )
    assert "is 2027-01-04T17:00:00+08:00 (provisional: 2027 holiday data missing). Please" in en
    _, plain = Templates().render("sla_alert", "en", {**params, "provisional": ""})
    assert "+08:00. Please follow up." in plain


def test_holiday_gaps_describe_counts_in_words() -> None:
    from propcare.tickets.record import HolidayGaps

    one = HolidayGaps(tickets=1, provisional=1, years=(2027,))
    assert one.describe("en").startswith("1 deadline provisional: 2027 holiday data missing")
    two = HolidayGaps(tickets=1, provisional=2, held=1, years=(2027, 2028))
    assert two.describe("en").startswith(
        "2 deadlines provisional; 1 deadline held open: 2027, 2028"
    )
    assert two.describe().startswith(
        "2 个临时截止时间，1 个截止时间暂缺：缺少 2027, 2028 年节假日数据"
    )
    assert HolidayGaps().describe() == ""
