"""Business calendars: working windows, holidays, make-up days (调休), 24x7, bad input."""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from propcare.calendar import (
    DEFAULT_CALENDARS,
    BusinessCalendar,
    HolidayData,
    Window,
    build_calendars,
    layer,
)
from propcare.calendar_sources import CN, FILE, china_holidays
from propcare.errors import CalendarDataMissing, ConfigError, ValidationError

SH = ZoneInfo("Asia/Shanghai")
OFFICE_HOURS = ["09:00-12:00", "13:30-18:00"]
WEEKDAYS = {"mon-fri": OFFICE_HOURS}
H = timedelta(hours=1)
M = timedelta(minutes=1)


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0, tz: ZoneInfo = SH) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=tz)


@pytest.fixture(scope="module")
def office() -> BusinessCalendar:
    return BusinessCalendar(WEEKDAYS, china_holidays(), name="office")


def plain(**holidays: object) -> BusinessCalendar:
    """Office hours with no public holidays in 2020-2030 unless given."""
    data = HolidayData(years=range(2020, 2031), source="test", **holidays)  # type: ignore[arg-type]
    return BusinessCalendar(WEEKDAYS, data, name="plain")


# --- the boundary rule and lunch breaks ---------------------------------------------------


def test_a_budget_ending_at_the_morning_close_gives_the_close_not_the_afternoon_opening(
    office: BusinessCalendar,
) -> None:
    assert office.add_working_time(at(2025, 3, 3, 9), 3 * H) == at(2025, 3, 3, 12)
    assert office.add_working_time(at(2025, 3, 3, 11), H) == at(2025, 3, 3, 12)


def test_a_budget_ending_at_the_evening_close_gives_that_evening(
    office: BusinessCalendar,
) -> None:
    assert office.add_working_time(at(2025, 3, 3, 13, 30), 4.5 * H) == at(2025, 3, 3, 18)
    assert office.add_working_time(at(2025, 3, 3, 9), 7.5 * H) == at(2025, 3, 3, 18)


def test_one_minute_past_a_close_moves_to_the_next_opening(office: BusinessCalendar) -> None:
    assert office.add_working_time(at(2025, 3, 3, 11), H + M) == at(2025, 3, 3, 13, 31)
    assert office.add_working_time(at(2025, 3, 3, 17), H + M) == at(2025, 3, 4, 9, 1)


def test_the_lunch_break_is_not_working_time(office: BusinessCalendar) -> None:
    assert office.add_working_time(at(2025, 3, 3, 11, 30), H) == at(2025, 3, 3, 14)
    assert office.working_time_between(at(2025, 3, 3, 11), at(2025, 3, 3, 14)) == 1.5 * H


@pytest.mark.parametrize(
    ("start", "deadline"),
    [
        (at(2025, 3, 3, 7), at(2025, 3, 3, 9, 30)),  # before opening
        (at(2025, 3, 3, 12, 30), at(2025, 3, 3, 14)),  # during lunch
        (at(2025, 3, 3, 12), at(2025, 3, 3, 14)),  # exactly at the morning close
        (at(2025, 3, 3, 19), at(2025, 3, 4, 9, 30)),  # after closing
        (at(2025, 3, 8, 10), at(2025, 3, 10, 9, 30)),  # Saturday
        (at(2025, 10, 1, 10), at(2025, 10, 9, 9, 30)),  # National Day, a Wednesday
    ],
)
def test_a_start_outside_working_time_counts_from_the_next_opening(
    office: BusinessCalendar, start: datetime, deadline: datetime
) -> None:
    assert office.add_working_time(start, 30 * M) == deadline


def test_queries_about_single_instants(office: BusinessCalendar) -> None:
    assert office.is_working_time(at(2025, 3, 3, 9))
    assert not office.is_working_time(at(2025, 3, 3, 12))  # windows are half-open
    assert not office.is_working_time(at(2025, 10, 1, 10))
    assert office.next_opening(at(2025, 3, 3, 12, 5)) == at(2025, 3, 3, 13, 30)
    assert office.next_opening(at(2025, 3, 3, 10, 5)) == at(2025, 3, 3, 10, 5)
    assert office.next_opening(at(2025, 9, 30, 18)) == at(2025, 10, 9, 9)
    assert office.windows_on(date(2025, 10, 1)) == ()
    assert office.windows_on(date(2025, 9, 28)) == tuple(Window.parse(w) for w in OFFICE_HOURS)


# --- China's calendar: Spring Festival and its make-up days -----------------------------


def test_the_2026_spring_festival_span_and_its_make_up_saturdays(
    office: BusinessCalendar,
) -> None:
    # State Council 2026: off Sun 15 Feb - Mon 23 Feb; Saturdays 14 and 28 Feb are worked.
    assert chinese_calendar.is_workday(date(2026, 2, 14))
    assert not chinese_calendar.is_workday(date(2026, 2, 23))
    # Thu 12 + Fri 13 + make-up Sat 14: three full days end at 18:00 on the Saturday.
    assert office.add_working_time(at(2026, 2, 12, 9), 22.5 * H) == at(2026, 2, 14, 18)
    # One minute more jumps the whole holiday to Tuesday 24 February.
    assert office.add_working_time(at(2026, 2, 12, 9), 22.5 * H + M) == at(2026, 2, 24, 9, 1)
    assert office.working_time_between(at(2026, 2, 13, 9), at(2026, 2, 25, 9)) == 22.5 * H
    assert office.is_working_time(at(2026, 2, 28, 10))  # the second make-up Saturday
    assert not office.is_working_time(at(2026, 3, 1, 10))


def test_the_2025_spring_festival_make_up_sunday_and_saturday(office: BusinessCalendar) -> None:
    # 2025: Sunday 26 January and Saturday 8 February are worked; 28 Jan - 4 Feb are off.
    assert office.add_working_time(at(2025, 1, 24, 17), 2 * H) == at(2025, 1, 26, 10)
    assert office.add_working_time(at(2025, 1, 27, 17), 2 * H) == at(2025, 2, 5, 10)
    assert office.add_working_time(at(2025, 2, 7, 17, 30), H) == at(2025, 2, 8, 9, 30)


def test_make_up_days_use_the_make_up_windows() -> None:
    sunday = date(2025, 1, 26)
    data = HolidayData(days_on=[sunday], years=[2025], source="test")
    cal = BusinessCalendar(WEEKDAYS, data, makeup_windows=["10:00-11:00"])
    assert cal.windows_on(sunday) == (Window.parse("10:00-11:00"),)
    assert cal.working_time_between(at(2025, 1, 25), at(2025, 1, 27)) == H


# --- years without data ---------------------------------------------------------------------


def test_a_2027_date_without_a_data_file_is_refused_with_how_to_fix_it(
    office: BusinessCalendar,
) -> None:
    with pytest.raises(CalendarDataMissing) as info:
        office.add_working_time(at(2027, 3, 1, 9), H)
    message = str(info.value)
    assert "2027" in message
    assert "calendar-files.md" in message and "sources" in message
    assert "2004-2026" in message  # says what is covered
    with pytest.raises(CalendarDataMissing, match="2027"):
        office.is_working_time(at(2027, 3, 1, 9))
    with pytest.raises(CalendarDataMissing, match="2027"):
        office.windows_on(date(2027, 3, 1))


def test_a_deadline_or_interval_crossing_into_an_uncovered_year_is_refused(
    office: BusinessCalendar,
) -> None:
    with pytest.raises(CalendarDataMissing, match="2027"):
        office.add_working_time(at(2026, 12, 31, 17), 2 * H)
    with pytest.raises(CalendarDataMissing, match="2027"):
        office.add_working_time(at(2026, 12, 31, 19), M)  # the next opening is in 2027
    with pytest.raises(CalendarDataMissing, match="2027"):
        office.working_time_between(at(2026, 12, 30), at(2027, 1, 5))
    with pytest.raises(CalendarDataMissing, match="2027"):
        office.working_time_between(at(2026, 12, 30), at(2027, 1, 1, 0, 1))
    # [start, end) up to midnight on 1 January holds nothing of 2027, on a cold calendar too.
    assert office.working_time_between(at(2026, 12, 31, 17), at(2027, 1, 1)) == H
    cold = BusinessCalendar(WEEKDAYS, china_holidays())
    assert cold.working_time_between(at(2026, 12, 31, 17), at(2027, 1, 1)) == H
    # Ending exactly at the last close of 2026 needs nothing from 2027; a microsecond more does.
    assert office.add_working_time(at(2026, 12, 31, 17), H) == at(2026, 12, 31, 18)
    with pytest.raises(CalendarDataMissing, match="2027"):
        office.add_working_time(at(2026, 12, 31, 17), H + timedelta(microseconds=1))


def test_a_2027_data_file_makes_2027_work() -> None:
    # An example schedule (not the official one): New Year's Day Friday 1 January off.
    example_2027 = HolidayData(
        days_off=[date(2027, 1, 1)], days_on=[date(2027, 1, 9)], years=[2027], source="file x"
    )
    cal = BusinessCalendar(WEEKDAYS, layer(china_holidays(), example_2027))
    assert cal.add_working_time(at(2026, 12, 31, 17), 2 * H) == at(2027, 1, 4, 10)
    assert cal.is_working_time(at(2027, 1, 9, 10))  # the example make-up Saturday
    with pytest.raises(CalendarDataMissing, match="2028"):
        cal.is_working_time(at(2028, 1, 3, 10))


def test_dates_listed_in_an_uncovered_year_do_not_make_it_known() -> None:
    closure = HolidayData(days_off=[date(2027, 7, 1)], source="file typhoon")
    cal = BusinessCalendar(WEEKDAYS, layer(china_holidays(), closure))
    with pytest.raises(CalendarDataMissing, match="2027"):
        cal.is_working_time(at(2027, 7, 2, 10))


def test_a_calendar_that_ignores_holidays_needs_no_data() -> None:
    hotline = BusinessCalendar({"mon-sun": ["08:00-20:00"]}, None, name="hotline")
    assert hotline.add_working_time(at(2031, 10, 1, 19), 2 * H) == at(2031, 10, 2, 9)
    assert not hotline.is_24x7


# --- 24x7 and time zones --------------------------------------------------------------------


def test_the_24x7_calendar_counts_every_instant_in_any_year() -> None:
    hotline = BusinessCalendar.always()
    assert hotline.is_24x7 and hotline.name == "24x7"
    start = datetime(2031, 1, 31, 23, 30, tzinfo=UTC)
    due = hotline.add_working_time(start, 90 * M)
    assert due == start + 90 * M and due.tzinfo == SH
    assert hotline.working_time_between(at(2026, 2, 16), at(2026, 2, 18)) == 48 * H
    assert hotline.is_working_time(at(2040, 1, 1))
    assert hotline.next_opening(start) == start


def test_utc_input_gives_the_shanghai_answer_in_shanghai_time(office: BusinessCalendar) -> None:
    start = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    due = office.add_working_time(start, 3 * H)
    assert due == at(2025, 3, 3, 12)
    assert due.tzinfo == SH and due.hour == 12
    assert office.working_time_between(start, datetime(2025, 3, 3, 4, tzinfo=UTC)) == 3 * H


def test_input_in_another_dst_free_zone(office: BusinessCalendar) -> None:
    kolkata = ZoneInfo("Asia/Kolkata")  # UTC+05:30: 06:30 there is 09:00 in Shanghai
    due = office.add_working_time(datetime(2025, 3, 3, 6, 30, tzinfo=kolkata), 30 * M)
    assert due == at(2025, 3, 3, 9, 30) and due.tzinfo == SH


def test_a_calendar_in_a_dst_zone_counts_real_time_across_the_changes() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    cal = BusinessCalendar({"sun": ["01:00-04:00"]}, None, timezone="Europe/Berlin")
    # 30 March 2025: clocks jump 02:00 -> 03:00, so 01:00-04:00 holds two real hours.
    spring = cal.working_time_between(
        datetime(2025, 3, 29, tzinfo=berlin), datetime(2025, 3, 31, tzinfo=berlin)
    )
    assert spring == 2 * H
    # 26 October 2025: 03:00 -> 02:00, so it holds four.
    autumn = cal.working_time_between(
        datetime(2025, 10, 25, tzinfo=berlin), datetime(2025, 10, 27, tzinfo=berlin)
    )
    assert autumn == 4 * H
    due = cal.add_working_time(datetime(2025, 3, 30, 1, tzinfo=berlin), 90 * M)
    assert due == datetime(2025, 3, 30, 3, 30, tzinfo=berlin)


def test_windows_that_meet_inside_a_dst_gap_are_not_counted_twice() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # 02:30 does not exist on 30 March 2025; the two windows together run from
    # 01:00 CET to 04:00 CEST, which is two real hours.
    cal = BusinessCalendar({"sun": ["01:00-02:30", "03:00-04:00"]}, None, timezone="Europe/Berlin")
    day = cal.working_time_between(
        datetime(2025, 3, 30, tzinfo=berlin), datetime(2025, 3, 31, tzinfo=berlin)
    )
    assert day == 2 * H


def test_a_window_starting_inside_the_spring_forward_gap_counts_what_the_clock_shows() -> None:
    # 8 March 2026 in New York: 02:00 EST jumps to 03:00 EDT, so 02:30 never shows. The
    # clock reads inside 02:30-03:30 from the jump (03:00 EDT) to 03:30: half an hour,
    # where the window used to vanish (0 h). Likewise a window ending in the gap ends at
    # the jump, and one wholly inside it holds nothing.
    ny = ZoneInfo("America/New_York")
    day, after = datetime(2026, 3, 8, tzinfo=ny), datetime(2026, 3, 9, tzinfo=ny)
    for window, worked in (
        ("02:30-03:30", 30 * M),
        ("01:00-02:30", 1 * H),
        ("01:00-04:00", 2 * H),
        ("02:00-03:00", 0 * H),
    ):
        cal = BusinessCalendar({"sun": [window]}, None, timezone="America/New_York")
        assert cal.working_time_between(day, after) == worked, window
    cal = BusinessCalendar({"sun": ["02:30-03:30"]}, None, timezone="America/New_York")
    assert cal.add_working_time(day, 10 * M) == datetime(2026, 3, 8, 3, 10, tzinfo=ny)
    assert cal.next_opening(day) == datetime(2026, 3, 8, 3, 0, tzinfo=ny)


@given(
    minutes=st.integers(0, 24 * 60 - 1),
    length=st.integers(1, 180),
    zone_name=st.sampled_from(["America/New_York", "Europe/Berlin", "Australia/Sydney"]),
)
@settings(max_examples=60, deadline=None)
def test_working_time_on_a_dst_change_day_is_the_time_the_wall_clock_spends_in_the_window(
    minutes: int, length: int, zone_name: str
) -> None:
    # A minute-stepping oracle of the rule: a window runs from the first moment the wall
    # clock shows its start to the first moment it shows its end. So a start inside the
    # spring gap opens at the jump, and a window over the repeated autumn hour holds it
    # twice (the staff are there for both).
    tz = ZoneInfo(zone_name)
    start_s, end_s = minutes * 60, min(24 * 3600, (minutes + length) * 60)
    window = f"{start_s // 3600:02d}:{start_s % 3600 // 60:02d}-" + (
        "24:00" if end_s == 24 * 3600 else f"{end_s // 3600:02d}:{end_s % 3600 // 60:02d}"
    )
    cal = BusinessCalendar({"mon-sun": [window]}, None, timezone=zone_name)
    for day in _dst_change_days(tz, 2026):
        a = datetime.combine(day, datetime.min.time(), tzinfo=tz)
        b = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=tz)
        t, end = a.astimezone(UTC), b.astimezone(UTC)
        opened = closed = None
        while t < end and closed is None:
            wall = t.astimezone(tz)
            seconds = wall.hour * 3600 + wall.minute * 60
            if opened is None and seconds >= start_s:
                opened = t
            if opened is not None and seconds >= end_s:
                closed = t
            t += timedelta(minutes=1)
        worked = (closed or end) - opened if opened is not None else timedelta(0)
        assert cal.working_time_between(a, b) == worked, (day, window)


def _dst_change_days(tz: ZoneInfo, year: int) -> list[date]:
    days, day = [], date(year, 1, 1)
    while day.year == year:
        a = datetime.combine(day, datetime.min.time(), tzinfo=tz)
        b = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=tz)
        if a.utcoffset() != b.utcoffset():
            days.append(day)
        day += timedelta(days=1)
    return days


# --- properties ---------------------------------------------------------------------------

starts = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2026, 12, 20), timezones=st.just(SH)
)
budgets = st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(hours=60))


@settings(max_examples=300, deadline=None)
@given(start=starts, duration=budgets)
def test_working_time_between_inverts_add_working_time(
    office: BusinessCalendar, start: datetime, duration: timedelta
) -> None:
    begin = office.next_opening(start)
    assert office.working_time_between(begin, office.add_working_time(begin, duration)) == duration
    # From any start, too: the time before the opening is not working time.
    assert office.working_time_between(start, office.add_working_time(start, duration)) == duration


@settings(max_examples=300, deadline=None)
@given(start=starts, a=budgets, b=budgets)
def test_a_larger_budget_never_gives_an_earlier_deadline(
    office: BusinessCalendar, start: datetime, a: timedelta, b: timedelta
) -> None:
    small, large = sorted((a, b))
    assert office.add_working_time(start, small) <= office.add_working_time(start, large)


@settings(max_examples=200, deadline=None)
@given(a=starts, b=starts, c=starts)
def test_working_time_adds_up_over_consecutive_intervals(
    office: BusinessCalendar, a: datetime, b: datetime, c: datetime
) -> None:
    a, b, c = sorted((a, b, c))
    whole = office.working_time_between(a, c)
    assert office.working_time_between(a, b) + office.working_time_between(b, c) == whole


@functools.cache
def _workday(day: date) -> bool:
    return bool(chinese_calendar.is_workday(day))


def _minute_oracle(start: datetime, minutes: int) -> datetime:
    """Step minute by minute; each working minute spends one minute of the budget."""
    t = start.replace(tzinfo=None)
    left = minutes
    while left:
        if not _workday(t.date()):  # a day off is skipped whole, to keep the test quick
            t = datetime.combine(t.date() + timedelta(days=1), datetime.min.time())
            continue
        m = t.hour * 60 + t.minute
        if 540 <= m < 720 or 810 <= m < 1080:
            left -= 1
        t += M
    return t.replace(tzinfo=SH)


@settings(max_examples=150, deadline=None)
@given(
    day=st.dates(min_value=date(2025, 1, 1), max_value=date(2026, 12, 20)),
    minute=st.integers(0, 1439),
    minutes=st.integers(1, 16 * 60),
)
def test_deadlines_agree_with_a_minute_stepping_oracle(
    office: BusinessCalendar, day: date, minute: int, minutes: int
) -> None:
    start = at(day.year, day.month, day.day, minute // 60, minute % 60)
    assert office.add_working_time(start, minutes * M) == _minute_oracle(start, minutes)


@pytest.mark.parametrize(
    ("day", "minute", "minutes"),
    [
        (date(2026, 2, 13), 17 * 60, 61),  # into the make-up Saturday
        (date(2026, 2, 14), 17 * 60 + 59, 2),  # across the Spring Festival
        (date(2025, 9, 28), 8 * 60, 451),  # make-up Sunday before National Day
        (date(2025, 10, 10), 11 * 60 + 59, 1),  # ends at the close of a lunch-break window
    ],
)
def test_deadlines_agree_with_the_oracle_on_the_awkward_days(
    office: BusinessCalendar, day: date, minute: int, minutes: int
) -> None:
    start = at(day.year, day.month, day.day, minute // 60, minute % 60)
    assert office.add_working_time(start, minutes * M) == _minute_oracle(start, minutes)


def test_answers_do_not_depend_on_the_order_years_are_asked_in() -> None:
    asked = [at(2026, 5, 6, 10), at(2024, 2, 8, 16), at(2025, 12, 31, 17), at(2024, 12, 31, 17)]
    fresh_answers = [
        BusinessCalendar(WEEKDAYS, china_holidays()).add_working_time(s, 20 * H) for s in asked
    ]
    one = BusinessCalendar(WEEKDAYS, china_holidays())
    assert [one.add_working_time(s, 20 * H) for s in asked] == fresh_answers
    assert one.working_time_between(asked[1], asked[0]) == BusinessCalendar(
        WEEKDAYS, china_holidays()
    ).working_time_between(asked[1], asked[0])


def test_threads_sharing_a_cold_calendar_get_the_same_answers() -> None:
    starts = [at(2004 + i % 23, 1 + i % 12, 1 + i % 28, i % 24) for i in range(400)]
    expected = [
        BusinessCalendar(WEEKDAYS, china_holidays()).add_working_time(s, 30 * H) for s in starts
    ]
    shared = BusinessCalendar(WEEKDAYS, china_holidays())
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda s: shared.add_working_time(s, 30 * H), starts))
    assert got == expected


def test_microseconds_are_kept_exactly(office: BusinessCalendar) -> None:
    start = datetime(2025, 3, 3, 11, 59, 59, 999_999, tzinfo=SH)
    assert office.add_working_time(start, timedelta(microseconds=1)) == at(2025, 3, 3, 12)
    assert office.add_working_time(start, timedelta(microseconds=2)) == datetime(
        2025, 3, 3, 13, 30, 0, 1, tzinfo=SH
    )


# --- bad input ---------------------------------------------------------------------------


def test_naive_datetimes_are_refused(office: BusinessCalendar) -> None:
    with pytest.raises(ValidationError, match="start=.*timezone-aware"):
        office.add_working_time(datetime(2025, 3, 3, 9), H)
    with pytest.raises(ValidationError, match="end=.*timezone-aware"):
        office.working_time_between(at(2025, 3, 3, 9), datetime(2025, 3, 3, 10))
    with pytest.raises(ValidationError, match="when="):
        office.is_working_time(datetime(2025, 3, 3, 9))
    with pytest.raises(ValidationError, match="start="):
        office.add_working_time(date(2025, 3, 3), H)  # type: ignore[arg-type]


@pytest.mark.parametrize("duration", [timedelta(0), -M, 60])
def test_a_duration_must_be_a_positive_timedelta(
    office: BusinessCalendar, duration: object
) -> None:
    with pytest.raises(ValidationError, match="duration="):
        office.add_working_time(at(2025, 3, 3, 9), duration)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="duration="):
        BusinessCalendar.always().add_working_time(at(2025, 3, 3, 9), duration)  # type: ignore[arg-type]


def test_an_end_before_the_start_is_refused_and_equal_ends_give_zero(
    office: BusinessCalendar,
) -> None:
    with pytest.raises(ValidationError, match="end=.*before start"):
        office.working_time_between(at(2025, 3, 3, 10), at(2025, 3, 3, 9))
    assert office.working_time_between(at(2025, 3, 3, 10), at(2025, 3, 3, 10)) == timedelta(0)
    # The same instant written in another zone is equal, not earlier.
    same = datetime(2025, 3, 3, 2, tzinfo=UTC)
    assert office.working_time_between(at(2025, 3, 3, 10), same) == timedelta(0)


def test_overlapping_windows_are_refused_naming_the_weekday_and_windows() -> None:
    with pytest.raises(ValidationError) as info:
        BusinessCalendar({"tue": ["09:00-12:30", "12:00-18:00"]}, None)
    message = str(info.value)
    assert "windows.tue" in message and "09:00-12:30" in message and "12:00-18:00" in message
    assert "overlap" in message


@pytest.mark.parametrize("window", ["13:00-12:00", "09:00-09:00"])
def test_a_window_ending_before_it_starts_is_refused(window: str) -> None:
    with pytest.raises(ValidationError) as info:
        BusinessCalendar({"wed": ["08:00-08:30", window]}, None)
    assert "windows.wed" in str(info.value) and window in str(info.value)
    with pytest.raises(ValidationError, match="window="):
        Window(13 * 3600, 12 * 3600)


@pytest.mark.parametrize(
    ("windows", "field"),
    [
        ({"mon": ["9-12"]}, "windows.mon"),
        ({"mon": ["09:00-25:00"]}, "windows.mon"),
        ({"funday": OFFICE_HOURS}, "windows"),
        ({"mon-fri": OFFICE_HOURS, "wed": ["19:00-20:00"]}, "windows"),
        ({}, "windows"),
    ],
)
def test_bad_weekly_schedules_are_refused(windows: dict[str, list[str]], field: str) -> None:
    with pytest.raises(ValidationError, match=f"^{field}="):
        BusinessCalendar(windows, None)


def test_touching_windows_are_allowed() -> None:
    cal = BusinessCalendar({"mon": ["09:00-12:00", "12:00-13:00"]}, None)
    assert cal.add_working_time(at(2025, 3, 3, 11), 2 * H) == at(2025, 3, 3, 13)


def test_a_date_both_on_and_off_is_refused_naming_the_date() -> None:
    with pytest.raises(ValidationError, match="2025-10-01"):
        HolidayData(days_off=[date(2025, 10, 1)], days_on=[date(2025, 10, 1)], years=[2025])


def test_bad_holiday_data_and_time_zones_are_refused() -> None:
    with pytest.raises(ValidationError, match="days_off="):
        HolidayData(days_off=["2025-10-01"])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="years="):
        HolidayData(years=[27])
    with pytest.raises(ValidationError, match="timezone="):
        BusinessCalendar(WEEKDAYS, None, timezone="Mars/Olympus")


def test_a_calendar_that_needs_make_up_windows_it_does_not_have_is_refused() -> None:
    data = HolidayData(days_on=[date(2025, 1, 26)], years=[2025])
    with pytest.raises(ValidationError, match="makeup_windows"):
        BusinessCalendar({"tue-sat": OFFICE_HOURS}, data)


# --- layering and configuration -----------------------------------------------------------


def test_a_later_layer_decides_the_dates_it_names() -> None:
    base = HolidayData(
        days_off=[date(2025, 10, 1)], days_on=[date(2025, 9, 28)], years=[2025], source="a"
    )
    company = HolidayData(
        days_off=[date(2025, 9, 28), date(2025, 7, 21)], days_on=[date(2025, 10, 1)], source="b"
    )
    combined = layer(base, company)
    assert combined.days_off == {date(2025, 9, 28), date(2025, 7, 21)}
    assert combined.days_on == {date(2025, 10, 1)}
    assert combined.years == {2025} and combined.source == "a + b"
    assert layer(company, base).days_off == {date(2025, 10, 1), date(2025, 7, 21)}


def test_the_default_configuration_builds_office_hours_and_24x7() -> None:
    calendars = build_calendars(DEFAULT_CALENDARS, {"cn": CN, "file": FILE})
    assert set(calendars) == {"office", "24x7"}
    office, hotline = calendars["office"], calendars["24x7"]
    assert office.name == "office" and office.timezone == "Asia/Shanghai"
    assert office.add_working_time(at(2025, 3, 3, 9), 3 * H) == at(2025, 3, 3, 12)
    assert hotline.is_24x7


def test_an_unknown_source_names_those_available() -> None:
    spec = {"office": {"windows": WEEKDAYS, "sources": ["cn", "hk"]}}
    with pytest.raises(ConfigError) as info:
        build_calendars(spec, {"cn": CN, "file": FILE})
    message = str(info.value)
    assert "calendars.office.sources='hk'" in message and "available: cn, file" in message


def test_configuration_mistakes_are_config_errors_naming_the_calendar() -> None:
    sources = {"cn": CN}
    with pytest.raises(ConfigError, match="calendars.office.windw"):
        build_calendars({"office": {"windw": WEEKDAYS, "sources": ["cn"]}}, sources)
    with pytest.raises(ConfigError, match="calendars.office.sources"):
        build_calendars({"office": {"windows": WEEKDAYS}}, sources)
    with pytest.raises(ConfigError, match="calendars.office.windows"):
        build_calendars({"office": {"sources": ["cn"]}}, sources)
    with pytest.raises(ValidationError, match="calendars.office.windows.mon"):
        build_calendars(
            {"office": {"windows": {"mon": ["12:00-09:00"]}, "sources": ["cn"]}}, sources
        )


def test_a_source_shared_by_calendars_is_loaded_once() -> None:
    from propcare.plugins.records import CalendarSource

    calls: list[dict[str, object]] = []

    def load(settings: dict[str, object]) -> HolidayData:
        calls.append(dict(settings))
        return HolidayData(years=[2025], source="counted")

    spec = {
        "a": {"windows": WEEKDAYS, "sources": ["counted"]},
        "b": {"windows": {"sat": OFFICE_HOURS}, "sources": [{"counted": {}}]},
        "c": {"windows": WEEKDAYS, "ignore_holidays": True},
    }
    calendars = build_calendars(spec, {"counted": CalendarSource("counted", load)})
    assert calls == [{}]
    assert calendars["c"].holidays is None
