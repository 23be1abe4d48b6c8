"""A bill run for 100,000 units x 3 fee items, persisted, against raw sqlite3.

- propcare: ``app.billing.run`` on a fresh SQLite file whose units were made with
  ``app.estates.add_units`` (untimed set-up): reads units in chunks, computes each line in
  Decimal, writes journal entries, postings and bills with executemany per chunk.
- raw: sqlite3 ``executemany`` of the same rows (one entry, two postings and one bill per
  line, amounts precomputed) into the same tables of another fresh file, a transaction
  per 2,000 units like the run.

Prints both rates, the ratio (goal: at least 0.5) and the process's peak resident memory
during the run alone (goal under 300 MB): on Linux the high-water mark is reset after
set-up (``/proc/self/clear_refs``) and read back after the run (``VmHWM``); elsewhere the
whole process's ``ru_maxrss`` is printed and labelled so.
"""

from __future__ import annotations

import gc
import resource
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from propcare import Actor, FixedClock, Propcare, UnitSpec
from propcare.storage.sqlite import connect, migrate

UNITS = 100_000
PER_BUILDING = 10_000
CHUNK = 2_000
ITEMS = (("property_fee", "2.50"), ("lift_fee", "0.30"), ("energy_fee", "0.15"))
AREA = Decimal("89.57")
PERIOD = "2026-11"
CLOCK = FixedClock(datetime(2026, 11, 2, 1, 0, tzinfo=UTC))


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


def _propcare(path: Path) -> tuple[float, int, float, str]:
    admin = Actor.system()
    app = Propcare.open(f"sqlite:///{path}", load_entrypoints=False, clock=CLOCK)
    estate = app.estates.create(admin, "基准小区")
    for b in range(UNITS // PER_BUILDING):
        building = app.estates.add_building(admin, estate.id, f"{b + 1}栋")
        app.estates.add_units(
            admin,
            building.id,
            [UnitSpec(f"{i}", AREA, "residential", date(2020, 1, 1)) for i in range(PER_BUILDING)],
        )
    for code, rate in ITEMS:
        app.billing.add_fee_item(admin, estate.id, code, code, "area", rates={"residential": rate})
    gc.collect()
    reset = _reset_peak()
    start = time.perf_counter()
    report = app.billing.run(admin, estate.id, PERIOD)
    elapsed = time.perf_counter() - start
    peak, label = _peak_mb(reset)
    app.close()
    return elapsed, report.billed_now, peak, label


def _raw(path: Path) -> tuple[float, int]:
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
    amounts = [
        (code, int((AREA * Decimal(rate) * 100).quantize(Decimal(1), ROUND_HALF_UP)))
        for code, rate in ITEMS
    ]
    at = CLOCK.now().isoformat(timespec="microseconds")
    start = time.perf_counter()
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
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed, entry


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ours, lines, peak, label = _propcare(Path(tmp) / "propcare.db")
        base, raw_lines = _raw(Path(tmp) / "raw.db")
    assert lines == raw_lines == UNITS * len(ITEMS), (lines, raw_lines)
    print(f"bill run   propcare {lines / ours:10,.0f} lines/s ({ours:.2f} s)")
    print(f"           raw      {raw_lines / base:10,.0f} lines/s ({base:.2f} s)")
    print(f"           ratio {base / ours:.2f} (goal >= 0.50)")
    print(f"           {label} {peak:.0f} MB (goal < 300 MB)")


if __name__ == "__main__":
    main()
