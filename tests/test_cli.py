"""The `propcare` command: version, info, demo, help texts and errors."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import propcare
from propcare import Actor, Propcare
from propcare.cli import database_url, main
from propcare.demo import is_propcare_database, sqlite_url
from propcare.storage.migrate import migrations

ADMIN = Actor.system()
# Wide and colourless, so a label never wraps and no escape code splits a word.
ENV: dict[str, str | None] = {"COLUMNS": "200", "FORCE_COLOR": None, "NO_COLOR": "1"}
FULL_MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
MASKED_MOBILE = re.compile(r"1[3-9]\d\*{4}\d{4}")


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=ENV)


def make_database(path: Path) -> int:
    with Propcare.open(sqlite_url(path), load_entrypoints=False) as app:
        return app.storage.schema_version()


# --- version and help ------------------------------------------------------------------


def test_version_prints_the_package_version() -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"propcare {propcare.__version__}"


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ((), ["--version", "info", "demo"]),
        (("info",), ["--db", "sqlite://:memory:", "missing file is not created"]),
        (
            ("demo",),
            [
                "--db",
                "propcare-demo.db",
                "--units",
                "10 buildings",
                "--months",
                "1 to 36",
                "--seed",
                "same seed",
                "--today",
                "YYYY-MM-DD",
            ],
        ),
    ],
)
def test_help_explains_every_option(command: tuple[str, ...], expected: list[str]) -> None:
    result = run(*command, "--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())  # help text is re-wrapped to the terminal
    for phrase in expected:
        assert phrase in text, phrase


# --- info -------------------------------------------------------------------------------


def test_info_on_the_default_in_memory_database() -> None:
    result = run("info")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "sqlite://:memory:" in out
    newest = migrations("sqlite")[-1].version
    assert re.search(rf"Schema version\s+{newest}\b", out)
    assert re.search(r"Storage backend\s+sqlite \(from builtin:propcare\.storage\.sqlite\)", out)
    assert "builtin:propcare.notify.log_channel" in out
    assert re.search(r"Channels configured\s+log\b", out)
    # Installed adapters (wechatpay, alipay) are listed too, by name.
    listed = r"Payment gateways(\s+\S+ \(from \S+\))*"
    assert re.search(listed + r"\s+counter \(from builtin:propcare\.ledger\.gateways\)", out)
    assert re.search(r"Plugins failed\s+none", out)


def test_info_reads_a_database_file_given_as_a_plain_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = make_database(tmp_path / "office.db")
    monkeypatch.chdir(tmp_path)
    result = run("info", "--db", "office.db")
    assert result.exit_code == 0, result.stderr
    assert "sqlite:///office.db" in result.stdout
    assert re.search(rf"Schema version\s+{version}\b", result.stdout)

    absolute = run("info", "--db", str(tmp_path / "office.db"))
    assert absolute.exit_code == 0, absolute.stderr
    assert f"sqlite:///{tmp_path}/office.db" in absolute.stdout


def test_plain_paths_become_sqlite_urls() -> None:
    assert database_url("x.db") == "sqlite:///x.db"
    assert database_url("/tmp/x.db") == "sqlite:////tmp/x.db"
    assert database_url("sqlite://:memory:") == "sqlite://:memory:"
    assert database_url("postgresql://h/db") == "postgresql://h/db"


def test_info_does_not_create_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    result = run("info", "--db", str(missing))
    assert result.exit_code == 2
    assert result.stderr.startswith("error: db=")
    assert "no such database file" in result.stderr
    assert not missing.exists()


def test_info_does_not_touch_a_foreign_sqlite_file(tmp_path: Path) -> None:
    foreign = tmp_path / "accounts.sqlite"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE ledger (x INTEGER)")
    conn.close()
    before = foreign.read_bytes()
    result = run("info", "--db", str(foreign))
    assert result.exit_code == 2
    assert "is not a propcare database" in result.stderr
    assert foreign.read_bytes() == before


def test_info_lists_entry_point_plugins_that_failed_to_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken = EntryPoint("broken-sms", "propcare_no_such_module:plugin", "propcare")

    def fake_entry_points(*, group: str) -> list[EntryPoint]:
        return [broken] if group == "propcare" else []

    monkeypatch.setattr("propcare.plugins.host.entry_points", fake_entry_points)
    result = run("info")
    assert result.exit_code == 0, result.stderr
    assert re.search(r"Plugins failed\s+1\b", result.stdout)
    assert "broken-sms" in result.stdout
    assert "ModuleNotFoundError" in result.stdout


def test_info_names_an_unknown_backend_in_one_line() -> None:
    result = run("info", "--db", "mysql://user:secret@host/db")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: storage backend='mysql'")
    assert "secret" not in result.stderr


# --- demo: bad input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--units", "0"], "error: units=0: must be a positive integer"),
        (["--units", "9"], "error: units=9: must be at least 10: the demo estate has 10 buildings"),
        (["--months", "0"], "error: months=0: must be an integer from 1 to 36"),
        (["--months", "37"], "error: months=37: must be an integer from 1 to 36"),
    ],
)
def test_demo_rejects_bad_options_with_one_line_and_exit_code_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    db = tmp_path / "d.db"
    result = run("demo", "--db", str(db), *args)
    assert result.exit_code == 2
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert not db.exists()


@pytest.mark.parametrize(
    "args", [["--units", "many"], ["--today", "2026-13-01"], ["--no-such-option"]]
)
def test_demo_rejects_malformed_arguments(tmp_path: Path, args: list[str]) -> None:
    result = run("demo", "--db", str(tmp_path / "d.db"), *args)
    assert result.exit_code == 2
    assert "Error" in result.stderr


def test_demo_refuses_to_replace_a_file_that_is_not_a_propcare_database(tmp_path: Path) -> None:
    thesis = tmp_path / "thesis.db"
    thesis.write_text("chapter one")
    result = run("demo", "--db", str(thesis), "--units", "10")
    assert result.exit_code == 2
    assert "not a propcare database" in result.stderr
    assert thesis.read_text() == "chapter one"


# --- demo: the real thing -------------------------------------------------------------------


def test_demo_prints_a_summary_without_full_phone_numbers(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    result = run("demo", "--db", str(db), "--units", "60", "--months", "2", "--today", "2026-11-02")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert re.search(r"Units 房屋\s+60 ", out)
    assert re.search(r"Buildings 楼栋\s+10\b", out)
    assert "2026-09-02 – 2026-11-02" in out
    assert f"Demo database left at {db.resolve()}" in out

    with Propcare.open(sqlite_url(db), load_entrypoints=False) as app:
        estate = app.estates.list(ADMIN)[0]
        phones = [p.reveal() for o in app.owners.list(ADMIN, estate.id) for p in o.phones]
        phones += [s.phone.reveal() for s in app.staff.list(ADMIN, estate.id) if s.phone]
        phones += [v.phone.reveal() for v in app.vendors.list(ADMIN, estate.id) if v.phone]
    printed = result.stdout + result.stderr
    assert phones and not [p for p in phones if p in printed]
    assert not FULL_MOBILE.search(printed)
    assert MASKED_MOBILE.search(out), "the sample owner shows a masked phone"


def _console_script() -> str:
    beside = Path(sys.executable).parent / "propcare"
    found = str(beside) if beside.exists() else shutil.which("propcare")
    if found is None:
        pytest.fail("the propcare console script is not installed (pip install -e '.[cli]')")
    return found


def test_installed_console_script_builds_and_leaves_the_demo_database(tmp_path: Path) -> None:
    db = tmp_path / "d.db"
    env = {k: v for k, v in os.environ.items() if k != "FORCE_COLOR"}
    env["COLUMNS"] = "200"
    done = subprocess.run(
        [_console_script(), "demo", "--db", str(db), "--units", "200", "--months", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"Units 房屋\s+200 ", done.stdout)
    assert "Time taken 用时" in done.stdout
    assert str(db) in done.stdout
    assert not FULL_MOBILE.search(done.stdout + done.stderr)

    assert db.exists() and is_propcare_database(db)
    with Propcare.open(sqlite_url(db), load_entrypoints=False) as app:
        estates = app.estates.list(ADMIN)
        assert len(estates) == 1
        assert len(app.estates.units(ADMIN, estates[0].id)) == 200
