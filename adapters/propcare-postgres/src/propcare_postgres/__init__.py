"""propcare storage backend for PostgreSQL: ``Propcare.open("postgresql://...")``.

The same repositories and SQL as the built-in SQLite backend run here through
psycopg 3, on a schema of PostgreSQL types (bigint fen, timestamptz, date); bulk
writes use COPY. See the adapter's README for URLs, concurrency and migration.
"""

from __future__ import annotations

from propcare import hookimpl
from propcare.plugins.records import StorageBackend
from propcare_postgres.storage import PostgresStorage, PostgresUnitOfWork, open_postgres

__all__ = ["PostgresStorage", "PostgresUnitOfWork", "open_postgres"]


@hookimpl
def propcare_storage_backends() -> list[StorageBackend]:
    return [
        StorageBackend(
            name="postgresql",
            open=open_postgres,
            description="PostgreSQL 15+ server (psycopg 3): postgresql://user@host:port/db",
        ),
        # libpq and many hosting providers hand out postgres:// URLs; same backend.
        StorageBackend(
            name="postgres",
            open=open_postgres,
            description="the same PostgreSQL backend, for postgres:// URLs",
        ),
    ]
