"""The `propcare` command: version, info, demo, arrears, bill-run, calendar, help and errors.

`propcare import units` is tested in test_cli_import.py.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from importlib.metadata import EntryPoint
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from click.testing import CliRunner, Result

import propcare
from propcare import Actor, Propcare
from propcare.cli import ROSTER_HEADERS, database_url, main
from propcare.demo import is_propcare_database, sqlite_url
from propcare.ledger.journal import JournalEntry, Posting
from propcare.registry.model import EstateId
from propcare.storage.migrate import migrations

pytestmark = pytest.mark.usefixtures("quiet_opening")


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
        (
            (),
            [
                "--version",
                "info",
                "demo",
                "report",
                "arrears",
                "bill-run",
                "import",
                "calendar",
                "sla",
            ],
        ),
        (
            ("report", "monthly"),
            [
                "--db",
                "--period",
                "YYYY-MM",
                "has not begun is refused",
                "--estate",
                "repeat it",
                "every estate",
                "--out",
                "opens without a network",
                "native charts",
                "--lang",
                "zh-CN|en",
                "--role",
            ],
        ),
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
                "--report-dir",
                "<db name>-report/",
            ],
        ),
        (
            ("arrears",),
            [
                "--db",
                "PROPCARE_DB",
                "--estate",
                "--building",
                "by id or by name",
                "--collector",
                "--sort",
                "largest debts first",
                "earliest unpaid period",
                "--out",
                "FILE.xlsx|FILE.csv",
                "money format",
                "frozen header",
                "UTF-8 with a BOM",
                "--table / --no-table",
                "--show-phones",
                "owner.reveal_contact",
                "--role",
                "front_desk",
            ],
        ),
        (
            ("bill-run",),
            [
                "--db",
                "--estate",
                "--period",
                "YYYY-MM",
                "must be open",
                "bills only what is missing",
            ],
        ),
        (("calendar",), ["check", "import-notice"]),
        (
            ("calendar", "check"),
            [
                "--year",
                "--calendar",
                "office",
                "--holiday-file",
                "calendar-files.md",
                "--today",
                "--db",
                "--config",
                "PROPCARE_CONFIG",
                "Exit 0 when every year checked is covered",
                "from 1 October",
                "2004-2026",
            ],
        ),
        (("calendar", "import-notice"), ["--out", "--year", "--force", "nothing is written"]),
        (("sla",), ["recompute", "check"]),
        (("sla", "recompute"), ["--db", "--estate", "--period", "--open-only", "--config"]),
        (("sla", "check"), ["--db", "--estate", "--config", "not be fully judged"]),
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


# A server nobody listens on (port 1): the command fails to connect, and says where it tried.
SECRET_URLS = [
    ("postgresql://user:pa/ssS3cr3t@127.0.0.1:1/x", "postgresql://user:***@127.0.0.1:1/x"),
    ("postgresql://user:pa@ssS3cr3t@127.0.0.1:1/x", "postgresql://user:***@127.0.0.1:1/x"),
    ("postgresql://user:paS3cr3t@127.0.0.1:1/x", "postgresql://user:***@127.0.0.1:1/x"),
    ("postgresql://user:pa%zzS3cr3t@127.0.0.1:1/x", "postgresql://user:***@127.0.0.1:1/x"),
    (
        "postgresql://user@127.0.0.1:1/x?password=paS3cr3t&sslmode=disable",
        "postgresql://user@127.0.0.1:1/x?password=***&sslmode=disable",
    ),
]


@pytest.mark.parametrize(("url", "shown"), SECRET_URLS)
def test_info_never_shows_a_database_password(url: str, shown: str) -> None:
    pytest.importorskip("propcare_postgres")
    result = run("info", "--db", url)
    assert result.exit_code != 0
    assert result.stderr.startswith(f"error: url={shown!r}: "), result.stderr
    assert "S3cr3t" not in result.output and "pa/ss" not in result.output
    assert "pa@ss" not in result.output and '"pa"' not in result.output
    assert "Traceback" not in result.output


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
    report = tmp_path / "d-report" / "monthly-2026-10-1.html"
    assert f"Monthly report written to {report}" in out
    assert report.is_file() and (tmp_path / "d-report" / "monthly-2026-10-1.xlsx").is_file()

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


# --- a small billed estate, built through the API -----------------------------------------------

HANDED_OVER = date(2025, 6, 1)


@dataclass(frozen=True)
class Estate:
    db: Path
    id: EstateId
    b1: int
    collector: int


def build_estate(path: Path) -> Estate:
    """翠苑: 1栋 101 (张三, 90 m2) and 102 (no owner, 120 m2), 2栋 201 (李四, 80 m2);
    物业费 2.50 元/m2/month; 王收费 collects in 1栋."""
    with Propcare.open(sqlite_url(path), load_entrypoints=False) as app:
        estate = app.estates.create(ADMIN, "翠苑")
        b1 = app.estates.add_building(ADMIN, estate.id, "1栋")
        b2 = app.estates.add_building(ADMIN, estate.id, "2栋")
        u101 = app.estates.add_unit(ADMIN, b1.id, "101", Decimal(90), handover_date=HANDED_OVER)
        app.estates.add_unit(ADMIN, b1.id, "102", Decimal(120), handover_date=HANDED_OVER)
        u201 = app.estates.add_unit(ADMIN, b2.id, "201", Decimal(80), handover_date=HANDED_OVER)
        zhang = app.owners.create(ADMIN, estate.id, "张三", ["13812345678"])
        li = app.owners.create(ADMIN, estate.id, "李四", ["13987654321"])
        app.owners.assign(ADMIN, u101.id, zhang.id, HANDED_OVER)
        app.owners.assign(ADMIN, u201.id, li.id, HANDED_OVER)
        wang = app.staff.create(ADMIN, estate.id, "王收费", ["collector"], date(2025, 1, 1))
        app.collection.assign_collector(
            ADMIN, estate.id, wang.id, start=date(2025, 1, 1), building_id=b1.id
        )
        app.billing.add_fee_item(
            ADMIN, estate.id, "property_fee", "物业费", "area", rates={"residential": "2.50"}
        )
    return Estate(path, estate.id, b1.id, wang.id)


@pytest.fixture
def estate(tmp_path: Path) -> Estate:
    return build_estate(tmp_path / "cuiyuan.db")


@pytest.fixture
def billed(estate: Estate) -> Estate:
    """The estate with 2026-01 and 2026-02 billed and nothing paid: 1,450.00 owed."""
    with Propcare.open(sqlite_url(estate.db), load_entrypoints=False) as app:
        for period in ("2026-01", "2026-02"):
            app.billing.run(ADMIN, estate.id, period)
    return estate


def arrears(e: Estate, *args: str) -> Result:
    return run("arrears", "--db", str(e.db), "--estate", str(e.id), *args)


def _one_line_error(result: Result, code: int, start: str) -> None:
    assert result.exit_code == code, result.output
    assert result.stderr.startswith(start), result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


# --- report monthly ------------------------------------------------------------------------------


def report(e: Estate, out: Path, *args: str) -> Result:
    return run("report", "monthly", "--db", str(e.db), "--out", str(out), *args)


def _csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


@pytest.fixture
def billed_on_time(estate: Estate) -> Estate:
    """The estate with 2026-01 and 2026-02 billed on their first mornings, nothing paid."""
    with Propcare.open(sqlite_url(estate.db), load_entrypoints=False) as app:
        for month in (1, 2):
            at = datetime(2026, month, 1, 9, tzinfo=ZoneInfo("Asia/Shanghai"))
            app.billing.run(ADMIN, estate.id, f"2026-{month:02d}", at=at)
    return estate


def test_report_monthly_writes_html_xlsx_and_csv_of_the_estate(
    billed_on_time: Estate, tmp_path: Path
) -> None:
    billed = billed_on_time
    out = tmp_path / "reports"
    result = report(billed, out, "--period", "2026-02", "--estate", str(billed.id))
    assert result.exit_code == 0, result.stderr
    stem = f"monthly-2026-02-{billed.id}"
    for name in (f"{stem}.html", f"{stem}.xlsx"):
        assert str(out / name) in result.stdout
        assert (out / name).is_file()
    assert f"CSV    12 files in {out / (stem + '-csv')}" in result.stdout
    # 2026-02 billed 725.00 and nothing was paid; both months, 1,450.00, are owed.
    assert _csv(out / f"{stem}-csv" / "collection_summary.csv") == [
        [
            "月份",
            "本期应收",
            "本期实收",
            "补偿金折抵",
            "其他折抵",
            "收缴率",
            "历史欠费清缴",
            "欠费余额",
        ],
        ["2026-02", "725.00", "0.00", "0.00", "0.00", "0.0000", "0.00", "1450.00"],
    ]
    book = openpyxl.load_workbook(out / f"{stem}.xlsx")
    try:
        assert len(book.sheetnames) == 13  # the overview and one sheet per section
    finally:
        book.close()
    assert "<svg" in (out / f"{stem}.html").read_text(encoding="utf-8")


def test_report_monthly_in_english(billed_on_time: Estate, tmp_path: Path) -> None:
    billed = billed_on_time
    result = report(billed, tmp_path, "--period", "2026-02", "--lang", "en")
    assert result.exit_code == 0, result.stderr
    rows = _csv(tmp_path / f"monthly-2026-02-{billed.id}-csv" / "collection_summary.csv")
    assert rows[0][:3] == ["Month", "Billed", "Collected"] and rows[1][1] == "725.00"


def test_report_monthly_reports_every_estate_without_estate(billed: Estate, tmp_path: Path) -> None:
    with Propcare.open(sqlite_url(billed.db), load_entrypoints=False) as app:
        other = app.estates.create(ADMIN, "枫林苑")
    result = report(billed, tmp_path, "--period", "2026-02")
    assert result.exit_code == 0, result.stderr
    assert "翠苑" in result.stdout and "枫林苑" in result.stdout
    for estate_id in (billed.id, other.id):
        assert (tmp_path / f"monthly-2026-02-{estate_id}.xlsx").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--period", "2999-01"], "error: period='2999-01': has not begun yet"),
        (["--period", "2026-02", "--estate", "99"], "error: estate=99: no such estate; "),
        (
            ["--period", "2026-02", "--role", "front_desk"],
            "error: action='commission.read': propcare-cli (roles front_desk) may not do this",
        ),
    ],
)
def test_report_monthly_refusals_exit_1_and_write_nothing(
    billed: Estate, tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "reports"
    _one_line_error(report(billed, out, *args), 1, message)
    assert not out.exists()


def test_report_monthly_usage_errors_exit_2(billed: Estate, tmp_path: Path) -> None:
    result = report(billed, tmp_path, "--period", "2026-02", "--lang", "fr")
    assert result.exit_code == 2
    assert "'fr' is not one of 'zh-CN', 'en'" in result.stderr


# --- bill-run -----------------------------------------------------------------------------------


def test_bill_run_bills_a_period_once_and_says_what_it_did(estate: Estate) -> None:
    first = run(
        "bill-run", "--db", str(estate.db), "--estate", str(estate.id), "--period", "2026-01"
    )
    assert first.exit_code == 0, first.stderr
    assert re.search(r"Lines billed now 本次出账\s+3\b", first.stdout)
    assert re.search(r"Lines already billed 已出账\s+0\b", first.stdout)
    assert re.search(r"Total billed now 本次金额\s+725\.00 元", first.stdout)
    assert "翠苑" in first.stdout and "2026-01" in first.stdout

    again = run(
        "bill-run", "--db", str(estate.db), "--estate", str(estate.id), "--period", "2026-01"
    )
    assert again.exit_code == 0, again.stderr
    assert re.search(r"Lines billed now 本次出账\s+0\b", again.stdout)
    assert re.search(r"Lines already billed 已出账\s+3\b", again.stdout)
    assert re.search(r"Total billed now 本次金额\s+0\.00 元", again.stdout)


@pytest.mark.parametrize(
    ("period", "message"),
    [
        ("2999-01", "error: period='2999-01': is not open yet: the current month is "),
        ("2026-1", "error: period='2026-1': a billing period is written YYYY-MM"),
    ],
)
def test_bill_run_refuses_a_period_it_cannot_bill_with_exit_1(
    estate: Estate, period: str, message: str
) -> None:
    result = run("bill-run", "--db", str(estate.db), "--estate", str(estate.id), "--period", period)
    _one_line_error(result, 1, message)
    with Propcare.open(sqlite_url(estate.db), load_entrypoints=False) as app:
        assert app.arrears.roster(ADMIN, estate.id) == []


def test_bill_run_names_the_estates_there_are_for_an_unknown_estate(estate: Estate) -> None:
    result = run("bill-run", "--db", str(estate.db), "--estate", "99", "--period", "2026-01")
    _one_line_error(result, 1, "error: estate=99: no such estate; the estates here: 1 翠苑")


def test_bill_run_needs_its_options(estate: Estate) -> None:
    result = run("bill-run", "--db", str(estate.db), "--estate", str(estate.id))
    assert result.exit_code == 2
    assert "Missing option '--period'" in result.stderr


# --- arrears ---------------------------------------------------------------------------------


def test_arrears_prints_the_roster_with_masked_phones(billed: Estate) -> None:
    result = arrears(billed)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    lines = [ln for ln in out.splitlines() if re.match(r"\s+[12]栋\s", ln)]
    # Largest debt first: 102 (600.00), 101 (450.00), 201 (400.00).
    assert [re.split(r"\s{2,}", ln.strip())[1] for ln in lines] == ["102", "101", "201"]
    row = r"1栋\s+101\s+张三\s+138\*\*\*\*5678\s+物业费\s+2026-01, 2026-02\s+2\s+2026\s+450\.00"
    assert re.search(row + rf"\s+{_days_past('2026-01-16')}\s+王收费", out)  # days past due
    assert re.search(r"2栋\s+201\s+李四\s+139\*\*\*\*4321\s+物业费", out)
    assert "Arrears of 翠苑 (estate 1): 3 lines, 3 units, total 1,450.00 元" in out
    assert not FULL_MOBILE.search(out + result.stderr)


@pytest.mark.parametrize("role", [None, "finance"])
def test_arrears_shows_phones_to_a_role_allowed_to_reveal_them(
    billed: Estate, role: str | None
) -> None:
    result = arrears(billed, "--show-phones", *(["--role", role] if role else []))
    assert result.exit_code == 0, result.stderr
    assert "13812345678" in result.stdout and "13987654321" in result.stdout


def test_arrears_refuses_full_phones_to_the_front_desk_with_exit_1(billed: Estate) -> None:
    masked = arrears(billed, "--role", "front_desk")
    assert masked.exit_code == 0, masked.stderr
    assert "138****5678" in masked.stdout

    refused = arrears(billed, "--role", "front_desk", "--show-phones")
    _one_line_error(refused, 1, "error: action='owner.reveal_contact': ")
    assert "(roles front_desk) may not do this on owner" in refused.stderr
    assert refused.stdout == ""
    assert not FULL_MOBILE.search(refused.stdout + refused.stderr)


def test_arrears_refuses_a_role_that_may_not_read_the_ledger(billed: Estate) -> None:
    result = arrears(billed, "--role", "technician")
    _one_line_error(result, 1, "error: action='ledger.read': ")


def test_arrears_role_is_limited_to_the_estate_given(billed: Estate) -> None:
    with Propcare.open(sqlite_url(billed.db), load_entrypoints=False) as app:
        other = app.estates.create(ADMIN, "别的小区")
    result = run("arrears", "--db", str(billed.db), "--estate", str(other.id), "--role", "finance")
    assert result.exit_code == 0, result.stderr
    assert "0 lines" in result.stdout  # its own, empty estate; nothing of 翠苑


@pytest.mark.parametrize("building", ["1栋", "BUILDING_ID"])
def test_arrears_filters_by_building_name_or_id(billed: Estate, building: str) -> None:
    chosen = str(billed.b1) if building == "BUILDING_ID" else building
    result = arrears(billed, "--building", chosen, "--sort", "unit")
    assert result.exit_code == 0, result.stderr
    assert re.search(r"1栋\s+101\s.*\n.*1栋\s+102\s", result.stdout)
    assert "2栋" not in result.stdout
    assert "2 lines, 2 units, total 1,050.00 元" in result.stdout


@pytest.mark.parametrize("collector", ["王收费", "COLLECTOR_ID"])
def test_arrears_filters_by_collector_name_or_id(billed: Estate, collector: str) -> None:
    chosen = str(billed.collector) if collector == "COLLECTOR_ID" else collector
    result = arrears(billed, "--collector", chosen)
    assert result.exit_code == 0, result.stderr
    assert "2 lines, 2 units, total 1,050.00 元" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--building", "9栋"], "error: building='9栋': no building of 翠苑 has this id or name; "),
        (["--collector", "nobody"], "error: collector='nobody': no collector of 翠苑 "),
    ],
)
def test_arrears_names_what_exists_for_an_unknown_filter(
    billed: Estate, args: list[str], message: str
) -> None:
    result = arrears(billed, *args)
    _one_line_error(result, 1, message)
    if "--building" in args:
        assert f"there are: {billed.b1} 1栋, " in result.stderr


def test_arrears_sorts_by_the_oldest_period(billed: Estate) -> None:
    with Propcare.open(sqlite_url(billed.db), load_entrypoints=False) as app:
        u201 = next(u for u in app.estates.units(ADMIN, billed.id) if u.number == "201")
        bill = JournalEntry(
            billed.id,
            "bill",
            datetime(2025, 12, 1, 10, tzinfo=ZoneInfo("Asia/Shanghai")),
            "old-bill",
            "test",
            (
                Posting("receivable", 500, u201.id, "property_fee", "2025-12"),
                Posting("revenue", -500, sub="property_fee"),
            ),
        )
        with app.unit_of_work() as uow:
            app.ledger.post_in(uow, bill)
            uow.commit()
    result = arrears(billed, "--sort", "oldest")
    assert result.exit_code == 0, result.stderr
    first = next(ln for ln in result.stdout.splitlines() if re.match(r"\s+[12]栋\s", ln))
    assert "201" in first and "2025-12 … 2026-02" in first


def test_arrears_writes_an_xlsx_file_with_numbers_a_money_format_and_a_frozen_header(
    billed: Estate, tmp_path: Path
) -> None:
    out = tmp_path / "欠费.xlsx"
    result = arrears(billed, "--out", str(out), "--show-phones")
    assert result.exit_code == 0, result.stderr
    assert "Written to" in result.stdout and str(out) in result.stdout
    assert "1栋  " not in result.stdout, "no table unless asked for with --table"
    assert "3 lines, 3 units, total 1,450.00 元" in result.stdout

    book = openpyxl.load_workbook(out)
    sheet = book.worksheets[0]
    assert sheet.title == "欠费清单"
    assert sheet.freeze_panes == "A2"
    assert tuple(c.value for c in sheet[1]) == ROSTER_HEADERS
    amount = ROSTER_HEADERS.index("欠费金额 Amount (元)")
    months = ROSTER_HEADERS.index("月数 Months")
    rows = [[c for c in row] for row in sheet.iter_rows(min_row=2, max_row=4)]
    assert [r[1].value for r in rows] == ["102", "101", "201"]
    assert [r[amount].value for r in rows] == [600, 450, 400]
    assert all(isinstance(r[amount].value, int | float) for r in rows)
    assert all(r[amount].number_format == "#,##0.00" for r in rows)
    assert [r[months].value for r in rows] == [2, 2, 2]
    assert rows[1][3].value == "13812345678"
    assert rows[1][ROSTER_HEADERS.index("催收员 Collector")].value == "王收费"
    assert rows[1][ROSTER_HEADERS.index("到期日 Due")].value == "2026-01-16"
    days = ROSTER_HEADERS.index("逾期天数 Days past due")
    assert rows[1][days].value == _days_past("2026-01-16")
    total = sheet[5]
    assert total[0].value == "合计 Total"
    assert total[amount].value == "=SUM(I2:I4)"
    assert sheet.auto_filter.ref == "A1:N4"


def test_arrears_writes_a_csv_file_in_utf8_with_a_bom(billed: Estate, tmp_path: Path) -> None:
    out = tmp_path / "arrears.csv"
    result = arrears(billed, "--out", str(out), "--table")
    assert result.exit_code == 0, result.stderr
    assert re.search(r"1栋\s+101\s+张三", result.stdout), "--table prints the table too"
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    assert tuple(rows[0]) == ROSTER_HEADERS
    due, days = "2026-01-16", str(_days_past("2026-01-16"))
    assert rows[1:] == [
        ["1栋", "102", "", "", "物业费", "2026-01, 2026-02", "2", "2026", "600.00", due, days,
         "0.00", "王收费", ""],
        ["1栋", "101", "张三", "138****5678", "物业费", "2026-01, 2026-02", "2", "2026", "450.00",
         due, days, "0.00", "王收费", ""],
        ["2栋", "201", "李四", "139****4321", "物业费", "2026-01, 2026-02", "2", "2026", "400.00",
         due, days, "0.00", "", ""],
    ]  # fmt: skip


def _days_past(due: str) -> int:
    """Days from ``due`` to today in Shanghai (the CLI reads the roster as of now)."""
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    return (today - date.fromisoformat(due)).days


def test_arrears_lists_what_is_not_due_yet_only_when_asked(billed: Estate) -> None:
    """A bill is arrears once its due date has passed: right after a bill run whose bills
    fall due later, the roster is what was already past due; --include-not-due adds them."""
    with Propcare.open(sqlite_url(billed.db), load_entrypoints=False) as app:
        app.billing.update_fee_item(ADMIN, billed.id, "property_fee", due=366)
        current = datetime.now(ZoneInfo("Asia/Shanghai"))
        app.billing.run(ADMIN, billed.id, f"{current:%Y-%m}")  # due in a year
    past_due = arrears(billed)
    assert past_due.exit_code == 0, past_due.stderr
    assert "3 lines, 3 units, total 1,450.00 元" in past_due.stdout
    assert "其中未到期" not in past_due.stdout
    everything = arrears(billed, "--include-not-due")
    assert everything.exit_code == 0, everything.stderr
    summary = "3 lines, 3 units, total 2,175.00 元 (not yet due 725.00 元)"
    assert summary in everything.stdout
    # 101: 450.00 past due and this month's 225.00 not yet due, on one line of 3 months.
    row = r"1栋\s+101\s.*\s3\s+2026(, \d{4})?\s+675\.00\s+\d+\s+225\.00\s+王收费"
    assert re.search(row, everything.stdout)


HOSTILE_NAME = '=HYPERLINK("http://x","y")'


@pytest.fixture
def hostile(billed: Estate) -> Estate:
    """The billed estate, with unit 102 owned by someone named like a formula."""
    with Propcare.open(sqlite_url(billed.db), load_entrypoints=False) as app:
        (unit,) = [u for u in app.estates.units(ADMIN, billed.id) if u.number == "102"]
        owner = app.owners.create(ADMIN, billed.id, HOSTILE_NAME, ["13700001111"])
        app.owners.assign(ADMIN, unit.id, owner.id, HANDED_OVER)
    return billed


def test_the_arrears_csv_never_writes_a_name_as_a_formula(hostile: Estate, tmp_path: Path) -> None:
    out = tmp_path / "arrears.csv"
    result = arrears(hostile, "--out", str(out))
    assert result.exit_code == 0, result.stderr
    rows = list(csv.reader(out.read_bytes().decode("utf-8-sig").splitlines()))
    assert rows[1][:4] == ["1栋", "102", "'" + HOSTILE_NAME, "137****1111"]
    assert rows[1][6] == "2" and rows[1][8] == "600.00"  # numbers stay numbers


def test_the_arrears_workbook_stores_a_name_as_text_not_a_formula(
    hostile: Estate, tmp_path: Path
) -> None:
    out = tmp_path / "arrears.xlsx"
    result = arrears(hostile, "--out", str(out))
    assert result.exit_code == 0, result.stderr
    sheet = openpyxl.load_workbook(out).worksheets[0]
    owner = sheet["C2"]
    assert (owner.value, owner.data_type, owner.quotePrefix) == (HOSTILE_NAME, "s", True)
    assert (sheet["C3"].value, sheet["C3"].quotePrefix) == ("张三", False)
    assert (sheet["I2"].value, sheet["I2"].data_type) == (600, "n")
    formulas = [c.coordinate for row in sheet.iter_rows() for c in row if c.data_type == "f"]
    assert formulas == ["I5"]  # only the total row's own SUM


def test_arrears_refuses_an_output_name_it_cannot_write(billed: Estate, tmp_path: Path) -> None:
    wrong = arrears(billed, "--out", str(tmp_path / "arrears.txt"))
    assert wrong.exit_code == 2
    assert "must end in .xlsx or .csv" in wrong.stderr

    nowhere = arrears(billed, "--out", str(tmp_path / "no" / "such" / "dir.xlsx"))
    _one_line_error(nowhere, 1, "error: out=")
    assert "cannot be written" in nowhere.stderr


def test_arrears_takes_the_database_from_propcare_db(billed: Estate) -> None:
    result = CliRunner().invoke(
        main, ["arrears", "--estate", str(billed.id)], env={**ENV, "PROPCARE_DB": str(billed.db)}
    )
    assert result.exit_code == 0, result.stderr
    assert "total 1,450.00 元" in result.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--estate", "1"], 2, "Missing option '--db'"),
        (["--db", "DB"], 2, "Missing option '--estate'"),
        (["--db", "DB", "--estate", "one"], 2, "'one' is not a valid integer"),
        (["--db", "DB", "--estate", "1", "--sort", "name"], 2, "Invalid value for '--sort'"),
        (["--db", "DB", "--estate", "1", "--role", "boss"], 2, "Invalid value for '--role'"),
        (["--db", "MISSING", "--estate", "1"], 1, "error: db="),
    ],
)
def test_arrears_usage_errors_exit_2_and_refusals_exit_1(
    billed: Estate, tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    swap = {"DB": str(billed.db), "MISSING": str(tmp_path / "typo.db")}
    result = CliRunner().invoke(
        main, ["arrears", *(swap.get(a, a) for a in args)], env={**ENV, "PROPCARE_DB": None}
    )
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert not (tmp_path / "typo.db").exists()
