"""Commission (``app.commission``): plans, targets, splits, and settling closed months.

Settling reads the month's allocations in one pass, attributes each line to its
collectors, and has each collector's plan type compute the lines; the settlement adds
floors and caps, clawbacks of money paid back, and keeps each statement as written.
Months of an estate are settled in order, and only once they are over. The estate's
attribution rule is configuration::

    Propcare.open(url, config={"commission": {"attribution": "dunning",
                                               "dunning_window_days": 30}})
"""

from __future__ import annotations

import builtins
import contextlib
import gc
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs

from propcare.access import Actor
from propcare.calendar import BusinessCalendar
from propcare.commission.basis import (
    Attribution,
    Attributor,
    BasisRow,
    CreditedLine,
    Split,
    attribute,
    attribution_rule,
)
from propcare.commission.plans import (
    CollectorMonth,
    CommissionPlanType,
    Line,
    Plan,
    WorkingWeeks,
)
from propcare.commission.settle import (
    CSV_HEADERS,
    SourceTotals,
    Statement,
    add_settled,
    adjustment_lines,
    clawback_lines,
    days_of,
    earn,
    month_bounds,
    month_from_inputs,
    month_inputs,
    statement_csv,
)
from propcare.errors import ConfigError, Conflict, ValidationError
from propcare.ledger.billing import parse_period
from propcare.money import exact, from_fen, to_fen
from propcare.registry.model import EstateId, Staff, StaffId
from propcare.service import Service
from propcare.storage.ports import UnitOfWork
from propcare.validators import (
    NOTE_MAX,
    bounded_int,
    choice,
    optional_record_id,
    text,
)
from propcare.validators import params as check_params

__all__ = ["CommissionService", "Settlement"]

# A monthly household target: more households than any estate has.
MAX_HOUSEHOLDS = 1_000_000


@attrs.frozen
class Settlement:
    """A settled month: its statements (and adjustment statements), and the money that
    earned no commission, by why (``no_collector``, ``no_plan``, ``not_settled``: paid back
    from a month before commission was settled)."""

    estate_id: int
    period: str
    statements: tuple[Statement, ...]
    uncommissioned: Mapping[str, int]
    new: bool  # False: settled before, and nothing changed since

    @property
    def total(self) -> Decimal:
        return from_fen(sum(s.total_fen for s in self.statements))


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Settling makes a few hundred thousand small tuples that hold no cycles; the cyclic
    collector would scan them again and again (a third of the time). Reference counting
    still frees everything; the collector is back on, as it was, afterwards."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _weekly_households(
    parts: Iterable[Iterable[CreditedLine]], sundays: Sequence[date]
) -> dict[tuple[int, date], int]:
    """(collector, Sunday) -> the households (units) each collector collected from in the
    week Monday to that Sunday, for the weeks ending on ``sundays``."""
    week: dict[date, int] = {}  # day -> the position of its week in ``sundays``
    for i, sunday in enumerate(sundays):
        for back in range(7):
            week[sunday - timedelta(days=back)] = i
    units: defaultdict[int, list[set[int]]] = defaultdict(lambda: [set() for _ in sundays])
    for lines in parts:
        for line in lines:  # by position (10^5 lines): row, staff, fen; row[8] paid on
            if line[2] > 0:
                row = line[0]
                found = week.get(row[8])
                if found is not None:  # days after the month's last Sunday: next month's
                    units[line[1]][found].add(row[2])
    return {
        (staff, sundays[i]): len(seen)
        for staff, weeks in units.items()
        for i, seen in enumerate(weeks)
        if seen
    }


def _of_estate(repo: Any, record_id: int, estate_id: int, field: str, noun: str) -> None:
    """A record named in a setting must belong to the estate being configured."""
    record = repo.get(record_id)
    if record is None or record.estate_id != estate_id:
        raise ValidationError(field, record_id, f"not a {noun} of the estate")


def _next(period: str) -> str:
    year, month = int(period[:4]), int(period[5:7])
    return f"{year + month // 12}-{month % 12 + 1:02d}"


def _money_fen(value: object, field: str) -> int | None:
    if value is None:
        return None
    amount = exact(value, field)  # type: ignore[arg-type]
    if amount < 0:
        raise ValidationError(field, value, "must not be negative")
    return to_fen(amount, field)


class CommissionService(Service):
    # --- configuration ------------------------------------------------------------

    def _rule(self) -> tuple[Attribution, timedelta]:
        return attribution_rule(self._app.config.get("commission") or {})

    def plan_types(self) -> dict[str, CommissionPlanType]:
        """The plan types the plugins provide, by name."""
        provided = self._app.host.commission_plans()
        names = self._app.host.names(provided)
        return {n: self._app.host.choose("commission plan type", n, provided) for n in names}

    def _type(self, kind: str) -> CommissionPlanType:
        return self._app.host.choose(
            "commission plan type", kind, self._app.host.commission_plans()
        )

    # --- plans --------------------------------------------------------------------

    def add_plan(
        self,
        actor: Actor,
        estate_id: EstateId,
        name: str,
        *,
        effective_from: date,
        params: Mapping[str, Any],
        staff_id: int | None = None,
        role: str | None = None,
        kind: str = "tiered",
        floor: Decimal | None = None,
        cap: Decimal | None = None,
    ) -> Plan:
        """A plan, or the next version of the plan called ``name``, for one collector
        (``staff_id``) or a role, from the first day of a month that is not settled yet.
        To change a settled month's pay, correct its plan (:meth:`correct_plan`).
        ``params`` map text to what JSON holds (at most 10,000 characters); ``role`` is a
        staff role; ``floor`` and ``cap`` are at most ``MAX_AMOUNT``."""
        actor = self._actor(actor)
        Plan(  # checked before the storage is asked anything
            estate_id=0,
            name=name,
            effective_from=effective_from,
            kind=kind,
            params=params,
            staff_id=staff_id,
            role=role,
            floor_fen=_money_fen(floor, "floor"),
            cap_fen=_money_fen(cap, "cap"),
        )
        with self._app.unit_of_work() as uow:
            estate = self._estate(uow, actor, estate_id, "commission.configure")
            plan = Plan(
                estate_id=estate.id,
                name=name,
                effective_from=effective_from,
                kind=kind,
                params=dict(params),
                staff_id=staff_id,
                role=role,
                floor_fen=_money_fen(floor, "floor"),
                cap_fen=_money_fen(cap, "cap"),
            )
            self._check_plan(uow, plan)
            settled = uow.commission.settled_periods(estate.id)
            month = f"{plan.effective_from:%Y-%m}"
            if settled and settled[-1] >= month:
                raise Conflict(
                    "effective_from",
                    plan.effective_from,
                    f"{settled[-1]} is settled already; a new plan starts after it (correct "
                    "the plan in force to change a settled month)",
                )
            stored = uow.commission.add_plan(plan, self._app.clock.now(), actor.name)
            uow.commit()
        return stored

    def correct_plan(
        self,
        actor: Actor,
        plan_id: int,
        *,
        reason: str,
        params: Mapping[str, Any] | None = None,
        floor: Decimal | None = None,
        cap: Decimal | None = None,
    ) -> Plan:
        """Correct a plan version for every month it covered, settled ones included:
        re-settling those months (:meth:`settle`) pays the difference as adjustments."""
        actor = self._actor(actor)
        if not isinstance(reason, str) or not reason.strip():
            raise ValidationError("reason", reason, "a correction needs a reason")
        text("reason", reason, max_length=NOTE_MAX)
        if params is not None:
            params = check_params("params", params)
        _money_fen(floor, "floor")
        _money_fen(cap, "cap")
        with self._app.unit_of_work() as uow:
            old: Plan = self._find(
                actor, uow.commission.plan, "plan", plan_id, "commission.configure",
                "commission_plan",
            )  # fmt: skip
            plan = attrs.evolve(
                old,
                params=dict(params) if params is not None else old.params,
                floor_fen=_money_fen(floor, "floor") if floor is not None else old.floor_fen,
                cap_fen=_money_fen(cap, "cap") if cap is not None else old.cap_fen,
                corrects=old.id,
                reason=reason.strip(),
                id=0,
            )
            self._check_plan(uow, plan)
            stored = uow.commission.add_plan(plan, self._app.clock.now(), actor.name)
            uow.commit()
        return stored

    def _check_plan(self, uow: UnitOfWork, plan: Plan) -> None:
        terms = self._type(plan.kind).parse(plan.params)
        # A quota's calendar is looked up when a month is settled; say now that it is
        # missing, not months later when the month cannot be settled.
        for calendar, quota in (
            ("visit_calendar", "visits_per_day"),
            ("weekly_calendar", "weekly_households"),
        ):
            name = getattr(terms, calendar, None)
            if getattr(terms, quota, 0) and name not in self._app.calendars:
                raise ValidationError(
                    calendar,
                    name,
                    f"is not a configured calendar; configured: "
                    f"{', '.join(sorted(self._app.calendars))}",
                )
        if plan.staff_id is not None:
            _of_estate(uow.staff, plan.staff_id, plan.estate_id, "staff_id", "staff member")

    def plans(self, actor: Actor, estate_id: EstateId) -> builtins.list[Plan]:
        """Every version of every plan of the estate, by name and version."""
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, self._actor(actor), estate_id, "commission.read")
            return uow.commission.plans(estate.id)

    # --- targets and splits ---------------------------------------------------------------

    def set_target(
        self,
        actor: Actor,
        staff_id: StaffId,
        period: str,
        *,
        amount: Decimal | None = None,
        households: int | None = None,
    ) -> None:
        """A collector's target for a month not settled yet: an amount, a number of
        households, or both."""
        actor = self._actor(actor)
        parse_period(period)
        fen = _money_fen(amount, "amount")
        if households is not None:
            bounded_int("households", households, 1, MAX_HOUSEHOLDS)
        if fen is None and households is None:
            raise ValidationError("target", None, "give an amount, households, or both")
        if fen == 0:
            raise ValidationError("amount", amount, "a target is above 0")
        with self._app.unit_of_work() as uow:
            staff: Staff = self._get(
                uow, actor, uow.staff, "staff", staff_id, "commission.configure"
            )
            if period in uow.commission.settled_periods(staff.estate_id):
                raise Conflict("period", period, "is settled; its targets are final")
            uow.commission.set_target(staff.estate_id, staff.id, period, fen, households)
            uow.commit()

    def targets(
        self, actor: Actor, estate_id: EstateId, period: str
    ) -> dict[int, tuple[Decimal | None, int | None]]:
        """Staff id -> (amount, households) targets of ``period``."""
        parse_period(period)
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, self._actor(actor), estate_id, "commission.read")
            raw = uow.commission.targets(estate.id, period)
        return {
            s: (None if fen is None else Decimal(fen) / 100, hh) for s, (fen, hh) in raw.items()
        }

    def split(
        self,
        actor: Actor,
        estate_id: EstateId,
        shares: Mapping[int, Decimal | str | int],
        start: date,
        *,
        building_id: int | None = None,
        unit_id: int | None = None,
        end: date | None = None,
    ) -> Split:
        """Several collectors share a building's or a unit's collections, by percent shares
        that sum to exactly 100, from ``start`` (after the last settled month)."""
        actor = self._actor(actor)
        Split(0, shares, start, building_id, unit_id, end)  # checked before any lookup
        with self._app.unit_of_work() as uow:
            estate = self._estate(uow, actor, estate_id, "commission.configure")
            split = Split(
                estate_id=estate.id,
                shares=shares,
                start=start,
                building_id=building_id,
                unit_id=unit_id,
                end=end,
            )
            for staff_id in split.shares:
                _of_estate(uow.staff, staff_id, estate.id, "shares", "staff member")
            if unit_id is not None:
                _of_estate(uow.units, unit_id, estate.id, "unit_id", "unit")
            if building_id is not None:
                _of_estate(uow.buildings, building_id, estate.id, "building_id", "building")
            settled = uow.commission.settled_periods(estate.id)
            if settled and f"{split.start:%Y-%m}" <= settled[-1]:
                raise Conflict("start", start, f"falls in {settled[-1]} or before, settled already")
            stored = uow.commission.add_split(split)
            uow.commit()
        return stored

    def splits(self, actor: Actor, estate_id: EstateId) -> builtins.list[Split]:
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, self._actor(actor), estate_id, "commission.read")
            return uow.commission.splits(estate.id)

    # --- statements ---------------------------------------------------------------------

    def statements(
        self,
        actor: Actor,
        estate_id: EstateId,
        *,
        period: str | None = None,
        staff_id: int | None = None,
    ) -> builtins.list[Statement]:
        """Settled statements, by period, collector and sequence."""
        if period is not None:
            parse_period(period)
        optional_record_id("staff_id", staff_id)
        with self._app.unit_of_work(readonly=True) as uow:
            estate = self._estate(uow, self._actor(actor), estate_id, "commission.read")
            return uow.commission.statements(
                estate.id, None if period is None else [period], staff_id
            )

    def statement(self, actor: Actor, statement_id: int) -> Statement:
        actor = self._actor(actor)
        with self._app.unit_of_work(readonly=True) as uow:
            found: Statement = self._find(
                actor, uow.commission.statement, "statement", statement_id, "commission.read",
                "commission_statement",
            )  # fmt: skip
            return found

    def statement_csv(self, actor: Actor, statement_id: int, *, lang: str = "zh-CN") -> str:
        """A statement as CSV (zh-CN headers by default, ``lang="en"`` for English)."""
        choice("lang", lang, CSV_HEADERS)
        return statement_csv(self.statement(actor, statement_id), lang)

    # --- settling -----------------------------------------------------------------------

    def settle(self, actor: Actor, estate_id: EstateId, period: str) -> Settlement:
        """Settle a closed month for every collector of the estate (see the module notes).

        Settling a month again returns its statements; after a plan correction it adds
        an adjustment statement per collector whose pay changed."""
        actor = self._actor(actor)
        parse_period(period)
        now = self._app.clock.now()
        with _no_cyclic_gc(), self._app.unit_of_work() as uow:
            estate = self._estate(uow, actor, estate_id, "commission.settle")
            zone = self._app.zone(estate.timezone)
            current = f"{now.astimezone(zone):%Y-%m}"
            if period >= current:
                raise ValidationError(
                    "period", period, f"is not over yet (it is {current}); settle closed months"
                )
            settled = uow.commission.settled_periods(estate.id)
            if period in settled:
                result = self._resettle(uow, actor, estate.id, period, now)
            else:
                if settled and period != _next(settled[-1]):
                    raise ValidationError(
                        "period",
                        period,
                        f"months are settled in order: settle {_next(settled[-1])} first"
                        if period > settled[-1]
                        else f"comes before {settled[0]}, where settling began",
                    )
                result = self._settle_new(uow, actor, estate.id, zone, period, set(settled), now)
            uow.commit()
        return result

    def _plan_for(self, plans: builtins.list[Plan], staff: Staff, first: date) -> Plan | None:
        latest: dict[str, Plan] = {}
        for plan in plans:
            if plan.effective_from > first:
                continue
            best = latest.get(plan.name)
            if best is None or (plan.effective_from, plan.version) > (
                best.effective_from,
                best.version,
            ):
                latest[plan.name] = plan
        live = [p for p in latest.values() if p.applies_to(staff.id, staff.roles)]
        own = [p for p in live if p.staff_id is not None]
        chosen = own or live
        if len(chosen) > 1:
            raise Conflict(
                "plan",
                ", ".join(sorted(p.name for p in chosen)),
                f"more than one plan applies to staff {staff.id} ({staff.name}) in {first:%Y-%m}",
            )
        return chosen[0] if chosen else None

    def _settle_new(
        self,
        uow: UnitOfWork,
        actor: Actor,
        estate_id: int,
        zone: Any,
        period: str,
        settled: set[str],
        now: datetime,
    ) -> Settlement:
        repo = uow.commission
        start, end = month_bounds(period, zone)
        first, days = start.date(), days_of(period)
        rule, window = self._rule()
        collected, paid_back = repo.basis(estate_id, start, end, zone)
        attempts: dict[int, builtins.list[tuple[datetime, int]]] = {}
        if rule is Attribution.DUNNING:
            for unit, at, staff in repo.attempts(estate_id, start - window, end):
                attempts.setdefault(unit, []).append((at, staff))
        attributor = Attributor(
            uow.collection.assignments(estate_id),
            repo.splits(estate_id),
            rule=rule,
            attempts=attempts,
            window=window,
        )
        credited, nobody = attribute(collected, attributor)
        by_staff: defaultdict[int, builtins.list[CreditedLine]] = defaultdict(list)
        for line in credited:
            by_staff[line[1]].append(line)  # line.staff_id, by position: 10^5 lines
        # Weeks that end (on Sunday) in this month, with their households per collector.
        sundays = [d for d in days if d.weekday() == 6]
        households: dict[tuple[int, date], int] = {}
        if sundays:
            week_start = datetime.combine(sundays[0] - timedelta(days=6), datetime.min.time(), zone)
            before, _ = (
                repo.basis(estate_id, week_start, start, zone) if week_start < start else ([], [])
            )
            early, _ = attribute(before, attributor)
            households = _weekly_households((early, credited), sundays)
        visits: dict[int, dict[date, set[int]]] = {}
        for unit, at, staff in repo.attempts(estate_id, start, end, visits_only=True):
            visits.setdefault(staff, {}).setdefault(at.astimezone(zone).date(), set()).add(unit)
        claws, not_settled = self._clawbacks(uow, estate_id, paid_back, settled, zone)
        plans = repo.plans(estate_id)
        targets = repo.targets(estate_id, period)
        staff_of: dict[int, Staff] = {s.id: s for s in uow.staff.in_estate(EstateId(estate_id))}
        last = days[-1]
        paid: dict[int, Plan] = {}
        for s in staff_of.values():
            if s.active_from <= last and (s.active_to is None or s.active_to >= first):
                plan = self._plan_for(plans, s, first)
                if plan is not None:
                    paid[s.id] = plan
        for staff_id in (*by_staff, *claws):
            if staff_id not in paid and staff_id in staff_of:
                plan = self._plan_for(plans, staff_of[staff_id], first)
                if plan is not None:
                    paid[staff_id] = plan
        unplanned = sum(
            line.amount_fen for sid, ls in by_staff.items() if sid not in paid for line in ls
        )
        calendars: dict[str, frozenset[date]] = {}
        working_weeks: dict[str, WorkingWeeks] = {}
        statements: builtins.list[Statement] = []
        for staff_id in sorted(set(paid) | set(claws)):
            plan = paid.get(staff_id)
            lines: builtins.list[Line] = []
            inputs: dict[str, Any] = {"attribution": rule.value}
            if plan is not None:
                kind = self._type(plan.kind)
                terms = kind.parse(plan.params)
                wanted = getattr(terms, "visit_calendar", None)
                if wanted and getattr(terms, "visits_per_day", 0) and wanted not in calendars:
                    calendars[wanted] = self._working_days(wanted, days)
                weekly = getattr(terms, "weekly_calendar", None)
                if (
                    weekly
                    and getattr(terms, "weekly_households", 0)
                    and weekly not in working_weeks
                ):
                    working_weeks[weekly] = self._working_weeks(weekly, sundays)
                target = targets.get(staff_id, (None, None))
                month = CollectorMonth(
                    staff_id=staff_id,
                    period=period,
                    lines=by_staff.get(staff_id, []),  # in the basis's fixed order
                    target_fen=target[0],
                    target_households=target[1],
                    visits={d: len(u) for d, u in visits.get(staff_id, {}).items()},
                    working_days=dict(calendars),
                    weeks=[
                        (s - timedelta(days=6), s, households.get((staff_id, s), 0))
                        for s in sundays
                    ],
                    working_weeks=dict(working_weeks),
                )
                lines = earn(plan, kind, terms, month)
                inputs.update(month_inputs(month))
                if kind.explain is not None:
                    inputs.update(kind.explain(terms, month))
            lines.extend(claws.get(staff_id, ()))
            statements.append(
                repo.add_statement(
                    Statement(
                        estate_id=estate_id,
                        staff_id=staff_id,
                        period=period,
                        sequence=0,
                        plan_id=None if plan is None else plan.id,
                        plan_name="" if plan is None else plan.name,
                        plan_version=0 if plan is None else plan.version,
                        lines=tuple(lines),
                        inputs=inputs,
                        settled_at=now,
                        actor=actor.name,
                    )
                )
            )
        uncommissioned = {"no_collector": nobody, "no_plan": unplanned, "not_settled": not_settled}
        repo.add_settlement(estate_id, period, now, actor.name, uncommissioned)
        return Settlement(estate_id, period, tuple(statements), uncommissioned, True)

    def _calendar(self, name: str, field: str) -> BusinessCalendar:
        calendar = self._app.calendars.get(name)
        if calendar is None:
            raise ConfigError(
                field, name, f"is not configured; configured: {sorted(self._app.calendars)}"
            )
        return calendar

    def _working_days(self, name: str, days: builtins.list[date]) -> frozenset[date]:
        """The working days of the month on calendar ``name``: CalendarDataMissing for a
        year it has no holiday data for (pay is never computed on a guess)."""
        calendar = self._calendar(name, "visit_calendar")
        return frozenset(d for d in days if calendar.windows_on(d))

    def _working_weeks(self, name: str, sundays: builtins.list[date]) -> WorkingWeeks:
        """The working days of the weeks ending on ``sundays`` on calendar ``name``, Monday
        to Sunday: a week that began in December needs December's holiday data too, and
        CalendarDataMissing says so rather than a quota being guessed."""
        calendar = self._calendar(name, "weekly_calendar")
        week = [d - timedelta(days=6 - i) for d in sundays for i in range(7)]
        per_week = sum(1 for windows in calendar.windows if windows)
        return WorkingWeeks(per_week, frozenset(d for d in week if calendar.windows_on(d)))

    def _clawbacks(
        self,
        uow: UnitOfWork,
        estate_id: int,
        paid_back: builtins.list[BasisRow],
        settled: set[str],
        zone: Any,
    ) -> tuple[dict[int, builtins.list[Line]], int]:
        if not paid_back:
            return {}, 0
        repo = uow.commission
        ids = sorted({r.payment_id for r in paid_back})
        origin = {p: f"{at.astimezone(zone):%Y-%m}" for p, at in repo.first_allocated(ids).items()}
        months = {m for m in origin.values() if m in settled}
        wanted = set(ids)
        totals: dict[tuple[int, str, str], dict[int, SourceTotals]] = {}
        seen: set[int] = set()
        for statement in (
            *[s for s in repo.statements(estate_id, months) if s.sequence == 0],
            *repo.statements_naming(ids),
        ):
            if statement.id in seen:
                continue
            seen.add(statement.id)
            add_settled(totals, statement.staff_id, statement.lines, wanted)
        rows = [r for r in paid_back if origin.get(r.payment_id) in settled]
        not_settled = -sum(
            r.amount_fen for r in paid_back if origin.get(r.payment_id) not in settled
        )
        claws, none = clawback_lines(
            sorted(rows, key=lambda r: (r.at, r.txn, r.period, r.fee_item)), totals
        )
        return claws, not_settled + none

    def _resettle(
        self, uow: UnitOfWork, actor: Actor, estate_id: int, period: str, now: datetime
    ) -> Settlement:
        repo = uow.commission
        existing = repo.statements(estate_id, [period])
        plans = {p.id: p for p in repo.plans(estate_id)}
        staff_of: dict[int, Staff] = {s.id: s for s in uow.staff.in_estate(EstateId(estate_id))}
        first = parse_period(period)
        added: builtins.list[Statement] = []
        by_staff: dict[int, builtins.list[Statement]] = {}
        for s in existing:
            by_staff.setdefault(s.staff_id, []).append(s)
        for staff_id, own in sorted(by_staff.items()):
            base = next((s for s in own if s.sequence == 0), None)
            if base is None or base.plan_id is None or staff_id not in staff_of:
                continue
            used = plans[max(own, key=lambda s: s.sequence).plan_id or base.plan_id]
            now_plan = self._plan_for(list(plans.values()), staff_of[staff_id], first)
            if (
                now_plan is None
                or now_plan.id == used.id
                or not self._corrects(plans, now_plan, used)
            ):
                continue
            kind = self._type(now_plan.kind)
            terms = kind.parse(now_plan.params)
            month = month_from_inputs(staff_id, period, base.inputs, base.lines)
            weekly = getattr(terms, "weekly_calendar", None)
            if (
                weekly
                and getattr(terms, "weekly_households", 0)
                and "working_weeks" in base.inputs
                and weekly not in month.working_weeks
            ):
                # The correction adds a weekly quota, or names another calendar: its
                # weeks are read from the calendar now. (A statement settled before
                # quotas scaled keeps no working weeks: its flat quota is recomputed.)
                sundays = [sunday for _monday, sunday, _n in month.weeks]
                found = self._working_weeks(weekly, sundays)
                month = attrs.evolve(month, working_weeks={**month.working_weeks, weekly: found})
            recomputed = earn(now_plan, kind, terms, month)
            settled_lines = [line for s in own for line in s.lines if line.kind != "clawback"]
            why = f"{now_plan.name} v{used.version}->v{now_plan.version} ({now_plan.reason})"
            lines = adjustment_lines(settled_lines, recomputed, why)
            if not lines:
                continue  # the correction does not change this collector's month
            added.append(
                repo.add_statement(
                    Statement(
                        estate_id=estate_id,
                        staff_id=staff_id,
                        period=period,
                        sequence=max(s.sequence for s in own) + 1,
                        plan_id=now_plan.id,
                        plan_name=now_plan.name,
                        plan_version=now_plan.version,
                        lines=tuple(lines),
                        inputs={"corrects": used.id, "reason": now_plan.reason},
                        settled_at=now,
                        actor=actor.name,
                    )
                )
            )
        uncommissioned = repo.uncommissioned(estate_id, period) or {}
        return Settlement(estate_id, period, tuple(existing + added), uncommissioned, bool(added))

    @staticmethod
    def _corrects(plans: Mapping[int, Plan], newer: Plan, older: Plan) -> bool:
        """Whether ``newer`` corrects ``older``, directly or through other corrections."""
        step: Plan | None = newer
        while step is not None and step.corrects is not None:
            if step.corrects == older.id:
                return True
            step = plans.get(step.corrects)
        return False
