"""The ``propcare`` command (extra ``cli``).

Commands: ``info``, ``demo``, ``report monthly``, ``arrears``, ``bill-run``,
``import units``, ``calendar check``, ``calendar import-notice``, ``sla recompute``,
``sla check`` and ``migrate-db``; ``propcare COMMAND --help`` explains each option. Every
command that opens the app takes ``--config FILE`` (or ``PROPCARE_CONFIG``): the
``propcare.toml`` of :mod:`propcare.config`.

Exit codes: 0 done; 1 propcare refused the work of ``report``, ``arrears``,
``bill-run``, ``import``, ``calendar``, ``sla`` or ``migrate-db`` (a
:class:`~propcare.errors.PropcareError`, shown as one line on stderr that names the field,
the value and the rule:
``error: period='2099-01': is not open yet: ...``), and ``calendar check`` when a year it
checks has no holiday data; 2 bad usage, as click reports it (an unknown option, a
malformed number). ``info`` and ``demo`` end a PropcareError with 2 too: every one they
raise is about the options given (``error: units=0: must be a positive integer``). A
traceback means a bug in propcare. propcare's own warnings (such as next year's holidays
missing) are printed on stderr as ``warning: ...`` lines.
"""

from __future__ import annotations

import csv
import logging
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import attrs
import click
from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from propcare import __version__
from propcare.access import ROLES, Actor
from propcare.app import Propcare, backend_name, shown_url
from propcare.calendar import DEFAULT_CALENDARS, HolidayData, year_ranges
from propcare.calendar_notice import notice_toml, parse_notice
from propcare.clock import DEFAULT_TZ, FixedClock
from propcare.config import ENV_VAR, load_config
from propcare.demo import (
    BUILDINGS,
    MAX_MONTHS,
    DemoOptions,
    DemoResult,
    has_url_scheme,
    is_propcare_database,
    run_demo,
    sqlite_url,
)
from propcare.errors import (
    CalendarDataMissing,
    ConfigError,
    NotFound,
    PermissionDenied,
    PropcareError,
    ValidationError,
)
from propcare.ledger.arrears import ArrearsLine
from propcare.plugins.host import Provided
from propcare.registry.archive_import import HEADER_ROWS, UNIT_COLUMNS, ImportResult, read_archive
from propcare.registry.model import (
    Building,
    Estate,
    EstateId,
    Staff,
)
from propcare.reports.monthly import LANGS, write_monthly
from propcare.storage.copy import DEFAULT_BATCH, copy_database
from propcare.storage.sqlite import parse_sqlite_url

__all__ = ["ROSTER_HEADERS", "UNIT_COLUMNS", "database_url", "main"]

REFUSED = 1
USAGE_ERROR = 2


class CommandFailed(click.ClickException):
    """A PropcareError, shown as one line: the message already names field, value and rule."""

    exit_code = USAGE_ERROR

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.message}", err=True)


class Refused(CommandFailed):
    """The work was refused (a PropcareError, or bad rows in a file): exit code 1."""

    exit_code = REFUSED


class WorkCommand(click.Command):
    """A command that does work on a database: a PropcareError refuses it, exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PropcareError as exc:
            raise Refused(str(exc)) from exc


class PropcareGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PropcareError as exc:
            raise CommandFailed(str(exc)) from exc


def database_url(text: str) -> str:
    """A URL as given, or a plain path made an SQLite URL (``x.db`` -> ``sqlite:///x.db``)."""
    if not text.strip():
        raise ValidationError("db", text, "must be a database URL or a path to an SQLite file")
    return text if has_url_scheme(text) else sqlite_url(Path(text).expanduser())


def _require_existing(url: str) -> None:
    """Refuse to create or migrate a file just to describe it."""
    if not url.lower().startswith("sqlite:"):
        return
    path = parse_sqlite_url(url)
    if path == ":memory:":
        return
    if not Path(path).exists():
        raise NotFound("db", path, "no such database file (`propcare demo` makes one)")
    if not is_propcare_database(Path(path)):
        raise ValidationError("db", path, "is not a propcare database")


def _offers(provided: Iterable[Provided[Any]]) -> str:
    found = sorted(f"{getattr(p.record, 'name', '?')} (from {p.plugin})" for p in provided)
    return "\n".join(found) or "none"


_CONFIG_KEY = "propcare.config"


def _remember_config(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.meta[_CONFIG_KEY] = value


def _config_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--config",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        envvar=ENV_VAR,
        show_envvar=True,
        metavar="FILE",
        expose_value=False,
        is_eager=True,
        callback=_remember_config,
        help="The configuration file (propcare.toml: calendars and holiday files, SLA targets, "
        "channels, ...; docs/reference/configuration.md). Default: the built-in settings.",
    )(func)


def _config_path() -> Path | None:
    ctx = click.get_current_context(silent=True)
    return None if ctx is None else ctx.meta.get(_CONFIG_KEY)


def _config() -> dict[str, Any]:
    """The configuration file's mapping (errors name the file), or the defaults."""
    path = _config_path()
    return {} if path is None else load_config(path)


@click.group(cls=PropcareGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    __version__, "--version", prog_name="propcare", message="%(prog)s %(version)s"
)
def main() -> None:
    """propcare: customer service for property-management companies (物业服务).

    Run `propcare demo` to build a demo estate, then `propcare info --db propcare-demo.db`.
    """
    # propcare's own warnings (next year's holidays missing, ...) as one line each on stderr,
    # for as long as the command runs (a program that calls main() keeps its own logging).
    logger = logging.getLogger("propcare")
    if not any(isinstance(h, _WarningLines) for h in logger.handlers):
        lines = _WarningLines()
        logger.addHandler(lines)
        click.get_current_context().call_on_close(lambda: logger.removeHandler(lines))


class _WarningLines(logging.StreamHandler):  # type: ignore[type-arg]
    def __init__(self) -> None:
        super().__init__()
        self.setLevel(logging.WARNING)
        self.setFormatter(logging.Formatter("warning: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr  # the stderr of now (CliRunner swaps it per run)
        super().emit(record)


@main.command()
@click.option(
    "--db",
    default="sqlite://:memory:",
    show_default=True,
    metavar="URL|PATH",
    help="Database to describe: a URL (sqlite:///x.db, postgresql://...) or a path to an "
    "existing propcare SQLite file. A missing file is not created, another program's file "
    "is not touched; a file made by an older propcare is upgraded when opened.",
)
@_config_option
def info(db: str) -> None:
    """Show plugins, storage, channels, gateways, calendars and the schema version."""
    url = database_url(db)
    _require_existing(url)
    # Propcare.open always migrates; _require_existing keeps that to propcare's own files.
    with _opened(db) as app:
        host = app.host
        scheme = backend_name(url)
        backend_from = [p.plugin for p in host.storage_backends() if p.record.name == scheme]
        table = Table(box=box.SIMPLE, show_header=False, title=f"propcare {__version__}")
        table.add_column("what", style="bold", no_wrap=True)
        table.add_column("value")
        table.add_row("Database", Text(shown_url(url)))
        table.add_row("Schema version", str(app.storage.schema_version()))
        table.add_row("Storage backend", Text(f"{scheme} (from {', '.join(backend_from)})"))
        table.add_row("Plugins loaded", Text("\n".join(host.plugin_names()) or "none"))
        table.add_row("Channels configured", Text(", ".join(sorted(app.channels)) or "none"))
        table.add_row("Channel kinds", Text(_offers(host.notification_channels())))
        table.add_row("Payment gateways", Text(_offers(host.payment_gateways())))
        table.add_row("Calendar sources", Text(_offers(host.calendars())))
        table.add_row("Calendars", Text(_calendar_years(app)))
        table.add_row(
            "Missing holiday data",
            Text(f"{app.sla_missing.value} (sla.missing_holiday_data)"),
        )
        path = _config_path()
        table.add_row("Configuration", Text(str(path) if path else "built-in defaults"))
        table.add_row("Event subscribers", Text(_offers(host.event_subscribers())))
        table.add_row("Plugins failed", str(len(host.load_errors)) if host.load_errors else "none")
        console = Console(highlight=False)
        console.print(table)
        if host.load_errors:
            failed = Table(title="Plugins that failed to load", box=box.SIMPLE)
            failed.add_column("name", no_wrap=True)
            failed.add_column("distribution", no_wrap=True)
            failed.add_column("error")
            for failure in host.load_errors:
                failed.add_row(Text(failure.name), Text(failure.distribution), Text(failure.error))
            console.print(failed)


def _calendar_years(app: Propcare) -> str:
    """Each configured calendar and the years its holiday data covers."""
    lines = []
    for name, business in app.calendars.items():
        data = business.holidays
        if data is None:
            lines.append(f"{name}: no public holidays (every year)")
        else:
            lines.append(f"{name}: {year_ranges(data.years)} ({data.source})")
    return "\n".join(lines)


@main.command()
@click.option(
    "--db",
    default="propcare-demo.db",
    show_default=True,
    metavar="PATH|URL",
    help="SQLite file to build (a path or an sqlite:/// URL). An earlier propcare database "
    "there is replaced; any other file is refused. The file is left on disk. A server URL "
    "(postgresql://..., with propcare-postgres installed) builds into that database, which "
    "must hold no propcare data yet.",
)
@click.option(
    "--units",
    type=int,
    default=2000,
    show_default=True,
    help=f"Number of units, at least {BUILDINGS} (the estate has {BUILDINGS} buildings).",
)
@click.option(
    "--months",
    type=int,
    default=3,
    show_default=True,
    help=f"Length of the demo period in months, 1 to {MAX_MONTHS}, ending on --today.",
)
@click.option(
    "--seed",
    type=int,
    default=2026,
    show_default=True,
    help="Random seed: the same seed and --today build the same estate.",
)
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    metavar="YYYY-MM-DD",
    help="The day the demo ends on; business dates are derived from it. "
    "Default: today in Asia/Shanghai.",
)
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    metavar="DIR",
    help="Where the monthly report of the last whole month goes (HTML, XLSX and CSV). "
    "Default: <db name>-report/ beside the database.",
)
@_config_option
def demo(
    db: str, units: int, months: int, seed: int, today: datetime | None, report_dir: Path | None
) -> None:
    """Build a realistic demo estate in SQLite, write its monthly report and print a summary."""
    if has_url_scheme(db) and not db.lower().startswith("sqlite:"):
        # A server database: the demo fills it (it must be empty); the report goes here.
        options = DemoOptions(
            db=Path("propcare-demo.db"), units=units, months=months, seed=seed, server_url=db
        )
    else:
        options = DemoOptions(db=db, units=units, months=months, seed=seed)
    if today is not None:
        options = attrs.evolve(options, today=today.date())
    if report_dir is not None:
        options = attrs.evolve(options, report_dir=report_dir)
    options = attrs.evolve(options, config=_config_path())
    progress_console = Console(stderr=True)
    columns = (
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(
        *columns, console=progress_console, disable=not progress_console.is_terminal
    ) as bar:
        task = bar.add_task("Starting", total=None)

        def on_step(done: int, total: int, title: str | None) -> None:
            bar.update(task, completed=done, total=total, description=title or "Done")

        result = run_demo(options, progress=on_step)
    _print_summary(result)


def _print_summary(result: DemoResult) -> None:
    console = Console(highlight=False)
    table = Table(title="propcare demo estate 演示小区", box=box.SIMPLE, show_header=False)
    table.add_column("what", style="bold", no_wrap=True)
    table.add_column("value", justify="left")
    for line in result.summary:
        table.add_row(Text(line.label), Text(line.value))
    console.print(table)
    if result.url != sqlite_url(result.db_path):
        shown = shown_url(result.url)
        console.print(Text(f"Demo database built in {shown}"), soft_wrap=True)
        console.print(Text(f"Look inside: propcare info --db {shown}"), soft_wrap=True)
        _print_report(console, result)
        return
    where = result.db_path.resolve()
    console.print(Text(f"Demo database left at {where}"), soft_wrap=True)
    console.print(Text(f"Look inside: propcare info --db {result.db_path}"), soft_wrap=True)
    _print_report(console, result)


def _print_report(console: Console, result: DemoResult) -> None:
    if result.report:
        shown = result.report.get("html", result.report["xlsx"]).resolve()
        console.print(Text(f"Monthly report written to {shown}"), soft_wrap=True)
        console.print(Text(f"  workbook: {result.report['xlsx'].resolve()}"), soft_wrap=True)


# --- what the working commands share ----------------------------------------------------------


def _db_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--db",
        required=True,
        envvar="PROPCARE_DB",
        show_envvar=True,
        metavar="URL|PATH",
        help="The database: a URL (sqlite:///x.db, postgresql://...) or a path to an existing "
        "propcare SQLite file. A missing file is not created; another program's file is refused.",
    )(func)


def _estate_option(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--estate",
        "estate_id",
        type=int,
        required=True,
        metavar="ID",
        help=f"The estate {what}, by id (an unknown id is refused with the estates there are).",
    )


@contextmanager
def _opened(db: str) -> Iterator[Propcare]:
    url = database_url(db)
    _require_existing(url)
    path = _config_path()
    with Propcare.open(url, config=path) as app:
        yield app


def _estate(app: Propcare, actor: Actor, estate_id: int) -> Estate:
    try:
        return app.estates.get(actor, EstateId(estate_id))
    except NotFound:
        known = ", ".join(f"{e.id} {e.name}" for e in app.estates.list(actor)) or "none"
        raise NotFound("estate", estate_id, f"no such estate; the estates here: {known}") from None


def _progress() -> Progress:
    """A progress bar on stderr, shown only when stderr is a terminal."""
    console = Console(stderr=True)
    return Progress(
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=True,
    )


def _out() -> Console:
    return Console(highlight=False)


def _yuan(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def _pick(
    text: str, records: Sequence[Building | Staff], what: str, where: str
) -> Building | Staff:
    """A building or staff member named by id or by name; a number tries the id first."""
    if text.strip().isdigit():
        by_id = [r for r in records if r.id == int(text)]
        if by_id:
            return by_id[0]
    by_name = [r for r in records if r.name == text.strip()]
    if len(by_name) == 1:
        return by_name[0]
    known = ", ".join(f"{r.id} {r.name}" for r in records) or "none"
    if by_name:
        raise ValidationError(what, text, f"{len(by_name)} share this name in {where}; give the id")
    raise NotFound(what, text, f"no {what} of {where} has this id or name; there are: {known}")


# --- propcare arrears -----------------------------------------------------------------------

ROSTER_HEADERS: tuple[str, ...] = (
    "楼栋 Building",
    "房号 Unit",
    "业主 Owner",
    "电话 Phone",
    "收费项目 Fee item",
    "欠费期间 Periods",
    "月数 Months",
    "年度 Years",
    "欠费金额 Amount (元)",
    "催收员 Collector",
    "最近催收 Last attempt",
)
_MONEY_FORMAT = "#,##0.00"


@attrs.frozen
class _RosterRow:
    building: str
    unit: str
    owner: str
    phone: str
    fee_item: str
    periods: tuple[str, ...]
    years: tuple[int, ...]
    amount: Decimal
    collector: str
    last_attempt: str

    def cells(self) -> tuple[str | int | Decimal, ...]:
        """The values of a file row, in ROSTER_HEADERS order: numbers stay numbers."""
        return (
            self.building,
            self.unit,
            self.owner,
            self.phone,
            self.fee_item,
            ", ".join(self.periods),
            len(self.periods),
            ", ".join(str(y) for y in self.years),
            self.amount,
            self.collector,
            self.last_attempt,
        )


def _periods_text(periods: tuple[str, ...]) -> str:
    if len(periods) <= 2:
        return ", ".join(periods)
    return f"{periods[0]} … {periods[-1]}"


def _out_path(_ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path | None:
    if value is not None and value.suffix.lower() not in (".xlsx", ".csv"):
        raise click.BadParameter(
            f"{str(value)!r} must end in .xlsx or .csv (the format follows the name)"
        )
    return value


def _actor_for(role: str | None, estate_id: int) -> Actor:
    if role is None:
        return Actor.system()
    return Actor("propcare-cli", frozenset({role}), frozenset({EstateId(estate_id)}))


@main.command(cls=WorkCommand)
@_db_option
@_estate_option("whose arrears to list")
@_config_option
@click.option(
    "--building",
    metavar="ID|NAME",
    default=None,
    help="Only this building, by id or by name (1号楼). Default: every building.",
)
@click.option(
    "--collector",
    metavar="ID|NAME",
    default=None,
    help="Only the units this collector (催收员, a staff member) answers for today, by staff id "
    "or name. Default: every unit.",
)
@click.option(
    "--sort",
    "sort_by",
    type=click.Choice(["amount", "unit", "oldest"]),
    default="amount",
    show_default=True,
    help="amount: the largest debts first; unit: by building and unit number; oldest: by the "
    "earliest unpaid period.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    callback=_out_path,
    default=None,
    metavar="FILE.xlsx|FILE.csv",
    help="Also write the roster to a file; the name's ending picks the format. XLSX: amounts "
    "and month counts as numbers in a money format, a frozen header row with filters and a "
    "total row. CSV: UTF-8 with a BOM (Excel opens it as UTF-8), no total row. An existing "
    "file is replaced.",
)
@click.option(
    "--table/--no-table",
    "show_table",
    default=None,
    help="Print the roster as a table. Default: printed when there is no --out, a summary only "
    "when there is.",
)
@click.option(
    "--show-phones",
    is_flag=True,
    help="Show the owners' phones in full. Needs a role allowed owner.reveal_contact (admin, "
    "finance); asking without it is refused, exit 1. Default: masked (138****5678).",
)
@click.option(
    "--role",
    type=click.Choice(ROLES),
    default=None,
    help="Act as a staff member of this role, limited to --estate, instead of the system "
    "administrator; its permissions apply (front_desk may read arrears, not reveal phones).",
)
def arrears(
    db: str,
    estate_id: int,
    building: str | None,
    collector: str | None,
    sort_by: str,
    out: Path | None,
    show_table: bool | None,
    show_phones: bool,
    role: str | None,
) -> None:
    """The arrears roster (欠费清单): every unit's unpaid fee items, as of now.

    One line per unit and fee item: owner, phone, the unpaid periods, the amount, the
    collector and the last collection attempt.
    """
    actor = _actor_for(role, estate_id)
    with _opened(db) as app:
        estate = _estate(app, actor, estate_id)
        building_id = None
        if building is not None:
            found = _pick(
                building, app.estates.buildings(actor, estate.id), "building", estate.name
            )
            building_id = found.id
        try:
            staff = app.staff.list(actor, estate.id)
        except PermissionDenied:
            staff = []  # a plugin may hide staff: collectors are shown by id then
        collector_id = None
        if collector is not None:
            collector_id = _pick(collector, staff, "collector", estate.name).id
        with _progress() as bar:
            bar.add_task("Reading the roster", total=None)
            lines = app.arrears.roster(
                actor,
                estate.id,
                building_id=building_id,
                collector_staff_id=collector_id,
                sort_by=sort_by,
                show_phones=show_phones,
            )
        items = {i.code: i.name for i in app.billing.fee_items(actor, estate.id)}
    names = {int(s.id): s.name for s in staff}
    rows = [_roster_row(line, items, names) for line in lines]
    if out is not None:
        _write_roster(out, rows)
    if show_table or (show_table is None and out is None):
        _print_roster(estate, rows)
    total = sum((r.amount for r in rows), Decimal(0))
    units = len({line.unit_id for line in lines})
    summary = f"{len(rows)} lines, {units} units, total {_yuan(total)} 元"
    _out().print(Text(f"Arrears of {estate.name} (estate {estate.id}): {summary}"), soft_wrap=True)
    if out is not None:
        _out().print(Text(f"Written to {out}"), soft_wrap=True)


def _roster_row(
    line: ArrearsLine, items: Mapping[str, str], names: Mapping[int, str]
) -> _RosterRow:
    collector = ""
    if line.collector_staff_id is not None:
        collector = names.get(line.collector_staff_id, f"#{line.collector_staff_id}")
    return _RosterRow(
        building=line.building,
        unit=line.unit,
        owner=line.owner,
        phone=line.phone,
        fee_item=items.get(line.fee_item, line.fee_item),
        periods=line.periods,
        years=line.years,
        amount=line.amount,
        collector=collector,
        last_attempt=line.last_attempt,
    )


def _print_roster(estate: Estate, rows: Sequence[_RosterRow]) -> None:
    table = Table(title=f"欠费清单 Arrears · {estate.name}", box=box.SIMPLE_HEAD)
    for header in ROSTER_HEADERS:
        numeric = header.startswith(("月数", "欠费金额"))
        table.add_column(header, justify="right" if numeric else "left")
    for r in rows:
        table.add_row(
            Text(r.building),
            Text(r.unit),
            Text(r.owner),
            Text(r.phone),
            Text(r.fee_item),
            Text(_periods_text(r.periods)),
            str(len(r.periods)),
            Text(", ".join(str(y) for y in r.years)),
            _yuan(r.amount),
            Text(r.collector),
            Text(r.last_attempt),
        )
    _out().print(table)


def _write_roster(path: Path, rows: Sequence[_RosterRow]) -> None:
    try:
        with _progress() as bar:
            task = bar.add_task(f"Writing {path.name}", total=len(rows))
            if path.suffix.lower() == ".csv":
                _write_roster_csv(path, rows, lambda: bar.advance(task))
            else:
                _write_roster_xlsx(path, rows, lambda: bar.advance(task))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise Refused(f"out={str(path)!r}: cannot be written: {reason}") from exc


def _write_roster_csv(path: Path, rows: Sequence[_RosterRow], step: Callable[[], None]) -> None:
    # utf-8-sig: the BOM makes Excel read the file as UTF-8 rather than the ANSI code page.
    with path.open("w", encoding="utf-8-sig", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(ROSTER_HEADERS)
        for r in rows:
            writer.writerow([str(c) for c in r.cells()])
            step()


def _write_roster_xlsx(path: Path, rows: Sequence[_RosterRow], step: Callable[[], None]) -> None:
    import xlsxwriter  # the cli extra brings it; imported when a workbook is asked for

    book = xlsxwriter.Workbook(str(path))
    try:
        sheet = book.add_worksheet("欠费清单")
        head = book.add_format({"bold": True, "bg_color": "#DDEBF7", "bottom": 1})
        money = book.add_format({"num_format": _MONEY_FORMAT})
        bold_money = book.add_format({"num_format": _MONEY_FORMAT, "bold": True, "top": 1})
        bold = book.add_format({"bold": True, "top": 1})
        sheet.write_row(0, 0, ROSTER_HEADERS, head)
        amount_col = ROSTER_HEADERS.index("欠费金额 Amount (元)")
        for i, r in enumerate(rows, start=1):
            for j, value in enumerate(r.cells()):
                if isinstance(value, Decimal):
                    sheet.write_number(i, j, float(value), money)
                elif isinstance(value, int):
                    sheet.write_number(i, j, value)
                else:
                    sheet.write_string(i, j, value)
            step()
        last = len(rows)
        sheet.write_string(last + 1, 0, "合计 Total", bold)
        for j in range(1, len(ROSTER_HEADERS)):
            sheet.write_blank(last + 1, j, None, bold)
        total = sum((r.amount for r in rows), Decimal(0))
        column = chr(ord("A") + amount_col)
        sheet.write_formula(
            last + 1, amount_col, f"=SUM({column}2:{column}{last + 1})", bold_money, float(total)
        )
        sheet.freeze_panes(1, 0)
        sheet.autofilter(0, 0, max(last, 1), len(ROSTER_HEADERS) - 1)
        for j, width in enumerate((10, 8, 10, 14, 14, 24, 8, 12, 16, 10, 26)):
            sheet.set_column(j, j, width)
    finally:
        try:
            book.close()
        except xlsxwriter.exceptions.FileCreateError as exc:
            raise OSError(exc.args[0].errno, exc.args[0].strerror) from exc


# --- propcare bill-run ------------------------------------------------------------------------


@main.command("bill-run", cls=WorkCommand)
@_db_option
@_estate_option("to bill")
@_config_option
@click.option(
    "--period",
    required=True,
    metavar="YYYY-MM",
    help="The month to bill. It must be open: not after the current month in the estate's "
    "time zone. Running a period again bills only what is missing.",
)
def bill_run(db: str, estate_id: int, period: str) -> None:
    """Bill a month (账期) for every unit of an estate, as the system administrator.

    Prints the lines billed now, those an earlier run already billed, and the total billed now.
    """
    actor = Actor.system()
    with _opened(db) as app:
        estate = _estate(app, actor, estate_id)
        with _progress() as bar:
            bar.add_task(f"Billing {period}", total=None)
            report = app.billing.run(actor, estate.id, period)
    table = Table(
        title=f"Bill run 账单 · {estate.name} · {period}", box=box.SIMPLE, show_header=False
    )
    table.add_column("what", style="bold", no_wrap=True)
    table.add_column("value", justify="right")
    table.add_row("Lines billed now 本次出账", f"{report.billed_now:,}")
    table.add_row("Lines already billed 已出账", f"{report.already_billed:,}")
    table.add_row("Total billed now 本次金额", f"{_yuan(report.total_now)} 元")
    _out().print(table)


# --- propcare import units ----------------------------------------------------------------------


def _columns_help() -> str:
    lines = ["\b", "Columns (header in zh-CN or English; * required):"]
    for c in UNIT_COLUMNS:
        star = "*" if c.required else " "
        lines.append(f"  {star} {c.label}: {c.meaning}")
    return "\n".join(lines)


@main.group("import")
def import_group() -> None:
    """Bring records in from files (CSV or XLSX)."""


@import_group.command(
    "units",
    cls=WorkCommand,
    epilog=_columns_help()
    + f"\n\nThe header row is the first of the first {HEADER_ROWS} rows that names the required "
    "columns; other columns are ignored. CSV files may be UTF-8 (with or without BOM) or GB18030 "
    "(GBK); an XLSX file is read from its first sheet. Rows of one owner (same name, phones and "
    "ID number) make one owner, also with an owner already in the estate; the same name alone "
    "does not.",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_db_option
@_estate_option("to import into")
@_config_option
@click.option(
    "--all-or-nothing",
    is_flag=True,
    help="Import nothing when any row is bad (exit 1). Default: import the good rows, report "
    "the bad ones and exit 0 (exit 1 when no row is good).",
)
def import_units(db: str, file: Path, estate_id: int, all_or_nothing: bool) -> None:
    """Import the owner archive (业主档案): buildings, units and their owners, from FILE.

    FILE is a .csv or .xlsx file with one row per unit. Every row is checked by the registry's
    rules; bad rows are listed with their row number, column, value and rule. The good rows are
    imported in one transaction: all of them or, on any error while writing, none.
    """
    if file.suffix.lower() not in (".csv", ".xlsx", ".xlsm"):
        raise click.BadParameter(
            f"{file.name!r} must be a .csv or .xlsx file (save an .xls as .xlsx)", param_hint="FILE"
        )
    actor = Actor.system()
    with _opened(db) as app:
        estate = _estate(app, actor, estate_id)
        sheet = read_archive(file)
        if sheet.ignored:
            click.echo(f"note: columns ignored: {', '.join(sheet.ignored)}", err=True)
        with _progress() as bar:
            stages = iter(("Checking rows", "Importing rows"))
            tasks: list[TaskID] = []

            def show(done: int, total: int) -> None:
                if done == 0:  # (0, total) starts a stage: checking, then writing
                    tasks.append(bar.add_task(next(stages, "Importing rows"), total=total))
                bar.update(tasks[-1], completed=done)

            result = app.estates.import_archive(
                actor, estate.id, sheet, all_or_nothing=all_or_nothing, progress=show
            )
    _report(file, result, all_or_nothing)


def _report(file: Path, result: ImportResult, all_or_nothing: bool) -> None:
    out = _out()
    problems, total = result.problems, result.rows
    bad_rows = len({p.row for p in problems})
    if problems:
        table = Table(title=f"Rows not imported 未导入的行 · {file.name}", box=box.SIMPLE_HEAD)
        table.add_column("row 行", justify="right")
        table.add_column("column 列")
        table.add_column("value 值")
        table.add_column("rule 规则")
        for p in problems:  # by row already
            table.add_row(str(p.row), Text(p.column), Text(repr(p.value)), Text(p.rule))
        out.print(table)
    if not result.committed:
        why = "--all-or-nothing" if all_or_nothing else "no row is good"
        raise Refused(
            f"file={file.name!r}: {bad_rows} of {total} rows are bad (listed above): "
            f"nothing imported ({why})"
        )
    made = f", new buildings: {', '.join(result.buildings)}" if result.buildings else ""
    out.print(
        Text(
            f"Imported {result.units} of {total} rows from {file.name}: {result.units} units, "
            f"{result.owners_created} new owners"
            + (
                f", {result.owners_reused} units to owners already known (same name and phones)"
                if result.owners_reused
                else ""
            )
            + made
        ),
        soft_wrap=True,
    )
    if problems:
        out.print(Text(f"Skipped {bad_rows} bad rows (listed above)."), soft_wrap=True)


# --- propcare report monthly -------------------------------------------------------------------


@main.group()
def report() -> None:
    """Reports for managers: the monthly service report (月度服务报告)."""


@report.command("monthly", cls=WorkCommand)
@_db_option
@_config_option
@click.option(
    "--period",
    required=True,
    metavar="YYYY-MM",
    help="The month to report on. A month still running is reported as it stands now; a month "
    "that has not begun is refused.",
)
@click.option(
    "--estate",
    "estate_ids",
    type=int,
    multiple=True,
    metavar="ID",
    help="The estate to report on, by id; repeat it for several. Default: every estate in the "
    "database, one report each.",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, writable=True, path_type=Path),
    metavar="DIR",
    help="Directory to write into (made when missing): monthly-<period>-<estate>.html "
    "(self-contained, opens without a network), .xlsx (one sheet per section, native charts) "
    "and a -csv/ directory with one CSV per section. Files of the same name are replaced.",
)
@click.option(
    "--lang",
    type=click.Choice(LANGS),
    default="zh-CN",
    show_default=True,
    help="Language of titles, headers and labels.",
)
@click.option(
    "--role",
    type=click.Choice(ROLES),
    default=None,
    help="Act as a staff member of this role, limited to the estates reported on, instead of "
    "the system administrator; the report needs a role that reads tickets, the ledger, "
    "commission and appraisal (manager, admin).",
)
def report_monthly(
    db: str,
    period: str,
    estate_ids: tuple[int, ...],
    out_dir: Path,
    lang: str,
    role: str | None,
) -> None:
    """Write the monthly service report of an estate: HTML with charts, XLSX and CSV.

    Sections: tickets by category and channel, daily intake, timely rate per SLA target,
    rework, callbacks and satisfaction, collection rate by building (current and earlier
    arrears), arrears aging, notices sent, commission totals and the appraisal ranking.
    """
    with _opened(db) as app:
        system = Actor.system()
        if estate_ids:
            estates = [_estate(app, system, e) for e in dict.fromkeys(estate_ids)]
        else:
            estates = app.estates.list(system)
            if not estates:
                raise NotFound("estate", None, "the database has no estate to report on")
        written: list[tuple[Estate, dict[str, Path]]] = []
        with _progress() as bar:
            task = bar.add_task(f"Report {period}", total=len(estates))
            for estate in estates:
                actor = _actor_for(role, estate.id)
                files = write_monthly(app, actor, estate.id, period, out_dir, lang=lang)
                written.append((estate, files))
                bar.advance(task)
    out = _out()
    for estate, files in written:
        csvs = [p for key, p in files.items() if key.startswith("csv:")]
        table = Table(
            title=f"Monthly report 月度报告 · {estate.name} · {period}",
            box=box.SIMPLE,
            show_header=False,
        )
        table.add_column("what", style="bold", no_wrap=True)
        table.add_column("file")
        if "html" in files:
            table.add_row("HTML", Text(str(files["html"])))
        table.add_row("XLSX", Text(str(files["xlsx"])))
        if csvs:
            table.add_row("CSV", Text(f"{len(csvs)} files in {csvs[0].parent}"))
        out.print(table)


# --- propcare calendar ---------------------------------------------------------------------------


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


# --- propcare sla -------------------------------------------------------------------------------


@main.group()
def sla() -> None:
    """SLA upkeep: bring deadlines up to date, send the alerts that are due."""


@sla.command("recompute", cls=WorkCommand)
@_db_option
@_estate_option("whose deadlines to bring up to date")
@click.option(
    "--period",
    default=None,
    metavar="YYYY-MM",
    help="Only the tickets opened in this month (the estate's time zone). Default: all.",
)
@click.option(
    "--open-only",
    is_flag=True,
    help="Only open tickets (after a change of SLA targets). Default: open tickets and every "
    "ticket, open or closed, whose deadlines are provisional or missing.",
)
@_config_option
def sla_recompute(db: str, estate_id: int, period: str | None, open_only: bool) -> None:
    """Recompute deadlines after holiday data was added or SLA targets changed.

    A closed ticket keeps the deadlines it had and gets only those that were provisional or
    missing, so the monthly statistics follow without rewriting what was reported.
    """
    actor = Actor.system()
    with _opened(db) as app:
        estate = _estate(app, actor, estate_id)
        result = app.tickets.recompute(actor, estate.id, period=period, open_only=open_only)
    table = Table(
        title=f"Deadlines recomputed 截止时间重算 · {estate.name}"
        + (f" · {period}" if period else ""),
        box=box.SIMPLE,
        show_header=False,
    )
    table.add_column("what", style="bold", no_wrap=True)
    table.add_column("value", justify="right")
    table.add_row("Tickets examined 检查", f"{result.examined:,}")
    table.add_row("Tickets changed 更新", f"{result.changed:,}")
    table.add_row("Still provisional 仍为临时", f"{result.provisional:,}")
    table.add_row("Still held open 仍暂缺", f"{result.held:,}")
    _out().print(table)


@sla.command("check", cls=WorkCommand)
@_db_option
@_estate_option("whose open tickets to check")
@_config_option
def sla_check(db: str, estate_id: int) -> None:
    """Send every SLA warning and escalation due now, each once (run it every few minutes).

    Prints the alerts sent and every ticket that could not be fully judged, with the reason.
    """
    actor = Actor.system()
    with _opened(db) as app:
        estate = _estate(app, actor, estate_id)
        check = app.tickets.check_sla(actor, estate.id)
    out = _out()
    out.print(
        Text(
            f"Checked {check.checked:,} open tickets of {estate.name}: {len(check.sent):,} "
            f"alerts sent, {len(check.skipped):,} tickets not fully judged."
        ),
        soft_wrap=True,
    )
    if check.sent:
        table = Table(title="Alerts sent 已发送提醒", box=box.SIMPLE_HEAD)
        for column in ("ticket 工单", "target 目标", "level 级别", "due 截止", "provisional 临时"):
            table.add_column(column)
        for a in check.sent:
            table.add_row(str(a.ticket_id), a.target, a.level, a.due, a.provisional)
        out.print(table)
    if check.skipped:
        table = Table(title="Not fully judged 未能判断", box=box.SIMPLE_HEAD)
        table.add_column("ticket 工单")
        table.add_column("reason 原因")
        for skipped in check.skipped:
            table.add_row(str(skipped.ticket_id), Text(skipped.reason))
        out.print(table)


# --- propcare migrate-db ------------------------------------------------------------------------


@main.command("migrate-db", cls=WorkCommand)
@_config_option
@click.option(
    "--from",
    "source",
    required=True,
    metavar="URL|PATH",
    help="The SQLite database to copy: an sqlite:/// URL or the path of an existing propcare "
    "file. It is only read (after the upgrade to the newest schema that opening does).",
)
@click.option(
    "--to",
    "target",
    required=True,
    metavar="URL",
    help="The empty database to copy into, such as postgresql://user:password@host:5432/propcare. "
    "Its schema is made when opened; one that already holds propcare data is refused.",
)
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=DEFAULT_BATCH,
    show_default=True,
    metavar="N",
    help="Rows per bulk insert (COPY on PostgreSQL).",
)
def migrate_db(source: str, target: str, batch: int) -> None:
    """Copy an SQLite propcare database into an empty one (PostgreSQL), then check the copy.

    Every table is copied in one transaction of the target, which commits only when the row
    counts, each estate's trial balance, every unit's balances and the receipt counters match
    the source. Exit 1, with nothing written, when the target holds data or a check fails.
    """
    source_url = database_url(source)
    _require_existing(source_url)
    target_url = database_url(target)
    if target_url.lower().startswith("sqlite:"):
        path = parse_sqlite_url(target_url)
        if path != ":memory:" and Path(path).exists() and not is_propcare_database(Path(path)):
            raise ValidationError("target", path, "is not a propcare database")
    with _progress() as bar:
        task = bar.add_task("Opening", total=None)

        def on_step(done: int, total: int, what: str | None) -> None:
            bar.update(task, completed=done, total=total or None, description=what or "Done")

        report = copy_database(
            source_url, target_url, batch=batch, progress=on_step, config=_config_path()
        )
    out = _out()
    out.print(Text(f"Copied {report.source} → {report.target}"), soft_wrap=True)
    table = Table(title="Rows copied 复制行数", box=box.SIMPLE_HEAD, show_footer=True)
    table.add_column("table 表", footer="total 合计", no_wrap=True)
    table.add_column("rows 行数", footer=f"{report.rows:,}", justify="right")
    for copied in report.tables:
        table.add_row(Text(copied.table), f"{copied.target_rows:,}")
    out.print(table)
    checks = Table(title="Checked against the source 核对", box=box.SIMPLE, show_header=False)
    checks.add_column("check", style="bold", no_wrap=True)
    checks.add_column("compared")
    for check in report.checks:
        checks.add_row(Text(check.name), Text(f"equal: {check.detail}"))
    if report.sequences_reset:
        checks.add_row("id sequences", Text(f"{len(report.sequences_reset)} moved past MAX(id)"))
    out.print(checks)
    out.print(
        Text(f"balances match: {report.rows:,} rows copied in {report.seconds:.1f} s"),
        soft_wrap=True,
    )
