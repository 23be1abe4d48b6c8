"""The input limits (issue 15, points 5 and 6): each call the issue found raising a raw
exception, or accepting and storing a value out of all reason, is now refused with a
ValidationError naming the field and the rule, and writes nothing. And the limits are
wide enough for what real estates give: the values beside them are accepted.

tests/test_fuzz_api.py calls every public method with hostile arguments; this module
holds the exact calls of the issue, one test each. The limits themselves are in
propcare.validators, propcare.money and propcare.clock (docs/explanation/security.md).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from propcare import Actor, FixedClock, Propcare, Recipient, UnitSpec
from propcare.errors import MoneyTypeError, ValidationError, shown
from propcare.ledger.gateways import PaymentNotice
from propcare.money import MAX_AMOUNT, exact, money, to_fen
from propcare.registry.contact import Phone
from propcare.registry.model import Unit
from propcare.validators import params, record_id, text
from test_isolation import T0, build_world

ADMIN = Actor.system()
FAR = datetime(9999, 12, 31, 23, 59, tzinfo=UTC)


@pytest.fixture
def world(app: Propcare) -> dict[str, Any]:
    records, _ = build_world(app, ADMIN)
    return records


def _tables(app: Propcare) -> dict[str, int]:
    with app.unit_of_work(readonly=True) as uow:
        conn = uow.connection  # type: ignore[attr-defined]
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {n: conn.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in names}


def refused(app: Propcare, call: Callable[[], object], field: str, rule: str) -> ValidationError:
    """``call()`` raises a ValidationError naming ``field`` (a prefix of it) with ``rule``
    in its message, and no table gains or loses a row."""
    before = _tables(app)
    with pytest.raises(ValidationError) as info:
        call()
    assert info.value.field.startswith(field), info.value
    assert rule in str(info.value), info.value
    assert _tables(app) == before
    return info.value


# --- point 5: raw exceptions from bad input --------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda a, r: a.estates.get_unit(ADMIN, 2**63),
        lambda a, r: a.estates.get(ADMIN, 2**63),
        lambda a, r: a.tickets.get(ADMIN, 2**64),
        lambda a, r: a.ledger.entry(ADMIN, 2**63),
        lambda a, r: a.payments.payment(ADMIN, 2**63),
        lambda a, r: a.staff.create(ADMIN, r["estate"], "张", ["front_desk"], date(2020, 1, 1),
                                    2**63),
        lambda a, r: a.tickets.assign(ADMIN, r["ticket"], staff_id=2**63),
        lambda a, r: a.outages.announce(
            ADMIN, r["estate"], kind="water", title="停水", starts_at=T0 + timedelta(days=2),
            ends_at=T0 + timedelta(days=2, hours=3), unit_ids=[2**63]),
    ],
    ids=["get_unit", "get", "ticket", "entry", "payment", "team_id", "assign", "unit_ids"],
)  # fmt: skip
def test_an_id_of_2_63_or_more_is_refused_not_an_overflow(
    app: Propcare, world: dict[str, Any], call: Callable[[Propcare, dict[str, Any]], object]
) -> None:
    refused(app, lambda: call(app, world), "", "2**63 - 1")


@pytest.mark.parametrize("value", [0, -1, True, "1"])
def test_ids_below_1_or_of_another_type_are_refused_before_any_lookup(
    app: Propcare, world: dict[str, Any], value: object
) -> None:
    error = refused(app, lambda: app.estates.get_unit(ADMIN, value), "unit_id", "")  # type: ignore[arg-type]
    assert "id" in error.rule


def test_a_count_of_2_63_is_refused_not_an_overflow(app: Propcare, world: dict[str, Any]) -> None:
    refused(
        app,
        lambda: app.commission.set_target(ADMIN, world["staff"], "2026-12", households=2**63),
        "households",
        "from 1 to 1,000,000",
    )
    refused(app, lambda: app.ledger.receipts(ADMIN, world["estate"], 2**63), "year", "2,099")


def test_amounts_of_1e17_yuan_are_refused_not_an_overflow(
    app: Propcare, world: dict[str, Any]
) -> None:
    refused(
        app,
        lambda: app.payments.pay_at_counter(ADMIN, world["unit"], Decimal("1e17"), "cash"),
        "amount",
        "at most 10,000,000,000 yuan",
    )


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda a, r: a.payments.pay_at_counter(ADMIN, r["unit"], Decimal("1e30"), "cash"),
         "amount"),
        (lambda a, r: a.payments.refund(ADMIN, r["payment"], Decimal("1e30"), "多收"), "amount"),
        (lambda a, r: a.tickets.charge(ADMIN, r["ticket"], "换灯泡", Decimal("1e30")),
         "unit_price"),
        (lambda a, r: a.billing.charge(ADMIN, r["unit"], "card", Decimal("1e30")), "amount"),
        (lambda a, r: a.deposits.collect(ADMIN, r["unit"], Decimal("1e30")), "amount"),
        (lambda a, r: a.commission.set_target(ADMIN, r["staff"], "2026-12",
                                              amount=Decimal("1e30")), "amount"),
    ],
    ids=["pay_at_counter", "refund", "tickets.charge", "billing.charge", "deposits.collect",
         "set_target"],
)  # fmt: skip
def test_decimal_1e30_is_refused_not_an_invalid_operation(
    app: Propcare,
    world: dict[str, Any],
    call: Callable[[Propcare, dict[str, Any]], object],
    field: str,
) -> None:
    refused(app, lambda: call(app, world), field, "at most 10,000,000,000 yuan")


def test_a_charge_whose_total_passes_the_maximum_is_refused(
    app: Propcare, world: dict[str, Any]
) -> None:
    refused(
        app,
        lambda: app.tickets.charge(ADMIN, world["ticket"], "水管", MAX_AMOUNT, Decimal(2)),
        "amount",
        "at most 10,000,000,000 yuan",
    )


def test_a_datetime_in_year_9999_is_refused_not_an_overflow(
    app: Propcare, world: dict[str, Any]
) -> None:
    refused(
        app,
        lambda: app.tickets.open(
            ADMIN, world["estate"], category="complaint", channel="phone", summary="噪音",
            location="大堂", first_contact_staff_id=world["staff"], at=FAR,
        ),
        "at",
        "from 1970-01-01 to 2100-01-01 UTC",
    )  # fmt: skip
    refused(
        app,
        lambda: app.outages.announce(
            ADMIN, world["estate"], kind="water", title="停水", starts_at=FAR,
            ends_at=FAR, unit_ids=[world["unit"]],
        ),
        "starts_at",
        "from 1970-01-01 to 2100-01-01 UTC",
    )  # fmt: skip


def test_a_plain_string_recipient_is_refused_not_an_attribute_error(
    app: Propcare, world: dict[str, Any]
) -> None:
    refused(
        app,
        lambda: app.notify.send(ADMIN, world["estate"], "log", "13812345678", "notice", {}),  # type: ignore[arg-type]
        "recipient",
        "must be a propcare.Recipient",
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda a, r: a.notify.send(
            ADMIN, r["estate"], "log", Recipient("业主", "13812345678"), "notice", "x"),
        lambda a, r: a.commission.add_plan(
            ADMIN, r["estate"], "提成", effective_from=date(2027, 1, 1), role="collector",
            params="x"),
    ],
    ids=["notify.send", "commission.add_plan"],
)  # fmt: skip
def test_params_that_are_not_a_mapping_are_refused_not_a_value_error(
    app: Propcare, world: dict[str, Any], call: Callable[[Propcare, dict[str, Any]], object]
) -> None:
    refused(app, lambda: call(app, world), "params", "must be a mapping")


def test_a_promised_day_not_written_yyyy_mm_dd_is_refused_not_a_value_error(
    app: Propcare, world: dict[str, Any]
) -> None:
    refused(
        app,
        lambda: app.tickets.dispatch(ADMIN, world["ticket"], "开发商工程部", promised="11月6日"),
        "promised",
        "YYYY-MM-DD",
    )
    ticket = app.tickets.dispatch(ADMIN, world["ticket"], "开发商工程部", promised="2026-11-06")
    assert ticket.state.outside[-1].promised == date(2026, 11, 6)


@pytest.mark.parametrize(
    "call",
    [
        lambda a, r, s: a.owners.create(ADMIN, r["estate"], s),
        lambda a, r, s: a.tickets.note(ADMIN, r["ticket"], s),
        lambda a, r, s: a.vendors.create(ADMIN, r["estate"], "保洁", contact_name=s),
        lambda a, r, s: a.payments.refund(ADMIN, r["payment"], Decimal(1), s),
        lambda a, r, s: a.collection.start_campaign(ADMIN, r["estate"], s),
    ],
    ids=["owner name", "note", "contact_name", "refund reason", "campaign title"],
)
def test_text_with_nul_is_refused(
    app: Propcare, world: dict[str, Any], call: Callable[[Propcare, dict[str, Any], str], object]
) -> None:
    """PostgreSQL refuses NUL in text; SQLite would store it and migrate-db then fail."""
    refused(app, lambda: call(app, world, "张\x00三"), "", "must not contain NUL characters")


def test_a_message_quotes_only_the_beginning_of_a_long_value(
    app: Propcare, world: dict[str, Any]
) -> None:
    error = refused(
        app, lambda: app.tickets.note(ADMIN, world["ticket"], "长" * 100_000), "text", "2,000"
    )
    assert len(str(error)) < 400
    assert "(100,000 characters)" in str(error)
    assert error.value == "长" * 100_000  # the whole value stays on the error for programs


def test_shown_cuts_long_text_bytes_and_reprs_and_keeps_short_ones() -> None:
    assert shown("短") == "'短'"
    assert shown(Decimal("-3")) == "Decimal('-3')"
    assert shown("x" * 1_000).endswith("... (1,000 characters)")
    assert shown(b"\x00" * 5_000).endswith("... (5,000 bytes)")
    assert len(shown(list(range(10_000)))) < 350


# --- point 6: values accepted and stored today -----------------------------------------------


@pytest.mark.parametrize(
    "area", [Decimal("1e30"), 2**63, Decimal("0.001"), Decimal("0.5"), Decimal("100000.01")]
)
def test_floor_areas_out_of_range_are_refused(
    app: Propcare, world: dict[str, Any], area: object
) -> None:
    refused(
        app,
        lambda: app.estates.add_unit(ADMIN, world["building"], "9-901", area),  # type: ignore[arg-type]
        "floor_area",
        "square metre",
    )
    refused(
        app,
        lambda: app.estates.update_unit(ADMIN, world["unit"], floor_area=area),
        "floor_area",
        "square metre",
    )


def test_floor_areas_real_units_have_are_kept(app: Propcare, world: dict[str, Any]) -> None:
    specs = [UnitSpec(f"L{i}", Decimal(a)) for i, a in enumerate(["1", "12.5", "89.5725",
                                                                    "100000"])]  # fmt: skip
    units = app.estates.add_units(ADMIN, world["building"], specs)
    assert [u.floor_area for u in units] == [s.floor_area for s in specs]


def test_a_payment_of_1e15_yuan_is_refused(app: Propcare, world: dict[str, Any]) -> None:
    refused(
        app,
        lambda: app.payments.pay_at_counter(ADMIN, world["unit"], Decimal("1e15"), "cash"),
        "amount",
        "at most 10,000,000,000 yuan",
    )


def test_the_largest_amount_is_accepted_and_stored_exactly(
    app: Propcare, world: dict[str, Any]
) -> None:
    result = app.payments.pay_at_counter(ADMIN, world["unit"], MAX_AMOUNT, "transfer")
    assert result.amount == MAX_AMOUNT
    assert app.payments.payment(ADMIN, result.payment_id).amount == MAX_AMOUNT


def test_a_payment_dated_years_ahead_opens_no_receipt_series(
    app: Propcare, world: dict[str, Any]
) -> None:
    refused(
        app,
        lambda: app.payments.pay_at_counter(
            ADMIN, world["unit"], Decimal(50), "cash", at=datetime(2031, 1, 1, 9, tzinfo=UTC)
        ),
        "at",
        "ahead of the clock",
    )
    assert app.ledger.receipts(ADMIN, world["estate"], 2031) == []
    notice = PaymentNotice(world["estate"], "counter", "2031", Decimal(50),
                           datetime(2031, 1, 1, tzinfo=UTC), unit_id=world["unit"])  # fmt: skip
    refused(app, lambda: app.payments.record(ADMIN, notice), "notice.paid_at", "ahead")


def test_money_a_day_ahead_of_the_clock_is_accepted(
    app: Propcare, world: dict[str, Any], clock: FixedClock
) -> None:
    """Clocks of tills drift: a payment keyed in a few hours ahead of the app is paid."""
    soon = clock.now() + timedelta(hours=23)
    result = app.payments.pay_at_counter(ADMIN, world["unit"], Decimal(5), "cash", at=soon)
    assert result.receipt is not None and result.receipt.issued_at == soon


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda a, r, at: a.deposits.collect(ADMIN, r["unit"], Decimal(3000), at=at), "at"),
        (lambda a, r, at: a.payments.refund(ADMIN, r["payment"], Decimal(1), "多收", at=at),
         "at"),
        (lambda a, r, at: a.payments.compensate(ADMIN, r["unit"], Decimal(1), "水淹",
                                                r["staff"], at=at), "at"),
        (lambda a, r, at: a.ledger.reverse(ADMIN, r["entry"], "错账", at=at), "at"),
        (lambda a, r, at: a.billing.assess_late_fees(ADMIN, r["estate"], at.date()), "as_of"),
    ],
    ids=["deposit", "refund", "compensation", "reversal", "late fees"],
)  # fmt: skip
def test_other_money_dated_years_ahead_is_refused(
    app: Propcare,
    world: dict[str, Any],
    call: Callable[[Propcare, dict[str, Any], datetime], object],
    field: str,
) -> None:
    ahead = datetime(2030, 1, 1, 9, tzinfo=UTC)
    refused(app, lambda: call(app, world, ahead), field, "ahead of")


def test_late_fees_as_of_years_ahead_post_nothing_today(
    app: Propcare, world: dict[str, Any]
) -> None:
    app.billing.set_late_fees(ADMIN, world["estate"], "0.0003")
    refused(
        app,
        lambda: app.billing.assess_late_fees(ADMIN, world["estate"], date(2030, 1, 1)),
        "as_of",
        "ahead of today (2026-11-02)",
    )
    report = app.billing.assess_late_fees(ADMIN, world["estate"], date(2026, 11, 3))
    assert report.as_of == date(2026, 11, 3)


def test_a_team_id_of_true_is_refused(app: Propcare, world: dict[str, Any]) -> None:
    refused(
        app,
        lambda: app.staff.create(
            ADMIN, world["estate"], "新员工", ["front_desk"], date(2026, 1, 1), True
        ),
        "team_id",
        "integer id",
    )


@pytest.mark.parametrize("role", ["", "no-such", 5])
def test_a_commission_plan_for_no_role_is_refused(
    app: Propcare, world: dict[str, Any], role: object
) -> None:
    refused(
        app,
        lambda: app.commission.add_plan(
            ADMIN, world["estate"], "提成", effective_from=date(2027, 1, 1), role=role,  # type: ignore[arg-type]
            params={"rates": {"current": "1"}},
        ),
        "role",
        "staff role",
    )  # fmt: skip


def test_a_contact_name_of_123_is_refused(app: Propcare, world: dict[str, Any]) -> None:
    refused(
        app,
        lambda: app.vendors.create(ADMIN, world["estate"], "保洁", contact_name=123),  # type: ignore[arg-type]
        "contact_name",
        "must be text",
    )


@pytest.mark.parametrize("field", ["location", "reporter_name"])
@pytest.mark.parametrize("value", [123, {"a": 1}, ["a"], None, b"a", "x" * 201])
def test_ticket_location_and_reporter_name_are_text(
    app: Propcare, world: dict[str, Any], field: str, value: object
) -> None:
    arguments = {"location": "大堂", field: value}
    refused(
        app,
        lambda: app.tickets.open(
            ADMIN, world["estate"], category="complaint", channel="phone", summary="噪音",
            first_contact_staff_id=world["staff"], **arguments,
        ),
        field,
        "",
    )  # fmt: skip


@pytest.mark.parametrize("number", ["123456", "99999999999", "12345678901", "+86 99999999999"])
def test_numbers_that_are_no_phone_are_refused(number: str) -> None:
    with pytest.raises(ValidationError, match="phone="):
        Phone(number)


@pytest.mark.parametrize(
    ("number", "stored"),
    [
        ("13812345678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("0571-8888 6666", "057188886666"),
        ("010-12345678", "01012345678"),
        ("87654321", "87654321"),
        ("400-820-8820", "4008208820"),
        ("+852 2345 6789", "+85223456789"),
    ],
)
def test_mobiles_landlines_and_service_numbers_are_accepted(number: str, stored: str) -> None:
    assert Phone(number).reveal() == stored


def test_owners_and_staff_with_a_non_phone_are_refused(
    app: Propcare, world: dict[str, Any]
) -> None:
    refused(app, lambda: app.owners.create(ADMIN, world["estate"], "李四", ["123456"]), "phone", "")
    refused(
        app,
        lambda: app.staff.create(
            ADMIN, world["estate"], "王五", ["front_desk"], date(2026, 1, 1),
            phone="99999999999",
        ),
        "phone",
        "",
    )  # fmt: skip


# --- the helpers -----------------------------------------------------------------------------


def test_money_limits_a_caller_amount_and_guards_a_computed_one() -> None:
    assert exact(MAX_AMOUNT) == MAX_AMOUNT
    with pytest.raises(ValidationError, match="at most 10,000,000,000 yuan"):
        exact(MAX_AMOUNT + Decimal("0.01"))
    # Computed amounts may pass the caller's maximum, up to what fen arithmetic holds.
    assert to_fen(money(MAX_AMOUNT * 3)) == 3 * 10**12
    with pytest.raises(ValidationError, match="at most 1,000,000,000,000,000 yuan"):
        money(Decimal("1e16"))
    with pytest.raises(MoneyTypeError):
        exact(1.5)  # type: ignore[arg-type]


def test_ids_text_and_params_helpers_name_the_rule() -> None:
    assert record_id("unit_id", 2**63 - 1) == 2**63 - 1
    with pytest.raises(ValidationError, match="from 1 to 2\\*\\*63 - 1"):
        record_id("unit_id", 2**63)
    assert text("note", "", required=False) == ""
    with pytest.raises(ValidationError, match="non-empty"):
        text("name", "  ")
    assert params("params", {"a": [1, "2", Decimal("3.5"), None, {"b": True}]})
    for bad in ({1: "x"}, {"a": float("nan")}, {"a": object()}, {"a": "x\x00"}):
        with pytest.raises(ValidationError):
            params("params", bad)


def test_a_unit_cannot_be_built_with_an_area_out_of_range() -> None:
    with pytest.raises(ValidationError, match="from 1 to 100,000 square metres"):
        Unit(estate_id=1, building_id=1, number="1", floor_area=Decimal("0.5"))  # type: ignore[arg-type]
