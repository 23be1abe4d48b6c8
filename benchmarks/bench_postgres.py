"""propcare on PostgreSQL (propcare-postgres) against raw psycopg on the same server, in one run.

Starts its own throwaway PostgreSQL 15 (``propcare_postgres.testing.TemporaryServer``:
loopback, ``fsync=off``) and measures, each against its baseline:

1. Bill run: ``app.billing.run`` for 100,000 units x 3 fee items (property fee by area for
   every unit, a fixed sanitation fee assigned to every unit, parking assigned to every other
   unit: 250,000 lines a period). Untimed set-up: the estate, 10 buildings and 100,000 units
   are copied in raw, the same ids in both databases (``add_units`` took 90 s here); the fee
   items are made with ``app.billing.add_fee_item`` and the 150,000 assignments copied in
   (``app.billing.assign`` is one transaction per space). Baseline: psycopg ``COPY`` of the
   same journal entries, postings and bills (same columns and values, amounts precomputed)
   into a second database migrated by ``Propcare.open``, one transaction per 2,000 units like
   the run. A round bills one period on each side (2026-09, -10, then -11), the side that
   goes first alternating; the ratio is the median of the rounds' raw time / run time (the
   run's throughput as a share of COPY's). After the rounds both databases must hold the
   same rows.
2. Arrears roster over about 1,000,000 postings (the fixture of ``bench_arrears.py``, copied
   in with COPY): ``app.arrears.roster`` against one hand-written query that returns the same
   roster (building, unit, owner, fee item, periods, amount) on the same server; in turns,
   the side that goes first alternating, median of the ratios of 7 rounds, answers checked
   equal in every round.
"""

from __future__ import annotations

import gc
import random
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import propcare_postgres
import psycopg
from propcare_postgres.testing import TemporaryServer
from rounds import alternate

from propcare import Actor, FixedClock, Propcare
from propcare.ledger.arrears import period_start
from propcare.ledger.billing_service import CHUNK
from propcare.storage.sqlite_values import ts

# --- bill run -----------------------------------------------------------------------------

UNITS = 100_000
PER_BUILDING = 10_000
AREA = Decimal("89.57")
PROPERTY_RATE = Decimal("2.50")  # yuan / m2 / month
SANITATION = Decimal("12.00")  # yuan / month, every unit
PARKING = Decimal("300.00")  # yuan / month, every other unit
# A round each (at least 3 for a median; the whole benchmark takes about 5 minutes).
RUN_PERIODS = ("2026-09", "2026-10", "2026-11")
CLOCK = FixedClock(datetime(2026, 11, 2, 1, 0, tzinfo=UTC))
ACTOR = Actor.system()


def _open(url: str, clock: FixedClock | None = None) -> Propcare:
    return Propcare.open(url, plugins=[propcare_postgres], load_entrypoints=False, clock=clock)


def _copy(conn: psycopg.Connection[Any], table: str, columns: str, rows: Iterable[Any]) -> None:
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:  # type: ignore[arg-type]
        for row in rows:
            copy.write_row(row)


def _parked(unit: int) -> bool:
    return unit % 2 == 1


def _registry(url: str) -> None:
    """The estate, 10 buildings and 100,000 units, the same ids in either database."""
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO estates (id, name, timezone) VALUES (1, '基准', 'Asia/Shanghai')")
        _copy(
            conn,
            "buildings",
            "id, estate_id, name",
            [(b, 1, f"{b}栋") for b in range(1, UNITS // PER_BUILDING + 1)],
        )
        _copy(
            conn,
            "units",
            "id, estate_id, building_id, number, floor_area, use, handover_date",
            [
                (u, 1, (u - 1) // PER_BUILDING + 1, str((u - 1) % PER_BUILDING), str(AREA),
                 "residential", "2020-01-01")
                for u in range(1, UNITS + 1)
            ],
        )  # fmt: skip
        _advance_ids(conn, ("estates", "buildings", "units"))


def _advance_ids(conn: psycopg.Connection[Any], tables: Sequence[str]) -> None:
    """Rows copied with their ids leave the identity sequences behind: move them on."""
    for table in tables:
        conn.execute(
            f"SELECT setval(pg_get_serial_sequence(%s, 'id'), (SELECT max(id) FROM {table}))",  # type: ignore[arg-type]
            (table,),
        )


def _setup_propcare(url: str) -> Propcare:
    app = _open(url, CLOCK)
    _registry(url)
    app.billing.add_fee_item(
        ACTOR, 1, "property_fee", "物业费", "area", rates={"residential": PROPERTY_RATE}
    )
    app.billing.add_fee_item(ACTOR, 1, "sanitation_fee", "垃圾清运费", "fixed", amount=SANITATION)
    app.billing.add_fee_item(ACTOR, 1, "parking_fee", "车位费", "fixed", amount=PARKING)
    start = date(2020, 1, 1)
    with psycopg.connect(url) as conn:
        assignments = [(1, u, "sanitation_fee", start) for u in range(1, UNITS + 1)]
        assignments += [(1, u, "parking_fee", start) for u in range(1, UNITS + 1) if _parked(u)]
        _copy(conn, "fee_assignments", "estate_id, unit_id, fee_item, start_date", assignments)
    return app


def _setup_raw(url: str) -> None:
    _open(url).close()  # the migrations: the same schema as propcare's database
    _registry(url)


def _vacuum(url: str) -> None:
    """After a bulk set-up, what autovacuum would otherwise do during the timed rounds."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def _raw_run(url: str, period: str, first_entry: int) -> tuple[float, int]:
    """COPY one period's bills as the run writes them; returns (seconds, lines)."""
    fen = {
        "property_fee": int((AREA * PROPERTY_RATE * 100).quantize(Decimal(1), ROUND_HALF_UP)),
        "sanitation_fee": int(SANITATION * 100),
        "parking_fee": int(PARKING * 100),
    }
    due = (period_start(period).replace(day=16)).isoformat()
    at = ts(CLOCK.now())
    conn = psycopg.connect(url, autocommit=True)
    gc.collect()
    start = time.perf_counter()
    entry = first_entry - 1
    for lo in range(1, UNITS + 1, CHUNK):
        entries, postings, bills = [], [], []
        for unit in range(lo, min(lo + CHUNK, UNITS + 1)):
            items = ("property_fee", "sanitation_fee", "parking_fee")
            for code in items if _parked(unit) else items[:2]:
                entry += 1
                amount = fen[code]
                entries.append((entry, 1, "bill", at, f"bill:{unit}:{code}:{period}", "system", ""))
                postings.append((entry, 1, "receivable", "", unit, code, period, amount, at))
                postings.append((entry, 1, "revenue", code, None, None, None, -amount, at))
                bills.append((1, unit, code, period, amount, due, f"[[null, {amount}]]", entry))
        with conn.transaction():
            _copy(
                conn, "journal_entries", "id, estate_id, kind, at, idem_key, actor, memo", entries
            )
            _copy(
                conn,
                "postings",
                "entry_id, estate_id, account, sub, unit_id, fee_item, period, amount_fen, at",
                postings,
            )
            _copy(
                conn,
                "bills",
                "estate_id, unit_id, fee_item, period, amount_fen, due_date, owner_shares, "
                "entry_id",
                bills,
            )
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed, entry - first_entry + 1


DIGESTS = (
    "SELECT count(*), md5(string_agg(concat_ws('|', id, estate_id, kind, at, idem_key, actor, "
    "memo), ',' ORDER BY id)) FROM journal_entries",
    "SELECT count(*), md5(string_agg(concat_ws('|', entry_id, estate_id, account, sub, unit_id, "
    "fee_item, period, amount_fen, at), ',' ORDER BY entry_id, amount_fen)) FROM postings",
    "SELECT count(*), md5(string_agg(concat_ws('|', estate_id, unit_id, fee_item, period, "
    "amount_fen, due_date, owner_shares, entry_id), ',' ORDER BY entry_id)) FROM bills",
)


def _digests(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return [tuple(conn.execute(q).fetchone() or ()) for q in DIGESTS]  # type: ignore[arg-type]


def bill_run(server: TemporaryServer) -> None:
    started = time.perf_counter()
    ours_url = server.create_database("bill_run")
    raw_url = server.create_database("bill_run_raw")
    app = _setup_propcare(ours_url)
    _setup_raw(raw_url)
    print(
        f"set-up: {UNITS:,} units in each of two databases in {time.perf_counter() - started:.1f} s"
    )
    mine, theirs, ratios = [], [], []
    lines = raw_lines = 0
    for i, period in enumerate(RUN_PERIODS):
        first_entry = i * lines + 1
        if i % 2:  # alternate which side goes first
            base, raw_lines = _raw_run(raw_url, period, first_entry)
        gc.collect()
        t = time.perf_counter()
        report = app.billing.run(ACTOR, 1, period)  # type: ignore[arg-type]
        ours = time.perf_counter() - t
        lines = report.billed_now
        if not i % 2:
            base, raw_lines = _raw_run(raw_url, period, first_entry)
        assert lines == raw_lines, (period, lines, raw_lines)
        mine.append(ours)
        theirs.append(base)
        ratios.append(base / ours)
        print(f"  {period}: propcare {ours:.2f} s, raw COPY {base:.2f} s, ratio {base / ours:.2f}")
    app.close()
    ours_rows, raw_rows = _digests(ours_url), _digests(raw_url)
    if ours_rows != raw_rows:
        raise AssertionError(f"propcare wrote {ours_rows}, raw COPY {raw_rows}")
    m, b = statistics.median(mine), statistics.median(theirs)
    print(f"bill run   propcare {lines / m:10,.0f} lines/s ({m:.2f} s, {lines:,} lines)")
    print(f"           raw COPY {raw_lines / b:10,.0f} lines/s ({b:.2f} s)")
    print(
        f"           ratio {statistics.median(ratios):.2f} = raw time / run time, median of "
        f"{len(ratios)} (rounds {min(ratios):.2f}-{max(ratios):.2f}; goal >= 0.50); "
        f"same rows written: {ours_rows[0][0]:,} entries, {ours_rows[1][0]:,} postings, "
        f"{ours_rows[2][0]:,} bills"
    )


# --- arrears roster -----------------------------------------------------------------------

A_UNITS = 11_000
BUILDINGS = 20
PERIODS = [f"{2024 + (10 + i) // 12}-{(10 + i) % 12 + 1:02d}" for i in range(25)]
SH = ZoneInfo("Asia/Shanghai")
AS_OF = datetime(2026, 11, 28, 12, 0, tzinfo=SH)
ROUNDS = 7


def build_arrears(url: str) -> int:
    """bench_arrears.py's fixture, the same rows, by COPY."""
    _open(url).close()
    rng = random.Random(7)
    entries, postings = [], []
    entry_id = 0
    for u in range(1, A_UNITS + 1):
        habit = rng.random()  # most owners pay, some pay late, a few never
        for period in PERIODS:
            at = ts(datetime.combine(period_start(period), datetime.min.time(), tzinfo=SH))
            entry_id += 1
            entries.append((entry_id, 1, "bill", at, f"b{entry_id}", "bench"))
            postings.append((entry_id, 1, "receivable", "", u, "property_fee", period, 22393, at))
            postings.append((entry_id, 1, "revenue", "property_fee", None, None, None, -22393, at))
            if habit > 0.15 and rng.random() < 0.95:
                entry_id += 1
                entries.append((entry_id, 1, "payment", at, f"p{entry_id}", "bench"))
                postings.append((entry_id, 1, "cash", "", None, None, None, 22393, at))
                postings.append(
                    (entry_id, 1, "receivable", "", u, "property_fee", period, -22393, at)
                )
    with psycopg.connect(url) as conn:
        # Set-up only: no foreign-key or append-only triggers per row (the rows are
        # consistent by construction), which would triple the time of the copy.
        conn.execute("SET session_replication_role = replica")
        conn.execute("INSERT INTO estates (id, name, timezone) VALUES (1, '基准', 'Asia/Shanghai')")
        _copy(
            conn,
            "buildings",
            "id, estate_id, name",
            [(b, 1, f"{b}栋") for b in range(1, BUILDINGS + 1)],
        )
        _copy(
            conn,
            "units",
            "id, estate_id, building_id, number, floor_area, use",
            [
                (u, 1, (u - 1) % BUILDINGS + 1, f"{u}", "89.57", "residential")
                for u in range(1, A_UNITS + 1)
            ],
        )
        _copy(
            conn,
            "owners",
            "id, estate_id, name, phones",
            [(u, 1, f"业主{u}", f'["138{u:08d}"]') for u in range(1, A_UNITS + 1)],
        )
        _copy(
            conn,
            "ownerships",
            "estate_id, unit_id, owner_id, start_date",
            [(1, u, u, "2020-01-01") for u in range(1, A_UNITS + 1)],
        )
        _copy(conn, "journal_entries", "id, estate_id, kind, at, idem_key, actor", entries)
        _copy(
            conn,
            "postings",
            "entry_id, estate_id, account, sub, unit_id, fee_item, period, amount_fen, at",
            postings,
        )
        _advance_ids(
            conn,
            (
                "estates",
                "buildings",
                "units",
                "owners",
                "ownerships",
                "journal_entries",
                "postings",
            ),
        )
    _vacuum(url)
    return len(postings)


HAND = """
SELECT b.name, u.number, COALESCE(o.name, ''), o.phones, x.fee_item,
       string_agg(x.period, ',' ORDER BY x.period), SUM(x.owed)
FROM (
    SELECT unit_id, fee_item, period, SUM(amount_fen) AS owed FROM postings
    WHERE estate_id = 1 AND account = 'receivable' AND at <= %s
    GROUP BY unit_id, fee_item, period HAVING SUM(amount_fen) > 0
) x
JOIN units u ON u.id = x.unit_id
JOIN buildings b ON b.id = u.building_id
LEFT JOIN ownerships s ON s.unit_id = u.id AND s.start_date <= %s
     AND (s.end_date IS NULL OR s.end_date > %s)
LEFT JOIN owners o ON o.id = s.owner_id
GROUP BY x.unit_id, x.fee_item, b.name, u.number, o.name, o.phones
ORDER BY SUM(x.owed) DESC
"""

Line = tuple[str, str, str, str, tuple[str, ...], int]


def hand(conn: psycopg.Connection[Any]) -> list[Line]:
    day = AS_OF.date()
    rows = conn.execute(HAND, (AS_OF, day, day)).fetchall()  # type: ignore[arg-type]
    return [(r[0], r[1], r[2], r[4], tuple(r[5].split(",")), int(r[6])) for r in rows]


def ours(app: Propcare) -> list[Line]:
    roster = app.arrears.roster(ACTOR, 1, as_of=AS_OF)  # type: ignore[arg-type]
    return [
        (ln.building, ln.unit, ln.owner, ln.fee_item, ln.periods, int(ln.amount * 100))
        for ln in roster
    ]


def _same(a: Sequence[Line], b: Sequence[Line]) -> bool:
    return sorted(a) == sorted(b)


def arrears(server: TemporaryServer) -> None:
    url = server.create_database("arrears")
    started = time.perf_counter()
    count = build_arrears(url)
    print(f"fixture: {count:,} postings in {time.perf_counter() - started:.1f} s")
    app = _open(url)
    conn = psycopg.connect(url, autocommit=True)
    got: dict[str, list[Line]] = {}

    def side(name: str, fn: Callable[[], list[Line]]) -> tuple[str, Callable[[], None]]:
        def run() -> None:
            got[name] = fn()

        return name, run

    def before(_round: int, _side: int) -> None:
        if len(got) == 2:  # a new round
            got.clear()
        gc.collect()

    def check(_round: int, _side: int) -> None:
        if len(got) == 2 and not _same(got["propcare"], got["hand"]):
            a, b = got["propcare"], got["hand"]
            raise AssertionError(f"propcare ({len(a)} lines) and the SQL ({len(b)}) disagree")

    rounds = alternate(
        [side("propcare", lambda: ours(app)), side("hand", lambda: hand(conn))],
        ROUNDS,
        setup=before,
        teardown=check,
    )
    conn.close()
    app.close()
    lines = len(got["propcare"])
    print(
        f"arrears roster over {count:,} postings ({lines:,} roster lines): "
        f"propcare {rounds.median(0) * 1000:.0f} ms, hand-written SQL "
        f"{rounds.median(1) * 1000:.0f} ms, ratio {rounds.ratio(0, 1):.2f}x, median of "
        f"{ROUNDS} alternated rounds (rounds {rounds.spread(0, 1)}; goal <= 1.5x)"
    )


def main() -> None:
    started = time.perf_counter()
    with TemporaryServer() as server:
        print(f"server: PostgreSQL on {server.host}:{server.port}, fsync=off")
        bill_run(server)
        arrears(server)
    print(f"whole benchmark: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
