"""The ticket: categories, the transition table, events, and replay.

A ticket's state is a fold of its events (:func:`replay`); the service stores the
events (append-only) and the folded state beside them for queries. Every rule
about what may happen next is in :data:`TRANSITIONS`; an action the table does
not allow raises :class:`~propcare.errors.InvalidTransition`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import attrs

from propcare.errors import InvalidTransition, ValidationError
from propcare.validators import aware

__all__ = [
    "CALLBACK_POLICY",
    "REPAIRS",
    "RESPONSE_ACTIONS",
    "TRANSITIONS",
    "Action",
    "CallbackPolicy",
    "Category",
    "Channel",
    "Charge",
    "OutsideOrder",
    "Pause",
    "Priority",
    "Satisfaction",
    "Status",
    "TicketEvent",
    "TicketState",
    "apply",
    "finished_order",
    "replay",
]


class Category(enum.StrEnum):
    """The seven categories of the monthly statistics (月统计)."""

    CONSULTATION = "consultation"  # 咨询
    SUGGESTION = "suggestion"  # 意见建议
    COMPLAINT = "complaint"  # 投诉
    COMMON_REPAIR = "common_repair"  # 公共维修
    HOME_REPAIR = "home_repair"  # 居家维修
    OTHER_SERVICE = "other_service"  # 其它服务
    PRAISE = "praise"  # 表扬


REPAIRS = frozenset({Category.COMMON_REPAIR, Category.HOME_REPAIR})


class Channel(enum.StrEnum):
    PHONE = "phone"  # 24小时服务电话
    VISIT = "visit"  # 来访
    ONLINE = "online"  # online / WeChat
    PATROL = "patrol"  # 巡查: raised by staff themselves
    LETTER_BOX = "letter_box"  # 意见箱


class Priority(enum.StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"
    EMERGENCY = "emergency"


class Status(enum.StrEnum):
    RECEIVED = "received"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    PAUSED = "paused"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"


OPEN_STATUSES = frozenset(
    {Status.RECEIVED, Status.ASSIGNED, Status.IN_PROGRESS, Status.PAUSED, Status.RESOLVED}
)


class Action(enum.StrEnum):
    OPEN = "open"
    ASSIGN = "assign"  # to a technician or team; a hand-off when already assigned
    START = "start"
    ARRIVE = "arrive"  # on site (repairs)
    PAUSE = "pause"  # waiting for owner / parts / outside party
    RESUME = "resume"
    DISPATCH = "dispatch"  # work order to an outside party (developer, vendor)
    OUTSIDE_DONE = "outside_done"
    RESOLVE = "resolve"
    RATE = "rate"  # the owner rated the work themselves (e.g. in WeChat)
    CALLBACK = "callback"  # 回访: closes, or reopens as rework (返修)
    CLOSE = "close"  # without a callback, where the policy allows
    CANCEL = "cancel"
    NOTE = "note"
    CHARGE = "charge"  # a priced item of a paid service (有偿服务)


RESPONSE_ACTIONS = frozenset(
    {Action.ASSIGN, Action.START, Action.ARRIVE, Action.PAUSE, Action.DISPATCH, Action.RESOLVE}
)


class Satisfaction(enum.StrEnum):
    SATISFIED = "satisfied"  # 满意
    BASICALLY = "basically_satisfied"  # 基本满意
    DISSATISFIED = "dissatisfied"  # 不满意


class CallbackPolicy(enum.StrEnum):
    ALWAYS = "always"
    UNLESS_RATED = "unless_rated"  # only if the owner has not rated the work
    NEVER = "never"


CALLBACK_POLICY: Mapping[Category, CallbackPolicy] = {
    Category.CONSULTATION: CallbackPolicy.NEVER,
    Category.SUGGESTION: CallbackPolicy.UNLESS_RATED,
    Category.COMPLAINT: CallbackPolicy.ALWAYS,
    Category.COMMON_REPAIR: CallbackPolicy.ALWAYS,
    Category.HOME_REPAIR: CallbackPolicy.ALWAYS,
    Category.OTHER_SERVICE: CallbackPolicy.UNLESS_RATED,
    Category.PRAISE: CallbackPolicy.NEVER,
}

_WORKING = frozenset({Status.RECEIVED, Status.ASSIGNED, Status.IN_PROGRESS, Status.PAUSED})
_ANY_OPEN = _WORKING | {Status.RESOLVED}

# action -> {from status: to status}. A status not listed for an action is refused.
TRANSITIONS: Mapping[Action, Mapping[Status, Status]] = {
    Action.ASSIGN: {s: Status.ASSIGNED for s in _WORKING},
    Action.START: {Status.ASSIGNED: Status.IN_PROGRESS},
    Action.ARRIVE: {Status.ASSIGNED: Status.IN_PROGRESS, Status.IN_PROGRESS: Status.IN_PROGRESS},
    Action.PAUSE: {Status.ASSIGNED: Status.PAUSED, Status.IN_PROGRESS: Status.PAUSED},
    Action.RESUME: {Status.PAUSED: Status.IN_PROGRESS},
    Action.DISPATCH: {s: s for s in _WORKING},
    Action.OUTSIDE_DONE: {s: s for s in _ANY_OPEN},
    Action.RESOLVE: {
        Status.RECEIVED: Status.RESOLVED,
        Status.ASSIGNED: Status.RESOLVED,
        Status.IN_PROGRESS: Status.RESOLVED,
    },
    Action.RATE: {Status.RESOLVED: Status.RESOLVED},
    # CALLBACK goes to CLOSED when fixed, back to ASSIGNED (rework) when not: see apply().
    Action.CALLBACK: {Status.RESOLVED: Status.CLOSED},
    Action.CLOSE: {Status.RESOLVED: Status.CLOSED},
    Action.CANCEL: {s: Status.CANCELLED for s in _WORKING},
    Action.NOTE: {s: s for s in _ANY_OPEN | {Status.CLOSED, Status.CANCELLED}},
    Action.CHARGE: {s: s for s in _ANY_OPEN},
}


@attrs.frozen
class TicketEvent:
    """One entry of a ticket's history: who did what when, with its details."""

    seq: int
    action: Action = attrs.field(converter=Action)
    at: datetime = attrs.field(validator=aware("at"))
    actor: str
    staff_id: int | None = None
    data: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Pause:
    start: datetime
    reason: str
    end: datetime | None = None


@attrs.frozen
class OutsideOrder:
    """Work sent to an outside party (developer's engineering dept, vendor)."""

    party: str
    at: datetime
    promised: date | None = None
    done_at: datetime | None = None


@attrs.frozen
class Charge:
    """A priced item of a paid service, for the fee ledger to bill."""

    item: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    at: datetime


@attrs.frozen
class TicketState:
    """A ticket as its events left it."""

    estate_id: int
    category: Category
    channel: Channel
    priority: Priority
    summary: str
    first_contact_staff_id: int  # 首问负责人: fixed at intake, accountable to the end
    opened_at: datetime
    status: Status = Status.RECEIVED
    unit_id: int | None = None
    location: str = ""
    reporter_owner_id: int | None = None
    reporter_name: str = ""
    assignee_staff_id: int | None = None
    assignee_team_id: int | None = None
    handoffs: tuple[tuple[int | None, int | None], ...] = ()  # (staff, team) in order
    responded_at: datetime | None = None
    arrived_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str = ""
    callback_at: datetime | None = None
    satisfaction: Satisfaction | None = None
    rated_by_owner: bool = False
    fixed: bool | None = None
    rework_count: int = 0
    reopened_at: datetime | None = None
    pauses: tuple[Pause, ...] = ()
    outside: tuple[OutsideOrder, ...] = ()
    charges: tuple[Charge, ...] = ()
    callback_policy: CallbackPolicy = CallbackPolicy.ALWAYS
    last_seq: int = 0
    last_at: datetime | None = None  # when the latest event happened
    close_reason: str = ""  # why it was closed without the callback its policy asks for

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def needs_callback(self) -> bool:
        if self.callback_policy is CallbackPolicy.NEVER:
            return False
        if self.callback_policy is CallbackPolicy.UNLESS_RATED:
            return not self.rated_by_owner
        return True


def _text(data: Mapping[str, Any], key: str, what: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(key, value, f"{what} needs a non-empty {key}")
    return value


def _opened(event: TicketEvent) -> TicketState:
    d = event.data
    category = Category(d["category"])
    return TicketState(
        estate_id=int(d["estate_id"]),
        category=category,
        channel=Channel(d["channel"]),
        priority=Priority(d.get("priority", Priority.NORMAL)),
        summary=str(d["summary"]),
        first_contact_staff_id=int(d["first_contact_staff_id"]),
        opened_at=event.at,
        unit_id=d.get("unit_id"),
        location=str(d.get("location", "")),
        reporter_owner_id=d.get("reporter_owner_id"),
        reporter_name=str(d.get("reporter_name", "")),
        callback_policy=CallbackPolicy(d.get("callback_policy", CALLBACK_POLICY[category])),
        last_seq=event.seq,
        last_at=event.at,
    )


def apply(state: TicketState | None, event: TicketEvent) -> TicketState:
    """The state after ``event``; InvalidTransition if the table does not allow it."""
    if state is None:
        if event.action is not Action.OPEN:
            raise InvalidTransition("action", event.action.value, "a ticket starts with open")
        if event.seq != 1:
            raise InvalidTransition("seq", event.seq, "the open event is number 1")
        return _opened(event)
    if event.action is Action.OPEN:
        raise InvalidTransition("action", "open", "the ticket is already open")
    allowed = TRANSITIONS[event.action]
    if state.status not in allowed:
        raise InvalidTransition(
            "action",
            event.action.value,
            f"not allowed when the ticket is {state.status.value}; allowed from: "
            + ", ".join(sorted(s.value for s in allowed)),
        )
    if event.seq != state.last_seq + 1:
        raise InvalidTransition("seq", event.seq, f"expected {state.last_seq + 1}")
    if event.at < state.opened_at:
        raise ValidationError("at", event.at, "an event cannot come before the ticket opened")
    if state.last_at is not None and event.at < state.last_at:
        # Backdating out of order would let a callback precede its resolution and skew
        # every timeliness figure.
        raise ValidationError(
            "at", event.at, f"must not be before the ticket's last event ({state.last_at})"
        )
    to = allowed[state.status]
    d = event.data
    changes: dict[str, Any] = {"status": to, "last_seq": event.seq, "last_at": event.at}
    # The first response is the first time someone took the work up; a note, a charge or
    # a cancellation is not an answer to the owner.
    if state.responded_at is None and event.action in RESPONSE_ACTIONS:
        changes["responded_at"] = event.at
    match event.action:
        case Action.ASSIGN:
            staff, team = d.get("staff_id"), d.get("team_id")
            if staff is None and team is None:
                raise ValidationError("assignee", None, "assign needs a staff_id or a team_id")
            changes.update(
                assignee_staff_id=staff,
                assignee_team_id=team,
                handoffs=(*state.handoffs, (staff, team)),
            )
            changes.update(_end_pause(state, event.at))
        case Action.ARRIVE:
            if state.arrived_at is None:
                changes["arrived_at"] = event.at
        case Action.PAUSE:
            reason = _text(d, "reason", "pause")
            changes["pauses"] = (*state.pauses, Pause(start=event.at, reason=reason))
        case Action.RESUME:
            changes.update(_end_pause(state, event.at))
        case Action.DISPATCH:
            party = _text(d, "party", "dispatch")
            promised = d.get("promised")
            order = OutsideOrder(
                party=party,
                at=event.at,
                promised=None if promised is None else date.fromisoformat(str(promised)),
            )
            changes["outside"] = (*state.outside, order)
        case Action.OUTSIDE_DONE:
            index = finished_order(state, d.get("order"), d.get("party"))
            orders = list(state.outside)
            orders[index] = attrs.evolve(orders[index], done_at=event.at)
            changes["outside"] = tuple(orders)
        case Action.RESOLVE:
            changes["resolved_at"] = event.at
            if not state.needs_callback:
                # Nothing to call back about: resolving closes (consultations, praise).
                changes.update(status=Status.CLOSED, closed_at=event.at)
        case Action.RATE:
            changes.update(satisfaction=Satisfaction(d["satisfaction"]), rated_by_owner=True)
        case Action.CALLBACK:
            satisfaction = Satisfaction(d["satisfaction"])
            fixed = d.get("fixed", True)
            if not isinstance(fixed, bool):  # the text "false" must not count as fixed
                raise ValidationError("fixed", fixed, "must be true or false")
            changes.update(callback_at=event.at, satisfaction=satisfaction, fixed=fixed)
            if fixed:
                changes["closed_at"] = event.at
            else:
                # 返修: back to whoever had it, counted as rework.
                changes.update(
                    status=Status.ASSIGNED,
                    rework_count=state.rework_count + 1,
                    reopened_at=event.at,
                    resolved_at=None,
                )
        case Action.CLOSE:
            reason = d.get("reason") or ""
            if state.needs_callback and not (isinstance(reason, str) and reason.strip()):
                raise InvalidTransition(
                    "action",
                    "close",
                    f"the callback policy ({state.callback_policy.value}) needs a callback "
                    "first, or a reason why none could be made (owner unreachable, ...)",
                )
            # Closed without the callback: it stays out of the callback rate's numerator.
            changes.update(closed_at=event.at, close_reason=str(reason).strip())
        case Action.CANCEL:
            changes.update(cancelled_at=event.at, cancel_reason=_text(d, "reason", "cancel"))
            changes.update(_end_pause(state, event.at))
        case Action.CHARGE:
            quantity, price = Decimal(str(d["quantity"])), Decimal(str(d["unit_price"]))
            charge = Charge(
                item=_text(d, "item", "charge"),
                quantity=quantity,
                unit_price=price,
                amount=Decimal(str(d["amount"])),
                at=event.at,
            )
            changes["charges"] = (*state.charges, charge)
        case _:
            pass
    return attrs.evolve(state, **changes)


def finished_order(state: TicketState, order: Any = None, party: Any = None) -> int:
    """The index in ``state.outside`` of the work order an ``outside_done`` reports: the
    one numbered ``order`` (1 for the first dispatched, as ``state.outside`` lists them),
    else the first still pending sent to ``party``, else the first still pending (what
    every ``outside_done`` did before orders could be named)."""
    pending = [i for i, o in enumerate(state.outside) if o.done_at is None]
    if order is None:
        if party is not None:
            pending = [i for i in pending if state.outside[i].party == party]
        if not pending:
            to = "" if party is None else f" sent to {party}"
            waiting = ", ".join(
                f"{i + 1} ({o.party})" for i, o in enumerate(state.outside) if o.done_at is None
            )
            raise InvalidTransition(
                "action",
                "outside_done",
                f"no outside order{to} is pending" + (f"; pending: {waiting}" if waiting else ""),
            )
        return pending[0]
    if isinstance(order, bool) or not isinstance(order, int):
        raise ValidationError("order", order, "must be the number of an outside order (1, 2, ...)")
    sent = len(state.outside)
    if not 1 <= order <= sent:
        listed = f": 1 to {sent}" if sent else ""
        raise ValidationError(
            "order", order, f"the ticket has {sent} outside order{'' if sent == 1 else 's'}{listed}"
        )
    found = state.outside[order - 1]
    if party is not None and party != found.party:
        raise ValidationError(
            "party", party, f"outside order {order} was sent to {found.party}, not to {party}"
        )
    if found.done_at is not None:
        raise InvalidTransition(
            "order",
            order,
            f"outside order {order} ({found.party}) was reported done at "
            f"{found.done_at.isoformat()}",
        )
    return order - 1


def _end_pause(state: TicketState, at: datetime) -> dict[str, Any]:
    if state.pauses and state.pauses[-1].end is None:
        return {"pauses": (*state.pauses[:-1], attrs.evolve(state.pauses[-1], end=at))}
    return {}


def replay(events: Iterable[TicketEvent]) -> TicketState:
    """Fold a ticket's history into its state."""
    state: TicketState | None = None
    for event in events:
        state = apply(state, event)
    if state is None:
        raise ValidationError("events", [], "a ticket has at least its open event")
    return state
