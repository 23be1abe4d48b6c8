"""``propcare calendar check`` and ``calendar import-notice``: holiday data by year."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from propcare.access import Actor
from propcare.app import Propcare
from propcare.calendar import DEFAULT_CALENDARS, HolidayData, year_ranges
from propcare.calendar_notice import notice_toml, parse_notice
from propcare.cli.common import (
    WorkCommand,
    _config,
    _config_option,
    _out,
    _require_existing,
    database_url,
    main,
)
from propcare.clock import DEFAULT_TZ, FixedClock
from propcare.errors import (
    CalendarDataMissing,
    ConfigError,
    ValidationError,
)


@main.group()
def calendar() -> None:
    """Business calendars: public holidays and make-up working days (调休)."""


# From this day of the year, a missing next year is an error: the State Council publishes its
# schedule in November or December, and a company has weeks, not days, to add it.
_ALARM_FROM = (10, 1)


def _with_files(config: Mapping[str, Any], names: Sequence[str], files: Sequence[Path]) -> Any:
    """``config`` with each holiday file layered over the sources of the named calendars."""
    spec = {n: dict(entry) for n, entry in (config.get("calendars") or DEFAULT_CALENDARS).items()}
    for name in names:
        entry = spec.get(name)
        if entry is None:
            raise click.BadParameter(
                f"no calendar {name!r}; the calendars: {', '.join(spec)}", param_hint="--calendar"
            )
        if entry.get("always") or entry.get("ignore_holidays"):
            raise click.BadParameter(
                f"calendar {name!r} ignores public holidays: a holiday file changes nothing",
                param_hint="--holiday-file",
            )
        entry["sources"] = [*(entry.get("sources") or ()), *({"file": str(f)} for f in files)]
    return {**config, "calendars": spec}


def _layers(app: Propcare, name: str) -> list[HolidayData]:
    """The holiday data of each source of calendar ``name``, in order."""
    configured = app.config.get("calendars") or DEFAULT_CALENDARS
    sources = {p.record.name: p.record for p in app.host.calendars()}
    layers: list[HolidayData] = []
    for source, settings in _source_items(configured[name]):
        record = sources.get(source)
        if record is None:
            raise ConfigError("calendar source", source, "no plugin provides it")
        layers.append(record.load(settings))
    return layers


def _source_items(entry: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    items = entry.get("sources") or ()
    if isinstance(items, str | Mapping):
        items = [items]
    out: list[tuple[str, dict[str, Any]]] = []
    for item in items:
        if isinstance(item, str):
            out.append((item, {}))
        elif isinstance(item, Mapping) and len(item) == 1:
            ((name, settings),) = item.items()
            out.append(
                (str(name), {"path": settings} if isinstance(settings, str) else dict(settings))
            )
    return out


def _what_to_run(year: int, names: Sequence[str]) -> str:
    name = names[0] if names else "office"
    return (
        f"When the State Council publishes 国务院办公厅关于{year}年部分节假日安排的通知, save its "
        f"text and run: propcare calendar import-notice notice-{year}.txt --out "
        f"holidays-{year}.toml; list the file in propcare.toml under calendars.{name}.sources "
        f'(sources = ["cn", {{file = "holidays-{year}.toml"}}]); check it with propcare '
        f"calendar check --config propcare.toml; then bring deadlines up to date with "
        f"propcare sla recompute --config propcare.toml --db DB --estate ID "
        f"(see docs/how-to/add-next-years-holidays.md)"
    )


@calendar.command("check", cls=WorkCommand)
@click.option(
    "--year",
    type=click.IntRange(1900, 9998),
    default=None,
    help="Check only this year, e.g. 2027. Default: this year and next, in each calendar's "
    "time zone; from 1 October a missing next year fails the check.",
)
@click.option(
    "--calendar",
    "names",
    multiple=True,
    metavar="NAME",
    help="The business calendar to check, by name; may be repeated. Default: every configured "
    "calendar (the built-in ones: office, 24x7).",
)
@click.option(
    "--holiday-file",
    "files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE",
    help="A calendar file (.toml or .json, see docs/reference/calendar-files.md) to layer over "
    "the sources of the calendars checked, as a `file` source would: checks a new file before "
    "you list it in the configuration. May be given more than once.",
)
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    metavar="YYYY-MM-DD",
    help="Check as on this day instead of today (what will the check say on 1 October?).",
)
@_config_option
@click.option(
    "--db",
    default="sqlite://:memory:",
    show_default=True,
    metavar="URL|PATH",
    help="The database to open (a URL, or the path of an existing propcare SQLite file). "
    "Calendars come from the configuration and the installed plugins; with a database, the "
    "tickets whose deadlines wait for holiday data are counted per estate.",
)
def calendar_check(
    year: int | None,
    names: tuple[str, ...],
    files: tuple[Path, ...],
    today: datetime | None,
    db: str,
) -> None:
    """Say whether each calendar has public-holiday data for this year and next.

    Exit 0 when every year checked is covered (or the calendar ignores holidays). Exit 1 when
    one is missing: this year, a year given with --year, or next year from 1 October; the
    message says how many days remain and what to run. Before October a missing next year is
    only noted: its schedule is usually published in November. The built-in `cn` source covers
    the years of the installed chinesecalendar (2004-2026 in version 1.11); a `file` source
    adds years (propcare calendar import-notice writes one from the State Council's notice).
    """
    config = _config()
    if files:
        wanted = list(names) or [
            n
            for n, e in (config.get("calendars") or DEFAULT_CALENDARS).items()
            if not (e.get("always") or e.get("ignore_holidays"))
        ]
        config = _with_files(config, wanted, files)
    url = database_url(db)
    _require_existing(url)
    noon = (
        None
        if today is None
        else datetime.combine(today.date(), time(12), Propcare.zone(DEFAULT_TZ))
    )
    clock = None if noon is None else FixedClock(noon)
    # This command says what the opening's warning would: once is enough.
    opening = logging.getLogger("propcare.app")
    quiet, opening.disabled = opening.disabled, True
    try:
        app = Propcare.open(url, config=config, clock=clock)
    finally:
        opening.disabled = quiet
    with app:
        unknown = [n for n in names if n not in app.calendars]
        if unknown:
            raise click.BadParameter(
                f"no calendar {unknown[0]!r}; the calendars: {', '.join(app.calendars)}",
                param_hint="--calendar",
            )
        checked = list(names) or list(app.calendars)
        now = app.clock.now()
        missing: list[tuple[str, int]] = []
        noted: list[tuple[str, int]] = []
        out = _out()
        for name in checked:
            business = app.calendars[name]
            local = now.astimezone(business.zone).date()
            years = [year] if year is not None else [local.year, local.year + 1]
            if business.holidays is None:
                out.print(
                    Text(f"Calendar {name!r} ignores public holidays: every year is covered."),
                    soft_wrap=True,
                )
                continue
            table = Table(title=f"Calendar {name} · holiday data", box=box.SIMPLE_HEAD)
            table.add_column("source 来源")
            table.add_column("years covered 覆盖年份")
            for y in years:
                table.add_column(str(y), justify="center")
            for data in _layers(app, name):
                marks = ["yes" if data.covers(y) else "no" for y in years]
                table.add_row(Text(data.source), Text(year_ranges(data.years)), *marks)
            out.print(table)
            for y in years:
                if business.covers(y):
                    giving = [d.source for d in _layers(app, name) if d.covers(y)]
                    out.print(
                        Text(f"Calendar {name!r} has holiday data for {y}, from "
                             f"{' + '.join(giving)}."),
                        soft_wrap=True,
                    )  # fmt: skip
                elif year is None and y > local.year and (local.month, local.day) < _ALARM_FROM:
                    noted.append((name, y))
                else:
                    missing.append((name, y))
        _print_waiting(app, url, out)
    for name, y in noted:
        days = (date(y, 1, 1) - now.date()).days
        out.print(
            Text(
                f"Note: calendar {name!r} has no holiday data for {y} yet ({days} days to go); "
                "the State Council usually publishes it in November. From 1 October this "
                "check fails until it is added."
            ),
            soft_wrap=True,
        )
    if missing:
        name, y = missing[0]
        days = (date(y, 1, 1) - now.date()).days
        when = f"{days} days remain until 1 January {y}" if days > 0 else f"{y} has already begun"
        raise CalendarDataMissing(
            "year",
            y,
            f"calendar {name!r} has no holiday data for {y}: {when}, and deadlines there are "
            f"provisional (or held open) until it is added. {_what_to_run(y, [name])}. "
            f"Check a file before listing it: propcare calendar check --year {y} "
            f"--calendar {name} --holiday-file FILE",
        )


def _print_waiting(app: Propcare, url: str, out: Console) -> None:
    """The tickets of each estate whose deadlines wait for holiday data, when there are any."""
    if url.startswith("sqlite://:memory:"):
        return
    system = Actor.system()
    rows = []
    for estate in app.estates.list(system):
        gaps = app.tickets.holiday_gaps(system, estate.id)
        if gaps.tickets:
            rows.append((estate, gaps))
    if not rows:
        return
    table = Table(
        title="Tickets waiting for holiday data 待补节假日数据的工单", box=box.SIMPLE_HEAD
    )
    table.add_column("estate 项目")
    table.add_column("tickets 工单", justify="right")
    table.add_column("provisional 临时", justify="right")
    table.add_column("held open 暂缺", justify="right")
    table.add_column("years 年份")
    for estate, gaps in rows:
        table.add_row(
            Text(f"{estate.id} {estate.name}"),
            f"{gaps.tickets:,}",
            f"{gaps.provisional:,}",
            f"{gaps.held:,}",
            ", ".join(map(str, gaps.years)),
        )
    out.print(table)


@calendar.command("import-notice", cls=WorkCommand)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_file",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    metavar="FILE.toml",
    help="The holiday file to write (TOML, see docs/reference/calendar-files.md). An existing "
    "file is refused unless --force.",
)
@click.option(
    "--year",
    type=click.IntRange(1900, 9998),
    default=None,
    help="The notice's year, for a text that has neither its title nor its preamble.",
)
@click.option("--force", is_flag=True, help="Replace --out when it exists.")
def calendar_import_notice(file: Path, out_file: Path, year: int | None, force: bool) -> None:
    """Write next year's holiday file from the State Council's notice, the day it is out.

    FILE is the text of 国务院办公厅关于YYYY年部分节假日安排的通知 as published (UTF-8; GB18030
    is read too): "一、元旦：1月1日（周五）放假…", "2月14日（周六）、2月28日（周六）上班". Every
    holiday item is read with certainty or the notice is refused (exit 1), naming the line and
    the rule, and nothing is written: a weekday that disagrees with its date, a day count that
    disagrees with the span, a phrase not understood. Then list the file among a calendar's
    sources in propcare.toml and run `propcare sla recompute`.
    """
    if out_file.suffix.lower() != ".toml":
        raise click.BadParameter(f"{str(out_file)!r} must end in .toml", param_hint="--out")
    if out_file.exists() and not force:
        raise click.BadParameter(
            f"{str(out_file)!r} exists; give --force to replace it", param_hint="--out"
        )
    raw = file.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("gb18030")
        except UnicodeDecodeError:
            raise ValidationError(
                "file", file.name, "is neither UTF-8 nor GB18030 text: save the notice as text"
            ) from None
    notice = parse_notice(text, origin=file.name, year=year)
    out_file.write_text(notice_toml(notice), encoding="utf-8")
    out = _out()
    table = Table(title=notice.title, box=box.SIMPLE_HEAD)
    table.add_column("holiday 节日")
    table.add_column("days off 放假", justify="right")
    table.add_column("make-up days 调休上班")
    for holiday in notice.holidays:
        off = sorted(holiday.days_off)
        span = f"{off[0]:%m-%d}..{off[-1]:%m-%d}" if off else ""
        on = ", ".join(f"{d:%m-%d}" for d in sorted(holiday.days_on))
        table.add_row(Text(holiday.name), f"{len(off)} ({span})", on)
    out.print(table)
    out.print(
        Text(
            f"Wrote {out_file}: {len(notice.days_off)} days off and {len(notice.days_on)} "
            f"make-up days for {notice.year}. List it under a calendar's sources in "
            f'propcare.toml (sources = ["cn", {{file = "{out_file.name}"}}]), check with '
            "propcare calendar check --config propcare.toml, then run propcare sla recompute."
        ),
        soft_wrap=True,
    )
