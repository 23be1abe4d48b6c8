"""Copying an SQLite propcare database into PostgreSQL: ``propcare.storage.copy`` and
``propcare migrate-db``, against a real PostgreSQL 15."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import propcare_postgres
import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st
from propcare_postgres.storage import PostgresUnitOfWork
from propcare_postgres.testing import TemporaryServer, require_postgres

from propcare import Actor, Propcare
from propcare.cli import main
from propcare.demo import DemoOptions, run_demo, sqlite_url
from propcare.errors import Conflict, CopyMismatch, NotFound, StorageError, ValidationError
from propcare.registry.model import EstateId, UnitId
from propcare.storage.copy import DEFAULT_BATCH, CopyReport, copy_database, copy_order

require_postgres()
pytestmark = pytest.mark.usefixtures("quiet_opening")

ADMIN = Actor.system()
PLUGINS = [propcare_postgres]
# Small and odd, so every big table goes over in many batches (keyset paging is exercised).
BATCH = 97
# Wide and colourless, so a table name never wraps and no escape code splits a word.
ENV: dict[str, str | None] = {"COLUMNS": "200", "FORCE_COLOR": None, "NO_COLOR": "1"}
_names = itertools.count()


@pytest.fixture(scope="module")
def server() -> Iterator[TemporaryServer]:
    with TemporaryServer() as running:
        yield running


def fresh(server: TemporaryServer) -> str:
    return server.create_database(f"migrate_{next(_names)}")


def _open(url: str) -> Propcare:
    return Propcare.open(url, plugins=PLUGINS, load_entrypoints=False)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo estate (bills, counter payments, deposits, tickets, dunning, commission,
    appraisal) plus what the demo does not do: a refund, a compensation, late fees and a
    voided receipt."""
    path = tmp_path_factory.mktemp("source") / "estate.db"
    result = run_demo(DemoOptions(db=path, units=60, months=2, report_dir=None))
    with Propcare.open(sqlite_url(path), load_entrypoints=False) as app:
        estate = EstateId(result.estate_id)
        units = app.estates.units(ADMIN, estate)
        paid = app.payments.pay_at_counter(ADMIN, units[0].id, Decimal("300.00"), "cash")
        app.payments.refund(ADMIN, paid.payment_id, Decimal("120.50"), "多收退回")
        approver = next(s for s in app.staff.list(ADMIN, estate) if "manager" in s.roles)
        app.payments.compensate(ADMIN, units[1].id, Decimal("45.00"), "停水补偿", approver.id)
        app.billing.set_late_fees(ADMIN, estate, Decimal("0.0005"), grace_days=0)
        app.billing.assess_late_fees(ADMIN, estate, datetime.now(UTC).date())
        receipt = paid.receipt
        assert receipt is not None
        app.ledger.void_receipt(ADMIN, estate, receipt.year, receipt.number, "开错抬头")
    return path


@pytest.fixture(scope="module")
def copied(source: Path, server: TemporaryServer) -> tuple[CopyReport, str]:
    """One copy, read by the tests that only look (the ones that write make their own)."""
    url = fresh(server)
    report = copy_database(
        sqlite_url(source), url, batch=BATCH, plugins=PLUGINS, load_entrypoints=False
    )
    return report, url


def sqlite_tables(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' AND name <> 'schema_version'"
            )
        ]
        return {n: conn.execute(f"SELECT COUNT(*) FROM {n}").fetchone()[0] for n in names}


def rows_of(url: str, table: str) -> list[tuple[Any, ...]]:
    with _open(url) as app, app.unit_of_work(readonly=True) as uow:
        rows = uow.tuples(f"SELECT * FROM {table}")  # type: ignore[attr-defined]
    return sorted(rows, key=repr)


def counts_of(url: str, tables: Sequence[str]) -> dict[str, int]:
    with _open(url) as app, app.unit_of_work(readonly=True) as uow:
        return {t: uow.tuples(f"SELECT COUNT(*) FROM {t}")[0][0] for t in tables}  # type: ignore[attr-defined]


def run_cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=ENV)


# --- what was copied ---------------------------------------------------------------------------


def test_every_table_is_copied_with_its_row_count(
    source: Path, copied: tuple[CopyReport, str]
) -> None:
    report, url = copied
    expected = sqlite_tables(source)
    assert {t.table for t in report.tables} == set(expected)
    assert {t.table: t.target_rows for t in report.tables} == expected
    assert counts_of(url, list(expected)) == expected
    assert report.rows == sum(expected.values()) > 5000
    # The demo and the extras filled the tables this test is about.
    for table in ("postings", "payment_refunds", "compensations", "late_fees", "receipts"):
        assert expected[table] > 0, table
    assert [c.name for c in report.checks] == [
        "row counts",
        "trial balances",
        "unit balances",
        "receipt counters",
    ]
    assert "***" not in report.target and report.source == sqlite_url(source)


def test_every_row_reads_back_as_sqlite_stored_it(
    source: Path, copied: tuple[CopyReport, str]
) -> None:
    """Timestamps come back as the same fixed-width UTC text, dates as ISO text, flags as 0/1:
    the copy is value for value the source."""
    _, url = copied
    for table in sqlite_tables(source):
        assert rows_of(url, table) == rows_of(sqlite_url(source), table), table


def test_the_copy_is_in_foreign_key_order(copied: tuple[CopyReport, str]) -> None:
    report, _ = copied
    order = [t.table for t in report.tables]
    for child, parent in [
        ("postings", "journal_entries"),
        ("units", "buildings"),
        ("buildings", "estates"),
        ("payment_allocations", "payment_notices"),
        ("billed_ticket_charges", "ticket_charges"),
    ]:
        assert order.index(parent) < order.index(child), (parent, child)


def test_balances_roster_and_collection_rate_are_the_same_through_the_services(
    source: Path, copied: tuple[CopyReport, str]
) -> None:
    _, url = copied
    as_of = datetime.now(UTC)
    seen: list[dict[str, Any]] = []
    for opened in (Propcare.open(sqlite_url(source), load_entrypoints=False), _open(url)):
        with opened as app:
            (estate,) = app.estates.list(ADMIN)
            first_units = app.estates.units(ADMIN, estate.id)[:3]
            periods = sorted(
                {b.period for u in first_units for b in app.billing.bills(ADMIN, u.id)}
            )
            seen.append(
                {
                    "trial": app.ledger.trial_balance(ADMIN, estate.id),
                    "units": {
                        u.id: app.ledger.unit_balance(ADMIN, UnitId(u.id))
                        for u in app.estates.units(ADMIN, estate.id)
                    },
                    "roster": app.arrears.roster(ADMIN, estate.id, as_of=as_of),
                    "rate": app.arrears.collection_rate(
                        ADMIN, estate.id, periods[0], periods[-1], group_by="building", as_of=as_of
                    ),
                    "receipts": app.ledger.receipts(ADMIN, estate.id, as_of.year),
                }
            )
    sqlite_side, postgres_side = seen
    assert sqlite_side["roster"], "the demo leaves arrears"
    assert any(v != 0 for v in sqlite_side["units"].values())
    assert postgres_side == sqlite_side


# --- after the copy ----------------------------------------------------------------------------


def test_rows_added_after_the_copy_get_fresh_ids_and_the_next_receipt_number(
    source: Path, server: TemporaryServer
) -> None:
    url = fresh(server)
    report = copy_database(sqlite_url(source), url, plugins=PLUGINS, load_entrypoints=False)
    assert {"estates", "units", "journal_entries", "postings", "payment_notices"} <= set(
        report.sequences_reset
    )
    with (
        Propcare.open(sqlite_url(source), load_entrypoints=False) as app,
        app.unit_of_work(readonly=True) as uow,
    ):
        top = {
            t: uow.tuples(f"SELECT MAX(id) FROM {t}")[0][0]  # type: ignore[attr-defined]
            for t in ("estates", "owners", "journal_entries", "payment_notices", "postings")
        }
    with _open(url) as app:
        (estate,) = app.estates.list(ADMIN)
        year = datetime.now(UTC).year
        numbers = [r.number for r in app.ledger.receipts(ADMIN, estate.id, year)]
        unit = app.estates.units(ADMIN, estate.id)[5]
        paid = app.payments.pay_at_counter(ADMIN, unit.id, Decimal("88.00"), "pos")
        other = app.estates.create(ADMIN, "新小区")
        owner = app.owners.create(ADMIN, other.id, "李四", phones=["13912345678"])
        with app.unit_of_work(readonly=True) as uow:
            newest_posting = uow.tuples("SELECT MAX(id) FROM postings")[0][0]  # type: ignore[attr-defined]
    assert other.id == top["estates"] + 1
    assert owner.id == top["owners"] + 1
    assert paid.payment_id == top["payment_notices"] + 1
    assert paid.entry_id == top["journal_entries"] + 1
    assert newest_posting > top["postings"]
    assert paid.receipt is not None and paid.receipt.number == max(numbers) + 1


# --- refusals and rollbacks ---------------------------------------------------------------------


def test_a_target_holding_data_is_refused_and_nothing_is_written(
    source: Path, server: TemporaryServer
) -> None:
    url = fresh(server)
    with _open(url) as app:
        app.estates.create(ADMIN, "已有小区")
    tables = list(sqlite_tables(source))
    before = counts_of(url, tables)
    with pytest.raises(Conflict) as caught:
        copy_database(sqlite_url(source), url, plugins=PLUGINS, load_entrypoints=False)
    assert caught.value.field == "target"
    assert "already holds propcare data (table estates has rows)" in str(caught.value)
    assert counts_of(url, tables) == before
    assert before["estates"] == 1 and before["postings"] == before["journal_entries"] == 0


def _tamper(monkeypatch: pytest.MonkeyPatch, table: str, change: Any) -> None:
    """Make the target's bulk insert of ``table`` write ``change(rows)`` instead of the rows:
    a stand-in for a copy that went wrong, which the checks must catch."""
    real = PostgresUnitOfWork.insert_rows

    def insert_rows(
        self: PostgresUnitOfWork, name: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        real(self, name, columns, change(columns, rows) if name == table else rows)

    monkeypatch.setattr(PostgresUnitOfWork, "insert_rows", insert_rows)


def test_a_lost_row_fails_the_counts_and_rolls_everything_back(
    source: Path, server: TemporaryServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = fresh(server)
    _tamper(monkeypatch, "postings", lambda _c, rows: rows[:-1])
    with pytest.raises(CopyMismatch) as caught:
        copy_database(sqlite_url(source), url, batch=1000, plugins=PLUGINS, load_entrypoints=False)
    assert (caught.value.field, caught.value.value) == ("table", "postings")
    assert "rolled back" in caught.value.rule
    tables = list(sqlite_tables(source))
    assert counts_of(url, tables) == dict.fromkeys(tables, 0)


def test_a_changed_amount_fails_the_trial_balance_and_rolls_everything_back(
    source: Path, server: TemporaryServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = fresh(server)

    def one_fen_more(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[Any]:
        at = list(columns).index("amount_fen")
        first = list(rows[0])
        first[at] += 1
        return [first, *rows[1:]]

    _tamper(monkeypatch, "postings", one_fen_more)
    with pytest.raises(CopyMismatch) as caught:
        copy_database(sqlite_url(source), url, plugins=PLUGINS, load_entrypoints=False)
    assert caught.value.field.startswith("trial balance of estate")
    assert isinstance(caught.value, StorageError)
    tables = list(sqlite_tables(source))
    assert counts_of(url, tables) == dict.fromkeys(tables, 0)


def test_bad_arguments_are_refused_before_anything_opens(
    tmp_path: Path, server: TemporaryServer
) -> None:
    url = fresh(server)
    with pytest.raises(ValidationError, match="source="):
        copy_database(url, url, plugins=PLUGINS, load_entrypoints=False)
    with pytest.raises(NotFound, match="no such SQLite file"):
        copy_database(sqlite_url(tmp_path / "missing.db"), url, plugins=PLUGINS)
    assert not (tmp_path / "missing.db").exists()
    for batch in (0, -5, True):
        with pytest.raises(ValidationError, match="batch="):
            copy_database(sqlite_url(tmp_path / "x.db"), url, batch=batch)


# --- backend-neutral, progress, order ---------------------------------------------------------


def test_an_sqlite_target_works_too_without_the_sequence_step(source: Path, tmp_path: Path) -> None:
    target = sqlite_url(tmp_path / "copy.db")
    report = copy_database(sqlite_url(source), target, load_entrypoints=False)
    assert report.sequences_reset == ()
    assert {t.table: t.target_rows for t in report.tables} == sqlite_tables(source)
    with Propcare.open(target, load_entrypoints=False) as app:
        before = max(e.id for e in app.estates.list(ADMIN))
        assert app.estates.create(ADMIN, "再建小区").id == before + 1


def test_progress_counts_rows_up_to_the_total(source: Path, server: TemporaryServer) -> None:
    calls: list[tuple[int, int, str | None]] = []
    copy_database(
        sqlite_url(source),
        fresh(server),
        batch=500,
        plugins=PLUGINS,
        load_entrypoints=False,
        progress=lambda done, total, what: calls.append((done, total, what)),
    )
    total = sum(sqlite_tables(source).values())
    dones = [c[0] for c in calls]
    assert dones == sorted(dones)
    assert {c[1] for c in calls} == {total}
    assert calls[-1] == (total, total, None)
    assert ("postings" in {c[2] for c in calls}) and ("checks" in {c[2] for c in calls})


@st.composite
def acyclic(draw: st.DrawFn) -> dict[str, set[str]]:
    """Tables t0..tn, each referring only to earlier ones (and maybe itself), shuffled."""
    n = draw(st.integers(1, 12))
    names = [f"t{i}" for i in range(n)]
    graph = {
        name: set(draw(st.lists(st.sampled_from(names[: i + 1]), max_size=4)))
        for i, name in enumerate(names)
    }
    return dict(draw(st.permutations(list(graph.items()))))


@given(acyclic())
def test_copy_order_puts_every_parent_first(graph: dict[str, set[str]]) -> None:
    order = copy_order(graph)
    assert sorted(order) == sorted(graph)
    for child, parents in graph.items():
        for parent in parents - {child}:
            assert order.index(parent) < order.index(child)


@given(acyclic(), st.data())
def test_copy_order_refuses_a_cycle(graph: dict[str, set[str]], data: st.DataObject) -> None:
    names = sorted(graph)
    a, b = data.draw(st.sampled_from(names)), data.draw(st.sampled_from(names))
    if a == b:
        return
    graph[a].add(b)
    graph[b].add(a)
    with pytest.raises(StorageError, match="cycle"):
        copy_order(graph)


# --- propcare migrate-db ------------------------------------------------------------------------


def test_the_command_copies_prints_the_tables_and_says_balances_match(
    source: Path, server: TemporaryServer
) -> None:
    url = fresh(server)
    result = run_cli("migrate-db", "--from", str(source), "--to", url, "--batch", "500")
    assert result.exit_code == 0, result.stderr
    expected = sqlite_tables(source)
    lines = result.stdout.splitlines()
    for table in ("postings", "journal_entries", "receipt_counters"):
        (line,) = [ln for ln in lines if ln.split()[:1] == [table]]
        assert line.split()[-1] == f"{expected[table]:,}"
    assert f"{sum(expected.values()):,}" in result.stdout
    assert "balances match" in result.stdout
    assert counts_of(url, list(expected)) == expected

    again = run_cli("migrate-db", "--from", str(source), "--to", url)
    assert again.exit_code == 1
    assert again.stderr.count("\n") == 1
    assert again.stderr.startswith("error: target='postgresql://test@")
    assert "already holds propcare data" in again.stderr
    assert counts_of(url, list(expected)) == expected


def test_the_command_refuses_a_missing_source_and_a_bad_batch(
    tmp_path: Path, server: TemporaryServer
) -> None:
    url = fresh(server)
    missing = run_cli("migrate-db", "--from", str(tmp_path / "none.db"), "--to", url)
    assert missing.exit_code == 1
    assert missing.stderr.startswith("error: db=") and "no such database file" in missing.stderr
    bad = run_cli("migrate-db", "--from", str(tmp_path / "none.db"), "--to", url, "--batch", "0")
    assert bad.exit_code == 2
    option = next(p for p in main.commands["migrate-db"].params if p.name == "batch")
    assert option.default == DEFAULT_BATCH
