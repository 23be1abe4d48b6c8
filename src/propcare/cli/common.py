"""What every ``propcare`` command shares: the group, exit codes, options, opening the app."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from propcare import __version__
from propcare.access import Actor
from propcare.app import Propcare
from propcare.config import ENV_VAR, load_config
from propcare.demo import (
    has_url_scheme,
    sqlite_url,
)
from propcare.errors import (
    DatabaseLocked,
    NotFound,
    PropcareError,
    ReadOnlyDatabase,
    ValidationError,
)
from propcare.plugins.host import Provided
from propcare.registry.model import (
    Building,
    Estate,
    EstateId,
    Staff,
)
from propcare.storage.sqlite import parse_sqlite_url
from propcare.storage.urls import secrets_in, shown_url

REFUSED = 1
USAGE_ERROR = 2


class CommandFailed(click.ClickException):
    """A PropcareError, shown as one line: the message already names field, value and rule."""

    exit_code = USAGE_ERROR

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.message}", err=True)


class Refused(CommandFailed):
    """The work was refused (a PropcareError, or bad rows in a file): exit code 1."""

    exit_code = REFUSED


class WorkCommand(click.Command):
    """A command that does work on a database: a PropcareError refuses it, exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PropcareError as exc:
            raise Refused(str(exc)) from exc


class PropcareGroup(click.Group):
    """A PropcareError that escapes a command is about its options (exit code 2), except
    a database that is busy or read-only: the work was refused (1), options are fine."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (DatabaseLocked, ReadOnlyDatabase) as exc:
            raise Refused(str(exc)) from exc
        except PropcareError as exc:
            raise CommandFailed(str(exc)) from exc


def database_url(text: str) -> str:
    """A URL as given, or a plain path made an SQLite URL (``x.db`` -> ``sqlite:///x.db``)."""
    if not text.strip():
        raise ValidationError("db", text, "must be a database URL or a path to an SQLite file")
    if has_url_scheme(text):
        return text
    if secrets_in(text) or _DSN.match(text):
        # libpq's key=value form is not a path: taken for one, it would be echoed whole
        # (password and all) in "no such database file".
        raise ValidationError(
            "db", shown_url(text), "give a postgresql:// URL, not a key=value connection string"
        )
    return sqlite_url(Path(text).expanduser())


_DSN = re.compile(r"^\s*(host|hostaddr|dbname|user|port|password)\s*=", re.IGNORECASE)


def _require_existing(url: str) -> None:
    """Refuse to create a file just to describe it. Another program's database is refused
    by ``Propcare.open`` itself (ForeignDatabase), before it writes anything."""
    if not url.lower().startswith("sqlite:"):
        return
    path = parse_sqlite_url(url)
    if path == ":memory:":
        return
    if not Path(path).exists():
        raise NotFound("db", path, "no such database file (`propcare demo` makes one)")


def _offers(provided: Iterable[Provided[Any]]) -> str:
    found = sorted(f"{getattr(p.record, 'name', '?')} (from {p.plugin})" for p in provided)
    return "\n".join(found) or "none"


_CONFIG_KEY = "propcare.config"


def _remember_config(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.meta[_CONFIG_KEY] = value


def _config_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--config",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        envvar=ENV_VAR,
        show_envvar=True,
        metavar="FILE",
        expose_value=False,
        is_eager=True,
        callback=_remember_config,
        help="The configuration file (propcare.toml: calendars and holiday files, SLA targets, "
        "channels, ...; docs/reference/configuration.md). Default: the built-in settings.",
    )(func)


def _config_path() -> Path | None:
    ctx = click.get_current_context(silent=True)
    return None if ctx is None else ctx.meta.get(_CONFIG_KEY)


def _config() -> dict[str, Any]:
    """The configuration file's mapping (errors name the file), or the defaults."""
    path = _config_path()
    return {} if path is None else load_config(path)


@click.group(cls=PropcareGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    __version__, "--version", prog_name="propcare", message="%(prog)s %(version)s"
)
def main() -> None:
    """propcare: customer service for property-management companies (物业服务).

    Run `propcare demo` to build a demo estate, then `propcare info --db propcare-demo.db`.
    """
    # propcare's own warnings (next year's holidays missing, ...) as one line each on stderr,
    # for as long as the command runs (a program that calls main() keeps its own logging).
    logger = logging.getLogger("propcare")
    if not any(isinstance(h, _WarningLines) for h in logger.handlers):
        lines = _WarningLines()
        logger.addHandler(lines)
        click.get_current_context().call_on_close(lambda: logger.removeHandler(lines))


class _WarningLines(logging.StreamHandler):  # type: ignore[type-arg]
    def __init__(self) -> None:
        super().__init__()
        self.setLevel(logging.WARNING)
        self.setFormatter(logging.Formatter("warning: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr  # the stderr of now (CliRunner swaps it per run)
        super().emit(record)


# --- what the working commands share ----------------------------------------------------------


def _db_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--db",
        required=True,
        envvar="PROPCARE_DB",
        show_envvar=True,
        metavar="URL|PATH",
        help="The database: a URL (sqlite:///x.db, postgresql://...) or a path to an existing "
        "propcare SQLite file. A missing file is not created; another program's file is refused.",
    )(func)


def _estate_option(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--estate",
        "estate_id",
        type=int,
        required=True,
        metavar="ID",
        help=f"The estate {what}, by id (an unknown id is refused with the estates there are).",
    )


@contextmanager
def _opened(db: str, *, auto_dispatch: bool = True) -> Iterator[Propcare]:
    """The app on ``db`` with the configuration; ``auto_dispatch=False`` keeps what the
    command queues in the outbox for the application's dispatcher instead of sending it
    from this process. Every error at open (a busy or foreign database) is a
    PropcareError, so the command ends with one line."""
    url = database_url(db)
    _require_existing(url)
    config: Any = _config_path()
    if not auto_dispatch:
        settings = _config()
        config = {**settings, "dispatch": {**dict(settings.get("dispatch") or {}), "auto": False}}
    with Propcare.open(url, config=config) as app:
        yield app


def _estate(app: Propcare, actor: Actor, estate_id: int) -> Estate:
    try:
        return app.estates.get(actor, EstateId(estate_id))
    except NotFound:
        known = ", ".join(f"{e.id} {e.name}" for e in app.estates.list(actor)) or "none"
        raise NotFound("estate", estate_id, f"no such estate; the estates here: {known}") from None


def _progress() -> Progress:
    """A progress bar on stderr, shown only when stderr is a terminal."""
    console = Console(stderr=True)
    return Progress(
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=True,
    )


def _out() -> Console:
    return Console(highlight=False)


def _yuan(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def _pick(
    text: str, records: Sequence[Building | Staff], what: str, where: str
) -> Building | Staff:
    """A building or staff member named by id or by name; a number tries the id first."""
    if text.strip().isdigit():
        by_id = [r for r in records if r.id == int(text)]
        if by_id:
            return by_id[0]
    by_name = [r for r in records if r.name == text.strip()]
    if len(by_name) == 1:
        return by_name[0]
    known = ", ".join(f"{r.id} {r.name}" for r in records) or "none"
    if by_name:
        raise ValidationError(what, text, f"{len(by_name)} share this name in {where}; give the id")
    raise NotFound(what, text, f"no {what} of {where} has this id or name; there are: {known}")


def _actor_for(role: str | None, estate_id: int) -> Actor:
    if role is None:
        return Actor.system()
    return Actor("propcare-cli", frozenset({role}), frozenset({EstateId(estate_id)}))
