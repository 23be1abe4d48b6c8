"""SLA policies: response, arrival, resolution and callback targets, each on its calendar.

A hotline answers on the 24x7 calendar; a repair is resolved on office hours. The
most specific policy wins: (category, priority), then (any, priority), then
(category, any), then
the default: urgency outranks the kind of work. Plugins add or replace policies through
``propcare_sla_policies``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

import attrs

from propcare.errors import ConfigError, ValidationError
from propcare.tickets.model import Category, Priority

__all__ = ["DEFAULT_POLICIES", "PolicySet", "SlaPolicy", "Target", "TargetRule"]


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
