"""How cost grows with the estate: bill run, whole-estate roster and monthly report at
10,000, 50,000 and 200,000 units, on SQLite and on PostgreSQL, each against its baseline.

Fixture per backend and size (untimed): one estate in buildings of 1,000 units made with
``app.estates.add_units`` (one call a building), an owner for every unit (raw inserts),
three fee items by floor area (property, lift, energy: three bill lines a unit a month),
a collector for every ten buildings, October billed by ``app.billing.run`` and paid at the
counter by four units in five (the rows ``pay_at_counter`` writes, inserted raw), and a
month of front-desk tickets at the demo's rate (``import_history``). SQLite fixtures are
kept under ``/tmp/propcare-bench`` (``PROPCARE_BENCH_CACHE``), keyed by ``FIXTURE_VERSION``
and size; PostgreSQL runs in a throwaway server (``propcare_postgres.testing``) and is
built afresh.

Measured, each in a fresh child process whose peak resident memory (``VmHWM``, reset
after the app or connection is open) is read at the end, so a measure's peak is its own:

- **bill run**: ``app.billing.run`` of November against the same entries, postings and
  bills written raw (amounts precomputed, a transaction per 2,000 units; ``executemany``
  on SQLite, ``COPY`` on PostgreSQL as ``bench_postgres.py``), each side on its own fresh
  copy of the fixture, alternating which goes first; lines/s,
  peak memory, and the bytes a bill line adds to the database (file size, checkpointed;
  ``pg_database_size`` on PostgreSQL);
- **roster** (after November is paid by the same four in five): the whole estate's
  ``app.arrears.roster`` as of 20 November against one hand-written query returning the
  same lines, alternating; then the same lines streamed (``app.arrears.iter_roster``,
  iterated to the end); the line counts and totals must agree;
- **monthly report**: ``reports.monthly.write_monthly`` of November (XLSX, CSV, HTML);
  no baseline (no single hand query does what it does): time and peak memory by size.

Ratios are the median of the rounds' ratios (``rounds.Rounds``). The plot of seconds and
peak memory against units goes to ``docs/img/scale.svg``.

Usage: ``python benchmarks/bench_scale.py [--sizes 10000,50000,200000]
[--backends sqlite,postgres] [--quick] [--rounds 3] [--svg docs/img/scale.svg]
[--json FILE] [--merge FILE]``. ``--quick`` measures 2,000 and 5,000 units (a smoke run).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rounds import Rounds

from propcare import Actor, FixedClock, Propcare, UnitSpec
from propcare.demo import daily_intake
from propcare.storage.sqlite import connect, ts
from propcare.tickets.model import Action, TicketEvent

FIXTURE_VERSION = 1
CACHE = Path(os.environ.get("PROPCARE_BENCH_CACHE", "/tmp/propcare-bench"))
SIZES = (10_000, 50_000, 200_000)
QUICK = (2_000, 5_000)
BACKENDS = ("sqlite", "postgres")
RAW = {"sqlite": "raw executemany", "postgres": "raw COPY"}  # the bill run's baseline
ROUNDS = 3
PER_BUILDING = 1_000
BUILDINGS_PER_COLLECTOR = 10
CHUNK = 2_000  # units per transaction of the raw bill run, as the run's chunks
ITEMS = (("property_fee", "2.50"), ("lift_fee", "0.30"), ("energy_fee", "0.15"))
AREA = Decimal("89.57")
FEN = {
    code: int((AREA * Decimal(rate) * 100).quantize(Decimal(1), ROUND_HALF_UP))
    for code, rate in ITEMS
}
SH = ZoneInfo("Asia/Shanghai")
CLOCK = FixedClock(datetime(2026, 12, 2, 9, 0, tzinfo=SH))
FIRST, RUN = "2026-10", "2026-11"  # billed in the set-up; billed by the measured run
AS_OF = datetime(2026, 11, 20, 12, 0, tzinfo=SH)  # November's bills are past due (16th)
CLERKS = TECHS = 10
ADMIN = Actor.system()
SVG = Path(__file__).resolve().parent.parent / "docs" / "img" / "scale.svg"


def _pays(unit: int) -> bool:
    """Four units in five pay each month; the fifth owes both months."""
    return unit % 5 != 0


def _billed_at(period: str) -> datetime:
    return datetime(int(period[:4]), int(period[5:]), 1, 9, 0, tzinfo=SH)


# --- the two backends ---------------------------------------------------------------------


class Raw:
    """A raw DB-API connection with ``?`` placeholders on either backend. Rows carry
    instants and days as the backend stores them: ``at`` and ``day`` convert (ISO text on
    SQLite), once per value, before the rows are built."""

    def __init__(self, conn: Any, pg: bool) -> None:
        self.conn, self.pg = conn, pg

    def at(self, value: datetime) -> Any:
        return value if self.pg else ts(value)

    def day(self, value: date) -> Any:
        return value if self.pg else value.isoformat()

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.pg else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(self._sql(sql), params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.conn.cursor().executemany(self._sql(sql), rows)

    def bulk(self, table: str, columns: str, rows: Sequence[Sequence[Any]]) -> None:
        """Insert ``rows``: ``executemany`` on SQLite, ``COPY`` on PostgreSQL (its fastest
        way in, the baseline bench_postgres.py uses too)."""
        if not self.pg:
            marks = ", ".join("?" * len(columns.split(",")))
            self.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
            return
        with self.conn.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def begin(self) -> None:
        if not self.pg:
            self.conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        if self.pg:
            self.conn.commit()
        else:
            self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


class Sqlite:
    name = "sqlite"
    label = "SQLite"

    def __init__(self, work: Path) -> None:
        self.work = work

    def target(self, tag: str) -> str:
        return str(self.work / f"{tag}.db")

    def url(self, target: str) -> str:
        return f"sqlite:///{target}"

    def open(self, target: str) -> Propcare:
        return Propcare.open(self.url(target), load_entrypoints=False, clock=CLOCK)

    def raw(self, target: str) -> Raw:
        conn = connect(target)
        return Raw(conn, pg=False)

    def checkpoint(self, target: str) -> None:
        conn = connect(target)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()

    def copy(self, source: str, tag: str) -> str:
        self.checkpoint(source)
        target = self.target(tag)
        shutil.copyfile(source, target)
        return target

    def drop(self, target: str) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)

    def size(self, target: str) -> int:
        self.checkpoint(target)
        return Path(target).stat().st_size

    def vacuum(self, target: str) -> None:
        pass  # the app's own settings: nothing the library does not do itself

    def fixture(self, size: int, build: Callable[[str], None]) -> str:
        """The cached fixture of this size, built first if it is not there yet."""
        CACHE.mkdir(parents=True, exist_ok=True)
        path = CACHE / f"scale-{size}-v{FIXTURE_VERSION}.db"
        if not path.exists():
            partial = path.with_name(path.name + ".partial")
            self.drop(str(partial))
            started = time.perf_counter()
            build(str(partial))
            self.checkpoint(str(partial))
            os.replace(partial, path)
            print(f"  fixture {path} built in {time.perf_counter() - started:.0f} s", flush=True)
        return str(path)


class Postgres:
    name = "postgres"
    label = "PostgreSQL"

    def __init__(self, server: Any) -> None:
        self.server = server

    def target(self, tag: str) -> str:
        return tag.replace("-", "_")

    def url(self, target: str) -> str:
        return str(self.server.database_url(target))

    def open(self, target: str) -> Propcare:
        import propcare_postgres

        return Propcare.open(
            self.url(target), plugins=[propcare_postgres], load_entrypoints=False, clock=CLOCK
        )

    def raw(self, target: str) -> Raw:
        import psycopg

        return Raw(psycopg.connect(self.url(target)), pg=True)

    def _admin(self, sql: str) -> Any:
        import psycopg

        with psycopg.connect(self.server.url, autocommit=True) as conn:
            cur = conn.execute(sql)  # type: ignore[arg-type]
            return cur.fetchone() if cur.description else None

    def copy(self, source: str, tag: str) -> str:
        target = self.target(tag)
        self._admin(f"DROP DATABASE IF EXISTS {target}")
        self._admin(f"CREATE DATABASE {target} TEMPLATE {source}")
        return target

    def drop(self, target: str) -> None:
        self._admin(f"DROP DATABASE IF EXISTS {target}")

    def size(self, target: str) -> int:
        self._admin("CHECKPOINT")
        return int(self._admin(f"SELECT pg_database_size('{target}')")[0])

    def vacuum(self, target: str) -> None:
        """After bulk inserts, what autovacuum would do before anyone reads."""
        import psycopg

        with psycopg.connect(self.url(target), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")

    def fixture(self, size: int, build: Callable[[str], None]) -> str:
        target = self.target(f"scale_{size}")
        self.drop(target)
        self.server.create_database(target)
        started = time.perf_counter()
        build(target)
        self.vacuum(target)
        print(f"  fixture {target} built in {time.perf_counter() - started:.0f} s", flush=True)
        return target


Backend = Sqlite | Postgres


# --- the fixture --------------------------------------------------------------------------


def _advance_ids(raw: Raw, tables: Sequence[str]) -> None:
    """Rows inserted with their ids leave PostgreSQL's identity sequences behind."""
    if raw.pg:
        for table in tables:
            raw.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )


def _next_id(raw: Raw, table: str) -> int:
    return int(raw.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}").fetchone()[0])


def _pay_month(raw: Raw, units: int, period: str) -> int:
    """The rows ``pay_at_counter`` writes when the paying units settle ``period`` exactly on
    the 10th (entry, cash and receivable postings, outbox event, receipt, notice and
    allocations); returns how many payments."""
    entry, notice = _next_id(raw, "journal_entries"), _next_id(raw, "payment_notices")
    allocation, outbox = _next_id(raw, "payment_allocations"), _next_id(raw, "outbox")
    row = raw.execute(
        "SELECT last_number FROM receipt_counters WHERE estate_id = 1 AND year = 2026"
    )
    found = row.fetchone()
    number = 0 if found is None else int(found[0])
    paid = datetime(int(period[:4]), int(period[5:]), 10, 10, 0, tzinfo=SH)
    total = sum(FEN.values())
    payments = 0
    raw.begin()
    for lo in range(1, units + 1, CHUNK):
        entries, postings, outboxes, receipts, notices, allocations = [], [], [], [], [], []
        for unit in range(lo, min(lo + CHUNK, units + 1)):
            if not _pays(unit):
                continue
            txn = f"scale-{period}-{unit}"
            at = raw.at(paid + timedelta(seconds=unit % 28_800))
            number += 1
            key = f"payment:1:counter::{txn}"
            entries.append((entry, 1, "payment", at, key, "system", f"counter cash {txn}"))
            postings.append((entry, 1, "cash", "", None, None, None, total, at))
            for code, fen in FEN.items():
                postings.append((entry, 1, "receivable", "", unit, code, period, -fen, at))
                allocations.append((allocation, notice, entry, unit, code, period, fen))
                allocation += 1
            payload = f'{{"entry_id": {entry}, "kind": "payment", "reverses": null, '
            payload += f'"total_fen": {total}}}'
            outboxes.append(
                (outbox, 1, "event", "ledger.entry_posted", payload, f"ledger:{key}", at)
            )
            receipts.append((1, 2026, number, entry, at))
            notices.append(
                (
                    notice,
                    1,
                    "counter",
                    txn,
                    total,
                    unit,
                    "cash",
                    at,
                    entry,
                    "posted",
                    2026,
                    number,
                    "",
                )
            )
            entry, notice, outbox, payments = entry + 1, notice + 1, outbox + 1, payments + 1
        raw.bulk("journal_entries", "id, estate_id, kind, at, idem_key, actor, memo", entries)
        raw.bulk(
            "postings",
            "entry_id, estate_id, account, sub, unit_id, fee_item, period, amount_fen, at",
            postings,
        )
        raw.bulk("outbox", "id, estate_id, kind, topic, payload, idem_key, created_at", outboxes)
        raw.bulk("receipts", "estate_id, year, number, entry_id, issued_at", receipts)
        raw.bulk(
            "payment_notices",
            "id, estate_id, provider, provider_txn_id, amount_fen, unit_id, method, paid_at, "
            "entry_id, status, receipt_year, receipt_number, merchant",
            notices,
        )
        raw.bulk(
            "payment_allocations",
            "id, payment_id, entry_id, unit_id, fee_item, period, amount_fen",
            allocations,
        )
    raw.execute(
        "INSERT INTO receipt_counters (estate_id, year, last_number) VALUES (1, 2026, ?) "
        "ON CONFLICT (estate_id, year) DO UPDATE SET last_number = excluded.last_number",
        (number,),
    )
    raw.commit()
    _advance_ids(
        raw, ("journal_entries", "postings", "outbox", "payment_notices", "payment_allocations")
    )
    if raw.pg:
        raw.commit()
    return payments


def _tickets(
    clerks: Sequence[int], techs: Sequence[int], units: int
) -> Iterator[list[TicketEvent]]:
    """November's front-desk intake at the demo's rate: closed in-home repairs (open,
    assign, arrive, resolve, callback), spread over the month."""
    count = round(daily_intake(units) * 30)
    start = datetime(2026, 11, 1, 8, 0, tzinfo=SH)
    step = timedelta(days=29) / max(1, count)
    for i in range(count):
        at = start + step * i
        clerk, tech = clerks[i % len(clerks)], techs[i % len(techs)]
        data = {
            "category": "home_repair", "channel": "phone", "priority": "normal",
            "summary": "厨房水龙头漏水", "unit_id": i * 7919 % units + 1, "location": "",
            "reporter_owner_id": None, "reporter_name": "", "estate_id": 1,
            "first_contact_staff_id": clerk,
        }  # fmt: skip
        yield [
            TicketEvent(1, Action.OPEN, at, "客服", clerk, data),
            TicketEvent(2, Action.ASSIGN, at + timedelta(minutes=5), "客服", clerk,
                        {"staff_id": tech, "team_id": None}),
            TicketEvent(3, Action.ARRIVE, at + timedelta(minutes=50), "师傅", tech, {}),
            TicketEvent(4, Action.RESOLVE, at + timedelta(minutes=120), "师傅", tech,
                        {"note": "已修复"}),
            TicketEvent(5, Action.CALLBACK, at + timedelta(hours=26), "客服", clerk,
                        {"satisfaction": "satisfied", "fixed": True, "channel": "phone",
                         "comment": ""}),
        ]  # fmt: skip


def build(backend: Backend, target: str, units: int) -> None:
    """Registry and October (billed by the run, paid by four in five), November's tickets."""
    started = time.perf_counter()
    app = backend.open(target)
    estate = app.estates.create(ADMIN, "规模小区")
    assert estate.id == 1, estate.id
    buildings = []
    for b in range(units // PER_BUILDING):
        building = app.estates.add_building(ADMIN, estate.id, f"{b + 1}栋")
        buildings.append(building.id)
        app.estates.add_units(
            ADMIN,
            building.id,
            [
                UnitSpec(f"{b + 1}-{i + 1:04d}", AREA, "residential", date(2020, 1, 1))
                for i in range(PER_BUILDING)
            ],
        )
    for code, rate in ITEMS:
        app.billing.add_fee_item(ADMIN, estate.id, code, code, "area", rates={"residential": rate})
    hired = date(2020, 1, 1)
    clerks = [
        app.staff.create(ADMIN, estate.id, f"客服{i}", ["front_desk"], hired).id
        for i in range(CLERKS)
    ]
    techs = [
        app.staff.create(ADMIN, estate.id, f"师傅{i}", ["technician"], hired).id
        for i in range(TECHS)
    ]
    for i, building_id in enumerate(buildings):
        if i % BUILDINGS_PER_COLLECTOR == 0:
            collector = app.staff.create(ADMIN, estate.id, f"收费员{i}", ["collector"], hired).id
        app.collection.assign_collector(
            ADMIN, estate.id, collector, start=hired, building_id=building_id
        )
    print(f"    registry {time.perf_counter() - started:.0f} s", flush=True)
    raw = backend.raw(target)
    raw.begin()
    raw.executemany(
        "INSERT INTO owners (id, estate_id, name, phones) VALUES (?, 1, ?, ?)",
        [(u, f"业主{u}", f'["139{u:08d}"]') for u in range(1, units + 1)],
    )
    raw.executemany(
        "INSERT INTO ownerships (id, estate_id, unit_id, owner_id, start_date) "
        "VALUES (?, 1, ?, ?, ?)",
        [(u, u, u, raw.day(date(2020, 1, 1))) for u in range(1, units + 1)],
    )
    raw.commit()
    _advance_ids(raw, ("owners", "ownerships"))
    if raw.pg:
        raw.commit()
    started = time.perf_counter()
    app.billing.run(ADMIN, estate.id, FIRST, at=_billed_at(FIRST))
    print(f"    {FIRST} billed in {time.perf_counter() - started:.0f} s", flush=True)
    _pay_month(raw, units, FIRST)
    raw.close()
    started = time.perf_counter()
    app.tickets.import_history(ADMIN, estate.id, _tickets(clerks, techs, units))
    print(f"    tickets imported in {time.perf_counter() - started:.0f} s", flush=True)
    app.close()


# --- the measures, each run in a child process --------------------------------------------


def _status_mb(key: str) -> float | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(key):
            return int(line.split()[1]) / 1024
    return None


@contextmanager
def _peak(out: dict[str, Any]) -> Iterator[None]:
    """Time the block and record the peak resident memory it reached (``VmHWM`` reset at
    its start, Linux), and the resident memory it began with; elsewhere ``ru_maxrss`` of
    the whole child (labelled so)."""
    gc.collect()
    try:
        Path("/proc/self/clear_refs").write_text("5")
        reset = True
    except OSError:
        reset = False
    out["start_mb"] = _status_mb("VmRSS:")
    started = time.perf_counter()
    yield
    out["seconds"] = time.perf_counter() - started
    if reset:
        out["peak_mb"] = _status_mb("VmHWM:")
        out["peak_label"] = "VmHWM during the measure"
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out["peak_mb"] = peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
        out["peak_label"] = "ru_maxrss of the child process"


def _raw_run(raw: Raw, units: int) -> int:
    """November's bill-run rows (entries, postings, bills: the columns and values the run
    writes, amounts precomputed), a transaction per CHUNK units."""
    entry = _next_id(raw, "journal_entries")
    first = entry
    at = raw.at(_billed_at(RUN))
    due = raw.day(date(2026, 11, 16))
    for lo in range(1, units + 1, CHUNK):
        entries, postings, bills = [], [], []
        for unit in range(lo, min(lo + CHUNK, units + 1)):
            for code, fen in FEN.items():
                entries.append((entry, 1, "bill", at, f"bill:{unit}:{code}:{RUN}", "system", ""))
                postings.append((entry, 1, "receivable", "", unit, code, RUN, fen, at))
                postings.append((entry, 1, "revenue", code, None, None, None, -fen, at))
                bills.append((1, unit, code, RUN, fen, due, f"[[{unit}, {fen}]]", entry))
                entry += 1
        raw.begin()
        raw.bulk("journal_entries", "id, estate_id, kind, at, idem_key, actor, memo", entries)
        raw.bulk(
            "postings",
            "entry_id, estate_id, account, sub, unit_id, fee_item, period, amount_fen, at",
            postings,
        )
        raw.bulk(
            "bills",
            "estate_id, unit_id, fee_item, period, amount_fen, due_date, owner_shares, entry_id",
            bills,
        )
        raw.commit()
    return entry - first


# Owed lines past their bill's due date, then one roster line per (unit, fee item): the
# roster's contents (building, unit, owner, phones, fee item, periods, amount).
_OWED = (
    "SELECT x.unit_id, x.fee_item, x.period, x.owed FROM ("
    "SELECT unit_id, fee_item, period, SUM(amount_fen) AS owed FROM postings "
    "WHERE estate_id = 1 AND account = 'receivable' AND at <= ? "
    "GROUP BY unit_id, fee_item, period HAVING SUM(amount_fen) > 0) x "
    "JOIN bills bl ON bl.unit_id = x.unit_id AND bl.fee_item = x.fee_item "
    "AND bl.period = x.period WHERE bl.due_date < ?"
)
HAND = (
    "SELECT b.name, u.number, o.name, o.phones, x.fee_item, {concat}, SUM(x.owed) "
    f"FROM ({_OWED}) x JOIN units u ON u.id = x.unit_id "
    "JOIN buildings b ON b.id = u.building_id "
    "LEFT JOIN ownerships s ON s.unit_id = u.id AND s.start_date <= ? "
    "AND (s.end_date IS NULL OR s.end_date > ?) "
    "LEFT JOIN owners o ON o.id = s.owner_id "
    "GROUP BY x.unit_id, x.fee_item, b.name, u.number, o.name, o.phones "
    "ORDER BY SUM(x.owed) DESC, b.name, u.number, x.fee_item"
)


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """One measure in this process; returns what it measured."""
    logging.getLogger("propcare.app").setLevel(logging.ERROR)
    measure, target, units = spec["measure"], spec["target"], spec["units"]
    backend: Backend
    if spec["backend"] == "sqlite":
        backend = Sqlite(Path(target).parent)
    else:
        backend = Postgres(_Server(spec["server"]))
    out: dict[str, Any] = {}
    if measure in ("bill", "roster", "roster-iter", "monthly"):
        app = backend.open(target)
        if measure == "bill":
            with _peak(out):
                out["count"] = app.billing.run(ADMIN, 1, RUN, at=_billed_at(RUN)).billed_now  # type: ignore[arg-type]
        elif measure == "roster":
            with _peak(out):
                lines = app.arrears.roster(ADMIN, 1, as_of=AS_OF)  # type: ignore[arg-type]
            out["count"] = len(lines)
            out["total"] = f"{sum((ln.amount for ln in lines), Decimal(0)):.2f}"
        elif measure == "roster-iter":
            count, total = 0, Decimal(0)
            with _peak(out):
                for line in app.arrears.iter_roster(ADMIN, 1, as_of=AS_OF):  # type: ignore[arg-type]
                    count += 1
                    total += line.amount
            out["count"], out["total"] = count, f"{total:.2f}"
        else:
            from propcare.reports.monthly import write_monthly

            with tempfile.TemporaryDirectory() as d, _peak(out):
                out["count"] = len(write_monthly(app, ADMIN, 1, RUN, d))
        app.close()
    else:
        raw = backend.raw(target)
        if measure == "bill-raw":
            with _peak(out):
                out["count"] = _raw_run(raw, units)
        else:  # roster-hand
            day = AS_OF.date()
            concat = "string_agg(x.period, ',')" if raw.pg else "group_concat(x.period)"
            with _peak(out):
                params = (raw.at(AS_OF), raw.day(day), raw.day(day), raw.day(day))
                rows = raw.execute(HAND.format(concat=concat), params).fetchall()
            if raw.pg:
                raw.commit()
            out["count"] = len(rows)
            out["total"] = f"{Decimal(sum(int(r[6]) for r in rows)) / 100:.2f}"
        raw.close()
    return out


class _Server:
    """What a child needs of the parent's PostgreSQL server: its database URLs."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.url = f"{base}/postgres"

    def database_url(self, name: str) -> str:
        return f"{self.base}/{name}"


def _run_child(backend: Backend, measure: str, target: str, units: int) -> dict[str, Any]:
    spec = {"measure": measure, "backend": backend.name, "target": target, "units": units}
    if isinstance(backend, Postgres):
        spec["server"] = backend.server.url.rsplit("/", 1)[0]
    done = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{measure} on {backend.name} failed:\n{done.stderr[-4000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# --- the parent: rounds per backend and size -------------------------------------------


def _rounds(
    names: tuple[str, str], run: Callable[[int, int], dict[str, Any]], rounds: int
) -> tuple[Rounds, list[list[dict[str, Any]]]]:
    """``run(round, side)`` for both sides each round, the first side alternating."""
    results: list[list[dict[str, Any]]] = [[], []]
    for r in range(rounds):
        for side in (r % 2, 1 - r % 2):
            results[side].append(run(r, side))
    times = tuple(tuple(x["seconds"] for x in side) for side in results)
    return Rounds(names, times), results


def measure_size(backend: Backend, units: int, rounds: int) -> dict[str, Any]:
    print(f"{backend.label}, {units:,} units", flush=True)
    started = time.perf_counter()
    fixture = backend.fixture(units, lambda target: build(backend, target, units))
    fixture_size = backend.size(fixture)
    set_up = time.perf_counter() - started
    sizes: list[list[int]] = [[], []]
    kept: list[str] = []

    def bill(r: int, side: int) -> dict[str, Any]:
        target = backend.copy(fixture, f"scale_{units}_run_{side}")
        result = _run_child(backend, ("bill", "bill-raw")[side], target, units)
        sizes[side].append(backend.size(target) - fixture_size)
        if side == 0 and r == rounds - 1:
            kept.append(target)  # billed by the run: the roster's and report's fixture
        else:
            backend.drop(target)
        return result

    bill_rounds, bill_results = _rounds(("propcare", "raw"), bill, rounds)
    lines = {x["count"] for side in bill_results for x in side}
    assert lines == {units * len(ITEMS)}, lines
    full = kept[0]
    raw = backend.raw(full)
    _pay_month(raw, units, RUN)
    raw.close()
    backend.vacuum(full)

    roster_rounds, roster_results = _rounds(
        ("propcare", "hand"),
        lambda _r, side: _run_child(backend, ("roster", "roster-hand")[side], full, units),
        rounds,
    )
    streamed = [_run_child(backend, "roster-iter", full, units) for _ in range(rounds)]
    answers = {
        (x["count"], x["total"]) for x in [*roster_results[0], *roster_results[1], *streamed]
    }
    assert len(answers) == 1, f"the roster, iter_roster and the hand query disagree: {answers}"
    monthly = [_run_child(backend, "monthly", full, units) for _ in range(rounds)]
    full_size = backend.size(full)
    backend.drop(full)
    result = {
        "backend": backend.name,
        "units": units,
        "lines": units * len(ITEMS),
        "set_up_s": set_up,
        "fixture_bytes": fixture_size,
        "full_bytes": full_size,
        "bill": {
            "seconds": bill_rounds.times[0],
            "raw_seconds": bill_rounds.times[1],
            "ratio": bill_rounds.ratio(1, 0),
            "spread": bill_rounds.spread(1, 0),
            "peak_mb": [x["peak_mb"] for x in bill_results[0]],
            "start_mb": [x["start_mb"] for x in bill_results[0]],
            "raw_peak_mb": [x["peak_mb"] for x in bill_results[1]],
            "raw_start_mb": [x["start_mb"] for x in bill_results[1]],
            "bytes": sizes[0],
            "raw_bytes": sizes[1],
        },
        "roster": {
            "lines": roster_results[0][0]["count"],
            "seconds": roster_rounds.times[0],
            "hand_seconds": roster_rounds.times[1],
            "ratio": roster_rounds.ratio(0, 1),
            "spread": roster_rounds.spread(0, 1),
            "peak_mb": [x["peak_mb"] for x in roster_results[0]],
            "start_mb": [x["start_mb"] for x in roster_results[0]],
            "hand_peak_mb": [x["peak_mb"] for x in roster_results[1]],
            "hand_start_mb": [x["start_mb"] for x in roster_results[1]],
            "iter_seconds": [x["seconds"] for x in streamed],
            "iter_peak_mb": [x["peak_mb"] for x in streamed],
            "iter_start_mb": [x["start_mb"] for x in streamed],
        },
        "monthly": {
            "seconds": [x["seconds"] for x in monthly],
            "peak_mb": [x["peak_mb"] for x in monthly],
            "start_mb": [x["start_mb"] for x in monthly],
        },
        "peak_label": bill_results[0][0]["peak_label"],
        "load": os.getloadavg(),
        "measured_at": datetime.now(SH).isoformat(timespec="seconds"),
    }
    _print_size(result)
    return result


def _med(values: Sequence[float]) -> float:
    return statistics.median(values)


def _grew(m: dict[str, Any], peak: str = "peak_mb", start: str = "start_mb") -> str:
    """``52 MB (+9)``: the highest peak of the rounds and its growth over the resident
    memory the measure began with (the interpreter and the imports)."""
    i = max(range(len(m[peak])), key=lambda k: m[peak][k])
    return f"{m[peak][i]:.0f} MB ({m[peak][i] - m[start][i]:+.0f})"


def _print_size(r: dict[str, Any]) -> None:
    b, ro, m = r["bill"], r["roster"], r["monthly"]
    lines = r["lines"]
    per_line = _med(b["bytes"]) / lines
    print(
        f"  bill run  {lines / _med(b['seconds']):8,.0f} lines/s ({_med(b['seconds']):.1f} s), "
        f"{RAW[r['backend']]} {lines / _med(b['raw_seconds']):8,.0f} lines/s, ratio "
        f"{b['ratio']:.2f} = raw time / run time (rounds {b['spread']}); peak "
        f"{_grew(b)}, raw {_grew(b, 'raw_peak_mb', 'raw_start_mb')}; "
        f"{per_line:,.0f} bytes a bill line on disk"
    )
    print(
        f"  roster    {ro['lines']:,} lines in {_med(ro['seconds']):.2f} s, hand SQL "
        f"{_med(ro['hand_seconds']):.2f} s, ratio {ro['ratio']:.2f}x (rounds {ro['spread']}); "
        f"peak {_grew(ro)}, hand {_grew(ro, 'hand_peak_mb', 'hand_start_mb')}; streamed "
        f"(iter_roster) {_med(ro['iter_seconds']):.2f} s, peak "
        f"{_grew(ro, 'iter_peak_mb', 'iter_start_mb')}"
    )
    print(
        f"  monthly   {_med(m['seconds']):.2f} s, peak {_grew(m)}; "
        f"database {r['full_bytes'] / 2**20:,.0f} MB; load {r['load'][0]:.2f}",
        flush=True,
    )


def print_table(results: Sequence[dict[str, Any]]) -> None:
    """The figures for docs/performance.md, one row per backend and size. Peak memory: the
    highest of the rounds, and (in brackets) its growth over what the child began with."""
    print()
    print(
        "| backend | units | bill run lines/s | raw lines/s | ratio | bill run peak MB "
        "| bytes/line | roster lines | roster s | hand SQL s | ratio | roster peak MB "
        "| iter_roster s | iter_roster peak MB | monthly s | monthly peak MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        b, ro, m = r["bill"], r["roster"], r["monthly"]
        lines = r["lines"]
        print(
            f"| {r['backend']} | {r['units']:,} | {lines / _med(b['seconds']):,.0f} "
            f"| {lines / _med(b['raw_seconds']):,.0f} | {b['ratio']:.2f} | {_grew(b)} "
            f"| {_med(b['bytes']) / lines:,.0f} | {ro['lines']:,} | {_med(ro['seconds']):.2f} "
            f"| {_med(ro['hand_seconds']):.2f} | {ro['ratio']:.2f}x | {_grew(ro)} "
            f"| {_med(ro['iter_seconds']):.2f} | {_grew(ro, 'iter_peak_mb', 'iter_start_mb')} "
            f"| {_med(m['seconds']):.2f} | {_grew(m)} |"
        )
    for r in results:
        per_line = _med(r["bill"]["bytes"]) / r["lines"]
        year = per_line * 100_000 * len(ITEMS) * 12
        print(
            f"{r['backend']} {r['units']:,}: {per_line:,.0f} bytes a bill line -> "
            f"{year / 1e9:.2f} GB a year of bills for 100,000 units x {len(ITEMS)} items"
        )


# --- the plot -----------------------------------------------------------------------------

_COLOURS = {"bill": "#1f77b4", "roster": "#d62728", "iter": "#ff7f0e", "monthly": "#2ca02c"}
_NAMES = {
    "bill": "bill run",
    "roster": "roster (list)",
    "iter": "roster streamed (iter_roster)",
    "monthly": "monthly report",
}
_DASH = {"sqlite": "", "postgres": "7 4"}
_LABELS = {"sqlite": Sqlite.label, "postgres": Postgres.label}


def _nice(top: float) -> float:
    """A round axis maximum at or above ``top``."""
    if top <= 0:
        return 1.0
    step = 10 ** len(str(int(top))) / 10
    for k in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if k * step >= top:
            return k * step
    return 10 * step


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _panel(
    x0: float,
    title: str,
    unit: str,
    series: Sequence[tuple[str, str, str, list[tuple[float, float]]]],
    xmax: float,
) -> list[str]:
    """One chart: ``series`` are (colour, dash, opacity, points) in data coordinates."""
    w, h, top, left, bottom = 400.0, 260.0, 50.0, 55.0, 40.0
    ymax = _nice(max((y for *_, pts in series for _, y in pts), default=1.0))

    def px(x: float) -> float:
        return x0 + left + (x / xmax) * (w - left - 10)

    def py(y: float) -> float:
        return top + (h - bottom) * (1 - y / ymax)

    out = [
        f'<text x="{x0 + left}" y="{top - 12}" font-size="13" font-weight="bold">'
        f"{_esc(title)}</text>",
        f'<line x1="{px(0)}" y1="{py(0)}" x2="{px(xmax)}" y2="{py(0)}" stroke="#333"/>',
        f'<line x1="{px(0)}" y1="{py(0)}" x2="{px(0)}" y2="{py(ymax)}" stroke="#333"/>',
    ]
    for i in range(5):
        y = ymax * i / 4
        out.append(
            f'<line x1="{px(0)}" y1="{py(y):.1f}" x2="{px(xmax)}" y2="{py(y):.1f}" stroke="#ddd"/>'
        )
        out.append(
            f'<text x="{px(0) - 6}" y="{py(y) + 4:.1f}" font-size="11" text-anchor="end">'
            f"{y:g}</text>"
        )
        x = xmax * i / 4
        out.append(
            f'<text x="{px(x):.1f}" y="{py(0) + 16}" font-size="11" text-anchor="middle">'
            f"{x / 1000:g}k</text>"
        )
    out.append(
        f'<text x="{px(xmax / 2):.1f}" y="{py(0) + 32}" font-size="11" '
        'text-anchor="middle">units</text>'
    )
    out.append(
        f'<text x="{x0 + 14}" y="{py(ymax / 2):.1f}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 {x0 + 14} {py(ymax / 2):.1f})">{_esc(unit)}</text>'
    )
    for colour, dash, opacity, pts in series:
        if not pts:
            continue
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in sorted(pts))
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"'
            f' stroke-opacity="{opacity}"{dashed}/>'
        )
        for x, y in pts:
            out.append(
                f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}" '
                f'fill-opacity="{opacity}"/>'
            )
    return out


# Each series: where its seconds and peaks are in a result, and whether it is a baseline.
_SERIES = (
    ("bill", ("bill", "seconds"), ("bill", "peak_mb"), False),
    ("roster", ("roster", "seconds"), ("roster", "peak_mb"), False),
    ("iter", ("roster", "iter_seconds"), ("roster", "iter_peak_mb"), False),
    ("monthly", ("monthly", "seconds"), ("monthly", "peak_mb"), False),
    ("bill", ("bill", "raw_seconds"), None, True),
    ("roster", ("roster", "hand_seconds"), None, True),
)


def plot(results: Sequence[dict[str, Any]], path: Path) -> None:
    """Seconds and peak memory of each measure against units, one line per backend; the
    baselines' seconds fainter."""
    xmax = _nice(max(r["units"] for r in results))
    times: list[tuple[str, str, str, list[tuple[float, float]]]] = []
    memory: list[tuple[str, str, str, list[tuple[float, float]]]] = []
    backends = [b for b in BACKENDS if any(r["backend"] == b for r in results)]
    for backend in backends:
        rows = [r for r in results if r["backend"] == backend]
        for key, (part, secs), peak, baseline in _SERIES:
            rows_with = [r for r in rows if secs in r[part]]
            style = (_COLOURS[key], _DASH[backend], "0.35" if baseline else "1")
            times.append((*style, [(r["units"], _med(r[part][secs])) for r in rows_with]))
            if peak is not None:
                memory.append((*style, [(r["units"], max(r[peak[0]][peak[1]])) for r in rows_with]))
    loads = sorted({f"{r['load'][0]:.1f}" for r in results})
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="860" height="380" '
        'viewBox="0 0 860 380" font-family="sans-serif">',
        '<rect width="860" height="380" fill="white"/>',
        '<text x="20" y="22" font-size="15" font-weight="bold">propcare: cost against '
        "estate size (benchmarks/bench_scale.py)</text>",
        *_panel(10, "time (median of the rounds)", "seconds", times, xmax),
        *_panel(440, "peak resident memory of the measure", "MB", memory, xmax),
    ]
    y, x = 330, 20
    for key in ("bill", "roster", "iter", "monthly"):
        parts.append(
            f'<line x1="{x}" y1="{y}" x2="{x + 24}" y2="{y}" stroke="{_COLOURS[key]}" '
            'stroke-width="2"/>'
        )
        parts.append(f'<text x="{x + 30}" y="{y + 4}" font-size="12">{_NAMES[key]}</text>')
        x += 60 + 6.5 * len(_NAMES[key])
    y, x = y + 22, 20
    for backend in backends:
        dash = f' stroke-dasharray="{_DASH[backend]}"' if _DASH[backend] else ""
        parts.append(
            f'<line x1="{x}" y1="{y}" x2="{x + 24}" y2="{y}" stroke="#333" stroke-width="2"{dash}/>'
        )
        parts.append(f'<text x="{x + 30}" y="{y + 4}" font-size="12">{_LABELS[backend]}</text>')
        x += 130
    parts.append(
        f'<line x1="{x}" y1="{y}" x2="{x + 24}" y2="{y}" stroke="#333" stroke-width="2" '
        'stroke-opacity="0.35"/>'
    )
    parts.append(
        f'<text x="{x + 30}" y="{y + 4}" font-size="12">'
        "baseline (raw executemany or COPY, hand SQL)</text>"
    )
    parts.append(
        f'<text x="20" y="{y + 22}" font-size="11" fill="#555">2 shared cores, load '
        f"{', '.join(loads)}; {len(ITEMS)} bill lines a unit a month; roster: one unit in "
        "five owing two months</text>"
    )
    parts.append("</svg>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")
    print(f"plot written to {path}")


# --- main ---------------------------------------------------------------------------------


def _postgres_here() -> bool:
    try:
        from propcare_postgres.testing import postgres_available
    except ImportError:  # propcare-postgres is not installed
        return False
    return postgres_available()


@contextmanager
def _backend(name: str, work: Path) -> Iterator[Backend]:
    if name == "sqlite":
        yield Sqlite(work)
        return
    from propcare_postgres.testing import TemporaryServer

    with TemporaryServer() as server:
        yield Postgres(server)  # stopped and deleted when the block ends


def main(argv: Sequence[str] = ()) -> None:
    """``argv`` as on the command line; none (``benchmarks/run.py``): every size and backend."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="units, comma-separated")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="sqlite,postgres")
    parser.add_argument("--quick", action="store_true", help=f"sizes {QUICK} (a smoke run)")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="rounds per measure (>= 3)")
    parser.add_argument("--svg", default=str(SVG), help="where the plot goes ('' for none)")
    parser.add_argument(
        "--json", type=Path, default=CACHE / "scale-results.json", help="where results go"
    )
    parser.add_argument("--merge", type=Path, help="earlier results to plot beside these")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    if args.rounds < 3:
        parser.error("--rounds: at least 3 (a median of fewer says little)")
    logging.getLogger("propcare.app").setLevel(logging.ERROR)
    sizes = list(QUICK) if args.quick else [int(s) for s in args.sizes.split(",") if s]
    if any(s < PER_BUILDING or s % PER_BUILDING for s in sizes):
        parser.error(f"--sizes: multiples of {PER_BUILDING:,}")
    backends = [b for b in args.backends.split(",") if b]
    if not set(backends) <= set(BACKENDS):
        parser.error(f"--backends: from {', '.join(BACKENDS)}")
    if "postgres" in backends and not _postgres_here():
        print("PostgreSQL 15 is not installed here (postgresql-15): SQLite only")
        backends.remove("postgres")
    print(f"load {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="propcare-scale-", dir="/tmp") as work:
        for name in backends:
            with _backend(name, Path(work)) as backend:
                for size in sizes:
                    results.append(measure_size(backend, size, args.rounds))
    measured = {(r["backend"], r["units"]) for r in results}
    if args.merge is not None and args.merge.exists():
        earlier = json.loads(args.merge.read_text())
        results += [r for r in earlier if (r["backend"], r["units"]) not in measured]
    results.sort(key=lambda r: (BACKENDS.index(r["backend"]), r["units"]))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1))
    print_table(results)
    print(f"results in {args.json}")
    if args.svg:
        plot(results, Path(args.svg))


if __name__ == "__main__":
    main(sys.argv[1:])
