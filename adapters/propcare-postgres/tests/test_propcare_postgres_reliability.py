"""Concurrent writers and dropped connections, on a real PostgreSQL 15."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import propcare_postgres
import pytest
from propcare_postgres.testing import TemporaryServer, require_postgres

from propcare import Actor, Propcare, UnitSpec
from propcare.errors import StorageError
from propcare.registry.model import EstateId, UnitId

require_postgres()

ADMIN = Actor.system()
PLUGINS = [propcare_postgres]
WRITERS = 4
PAYMENTS = 5000  # each
UNITS = 10


@pytest.fixture(scope="module")
def server() -> Iterator[TemporaryServer]:
    with TemporaryServer() as running:
        yield running


def _open(url: str) -> Propcare:
    return Propcare.open(url, plugins=PLUGINS, load_entrypoints=False)


def _estate(url: str) -> tuple[int, list[int]]:
    with _open(url) as app:
        estate = app.estates.create(ADMIN, "翠苑")
        building = app.estates.add_building(ADMIN, estate.id, "1栋")
        units = app.estates.add_units(
            ADMIN,
            building.id,
            [
                UnitSpec(str(101 + i), Decimal("90"), "residential", date(2024, 1, 1))
                for i in range(UNITS)
            ],
        )
        return int(estate.id), [int(u.id) for u in units]


def _pay(url: str, units: list[int], writer: int, count: int) -> None:
    """One front-desk process: ``count`` payments of 1.00 + writer fen, units in turn,
    starting at a different unit in each process so that they overlap."""
    with _open(url) as app:
        for i in range(count):
            unit = units[(i + writer) % len(units)]
            amount = Decimal(100 + writer) / 100
            app.payments.pay_at_counter(
                ADMIN, UnitId(unit), amount, "cash", txn_id=f"w{writer}-{i}"
            )


def test_four_processes_post_every_payment_once_with_gapless_receipts(
    server: TemporaryServer,
) -> None:
    url = server.create_database("writers")
    estate_id, units = _estate(url)
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_pay, args=(url, units, w, PAYMENTS)) for w in range(WRITERS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=900)
    assert [w.exitcode for w in workers] == [0] * WRITERS

    with _open(url) as app, app.unit_of_work(readonly=True) as uow:
        numbers = [
            r[0]
            for r in uow.tuples(  # type: ignore[attr-defined]
                "SELECT number FROM receipts WHERE estate_id = ? ORDER BY number", (estate_id,)
            )
        ]
        assert numbers == list(range(1, WRITERS * PAYMENTS + 1))  # all recorded, gapless
        (unbalanced,) = uow.tuples(  # type: ignore[attr-defined]
            "SELECT COUNT(*) FROM (SELECT entry_id FROM postings GROUP BY entry_id "
            "HAVING SUM(amount_fen) <> 0) x"
        )
        assert unbalanced == (0,)
        credit = dict(
            uow.tuples(  # type: ignore[attr-defined]
                "SELECT unit_id, -SUM(amount_fen) FROM postings WHERE account = 'owner_credit' "
                "GROUP BY unit_id"
            )
        )
    expected = dict.fromkeys(units, 0)
    for writer in range(WRITERS):
        for i in range(PAYMENTS):
            expected[units[(i + writer) % UNITS]] += 100 + writer
    assert credit == expected  # nothing was owed: every fen is the owner's credit, exactly


def test_a_dropped_connection_leaves_nothing_half_written_and_the_next_unit_of_work_works(
    server: TemporaryServer,
) -> None:
    url = server.create_database("dropped")
    estate_id, units = _estate(url)
    with _open(url) as app:
        with pytest.raises(StorageError), app.unit_of_work() as uow:
            uow.execute(  # type: ignore[attr-defined]
                "INSERT INTO buildings (estate_id, name) VALUES (?, ?)", (estate_id, "2栋")
            )
            assert server.terminate_backends("dropped") >= 1  # the server ends our session
            uow.execute(  # type: ignore[attr-defined]
                "INSERT INTO buildings (estate_id, name) VALUES (?, ?)", (estate_id, "3栋")
            )
            uow.commit()
        assert [b.name for b in app.estates.buildings(ADMIN, estate_id)] == ["1栋"]
        result = app.payments.pay_at_counter(ADMIN, UnitId(units[0]), Decimal("5.00"), "cash")
        assert result.receipt is not None
        assert app.estates.add_building(ADMIN, estate_id, "2栋").name == "2栋"


def _bill(url: str, estate_id: int, period: str, results: Any) -> None:
    with _open(url) as app:
        report = app.billing.run(ADMIN, EstateId(estate_id), period)
        results.put((report.billed_now, report.already_billed))


def test_bill_runs_racing_with_payments_bill_each_line_once(server: TemporaryServer) -> None:
    url = server.create_database("racing")
    estate_id, units = _estate(url)
    with _open(url) as app:
        app.billing.add_fee_item(
            ADMIN,
            EstateId(estate_id),
            "property_fee",
            "物业费",
            "area",
            rates={"residential": "2.50"},
        )
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    runs = [
        context.Process(target=_bill, args=(url, estate_id, period, results))
        for period in ("2026-01", "2026-01", "2026-02", "2026-02")
    ]
    payer = context.Process(target=_pay, args=(url, units, 0, 200))
    for process in [*runs, payer]:
        process.start()
    for process in [*runs, payer]:
        process.join(timeout=300)
    assert [p.exitcode for p in [*runs, payer]] == [0] * 5
    counts = sorted(results.get(timeout=5) for _ in runs)
    # Of the two runs of each month, one billed every unit and the other found it done.
    assert counts == [(0, UNITS), (0, UNITS), (UNITS, 0), (UNITS, 0)]
    with _open(url) as app, app.unit_of_work(readonly=True) as uow:
        (bills,) = uow.tuples("SELECT COUNT(*), SUM(amount_fen) FROM bills")  # type: ignore[attr-defined]
        assert bills == (2 * UNITS, 2 * UNITS * 22500)  # 90 m2 x 2.50, two months
        (owed,) = uow.tuples(  # type: ignore[attr-defined]
            "SELECT SUM(amount_fen) FROM postings WHERE account IN ('receivable', 'owner_credit')"
        )
        # What the units owe after the 200 payments of 1.00 (credit or settled bills alike).
        assert owed == (2 * UNITS * 22500 - 200 * 100,)
