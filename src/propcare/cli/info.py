"""``propcare info``: plugins, storage, channels, gateways, calendars, schema version."""

from __future__ import annotations

import click
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from propcare import __version__
from propcare.app import Propcare, backend_name, shown_url
from propcare.calendar import year_ranges
from propcare.cli.common import (
    _config_option,
    _config_path,
    _offers,
    _opened,
    _require_existing,
    database_url,
    main,
)


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
@_config_option
def info(db: str) -> None:
    """Show plugins, storage, channels, gateways, calendars and the schema version."""
    url = database_url(db)
    _require_existing(url)
    # Propcare.open always migrates; _require_existing keeps that to propcare's own files.
    with _opened(db) as app:
        host = app.host
        scheme = backend_name(url)
        backend_from = [p.plugin for p in host.storage_backends() if p.record.name == scheme]
        table = Table(box=box.SIMPLE, show_header=False, title=f"propcare {__version__}")
        table.add_column("what", style="bold", no_wrap=True)
        table.add_column("value")
        table.add_row("Database", Text(shown_url(url)))
        table.add_row("Schema version", str(app.storage.schema_version()))
        table.add_row("Storage backend", Text(f"{scheme} (from {', '.join(backend_from)})"))
        table.add_row("Plugins loaded", Text("\n".join(host.plugin_names()) or "none"))
        table.add_row("Channels configured", Text(", ".join(sorted(app.channels)) or "none"))
        table.add_row("Channel kinds", Text(_offers(host.notification_channels())))
        table.add_row("Payment gateways", Text(_offers(host.payment_gateways())))
        table.add_row("Calendar sources", Text(_offers(host.calendars())))
        table.add_row("Calendars", Text(_calendar_years(app)))
        table.add_row(
            "Missing holiday data",
            Text(f"{app.sla_missing.value} (sla.missing_holiday_data)"),
        )
        path = _config_path()
        table.add_row("Configuration", Text(str(path) if path else "built-in defaults"))
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


def _calendar_years(app: Propcare) -> str:
    """Each configured calendar and the years its holiday data covers."""
    lines = []
    for name, business in app.calendars.items():
        data = business.holidays
        if data is None:
            lines.append(f"{name}: no public holidays (every year)")
        else:
            lines.append(f"{name}: {year_ranges(data.years)} ({data.source})")
    return "\n".join(lines)
