"""Reading the State Council's yearly holiday notice, checked against the real notices.

tests/data/notices/YYYY.txt are the notices of 2010-2026 as published (sources in SOURCES.md).
Together they must reproduce chinesecalendar's holidays and make-up working days day for day,
except the named differences below, each with its reason.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from propcare.calendar import BusinessCalendar, HolidayData
from propcare.calendar_notice import (
    HolidayNotice,
    NoticeHoliday,
    notice_title,
    notice_toml,
    parse_notice,
)
from propcare.calendar_sources import parse_calendar_document, read_calendar_file
from propcare.errors import NoticeError, ValidationError

NOTICES = Path(__file__).parent / "data" / "notices"
YEARS = sorted(int(path.stem) for path in NOTICES.glob("[0-9][0-9][0-9][0-9].txt"))
SIGNED = {
    2010: date(2009, 12, 7),
    2011: date(2010, 12, 9),
    2012: date(2011, 12, 5),
    2013: date(2012, 12, 8),
    2014: date(2013, 12, 11),
    2015: date(2014, 12, 16),
    2016: date(2015, 12, 10),
    2017: date(2016, 12, 1),
    2018: date(2017, 11, 30),
    2019: date(2018, 12, 4),
    2020: date(2019, 11, 21),
    2021: date(2020, 11, 25),
    2022: date(2021, 10, 25),
    2023: date(2022, 12, 8),
    2024: date(2023, 10, 25),
    2025: date(2024, 11, 12),
    2026: date(2025, 11, 4),
}


def text_of(year: int) -> str:
    return (NOTICES / f"{year}.txt").read_text(encoding="utf-8")


@cache
def notice_of(year: int) -> HolidayNotice:
    return parse_notice(text_of(year), origin=f"{year}.txt")


def d(text: str) -> date:
    return date.fromisoformat(text)


def days(first: str, last: str) -> set[date]:
    start, end = d(first), d(last)
    return {start + timedelta(n) for n in range((end - start).days + 1)}


# --- the stored notices ---------------------------------------------------------------


def test_the_notices_of_at_least_twelve_years_are_stored() -> None:
    assert len(YEARS) >= 12 and {2012, 2019, 2023}.issubset(YEARS)  # the cross-year ones
    assert set(SIGNED) == set(YEARS)


@pytest.mark.parametrize("year", YEARS)
def test_each_notice_reads_with_its_year_signature_and_numbered_items(year: int) -> None:
    notice = notice_of(year)
    assert notice.year == year and notice.published == SIGNED[year]
    assert notice.title == notice_title(year) and notice.title in text_of(year)
    assert [h.name for h in notice.holidays][:2] == ["元旦", "春节"]
    assert 6 <= len(notice.holidays) <= 7
    for holiday in notice.holidays:
        assert holiday.name in holiday.line and holiday.days_off
        assert holiday.line.startswith(("一", "二", "三", "四", "五", "六", "七"))
        numbered = text_of(year).splitlines()[holiday.line_number - 1]
        assert holiday.line.startswith(numbered.strip())


@pytest.mark.parametrize("year", YEARS)
def test_half_width_punctuation_reads_the_same(year: int) -> None:
    """NFKC folds ：，（） to :,() as many reposts do; the days must not change."""
    folded = unicodedata.normalize("NFKC", text_of(year))
    assert folded != text_of(year)
    again = parse_notice(folded, origin=f"{year}.txt")
    assert (again.days_off, again.days_on) == (notice_of(year).days_off, notice_of(year).days_on)


def test_cross_year_new_years_day_keeps_the_days_of_the_year_before() -> None:
    first = notice_of(2019).holidays[0]
    assert first.name == "元旦"
    assert first.days_off == days("2018-12-30", "2019-01-01")
    assert first.days_on == {d("2018-12-29")}
    assert notice_of(2023).holidays[0].days_off == days("2022-12-31", "2023-01-02")
    assert notice_of(2012).holidays[0].days_on == {d("2011-12-31")}  # 2011年12月31日（星期六）


def test_how_the_items_are_read() -> None:
    # 二、春节：2月13日至19日…2月20日（星期六）、21日（星期日）上班: 21日 is in February.
    assert notice_of(2010).holidays[1].days_on == {d("2010-02-20"), d("2010-02-21")}
    # 1月1日放假，1月2日（星期一）补休: the 补休 day is off too.
    assert notice_of(2017).holidays[0].days_off == {d("2017-01-01"), d("2017-01-02")}
    # 5月1日放假，与周末连休: the weekend is an ordinary weekend, not listed.
    assert notice_of(2017).holidays[3].days_off == {d("2017-05-01")}
    # 4月5日放假，4月7日（星期一）补休: two days off, the Sunday between is not named.
    assert notice_of(2014).holidays[2].days_off == {d("2014-04-05"), d("2014-04-07")}
    # 2月2日（农历除夕）至8日; 1月27日至2月2日 (a span across months).
    assert notice_of(2011).holidays[1].days_off == days("2011-02-02", "2011-02-08")
    assert notice_of(2017).holidays[1].days_off == days("2017-01-27", "2017-02-02")
    # 2月15日（农历腊月二十八、周日）至23日（农历正月初七、周一）.
    assert notice_of(2026).holidays[1].days_off == days("2026-02-15", "2026-02-23")
    # The advice 安排职工在除夕（2月9日）休息 gives no day off.
    assert d("2024-02-09") not in notice_of(2024).days_off
    assert notice_of(2024).holidays[1].days_off == days("2024-02-10", "2024-02-17")
    # 中秋节、国庆节 is one item, named as written.
    assert notice_of(2023).holidays[5].name == "中秋节、国庆节"
    assert notice_of(2012).holidays[5].days_off == days("2012-09-30", "2012-10-07")


# --- chinesecalendar ----------------------------------------------------------------------


class Differs(NamedTuple):
    """A date chinesecalendar marks otherwise than the yearly notices, and why."""

    day: date
    chinesecalendar: str  # "off", "on" or "ordinary" (neither a holiday nor a make-up day)
    reason: str


ANTI_FASCIST = (
    "国务院关于中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日调休放假的通知 "
    "(http://www.gov.cn/zhengce/content/2015-05/13/content_9742.htm), a separate notice: "
    "9月3日至5日放假调休，9月6日（星期日）上班; chinesecalendar lists 3 and 4 September"
)
LABOUR_DAY_2019 = (
    "国务院办公厅关于调整2019年劳动节假期安排的通知 (国办发明电〔2019〕3号, 22 March 2019), "
    "a separate notice: 5月1日至4日放假调休，4月28日（星期日）、5月5日（星期日）上班"
)
COVID_2020 = (
    "国务院办公厅关于延长2020年春节假期的通知 (国办发明电〔2020〕1号, 27 January 2020), a "
    "separate notice: the Spring Festival extended to 2月2日, so 2月1日 is no longer worked"
)
JOINED_WEEKEND = (
    "chinesecalendar lists the weekend joined to the holiday ({item}放假，与周末连休); the "
    "notice names only the holiday itself, and the weekend is an ordinary weekend"
)
CC_DIFFERS = [
    Differs(
        d("2011-06-05"),
        "ordinary",
        "chinesecalendar lists only 6月4日 and 6月6日 of the 端午节 span "
        "6月4日至6日放假公休，共3天",
    ),
    Differs(
        d("2012-06-23"),
        "ordinary",
        "chinesecalendar lists only 6月22日 and 6月24日 of the 端午节 span "
        "6月22日至24日放假公休，共3天",
    ),
    Differs(
        d("2014-04-06"),
        "off",
        "chinesecalendar adds the Sunday between 4月5日放假 and 4月7日（星期一）补休",
    ),
    Differs(d("2015-09-03"), "off", ANTI_FASCIST),
    Differs(d("2015-09-04"), "off", ANTI_FASCIST),
    Differs(d("2015-09-06"), "on", ANTI_FASCIST),
    Differs(d("2019-04-06"), "off", JOINED_WEEKEND.format(item="清明节：4月5日")),
    Differs(d("2019-04-07"), "off", JOINED_WEEKEND.format(item="清明节：4月5日")),
    Differs(d("2019-06-08"), "off", JOINED_WEEKEND.format(item="端午节：6月7日")),
    Differs(d("2019-06-09"), "off", JOINED_WEEKEND.format(item="端午节：6月7日")),
    Differs(d("2019-09-14"), "off", JOINED_WEEKEND.format(item="中秋节：9月13日")),
    Differs(d("2019-09-15"), "off", JOINED_WEEKEND.format(item="中秋节：9月13日")),
    Differs(d("2019-04-28"), "on", LABOUR_DAY_2019),
    Differs(d("2019-05-02"), "off", LABOUR_DAY_2019),
    Differs(d("2019-05-03"), "off", LABOUR_DAY_2019),
    Differs(d("2019-05-04"), "off", LABOUR_DAY_2019),
    Differs(d("2019-05-05"), "on", LABOUR_DAY_2019),
    Differs(d("2020-01-31"), "off", COVID_2020),
    Differs(d("2020-02-01"), "off", COVID_2020),
    Differs(d("2020-02-02"), "off", COVID_2020),
    Differs(d("2023-12-30"), "off", JOINED_WEEKEND.format(item="2024年的元旦：1月1日") + " (2024)"),
    Differs(d("2023-12-31"), "off", JOINED_WEEKEND.format(item="2024年的元旦：1月1日") + " (2024)"),
]


def cc_status(day: date) -> str:
    if day in chinese_calendar.holidays:
        return "off"
    if day in chinese_calendar.workdays:
        return "on"
    return "ordinary"


def notice_status(day: date) -> str:
    if any(day in notice_of(year).days_off for year in YEARS):
        return "off"
    if any(day in notice_of(year).days_on for year in YEARS):
        return "on"
    return "ordinary"


def cc_years() -> range:
    covered = [day.year for day in chinese_calendar.holidays]
    return range(min(covered), max(covered) + 1)


def compared_years() -> list[int]:
    """Years whose December dates are known too: the next notice is stored, or cc stops."""
    return [y for y in YEARS if y in cc_years() and (y + 1 in YEARS or y + 1 not in cc_years())]


def test_the_differences_are_real_and_each_has_a_reason() -> None:
    assert len({entry.day for entry in CC_DIFFERS}) == len(CC_DIFFERS)
    for entry in CC_DIFFERS:
        assert entry.reason and entry.chinesecalendar in {"off", "on", "ordinary"}
        assert cc_status(entry.day) == entry.chinesecalendar, entry
        assert notice_status(entry.day) != entry.chinesecalendar, f"not a difference: {entry}"


@pytest.mark.parametrize("year", YEARS)
def test_every_day_a_notice_names_is_the_same_in_chinesecalendar(year: int) -> None:
    """Day off for day off, make-up day for make-up day, except the named differences."""
    differs = {entry.day for entry in CC_DIFFERS}
    notice = notice_of(year)
    assert {day for day in notice.days_off - differs if cc_status(day) != "off"} == set()
    assert {day for day in notice.days_on - differs if cc_status(day) != "on"} == set()


def test_the_notices_together_reproduce_chinesecalendar_day_for_day() -> None:
    years = compared_years()
    assert len(years) >= 12
    expected = {entry.day: entry.chinesecalendar for entry in CC_DIFFERS}
    mismatches = []
    for year in years:
        day = date(year, 1, 1)
        while day.year == year:
            want = expected.get(day, notice_status(day))
            if cc_status(day) != want:
                mismatches.append((day.isoformat(), cc_status(day), want))
            day += timedelta(1)
    assert mismatches == []


# --- the calendar file ------------------------------------------------------------------


@pytest.mark.parametrize("year", YEARS)
def test_the_toml_file_gives_exactly_the_notices_days(year: int) -> None:
    notice = notice_of(year)
    text = notice_toml(notice)
    data = parse_calendar_document(tomllib.loads(text), f"china-{year}.toml")
    assert (data.days_off, data.days_on, data.years) == (
        notice.days_off,
        notice.days_on,
        frozenset({year}),
    )
    assert data == with_source(notice.holiday_data(), data.source)
    for holiday in notice.holidays:
        assert text.count(f"# {holiday.name} (line {holiday.line_number}): ") == 1
    document = tomllib.loads(text)
    assert notice.title in document["name"] and SIGNED[year].isoformat() in document["notes"]


def with_source(data: HolidayData, source: str) -> HolidayData:
    return HolidayData(data.days_off, data.days_on, data.years, source)


def test_dates_of_the_year_before_stay_in_the_file_while_covers_is_the_notices_year(
    tmp_path: Path,
) -> None:
    text = notice_toml(notice_of(2019))
    assert '"2018-12-29"' in text and '"2018-12-30"' in text and "covers = [2019]" in text
    path = tmp_path / "china-2019.toml"
    path.write_text(text, encoding="utf-8")
    data = read_calendar_file(path)
    assert data.years == {2019} and d("2018-12-29") in data.days_on
    assert data.source == f"file China 2019 ({notice_title(2019)})"


def test_holiday_data_covers_the_year_and_names_the_notice() -> None:
    data = notice_of(2026).holiday_data()
    assert data.years == {2026} and data.days_off == notice_of(2026).days_off
    assert data.source == f"2026.txt: {notice_title(2026)}"
    office = BusinessCalendar({"mon-fri": ["09:00-12:00", "13:30-18:00"]}, data)
    assert office.is_working_time(_at(2026, 2, 14, 10))  # 2月14日（周六）上班
    assert not office.is_working_time(_at(2026, 2, 16, 10))  # 春节


def _at(year: int, month: int, day: int, hour: int) -> datetime:
    return datetime(year, month, day, hour, tzinfo=ZoneInfo("Asia/Shanghai"))


def test_a_notice_value_cannot_be_built_wrong() -> None:
    item = NoticeHoliday("元旦", {d("2026-01-01")}, {d("2026-01-04")}, "一、元旦：…", 5)
    with pytest.raises(NoticeError, match="either off or on"):
        HolidayNotice(2026, {d("2026-01-01")}, {d("2026-01-01")}, (item,))
    with pytest.raises(NoticeError, match="exactly the days the holidays name"):
        HolidayNotice(2026, {d("2026-01-02")}, {d("2026-01-04")}, (item,))
    notice = HolidayNotice(2026, {d("2026-01-01")}, {d("2026-01-04")}, [item])
    assert notice.holidays == (item,) and notice.published is None
    assert "date not in the text" in notice_toml(notice)


# --- older formats ---------------------------------------------------------------------

# The first five items of the 2008 notice as https://news.cdc.net.cn/article/12481.html
# (中国新闻网) prints them: half-width punctuation, dashes, 其中… sentences.
NOTICE_2008_ITEMS = (NOTICES / "2008-extract.txt").read_text(encoding="utf-8")

# The first two items of the 2009 notice as
# http://space.foodmate.net/13634/viewspace-24894.html prints them.
NOTICE_2009_ITEMS = (NOTICES / "2009-extract.txt").read_text(encoding="utf-8")


def test_the_2008_format_with_dashes_and_explanations_reads_as_chinesecalendar_has_it() -> None:
    notice = parse_notice(NOTICE_2008_ITEMS, year=2008)
    assert [h.name for h in notice.holidays][3] == "“五一”国际劳动节"
    assert notice.days_off == (
        days("2007-12-30", "2008-01-01")
        | days("2008-02-06", "2008-02-12")
        | days("2008-04-04", "2008-04-06")
        | days("2008-05-01", "2008-05-03")
        | days("2008-06-07", "2008-06-09")
    )
    assert notice.days_on == {d("2007-12-29"), d("2008-02-02"), d("2008-02-03"), d("2008-05-04")}
    assert all(cc_status(day) == "off" for day in notice.days_off)
    assert all(cc_status(day) == "on" for day in notice.days_on)


def test_the_2009_format_reads_as_chinesecalendar_has_it() -> None:
    notice = parse_notice(NOTICE_2009_ITEMS, year=2009)
    assert notice.days_off == days("2009-01-01", "2009-01-03") | days("2009-01-25", "2009-01-31")
    assert notice.days_on == {d("2009-01-04"), d("2009-01-24"), d("2009-02-01")}
    assert all(cc_status(day) == "off" for day in notice.days_off)
    assert all(cc_status(day) == "on" for day in notice.days_on)


def test_an_extract_needs_year_and_a_title_may_be_broken_over_two_lines() -> None:
    items = "\n".join(line for line in text_of(2019).splitlines() if line.startswith("一、"))
    assert parse_notice(items, year=2019).days_on == {d("2018-12-29")}
    broken = text_of(2019).replace("关于2019年部分", "关于2019年\n部分", 1)
    broken = broken.replace("现将2019年", "现将本年", 1)
    assert parse_notice(broken).year == 2019


# --- refusals: each names the line and the rule ----------------------------------------


def line_of(text: str, fragment: str) -> int:
    (number,) = [n for n, line in enumerate(text.splitlines(), 1) if fragment in line]
    return number


def changed(year: int, old: str, new: str) -> str:
    text = text_of(year)
    assert text.count(old) == 1, old
    return text.replace(old, new)


def refused(text: str, **kwargs: int) -> NoticeError:
    with pytest.raises(NoticeError) as info:
        parse_notice(text, **kwargs)  # type: ignore[arg-type]
    assert isinstance(info.value, ValidationError)
    return info.value


REFUSALS = [
    # (year, old, new, value shown, what the rule says)
    (
        2026,
        "1月4日（周日）上班",
        "1月4日（周六）上班",
        "1月4日（周六）",
        "2026-01-04 is a 星期日, not a 周六",
    ),
    (2017, "国庆节：10月1日至8日", "国庆节：0月1日至8日", "0月1日", "is not a real date in 2017"),
    (
        2026,
        "（周六）放假调休，共3天",
        "（周六）放假调休，共4天",
        "共4天",
        "says 4 days but the item gives 3",
    ),
    (2026, "1月1日（周四）至3日（周六）", "1月3日（周六）至1日（周四）", "至1日", "reversed span"),
    (
        2026,
        "1月4日（周日）上班",
        "1月2日（周五）上班",
        "2026-01-02",
        "both a day off and a make-up",
    ),
    (2026, "5月9日（周六）上班", "4月4日（周六）上班", "2026-04-04", "a day off in another item"),
    (2026, "2月28日（周六）上班", "2月30日（周六）上班", "2月30日", "is not a real date in 2026"),
    (
        2026,
        "三、清明节：4月4日（周六）至6日（周一）放假，共3天。",
        "三、清明节：放假三天。",
        "放假三天",
        "expected a span",
    ),
    (2024, "6月10日放假，与周末连休", "6月10日放假，与周六连休", "与周六连休", "expected a span"),
    (
        2026,
        "1月4日（周日）上班",
        "2025年1月4日（周六）上班",
        "2025-01-04",
        "a notice for 2026 names dates",
    ),
    (2026, "至7日（周三）放假调休", "至31日（周六）放假调休", "10月1日", "surely a typo"),
    (2026, "七、国庆节：", "国庆节：", "国庆节：10月1日", "not numbered"),
    (
        2026,
        "鼓励单位和个人",
        "八、各地区要安排好值班。\n鼓励单位和个人",
        "八、各地区",
        "must be a holiday item",
    ),
    (2026, "现将2026年", "现将2027年", "现将2027年", "title and the preamble must agree"),
    (2026, "2025年11月4日", "2023年11月4日", "2023年11月4日", "signed in 2025 or 2026"),
]


@pytest.mark.parametrize(("year", "old", "new", "value", "rule"), REFUSALS)
def test_a_notice_it_cannot_read_is_refused_naming_the_line_and_the_rule(
    year: int, old: str, new: str, value: str, rule: str
) -> None:
    text = changed(year, old, new)
    error = refused(text)
    number = line_of(text, new.splitlines()[0])
    assert error.field == f"notice line {number}"
    assert value in str(error.value) and rule in error.rule
    assert str(error).startswith(f"notice line {number}=")


def test_the_2017_repost_with_0月1日_is_refused() -> None:
    # The line as http://opticsky.cn/read-htm-tid-96073.html reposted it.
    line = "六、中秋节、国庆节:0月1日至8日放假调休,共8天。9月30日(星期六)上班。"
    error = refused(line, year=2017)
    assert (error.field, error.value) == ("notice line 1", "0月1日")


def test_an_explanation_must_explain_a_day_of_its_item() -> None:
    text = NOTICE_2008_ITEMS.replace("12月30日(星期日)为公休日", "1月5日(星期六)为公休日")
    error = refused(text, year=2008)
    assert error.field == "notice line 1" and "explains 2008-01-05" in error.rule


def test_the_origin_names_the_file_in_errors() -> None:
    text = changed(2026, "1月4日（周日）上班", "1月4日（周六）上班")
    with pytest.raises(NoticeError, match=r"^holidays-2026\.txt line 9="):
        parse_notice(text, origin="holidays-2026.txt")


def test_no_item_and_no_year_are_refused() -> None:
    head = "\n".join(text_of(2026).splitlines()[:8])
    error = refused(head)
    assert error.field == "notice" and "no numbered holiday item" in error.rule
    items = "\n".join(line for line in text_of(2026).splitlines() if "、" in line[:2])
    error = refused(items)
    assert error.field == "notice" and "names no year" in error.rule and "year=" in error.rule
    error = refused(text_of(2026), year=2025)
    assert error.field == "notice line 1" and "not 2025 as given" in error.rule


# --- properties: any schedule written as a notice reads back -----------------------------

NAMES = ["元旦", "春节", "清明节", "劳动节", "端午节", "中秋节", "国庆节"]
NUMERALS = "一二三四五六七"


class Holiday(NamedTuple):
    name: str
    start: date
    length: int
    makeup: tuple[date, ...]


class Style(NamedTuple):
    full_width: bool
    week: str  # 星期 or 周
    annotate: bool
    separator: str
    short_end: bool
    blank_lines: bool
    with_count: bool


@st.composite
def schedules(draw: st.DrawFn) -> tuple[int, list[Holiday]]:
    """A year and up to seven holidays, each in its own stretch of the year, none overlapping."""
    year = draw(st.integers(2001, 2098))
    count = draw(st.integers(1, 7))
    slot = 365 // count
    holidays = []
    for index in range(count):
        base = date(year, 1, 1) + timedelta(index * slot)
        if index == 0 and draw(st.booleans()):
            base = date(year - 1, 12, draw(st.integers(26, 31)))  # a 元旦 span from December
        length = draw(st.integers(1, 9))
        start = base + timedelta(draw(st.integers(0, 10)))
        span = {start + timedelta(n) for n in range(length)}
        window = [base + timedelta(n) for n in range(min(slot - 1, 40))]
        window = [day for day in window if day not in span and day.year >= year - 1]
        window = [day for day in window if day.year == year or day.month == 12]
        makeup = draw(st.lists(st.sampled_from(window), max_size=2, unique=True))
        holidays.append(Holiday(NAMES[index], start, length, tuple(sorted(makeup))))
    return year, holidays


styles = st.builds(
    Style,
    full_width=st.booleans(),
    week=st.sampled_from(["星期", "周"]),
    annotate=st.booleans(),
    separator=st.sampled_from(["至", "—", "－", "-"]),
    short_end=st.booleans(),
    blank_lines=st.booleans(),
    with_count=st.booleans(),
)


def written(day: date, year: int, style: Style, previous: date | None = None) -> str:
    if (
        previous is not None
        and style.short_end
        and (previous.year, previous.month)
        == (
            day.year,
            day.month,
        )
    ):
        text = f"{day.day}日"
    elif day.year != year or (previous is not None and previous.year != day.year):
        text = f"{day.year}年{day.month}月{day.day}日"
    else:
        text = f"{day.month}月{day.day}日"
    if style.annotate:
        text += f"（{style.week}{'一二三四五六日'[day.weekday()]}）"
    return text


def render(year: int, holidays: list[Holiday], style: Style) -> str:
    """Write a schedule the way the State Council writes its notice."""
    lines = [
        notice_title(year),
        "各省、自治区、直辖市人民政府，国务院各部委、各直属机构：",
        f"经国务院批准，现将{year}年元旦、春节等放假调休日期的具体安排通知如下。",
    ]
    for index, holiday in enumerate(holidays):
        end = holiday.start + timedelta(holiday.length - 1)
        first = written(holiday.start, year, style)
        if holiday.length == 1:
            item = f"{first}放假"
        else:
            item = f"{first}{style.separator}{written(end, year, style, holiday.start)}放假调休"
        if style.with_count:
            item += f"，共{holiday.length}天"
        elif holiday.length == 1:
            item += "，与周末连休"
        item += "。"
        if holiday.makeup:
            item += "、".join(written(day, year, style) for day in holiday.makeup) + "上班。"
        lines.append(f"{NUMERALS[index]}、{holiday.name}：{item}")
    lines += [
        "节假日期间，各地区、各部门要妥善安排好值班工作。",
        "国务院办公厅",
        f"{year - 1}年12月1日",
    ]
    text = ("\n\n" if style.blank_lines else "\n").join(lines) + "\n"
    return text if style.full_width else unicodedata.normalize("NFKC", text)


def expected(holidays: list[Holiday]) -> tuple[frozenset[date], frozenset[date]]:
    off = frozenset(h.start + timedelta(n) for h in holidays for n in range(h.length))
    return off, frozenset(day for h in holidays for day in h.makeup)


@settings(max_examples=200, deadline=None)
@given(schedule=schedules(), style=styles)
def test_any_schedule_written_as_a_notice_reads_back(
    schedule: tuple[int, list[Holiday]], style: Style
) -> None:
    year, holidays = schedule
    notice = parse_notice(render(year, holidays, style))
    off, on = expected(holidays)
    assert (notice.year, notice.days_off, notice.days_on) == (year, off, on)
    assert [h.name for h in notice.holidays] == [h.name for h in holidays]
    assert notice.published == date(year - 1, 12, 1)


@settings(max_examples=100, deadline=None)
@given(schedule=schedules(), style=styles)
def test_any_notice_round_trips_through_its_calendar_file(
    schedule: tuple[int, list[Holiday]], style: Style
) -> None:
    year, holidays = schedule
    notice = parse_notice(render(year, holidays, style))
    data = parse_calendar_document(tomllib.loads(notice_toml(notice)), "x.toml")
    assert (data.days_off, data.days_on, data.years) == (
        notice.days_off,
        notice.days_on,
        frozenset({year}),
    )


@settings(max_examples=100, deadline=None)
@given(schedule=schedules(), style=styles, which=st.integers(0, 6), shift=st.integers(1, 6))
def test_a_wrong_weekday_anywhere_is_refused_on_its_line(
    schedule: tuple[int, list[Holiday]], style: Style, which: int, shift: int
) -> None:
    year, holidays = schedule
    holiday = holidays[which % len(holidays)]
    style = style._replace(annotate=True)
    text = render(year, holidays, style)
    right = written(holiday.start, year, style)
    wrong_day = "一二三四五六日"[(holiday.start.weekday() + shift) % 7]
    wrong = re.sub(r"（(星期|周).）$", f"（{style.week}{wrong_day}）", right)
    if not style.full_width:
        right, wrong = (unicodedata.normalize("NFKC", s) for s in (right, wrong))
    number = line_of(text, f"{NUMERALS[holidays.index(holiday)]}、{holiday.name}")
    lines = text.splitlines()
    lines[number - 1] = lines[number - 1].replace(right, wrong, 1)
    error = refused("\n".join(lines))
    assert error.field == f"notice line {number}" and "check the date" in error.rule
