"""A stored ticket: its id, its folded state, and the deadlines computed for it; what the
SLA upkeep (``recompute``, ``check_sla``) reports back; and a ticket row as stored beside
its history, with what ``verify`` finds when it rebuilds the row from that history."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

import attrs

from propcare.sla.engine import Deadlines
from propcare.tickets.events import SlaAlerted
from propcare.tickets.model import TicketEvent, TicketState

__all__ = [
    "STATE_COLUMNS",
    "Difference",
    "DifferingTicket",
    "HolidayGaps",
    "IntakeRefs",
    "Recomputed",
    "SkippedTicket",
    "SlaCheck",
    "StoredCharge",
    "StoredTicket",
    "Ticket",
    "TicketVerification",
    "state_columns",
]

# The how-to that says what to do when next year's holidays are missing.
HOLIDAYS_HOW_TO = "docs/how-to/add-next-years-holidays.md"


@attrs.frozen
class Ticket:
    """A ticket as stored. ``deadlines.gaps`` lists the targets whose deadline rests on a
    year without holiday data (provisional, or held open under the strict setting)."""

    id: int
    state: TicketState
    deadlines: Deadlines
    policy: str

    @property
    def status(self) -> str:
        return self.state.status.value

    @property
    def awaits_holiday_data(self) -> bool:
        """Whether any deadline waits for a year's holiday data: provisional, or held open
        under the strict setting (``deadlines.provisional`` / ``deadlines.held`` say which)."""
        return bool(self.deadlines.gaps)


@attrs.frozen
class Recomputed:
    """What ``app.tickets.recompute`` did, and what still waits for holiday data.

    ``examined``: tickets looked at; ``changed``: those whose deadlines (or policy)
    changed; ``provisional`` / ``held``: tickets in the same scope that still have a
    provisional deadline / a deadline held open, because a year's data is still missing.
    """

    examined: int
    changed: int
    provisional: int = 0
    held: int = 0

    def describe(self) -> str:
        text = f"examined {self.examined}, changed {self.changed}"
        if self.provisional:
            text += f", {self.provisional} still provisional"
        if self.held:
            text += f", {self.held} still open for missing holiday data"
        return text


@attrs.frozen
class SkippedTicket:
    """An open ticket ``check_sla`` could not fully judge, and why."""

    ticket_id: int
    reason: str


@attrs.frozen
class SlaCheck:
    """What one ``check_sla`` run did: tickets ``checked``, alerts ``sent`` now (each level
    of each target once, ever), and the tickets ``skipped`` in part or whole, with the
    reason (never silent: each is also logged)."""

    checked: int
    sent: tuple[SlaAlerted, ...] = ()
    skipped: tuple[SkippedTicket, ...] = ()


@attrs.frozen
class IntakeRefs:
    """What intake checks about the estate, people and place a call names, in one lookup.

    ``timezone`` is the estate's, None when there is no such estate; ``staff`` is the
    first-contact staff member's (name, active from, active to), None when the estate
    has no staff member with that id; ``unit`` and ``owner`` say whether the unit and
    the reporting owner are the estate's (True when none was named).
    """

    timezone: str | None
    staff: tuple[str, date, date | None] | None
    unit: bool
    owner: bool


@attrs.frozen
class HolidayGaps:
    """The tickets of an estate (or of a month) whose deadlines wait for holiday data.

    ``tickets``: how many; ``provisional`` / ``held``: deadlines (targets) computed on the
    weekly windows alone / held open under the strict setting; ``years``: the years whose
    data they wait for. All zero once the data is added and ``recompute`` has run.
    """

    tickets: int = 0
    provisional: int = 0
    held: int = 0
    years: tuple[int, ...] = ()

    def describe(self, lang: str = "zh-CN") -> str:
        """``"3 deadlines provisional: 2027 holiday data missing — see docs/how-to/..."``."""
        if not self.tickets:
            return ""
        years = ", ".join(map(str, self.years))
        if lang == "en":
            parts = [
                f"{n} deadline{'' if n == 1 else 's'} {word}"
                for n, word in ((self.provisional, "provisional"), (self.held, "held open"))
                if n
            ]
            return f"{'; '.join(parts)}: {years} holiday data missing — see {HOLIDAYS_HOW_TO}"
        parts = [
            f"{n} 个{word}"
            for n, word in ((self.provisional, "临时截止时间"), (self.held, "截止时间暂缺"))
            if n
        ]
        return f"{'，'.join(parts)}：缺少 {years} 年节假日数据，见 {HOLIDAYS_HOW_TO}"


# --- a ticket row as stored, and what verify finds ----------------------------------------

# The columns of a ticket row that repeat its state, for queries and statistics: what the
# events give, whoever wrote the row.
STATE_COLUMNS = (
    "estate_id", "category", "channel", "priority", "status", "unit_id",
    "first_contact_staff_id", "assignee_staff_id", "assignee_team_id", "opened_at",
    "responded_at", "arrived_at", "resolved_at", "closed_at", "cancelled_at", "callback_at",
    "satisfaction", "rework_count", "needs_callback", "last_seq",
)  # fmt: skip


def state_columns(state: TicketState) -> dict[str, object]:
    """The :data:`STATE_COLUMNS` of a row that holds ``state``: times as aware datetimes,
    enums as their values, ``needs_callback`` as a bool."""
    return {
        "estate_id": state.estate_id,
        "category": state.category.value,
        "channel": state.channel.value,
        "priority": state.priority.value,
        "status": state.status.value,
        "unit_id": state.unit_id,
        "first_contact_staff_id": state.first_contact_staff_id,
        "assignee_staff_id": state.assignee_staff_id,
        "assignee_team_id": state.assignee_team_id,
        "opened_at": state.opened_at,
        "responded_at": state.responded_at,
        "arrived_at": state.arrived_at,
        "resolved_at": state.resolved_at,
        "closed_at": state.closed_at,
        "cancelled_at": state.cancelled_at,
        "callback_at": state.callback_at,
        "satisfaction": None if state.satisfaction is None else state.satisfaction.value,
        "rework_count": state.rework_count,
        "needs_callback": state.needs_callback,
        "last_seq": state.last_seq,
    }


@attrs.frozen
class StoredCharge:
    """A ``ticket_charges`` row: the priced item the fee ledger bills (``at`` is the text
    stored when it cannot be read as a time)."""

    seq: int
    item: str
    quantity: str
    unit_price_fen: int
    amount_fen: int
    at: datetime | str


@attrs.frozen
class StoredTicket:
    """A ticket row exactly as stored, with its events and charge rows: what ``verify``
    rebuilds and compares.

    ``columns``: the :data:`STATE_COLUMNS`, decoded as :func:`state_columns` gives them (a
    value that cannot be decoded stays the text stored). ``state`` / ``deadlines``: the
    state column and the deadline columns read back, None when they cannot be read.
    ``provisional`` / ``held``: the stored counts of provisional / held-open deadlines.
    ``unreadable``: (what, why) of each stored value that could not be read, an event
    among them (it is then left out of ``events``).
    """

    id: int
    columns: Mapping[str, object]
    state: TicketState | None
    deadlines: Deadlines | None
    policy: str
    provisional: int
    held: int
    events: tuple[TicketEvent, ...]
    charges: tuple[StoredCharge, ...] = ()
    unreadable: tuple[tuple[str, str], ...] = ()


@attrs.frozen
class Difference:
    """One value of a ticket row that is not what its events give.

    ``field``: a column (``responded_at``), a field of the state column
    (``state.responded_at``), a deadline (``deadlines.response``), ``policy``,
    ``charges`` or ``events`` (a history that cannot be replayed); ``stored`` and
    ``rebuilt`` are the two values as text.
    """

    field: str
    stored: str
    rebuilt: str

    def describe(self) -> str:
        return f"{self.field}: stored {self.stored}, events give {self.rebuilt}"


@attrs.frozen
class DifferingTicket:
    """A ticket whose stored row differs from the rebuild of its events, and how."""

    ticket_id: int
    differences: tuple[Difference, ...]

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(d.field for d in self.differences)

    def describe(self) -> str:
        """``"ticket 12: responded_at: stored ..., events give ...; ..."``."""
        return f"ticket {self.ticket_id}: " + "; ".join(d.describe() for d in self.differences)


@attrs.frozen
class TicketVerification:
    """What ``app.tickets.verify`` found: ``checked`` tickets of the estate, and each one
    (by id) whose stored row, state or deadlines differ from the rebuild of its events.
    Empty ``differing``: every row is what its history gives."""

    estate_id: int
    checked: int
    differing: tuple[DifferingTicket, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.differing

    def describe(self) -> str:
        if self.ok:
            return f"{self.checked} tickets checked: every row is what its events give"
        lines = [f"{self.checked} tickets checked: {len(self.differing)} differ from their events"]
        lines.extend(t.describe() for t in self.differing)
        return "\n".join(lines)
