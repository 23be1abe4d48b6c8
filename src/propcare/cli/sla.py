"""``propcare sla recompute`` and ``sla check``: SLA upkeep from the command line."""

from __future__ import annotations

import click
from rich import box
from rich.table import Table
from rich.text import Text

from propcare.access import Actor
from propcare.cli.common import (
    WorkCommand,
    _config_option,
    _db_option,
    _estate,
    _estate_option,
    _opened,
    _out,
    main,
)
from propcare.tickets.words import alert_words


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
            target, level = alert_words(a.target, a.level)
            if a.order is not None:  # which outside order, and to whom it was sent
                target = f"{target}{a.order}（{a.party}）"
            table.add_row(str(a.ticket_id), target, level, a.due, a.provisional)
        out.print(table)
    if check.skipped:
        table = Table(title="Not fully judged 未能判断", box=box.SIMPLE_HEAD)
        table.add_column("ticket 工单")
        table.add_column("reason 原因")
        for skipped in check.skipped:
            table.add_row(str(skipped.ticket_id), Text(skipped.reason))
        out.print(table)
