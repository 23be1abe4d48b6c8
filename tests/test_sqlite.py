"""The embedded SQLite backend: URLs, migrations, two processes, and no IO at import."""

from __future__ import annotations

import multiprocessing
import sqlite3
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from propcare import Actor, Propcare, StorageError, UnitSpec, ValidationError
from propcare.errors import SchemaVersionError
from propcare.storage import sqlite as backend
from propcare.storage.migrate import migrations


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite://:memory:", ":memory:"),
        ("sqlite:///:memory:", ":memory:"),
        ("sqlite://", ":memory:"),
        ("sqlite:///estate.db", "estate.db"),
        ("sqlite:///data/estate.db", "data/estate.db"),
        ("sqlite:////var/lib/propcare/estate.db", "/var/lib/propcare/estate.db"),
        ("sqlite+pysqlite:///estate.db", "estate.db"),
    ],
)
def test_sqlite_urls(url: str, path: str) -> None:
    assert backend.parse_sqlite_url(url) == path


@pytest.mark.parametrize("url", ["sqlite:estate.db", "sqlite://estate.db", "sqlite:///"])
def test_malformed_sqlite_urls_say_how_to_write_one(url: str) -> None:
    with pytest.raises(ValidationError, match="sqlite:///relative/path.db"):
        backend.parse_sqlite_url(url)


def test_a_file_database_uses_wal_and_foreign_keys(tmp_path: Path) -> None:
    with Propcare.open(f"sqlite:///{tmp_path / 'w.db'}", load_entrypoints=False) as app:
        conn = app.storage.conn  # type: ignore[attr-defined]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000


def test_an_unopenable_path_is_a_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="cannot open"):
        Propcare.open(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}", load_entrypoints=False)


def test_a_database_of_an_older_schema_upgrades_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    # What an earlier release left: schema version 1 (registry only, no outbox) with data.
    conn = backend.connect(str(path))
    assert backend.migrate(conn, target=1) == 1
    conn.execute("INSERT INTO estates (name, timezone) VALUES ('老小区', 'Asia/Shanghai')")
    conn.execute("INSERT INTO buildings (estate_id, name) VALUES (1, '1栋')")
    conn.execute(
        "INSERT INTO units (estate_id, building_id, number, floor_area, use) "
        "VALUES (1, 1, '1-101', '88.80', 'residential')"
    )
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "outbox" not in tables
    conn.close()

    newest = migrations("sqlite")[-1].version
    admin = Actor.system()
    with Propcare.open(f"sqlite:///{path}", load_entrypoints=False) as app:
        assert app.storage.schema_version() == newest
        (unit,) = app.estates.units(admin, app.estates.list(admin)[0].id)
        assert (unit.number, unit.floor_area) == ("1-101", Decimal("88.80"))
        app.estates.add_unit(admin, unit.building_id, "1-102", Decimal("90"))  # uses the outbox
    with sqlite3.connect(path) as raw:
        versions = [r[0] for r in raw.execute("SELECT version FROM schema_version ORDER BY 1")]
    assert versions == list(range(1, newest + 1))


def test_a_database_of_a_newer_release_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    Propcare.open(f"sqlite:///{path}", load_entrypoints=False).close()
    with sqlite3.connect(path) as raw:
        raw.execute("INSERT INTO schema_version VALUES (999, 'future', '2030-01-01')")
    with pytest.raises(SchemaVersionError, match="newer propcare"):
        Propcare.open(f"sqlite:///{path}", load_entrypoints=False)


def test_a_failing_migration_leaves_the_last_good_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "half.db"
    conn = backend.connect(str(path))
    backend.migrate(conn, target=1)
    real = backend.migrations

    def broken(dialect: str) -> list[backend.Migration]:
        steps = real(dialect)
        # Complete statements, the last of which fails: the table already exists.
        bad = backend.Migration(2, steps[1].name, steps[1].sql + "\nCREATE TABLE estates (x);\n")
        return [steps[0], bad, *steps[2:]]

    monkeypatch.setattr(backend, "migrations", broken)
    with pytest.raises(sqlite3.OperationalError):
        backend.migrate(conn)
    assert backend.current_version(conn) == 1
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "outbox" not in tables
    conn.close()


def _writer(url: str, building_id: int, prefix: str, count: int) -> None:
    admin = Actor.system()
    with Propcare.open(url, load_entrypoints=False) as app:
        for i in range(count):
            # One transaction each, so the two processes interleave on the write lock.
            app.estates.add_unit(admin, building_id, f"{prefix}-{i:04d}", Decimal("66.6"))
            if i % 25 == 0:
                owner = app.owners.create(admin, 1, f"{prefix}业主{i}", ["13900000000"])
                assert owner.id > 0


@pytest.mark.slow
def test_two_processes_writing_one_file_lose_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    admin = Actor.system()
    with Propcare.open(url, load_entrypoints=False) as app:
        estate = app.estates.create(admin, "共享小区")
        building = app.estates.add_building(admin, estate.id, "1栋")
    count = 300
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(url, building.id, prefix, count)) for prefix in "AB"]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    with Propcare.open(url, load_entrypoints=False) as app:
        numbers = sorted(u.number for u in app.estates.units(admin, estate.id))
        owners = app.owners.list(admin, estate.id)
    assert numbers == sorted(f"{p}-{i:04d}" for p in "AB" for i in range(count))
    assert len(owners) == 2 * len(range(0, count, 25))


def test_bulk_units_in_one_transaction(app: Propcare, admin: Actor) -> None:
    estate = app.estates.create(admin, "大小区")
    building = app.estates.add_building(admin, estate.id, "1栋")
    specs = [
        UnitSpec(f"{i}", Decimal("70.25"), handover_date=date(2020, 1, 1)) for i in range(2000)
    ]
    assert len(app.estates.add_units(admin, building.id, specs)) == 2000
    with app.unit_of_work(readonly=True) as uow:
        assert uow.units.count(estate.id) == 2000


def test_importing_propcare_does_no_io(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import sys\n"
        "events = []\n"
        "def hook(event, args):\n"
        "    if event in ('open', 'sqlite3.connect', 'socket.connect', 'subprocess.Popen'):\n"
        "        target = str(args[0]) if args else ''\n"
        "        if not target.endswith(('.py', '.pyc', '.so', '.pth')) and '__pycache__' not in "
        "target and 'dist-info' not in target and not target.endswith('/'):\n"
        "            events.append((event, target))\n"
        "import importlib\n"
        "importlib.import_module('propcare.money')  # warm the import machinery first\n"
        "sys.addaudithook(hook)\n"
        "import propcare\n"
        "import propcare.app, propcare.storage.sqlite, propcare.plugins.host\n"
        "print(repr(events))\n"
    )
    out = subprocess.run(
        [sys.executable, str(probe)], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert out.stdout.strip() == "[]", out.stdout
