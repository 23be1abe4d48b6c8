"""Appraisal (``app.appraisal``): scorecards, inputs, monthly cycles, results and pay.

A month is appraised from the records (the metrics) and the inputs entered for it
(three-level inspections with itemised deductions, training scores, discipline,
commendations). ``appraise`` shows the results at any time; ``close`` freezes them once
the month is over: inputs for a closed month are refused, and a correction is an
adjustment entered in a later, open month. Quarters and years aggregate the closed
months: the mean of a person's monthly totals (months without a result left out),
graded by the bands of the scorecard in force at the end of the span.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import attrs

from propcare.access import Actor
from propcare.appraisal.kpi import (
    CENT,
    HUNDRED,
    ZERO,
    Band,
    Kpi,
    Score,
    Scorecard,
    calibrate,
    calibration_limits,
    grade_of,
    rank_within,
    score,
)
from propcare.appraisal.metrics import BUILTIN, KpiMetric, MetricContext, Subject, builtin_values
from propcare.errors import ConfigError, Conflict, NotFound, ValidationError
from propcare.ledger.billing import parse_period
from propcare.period import Period
from propcare.registry.model import Estate, EstateId, Staff
from propcare.service import Service
from propcare.storage.ports import UnitOfWork
from propcare.validators import NOTE_MAX, optional_record_id, record_id, text

__all__ = ["AggregateResult", "Appraisal", "AppraisalService", "Result"]

LEVELS = ("team_leader", "supervisor", "area_steward")


@attrs.frozen
class Result:
    """One person's (team's, vendor's) appraisal for a month."""

    subject_kind: str
    subject_id: int
    name: str
    role: str
    team_id: int | None
    scorecard_version: int
    score: Score
    grade: str | None  # after calibration
    grade_before: str | None  # before calibration
    rank: int | None  # within the team (teams and vendors: within their kind)
    bonus: Decimal

    @property
    def total(self) -> Decimal | None:
        return self.score.total


@attrs.frozen
class Appraisal:
    estate_id: int
    period: str
    results: tuple[Result, ...]
    closed: bool
    calibration: Mapping[str, Decimal] = attrs.field(factory=dict)

    def of(self, kind: str, subject_id: int) -> Result:
        for r in self.results:
            if (r.subject_kind, r.subject_id) == (kind, subject_id):
                return r
        raise NotFound("subject", (kind, subject_id), "has no result in this appraisal")


@attrs.frozen
class AggregateResult:
    subject_kind: str
    subject_id: int
    name: str
    span: str
    months: tuple[str, ...]
    total: Decimal
    grade: str | None


def _period_bounds(period: str, zone: Any) -> tuple[datetime, datetime]:
    first = parse_period(period)
    nxt = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return datetime.combine(first, datetime.min.time(), zone), datetime.combine(
        nxt, datetime.min.time(), zone
    )


def _points(field: str, value: object, *, low: Decimal, high: Decimal) -> Decimal:
    if isinstance(value, bool | float) or not isinstance(value, Decimal | int | str):
        raise ValidationError(field, value, "write it as a Decimal, not a float")
    try:
        out = Decimal(value)
    except ArithmeticError:
        raise ValidationError(field, value, "is not a number") from None
    if not out.is_finite() or not low <= out <= high:
        raise ValidationError(field, value, f"must be from {low} to {high}")
    return out


def _result_body(r: Result) -> dict[str, Any]:
    s = r.score

    def d(v: Decimal | None) -> str | None:
        return None if v is None else str(v)

    return {
        "subject": [r.subject_kind, r.subject_id], "name": r.name, "role": r.role,
        "team_id": r.team_id, "scorecard_version": r.scorecard_version,
        "total": d(s.total), "grade": r.grade, "grade_before": r.grade_before, "rank": r.rank,
        "bonus": str(r.bonus), "commendations": str(s.commendations),
        "deductions": str(s.deductions), "score_grade": s.grade, "score_bonus": str(s.bonus),
        "lines": [
            [x.metric, d(x.value), d(x.target), x.rule, d(x.points), str(x.weight),
             str(x.weighted), x.note]
            for x in s.lines
        ],
    }  # fmt: skip


def _result_from(body: Mapping[str, Any]) -> Result:
    from propcare.appraisal.kpi import KpiLine

    def d(v: str | None) -> Decimal | None:
        return None if v is None else Decimal(v)

    lines = tuple(
        KpiLine(m, d(v), d(t), rule, d(p), Decimal(w), Decimal(wd), note)
        for m, v, t, rule, p, w, wd, note in body["lines"]
    )
    s = Score(
        d(body["total"]), lines, Decimal(body["commendations"]), Decimal(body["deductions"]),
        body["score_grade"], Decimal(body["score_bonus"]),
    )  # fmt: skip
    kind, sid = body["subject"]
    return Result(
        kind, sid, body["name"], body["role"], body["team_id"], body["scorecard_version"], s,
        body["grade"], body["grade_before"], body["rank"], Decimal(body["bonus"]),
    )  # fmt: skip


class AppraisalService(Service):
    # --- scorecards -------------------------------------------------------------------

    def metric_names(self) -> dict[str, str]:
        """Every metric a KPI may name, built-in and from plugins, with what it measures."""
        out = dict(BUILTIN)
        for metric in self._plugin_metrics().values():
            out[metric.name] = metric.description
        return out

    def _plugin_metrics(self) -> dict[str, KpiMetric]:
        provided = self._app.host.kpi_metrics()
        out: dict[str, KpiMetric] = {}
        for p in provided:
            name = p.record.name
            if name in BUILTIN:
                raise ConfigError(
                    "kpi metric", name, f"is built in; plugin {p.plugin} redefines it"
                )
            if name in out:
                raise ConfigError("kpi metric", name, "is provided by more than one plugin")
            out[name] = p.record
        return out

    def add_scorecard(
        self,
        actor: Actor,
        estate_id: EstateId,
        role: str,
        *,
        effective_from: date,
        kpis: Sequence[Kpi],
        bands: Sequence[Band],
        multipliers: Mapping[str, Decimal] | None = None,
        base_bonus: Decimal = ZERO,
        inspection_weights: Mapping[str, Decimal] | None = None,
        praise_points: Decimal = ZERO,
        vendor_threshold: Decimal | None = None,
        vendor_deduction_rate: Decimal | None = None,
    ) -> Scorecard:
        """A scorecard, or the next version of the role's, from the first of a month not
        yet closed. ``role`` is a staff role, ``team:<kind>`` (cleaning teams:
        ``team:cleaning``) or ``vendor``."""
        actor = self._actor(actor)
        extra: dict[str, Any] = {}
        if inspection_weights is not None:
            extra["inspection_weights"] = inspection_weights
        if multipliers is not None:
            extra["multipliers"] = multipliers
        text("role", role)
        card = Scorecard(  # checked before the storage is asked anything
            estate_id=0,
            role=role,
            effective_from=effective_from,
            kpis=kpis,
            bands=bands,
            base_bonus=base_bonus,
            praise_points=praise_points,
            vendor_threshold=vendor_threshold,
            vendor_deduction_rate=vendor_deduction_rate,
            **extra,
        )
        with self._app.unit_of_work() as uow:
            estate = self._estate(uow, actor, estate_id, "appraisal.configure")
            card = Scorecard(
                estate_id=estate.id,
                role=role,
                effective_from=effective_from,
                kpis=card.kpis,
                bands=card.bands,
                multipliers=card.multipliers,
                base_bonus=base_bonus,
                praise_points=praise_points,
                vendor_threshold=vendor_threshold,
                vendor_deduction_rate=vendor_deduction_rate,
                inspection_weights=card.inspection_weights,
            )
            known = self.metric_names()
            for kpi in card.kpis:
                if kpi.metric not in known:
                    raise ValidationError("metric", kpi.metric, f"is not a metric: {sorted(known)}")
            if role != "vendor" and not role.startswith("team:"):
                from propcare.access import ROLES

                if role not in ROLES:
                    raise ValidationError(
                        "role", role, f"must be a staff role {ROLES}, team:<kind> or vendor"
                    )
            closed = uow.appraisal.closed_periods(estate.id)
            if closed and f"{card.effective_from:%Y-%m}" <= closed[-1]:
                raise Conflict(
                    "effective_from", card.effective_from, f"{closed[-1]} is closed; start after it"
                )
            stored = uow.appraisal.add_scorecard(card, self._app.clock.now(), actor.name)
            uow.commit()
        return stored

    def scorecards(self, actor: Actor, estate_id: EstateId) -> builtins.list[Scorecard]:
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, self._actor(actor), estate_id, "appraisal.read")
            return uow.appraisal.scorecards(estate.id)

    # --- inputs -------------------------------------------------------------------------

    def _open_period(self, uow: UnitOfWork, estate: Estate, period: str) -> None:
        parse_period(period)
        if period in uow.appraisal.closed_periods(estate.id):
            raise Conflict("period", period, "is closed: enter a correction in an open month")

    def _active_staff(self, uow: UnitOfWork, actor: Actor, staff_id: int, period: str) -> Staff:
        staff: Staff = self._get(uow, actor, uow.staff, "staff", staff_id, "appraisal.input")
        first = parse_period(period)
        last = _period_bounds(period, None)[1].date() - timedelta(days=1)
        if staff.active_from > last or (staff.active_to is not None and staff.active_to < first):
            raise ValidationError("staff_id", staff_id, f"{staff.name} is not active in {period}")
        return staff

    def record_inspection(
        self,
        actor: Actor,
        period: str,
        level: str,
        *,
        staff_id: int | None = None,
        team_id: int | None = None,
        vendor_id: int | None = None,
        deductions: Sequence[tuple[str, Decimal]] = (),
        base: Decimal = HUNDRED,
    ) -> Decimal:
        """An inspection at ``level`` (team_leader, supervisor, area_steward) of one staff
        member, team or vendor: ``base`` less each itemised deduction ("垃圾未清: 2").
        Returns the score (never below 0); at most 100 deductions."""
        actor = self._actor(actor)
        parse_period(period)
        if not isinstance(level, str) or level not in LEVELS:
            raise ValidationError("level", level, f"must be one of {', '.join(LEVELS)}")
        optional_record_id("staff_id", staff_id)
        optional_record_id("team_id", team_id)
        optional_record_id("vendor_id", vendor_id)
        if isinstance(deductions, str | bytes | Mapping) or not isinstance(deductions, Iterable):
            raise ValidationError("deductions", deductions, "must be a list of (reason, points)")
        deductions = tuple(deductions)
        if len(deductions) > 100:
            raise ValidationError("deductions", len(deductions), "at most 100")
        named = [
            (k, v)
            for k, v in (("staff", staff_id), ("team", team_id), ("vendor", vendor_id))
            if v is not None
        ]
        if len(named) != 1:
            raise ValidationError("subject", named, "name one staff member, team or vendor")
        base_points = _points("base", base, low=ZERO, high=HUNDRED)
        items: list[tuple[str, Decimal]] = []
        for i, item in enumerate(deductions):
            if not isinstance(item, tuple | list) or len(item) != 2:
                raise ValidationError(f"deductions[{i}]", item, "is (reason, points)")
            reason, pts = item
            if not isinstance(reason, str) or not reason.strip():
                raise ValidationError(f"deductions[{i}].reason", reason, "say what was found")
            text(f"deductions[{i}].reason", reason)
            items.append(
                (
                    reason.strip(),
                    _points(f"deductions[{i}].points", pts, low=Decimal("0.01"), high=HUNDRED),
                )
            )
        result = max(ZERO, base_points - sum((p for _r, p in items), ZERO))
        kind, sid = named[0]
        with self._app.unit_of_work() as uow:
            if kind == "staff":
                subject = self._active_staff(uow, actor, sid, period)
                estate_id = subject.estate_id
            else:
                repo = uow.teams if kind == "team" else uow.vendors
                record = self._get(uow, actor, repo, kind, sid, "appraisal.input")
                estate_id = record.estate_id
            estate = uow.estates.get(estate_id)
            assert estate is not None
            self._open_period(uow, estate, period)
            uow.appraisal.add_input(
                estate.id, period, (kind, sid), "inspection", result, level=level,
                deductions=items, entered_by=actor.name, entered_at=self._app.clock.now(),
            )  # fmt: skip
            uow.commit()
        return result

    def _staff_input(
        self, actor: Actor, staff_id: int, period: str, kind: str, value: Decimal, reason: str,
        corrects: str | None = None,
    ) -> None:  # fmt: skip
        actor = self._actor(actor)
        record_id("staff_id", staff_id)
        parse_period(period)
        if kind != "training" and (not isinstance(reason, str) or not reason.strip()):
            raise ValidationError("reason", reason, f"a {kind} needs a reason")
        text("reason", reason, max_length=NOTE_MAX, required=False)
        with self._app.unit_of_work() as uow:
            staff = self._active_staff(uow, actor, staff_id, period)
            estate = uow.estates.get(staff.estate_id)
            assert estate is not None
            self._open_period(uow, estate, period)
            if corrects is not None:
                parse_period(corrects)
                if corrects not in uow.appraisal.closed_periods(estate.id) or corrects >= period:
                    raise ValidationError(
                        "corrects_period", corrects, f"must be a closed month before {period}"
                    )
            uow.appraisal.add_input(
                estate.id, period, ("staff", staff.id), kind, value, reason=reason.strip(),
                corrects_period=corrects, entered_by=actor.name, entered_at=self._app.clock.now(),
            )  # fmt: skip
            uow.commit()

    def record_training(self, actor: Actor, staff_id: int, period: str, score: Decimal) -> None:
        """A training test score (0..100); a month's scores are averaged."""
        value = _points("score", score, low=ZERO, high=HUNDRED)
        self._staff_input(actor, staff_id, period, "training", value, "")

    def record_discipline(
        self, actor: Actor, staff_id: int, period: str, points: Decimal, reason: str
    ) -> None:
        """Points off the month's total for a breach of discipline, with the reason."""
        value = _points("points", points, low=Decimal("0.01"), high=HUNDRED)
        self._staff_input(actor, staff_id, period, "discipline", value, reason)

    def record_commendation(
        self, actor: Actor, staff_id: int, period: str, points: Decimal, reason: str
    ) -> None:
        """Points added to the month's total for a commendation, with the reason."""
        value = _points("points", points, low=Decimal("0.01"), high=HUNDRED)
        self._staff_input(actor, staff_id, period, "commendation", value, reason)

    def record_adjustment(
        self,
        actor: Actor,
        staff_id: int,
        period: str,
        points: Decimal,
        reason: str,
        *,
        corrects_period: str,
    ) -> None:
        """A correction of a closed month, as points (+ or -) in the open ``period``."""
        value = _points("points", points, low=-HUNDRED, high=HUNDRED)
        if value == 0:
            raise ValidationError("points", points, "a correction changes something")
        parse_period(corrects_period, "corrects_period")
        self._staff_input(actor, staff_id, period, "adjustment", value, reason, corrects_period)

    def inputs(
        self, actor: Actor, estate_id: EstateId, period: str
    ) -> builtins.list[dict[str, Any]]:
        """The month's inputs with who entered them and when."""
        parse_period(period)
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, self._actor(actor), estate_id, "appraisal.read")
            return uow.appraisal.inputs(estate.id, period)

    # --- appraising -----------------------------------------------------------------------

    def appraise(
        self,
        actor: Actor,
        estate_id: EstateId,
        period: str,
        *,
        calibration: Mapping[str, Decimal] | None = None,
    ) -> Appraisal:
        """The month's results: stored ones once it is closed, else computed now."""
        actor = self._actor(actor)
        parse_period(period)
        calibration = None if calibration is None else calibration_limits(calibration)
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, actor, estate_id, "appraisal.read")
            if period in uow.appraisal.closed_periods(estate.id):
                return self._stored(uow, estate.id, period)
        return self._compute(actor, estate, period, calibration or {})

    def close(
        self,
        actor: Actor,
        estate_id: EstateId,
        period: str,
        *,
        calibration: Mapping[str, Decimal] | None = None,
    ) -> Appraisal:
        """Freeze a month that is over: its results, grades (after the optional forced
        distribution ``calibration``, e.g. ``{"A": Decimal("0.2")}``), ranks and bonuses,
        and the vendors' fee deductions. Closing a closed month returns it."""
        actor = self._actor(actor)
        parse_period(period)
        calibration = None if calibration is None else calibration_limits(calibration)
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, actor, estate_id, "appraisal.close")
            if period in uow.appraisal.closed_periods(estate.id):
                return self._stored(uow, estate.id, period)
        now = self._app.clock.now()
        zone = self._app.zone(estate.timezone)
        if period >= f"{now.astimezone(zone):%Y-%m}":
            raise ValidationError("period", period, "is not over yet; close months that are")
        with self._app.unit_of_work(readonly=True) as uow:
            waiting = uow.tickets.with_gaps(estate.id, Period.parse(period).bounds(zone))
        if waiting:
            # Closing is final and pays bonuses: not on timeliness judged against deadlines
            # that wait for a year's holiday data (appraise() shows them meanwhile).
            years = sorted({y for _, d in waiting for y in d.missing_years})
            raise ValidationError(
                "period",
                period,
                f"{len(waiting)} of its tickets have deadlines waiting for "
                f"{', '.join(map(str, years))} holiday data (provisional or held open): add "
                "the year's holidays and run recompute before closing",
            )
        appraisal = self._compute(actor, estate, period, calibration or {})
        cards = {c.role: c for c in self._cards_for(actor, estate, period)}
        with self._app.unit_of_work() as uow:
            if period in uow.appraisal.closed_periods(estate.id):
                return self._stored(uow, estate.id, period)  # another process closed it
            uow.appraisal.close(
                estate.id, period, now, actor.name,
                {g: str(s) for g, s in (calibration or {}).items()},
                [((r.subject_kind, r.subject_id), _result_body(r)) for r in appraisal.results],
            )  # fmt: skip
            for r in appraisal.results:
                card = cards.get(r.role)
                if (
                    r.subject_kind == "vendor" and card is not None and r.total is not None
                    and card.vendor_threshold is not None and r.total < card.vendor_threshold
                ):  # fmt: skip
                    rate = card.vendor_deduction_rate or ZERO
                    uow.appraisal.add_vendor_deduction(
                        estate.id, r.subject_id, period, r.total, rate,
                        f"score {r.total} below {card.vendor_threshold}", now,
                    )  # fmt: skip
            uow.commit()
        return attrs.evolve(appraisal, closed=True)

    def results(self, actor: Actor, estate_id: EstateId, period: str) -> Appraisal:
        """The stored results of a closed month (NotFound if it is not closed)."""
        actor = self._actor(actor)
        parse_period(period)
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, actor, estate_id, "appraisal.read")
            if period not in uow.appraisal.closed_periods(estate.id):
                raise NotFound("period", period, "is not closed; appraise() shows it as it stands")
            return self._stored(uow, estate.id, period)

    def vendor_deductions(
        self, actor: Actor, estate_id: EstateId, period: str
    ) -> builtins.list[tuple[int, Decimal, Decimal, str]]:
        """(vendor, score, share of the fee to deduct, reason) recorded at closing, for finance."""
        parse_period(period)
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, self._actor(actor), estate_id, "appraisal.read")
            return uow.appraisal.vendor_deductions(estate.id, period)

    def aggregate(
        self, actor: Actor, estate_id: EstateId, span: str
    ) -> builtins.list[AggregateResult]:
        """A quarter (``2026-Q4``) or a year (``2026``) from its closed months: each
        subject's mean monthly total, graded by the bands in force at its end."""
        actor = self._actor(actor)
        if not isinstance(span, str):
            raise ValidationError("span", span, "write a quarter as 2026-Q4 or a year as 2026")
        if len(span) == 4 and span.isdigit():
            months = [f"{span}-{m:02d}" for m in range(1, 13)]
        elif len(span) == 7 and span[:4].isdigit() and span[4:6] == "-Q" and span[6] in "1234":
            q = int(span[6])
            months = [f"{span[:4]}-{m:02d}" for m in range(3 * q - 2, 3 * q + 1)]
        else:
            raise ValidationError("span", span, "write a quarter as 2026-Q4 or a year as 2026")
        parse_period(months[0], "span")
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, actor, estate_id, "appraisal.read")
            closed = [m for m in months if m in uow.appraisal.closed_periods(estate.id)]
            rows = uow.appraisal.results(estate.id, closed)
            cards = uow.appraisal.scorecards(estate.id)
        totals: dict[Subject, list[tuple[str, Decimal]]] = {}
        names: dict[Subject, tuple[str, str]] = {}
        for period, body in rows:
            subject = (body["subject"][0], body["subject"][1])
            names[subject] = (body["name"], body["role"])
            if body["total"] is not None:
                totals.setdefault(subject, []).append((period, Decimal(body["total"])))
        end = parse_period(months[-1])
        out = []
        for subject, scored in sorted(totals.items()):
            mean = (sum((t for _p, t in scored), ZERO) / len(scored)).quantize(
                CENT, rounding=ROUND_HALF_UP
            )
            live = [c for c in cards if c.role == names[subject][1] and c.effective_from <= end]
            card = max(live, key=lambda c: (c.effective_from, c.version)) if live else None
            out.append(
                AggregateResult(
                    subject[0], subject[1], names[subject][0], span,
                    tuple(p for p, _t in scored), mean,
                    grade_of(card.bands, mean) if card else None,
                )
            )  # fmt: skip
        return out

    # --- internals ----------------------------------------------------------------------

    def _stored(self, uow: UnitOfWork, estate_id: int, period: str) -> Appraisal:
        rows = uow.appraisal.results(estate_id, [period])
        calibration = {
            g: Decimal(v) for g, v in uow.appraisal.calibration(estate_id, period).items()
        }
        return Appraisal(
            estate_id, period, tuple(_result_from(b) for _p, b in rows), True, calibration
        )

    def _cards_for(self, actor: Actor, estate: Estate, period: str) -> builtins.list[Scorecard]:
        first = parse_period(period)
        with self._app.unit_of_work(readonly=True) as uow:
            cards = uow.appraisal.scorecards(estate.id)
        latest: dict[str, Scorecard] = {}
        for card in cards:
            if card.effective_from <= first:
                best = latest.get(card.role)
                if best is None or (card.effective_from, card.version) > (
                    best.effective_from,
                    best.version,
                ):
                    latest[card.role] = card
        return list(latest.values())

    def _compute(
        self, actor: Actor, estate: Estate, period: str, calibration: Mapping[str, Decimal]
    ) -> Appraisal:
        zone = self._app.zone(estate.timezone)
        start, end = _period_bounds(period, zone)
        first, last = start.date(), end.date() - timedelta(days=1)
        cards = {c.role: c for c in self._cards_for(actor, estate, period)}
        with self._app.unit_of_work(readonly=True) as uow:
            self._estate(uow, actor, EstateId(estate.id), "appraisal.read")
            staff = uow.staff.in_estate(EstateId(estate.id))
            teams = uow.teams.in_estate(EstateId(estate.id))
            vendors = uow.vendors.in_estate(EstateId(estate.id))
            inputs = uow.appraisal.inputs(estate.id, period)
        # Who is appraised, by which card: staff by their first role that has a card.
        subjects: dict[Subject, tuple[str, str, int | None]] = {}  # -> name, role, team
        for s in staff:
            if s.active_from > last or (s.active_to is not None and s.active_to < first):
                continue
            role = next((r for r in sorted(s.roles) if r in cards), None)
            if role is not None:
                subjects[("staff", s.id)] = (s.name, role, s.team_id)
        for t in teams:
            if f"team:{t.kind.value}" in cards:
                subjects[("team", t.id)] = (t.name, f"team:{t.kind.value}", None)
        if "vendor" in cards:
            for v in vendors:
                subjects[("vendor", v.id)] = (v.name, "vendor", None)
        calendar = self._app.calendars.get("office")
        days = frozenset(
            d for d in (first + timedelta(days=i) for i in range((last - first).days + 1))
            if calendar is None or calendar.windows_on(d)
        )  # fmt: skip
        ctx = MetricContext(
            self._app, actor, estate.id, period, start, end, min(end, self._app.clock.now()),
            tuple(subjects), days,
        )  # fmt: skip
        values = builtin_values(ctx)
        for name, metric in self._plugin_metrics().items():
            for subject, value in metric.compute(ctx).items():
                if subject in values:
                    values[subject][name] = value
        by_subject: dict[Subject, list[dict[str, Any]]] = {}
        for entry in inputs:
            by_subject.setdefault(entry["subject"], []).append(entry)
        scored: dict[Subject, Score] = {}
        for subject, (_name, role, _team) in subjects.items():
            card = cards[role]
            mine = by_subject.get(subject, [])
            vals = values.setdefault(subject, {})
            vals["inspection"] = _inspection(card, mine)
            trainings = [x["value"] for x in mine if x["kind"] == "training"]
            vals["training_score"] = sum(trainings, ZERO) / len(trainings) if trainings else None
            plus = sum((x["value"] for x in mine if x["kind"] == "commendation"), ZERO)
            plus += card.praise_points * (vals.get("_praise") or ZERO)
            minus = sum((x["value"] for x in mine if x["kind"] == "discipline"), ZERO)
            for x in mine:
                if x["kind"] == "adjustment":
                    plus, minus = (
                        (plus + x["value"], minus) if x["value"] > 0 else (plus, minus - x["value"])
                    )
            scored[subject] = score(card, vals, commendations=plus, deductions=minus)
        # Calibration within each scorecard's people; rank within each team.
        grades: dict[Subject, str | None] = {s: sc.grade for s, sc in scored.items()}
        if calibration:
            # A forced distribution ranks people: teams and vendors (one each, usually)
            # keep their grades.
            for role, card in cards.items():
                if role == "vendor" or role.startswith("team:"):
                    continue
                members = {
                    i: (scored[s].total, scored[s].grade, _heaviest(scored[s]))
                    for i, s in enumerate(sorted(subjects))
                    if subjects[s][1] == role and scored[s].total is not None
                }
                keyed = {i: s for i, s in enumerate(sorted(subjects))}
                after = calibrate(card.bands, members, calibration)  # type: ignore[arg-type]
                for i, g in after.items():
                    grades[keyed[i]] = g
        order = sorted(subjects)
        ranks = rank_within(
            {i: ((subjects[s][2], s[0]), scored[s].total) for i, s in enumerate(order)}
        )
        results = []
        for i, subject in enumerate(order):
            name, role, team = subjects[subject]
            card = cards[role]
            sc = scored[subject]
            grade = grades[subject]
            bonus = (
                (card.base_bonus * card.multipliers.get(grade, ZERO)).quantize(
                    CENT, rounding=ROUND_HALF_UP
                )
                if grade
                else ZERO
            )
            results.append(
                Result(subject[0], subject[1], name, role, team, card.version, sc, grade,
                       sc.grade, ranks[i], bonus)
            )  # fmt: skip
        return Appraisal(estate.id, period, tuple(results), False, dict(calibration))


def _inspection(card: Scorecard, inputs: Sequence[Mapping[str, Any]]) -> Decimal | None:
    """The levels' mean scores, weighted by the card (levels without one left out)."""
    by_level: dict[str, list[Decimal]] = {}
    for i in inputs:
        if i["kind"] == "inspection":
            by_level.setdefault(i["level"], []).append(i["value"])
    if not by_level:
        return None
    used = sum((card.inspection_weights[lv] for lv in by_level), ZERO)
    if used == 0:  # only levels the card weighs 0: nothing that counts was inspected
        return None
    return (
        sum(
            (card.inspection_weights[lv] * sum(s, ZERO) / len(s) for lv, s in by_level.items()),
            ZERO,
        )
        / used
    )


def _heaviest(s: Score) -> Decimal:
    lines = [x for x in s.lines if x.points is not None]
    return max(lines, key=lambda x: x.weight).weighted if lines else ZERO
