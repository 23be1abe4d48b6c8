"""``propcare outbox failed`` and ``outbox requeue``: deliveries that gave up, sent again."""

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


@main.group()
def outbox() -> None:
    """The outbox: notifications and events that could not be delivered."""


@outbox.command("failed", cls=WorkCommand)
@_db_option
@_estate_option("whose failed deliveries to list")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Only the N oldest. Default: every one.",
)
@_config_option
def outbox_failed(db: str, estate_id: int, limit: int | None) -> None:
    """List the estate's deliveries that ended failed: notifications (addresses masked) and
    events for subscribers, with their attempts and last error.

    A delivery fails for good after dispatch.max_attempts attempts, or at once when its
    channel refuses it for good. `propcare outbox requeue` sends them again.
    """
    actor = Actor.system()
    with _opened(db) as app:
        estate = _estate(app, actor, estate_id)
        failed = app.notify.failed(actor, estate.id, limit=limit)
        zone = app.zone(estate.timezone)
    out = _out()
    if not failed:
        out.print(Text(f"No failed deliveries in {estate.name}."), soft_wrap=True)
        return
    table = Table(title=f"Failed deliveries 发送失败 · {estate.name}", box=box.SIMPLE_HEAD)
    for column in (
        "id",
        "message 消息",
        "topic 主题",
        "to 发往",
        "recipient 收件人",
        "attempts 次数",
        "failed at 失败时间",
        "last error 最后错误",
    ):
        table.add_column(column)
    for f in failed:
        who = f"{f.recipient_name} <{f.recipient}>" if f.recipient else ""
        table.add_row(
            str(f.delivery_id),
            str(f.message_id),
            Text(f.topic),
            Text(f.target),
            Text(who),
            str(f.attempts),
            f.failed_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            Text(f.error or ""),
        )
    out.print(table)
    out.print(
        Text(
            f"{len(failed):,} failed. Send them again: propcare outbox requeue --estate "
            f"{estate.id} --id N (or --all)."
        ),
        soft_wrap=True,
    )


@outbox.command("requeue", cls=WorkCommand)
@_db_option
@_estate_option("whose failed deliveries to send again")
@click.option(
    "--id",
    "delivery_ids",
    type=click.IntRange(min=1),
    multiple=True,
    metavar="N",
    help="A failed delivery to send again (repeat for more), as `outbox failed` lists it.",
)
@click.option("--all", "all_failed", is_flag=True, help="Every failed delivery of the estate.")
@click.option(
    "--send",
    is_flag=True,
    help="Also send them now, from this command (the channels must be configured: --config). "
    "Default: the application's dispatcher sends them at its next pass.",
)
@_config_option
def outbox_requeue(
    db: str, estate_id: int, delivery_ids: tuple[int, ...], all_failed: bool, send: bool
) -> None:
    """Put failed deliveries back to be sent again, with their attempts reset.

    All or nothing: an id that is not a failed delivery of the estate refuses the command
    (exit 1) and nothing is requeued. The retries keep each delivery's idempotency key.
    """
    if bool(delivery_ids) == all_failed:
        raise click.UsageError("give --id N (one or more) or --all")
    actor = Actor.system()
    # Not sent from here unless asked: this process may not have the channels configured.
    with _opened(db, auto_dispatch=False) as app:
        estate = _estate(app, actor, estate_id)
        requeued = app.notify.requeue(actor, estate.id, delivery_ids, all_failed=all_failed)
        report = app.dispatch() if send and requeued else None
    out = _out()
    if not requeued:
        out.print(Text(f"No failed deliveries in {estate.name}: nothing to requeue."))
        return
    out.print(
        Text(
            f"Requeued {len(requeued):,} deliveries of {estate.name}: "
            f"{', '.join(map(str, requeued))}."
        ),
        soft_wrap=True,
    )
    if report is None:
        out.print(Text("The application's dispatcher sends them at its next pass."))
    else:
        out.print(
            Text(
                f"Sent now: {report.delivered:,} delivered, {report.retried:,} to retry, "
                f"{report.failed:,} failed, {report.held:,} held for quiet hours."
            ),
            soft_wrap=True,
        )
