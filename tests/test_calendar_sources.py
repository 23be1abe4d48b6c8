"""The built-in calendar sources "cn" and "file", their plugin, and the calendar-files page."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from propcare.calendar import BusinessCalendar, HolidayData, build_calendars, layer
from propcare.calendar_notice import parse_notice
from propcare.calendar_sources import (
    CN,
    FILE,
    china_holidays,
    load_cn,
    load_file,
    parse_calendar_document,
    read_calendar_file,
)
from propcare.errors import CalendarDataMissing, ConfigError, ValidationError
from propcare.plugins.host import PluginHost

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "reference" / "calendar-files.md"
NOTICES = Path(__file__).parent / "data" / "notices"
SH = ZoneInfo("Asia/Shanghai")
OFFICE = {"mon-fri": ["09:00-12:00", "13:30-18:00"]}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- the plugin --------------------------------------------------------------------------


def test_cn_and_file_come_through_the_propcare_calendars_hook() -> None:
    host = PluginHost(load_entrypoints=False)
    provided = host.calendars()
    assert [p.record.name for p in provided] == ["cn", "file"]
    assert {p.plugin for p in provided} == {"builtin:propcare.calendar_sources"}
    sources = {p.record.name: p.record for p in provided}
    calendars = build_calendars({"office": {"windows": OFFICE, "sources": ["cn"]}}, sources)
    due = calendars["office"].add_working_time(datetime(2025, 3, 3, 9, tzinfo=SH), timedelta(1))
    assert due == datetime(2025, 3, 6, 10, 30, tzinfo=SH)  # 24 h = 3 days of 7.5 h + 1.5 h


# --- cn ------------------------------------------------------------------------------------


def test_cn_knows_the_2026_spring_festival_and_its_make_up_days() -> None:
    data = load_cn({})
    assert data is china_holidays()  # built once per process
    assert data.years == frozenset(range(2004, 2027))
    assert date(2026, 2, 16) in data.days_off  # Monday, Spring Festival
    assert date(2026, 2, 15) in data.days_off  # Sunday inside the span: off for Saturday shifts
    assert {date(2026, 2, 14), date(2026, 2, 28)} <= data.days_on  # make-up Saturdays
    assert date(2026, 2, 24) not in data.days_off
    assert all(day.weekday() >= 5 for day in data.days_on)
    assert data.source.startswith("cn")


def test_cn_takes_no_settings() -> None:
    with pytest.raises(ConfigError, match="takes no settings"):
        load_cn({"year": 2027})


# --- file ------------------------------------------------------------------------------------


def test_a_toml_file_with_native_and_string_dates(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "y.toml",
        'name = "Year 2027"\ncovers = [2027]\n'
        'days_off = [2027-01-01, "2027-02-08"]\ndays_on = ["2027-02-20"]\n',
    )
    data = load_file({"path": str(path)})
    assert data == HolidayData(
        {date(2027, 1, 1), date(2027, 2, 8)}, {date(2027, 2, 20)}, {2027}, "file Year 2027"
    )


def test_a_json_file_and_a_file_without_covers(tmp_path: Path) -> None:
    path = write(tmp_path, "closure.json", json.dumps({"days_off": ["2025-07-21"]}))
    data = read_calendar_file(path)
    assert data.days_off == {date(2025, 7, 21)} and data.years == frozenset()
    assert data.source == f"file {path}"


def test_a_date_both_on_and_off_is_refused_naming_the_file_and_date(tmp_path: Path) -> None:
    path = write(tmp_path, "both.toml", 'days_off = ["2027-10-01"]\ndays_on = ["2027-10-01"]\n')
    with pytest.raises(ValidationError) as info:
        read_calendar_file(path)
    assert str(path) in str(info.value) and "2027-10-01" in str(info.value)


@pytest.mark.parametrize(
    ("document", "value"),
    [
        ({"days_off": ["2027-02-30"]}, "2027-02-30"),
        ({"days_off": ["2027/01/01"]}, "2027/01/01"),
        ({"days_on": [20270101]}, "20270101"),
        ({"days_on": "2027-01-01"}, "2027-01-01"),
        ({"covers": [27]}, "27"),
        ({"covers": 2027}, "2027"),
        ({"day_off": ["2027-01-01"]}, "day_off"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_content_is_refused_naming_the_file_and_value(
    document: dict[str, Any], value: str
) -> None:
    with pytest.raises(ValidationError) as info:
        parse_calendar_document(document, "holidays-2027.json")
    message = str(info.value)
    assert message.startswith("holidays-2027.json") and value in message


def test_files_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_file({"path": str(tmp_path / "missing.toml")})
    with pytest.raises(ConfigError, match=r"\.toml or \.json"):
        load_file({"path": str(write(tmp_path, "h.yaml", "days_off: []"))})
    with pytest.raises(ValidationError, match="not valid UTF-8 TOML"):
        load_file({"path": str(write(tmp_path, "h.toml", "days_off = [\n"))})
    with pytest.raises(ValidationError, match="not valid UTF-8 JSON"):
        load_file({"path": str(write(tmp_path, "h.json", "{"))})
    with pytest.raises(ConfigError, match="path"):
        load_file({})
    with pytest.raises(ConfigError, match="path"):
        load_file({"path": "x.toml", "format": "toml"})


# --- layering cn with files ---------------------------------------------------------------


def test_a_closure_file_changes_a_covered_year_without_claiming_a_new_one(tmp_path: Path) -> None:
    typhoon = write(tmp_path, "typhoon.toml", 'days_off = ["2025-07-21"]\n')
    sources = {"cn": CN, "file": FILE}
    spec = {"office": {"windows": OFFICE, "sources": ["cn", {"file": str(typhoon)}]}}
    office = build_calendars(spec, sources)["office"]
    assert office.windows_on(date(2025, 7, 21)) == ()  # a Monday, closed
    monday = datetime(2025, 7, 18, 17, tzinfo=SH)  # Friday before
    assert office.add_working_time(monday, timedelta(hours=2)) == datetime(
        2025, 7, 22, 10, tzinfo=SH
    )
    assert office.holidays is not None and office.holidays.years == china_holidays().years


def test_a_file_listed_later_can_reopen_a_holiday(tmp_path: Path) -> None:
    duty = write(tmp_path, "duty.json", json.dumps({"days_on": ["2025-10-08"]}))
    data = layer(china_holidays(), read_calendar_file(duty))
    cal = BusinessCalendar(OFFICE, data)
    assert cal.is_working_time(datetime(2025, 10, 8, 10, tzinfo=SH))
    assert not cal.is_working_time(datetime(2025, 10, 7, 10, tzinfo=SH))


def test_a_year_file_extends_cn_and_its_absence_is_explained(tmp_path: Path) -> None:
    year = write(tmp_path, "cn-2027.toml", 'covers = [2027]\ndays_off = ["2027-01-01"]\n')
    sources = {"cn": CN, "file": FILE}
    without = build_calendars({"o": {"windows": OFFICE, "sources": ["cn"]}}, sources)["o"]
    with_file = build_calendars(
        {"o": {"windows": OFFICE, "sources": ["cn", {"file": {"path": str(year)}}]}}, sources
    )["o"]
    start = datetime(2026, 12, 31, 17, tzinfo=SH)
    with pytest.raises(CalendarDataMissing, match=r"year=2027: .*2027.*calendar-files\.md"):
        without.add_working_time(start, timedelta(hours=2))
    assert with_file.add_working_time(start, timedelta(hours=2)) == datetime(
        2027, 1, 4, 10, tzinfo=SH
    )


# --- the reference page says what the code does -------------------------------------------


def _blocks(language: str) -> list[str]:
    text = PAGE.read_text(encoding="utf-8")
    return re.findall(rf"^```{language}[ \t]*\n(.*?)^```[ \t]*$", text, re.S | re.M)


def test_the_pages_toml_and_json_examples_load_and_agree(tmp_path: Path) -> None:
    toml_year, toml_closure = _blocks("toml")
    (json_year,) = _blocks("json")
    from_toml = read_calendar_file(write(tmp_path, "example.toml", toml_year))
    from_json = read_calendar_file(write(tmp_path, "example.json", json_year))
    assert from_toml == from_json
    # The example is a published schedule, never invented dates: 2026's, as chinesecalendar
    # has it and as import-notice reads it from the notice itself.
    cn = china_holidays()
    assert from_toml.years == {2026}
    assert from_toml.days_off == {d for d in cn.days_off if d.year == 2026}
    assert from_toml.days_on == {d for d in cn.days_on if d.year == 2026}
    notice = parse_notice((NOTICES / "2026.txt").read_text(encoding="utf-8"))
    assert (notice.days_off, notice.days_on) == (from_toml.days_off, from_toml.days_on)
    closure = read_calendar_file(write(tmp_path, "closure.toml", toml_closure))
    assert closure.years == frozenset() and len(closure.days_off) == 2


def test_the_pages_python_blocks_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "calendar_files_page"}
    blocks = _blocks("python")
    assert len(blocks) >= 2
    for index, block in enumerate(blocks):
        exec(compile(block, f"calendar-files.md (python block {index + 1})", "exec"), namespace)


def test_the_pages_error_text_is_the_real_message() -> None:
    (shown,) = _blocks("text")
    office = build_calendars({"office": {"windows": OFFICE, "sources": ["cn"]}}, {"cn": CN})
    with pytest.raises(CalendarDataMissing) as info:
        office["office"].add_working_time(datetime(2027, 3, 1, 9, tzinfo=SH), timedelta(hours=1))
    real = f"{type(info.value).__module__}.{type(info.value).__name__}: {info.value}"
    assert " ".join(shown.split()) == " ".join(real.split())
