from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from propcare import Actor, FixedClock, Propcare

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def admin() -> Actor:
    return Actor.system()


@pytest.fixture
def app(clock: FixedClock) -> Iterator[Propcare]:
    with Propcare.open("sqlite://:memory:", load_entrypoints=False, clock=clock) as app:
        yield app
