"""The metrics appraisal scores, computed from the records in SQL by the storage backend.

Each metric gives a value per subject (a staff member, a team or a vendor) for a period,
or None when there is nothing to measure: a rate with nothing counted is no data, never
100%. The built-in metrics (see :data:`BUILTIN`) come from the same queries as the
monthly statistics, the collection rate and arrears recovery, plus door visits and late
outage notices; plugins add more through ``propcare_kpi_metrics``.

The ticket metrics read the intake (``source="intake"`` of ``app.ticket_stats``: calls,
visits, online and letter-box requests), the figures the monthly report's 月统计 shows:
the service the staff owe residents. Patrol findings and the tickets maintenance plans
generate are left out, the count included: a plan opens its tickets by itself, so a
weekly patrol would otherwise add four "handled" tickets a month, timely by
construction. A plugin KPI that wants them reads ``source="patrol"``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import attrs

from propcare.access import Actor
from propcare.registry.model import EstateId

if TYPE_CHECKING:
    from propcare.app import Propcare

__all__ = ["BUILTIN", "KpiMetric", "MetricContext", "Subject", "builtin_values"]

Subject = tuple[str, int]  # ("staff" | "team" | "vendor", id)

# name -> what it measures (the value's unit in brackets)
BUILTIN: Mapping[str, str] = {
    "timely_response": "intake tickets answered by the response deadline (share)",
    "timely_arrival": "intake repairs reached on site by the arrival deadline (share)",
    "timely_resolution": "intake tickets resolved by the resolution deadline (share)",
    "timely_callback": "callbacks made by the callback deadline (share)",
    "rework_rate": "resolved intake tickets reopened as rework (share; lower is better)",
    "callback_rate": "intake tickets needing a callback that were called back (share)",
    "satisfaction_rate": "satisfied or basically satisfied ratings (share)",
    "complaint_resolution_rate": "complaints resolved (share)",
    "tickets_handled": "intake tickets opened in the period and assigned to them (count)",
    "collection_rate": (
        "收缴率 of the period's bills of the units they collect: cash over billed, as of the "
        "period's last instant (share)"
    ),
    "arrears_recovered": "earlier years' arrears collected in the period (yuan)",
    "visit_completion": "door visits (distinct unit and day) per working day (visits)",
    "outage_notices_late": "outage notices they announced late (count; lower is better)",
    "inspection": "three-level inspection score, levels weighted by the scorecard (0-100)",
    "training_score": "training test scores, averaged (0-100)",
}


@attrs.frozen
class MetricContext:
    """What a metric is computed for: the period [start, end) of one estate, and its
    subjects. ``app`` and ``actor`` let a plugin metric use the services."""

    app: Propcare
    actor: Actor
    estate_id: int
    period: str
    start: datetime
    end: datetime
    as_of: datetime
    subjects: tuple[Subject, ...]
    working_days: frozenset[date]


@attrs.frozen
class KpiMetric:
    """A metric a plugin provides through ``propcare_kpi_metrics``: ``compute(context)``
    returns a value per subject (missing or None: no data)."""

    name: str
    compute: Callable[[MetricContext], Mapping[Subject, Decimal | None]]
    description: str = ""


def builtin_values(ctx: MetricContext) -> dict[Subject, dict[str, Decimal | None]]:
    """The built-in metrics (all but the inspection and training inputs) per subject."""
    app, actor, estate = ctx.app, ctx.actor, EstateId(ctx.estate_id)
    out: dict[Subject, dict[str, Decimal | None]] = {s: {} for s in ctx.subjects}
    kinds = {kind for kind, _ in ctx.subjects}
    for kind, group_by in (("staff", "staff"), ("team", "team")):
        if kind not in kinds:
            continue
        for m in app.ticket_stats.metrics(
            actor, estate, ctx.start, ctx.end, group_by=group_by, as_of=ctx.as_of, source="intake"
        ):
            subject = (kind, m.group)
            if not isinstance(m.group, int) or subject not in out:
                continue
            values = out[subject]
            for target in ("response", "arrival", "resolution", "callback"):
                values[f"timely_{target}"] = m.timely[target].value
            values["rework_rate"] = m.rework.value
            values["callback_rate"] = m.callback.value
            values["satisfaction_rate"] = m.satisfaction.value
            values["complaint_resolution_rate"] = m.complaint_resolution.value
            values["tickets_handled"] = Decimal(m.opened)
            values["_praise"] = Decimal(m.by_category.get("praise", 0))
    if "staff" in kinds:
        staff = [sid for kind, sid in ctx.subjects if kind == "staff"]
        for s in staff:
            out[("staff", s)].setdefault("tickets_handled", Decimal(0))
        # The rate's own cut-off (the period's last instant, or now while it runs): the
        # same figure as the monthly report's and the demo's for the month.
        for rate in app.arrears.collection_rate(actor, estate, ctx.period, group_by="collector"):
            if ("staff", rate.group) in out and isinstance(rate.group, int):
                out[("staff", rate.group)]["collection_rate"] = rate.rate
        for group, amount in app.arrears.recovery(
            actor, estate, ctx.start, ctx.end, group_by="collector"
        ):
            if isinstance(group, int) and ("staff", group) in out:
                out[("staff", group)]["arrears_recovered"] = amount
        with app.unit_of_work(readonly=True) as uow:
            offset = ctx.start.utcoffset()
            minutes = int(offset.total_seconds() // 60) if offset is not None else 0
            visits = uow.appraisal.visit_days(estate, ctx.start, ctx.end, minutes)
            late = uow.appraisal.late_notices(estate, ctx.start, ctx.end)
        days = len(ctx.working_days)
        for s in staff:
            values = out[("staff", s)]
            if days:  # a quota only on scorecards with visits: zero visits is a value
                values["visit_completion"] = (Decimal(visits.get(s, 0)) / days).quantize(
                    Decimal("0.01")
                )
            values["outage_notices_late"] = Decimal(late.get(s, 0))
    return out
