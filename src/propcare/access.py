"""Who may do what: actors, the built-in role map, and estate isolation.

A host system plugs its own permissions in through ``propcare_authorize``; the
role map here answers when no plugin does. Estate isolation is not a
permission: an actor of estate A never sees or changes estate B, whatever a
plugin says.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import attrs

from propcare.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from propcare.registry.model import EstateId, StaffId

__all__ = ["ROLES", "ROLE_GRANTS", "Actor", "Resource", "role_allows"]

# Actions are "area.verb"; a grant "area.*" covers every verb of the area.
ROLE_GRANTS: Mapping[str, frozenset[str]] = {
    "front_desk": frozenset(
        {
            "estate.read",
            "owner.read",
            "owner.write",
            "staff.read",
            "vendor.read",
            "notify.send",
            "ticket.read",
            "ticket.open",
            "ticket.work",
            "ticket.callback",
            "ticket.cancel",
            "ledger.read",
            "ledger.deposit",
            "ledger.dun",
            "ledger.pay",  # counter payments (前台收款); refunds are finance's
            "outage.*",  # the front desk posts outage notices (停水停电通知)
            "maintenance.read",
        }
    ),
    "technician": frozenset(
        {
            "estate.read",
            "staff.read",
            "ticket.read",
            "ticket.open",
            "ticket.work",
            "maintenance.read",
        }
    ),
    "collector": frozenset(
        {
            "estate.read",
            "owner.read",
            "staff.read",
            "notify.send",
            "ticket.read",
            "ticket.open",
            "ledger.read",
            "ledger.dun",
        }
    ),
    "supervisor": frozenset(
        {
            "estate.read",
            "owner.read",
            "owner.write",
            "staff.read",
            "vendor.read",
            "vendor.write",
            "notify.send",
            "ticket.*",
            "outage.*",
            "maintenance.*",
            "appraisal.read",
            "appraisal.input",  # supervisors inspect and enter scores
        }
    ),
    "finance": frozenset(
        {
            "estate.read",
            "owner.read",
            "owner.reveal_contact",
            "staff.read",
            "vendor.read",
            "ticket.read",
            "ledger.*",
            "commission.*",  # plans, targets, settling the collectors' commission
            "appraisal.read",  # results and vendor deductions
        }
    ),
    "manager": frozenset(
        {
            "estate.read",
            "estate.write",
            "owner.*",
            "staff.*",
            "vendor.*",
            "notify.send",
            "ticket.*",
            "outage.*",
            "maintenance.*",
            "sla.*",
            "ledger.read",
            "ledger.reverse",
            "ledger.waive",  # late fees: waivable by a permitted role, with a reason
            "ledger.assign",
            "ledger.dun",
            "ledger.refund",  # refunds, payment reversals, suspense, compensation
            "commission.*",
            "appraisal.*",
        }
    ),
    "admin": frozenset({"*"}),
}
ROLES: tuple[str, ...] = tuple(ROLE_GRANTS)


def _to_roles(value: Iterable[str] | str) -> frozenset[str]:
    return frozenset((value,) if isinstance(value, str) else value)


def _to_estates(value: Iterable[EstateId] | None) -> frozenset[EstateId] | None:
    return None if value is None else frozenset(value)


@attrs.frozen
class Actor:
    """Who is acting: a staff member, a host system's user, or the system itself.

    ``estate_ids`` None means every estate (company-level administration);
    otherwise the actor sees only the estates listed.
    """

    name: str
    roles: frozenset[str] = attrs.field(converter=_to_roles)
    estate_ids: frozenset[EstateId] | None = attrs.field(default=None, converter=_to_estates)
    staff_id: StaffId | None = None

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        """An all-estates administrator, for set-up scripts, imports and the demo."""
        return cls(name=name, roles=frozenset({"admin"}), estate_ids=None)

    def sees(self, estate_id: EstateId) -> bool:
        return self.estate_ids is None or estate_id in self.estate_ids

    @property
    def all_estates(self) -> bool:
        return self.estate_ids is None


@attrs.frozen
class Resource:
    """What an action is about: a kind of record, its estate, and its id if it exists."""

    kind: str
    estate_id: EstateId | None = None
    id: int | None = None


def role_allows(roles: frozenset[str], action: str) -> bool:
    area = action.split(".", 1)[0]
    for role in roles:
        grants = ROLE_GRANTS.get(role, frozenset())
        if "*" in grants or action in grants or f"{area}.*" in grants:
            return True
    return False


class BuiltinRoleMap:
    """The built-in ``propcare_authorize``: answers from ``ROLE_GRANTS``, last."""

    @hookimpl(trylast=True)
    def propcare_authorize(self, actor: Actor, action: str, resource: Resource) -> bool | None:
        return role_allows(actor.roles, action)
