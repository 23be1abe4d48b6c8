"""Granting roles (issue 15, point 2): nobody gives a role carrying rights they lack, granting
is its own audited action, and acting as a staff member never gains a right.

The audit rows on every backend (written, kept as written, scoped by estate) are checked by
the storage contract suite (``test_role_grants_are_audited_kept_as_written_and_scoped``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from propcare import Actor, PermissionDenied, Propcare, Resource, hookimpl
from propcare.access import (
    ASSIGNS,
    ROLE_GRANTS,
    ROLES,
    act_as_shortfall,
    authority_of,
    covers,
    grant_shortfall,
    may_act_as,
    may_grant,
    rights_of,
    role_allows,
)
from propcare.registry.model import EstateId, Staff

ROOT = Path(__file__).resolve().parents[1]
HIRED = date(2020, 1, 1)
TODAY = date(2026, 1, 1)

# The rule as a table: which roles each role may give (and take away). Derived from ROLE_GRANTS
# and ASSIGNS by may_grant; written out here so that a change to the role map that changes
# who may appoint whom fails this test and is made on purpose.
GRANTABLE = {
    "admin": set(ROLES),
    "manager": {"front_desk", "technician", "collector", "supervisor", "manager"},
    "front_desk": set(),
    "technician": set(),
    "collector": set(),
    "supervisor": set(),
    "finance": set(),
}
# Whose Actor each role may have from actor_for: only staff whose rights are all its own.
ACTS_AS = {
    "admin": set(ROLES),
    "manager": {"technician", "collector", "supervisor", "manager"},
    "front_desk": set(),
    "technician": set(),
    "collector": set(),
    "supervisor": set(),
    "finance": set(),
}


def _rows(app: Propcare) -> dict[str, int]:
    with app.unit_of_work(readonly=True) as uow:
        conn = uow.connection  # type: ignore[attr-defined]
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}


@pytest.fixture
def estate(app: Propcare, admin: Actor) -> EstateId:
    return app.estates.create(admin, "翠苑").id


def _as(app: Propcare, admin: Actor, estate: EstateId, *roles: str) -> tuple[Staff, Actor]:
    staff = app.staff.create(admin, estate, f"{'+'.join(roles)}员工", list(roles), HIRED)
    return staff, app.staff.actor_for(admin, staff.id, TODAY)


# --- the scenarios ----------------------------------------------------------------


def test_a_manager_cannot_create_an_admin(app: Propcare, admin: Actor, estate: EstateId) -> None:
    _, manager = _as(app, admin, estate, "manager")
    before = _rows(app)
    with pytest.raises(PermissionDenied) as refused:
        app.staff.create(manager, estate, "x", ["admin"], HIRED)
    assert refused.value.field == "roles" and refused.value.value == "admin"
    assert "may not give this role" in str(refused.value)
    assert "neither hold nor may assign" in str(refused.value)  # the rule
    assert _rows(app) == before  # nothing written: no staff, no audit row, no event


def test_a_manager_cannot_make_anyone_admin_and_finance(
    app: Propcare, admin: Actor, estate: EstateId
) -> None:
    _, manager = _as(app, admin, estate, "manager")
    clerk = app.staff.create(manager, estate, "王客服", ["front_desk"], HIRED)
    before = _rows(app)
    with pytest.raises(PermissionDenied, match=r"roles='admin'.*carries \*"):
        app.staff.update(manager, clerk.id, roles={"admin", "finance"})
    with pytest.raises(PermissionDenied, match=r"roles='finance'.*carries ledger\.\*"):
        app.staff.update(manager, clerk.id, roles={"front_desk", "finance"})
    assert _rows(app) == before
    assert app.staff.get(admin, clerk.id).roles == {"front_desk"}


def test_no_actor_from_actor_for_has_the_duties_withheld_from_managers(
    app: Propcare, admin: Actor, estate: EstateId
) -> None:
    boss, manager = _as(app, admin, estate, "manager")
    finance = app.staff.create(admin, estate, "出纳", ["finance"], HIRED)
    chief = app.staff.create(admin, estate, "总管", ["admin"], HIRED)
    clerk = app.staff.create(manager, estate, "王客服", ["front_desk"], HIRED)
    for staff in (finance, chief, clerk):
        with pytest.raises(PermissionDenied, match="needs staff.act_as and every right"):
            app.staff.actor_for(manager, staff.id, TODAY)
    # What a manager may act as gives nothing a manager lacks.
    for role in ACTS_AS["manager"]:
        staff = app.staff.create(manager, estate, f"{role}员工", [role], HIRED)
        acting = app.staff.actor_for(manager, staff.id, TODAY)
        for withheld in ("ledger.bill", "ledger.configure", "ledger.pay"):
            assert not role_allows(acting.roles, withheld)
    assert app.staff.actor_for(manager, boss.id, TODAY).roles == {"manager"}


def test_a_manager_can_still_appoint_a_front_desk_clerk_and_take_the_role_away(
    app: Propcare, admin: Actor, estate: EstateId
) -> None:
    _, manager = _as(app, admin, estate, "manager")
    clerk = app.staff.create(manager, estate, "王客服", ["front_desk"], HIRED)
    app.staff.update(manager, clerk.id, roles={"front_desk", "collector"})
    app.staff.update(manager, clerk.id, roles={"collector"}, active_to=date(2026, 12, 31))
    assert app.staff.get(admin, clerk.id).roles == {"collector"}


# --- who may give which role --------------------------------------------------------------


@pytest.mark.parametrize("granter", ROLES)
def test_each_role_gives_exactly_the_roles_of_the_table(
    app: Propcare, admin: Actor, estate: EstateId, granter: str
) -> None:
    _, actor = _as(app, admin, estate, granter)
    given_ = set()
    for role in ROLES:
        try:
            app.staff.create(actor, estate, f"新{role}", [role], HIRED)
        except PermissionDenied:
            continue
        given_.add(role)
    assert given_ == GRANTABLE[granter]


def test_the_pure_rule_matches_the_table() -> None:
    for granter in ROLES:
        holds_grant = role_allows(frozenset({granter}), "staff.grant")
        allowed = {r for r in ROLES if holds_grant and may_grant({granter}, r)}
        assert allowed == GRANTABLE[granter], granter
        acting = {
            r
            for r in ROLES
            if role_allows(frozenset({granter}), "staff.act_as") and may_act_as({granter}, {r})
        }
        assert acting == ACTS_AS[granter], granter


def test_taking_a_role_away_needs_the_right_to_give_it(
    app: Propcare, admin: Actor, estate: EstateId
) -> None:
    _, manager = _as(app, admin, estate, "manager")
    cashier = app.staff.create(admin, estate, "出纳", ["finance", "collector"], HIRED)
    before = _rows(app)
    with pytest.raises(PermissionDenied, match="may not take away this role"):
        app.staff.update(manager, cashier.id, roles={"collector"})
    assert _rows(app) == before


def test_changing_when_someone_acts_needs_the_right_to_give_their_roles(
    app: Propcare, admin: Actor, estate: EstateId
) -> None:
    _, manager = _as(app, admin, estate, "manager")
    gone = app.staff.create(admin, estate, "离职总管", ["admin"], HIRED, active_to=date(2021, 1, 1))
    with pytest.raises(PermissionDenied, match="roles='admin'"):
        app.staff.update(manager, gone.id, active_to=None)  # brought back as an admin
    clerk = app.staff.create(manager, estate, "王客服", ["front_desk"], HIRED)
    app.staff.update(manager, clerk.id, active_to=date(2026, 6, 30))  # a clerk's last day
    app.staff.update(manager, gone.id, name="离职总管(已离职)")  # other fields: staff.write only


def test_roles_without_staff_grant_give_nothing(
    app: Propcare, admin: Actor, estate: EstateId
) -> None:
    _, clerk = _as(app, admin, estate, "front_desk")
    tech = app.staff.create(admin, estate, "技工", ["technician"], HIRED)
    # staff.write is checked first and the front desk lacks it; a host plugin that gives it
    # still leaves staff.grant to the role map (see the plugin test below).
    with pytest.raises(PermissionDenied, match="staff.write"):
        app.staff.update(clerk, tech.id, roles={"technician", "collector"})
    with pytest.raises(PermissionDenied, match="do not hold staff.act_as"):
        app.staff.actor_for(clerk, tech.id, TODAY)


def test_the_system_actor_gives_every_role_and_acts_as_anyone(
    app: Propcare, admin: Actor, estate: EstateId
) -> None:
    staff = app.staff.create(admin, estate, "全能", list(ROLES), HIRED)
    assert app.staff.actor_for(admin, staff.id, TODAY).roles == set(ROLES)


# --- the audit ------------------------------------------------------------------------------


def test_each_change_of_roles_is_one_audit_row_and_one_event(
    app: Propcare, admin: Actor, estate: EstateId
) -> None:
    boss, manager = _as(app, admin, estate, "manager")
    clerk = app.staff.create(manager, estate, "王客服", ["front_desk"], HIRED, phone=None)
    app.staff.update(manager, clerk.id, name="王芳")  # no role change: no grant
    app.staff.update(manager, clerk.id, roles={"collector", "technician"})
    grants = app.staff.grants(admin, estate, staff_id=clerk.id)
    assert [(g.added, g.removed, g.actor, g.actor_roles, g.actor_staff_id) for g in grants] == [
        (("front_desk",), (), "manager员工", ("manager",), boss.id),
        (("collector", "technician"), ("front_desk",), "manager员工", ("manager",), boss.id),
    ]
    assert all(g.estate_id == estate and g.at == app.clock.now() for g in grants)
    with app.unit_of_work(readonly=True) as uow:
        events = [m.payload for m in uow.outbox.messages("registry.roles_changed")]
    assert events[-2:] == [
        {
            "staff_id": clerk.id,
            "grant_id": grants[0].id,
            "added": ["front_desk"],
            "removed": [],
            "actor": "manager员工",
        },
        {
            "staff_id": clerk.id,
            "grant_id": grants[1].id,
            "added": ["collector", "technician"],
            "removed": ["front_desk"],
            "actor": "manager员工",
        },
    ]


def test_the_audit_is_read_with_staff_read_and_only_in_the_actors_estates(
    app: Propcare, admin: Actor, estate: EstateId
) -> None:
    other = app.estates.create(admin, "海棠湾").id
    _, tech = _as(app, admin, estate, "technician")
    stranger = app.staff.create(admin, other, "外人", ["technician"], HIRED)
    assert [g.added for g in app.staff.grants(tech, estate)] == [("technician",)]
    with pytest.raises(Exception, match="no estate with this id"):
        app.staff.grants(tech, other)
    with pytest.raises(Exception, match="no staff with this id"):
        app.staff.grants(tech, estate, staff_id=stranger.id)
    with pytest.raises(Exception, match="is not a staff member of estate"):
        app.staff.grants(admin, estate, staff_id=stranger.id)


# --- a host system's own permissions --------------------------------------------------------


class HostRoles:
    """A host system whose "hr" role reads and writes staff records and appoints counter
    staff and collectors, and which forbids anyone to give the admin role. It has no opinion
    on anything else."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str | None, int | None]] = []

    @hookimpl
    def propcare_authorize(self, actor: Actor, action: str, resource: Resource) -> bool | None:
        if action in ("staff.grant", "staff.act_as"):
            self.asked.append((action, resource.role, resource.id))
            if resource.role == "admin":
                return False
            if "hr" in actor.roles:
                return resource.role in ("front_desk", "collector")
        if action in ("staff.read", "staff.write") and "hr" in actor.roles:
            return True
        return None


def test_a_host_plugin_allows_and_denies_grants_for_its_own_roles(admin: Actor) -> None:
    host = HostRoles()
    with Propcare.open("sqlite://:memory:", plugins=[host], load_entrypoints=False) as app:
        estate = app.estates.create(admin, "翠苑").id
        hr = Actor("人事", {"hr"}, {estate})
        clerk = app.staff.create(hr, estate, "王客服", ["front_desk"], HIRED)
        assert ("staff.grant", "front_desk", None) in host.asked  # no id before it is written
        with pytest.raises(PermissionDenied, match="roles='technician'"):
            app.staff.create(hr, estate, "x", ["technician"], HIRED)
        # The plugin denies admin even to the system actor, whom the role map would allow.
        with pytest.raises(PermissionDenied, match="host system's propcare_authorize policy"):
            app.staff.update(admin, clerk.id, roles={"admin"})
        assert ("staff.grant", "admin", clerk.id) in host.asked
        acting = app.staff.actor_for(hr, clerk.id, TODAY)  # the plugin allows it
        assert acting.roles == {"front_desk"}
        (grant,) = app.staff.grants(admin, estate)
        assert (grant.actor, grant.actor_roles, grant.added) == ("人事", ("hr",), ("front_desk",))


# --- the rule as a property --------------------------------------------------------------------

_AREAS = ("a", "b", "c")
_RIGHTS = ("*", *(f"{a}.*" for a in _AREAS), *(f"{a}.{v}" for a in _AREAS for v in ("x", "y")))
_ACTIONS = [f"{a}.{v}" for a in _AREAS for v in ("x", "y", "z")]
_NAMES = ("r0", "r1", "r2", "r3", "r4")
_rights = st.frozensets(st.sampled_from(_RIGHTS), max_size=4)


@st.composite
def role_maps(draw: st.DrawFn) -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    grants = {name: draw(_rights) for name in _NAMES}
    assigns = {name: draw(_rights) for name in draw(st.sets(st.sampled_from(_NAMES)))}
    return grants, assigns


def _reachable(
    start: frozenset[str],
    grants: Mapping[str, frozenset[str]],
    assigns: Mapping[str, frozenset[str]],
) -> frozenset[str]:
    """Every role anyone can come to hold through chains of grants that begin with a holder
    of ``start``: each holder may give what its roles (together with all roles given in the
    chain so far: the widest case) may give."""
    held = set(start)
    while True:
        more = {r for r in grants if may_grant(held, r, grants, assigns)} - held
        if not more:
            return frozenset(held)
        held |= more


@settings(max_examples=300)
@given(maps=role_maps(), start=st.frozensets(st.sampled_from(_NAMES), max_size=3))
def test_granting_never_lets_anyone_gain_a_right_the_first_granter_lacks(
    maps: tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]], start: frozenset[str]
) -> None:
    grants, assigns = maps
    mine = authority_of(start, grants, assigns)
    reached = _reachable(start, grants, assigns)
    # Whatever the chain hands on, the first granter held it or could assign it ...
    for right in authority_of(reached, grants, assigns):
        assert covers(mine, right), right
    for action in _ACTIONS:
        if covers(rights_of(reached, grants), action):
            assert covers(mine, action), action
    # ... and acting as anyone reached never gives a right the actor does not hold.
    for staff in (frozenset({r}) for r in reached):
        if may_act_as(start, staff, grants):
            for action in _ACTIONS:
                if covers(rights_of(staff, grants), action):
                    assert covers(rights_of(start, grants), action), action


# Every action the role map names, and more verbs of each of its areas.
_BUILT_IN_AREAS = {g.split(".")[0] for gs in ROLE_GRANTS.values() for g in gs if g != "*"}
BUILT_IN_ACTIONS = sorted(
    {g for gs in ROLE_GRANTS.values() for g in gs if not g.endswith("*")}
    | {f"{a}.{v}" for a in _BUILT_IN_AREAS for v in ("pay", "bill", "configure", "grant", "other")}
)


@given(
    held=st.frozensets(st.sampled_from(ROLES), max_size=3),
    roles=st.frozensets(st.sampled_from(ROLES), min_size=1, max_size=3),
)
def test_acting_as_built_in_roles_never_gains_an_action(
    held: frozenset[str], roles: frozenset[str]
) -> None:
    if may_act_as(held, roles):
        assert not act_as_shortfall(held, roles)
        for action in BUILT_IN_ACTIONS:
            if role_allows(roles, action):
                assert role_allows(held, action), action
    else:
        assert act_as_shortfall(held, roles)


@given(held=st.frozensets(st.sampled_from(ROLES), max_size=3), role=st.sampled_from(ROLES))
def test_giving_a_built_in_role_hands_on_only_what_the_giver_does_or_may_assign(
    held: frozenset[str], role: str
) -> None:
    if may_grant(held, role):
        mine = authority_of(held)
        for action in BUILT_IN_ACTIONS:
            if role_allows(frozenset({role}), action):
                assert covers(mine, action), action


def test_the_shortfall_names_what_is_missing() -> None:
    assert grant_shortfall({"manager"}, "finance") == ("ledger.*",)
    assert grant_shortfall({"manager"}, "admin") == ("*",)
    assert grant_shortfall({"manager"}, "front_desk") == ()  # ASSIGNS: the counter's duties
    assert act_as_shortfall({"manager"}, {"front_desk"}) == ("ledger.deposit", "ledger.pay")
    assert grant_shortfall({"admin"}, "janitor") == ("janitor",)  # unknown: never granted
    assert set(ASSIGNS) <= set(ROLE_GRANTS)


@pytest.mark.parametrize(
    ("grants", "right", "expected"),
    [
        ({"*"}, "*", True),
        ({"a.*"}, "*", False),
        ({"a.*"}, "a.*", True),
        ({"a.*"}, "a.x", True),
        ({"a.x"}, "a.*", False),
        ({"a.x"}, "a.x", True),
        ({"a.x"}, "b.x", False),
        ({"a.*"}, "ab.x", False),
    ],
)
def test_covers(grants: set[str], right: str, expected: bool) -> None:
    assert covers(grants, right) is expected


# --- the security page says what the code does ------------------------------------------------

_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def test_the_security_pages_python_blocks_run() -> None:
    text = (ROOT / "docs" / "explanation" / "security.md").read_text(encoding="utf-8")
    blocks = _FENCE.findall(text)
    assert blocks
    namespace: dict[str, Any] = {"__name__": "docs_security"}
    for index, block in enumerate(blocks):
        exec(compile(block, f"security.md (python block {index + 1})", "exec"), namespace)


def test_the_security_page_tables_match_the_rule() -> None:
    text = (ROOT / "docs" / "explanation" / "security.md").read_text(encoding="utf-8")
    text = text[text.index("| role | may give and take away |") :]
    for granter in ROLES:
        row = re.search(rf"^\| `{granter}` \|([^|]*)\|([^|]*)\|", text, re.M)
        assert row is not None, granter
        gives, acts = row[1], row[2]
        if granter == "admin":
            assert "every role" in gives and "anyone" in acts
        else:
            assert set(re.findall(r"`(\w+)`", gives)) == GRANTABLE[granter], granter
            assert set(re.findall(r"`(\w+)`", acts)) == ACTS_AS[granter], granter
