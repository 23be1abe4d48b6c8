"""The storage contract: what every storage backend must do, as pytest tests.

A backend runs it by subclassing and providing a fresh, empty database per test::

    from propcare.testing.contract import StorageContract

    class TestMyBackend(StorageContract):
        persistent = True          # False for in-memory databases

        @pytest.fixture
        def storage_url(self, tmp_path):
            return f"sqlite:///{tmp_path / 'contract.db'}"

The tests go through ``Propcare.open(storage_url)`` and the services, so they
check the backend the way the library uses it, not only its repositories. A backend
that is not SQLite also overrides ``short_lock_timeout`` (make it give up waiting for
a lock within a fraction of a second) and ``add_foreign_table`` (create another
program's table in the fresh database), for the storage-fault tests.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import cast
from zoneinfo import ZoneInfo

import pytest

from propcare.access import Actor
from propcare.app import Propcare
from propcare.clock import FixedClock
from propcare.errors import (
    Conflict,
    DatabaseLocked,
    ForeignDatabase,
    NotFound,
    PermissionDenied,
    PropcareError,
    StorageError,
)
from propcare.ledger.arrears import ArrearsLine
from propcare.ledger.gateways import CounterClient, PaymentNotice
from propcare.notify.outbox import NewMessage
from propcare.plugins.hookspecs import hookimpl
from propcare.plugins.records import EventSubscriber, PaymentGateway
from propcare.registry.model import Estate, EstateId, Owner, StaffId, UnitId
from propcare.registry.service import UnitSpec
from propcare.storage.ports import UnitOfWork
from propcare.storage.sql import SqlSession
from propcare.storage.sqlite_values import ts
from propcare.testing.fakes import RecordingSubscriber
from propcare.tickets.model import Action, TicketEvent
from propcare.tickets.record import TicketVerification

__all__ = ["StorageContract"]

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 11, 2, 9, 30, tzinfo=SHANGHAI)
ADMIN = Actor.system()


class StorageContract:
    """Subclass in a ``Test*`` class and provide the ``storage_url`` fixture."""

    persistent: bool = True

    @pytest.fixture
    def storage_url(self) -> str:
        pytest.fail(
            f"{type(self).__name__} must override the storage_url fixture with the URL "
            "of a fresh, empty database"
        )

    @pytest.fixture
    def storage_plugins(self) -> list[object]:
        """Plugins the backend needs registered (an adapter's module, when entry
        points are not loaded); the built-in SQLite backend needs none."""
        return []

    @pytest.fixture
    def clock(self) -> FixedClock:
        return FixedClock(START)

    @pytest.fixture
    def subscriber(self) -> RecordingSubscriber:
        return RecordingSubscriber()

    @pytest.fixture
    def app(
        self,
        storage_url: str,
        storage_plugins: list[object],
        clock: FixedClock,
        subscriber: RecordingSubscriber,
    ) -> Iterator[Propcare]:
        plugins = [*storage_plugins, subscriber]
        app = Propcare.open(storage_url, plugins=plugins, load_entrypoints=False, clock=clock)
        try:
            yield app
        finally:
            app.close()

    def _estate(self, app: Propcare, name: str = "翠苑小区") -> Estate:
        estate = app.estates.create(ADMIN, name)
        app.dispatch_idle()  # its event is delivered (by the app's worker) before the test goes on
        return estate

    # --- schema -----------------------------------------------------------------------

    def test_opens_at_a_current_schema_version(self, app: Propcare) -> None:
        assert app.storage.schema_version() >= 2

    def test_reopening_keeps_data_and_version(
        self, app: Propcare, storage_url: str, storage_plugins: list[object]
    ) -> None:
        estate = self._estate(app)
        version = app.storage.schema_version()
        app.close()
        with Propcare.open(storage_url, plugins=storage_plugins, load_entrypoints=False) as again:
            assert again.storage.schema_version() == version
            if self.persistent:
                assert again.estates.get(ADMIN, estate.id) == estate
            else:
                # An in-memory database lives and dies with its connection.
                assert again.estates.list(ADMIN) == []

    # --- values round-trip exactly ------------------------------------------------------

    def test_registry_records_round_trip_exactly(self, app: Propcare) -> None:
        estate = self._estate(app)
        building = app.estates.add_building(ADMIN, estate.id, "3栋")
        unit = app.estates.add_unit(
            ADMIN, building.id, "3-1502", Decimal("128.4567"), "shop", date(2019, 6, 30)
        )
        owner = app.owners.create(
            ADMIN, estate.id, "王芳", ["13812341234", "0571-88886666"], "11010519491231002X"
        )
        team = app.staff.create_team(ADMIN, estate.id, "客服中心", "front_desk")
        staff = app.staff.create(
            ADMIN,
            estate.id,
            "李娜",
            {"front_desk", "supervisor"},
            date(2024, 3, 1),
            team_id=team.id,
            phone="13900001111",
        )
        vendor = app.vendors.create(
            ADMIN, estate.id, "洁美保洁", "cleaning", "赵经理", "13700002222"
        )
        assert app.estates.get_unit(ADMIN, unit.id) == unit
        assert app.estates.get_unit(ADMIN, unit.id).floor_area == Decimal("128.4567")
        assert app.owners.get(ADMIN, owner.id) == owner
        assert app.owners.contact(ADMIN, owner.id) == ("13812341234", "057188886666")
        assert app.staff.get(ADMIN, staff.id) == staff
        assert app.staff.get_team(ADMIN, team.id) == team
        assert app.vendors.get(ADMIN, vendor.id) == vendor

    def test_updates_are_stored(self, app: Propcare) -> None:
        estate = self._estate(app)
        building = app.estates.add_building(ADMIN, estate.id, "1栋")
        unit = app.estates.add_unit(ADMIN, building.id, "1-101", Decimal("90"))
        changed = app.estates.update_unit(ADMIN, unit.id, floor_area=Decimal("91.25"))
        assert app.estates.get_unit(ADMIN, unit.id) == changed
        assert changed.floor_area == Decimal("91.25")

    def test_aware_timestamps_round_trip_as_the_same_instant(self, app: Propcare) -> None:
        estate = self._estate(app)
        at = datetime(2026, 1, 31, 23, 59, 59, 123456, tzinfo=SHANGHAI)
        with app.unit_of_work() as uow:
            uow.outbox.add(
                NewMessage(estate.id, "event", "contract.time", {}, "contract-time", at), []
            )
            uow.commit()
        with app.unit_of_work(readonly=True) as uow:
            stored = uow.outbox.messages("contract.time")[0]
        assert stored.created_at == at
        assert stored.created_at.tzinfo is not None

    # --- one transaction boundary -------------------------------------------------------

    def test_an_exception_inside_a_unit_of_work_writes_nothing(self, app: Propcare) -> None:
        with pytest.raises(RuntimeError), app.unit_of_work() as uow:
            uow.estates.add(Estate(name="半途"))
            raise RuntimeError("crash half-way")
        assert app.estates.list(ADMIN) == []

    def test_leaving_without_commit_rolls_back(self, app: Propcare) -> None:
        with app.unit_of_work() as uow:
            uow.estates.add(Estate(name="未提交"))
        assert app.estates.list(ADMIN) == []

    def test_a_unit_of_work_cannot_be_used_after_commit(self, app: Propcare) -> None:
        with app.unit_of_work() as uow:
            uow.commit()
            with pytest.raises(StorageError):
                uow.estates.add(Estate(name="太晚"))

    def test_a_failed_bulk_insert_leaves_no_unit(self, app: Propcare) -> None:
        estate = self._estate(app)
        building = app.estates.add_building(ADMIN, estate.id, "2栋")
        specs = [UnitSpec(f"2-{i:03d}", Decimal("80")) for i in range(50)]
        specs.append(UnitSpec("2-007", Decimal("80")))  # a duplicate at the very end
        with pytest.raises(Conflict):
            app.estates.add_units(ADMIN, building.id, specs)
        assert app.estates.units(ADMIN, estate.id) == []

    def test_the_database_refuses_a_duplicate_unit_number(self, app: Propcare) -> None:
        estate = self._estate(app)
        building = app.estates.add_building(ADMIN, estate.id, "5栋")
        app.estates.add_unit(ADMIN, building.id, "5-101", Decimal("70"))
        # Past the service's own check: the schema itself must hold the rule.
        with pytest.raises(Conflict), app.unit_of_work() as uow:
            existing = uow.units.in_building(building.id)[0]
            uow.units.add(existing)
        assert len(app.estates.units(ADMIN, estate.id)) == 1

    def test_updating_a_missing_row_raises(self, app: Propcare) -> None:
        estate = self._estate(app)
        with pytest.raises(StorageError), app.unit_of_work() as uow:
            uow.owners.update(Owner(estate_id=estate.id, name="无", id=99999))  # type: ignore[arg-type]

    # --- estate scoping -----------------------------------------------------------------

    def test_repositories_list_only_the_estate_asked_for(self, app: Propcare) -> None:
        a, b = self._estate(app, "A苑"), self._estate(app, "B苑")
        for estate in (a, b):
            building = app.estates.add_building(ADMIN, estate.id, "1栋")
            app.estates.add_units(
                ADMIN, building.id, [UnitSpec(f"1-{i}", Decimal("60")) for i in range(3)]
            )
            app.owners.create(ADMIN, estate.id, f"{estate.name}业主")
        with app.unit_of_work(readonly=True) as uow:
            assert {u.estate_id for u in uow.units.in_estate(a.id)} == {a.id}
            assert uow.units.count(a.id) == 3
            assert [o.name for o in uow.owners.in_estate(b.id)] == ["B苑业主"]
            assert [e.id for e in uow.estates.list_all([b.id])] == [b.id]

    # --- ownership history --------------------------------------------------------------

    def test_ownership_history_is_kept_with_exclusive_ends(self, app: Propcare) -> None:
        estate = self._estate(app)
        building = app.estates.add_building(ADMIN, estate.id, "1栋")
        unit = app.estates.add_unit(ADMIN, building.id, "1-101", Decimal("88"))
        first = app.owners.create(ADMIN, estate.id, "张伟")
        second = app.owners.create(ADMIN, estate.id, "刘洋")
        app.owners.assign(ADMIN, unit.id, first.id, date(2018, 5, 1))
        app.owners.assign(ADMIN, unit.id, second.id, date(2025, 7, 15))
        history = app.owners.history(ADMIN, unit.id)
        assert [(h.owner_id, h.start, h.end) for h in history] == [
            (first.id, date(2018, 5, 1), date(2025, 7, 15)),
            (second.id, date(2025, 7, 15), None),
        ]
        assert app.owners.owner_of(ADMIN, unit.id, date(2018, 4, 30)) is None
        assert app.owners.owner_of(ADMIN, unit.id, date(2025, 7, 14)) == first
        assert app.owners.owner_of(ADMIN, unit.id, date(2025, 7, 15)) == second
        with app.unit_of_work(readonly=True) as uow:
            assert uow.ownerships.held_on(estate.id, date(2018, 4, 30)) == {}
            assert (
                uow.ownerships.held_on(estate.id, date(2025, 7, 14))[unit.id].owner_id == first.id
            )
            assert uow.ownerships.held_on(estate.id, date(2030, 1, 1))[unit.id] == history[1]

    # --- outbox -------------------------------------------------------------------------

    def _message(self, estate_id: EstateId, key: str, at: datetime) -> NewMessage:
        return NewMessage(estate_id, "event", "contract.topic", {"n": 1}, key, at)

    def test_outbox_stores_a_key_once(self, app: Propcare) -> None:
        estate = self._estate(app)
        with app.unit_of_work() as uow:
            first = uow.outbox.add(self._message(estate.id, "k-1", START), ["subscriber:x"])
            again = uow.outbox.add(self._message(estate.id, "k-1", START), ["subscriber:x"])
            uow.commit()
        assert first == again
        with app.unit_of_work(readonly=True) as uow:
            assert len(uow.outbox.messages("contract.topic")) == 1
            assert len(uow.outbox.deliveries(first)) == 1

    def test_outbox_rows_roll_back_with_the_change(self, app: Propcare) -> None:
        estate = self._estate(app)
        with app.unit_of_work(readonly=True) as uow:
            before = len(uow.outbox.deliveries())
        with pytest.raises(RuntimeError), app.unit_of_work() as uow:
            uow.outbox.add(self._message(estate.id, "k-2", START), ["subscriber:x"])
            raise RuntimeError("abort")
        with app.unit_of_work(readonly=True) as uow:
            assert uow.outbox.messages("contract.topic") == []
            assert len(uow.outbox.deliveries()) == before

    def test_outbox_leases_retries_and_completes(self, app: Propcare) -> None:
        estate = self._estate(app)
        lease = timedelta(minutes=5)
        with app.unit_of_work() as uow:
            mid = uow.outbox.add(self._message(estate.id, "k-3", START), ["a", "b"])
            uow.commit()
        with app.unit_of_work() as uow:
            claimed = uow.outbox.claim_due(START, START + lease, 10)
            uow.commit()
        assert sorted(c.target for c in claimed) == ["a", "b"]
        assert {c.attempts for c in claimed} == {1}
        assert claimed[0].message.payload == {"n": 1}
        with app.unit_of_work() as uow:
            # Leased: nobody else may take them until the lease runs out.
            assert uow.outbox.claim_due(START + timedelta(minutes=1), START + lease, 10) == []
            by_target = {c.target: c for c in claimed}
            uow.outbox.mark_delivered(by_target["a"].delivery_id, START)
            uow.outbox.mark_retry(by_target["b"].delivery_id, START + timedelta(minutes=2), "down")
            uow.commit()
        with app.unit_of_work() as uow:
            assert uow.outbox.claim_due(START + timedelta(minutes=1), START + lease, 10) == []
            again = uow.outbox.claim_due(START + timedelta(minutes=2), START + lease * 2, 10)
            uow.commit()
        assert [(c.target, c.attempts) for c in again] == [("b", 2)]
        with app.unit_of_work() as uow:
            uow.outbox.mark_failed(again[0].delivery_id, START, "gave up")
            uow.commit()
        with app.unit_of_work(readonly=True) as uow:
            status = {d.target: (d.status, d.attempts) for d in uow.outbox.deliveries(mid)}
        assert status == {"a": ("delivered", 1), "b": ("failed", 2)}

    def test_a_held_delivery_waits_and_keeps_its_attempts(self, app: Propcare) -> None:
        estate = self._estate(app)
        lease, until = timedelta(minutes=5), START + timedelta(hours=9)
        with app.unit_of_work() as uow:
            mid = uow.outbox.add(self._message(estate.id, "k-hold", START), ["a"])
            uow.commit()
        with app.unit_of_work() as uow:
            (claimed,) = uow.outbox.claim_due(START, START + lease, 10)
            uow.outbox.hold(claimed.delivery_id, until)
            uow.commit()
        with app.unit_of_work() as uow:
            assert uow.outbox.claim_due(until - timedelta(seconds=1), until + lease, 10) == []
            (again,) = uow.outbox.claim_due(until, until + lease, 10)
            uow.commit()
        assert again.attempts == 1  # holding back was not an attempt
        with app.unit_of_work(readonly=True) as uow:
            assert [d.status for d in uow.outbox.deliveries(mid)] == ["sending"]

    def test_an_expired_lease_is_claimed_again(self, app: Propcare) -> None:
        estate = self._estate(app)
        with app.unit_of_work() as uow:
            uow.outbox.add(self._message(estate.id, "k-4", START), ["a"])
            uow.commit()
        with app.unit_of_work() as uow:
            assert len(uow.outbox.claim_due(START, START + timedelta(minutes=5), 10)) == 1
            uow.commit()
        # The claimer died without recording an outcome; after the lease it is retried.
        with app.unit_of_work() as uow:
            later = uow.outbox.claim_due(
                START + timedelta(minutes=6), START + timedelta(hours=1), 10
            )
            uow.commit()
        assert [c.attempts for c in later] == [2]

    def test_events_reach_subscribers_once_after_commit(
        self, app: Propcare, subscriber: RecordingSubscriber
    ) -> None:
        estate = self._estate(app)
        assert subscriber.topics_received() == ["registry.created"]
        assert subscriber.received[0].estate_id == estate.id
        assert app.dispatch().delivered == 0  # nothing left to send twice

    def test_claims_can_be_limited_to_some_messages(self, app: Propcare) -> None:
        estate = self._estate(app)
        with app.unit_of_work() as uow:
            one = uow.outbox.add(self._message(estate.id, "k-5", START), ["a"])
            uow.outbox.add(self._message(estate.id, "k-6", START), ["a"])
            uow.commit()
        with app.unit_of_work() as uow:
            claimed = uow.outbox.claim_due(START, START + timedelta(minutes=5), 10, [one])
            uow.commit()
        assert [c.message.id for c in claimed] == [one]
        assert claimed[0].message.created_at == START.astimezone(UTC)

    def test_units_are_counted_per_estate(self, app: Propcare) -> None:
        estate = self._estate(app)
        building = app.estates.add_building(ADMIN, estate.id, "9栋")
        stored = app.estates.add_units(
            ADMIN, building.id, [UnitSpec(f"9-{i:04d}", Decimal("75.5")) for i in range(500)]
        )
        assert len({u.id for u in stored}) == 500
        with app.unit_of_work(readonly=True) as uow:
            assert uow.units.count(estate.id) == 500
            assert uow.units.find(building.id, "9-0499") == stored[-1]
            assert uow.units.get(UnitId(stored[0].id)) == stored[0]

    def test_commission_statements_are_kept_exactly_and_never_changed(
        self, app: Propcare, clock: FixedClock
    ) -> None:
        estate = self._estate(app)
        building = app.estates.add_building(ADMIN, estate.id, "1栋")
        (unit,) = app.estates.add_units(
            ADMIN, building.id, [UnitSpec("101", Decimal("100"), "residential", date(2020, 1, 1))]
        )
        li = app.staff.create(ADMIN, estate.id, "李收费", ["collector"], date(2020, 1, 1))
        app.collection.assign_collector(
            ADMIN, estate.id, li.id, start=date(2020, 1, 1), building_id=building.id
        )
        app.billing.add_fee_item(
            ADMIN, estate.id, "property_fee", "物业费", "area", rates={"residential": "2.50"}
        )
        app.billing.run(ADMIN, estate.id, "2026-10", at=datetime(2026, 10, 1, 9, tzinfo=SHANGHAI))
        paid_at = datetime(2026, 10, 20, 10, tzinfo=SHANGHAI)
        app.payments.pay_at_counter(ADMIN, unit.id, Decimal("260"), "cash", at=paid_at)
        plan = app.commission.add_plan(
            ADMIN, estate.id, "提成", effective_from=date(2026, 10, 1), role="collector",
            params={"rates": {"current": "1.5"}, "tiers": [{"from": "0", "to": None,
                                                            "factor": "1"}]},
        )  # fmt: skip
        app.commission.set_target(ADMIN, li.id, "2026-10", amount=Decimal("300"))
        assert app.commission.plans(ADMIN, estate.id) == [plan]
        clock.set(START)  # November: October is over
        (statement,) = app.commission.settle(ADMIN, estate.id, "2026-10").statements
        assert [(x.basis, x.amount_fen, x.commission_fen) for x in statement.lines] == [
            ("prepayment", 1000, 15),
            ("current", 25000, 375),
        ]
        assert statement.inputs["target"] == 30000 and statement.inputs["collected"] == 26000
        (again,) = app.commission.statements(ADMIN, estate.id, period="2026-10")
        assert again == statement  # lines, inputs and timestamps round trip exactly
        with pytest.raises(Exception), app.unit_of_work() as uow:  # noqa: B017 - any refusal
            conn = uow.connection  # type: ignore[attr-defined]
            conn.execute("DELETE FROM commission_statements")
            uow.commit()
        assert app.commission.statement(ADMIN, statement.id) == statement

    # --- tickets and their deadlines ------------------------------------------------------

    def test_ticket_deadlines_and_their_holiday_gaps_round_trip(
        self, app: Propcare, clock: FixedClock
    ) -> None:
        estate = self._estate(app)
        building = app.estates.add_building(ADMIN, estate.id, "1栋")
        (unit,) = app.estates.add_units(ADMIN, building.id, [UnitSpec("101", Decimal("90"))])
        clerk = app.staff.create(ADMIN, estate.id, "王客服", ["front_desk"], date(2020, 1, 1))
        actor = app.staff.actor_for(ADMIN, clerk.id, date(2026, 1, 1))
        # Opened where the built-in calendars have no holiday data (chinesecalendar stops
        # at 2026): provisional deadlines, flagged with the year.
        late = datetime(2099, 12, 31, 16, 0, tzinfo=SHANGHAI)
        opened = app.tickets.open(
            actor, estate.id, category="home_repair", channel="phone", summary="漏水",
            unit_id=unit.id, at=late,
        )  # fmt: skip
        assert opened.deadlines.gaps and opened.deadlines.missing_years == (2099, 2100)
        assert app.tickets.get(ADMIN, opened.id) == opened
        with app.unit_of_work(readonly=True) as uow:
            assert [t.id for t in uow.tickets.needing_recompute(estate.id, None)] == [opened.id]
            (found,) = uow.tickets.with_gaps(estate.id, (late, late + timedelta(days=1)))
            assert found == (opened.id, opened.deadlines)
            assert uow.tickets.with_gaps(estate.id, (START, late)) == []

    def test_an_sla_alert_is_recorded_once(self, app: Propcare, clock: FixedClock) -> None:
        estate = self._estate(app)
        clerk = app.staff.create(ADMIN, estate.id, "王客服", ["front_desk"], date(2020, 1, 1))
        actor = app.staff.actor_for(ADMIN, clerk.id, date(2026, 1, 1))
        ticket = app.tickets.open(
            actor, estate.id, category="complaint", channel="visit", summary="噪音",
            location="3栋", priority="urgent", at=START,
        )  # fmt: skip
        clock.set(START + timedelta(hours=3))
        first = app.tickets.check_sla(ADMIN, estate.id)
        assert {(a.ticket_id, a.target, a.level) for a in first.sent} >= {
            (ticket.id, "response", "supervisor")
        }
        assert app.tickets.check_sla(ADMIN, estate.id).sent == ()

    def test_a_plan_that_follows_a_calendar_round_trips_and_moves_off_holidays(
        self, app: Propcare
    ) -> None:
        estate = self._estate(app)
        clerk = app.staff.create(ADMIN, estate.id, "王客服", ["front_desk"], date(2020, 1, 1))
        plan = app.maintenance.create_plan(
            ADMIN, estate.id, title="水泵房巡检", rule="FREQ=MONTHLY;BYMONTHDAY=1",
            dtstart=datetime(2026, 9, 1, 9, 0, tzinfo=SHANGHAI), location="水泵房",
            first_contact_staff_id=clerk.id, calendar="office", non_working="next_working_day",
        )  # fmt: skip
        assert app.maintenance.plans(ADMIN, estate.id) == [plan]
        october = datetime(2026, 10, 1, tzinfo=SHANGHAI)
        (ticket_id,) = app.maintenance.generate(
            ADMIN, estate.id, october, october + timedelta(days=1)
        )
        # 1 October is National Day: the ticket opens on the next working day, 8 October.
        opened = app.tickets.get(ADMIN, ticket_id).state.opened_at
        assert opened == datetime(2026, 10, 8, 9, 0, tzinfo=SHANGHAI)
        assert (
            app.maintenance.generate(ADMIN, estate.id, october, october + timedelta(days=1)) == []
        )

    # --- role grants: audited, kept as written, scoped by estate (issue 15) ----------------

    def test_role_grants_are_audited_kept_as_written_and_scoped(self, app: Propcare) -> None:
        estate = self._estate(app)
        other = self._estate(app, "海棠湾")
        boss = app.staff.create(ADMIN, estate.id, "钱经理", ["manager"], date(2020, 1, 1))
        manager = app.staff.actor_for(ADMIN, boss.id, date(2026, 1, 1))
        clerk = app.staff.create(manager, estate.id, "王客服", ["front_desk"], date(2020, 1, 1))
        with pytest.raises(PermissionDenied, match="roles='admin'"):
            app.staff.update(manager, clerk.id, roles={"admin", "finance"})
        app.staff.update(manager, clerk.id, roles={"collector"})
        grants = app.staff.grants(ADMIN, estate.id)
        assert [
            (g.staff_id, g.added, g.removed, g.actor, g.actor_roles, g.actor_staff_id, g.at)
            for g in grants
        ] == [
            (boss.id, ("manager",), (), "system", ("admin",), None, START),
            (clerk.id, ("front_desk",), (), "钱经理", ("manager",), boss.id, START),
            (clerk.id, ("collector",), ("front_desk",), "钱经理", ("manager",), boss.id, START),
        ]
        assert app.staff.grants(manager, estate.id, staff_id=clerk.id) == grants[1:]
        assert app.staff.grants(ADMIN, other.id) == []
        for statement in (
            "UPDATE role_grants SET added = '[\"admin\"]'",
            "DELETE FROM role_grants",
        ):
            with (
                pytest.raises(Exception, match="role grants are kept as written"),
                app.unit_of_work() as uow,
            ):
                uow.connection.execute(statement)  # type: ignore[attr-defined]
                uow.commit()
        assert app.staff.grants(ADMIN, estate.id) == grants

    # --- payments: idempotency keys scoped to the estate and the merchant (issue 15) ------

    def _two_estates_with_a_unit(self, app: Propcare) -> tuple[Estate, UnitId, Estate, UnitId]:
        a, b = self._estate(app, "A苑"), self._estate(app, "B苑")
        units: list[UnitId] = []
        for estate, number in ((a, "1-101"), (b, "3-303")):
            building = app.estates.add_building(ADMIN, estate.id, "1栋")
            units.append(app.estates.add_unit(ADMIN, building.id, number, Decimal("88")).id)
        return a, units[0], b, units[1]

    def _app_with_a_gateway(
        self, storage_url: str, storage_plugins: list[object], clock: FixedClock
    ) -> Propcare:
        """The app with a second gateway, ``fakepay``, whose notices the tests build."""

        class FakePay:
            @hookimpl
            def propcare_payment_gateways(self) -> list[PaymentGateway]:
                return [PaymentGateway("fakepay", CounterClient)]

        return Propcare.open(
            storage_url, plugins=[*storage_plugins, FakePay()], load_entrypoints=False,
            clock=clock, config={"gateways": {"counter": {}, "fakepay": {}}},
        )  # fmt: skip

    @staticmethod
    def _fakepay(
        estate: Estate, unit: UnitId, amount: str, txn: str = "4200001", merchant: str = "M1"
    ) -> PaymentNotice:
        return PaymentNotice(
            estate.id, "fakepay", txn, Decimal(amount), START, unit_id=unit,
            method="fakepay", merchant=merchant,
        )  # fmt: skip

    def test_estates_number_their_counter_slips_independently(self, app: Propcare) -> None:
        a, unit_a, b, unit_b = self._two_estates_with_a_unit(app)
        desk_a = Actor("A前台", {"front_desk"}, {a.id})
        desk_b = Actor("B前台", {"front_desk"}, {b.id})
        paid_b = app.payments.pay_at_counter(
            desk_b, unit_b, Decimal("50.00"), "cash", txn_id="0001"
        )
        paid_a = app.payments.pay_at_counter(
            desk_a, unit_a, Decimal("30.00"), "cash", txn_id="0001"
        )
        assert paid_a.new and (paid_a.unit_id, paid_a.amount) == (unit_a, Decimal("30.00"))
        for desk, unit, amount, first in ((desk_a, unit_a, "30.00", paid_a),
                                          (desk_b, unit_b, "50.00", paid_b)):  # fmt: skip
            again = app.payments.pay_at_counter(desk, unit, Decimal(amount), "cash", txn_id="0001")
            assert (again.payment_id, again.entry_id, again.receipt, again.new) == (
                first.payment_id, first.entry_id, first.receipt, False,
            )  # fmt: skip
        for estate, cash, paid in ((a, "30.00", paid_a), (b, "50.00", paid_b)):
            assert app.ledger.trial_balance(ADMIN, estate.id)["cash"] == Decimal(cash)
            assert paid.receipt is not None and paid.receipt.estate_id == estate.id
            assert paid.receipt.label == "2026-000001"  # each estate's own series
            assert app.payments.anomalies(ADMIN, estate.id) == []
            with app.unit_of_work(readonly=True) as uow:
                posted = uow.payments.in_status(estate.id, "posted")
            assert [p.id for p in posted] == [paid.payment_id]
        # A replay in the estate with another amount is still refused, naming its own data.
        with pytest.raises(Conflict, match=r"first 30\.00 for unit") as info:
            app.payments.pay_at_counter(desk_a, unit_a, Decimal("31.00"), "cash", txn_id="0001")
        assert "50.00" not in str(info.value) and f"unit {unit_b}" not in str(info.value)
        assert [k for _, _, k, _ in app.payments.anomalies(ADMIN, a.id)] == ["amount_mismatch"]
        assert app.payments.anomalies(ADMIN, b.id) == []

    def test_a_merchants_transaction_is_one_payment_whichever_estate_it_reaches(
        self, storage_url: str, storage_plugins: list[object], clock: FixedClock
    ) -> None:
        with self._app_with_a_gateway(storage_url, storage_plugins, clock) as app:
            a, unit_a, b, unit_b = self._two_estates_with_a_unit(app)
            first = app.payments.record(ADMIN, self._fakepay(b, unit_b, "50.00"))
            again = app.payments.record(ADMIN, self._fakepay(b, unit_b, "50.00"))
            assert first.new and (again.payment_id, again.new) == (first.payment_id, False)
            # One merchant account collecting for both estates: the same transaction routed
            # to A (its mapping changed) is the same money, not a second payment.
            with pytest.raises(Conflict, match="recorded for another estate") as info:
                app.payments.record(ADMIN, self._fakepay(a, unit_a, "50.00"))
            for secret in ("50.00", "B苑", "3-303", f"unit {unit_b}", f"estate {b.id}"):
                assert secret not in str(info.value)
            assert "gateway:fakepay" not in app.ledger.trial_balance(ADMIN, a.id)
            [(provider, txn, kind, detail)] = app.payments.anomalies(ADMIN, a.id)
            assert (provider, txn, kind) == ("fakepay", "4200001", "recorded_for_another_estate")
            assert "50.00" not in detail and "B苑" not in detail
            assert app.payments.anomalies(ADMIN, b.id) == []
            # Another merchant's transaction of that number is another payment.
            other = app.payments.record(ADMIN, self._fakepay(a, unit_a, "30.00", merchant="M2"))
            assert other.new and other.unit_id == unit_a
            for estate, held in ((a, "30.00"), (b, "50.00")):
                balance = app.ledger.trial_balance(ADMIN, estate.id)
                assert balance["gateway:fakepay"] == Decimal(held)

    def test_the_database_holds_payment_keys_per_estate_and_per_merchant(
        self, app: Propcare
    ) -> None:
        a, unit_a, b, _ = self._two_estates_with_a_unit(app)
        paid = app.payments.pay_at_counter(ADMIN, unit_a, Decimal("10.00"), "cash", txn_id="0001")

        def add(
            uow: UnitOfWork, estate: Estate, provider: str, txn: str, merchant: str = ""
        ) -> int:
            return uow.payments.add(
                estate_id=estate.id, provider=provider, provider_txn_id=txn, amount_fen=1000,
                unit_id=None, order_id=None, method="", paid_at=START, entry_id=paid.entry_id,
                status="suspense", merchant=merchant,
            )  # fmt: skip

        # Past the service's own checks: the schema itself must hold the keys.
        with pytest.raises(Conflict), app.unit_of_work() as uow:
            add(uow, a, "counter", "0001")
        with app.unit_of_work() as uow:
            slip_b = add(uow, b, "counter", "0001")
            of_m1 = add(uow, a, "fakepay", "T9", "M1")
            of_m2 = add(uow, b, "fakepay", "T9", "M2")
            uow.commit()
        with pytest.raises(Conflict), app.unit_of_work() as uow:
            add(uow, b, "fakepay", "T9", "M1")
        with app.unit_of_work(readonly=True) as uow:

            def found(*key: object) -> int | None:
                row = uow.payments.by_txn(*key)  # type: ignore[arg-type]
                return None if row is None else row.id

            assert found(a.id, "counter", "0001") == paid.payment_id
            assert found(b.id, "counter", "0001") == slip_b
            assert found(b.id, "fakepay", "T9", "M1") == of_m1  # the merchant's, in any estate
            assert found(a.id, "fakepay", "T9", "M2") == of_m2
            assert found(a.id, "fakepay", "T9") is None  # no merchant: the estate's own key
            assert found(b.id, "fakepay", "T9", "M3") is None
            # A row kept before its gateway named a merchant is found in its own estate.
            assert found(a.id, "counter", "0001", "M1") == paid.payment_id
            assert found(b.id, "counter", "0001", "M1") == slip_b
            stored = uow.payments.get(of_m1)
            assert stored is not None and (stored.estate_id, stored.merchant) == (a.id, "M1")

    def test_no_payment_error_names_another_estates_data(
        self, storage_url: str, storage_plugins: list[object], clock: FixedClock
    ) -> None:
        with self._app_with_a_gateway(storage_url, storage_plugins, clock) as app:
            a, unit_a, b, unit_b = self._two_estates_with_a_unit(app)
            pay = app.payments
            paid_b = pay.pay_at_counter(ADMIN, unit_b, Decimal("4321.09"), "pos", txn_id="0001")
            pay.record(ADMIN, self._fakepay(b, unit_b, "4321.07", txn="4200009"))
            parked_b = pay.record(
                ADMIN,
                PaymentNotice(b.id, "counter", "P-1", Decimal("4321.05"), START, order_id="x"),
            )
            parked_a = pay.record(
                ADMIN, PaymentNotice(a.id, "counter", "P-2", Decimal("1.00"), START, order_id="x")
            )
            finance_a = Actor("A财务", {"finance", "front_desk"}, {a.id})
            pay.pay_at_counter(finance_a, unit_a, Decimal("30.00"), "cash", txn_id="0001")
            before_b = pay.anomalies(ADMIN, b.id)
            counter_body = json.dumps(
                {"estate_id": a.id, "txn_id": "0001", "amount": "4000", "unit_id": unit_a,
                 "paid_at": START.isoformat()}
            ).encode()  # fmt: skip
            probes: dict[str, Callable[[], object]] = {
                "slip replayed in A": lambda: pay.pay_at_counter(
                    finance_a, unit_a, Decimal("31.00"), "cash", txn_id="0001"),
                "slip replayed by the system": lambda: pay.pay_at_counter(
                    ADMIN, unit_a, Decimal("32.00"), "cash", txn_id="0001"),
                "B's slip number at A's till, JSON": lambda: pay.handle_notification(
                    ADMIN, "counter", {}, counter_body),
                "B's merchant transaction routed to A": lambda: pay.record(
                    ADMIN, self._fakepay(a, unit_a, "1.00", txn="4200009")),
                "A's suspense slip with another amount": lambda: pay.record(
                    ADMIN, PaymentNotice(a.id, "counter", "P-2", Decimal("2.00"), START)),
                "a notice for B by A's staff": lambda: pay.record(
                    finance_a, self._fakepay(b, unit_b, "1.00", txn="4200010")),
                "B's payment": lambda: pay.payment(finance_a, paid_b.payment_id),
                "refund B's payment": lambda: pay.refund(
                    finance_a, paid_b.payment_id, Decimal("1.00"), "退"),
                "reverse B's payment": lambda: pay.reverse(finance_a, paid_b.payment_id, "错"),
                "resolve B's suspense": lambda: pay.resolve_suspense(
                    finance_a, parked_b.payment_id, unit_a),
                "resolve A's suspense to B's unit": lambda: pay.resolve_suspense(
                    ADMIN, parked_a.payment_id, unit_b),
                "resolve A's suspense to B's unit by A": lambda: pay.resolve_suspense(
                    finance_a, parked_a.payment_id, unit_b),
                "pay at B's unit": lambda: pay.pay_at_counter(
                    finance_a, unit_b, Decimal("1.00"), "cash", txn_id="0001"),
                "order for B's unit": lambda: pay.request_payment(
                    finance_a, unit_b, Decimal("1.00"), "fakepay"),
                "B's credit": lambda: pay.apply_credit(finance_a, unit_b),
                "B's anomalies": lambda: pay.anomalies(finance_a, b.id),
                "B's suspense": lambda: pay.suspense(finance_a, b.id),
                "B's refunds": lambda: pay.refunds(finance_a, b.id),
                "B's compensations": lambda: pay.compensations(finance_a, b.id),
            }  # fmt: skip
            messages: dict[str, str] = {}
            for name, probe in probes.items():
                with pytest.raises(PropcareError) as info:
                    probe()
                messages[name] = str(info.value)
            messages.update({f"A's anomaly {k}": d for _, _, k, d in pay.anomalies(ADMIN, a.id)})
            secrets = ("4321.09", "4321.07", "4321.05", "B苑", "3-303",
                       f"unit {unit_b}", f"estate {b.id}")  # fmt: skip
            leaks = {name: m for name, m in messages.items() if any(s in m for s in secrets)}
            assert leaks == {}
            assert pay.anomalies(ADMIN, b.id) == before_b

    # --- tickets: an append-only history, a row that moves only by appending (issue 15) ----

    def _ticket_world(self, app: Propcare) -> tuple[Estate, UnitId, StaffId, StaffId]:
        """An estate with a unit, a front-desk clerk and a technician (their ids)."""
        estate = self._estate(app)
        building = app.estates.add_building(ADMIN, estate.id, "1栋")
        (unit,) = app.estates.add_units(ADMIN, building.id, [UnitSpec("101", Decimal("90"))])
        clerk = app.staff.create(ADMIN, estate.id, "王客服", ["front_desk"], date(2020, 1, 1))
        tech = app.staff.create(ADMIN, estate.id, "李师傅", ["technician"], date(2020, 1, 1))
        return estate, unit.id, clerk.id, tech.id

    def test_a_late_response_stays_late_whatever_the_sql(
        self, app: Propcare, clock: FixedClock
    ) -> None:
        """Ticket history feeds timeliness, appraisal and pay: the database refuses to
        delete or rewrite an event, a charge or an alert, to delete a ticket, or to change
        a ticket row except one event at a time (each as Conflict)."""
        estate, unit, clerk, tech = self._ticket_world(app)
        other = self._estate(app, "海棠湾")
        ticket = app.tickets.open(
            ADMIN, estate.id, category="home_repair", channel="phone", summary="漏水",
            unit_id=unit, first_contact_staff_id=clerk,
        )  # fmt: skip
        app.tickets.charge(ADMIN, ticket.id, "水龙头", Decimal("35"))
        clock.set(START + timedelta(hours=3))
        assert app.tickets.check_sla(ADMIN, estate.id).sent  # the response alerts
        clock.set(START + timedelta(hours=5))
        app.tickets.assign(ADMIN, ticket.id, staff_id=tech)
        clock.set(START + timedelta(hours=6))
        app.tickets.resolve(ADMIN, ticket.id, "换了阀门")
        clock.set(START + timedelta(hours=7))
        closed = app.tickets.callback(ADMIN, ticket.id, satisfaction="satisfied")
        # Due 15 minutes after the call, answered 5 hours after it.
        assert closed.deadlines.response == START + timedelta(minutes=15)
        assert closed.state.responded_at == START + timedelta(hours=5)
        assert closed.status == "closed"

        def response() -> tuple[int, int]:
            (row,) = app.ticket_stats.metrics(
                ADMIN, estate.id, START - timedelta(days=1), START + timedelta(days=1)
            )
            rate = row.timely["response"]
            return rate.numerator, rate.denominator

        assert response() == (0, 1)
        history = app.tickets.history(ADMIN, ticket.id)
        (assign,) = [e for e in history if e.action is Action.ASSIGN]
        events = "ticket events are append-only"
        charges = "ticket charges are append-only"
        alerts = "sla alerts are a record of what was sent"
        changes = "a ticket changes only with a new event"
        one_step = "a ticket moves one event at a time"
        intake = "the intake of a ticket never changes"
        refused = [
            ("DELETE FROM ticket_events WHERE ticket_id = ? AND seq = ?", (ticket.id, assign.seq),
             events),
            ("UPDATE ticket_events SET at = ? WHERE ticket_id = ? AND seq = ?",
             (ts(START), ticket.id, assign.seq), events),
            ("UPDATE ticket_events SET action = 'note' WHERE ticket_id = ?", (ticket.id,), events),
            ("DELETE FROM tickets WHERE id = ?", (ticket.id,), "tickets are never deleted"),
            ("UPDATE tickets SET responded_at = opened_at WHERE id = ?", (ticket.id,), changes),
            ("UPDATE tickets SET status = 'received' WHERE id = ?", (ticket.id,), changes),
            ("UPDATE tickets SET state = ? WHERE id = ?", ("{}", ticket.id), changes),
            ("UPDATE tickets SET response_due = ? WHERE id = ?",
             (ts(START + timedelta(hours=6)), ticket.id), "a closed ticket keeps its known"),
            ("UPDATE tickets SET policy = 'lenient' WHERE id = ?", (ticket.id,),
             "a closed ticket keeps its known"),
            ("UPDATE tickets SET last_seq = last_seq - 1 WHERE id = ?", (ticket.id,), one_step),
            ("UPDATE tickets SET last_seq = last_seq + 1 WHERE id = ?", (ticket.id,), one_step),
            ("UPDATE tickets SET estate_id = ? WHERE id = ?", (other.id, ticket.id), intake),
            ("UPDATE tickets SET opened_at = ? WHERE id = ?",
             (ts(START - timedelta(days=1)), ticket.id), intake),
            ("UPDATE tickets SET first_contact_staff_id = ? WHERE id = ?", (tech, ticket.id),
             intake),
            ("DELETE FROM ticket_charges WHERE ticket_id = ?", (ticket.id,), charges),
            ("UPDATE ticket_charges SET amount_fen = 1 WHERE ticket_id = ?", (ticket.id,),
             charges),
            ("DELETE FROM sla_alerts WHERE ticket_id = ?", (ticket.id,), alerts),
            ("UPDATE sla_alerts SET at = ? WHERE ticket_id = ?", (ts(START), ticket.id), alerts),
        ]  # fmt: skip
        for statement, params, message in refused:
            with pytest.raises(Conflict, match=message), app.unit_of_work() as uow:
                uow.execute(statement, params)  # type: ignore[attr-defined]
                uow.commit()
        assert app.tickets.history(ADMIN, ticket.id) == history
        assert app.tickets.get(ADMIN, ticket.id) == closed
        assert response() == (0, 1)
        assert app.tickets.verify(ADMIN, estate.id) == TicketVerification(estate.id, 1)

    def test_verify_reports_rows_that_differ_from_their_events(
        self, app: Propcare, clock: FixedClock
    ) -> None:
        """What the triggers must let through (recompute moves an open ticket's deadlines;
        a row moved one step to a forged event) is what verify reports, field by field."""
        estate, unit, clerk, tech = self._ticket_world(app)

        def repair() -> int:
            return app.tickets.open(
                ADMIN, estate.id, category="home_repair", channel="phone", summary="漏水",
                unit_id=unit, first_contact_staff_id=clerk,
            ).id  # fmt: skip

        moved, forged, cleared = repair(), repair(), repair()
        repair()  # left alone
        clock.set(START + timedelta(minutes=10))
        app.tickets.assign(ADMIN, cleared, staff_id=tech)
        app.tickets.resolve(ADMIN, cleared)
        app.tickets.callback(ADMIN, cleared, satisfaction="satisfied")
        assert app.tickets.verify(ADMIN, estate.id) == TicketVerification(estate.id, 4)
        due = app.tickets.get(ADMIN, moved).deadlines.response
        assert due is not None
        with app.unit_of_work() as uow:
            run = uow.execute  # type: ignore[attr-defined]
            run(
                "UPDATE tickets SET response_due = ? WHERE id = ?",
                (ts(START + timedelta(hours=5)), moved),
            )
            run(
                "INSERT INTO ticket_events (ticket_id, seq, action, at, actor, staff_id, data) "
                "VALUES (?, 2, 'note', ?, 'someone', NULL, ?)",
                (forged, ts(START + timedelta(minutes=10)), '{"text": "ok"}'),
            )
            run(
                "UPDATE tickets SET last_seq = 2, responded_at = opened_at, "
                "state = replace(state, ?, ?) WHERE id = ?",
                ('"summary":"漏水"', '"summary":"已修好"', forged),
            )
            run("UPDATE tickets SET resolution_due = NULL WHERE id = ?", (cleared,))
            uow.commit()
        report = app.tickets.verify(ADMIN, estate.id)
        assert (report.checked, report.ok) == (4, False)
        found = {t.ticket_id: t for t in report.differing}
        assert sorted(found) == sorted([moved, forged, cleared])
        (difference,) = found[moved].differences
        assert difference.field == "deadlines.response"
        assert difference.stored == (START + timedelta(hours=5)).isoformat()
        assert difference.rebuilt == due.isoformat()
        assert {"responded_at", "state.summary", "state.last_seq"} <= set(found[forged].fields)
        assert found[cleared].fields == ("deadlines.resolution",)
        assert "stored none" in found[cleared].describe()
        # recompute puts the deadlines back; a row that is not its history stays reported.
        app.tickets.recompute(ADMIN, estate.id)
        assert [t.ticket_id for t in app.tickets.verify(ADMIN, estate.id).differing] == [forged]

    def test_verify_passes_on_every_way_a_ticket_is_written(
        self, app: Propcare, clock: FixedClock
    ) -> None:
        estate, unit, clerk, tech = self._ticket_world(app)
        opened = {
            "category": "home_repair", "channel": "phone", "priority": "normal",
            "summary": "旧系统工单", "unit_id": unit, "location": "", "reporter_owner_id": None,
            "reporter_name": "", "estate_id": estate.id, "first_contact_staff_id": clerk,
        }  # fmt: skip
        old = START - timedelta(days=30)
        history = [
            TicketEvent(1, Action.OPEN, old, "旧系统", clerk, opened),
            TicketEvent(2, Action.ASSIGN, old + timedelta(hours=1), "旧系统", clerk,
                        {"staff_id": tech, "team_id": None}),
            TicketEvent(3, Action.CHARGE, old + timedelta(hours=2), "旧系统", tech,
                        {"item": "阀门", "quantity": "2", "unit_price": "12.50",
                         "amount": "25.00"}),
            TicketEvent(4, Action.RESOLVE, old + timedelta(hours=3), "旧系统", tech, {}),
            TicketEvent(5, Action.CALLBACK, old + timedelta(days=1), "旧系统", clerk,
                        {"satisfaction": "satisfied", "fixed": True, "channel": "phone"}),
        ]  # fmt: skip
        assert app.tickets.import_history(ADMIN, estate.id, [history, history[:2]]) == 2

        def repair(**kw: object) -> int:
            return app.tickets.open(
                ADMIN, estate.id, category="home_repair", channel="phone", summary="漏水",
                unit_id=unit, first_contact_staff_id=clerk, **kw,  # type: ignore[arg-type]
            ).id  # fmt: skip

        reworked, noted, cancelled, paused = repair(), repair(), repair(priority="urgent"), repair()
        clock.set(START + timedelta(hours=1))
        for ticket in (reworked, noted):
            app.tickets.assign(ADMIN, ticket, staff_id=tech)
            app.tickets.charge(ADMIN, ticket, "上门费", Decimal("20"))
            app.tickets.resolve(ADMIN, ticket)
        app.tickets.callback(ADMIN, reworked, satisfaction="dissatisfied", fixed=False)
        app.tickets.callback(ADMIN, noted, satisfaction="satisfied")
        app.tickets.note(ADMIN, noted, "业主来电致谢")
        app.tickets.cancel(ADMIN, cancelled, "业主自行修好")
        app.tickets.assign(ADMIN, paused, staff_id=tech)
        app.tickets.pause(ADMIN, paused, "等配件")
        assert app.tickets.get(ADMIN, reworked).state.rework_count == 1
        app.tickets.recompute(ADMIN, estate.id)
        report = app.tickets.verify(ADMIN, estate.id)
        assert report == TicketVerification(estate.id, 6), report.describe()

    # --- storage faults: a lock held too long, another program's database -----------------

    @pytest.fixture
    def short_lock_timeout(self, monkeypatch: pytest.MonkeyPatch) -> float:
        """Make the backend give up waiting for another writer's lock after 0.2 s (the
        built-in SQLite backend's busy timeout); a backend overrides this with its own
        setting. Returns the seconds."""
        monkeypatch.setattr("propcare.storage.sqlite.BUSY_TIMEOUT_S", 0.2)
        return 0.2

    def add_foreign_table(self, storage_url: str) -> None:
        """Create the table ``their_customers`` with one row (name ``theirs``) in the fresh
        database at ``storage_url``, as another program would; a backend that is not
        SQLite overrides this."""
        if not storage_url.startswith("sqlite:///"):
            pytest.skip(f"{type(self).__name__} must override add_foreign_table")
        with sqlite3.connect(storage_url.removeprefix("sqlite:///")) as conn:
            conn.execute("CREATE TABLE their_customers (id INTEGER PRIMARY KEY, name TEXT)")
            conn.execute("INSERT INTO their_customers (name) VALUES ('theirs')")
        conn.close()

    def test_a_writer_kept_waiting_past_the_lock_timeout_gets_database_locked(
        self, storage_url: str, storage_plugins: list[object], short_lock_timeout: float
    ) -> None:
        if not self.persistent:
            pytest.skip("needs a second connection to the same database")
        first = Propcare.open(storage_url, plugins=storage_plugins, load_entrypoints=False)
        second = Propcare.open(storage_url, plugins=storage_plugins, load_entrypoints=False)
        try:
            first.estates.create(ADMIN, "翠苑小区")
            with first.unit_of_work():  # another writer, holding the write lock
                started = time.monotonic()
                with pytest.raises(DatabaseLocked) as caught:
                    second.estates.create(ADMIN, "B苑")
                waited = time.monotonic() - started
            assert short_lock_timeout <= waited + 0.05 and waited < short_lock_timeout + 5
            assert "another writer holds" in str(caught.value)
            assert [e.name for e in second.estates.list(ADMIN)] == ["翠苑小区"]
            second.estates.create(ADMIN, "B苑")  # the lock is free: the same app writes again
        finally:
            first.close()
            second.close()

    def test_another_programs_database_is_refused_untouched_unless_adopted(
        self, storage_url: str, storage_plugins: list[object]
    ) -> None:
        if not self.persistent:
            pytest.skip("an in-memory database cannot hold another program's tables")
        self.add_foreign_table(storage_url)
        with pytest.raises(ForeignDatabase) as caught:
            Propcare.open(storage_url, plugins=storage_plugins, load_entrypoints=False)
        assert "their_customers" in str(caught.value) and "adopt_foreign" in str(caught.value)
        with pytest.raises(ForeignDatabase):  # refused again: the first refusal wrote nothing
            Propcare.open(storage_url, plugins=storage_plugins, load_entrypoints=False)
        with Propcare.open(
            storage_url, plugins=storage_plugins, load_entrypoints=False, adopt_foreign=True
        ) as adopted:
            self._estate(adopted)
        with Propcare.open(storage_url, plugins=storage_plugins, load_entrypoints=False) as app:
            assert [e.name for e in app.estates.list(ADMIN)] == ["翠苑小区"]
            with app.unit_of_work(readonly=True) as uow:
                sql = cast(SqlSession, uow)  # both backends' units of work are SQL sessions
                rows = sql.execute("SELECT name FROM their_customers").fetchall()
            assert [tuple(r) for r in rows] == [("theirs",)]

    # --- the outbox: failed deliveries, per estate ------------------------------------------

    def test_failed_deliveries_are_listed_and_requeued_within_their_estate(
        self, app: Propcare
    ) -> None:
        a, b = self._estate(app, "A苑"), self._estate(app, "B苑")
        app.auto_dispatch = False  # look at the rows before anything is sent again

        def notification(estate: Estate, key: str, phone: str) -> NewMessage:
            payload = {
                "channel": "sms",
                "recipient": {"name": "业主", "address": phone},
                "template": "notice",
                "locale": "zh-CN",
                "params": {},
            }
            return NewMessage(estate.id, "notification", "notify.notice", payload, key, START)

        with app.unit_of_work() as uow:
            uow.outbox.add(notification(a, "fa-1", "13812345678"), ["channel:sms"])
            uow.outbox.add(notification(a, "fa-2", "13900001111"), ["channel:sms"])
            uow.outbox.add(notification(b, "fb-1", "13722223333"), ["channel:sms"])
            uow.commit()
        failed_at = START + timedelta(minutes=3)
        with app.unit_of_work() as uow:
            claimed = uow.outbox.claim_due(START, START + timedelta(minutes=5), 10)
            for c in claimed:
                phone = c.message.payload["recipient"]["address"]
                uow.outbox.mark_failed(c.delivery_id, failed_at, f"refused {phone}")
            uow.commit()
        by_key = {c.message.key: c.delivery_id for c in claimed}
        a_ids, b_id = [by_key["fa-1"], by_key["fa-2"]], by_key["fb-1"]

        listed = app.notify.failed(ADMIN, a.id)
        assert [f.delivery_id for f in listed] == a_ids
        assert [(f.recipient, f.error, f.attempts) for f in listed] == [
            ("138****5678", "refused 138****5678", 1),
            ("139****1111", "refused 139****1111", 1),
        ]
        assert listed[0].failed_at == failed_at and listed[0].created_at == START
        assert [f.delivery_id for f in app.notify.failed(ADMIN, b.id)] == [b_id]
        with pytest.raises(NotFound):  # B's delivery, named through A: nothing changes
            app.notify.requeue(ADMIN, a.id, [a_ids[0], b_id])
        with pytest.raises(NotFound):
            app.notify.failed(Actor("B经理", {"manager"}, {b.id}), a.id)

        assert app.notify.requeue(ADMIN, a.id, all_failed=True) == a_ids
        with app.unit_of_work(readonly=True) as uow:
            rows = {d.delivery_id: (d.status, d.attempts) for d in uow.outbox.deliveries()}
        assert [rows[i] for i in a_ids] == [("pending", 0), ("pending", 0)]
        assert rows[b_id] == ("failed", 1)
        with app.unit_of_work() as uow:  # due now, and claimed like any pending delivery
            again = uow.outbox.claim_due(START, START + timedelta(minutes=5), 10)
            uow.commit()
        requeued = [c for c in again if c.target == "channel:sms"]  # not outbox.requeued's
        assert sorted(c.delivery_id for c in requeued) == a_ids
        assert {c.attempts for c in requeued} == {1}

    def test_a_slow_subscriber_does_not_hold_up_the_call_that_committed(
        self, app: Propcare
    ) -> None:
        release, got = threading.Event(), list[str]()

        def slow(envelope: object) -> None:
            release.wait(10)
            got.append(getattr(envelope, "topic", ""))

        app.subscribe(EventSubscriber("slow", slow, frozenset({"registry.created"})))
        try:
            estate = app.estates.create(ADMIN, "翠苑小区")  # returns while "slow" waits
            assert got == []
            assert app.estates.get(ADMIN, estate.id) == estate  # storage serves the caller
        finally:
            release.set()
        assert app.dispatch_idle(10)
        assert got == ["registry.created"]

    # --- contact reveals and team leaders (issue 16) ---------------------------------------

    def test_contact_reveals_are_audited_kept_as_written_and_scoped(self, app: Propcare) -> None:
        """Each time an owner's full numbers are shown a row is written with the reveal:
        the front desk's for a callback (with the ticket), ``owners.contact``'s, an archive
        export's (no owner: all of them). The database keeps the rows as written; another
        estate's audit is its own."""
        estate, unit, clerk_id, _tech = self._ticket_world(app)
        other = self._estate(app, "海棠湾")
        owner = app.owners.create(ADMIN, estate.id, "张业主", ["13812341234"])
        clerk = app.staff.actor_for(ADMIN, clerk_id, date(2026, 1, 1))
        ticket = app.tickets.open(
            clerk, estate.id, category="home_repair", channel="phone", summary="漏水",
            unit_id=unit, reporter_owner_id=owner.id,
        )  # fmt: skip
        assert app.tickets.reporter_contact(clerk, ticket.id) == ("13812341234",)
        assert app.owners.contact(ADMIN, owner.id) == ("13812341234",)
        app.owners.archive(ADMIN, estate.id, date(2026, 1, 1), reveal_contacts=True)
        reveals = app.owners.reveals(ADMIN, estate.id)
        assert [
            (r.owner_id, r.ticket_id, r.purpose.value, r.actor, r.actor_roles,
             r.actor_staff_id, r.at)
            for r in reveals
        ] == [
            (owner.id, ticket.id, "callback", "王客服", ("front_desk",), clerk_id, START),
            (owner.id, None, "contact", "system", ("admin",), None, START),
            (None, None, "archive", "system", ("admin",), None, START),
        ]  # fmt: skip
        assert app.owners.reveals(ADMIN, estate.id, owner_id=owner.id) == reveals[:2]
        assert app.owners.reveals(ADMIN, other.id) == []
        for statement in ("UPDATE contact_reveals SET actor = 'x'", "DELETE FROM contact_reveals"):
            with (
                pytest.raises(Exception, match="contact reveals are kept as written"),
                app.unit_of_work() as uow,
            ):
                uow.connection.execute(statement)  # type: ignore[attr-defined]
                uow.commit()
        assert app.owners.reveals(ADMIN, estate.id) == reveals

    # --- the arrears roster (issue 17) --------------------------------------------------------

    def test_the_roster_is_filtered_sorted_and_streamed_by_the_database(
        self, app: Propcare
    ) -> None:
        """The roster's SQL on this backend: each line's collector on the day (a unit's own
        assignment beats its building's; an assignment covers its first and last day),
        building and collector filters that give exactly the matching lines of the whole
        roster, each order by code point whatever the database's collation, and a
        streaming read that may stop early and leaves the app usable."""
        estate = self._estate(app)
        upper = app.estates.add_building(ADMIN, estate.id, "B栋")
        lower = app.estates.add_building(ADMIN, estate.id, "a栋")
        handed_over = date(2020, 1, 1)
        specs = [UnitSpec(n, Decimal("100"), "residential", handed_over) for n in ("1-01", "10")]
        specs += [UnitSpec(n, Decimal("100"), "residential", handed_over) for n in ("101", "9")]
        units = [*app.estates.add_units(ADMIN, upper.id, specs)]
        units += app.estates.add_units(ADMIN, lower.id, specs[:2])
        li = app.staff.create(ADMIN, estate.id, "李收费", ["collector"], handed_over).id
        wang = app.staff.create(ADMIN, estate.id, "王收费", ["collector"], handed_over).id
        assign = functools.partial(app.collection.assign_collector, ADMIN, estate.id)
        assign(li, start=handed_over, building_id=upper.id)
        assign(li, start=handed_over, end=date(2026, 11, 20), building_id=lower.id)
        assign(wang, start=date(2026, 11, 21), building_id=lower.id)
        assign(wang, start=date(2026, 11, 20), end=date(2026, 11, 20), unit_id=units[5].id)
        app.billing.add_fee_item(
            ADMIN, estate.id, "property_fee", "物业费", "area", rates={"residential": "2.50"}
        )
        for period in ("2026-09", "2026-10"):
            app.billing.run(
                ADMIN, estate.id, period, at=datetime.fromisoformat(f"{period}-01T09:00+08:00")
            )
        paid_at = datetime(2026, 10, 20, 10, tzinfo=SHANGHAI)
        app.payments.pay_at_counter(ADMIN, units[2].id, Decimal("250"), "cash", at=paid_at)
        last_day = datetime(2026, 11, 20, 12, tzinfo=SHANGHAI)  # Li's last in a栋
        whole = app.arrears.roster(ADMIN, estate.id, as_of=last_day)
        in_lower = [(r.unit, r.collector_staff_id) for r in whole if r.building == "a栋"]
        assert in_lower == [("1-01", li), ("10", wang)]  # 10: Wang's own day
        next_day = datetime(2026, 11, 21, 12, tzinfo=SHANGHAI)
        after = app.arrears.roster(ADMIN, estate.id, as_of=next_day, sort_by="unit")
        assert [(r.building, r.unit, r.collector_staff_id, r.amount) for r in after] == [
            ("B栋", "1-01", li, Decimal("500.00")),
            ("B栋", "10", li, Decimal("500.00")),
            ("B栋", "101", li, Decimal("250.00")),
            ("B栋", "9", li, Decimal("500.00")),
            ("a栋", "1-01", wang, Decimal("500.00")),
            ("a栋", "10", wang, Decimal("500.00")),
        ]
        keys: dict[str, Callable[[ArrearsLine], tuple[object, ...]]] = {
            "amount": lambda r: (-r.amount, r.building, r.unit, r.fee_item, r.unit_id),
            "unit": lambda r: (r.building, r.unit, r.fee_item, r.unit_id),
            "oldest": lambda r: (r.periods[0], r.building, r.unit, r.fee_item, r.unit_id),
        }
        roster = functools.partial(app.arrears.roster, ADMIN, estate.id, as_of=last_day)
        for sort_by, key in keys.items():
            lines = roster(sort_by=sort_by)
            assert lines == sorted(whole, key=key), sort_by
            streamed = app.arrears.iter_roster(ADMIN, estate.id, as_of=last_day, sort_by=sort_by)
            assert list(streamed) == lines
        for building in (upper, lower):
            mine = [r for r in whole if r.building == building.name]
            assert roster(building_id=building.id) == mine
        for staff_id in (li, wang):
            theirs = [r for r in whole if r.collector_staff_id == staff_id]
            assert roster(collector_staff_id=staff_id) == theirs
        stream = app.arrears.iter_roster(ADMIN, estate.id, as_of=last_day)
        assert next(stream) == whole[0]
        stream.close()  # stopped early: the read ends, the app goes on
        app.payments.pay_at_counter(ADMIN, units[0].id, Decimal("500"), "cash", at=paid_at)
        assert len(roster()) == len(whole) - 1

    def test_a_teams_leader_is_kept_and_may_be_cleared(self, app: Propcare) -> None:
        estate, _unit, clerk_id, tech_id = self._ticket_world(app)
        team = app.staff.create_team(ADMIN, estate.id, "维修组", "repair", leader_staff_id=tech_id)
        assert app.staff.get_team(ADMIN, team.id).leader_staff_id == tech_id
        app.staff.update_team(ADMIN, team.id, leader_staff_id=clerk_id)
        assert [t.leader_staff_id for t in app.staff.teams(ADMIN, estate.id)] == [clerk_id]
        app.staff.update_team(ADMIN, team.id, leader_staff_id=None)
        assert app.staff.get_team(ADMIN, team.id).leader_staff_id is None
