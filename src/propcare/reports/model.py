"""What a report is made of, independent of how it is written out.

A report is a list of sections; each section is one table (a header row and rows of
plain values: str, int, Decimal, or None for "no data") and, optionally, the chart
drawn from it. The HTML, XLSX and CSV writers render any report the same way, so the
numbers in every format are the same numbers.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from decimal import Decimal

import attrs

__all__ = ["Chart", "ChartKind", "Column", "Report", "Section", "Value"]

Value = str | int | Decimal | None


class ChartKind(enum.StrEnum):
    BAR = "bar"  # one bar per row, a series per value column
    LINE = "line"  # rows in order along the x axis (a day, a month)
    PIE = "pie"  # the first value column as shares of the whole


@attrs.frozen
class Column:
    """A column: its header, and how its values read: ``text``, ``count``, ``money``
    (yuan, two decimals), ``rate`` (a share 0..1, shown as a percent) or ``score``."""

    title: str
    kind: str = "text"


@attrs.frozen
class Chart:
    """Draw ``values`` (column indexes) against ``label`` (a column index)."""

    kind: ChartKind
    label: int = 0
    values: tuple[int, ...] = (1,)
    title: str = ""


@attrs.frozen
class Section:
    key: str  # a file-safe name: "tickets_by_category", used for CSV files and sheet names
    title: str  # in the report's language
    columns: tuple[Column, ...]
    rows: tuple[tuple[Value, ...], ...]
    chart: Chart | None = None
    note: str = ""

    def __attrs_post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(f"section {self.key}: a row has {len(row)} values")


@attrs.frozen
class Report:
    title: str
    subtitle: str  # the estate and the period, in the report's language
    lang: str  # "zh-CN" or "en"
    sections: tuple[Section, ...]

    def section(self, key: str) -> Section:
        for s in self.sections:
            if s.key == key:
                return s
        raise KeyError(key)


def rows(values: Sequence[Sequence[Value]]) -> tuple[tuple[Value, ...], ...]:
    return tuple(tuple(r) for r in values)
