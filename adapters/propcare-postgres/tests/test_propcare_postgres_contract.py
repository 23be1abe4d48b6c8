"""propcare's storage contract and the ledger state machine, on a real PostgreSQL 15."""

from __future__ import annotations

import atexit
import importlib.util
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import propcare_postgres
import psycopg
import pytest
from hypothesis import HealthCheck, settings
from propcare_postgres.testing import TemporaryServer, require_postgres

from propcare.testing.contract import StorageContract

require_postgres()

_names = itertools.count()


@pytest.fixture(scope="module")
def server() -> Iterator[TemporaryServer]:
    with TemporaryServer() as running:
        yield running


class TestPostgres(StorageContract):
    persistent = True

    @pytest.fixture
    def storage_url(self, server: TemporaryServer) -> str:
        return server.create_database(f"contract_{next(_names)}")

    @pytest.fixture
    def storage_plugins(self) -> list[object]:
        return [propcare_postgres]

    @pytest.fixture
    def short_lock_timeout(self, monkeypatch: pytest.MonkeyPatch) -> float:
        monkeypatch.setattr(propcare_postgres.storage, "LOCK_TIMEOUT_S", 0.2)
        return 0.2

    def add_foreign_table(self, storage_url: str) -> None:
        with psycopg.connect(storage_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE their_customers (id BIGSERIAL PRIMARY KEY, name TEXT)")
            conn.execute("INSERT INTO their_customers (name) VALUES ('theirs')")


# --- the ledger state machine -------------------------------------------------------------


def _ledger_machine_module() -> Any:
    """tests/test_ledger_machine.py of the propcare checkout this adapter lives in."""
    path = Path(__file__).resolve().parents[3] / "tests" / "test_ledger_machine.py"
    spec = importlib.util.spec_from_file_location("propcare_ledger_machine", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_machine = _ledger_machine_module()
_SERVER: list[TemporaryServer] = []


class PostgresLedgerMachine(_machine.LedgerMachine):  # type: ignore[misc]
    plugins = (propcare_postgres,)

    def database(self) -> str:
        if not _SERVER:  # one server for every example; stopped at exit
            server = TemporaryServer()
            server.__enter__()
            atexit.register(server.__exit__, None, None, None)
            _SERVER.append(server)
        return _SERVER[0].create_database(f"machine_{next(_names)}")


PostgresLedgerMachine.TestCase.settings = settings(
    max_examples=15,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestPostgresLedgerMachine = PostgresLedgerMachine.TestCase
