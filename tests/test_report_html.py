"""The HTML report writer: the page's text, and the page as headless Chromium draws it.

The browser test drives the system Chromium (``apt-get install -y chromium``) over the
DevTools protocol on a pipe (``--remote-debugging-pipe``: JSON messages separated by NUL
bytes on file descriptors 3 and 4, so no websocket and no third-party client): it opens the
written file from its ``file://`` URL, collects console messages, uncaught exceptions, log
errors and every network request, measures every ``svg[data-section]`` with
``getBoundingClientRect``, checks chart and table sit side by side at 1280 px and stack at
420 px, and saves screenshots under ``test-artifacts/`` at the repository root.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from propcare.reports.html import format_value, render_html, write_html
from propcare.reports.model import Chart, ChartKind, Column, Report, Section

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"


# --- a report built by hand ------------------------------------------------------------


def sample_report(lang: str = "zh-CN") -> Report:
    days = tuple(
        (f"11-{d:02d}", d % 7 + 3 if d != 9 else None, Decimal(d % 5) / 10 + Decimal("0.5"))
        for d in range(1, 31)
    )
    return Report(
        title="月度服务报告 <2026年11月> & 汇总",
        subtitle="阳光花园小区 · 2026-11",
        lang=lang,
        sections=(
            Section(
                key="tickets_by_category",
                title="按类别统计的工单",
                columns=(
                    Column("类别"),
                    Column("工单数", "count"),
                    Column("已完成", "count"),
                    Column("处理及时率", "rate"),
                ),
                rows=(
                    ("水电维修", 1234, 1200, Decimal("0.9725")),
                    ("公共区域保洁", 87, 80, Decimal("0.8")),
                    ("电梯故障", 12, 12, Decimal("1")),
                    ("噪音投诉 <script>", 5, 3, None),
                ),
                chart=Chart(ChartKind.BAR, label=0, values=(1, 2), title="工单数与已完成数"),
                note="处理及时率：在承诺时限内完成的工单占比。",
            ),
            Section(
                key="daily_intake",
                title="每日新建工单",
                columns=(Column("日期"), Column("新建", "count"), Column("满意率", "rate")),
                rows=days,
                chart=Chart(ChartKind.LINE, label=0, values=(1,)),
            ),
            Section(
                key="collection_by_building",
                title="各楼栋收缴情况",
                columns=(
                    Column("楼栋"),
                    Column("应收（元）", "money"),
                    Column("实收（元）", "money"),
                    Column("收缴率", "rate"),
                ),
                rows=(
                    ("1号楼", Decimal("1234567.5"), Decimal("1100000.00"), Decimal("0.891")),
                    ("2号楼", Decimal("88000"), Decimal("-120.5"), Decimal("0.0005")),
                    ("3号楼", Decimal("0"), None, None),
                ),
                chart=Chart(ChartKind.BAR, label=0, values=(1, 2)),
            ),
            Section(
                key="tickets_by_channel",
                title="工单来源渠道",
                columns=(Column("渠道"), Column("工单数", "count")),
                rows=(("电话", 500), ("微信小程序", 300), ("前台", 150), ("邮件", 50), ("其他", 0)),
                chart=Chart(ChartKind.PIE, label=0, values=(1,), title="渠道占比"),
            ),
            Section(
                key="appraisal",
                title="考核得分",
                columns=(Column("姓名"), Column("总分", "score"), Column("奖金", "money")),
                rows=(("张三", Decimal("92.5"), Decimal("1500")), ("李四", None, None)),
            ),
            Section(
                key="commission",
                title="提成",
                columns=(Column("收费员"), Column("提成（元）", "money")),
                rows=(),
                chart=Chart(ChartKind.BAR),
                note="本月尚未结算。",
            ),
        ),
    )


# --- parsing the page ------------------------------------------------------------------


class _Page(HTMLParser):
    """The page's elements as (tag, attributes), and each svg's <title> text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.svgs: list[dict[str, Any]] = []
        self._stack: list[str] = []
        self._title: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.elements.append((tag, attributes))
        if tag == "svg":
            self.svgs.append({"attrs": attributes, "title": None, "tags": []})
        elif self.svgs and "svg" in self._stack:
            self.svgs[-1]["tags"].append((tag, attributes))
        if tag == "title" and self._stack and self._stack[-1] == "svg":
            self._title = []
        if tag not in ("meta", "link", "br", "hr", "img", "input"):  # no end tag
            self._stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if self.svgs and "svg" in self._stack:
            self.svgs[-1]["tags"].append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._title is not None:
            self.svgs[-1]["title"] = "".join(self._title)
            self._title = None
        while self._stack:
            if self._stack.pop() == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._title is not None:
            self._title.append(data)


def parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    return parser


def svg_of(page: _Page, key: str) -> dict[str, Any]:
    (svg,) = [s for s in page.svgs if s["attrs"].get("data-section") == key]
    return svg


# --- the page's text -------------------------------------------------------------------


def test_lang_attribute_and_charset() -> None:
    zh = render_html(sample_report("zh-CN"))
    en = render_html(sample_report("en"))
    assert zh.startswith("<!DOCTYPE html>")
    assert '<html lang="zh-CN">' in zh
    assert '<html lang="en">' in en
    for page in (zh, en):
        assert '<meta charset="utf-8">' in page
        assert '<meta name="viewport"' in page
    assert "无数据" in zh  # the empty section's chart, in the report's language
    assert "No data" in en


def test_everything_is_escaped() -> None:
    page = render_html(sample_report())
    assert "<2026年11月>" not in page
    assert "月度服务报告 &lt;2026年11月&gt; &amp; 汇总" in page
    assert "<script" not in page  # neither the label "噪音投诉 <script>" nor any script
    assert "噪音投诉 &lt;script&gt;" in page

    nasty = Report(
        title='"Q" & <A>',
        subtitle="<i>x</i>",
        lang="en",
        sections=(
            Section(
                key='k"><b',
                title="<h1>",
                columns=(Column("<c>"), Column("n&m", "count")),
                rows=(("<td>", 1), ('a"b', 2)),
                chart=Chart(ChartKind.PIE, title="<t>"),
                note="<note>",
            ),
        ),
    )
    page = render_html(nasty)
    for raw in ('"Q" & <A>', "<i>", "<c>", "n&m", "<t>", "<note>", 'k"><b'):
        assert raw not in page
    for escaped in ("<h2>&lt;h1&gt;</h2>", "<td>&lt;td&gt;</td>", "<td>a&quot;b</td>"):
        assert escaped in page
    parsed = parse(page)
    (svg,) = parsed.svgs
    assert svg["attrs"]["data-section"] == 'k"><b'
    assert svg["title"] == "<t>"
    assert {tag for tag, _ in parsed.elements} <= {
        "html", "head", "meta", "title", "style", "body", "header", "h1", "p", "main",
        "section", "h2", "div", "figure", "svg", "g", "rect", "text", "path", "circle",
        "line", "polyline", "table", "caption", "thead", "tbody", "tr", "th", "td",
        "nav", "ol", "li", "a",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("value", "kind", "text"),
    [
        (Decimal("1234567.5"), "money", "1,234,567.50"),
        (Decimal("-120.5"), "money", "-120.50"),
        (Decimal("0.005"), "money", "0.01"),
        (0, "money", "0.00"),
        (88000, "money", "88,000.00"),
        (Decimal("0.8765"), "rate", "87.7%"),
        (Decimal("0.0005"), "rate", "0.1%"),
        (Decimal("1"), "rate", "100.0%"),
        (0, "rate", "0.0%"),
        (1234, "count", "1,234"),
        (Decimal("92.5"), "score", "92.50"),
        ("水电维修", "text", "水电维修"),
        (12, "text", "12"),
        (None, "money", "—"),
        (None, "rate", "—"),
        (None, "text", "—"),
        ("n/a", "money", "n/a"),
    ],
)
def test_number_formats(value: Any, kind: str, text: str) -> None:
    assert format_value(value, kind) == text


def test_table_cells_read_by_column_kind() -> None:
    page = render_html(sample_report())
    for cell in (
        '<td class="num">1,234,567.50</td>',
        '<td class="num">1,100,000.00</td>',
        '<td class="num">-120.50</td>',
        '<td class="num">89.1%</td>',
        '<td class="num">0.1%</td>',
        '<td class="num">97.3%</td>',
        '<td class="num">1,234</td>',
        '<td class="num">92.50</td>',
        '<td class="num">1,500.00</td>',
        '<td class="num none">—</td>',
    ):
        assert cell in page, cell
    assert '<th scope="col" class="num">应收（元）</th>' in page
    assert "本节没有数据。" in page  # the section without rows
    assert "本月尚未结算。" in page


def test_self_contained() -> None:
    page = render_html(sample_report())
    assert not re.search(r"https?://", page, re.IGNORECASE)
    assert not re.search(r"//[a-z0-9.-]+\.[a-z]{2,}/", page, re.IGNORECASE)
    for construct in ("<script", "<link", "<img", "<iframe", "@import", "url(", "@font-face"):
        assert construct not in page.lower()


def test_every_chart_svg_has_size_title_and_section() -> None:
    report = sample_report()
    parsed = parse(render_html(report))
    charted = [s.key for s in report.sections if s.chart is not None]
    assert [s["attrs"]["data-section"] for s in parsed.svgs] == charted
    for svg in parsed.svgs:
        attrs = svg["attrs"]
        assert float(attrs["width"]) > 0 and float(attrs["height"]) > 0
        _, _, w, h = (float(v) for v in attrs["viewbox"].split())
        assert (w, h) == (float(attrs["width"]), float(attrs["height"]))
        assert attrs["role"] == "img"
        assert svg["title"], attrs
    assert svg_of(parsed, "tickets_by_category")["title"] == "工单数与已完成数"
    assert svg_of(parsed, "daily_intake")["title"] == "每日新建工单"  # the section's title
    # A section without a chart has none, and its table takes the card's width.
    assert not [s for s in parsed.svgs if s["attrs"]["data-section"] == "appraisal"]


def _texts_in(svg: dict[str, Any]) -> list[str]:
    return [tag for tag, _ in svg["tags"]]


def test_bar_chart_one_bar_per_row_and_series_with_legend() -> None:
    page = render_html(sample_report())
    parsed = parse(page)
    svg = svg_of(parsed, "tickets_by_category")
    series = [a for tag, a in svg["tags"] if tag == "g" and a.get("class") == "series"]
    assert len(series) == 2 and series[0]["fill"] != series[1]["fill"]
    bars = [a for tag, a in svg["tags"] if tag == "rect" and "rx" not in a]
    assert len(bars) == 4 * 2
    assert all(float(b["height"]) > 0 and float(b["width"]) > 0 for b in bars)
    legend_boxes = [a for tag, a in svg["tags"] if tag == "rect" and "rx" in a]
    assert len(legend_boxes) == 2
    assert ">工单数</text>" in page and ">已完成</text>" in page
    # None values draw no bar: 3 rows × 2 series, one missing.
    money = svg_of(parsed, "collection_by_building")
    bars = [a for tag, a in money["tags"] if tag == "rect" and "rx" not in a]
    assert len(bars) == 5
    assert "1号楼 · 应收（元）: 1,234,567.50" in page  # the bar's tooltip


def test_line_chart_joins_points_and_breaks_at_missing_values() -> None:
    parsed = parse(render_html(sample_report()))
    svg = svg_of(parsed, "daily_intake")
    lines = [a for tag, a in svg["tags"] if tag == "polyline"]
    points = [a for tag, a in svg["tags"] if tag == "circle"]
    assert len(points) == 29  # 30 days, one without data
    assert len(lines) == 2  # broken at the missing day
    xs = [float(p.split(",")[0]) for line in lines for p in line["points"].split()]
    assert xs == sorted(xs)


def test_pie_chart_slices_with_percentages() -> None:
    page = render_html(sample_report())
    svg = svg_of(parse(page), "tickets_by_channel")
    slices = [a for tag, a in svg["tags"] if tag == "path"]
    assert len(slices) == 4  # the zero row ("其他") is no slice
    for share in ("50.0%", "30.0%", "15.0%", "5.0%"):
        assert share in page
    assert "电话: 500 (50.0%)" in page

    whole = Report(
        title="t",
        subtitle="",
        lang="en",
        sections=(
            Section(
                key="one",
                title="One",
                columns=(Column("k"), Column("v", "money")),
                rows=(("all", Decimal("10")), ("none", None)),
                chart=Chart(ChartKind.PIE),
            ),
        ),
    )
    svg = svg_of(parse(render_html(whole)), "one")
    assert [tag for tag, _ in svg["tags"] if tag in ("path", "circle")] == ["circle"]
    assert "100.0%" in render_html(whole)


def test_charts_of_awkward_data() -> None:
    def one(rows: tuple[tuple[Any, ...], ...], kind: ChartKind) -> dict[str, Any]:
        report = Report(
            title="t",
            subtitle="s",
            lang="en",
            sections=(
                Section(
                    key="s",
                    title="S",
                    columns=(Column("k"), Column("v", "rate")),
                    rows=rows,
                    chart=Chart(kind),
                ),
            ),
        )
        return svg_of(parse(render_html(report)), "s")

    for kind in ChartKind:
        for rows in ((), (("a", None),), (("a", 0),), (("a", Decimal("0.5")),)):
            svg = one(rows, kind)
            assert float(svg["attrs"]["width"]) > 0 and float(svg["attrs"]["height"]) > 0
    # Negative values go below the zero line.
    svg = one((("a", Decimal("-0.2")), ("b", Decimal("0.4"))), ChartKind.BAR)
    bars = [a for tag, a in svg["tags"] if tag == "rect" and "rx" not in a]
    assert float(bars[0]["y"]) >= float(bars[1]["y"]) + float(bars[1]["height"]) - 0.01
    # Many long labels still fit: slanted, clipped, with the whole label as a tooltip.
    many = tuple((f"第{i}号楼东单元很长的名字", Decimal(i) / 40) for i in range(40))
    svg = one(many, ChartKind.BAR)
    assert any(a.get("transform", "").startswith("rotate(") for _, a in svg["tags"])


def test_chart_columns_must_exist() -> None:
    report = Report(
        title="t",
        subtitle="",
        lang="en",
        sections=(
            Section(
                key="bad",
                title="Bad",
                columns=(Column("k"), Column("v", "count")),
                rows=(("a", 1),),
                chart=Chart(ChartKind.BAR, values=(2,)),
            ),
        ),
    )
    with pytest.raises(ValueError, match="bad: chart column 2"):
        render_html(report)


def test_write_html(tmp_path: Path) -> None:
    path = write_html(sample_report(), tmp_path / "out" / "report.html")
    assert path == tmp_path / "out" / "report.html"
    assert path.read_bytes().decode("utf-8") == render_html(sample_report())


# --- in a browser ----------------------------------------------------------------------


def _chromium() -> str | None:
    for name in (os.environ.get("PROPCARE_CHROMIUM"), "chromium", "chromium-browser"):
        if name and (found := shutil.which(name)):
            return found
    return None


class DevTools:
    """Chromium driven over ``--remote-debugging-pipe`` (NUL-separated JSON on fds 3, 4)."""

    def __init__(self, binary: str, profile: Path) -> None:
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()
        args = [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--mute-audio",
            f"--user-data-dir={profile}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        self.log = profile / "chromium.log"
        # The child's pipe ends arrive as its stdin and stdout; the shell moves them to
        # 3 and 4 (where Chromium looks for them) and gives stdout back to the log.
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                ["/bin/sh", "-c", 'exec "$@" 3<&0 4>&1 0</dev/null 1>&2', "sh", *args],
                stdin=to_chrome_r,
                stdout=from_chrome_w,
                stderr=log,
            )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._out = os.fdopen(to_chrome_w, "wb", buffering=0)
        self._in = from_chrome_r
        self._messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.events: list[dict[str, Any]] = []
        self._next_id = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buffer = b""
        while True:
            chunk = os.read(self._in, 1 << 16)
            if not chunk:
                self._messages.put(None)
                return
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for message in messages:
                self._messages.put(json.loads(message))

    def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self._out.write(json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + 30
        while True:
            reply = self._get(deadline, method)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30) -> dict[str, Any]:
        for event in self.events:
            if event.get("method") == method:
                return event
        deadline = time.monotonic() + timeout
        while True:
            event = self._get(deadline, method)
            self.events.append(event)
            if event.get("method") == method:
                return event

    def _get(self, deadline: float, waiting_for: str) -> dict[str, Any]:
        try:
            message = self._messages.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            raise TimeoutError(f"no answer from Chromium to {waiting_for}") from None
        if message is None:
            raise RuntimeError(f"Chromium closed the pipe: {self.log.read_text()[-2000:]}")
        return message

    def close(self) -> None:
        try:
            self._out.write(json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        finally:
            self._out.close()


@pytest.fixture
def browser() -> Iterator[DevTools]:
    binary = _chromium()
    if binary is None and os.environ.get("CI"):
        # CI (.ci/run) installs Chromium: there a missing browser is a failure, not a skip.
        pytest.fail("CI is set but no Chromium was found; .ci/run should have installed it")
    if binary is None:
        # Only on a developer's machine without Chromium; the unit tests above still run.
        pytest.skip(
            "no Chromium: install it with `apt-get install -y chromium` "
            "(.ci/run does in CI), or name the binary in PROPCARE_CHROMIUM"
        )
    with tempfile.TemporaryDirectory(prefix="propcare-chromium-") as profile:
        devtools = DevTools(binary, Path(profile))
        try:
            yield devtools
        finally:
            devtools.close()


MEASURE = """(() => {
  const box = (el) => { const r = el.getBoundingClientRect();
    return {x: r.left, y: r.top, w: r.width, h: r.height}; };
  return {
    svgs: [...document.querySelectorAll("svg[data-section]")].map((svg) => ({
      section: svg.dataset.section, kind: svg.dataset.chart, box: box(svg),
      title: svg.querySelector("title")?.textContent,
      ink: svg.querySelectorAll("rect, path, circle, polyline").length })),
    cards: [...document.querySelectorAll("section.card")].map((card) => ({
      key: card.dataset.key,
      chart: card.querySelector("figure.chart") ? box(card.querySelector("figure.chart")) : null,
      table: box(card.querySelector(".table-wrap")) })),
    lang: document.documentElement.lang, charset: document.characterSet,
    title: document.title, h1: document.querySelector("h1").textContent,
    scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
    fonts: document.fonts.size,
  };
})()"""


def _layout(devtools: DevTools, session: str, width: int, height: int) -> dict[str, Any]:
    devtools.send(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        session,
    )
    result = devtools.send(
        "Runtime.evaluate", {"expression": MEASURE, "returnByValue": True}, session
    )
    assert "exceptionDetails" not in result, result
    value: dict[str, Any] = result["result"]["value"]
    return value


def _screenshot(devtools: DevTools, session: str, width: int, name: str) -> Path:
    metrics = devtools.send("Page.getLayoutMetrics", {}, session)
    height = int(metrics["cssContentSize"]["height"]) + 1
    devtools.send(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        session,
    )
    shot = devtools.send("Page.captureScreenshot", {"format": "png"}, session)
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def test_report_in_headless_chromium(browser: DevTools, tmp_path: Path) -> None:
    report = sample_report()
    page = write_html(report, tmp_path / "月度报告.html")
    target = browser.send("Target.createTarget", {"url": "about:blank"})
    session = browser.send(
        "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
    )["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        browser.send(f"{domain}.enable", {}, session)
    browser.send(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1280, "height": 2000, "deviceScaleFactor": 1, "mobile": False},
        session,
    )
    browser.send("Page.navigate", {"url": page.as_uri()}, session)
    browser.wait_for("Page.loadEventFired")

    wide = _layout(browser, session, 1280, 2000)
    assert wide["lang"] == "zh-CN" and wide["charset"] == "UTF-8"
    assert wide["title"] == wide["h1"] == report.title  # read back as UTF-8, unescaped
    charted = [s.key for s in report.sections if s.chart is not None]
    assert [svg["section"] for svg in wide["svgs"]] == charted
    for svg in wide["svgs"]:
        assert svg["box"]["w"] > 100 and svg["box"]["h"] > 50, svg
        assert svg["title"], svg
        assert svg["ink"] > 0 or svg["kind"] == "empty", svg  # "无数据" when no rows
    kinds = {svg["section"]: svg["kind"] for svg in wide["svgs"]}
    assert kinds == {
        "tickets_by_category": "bar",
        "daily_intake": "line",
        "collection_by_building": "bar",
        "tickets_by_channel": "pie",
        "commission": "empty",
    }
    for card in wide["cards"]:  # chart and table side by side
        if card["chart"] is not None:
            assert card["table"]["x"] >= card["chart"]["x"] + card["chart"]["w"], card
            assert abs(card["table"]["y"] - card["chart"]["y"]) < 1, card
    assert wide["scrollWidth"] <= wide["innerWidth"]
    wide_shot = _screenshot(browser, session, 1280, "report-html-1280.png")

    narrow = _layout(browser, session, 420, 900)
    for svg in narrow["svgs"]:
        assert 100 < svg["box"]["w"] <= 420 and svg["box"]["h"] > 30, svg
    for card in narrow["cards"]:  # stacked: the table under the chart
        if card["chart"] is not None:
            assert card["table"]["y"] >= card["chart"]["y"] + card["chart"]["h"], card
    assert narrow["scrollWidth"] <= narrow["innerWidth"]  # wide tables scroll in their box
    narrow_shot = _screenshot(browser, session, 420, "report-html-420.png")

    problems = [
        event
        for event in browser.events
        if event.get("method") == "Runtime.exceptionThrown"
        or (
            event.get("method") == "Runtime.consoleAPICalled"
            and event["params"]["type"] in ("error", "assert", "warning")
        )
        or (
            event.get("method") == "Log.entryAdded"
            and event["params"]["entry"]["level"] in ("error", "warning")
        )
    ]
    assert problems == []
    requests = [
        event["params"]["request"]["url"]
        for event in browser.events
        if event.get("method") == "Network.requestWillBeSent"
    ]
    assert requests == [page.as_uri()]  # the page itself and nothing else
    for shot in (wide_shot, narrow_shot):
        assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 10_000
