"""SLA policies: response, arrival, resolution and callback targets, each on its calendar.

A hotline answers on the 24x7 calendar; a repair is resolved on office hours. The
most specific policy wins: (category, priority), then (any, priority), then
(category, any), then
the default: urgency outranks the kind of work. Plugins add or replace policies through
``propcare_sla_policies``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

import attrs

from propcare.errors import ConfigError, ValidationError
from propcare.tickets.model import Category, Priority

__all__ = [
    "DEFAULT_POLICIES",
    "PolicySet",
    "SlaPolicy",
    "Target",
    "TargetRule",
    "parse_budget",
    "policies_from_config",
]


class Target(enum.StrEnum):
    RESPONSE = "response"  # first action by staff
    ARRIVAL = "arrival"  # on site (repairs)
    RESOLUTION = "resolution"  # resolved; after a reopen, the rework budget
    CALLBACK = "callback"  # 回访 after resolution


def _positive(_inst: Any, attribute: Any, value: timedelta) -> None:
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise ValidationError(attribute.name, value, "an SLA budget must be a positive timedelta")


@attrs.frozen
class TargetRule:
    budget: timedelta = attrs.field(validator=_positive)
    calendar: str = "office"


def _category(value: Any) -> Category | None:
    return None if value is None else Category(value)


def _priority(value: Any) -> Priority | None:
    return None if value is None else Priority(value)


@attrs.frozen
class SlaPolicy:
    """Targets for tickets of ``category`` and ``priority`` (None: any)."""

    name: str
    category: Category | None = attrs.field(default=None, converter=_category)
    priority: Priority | None = attrs.field(default=None, converter=_priority)
    response: TargetRule | None = None
    arrival: TargetRule | None = None
    resolution: TargetRule | None = None
    callback: TargetRule | None = None
    rework: TargetRule | None = None  # resolution budget after a reopen; None: same as first

    @property
    def key(self) -> tuple[Category | None, Priority | None]:
        return (self.category, self.priority)

    def rule(self, target: Target) -> TargetRule | None:
        rule: TargetRule | None = getattr(self, target.value)
        return rule

    def calendars(self) -> set[str]:
        rules = (self.response, self.arrival, self.resolution, self.callback, self.rework)
        return {r.calendar for r in rules if r is not None}


def _h(hours: float) -> timedelta:
    return timedelta(hours=hours)


def _m(minutes: float) -> timedelta:
    return timedelta(minutes=minutes)


OFFICE, ALWAYS = "office", "24x7"

DEFAULT_POLICIES: tuple[SlaPolicy, ...] = (
    SlaPolicy(
        "default",
        response=TargetRule(_m(30), ALWAYS),
        resolution=TargetRule(_h(16), OFFICE),  # two office days (7.5 h each) and an hour
        callback=TargetRule(_h(16), OFFICE),
    ),
    SlaPolicy(
        "consultation",
        Category.CONSULTATION,
        response=TargetRule(_m(15), ALWAYS),
        resolution=TargetRule(_h(8), OFFICE),
    ),
    SlaPolicy(
        "complaint",
        Category.COMPLAINT,
        response=TargetRule(_m(30), ALWAYS),
        resolution=TargetRule(_h(24), OFFICE),
        callback=TargetRule(_h(8), OFFICE),
        rework=TargetRule(_h(8), OFFICE),
    ),
    SlaPolicy(
        "repair",
        Category.HOME_REPAIR,
        response=TargetRule(_m(15), ALWAYS),
        arrival=TargetRule(_h(2), OFFICE),
        resolution=TargetRule(_h(16), OFFICE),
        callback=TargetRule(_h(16), OFFICE),
        rework=TargetRule(_h(8), OFFICE),
    ),
    SlaPolicy(
        "common repair",
        Category.COMMON_REPAIR,
        response=TargetRule(_m(15), ALWAYS),
        arrival=TargetRule(_h(2), OFFICE),
        resolution=TargetRule(_h(24), OFFICE),
        callback=TargetRule(_h(16), OFFICE),
        rework=TargetRule(_h(8), OFFICE),
    ),
    SlaPolicy(
        "urgent",
        priority=Priority.URGENT,
        response=TargetRule(_m(10), ALWAYS),
        arrival=TargetRule(_m(60), ALWAYS),
        resolution=TargetRule(_h(8), ALWAYS),
        callback=TargetRule(_h(8), OFFICE),
        rework=TargetRule(_h(4), ALWAYS),
    ),
    SlaPolicy(
        "emergency",
        priority=Priority.EMERGENCY,
        response=TargetRule(_m(5), ALWAYS),
        arrival=TargetRule(_m(30), ALWAYS),
        resolution=TargetRule(_h(4), ALWAYS),
        callback=TargetRule(_h(8), OFFICE),
        rework=TargetRule(_h(2), ALWAYS),
    ),
)


class PolicySet:
    """Policies by (category, priority); later sources replace earlier ones per key."""

    def __init__(self, *sources: Iterable[SlaPolicy]) -> None:
        self._by_key: dict[tuple[Category | None, Priority | None], SlaPolicy] = {}
        for source in sources:
            seen: set[tuple[Category | None, Priority | None]] = set()
            for policy in source:
                if policy.key in seen:
                    raise ConfigError(
                        "sla policy",
                        policy.name,
                        f"two policies of one source for {policy.key}; keep one",
                    )
                seen.add(policy.key)
                self._by_key[policy.key] = policy
        if (None, None) not in self._by_key:
            raise ConfigError("sla policy", "default", "a policy for any category is needed")

    def find(self, category: Category, priority: Priority) -> SlaPolicy:
        # Urgency outranks the kind of work: an urgent burst pipe gets the urgent budgets.
        for key in ((category, priority), (None, priority), (category, None), (None, None)):
            found = self._by_key.get(key)
            if found is not None:
                return found
        raise AssertionError("unreachable: the default policy exists")  # pragma: no cover

    def all(self) -> list[SlaPolicy]:
        return list(self._by_key.values())

    def calendars(self) -> set[str]:
        return set().union(*(p.calendars() for p in self._by_key.values()))

    def describe(self) -> Mapping[str, SlaPolicy]:
        return {p.name: p for p in self._by_key.values()}


# --- policies from the configuration file ------------------------------------------------

_BUDGET = re.compile(r"^\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m(?:in)?)?\s*$", re.IGNORECASE)
_RULE_KEYS = frozenset({"budget", "calendar"})
_POLICY_KEYS = frozenset({"category", "priority", *(t.value for t in Target), "rework"})
_TARGET_FIELDS = (*(t.value for t in Target), "rework")


def parse_budget(text: Any, field: str) -> timedelta:
    """``"15m"``, ``"2h"``, ``"1h30m"`` -> working time; ConfigError naming ``field``."""
    found = _BUDGET.match(text) if isinstance(text, str) else None
    if found is None or not (found[1] or found[2]):
        raise ConfigError(field, text, 'write a working-time budget as "15m", "2h" or "1h30m"')
    budget = timedelta(hours=int(found[1] or 0), minutes=int(found[2] or 0))
    if budget <= timedelta(0):
        raise ConfigError(field, text, "an SLA budget must be more than zero")
    return budget


def _rule(value: Any, field: str) -> TargetRule | None:
    if value is False:
        return None  # this target is not tracked (an override may drop an inherited one)
    if not isinstance(value, Mapping):
        raise ConfigError(
            field, value, '"budget" and "calendar": {budget = "2h", calendar = "office"}, or false'
        )
    unknown = sorted(set(value) - _RULE_KEYS)
    if unknown:
        raise ConfigError(f"{field}.{unknown[0]}", value[unknown[0]], "known: budget, calendar")
    calendar = value.get("calendar", OFFICE)
    if not isinstance(calendar, str) or not calendar:
        raise ConfigError(f"{field}.calendar", calendar, "must name a configured calendar")
    return TargetRule(parse_budget(value.get("budget"), f"{field}.budget"), calendar)


def _policy(
    name: str, spec: Any, where: str, base: Mapping[tuple[Any, Any], SlaPolicy]
) -> SlaPolicy:
    if not isinstance(spec, Mapping):
        raise ConfigError(where, spec, "must be a table of targets")
    unknown = sorted(set(spec) - _POLICY_KEYS)
    if unknown:
        raise ConfigError(
            f"{where}.{unknown[0]}", spec[unknown[0]], f"known: {', '.join(sorted(_POLICY_KEYS))}"
        )
    try:
        category = _category(spec.get("category"))
    except ValueError:
        allowed = ", ".join(c.value for c in Category)
        raise ConfigError(f"{where}.category", spec.get("category"), f"one of {allowed}") from None
    try:
        priority = _priority(spec.get("priority"))
    except ValueError:
        allowed = ", ".join(p.value for p in Priority)
        raise ConfigError(f"{where}.priority", spec.get("priority"), f"one of {allowed}") from None
    inherited = base.get((category, priority))
    rules: dict[str, TargetRule | None] = {}
    for target in _TARGET_FIELDS:
        if target in spec:
            rules[target] = _rule(spec[target], f"{where}.{target}")
        elif inherited is not None:
            rules[target] = getattr(inherited, target)
    return SlaPolicy(name, category, priority, **rules)


def policies_from_config(
    sla: Mapping[str, Any], base: Iterable[SlaPolicy]
) -> tuple[list[SlaPolicy], dict[int, list[SlaPolicy]]]:
    """The ``sla.policies`` of the configuration, and each estate's ``sla.estates.<id>.policies``.

    Each policy is a table named as the policy, with an optional ``category`` and
    ``priority`` (the key it answers for; none: any) and targets ``response``,
    ``arrival``, ``resolution``, ``callback``, ``rework`` as ``{budget = "2h", calendar =
    "office"}`` or ``false``. A target left out is inherited from the policy the entry
    replaces (the built-in or plugin policy of the same key; for an estate, the
    company-wide one), so an override names only what differs.
    """
    by_key: dict[tuple[Any, Any], SlaPolicy] = {p.key: p for p in base}
    company = _policies(sla.get("policies"), "sla.policies", by_key)
    by_key.update({p.key: p for p in company})
    estates: dict[int, list[SlaPolicy]] = {}
    spec = sla.get("estates") or {}
    if not isinstance(spec, Mapping):
        raise ConfigError("sla.estates", spec, "must be a table of estate ids")
    for key, entry in spec.items():
        where = f"sla.estates.{key}"
        try:
            estate_id = int(key)
        except (TypeError, ValueError):
            raise ConfigError(where, key, "keys are estate ids, such as 3") from None
        if not isinstance(entry, Mapping) or set(entry) - {"policies"}:
            raise ConfigError(where, entry, "takes one table, policies")
        estates[estate_id] = _policies(entry.get("policies"), f"{where}.policies", by_key)
    return company, estates


def _policies(spec: Any, where: str, base: Mapping[tuple[Any, Any], SlaPolicy]) -> list[SlaPolicy]:
    if spec is None:
        return []
    if not isinstance(spec, Mapping):
        raise ConfigError(where, spec, "must be a table of policies by name")
    return [_policy(str(name), entry, f"{where}.{name}", base) for name, entry in spec.items()]
