"""The storage contract: what every storage backend must do, as pytest tests.

A backend runs it by subclassing and providing a fresh, empty database per test::

    from propcare.testing.contract import StorageContract

    class TestMyBackend(StorageContract):
        persistent = True          # False for in-memory databases

        @pytest.fixture
        def storage_url(self, tmp_path):
            return f"sqlite:///{tmp_path / 'contract.db'}"

The tests go through ``Propcare.open(storage_url)`` and the services, so they
check the backend the way the library uses it, not only its repositories.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from propcare.access import Actor
from propcare.app import Propcare
from propcare.clock import FixedClock
from propcare.errors import Conflict, StorageError
from propcare.notify.outbox import NewMessage
from propcare.registry.model import Estate, EstateId, Owner, UnitId
from propcare.registry.service import UnitSpec
from propcare.testing.fakes import RecordingSubscriber

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
        return app.estates.create(ADMIN, name)

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
