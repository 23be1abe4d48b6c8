"""``propcare import units``: the owner archive from CSV or XLSX."""

from __future__ import annotations

from pathlib import Path

import click
from rich import box
from rich.progress import (
    TaskID,
)
from rich.table import Table
from rich.text import Text

from propcare.access import Actor
from propcare.cli.common import (
    Refused,
    WorkCommand,
    _config_option,
    _db_option,
    _estate,
    _estate_option,
    _opened,
    _out,
    _progress,
    main,
)
from propcare.registry.archive_import import HEADER_ROWS, UNIT_COLUMNS, ImportResult, read_archive


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
