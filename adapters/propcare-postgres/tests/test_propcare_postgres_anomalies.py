"""One payment anomaly per distinct notice (issue 16, migration 0022_anomaly_once), on a
real PostgreSQL 15: a mismatched notice re-sent three times is one row, and the rows a
previous release wrote (three for one notice) survive the upgrade.

The checks are tests/test_payments.py's, so both backends are held to the same rule.
"""

from __future__ import annotations

import importlib.util
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import propcare_postgres
import pytest
from propcare_postgres.storage import connect, migrate
from propcare_postgres.testing import TemporaryServer, require_postgres
from psycopg import sql

from propcare import Propcare
from propcare.clock import FixedClock

require_postgres()

_names = itertools.count()


def _payments_tests() -> Any:
    """tests/test_payments.py of the propcare checkout this adapter lives in."""
    path = Path(__file__).resolve().parents[3] / "tests" / "test_payments.py"
    spec = importlib.util.spec_from_file_location("propcare_payments_anomaly_tests", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_payments = _payments_tests()


@pytest.fixture(scope="module")
def server() -> Iterator[TemporaryServer]:
    with TemporaryServer() as running:
        yield running


@pytest.fixture
def app(server: TemporaryServer) -> Iterator[Propcare]:
    """A fresh database with the stand-in wechatpay gateway of tests/test_payments.py."""
    url = server.create_database(f"anomalies_{next(_names)}")
    clock = FixedClock(_payments.T0)
    with _payments.open_with_wechat(url, clock, plugins=[propcare_postgres]) as opened:
        yield opened


def test_a_mismatched_notice_resent_three_times_is_one_anomaly(app: Propcare) -> None:
    _payments.check_a_mismatched_notice_resent_three_times_is_flagged_once(_payments.World(app))


def test_a_notice_for_another_amount_than_its_order_resent_is_one_anomaly(app: Propcare) -> None:
    _payments.check_a_notice_for_another_amount_than_its_order_resent_is_flagged_once(app)


def test_the_same_transaction_of_two_merchants_is_two_anomalies(app: Propcare) -> None:
    _payments.check_the_same_transaction_of_two_merchants_is_two_anomalies(app)


def test_anomalies_flagged_before_the_upgrade_are_all_kept(server: TemporaryServer) -> None:
    url = server.create_database("anomalies_upgrade")
    conn = connect(url)
    try:
        schema = _payments.LEGACY_ANOMALY_SCHEMA
        assert migrate(conn, target=schema) == schema
        with conn.transaction():
            conn.execute(_payments.LEGACY_ANOMALIES.encode())
            # The estate's id is given, as the copy command gives it; the identity is set
            # past it.
            conn.execute(
                sql.SQL(
                    "SELECT setval(pg_get_serial_sequence('estates', 'id'), MAX(id)) FROM {}"
                ).format(sql.Identifier("estates"))
            )
    finally:
        conn.close()
    clock = FixedClock(_payments.T0)
    with Propcare.open(
        url, plugins=[propcare_postgres], load_entrypoints=False, clock=clock
    ) as app:
        assert app.storage.schema_version() > _payments.LEGACY_ANOMALY_SCHEMA
        _payments.check_anomalies_flagged_before_the_upgrade_are_all_kept(app)
