"""What the SQL repositories need from a unit of work, whatever the engine.

The repositories in ``propcare.storage.sqlite_*`` write portable SQL with ``?``
placeholders; a backend's unit of work runs it. SQLite runs it as it is; the
PostgreSQL adapter rewrites the placeholders and brings its own bulk path (COPY).
The few operations where engines differ in more than spelling are methods here:
the id of a new row, a block of ids handed out before a bulk insert, and a bulk
insert itself. ``propcare.storage.sqlite.SqlRepositories`` hangs the repositories
off any unit of work that is a :class:`SqlSession`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

__all__ = ["SqlCursor", "SqlSession"]


class SqlCursor(Protocol):
    """The part of a DB-API cursor the repositories use. Rows index by position and,
    for ``execute``, by column name too."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class SqlSession(Protocol):
    """One open transaction, as the repositories see it."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> SqlCursor: ...

    def tuples(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> object: ...

    def insert_id(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one ``INSERT`` into a table with an ``id`` key; the new row's id."""
        ...

    def reserve_ids(self, table: str, count: int) -> int:
        """The first of ``count`` consecutive ids of ``table`` no other row will get,
        for rows inserted with explicit ids in bulk."""
        ...

    def insert_rows(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Insert many rows at once: the engine's fastest path (COPY on PostgreSQL)."""
        ...
