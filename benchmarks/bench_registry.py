"""Registry write paths against raw sqlite3 doing the same inserts.

- bulk: ``app.estates.add_units`` (validation, estate checks, outbox event, one
  transaction) vs one raw ``executemany`` of the same rows into the same schema.
- one by one: ``app.estates.add_unit`` per unit (a transaction each) vs raw
  sqlite3 inserting the same rows one transaction each.
"""

from __future__ import annotations

import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from propcare import Actor, Propcare, UnitSpec
from propcare.storage.sqlite import connect, migrate

BULK = 20_000
SINGLE = 2_000
ROUNDS = 3


def _specs(n: int) -> list[UnitSpec]:
    return [UnitSpec(f"{i // 100 + 1}-{i % 100:02d}{i}", Decimal("89.57")) for i in range(n)]


def _fresh(tmp: Path, name: str) -> tuple[Propcare, int]:
    app = Propcare.open(f"sqlite:///{tmp / name}", load_entrypoints=False)
    admin = Actor.system()
    estate = app.estates.create(admin, "基准小区")
    return app, app.estates.add_building(admin, estate.id, "1栋").id


def _raw(tmp: Path, name: str) -> sqlite3.Connection:
    conn = connect(str(tmp / name))
    migrate(conn)
    conn.execute("INSERT INTO estates (name, timezone) VALUES ('基准', 'Asia/Shanghai')")
    conn.execute("INSERT INTO buildings (estate_id, name) VALUES (1, '1栋')")
    return conn


def _rows(n: int) -> list[tuple[object, ...]]:
    return [(1, 1, s.number, "89.57", "residential", None) for s in _specs(n)]


INSERT = (
    "INSERT INTO units (estate_id, building_id, number, floor_area, use, handover_date) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)


def _time(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_bulk(tmp: Path, r: int) -> tuple[float, float]:
    app, building = _fresh(tmp, f"bulk-{r}.db")
    specs = _specs(BULK)
    ours = _time(lambda: app.estates.add_units(Actor.system(), building, specs))
    app.close()
    conn = _raw(tmp, f"bulk-raw-{r}.db")
    rows = _rows(BULK)

    def raw() -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(INSERT, rows)
        conn.execute("COMMIT")

    base = _time(raw)
    conn.close()
    return ours, base


def bench_single(tmp: Path, r: int) -> tuple[float, float]:
    app, building = _fresh(tmp, f"one-{r}.db")
    admin = Actor.system()
    specs = _specs(SINGLE)

    def ours_fn() -> None:
        for s in specs:
            app.estates.add_unit(admin, building, s.number, s.floor_area)

    ours = _time(ours_fn)
    app.close()
    conn = _raw(tmp, f"one-raw-{r}.db")
    rows = _rows(SINGLE)

    def raw() -> None:
        for row in rows:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(INSERT, row)
            conn.execute("COMMIT")

    base = _time(raw)
    conn.close()
    return ours, base


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for label, fn, n in (
            (f"bulk add_units, {BULK:,} units", bench_bulk, BULK),
            (f"add_unit one transaction each, {SINGLE:,} units", bench_single, SINGLE),
        ):
            runs = [fn(tmp, r) for r in range(ROUNDS)]
            ours = statistics.median(o for o, _ in runs)
            base = statistics.median(b for _, b in runs)
            print(
                f"{label}: propcare {n / ours:,.0f}/s, raw sqlite3 {n / base:,.0f}/s, "
                f"ratio {base / ours:.0%} of raw"
            )


if __name__ == "__main__":
    main()
