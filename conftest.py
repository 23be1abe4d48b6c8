"""Hypothesis profiles for every test directory (tests/ and each adapter's tests/).

``ci`` (the default, what ``make test`` and CI run): derandomized, so a run on a clean
clone tries the same examples every time and a failure reproduces; no example database;
no deadlines (speed is measured in benchmarks/, never asserted in tests).
``explore`` (``make explore``): random examples, more of them where a test does not fix
its own number, to look for what the fixed examples miss. A failure it finds prints the
example to add with ``@example`` so the ``ci`` profile keeps it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, Phase, settings

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "explore",
    max_examples=500,
    deadline=None,
    print_blob=True,
    phases=tuple(Phase),
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def quiet_opening() -> Iterator[None]:
    """Silence the warning ``Propcare.open`` gives by the real date (from 1 November, and
    all year once a year has no holiday data), for tests of other output on stderr that
    must pass on any day. Tests of the warning itself use a fixed clock instead."""
    opening = logging.getLogger("propcare.app")
    opening.disabled = True
    yield
    opening.disabled = False
