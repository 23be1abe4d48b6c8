"""The ledger against a reference model: every step balances, every balance is the model's.

A Hypothesis state machine drives billing, payments, refunds, reversals (of payments and of
bills, paid or not), bill corrections, credit, compensation, deposits, late fees and waivers on
SQLite (subclassed, on another backend) while a plain-Python model keeps what each unit should
owe; after every step the journal, the receivables, the aging and the collection rate must agree
with it. The model allocates as the ``ledger.allocation`` setting says (principal before late
fees by default; a second machine runs with late fees first), and holds the rules of
corrections: a line never owes below zero or above what it billed, money a reversed bill
had settled becomes owner credit and is applied like any credit, and a refund or reversal of
a payment whose bill was reversed takes that money back from the credit. Fault injection
makes the storage fail at each write of a bill run and of a payment and checks that nothing
half-done is left behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

from propcare import Actor, FixedClock, Propcare, UnitSpec
from propcare.ledger.accounts import DEBIT_NORMAL, Account
from propcare.ledger.deposits import Deduction
from propcare.ledger.gateways import PaymentNotice
from propcare.money import from_fen
from propcare.storage.sqlite import SqliteUnitOfWork

SH = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 1, 5, 9, 0, tzinfo=SH)
ADMIN = Actor.system()
CREDIT = ("", "")
# 100 m2, 88 m2 and 120 m2 at 2.50 a month; the first unit also rents a parking space at 300.
AREAS = (Decimal("100"), Decimal("88"), Decimal("120"))
RATE = Decimal("2.50")
PARKING_FEN = 30000
TABLES = ("postings", "journal_entries", "bills", "receipts", "outbox", "payment_notices")


def _rows(app: Propcare, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with app.unit_of_work(readonly=True) as uow:
        return uow.tuples(sql, params)  # type: ignore[attr-defined,no-any-return]


def _world(
    clock: FixedClock,
    url: str = "sqlite://:memory:",
    plugins: tuple[object, ...] = (),
    allocation: str | None = None,
) -> tuple[Propcare, int, list[int], int]:
    """One estate, three handed-over units, property fee by area, parking for the first."""
    config = None if allocation is None else {"ledger": {"allocation": allocation}}
    app = Propcare.open(url, plugins=plugins, load_entrypoints=False, clock=clock, config=config)
    estate = app.estates.create(ADMIN, "翠苑")
    building = app.estates.add_building(ADMIN, estate.id, "1栋")
    units = app.estates.add_units(
        ADMIN,
        building.id,
        [
            UnitSpec(str(101 + i), area, "residential", date(2020, 1, 1))
            for i, area in enumerate(AREAS)
        ],
    )
    app.billing.add_fee_item(
        ADMIN, estate.id, "property_fee", "物业费", "area", rates={"residential": RATE}
    )
    app.billing.add_fee_item(ADMIN, estate.id, "parking", "车位费", "fixed", amount=Decimal("300"))
    app.billing.assign(ADMIN, units[0].id, "parking", date(2020, 1, 1))
    staff = app.staff.create(ADMIN, estate.id, "财务", ["finance"], date(2020, 1, 1))
    return app, estate.id, [u.id for u in units], staff.id


def _fee_fen(area: Decimal) -> int:
    """A month's property fee of ``area`` m2, by hand: rounded half up to the fen."""
    return int((area * RATE).quantize(Decimal("0.01"), ROUND_HALF_UP) * 100)


def _expected_bills(units: list[int]) -> dict[tuple[int, str], int]:
    """What a monthly run bills, by hand: area x rate to the fen, plus the parking space."""
    out = {(u, "property_fee"): _fee_fen(area) for u, area in zip(units, AREAS, strict=True)}
    out[(units[0], "parking")] = PARKING_FEN
    return out


def _snapshot(app: Propcare) -> dict[str, tuple[int, int]]:
    """Row count and a checksum of every table a money movement writes."""
    out = {t: (_rows(app, f"SELECT COUNT(*) FROM {t}")[0][0], 0) for t in TABLES}
    out["postings"] = (
        out["postings"][0],
        _rows(app, "SELECT COALESCE(SUM(ABS(amount_fen)), 0) FROM postings")[0][0],
    )
    out["bills"] = (
        out["bills"][0],
        _rows(app, "SELECT COALESCE(SUM(amount_fen), 0) FROM bills")[0][0],
    )
    out["payment_allocations"] = tuple(
        _rows(app, "SELECT COUNT(*), COALESCE(SUM(amount_fen), 0) FROM payment_allocations")[0]
    )
    out["late_fees"] = tuple(
        _rows(app, "SELECT COUNT(*), COALESCE(SUM(amount_fen), 0) FROM late_fees")[0]
    )
    out["deposits"] = tuple(_rows(app, "SELECT COUNT(*), COUNT(refunded_at) FROM deposits")[0])
    return out


def _unbalanced_entries(app: Propcare) -> list[tuple[Any, ...]]:
    return _rows(
        app,
        "SELECT entry_id, SUM(amount_fen) FROM postings GROUP BY entry_id "
        "HAVING SUM(amount_fen) <> 0",
    )


def _total(app: Propcare) -> int:
    return int(_rows(app, "SELECT COALESCE(SUM(amount_fen), 0) FROM postings")[0][0])


# --- the reference model -----------------------------------------------------------------


class Model:
    """What the ledger should hold, in fen, computed without the library.

    Per receivable line: what is owed, what was billed (bills, late fees, less reversals and
    waivers), and what owner credit settles of it; what payments settle is the rest of the
    billed amount that is not owed."""

    def __init__(self, units: list[int], order: str = "principal_first") -> None:
        self.order = order
        self.owed: dict[int, dict[tuple[str, str], int]] = {u: {} for u in units}
        self.billed: dict[int, dict[tuple[str, str], int]] = {u: {} for u in units}
        self.credit: dict[int, int] = dict.fromkeys(units, 0)
        self.deposits: dict[int, tuple[int, int, bool]] = {}  # id -> unit, fen, inspected
        self.held: dict[int, int] = dict.fromkeys(units, 0)
        # payment id -> unit, amount, refunded, reversed, net allocations (credit as CREDIT)
        self.payments: dict[int, dict[str, Any]] = {}
        # unit -> line -> [fen still settled by owner credit, step of the last change]
        self.applied: dict[int, dict[tuple[str, str], list[int]]] = {u: {} for u in units}
        self.step = 0

    def _rank(self, line: tuple[str, str]) -> tuple[Any, ...]:
        item, period = line
        late = item == "late_fee"
        if self.order == "late_fees_first":
            return (period, not late, item)
        if self.order == "all_principal_first":
            return (late, period, item)
        return (period, late, item)  # principal_first: a period's fees before its late fee

    def allocate(self, unit: int, fen: int) -> tuple[list[tuple[tuple[str, str], int]], int]:
        """Oldest period first, late fees placed by the order, then by fee item; the rest
        is credit."""
        lines = []
        left = fen
        for (item, period), owed in sorted(
            self.owed[unit].items(), key=lambda kv: self._rank(kv[0])
        ):
            if left == 0:
                break
            if owed > 0:
                take = min(owed, left)
                lines.append(((item, period), take))
                left -= take
        return lines, left

    def settle(self, unit: int, lines: list[tuple[tuple[str, str], int]], sign: int = 1) -> None:
        for line, fen in lines:
            self.owed[unit][line] = self.owed[unit].get(line, 0) - sign * fen

    def apply_credit(self, unit: int) -> None:
        if self.credit[unit] <= 0:
            return
        lines, rest = self.allocate(unit, self.credit[unit])
        if not lines:
            return
        self.settle(unit, lines)
        self.credit[unit] = rest
        self.step += 1
        for line, fen in lines:
            slot = self.applied[unit].setdefault(line, [0, 0])
            slot[0] += fen
            slot[1] = self.step

    def reopen_spent_credit(self, unit: int) -> None:
        """Credit taken back after it settled bills reopens them, most recently settled
        first (within one application the latest period first)."""
        left = -self.credit[unit]
        if left <= 0:
            return
        self.step += 1
        for line, slot in sorted(
            self.applied[unit].items(), key=lambda kv: (kv[1][1], kv[0][1], kv[0][0]), reverse=True
        ):
            take = min(slot[0], left)
            if take <= 0:
                continue
            slot[0] -= take
            slot[1] = self.step
            self.owed[unit][line] = self.owed[unit].get(line, 0) + take
            self.credit[unit] += take
            left -= take
            if not left:
                break
        assert left == 0, "credit was spent on nothing"

    def bill(self, unit: int, line: tuple[str, str], fen: int) -> None:
        """A bill or late fee (negative: its reversal or waiver) on ``line``."""
        self.owed[unit][line] = self.owed[unit].get(line, 0) + fen
        self.billed[unit][line] = self.billed[unit].get(line, 0) + fen

    def paid(self, unit: int, line: tuple[str, str]) -> int:
        """What payments (and compensation), not owner credit, settle on ``line``."""
        settled = self.billed[unit].get(line, 0) - self.owed[unit].get(line, 0)
        return settled - self.applied[unit].get(line, [0, 0])[0]

    def take_back(self, unit: int, line: tuple[str, str], fen: int) -> None:
        """A refund or reversal taking ``fen`` of a payment back from ``line``: the line
        reopens by what payments still settle on it; the rest (released to credit when its
        bill was reversed) comes out of owner credit."""
        reopen = min(fen, max(self.paid(unit, line), 0))
        self.owed[unit][line] = self.owed[unit].get(line, 0) + reopen
        self.credit[unit] -= fen - reopen

    def release(self, unit: int) -> bool:
        """After a correction: every line below zero (paid, then un-billed) goes to zero and
        the money to owner credit; it leaves the credit-settled part of the line first."""
        below = {line: -fen for line, fen in self.owed[unit].items() if fen < 0}
        if not below:
            return False
        self.step += 1
        for line, fen in below.items():
            self.owed[unit][line] = 0
            self.credit[unit] += fen
            slot = self.applied[unit].setdefault(line, [0, 0])
            slot[0] = max(0, slot[0] - fen)
            slot[1] = self.step
        return True

    def unbill(self, unit: int, line: tuple[str, str], fen: int) -> None:
        """A bill or late fee reversed or waived: un-billed, what was paid released to owner
        credit and applied like any credit."""
        self.bill(unit, line, -fen)
        if self.release(unit):
            self.apply_credit(unit)

    def balance(self, unit: int) -> int:
        return sum(self.owed[unit].values()) - self.credit[unit]


class LedgerMachine(RuleBasedStateMachine):
    """Runs on a fresh in-memory SQLite database; a storage adapter subclasses it and
    overrides :meth:`database` (the PostgreSQL adapter's tests do). ``allocation`` is the
    ``ledger.allocation`` setting (None: the default)."""

    plugins: tuple[object, ...] = ()
    allocation: str | None = None

    def database(self) -> str:
        return "sqlite://:memory:"

    def __init__(self) -> None:
        super().__init__()
        self.clock = FixedClock(START)
        self.app, self.estate, self.units, self.approver = _world(
            self.clock, self.database(), self.plugins, self.allocation
        )
        self.app.billing.set_late_fees(ADMIN, self.estate, Decimal("0.0005"), grace_days=0)
        self.model = Model(self.units, self.allocation or "principal_first")
        # (unit, fee item, period) -> [entry id of the standing bill, fen, standing?]
        self.bills: dict[tuple[int, str, str], list[Any]] = {}
        self.bill_fen = _expected_bills(self.units)
        self.month = 0  # periods billed so far: 2026-01, 2026-02, ...
        self.txn = 0
        self.notices: dict[int, PaymentNotice] = {}
        self.late_fees: dict[int, tuple[int, str, int]] = {}  # entry -> unit, period, fen
        self.waived: set[int] = set()

    def teardown(self) -> None:
        self.app.close()

    # --- helpers ---------------------------------------------------------------------

    def _period(self, month: int) -> str:
        return f"{2026 + month // 12}-{month % 12 + 1:02d}"

    def _pay(self, unit: int, fen: int) -> None:
        self.txn += 1
        notice = PaymentNotice(
            estate_id=self.estate,
            provider="counter",
            provider_txn_id=f"slip-{self.txn}",
            amount=from_fen(fen),
            paid_at=self.clock.now(),
            unit_id=unit,
            method="cash",
        )
        result = self.app.payments.record(ADMIN, notice)
        assert result.new and result.status == "posted"
        lines, credit = self.model.allocate(unit, fen)
        self.model.settle(unit, lines)
        self.model.credit[unit] += credit
        assert sum(a.fen for a in result.allocations) + int(result.credit * 100) == fen
        assert {(a.fee_item, a.period): a.fen for a in result.allocations} == dict(lines)
        net = dict(lines)
        if credit:
            net[CREDIT] = credit
        self.model.payments[result.payment_id] = {
            "unit": unit,
            "amount": fen,
            "refunded": 0,
            "reversed": False,
            "net": net,
        }
        self.notices[result.payment_id] = notice

    def _owed(self, unit: int) -> int:
        return max(0, sum(self.model.owed[unit].values()))

    def _read_bills(self, unit: int) -> None:
        """The unit's bills as the API shows them: entry ids to reverse by."""
        for b in self.app.billing.bills(ADMIN, unit):
            assert b.entry_id is not None
            self.bills[(unit, b.fee_item, b.period)] = [
                b.entry_id,
                b.amount_fen,
                b.reversed_by is None,
            ]

    # --- rules -----------------------------------------------------------------------

    @precondition(lambda self: self.month < 24)
    @rule()
    def bill_next_period(self) -> None:
        period = self._period(self.month)
        first = datetime(2026 + self.month // 12, self.month % 12 + 1, 5, 9, tzinfo=SH)
        self.clock.set(max(first, self.clock.now()))  # the clock never runs backwards
        report = self.app.billing.run(ADMIN, self.estate, period)
        assert report.billed_now == len(self.bill_fen) and report.already_billed == 0
        assert report.total_now == from_fen(sum(self.bill_fen.values()))
        assert report.skipped == ()  # every unit is handed over
        for (unit, item), fen in self.bill_fen.items():
            self.model.bill(unit, (item, period), fen)
        for unit in self.units:  # the run settles new bills from credit at once
            self.model.apply_credit(unit)
            self._read_bills(unit)
        self.month += 1
        again = self.app.billing.run(ADMIN, self.estate, period)
        assert again.billed_now == 0 and again.already_billed == len(self.bill_fen)

    @rule(days=st.integers(1, 40))
    def time_passes(self, days: int) -> None:
        self.clock.advance(timedelta(days=days))

    @rule(unit=st.integers(0, 2))
    def pay_exactly(self, unit: int) -> None:
        u = self.units[unit]
        if self._owed(u) > 0:
            self._pay(u, self._owed(u))

    @rule(unit=st.integers(0, 2), share=st.integers(1, 99))
    def pay_partly(self, unit: int, share: int) -> None:
        u = self.units[unit]
        fen = self._owed(u) * share // 100
        if fen > 0:
            self._pay(u, fen)

    @rule(unit=st.integers(0, 2), extra=st.integers(1, 50000))
    def overpay(self, unit: int, extra: int) -> None:
        u = self.units[unit]
        self._pay(u, self._owed(u) + extra)

    @precondition(lambda self: self.notices)
    @rule(data=st.data())
    def replay_a_notice(self, data: st.DataObject) -> None:
        payment_id = data.draw(st.sampled_from(sorted(self.notices)))
        before = _snapshot(self.app)
        result = self.app.payments.record(ADMIN, self.notices[payment_id])
        assert not result.new and result.payment_id == payment_id
        assert _snapshot(self.app) == before

    @precondition(lambda self: self.model.payments)
    @rule(data=st.data(), share=st.integers(1, 100))
    def refund_part(self, data: st.DataObject, share: int) -> None:
        payment_id = data.draw(st.sampled_from(sorted(self.model.payments)))
        p = self.model.payments[payment_id]
        left = p["amount"] - p["refunded"]
        fen = left * share // 100
        if p["reversed"] or fen <= 0:
            return
        self.app.payments.refund(ADMIN, payment_id, from_fen(fen), "业主申请退款")
        # Newest allocation first: the credit part, then the lines in reverse order.
        order = [CREDIT] if CREDIT in p["net"] else []
        order += [line for line in reversed(list(p["net"])) if line != CREDIT]
        rest = fen
        unit = p["unit"]
        for line in order:
            take = min(p["net"][line], rest)
            if take <= 0:
                continue
            rest -= take
            p["net"][line] -= take
            if line == CREDIT:
                self.model.credit[unit] -= take
            else:
                self.model.take_back(unit, line, take)
        assert rest == 0
        p["refunded"] += fen
        self.model.reopen_spent_credit(unit)

    @precondition(lambda self: self.model.payments)
    @rule(data=st.data())
    def reverse_a_payment(self, data: st.DataObject) -> None:
        payment_id = data.draw(st.sampled_from(sorted(self.model.payments)))
        p = self.model.payments[payment_id]
        if p["reversed"] or p["refunded"]:
            return
        self.app.payments.reverse(ADMIN, payment_id, "录错了")
        unit = p["unit"]
        for line, fen in p["net"].items():
            if line == CREDIT:
                self.model.credit[unit] -= fen
            elif fen:
                self.model.take_back(unit, line, fen)
            p["net"][line] = 0
        p["reversed"] = True
        self.model.reopen_spent_credit(unit)

    @rule(unit=st.integers(0, 2))
    def apply_credit(self, unit: int) -> None:
        u = self.units[unit]
        self.app.payments.apply_credit(ADMIN, u)
        self.model.apply_credit(u)

    @rule(unit=st.integers(0, 2), fen=st.integers(1, 40000))
    def compensate(self, unit: int, fen: int) -> None:
        u = self.units[unit]
        self.app.payments.compensate(ADMIN, u, from_fen(fen), "停水补偿", self.approver)
        lines, credit = self.model.allocate(u, fen)
        self.model.settle(u, lines)
        self.model.credit[u] += credit

    @rule(unit=st.integers(0, 2), fen=st.integers(1, 500000))
    def collect_deposit(self, unit: int, fen: int) -> None:
        u = self.units[unit]
        deposit = self.app.deposits.collect(ADMIN, u, from_fen(fen))
        self.model.deposits[deposit.id] = (u, fen, False)
        self.model.held[u] += fen

    @precondition(lambda self: self.model.deposits)
    @rule(data=st.data(), kept=st.integers(0, 100))
    def refund_deposit(self, data: st.DataObject, kept: int) -> None:
        deposit_id = data.draw(st.sampled_from(sorted(self.model.deposits)))
        unit, fen, _ = self.model.deposits.pop(deposit_id)
        self.app.deposits.inspect(ADMIN, deposit_id, passed=kept == 0)
        deduct = fen * kept // 100
        deductions = [Deduction("墙面损坏", from_fen(deduct))] if deduct else []
        refunded = self.app.deposits.refund(ADMIN, deposit_id, deductions=deductions)
        assert refunded.refunded_amount == from_fen(fen - deduct)
        self.model.held[unit] -= fen

    @precondition(lambda self: self.month > 0)
    @rule()
    def assess_late_fees(self) -> None:
        known = {e for (e,) in _rows(self.app, "SELECT entry_id FROM late_fees")}
        today = self.clock.now().astimezone(SH).date()
        self.app.billing.assess_late_fees(ADMIN, self.estate, today)
        # The amounts depend on days overdue: read back what the run posted, then hold
        # the ledger to it (the receivable must equal the model after this step).
        for entry_id, unit, item, period, fen in _rows(
            self.app, "SELECT entry_id, unit_id, fee_item, period, amount_fen FROM late_fees"
        ):
            if entry_id in known:
                continue
            assert item in ("property_fee", "parking") and fen > 0
            self.model.bill(unit, ("late_fee", period), fen)
            self.late_fees[entry_id] = (unit, period, fen)

    @precondition(lambda self: len(self.late_fees) > len(self.waived))
    @rule(data=st.data())
    def waive_a_late_fee(self, data: st.DataObject) -> None:
        # Paid, part paid or owed: the paid part of a waived fee goes back as credit.
        open_fees = [e for e in sorted(self.late_fees) if e not in self.waived]
        entry_id = data.draw(st.sampled_from(open_fees))
        unit, period, fen = self.late_fees[entry_id]
        self.app.billing.waive_late_fee(ADMIN, entry_id, "经理批准减免")
        self.model.unbill(unit, ("late_fee", period), fen)
        self.waived.add(entry_id)

    @precondition(lambda self: self.month > 0)
    @rule(data=st.data())
    def reverse_a_bill(self, data: st.DataObject) -> None:
        # Paid, part paid or owed: what the bill had settled becomes owner credit, applied
        # to the unit's other open bills at once.
        standing = sorted(k for k, b in self.bills.items() if b[2])
        if not standing:
            return
        unit, item, period = data.draw(st.sampled_from(standing))
        bill = self.bills[(unit, item, period)]
        self.app.ledger.reverse(ADMIN, bill[0], "面积录错")
        bill[2] = False
        self.model.unbill(unit, (item, period), bill[1])
        self._read_bills(unit)
        assert not self.bills[(unit, item, period)][2]

    @precondition(lambda self: self.month > 0)
    @rule(
        data=st.data(),
        unit=st.integers(0, 2),
        area=st.sampled_from([None, Decimal("88"), Decimal("95.37"), Decimal("120.01")]),
    )
    def correct_a_period(self, data: st.DataObject, unit: int, area: Decimal | None) -> None:
        # The area is fixed, the period re-billed, and the area put back (so later runs bill
        # as before); a bill that comes out the same is left alone, a reversed one re-billed.
        u = self.units[unit]
        period = self._period(data.draw(st.integers(0, self.month - 1)))
        if area is not None:
            self.app.estates.update_unit(ADMIN, u, floor_area=area)
        result = self.app.billing.correct(ADMIN, u, period, "面积复核")
        if area is not None:
            self.app.estates.update_unit(ADMIN, u, floor_area=AREAS[unit])
        expected = {"property_fee": _fee_fen(AREAS[unit] if area is None else area)}
        if unit == 0:
            expected["parking"] = PARKING_FEN
        changed = []
        for item, fen in sorted(expected.items()):
            bill = self.bills[(u, item, period)]
            if bill[2] and bill[1] == fen:
                assert item in result.unchanged
                continue
            if bill[2]:
                self.model.bill(u, (item, period), -bill[1])
            self.model.bill(u, (item, period), fen)
            changed.append(item)
        assert sorted(b.fee_item for b in result.rebilled) == changed
        assert len(result.reversed) == len(changed) - sum(
            1 for item in changed if not self.bills[(u, item, period)][2]
        )
        if changed:  # released money and credit the unit held settle the new bills
            self.model.release(u)
            self.model.apply_credit(u)
        self._read_bills(u)
        for item, fen in expected.items():
            assert self.bills[(u, item, period)][1:] == [fen, True]

    # --- invariants --------------------------------------------------------------------

    @invariant()
    def every_entry_balances_and_the_trial_balance_is_zero(self) -> None:
        assert _unbalanced_entries(self.app) == []
        assert _total(self.app) == 0
        # The service's trial balance: debit-normal accounts equal credit-normal ones.
        debits = credits = Decimal(0)
        for name, amount in self.app.ledger.trial_balance(ADMIN, self.estate).items():
            if Account(name.split(":", 1)[0]) in DEBIT_NORMAL:
                debits += amount
            else:
                credits += amount
        assert debits == credits

    @invariant()
    def no_line_owes_below_zero_or_above_what_it_billed(self) -> None:
        for u in self.units:
            for line, owed in self.model.owed[u].items():
                assert 0 <= owed <= self.model.billed[u].get(line, 0), (u, line, owed)
            for line, (fen, _step) in self.model.applied[u].items():
                assert 0 <= fen <= self.model.billed[u].get(line, 0) - self.model.owed[u][line]

    @invariant()
    def each_unit_owes_what_the_model_says(self) -> None:
        for u in self.units:
            assert self.app.ledger.unit_balance(ADMIN, u) == from_fen(self.model.balance(u))
            real = {(i, p): int(f * 100) for i, p, f in self.app.ledger.open_receivables(ADMIN, u)}
            assert real == {k: v for k, v in self.model.owed[u].items() if v}
            assert all(fen > 0 for fen in real.values()), real

    @invariant()
    def no_unit_owes_through_its_credit_account(self) -> None:
        assert all(fen >= 0 for fen in self.model.credit.values())
        for unit, fen in _rows(
            self.app,
            "SELECT unit_id, SUM(amount_fen) FROM postings WHERE account = 'owner_credit' "
            "GROUP BY unit_id",
        ):
            assert fen <= 0, f"unit {unit}: owner credit stands as a debit of {fen} fen"

    @invariant()
    def deposits_held_are_the_models(self) -> None:
        held = dict.fromkeys(self.units, 0)
        for unit, fen in _rows(
            self.app,
            "SELECT unit_id, -SUM(amount_fen) FROM postings WHERE account = 'deposits_held' "
            "GROUP BY unit_id",
        ):
            held[unit] = fen
        assert held == self.model.held

    @invariant()
    def allocations_of_each_payment_equal_its_amount_less_refunds(self) -> None:
        for payment_id, p in self.model.payments.items():
            net = _rows(
                self.app,
                "SELECT fee_item, period, SUM(amount_fen) FROM payment_allocations "
                "WHERE payment_id = ? GROUP BY fee_item, period",
                (payment_id,),
            )
            total = sum(n for _f, _p, n in net)
            assert total == (0 if p["reversed"] else p["amount"] - p["refunded"])
            assert all(n >= 0 for _f, _p, n in net)

    @invariant()
    def aging_sums_to_the_outstanding_total(self) -> None:
        aging = self.app.arrears.aging(ADMIN, self.estate, include_not_due=True)
        outstanding = sum(sum(v for v in self.model.owed[u].values() if v > 0) for u in self.units)
        assert sum(amount for _label, amount in aging) == from_fen(outstanding)
        roster = self.app.arrears.roster(ADMIN, self.estate, include_not_due=True)
        assert sum(line.amount for line in roster) == from_fen(outstanding)

    @invariant()
    def the_collection_rate_is_a_share(self) -> None:
        if self.month == 0:
            return
        for rate in self.app.arrears.collection_rate(
            ADMIN, self.estate, self._period(0), self._period(self.month - 1)
        ):
            if rate.rate is not None:
                assert Decimal(0) <= rate.rate <= Decimal(1), rate

    @invariant()
    def the_collection_rate_counts_what_the_model_billed_and_settled(self) -> None:
        # Reversed bills un-bill, and what they had settled is no longer collected for
        # them; late fees are in neither figure.
        if self.month == 0:
            return
        (rate,) = self.app.arrears.collection_rate(
            ADMIN,
            self.estate,
            self._period(0),
            self._period(self.month - 1),
            as_of=self.clock.now(),
        )
        billed = settled = 0
        for u in self.units:
            for line, fen in self.model.billed[u].items():
                if line[0] != "late_fee":
                    billed += fen
                    settled += fen - self.model.owed[u].get(line, 0)
        assert rate.billed == from_fen(billed)
        assert rate.collected + rate.credits == from_fen(settled)


LedgerMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLedgerMachine = LedgerMachine.TestCase


class LateFeesFirstMachine(LedgerMachine):
    """The same ledger with ``ledger.allocation = "late_fees_first"``."""

    allocation = "late_fees_first"


LateFeesFirstMachine.TestCase.settings = settings(
    max_examples=10,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLateFeesFirstMachine = LateFeesFirstMachine.TestCase


# --- fault injection -----------------------------------------------------------------------

WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


@pytest.fixture
def world() -> Iterator[tuple[Propcare, int, list[int], int, FixedClock]]:
    clock = FixedClock(START)
    app, estate, units, staff = _world(clock)
    yield app, estate, units, staff, clock
    app.close()


def _failing_at(monkeypatch: pytest.MonkeyPatch, k: int) -> Callable[[], int]:
    """Make the k-th write statement through any unit of work raise; returns the count."""
    calls = [0]

    def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
        def write(uow: SqliteUnitOfWork, sql: str, *args: Any) -> Any:
            if sql.lstrip().upper().startswith(WRITES):
                calls[0] += 1
                if calls[0] == k:
                    raise RuntimeError(f"injected failure at write {k}")
            return original(uow, sql, *args)

        return write

    monkeypatch.setattr(SqliteUnitOfWork, "execute", wrap(SqliteUnitOfWork.execute))
    monkeypatch.setattr(SqliteUnitOfWork, "executemany", wrap(SqliteUnitOfWork.executemany))
    return lambda: calls[0]


def test_a_payment_failing_at_any_write_leaves_nothing_behind(
    world: tuple[Propcare, int, list[int], int, FixedClock],
) -> None:
    app, estate, units, _staff, _clock = world
    app.billing.run(ADMIN, estate, "2026-01")
    app.payments.pay_at_counter(ADMIN, units[1], Decimal("10"), "cash")  # a receipt counter
    k = 0
    while True:
        k += 1
        before = _snapshot(app)
        balance = app.ledger.unit_balance(ADMIN, units[0])
        with pytest.MonkeyPatch.context() as mp:
            writes = _failing_at(mp, k)
            try:
                app.payments.pay_at_counter(
                    ADMIN, units[0], Decimal("600"), "cash", txn_id="slip-1"
                )
            except RuntimeError:
                failed = True
            else:
                failed = False
            reached = writes()
        if not failed:
            assert reached < k  # every write point has been tried
            break
        assert _snapshot(app) == before, f"partial state after a failure at write {k}"
        assert app.ledger.unit_balance(ADMIN, units[0]) == balance
        assert _unbalanced_entries(app) == [] and _total(app) == 0
    assert k > 6  # entry, postings, event, notice, allocations, receipt, status
    assert app.ledger.unit_balance(ADMIN, units[0]) == Decimal("-50.00")  # 550 billed, 600 paid
    assert _unbalanced_entries(app) == [] and _total(app) == 0


def test_a_bill_run_failing_at_any_write_then_retried_bills_each_line_once(
    world: tuple[Propcare, int, list[int], int, FixedClock],
) -> None:
    app, estate, units, _staff, clock = world
    # Credit on one unit, so the run also settles a bill from credit in its chunk.
    app.payments.pay_at_counter(ADMIN, units[2], Decimal("100"), "cash")
    expected = _expected_bills(units)
    k = 0
    while True:
        k += 1
        period = f"2026-{k:02d}" if k <= 12 else f"2027-{k - 12:02d}"
        clock.set(datetime(2026 + (k - 1) // 12, (k - 1) % 12 + 1, 5, 9, tzinfo=SH))
        with pytest.MonkeyPatch.context() as mp:
            writes = _failing_at(mp, k)
            try:
                app.billing.run(ADMIN, estate, period)
            except RuntimeError:
                failed = True
            else:
                failed = False
            reached = writes()
        assert _unbalanced_entries(app) == [] and _total(app) == 0
        if failed:
            report = app.billing.run(ADMIN, estate, period)  # the retry
            assert report.billed_now + report.already_billed == len(expected)
        billed = _rows(
            app,
            "SELECT unit_id, fee_item, COUNT(*), SUM(amount_fen) FROM bills WHERE period = ? "
            "GROUP BY unit_id, fee_item",
            (period,),
        )
        assert {(u, i): (n, fen) for u, i, n, fen in billed} == {
            key: (1, fen) for key, fen in expected.items()
        }
        receivable = _rows(
            app,
            "SELECT unit_id, fee_item, SUM(amount_fen) FROM postings "
            "WHERE account = 'receivable' AND period = ? AND fee_item <> 'late_fee' "
            "AND entry_id IN (SELECT entry_id FROM bills) GROUP BY unit_id, fee_item",
            (period,),
        )
        assert {(u, i): fen for u, i, fen in receivable} == expected
        if not failed:
            assert reached < k
            break
    assert k > 3  # entries, postings, bills, the credit applied
    # The 100 yuan of credit settled part of the first bill of unit 103 and is used up.
    assert app.ledger.unit_balance(ADMIN, units[2]) == from_fen(
        k * expected[(units[2], "property_fee")] - 10000
    )


# --- bugs the model exposes ------------------------------------------------------------------


def _owner_credit_fen(app: Propcare, unit: int) -> int:
    """The owner-credit account of ``unit``: negative is credit, positive would be a debt."""
    return int(
        _rows(
            app,
            "SELECT COALESCE(SUM(amount_fen), 0) FROM postings "
            "WHERE account = 'owner_credit' AND unit_id = ?",
            (unit,),
        )[0][0]
    )


def _overpaid_then_billed(
    world: tuple[Propcare, int, list[int], int, FixedClock],
) -> tuple[Propcare, int, int, int]:
    """Unit 103 pays 500 against 300 owed; the next run uses its 200 of credit."""
    app, estate, units, _staff, clock = world
    unit = units[2]
    app.billing.run(ADMIN, estate, "2026-01")
    payment = app.payments.pay_at_counter(ADMIN, unit, Decimal("500"), "cash")
    assert payment.credit == Decimal("200.00")
    clock.set(datetime(2026, 2, 5, 9, tzinfo=SH))
    app.billing.run(ADMIN, estate, "2026-02")  # settles 200 of February from the credit
    assert app.ledger.open_receivables(ADMIN, unit) == [
        ("property_fee", "2026-02", Decimal("100.00"))
    ]
    return app, estate, unit, payment.payment_id


def test_refunding_an_overpayment_already_applied_reopens_what_it_settled(
    world: tuple[Propcare, int, list[int], int, FixedClock],
) -> None:
    app, estate, unit, payment_id = _overpaid_then_billed(world)
    app.payments.refund(ADMIN, payment_id, Decimal("200"), "业主申请退款")
    assert app.ledger.unit_balance(ADMIN, unit) == Decimal("300.00")
    assert _owner_credit_fen(app, unit) <= 0  # the owner never owes through credit
    owed = sum(fen for _i, _p, fen in app.ledger.open_receivables(ADMIN, unit))
    assert owed == Decimal("300.00")  # what the unit owes is on its receivable lines
    assert sum(a for _b, a in app.arrears.aging(ADMIN, estate)) >= Decimal("300.00")


def test_reversing_an_overpayment_already_applied_reopens_what_it_settled(
    world: tuple[Propcare, int, list[int], int, FixedClock],
) -> None:
    app, _estate, unit, payment_id = _overpaid_then_billed(world)
    app.payments.reverse(ADMIN, payment_id, "录错了")
    assert app.ledger.unit_balance(ADMIN, unit) == Decimal("600.00")
    assert _owner_credit_fen(app, unit) <= 0
    owed = sum(fen for _i, _p, fen in app.ledger.open_receivables(ADMIN, unit))
    assert owed == Decimal("600.00")


def test_waiving_a_paid_late_fee_credits_the_owner_not_a_negative_receivable(
    world: tuple[Propcare, int, list[int], int, FixedClock],
) -> None:
    app, estate, units, _staff, clock = world
    unit = units[1]
    app.billing.run(ADMIN, estate, "2026-01")  # 220.00, due 2026-01-16
    app.billing.set_late_fees(ADMIN, estate, "0.0005")
    clock.set(datetime(2026, 2, 20, 9, tzinfo=SH))
    app.billing.assess_late_fees(ADMIN, estate, date(2026, 2, 20))
    ((entry_id, fen),) = _rows(
        app, "SELECT entry_id, amount_fen FROM late_fees WHERE unit_id = ?", (unit,)
    )
    assert fen == 385  # 220.00 x 0.05% x 35 days
    app.payments.pay_at_counter(ADMIN, unit, Decimal("223.85"), "cash")
    app.billing.waive_late_fee(ADMIN, entry_id, "经理批准减免")
    assert app.ledger.unit_balance(ADMIN, unit) == Decimal("-3.85")  # this much holds
    assert all(owed > 0 for _i, _p, owed in app.ledger.open_receivables(ADMIN, unit))
    assert _owner_credit_fen(app, unit) == -385
