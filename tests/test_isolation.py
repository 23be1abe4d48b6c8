"""Estate isolation: an actor of estate B never sees or changes estate A, in any service."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from propcare import Actor, NotFound, Propcare, Recipient, UnitSpec
from propcare.appraisal.kpi import Band, Kpi
from propcare.ledger.gateways import PaymentNotice
from propcare.service import Service
from propcare.tickets.model import Action, TicketEvent

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))

PERIOD = (datetime(2020, 1, 1, tzinfo=UTC), datetime(2031, 1, 1, tzinfo=UTC))

# Every public method of every service, called by B's manager on A's records.
Call = Callable[[Propcare, Actor, dict[str, Any]], object]
CARD_KPIS = [Kpi("training_score", Decimal(100), {"kind": "threshold", "target": "60"})]
CARD_BANDS = [Band("B", Decimal(0), Decimal(60)), Band("A", Decimal(60), Decimal(100))]

CALLS: dict[str, Call] = {
    "estates.create": lambda a, x, r: a.estates.create(x, "越权小区"),
    "estates.get": lambda a, x, r: a.estates.get(x, r["estate"]),
    "estates.list": lambda a, x, r: a.estates.list(x),
    "estates.update": lambda a, x, r: a.estates.update(x, r["estate"], name="改名"),
    "estates.add_building": lambda a, x, r: a.estates.add_building(x, r["estate"], "9栋"),
    "estates.get_building": lambda a, x, r: a.estates.get_building(x, r["building"]),
    "estates.buildings": lambda a, x, r: a.estates.buildings(x, r["estate"]),
    "estates.update_building": lambda a, x, r: a.estates.update_building(
        x, r["building"], name="改"
    ),
    "estates.add_unit": lambda a, x, r: a.estates.add_unit(x, r["building"], "9", Decimal(9)),
    "estates.add_units": lambda a, x, r: a.estates.add_units(
        x, r["building"], [UnitSpec("9", Decimal(9))]
    ),
    "estates.get_unit": lambda a, x, r: a.estates.get_unit(x, r["unit"]),
    "estates.units": lambda a, x, r: a.estates.units(x, r["estate"]),
    "estates.update_unit": lambda a, x, r: a.estates.update_unit(x, r["unit"], number="9"),
    "estates.import_archive": lambda a, x, r: a.estates.import_archive(
        x, r["estate"], [{"楼栋": "9栋", "房号": "9", "建筑面积(㎡)": "9"}]
    ),
    "owners.create": lambda a, x, r: a.owners.create(x, r["estate"], "越权"),
    "owners.get": lambda a, x, r: a.owners.get(x, r["owner"]),
    "owners.list": lambda a, x, r: a.owners.list(x, r["estate"]),
    "owners.update": lambda a, x, r: a.owners.update(x, r["owner"], name="改"),
    "owners.contact": lambda a, x, r: a.owners.contact(x, r["owner"]),
    "owners.reveals": lambda a, x, r: a.owners.reveals(x, r["estate"], owner_id=r["owner"]),
    "owners.archive": lambda a, x, r: a.owners.archive(x, r["estate"], date(2026, 1, 1)),
    "owners.assign": lambda a, x, r: a.owners.assign(x, r["unit"], r["owner"], date(2030, 1, 1)),
    "owners.owner_of": lambda a, x, r: a.owners.owner_of(x, r["unit"], date(2025, 1, 1)),
    "owners.history": lambda a, x, r: a.owners.history(x, r["unit"]),
    "staff.create_team": lambda a, x, r: a.staff.create_team(
        x, r["estate"], "越权组", leader_staff_id=r["staff"]
    ),
    "staff.get_team": lambda a, x, r: a.staff.get_team(x, r["team"]),
    "staff.teams": lambda a, x, r: a.staff.teams(x, r["estate"]),
    "staff.update_team": lambda a, x, r: a.staff.update_team(
        x, r["team"], name="改", leader_staff_id=r["staff"]
    ),
    "staff.create": lambda a, x, r: a.staff.create(x, r["estate"], "越权", ["admin"], date.today()),
    "staff.get": lambda a, x, r: a.staff.get(x, r["staff"]),
    "staff.list": lambda a, x, r: a.staff.list(x, r["estate"]),
    "staff.update": lambda a, x, r: a.staff.update(x, r["staff"], roles={"admin"}),
    "staff.actor_for": lambda a, x, r: a.staff.actor_for(x, r["staff"], date(2026, 1, 1)),
    "staff.grants": lambda a, x, r: a.staff.grants(x, r["estate"]),
    "vendors.create": lambda a, x, r: a.vendors.create(x, r["estate"], "越权保洁"),
    "vendors.get": lambda a, x, r: a.vendors.get(x, r["vendor"]),
    "vendors.list": lambda a, x, r: a.vendors.list(x, r["estate"]),
    "vendors.update": lambda a, x, r: a.vendors.update(x, r["vendor"], name="改"),
    "notify.send": lambda a, x, r: a.notify.send(
        x, r["estate"], "log", Recipient("业主", "13812345678"), "notice", {}
    ),
    "notify.failed": lambda a, x, r: a.notify.failed(x, r["estate"]),
    "notify.requeue": lambda a, x, r: a.notify.requeue(x, r["estate"], all_failed=True),
    "tickets.open": lambda a, x, r: a.tickets.open(
        x,
        r["estate"],
        category="complaint",
        channel="phone",
        summary="越权",
        location="大堂",
        first_contact_staff_id=r["staff"],
    ),
    "tickets.open_in": None,  # takes a unit of work (used by plans that generate tickets)
    "tickets.get": lambda a, x, r: a.tickets.get(x, r["ticket"]),
    "tickets.history": lambda a, x, r: a.tickets.history(x, r["ticket"]),
    "tickets.open_tickets": lambda a, x, r: a.tickets.open_tickets(x, r["estate"]),
    "tickets.assign": lambda a, x, r: a.tickets.assign(x, r["ticket"], staff_id=r["staff"]),
    "tickets.start": lambda a, x, r: a.tickets.start(x, r["ticket"]),
    "tickets.arrive": lambda a, x, r: a.tickets.arrive(x, r["ticket"]),
    "tickets.pause": lambda a, x, r: a.tickets.pause(x, r["ticket"], "越权"),
    "tickets.resume": lambda a, x, r: a.tickets.resume(x, r["ticket"]),
    "tickets.dispatch": lambda a, x, r: a.tickets.dispatch(x, r["ticket"], "外包"),
    "tickets.outside_done": lambda a, x, r: a.tickets.outside_done(
        x, r["ticket"], order=1, party="开发商工程部"
    ),
    "tickets.resolve": lambda a, x, r: a.tickets.resolve(x, r["ticket"]),
    "tickets.rate": lambda a, x, r: a.tickets.rate(x, r["ticket"], "satisfied"),
    "tickets.callback": lambda a, x, r: a.tickets.callback(
        x, r["ticket"], satisfaction="satisfied"
    ),
    "tickets.reporter_contact": lambda a, x, r: a.tickets.reporter_contact(x, r["ticket"]),
    "tickets.close": lambda a, x, r: a.tickets.close(x, r["ticket"]),
    "tickets.cancel": lambda a, x, r: a.tickets.cancel(x, r["ticket"], "越权"),
    "tickets.note": lambda a, x, r: a.tickets.note(x, r["ticket"], "越权"),
    "tickets.charge": lambda a, x, r: a.tickets.charge(x, r["ticket"], "越权", Decimal(1)),
    "tickets.recompute": lambda a, x, r: a.tickets.recompute(x, r["estate"]),
    "tickets.check_sla": lambda a, x, r: a.tickets.check_sla(x, r["estate"]),
    "tickets.holiday_gaps": lambda a, x, r: a.tickets.holiday_gaps(x, r["estate"]),
    "tickets.verify": lambda a, x, r: a.tickets.verify(x, r["estate"]),
    "tickets.import_history": lambda a, x, r: a.tickets.import_history(
        x,
        r["estate"],
        [
            [
                TicketEvent(
                    1,
                    Action.OPEN,
                    datetime(2026, 1, 5, 9, tzinfo=UTC),
                    "越权",
                    None,
                    {
                        "category": "complaint",
                        "channel": "phone",
                        "summary": "越权导入",
                        "location": "大堂",
                        "estate_id": r["estate"],
                        "first_contact_staff_id": r["staff"],
                    },
                )
            ]
        ],
    ),
    "ticket_stats.metrics": lambda a, x, r: a.ticket_stats.metrics(x, r["estate"], *PERIOD),
    "outages.announce": lambda a, x, r: a.outages.announce(
        x,
        r["estate"],
        kind="water",
        title="越权停水",
        starts_at=datetime(2030, 1, 2, 9, tzinfo=UTC),
        ends_at=datetime(2030, 1, 2, 12, tzinfo=UTC),
        unit_ids=[r["unit"]],
    ),
    "outages.list": lambda a, x, r: a.outages.list(x, r["estate"], *PERIOD),
    "outages.late_count": lambda a, x, r: a.outages.late_count(x, r["estate"], *PERIOD),
    "maintenance.create_plan": lambda a, x, r: a.maintenance.create_plan(
        x,
        r["estate"],
        title="越权保养",
        rule="FREQ=MONTHLY",
        dtstart=datetime(2030, 1, 1, tzinfo=UTC),
        location="泵房",
        first_contact_staff_id=r["staff"],
    ),
    "maintenance.plans": lambda a, x, r: a.maintenance.plans(x, r["estate"]),
    "maintenance.deactivate": lambda a, x, r: a.maintenance.deactivate(x, r["plan"]),
    "maintenance.generate": lambda a, x, r: a.maintenance.generate(x, r["estate"], *PERIOD),
    "maintenance.run": lambda a, x, r: a.maintenance.run(x, r["estate"], *PERIOD),
    "ledger.post_in": None,  # takes a unit of work (billing and payments post through it)
    "ledger.issue_receipt_in": None,  # takes a unit of work
    "ledger.release_in": None,  # takes a unit of work (reversals and corrections call it)
    "ledger.entry": lambda a, x, r: a.ledger.entry(x, r["entry"]),
    "ledger.reverse": lambda a, x, r: a.ledger.reverse(x, r["entry"], "越权"),
    "ledger.unit_balance": lambda a, x, r: a.ledger.unit_balance(x, r["unit"]),
    "ledger.open_receivables": lambda a, x, r: a.ledger.open_receivables(x, r["unit"]),
    "ledger.trial_balance": lambda a, x, r: a.ledger.trial_balance(x, r["estate"]),
    "ledger.receipts": lambda a, x, r: a.ledger.receipts(x, r["estate"], 2026),
    "ledger.void_receipt": lambda a, x, r: a.ledger.void_receipt(x, r["estate"], 2026, 1, "越权"),
    "billing.add_fee_item": lambda a, x, r: a.billing.add_fee_item(
        x, r["estate"], "iso", "越权", "fixed", amount=Decimal(1)
    ),
    "billing.fee_items": lambda a, x, r: a.billing.fee_items(x, r["estate"]),
    "billing.update_fee_item": lambda a, x, r: a.billing.update_fee_item(
        x, r["estate"], "iso", name="越权"
    ),
    "billing.assignments": lambda a, x, r: a.billing.assignments(x, r["unit"]),
    "billing.end_assignment": lambda a, x, r: a.billing.end_assignment(
        x, r["unit"], "iso", date(2026, 6, 1)
    ),
    "billing.assign": lambda a, x, r: a.billing.assign(x, r["unit"], "iso", date(2026, 1, 1)),
    "billing.charge": lambda a, x, r: a.billing.charge(x, r["unit"], "iso", Decimal(20)),
    "billing.bills": lambda a, x, r: a.billing.bills(x, r["unit"]),
    "billing.late_fees": lambda a, x, r: a.billing.late_fees(x, r["unit"]),
    "billing.correct": lambda a, x, r: a.billing.correct(x, r["unit"], "2026-11", "面积录错"),
    "billing.run": lambda a, x, r: a.billing.run(x, r["estate"], "2026-11"),
    "billing.set_late_fees": lambda a, x, r: a.billing.set_late_fees(x, r["estate"], "0.0003"),
    "billing.assess_late_fees": lambda a, x, r: a.billing.assess_late_fees(
        x, r["estate"], date(2026, 12, 31)
    ),
    "billing.waive_late_fee": lambda a, x, r: a.billing.waive_late_fee(x, r["entry"], "越权"),
    "deposits.collect": lambda a, x, r: a.deposits.collect(x, r["unit"], Decimal("100")),
    "deposits.inspect": lambda a, x, r: a.deposits.inspect(x, r["deposit"], passed=True),
    "deposits.refund": lambda a, x, r: a.deposits.refund(x, r["deposit"]),
    "deposits.get": lambda a, x, r: a.deposits.get(x, r["deposit"]),
    "deposits.held": lambda a, x, r: a.deposits.held(x, r["estate"]),
    "payments.pay_at_counter": lambda a, x, r: a.payments.pay_at_counter(
        x, r["unit"], Decimal(1), "cash"
    ),
    "payments.record": lambda a, x, r: a.payments.record(
        x, PaymentNotice(r["estate"], "counter", "越权", Decimal(1), T0, unit_id=r["unit"])
    ),
    "payments.handle_notification": lambda a, x, r: a.payments.handle_notification(
        x,
        "counter",
        {},
        b'{"estate_id": %d, "txn_id": "x", "amount": "1", "paid_at": "2026-11-02T09:00:00+08:00"}'
        % r["estate"],
    ),
    "payments.request_payment": lambda a, x, r: a.payments.request_payment(
        x, r["unit"], Decimal(1), "counter"
    ),
    "payments.payment": lambda a, x, r: a.payments.payment(x, r["payment"]),
    "payments.suspense": lambda a, x, r: a.payments.suspense(x, r["estate"]),
    "payments.anomalies": lambda a, x, r: a.payments.anomalies(x, r["estate"]),
    "payments.resolve_suspense": lambda a, x, r: a.payments.resolve_suspense(
        x, r["suspended"], r["unit"]
    ),
    "payments.refund": lambda a, x, r: a.payments.refund(x, r["payment"], Decimal(1), "越权"),
    "payments.reverse": lambda a, x, r: a.payments.reverse(x, r["payment"], "越权"),
    "payments.refunds": lambda a, x, r: a.payments.refunds(x, r["estate"]),
    "payments.compensations": lambda a, x, r: a.payments.compensations(x, r["estate"]),
    "payments.retry_refunds": lambda a, x, r: a.payments.retry_refunds(x, r["estate"]),
    "payments.confirm_refund": lambda a, x, r: a.payments.confirm_refund(x, r["refund"]),
    "payments.apply_credit": lambda a, x, r: a.payments.apply_credit(x, r["unit"]),
    "payments.apply_credit_in": None,  # takes a unit of work (billing calls it after a run)
    "payments.compensate": lambda a, x, r: a.payments.compensate(
        x, r["unit"], Decimal(1), "越权", r["staff"]
    ),
    "collection.quiet_hours": None,  # reads configuration, no estate data
    "collection.assign_collector": lambda a, x, r: a.collection.assign_collector(
        x, r["estate"], r["staff"], start=date(2026, 1, 1), unit_id=r["unit"]
    ),
    "collection.collector_of": lambda a, x, r: a.collection.collector_of(
        x, r["unit"], date(2026, 1, 1)
    ),
    "collection.start_campaign": lambda a, x, r: a.collection.start_campaign(
        x, r["estate"], "越权"
    ),
    "collection.log_attempt": lambda a, x, r: a.collection.log_attempt(
        x, r["unit"], "phone", "refused"
    ),
    "collection.send_sms": lambda a, x, r: a.collection.send_sms(x, r["unit"], Decimal("1")),
    "collection.attempts": lambda a, x, r: a.collection.attempts(x, r["unit"]),
    "commission.plan_types": None,  # the plugins' plan types, no estate data
    "commission.add_plan": lambda a, x, r: a.commission.add_plan(
        x,
        r["estate"],
        "越权",
        effective_from=date(2027, 1, 1),
        role="collector",
        params={"rates": {"current": "1"}},
    ),
    "commission.correct_plan": lambda a, x, r: a.commission.correct_plan(
        x, r["commission_plan"], reason="越权", params={"rates": {"current": "9"}}
    ),
    "commission.plans": lambda a, x, r: a.commission.plans(x, r["estate"]),
    "commission.set_target": lambda a, x, r: a.commission.set_target(
        x, r["staff"], "2026-12", amount=Decimal(1)
    ),
    "commission.targets": lambda a, x, r: a.commission.targets(x, r["estate"], "2026-10"),
    "commission.split": lambda a, x, r: a.commission.split(
        x, r["estate"], {r["staff"]: Decimal(100)}, date(2027, 1, 1), unit_id=r["unit"]
    ),
    "commission.splits": lambda a, x, r: a.commission.splits(x, r["estate"]),
    "commission.settle": lambda a, x, r: a.commission.settle(x, r["estate"], "2026-10"),
    "commission.statements": lambda a, x, r: a.commission.statements(x, r["estate"]),
    "commission.statement": lambda a, x, r: a.commission.statement(x, r["statement"]),
    "commission.statement_csv": lambda a, x, r: a.commission.statement_csv(x, r["statement"]),
    "appraisal.metric_names": None,  # built-in and plugin metric names, no estate data
    "appraisal.add_scorecard": lambda a, x, r: a.appraisal.add_scorecard(
        x,
        r["estate"],
        "front_desk",
        effective_from=date(2027, 1, 1),
        kpis=CARD_KPIS,
        bands=CARD_BANDS,
    ),
    "appraisal.scorecards": lambda a, x, r: a.appraisal.scorecards(x, r["estate"]),
    "appraisal.record_inspection": lambda a, x, r: a.appraisal.record_inspection(
        x, "2026-11", "supervisor", staff_id=r["staff"]
    ),
    "appraisal.record_training": lambda a, x, r: a.appraisal.record_training(
        x, r["staff"], "2026-11", Decimal(90)
    ),
    "appraisal.record_discipline": lambda a, x, r: a.appraisal.record_discipline(
        x, r["staff"], "2026-11", Decimal(1), "越权"
    ),
    "appraisal.record_commendation": lambda a, x, r: a.appraisal.record_commendation(
        x, r["staff"], "2026-11", Decimal(1), "越权"
    ),
    "appraisal.record_adjustment": lambda a, x, r: a.appraisal.record_adjustment(
        x, r["staff"], "2026-11", Decimal(1), "越权", corrects_period="2026-10"
    ),
    "appraisal.inputs": lambda a, x, r: a.appraisal.inputs(x, r["estate"], "2026-11"),
    "appraisal.appraise": lambda a, x, r: a.appraisal.appraise(x, r["estate"], "2026-10"),
    "appraisal.close": lambda a, x, r: a.appraisal.close(x, r["estate"], "2026-10"),
    "appraisal.results": lambda a, x, r: a.appraisal.results(x, r["estate"], "2026-10"),
    "appraisal.vendor_deductions": lambda a, x, r: a.appraisal.vendor_deductions(
        x, r["estate"], "2026-10"
    ),
    "appraisal.aggregate": lambda a, x, r: a.appraisal.aggregate(x, r["estate"], "2026-Q4"),
    "arrears.roster": lambda a, x, r: a.arrears.roster(x, r["estate"]),
    # Checked when called, before any line is read: no need to iterate.
    "arrears.iter_roster": lambda a, x, r: a.arrears.iter_roster(x, r["estate"]),
    "arrears.aging": lambda a, x, r: a.arrears.aging(x, r["estate"]),
    "arrears.collection_rate": lambda a, x, r: a.arrears.collection_rate(x, r["estate"], "2026-11"),
    "arrears.recovery": lambda a, x, r: a.arrears.recovery(x, r["estate"], *PERIOD),
    "notify.queue": None,  # type: ignore[dict-item]  # takes a unit of work, not an actor
}

# Calls that legitimately answer without raising: they show B only B's own records.
ANSWERS_WITH_OWN_RECORDS = {"estates.list"}


def _services(app: Propcare) -> dict[str, Service]:
    return {name: svc for name, svc in vars(app).items() if isinstance(svc, Service)}


def _dump(app: Propcare) -> dict[str, list[tuple[Any, ...]]]:
    app.dispatch_idle()  # deliveries queued earlier are made before the tables are read
    with app.unit_of_work(readonly=True) as uow:
        conn = uow.connection  # type: ignore[attr-defined]
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: [tuple(r) for r in conn.execute(f"SELECT * FROM {t}")] for t in tables}


@pytest.fixture
def world(app: Propcare, admin: Actor) -> tuple[dict[str, Any], Actor]:
    return build_world(app, admin)


def build_world(app: Propcare, admin: Actor) -> tuple[dict[str, Any], Actor]:
    """Estates A and B, with one record of every kind in A (their ids in the dict
    returned, by kind) and B's manager. tests/test_fuzz_api.py builds on it too."""
    a = app.estates.create(admin, "A苑")
    b = app.estates.create(admin, "B苑")
    building = app.estates.add_building(admin, a.id, "1栋")
    unit = app.estates.add_unit(admin, building.id, "1-101", Decimal("80"))
    owner = app.owners.create(admin, a.id, "A业主", ["13812345678"])
    app.owners.assign(admin, unit.id, owner.id, date(2020, 1, 1))
    team = app.staff.create_team(admin, a.id, "A客服", "front_desk")
    staff = app.staff.create(admin, a.id, "A员工", ["front_desk"], date(2020, 1, 1), team.id)
    vendor = app.vendors.create(admin, a.id, "A保洁")
    ticket = app.tickets.open(
        admin,
        a.id,
        category="home_repair",
        channel="phone",
        summary="漏水",
        unit_id=unit.id,
        first_contact_staff_id=staff.id,
    )
    plan = app.maintenance.create_plan(
        admin,
        a.id,
        title="水泵月保养",
        rule="FREQ=MONTHLY;BYMONTHDAY=1",
        dtstart=datetime(2026, 1, 1, 9, tzinfo=UTC),
        location="泵房",
        team_id=team.id,
        first_contact_staff_id=staff.id,
    )
    from propcare.ledger.journal import JournalEntry, Posting

    with app.unit_of_work() as uow:
        bill = JournalEntry(
            estate_id=a.id,
            kind="bill",
            at=T0,
            key="isolation-bill",
            actor="system",
            postings=(
                Posting("receivable", 10000, unit.id, "property_fee", "2026-11"),
                Posting("revenue", -10000, sub="property_fee"),
            ),
        )
        entry_id, _ = app.ledger.post_in(uow, bill)
        app.ledger.issue_receipt_in(uow, a.id, entry_id, T0)
        uow.commit()
    deposit = app.deposits.collect(admin, unit.id, Decimal("3000"), at=T0)
    payment = app.payments.pay_at_counter(admin, unit.id, Decimal("50"), "cash", at=T0)
    refund = app.payments.refund(admin, payment.payment_id, Decimal("1"), "多收", at=T0)
    suspended = app.payments.record(
        admin,
        PaymentNotice(a.id, "counter", "isolation-suspense", Decimal("5"), T0, method="cash"),
    )
    commission_plan = app.commission.add_plan(
        admin, a.id, "提成", effective_from=date(2026, 10, 1), staff_id=staff.id,
        params={"rates": {"current": "1"}},
    )  # fmt: skip
    app.commission.set_target(admin, staff.id, "2026-10", amount=Decimal(1000))
    (statement,) = app.commission.settle(admin, a.id, "2026-10").statements
    app.appraisal.add_scorecard(
        admin,
        a.id,
        "front_desk",
        effective_from=date(2026, 10, 1),
        kpis=CARD_KPIS,
        bands=CARD_BANDS,
    )
    app.appraisal.close(admin, a.id, "2026-10")
    b_manager = Actor("B经理", {"manager", "admin"}, {b.id})
    records = {
        "estate": a.id,
        "building": building.id,
        "unit": unit.id,
        "owner": owner.id,
        "team": team.id,
        "staff": staff.id,
        "vendor": vendor.id,
        "ticket": ticket.id,
        "entry": entry_id,
        "deposit": deposit.id,
        "payment": payment.payment_id,
        "suspended": suspended.payment_id,
        "refund": refund.id,
        "commission_plan": commission_plan.id,
        "statement": statement.id,
        "plan": plan.id,
        "b": b.id,
    }
    return records, b_manager


def test_the_table_covers_every_public_service_method(app: Propcare) -> None:
    public = {
        f"{attr}.{name}"
        for attr, svc in _services(app).items()
        for name, _ in inspect.getmembers(svc, inspect.ismethod)
        if not name.startswith("_")
    }
    assert public == set(CALLS), "add the new service methods to CALLS"


@pytest.mark.parametrize("name", sorted(n for n, c in CALLS.items() if c is not None))
def test_an_actor_of_another_estate_sees_and_changes_nothing(
    app: Propcare, world: tuple[dict[str, Any], Actor], name: str
) -> None:
    records, outsider = world
    before = _dump(app)
    if name in ANSWERS_WITH_OWN_RECORDS:
        result = CALLS[name](app, outsider, records)
        assert [e.id for e in result] == [records["b"]]  # type: ignore[attr-defined]
    elif name == "estates.create":
        # B's manager is scoped to B: creating estates is for all-estate administrators.
        with pytest.raises(Exception) as info:
            CALLS[name](app, outsider, records)
        assert "all estates" in str(info.value)
    else:
        with pytest.raises(NotFound) as info:
            CALLS[name](app, outsider, records)
        assert "B经理" in str(info.value)
    assert _dump(app) == before


def test_the_same_calls_work_for_estate_a_itself(
    app: Propcare, world: tuple[dict[str, Any], Actor]
) -> None:
    records, _ = world
    insider = Actor("A经理", {"admin"}, {records["estate"]})
    for name in ("estates.get", "owners.get", "staff.get", "vendors.get", "estates.units"):
        assert CALLS[name](app, insider, records)
