"""The estate registry: estates, buildings, units, owners, staff, teams, vendors.

Frozen values that cannot be built wrong. Every record carries its
``estate_id``; services refuse to show or change a record to an actor of
another estate. ``id`` is 0 until the record is stored.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NewType

import attrs

from propcare.clock import DEFAULT_TZ, zone
from propcare.errors import ValidationError
from propcare.registry.contact import IdCardNumber, Phone
from propcare.validators import (
    NAME_MAX,
    enum_member,
    non_empty,
    optional_record_id,
    optional_text,
    positive_decimal,
    valid_date,
)

__all__ = [
    "USE_NAMES",
    "Building",
    "BuildingId",
    "ContactReveal",
    "Estate",
    "EstateId",
    "Owner",
    "OwnerId",
    "Ownership",
    "RevealPurpose",
    "Staff",
    "StaffId",
    "Team",
    "TeamId",
    "TeamKind",
    "Unit",
    "UnitId",
    "UnitUse",
    "Vendor",
    "VendorId",
]

EstateId = NewType("EstateId", int)
BuildingId = NewType("BuildingId", int)
UnitId = NewType("UnitId", int)
OwnerId = NewType("OwnerId", int)
StaffId = NewType("StaffId", int)
TeamId = NewType("TeamId", int)
VendorId = NewType("VendorId", int)


class UnitUse(enum.StrEnum):
    """What a unit is used for; fee rates differ by use. A unit takes the value or its
    Chinese name (:data:`USE_NAMES`, with the usual synonyms: 商业 for 商铺, 车库 for 车位)."""

    RESIDENTIAL = "residential"
    SHOP = "shop"
    OFFICE = "office"
    STORAGE = "storage"
    PARKING = "parking"
    OTHER = "other"


USE_NAMES: Mapping[UnitUse, str] = {
    UnitUse.RESIDENTIAL: "住宅",
    UnitUse.SHOP: "商铺",
    UnitUse.OFFICE: "办公",
    UnitUse.STORAGE: "储藏室",
    UnitUse.PARKING: "车位",
    UnitUse.OTHER: "其他",
}
"""Each use's Chinese name, as registers (房屋档案) write it."""

# The names a register writes for each use: its own and the usual synonyms. A villa (别墅)
# is not among them: its fee rate is often its own, so it is not filed as 住宅 unasked.
_USE_BY_NAME: Mapping[str, UnitUse] = {
    **{name: use for use, name in USE_NAMES.items()},
    "商业": UnitUse.SHOP,
    "底商": UnitUse.SHOP,
    "写字楼": UnitUse.OFFICE,
    "储藏间": UnitUse.STORAGE,
    "车库": UnitUse.PARKING,
    "其它": UnitUse.OTHER,
}
_USES_LISTED = (
    f"{', '.join(use.value for use in UnitUse)} "
    f"(or in Chinese: {', '.join(USE_NAMES[use] for use in UnitUse)})"
)


class TeamKind(enum.StrEnum):
    FRONT_DESK = "front_desk"
    REPAIR = "repair"
    CLEANING = "cleaning"
    GREENING = "greening"
    SECURITY = "security"
    COLLECTION = "collection"
    OTHER = "other"


def _unit_use(value: Any) -> UnitUse:
    if isinstance(value, str) and value.strip() in _USE_BY_NAME:
        return _USE_BY_NAME[value.strip()]
    try:
        return UnitUse(value)
    except (ValueError, TypeError):
        raise ValidationError("use", value, f"must be one of: {_USES_LISTED}") from None


def _team_kind(value: Any) -> TeamKind:
    return enum_member(TeamKind, "kind", value)


def _tz(value: Any) -> str:
    zone(value)
    return str(value)


# A unit's floor area (square metres): from a storage locker or a parking space to a
# whole shopping centre; at most 4 decimals (registers give 2; shared areas apportioned
# to a unit (公摊) may carry more).
MIN_AREA = Decimal(1)
MAX_AREA = Decimal(100_000)


def _area(value: Any) -> Decimal:
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, str):
        try:
            return Decimal(value) if len(value) <= 40 else Decimal("NaN")
        except ArithmeticError:
            raise ValidationError("floor_area", value, "is not a decimal number") from None
    return value  # type: ignore[no-any-return]


def _phones(value: Any) -> tuple[Phone, ...]:
    if isinstance(value, str | Phone):
        value = (value,)
    if isinstance(value, bytes | Mapping) or not isinstance(value, Iterable):
        raise ValidationError("phones", value, "must be a phone number or a list of them")
    phones = tuple(p if isinstance(p, Phone) else Phone(p) for p in value)
    if len(phones) > 10:
        raise ValidationError("phones", len(phones), "at most 10 phone numbers")
    return phones


def _optional_id_card(value: Any) -> IdCardNumber | None:
    if value is None or isinstance(value, IdCardNumber):
        return value
    return IdCardNumber(value)


def _optional_phone(value: Any) -> Phone | None:
    if value is None or isinstance(value, Phone):
        return value
    return Phone(value)


def _optional_id(field: str) -> Any:
    def check(_inst: Any, _attr: Any, value: Any) -> None:
        optional_record_id(field, value)

    return check


def _optional_name(field: str) -> Any:
    def check(_inst: Any, _attr: Any, value: Any) -> None:
        optional_text(field, value, max_length=NAME_MAX)

    return check


@attrs.frozen
class Estate:
    name: str = attrs.field(validator=non_empty("estate name"))
    timezone: str = attrs.field(default=DEFAULT_TZ, converter=_tz)
    id: EstateId = EstateId(0)


@attrs.frozen
class Building:
    estate_id: EstateId
    name: str = attrs.field(validator=non_empty("building name"))
    id: BuildingId = BuildingId(0)


def _area_rule(_inst: Any, _attr: Any, value: Decimal) -> None:
    positive_decimal("floor_area", "square metres")(_inst, _attr, value)
    if not MIN_AREA <= value <= MAX_AREA:
        raise ValidationError(
            "floor_area", value, f"must be from {MIN_AREA} to {MAX_AREA:,} square metres"
        )
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -4:
        raise ValidationError("floor_area", value, "at most 4 decimals of a square metre")


@attrs.frozen
class Unit:
    estate_id: EstateId
    building_id: BuildingId
    number: str = attrs.field(validator=non_empty("unit number", 40))
    floor_area: Decimal = attrs.field(converter=_area, validator=_area_rule)
    use: UnitUse = attrs.field(default=UnitUse.RESIDENTIAL, converter=_unit_use)
    handover_date: date | None = attrs.field(
        default=None, validator=valid_date("handover_date", optional=True)
    )
    id: UnitId = UnitId(0)


@attrs.frozen
class Owner:
    estate_id: EstateId
    name: str = attrs.field(validator=non_empty("owner name"))
    phones: tuple[Phone, ...] = attrs.field(default=(), converter=_phones)
    id_card: IdCardNumber | None = attrs.field(default=None, converter=_optional_id_card)
    id: OwnerId = OwnerId(0)

    @property
    def primary_phone(self) -> Phone | None:
        return self.phones[0] if self.phones else None


@attrs.frozen
class Ownership:
    """Who owned a unit from ``start`` (inclusive) to ``end`` (exclusive, None = still)."""

    estate_id: EstateId
    unit_id: UnitId
    owner_id: OwnerId
    start: date = attrs.field(validator=valid_date("start"))
    end: date | None = attrs.field(default=None, validator=valid_date("end", optional=True))

    def __attrs_post_init__(self) -> None:
        if self.end is not None and self.end <= self.start:
            raise ValidationError("end", self.end, f"must be after the start {self.start}")

    def covers(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day < self.end)


@attrs.frozen
class Team:
    """A team (班组). ``leader_staff_id`` names its leader (班组长), a staff member of the
    same estate: the SLA warnings of a ticket assigned to the team alone go to them."""

    estate_id: EstateId
    name: str = attrs.field(validator=non_empty("team name"))
    kind: TeamKind = attrs.field(default=TeamKind.OTHER, converter=_team_kind)
    leader_staff_id: StaffId | None = attrs.field(
        default=None, validator=_optional_id("leader_staff_id")
    )
    id: TeamId = TeamId(0)


def _roles(value: Any) -> frozenset[str]:
    from propcare.access import ROLES  # the role list lives with the role map

    if isinstance(value, str):
        value = (value,)
    if isinstance(value, bytes | Mapping) or not isinstance(value, Iterable):
        raise ValidationError("roles", value, "must be a role or a list of roles")
    items = tuple(value)
    for role in items:
        if not isinstance(role, str):
            raise ValidationError("roles", role, "a role is text, such as front_desk")
    roles = frozenset(items)
    if not roles:
        raise ValidationError("roles", sorted(roles), "a staff member needs at least one role")
    unknown = sorted(r for r in roles if r not in ROLES)
    if unknown:
        raise ValidationError("roles", unknown, f"unknown role; known: {', '.join(ROLES)}")
    return roles


@attrs.frozen
class Staff:
    estate_id: EstateId
    name: str = attrs.field(validator=non_empty("staff name"))
    roles: frozenset[str] = attrs.field(converter=_roles)
    active_from: date = attrs.field(validator=valid_date("active_from"))
    team_id: TeamId | None = attrs.field(default=None, validator=_optional_id("team_id"))
    active_to: date | None = attrs.field(
        default=None, validator=valid_date("active_to", optional=True)
    )
    phone: Phone | None = attrs.field(default=None, converter=_optional_phone)
    id: StaffId = StaffId(0)

    def __attrs_post_init__(self) -> None:
        if self.active_to is not None and self.active_to < self.active_from:
            raise ValidationError(
                "active_to", self.active_to, f"must not be before active_from {self.active_from}"
            )

    def active_on(self, day: date) -> bool:
        return self.active_from <= day and (self.active_to is None or day <= self.active_to)


@attrs.frozen
class Vendor:
    estate_id: EstateId
    name: str = attrs.field(validator=non_empty("vendor name"))
    service: str = attrs.field(default="cleaning", validator=non_empty("vendor service", 60))
    contact_name: str | None = attrs.field(default=None, validator=_optional_name("contact_name"))
    phone: Phone | None = attrs.field(default=None, converter=_optional_phone)
    id: VendorId = VendorId(0)


class RevealPurpose(enum.StrEnum):
    """Why an owner's full contacts were shown."""

    CALLBACK = "callback"  # to the one calling back a ticket its reporter (回访)
    CONTACT = "contact"  # owners.contact, to a role allowed owner.reveal_contact
    ARCHIVE = "archive"  # the owner archive with full contacts: every owner of the estate
    ROSTER = "roster"  # the arrears roster with full phones: the owners of the units listed


def _sorted_names(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(frozenset(value)))


@attrs.frozen
class ContactReveal:
    """One showing of owners' full phone numbers, as the audit keeps it: never changed.

    ``owner_id`` is the owner whose numbers were shown (None for many at once: an archive
    export, every owner of the estate, or an arrears roster, the owners it lists);
    ``ticket_id`` the ticket whose callback it was for (purpose ``callback``); ``actor``,
    ``actor_roles`` and ``actor_staff_id`` who asked, with the roles that allowed it.
    """

    estate_id: EstateId
    owner_id: OwnerId | None
    purpose: RevealPurpose = attrs.field(converter=RevealPurpose)
    at: datetime
    actor: str
    actor_roles: tuple[str, ...] = attrs.field(converter=_sorted_names)
    actor_staff_id: StaffId | None = None
    ticket_id: int | None = None
    id: int = 0
