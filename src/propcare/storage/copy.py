"""Copy a propcare SQLite database into another, empty one (PostgreSQL), and prove it.

``copy_database("sqlite:///estate.db", "postgresql://...")`` is what ``propcare migrate-db``
runs. Both databases are opened with :meth:`Propcare.open`, so both stand at the newest
schema before a row moves. Then, in ONE transaction of the target:

1. the target must be empty: any row in any propcare table refuses the copy (``Conflict``);
2. every table is copied, parents before children: the order comes from the source's
   foreign keys (``PRAGMA foreign_key_list``), so a table added by a later migration needs no
   change here. Rows go in key order, in batches, through the target's bulk path
   (``insert_rows``: COPY on PostgreSQL). SQLite's timestamp and date text is what
   PostgreSQL's ``timestamptz`` and ``date`` accept, so values move as they are;
3. the target's id sequences are moved past the copied ids (PostgreSQL only: SQLite takes
   the next id from ``MAX(id)`` by itself);
4. the copy is checked against the source: the row count of every table, each estate's trial
   balance, every account's balance per unit and the receipt counters.

A failed check raises :class:`~propcare.errors.CopyMismatch` and the transaction rolls back:
the target is left as empty as it was. The source is only read (one read transaction, so the
copy is of one instant even while the app keeps running).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import attrs

from propcare.app import Propcare, backend_name, shown_url
from propcare.errors import Conflict, CopyMismatch, NotFound, StorageError, ValidationError
from propcare.storage.ports import UnitOfWork
from propcare.storage.sql import SqlSession
from propcare.storage.sqlite import parse_sqlite_url

__all__ = [
    "DEFAULT_BATCH",
    "CopyCheck",
    "CopyProgress",
    "CopyReport",
    "TableCopy",
    "copy_database",
    "copy_order",
]

DEFAULT_BATCH = 5000
# Bookkeeping of the schema itself: each database keeps its own.
SKIPPED_TABLES = frozenset({"schema_version"})

CopyProgress = Callable[[int, int, str | None], None]
"""``progress(rows_done, rows_total, what)``: called as batches land; ``what`` is the table
being copied or the step being run, None once done."""


@attrs.frozen
class TableCopy:
    """One table: the rows the source holds and the rows the copy holds (equal, once
    :func:`copy_database` returns)."""

    table: str
    source_rows: int
    target_rows: int


@attrs.frozen
class CopyCheck:
    """One comparison that passed: what was compared and how many values."""

    name: str
    compared: int
    detail: str


@attrs.frozen
class CopyReport:
    """What :func:`copy_database` copied and checked. URLs are shown without passwords."""

    source: str
    target: str
    tables: tuple[TableCopy, ...]
    checks: tuple[CopyCheck, ...]
    sequences_reset: tuple[str, ...]
    seconds: float

    @property
    def rows(self) -> int:
        return sum(t.target_rows for t in self.tables)


@attrs.frozen
class _Table:
    name: str
    columns: tuple[str, ...]
    # The columns rows are read in order of (the primary key; rowid for a table without one).
    key: tuple[str, ...]
    parents: frozenset[str]


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _session(uow: UnitOfWork, field: str, url: str) -> SqlSession:
    needed = ("tuples", "execute", "insert_rows")
    if not all(callable(getattr(uow, name, None)) for name in needed):
        raise StorageError(
            field, shown_url(url), "its storage backend does not run SQL (no insert_rows/tuples)"
        )
    return cast(SqlSession, uow)


# --- the schema, from the SQLite source ---------------------------------------------------


def _read_tables(source: SqlSession) -> list[_Table]:
    names = [
        str(r[0])
        for r in source.tuples(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
    ]
    tables: list[_Table] = []
    for name in names:
        if name in SKIPPED_TABLES:
            continue
        info = source.tuples(f"PRAGMA table_info({_quoted(name)})")
        # table_info: (cid, name, type, notnull, default, pk position or 0)
        columns = tuple(str(r[1]) for r in info)
        key = tuple(str(r[1]) for r in sorted((r for r in info if r[5]), key=lambda r: r[5]))
        # foreign_key_list: (id, seq, parent table, from, to, on_update, on_delete, match)
        parents = frozenset(
            str(r[2]) for r in source.tuples(f"PRAGMA foreign_key_list({_quoted(name)})")
        )
        tables.append(_Table(name, columns, key or ("rowid",), parents))
    return tables


def copy_order(tables: Mapping[str, Iterable[str]]) -> list[str]:
    """Tables (name -> the tables its foreign keys reference) with every parent before its
    children, alphabetical among equals. A table referring to itself is fine when its rows
    refer to earlier keys, as a reversal refers to the entry it reverses; a cycle between
    tables cannot be copied one table at a time and raises StorageError."""
    waiting = {name: set(parents) - {name} for name, parents in tables.items()}
    unknown = sorted({p for ps in waiting.values() for p in ps} - set(waiting))
    if unknown:
        raise StorageError("foreign key", unknown, "refers to tables the source does not have")
    order: list[str] = []
    while waiting:
        ready = sorted(name for name, parents in waiting.items() if not parents)
        if not ready:
            raise StorageError(
                "foreign key",
                sorted(waiting),
                "these tables refer to each other in a cycle: no copy order satisfies them",
            )
        for name in ready:
            del waiting[name]
            order.append(name)
        for parents in waiting.values():
            parents.difference_update(ready)
    return order


# --- the copy -------------------------------------------------------------------------------


def _count(session: SqlSession, table: str) -> int:
    return int(session.tuples(f"SELECT COUNT(*) FROM {_quoted(table)}")[0][0])


def _refuse_nonempty(target: SqlSession, tables: Sequence[_Table], url: str) -> None:
    for table in tables:
        if target.tuples(f"SELECT 1 FROM {_quoted(table.name)} LIMIT 1"):
            raise Conflict(
                "target",
                shown_url(url),
                f"already holds propcare data (table {table.name} has rows): the copy goes "
                "into an empty database only; drop that database and create it again",
            )


def _copy_table(
    source: SqlSession,
    target: SqlSession,
    table: _Table,
    batch: int,
    moved: Callable[[int], None],
) -> None:
    """Rows in key order, ``batch`` at a time; each batch starts after the last key of the
    one before (keyset paging: every batch costs the same, where OFFSET would rescan)."""
    # A table without a primary key is paged by its rowid, read but not copied.
    by_rowid = table.key == ("rowid",)
    selected = [*(["rowid"] if by_rowid else []), *map(_quoted, table.columns)]
    key = [k if k == "rowid" else _quoted(k) for k in table.key]
    at = [selected.index(k) for k in key]
    head = f"SELECT {', '.join(selected)} FROM {_quoted(table.name)}"
    order = f"ORDER BY {', '.join(key)} LIMIT ?"
    after = f"{head} WHERE ({', '.join(key)}) > ({', '.join('?' for _ in key)}) {order}"
    rows = source.tuples(f"{head} {order}", (batch,))
    while rows:
        target.insert_rows(table.name, table.columns, [r[1:] for r in rows] if by_rowid else rows)
        moved(len(rows))
        if len(rows) < batch:
            break
        last = rows[-1]
        rows = source.tuples(after, (*(last[i] for i in at), batch))


def _reset_sequences(target: SqlSession, tables: Sequence[_Table]) -> list[str]:
    """Move each identity sequence to MAX(id), so the next row gets MAX(id) + 1. An empty
    table or one without a sequence gives NULL (setval is strict) and is left alone."""
    reset: list[str] = []
    for table in tables:
        if "id" not in table.columns:
            continue
        found = target.tuples(
            f"SELECT setval(pg_get_serial_sequence(?, 'id'), MAX(id)) FROM {_quoted(table.name)}",
            (table.name,),
        )
        if found and found[0][0] is not None:
            reset.append(table.name)
    return reset


# --- the checks ------------------------------------------------------------------------------

_UNIT_BALANCES = (
    "SELECT estate_id, account, unit_id, SUM(amount_fen) FROM postings "
    "WHERE unit_id IS NOT NULL GROUP BY estate_id, account, unit_id"
)
_COUNTERS = "SELECT estate_id, year, last_number FROM receipt_counters ORDER BY estate_id, year"


def _differs(what: str, source: Mapping[Any, int], target: Mapping[Any, int]) -> None:
    for key in sorted(set(source) | set(target), key=repr):
        was, now = source.get(key), target.get(key)
        if was != now:
            raise CopyMismatch(
                what,
                key,
                f"is {was} in the source and {now} in the copy; the copy was rolled back",
            )


def _check(
    source_uow: UnitOfWork,
    target_uow: UnitOfWork,
    source: SqlSession,
    target: SqlSession,
    counts: Sequence[TableCopy],
) -> list[CopyCheck]:
    for table in counts:
        if table.source_rows != table.target_rows:
            raise CopyMismatch(
                "table",
                table.table,
                f"has {table.source_rows} rows in the source and {table.target_rows} in the "
                "copy; the copy was rolled back",
            )
    checks = [CopyCheck("row counts", len(counts), f"{len(counts)} tables")]

    estates = [int(r[0]) for r in source.tuples("SELECT id FROM estates ORDER BY id")]
    accounts = 0
    for estate_id in estates:
        was = source_uow.ledger.trial_balance(estate_id)
        now = target_uow.ledger.trial_balance(estate_id)
        _differs(f"trial balance of estate {estate_id}", was, now)
        accounts += len(was)
    checks.append(
        CopyCheck("trial balances", accounts, f"{accounts} accounts in {len(estates)} estates")
    )

    def balances(session: SqlSession) -> dict[tuple[int, str, int], int]:
        return {(int(e), str(a), int(u)): int(f) for e, a, u, f in session.tuples(_UNIT_BALANCES)}

    was_units, now_units = balances(source), balances(target)
    _differs("unit balance (estate, account, unit)", was_units, now_units)
    units = len({key[2] for key in was_units})
    checks.append(
        CopyCheck("unit balances", len(was_units), f"{len(was_units)} accounts of {units} units")
    )

    def counters(session: SqlSession) -> dict[tuple[int, int], int]:
        return {(int(e), int(y)): int(n) for e, y, n in session.tuples(_COUNTERS)}

    was_counters = counters(source)
    _differs("receipt counter (estate, year)", was_counters, counters(target))
    checks.append(
        CopyCheck("receipt counters", len(was_counters), f"{len(was_counters)} estate-years")
    )
    return checks


# --- the whole thing -------------------------------------------------------------------------


def _check_source(url: str) -> None:
    if backend_name(url) != "sqlite":
        raise ValidationError(
            "source", shown_url(url), "must be an SQLite database: sqlite:///path/to/file.db"
        )
    path = parse_sqlite_url(url)
    # Opening a missing file would create (and migrate) an empty one: refuse instead.
    if path != ":memory:" and not Path(path).is_file():
        raise NotFound("source", path, "no such SQLite file")


def copy_database(
    source_url: str,
    target_url: str,
    *,
    batch: int = DEFAULT_BATCH,
    plugins: Sequence[object] = (),
    load_entrypoints: bool = True,
    progress: CopyProgress | None = None,
    config: Any = None,
) -> CopyReport:
    """Copy the SQLite database at ``source_url`` into the empty database at ``target_url``
    (all or nothing), check that they match, and say what was copied and checked.

    ``plugins``, ``load_entrypoints`` and ``config`` go to :meth:`Propcare.open` for both
    databases (the target's backend comes from a plugin, such as ``propcare_postgres``). Raises
    ``ValidationError`` for a source that is not SQLite or a bad ``batch``, ``NotFound`` for a
    missing source file, ``Conflict`` when the target already holds propcare data, and
    :class:`~propcare.errors.CopyMismatch` when a check fails; in each case the target is left
    as it was.
    """
    if isinstance(batch, bool) or not isinstance(batch, int) or batch <= 0:
        raise ValidationError("batch", batch, "must be a positive integer (rows per insert)")
    _check_source(source_url)
    started = time.perf_counter()
    step = progress or (lambda _done, _total, _what: None)
    with (
        Propcare.open(
            source_url, plugins=plugins, load_entrypoints=load_entrypoints, config=config
        ) as source_app,
        Propcare.open(
            target_url, plugins=plugins, load_entrypoints=load_entrypoints, config=config
        ) as target_app,
        source_app.unit_of_work(readonly=True) as source_uow,
        target_app.unit_of_work() as target_uow,
    ):
        source = _session(source_uow, "source", source_url)
        target = _session(target_uow, "target", target_url)
        found = {t.name: t for t in _read_tables(source)}
        tables = [found[n] for n in copy_order({n: t.parents for n, t in found.items()})]
        _refuse_nonempty(target, tables, target_url)
        totals = {t.name: _count(source, t.name) for t in tables}
        total = sum(totals.values())
        done = 0
        for table in tables:
            step(done, total, table.name)

            def moved(rows: int, name: str = table.name) -> None:
                nonlocal done
                done += rows
                step(done, total, name)

            _copy_table(source, target, table, batch, moved)
        step(done, total, "sequences")
        reset = _reset_sequences(target, tables) if _is_postgres(target_url) else []
        step(done, total, "checks")
        counts = [TableCopy(t.name, totals[t.name], _count(target, t.name)) for t in tables]
        checks = _check(source_uow, target_uow, source, target, counts)
        target_uow.commit()
    step(total, total, None)
    return CopyReport(
        source=shown_url(source_url),
        target=shown_url(target_url),
        tables=tuple(counts),
        checks=tuple(checks),
        sequences_reset=tuple(reset),
        seconds=time.perf_counter() - started,
    )


def _is_postgres(url: str) -> bool:
    return backend_name(url) in ("postgresql", "postgres")
