"""A stored ticket: its id, its folded state, and the deadlines computed for it."""

from __future__ import annotations

from datetime import date

import attrs

from propcare.sla.engine import Deadlines
from propcare.tickets.model import TicketState

__all__ = ["IntakeRefs", "Ticket"]


@attrs.frozen
class Ticket:
    id: int
    state: TicketState
    deadlines: Deadlines
    policy: str

    @property
    def status(self) -> str:
        return self.state.status.value


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
