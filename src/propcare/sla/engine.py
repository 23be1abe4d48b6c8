"""Deadlines and alerts, recomputed deterministically from a ticket's history.

Paused time does not count: the budget is spent only on working time outside
pauses. A reopened ticket (rework) gets the policy's rework budget from the
moment it was reopened. Callbacks are due from the resolution.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol

import attrs

from propcare.errors import CalendarDataMissing, ConfigError
from propcare.sla.policy import SlaPolicy, Target, TargetRule
from propcare.tickets.model import REPAIRS, Pause, TicketState

__all__ = [
    "Alert",
    "AlertRules",
    "Deadlines",
    "WorkingCalendar",
    "alert_rules",
    "alerts_due",
    "compute_deadlines",
    "deadline",
    "spent",
]


class WorkingCalendar(Protocol):
    def add_working_time(self, start: datetime, duration: timedelta) -> datetime: ...

    def working_time_between(self, start: datetime, end: datetime) -> timedelta: ...


@attrs.frozen
class Deadlines:
    response: datetime | None = None
    arrival: datetime | None = None
    resolution: datetime | None = None
    callback: datetime | None = None

    def get(self, target: Target) -> datetime | None:
        due: datetime | None = getattr(self, target.value)
        return due


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


def compute_deadlines(
    state: TicketState,
    policy: SlaPolicy,
    calendars: Mapping[str, WorkingCalendar],
    *,
    missing: list[CalendarDataMissing] | None = None,
) -> Deadlines:
    """Every target's deadline. With ``missing`` given, a target whose calendar has no
    holiday data for a year it needs gets no deadline and the error is appended there
    instead of raised: a call must be recorded even before next year's schedule is added."""
    dues: dict[str, datetime | None] = {}
    for target, name in _TARGETS:
        clock = clock_of(state, policy, target)
        if clock is None:
            dues[name] = None
            continue
        start, rule, pauses = clock
        try:
            dues[name] = deadline(_calendar(calendars, rule), start, rule.budget, pauses)
        except CalendarDataMissing as exc:
            if missing is None:
                raise
            missing.append(exc)
            dues[name] = None
    return Deadlines(**dues)


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


@attrs.frozen
class Alert:
    target: Target
    level: str  # "warning" | "supervisor" | "manager"
    due: datetime


def alerts_due(
    state: TicketState,
    policy: SlaPolicy,
    calendars: Mapping[str, WorkingCalendar],
    now: datetime,
    rules: AlertRules = AlertRules(),
) -> list[Alert]:
    """Every alert level reached by ``now`` for targets not yet met (the caller sends each once)."""
    if not state.is_open:
        return []
    alerts: list[Alert] = []
    for target in Target:
        clock = clock_of(state, policy, target)
        if clock is None or done_at(state, target) is not None:
            continue
        if state.resolved_at is not None and target is not Target.CALLBACK:
            continue  # resolved: a missed response or arrival is history, not an alert
        start, rule, pauses = clock
        cal = _calendar(calendars, rule)
        try:
            due = deadline(cal, start, rule.budget, pauses)
            used = spent(cal, start, now, pauses)
        except CalendarDataMissing:
            continue  # no deadline is known until the year's calendar is added
        if due is None:
            continue  # paused: the clock is stopped
        left = rule.budget - used
        # Minutes-left warns only on long budgets: on a 15-minute response target it would
        # fire the moment the ticket opens.
        long_budget = rule.budget >= rules.warn_remaining * 4
        if used >= rule.budget * rules.warn_fraction or (
            long_budget and left <= rules.warn_remaining
        ):
            alerts.append(Alert(target, "warning", due))
        if now >= due:
            alerts.append(Alert(target, "supervisor", due))
            if used >= rule.budget * (1 + rules.manager_after):
                alerts.append(Alert(target, "manager", due))
    return alerts
