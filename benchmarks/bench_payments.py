"""Counter payments against raw sqlite3 writing the same kind of rows.

``app.payments.pay_at_counter`` one transaction each (unit and permission checks, the
open receivables read, allocation, the idempotency look-ups, one journal entry and its
postings, the outbox event, the receipt counter and receipt, the payment notice and its
allocations) vs raw sqlite3 doing the same read and the same inserts one transaction
each, on the same kind of file (``propcare.storage.sqlite.connect``: WAL, synchronous
NORMAL, foreign keys on). The two run in alternating blocks of 100 payments, the side
that goes first changing from block to block; the ratio is the median of the rounds'
ratios (raw time / propcare time), as commit I/O drifts on a shared machine.
"""

from __future__ import annotations

import sqlite3
import tempfile
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from rounds import Rounds, alternate

from propcare import Actor, Propcare
from propcare.ledger.journal import JournalEntry, Posting
from propcare.registry.model import EstateId, UnitId
from propcare.storage.sqlite import connect

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=SH)
UNITS = 200
PAYMENTS = 2000
BLOCK = 100
ROUNDS = 5
ADMIN = Actor.system()


def _world(path: Path) -> tuple[Propcare, list[UnitId], EstateId]:
    app = Propcare.open(f"sqlite:///{path}", load_entrypoints=False)
    estate = app.estates.create(ADMIN, "基准苑")
    building = app.estates.add_building(ADMIN, estate.id, "1栋")
    units = [
        app.estates.add_unit(ADMIN, building.id, f"{n:04d}", Decimal("88")).id for n in range(UNITS)
    ]
    with app.unit_of_work() as uow:
        for unit in units:
            for period in ("2026-09", "2026-10", "2026-11"):
                for item, fen in (("property_fee", 26850), ("parking", 15000)):
                    app.ledger.post_in(
                        uow,
                        JournalEntry(
                            estate.id,
                            "bill",
                            T0,
                            f"bill:{unit}:{item}:{period}",
                            "system",
                            (
                                Posting("receivable", fen, unit, item, period),
                                Posting("revenue", -fen, sub=item),
                            ),
                        ),
                    )
        uow.commit()
    app.staff.create(ADMIN, estate.id, "前台", ["front_desk"], date(2020, 1, 1))
    return app, units, estate.id


def _raw_payment(c: sqlite3.Connection, estate: int, unit: UnitId, fen: int, at: str) -> None:
    c.execute("BEGIN IMMEDIATE")
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
        "VALUES (?, 'payment', ?, ?, '前台', 'counter cash')",
        (estate, at, f"payment:counter:{txn}"),
    ).lastrowid
    postings: list[tuple[object, ...]] = [(entry, estate, "cash", "", None, None, None, fen, at)]
    postings += [(entry, estate, "receivable", "", unit, i, p, -f, at) for i, p, f in lines]
    if left:
        postings.append((entry, estate, "owner_credit", "", unit, None, None, -left, at))
    c.executemany(
        "INSERT INTO postings (entry_id, estate_id, account, sub, unit_id, fee_item, period, "
        "amount_fen, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        postings,
    )
    c.execute(
        "INSERT INTO outbox (estate_id, kind, topic, payload, idem_key, created_at) "
        "VALUES (?, 'event', 'ledger.entry_posted', ?, ?, ?)",
        (estate, f'{{"entry_id": {entry}}}', f"ledger:payment:counter:{txn}", at),
    )
    number = c.execute(
        "INSERT INTO receipt_counters (estate_id, year, last_number) VALUES (?, 2026, 1) "
        "ON CONFLICT (estate_id, year) DO UPDATE SET last_number = last_number + 1 "
        "RETURNING last_number",
        (estate,),
    ).fetchone()[0]
    c.execute(
        "INSERT INTO receipts (estate_id, year, number, entry_id, issued_at) "
        "VALUES (?, 2026, ?, ?, ?)",
        (estate, number, entry, at),
    )
    payment = c.execute(
        "INSERT INTO payment_notices (estate_id, provider, provider_txn_id, amount_fen, "
        "unit_id, method, paid_at, entry_id, status, receipt_year, receipt_number) "
        "VALUES (?, 'counter', ?, ?, ?, 'cash', ?, ?, 'posted', 2026, ?)",
        (estate, txn, fen, unit, at, entry, number),
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


def bench(tmp: Path, r: int) -> tuple[float, float]:
    app, units, estate = _world(tmp / f"ours-{r}.db")
    raw_app, _, raw_estate = _world(tmp / f"raw-{r}.db")
    raw_path = raw_app.storage.url.split("///", 1)[1]
    raw_app.close()
    raw = connect(raw_path)
    desk = Actor("前台", {"front_desk"}, {estate})
    amounts = [Decimal(100 + (i * 37) % 400) for i in range(PAYMENTS)]
    ours_at, raw_at = iter(range(0, PAYMENTS, BLOCK)), iter(range(0, PAYMENTS, BLOCK))

    def ours_block() -> None:
        i = next(ours_at)
        for k in range(i, i + BLOCK):
            app.payments.pay_at_counter(
                desk, units[k % UNITS], amounts[k], "cash", at=T0 + timedelta(seconds=k)
            )

    def raw_block() -> None:
        i = next(raw_at)
        for k in range(i, i + BLOCK):
            at = (T0 + timedelta(seconds=k)).isoformat()
            _raw_payment(raw, raw_estate, units[k % UNITS], int(amounts[k] * 100), at)

    # Block by block, the side that goes first alternating (half the blocks each), and
    # the first block's first side alternating from round to round.
    sides = [("propcare", ours_block), ("raw", raw_block)]
    blocks = alternate(sides if r % 2 == 0 else sides[::-1], PAYMENTS // BLOCK)
    took = dict(zip(blocks.names, blocks.times, strict=True))
    app.close()
    raw.close()
    return sum(took["propcare"]), sum(took["raw"])


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        runs = [bench(Path(d), r) for r in range(ROUNDS)]
    rounds = Rounds(("propcare", "raw"), tuple(zip(*runs, strict=True)))
    ratios = rounds.ratios(1, 0)
    print(
        f"pay_at_counter one transaction each, {PAYMENTS:,} payments over {UNITS} units: "
        f"propcare {PAYMENTS / rounds.median(0):,.0f}/s, raw sqlite3 "
        f"{PAYMENTS / rounds.median(1):,.0f}/s, ratio {rounds.ratio(1, 0):.0%} of raw, median "
        f"of {ROUNDS} rounds (goal >= 40%; rounds {min(ratios):.0%}-{max(ratios):.0%})"
    )


if __name__ == "__main__":
    main()
