"""`propcare calendar check`, `calendar import-notice`, `sla recompute`, `sla check`, and
`--config` on every command: crossing a year boundary from the command line."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

from propcare import Actor, FixedClock, Propcare
from propcare.calendar_sources import china_holidays, read_calendar_file
from propcare.cli import main
from propcare.demo import sqlite_url

SH = ZoneInfo("Asia/Shanghai")
ADMIN = Actor.system()
ENV: dict[str, str | None] = {"COLUMNS": "200", "FORCE_COLOR": None, "NO_COLOR": "1"}
CN_YEARS = china_holidays().years
UNCOVERED = max(CN_YEARS) + 1
NOTICES = Path(__file__).parent / "data" / "notices"

# A TEST FIXTURE for the year after chinesecalendar's last, not an official schedule: it
# names only 1 January (New Year's Day is fixed by law).
FIXTURE = (
    f'name = "test fixture {UNCOVERED} (not the State Council schedule)"\n'
    f'covers = [{UNCOVERED}]\ndays_off = ["{UNCOVERED}-01-01"]\ndays_on = []\n'
)


pytestmark = pytest.mark.usefixtures("quiet_opening")


def run(*args: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env={**ENV, **(env or {})})


def one_line_error(result: Result, code: int, start: str) -> None:
    assert result.exit_code == code, result.output
    assert result.stderr.startswith(start), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def config_with_fixture(folder: Path, *, night: bool = False) -> Path:
    write(folder / "fixture.toml", FIXTURE)
    extra = (
        '\n[calendars.night]\nwindows = { mon-sun = ["22:00-24:00"] }\nsources = ["cn"]\n'
        if night
        else ""
    )
    return write(
        folder / "propcare.toml",
        '[calendars.office]\nwindows = { mon-fri = ["09:00-12:00", "13:30-18:00"] }\n'
        'sources = ["cn", { file = "fixture.toml" }]\n\n'
        "[calendars.24x7]\nalways = true\n" + extra,
    )


# --- calendar check ------------------------------------------------------------------------------


def test_calendar_check_names_the_source_of_a_covered_year() -> None:
    year = max(CN_YEARS)
    result = run("calendar", "check", "--year", str(year))
    assert result.exit_code == 0, result.stderr
    assert re.search(
        rf"cn \(chinesecalendar [\d.]+\)\s+{min(CN_YEARS)}-{year}\s+yes", result.stdout
    )
    assert (
        f"Calendar 'office' has holiday data for {year}, from cn (chinesecalendar" in result.stdout
    )


def test_calendar_check_says_how_to_add_a_missing_year_with_exit_1() -> None:
    result = run("calendar", "check", "--year", str(UNCOVERED), "--calendar", "office")
    one_line_error(result, 1, f"error: year={UNCOVERED}: calendar 'office' has no holiday data")
    assert "propcare calendar import-notice" in result.stderr
    assert "docs/how-to/add-next-years-holidays.md" in result.stderr
    assert f"--year {UNCOVERED} --calendar office --holiday-file FILE" in result.stderr
    assert re.search(r"cn \(chinesecalendar [\d.]+\)\s+\S+\s+no", result.stdout)


def test_without_a_year_it_checks_this_year_and_next_and_only_notes_next_before_october() -> None:
    today = f"{max(CN_YEARS)}-09-30"
    result = run("calendar", "check", "--today", today)
    assert result.exit_code == 0, result.output
    assert re.search(rf"{max(CN_YEARS)}\s+{UNCOVERED}", result.stdout)  # both years' columns
    assert re.search(r"cn \(chinesecalendar [\d.]+\)\s+\S+\s+yes\s+no", result.stdout)
    assert f"no holiday data for {UNCOVERED} yet (93 days to go)" in result.stdout
    assert "ignores public holidays" in result.stdout  # 24x7: every configured calendar


@pytest.mark.parametrize(
    ("today", "remain"),
    [("10-01", "92 days remain"), ("12-08", "24 days remain"), ("12-31", "1 days remain")],
)
def test_from_the_first_of_october_a_missing_next_year_fails_with_the_days_left(
    today: str, remain: str
) -> None:
    result = run("calendar", "check", "--today", f"{max(CN_YEARS)}-{today}")
    one_line_error(result, 1, f"error: year={UNCOVERED}: calendar 'office' has no holiday data")
    assert f"{remain} until 1 January {UNCOVERED}" in result.stderr
    assert f"import-notice notice-{UNCOVERED}.txt --out holidays-{UNCOVERED}.toml" in (
        result.stderr
    )
    assert "propcare sla recompute" in result.stderr


def test_in_a_year_without_data_the_check_says_the_year_has_begun() -> None:
    result = run("calendar", "check", "--today", f"{UNCOVERED}-01-04")
    one_line_error(result, 1, f"error: year={UNCOVERED}: calendar 'office' has no holiday data")
    assert f"{UNCOVERED} has already begun" in result.stderr


def test_the_configured_calendars_are_checked_including_a_companys_own(tmp_path: Path) -> None:
    config = config_with_fixture(tmp_path, night=True)
    result = run("calendar", "check", "--config", str(config), "--today", f"{UNCOVERED}-01-04")
    # office has the fixture for the new year; the company's own "night" calendar has not.
    one_line_error(result, 1, f"error: year={UNCOVERED}: calendar 'night' has no holiday data")
    assert f"Calendar 'office' has holiday data for {UNCOVERED}, from file test fixture" in (
        result.stdout
    )
    assert "Calendar night · holiday data" in result.stdout
    only_office = run(
        "calendar", "check", "--calendar", "office", "--today", f"{UNCOVERED}-01-04",
        env={"PROPCARE_CONFIG": str(config)},
    )  # fmt: skip
    assert only_office.exit_code == 0, only_office.output


def test_calendar_check_layers_a_holiday_file_that_adds_the_year(tmp_path: Path) -> None:
    file = write(tmp_path / f"china-{UNCOVERED}.toml", FIXTURE)
    result = run("calendar", "check", "--year", str(UNCOVERED), "--holiday-file", str(file))
    assert result.exit_code == 0, result.stderr
    assert re.search(rf"file test fixture {UNCOVERED} .*\s+{UNCOVERED}\s+yes", result.stdout)


def test_calendar_check_refuses_a_broken_holiday_file_with_exit_1(tmp_path: Path) -> None:
    file = write(tmp_path / "broken.toml", 'covers = [2027]\ndays_off = ["2027-02-30"]\n')
    result = run("calendar", "check", "--year", "2027", "--holiday-file", str(file))
    one_line_error(result, 1, "error: ")
    assert "2027-02-30" in result.stderr and "is not a real calendar date" in result.stderr


def test_calendar_check_a_24x7_calendar_needs_no_holidays() -> None:
    result = run("calendar", "check", "--year", str(UNCOVERED), "--calendar", "24x7")
    assert result.exit_code == 0, result.stderr
    assert "ignores public holidays" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--year", "2027", "--calendar", "night"], "no calendar 'night'; the calendars: office"),
        (["--year", "twenty"], "'twenty' is not a valid integer"),
        (["--year", "1800"], "1800 is not in the range 1900<=x<=9998"),
        (["--today", "1 Oct"], "'1 Oct' does not match the format '%Y-%m-%d'"),
        (["--year", "2027", "--holiday-file", "nowhere.toml"], "does not exist"),
        (["--config", "nowhere.toml"], "does not exist"),
    ],
)
def test_calendar_check_usage_errors_exit_2(args: list[str], message: str) -> None:
    result = run("calendar", "check", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_a_broken_configuration_is_refused_naming_the_file_and_key(tmp_path: Path) -> None:
    config = write(tmp_path / "propcare.toml", "[calendars.office]\nwindows = 9\n")
    result = run("calendar", "check", "--config", str(config))
    one_line_error(result, 1, f"error: {config}: calendars.office.windows=9")


# --- the tickets waiting for data, from the command line --------------------------------------


def _estate_with_provisional_tickets(path: Path, year: int = UNCOVERED) -> int:
    clock = FixedClock(datetime(year, 1, 4, 9, 0, tzinfo=SH))
    with Propcare.open(sqlite_url(path), load_entrypoints=False, clock=clock) as app:
        estate = app.estates.create(ADMIN, "翠苑")
        building = app.estates.add_building(ADMIN, estate.id, "1栋")
        unit = app.estates.add_unit(ADMIN, building.id, "101", Decimal(90))
        clerk = app.staff.create(ADMIN, estate.id, "王客服", ["front_desk"], date(2000, 1, 1))
        actor = app.staff.actor_for(ADMIN, clerk.id, date(2000, 1, 1))
        for summary in ("漏水", "停电"):
            app.tickets.open(
                actor, estate.id, category="home_repair", channel="phone", summary=summary,
                unit_id=unit.id,
            )  # fmt: skip
        return int(estate.id)


def test_calendar_check_counts_the_tickets_waiting_for_the_year(tmp_path: Path) -> None:
    db = tmp_path / "estate.db"
    _estate_with_provisional_tickets(db)
    result = run("calendar", "check", "--db", str(db), "--today", f"{UNCOVERED}-01-05")
    assert result.exit_code == 1
    assert "Tickets waiting for holiday data" in result.stdout
    assert re.search(rf"1 翠苑\s+2\s+4\s+0\s+{UNCOVERED}", result.stdout)  # 2 tickets, 4 deadlines


def test_once_the_year_is_configured_the_tickets_flags_clear(tmp_path: Path) -> None:
    db = tmp_path / "estate.db"
    estate = _estate_with_provisional_tickets(db)
    config = config_with_fixture(tmp_path)
    result = run("sla", "recompute", "--db", str(db), "--estate", str(estate))
    assert result.exit_code == 0, result.output
    assert re.search(r"Tickets changed 更新\s+0", result.stdout)
    assert re.search(r"Still provisional 仍为临时\s+2", result.stdout)  # no data yet: said
    # With the year's file, opening recomputes what waited for it; recompute finds it done.
    result = run(
        "sla", "recompute", "--db", str(db), "--estate", str(estate), "--config", str(config)
    )
    assert result.exit_code == 0, result.output
    assert re.search(r"Tickets changed 更新\s+0", result.stdout)
    assert re.search(r"Still provisional 仍为临时\s+0", result.stdout)
    waiting = run("calendar", "check", "--db", str(db), "--config", str(config), "--year",
                  str(UNCOVERED))  # fmt: skip
    assert waiting.exit_code == 0 and "Tickets waiting" not in waiting.stdout


def test_sla_check_lists_alerts_and_tickets_not_fully_judged(tmp_path: Path) -> None:
    # The command runs at the real now: tickets of a year no source covers that is surely
    # past (chinesecalendar starts in 2004) are overdue on any day this test runs.
    early = min(CN_YEARS) - 1
    db = tmp_path / "estate.db"
    estate = _estate_with_provisional_tickets(db, early)
    strict = write(tmp_path / "strict.toml", '[sla]\nmissing_holiday_data = "strict"\n')
    result = run("sla", "check", "--db", str(db), "--estate", str(estate), "--config", str(strict))
    assert result.exit_code == 0, result.output
    # The response target is on the 24x7 calendar: its alerts go out; the office ones wait.
    assert "Checked 2 open tickets of 翠苑: 6 alerts sent, 2 tickets not fully judged" in (
        result.stdout
    )
    assert f"needs {early} holiday data" in result.stdout
    result = run("sla", "check", "--db", str(db), "--estate", str(estate))
    assert result.exit_code == 0, result.output
    assert re.search(r"Checked 2 open tickets of 翠苑: \d+ alerts sent, 0 tickets", result.stdout)
    # Targets and levels read as words, not codes (issue 16, point 12).
    assert re.search(rf"处理\s+已超时，报主管\s+\S+\s+{early}", result.stdout)
    assert "supervisor" not in result.stdout


# --- import-notice ---------------------------------------------------------------------------


def test_import_notice_writes_the_years_file_equal_to_chinesecalendar(tmp_path: Path) -> None:
    out = tmp_path / "holidays-2026.toml"
    result = run("calendar", "import-notice", str(NOTICES / "2026.txt"), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "国务院办公厅关于2026年部分节假日安排的通知" in result.stdout
    assert re.search(r"春节\s+9 \(02-15\.\.02-23\)\s+02-14, 02-28", result.stdout)
    data = read_calendar_file(out)
    cn = china_holidays()
    assert data.years == frozenset({2026})
    assert data.days_off == {d for d in cn.days_off if d.year == 2026}
    assert data.days_on == {d for d in cn.days_on if d.year == 2026}
    check = run("calendar", "check", "--year", "2026", "--holiday-file", str(out))
    assert check.exit_code == 0, check.output


def test_import_notice_refuses_a_typo_and_writes_nothing(tmp_path: Path) -> None:
    text = (NOTICES / "2026.txt").read_text(encoding="utf-8")
    broken = write(
        tmp_path / "notice.txt", text.replace("1月4日（周日）上班", "1月4日（周六）上班")
    )
    out = tmp_path / "holidays-2026.toml"
    result = run("calendar", "import-notice", str(broken), "--out", str(out))
    one_line_error(result, 1, "error: notice.txt line ")
    assert "1月4日" in result.stderr and not out.exists()


def test_import_notice_keeps_an_existing_file_unless_forced(tmp_path: Path) -> None:
    out = write(tmp_path / "holidays-2026.toml", "# mine\n")
    result = run("calendar", "import-notice", str(NOTICES / "2026.txt"), "--out", str(out))
    assert result.exit_code == 2 and "give --force" in result.stderr
    assert out.read_text(encoding="utf-8") == "# mine\n"
    forced = run(
        "calendar", "import-notice", str(NOTICES / "2026.txt"), "--out", str(out), "--force"
    )
    assert forced.exit_code == 0 and "covers = [2026]" in out.read_text(encoding="utf-8")


# --- --config on every command, and info -------------------------------------------------------

COMMANDS = (
    ("info",),
    ("demo",),
    ("report", "monthly"),
    ("arrears",),
    ("bill-run",),
    ("import", "units"),
    ("calendar", "check"),
    ("sla", "recompute"),
    ("sla", "check"),
    ("migrate-db",),
)


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_that_opens_the_app_takes_the_configuration(command: tuple[str, ...]) -> None:
    result = run(*command, "--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "--config FILE" in text and "PROPCARE_CONFIG" in text


def test_info_shows_each_calendars_years_and_the_configuration(tmp_path: Path) -> None:
    config = config_with_fixture(tmp_path)
    result = run("info", "--config", str(config))
    assert result.exit_code == 0, result.output
    assert re.search(rf"office: 2004-{UNCOVERED} \(cn \(chinesecalendar", result.stdout)
    assert "24x7: no public holidays (every year)" in result.stdout
    assert str(config) in result.stdout
    assert "provisional (sla.missing_holiday_data)" in result.stdout
    plain = run("info")
    assert re.search(rf"office: 2004-{max(CN_YEARS)} \(cn", plain.stdout)
    assert "built-in defaults" in plain.stdout


def test_the_demo_takes_the_configuration(tmp_path: Path) -> None:
    config = config_with_fixture(tmp_path)
    args = ["demo", "--db", str(tmp_path / "d.db"), "--units", "50", "--months", "1",
            "--today", f"{UNCOVERED}-01-20", "--report-dir", str(tmp_path / "r")]  # fmt: skip
    without = run(*args)
    assert without.exit_code == 0, without.output
    assert "provisional deadlines" in without.stdout
    with_file = run(*args, "--config", str(config))
    assert with_file.exit_code == 0, with_file.output
    assert "provisional deadlines" not in with_file.stdout


def test_import_notice_refuses_a_file_that_is_not_text(tmp_path: Path) -> None:
    binary = tmp_path / "notice.doc"
    binary.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\xff\xfe\x80\x81")  # a Word file
    result = run("calendar", "import-notice", str(binary), "--out", str(tmp_path / "x.toml"))
    one_line_error(result, 1, "error: file='notice.doc': is neither UTF-8 nor GB18030 text")
    assert not (tmp_path / "x.toml").exists()
