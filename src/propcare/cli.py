"""The ``propcare`` command (extra ``cli``): ``propcare info``, ``propcare demo``.

A :class:`~propcare.errors.PropcareError` ends the command with one line on
stderr (``error: units=0: must be a positive integer``) and exit code 2, the
code click uses for bad usage; a traceback means a bug in propcare.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import attrs
import click
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from propcare import __version__
from propcare.app import Propcare, backend_name
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
from propcare.errors import NotFound, PropcareError, ValidationError
from propcare.plugins.host import Provided
from propcare.storage.sqlite import parse_sqlite_url

__all__ = ["database_url", "main"]

USAGE_ERROR = 2


class CommandFailed(click.ClickException):
    """A PropcareError, shown as one line: the message already names field, value and rule."""

    exit_code = USAGE_ERROR

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.message}", err=True)


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


def _shown_url(url: str) -> str:
    # A server URL may carry a password; info output ends up in tickets and chats.
    return re.sub(r"(://[^/:@]*):[^/@]*@", r"\1:***@", url)


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


@click.group(cls=PropcareGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    __version__, "--version", prog_name="propcare", message="%(prog)s %(version)s"
)
def main() -> None:
    """propcare: customer service for property-management companies (物业服务).

    Run `propcare demo` to build a demo estate, then `propcare info --db propcare-demo.db`.
    """


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
def info(db: str) -> None:
    """Show plugins, storage, channels, gateways and the schema version."""
    url = database_url(db)
    _require_existing(url)
    # Propcare.open always migrates; _require_existing keeps that to propcare's own files.
    with Propcare.open(url) as app:
        host = app.host
        scheme = backend_name(url)
        backend_from = [p.plugin for p in host.storage_backends() if p.record.name == scheme]
        table = Table(box=box.SIMPLE, show_header=False, title=f"propcare {__version__}")
        table.add_column("what", style="bold", no_wrap=True)
        table.add_column("value")
        table.add_row("Database", Text(_shown_url(url)))
        table.add_row("Schema version", str(app.storage.schema_version()))
        table.add_row("Storage backend", Text(f"{scheme} (from {', '.join(backend_from)})"))
        table.add_row("Plugins loaded", Text("\n".join(host.plugin_names()) or "none"))
        table.add_row("Channels configured", Text(", ".join(sorted(app.channels)) or "none"))
        table.add_row("Channel kinds", Text(_offers(host.notification_channels())))
        table.add_row("Payment gateways", Text(_offers(host.payment_gateways())))
        table.add_row("Calendar sources", Text(_offers(host.calendars())))
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


@main.command()
@click.option(
    "--db",
    default="propcare-demo.db",
    show_default=True,
    metavar="PATH",
    help="SQLite file to build (a path or an sqlite:/// URL). An earlier propcare database "
    "there is replaced; any other file is refused. The file is left on disk.",
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
def demo(db: str, units: int, months: int, seed: int, today: datetime | None) -> None:
    """Build a realistic demo estate in SQLite and print a summary."""
    options = DemoOptions(db=db, units=units, months=months, seed=seed)
    if today is not None:
        options = attrs.evolve(options, today=today.date())
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
    where = result.db_path.resolve()
    console.print(Text(f"Demo database left at {where}"), soft_wrap=True)
    console.print(Text(f"Look inside: propcare info --db {result.db_path}"), soft_wrap=True)
