"""Tables written as CSV or XLSX, by one rule for what a cell holds.

Every CSV file and XLSX workbook propcare writes (the monthly report, the owner archive,
the arrears roster, commission statements) goes through this module, so a name typed by
an owner can never run as a formula in the spreadsheet that opens the file.

A cell is text (``str``), a number (``int`` or ``Decimal``; never a float, never a ``bool``)
or empty (``None``). Which is which is the caller's decision, and it matters: amounts and
counts are passed as numbers, names, phones, unit numbers and notes as text.

- **Numbers** are written as numbers: in CSV as plain digits (``-1234.5`` as ``-1234.5``; a
  ``Decimal`` as it is quantised, so pass money quantised to the fen), in XLSX as numbers.
- **Text** that a spreadsheet would read as a formula is marked as text (the OWASP rule for
  CSV injection): text whose first character, after any leading spaces, is ``=``, ``+``,
  ``-``, ``@``, a tab or a carriage return — unless the whole text is one plain number such
  as ``-12.50``, ``+8613812345678`` or ``-1,200`` (a spreadsheet reads that as the number it
  says, which runs nothing). In CSV the mark is a leading ``'`` (``'=HYPERLINK(...)``); in
  XLSX the text is stored as it is, as a text cell with Excel's quote-prefix style (what
  Excel itself keeps when someone types ``'=...``), so it shows unchanged and stays text
  when edited.
- **Empty** is an empty CSV field or a blank XLSX cell.

CSV files are UTF-8 with a byte-order mark (so Excel reads Chinese text as UTF-8) and
``\\r\\n`` line ends unless asked otherwise. XLSX needs XlsxWriter (the ``cli`` or
``reports`` extra); this module does not import it: :class:`XlsxCells` wraps a workbook
the caller made.

**Long tables** are written in the same memory as short ones: the CSV writers take any
iterable of rows (a generator reading from the database, say) and write each as it comes;
for XLSX, make the workbook with ``{"constant_memory": True}`` and write its rows in order
(XlsxWriter then moves each finished row to a temporary file), as ``propcare arrears``
does.

Pure helpers: core modules may use them; nothing here imports the app, the CLI or storage.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

__all__ = [
    "Cell",
    "XlsxCells",
    "csv_cell",
    "csv_text",
    "needs_quote",
    "quoted",
    "write_csv",
    "write_csv_file",
]

Cell = str | int | Decimal | None

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_LEADING_SPACES = " \u3000"  # a space and the ideographic space
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d[\d,]*(?:\.\d+)?|\.\d+)%?")


def needs_quote(text: str) -> bool:
    """Whether a spreadsheet could read ``text`` as a formula (see the module notes)."""
    if not text.lstrip(_LEADING_SPACES).startswith(_FORMULA_START):
        return False
    return _PLAIN_NUMBER.fullmatch(text.strip(_LEADING_SPACES)) is None


def quoted(text: str) -> str:
    """``text`` as a CSV field: with a leading ``'`` when :func:`needs_quote` says so."""
    return f"'{text}" if needs_quote(text) else text


def csv_cell(value: Cell) -> str:
    """How a cell reads in a CSV file: text quoted by the rule, numbers plain, None empty."""
    if value is None:
        return ""
    if isinstance(value, str):
        return quoted(value)
    if isinstance(value, bool):
        raise TypeError(f"a table cell is text, an int, a Decimal or None, not {value!r}")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return f"{value:f}"
    raise TypeError(f"a table cell is text, an int, a Decimal or None, not {value!r}")


def write_csv(
    out: IO[str],
    header: Sequence[str] | None,
    rows: Iterable[Sequence[Cell]],
    *,
    lineterminator: str = "\r\n",
) -> int:
    """Write ``header`` (if any) and ``rows`` as CSV to ``out``; returns the rows written
    (the header not counted). ``out`` is opened by the caller (``newline=""``)."""
    # csv quotes a field holding a character of its line terminator, so it is given "\r\n"
    # (a lone "\r" in a field would end the row for a reader otherwise) and each row's end
    # is then written as asked.
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")

    def write_row(cells: list[str]) -> None:
        buf.seek(0)
        buf.truncate()
        writer.writerow(cells)
        out.write(buf.getvalue()[:-2] + lineterminator)

    if header is not None:
        write_row([csv_cell(title) for title in header])
    count = 0
    for row in rows:
        write_row([csv_cell(value) for value in row])
        count += 1
    return count


def csv_text(
    header: Sequence[str] | None, rows: Iterable[Sequence[Cell]], *, lineterminator: str = "\n"
) -> str:
    """The CSV text of ``header`` and ``rows`` (no byte-order mark: a string has no bytes)."""
    buf = io.StringIO()
    write_csv(buf, header, rows, lineterminator=lineterminator)
    return buf.getvalue()


def write_csv_file(
    path: Path | str, header: Sequence[str] | None, rows: Iterable[Sequence[Cell]]
) -> int:
    """Write a CSV file at ``path`` (replaced if it exists): UTF-8 with a byte-order mark, so
    Excel reads it as UTF-8 rather than the ANSI code page. Returns the rows written."""
    with Path(path).open("w", encoding="utf-8-sig", newline="") as out:
        return write_csv(out, header, rows)


class XlsxCells:
    """Writes cells into the sheets of one XlsxWriter workbook by the module's rule.

    Formats for cells that :meth:`write` may get must come from :meth:`add_format`: a text
    cell that needs the quote prefix is written with the same format plus
    ``quote_prefix``, made once per format.
    """

    def __init__(self, workbook: Any) -> None:
        self.workbook = workbook
        self._props: dict[int, dict[str, Any]] = {}
        self._quoted: dict[int | None, Any] = {}

    def add_format(self, props: Mapping[str, Any] | None = None) -> Any:
        """``workbook.add_format(props)``, remembered so that a quoted twin can be made."""
        fmt = self.workbook.add_format(dict(props or {}))
        self._props[id(fmt)] = dict(props or {})
        return fmt

    def text_format(self, text: str, fmt: Any = None) -> Any:
        """The format to write ``text`` with: ``fmt``, or its quote-prefixed twin when
        :func:`needs_quote` says so (for text written by other calls, ``write_url``...)."""
        return self._quote_prefixed(fmt) if needs_quote(text) else fmt

    def _quote_prefixed(self, fmt: Any) -> Any:
        key = None if fmt is None else id(fmt)
        if key not in self._quoted:
            if key is None:
                props: dict[str, Any] = {}
            elif key in self._props:
                props = self._props[key]
            else:
                raise ValueError("a format for XlsxCells.write must come from its add_format")
            twin = self.workbook.add_format({**props, "quote_prefix": True})
            self._props[id(twin)] = {**props, "quote_prefix": True}
            self._quoted[key] = twin
        return self._quoted[key]

    def write(self, sheet: Any, row: int, col: int, value: Cell, fmt: Any = None) -> None:
        """One cell: text as a text cell (quote-prefixed by the rule; never a formula),
        numbers as numbers, None as a blank cell."""
        if value is None:
            sheet.write_blank(row, col, None, fmt)
        elif isinstance(value, str):
            sheet.write_string(row, col, value, self.text_format(value, fmt))
        elif isinstance(value, bool):
            raise TypeError(f"a table cell is text, an int, a Decimal or None, not {value!r}")
        elif isinstance(value, int):
            sheet.write_number(row, col, value, fmt)
        elif isinstance(value, Decimal):
            sheet.write_number(row, col, float(value), fmt)
        else:
            raise TypeError(f"a table cell is text, an int, a Decimal or None, not {value!r}")

    def write_row(
        self, sheet: Any, row: int, col: int, values: Sequence[Cell], fmt: Any = None
    ) -> None:
        """Cells ``values`` from (``row``, ``col``) rightwards, all with ``fmt``."""
        for offset, value in enumerate(values):
            self.write(sheet, row, col + offset, value, fmt)
