"""Arrears roster and aging over about 900,000 postings vs hand-written SQL, in one run.

Fixture (raw inserts, built fast): one estate, 11,000 units in 20 buildings with owners,
25 monthly property-fee bills per unit (2024-11..2026-11), each with its bill row and due
date (the 16th of its month), and a payment for most of them. Timed, alternating, median
of 5: ``app.arrears.roster`` + ``app.arrears.aging`` (what is past due: as of
2026-11-10, November's bills are not due yet) against one hand-written query that
returns the same roster (unit, owner, fee item, periods, amount) and the aging sums by
days past due computed from it.
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
AS_OF = datetime(2026, 11, 10, 12, 0, tzinfo=SH)  # November is billed, not yet due
DUE_DAY = 16
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
    entries, postings, bills = [], [], []
    entry_id = 0
    for u in range(1, UNITS + 1):
        habit = rng.random()  # most owners pay, some pay late, a few never
        for period in PERIODS:
            at = ts(datetime.combine(period_start(period), datetime.min.time(), tzinfo=SH))
            entry_id += 1
            entries.append((entry_id, "bill", at, f"b{entry_id}"))
            postings.append((entry_id, "receivable", "", u, "property_fee", period, 22393, at))
            postings.append((entry_id, "revenue", "property_fee", None, None, None, -22393, at))
            due = period_start(period).replace(day=DUE_DAY).isoformat()
            bills.append((u, period, due, f"[[{u}, 22393]]", entry_id))
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
    conn.executemany(
        "INSERT INTO bills (estate_id, unit_id, fee_item, period, amount_fen, due_date, "
        "owner_shares, entry_id) VALUES (1, ?, 'property_fee', ?, 22393, ?, ?, ?)",
        bills,
    )
    conn.execute("COMMIT")
    gc.enable()
    conn.close()
    return len(postings)


# Owed lines past their bill's due date (every line here has a bill row).
OWED = """
SELECT x.unit_id, x.fee_item, x.period, x.owed, bl.due_date FROM (
    SELECT unit_id, fee_item, period, SUM(amount_fen) AS owed FROM postings
    WHERE estate_id = 1 AND account = 'receivable' AND at <= ?
    GROUP BY unit_id, fee_item, period HAVING owed > 0
) x JOIN bills bl ON bl.unit_id = x.unit_id AND bl.fee_item = x.fee_item
    AND bl.period = x.period
WHERE bl.due_date < ?
"""

HAND = f"""
SELECT b.name, u.number, o.name, o.phones, x.fee_item, group_concat(x.period), SUM(x.owed)
FROM ({OWED}) x
JOIN units u ON u.id = x.unit_id
JOIN buildings b ON b.id = u.building_id
LEFT JOIN ownerships s ON s.unit_id = u.id AND s.start_date <= ?
     AND (s.end_date IS NULL OR s.end_date > ?)
LEFT JOIN owners o ON o.id = s.owner_id
GROUP BY x.unit_id, x.fee_item
ORDER BY SUM(x.owed) DESC
"""


def hand(path: Path) -> tuple[int, tuple[int, ...]]:
    conn = connect(str(path))
    day = AS_OF.date()
    rows = conn.execute(HAND, (ts(AS_OF), day.isoformat(), day.isoformat(), day.isoformat()))
    count = len(rows.fetchall())
    aging: dict[str, int] = defaultdict(int)
    for _unit, _item, _period, owed, due in conn.execute(OWED, (ts(AS_OF), day.isoformat())):
        days = (day - date.fromisoformat(due)).days
        aging[bucket_of(days, DEFAULT_BUCKETS).label] += owed
    conn.close()
    return count, tuple(aging[b.label] for b in DEFAULT_BUCKETS)


def ours(app: Propcare) -> tuple[int, tuple[int, ...]]:
    admin = Actor.system()
    roster = app.arrears.roster(admin, 1, as_of=AS_OF)  # type: ignore[arg-type]
    aging = app.arrears.aging(admin, 1, as_of=AS_OF)  # type: ignore[arg-type]
    return len(roster), tuple(int(a * 100) for _, a in aging)


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
