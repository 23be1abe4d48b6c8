"""Storage faults end in clear errors (SQLite; the contract suite holds both backends to the
backend-neutral rules): a writer's lock held too long, a read-only file or folder, another
program's database. From the API as a PropcareError, from the CLI as one line."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from propcare import Actor, ConfigError, Propcare, PropcareError, StorageError
from propcare.cli import main
from propcare.demo import sqlite_url
from propcare.errors import DatabaseLocked, ForeignDatabase, ReadOnlyDatabase
from propcare.plugins.hookspecs import hookimpl
from propcare.plugins.records import StorageBackend
from propcare.storage import sqlite as backend

ADMIN = Actor.system()
WAIT = 0.2  # the busy timeout in these tests, seconds


@pytest.fixture(autouse=True)
def short_busy_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backend, "BUSY_TIMEOUT_S", WAIT)


def run(*args: str) -> Result:
    env = {"COLUMNS": "300", "NO_COLOR": "1", "PROPCARE_CONFIG": None, "PROPCARE_DB": None}
    return CliRunner().invoke(main, list(args), env=env)


def error_line(result: Result) -> str:
    """The one ``error:`` line of a refused command (warnings may come before it)."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    return line


def make_database(path: Path, *, version: int | None = None) -> str:
    """A propcare database with estate 1 at ``version`` (default: the newest)."""
    url = sqlite_url(path)
    with Propcare.open(url, load_entrypoints=False) as app:
        app.estates.create(ADMIN, "翠苑")
    if version is not None:  # an older release's file: the newest migrations not yet run
        path.unlink()
        backend.SqliteStorage(url, migrate_to=version).close()
    return url


@contextmanager
def write_lock_held(path: Path) -> Iterator[None]:
    """Another process's writer: holds the database's write lock until the block ends."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` (a file or a folder) read-only for this process while the block runs.

    The tests run as root in CI, and root ignores permission bits: there the file is made
    immutable (``chattr +i``, which binds root too); otherwise its write bits are cleared.
    Skips when neither makes it read-only here (a file system without the attribute)."""
    if os.geteuid() == 0:
        chattr = shutil.which("chattr")
        made = None
        if chattr is not None:
            made = subprocess.run([chattr, "+i", str(path)], capture_output=True, check=False)
        if made is None or made.returncode != 0:
            pytest.skip("as root, only chattr +i makes a file read-only, and it failed here")
        undo = [chattr or "chattr", "-i", str(path)]
    else:
        mode = path.stat().st_mode
        path.chmod(mode & ~0o222)
        undo = []
    try:
        if os.access(path, os.W_OK):
            pytest.skip(f"{path} stays writable for this process")
        yield
    finally:
        if undo:
            subprocess.run(undo, check=True)
        else:
            path.chmod(mode)


# --- a writer holds the lock too long ---------------------------------------------------------


def test_a_write_waiting_past_the_busy_timeout_is_database_locked(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    url = make_database(path)
    with Propcare.open(url, load_entrypoints=False) as app:
        with write_lock_held(path), pytest.raises(DatabaseLocked) as caught:
            app.estates.create(ADMIN, "B苑")
        assert isinstance(caught.value, StorageError | PropcareError)
        assert caught.value.value == url
        message = str(caught.value)
        assert "another writer holds the database's write lock" in message
        assert f"within {WAIT:g} s" in message and "try again" in message
        assert [e.name for e in app.estates.list(ADMIN)] == ["翠苑"]  # nothing was written
        app.estates.create(ADMIN, "B苑")  # the lock is free again: the same app writes


def test_opening_a_current_database_does_not_wait_for_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    url = make_database(path)
    with write_lock_held(path):
        started = time.monotonic()
        with Propcare.open(url, load_entrypoints=False) as app:
            assert [e.name for e in app.estates.list(ADMIN)] == ["翠苑"]
        assert time.monotonic() - started < WAIT


def test_a_migration_due_at_open_behind_a_held_lock_is_database_locked(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    newest = backend.newest_version()
    url = make_database(path, version=newest - 1)
    with write_lock_held(path), pytest.raises(DatabaseLocked, match="cannot open: another writer"):
        Propcare.open(url, load_entrypoints=False)
    with Propcare.open(url, load_entrypoints=False) as app:  # free again: it upgrades
        assert app.storage.schema_version() == newest


def test_the_cli_ends_a_held_lock_in_one_line_with_exit_code_1(tmp_path: Path) -> None:
    old, current = tmp_path / "old.db", tmp_path / "current.db"
    make_database(old, version=backend.newest_version() - 1)
    make_database(current)
    with write_lock_held(old):
        at_open = run("info", "--db", str(old))  # the migration at open waits
    with write_lock_held(current):
        writing = run("outbox", "requeue", "--db", str(current), "--estate", "1", "--all")
    for result in (at_open, writing):
        assert result.exit_code == 1
        line = error_line(result)
        assert line.startswith("error: database=") and "another writer holds" in line


# --- a read-only file or folder ------------------------------------------------------------------


def test_a_database_in_a_read_only_folder_opens_for_reading(tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    url = make_database(folder / "2025.db")
    before = sorted(os.listdir(folder))
    with read_only(folder), Propcare.open(url, load_entrypoints=False) as app:
        assert app.storage.readonly  # type: ignore[attr-defined]
        assert [e.name for e in app.estates.list(ADMIN)] == ["翠苑"]
        with app.unit_of_work(readonly=True) as uow:
            assert uow.estates.list_all()[0].name == "翠苑"
        with pytest.raises(ReadOnlyDatabase, match="is open read-only"):
            app.estates.create(ADMIN, "B苑")
    assert sorted(os.listdir(folder)) == before  # not even a -wal or -shm file


def test_a_read_only_database_file_opens_for_reading(tmp_path: Path) -> None:
    path = tmp_path / "locked-down.db"
    url = make_database(path)
    with read_only(path), Propcare.open(url, load_entrypoints=False) as app:
        assert [e.name for e in app.estates.list(ADMIN)] == ["翠苑"]
        with pytest.raises(ReadOnlyDatabase):
            app.estates.create(ADMIN, "B苑")


def test_a_read_only_database_that_needs_an_upgrade_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    newest = backend.newest_version()
    url = make_database(folder / "old.db", version=newest - 1)
    with read_only(folder), pytest.raises(ReadOnlyDatabase) as caught:
        Propcare.open(url, load_entrypoints=False)
    assert f"stands at schema version {newest - 1}" in str(caught.value)
    assert f"needs version {newest}" in str(caught.value) and "write access" in str(caught.value)


def test_the_cli_reads_a_read_only_database_and_refuses_to_write_in_one_line(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    db = folder / "2025.db"
    make_database(db)
    with read_only(folder):
        info = run("info", "--db", str(db))
        write = run("outbox", "requeue", "--db", str(db), "--estate", "1", "--all")
    assert info.exit_code == 0, info.output
    assert "Schema version" in info.stdout
    assert write.exit_code == 1
    assert "is open read-only" in error_line(write)


# --- another program's database -------------------------------------------------------------------


def _foreign(path: Path, *, tables: tuple[str, ...] = ("customers",)) -> bytes:
    with sqlite3.connect(path) as conn:
        for table in tables:
            conn.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name TEXT)")
            conn.execute(f"INSERT INTO {table} (name) VALUES ('theirs')")
    conn.close()
    return path.read_bytes()


def test_another_programs_database_is_refused_and_left_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "crm.sqlite"
    before = _foreign(path, tables=("customers", "orders"))
    with pytest.raises(ForeignDatabase) as caught:
        Propcare.open(sqlite_url(path), load_entrypoints=False)
    message = str(caught.value)
    assert "is not a propcare database" in message and "(customers, orders)" in message
    assert "adopt_foreign=True" in message
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["crm.sqlite"]
    # Holding nothing is not foreign: a new path, an empty file, an SQLite file without tables.
    empty, tableless = tmp_path / "empty.db", tmp_path / "tableless.db"
    empty.touch()
    with sqlite3.connect(tableless) as conn:
        conn.execute("PRAGMA user_version = 7")
    conn.close()
    for fresh in (tmp_path / "new.db", empty, tableless):
        with Propcare.open(sqlite_url(fresh), load_entrypoints=False) as app:
            assert app.storage.schema_version() == backend.newest_version()


def test_a_schema_version_table_of_another_tool_is_not_taken_for_propcares(
    tmp_path: Path,
) -> None:
    path = tmp_path / "flyway.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE schema_version (installed_rank INTEGER, version TEXT)")
        conn.execute("INSERT INTO schema_version VALUES (1, '1.0')")
    conn.close()
    before = path.read_bytes()
    with pytest.raises(ForeignDatabase):
        Propcare.open(sqlite_url(path), load_entrypoints=False)
    assert path.read_bytes() == before


def test_adopt_foreign_adds_propcares_tables_beside_theirs(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    _foreign(path)
    with Propcare.open(sqlite_url(path), load_entrypoints=False, adopt_foreign=True) as app:
        app.estates.create(ADMIN, "翠苑")
    with Propcare.open(sqlite_url(path), load_entrypoints=False) as app:  # propcare's now
        assert [e.name for e in app.estates.list(ADMIN)] == ["翠苑"]
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT name FROM customers").fetchall() == [("theirs",)]
    conn.close()


def test_a_backend_that_cannot_adopt_a_foreign_database_is_named() -> None:
    class MemoBackend:
        @hookimpl
        def propcare_storage_backends(self) -> list[StorageBackend]:
            return [StorageBackend(name="memo", open=lambda url: backend.open_sqlite("sqlite://"))]

    with pytest.raises(ConfigError, match="'memo' cannot add propcare's tables"):
        Propcare.open(
            "memo://x", plugins=[MemoBackend()], load_entrypoints=False, adopt_foreign=True
        )
    with Propcare.open("memo://x", plugins=[MemoBackend()], load_entrypoints=False) as app:
        assert app.storage.schema_version() == backend.newest_version()


def test_the_cli_refuses_another_programs_database_by_the_librarys_rule(tmp_path: Path) -> None:
    path = tmp_path / "crm.sqlite"
    before = _foreign(path)
    result = run("sla", "check", "--db", str(path), "--estate", "1")
    assert result.exit_code == 1
    line = error_line(result)
    assert "is not a propcare database" in line and "adopt_foreign" in line
    assert path.read_bytes() == before


def test_a_read_only_database_opens_with_a_new_years_file_and_leaves_the_flags(
    tmp_path: Path,
) -> None:
    # Opening recomputes the deadlines that waited for a year once its data is configured;
    # on a database it may not write, it reads them as they are instead of failing.
    from datetime import date, datetime
    from decimal import Decimal
    from zoneinfo import ZoneInfo

    from propcare import FixedClock

    path = tmp_path / "estate.db"
    url = f"sqlite:///{path}"
    sh = ZoneInfo("Asia/Shanghai")
    with Propcare.open(
        url, load_entrypoints=False, clock=FixedClock(datetime(2027, 1, 4, 9, tzinfo=sh))
    ) as app:
        estate = app.estates.create(ADMIN, "翠苑")
        unit = app.estates.add_unit(
            ADMIN, app.estates.add_building(ADMIN, estate.id, "1栋").id, "101", Decimal(90)
        )
        clerk = app.staff.create(ADMIN, estate.id, "王", ["front_desk"], date(2024, 1, 1))
        app.tickets.open(
            app.staff.actor_for(ADMIN, clerk.id, date(2024, 1, 1)), estate.id,
            category="home_repair", channel="phone", summary="漏水", unit_id=unit.id,
        )  # fmt: skip
    fixture = tmp_path / "fixture-2027.toml"
    fixture.write_text(
        'name = "test fixture, not the State Council schedule"\n'
        'covers = [2027]\ndays_off = ["2027-01-01"]\n',
        encoding="utf-8",
    )
    office = {"windows": {"mon-fri": ["09:00-12:00", "13:30-18:00"]},
              "sources": ["cn", {"file": str(fixture)}]}  # fmt: skip
    config = {"calendars": {"office": office, "24x7": {"always": True}}}
    with read_only(path), Propcare.open(url, load_entrypoints=False, config=config) as app:
        assert app.storage.readonly  # type: ignore[attr-defined]
        assert app.tickets.holiday_gaps(ADMIN, estate.id).tickets == 1  # still flagged
    with Propcare.open(url, load_entrypoints=False, config=config) as app:
        assert app.tickets.holiday_gaps(ADMIN, estate.id).tickets == 0  # writable: refreshed
