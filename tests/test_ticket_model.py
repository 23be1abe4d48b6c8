"""The ticket lifecycle as a pure fold: the transition table, pauses, rework, SLA deadlines."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from propcare.errors import InvalidTransition, ValidationError
from propcare.sla.engine import AlertRules, alerts_due, compute_deadlines, deadline, spent
from propcare.sla.policy import DEFAULT_POLICIES, PolicySet, SlaPolicy, Target, TargetRule
from propcare.tickets.model import (
    TRANSITIONS,
    Action,
    Category,
    Pause,
    Status,
    TicketEvent,
    TicketState,
    apply,
    replay,
)

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=SH)


class Always:
    """A 24x7 calendar: working time is wall-clock time."""

    def add_working_time(self, start: datetime, duration: timedelta) -> datetime:
        return start + duration

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        return end - start


CALS = {"24x7": Always(), "office": Always()}


def opened(category: str = "home_repair", **extra: Any) -> TicketState:
    data = {
        "estate_id": 1,
        "category": category,
        "channel": "phone",
        "summary": "厨房漏水",
        "first_contact_staff_id": 7,
        "unit_id": 3,
        **extra,
    }
    return apply(None, TicketEvent(1, Action.OPEN, T0, "客服小王", 7, data))


def step(state: TicketState, action: Action, minutes: int, **data: Any) -> TicketState:
    return apply(
        state,
        TicketEvent(state.last_seq + 1, action, T0 + timedelta(minutes=minutes), "x", 1, data),
    )


def test_a_repair_goes_through_its_whole_life() -> None:
    s = opened()
    assert s.status is Status.RECEIVED and s.first_contact_staff_id == 7
    s = step(s, Action.ASSIGN, 5, staff_id=11)
    assert (s.status, s.responded_at) == (Status.ASSIGNED, T0 + timedelta(minutes=5))
    s = step(s, Action.ARRIVE, 40)
    s = step(s, Action.PAUSE, 50, reason="等待配件")
    s = step(s, Action.RESUME, 170)
    s = step(s, Action.RESOLVE, 200)
    assert s.status is Status.RESOLVED and s.needs_callback
    s = step(s, Action.CALLBACK, 300, satisfaction="satisfied", fixed=True)
    assert s.status is Status.CLOSED and s.satisfaction == "satisfied"
    assert s.first_contact_staff_id == 7  # 首问负责制: the owner never changes


def test_a_callback_saying_not_fixed_reopens_as_rework() -> None:
    s = step(
        step(step(opened(), Action.ASSIGN, 1, staff_id=11), Action.START, 2), Action.RESOLVE, 9
    )
    s = step(s, Action.CALLBACK, 60, satisfaction="dissatisfied", fixed=False)
    assert s.status is Status.ASSIGNED and s.rework_count == 1
    assert s.assignee_staff_id == 11 and s.reopened_at == T0 + timedelta(minutes=60)
    assert s.resolved_at is None


def test_hand_offs_are_recorded_as_a_chain() -> None:
    s = step(opened(), Action.ASSIGN, 1, staff_id=11)
    s = step(s, Action.ASSIGN, 2, team_id=4)
    s = step(s, Action.ASSIGN, 3, staff_id=12)
    assert s.handoffs == ((11, None), (None, 4), (12, None))


def test_consultations_close_on_resolve_and_praise_needs_no_callback() -> None:
    s = step(opened("consultation"), Action.RESOLVE, 3)
    assert s.status is Status.CLOSED and s.closed_at is not None
    with pytest.raises(InvalidTransition):
        step(s, Action.CALLBACK, 5, satisfaction="satisfied")


def test_unless_rated_skips_the_callback_when_the_owner_rated() -> None:
    s = step(opened("suggestion"), Action.RESOLVE, 3)
    assert s.needs_callback
    with pytest.raises(InvalidTransition, match="needs a callback"):
        step(s, Action.CLOSE, 4)
    s = step(s, Action.RATE, 4, satisfaction="basically_satisfied")
    assert not s.needs_callback
    assert step(s, Action.CLOSE, 5).status is Status.CLOSED


@pytest.mark.parametrize(
    ("action", "data", "message"),
    [
        (Action.START, {}, "allowed from: assigned"),
        (Action.RESUME, {}, "allowed from: paused"),
        (Action.CALLBACK, {"satisfaction": "satisfied"}, "allowed from: resolved"),
        (Action.OUTSIDE_DONE, {}, "no outside order"),
        (Action.OPEN, {}, "already open"),
    ],
)
def test_illegal_transitions_raise(action: Action, data: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidTransition, match=message):
        step(opened(), action, 1, **data)


def test_reasons_are_required_and_history_cannot_go_back_in_time() -> None:
    s = step(opened(), Action.ASSIGN, 1, staff_id=1)
    with pytest.raises(ValidationError, match="reason"):
        step(s, Action.PAUSE, 2, reason=" ")
    with pytest.raises(ValidationError, match="before the ticket opened"):
        step(s, Action.START, -5)


def test_every_action_has_a_row_in_the_table() -> None:
    assert set(TRANSITIONS) == set(Action) - {Action.OPEN}


# --- SLA --------------------------------------------------------------------------------

POLICY = SlaPolicy(
    "t",
    response=TargetRule(timedelta(minutes=15), "24x7"),
    arrival=TargetRule(timedelta(hours=2), "24x7"),
    resolution=TargetRule(timedelta(hours=8), "24x7"),
    callback=TargetRule(timedelta(hours=16), "24x7"),
    rework=TargetRule(timedelta(hours=4), "24x7"),
)


def test_paused_time_does_not_count() -> None:
    s = step(step(opened(), Action.ASSIGN, 5, staff_id=1), Action.PAUSE, 60, reason="业主不在家")
    assert compute_deadlines(s, POLICY, CALS).resolution is None  # paused: no deadline now
    s = step(s, Action.RESUME, 60 + 120)
    assert compute_deadlines(s, POLICY, CALS).resolution == T0 + timedelta(hours=10)


def test_rework_gets_its_own_target_from_the_reopen() -> None:
    s = step(step(opened(), Action.ASSIGN, 1, staff_id=1), Action.RESOLVE, 100)
    due = compute_deadlines(s, POLICY, CALS)
    assert due.callback == T0 + timedelta(minutes=100, hours=16)
    s = step(s, Action.CALLBACK, 200, satisfaction="dissatisfied", fixed=False)
    after = compute_deadlines(s, POLICY, CALS)
    assert after.resolution == T0 + timedelta(minutes=200, hours=4)
    assert after.callback is None


def test_arrival_is_a_target_of_repairs_only() -> None:
    assert compute_deadlines(opened("complaint"), POLICY, CALS).arrival is None
    assert compute_deadlines(opened(), POLICY, CALS).arrival == T0 + timedelta(hours=2)


@pytest.mark.parametrize("minutes", [0, 5, 200])
def test_deadline_and_spent_agree(minutes: int) -> None:
    pauses = [Pause(T0 + timedelta(minutes=30), "x", T0 + timedelta(minutes=90))]
    due = deadline(Always(), T0, timedelta(hours=2), pauses)
    assert due == T0 + timedelta(hours=3)
    assert spent(Always(), T0, due, pauses) == timedelta(hours=2)  # type: ignore[arg-type]


def test_alerts_warn_then_escalate() -> None:
    s = step(opened(), Action.ASSIGN, 1, staff_id=1)
    rules = AlertRules()
    at = T0 + timedelta(hours=6, minutes=30)  # 81% of the 8-hour resolution budget
    levels = {(a.target, a.level) for a in alerts_due(s, POLICY, CALS, at, rules).alerts}
    assert (Target.RESOLUTION, "warning") in levels
    assert (Target.RESOLUTION, "supervisor") not in levels
    levels = {
        (a.target, a.level) for a in alerts_due(s, POLICY, CALS, T0 + timedelta(hours=9)).alerts
    }
    assert {(Target.RESOLUTION, "supervisor"), (Target.ARRIVAL, "supervisor")} <= levels
    late = alerts_due(s, POLICY, CALS, T0 + timedelta(hours=13)).alerts
    assert (Target.RESOLUTION, "manager") in {(a.target, a.level) for a in late}
    resolved = step(s, Action.RESOLVE, 30)
    after = alerts_due(resolved, POLICY, CALS, T0 + timedelta(hours=15)).alerts
    assert {a.target for a in after} == {Target.CALLBACK}


def test_the_most_specific_policy_wins() -> None:
    policies = PolicySet(DEFAULT_POLICIES)
    assert policies.find(Category.HOME_REPAIR, "normal").name == "repair"  # type: ignore[arg-type]
    assert policies.find(Category.HOME_REPAIR, "urgent").name == "urgent"  # type: ignore[arg-type]
    assert policies.find(Category.SUGGESTION, "emergency").name == "emergency"  # type: ignore[arg-type]
    assert policies.find(Category.SUGGESTION, "normal").name == "default"  # type: ignore[arg-type]


def test_sla_budgets_must_be_positive() -> None:
    with pytest.raises(ValidationError, match="budget"):
        TargetRule(timedelta(0))


# --- a state machine over random event sequences ---------------------------------------

ACTIONS = [a for a in Action if a is not Action.OPEN]


class TicketMachine(RuleBasedStateMachine):
    """Apply random actions; refused ones change nothing; replaying history gives the state."""

    def __init__(self) -> None:
        super().__init__()
        self.state = opened()
        self.history = [TicketEvent(1, Action.OPEN, T0, "x", 7, {
            "estate_id": 1, "category": "home_repair", "channel": "phone", "summary": "厨房漏水",
            "first_contact_staff_id": 7, "unit_id": 3,
        })]  # fmt: skip
        self.minutes = 0

    @rule(
        action=st.sampled_from(ACTIONS),
        gap=st.integers(0, 600),
        fixed=st.booleans(),
        satisfaction=st.sampled_from(["satisfied", "basically_satisfied", "dissatisfied"]),
    )
    def act(self, action: Action, gap: int, fixed: bool, satisfaction: str) -> None:
        self.minutes += gap
        data: dict[str, Any] = {
            Action.ASSIGN: {"staff_id": 11},
            Action.PAUSE: {"reason": "等待业主"},
            Action.DISPATCH: {"party": "开发商工程部", "promised": "2026-11-20"},
            Action.CALLBACK: {"satisfaction": satisfaction, "fixed": fixed},
            Action.RATE: {"satisfaction": satisfaction},
            Action.CANCEL: {"reason": "业主撤销"},
            Action.NOTE: {"text": "已联系"},
            Action.CHARGE: {
                "item": "换龙头",
                "quantity": "1",
                "unit_price": "35.00",
                "amount": "35.00",
            },
        }.get(action, {})
        event = TicketEvent(
            self.state.last_seq + 1, action, T0 + timedelta(minutes=self.minutes), "x", 1, data
        )
        before = self.state
        try:
            self.state = apply(self.state, event)
        except (InvalidTransition, ValidationError):
            assert self.state == before
            assert (
                action not in TRANSITIONS
                or before.status not in TRANSITIONS[action]
                or (action in (Action.OUTSIDE_DONE, Action.CLOSE))
            )
            return
        self.history.append(event)

    @invariant()
    def history_replays_to_the_same_state_and_deadlines(self) -> None:
        again = replay(self.history)
        assert again == self.state
        assert compute_deadlines(again, POLICY, CALS) == compute_deadlines(self.state, POLICY, CALS)

    @invariant()
    def counts_are_consistent(self) -> None:
        s = self.state
        assert s.rework_count == sum(
            1 for e in self.history if e.action is Action.CALLBACK and not e.data["fixed"]
        )
        assert s.first_contact_staff_id == 7
        assert len([p for p in s.pauses if p.end is None]) <= 1
        if s.status is Status.PAUSED:
            assert s.pauses and s.pauses[-1].end is None
        if s.status is Status.CLOSED:
            assert s.closed_at is not None


TicketMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_ticket_state_machine = TicketMachine.TestCase


def test_minutes_left_warns_only_on_long_budgets() -> None:
    s = step(opened(), Action.ASSIGN, 1, staff_id=1)
    rules = AlertRules(warn_fraction=0.99)
    at = T0 + timedelta(hours=7, minutes=31)  # 29 minutes left of the 8-hour resolution
    assert (Target.RESOLUTION, "warning") in {
        (a.target, a.level) for a in alerts_due(s, POLICY, CALS, at, rules).alerts
    }
    fresh = opened()  # the 15-minute response target, one minute in
    early = alerts_due(fresh, POLICY, CALS, T0 + timedelta(minutes=1), rules).alerts
    assert Target.RESPONSE not in {a.target for a in early}


def test_events_cannot_go_back_before_the_last_one() -> None:
    s = step(step(opened(), Action.ASSIGN, 10, staff_id=1), Action.RESOLVE, 60)
    with pytest.raises(ValidationError, match="last event"):
        step(s, Action.CALLBACK, 30, satisfaction="satisfied")


def test_only_taking_the_work_up_counts_as_the_response() -> None:
    s = step(step(opened(), Action.NOTE, 3, text="业主再次来电"), Action.CHARGE, 4, item="上门费",
             quantity="1", unit_price="20.00", amount="20.00")  # fmt: skip
    assert s.responded_at is None
    cancelled = step(opened(), Action.CANCEL, 2, reason="重复报修")
    assert cancelled.responded_at is None
    assert step(s, Action.DISPATCH, 9, party="电梯公司").responded_at == T0 + timedelta(minutes=9)


def test_a_callback_that_cannot_be_made_closes_with_a_reason() -> None:
    s = step(step(opened(), Action.ASSIGN, 1, staff_id=1), Action.RESOLVE, 30)
    with pytest.raises(InvalidTransition, match="a reason why none could be made"):
        step(s, Action.CLOSE, 40)
    closed = step(s, Action.CLOSE, 4000, reason="业主三次未接电话")
    assert closed.status is Status.CLOSED and closed.callback_at is None
    assert closed.close_reason == "业主三次未接电话"


def test_apply_checks_what_a_bulk_import_could_get_wrong() -> None:
    s = step(step(opened(), Action.ASSIGN, 1, staff_id=1), Action.RESOLVE, 30)
    with pytest.raises(ValidationError, match="fixed='false'"):
        step(s, Action.CALLBACK, 40, satisfaction="satisfied", fixed="false")
    data = {"estate_id": 1, "category": "complaint", "channel": "visit", "summary": "噪音",
            "first_contact_staff_id": 7, "location": "3栋"}  # fmt: skip
    with pytest.raises(InvalidTransition, match="number 1"):
        apply(None, TicketEvent(2, Action.OPEN, T0, "x", 7, data))
