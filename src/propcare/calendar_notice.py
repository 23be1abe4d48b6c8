"""Read the State Council's yearly holiday notice (国务院办公厅关于YYYY年部分节假日安排的通知).

Every November or December the General Office of the State Council publishes
next year's public holidays and make-up working days (调休). chinesecalendar
follows a few weeks later; a property company whose SLA deadlines run into
January cannot wait. :func:`parse_notice` turns the notice text, pasted as
published, into a :class:`HolidayNotice`, and :func:`notice_toml` into a
calendar file for the ``file`` source (docs/reference/calendar-files.md).

The notice is the only source of dates: this module knows no holiday of its
own. It reads what the items say (``一、元旦：1月1日（周四）至3日（周六）放假调休，
共3天。1月4日（周日）上班。``) and refuses, with a
:class:`~propcare.errors.NoticeError` naming the line, whatever it cannot read
with certainty: a weekday annotation that disagrees with its date (a typo or an
OCR slip such as ``0月1日``), ``共N天`` that disagrees with the span, a reversed
span, an impossible date, a date both off and on, a line that looks like a
holiday item but is not one it understands. Pure: it takes text and does no IO.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from itertools import accumulate

import attrs

from propcare.calendar import FIRST_YEAR, LAST_YEAR, HolidayData
from propcare.errors import NoticeError

__all__ = ["HolidayNotice", "NoticeHoliday", "notice_title", "notice_toml", "parse_notice"]

# Full-width ASCII (！..～) and the ideographic space fold to ASCII one character
# for one, so a position in the folded text is the same position in the original.
_FOLD = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}

_CN_DIGIT = {"〇": 0, "○": 0, "零": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5}
_CN_DIGIT |= {"六": 6, "七": 7, "八": 8, "九": 9}
_WEEKDAY = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_WEEKDAY_TEXT = "一二三四五六日"

_DATE = re.compile(r"(?:(?P<y>\d{4})\s*年\s*)?(?:(?P<m>\d{1,2})\s*月\s*)?(?P<d>\d{1,2})\s*日")
_NOTE = re.compile(r"\s*\((?P<note>[^()]*)\)")
_NUMBERED = re.compile(r"^(?P<num>[一二三四五六七八九十]{1,3})\s*、\s*(?P<rest>.*)$")
_NO_COLON = re.compile(
    r"^(?P<name>[^\d:]+?)\s*(?P<body>(?:\d{4}\s*年\s*)?\d{1,2}\s*月\s*\d{1,2}\s*日.*)$"
)
_NAMED_DATE = re.compile(r"^[^\d,:。]{1,15}:\s*(?:\d{4}\s*年\s*)?\d{1,2}\s*月\s*\d{1,2}\s*日")
_STARTS_WITH_DATE = re.compile(r"^(?:\d{4}\s*年\s*)?\d{1,2}\s*月\s*\d{1,2}\s*日")
_STATEMENT = re.compile(r"放假|上班|补休")
_TITLE_YEAR = re.compile(r"关于\s*(\d{4})\s*年\s*部分节假日")
_PREAMBLE_YEAR = re.compile(r"现将\s*(\d{4})\s*年")
_SIGNATURE = re.compile(
    r"^(?:国务院办公厅\s*)?(?:(?P<y>\d{4})年(?P<m>\d{1,2})月(?P<d>\d{1,2})日"
    r"|(?P<cy>[〇○零一二三四五六七八九]{4})年(?P<cm>[一二三四五六七八九十]{1,3})月"
    r"(?P<cd>[一二三四五六七八九十]{1,3})日)$"
)
_WEEKDAY_NOTE = re.compile(r"^(?:星期|周|礼拜)(?P<w>[一二三四五六日天])$")
_NUMBER = r"(?:\d+|[一二三四五六七八九十]{1,3})"

# Clause shapes, with every date (and its parenthesised note) replaced by "D".
_SPAN = re.compile(
    rf"^D(?:(?P<sep>至|[—–\-~]+)D)?(?:调休|公休)?放假(?:调休|公休)?(?:(?P<n>{_NUMBER})天)?$"
)
_MAKEUP_OFF = re.compile(r"^D(?:、D)*补休$")
_ON = re.compile(r"^D(?:、D)*上班$")
_COUNT = re.compile(rf"^共(?P<n>{_NUMBER})天$")
_PLAIN = frozenset({"", "其中", "与周末连休", "不调休"})
_EXPLANATION = re.compile(r"调至|公休|法定节假日|法定假日|法定休假日")

MAX_SPAN_DAYS = 15  # the longest span ever published is 9 days; 15 is a typo


def _fold(text: str) -> str:
    return text.translate(_FOLD)


def _chinese_number(text: str) -> int:
    """``十二`` -> 12, ``七`` -> 7, ``十`` -> 10, ``二十八`` -> 28; digits pass through."""
    if text.isdigit():
        return int(text)
    if "十" in text:
        tens, _, ones = text.partition("十")
        return (_CN_DIGIT[tens] if tens else 1) * 10 + (_CN_DIGIT[ones] if ones else 0)
    return _CN_DIGIT[text]


def notice_title(year: int) -> str:
    """The notice's title for ``year``, as the State Council writes it."""
    return f"国务院办公厅关于{year}年部分节假日安排的通知"


# --- values --------------------------------------------------------------------------


def _dates(values: Iterable[date]) -> frozenset[date]:
    return frozenset(values)


@attrs.frozen
class NoticeHoliday:
    """One numbered item of the notice: ``一、元旦：…``.

    ``name`` as written (``春节``, ``中秋节、国庆节``); ``days_off`` the days it
    gives off (its span and any 补休 day); ``days_on`` its make-up working days;
    ``line`` the item's text and ``line_number`` where it starts, so a reader can
    check each date against the sentence it came from.
    """

    name: str
    days_off: frozenset[date] = attrs.field(converter=_dates)
    days_on: frozenset[date] = attrs.field(converter=_dates)
    line: str
    line_number: int


def _holiday_tuple(values: Iterable[NoticeHoliday]) -> tuple[NoticeHoliday, ...]:
    return tuple(values)


@attrs.frozen
class HolidayNotice:
    """What a notice says: the year it is for, its days off and make-up days.

    ``days_off`` and ``days_on`` are exactly the days its items name, nothing
    added (a ``与周末连休`` weekend is an ordinary weekend and is not listed);
    they may include late December of the year before (元旦 spans). ``published``
    is the signature date when the text has one. Built by :func:`parse_notice`;
    building one by hand is checked the same way: a date is off or on, never
    both, and the totals are the items' days.
    """

    year: int
    days_off: frozenset[date] = attrs.field(converter=_dates)
    days_on: frozenset[date] = attrs.field(converter=_dates)
    holidays: tuple[NoticeHoliday, ...] = attrs.field(converter=_holiday_tuple)
    published: date | None = None
    origin: str = "notice"

    def __attrs_post_init__(self) -> None:
        if not FIRST_YEAR <= self.year <= LAST_YEAR:
            raise NoticeError(
                f"{self.origin}: year", self.year, f"must be between {FIRST_YEAR} and {LAST_YEAR}"
            )
        both = self.days_off & self.days_on
        if both:
            raise NoticeError(
                f"{self.origin}: days_on",
                min(both).isoformat(),
                "is also a day off: a date is either off or on",
            )
        named_off = frozenset().union(*(h.days_off for h in self.holidays))
        named_on = frozenset().union(*(h.days_on for h in self.holidays))
        if named_off != self.days_off or named_on != self.days_on:
            raise NoticeError(
                f"{self.origin}: holidays",
                len(self.holidays),
                "days_off and days_on must be exactly the days the holidays name",
            )

    @property
    def title(self) -> str:
        return notice_title(self.year)

    def holiday_data(self) -> HolidayData:
        """The notice as holiday data covering its year, for a calendar's sources."""
        return HolidayData(
            self.days_off, self.days_on, frozenset({self.year}), f"{self.origin}: {self.title}"
        )


# --- reading -------------------------------------------------------------------------


@attrs.frozen
class _Line:
    number: int
    text: str  # original, stripped
    folded: str  # full-width folded, same length as text


@attrs.define
class _Item:
    number: int
    name: str
    lines: list[_Line]
    body_start: int  # where the body starts in lines[0]


@attrs.define
class _Dates:
    """Resolves ``3日`` and ``12月29日`` inside one item to full dates.

    A day alone takes the month and year of the date before it (``9月19日、25日``,
    ``1月1日至3日``); a month without a year takes the year written with that
    month earlier in the item (``2007年12月30日…12月29日``), else the notice's.
    """

    year: int
    where: str
    month_year: dict[int, int] = attrs.field(factory=dict)
    last: tuple[int, int] | None = None

    def resolve(self, match: re.Match[str], shown: str) -> date:
        day = int(match["d"])
        if match["m"] is None:
            if match["y"] is not None or self.last is None:
                raise NoticeError(self.where, shown, "a day needs its month, e.g. 1月3日")
            year, month = self.last
        else:
            month = int(match["m"])
            if match["y"] is not None:
                year = int(match["y"])
                self.month_year[month] = year
            else:
                year = self.month_year.get(month, self.year)
        self.last = (year, month)
        try:
            return date(year, month, day)
        except ValueError:
            raise NoticeError(self.where, shown, f"is not a real date in {year}") from None


def _depths(text: str) -> list[int]:
    depth, result = 0, []
    for char in text:
        if char == "(":
            depth += 1
        result.append(depth)
        if char == ")":
            depth = max(depth - 1, 0)
    return result


def _split(text: str, seps: str) -> Iterator[tuple[int, int]]:
    """Spans of ``text`` between separators outside parentheses."""
    depths = _depths(text)
    start = 0
    for i, char in enumerate(text):
        if char in seps and depths[i] == 0:
            yield start, i
            start = i + 1
    yield start, len(text)


def _check_weekday(day: date, note: str, where: str, shown: str) -> None:
    for part in re.split(r"[、,]", note):
        found = _WEEKDAY_NOTE.match(part.strip())
        if found and _WEEKDAY[found["w"]] != day.weekday():
            raise NoticeError(
                where,
                shown,
                f"{day.isoformat()} is a 星期{_WEEKDAY_TEXT[day.weekday()]}, not a "
                f"{part.strip()}: check the date against the published notice",
            )


def _shape(folded: str, original: str, dates: _Dates, where: str) -> tuple[str, list[date]]:
    """``2月14日(周六)、2月28日(周六)上班`` -> ``("D、D上班", [dates])``."""
    depths = _depths(folded)
    shape: list[str] = []
    found: list[date] = []
    pos = 0
    for match in _DATE.finditer(folded):
        if match.start() < pos or depths[match.start()] > 0:
            continue
        end = match.end()
        note_match = _NOTE.match(folded, end)
        note = ""
        if note_match:
            note, end = note_match["note"], note_match.end()
        shown = original[match.start() : end]
        day = dates.resolve(match, shown)
        _check_weekday(day, note, where, shown)
        shape.append(folded[pos : match.start()])
        shape.append("D")
        found.append(day)
        pos = end
    shape.append(folded[pos:])
    return re.sub(r"\s+", "", "".join(shape)), found


_EXPECTED = (
    "expected a span such as 1月1日至3日放假调休, 共N天, a make-up day list such as "
    "1月4日(周日)上班, 1月2日(星期一)补休 or 与周末连休"
)


def _read_item(item: _Item, year: int, origin: str) -> NoticeHoliday:
    first = item.lines[0]
    where_item = f"{origin} line {first.number}"
    dates = _Dates(year, where_item)
    off: set[date] = set()
    on: set[date] = set()
    explained: list[tuple[date, str, str]] = []
    counts: list[tuple[int, str, str]] = []
    for index, line in enumerate(item.lines):
        where = f"{origin} line {line.number}"
        dates.where = where
        offset = item.body_start if index == 0 else 0
        body, body_folded = line.text[offset:], line.folded[offset:]
        for s_start, s_end in _split(body_folded, "。"):
            sentence = body_folded[s_start:s_end].strip()
            if sentence.startswith("鼓励"):
                continue  # advice (安排职工在除夕休息), not a day off
            # 其中，… restates the item day by day (old notices); only its 上班 is new.
            restating = sentence.startswith("其中")
            for c_start, c_end in _split(body_folded[s_start:s_end], ",;:"):
                a, b = s_start + c_start, s_start + c_end
                folded, original = body_folded[a:b], body[a:b]
                shown = original.strip()
                shape, found = _shape(folded, original, dates, where)
                if shape.startswith("其中") and shape != "其中":
                    shape = shape[2:]
                if shape.startswith("将"):
                    shape = shape[1:]
                if shape in _PLAIN:
                    if found:
                        raise NoticeError(where, shown, _EXPECTED)
                    continue
                if restating and not _ON.match(shape):
                    explained.extend((day, where, shown) for day in found)
                elif span := _SPAN.match(shape):
                    start, end = found[0], found[-1]
                    if end < start:
                        raise NoticeError(
                            where, shown, "the span ends before it starts: a reversed span"
                        )
                    length = (end - start).days + 1
                    if length > MAX_SPAN_DAYS:
                        raise NoticeError(
                            where, shown, f"a holiday span of {length} days is surely a typo"
                        )
                    off.update(start + timedelta(days=i) for i in range(length))
                    if span["n"]:
                        counts.append((_chinese_number(span["n"]), where, shown))
                elif _MAKEUP_OFF.match(shape):
                    off.update(found)
                elif _ON.match(shape):
                    on.update(found)
                elif count := _COUNT.match(shape):
                    counts.append((_chinese_number(count["n"]), where, shown))
                elif _EXPLANATION.search(shape) and not _STATEMENT.search(shape):
                    explained.extend((day, where, shown) for day in found)
                else:
                    raise NoticeError(where, shown, _EXPECTED)
    text = " ".join(line.text for line in item.lines)
    if not off:
        raise NoticeError(where_item, text, "a holiday item must give at least one day off")
    for number, where, shown in counts:
        if number != len(off):
            raise NoticeError(
                where,
                shown,
                f"says {number} days but the item gives {len(off)} "
                f"({min(off).isoformat()} to {max(off).isoformat()})",
            )
    both = off & on
    if both:
        raise NoticeError(
            where_item, min(both).isoformat(), "is both a day off and a make-up working day"
        )
    for day, where, shown in explained:
        if day not in off and day not in on:
            raise NoticeError(
                where,
                shown,
                f"explains {day.isoformat()}, which the item neither gives off nor names as a "
                "make-up day",
            )
    return NoticeHoliday(item.name, frozenset(off), frozenset(on), text, first.number)


def _header(line: _Line, origin: str) -> _Item:
    """``一、元旦：1月1日…`` -> an item named 元旦 whose body starts after the colon."""
    match = _NUMBERED.match(line.folded)
    assert match is not None
    rest_at = match.start("rest")
    rest = line.folded[rest_at:]
    _, colon = next(_split(rest, ":"))
    if colon < len(rest):
        name, body_start = rest[:colon].strip(), rest_at + colon + 1
    elif found := _NO_COLON.match(rest):
        name, body_start = found["name"].strip(), rest_at + found.start("body")
    else:
        name, body_start = "", 0
    if not name or re.search(r"\d", name):
        raise NoticeError(
            f"{origin} line {line.number}",
            line.text,
            "a numbered line must be a holiday item written 一、元旦：dates",
        )
    return _Item(line.number, line.text[rest_at : rest_at + len(name)], [line], body_start)


def _continues(folded: str) -> bool:
    return folded.startswith("其中") or (
        bool(_STARTS_WITH_DATE.match(folded)) and not _SIGNATURE.match(folded)
    )


def _signature(line: _Line, origin: str) -> date | None:
    match = _SIGNATURE.match(line.folded)
    if match is None:
        return None
    if match["y"]:
        parts = int(match["y"]), int(match["m"]), int(match["d"])
    else:
        year = int("".join(str(_CN_DIGIT[c]) for c in match["cy"]))
        parts = year, _chinese_number(match["cm"]), _chinese_number(match["cd"])
    try:
        return date(*parts)
    except ValueError:
        raise NoticeError(
            f"{origin} line {line.number}", line.text, "the signature date is not a real date"
        ) from None


def _notice_year(lines: list[_Line], year: int | None, origin: str) -> int:
    # A title may be broken over two lines (关于2019年 / 部分节假日安排的通知): search
    # the lines joined, then say which line each year was found on.
    joined = "".join(line.folded for line in lines)
    starts = list(accumulate(len(line.folded) for line in lines))
    found: dict[int, tuple[int, str]] = {}
    for pattern in (_TITLE_YEAR, _PREAMBLE_YEAR):
        for match in pattern.finditer(joined):
            number = lines[bisect_right(starts, match.start())].number
            found.setdefault(int(match[1]), (number, match[0]))
    if len(found) > 1:
        (_, (_, first)), (_, (number, second)) = sorted(found.items(), key=lambda kv: kv[1])[:2]
        raise NoticeError(
            f"{origin} line {number}",
            second,
            f"names another year than {first}: the title and the preamble must agree",
        )
    if found:
        ((written, (number, text)),) = found.items()
        if year is not None and year != written:
            raise NoticeError(
                f"{origin} line {number}", text, f"the notice is for {written}, not {year} as given"
            )
        year = written
    if year is None:
        raise NoticeError(
            origin,
            None,
            "names no year: no title 国务院办公厅关于YYYY年部分节假日安排的通知 and no "
            "preamble 现将YYYY年…; give the year for an extract (year= in Python, --year on "
            "the command line)",
        )
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise NoticeError(origin, year, f"must be between {FIRST_YEAR} and {LAST_YEAR}")
    return year


def parse_notice(text: str, *, origin: str = "notice", year: int | None = None) -> HolidayNotice:
    """Read a State Council holiday notice as published; NoticeError names what it cannot read.

    ``text`` is the notice (title, preamble, numbered items, closing paragraph,
    signature) in full-width or half-width punctuation, with 至 or dashes, 星期六
    or 周六. ``origin`` names it in errors (``notice line 4``) and in the holiday
    data's source. ``year`` is needed only for an extract without title or
    preamble; given with a text that names another year, it is an error.
    """
    if not isinstance(text, str):
        raise NoticeError(origin, type(text).__name__, "must be the notice's text (str)")
    lines = [
        _Line(number, raw.strip(), _fold(raw.strip()))
        for number, raw in enumerate(text.splitlines(), 1)
    ]
    year = _notice_year(lines, year, origin)
    items: list[_Item] = []
    current: _Item | None = None
    published: date | None = None
    signed_on = lines[0] if lines else _Line(0, "", "")
    for line in lines:
        if not line.folded:
            continue
        if _NUMBERED.match(line.folded):
            current = _header(line, origin)
            items.append(current)
            continue
        if current is not None and _continues(line.folded):
            current.lines.append(line)
            continue
        current = None
        signed = _signature(line, origin)
        if signed is not None:
            published, signed_on = signed, line
        elif _NAMED_DATE.match(line.folded) or (
            _STARTS_WITH_DATE.match(line.folded) and _STATEMENT.search(line.folded)
        ):
            raise NoticeError(
                f"{origin} line {line.number}",
                line.text,
                "looks like a holiday item but is not numbered (一、元旦：…): paste the notice "
                "as published",
            )
    if not items:
        raise NoticeError(
            origin,
            f"{len(lines)} lines",
            "has no numbered holiday item (一、元旦：…): is this the State Council notice?",
        )
    holidays = tuple(_read_item(item, year, origin) for item in items)
    off = frozenset().union(*(h.days_off for h in holidays))
    on = frozenset().union(*(h.days_on for h in holidays))
    for holiday in holidays:
        clash = holiday.days_on & off
        if clash:
            raise NoticeError(
                f"{origin} line {holiday.line_number}",
                min(clash).isoformat(),
                "is a make-up working day here and a day off in another item",
            )
        for day in sorted(holiday.days_off | holiday.days_on):
            if day.year != year and not (day.year == year - 1 and day.month == 12):
                raise NoticeError(
                    f"{origin} line {holiday.line_number}",
                    day.isoformat(),
                    f"a notice for {year} names dates in {year} (or late {year - 1} for 元旦)",
                )
    if published is not None and not year - 1 <= published.year <= year:
        raise NoticeError(
            f"{origin} line {signed_on.number}",
            signed_on.text,
            f"is the signature date, but a notice for {year} is signed in {year - 1} or {year}",
        )
    return HolidayNotice(year, off, on, holidays, published, origin)


# --- the calendar file ---------------------------------------------------------------


def _comment(text: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f]", " ", text)


def _toml_string(text: str) -> str:
    # A JSON string with ensure_ascii=False is a valid TOML basic string.
    return json.dumps(text, ensure_ascii=False)


def _array(key: str, groups: list[tuple[str, list[date]]]) -> list[str]:
    rows = [f"{key} = ["]
    for name, days in groups:
        if days:
            listed = ", ".join(f'"{day.isoformat()}"' for day in days)
            rows.append(f"  {listed},  # {_comment(name)}")
    rows.append("]")
    return rows


def notice_toml(notice: HolidayNotice) -> str:
    """The notice as a calendar file (TOML) covering its year, one comment line per holiday.

    Reading it back with :func:`propcare.calendar_sources.parse_calendar_document`
    gives exactly the notice's days; dates of late December of the year before
    stay in the file while ``covers`` is only the notice's year.
    """
    published = notice.published.isoformat() if notice.published else "date not in the text"
    header = [
        f"# {notice.title}",
        f"# Generated by propcare.calendar_notice from {_comment(notice.origin)}"
        f" (published {published}).",
        "# Check each date against the notice before relying on this file.",
    ]
    header += [
        f"# {_comment(h.name)} (line {h.line_number}): {_comment(h.line)}" for h in notice.holidays
    ]
    seen: set[date] = set()
    off_groups: list[tuple[str, list[date]]] = []
    on_groups: list[tuple[str, list[date]]] = []
    for holiday in notice.holidays:
        off_days = sorted(holiday.days_off - seen)
        seen.update(off_days)
        on_days = sorted(holiday.days_on - seen)
        seen.update(on_days)
        off_groups.append((holiday.name, off_days))
        on_groups.append((holiday.name, on_days))
    notes = (
        f"Generated from {notice.title} ({notice.origin}), published {published}, by "
        "propcare.calendar_notice. Weekends joined to a holiday (与周末连休) are ordinary "
        "weekends and are not listed."
    )
    body = [
        f"name = {_toml_string(f'China {notice.year} ({notice.title})')}",
        f"covers = [{notice.year}]",
        f"notes = {_toml_string(notes)}",
        *_array("days_off", off_groups),
        *_array("days_on", on_groups),
    ]
    return "\n".join([*header, "", *body]) + "\n"
