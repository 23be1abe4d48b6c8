"""The monthly service report: its numbers are the services' numbers, in zh-CN or English,
written as CSV and as an XLSX workbook that Excel (here openpyxl) reads back as numbers."""

from __future__ import annotations

import csv
import html
import importlib.util
import re
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from propcare import (
    Actor,
    FixedClock,
    NotFound,
    PermissionDenied,
    Propcare,
    Recipient,
    ValidationError,
)
from propcare.appraisal.kpi import Band, Kpi, Rule
from propcare.registry.model import EstateId
from propcare.reports.export import cell_text, sheet_names, write_csv, write_xlsx
from propcare.reports.model import Chart, ChartKind, Column, Report, Section
from propcare.reports.monthly import LABELS, SECTION_KEYS, build_monthly, write_monthly
from propcare.testing import FlakyChannel
from propcare.tickets.stats import CATEGORIES, CHANNELS, TARGETS

SH = ZoneInfo("Asia/Shanghai")
ADMIN = Actor.system()
PERIOD = "2026-10"
START = datetime(2026, 10, 1, tzinfo=SH)
END = datetime(2026, 11, 1, tzinfo=SH)
NOW = datetime(2026, 11, 2, 12, 0, tzinfo=SH)
CUTOFF = END - timedelta(microseconds=1)  # money as of the month's last instant
CJK = re.compile(r"[\u4e00-\u9fff]")
CHART_CLASSES = {ChartKind.BAR: "BarChart", ChartKind.LINE: "LineChart", ChartKind.PIE: "PieChart"}


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from propcare.demo import DemoOptions, run_demo

    db = tmp_path_factory.mktemp("report") / "demo.db"
    run_demo(DemoOptions(db=db, units=200, months=2, seed=7, today=date(2026, 11, 2)))
    return db


@pytest.fixture(scope="module")
def demo(demo_db: Path) -> Iterator[tuple[Propcare, EstateId]]:
    from propcare.demo import sqlite_url

    clock = FixedClock(NOW)
    with Propcare.open(sqlite_url(demo_db), load_entrypoints=False, clock=clock) as app:
        (estate,) = app.estates.list(ADMIN)
        yield app, estate.id


@pytest.fixture(scope="module")
def report(demo: tuple[Propcare, EstateId]) -> Report:
    app, estate_id = demo
    return build_monthly(app, ADMIN, estate_id, PERIOD)


@pytest.fixture(scope="module")
def written(
    demo: tuple[Propcare, EstateId], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Report, dict[str, Path]]:
    app, estate_id = demo
    out = tmp_path_factory.mktemp("written")
    return build_monthly(app, ADMIN, estate_id, PERIOD), write_monthly(
        app, ADMIN, estate_id, PERIOD, out
    )


def _table(report: Report, key: str) -> dict[Any, tuple[Any, ...]]:
    """A section's rows by their first value."""
    return {row[0]: row[1:] for row in report.section(key).rows}


# --- the numbers are the services' numbers ---------------------------------------------


def test_sections_in_order_with_values_of_their_column_kinds(report: Report) -> None:
    assert tuple(s.key for s in report.sections) == SECTION_KEYS
    for section in report.sections:
        assert section.title == LABELS["zh-CN"][section.key]
        for row in section.rows:
            for value, column in zip(row, section.columns, strict=True):
                if value is None:
                    assert column.kind in ("rate", "money", "score", "count", "text")
                elif column.kind == "count":
                    assert type(value) is int, (section.key, column.title, value)
                elif column.kind in ("money", "rate", "score"):
                    assert isinstance(value, Decimal), (section.key, column.title, value)
                    if column.kind == "money":
                        assert value == value.quantize(Decimal("0.01"))
                    if column.kind == "rate":
                        assert value == value.quantize(Decimal("0.0001"))
                else:
                    assert isinstance(value, str), (section.key, column.title, value)


def test_ticket_counts_and_rates_equal_the_metrics(
    demo: tuple[Propcare, EstateId], report: Report
) -> None:
    app, estate_id = demo
    (m,) = app.ticket_stats.metrics(ADMIN, estate_id, START, END, as_of=NOW)
    (patrol,) = app.ticket_stats.metrics(ADMIN, estate_id, START, END, as_of=NOW, source="patrol")
    assert m.opened > 100 and patrol.opened > 0
    zh = LABELS["zh-CN"]
    # The intake (calls, visits, online, letter box) and patrol or planned work, apart.
    assert report.section("tickets_summary").rows == tuple(
        (zh[f"source.{x.source}"], PERIOD, x.opened, x.closed, x.cancelled, x.open_now,
         x.outside_dispatched, x.outside_completed)
        for x in (m, patrol)
    )  # fmt: skip
    by_category = _table(report, "tickets_by_category")
    assert list(by_category) == [zh[f"category.{c}"] for c in CATEGORIES]
    for c in CATEGORIES:
        count, share = by_category[zh[f"category.{c}"]]
        assert count == m.by_category[c]
        assert share == (Decimal(count) / m.opened).quantize(Decimal("0.0001"))
    assert sum(v[0] for v in by_category.values()) == m.opened
    by_channel = _table(report, "tickets_by_channel")
    assert {k: v[0] for k, v in by_channel.items()} == {
        zh[f"channel.{c}"]: m.by_channel[c] for c in CHANNELS if c != "patrol"
    }
    assert sum(v[0] for v in by_channel.values()) == m.opened  # patrol is not intake
    timely = _table(report, "timeliness")
    for target in TARGETS:
        rate, apart = m.timely[target], patrol.timely[target]
        assert timely[zh[f"target.{target}"]] == (
            rate.numerator, rate.denominator, rate.value,
            apart.numerator, apart.denominator, apart.value,
        )  # fmt: skip
        assert rate.value is not None
    quality = _table(report, "service_quality")
    for key, rate in (
        ("rework", m.rework), ("callback", m.callback), ("satisfaction", m.satisfaction),
        ("complaint_resolution", m.complaint_resolution),
    ):  # fmt: skip
        assert quality[zh[f"quality.{key}"]] == (rate.numerator, rate.denominator, rate.value)


def test_daily_intake_counts_the_tickets_opened_each_local_day(
    demo: tuple[Propcare, EstateId], report: Report
) -> None:
    app, _ = demo
    with app.unit_of_work(readonly=True) as uow:
        conn = uow.connection  # type: ignore[attr-defined]
        # The intake: no patrol finding, no ticket of a plan.
        opened = [
            datetime.fromisoformat(r[0])
            for r in conn.execute(
                "SELECT opened_at FROM tickets WHERE channel <> 'patrol' AND plan_id IS NULL"
            )
        ]
    per_day = Counter(t.astimezone(SH).date().isoformat() for t in opened if START <= t < END)
    days = report.section("daily_intake").rows
    assert [d for d, _ in days] == [
        (date(2026, 10, 1) + timedelta(n)).isoformat() for n in range(31)
    ]
    assert {d: n for d, n in days} == {d: per_day.get(str(d), 0) for d, _ in days}
    (intake, _patrol) = report.section("tickets_summary").rows
    assert sum(n for _, n in days if isinstance(n, int)) == intake[2]


def test_collection_and_recovery_per_building_equal_the_arrears_service(
    demo: tuple[Propcare, EstateId], report: Report
) -> None:
    app, estate_id = demo
    rates = app.arrears.collection_rate(ADMIN, estate_id, PERIOD, group_by="building", as_of=CUTOFF)
    recovered = dict(app.arrears.recovery(ADMIN, estate_id, START, END, group_by="building"))
    table = _table(report, "collection_by_building")
    assert list(table) == [b.name for b in app.estates.buildings(ADMIN, estate_id)]
    for r in rates:
        assert table[r.group] == (
            r.billed,
            r.cash,
            r.credits,
            r.rate,
            recovered.get(str(r.group), Decimal("0.00")),
        )
    assert any(v[4] > 0 for v in table.values())  # earlier years' arrears came in
    (whole,) = app.arrears.collection_rate(ADMIN, estate_id, PERIOD, as_of=CUTOFF)
    aging = app.arrears.aging(ADMIN, estate_id, as_of=CUTOFF)
    (summary,) = report.section("collection_summary").rows
    assert summary == (
        PERIOD, whole.billed, whole.cash, whole.compensation, whole.other_credits, whole.rate,
        sum(recovered.values()), sum(a for _, a in aging),
    )  # fmt: skip
    assert whole.billed == sum(v[0] for v in table.values())
    # The report's default cut-off is the rate's own: the month's last instant, stated.
    (default,) = app.arrears.collection_rate(ADMIN, estate_id, PERIOD)
    assert default == whole and default.as_of == CUTOFF
    assert "2026-10-31 23:59" in report.section("collection_summary").note


def test_aging_buckets_sum_to_the_roster_at_the_end_of_the_month(
    demo: tuple[Propcare, EstateId], report: Report
) -> None:
    app, estate_id = demo
    aging = app.arrears.aging(ADMIN, estate_id, as_of=CUTOFF, include_not_due=True)
    rows = report.section("arrears_aging").rows
    assert [(label, amount) for label, amount, _share in rows] == [
        (LABELS["zh-CN"][f"aging.{label}"], amount) for label, amount in aging
    ]
    assert rows[0][0] == "未到期"  # what is billed but not due yet comes first, apart
    roster = app.arrears.roster(ADMIN, estate_id, as_of=CUTOFF, include_not_due=True)
    assert sum(a for _, a, _ in rows if isinstance(a, Decimal)) == sum(x.amount for x in roster)
    past_due = app.arrears.roster(ADMIN, estate_id, as_of=CUTOFF)
    assert sum(a for _, a, _ in rows[1:] if isinstance(a, Decimal)) == sum(
        x.amount for x in past_due
    )
    assert rows[1][1] != Decimal("0.00")  # the month's own bills: due the 16th, 0-30 days


def test_commission_totals_equal_the_settled_statements(
    demo: tuple[Propcare, EstateId], report: Report
) -> None:
    app, estate_id = demo
    statements = app.commission.statements(ADMIN, estate_id, period=PERIOD)
    assert statements
    names: dict[int, str] = {s.id: s.name for s in app.staff.list(ADMIN, estate_id)}
    totals: dict[str, Decimal] = {}
    for s in statements:
        totals[names[s.staff_id]] = totals.get(names[s.staff_id], Decimal(0)) + s.total
    section = report.section("commission")
    assert {row[0]: row[-1] for row in section.rows} == totals
    for row in section.rows:
        assert row[4] + row[5] == row[6]  # type: ignore[operator]
    assert section.note == LABELS["zh-CN"]["note.commission"]


def test_appraisal_ranking_equals_the_appraisal(
    demo: tuple[Propcare, EstateId], report: Report
) -> None:
    app, estate_id = demo
    appraisal = app.appraisal.appraise(ADMIN, estate_id, PERIOD)
    rows = report.section("appraisal").rows
    assert len(rows) == len(appraisal.results)
    got = {(row[0], row[3], row[4], row[5], row[6]) for row in rows}
    assert got == {(r.name, r.total, r.grade, r.rank, r.bonus) for r in appraisal.results}
    staff_totals = [row[3] for row in rows if row[1] in {"客服", "维修/秩序", "收费员"}]
    assert staff_totals == sorted(staff_totals, reverse=True)  # type: ignore[type-var]


def test_an_unsettled_month_has_no_commission_and_says_so(
    demo: tuple[Propcare, EstateId],
) -> None:
    app, estate_id = demo
    running = build_monthly(app, ADMIN, estate_id, "2026-11", lang="en")
    commission = running.section("commission")
    assert commission.rows == ()
    assert commission.note == "Commission for 2026-11 has not been settled yet."
    assert [d for d, _ in running.section("daily_intake").rows] == ["2026-11-01", "2026-11-02"]
    with pytest.raises(ValidationError, match="has not begun"):
        build_monthly(app, ADMIN, estate_id, "2026-12")
    with pytest.raises(ValidationError):
        build_monthly(app, ADMIN, estate_id, "2026-10", lang="fr")
    with pytest.raises(ValidationError):
        build_monthly(app, ADMIN, estate_id, "October")


# --- languages -------------------------------------------------------------------------


def test_zh_cn_is_the_default_and_en_gives_english(
    demo: tuple[Propcare, EstateId], report: Report
) -> None:
    app, estate_id = demo
    assert LABELS["zh-CN"].keys() == LABELS["en"].keys()
    assert (report.lang, report.title, report.subtitle) == (
        "zh-CN",
        "月度服务报告",
        "锦绣花园 · 2026年10月",
    )
    english = build_monthly(app, ADMIN, estate_id, PERIOD, lang="en")
    assert (english.title, english.subtitle) == (
        "Monthly service report",
        "锦绣花园 · October 2026",
    )
    for zh, en in zip(report.sections, english.sections, strict=True):
        assert en.title == LABELS["en"][en.key] and not CJK.search(en.title)
        assert not any(CJK.search(c.title) for c in en.columns)
        assert en.chart is None or not CJK.search(en.chart.title)
        assert not CJK.search(en.note)
        # The same numbers in both languages.
        assert [r[1:] for r in zh.rows] == [r[1:] for r in en.rows] or zh.key == "appraisal"
    assert (
        _table(english, "tickets_by_category")["In-home repair"]
        == _table(report, "tickets_by_category")["居家维修"]
    )


# --- permissions -----------------------------------------------------------------------


def test_the_report_needs_a_manager_of_the_estate(demo: tuple[Propcare, EstateId]) -> None:
    app, estate_id = demo
    manager = Actor("经理", frozenset({"manager"}), frozenset({estate_id}))
    assert build_monthly(app, manager, estate_id, PERIOD).section("commission").rows
    desk = Actor("前台", frozenset({"front_desk"}), frozenset({estate_id}))
    with pytest.raises(PermissionDenied):
        build_monthly(app, desk, estate_id, PERIOD)
    elsewhere = Actor("别处经理", frozenset({"manager"}), frozenset({EstateId(estate_id + 1)}))
    with pytest.raises(NotFound):
        build_monthly(app, elsewhere, estate_id, PERIOD)


# --- notices, on a small estate of their own ----------------------------------------------

NOTICE = {"estate": "翠苑", "title": "停水通知", "name": "张三", "body": "明日9:00-12:00停水。"}
SMS = {"estate": "翠苑", "name": "张三", "unit": "1栋101", "amount": "300.00"}


def test_notices_sent_count_the_months_notifications_by_template_and_channel(
    tmp_path: Path,
) -> None:
    clock = FixedClock(datetime(2026, 9, 20, 10, tzinfo=SH))
    flaky = FlakyChannel(5, permanent=True)
    config = {"channels": {"log": {}, "flaky": {}}, "dispatch": {"auto": False}}
    with Propcare.open(
        "sqlite://:memory:", plugins=[flaky], load_entrypoints=False, clock=clock, config=config
    ) as app:
        estate = app.estates.create(ADMIN, "翠苑")
        other = app.estates.create(ADMIN, "别苑")
        for name in ("1栋", "2栋"):
            app.estates.add_building(ADMIN, estate.id, name)
        owner = Recipient("张三", "13812345678")
        app.notify.send(ADMIN, estate.id, "log", owner, "notice", NOTICE)  # September
        clock.set(datetime(2026, 10, 9, 10, tzinfo=SH))
        app.notify.send(ADMIN, estate.id, "log", owner, "notice", NOTICE)
        app.notify.send(ADMIN, estate.id, "log", owner, "notice", NOTICE)
        app.notify.send(ADMIN, estate.id, "flaky", owner, "notice", NOTICE)
        app.notify.send(ADMIN, other.id, "log", owner, "notice", NOTICE)  # another estate
        app.dispatch()
        app.notify.send(ADMIN, estate.id, "log", owner, "dunning_sms", SMS)  # not sent yet
        clock.set(datetime(2026, 10, 15, 10, tzinfo=SH))
        report = build_monthly(app, ADMIN, estate.id, PERIOD)
        english = build_monthly(app, ADMIN, estate.id, PERIOD, lang="en")
        paths = write_monthly(app, ADMIN, estate.id, PERIOD, tmp_path)
    # template, channel, messages, delivered, failed, pending
    assert report.section("notices_sent").rows == (
        ("催缴短信", "log", 1, 0, 0, 1),
        ("通知公告", "flaky", 1, 0, 1, 0),
        ("通知公告", "log", 2, 2, 0, 0),
    )
    assert [r[0] for r in english.section("notices_sent").rows] == [
        "Dunning SMS", "Notice", "Notice"
    ]  # fmt: skip
    # A quiet estate: no tickets (rates None, never 100%), nothing billed, nothing settled.
    assert [r[3] for r in report.section("timeliness").rows] == [None] * 4
    assert report.section("collection_by_building").rows == (
        ("1栋", Decimal("0.00"), Decimal("0.00"), Decimal("0.00"), None, Decimal("0.00")),
        ("2栋", Decimal("0.00"), Decimal("0.00"), Decimal("0.00"), None, Decimal("0.00")),
    )
    assert len(report.section("daily_intake").rows) == 15  # the month so far
    assert report.section("commission").rows == ()
    assert report.section("commission").note == "2026-10的提成尚未结算。"
    assert report.section("appraisal").note == LABELS["zh-CN"]["note.appraisal_none"]
    book = openpyxl.load_workbook(paths["xlsx"])
    rates = book[sheet_names(report)[1 + SECTION_KEYS.index("timeliness")]]
    assert [rates.cell(r, 4).value for r in range(2, 6)] == [None] * 4
    with paths["csv:timeliness"].open(encoding="utf-8-sig", newline="") as fh:
        assert [row[3] for row in csv.reader(fh)][1:] == [""] * 4


# --- CSV and XLSX ----------------------------------------------------------------------


def _read_csv(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM, for Excel
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


def test_write_monthly_writes_the_workbook_and_a_csv_per_section(
    written: tuple[Report, dict[str, Path]],
) -> None:
    _report, paths = written
    assert paths["xlsx"].name == "monthly-2026-10-1.xlsx" and paths["xlsx"].exists()
    csvs = {k.removeprefix("csv:"): p for k, p in paths.items() if k.startswith("csv:")}
    assert list(csvs) == list(SECTION_KEYS)
    assert all(p.name == f"{k}.csv" and p.exists() for k, p in csvs.items())
    has_html = importlib.util.find_spec("propcare.reports.html") is not None
    assert ("html" in paths) is has_html
    assert set(paths) == {"xlsx", *(f"csv:{k}" for k in SECTION_KEYS)} | (
        {"html"} if has_html else set()
    )


def test_csv_files_have_the_reports_rows(written: tuple[Report, dict[str, Path]]) -> None:
    report, paths = written
    for section in report.sections:
        header, *body = _read_csv(paths[f"csv:{section.key}"])
        assert header == [c.title for c in section.columns]
        assert len(body) == len(section.rows)
        for line, row in zip(body, section.rows, strict=True):
            for text, value, column in zip(line, row, section.columns, strict=True):
                if value is None:
                    assert text == ""
                elif column.kind == "money":
                    assert re.fullmatch(r"-?\d+\.\d\d", text) and Decimal(text) == value
                elif column.kind == "rate":
                    assert re.fullmatch(r"\d+\.\d{4}", text) and Decimal(text) == value
                elif column.kind in ("count", "score"):
                    assert Decimal(text) == value
                else:
                    assert text == value


def test_the_workbook_stores_numbers_as_numbers_with_formats_frozen_headers_and_charts(
    written: tuple[Report, dict[str, Path]],
) -> None:
    report, paths = written
    book = openpyxl.load_workbook(paths["xlsx"])
    names = sheet_names(report)
    assert book.sheetnames == names
    assert len(book.sheetnames) == len(report.sections) + 1
    overview = book[names[0]]
    assert names[0] == "概览"
    assert (overview["A1"].value, overview["A2"].value) == (report.title, report.subtitle)
    links = [overview.cell(5 + i, 1) for i in range(len(report.sections))]
    assert [c.value for c in links] == [s.title for s in report.sections]
    assert [c.hyperlink.location for c in links] == [f"'{n}'!A1" for n in names[1:]]
    money_cells = 0
    for section, name in zip(report.sections, names[1:], strict=True):
        ws = book[name]
        assert ws.freeze_panes == "A2", name
        assert [c.value for c in ws[1]][: len(section.columns)] == [
            c.title for c in section.columns
        ]
        for r, row in enumerate(section.rows, start=2):
            for col, (value, column) in enumerate(zip(row, section.columns, strict=True), 1):
                cell = ws.cell(r, col)
                if value is None:
                    assert cell.value is None
                elif column.kind == "text":
                    assert cell.value == value and cell.data_type == "s"
                else:
                    assert cell.data_type == "n", (name, r, col, cell.value)
                    assert isinstance(cell.value, int | float)
                    assert Decimal(str(cell.value)) == value
                    if column.kind == "money":
                        assert cell.number_format == "#,##0.00"
                        money_cells += 1
                    elif column.kind == "rate":
                        assert cell.number_format == "0.00%"
        assert ws.column_dimensions["A"].width >= 8
        charts = ws._charts
        if section.chart is not None and section.rows:
            assert len(charts) == 1, name
            assert type(charts[0]).__name__ == CHART_CLASSES[section.chart.kind]
        else:
            assert charts == [], name
    assert money_cells > 50


def test_the_english_workbook_names_its_sheets_in_english(
    demo: tuple[Propcare, EstateId], tmp_path: Path
) -> None:
    app, estate_id = demo
    english = build_monthly(app, ADMIN, estate_id, PERIOD, lang="en")
    book = openpyxl.load_workbook(write_xlsx(english, tmp_path / "en.xlsx"))
    assert book.sheetnames[0] == "Overview"
    assert book.sheetnames[1:] == [s.title for s in english.sections]  # none cut short
    assert all(len(name) <= 31 for name in book.sheetnames)


# --- the writers on their own ----------------------------------------------------------


def _section(key: str, title: str, rows: tuple[tuple[Any, ...], ...] = ()) -> Section:
    return Section(key, title, (Column("名称"), Column("金额", "money")), rows)


def test_sheet_names_are_short_clean_and_unique(tmp_path: Path) -> None:
    report = Report(
        "报告", "某小区", "zh-CN",
        (
            _section("a", "概览"), _section("b", "收缴率 [按楼栋] a/b: c*d?"),
            _section("c", "x" * 40), _section("d", "X" * 40), _section("e", "'"),
        ),
    )  # fmt: skip
    names = sheet_names(report)
    assert names == ["概览", "概览~2", "收缴率 按楼栋 a b c d", "x" * 31, "X" * 29 + "~2", "e"]
    assert all(len(n) <= 31 for n in names)
    assert openpyxl.load_workbook(write_xlsx(report, tmp_path / "names.xlsx")).sheetnames == names


def test_csv_cells_never_turn_into_formulas_and_money_keeps_two_places(tmp_path: Path) -> None:
    report = Report(
        "报告", "某小区", "zh-CN",
        (
            Section(
                "odd", "怪值",
                (Column("名称"), Column("金额", "money"), Column("比率", "rate"),
                 Column("数", "count"), Column("分", "score")),
                (("=SUM(A1)", Decimal("-5"), Decimal("1"), 3, Decimal("90.5")),
                 ("@cmd", None, None, None, None)),
                chart=Chart(ChartKind.PIE, 0, (1,), "饼"),
            ),
        ),
    )  # fmt: skip
    (path,) = write_csv(report, tmp_path / "csv")
    assert _read_csv(path) == [
        ["名称", "金额", "比率", "数", "分"],
        ["'=SUM(A1)", "-5.00", "1.0000", "3", "90.50"],
        ["'@cmd", "", "", "", ""],
    ]
    # One plain number is read as the number it says, so it is left as it is; a unit number
    # like -1-023 a spreadsheet would compute (-24), so it is marked as text.
    assert cell_text("-10", "text") == "-10"
    assert cell_text("-1-023", "text") == "'-1-023"
    assert cell_text(Decimal("-5"), "money") == "-5.00"
    book = openpyxl.load_workbook(write_xlsx(report, tmp_path / "odd.xlsx"))
    ws = book["怪值"]
    assert ws["A2"].value == "=SUM(A1)" and ws["A2"].data_type == "s"  # text, not a formula
    assert ws["B2"].value == -5 and ws["B2"].number_format == "#,##0.00"
    assert len(ws._charts) == 1


HOSTILE = '=HYPERLINK("http://x","y")'


def test_the_monthly_report_never_writes_a_name_as_a_formula(tmp_path: Path) -> None:
    """An estate and a building named like a formula: text in the CSV (a leading ') and in
    the workbook (a text cell with the quote prefix); the money beside them stays numbers."""
    with Propcare.open("sqlite://:memory:", load_entrypoints=False, clock=FixedClock(NOW)) as app:
        estate = app.estates.create(ADMIN, HOSTILE)
        app.estates.add_building(ADMIN, estate.id, HOSTILE)
        written = write_monthly(app, ADMIN, estate.id, PERIOD, tmp_path)
    by_building = _read_csv(written["csv:collection_by_building"])
    assert by_building[1][:3] == ["'" + HOSTILE, "0.00", "0.00"]
    assert not any(cell.startswith("=") for path in written.values() if path.suffix == ".csv"
                   for row in _read_csv(path) for cell in row)  # fmt: skip

    book = openpyxl.load_workbook(written["xlsx"])
    overview = book[book.sheetnames[0]]
    subtitle = overview["A2"]
    assert subtitle.value.startswith(HOSTILE) and subtitle.data_type == "s"
    assert subtitle.quotePrefix
    sheet = book[LABELS["zh-CN"]["collection_by_building"]]
    cell = sheet["A2"]
    assert (cell.value, cell.data_type, cell.quotePrefix) == (HOSTILE, "s", True)
    assert (sheet["B2"].value, sheet["B2"].data_type, sheet["B2"].quotePrefix) == (0, "n", False)
    formulas = [c.coordinate for ws in book for row in ws.iter_rows() for c in row
                if c.data_type == "f"]  # fmt: skip
    assert formulas == []


# --- a month whose deadlines wait for holiday data (2027) ---------------------------------
#
# From 2027 no installed holiday source covers the year: deadlines reaching into it are
# computed on the weekly windows alone (provisional) or, under the strict setting, held
# open. A report of such a month must not pass its timeliness off as final.

# A TEST FIXTURE, not the State Council's 2027 schedule: it names only New Year's Day.
FIXTURE_2027 = """\
name = "test fixture for 2027 (NOT the State Council schedule)"
covers = [2027]
days_off = [2027-01-01]
days_on = []
"""
STRICT: dict[str, Any] = {"sla": {"missing_holiday_data": "strict"}}
JANUARY = "2027-01"
HOW_TO = "docs/how-to/add-next-years-holidays.md"
EN_SUMMARY = [
    "Source", "Month", "Opened", "Closed", "Cancelled", "Still open", "Outside work orders",
    "Outside completed",
]  # fmt: skip
EN_TIMELINESS = [
    "Target", "On time", "Counted", "Timely rate", "Patrol and planned: on time",
    "Patrol and planned: counted", "Patrol and planned: timely rate",
]  # fmt: skip
EN_TIMELINESS_PROVISIONAL = [
    *EN_TIMELINESS[:3], "Timely rate (provisional)", *EN_TIMELINESS[4:6],
    "Patrol and planned: timely rate (provisional)",
]  # fmt: skip


def _with_test_fixture_2027(folder: Path) -> dict[str, Any]:
    """The default calendars, the office one also reading the 2027 test fixture."""
    path = folder / "test-fixture-holidays-2027.toml"
    path.write_text(FIXTURE_2027, encoding="utf-8")
    office = {"mon-fri": ["09:00-12:00", "13:30-18:00"]}
    return {
        "calendars": {
            "office": {"windows": office, "sources": ["cn", {"file": str(path)}]},
            "24x7": {"always": True},
        }
    }


class YearEnd:
    """An estate crossing into 2027 without the year's holiday data: a repair opened on
    New Year's Eve and resolved on 5 January (its resolution deadline provisional), two
    tickets opened in January (three deadlines provisional), and a technician appraised on
    timely resolution. ``open(config)`` opens the same database again, with the same clock.
    """

    def __init__(self, folder: Path, config: dict[str, Any]) -> None:
        self.url = f"sqlite:///{folder / 'year-end.db'}"
        self.clock = FixedClock(datetime(2026, 12, 1, 9, 0, tzinfo=SH))
        self.app = app = self.open(config)
        estate = app.estates.create(ADMIN, "翠苑小区")
        building = app.estates.add_building(ADMIN, estate.id, "1栋")
        unit = app.estates.add_unit(ADMIN, building.id, "1-101", Decimal("89.5"))
        start = date(2024, 1, 1)
        clerk = app.staff.create(
            ADMIN, estate.id, "王客服", ["front_desk"], start, phone="13800000001"
        )
        tech = app.staff.create(
            ADMIN, estate.id, "李师傅", ["technician"], start, phone="13800000002"
        )
        self.estate = estate.id
        desk = app.staff.actor_for(ADMIN, clerk.id, start)
        app.appraisal.add_scorecard(
            ADMIN, estate.id, "technician", effective_from=date(2026, 12, 1),
            kpis=[Kpi("timely_resolution", Decimal(100),
                      Rule("linear", target=Decimal(1), floor=Decimal(0)))],
            bands=[Band("D", Decimal(0), Decimal(60)), Band("A", Decimal(60), Decimal(100))],
        )  # fmt: skip

        def ticket(at: datetime, category: str) -> int:
            self.clock.set(at)
            return app.tickets.open(
                desk, estate.id, category=category, channel="phone", summary="厨房水管漏水",
                unit_id=unit.id, at=at,
            ).id  # fmt: skip

        eve = datetime(2026, 12, 31, 16, 0, tzinfo=SH)
        leak = ticket(eve, "home_repair")
        app.tickets.assign(desk, leak, staff_id=tech.id, at=eve)
        resolved = datetime(2027, 1, 5, 10, 0, tzinfo=SH)
        self.clock.set(resolved)
        app.tickets.resolve(desk, leak, at=resolved)
        ticket(datetime(2027, 1, 4, 9, 0, tzinfo=SH), "home_repair")  # arrival, resolution
        ticket(datetime(2027, 1, 5, 11, 0, tzinfo=SH), "consultation")  # resolution
        self.clock.set(datetime(2027, 1, 20, 9, 0, tzinfo=SH))

    def open(self, config: dict[str, Any]) -> Propcare:
        return Propcare.open(self.url, load_entrypoints=False, clock=self.clock, config=config)

    def report(self, period: str = JANUARY, lang: str = "en") -> Report:
        return build_monthly(self.app, ADMIN, self.estate, period, lang=lang)


@pytest.fixture
def year_end(tmp_path: Path) -> Iterator[YearEnd]:
    estate = YearEnd(tmp_path, {})
    yield estate
    estate.app.close()


def _html_section(page: str, key: str) -> str:
    """A section's card of the page, its text unescaped."""
    match = re.search(rf'<section class="card" id="section-{key}".*?</section>', page, re.S)
    assert match, key
    return html.unescape(match.group(0))


def test_a_month_on_provisional_deadlines_says_so_in_every_format(
    year_end: YearEnd, tmp_path: Path
) -> None:
    app, estate_id = year_end.app, year_end.estate
    gaps = app.tickets.holiday_gaps(ADMIN, estate_id, period=JANUARY)
    assert (gaps.tickets, gaps.provisional, gaps.held) == (2, 3, 0)
    report = year_end.report()
    caveat = (
        "2 tickets' timeliness rests on provisional deadlines (3 deadlines provisional: "
        f"2027 holiday data missing — see {HOW_TO})."
    )
    summary, timeliness = report.section("tickets_summary"), report.section("timeliness")
    assert summary.note.endswith("deadlines judged as of 2027-01-20 09:00. " + caveat)
    assert timeliness.note == summary.note
    assert report.section("service_quality").note.endswith("09:00.")  # no deadlines in it
    assert [c.title for c in summary.columns] == [
        *EN_SUMMARY, "On provisional deadlines", "Deadline held open", "Awaiting holiday data",
    ]  # fmt: skip
    (row, patrol) = summary.rows
    assert row[2] == 2 and row[-3:] == (  # both January tickets
        2, 0, f"3 deadlines provisional: 2027 holiday data missing — see {HOW_TO}"
    )  # fmt: skip
    assert patrol[2] == 0 and patrol[-3:] == (0, 0, "")  # no patrol: nothing waits
    assert [c.title for c in timeliness.columns] == EN_TIMELINESS_PROVISIONAL
    # The appraisal of a month without holiday data says what it said before.
    assert report.section("appraisal").note == (
        "Not appraised: the calendar has no holiday data for 2027."
    )

    chinese = year_end.report(lang="zh-CN")
    zh_caveat = (
        "2 张工单的及时率按临时截止时间计算（3 个临时截止时间：缺少 2027 年节假日数据，"
        f"见 {HOW_TO}）。"
    )
    assert chinese.section("timeliness").note == (
        "统计2027-01-01至2027-01-31受理的工单（来电、来访、线上、意见箱；巡查发现与计划工单"
        "另计）；及时率等截至2027-01-20 09:00。" + zh_caveat
    )
    assert chinese.section("tickets_summary").note == chinese.section("timeliness").note
    assert chinese.section("timeliness").columns[3].title == "及时率（暂定）"
    zh_summary = chinese.section("tickets_summary")
    assert [c.title for c in zh_summary.columns][-3:] == [
        "临时截止时间工单", "截止时间暂缺工单", "待补节假日数据"
    ]  # fmt: skip
    assert zh_summary.rows[0][0] == "来电来访等受理" and zh_summary.rows[1][0] == "巡查与计划工单"
    assert zh_summary.rows[0][-3:] == (
        2, 0, f"3 个临时截止时间：缺少 2027 年节假日数据，见 {HOW_TO}"
    )  # fmt: skip

    paths = write_monthly(app, ADMIN, estate_id, JANUARY, tmp_path / "out", lang="en")
    # HTML: the notes, the heading and the counts.
    page = paths["html"].read_text(encoding="utf-8")
    for key in ("tickets_summary", "timeliness"):
        card = _html_section(page, key)
        assert f'<p class="note">{summary.note}</p>' in card, key
    assert '<th scope="col" class="num">Timely rate (provisional)</th>' in _html_section(
        page, "timeliness"
    )
    card = _html_section(page, "tickets_summary")
    assert '<th scope="col" class="num">On provisional deadlines</th>' in card
    assert re.search(
        r'<td class="num">2</td><td class="num">0</td><td>3 deadlines provisional', card
    )
    # XLSX: the counts and the text in the summary sheet, the heading, the notes.
    book = openpyxl.load_workbook(paths["xlsx"])
    names = sheet_names(report)
    sheet = book[names[1 + SECTION_KEYS.index("tickets_summary")]]
    assert [c.value for c in sheet[1]][8:11] == [
        "On provisional deadlines", "Deadline held open", "Awaiting holiday data"
    ]  # fmt: skip
    assert [c.value for c in sheet[2]][8:11] == [2, 0, row[-1]]
    assert sheet.cell(5, 1).value == summary.note
    sheet = book[names[1 + SECTION_KEYS.index("timeliness")]]
    assert sheet.cell(1, 4).value == "Timely rate (provisional)"
    assert sheet.cell(len(timeliness.rows) + 3, 1).value == timeliness.note
    overview = book[names[0]]
    notes = {overview.cell(5 + i, 1).value: overview.cell(5 + i, 3).value for i in range(12)}
    assert notes["Timely rate by SLA target"] == timeliness.note
    # CSV (no notes): the counts and the text as columns, the heading.
    header, line, _patrol = _read_csv(paths["csv:tickets_summary"])
    assert header[8:] == ["On provisional deadlines", "Deadline held open", "Awaiting holiday data"]
    assert line[8:] == [
        "2",
        "0",
        f"3 deadlines provisional: 2027 holiday data missing — see {HOW_TO}",
    ]
    header, *_rows = _read_csv(paths["csv:timeliness"])
    assert header == EN_TIMELINESS_PROVISIONAL


def test_the_appraisal_says_its_timeliness_kpis_rest_on_provisional_deadlines(
    year_end: YearEnd,
) -> None:
    # December is appraised (2026 has its data); its New Year's Eve repair was resolved in
    # January, against a provisional deadline.
    december = year_end.report("2026-12")
    appraisal = december.section("appraisal")
    assert appraisal.rows and appraisal.rows[0][0] == "李师傅"
    assert appraisal.note == (
        "The month's appraisal is still open: results computed now. The appraisal's "
        "timeliness KPIs rest on provisional deadlines (2 deadlines provisional: 2027 holiday "
        f"data missing — see {HOW_TO})."
    )
    assert december.section("timeliness").note.endswith(
        "1 ticket's timeliness rests on provisional deadlines (2 deadlines provisional: "
        f"2027 holiday data missing — see {HOW_TO})."
    )
    chinese = year_end.report("2026-12", lang="zh-CN").section("appraisal")
    assert chinese.note == (
        "本月考核未关账，结果为即时计算。考核中的及时率指标按临时截止时间计算（2 个临时截止时间："
        f"缺少 2027 年节假日数据，见 {HOW_TO}）。"
    )


def test_under_the_strict_setting_the_report_says_deadlines_are_held_open(
    tmp_path: Path,
) -> None:
    estate = YearEnd(tmp_path, STRICT)
    try:
        report = estate.report()
        paths = write_monthly(
            estate.app, ADMIN, estate.estate, JANUARY, tmp_path / "out", lang="en"
        )
    finally:
        estate.app.close()
    caveat = (
        "2 tickets have a deadline held open, not counted until computed (3 deadlines held "
        f"open: 2027 holiday data missing — see {HOW_TO})."
    )
    timeliness = report.section("timeliness")
    assert timeliness.note.endswith("09:00. " + caveat)
    assert timeliness.columns[3].title == "Timely rate (provisional)"
    resolution = _table(report, "timeliness")["Resolution"]
    assert resolution[1] == 0  # held open: not counted yet
    assert report.section("tickets_summary").rows[0][-3:] == (
        0, 2, f"3 deadlines held open: 2027 holiday data missing — see {HOW_TO}"
    )  # fmt: skip
    assert f'<p class="note">{timeliness.note}</p>' in _html_section(
        paths["html"].read_text(encoding="utf-8"), "timeliness"
    )
    book = openpyxl.load_workbook(paths["xlsx"])
    sheet = book[sheet_names(report)[1 + SECTION_KEYS.index("timeliness")]]
    assert sheet.cell(len(timeliness.rows) + 3, 1).value == timeliness.note
    _header, line, _patrol = _read_csv(paths["csv:tickets_summary"])
    assert line[8:] == [
        "0",
        "2",
        f"3 deadlines held open: 2027 holiday data missing — see {HOW_TO}",
    ]


@pytest.mark.parametrize("strict", [False, True], ids=["provisional", "strict"])
def test_once_the_year_is_added_the_report_is_final_again(tmp_path: Path, strict: bool) -> None:
    base = STRICT if strict else {}
    estate = YearEnd(tmp_path, base)
    assert "holiday data missing" in estate.report().section("timeliness").note
    estate.app.close()
    # Opening with the year's file recomputes the tickets that waited for it.
    estate.app = estate.open({**base, **_with_test_fixture_2027(tmp_path)})
    try:
        assert estate.app.tickets.holiday_gaps(ADMIN, estate.estate).tickets == 0
        for period in ("2026-12", JANUARY):
            report = estate.report(period)
            base_note = (
                f"Tickets opened {period}-01 to {period}-31 (calls, visits, online, letter "
                "box; patrol findings and planned work counted apart); deadlines judged as of "
                "2027-01-20 09:00."
            )
            assert report.section("tickets_summary").note == base_note
            assert report.section("timeliness").note == base_note
            assert [c.title for c in report.section("tickets_summary").columns] == EN_SUMMARY
            assert [c.title for c in report.section("timeliness").columns] == EN_TIMELINESS
            assert report.section("appraisal").note == (
                "The month's appraisal is still open: results computed now."
            )
        # With New Year's Day off, the Eve repair was resolved in time after all.
        december = estate.report("2026-12")
        assert _table(december, "timeliness")["Resolution"][:3] == (1, 1, Decimal("1.0000"))
        paths = write_monthly(estate.app, ADMIN, estate.estate, JANUARY, tmp_path / "out")
    finally:
        estate.app.close()
    zh = LABELS["zh-CN"]
    header, _line, _patrol = _read_csv(paths["csv:tickets_summary"])
    assert header == [
        zh[f"col.{k}"]
        for k in ("source", "period", "opened", "closed", "cancelled", "open_now",
                  "outside_dispatched", "outside_completed")
    ]  # fmt: skip
