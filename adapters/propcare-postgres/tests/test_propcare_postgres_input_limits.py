"""The input limits (issue 15, points 5 and 6) on a real PostgreSQL 15: what raised
``decimal.InvalidOperation`` here (``billing.charge``, ``deposits.collect``,
``commission.set_target`` with ``Decimal("1e30")``) is a ValidationError, and every public
service method refuses each hostile value of tests/test_fuzz_api.py's catalogue before
the database is asked anything: no row of any table changes, no NUL reaches a text
column (PostgreSQL would refuse it with its own error), no id or amount overflows bigint.

The world, the calls and the catalogue are tests/test_isolation.py's and
tests/test_fuzz_api.py's, so both backends are held to the same limits.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import propcare_postgres
import pytest
from propcare_postgres.testing import TemporaryServer, require_postgres

from propcare import Actor, FixedClock, Propcare
from propcare.errors import ValidationError

require_postgres()

TESTS = Path(__file__).resolve().parents[3] / "tests"


def _module(name: str) -> ModuleType:
    """tests/<name>.py of the propcare checkout this adapter lives in, imported once under
    its own name (tests/test_fuzz_api.py imports tests/test_isolation.py by name)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, TESTS / f"{name}.py")
    assert spec is not None and spec.loader is not None, name
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_isolation = _module("test_isolation")
_fuzz = _module("test_fuzz_api")


@pytest.fixture(scope="module")
def server() -> Iterator[TemporaryServer]:
    with TemporaryServer() as running:
        yield running


@pytest.fixture(scope="module")
def world(server: TemporaryServer) -> Iterator[tuple[Propcare, dict[str, Any]]]:
    """One world for the module: every call here must leave it as it was."""
    url = server.create_database("input_limits")
    with Propcare.open(
        url,
        plugins=[propcare_postgres],
        load_entrypoints=False,
        clock=FixedClock(_isolation.T0),
        config={"dispatch": {"auto": False}},
    ) as app:
        records, _ = _isolation.build_world(app, Actor.system())
        yield app, records


ADMIN = Actor.system()
HUGE = Decimal("1e30")


@pytest.mark.parametrize(
    "call",
    [
        lambda a, r: a.billing.charge(ADMIN, r["unit"], "card", HUGE),
        lambda a, r: a.deposits.collect(ADMIN, r["unit"], HUGE),
        lambda a, r: a.commission.set_target(ADMIN, r["staff"], "2026-12", amount=HUGE),
        lambda a, r: a.payments.pay_at_counter(ADMIN, r["unit"], HUGE, "cash"),
        lambda a, r: a.payments.refund(ADMIN, r["payment"], HUGE, "多收"),
        lambda a, r: a.tickets.charge(ADMIN, r["ticket"], "换灯泡", HUGE),
    ],
    ids=["billing.charge", "deposits.collect", "commission.set_target", "pay_at_counter",
         "payments.refund", "tickets.charge"],
)  # fmt: skip
def test_decimal_1e30_is_a_validation_error_not_an_invalid_operation(
    world: tuple[Propcare, dict[str, Any]],
    call: Callable[[Propcare, dict[str, Any]], object],
) -> None:
    app, records = world
    before = _fuzz.row_counts(app)
    with pytest.raises(ValidationError, match="at most 10,000,000,000 yuan"):
        call(app, records)
    assert _fuzz.row_counts(app) == before


def test_text_with_nul_is_refused_before_postgresql_sees_it(
    world: tuple[Propcare, dict[str, Any]],
) -> None:
    app, records = world
    before = _fuzz.row_counts(app)
    with pytest.raises(ValidationError, match="NUL"):
        app.owners.create(ADMIN, records["estate"], "张\x00三")
    assert _fuzz.row_counts(app) == before


@pytest.mark.parametrize("name", _fuzz.FUZZED)
def test_each_hostile_value_alone_is_refused_and_writes_nothing(
    world: tuple[Propcare, dict[str, Any]], name: str
) -> None:
    failures = _fuzz._sweep(*world, name)
    assert not failures, "\n".join(failures)
