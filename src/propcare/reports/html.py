"""A report as one self-contained HTML page.

:func:`render_html` turns any :class:`~propcare.reports.model.Report` into a single HTML
document and :func:`write_html` writes it to a file. The page needs nothing but itself to
be viewed: the CSS is inline, there is no script, no web font and no external reference;
charts are inline SVG drawn here.

Each section is a card: its chart (when it has one) and its table side by side on wide
screens, one above the other on narrow ones. Cells read by their column's kind:

- ``money``: two decimals and thousands separators (``12,345.60``);
- ``rate``: a percent with one decimal (``0.8765`` reads ``87.7%``);
- ``count``: thousands separators; ``score``: two decimals;
- ``None`` ("no data"): ``—``.

Charts: ``bar`` draws one group of bars per row, a series per value column, with a legend;
``line`` joins each value column's points along the x axis (a missing value breaks the
line); ``pie`` draws the first value column's positive values as slices, with percentages.
Every chart is an ``<svg role="img">`` with a ``<title>``, a fixed non-zero size
(``width``/``height`` and a ``viewBox``, scaled down by CSS on narrow screens) and
``data-section="<section key>"``. All text from the report is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from html import escape
from pathlib import Path

from propcare.reports.model import Chart, ChartKind, Column, Report, Section, Value

__all__ = ["format_value", "render_html", "write_html"]

NO_DATA = "—"

_CENT = Decimal("0.01")
_TENTH = Decimal("0.1")

# Series colours: distinguishable, and readable on white (Tableau 10).
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)

_TEXT = {
    "zh-CN": {
        "no_data": "无数据",
        "no_rows": "本节没有数据。",
        "contents": "目录",
    },
    "en": {
        "no_data": "No data",
        "no_rows": "No data in this section.",
        "contents": "Contents",
    },
}

_CSS = """
:root {
  color-scheme: light;
  --ink: #1f2933; --muted: #52606d; --line: #d9e2ec; --card: #ffffff; --page: #f0f4f8;
  --accent: #4e79a7;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; background: var(--page); color: var(--ink);
  font-family: system-ui, -apple-system, "Segoe UI", "PingFang SC", "Hiragino Sans GB",
    "Microsoft YaHei", "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC",
    "WenQuanYi Micro Hei", "Helvetica Neue", Arial, sans-serif;
  font-size: 15px; line-height: 1.5;
}
header.report-head { padding: 28px 24px 12px; max-width: 1400px; margin: 0 auto; }
header.report-head h1 { margin: 0 0 4px; font-size: 26px; line-height: 1.25; }
header.report-head p.subtitle { margin: 0; color: var(--muted); font-size: 16px; }
nav.toc { max-width: 1400px; margin: 0 auto; padding: 4px 24px 8px; font-size: 14px; }
nav.toc h2 { display: inline; font-size: 14px; margin: 0 8px 0 0; color: var(--muted); }
nav.toc ol { display: inline; margin: 0; padding: 0; list-style: none; }
nav.toc li { display: inline-block; margin: 0 12px 4px 0; }
nav.toc a { color: var(--accent); text-decoration: none; }
nav.toc a:hover { text-decoration: underline; }
main { max-width: 1400px; margin: 0 auto; padding: 8px 24px 40px; }
section.card {
  background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 18px 20px 20px; margin: 0 0 20px; box-shadow: 0 1px 2px rgba(16, 42, 67, 0.06);
  break-inside: avoid;
}
section.card h2 { margin: 0 0 12px; font-size: 19px; line-height: 1.3; }
.card-body { display: grid; grid-template-columns: minmax(0, 1fr); gap: 20px; align-items: start; }
.card-body.with-chart { grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); }
@media (max-width: 960px) {
  .card-body.with-chart { grid-template-columns: minmax(0, 1fr); }
}
@media (max-width: 600px) {
  header.report-head, nav.toc, main { padding-left: 10px; padding-right: 10px; }
  section.card { padding: 14px 12px; }
  th, td { padding: 5px 6px; }
}
figure.chart { margin: 0; min-width: 0; }
figure.chart svg { display: block; width: 100%; max-width: 100%; height: auto; }
figure.chart svg text { font-family: inherit; fill: var(--ink); }
.table-wrap { overflow-x: auto; min-width: 0; position: relative; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
caption.sr-only {
  position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%);
  white-space: nowrap;
}
th, td { padding: 6px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { text-align: left; background: #f7f9fb; font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.none { color: var(--muted); }
tbody tr:nth-child(even) td { background: #fbfcfd; }
p.note { margin: 12px 0 0; color: var(--muted); font-size: 13px; }
p.empty { margin: 0; color: var(--muted); }
@media print {
  body { background: #fff; }
  nav.toc { display: none; }
  section.card { box-shadow: none; }
}
"""


def _texts(lang: str) -> dict[str, str]:
    return _TEXT["zh-CN"] if lang.lower().startswith("zh") else _TEXT["en"]


# --- values ----------------------------------------------------------------------------


def _number(value: Value) -> Decimal | None:
    """The value as a Decimal, or None when it is no number (None, text)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        number = Decimal(value)
        return number if number.is_finite() else None
    try:
        number = Decimal(value.strip().replace(",", ""))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def format_value(value: Value, kind: str = "text") -> str:
    """How a value reads in a cell of a column of ``kind`` (not yet HTML-escaped)."""
    if value is None:
        return NO_DATA
    if isinstance(value, str):
        return value
    number = _number(value)
    if number is None:
        return str(value)
    if kind == "money":
        return f"{number.quantize(_CENT, ROUND_HALF_UP):,.2f}"
    if kind == "rate":
        return f"{(number * 100).quantize(_TENTH, ROUND_HALF_UP):.1f}%"
    if kind == "score":
        return f"{number.quantize(_CENT, ROUND_HALF_UP):,.2f}"
    if kind == "count":
        return f"{number:,}"
    return str(value)


def _is_numeric(kind: str) -> bool:
    return kind in ("money", "rate", "count", "score")


# --- SVG helpers -----------------------------------------------------------------------


def _f(x: float) -> str:
    """A coordinate, short."""
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _text_width(text: str, size: float) -> float:
    """Roughly how wide ``text`` is drawn at font ``size`` (CJK is a full em)."""
    width = 0.0
    for ch in text:
        width += size if ord(ch) > 0x2E80 else size * 0.6
    return width


def _clip(text: str, width: float, size: float) -> str:
    """``text`` shortened with an ellipsis to fit ``width``."""
    if _text_width(text, size) <= width:
        return text
    out = ""
    for ch in text:
        if _text_width(out + ch + "…", size) > width:
            break
        out += ch
    return out + "…"


def _nice_step(span: float, count: int) -> float:
    raw = span / max(count, 1)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if factor * magnitude >= raw:
            return factor * magnitude
    return 10 * magnitude


def _ticks(lo: float, hi: float, count: int = 5) -> tuple[float, float, list[float]]:
    """A nice axis from ``lo`` to ``hi``: its ends and its ticks."""
    if hi <= lo:
        hi = lo + 1.0
    step = _nice_step(hi - lo, count)
    start = math.floor(lo / step + 1e-9) * step
    end = math.ceil(hi / step - 1e-9) * step
    ticks: list[float] = []
    i = 0
    while True:
        tick = start + i * step
        if tick > end + step / 2:
            break
        ticks.append(0.0 if abs(tick) < step * 1e-9 else tick)
        i += 1
    return start, end, ticks


def _tick_label(value: float, kind: str, step: float) -> str:
    if kind == "rate":
        value, step = value * 100, step * 100
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 0
    decimals = min(decimals, 4)
    text = f"{value:,.{decimals}f}"
    return text + "%" if kind == "rate" else text


def _legend(
    items: Sequence[tuple[str, str]], x0: float, y0: float, width: float
) -> tuple[list[str], float]:
    """Legend entries (colour, text) laid out in rows from (x0, y0); returns the SVG
    and the height used."""
    size = 12.0
    parts = ['<g class="legend">']
    x, y = x0, y0
    for colour, label in items:
        text = _clip(label, width - 20, size)
        item_width = 18 + _text_width(text, size) + 16
        if x > x0 and x + item_width > x0 + width:
            x, y = x0, y + 20
        parts.append(
            f'<rect x="{_f(x)}" y="{_f(y)}" width="12" height="12" rx="2" fill="{colour}"/>'
            f'<text x="{_f(x + 18)}" y="{_f(y + 10.5)}" font-size="12">{escape(text)}</text>'
        )
        x += item_width
    parts.append("</g>")
    return parts, (y - y0) + 20 if items else 0.0


def _svg_open(section: Section, title: str, width: int, height: int, kind: str) -> str:
    key = escape(section.key)
    title_id = f"chart-{key}-title"
    return (
        f'<svg class="chart chart-{kind}" data-section="{key}" data-chart="{kind}" '
        f'role="img" aria-labelledby="{title_id}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" preserveAspectRatio="xMidYMid meet">'
        f'<title id="{title_id}">{escape(title)}</title>'
    )


_WIDTH = 640
_HEIGHT = 380


def _series(
    section: Section, chart: Chart
) -> tuple[list[str], list[tuple[Column, list[float | None]]]]:
    labels = [
        format_value(row[chart.label], section.columns[chart.label].kind) for row in section.rows
    ]
    series: list[tuple[Column, list[float | None]]] = []
    for index in chart.values:
        values: list[float | None] = []
        for row in section.rows:
            number = _number(row[index])
            values.append(None if number is None else float(number))
        series.append((section.columns[index], values))
    return labels, series


def _tip(label: str, column: Column, value: Value) -> str:
    return f"{label} · {column.title}: {format_value(value, column.kind)}"


def _empty_chart(section: Section, title: str, lang: str) -> str:
    message = _texts(lang)["no_data"]
    return (
        _svg_open(section, title, _WIDTH, 160, "empty")
        + f'<text x="{_WIDTH / 2}" y="86" font-size="16" text-anchor="middle" '
        f'fill="#52606d">{escape(message)}</text></svg>'
    )


def _xy_chart(section: Section, chart: Chart, title: str, lang: str) -> str:
    """A bar or line chart: a y axis of the first value column's kind, the rows along x."""
    labels, series = _series(section, chart)
    numbers = [v for _, values in series for v in values if v is not None]
    if not section.rows or not numbers:
        return _empty_chart(section, title, lang)
    is_bar = chart.kind is ChartKind.BAR
    kind = series[0][0].kind
    n = len(labels)

    left, right, top = 64.0, 16.0, 12.0
    legend, legend_height = _legend(
        [(PALETTE[i % len(PALETTE)], col.title) for i, (col, _) in enumerate(series)],
        left,
        top,
        _WIDTH - left - right,
    )
    top += legend_height + 10
    plot_width = _WIDTH - left - right
    slot = plot_width / n
    # Label every row when they fit level; else slant them, and skip some if still crowded.
    longest = max(_text_width(label, 12) for label in labels)
    slanted = longest > slot - 6
    label_room = min(longest * 0.7 + 14, 90.0) if slanted else 22.0
    # Slanted at 40°, neighbours are slot·sin(40°) apart across the text: keep 15 px.
    every = 1 if not slanted else max(1, math.ceil(15 / (slot * 0.64)))
    bottom = label_room + 14
    height = _HEIGHT + (label_room - 22 if slanted else 0) + legend_height - 20
    height = max(height, 200.0)
    plot_top, plot_bottom = top, height - bottom
    plot_height = plot_bottom - plot_top

    lo = min(0.0, *numbers) if is_bar else min(numbers)
    hi = max(0.0, *numbers) if is_bar else max(numbers)
    if not is_bar and lo > 0 and lo < hi * 0.5:
        lo = 0.0  # show the zero line when it costs little
    if lo == hi:  # one value (or all zero): give the axis some height
        lo, hi = (lo, hi + 1) if is_bar else (lo - 1, hi + 1)
    axis_lo, axis_hi, ticks = _ticks(lo, hi)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0

    def y_of(value: float) -> float:
        return plot_bottom - (value - axis_lo) / (axis_hi - axis_lo) * plot_height

    parts = [_svg_open(section, title, _WIDTH, math.ceil(height), chart.kind.value)]
    parts.extend(legend)
    # Grid and y axis.
    parts.append('<g class="axis axis-y" font-size="11">')
    for tick in ticks:
        y = y_of(tick)
        parts.append(
            f'<line x1="{_f(left)}" y1="{_f(y)}" x2="{_f(left + plot_width)}" y2="{_f(y)}" '
            f'stroke="{"#9aa5b1" if tick == 0 else "#e4e7eb"}" stroke-width="1"/>'
            f'<text x="{_f(left - 6)}" y="{_f(y + 4)}" text-anchor="end">'
            f"{escape(_tick_label(tick, kind, step))}</text>"
        )
    parts.append("</g>")
    # X labels.
    parts.append('<g class="axis axis-x" font-size="12">')
    for i, label in enumerate(labels):
        if i % every:
            continue
        x = left + slot * (i + 0.5)
        y = plot_bottom + 16
        if slanted:
            text = _clip(label, label_room / 0.7 - 10, 12)
            parts.append(
                f'<text x="{_f(x)}" y="{_f(y)}" text-anchor="end" '
                f'transform="rotate(-40 {_f(x)} {_f(y)})">{escape(text)}'
                f"<title>{escape(label)}</title></text>"
            )
        else:
            parts.append(
                f'<text x="{_f(x)}" y="{_f(y)}" text-anchor="middle">{escape(label)}</text>'
            )
    parts.append("</g>")

    zero = y_of(min(max(0.0, axis_lo), axis_hi))
    if is_bar:
        group = slot * 0.78
        bar = group / len(series)
        for s, (column, values) in enumerate(series):
            colour = PALETTE[s % len(PALETTE)]
            parts.append(f'<g class="series" fill="{colour}">')
            for i, value in enumerate(values):
                if value is None:
                    continue
                x = left + slot * i + (slot - group) / 2 + bar * s
                y = y_of(value)
                y1, y2 = min(y, zero), max(y, zero)
                tip = _tip(labels[i], column, section.rows[i][chart.values[s]])
                parts.append(
                    f'<rect x="{_f(x + 0.5)}" y="{_f(y1)}" width="{_f(max(bar - 1, 1))}" '
                    f'height="{_f(max(y2 - y1, 0.5))}"><title>{escape(tip)}</title></rect>'
                )
            parts.append("</g>")
    else:
        for s, (column, values) in enumerate(series):
            colour = PALETTE[s % len(PALETTE)]
            parts.append(f'<g class="series" stroke="{colour}" fill="{colour}">')
            run: list[str] = []
            runs: list[list[str]] = []
            for i, value in enumerate(values):
                if value is None:
                    if run:
                        runs.append(run)
                    run = []
                    continue
                run.append(f"{_f(left + slot * (i + 0.5))},{_f(y_of(value))}")
            if run:
                runs.append(run)
            for points in runs:
                if len(points) > 1:
                    parts.append(
                        f'<polyline points="{" ".join(points)}" fill="none" stroke-width="2" '
                        f'stroke-linejoin="round" stroke-linecap="round"/>'
                    )
            radius = 3 if n <= 40 else 1.5
            for i, value in enumerate(values):
                if value is None:
                    continue
                tip = _tip(labels[i], column, section.rows[i][chart.values[s]])
                parts.append(
                    f'<circle cx="{_f(left + slot * (i + 0.5))}" cy="{_f(y_of(value))}" '
                    f'r="{radius}" stroke="none"><title>{escape(tip)}</title></circle>'
                )
            parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)


def _pie_chart(section: Section, chart: Chart, title: str, lang: str) -> str:
    """The first value column's positive values as slices of the whole."""
    index = chart.values[0]
    column = section.columns[index]
    label_kind = section.columns[chart.label].kind
    slices: list[tuple[str, float, Value]] = []
    for row in section.rows:
        number = _number(row[index])
        if number is not None and number > 0:
            slices.append((format_value(row[chart.label], label_kind), float(number), row[index]))
    total = sum(value for _, value, _ in slices)
    if not slices or total <= 0:
        return _empty_chart(section, title, lang)

    shares = [value / total for _, value, _ in slices]
    percents = [f"{Decimal(share * 100).quantize(_TENTH, ROUND_HALF_UP):.1f}%" for share in shares]
    cx, cy, r = 170.0, 170.0, 150.0
    legend_x = 350.0
    legend_width = _WIDTH - legend_x - 12
    rows_height = 22 * len(slices)
    height = int(max(340.0, rows_height + 24))
    cy = height / 2

    parts = [_svg_open(section, title, _WIDTH, height, "pie")]
    parts.append('<g class="slices" stroke="#ffffff" stroke-width="1.5">')
    angle = -math.pi / 2
    for i, ((label, _value, raw), share) in enumerate(zip(slices, shares, strict=True)):
        colour = PALETTE[i % len(PALETTE)]
        tip = f"{label}: {format_value(raw, column.kind)} ({percents[i]})"
        if share >= 0.999999:
            parts.append(
                f'<circle cx="{_f(cx)}" cy="{_f(cy)}" r="{_f(r)}" fill="{colour}">'
                f"<title>{escape(tip)}</title></circle>"
            )
        else:
            end = angle + share * 2 * math.pi
            large = 1 if share > 0.5 else 0
            x1, y1 = cx + r * math.cos(angle), cy + r * math.sin(angle)
            x2, y2 = cx + r * math.cos(end), cy + r * math.sin(end)
            parts.append(
                f'<path d="M{_f(cx)},{_f(cy)} L{_f(x1)},{_f(y1)} '
                f'A{_f(r)},{_f(r)} 0 {large} 1 {_f(x2)},{_f(y2)} Z" fill="{colour}">'
                f"<title>{escape(tip)}</title></path>"
            )
        mid = angle + share * math.pi
        if share >= 0.07:  # room for the label inside the slice
            lx, ly = cx + r * 0.65 * math.cos(mid), cy + r * 0.65 * math.sin(mid)
            parts.append(
                f'<text x="{_f(lx)}" y="{_f(ly + 4)}" text-anchor="middle" font-size="12" '
                f'font-weight="600" stroke="none" style="fill:#ffffff">{percents[i]}</text>'
            )
        angle += share * 2 * math.pi
    parts.append("</g>")
    parts.append('<g class="legend" font-size="12">')
    y = cy - rows_height / 2 + 4
    for i, (label, _value, _raw) in enumerate(slices):
        colour = PALETTE[i % len(PALETTE)]
        text = _clip(f"{label}  {percents[i]}", legend_width - 20, 12)
        parts.append(
            f'<rect x="{_f(legend_x)}" y="{_f(y)}" width="12" height="12" rx="2" '
            f'fill="{colour}"/><text x="{_f(legend_x + 18)}" y="{_f(y + 10.5)}">'
            f"{escape(text)}</text>"
        )
        y += 22
    parts.append("</g></svg>")
    return "".join(parts)


def _check_chart(section: Section, chart: Chart) -> None:
    count = len(section.columns)
    for index in (chart.label, *chart.values):
        if not 0 <= index < count:
            raise ValueError(
                f"section {section.key}: chart column {index} is not one of its {count} columns"
            )
    if not chart.values:
        raise ValueError(f"section {section.key}: the chart has no value columns")


def render_chart(section: Section, lang: str = "zh-CN") -> str:
    """The section's chart as inline SVG ("" when it has none)."""
    chart = section.chart
    if chart is None:
        return ""
    _check_chart(section, chart)
    title = chart.title or section.title
    if chart.kind is ChartKind.PIE:
        return _pie_chart(section, chart, title, lang)
    return _xy_chart(section, chart, title, lang)


# --- page ------------------------------------------------------------------------------


def _table(section: Section, lang: str) -> str:
    parts = ['<div class="table-wrap"><table>']
    parts.append(f'<caption class="sr-only">{escape(section.title)}</caption><thead><tr>')
    for column in section.columns:
        cls = ' class="num"' if _is_numeric(column.kind) else ""
        parts.append(f'<th scope="col"{cls}>{escape(column.title)}</th>')
    parts.append("</tr></thead><tbody>")
    if not section.rows:
        parts.append(
            f'<tr><td class="none" colspan="{max(len(section.columns), 1)}">'
            f"{escape(_texts(lang)['no_rows'])}</td></tr>"
        )
    for row in section.rows:
        parts.append("<tr>")
        for value, column in zip(row, section.columns, strict=True):
            classes = []
            if _is_numeric(column.kind) and not isinstance(value, str):
                classes.append("num")
            if value is None:
                classes.append("none")
            cls = f' class="{" ".join(classes)}"' if classes else ""
            parts.append(f"<td{cls}>{escape(format_value(value, column.kind))}</td>")
        parts.append("</tr>")
    parts.append("</tbody></table></div>")
    return "".join(parts)


def _section(section: Section, lang: str) -> str:
    key = escape(section.key)
    chart = render_chart(section, lang)
    body_class = "card-body with-chart" if chart else "card-body"
    parts = [
        f'<section class="card" id="section-{key}" data-key="{key}">',
        f"<h2>{escape(section.title)}</h2>",
        f'<div class="{body_class}">',
    ]
    if chart:
        parts.append(f'<figure class="chart">{chart}</figure>')
    parts.append(_table(section, lang))
    parts.append("</div>")
    if section.note:
        parts.append(f'<p class="note">{escape(section.note)}</p>')
    parts.append("</section>")
    return "\n".join(parts)


def render_html(report: Report) -> str:
    """The report as a complete, self-contained HTML document."""
    lang = report.lang or "zh-CN"
    texts = _texts(lang)
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{escape(lang)}">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="color-scheme" content="light">',
        f"<title>{escape(report.title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        '<header class="report-head">',
        f"<h1>{escape(report.title)}</h1>",
    ]
    if report.subtitle:
        parts.append(f'<p class="subtitle">{escape(report.subtitle)}</p>')
    parts.append("</header>")
    if len(report.sections) > 1:
        parts.append(f'<nav class="toc"><h2>{escape(texts["contents"])}</h2><ol>')
        for section in report.sections:
            parts.append(
                f'<li><a href="#section-{escape(section.key)}">{escape(section.title)}</a></li>'
            )
        parts.append("</ol></nav>")
    parts.append("<main>")
    for section in report.sections:
        parts.append(_section(section, lang))
    parts.append("</main>")
    parts.append("</body>")
    parts.append("</html>")
    return "\n".join(parts) + "\n"


def write_html(report: Report, path: Path) -> Path:
    """Write the report's page to ``path`` (UTF-8; parent folders are made) and return it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report), encoding="utf-8", newline="\n")
    return path
