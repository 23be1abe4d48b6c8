"""One tabular writer for every CSV and XLSX file: text a spreadsheet would run as a formula
is marked as text (a leading ' in CSV, Excel's quote prefix in XLSX); numbers stay numbers."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
from hypothesis import example, given
from hypothesis import strategies as st

from propcare.tabular import (
    Cell,
    XlsxCells,
    csv_cell,
    csv_text,
    needs_quote,
    quoted,
    write_csv,
    write_csv_file,
)

HOSTILE = '=HYPERLINK("http://x","y")'


@pytest.mark.parametrize(
    "text",
    [
        HOSTILE, "=1+1", "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "@SUM(A1)",
        "\t=1", "\r=1", "  =1+1", "\u3000=1", "-1-023", "+86 138 0013 8000", "-", "+", "@",
    ],
)  # fmt: skip
def test_text_a_spreadsheet_would_run_gets_a_leading_quote(text: str) -> None:
    assert needs_quote(text)
    assert quoted(text) == "'" + text
    assert csv_cell(text) == "'" + text


@pytest.mark.parametrize(
    "text",
    [
        "张三", "", "1栋", "138****5678", "2026-01, 2026-02", "HYPERLINK", "a=b", "'=1",
        # one plain number says what a spreadsheet reads: nothing runs
        "-10", "-12.50", "+8613812345678", "-1,200.00", "+.5", "-3%",
    ],
)  # fmt: skip
def test_other_text_is_written_as_it_is(text: str) -> None:
    assert not needs_quote(text)
    assert csv_cell(text) == text


def test_numbers_are_numbers_and_none_is_empty() -> None:
    assert csv_cell(Decimal("-10.00")) == "-10.00"
    assert csv_cell(Decimal("1E+3")) == "1000"
    assert csv_cell(-7) == "-7"
    assert csv_cell(None) == ""
    for wrong in (True, 1.5, object()):
        with pytest.raises(TypeError):
            csv_cell(wrong)  # type: ignore[arg-type]


@given(text=st.text())
@example(text=HOSTILE)
def test_a_text_cell_reads_back_as_the_text_or_the_text_after_one_quote(text: str) -> None:
    """The rule only ever adds one leading ': the text is never changed otherwise."""
    cell = csv_cell(text)
    assert cell in (text, "'" + text)
    for end in ("\n", "\r\n"):
        rows = list(csv.reader(io.StringIO(csv_text(None, [[text], ["x"]], lineterminator=end))))
        assert rows == [[cell], ["x"]] or (text == "" and rows == [[], ["x"]])


@given(text=st.text(alphabet="=+-@\t\r 0123456789.,%abc()|!'\"", max_size=12))
def test_an_unmarked_text_never_starts_a_formula(text: str) -> None:
    cell = csv_cell(text)
    head = cell.lstrip(" \u3000")[:1]
    if head and head in "=+-@\t\r":
        # only a plain number is left unmarked, and it holds no letter or operator but a sign
        assert all(ch in "+-0123456789.,% " for ch in cell), cell


def test_csv_text_and_files_are_the_rows_with_a_header() -> None:
    rows: list[list[Cell]] = [[HOSTILE, Decimal("-1.50"), 3, None], ["李四", Decimal("2"), 0, "x"]]
    assert csv_text(["名", "额", "数", "注"], rows) == (
        '名,额,数,注\n"\'=HYPERLINK(""http://x"",""y"")",-1.50,3,\n李四,2,0,x\n'
    )
    out = io.StringIO()
    assert write_csv(out, None, rows) == 2
    assert out.getvalue().endswith("李四,2,0,x\r\n")


def test_a_csv_file_is_utf8_with_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    assert write_csv_file(path, ["业主"], [[HOSTILE]]) == 1
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert list(csv.reader(io.StringIO(raw.decode("utf-8-sig")))) == [["业主"], ["'" + HOSTILE]]


def test_xlsx_text_is_text_with_the_quote_prefix_and_numbers_are_numbers(tmp_path: Path) -> None:
    path = tmp_path / "t.xlsx"
    book = xlsxwriter.Workbook(str(path))
    cells = XlsxCells(book)
    sheet = book.add_worksheet("t")
    bold = cells.add_format({"bold": True})
    cells.write_row(sheet, 0, 0, [HOSTILE, "张三", Decimal("-1.50"), 3, None, "-10", "@x"], bold)
    cells.write(sheet, 1, 0, HOSTILE)
    book.close()

    ws = openpyxl.load_workbook(path)["t"]
    a1, b1, c1, d1, e1, f1, g1 = ws[1][:7]
    assert (a1.value, a1.data_type, a1.quotePrefix, a1.font.b) == (HOSTILE, "s", True, True)
    assert (b1.value, b1.data_type, b1.quotePrefix, b1.font.b) == ("张三", "s", False, True)
    assert (c1.value, c1.data_type) == (-1.5, "n")
    assert (d1.value, d1.data_type) == (3, "n")
    assert e1.value is None
    assert (f1.value, f1.data_type, f1.quotePrefix) == ("-10", "s", False)
    assert (g1.value, g1.data_type, g1.quotePrefix) == ("@x", "s", True)
    assert (ws["A2"].value, ws["A2"].data_type, ws["A2"].quotePrefix) == (HOSTILE, "s", True)


def test_xlsx_formats_must_come_from_the_writer(tmp_path: Path) -> None:
    book = xlsxwriter.Workbook(str(tmp_path / "t.xlsx"))
    try:
        cells = XlsxCells(book)
        sheet = book.add_worksheet()
        cells.write(sheet, 0, 0, "张三", book.add_format())  # no quote needed: any format
        with pytest.raises(ValueError, match="add_format"):
            cells.write(sheet, 0, 1, HOSTILE, book.add_format())
        with pytest.raises(TypeError):
            cells.write(sheet, 0, 2, 1.5)  # type: ignore[arg-type]
    finally:
        book.close()
