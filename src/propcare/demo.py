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

import math
import os
import random
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
from dateutil.relativedelta import relativedelta

from propcare.access import Actor
from propcare.app import Propcare
from propcare.clock import DEFAULT_TZ, Clock, SystemClock, zone
from propcare.errors import Conflict, ValidationError
from propcare.registry.model import (
    Building,
    Estate,
    Owner,
    Ownership,
    Staff,
    Team,
    TeamKind,
    Unit,
    UnitUse,
    Vendor,
)
from propcare.registry.service import UnitSpec
from propcare.storage.sqlite import parse_sqlite_url
from propcare.validators import valid_date

__all__ = [
    "BUILDINGS",
    "DEMO_STEPS",
    "MAX_MONTHS",
    "SURNAMES",
    "TEAM_PLANS",
    "DemoContext",
    "DemoOptions",
    "DemoResult",
    "DemoStep",
    "Progress",
    "SummaryLine",
    "TeamPlan",
    "has_url_scheme",
    "is_propcare_database",
    "prepare_database",
    "run_demo",
    "sqlite_url",
    "team_size",
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
                "db", value, "the demo builds an SQLite file; give a path or an sqlite:/// URL"
            )
        path = parse_sqlite_url(value)
        if path == ":memory:":
            raise ValidationError(
                "db", value, "the demo leaves its database on disk; give a file path"
            )
        return Path(path)
    return Path(value).expanduser()


def _estate_today(options: DemoOptions) -> date:
    clock = options.clock or SystemClock()
    return clock.now().astimezone(zone(DEFAULT_TZ)).date()


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

    @property
    def period_start(self) -> date:
        """First day of the demo period: ``months`` before ``today``."""
        return self.today - relativedelta(months=self.months)


@attrs.frozen
class SummaryLine:
    label: str
    value: str


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
    url: str
    estate_id: int
    seconds: float
    summary: tuple[SummaryLine, ...]


# Called before each step with (steps done, steps in all, the step's title) and
# once at the end with the title None.
Progress = Callable[[int, int, str | None], None]


# --- the database file ------------------------------------------------------------


def is_propcare_database(path: Path) -> bool:
    """True if ``path`` is an SQLite file with propcare's ``schema_version`` table."""
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
        row = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
        ).fetchone()
        return row is not None
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


DEMO_STEPS: tuple[DemoStep, ...] = (
    DemoStep("estate", build_estate, "Estate and buildings"),
    DemoStep("units", build_units, "Units"),
    DemoStep("owners", build_owners, "Owners"),
    DemoStep("ownership changes", build_ownership_changes, "Ownership changes"),
    DemoStep("staff", build_staff, "Teams and staff"),
    DemoStep("vendors", build_vendors, "Vendors"),
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
    prepare_database(options.db)
    url = sqlite_url(options.db)
    with Propcare.open(url, clock=options.clock) as app:
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
    ctx.report("Database 数据库", str(options.db))
    ctx.report("Time taken 用时", f"{seconds:.1f} s")
    return DemoResult(
        db_path=options.db,
        url=url,
        estate_id=estate_id,
        seconds=seconds,
        summary=tuple(ctx.summary),
    )


def _check_names(steps: Iterable[DemoStep]) -> None:
    names = [s.name for s in steps]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValidationError("steps", dupes, "two demo steps share a name")
