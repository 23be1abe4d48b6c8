"""``propcare migrate-db``: copy an SQLite database into an empty PostgreSQL one."""

from __future__ import annotations

from pathlib import Path

import click
from rich import box
from rich.table import Table
from rich.text import Text

from propcare.cli.common import (
    WorkCommand,
    _config_option,
    _config_path,
    _out,
    _progress,
    _require_existing,
    database_url,
    main,
)
from propcare.demo import (
    is_propcare_database,
)
from propcare.errors import (
    ValidationError,
)
from propcare.storage.copy import DEFAULT_BATCH, copy_database
from propcare.storage.sqlite import parse_sqlite_url


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
