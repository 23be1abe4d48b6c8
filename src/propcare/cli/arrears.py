"""``propcare arrears``: the arrears roster (欠费清单), printed or written to XLSX/CSV."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path

import attrs
import click
from rich import box
from rich.table import Table
from rich.text import Text

from propcare.access import ROLES
from propcare.cli.common import (
    Refused,
    WorkCommand,
    _actor_for,
    _config_option,
    _db_option,
    _estate,
    _estate_option,
    _opened,
    _out,
    _pick,
    _progress,
    _yuan,
    main,
)
from propcare.errors import (
    PermissionDenied,
)
from propcare.ledger.arrears import ArrearsLine
from propcare.registry.model import (
    Estate,
)
from propcare.reports.monthly import attempt_label
from propcare.tabular import Cell, XlsxCells, write_csv_file

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
    "到期日 Due",
    "逾期天数 Days past due",
    "其中未到期 Not yet due (元)",
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
    due: str
    days_past_due: int
    not_due: Decimal
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
            self.due,
            max(self.days_past_due, 0),
            self.not_due,
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
    "--include-not-due",
    is_flag=True,
    help="Also list what is billed but not yet due (its part of each line in its own column). "
    "Default: only what is past its due date (a bill's fee-item due date; a charge without a "
    "bill is due the day it was made).",
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
    include_not_due: bool,
    role: str | None,
) -> None:
    """The arrears roster (欠费清单): every unit's fee items past due, as of now.

    One line per unit and fee item: owner, phone, the periods past due, the amount, the
    earliest due date and the days past it, the collector and the last collection attempt
    (the latest by when it happened). --include-not-due adds what is billed but not yet due.
    """
    actor = _actor_for(role, estate_id)
    tally = _Tally()
    rows: list[_RosterRow] = []
    table = show_table or (show_table is None and out is None)
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
        items = {i.code: i.name for i in app.billing.fee_items(actor, estate.id)}
        names = {int(s.id): s.name for s in staff}
        # Streamed: each line is counted, written to the file and dropped, so a roster of
        # an estate of any size is written in the same memory (the table, when printed,
        # keeps its rows: a terminal table is read by a person, not written by the
        # hundred thousand). The app is not used again until the lines are read.
        lines = app.arrears.iter_roster(
            actor,
            estate.id,
            building_id=building_id,
            collector_staff_id=collector_id,
            sort_by=sort_by,
            show_phones=show_phones,
            include_not_due=include_not_due,
        )
        with contextlib.closing(lines):  # the read ends here, even when the file fails
            counted = (tally.add(line, _roster_row(line, items, names)) for line in lines)
            kept = _kept(counted, rows) if table else counted
            if out is not None:
                _write_roster(out, kept)
            else:
                with _progress() as bar:
                    task = bar.add_task("Reading the roster", total=None)
                    for _row in kept:
                        bar.advance(task)
    if table:
        _print_roster(estate, rows, include_not_due)
    summary = f"{tally.lines} lines, {len(tally.units)} units, total {_yuan(tally.total)} 元"
    if include_not_due:
        summary += f" (not yet due {_yuan(tally.not_due)} 元)"
    _out().print(Text(f"Arrears of {estate.name} (estate {estate.id}): {summary}"), soft_wrap=True)
    if out is not None:
        _out().print(Text(f"Written to {out}"), soft_wrap=True)


def _kept(rows: Iterable[_RosterRow], into: list[_RosterRow]) -> Iterator[_RosterRow]:
    """``rows`` as they pass, each also kept in ``into`` (for the printed table)."""
    for row in rows:
        into.append(row)
        yield row


class _Tally:
    """The summary of the lines that went by: count, units, total, not yet due."""

    def __init__(self) -> None:
        self.lines = 0
        self.units: set[int] = set()
        self.total = Decimal(0)
        self.not_due = Decimal(0)

    def add(self, line: ArrearsLine, row: _RosterRow) -> _RosterRow:
        self.lines += 1
        self.units.add(line.unit_id)
        self.total += line.amount
        self.not_due += line.not_due
        return row


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
        due="" if line.due_date is None else line.due_date.isoformat(),
        days_past_due=line.days_past_due,
        not_due=line.not_due,
        collector=collector,
        last_attempt=_attempt_text(line.last_attempt),
    )


def _attempt_text(last: str) -> str:
    """``2026-11-07 visit nobody_home`` as the roster shows it, in both languages as its
    headers are: ``2026-11-07 上门·无人在家 (visit, nobody home)``. Text of another shape
    stays as it is."""
    parts = last.split(" ")
    if len(parts) != 3:
        return last
    day, method, outcome = parts
    return (
        f"{day} {attempt_label(method, outcome, 'zh-CN')} ({attempt_label(method, outcome, 'en')})"
    )


def _print_roster(estate: Estate, rows: Sequence[_RosterRow], include_not_due: bool) -> None:
    """The roster as a table: the due date is left to the files; the not-yet-due column
    only when it was asked for."""
    table = Table(title=f"欠费清单 Arrears · {estate.name}", box=box.SIMPLE_HEAD)
    shown = [
        h
        for h in ROSTER_HEADERS
        if h != "到期日 Due" and (include_not_due or not h.startswith("其中未到期"))
    ]
    for header in shown:
        numeric = header.startswith(("月数", "欠费金额", "逾期天数", "其中未到期"))
        table.add_column(header, justify="right" if numeric else "left")
    for r in rows:
        cells: list[Text | str] = [
            Text(r.building),
            Text(r.unit),
            Text(r.owner),
            Text(r.phone),
            Text(r.fee_item),
            Text(_periods_text(r.periods)),
            str(len(r.periods)),
            Text(", ".join(str(y) for y in r.years)),
            _yuan(r.amount),
            str(max(r.days_past_due, 0)),
            *([_yuan(r.not_due)] if include_not_due else []),
            Text(r.collector),
            Text(r.last_attempt),
        ]
        table.add_row(*cells)
    _out().print(table)


def _write_roster(path: Path, rows: Iterable[_RosterRow]) -> None:
    """The rows to ``path`` as they come, CSV or XLSX by its ending."""
    try:
        with _progress() as bar:
            task = bar.add_task(f"Writing {path.name}", total=None)
            if path.suffix.lower() == ".csv":
                _write_roster_csv(path, rows, lambda: bar.advance(task))
            else:
                _write_roster_xlsx(path, rows, lambda: bar.advance(task))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise Refused(f"out={str(path)!r}: cannot be written: {reason}") from exc


def _stepped(rows: Iterable[_RosterRow], step: Callable[[], None]) -> Iterator[Sequence[Cell]]:
    for r in rows:
        yield r.cells()
        step()


def _write_roster_csv(path: Path, rows: Iterable[_RosterRow], step: Callable[[], None]) -> None:
    # propcare.tabular: UTF-8 with a BOM (Excel reads it as UTF-8, not the ANSI code page),
    # a name a spreadsheet would run as a formula marked as text.
    write_csv_file(path, ROSTER_HEADERS, _stepped(rows, step))


def _write_roster_xlsx(path: Path, rows: Iterable[_RosterRow], step: Callable[[], None]) -> None:
    import xlsxwriter  # the cli extra brings it; imported when a workbook is asked for

    # constant_memory: each row goes to a temporary file once the next begins, so the
    # workbook's memory does not grow with the roster (rows are written in order).
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    try:
        cells = XlsxCells(book)  # text as text cells, never formulas
        sheet = book.add_worksheet("欠费清单")
        head = cells.add_format({"bold": True, "bg_color": "#DDEBF7", "bottom": 1})
        money = cells.add_format({"num_format": _MONEY_FORMAT})
        bold_money = cells.add_format({"num_format": _MONEY_FORMAT, "bold": True, "top": 1})
        bold = cells.add_format({"bold": True, "top": 1})
        for j, width in enumerate((10, 8, 10, 14, 14, 24, 8, 12, 16, 12, 10, 14, 10, 26)):
            sheet.set_column(j, j, width)
        sheet.freeze_panes(1, 0)
        cells.write_row(sheet, 0, 0, ROSTER_HEADERS, head)
        amount_col = ROSTER_HEADERS.index("欠费金额 Amount (元)")
        last = 0
        total = Decimal(0)
        for last, r in enumerate(rows, start=1):
            for j, value in enumerate(r.cells()):
                cells.write(sheet, last, j, value, money if isinstance(value, Decimal) else None)
            total += r.amount
            step()
        cells.write(sheet, last + 1, 0, "合计 Total", bold)
        for j in range(1, len(ROSTER_HEADERS)):
            sheet.write_blank(last + 1, j, None, bold)
        column = chr(ord("A") + amount_col)
        sheet.write_formula(
            last + 1, amount_col, f"=SUM({column}2:{column}{last + 1})", bold_money, float(total)
        )
        sheet.autofilter(0, 0, max(last, 1), len(ROSTER_HEADERS) - 1)
    finally:
        try:
            book.close()
        except xlsxwriter.exceptions.FileCreateError as exc:
            raise OSError(exc.args[0].errno, exc.args[0].strerror) from exc
