"""The estate registry: records that cannot be built wrong, services that write all or nothing."""

from __future__ import annotations

import itertools
import logging
from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import given

from propcare import (
    Actor,
    Conflict,
    IdCardNumber,
    NotFound,
    Owner,
    PermissionDenied,
    Phone,
    Propcare,
    PropcareError,
    Unit,
    UnitSpec,
    ValidationError,
)
from propcare.clock import FixedClock, require_aware
from propcare.registry.model import BuildingId, EstateId
from propcare.testing.strategies import floor_areas, mobile_phones


def _setup(app: Propcare, admin: Actor) -> tuple[int, int]:
    estate = app.estates.create(admin, "翠苑小区")
    building = app.estates.add_building(admin, estate.id, "1栋")
    return estate.id, building.id


def _row_counts(app: Propcare) -> dict[str, int]:
    with app.unit_of_work(readonly=True) as uow:
        conn = uow.connection  # type: ignore[attr-defined]
        tables = ["estates", "buildings", "units", "owners", "ownerships", "staff", "teams"]
        counts = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
        counts["outbox"] = conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        return counts


# --- values -------------------------------------------------------------------------


@given(phone=mobile_phones())
def test_phones_are_masked_in_str_repr_and_format(phone: str) -> None:
    p = Phone(phone)
    masked = f"{phone[:3]}****{phone[-4:]}"
    assert str(p) == masked
    assert repr(p) == f"Phone({masked!r})"
    assert f"{p}" == masked
    assert phone not in repr(p) and p.reveal() == phone


def test_owner_repr_and_logs_do_not_leak_contacts(caplog: pytest.LogCaptureFixture) -> None:
    owner = Owner(
        estate_id=EstateId(1), name="张三", phones=("138 1234 5678",), id_card="11010519491231002X"
    )
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("owner %s / %r", owner, owner)
    text = repr(owner) + caplog.text
    assert "13812345678" not in text and "11010519491231002X" not in text
    assert "138****5678" in text and "110105********002X" in text


@pytest.mark.parametrize("bad", ["12345678901", "abc", "", "1380013800012345678901", "12-34"])
def test_bad_phones_are_refused(bad: str) -> None:
    with pytest.raises(ValidationError, match="phone="):
        Phone(bad)


def test_id_card_checksum_is_verified_and_the_number_kept_out_of_messages() -> None:
    assert IdCardNumber("11010519491231002x").reveal() == "11010519491231002X"
    with pytest.raises(ValidationError) as info:
        IdCardNumber("110105194912310021")
    assert "check digit" in str(info.value)
    assert "110105194912310021" not in str(info.value)


@given(area=floor_areas())
def test_any_area_from_1_to_100000_m2_with_up_to_4_decimals_is_kept_exactly(
    area: Decimal,
) -> None:
    unit = Unit(estate_id=EstateId(1), building_id=BuildingId(1), number="1", floor_area=area)
    assert unit.floor_area == area


@pytest.mark.parametrize(
    ("area", "error"),
    [
        (Decimal("0"), ValidationError),
        (Decimal("-3"), ValidationError),
        (Decimal("NaN"), ValidationError),
        (Decimal("1.00001"), ValidationError),
        (Decimal("0.5"), ValidationError),
        (Decimal("100000.0001"), ValidationError),
        (Decimal("1e30"), ValidationError),
        (2**63, ValidationError),
        (89.5, TypeError),
    ],
)
def test_bad_floor_areas_are_refused_with_the_rule(area: object, error: type) -> None:
    with pytest.raises(error) as info:
        Unit(estate_id=EstateId(1), building_id=BuildingId(1), number="1", floor_area=area)  # type: ignore[arg-type]
    assert isinstance(info.value, PropcareError)
    assert str(info.value).startswith("floor_area=")


def test_a_unit_use_is_given_by_its_value_or_its_chinese_name() -> None:
    def use(value: object) -> str:
        unit = Unit(
            estate_id=EstateId(1), building_id=BuildingId(1), number="1", floor_area=90,
            use=value,  # type: ignore[arg-type]
        )  # fmt: skip
        return unit.use.value

    assert [use(v) for v in ("住宅", "商铺", "写字楼", "储藏室", "车库", "其它", "shop")] == [
        "residential", "shop", "office", "storage", "parking", "other", "shop",
    ]  # fmt: skip
    # A word the register does not use is refused, and the rule lists the Chinese names too.
    with pytest.raises(ValidationError) as info:
        use("别墅")
    assert str(info.value) == (
        "use='别墅': must be one of: residential, shop, office, storage, parking, other "
        "(or in Chinese: 住宅, 商铺, 办公, 储藏室, 车位, 其他)"
    )
    with pytest.raises(ValidationError, match="住宅"):
        use(5)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValidationError, match="timezone-aware"):
        require_aware("at", datetime(2026, 1, 1, 9, 0))
    with pytest.raises(ValidationError, match="timezone-aware"):
        FixedClock(datetime(2026, 1, 1))


def test_error_messages_name_field_value_and_rule() -> None:
    err = ValidationError("floor_area", Decimal("-3"), "must be a positive Decimal (square metres)")
    assert str(err) == "floor_area=Decimal('-3'): must be a positive Decimal (square metres)"
    assert (err.field, err.value, err.rule) == ("floor_area", Decimal("-3"), err.rule)


# --- services -----------------------------------------------------------------------


def test_estate_building_unit_crud(app: Propcare, admin: Actor) -> None:
    estate_id, building_id = _setup(app, admin)
    unit = app.estates.add_unit(admin, building_id, "1-101", Decimal("89.50"), "residential")
    assert app.estates.get_unit(admin, unit.id) == unit
    assert app.estates.units(admin, estate_id) == [unit]
    assert app.estates.units(admin, estate_id, building_id) == [unit]
    renamed = app.estates.update(admin, estate_id, name="翠苑")
    assert app.estates.get(admin, estate_id) == renamed
    b2 = app.estates.update_building(admin, building_id, name="一栋")
    assert app.estates.buildings(admin, estate_id) == [b2]
    handed = app.estates.update_unit(admin, unit.id, handover_date=date(2020, 1, 1))
    assert (
        app.estates.get_unit(admin, unit.id).handover_date
        == date(2020, 1, 1)
        == handed.handover_date
    )


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda a, ad, e, b: a.estates.create(ad, ""), ValidationError),
        (lambda a, ad, e, b: a.estates.create(ad, "X", timezone="Mars/Base"), ValidationError),
        (lambda a, ad, e, b: a.estates.add_building(ad, e, "  "), ValidationError),
        (lambda a, ad, e, b: a.estates.add_building(ad, e, "1栋"), Conflict),
        (lambda a, ad, e, b: a.estates.add_unit(ad, b, "1-101", Decimal("-1")), ValidationError),
        (lambda a, ad, e, b: a.estates.add_unit(ad, b, "1-101", 89.5), TypeError),
        (
            lambda a, ad, e, b: a.estates.add_unit(ad, b, "1-101", Decimal(9), "castle"),
            ValidationError,
        ),
        (lambda a, ad, e, b: a.estates.add_unit(ad, b, "", Decimal(9)), ValidationError),
        (
            lambda a, ad, e, b: a.estates.add_unit(
                ad, b, "1-1", Decimal(9), handover_date=datetime(2020, 1, 1)
            ),
            ValidationError,
        ),
        (lambda a, ad, e, b: a.estates.add_unit(ad, 999, "1-101", Decimal(9)), NotFound),
        (
            lambda a, ad, e, b: a.estates.add_units(
                ad, b, [UnitSpec("x", Decimal(1)), UnitSpec("x", Decimal(1))]
            ),
            Conflict,
        ),
        (lambda a, ad, e, b: a.owners.create(ad, e, "李四", ["123"]), ValidationError),
        (lambda a, ad, e, b: a.owners.create(ad, e, ""), ValidationError),
        (lambda a, ad, e, b: a.owners.create(ad, 999, "李四"), NotFound),
        (
            lambda a, ad, e, b: a.staff.create(ad, e, "王五", ["janitor"], date(2024, 1, 1)),
            ValidationError,
        ),
        (lambda a, ad, e, b: a.staff.create(ad, e, "王五", [], date(2024, 1, 1)), ValidationError),
        (
            lambda a, ad, e, b: a.staff.create(
                ad, e, "王五", ["technician"], date(2024, 1, 1), active_to=date(2023, 1, 1)
            ),
            ValidationError,
        ),
        (
            lambda a, ad, e, b: a.staff.create(
                ad, e, "王五", ["technician"], date(2024, 1, 1), team_id=999
            ),
            ValidationError,
        ),
        (lambda a, ad, e, b: a.staff.create_team(ad, e, "", "repair"), ValidationError),
        (lambda a, ad, e, b: a.staff.create_team(ad, e, "维修", "plumbing"), ValidationError),
        (lambda a, ad, e, b: a.vendors.create(ad, e, ""), ValidationError),
        (lambda a, ad, e, b: a.estates.update(ad, e, id=5), ValidationError),
        (lambda a, ad, e, b: a.estates.get(ad, "1"), ValidationError),
        (lambda a, ad, e, b: a.estates.get("admin", e), ValidationError),
    ],
)
def test_bad_input_raises_a_clear_error_and_writes_nothing(
    app: Propcare, admin: Actor, call: object, error: type
) -> None:
    estate_id, building_id = _setup(app, admin)
    app.estates.add_unit(admin, building_id, "1-101", Decimal("80"))
    before = _row_counts(app)
    with pytest.raises(error) as info:
        call(app, admin, estate_id, building_id)  # type: ignore[operator]
    assert isinstance(info.value, PropcareError)
    assert "=" in str(info.value) and ":" in str(info.value)
    assert _row_counts(app) == before


def test_a_unit_number_may_repeat_in_another_building(app: Propcare, admin: Actor) -> None:
    estate_id, building_id = _setup(app, admin)
    other = app.estates.add_building(admin, estate_id, "2栋")
    app.estates.add_unit(admin, building_id, "101", Decimal("80"))
    app.estates.add_unit(admin, other.id, "101", Decimal("80"))
    with pytest.raises(Conflict, match="unit number='101'"):
        app.estates.add_unit(admin, other.id, "101", Decimal("80"))
    with pytest.raises(Conflict):
        unit = app.estates.add_unit(admin, other.id, "102", Decimal("80"))
        app.estates.update_unit(admin, unit.id, number="101")


def test_ownership_changes_keep_history_and_refuse_rewrites(app: Propcare, admin: Actor) -> None:
    estate_id, building_id = _setup(app, admin)
    unit = app.estates.add_unit(admin, building_id, "1-101", Decimal("80"))
    a = app.owners.create(admin, estate_id, "甲")
    b = app.owners.create(admin, estate_id, "乙")
    app.owners.assign(admin, unit.id, a.id, date(2020, 1, 1))
    with pytest.raises(Conflict, match="already owns"):
        app.owners.assign(admin, unit.id, a.id, date(2021, 1, 1))
    with pytest.raises(ValidationError, match="start="):
        app.owners.assign(admin, unit.id, b.id, date(2019, 12, 31))
    app.owners.assign(admin, unit.id, b.id, date(2023, 3, 1))
    app.owners.assign(admin, unit.id, a.id, date(2024, 3, 1))  # bought it back
    history = app.owners.history(admin, unit.id)
    assert [(h.owner_id, h.end) for h in history] == [
        (a.id, date(2023, 3, 1)),
        (b.id, date(2024, 3, 1)),
        (a.id, None),
    ]
    # Consecutive ownerships meet exactly: no gap, no overlap.
    for earlier, later in itertools.pairwise(history):
        assert earlier.end == later.start


def test_owner_from_another_estate_cannot_be_assigned(app: Propcare, admin: Actor) -> None:
    _estate_id, building_id = _setup(app, admin)
    other = app.estates.create(admin, "别的小区")
    unit = app.estates.add_unit(admin, building_id, "1-101", Decimal("80"))
    stranger = app.owners.create(admin, other.id, "外人")
    with pytest.raises(ValidationError, match="owner_id"):
        app.owners.assign(admin, unit.id, stranger.id, date(2024, 1, 1))
    assert app.owners.history(admin, unit.id) == []


def test_roles_limit_what_staff_may_do(app: Propcare, admin: Actor) -> None:
    estate_id, _ = _setup(app, admin)
    owner = app.owners.create(admin, estate_id, "业主", ["13812345678"])
    tech = app.staff.create(admin, estate_id, "技工", ["technician"], date(2024, 1, 1))
    clerk = app.staff.create(admin, estate_id, "客服", ["front_desk"], date(2024, 1, 1))
    finance = app.staff.create(admin, estate_id, "出纳", ["finance"], date(2024, 1, 1))
    on = date(2026, 11, 2)
    as_tech = app.staff.actor_for(admin, tech.id, on)
    as_clerk = app.staff.actor_for(admin, clerk.id, on)
    as_finance = app.staff.actor_for(admin, finance.id, on)
    assert app.estates.units(as_tech, estate_id) == []
    with pytest.raises(PermissionDenied, match="owner.read"):
        app.owners.get(as_tech, owner.id)
    assert app.owners.get(as_clerk, owner.id) == owner
    with pytest.raises(PermissionDenied, match="owner.reveal_contact"):
        app.owners.contact(as_clerk, owner.id)
    assert app.owners.contact(as_finance, owner.id) == ("13812345678",)
    with pytest.raises(PermissionDenied, match="estate.write"):
        app.estates.add_building(as_clerk, estate_id, "2栋")
    with pytest.raises(ValidationError, match="only an actor of all estates"):
        app.estates.create(Actor("区域经理", {"admin"}, {estate_id}), "新小区")


def test_staff_inactive_on_a_date_cannot_act(app: Propcare, admin: Actor) -> None:
    estate_id, _ = _setup(app, admin)
    gone = app.staff.create(
        admin, estate_id, "离职", ["front_desk"], date(2020, 1, 1), active_to=date(2025, 1, 1)
    )
    with pytest.raises(ValidationError, match="not active"):
        app.staff.actor_for(admin, gone.id, date(2026, 1, 1))
    assert [s.name for s in app.staff.list(admin, estate_id, active_on=date(2026, 1, 1))] == []
    assert [s.name for s in app.staff.list(admin, estate_id, active_on=date(2024, 1, 1))] == [
        "离职"
    ]


def test_the_owner_archive_export_masks_contacts_unless_the_role_allows(
    app: Propcare, admin: Actor
) -> None:
    import io

    from propcare.registry.archive import write_archive_csv

    estate_id, building_id = _setup(app, admin)
    unit = app.estates.add_unit(admin, building_id, "1-101", Decimal("89.50"))
    app.estates.add_unit(admin, building_id, "1-102", Decimal("70"))  # no owner yet
    owner = app.owners.create(admin, estate_id, "张三", ["13812345678"], "11010519491231002X")
    app.owners.assign(admin, unit.id, owner.id, date(2020, 5, 1))
    clerk = Actor("客服", {"front_desk"}, {estate_id})

    out = io.StringIO()
    assert write_archive_csv(app.owners.archive(clerk, estate_id, date(2026, 1, 1)), out) == 2
    text = out.getvalue()
    assert text.splitlines()[0].startswith("楼栋,房号")
    assert "1栋,1-101,89.50,residential,,张三,138****5678,110105********002X,2020-05-01" in text
    assert "13812345678" not in text and "11010519491231002X" not in text
    assert "1栋,1-102,70,residential,,,,," in text
    # Before the owner moved in, the unit shows no owner.
    (before,) = [
        r for r in app.owners.archive(clerk, estate_id, date(2019, 1, 1)) if r.unit == "1-101"
    ]
    assert before.owner == ""

    with pytest.raises(PermissionDenied, match="owner.reveal_contact"):
        app.owners.archive(clerk, estate_id, date(2026, 1, 1), reveal_contacts=True)
    full = app.owners.archive(admin, estate_id, date(2026, 1, 1), reveal_contacts=True)
    assert full[0].phones == "13812345678" and full[0].id_card == "11010519491231002X"


def test_the_owner_archive_never_writes_a_name_as_a_formula(app: Propcare, admin: Actor) -> None:
    import csv
    import io

    from propcare.registry.archive import write_archive_csv

    hostile = '=HYPERLINK("http://x","y")'
    estate_id, building_id = _setup(app, admin)
    unit = app.estates.add_unit(admin, building_id, "-1-023", Decimal("12.50"))  # a basement
    owner = app.owners.create(admin, estate_id, hostile, ["+86 138 1234 5678"])
    app.owners.assign(admin, unit.id, owner.id, date(2020, 5, 1))

    out = io.StringIO()
    rows = app.owners.archive(admin, estate_id, date(2026, 1, 1), reveal_contacts=True)
    assert write_archive_csv(rows, out) == 1
    (_, row) = list(csv.reader(io.StringIO(out.getvalue())))
    # The name and the unit number a spreadsheet would compute are marked as text; the
    # stored phone (13812345678) and the area are written as they are.
    assert row[:3] == ["1栋", "'-1-023", "12.50"]
    assert row[5:7] == ["'" + hostile, "13812345678"]
