"""Ticket write paths against raw sqlite3 writing the same rows.

- open: ``app.tickets.open`` one transaction each (estate, staff and unit checks,
  the transition table, SLA deadlines on the office calendar, the outbox event) vs raw
  sqlite3 inserting the very rows propcare wrote (tickets, ticket_events, outbox) one
  transaction each, into the same schema on the same kind of file (WAL, synchronous
  NORMAL, foreign keys on: ``propcare.storage.sqlite.connect``).
  The two run in alternating blocks of 100 tickets, the side that goes first changing
  from block to block, and the ratio is the median of 5 rounds' ratios (raw time /
  propcare time): the raw side is mostly commit I/O, which drifts on a shared machine.
- import: ``app.tickets.import_history`` of historical tickets (five events each) in one
  call, built before the clock starts: tickets/s.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rounds import Rounds, alternate

from propcare import Actor, Propcare, UnitSpec
from propcare.storage.sqlite import connect
from propcare.tickets.model import Action, TicketEvent

OPENS = 2_000
IMPORTS = 100_000
ROUNDS = 5
IMPORT_ROUNDS = 1  # 100,000 tickets take a while; one run is steady enough
UNITS = 500
CLERKS = 8
SH = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 3, 2, 8, 0, tzinfo=SH)  # a Monday, inside the calendar's data


class Estate:
    """A fresh database with one estate: units, front-desk clerks and technicians."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.app = Propcare.open(f"sqlite:///{path}", load_entrypoints=False)
        admin = self.admin = Actor.system()
        estate = self.app.estates.create(admin, "基准小区")
        self.estate_id = estate.id
        building = self.app.estates.add_building(admin, estate.id, "1栋")
        specs = [UnitSpec(f"1-{i // 10 + 1}{i % 10:02d}", Decimal("89.50")) for i in range(UNITS)]
        self.units = [u.id for u in self.app.estates.add_units(admin, building.id, specs)]
        hired = date(2024, 1, 1)
        self.clerks = [
            self.app.staff.create(admin, estate.id, f"客服{i}", ["front_desk"], hired).id
            for i in range(CLERKS)
        ]
        self.techs = [
            self.app.staff.create(admin, estate.id, f"师傅{i}", ["technician"], hired).id
            for i in range(CLERKS)
        ]

    def close(self) -> None:
        self.app.close()


def _opens(n: int, seed: int) -> list[dict[str, Any]]:
    """Realistic intake: mostly in-home repairs at a unit, some complaints, spread in time."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    at = START
    for _ in range(n):
        at += timedelta(minutes=rng.randint(1, 20))
        repair = rng.random() < 0.7
        out.append(
            {
                "category": "home_repair" if repair else "complaint",
                "channel": rng.choice(("phone", "phone", "visit", "online")),
                "summary": "卫生间漏水" if repair else "楼下噪音扰民",
                "priority": "urgent" if rng.random() < 0.05 else "normal",
                "unit": rng.randrange(UNITS),
                "clerk": rng.randrange(CLERKS),
                "at": at,
            }
        )
    return out


def _open_call(world: Estate, c: dict[str, Any]) -> None:
    world.app.tickets.open(
        world.admin,
        world.estate_id,
        category=c["category"],
        channel=c["channel"],
        summary=c["summary"],
        priority=c["priority"],
        unit_id=world.units[c["unit"]],
        first_contact_staff_id=world.clerks[c["clerk"]],
        at=c["at"],
    )


def _rows_written(world: Estate) -> list[tuple[tuple[Any, ...], ...]]:
    """Per ticket: its tickets, ticket_events and outbox rows, as propcare stored them."""
    with world.app.unit_of_work(readonly=True) as uow:
        conn = uow.connection  # type: ignore[attr-defined]
        tickets = [tuple(row) for row in conn.execute("SELECT * FROM tickets ORDER BY id")]
        events = [tuple(row) for row in conn.execute("SELECT * FROM ticket_events")]
        outbox = [
            tuple(row)
            for row in conn.execute(
                "SELECT * FROM outbox WHERE topic = 'ticket.changed' ORDER BY id"
            )
        ]
    assert len(tickets) == len(events) == len(outbox)
    return list(zip(tickets, events, outbox, strict=True))


BLOCK = 100


def bench_open(tmp: Path, r: int) -> tuple[float, float]:
    """Seconds for OPENS opens through propcare and for the same rows through raw sqlite3.

    The two run in alternating blocks of BLOCK tickets, so a disk or CPU hiccup of this
    shared machine lands on both sides alike instead of on whichever ran at that moment;
    which side goes first changes from block to block (half the blocks each).
    """
    calls = _opens(OPENS, r)
    # The rows the baseline writes: what propcare writes for these calls (same ids too,
    # as both databases are set up the same way).
    prep = Estate(tmp / f"open-prep-{r}.db")
    for c in calls:
        _open_call(prep, c)
    rows = _rows_written(prep)
    prep.close()

    world = Estate(tmp / f"open-{r}.db")
    raw_world = Estate(tmp / f"open-raw-{r}.db")
    raw_world.close()
    raw = connect(str(raw_world.path))
    t, e, o = rows[0]
    t_sql = f"INSERT INTO tickets VALUES ({', '.join('?' * len(t))})"
    e_sql = f"INSERT INTO ticket_events VALUES ({', '.join('?' * len(e))})"
    o_sql = f"INSERT INTO outbox VALUES ({', '.join('?' * len(o))})"
    ours_at, raw_at = iter(range(0, OPENS, BLOCK)), iter(range(0, OPENS, BLOCK))

    def ours_block() -> None:
        i = next(ours_at)
        for c in calls[i : i + BLOCK]:
            _open_call(world, c)

    def raw_block() -> None:
        i = next(raw_at)
        for t, e, o in rows[i : i + BLOCK]:
            raw.execute("BEGIN IMMEDIATE")
            raw.execute(t_sql, t)
            raw.execute(e_sql, e)
            raw.execute(o_sql, o)
            raw.execute("COMMIT")

    # Block by block, the side that goes first alternating (half the blocks each), and
    # the first block's first side alternating from round to round.
    sides = [("propcare", ours_block), ("raw", raw_block)]
    blocks = alternate(sides if r % 2 == 0 else sides[::-1], OPENS // BLOCK)
    took = dict(zip(blocks.names, blocks.times, strict=True))
    assert _rows_written(world) == rows  # propcare wrote what the baseline wrote
    world.close()
    raw.close()
    return sum(took["propcare"]), sum(took["raw"])


def histories(world: Estate, n: int, seed: int) -> Iterator[list[TicketEvent]]:
    """Closed repairs: open, assign, arrive, resolve, callback (five events each)."""
    rng = random.Random(seed)
    at = START
    for i in range(n):
        at += timedelta(seconds=rng.randint(10, 120))
        tech = world.techs[rng.randrange(CLERKS)]
        steps: list[tuple[Action, timedelta, dict[str, Any]]] = [
            (
                Action.ASSIGN,
                timedelta(minutes=rng.randint(2, 15)),
                {"staff_id": tech, "team_id": None},
            ),
            (Action.ARRIVE, timedelta(minutes=rng.randint(20, 90)), {}),
            (Action.RESOLVE, timedelta(minutes=rng.randint(30, 180)), {"note": "已修复"}),
            (
                Action.CALLBACK,
                timedelta(hours=rng.randint(2, 30)),
                {"satisfaction": "satisfied", "fixed": True, "channel": "phone", "comment": ""},
            ),
        ]
        clerk = world.clerks[i % CLERKS]
        open_data = {
            "category": "home_repair",
            "channel": "phone",
            "priority": "normal",
            "summary": "厨房水龙头漏水",
            "unit_id": world.units[rng.randrange(UNITS)],
            "location": "",
            "reporter_owner_id": None,
            "reporter_name": "",
            "estate_id": world.estate_id,
            "first_contact_staff_id": clerk,
        }
        events = [TicketEvent(1, Action.OPEN, at, "客服", clerk, open_data)]
        when = at
        for seq, (action, delay, data) in enumerate(steps, start=2):
            when += delay
            events.append(TicketEvent(seq, action, when, "师傅", tech, data))
        yield events


def bench_import(tmp: Path, r: int) -> float:
    world = Estate(tmp / f"import-{r}.db")
    made = list(histories(world, IMPORTS, r))  # built before the clock starts
    start = time.perf_counter()
    count = world.app.tickets.import_history(world.admin, world.estate_id, made)
    took = time.perf_counter() - start
    assert count == IMPORTS
    world.close()
    return took


def _pct(ratios: list[float]) -> str:
    return f"{min(ratios):.0%}-{max(ratios):.0%}"


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        runs = [bench_open(tmp, r) for r in range(ROUNDS)]
        rounds = Rounds(("propcare", "raw"), tuple(zip(*runs, strict=True)))
        print(
            f"open one transaction each, {OPENS:,} tickets: propcare "
            f"{OPENS / rounds.median(0):,.0f}/s, raw sqlite3 {OPENS / rounds.median(1):,.0f}/s, "
            f"ratio {rounds.ratio(1, 0):.0%} of raw, median of {ROUNDS} rounds "
            f"(goal >= 40%; rounds {_pct(rounds.ratios(1, 0))})"
        )
        took = statistics.median(bench_import(tmp, r) for r in range(IMPORT_ROUNDS))
        print(
            f"import_history, {IMPORTS:,} tickets of 5 events in one call: "
            f"{IMPORTS / took:,.0f} tickets/s ({took:.1f} s)"
        )


if __name__ == "__main__":
    main()
