"""A stored ticket: its id, its folded state, and the deadlines computed for it."""

from __future__ import annotations

import attrs

from propcare.sla.engine import Deadlines
from propcare.tickets.model import TicketState

__all__ = ["Ticket"]


@attrs.frozen
class Ticket:
    id: int
    state: TicketState
    deadlines: Deadlines
    policy: str

    @property
    def status(self) -> str:
        return self.state.status.value
