"""`propcare import units`: the owner archive from CSV or XLSX, checked row by row."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner, Result

from propcare import Actor, Propcare
from propcare.cli import main
from propcare.demo import sqlite_url
from propcare.errors import StorageError
from propcare.registry.archive_import import UNIT_COLUMNS
from propcare.registry.model import EstateId, Unit, UnitUse
from propcare.storage.sqlite import OwnershipRepo

pytestmark = pytest.mark.usefixtures("quiet_opening")


ADMIN = Actor.system()
ESTATE = EstateId(1)
ENV: dict[str, str | None] = {"COLUMNS": "200", "FORCE_COLOR": None, "NO_COLOR": "1"}
HEADER_ZH = ["楼栋", "房号", "建筑面积(㎡)", "用途", "交付日期", "业主", "电话"]
HEADER_EN = ["Building", "Unit", "Floor area (m2)", "Use", "Handover date", "Owner", "Phones"]

# Row numbers as a spreadsheet shows them: the header is row 1.
MIXED = [
    ["3栋", "301", "89.5", "住宅", "2020-05-01", "赵六", "13811112222"],  # 2 good
    ["3栋", "302", "", "住宅", "2020-05-01", "钱七", "13811113333"],  # 3 no area
    ["3栋", "303", "95", "商铺", "2020-02-30", "孙八", "13811114444"],  # 4 bad date
    ["3栋", "301", "70", "", "2020-05-01", "周九", "13811115555"],  # 5 twice in the file
    ["3栋", "304", "88", "办公", "2020-05-01", "吴十", "12345"],  # 6 bad phone
    ["1栋", "101", "90", "", "2020-05-01", "郑一", "13811116666"],  # 7 already stored
    ["3栋", "305", "12.5", "车位", "", "", ""],  # 8 good, no owner, not handed over
    ["3栋", "306", "89.5", "", "2021-03-15", "赵六", "138 1111 2222"],  # 9 good, 赵六 again
]


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=ENV)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """翠苑 with 1栋 101, owned by 张三."""
    path = tmp_path / "cuiyuan.db"
    with Propcare.open(sqlite_url(path), load_entrypoints=False) as app:
        estate = app.estates.create(ADMIN, "翠苑")
        b1 = app.estates.add_building(ADMIN, estate.id, "1栋")
        unit = app.estates.add_unit(ADMIN, b1.id, "101", Decimal(90))
        zhang = app.owners.create(ADMIN, estate.id, "张三", ["13812345678"])
        app.owners.assign(ADMIN, unit.id, zhang.id, date(2019, 1, 1))
    return path


def write_csv(
    path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8"
) -> Path:
    lines = [",".join(header), *(",".join(r) for r in rows)]
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


def import_units(db: Path, file: Path, *args: str) -> Result:
    return run("import", "units", str(file), "--db", str(db), "--estate", "1", *args)


def units_of(db: Path) -> dict[tuple[str, str], Unit]:
    with Propcare.open(sqlite_url(db), load_entrypoints=False) as app:
        names = {b.id: b.name for b in app.estates.buildings(ADMIN, ESTATE)}
        return {(names[u.building_id], u.number): u for u in app.estates.units(ADMIN, ESTATE)}


def problems(out: str) -> list[tuple[int, str]]:
    """(row, column) of each line of the report table."""
    return [(int(m[1]), m[2]) for m in re.finditer(r"^\s+(\d+)\s{2,}(\S.*?)\s{2,}", out, re.M)]


def test_help_documents_every_column_in_both_languages() -> None:
    result = run("import", "units", "--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for column in UNIT_COLUMNS:
        assert f"{column.zh} / {column.en}" in text, column.key
    for phrase in ["FILE", "--db", "--estate", "--all-or-nothing", "exit 1", "one transaction",
                   "GB18030", "first sheet", "row number"]:  # fmt: skip
        assert phrase in text, phrase


def test_good_rows_are_imported_and_bad_rows_reported(db: Path, tmp_path: Path) -> None:
    file = write_csv(tmp_path / "档案.csv", HEADER_ZH, MIXED)
    result = import_units(db, file)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert problems(out) == [
        (3, "建筑面积(㎡)"),
        (4, "交付日期"),
        (5, "房号"),
        (6, "电话"),
        (7, "房号"),
    ]
    assert re.search(r"3\s+建筑面积\(㎡\)\s+''\s+is required: square metres", out)
    assert re.search(r"4\s+交付日期\s+'2020-02-30'\s+must be a date written YYYY-MM-DD", out)
    assert re.search(r"5\s+房号\s+'301'\s+is also in row 2 for building 3栋", out)
    assert re.search(r"6\s+电话\s+'12345'\s+must be a phone number: a mainland mobile", out)
    assert re.search(r"7\s+房号\s+'101'\s+already used in building 1栋", out)
    assert "Imported 3 of 8 rows from 档案.csv: 3 units, 1 new owners" in out
    assert "1 units to owners already known" in out
    assert "new buildings: 3栋" in out
    assert "Skipped 5 bad rows" in out

    units = units_of(db)
    assert sorted(units) == [("1栋", "101"), ("3栋", "301"), ("3栋", "305"), ("3栋", "306")]
    u301, u305 = units[("3栋", "301")], units[("3栋", "305")]
    assert (u301.floor_area, u301.use, u301.handover_date) == (
        Decimal("89.5"), UnitUse.RESIDENTIAL, date(2020, 5, 1),
    )  # fmt: skip
    assert (u305.floor_area, u305.use, u305.handover_date) == (Decimal("12.5"), "parking", None)
    with Propcare.open(sqlite_url(db), load_entrypoints=False) as app:
        zhao = [o for o in app.owners.list(ADMIN, ESTATE) if o.name == "赵六"]
        assert len(zhao) == 1, "the same name and phone make one owner"
        assert [p.reveal() for p in zhao[0].phones] == ["13811112222"]
        for number, start in (("301", date(2020, 5, 1)), ("306", date(2021, 3, 15))):
            (held,) = app.owners.history(ADMIN, units[("3栋", number)].id)
            assert (held.owner_id, held.start, held.end) == (zhao[0].id, start, None)
        assert app.owners.history(ADMIN, u305.id) == []
        assert {o.name for o in app.owners.list(ADMIN, ESTATE)} == {"张三", "赵六"}


def test_all_or_nothing_imports_nothing_when_a_row_is_bad(db: Path, tmp_path: Path) -> None:
    file = write_csv(tmp_path / "units.csv", HEADER_ZH, MIXED)
    result = import_units(db, file, "--all-or-nothing")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "error: file='units.csv': 5 of 8 rows are bad (listed above): "
        "nothing imported (--all-or-nothing)"
    )
    assert len(problems(result.stdout)) == 5
    assert list(units_of(db)) == [("1栋", "101")]
    with Propcare.open(sqlite_url(db), load_entrypoints=False) as app:
        assert [b.name for b in app.estates.buildings(ADMIN, ESTATE)] == ["1栋"]
        assert [o.name for o in app.owners.list(ADMIN, ESTATE)] == ["张三"]


def test_all_or_nothing_imports_a_clean_file(db: Path, tmp_path: Path) -> None:
    clean = [r for i, r in enumerate(MIXED, start=2) if i in (2, 8, 9)]
    file = write_csv(tmp_path / "units.csv", HEADER_ZH, clean)
    result = import_units(db, file, "--all-or-nothing")
    assert result.exit_code == 0, result.stderr
    assert "Imported 3 of 3 rows" in result.stdout
    assert "Rows not imported" not in result.stdout
    assert len(units_of(db)) == 4


def test_a_file_with_only_bad_rows_imports_nothing_and_exits_1(db: Path, tmp_path: Path) -> None:
    file = write_csv(tmp_path / "units.csv", HEADER_ZH, [MIXED[1], MIXED[5]])
    result = import_units(db, file)
    assert result.exit_code == 1
    assert "2 of 2 rows are bad (listed above): nothing imported (no row is good)" in result.stderr
    assert list(units_of(db)) == [("1栋", "101")]


def test_an_xlsx_file_with_english_headers_and_typed_cells(db: Path, tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["翠苑业主档案 2026"])  # a title row above the header
    sheet.append([*HEADER_EN, "Remarks"])
    sheet.append(["5栋", 501, 89.5, "residential", datetime(2020, 5, 1), "赵六", 13811112222, "x"])
    sheet.append(["5栋", 502, None, "shop", datetime(2020, 5, 1), "钱七", 13811113333])  # 4
    sheet.append(["5栋", 503, 95, "office", "2020/13/01", "孙八", "13811114444"])  # 5
    sheet.append(["5栋", 501, 70, None, "2020-05-01", "周九", "13811115555"])  # 6
    sheet.append(["5栋", 504, 88, "Parking", "2020-05-01", "吴十", "1234"])  # 7
    sheet.append([None, None, None])  # empty rows are skipped
    sheet.append(["5栋", "505", "120.1234", "hotel", "2020-05-01", "", ""])  # 9 unknown use
    sheet.append(["6栋", "601", 60, "", "2020-05-01", "", "13811117777"])  # 10 phone, no owner
    sheet.append(["6栋", "602", 60, "", "", "郑一", "13811118888 / 010-62345678"])  # 11 no date
    sheet.append(["6栋", "603", 60.25, "商铺", datetime(2022, 1, 9), "王二", "13811119999"])
    file = tmp_path / "archive.xlsx"
    book.save(file)

    result = import_units(db, file)
    assert result.exit_code == 0, result.stderr
    assert "note: columns ignored: Remarks" in result.stderr
    assert problems(result.stdout) == [
        (4, "Floor area (m2)"),
        (5, "Handover date"),
        (6, "Unit"),
        (7, "Phones"),
        (9, "Use"),
        (10, "Owner"),
        (11, "Handover date"),
    ]
    assert re.search(r"9\s+Use\s+'hotel'\s+must be one of: residential, shop", result.stdout)
    assert re.search(r"10\s+Owner\s+''\s+is required when phones", result.stdout)
    assert re.search(
        r"11\s+Handover date\s+''\s+is required for a unit with an owner", result.stdout
    )
    assert "Imported 2 of 9 rows from archive.xlsx" in result.stdout
    units = units_of(db)
    u501, u603 = units[("5栋", "501")], units[("6栋", "603")]
    assert (u501.floor_area, u501.handover_date) == (Decimal("89.5"), date(2020, 5, 1))
    assert (u603.floor_area, u603.use, u603.handover_date) == (
        Decimal("60.25"), UnitUse.SHOP, date(2022, 1, 9),
    )  # fmt: skip
    with Propcare.open(sqlite_url(db), load_entrypoints=False) as app:
        zhao = next(o for o in app.owners.list(ADMIN, ESTATE) if o.name == "赵六")
        assert [p.reveal() for p in zhao.phones] == ["13811112222"]


def test_an_owner_already_in_the_estate_is_reused(db: Path, tmp_path: Path) -> None:
    rows = [["1栋", "102", "90", "", "2020-05-01", "张三", "13812345678"]]
    file = write_csv(tmp_path / "units.csv", HEADER_EN, rows)
    result = import_units(db, file)
    assert result.exit_code == 0, result.stderr
    assert "0 new owners, 1 units to owners already known" in result.stdout
    with Propcare.open(sqlite_url(db), load_entrypoints=False) as app:
        assert [o.name for o in app.owners.list(ADMIN, ESTATE)] == ["张三"]


def test_a_gbk_csv_from_excel_is_read(db: Path, tmp_path: Path) -> None:
    file = write_csv(tmp_path / "gbk.csv", HEADER_ZH, [MIXED[0]], encoding="gbk")
    result = import_units(db, file)
    assert result.exit_code == 0, result.stderr
    assert ("3栋", "301") in units_of(db)


def test_the_writes_are_one_transaction(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0
    add = OwnershipRepo.add

    def fail_on_the_second(self: OwnershipRepo, record: object) -> object:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise StorageError("database", "test", "disk I/O error")
        return add(self, record)  # type: ignore[arg-type]

    monkeypatch.setattr(OwnershipRepo, "add", fail_on_the_second)
    clean = [r for i, r in enumerate(MIXED, start=2) if i in (2, 8, 9)]
    file = write_csv(tmp_path / "units.csv", HEADER_ZH, clean)
    result = import_units(db, file)
    assert result.exit_code == 1
    assert result.stderr == "error: database='test': disk I/O error\n"
    assert list(units_of(db)) == [("1栋", "101")]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (["楼栋", "房号", "用途"], "needs a header row (within the first 10 rows) with the columns "
                                 "楼栋 / Building, 房号 / Unit, 建筑面积(㎡) / Floor area (m2)"),
        (["楼栋", "房号", "面积", "Floor area"], "both mean 建筑面积(㎡) / Floor area (m2)"),
    ],
)  # fmt: skip
def test_a_file_without_the_required_columns_is_refused(
    db: Path, tmp_path: Path, header: list[str], message: str
) -> None:
    file = write_csv(tmp_path / "units.csv", header, [["3栋", "301", "90", "90"]])
    result = import_units(db, file)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: columns=")
    assert message in result.stderr
    assert list(units_of(db)) == [("1栋", "101")]


def test_a_file_with_a_header_and_no_rows_is_refused(db: Path, tmp_path: Path) -> None:
    result = import_units(db, write_csv(tmp_path / "empty.csv", HEADER_ZH, []))
    assert result.exit_code == 1
    assert result.stderr == "error: file='empty.csv': has no rows under its header row\n"


def test_a_file_that_is_not_a_workbook_is_refused(db: Path, tmp_path: Path) -> None:
    file = tmp_path / "units.xlsx"
    file.write_text("not a zip")
    result = import_units(db, file)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: file='units.xlsx': is not a readable .xlsx workbook")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["units.xls"], "must be a .csv or .xlsx file (save an .xls as .xlsx)"),
        (["missing.csv"], "does not exist"),
        (["units.csv", "--estate", "x"], "'x' is not a valid integer"),
    ],
)
def test_usage_errors_exit_2(db: Path, tmp_path: Path, args: list[str], message: str) -> None:
    write_csv(tmp_path / "units.csv", HEADER_ZH, [MIXED[0]])
    write_csv(tmp_path / "units.xls", HEADER_ZH, [MIXED[0]])
    path, *rest = args
    result = run(
        "import", "units", str(tmp_path / path), "--db", str(db), *rest or ["--estate", "1"]
    )
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_an_unknown_estate_is_refused_with_exit_1(db: Path, tmp_path: Path) -> None:
    file = write_csv(tmp_path / "units.csv", HEADER_ZH, [MIXED[0]])
    result = run("import", "units", str(file), "--db", str(db), "--estate", "7")
    assert result.exit_code == 1
    assert result.stderr == "error: estate=7: no such estate; the estates here: 1 翠苑\n"


def test_a_large_file_is_imported_in_one_go(db: Path, tmp_path: Path) -> None:
    rows = [
        [
            f"{b}号楼",
            f"{b}-{n:04d}",
            "88.25",
            "",
            "2020-05-01",
            f"业主{b}-{n}",
            f"138{b:02d}{n:06d}",
        ]
        for b in range(1, 6)
        for n in range(600)
    ]
    file = write_csv(tmp_path / "big.csv", HEADER_ZH, rows)
    result = import_units(db, file, "--all-or-nothing")
    assert result.exit_code == 0, result.stderr
    assert "Imported 3000 of 3000 rows from big.csv: 3000 units, 3000 new owners" in result.stdout
    assert len(units_of(db)) == 3001
