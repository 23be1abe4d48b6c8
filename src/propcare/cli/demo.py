"""``propcare demo``: build the demo estate, write its monthly report, print a summary."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import attrs
import click
from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from propcare.app import shown_url
from propcare.cli.common import (
    _config_option,
    _config_path,
    main,
)
from propcare.demo import (
    BUILDINGS,
    MAX_MONTHS,
    DemoOptions,
    DemoResult,
    has_url_scheme,
    run_demo,
    sqlite_url,
)


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
