"""The demo estate: a pipeline of named steps that fill one SQLite database.

``run_demo(DemoOptions(...))`` builds a realistic estate (buildings, units,
owners with their ownership history, staff in teams, vendors) through the
public services, so the demo exercises the same rules and events as real use.
Each step is a :class:`DemoStep` in :data:`DEMO_STEPS`; later features (tickets,
billing, payments, commission, appraisal, the monthly report) add their own
steps to that tuple and read what earlier steps left in the :class:`DemoContext`.

Everything random comes from one ``random.Random(seed)``, and every business
date is derived from ``options.today``: the same seed and day build the same
estate. This module depends on neither click nor rich; the CLI adds those.
"""

from __future__ import annotations

import itertools
import math
import os
import random
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta, tzinfo
from datetime import time as day_time
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
from dateutil.relativedelta import relativedelta

from propcare.access import Actor
from propcare.app import Propcare, shown_url
from propcare.appraisal.kpi import Band, Kpi, Rule, RuleKind
from propcare.appraisal.service import Appraisal, Result
from propcare.clock import DEFAULT_TZ, Clock, FixedClock, SystemClock, zone
from propcare.commission.settle import days_of
from propcare.errors import CalendarDataMissing, Conflict, ValidationError
from propcare.ledger.arrears import ArrearsLine, CollectionRate
from propcare.ledger.billing_service import PAID_SERVICE
from propcare.ledger.collection import Method, Outcome
from propcare.ledger.deposits import Deduction
from propcare.money import from_fen, money, to_fen
from propcare.registry.model import (
    Building,
    Estate,
    EstateId,
    Owner,
    Ownership,
    Staff,
    StaffId,
    Team,
    TeamKind,
    Unit,
    UnitId,
    UnitUse,
    Vendor,
)
from propcare.registry.service import UnitSpec
from propcare.storage.sqlite import parse_sqlite_url, schema_state
from propcare.tickets.model import (
    CALLBACK_POLICY,
    REPAIRS,
    Action,
    CallbackPolicy,
    Category,
    Channel,
    Priority,
    Satisfaction,
    TicketEvent,
)
from propcare.tickets.stats import Rate
from propcare.validators import valid_date

__all__ = [
    "BUILDINGS",
    "CATEGORY_SHARES",
    "DEMO_STEPS",
    "LIVE_DAYS",
    "MAX_MONTHS",
    "SURNAMES",
    "TEAM_PLANS",
    "ClosedMonths",
    "DemoContext",
    "DemoOptions",
    "DemoResult",
    "DemoStep",
    "FeePlan",
    "Progress",
    "SummaryLine",
    "TeamPlan",
    "TicketPlan",
    "TicketStep",
    "appraisal_kpis",
    "appraise_staff",
    "closed_months",
    "daily_intake",
    "has_url_scheme",
    "is_propcare_database",
    "prepare_database",
    "run_demo",
    "settle_commission",
    "settle_periods",
    "sqlite_url",
    "team_size",
    "write_report",
]

BUILDINGS = 10
MAX_FLOORS = 33
MAX_MONTHS = 36
SIDE_FILES = ("-wal", "-shm", "-journal")

# A URL scheme has at least two letters, so a Windows drive (C:\x.db) stays a path.
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]+:")


def has_url_scheme(text: str) -> bool:
    """``sqlite:///x.db`` and ``postgresql://...`` have one; ``x.db`` and ``C:\\x.db`` do not."""
    return bool(_SCHEME.match(text))


def sqlite_url(path: Path | str) -> str:
    """``x.db`` -> ``sqlite:///x.db``; ``/tmp/x.db`` -> ``sqlite:////tmp/x.db``."""
    return "sqlite:///" + os.fspath(path)


def _db_path(value: Any) -> Path:
    if isinstance(value, Path):
        return value
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("db", value, "must be a file path or an sqlite:/// URL")
    if has_url_scheme(value):
        if not value.lower().startswith("sqlite:"):
            raise ValidationError(
                "db",
                shown_url(value),
                "the demo builds an SQLite file here; give a path or an sqlite:/// URL "
                "(a server database goes in DemoOptions.server_url)",
            )
        path = parse_sqlite_url(value)
        if path == ":memory:":
            raise ValidationError(
                "db", value, "the demo leaves its database on disk; give a file path"
            )
        return Path(path)
    return Path(value).expanduser()


def _report_dir(options: DemoOptions) -> Path:
    return options.db.with_name(f"{options.db.stem}-report")


def _optional_dir(value: Any) -> Path | None:
    if value is None or isinstance(value, Path):
        return value
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("report_dir", value, "must be a directory path or None")
    return Path(value).expanduser()


def _demo_clock(options: DemoOptions) -> Clock:
    """The demo's clock: the one given; else, for a ``today`` after the machine's date,
    that day's evening, so the demo's payments and deposits (never dated ahead of the
    clock) are not refused as future money; else the machine's."""
    if options.clock is not None:
        return options.clock
    system = SystemClock()
    tz = zone(DEFAULT_TZ)
    if options.today > system.now().astimezone(tz).date():
        return FixedClock(datetime.combine(options.today, day_time(18), tz))
    return system


def _estate_today(options: DemoOptions) -> date:
    clock = options.clock or SystemClock()
    return clock.now().astimezone(zone(DEFAULT_TZ)).date()


def _shown_repr(url: str | None) -> str:
    """How options and results show a database URL: without its password."""
    return repr(url if url is None else shown_url(url))


def _units_rule(_inst: Any, _attr: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValidationError("units", value, "must be a positive integer")
    if value < BUILDINGS:
        raise ValidationError(
            "units",
            value,
            f"must be at least {BUILDINGS}: the demo estate has {BUILDINGS} buildings",
        )


def _months_rule(_inst: Any, _attr: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_MONTHS:
        raise ValidationError(
            "months", value, f"must be an integer from 1 to {MAX_MONTHS} (the demo period)"
        )


def _seed_rule(_inst: Any, _attr: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("seed", value, "must be an integer")


@attrs.frozen
class DemoOptions:
    """What to build. ``today`` anchors every business date (default: the clock's day)."""

    db: Path = attrs.field(default=Path("propcare-demo.db"), converter=_db_path)
    units: int = attrs.field(default=2000, validator=_units_rule)
    months: int = attrs.field(default=3, validator=_months_rule)
    seed: int = attrs.field(default=2026, validator=_seed_rule)
    estate_name: str = "锦绣花园"
    clock: Clock | None = attrs.field(default=None, eq=False)
    today: date = attrs.field(
        default=attrs.Factory(_estate_today, takes_self=True), validator=valid_date("today")
    )
    # A server database to build into instead of the SQLite file (postgresql://...,
    # with its storage plugin installed); it must hold no propcare data yet.
    server_url: str | None = attrs.field(default=None, repr=_shown_repr)
    # Where the monthly report of the last whole month goes (None: no report);
    # default: ``<db stem>-report/`` beside the database.
    report_dir: Path | None = attrs.field(
        default=attrs.Factory(_report_dir, takes_self=True), converter=_optional_dir
    )
    # A propcare.toml to open the app with (calendars, holiday files, SLA targets, ...);
    # None: the built-in defaults.
    config: Path | None = attrs.field(default=None)

    @property
    def period_start(self) -> date:
        """First day of the demo period: ``months`` before ``today``."""
        return self.today - relativedelta(months=self.months)


@attrs.frozen
class SummaryLine:
    label: str
    value: str


@attrs.frozen
class TicketStep:
    """One thing done to a demo ticket: an event as the service would record it."""

    action: Action
    at: datetime
    by: Staff | None  # None: the system records it (an owner's own rating in WeChat)
    data: Mapping[str, Any]


@attrs.define
class TicketPlan:
    """The generated tickets: how many were imported, and what the live step still has to
    do. The imported histories are generated while ``import_history`` stores them and are
    not kept, so memory does not grow with the estate's tickets."""

    # (ticket index, step) in time order; the index is into ``ids`` once known
    live: list[tuple[int, TicketStep]] = attrs.Factory(list)
    # ticket index -> ticket id, for the tickets ``live`` has steps of
    ids: dict[int, int] = attrs.Factory(dict)
    generated: int = 0
    imported: int = 0


@attrs.define
class FeePlan:
    """What the fee steps share: periods billed, what each building was billed, collectors,
    payers. A unit's bills are read when its payments are drawn and not kept, so memory
    does not grow with the bill lines."""

    periods: list[str] = attrs.Factory(list)  # every period billed, oldest first
    # (building id, period) -> fen billed, summed while the payments step reads the bills
    billed: dict[tuple[int, str], int] = attrs.Factory(dict)
    collectors: dict[int, int] = attrs.Factory(dict)  # building id -> collector staff id
    payers: dict[int, str] = attrs.Factory(dict)  # unit id -> regular, late or never
    payments: int = 0
    campaign_id: int | None = None


@attrs.define
class DemoContext:
    """What the steps share: the app, the randomness, and what earlier steps built."""

    app: Propcare
    actor: Actor
    rng: random.Random
    options: DemoOptions
    buildings: list[Building] = attrs.Factory(list)
    units: list[Unit] = attrs.Factory(list)
    owners: list[Owner] = attrs.Factory(list)
    ownerships: list[Ownership] = attrs.Factory(list)
    ownership_changes: list[Ownership] = attrs.Factory(list)
    teams: list[Team] = attrs.Factory(list)
    staff: list[Staff] = attrs.Factory(list)
    vendors: list[Vendor] = attrs.Factory(list)
    summary: list[SummaryLine] = attrs.Factory(list)
    # Phones handed out so far: every person in the demo gets a different number.
    phones_used: set[str] = attrs.Factory(set)
    tickets: TicketPlan = attrs.Factory(TicketPlan)
    fees: FeePlan = attrs.Factory(lambda: FeePlan())
    written: dict[str, Path] = attrs.Factory(dict)  # the monthly report's files
    _estate: Estate | None = attrs.field(default=None, init=False)

    @property
    def estate(self) -> Estate:
        if self._estate is None:
            raise RuntimeError("no estate yet: the 'estate' demo step must run first")
        return self._estate

    @estate.setter
    def estate(self, value: Estate) -> None:
        self._estate = value

    @property
    def today(self) -> date:
        return self.options.today

    def report(self, label: str, value: object) -> None:
        """Set a line of the summary the CLI prints; a later step may update a line in place."""
        line = SummaryLine(label, value if isinstance(value, str) else f"{value}")
        for i, old in enumerate(self.summary):
            if old.label == label:
                self.summary[i] = line
                return
        self.summary.append(line)


@attrs.frozen
class DemoStep:
    """One named stage of the demo; ``run`` reads and fills the context."""

    name: str
    run: Callable[[DemoContext], None]
    title: str = ""


@attrs.frozen
class DemoResult:
    """Where the demo database is, and the summary lines the steps reported."""

    db_path: Path
    url: str = attrs.field(repr=_shown_repr)
    estate_id: int
    seconds: float
    summary: tuple[SummaryLine, ...]
    # The monthly report's files ("html", "xlsx", "csv:<section>"); empty without one.
    report: Mapping[str, Path] = attrs.field(factory=dict)


# Called before each step with (steps done, steps in all, the step's title) and
# once at the end with the title None.
Progress = Callable[[int, int, str | None], None]


# --- the database file ------------------------------------------------------------


def is_propcare_database(path: Path) -> bool:
    """True if ``path`` is an SQLite file with propcare's version table (``schema_version``
    with its columns: the rule ``Propcare.open`` applies, ``storage.sqlite.schema_state``)."""
    try:
        with path.open("rb") as f:
            if f.read(16) != b"SQLite format 3\x00":
                return False
    except OSError:
        return False
    # immutable=1 reads the file alone, so a journal left by a crash cannot make it look
    # foreign; mode=ro also sees commits still in the WAL.
    return any(_has_schema_table(path, mode) for mode in ("immutable=1", "mode=ro"))


def _has_schema_table(path: Path, mode: str) -> bool:
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True)
    except sqlite3.Error:
        return False
    try:
        # The library's own rule: propcare's version table, with its columns.
        return schema_state(conn)[0] == "propcare"
    except sqlite3.Error:
        return False
    finally:
        conn.close()


def prepare_database(path: Path) -> None:
    """Clear the way for a new demo database at ``path``.

    An earlier propcare database there is removed with its journal files; any
    other file is refused, because it may be someone's data.
    """
    if path.is_dir():
        raise ValidationError("db", str(path), "is a folder; give the path of a database file")
    if not path.parent.is_dir():
        raise ValidationError("db", str(path), f"the folder {path.parent} does not exist")
    if path.exists() and not is_propcare_database(path):
        raise Conflict(
            "db",
            str(path),
            "exists and is not a propcare database; refusing to replace it "
            "(choose another path or remove the file yourself)",
        )
    # A journal left without its database would be replayed into the new file.
    for suffix in ("", *SIDE_FILES):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


# --- people -------------------------------------------------------------------------

# Common surnames, most frequent first, with rough shares in per mille.
SURNAMES: tuple[tuple[str, int], ...] = (
    ("王", 72), ("李", 72), ("张", 69), ("刘", 54), ("陈", 45), ("杨", 31), ("黄", 22),
    ("赵", 22), ("吴", 20), ("周", 20), ("徐", 17), ("孙", 16), ("马", 15), ("朱", 14),
    ("胡", 13), ("郭", 12), ("何", 12), ("林", 11), ("高", 11), ("罗", 11), ("郑", 10),
    ("梁", 10), ("谢", 8), ("宋", 8), ("唐", 8), ("许", 7), ("韩", 7), ("冯", 7), ("邓", 7),
    ("曹", 7), ("彭", 6), ("曾", 6), ("肖", 6), ("田", 6), ("董", 5), ("袁", 5), ("潘", 5),
    ("于", 5), ("蒋", 5), ("蔡", 5), ("余", 5), ("杜", 5), ("叶", 4), ("程", 4), ("苏", 4),
    ("魏", 4), ("吕", 4), ("丁", 4), ("任", 4), ("沈", 4), ("姚", 4), ("卢", 4), ("姜", 3),
    ("崔", 3), ("钟", 3), ("谭", 3), ("陆", 3), ("汪", 3), ("范", 3), ("金", 3), ("石", 3),
    ("廖", 3), ("贾", 3), ("夏", 3), ("韦", 2), ("方", 2), ("白", 2), ("邹", 2), ("孟", 2),
    ("熊", 2), ("秦", 2), ("邱", 2), ("江", 2), ("尹", 2), ("薛", 2), ("段", 2), ("雷", 2),
    ("侯", 2), ("龙", 2), ("史", 2), ("陶", 2), ("黎", 2), ("贺", 2), ("顾", 2), ("毛", 2),
    ("郝", 1), ("龚", 1), ("邵", 1), ("万", 1), ("钱", 1), ("严", 1), ("欧阳", 1), ("司马", 1),
)  # fmt: skip
_SURNAME_NAMES = tuple(s for s, _ in SURNAMES)
_SURNAME_CUM = tuple(sum(w for _, w in SURNAMES[: i + 1]) for i in range(len(SURNAMES)))
GIVEN_CHARS = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂英华建国红秀玲燕婷雪晓志文海波浩宇轩"
    "子梓涵欣怡佳琪思雨博睿泽俊鹏飞辉毅峰鑫凯斌林森丹颖慧洁琳蕾萍梅兰珍凤玉春秋晨阳"
    "天云龙德福永荣成金宝庆新立东亮健彬琦瑶欢倩婧茜薇瑞嘉安乐诗梦悦"
)
# Mobile prefixes in use by the three carriers (and virtual operators: 17x).
MOBILE_PREFIXES = (
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "145", "147",
    "150", "151", "152", "153", "155", "156", "157", "158", "159", "166", "173", "175",
    "176", "177", "178", "180", "181", "182", "183", "184", "185", "186", "187", "188",
    "189", "191", "198", "199",
)  # fmt: skip
# Region codes (GB/T 2260) for resident ID numbers: a few big-city districts.
REGION_CODES = (
    "110105", "110108", "310104", "310115", "320106", "330106", "370102", "420106",
    "440104", "440305", "500103", "510107", "610113",
)  # fmt: skip
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def person_name(rng: random.Random) -> str:
    surname = rng.choices(_SURNAME_NAMES, cum_weights=_SURNAME_CUM)[0]
    length = 1 if rng.random() < 0.3 else 2
    return surname + "".join(rng.choice(GIVEN_CHARS) for _ in range(length))


def mobile_phone(ctx: DemoContext) -> str:
    while True:
        number = f"{ctx.rng.choice(MOBILE_PREFIXES)}{ctx.rng.randrange(10**8):08d}"
        if number not in ctx.phones_used:
            ctx.phones_used.add(number)
            return number


def id_card_number(rng: random.Random, today: date) -> str:
    """A well-formed resident ID (region, birth date, sequence, check digit) of an adult."""
    born = today - timedelta(days=rng.randint(25 * 365, 75 * 365))
    body = f"{rng.choice(REGION_CODES)}{born:%Y%m%d}{rng.randrange(1000):03d}"
    total = sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=True))
    return body + _ID_CHECK[total % 11]


def _area(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randint(low * 100, high * 100)).scaleb(-2)


def _layout_area(rng: random.Random) -> Decimal:
    """Floor area of one layout (户型): two, three or four bedrooms."""
    kind = rng.random()
    if kind < 0.3:
        return _area(rng, 60, 90)
    if kind < 0.8:
        return _area(rng, 90, 140)
    return _area(rng, 140, 180)


def _count(number: int) -> str:
    return f"{number:,}"


# --- the steps ----------------------------------------------------------------------


def build_estate(ctx: DemoContext) -> None:
    ctx.estate = ctx.app.estates.create(ctx.actor, ctx.options.estate_name)
    ctx.buildings = [
        ctx.app.estates.add_building(ctx.actor, ctx.estate.id, f"{n}号楼")
        for n in range(1, BUILDINGS + 1)
    ]
    ctx.report("Estate 小区", ctx.estate.name)
    ctx.report(
        "Demo period 演示期间",
        f"{ctx.options.period_start} – {ctx.today} ({ctx.options.months} months)",
    )
    ctx.report("Buildings 楼栋", _count(len(ctx.buildings)))


def _building_specs(
    rng: random.Random, number: int, count: int, shops: bool, delivered: date
) -> list[UnitSpec]:
    """Units of one building: same layout per room position on every floor, as built."""
    rooms = max(rng.choice((2, 3, 4, 6)), math.ceil(count / MAX_FLOORS))
    width = max(2, len(str(rooms)))
    floors = math.ceil(count / rooms)
    layouts = [_layout_area(rng) for _ in range(rooms)]
    ground_shops = shops and floors >= 3
    shop_areas = [_area(rng, 60, 180) for _ in range(rooms)]
    specs: list[UnitSpec] = []
    for floor in range(1, floors + 1):
        for room in range(1, rooms + 1):
            if len(specs) == count:
                break
            shop = ground_shops and floor == 1
            # Owners collect their keys over the months after the building is delivered.
            handover = delivered + timedelta(days=rng.randint(0, 120))
            specs.append(
                UnitSpec(
                    number=f"{number}-{floor}{room:0{width}d}",
                    floor_area=shop_areas[room - 1] if shop else layouts[room - 1],
                    use=UnitUse.SHOP if shop else UnitUse.RESIDENTIAL,
                    handover_date=handover,
                )
            )
    return specs


def build_units(ctx: DemoContext) -> None:
    rng, today, total = ctx.rng, ctx.today, ctx.options.units
    per_building, extra = divmod(total, BUILDINGS)
    street_facing = set(rng.sample(range(1, BUILDINGS + 1), 3))
    plans: list[list[UnitSpec]] = []
    for n in range(1, BUILDINGS + 1):
        # Delivered in phases: the first buildings years ago, the last ones recently.
        if n <= 4:
            age_days = rng.randint(7 * 365, 9 * 365)
        elif n <= 8:
            age_days = rng.randint(4 * 365, 6 * 365)
        else:
            age_days = rng.randint(400, 700)
        count = per_building + (1 if n <= extra else 0)
        plans.append(
            _building_specs(rng, n, count, n in street_facing, today - timedelta(days=age_days))
        )
    # A few units of the newest buildings are still unsold: the developer holds them.
    newest = [(b, i) for b in (BUILDINGS - 2, BUILDINGS - 1) for i in range(len(plans[b]))]
    unsold = rng.sample(newest, min(len(newest), max(1, round(total * 0.01))))
    for b, i in unsold:
        plans[b][i] = attrs.evolve(plans[b][i], handover_date=None)
    for building, specs in zip(ctx.buildings, plans, strict=True):
        ctx.units.extend(ctx.app.estates.add_units(ctx.actor, building.id, specs))

    shops = sum(1 for u in ctx.units if u.use == UnitUse.SHOP)
    waiting = sum(1 for u in ctx.units if u.handover_date is None)
    area = sum((u.floor_area for u in ctx.units), Decimal(0))
    ctx.report(
        "Units 房屋",
        f"{_count(len(ctx.units))} (shops 商铺 {shops}, not handed over 未交付 {waiting})",
    )
    ctx.report("Total floor area 建筑面积", f"{area:,.2f} m²")


def _new_owner(ctx: DemoContext) -> Owner:
    rng = ctx.rng
    phones = [mobile_phone(ctx)]
    if rng.random() < 0.1:
        phones.append(mobile_phone(ctx))
    id_card = id_card_number(rng, ctx.today) if rng.random() < 0.7 else None
    owner = ctx.app.owners.create(ctx.actor, ctx.estate.id, person_name(rng), phones, id_card)
    ctx.owners.append(owner)
    return owner


def build_owners(ctx: DemoContext) -> None:
    """One owner per handed-over unit, owning it from the handover day."""
    for unit in ctx.units:
        if unit.handover_date is None:
            continue
        owner = _new_owner(ctx)
        ctx.ownerships.append(
            ctx.app.owners.assign(ctx.actor, unit.id, owner.id, unit.handover_date)
        )
    ctx.report("Owners 业主", _count(len(ctx.owners)))
    if ctx.ownerships:
        first = ctx.ownerships[0]
        unit = next(u for u in ctx.units if u.id == first.unit_id)
        owner = next(o for o in ctx.owners if o.id == first.owner_id)
        # str(Phone) is the masked form: the summary is printed, phones must not leak.
        ctx.report("Sample owner 业主示例", f"{unit.number} {owner.name} {owner.primary_phone}")


def build_ownership_changes(ctx: DemoContext) -> None:
    """A few units were sold on; the earlier owner stays in the history."""
    rng, today = ctx.rng, ctx.today
    sellable = [o for o in ctx.ownerships if (today - o.start).days > 30]
    changes = min(len(sellable), max(1, round(len(ctx.ownerships) * 0.02)))
    for held in sorted(rng.sample(sellable, changes), key=lambda o: o.unit_id):
        earliest = held.start + timedelta(days=1)
        # Half of the sales fall in the demo period, so later steps meet a change of owner.
        if rng.random() < 0.5:
            earliest = max(earliest, ctx.options.period_start)
        start = earliest + timedelta(days=rng.randint(0, (today - earliest).days))
        buyer = _new_owner(ctx)
        ownership = ctx.app.owners.assign(ctx.actor, held.unit_id, buyer.id, start)
        ctx.ownerships[ctx.ownerships.index(held)] = attrs.evolve(held, end=start)
        ctx.ownership_changes.append(ownership)
        ctx.ownerships.append(ownership)
    ctx.report("Owners 业主", _count(len(ctx.owners)))
    ctx.report("Ownership changes 过户", _count(len(ctx.ownership_changes)))


@attrs.frozen
class TeamPlan:
    """A team: a leader with ``lead_roles`` and one member per ``units_per_member`` units."""

    name: str
    kind: TeamKind
    label: str
    member_roles: frozenset[str]
    units_per_member: int
    lead_roles: frozenset[str]


# Roles are permission sets, not job titles: field staff (repair, patrol) get the
# least-privileged role; cleaning is outsourced, so the in-house team inspects the vendor.
TEAM_PLANS: tuple[TeamPlan, ...] = (
    TeamPlan(
        "管理处", TeamKind.OTHER, "management", frozenset({"finance"}), 1000,
        frozenset({"manager"}),
    ),
    TeamPlan(
        "客服中心", TeamKind.FRONT_DESK, "front desk", frozenset({"front_desk"}), 250,
        frozenset({"front_desk", "supervisor"}),
    ),
    TeamPlan(
        "工程维修部", TeamKind.REPAIR, "repair", frozenset({"technician"}), 200,
        frozenset({"technician", "supervisor"}),
    ),
    TeamPlan(
        "收费组", TeamKind.COLLECTION, "collection", frozenset({"collector"}), 300,
        frozenset({"collector", "supervisor"}),
    ),
    TeamPlan(
        "环境保洁部", TeamKind.CLEANING, "cleaning", frozenset({"supervisor"}), 1000,
        frozenset({"supervisor"}),
    ),
    TeamPlan(
        "秩序维护部", TeamKind.SECURITY, "security", frozenset({"technician"}), 150,
        frozenset({"technician", "supervisor"}),
    ),
)  # fmt: skip


def team_size(plan: TeamPlan, units: int) -> int:
    """Members besides the leader: in proportion to the units, at least one."""
    return max(1, math.ceil(units / plan.units_per_member))


def build_staff(ctx: DemoContext) -> None:
    rng, app, actor, estate = ctx.rng, ctx.app, ctx.actor, ctx.estate
    opened = min((u.handover_date for u in ctx.units if u.handover_date), default=ctx.today)
    hired_by = ctx.options.period_start - timedelta(days=1)
    names: set[str] = set()
    ctx.report("Staff 员工", "0")  # the total goes above the teams; set again below
    for plan in TEAM_PLANS:
        team = app.staff.create_team(actor, estate.id, plan.name, plan.kind)
        ctx.teams.append(team)
        size = team_size(plan, ctx.options.units)
        for i in range(size + 1):
            name = person_name(rng)
            while name in names:
                name = person_name(rng)
            names.add(name)
            leader = i == 0
            start = (
                opened
                if leader
                else opened + timedelta(days=rng.randint(0, max(0, (hired_by - opened).days)))
            )
            ctx.staff.append(
                app.staff.create(
                    actor,
                    estate.id,
                    name,
                    plan.lead_roles if leader else plan.member_roles,
                    active_from=start,
                    team_id=team.id,
                    phone=mobile_phone(ctx),
                )
            )
        ctx.report(f"  {plan.name} {plan.label}", _count(size + 1))
    ctx.report("Staff 员工", _count(len(ctx.staff)))


VENDORS: tuple[tuple[str, str], ...] = (
    ("洁美环境服务有限公司", "cleaning"),
    ("安达电梯工程有限公司", "lift maintenance"),
)


def build_vendors(ctx: DemoContext) -> None:
    for name, service in VENDORS:
        ctx.vendors.append(
            ctx.app.vendors.create(
                ctx.actor,
                ctx.estate.id,
                name,
                service,
                contact_name=person_name(ctx.rng),
                phone=mobile_phone(ctx),
            )
        )
    ctx.report("Vendors 外包单位", ", ".join(f"{v.name} ({v.service})" for v in ctx.vendors))


# --- tickets ------------------------------------------------------------------------
# The front desk's intake at the rates of DOMAIN.md: a large estate of about 5,000 units
# takes about 70 calls and 30 visits a day; a smaller one in proportion. The months
# before the last few days are built as event lists in plain Python and stored with
# import_history (the way an estate brings its old records along); the last days go
# through the live service, one call at a time, as the front desk would enter them.

LARGE_ESTATE_UNITS = 5_000
LARGE_ESTATE_INTAKE = 70 + 30  # calls and visits a day
LIVE_DAYS = 3

# Shares in per cent: repairs are most of the work (in-home about twice common-area, as in
# the 7,000 : 3,300 of one year's report), then consultations; complaints few, praise rare.
CATEGORY_SHARES: tuple[tuple[Category, int], ...] = (
    (Category.HOME_REPAIR, 31),
    (Category.CONSULTATION, 28),
    (Category.OTHER_SERVICE, 15),
    (Category.COMMON_REPAIR, 14),
    (Category.SUGGESTION, 6),
    (Category.COMPLAINT, 5),
    (Category.PRAISE, 1),
)
# Channel weights per category: about 70 calls (phone, online) to 30 visits overall;
# patrols find common-area faults, the letter box collects suggestions and praise.
CHANNEL_SHARES: dict[Category, tuple[tuple[Channel, int], ...]] = {
    Category.HOME_REPAIR: ((Channel.PHONE, 70), (Channel.ONLINE, 12), (Channel.VISIT, 18)),
    Category.COMMON_REPAIR: (
        (Channel.PHONE, 45), (Channel.ONLINE, 8), (Channel.VISIT, 12), (Channel.PATROL, 35),
    ),
    Category.CONSULTATION: ((Channel.PHONE, 60), (Channel.ONLINE, 10), (Channel.VISIT, 30)),
    Category.OTHER_SERVICE: ((Channel.PHONE, 60), (Channel.ONLINE, 10), (Channel.VISIT, 30)),
    Category.SUGGESTION: (
        (Channel.PHONE, 30), (Channel.ONLINE, 20), (Channel.VISIT, 25), (Channel.LETTER_BOX, 25),
    ),
    Category.COMPLAINT: (
        (Channel.PHONE, 60), (Channel.ONLINE, 10), (Channel.VISIT, 25), (Channel.LETTER_BOX, 5),
    ),
    Category.PRAISE: (
        (Channel.PHONE, 30), (Channel.ONLINE, 20), (Channel.VISIT, 30), (Channel.LETTER_BOX, 20),
    ),
}  # fmt: skip
# Calls by hour of the day on the 24-hour hotline: quiet at night, busy mornings.
CALL_HOURS = (
    0.3, 0.2, 0.1, 0.1, 0.1, 0.2, 0.5, 1.5, 3.0, 4.0, 4.0, 3.5,
    2.5, 3.0, 3.5, 3.5, 3.0, 3.0, 3.0, 3.0, 2.5, 2.0, 1.2, 0.6,
)  # fmt: skip
SUMMARIES: dict[Category, tuple[str, ...]] = {
    Category.HOME_REPAIR: (
        "厨房水管漏水", "卫生间下水道堵塞", "入户门锁坏了", "家里电路跳闸", "空调排水管漏水",
        "墙面渗水", "马桶漏水", "灯具不亮", "窗户关不严", "热水器不出热水",
    ),
    Category.COMMON_REPAIR: (
        "电梯异响", "楼道灯不亮", "单元门禁失灵", "地下车库渗水", "消防栓漏水", "路灯不亮",
        "雨水井堵塞", "监控摄像头故障", "外墙瓷砖脱落", "水泵房异响",
    ),
    Category.CONSULTATION: (
        "物业费缴费方式", "装修申请流程", "停车月卡办理", "门禁卡补办", "快递存放",
        "水电费查询", "垃圾分类投放时间",
    ),
    Category.OTHER_SERVICE: ("代收快递", "借用工具", "搬家预约电梯", "家政保洁预约", "绿植养护"),
    Category.SUGGESTION: (
        "建议增加快递柜", "建议增设儿童游乐设施", "建议延长泳池开放时间", "建议加强夜间巡逻",
    ),
    Category.COMPLAINT: (
        "楼上噪音扰民", "宠物粪便未清理", "车辆占用消防通道", "装修超时施工", "垃圾清运不及时",
        "保安态度差",
    ),
    Category.PRAISE: ("表扬维修师傅服务热情", "表扬保洁阿姨工作认真", "感谢客服及时处理"),
}  # fmt: skip
COMMON_PLACES = (
    "{b}号楼电梯", "{b}号楼楼道", "{b}号楼单元门", "地下车库", "小区东门", "中心花园", "水泵房",
    "{b}号楼外墙",
)  # fmt: skip
# Paid in-home services (有偿服务): item and unit price in yuan.
PAID_ITEMS = (
    ("更换水龙头", "35.00"), ("疏通下水道", "80.00"), ("更换灯具", "20.00"),
    ("更换门锁", "120.00"), ("更换马桶配件", "45.00"),
)  # fmt: skip
OUTSIDE_PARTIES = ("开发商工程部", "安达电梯工程有限公司", "市政供水公司")
PAUSE_REASONS = ("等待业主回家", "等待配件到货", "等待开发商处理")

CATEGORY_LABELS: dict[str, str] = {
    "consultation": "咨询", "suggestion": "意见建议", "complaint": "投诉",
    "common_repair": "公共维修", "home_repair": "居家维修", "other_service": "其它服务",
    "praise": "表扬",
}  # fmt: skip
CHANNEL_LABELS: dict[str, str] = {
    "phone": "电话", "visit": "来访", "online": "线上", "patrol": "巡查", "letter_box": "意见箱",
}  # fmt: skip
TARGET_LABELS: dict[str, str] = {
    "response": "响应", "arrival": "到场", "resolution": "处理", "callback": "回访",
}  # fmt: skip


def daily_intake(units: int) -> float:
    """Tickets a day for an estate of ``units``: 100 for 5,000 units, in proportion."""
    return LARGE_ESTATE_INTAKE * units / LARGE_ESTATE_UNITS


class _TicketMaker:
    """Draws tickets and their lifecycles from the context's seeded randomness."""

    def __init__(self, ctx: DemoContext) -> None:
        self.ctx = ctx
        self.rng = ctx.rng
        self.zone = zone(ctx.estate.timezone)
        self.office = ctx.app.calendars["office"]
        self.always = ctx.app.calendars["24x7"]
        by_team: dict[TeamKind, list[Staff]] = {}
        for team in ctx.teams:
            by_team[team.kind] = [s for s in ctx.staff if s.team_id == team.id]
        self.team_of = {t.kind: t for t in ctx.teams}
        desk = by_team[TeamKind.FRONT_DESK]
        self.desk_lead = next(s for s in desk if "supervisor" in s.roles)
        self.clerks = [s for s in desk if s is not self.desk_lead]
        self.techs = [s for s in by_team[TeamKind.REPAIR] if s.roles == {"technician"}]
        self.guards = [s for s in by_team[TeamKind.SECURITY] if s.roles == {"technician"}]
        owners = {o.id: o for o in ctx.owners}
        self.owned: list[tuple[Unit, list[tuple[Ownership, Owner]]]] = []
        held: dict[int, list[Ownership]] = {}
        for o in ctx.ownerships:
            held.setdefault(o.unit_id, []).append(o)
        for unit in ctx.units:
            if unit.id in held:
                self.owned.append((unit, [(o, owners[o.owner_id]) for o in held[unit.id]]))
        self.categories = [c for c, _ in CATEGORY_SHARES]
        self.category_cum = list(itertools.accumulate(w for _, w in CATEGORY_SHARES))

    # --- when ---------------------------------------------------------------------------

    def after(self, at: datetime, minutes: float, on_call: bool = False) -> datetime:
        """``minutes`` of working time after ``at``: office hours, or round the clock."""
        cal = self.always if on_call else self.office
        try:
            return cal.add_working_time(at, timedelta(minutes=max(1.0, minutes)))
        except CalendarDataMissing:
            # A year no holiday data covers yet: plain time is good enough for a demo's
            # made-up delays (deadlines are never guessed: the service leaves them open).
            return at + timedelta(minutes=max(1.0, minutes))

    def intake_times(self, day: date, n: int) -> list[tuple[datetime, Channel, Category]]:
        rng = self.rng
        out = []
        for _ in range(n):
            category = rng.choices(self.categories, cum_weights=self.category_cum)[0]
            channels = CHANNEL_SHARES[category]
            channel = rng.choices([c for c, _ in channels], [w for _, w in channels])[0]
            if channel in (Channel.PHONE, Channel.ONLINE):
                hour = rng.choices(range(24), CALL_HOURS)[0]
            elif channel is Channel.VISIT:
                hour = rng.randint(8, 17)  # the front desk is open 08:30-18:00 every day
            elif channel is Channel.PATROL:
                hour = rng.randint(8, 16)
            else:
                hour = 9  # the letter box is opened every morning
            minute = rng.randint(30 if hour == 8 and channel is Channel.VISIT else 0, 59)
            at = datetime(day.year, day.month, day.day, hour, minute, rng.randint(0, 59),
                          tzinfo=self.zone)  # fmt: skip
            out.append((at, channel, category))
        return out

    # --- who and where ------------------------------------------------------------------

    def reporter(self, day: date) -> tuple[Unit, Owner] | None:
        """A unit owned on ``day`` and its owner; None if none is found (a tiny estate)."""
        for _ in range(50 if self.owned else 0):
            unit, held = self.rng.choice(self.owned)
            for ownership, owner in held:
                if ownership.covers(day):
                    return unit, owner
        return None

    def open_step(self, at: datetime, channel: Channel, category: Category) -> TicketStep:
        rng = self.rng
        if category in REPAIRS:
            priority = rng.choices(list(Priority), (88, 9, 3))[0]
        elif category is Category.COMPLAINT:
            priority = Priority.URGENT if rng.random() < 0.05 else Priority.NORMAL
        else:
            priority = Priority.NORMAL
        unit_id: int | None = None
        owner_id: int | None = None
        owner_name = location = ""
        at_home = category in (Category.HOME_REPAIR, Category.OTHER_SERVICE) or (
            category is not Category.COMMON_REPAIR and rng.random() < 0.5
        )
        # A patrol raises its finding itself; everything else comes in at the front desk.
        receiver = rng.choice(self.guards if channel is Channel.PATROL else self.clerks)
        found = self.reporter(at.date()) if channel is not Channel.PATROL else None
        if at_home and found is not None:
            unit, owner = found
            unit_id, owner_id, owner_name = unit.id, owner.id, owner.name
        else:
            place = rng.choice(COMMON_PLACES).format(b=rng.randint(1, BUILDINGS))
            location = place if category in REPAIRS else f"{place}（公共区域）"
            if found is not None and rng.random() < 0.7:  # an owner called about it
                owner_id, owner_name = found[1].id, found[1].name
        data = {
            "category": category.value,
            "channel": channel.value,
            "priority": priority.value,
            "summary": rng.choice(SUMMARIES[category]),
            "unit_id": unit_id,
            "location": location,
            "reporter_owner_id": owner_id,
            "reporter_name": owner_name,
            "estate_id": self.ctx.estate.id,
            "first_contact_staff_id": receiver.id,
        }
        return TicketStep(Action.OPEN, at, receiver, data)

    # --- what happens next -------------------------------------------------------------

    def lifecycle(self, opened: TicketStep) -> list[TicketStep]:
        """The ticket's whole life as the front desk would work it, from its open step."""
        rng = self.rng
        d = opened.data
        category = Category(d["category"])
        urgent = d["priority"] != Priority.NORMAL.value
        clerk = opened.by if opened.by in self.clerks else rng.choice(self.clerks)
        steps = [opened]
        at = opened.at

        def step(action: Action, when: datetime, by: Staff | None, **data: Any) -> None:
            steps.append(TicketStep(action, when, by, data))

        if category in (Category.CONSULTATION, Category.PRAISE):
            if category is Category.PRAISE or rng.random() < 0.8:
                # Answered on the spot (consultations and praise close when resolved).
                step(Action.RESOLVE, self.after(at, rng.uniform(2, 20), True), clerk,
                     note="已当场答复")  # fmt: skip
                return steps
            step(Action.ASSIGN, self.after(at, rng.uniform(2, 15), True), clerk,
                 staff_id=self.desk_lead.id, team_id=None)  # fmt: skip
            step(Action.RESOLVE, self.after(steps[-1].at, rng.uniform(30, 420)), self.desk_lead,
                 note="已电话答复")  # fmt: skip
            return steps
        repair = category in REPAIRS
        if repair:
            worker = rng.choice(self.techs)
            team: Team | None = self.team_of[TeamKind.REPAIR]
        elif category is Category.COMPLAINT and rng.random() < 0.5:
            worker, team = rng.choice(self.guards), self.team_of[TeamKind.SECURITY]
        elif category is Category.OTHER_SERVICE:
            worker, team = rng.choice(self.clerks), None
        else:
            worker, team = self.desk_lead, None
        # The hotline hands the work on within minutes, day or night (the response target).
        at = self.after(at, rng.lognormvariate(1.8, 0.7), True)
        step(
            Action.ASSIGN, at, clerk, staff_id=worker.id, team_id=None if team is None else team.id
        )
        if rng.random() < 0.02:
            step(Action.CANCEL, self.after(at, rng.uniform(10, 120), True), clerk,
                 reason=rng.choice(("业主已自行处理", "重复登记")))  # fmt: skip
            return steps
        resolved = self._work(steps, worker, clerk, category, at, urgent)
        if resolved is not None:  # None: waiting for an outside party that never reported
            self._close(steps, worker, clerk, category, resolved, urgent)
        return steps

    def _work(
        self,
        steps: list[TicketStep],
        worker: Staff,
        clerk: Staff,
        category: Category,
        at: datetime,
        urgent: bool,
    ) -> datetime | None:
        """On site, pauses, outside work, charges and the resolution; None if left waiting."""
        rng = self.rng

        def step(action: Action, when: datetime, by: Staff | None, **data: Any) -> None:
            steps.append(TicketStep(action, when, by, data))

        repair = category in REPAIRS
        if repair:
            at = self.after(at, rng.lognormvariate(3.9, 0.7) / (3 if urgent else 1), urgent)
            step(Action.ARRIVE, at, worker)
        else:
            at = self.after(at, rng.lognormvariate(4.0, 0.9), urgent)
            step(Action.START, at, worker)
            if category is Category.COMPLAINT and rng.random() < 0.12:
                # Some complaints stay stuck: the neighbour or the other party will not move.
                at = self.after(at, rng.uniform(60, 900))
                step(Action.PAUSE, at, worker, reason="等待相关方配合")
                return None
        if repair and rng.random() < 0.12:
            at = self.after(at, rng.uniform(10, 60), urgent)
            step(Action.PAUSE, at, worker, reason=rng.choice(PAUSE_REASONS[:2]))
            at = self.after(at, rng.lognormvariate(6.0, 0.8))  # hours to days, office hours
            step(Action.RESUME, at, worker)
        outside = (category is Category.COMMON_REPAIR and rng.random() < 0.15) or (
            category is Category.HOME_REPAIR and rng.random() < 0.02
        )
        if outside:
            at = self.after(at, rng.uniform(20, 120))
            promised = (at + timedelta(days=rng.randint(3, 14))).date().isoformat()
            step(Action.DISPATCH, at, clerk, party=rng.choice(OUTSIDE_PARTIES), promised=promised)
            fate = rng.random()
            if fate < 0.32:  # one report: 28 of 86 outside work orders came back done
                at = self.after(at, rng.uniform(1, 10) * 450)
                step(Action.OUTSIDE_DONE, at, clerk)
            elif fate < 0.7:
                at = self.after(at, rng.uniform(10, 60))
                step(Action.PAUSE, at, worker, reason=PAUSE_REASONS[2])
                return None
            else:
                at = self.after(at, rng.uniform(3, 15) * 450)  # fixed in-house in the end
        if category is Category.HOME_REPAIR and rng.random() < 0.35:
            item, price = rng.choice(PAID_ITEMS)
            quantity = Decimal(rng.choice((1, 1, 1, 2, 3)))
            amount = money(Decimal(price) * quantity)
            at = self.after(at, rng.uniform(10, 60), urgent)
            step(Action.CHARGE, at, worker, item=item, quantity=str(quantity), unit_price=price,
                 amount=str(amount))  # fmt: skip
        hours = rng.lognormvariate(1.0, 0.9) if repair else rng.lognormvariate(1.8, 0.9)
        at = self.after(at, hours * 60 / (4 if urgent else 1), urgent)
        step(Action.RESOLVE, at, worker, note="已处理")
        return at

    def _close(
        self,
        steps: list[TicketStep],
        worker: Staff,
        clerk: Staff,
        category: Category,
        at: datetime,
        urgent: bool,
    ) -> None:
        """The owner's rating or the callback (回访), and the rework it may bring."""
        rng = self.rng
        system: Staff | None = None
        policy = CALLBACK_POLICY[category]
        if policy is CallbackPolicy.UNLESS_RATED and rng.random() < 0.4:
            at = self.after(at, rng.uniform(10, 600), True)
            rating = self._satisfaction(False).value
            steps.append(TicketStep(Action.RATE, at, system, {"satisfaction": rating}))
            steps.append(TicketStep(Action.CLOSE, self.after(at, rng.uniform(30, 480)), clerk, {}))
            return
        for attempt in range(3):
            if rng.random() >= 0.9:  # about 89% of the tickets that need one are called back
                # The owner never answers: after three working days the front desk closes it
                # with the reason, and it stays out of the callback rate's numerator.
                gone = self.after(at, 3 * 450)  # 7.5 office hours a day
                steps.append(TicketStep(Action.CLOSE, gone, clerk, {"reason": "业主多次联系不上"}))
                return
            at = self.after(at, rng.lognormvariate(4.5, 1.0))  # within a working day or two
            # 返修: about one repair or complaint in twelve is not fixed the first time.
            fixed = (
                attempt > 0
                or category not in (*REPAIRS, Category.COMPLAINT)
                or (rng.random() >= 0.08)
            )
            satisfaction = (
                self._satisfaction(category in REPAIRS) if fixed else Satisfaction.DISSATISFIED
            )
            steps.append(
                TicketStep(
                    Action.CALLBACK,
                    at,
                    clerk,
                    {
                        "satisfaction": satisfaction.value,
                        "fixed": fixed,
                        "channel": "phone" if rng.random() < 0.85 else "visit",
                        "comment": "" if fixed else "问题未解决",
                    },
                )
            )
            if fixed:
                return
            at = self.after(at, rng.uniform(5, 60), urgent)
            team = self.team_of[TeamKind.REPAIR] if category in REPAIRS else None
            steps.append(
                TicketStep(
                    Action.ASSIGN,
                    at,
                    clerk,
                    {"staff_id": worker.id, "team_id": None if team is None else team.id},
                )
            )
            resolved = self._work(steps, worker, clerk, category, at, urgent)
            if resolved is None:
                return
            at = resolved

    def _satisfaction(self, repair: bool) -> Satisfaction:
        # One report: repair satisfaction 70%; other work is rated a little better.
        weights = (50, 20, 30) if repair else (65, 25, 10)
        return self.rng.choices(list(Satisfaction), weights)[0]


def _demo_end(ctx: DemoContext) -> datetime:
    """The demo's now: midnight at the start of ``today`` in the estate's zone."""
    today = ctx.today
    return datetime(today.year, today.month, today.day, tzinfo=zone(ctx.estate.timezone))


def _period_start(ctx: DemoContext) -> datetime:
    first = ctx.options.period_start
    return datetime(first.year, first.month, first.day, tzinfo=zone(ctx.estate.timezone))


def _event(ctx: DemoContext, seq: int, step: TicketStep) -> TicketEvent:
    by = step.by
    return TicketEvent(
        seq=seq,
        action=step.action,
        at=step.at,
        actor=ctx.actor.name if by is None else by.name,
        staff_id=None if by is None else by.id,
        data=step.data,
    )


def _report_holiday_gaps(ctx: DemoContext) -> None:
    """One summary line for the tickets whose deadlines wait for a year's holiday data
    (a demo ending in a year no source covers yet): the tickets carry the flag."""
    gaps = ctx.app.tickets.holiday_gaps(ctx.actor, ctx.estate.id)
    if gaps.tickets:
        ctx.report(
            "  provisional deadlines 临时截止时间",
            f"{_count(gaps.tickets)} tickets: {gaps.describe('en')}, then recompute",
        )


def build_ticket_history(ctx: DemoContext) -> None:
    """Tickets of the demo period up to the last few days, stored with import_history."""
    maker = _TicketMaker(ctx)
    rng, plan = ctx.rng, ctx.tickets
    end = _demo_end(ctx)
    cutoff = end - timedelta(days=LIVE_DAYS)
    rate = daily_intake(ctx.options.units)
    drawing = 0.0  # seconds spent drawing the histories, not storing them

    def histories() -> Iterator[list[TicketEvent]]:
        # Drawn day by day while import_history stores them (it writes in batches), so
        # no list of every ticket's events is held; the service draws no randomness, so
        # the tickets are the same as drawn all first.
        nonlocal drawing
        day = ctx.options.period_start
        while day < ctx.today:
            began = time.perf_counter()
            # A day's intake varies around the rate as counts of independent calls do.
            n = max(0, round(rng.gauss(rate, math.sqrt(rate))))
            drawn: list[list[TicketEvent]] = []
            for at, channel, category in sorted(maker.intake_times(day, n), key=lambda t: t[0]):
                index = plan.generated
                plan.generated += 1
                steps = [
                    s for s in maker.lifecycle(maker.open_step(at, channel, category)) if s.at < end
                ]
                past = [s for s in steps if s.at < cutoff]
                if past:
                    drawn.append([_event(ctx, i, s) for i, s in enumerate(past, start=1)])
                plan.live.extend((index, s) for s in steps[len(past) :])
            day += timedelta(days=1)
            drawing += time.perf_counter() - began
            yield from drawn

    started = time.perf_counter()
    count = ctx.app.tickets.import_history(ctx.actor, ctx.estate.id, histories())
    seconds = time.perf_counter() - started - drawing
    # Tickets open in time order, so the imported ones are the first `count` drawn.
    plan.live.sort(key=lambda item: item[1].at)
    plan.imported = count
    if count:
        with ctx.app.unit_of_work(readonly=True) as uow:
            imported = uow.outbox.messages("ticket.imported")[-1].payload
        plan.ids.update((i, imported["first_id"] + i) for i, _ in plan.live if i < count)
    ctx.report("Tickets 工单", _count(count))
    ctx.report(
        "  history imported 历史导入",
        f"{_count(count)} tickets before {cutoff.date()} in {seconds:.1f} s "
        f"({rate:.3g} a day for {ctx.options.units:,} units)",
    )


def work_live_tickets(ctx: DemoContext) -> None:
    """The last few days entered one action at a time through the service, as they happen."""
    app, plan, estate_id = ctx.app, ctx.tickets, ctx.estate.id
    end = _demo_end(ctx)
    actors: dict[int, Actor] = {}

    def actor(by: Staff | None) -> Actor:
        if by is None:
            return ctx.actor
        if by.id not in actors:
            actors[by.id] = app.staff.actor_for(ctx.actor, by.id, ctx.today)
        return actors[by.id]

    opened = 0
    for index, step in plan.live:
        if step.action is Action.OPEN:
            plan.ids[index] = _live_open(app, actor(step.by), estate_id, step)
            opened += 1
        else:
            _live_action(app, actor(step.by), plan.ids[index], step)
    total = plan.imported + opened
    ctx.report("Tickets 工单", _count(total))
    ctx.report(
        "  entered live 实时录入",
        f"{_count(opened)} opened and {_count(len(plan.live) - opened)} actions "
        f"in the last {LIVE_DAYS} days",
    )
    (whole,) = app.ticket_stats.metrics(
        ctx.actor, estate_id, _period_start(ctx), end, as_of=end, source="all"
    )
    ctx.report(
        "  open now 未结",
        f"{_count(whole.open_now)} (resolved, awaiting the callback 待回访, "
        f"or waiting on others 挂起)",
    )
    _report_holiday_gaps(ctx)


def _live_open(app: Propcare, who: Actor, estate_id: int, step: TicketStep) -> int:
    d = step.data
    ticket = app.tickets.open(
        who,
        EstateId(estate_id),
        category=d["category"],
        channel=d["channel"],
        summary=d["summary"],
        priority=d["priority"],
        first_contact_staff_id=d["first_contact_staff_id"],
        unit_id=d["unit_id"],
        location=d["location"],
        reporter_owner_id=d["reporter_owner_id"],
        reporter_name=d["reporter_name"],
        at=step.at,
    )
    return ticket.id


def _live_action(app: Propcare, who: Actor, ticket_id: int, step: TicketStep) -> None:
    t, d, at = app.tickets, step.data, step.at
    match step.action:
        case Action.ASSIGN:
            t.assign(who, ticket_id, staff_id=d["staff_id"], team_id=d["team_id"], at=at)
        case Action.START:
            t.start(who, ticket_id, at=at)
        case Action.ARRIVE:
            t.arrive(who, ticket_id, at=at)
        case Action.PAUSE:
            t.pause(who, ticket_id, d["reason"], at=at)
        case Action.RESUME:
            t.resume(who, ticket_id, at=at)
        case Action.DISPATCH:
            t.dispatch(who, ticket_id, d["party"], promised=d["promised"], at=at)
        case Action.OUTSIDE_DONE:
            t.outside_done(who, ticket_id, at=at)
        case Action.CHARGE:
            t.charge(
                who, ticket_id, d["item"], Decimal(d["unit_price"]), Decimal(d["quantity"]), at=at
            )
        case Action.RESOLVE:
            t.resolve(who, ticket_id, d["note"], at=at)
        case Action.RATE:
            t.rate(who, ticket_id, d["satisfaction"], at=at)
        case Action.CALLBACK:
            t.callback(
                who,
                ticket_id,
                satisfaction=d["satisfaction"],
                fixed=d["fixed"],
                channel=d["channel"],
                comment=d["comment"],
                at=at,
            )
        case Action.CLOSE:
            t.close(who, ticket_id, d.get("reason"), at=at)
        case Action.CANCEL:
            t.cancel(who, ticket_id, d["reason"], at=at)
        case _:  # pragma: no cover - the maker makes no other steps
            raise AssertionError(f"no live call for {step.action}")


def _rate(rate: Rate) -> str:
    if rate.value is None:
        return f"– (0/{rate.denominator:,})"
    return f"{rate.value * 100:.1f}% ({rate.numerator:,}/{rate.denominator:,})"


def _percent(rate: Rate) -> str:
    return "–" if rate.value is None else f"{rate.value * 100:.1f}%"


def report_ticket_statistics(ctx: DemoContext) -> None:
    """The monthly statistics (月统计) of the last whole month, as the front desk reports it."""
    end = _demo_end(ctx)
    month_end = end.replace(day=1)
    month_start = month_end - relativedelta(months=1)
    start = max(month_start, _period_start(ctx))
    # as_of the demo's now, not the clock's: the figures depend on the seed alone.
    # Intake (what residents brought) and patrol/plan work are counted apart, as the seed's
    # reports count them: a weekly plan's tickets must not inflate intake or its timeliness.
    stats = ctx.app.ticket_stats
    (m,) = stats.metrics(ctx.actor, ctx.estate.id, start, month_end, as_of=end)
    (p,) = stats.metrics(ctx.actor, ctx.estate.id, start, month_end, as_of=end, source="patrol")
    partial = "" if start == month_start else f", from {start.date()}"
    ctx.report(
        "Month 月统计",
        f"{month_start:%Y-%m}{partial}, intake 受理: opened {_count(m.opened)}, "
        f"closed {_count(m.closed)}, cancelled {_count(m.cancelled)}, "
        f"still open {_count(m.open_now)}",
    )
    ctx.report(
        "  patrol and plans 巡查/计划",
        f"opened {_count(p.opened)}, closed {_count(p.closed)}, still open "
        f"{_count(p.open_now)}; timely "
        + " · ".join(f"{TARGET_LABELS[t]} {_percent(p.timely[t])}" for t in TARGET_LABELS),
    )
    ctx.report(
        "  by category 分类",
        " · ".join(f"{CATEGORY_LABELS[c]} {_count(m.by_category[c])}" for c in CATEGORY_LABELS),
    )
    ctx.report(
        "  by channel 渠道",
        " · ".join(
            f"{CHANNEL_LABELS[c]} {_count(m.by_channel[c])}"
            for c in CHANNEL_LABELS
            if c != "patrol"
        ),
    )
    ctx.report(
        "  timely 及时率",
        " · ".join(f"{TARGET_LABELS[t]} {_percent(m.timely[t])}" for t in TARGET_LABELS),
    )
    ctx.report("  rework 返修率", _rate(m.rework))
    ctx.report("  callback 回访率", _rate(m.callback))
    ctx.report("  satisfaction 满意率", _rate(m.satisfaction))
    ctx.report("  complaints resolved 投诉处理率", _rate(m.complaint_resolution))
    ctx.report(
        "  outside work orders 外部派单",
        f"{_count(m.outside_dispatched)} sent, {_count(m.outside_completed)} done",
    )


# --- fees, payments and collection (物业费与收缴) ----------------------------------------

# Property fee per m² per month by unit use, and the monthly rent of a parking space.
FEE_RATES = {UnitUse.RESIDENTIAL: Decimal("2.50"), UnitUse.SHOP: Decimal("6.80")}
PARKING_FEE = Decimal("300.00")
PARKING_SHARE = 0.3  # homes that rent a parking space
ARREARS_YEARS = 2  # the demo bills the two years before its period as well
# How owners pay: most every period, a minority late in lumps, a few never (years in arrears).
PAYER_SHARES = (("regular", 0.79), ("late", 0.14), ("never", 0.07))
COUNTER_METHODS = (("cash", 0.25), ("pos", 0.35), ("transfer", 0.40))
PREPAY_SHARE = 0.6  # of regular owners: pay the demo period in one sum at its start
DEPOSIT = Decimal("3000.00")


def _periods(first: date, last: date) -> list[str]:
    out, month = [], first.replace(day=1)
    while month <= last:
        out.append(f"{month:%Y-%m}")
        month += relativedelta(months=1)
    return out


def _period_of(day: date | datetime) -> str:
    return f"{day:%Y-%m}"


def _at(ctx: DemoContext, day: date, rng: random.Random) -> datetime:
    """A moment of office hours (08:30–17:30) on ``day`` in the estate's zone."""
    minutes = rng.randint(8 * 60 + 30, 17 * 60 + 30)
    return datetime(day.year, day.month, day.day, minutes // 60, minutes % 60,
                    tzinfo=zone(ctx.estate.timezone))  # fmt: skip


def _first_whole_period(start: date) -> str:
    """The first month of a demo period starting on ``start``: a month begun before the
    period counts as earlier, so the period's months follow it."""
    if start.day == 1:
        return _period_of(start)
    return _period_of(start + relativedelta(day=31) + timedelta(days=1))


def _last_whole_period(ctx: DemoContext) -> str:
    """The last whole month before ``today`` (the current month is still being paid)."""
    last = ctx.today.replace(day=1) - relativedelta(months=1)
    return _period_of(max(last, ctx.options.period_start.replace(day=1)))


def set_up_fees(ctx: DemoContext) -> None:
    """Fee items: the property fee per m² by use, and parking spaces for some homes."""
    app, estate_id = ctx.app, ctx.estate.id
    app.billing.add_fee_item(
        ctx.actor, estate_id, "property", "物业费", "area",
        rates={use.value: rate for use, rate in FEE_RATES.items()},
    )  # fmt: skip
    app.billing.add_fee_item(
        ctx.actor, estate_id, "parking", "车位管理费", "fixed", amount=PARKING_FEE
    )
    spaces = 0
    for unit in ctx.units:
        if (
            unit.use == UnitUse.RESIDENTIAL
            and unit.handover_date is not None
            and ctx.rng.random() < PARKING_SHARE
        ):
            app.billing.assign(ctx.actor, unit.id, "parking", unit.handover_date)
            spaces += 1
    ctx.report(
        "Fees 收费标准",
        " · ".join(f"{use.value} {rate} 元/㎡/月" for use, rate in FEE_RATES.items())
        + f" · parking 车位 {PARKING_FEE} 元/月 × {_count(spaces)}",
    )


def assign_collectors(ctx: DemoContext) -> None:
    """The collection team's collectors answer for the buildings, round robin."""
    collectors = [s for s in ctx.staff if "collector" in s.roles]
    if not collectors:
        raise RuntimeError("no collectors: the 'staff' demo step must run first")
    start = (ctx.options.period_start - relativedelta(years=ARREARS_YEARS)).replace(day=1)
    for i, building in enumerate(ctx.buildings):
        staff = collectors[i % len(collectors)]
        ctx.app.collection.assign_collector(
            ctx.actor, ctx.estate.id, staff.id, start=start, building_id=building.id
        )
        ctx.fees.collectors[building.id] = staff.id
    ctx.report(
        "Collectors 收费员",
        f"{len(set(ctx.fees.collectors.values()))} for {len(ctx.buildings)} buildings",
    )


def run_bills(ctx: DemoContext) -> None:
    """A bill run (app.billing.run) for every month of the demo period and the two years
    before it, so owners who never pay are years in arrears."""
    first = (ctx.options.period_start - relativedelta(years=ARREARS_YEARS)).replace(day=1)
    # A month the clock has not reached cannot be billed (a demo dated in the future).
    opened = ctx.app.clock.now().astimezone(zone(ctx.estate.timezone)).date()
    periods = _periods(first, min(ctx.today, opened))
    started = time.perf_counter()
    lines = total = 0
    total_yuan = Decimal(0)
    tz = zone(ctx.estate.timezone)
    now = ctx.app.clock.now()
    for period in periods:
        # Each month billed on its first morning, as the estate did then: reports as of
        # an earlier day (aging, the roster) see the bills that stood on that day.
        billed_on = datetime.combine(date.fromisoformat(f"{period}-01"), day_time(9), tzinfo=tz)
        report = ctx.app.billing.run(ctx.actor, ctx.estate.id, period, at=min(billed_on, now))
        lines += report.billed_now
        total_yuan += report.total_now
        total += 1
    seconds = time.perf_counter() - started
    ctx.fees.periods = periods
    ctx.report(
        "Bills 账单",
        f"{_count(lines)} lines, {total_yuan:,.2f} 元, {total} monthly runs "
        f"{periods[0]} – {periods[-1]} in {seconds:.1f} s"
        if periods
        else "none",
    )


def _pay(ctx: DemoContext, unit_id: int, fen: int, day: date, txn: str) -> None:
    rng = ctx.rng
    method = rng.choices([m for m, _ in COUNTER_METHODS], [w for _, w in COUNTER_METHODS])[0]
    ctx.app.payments.pay_at_counter(
        ctx.actor, UnitId(unit_id), from_fen(fen), method,  # type: ignore[arg-type]
        at=_at(ctx, day, rng), txn_id=f"demo-{txn}",
    )  # fmt: skip
    ctx.fees.payments += 1


def _regular(
    ctx: DemoContext,
    unit_id: int,
    by_period: Mapping[str, int],
    old: Sequence[str],
    demo_periods: Sequence[str],
    extra: int,
    due: list[tuple[date, int, int, str]],
) -> None:
    """The payments of an owner who pays on time; ``extra`` (paid services) with the last."""
    rng = ctx.rng
    start, end = ctx.options.period_start, ctx.today
    mine: list[tuple[date, int, int, str]] = []
    # Earlier bills settled by the demo period: one sum before it starts.
    if old:
        last = old[-1]
        day = date(int(last[:4]), int(last[5:]), rng.randint(1, 28))
        fen = sum(by_period[p] for p in old)
        mine.append((min(day, start - timedelta(days=1)), unit_id, fen, f"{unit_id}-old"))
    current = [p for p in demo_periods if p in by_period]
    if current and rng.random() < PREPAY_SHARE:
        # Paid the whole demo period in advance (预交), early in its first weeks.
        day = start + timedelta(days=rng.randrange(max(1, min(14, (end - start).days))))
        fen = sum(by_period[p] for p in current)
        mine.append((day, unit_id, fen, f"{unit_id}-ahead"))
    else:
        for period in current:
            day = max(date(int(period[:4]), int(period[5:]), rng.randint(1, 28)), start)
            if day < end:
                mine.append((day, unit_id, by_period[period], f"{unit_id}-{period}"))
    if extra and mine:
        day, _, fen, txn = mine[-1]
        mine[-1] = (day, unit_id, fen + extra, txn)
    due.extend(mine)


def take_payments(ctx: DemoContext) -> None:
    """Payments at the counter (app.payments.pay_at_counter), oldest bills first.

    Regular owners settled the earlier bills in one sum before the demo period and pay
    each of its months in that month, or all of it in advance (预交), with the paid
    services of their tickets; late owners paid part of the old bills and pay a lump in
    the demo period; a few never pay. Every payment goes through the service, one by one.
    """
    rng, plan = ctx.rng, ctx.fees
    start, end = ctx.options.period_start, ctx.today
    first_demo = _first_whole_period(start)
    demo_periods = [p for p in plan.periods if p >= first_demo]
    names = [n for n, _ in PAYER_SHARES]
    weights = [w for _, w in PAYER_SHARES]
    # Paid services of tickets (billed by the runs, not among a unit's bills): the
    # regular owners pay them with their last payment.
    extra: dict[int, int] = {}
    # The roster streamed (iter_roster): memory does not grow with the estate's arrears.
    for line in ctx.app.arrears.iter_roster(ctx.actor, ctx.estate.id):
        if line.fee_item == PAID_SERVICE:
            extra[line.unit_id] = extra.get(line.unit_id, 0) + to_fen(line.amount)
    # (day, unit, fen, txn): paid in time order, so receipts number as the days go.
    due: list[tuple[date, int, int, str]] = []
    for unit in ctx.units:
        # One unit's bills at a time: what it owes by period, and its building's totals.
        unit_id: int = unit.id
        by_period: dict[str, int] = {}
        for bill in ctx.app.billing.bills(ctx.actor, unit.id):
            by_period[bill.period] = by_period.get(bill.period, 0) + bill.amount_fen
            key = (unit.building_id, bill.period)
            plan.billed[key] = plan.billed.get(key, 0) + bill.amount_fen
        if not by_period:
            continue
        kind = rng.choices(names, weights)[0]
        plan.payers[unit_id] = kind
        old = sorted(p for p in by_period if p < first_demo)
        if kind == "never":
            continue
        if kind == "regular":
            _regular(ctx, unit_id, by_period, old, demo_periods, extra.get(unit_id, 0), due)
            continue
        # late: paid the first half of the old bills once, then a lump in the demo period
        half = old[: len(old) // 2]
        if half:
            fen = sum(by_period[p] for p in half)
            first = half[-1]
            day = date(int(first[:4]), int(first[5:]), rng.randint(1, 28))
            due.append((day, unit_id, fen, f"{unit_id}-old"))
        rest = sorted(p for p in by_period if p not in half)
        months = rng.randint(3, max(3, len(rest)))
        fen = sum(by_period[p] for p in rest[:months])
        days = (end - start).days
        if fen and days > 0:
            day = start + timedelta(days=rng.randrange(days))
            due.append((day, unit_id, fen, f"{unit_id}-lump"))
    due.sort()
    started = time.perf_counter()
    for day, unit_id, fen, txn in due:
        _pay(ctx, unit_id, fen, day, txn)
    seconds = time.perf_counter() - started
    counts = {n: sum(1 for k in plan.payers.values() if k == n) for n in names}
    ctx.report(
        "Payments 收费",
        f"{_count(plan.payments)} at the counter in {seconds:.1f} s (owners: "
        f"{_count(counts['regular'])} pay each period, {_count(counts['late'])} late in "
        f"lumps, {_count(counts['never'])} never)",
    )


def handle_deposits(ctx: DemoContext) -> None:
    """Renovation deposits (装修押金): collected, inspected, one refunded with a deduction."""
    rng, app = ctx.rng, ctx.app
    owned = [u for u in ctx.units if u.handover_date is not None and u.use == UnitUse.RESIDENTIAL]
    units = rng.sample(owned, min(3, len(owned)))
    start, days = ctx.options.period_start, max(1, (ctx.today - ctx.options.period_start).days)
    refunded = 0
    kept = Decimal(0)
    for i, unit in enumerate(units):
        day = start + timedelta(days=rng.randrange(max(1, days // 3)))
        deposit = app.deposits.collect(
            ctx.actor, unit.id, DEPOSIT, method="pos", at=_at(ctx, day, rng)
        )
        if i == len(units) - 1 and len(units) > 1:
            continue  # still renovating: the deposit stays held
        done = day + timedelta(days=rng.randint(20, max(21, days // 2)))
        done = min(done, ctx.today - timedelta(days=1))
        passed = i != 0
        app.deposits.inspect(
            ctx.actor, deposit.id, passed=passed,
            note="" if passed else "楼道墙面划伤", at=_at(ctx, done, rng),
        )  # fmt: skip
        deductions = () if passed else (Deduction("修补楼道墙面", Decimal("450.00")),)
        app.deposits.refund(
            ctx.actor, deposit.id, deductions=deductions, method="transfer",
            at=_at(ctx, done, rng),
        )  # fmt: skip
        refunded += 1
        kept += sum(d.amount for d in deductions)
    held = app.deposits.held(ctx.actor, ctx.estate.id)
    ctx.report(
        "Deposits 装修押金",
        f"{len(units)} collected, {refunded} refunded ({kept:.2f} 元 kept for repairs), "
        f"{len(held)} held",
    )


def run_dunning(ctx: DemoContext) -> None:
    """A dunning campaign (催缴) in the last month: visits and calls logged, a few SMS."""
    rng, app, plan = ctx.rng, ctx.app, ctx.fees
    month = ctx.today.replace(day=1)
    first = max(month, ctx.options.period_start)
    days = max(1, (ctx.today - first).days)
    plan.campaign_id = app.collection.start_campaign(
        ctx.actor, ctx.estate.id, f"{month:%Y年%m月}催缴"
    )
    owing: dict[int, Decimal] = {}
    for line in app.arrears.iter_roster(ctx.actor, ctx.estate.id):
        owing[line.unit_id] = owing.get(line.unit_id, Decimal(0)) + line.amount
    units = {u.id: u for u in ctx.units}
    # The biggest debts first, as a collector's list goes.
    targets = sorted(owing, key=lambda u: (-owing[u], u))[: max(5, len(owing) // 3)]
    outcomes = (Outcome.PROMISED, Outcome.REFUSED, Outcome.NOBODY_HOME, Outcome.NOBODY_HOME)
    logged = 0
    for unit_id in sorted(targets):
        collector = plan.collectors.get(units[UnitId(unit_id)].building_id)
        method = Method.VISIT if rng.random() < 0.5 else Method.PHONE
        outcome = rng.choice(outcomes)
        day = first + timedelta(days=rng.randrange(days))
        app.collection.log_attempt(
            ctx.actor, UnitId(unit_id), method, outcome,
            collector_staff_id=collector, campaign_id=plan.campaign_id,
            promised_date=day + timedelta(days=14) if outcome is Outcome.PROMISED else None,
            at=_at(ctx, day, rng),
        )  # fmt: skip
        logged += 1
    texted = 0
    for unit_id in rng.sample(sorted(targets), min(5, len(targets))):
        # Dated on a demo day in office hours, so reports of the month see them.
        sent = _at(ctx, first + timedelta(days=rng.randrange(days)), rng)
        try:
            app.collection.send_sms(
                ctx.actor, UnitId(unit_id), owing[unit_id], campaign_id=plan.campaign_id,
                collector_staff_id=plan.collectors.get(units[UnitId(unit_id)].building_id),
                at=sent,
            )  # fmt: skip
        except ValidationError:
            continue  # the unit changed hands to an owner without a phone
        texted += 1
    ctx.report(
        "Dunning 催缴",
        f"{_count(logged)} visits and calls, {texted} SMS to the "
        f"{_count(len(owing))} units in arrears",
    )


def _rate_text(rate: CollectionRate, zone: tzinfo) -> str:
    """收缴率 as the library defines it: cash over billed, the credits beside it (not in
    it), and the cut-off, the same the monthly report states."""
    value = rate.rate
    shown = "–" if value is None else f"{value * 100:.1f}%"
    return (
        f"{shown} (cash {rate.cash:,.2f}/{rate.billed:,.2f} 元; credits {rate.credits:,.2f} 元 "
        f"not counted; as of {rate.as_of.astimezone(zone):%Y-%m-%d %H:%M})"
    )


def report_collection(ctx: DemoContext) -> None:
    """收缴率 of the last whole month, 历史欠费清缴, aging and the arrears roster head."""
    app, estate_id = ctx.app, ctx.estate.id
    period = _last_whole_period(ctx)
    (whole,) = app.arrears.collection_rate(ctx.actor, estate_id, period)
    ctx.report(f"Collection rate 收缴率 {period}", _rate_text(whole, app.zone(ctx.estate.timezone)))
    order = {b.name: i for i, b in enumerate(ctx.buildings)}
    by_building = sorted(
        app.arrears.collection_rate(ctx.actor, estate_id, period, group_by="building"),
        key=lambda r: order.get(str(r.group), len(order)),
    )
    ctx.report(
        "  by building 分楼栋",
        " · ".join(
            f"{r.group} {'–' if r.rate is None else f'{r.rate * 100:.1f}%'}" for r in by_building
        ),
    )
    recovered = app.arrears.recovery(ctx.actor, estate_id, _period_start(ctx), _demo_end(ctx))
    amount = sum((fen for _, fen in recovered), Decimal(0))
    ctx.report(
        "Arrears recovered 历史欠费清缴",
        f"{amount:,.2f} 元 of bills before {ctx.options.period_start.year}, "
        f"paid {ctx.options.period_start} – {ctx.today}",
    )
    ctx.report(
        "Aging 账龄",
        " · ".join(
            f"{label} {value:,.2f}" for label, value in app.arrears.aging(ctx.actor, estate_id)
        ),
    )
    # Streamed, largest first: the head is its first five lines.
    head: list[ArrearsLine] = []
    owing: set[int] = set()
    total = Decimal(0)
    for line in app.arrears.iter_roster(ctx.actor, estate_id):
        owing.add(line.unit_id)
        total += line.amount
        if len(head) < 5:
            head.append(line)
    ctx.report("Arrears roster 欠费清单", f"{_count(len(owing))} units, {total:,.2f} 元")
    names = {item.code: item.name for item in app.billing.fee_items(ctx.actor, estate_id)}
    for i, line in enumerate(head, start=1):
        years = f"{line.years[0]}–{line.years[-1]}" if len(line.years) > 1 else f"{line.years[0]}"
        ctx.report(
            f"  {i}.",
            f"{line.building} {line.unit} {line.owner} {line.phone} "
            f"{names.get(line.fee_item, line.fee_item)} {len(line.periods)} months ({years}) "
            f"{line.amount:,.2f} 元 · last 催缴 {line.last_attempt or 'none'}",
        )


# --- commission (提成) ---------------------------------------------------------------------

# The collectors' plan: older debts pay more, being harder to collect; a slice of the
# month's collection pays by the attainment it falls in (marginal tiers), more above the
# target; door-to-door visits scale the pay, a weekly quota of households pays or costs.
COMMISSION_PLAN = "收费员提成"
COMMISSION_RATES = {"current": "1.0", "arrears": "1.5", "old_arrears": "3.0"}  # 预交 as current
COMMISSION_TIERS: tuple[dict[str, str | None], ...] = (
    {"from": "0", "to": "0.8", "factor": "0.8"},
    {"from": "0.8", "to": "1", "factor": "1"},
    {"from": "1", "to": None, "factor": "1.3"},  # the accelerator above the target
)
COMMISSION_THRESHOLD = "0.5"  # below half the target nothing is earned
TARGET_SHARE = Decimal("0.8")  # a month's target: 80% of what the collector's buildings billed
VISITS_PER_DAY = 2  # door-to-door visits (上门) due on each working day
WEEKLY_SHARE = 0.06  # households to collect from each week, per household a collector serves
WEEKLY_REWARD = Decimal("50.00")
WEEKLY_PENALTY = Decimal("30.00")
COMMISSION_FLOOR = Decimal("300.00")
COMMISSION_CAP = Decimal("3000.00")
BASIS_LABELS = {
    "current": "当期", "arrears": "往月欠费", "old_arrears": "历史欠费", "prepayment": "预交",
}  # fmt: skip


def settle_periods(start: date, today: date, open_month: str) -> list[str]:
    """The months the demo settles commission for, oldest first.

    The whole months of a demo period from ``start`` to ``today`` before ``today``'s
    month (the current month is not over), or the month before when the period has no
    such month; of those, the ones the clock has closed (before ``open_month``).
    """
    current = today.replace(day=1)
    first = date.fromisoformat(f"{_first_whole_period(start)}-01")
    last = current - timedelta(days=1)
    periods = _periods(first, last) or [_period_of(last)]
    return [p for p in periods if p < open_month]


@attrs.frozen
class ClosedMonths:
    """The months the demo settles and appraises: the whole months of its period that the
    clock has closed (:func:`settle_periods`), oldest first, with their working days;
    ``held`` the later ones the office calendar has no holiday data for yet (``missing``:
    the first such year), which cannot be counted in working days."""

    open_month: str
    periods: tuple[str, ...]
    working: frozenset[date]
    held: tuple[str, ...] = ()
    missing: object = None


def closed_months(ctx: DemoContext) -> ClosedMonths:
    """The closed months of the demo period, as the commission and appraisal steps use them."""
    tz = zone(ctx.estate.timezone)
    open_month = _period_of(ctx.app.clock.now().astimezone(tz))
    periods = settle_periods(ctx.options.period_start, ctx.today, open_month)
    office = ctx.app.calendars["office"]
    working: set[date] = set()
    for i, period in enumerate(periods):
        try:
            days = [d for d in days_of(period) if office.windows_on(d)]
        except CalendarDataMissing as missing:
            return ClosedMonths(
                open_month, tuple(periods[:i]), frozenset(working), tuple(periods[i:]),
                missing.value,
            )  # fmt: skip
        working.update(days)
    return ClosedMonths(open_month, tuple(periods), frozenset(working))


def _pct(value: Decimal | str | None) -> str:
    return "–" if value is None else f"{Decimal(value) * 100:.1f}%"


def _share(value: object) -> str:
    return f"{(Decimal(str(value)) * 100).normalize():f}%"


def _plan_text() -> str:
    """The plan's rates and tiers in a line: ``当期 1% · ...; ×0.8 below 80% of target, ...``."""
    rates = " · ".join(
        f"{BASIS_LABELS[c]} {Decimal(r).normalize():f}%" for c, r in COMMISSION_RATES.items()
    )
    low, *rest = COMMISSION_TIERS
    tiers = [f"×{low['factor']} below {_share(low['to'])} of target"] + [
        f"×{t['factor']} to {_share(t['to'])}" if t["to"] is not None else f"×{t['factor']} above"
        for t in rest
    ]
    return (
        f"{COMMISSION_PLAN}: {rates}; {', '.join(tiers)} (marginal); "
        f"nothing below {_share(COMMISSION_THRESHOLD)}"
    )


def _door_visits(ctx: DemoContext, periods: Sequence[str], working: frozenset[date]) -> int:
    """Collectors' door-to-door visits (上门催缴) to owners in arrears in their buildings on
    the working days of the months to settle: the quota most days, fewer on some."""
    rng, app = ctx.rng, ctx.app
    owing: dict[int, list[int]] = {}
    for unit in ctx.units:
        staff_id = ctx.fees.collectors.get(unit.building_id)
        if staff_id is not None and ctx.fees.payers.get(unit.id) in ("late", "never"):
            owing.setdefault(staff_id, []).append(unit.id)
    outcomes = (Outcome.PROMISED, Outcome.REFUSED, Outcome.NOBODY_HOME, Outcome.NOBODY_HOME)
    logged = 0
    for staff_id, units in sorted(owing.items()):
        diligence = rng.uniform(0.6, 1.0)  # the share of days this collector makes the quota
        for day in sorted(working):
            n = VISITS_PER_DAY if rng.random() < diligence else rng.randrange(VISITS_PER_DAY)
            for unit_id in rng.sample(units, min(n, len(units))):
                outcome = rng.choice(outcomes)
                app.collection.log_attempt(
                    ctx.actor, UnitId(unit_id), Method.VISIT, outcome,
                    collector_staff_id=staff_id, note="上门催缴",
                    promised_date=day + timedelta(days=14) if outcome is Outcome.PROMISED else None,
                    at=_at(ctx, day, rng),
                )  # fmt: skip
                logged += 1
    return logged


def _targets(
    ctx: DemoContext, collectors: Sequence[Staff], periods: Sequence[str]
) -> dict[tuple[int, str], Decimal]:
    """(staff id, period) -> amount target: a share of what the collector's buildings were
    billed that month, in hundreds of yuan; a collector without a building of their own (a
    large estate has more collectors than buildings) gets the average."""
    billed: dict[tuple[int, str], int] = {}
    for (building_id, period), fen in ctx.fees.billed.items():
        staff_id = ctx.fees.collectors.get(building_id)
        if staff_id is not None and period in periods:
            key = (staff_id, period)
            billed[key] = billed.get(key, 0) + fen
    out: dict[tuple[int, str], Decimal] = {}
    hundred = Decimal(100)
    for period in periods:
        own = {
            s.id: max(hundred, (from_fen(fen) * TARGET_SHARE / hundred).quantize(Decimal(1)) * 100)
            for s in collectors
            if (fen := billed.get((s.id, period), 0)) > 0
        }
        average = sum(own.values(), Decimal(0)) / len(own) if own else hundred
        for s in collectors:
            out[(s.id, period)] = own.get(s.id, (average / hundred).quantize(Decimal(1)) * 100)
    return out


def settle_commission(ctx: DemoContext) -> None:
    """Commission (提成) of the collectors: a tiered plan for the role, monthly targets from
    what their buildings were billed, door-to-door visits, and every closed month of the
    demo period settled in order (app.commission.settle); the last month reported, with
    one statement written as CSV next to the database."""
    app, estate_id = ctx.app, ctx.estate.id
    closed = closed_months(ctx)
    periods, working = list(closed.periods), closed.working
    held = list(closed.held)  # months the visit quota cannot be settled for (no holiday data)
    why = (
        f"the calendar has no holidays for {closed.missing}, so the visit quota has no "
        "working days; add them (docs/reference/calendar-files.md), then settle"
        if held
        else ""
    )
    if not periods:
        reason = why or f"no month of the demo period is over by the clock ({closed.open_month})"
        ctx.report("Commission 提成", f"none settled: {reason}")
        return
    collectors = [s for s in ctx.staff if "collector" in s.roles]
    served: dict[int, int] = {}
    for unit in ctx.units:
        staff_id = ctx.fees.collectors.get(unit.building_id)
        if staff_id is not None and unit.handover_date is not None:
            served[staff_id] = served.get(staff_id, 0) + 1
    weekly = max(1, round(WEEKLY_SHARE * sum(served.values()) / max(1, len(served))))
    app.commission.add_plan(
        ctx.actor, estate_id, COMMISSION_PLAN,
        effective_from=date.fromisoformat(f"{periods[0]}-01"), role="collector",
        params={
            "rates": COMMISSION_RATES, "tiers": list(COMMISSION_TIERS), "mode": "marginal",
            "threshold": COMMISSION_THRESHOLD, "visits_per_day": VISITS_PER_DAY,
            "visit_rule": "multiplier", "weekly_households": weekly,
            "weekly_reward": str(WEEKLY_REWARD), "weekly_penalty": str(WEEKLY_PENALTY),
        },
        floor=COMMISSION_FLOOR, cap=COMMISSION_CAP,
    )  # fmt: skip
    for (staff_id, period), amount in _targets(ctx, collectors, periods).items():
        app.commission.set_target(ctx.actor, StaffId(staff_id), period, amount=amount)
    visits = _door_visits(ctx, periods, working)
    started = time.perf_counter()
    # Each month's statements counted as it is settled; only the last month's are kept.
    statements_settled, total_settled = 0, Decimal(0)
    for period in periods:
        last = app.commission.settle(ctx.actor, estate_id, period)
        statements_settled += len(last.statements)
        total_settled += last.total
    seconds = time.perf_counter() - started
    ctx.report("Commission 提成", _plan_text())
    ctx.report(
        "  quotas 考核",
        f"× visit completion ({VISITS_PER_DAY} visits 上门 a working day; {_count(visits)} logged) "
        f"· {weekly} household{'s' if weekly > 1 else ''} a week +{WEEKLY_REWARD:.0f}/"
        f"−{WEEKLY_PENALTY:.0f} 元 · floor {COMMISSION_FLOOR:,.0f}, cap {COMMISSION_CAP:,.0f} 元",
    )
    months = f"{len(periods)} month{'s' if len(periods) > 1 else ''}"
    ctx.report(
        "  settled 已结算",
        f"{periods[0]} – {periods[-1]} ({months}, in order): "
        f"{statements_settled} statements, {total_settled:,.2f} 元 in {seconds:.1f} s",
    )
    if held:
        ctx.report("  not settled 未结算", f"{', '.join(held)}: {why}")
    names: dict[int, str] = {s.id: s.name for s in ctx.staff}
    order: dict[int, int] = {s.id: i for i, s in enumerate(ctx.staff)}
    statements = sorted(last.statements, key=lambda s: (order.get(s.staff_id, 0), s.sequence))
    ctx.report(
        f"Commission {last.period} 提成", f"{last.total:,.2f} 元 for {len(statements)} collectors"
    )
    for statement in statements:
        ctx.report(
            f"  {names.get(statement.staff_id, statement.staff_id)}",
            f"attainment 达成率 {_pct(statement.inputs.get('attainment'))} · "
            f"{statement.total:,.2f} 元 · {_count(len(statement.lines))} lines",
        )
    lines = [(s, line) for s in statements for line in s.lines if line.kind == "collection"]
    # An example to check by hand: the first line of old arrears (历史欠费), which pay most.
    example = next(((s, li) for s, li in lines if li.basis == "old_arrears"), None)
    example = example or (lines[0] if lines else None)
    if example is not None:
        units = {u.id: u for u in ctx.units}
        buildings = {b.id: b.name for b in ctx.buildings}
        owner, line = example
        unit = units[UnitId(line.unit_id or 0)]
        items = {item.code: item.name for item in app.billing.fee_items(ctx.actor, estate_id)}
        ctx.report(
            "  example 算式",
            f"{names.get(owner.staff_id)} · {buildings[unit.building_id]} {unit.number} "
            f"{items.get(line.fee_item, line.fee_item)} {line.period} "
            f"{BASIS_LABELS.get(line.basis, line.basis)}, paid {line.paid_on}: {line.arithmetic}",
        )
    if not statements:
        return
    statement = example[0] if example is not None else statements[0]
    path = ctx.options.db.parent / f"commission-{last.period}-{statement.staff_id}.csv"
    # With a byte order mark, as spreadsheet programs need to read UTF-8 Chinese right.
    path.write_text(
        app.commission.statement_csv(ctx.actor, statement.id), encoding="utf-8-sig", newline=""
    )
    ctx.report("  statement CSV 对账单", str(path))


# --- appraisal (绩效考核) -----------------------------------------------------------------

# One set of grade bands for every scorecard; the grade scales the role's base bonus.
APPRAISAL_BANDS = (
    Band("D", Decimal(0), Decimal(60)),
    Band("C", Decimal(60), Decimal(75)),
    Band("B", Decimal(75), Decimal(90)),
    Band("A", Decimal(90), Decimal(100)),
)
PAY_MULTIPLIERS = {
    "A": Decimal("1.5"),
    "B": Decimal("1.2"),
    "C": Decimal("1.0"),
    "D": Decimal("0.6"),
}
CALIBRATION = {"A": Decimal("0.2")}  # the forced distribution of the last month closed
VENDOR_THRESHOLD = Decimal(80)  # a vendor scoring below it has a share of its fee deducted
VENDOR_DEDUCTION = Decimal("0.05")
ARREARS_PER_UNIT = Decimal(80)  # a month's target of old arrears, per unit a collector serves
TRAINING_SHARE = 0.9  # staff who sit the month's training test
INCIDENT_SHARE = 0.05  # staff with a discipline deduction (or a commendation) in a month
# Appraised roles, in the order they are reported; staff are appraised by their first role
# (alphabetically) that has a scorecard: leaders by their trade, guards as technicians.
ROLE_LABELS: dict[str, str] = {
    "front_desk": "front desk 前台", "technician": "technician 工程/秩序",
    "collector": "collector 收费员", "team:cleaning": "cleaning team 保洁", "vendor": "vendor 外包",
}  # fmt: skip
BASE_BONUS = {
    "front_desk": Decimal(800), "technician": Decimal(1000), "collector": Decimal(1000),
    "team:cleaning": Decimal(3000),  # the team's pool
}  # fmt: skip
LEVEL_LABELS = {"team_leader": "班组长", "supervisor": "主管", "area_steward": "区域管家"}
# What the three-level inspections (三级检查) find, with the points each costs.
INSPECTION_ITEMS: dict[str, tuple[tuple[str, int], ...]] = {
    "front_desk": (
        ("台面不洁", 2), ("着装不规范", 2), ("未使用礼貌用语", 3), ("来访登记不全", 3),
        ("电话三声未接", 2),
    ),
    "technician": (
        ("维修现场未清理", 3), ("工具未归位", 2), ("未穿工装", 2), ("设备巡检记录缺失", 5),
        ("未佩戴工牌", 2),
    ),
    "collector": (
        ("票据未及时上交", 5), ("收费台账不清", 3), ("着装不规范", 2), ("未佩戴工牌", 2),
    ),
    "cleaning": (
        ("垃圾未清", 2), ("楼道积尘", 2), ("电梯轿厢不洁", 3), ("绿化带有杂物", 2),
        ("垃圾桶满溢", 3), ("玻璃有污渍", 1), ("地库积水未清", 2),
    ),
}  # fmt: skip
DISCIPLINE = (("迟到", 2), ("上班玩手机", 3), ("脱岗", 5))
COMMENDATIONS = (("业主来信表扬", 3), ("拾金不昧", 5), ("协助处置突发事件", 3))
# The cleaning team and vendor: the inspection in steps (below 80 scores 40).
CLEANING_STEPS = ((0, 40), (80, 70), (90, 85), (95, 100))


def _linear(floor: str, target: str) -> Rule:
    return Rule(RuleKind.LINEAR, target=Decimal(target), floor=Decimal(floor))


def _kpi(metric: str, weight: int, rule: Rule, label: str) -> Kpi:
    return Kpi(metric, Decimal(weight), rule, label=label)


def appraisal_kpis(arrears_target: Decimal) -> dict[str, tuple[Kpi, ...]]:
    """The KPIs of each appraised role (weights sum to 100): the ticket records for the front
    desk and technicians, collection for collectors, inspections for everyone, training
    for staff. ``arrears_target``: the old arrears (yuan) a collector recovers for full points."""
    inspection = _kpi("inspection", 20, _linear("80", "100"), "三级检查")
    training = _kpi("training_score", 15, _linear("60", "95"), "培训考核")
    rework = Rule(RuleKind.INVERSE, target=Decimal("0.03"), floor=Decimal("0.15"))
    cleaning = Rule(
        RuleKind.STEPPED, steps=tuple((Decimal(v), Decimal(p)) for v, p in CLEANING_STEPS)
    )
    return {
        "front_desk": (
            _kpi("timely_response", 15, _linear("0.8", "1"), "响应及时率"),
            _kpi("timely_resolution", 15, _linear("0.5", "0.95"), "处理及时率"),
            _kpi("callback_rate", 15, _linear("0.7", "0.95"), "回访率"),
            _kpi("satisfaction_rate", 20, _linear("0.7", "0.95"), "满意率"),
            inspection,
            _kpi("training_score", 15, Rule(RuleKind.THRESHOLD, target=Decimal(80)), "培训考核"),
        ),
        "technician": (
            _kpi("timely_arrival", 20, _linear("0.7", "0.95"), "到场及时率"),
            _kpi("timely_resolution", 15, _linear("0.7", "0.95"), "处理及时率"),
            _kpi("rework_rate", 15, rework, "返修率"),
            _kpi("satisfaction_rate", 15, _linear("0.5", "0.9"), "满意率"),
            inspection,
            training,
        ),
        "collector": (
            _kpi("collection_rate", 30, _linear("0.6", "0.9"), "收缴率"),
            _kpi("arrears_recovered", 15, _linear("0", str(arrears_target)), "历史欠费清缴"),
            _kpi("visit_completion", 20, _linear("1", str(VISITS_PER_DAY)), "上门完成"),
            inspection,
            training,
        ),
        "team:cleaning": (_kpi("inspection", 100, cleaning, "三级检查"),),
        "vendor": (_kpi("inspection", 100, cleaning, "三级检查"),),
    }


def _findings(
    rng: random.Random, items: Sequence[tuple[str, int]], most: int, chance: float
) -> list[tuple[str, Decimal]]:
    """A staff inspection's itemised deductions: up to ``most`` items, each found by ``chance``."""
    k = sum(1 for _ in range(most) if rng.random() < chance)
    return [(item, Decimal(points)) for item, points in rng.sample(items, min(k, len(items)))]


def _rounds(ctx: DemoContext, most: int, chance: float) -> list[tuple[str, Decimal]]:
    """A cleaning inspection's round of the estate: what was found where (3号楼垃圾未清)."""
    rng = ctx.rng
    found: dict[str, Decimal] = {}
    for _ in range(most):
        if rng.random() < chance:
            item, points = rng.choice(INSPECTION_ITEMS["cleaning"])
            found[f"{rng.choice(ctx.buildings).name}{item}"] = Decimal(points)
    return list(found.items())


@attrs.define
class _Entered:
    inspections: int = 0
    deductions: int = 0
    example: str = ""
    trainings: int = 0
    discipline: int = 0
    commendations: int = 0


def _enter_inputs(
    ctx: DemoContext,
    period: str,
    staff: Sequence[tuple[Staff, str]],
    care: Mapping[int, float],
    entered: _Entered,
) -> None:
    """A month's inputs: three-level inspections of the appraised staff, the cleaning teams
    and the cleaning vendors, training scores, a few discipline deductions and commendations.
    ``care``: how careful each staff member is (0..1), the same every month."""
    rng, a, actor = ctx.rng, ctx.app.appraisal, ctx.actor

    def inspect(
        level: str,
        findings: list[tuple[str, Decimal]],
        staff_id: int | None = None,
        team_id: int | None = None,
        vendor_id: int | None = None,
    ) -> None:
        a.record_inspection(
            actor, period, level, staff_id=staff_id, team_id=team_id, vendor_id=vendor_id,
            deductions=findings,
        )  # fmt: skip
        entered.inspections += 1
        entered.deductions += len(findings)
        if findings and not entered.example:
            entered.example = f"{findings[0][0]} −{findings[0][1]}"

    for level in LEVEL_LABELS:
        for s, role in staff:
            inspect(level, _findings(rng, INSPECTION_ITEMS[role], 3, 0.45 * (1 - care[s.id])),
                    staff_id=s.id)  # fmt: skip
        for team in ctx.teams:
            if team.kind is TeamKind.CLEANING:
                inspect(level, _rounds(ctx, 6, 0.3), team_id=team.id)
        for vendor in ctx.vendors:
            if vendor.service == "cleaning":
                inspect(level, _rounds(ctx, 8, 0.45), vendor_id=vendor.id)
    for s, _role in staff:
        if rng.random() < TRAINING_SHARE:
            mark = min(100, max(40, round(rng.gauss(72 + 22 * care[s.id], 7))))
            a.record_training(actor, s.id, period, Decimal(mark))
            entered.trainings += 1
        if rng.random() < INCIDENT_SHARE * (1.5 - care[s.id]):
            reason, points = rng.choice(DISCIPLINE)
            a.record_discipline(actor, s.id, period, Decimal(points), reason)
            entered.discipline += 1
        if rng.random() < INCIDENT_SHARE * (0.5 + care[s.id]):
            reason, points = rng.choice(COMMENDATIONS)
            a.record_commendation(actor, s.id, period, Decimal(points), reason)
            entered.commendations += 1


def _grades(grades: Iterable[str | None]) -> str:
    """``A 2 · B 5 · C 3 · D 1``: how many of each grade, the best first."""
    counts = {band.grade: 0 for band in reversed(APPRAISAL_BANDS)}
    for grade in grades:
        if grade is not None:
            counts[grade] += 1
    return " · ".join(f"{g} {n}" for g, n in counts.items())


def _graded(r: Result) -> str:
    """``92.35 A``, or ``88.10 B (was A)`` when the calibration moved it."""
    moved = f" (was {r.grade_before})" if r.grade_before != r.grade else ""
    return f"{r.total} {r.grade}{moved}"


def _quarter(period: str) -> str:
    return f"{period[:4]}-Q{(int(period[5:]) - 1) // 3 + 1}"


def appraise_staff(ctx: DemoContext) -> None:
    """Appraisal (绩效考核): scorecards for the front desk, technicians, collectors, the
    cleaning team and the cleaning vendor; each closed month of the demo period (the months
    the commission step settles) gets its inspections, training scores, discipline and
    commendations and is closed, in order, the last with a forced distribution. Reported:
    the last month's grades and ranking, the vendors' scores and fee deductions, and each
    quarter with more than one closed month."""
    app, estate_id = ctx.app, ctx.estate.id
    closed = closed_months(ctx)
    periods = list(closed.periods)
    why = (
        f"the calendar has no holidays for {closed.missing}, so the month's working days are "
        "unknown; add them (docs/reference/calendar-files.md), then close"
        if closed.held
        else ""
    )
    # A month whose tickets' deadlines wait for a year's holiday data is not closed (the
    # service refuses: pay is not set on provisional timeliness); nor are the ones after it.
    for i, period in enumerate(periods):
        gaps = app.tickets.holiday_gaps(ctx.actor, estate_id, period=period)
        if gaps.tickets:
            years = ", ".join(map(str, gaps.years))
            why = (
                f"{gaps.tickets} tickets of {period} have deadlines waiting for {years} holiday "
                "data; add it (docs/how-to/add-next-years-holidays.md), then close"
            )
            periods = periods[:i]
            break
    if not periods:
        reason = why or f"no month of the demo period is over by the clock ({closed.open_month})"
        ctx.report("Appraisal 绩效考核", f"none closed: {reason}")
        return
    served: dict[int, int] = {}
    for unit in ctx.units:
        staff_id = ctx.fees.collectors.get(unit.building_id)
        if staff_id is not None and unit.handover_date is not None:
            served[staff_id] = served.get(staff_id, 0) + 1
    per_collector = Decimal(sum(served.values())) / max(1, len(served))
    hundred = Decimal(100)
    arrears_target = max(hundred, (per_collector * ARREARS_PER_UNIT / hundred).quantize(1) * 100)
    kpis = appraisal_kpis(arrears_target)
    first = date.fromisoformat(f"{periods[0]}-01")
    for role, role_kpis in kpis.items():
        vendor = role == "vendor"
        app.appraisal.add_scorecard(
            ctx.actor, estate_id, role, effective_from=first, kpis=role_kpis,
            bands=APPRAISAL_BANDS, multipliers=None if vendor else PAY_MULTIPLIERS,
            base_bonus=BASE_BONUS.get(role, Decimal(0)),
            vendor_threshold=VENDOR_THRESHOLD if vendor else None,
            vendor_deduction_rate=VENDOR_DEDUCTION if vendor else None,
        )  # fmt: skip
    # Who is appraised as what, by the service's rule: the first role with a scorecard.
    staff = [
        (s, card)
        for s in ctx.staff
        if (card := next((r for r in sorted(s.roles) if r in kpis), None)) is not None
    ]
    care: dict[int, float] = {s.id: ctx.rng.random() for s, _card in staff}
    entered = _Entered()
    for period in periods:
        _enter_inputs(ctx, period, staff, care, entered)
    started = time.perf_counter()
    done = [
        app.appraisal.close(
            ctx.actor, estate_id, period, calibration=CALIBRATION if period == periods[-1] else None
        )
        for period in periods
    ]
    seconds = time.perf_counter() - started
    bands = " · ".join(
        f"{b.grade} ≥{b.low}" if b.low else b.grade for b in reversed(APPRAISAL_BANDS)
    )
    pay = " · ".join(f"{g} ×{m}" for g, m in PAY_MULTIPLIERS.items())
    ctx.report(
        "Appraisal 绩效考核",
        f"{len(kpis)} scorecards from {periods[0]}: grades {bands}; bonus {pay} of the base",
    )
    for role, role_kpis in kpis.items():
        weights = " · ".join(f"{k.label} {k.weight}" for k in role_kpis)
        pays = (
            f"below {VENDOR_THRESHOLD} {_share(VENDOR_DEDUCTION)} of the fee deducted"
            if role == "vendor"
            else f"base {BASE_BONUS[role]:,} 元"
        )
        ctx.report(f"  {ROLE_LABELS[role]} 指标", f"{weights}; {pays}")
    ctx.report(
        "  inputs 录入",
        f"{_count(entered.inspections)} inspections ({' · '.join(LEVEL_LABELS.values())}) "
        f"with {_count(entered.deductions)} itemised deductions "
        f"(e.g. {entered.example or 'none'}), {_count(entered.trainings)} training scores, "
        f"{entered.discipline} discipline, {entered.commendations} commendations",
    )
    months = f"{len(periods)} month{'s' if len(periods) > 1 else ''}"
    ctx.report(
        "  closed 已关账",
        f"{periods[0]} – {periods[-1]} ({months}, in order) in {seconds:.1f} s; "
        f"{periods[-1]} calibrated: A at most {_share(CALIBRATION['A'])} of each scorecard",
    )
    if closed.held:
        ctx.report("  not closed 未关账", f"{', '.join(closed.held)}: {why}")
    _report_month(ctx, done[-1])
    _report_quarters(ctx, periods)


def _report_month(ctx: DemoContext, month: Appraisal) -> None:
    """A closed month: the grades, the top three of each role (rank in the team, bonus),
    the cleaning teams, and the vendors with any fee deduction."""
    teams: dict[int, str] = {t.id: t.name for t in ctx.teams}
    people = [r for r in month.results if r.subject_kind == "staff"]
    scored = [r for r in people if r.total is not None]
    unscored = len(people) - len(scored)
    moved = sum(1 for r in scored if r.grade != r.grade_before)
    bonus = sum((r.bonus for r in scored), Decimal(0))
    ctx.report(
        f"Appraisal {month.period} 考核",
        f"{len(scored)} staff scored{f' ({unscored} without data)' if unscored else ''}: "
        f"{_grades(r.grade for r in scored)}, {moved} moved down by calibration · "
        f"bonuses {bonus:,.2f} 元",
    )
    for role in ROLE_LABELS:
        ranked = sorted(
            (r for r in scored if r.role == role),
            key=lambda r: (-(r.total or Decimal(0)), r.subject_id),
        )
        for i, r in enumerate(ranked[:3], start=1):
            team = teams.get(r.team_id, "") if r.team_id is not None else ""
            ctx.report(
                f"  {ROLE_LABELS[role]} {i}.",
                f"{r.name} · {_graded(r)} · {team} #{r.rank} · {r.bonus:,.2f} 元",
            )
    fees = {
        vendor_id: (rate, reason)
        for vendor_id, _score, rate, reason in ctx.app.appraisal.vendor_deductions(
            ctx.actor, ctx.estate.id, month.period
        )
    }
    for r in month.results:
        if r.subject_kind == "staff":
            continue
        if r.total is None:
            value = "not scored: no inspection"
        elif r.subject_kind == "team":
            value = f"{_graded(r)} · {r.bonus:,.2f} 元"
        elif r.subject_id in fees:
            rate, reason = fees[r.subject_id]
            value = f"{_graded(r)} · fee deduction 扣款 {_share(rate)} ({reason})"
        else:
            value = f"{_graded(r)} · no deduction"
        ctx.report(f"  {ROLE_LABELS.get(r.role, r.role)} {r.name}", value)


def _report_quarters(ctx: DemoContext, periods: Sequence[str]) -> None:
    """Each quarter with more than one closed month: the mean of the monthly totals."""
    quarters: dict[str, list[str]] = {}
    for period in periods:
        quarters.setdefault(_quarter(period), []).append(period)
    for span, months in quarters.items():
        if len(months) < 2:
            continue
        rows = ctx.app.appraisal.aggregate(ctx.actor, ctx.estate.id, span)
        staff = sorted(
            (r for r in rows if r.subject_kind == "staff"), key=lambda r: (-r.total, r.subject_id)
        )
        whole = "the whole quarter" if len(months) == 3 else f"{len(months)} of its months"
        best = ", ".join(f"{r.name} {r.total} {r.grade}" for r in staff[:3])
        ctx.report(
            f"Quarter {span} 季度考核",
            f"{months[0]} – {months[-1]} ({whole}), the mean of the monthly totals: "
            f"{len(staff)} staff, {_grades(r.grade for r in staff)}; best {best}",
        )


def write_report(ctx: DemoContext) -> None:
    """The monthly service report (月度服务报告) of the last whole month: HTML, XLSX, CSV."""
    out = ctx.options.report_dir
    if out is None:
        return
    from propcare.reports.monthly import write_monthly  # XlsxWriter comes with the cli extra

    period = _last_whole_period(ctx)
    now = _period_of(ctx.app.clock.now().astimezone(zone(ctx.estate.timezone)))
    if period > now:  # --today lies ahead of the clock: that month has not begun
        ctx.report(f"Monthly report {period} 月度报告", f"not written: the clock is still in {now}")
        return
    ctx.written.update(write_monthly(ctx.app, ctx.actor, ctx.estate.id, period, out))
    main = ctx.written.get("html", ctx.written["xlsx"])
    csvs = sum(1 for key in ctx.written if key.startswith("csv:"))
    ctx.report(
        f"Monthly report {period} 月度报告",
        f"{main.name}, {ctx.written['xlsx'].name} and {csvs} CSV files in {out}",
    )


DEMO_STEPS: tuple[DemoStep, ...] = (
    DemoStep("estate", build_estate, "Estate and buildings"),
    DemoStep("units", build_units, "Units"),
    DemoStep("owners", build_owners, "Owners"),
    DemoStep("ownership changes", build_ownership_changes, "Ownership changes"),
    DemoStep("staff", build_staff, "Teams and staff"),
    DemoStep("vendors", build_vendors, "Vendors"),
    DemoStep("ticket history", build_ticket_history, "Ticket history (import)"),
    DemoStep("live tickets", work_live_tickets, "Tickets of the last days (live)"),
    DemoStep("ticket statistics", report_ticket_statistics, "Monthly ticket statistics"),
    DemoStep("fee items", set_up_fees, "Fee items"),
    DemoStep("collectors", assign_collectors, "Collectors for the buildings"),
    DemoStep("bills", run_bills, "Bill runs"),
    DemoStep("payments", take_payments, "Payments at the counter"),
    DemoStep("deposits", handle_deposits, "Renovation deposits"),
    DemoStep("dunning", run_dunning, "Dunning campaign"),
    DemoStep("collection report", report_collection, "Collection rate and arrears"),
    DemoStep("commission", settle_commission, "Collectors' commission"),
    DemoStep("appraisal", appraise_staff, "Appraisal"),
    DemoStep("monthly report", write_report, "Monthly report"),
)


# --- the pipeline -------------------------------------------------------------------


def run_demo(
    options: DemoOptions | None = None,
    *,
    progress: Progress | None = None,
    steps: Sequence[DemoStep] = DEMO_STEPS,
) -> DemoResult:
    """Build the demo database at ``options.db``, replacing an earlier demo there."""
    options = options or DemoOptions()
    _check_names(steps)
    started = time.perf_counter()
    if options.server_url is None:
        prepare_database(options.db)
        url = sqlite_url(options.db)
    else:
        url = options.server_url
    with Propcare.open(url, clock=_demo_clock(options), config=options.config) as app:
        if options.server_url is not None and app.estates.list(Actor.system()):
            raise ValidationError(
                "db", shown_url(url), "already holds propcare data: the demo builds into "
                "an empty database (drop and create it again)"
            )  # fmt: skip
        ctx = DemoContext(
            app=app, actor=Actor.system("demo"), rng=random.Random(options.seed), options=options
        )
        for done, step in enumerate(steps):
            if progress is not None:
                progress(done, len(steps), step.title or step.name)
            step.run(ctx)
        estate_id = ctx.estate.id
    if progress is not None:
        progress(len(steps), len(steps), None)
    seconds = time.perf_counter() - started
    ctx.report("Database 数据库", shown_url(url) if options.server_url else str(options.db))
    ctx.report("Time taken 用时", f"{seconds:.1f} s")
    return DemoResult(
        db_path=options.db,
        url=url,
        estate_id=estate_id,
        seconds=seconds,
        summary=tuple(ctx.summary),
        report=dict(ctx.written),
    )


def _check_names(steps: Iterable[DemoStep]) -> None:
    names = [s.name for s in steps]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValidationError("steps", dupes, "two demo steps share a name")
