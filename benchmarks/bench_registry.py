"""Registry write paths against raw sqlite3 doing the same inserts.

- bulk: ``app.estates.add_units`` (validation, estate checks, outbox event, one
  transaction) vs one raw ``executemany`` of the same rows into the same schema.
- one by one: ``app.estates.add_unit`` per unit (a transaction each) vs raw
  sqlite3 inserting the same rows one transaction each.

Each round makes a fresh file for each side (untimed) and times the side; the side that
goes first alternates from round to round, and the printed ratio is the median of the
rounds' ratios (raw time / propcare time) with their spread.
"""

from __future__ import annotations

import sqlite3
import tempfile
from decimal import Decimal
from pathlib import Path

from rounds import alternate

from propcare import Actor, Propcare, UnitSpec
from propcare.storage.sqlite import connect, migrate

BULK = 20_000
SINGLE = 2_000
ROUNDS = 5


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


class Sides:
    """A fresh database for each side of each round, made and closed untimed."""

    def __init__(self, tmp: Path, kind: str, n: int) -> None:
        self.tmp, self.kind, self.n = tmp, kind, n
        self.specs = _specs(n)
        self.rows = _rows(n)
        self.app: Propcare | None = None
        self.building = 0
        self.conn: sqlite3.Connection | None = None

    def setup(self, r: int, side: int) -> None:
        if side == 0:
            self.app, self.building = _fresh(self.tmp, f"{self.kind}-{r}.db")
        else:
            self.conn = _raw(self.tmp, f"{self.kind}-raw-{r}.db")

    def teardown(self, _r: int, _side: int) -> None:
        if self.app is not None:
            self.app.close()
            self.app = None
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def ours_bulk(self) -> None:
        assert self.app is not None
        self.app.estates.add_units(Actor.system(), self.building, self.specs)

    def raw_bulk(self) -> None:
        assert self.conn is not None
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.executemany(INSERT, self.rows)
        self.conn.execute("COMMIT")

    def ours_single(self) -> None:
        assert self.app is not None
        admin = Actor.system()
        for s in self.specs:
            self.app.estates.add_unit(admin, self.building, s.number, s.floor_area)

    def raw_single(self) -> None:
        assert self.conn is not None
        for row in self.rows:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute(INSERT, row)
            self.conn.execute("COMMIT")


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for label, kind, n in (
            (f"bulk add_units, {BULK:,} units", "bulk", BULK),
            (f"add_unit one transaction each, {SINGLE:,} units", "one", SINGLE),
        ):
            sides = Sides(tmp, kind, n)
            ours, raw = (
                (sides.ours_bulk, sides.raw_bulk)
                if kind == "bulk"
                else (sides.ours_single, sides.raw_single)
            )
            rounds = alternate(
                [("propcare", ours), ("raw", raw)],
                ROUNDS,
                setup=sides.setup,
                teardown=sides.teardown,
            )
            print(
                f"{label}: propcare {n / rounds.median(0):,.0f}/s, raw sqlite3 "
                f"{n / rounds.median(1):,.0f}/s, ratio {rounds.ratio(1, 0):.0%} of raw "
                f"(median of {ROUNDS} alternated rounds; rounds {_pct(rounds.ratios(1, 0))})"
            )


def _pct(ratios: list[float]) -> str:
    return f"{min(ratios):.0%}-{max(ratios):.0%}"


if __name__ == "__main__":
    main()
