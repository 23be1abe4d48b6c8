"""``propcare tickets verify``: check that every ticket row is what its events give."""

from __future__ import annotations

from rich import box
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
    main,
)

# Ticket ids named in the one-line error; the table above it lists them all.
_NAMED = 20


@main.group()
def tickets() -> None:
    """Tickets: check the stored rows against their history."""


@tickets.command("verify", cls=WorkCommand)
@_db_option
@_estate_option("whose tickets to check")
@_config_option
def tickets_verify(db: str, estate_id: int) -> None:
    """Rebuild every ticket of the estate from its events and report each row that differs.

    Compares the stored state, the columns the statistics read (status, times, rework count,
    ...), the charge rows and the deadlines with what the history gives; writes nothing. Open
    tickets' deadlines are compared with today's SLA targets and holiday data: after changing
    either, run `propcare sla recompute` first. Exit 0 when every row matches, 1 when any
    differs (a table names each ticket and field).
    """
    actor = Actor.system()
    with _opened(db) as app:
        estate = _estate(app, actor, estate_id)
        result = app.tickets.verify(actor, estate.id)
    out = _out()
    if result.ok:
        out.print(
            Text(
                f"Checked {result.checked:,} tickets of {estate.name}: every row is what its "
                "events give."
            ),
            soft_wrap=True,
        )
        return
    table = Table(
        title=f"Tickets that differ from their events 与事件记录不符的工单 · {estate.name}",
        box=box.SIMPLE_HEAD,
    )
    for column in ("ticket 工单", "field 字段", "stored 存储值", "events give 事件重建值"):
        table.add_column(column)
    for ticket in result.differing:
        for d in ticket.differences:
            table.add_row(str(ticket.ticket_id), d.field, Text(d.stored), Text(d.rebuilt))
    out.print(table)
    ids = ", ".join(str(t.ticket_id) for t in result.differing[:_NAMED])
    more = f" and {len(result.differing) - _NAMED:,} more" if len(result.differing) > _NAMED else ""
    raise Refused(
        f"estate={estate.id}: {len(result.differing):,} of {result.checked:,} tickets differ "
        f"from their events (tickets {ids}{more}); if SLA targets or holiday data changed, "
        "run propcare sla recompute first"
    )
