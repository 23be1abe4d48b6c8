"""The PostgreSQL storage backend: propcare's SQL repositories on psycopg 3.

The repositories are the built-in ones (``propcare.storage.sqlite_*``): they
write portable SQL with ``?`` placeholders against the same tables and columns.
This module runs that SQL on PostgreSQL:

- placeholders become ``%s``; a bulk insert becomes COPY; a new row's id comes
  from ``RETURNING id``; a block of ids comes from the table's identity sequence;
- values come back as the repositories expect them from SQLite: a ``timestamptz``
  as the fixed-width UTC text ``propcare.storage.sqlite_values.ts`` writes, a
  ``date`` as ISO text, a whole ``numeric`` (``SUM`` of bigint) as ``int``;
- writers take one transaction-scoped advisory lock, so write units of work run
  one at a time across every process on the database, as SQLite's ``BEGIN
  IMMEDIATE`` makes them; readers never wait (MVCC). No lock is waited for longer
  than the session's ``lock_timeout``: 30 s (``LOCK_TIMEOUT_S``) unless the server,
  the role or the URL (``?options=-c%20lock_timeout%3D5s``) sets one; a writer that
  waited that long gets :class:`~propcare.errors.DatabaseLocked`, at open as in any
  unit of work;
- a database whose schema holds another program's tables and no propcare
  ``schema_version`` is refused (:class:`~propcare.errors.ForeignDatabase`) before
  anything is written, unless opened with ``adopt_foreign=True``; a database at the
  newest version is opened without taking the migration lock;
- a connection the server dropped is replaced at the next unit of work; the
  transaction it was in is gone, so nothing of it was written.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from importlib import resources
from typing import Any, cast

import psycopg
from psycopg import errors as pg_errors
from psycopg.adapt import Buffer, Dumper
from psycopg.rows import RowMaker, tuple_row
from psycopg.types.datetime import DateLoader, TimestamptzLoader
from psycopg.types.numeric import NumericLoader

from propcare.errors import (
    Conflict,
    DatabaseLocked,
    SchemaVersionError,
    StorageError,
    ValidationError,
)
from propcare.storage.sqlite import SqlUnitOfWork, foreign_database
from propcare.storage.sqlite_values import ts
from propcare.storage.urls import ambiguity, scrubbed, shown_url

__all__ = [
    "MIGRATIONS_PACKAGE",
    "PostgresStorage",
    "PostgresUnitOfWork",
    "connect",
    "migrate",
    "migrations",
    "open_postgres",
]

log = logging.getLogger(__name__)

MIGRATIONS_PACKAGE = "propcare_postgres.migrations"
# Advisory lock keys (any bigint; these spell "propcare" and "migrate" in hex-ish).
WRITE_LOCK = 0x70726F7063617265
MIGRATE_LOCK = 0x6D69677261746500
# How long a statement waits for a lock (the write lock above, a table's) when the session
# has no lock_timeout of its own; then DatabaseLocked.
LOCK_TIMEOUT_S = 30.0
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


# --- values as the repositories expect them ---------------------------------------


class _TimestampText(TimestamptzLoader):
    def load(self, data: Buffer) -> str:  # type: ignore[override]
        return ts(super().load(data))


class _DateText(DateLoader):
    def load(self, data: Buffer) -> str:  # type: ignore[override]
        return bytes(data).decode("ascii")  # DateStyle ISO: already YYYY-MM-DD


class _SqliteNumber(NumericLoader):
    """``SUM(bigint)`` is numeric in PostgreSQL and an integer in SQLite; ``AVG`` a
    fraction in both. Give the repositories what SQLite gives them."""

    def load(self, data: Buffer) -> int | float:  # type: ignore[override]
        text = bytes(data).decode("ascii")
        return float(text) if "." in text or "N" in text else int(text)


class _BoolAsInt(Dumper):
    """Flags are 0/1 bigint columns, as in SQLite."""

    oid = 20  # int8

    def dump(self, obj: Any) -> Buffer:
        return b"1" if obj else b"0"


class Row(tuple[Any, ...]):
    """A row that indexes by position and by column name, like ``sqlite3.Row``."""

    __slots__ = ()
    _index: dict[str, int]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


@functools.lru_cache(maxsize=256)
def _row_class(names: tuple[str, ...]) -> type[Row]:
    return type("Row", (Row,), {"__slots__": (), "_index": {n: i for i, n in enumerate(names)}})


def _named_row(cursor: Any) -> RowMaker[Row]:
    description = cursor.description
    if description is None:
        return cast(RowMaker[Row], tuple)
    cls = _row_class(tuple(d.name for d in description))
    return cls


# SQLite's group_concat(x) (a comma between values) is PostgreSQL's string_agg.
_GROUP_CONCAT = re.compile(r"\bgroup_concat\(([^()]+)\)", re.IGNORECASE)


@functools.lru_cache(maxsize=4096)
def translate(sql: str) -> tuple[str, bool]:
    """``?`` placeholders to ``%s`` and SQLite's numbered ``?N`` to ``%(pN)s`` (outside
    quotes); a literal ``%`` doubled; ``group_concat(x)`` to ``string_agg``. Also says
    whether the SQL numbers its parameters."""
    sql = _GROUP_CONCAT.sub(r"string_agg(CAST(\1 AS TEXT), ',')", sql)
    out: list[str] = []
    quote = ""
    numbered = False
    i = 0
    while i < len(sql):
        ch = sql[i]
        i += 1
        if quote:
            out.append("%%" if ch == "%" else ch)
            if ch == quote:
                quote = ""
        elif ch in ("'", '"'):
            quote = ch
            out.append(ch)
        elif ch == "?":
            j = i
            while j < len(sql) and sql[j].isdigit():
                j += 1
            if j > i:
                out.append(f"%(p{sql[i:j]})s")
                numbered = True
                i = j
            else:
                out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    return "".join(out), numbered


def _bind(sql: str, params: Sequence[Any]) -> tuple[Any, Any]:
    text, numbered = translate(sql)
    if numbered:
        return text, {f"p{i}": value for i, value in enumerate(params, start=1)}
    return text, (params or None)


def _conninfo(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+", 1)[0].lower() not in ("postgresql", "postgres"):
        raise ValidationError(
            "url", shown_url(url), "use postgresql://user[:password]@host[:port]/database"
        )
    # libpq would read the password otherwise than it was meant (and quote parts of it
    # back as a host or port in its error): refuse, and say how to write it.
    problem = ambiguity(url)
    if problem is not None:
        raise ValidationError("url", shown_url(url), problem)
    return "postgresql://" + rest


def connect(url: str) -> psycopg.Connection[Any]:
    """A connection set up the way the repositories need it (autocommit: the unit of
    work says BEGIN and COMMIT itself)."""
    try:
        conn = psycopg.connect(_conninfo(url), autocommit=True, row_factory=_named_row)
    except psycopg.Error as exc:
        # libpq's message may quote the connection string (a bad percent-escape, say).
        reason = scrubbed(str(exc), url)
        raise StorageError(
            "url", shown_url(url), f"cannot connect to PostgreSQL: {reason}"
        ) from exc
    conn.execute("SET TIME ZONE 'UTC'")
    conn.execute("SET DateStyle = 'ISO, YMD'")
    # Never wait for a lock forever; a lock_timeout the server, role or URL set stands.
    conn.execute(
        "SELECT set_config('lock_timeout', %s, false) WHERE current_setting('lock_timeout') = '0'",
        (f"{int(LOCK_TIMEOUT_S * 1000)}ms",),
    )
    adapters = conn.adapters
    adapters.register_loader("timestamptz", _TimestampText)
    adapters.register_loader("date", _DateText)
    adapters.register_loader("numeric", _SqliteNumber)
    adapters.register_dumper(bool, _BoolAsInt)
    return conn


# --- migrations -------------------------------------------------------------------


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, SQL) of every migration file, in order; each runs whole."""
    found: list[tuple[int, str, str]] = []
    for entry in resources.files(MIGRATIONS_PACKAGE).iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append((int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort()
    if [v for v, _n, _s in found] != list(range(1, len(found) + 1)):
        raise RuntimeError("PostgreSQL migrations are not numbered 1..n")
    return found


def current_version(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
    if row is None or not row[0]:
        return 0
    found = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(found[0] or 0) if found else 0


def schema_state(conn: psycopg.Connection[Any]) -> tuple[str, list[str]]:
    """``("empty", [])``, ``("propcare", [])`` or ``("foreign", tables)`` for the schema
    propcare's tables go in (the first of the ``search_path``): propcare's when it has
    propcare's version table (``schema_version`` with ``version``, ``name`` and
    ``applied_at``), foreign when it has other tables or views but not that."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f') "
        "ORDER BY c.relname"
    ).fetchall()
    names = [str(r[0]) for r in rows]
    if not names:
        return "empty", []
    if "schema_version" in names:
        columns = conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = 'schema_version'"
        ).fetchall()
        if {"version", "name", "applied_at"} <= {str(c[0]) for c in columns}:
            return "propcare", []
    return "foreign", names


def migrate(conn: psycopg.Connection[Any], target: int | None = None) -> int:
    """Bring the schema up to ``target`` (default: the newest); return the version.
    Concurrent openers wait on an advisory lock: each file runs once. A database already
    at ``target`` is only read: no lock is taken."""
    known = migrations()
    newest = known[-1][0] if known else 0
    goal = newest if target is None else target
    version = current_version(conn)
    if version > 0 and goal <= version <= newest:
        return version
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT PRIMARY KEY, "
            "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)"
        )
        version = current_version(conn)
    if version > newest:
        raise SchemaVersionError(
            "schema_version",
            version,
            f"the database was made by a newer propcare-postgres (this one knows up to "
            f"{newest}); upgrade propcare-postgres",
        )
    for number, name, sql in known:
        if number <= version or number > goal:
            continue
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
            if current_version(conn) >= number:
                continue
            conn.execute(cast(Any, sql), prepare=False)  # the whole file: no parameters
            conn.execute(
                "INSERT INTO schema_version (version, name, applied_at) VALUES (%s, %s, %s)",
                (number, name, ts(datetime.now(UTC))),
            )
        log.info("applied PostgreSQL migration %04d_%s", number, name)
    return current_version(conn)


# --- unit of work and storage -----------------------------------------------------


def _first_words(sql: str) -> str:
    return " ".join(sql.split()[:3])


class PostgresUnitOfWork(SqlUnitOfWork):
    """One PostgreSQL transaction; a writing one holds the database's write lock."""

    def __init__(self, storage: PostgresStorage, readonly: bool) -> None:
        super().__init__(storage.lock, readonly)
        self._storage = storage

    @property
    def connection(self) -> psycopg.Connection[Any]:
        """The raw connection, for backend-specific fast paths inside this transaction."""
        self._require_active()
        return self._storage.conn

    def _begin(self) -> None:
        try:
            conn = self._storage.ensure_connected()
            if self._readonly:
                # One snapshot for the whole read, as an SQLite read transaction has.
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            else:
                # READ COMMITTED on purpose: each statement after the lock sees what the
                # lock's previous holder committed (a snapshot taken before the wait
                # would not).
                conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
        except psycopg.Error as exc:
            self._storage.abandon()  # the transaction begun, if any, is not left open
            if isinstance(exc, pg_errors.LockNotAvailable):
                raise self._storage.locked("cannot begin") from exc
            raise StorageError("database", self._storage.shown, f"cannot begin: {exc}") from exc

    def _failed(self, exc: psycopg.Error, sql: str) -> Exception:
        if isinstance(exc, pg_errors.IntegrityError):
            return Conflict("record", _first_words(sql), f"violates a constraint: {exc}")
        if isinstance(exc, pg_errors.LockNotAvailable):
            return self._storage.locked(_first_words(sql))
        self._storage.drop_if_broken()
        return StorageError("database", self._storage.shown, str(exc).strip())

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        self._require_active()
        try:
            return self._storage.conn.execute(*_bind(sql, params))
        except psycopg.Error as exc:
            raise self._failed(exc, sql) from exc

    def tuples(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self._require_active()
        try:
            with self._storage.conn.cursor(row_factory=tuple_row) as cur:
                cur.execute(*_bind(sql, params))
                return cur.fetchall()
        except psycopg.Error as exc:
            raise self._failed(exc, sql) from exc

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> psycopg.Cursor[Any]:
        self._require_active()
        try:
            cur = self._storage.conn.cursor()
            cur.executemany(cast(Any, translate(sql)[0]), list(rows))
            return cur
        except psycopg.Error as exc:
            raise self._failed(exc, sql) from exc

    def insert_id(self, sql: str, params: Sequence[Any] = ()) -> int:
        row = self.execute(sql + " RETURNING id", params).fetchone()
        return int(cast(Any, row)[0])

    def reserve_ids(self, table: str, count: int) -> int:
        row = self.execute(
            "SELECT setval(pg_get_serial_sequence(?, 'id'), "
            "nextval(pg_get_serial_sequence(?, 'id')) + ? - 1)",
            (table, table, count),
        ).fetchone()
        return int(cast(Any, row)[0]) - count + 1

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        if not rows:
            return
        self._require_active()
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        try:
            with (
                self._storage.conn.cursor() as cur,
                cur.copy(cast(Any, statement)) as copy,
            ):
                for row in rows:
                    copy.write_row(row)
        except psycopg.Error as exc:
            raise self._failed(exc, statement) from exc

    def commit(self) -> None:
        self._require_active()
        try:
            self._storage.conn.execute("COMMIT")
        except psycopg.Error as exc:
            self._active = False
            self._storage.drop_if_broken()
            if isinstance(exc, pg_errors.IntegrityError):
                raise Conflict("commit", self._storage.shown, str(exc).strip()) from exc
            raise StorageError("database", self._storage.shown, f"commit failed: {exc}") from exc
        self._active = False
        self._committed = True

    def rollback(self) -> None:
        if self._active:
            self._active = False
            try:
                self._storage.conn.execute("ROLLBACK")
            except psycopg.Error:
                # The server dropped us: it rolled the transaction back itself.
                self._storage.drop_if_broken()


class PostgresStorage:
    """An open PostgreSQL database, migrated to the newest schema on open.

    ``adopt_foreign`` adds propcare's tables to a schema that holds another program's
    (refused by default, with :class:`~propcare.errors.ForeignDatabase`)."""

    def __init__(
        self, url: str, *, migrate_to: int | None = None, adopt_foreign: bool = False
    ) -> None:
        self.url = url
        self.shown = shown_url(url)
        self.lock = threading.RLock()
        self._conn: psycopg.Connection[Any] | None = connect(url)
        self.lock_timeout = f"{LOCK_TIMEOUT_S:g}s"
        try:
            row = self._conn.execute("SHOW lock_timeout").fetchone()
            self.lock_timeout = str(cast(Any, row)[0])
            state, tables = schema_state(self._conn)
            if state == "foreign" and not adopt_foreign:
                raise foreign_database(self.shown, tables)
            migrate(self._conn, migrate_to)
        except psycopg.Error as exc:
            self._conn.close()
            if isinstance(exc, pg_errors.LockNotAvailable):
                raise self.locked("cannot open") from exc
            raise StorageError("database", self.shown, f"cannot migrate: {exc}") from exc
        except BaseException:
            self._conn.close()
            raise

    def locked(self, doing: str) -> DatabaseLocked:
        """The error of a lock not had within ``lock_timeout``."""
        return DatabaseLocked(
            "database",
            self.shown,
            f"{doing}: another writer holds a lock this needs (propcare's write or migration "
            f"lock, or a table's) and did not release it within {self.lock_timeout}, so "
            "nothing was written; try again when it has finished (a bill run, an import, "
            "another propcare process), or end the session that holds it "
            "(pg_stat_activity, pg_locks)",
        )

    @property
    def conn(self) -> psycopg.Connection[Any]:
        if self._conn is None:
            raise StorageError(
                "database", self.shown, "the connection was lost; open a new unit of work"
            )
        return self._conn

    def ensure_connected(self) -> psycopg.Connection[Any]:
        """The connection, replaced first if the server dropped the old one."""
        if self._conn is None or self._conn.closed or self._conn.broken:
            if self._conn is not None:
                self._conn.close()
            self._conn = connect(self.url)
        return self._conn

    def abandon(self) -> None:
        """Roll back a transaction left open by a failure, then drop a broken connection."""
        conn = self._conn
        if (
            conn is not None
            and not conn.closed
            and not conn.broken
            and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
        ):
            with contextlib.suppress(psycopg.Error):
                conn.execute("ROLLBACK")
        self.drop_if_broken()

    def drop_if_broken(self) -> None:
        if self._conn is not None and (self._conn.closed or self._conn.broken):
            self._conn.close()
            self._conn = None

    def unit_of_work(self, *, readonly: bool = False) -> PostgresUnitOfWork:
        return PostgresUnitOfWork(self, readonly)

    def schema_version(self) -> int:
        with self.lock:
            return current_version(self.ensure_connected())

    def close(self) -> None:
        with self.lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __repr__(self) -> str:
        return f"PostgresStorage({self.shown!r})"


def open_postgres(url: str, *, adopt_foreign: bool = False) -> PostgresStorage:
    """The storage backend's ``open``: ``adopt_foreign`` as :class:`PostgresStorage`
    takes it."""
    return PostgresStorage(url, adopt_foreign=adopt_foreign)
