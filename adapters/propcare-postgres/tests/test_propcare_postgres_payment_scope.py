"""Payment idempotency keys scoped to the estate and the merchant (issue 15), on a real
PostgreSQL 15: a database of the previous release upgrades with its payments kept whole.

The rows and the checks are tests/test_payments.py's, so both backends are held to the
same upgrade; the scoping rule itself is in the storage contract suite.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import propcare_postgres
import pytest
from propcare_postgres.storage import connect, migrate
from propcare_postgres.testing import TemporaryServer, require_postgres
from psycopg import sql

from propcare.clock import FixedClock

require_postgres()


def _payments_tests() -> Any:
    """tests/test_payments.py of the propcare checkout this adapter lives in."""
    path = Path(__file__).resolve().parents[3] / "tests" / "test_payments.py"
    spec = importlib.util.spec_from_file_location("propcare_payments_tests", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_payments = _payments_tests()


@pytest.fixture(scope="module")
def server() -> Iterator[TemporaryServer]:
    with TemporaryServer() as running:
        yield running


def test_a_database_of_the_previous_release_upgrades_to_scoped_keys(
    server: TemporaryServer,
) -> None:
    url = server.create_database("payment_scope_upgrade")
    conn = connect(url)
    try:
        assert migrate(conn, target=_payments.LEGACY_SCHEMA) == _payments.LEGACY_SCHEMA
        with conn.transaction():
            conn.execute(_payments.LEGACY_PAYMENTS.encode())
            # The rows give their ids, as the copy command does; an identity does not move
            # past a given value, so each is set past the largest.
            for table in ("estates", "buildings", "units", "journal_entries", "payment_notices"):
                conn.execute(
                    sql.SQL(
                        "SELECT setval(pg_get_serial_sequence({name}, 'id'), MAX(id)) FROM {table}"
                    ).format(name=table, table=sql.Identifier(table))
                )
    finally:
        conn.close()
    clock = FixedClock(_payments.T0)
    with _payments.open_with_wechat(url, clock, plugins=[propcare_postgres]) as app:
        assert app.storage.schema_version() > _payments.LEGACY_SCHEMA
        _payments.check_upgraded_payments(app)
