"""``propcare bill-run``: bill a month for every unit of an estate."""

from __future__ import annotations

import click
from rich import box
from rich.table import Table

from propcare.access import Actor
from propcare.cli.common import (
    WorkCommand,
    _config_option,
    _db_option,
    _estate,
    _estate_option,
    _opened,
    _out,
    _progress,
    _yuan,
    main,
)


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
