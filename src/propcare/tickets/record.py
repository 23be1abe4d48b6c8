"""A stored ticket: its id, its folded state, and the deadlines computed for it; and what
the SLA upkeep (``recompute``, ``check_sla``) reports back."""

from __future__ import annotations

from datetime import date

import attrs

from propcare.sla.engine import Deadlines
from propcare.tickets.events import SlaAlerted
from propcare.tickets.model import TicketState

__all__ = ["HolidayGaps", "IntakeRefs", "Recomputed", "SkippedTicket", "SlaCheck", "Ticket"]

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
