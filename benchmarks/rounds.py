"""Alternating timed rounds, shared by the benchmarks.

A benchmark that always runs propcare first (or always second) measures the cache and the
disk as much as the code: the first side warms what the second reads. Each round here runs
the sides in turn, the first side changing every round, and the reported figure is the median
of the rounds' ratios, so one slow round (another process on the cores) does not move it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs

__all__ = ["Rounds", "alternate"]


@attrs.frozen
class Rounds:
    """Seconds per side and round (``times[side][round]``) and each round's ratio of the
    first side to the second."""

    names: tuple[str, ...]
    times: tuple[tuple[float, ...], ...]

    def median(self, side: int = 0) -> float:
        return statistics.median(self.times[side])

    def ratios(self, side: int = 0, against: int = 1) -> list[float]:
        return [a / b for a, b in zip(self.times[side], self.times[against], strict=True)]

    def ratio(self, side: int = 0, against: int = 1) -> float:
        """The median of the rounds' ratios of ``side`` to ``against``."""
        return statistics.median(self.ratios(side, against))

    def spread(self, side: int = 0, against: int = 1) -> str:
        """``0.71-0.78``: the lowest and highest round ratio, for the printed line."""
        r = self.ratios(side, against)
        return f"{min(r):.2f}-{max(r):.2f}"


def alternate(
    sides: Sequence[tuple[str, Callable[[], Any]]],
    rounds: int = 5,
    *,
    setup: Callable[[int, int], None] | None = None,
    teardown: Callable[[int, int], None] | None = None,
) -> Rounds:
    """Time each side once per round, rotating which side goes first.

    ``setup(round, side)``, if given, runs untimed before each side (a fresh copy of a
    database file, say), and ``teardown(round, side)`` untimed after it (closing that
    copy, reading a memory high-water mark). At least 3 rounds: a median of fewer says
    little."""
    if rounds < 3:
        raise ValueError(f"rounds={rounds}: at least 3 rounds")
    times: list[list[float]] = [[] for _ in sides]
    for r in range(rounds):
        order = [(r + k) % len(sides) for k in range(len(sides))]
        for i in order:
            if setup is not None:
                setup(r, i)
            start = time.perf_counter()
            sides[i][1]()
            times[i].append(time.perf_counter() - start)
            if teardown is not None:
                teardown(r, i)
    return Rounds(tuple(n for n, _ in sides), tuple(tuple(t) for t in times))
