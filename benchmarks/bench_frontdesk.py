"""Front-desk latency on a 100,000-unit database with about 1.8 M postings, each call
beside the same reads and writes in hand-written SQL (raw sqlite3).

Fixture (built once and kept under ``/tmp/propcare-bench``, ``PROPCARE_BENCH_CACHE``,
keyed by ``FIXTURE_VERSION``): one estate of 100,000 units in 100 buildings of 1,000, an
owner for every unit, a collector for every building (``assign_collector``), ten
front-desk clerks and ten technicians (through the API); five monthly property-fee bills
a unit (2026-07..2026-11, due the 16th) with their bill rows, four in five paid (raw
``executemany``, as ``bench_arrears.py``: entries and postings, no payment notices); and
100,000 closed tickets of the months before (``import_history``). Each run works on a
fresh copy of the file.

Timed, one call at a time as the front desk makes them, propcare and its hand-SQL twin
interleaved (each pair in turn, the side that goes first alternating), after a warm-up:

- **open ticket**: ``app.tickets.open`` (an in-home repair at a unit) against raw
  ``BEGIN IMMEDIATE``, the unit's and the clerk's look-ups and the rows propcare wrote
  (ticket, its open event, the outbox event) inserted again, ``COMMIT``;
- **counter payment**: ``app.payments.pay_at_counter`` of one month's fee against the raw
  payment of ``bench_payments.py`` (open receivables read, allocation, entry, postings,
  outbox, receipt number and receipt, notice and allocations) in one transaction;
- **unit balance** and **open receivables** (a unit's statement at the counter:
  ``app.ledger.unit_balance``, ``app.ledger.open_receivables``) against one query each;
- **building roster**: ``app.arrears.roster(building_id=...)`` of a random building
  (the same for both sides) as of 20 November against one hand-written query for that
  building returning the same lines (owner, phones, periods, amount, collector, the last
  dunning attempt); the line counts must agree.

Prints p50 and p99 of each side and the ratio of the p50s: the median of the ratios of
three blocks of the samples (``rounds.Rounds``), with their spread. The building roster
takes fewer samples (it is the slow one): its p99 is their maximum.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rounds import Rounds

from propcare import Actor, Propcare
from propcare.ledger.arrears import period_start
from propcare.registry.model import EstateId, UnitId
from propcare.storage.sqlite import connect, ts
from propcare.tickets.model import Action, TicketEvent

FIXTURE_VERSION = 1
CACHE = Path(os.environ.get("PROPCARE_BENCH_CACHE", "/tmp/propcare-bench"))
SH = ZoneInfo("Asia/Shanghai")
ESTATE = EstateId(1)
UNITS = 100_000
BUILDINGS = 100
PER_BUILDING = UNITS // BUILDINGS
PERIODS = ("2026-07", "2026-08", "2026-09", "2026-10", "2026-11")
FEE = 22393  # fen a month: 89.57 m2 x 2.50
CLERKS = TECHS = 10
HISTORY = 100_000  # closed tickets of the months before
AS_OF = datetime(2026, 11, 20, 12, 0, tzinfo=SH)  # November is past due (the 16th)
AT = datetime(2026, 11, 20, 9, 0, tzinfo=SH)  # when the timed calls happen
SAMPLES = 1000  # calls a side, for each of the quick calls
ROSTER_SAMPLES = 51
BLOCKS = 3
WARM_UP = 20
ADMIN = Actor.system()


def _pays(unit: int, period: str) -> bool:
    """Four in five bills are paid; the units that never pay owe all five months."""
    return unit % 10 != 0 and (unit + int(period[5:])) % 8 != 0


# --- the fixture --------------------------------------------------------------------------


def fixture() -> Path:
    """The cached fixture file of this version, built first if it is not there yet."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"frontdesk-v{FIXTURE_VERSION}.db"
    if not path.exists():
        partial = path.with_name(path.name + ".partial")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{partial}{suffix}").unlink(missing_ok=True)
        started = time.perf_counter()
        build(partial)
        conn = connect(str(partial))
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        os.replace(partial, path)
        print(f"fixture {path} built in {time.perf_counter() - started:.0f} s")
    return path


def build(path: Path) -> None:
    with Propcare.open(f"sqlite:///{path}", load_entrypoints=False) as app:
        estate = app.estates.create(ADMIN, "前台基准")
        assert estate.id == ESTATE, estate.id
        for b in range(1, BUILDINGS + 1):
            app.estates.add_building(ADMIN, estate.id, f"{b}栋")
        hired = date(2020, 1, 1)
        clerks = [
            app.staff.create(ADMIN, estate.id, f"客服{i}", ["front_desk"], hired).id
            for i in range(CLERKS)
        ]
        techs = [
            app.staff.create(ADMIN, estate.id, f"师傅{i}", ["technician"], hired).id
            for i in range(TECHS)
        ]
        for b in range(1, BUILDINGS + 1):
            collector = app.staff.create(ADMIN, estate.id, f"收费员{b}", ["collector"], hired)
            app.collection.assign_collector(
                ADMIN, estate.id, collector.id, start=hired, building_id=b
            )
        app.billing.add_fee_item(
            ADMIN, estate.id, "property_fee", "物业费", "area", rates={"residential": "2.50"}
        )
    _ledger(path)
    with Propcare.open(f"sqlite:///{path}", load_entrypoints=False) as app:
        app.tickets.import_history(ADMIN, ESTATE, _history(clerks, techs))


def _ledger(path: Path) -> None:
    """Units, owners and five months of bills and payments, by executemany."""
    conn = connect(str(path))
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO units (id, estate_id, building_id, number, floor_area, use, handover_date) "
        "VALUES (?, 1, ?, ?, '89.57', 'residential', '2020-01-01')",
        [
            (u, (u - 1) // PER_BUILDING + 1, f"{(u - 1) // PER_BUILDING + 1}-{u:06d}")
            for u in range(1, UNITS + 1)
        ],
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
    entry = 0
    for period in PERIODS:
        billed = ts(datetime.combine(period_start(period), datetime.min.time(), tzinfo=SH))
        paid = ts(datetime.combine(period_start(period).replace(day=10), datetime.min.time(), SH))
        due = period_start(period).replace(day=16).isoformat()
        entries, postings, bills = [], [], []
        for u in range(1, UNITS + 1):
            entry += 1
            entries.append((entry, "bill", billed, f"bill:{u}:property_fee:{period}"))
            postings.append((entry, "receivable", "", u, "property_fee", period, FEE, billed))
            postings.append((entry, "revenue", "property_fee", None, None, None, -FEE, billed))
            bills.append((u, period, due, f"[[{u}, {FEE}]]", entry))
            if _pays(u, period):
                entry += 1
                entries.append((entry, "payment", paid, f"payment:1:counter::fx-{entry}"))
                postings.append((entry, "cash", "", None, None, None, FEE, paid))
                postings.append((entry, "receivable", "", u, "property_fee", period, -FEE, paid))
        conn.executemany(
            "INSERT INTO journal_entries (id, estate_id, kind, at, idem_key, actor) "
            "VALUES (?, 1, ?, ?, ?, 'bench')",
            entries,
        )
        conn.executemany(
            "INSERT INTO postings (entry_id, estate_id, account, sub, unit_id, fee_item, "
            "period, amount_fen, at) VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?)",
            postings,
        )
        conn.executemany(
            "INSERT INTO bills (estate_id, unit_id, fee_item, period, amount_fen, due_date, "
            "owner_shares, entry_id) VALUES (1, ?, 'property_fee', ?, 22393, ?, ?, ?)",
            bills,
        )
    conn.execute("COMMIT")
    conn.close()


def _history(clerks: list[int], techs: list[int]) -> Iterator[list[TicketEvent]]:
    """Closed in-home repairs of the months before November (five events each)."""
    rng = random.Random(17)
    start = datetime(2026, 6, 1, 8, 0, tzinfo=SH)
    step = timedelta(days=150) / HISTORY
    for i in range(HISTORY):
        at = start + step * i
        clerk, tech = rng.choice(clerks), rng.choice(techs)
        data = {
            "category": "home_repair", "channel": "phone", "priority": "normal",
            "summary": "厨房水龙头漏水", "unit_id": rng.randint(1, UNITS), "location": "",
            "reporter_owner_id": None, "reporter_name": "", "estate_id": ESTATE,
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


# --- the calls, each with its hand-SQL twin -----------------------------------------------


class Desk:
    """The app and a raw connection on the same copy of the fixture."""

    def __init__(self, path: Path) -> None:
        self.app = Propcare.open(f"sqlite:///{path}", load_entrypoints=False)
        self.raw = connect(str(path))
        self.clerk = self.raw.execute(
            "SELECT id FROM staff WHERE roles LIKE '%front_desk%' ORDER BY id LIMIT 1"
        ).fetchone()[0]
        self.desk = Actor("客服0", {"front_desk"}, {ESTATE}, staff_id=self.clerk)
        self.rng = random.Random(2026)
        self.n = 0
        self.template: tuple[Any, ...] = ()

    def close(self) -> None:
        self.app.close()
        self.raw.close()

    def _next(self) -> tuple[int, datetime]:
        self.n += 1
        return self.rng.randint(1, UNITS), AT + timedelta(seconds=self.n)

    # open ticket --------------------------------------------------------------------------

    def open_ticket(self) -> Callable[[], object]:
        unit, at = self._next()
        return lambda: self.app.tickets.open(
            self.desk, ESTATE, category="home_repair", channel="phone", summary="卫生间漏水",
            unit_id=unit, first_contact_staff_id=self.clerk, at=at,
        )  # fmt: skip

    def learn_ticket(self) -> None:
        """The rows one propcare open wrote: what the raw open inserts again."""
        ticket = self.open_ticket()()
        tid = ticket.id  # type: ignore[attr-defined]
        row = self.raw.execute("SELECT * FROM tickets WHERE id = ?", (tid,)).fetchone()
        event = self.raw.execute("SELECT * FROM ticket_events WHERE ticket_id = ?", (tid,))
        outbox = self.raw.execute(
            "SELECT * FROM outbox WHERE topic = 'ticket.changed' ORDER BY id DESC LIMIT 1"
        )
        self.template = (row, event.fetchone(), outbox.fetchone())

    def raw_open(self) -> Callable[[], object]:
        unit, at = self._next()
        row, event, outbox = self.template
        when = ts(at)

        def call() -> None:
            c = self.raw
            c.execute("BEGIN IMMEDIATE")
            if c.execute("SELECT estate_id FROM units WHERE id = ?", (unit,)).fetchone() is None:
                raise AssertionError(unit)
            c.execute("SELECT estate_id, roles, active_to FROM staff WHERE id = ?", (self.clerk,))
            marks = ", ".join("?" * len(row))
            tid = c.execute(
                f"INSERT INTO tickets VALUES ({marks})", (None, *row[1:6], unit, *row[7:])
            ).lastrowid
            c.execute(
                "INSERT INTO ticket_events VALUES (?, ?, ?, ?, ?, ?, ?)",
                (tid, *event[1:3], when, *event[4:]),
            )
            c.execute(
                "INSERT INTO outbox VALUES (?, ?, ?, ?, ?, ?, ?)",
                (None, *outbox[1:5], f"ticket.changed:{uuid.uuid4().hex}", when),
            )
            c.execute("COMMIT")

        return call

    # counter payment ----------------------------------------------------------------------

    def pay(self) -> Callable[[], object]:
        unit, at = self._next()
        return lambda: self.app.payments.pay_at_counter(
            self.desk, UnitId(unit), Decimal("223.93"), "cash", at=at
        )

    def raw_pay(self) -> Callable[[], object]:
        unit, at = self._next()
        return lambda: _raw_payment(self.raw, unit, FEE, ts(at))

    # a unit's statement -------------------------------------------------------------------

    def balance(self) -> Callable[[], object]:
        unit, _ = self._next()
        return lambda: self.app.ledger.unit_balance(self.desk, UnitId(unit))

    def raw_balance(self) -> Callable[[], object]:
        unit, _ = self._next()
        return lambda: self.raw.execute(
            "SELECT COALESCE(SUM(amount_fen), 0) FROM postings WHERE estate_id = 1 "
            "AND account IN ('receivable', 'owner_credit') AND unit_id = ?",
            (unit,),
        ).fetchone()

    def receivables(self) -> Callable[[], object]:
        unit, _ = self._next()
        return lambda: self.app.ledger.open_receivables(self.desk, UnitId(unit))

    def raw_receivables(self) -> Callable[[], object]:
        unit, _ = self._next()
        return lambda: self.raw.execute(
            "SELECT fee_item, period, SUM(amount_fen) FROM postings WHERE unit_id = ? "
            "AND account = 'receivable' GROUP BY fee_item, period HAVING SUM(amount_fen) <> 0 "
            "ORDER BY period, fee_item",
            (unit,),
        ).fetchall()


def _raw_payment(c: sqlite3.Connection, unit: int, fen: int, at: str) -> None:
    """One counter payment by hand (bench_payments.py's): open receivables oldest first,
    the entry and its postings, the outbox event, the receipt, notice and allocations."""
    c.execute("BEGIN IMMEDIATE")
    c.execute("SELECT estate_id FROM units WHERE id = ?", (unit,)).fetchone()
    owed = c.execute(
        "SELECT fee_item, period, SUM(amount_fen) AS owed FROM postings "
        "WHERE unit_id = ? AND account = 'receivable' GROUP BY fee_item, period "
        "HAVING owed <> 0 ORDER BY period, fee_item",
        (unit,),
    ).fetchall()
    left, lines = fen, []
    for item, period, amount in owed:
        if left == 0:
            break
        take = min(amount, left)
        lines.append((item, period, take))
        left -= take
    txn = uuid.uuid4().hex
    entry = c.execute(
        "INSERT INTO journal_entries (estate_id, kind, at, idem_key, actor, memo) "
        "VALUES (1, 'payment', ?, ?, '客服0', 'counter cash')",
        (at, f"payment:1:counter::{txn}"),
    ).lastrowid
    postings: list[tuple[object, ...]] = [(entry, "cash", "", None, None, None, fen, at)]
    postings += [(entry, "receivable", "", unit, i, p, -f, at) for i, p, f in lines]
    if left:
        postings.append((entry, "owner_credit", "", unit, None, None, -left, at))
    c.executemany(
        "INSERT INTO postings (entry_id, estate_id, account, sub, unit_id, fee_item, period, "
        "amount_fen, at) VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?)",
        postings,
    )
    c.execute(
        "INSERT INTO outbox (estate_id, kind, topic, payload, idem_key, created_at) "
        "VALUES (1, 'event', 'ledger.entry_posted', ?, ?, ?)",
        (f'{{"entry_id": {entry}}}', f"ledger:payment:1:counter::{txn}", at),
    )
    number = c.execute(
        "INSERT INTO receipt_counters (estate_id, year, last_number) VALUES (1, 2026, 1) "
        "ON CONFLICT (estate_id, year) DO UPDATE SET last_number = last_number + 1 "
        "RETURNING last_number"
    ).fetchone()[0]
    c.execute(
        "INSERT INTO receipts (estate_id, year, number, entry_id, issued_at) "
        "VALUES (1, 2026, ?, ?, ?)",
        (number, entry, at),
    )
    payment = c.execute(
        "INSERT INTO payment_notices (estate_id, provider, provider_txn_id, amount_fen, "
        "unit_id, method, paid_at, entry_id, status, receipt_year, receipt_number) "
        "VALUES (1, 'counter', ?, ?, ?, 'cash', ?, ?, 'posted', 2026, ?)",
        (txn, fen, unit, at, entry, number),
    ).lastrowid
    allocs = [(payment, entry, unit, i, p, f) for i, p, f in lines]
    if left:
        allocs.append((payment, entry, unit, "", "", left))
    c.executemany(
        "INSERT INTO payment_allocations (payment_id, entry_id, unit_id, fee_item, period, "
        "amount_fen) VALUES (?, ?, ?, ?, ?, ?)",
        allocs,
    )
    c.execute("COMMIT")


# One building's roster as of a day: owed lines past their bill's due date, one line per
# (unit, fee item) with the owner, phones, periods and amount, the building's collector on
# the day and the unit's last dunning attempt (what app.arrears.roster shows).
HAND_ROSTER = """
SELECT b.name, u.number, o.name, o.phones, x.fee_item, group_concat(x.period), SUM(x.owed),
       (SELECT a.staff_id FROM collector_assignments a WHERE a.estate_id = 1
        AND (a.unit_id = u.id OR (a.unit_id IS NULL AND a.building_id = u.building_id))
        AND a.start_date <= :day AND (a.end_date IS NULL OR a.end_date >= :day)
        ORDER BY a.unit_id IS NULL, a.start_date DESC, a.id DESC LIMIT 1),
       (SELECT d.at || ' ' || d.method || ' ' || d.outcome FROM dunning_attempts d
        WHERE d.estate_id = 1 AND d.unit_id = u.id AND d.at <= :at
        ORDER BY d.at DESC, d.id DESC LIMIT 1)
FROM (
    SELECT p.unit_id, p.fee_item, p.period, SUM(p.amount_fen) AS owed FROM postings p
    WHERE p.estate_id = 1 AND p.account = 'receivable' AND p.at <= :at
      AND p.unit_id IN (SELECT id FROM units WHERE estate_id = 1 AND building_id = :building)
    GROUP BY p.unit_id, p.fee_item, p.period HAVING owed > 0
) x
JOIN bills bl ON bl.unit_id = x.unit_id AND bl.fee_item = x.fee_item AND bl.period = x.period
JOIN units u ON u.id = x.unit_id
JOIN buildings b ON b.id = u.building_id
LEFT JOIN ownerships s ON s.unit_id = u.id AND s.start_date <= :day
     AND (s.end_date IS NULL OR s.end_date > :day)
LEFT JOIN owners o ON o.id = s.owner_id
WHERE bl.due_date < :day
GROUP BY x.unit_id, x.fee_item
ORDER BY SUM(x.owed) DESC, b.name, u.number, x.fee_item
"""


# --- timing -------------------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def interleave(
    make: tuple[Callable[[], Callable[[], object]], Callable[[], Callable[[], object]]],
    samples: int,
    check: Callable[[object, object], None] | None = None,
) -> tuple[list[float], list[float]]:
    """``samples`` calls a side, one pair at a time, the side that goes first alternating;
    each call prepared (its unit drawn) untimed. Returns the seconds of each call."""
    times: tuple[list[float], list[float]] = ([], [])
    for i in range(samples):
        calls = (make[0](), make[1]())
        answers: list[object] = [None, None]
        for side in (i % 2, 1 - i % 2):
            started = time.perf_counter()
            answers[side] = calls[side]()
            times[side].append(time.perf_counter() - started)
        if check is not None:
            check(*answers)
    return times


def report(name: str, times: tuple[list[float], list[float]]) -> dict[str, Any]:
    ours, hand = times
    size = len(ours) // BLOCKS
    blocks = Rounds(
        ("propcare", "hand"),
        tuple(
            tuple(statistics.median(side[b * size : (b + 1) * size]) for b in range(BLOCKS))
            for side in (ours, hand)
        ),
    )
    row = {
        "name": name,
        "samples": len(ours),
        "p50": statistics.median(ours) * 1000,
        "p99": _pct(ours, 0.99) * 1000,
        "hand_p50": statistics.median(hand) * 1000,
        "hand_p99": _pct(hand, 0.99) * 1000,
        "ratio": blocks.ratio(0, 1),
        "spread": blocks.spread(0, 1),
    }
    print(
        f"{name:<18} propcare p50 {row['p50']:8.2f} ms  p99 {row['p99']:8.2f} ms | hand SQL p50 "
        f"{row['hand_p50']:7.2f} ms  p99 {row['hand_p99']:7.2f} ms | ratio {row['ratio']:.2f}x "
        f"(blocks {row['spread']}; {row['samples']} calls a side)",
        flush=True,
    )
    return row


def main() -> None:
    logging.getLogger("propcare.app").setLevel(logging.ERROR)
    load = os.getloadavg()
    print(f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    source = fixture()
    with tempfile.TemporaryDirectory(prefix="propcare-frontdesk-", dir="/tmp") as d:
        path = Path(d) / "frontdesk.db"
        shutil.copyfile(source, path)
        desk = Desk(path)
        postings = desk.raw.execute("SELECT COUNT(*) FROM postings").fetchone()[0]
        print(
            f"{UNITS:,} units, {postings:,} postings, {path.stat().st_size / 2**20:,.0f} MB "
            f"(fixture {source})"
        )
        desk.learn_ticket()
        pairs = {
            "open ticket": (desk.open_ticket, desk.raw_open),
            "counter payment": (desk.pay, desk.raw_pay),
            "unit balance": (desk.balance, desk.raw_balance),
            "open receivables": (desk.receivables, desk.raw_receivables),
        }
        rows = []
        for name, make in pairs.items():
            interleave(make, WARM_UP)
            rows.append(report(name, interleave(make, SAMPLES)))
        rows.append(report("building roster", _rosters(desk)))
        desk.close()
    print()
    print("| call | propcare p50 ms | p99 ms | hand SQL p50 ms | p99 ms | ratio (p50) |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['name']} | {r['p50']:.2f} | {r['p99']:.2f} | {r['hand_p50']:.2f} "
            f"| {r['hand_p99']:.2f} | {r['ratio']:.2f}x ({r['spread']}) |"
        )
    load = os.getloadavg()
    print(f"load after {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def _rosters(desk: Desk) -> tuple[list[float], list[float]]:
    buildings = random.Random(37)
    day = AS_OF.date().isoformat()
    chosen: list[int] = []

    def ours() -> Callable[[], object]:
        chosen.append(buildings.randint(1, BUILDINGS))
        b = chosen[-1]
        return lambda: desk.app.arrears.roster(desk.desk, ESTATE, as_of=AS_OF, building_id=b)

    def hand() -> Callable[[], object]:
        b = chosen[-1]
        params = {"at": ts(AS_OF), "day": day, "building": b}
        return lambda: desk.raw.execute(HAND_ROSTER, params).fetchall()

    def same(a: object, b: object) -> None:
        if len(a) != len(b):  # type: ignore[arg-type]
            raise AssertionError(f"roster {len(a)} lines, hand SQL {len(b)}")  # type: ignore[arg-type]

    interleave((ours, hand), 2, same)
    return interleave((ours, hand), ROSTER_SAMPLES, same)


if __name__ == "__main__":
    main()
