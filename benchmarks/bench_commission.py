"""Settling a month's commission for 50 collectors over 100,000 payments vs one SQL pass.

Fixture (untimed): one estate of 50 buildings x 1,000 units made with
``app.estates.add_units``, an area-based property fee billed through ``app.billing.run``
for 2025-12, 2026-09 and 2026-10 (150,000 bills), 50 staff with the role ``collector``,
each the collector of one building through ``app.collection.assign_collector``, and one
flat plan for the role (1% on the month's own fees and owner credit, 2% on arrears of
the year, 3% on an earlier year's). Then 100,000 payments in October 2026 (Asia/Shanghai),
each unit paying its October bill (one in ten paying 100 yuan more, which becomes owner
credit) and one earlier bill (2026-09, or 2025-12 for one unit in five), counter or
WeChat, written with sqlite3 ``executemany`` as ``app.payments`` writes them (a journal
entry with its postings, the payment notice, its allocations, the receipt and receipt
counter; the outbox event each entry also writes is left out, as nothing here reads
it): 104,972 allocations. The file is copied once per round.

Timed, in 5 rounds, each on its own copy of the file with the clock in November, the three
sides in turn, the side that goes first rotating each round (``rounds.alternate``); the app
and the queries' connection are opened untimed before the round:
- propcare: ``app.commission.settle(actor, estate, "2026-10")``: the one pass over the
  month's allocations, attribution, the plan computing every line, and 50 statements
  with their lines and inputs written;
- one SQL pass: one hand-written query over the same allocations computing each
  collector's commission of the same flat plan (allocations joined with their entries in
  the month, the unit's building collector on the local payment day, the class by the
  bill's period, ``SUM`` of amount x rate ``GROUP BY`` collector, rounded once), fetched;
- tuned pass: the same answer summed per building and local day before joining the
  assignments.

Checks (not timing): every allocation becomes one statement line, and in every round each
collector's total and lines equal both queries'. Prints the medians and the median of the
rounds' ratios settle / one SQL pass (goal at most 1.5) and settle / tuned pass (goal at
most 2), with their spread.
"""

from __future__ import annotations

import gc
import random
import shutil
import sqlite3
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from rounds import alternate

from propcare import Actor, FixedClock, Propcare, UnitSpec
from propcare.commission.service import Settlement
from propcare.registry.model import EstateId
from propcare.storage.sqlite import connect
from propcare.storage.sqlite_values import ts

BUILDINGS = 50  # one collector each
PER_BUILDING = 1_000
PERIOD = "2026-10"
OLD, ARREARS = "2025-12", "2026-09"
RATES = {"current": 1, "arrears": 2, "old_arrears": 3}  # percent; prepayment: current
ROUNDS = 5
SH = ZoneInfo("Asia/Shanghai")
CLOCK = FixedClock(datetime(2026, 11, 2, 1, 0, tzinfo=UTC))
ADMIN = Actor.system()


def _area(i: int) -> Decimal:
    return Decimal(f"{60 + i * 37 % 90}.{i * 13 % 100:02d}")


def _setup(path: Path) -> tuple[EstateId, int, int]:
    """The estate, its bills and collectors through the API; the payments raw.
    Returns (estate id, payments, allocations)."""
    app = Propcare.open(f"sqlite:///{path}", load_entrypoints=False, clock=CLOCK)
    estate = app.estates.create(ADMIN, "提成基准苑")
    buildings = []
    for b in range(BUILDINGS):
        building = app.estates.add_building(ADMIN, estate.id, f"{b + 1}栋")
        buildings.append(building.id)
        app.estates.add_units(
            ADMIN,
            building.id,
            [
                UnitSpec(f"{i + 1:04d}", _area(i), "residential", date(2020, 1, 1))
                for i in range(PER_BUILDING)
            ],
        )
    app.billing.add_fee_item(
        ADMIN, estate.id, "property_fee", "物业费", "area", rates={"residential": "2.50"}
    )
    for period in (OLD, ARREARS, PERIOD):
        first = date.fromisoformat(f"{period}-01")
        app.billing.run(
            ADMIN, estate.id, period, at=datetime.combine(first, datetime.min.time(), SH)
        )
    for n, building_id in enumerate(buildings):
        staff = app.staff.create(
            ADMIN, estate.id, f"收费员{n + 1}", ["collector"], date(2020, 1, 1)
        )
        app.collection.assign_collector(
            ADMIN, estate.id, staff.id, start=date(2026, 1, 1), building_id=building_id
        )
    app.commission.add_plan(
        ADMIN,
        estate.id,
        "收费员提成",
        effective_from=date(2026, 1, 1),
        role="collector",
        params={"rates": {k: str(v) for k, v in RATES.items()}},
    )
    app.close()

    conn = connect(str(path))
    bills = {
        (r[0], r[1]): r[2]
        for r in conn.execute(
            "SELECT unit_id, period, amount_fen FROM bills WHERE estate_id = ?", (estate.id,)
        )
    }
    units = sorted({u for u, _ in bills})
    rng = random.Random(20261031)
    month = datetime(2026, 10, 1, tzinfo=SH)
    payments = []  # (at, unit, period, bill fen, credit fen)
    for unit in units:
        earlier = OLD if unit % 5 == 0 else ARREARS
        for period, extra in ((PERIOD, 10_000 if rng.random() < 0.1 else 0), (earlier, 0)):
            paid = month + timedelta(
                days=rng.randrange(31),
                hours=rng.randrange(8, 21),
                seconds=rng.randrange(3600),
                microseconds=rng.randrange(1_000_000),
            )
            payments.append((paid, unit, period, bills[(unit, period)], extra))
    payments.sort()
    entry = conn.execute("SELECT MAX(id) FROM journal_entries").fetchone()[0]
    entries: list[tuple[object, ...]] = []
    postings: list[tuple[object, ...]] = []
    notices: list[tuple[object, ...]] = []
    allocations: list[tuple[object, ...]] = []
    receipts: list[tuple[object, ...]] = []
    for pid, (when, unit, period, fen, extra) in enumerate(payments, start=1):
        entry += 1
        at = ts(when)
        txn = f"{pid:08d}{rng.getrandbits(64):016x}"
        if pid % 5 < 3:
            provider, method, account, sub = "wechat", "jsapi", "gateway", "wechat"
        else:
            provider, method = "counter", "cash" if pid % 5 == 3 else "pos"
            account, sub = ("cash" if method == "cash" else "bank"), ""
        total = fen + extra
        entries.append(
            (entry, estate.id, at, f"payment:{provider}:{txn}", f"{provider} {method} {txn}")
        )
        postings.append((entry, estate.id, account, sub, None, None, None, total, at))
        postings.append(
            (entry, estate.id, "receivable", "", unit, "property_fee", period, -fen, at)
        )
        allocations.append((pid, entry, unit, "property_fee", period, fen))
        if extra:
            postings.append((entry, estate.id, "owner_credit", "", unit, None, None, -extra, at))
            allocations.append((pid, entry, unit, "", "", extra))
        notices.append((pid, estate.id, provider, txn, total, unit, method, at, entry, pid))
        receipts.append((estate.id, pid, entry, at))
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO journal_entries (id, estate_id, kind, at, idem_key, actor, memo) "
        "VALUES (?, ?, 'payment', ?, ?, 'bench', ?)",
        entries,
    )
    conn.executemany(
        "INSERT INTO postings (entry_id, estate_id, account, sub, unit_id, fee_item, period, "
        "amount_fen, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        postings,
    )
    conn.executemany(
        "INSERT INTO payment_notices (id, estate_id, provider, provider_txn_id, amount_fen, "
        "unit_id, method, paid_at, entry_id, status, receipt_year, receipt_number) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'posted', 2026, ?)",
        notices,
    )
    conn.executemany(
        "INSERT INTO payment_allocations (payment_id, entry_id, unit_id, fee_item, period, "
        "amount_fen) VALUES (?, ?, ?, ?, ?, ?)",
        allocations,
    )
    conn.executemany(
        "INSERT INTO receipts (estate_id, year, number, entry_id, issued_at) "
        "VALUES (?, 2026, ?, ?, ?)",
        receipts,
    )
    conn.execute(
        "INSERT INTO receipt_counters (estate_id, year, last_number) VALUES (?, 2026, ?)",
        (estate.id, len(payments)),
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return estate.id, len(payments), len(allocations)


# The commission of the flat plan per collector, in one pass: each line's fen x percent
# rounded half up to the fen, as propcare rounds each line, (x + 50) / 100 in integers
# (the amounts are positive), and summed per collector.
PERCENT = """a.amount_fen * CASE
    WHEN a.period = '' OR a.period >= :period THEN :current
    WHEN substr(a.period, 1, 4) = :year THEN :arrears
    ELSE :old_arrears END"""
QUERY = f"""
SELECT c.staff_id, SUM(({PERCENT} + 50) / 100), COUNT(*)
FROM journal_entries e
JOIN payment_allocations a ON a.entry_id = e.id
JOIN units u ON u.id = a.unit_id
JOIN collector_assignments c ON c.estate_id = e.estate_id AND c.building_id = u.building_id
     AND c.start_date <= date(e.at, :offset)
     AND (c.end_date IS NULL OR c.end_date >= date(e.at, :offset))
WHERE e.estate_id = :estate AND e.at >= :start AND e.at < :end
GROUP BY c.staff_id
"""
# For reference, the same answer tuned: the allocations summed per building and local day
# first, and only those sums joined with the collectors' assignments.
GROUPED = f"""
SELECT c.staff_id, SUM(x.commission_fen), SUM(x.lines)
FROM (
    SELECT u.building_id, date(e.at, :offset) AS day, SUM(({PERCENT} + 50) / 100) AS commission_fen,
           COUNT(*) AS lines
    FROM journal_entries e
    JOIN payment_allocations a ON a.entry_id = e.id
    JOIN units u ON u.id = a.unit_id
    WHERE e.estate_id = :estate AND e.at >= :start AND e.at < :end
    GROUP BY 1, 2
) x
JOIN collector_assignments c ON c.estate_id = :estate AND c.building_id = x.building_id
     AND c.start_date <= x.day AND (c.end_date IS NULL OR c.end_date >= x.day)
GROUP BY c.staff_id
"""


def _params(estate: EstateId) -> dict[str, object]:
    start = datetime(2026, 10, 1, tzinfo=SH)
    hours = int((start.utcoffset() or timedelta()).total_seconds() // 3600)
    return {
        "period": PERIOD,
        "year": PERIOD[:4],
        **RATES,
        "offset": f"{hours:+d} hours",
        "estate": estate,
        "start": ts(start),
        "end": ts(datetime(2026, 11, 1, tzinfo=SH)),
    }


class Bench:
    """The three sides on one copy of the fixture per round: the copy, the app and the
    queries' connection are opened untimed before the round's first side, and closed
    after its last."""

    def __init__(self, tmp: Path, fixture: Path, estate: EstateId) -> None:
        self.tmp, self.fixture, self.estate = tmp, fixture, estate
        self.params = _params(estate)
        self.app: Propcare | None = None
        self.conn: sqlite3.Connection | None = None
        self.done = 0  # sides timed this round
        self.settlement: Settlement | None = None
        self.got: list[dict[int, tuple[int, int]]] = []  # settle's answer per round
        self.answers: dict[str, list[dict[int, tuple[int, int]]]] = {QUERY: [], GROUPED: []}

    def setup(self, r: int, _side: int) -> None:
        if self.done == 0:
            copy = self.tmp / f"round-{r}.db"
            shutil.copyfile(self.fixture, copy)
            self.app = Propcare.open(f"sqlite:///{copy}", load_entrypoints=False, clock=CLOCK)
            self.conn = connect(str(copy))
        gc.collect()

    def teardown(self, r: int, _side: int) -> None:
        self.done += 1
        if self.done < 3:
            return
        self.done = 0
        self.check()
        assert self.app is not None and self.conn is not None
        self.app.close()
        self.conn.close()
        self.app = self.conn = None
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.tmp / f'round-{r}.db'}{suffix}").unlink(missing_ok=True)

    def settle(self) -> None:
        assert self.app is not None
        # Kept until the round's teardown: freeing it is not part of settling.
        self.settlement = self.app.commission.settle(ADMIN, self.estate, PERIOD)

    def check(self) -> None:
        settlement, self.settlement = self.settlement, None
        assert settlement is not None
        if any(line.kind != "collection" for s in settlement.statements for line in s.lines):
            raise AssertionError("a flat plan pays collection lines only")
        if any(settlement.uncommissioned.values()):
            raise AssertionError(f"uncommissioned money: {settlement.uncommissioned}")
        self.got.append({s.staff_id: (s.total_fen, len(s.lines)) for s in settlement.statements})

    def ask(self, sql: str) -> None:
        """The query, fetched: staff -> (fen, lines)."""
        assert self.conn is not None
        rows = self.conn.execute(sql, self.params).fetchall()
        self.answers[sql].append({int(r[0]): (int(r[1]), int(r[2])) for r in rows})


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        fixture = tmp / "fixture.db"
        started = time.perf_counter()
        estate, payments, allocations = _setup(fixture)
        print(
            f"fixture: {payments:,} payments, {allocations:,} allocations "
            f"in {time.perf_counter() - started:.1f} s"
        )
        bench = Bench(tmp, fixture, estate)
        rounds = alternate(
            [
                ("settle", bench.settle),
                ("query", lambda: bench.ask(QUERY)),
                ("tuned", lambda: bench.ask(GROUPED)),
            ],
            ROUNDS,
            setup=bench.setup,
            teardown=bench.teardown,
        )
    for sql, answers in bench.answers.items():
        for got, answer in zip(bench.got, answers, strict=True):
            if got != answer:
                raise AssertionError(f"propcare {got} and the query {answer} disagree:\n{sql}")
    totals = bench.got[0]
    lines = sum(n for _, n in totals.values())
    assert lines == allocations, (lines, allocations)
    ours, base, tuned = rounds.median(0), rounds.median(1), rounds.median(2)
    print(
        f"settle {PERIOD}, {len(totals)} collectors, {payments:,} payments: {lines:,} statement "
        f"lines, commission {Decimal(sum(fen for fen, _ in totals.values())) / 100:,.2f}"
    )
    print(
        f"           propcare settle {ours * 1000:,.0f} ms, one SQL pass {base * 1000:,.0f} ms, "
        f"tuned pass {tuned * 1000:,.0f} ms (medians of {ROUNDS} alternated rounds)"
    )
    print(
        f"           settle / one SQL pass {rounds.ratio(0, 1):.2f}x (goal <= 1.5; rounds "
        f"{rounds.spread(0, 1)})"
    )
    print(
        f"           settle / tuned pass   {rounds.ratio(0, 2):.2f}x (goal <= 2.0; rounds "
        f"{rounds.spread(0, 2)})"
    )


if __name__ == "__main__":
    main()
