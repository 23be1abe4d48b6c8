"""The storage ports: what a backend must provide.

A backend (SQLite built in, PostgreSQL as an adapter) hands out units of work;
a unit of work is one transaction and holds the repositories. Leaving the
``with`` block without ``commit()`` rolls back. ``propcare.testing.contract``
checks that a backend keeps these promises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeVar

import attrs

from propcare.ledger.accounts import Account
from propcare.ledger.arrears import CreditMove
from propcare.ledger.collection import CollectorAssignment, DunningAttempt
from propcare.ledger.deposits import Deposit
from propcare.ledger.journal import JournalEntry, Receipt
from propcare.notify.outbox import NewMessage, StoredMessage
from propcare.registry.model import (
    Building,
    BuildingId,
    ContactReveal,
    Estate,
    EstateId,
    Owner,
    Ownership,
    Staff,
    Team,
    Unit,
    UnitId,
    Vendor,
)
from propcare.sla.engine import Deadlines
from propcare.tickets.model import Charge, TicketEvent, TicketState
from propcare.tickets.planned import Outage, Plan
from propcare.tickets.record import IntakeRefs, StoredTicket, Ticket

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from propcare.access import RoleGrant
    from propcare.appraisal.kpi import Scorecard
    from propcare.commission.basis import BasisRow, Split
    from propcare.commission.plans import Plan as CommissionPlan
    from propcare.commission.settle import Statement

    # Only for the annotation: tickets.stats imports the service base, which imports this.
    from propcare.ledger.billing import (
        BillLine,
        FeeAssignment,
        FeeItem,
        LateFeeTerms,
        UnitFacts,
    )
    from propcare.tickets.stats import TicketMetrics

__all__ = [
    "AppraisalRepository",
    "BuildingRepository",
    "ClaimedDelivery",
    "CommissionRepository",
    "Delivery",
    "EstateRepository",
    "FailedDeliveryRow",
    "LedgerRepository",
    "OutageRepository",
    "OutboxRepository",
    "OwnerRepository",
    "OwnershipRepository",
    "PaymentRow",
    "PaymentsRepository",
    "PlanRepository",
    "RefundRow",
    "StaffRepository",
    "Storage",
    "TeamRepository",
    "TicketRepository",
    "TicketStatsRepository",
    "UnitOfWork",
    "UnitRepository",
    "VendorRepository",
]

T = TypeVar("T")


class Repository(Protocol[T]):
    """Records of one kind, each in one estate. ``add`` returns it with its new id."""

    def add(self, record: T) -> T: ...

    def get(self, record_id: int) -> T | None: ...

    def update(self, record: T) -> None: ...

    def in_estate(self, estate_id: EstateId) -> list[T]: ...


class EstateRepository(Protocol):
    def add(self, record: Estate) -> Estate: ...

    def get(self, record_id: int) -> Estate | None: ...

    def update(self, record: Estate) -> None: ...

    def list_all(self, only: Iterable[EstateId] | None = None) -> list[Estate]: ...


class BuildingRepository(Repository[Building], Protocol):
    pass


class UnitRepository(Repository[Unit], Protocol):
    def add_many(self, records: Sequence[Unit]) -> list[Unit]: ...

    def in_building(self, building_id: BuildingId) -> list[Unit]: ...

    def numbers_taken(self, building_id: BuildingId, numbers: Iterable[str]) -> set[str]:
        """Which of ``numbers`` the building already has."""

    def find(self, building_id: BuildingId, number: str) -> Unit | None: ...

    def count(self, estate_id: EstateId) -> int: ...


class OwnerRepository(Repository[Owner], Protocol):
    def add_reveal(self, reveal: ContactReveal) -> ContactReveal:
        """Append one row to the audit of contacts shown (never changed); with its id."""

    def reveals(self, estate_id: EstateId, owner_id: int | None = None) -> list[ContactReveal]:
        """The estate's contact reveals (of one owner if given), oldest first."""


class OwnershipRepository(Protocol):
    def add(self, record: Ownership) -> Ownership: ...

    def end_current(self, unit_id: UnitId, end: date) -> None:
        """Set ``end`` on the unit's open ownership, if it has one."""

    def history(self, unit_id: UnitId) -> list[Ownership]:
        """Every ownership of the unit, oldest first."""

    def on(self, unit_id: UnitId, day: date) -> Ownership | None: ...

    def held_on(self, estate_id: EstateId, day: date) -> dict[UnitId, Ownership]:
        """Each unit of the estate that had an owner on ``day``, with that ownership."""


class TeamRepository(Repository[Team], Protocol):
    pass


class StaffRepository(Repository[Staff], Protocol):
    def add_grant(self, grant: RoleGrant) -> RoleGrant:
        """Append one change of a staff member's roles to the audit; it is never changed or
        deleted afterwards (the backend refuses UPDATE and DELETE on it)."""

    def grants(self, estate_id: EstateId, staff_id: int | None = None) -> list[RoleGrant]:
        """The role changes in the estate (of one staff member if given), oldest first."""


class VendorRepository(Repository[Vendor], Protocol):
    pass


@attrs.frozen
class ClaimedDelivery:
    """One delivery of one message to one target, leased to the caller until sent."""

    delivery_id: int
    target: str
    attempts: int
    message: StoredMessage


@attrs.frozen
class Delivery:
    """The delivery record of a message to a target."""

    delivery_id: int
    message_id: int
    target: str
    status: str  # pending | sending | delivered | failed
    attempts: int
    last_error: str | None
    delivered_at: datetime | None


@attrs.frozen
class FailedDeliveryRow:
    """A delivery that ended ``failed``, with its message, as the outbox keeps it."""

    delivery_id: int
    target: str
    attempts: int
    last_error: str | None
    failed_at: datetime
    message: StoredMessage


class OutboxRepository(Protocol):
    def add(self, message: NewMessage, targets: Sequence[str]) -> int:
        """Store a message and one pending delivery per target; return the message id.

        A message whose ``key`` is already stored is not stored again: the
        existing id is returned. The same key for a different message (estate,
        topic or payload) raises Conflict.
        """

    def claim_due(
        self, now: datetime, lease_until: datetime, limit: int, message_ids: Sequence[int] = ()
    ) -> list[ClaimedDelivery]:
        """Lease pending deliveries due by ``now`` (and sending ones whose lease expired)."""

    def mark_delivered(self, delivery_id: int, at: datetime) -> None: ...

    def mark_retry(self, delivery_id: int, next_attempt_at: datetime, error: str) -> None: ...

    def hold(self, delivery_id: int, until: datetime) -> None:
        """Put a claimed delivery back until ``until`` without counting the attempt."""

    def mark_failed(self, delivery_id: int, at: datetime, error: str) -> None: ...

    def deliveries(self, message_id: int | None = None) -> list[Delivery]: ...

    def failed(self, estate_id: int, limit: int | None = None) -> list[FailedDeliveryRow]:
        """The deliveries of the estate's messages that ended ``failed``, oldest first (the
        first ``limit`` if given). A message without an estate is nobody's to list."""

    def requeue(
        self, estate_id: int, delivery_ids: Sequence[int] | None, due: datetime
    ) -> list[int]:
        """Put failed deliveries of the estate's messages back to ``pending``, due at
        ``due``, with their attempts reset to 0 (the last error is kept until the next
        attempt): those of ``delivery_ids``, or every one when None. Returns the ids put
        back, ascending; an id that is not a failed delivery of the estate is left alone."""

    def messages(self, topic: str | None = None) -> list[StoredMessage]: ...

    def notification_deliveries(
        self, estate_id: int, start: datetime, end: datetime
    ) -> list[tuple[int, str, str, str | None]]:
        """(message id, topic, channel, delivery status or None when it has none) of the
        estate's notifications created in ``[start, end)``: one row per delivery."""


class TicketRepository(Protocol):
    def add(
        self,
        state: TicketState,
        event: TicketEvent,
        deadlines: Deadlines,
        policy: str,
        plan: tuple[int, str] | None = None,
    ) -> int:
        """Store a new ticket and its open event; returns its id."""

    def add_many(
        self, tickets: Sequence[tuple[TicketState, Sequence[TicketEvent], Deadlines, str]]
    ) -> list[int]:
        """Store whole tickets (state, every event, the charges among them, deadlines,
        policy name) in bulk, inside the caller's transaction; returns their ids in input
        order, ascending. For imports of history: nothing is checked here."""

    def append(
        self,
        ticket_id: int,
        event: TicketEvent,
        state: TicketState,
        deadlines: Deadlines,
        policy: str,
    ) -> None:
        """Append ``event`` and store the state it led to; Conflict if it moved meanwhile.

        The only way a ticket's state changes: the backend refuses an UPDATE of the row
        that is not one step to the latest event (the event is stored first)."""

    def refresh(self, ticket_id: int, deadlines: Deadlines, policy: str) -> None:
        """Store recomputed deadlines and the policy name; nothing else of the row, and
        not the history. A closed ticket's known deadlines are refused (Conflict)."""

    def get(self, ticket_id: int) -> Ticket | None: ...

    def open_in(self, estate_id: int) -> list[Ticket]: ...

    def opened_between(self, estate_id: int, start: datetime, end: datetime) -> list[Ticket]: ...

    def needing_recompute(
        self,
        estate_id: int,
        opened: tuple[datetime, datetime] | None,
        *,
        open_only: bool = False,
    ) -> Iterator[Ticket]:
        """The estate's open tickets and, unless ``open_only``, every ticket whose
        deadlines have gaps (``deadlines.gaps``) or a deadline missing, opened in
        ``[start, end)`` when ``opened`` is given; by id. The caller may ``refresh``
        each while iterating."""

    def with_gaps(
        self, estate_id: int, opened: tuple[datetime, datetime] | None
    ) -> list[tuple[int, Deadlines]]:
        """(ticket id, deadlines) of the tickets whose deadlines have gaps, opened in
        ``[start, end)`` when given, by id."""

    def events(self, ticket_id: int) -> list[TicketEvent]: ...

    def ids_in(self, estate_id: int) -> list[int]:
        """The ids of every ticket of the estate, ascending."""

    def stored(self, ticket_ids: Sequence[int]) -> list[StoredTicket]:
        """These tickets exactly as stored, with their events and charge rows, by id; a
        few queries for a chunk of ids, not one per ticket. A stored value that cannot be
        read is named in ``unreadable`` rather than raised."""

    def add_charge(self, ticket_id: int, state: TicketState, seq: int, charge: Charge) -> None: ...

    def record_alert(self, ticket_id: int, target: str, level: str, at: datetime) -> bool:
        """True the first time this alert is recorded; False if it was recorded before."""

    def by_occurrence(self, plan_id: int, occurrence: str) -> int | None: ...

    def estate_of(self, ticket_id: int) -> int | None: ...

    def intake_refs(
        self, estate_id: int, staff_id: int | None, unit_id: int | None, owner_id: int | None
    ) -> IntakeRefs:
        """The estate, first-contact staff member, unit and reporting owner a new ticket
        names, checked against each other in one lookup (intake runs for every call)."""


class TicketStatsRepository(Protocol):
    def metrics(
        self,
        estate_id: int,
        start: datetime,
        end: datetime,
        as_of: datetime,
        group_by: str | None,
        source: str = "intake",
    ) -> list[TicketMetrics]:
        """Metrics of the estate's tickets of ``source`` opened in ``[start, end)``, counted
        by the backend.

        ``group_by`` is None (one row, even for no tickets) or one of
        ``propcare.tickets.stats.GROUP_BY`` (a row per group with tickets, any order);
        ``as_of`` decides which unmet deadlines count as missed; ``source`` which tickets
        count (the intake, patrol and plan work, or all). The definitions are those of
        :mod:`propcare.tickets.stats`.
        """


class PlanRepository(Repository[Plan], Protocol):
    """Maintenance and patrol plans (保养 / 巡查计划)."""

    def active_in(self, estate_id: EstateId) -> list[Plan]:
        """The estate's plans that still generate tickets, by id."""


class OutageRepository(Protocol):
    """Planned outages (计划停水停电) and the notices sent for them."""

    def add(self, record: Outage) -> Outage: ...

    def get(self, record_id: int) -> Outage | None: ...

    def starting_between(self, estate_id: EstateId, start: datetime, end: datetime) -> list[Outage]:
        """The estate's outages that start in ``[start, end)``, in start order."""

    def late_count(self, estate_id: EstateId, start: datetime, end: datetime) -> int:
        """How many of them were announced late."""


class LedgerRepository(Protocol):
    def append(self, entry: JournalEntry) -> int:
        """Store a balanced entry and its postings; Conflict on a used key or reversal."""

    def by_key(self, key: str) -> int | None: ...

    def get(self, entry_id: int) -> JournalEntry | None: ...

    def reversed_by(self, entry_id: int) -> int | None: ...

    def account_balance(
        self, estate_id: int, account: Account, unit_id: int | None = None
    ) -> int: ...

    def trial_balance(self, estate_id: int) -> dict[str, int]:
        """Balance per account (``account`` or ``account:sub``); the values sum to zero."""

    def open_receivables(self, unit_id: int) -> list[tuple[str, str, int]]:
        """(fee item, period, fen still owed) of a unit, oldest period first."""

    def credit_applied_lines(self, unit_id: int) -> list[tuple[str, str, int]]:
        """(fee item, period, fen) still settled by owner credit, most recent first (money
        released from a line leaves its credit-settled part first, never below zero)."""

    def settled_lines(self, unit_id: int) -> dict[tuple[str, str], int]:
        """(fee item, period) -> fen settled: what bills, late fees and waivers put on the
        line less what it still owes."""

    def issue_receipt(self, estate_id: int, entry_id: int, at: datetime, *, year: int) -> Receipt:
        """The next gapless number of the estate's ``year``, in this transaction."""

    def void_receipt(
        self, estate_id: int, year: int, number: int, at: datetime, reason: str
    ) -> None: ...

    def receipts(self, estate_id: int, year: int) -> list[Receipt]: ...


class DepositRepository(Protocol):
    def next_id(self) -> int: ...

    def add(self, deposit: Deposit, entry_id: int) -> None: ...

    def get(self, deposit_id: int) -> Deposit | None: ...

    def inspected(self, deposit: Deposit) -> None: ...

    def refunded(self, deposit: Deposit, entry_id: int) -> None: ...

    def not_refunded(self, estate_id: int) -> list[Deposit]: ...


@attrs.frozen
class PaymentRow:
    """A processed payment notice as stored (``status``: posted, suspense, resolved, reversed)."""

    id: int
    estate_id: int
    provider: str
    provider_txn_id: str
    amount_fen: int
    unit_id: int | None
    order_id: str | None
    method: str
    paid_at: datetime
    entry_id: int
    status: str
    receipt_year: int | None
    receipt_number: int | None
    merchant: str = ""  # the gateway's merchant account the notice named; "" if none


@attrs.frozen
class RefundRow:
    """A refund of a payment as stored (``status``: requested, pending, paid)."""

    id: int
    payment_id: int
    estate_id: int
    provider: str
    provider_txn_id: str
    entry_id: int
    amount_fen: int
    reason: str
    refund_no: str
    status: str
    provider_refund_id: str
    paid_entry_id: int | None
    attempts: int
    error: str


class PaymentsRepository(Protocol):
    def by_txn(
        self, estate_id: int, provider: str, provider_txn_id: str, merchant: str = ""
    ) -> PaymentRow | None:
        """The payment a notice with this idempotency key replays, or None.

        Without a ``merchant`` the key is the estate's: the row of (``estate_id``,
        ``provider``, ``provider_txn_id``) recorded without a merchant; another estate's
        slip of the same number is never found. With one it is the merchant's: the row of
        (``provider``, ``merchant``, ``provider_txn_id``) in whichever estate it was
        recorded (the caller must not show another estate's row), else the estate's row
        recorded without a merchant (before its gateway named one).
        """

    def get(self, payment_id: int) -> PaymentRow | None: ...

    def add(
        self,
        *,
        estate_id: int,
        provider: str,
        provider_txn_id: str,
        amount_fen: int,
        unit_id: int | None,
        order_id: str | None,
        method: str,
        paid_at: datetime,
        entry_id: int,
        status: str,
        merchant: str = "",
    ) -> int: ...

    def set_status(
        self,
        payment_id: int,
        status: str,
        *,
        unit_id: int | None = None,
        receipt: tuple[int, int] | None = None,
    ) -> None: ...

    def add_allocations(
        self, payment_id: int, entry_id: int, unit_id: int, lines: Sequence[tuple[str, str, int]]
    ) -> None: ...

    def allocations(self, payment_id: int) -> list[tuple[str, str, int]]: ...

    def refunded_fen(self, payment_id: int) -> int: ...

    def add_refund(
        self,
        payment_id: int,
        entry_id: int,
        amount_fen: int,
        reason: str,
        actor: str,
        at: datetime,
        provider_refund_id: str,
        *,
        refund_no: str = "",
        status: str = "paid",
    ) -> int: ...

    def add_compensation(
        self,
        estate_id: int,
        unit_id: int,
        entry_id: int,
        amount_fen: int,
        reason: str,
        approver_staff_id: int,
        actor: str,
        at: datetime,
    ) -> None: ...

    def compensations(
        self, estate_id: int
    ) -> list[tuple[int, int, int, int, str, int, str, datetime]]:
        """(id, unit, entry, fen, reason, approver, actor, at) of the estate, oldest first."""

    def refund_row(self, refund_id: int) -> RefundRow | None: ...

    def refund_by_entry(self, entry_id: int) -> RefundRow | None: ...

    def refunds(self, estate_id: int, statuses: Sequence[str]) -> list[RefundRow]: ...

    def update_refund(
        self,
        refund_id: int,
        *,
        status: str,
        provider_refund_id: str | None = None,
        paid_entry_id: int | None = None,
        error: str = "",
        attempted: bool = False,
    ) -> None: ...

    def add_anomaly(
        self,
        estate_id: int | None,
        provider: str,
        provider_txn_id: str,
        kind: str,
        detail: str,
        at: datetime,
        *,
        merchant: str = "",
        notice_key: str = "",
    ) -> None:
        """Flag a notice; with a ``notice_key``, once per distinct notice (a re-send of
        one already flagged under the same estate, provider, merchant, transaction and
        kind writes nothing)."""
        ...

    def anomalies(self, estate_id: int) -> list[tuple[str, str, str, str]]: ...

    def add_order(
        self,
        order_id: str,
        estate_id: int,
        unit_id: int,
        provider: str,
        amount_fen: int,
        at: datetime,
    ) -> None: ...

    def order(self, estate_id: int, order_id: str) -> tuple[int, int] | None:
        """(unit, amount in fen) of a payment order, or None."""

    def order_unit(self, estate_id: int, order_id: str) -> int | None: ...

    def in_status(self, estate_id: int, status: str) -> list[PaymentRow]: ...

    def receipt(self, estate_id: int, year: int, number: int) -> Receipt | None: ...


class BillingRepository(Protocol):
    """Fee items, their assignments to units, bills, and the bulk writes of a bill run."""

    def add_item(self, item: FeeItem) -> FeeItem: ...

    def items(self, estate_id: int) -> list[FeeItem]: ...

    def item(self, estate_id: int, code: str) -> FeeItem | None: ...

    def update_item(self, item: FeeItem) -> None:
        """Store ``item``'s name, rates, amount, due rule and vacancy rate (by id)."""

    def assign(self, estate_id: int, a: FeeAssignment) -> None: ...

    def assignments(self, unit_id: int) -> list[FeeAssignment]:
        """The unit's assignments, earliest start first."""

    def end_assignment(self, unit_id: int, code: str, start: date, end: date) -> None:
        """Set the end of the unit's assignment of ``code`` that starts on ``start``."""

    def unit_chunk(
        self, estate_id: int, after_id: int, limit: int, start: date, end: date
    ) -> list[UnitFacts]:
        """Up to ``limit`` units with id > ``after_id`` in id order, with the owners and
        assignments that overlap [start, end)."""

    def billed(self, estate_id: int, period: str, lo_id: int, hi_id: int) -> set[tuple[int, str]]:
        """(unit, fee item) already billed for ``period`` among units lo_id..hi_id."""

    def unbilled_ticket_charges(
        self, estate_id: int, start: datetime, end: datetime
    ) -> list[tuple[int, int, int, str]]:
        """(charge id, unit id, fen, at) of paid-service charges in [start, end) not billed."""

    def write_entries(
        self,
        estate_id: int,
        kind: str,
        at: datetime,
        actor: str,
        rows: Sequence[tuple[str, int, int, str, str, str]],
    ) -> list[int]:
        """A receivable/revenue entry per (key, unit, fen, fee item, period, revenue account)."""

    def add_bills(
        self, estate_id: int, lines: Sequence[BillLine], entry_ids: Sequence[int]
    ) -> None: ...

    def mark_ticket_charges(self, pairs: Sequence[tuple[int, int]]) -> None: ...

    def bills_of(self, unit_id: int) -> list[BillLine]:
        """The unit's bills, oldest period first, with ``entry_id`` and ``reversed_by``."""

    def rebill(self, estate_id: int, line: BillLine, entry_id: int) -> None:
        """Make ``line`` (billed by ``entry_id``) the bill of its unit, fee item and period."""

    def late_fees_of(self, unit_id: int) -> list[tuple[int, str, str, str, int, int | None]]:
        """(entry id, fee item, period, month assessed, fen, waiver id or None), oldest first."""

    def units_with_credit(self, estate_id: int, lo_id: int, hi_id: int) -> list[int]:
        """Units lo_id..hi_id holding owner credit to apply to new bills."""

    def set_terms(self, estate_id: int, terms: LateFeeTerms) -> None: ...

    def terms(self, estate_id: int) -> LateFeeTerms | None: ...

    def overdue(
        self, estate_id: int, as_of: date
    ) -> list[tuple[int, str, str, date, int, int, int]]:
        """(unit, item, period, due date, billed, owed, late fees assessed) of bills due
        before ``as_of`` still owed, amounts in fen."""

    def assessed(self, estate_id: int, month: str) -> set[tuple[int, str, str]]: ...

    def add_late_fees(
        self, estate_id: int, month: str, rows: Sequence[tuple[int, str, str, int, int]]
    ) -> None: ...


class CollectionRepository(Protocol):
    def add_assignment(self, a: CollectorAssignment) -> CollectorAssignment: ...

    def assignments(self, estate_id: int) -> list[CollectorAssignment]: ...

    def add_campaign(self, estate_id: int, title: str, at: datetime, actor: str) -> int: ...

    def campaign_estate(self, campaign_id: int) -> int | None: ...

    def add_attempt(self, a: DunningAttempt) -> DunningAttempt: ...

    def attempts(self, unit_id: int) -> list[DunningAttempt]: ...

    def last_attempts(
        self, estate_id: int, as_of: datetime | None = None
    ) -> dict[int, DunningAttempt]:
        """The latest dunning attempt per unit of the estate: the one that happened last
        (``at``; the later entered on a tie), of those at or before ``as_of`` if given."""


class ArrearsRepository(Protocol):
    def owed_by_due_date(
        self, estate_id: int, as_of: datetime
    ) -> list[tuple[date | None, datetime | None, int]]:
        """What is owed at ``as_of``: (a bill's due date, None, fen) per due date, and
        (None, first charged, fen) per line without a bill."""

    def roster_lines(
        self,
        estate_id: int,
        as_of: datetime,
        day: date,
        day_start: datetime,
        *,
        include_not_due: bool = False,
        building_id: int | None = None,
        collector_staff_id: int | None = None,
        sort_by: str = "amount",
    ) -> Iterator[tuple[Any, ...]]:
        """Owed (unit, item) lines past due on ``day`` (or all, ``include_not_due``), of
        the units of ``building_id`` or of those ``collector_staff_id`` answers for on
        ``day`` if given, sorted by ``sort_by`` (``amount``: largest first; ``unit``;
        ``oldest``: earliest period first; then building, unit number, fee item by code
        point, unit id): unit, building, unit number, owner, phones JSON, fee item,
        periods comma-joined, fen, earliest bill due date, earliest first charge of lines
        without a bill, fen not yet due, the collector on ``day`` (a unit's own assignment
        beats its building's; the latest start, then the later entered), and the instant,
        method and outcome of the latest attempt at or before ``as_of``. Read as iterated,
        inside the unit of work; memory does not grow with the lines."""

    def billed_and_collected(
        self, estate_id: int, first_period: str, last_period: str, as_of: datetime
    ) -> list[tuple[int, int, int, int, int]]:
        """(unit, billed, cash, compensation, other credits) in fen for the bills of the
        periods; owner credit applied counted as cash."""

    def credit_moves(self, estate_id: int, before: datetime) -> dict[int, list[CreditMove]]:
        """Per unit whose owner credit may hold something other than cash (a
        compensation's or another credit's remainder, money a correction released): its
        entries up to ``before`` that touch owner credit or settle a receivable line, in
        order, for tracing applied credit to its source
        (:func:`propcare.ledger.arrears.credit_sources`)."""

    def recovered_before(
        self, estate_id: int, before_period: str, start: datetime, end: datetime
    ) -> list[tuple[int, int]]:
        """(unit, fen) of cash collected in [start, end) for periods before
        ``before_period``."""

    def unit_buildings(self, estate_id: int) -> dict[int, int]:
        """Unit id -> building id of every unit of the estate."""


class CommissionRepository(Protocol):
    """Commission plans (versioned), targets, splits, settlements and statements."""

    def add_plan(self, plan: CommissionPlan, at: datetime, actor: str) -> CommissionPlan:
        """Store ``plan`` as the next version of its name; returns it with id and version."""

    def plan(self, plan_id: int) -> CommissionPlan | None: ...

    def plans(self, estate_id: int) -> list[CommissionPlan]: ...

    def set_target(
        self,
        estate_id: int,
        staff_id: int,
        period: str,
        amount_fen: int | None,
        households: int | None,
    ) -> None: ...

    def targets(self, estate_id: int, period: str) -> dict[int, tuple[int | None, int | None]]:
        """Staff id -> (amount target in fen, households target) for ``period``."""

    def add_split(self, split: Split) -> Split: ...

    def splits(self, estate_id: int) -> list[Split]: ...

    def settled_periods(self, estate_id: int) -> list[str]: ...

    def add_settlement(
        self, estate_id: int, period: str, at: datetime, actor: str, uncommissioned: dict[str, int]
    ) -> None: ...

    def uncommissioned(self, estate_id: int, period: str) -> dict[str, int] | None:
        """Fen of a settled month that earned no commission, by reason; None: not settled."""

    def add_statement(self, s: Statement) -> Statement: ...

    def statement(self, statement_id: int) -> Statement | None: ...

    def statements(
        self, estate_id: int, periods: Iterable[str] | None = None, staff_id: int | None = None
    ) -> list[Statement]: ...

    def statements_naming(self, payment_ids: Iterable[int]) -> list[Statement]:
        """Statements holding clawback or adjustment lines of these payments."""

    def basis(
        self, estate_id: int, start: datetime, end: datetime, zone: ZoneInfo
    ) -> tuple[list[BasisRow], list[BasisRow]]:
        """One pass over the allocations of [start, end): (collected, paid back)."""

    def first_allocated(self, payment_ids: Sequence[int]) -> dict[int, datetime]: ...

    def attempts(
        self, estate_id: int, start: datetime, end: datetime, *, visits_only: bool = False
    ) -> list[tuple[int, datetime, int]]:
        """(unit, at, collector) of dunning attempts in [start, end) naming a collector."""


class AppraisalRepository(Protocol):
    """Scorecard versions, appraisal inputs, closed cycles, results, vendor deductions."""

    def add_scorecard(self, card: Scorecard, at: datetime, actor: str) -> Scorecard: ...

    def scorecards(self, estate_id: int) -> list[Scorecard]: ...

    def add_input(
        self,
        estate_id: int,
        period: str,
        subject: tuple[str, int],
        kind: str,
        value: Decimal,
        *,
        level: str | None = None,
        deductions: Sequence[tuple[str, Decimal]] = (),
        reason: str = "",
        corrects_period: str | None = None,
        entered_by: str,
        entered_at: datetime,
    ) -> int: ...

    def inputs(self, estate_id: int, period: str) -> list[dict[str, Any]]: ...

    def closed_periods(self, estate_id: int) -> list[str]: ...

    def calibration(self, estate_id: int, period: str) -> dict[str, str]:
        """The forced distribution a closed month was calibrated with ({} for none)."""

    def close(
        self,
        estate_id: int,
        period: str,
        at: datetime,
        actor: str,
        calibration: Mapping[str, str],
        results: Sequence[tuple[tuple[str, int], Mapping[str, Any]]],
    ) -> None: ...

    def results(
        self, estate_id: int, periods: Sequence[str]
    ) -> list[tuple[str, dict[str, Any]]]: ...

    def add_vendor_deduction(
        self,
        estate_id: int,
        vendor_id: int,
        period: str,
        score: Decimal,
        rate: Decimal,
        reason: str,
        at: datetime,
    ) -> None: ...

    def vendor_deductions(
        self, estate_id: int, period: str
    ) -> list[tuple[int, Decimal, Decimal, str]]: ...

    def visit_days(
        self, estate_id: int, start: datetime, end: datetime, offset_minutes: int
    ) -> dict[int, int]:
        """Collector -> distinct (unit, local day) door visits in [start, end)."""

    def late_notices(self, estate_id: int, start: datetime, end: datetime) -> dict[int, int]:
        """Staff -> outage notices they announced late, for cuts starting in [start, end)."""


class UnitOfWork(Protocol):
    """One transaction. ``commit()`` makes it durable; anything else rolls back."""

    @property
    def estates(self) -> EstateRepository: ...

    @property
    def buildings(self) -> BuildingRepository: ...

    @property
    def units(self) -> UnitRepository: ...

    @property
    def owners(self) -> OwnerRepository: ...

    @property
    def ownerships(self) -> OwnershipRepository: ...

    @property
    def teams(self) -> TeamRepository: ...

    @property
    def staff(self) -> StaffRepository: ...

    @property
    def vendors(self) -> VendorRepository: ...

    @property
    def outbox(self) -> OutboxRepository: ...

    @property
    def tickets(self) -> TicketRepository: ...

    @property
    def ledger(self) -> LedgerRepository: ...

    @property
    def billing(self) -> BillingRepository: ...

    @property
    def payments(self) -> PaymentsRepository: ...

    @property
    def deposits(self) -> DepositRepository: ...

    @property
    def collection(self) -> CollectionRepository: ...

    @property
    def arrears(self) -> ArrearsRepository: ...

    @property
    def commission(self) -> CommissionRepository: ...

    @property
    def appraisal(self) -> AppraisalRepository: ...

    @property
    def maintenance_plans(self) -> PlanRepository: ...

    @property
    def outages(self) -> OutageRepository: ...

    @property
    def ticket_stats(self) -> TicketStatsRepository: ...

    @property
    def committed(self) -> bool: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once after a successful commit; errors in it are logged, not raised."""


class Storage(Protocol):
    """An open database. Cheap to hold; does IO in ``unit_of_work`` and ``close``."""

    url: str

    def unit_of_work(self, *, readonly: bool = False) -> UnitOfWork: ...

    def schema_version(self) -> int: ...

    def close(self) -> None: ...
