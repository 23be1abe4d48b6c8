"""Business-hours deadlines: propcare against businesstimedelta, checked by two oracles.

Calendar: the default "office" calendar (Mon-Fri 09:00-12:00 and 13:30-18:00,
Asia/Shanghai, China's holidays and make-up working days from chinesecalendar).
Cases: 100,000 random (start, duration) pairs, whole minutes, starts spread over
2025-2026 with extra weight on the Spring Festival and National Day spans (where
the make-up Saturdays and Sundays are), at any time of day (nights, lunch breaks,
weekends); durations from 1 minute to 5 working days (37.5 hours).

- propcare: ``add_working_time`` on a warm calendar, all cases.
- a plain day-walking loop written here (about 25 lines, ``plain_loop``): the same
  windows, days off and make-up days (propcare's own holiday data), walked day by day;
  all cases, checked equal to propcare on every one. What a hand-written loop for this
  one calendar costs: the fair baseline for speed.
- businesstimedelta (PyPI): the same cases' first 2,000, rules WorkDayRule per window
  (so the lunch break is outside) and a HolidayRule with the same days off; it has no
  notion of make-up days, so its answers are checked against propcare with make-up
  days removed, not against the oracle. A slow library: its ratio says little.
- the three in turns, the side that goes first rotating each round, 7 rounds; each
  ratio is the median of the rounds' ratios of time per deadline.
- correctness: a minute-stepping oracle (obviously right, slow) on a 2,000-case
  sample and an independent day-walking oracle on all 100,000 cases. Both read
  working days from ``chinese_calendar.is_workday``, not from propcare's data.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytz
from businesstimedelta import BusinessTimeDelta, HolidayRule, Rules, WorkDayRule
from rounds import alternate

from propcare.calendar import DEFAULT_CALENDARS, BusinessCalendar, HolidayData, build_calendars
from propcare.calendar_sources import CN, china_holidays

CASES = 100_000
ORACLE_SAMPLE = 2_000
BASELINE_SAMPLE = 2_000
ROUNDS = 7
SEED = 20251001

SHANGHAI = ZoneInfo("Asia/Shanghai")
WINDOWS = ((9 * 60, 12 * 60), (13 * 60 + 30, 18 * 60))  # minutes after midnight
MAX_MINUTES = 5 * 450  # five working days of 7.5 hours
# Spans where holidays and make-up days crowd together.
HOT_SPANS = (
    (date(2025, 1, 20), date(2025, 2, 12)),  # Spring Festival 2025
    (date(2025, 9, 24), date(2025, 10, 15)),  # National Day 2025
    (date(2026, 2, 9), date(2026, 3, 3)),  # Spring Festival 2026
    (date(2026, 9, 25), date(2026, 10, 14)),  # National Day 2026
)
FIRST, LAST = date(2025, 1, 1), date(2026, 12, 22)  # deadlines stay inside 2026

Case = tuple[datetime, int]  # aware start, duration in minutes


def make_cases(n: int, seed: int = SEED) -> list[Case]:
    rng = random.Random(seed)
    cases: list[Case] = []
    span_days = (LAST - FIRST).days
    for _ in range(n):
        if rng.random() < 0.35:
            lo, hi = rng.choice(HOT_SPANS)
            day = lo + timedelta(days=rng.randrange((hi - lo).days + 1))
        else:
            day = FIRST + timedelta(days=rng.randrange(span_days + 1))
        # Most reports come in office hours; the rest exercise nights and weekends.
        minute = rng.randrange(8 * 60, 19 * 60) if rng.random() < 0.7 else rng.randrange(1440)
        start = datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=SHANGHAI)
        # Many short budgets (response, arrival), the rest up to five working days.
        minutes = rng.randint(1, 240) if rng.random() < 0.4 else rng.randint(1, MAX_MINUTES)
        cases.append((start, minutes))
    return cases


# --- oracles: independent of propcare's holiday data and arithmetic ---------------------


class Workdays:
    """``chinese_calendar.is_workday`` per date, memoised (it is slow-ish and pure)."""

    def __init__(self) -> None:
        self._known: dict[date, bool] = {}

    def __call__(self, day: date) -> bool:
        known = self._known.get(day)
        if known is None:
            known = self._known[day] = bool(chinese_calendar.is_workday(day))
        return known


WORKING_MINUTES = frozenset(m for a, b in WINDOWS for m in range(a, b))


def minute_oracle(workday: Workdays, start: datetime, minutes: int) -> datetime:
    """Walk one minute at a time; each working minute spends one minute of the budget."""
    t = start.replace(tzinfo=None)
    day = t.date()
    base = datetime(day.year, day.month, day.day)
    offset = (t - base) // timedelta(minutes=1)
    left = minutes
    while left:
        if offset == 1440:
            day += timedelta(days=1)
            base += timedelta(days=1)
            offset = 0
        if offset in WORKING_MINUTES and workday(day):
            left -= 1
        offset += 1
    return base + timedelta(minutes=offset)


def day_walk_oracle(workday: Workdays, start: datetime, minutes: int) -> datetime:
    """Walk day by day, spending each window from the start onwards."""
    t = start.replace(tzinfo=None)
    day = t.date()
    now = t.hour * 60 + t.minute
    left = minutes
    while True:
        if workday(day):
            for a, b in WINDOWS:
                begin = max(a, now)
                if begin >= b:
                    continue
                if b - begin >= left:
                    return datetime(day.year, day.month, day.day) + timedelta(minutes=begin + left)
                left -= b - begin
        day += timedelta(days=1)
        now = 0


def as_local(result: datetime) -> datetime:
    assert result.utcoffset() == timedelta(hours=8), result
    return result.replace(tzinfo=None)


# --- the plain alternative: a hand-written day-walking loop -------------------------------


def plain_loop(
    days_off: frozenset[date], days_on: frozenset[date]
) -> Callable[[datetime, timedelta], datetime]:
    """What one would write by hand for this one calendar: walk the windows day by day.

    The same windows, days off and make-up days as propcare's calendar (make-up days
    work the weekday windows); whole seconds, one zone without DST changes, no input
    checks and no error for a year without data. Returns aware times, as propcare does.
    """
    windows = [(a * 60, b * 60) for a, b in WINDOWS]  # seconds after midnight
    one_day, one_second = timedelta(days=1), timedelta(seconds=1)

    def add(start: datetime, duration: timedelta) -> datetime:
        t = start.astimezone(SHANGHAI)
        day = t.date()
        now = t.hour * 3600 + t.minute * 60 + t.second
        left = duration // one_second
        while True:
            if day in days_on or (day.weekday() < 5 and day not in days_off):
                for a, b in windows:
                    begin = a if a > now else now
                    if begin < b:
                        if b - begin >= left:
                            midnight = datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)
                            return midnight + timedelta(seconds=begin + left)
                        left -= b - begin
            day += one_day
            now = 0

    return add


# --- businesstimedelta --------------------------------------------------------------------


def baseline_rule(days_off: frozenset[date]) -> Rules:
    tz = pytz.timezone("Asia/Shanghai")
    workdays = [0, 1, 2, 3, 4]
    morning = WorkDayRule(
        start_time=datetime.min.time().replace(hour=9),
        end_time=datetime.min.time().replace(hour=12),
        working_days=workdays,
        tz=tz,
    )
    afternoon = WorkDayRule(
        start_time=datetime.min.time().replace(hour=13, minute=30),
        end_time=datetime.min.time().replace(hour=18),
        working_days=workdays,
        tz=tz,
    )
    # HolidayRule searches forward for the next listed date and crashes when there is
    # none; New Year's Day 2027 is certain and gives it an end. No case reaches 2027.
    holidays = HolidayRule(days_off | {date(2027, 1, 1)}, tz=tz)
    return Rules([morning, afternoon, holidays])


# --- measuring -----------------------------------------------------------------------------


def _rate(n: int, fn: Callable[[], object], rounds: int = ROUNDS) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return n / statistics.median(times)


def _mismatches(expected: Sequence[datetime], got: Sequence[datetime]) -> int:
    return sum(1 for e, g in zip(expected, got, strict=True) if e != g)


def main() -> None:
    cases = make_cases(CASES)
    durations = [(s, timedelta(minutes=m)) for s, m in cases]

    t0 = time.perf_counter()
    office = build_calendars(DEFAULT_CALENDARS, {"cn": CN})["office"]
    office.add_working_time(cases[0][0], timedelta(minutes=1))
    cold_ms = (time.perf_counter() - t0) * 1000
    for year in (2025, 2026):  # warm: both years built before timing
        office.add_working_time(datetime(year, 6, 1, tzinfo=SHANGHAI), timedelta(minutes=1))

    add = office.add_working_time
    # businesstimedelta on the first cases, against propcare without make-up days.
    data = china_holidays()
    no_makeup = BusinessCalendar(
        office.windows,
        HolidayData(data.days_off, frozenset(), data.years, "cn without make-up days"),
        name="office-no-makeup",
    )
    rule = baseline_rule(data.days_off)
    sample = cases[:BASELINE_SAMPLE]
    assert office.holidays is not None
    loop = plain_loop(office.holidays.days_off, office.holidays.days_on)
    results: list[datetime] = []
    loop_results: list[datetime] = []
    baseline_results: list[datetime] = []

    def run_propcare() -> None:
        results.clear()
        append = results.append
        for start, duration in durations:
            append(add(start, duration))

    def run_loop() -> None:
        loop_results.clear()
        append = loop_results.append
        for start, duration in durations:
            append(loop(start, duration))

    def run_baseline() -> None:
        baseline_results.clear()
        for start, minutes in sample:
            baseline_results.append(BusinessTimeDelta(rule, seconds=minutes * 60) + start)

    # In turns, the side that goes first rotating each round; ratios per deadline.
    rounds = alternate(
        [("propcare", run_propcare), ("loop", run_loop), ("btd", run_baseline)], ROUNDS
    )
    propcare_rate = len(cases) / rounds.median(0)
    loop_rate = len(cases) / rounds.median(1)
    baseline_rate = len(sample) / rounds.median(2)
    loop_ratios = rounds.ratios(1, 0)  # the same cases: loop time / propcare time
    btd_ratios = [x * len(cases) / len(sample) for x in rounds.ratios(2, 0)]
    loop_mismatches = sum(
        1
        for r, p in zip(loop_results, results, strict=True)
        if r != p or r.utcoffset() != p.utcoffset()
    )

    between = office.working_time_between
    pairs = list(zip((s for s, _ in cases), results, strict=True))
    between_rate = _rate(len(pairs), lambda: [between(a, b) for a, b in pairs])
    inverse_errors = sum(
        1 for (a, b), (_, d) in zip(pairs, durations, strict=True) if between(a, b) != d
    )

    no_makeup_results = [no_makeup.add_working_time(s, timedelta(minutes=m)) for s, m in sample]
    baseline_mismatches = _mismatches(no_makeup_results, baseline_results)
    makeup_changes = sum(
        1
        for (s, m), r in zip(cases, results, strict=True)
        if no_makeup.add_working_time(s, timedelta(minutes=m)) != r
    )

    # Correctness against the oracles.
    workday = Workdays()
    local = [as_local(r) for r in results]
    t0 = time.perf_counter()
    day_walk = [day_walk_oracle(workday, s, m) for s, m in cases]
    day_walk_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    minute = [minute_oracle(workday, s, m) for s, m in cases[:ORACLE_SAMPLE]]
    minute_s = time.perf_counter() - t0
    minute_mismatches = _mismatches(minute, local[:ORACLE_SAMPLE])
    oracles_disagree = _mismatches(minute, day_walk[:ORACLE_SAMPLE])
    day_walk_mismatches = _mismatches(day_walk, local)

    print(
        f"cases: {len(cases):,} random (start, duration) on 'office' (Mon-Fri 09:00-12:00, "
        "13:30-18:00, Asia/Shanghai, cn holidays and make-up days), 2025-2026, whole minutes, "
        f"1 min to {MAX_MINUTES // 60} h 30 min of working time; medians of {ROUNDS} rounds, "
        "the sides in turns, the first rotating"
    )
    print(f"propcare add_working_time, warm:      {propcare_rate:>12,.0f} deadlines/s")
    print(f"propcare working_time_between, warm:  {between_rate:>12,.0f} intervals/s")
    print(
        f"plain day-walking loop (same data):   {loop_rate:>12,.0f} deadlines/s"
        f"  ({loop_mismatches} mismatches with propcare in {len(cases):,} cases)"
    )
    print(
        f"ratio propcare / plain loop:          {statistics.median(loop_ratios):>12.2f}x"
        f"   (rounds {min(loop_ratios):.2f}x-{max(loop_ratios):.2f}x)"
    )
    print(
        f"businesstimedelta ({len(sample):,} cases):      {baseline_rate:>12,.0f} deadlines/s"
        "  (no make-up days: it cannot express them)"
    )
    print(
        f"ratio propcare / businesstimedelta:   {statistics.median(btd_ratios):>12,.0f}x"
        f"   (rounds {min(btd_ratios):,.0f}x-{max(btd_ratios):,.0f}x; goal >= 100x)"
    )
    print(
        f"goal >= 300,000 deadlines/s:         {'met' if propcare_rate >= 300_000 else 'NOT met'}"
    )
    print(
        f"mismatches, minute-stepping oracle ({len(minute):,}-case sample, {minute_s:.1f} s): "
        f"{minute_mismatches}"
    )
    print(
        f"mismatches, day-walking oracle (all {len(day_walk):,} cases, {day_walk_s:.1f} s): "
        f"{day_walk_mismatches}   (the two oracles disagree on {oracles_disagree} of the sample)"
    )
    print(f"working_time_between(start, deadline) != duration: {inverse_errors} of {len(pairs):,}")
    print(
        f"businesstimedelta vs propcare with make-up days removed: "
        f"{baseline_mismatches} mismatches of {len(sample):,}"
    )
    print(
        f"make-up days change {makeup_changes / len(cases):.1%} of the deadlines; "
        f"cold calendar (build + first year): {cold_ms:.1f} ms"
    )


if __name__ == "__main__":
    main()
