"""Reading and checking an owner archive (业主档案) to import: buildings, units and owners.

An archive is a table with one row per unit. Its columns (:data:`UNIT_COLUMNS`) are matched by
header, in zh-CN or English, width and case folded (``建筑面积（㎡）`` and ``Floor area (m2)``
alike). Every row goes through the registry's own validators (the same :class:`Unit`,
:class:`Owner`, :class:`Phone` and :class:`IdCardNumber` rules as the services), and each thing
wrong with it becomes an :class:`ImportProblem` naming the row, the column, the value and the
rule, so a whole file is reported at once rather than at its first bad cell.

Everything here is pure: nothing reads the database.
:meth:`~propcare.registry.service.EstateService.import_archive` (``app.estates.import_archive``)
checks the rows against what the estate already holds and writes them in one unit of work::

    result = app.estates.import_archive(actor, estate.id, Path("业主档案.xlsx"))
    result = app.estates.import_archive(
        actor, estate.id, [{"楼栋": "1栋", "房号": "101", "建筑面积(㎡)": "89.5"}]
    )

A file is read by :func:`read_archive` (CSV in UTF-8 or GB18030, or the first sheet of an XLSX
workbook, which needs openpyxl from the ``reports`` or ``cli`` extra); rows already in memory by
:func:`sheet_from_rows`. Both answer an :class:`ArchiveSheet`, which :func:`check_sheet` turns into
the rows to write and the problems.
"""

from __future__ import annotations

import csv
import functools
import io
import os
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeAlias

import attrs

from propcare.errors import ConfigError, PropcareError, ValidationError
from propcare.registry.contact import IdCardNumber, Phone
from propcare.registry.model import Building, BuildingId, EstateId, Owner, Unit, UnitUse

__all__ = [
    "HEADER_ROWS",
    "UNIT_COLUMNS",
    "ArchiveColumn",
    "ArchiveSheet",
    "ArchiveSource",
    "CheckedRow",
    "ImportProblem",
    "ImportProgress",
    "ImportResult",
    "SheetRow",
    "archive_sheet",
    "check_sheet",
    "column_key",
    "owner_key",
    "read_archive",
    "sheet_from_rows",
]


@attrs.frozen
class ArchiveColumn:
    """A column of the unit import: its key, its headers in zh-CN and English, what it holds.

    ``aliases`` are further headers archives are seen with (``面积``, ``手机号``, ...).
    """

    key: str
    zh: str
    en: str
    required: bool
    meaning: str
    aliases: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """``楼栋 / Building``: both headers, as help texts and messages show the column."""
        return f"{self.zh} / {self.en}"


UNIT_COLUMNS: tuple[ArchiveColumn, ...] = (
    ArchiveColumn(
        "building",
        "楼栋",
        "Building",
        True,
        "building name; a new name adds the building",
        ("楼号", "楼栋号", "building name"),
    ),
    ArchiveColumn(
        "unit",
        "房号",
        "Unit",
        True,
        "unit number, once per building",
        ("房间号", "unit number", "unit no"),
    ),
    ArchiveColumn(
        "floor_area",
        "建筑面积(㎡)",
        "Floor area (m2)",
        True,
        "square metres, e.g. 89.5 (at most 4 decimals)",
        ("面积", "area"),
    ),
    ArchiveColumn(
        "use",
        "用途",
        "Use",
        False,
        "residential 住宅 (empty: residential), shop 商铺, office 办公, storage 储藏室, "
        "parking 车位, other 其他",
        ("房屋用途",),
    ),
    ArchiveColumn(
        "handover_date",
        "交付日期",
        "Handover date",
        False,
        "YYYY-MM-DD; empty: not handed over yet",
        ("交房日期",),
    ),
    ArchiveColumn(
        "owner",
        "业主",
        "Owner",
        False,
        "the owner's name; empty: no owner yet",
        ("业主姓名", "owner name"),
    ),
    ArchiveColumn(
        "phones",
        "电话",
        "Phones",
        False,
        "one or more phone numbers, separated by / , ; or 、",
        ("联系电话", "手机", "手机号", "phone"),
    ),
    ArchiveColumn(
        "id_card",
        "身份证号",
        "ID card",
        False,
        "the owner's resident ID number (optional)",
        ("身份证", "id card number"),
    ),
    ArchiveColumn(
        "owner_since",
        "入住日期",
        "Owner since",
        False,
        "YYYY-MM-DD the owner holds the unit from; empty: the handover date",
        (),
    ),
)
"""The columns of an owner archive, in the order help texts list them."""

HEADER_ROWS = 10
"""A file's header row is looked for in its first rows: it may follow a title row or two."""

_COLUMN = {c.key: c for c in UNIT_COLUMNS}
_USES = {
    "住宅": UnitUse.RESIDENTIAL,
    "商铺": UnitUse.SHOP,
    "商业": UnitUse.SHOP,
    "底商": UnitUse.SHOP,
    "办公": UnitUse.OFFICE,
    "写字楼": UnitUse.OFFICE,
    "储藏室": UnitUse.STORAGE,
    "储藏间": UnitUse.STORAGE,
    "车位": UnitUse.PARKING,
    "车库": UnitUse.PARKING,
    "其他": UnitUse.OTHER,
    "其它": UnitUse.OTHER,
}
_PHONE_SPLIT = re.compile(r"[/,;，；、\n]+")
_DATE = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})$")
_EXCEL = (".xlsx", ".xlsm")


def _header_key(text: Any) -> str:
    """``建筑面积（㎡）`` and ``Floor area (m2)`` alike: width-folded, lower case, no unit."""
    folded = unicodedata.normalize("NFKC", str(text)).strip().lower()
    folded = re.sub(r"\([^)]*\)$", "", folded.strip())
    return re.sub(r"[\s_\-:*]", "", folded)


_HEADER_KEYS: dict[str, str] = {
    _header_key(name): c.key for c in UNIT_COLUMNS for name in (c.zh, c.en, c.key, *c.aliases)
}


def column_key(header: object) -> str | None:
    """The key of the column a header names (``"面积"`` -> ``"floor_area"``), or None."""
    text = _text(header)
    return _HEADER_KEYS.get(_header_key(text)) if text else None


# --- the values --------------------------------------------------------------------------


@attrs.frozen
class ImportProblem:
    """Why a row is not imported: its row number, the column as headed, the value, the rule.

    Rows are numbered as a spreadsheet shows them (the header row of a file counts), or from 1
    in the order given for rows passed in memory. An ID number stays masked in ``value``.
    """

    row: int
    column: str
    value: str
    rule: str


@attrs.frozen
class SheetRow:
    """A data row of an archive: its row number and its values by column key."""

    row: int
    values: Mapping[str, object]


@attrs.frozen
class ArchiveSheet:
    """An archive read and its columns matched, not yet checked.

    ``source`` names it in messages (the file name); ``headers`` maps each matched column key to
    the header as the archive writes it, the name problems are reported under; ``ignored`` lists
    the headers no column matched; ``rows`` are the rows that are not blank.
    """

    source: str
    headers: Mapping[str, str]
    rows: tuple[SheetRow, ...]
    ignored: tuple[str, ...] = ()

    def header(self, key: str) -> str:
        """The column ``key`` as the archive heads it (its zh-CN header when it has none)."""
        return self.headers.get(key, _COLUMN[key].zh)


@attrs.frozen
class CheckedRow:
    """A row that passed every check of its own: the unit, its owner, the ownership's start.

    ``unit`` carries a placeholder building id until the building is known at write time.
    """

    row: int
    building: str
    unit: Unit
    owner: Owner | None
    start: date | None


@attrs.frozen
class ImportResult:
    """What an import did.

    ``units`` written, the new ``buildings`` by name, owners created and owners already in the
    estate that got units (``owners_reused``); ``committed`` is False when nothing was written
    (a problem with ``all_or_nothing``, or no good row); ``problems`` of every row not imported,
    by row; ``rows`` read (blank rows not counted).
    """

    units: int
    buildings: tuple[str, ...]
    owners_created: int
    owners_reused: int
    committed: bool
    problems: tuple[ImportProblem, ...]
    rows: int


ArchiveSource: TypeAlias = str | os.PathLike[str] | ArchiveSheet | Iterable[Mapping[str, object]]
"""What an import reads: a path to a .csv/.xlsx file, a sheet already read, or rows."""

ImportProgress: TypeAlias = Callable[[int, int], None]
"""``progress(done, total)``: ``(0, total)`` starts a stage (checking the rows, then writing
them), then it is called after each row of that stage."""


# --- reading -----------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 101 typed into a number cell
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else str(value)
    return str(value).strip()


def _file_rows(path: Path) -> list[tuple[int, list[Any]]]:
    """(row number, cells) of the file's first sheet; row numbers as a spreadsheet shows them."""
    try:
        found = path.is_file()
    except OSError as exc:  # a name too long, a folder that may not be read, ...
        raise ValidationError("file", str(path), f"cannot be read: {exc.strerror}") from None
    if not found:
        raise ValidationError("file", str(path), "is not a file")
    if path.suffix.lower() == ".csv":
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = raw.decode("gb18030")  # Excel on Chinese Windows saves CSV so
            except UnicodeDecodeError:
                raise ValidationError(
                    "file", path.name, "is neither UTF-8 nor GB18030 text: save it as CSV UTF-8"
                ) from None
        return list(enumerate((list(r) for r in csv.reader(io.StringIO(text))), start=1))
    if path.suffix.lower() not in _EXCEL:
        raise ValidationError(
            "file", path.name, "must be a .csv or .xlsx file (save an .xls as .xlsx)"
        )
    try:
        from openpyxl import load_workbook
    except ImportError:
        raise ConfigError(
            "file", path.name, "reading .xlsx needs openpyxl: install propcare[reports]"
        ) from None
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as exc:
        raise ValidationError(
            "file", path.name, f"is not a readable .xlsx workbook ({type(exc).__name__})"
        ) from None
    try:
        sheet = book.worksheets[0]
        return [(i, list(cells)) for i, cells in enumerate(sheet.iter_rows(values_only=True), 1)]
    finally:
        book.close()


def _header_row(name: str, rows: list[tuple[int, list[Any]]]) -> tuple[int, dict[int, str]]:
    """The header row's position and its columns (cell index -> column key)."""
    required = {c.key for c in UNIT_COLUMNS if c.required}
    first: list[str] = []
    for position, (_number, cells) in enumerate(rows[:HEADER_ROWS]):
        headers = [_text(c) for c in cells]
        if not first and any(headers):
            first = headers
        found: dict[int, str] = {}
        for index, header in enumerate(headers):
            key = column_key(header)
            if key is None:
                continue
            if key in found.values():
                other = next(headers[i] for i, k in found.items() if k == key)
                raise ValidationError(
                    "columns", [other, header], f"both mean {_COLUMN[key].label}: keep one"
                )
            found[index] = key
        if required <= set(found.values()):
            return position, found
    missing = ", ".join(c.label for c in UNIT_COLUMNS if c.required)
    raise ValidationError(
        "columns",
        first,
        f"{name} needs a header row (within the first {HEADER_ROWS} rows) with the columns "
        f"{missing}; see `propcare import units --help`",
    )


def read_archive(path: str | os.PathLike[str]) -> ArchiveSheet:
    """Read an archive file: a .csv (UTF-8, with or without BOM, or GB18030) or the first sheet
    of an .xlsx workbook.

    The header row is the first of the first :data:`HEADER_ROWS` rows that names the required
    columns; other columns are ignored, blank rows skipped. Raises ValidationError for a file
    that cannot be read, lacks the required columns, names a column twice or has no rows under
    its header; ConfigError for an .xlsx file when openpyxl is not installed.
    """
    path = Path(path)
    rows = _file_rows(path)
    position, columns = _header_row(path.name, rows)
    header_cells = rows[position][1]
    data = [
        SheetRow(n, {key: cells[i] if i < len(cells) else None for i, key in columns.items()})
        for n, cells in rows[position + 1 :]
        if any(_text(c) for c in cells)
    ]
    if not data:
        raise ValidationError("file", path.name, "has no rows under its header row")
    return ArchiveSheet(
        source=path.name,
        headers={key: _text(header_cells[i]) for i, key in columns.items()},
        rows=tuple(data),
        ignored=tuple(
            _text(c) for i, c in enumerate(header_cells) if i not in columns and _text(c)
        ),
    )


def sheet_from_rows(rows: Iterable[Mapping[str, object]], source: str = "rows") -> ArchiveSheet:
    """Rows already in memory as an :class:`ArchiveSheet`: one mapping per unit.

    A mapping's keys are matched like a file's headers (``"floor_area"``, ``"建筑面积(㎡)"``,
    ``"Floor area (m2)"`` and the aliases alike); values may be text or typed (numbers,
    :class:`~datetime.date`). Rows are numbered from 1 in the order given, blank ones counted
    but skipped. Raises ValidationError when no row holds a value, when no row has one of the
    required columns, or when a row names a column twice.
    """
    headers: dict[str, str] = {}
    ignored: dict[str, None] = {}  # a dict keeps the order they were first seen in
    data: list[SheetRow] = []
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, Mapping):
            raise ValidationError(
                "rows", type(row).__name__, f"row {number} must be a mapping of column to value"
            )
        values: dict[str, object] = {}
        named: dict[str, str] = {}
        for name, value in row.items():
            key = column_key(name)
            if key is None:
                if _text(name):
                    ignored.setdefault(_text(name), None)
                continue
            if key in named:
                raise ValidationError(
                    "columns", [named[key], str(name)], f"both mean {_COLUMN[key].label}: keep one"
                )
            named[key] = str(name)
            headers.setdefault(key, str(name))
            values[key] = value
        if any(_text(v) for v in row.values()):
            data.append(SheetRow(number, values))
    if not data:
        raise ValidationError(source, 0, "has no rows with values to import")
    missing = [c.label for c in UNIT_COLUMNS if c.required and c.key not in headers]
    if missing:
        raise ValidationError(
            "columns",
            sorted(headers.values()),
            f"{source} need the columns {', '.join(missing)} (by key or by header)",
        )
    return ArchiveSheet(source, headers, tuple(data), tuple(ignored))


def archive_sheet(source: ArchiveSource) -> ArchiveSheet:
    """Any :data:`ArchiveSource` as a sheet: a path is read, rows are matched, a sheet is kept."""
    if isinstance(source, ArchiveSheet):
        return source
    if isinstance(source, (str, os.PathLike)):
        return read_archive(source)
    return sheet_from_rows(source)


# --- checking ----------------------------------------------------------------------------


def _area(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValidationError("floor_area", value, "is not a number")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))  # the number as the cell shows it, not its binary value
    text = unicodedata.normalize("NFKC", str(value)).strip().lower()
    text = re.sub(r"\s*(m2|平方米|平米)$", "", text).replace(",", "")
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ValidationError("floor_area", value, "is not a number (square metres)") from None


def _day(field: str, value: Any) -> date | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    found = _DATE.match(str(value).strip())
    if found:
        try:
            return date(int(found[1]), int(found[2]), int(found[3]))
        except ValueError:
            pass
    raise ValidationError(field, value, "must be a date written YYYY-MM-DD, e.g. 2019-06-30")


def _use(value: Any) -> UnitUse | str:
    text = _text(value)
    if not text:
        return UnitUse.RESIDENTIAL
    return _USES.get(text, text.lower())


def _check_row(
    estate_id: EstateId, number: int, cells: Mapping[str, Any], sheet: ArchiveSheet
) -> tuple[CheckedRow | None, list[ImportProblem]]:
    """A row through the registry's own validators: every problem of it, or the row to import."""
    problems: list[ImportProblem] = []
    failed: set[str] = set()

    def bad(key: str, shown: str, rule: str) -> None:
        failed.add(key)
        problems.append(ImportProblem(number, sheet.header(key), shown, rule))

    def check(key: str, value: Any, make: Callable[[], Any]) -> Any:
        try:
            return make()
        except PropcareError as exc:
            # An ID number stays masked in the report, as the validator masks it.
            bad(key, str(exc.value) if key == "id_card" else _text(value), exc.rule)
            return None

    def probe(**fields: Any) -> Unit:
        return Unit(**{"estate_id": estate_id, "building_id": BuildingId(0), **fields})

    building = _text(cells.get("building"))
    check("building", building, lambda: Building(estate_id, building))
    unit_number = _text(cells.get("unit"))
    check("unit", unit_number, lambda: probe(number=unit_number, floor_area=Decimal(1)))
    raw_area = cells.get("floor_area")
    area: Decimal | None = None
    if _text(raw_area) == "":
        bad("floor_area", "", "is required: square metres, e.g. 89.5")
    else:
        probed = check(
            "floor_area", raw_area, lambda: probe(number="x", floor_area=_area(raw_area))
        )
        area = None if probed is None else probed.floor_area
    use = check(
        "use",
        cells.get("use"),
        lambda: probe(number="x", floor_area=Decimal(1), use=_use(cells.get("use"))).use,
    )
    handover = check(
        "handover_date",
        cells.get("handover_date"),
        lambda: _day("handover_date", cells.get("handover_date")),
    )
    name = _text(cells.get("owner"))
    phone_texts = [p.strip() for p in _PHONE_SPLIT.split(_text(cells.get("phones"))) if p.strip()]
    phones = [check("phones", p, functools.partial(Phone, p)) for p in phone_texts]
    card_text = _text(cells.get("id_card"))
    card = check("id_card", card_text, lambda: IdCardNumber(card_text)) if card_text else None
    since = check(
        "owner_since",
        cells.get("owner_since"),
        lambda: _day("owner_since", cells.get("owner_since")),
    )
    owner: Owner | None = None
    if not name and (phone_texts or card_text):
        bad("owner", "", "is required when phones or an ID number are given")
    elif name:
        owner = check("owner", name, lambda: Owner(estate_id, name, [p for p in phones if p], card))
        start = since or handover
        if start is None and not failed & {"handover_date", "owner_since"}:
            bad(
                "handover_date",
                "",
                "is required for a unit with an owner: the ownership starts then "
                "(or give 入住日期 / Owner since)",
            )
    if problems:
        return None, problems
    unit = probe(number=unit_number, floor_area=area, use=use, handover_date=handover)
    return CheckedRow(number, building, unit, owner, since or handover), []


def check_sheet(
    estate_id: EstateId, sheet: ArchiveSheet, progress: ImportProgress | None = None
) -> tuple[list[CheckedRow], list[ImportProblem]]:
    """Check every row of ``sheet`` on its own and against the rows before it.

    Answers the good rows and the problems of the others; a unit listed twice is good the
    first time only. What the estate already holds (a unit number taken) is checked when the
    rows are written.
    """
    problems: list[ImportProblem] = []
    good: list[CheckedRow] = []
    seen: dict[tuple[str, str], int] = {}
    total = len(sheet.rows)
    if progress is not None:
        progress(0, total)
    for done, line in enumerate(sheet.rows, start=1):
        row, found = _check_row(estate_id, line.row, line.values, sheet)
        if row is not None:
            where = (row.building, row.unit.number)
            if where in seen:
                found = [
                    ImportProblem(
                        line.row,
                        sheet.header("unit"),
                        row.unit.number,
                        f"is also in row {seen[where]} for building {row.building}: "
                        "a unit is listed once",
                    )
                ]
            else:
                seen[where] = line.row
                good.append(row)
        problems.extend(found)
        if progress is not None:
            progress(done, total)
    return good, problems


def owner_key(owner: Owner) -> tuple[str, tuple[str, ...], str | None]:
    """Rows of one owner (same name, phones and ID number) make one owner; a name alone does not.

    An owner already in the estate with the same key is reused by an import.
    """
    card = owner.id_card.reveal() if owner.id_card is not None else None
    return owner.name.strip(), tuple(p.reveal() for p in owner.phones), card
