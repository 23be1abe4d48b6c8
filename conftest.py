"""Hypothesis profiles for every test directory (tests/ and each adapter's tests/).

- ``ci`` (what ``make test`` and so CI run): derandomized, so a run on a clean clone tries
  the same examples every time and a failure reproduces; no example database; no deadlines
  (speed is measured in benchmarks/, never asserted in tests).
- ``dev`` (the default when pytest runs without ``HYPOTHESIS_PROFILE``): random examples,
  with the example database in .hypothesis/, so a failure found on a developer's machine is
  tried first the next time.
- ``deep`` (``make fuzz``): random and many more examples where a test does not fix its own
  number, to look for what the fixed examples miss. What it finds goes into the test as an
  ``@example`` (or a test of its own), so ``ci`` keeps it.
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
    "dev",
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "deep",
    max_examples=2000,
    deadline=None,
    print_blob=True,
    phases=tuple(Phase),
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture
def quiet_opening() -> Iterator[None]:
    """Silence the warning ``Propcare.open`` gives by the real date (from 1 November, and
    all year once a year has no holiday data), for tests of other output on stderr that
    must pass on any day. Tests of the warning itself use a fixed clock instead."""
    opening = logging.getLogger("propcare.app")
    opening.disabled = True
    yield
    opening.disabled = False
