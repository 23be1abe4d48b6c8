"""The monthly service report (月度服务报告) of one estate and one month.

:func:`build_monthly` reads the month through the library's own services and returns a
:class:`~propcare.reports.model.Report`; every number in it is a number one of those
services gives for the same month, so the report and the APIs never disagree:

- ``tickets_summary``, ``tickets_by_category``, ``tickets_by_channel``, ``timeliness``
  (处理及时率 per SLA target) and ``service_quality`` (返修率, 回访率, 满意率,
  投诉处理率): ``app.ticket_stats.metrics`` for the tickets opened in the month
  ``[start, end)`` in the estate's time zone, as of now (``as_of`` only decides which
  unmet deadlines have passed; what was done is counted as it stands now). As the front
  desks' own 月统计 count them, these are the intake (``source="intake"``: calls, visits,
  online and letter box, 接待来电来访); patrol findings and the tickets of maintenance and
  patrol plans (``source="patrol"``) are counted apart: a second row of the summary and
  three more columns of the timeliness table, each with its own rates;
- ``daily_intake``: the intake's metrics for each day of the month (one SQL pass a day);
- ``collection_summary`` and ``collection_by_building``: ``app.arrears.collection_rate``
  of the month's bills with its own default cut-off (the last instant of the month, or now
  while the month is still running; the note states it): 收缴率 is cash over billed, the
  credits (compensation, other) beside it; and ``app.arrears.recovery`` (历史欠费清缴: cash
  for bills of earlier years collected in the month), for the estate and per building;
- ``arrears_aging``: ``app.arrears.aging`` at the same cut-off, by days past due, with
  what is billed but not yet due as its first row (not in the summary's arrears);
- ``notices_sent``: notifications per template and channel whose delivery was due in the
  month, read from the outbox (there is no service API for it: a read-only unit of
  work's ``outbox.messages(topic)`` per known template, and ``outbox.deliveries``);
- ``commission``: ``app.commission.statements`` of the month, per collector (empty, with a
  note, until the month is settled);
- ``appraisal``: ``app.appraisal.appraise`` of the month.

Provisional figures: when some of the month's tickets have deadlines that wait for a year's
holiday data (``app.tickets.holiday_gaps`` of the month: computed on the calendar's weekly
windows alone, or held open under ``sla.missing_holiday_data = "strict"``), the report says
so wherever a timeliness figure rests on them, in every format:

- ``tickets_summary`` gets three more columns: the tickets whose timeliness rests on a
  provisional deadline and those with a deadline held open (``TicketMetrics.provisional``
  and ``held``), and what is missing (``HolidayGaps.describe``, naming the how-to);
- ``timeliness`` heads its rate column "及时率（暂定）" / "Timely rate (provisional)";
- the notes of both say how many tickets and deadlines, and the appraisal's note says its
  timeliness KPIs rest on provisional deadlines (when it has results).

A month without such tickets gets none of this: its sections are what they were before.
Once the data is added and ``app.tickets.recompute`` has run, the flags are gone.

Counts are ints, money Decimal yuan (two places), rates Decimal 0..1 to four places
(None when nothing was counted), scores Decimal. Titles, headers and labels are in
``lang``: ``"zh-CN"`` (default) or ``"en"``; all label strings are in :data:`LABELS`.

:func:`write_monthly` builds the report and writes it as XLSX and CSV (and HTML when
:mod:`propcare.reports.html` is installed).
"""

from __future__ import annotations

import importlib
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import attrs

from propcare.access import Actor
from propcare.commission.settle import Statement
from propcare.errors import CalendarDataMissing, ValidationError
from propcare.ledger.arrears import NOT_DUE, collection_cutoff
from propcare.ledger.billing import parse_period
from propcare.money import ZERO, from_fen
from propcare.registry.model import EstateId
from propcare.reports.model import Chart, ChartKind, Column, Report, Section, Value, rows
from propcare.tickets.record import HolidayGaps
from propcare.tickets.stats import (
    CATEGORIES,
    INTAKE_CHANNELS,
    TARGETS,
    Rate,
    Source,
    TicketMetrics,
)

if TYPE_CHECKING:
    from propcare.app import Propcare

__all__ = [
    "LABELS",
    "LANGS",
    "SECTION_KEYS",
    "attempt_label",
    "build_monthly",
    "write_monthly",
]

LANGS: tuple[str, ...] = ("zh-CN", "en")

# The sections, in the order the report has them.
SECTION_KEYS: tuple[str, ...] = (
    "tickets_summary",
    "tickets_by_category",
    "tickets_by_channel",
    "daily_intake",
    "timeliness",
    "service_quality",
    "collection_summary",
    "collection_by_building",
    "arrears_aging",
    "notices_sent",
    "commission",
    "appraisal",
)

_ZH: dict[str, str] = {
    "title": "月度服务报告",
    "subtitle": "{estate} · {year}年{month}月",
    # section titles
    "tickets_summary": "工单概况",
    "tickets_by_category": "工单分类统计",
    "tickets_by_channel": "受理渠道统计",
    "daily_intake": "每日受理量",
    "timeliness": "处理及时率",
    "service_quality": "返修、回访与满意度",
    "collection_summary": "收费概况",
    "collection_by_building": "分楼栋收缴率",
    "arrears_aging": "欠费账龄",
    "notices_sent": "通知发送",
    "commission": "收费员提成",
    "appraisal": "绩效考核排名",
    # column headers
    "col.period": "月份",
    "col.source": "工单来源",
    "col.opened": "受理",
    "col.closed": "已关闭",
    "col.cancelled": "已取消",
    "col.open_now": "未结",
    "col.outside_dispatched": "外部派单",
    "col.outside_completed": "外部完成",
    "col.category": "类别",
    "col.channel": "渠道",
    "col.tickets": "工单数",
    "col.share": "占比",
    "col.date": "日期",
    "col.target": "时限",
    "col.met": "按时完成",
    "col.counted": "考核数",
    "col.timely": "及时率",
    "col.timely_provisional": "及时率（暂定）",
    "col.patrol_met": "巡查与计划按时完成",
    "col.patrol_counted": "巡查与计划考核数",
    "col.patrol_timely": "巡查与计划及时率",
    "col.patrol_timely_provisional": "巡查与计划及时率（暂定）",
    "col.provisional": "临时截止时间工单",
    "col.held": "截止时间暂缺工单",
    "col.holiday_gaps": "待补节假日数据",
    "col.metric": "指标",
    "col.numerator": "达标数",
    "col.denominator": "统计数",
    "col.rate": "比率",
    "col.billed": "本期应收",
    "col.collected": "本期实收",
    "col.compensation": "补偿金折抵",
    "col.other_credits": "其他折抵",
    "col.credits": "折抵",
    "col.collection_rate": "收缴率",
    "col.recovered": "历史欠费清缴",
    "col.outstanding": "欠费余额",
    "col.building": "楼栋",
    "col.bucket": "账龄",
    "col.amount": "金额",
    "col.template": "通知类型",
    "col.messages": "通知数",
    "col.delivered": "已送达",
    "col.failed": "失败",
    "col.pending": "待发送",
    "col.collector": "收费员",
    "col.commission_collected": "实收金额",
    "col.commission_target": "收费目标",
    "col.attainment": "达成率",
    "col.commission": "提成",
    "col.adjustments": "调整",
    "col.commission_total": "提成合计",
    "col.name": "姓名",
    "col.role": "岗位",
    "col.team": "班组",
    "col.total": "总分",
    "col.grade": "等级",
    "col.rank": "组内排名",
    "col.bonus": "绩效奖金",
    # chart titles
    "chart.tickets_by_category": "工单分类占比",
    "chart.tickets_by_channel": "各渠道受理量",
    "chart.daily_intake": "每日受理量",
    "chart.timeliness": "各环节及时率",
    "chart.service_quality": "服务质量指标",
    "chart.collection_by_building": "本期实收与历史欠费清缴",
    "chart.arrears_aging": "欠费金额按账龄",
    "chart.notices_sent": "各类通知数量",
    "chart.commission": "收费员提成合计",
    "chart.appraisal": "考核总分",
    # notes
    "note.tickets": (
        "统计{start}至{end}受理的工单（来电、来访、线上、意见箱；巡查发现与计划工单另计）；"
        "及时率等截至{as_of}。"
    ),
    "note.provisional": "{n} 张工单的及时率按临时截止时间计算",
    "note.provisional_one": "1 张工单的及时率按临时截止时间计算",
    "note.held": "{n} 张工单有截止时间暂缺，计算前不计入及时率",
    "note.held_one": "1 张工单有截止时间暂缺，计算前不计入及时率",
    "note.holiday_gaps": "{counts}（{gaps}）。",
    "note.count_sep": "；",
    "note.then": "{note}{then}",
    "note.collection": (
        "收缴率＝本期实收（现金）÷本期应收，截至{as_of}；补偿金等折抵另列，不计入收缴率；"
        "历史欠费清缴为本月以现金收回的{year}年以前账单欠费。"
    ),
    "note.aging": (
        "截至{as_of}已过缴费期限的欠费，按逾期天数计算账龄；未到期为已出账、未到缴费期限的金额。"
    ),
    "note.notices": "按通知应发送时间统计（含免打扰顺延），数据取自发件箱。",
    "note.commission_unsettled": "{period}的提成尚未结算。",
    "note.commission": "已结算；调整为方案更正后补结的差额。",
    "note.appraisal_closed": "本月考核已关账。",
    "note.appraisal_open": "本月考核未关账，结果为即时计算。",
    "note.appraisal_none": "本月没有考核结果（未设置考核方案）。",
    "note.appraisal_no_calendar": "本月未能考核：日历缺少 {year} 年的节假日数据。",
    "note.appraisal_provisional": "考核中的及时率指标按临时截止时间计算（{gaps}）。",
    # values
    "category.consultation": "咨询",
    "category.suggestion": "意见建议",
    "category.complaint": "投诉",
    "category.common_repair": "公共维修",
    "category.home_repair": "居家维修",
    "category.other_service": "其它服务",
    "category.praise": "表扬",
    "channel.phone": "电话",
    "channel.visit": "来访",
    "channel.online": "线上",
    "channel.patrol": "巡查",
    "channel.letter_box": "意见箱",
    "source.intake": "来电来访等受理",
    "source.patrol": "巡查与计划工单",
    "method.notice": "张贴通知",
    "method.phone": "电话",
    "method.sms": "短信",
    "method.visit": "上门",
    "outcome.paid": "已缴费",
    "outcome.promised": "承诺缴费",
    "outcome.refused": "拒缴",
    "outcome.nobody_home": "无人在家",
    "outcome.sent": "已发送",
    "target.response": "响应及时率",
    "target.arrival": "到场及时率",
    "target.resolution": "处理及时率",
    "target.callback": "回访及时率",
    "quality.rework": "返修率",
    "quality.callback": "回访率",
    "quality.satisfaction": "满意率",
    "quality.complaint_resolution": "投诉处理率",
    "aging.0-30": "0-30天",
    "aging.31-90": "31-90天",
    "aging.91-180": "91-180天",
    "aging.181-365": "181-365天",
    "aging.1-2y": "1-2年",
    "aging.2-3y": "2-3年",
    "aging.>3y": "3年以上",
    "aging.not_due": "未到期",
    "template.notice": "通知公告",
    "template.ticket_assigned": "派单通知",
    "template.sla_alert": "时限提醒",
    "template.outage_notice": "停水停电通知",
    "template.dunning_sms": "催缴短信",
    "template.owner_welcome": "入住欢迎",
    "role.front_desk": "客服",
    "role.technician": "维修/秩序",
    "role.collector": "收费员",
    "role.supervisor": "主管",
    "role.finance": "财务",
    "role.manager": "经理",
    "role.admin": "管理员",
    "role.vendor": "外包单位",
    "role.team:front_desk": "客服班组",
    "role.team:repair": "维修班组",
    "role.team:cleaning": "保洁班组",
    "role.team:greening": "绿化班组",
    "role.team:security": "秩序班组",
    "role.team:collection": "收费班组",
    "role.team:other": "其它班组",
    "none": "未分配",
}

_EN: dict[str, str] = {
    "title": "Monthly service report",
    "subtitle": "{estate} · {month_name} {year}",
    "tickets_summary": "Tickets",
    "tickets_by_category": "Tickets by category",
    "tickets_by_channel": "Tickets by channel",
    "daily_intake": "Daily intake",
    "timeliness": "Timely rate by SLA target",
    "service_quality": "Rework, callbacks, satisfaction",
    "collection_summary": "Fee collection",
    "collection_by_building": "Collection rate by building",
    "arrears_aging": "Arrears aging",
    "notices_sent": "Notices sent",
    "commission": "Collector commission",
    "appraisal": "Appraisal ranking",
    "col.period": "Month",
    "col.source": "Source",
    "col.opened": "Opened",
    "col.closed": "Closed",
    "col.cancelled": "Cancelled",
    "col.open_now": "Still open",
    "col.outside_dispatched": "Outside work orders",
    "col.outside_completed": "Outside completed",
    "col.category": "Category",
    "col.channel": "Channel",
    "col.tickets": "Tickets",
    "col.share": "Share",
    "col.date": "Date",
    "col.target": "Target",
    "col.met": "On time",
    "col.counted": "Counted",
    "col.timely": "Timely rate",
    "col.timely_provisional": "Timely rate (provisional)",
    "col.patrol_met": "Patrol and planned: on time",
    "col.patrol_counted": "Patrol and planned: counted",
    "col.patrol_timely": "Patrol and planned: timely rate",
    "col.patrol_timely_provisional": "Patrol and planned: timely rate (provisional)",
    "col.provisional": "On provisional deadlines",
    "col.held": "Deadline held open",
    "col.holiday_gaps": "Awaiting holiday data",
    "col.metric": "Metric",
    "col.numerator": "Count",
    "col.denominator": "Out of",
    "col.rate": "Rate",
    "col.billed": "Billed",
    "col.collected": "Collected",
    "col.compensation": "Compensation credits",
    "col.other_credits": "Other credits",
    "col.credits": "Credits",
    "col.collection_rate": "Collection rate",
    "col.recovered": "Earlier arrears recovered",
    "col.outstanding": "Arrears outstanding",
    "col.building": "Building",
    "col.bucket": "Age",
    "col.amount": "Amount",
    "col.template": "Notice",
    "col.messages": "Messages",
    "col.delivered": "Delivered",
    "col.failed": "Failed",
    "col.pending": "Pending",
    "col.collector": "Collector",
    "col.commission_collected": "Collected",
    "col.commission_target": "Target",
    "col.attainment": "Attainment",
    "col.commission": "Commission",
    "col.adjustments": "Adjustments",
    "col.commission_total": "Total commission",
    "col.name": "Name",
    "col.role": "Role",
    "col.team": "Team",
    "col.total": "Score",
    "col.grade": "Grade",
    "col.rank": "Rank in team",
    "col.bonus": "Bonus",
    "chart.tickets_by_category": "Share of tickets by category",
    "chart.tickets_by_channel": "Tickets by channel",
    "chart.daily_intake": "Tickets opened per day",
    "chart.timeliness": "Timely rate by target",
    "chart.service_quality": "Service quality",
    "chart.collection_by_building": "Collected this month vs earlier arrears recovered",
    "chart.arrears_aging": "Arrears by age",
    "chart.notices_sent": "Notices by type",
    "chart.commission": "Commission per collector",
    "chart.appraisal": "Appraisal scores",
    "note.tickets": (
        "Tickets opened {start} to {end} (calls, visits, online, letter box; patrol findings "
        "and planned work counted apart); deadlines judged as of {as_of}."
    ),
    "note.provisional": "{n} tickets' timeliness rests on provisional deadlines",
    "note.provisional_one": "1 ticket's timeliness rests on provisional deadlines",
    "note.held": "{n} tickets have a deadline held open, not counted until computed",
    "note.held_one": "1 ticket has a deadline held open, not counted until computed",
    "note.holiday_gaps": "{counts} ({gaps}).",
    "note.count_sep": "; ",
    "note.then": "{note} {then}",
    "note.collection": (
        "Collection rate = cash collected for the month's bills / billed, as of {as_of}; "
        "compensation and other credits are shown apart, not in the rate; earlier arrears: "
        "cash paid in the month for bills of years before {year}."
    ),
    "note.aging": (
        "Arrears past their due date at {as_of}, aged by days past due; not yet due: billed, "
        "not due yet."
    ),
    "note.notices": (
        "Counted by when each notice was due to go out (quiet hours postpone it), from the outbox."
    ),
    "note.commission_unsettled": "Commission for {period} has not been settled yet.",
    "note.commission": "Settled; adjustments are what plan corrections paid afterwards.",
    "note.appraisal_closed": "The month's appraisal is closed.",
    "note.appraisal_open": "The month's appraisal is still open: results computed now.",
    "note.appraisal_none": "No appraisal results for the month (no scorecards).",
    "note.appraisal_no_calendar": "Not appraised: the calendar has no holiday data for {year}.",
    "note.appraisal_provisional": (
        "The appraisal's timeliness KPIs rest on provisional deadlines ({gaps})."
    ),
    "category.consultation": "Consultation",
    "category.suggestion": "Suggestion",
    "category.complaint": "Complaint",
    "category.common_repair": "Common-area repair",
    "category.home_repair": "In-home repair",
    "category.other_service": "Other service",
    "category.praise": "Praise",
    "channel.phone": "Phone",
    "channel.visit": "Visit",
    "channel.online": "Online",
    "channel.patrol": "Patrol",
    "channel.letter_box": "Letter box",
    "source.intake": "Intake (calls, visits, online, letter box)",
    "source.patrol": "Patrol and planned work",
    "method.notice": "posted notice",
    "method.phone": "phone",
    "method.sms": "SMS",
    "method.visit": "visit",
    "outcome.paid": "paid",
    "outcome.promised": "promised to pay",
    "outcome.refused": "refused",
    "outcome.nobody_home": "nobody home",
    "outcome.sent": "sent",
    "target.response": "Response",
    "target.arrival": "Arrival on site",
    "target.resolution": "Resolution",
    "target.callback": "Callback",
    "quality.rework": "Rework rate",
    "quality.callback": "Callback rate",
    "quality.satisfaction": "Satisfaction rate",
    "quality.complaint_resolution": "Complaints resolved",
    "aging.0-30": "0-30 days",
    "aging.31-90": "31-90 days",
    "aging.91-180": "91-180 days",
    "aging.181-365": "181-365 days",
    "aging.1-2y": "1-2 years",
    "aging.2-3y": "2-3 years",
    "aging.>3y": "Over 3 years",
    "aging.not_due": "Not yet due",
    "template.notice": "Notice",
    "template.ticket_assigned": "Ticket assigned",
    "template.sla_alert": "SLA alert",
    "template.outage_notice": "Outage notice",
    "template.dunning_sms": "Dunning SMS",
    "template.owner_welcome": "Welcome",
    "role.front_desk": "Front desk",
    "role.technician": "Technician",
    "role.collector": "Collector",
    "role.supervisor": "Supervisor",
    "role.finance": "Finance",
    "role.manager": "Manager",
    "role.admin": "Administrator",
    "role.vendor": "Vendor",
    "role.team:front_desk": "Front desk team",
    "role.team:repair": "Repair team",
    "role.team:cleaning": "Cleaning team",
    "role.team:greening": "Greening team",
    "role.team:security": "Security team",
    "role.team:collection": "Collection team",
    "role.team:other": "Other team",
    "none": "Unassigned",
}

# Every label of the report, one dict per language (the same keys in each).
LABELS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {"zh-CN": MappingProxyType(_ZH), "en": MappingProxyType(_EN)}
)

_MONTHS_EN = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip
_FOUR_PLACES = Decimal("0.0001")


class _Labels:
    """The labels of one language; a value without a label reads as itself."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self._labels = LABELS[lang]

    def __call__(self, key: str, **fields: object) -> str:
        text = self._labels[key]
        return text.format(**fields) if fields else text

    def counted(self, key: str, n: int) -> str:
        """``key`` for ``n`` things: ``<key>_one`` when there is one."""
        return self(f"{key}_one") if n == 1 else self(key, n=n)

    def then(self, note: str, more: str) -> str:
        """``more`` after ``note``, as the language joins sentences."""
        return self("note.then", note=note, then=more) if more else note

    def value(self, kind: str, value: str) -> str:
        return self._labels.get(f"{kind}.{value}", value)

    def col(self, name: str, kind: str = "text") -> Column:
        return Column(self._labels[f"col.{name}"], kind)

    def cols(self, *specs: str) -> tuple[Column, ...]:
        """Columns by ``"name"`` (text) or ``"name:kind"``."""
        return tuple(self.col(*spec.split(":", 1)) for spec in specs)


def attempt_label(method: str, outcome: str, lang: str = "zh-CN") -> str:
    """A dunning attempt's method and outcome as people read them: ``上门·无人在家``,
    ``visit, nobody home``. A code without a label reads as itself."""
    t = _Labels(lang)
    words = (t.value("method", method), t.value("outcome", outcome))
    return "·".join(words) if lang == "zh-CN" else ", ".join(words)


def _share(part: int | Decimal, whole: int | Decimal) -> Decimal | None:
    if whole == 0:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(_FOUR_PLACES, rounding=ROUND_HALF_UP)


def _month_bounds(period: str) -> tuple[date, date]:
    first = parse_period(period)
    nxt = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, nxt


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M")


def build_monthly(
    app: Propcare,
    actor: Actor,
    estate_id: EstateId | int,
    period: str,
    *,
    lang: str = "zh-CN",
) -> Report:
    """The monthly service report of ``estate_id`` for ``period`` (``"2026-10"``).

    Needs the actor to read the estate, its tickets, ledger, staff, commission and
    appraisal (a manager or an administrator). A month that has not begun is refused.
    """
    if lang not in LABELS:
        raise ValidationError("lang", lang, f"must be one of: {', '.join(LABELS)}")
    first, nxt = _month_bounds(period)
    estate = app.estates.get(actor, EstateId(estate_id))
    zone = app.zone(estate.timezone)
    start = datetime.combine(first, datetime.min.time(), zone)
    end = datetime.combine(nxt, datetime.min.time(), zone)
    now = app.clock.now().astimezone(zone)
    if now < start:
        raise ValidationError("period", period, "has not begun yet")
    # Money as it stood at the last instant of the month (the ledger's as_of includes it,
    # so the next month's first postings stay out), or now while the month runs: the
    # collection rate's own cut-off, so the report, the demo and the appraisal agree.
    cutoff = collection_cutoff(period, zone, now)
    t = _Labels(lang)
    subtitle = t(
        "subtitle",
        estate=estate.name,
        year=first.year,
        month=first.month,
        month_name=_MONTHS_EN[first.month - 1],
    )
    ctx = _Context(app, actor, estate.id, period, first, nxt, start, end, now, cutoff, t)
    gaps = app.tickets.holiday_gaps(actor, estate.id, period=period)
    tickets = _ticket_sections(ctx, gaps)
    aging = app.arrears.aging(actor, estate.id, as_of=cutoff, include_not_due=True)
    sections = (
        *tickets[:3],  # summary, by category, by channel
        _daily_intake(ctx),
        *tickets[3:],  # timeliness, service quality
        *_collection_sections(ctx, aging),
        _aging(ctx, aging),
        _notices(ctx),
        _commission(ctx),
        _appraisal(ctx, gaps),
    )
    return Report(title=t("title"), subtitle=subtitle, lang=lang, sections=sections)


@attrs.frozen
class _Context:
    """What every section reads: who asks, the month's days and instants, the labels."""

    app: Propcare
    actor: Actor
    estate_id: EstateId
    period: str
    first: date  # the month's first day
    nxt: date  # the next month's first day
    start: datetime  # the month is [start, end) in the estate's time zone
    end: datetime
    now: datetime
    cutoff: datetime  # money is read as of this instant
    t: _Labels


# --- tickets ---------------------------------------------------------------------------


def _rate_row(label: str, rate: Rate) -> tuple[Value, ...]:
    return (label, *_rate_values(rate))


def _rate_values(rate: Rate) -> tuple[Value, ...]:
    return (rate.numerator, rate.denominator, rate.value)


def _gaps_note(t: _Labels, ms: Sequence[TicketMetrics], gaps: HolidayGaps) -> str:
    """How many of the month's tickets (of every source in ``ms``) have their timeliness on
    provisional deadlines or a deadline held open, and why ("" when none)."""
    if not gaps.tickets:
        return ""
    provisional, held = sum(m.provisional for m in ms), sum(m.held for m in ms)
    counts = [
        t.counted(f"note.{k}", n) for k, n in (("provisional", provisional), ("held", held)) if n
    ]
    return t(
        "note.holiday_gaps", counts=t("note.count_sep").join(counts), gaps=gaps.describe(t.lang)
    )


def _ticket_sections(ctx: _Context, gaps: HolidayGaps) -> tuple[Section, ...]:
    t = ctx.t

    def metrics(source: Source) -> TicketMetrics:
        (found,) = ctx.app.ticket_stats.metrics(
            ctx.actor, ctx.estate_id, ctx.start, ctx.end, as_of=ctx.now, source=source
        )
        return found

    # The intake (what residents brought) is the month's statistics; patrol findings and
    # planned work are the staff's own, counted apart with their own timeliness.
    m, patrol = metrics(Source.INTAKE), metrics(Source.PATROL)
    last_day = ctx.nxt - timedelta(days=1)
    note = t("note.tickets", start=ctx.first, end=last_day, as_of=_stamp(ctx.now))
    # Timeliness resting on deadlines that wait for holiday data says so, in every format:
    # columns (CSV has no notes), a heading, and the notes.
    provisional = bool(gaps.tickets)
    timely_note = t.then(note, _gaps_note(t, (m, patrol), gaps))
    summary_cols = t.cols(
        "source",
        "period",
        "opened:count",
        "closed:count",
        "cancelled:count",
        "open_now:count",
        "outside_dispatched:count",
        "outside_completed:count",
    )
    summary_rows: list[tuple[Value, ...]] = []
    for row in (m, patrol):
        summary_row: tuple[Value, ...] = (
            t.value("source", row.source.value),
            ctx.period,
            row.opened,
            row.closed,
            row.cancelled,
            row.open_now,
            row.outside_dispatched,
            row.outside_completed,
        )
        if provisional:
            waiting = gaps.describe(t.lang) if row.provisional or row.held else ""
            summary_row += (row.provisional, row.held, waiting)
        summary_rows.append(summary_row)
    if provisional:
        summary_cols += t.cols("provisional:count", "held:count", "holiday_gaps")
    summary = Section(
        key="tickets_summary",
        title=t("tickets_summary"),
        columns=summary_cols,
        rows=rows(summary_rows),
        note=timely_note,
    )

    def counted(
        kind: str, keys: Sequence[str], counts: Mapping[str, int], chart: ChartKind
    ) -> Section:
        return Section(
            key=f"tickets_by_{kind}",
            title=t(f"tickets_by_{kind}"),
            columns=t.cols(kind, "tickets:count", "share:rate"),
            rows=rows(
                [
                    (t.value(kind, k), counts.get(k, 0), _share(counts.get(k, 0), m.opened))
                    for k in keys
                ]
            ),
            chart=Chart(chart, 0, (1,), t(f"chart.tickets_by_{kind}")),
        )

    by_category = counted("category", CATEGORIES, m.by_category, ChartKind.PIE)
    by_channel = counted("channel", INTAKE_CHANNELS, m.by_channel, ChartKind.BAR)
    timely = "timely_provisional" if provisional else "timely"
    timeliness = Section(
        key="timeliness",
        title=t("timeliness"),
        columns=t.cols(
            "target",
            "met:count",
            "counted:count",
            f"{timely}:rate",
            "patrol_met:count",
            "patrol_counted:count",
            f"patrol_{timely}:rate",
        ),
        rows=rows(
            [
                (
                    *_rate_row(t.value("target", x), m.timely[x]),
                    *_rate_values(patrol.timely[x]),
                )
                for x in TARGETS
            ]
        ),
        chart=Chart(ChartKind.BAR, 0, (3, 6), t("chart.timeliness")),
        note=timely_note,
    )
    quality = Section(
        key="service_quality",
        title=t("service_quality"),
        columns=t.cols("metric", "numerator:count", "denominator:count", "rate:rate"),
        rows=rows(
            [
                _rate_row(t.value("quality", q), rate)
                for q, rate in (
                    ("rework", m.rework),
                    ("callback", m.callback),
                    ("satisfaction", m.satisfaction),
                    ("complaint_resolution", m.complaint_resolution),
                )
            ]
        ),
        chart=Chart(ChartKind.BAR, 0, (3,), t("chart.service_quality")),
        note=note,
    )
    return summary, by_category, by_channel, timeliness, quality


def _daily_intake(ctx: _Context) -> Section:
    """Intake tickets opened each day of the month (the days still to come left out)."""
    t, zone = ctx.t, ctx.start.tzinfo
    out: list[tuple[Value, ...]] = []
    day = ctx.first
    while day < ctx.nxt:
        day_start = datetime.combine(day, datetime.min.time(), zone)
        if day_start > ctx.now:
            break
        day_end = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone)
        (m,) = ctx.app.ticket_stats.metrics(
            ctx.actor, ctx.estate_id, day_start, day_end, as_of=ctx.now, source=Source.INTAKE
        )
        out.append((day.isoformat(), m.opened))
        day += timedelta(days=1)
    return Section(
        key="daily_intake",
        title=t("daily_intake"),
        columns=t.cols("date", "opened:count"),
        rows=rows(out),
        chart=Chart(ChartKind.LINE, 0, (1,), t("chart.daily_intake")),
    )


# --- fees ------------------------------------------------------------------------------


def _collection_sections(
    ctx: _Context, aging: list[tuple[str, Decimal]]
) -> tuple[Section, Section]:
    """收缴率 (cash over billed) with the credits beside it, as of the rate's own cut-off
    (which the note states), and 历史欠费清缴."""
    t, app = ctx.t, ctx.app
    (whole,) = app.arrears.collection_rate(ctx.actor, ctx.estate_id, ctx.period)
    note = t("note.collection", as_of=_stamp(whole.as_of), year=ctx.first.year)
    recovered = app.arrears.recovery(ctx.actor, ctx.estate_id, ctx.start, ctx.end)
    recovered_total = sum((amount for _g, amount in recovered), ZERO)
    outstanding = sum((amount for label, amount in aging if label != NOT_DUE), ZERO)
    summary = Section(
        key="collection_summary",
        title=t("collection_summary"),
        columns=t.cols(
            "period",
            "billed:money",
            "collected:money",
            "compensation:money",
            "other_credits:money",
            "collection_rate:rate",
            "recovered:money",
            "outstanding:money",
        ),
        rows=rows(
            [
                (
                    ctx.period,
                    whole.billed,
                    whole.cash,
                    whole.compensation,
                    whole.other_credits,
                    whole.rate,
                    recovered_total,
                    outstanding,
                )
            ]
        ),
        note=note,
    )
    rates = {
        r.group: r
        for r in app.arrears.collection_rate(
            ctx.actor, ctx.estate_id, ctx.period, group_by="building"
        )
        if r.group is not None
    }
    back = dict(
        app.arrears.recovery(ctx.actor, ctx.estate_id, ctx.start, ctx.end, group_by="building")
    )
    names = [b.name for b in app.estates.buildings(ctx.actor, ctx.estate_id)]
    names += sorted(str(g) for g in (set(rates) | set(back)) - set(names) if g is not None)
    out: list[tuple[Value, ...]] = []
    for name in dict.fromkeys(names):
        rate = rates.get(name)
        out.append(
            (
                name,
                ZERO if rate is None else rate.billed,
                ZERO if rate is None else rate.cash,
                ZERO if rate is None else rate.credits,
                None if rate is None else rate.rate,
                back.get(name, ZERO),
            )
        )
    by_building = Section(
        key="collection_by_building",
        title=t("collection_by_building"),
        columns=t.cols(
            "building",
            "billed:money",
            "collected:money",
            "credits:money",
            "collection_rate:rate",
            "recovered:money",
        ),
        rows=rows(out),
        chart=Chart(ChartKind.BAR, 0, (2, 5), t("chart.collection_by_building")),
        note=note,
    )
    return summary, by_building


def _aging(ctx: _Context, buckets: list[tuple[str, Decimal]]) -> Section:
    t = ctx.t
    total = sum((amount for _label, amount in buckets), ZERO)
    return Section(
        key="arrears_aging",
        title=t("arrears_aging"),
        columns=t.cols("bucket", "amount:money", "share:rate"),
        rows=rows(
            [(t.value("aging", label), amount, _share(amount, total)) for label, amount in buckets]
        ),
        chart=Chart(ChartKind.BAR, 0, (1,), t("chart.arrears_aging")),
        note=t("note.aging", as_of=_stamp(ctx.cutoff)),
    )


# --- notices ---------------------------------------------------------------------------


def _notice_counts(
    app: Propcare, estate_id: EstateId, start: datetime, end: datetime
) -> dict[tuple[str, str], dict[str, int]]:
    """(template, channel) -> counts of the estate's notifications due in ``[start, end)``:
    ``messages`` and their deliveries by outcome (``delivered``, ``failed``, ``pending``:
    not sent yet, or being sent). Read from the outbox in one query (no service reports
    notifications yet), for the topics of known templates. Checks no permission: the
    caller has."""
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(
        lambda: {"messages": 0, "delivered": 0, "failed": 0, "pending": 0}
    )
    templates = {f"notify.{name}": name for name in app.templates.names()}
    with app.unit_of_work(readonly=True) as uow:
        rows = uow.outbox.notification_deliveries(estate_id, start, end)
    seen: set[int] = set()
    for message_id, topic, channel, status in rows:
        template = templates.get(topic)
        if template is None:
            continue
        row = counts[(template, channel)]
        if message_id not in seen:
            seen.add(message_id)
            row["messages"] += 1
        if status is not None:
            row[status if status in ("delivered", "failed") else "pending"] += 1
    return dict(counts)


def _notices(ctx: _Context) -> Section:
    t = ctx.t
    counts = _notice_counts(ctx.app, ctx.estate_id, ctx.start, ctx.end)
    return Section(
        key="notices_sent",
        title=t("notices_sent"),
        columns=t.cols(
            "template",
            "channel",
            "messages:count",
            "delivered:count",
            "failed:count",
            "pending:count",
        ),
        rows=rows(
            [
                (
                    t.value("template", template),
                    channel,
                    c["messages"],
                    c["delivered"],
                    c["failed"],
                    c["pending"],
                )
                for (template, channel), c in sorted(counts.items())
            ]
        ),
        chart=Chart(ChartKind.BAR, 0, (2,), t("chart.notices_sent")),
        note=t("note.notices"),
    )


# --- commission and appraisal ----------------------------------------------------------


def _commission(ctx: _Context) -> Section:
    t = ctx.t
    statements = ctx.app.commission.statements(ctx.actor, ctx.estate_id, period=ctx.period)
    names: dict[int, str] = {s.id: s.name for s in ctx.app.staff.list(ctx.actor, ctx.estate_id)}
    per: dict[int, list[Statement]] = defaultdict(list)
    for s in statements:
        per[s.staff_id].append(s)
    out: list[tuple[Value, ...]] = []
    for staff_id, own in sorted(per.items(), key=lambda kv: (names.get(kv[0], ""), kv[0])):
        main = [s for s in own if s.sequence == 0]
        later = [s for s in own if s.sequence != 0]
        inputs: Mapping[str, object] = main[0].inputs if main else {}
        collected = inputs.get("collected")
        target = inputs.get("target")
        attainment = inputs.get("attainment")
        paid = sum(s.total_fen for s in main)
        adjusted = sum(s.total_fen for s in later)
        out.append(
            (
                names.get(staff_id, f"#{staff_id}"),
                from_fen(collected) if isinstance(collected, int) else None,
                from_fen(target) if isinstance(target, int) and target > 0 else None,
                Decimal(attainment) if isinstance(attainment, str) else None,
                from_fen(paid),
                from_fen(adjusted),
                from_fen(paid + adjusted),
            )
        )
    note = t("note.commission") if statements else t("note.commission_unsettled", period=ctx.period)
    return Section(
        key="commission",
        title=t("commission"),
        columns=t.cols(
            "collector",
            "commission_collected:money",
            "commission_target:money",
            "attainment:rate",
            "commission:money",
            "adjustments:money",
            "commission_total:money",
        ),
        rows=rows(out),
        chart=Chart(ChartKind.BAR, 0, (6,), t("chart.commission")),
        note=note,
    )


_KIND_ORDER = {"staff": 0, "team": 1, "vendor": 2}


def _appraisal(ctx: _Context, gaps: HolidayGaps) -> Section:
    t = ctx.t
    columns = t.cols("name", "role", "team", "total:score", "grade", "rank:count", "bonus:money")
    chart = Chart(ChartKind.BAR, 0, (3,), t("chart.appraisal"))
    try:
        appraisal = ctx.app.appraisal.appraise(ctx.actor, ctx.estate_id, ctx.period)
    except CalendarDataMissing as missing:
        # Working days count in some KPIs; the rest of the report stands without them.
        note = t("note.appraisal_no_calendar", year=missing.value)
        return Section("appraisal", t("appraisal"), columns, (), chart=chart, note=note)
    teams: dict[int, str] = {x.id: x.name for x in ctx.app.staff.teams(ctx.actor, ctx.estate_id)}
    results = sorted(
        appraisal.results,
        key=lambda r: (
            _KIND_ORDER.get(r.subject_kind, 3),
            r.total is None,
            -(r.total or Decimal(0)),
            r.name,
            r.subject_id,
        ),
    )
    out: list[tuple[Value, ...]] = [
        (
            r.name,
            t.value("role", r.role),
            teams.get(r.team_id, "") if r.team_id is not None else "",
            r.total,
            r.grade,
            r.rank,
            r.bonus.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP),
        )
        for r in results
    ]
    if not results:
        note = t("note.appraisal_none")
    else:
        note = t("note.appraisal_closed") if appraisal.closed else t("note.appraisal_open")
        if gaps.tickets:  # the timeliness KPIs count the month's tickets, as the report does
            note = t.then(note, t("note.appraisal_provisional", gaps=gaps.describe(t.lang)))
    return Section(
        key="appraisal",
        title=t("appraisal"),
        columns=columns,
        rows=rows(out),
        chart=chart,
        note=note,
    )


# --- writing ---------------------------------------------------------------------------


def _html_writer() -> Callable[[Report, Path], object] | None:
    """``propcare.reports.html.write_html`` when that module is installed, else None."""
    try:
        module = importlib.import_module("propcare.reports.html")
    except ImportError as exc:
        if exc.name != "propcare.reports.html":
            raise  # the module is there but broken: that is a bug to see, not to skip
        return None
    writer: Callable[[Report, Path], object] = module.write_html
    return writer


def write_monthly(
    app: Propcare,
    actor: Actor,
    estate_id: EstateId | int,
    period: str,
    out_dir: Path | str,
    *,
    lang: str = "zh-CN",
) -> dict[str, Path]:
    """Build the month's report and write it into ``out_dir``:
    ``monthly-<period>-<estate id>.xlsx``, one CSV per section in the directory
    ``monthly-<period>-<estate id>-csv/``, and ``monthly-<period>-<estate id>.html`` when
    the HTML writer is installed.

    Returns the paths written: ``"xlsx"``, ``"html"`` (when written) and
    ``"csv:<section key>"`` for each CSV.
    """
    from propcare.reports.export import write_csv, write_xlsx

    report = build_monthly(app, actor, estate_id, period, lang=lang)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"monthly-{period}-{int(estate_id)}"
    written: dict[str, Path] = {"xlsx": write_xlsx(report, out / f"{stem}.xlsx")}
    for path in write_csv(report, out / f"{stem}-csv"):
        written[f"csv:{path.stem}"] = path
    write_html = _html_writer()
    if write_html is not None:
        html_path = out / f"{stem}.html"
        result = write_html(report, html_path)
        written["html"] = result if isinstance(result, Path) else html_path
    return written
