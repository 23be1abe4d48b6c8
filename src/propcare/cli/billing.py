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
from propcare.ledger.billing import SkipReason

_WHY = {
    SkipReason.NO_HANDOVER_DATE: "无交房日期 no handover date",
    SkipReason.HANDED_OVER_LATER: "本期后交房 handed over later",
    SkipReason.NO_RATE_FOR_USE: "无此用途费率 no rate for its use",
    SkipReason.ZERO_AMOUNT: "金额为零 comes to 0.00",
}


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

    Prints the lines billed now, those an earlier run already billed, and the total billed now,
    then every unit billed no per-m2 fee (物业费) and why: no handover date, handed over after
    the month, no rate for its use. Fix the unit (or the fee item) and run the month again.
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
    table.add_row("Units not billed 未出账房屋", f"{len(report.skipped):,}")
    _out().print(table)
    if report.skipped:
        skipped = Table(
            title="Units billed no property fee 未收物业费的房屋", box=box.SIMPLE, show_lines=False
        )
        skipped.add_column("Unit 房屋", no_wrap=True)
        skipped.add_column("Why 原因", no_wrap=True)
        skipped.add_column("Detail 说明")
        for s in report.skipped:
            skipped.add_row(s.unit or f"unit {s.unit_id}", _WHY[s.reason], s.detail)
        _out().print(skipped)
