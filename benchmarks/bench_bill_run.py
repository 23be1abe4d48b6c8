"""A bill run for 100,000 units x 3 fee items, persisted, against raw sqlite3.

- propcare: ``app.billing.run`` on a fresh SQLite file whose units were made with
  ``app.estates.add_units`` (untimed set-up): reads units in chunks, computes each line in
  Decimal, writes journal entries, postings and bills with executemany per chunk.
- raw: sqlite3 ``executemany`` of the same rows (one entry, two postings and one bill per
  line, amounts precomputed) into the same tables of another fresh file, a transaction
  per 2,000 units like the run.

Both files are set up once; each round bills a fresh copy of each (copied, opened and
closed untimed), the side that goes first alternating from round to round (the first
side warms the disk and the caches for the second: run propcare always first and the
ratio moved from 1.0-1.35 to 0.70 when swapped). Prints the median rates, the median of
the rounds' ratios raw time / run time with their spread (goal: at least 0.5) and each
side's peak resident memory during its run alone (goal under 300 MB): on Linux the
high-water mark is reset just before each side (``/proc/self/clear_refs``) and read back
just after it (``VmHWM``), the highest of the rounds printed with the resident memory
each side began from; elsewhere the whole process's ``ru_maxrss`` is printed and
labelled so.
"""

from __future__ import annotations

import gc
import resource
import shutil
import sqlite3
import sys
import tempfile
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from rounds import alternate

from propcare import Actor, FixedClock, Propcare, UnitSpec
from propcare.storage.sqlite import connect, migrate

UNITS = 100_000
PER_BUILDING = 10_000
CHUNK = 2_000
ITEMS = (("property_fee", "2.50"), ("lift_fee", "0.30"), ("energy_fee", "0.15"))
AREA = Decimal("89.57")
PERIOD = "2026-11"
ESTATE = 1
ROUNDS = 5
CLOCK = FixedClock(datetime(2026, 11, 2, 1, 0, tzinfo=UTC))
# The raw side's amounts and time, precomputed (untimed).
AMOUNTS = [
    (code, int((AREA * Decimal(rate) * 100).quantize(Decimal(1), ROUND_HALF_UP)))
    for code, rate in ITEMS
]
AT = CLOCK.now().isoformat(timespec="microseconds")


def _reset_peak() -> bool:
    """Start the resident high-water mark afresh (Linux); False where that is impossible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _peak_mb(since_reset: bool) -> tuple[float, str]:
    if since_reset:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024, "peak resident memory during the run"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    mb = peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
    return mb, "peak memory of the process, set-up included"


def _rss_mb() -> float:
    """Resident memory now (Linux; 0 elsewhere): what a side's peak starts from."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _setup_propcare(path: Path) -> None:
    """The estate, 100,000 units through ``add_units`` and the fee items: untimed, once."""
    admin = Actor.system()
    app = Propcare.open(f"sqlite:///{path}", load_entrypoints=False, clock=CLOCK)
    estate = app.estates.create(admin, "基准小区")
    assert estate.id == ESTATE, estate.id
    for b in range(UNITS // PER_BUILDING):
        building = app.estates.add_building(admin, estate.id, f"{b + 1}栋")
        app.estates.add_units(
            admin,
            building.id,
            [UnitSpec(f"{i}", AREA, "residential", date(2020, 1, 1)) for i in range(PER_BUILDING)],
        )
    for code, rate in ITEMS:
        app.billing.add_fee_item(admin, estate.id, code, code, "area", rates={"residential": rate})
    app.close()


def _setup_raw(path: Path) -> None:
    conn = connect(str(path))
    migrate(conn)
    conn.execute("INSERT INTO estates (name, timezone) VALUES ('基准', 'Asia/Shanghai')")
    conn.execute("BEGIN")
    for b in range(UNITS // PER_BUILDING):
        conn.execute("INSERT INTO buildings (estate_id, name) VALUES (1, ?)", (f"{b + 1}栋",))
        conn.executemany(
            "INSERT INTO units (estate_id, building_id, number, floor_area, use, handover_date) "
            "VALUES (1, ?, ?, '89.57', 'residential', '2020-01-01')",
            [(b + 1, str(i)) for i in range(PER_BUILDING)],
        )
    conn.execute("COMMIT")
    conn.close()


def _raw_run(conn: sqlite3.Connection) -> int:
    """The bill run's rows by executemany, a transaction per CHUNK units; the lines written."""
    amounts, at = AMOUNTS, AT
    entry = 0
    for lo in range(1, UNITS + 1, CHUNK):
        entries, postings, bills = [], [], []
        for unit in range(lo, min(lo + CHUNK, UNITS + 1)):
            for code, fen in amounts:
                entry += 1
                entries.append((entry, 1, "bill", at, f"bill:{unit}:{code}:{PERIOD}", "system"))
                postings.append((entry, 1, "receivable", "", unit, code, PERIOD, fen, at))
                postings.append((entry, 1, "revenue", code, None, None, None, -fen, at))
                bills.append((1, unit, code, PERIOD, fen, "2026-11-16", "[[null, 0]]", entry))
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO journal_entries (id, estate_id, kind, at, idem_key, actor, memo) "
            "VALUES (?, ?, ?, ?, ?, ?, '')",
            entries,
        )
        conn.executemany(
            "INSERT INTO postings (entry_id, estate_id, account, sub, unit_id, fee_item, "
            "period, amount_fen, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            postings,
        )
        conn.executemany(
            "INSERT INTO bills (estate_id, unit_id, fee_item, period, amount_fen, due_date, "
            "owner_shares, entry_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            bills,
        )
        conn.execute("COMMIT")
    return entry


class Bench:
    """Fresh copies of the two set-up files for each side of each round.

    ``setup`` (untimed) copies the side's pristine file, opens it, collects garbage and
    resets the high-water mark; the timed side bills; ``teardown`` (untimed) reads the
    high-water mark before closing and deletes the copy. So each side's peak is its own run's.
    """

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.pristine = (tmp / "propcare.db", tmp / "raw.db")
        _setup_propcare(self.pristine[0])
        _setup_raw(self.pristine[1])
        self.app: Propcare | None = None
        self.conn: sqlite3.Connection | None = None
        self.lines: list[list[int]] = [[], []]
        self.peaks: list[list[float]] = [[], []]
        self.label = ""
        self.reset = False
        self.floor: list[list[float]] = [[], []]

    def _copy(self, side: int) -> Path:
        copy = self.tmp / f"round-{side}.db"
        shutil.copyfile(self.pristine[side], copy)
        return copy

    def setup(self, _round: int, side: int) -> None:
        path = self._copy(side)
        if side == 0:
            self.app = Propcare.open(f"sqlite:///{path}", load_entrypoints=False, clock=CLOCK)
        else:
            self.conn = connect(str(path))
        gc.collect()
        self.reset = _reset_peak()
        self.floor[side].append(_rss_mb())

    def propcare(self) -> None:
        assert self.app is not None
        self.lines[0].append(self.app.billing.run(Actor.system(), ESTATE, PERIOD).billed_now)

    def raw(self) -> None:
        assert self.conn is not None
        self.lines[1].append(_raw_run(self.conn))

    def teardown(self, _round: int, side: int) -> None:
        peak, self.label = _peak_mb(self.reset)
        self.peaks[side].append(peak)
        if self.app is not None:
            self.app.close()
            self.app = None
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.tmp / f'round-{side}.db'}{suffix}").unlink(missing_ok=True)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(Path(tmp))
        rounds = alternate(
            [("propcare", bench.propcare), ("raw", bench.raw)],
            ROUNDS,
            setup=bench.setup,
            teardown=bench.teardown,
        )
    lines = UNITS * len(ITEMS)
    assert bench.lines == [[lines] * ROUNDS] * 2, bench.lines
    ours, base = rounds.median(0), rounds.median(1)
    print(f"bill run   propcare {lines / ours:10,.0f} lines/s ({ours:.2f} s, median of {ROUNDS})")
    print(f"           raw      {lines / base:10,.0f} lines/s ({base:.2f} s)")
    print(
        f"           ratio {rounds.ratio(1, 0):.2f} = raw time / run time, median of {ROUNDS} "
        f"alternated rounds (rounds {rounds.spread(1, 0)}; goal >= 0.50)"
    )
    growth = [
        max(p - f for p, f in zip(bench.peaks[side], bench.floor[side], strict=True))
        for side in (0, 1)
    ]
    print(
        f"           {bench.label} (highest of the rounds): propcare {max(bench.peaks[0]):.0f} "
        f"MB (at most {growth[0]:+.1f} MB over the resident memory it began with), raw "
        f"{max(bench.peaks[1]):.0f} MB ({growth[1]:+.1f} MB) (goal < 300 MB)"
    )


if __name__ == "__main__":
    main()
