"""``app.estates.import_archive``: the owner archive (业主档案) imported through the library."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from propcare import Actor, FixedClock, PermissionDenied, Propcare, ValidationError
from propcare.registry.archive_import import (
    ImportProblem,
    check_sheet,
    column_key,
    read_archive,
    sheet_from_rows,
)
from propcare.registry.model import EstateId, UnitUse
from propcare.testing import RecordingSubscriber
from propcare.testing.strategies import floor_areas, mobile_phones

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
ADMIN = Actor.system()
HEADER = "楼栋,房号,建筑面积(㎡),用途,交付日期,业主,电话"


@pytest.fixture
def recorder() -> RecordingSubscriber:
    return RecordingSubscriber("mirror")


@pytest.fixture
def world(clock: FixedClock, recorder: RecordingSubscriber) -> Iterator[tuple[Propcare, EstateId]]:
    """翠苑 with 1栋 101, owned by 张三 (13812345678) since 2019."""
    with Propcare.open(
        "sqlite://:memory:", plugins=[recorder], load_entrypoints=False, clock=clock
    ) as app:
        estate = app.estates.create(ADMIN, "翠苑")
        b1 = app.estates.add_building(ADMIN, estate.id, "1栋")
        unit = app.estates.add_unit(ADMIN, b1.id, "101", Decimal(90))
        zhang = app.owners.create(ADMIN, estate.id, "张三", ["13812345678"])
        app.owners.assign(ADMIN, unit.id, zhang.id, date(2019, 1, 1))
        app.dispatch()
        recorder.received.clear()
        yield app, estate.id


def stored(app: Propcare, estate: EstateId) -> dict[tuple[str, str], Any]:
    names = {b.id: b.name for b in app.estates.buildings(ADMIN, estate)}
    return {(names[u.building_id], u.number): u for u in app.estates.units(ADMIN, estate)}


def counts(app: Propcare, estate: EstateId) -> tuple[int, int, int]:
    """Buildings, units and owners of the estate."""
    return (
        len(app.estates.buildings(ADMIN, estate)),
        len(app.estates.units(ADMIN, estate)),
        len(app.owners.list(ADMIN, estate)),
    )


def write_csv(path: Path, rows: list[str], encoding: str = "utf-8") -> Path:
    path.write_bytes(("\n".join([HEADER, *rows]) + "\n").encode(encoding))
    return path


# --- importing ---------------------------------------------------------------------------


def test_rows_become_units_owners_and_ownerships_with_events_after_commit(
    world: tuple[Propcare, EstateId], recorder: RecordingSubscriber
) -> None:
    app, estate = world
    rows: list[dict[str, object]] = [
        {"楼栋": "2栋", "房号": "201", "建筑面积(㎡)": "89.5", "交付日期": "2020-05-01",
         "业主": "赵六", "电话": "13811112222"},
        {"楼栋": "2栋", "房号": "202", "建筑面积(㎡)": Decimal("12.5"), "用途": "车位"},
        {"building": "2栋", "unit": "203", "floor_area": 70, "owner": "赵六",
         "phones": "138 1111 2222", "handover_date": date(2020, 5, 1),
         "owner_since": "2021-03-15"},
        {"楼栋": "1栋", "房号": "102", "建筑面积(㎡)": 90.25, "交付日期": "2020-05-01",
         "业主": "张三", "电话": "13812345678"},
    ]  # fmt: skip
    seen_while_writing: list[int] = []

    def progress(done: int, total: int) -> None:
        seen_while_writing.append(len(recorder.received))

    result = app.estates.import_archive(ADMIN, estate, rows, progress=progress)

    assert (result.units, result.buildings, result.committed, result.rows) == (4, ("2栋",), True, 4)
    assert (result.owners_created, result.owners_reused, result.problems) == (1, 2, ())
    units = stored(app, estate)
    assert sorted(units) == [("1栋", "101"), ("1栋", "102"), ("2栋", "201"), ("2栋", "202"),
                             ("2栋", "203")]  # fmt: skip
    u201, u202, u203 = units[("2栋", "201")], units[("2栋", "202")], units[("2栋", "203")]
    assert (u201.floor_area, u201.use, u201.handover_date) == (
        Decimal("89.5"), UnitUse.RESIDENTIAL, date(2020, 5, 1),
    )  # fmt: skip
    assert (u202.floor_area, u202.use, u202.handover_date) == (Decimal("12.5"), "parking", None)
    assert units[("1栋", "102")].floor_area == Decimal("90.25")
    owners = {o.name: o for o in app.owners.list(ADMIN, estate)}
    assert sorted(owners) == ["张三", "赵六"], "the same name and phone make one owner"
    (held,) = app.owners.history(ADMIN, u203.id)
    assert (held.owner_id, held.start) == (owners["赵六"].id, date(2021, 3, 15))
    (held,) = app.owners.history(ADMIN, units[("1栋", "102")].id)
    assert held.owner_id == owners["张三"].id
    assert app.owners.history(ADMIN, u202.id) == []

    # Nothing left the outbox while the import was writing; all of it after the commit.
    assert seen_while_writing and set(seen_while_writing) == {0}
    app.dispatch()
    topics = Counter(recorder.topics_received())
    assert topics == {
        "registry.created": 2,  # building 2栋 and owner 赵六
        "registry.units_added": 2,  # one per building
        "registry.ownership_changed": 3,
    }
    added = [e.payload for e in recorder.received if e.topic == "registry.units_added"]
    assert sorted(u for p in added for u in p["unit_ids"]) == sorted(
        u.id for k, u in units.items() if k != ("1栋", "101")
    )


def test_a_csv_file_is_imported_by_path(world: tuple[Propcare, EstateId], tmp_path: Path) -> None:
    app, estate = world
    file = write_csv(
        tmp_path / "档案.csv",
        [
            "3栋,301,89.5,住宅,2020-05-01,赵六,13811112222",
            "3栋,302,,住宅,2020-05-01,钱七,13811113333",
            "1栋,101,90,,2020-05-01,郑一,13811116666",
        ],
    )
    for source in (file, str(file)):
        result = app.estates.import_archive(ADMIN, estate, source)
        assert result.rows == 3
        assert [(p.row, p.column) for p in result.problems][-2:] == [(3, "建筑面积(㎡)"),
                                                                     (4, "房号")]  # fmt: skip
    assert ("3栋", "301") in stored(app, estate)
    # The second time 301 is taken too: the file is checked against what the estate holds.
    assert result.problems[0] == ImportProblem(2, "房号", "301", "already used in building 3栋")
    assert not result.committed


def test_a_gb18030_csv_from_excel_is_read(world: tuple[Propcare, EstateId], tmp_path: Path) -> None:
    app, estate = world
    # 𡒄 is outside GBK: only GB18030 (what Excel on Chinese Windows writes) has it.
    file = write_csv(tmp_path / "gb.csv", ["5栋,501,88,,2020-05-01,王𡒄,13811117777"], "gb18030")
    result = app.estates.import_archive(ADMIN, estate, file)
    assert result.committed, result.problems
    assert ("5栋", "501") in stored(app, estate)
    assert "王𡒄" in {o.name for o in app.owners.list(ADMIN, estate)}


def test_all_or_nothing_writes_nothing_when_a_row_is_bad(
    world: tuple[Propcare, EstateId], recorder: RecordingSubscriber
) -> None:
    app, estate = world
    rows = [
        {"楼栋": "2栋", "房号": "201", "建筑面积(㎡)": "89.5"},
        {"楼栋": "2栋", "房号": "202", "建筑面积(㎡)": "-3"},
    ]
    before = counts(app, estate)
    result = app.estates.import_archive(ADMIN, estate, rows, all_or_nothing=True)
    assert (result.committed, result.units, result.buildings) == (False, 0, ())
    assert [(p.row, p.column, p.value) for p in result.problems] == [(2, "建筑面积(㎡)", "-3")]
    assert counts(app, estate) == before
    app.dispatch()
    assert recorder.received == []

    result = app.estates.import_archive(ADMIN, estate, rows)
    assert (result.committed, result.units) == (True, 1)
    assert counts(app, estate) == (before[0] + 1, before[1] + 1, before[2])


def test_no_good_row_writes_nothing(world: tuple[Propcare, EstateId]) -> None:
    app, estate = world
    before = counts(app, estate)
    result = app.estates.import_archive(
        ADMIN, estate, [{"楼栋": "1栋", "房号": "101", "建筑面积(㎡)": "90"}]
    )
    assert not result.committed
    assert result.problems == (ImportProblem(1, "房号", "101", "already used in building 1栋"),)
    assert counts(app, estate) == before


def test_problems_name_row_column_value_and_rule(world: tuple[Propcare, EstateId]) -> None:
    app, estate = world
    rows: list[dict[str, object]] = [
        {"Building": "2栋", "Unit": "201", "Floor area (m2)": "80", "Owner": "孙八",
         "Phones": "12345", "Handover date": "2020-02-30"},
        {},  # blank rows are counted, then skipped
        {"Building": "2栋", "Unit": "202", "Floor area (m2)": "80", "Use": "hotel",
         "ID card": "110101199003071234"},
        {"Building": "2栋", "Unit": "203", "Floor area (m2)": "80", "Owner": "周九"},
        {"Building": "2栋", "Unit": "204", "Floor area (m2)": "80"},
        {"Building": "2栋", "Unit": "204", "Floor area (m2)": "70"},
    ]  # fmt: skip
    result = app.estates.import_archive(ADMIN, estate, rows)
    problems = [(p.row, p.column, p.value) for p in result.problems]
    assert problems == [
        (1, "Handover date", "2020-02-30"),
        (1, "Phones", "12345"),
        (3, "Use", "hotel"),
        (3, "ID card", result.problems[3].value),
        (3, "Owner", ""),
        (4, "Handover date", ""),
        (6, "Unit", "204"),
    ]
    rules = {(p.row, p.column): p.rule for p in result.problems}
    assert rules[(1, "Handover date")].startswith("must be a date written YYYY-MM-DD")
    assert rules[(1, "Phones")].startswith("must be a phone number")
    assert rules[(3, "Use")].startswith("must be one of: residential, shop")
    assert rules[(3, "Owner")] == "is required when phones or an ID number are given"
    assert rules[(4, "Handover date")].startswith("is required for a unit with an owner")
    assert rules[(6, "Unit")] == "is also in row 5 for building 2栋: a unit is listed once"
    assert "1990" not in result.problems[3].value, "an ID number stays masked"
    assert (result.rows, result.units) == (5, 1)
    assert ("2栋", "204") in stored(app, estate)


def test_a_front_desk_actor_is_refused_and_nothing_is_written(
    world: tuple[Propcare, EstateId], tmp_path: Path
) -> None:
    app, estate = world
    clerk = Actor("前台小李", {"front_desk"}, {estate})
    before = counts(app, estate)
    rows = [{"楼栋": "2栋", "房号": "201", "建筑面积(㎡)": "89.5"}]
    with pytest.raises(PermissionDenied, match="estate.write"):
        app.estates.import_archive(clerk, estate, rows)
    # Refused before the file is read: a missing file is not even looked at.
    with pytest.raises(PermissionDenied):
        app.estates.import_archive(clerk, estate, tmp_path / "missing.csv")
    assert counts(app, estate) == before


def test_progress_reports_checking_then_writing(world: tuple[Propcare, EstateId]) -> None:
    app, estate = world
    rows = [{"楼栋": "2栋", "房号": str(n), "建筑面积(㎡)": "50"} for n in range(3)]
    rows.append({"楼栋": "2栋", "房号": "", "建筑面积(㎡)": "50"})
    calls: list[tuple[int, int]] = []
    app.estates.import_archive(ADMIN, estate, rows, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4), (0, 3), (1, 3), (2, 3), (3, 3)]


# --- reading and bad input ---------------------------------------------------------------


def test_a_file_read_first_can_be_previewed_then_imported(
    world: tuple[Propcare, EstateId], tmp_path: Path
) -> None:
    app, estate = world
    file = tmp_path / "units.csv"
    file.write_text(
        "翠苑业主档案\n\n楼栋,房号,面积,备注\n6栋,601,60,x\n,,,\n6栋,601,61,\n",
        encoding="utf-8-sig",
    )
    sheet = read_archive(file)
    assert (sheet.source, sheet.ignored) == ("units.csv", ("备注",))
    assert dict(sheet.headers) == {"building": "楼栋", "unit": "房号", "floor_area": "面积"}
    assert [r.row for r in sheet.rows] == [4, 6]
    good, problems = check_sheet(estate, sheet)  # a dry run: nothing is written
    assert [g.unit.number for g in good] == ["601"]
    assert [(p.row, p.column) for p in problems] == [(6, "房号")]
    assert ("6栋", "601") not in stored(app, estate)
    result = app.estates.import_archive(ADMIN, estate, sheet)
    assert (result.units, result.rows) == (1, 2)
    assert stored(app, estate)[("6栋", "601")].floor_area == Decimal(60)


@pytest.mark.parametrize(
    ("name", "content", "field", "rule"),
    [
        ("units.csv", "楼栋,房号,用途\n1栋,1,\n", "columns", "needs a header row"),
        ("units.csv", "楼栋,房号,面积,area\n1栋,1,2,2\n", "columns", "both mean 建筑面积(㎡)"),
        ("units.csv", HEADER + "\n", "file", "has no rows under its header row"),
        ("units.csv", b"\xff\xfe\x00\xd8", "file", "is neither UTF-8 nor GB18030"),
        ("units.xlsx", "not a zip", "file", "is not a readable .xlsx workbook"),
        ("units.xls", HEADER + "\n1栋,1,2\n", "file", "must be a .csv or .xlsx file"),
    ],
)
def test_a_bad_file_raises_validation_error_naming_field_value_and_rule(
    world: tuple[Propcare, EstateId],
    tmp_path: Path,
    name: str,
    content: str | bytes,
    field: str,
    rule: str,
) -> None:
    app, estate = world
    file = tmp_path / name
    if isinstance(content, bytes):
        file.write_bytes(content)
    else:
        file.write_text(content, encoding="utf-8")
    before = counts(app, estate)
    with pytest.raises(ValidationError) as info:
        app.estates.import_archive(ADMIN, estate, file)
    assert info.value.field == field
    assert rule in info.value.rule
    assert info.value.value is not None
    assert counts(app, estate) == before


@pytest.mark.parametrize(
    ("rows", "field", "rule"),
    [
        ([], "rows", "has no rows with values"),
        ([{"楼栋": "", "房号": None}], "rows", "has no rows with values"),
        ([{"楼栋": "1栋", "面积": "3"}], "columns", "need the columns 房号 / Unit"),
        ([{"unit": "1", "房号": "2", "楼栋": "1栋", "面积": "3"}], "columns", "both mean 房号"),
        (["楼栋,房号"], "rows", "row 1 must be a mapping"),
    ],
)
def test_bad_rows_in_memory_raise_validation_error(rows: list[Any], field: str, rule: str) -> None:
    with pytest.raises(ValidationError) as info:
        sheet_from_rows(rows)
    assert info.value.field == field
    assert rule in info.value.rule


def test_headers_match_in_either_language_width_and_case() -> None:
    assert column_key("建筑面积（㎡）") == column_key("FLOOR AREA (m2)") == "floor_area"
    assert column_key(" 手机号 ") == "phones"
    assert column_key("备注") is None and column_key(None) is None


# --- the property: exactly the good rows are imported -------------------------------------

BAD_KINDS = ("no_area", "bad_area", "bad_date", "bad_phone", "bad_use", "phones_no_owner",
             "owner_no_date", "no_unit", "twice")  # fmt: skip


Archive = tuple[list[dict[str, object]], dict[tuple[str, str], Decimal], set[int]]


@st.composite
def archives(draw: st.DrawFn) -> Archive:
    """Rows, good and bad mixed; the units the good ones make and the good rows' numbers."""
    rows: list[dict[str, object]] = []
    good: dict[tuple[str, str], Decimal] = {}
    good_rows: set[int] = set()
    bad: dict[str, dict[str, object]] = {
        "no_area": {"建筑面积(㎡)": ""},
        "bad_area": {"建筑面积(㎡)": "-5"},
        "bad_date": {"交付日期": "2020-02-30"},
        "bad_phone": {"业主": "孙八", "电话": "12345"},
        "bad_use": {"用途": "hotel"},
        "phones_no_owner": {"业主": "", "电话": "13811112222"},
        "owner_no_date": {"业主": "周九", "交付日期": ""},
        "no_unit": {"房号": " "},
    }
    for number in range(1, draw(st.integers(1, 12)) + 1):
        kind = draw(st.sampled_from(("good", "good", *BAD_KINDS)))
        building = draw(st.sampled_from(("1栋", "2栋", "3栋")))
        area = draw(floor_areas())
        row: dict[str, object] = {
            "楼栋": building,
            "房号": f"{number:03d}",  # unique, so only "twice" repeats a unit
            "建筑面积(㎡)": f"{area:f}",
            "交付日期": "2020-05-01",
        }
        if draw(st.booleans()):
            row |= {"业主": draw(st.sampled_from(("赵六", "钱七"))), "电话": draw(mobile_phones())}
        if kind == "twice" and good:
            row["楼栋"], row["房号"] = draw(st.sampled_from(sorted(good)))
        elif kind in bad:
            row |= bad[kind]
        else:
            good[(building, f"{number:03d}")] = area
            good_rows.add(number)
        rows.append(row)
    return rows, good, good_rows


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(archives())
def test_exactly_the_good_rows_are_imported_and_every_bad_row_has_a_problem(
    archive: Archive,
) -> None:
    rows, good, good_rows = archive
    with Propcare.open("sqlite://:memory:", load_entrypoints=False, clock=FixedClock(T0)) as app:
        estate = app.estates.create(ADMIN, "翠苑").id
        result = app.estates.import_archive(ADMIN, estate, rows)
        imported = {k: u.floor_area for k, u in stored(app, estate).items()}
    assert imported == good
    assert {p.row for p in result.problems} == set(range(1, len(rows) + 1)) - good_rows
    assert (result.units, result.committed, result.rows) == (len(good), bool(good), len(rows))
