"""Refunds through a provider: recorded as payable and committed, then asked for.

The provider is asked outside the transaction, so a slow or failing provider never holds
the database and never leaves money paid out without a record. These tests use a file
database and look at it from a second connection while the provider is being asked.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from propcare import Actor, FixedClock, Propcare, UnitSpec
from propcare.errors import ConfigError, NotFound, PermissionDenied, ValidationError
from propcare.ledger.gateways import (
    PaymentIntent,
    PaymentNotice,
    PaymentRequest,
    RefundRequest,
    RefundResult,
)
from propcare.plugins.hookspecs import hookimpl
from propcare.plugins.records import PaymentGateway

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 5, 9, 0, tzinfo=SH)
ADMIN = Actor.system()


class Provider:
    """A scripted provider: each refund request takes the next answer from ``script``
    ("done", "pending" or "fail") and records what the database held at that moment."""

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.db = str(settings["db"])
        self.script: list[str] = []
        self.requests: list[RefundRequest] = []
        self.seen: list[tuple[int, str]] = []  # refund rows committed, their status

    def create_payment_request(self, request: PaymentRequest) -> PaymentIntent:
        return PaymentIntent("scripted", f"p-{request.order_id}", request.order_id, "pay://x")

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> PaymentNotice:
        raise ValidationError("body", body, "not used here")

    def request_refund(self, request: RefundRequest) -> RefundResult:
        self.requests.append(request)
        # A second connection writes while the provider is asked: it could not if the
        # refund's transaction still held the lock (busy timeout 0).
        other = sqlite3.connect(self.db, timeout=0)
        try:
            row = other.execute(
                "SELECT COUNT(*), MAX(status) FROM payment_refunds WHERE refund_no = ?",
                (request.refund_id,),
            ).fetchone()
            self.seen.append((int(row[0]), str(row[1])))
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
        finally:
            other.close()
        answer = self.script.pop(0) if self.script else "done"
        if answer == "fail":
            raise ConnectionError("provider unreachable")
        return RefundResult(f"prov-{request.refund_id}", answer)


class ProviderPlugin:
    @hookimpl
    def propcare_payment_gateways(self) -> list[PaymentGateway]:
        return [PaymentGateway("scripted", Provider)]


class World:
    def __init__(self, path: Path) -> None:
        self.clock = FixedClock(T0)
        self.app = Propcare.open(
            f"sqlite:///{path}",
            plugins=[ProviderPlugin()],
            load_entrypoints=False,
            clock=self.clock,
            config={"gateways": {"counter": {}, "scripted": {"db": path}}},
        )
        app = self.app
        estate = app.estates.create(ADMIN, "翠苑")
        self.estate = estate.id
        building = app.estates.add_building(ADMIN, estate.id, "1栋")
        (unit,) = app.estates.add_units(
            ADMIN, building.id, [UnitSpec("101", Decimal("100"), "residential", date(2020, 1, 1))]
        )
        self.unit = unit.id
        app.billing.add_fee_item(
            ADMIN, estate.id, "property_fee", "物业费", "area", rates={"residential": "2.50"}
        )
        app.billing.run(ADMIN, estate.id, "2026-11")  # 250.00
        self.provider = app.gateways["scripted"]
        assert isinstance(self.provider, Provider)
        paid = app.payments.record(
            ADMIN,
            PaymentNotice(self.estate, "scripted", "T-1", Decimal("300"), T0, unit_id=self.unit),
        )
        self.payment = paid.payment_id

    def balances(self) -> dict[str, Decimal]:
        return dict(self.app.ledger.trial_balance(ADMIN, self.estate))


@pytest.fixture
def w(tmp_path: Path) -> Iterator[World]:
    world = World(tmp_path / "refunds.db")
    yield world
    world.app.close()


def test_the_provider_is_asked_after_the_refund_is_committed(w: World) -> None:
    refund = w.app.payments.refund(ADMIN, w.payment, Decimal("80"), "多收退款")
    assert w.provider.seen == [(1, "requested")]  # committed, and the database was free
    assert refund.status == "paid" and refund.provider_refund_id == f"prov-{refund.refund_no}"
    assert refund.amount == Decimal("80.00") and refund.attempts == 1
    balances = w.balances()
    assert balances["gateway:scripted"] == Decimal("220.00")
    assert balances.get("refunds_payable", Decimal(0)) == Decimal(0)
    assert w.app.ledger.unit_balance(ADMIN, w.unit) == Decimal("30.00")


def test_a_failing_provider_leaves_the_refund_payable_until_a_retry(w: World) -> None:
    w.provider.script = ["fail", "fail"]
    refund = w.app.payments.refund(ADMIN, w.payment, Decimal("50"), "多收退款")
    assert refund.status == "requested" and "provider unreachable" in refund.error
    # The owner's ledger already shows the refund; the money is owed to them, not paid.
    assert w.app.ledger.unit_balance(ADMIN, w.unit) == Decimal("0.00")
    assert w.balances()["refunds_payable"] == Decimal("50.00")
    assert w.balances()["gateway:scripted"] == Decimal("300.00")
    (again,) = w.app.payments.retry_refunds(ADMIN, w.estate)
    assert again.status == "requested" and again.attempts == 2
    (paid,) = w.app.payments.retry_refunds(ADMIN, w.estate)
    assert paid.status == "paid" and paid.attempts == 3
    assert w.app.payments.retry_refunds(ADMIN, w.estate) == []
    assert {r.refund_id for r in w.provider.requests} == {refund.refund_no}  # one number
    assert w.balances()["gateway:scripted"] == Decimal("250.00")
    assert w.balances().get("refunds_payable", Decimal(0)) == Decimal(0)
    assert [r.status for r in w.app.payments.refunds(ADMIN, w.estate)] == ["paid"]


def test_a_pending_refund_is_paid_when_confirmed_once(w: World) -> None:
    w.provider.script = ["pending"]
    refund = w.app.payments.refund(ADMIN, w.payment, Decimal("50"), "多收退款")
    assert refund.status == "pending"
    assert w.app.payments.retry_refunds(ADMIN, w.estate) == []  # accepted: not asked again
    assert [r.id for r in w.app.payments.refunds(ADMIN, w.estate, status="pending")] == [refund.id]
    with pytest.raises(PermissionDenied):
        w.app.payments.confirm_refund(Actor("前台", ["front_desk"], [w.estate]), refund.id)
    for _ in range(3):
        confirmed = w.app.payments.confirm_refund(ADMIN, refund.id)
        assert confirmed.status == "paid"
    assert w.balances()["gateway:scripted"] == Decimal("250.00")
    assert w.balances().get("refunds_payable", Decimal(0)) == Decimal(0)
    assert len(w.provider.requests) == 1


def test_a_retried_call_with_the_same_refund_id_refunds_once(w: World) -> None:
    w.provider.script = ["fail"]
    first = w.app.payments.refund(ADMIN, w.payment, Decimal("50"), "退款", refund_id="R-1")
    assert first.status == "requested"
    second = w.app.payments.refund(ADMIN, w.payment, Decimal("50"), "退款", refund_id="R-1")
    assert second.id == first.id and second.status == "paid"
    assert [r.refund_id for r in w.provider.requests] == ["R-1", "R-1"]
    assert w.app.ledger.unit_balance(ADMIN, w.unit) == Decimal("0.00")  # 50 back, once


def test_bad_refund_input_writes_nothing(w: World) -> None:
    before = w.balances()
    with pytest.raises(ValidationError, match="exceeds what is left"):
        w.app.payments.refund(ADMIN, w.payment, Decimal("300.01"), "退款")
    with pytest.raises(ValidationError, match="status"):
        w.app.payments.refunds(ADMIN, w.estate, status="done")
    with pytest.raises(NotFound):
        w.app.payments.confirm_refund(ADMIN, 999)
    assert w.balances() == before and w.provider.requests == []


def test_an_unconfigured_provider_refuses_before_anything_is_written(tmp_path: Path) -> None:
    world = World(tmp_path / "a.db")
    world.app.close()
    app = Propcare.open(f"sqlite:///{tmp_path / 'a.db'}", load_entrypoints=False)
    with app:
        with pytest.raises(ConfigError, match="scripted"):
            app.payments.refund(ADMIN, world.payment, Decimal("10"), "退款")
        assert app.payments.refunds(ADMIN, world.estate) == []
        assert app.ledger.unit_balance(ADMIN, world.unit) == Decimal("-50.00")
