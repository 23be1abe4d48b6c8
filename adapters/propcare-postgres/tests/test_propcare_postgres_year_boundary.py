"""Crossing 2026-12-31 -> 2027 without, then with, holiday data for 2027, on PostgreSQL.

The scenarios are the core's (tests/test_year_boundary.py), run here against a real
server: the deadline flags (migration 0015) are stored and read back by this dialect,
and recompute's and the statistics' SQL run on it.
"""

from __future__ import annotations

import importlib.util
import itertools
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

import propcare_postgres
import pytest
from propcare_postgres.testing import TemporaryServer, require_postgres

from propcare import FixedClock, Propcare

require_postgres()


def _scenarios() -> ModuleType:
    """tests/test_year_boundary.py of the propcare checkout this adapter lives in."""
    path = Path(__file__).resolve().parents[3] / "tests" / "test_year_boundary.py"
    spec = importlib.util.spec_from_file_location("propcare_year_boundary", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


scenarios = _scenarios()
_names = itertools.count()


@pytest.fixture(scope="module")
def server() -> Iterator[TemporaryServer]:
    with TemporaryServer() as running:
        yield running


@pytest.fixture
def open_app(server: TemporaryServer) -> Iterator[Any]:
    url = server.create_database(f"year_boundary_{next(_names)}")
    clock = FixedClock(datetime(2026, 12, 31, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai")))
    opened: list[Propcare] = []

    def open_(config: Mapping[str, Any]) -> Propcare:
        app = Propcare.open(
            url,
            plugins=[propcare_postgres],
            load_entrypoints=False,
            clock=clock,
            config=dict(config),
        )
        opened.append(app)
        return app

    yield open_
    for app in opened:
        app.close()


def test_no_deadline_vanishes_in_a_year_without_holiday_data(open_app: Any) -> None:
    scenarios.scenario_deadlines_never_vanish(open_app)


@pytest.mark.parametrize("strict", [False, True], ids=["provisional", "strict"])
def test_a_passed_deadline_alerts_after_new_year(open_app: Any, strict: bool) -> None:
    scenarios.scenario_alerts_are_never_swallowed(open_app, strict)


@pytest.mark.parametrize("strict", [False, True], ids=["provisional", "strict"])
def test_recompute_brings_closed_tickets_up_to_date_once_the_year_is_added(
    open_app: Any, tmp_path: Path, strict: bool
) -> None:
    scenarios.scenario_recompute_covers_the_past(open_app, tmp_path, strict)
