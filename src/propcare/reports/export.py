"""Writing a :class:`~propcare.reports.model.Report` as CSV files and as an XLSX workbook.

CSV (:func:`write_csv`): one file per section, ``<section key>.csv``, UTF-8 with a BOM
(so Excel opens Chinese text correctly), a header row of the column titles, then the
rows. Numbers are plain numbers that any program can read back: counts as integers,
money with two decimals and no thousands separator (``1234.50``), rates as fractions with
four decimals (``0.8125`` is 81.25%; a percent sign would make them text), scores with
two decimals; "no data" (None) is an empty cell. A text cell a spreadsheet could run as a
formula (it starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return and is not
one plain number) gets a leading ``'``: the rule of :mod:`propcare.tabular`, which writes
every CSV and XLSX file propcare makes.

XLSX (:func:`write_xlsx`, XlsxWriter): a first sheet "概览" / "Overview" with the
report's title and subtitle and a linked table of contents, then one sheet per section
(named by the section's title, at most 31 characters, unique; see :func:`sheet_names`):
the header row frozen, values stored as numbers with the format of their column kind
(money ``#,##0.00``, rates ``0.00%``, counts ``#,##0``, scores ``0.00``), text as text
cells (one a spreadsheet could run as a formula with Excel's quote prefix), columns sized
to their content, the section's note under the table, and the section's chart (a native
Excel column, line or pie chart) beside the table. A section without rows gets no chart.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import xlsxwriter

from propcare.reports.model import ChartKind, Column, Report, Section, Value
from propcare.tabular import Cell, XlsxCells, csv_cell, write_csv_file

__all__ = ["cell_text", "sheet_names", "write_csv", "write_xlsx"]

MONEY_FORMAT = "#,##0.00"
RATE_FORMAT = "0.00%"
COUNT_FORMAT = "#,##0"
SCORE_FORMAT = "0.00"
_NUMBER_FORMATS = {
    "money": MONEY_FORMAT,
    "rate": RATE_FORMAT,
    "count": COUNT_FORMAT,
    "score": SCORE_FORMAT,
}
_AXIS_FORMATS = {"money": "#,##0", "rate": "0%", "count": "#,##0", "score": "0"}
_CHART_TYPES = {ChartKind.BAR: "column", ChartKind.LINE: "line", ChartKind.PIE: "pie"}

_OVERVIEW = {
    "zh-CN": {"sheet": "概览", "section": "章节", "rows": "行数", "note": "说明"},
    "en": {"sheet": "Overview", "section": "Section", "rows": "Rows", "note": "Note"},
}

_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
_SHEET_MAX = 31
_PLACES = {"money": 2, "rate": 4, "score": 2}


# --- CSV -------------------------------------------------------------------------------


def _cell(value: Value, kind: str) -> Cell:
    """A value as the table cell its column kind makes it: text, or a number with the
    kind's decimal places (money and scores two, rates four)."""
    if value is None:
        return None
    if kind == "text" or isinstance(value, str | bool):  # a bool is no Value: never 1
        return str(value)
    places = _PLACES.get(kind)
    if places is not None:
        return Decimal(f"{Decimal(value):.{places}f}")
    return value


def cell_text(value: Value, kind: str) -> str:
    """A value as its CSV cell reads (see the module notes)."""
    return csv_cell(_cell(value, kind))


def write_csv(report: Report, directory: Path | str) -> list[Path]:
    """Write one CSV per section into ``directory`` (made if missing); returns the paths,
    in the report's order."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for section in report.sections:
        path = out / f"{section.key}.csv"
        write_csv_file(
            path,
            [c.title for c in section.columns],
            (
                [_cell(v, c.kind) for v, c in zip(row, section.columns, strict=True)]
                for row in section.rows
            ),
        )
        written.append(path)
    return written


# --- XLSX ------------------------------------------------------------------------------


def _overview_labels(lang: str) -> dict[str, str]:
    return _OVERVIEW.get(lang, _OVERVIEW["en"])


def _clean_sheet_name(title: str, fallback: str) -> str:
    name = re.sub(r"\s+", " ", _SHEET_FORBIDDEN.sub(" ", title)).strip().strip("'").strip()
    return (name or fallback)[:_SHEET_MAX]


def sheet_names(report: Report) -> list[str]:
    """The workbook's sheet names: the overview, then one per section, in order. A
    section's sheet is named by its title (cut to 31 characters; Excel's forbidden
    characters replaced); a name already taken gets ``~2``, ``~3``, ... ."""
    overview = _overview_labels(report.lang)["sheet"]
    names = [overview]
    taken = {overview.casefold()}
    for section in report.sections:
        base = _clean_sheet_name(section.title, section.key)
        name, n = base, 1
        while name.casefold() in taken:
            n += 1
            suffix = f"~{n}"
            name = base[: _SHEET_MAX - len(suffix)] + suffix
        taken.add(name.casefold())
        names.append(name)
    return names


def _display_width(text: str) -> int:
    """Columns a text takes on screen: CJK characters count twice."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _shown(value: Value, kind: str) -> str:
    """Roughly how Excel shows a value with its column's format (for column widths)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if kind == "rate":
        return f"{Decimal(value) * 100:.2f}%"
    if kind in ("money", "score"):
        return f"{Decimal(value):,.2f}"
    return f"{value:,}"


def _width(column: Column, values: Sequence[Value]) -> float:
    widest = max(
        [_display_width(column.title)] + [_display_width(_shown(v, column.kind)) for v in values]
    )
    return float(min(max(widest + 2, 8), 50))


class _Formats:
    def __init__(self, cells: XlsxCells) -> None:
        self.cells = cells
        self.title = cells.add_format({"bold": True, "font_size": 16})
        self.subtitle = cells.add_format({"font_size": 12, "font_color": "#595959"})
        self.header = cells.add_format(
            {
                "bold": True,
                "bg_color": "#DDEBF7",
                "border": 1,
                "align": "center",
                "valign": "vcenter",
                "text_wrap": True,
            }
        )
        self.note = cells.add_format({"italic": True, "font_color": "#595959"})
        self.link = cells.add_format({"font_color": "blue", "underline": 1})
        self.by_kind: dict[str, Any] = {
            kind: cells.add_format({"num_format": fmt, "border": 1})
            for kind, fmt in _NUMBER_FORMATS.items()
        }
        self.text = cells.add_format({"border": 1})

    def cell(self, kind: str) -> Any:
        return self.by_kind.get(kind, self.text)


def _add_chart(workbook: Any, ws: Any, sheet: str, section: Section) -> None:
    spec = section.chart
    if spec is None or not section.rows:
        return
    last = len(section.rows)
    chart = workbook.add_chart({"type": _CHART_TYPES[spec.kind]})
    values = spec.values[:1] if spec.kind is ChartKind.PIE else spec.values
    for idx in values:
        series: dict[str, Any] = {
            "name": [sheet, 0, idx],
            "categories": [sheet, 1, spec.label, last, spec.label],
            "values": [sheet, 1, idx, last, idx],
        }
        if spec.kind is ChartKind.PIE:
            series["data_labels"] = {"percentage": True, "leader_lines": True}
        elif spec.kind is ChartKind.LINE:
            series["marker"] = {"type": "circle", "size": 4}
        chart.add_series(series)
    chart.set_title({"name": spec.title or section.title, "name_font": {"size": 12}})
    if spec.kind is ChartKind.PIE:
        chart.set_legend({"position": "right"})
    else:
        kind = section.columns[values[0]].kind
        chart.set_y_axis(
            {"num_format": _AXIS_FORMATS.get(kind, "General"), "min": 0, "major_gridlines": {
                "visible": True, "line": {"color": "#D9D9D9"}}}
        )  # fmt: skip
        if spec.kind is ChartKind.LINE or last > 12:
            chart.set_x_axis({"num_font": {"rotation": -45}})
        if len(values) > 1:
            chart.set_legend({"position": "bottom"})
        else:
            chart.set_legend({"none": True})
    width = 720 if spec.kind is ChartKind.LINE or last > 12 else 520
    chart.set_size({"width": width, "height": 320})
    ws.insert_chart(0, len(section.columns) + 1, chart, {"x_offset": 12, "y_offset": 4})


def _write_section(workbook: Any, formats: _Formats, sheet: str, section: Section) -> None:
    cells = formats.cells
    ws = workbook.add_worksheet(sheet)
    ws.set_row(0, 30)
    for col, column in enumerate(section.columns):
        cells.write(ws, 0, col, column.title, formats.header)
        ws.set_column(col, col, _width(column, [r[col] for r in section.rows]))
    for r, row in enumerate(section.rows, start=1):
        for col, (value, column) in enumerate(zip(row, section.columns, strict=True)):
            cells.write(ws, r, col, _xlsx_cell(value), formats.cell(column.kind))
    if section.note:
        cells.write(ws, len(section.rows) + 2, 0, section.note, formats.note)
    ws.freeze_panes(1, 0)
    _add_chart(workbook, ws, sheet, section)


def _xlsx_cell(value: Value) -> Cell:
    """Values are stored as they are; the column's format shows the kind's places."""
    return str(value) if isinstance(value, bool) else value  # never write True as 1


def _write_overview(workbook: Any, formats: _Formats, report: Report, names: list[str]) -> None:
    cells = formats.cells
    labels = _overview_labels(report.lang)
    ws = workbook.add_worksheet(names[0])
    cells.write(ws, 0, 0, report.title, formats.title)
    cells.write(ws, 1, 0, report.subtitle, formats.subtitle)
    ws.set_row(0, 24)
    for col, key in enumerate(("section", "rows", "note")):
        cells.write(ws, 3, col, labels[key], formats.header)
    for i, (section, sheet) in enumerate(zip(report.sections, names[1:], strict=True)):
        row = 4 + i
        escaped = sheet.replace("'", "''")
        link = cells.text_format(section.title, formats.link)
        ws.write_url(row, 0, f"internal:'{escaped}'!A1", link, string=section.title)
        cells.write(ws, row, 1, len(section.rows), formats.cell("count"))
        cells.write(ws, row, 2, section.note, formats.text)
    titles = [_display_width(s.title) for s in report.sections]
    ws.set_column(0, 0, max([_display_width(labels["section"]), 12, *titles]) + 2)
    ws.set_column(1, 1, 8)
    ws.set_column(2, 2, 80)
    ws.activate()


def write_xlsx(report: Report, path: Path | str) -> Path:
    """Write the report as an XLSX workbook at ``path`` (its directory made if missing)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    names = sheet_names(report)
    workbook = xlsxwriter.Workbook(str(out))
    try:
        workbook.set_properties({"title": f"{report.title} {report.subtitle}"})
        formats = _Formats(XlsxCells(workbook))
        _write_overview(workbook, formats, report, names)
        for section, sheet in zip(report.sections, names[1:], strict=True):
            _write_section(workbook, formats, sheet, section)
    finally:
        workbook.close()
    return out
