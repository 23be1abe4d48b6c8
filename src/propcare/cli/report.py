"""``propcare report monthly``: the monthly service report (HTML, XLSX, CSV)."""

from __future__ import annotations

from pathlib import Path

import click
from rich import box
from rich.table import Table
from rich.text import Text

from propcare.access import ROLES, Actor
from propcare.cli.common import (
    WorkCommand,
    _actor_for,
    _config_option,
    _db_option,
    _estate,
    _opened,
    _out,
    _progress,
    main,
)
from propcare.errors import (
    NotFound,
)
from propcare.registry.model import (
    Estate,
)
from propcare.reports.monthly import LANGS, write_monthly


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
