"""The built-in embedded backend: one SQLite file (or memory), standard library only.

WAL so readers never wait for the writer, foreign keys on, ``BEGIN IMMEDIATE``
for writes so two processes queue for the write lock instead of failing
half-way, a busy timeout, money as integer fen. One connection per storage,
guarded by a lock: an app object may be shared between threads, and SQLite
has one writer at a time anyway.

Opening is careful with files that are not (yet) propcare's:

- a new path or an empty file becomes a propcare database; a file holding another
  program's tables and no propcare ``schema_version`` is refused
  (:class:`~propcare.errors.ForeignDatabase`) before anything is written to it, unless
  the caller asks to add propcare's tables beside them (``adopt_foreign``);
- a file this process may not write (a read-only file, or a file in a read-only folder,
  where SQLite cannot create the ``-wal`` and ``-shm`` files) is opened read-only: read
  units of work work, a write raises :class:`~propcare.errors.ReadOnlyDatabase`. It
  must already stand at the newest schema version, since upgrading would write;
- the schema is read without a lock, and the write lock is taken only when a
  migration is due, so opening never waits for another process's writes;
- a write that waits longer than the busy timeout (``BUSY_TIMEOUT_S``, 30 s) for
  another writer's lock, at open or in a unit of work, raises
  :class:`~propcare.errors.DatabaseLocked` naming the database.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Generic, Self, TypeVar, cast
from urllib.parse import quote

import attrs

from propcare.access import RoleGrant
from propcare.errors import (
    Conflict,
    DatabaseLocked,
    ForeignDatabase,
    ReadOnlyDatabase,
    SchemaVersionError,
    StorageError,
    ValidationError,
)
from propcare.notify.outbox import NewMessage, StoredMessage, decode_payload, encode_payload
from propcare.plugins.hookspecs import hookimpl
from propcare.plugins.records import StorageBackend
from propcare.registry.model import (
    Building,
    BuildingId,
    ContactReveal,
    Estate,
    EstateId,
    Owner,
    OwnerId,
    Ownership,
    Staff,
    StaffId,
    Team,
    TeamId,
    Unit,
    UnitId,
    Vendor,
    VendorId,
)
from propcare.storage.migrate import Migration, migrations, split_statements
from propcare.storage.ports import ClaimedDelivery, Delivery, FailedDeliveryRow
from propcare.storage.sql import SqlSession
from propcare.storage.sqlite_appraisal import AppraisalRepo
from propcare.storage.sqlite_arrears import ArrearsRepo
from propcare.storage.sqlite_billing import BillingRepo
from propcare.storage.sqlite_collection import CollectionRepo
from propcare.storage.sqlite_commission import CommissionRepo
from propcare.storage.sqlite_deposits import DepositRepo
from propcare.storage.sqlite_ledger import LedgerRepo
from propcare.storage.sqlite_payments import PaymentsRepo
from propcare.storage.sqlite_plans import OutageRepo, PlanRepo
from propcare.storage.sqlite_ticket_stats import TicketStatsRepo
from propcare.storage.sqlite_tickets import TicketRepo
from propcare.storage.sqlite_values import parse_ts, ts

__all__ = ["SqliteStorage", "open_sqlite", "parse_sqlite_url"]

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 30.0
R = TypeVar("R")


# --- value encoding -------------------------------------------------------------


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_day(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


def _req_day(text: str) -> date:
    return date.fromisoformat(text)


# --- URLs and connections -------------------------------------------------------


def parse_sqlite_url(url: str) -> str:
    """``sqlite:///rel.db``, ``sqlite:////abs/x.db``, ``sqlite://:memory:`` -> a path.

    Three slashes then a path, as SQLAlchemy reads it: ``sqlite:///a.db`` is
    relative, ``sqlite:////tmp/a.db`` absolute.
    """
    scheme, colon, rest = url.partition(":")
    # sqlite+pysqlite:// is how SQLAlchemy users write it; the driver part changes nothing.
    if not colon or scheme.split("+", 1)[0].lower() != "sqlite":
        raise ValidationError("url", url, "an SQLite URL starts with sqlite://")
    if rest in ("", "//", "//:memory:", "///:memory:"):
        return ":memory:"
    if not rest.startswith("///") or len(rest) == 3:
        raise ValidationError(
            "url",
            url,
            "use sqlite:///relative/path.db, sqlite:////absolute/path.db or sqlite://:memory:",
        )
    return rest[3:]


def connect(path: str) -> sqlite3.Connection:
    """A read-write connection in WAL mode with foreign keys on and the busy timeout."""
    conn = _connection(path)
    _use_wal(conn, path)
    return conn


def _connection(path: str, *, uri: bool = False) -> sqlite3.Connection:
    """A connection with the settings that change nothing in the file."""
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False, uri=uri
    )
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    return conn


def _use_wal(conn: sqlite3.Connection, path: str) -> None:
    if path != ":memory:":
        conn.execute("PRAGMA journal_mode = WAL")
        # In WAL mode NORMAL keeps the database consistent across a crash; a power
        # cut may lose the last commits but never corrupts.
        conn.execute("PRAGMA synchronous = NORMAL")


def writable(path: str) -> bool:
    """Whether this process may write the database at ``path``: the file (if it exists)
    and its folder, where SQLite keeps the ``-wal`` and ``-shm`` files beside it.

    Asked of the operating system (``access``), so a read-only mount or an immutable
    file counts too; root, who may write whatever the permission bits say, writes."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.exists(path) and not os.access(path, os.W_OK):
        return False
    return os.access(folder, os.W_OK)


def _connect_readonly(path: str) -> sqlite3.Connection:
    """A read-only connection to a database this process may not write.

    ``mode=ro`` first: it sees commits still in the write-ahead log when the ``-wal``
    and ``-shm`` files exist. In a read-only folder without them SQLite cannot read a
    WAL database that way, and ``immutable=1`` reads the file alone, which then holds
    every commit (the log was checkpointed and removed when its last writer closed)."""
    base = f"{_file_uri(path)}?mode=ro"
    conn = _connection(base, uri=True)
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError as exc:
        conn.close()
        if _primary_code(exc) != sqlite3.SQLITE_CANTOPEN or os.path.exists(f"{path}-wal"):
            raise
    conn = _connection(f"{base}&immutable=1", uri=True)
    conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    return conn


def _file_uri(path: str) -> str:
    return "file:" + quote(os.path.abspath(path))


def _primary_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else int(code) & 0xFF


def storage_error(exc: sqlite3.Error, database: str, doing: str | None = None) -> StorageError:
    """``exc`` as the StorageError a caller can act on: a lock that did not come within
    the busy timeout is :class:`DatabaseLocked`, a write to a read-only database
    :class:`ReadOnlyDatabase`; ``doing`` says what failed (``cannot begin``, ...)."""
    code = _primary_code(exc)
    said = "" if doing is None else f"{doing}: "
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return DatabaseLocked(
            "database",
            database,
            f"{said}another writer holds the database's write lock and did not release it "
            f"within {BUSY_TIMEOUT_S:g} s, so nothing was written; try again when it has "
            "finished (a bill run, an import, another propcare command), or stop the process "
            "that holds it",
        )
    if code == sqlite3.SQLITE_READONLY:
        return ReadOnlyDatabase(
            "database",
            database,
            f"{said}the database is read-only here ({exc}); reading works, writing needs "
            "write access to the file and its folder",
        )
    return StorageError("database", database, f"{said}{exc}")


def schema_state(conn: sqlite3.Connection) -> tuple[str, list[str]]:
    """``("empty", [])``, ``("propcare", [])`` or ``("foreign", tables)``.

    A database is propcare's when it has propcare's version table (``schema_version``
    with ``version``, ``name`` and ``applied_at``), whatever else it holds; foreign when it
    holds anything else (tables, views, ...) but not that; empty when it holds nothing."""
    rows = conn.execute(
        "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite^_%' ESCAPE '^' "
        "ORDER BY name"
    ).fetchall()
    if not rows:
        return "empty", []
    if any(r[0] == "table" and r[1] == "schema_version" for r in rows):
        columns = {r[1] for r in conn.execute("PRAGMA table_info(schema_version)")}
        if {"version", "name", "applied_at"} <= columns:
            return "propcare", []
    return "foreign", [str(r[1]) for r in rows if r[0] in ("table", "view")]


def foreign_database(database: str, tables: Sequence[str]) -> ForeignDatabase:
    shown = ", ".join(tables[:5]) + (f" and {len(tables) - 5} more" if len(tables) > 5 else "")
    return ForeignDatabase(
        "database",
        database,
        f"is not a propcare database: it holds another program's tables ({shown or 'none'}) "
        "and no propcare schema_version table, so propcare adds nothing to it; name a "
        "propcare database (or a new, empty one), or open it with "
        "Propcare.open(url, adopt_foreign=True) to add propcare's tables beside them",
    )


def current_version(conn: sqlite3.Connection) -> int:
    row = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if row is None:
        return 0
    found = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
    return int(found or 0)


def newest_version() -> int:
    known = migrations("sqlite")
    return known[-1].version if known else 0


def _newer_than_known(version: int, newest: int) -> SchemaVersionError:
    return SchemaVersionError(
        "schema_version",
        version,
        f"the database was made by a newer propcare (this one knows up to {newest}); "
        "upgrade propcare",
    )


def migrate(conn: sqlite3.Connection, target: int | None = None) -> int:
    """Bring the schema up to ``target`` (default: the newest); return the version.

    The version is read first without a lock; the write lock is taken only when a
    migration is due, so opening a current database never waits for another writer."""
    known: list[Migration] = migrations("sqlite")
    newest = known[-1].version if known else 0
    goal = newest if target is None else target
    version = current_version(conn)
    if version > newest:
        raise _newer_than_known(version, newest)
    if version >= goal and version > 0:
        return version
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        version = current_version(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    if version > newest:
        raise _newer_than_known(version, newest)
    for step in known:
        if step.version <= version or step.version > goal:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have applied it while we waited for the lock.
            if current_version(conn) >= step.version:
                conn.execute("COMMIT")
                continue
            for statement in split_statements(step.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                (step.version, step.name, ts(datetime.now(UTC))),
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        log.info("applied migration %04d_%s", step.version, step.name)
    return current_version(conn)


# --- repositories ----------------------------------------------------------------


@attrs.frozen
class Table(Generic[R]):
    """How one record type maps to one table (``id`` and ``estate_id`` implied)."""

    name: str
    columns: tuple[str, ...]
    to_row: Callable[[R], tuple[Any, ...]]
    from_row: Callable[[sqlite3.Row], R]
    order: str = "id"
    insert_sql: str = attrs.field(init=False)
    update_sql: str = attrs.field(init=False)
    select_sql: str = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        # Built once per table, not once per unit of work.
        cols = ", ".join(self.columns)
        marks = ", ".join("?" for _ in self.columns)
        sets = ", ".join(f"{c} = ?" for c in self.columns)
        object.__setattr__(self, "insert_sql", f"INSERT INTO {self.name} ({cols}) VALUES ({marks})")
        object.__setattr__(self, "update_sql", f"UPDATE {self.name} SET {sets} WHERE id = ?")
        object.__setattr__(self, "select_sql", f"SELECT id, {cols} FROM {self.name}")


class TableRepository(Generic[R]):
    """add / get / update / list for a record kept in one table."""

    def __init__(self, uow: SqlSession, table: Table[R]) -> None:
        self._uow = uow
        self._t = table
        self._insert = table.insert_sql
        self._update = table.update_sql
        self._select = table.select_sql

    def add(self, record: R) -> R:
        new_id = self._uow.insert_id(self._insert, self._t.to_row(record))
        return cast(R, attrs.evolve(cast(Any, record), id=new_id))

    def add_many(self, records: Sequence[R]) -> list[R]:
        return [self.add(r) for r in records]

    def get(self, record_id: int) -> R | None:
        row = self._uow.execute(f"{self._select} WHERE id = ?", (record_id,)).fetchone()
        return None if row is None else self._t.from_row(row)

    def update(self, record: R) -> None:
        record_id = cast(Any, record).id
        cur = self._uow.execute(self._update, (*self._t.to_row(record), record_id))
        if cur.rowcount != 1:
            raise StorageError(f"{self._t.name}.id", record_id, "no such row to update")

    def in_estate(self, estate_id: EstateId) -> list[R]:
        rows = self._uow.execute(
            f"{self._select} WHERE estate_id = ? ORDER BY {self._t.order}", (estate_id,)
        )
        return [self._t.from_row(r) for r in rows]

    def where(self, clause: str, params: Sequence[Any]) -> list[R]:
        rows = self._uow.execute(f"{self._select} WHERE {clause} ORDER BY {self._t.order}", params)
        return [self._t.from_row(r) for r in rows]


class EstateRepo(TableRepository[Estate]):
    def in_estate(self, estate_id: EstateId) -> list[Estate]:
        return self.where("id = ?", (estate_id,))

    def list_all(self, only: Iterable[EstateId] | None = None) -> list[Estate]:
        if only is None:
            return self.where("1 = 1", ())
        ids = sorted(set(only))
        if not ids:
            return []
        return self.where(f"id IN ({', '.join('?' for _ in ids)})", ids)


class UnitRepo(TableRepository[Unit]):
    def add_many(self, records: Sequence[Unit]) -> list[Unit]:
        # One bulk insert (COPY on PostgreSQL), then the new ids by (building, number),
        # which is unique: several times faster than a statement per row for an import.
        if len(records) == 1:
            return [self.add(records[0])]
        self._uow.insert_rows(self._t.name, self._t.columns, [self._t.to_row(r) for r in records])
        ids: dict[tuple[int, str], int] = {}
        by_building: dict[BuildingId, list[str]] = {}
        for r in records:
            by_building.setdefault(r.building_id, []).append(r.number)
        for building_id, numbers in by_building.items():
            for i in range(0, len(numbers), 500):  # SQLite's bound-parameter limit
                chunk = numbers[i : i + 500]
                rows = self._uow.execute(
                    "SELECT id, number FROM units WHERE building_id = ? "
                    f"AND number IN ({', '.join('?' for _ in chunk)})",
                    (building_id, *chunk),
                )
                ids.update({(building_id, row["number"]): row["id"] for row in rows})
        return [attrs.evolve(r, id=UnitId(ids[(r.building_id, r.number)])) for r in records]

    def in_building(self, building_id: BuildingId) -> list[Unit]:
        return self.where("building_id = ?", (building_id,))

    def numbers_taken(self, building_id: BuildingId, numbers: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(numbers))
        taken: set[str] = set()
        for i in range(0, len(wanted), 500):  # stay under SQLite's bound-parameter limit
            chunk = wanted[i : i + 500]
            rows = self._uow.execute(
                f"SELECT number FROM units WHERE building_id = ? "
                f"AND number IN ({', '.join('?' for _ in chunk)})",
                (building_id, *chunk),
            )
            taken.update(row[0] for row in rows)
        return taken

    def find(self, building_id: BuildingId, number: str) -> Unit | None:
        found = self.where("building_id = ? AND number = ?", (building_id, number))
        return found[0] if found else None

    def count(self, estate_id: EstateId) -> int:
        row = self._uow.execute("SELECT COUNT(*) FROM units WHERE estate_id = ?", (estate_id,))
        return int(row.fetchone()[0])


def _audit_rows(
    uow: SqlSession, table: str, columns: str, estate_id: int, column: str, value: int | None
) -> Any:
    """The rows of an append-only audit table of the estate (``role_grants``,
    ``contact_reveals``), only those whose ``column`` is ``value`` if given, oldest first."""
    sql = f"SELECT id, {columns} FROM {table} WHERE estate_id = ?"
    params: list[Any] = [estate_id]
    if value is not None:
        sql += f" AND {column} = ?"
        params.append(value)
    return uow.execute(f"{sql} ORDER BY id", params)


class StaffRepo(TableRepository[Staff]):
    """Staff, and the append-only audit of their role changes (``role_grants``)."""

    _GRANT_COLUMNS = "estate_id, staff_id, added, removed, actor, actor_roles, actor_staff_id, at"

    def add_grant(self, grant: RoleGrant) -> RoleGrant:
        new_id = self._uow.insert_id(
            f"INSERT INTO role_grants ({self._GRANT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                grant.estate_id,
                grant.staff_id,
                json.dumps(list(grant.added)),
                json.dumps(list(grant.removed)),
                grant.actor,
                json.dumps(list(grant.actor_roles)),
                grant.actor_staff_id,
                ts(grant.at),
            ),
        )
        return attrs.evolve(grant, id=new_id)

    def grants(self, estate_id: EstateId, staff_id: int | None = None) -> list[RoleGrant]:
        found: list[RoleGrant] = []
        rows = _audit_rows(
            self._uow, "role_grants", self._GRANT_COLUMNS, estate_id, "staff_id", staff_id
        )
        for r in rows:
            by = r["actor_staff_id"]
            found.append(
                RoleGrant(
                    id=r["id"],
                    estate_id=EstateId(r["estate_id"]),
                    staff_id=StaffId(r["staff_id"]),
                    added=json.loads(r["added"]),
                    removed=json.loads(r["removed"]),
                    actor=r["actor"],
                    actor_roles=json.loads(r["actor_roles"]),
                    actor_staff_id=None if by is None else StaffId(by),
                    at=parse_ts(r["at"]),
                )
            )
        return found


class OwnerRepo(TableRepository[Owner]):
    """Owners, and the append-only audit of their contacts shown (``contact_reveals``)."""

    _REVEAL_COLUMNS = (
        "estate_id, owner_id, ticket_id, purpose, actor, actor_roles, actor_staff_id, at"
    )

    def add_reveal(self, reveal: ContactReveal) -> ContactReveal:
        new_id = self._uow.insert_id(
            f"INSERT INTO contact_reveals ({self._REVEAL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                reveal.estate_id,
                reveal.owner_id,
                reveal.ticket_id,
                reveal.purpose.value,
                reveal.actor,
                json.dumps(list(reveal.actor_roles)),
                reveal.actor_staff_id,
                ts(reveal.at),
            ),
        )
        return attrs.evolve(reveal, id=new_id)

    def reveals(self, estate_id: EstateId, owner_id: int | None = None) -> list[ContactReveal]:
        found: list[ContactReveal] = []
        rows = _audit_rows(
            self._uow, "contact_reveals", self._REVEAL_COLUMNS, estate_id, "owner_id", owner_id
        )
        for r in rows:
            by = r["actor_staff_id"]
            found.append(
                ContactReveal(
                    id=r["id"],
                    estate_id=EstateId(r["estate_id"]),
                    owner_id=None if r["owner_id"] is None else OwnerId(r["owner_id"]),
                    ticket_id=r["ticket_id"],
                    purpose=r["purpose"],
                    actor=r["actor"],
                    actor_roles=json.loads(r["actor_roles"]),
                    actor_staff_id=None if by is None else StaffId(by),
                    at=parse_ts(r["at"]),
                )
            )
        return found


class OwnershipRepo:
    _cols = "estate_id, unit_id, owner_id, start_date, end_date"

    def __init__(self, uow: SqlSession) -> None:
        self._uow = uow

    @staticmethod
    def _row(r: sqlite3.Row) -> Ownership:
        return Ownership(
            estate_id=EstateId(r["estate_id"]),
            unit_id=UnitId(r["unit_id"]),
            owner_id=OwnerId(r["owner_id"]),
            start=_req_day(r["start_date"]),
            end=_parse_day(r["end_date"]),
        )

    def add(self, record: Ownership) -> Ownership:
        self._uow.execute(
            f"INSERT INTO ownerships ({self._cols}) VALUES (?, ?, ?, ?, ?)",
            (
                record.estate_id,
                record.unit_id,
                record.owner_id,
                _day(record.start),
                _day(record.end),
            ),
        )
        return record

    def end_current(self, unit_id: UnitId, end: date) -> None:
        self._uow.execute(
            "UPDATE ownerships SET end_date = ? WHERE unit_id = ? AND end_date IS NULL",
            (_day(end), unit_id),
        )

    def history(self, unit_id: UnitId) -> list[Ownership]:
        rows = self._uow.execute(
            f"SELECT {self._cols} FROM ownerships WHERE unit_id = ? ORDER BY start_date, id",
            (unit_id,),
        )
        return [self._row(r) for r in rows]

    def held_on(self, estate_id: EstateId, day: date) -> dict[UnitId, Ownership]:
        rows = self._uow.execute(
            f"SELECT {self._cols} FROM ownerships WHERE estate_id = ? AND start_date <= ? "
            "AND (end_date IS NULL OR end_date > ?)",
            (estate_id, _day(day), _day(day)),
        )
        return {UnitId(r["unit_id"]): self._row(r) for r in rows}

    def on(self, unit_id: UnitId, day: date) -> Ownership | None:
        row = self._uow.execute(
            f"SELECT {self._cols} FROM ownerships WHERE unit_id = ? AND start_date <= ? "
            "AND (end_date IS NULL OR end_date > ?) ORDER BY start_date DESC LIMIT 1",
            (unit_id, _day(day), _day(day)),
        ).fetchone()
        return None if row is None else self._row(row)


class OutboxRepo:
    def __init__(self, uow: SqlSession) -> None:
        self._uow = uow

    def add(self, message: NewMessage, targets: Sequence[str]) -> int:
        payload = encode_payload(message.payload)
        due = ts(message.created_at)
        # Insert first and look only on a clash: nearly every key is new, and this runs for
        # every event of every write (a SELECT first cost a statement each time).
        added = self._uow.execute(
            "INSERT INTO outbox (estate_id, kind, topic, payload, idem_key, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (idem_key) DO NOTHING RETURNING id",
            (message.estate_id, message.kind, message.topic, payload, message.key, due),
        ).fetchall()
        if not added:
            existing = self._uow.execute(
                "SELECT id, estate_id, topic, payload FROM outbox WHERE idem_key = ?",
                (message.key,),
            ).fetchone()
            same = (existing["estate_id"], existing["topic"], existing["payload"]) == (
                message.estate_id,
                message.topic,
                payload,
            )
            if not same:
                raise Conflict("key", message.key, "already used for a different message")
            return int(existing["id"])
        message_id = int(added[0][0])
        if targets:
            self._uow.executemany(
                "INSERT INTO deliveries (message_id, target, status, next_attempt_at) "
                "VALUES (?, ?, 'pending', ?)",
                [(message_id, t, due) for t in dict.fromkeys(targets)],
            )
        return message_id

    def claim_due(
        self, now: datetime, lease_until: datetime, limit: int, message_ids: Sequence[int] = ()
    ) -> list[ClaimedDelivery]:
        t_now = ts(now)
        params: list[Any] = [t_now, t_now]
        only = ""
        if message_ids:
            only = f" AND d.message_id IN ({', '.join('?' for _ in message_ids)})"
            params.extend(message_ids)
        params.append(limit)
        rows = self._uow.execute(
            "SELECT d.id AS did, d.target, d.attempts, o.id, o.estate_id, o.kind, o.topic, "
            "o.payload, o.idem_key, o.created_at FROM deliveries d JOIN outbox o "
            "ON o.id = d.message_id WHERE ((d.status = 'pending' AND d.next_attempt_at <= ?) "
            f"OR (d.status = 'sending' AND d.lease_until < ?)){only} ORDER BY d.id LIMIT ?",
            params,
        ).fetchall()
        claimed: list[ClaimedDelivery] = []
        for r in rows:
            self._uow.execute(
                "UPDATE deliveries SET status = 'sending', lease_until = ?, "
                "attempts = attempts + 1 WHERE id = ?",
                (ts(lease_until), r["did"]),
            )
            claimed.append(
                ClaimedDelivery(
                    delivery_id=r["did"],
                    target=r["target"],
                    attempts=r["attempts"] + 1,
                    message=_message(r),
                )
            )
        return claimed

    def mark_delivered(self, delivery_id: int, at: datetime) -> None:
        self._uow.execute(
            "UPDATE deliveries SET status = 'delivered', delivered_at = ?, lease_until = NULL "
            "WHERE id = ?",
            (ts(at), delivery_id),
        )

    def mark_retry(self, delivery_id: int, next_attempt_at: datetime, error: str) -> None:
        self._uow.execute(
            "UPDATE deliveries SET status = 'pending', next_attempt_at = ?, last_error = ?, "
            "lease_until = NULL WHERE id = ?",
            (ts(next_attempt_at), error, delivery_id),
        )

    def hold(self, delivery_id: int, until: datetime) -> None:
        self._uow.execute(
            "UPDATE deliveries SET status = 'pending', next_attempt_at = ?, lease_until = NULL, "
            "attempts = attempts - 1 WHERE id = ?",
            (ts(until), delivery_id),
        )

    def mark_failed(self, delivery_id: int, at: datetime, error: str) -> None:
        self._uow.execute(
            "UPDATE deliveries SET status = 'failed', last_error = ?, lease_until = NULL, "
            "next_attempt_at = ? WHERE id = ?",
            (error, ts(at), delivery_id),
        )

    def deliveries(self, message_id: int | None = None) -> list[Delivery]:
        where, params = ("WHERE message_id = ?", (message_id,)) if message_id else ("", ())
        rows = self._uow.execute(
            "SELECT id, message_id, target, status, attempts, last_error, delivered_at "
            f"FROM deliveries {where} ORDER BY id",
            params,
        )
        return [
            Delivery(
                delivery_id=r["id"],
                message_id=r["message_id"],
                target=r["target"],
                status=r["status"],
                attempts=r["attempts"],
                last_error=r["last_error"],
                delivered_at=None if r["delivered_at"] is None else parse_ts(r["delivered_at"]),
            )
            for r in rows
        ]

    def failed(self, estate_id: int, limit: int | None = None) -> list[FailedDeliveryRow]:
        params: list[Any] = [estate_id]
        if limit is not None:
            params.append(limit)
        rows = self._uow.execute(
            "SELECT d.id AS did, d.target, d.attempts, d.last_error, d.next_attempt_at, o.id, "
            "o.estate_id, o.kind, o.topic, o.payload, o.idem_key, o.created_at "
            "FROM deliveries d JOIN outbox o ON o.id = d.message_id "
            "WHERE d.status = 'failed' AND o.estate_id = ? ORDER BY d.id"
            + ("" if limit is None else " LIMIT ?"),
            params,
        ).fetchall()
        return [
            FailedDeliveryRow(
                delivery_id=r["did"],
                target=r["target"],
                attempts=r["attempts"],
                last_error=r["last_error"],
                # mark_failed leaves the moment it gave up in next_attempt_at.
                failed_at=parse_ts(r["next_attempt_at"]),
                message=_message(r),
            )
            for r in rows
        ]

    def requeue(
        self, estate_id: int, delivery_ids: Sequence[int] | None, due: datetime
    ) -> list[int]:
        update = (
            "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?, "
            "lease_until = NULL WHERE status = 'failed' "
            "AND message_id IN (SELECT id FROM outbox WHERE estate_id = ?)"
        )
        if delivery_ids is None:
            chunks: list[list[int]] = [[]]
        else:
            wanted = sorted(set(delivery_ids))
            chunks = [wanted[i : i + 500] for i in range(0, len(wanted), 500)]
        requeued: list[int] = []
        for chunk in chunks:
            only = f" AND id IN ({', '.join('?' for _ in chunk)})" if chunk else ""
            rows = self._uow.execute(
                f"{update}{only} RETURNING id", (ts(due), estate_id, *chunk)
            ).fetchall()
            requeued.extend(int(r[0]) for r in rows)
        return sorted(requeued)

    def messages(self, topic: str | None = None) -> list[StoredMessage]:
        where, params = ("WHERE topic = ?", (topic,)) if topic else ("", ())
        rows = self._uow.execute(
            "SELECT id, estate_id, kind, topic, payload, idem_key, created_at "
            f"FROM outbox {where} ORDER BY id",
            params,
        )
        return [_message(r) for r in rows]

    def notification_deliveries(
        self, estate_id: int, start: datetime, end: datetime
    ) -> list[tuple[int, str, str, str | None]]:
        rows = self._uow.tuples(
            "SELECT o.id, o.topic, o.payload, d.status FROM outbox o "
            "LEFT JOIN deliveries d ON d.message_id = o.id "
            "WHERE o.estate_id = ? AND o.kind = 'notification' AND o.created_at >= ? "
            "AND o.created_at < ? ORDER BY o.id, d.id",
            (estate_id, ts(start), ts(end)),
        )
        # The channel is in the payload (JSON text): decoded here, once per row.
        return [
            (int(r[0]), str(r[1]), str(decode_payload(r[2]).get("channel", "")), r[3]) for r in rows
        ]


def _message(r: sqlite3.Row) -> StoredMessage:
    return StoredMessage(
        id=r["id"],
        estate_id=None if r["estate_id"] is None else EstateId(r["estate_id"]),
        kind=r["kind"],
        topic=r["topic"],
        payload=decode_payload(r["payload"]),
        key=r["idem_key"],
        created_at=parse_ts(r["created_at"]),
    )


def _phone_json(phones: Iterable[Any]) -> str:
    return json.dumps([p.reveal() for p in phones])


def _opt_phone(p: Any) -> str | None:
    return None if p is None else str(p.reveal())


ESTATES = Table[Estate](
    "estates",
    ("name", "timezone"),
    lambda e: (e.name, e.timezone),
    lambda r: Estate(id=EstateId(r["id"]), name=r["name"], timezone=r["timezone"]),
)
BUILDINGS = Table[Building](
    "buildings",
    ("estate_id", "name"),
    lambda b: (b.estate_id, b.name),
    lambda r: Building(id=BuildingId(r["id"]), estate_id=EstateId(r["estate_id"]), name=r["name"]),
)
UNITS = Table[Unit](
    "units",
    ("estate_id", "building_id", "number", "floor_area", "use", "handover_date"),
    lambda u: (
        u.estate_id,
        u.building_id,
        u.number,
        str(u.floor_area),
        u.use.value,
        _day(u.handover_date),
    ),
    lambda r: Unit(
        id=UnitId(r["id"]),
        estate_id=EstateId(r["estate_id"]),
        building_id=BuildingId(r["building_id"]),
        number=r["number"],
        floor_area=Decimal(r["floor_area"]),
        use=r["use"],
        handover_date=_parse_day(r["handover_date"]),
    ),
)
OWNERS = Table[Owner](
    "owners",
    ("estate_id", "name", "phones", "id_card"),
    lambda o: (
        o.estate_id,
        o.name,
        _phone_json(o.phones),
        None if o.id_card is None else o.id_card.reveal(),
    ),
    lambda r: Owner(
        id=OwnerId(r["id"]),
        estate_id=EstateId(r["estate_id"]),
        name=r["name"],
        phones=tuple(json.loads(r["phones"])),
        id_card=r["id_card"],
    ),
)
TEAMS = Table[Team](
    "teams",
    ("estate_id", "name", "kind", "leader_staff_id"),
    lambda t: (t.estate_id, t.name, t.kind.value, t.leader_staff_id),
    lambda r: Team(
        id=TeamId(r["id"]),
        estate_id=EstateId(r["estate_id"]),
        name=r["name"],
        kind=r["kind"],
        leader_staff_id=None if r["leader_staff_id"] is None else StaffId(r["leader_staff_id"]),
    ),
)
STAFF = Table[Staff](
    "staff",
    ("estate_id", "name", "roles", "team_id", "active_from", "active_to", "phone"),
    lambda s: (
        s.estate_id,
        s.name,
        json.dumps(sorted(s.roles)),
        s.team_id,
        _day(s.active_from),
        _day(s.active_to),
        _opt_phone(s.phone),
    ),
    lambda r: Staff(
        id=StaffId(r["id"]),
        estate_id=EstateId(r["estate_id"]),
        name=r["name"],
        roles=frozenset(json.loads(r["roles"])),
        team_id=None if r["team_id"] is None else TeamId(r["team_id"]),
        active_from=_req_day(r["active_from"]),
        active_to=_parse_day(r["active_to"]),
        phone=r["phone"],
    ),
)
VENDORS = Table[Vendor](
    "vendors",
    ("estate_id", "name", "service", "contact_name", "phone"),
    lambda v: (v.estate_id, v.name, v.service, v.contact_name, _opt_phone(v.phone)),
    lambda r: Vendor(
        id=VendorId(r["id"]),
        estate_id=EstateId(r["estate_id"]),
        name=r["name"],
        service=r["service"],
        contact_name=r["contact_name"],
        phone=r["phone"],
    ),
)


# --- unit of work and storage -------------------------------------------------------


class SqlRepositories:
    """The repositories of a unit of work, made on first use (most touch two or three).

    A backend's unit of work inherits this and is itself the
    :class:`~propcare.storage.sql.SqlSession` the repositories run on: the PostgreSQL
    adapter reuses every repository this way."""

    @functools.cached_property
    def estates(self) -> EstateRepo:
        return EstateRepo(_session(self), ESTATES)

    @functools.cached_property
    def buildings(self) -> TableRepository[Building]:
        return TableRepository[Building](_session(self), BUILDINGS)

    @functools.cached_property
    def units(self) -> UnitRepo:
        return UnitRepo(_session(self), UNITS)

    @functools.cached_property
    def owners(self) -> OwnerRepo:
        return OwnerRepo(_session(self), OWNERS)

    @functools.cached_property
    def ownerships(self) -> OwnershipRepo:
        return OwnershipRepo(_session(self))

    @functools.cached_property
    def teams(self) -> TableRepository[Team]:
        return TableRepository[Team](_session(self), TEAMS)

    @functools.cached_property
    def staff(self) -> StaffRepo:
        return StaffRepo(_session(self), STAFF)

    @functools.cached_property
    def vendors(self) -> TableRepository[Vendor]:
        return TableRepository[Vendor](_session(self), VENDORS)

    @functools.cached_property
    def outbox(self) -> OutboxRepo:
        return OutboxRepo(_session(self))

    @functools.cached_property
    def tickets(self) -> TicketRepo:
        return TicketRepo(_session(self))

    @functools.cached_property
    def ledger(self) -> LedgerRepo:
        return LedgerRepo(_session(self))

    @functools.cached_property
    def billing(self) -> BillingRepo:
        return BillingRepo(_session(self))

    @functools.cached_property
    def payments(self) -> PaymentsRepo:
        return PaymentsRepo(_session(self))

    @functools.cached_property
    def deposits(self) -> DepositRepo:
        return DepositRepo(_session(self))

    @functools.cached_property
    def collection(self) -> CollectionRepo:
        return CollectionRepo(_session(self))

    @functools.cached_property
    def appraisal(self) -> AppraisalRepo:
        return AppraisalRepo(_session(self))

    @functools.cached_property
    def commission(self) -> CommissionRepo:
        return CommissionRepo(_session(self))

    @functools.cached_property
    def arrears(self) -> ArrearsRepo:
        return ArrearsRepo(_session(self))

    @functools.cached_property
    def maintenance_plans(self) -> PlanRepo:
        return PlanRepo(_session(self))

    @functools.cached_property
    def outages(self) -> OutageRepo:
        return OutageRepo(_session(self))

    @functools.cached_property
    def ticket_stats(self) -> TicketStatsRepo:
        return TicketStatsRepo(_session(self))


def _session(repos: SqlRepositories) -> SqlSession:
    return cast("SqlSession", repos)  # every subclass is one


class SqlUnitOfWork(SqlRepositories):
    """What every SQL unit of work shares, whatever the engine: one transaction begun
    (:meth:`_begin`) while the storage's lock is held, usable once inside its ``with``
    block, rolled back unless committed, and after-commit callbacks that run only after
    a commit and outside the lock."""

    def __init__(self, lock: threading.RLock, readonly: bool) -> None:
        self._lock = lock
        self._readonly = readonly
        self._active = False
        self._committed = False
        self._callbacks: list[Callable[[], None]] = []

    @property
    def committed(self) -> bool:
        return self._committed

    def _begin(self) -> None:
        """Open the transaction (a StorageError when it cannot be opened)."""
        raise NotImplementedError

    def rollback(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._lock.acquire()
        try:
            self._begin()
        except BaseException:
            self._lock.release()
            raise
        self._active = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._active:
                self.rollback()
        finally:
            self._lock.release()
        if self._committed:
            for callback in self._callbacks:
                try:
                    callback()
                except Exception:
                    log.exception("after-commit callback failed; the commit stands")

    def _require_active(self) -> None:
        if not self._active:
            state = "committed" if self._committed else "not started or rolled back"
            raise StorageError("unit_of_work", state, "use it inside its with block, once")

    def after_commit(self, callback: Callable[[], None]) -> None:
        if callback not in self._callbacks:
            self._callbacks.append(callback)


class SqliteUnitOfWork(SqlUnitOfWork):
    """One SQLite transaction; holds the storage lock from enter to exit."""

    def __init__(self, storage: SqliteStorage, readonly: bool) -> None:
        super().__init__(storage.lock, readonly)
        self._storage = storage

    @property
    def connection(self) -> sqlite3.Connection:
        """The raw connection, for backend-specific fast paths inside this transaction."""
        self._require_active()
        return self._storage.conn

    def _begin(self) -> None:
        if self._storage.readonly and not self._readonly:
            raise ReadOnlyDatabase(
                "database",
                self._storage.url,
                "is open read-only (this process may not write its file or its folder): "
                "reading works, writing needs write access to both",
            )
        try:
            self._storage.conn.execute("BEGIN" if self._readonly else "BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise storage_error(exc, self._storage.url, "cannot begin") from exc

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        self._require_active()
        try:
            return self._storage.conn.execute(sql, params)
        except sqlite3.IntegrityError as exc:
            raise Conflict("record", _first_words(sql), f"violates a constraint: {exc}") from exc
        except sqlite3.Error as exc:
            raise storage_error(exc, self._storage.url) from exc

    def tuples(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """All rows as plain tuples: for bulk reads, where a ``sqlite3.Row`` per row
        costs more than the query."""
        self._require_active()
        cursor = self._storage.conn.cursor()
        cursor.row_factory = None
        try:
            return cursor.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise storage_error(exc, self._storage.url) from exc

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> sqlite3.Cursor:
        self._require_active()
        try:
            return self._storage.conn.executemany(sql, rows)
        except sqlite3.IntegrityError as exc:
            raise Conflict("record", _first_words(sql), f"violates a constraint: {exc}") from exc
        except sqlite3.Error as exc:
            raise storage_error(exc, self._storage.url) from exc

    def insert_id(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(cast(int, self.execute(sql, params).lastrowid))

    def reserve_ids(self, table: str, count: int) -> int:
        # The write lock (BEGIN IMMEDIATE) is held, so MAX(id) cannot move under us.
        row = self.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}").fetchone()
        return int(row[0]) + 1

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        marks = ", ".join("?" for _ in columns)
        self.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def commit(self) -> None:
        self._require_active()
        try:
            self._storage.conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            raise storage_error(exc, self._storage.url, "commit failed") from exc
        self._active = False
        self._committed = True

    def rollback(self) -> None:
        if self._active:
            self._active = False
            if self._storage.conn.in_transaction:
                self._storage.conn.execute("ROLLBACK")


def _first_words(sql: str) -> str:
    return " ".join(sql.split()[:3])


class SqliteStorage:
    """An open SQLite database, migrated to the newest schema on open.

    ``adopt_foreign`` adds propcare's tables to a database that holds another program's
    (refused by default, with :class:`~propcare.errors.ForeignDatabase`). ``readonly`` is
    true when this process may not write the file or its folder: the database was opened
    for reading only (see the module's docstring)."""

    def __init__(
        self, url: str, *, migrate_to: int | None = None, adopt_foreign: bool = False
    ) -> None:
        self.url = url
        self.path = parse_sqlite_url(url)
        self.lock = threading.RLock()
        memory = self.path == ":memory:"
        self.readonly = not memory and os.path.exists(self.path) and not writable(self.path)
        try:
            self.conn = _connect_readonly(self.path) if self.readonly else _connection(self.path)
        except sqlite3.Error as exc:
            raise self._cannot_open(exc) from exc
        try:
            self._prepare(migrate_to, adopt_foreign)
        except sqlite3.Error as exc:
            self.conn.close()
            raise storage_error(exc, url, "cannot open") from exc
        except BaseException:
            self.conn.close()
            raise

    def _cannot_open(self, exc: sqlite3.Error) -> StorageError:
        folder = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(folder):
            return StorageError("database", self.url, f"cannot open: no folder {folder}")
        if not os.path.exists(self.path) and not os.access(folder, os.W_OK):
            return StorageError(
                "database",
                self.url,
                f"cannot open: no such file, and this process may not create one in {folder}",
            )
        if self.readonly:
            return ReadOnlyDatabase(
                "database",
                self.url,
                f"cannot be read: {exc}. It is read-only here, and a write-ahead log "
                "(-wal) beside it can be read only with write access to the folder: open it "
                "once with write access, or copy the file with its -wal and -shm elsewhere",
            )
        return storage_error(exc, self.url, "cannot open")

    def _prepare(self, migrate_to: int | None, adopt_foreign: bool) -> None:
        """Refuse another program's database, then upgrade (or, read-only, check) the
        schema. Nothing is written to a database that is refused."""
        state, tables = schema_state(self.conn)
        if state == "foreign" and not adopt_foreign:
            raise foreign_database(self.url, tables)
        if not self.readonly:
            _use_wal(self.conn, self.path)
            migrate(self.conn, migrate_to)
            return
        version, newest = current_version(self.conn), newest_version()
        if version > newest:
            raise _newer_than_known(version, newest)
        goal = newest if migrate_to is None else migrate_to
        if version < goal:
            what = "is empty" if state == "empty" else f"stands at schema version {version}"
            raise ReadOnlyDatabase(
                "database",
                self.url,
                f"{what} and is read-only here (this process may not write its file or its "
                f"folder); this propcare needs version {goal}: open it once with write access "
                "to upgrade it, or copy it somewhere writable",
            )

    def unit_of_work(self, *, readonly: bool = False) -> SqliteUnitOfWork:
        return SqliteUnitOfWork(self, readonly)

    def schema_version(self) -> int:
        with self.lock:
            return current_version(self.conn)

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    def __repr__(self) -> str:
        return f"SqliteStorage({self.url!r})"


def open_sqlite(url: str, *, adopt_foreign: bool = False) -> SqliteStorage:
    """The storage backend's ``open``: ``adopt_foreign`` as :class:`SqliteStorage` takes it."""
    return SqliteStorage(url, adopt_foreign=adopt_foreign)


@hookimpl
def propcare_storage_backends() -> list[StorageBackend]:
    return [
        StorageBackend(
            name="sqlite",
            open=open_sqlite,
            description="embedded SQLite file or :memory: (standard library)",
        )
    ]
