"""Deposits (装修押金): collected, held, inspected, refunded in full or with deductions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from propcare import Actor, FixedClock, InvalidTransition, NotFound, PermissionDenied, Propcare
from propcare.errors import ValidationError
from propcare.ledger.deposits import Deduction, DepositStatus

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=SH)
ADMIN = Actor.system()


@pytest.fixture
def w() -> Iterator[Any]:
    clock = FixedClock(T0)
    app = Propcare.open("sqlite://:memory:", load_entrypoints=False, clock=clock)
    estate = app.estates.create(ADMIN, "翠苑")
    building = app.estates.add_building(ADMIN, estate.id, "1栋")
    unit = app.estates.add_unit(ADMIN, building.id, "1-101", Decimal("120"))
    w = type("W", (), {})()
    w.app, w.clock, w.estate, w.unit = app, clock, estate.id, unit.id
    w.clerk = Actor("客服", {"front_desk"}, {estate.id})
    w.cashier = Actor("出纳", {"finance"}, {estate.id})
    yield w
    app.close()


def _balances(w: Any) -> dict[str, Decimal]:
    return w.app.ledger.trial_balance(ADMIN, w.estate)


def test_a_renovation_deposit_from_permit_to_refund_with_deductions(w: Any) -> None:
    d = w.app.deposits.collect(w.clerk, w.unit, Decimal("3000.00"))
    assert (d.status, d.amount, d.purpose) == (DepositStatus.HELD, Decimal("3000.00"), "renovation")
    assert _balances(w) == {"cash": Decimal("3000.00"), "deposits_held": Decimal("3000.00")}
    assert [r.number for r in w.app.ledger.receipts(ADMIN, w.estate, 2026)] == [1]
    w.clock.advance(days=60)
    d = w.app.deposits.inspect(w.clerk, d.id, passed=False, note="外立面擅自改动")
    assert (d.status, d.inspection_passed) == (DepositStatus.INSPECTED, False)
    deductions = [
        Deduction("公共走道损坏修复", Decimal("450.00")),
        Deduction("垃圾清运", Decimal("200")),
    ]
    d = w.app.deposits.refund(w.cashier, d.id, deductions=deductions)
    assert d.status is DepositStatus.REFUNDED and d.refunded_amount == Decimal("2350.00")
    assert _balances(w) == {
        "cash": Decimal("650.00"),
        "deposits_held": Decimal("0.00"),
        "revenue:deposit_deduction": Decimal("650.00"),
    }
    assert w.app.deposits.held(ADMIN, w.estate) == []


def test_states_are_enforced_and_nothing_is_written_on_refusal(w: Any) -> None:
    d = w.app.deposits.collect(w.clerk, w.unit, Decimal("1000"))
    with pytest.raises(InvalidTransition, match="cannot refund a held deposit"):
        w.app.deposits.refund(w.cashier, d.id)
    w.app.deposits.inspect(w.clerk, d.id, passed=True)
    with pytest.raises(InvalidTransition, match="cannot inspect"):
        w.app.deposits.inspect(w.clerk, d.id, passed=True)
    before = _balances(w)
    with pytest.raises(ValidationError, match="more than the deposit"):
        w.app.deposits.refund(w.cashier, d.id, deductions=[Deduction("赔偿", Decimal("1000.01"))])
    with pytest.raises(PermissionDenied, match="ledger.refund"):
        w.app.deposits.refund(w.clerk, d.id)  # the front desk takes deposits, finance pays out
    assert _balances(w) == before
    assert w.app.deposits.refund(w.cashier, d.id).refunded_amount == Decimal("1000.00")
    with pytest.raises(InvalidTransition):
        w.app.deposits.refund(w.cashier, d.id)


@pytest.mark.parametrize(
    ("amount", "error"),
    [(Decimal("0"), ValidationError), (Decimal("-5"), ValidationError), (300.0, TypeError)],
)
def test_bad_amounts_are_refused(w: Any, amount: Any, error: type) -> None:
    with pytest.raises(error):
        w.app.deposits.collect(w.clerk, w.unit, amount)
    assert _balances(w) == {}


def test_deductions_need_a_reason_and_a_positive_amount() -> None:
    with pytest.raises(ValidationError, match="reason"):
        Deduction(" ", Decimal("1"))
    with pytest.raises(ValidationError, match="more than zero"):
        Deduction("x", Decimal("0"))


def test_another_estate_sees_no_deposit(w: Any) -> None:
    d = w.app.deposits.collect(w.clerk, w.unit, Decimal("500"), at=T0 + timedelta(hours=1))
    other = w.app.estates.create(ADMIN, "别处")
    outsider = Actor("外人", {"admin"}, {other.id})
    with pytest.raises(NotFound):
        w.app.deposits.get(outsider, d.id)
    with pytest.raises(NotFound):
        w.app.deposits.collect(outsider, w.unit, Decimal("1"))
