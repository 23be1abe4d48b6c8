"""Business calendars: working windows, public holidays and make-up working days (调休).

A :class:`BusinessCalendar` answers two questions the SLA engine asks all day:
when does a budget of working time starting now run out
(:meth:`~BusinessCalendar.add_working_time`), and how much working time lies
between two instants (:meth:`~BusinessCalendar.working_time_between`).

Holiday data is a frozen :class:`HolidayData` value that calendar sources
(``propcare_calendars`` hook: ``cn``, ``file``, ...) load at the edge and
:func:`layer` combines. A date in a year no source covers raises
:class:`~propcare.errors.CalendarDataMissing`; nothing is guessed. This module
does no IO: :func:`build_calendars` calls the sources' ``load``, which may.

Speed: each calendar keeps, per year it has been asked about, the working
intervals as UTC epoch microseconds with cumulative working time, so a warm
calendar answers with two binary searches and no per-day walking.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import attrs

from propcare.clock import DEFAULT_TZ, require_aware, zone
from propcare.errors import CalendarDataMissing, ConfigError, ValidationError

if TYPE_CHECKING:
    from propcare.plugins.records import CalendarSource

__all__ = [
    "DEFAULT_CALENDARS",
    "WEEKDAYS",
    "BusinessCalendar",
    "HolidayData",
    "Window",
    "build_calendars",
    "layer",
    "year_ranges",
]

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

FIRST_YEAR = 1900
LAST_YEAR = 9998
DATA_HELP = "docs/reference/calendar-files.md"

_DAY = 86_400
_US_PER_S = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = _EPOCH.toordinal()
_NO_OFFSET = timedelta(0)
_ONE_US = timedelta(microseconds=1)
_US_PER_MIN = 60 * _US_PER_S
_MINUTES = tuple(timedelta(minutes=m) for m in range(24 * 60 + 1))
# Below 2**52 microseconds (until about 2112) a float timestamp is within 0.25 µs
# of the exact value, so fromtimestamp's rounding recovers the integer exactly
# and saves a timedelta construction on the hot path.
_FLOAT_EXACT = 2**52
_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


# --- windows -------------------------------------------------------------------------


def _clock_text(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


@attrs.frozen(order=True, repr=False)
class Window:
    """A working window inside one local day, ``[start, end)`` in seconds after midnight.

    ``end`` may be ``86400`` (24:00). Windows never cross midnight: write a night
    shift as ``22:00-24:00`` on one day and ``00:00-06:00`` on the next.
    """

    start: int
    end: int

    def __attrs_post_init__(self) -> None:
        for value in (self.start, self.end):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValidationError("window", value, "bounds are whole seconds after midnight")
        if not 0 <= self.start < self.end <= _DAY:
            raise ValidationError(
                "window", str(self), "must start before it ends, within 00:00-24:00"
            )

    @classmethod
    def parse(cls, text: str, field: str = "window") -> Window:
        """``"09:00-12:00"`` -> ``Window(32400, 43200)``; ValidationError naming ``field``."""
        match = _WINDOW.match(text) if isinstance(text, str) else None
        if match is None:
            raise ValidationError(field, text, "must be a window written HH:MM-HH:MM")
        sh, sm, eh, em = (int(g) for g in match.groups())
        if sm > 59 or em > 59 or sh > 24 or eh > 24 or (sh == 24 and sm) or (eh == 24 and em):
            raise ValidationError(field, text, "has a time that is not on a 24-hour clock")
        start, end = sh * 3600 + sm * 60, eh * 3600 + em * 60
        if end <= start:
            raise ValidationError(field, text, "ends before it starts (or is empty)")
        return cls(start, end)

    @property
    def duration(self) -> timedelta:
        return timedelta(seconds=self.end - self.start)

    def __str__(self) -> str:
        return f"{_clock_text(self.start)}-{_clock_text(self.end)}"

    def __repr__(self) -> str:
        return f"Window({str(self)!r})"


WindowSpec = str | Window
DayWindows = tuple[Window, ...]
WeekWindows = tuple[DayWindows, ...]
WeekSpec = Mapping[str, Iterable[WindowSpec] | str] | Mapping[int, Iterable[WindowSpec] | str]


def _day_windows(field: str, spec: Iterable[WindowSpec] | str) -> DayWindows:
    items: Iterable[WindowSpec] = (spec,) if isinstance(spec, str | Window) else spec
    windows = []
    for item in items:
        windows.append(item if isinstance(item, Window) else Window.parse(item, field))
    windows.sort()
    for before, after in pairwise(windows):
        if after.start < before.end:
            raise ValidationError(field, f"{before}, {after}", "working windows must not overlap")
    return tuple(windows)


def _weekday_keys(key: str | int) -> list[int]:
    """``"mon"`` -> [0]; ``"mon-fri"`` -> [0..4]; ``5`` -> [5]."""
    if isinstance(key, int) and not isinstance(key, bool) and 0 <= key <= 6:
        return [key]
    if isinstance(key, str):
        first, _, last = key.strip().lower().partition("-")
        if first in WEEKDAYS and (not last or last in WEEKDAYS):
            a, b = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
            if a <= b:
                return list(range(a, b + 1))
    raise ValidationError(
        "windows", key, "weekday must be one of mon..sun, a range like mon-fri, or 0 (Monday)..6"
    )


def _week(spec: WeekSpec | WeekWindows) -> WeekWindows:
    if isinstance(spec, tuple) and len(spec) == 7:
        # Already normalised (attrs.evolve, copies); check the windows all the same.
        return tuple(_day_windows(f"windows.{WEEKDAYS[i]}", day) for i, day in enumerate(spec))
    if not isinstance(spec, Mapping):
        raise ValidationError("windows", spec, "must map weekdays (mon..sun) to working windows")
    week: list[DayWindows | None] = [None] * 7
    for key, windows in spec.items():
        for day in _weekday_keys(key):
            if week[day] is not None:
                raise ValidationError("windows", key, f"{WEEKDAYS[day]} is given more than once")
            week[day] = _day_windows(f"windows.{WEEKDAYS[day]}", windows)
    return tuple(day or () for day in week)


def _makeup(spec: Iterable[WindowSpec] | str | None) -> DayWindows | None:
    return None if spec is None else _day_windows("makeup_windows", spec)


# --- holiday data ----------------------------------------------------------------------


def _date_set(field: str, values: Iterable[date]) -> frozenset[date]:
    result = frozenset(values)
    for value in result:
        if not isinstance(value, date) or isinstance(value, datetime):
            raise ValidationError(field, value, "must be a date (datetime.date)")
    return result


def _days_off(values: Iterable[date]) -> frozenset[date]:
    return _date_set("days_off", values)


def _days_on(values: Iterable[date]) -> frozenset[date]:
    return _date_set("days_on", values)


def _years(values: Iterable[int]) -> frozenset[int]:
    result = frozenset(values)
    for year in result:
        if isinstance(year, bool) or not isinstance(year, int):
            raise ValidationError("years", year, "must be a whole year such as 2027")
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise ValidationError("years", year, f"must be between {FIRST_YEAR} and {LAST_YEAR}")
    return result


def year_ranges(years: Iterable[int]) -> str:
    """``{2004, ..., 2026, 2028}`` -> ``"2004-2026, 2028"``."""
    ordered = sorted(years)
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ", ".join(parts) or "no years"


@attrs.frozen(repr=False)
class HolidayData:
    """Which dates deviate from the weekly schedule, and for which years that is complete.

    ``days_off``: public holidays and other closures (no working time that day).
    ``days_on``: make-up working days (调休), worked with the calendar's
    ``makeup_windows`` whatever their weekday. ``years``: the years this data
    covers completely; a date outside them is :class:`CalendarDataMissing`,
    even when some of its dates are listed (a typhoon closure does not make a
    year known). ``source`` says where the data came from, for error messages.
    """

    days_off: frozenset[date] = attrs.field(factory=frozenset, converter=_days_off)
    days_on: frozenset[date] = attrs.field(factory=frozenset, converter=_days_on)
    years: frozenset[int] = attrs.field(factory=frozenset, converter=_years)
    source: str = ""

    def __attrs_post_init__(self) -> None:
        both = self.days_off & self.days_on
        if both:
            where = self.source or "the holiday data"
            raise ValidationError(
                "days_on",
                min(both).isoformat(),
                f"is also a day off in {where}: a date is either off or on",
            )

    def covers(self, year: int) -> bool:
        return year in self.years

    def __repr__(self) -> str:
        return (
            f"HolidayData(source={self.source!r}, years={year_ranges(self.years)!r}, "
            f"days_off={len(self.days_off)}, days_on={len(self.days_on)})"
        )


def layer(*layers: HolidayData) -> HolidayData:
    """Combine holiday data in order: a later layer decides a date it names.

    A date a later layer lists as on is no longer off (and the other way round);
    covered years are the union. ``layer(cn, company_file)`` lets a company file
    add a typhoon closure or reopen a holiday, and a file covering 2027 extend
    ``cn`` by a year.
    """
    off: set[date] = set()
    on: set[date] = set()
    years: set[int] = set()
    for data in layers:
        off -= data.days_on
        on -= data.days_off
        off |= data.days_off
        on |= data.days_on
        years |= data.years
    source = " + ".join(d.source or "?" for d in layers)
    return HolidayData(frozenset(off), frozenset(on), frozenset(years), source)


# --- the calendar ----------------------------------------------------------------------


@attrs.frozen
class _Span:
    """Working intervals of the contiguous local years ``first..last`` (epoch µs).

    ``cum[i]`` is the working time before interval ``i`` counted from ``lo``;
    ``cum_end[i] = cum[i] + ends[i] - starts[i]``. Immutable: growing builds a new
    span, so a reader holding the old one never sees half an update.
    """

    first: int
    last: int
    lo: int
    hi: int
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    cum: tuple[int, ...]
    cum_end: tuple[int, ...]
    bases: tuple[datetime | None, ...]  # each start as a local datetime; None near DST changes


_EMPTY = _Span(0, -1, 0, 0, (), (), (), (), ())


def _us(dt: datetime) -> int:
    """Epoch microseconds of an aware datetime (fields and offset: cheaper than dt - epoch)."""
    off = dt.utcoffset() or _NO_OFFSET
    return (
        (dt.toordinal() - _EPOCH_ORDINAL) * _DAY
        + dt.hour * 3600
        + dt.minute * 60
        + dt.second
        - off.days * _DAY
        - off.seconds
    ) * _US_PER_S + dt.microsecond


def _timedelta(us: int) -> timedelta:
    return timedelta(0, us // _US_PER_S, us % _US_PER_S)


_ALL_DAY = (Window(0, _DAY),)


@attrs.frozen
class BusinessCalendar:
    """Working windows per weekday in a time zone, with holidays and make-up days.

    ``windows`` maps weekdays (``"mon"``..``"sun"``, ranges like ``"mon-fri"``, or
    0..6 with Monday 0) to windows such as ``["09:00-12:00", "13:30-18:00"]``; days
    not named have no working time. ``holidays`` is the layered holiday data, or
    ``None`` for a calendar that deliberately ignores public holidays (a hotline
    staffed every day). ``makeup_windows`` are worked on a make-up day; by default
    Monday's windows. :meth:`always` builds the 24x7 calendar.

    Every datetime in must be aware (any zone); every datetime out is in
    ``timezone``. Windows are half-open: 12:00 is not inside 09:00-12:00.

    A year no holiday source covers raises :class:`CalendarDataMissing`, unless the
    calendar is ``provisional`` (see :meth:`provisional_view`): then such a year follows
    the weekly windows alone, and :meth:`missing_years` says which answers rest on that.
    """

    windows: WeekWindows = attrs.field(converter=_week)
    holidays: HolidayData | None = attrs.field()
    timezone: str = attrs.field(default=DEFAULT_TZ)
    name: str = attrs.field(default="business")
    makeup_windows: DayWindows | None = attrs.field(default=None, converter=_makeup)
    provisional: bool = attrs.field(default=False, kw_only=True)

    _zone: ZoneInfo = attrs.field(init=False, repr=False, eq=False)
    _always: bool = attrs.field(init=False, repr=False, eq=False)
    _on_windows: DayWindows = attrs.field(init=False, repr=False, eq=False)
    _span: _Span = attrs.field(init=False, repr=False, eq=False)
    _years: dict[int, tuple[tuple[int, int, datetime | None], ...]] = attrs.field(
        init=False, repr=False, eq=False
    )
    _lock: threading.Lock = attrs.field(init=False, repr=False, eq=False)
    _view: BusinessCalendar | None = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        if self.holidays is not None and not isinstance(self.holidays, HolidayData):
            raise ValidationError(
                "holidays", self.holidays, "must be HolidayData, or None to ignore holidays"
            )
        if not isinstance(self.name, str) or not self.name:
            raise ValidationError("name", self.name, "must be a non-empty text")
        if not any(self.windows):
            raise ValidationError(
                "windows", {}, "a business calendar needs at least one working window a week"
            )
        init = object.__setattr__  # frozen: the caches are set once here and grow internally
        init(self, "_zone", zone(self.timezone))
        init(self, "_always", self.holidays is None and all(d == _ALL_DAY for d in self.windows))
        on_windows = self.windows[0] if self.makeup_windows is None else self.makeup_windows
        if not on_windows and self.holidays is not None and self.holidays.days_on:
            raise ValidationError(
                "makeup_windows",
                self.makeup_windows,
                "make-up days need windows: Monday has none, so give makeup_windows",
            )
        init(self, "_on_windows", on_windows)
        init(self, "_span", _EMPTY)
        init(self, "_years", {})
        init(self, "_lock", threading.Lock())
        init(self, "_view", None)

    @classmethod
    def always(cls, timezone: str = DEFAULT_TZ, name: str = "24x7") -> BusinessCalendar:
        """The 24x7 calendar for hotlines and emergencies: every instant is working time."""
        return cls({"mon-sun": ["00:00-24:00"]}, None, timezone=timezone, name=name)

    @property
    def is_24x7(self) -> bool:
        return self._always

    def provisional_view(self) -> BusinessCalendar:
        """This calendar, except that a year without holiday data follows the weekly
        windows alone instead of raising: the answer a deadline gets until the year's
        schedule is added, to be recomputed then (see :meth:`missing_years`)."""
        if self.provisional or self.holidays is None:
            return self
        if self._view is None:
            # Built once and shared: it keeps its own cache of working intervals.
            object.__setattr__(self, "_view", attrs.evolve(self, provisional=True))
        assert self._view is not None
        return self._view

    def covers(self, year: int) -> bool:
        """Whether the calendar has holiday data for ``year`` (always, without holidays)."""
        return self.holidays is None or year in self.holidays.years

    def missing_years(self, start: datetime, end: datetime) -> frozenset[int]:
        """The local years from ``start`` to ``end`` (both included) with no holiday data:
        those an answer spanning them would have to guess, or take provisionally."""
        require_aware("start", start)
        require_aware("end", end)
        if self.holidays is None:
            return frozenset()
        first = start.astimezone(self._zone).year
        last = max(first, end.astimezone(self._zone).year)
        return frozenset(y for y in range(first, last + 1) if y not in self.holidays.years)

    @property
    def zone(self) -> ZoneInfo:
        return self._zone

    # --- the public questions ----------------------------------------------------------

    def add_working_time(self, start: datetime, duration: timedelta) -> datetime:
        """The instant ``duration`` of working time after ``start``, in the calendar's zone.

        A start outside working time counts from the next opening. A budget that
        runs out exactly at a window's end gives that end (12:00, not the 13:30
        opening). Raises CalendarDataMissing if the answer needs a year no source covers.
        """
        # The hot path: this body is what a warm calendar costs, so it is written flat
        # (no helper calls, one offset lookup) and equals _us() and _out() inlined.
        tz = start.tzinfo if type(start) is datetime else None
        off = tz.utcoffset(start) if tz is not None else None
        if off is None:
            # A datetime subclass, or an error to raise: require_aware decides.
            off = require_aware("start", start).utcoffset() or _NO_OFFSET
        if type(duration) is not timedelta:
            raise ValidationError("duration", duration, "must be a timedelta")
        d = (duration.days * _DAY + duration.seconds) * _US_PER_S + duration.microseconds
        if d <= 0:
            raise ValidationError("duration", duration, "must be positive")
        if self._always:
            return (start.astimezone(UTC) + duration).astimezone(self._zone)
        t = (
            (start.toordinal() - _EPOCH_ORDINAL) * _DAY
            + start.hour * 3600
            + start.minute * 60
            + start.second
            - off.days * _DAY
            - off.seconds
        ) * _US_PER_S + start.microsecond
        span = self._span
        if not span.lo <= t < span.hi:
            span = self._covering(start, start)
        while True:
            ends = span.ends
            i = bisect_right(ends, t)
            if i < len(ends):
                s = span.starts[i]
                cum_end = span.cum_end
                target = span.cum[i] + (t - s if t > s else 0) + d
                if target <= cum_end[-1]:
                    break
            # The budget outlasts the years built so far: the next year decides.
            span = self._grown(span.first, span.last + 1)
        j = bisect_left(cum_end, target)
        into = target - span.cum[j]
        base = span.bases[j]
        if base is not None:
            minutes, rest = divmod(into, _US_PER_MIN)
            if not rest:
                # Wall-clock addition inside a day without a DST change: the cheapest
                # exact way to make the answer (a fresh fromtimestamp costs ~5x more).
                return base + _MINUTES[minutes]
        r = span.starts[j] + into
        if 0 <= r < _FLOAT_EXACT:
            return datetime.fromtimestamp(r / _US_PER_S, self._zone)
        return self._out(r)

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time in ``[start, end)``; ValidationError if ``end`` is before ``start``."""
        require_aware("start", start)
        require_aware("end", end)
        # Epoch microseconds, not datetime comparison: two datetimes sharing a tzinfo
        # compare by wall clock, which is wrong across a DST change.
        a, b = _us(start), _us(end)
        if b < a:
            raise ValidationError("end", end, f"must not be before start {start.isoformat()}")
        if b == a:
            return timedelta(0)
        if self._always:
            return _timedelta(b - a)
        span = self._span
        if not (span.lo <= a and b <= span.hi):
            # [start, end) ends at end's previous microsecond: an interval that stops at
            # midnight on 1 January needs nothing from the new year.
            last = end.astimezone(self._zone) - _ONE_US
            span = self._covering(start, last)
        return _timedelta(self._position(span, b) - self._position(span, a))

    def is_working_time(self, when: datetime) -> bool:
        """Whether ``when`` lies inside a working window (window ends are outside)."""
        require_aware("when", when)
        if self._always:
            return True
        t = _us(when)
        span = self._span
        if not span.lo <= t < span.hi:
            span = self._covering(when, when)
        i = bisect_right(span.ends, t)
        return i < len(span.ends) and span.starts[i] <= t

    def next_opening(self, when: datetime) -> datetime:
        """``when`` itself if it is working time, else the start of the next window."""
        require_aware("when", when)
        if self._always:
            return when.astimezone(self._zone)
        t = _us(when)
        span = self._span
        if not span.lo <= t < span.hi:
            span = self._covering(when, when)
        i = bisect_right(span.ends, t)
        while i == len(span.ends):
            span = self._grown(span.first, span.last + 1)
            i = bisect_right(span.ends, t)
        return self._out(max(t, span.starts[i]))

    def windows_on(self, day: date) -> DayWindows:
        """The working windows of a local date, holidays and make-up days applied."""
        if not isinstance(day, date) or isinstance(day, datetime):
            raise ValidationError("day", day, "must be a date (datetime.date)")
        if self._always:
            return _ALL_DAY
        self._check_covered(day.year)
        return self._day(day)

    # --- internals ---------------------------------------------------------------------

    def _day(self, day: date) -> DayWindows:
        data = self.holidays
        if data is not None:
            if day in data.days_off:
                return ()
            if day in data.days_on:
                return self._on_windows
        return self.windows[day.weekday()]

    def _out(self, us: int) -> datetime:
        if 0 <= us < _FLOAT_EXACT:
            return datetime.fromtimestamp(us / _US_PER_S, self._zone)
        return (_EPOCH + timedelta(microseconds=us)).astimezone(self._zone)

    @staticmethod
    def _position(span: _Span, t: int) -> int:
        """Working time from the span's start to ``t``; ``t`` must lie inside the span."""
        i = bisect_right(span.ends, t)
        if i == len(span.ends):
            return span.cum_end[-1] if span.cum_end else 0
        s = span.starts[i]
        return span.cum[i] + (t - s if t > s else 0)

    def _check_covered(self, year: int) -> None:
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise ValidationError(
                "year", year, f"business calendars cover {FIRST_YEAR} to {LAST_YEAR}"
            )
        data = self.holidays
        if data is None or year in data.years or self.provisional:
            return
        raise CalendarDataMissing(
            "year",
            year,
            f"calendar {self.name!r} has no holiday data for {year} (its sources "
            f"{data.source or '(none)'} cover {year_ranges(data.years)}): add a calendar "
            f"file with the State Council schedule for {year} (see {DATA_HELP}) and list "
            "it in the calendar's sources; propcare never guesses holidays",
        )

    def _covering(self, a: datetime, b: datetime) -> _Span:
        return self._grown(a.astimezone(self._zone).year, b.astimezone(self._zone).year)

    def _grown(self, first: int, last: int) -> _Span:
        """A span covering at least the local years ``first..last``; they must all be covered."""
        for year in range(first, last + 1):
            self._check_covered(year)
        with self._lock:
            span = self._span
            if span.first <= first and last <= span.last:
                return span
            if span.last >= span.first:
                lo, hi = min(first, span.first), max(last, span.last)
                # Keep what is built when the gap between is covered; else start afresh.
                if all(self._covers(y) for y in range(lo, hi + 1)):
                    first, last = lo, hi
            span = self._build(first, last)
            object.__setattr__(self, "_span", span)
            return span

    def _covers(self, year: int) -> bool:
        return FIRST_YEAR <= year <= LAST_YEAR and (
            self.holidays is None or year in self.holidays.years or self.provisional
        )

    def _build(self, first: int, last: int) -> _Span:
        starts: list[int] = []
        ends: list[int] = []
        cum: list[int] = []
        cum_end: list[int] = []
        bases: list[datetime | None] = []
        total = 0
        for year in range(first, last + 1):
            intervals = self._years.get(year)
            if intervals is None:
                intervals = self._year_intervals(year)
                self._years[year] = intervals
            for s, e, base in intervals:
                starts.append(s)
                ends.append(e)
                cum.append(total)
                total += e - s
                cum_end.append(total)
                bases.append(base)
        lo = _us(datetime(first, 1, 1, tzinfo=self._zone))
        hi = _us(datetime(last + 1, 1, 1, tzinfo=self._zone))
        return _Span(
            first,
            last,
            lo,
            hi,
            tuple(starts),
            tuple(ends),
            tuple(cum),
            tuple(cum_end),
            tuple(bases),
        )

    def _year_intervals(self, year: int) -> tuple[tuple[int, int, datetime | None], ...]:
        zone_ = self._zone
        out: list[tuple[int, int, datetime | None]] = []
        previous_end = _us(datetime(year, 1, 1, tzinfo=zone_))
        day = date(year, 1, 1)
        midnight = previous_end
        while day.year == year:
            following = day + timedelta(days=1)
            next_midnight = _us(datetime.combine(following, time(), tzinfo=zone_))
            regular = next_midnight - midnight == _DAY * _US_PER_S
            for window in self._day(day):
                if regular:
                    s = midnight + window.start * _US_PER_S
                    e = midnight + window.end * _US_PER_S
                else:
                    s = self._local_us(day, window.start)
                    e = self._local_us(day, window.end)
                # Around a DST change wall-clock bounds can run backwards; clip so the
                # intervals stay sorted and disjoint, which the bisects rely on.
                s = max(s, previous_end)
                if e > s:
                    base = self._out(s) if regular else None
                    out.append((s, e, base))
                    previous_end = e
            day, midnight = following, next_midnight
        return tuple(out)

    def _local_us(self, day: date, seconds: int) -> int:
        """The first instant at which the local wall clock reads ``seconds`` after midnight
        of ``day``, or a later time: a wall time inside a spring-forward gap (02:30 when
        clocks jump 02:00 -> 03:00) is reached at the jump, so a window 02:30-03:30 that day
        holds the half hour 03:00-03:30 the clock does show. In a repeated hour (autumn)
        the first occurrence counts."""
        wall = datetime.combine(day, time()) + timedelta(seconds=seconds)
        first = wall.replace(tzinfo=self._zone)  # fold=0: the offset before a change
        us = _us(first)
        if self._out(us).replace(tzinfo=None) == wall:
            return us
        # In a gap: fold=0 lands after the jump, fold=1 before it. The jump is where the
        # offset changes between them; find it to the microsecond.
        lo, hi = _us(wall.replace(tzinfo=self._zone, fold=1)), us
        after = self._out(hi).utcoffset()
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self._out(mid).utcoffset() == after:
                hi = mid
            else:
                lo = mid
        return hi


# --- building calendars from configuration ---------------------------------------------

_KEYS = frozenset({"timezone", "windows", "sources", "makeup_windows", "always", "ignore_holidays"})
_OFFICE_HOURS = ("09:00-12:00", "13:30-18:00")

DEFAULT_CALENDARS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "office": MappingProxyType(
            {
                "timezone": DEFAULT_TZ,
                "windows": MappingProxyType({day: _OFFICE_HOURS for day in WEEKDAYS[:5]}),
                "sources": ("cn",),
            }
        ),
        "24x7": MappingProxyType({"always": True, "timezone": DEFAULT_TZ}),
    }
)


def _source_item(field: str, item: Any) -> tuple[str, dict[str, Any]]:
    """``"cn"`` -> ("cn", {}); ``{"file": "x.toml"}`` -> ("file", {"path": "x.toml"})."""
    if isinstance(item, str):
        return item, {}
    if isinstance(item, Mapping) and len(item) == 1:
        ((name, settings),) = item.items()
        if isinstance(settings, str):
            return str(name), {"path": settings}
        if isinstance(settings, Mapping):
            return str(name), dict(settings)
    raise ConfigError(
        field, item, 'each source is a name ("cn") or one name with settings ({"file": "x.toml"})'
    )


def _settings_key(name: str, settings: Mapping[str, Any]) -> tuple[str, str]:
    return name, repr(sorted(settings.items(), key=lambda kv: str(kv[0])))


def build_calendars(
    spec: Mapping[str, Mapping[str, Any]], sources: Mapping[str, CalendarSource]
) -> dict[str, BusinessCalendar]:
    """Build named calendars from configuration such as :data:`DEFAULT_CALENDARS`.

    Each entry has ``windows`` and ``sources`` (names, or ``{name: settings}``;
    a string setting is a path), an optional ``timezone`` and
    ``makeup_windows``; or ``always: true`` for 24x7; or ``ignore_holidays:
    true`` instead of sources. Sources are layered in the order listed. An
    unknown source is a ConfigError naming those available; a source shared by
    several calendars is loaded once.
    """
    loaded: dict[tuple[str, str], HolidayData] = {}
    calendars: dict[str, BusinessCalendar] = {}
    for name, entry in spec.items():
        where = f"calendars.{name}"
        if not isinstance(entry, Mapping):
            raise ConfigError(where, entry, "must be a table of calendar settings")
        unknown = sorted(set(entry) - _KEYS)
        if unknown:
            raise ConfigError(f"{where}.{unknown[0]}", entry[unknown[0]], _known_keys())
        timezone = entry.get("timezone", DEFAULT_TZ)
        if entry.get("always"):
            extra = sorted(set(entry) - {"always", "timezone"})
            if extra:
                raise ConfigError(
                    f"{where}.{extra[0]}", entry[extra[0]], "a 24x7 calendar takes only timezone"
                )
            holidays = None
        elif "windows" not in entry:
            raise ConfigError(f"{where}.windows", None, "is required (or always: true)")
        else:
            holidays = _holidays(where, entry, sources, loaded)
        try:
            if entry.get("always"):
                calendars[name] = BusinessCalendar.always(timezone, name=name)
            else:
                calendars[name] = BusinessCalendar(
                    entry["windows"],
                    holidays,
                    timezone=timezone,
                    name=name,
                    makeup_windows=entry.get("makeup_windows"),
                )
        except ValidationError as exc:
            # Say which calendar of the configuration holds the bad value.
            raise type(exc)(f"{where}.{exc.field}", exc.value, exc.rule) from None
    return calendars


def _known_keys() -> str:
    return f"unknown calendar setting; known: {', '.join(sorted(_KEYS))}"


def _holidays(
    where: str,
    entry: Mapping[str, Any],
    sources: Mapping[str, CalendarSource],
    loaded: dict[tuple[str, str], HolidayData],
) -> HolidayData | None:
    if entry.get("ignore_holidays"):
        if entry.get("sources"):
            raise ConfigError(
                f"{where}.sources", entry["sources"], "conflicts with ignore_holidays"
            )
        return None
    items = entry.get("sources")
    if isinstance(items, str | Mapping):
        items = [items]
    if not isinstance(items, Sequence) or not items:
        raise ConfigError(
            f"{where}.sources",
            items,
            'needs at least one holiday source, e.g. ["cn"]; or set ignore_holidays: true',
        )
    layers = []
    for item in items:
        source_name, settings = _source_item(f"{where}.sources", item)
        source = sources.get(source_name)
        if source is None:
            available = ", ".join(sorted(sources)) or "none"
            raise ConfigError(
                f"{where}.sources",
                source_name,
                f"no plugin provides this calendar source; available: {available}",
            )
        key = _settings_key(source_name, settings)
        data = loaded.get(key)
        if data is None:
            data = source.load(settings)
            if not isinstance(data, HolidayData):
                raise ConfigError(
                    f"{where}.sources",
                    source_name,
                    f"load() returned {type(data).__name__}, not propcare.calendar.HolidayData",
                )
            loaded[key] = data
        layers.append(data)
    return layer(*layers)
