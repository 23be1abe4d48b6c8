"""The demo pipeline, called directly: what it builds, that it is repeatable, what it refuses."""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import random
import re
import sqlite3
import subprocess
import sys
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest

from propcare import Actor, Conflict, Ownership, Propcare, ValidationError
from propcare.access import ROLES
from propcare.appraisal.kpi import Scorecard, grade_of
from propcare.appraisal.metrics import BUILTIN
from propcare.appraisal.service import Appraisal
from propcare.appraisal.service import Result as AppraisalResult
from propcare.clock import FixedClock, SystemClock
from propcare.commission.settle import Statement
from propcare.demo import (
    BUILDINGS,
    CATEGORY_SHARES,
    DEMO_STEPS,
    LIVE_DAYS,
    SURNAMES,
    TEAM_PLANS,
    DemoContext,
    DemoOptions,
    DemoResult,
    DemoStep,
    daily_intake,
    is_propcare_database,
    prepare_database,
    run_demo,
    settle_periods,
    sqlite_url,
    team_size,
)
from propcare.registry.model import (
    Building,
    Estate,
    Owner,
    Staff,
    Team,
    TeamKind,
    Unit,
    UnitId,
    UnitUse,
)
from propcare.registry.model import Vendor as VendorRecord
from propcare.reports.monthly import SECTION_KEYS
from propcare.tickets.model import REPAIRS, Category

TODAY = date(2026, 11, 2)
ADMIN = Actor.system()
MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
CHINESE_NAME = re.compile(r"^[\u4e00-\u9fff]{2,4}$")
UNIT_NUMBER = re.compile(r"^(\d+)-(\d+)(\d{2})$")


def _clock_on(day: date) -> FixedClock:
    """A clock at the evening of ``day``, for a demo of a day the machine has not reached."""
    return FixedClock(datetime.combine(day, time(18), tzinfo=ZoneInfo("Asia/Shanghai")))


def options(db: Path, **changes: object) -> DemoOptions:
    settings: dict[str, object] = {"units": 200, "months": 2, "seed": 7, "today": TODAY}
    settings.update(changes)
    return DemoOptions(db=db, **settings)  # type: ignore[arg-type]


@attrs.frozen
class Snapshot:
    """Everything the demo left in its database, read back through the services."""

    estates: list[Estate]
    buildings: list[Building]
    units: list[Unit]
    owners: list[Owner]
    histories: dict[UnitId, list[Ownership]]
    teams: list[Team]
    staff: list[Staff]
    vendors: list[VendorRecord]
    tickets: list[dict[str, Any]]  # the stored columns of every ticket, by id
    messages: dict[str, int]  # outbox messages per topic


def read_back(path: Path) -> Snapshot:
    with Propcare.open(sqlite_url(path), load_entrypoints=False) as app:
        estates = app.estates.list(ADMIN)
        assert len(estates) == 1
        estate_id = estates[0].id
        units = app.estates.units(ADMIN, estate_id)
        return Snapshot(
            estates=estates,
            buildings=app.estates.buildings(ADMIN, estate_id),
            units=units,
            owners=app.owners.list(ADMIN, estate_id),
            histories={u.id: app.owners.history(ADMIN, u.id) for u in units},
            teams=app.staff.teams(ADMIN, estate_id),
            staff=app.staff.list(ADMIN, estate_id),
            vendors=app.vendors.list(ADMIN, estate_id),
            tickets=_ticket_rows(app),
            messages=_topics(app),
        )


def _ticket_rows(app: Propcare) -> list[dict[str, Any]]:
    with app.unit_of_work(readonly=True) as uow:
        conn = uow.connection  # type: ignore[attr-defined]
        return [dict(r) for r in conn.execute("SELECT * FROM tickets ORDER BY id")]


def _topics(app: Propcare) -> dict[str, int]:
    with app.unit_of_work(readonly=True) as uow:
        conn = uow.connection  # type: ignore[attr-defined]
        rows = conn.execute("SELECT topic, COUNT(*) FROM outbox GROUP BY topic")
        return {r[0]: r[1] for r in rows}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoOptions, DemoResult, Snapshot]:
    opts = options(tmp_path_factory.mktemp("demo") / "demo.db")
    result = run_demo(opts)
    return opts, result, read_back(opts.db)


# --- what it builds -------------------------------------------------------------------


def test_counts_match_the_options(built: tuple[DemoOptions, DemoResult, Snapshot]) -> None:
    opts, result, estate = built
    assert result.db_path == opts.db and opts.db.exists()
    assert len(estate.buildings) == BUILDINGS == 10
    assert len(estate.units) == opts.units
    per_building = {b.id: 0 for b in estate.buildings}
    for unit in estate.units:
        per_building[unit.building_id] += 1
    assert set(per_building.values()) == {opts.units // BUILDINGS}
    handed_over = [u for u in estate.units if u.handover_date is not None]
    changed = [h for h in estate.histories.values() if len(h) == 2]
    assert len(estate.owners) == len(handed_over) + len(changed)


def test_units_are_numbered_building_floor_room_with_realistic_areas(
    built: tuple[DemoOptions, DemoResult, Snapshot],
) -> None:
    _, _, estate = built
    building_number = {b.id: int(b.name.removesuffix("号楼")) for b in estate.buildings}
    assert sorted(building_number.values()) == list(range(1, 11))
    shops = 0
    for unit in estate.units:
        match = UNIT_NUMBER.match(unit.number)
        assert match, unit.number
        assert int(match[1]) == building_number[unit.building_id]
        floor = int(match[2])
        assert 1 <= floor <= 33 and int(match[3]) >= 1
        assert Decimal(60) <= unit.floor_area <= Decimal(180)
        assert unit.floor_area.as_tuple().exponent == -2
        if unit.use == UnitUse.SHOP:
            shops += 1
            assert floor == 1, f"shop {unit.number} is not on the ground floor"
        else:
            assert unit.use == UnitUse.RESIDENTIAL
    assert 0 < shops < len(estate.units) // 10


def test_most_units_were_handed_over_in_the_past_a_few_not_yet(
    built: tuple[DemoOptions, DemoResult, Snapshot],
) -> None:
    opts, _, estate = built
    waiting = [u for u in estate.units if u.handover_date is None]
    assert 1 <= len(waiting) <= len(estate.units) // 20
    for unit in estate.units:
        if unit.handover_date is not None:
            assert unit.handover_date <= opts.today
            assert estate.histories[unit.id], f"handed-over unit {unit.number} has no owner"
        else:
            assert estate.histories[unit.id] == [], "an unsold unit has no owner yet"


def test_owners_have_chinese_names_and_distinct_valid_mobiles(
    built: tuple[DemoOptions, DemoResult, Snapshot],
) -> None:
    _, _, estate = built
    surnames = {s for s, _ in SURNAMES}
    phones: list[str] = []
    for owner in estate.owners:
        assert CHINESE_NAME.match(owner.name), owner.name
        assert owner.name[:1] in surnames or owner.name[:2] in surnames
        assert owner.phones
        phones.extend(p.reveal() for p in owner.phones)
    assert all(MOBILE.match(p) for p in phones)
    assert len(set(phones)) == len(phones)
    with_id = [o for o in estate.owners if o.id_card is not None]
    assert 0 < len(with_id) < len(estate.owners)


def test_every_ownership_starts_at_handover_and_changes_keep_history(
    built: tuple[DemoOptions, DemoResult, Snapshot],
) -> None:
    opts, _, estate = built
    units = {u.id: u for u in estate.units}
    changes = 0
    for unit_id, history in estate.histories.items():
        if not history:
            continue
        assert history[0].start == units[unit_id].handover_date
        assert history[-1].end is None
        assert len(history) <= 2
        if len(history) == 2:
            changes += 1
            first, second = history
            assert first.owner_id != second.owner_id
            assert first.end == second.start
            assert first.start < second.start <= opts.today
    assert changes >= 1


def test_every_staff_member_is_in_a_team_of_the_estate_sized_by_units(
    built: tuple[DemoOptions, DemoResult, Snapshot],
) -> None:
    opts, _, estate = built
    teams = {t.id: t for t in estate.teams}
    assert {t.kind for t in estate.teams} >= {
        TeamKind.FRONT_DESK,
        TeamKind.REPAIR,
        TeamKind.CLEANING,
        TeamKind.COLLECTION,
        TeamKind.SECURITY,
    }
    for member in estate.staff:
        assert member.team_id in teams
        assert teams[member.team_id].estate_id == member.estate_id == estate.estates[0].id
        assert member.roles <= set(ROLES)
        assert member.active_from <= opts.period_start
    for plan in TEAM_PLANS:
        team = next(t for t in estate.teams if t.name == plan.name)
        members = [s for s in estate.staff if s.team_id == team.id]
        assert len(members) == team_size(plan, opts.units) + 1  # and the leader
    clerks = [s for s in estate.staff if s.roles == {"front_desk"}]
    technicians = [s for s in estate.staff if s.roles == {"technician"}]
    collectors = [s for s in estate.staff if s.roles == {"collector"}]
    assert len(clerks) == math.ceil(opts.units / 250)
    assert len(collectors) == math.ceil(opts.units / 300)
    assert len(technicians) >= math.ceil(opts.units / 200)
    assert len({s.name for s in estate.staff}) == len(estate.staff)


def test_vendors_include_outsourced_cleaning_and_lift_maintenance(
    built: tuple[DemoOptions, DemoResult, Snapshot],
) -> None:
    _, _, estate = built
    assert {v.service for v in estate.vendors} == {"cleaning", "lift maintenance"}


def test_staff_grow_with_the_estate() -> None:
    small = {p.name: team_size(p, 10) for p in TEAM_PLANS}
    large = {p.name: team_size(p, 2000) for p in TEAM_PLANS}
    assert all(n == 1 for n in small.values())
    assert large["客服中心"] == 8 and large["工程维修部"] == 10 and large["收费组"] == 7


def test_summary_names_the_figures_and_masks_phones(
    built: tuple[DemoOptions, DemoResult, Snapshot],
) -> None:
    opts, result, estate = built
    lines = {line.label: line.value for line in result.summary}
    assert lines["Buildings 楼栋"] == "10"
    assert lines["Units 房屋"].startswith(f"{opts.units:,} ")
    assert lines["Owners 业主"] == f"{len(estate.owners):,}"
    assert lines["Database 数据库"] == str(opts.db)
    area = sum((u.floor_area for u in estate.units), Decimal(0))
    assert lines["Total floor area 建筑面积"] == f"{area:,.2f} m²"
    text = "\n".join(f"{line.label} {line.value}" for line in result.summary)
    assert re.search(r"1[3-9]\d\*{4}\d{4}", lines["Sample owner 业主示例"])
    every_phone = [p.reveal() for o in estate.owners for p in o.phones]
    every_phone += [s.phone.reveal() for s in estate.staff if s.phone is not None]
    assert not [p for p in every_phone if p in text]


# --- tickets ------------------------------------------------------------------------------

SH = ZoneInfo("Asia/Shanghai")


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(SH)


def test_tickets_come_in_at_the_rates_of_a_front_desk(
    built: tuple[DemoOptions, DemoResult, Snapshot],
) -> None:
    opts, _, estate = built
    days = (opts.today - opts.period_start).days
    expected = daily_intake(opts.units) * days  # 100 a day for 5,000 units, in proportion
    assert daily_intake(5_000) == 100 and daily_intake(2_000) == 40
    assert 0.8 * expected <= len(estate.tickets) <= 1.2 * expected
    start = datetime.combine(opts.period_start, datetime.min.time(), SH)
    end = datetime.combine(opts.today, datetime.min.time(), SH)
    assert all(start <= _when(t["opened_at"]) < end for t in estate.tickets)
    by_category = {c.value: 0 for c in Category}
    for t in estate.tickets:
        by_category[t["category"]] += 1
    repairs = sum(by_category[c.value] for c in REPAIRS)
    # Repairs most, then consultations; complaints few, praise rare.
    assert repairs > by_category["consultation"] > by_category["complaint"]
    assert by_category["complaint"] > by_category["praise"]
    for category, share in CATEGORY_SHARES:
        assert abs(by_category[category.value] / len(estate.tickets) - share / 100) < 0.06
    channels = {t["channel"] for t in estate.tickets}
    assert channels == {"phone", "visit", "online", "patrol", "letter_box"}
    priorities = [t["priority"] for t in estate.tickets]
    assert priorities.count("normal") > 0.85 * len(priorities)
    assert priorities.count("urgent") > priorities.count("emergency")


def test_tickets_are_worked_through_their_whole_lifecycle(
    built: tuple[DemoOptions, DemoResult, Snapshot],
) -> None:
    _, _, estate = built
    statuses = {t["status"] for t in estate.tickets}
    assert {"closed", "resolved", "cancelled"} <= statuses
    closed = sum(t["status"] == "closed" for t in estate.tickets)
    still_open = sum(t["status"] not in ("closed", "cancelled") for t in estate.tickets)
    assert closed > 0.7 * len(estate.tickets)
    assert 0 < still_open < 0.25 * len(estate.tickets)  # a few still open at the end
    reworked = [t for t in estate.tickets if t["rework_count"] > 0]
    resolved = [t for t in estate.tickets if t["resolved_at"] or t["rework_count"]]
    assert 0.01 <= len(reworked) / len(resolved) <= 0.09  # 返修 about 3-5%
    needing = [t for t in resolved if t["needs_callback"]]
    called = [t for t in needing if t["callback_at"]]
    assert 0.8 <= len(called) / len(needing) <= 0.97  # 回访率 about 89%
    repairs = [t for t in estate.tickets if t["category"] in {c.value for c in REPAIRS}]
    rated = [t["satisfaction"] for t in repairs if t["satisfaction"]]
    happy = sum(s != "dissatisfied" for s in rated)
    assert 0.55 <= happy / len(rated) <= 0.85  # repair satisfaction about 70%
    states = [json.loads(t["state"]) for t in estate.tickets]
    assert any(s["pauses"] for s in states)
    assert any(s["charges"] for s in states)
    outside = [o for s in states for o in s["outside"]]
    assert outside and sum(o["done_at"] is not None for o in outside) < len(outside)
    # Work happens mostly in office hours, responses within minutes.
    arrived = [_when(t["arrived_at"]) for t in estate.tickets if t["arrived_at"]]
    in_hours = [a for a in arrived if a.weekday() < 5 and 9 <= a.hour < 18]
    assert len(in_hours) > 0.8 * len(arrived)


def test_history_is_imported_and_the_last_days_entered_live(
    built: tuple[DemoOptions, DemoResult, Snapshot],
) -> None:
    opts, result, estate = built
    cutoff = datetime.combine(opts.today - timedelta(days=LIVE_DAYS), datetime.min.time(), SH)
    before = [t for t in estate.tickets if _when(t["opened_at"]) < cutoff]
    assert estate.messages["ticket.imported"] == 1  # one event for the whole import
    with (
        Propcare.open(sqlite_url(opts.db), load_entrypoints=False) as app,
        app.unit_of_work(readonly=True) as uow,
    ):
        (imported,) = uow.outbox.messages("ticket.imported")
        changed = uow.outbox.messages("ticket.changed")
    live_opens = [m for m in changed if m.payload["action"] == "open"]
    assert imported.payload["count"] == len(before)
    assert [m.payload["ticket_id"] for m in live_opens] == [
        t["id"] for t in estate.tickets if _when(t["opened_at"]) >= cutoff
    ]
    assert live_opens, "the last days go through the live service"
    # Older tickets were worked on live too: their later events are ticket.changed messages.
    assert estate.messages["ticket.changed"] > len(live_opens)
    lines = {line.label: line.value for line in result.summary}
    assert lines["Tickets 工单"] == f"{len(estate.tickets):,}"
    assert lines["  history imported 历史导入"].startswith(f"{len(before):,} tickets")


def test_the_statistics_of_the_last_month_are_printed(
    built: tuple[DemoOptions, DemoResult, Snapshot],
) -> None:
    opts, result, _ = built
    lines = {line.label: line.value for line in result.summary}
    end = datetime.combine(opts.today, datetime.min.time(), SH)  # 2026-11-02: October
    start, stop = datetime(2026, 10, 1, tzinfo=SH), datetime(2026, 11, 1, tzinfo=SH)
    with Propcare.open(sqlite_url(opts.db), load_entrypoints=False) as app:
        (estate,) = app.estates.list(ADMIN)
        (m,) = app.ticket_stats.metrics(ADMIN, estate.id, start, stop, as_of=end)
        (p,) = app.ticket_stats.metrics(ADMIN, estate.id, start, stop, as_of=end, source="patrol")
    assert m.opened > 0 and p.opened > 0
    assert lines["Month 月统计"] == (
        f"2026-10, intake 受理: opened {m.opened:,}, closed {m.closed:,}, "
        f"cancelled {m.cancelled:,}, still open {m.open_now:,}"
    )
    assert lines["  patrol and plans 巡查/计划"].startswith(
        f"opened {p.opened:,}, closed {p.closed:,}, still open {p.open_now:,}; timely 响应 "
    )
    assert "巡查" not in lines["  by channel 渠道"]  # patrol findings are not intake
    by_category = lines["  by category 分类"].split(" · ")
    assert len(by_category) == 7  # the seven categories of 月统计
    assert by_category[0] == f"咨询 {m.by_category['consultation']:,}"
    assert f"居家维修 {m.by_category['home_repair']:,}" in by_category
    assert lines["  by channel 渠道"].split(" · ")[0] == f"电话 {m.by_channel['phone']:,}"
    assert lines["  timely 及时率"].startswith("响应 ")
    assert lines["  timely 及时率"].count("%") == 4
    for label, rate in (
        ("  rework 返修率", m.rework),
        ("  callback 回访率", m.callback),
        ("  satisfaction 满意率", m.satisfaction),
        ("  complaints resolved 投诉处理率", m.complaint_resolution),
    ):
        assert rate.value is not None
        assert lines[label] == (
            f"{rate.value * 100:.1f}% ({rate.numerator:,}/{rate.denominator:,})"
        )
    assert lines["  outside work orders 外部派单"] == (
        f"{m.outside_dispatched} sent, {m.outside_completed} done"
    )


# --- repeatable -------------------------------------------------------------------------


def _fingerprint(estate: Snapshot) -> tuple[object, ...]:
    return (
        [(u.number, u.floor_area, u.use, u.handover_date) for u in estate.units],
        [o.name for o in estate.owners],
        [tuple(p.reveal() for p in o.phones) for o in estate.owners],
        [(s.name, sorted(s.roles)) for s in estate.staff],
        [{k: v for k, v in t.items() if k != "state"} for t in estate.tickets],
        [json.loads(t["state"]) for t in estate.tickets],
    )


def test_same_seed_builds_the_same_estate_another_seed_another(
    tmp_path: Path, built: tuple[DemoOptions, DemoResult, Snapshot]
) -> None:
    opts, _, first = built
    run_demo(attrs.evolve(opts, db=tmp_path / "again.db"))
    again = read_back(tmp_path / "again.db")
    assert _fingerprint(again) == _fingerprint(first)

    run_demo(attrs.evolve(opts, db=tmp_path / "other.db", seed=opts.seed + 1))
    other = read_back(tmp_path / "other.db")
    assert [u.floor_area for u in other.units] != [u.floor_area for u in first.units]
    assert [o.name for o in other.owners] != [o.name for o in first.owners]
    assert [t["opened_at"] for t in other.tickets] != [t["opened_at"] for t in first.tickets]


def test_business_dates_follow_the_today_option(
    tmp_path: Path, built: tuple[DemoOptions, DemoResult, Snapshot]
) -> None:
    opts, _, first = built
    later = date(2027, 3, 1)
    # The clock on that day too: the demo takes payments up to its today, and money is
    # never dated ahead of the clock (issue 15).
    run_demo(attrs.evolve(opts, db=tmp_path / "later.db", today=later, clock=_clock_on(later)))
    moved = read_back(tmp_path / "later.db")
    shift = later - opts.today
    for a, b in zip(first.units, moved.units, strict=True):
        assert a.number == b.number
        if a.handover_date is None:
            assert b.handover_date is None
        else:
            assert b.handover_date == a.handover_date + shift


# --- the database file ------------------------------------------------------------------


def test_refuses_to_delete_a_file_that_is_not_a_propcare_database(tmp_path: Path) -> None:
    notes = tmp_path / "notes.db"
    notes.write_bytes(b"my own notes, not a database")
    with pytest.raises(Conflict, match="not a propcare database"):
        run_demo(options(notes))
    assert notes.read_bytes() == b"my own notes, not a database"

    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE mine (x INTEGER)")
        conn.execute("INSERT INTO mine VALUES (42)")
    conn.close()
    with pytest.raises(Conflict):
        run_demo(options(other))
    with sqlite3.connect(other) as conn:
        assert conn.execute("SELECT x FROM mine").fetchall() == [(42,)]
    conn.close()
    assert not is_propcare_database(other)


def test_replaces_an_earlier_demo_database(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    run_demo(options(db, units=100, seed=1))
    assert is_propcare_database(db)
    # Journals left behind by a crash must not leak into the new database.
    Path(f"{db}-wal").write_bytes(b"stale")
    Path(f"{db}-shm").write_bytes(b"stale")
    run_demo(options(db, units=50, seed=2))
    fresh = tmp_path / "fresh.db"
    run_demo(options(fresh, units=50, seed=2))
    replaced = read_back(db)
    assert len(replaced.units) == 50
    assert _fingerprint(replaced) == _fingerprint(read_back(fresh))


def test_clearing_the_way_removes_the_old_database_and_its_journals(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    run_demo(options(db, units=10))
    journals = [Path(f"{db}{suffix}") for suffix in ("-wal", "-shm", "-journal")]
    for journal in journals:
        journal.write_bytes(b"stale")
    prepare_database(db)
    assert not db.exists()
    assert not [j for j in journals if j.exists()]


def test_refuses_a_folder_or_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="folder"):
        run_demo(options(tmp_path))
    with pytest.raises(ValidationError, match="does not exist"):
        run_demo(options(tmp_path / "missing" / "demo.db"))
    assert not (tmp_path / "missing").exists()


# --- options ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("units", 0, "must be a positive integer"),
        ("units", 9, "10 buildings"),
        ("units", True, "must be a positive integer"),
        ("months", 0, "from 1 to 36"),
        ("months", 37, "from 1 to 36"),
        ("seed", "7", "must be an integer"),
    ],
)
def test_options_are_checked(tmp_path: Path, field: str, value: object, rule: str) -> None:
    with pytest.raises(ValidationError, match=rule) as caught:
        options(tmp_path / "x.db", **{field: value})
    assert caught.value.field == field


def test_db_may_be_a_path_or_an_sqlite_url_but_not_memory_or_a_server(tmp_path: Path) -> None:
    assert DemoOptions(db="x.db", today=TODAY).db == Path("x.db")
    assert DemoOptions(db=f"sqlite:///{tmp_path}/x.db", today=TODAY).db == tmp_path / "x.db"
    with pytest.raises(ValidationError, match="on disk"):
        DemoOptions(db="sqlite://:memory:", today=TODAY)
    with pytest.raises(ValidationError, match="SQLite file"):
        DemoOptions(db="postgresql://localhost/propcare", today=TODAY)


def test_sqlite_url_of_relative_and_absolute_paths() -> None:
    assert sqlite_url("x.db") == "sqlite:///x.db"
    assert sqlite_url(Path("/tmp/x.db")) == "sqlite:////tmp/x.db"


def test_period_starts_months_before_today() -> None:
    assert DemoOptions(db="x.db", months=3, today=date(2026, 5, 31)).period_start == date(
        2026, 2, 28
    )


# --- the pipeline ------------------------------------------------------------------------


def test_a_later_step_sees_what_earlier_steps_built_and_adds_summary_lines(
    tmp_path: Path,
) -> None:
    seen: list[tuple[int, int]] = []

    def count_owned(ctx: DemoContext) -> None:
        seen.append((len(ctx.units), len(ctx.owners)))
        ctx.report("Owned units 已售", sum(1 for u in ctx.units if u.handover_date))

    calls: list[tuple[int, int, str | None]] = []
    steps = (*DEMO_STEPS, DemoStep("owned", count_owned, "Owned units"))
    result = run_demo(
        options(tmp_path / "d.db", units=20),
        progress=lambda done, total, title: calls.append((done, total, title)),
        steps=steps,
    )
    assert seen and seen[0][0] == 20
    assert any(line.label == "Owned units 已售" for line in result.summary)
    titles = [s.title for s in steps]
    assert calls == [(i, len(steps), t) for i, t in enumerate(titles)] + [
        (len(steps), len(steps), None)
    ]


def test_step_names_are_unique(tmp_path: Path) -> None:
    assert len({s.name for s in DEMO_STEPS}) == len(DEMO_STEPS)
    twice = (*DEMO_STEPS, DEMO_STEPS[0])
    with pytest.raises(ValidationError, match="share a name"):
        run_demo(options(tmp_path / "d.db"), steps=twice)
    assert not (tmp_path / "d.db").exists()


def test_report_updates_a_line_in_place(tmp_path: Path) -> None:
    with Propcare.open("sqlite://:memory:", load_entrypoints=False) as app:
        ctx = DemoContext(app, ADMIN, random.Random(1), options(tmp_path / "x.db"))
        ctx.report("A", 1)
        ctx.report("B", 2)
        ctx.report("A", 3)
        assert [(line.label, line.value) for line in ctx.summary] == [("A", "3"), ("B", "2")]
        with pytest.raises(RuntimeError, match="estate"):
            _ = ctx.estate


def test_the_pipeline_needs_neither_click_nor_rich() -> None:
    code = (
        "import sys, propcare.demo; "
        "bad = {'click', 'rich'} & {m.split('.')[0] for m in sys.modules}; "
        "sys.exit(f'imported {bad}' if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_year_without_holiday_data_is_reported_once_not_warned_per_ticket(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    today = date(2027, 2, 1)
    with caplog.at_level("WARNING"):
        result = run_demo(
            options(tmp_path / "d.db", units=50, months=1, today=today, clock=_clock_on(today))
        )
    # No warning a ticket: the tickets carry the flag, the summary says it once.
    assert not [r for r in caplog.records if "ticket deadlines" in r.getMessage()]
    lines = {line.label: line.value for line in result.summary}
    count, reason = lines["  provisional deadlines 临时截止时间"].split(" tickets: ", 1)
    assert int(count.replace(",", "")) > 0
    assert "2027 holiday data missing" in reason and "add-next-years-holidays.md" in reason
    with Propcare.open(sqlite_url(tmp_path / "d.db"), load_entrypoints=False) as app:
        (estate,) = app.estates.list(Actor.system())
        gaps = app.tickets.holiday_gaps(Actor.system(), estate.id)
    assert gaps.tickets == int(count.replace(",", "")) and gaps.years == (2027,)


# --- fees, payments and collection ------------------------------------------------------

MASKED = re.compile(r"1[3-9]\d\*{4}\d{4}")


def _ledger_rows(path: Path) -> list[tuple[object, ...]]:
    """Every posting but its time (a bill run is dated when it ran, by the clock)."""
    with (
        Propcare.open(sqlite_url(path), load_entrypoints=False) as app,
        app.unit_of_work(readonly=True) as uow,
    ):
        conn = uow.connection  # type: ignore[attr-defined]
        rows = conn.execute(
            "SELECT e.kind, p.account, p.sub, p.unit_id, p.fee_item, p.period, p.amount_fen, "
            "CASE WHEN e.kind = 'bill' THEN '' ELSE p.at END "
            "FROM postings p JOIN journal_entries e ON e.id = p.entry_id ORDER BY p.id"
        )
        return [tuple(r) for r in rows]


def _lines(result: DemoResult) -> dict[str, str]:
    return {line.label: line.value for line in result.summary}


def test_bills_every_month_of_the_period_and_the_two_years_before(
    built: tuple[DemoOptions, DemoResult, Snapshot],
) -> None:
    opts, result, estate = built
    first = f"{opts.period_start.year - 2}-{opts.period_start.month:02d}"
    with Propcare.open(result.url, load_entrypoints=False) as app:
        items = {i.code: i for i in app.billing.fee_items(ADMIN, result.estate_id)}
        assert items["property"].rates["residential"] == Decimal("2.50")
        assert items["property"].rates["shop"] == Decimal("6.80")
        periods = {
            b.period
            for u in estate.units
            if u.handover_date
            for b in app.billing.bills(ADMIN, u.id)
        }
    assert min(periods) == first
    assert max(periods) == f"{opts.today:%Y-%m}"
    assert f"monthly runs {first} – {opts.today:%Y-%m}" in _lines(result)["Bills 账单"]
    # Each month is billed on its first morning (09:00), so a report as of a past day sees
    # the bills that stood then: nothing before the first run, its bills just after, not
    # due yet (a bill is due on the 16th): no arrears until the day after that.
    opening = datetime.combine(date.fromisoformat(f"{first}-01"), time(9), tzinfo=SH)
    with Propcare.open(result.url, load_entrypoints=False) as app:
        aging = functools.partial(app.arrears.aging, ADMIN, result.estate_id)
        before = aging(as_of=opening - timedelta(hours=1), include_not_due=True)
        after = aging(as_of=opening + timedelta(hours=1), include_not_due=True)
        due_day = aging(as_of=opening + timedelta(days=15, hours=14))  # the 16th, 23:00
        overdue = aging(as_of=opening + timedelta(days=16))
    assert sum(a for _b, a in before) == 0 < sum(a for _b, a in after)
    assert after[0][0] == "not_due" and sum(a for _b, a in after[1:]) == 0
    assert sum(a for _b, a in due_day) == 0 < sum(a for _b, a in overdue)


def test_the_collection_rate_printed_is_the_services_and_realistic(
    built: tuple[DemoOptions, DemoResult, Snapshot],
) -> None:
    opts, result, _ = built
    period = f"{opts.today.replace(day=1) - timedelta(days=1):%Y-%m}"
    lines = _lines(result)
    with Propcare.open(result.url, load_entrypoints=False) as app:
        (whole,) = app.arrears.collection_rate(ADMIN, result.estate_id, period)
        by_building = app.arrears.collection_rate(
            ADMIN, result.estate_id, period, group_by="building"
        )
    assert whole.rate is not None
    assert Decimal("0.65") <= whole.rate <= Decimal("0.95")
    printed = lines[f"Collection rate 收缴率 {period}"]
    # Labelled: cash over billed, the credits beside it, and the cut-off (the month's end).
    last_day = opts.today.replace(day=1) - timedelta(days=1)
    assert printed == (
        f"{whole.rate * 100:.1f}% (cash {whole.cash:,.2f}/{whole.billed:,.2f} 元; credits "
        f"{whole.credits:,.2f} 元 not counted; as of {last_day} 23:59)"
    )
    for rate in by_building:
        assert rate.rate is not None
        assert f"{rate.group} {rate.rate * 100:.1f}%" in lines["  by building 分楼栋"]


def test_some_owners_are_years_in_arrears_and_old_arrears_are_recovered(
    built: tuple[DemoOptions, DemoResult, Snapshot],
) -> None:
    opts, result, _ = built
    tz = ZoneInfo("Asia/Shanghai")
    start = datetime(opts.period_start.year, opts.period_start.month, opts.period_start.day,
                     tzinfo=tz)  # fmt: skip
    end = datetime(opts.today.year, opts.today.month, opts.today.day, tzinfo=tz)
    with Propcare.open(result.url, load_entrypoints=False) as app:
        roster = app.arrears.roster(ADMIN, result.estate_id)
        recovered = app.arrears.recovery(ADMIN, result.estate_id, start, end)
        aging = app.arrears.aging(ADMIN, result.estate_id)
    assert any(len(line.years) >= 3 for line in roster)  # billed two years back, never paid
    amount = sum((fen for _, fen in recovered), Decimal(0))
    assert amount > 0
    assert _lines(result)["Arrears recovered 历史欠费清缴"].startswith(f"{amount:,.2f} 元")
    assert sum(v for _, v in aging) == sum(line.amount for line in roster)


def test_the_roster_head_shows_masked_phones_only(
    built: tuple[DemoOptions, DemoResult, Snapshot],
) -> None:
    _, result, estate = built
    lines = _lines(result)
    head = [lines[f"  {i}."] for i in range(1, 6)]
    with Propcare.open(result.url, load_entrypoints=False) as app:
        roster = app.arrears.roster(ADMIN, result.estate_id)[:5]
    every_phone = [p.reveal() for o in estate.owners for p in o.phones]
    for printed, line in zip(head, roster, strict=True):
        assert MASKED.search(printed)
        assert printed.startswith(f"{line.building} {line.unit} {line.owner} {line.phone} ")
        assert printed.split()[3] == line.phone
        assert f"{line.amount:,.2f} 元" in printed
        assert f"{len(line.periods)} months" in printed
        assert not [p for p in every_phone if p in printed]
    assert any("last 催缴 20" in printed for printed in head)


def test_dunning_and_deposits_go_through_the_services(
    built: tuple[DemoOptions, DemoResult, Snapshot],
) -> None:
    _, result, _ = built
    with Propcare.open(result.url, load_entrypoints=False) as app:
        roster = app.arrears.roster(ADMIN, result.estate_id)
        held = app.deposits.held(ADMIN, result.estate_id)
    dunned = [line for line in roster if line.last_attempt]
    assert dunned
    assert all(line.collector_staff_id is not None for line in roster)
    assert len(held) == 1
    assert "refunded (450.00 元 kept" in _lines(result)["Deposits 装修押金"]
    assert re.search(r"\d+ visits and calls, [1-9]\d* SMS", _lines(result)["Dunning 催缴"])


def test_the_books_balance(built: tuple[DemoOptions, DemoResult, Snapshot]) -> None:
    from propcare.ledger.accounts import DEBIT_NORMAL, Account

    _, result, _ = built
    with Propcare.open(result.url, load_entrypoints=False) as app:
        balances = app.ledger.trial_balance(ADMIN, result.estate_id)
    assert balances
    net = sum(
        (
            v if Account(name.split(":", 1)[0]) in DEBIT_NORMAL else -v
            for name, v in balances.items()
        ),
        Decimal(0),
    )
    assert net == 0


def test_the_same_seed_bills_and_collects_the_same(
    tmp_path: Path, built: tuple[DemoOptions, DemoResult, Snapshot]
) -> None:
    opts, result, _ = built
    again = run_demo(attrs.evolve(opts, db=tmp_path / "again.db"))
    assert _ledger_rows(tmp_path / "again.db") == _ledger_rows(opts.db)
    labels = [label for label in _lines(result) if "收缴率" in label or "欠费" in label]
    assert labels
    for label in labels:
        assert _lines(again)[label] == _lines(result)[label]
    settled = [(s.staff_id, s.period, s.lines, s.inputs) for s in _statements(result)]
    assert [(s.staff_id, s.period, s.lines, s.inputs) for s in _statements(again)] == settled
    run_demo(attrs.evolve(opts, db=tmp_path / "other.db", seed=opts.seed + 1))
    assert _ledger_rows(tmp_path / "other.db") != _ledger_rows(opts.db)


# --- commission (提成) ----------------------------------------------------------------------

SETTLED = "2026-10"  # TODAY 2026-11-02 and 2 months: the period's one whole month before today


def _collectors(estate: Snapshot) -> list[Staff]:
    return [s for s in estate.staff if "collector" in s.roles]


def _statements(result: DemoResult) -> list[Statement]:
    with Propcare.open(result.url, load_entrypoints=False) as app:
        return app.commission.statements(ADMIN, result.estate_id)


@pytest.mark.parametrize(
    ("start", "today", "open_month", "expected"),
    [
        (date(2026, 9, 2), date(2026, 11, 2), "2026-11", ["2026-10"]),  # Sep begun before
        (date(2026, 9, 1), date(2026, 11, 1), "2026-11", ["2026-09", "2026-10"]),
        (date(2026, 8, 28), date(2026, 11, 28), "2026-12", ["2026-09", "2026-10"]),
        (date(2026, 10, 2), date(2026, 11, 2), "2026-11", ["2026-10"]),  # the month before
        (date(2025, 12, 15), date(2026, 3, 15), "2026-02", ["2026-01"]),  # the clock's month
        (date(2026, 12, 1), date(2027, 2, 1), "2026-11", []),  # the clock is behind today
    ],
)
def test_commission_settles_the_whole_months_the_clock_has_closed(
    start: date, today: date, open_month: str, expected: list[str]
) -> None:
    assert settle_periods(start, today, open_month) == expected


def test_commission_plan_and_targets_are_set_for_the_collectors(
    built: tuple[DemoOptions, DemoResult, Snapshot],
) -> None:
    opts, result, estate = built
    assert settle_periods(opts.period_start, opts.today, f"{datetime.now(SH):%Y-%m}") == [SETTLED]
    with Propcare.open(result.url, load_entrypoints=False) as app:
        (plan,) = app.commission.plans(ADMIN, result.estate_id)
        targets = app.commission.targets(ADMIN, result.estate_id, SETTLED)
        assignments = app.collection.collector_of
        billed: dict[int, Decimal] = {}
        for unit in estate.units:
            staff_id = assignments(ADMIN, unit.id, date(2026, 10, 1))
            assert staff_id is not None
            for bill in app.billing.bills(ADMIN, unit.id):
                if bill.period == SETTLED:
                    billed[staff_id] = (
                        billed.get(staff_id, Decimal(0)) + Decimal(bill.amount_fen) / 100
                    )
    assert plan.role == "collector" and plan.kind == "tiered"
    assert plan.effective_from == date(2026, 10, 1)
    assert (plan.floor_fen, plan.cap_fen) == (30_000, 300_000)
    assert plan.params["visit_rule"] == "multiplier" and plan.params["mode"] == "marginal"
    assert plan.params["tiers"][-1]["to"] is None
    assert Decimal(plan.params["tiers"][-1]["factor"]) > 1  # the accelerator above 100%
    collectors = _collectors(estate)
    assert set(targets) == {s.id for s in collectors}
    for staff in collectors:
        amount, households = targets[staff.id]
        assert households is None and amount is not None
        assert abs(amount - billed[staff.id] * Decimal("0.8")) <= 50  # in hundreds of yuan


def test_commission_is_settled_for_every_collector_and_adds_up(
    built: tuple[DemoOptions, DemoResult, Snapshot],
) -> None:
    _, result, estate = built
    statements = _statements(result)
    assert sorted((s.staff_id, s.period, s.sequence) for s in statements) == sorted(
        (s.id, SETTLED, 0) for s in _collectors(estate)
    )
    for statement in statements:
        assert statement.lines
        assert statement.total_fen == sum(line.commission_fen for line in statement.lines)
        assert statement.total == Decimal(statement.total_fen) / 100
        assert statement.inputs["visits"], "the collectors visited door to door in the month"
        kinds = {line.kind for line in statement.lines}
        assert kinds <= {"collection", "weekly", "floor", "cap"}
        assert "weekly" in kinds  # the household quota: a reward or a penalty every week
    attainments = {Decimal(s.inputs["attainment"]) for s in statements}
    assert len(attainments) == len(statements)  # each collector's own month
    assert min(attainments) < 1 < max(attainments)  # around the target


def test_old_arrears_pay_the_highest_rate(built: tuple[DemoOptions, DemoResult, Snapshot]) -> None:
    _, result, _ = built
    rates: dict[str, set[Decimal]] = {}
    for statement in _statements(result):
        for line in statement.lines:
            if line.kind != "collection":
                continue
            rates.setdefault(line.basis, set()).add(line.rate)
            if line.basis == "old_arrears":
                assert line.period[:4] < SETTLED[:4]  # a bill of an earlier year (历史欠费)
    assert rates["old_arrears"] == {Decimal("3.0")}
    assert rates["current"] == {Decimal("1.0")}
    assert rates.get("arrears", {Decimal("1.5")}) == {Decimal("1.5")}
    assert max(rates["current"] | rates.get("arrears", set())) < min(rates["old_arrears"])


def test_the_commission_printed_is_the_services(
    built: tuple[DemoOptions, DemoResult, Snapshot],
) -> None:
    _, result, estate = built
    lines = _lines(result)
    statements = _statements(result)
    names = {s.id: s.name for s in estate.staff}
    assert lines["Commission 提成"].startswith("收费员提成: ")
    assert lines["  settled 已结算"].startswith(f"{SETTLED} – {SETTLED} (1 month, in order): ")
    assert re.fullmatch(
        r"× visit completion \(2 visits 上门 a working day; \d+ logged\) · \d+ households? a week "
        r"\+50/−30 元 · floor 300, cap 3,000 元",
        lines["  quotas 考核"],
    )
    total = sum((s.total for s in statements), Decimal(0))
    assert f"{len(statements)} statements, {total:,.2f} 元" in lines["  settled 已结算"]
    assert lines[f"Commission {SETTLED} 提成"] == (
        f"{total:,.2f} 元 for {len(statements)} collectors"
    )
    for statement in statements:
        attainment = Decimal(statement.inputs["attainment"]) * 100
        assert lines[f"  {names[statement.staff_id]}"] == (
            f"attainment 达成率 {attainment:.1f}% · {statement.total:,.2f} 元 · "
            f"{len(statement.lines)} lines"
        )
    labels = list(lines)
    at = labels.index(f"Commission {SETTLED} 提成")
    assert labels[at + 1 : at + 1 + len(statements)] == [
        f"  {names[s.staff_id]}" for s in _collector_order(estate, statements)
    ]
    # The example: the first old-arrears line of the collectors in that order.
    first = next(
        (s, line)
        for s in _collector_order(estate, statements)
        for line in s.lines
        if line.kind == "collection" and line.basis == "old_arrears"
    )
    example = lines["  example 算式"]
    assert example.startswith(f"{names[first[0].staff_id]} · ")
    assert f" {first[1].period} 历史欠费, paid {first[1].paid_on}: " in example
    assert example.endswith(f": {first[1].arithmetic}")
    assert re.search(r" × 3% × [0-9.]+( × [0-9.]+)? = [0-9.,]+( → [0-9.,]+)?$", example)


def _collector_order(estate: Snapshot, statements: list[Statement]) -> list[Statement]:
    order = {s.id: i for i, s in enumerate(estate.staff)}
    return sorted(statements, key=lambda s: order[s.staff_id])


def test_one_statement_is_written_as_csv_next_to_the_database(
    built: tuple[DemoOptions, DemoResult, Snapshot],
) -> None:
    opts, result, estate = built
    path = Path(_lines(result)["  statement CSV 对账单"])
    assert path.parent == opts.db.parent and path.exists()
    match = re.fullmatch(rf"commission-{SETTLED}-(\d+)\.csv", path.name)
    assert match
    (statement,) = [s for s in _statements(result) if s.staff_id == int(match[1])]
    names = {s.id: s.name for s in estate.staff}
    assert _lines(result)["  example 算式"].startswith(f"{names[statement.staff_id]} · ")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # a BOM: spreadsheets read it as UTF-8
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert rows[0][:3] == ["类型", "付款", "交易号"] and rows[0][-2:] == ["提成", "算式"]
    assert len(rows) == len(statement.lines) + 2
    assert rows[-1][0] == "合计" and rows[-1][-2] == f"{statement.total:.2f}"
    assert [Decimal(r[-2]) for r in rows[1:-1]] == [
        Decimal(line.commission_fen) / 100 for line in statement.lines
    ]
    with Propcare.open(result.url, load_entrypoints=False) as app:
        assert path.read_text(encoding="utf-8-sig") == app.commission.statement_csv(
            ADMIN, statement.id
        )


def test_commission_waits_for_holiday_data_of_the_months_to_settle(tmp_path: Path) -> None:
    # The clock is years ahead: 2027-01 is over, but no holiday data covers 2027 yet.
    later = FixedClock(datetime(2030, 6, 1, tzinfo=SH))
    result = run_demo(options(tmp_path / "d.db", units=20, months=1, today=date(2027, 2, 1),
                              clock=later))  # fmt: skip
    line = _lines(result)["Commission 提成"]
    assert line.startswith("none settled: the calendar has no holidays for 2027")
    assert _lines(result)["Appraisal 绩效考核"].startswith(
        "none closed: the calendar has no holidays for 2027"
    )
    assert not _statements(result)
    assert not list(tmp_path.glob("commission-*.csv"))


# --- appraisal (绩效考核) -------------------------------------------------------------------

APPRAISED = SETTLED  # the month the commission settles: closed, and calibrated
ROLES_APPRAISED = ("front_desk", "technician", "collector")
CENT = Decimal("0.01")


def _appraisal(result: DemoResult, period: str = APPRAISED) -> Appraisal:
    with Propcare.open(result.url, load_entrypoints=False) as app:
        return app.appraisal.results(ADMIN, result.estate_id, period)


def _cards(result: DemoResult) -> dict[str, Scorecard]:
    with Propcare.open(result.url, load_entrypoints=False) as app:
        return {c.role: c for c in app.appraisal.scorecards(ADMIN, result.estate_id)}


def _grade_counts(grades: list[str | None]) -> str:
    return " · ".join(f"{g} {grades.count(g)}" for g in "ABCD")


def _graded(r: AppraisalResult) -> str:
    moved = f" (was {r.grade_before})" if r.grade_before != r.grade else ""
    return f"{r.total} {r.grade}{moved}"


def test_scorecards_cover_the_roles_with_metrics_that_have_data(
    built: tuple[DemoOptions, DemoResult, Snapshot],
) -> None:
    _, result, _ = built
    cards = _cards(result)
    assert set(cards) == {*ROLES_APPRAISED, "team:cleaning", "vendor"}
    results = _appraisal(result).results
    for role, card in cards.items():
        assert card.effective_from == date(2026, 10, 1)
        assert sum(k.weight for k in card.kpis) == 100
        assert [b.grade for b in card.bands] == ["D", "C", "B", "A"]
        metrics = {k.metric for k in card.kpis}
        assert metrics <= set(BUILTIN) and "inspection" in metrics
        assert ("training_score" in metrics) == (role in ROLES_APPRAISED)
        # Every KPI is measured for someone in the month: no metric the demo leaves empty.
        mine = [r for r in results if r.role == role]
        for kpi in card.kpis:
            assert any(
                line.points is not None for r in mine for line in r.score.lines
                if line.metric == kpi.metric
            ), f"{role}: {kpi.metric} has no data"  # fmt: skip
        lines = _lines(result)
        label = {"front_desk": "front desk 前台", "technician": "technician 工程/秩序",
                 "collector": "collector 收费员", "team:cleaning": "cleaning team 保洁",
                 "vendor": "vendor 外包"}[role]  # fmt: skip
        assert lines[f"  {label} 指标"].startswith(
            " · ".join(f"{k.label} {k.weight}" for k in card.kpis) + "; "
        )
    assert (cards["vendor"].vendor_threshold, cards["vendor"].base_bonus) == (80, 0)
    assert {r.role for r in results if r.subject_kind == "team"} == {"team:cleaning"}
    assert lines["Appraisal 绩效考核"].startswith(f"5 scorecards from {APPRAISED}: ")


def test_the_months_inputs_are_three_level_inspections_training_and_more(
    built: tuple[DemoOptions, DemoResult, Snapshot],
) -> None:
    _, result, estate = built
    with Propcare.open(result.url, load_entrypoints=False) as app:
        inputs = app.appraisal.inputs(ADMIN, result.estate_id, APPRAISED)
    appraised = {s.id for s in estate.staff if set(ROLES_APPRAISED) & s.roles}
    inspections = [i for i in inputs if i["kind"] == "inspection"]
    levels: dict[tuple[str, int], list[str]] = {}
    for i in inspections:
        levels.setdefault(i["subject"], []).append(i["level"])
        assert i["value"] == 100 - sum(points for _item, points in i["deductions"])
    cleaning = {t.id for t in estate.teams if t.kind is TeamKind.CLEANING}
    vendors = {v.id for v in estate.vendors if v.service == "cleaning"}
    assert set(levels) == (
        {("staff", s) for s in appraised}
        | {("team", t) for t in cleaning}
        | {("vendor", v) for v in vendors}
    )
    assert all(
        sorted(lv) == ["area_steward", "supervisor", "team_leader"] for lv in levels.values()
    )
    items = [item for i in inspections for item, _points in i["deductions"]]
    assert items and all(re.search(r"[\u4e00-\u9fff]", item) for item in items)
    trainings = [i for i in inputs if i["kind"] == "training"]
    assert 0 < len(trainings) <= len(appraised)
    assert {i["subject"][0] for i in trainings} == {"staff"}
    line = _lines(result)["  inputs 录入"]
    assert line.startswith(f"{len(inspections)} inspections (班组长 · 主管 · 区域管家) with ")
    assert f" {len(items)} itemised deductions (e.g. " in line
    assert f" {len(trainings)} training scores, " in line
    kinds = [i["kind"] for i in inputs]
    assert line.endswith(
        f"{kinds.count('discipline')} discipline, {kinds.count('commendation')} commendations"
    )


def test_the_appraisal_printed_is_the_services(
    built: tuple[DemoOptions, DemoResult, Snapshot],
) -> None:
    _, result, estate = built
    lines = _lines(result)
    month = _appraisal(result)
    assert month.closed
    with Propcare.open(result.url, load_entrypoints=False) as app:
        fees = app.appraisal.vendor_deductions(ADMIN, result.estate_id, APPRAISED)
    assert lines["  closed 已关账"].startswith(f"{APPRAISED} – {APPRAISED} (1 month, in order) in ")
    assert lines["  closed 已关账"].endswith(
        f"; {APPRAISED} calibrated: A at most 20% of each scorecard"
    )
    staff = [r for r in month.results if r.subject_kind == "staff"]
    moved = sum(r.grade != r.grade_before for r in staff)
    bonus = sum((r.bonus for r in staff), Decimal(0))
    assert lines[f"Appraisal {APPRAISED} 考核"] == (
        f"{len(staff)} staff scored: {_grade_counts([r.grade for r in staff])}, {moved} moved "
        f"down by calibration · bonuses {bonus:,.2f} 元"
    )
    teams = {t.id: t.name for t in estate.teams}
    expected = {}
    for role, label in (("front_desk", "front desk 前台"), ("technician", "technician 工程/秩序"),
                        ("collector", "collector 收费员")):  # fmt: skip
        ranked = sorted(
            (r for r in staff if r.role == role), key=lambda r: (-(r.total or 0), r.subject_id)
        )
        assert ranked
        for i, r in enumerate(ranked[:3], start=1):
            assert r.team_id is not None and r.rank is not None
            expected[f"  {label} {i}."] = (
                f"{r.name} · {_graded(r)} · {teams[r.team_id]} #{r.rank} · {r.bonus:,.2f} 元"
            )
    (team,) = [r for r in month.results if r.subject_kind == "team"]
    expected[f"  cleaning team 保洁 {team.name}"] = f"{_graded(team)} · {team.bonus:,.2f} 元"
    deducted = {vendor: (rate, why) for vendor, _score, rate, why in fees}
    for r in month.results:
        if r.subject_kind != "vendor":
            continue
        if r.total is None:
            value = "not scored: no inspection"
        elif r.subject_id in deducted:
            rate, why = deducted[r.subject_id]
            assert r.total < 80 and rate == Decimal("0.05")
            value = f"{_graded(r)} · fee deduction 扣款 5% ({why})"
        else:
            assert r.total >= 80
            value = f"{_graded(r)} · no deduction"
        expected[f"  vendor 外包 {r.name}"] = value
    labels = list(lines)
    at = labels.index(f"Appraisal {APPRAISED} 考核")
    assert labels[at + 1 : at + 1 + len(expected)] == list(expected)
    assert {label: lines[label] for label in expected} == expected
    # The lift vendor is not inspected: not scored, never a silent 100.
    lift = next(v for v in estate.vendors if v.service == "lift maintenance")
    assert expected[f"  vendor 外包 {lift.name}"] == "not scored: no inspection"
    assert not [label for label in lines if label.startswith("Quarter ")]  # one month only


def test_every_scored_staff_member_has_a_grade_and_the_bonus_of_it(
    built: tuple[DemoOptions, DemoResult, Snapshot],
) -> None:
    _, result, estate = built
    month = _appraisal(result)
    cards = _cards(result)
    staff = [r for r in month.results if r.subject_kind == "staff"]
    appraised = {s.id for s in estate.staff if set(ROLES_APPRAISED) & s.roles}
    assert {r.subject_id for r in staff} == appraised
    for r in staff:
        card = cards[r.role]
        assert r.total is not None, f"{r.name} was inspected, so is scored"
        assert r.grade is not None and r.grade_before == grade_of(card.bands, r.total)
        assert card.base_bonus > 0
        assert r.bonus == (card.base_bonus * card.multipliers[r.grade]).quantize(CENT)
        assert r.rank is not None and r.team_id is not None
    # Ranks are within each team: everyone's rank counts the better totals in the team.
    for r in staff:
        better = [o for o in staff if o.team_id == r.team_id and (o.total or 0) > (r.total or 0)]
        assert r.rank == 1 + len(better)


def test_at_most_a_fifth_of_each_scorecard_is_graded_a_after_calibration(
    built: tuple[DemoOptions, DemoResult, Snapshot],
) -> None:
    _, result, _ = built
    month = _appraisal(result)
    assert month.calibration == {"A": Decimal("0.2")}
    scored = [r for r in month.results if r.total is not None]
    # Teams and vendors keep their grades: a forced distribution ranks people.
    assert all(r.grade == r.grade_before for r in scored if r.subject_kind != "staff")
    for role in {r.role for r in scored if r.subject_kind == "staff"}:
        mine = [r for r in scored if r.role == role]
        graded_a = [r for r in mine if r.grade == "A"]
        assert len(graded_a) <= Decimal("0.2") * len(mine), role
        for r in mine:
            # Calibration only moves an A down to B, and keeps the better totals in A.
            assert r.grade == r.grade_before or (r.grade_before, r.grade) == ("A", "B")
            if r.grade_before == "A" and r.grade == "B":
                assert all((a.total or 0) >= (r.total or 0) for a in graded_a)
    assert any(r.grade != r.grade_before for r in scored), "the 20% cap moved someone"


def test_weighted_shares_renormalise_over_the_kpis_with_data(
    built: tuple[DemoOptions, DemoResult, Snapshot],
) -> None:
    _, result, _ = built
    excluded = 0
    for r in _appraisal(result).results:
        if r.total is None:
            assert all(line.points is None for line in r.score.lines)
            continue
        used = sum(line.weight for line in r.score.lines if line.points is not None)
        assert 0 < used <= 100
        for line in r.score.lines:
            if line.points is None:
                excluded += 1
                assert line.weighted == 0
            else:
                exact = line.weight * line.points / used
                assert abs(line.weighted - exact) <= Decimal("0.00005")
        shares = sum((line.weighted for line in r.score.lines), Decimal(0))
        before = shares + r.score.commendations - r.score.deductions
        expected = min(Decimal(100), max(Decimal(0), before))
        # Lines show four places and the total two: within rounding of each other.
        assert abs(r.total - expected) <= CENT / 2 + Decimal("0.0001") * len(r.score.lines)
    assert excluded, "some KPI had no data (guards have no repairs to reach): it dropped out"


def test_closed_months_refuse_new_inputs(built: tuple[DemoOptions, DemoResult, Snapshot]) -> None:
    _, result, estate = built
    (clerk,) = [s for s in estate.staff if s.roles == {"front_desk"}][:1]
    (vendor,) = [v for v in estate.vendors if v.service == "cleaning"]
    with Propcare.open(result.url, load_entrypoints=False) as app:
        a = app.appraisal
        before = a.inputs(ADMIN, result.estate_id, APPRAISED)
        attempts = [
            lambda: a.record_inspection(ADMIN, APPRAISED, "supervisor", staff_id=clerk.id,
                                        deductions=[("台面不洁", Decimal(2))]),
            lambda: a.record_inspection(ADMIN, APPRAISED, "area_steward", vendor_id=vendor.id,
                                        deductions=[("垃圾未清", Decimal(2))]),
            lambda: a.record_training(ADMIN, clerk.id, APPRAISED, Decimal(90)),
            lambda: a.record_discipline(ADMIN, clerk.id, APPRAISED, Decimal(2), "迟到"),
            lambda: a.record_commendation(ADMIN, clerk.id, APPRAISED, Decimal(3), "业主来信表扬"),
        ]  # fmt: skip
        for attempt in attempts:
            with pytest.raises(Conflict, match="is closed"):
                attempt()
        card = _cards(result)["front_desk"]
        with pytest.raises(Conflict, match="closed"):
            a.add_scorecard(
                ADMIN, result.estate_id, "front_desk", effective_from=date(2026, 10, 1),
                kpis=card.kpis, bands=card.bands, multipliers=card.multipliers,
            )  # fmt: skip
        assert a.inputs(ADMIN, result.estate_id, APPRAISED) == before
        # Closing again changes nothing: the stored results come back.
        assert a.close(ADMIN, result.estate_id, APPRAISED) == _appraisal(result)


def test_the_months_close_in_order_and_a_whole_quarter_is_aggregated(tmp_path: Path) -> None:
    # June to September 2026 are over by the clock: the third quarter is whole.
    clock = FixedClock(datetime(2026, 10, 15, 9, tzinfo=SH))
    result = run_demo(options(tmp_path / "q.db", units=20, months=4, today=date(2026, 10, 1),
                              clock=clock))  # fmt: skip
    lines = _lines(result)
    months = ["2026-06", "2026-07", "2026-08", "2026-09"]
    assert lines["  closed 已关账"].startswith("2026-06 – 2026-09 (4 months, in order) in ")
    with Propcare.open(result.url, load_entrypoints=False, clock=clock) as app:
        closed = [app.appraisal.results(ADMIN, result.estate_id, m) for m in months]
        quarter = app.appraisal.aggregate(ADMIN, result.estate_id, "2026-Q3")
    assert [m.calibration for m in closed] == [{}, {}, {}, {"A": Decimal("0.2")}]
    assert all(r.grade == r.grade_before for m in closed[:3] for r in m.results)
    assert "Quarter 2026-Q2 季度考核" not in lines  # June alone: nothing to aggregate
    staff = sorted((r for r in quarter if r.subject_kind == "staff"),
                   key=lambda r: (-r.total, r.subject_id))  # fmt: skip
    assert staff and all(r.months == ("2026-07", "2026-08", "2026-09") for r in staff)
    for r in staff:
        totals = [m.of("staff", r.subject_id).total for m in closed[1:]]
        assert r.total == (sum(t for t in totals if t is not None) / 3).quantize(CENT)
    best = ", ".join(f"{r.name} {r.total} {r.grade}" for r in staff[:3])
    assert lines["Quarter 2026-Q3 季度考核"] == (
        "2026-07 – 2026-09 (the whole quarter), the mean of the monthly totals: "
        f"{len(staff)} staff, {_grade_counts([r.grade for r in staff])}; best {best}"
    )
    assert list(lines).index("Quarter 2026-Q3 季度考核") > list(lines).index(
        "Appraisal 2026-09 考核"
    )


# --- the monthly report ------------------------------------------------------------------


def test_the_demo_ends_with_the_monthly_report_of_the_last_whole_month(
    built: tuple[DemoOptions, DemoResult, Snapshot],
) -> None:
    opts, result, _ = built
    assert opts.report_dir == opts.db.with_name("demo-report")
    stem = f"monthly-2026-10-{result.estate_id}"  # TODAY is 2026-11-02: October is whole
    assert result.report["html"] == opts.report_dir / f"{stem}.html"
    assert result.report["xlsx"] == opts.report_dir / f"{stem}.xlsx"
    assert {k for k in result.report if k.startswith("csv:")} == {
        f"csv:{key}" for key in SECTION_KEYS
    }
    assert all(path.is_file() and path.stat().st_size > 0 for path in result.report.values())
    assert "月度服务报告" in result.report["html"].read_text(encoding="utf-8")
    lines = _lines(result)
    assert lines["Monthly report 2026-10 月度报告"] == (
        f"{stem}.html, {stem}.xlsx and {len(SECTION_KEYS)} CSV files in {opts.report_dir}"
    )
    assert list(lines)[-3] == "Monthly report 2026-10 月度报告"  # then database and time


def test_the_reports_collection_equals_the_arrears_service_on_the_demo_data(
    tmp_path: Path,
) -> None:
    opts = options(tmp_path / "r.db", units=60)  # its own: other tests write to built's
    result = run_demo(opts)
    with (result.report["csv:collection_summary"]).open(encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    with Propcare.open(result.url, load_entrypoints=False, clock=opts.clock) as app:
        # As the report states it: at the month's last instant.
        end = datetime(2026, 11, 1, tzinfo=SH) - timedelta(microseconds=1)
        (rate,) = app.arrears.collection_rate(ADMIN, result.estate_id, "2026-10", as_of=end)
    billed = f"{rate.billed:.2f}"
    collected = f"{rate.collected:.2f}"
    cells = [cell for row in rows for cell in row]
    assert billed in cells and collected in cells


def test_the_demo_and_its_monthly_report_print_one_collection_rate_for_the_month(
    tmp_path: Path,
) -> None:
    """Issue 16, point 7: the demo printed 收缴率 as of now and its report as of the month's
    end (83.1 % against 82.6 % for one month). One definition, one stated cut-off."""
    # Ten days into November: October's bills are still being paid, so the cut-off shows.
    result = run_demo(options(tmp_path / "p7.db", units=60, today=date(2026, 11, 10)))
    period = "2026-10"  # the last whole month: the demo's figure and its report's month
    printed = _lines(result)[f"Collection rate 收缴率 {period}"]
    found = re.match(r"(\d+\.\d)% \((?:cash )?([\d,]+\.\d\d)/([\d,]+\.\d\d) 元", printed)
    assert found is not None, printed
    with result.report["csv:collection_summary"].open(encoding="utf-8-sig") as f:
        header, row = list(csv.reader(f))
    summary = dict(zip(header, row, strict=True))
    assert summary["月份"] == period
    cash, billed = (found[i].replace(",", "") for i in (2, 3))
    assert (cash, billed) == (summary["本期实收"], summary["本期应收"])
    assert found[1] == f"{Decimal(summary['收缴率']) * 100:.1f}"
    assert printed.endswith("as of 2026-10-31 23:59)")  # the cut-off, stated


def test_no_report_directory_writes_no_report(tmp_path: Path) -> None:
    result = run_demo(options(tmp_path / "n.db", units=20, months=1, report_dir=None))
    assert result.report == {}
    assert not (tmp_path / "n-report").exists()
    assert not [k for k in _lines(result) if k.startswith("Monthly report")]


def test_a_file_with_another_tools_schema_version_table_is_not_replaced(tmp_path: Path) -> None:
    # Same table name, other columns: not propcare's, so the demo must not delete it.
    import sqlite3

    path = tmp_path / "theirs.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE schema_version (id INTEGER, applied TEXT)")
    with pytest.raises(Conflict, match="is not a propcare database"):
        run_demo(options(path, units=50, months=1))
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("schema_version",)]


def test_a_demo_in_january_without_the_years_holidays_holds_decembers_appraisal(
    tmp_path: Path,
) -> None:
    # From 1 January without the year's holiday data, December's late tickets have
    # provisional deadlines: its appraisal is not closed (the service refuses), and the
    # demo says why instead of failing.
    today = date(2027, 1, 20)
    result = run_demo(
        options(tmp_path / "d.db", units=50, months=2, today=today, clock=_clock_on(today))
    )
    lines = {line.label: line.value for line in result.summary}
    held = [v for k, v in lines.items() if "2026-12" in v and "waiting for 2027" in v]
    assert held, lines
    assert "add-next-years-holidays.md" in held[0]


def test_a_demo_dated_ahead_of_the_machine_clock_runs_on_that_day(tmp_path: Path) -> None:
    # --today after the machine's date: the demo's clock is that day, so its payments are
    # not refused as money dated ahead of the clock.
    today = SystemClock().now().date() + timedelta(days=400)
    result = run_demo(options(tmp_path / "d.db", units=50, months=1, today=today))
    lines = {line.label: line.value for line in result.summary}
    assert "at the counter" in lines["Payments 收费"] and not lines["Payments 收费"].startswith(
        "0 "
    )
