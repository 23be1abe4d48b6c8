"""Arrears roster and aging over about 990,000 postings vs hand-written SQL, in one run.

Fixture (raw inserts, built fast): one estate, 11,000 units in 20 buildings with owners,
25 monthly property-fee bills per unit (2024-11..2026-11), each with its bill row and due
date (the 16th of its month), and a payment for most of them. Timed with
``rounds.alternate`` (the side that goes first changes every round; the median of 5
rounds' ratios, with their spread): ``app.arrears.roster`` + ``app.arrears.aging`` (what
is past due: as of 2026-11-10, November's bills are not due yet) against the hand-written
roster query of ``bench_roster.py`` (every field of every line, sorted as propcare sorts)
and one query summing what is owed by due date, put in aging buckets by days past due,
on one connection opened once. Every round compares the two in full: each field of each
roster line, in order, and every aging bucket.
"""

from __future__ import annotations

import gc
import random
import tempfile
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench_roster import from_hand, from_propcare, hand_sql, same
from rounds import alternate

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


# What is owed at the cut-off by due date (a bill's, else the local day first charged).
OWED_BY_DUE = """
SELECT COALESCE(bl.due_date, date(x.first_at, '+8 hours')), SUM(x.fen) FROM (
    SELECT unit_id, fee_item, period, SUM(amount_fen) AS fen, MIN(at) AS first_at
    FROM postings WHERE estate_id = 1 AND account = 'receivable' AND at <= ?
    GROUP BY unit_id, fee_item, period HAVING SUM(amount_fen) > 0
) x LEFT JOIN bills bl ON bl.unit_id = x.unit_id AND bl.fee_item = x.fee_item
    AND bl.period = x.period
GROUP BY 1
"""


def hand(conn: Any) -> tuple[list[Any], list[tuple[str, int]]]:
    """The roster (every field, by the hand query) and aging (owed by due date, bucketed
    by days past due), on the benchmark's one connection."""
    day = AS_OF.date()
    roster = conn.execute(hand_sql(), {"as_of": ts(AS_OF), "day": day.isoformat()}).fetchall()
    aging = {b.label: 0 for b in DEFAULT_BUCKETS}
    for due, fen in conn.execute(OWED_BY_DUE, (ts(AS_OF),)):
        days = (day - date.fromisoformat(due)).days
        if days > 0:
            aging[bucket_of(days, DEFAULT_BUCKETS).label] += fen
    return roster, list(aging.items())


def ours(app: Propcare) -> tuple[list[Any], list[tuple[str, Any]]]:
    admin = Actor.system()
    roster = app.arrears.roster(admin, 1, as_of=AS_OF)  # type: ignore[arg-type]
    aging = app.arrears.aging(admin, 1, as_of=AS_OF)  # type: ignore[arg-type]
    return roster, aging


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "arrears.db"
        started = time.perf_counter()
        count = build(path)
        print(f"fixture: {count:,} postings in {time.perf_counter() - started:.1f} s")
        app = Propcare.open(f"sqlite:///{path}", load_entrypoints=False)
        conn = connect(str(path))  # the hand side's one connection, as the app has its one
        conn.row_factory = None
        got: dict[int, Any] = {}

        def check(_round: int, side: int) -> None:
            if 0 in got and 1 in got:
                (mine, my_aging), (theirs, their_aging) = got.pop(0), got.pop(1)
                same(from_propcare(mine), from_hand(theirs), "the roster")
                fen = [(label, int(amount * 100)) for label, amount in my_aging]
                if fen != their_aging:
                    raise AssertionError(f"aging: propcare {fen}, the SQL {their_aging}")
                got["lines"] = len(mine)

        rounds = alternate(
            [("propcare", lambda: got.__setitem__(0, ours(app))),
             ("hand SQL", lambda: got.__setitem__(1, hand(conn)))],
            ROUNDS, teardown=check,
        )  # fmt: skip
        conn.close()
        app.close()
        print(
            f"arrears roster + aging over {count:,} postings ({got['lines']:,} roster lines): "
            f"propcare {rounds.median(0) * 1000:.0f} ms, hand-written SQL "
            f"{rounds.median(1) * 1000:.0f} ms, ratio {rounds.ratio():.2f}x "
            f"(rounds {rounds.spread()}; goal <= 1.3x)"
        )


if __name__ == "__main__":
    main()
