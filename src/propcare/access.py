"""Who may do what: actors, the built-in role map, and estate isolation.

A host system plugs its own permissions in through ``propcare_authorize``; the
role map here answers when no plugin does. Estate isolation is not a
permission: an actor of estate A never sees or changes estate B, whatever a
plugin says.

Roles are given by people who could hold them: :func:`may_grant` lets an actor
give (or take away) a role only when every right the role carries, and every
duty it may assign, is covered by the actor's own (``staff.grant``);
:func:`may_act_as` lets an actor act as a staff member only when every right of
that staff member's roles is the actor's own (``staff.act_as``). Both are pure
functions of the role map; docs/explanation/security.md explains the model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

import attrs

from propcare.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from propcare.registry.model import EstateId, StaffId

__all__ = [
    "ACT_AS",
    "ASSIGNS",
    "GRANT",
    "ROLES",
    "ROLE_GRANTS",
    "Actor",
    "Resource",
    "RoleGrant",
    "act_as_shortfall",
    "authority_of",
    "covers",
    "grant_shortfall",
    "may_act_as",
    "may_grant",
    "rights_of",
    "role_allows",
]

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

# Duties a role may give to others without doing them itself (segregation of duties): a
# manager staffs the counter, so may appoint front-desk clerks, but does not take money,
# because a manager refunds and reverses payments. Counted when granting, never when acting.
ASSIGNS: Mapping[str, frozenset[str]] = {
    "manager": frozenset({"ledger.pay", "ledger.deposit"}),
}

GRANT = "staff.grant"
"""The action of giving or taking away one role (``Resource.role``); see :func:`may_grant`."""
ACT_AS = "staff.act_as"
"""The action of acting as a staff member in one of their roles; see :func:`may_act_as`."""


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
    """What an action is about: a kind of record, its estate, and its id if it exists.

    ``role`` names the one role an action on a staff member is about: the role given or
    taken away (``staff.grant``) or acted in (``staff.act_as``); None for other actions.
    """

    kind: str
    estate_id: EstateId | None = None
    id: int | None = None
    role: str | None = None


def _sorted_roles(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(frozenset(value)))


@attrs.frozen
class RoleGrant:
    """One change of a staff member's roles, as the audit keeps it: never changed afterwards.

    ``added`` and ``removed`` are the roles given and taken away (a new staff member's
    roles are all ``added``); ``actor``, ``actor_roles`` and ``actor_staff_id`` say who
    changed them, with the roles that allowed it.
    """

    estate_id: EstateId
    staff_id: StaffId
    added: tuple[str, ...] = attrs.field(converter=_sorted_roles)
    removed: tuple[str, ...] = attrs.field(converter=_sorted_roles)
    at: datetime
    actor: str
    actor_roles: tuple[str, ...] = attrs.field(converter=_sorted_roles)
    actor_staff_id: StaffId | None = None
    id: int = 0


def covers(grants: Iterable[str], right: str) -> bool:
    """Whether ``grants`` include ``right``: the right itself, its area's ``"area.*"``, or ``"*"``.

    ``right`` may be a wildcard too: ``"ticket.*"`` is covered only by ``"ticket.*"`` or
    ``"*"`` (the verbs of an area are open-ended), and ``"*"`` only by ``"*"``.
    """
    held = frozenset(grants)
    if "*" in held or right in held:
        return True
    area, dot, _ = right.partition(".")
    return bool(dot) and right != "*" and f"{area}.*" in held


def rights_of(
    roles: Iterable[str], role_grants: Mapping[str, frozenset[str]] = ROLE_GRANTS
) -> frozenset[str]:
    """Every right the roles carry together; a role the map does not know carries none."""
    return frozenset(right for role in roles for right in role_grants.get(role, ()))


def authority_of(
    roles: Iterable[str],
    role_grants: Mapping[str, frozenset[str]] = ROLE_GRANTS,
    assigns: Mapping[str, frozenset[str]] = ASSIGNS,
) -> frozenset[str]:
    """What the roles may hand to others: their rights and the duties they may assign."""
    held = frozenset(roles)
    return rights_of(held, role_grants) | frozenset(d for r in held for d in assigns.get(r, ()))


def grant_shortfall(
    held: Iterable[str],
    role: str,
    role_grants: Mapping[str, frozenset[str]] = ROLE_GRANTS,
    assigns: Mapping[str, frozenset[str]] = ASSIGNS,
) -> tuple[str, ...]:
    """The rights and assignable duties of ``role`` that the ``held`` roles do not cover,
    sorted; empty when the holder may grant it. A role the map does not know cannot be
    granted by the built-in rules: its name is the shortfall."""
    if role not in role_grants:
        return (role,)
    mine = authority_of(held, role_grants, assigns)
    carried = authority_of((role,), role_grants, assigns)
    return tuple(sorted(r for r in carried if not covers(mine, r)))


def may_grant(
    held: Iterable[str],
    role: str,
    role_grants: Mapping[str, frozenset[str]] = ROLE_GRANTS,
    assigns: Mapping[str, frozenset[str]] = ASSIGNS,
) -> bool:
    """Whether someone holding ``held`` may give ``role`` to another (or take it away).

    Only roles whose rights, and duties they may assign, are all covered by the holder's
    rights and assignable duties: so no chain of grants ever reaches a right the first
    granter could neither use nor assign. (Holding ``staff.grant`` is checked separately.)
    """
    return not grant_shortfall(held, role, role_grants, assigns)


def act_as_shortfall(
    held: Iterable[str],
    roles: Iterable[str],
    role_grants: Mapping[str, frozenset[str]] = ROLE_GRANTS,
) -> tuple[str, ...]:
    """The rights of ``roles`` that the ``held`` roles lack, sorted (assignable duties do
    not count: they are for giving, not doing). Unknown roles are their own shortfall."""
    mine = rights_of(held, role_grants)
    wanted = frozenset(roles)
    unknown = [r for r in wanted if r not in role_grants]
    lacking = [r for r in rights_of(wanted, role_grants) if not covers(mine, r)]
    return tuple(sorted({*unknown, *lacking}))


def may_act_as(
    held: Iterable[str],
    roles: Iterable[str],
    role_grants: Mapping[str, frozenset[str]] = ROLE_GRANTS,
) -> bool:
    """Whether someone holding ``held`` may act as a staff member with ``roles``: only when
    that gains them no right of their own lacking. (``staff.act_as`` is checked separately.)"""
    return not act_as_shortfall(held, roles, role_grants)


def role_allows(roles: frozenset[str], action: str) -> bool:
    """Whether the built-in role map gives any of ``roles`` the right to ``action``
    (:func:`covers` on their rights, without building the union: it runs on every call)."""
    area = action.split(".", 1)[0]
    for role in roles:
        grants = ROLE_GRANTS.get(role, frozenset())
        if "*" in grants or action in grants or f"{area}.*" in grants:
            return True
    return False


class BuiltinRoleMap:
    """The built-in ``propcare_authorize``: answers from ``ROLE_GRANTS``, last.

    ``staff.grant`` and ``staff.act_as`` need, besides the right itself (managers and
    admins hold it), that :func:`may_grant` or :func:`may_act_as` allow the role named in
    ``resource.role``; without a role named they are denied.
    """

    @hookimpl(trylast=True)
    def propcare_authorize(self, actor: Actor, action: str, resource: Resource) -> bool | None:
        if not role_allows(actor.roles, action):
            return False
        if action == GRANT:
            return resource.role is not None and may_grant(actor.roles, resource.role)
        if action == ACT_AS:
            return resource.role is not None and may_act_as(actor.roles, (resource.role,))
        return True
