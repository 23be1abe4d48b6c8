"""The arrears roster at portfolio scale (issue 17, points 1-3) against hand-written SQL.

Fixture (raw inserts, built once and kept under ``/tmp/propcare-bench``, keyed by
``FIXTURE_VERSION``): one estate of 100,000 units in 100 buildings of 1,000, an owner for
97 of every 100 units; five monthly property-fee bills per unit (2026-07..2026-11, due
the 16th), each paid by nine owners in ten with probability 0.85 (the tenth never pays),
an access-card charge without a bill for one unit in a hundred; about 1.8 M postings. A
collector for every building, 200 units with their own, 50 assignments that ended
before the roster's day; dunning attempts for a quarter of the units. As of 2026-11-10
(November is billed, not yet due).

Timed, alternating, median of the rounds' ratios (``rounds.alternate``), each round's
contents compared in full (every field of every line, in order) with the hand SQL's:

- **building roster**: ``app.arrears.roster(building_id=...)`` against one hand-written
  query for that building (goal: at most 2x and under 100 ms);
- **whole-estate roster**: ``app.arrears.roster`` against the same query for the estate
  (goal: at most 1.3x);
- **collector history**: the whole-estate roster and one collector's, with 50 past
  collector assignments and with 5,000 (goal: the same time; the contents must be equal);
- **memory**: a second fixture of 600,000 roster lines (100,000 units x 6 fee items, one
  unpaid bill each); in a child process each, the peak resident memory (``VmHWM``, reset
  after the app is opened) of iterating ``app.arrears.iter_roster``, of ``propcare
  arrears --out`` to CSV and to XLSX, and of ``app.arrears.roster`` (the list) for
  comparison (goal: under 100 MB for the streaming ones).

``python benchmarks/bench_roster.py [building|estate|history|memory ...]`` runs the parts
named (all by default).
"""

from __future__ import annotations

import gc
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rounds import alternate

from propcare import Actor, Propcare
from propcare.ledger.arrears import ArrearsLine, period_start
from propcare.storage.sqlite import connect, ts

FIXTURE_VERSION = 2  # a change to the fixture's data: build it again
CACHE = Path(os.environ.get("PROPCARE_BENCH_CACHE", "/tmp/propcare-bench"))
SH = ZoneInfo("Asia/Shanghai")
AS_OF = datetime(2026, 11, 10, 12, 0, tzinfo=SH)  # November is billed, not yet due
DAY = AS_OF.date()
ESTATE = 1
UNITS = 100_000
BUILDINGS = 100
PERIODS = ("2026-07", "2026-08", "2026-09", "2026-10", "2026-11")
FEE = 22393
COLLECTORS = 60
BUILDING = 37  # the building whose roster is timed
COLLECTOR = 12  # the collector whose roster is timed (buildings 12, 62 and their units)
HISTORY_IDS = 1_000_000  # past assignments added for the history part have ids from here
ROUNDS = 7
ADMIN = Actor.system()


# --- fixtures -----------------------------------------------------------------------------


def cached(name: str, build: Callable[[Path], None]) -> Path:
    """The fixture file ``name`` of this version, built first if it is not there yet."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"roster-{name}-v{FIXTURE_VERSION}.db"
    if not path.exists():
        partial = path.with_name(path.name + ".partial")
        for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
            leftover.unlink(missing_ok=True)
        started = time.perf_counter()
        build(partial)
        os.replace(partial, path)
        print(f"fixture {path} built in {time.perf_counter() - started:.0f} s")
    return path


def _registry(path: Path, items: Sequence[str]) -> None:
    """Schema, estate, buildings, collectors and fee items through the API (few rows)."""
    with Propcare.open(f"sqlite:///{path}", load_entrypoints=False) as app:
        estate = app.estates.create(ADMIN, "基准")
        for b in range(1, BUILDINGS + 1):
            app.estates.add_building(ADMIN, estate.id, f"{b}栋")
        for s in range(1, COLLECTORS + 1):
            app.staff.create(ADMIN, estate.id, f"收费员{s}", ["collector"], date(2019, 1, 1))
        for code in items:
            app.billing.add_fee_item(
                ADMIN, estate.id, code, code, "area", rates={"residential": "2.50"}
            )


def _units(conn: sqlite3.Connection, owned: Callable[[int], bool]) -> None:
    conn.executemany(
        "INSERT INTO units (id, estate_id, building_id, number, floor_area, use) "
        "VALUES (?, 1, ?, ?, '89.57', 'residential')",
        [(u, (u - 1) // (UNITS // BUILDINGS) + 1, f"{u:06d}") for u in range(1, UNITS + 1)],
    )
    owners = [u for u in range(1, UNITS + 1) if owned(u)]
    conn.executemany(
        "INSERT INTO owners (id, estate_id, name, phones) VALUES (?, 1, ?, ?)",
        [(u, f"业主{u}", f'["138{u:08d}"]') for u in owners],
    )
    conn.executemany(
        "INSERT INTO ownerships (estate_id, unit_id, owner_id, start_date) "
        "VALUES (1, ?, ?, '2020-01-01')",
        [(u, u) for u in owners],
    )


class _Ledger:
    """Entries, postings and bills gathered for executemany."""

    def __init__(self) -> None:
        self.entries: list[tuple[Any, ...]] = []
        self.postings: list[tuple[Any, ...]] = []
        self.bills: list[tuple[Any, ...]] = []

    def entry(self, kind: str, at: datetime) -> tuple[int, str]:
        entry_id = len(self.entries) + 1
        self.entries.append((entry_id, kind, ts(at), f"{kind[0]}{entry_id}"))
        return entry_id, ts(at)

    def bill(self, unit: int, item: str, period: str, fen: int) -> None:
        start = datetime.combine(period_start(period), datetime.min.time(), tzinfo=SH)
        entry_id, at = self.entry("bill", start)
        self.postings.append((entry_id, "receivable", "", unit, item, period, fen, at))
        self.postings.append((entry_id, "revenue", item, None, None, None, -fen, at))
        due = period_start(period).replace(day=16).isoformat()
        self.bills.append((unit, item, period, fen, due, f"[[{unit}, {fen}]]", entry_id))

    def pay(self, unit: int, item: str, period: str, fen: int, at: datetime) -> None:
        entry_id, when = self.entry("payment", at)
        self.postings.append((entry_id, "cash", "", None, None, None, fen, when))
        self.postings.append((entry_id, "receivable", "", unit, item, period, -fen, when))

    def charge(self, unit: int, item: str, period: str, fen: int, at: datetime) -> None:
        entry_id, when = self.entry("charge", at)
        self.postings.append((entry_id, "receivable", "", unit, item, period, fen, when))
        self.postings.append((entry_id, "revenue", item, None, None, None, -fen, when))

    def write(self, conn: sqlite3.Connection) -> None:
        conn.executemany(
            "INSERT INTO journal_entries (id, estate_id, kind, at, idem_key, actor) "
            "VALUES (?, 1, ?, ?, ?, 'bench')",
            self.entries,
        )
        conn.executemany(
            "INSERT INTO postings (entry_id, estate_id, account, sub, unit_id, fee_item, "
            "period, amount_fen, at) VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?)",
            self.postings,
        )
        conn.executemany(
            "INSERT INTO bills (estate_id, unit_id, fee_item, period, amount_fen, due_date, "
            "owner_shares, entry_id) VALUES (1, ?, ?, ?, ?, ?, ?, ?)",
            self.bills,
        )


def build_main(path: Path) -> None:
    _registry(path, ["property_fee", "card"])
    rng = random.Random(17)
    conn = connect(str(path))
    gc.disable()
    conn.execute("BEGIN")
    _units(conn, lambda u: u % 100 >= 3)
    ledger = _Ledger()
    for u in range(1, UNITS + 1):
        never = rng.random() < 0.10
        for period in PERIODS:
            ledger.bill(u, "property_fee", period, FEE)
            if not never and rng.random() < 0.85:
                paid = datetime.combine(period_start(period), datetime.min.time(), tzinfo=SH)
                ledger.pay(u, "property_fee", period, FEE, paid + timedelta(days=10, hours=9))
        if u % 100 == 50:  # an access card at the counter, never billed
            ledger.charge(u, "card", "2026-10", 3000, datetime(2026, 10, 20, 15, tzinfo=SH))
    ledger.write(conn)
    # A collector for every building; 200 units with their own (from this year); 50
    # assignments that ended before the roster's day (a building's or a unit's).
    assignments: list[tuple[Any, ...]] = []
    for b in range(1, BUILDINGS + 1):
        assignments.append(((b - 1) % 50 + 1, b, None, "2020-01-01", None))
    for u in rng.sample(range(1, UNITS + 1), 200):
        assignments.append((rng.randint(51, COLLECTORS), None, u, "2026-01-01", None))
    assignments += past_assignments(rng, 50)
    conn.executemany(
        "INSERT INTO collector_assignments (estate_id, staff_id, building_id, unit_id, "
        "start_date, end_date) VALUES (1, ?, ?, ?, ?, ?)",
        assignments,
    )
    attempts = []
    start = datetime(2026, 8, 1, 9, tzinfo=SH)
    for u in rng.sample(range(1, UNITS + 1), UNITS // 4):
        for _ in range(rng.randint(1, 3)):
            at = start + timedelta(minutes=rng.randrange(0, 110 * 24 * 60))  # some after AS_OF
            method = rng.choice(["phone", "visit", "sms", "notice"])
            outcome = rng.choice(["nobody_home", "refused", "sent"])
            attempts.append((u, method, outcome, ts(at)))
    conn.executemany(
        "INSERT INTO dunning_attempts (estate_id, unit_id, method, outcome, at, actor) "
        "VALUES (1, ?, ?, ?, ?, 'bench')",
        attempts,
    )
    conn.execute("COMMIT")
    gc.enable()
    conn.execute("ANALYZE")
    conn.close()


def past_assignments(rng: random.Random, count: int) -> list[tuple[Any, ...]]:
    """``count`` assignments that ended before the roster's day: a building's or a
    unit's, of any collector, for a stint of a month to three years since 2010."""
    out = []
    for _ in range(count):
        start = date(2010, 1, 1) + timedelta(days=rng.randrange(0, 16 * 365))
        end = min(start + timedelta(days=rng.randint(30, 3 * 365)), DAY - timedelta(days=1))
        start = min(start, end)
        building, unit = (rng.randint(1, BUILDINGS), None) if rng.random() < 0.5 else (
            None, rng.randint(1, UNITS),
        )  # fmt: skip
        out.append((rng.randint(1, COLLECTORS), building, unit, start.isoformat(), end.isoformat()))
    return out


MEMORY_ITEMS = ("property_fee", "lift_fee", "energy_fee", "parking", "water", "rubbish")


def build_memory(path: Path) -> None:
    """600,000 roster lines: every unit owes October's bill of each of six fee items."""
    _registry(path, list(MEMORY_ITEMS))
    conn = connect(str(path))
    gc.disable()
    conn.execute("BEGIN")
    _units(conn, lambda u: True)
    ledger = _Ledger()
    for u in range(1, UNITS + 1):
        for item in MEMORY_ITEMS:
            ledger.bill(u, item, "2026-10", 1000 + u % 5000)
    ledger.write(conn)
    conn.executemany(
        "INSERT INTO collector_assignments (estate_id, staff_id, building_id, start_date) "
        "VALUES (1, ?, ?, '2020-01-01')",
        [((b - 1) % 50 + 1, b) for b in range(1, BUILDINGS + 1)],
    )
    conn.execute("COMMIT")
    gc.enable()
    conn.execute("ANALYZE")
    conn.close()


# --- the hand-written SQL -------------------------------------------------------------------

# One query for the roster as it would be written by hand for this estate (Shanghai's fixed
# +8 hours for local days): every field propcare's line has, sorted as propcare sorts; the
# collector and the last attempt looked up per line through the schema's indexes (written
# with window functions over the assignments instead, it took longer). Parameters:
# :as_of, :day; {units} narrows the postings read to a building's units.
HAND = """
WITH owed AS (
    SELECT unit_id, fee_item, period, SUM(amount_fen) AS fen, MIN(at) AS first_at
    FROM postings WHERE estate_id = 1 AND account = 'receivable' AND at <= :as_of {units}
    GROUP BY unit_id, fee_item, period HAVING SUM(amount_fen) > 0
), dated AS (
    SELECT x.unit_id, x.fee_item, x.period, x.fen,
        COALESCE(bl.due_date, date(x.first_at, '+8 hours')) AS due
    FROM owed x LEFT JOIN bills bl ON bl.unit_id = x.unit_id AND bl.fee_item = x.fee_item
        AND bl.period = x.period
), lines AS (
    SELECT unit_id, fee_item, group_concat(period) AS periods,
        group_concat(DISTINCT substr(period, 1, 4)) AS years, SUM(fen) AS fen,
        MIN(due) AS due, SUM(CASE WHEN due < :day THEN 0 ELSE fen END) AS not_due
    FROM dated {past_due} GROUP BY unit_id, fee_item
), shown AS (
    SELECT l.*, u.building_id, b.name AS building, u.number,
        COALESCE(o.name, '') AS owner, json_extract(o.phones, '$[0]') AS phone,
        COALESCE(
            (SELECT c.staff_id FROM collector_assignments c WHERE c.unit_id = l.unit_id
             AND c.start_date <= :day AND (c.end_date IS NULL OR c.end_date >= :day)
             ORDER BY c.start_date DESC, c.id DESC LIMIT 1),
            (SELECT c.staff_id FROM collector_assignments c WHERE c.building_id = u.building_id
             AND c.start_date <= :day AND (c.end_date IS NULL OR c.end_date >= :day)
             ORDER BY c.start_date DESC, c.id DESC LIMIT 1)) AS collector,
        (SELECT date(a.at, '+8 hours') || ' ' || a.method || ' ' || a.outcome
         FROM dunning_attempts a WHERE a.estate_id = 1 AND a.unit_id = l.unit_id
         AND a.at <= :as_of ORDER BY a.at DESC, a.id DESC LIMIT 1) AS attempt
    FROM lines l JOIN units u ON u.id = l.unit_id JOIN buildings b ON b.id = u.building_id
    LEFT JOIN ownerships s ON s.unit_id = l.unit_id AND s.start_date <= :day
        AND (s.end_date IS NULL OR s.end_date > :day)
    LEFT JOIN owners o ON o.id = s.owner_id
)
SELECT unit_id, building, number, owner,
    COALESCE(substr(phone, 1, 3) || substr('********', 1, length(phone) - 7)
        || substr(phone, -4), ''),
    fee_item, periods, years, fen, collector, COALESCE(attempt, ''), due,
    CAST(julianday(:day) - julianday(due) AS INTEGER), not_due
FROM shown {where}
ORDER BY fen DESC, building, number, fee_item, unit_id
"""
OF_BUILDING = "AND unit_id IN (SELECT id FROM units WHERE building_id = :building)"


def hand_sql(
    *, building: bool = False, collector: bool = False, include_not_due: bool = False
) -> str:
    """The hand query for the estate, one building's units (``:building``) or one
    collector's lines (``:collector``)."""
    return HAND.format(
        units=OF_BUILDING if building else "",
        past_due="" if include_not_due else "WHERE due < :day",
        where="WHERE collector = :collector" if collector else "",
    )


def hand_params(**more: Any) -> dict[str, Any]:
    return {"as_of": ts(AS_OF), "day": DAY.isoformat(), **more}


Line = tuple[Any, ...]


def from_hand(rows: Iterable[Sequence[Any]]) -> list[Line]:
    """The hand query's rows in one comparable shape (untimed)."""
    return [
        (
            *r[:6],
            tuple(sorted(str(r[6]).split(","))),
            tuple(sorted(int(y) for y in str(r[7]).split(","))),
            *r[8:],
        )
        for r in rows
    ]


def from_propcare(lines: Iterable[ArrearsLine]) -> list[Line]:
    """propcare's lines in the same shape: every field (untimed)."""
    return [
        (
            x.unit_id,
            x.building,
            x.unit,
            x.owner,
            x.phone,
            x.fee_item,
            x.periods,
            x.years,
            int(x.amount * 100),
            x.collector_staff_id,
            x.last_attempt,
            None if x.due_date is None else x.due_date.isoformat(),
            x.days_past_due,
            int(x.not_due * 100),
        )
        for x in lines
    ]


def same(ours: list[Line], theirs: list[Line], what: str) -> None:
    if ours != theirs:
        diff = next(
            (i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b),
            min(len(ours), len(theirs)),
        )
        raise AssertionError(
            f"{what}: propcare ({len(ours)} lines) and the SQL ({len(theirs)}) disagree at "
            f"line {diff}: {ours[diff : diff + 1]} vs {theirs[diff : diff + 1]}"
        )


# --- the parts ------------------------------------------------------------------------------


def compare(
    conn: sqlite3.Connection,
    what: str,
    ours: Callable[[], list[ArrearsLine]],
    sql: str,
    params: dict[str, Any],
    goal: str,
) -> tuple[float, float]:
    """Alternate propcare and the hand query; check the contents of every round; print."""
    got: dict[int, Any] = {}

    def mine() -> None:
        got[0] = ours()

    def hand() -> None:
        got[1] = conn.execute(sql, params).fetchall()

    def check(_round: int, _side: int) -> None:
        """After both sides of a round: the same lines, field by field, in order."""
        if 0 in got and 1 in got:
            same(from_propcare(got[0]), from_hand(got[1]), what)
            got[2] = len(got.pop(0))
            del got[1]

    rounds = alternate([("propcare", mine), ("hand SQL", hand)], ROUNDS, teardown=check)
    count = got[2]
    ms = rounds.median(0) * 1000
    print(
        f"{what}: {count:,} lines, propcare {ms:.1f} ms, hand SQL {rounds.median(1) * 1000:.1f} "
        f"ms, ratio {rounds.ratio():.2f}x (rounds {rounds.spread()}; goal {goal})"
    )
    return rounds.ratio(), ms


def part_building(app: Propcare, conn: sqlite3.Connection) -> None:
    compare(
        conn, f"building roster ({UNITS // BUILDINGS:,} units)",
        lambda: app.arrears.roster(ADMIN, ESTATE, as_of=AS_OF, building_id=BUILDING),  # type: ignore[arg-type]
        hand_sql(building=True), hand_params(building=BUILDING), "<= 2x and < 100 ms",
    )  # fmt: skip


def part_estate(app: Propcare, conn: sqlite3.Connection) -> None:
    compare(
        conn, f"whole-estate roster ({UNITS:,} units)",
        lambda: app.arrears.roster(ADMIN, ESTATE, as_of=AS_OF),  # type: ignore[arg-type]
        hand_sql(), hand_params(), "<= 1.3x",
    )  # fmt: skip


def part_history(app: Propcare, conn: sqlite3.Connection) -> None:
    """The same rosters with 50 and with 5,000 past assignments, alternating: the extra
    4,950 are added before the 5,000 side and removed before the 50 side (untimed)."""
    count = conn.execute(
        "SELECT COUNT(*) FROM collector_assignments WHERE end_date < ?", (DAY.isoformat(),)
    ).fetchone()[0]
    assert count == 50, count
    extra = [(HISTORY_IDS + i, *a) for i, a in enumerate(past_assignments(random.Random(5), 4_950))]

    def history(_round: int, side: int) -> None:
        conn.execute(f"DELETE FROM collector_assignments WHERE id >= {HISTORY_IDS}")
        if side == 1:
            conn.executemany(
                "INSERT INTO collector_assignments (id, estate_id, staff_id, building_id, "
                "unit_id, start_date, end_date) VALUES (?, 1, ?, ?, ?, ?, ?)",
                extra,
            )

    try:
        for what, call in (
            ("whole-estate roster", lambda: app.arrears.roster(ADMIN, ESTATE, as_of=AS_OF)),  # type: ignore[arg-type]
            ("collector's roster", lambda: app.arrears.roster(
                ADMIN, ESTATE, as_of=AS_OF, collector_staff_id=COLLECTOR)),  # type: ignore[arg-type]
        ):  # fmt: skip
            got: dict[int, list[ArrearsLine]] = {}

            def run(
                side: int,
                call: Callable[[], list[ArrearsLine]] = call,
                got: dict[int, list[ArrearsLine]] = got,
            ) -> None:
                got[side] = call()

            rounds = alternate(
                [("50", lambda: run(0)), ("5,000", lambda: run(1))], ROUNDS, setup=history
            )
            if got[0] != got[1]:
                raise AssertionError(f"{what}: past assignments changed the roster")
            print(
                f"{what} ({len(got[0]):,} lines) with 5,000 past collector assignments vs "
                f"50: {rounds.median(1) * 1000:.0f} ms vs {rounds.median(0) * 1000:.0f} ms, "
                f"ratio {rounds.ratio(1, 0):.2f}x (rounds {rounds.spread(1, 0)}; goal 1x)"
            )
    finally:
        conn.execute(f"DELETE FROM collector_assignments WHERE id >= {HISTORY_IDS}")


def _status_mb(field: str) -> float | None:
    """``VmHWM`` or ``VmRSS`` of this process in MB (Linux), else None."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return None


def _reset_peak() -> bool:
    """Start the resident high-water mark afresh (Linux; as bench_bill_run does)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _peak_mb(since_reset: bool) -> tuple[float, str]:
    peak = _status_mb("VmHWM") if since_reset else None
    if peak is not None:
        return peak, "peak resident memory"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (rss / 2**20 if sys.platform == "darwin" else rss / 1024), "peak of the process"


def _peak_child(path: Path, how: str, out: Path) -> None:
    """In the child: open the app (and import the CLI), reset the high-water mark, do
    ``how``, print the lines, the peak and the resident memory it started from (MB)."""
    from click.testing import CliRunner

    from propcare.cli import main

    app = Propcare.open(f"sqlite:///{path}", load_entrypoints=False)
    if how.startswith("cli"):
        app.close()
    gc.collect()
    start = _status_mb("VmRSS") or 0.0
    reset = _reset_peak()
    count = 0
    if how == "iter_roster":
        for _line in app.arrears.iter_roster(ADMIN, ESTATE):  # type: ignore[arg-type]
            count += 1
    elif how == "iter_building":
        for _line in app.arrears.iter_roster(ADMIN, ESTATE, building_id=1):  # type: ignore[arg-type]
            count += 1
    elif how == "roster":
        count = len(app.arrears.roster(ADMIN, ESTATE))  # type: ignore[arg-type]
    else:
        one = ["--building", "1"] if how == "cli_building" else []
        result = CliRunner().invoke(
            main, ["arrears", "--db", str(path), "--estate", "1", *one, "--out", str(out)]
        )
        assert result.exit_code == 0, result.output
        count = int(result.stdout.split(": ", 1)[1].split(" lines")[0])
    peak, label = _peak_mb(reset)
    print(f"{count} {peak:.1f} {start:.1f} {label}")


def part_memory() -> None:
    path = cached("memory", build_memory)
    here = Path(__file__).parent
    runs = (
        ("iter_building", "", "app.arrears.iter_roster of one building, iterated"),
        ("iter_roster", "", "app.arrears.iter_roster, iterated"),
        ("cli_building", "roster.csv", "propcare arrears --building 1 --out roster.csv"),
        ("cli", "roster.csv", "propcare arrears --out roster.csv"),
        ("cli", "roster.xlsx", "propcare arrears --out roster.xlsx"),
        ("roster", "", "app.arrears.roster (a list), for comparison"),
    )
    with tempfile.TemporaryDirectory() as tmp:
        for how, out, what in runs:
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, __file__, "--peak", str(path), how, str(Path(tmp) / (out or "-"))],
                capture_output=True, text=True, cwd=here, check=True,
            )  # fmt: skip
            took = time.perf_counter() - started
            count, peak, start, label = done.stdout.strip().splitlines()[-1].split(" ", 3)
            goal = "" if how == "roster" else "; goal < 100 MB"
            print(
                f"{what}: {int(count):,} lines in {took:.0f} s, {label} {peak} MB (from "
                f"{start} MB resident after opening){goal}"
            )


PARTS = ("building", "estate", "history", "memory")


def main(argv: Sequence[str] = ()) -> None:
    wanted = [a for a in argv if a in PARTS] or list(PARTS)
    if any(p in wanted for p in ("building", "estate", "history")):
        path = cached("main", build_main)
        conn = connect(str(path))
        conn.row_factory = None
        conn.execute(f"DELETE FROM collector_assignments WHERE id >= {HISTORY_IDS}")
        postings = conn.execute("SELECT COUNT(*) FROM postings").fetchone()[0]
        size = path.stat().st_size / 1e6
        print(f"fixture: {UNITS:,} units, {postings:,} postings, {size:,.0f} MB; as of {AS_OF}")
        with Propcare.open(f"sqlite:///{path}", load_entrypoints=False) as app:
            for part in ("building", "estate", "history"):
                if part in wanted:
                    globals()[f"part_{part}"](app, conn)
        conn.close()
    if "memory" in wanted:
        part_memory()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--peak"]:
        _peak_child(Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4]))
    else:
        main(sys.argv[1:])
