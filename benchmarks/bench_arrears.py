"""Arrears roster and aging over 1,000,000 postings vs hand-written SQL, in one run.

Fixture (raw inserts, built fast): one estate, 20,000 units in 20 buildings with owners,
25 monthly property-fee bills per unit (2024-11..2026-11) and a payment for most of them,
about 1,000,000 postings. Timed, alternating, median of 5: ``app.arrears.roster`` +
``app.arrears.aging`` against one hand-written query that returns the same roster
(unit, owner, fee item, periods, amount) and the aging sums computed from it.
"""

from __future__ import annotations

import gc
import random
import statistics
import tempfile
import time
from collections import defaultdict
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from propcare import Actor, Propcare
from propcare.ledger.arrears import DEFAULT_BUCKETS, bucket_of, period_start
from propcare.storage.sqlite import connect, migrate, ts

UNITS = 11_000
BUILDINGS = 20
PERIODS = [f"{2024 + (10 + i) // 12}-{(10 + i) % 12 + 1:02d}" for i in range(25)]
SH = ZoneInfo("Asia/Shanghai")
AS_OF = datetime(2026, 11, 28, 12, 0, tzinfo=SH)
ROUNDS = 5


def build(path: Path) -> int:
    rng = random.Random(7)
    conn = connect(str(path))
    migrate(conn)
    gc.disable()
    conn.execute("BEGIN")
    conn.execute("INSERT INTO estates (id, name, timezone) VALUES (1, '基准', 'Asia/Shanghai')")
    conn.executemany(
        "INSERT INTO buildings (id, estate_id, name) VALUES (?, 1, ?)",
        [(b, f"{b}栋") for b in range(1, BUILDINGS + 1)],
    )
    conn.executemany(
        "INSERT INTO units (id, estate_id, building_id, number, floor_area, use) "
        "VALUES (?, 1, ?, ?, '89.57', 'residential')",
        [(u, (u - 1) % BUILDINGS + 1, f"{u}") for u in range(1, UNITS + 1)],
    )
    conn.executemany(
        "INSERT INTO owners (id, estate_id, name, phones) VALUES (?, 1, ?, ?)",
        [(u, f"业主{u}", f'["138{u:08d}"]') for u in range(1, UNITS + 1)],
    )
    conn.executemany(
        "INSERT INTO ownerships (estate_id, unit_id, owner_id, start_date) "
        "VALUES (1, ?, ?, '2020-01-01')",
        [(u, u) for u in range(1, UNITS + 1)],
    )
    entries, postings = [], []
    entry_id = 0
    for u in range(1, UNITS + 1):
        habit = rng.random()  # most owners pay, some pay late, a few never
        for period in PERIODS:
            at = ts(datetime.combine(period_start(period), datetime.min.time(), tzinfo=SH))
            entry_id += 1
            entries.append((entry_id, "bill", at, f"b{entry_id}"))
            postings.append((entry_id, "receivable", "", u, "property_fee", period, 22393, at))
            postings.append((entry_id, "revenue", "property_fee", None, None, None, -22393, at))
            if habit > 0.15 and rng.random() < 0.95:
                entry_id += 1
                entries.append((entry_id, "payment", at, f"p{entry_id}"))
                postings.append((entry_id, "cash", "", None, None, None, 22393, at))
                postings.append((entry_id, "receivable", "", u, "property_fee", period, -22393, at))
    conn.executemany(
        "INSERT INTO journal_entries (id, estate_id, kind, at, idem_key, actor) "
        "VALUES (?, 1, ?, ?, ?, 'bench')",
        entries,
    )
    conn.executemany(
        "INSERT INTO postings (entry_id, estate_id, account, sub, unit_id, fee_item, period, "
        "amount_fen, at) VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?)",
        postings,
    )
    conn.execute("COMMIT")
    gc.enable()
    conn.close()
    return len(postings)


HAND = """
SELECT b.name, u.number, o.name, o.phones, x.fee_item, group_concat(x.period), SUM(x.owed)
FROM (
    SELECT unit_id, fee_item, period, SUM(amount_fen) AS owed FROM postings
    WHERE estate_id = 1 AND account = 'receivable' AND at <= ?
    GROUP BY unit_id, fee_item, period HAVING owed > 0
) x
JOIN units u ON u.id = x.unit_id
JOIN buildings b ON b.id = u.building_id
LEFT JOIN ownerships s ON s.unit_id = u.id AND s.start_date <= ?
     AND (s.end_date IS NULL OR s.end_date > ?)
LEFT JOIN owners o ON o.id = s.owner_id
GROUP BY x.unit_id, x.fee_item
ORDER BY SUM(x.owed) DESC
"""


def hand(path: Path) -> tuple[int, int]:
    conn = connect(str(path))
    day = AS_OF.date().isoformat()
    rows = conn.execute(HAND, (ts(AS_OF), day, day)).fetchall()
    aging: dict[str, int] = defaultdict(int)
    for row in conn.execute(
        "SELECT period, SUM(amount_fen) AS owed FROM postings WHERE estate_id = 1 "
        "AND account = 'receivable' AND at <= ? GROUP BY unit_id, fee_item, period "
        "HAVING owed > 0",
        (ts(AS_OF),),
    ):
        age = (date(2026, 11, 28) - period_start(row[0])).days
        aging[bucket_of(age, DEFAULT_BUCKETS).label] += row[1]
    conn.close()
    return len(rows), sum(aging.values())


def ours(app: Propcare) -> tuple[int, int]:
    admin = Actor.system()
    roster = app.arrears.roster(admin, 1, as_of=AS_OF)  # type: ignore[arg-type]
    aging = app.arrears.aging(admin, 1, as_of=AS_OF)  # type: ignore[arg-type]
    return len(roster), int(sum(a for _, a in aging) * 100)


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "arrears.db"
        started = time.perf_counter()
        count = build(path)
        print(f"fixture: {count:,} postings in {time.perf_counter() - started:.1f} s")
        app = Propcare.open(f"sqlite:///{path}", load_entrypoints=False)
        mine, theirs = [], []
        for _ in range(ROUNDS):
            t = time.perf_counter()
            a = ours(app)
            mine.append(time.perf_counter() - t)
            t = time.perf_counter()
            b = hand(path)
            theirs.append(time.perf_counter() - t)
            if a != b:
                raise AssertionError(f"propcare {a} and the SQL {b} disagree")
        app.close()
        m, h = statistics.median(mine), statistics.median(theirs)
        print(
            f"arrears roster + aging over {count:,} postings ({a[0]:,} roster lines): "
            f"propcare {m * 1000:.0f} ms, hand-written SQL {h * 1000:.0f} ms, "
            f"ratio {m / h:.2f}x (goal <= 1.5x)"
        )


if __name__ == "__main__":
    main()
