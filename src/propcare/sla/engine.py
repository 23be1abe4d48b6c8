"""Deadlines and alerts, recomputed deterministically from a ticket's history.

Paused time does not count: the budget is spent only on working time outside
pauses. A reopened ticket (rework) gets the policy's rework budget from the
moment it was reopened. Callbacks are due from the resolution.

A deadline that needs a year no holiday source covers (a ticket opened in late
December before next year's schedule is published) is never silently dropped. By
:class:`MissingData` it is computed *provisionally* on the calendar's weekly windows
alone, or held open (``STRICT``); either way :attr:`Deadlines.gaps` names the target
and the missing years, so the ticket says so and ``recompute`` finds it when the
data arrives.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol

import attrs

from propcare.errors import CalendarDataMissing, ConfigError
from propcare.sla.policy import SlaPolicy, Target, TargetRule
from propcare.tickets.model import REPAIRS, Pause, TicketState

__all__ = [
    "Alert",
    "AlertCheck",
    "AlertRules",
    "Deadlines",
    "HolidayGap",
    "MissingData",
    "WorkingCalendar",
    "alert_rules",
    "alerts_due",
    "compute_deadlines",
    "deadline",
    "missing_data_rule",
    "spent",
]


class WorkingCalendar(Protocol):
    def add_working_time(self, start: datetime, duration: timedelta) -> datetime: ...

    def working_time_between(self, start: datetime, end: datetime) -> timedelta: ...

    def provisional_view(self) -> WorkingCalendar:
        """The same calendar with years lacking holiday data on the weekly windows alone."""

    def missing_years(self, start: datetime, end: datetime) -> frozenset[int]:
        """Local years from ``start`` to ``end`` without holiday data."""


class MissingData(enum.StrEnum):
    """What a deadline gets when it needs a year no holiday source covers."""

    # Computed on the weekly windows alone, flagged, recomputed when the data arrives.
    PROVISIONAL = "provisional"
    # Left open (no deadline), flagged, computed when the data arrives.
    STRICT = "strict"
    # CalendarDataMissing is raised (for callers that must not store either).
    RAISE = "raise"


def _years(value: Iterable[int]) -> tuple[int, ...]:
    return tuple(sorted(set(value)))


@attrs.frozen
class HolidayGap:
    """A target whose deadline needed holiday data for ``years`` that no source has.

    ``held`` False: the deadline is provisional, computed on the weekly windows alone
    for those years (None while a pause stops the clock, as for any deadline); True:
    it is held open until the data arrives (the strict setting).
    """

    target: Target = attrs.field(converter=Target)
    years: tuple[int, ...] = attrs.field(converter=_years)
    held: bool = False


_TARGET_ORDER = {t: i for i, t in enumerate(Target)}


def _gaps(value: Iterable[HolidayGap]) -> tuple[HolidayGap, ...]:
    if not value:
        return ()  # nearly every ticket: Deadlines are built on every write
    return tuple(sorted(value, key=lambda g: _TARGET_ORDER[g.target]))


@attrs.frozen
class Deadlines:
    response: datetime | None = None
    arrival: datetime | None = None
    resolution: datetime | None = None
    callback: datetime | None = None
    gaps: tuple[HolidayGap, ...] = attrs.field(default=(), converter=_gaps)

    def get(self, target: Target) -> datetime | None:
        due: datetime | None = getattr(self, target.value)
        return due

    def gap(self, target: Target) -> HolidayGap | None:
        """The missing holiday data ``target``'s deadline rests on, if any."""
        return next((g for g in self.gaps if g.target is target), None)

    @property
    def provisional(self) -> tuple[Target, ...]:
        """Targets with a deadline computed without some year's holiday data."""
        return tuple(g.target for g in self.gaps if not g.held)

    @property
    def held(self) -> tuple[Target, ...]:
        """Targets left without a deadline until some year's holiday data arrives."""
        return tuple(g.target for g in self.gaps if g.held)

    @property
    def missing_years(self) -> tuple[int, ...]:
        """Every year whose holiday data these deadlines wait for."""
        return _years(y for g in self.gaps for y in g.years)

    def describe_gaps(self) -> str:
        """``"arrival, resolution provisional (2027 holiday data missing)"``, or ``""``."""
        parts = []
        for label, targets in (("provisional", self.provisional), ("open", self.held)):
            if targets:
                parts.append(f"{', '.join(t.value for t in targets)} {label}")
        if not parts:
            return ""
        years = ", ".join(str(y) for y in self.missing_years)
        return f"{'; '.join(parts)} ({years} holiday data missing)"


def _active_pauses(pauses: Sequence[Pause], since: datetime) -> list[Pause]:
    return [p for p in pauses if p.end is None or p.end > since]


def deadline(
    cal: WorkingCalendar, start: datetime, budget: timedelta, pauses: Sequence[Pause] = ()
) -> datetime | None:
    """When ``budget`` of working time outside ``pauses`` is spent from ``start``.

    None while the ticket is paused before the budget ran out: there is no
    deadline until it resumes.
    """
    if not pauses:
        return cal.add_working_time(start, budget)  # the common case, on every ticket write
    remaining = budget
    cursor = start
    for pause in sorted(_active_pauses(pauses, start), key=lambda p: p.start):
        begin = max(pause.start, cursor)
        if begin > cursor:
            available = cal.working_time_between(cursor, begin)
            if available >= remaining:
                return cal.add_working_time(cursor, remaining)
            remaining -= available
        if pause.end is None:
            return None
        cursor = max(cursor, pause.end)
    return cal.add_working_time(cursor, remaining)


def spent(
    cal: WorkingCalendar, start: datetime, now: datetime, pauses: Sequence[Pause] = ()
) -> timedelta:
    """Working time from ``start`` to ``now`` outside pauses."""
    if now <= start:
        return timedelta(0)
    total = cal.working_time_between(start, now)
    for pause in _active_pauses(pauses, start):
        begin = max(pause.start, start)
        end = min(pause.end or now, now)
        if end > begin:
            total -= cal.working_time_between(begin, end)
    return total


def _calendar(calendars: Mapping[str, WorkingCalendar], rule: TargetRule) -> WorkingCalendar:
    try:
        return calendars[rule.calendar]
    except KeyError:
        raise ConfigError(
            "calendar", rule.calendar, f"not configured; configured: {', '.join(sorted(calendars))}"
        ) from None


def clock_of(
    state: TicketState, policy: SlaPolicy, target: Target
) -> tuple[datetime, TargetRule, list[Pause]] | None:
    """Where ``target``'s clock starts, its rule and the pauses that stop it; None if none."""
    rule = policy.rule(target)
    if target is Target.ARRIVAL and state.category not in REPAIRS:
        return None
    if target is Target.RESOLUTION and state.reopened_at is not None:
        rule = policy.rework or policy.resolution
        if rule is None:
            return None
        return state.reopened_at, rule, list(_active_pauses(state.pauses, state.reopened_at))
    if rule is None:
        return None
    if target is Target.CALLBACK:
        if state.resolved_at is None or not state.needs_callback:
            return None
        return state.resolved_at, rule, []
    return state.opened_at, rule, list(state.pauses)


# (target, field of Deadlines): looked up once here, not on every ticket written.
_TARGETS = tuple((t, t.value) for t in Target)


def _reach(start: datetime, due: datetime | None, pauses: Sequence[Pause]) -> datetime:
    """The last instant a deadline's computation looked at: the deadline, or while the
    clock is stopped, the start of the latest pause."""
    if due is not None:
        return due
    return max((p.start for p in pauses), default=start)


def compute_deadlines(
    state: TicketState,
    policy: SlaPolicy,
    calendars: Mapping[str, WorkingCalendar],
    *,
    missing: MissingData = MissingData.RAISE,
) -> Deadlines:
    """Every target's deadline.

    A target whose calendar lacks holiday data for a year it needs raises
    CalendarDataMissing with ``missing=RAISE``; otherwise it is computed on the weekly
    windows alone (``PROVISIONAL``) or left open (``STRICT``), and listed in
    :attr:`Deadlines.gaps` with the years missing: a call must be recorded even before
    next year's schedule is added, and it must say what it rests on.
    """
    dues: dict[str, datetime | None] = {}
    gaps: list[HolidayGap] = []
    for target, name in _TARGETS:
        clock = clock_of(state, policy, target)
        if clock is None:
            dues[name] = None
            continue
        start, rule, pauses = clock
        cal = _calendar(calendars, rule)
        try:
            dues[name] = deadline(cal, start, rule.budget, pauses)
        except CalendarDataMissing as exc:
            if missing is MissingData.RAISE:
                raise
            guess = deadline(cal.provisional_view(), start, rule.budget, pauses)
            years = cal.missing_years(start, _reach(start, guess, pauses)) or {int(exc.value)}
            held = missing is MissingData.STRICT
            gaps.append(HolidayGap(target, years, held))
            dues[name] = None if held else guess
    return Deadlines(**dues, gaps=gaps)


def done_at(state: TicketState, target: Target) -> datetime | None:
    return {
        Target.RESPONSE: state.responded_at,
        Target.ARRIVAL: state.arrived_at,
        Target.RESOLUTION: state.resolved_at,
        Target.CALLBACK: state.callback_at,
    }[target]


@attrs.frozen
class AlertRules:
    """When to warn before a breach and whom to escalate to after one."""

    warn_fraction: float = 0.8  # of the budget spent
    warn_remaining: timedelta = timedelta(minutes=30)  # working time left (long budgets only)
    manager_after: float = 0.5  # of the budget past the deadline: escalate to the manager


def alert_rules(settings: Mapping[str, object]) -> AlertRules:
    """AlertRules from configuration: fractions as numbers, ``warn_remaining_minutes``."""
    known = {"warn_fraction", "warn_remaining_minutes", "manager_after"}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ConfigError("tickets.alerts", unknown, f"unknown keys; known: {sorted(known)}")
    values: dict[str, float] = {}
    for key, value in settings.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"tickets.alerts.{key}", value, "must be a number >= 0")
        values[key] = float(value)
    if not 0 < values.get("warn_fraction", 0.8) <= 1:
        raise ConfigError(
            "tickets.alerts.warn_fraction", values["warn_fraction"], "must be in (0, 1]"
        )
    defaults = AlertRules()
    return AlertRules(
        warn_fraction=values.get("warn_fraction", defaults.warn_fraction),
        warn_remaining=timedelta(minutes=values["warn_remaining_minutes"])
        if "warn_remaining_minutes" in values
        else defaults.warn_remaining,
        manager_after=values.get("manager_after", defaults.manager_after),
    )


def missing_data_rule(settings: Mapping[str, object]) -> MissingData:
    """``sla.missing_holiday_data`` from configuration: ``provisional`` (the default) or
    ``strict``."""
    value = settings.get("missing_holiday_data", MissingData.PROVISIONAL.value)
    allowed = (MissingData.PROVISIONAL.value, MissingData.STRICT.value)
    if value not in allowed:
        raise ConfigError("sla.missing_holiday_data", value, f"must be one of {', '.join(allowed)}")
    return MissingData(value)


@attrs.frozen
class Alert:
    target: Target
    level: str  # "warning" | "supervisor" | "manager"
    due: datetime
    # The years of holiday data the deadline was computed without (provisional), if any.
    provisional: tuple[int, ...] = ()


@attrs.frozen
class AlertCheck:
    """What :func:`alerts_due` found: the alerts reached, and what it could not judge.

    ``unknown`` holds one reason per target (or level) left unjudged because a year's
    holiday data is missing; the caller logs and counts them, never drops them.
    """

    alerts: tuple[Alert, ...] = ()
    unknown: tuple[str, ...] = ()


def alerts_due(
    state: TicketState,
    policy: SlaPolicy,
    calendars: Mapping[str, WorkingCalendar],
    now: datetime,
    rules: AlertRules = AlertRules(),
    *,
    missing: MissingData = MissingData.PROVISIONAL,
) -> AlertCheck:
    """Every alert level reached by ``now`` for targets not yet met (the caller sends each once).

    Where a year's holiday data is missing, ``PROVISIONAL`` judges on the weekly windows
    alone (the alerts say so); ``STRICT`` still sends what is certain (a known deadline
    that has passed alerts its supervisor, and the assignee's warning, even when the
    working time spent cannot be counted) and lists the rest in ``unknown``.
    """
    if not state.is_open:
        return AlertCheck()
    alerts: list[Alert] = []
    unknown: list[str] = []
    for target in Target:
        clock = clock_of(state, policy, target)
        if clock is None or done_at(state, target) is not None:
            continue
        if state.resolved_at is not None and target is not Target.CALLBACK:
            continue  # resolved: a missed response or arrival is history, not an alert
        start, rule, pauses = clock
        base = cal = _calendar(calendars, rule)
        try:
            due = deadline(cal, start, rule.budget, pauses)
        except CalendarDataMissing:
            if missing is MissingData.RAISE:
                raise
            if missing is MissingData.STRICT:
                unknown.append(f"{target.value} deadline: {_missing_text(base, start, now, 'it')}")
                continue
            cal = base.provisional_view()
            due = deadline(cal, start, rule.budget, pauses)
        if due is None:
            continue  # paused: the clock is stopped
        # The years each judgement rests on without data: the deadline's, and the time
        # spent's (a passed deadline is certain whatever the time spent).
        due_gap = () if cal is base else tuple(sorted(base.missing_years(start, due)))
        used: timedelta | None
        try:
            used = spent(cal, start, now, pauses)
        except CalendarDataMissing:
            if missing is MissingData.RAISE:
                raise
            used = None
            if missing is MissingData.PROVISIONAL:
                cal = base.provisional_view()
                used = spent(cal, start, now, pauses)
        used_gap = () if cal is base else tuple(sorted(base.missing_years(start, now)))
        both = tuple(sorted({*due_gap, *used_gap}))
        passed = now >= due
        if used is None:
            # Strict, and the time spent reaches into a year without data. What is certain
            # is that a passed deadline means the whole budget is used.
            if passed:
                alerts.append(Alert(target, "warning", due))
                alerts.append(Alert(target, "supervisor", due))
                unknown.append(
                    f"{target.value} manager escalation: {_missing_text(base, start, now)}"
                )
            else:
                unknown.append(f"{target.value} warning: {_missing_text(base, start, now)}")
            continue
        left = rule.budget - used
        # Minutes-left warns only on long budgets: on a 15-minute response target it would
        # fire the moment the ticket opens.
        long_budget = rule.budget >= rules.warn_remaining * 4
        if (
            passed
            or used >= rule.budget * rules.warn_fraction
            or (long_budget and left <= rules.warn_remaining)
        ):
            alerts.append(Alert(target, "warning", due, due_gap if passed else both))
        if passed:
            alerts.append(Alert(target, "supervisor", due, due_gap))
            if used >= rule.budget * (1 + rules.manager_after):
                alerts.append(Alert(target, "manager", due, both))
    return AlertCheck(tuple(alerts), tuple(unknown))


def _missing_text(
    cal: WorkingCalendar, start: datetime, now: datetime, what: str = "the working time spent"
) -> str:
    years = ", ".join(str(y) for y in sorted(cal.missing_years(start, now))) or "a later year's"
    return f"{what} needs {years} holiday data, which no calendar source has (strict setting)"
