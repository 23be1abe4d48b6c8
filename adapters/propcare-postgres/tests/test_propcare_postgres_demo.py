"""``propcare demo`` and ``propcare info`` against a PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import propcare_postgres
import pytest
from click.testing import CliRunner
from propcare_postgres.testing import TemporaryServer, require_postgres

from propcare import Actor, Propcare
from propcare.cli import main

require_postgres()
pytestmark = pytest.mark.usefixtures("quiet_opening")

ENV: dict[str, str | None] = {"COLUMNS": "200", "FORCE_COLOR": None, "NO_COLOR": "1"}
ADMIN = Actor.system()


@pytest.fixture(scope="module")
def server() -> Iterator[TemporaryServer]:
    with TemporaryServer() as running:
        yield running


def test_demo_builds_into_an_empty_postgresql_database_once(
    server: TemporaryServer, tmp_path: Path
) -> None:
    url = server.create_database("demo")
    args = ["demo", "--db", url, "--units", "60", "--months", "2", "--today", "2026-11-02"]
    report = tmp_path / "report"
    done = CliRunner().invoke(main, [*args, "--report-dir", str(report)], env=ENV)
    assert done.exit_code == 0, done.output
    assert f"Demo database built in {url}" in done.stdout
    assert (report / "monthly-2026-10-1.html").is_file()
    with Propcare.open(url, plugins=[propcare_postgres], load_entrypoints=False) as app:
        (estate,) = app.estates.list(ADMIN)
        assert len(app.estates.units(ADMIN, estate.id)) == 60
        assert app.ledger.trial_balance(ADMIN, estate.id)["receivable"] > 0  # billed
        with app.unit_of_work(readonly=True) as uow:
            (row,) = uow.tuples("SELECT COUNT(*), SUM(amount_fen) FROM postings")  # type: ignore[attr-defined]
        assert row[0] > 1000 and row[1] == 0  # every entry balances

    again = CliRunner().invoke(main, args, env=ENV)
    assert again.exit_code == 2
    assert "already holds propcare data" in again.stderr


def test_info_describes_a_postgresql_database_without_its_password(
    server: TemporaryServer,
) -> None:
    url = server.create_database("info").replace("test@", "test:secret@")
    done = CliRunner().invoke(main, ["info", "--db", url], env=ENV)
    assert done.exit_code == 0, done.output
    assert "postgresql (from postgres)" in done.stdout
    assert "secret" not in done.stdout and "test:***@" in done.stdout
    with Propcare.open(url, plugins=[propcare_postgres], load_entrypoints=False) as app:
        assert "secret" not in repr(app) and "test:***@" in repr(app)  # reprs reach logs


def test_postgres_and_driver_spellings_of_the_url_open_the_same_backend(
    server: TemporaryServer,
) -> None:
    url = server.create_database("spellings")
    for spelling in ("postgres://", "postgresql+psycopg://"):
        other = url.replace("postgresql://", spelling)
        with Propcare.open(other, plugins=[propcare_postgres], load_entrypoints=False) as app:
            assert type(app.storage).__name__ == "PostgresStorage"
            app.estates.create(ADMIN, f"{spelling}小区")
    with Propcare.open(url, plugins=[propcare_postgres], load_entrypoints=False) as app:
        assert len(app.estates.list(ADMIN)) == 2
